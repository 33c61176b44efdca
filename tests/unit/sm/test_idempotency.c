/* tests/unit/sm/test_idempotency.c: Idempotency-Key handling of the apply
 * pipeline (sm/sm.c): a repeated (principal, key) returns the first result,
 * rejections included, changes nothing, and keys expire with the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

/* Keys kept 10 s of leader time: h_apply advances 1 s per command. */
static int setup_short_window(void **state)
{
    struct h_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    struct amk_sm_config cfg;
    amk_sm_config_default(&cfg);
    cfg.idem_window_ms = 10 * 1000;
    h_open_cfg(&f->h, &cfg);
    h_world(&f->h);
    *state = f;
    return 0;
}

/* A note command on `id` by s-oslo with key `key` and principal. */
static void keyed_note(struct amk_cmd *c, const char *id, const char *text,
                       const char *key, const char *principal)
{
    h_cmd(c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, "s-oslo");
    c->u.incident_note.id = amk_str_c(id);
    c->u.incident_note.text = amk_str_c(text);
    c->h.idem_key = amk_str_c(key);
    c->h.principal = amk_str_c(principal);
}

static int count_events(struct h_ctx *h)
{
    char *json;
    assert_int_equal(amk_sm_events(h->sm, 0, 1000, &json), 0);
    int n = (int)h_jlen(h, json, "$.events");
    free(json);
    return n;
}

static void test_replay_returns_first_result(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_CREATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_create.id = amk_str_c("i1");
    c.u.incident_create.urgency = AMK_URG_ACUTE;
    c.h.idem_key = amk_str_c("k1");
    H_OK(h, h_apply(h, &c));
    uint64_t first_index = h->index;
    assert_false(h->r.replayed);
    char *first_body = h_dup(h->r.body);

    /* The world moves on: the incident changes. */
    H_OK(h, h_note(h, "s-oslo", "i1", "changed since"));
    const char *now = h_get(h, AMK_OBJ_INCIDENT, "i1");
    int events = count_events(h);

    /* The retry (even with another body) gets the first answer. */
    c.u.incident_create.urgency = AMK_URG_NORMAL;
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_true(h->r.created);
    assert_true(h->r.applied);
    assert_int_equal(h->r.index, h->index);
    assert_string_equal(h->r.body, first_body);
    assert_null(h->r.event);
    assert_int_equal(count_events(h), events);
    assert_string_equal(h_get(h, AMK_OBJ_INCIDENT, "i1"), now);
    /* Audited as a replay of the first index. */
    const char *a = h_audit_at(h, h->index);
    assert_non_null(a);
    assert_string_equal(h_js(h, a, "$.outcome"), "replayed");
    assert_string_equal(h_js(h, a, "$.idempotency_key"), "k1");
    char object[32];
    snprintf(object, sizeof object, "index:%llu",
             (unsigned long long)first_index);
    assert_string_equal(h_js(h, a, "$.object"), object);
    /* Again and again: still the first. */
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_string_equal(h->r.body, first_body);
    free(first_body);
}

static void test_replay_of_rejections(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    struct amk_cmd c;

    /* A CONFLICT stays a CONFLICT, message included, after the obstacle
     * is gone. */
    H_OK(h, h_incident(h, "i2", "s-oslo"));
    H_OK(h, h_assign(h, "s-oslo", "i2", "oslo-1"));
    h_cmd(&c, AMK_CMD_INCIDENT_ASSIGN, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_assign.id = amk_str_c("i1");
    c.u.incident_assign.resource = amk_str_c("oslo-1");
    c.h.idem_key = amk_str_c("assign-1");
    H_EXPECT(h, AMK_ECONFLICT, h_apply(h, &c));
    char message[256];
    snprintf(message, sizeof message, "%s", h->r.message);
    H_OK(h, h_unassign(h, "s-oslo", "i2", "oslo-1"));
    H_EXPECT(h, AMK_ECONFLICT, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_false(h->r.applied);
    assert_string_equal(h->r.message, message);
    assert_null(h->r.body);
    assert_null(h->r.event);
    assert_string_equal(h_gs(h, AMK_OBJ_RESOURCE, "oslo-1", "$.incident"),
                        "null");
    /* Audited with the first answer's code. */
    assert_string_equal(h_js(h, h_audit_at(h, h->index), "$.outcome"),
                        "CONFLICT");

    /* STALE_EPOCH keeps its owner and epoch. */
    h_cmd(&c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, "s-bergen");
    c.u.incident_note.id = amk_str_c("i1");
    c.u.incident_note.text = amk_str_c("x");
    c.h.idem_key = amk_str_c("stale-1");
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_apply(h, &c));
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_string_equal(h->r.owner, "oslo");
    assert_int_equal(h->r.epoch, 1);

    /* VERSION_MISMATCH keeps the version it named. */
    h_cmd(&c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, "s-bergen");
    c.u.incident_note.id = amk_str_c("i1");
    c.u.incident_note.text = amk_str_c("x");
    c.h.if_match = 1;
    c.h.idem_key = amk_str_c("ver-1");
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    uint64_t named = h->r.version;
    H_OK(h, h_note(h, "s-bergen", "i1", "bump"));
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_int_equal(h->r.version, named);

    /* A stale report replays as not applied. */
    H_OK(h, h_report(h, "b-oslo", "oslo-2", AMK_RS_AVAILABLE_MOBILE, 5));
    h_cmd(&c, AMK_CMD_RESOURCE_STATUS, AMK_ROLE_BRIDGE, "b-oslo");
    c.u.resource_status.id = amk_str_c("oslo-2");
    c.u.resource_status.status = AMK_RS_OUT_OF_SERVICE;
    c.u.resource_status.seq = 3;
    c.h.idem_key = amk_str_c("report-3");
    H_OK(h, h_apply(h, &c));
    assert_false(h->r.applied);
    char *body = h_dup(h->r.body);
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_false(h->r.applied);
    assert_string_equal(h->r.body, body);
    free(body);
}

static void test_keys_are_per_principal(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    struct amk_cmd c;
    keyed_note(&c, "i1", "from op", "same-key", "op");
    H_OK(h, h_apply(h, &c));
    assert_false(h->r.replayed);
    keyed_note(&c, "i1", "from op2", "same-key", "op2");
    H_OK(h, h_apply(h, &c));
    assert_false(h->r.replayed);
    assert_int_equal(h_jlen(h, h->r.body, "$.notes"), 2);
    keyed_note(&c, "i1", "from op again", "same-key", "op");
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_int_equal(h_jlen(h, h->r.body, "$.notes"), 1);
    keyed_note(&c, "i1", "from op2 again", "same-key", "op2");
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_int_equal(h_jlen(h, h->r.body, "$.notes"), 2);
    assert_int_equal(h_jlen(h, h_get(h, AMK_OBJ_INCIDENT, "i1"), "$.notes"), 2);
    /* An empty key means no idempotency. */
    keyed_note(&c, "i1", "unkeyed", "", "op");
    H_OK(h, h_apply(h, &c));
    H_OK(h, h_apply(h, &c));
    assert_false(h->r.replayed);
    assert_int_equal(h_jlen(h, h->r.body, "$.notes"), 4);
    /* The key is the request: another command under it replays the
     * first. */
    h_cmd(&c, AMK_CMD_INCIDENT_CANCEL, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_cancel.id = amk_str_c("i1");
    c.h.idem_key = amk_str_c("same-key");
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.replayed);
    assert_string_equal(h_gs(h, AMK_OBJ_INCIDENT, "i1", "$.status"), "new");
}

/* Keys live for the window and go at the purge every 1,024 indexes. */
static void test_keys_purged_after_window(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    struct amk_cmd c;
    keyed_note(&c, "i1", "old", "old-key", "op");
    H_OK(h, h_apply(h, &c));
    while (h->index < 1000) {
        H_OK(h, h_filler(h));
    }
    /* Older than the window but not purged yet: still replayed. */
    H_OK(h, h_apply(h, &c));
    assert_true(h->r.replayed);
    struct amk_cmd young;
    keyed_note(&young, "i1", "young", "young-key", "op");
    while (h->index < 1020) {
        H_OK(h, h_filler(h));
    }
    H_OK(h, h_apply(h, &young));
    assert_false(h->r.replayed);
    while (h->index < 1024) {
        H_OK(h, h_filler(h));
    }
    /* Purged at 1024: the old key runs anew, the young one replays. */
    H_OK(h, h_apply(h, &c));
    assert_false(h->r.replayed);
    assert_non_null(h->r.event);
    assert_string_equal(h_js(h, h->r.body, "$.notes[#-1].text"), "old");
    H_OK(h, h_apply(h, &young));
    assert_true(h->r.replayed);
}

#define T(f)                                                                   \
    cmocka_unit_test_setup_teardown(f, h_fixture_setup, h_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_replay_returns_first_result),
        T(test_replay_of_rejections),
        T(test_keys_are_per_principal),
        cmocka_unit_test_setup_teardown(test_keys_purged_after_window,
                                        setup_short_window, h_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
