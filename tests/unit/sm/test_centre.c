/* tests/unit/sm/test_centre.c: centre.register, centre.update and
 * centre.set_state (sm/centre.c), and sessions (sm/session.c), against
 * docs/state-machine.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

/* --- centre.register ----------------------------------------------------- */

static void test_register_ok(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_REGISTER, AMK_ROLE_ADMIN, NULL);
    c.u.centre_register.id = amk_str_c("tromso");
    c.u.centre_register.name = amk_str_c("AMK Tromsø");
    c.u.centre_register.region = amk_str_c("nord");
    /* Backups may name centres not created yet. */
    c.u.centre_register.n_backups = 2;
    c.u.centre_register.backups[0] = amk_str_c("bodo");
    c.u.centre_register.backups[1] = amk_str_c("trondheim");
    c.u.centre_register.auto_takeover = 0;
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.created);
    assert_true(h->r.applied);
    assert_non_null(h->r.event);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "centre.registered");
    assert_int_equal(h_ji(h, h->r.event, "$.index"), h->index);
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.id"), "tromso");
    assert_string_equal(h_js(h, b, "$.name"), "AMK Tromsø");
    assert_string_equal(h_js(h, b, "$.region"), "nord");
    assert_string_equal(h_js(h, b, "$.backups"), "[\"bodo\",\"trondheim\"]");
    assert_int_equal(h_ji(h, b, "$.epoch"), 1);
    assert_string_equal(h_js(h, b, "$.controlled_by"), "tromso");
    assert_string_equal(h_js(h, b, "$.service_state"), "normal");
    assert_int_equal(h_ji(h, b, "$.auto_takeover"), 0);
    assert_int_equal(h_ji(h, b, "$.version"), 1);
    /* auto_takeover defaults to true. */
    assert_int_equal(h_gi(h, AMK_OBJ_CENTRE, "oslo", "$.auto_takeover"), 1);
}

static void test_register_duplicate(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    const char *before = h_get(h, AMK_OBJ_CENTRE, "oslo");
    H_EXPECT(h, AMK_ECONFLICT, h_centre(h, "oslo", NULL));
    assert_null(h->r.event);
    assert_null(h->r.body);
    assert_false(h->r.created);
    assert_string_equal(h_get(h, AMK_OBJ_CENTRE, "oslo"), before);
}

static void test_register_forbidden(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    uint8_t roles[] = {AMK_ROLE_OPERATOR, AMK_ROLE_BRIDGE, AMK_ROLE_OBSERVER};
    for (size_t i = 0; i < sizeof roles; i++) {
        struct amk_cmd c;
        h_cmd(&c, AMK_CMD_CENTRE_REGISTER, roles[i], "s-oslo");
        c.u.centre_register.id = amk_str_c("tromso");
        c.u.centre_register.name = amk_str_c("Tromsø");
        c.u.centre_register.region = amk_str_c("nord");
        H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
        assert_null(h_get(h, AMK_OBJ_CENTRE, "tromso"));
    }
    /* The system (leader) counts as admin. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_REGISTER, AMK_ROLE_SYSTEM, NULL);
    c.u.centre_register.id = amk_str_c("tromso");
    c.u.centre_register.name = amk_str_c("Tromsø");
    c.u.centre_register.region = amk_str_c("nord");
    H_OK(h, h_apply(h, &c));
}

struct bad_register {
    const char *id, *name, *region;
    const char *backups[3];
    const char *field; /* the message starts with it */
};

static const struct bad_register bad_registers[] = {
    {"", "X", "nord", {NULL}, "id"},
    {"has space", "X", "nord", {NULL}, "id"},
    {"slash/no", "X", "nord", {NULL}, "id"},
    {"æøå", "X", "nord", {NULL}, "id"},
    {"tromso", "", "nord", {NULL}, "name"},
    {"tromso", "X", "", {NULL}, "region"},
    {"tromso", "X", "nord sør", {NULL}, "region"},
    {"tromso", "X", "nord", {"tromso"}, "backups[0]"},
    {"tromso", "X", "nord", {"oslo", "oslo"}, "backups[1]"},
    {"tromso", "X", "nord", {"oslo", "bad id"}, "backups[1]"},
    {"tromso", "X", "nord", {""}, "backups[0]"},
};

static void test_register_invalid(void **state)
{
    struct h_fixture *f = *state;
    struct h_ctx *h = &f->h;
    const struct bad_register *row = f->row;
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_REGISTER, AMK_ROLE_ADMIN, NULL);
    c.u.centre_register.id = amk_str_c(row->id);
    c.u.centre_register.name = amk_str_c(row->name);
    c.u.centre_register.region = amk_str_c(row->region);
    c.u.centre_register.n_backups = 0;
    while (c.u.centre_register.n_backups < 3 &&
           row->backups[c.u.centre_register.n_backups] != NULL) {
        uint32_t i = c.u.centre_register.n_backups++;
        c.u.centre_register.backups[i] = amk_str_c(row->backups[i]);
    }
    size_t len;
    void *before = h_image(h, &len);
    H_EXPECT(h, AMK_EINVALID, h_apply(h, &c));
    if (strncmp(h->r.message, row->field, strlen(row->field)) != 0) {
        fail_msg("message '%s' does not name %s", h->r.message, row->field);
    }
    assert_null(h->r.event);
    /* Nothing but the audit log changed: no centre list entry. */
    char *list;
    assert_int_equal(amk_sm_list(h->sm, AMK_OBJ_CENTRE, NULL, &list), 0);
    assert_int_equal(h_jlen(h, list, "$.items"), 3);
    free(list);
    free(before);
}

/* --- centre.update ------------------------------------------------------- */

static void test_update_ok(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_update.id = amk_str_c("oslo");
    c.u.centre_update.name = amk_str_c("AMK Oslo og Akershus");
    c.u.centre_update.n_backups = 2;
    c.u.centre_update.backups[0] = amk_str_c("trondheim");
    c.u.centre_update.backups[1] = amk_str_c("bergen");
    c.u.centre_update.auto_takeover = 0;
    c.h.if_match = 1;
    H_OK(h, h_apply(h, &c));
    const char *b = h->r.body;
    assert_string_equal(h_js(h, b, "$.name"), "AMK Oslo og Akershus");
    assert_string_equal(h_js(h, b, "$.backups"), "[\"trondheim\",\"bergen\"]");
    assert_int_equal(h_ji(h, b, "$.auto_takeover"), 0);
    assert_int_equal(h_ji(h, b, "$.version"), 2);
    assert_int_equal(h_ji(h, b, "$.epoch"), 1);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "centre.updated");

    /* Absent fields stay; an empty backup list clears. */
    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_update.id = amk_str_c("oslo");
    c.u.centre_update.n_backups = 0;
    H_OK(h, h_apply(h, &c));
    b = h->r.body;
    assert_string_equal(h_js(h, b, "$.name"), "AMK Oslo og Akershus");
    assert_string_equal(h_js(h, b, "$.backups"), "[]");
    assert_int_equal(h_ji(h, b, "$.auto_takeover"), 0);
    assert_int_equal(h_ji(h, b, "$.version"), 3);
}

static void test_update_if_match(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_update.id = amk_str_c("oslo");
    c.u.centre_update.name = amk_str_c("A");
    H_OK(h, h_apply(h, &c)); /* version 2 */
    c.h.if_match = 1;
    c.u.centre_update.name = amk_str_c("B");
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    assert_int_equal(h->r.version, 2);
    assert_null(h->r.event);
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.name"), "A");
    c.h.if_match = 2;
    H_OK(h, h_apply(h, &c));
    assert_int_equal(h_ji(h, h->r.body, "$.version"), 3);
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.name"), "B");
}

static void test_update_rejections(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.centre_update.id = amk_str_c("oslo");
    c.u.centre_update.name = amk_str_c("A");
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));

    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_update.id = amk_str_c("nowhere");
    c.u.centre_update.name = amk_str_c("A");
    H_EXPECT(h, AMK_ENOTFOUND, h_apply(h, &c));

    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_update.id = amk_str_c("oslo");
    c.u.centre_update.name = amk_str_c("");
    H_EXPECT(h, AMK_EINVALID, h_apply(h, &c));
    assert_non_null(strstr(h->r.message, "name"));

    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_update.id = amk_str_c("oslo");
    c.u.centre_update.n_backups = 1;
    c.u.centre_update.backups[0] = amk_str_c("oslo");
    H_EXPECT(h, AMK_EINVALID, h_apply(h, &c));
    assert_non_null(strstr(h->r.message, "backups[0]"));
    assert_int_equal(h_gi(h, AMK_OBJ_CENTRE, "oslo", "$.version"), 1);
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.name"), "oslo");
}

/* --- centre.set_state ---------------------------------------------------- */

static void test_set_state_admin(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    for (uint8_t s = 0; s < amk_enum_count(AMK_ENUM_SERVICE_STATE); s++) {
        H_OK(h, h_set_state(h, NULL, "bergen", s));
        assert_string_equal(h_js(h, h->r.body, "$.service_state"),
                            amk_enum_name(AMK_ENUM_SERVICE_STATE, s));
        assert_int_equal(h_ji(h, h->r.body, "$.version"), 2 + s);
        /* The state does not fence: the epoch stays. */
        assert_int_equal(h_ji(h, h->r.body, "$.epoch"), 1);
    }
    H_EXPECT(h, AMK_ENOTFOUND, h_set_state(h, NULL, "nowhere", 0));
}

static void test_set_state_session(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_set_state(h, "s-oslo", "oslo", AMK_SS_OVERLOADED));
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.service_state"),
                        "overloaded");

    /* Another centre's session is fenced, naming the centre and its epoch. */
    H_EXPECT(h, AMK_ESTALE_EPOCH,
             h_set_state(h, "s-bergen", "oslo", AMK_SS_DOWN));
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 1);
    assert_string_equal(h_gs(h, AMK_OBJ_CENTRE, "oslo", "$.service_state"),
                        "overloaded");

    /* A bridge may not; an unknown or closed session is unauthenticated. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_SET_STATE, AMK_ROLE_BRIDGE, "b-oslo");
    c.u.centre_set_state.id = amk_str_c("oslo");
    c.u.centre_set_state.state = AMK_SS_DOWN;
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
    H_EXPECT(h, AMK_EUNAUTHENTICATED,
             h_set_state(h, "ghost", "oslo", AMK_SS_DOWN));
    h_cmd(&c, AMK_CMD_CENTRE_SET_STATE, AMK_ROLE_OPERATOR, NULL);
    c.u.centre_set_state.id = amk_str_c("oslo");
    c.u.centre_set_state.state = AMK_SS_DOWN;
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_apply(h, &c));
    /* Session before existence (docs: check order). */
    H_EXPECT(h, AMK_EUNAUTHENTICATED,
             h_set_state(h, "ghost", "nowhere", AMK_SS_DOWN));

    /* After a takeover of oslo, its old session is stale. */
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_EXPECT(h, AMK_ESTALE_EPOCH,
             h_set_state(h, "s-oslo", "oslo", AMK_SS_NORMAL));
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 2);

    H_OK(h, h_session_close(h, "s-oslo", "s-oslo"));
    H_EXPECT(h, AMK_EUNAUTHENTICATED,
             h_set_state(h, "s-oslo", "oslo", AMK_SS_NORMAL));
}

static void test_set_state_if_match(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_SET_STATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_set_state.id = amk_str_c("oslo");
    c.u.centre_set_state.state = AMK_SS_GOING_DOWN;
    c.h.if_match = 7;
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    assert_int_equal(h->r.version, 1);
    c.h.if_match = 1;
    H_OK(h, h_apply(h, &c));
}

/* --- sessions ------------------------------------------------------------ */

static void test_session_open(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_session(h, "s2", "oslo", AMK_ROLE_OPERATOR));
    assert_true(h->r.created);
    assert_string_equal(h_js(h, h->r.body, "$.centre"), "oslo");
    assert_int_equal(h_ji(h, h->r.body, "$.epoch"), 1);
    assert_int_equal(h_ji(h, h->r.body, "$.read_only"), 0);
    assert_int_equal(h_ji(h, h->r.body, "$.valid"), 1);
    assert_string_equal(h_js(h, h->r.event, "$.type"), "session.opened");

    H_OK(h, h_session(h, "obs", "oslo", AMK_ROLE_OBSERVER));
    assert_int_equal(h_ji(h, h->r.body, "$.read_only"), 1);

    struct amk_sm_session_info info;
    assert_int_equal(amk_sm_session_info(h->sm, "s2", &info), 0);
    assert_true(info.exists);
    assert_false(info.closed || info.read_only || info.stale);
    assert_string_equal(info.centre, "oslo");
    assert_int_equal(info.epoch, 1);
    assert_int_equal(info.centre_epoch, 1);
    assert_int_equal(amk_sm_session_info(h->sm, "ghost", &info), AMK_ENOTFOUND);

    H_EXPECT(h, AMK_ECONFLICT, h_session(h, "s2", "oslo", AMK_ROLE_OPERATOR));
    H_EXPECT(h, AMK_EINVALID, h_session(h, "s3", "nowhere", AMK_ROLE_OPERATOR));
    assert_non_null(strstr(h->r.message, "centre"));
    H_EXPECT(h, AMK_EINVALID,
             h_session(h, "bad id", "oslo", AMK_ROLE_OPERATOR));
    assert_non_null(strstr(h->r.message, "id"));
    assert_null(h_get(h, AMK_OBJ_SESSION, "s3"));
}

static void test_session_close(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* Another session may not close it; the session itself may. */
    H_EXPECT(h, AMK_EFORBIDDEN, h_session_close(h, "s-bergen", "s-oslo"));
    H_OK(h, h_session_close(h, "s-oslo", "s-oslo"));
    assert_true(h->r.applied);
    assert_non_null(h->r.event);
    assert_string_equal(h_js(h, h->r.body, "$.valid"), "0");
    assert_string_not_equal(h_gs(h, AMK_OBJ_SESSION, "s-oslo", "$.closed_at"),
                            "null");
    /* Closing again is accepted, not applied, with no event. */
    H_OK(h, h_session_close(h, NULL, "s-oslo"));
    assert_false(h->r.applied);
    assert_null(h->r.event);
    /* An admin may close any; unknown is NOT_FOUND. */
    H_OK(h, h_session_close(h, NULL, "s-bergen"));
    assert_true(h->r.applied);
    H_EXPECT(h, AMK_ENOTFOUND, h_session_close(h, NULL, "ghost"));

    struct amk_sm_session_info info;
    assert_int_equal(amk_sm_session_info(h->sm, "s-oslo", &info), 0);
    assert_true(info.closed);
    /* A closed session may not write. */
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_incident(h, "i1", "s-oslo"));
}

#define BAD_REGISTER(i)                                                        \
    cmocka_unit_test_prestate_setup_teardown(                                  \
        test_register_invalid, h_fixture_setup, h_fixture_teardown,            \
        (void *)&bad_registers[i])

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_ok, h_fixture_setup,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_register_duplicate,
                                        h_fixture_setup, h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_register_forbidden,
                                        h_fixture_setup, h_fixture_teardown),
        BAD_REGISTER(0),
        BAD_REGISTER(1),
        BAD_REGISTER(2),
        BAD_REGISTER(3),
        BAD_REGISTER(4),
        BAD_REGISTER(5),
        BAD_REGISTER(6),
        BAD_REGISTER(7),
        BAD_REGISTER(8),
        BAD_REGISTER(9),
        BAD_REGISTER(10),
        cmocka_unit_test_setup_teardown(test_update_ok, h_fixture_setup,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_update_if_match, h_fixture_setup,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_update_rejections, h_fixture_setup,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_set_state_admin, h_fixture_setup,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_set_state_session, h_fixture_setup,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_set_state_if_match,
                                        h_fixture_setup, h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_session_open, h_fixture_setup,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_session_close, h_fixture_setup,
                                        h_fixture_teardown),
    };
    _Static_assert(sizeof bad_registers / sizeof bad_registers[0] == 11,
                   "register every bad_registers row");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
