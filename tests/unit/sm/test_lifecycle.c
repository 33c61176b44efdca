/* tests/unit/sm/test_lifecycle.c: the incident and resource transition tables
 * of docs/state-machine.md, exhaustively: every (from, to) pair is driven and
 * attempted, and must succeed exactly when the table (copied here from the
 * doc, not from sm/lifecycle.c) allows it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

#define N_INC 8 /* AMK_INC_NEW .. AMK_INC_CANCELLED */
#define N_RES 9 /* AMK_RS_OUT_OF_SERVICE .. AMK_RS_AT_DESTINATION */

/* The incident table of the doc: explicit PATCH moves. */
static const bool incident_table[N_INC][N_INC] = {
    [AMK_INC_NEW] = {[AMK_INC_TRIAGED] = true, [AMK_INC_DISPATCHED] = true},
    [AMK_INC_TRIAGED] = {[AMK_INC_DISPATCHED] = true},
    [AMK_INC_DISPATCHED] = {[AMK_INC_ON_SCENE] = true,
                            [AMK_INC_TRANSPORTING] = true,
                            [AMK_INC_RESOLVED] = true},
    [AMK_INC_ON_SCENE] =
        {[AMK_INC_TRANSPORTING] = true, [AMK_INC_RESOLVED] = true},
    [AMK_INC_TRANSPORTING] = {[AMK_INC_RESOLVED] = true},
};

#define AV_STATION AMK_RS_AVAILABLE_STATION
#define AV_MOBILE  AMK_RS_AVAILABLE_MOBILE
#define OOS        AMK_RS_OUT_OF_SERVICE

/* The resource table of the doc ("may move to"), without the repeats. */
static const bool resource_table[N_RES][N_RES] = {
    [OOS] = {[AV_STATION] = true, [AV_MOBILE] = true},
    [AV_STATION] = {[AV_MOBILE] = true, [OOS] = true},
    [AV_MOBILE] = {[AV_STATION] = true, [OOS] = true},
    [AMK_RS_ALERTED] = {[AMK_RS_ACKNOWLEDGED] = true,
                        [AMK_RS_EN_ROUTE] = true,
                        [AMK_RS_ON_SCENE] = true,
                        [AV_STATION] = true,
                        [AV_MOBILE] = true,
                        [OOS] = true},
    [AMK_RS_ACKNOWLEDGED] = {[AMK_RS_EN_ROUTE] = true,
                             [AMK_RS_ON_SCENE] = true,
                             [AV_STATION] = true,
                             [AV_MOBILE] = true,
                             [OOS] = true},
    [AMK_RS_EN_ROUTE] = {[AMK_RS_ON_SCENE] = true,
                         [AV_STATION] = true,
                         [AV_MOBILE] = true,
                         [OOS] = true},
    [AMK_RS_ON_SCENE] = {[AMK_RS_TRANSPORTING] = true,
                         [AV_STATION] = true,
                         [AV_MOBILE] = true,
                         [OOS] = true},
    [AMK_RS_TRANSPORTING] = {[AMK_RS_AT_DESTINATION] = true,
                             [AV_STATION] = true,
                             [AV_MOBILE] = true,
                             [OOS] = true},
    [AMK_RS_AT_DESTINATION] =
        {[AV_STATION] = true, [AV_MOBILE] = true, [OOS] = true},
};

static bool resource_allowed(uint8_t from, uint8_t to)
{
    /* "alerted only by assignment; a repeated status is allowed". */
    if (to == AMK_RS_ALERTED) {
        return false;
    }
    return from == to || resource_table[from][to];
}

static bool on_mission(uint8_t s)
{
    return s >= AMK_RS_ALERTED && s <= AMK_RS_AT_DESTINATION;
}

/* The incident status a unit's status implies (doc: alerted, acknowledged,
 * en_route -> dispatched; on_scene -> on_scene; transporting,
 * at_destination -> transporting). */
static uint8_t incident_for_unit(uint8_t s)
{
    switch (s) {
        case AMK_RS_ON_SCENE:
            return AMK_INC_ON_SCENE;
        case AMK_RS_TRANSPORTING:
        case AMK_RS_AT_DESTINATION:
            return AMK_INC_TRANSPORTING;
        default:
            return AMK_INC_DISPATCHED;
    }
}

static const uint8_t from_values[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};

struct fixture {
    struct h_ctx h;
    uint8_t from;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->from = *(const uint8_t *)*state;
    h_open(&f->h);
    h_world(&f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    h_close(&f->h);
    free(f);
    return 0;
}

static const char *inc_name(uint8_t s)
{
    return amk_enum_name(AMK_ENUM_INCIDENT_STATUS, s);
}

static const char *res_name(uint8_t s)
{
    return amk_enum_name(AMK_ENUM_RESOURCE_STATUS, s);
}

/* --- Incidents ----------------------------------------------------------- */

/* Creates `id` and drives it to `status` by the shortest legal path. */
static void drive_incident(struct h_ctx *h, const char *id, uint8_t status)
{
    H_OK(h, h_incident(h, id, "s-oslo"));
    switch (status) {
        case AMK_INC_NEW:
            break;
        case AMK_INC_TRIAGED:
        case AMK_INC_DISPATCHED:
            H_OK(h, h_move(h, "s-oslo", id, status));
            break;
        case AMK_INC_ON_SCENE:
        case AMK_INC_TRANSPORTING:
        case AMK_INC_RESOLVED:
            H_OK(h, h_move(h, "s-oslo", id, AMK_INC_DISPATCHED));
            H_OK(h, h_move(h, "s-oslo", id, status));
            break;
        case AMK_INC_CLOSED:
            H_OK(h, h_close_incident(h, "s-oslo", id, AMK_DISP_REFERRED));
            break;
        case AMK_INC_CANCELLED:
            H_OK(h, h_cancel(h, "s-oslo", id));
            break;
    }
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, id, "$.status"),
                        inc_name(status));
}

static void test_incident_from(void **state)
{
    struct fixture *f = *state;
    struct h_ctx *h = &f->h;
    uint8_t from = f->from;
    for (uint8_t to = 0; to < N_INC; to++) {
        char id[32];
        snprintf(id, sizeof id, "i-%s-%s", inc_name(from), inc_name(to));
        drive_incident(h, id, from);
        int64_t v = h_gi(h, AMK_OBJ_INCIDENT, id, "$.version");
        int rc = h_move(h, "s-oslo", id, to);
        const char *inc = h_get(h, AMK_OBJ_INCIDENT, id);
        bool open = from <= AMK_INC_RESOLVED;
        if (incident_table[from][to]) {
            if (rc != AMK_OK) {
                fail_msg("%s -> %s: allowed by the table, got %s (%s)",
                         inc_name(from), inc_name(to), amk_code_name(rc),
                         h->r.message);
            }
            assert_string_equal(h_js(h, inc, "$.status"), inc_name(to));
            char path[32];
            snprintf(path, sizeof path, "$.times.%s", inc_name(to));
            assert_string_not_equal(h_js(h, inc, path), "null");
            assert_int_equal(h_ji(h, inc, "$.version"), v + 1);
        } else if (from == to && open) {
            /* Reading of the doc (as sm/incident.c implements it): a
             * PATCH naming the status the incident already has is not a
             * move; it is accepted and the status stays. */
            H_OK(h, rc);
            assert_string_equal(h_js(h, inc, "$.status"), inc_name(from));
        } else {
            if (rc != AMK_ECONFLICT) {
                fail_msg("%s -> %s: not in the table, got %s (%s)",
                         inc_name(from), inc_name(to), amk_code_name(rc),
                         h->r.message);
            }
            assert_string_equal(h_js(h, inc, "$.status"), inc_name(from));
            assert_int_equal(h_ji(h, inc, "$.version"), v);
            assert_null(h->r.event);
        }
    }
}

/* A unit's mission status moves its incident forward, never back, from
 * every open incident status. */
static void test_incident_follows_unit(void **state)
{
    struct fixture *f = *state;
    struct h_ctx *h = &f->h;
    uint8_t from = f->from;
    if (from > AMK_INC_TRANSPORTING) {
        /* Resolved takes no unit; closed and cancelled are terminal. */
        drive_incident(h, "i", from);
        H_EXPECT(h, AMK_ECONFLICT, h_assign(h, "s-oslo", "i", "oslo-1"));
        return;
    }
    static const uint8_t path[] = {AMK_RS_ACKNOWLEDGED, AMK_RS_EN_ROUTE,
                                   AMK_RS_ON_SCENE, AMK_RS_TRANSPORTING,
                                   AMK_RS_AT_DESTINATION};
    drive_incident(h, "i", from);
    H_OK(h, h_assign(h, "s-oslo", "i", "oslo-1"));
    uint8_t expect = from < AMK_INC_DISPATCHED ? AMK_INC_DISPATCHED : from;
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i", "$.status"),
                        inc_name(expect));
    for (size_t i = 0; i < sizeof path; i++) {
        H_OK(h, h_report(h, "b-oslo", "oslo-1", path[i], (int64_t)i + 1));
        uint8_t implied = incident_for_unit(path[i]);
        if (implied > expect) {
            expect = implied;
        }
        assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i", "$.status"),
                            inc_name(expect));
    }
}

/* --- Resources ----------------------------------------------------------- */

/* Registers unit `rid` at oslo and drives it to `status`; mission statuses
 * go through an assignment to incident `iid`. seq is the next report seq. */
static void drive_resource(struct h_ctx *h, const char *rid, int64_t issi,
                           const char *iid, uint8_t status, int64_t *seq)
{
    H_OK(h, h_resource(h, rid, issi, "oslo"));
    H_OK(h, h_incident(h, iid, "s-oslo"));
    if (status == OOS || status == AV_MOBILE) {
        H_OK(h, h_report(h, "b-oslo", rid, status, (*seq)++));
    } else if (on_mission(status)) {
        H_OK(h, h_assign(h, "s-oslo", iid, rid));
        static const uint8_t path[] = {AMK_RS_ACKNOWLEDGED, AMK_RS_EN_ROUTE,
                                       AMK_RS_ON_SCENE, AMK_RS_TRANSPORTING,
                                       AMK_RS_AT_DESTINATION};
        for (size_t i = 0; i < sizeof path && path[i] <= status; i++) {
            H_OK(h, h_report(h, "b-oslo", rid, path[i], (*seq)++));
        }
    }
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, rid, "$.status"),
                        res_name(status));
}

/* After an attempted move of rid (on iid when on a mission) from `from`:
 * applied (to reached) or rejected (nothing changed). */
static void check_resource_move(struct h_ctx *h, const char *rid,
                                const char *iid, uint8_t from, uint8_t to,
                                int rc, const char *how)
{
    const char *r = h_get(h, AMK_OBJ_RESOURCE, rid);
    const char *inc = h_get(h, AMK_OBJ_INCIDENT, iid);
    if (!resource_allowed(from, to)) {
        if (rc != AMK_ECONFLICT) {
            fail_msg("%s %s -> %s: not in the table, got %s (%s)", how,
                     res_name(from), res_name(to), amk_code_name(rc),
                     h->r.message);
        }
        assert_string_equal(h_js(h, r, "$.status"), res_name(from));
        assert_null(h->r.event);
        return;
    }
    if (rc != AMK_OK) {
        fail_msg("%s %s -> %s: allowed by the table, got %s (%s)", how,
                 res_name(from), res_name(to), amk_code_name(rc), h->r.message);
    }
    assert_string_equal(h_js(h, r, "$.status"), res_name(to));
    if (!on_mission(from)) {
        assert_string_equal(h_js(h, r, "$.incident"), "null");
        return;
    }
    if (on_mission(to)) {
        /* Still on the mission; the incident follows forward. */
        assert_string_equal(h_js(h, r, "$.incident"), iid);
        assert_string_equal(h_js(h, inc, "$.assignments[0].phase"),
                            res_name(to));
        uint8_t expect = incident_for_unit(to);
        if (incident_for_unit(from) > expect) {
            expect = incident_for_unit(from);
        }
        assert_string_equal(h_js(h, inc, "$.status"), inc_name(expect));
    } else {
        /* Available or out of service ends the assignment. */
        assert_string_equal(h_js(h, r, "$.incident"), "null");
        assert_string_equal(h_js(h, inc, "$.assignments[0].phase"), "cleared");
        assert_int_equal(h_ji(h, inc, "$.assignments[0].active"), 0);
        /* ... and the incident does not move back. */
        assert_string_equal(h_js(h, inc, "$.status"),
                            inc_name(incident_for_unit(from)));
    }
}

static void test_resource_report_from(void **state)
{
    struct fixture *f = *state;
    struct h_ctx *h = &f->h;
    uint8_t from = f->from;
    for (uint8_t to = 0; to < N_RES; to++) {
        char rid[32], iid[32];
        snprintf(rid, sizeof rid, "r-%u", to);
        snprintf(iid, sizeof iid, "i-%u", to);
        int64_t seq = 1;
        drive_resource(h, rid, 5000 + to, iid, from, &seq);
        int rc = h_report(h, "b-oslo", rid, to, 100);
        check_resource_move(h, rid, iid, from, to, rc, "report");
        if (rc == AMK_OK) {
            assert_int_equal(h_gi(h, AMK_OBJ_RESOURCE, rid, "$.status_seq"),
                             100);
        }
    }
    assert_null(h_check_invariants(h));
}

/* The coordinator's phase command follows the same table for a unit on
 * the incident; a unit not on it (not on a mission) has no phase. */
static void test_resource_phase_from(void **state)
{
    struct fixture *f = *state;
    struct h_ctx *h = &f->h;
    uint8_t from = f->from;
    for (uint8_t to = 0; to < N_RES; to++) {
        char rid[32], iid[32];
        snprintf(rid, sizeof rid, "r-%u", to);
        snprintf(iid, sizeof iid, "i-%u", to);
        int64_t seq = 1;
        drive_resource(h, rid, 5000 + to, iid, from, &seq);
        int rc = h_phase(h, "s-oslo", iid, rid, to);
        if (!on_mission(from)) {
            H_EXPECT(h, AMK_ECONFLICT, rc);
            assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, rid, "$.status"),
                                res_name(from));
            continue;
        }
        check_resource_move(h, rid, iid, from, to, rc, "phase");
    }
    assert_null(h_check_invariants(h));
}

/* A unit is never on two open incidents: in every status, a second
 * assignment is refused unless the unit is available and free. */
static void test_resource_assign_from(void **state)
{
    struct fixture *f = *state;
    struct h_ctx *h = &f->h;
    uint8_t from = f->from;
    int64_t seq = 1;
    drive_resource(h, "r", 5000, "i-first", from, &seq);
    H_OK(h, h_incident(h, "i-second", "s-oslo"));
    int rc = h_assign(h, "s-oslo", "i-second", "r");
    if (from == AV_STATION || from == AV_MOBILE) {
        H_OK(h, rc);
        assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "r", "$.incident"),
                            "i-second");
        assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "r", "$.status"),
                            "alerted");
        /* And now not on the first. */
        H_EXPECT(h, AMK_ECONFLICT, h_assign(h, "s-oslo", "i-first", "r"));
    } else {
        H_EXPECT(h, AMK_ECONFLICT, rc);
        assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "r", "$.status"),
                            res_name(from));
    }
    assert_null(h_check_invariants(h));
}

#define INC(i)                                                                 \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_incident_from, setup, teardown, (void *)&from_values[i]),         \
        cmocka_unit_test_prestate_setup_teardown(test_incident_follows_unit,   \
                                                 setup, teardown,              \
                                                 (void *)&from_values[i])
#define RES(i)                                                                 \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_resource_report_from, setup, teardown, (void *)&from_values[i]),  \
        cmocka_unit_test_prestate_setup_teardown(test_resource_phase_from,     \
                                                 setup, teardown,              \
                                                 (void *)&from_values[i]),     \
        cmocka_unit_test_prestate_setup_teardown(test_resource_assign_from,    \
                                                 setup, teardown,              \
                                                 (void *)&from_values[i])

int main(void)
{
    const struct CMUnitTest tests[] = {
        INC(0), INC(1), INC(2), INC(3), INC(4), INC(5), INC(6), INC(7), RES(0),
        RES(1), RES(2), RES(3), RES(4), RES(5), RES(6), RES(7), RES(8),
    };
    _Static_assert(AMK_INC_CANCELLED + 1 == N_INC, "incident statuses");
    _Static_assert(AMK_RS_AT_DESTINATION + 1 == N_RES, "resource statuses");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
