/* tests/unit/sm/test_fencing.c: takeover, handback and transfer between
 * centres (sm/centre.c, sm/incident.c), and the epoch fence every write goes
 * through (docs/state-machine.md "Fencing"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

/* The world, plus at oslo: i-open (oslo-1 assigned), i-new, and i-closed;
 * at bergen: i-bergen. */
static int setup(void **state)
{
    struct h_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    struct h_ctx *h = &f->h;
    h_open(h);
    h_world(h);
    int rc = h_incident(h, "i-open", "s-oslo");
    rc |= h_assign(h, "s-oslo", "i-open", "oslo-1");
    rc |= h_incident(h, "i-new", "s-oslo");
    rc |= h_incident(h, "i-closed", "s-oslo");
    rc |= h_close_incident(h, "s-oslo", "i-closed", AMK_DISP_ADVICE_GIVEN);
    rc |= h_incident(h, "i-bergen", "s-bergen");
    assert_int_equal(rc, AMK_OK);
    *state = f;
    return 0;
}

/* Whether the last event lists (object, id). */
static bool event_lists(struct h_ctx *h, const char *object, const char *id)
{
    const char *ev = h->r.event;
    assert_non_null(ev);
    int64_t n = h_jlen(h, ev, "$.changes");
    for (int64_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "$.changes[%lld]", (long long)i);
        const char *ch = h_js(h, ev, path);
        if (strcmp(h_js(h, ch, "$.object"), object) == 0 &&
            strcmp(h_js(h, ch, "$.id"), id) == 0) {
            return true;
        }
    }
    return false;
}

static int64_t version(struct h_ctx *h, enum amk_sm_object kind, const char *id)
{
    return h_gi(h, kind, id, "$.version");
}

static void test_takeover_moves_in_one_event(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    int64_t v_open = version(h, AMK_OBJ_INCIDENT, "i-open");
    int64_t v_new = version(h, AMK_OBJ_INCIDENT, "i-new");
    int64_t v_closed = version(h, AMK_OBJ_INCIDENT, "i-closed");
    int64_t v_bergen = version(h, AMK_OBJ_INCIDENT, "i-bergen");
    int64_t v_r1 = version(h, AMK_OBJ_RESOURCE, "oslo-1");
    int64_t v_r2 = version(h, AMK_OBJ_RESOURCE, "oslo-2");
    int64_t v_rb = version(h, AMK_OBJ_RESOURCE, "bergen-1");
    int64_t v_oslo = version(h, AMK_OBJ_CENTRE, "oslo");
    int64_t v_bc = version(h, AMK_OBJ_CENTRE, "bergen");

    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    uint64_t at = h->index;
    /* One event: X first (the body), then every moved object. */
    assert_string_equal(h_js(h, h->r.event, "$.type"), "centre.takeover");
    assert_int_equal(h_ji(h, h->r.event, "$.index"), at);
    assert_string_equal(h_js(h, h->r.event, "$.changes[0].id"), "oslo");
    assert_string_equal(h_js(h, h->r.body, "$.id"), "oslo");
    assert_int_equal(h_jlen(h, h->r.event, "$.changes"), 5);
    assert_true(event_lists(h, "incident", "i-open"));
    assert_true(event_lists(h, "incident", "i-new"));
    assert_true(event_lists(h, "resource", "oslo-1"));
    assert_true(event_lists(h, "resource", "oslo-2"));
    assert_false(event_lists(h, "incident", "i-closed"));
    assert_false(event_lists(h, "centre", "bergen"));

    /* X: epoch up, controlled by Y; a manual takeover keeps the state. */
    const char *oslo = h_get(h, AMK_OBJ_CENTRE, "oslo");
    assert_int_equal(h_ji(h, oslo, "$.epoch"), 2);
    assert_string_equal(h_js(h, oslo, "$.controlled_by"), "bergen");
    assert_string_equal(h_js(h, oslo, "$.service_state"), "normal");
    assert_int_equal(h_ji(h, oslo, "$.version"), v_oslo + 1);
    /* Y is untouched. */
    assert_int_equal(h_gi(h, AMK_OBJ_CENTRE, "bergen", "$.epoch"), 1);
    assert_int_equal(version(h, AMK_OBJ_CENTRE, "bergen"), v_bc);

    /* Open incidents move with Y's epoch; area and answering stay. */
    const char *names[] = {"i-open", "i-new"};
    int64_t before[] = {v_open, v_new};
    for (int i = 0; i < 2; i++) {
        const char *inc = h_get(h, AMK_OBJ_INCIDENT, names[i]);
        assert_string_equal(h_js(h, inc, "$.owner"), "bergen");
        assert_int_equal(h_ji(h, inc, "$.owner_epoch"), 1);
        assert_string_equal(h_js(h, inc, "$.answering_centre"), "oslo");
        assert_string_equal(h_js(h, inc, "$.area_centre"), "oslo");
        assert_int_equal(h_ji(h, inc, "$.version"), before[i] + 1);
    }
    /* i-open stays dispatched with its unit. */
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-open", "$.status"),
                        "dispatched");
    /* Closed incidents keep their owner; Y's own are untouched. */
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-closed", "$.owner"),
                        "oslo");
    assert_int_equal(version(h, AMK_OBJ_INCIDENT, "i-closed"), v_closed);
    assert_int_equal(version(h, AMK_OBJ_INCIDENT, "i-bergen"), v_bergen);
    /* Resources controlled by X move. */
    const char *r1 = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    assert_string_equal(h_js(h, r1, "$.controlled_by"), "bergen");
    assert_string_equal(h_js(h, r1, "$.home_centre"), "oslo");
    assert_string_equal(h_js(h, r1, "$.status"), "alerted");
    assert_string_equal(h_js(h, r1, "$.incident"), "i-open");
    assert_int_equal(h_ji(h, r1, "$.version"), v_r1 + 1);
    assert_int_equal(version(h, AMK_OBJ_RESOURCE, "oslo-2"), v_r2 + 1);
    assert_int_equal(version(h, AMK_OBJ_RESOURCE, "bergen-1"), v_rb);

    /* The event's data is each object after the change. */
    char *events;
    assert_int_equal(amk_sm_events(h->sm, at - 1, 10, &events), 0);
    assert_int_equal(h_jlen(h, events, "$.events"), 1);
    assert_string_equal(h_js(h, events, "$.events[0].changes[0].data.epoch"),
                        "2");
    free(events);
}

static void test_takeover_automatic_sets_down(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", true));
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.service_state"),
                        "down");
    H_OK(h, h_handback(h, "oslo", AMK_ENUM_NONE));
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.service_state"),
                        "normal");
}

static void test_stale_sessions_of_x(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    struct amk_sm_session_info info;
    assert_int_equal(amk_sm_session_info(h->sm, "s-oslo", &info), 0);
    assert_true(info.stale);
    assert_int_equal(info.epoch, 1);
    assert_int_equal(info.centre_epoch, 2);
    assert_string_equal(h_gs(h, AMK_OBJ_SESSION, "s-oslo", "$.valid"), "0");

    /* A moved incident: the owner is Y, at Y's epoch. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo", "i-open", "x"));
    assert_string_equal(h->r.owner, "bergen");
    assert_int_equal(h->r.epoch, 1);
    H_EXPECT(h, AMK_ESTALE_EPOCH,
             h_move(h, "s-oslo", "i-open", AMK_INC_ON_SCENE));
    assert_string_equal(h->r.owner, "bergen");
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_assign(h, "s-oslo", "i-new", "oslo-2"));
    assert_string_equal(h->r.owner, "bergen");
    /* A closed incident X still owns: the owner is X, at its new epoch. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo", "i-closed", "late"));
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 2);
    /* Creating: the centre that now controls X. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_incident(h, "i-x", "s-oslo"));
    assert_string_equal(h->r.owner, "bergen");
    assert_int_equal(h->r.epoch, 1);
    assert_null(h_get(h, AMK_OBJ_INCIDENT, "i-x"));
    assert_int_equal(version(h, AMK_OBJ_INCIDENT, "i-open"), 3);
}

static void test_y_acts_at_once(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_OK(h, h_note(h, "s-bergen", "i-open", "bergen has it"));
    H_OK(h, h_phase(h, "s-bergen", "i-open", "oslo-1", AMK_RS_EN_ROUTE));
    H_OK(h, h_assign(h, "s-bergen", "i-new", "oslo-2"));
    H_OK(h, h_move(h, "s-bergen", "i-open", AMK_INC_ON_SCENE));
    H_OK(h, h_unassign(h, "s-bergen", "i-new", "oslo-2"));
    H_OK(h, h_close_incident(h, "s-bergen", "i-open", AMK_DISP_TRANSPORTED));
    /* Y's own resources still serve Y. */
    H_OK(h, h_assign(h, "s-bergen", "i-new", "bergen-1"));
    /* A third centre is fenced from both. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-trd", "i-new", "x"));
    assert_string_equal(h->r.owner, "bergen");
}

static void test_login_during_takeover(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_OK(h, h_session(h, "s-oslo-2", "oslo", AMK_ROLE_OPERATOR));
    assert_int_equal(h_ji(h, h->r.body, "$.read_only"), 1);
    assert_int_equal(h_ji(h, h->r.body, "$.epoch"), 2);
    assert_int_equal(h_ji(h, h->r.body, "$.valid"), 0);
    struct amk_sm_session_info info;
    assert_int_equal(amk_sm_session_info(h->sm, "s-oslo-2", &info), 0);
    assert_true(info.read_only);

    H_EXPECT(h, AMK_ESTALE_EPOCH, h_incident(h, "i-x", "s-oslo-2"));
    assert_string_equal(h->r.owner, "bergen");
    assert_int_equal(h->r.epoch, 1);
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo-2", "i-open", "x"));
    assert_string_equal(h->r.owner, "bergen");
    assert_int_equal(h->r.epoch, 1);
    H_EXPECT(h, AMK_ESTALE_EPOCH,
             h_set_state(h, "s-oslo-2", "oslo", AMK_SS_NORMAL));
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 2);
}

static void test_handback_returns(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", true));
    H_OK(h, h_session(h, "s-oslo-ro", "oslo", AMK_ROLE_OPERATOR));
    /* Y works the incidents: i-new is closed while Y owns it; Y creates
     * one of its own. */
    H_OK(h, h_note(h, "s-bergen", "i-open", "in bergen"));
    H_OK(h, h_close_incident(h, "s-bergen", "i-new", AMK_DISP_FALSE_ALARM));
    H_OK(h, h_incident(h, "i-during", "s-bergen"));
    int64_t v_open = version(h, AMK_OBJ_INCIDENT, "i-open");
    int64_t v_r1 = version(h, AMK_OBJ_RESOURCE, "oslo-1");

    H_OK(h, h_handback(h, "oslo", AMK_ENUM_NONE));
    assert_string_equal(h_js(h, h->r.event, "$.type"), "centre.handback");
    assert_string_equal(h_js(h, h->r.event, "$.changes[0].id"), "oslo");
    assert_true(event_lists(h, "incident", "i-open"));
    assert_true(event_lists(h, "resource", "oslo-1"));
    assert_true(event_lists(h, "resource", "oslo-2"));
    assert_false(event_lists(h, "incident", "i-new"));
    assert_false(event_lists(h, "incident", "i-during"));
    assert_int_equal(h_jlen(h, h->r.event, "$.changes"), 4);

    const char *oslo = h_get(h, AMK_OBJ_CENTRE, "oslo");
    assert_int_equal(h_ji(h, oslo, "$.epoch"), 3);
    assert_string_equal(h_js(h, oslo, "$.controlled_by"), "oslo");
    assert_string_equal(h_js(h, oslo, "$.service_state"), "normal");
    const char *inc = h_get(h, AMK_OBJ_INCIDENT, "i-open");
    assert_string_equal(h_js(h, inc, "$.owner"), "oslo");
    assert_int_equal(h_ji(h, inc, "$.owner_epoch"), 3);
    assert_int_equal(h_ji(h, inc, "$.version"), v_open + 1);
    /* Closed while at Y: stays with Y; Y's own stays. */
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-new", "$.owner"),
                        "bergen");
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-during", "$.owner"),
                        "bergen");
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-closed", "$.owner"),
                        "oslo");
    const char *r1 = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    assert_string_equal(h_js(h, r1, "$.controlled_by"), "oslo");
    assert_int_equal(h_ji(h, r1, "$.controller_epoch"), 3);
    assert_int_equal(h_ji(h, r1, "$.version"), v_r1 + 1);

    /* Every session X had, before or during the takeover, is stale. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo", "i-open", "x"));
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 3);
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo-ro", "i-open", "x"));
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 3);
    /* Y no longer may. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-bergen", "i-open", "x"));
    assert_string_equal(h->r.owner, "oslo");
    /* A new login at X may, at once. */
    H_OK(h, h_session(h, "s-oslo-3", "oslo", AMK_ROLE_OPERATOR));
    assert_int_equal(h_ji(h, h->r.body, "$.read_only"), 0);
    H_OK(h, h_note(h, "s-oslo-3", "i-open", "back home"));
    H_OK(h, h_phase(h, "s-oslo-3", "i-open", "oslo-1", AMK_RS_ON_SCENE));
    H_OK(h, h_incident(h, "i-after", "s-oslo-3"));
    assert_int_equal(h_ji(h, h->r.body, "$.owner_epoch"), 3);
}

static void test_handback_keep(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    int64_t v_open = version(h, AMK_OBJ_INCIDENT, "i-open");
    H_OK(h, h_handback(h, "oslo", AMK_HB_KEEP));
    assert_false(event_lists(h, "incident", "i-open"));
    assert_true(event_lists(h, "resource", "oslo-1"));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-open", "$.owner"),
                        "bergen");
    assert_int_equal(version(h, AMK_OBJ_INCIDENT, "i-open"), v_open);
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-2", "$.controlled_by"),
                        "oslo");
    H_OK(h, h_note(h, "s-bergen", "i-open", "ours for good"));
    /* For good: a later takeover and handback of X does not return it. */
    H_OK(h, h_takeover(h, "oslo", "trondheim", false));
    H_OK(h, h_handback(h, "oslo", AMK_HB_RETURN));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-open", "$.owner"),
                        "bergen");
    /* Explicit "return" is the default behaviour. */
    H_OK(h, h_takeover(h, "oslo", "trondheim", false));
    H_OK(h, h_incident(h, "i-t", "s-trd"));
    H_OK(h, h_handback(h, "oslo", AMK_HB_RETURN));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-t", "$.owner"),
                        "trondheim");
}

/* A unit of X that Y sent to one of Y's own incidents returns to X's
 * control with the handback (docs: "resources taken from X return") while
 * still on that incident: Y can no longer move it by phase or unassign
 * (the unit is X's), but closing the incident still frees it, and the
 * unit's own reports go on. */
static void test_handback_unit_on_y_incident(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_OK(h, h_incident(h, "i-y", "s-bergen"));
    H_OK(h, h_assign(h, "s-bergen", "i-y", "oslo-2"));
    H_OK(h, h_handback(h, "oslo", AMK_ENUM_NONE));
    const char *r = h_get(h, AMK_OBJ_RESOURCE, "oslo-2");
    assert_string_equal(h_js(h, r, "$.controlled_by"), "oslo");
    assert_string_equal(h_js(h, r, "$.incident"), "i-y");
    H_EXPECT(h, AMK_ESTALE_EPOCH,
             h_phase(h, "s-bergen", "i-y", "oslo-2", AMK_RS_EN_ROUTE));
    assert_string_equal(h->r.owner, "oslo");
    H_OK(h, h_report(h, "b-oslo", "oslo-2", AMK_RS_EN_ROUTE, 1));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-y", "$.status"),
                        "dispatched");
    H_OK(h, h_close_incident(h, "s-bergen", "i-y", AMK_DISP_NO_PATIENT));
    r = h_get(h, AMK_OBJ_RESOURCE, "oslo-2");
    assert_string_equal(h_js(h, r, "$.incident"), "null");
    assert_string_equal(h_js(h, r, "$.status"), "available_mobile");
}

static void test_handback_rejections(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_EXPECT(h, AMK_ECONFLICT, h_handback(h, "oslo", AMK_ENUM_NONE));
    assert_int_equal(h_gi(h, AMK_OBJ_CENTRE, "oslo", "$.epoch"), 1);
    H_EXPECT(h, AMK_ENOTFOUND, h_handback(h, "nowhere", AMK_ENUM_NONE));
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_HANDBACK, AMK_ROLE_OPERATOR, "s-bergen");
    c.u.centre_handback.id = amk_str_c("oslo");
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
    h_cmd(&c, AMK_CMD_CENTRE_HANDBACK, AMK_ROLE_ADMIN, NULL);
    c.u.centre_handback.id = amk_str_c("oslo");
    c.h.if_match = 1;
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    assert_int_equal(h->r.version, 2);
    c.h.if_match = 2;
    H_OK(h, h_apply(h, &c));
    H_EXPECT(h, AMK_ECONFLICT, h_handback(h, "oslo", AMK_ENUM_NONE));
}

static void test_takeover_rejections(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* Who: admins and the leader only. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_TAKEOVER, AMK_ROLE_OPERATOR, "s-bergen");
    c.u.centre_takeover.id = amk_str_c("oslo");
    c.u.centre_takeover.by = amk_str_c("bergen");
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
    H_EXPECT(h, AMK_ENOTFOUND, h_takeover(h, "nowhere", "bergen", false));
    H_EXPECT(h, AMK_EINVALID, h_takeover(h, "oslo", "nowhere", false));
    assert_non_null(strstr(h->r.message, "by"));
    H_EXPECT(h, AMK_EINVALID, h_takeover(h, "oslo", "oslo", false));
    h_cmd(&c, AMK_CMD_CENTRE_TAKEOVER, AMK_ROLE_ADMIN, NULL);
    c.u.centre_takeover.id = amk_str_c("oslo");
    c.u.centre_takeover.by = amk_str_c("bergen");
    c.h.if_match = 9;
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    assert_int_equal(h->r.version, 1);
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.controlled_by"),
                        "oslo");

    /* Chains: `by` must control itself; X must control itself. */
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_EXPECT(h, AMK_ECONFLICT, h_takeover(h, "trondheim", "oslo", false));
    H_EXPECT(h, AMK_ECONFLICT, h_takeover(h, "oslo", "trondheim", false));
    H_EXPECT(h, AMK_ECONFLICT, h_takeover(h, "bergen", "oslo", false));
    assert_int_equal(h_gi(h, AMK_OBJ_CENTRE, "oslo", "$.epoch"), 2);
    assert_int_equal(h_gi(h, AMK_OBJ_CENTRE, "trondheim", "$.epoch"), 1);
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.controlled_by"),
                        "bergen");
}

static void test_takeover_of_a_controller(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* trondheim is controlled by oslo; then oslo falls to bergen: both
     * pass to bergen (control never chains). */
    H_OK(h, h_incident(h, "i-trd", "s-trd"));
    H_OK(h, h_resource(h, "trd-1", 3001, "trondheim"));
    H_OK(h, h_takeover(h, "trondheim", "oslo", false));
    H_OK(h, h_session(h, "s-oslo-b", "oslo", AMK_ROLE_OPERATOR));
    H_OK(h, h_note(h, "s-oslo-b", "i-trd", "oslo took it"));
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    assert_true(event_lists(h, "centre", "trondheim"));
    assert_true(event_lists(h, "incident", "i-trd"));
    assert_true(event_lists(h, "resource", "trd-1"));
    const char *trd = h_get(h, AMK_OBJ_CENTRE, "trondheim");
    assert_string_equal(h_js(h, trd, "$.controlled_by"), "bergen");
    assert_int_equal(h_ji(h, trd, "$.epoch"), 3);
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-trd", "$.owner"),
                        "bergen");
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "trd-1", "$.controlled_by"),
                        "bergen");
    H_OK(h, h_note(h, "s-bergen", "i-trd", "bergen has it"));

    /* Handing oslo back returns only what was oslo's. */
    H_OK(h, h_handback(h, "oslo", AMK_ENUM_NONE));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-open", "$.owner"), "oslo");
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-trd", "$.owner"),
                        "bergen");
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "trondheim", "$.controlled_by"),
                        "bergen");
    /* Handing trondheim back returns its incident and unit. */
    H_OK(h, h_handback(h, "trondheim", AMK_ENUM_NONE));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-trd", "$.owner"),
                        "trondheim");
    assert_int_equal(h_gi(h, AMK_OBJ_INCIDENT, "i-trd", "$.owner_epoch"), 4);
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "trd-1", "$.controlled_by"),
                        "trondheim");
}

static void test_claimed_epoch(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* A caller that names an epoch other than the centre's is fenced. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_note.id = amk_str_c("i-open");
    c.u.incident_note.text = amk_str_c("x");
    c.h.epoch = 1;
    H_OK(h, h_apply(h, &c));
    c.h.epoch = 2;
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_apply(h, &c));
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 1);
}

/* --- Transfers ----------------------------------------------------------- */

static void test_transfer_accept(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    int64_t v = version(h, AMK_OBJ_INCIDENT, "i-new");
    H_OK(h, h_transfer(h, "s-oslo", "i-new", "trondheim"));
    assert_string_equal(h_js(h, h->r.body, "$.transfer_to"), "trondheim");
    assert_string_equal(h_js(h, h->r.body, "$.owner"), "oslo");
    assert_int_equal(h_ji(h, h->r.body, "$.version"), v + 1);
    assert_string_equal(h_js(h, h->r.event, "$.type"),
                        "incident.transfer_requested");
    /* The owner still owns it while the transfer is pending. */
    H_OK(h, h_note(h, "s-oslo", "i-new", "still ours"));
    /* Only the receiving centre answers. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_answer(h, "s-bergen", "i-new", true));
    assert_string_equal(h->r.owner, "trondheim");
    assert_int_equal(h->r.epoch, 1);
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_answer(h, "s-oslo", "i-new", true));
    assert_string_equal(h->r.owner, "trondheim");
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_answer(h, "ghost", "i-new", true));
    H_EXPECT(h, AMK_ENOTFOUND, h_answer(h, "s-trd", "i-nowhere", true));

    v = version(h, AMK_OBJ_INCIDENT, "i-new");
    H_OK(h, h_answer(h, "s-trd", "i-new", true));
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.owner"), "trondheim");
    assert_int_equal(h_ji(h, b, "$.owner_epoch"), 1);
    assert_string_equal(h_js(h, b, "$.transfer_to"), "null");
    assert_string_equal(h_js(h, b, "$.answering_centre"), "oslo");
    assert_int_equal(h_ji(h, b, "$.version"), v + 1);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "incident.transferred");
    /* The old owner is now fenced; the new one acts. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo", "i-new", "x"));
    assert_string_equal(h->r.owner, "trondheim");
    H_OK(h, h_note(h, "s-trd", "i-new", "ours"));
    /* Nothing pending any more. */
    H_EXPECT(h, AMK_ECONFLICT, h_answer(h, "s-trd", "i-new", true));
}

static void test_transfer_reject(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_transfer(h, "s-oslo", "i-new", "trondheim"));
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_TRANSFER_REJECT, AMK_ROLE_OPERATOR, "s-trd");
    c.u.incident_transfer_reject.id = amk_str_c("i-new");
    c.u.incident_transfer_reject.reason = amk_str_c("no capacity");
    H_OK(h, h_apply(h, &c));
    assert_string_equal(h_js(h, h->r.event, "$.type"),
                        "incident.transfer_rejected");
    assert_string_equal(h_js(h, h->r.body, "$.owner"), "oslo");
    assert_string_equal(h_js(h, h->r.body, "$.transfer_to"), "null");
    assert_string_equal(h_js(h, h->r.body, "$.notes[0].text"), "no capacity");
    H_EXPECT(h, AMK_ECONFLICT, h_answer(h, "s-trd", "i-new", false));
    H_OK(h, h_note(h, "s-oslo", "i-new", "still ours"));
}

static void test_transfer_rejections(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_EXPECT(h, AMK_EINVALID, h_transfer(h, "s-oslo", "i-new", "nowhere"));
    assert_non_null(strstr(h->r.message, "to"));
    H_EXPECT(h, AMK_EINVALID, h_transfer(h, "s-oslo", "i-new", "oslo"));
    H_EXPECT(h, AMK_ECONFLICT, h_transfer(h, "s-oslo", "i-closed", "bergen"));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_transfer(h, "s-trd", "i-new", "bergen"));
    assert_string_equal(h->r.owner, "oslo");
    H_EXPECT(h, AMK_ENOTFOUND, h_transfer(h, "s-oslo", "i-none", "bergen"));
    /* `to` must control itself. */
    H_OK(h, h_takeover(h, "trondheim", "bergen", false));
    H_EXPECT(h, AMK_ECONFLICT, h_transfer(h, "s-oslo", "i-new", "trondheim"));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-new", "$.transfer_to"),
                        "null");
    /* Closing an incident drops its pending transfer. */
    H_OK(h, h_transfer(h, "s-oslo", "i-new", "bergen"));
    H_OK(h, h_close_incident(h, "s-oslo", "i-new", AMK_DISP_DUPLICATE));
    assert_string_equal(h_js(h, h->r.body, "$.transfer_to"), "null");
    H_EXPECT(h, AMK_ECONFLICT, h_answer(h, "s-bergen", "i-new", true));
}

static void test_transfer_redirected_on_takeover(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_transfer(h, "s-oslo", "i-new", "trondheim"));
    int64_t v = version(h, AMK_OBJ_INCIDENT, "i-new");
    H_OK(h, h_takeover(h, "trondheim", "bergen", false));
    assert_true(event_lists(h, "incident", "i-new"));
    const char *inc = h_get(h, AMK_OBJ_INCIDENT, "i-new");
    assert_string_equal(h_js(h, inc, "$.transfer_to"), "bergen");
    assert_string_equal(h_js(h, inc, "$.owner"), "oslo");
    assert_int_equal(h_ji(h, inc, "$.version"), v + 1);
    /* X's session may no longer answer; Y's may. */
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_answer(h, "s-trd", "i-new", true));
    assert_string_equal(h->r.owner, "bergen");
    H_OK(h, h_answer(h, "s-bergen", "i-new", true));
    assert_string_equal(h_js(h, h->r.body, "$.owner"), "bergen");
    assert_int_equal(h_ji(h, h->r.body, "$.owner_epoch"), 1);
    /* Accepted, it is Y's own: a handback of X does not take it. */
    H_OK(h, h_handback(h, "trondheim", AMK_ENUM_NONE));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i-new", "$.owner"),
                        "bergen");
}

/* Y asked to transfer its incident to X; Y then takes X over: the transfer
 * would be to Y itself, so it is dropped, not redirected. */
static void test_own_transfer_void_on_takeover(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i-b", "s-bergen"));
    H_OK(h, h_transfer(h, "s-bergen", "i-b", "trondheim"));
    H_OK(h, h_takeover(h, "trondheim", "bergen", false));
    const char *inc = h_get(h, AMK_OBJ_INCIDENT, "i-b");
    assert_string_equal(h_js(h, inc, "$.transfer_to"), "null");
    assert_string_equal(h_js(h, inc, "$.owner"), "bergen");
    H_EXPECT(h, AMK_ECONFLICT, h_answer(h, "s-bergen", "i-b", true));
}

/* Writes keep the sessions they act through in a cache (sm/auth.c,
 * sm_actor_load): every change to a session or a centre must reach it. Each
 * step below follows a write that filled the cache with the old state. */
static void test_actor_cache_follows_changes(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_note(h, "s-oslo", "i-open", "cached"));
    void *snap;
    size_t snap_len;
    assert_int_equal(amk_sm_snapshot(h->sm, &snap, &snap_len), 0);

    /* Takeover, by an admin acting without a session. */
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo", "i-open", "x"));
    assert_string_equal(h->r.owner, "bergen");
    /* Handback: the old session stays stale, a new one may write. */
    H_OK(h, h_handback(h, "oslo", AMK_ENUM_NONE));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo", "i-new", "x"));
    assert_int_equal(h->r.epoch, 3);
    H_OK(h, h_session(h, "s-oslo-3", "oslo", AMK_ROLE_OPERATOR));
    H_OK(h, h_note(h, "s-oslo-3", "i-new", "back"));
    /* Close. */
    H_OK(h, h_session_close(h, NULL, "s-oslo-3"));
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_note(h, "s-oslo-3", "i-new", "x"));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-oslo", "i-new", "x"));

    /* Restore into the same state machine: the cache holds s-oslo as stale
     * and must not outlive the state it was read from. */
    assert_int_equal(amk_sm_restore(h->sm, snap, snap_len), 0);
    amk_sm_snapshot_free(snap, snap_len);
    H_OK(h, h_note(h, "s-oslo", "i-open", "after restore"));
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_note(h, "s-oslo-3", "i-new", "x"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, h_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_takeover_moves_in_one_event),
        T(test_takeover_automatic_sets_down),
        T(test_stale_sessions_of_x),
        T(test_y_acts_at_once),
        T(test_login_during_takeover),
        T(test_handback_returns),
        T(test_handback_keep),
        T(test_handback_unit_on_y_incident),
        T(test_handback_rejections),
        T(test_takeover_rejections),
        T(test_takeover_of_a_controller),
        T(test_claimed_epoch),
        T(test_transfer_accept),
        T(test_transfer_reject),
        T(test_transfer_rejections),
        T(test_transfer_redirected_on_takeover),
        T(test_own_transfer_void_on_takeover),
        T(test_actor_cache_follows_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
