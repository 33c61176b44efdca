/* tests/unit/sm/test_logs.c: the in-memory logs of sm/logs.c on their own:
 * rings that grow while wrapped, the idempotency table through growth and
 * purges, audit pages, and the snapshot form (round trip and refusals).
 * The apply pipeline's use of them is covered by test_events_audit,
 * test_idempotency and test_snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm/error.h"
#include "sm/logs.h"

static void add_event(struct sm_logs *l, uint64_t idx)
{
    char body[32];
    int n = snprintf(body, sizeof body, "{\"index\":%llu}",
                     (unsigned long long)idx);
    struct sm_staged st = {.event = sm_event_make(l, idx, body, (size_t)n)};
    assert_non_null(st.event);
    assert_int_equal(sm_logs_reserve(l, &st), AMK_OK);
    sm_logs_publish(l, &st);
}

static void add_idem(struct sm_logs *l, uint64_t idx, int64_t at,
                     const char *principal, const char *key, const char *body)
{
    const char *f[SM_IDEM_FIELDS] = {principal, key, "msg", "oslo",
                                     body != NULL ? body : ""};
    size_t n[SM_IDEM_FIELDS];
    for (int i = 0; i < SM_IDEM_FIELDS; i++) {
        n[i] = strlen(f[i]);
    }
    struct sm_staged st = {
        .idem = sm_idem_make(
            l, idx, at, 3, 7, 0,
            SM_IDEM_APPLIED | (body != NULL ? SM_IDEM_HAS_BODY : 0), f, n),
    };
    assert_non_null(st.idem);
    assert_int_equal(sm_logs_reserve(l, &st), AMK_OK);
    sm_logs_publish(l, &st);
}

/* An audit entry staged and reserved; published unless `fail` (then
 * given back, as when the command's commit fails). */
static void stage_audit(struct sm_logs *l, uint64_t idx, const char *object,
                        const char *actor, bool fail)
{
    const char *f[SM_AUDIT_FIELDS] = {
        "incident.note", actor, "operator", "oslo", "c1", "s1",
        object,          "ok",  "",         "key"};
    size_t n[SM_AUDIT_FIELDS];
    for (int i = 0; i < SM_AUDIT_FIELDS; i++) {
        n[i] = strlen(f[i]);
    }
    struct sm_staged st = {
        .audit = sm_audit_make(l, idx, 1000 + (int64_t)idx, 2, f, n)};
    assert_non_null(st.audit);
    assert_int_equal(sm_logs_reserve(l, &st), AMK_OK);
    if (fail) {
        sm_staged_free(l, &st);
    } else {
        sm_logs_publish(l, &st);
    }
}

static void add_audit(struct sm_logs *l, uint64_t idx, const char *object,
                      const char *actor)
{
    stage_audit(l, idx, object, actor, false);
}

static void expect_events(const struct sm_logs *l, uint64_t first,
                          uint64_t last)
{
    assert_int_equal(l->events.n, last - first + 1);
    for (uint64_t i = first; i <= last; i++) {
        const struct sm_event *e = sm_event_at(l, (size_t)(i - first));
        assert_non_null(e);
        assert_int_equal(e->idx, i);
        char body[32];
        snprintf(body, sizeof body, "{\"index\":%llu}", (unsigned long long)i);
        assert_string_equal(e->body, body);
        assert_int_equal(sm_events_after(l, i - 1), i - first);
    }
    assert_int_equal(sm_events_after(l, last), l->events.n);
    assert_null(sm_event_at(l, l->events.n));
}

/* Purges move the ring's head; growth after that keeps the order. */
static void test_ring_grows_while_wrapped(void **state)
{
    (void)state;
    struct sm_logs l;
    sm_logs_init(&l);
    for (uint64_t i = 1; i <= 64; i++) {
        add_event(&l, i);
    }
    sm_logs_purge(&l, 10, 0, 0);
    assert_int_equal(l.events_purged, 54);
    expect_events(&l, 55, 64);
    for (uint64_t i = 65; i <= 300; i++) { /* wraps, then grows */
        add_event(&l, i);
    }
    expect_events(&l, 55, 300);
    sm_logs_purge(&l, 0, 0, 0);
    assert_int_equal(l.events.n, 0);
    assert_int_equal(l.events_purged, 300);
    assert_int_equal(sm_events_after(&l, 0), 0);
    sm_logs_free(&l);
}

/* Keys are found by (principal, key), through table growth, and go in
 * time order at the purge. */
static void test_idem_table(void **state)
{
    (void)state;
    struct sm_logs l;
    sm_logs_init(&l);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        add_idem(&l, (uint64_t)i + 1, i, i % 2 ? "alice" : "bob", key,
                 i % 3 ? "{}" : NULL);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        const char *who = i % 2 ? "alice" : "bob";
        const struct sm_idem *r =
            sm_idem_find(&l, who, strlen(who), key, strlen(key));
        assert_non_null(r);
        assert_int_equal(r->idx, (uint64_t)i + 1);
        assert_int_equal((r->flags & SM_IDEM_HAS_BODY) != 0, i % 3 != 0);
        /* The same key of the other principal is another key. */
        const char *other = i % 2 ? "bob" : "alice";
        assert_null(sm_idem_find(&l, other, strlen(other), key, strlen(key)));
    }
    /* A prefix is not a match (lengths are compared). */
    assert_null(sm_idem_find(&l, "alic", 4, "k1", 2));
    assert_null(sm_idem_find(&l, "alice", 5, "k", 1));
    sm_logs_purge(&l, 100, 0, 500); /* at < 500 goes */
    assert_int_equal(l.idem.n, 500);
    assert_null(sm_idem_find(&l, "alice", 5, "k499", 4));
    assert_non_null(sm_idem_find(&l, "bob", 3, "k500", 4));
    sm_logs_free(&l);
}

static char *audit_page(const struct sm_logs *l, const char *object,
                        const char *actor, uint64_t since, unsigned limit,
                        bool *more, uint64_t *last)
{
    struct sm_json o = {0};
    sm_audit_page(l, object, actor, since, limit, &o, more, last);
    sm_json_add(&o, "", 0);
    assert_false(o.failed);
    return o.ptr != NULL ? o.ptr : strdup("");
}

static void test_audit_pages(void **state)
{
    (void)state;
    struct sm_logs l;
    sm_logs_init(&l);
    for (uint64_t i = 1; i <= 30; i++) {
        add_audit(&l, i * 2, i % 3 == 0 ? "i1" : "i2",
                  i % 2 == 0 ? "nurse" : "doctor");
    }
    bool more;
    uint64_t last;
    char *page = audit_page(&l, "i1", "nurse", 0, 100, &more, &last);
    /* i1 and nurse: i % 6 == 0: indexes 12, 24, 36, 48, 60. */
    assert_false(more);
    assert_int_equal(last, 60);
    assert_non_null(strstr(page, "\"index\":12,"));
    assert_null(strstr(page, "\"index\":6,"));
    free(page);
    page = audit_page(&l, NULL, "doctor", 40, 2, &more, &last);
    assert_true(more);
    assert_int_equal(last, 46);
    assert_non_null(strstr(page, "\"index\":42,\"at\":"));
    assert_non_null(strstr(page, "\"actor\":\"doctor\""));
    assert_non_null(strstr(page, "\"epoch\":2,\"object\":\"i2\""));
    free(page);
    page = audit_page(&l, "nothing", NULL, 0, 10, &more, &last);
    assert_string_equal(page, "");
    assert_false(more);
    free(page);
    sm_logs_free(&l);
}

static uint8_t *encode(const struct sm_logs *l, int64_t t, size_t *len)
{
    *len = sm_logs_size(l);
    uint8_t *buf = malloc(*len + 1);
    buf[*len] = 0xa5; /* canary: encode writes exactly sm_logs_size() */
    sm_logs_encode(l, t, buf);
    assert_int_equal(buf[*len], 0xa5);
    return buf;
}

static void fill(struct sm_logs *l)
{
    sm_logs_init(l);
    for (uint64_t i = 1; i <= 20; i++) {
        add_event(l, i * 3);
        add_audit(l, i * 3, "obj", "who");
        char key[16];
        snprintf(key, sizeof key, "k%llu", (unsigned long long)i);
        add_idem(l, i * 3, (int64_t)i * 10, "p", key,
                 i % 2 ? "{\"a\":1}" : NULL);
    }
    sm_logs_purge(l, 15, 0, 50);
}

/* Every page of object/actor (NULL: any) from since, two entries at a
 * time, concatenated. */
static char *all_pages(const struct sm_logs *l, const char *object,
                       const char *actor, uint64_t since)
{
    struct sm_json all = {0};
    bool more = true;
    uint64_t last = since;
    for (int guard = 0; more && guard < 1000; guard++) {
        char *page = audit_page(l, object, actor, last, 2, &more, &last);
        sm_json_lit(&all, page);
        sm_json_lit(&all, "|");
        free(page);
    }
    assert_false(more);
    return all.ptr != NULL ? all.ptr : strdup("");
}

/* The i-th audit entry kept (the ring is sm/logs.c's). */
static const struct sm_audit *ring_at_audit(const struct sm_logs *l, size_t i)
{
    return l->audit.slot[(l->audit.head + i) & (l->audit.cap - 1)];
}

/* Keeping the newest N audit entries: the pages by object and by actor
 * stay right through purges and later appends, a key whose entries are all
 * gone is dropped, and the positions the keys hold survive the ring moving
 * on (compared with a log built from the kept entries only). */
static void test_audit_purge(void **state)
{
    (void)state;
    static const char *const objects[] = {"i1", "i2", "i3"};
    static const char *const actors[] = {"nurse", "doctor"};
    struct sm_logs l;
    sm_logs_init(&l);
    uint64_t idx = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++) {
            idx += 1 + (uint64_t)(i % 3); /* indexes with gaps */
            /* i3 only in the first round: purged away entirely later. */
            const char *object =
                round > 0 && i % 3 == 2 ? "i1" : objects[i % 3];
            add_audit(&l, idx, object, actors[(i / 3) % 2]);
        }
        sm_logs_purge(&l, 1000, 25, 0);
        assert_int_equal(l.audit.n, 25);
    }
    assert_true(l.audit_purged > 0);
    /* The same 25 entries in a log that never purged. */
    struct sm_logs ref;
    sm_logs_init(&ref);
    for (size_t i = 0; i < l.audit.n; i++) {
        const struct sm_audit *a = ring_at_audit(&l, i);
        add_audit(&ref, a->idx, sm_audit_field(a, SM_AUDIT_OBJECT),
                  sm_audit_field(a, SM_AUDIT_ACTOR));
    }
    const char *const filters[][2] = {
        {NULL, NULL},    {"i1", NULL},     {"i2", NULL},    {"i3", NULL},
        {NULL, "nurse"}, {NULL, "doctor"}, {"i1", "nurse"}, {"i2", "doctor"},
    };
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++) {
        char *got = all_pages(&l, filters[f][0], filters[f][1], 0);
        char *want = all_pages(&ref, filters[f][0], filters[f][1], 0);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    char *none = all_pages(&l, "i3", NULL, 0);
    assert_string_equal(none, "|");
    free(none);
    /* i3's key is gone with its last entry; the reference never had it. */
    assert_int_equal(l.audit_by_object.n, ref.audit_by_object.n);
    assert_int_equal(l.audit_by_object.n, 2);
    /* A command that reserved new keys and then failed leaves none. */
    stage_audit(&l, idx + 1, "i9", "porter", true);
    assert_int_equal(l.audit_by_object.n, 2);
    assert_int_equal(l.audit_by_actor.n, 2);
    assert_int_equal(l.audit.n, 25);
    /* The snapshot form keeps what was kept, and where the purge was. */
    size_t len;
    uint8_t *buf = encode(&l, 1, &len);
    struct sm_logs back;
    int64_t t;
    char err[256];
    assert_int_equal(sm_logs_decode(&back, buf, len, &t, err, sizeof err),
                     AMK_OK);
    assert_int_equal(back.audit_purged, l.audit_purged);
    char *a = all_pages(&l, NULL, "nurse", 0);
    char *b = all_pages(&back, NULL, "nurse", 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(buf);
    sm_logs_free(&back);
    sm_logs_free(&ref);
    sm_logs_free(&l);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct sm_logs a, b;
    fill(&a);
    size_t len;
    uint8_t *buf = encode(&a, 777, &len);
    char err[256];
    int64_t t = 0;
    assert_int_equal(sm_logs_decode(&b, buf, len, &t, err, sizeof err), AMK_OK);
    assert_int_equal(t, 777);
    assert_int_equal(b.events_purged, a.events_purged);
    assert_int_equal(sm_logs_size(&b), len);
    size_t len2;
    uint8_t *buf2 = encode(&b, 777, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(buf, buf2, len);
    assert_non_null(sm_idem_find(&b, "p", 1, "k7", 2));
    assert_null(sm_idem_find(&b, "p", 1, "k4", 2)); /* purged: at 40 < 50 */
    free(buf2);
    /* Every cut is refused, with nothing left allocated (ASan). */
    for (size_t cut = 0; cut < len; cut++) {
        struct sm_logs c;
        assert_int_equal(sm_logs_decode(&c, buf, cut, &t, err, sizeof err),
                         AMK_EINVALID);
        assert_non_null(strstr(err, "snapshot logs"));
        assert_int_equal(c.events.n + c.audit.n + c.idem.n, 0);
    }
    sm_logs_free(&a);
    sm_logs_free(&b);
    free(buf);
}

/* Records that no writer produces are refused. */
static void test_decode_refuses(void **state)
{
    (void)state;
    struct sm_logs a, c;
    char err[256];
    int64_t t;
    /* Idempotency records out of time order. */
    sm_logs_init(&a);
    add_idem(&a, 1, 50, "p", "k1", NULL);
    add_idem(&a, 2, 40, "p", "k2", NULL);
    size_t len;
    uint8_t *buf = encode(&a, 0, &len);
    assert_int_equal(sm_logs_decode(&c, buf, len, &t, err, sizeof err),
                     AMK_EINVALID);
    assert_non_null(strstr(err, "idempotency record 1"));
    free(buf);
    sm_logs_free(&a);
    /* The same key twice. */
    sm_logs_init(&a);
    add_idem(&a, 1, 50, "p", "k1", NULL);
    add_idem(&a, 2, 50, "p", "k1", NULL);
    buf = encode(&a, 0, &len);
    assert_int_equal(sm_logs_decode(&c, buf, len, &t, err, sizeof err),
                     AMK_EINVALID);
    assert_non_null(strstr(err, "repeated"));
    free(buf);
    sm_logs_free(&a);
    /* Audit indexes out of order; an audit text missing a field. */
    sm_logs_init(&a);
    add_audit(&a, 5, "o", "w");
    add_audit(&a, 4, "o", "w");
    buf = encode(&a, 0, &len);
    assert_int_equal(sm_logs_decode(&c, buf, len, &t, err, sizeof err),
                     AMK_EINVALID);
    assert_non_null(strstr(err, "audit entry 1"));
    free(buf);
    sm_logs_free(&a);
    sm_logs_init(&a);
    add_audit(&a, 5, "o", "w");
    buf = encode(&a, 0, &len);
    /* The audit text's last NUL, before the idempotency count (8 bytes),
     * made a letter: one field short. */
    assert_int_equal(buf[len - 9], 0);
    buf[len - 9] = 'x';
    assert_int_equal(sm_logs_decode(&c, buf, len, &t, err, sizeof err),
                     AMK_EINVALID);
    free(buf);
    sm_logs_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_grows_while_wrapped),
        cmocka_unit_test(test_idem_table),
        cmocka_unit_test(test_audit_pages),
        cmocka_unit_test(test_audit_purge),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decode_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
