/* tests/unit/sm/test_events_audit.c: the event log, the audit log and the
 * list queries (sm/sm.c, sm/query.c): one event per changing command, paging
 * with since/next, compaction, one audit entry per command whatever became
 * of it, and filtered, paged lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

/* A fixture whose state machine runs with cfg's retention. */
static int setup_cfg(void **state, const struct amk_sm_config *cfg)
{
    struct h_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    h_open_cfg(&f->h, cfg);
    h_world(&f->h);
    *state = f;
    return 0;
}

/* At least 10 newest events kept. */
static int setup_short_retention(void **state)
{
    struct amk_sm_config cfg;
    amk_sm_config_default(&cfg);
    cfg.events_retained = 10;
    return setup_cfg(state, &cfg);
}

/* At least 10 newest audit entries kept (and the default 100,000 events). */
static int setup_short_audit(void **state)
{
    struct amk_sm_config cfg;
    amk_sm_config_default(&cfg);
    cfg.audit_retained = 10;
    return setup_cfg(state, &cfg);
}

/* amk_sm_events as JSON kept by h (asserts success). */
static const char *events(struct h_ctx *h, uint64_t since, unsigned limit)
{
    char *json;
    int rv = amk_sm_events(h->sm, since, limit, &json);
    if (rv != 0) {
        fail_msg("events since %llu: %s", (unsigned long long)since,
                 amk_sm_errmsg(h->sm));
    }
    return h_keep(h, json);
}

/* The event at exactly `index`, or NULL. */
static const char *event_at(struct h_ctx *h, uint64_t index)
{
    const char *json = events(h, index - 1, 1);
    const char *ev = h_js(h, json, "$.events[0]");
    if (strcmp(ev, "null") == 0 || h_ji(h, ev, "$.index") != (int64_t)index) {
        return NULL;
    }
    return ev;
}

/* --- Events -------------------------------------------------------------- */

static void test_one_event_per_change(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* The world's ten commands each made one event, numbered by index. */
    const char *all = events(h, 0, 0);
    assert_int_equal(h_jlen(h, all, "$.events"), 10);
    for (int i = 0; i < 10; i++) {
        char path[64];
        snprintf(path, sizeof path, "$.events[%d].index", i);
        assert_int_equal(h_ji(h, all, path), i + 1);
    }
    assert_string_equal(h_js(h, all, "$.events[0].type"), "centre.registered");
    assert_string_equal(h_js(h, all, "$.events[3].type"), "session.opened");
    assert_string_equal(h_js(h, all, "$.events[9].changes[0].id"), "bergen-1");
    assert_string_not_equal(h_js(h, all, "$.events[0].at"), "null");

#define EXPECT_EVENT(expect_code, has_event, expr)                             \
    do {                                                                       \
        H_EXPECT(h, expect_code, expr);                                        \
        const char *ev = event_at(h, h->index);                                \
        if (has_event) {                                                       \
            assert_non_null(ev);                                               \
            assert_non_null(h->r.event);                                       \
            assert_string_equal(ev, h->r.event);                               \
            assert_string_equal(h_js(h, ev, "$.changes[0].data"), h->r.body);  \
        } else {                                                               \
            assert_null(ev);                                                   \
            assert_null(h->r.event);                                           \
        }                                                                      \
    } while (0)
    EXPECT_EVENT(AMK_OK, true, h_incident(h, "i1", "s-oslo"));
    EXPECT_EVENT(AMK_ECONFLICT, false, h_incident(h, "i1", "s-oslo"));
    EXPECT_EVENT(AMK_ESTALE_EPOCH, false, h_note(h, "s-bergen", "i1", "x"));
    EXPECT_EVENT(AMK_EUNAUTHENTICATED, false, h_note(h, "ghost", "i1", "x"));
    EXPECT_EVENT(AMK_OK, true, h_note(h, "s-oslo", "i1", "x"));
    EXPECT_EVENT(AMK_OK, true,
                 h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, 2));
    /* Accepted but not applied: no event. */
    EXPECT_EVENT(AMK_OK, false,
                 h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, 2));
    EXPECT_EVENT(AMK_OK, true, h_session_close(h, NULL, "s-trd"));
    EXPECT_EVENT(AMK_OK, false, h_session_close(h, NULL, "s-trd"));
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_NOOP, AMK_ROLE_SYSTEM, NULL);
    EXPECT_EVENT(AMK_OK, false, h_apply(h, &c));
    assert_false(h->r.applied);
    /* A takeover is one event with many changes. */
    EXPECT_EVENT(AMK_OK, true, h_takeover(h, "oslo", "bergen", false));
    assert_int_equal(h_jlen(h, h->r.event, "$.changes"), 4);
    EXPECT_EVENT(AMK_EINVALID, false, h_takeover(h, "oslo", "oslo", false));
#undef EXPECT_EVENT
}

static void test_since_limit_next(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* Gaps: rejected commands have no event. */
    H_OK(h, h_incident(h, "i1", "s-oslo"));                    /* 11 */
    H_EXPECT(h, AMK_ECONFLICT, h_incident(h, "i1", "s-oslo")); /* 12 */
    H_OK(h, h_note(h, "s-oslo", "i1", "a"));                   /* 13 */
    H_EXPECT(h, AMK_EINVALID, h_note(h, "s-oslo", "i1", ""));  /* 14 */
    H_OK(h, h_note(h, "s-oslo", "i1", "b"));                   /* 15 */

    const char *page = events(h, 9, 2);
    assert_int_equal(h_jlen(h, page, "$.events"), 2);
    assert_int_equal(h_ji(h, page, "$.events[0].index"), 10);
    assert_int_equal(h_ji(h, page, "$.events[1].index"), 11);
    assert_int_equal(h_ji(h, page, "$.next"), 11);
    page = events(h, 11, 2);
    assert_int_equal(h_ji(h, page, "$.events[0].index"), 13);
    assert_int_equal(h_ji(h, page, "$.events[1].index"), 15);
    assert_int_equal(h_ji(h, page, "$.next"), 15);
    page = events(h, 15, 2);
    assert_int_equal(h_jlen(h, page, "$.events"), 0);
    assert_int_equal(h_ji(h, page, "$.next"), 15);
    /* Nothing newer: next is the applied index, even past a rejection. */
    H_EXPECT(h, AMK_EINVALID, h_note(h, "s-oslo", "i1", "")); /* 16 */
    page = events(h, 15, 2);
    assert_int_equal(h_jlen(h, page, "$.events"), 0);
    assert_int_equal(h_ji(h, page, "$.next"), 16);
    /* since beyond the applied index: next stays there. */
    page = events(h, 50, 0);
    assert_int_equal(h_jlen(h, page, "$.events"), 0);
    assert_int_equal(h_ji(h, page, "$.next"), 50);
    /* Following next from 0 visits every event once, in order. */
    uint64_t since = 0, last = 0;
    int seen = 0;
    for (;;) {
        page = events(h, since, 3);
        int64_t n = h_jlen(h, page, "$.events");
        if (n == 0) {
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            char path[64];
            snprintf(path, sizeof path, "$.events[%lld].index", (long long)i);
            uint64_t idx = (uint64_t)h_ji(h, page, path);
            assert_true(idx > last);
            last = idx;
            seen++;
        }
        since = (uint64_t)h_ji(h, page, "$.next");
    }
    assert_int_equal(seen, 13);
    /* Limit defaults to 100 and is capped at 1000. */
    while (h->index < 1200) {
        H_OK(h, h_filler(h));
    }
    assert_int_equal(h_jlen(h, events(h, 0, 0), "$.events"), 100);
    assert_int_equal(h_jlen(h, events(h, 0, 5000), "$.events"), 1000);
    /* 13 events up to 16, then one per index from 17: the 1000th. */
    assert_int_equal(h_ji(h, events(h, 0, 5000), "$.next"), 1003);
}

static void test_compacted(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    while (h->index < 1023) {
        H_OK(h, h_filler(h));
    }
    /* Not purged before index 1024. */
    assert_int_equal(h_jlen(h, events(h, 0, 1000), "$.events"), 1000);
    H_OK(h, h_filler(h)); /* 1024: purge keeps the 10 newest */
    char *json = NULL;
    assert_int_equal(amk_sm_events(h->sm, 0, 0, &json), AMK_ECOMPACTED);
    assert_null(json);
    assert_int_equal(amk_sm_events(h->sm, 1013, 0, &json), AMK_ECOMPACTED);
    const char *kept = events(h, 1014, 0);
    assert_int_equal(h_jlen(h, kept, "$.events"), 10);
    assert_int_equal(h_ji(h, kept, "$.events[0].index"), 1015);
    /* Objects are untouched by compaction. */
    assert_int_equal(h_gi(h, AMK_OBJ_RESOURCE, "oslo-2", "$.version"),
                     1 + 1024 - 10);
    /* Later events keep coming. */
    H_OK(h, h_filler(h));
    assert_int_equal(h_jlen(h, events(h, 1014, 0), "$.events"), 11);
}

/* amk_sm_audit as JSON kept by h (asserts success). */
static const char *audit(struct h_ctx *h, struct amk_sm *sm, const char *object,
                         uint64_t since)
{
    char *json;
    assert_int_equal(amk_sm_audit(sm, object, NULL, since, 1000, &json), 0);
    return h_keep(h, json);
}

/* With a retention, the oldest audit entries go at the housekeeping every
 * 1,024 indexes; a `since` before what is kept answers COMPACTED, no
 * `since` (0) reads from the oldest kept; a restored state answers the
 * same. */
static void test_audit_compacted(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    while (h->index < 1023) {
        H_OK(h, h_filler(h));
    }
    assert_int_equal(h_jlen(h, audit(h, h->sm, NULL, 0), "$.items"), 1000);
    H_OK(h, h_filler(h)); /* 1024: purge keeps the 10 newest */
    char *json = NULL;
    assert_int_equal(amk_sm_audit(h->sm, NULL, NULL, 1, 0, &json),
                     AMK_ECOMPACTED);
    assert_null(json);
    assert_non_null(strstr(amk_sm_errmsg(h->sm), "1014"));
    assert_int_equal(amk_sm_audit(h->sm, NULL, NULL, 1013, 0, &json),
                     AMK_ECOMPACTED);
    const char *kept = audit(h, h->sm, NULL, 0);
    assert_int_equal(h_jlen(h, kept, "$.items"), 10);
    assert_int_equal(h_ji(h, kept, "$.items[0].index"), 1015);
    assert_string_equal(audit(h, h->sm, NULL, 1014), kept);
    assert_string_equal(audit(h, h->sm, "oslo-2", 0), kept);
    /* Objects and events are untouched. */
    assert_int_equal(h_jlen(h, events(h, 1014, 0), "$.events"), 10);

    void *snap;
    size_t len;
    assert_int_equal(amk_sm_snapshot(h->sm, &snap, &len), 0);
    struct amk_sm_config cfg;
    amk_sm_config_default(&cfg);
    cfg.audit_retained = 10;
    struct h_ctx other = {0};
    h_open_cfg(&other, &cfg);
    assert_int_equal(amk_sm_restore(other.sm, snap, len), 0);
    amk_sm_snapshot_free(snap, len);
    assert_string_equal(audit(h, other.sm, NULL, 0), kept);
    assert_string_equal(audit(h, other.sm, "oslo-2", 0), kept);
    assert_string_equal(audit(h, other.sm, "oslo-2", 1020),
                        audit(h, h->sm, "oslo-2", 1020));
    assert_int_equal(amk_sm_audit(other.sm, NULL, NULL, 1013, 0, &json),
                     AMK_ECOMPACTED);
    h_close(&other);
    /* Later entries keep coming, and the next purge keeps 10 again. */
    while (h->index < 2048) {
        H_OK(h, h_filler(h));
    }
    kept = audit(h, h->sm, NULL, 0);
    assert_int_equal(h_jlen(h, kept, "$.items"), 10);
    assert_int_equal(h_ji(h, kept, "$.items[0].index"), 2039);
}

/* The sm sees only raft's command entries: configuration changes and
 * barriers leave gaps in its indexes, and a replay or an undecodable entry
 * may sit on a multiple of 1,024. Housekeeping still runs once every 1,024
 * indexes. */
static void apply_at(struct h_ctx *h, uint64_t index)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_POSITION, AMK_ROLE_ADMIN, NULL);
    c.u.resource_position.id = amk_str_c("oslo-2");
    c.u.resource_position.lat = 60;
    c.u.resource_position.lon = 10;
    c.u.resource_position.seq = (int64_t)index;
    h->index = index - 1;
    H_OK(h, h_apply(h, &c));
}

static void test_compacted_across_gaps(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    while (h->index < 1023) {
        H_OK(h, h_filler(h));
    }
    apply_at(h, 1025); /* 1024 was a configuration entry */
    char *json = NULL;
    assert_int_equal(amk_sm_events(h->sm, 0, 0, &json), AMK_ECOMPACTED);
    assert_int_equal(h_jlen(h, events(h, 1014, 0), "$.events"), 10);

    /* A replay on the period's boundary. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_CREATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_create.id = amk_str_c("i1");
    c.u.incident_create.urgency = AMK_URG_ACUTE;
    c.h.idem_key = amk_str_c("k");
    H_OK(h, h_apply(h, &c));
    while (h->index < 2047) {
        H_OK(h, h_filler(h));
    }
    H_OK(h, h_apply(h, &c)); /* 2048 */
    assert_true(h->r.replayed);
    /* The replay made no event: 2038..2047 are the 10 newest. */
    assert_int_equal(amk_sm_events(h->sm, 2036, 0, &json), AMK_ECOMPACTED);
    assert_int_equal(h_jlen(h, events(h, 2037, 0), "$.events"), 10);
}

/* --- Audit --------------------------------------------------------------- */

/* Checks the audit entry of the last command. */
static void expect_audit(struct h_ctx *h, const char *action,
                         const char *outcome, const char *object)
{
    const char *a = h_audit_at(h, h->index);
    if (a == NULL) {
        fail_msg("no audit entry at %llu", (unsigned long long)h->index);
    }
    assert_string_equal(h_js(h, a, "$.action"), action);
    assert_string_equal(h_js(h, a, "$.outcome"), outcome);
    if (object != NULL) {
        assert_string_equal(h_js(h, a, "$.object"), object);
    }
    assert_string_not_equal(h_js(h, a, "$.at"), "null");
}

static void test_audit_every_command(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* The world's commands, each audited ok. */
    for (uint64_t i = 1; i <= h->index; i++) {
        const char *a = h_audit_at(h, i);
        assert_non_null(a);
        assert_string_equal(h_js(h, a, "$.outcome"), "ok");
    }
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    expect_audit(h, "incident.create", "ok", "i1");
    const char *a = h_audit_at(h, h->index);
    assert_string_equal(h_js(h, a, "$.actor"), "op");
    assert_string_equal(h_js(h, a, "$.role"), "operator");
    assert_string_equal(h_js(h, a, "$.centre"), "oslo");
    assert_string_equal(h_js(h, a, "$.console"), "console-1");
    assert_string_equal(h_js(h, a, "$.session"), "s-oslo");
    assert_int_equal(h_ji(h, a, "$.epoch"), 1);
    assert_string_equal(h_js(h, a, "$.reason"), "");

    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-bergen", "i1", "x"));
    expect_audit(h, "incident.note", "STALE_EPOCH", "i1");
    a = h_audit_at(h, h->index);
    assert_string_equal(h_js(h, a, "$.centre"), "bergen");
    assert_string_equal(h_js(h, a, "$.reason"), h->r.message);
    /* Only admins register centres. */
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_REGISTER, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.centre_register.id = amk_str_c("y");
    c.u.centre_register.name = amk_str_c("y");
    c.u.centre_register.region = amk_str_c("y");
    H_EXPECT(h, AMK_EFORBIDDEN, h_apply(h, &c));
    expect_audit(h, "centre.register", "FORBIDDEN", "y");
    h_cmd(&c, AMK_CMD_CENTRE_UPDATE, AMK_ROLE_ADMIN, NULL);
    c.u.centre_update.id = amk_str_c("oslo");
    c.h.if_match = 42;
    H_EXPECT(h, AMK_EVERSION_MISMATCH, h_apply(h, &c));
    expect_audit(h, "centre.update", "VERSION_MISMATCH", "oslo");
    H_EXPECT(h, AMK_ENOTFOUND, h_note(h, "s-oslo", "nope", "x"));
    expect_audit(h, "incident.note", "NOT_FOUND", "nope");
    H_EXPECT(h, AMK_EUNAUTHENTICATED, h_note(h, "ghost", "i1", "x"));
    expect_audit(h, "incident.note", "UNAUTHENTICATED", "i1");
    a = h_audit_at(h, h->index);
    assert_string_equal(h_js(h, a, "$.session"), "ghost");
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, 1));
    H_OK(h, h_report(h, "b-oslo", "oslo-1", AMK_RS_AVAILABLE_MOBILE, 1));
    expect_audit(h, "resource.status", "ok", "oslo-1");
    h_cmd(&c, AMK_CMD_NOOP, AMK_ROLE_SYSTEM, NULL);
    H_OK(h, h_apply(h, &c));
    expect_audit(h, "noop", "ok", "");
    assert_string_equal(h_js(h, h_audit_at(h, h->index), "$.role"), "system");

    /* Replayed. */
    h_cmd(&c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_note.id = amk_str_c("i1");
    c.u.incident_note.text = amk_str_c("once");
    c.h.idem_key = amk_str_c("k");
    H_OK(h, h_apply(h, &c));
    expect_audit(h, "incident.note", "ok", "i1");
    H_OK(h, h_apply(h, &c));
    expect_audit(h, "incident.note", "replayed", NULL);
    assert_string_equal(h_js(h, h_audit_at(h, h->index), "$.idempotency_key"),
                        "k");

    /* Undecodable: garbage, a bad header, a truncated command. */
    static const unsigned char garbage[] = "not a command at all";
    H_EXPECT(h, AMK_EINVALID, h_apply_raw(h, garbage, sizeof garbage));
    expect_audit(h, "undecodable", "INVALID", "");
    assert_null(h->r.event);
    H_EXPECT(h, AMK_EINVALID, h_apply_raw(h, "", 0));
    expect_audit(h, "undecodable", "INVALID", "");
    void *buf;
    size_t len;
    char errmsg[256];
    h_cmd(&c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_note.id = amk_str_c("i1");
    c.u.incident_note.text = amk_str_c("cut short");
    assert_int_equal(amk_cmd_encode(&c, &buf, &len, errmsg), 0);
    H_EXPECT(h, AMK_EINVALID, h_apply_raw(h, buf, len - 3));
    expect_audit(h, "incident.note", "INVALID", "");
    ((unsigned char *)buf)[1] = 0xee; /* unknown type */
    H_EXPECT(h, AMK_EINVALID, h_apply_raw(h, buf, len));
    expect_audit(h, "undecodable", "INVALID", "");
    free(buf);
    unsigned char *big = calloc(1, AMK_CMD_MAX_SIZE + 1);
    assert_non_null(big);
    H_EXPECT(h, AMK_ETOOLARGE, h_apply_raw(h, big, AMK_CMD_MAX_SIZE + 1));
    expect_audit(h, "undecodable", "TOO_LARGE", "");
    free(big);
    /* The note never landed. */
    assert_int_equal(h_jlen(h, h_get(h, AMK_OBJ_INCIDENT, "i1"), "$.notes"), 1);

    /* Exactly one entry per index, none missing. */
    char *json;
    assert_int_equal(amk_sm_audit(h->sm, NULL, NULL, 0, 1000, &json), 0);
    assert_int_equal(h_jlen(h, json, "$.items"), h->index);
    for (uint64_t i = 0; i < h->index; i++) {
        char path[64];
        snprintf(path, sizeof path, "$.items[%llu].index",
                 (unsigned long long)i);
        assert_int_equal(h_ji(h, json, path), i + 1);
    }
    free(json);
}

static void test_audit_filters(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_incident(h, "i1", "s-oslo"));
    H_OK(h, h_note(h, "s-oslo", "i1", "a"));
    H_EXPECT(h, AMK_ESTALE_EPOCH, h_note(h, "s-bergen", "i1", "b"));
    H_OK(h, h_incident(h, "i2", "s-oslo"));
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_note.id = amk_str_c("i1");
    c.u.incident_note.text = amk_str_c("by nurse 2");
    c.h.principal = amk_str_c("nurse-2");
    H_OK(h, h_apply(h, &c));

    char *json;
    assert_int_equal(amk_sm_audit(h->sm, "i1", NULL, 0, 0, &json), 0);
    assert_int_equal(h_jlen(h, json, "$.items"), 4);
    assert_string_equal(h_js(h, json, "$.items[2].outcome"), "STALE_EPOCH");
    assert_string_equal(h_js(h, json, "$.next"), "null");
    free(json);
    assert_int_equal(amk_sm_audit(h->sm, NULL, "nurse-2", 0, 0, &json), 0);
    assert_int_equal(h_jlen(h, json, "$.items"), 1);
    assert_string_equal(h_js(h, json, "$.items[0].object"), "i1");
    free(json);
    assert_int_equal(amk_sm_audit(h->sm, "i1", "op", 0, 0, &json), 0);
    assert_int_equal(h_jlen(h, json, "$.items"), 3);
    free(json);
    assert_int_equal(amk_sm_audit(h->sm, NULL, "admin", 0, 0, &json), 0);
    assert_int_equal(h_jlen(h, json, "$.items"), 3 + 3); /* centres, res */
    free(json);
    /* Pages: next is the last index; since continues. */
    assert_int_equal(amk_sm_audit(h->sm, "i1", NULL, 0, 3, &json), 0);
    assert_int_equal(h_jlen(h, json, "$.items"), 3);
    uint64_t next = (uint64_t)strtoull(h_js(h, json, "$.next"), NULL, 10);
    assert_int_equal(next, h_ji(h, json, "$.items[2].index"));
    free(json);
    assert_int_equal(amk_sm_audit(h->sm, "i1", NULL, next, 3, &json), 0);
    assert_int_equal(h_jlen(h, json, "$.items"), 1);
    assert_string_equal(h_js(h, json, "$.items[0].actor"), "nurse-2");
    assert_string_equal(h_js(h, json, "$.next"), "null");
    free(json);
}

/* --- Lists --------------------------------------------------------------- */

static const char *list(struct h_ctx *h, enum amk_sm_object kind,
                        const struct amk_sm_filter *f)
{
    char *json;
    int rv = amk_sm_list(h->sm, kind, f, &json);
    if (rv != 0) {
        fail_msg("list: %s", amk_sm_errmsg(h->sm));
    }
    return h_keep(h, json);
}

/* The ids of a page, comma separated. */
static const char *ids(struct h_ctx *h, const char *page)
{
    const char *out = h_jquery(
        h,
        "SELECT coalesce(group_concat(json_extract(value, '$.id'), ','), '')"
        " FROM json_each(?1, '$.items')",
        page);
    return out != NULL ? out : "";
}

static void test_list_incidents(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    /* Created out of id order; listed in creation order. */
    H_OK(h, h_incident(h, "i5", "s-oslo"));
    H_OK(h, h_incident(h, "i1", "s-bergen"));
    H_OK(h, h_incident(h, "i4", "s-oslo"));
    H_OK(h, h_incident(h, "i2", "s-oslo"));
    H_OK(h, h_incident(h, "i3", "s-oslo"));
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s-oslo");
    c.u.incident_update.id = amk_str_c("i4");
    c.u.incident_update.urgency = AMK_URG_NORMAL;
    H_OK(h, h_apply(h, &c));
    H_OK(h, h_close_incident(h, "s-oslo", "i2", AMK_DISP_ADVICE_GIVEN));
    H_OK(h, h_cancel(h, "s-oslo", "i3"));
    H_OK(h, h_move(h, "s-oslo", "i5", AMK_INC_TRIAGED));

    struct {
        const char *owner, *status, *urgency;
        const char *expect;
    } cases[] = {
        {NULL, NULL, NULL, "i5,i1,i4"},
        {"", "", "", "i5,i1,i4"},
        {NULL, "open", NULL, "i5,i1,i4"},
        {NULL, "all", NULL, "i5,i1,i4,i2,i3"},
        {NULL, "closed", NULL, "i2"},
        {NULL, "cancelled", NULL, "i3"},
        {NULL, "new", NULL, "i1,i4"},
        {NULL, "triaged", NULL, "i5"},
        {NULL, "dispatched", NULL, ""},
        {"oslo", NULL, NULL, "i5,i4"},
        {"oslo", "all", NULL, "i5,i4,i2,i3"},
        {"bergen", NULL, NULL, "i1"},
        {"nowhere", NULL, NULL, ""},
        {NULL, NULL, "acute", "i5,i1"},
        {NULL, NULL, "normal", "i4"},
        {"oslo", "all", "acute", "i5,i2,i3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct amk_sm_filter f = {.owner = cases[i].owner,
                                  .status = cases[i].status,
                                  .urgency = cases[i].urgency};
        const char *page = list(h, AMK_OBJ_INCIDENT, &f);
        if (strcmp(ids(h, page), cases[i].expect) != 0) {
            fail_msg("case %zu: got '%s', expected '%s'", i, ids(h, page),
                     cases[i].expect);
        }
        assert_string_equal(h_js(h, page, "$.next"), "null");
    }
    /* Paging with cursors. */
    struct amk_sm_filter f = {.status = "all", .limit = 2};
    const char *page = list(h, AMK_OBJ_INCIDENT, &f);
    assert_string_equal(ids(h, page), "i5,i1");
    char after[64];
    snprintf(after, sizeof after, "%s", h_js(h, page, "$.next"));
    f.after = after;
    page = list(h, AMK_OBJ_INCIDENT, &f);
    assert_string_equal(ids(h, page), "i4,i2");
    snprintf(after, sizeof after, "%s", h_js(h, page, "$.next"));
    page = list(h, AMK_OBJ_INCIDENT, &f);
    assert_string_equal(ids(h, page), "i3");
    assert_string_equal(h_js(h, page, "$.next"), "null");
    /* Bad filters: INVALID naming the field, no answer. */
    const struct amk_sm_filter bad[] = {
        {.status = "opened"}, {.status = "CLOSED"}, {.urgency = "high"},
        {.after = "abc"},     {.after = "-1"},
    };
    const char *field[] = {"status", "status", "urgency", "after", "after"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *json = NULL;
        assert_int_equal(amk_sm_list(h->sm, AMK_OBJ_INCIDENT, &bad[i], &json),
                         AMK_EINVALID);
        assert_null(json);
        assert_non_null(strstr(amk_sm_errmsg(h->sm), field[i]));
    }
}

static void test_list_resources_and_centres(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    H_OK(h, h_resource(h, "a-first", 7001, "trondheim"));
    H_OK(h, h_report(h, NULL, "oslo-2", AMK_RS_OUT_OF_SERVICE, 1));
    const char *page = list(h, AMK_OBJ_RESOURCE, NULL);
    assert_string_equal(ids(h, page), "a-first,bergen-1,oslo-1,oslo-2");
    struct amk_sm_filter f = {.centre = "oslo"};
    assert_string_equal(ids(h, list(h, AMK_OBJ_RESOURCE, &f)), "oslo-1,oslo-2");
    f = (struct amk_sm_filter){.status = "out_of_service"};
    assert_string_equal(ids(h, list(h, AMK_OBJ_RESOURCE, &f)), "oslo-2");
    f = (struct amk_sm_filter){.status = "available_station"};
    assert_string_equal(ids(h, list(h, AMK_OBJ_RESOURCE, &f)),
                        "a-first,bergen-1,oslo-1");
    /* The controlling centre, not the home one. */
    H_OK(h, h_takeover(h, "oslo", "bergen", false));
    f = (struct amk_sm_filter){.centre = "bergen"};
    assert_string_equal(ids(h, list(h, AMK_OBJ_RESOURCE, &f)),
                        "bergen-1,oslo-1,oslo-2");
    f = (struct amk_sm_filter){.limit = 3};
    page = list(h, AMK_OBJ_RESOURCE, &f);
    assert_string_equal(ids(h, page), "a-first,bergen-1,oslo-1");
    assert_string_equal(h_js(h, page, "$.next"), "oslo-1");
    f.after = "oslo-1";
    page = list(h, AMK_OBJ_RESOURCE, &f);
    assert_string_equal(ids(h, page), "oslo-2");
    assert_string_equal(h_js(h, page, "$.next"), "null");
    f = (struct amk_sm_filter){.status = "parked"};
    char *json = NULL;
    assert_int_equal(amk_sm_list(h->sm, AMK_OBJ_RESOURCE, &f, &json),
                     AMK_EINVALID);
    assert_null(json);

    /* Centres by id, paged. */
    f = (struct amk_sm_filter){.limit = 2};
    page = list(h, AMK_OBJ_CENTRE, &f);
    assert_string_equal(ids(h, page), "bergen,oslo");
    f.after = h_js(h, page, "$.next");
    page = list(h, AMK_OBJ_CENTRE, &f);
    assert_string_equal(ids(h, page), "trondheim");
    assert_string_equal(h_js(h, page, "$.next"), "null");
    assert_string_equal(h_js(h, page, "$.items[0].controlled_by"), "trondheim");
    /* Sessions likewise. */
    f = (struct amk_sm_filter){.limit = 0};
    assert_string_equal(ids(h, list(h, AMK_OBJ_SESSION, &f)),
                        "b-oslo,s-bergen,s-oslo,s-trd");
}

/* --- Apply ordering ------------------------------------------------------ */

static void test_index_must_increase(void **state)
{
    struct h_ctx *h = h_fixture_ctx(state);
    size_t len0;
    void *before = h_image(h, &len0);
    assert_int_equal(amk_sm_applied_index(h->sm), h->index);
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_REGISTER, AMK_ROLE_ADMIN, NULL);
    c.u.centre_register.id = amk_str_c("late");
    c.u.centre_register.name = amk_str_c("late");
    c.u.centre_register.region = amk_str_c("x");
    void *buf;
    size_t len;
    char errmsg[256];
    assert_int_equal(amk_cmd_encode(&c, &buf, &len, errmsg), 0);
    uint64_t bad[] = {h->index, h->index - 1, 1, 0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct amk_sm_result r;
        assert_int_equal(amk_sm_apply(h->sm, bad[i], buf, len, &r),
                         AMK_EINTERNAL);
        assert_int_equal(r.code, AMK_EINTERNAL);
        assert_null(r.body);
        assert_null(r.event);
        amk_sm_result_clear(&r);
        assert_non_null(strstr(amk_sm_errmsg(h->sm), "index"));
    }
    assert_int_equal(amk_sm_applied_index(h->sm), h->index);
    size_t len1;
    void *after = h_image(h, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    assert_null(h_get(h, AMK_OBJ_CENTRE, "late"));
    /* The next index still works; gaps are fine. */
    struct amk_sm_result r;
    assert_int_equal(amk_sm_apply(h->sm, h->index + 5, buf, len, &r), 0);
    assert_int_equal(r.code, AMK_OK);
    assert_int_equal(r.index, h->index + 5);
    amk_sm_result_clear(&r);
    assert_int_equal(amk_sm_applied_index(h->sm), h->index + 5);
    free(buf);
    free(before);
    free(after);
}

#define T(f)                                                                   \
    cmocka_unit_test_setup_teardown(f, h_fixture_setup, h_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_one_event_per_change),
        T(test_since_limit_next),
        cmocka_unit_test_setup_teardown(test_compacted, setup_short_retention,
                                        h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_compacted_across_gaps,
                                        setup_short_retention,
                                        h_fixture_teardown),
        T(test_audit_every_command),
        cmocka_unit_test_setup_teardown(test_audit_compacted, setup_short_audit,
                                        h_fixture_teardown),
        T(test_audit_filters),
        T(test_list_incidents),
        T(test_list_resources_and_centres),
        T(test_index_must_increase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
