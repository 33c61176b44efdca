/* tests/unit/sm/test_resource.c: resource.register and the field reports
 * (status, position, alarm) of sm/resource.c: ISSI rules, control during a
 * takeover, sequence ordering with separate counters, range checks and who
 * may report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

static int64_t version(struct h_ctx *h, const char *id)
{
    return h_gi(h, AMK_OBJ_RESOURCE, id, "$.version");
}

/* --- register ------------------------------------------------------------ */

static void test_register_ok(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_REGISTER, AMK_ROLE_ADMIN, NULL);
    c.u.resource_register.id = amk_str_c("LA-01");
    c.u.resource_register.type = AMK_RT_HELICOPTER;
    c.u.resource_register.issi = 16777215;
    c.u.resource_register.home_centre = amk_str_c("bergen");
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.created);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "resource.registered");
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.id"), "LA-01");
    assert_string_equal(h_js(h, b, "$.type"), "helicopter");
    assert_int_equal(h_ji(h, b, "$.issi"), 16777215);
    assert_string_equal(h_js(h, b, "$.home_centre"), "bergen");
    assert_string_equal(h_js(h, b, "$.controlled_by"), "bergen");
    assert_string_equal(h_js(h, b, "$.status"), "available_station");
    assert_string_equal(h_js(h, b, "$.position"), "null");
    assert_string_equal(h_js(h, b, "$.incident"), "null");
    assert_int_equal(h_ji(h, b, "$.alarm"), 0);
    assert_int_equal(h_ji(h, b, "$.version"), 1);
    H_OK(h, h_resource(h, "zero", 0, "oslo"));
    assert_int_equal(h_ji(h, h->r.body, "$.issi"), 0);
}

struct bad_register {
    const char *id;
    int64_t issi;
    const char *home;
    uint8_t role;
    int code;
    const char *field; /* the message starts with it */
};

static const struct bad_register bad_registers[] = {
    {"x", -1, "oslo", AMK_ROLE_ADMIN, AMK_EINVALID, "issi"},
    {"x", 16777216, "oslo", AMK_ROLE_ADMIN, AMK_EINVALID, "issi"},
    {"x", INT64_MAX, "oslo", AMK_ROLE_ADMIN, AMK_EINVALID, "issi"},
    {"x", 1001, "oslo", AMK_ROLE_ADMIN, AMK_ECONFLICT, "issi"},
    {"oslo-1", 9999, "oslo", AMK_ROLE_ADMIN, AMK_ECONFLICT, "resource"},
    {"x", 9999, "nowhere", AMK_ROLE_ADMIN, AMK_EINVALID, "home_centre"},
    {"bad id", 9999, "oslo", AMK_ROLE_ADMIN, AMK_EINVALID, "id"},
    {"", 9999, "oslo", AMK_ROLE_ADMIN, AMK_EINVALID, "id"},
    {"x", 9999, "oslo", AMK_ROLE_OPERATOR, AMK_EFORBIDDEN, ""},
    {"x", 9999, "oslo", AMK_ROLE_BRIDGE, AMK_EFORBIDDEN, ""},
};
#define N_BAD_REGISTERS (sizeof bad_registers / sizeof bad_registers[0])

static void test_register_rejected(void **state)
{
    struct h_fixture *f = *state;
    struct h_ctx *h = &f->h;
    const struct bad_register *row = f->row;
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_REGISTER, row->role,
          row->role == AMK_ROLE_ADMIN ? NULL : "s-oslo");
    c.u.resource_register.id = amk_str_c(row->id);
    c.u.resource_register.type = AMK_RT_AMBULANCE;
    c.u.resource_register.issi = row->issi;
    c.u.resource_register.home_centre = amk_str_c(row->home);
    const char *before = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    H_EXPECT(h, row->code, h_apply(h, &c));
    if (strncmp(h->r.message, row->field, strlen(row->field)) != 0) {
        fail_msg("message '%s' does not name %s", h->r.message, row->field);
    }
    assert_null(h->r.event);
    assert_null(h_get(h, AMK_OBJ_RESOURCE, "x"));
    assert_string_equal(h_get(h, AMK_OBJ_RESOURCE, "oslo-1"), before);
}

static void test_register_during_takeover(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_OK(h, h_resource(h, "oslo-3", 1003, "oslo"));
    assert_string_equal(h_js(h, h->r.body, "$.home_centre"), "oslo");
    assert_string_equal(h_js(h, h->r.body, "$.controlled_by"), "bergen");
    assert_int_equal(h_ji(h, h->r.body, "$.controller_epoch"), 1);
    /* The controller uses it at once. */
    H_OK(h, h_incident(h, "i1", "s-bergen"));
    H_OK(h, h_assign(h, "s-bergen", "i1", "oslo-3"));
    H_OK(h, h_unassign(h, "s-bergen", "i1", "oslo-3"));
    /* It returns with the handback. */
    H_OK(h, h_handback(h, "oslo", AMK_ENUM_NONE));
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-3", "$.controlled_by"),
                        "oslo");
    assert_int_equal(h_gi(h, AMK_OBJ_RESOURCE, "oslo-3", "$.controller_epoch"),
                     3);
}

/* --- Sequence ordering --------------------------------------------------- */

/* A report not above its counter: OK, applied false, no event, nothing
 * changes; the body is the resource as it is. */
static void expect_stale(struct h_ctx *h, int rc, const char *rid,
                         const char *before)
{
    H_OK(h, rc);
    assert_false(h->r.applied);
    assert_null(h->r.event);
    assert_non_null(h->r.body);
    assert_string_equal(h->r.body, before);
    assert_string_equal(h_get(h, AMK_OBJ_RESOURCE, rid), before);
}

static void test_status_ordering(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, 5));
    assert_true(h->r.applied);
    assert_non_null(h->r.event);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "resource.status");
    assert_int_equal(h_ji(h, h->r.body, "$.status_seq"), 5);
    assert_int_equal(h_ji(h, h->r.body, "$.version"), 2);
    const char *now = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    /* Same seq, lower seq: ignored, even a status the table refuses. */
    expect_stale(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_OUT_OF_SERVICE, 5),
                 "oslo-1", now);
    expect_stale(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_OUT_OF_SERVICE, 1),
                 "oslo-1", now);
    expect_stale(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_TRANSPORTING, 4),
                 "oslo-1", now);
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_OUT_OF_SERVICE, 6));
    assert_true(h->r.applied);
    assert_string_equal(h_js(h, h->r.body, "$.status"), "out_of_service");
    assert_int_equal(h_ji(h, h->r.body, "$.version"), 3);
    /* A rejected report does not consume its seq. */
    H_EXPECT(h, AMK_ECONFLICT,
             h_report(h, "b-oslo", "oslo-1", AMK_RS_ON_SCENE, 7));
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_STATION, 7));
    assert_true(h->r.applied);
    /* A repeated status is applied and refreshes its time. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_STATUS, AMK_ROLE_BRIDGE, "b-oslo");
    c.u.resource_status.id = amk_str_c("oslo-1");
    c.u.resource_status.status = AMK_RS_AVAILABLE_STATION;
    c.u.resource_status.seq = 8;
    c.u.resource_status.event_time = 1795000000123LL;
    c.u.resource_status.raw_code = 65535;
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.applied);
    assert_string_equal(h_js(h, h->r.body, "$.status_time"),
                        "2026-11-18T11:06:40.123Z");
    assert_int_equal(h_ji(h, h->r.body, "$.status_seq"), 8);
}

static void test_counters_are_separate(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, 10));
    /* A status seq does not affect the position counter. */
    H_OK(h, h_position(h, "b-oslo", "oslo-1", 59.9, 10.7, 1));
    assert_true(h->r.applied);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "resource.position");
    assert_string_equal(h_js(h, h->r.body, "$.position.lat"), "59.9");
    assert_string_equal(h_js(h, h->r.body, "$.position.lon"), "10.7");
    assert_int_equal(h_ji(h, h->r.body, "$.position.seq"), 1);
    H_OK(h, h_position(h, "b-oslo", "oslo-1", 59.95, 10.75, 5));
    const char *now = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    expect_stale(h, h_position(h, "b-oslo", "oslo-1", 1, 1, 5), "oslo-1", now);
    expect_stale(h, h_position(h, "b-oslo", "oslo-1", 1, 1, 3), "oslo-1", now);
    /* ... nor a position seq the status counter. */
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_STATION, 11));
    assert_true(h->r.applied);
    assert_string_equal(h_js(h, h->r.body, "$.position.lat"), "59.95");
    /* The alarm shares the status counter. */
    now = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    expect_stale(h, h_alarm(h, "b-oslo", "oslo-1", true, 11), "oslo-1", now);
    H_OK(h, h_alarm(h, "b-oslo", "oslo-1", true, 12));
    assert_true(h->r.applied);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "resource.alarm");
    assert_int_equal(h_ji(h, h->r.body, "$.alarm"), 1);
    now = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    expect_stale(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_OUT_OF_SERVICE, 12),
                 "oslo-1", now);
    H_OK(h, h_position(h, "b-oslo", "oslo-1", 60, 11, 6));
    assert_true(h->r.applied);
    H_OK(h, h_alarm(h, "b-oslo", "oslo-1", false, 13));
    assert_int_equal(h_ji(h, h->r.body, "$.alarm"), 0);
    /* Counters are per resource. */
    H_OK(h, h_report(h, "b-oslo", "oslo-2", AMK_RS_AVAILABLE_MOBILE, 1));
    assert_true(h->r.applied);
}

struct bad_report {
    uint16_t type;
    double lat, lon, accuracy, speed, heading;
    int64_t seq, raw_code;
    const char *field; /* NULL: accepted */
};

#define POS(lat, lon, acc, speed, heading, field)                              \
    {                                                                          \
        AMK_CMD_RESOURCE_POSITION, lat, lon, acc, speed, heading, 1, 0, field  \
    }
#define STATUS(seq, raw, field)                                                \
    {                                                                          \
        AMK_CMD_RESOURCE_STATUS, 0, 0, 0, 0, 0, seq, raw, field                \
    }

static const struct bad_report bad_reports[] = {
    POS(90.5, 10, 1, 1, 1, "lat"),
    POS(-91, 10, 1, 1, 1, "lat"),
    POS(60, 180.5, 1, 1, 1, "lon"),
    POS(60, -181, 1, 1, 1, "lon"),
    POS(60, 10, -0.1, 1, 1, "accuracy_m"),
    POS(60, 10, 1, -1, 1, "speed"),
    POS(60, 10, 1, 1, 360, "heading"),
    POS(60, 10, 1, 1, -0.5, "heading"),
    POS(90, 180, 0, 0, 0, NULL),
    POS(-90, -180, 0, 0, 359.9, NULL),
    {AMK_CMD_RESOURCE_POSITION, 60, 10, 1, 1, 1, 0, 0, "seq"},
    {AMK_CMD_RESOURCE_POSITION, 60, 10, 1, 1, 1, -5, 0, "seq"},
    STATUS(0, 1, "seq"),
    STATUS(-1, 1, "seq"),
    STATUS(1, -1, "raw_code"),
    STATUS(1, 65536, "raw_code"),
    STATUS(1, 0, NULL),
    STATUS(1, 65535, NULL),
    {AMK_CMD_RESOURCE_ALARM, 0, 0, 0, 0, 0, 0, 0, "seq"},
};
#define N_BAD_REPORTS (sizeof bad_reports / sizeof bad_reports[0])

static void test_report_ranges(void **state)
{
    struct h_fixture *f = *state;
    struct h_ctx *h = &f->h;
    const struct bad_report *row = f->row;
    struct amk_cmd c;
    h_cmd(&c, row->type, AMK_ROLE_BRIDGE, "b-oslo");
    switch (row->type) {
        case AMK_CMD_RESOURCE_POSITION:
            c.u.resource_position.id = amk_str_c("oslo-1");
            c.u.resource_position.lat = row->lat;
            c.u.resource_position.lon = row->lon;
            c.u.resource_position.accuracy_m = row->accuracy;
            c.u.resource_position.speed = row->speed;
            c.u.resource_position.heading = row->heading;
            c.u.resource_position.seq = row->seq;
            break;
        case AMK_CMD_RESOURCE_STATUS:
            c.u.resource_status.id = amk_str_c("oslo-1");
            c.u.resource_status.status = AMK_RS_AVAILABLE_MOBILE;
            c.u.resource_status.seq = row->seq;
            c.u.resource_status.raw_code = row->raw_code;
            break;
        default:
            c.u.resource_alarm.id = amk_str_c("oslo-1");
            c.u.resource_alarm.on = 1;
            c.u.resource_alarm.seq = row->seq;
            break;
    }
    const char *before = h_get(h, AMK_OBJ_RESOURCE, "oslo-1");
    int rc = h_apply(h, &c);
    if (row->field == NULL) {
        H_OK(h, rc);
        assert_true(h->r.applied);
        return;
    }
    H_EXPECT(h, AMK_EINVALID, rc);
    if (strncmp(h->r.message, row->field, strlen(row->field)) != 0) {
        fail_msg("message '%s' does not name %s", h->r.message, row->field);
    }
    assert_null(h->r.event);
    assert_string_equal(h_get(h, AMK_OBJ_RESOURCE, "oslo-1"), before);
}

/* --- Who may report ------------------------------------------------------ */

static void test_report_auth(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    int64_t seq = 1;
    /* No session, unknown session: 401. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_STATUS, AMK_ROLE_BRIDGE, NULL);
    c.u.resource_status.id = amk_str_c("oslo-1");
    c.u.resource_status.status = AMK_RS_AVAILABLE_MOBILE;
    c.u.resource_status.seq = seq;
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_apply(h, &c));
    H_EXPECT(h, AMK_EUNAUTHENTICATED,
             h_report(h, "ghost", "oslo-1", AMK_RS_AVAILABLE_MOBILE, seq));
    H_EXPECT(h, AMK_EUNAUTHENTICATED,
             h_position(h, "ghost", "oslo-1", 60, 10, seq));
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_alarm(h, "ghost", "oslo-1", 1, seq));
    /* Observer: 403. */
    H_OK(h, h_session(h, "obs", "oslo", AMK_ROLE_OBSERVER));
    h_cmd(&c, AMK_CMD_RESOURCE_POSITION, AMK_ROLE_OBSERVER, "obs");
    c.u.resource_position.id = amk_str_c("oslo-1");
    c.u.resource_position.lat = 60;
    c.u.resource_position.lon = 10;
    c.u.resource_position.seq = seq;
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
    assert_int_equal(version(h, "oslo-1"), 1);

    /* Any writing role's open session, of any centre; admins without. */
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, seq++));
    h_cmd(&c, AMK_CMD_RESOURCE_STATUS, AMK_ROLE_OPERATOR, "s-bergen");
    c.u.resource_status.id = amk_str_c("oslo-1");
    c.u.resource_status.status = AMK_RS_AVAILABLE_STATION;
    c.u.resource_status.seq = seq++;
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.applied);
    H_OK(h, h_report(h, NULL, "oslo-1", AMK_RS_AVAILABLE_MOBILE, seq++));
    assert_true(h->r.applied);

    /* A bridge of a taken-over centre keeps reporting (facts from the
     * field), and so does a read-only login made during the takeover. */
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_STATION, seq++));
    assert_true(h->r.applied);
    H_OK(h, h_position(h, "b-oslo", "oslo-1", 60, 10, 1));
    assert_true(h->r.applied);
    H_OK(h, h_alarm(h, "b-oslo", "oslo-1", true, seq++));
    assert_true(h->r.applied);
    H_OK(h, h_session(h, "b-oslo-ro", "oslo", AMK_ROLE_BRIDGE));
    assert_int_equal(h_ji(h, h->r.body, "$.read_only"), 1);
    H_OK(h, h_position(h, "b-oslo-ro", "oslo-1", 60.1, 10.1, 2));
    assert_true(h->r.applied);
    /* The unit on a mission of the taking centre: a stale bridge's report
     * moves it along, and the incident with it. */
    H_OK(h, h_incident(h, "i1", "s-bergen"));
    H_OK(h, h_assign(h, "s-bergen", "i1", "oslo-2"));
    H_OK(h, h_report(h, "b-oslo", "oslo-2", AMK_RS_ON_SCENE, 1));
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i1", "$.status"),
                        "on_scene");

    /* A closed session: 401. */
    H_OK(h, h_session_close(h, NULL, "b-oslo"));
    H_EXPECT(h, AMK_EUNAUTHENTICATED,
             h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, 100));
    H_EXPECT(h, AMK_EUNAUTHENTICATED,
             h_position(h, "b-oslo", "oslo-1", 60, 10, 100));
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_alarm(h, "b-oslo", "oslo-1", 0, 100));
    /* Unknown resource: 404. */
    H_EXPECT(h, AMK_ENOTFOUND,
             h_report(h, "b-oslo-ro", "nope", AMK_RS_AVAILABLE_MOBILE, 1));
}

#define BAD_REGISTER(i)                                                        \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_register_rejected, h_fixture_setup, h_fixture_teardown,           \
        (void *)&bad_registers[i])
#define BAD_REPORT(i)                                                          \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_report_ranges, h_fixture_setup, h_fixture_teardown,               \
        (void *)&bad_reports[i])
#define T(f)                                                                   \
    cmocka_unit_test_setup_teardown(f, h_fixture_setup, h_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_register_ok),     BAD_REGISTER(0),
        BAD_REGISTER(1),         BAD_REGISTER(2),
        BAD_REGISTER(3),         BAD_REGISTER(4),
        BAD_REGISTER(5),         BAD_REGISTER(6),
        BAD_REGISTER(7),         BAD_REGISTER(8),
        BAD_REGISTER(9),         T(test_register_during_takeover),
        T(test_status_ordering), T(test_counters_are_separate),
        BAD_REPORT(0),           BAD_REPORT(1),
        BAD_REPORT(2),           BAD_REPORT(3),
        BAD_REPORT(4),           BAD_REPORT(5),
        BAD_REPORT(6),           BAD_REPORT(7),
        BAD_REPORT(8),           BAD_REPORT(9),
        BAD_REPORT(10),          BAD_REPORT(11),
        BAD_REPORT(12),          BAD_REPORT(13),
        BAD_REPORT(14),          BAD_REPORT(15),
        BAD_REPORT(16),          BAD_REPORT(17),
        BAD_REPORT(18),          T(test_report_auth),
    };
    _Static_assert(N_BAD_REGISTERS == 10, "register every bad_registers row");
    _Static_assert(N_BAD_REPORTS == 19, "register every bad_reports row");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
