/* tests/unit/sm/test_determinism.c: the same seeded random command stream
 * (tests/unit/sm/gen.h: every command type, valid and invalid) applied to
 * fresh state machines gives the same answers and byte-identical databases
 * (docs/state-machine.md "Determinism"), also across a snapshot and restore
 * taken midway. Diagnostics: AMK_GEN_STATS=1 prints each entry's command
 * and outcome to stderr; AMK_DUMP=1 writes differing images to
 * /tmp/amk_a.db and /tmp/amk_b.db. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gen.h"
#include "harness.h"

#define N_COMMANDS 3000

struct run {
    uint64_t seed;
    unsigned n_commands;
};

static const struct run runs[] = {
    {1, N_COMMANDS},
    {0xC0FFEE, N_COMMANDS},
    {20261118, N_COMMANDS},
};

/* Replicated settings small enough that the run purges keys, events and
 * audit entries. */
static void config(struct amk_sm_config *cfg)
{
    amk_sm_config_default(cfg);
    cfg->idem_window_ms = 5 * 60 * 1000;
    cfg->events_retained = 300;
    cfg->audit_retained = 700;
}

static void expect_same_result(const struct amk_sm_result *a,
                               const struct amk_sm_result *b, uint64_t index)
{
#define SAME_STR(x)                                                            \
    do {                                                                       \
        if ((a->x == NULL) != (b->x == NULL) ||                                \
            (a->x != NULL && strcmp(a->x, b->x) != 0)) {                       \
            fail_msg("index %llu: " #x " differs:\n%s\n%s",                    \
                     (unsigned long long)index, a->x ? a->x : "(null)",        \
                     b->x ? b->x : "(null)");                                  \
        }                                                                      \
    } while (0)
    if (a->code != b->code || a->applied != b->applied ||
        a->replayed != b->replayed || a->created != b->created ||
        a->epoch != b->epoch || a->version != b->version ||
        a->index != b->index || strcmp(a->message, b->message) != 0 ||
        strcmp(a->owner, b->owner) != 0) {
        fail_msg("index %llu: results differ: %s '%s' / %s '%s'",
                 (unsigned long long)index, amk_code_name(a->code), a->message,
                 amk_code_name(b->code), b->message);
    }
    SAME_STR(body);
    SAME_STR(event);
#undef SAME_STR
}

static void expect_same_image(struct h_ctx *a, struct h_ctx *b,
                              const char *what)
{
    size_t la, lb;
    void *ia = h_image(a, &la);
    void *ib = h_image(b, &lb);
    if (la != lb || memcmp(ia, ib, la) != 0) {
        size_t at = 0;
        while (at < la && at < lb &&
               ((unsigned char *)ia)[at] == ((unsigned char *)ib)[at]) {
            at++;
        }
        if (getenv("AMK_DUMP") != NULL) {
            FILE *f = fopen("/tmp/amk_a.db", "wb");
            fwrite(ia, 1, la, f);
            fclose(f);
            f = fopen("/tmp/amk_b.db", "wb");
            fwrite(ib, 1, lb, f);
            fclose(f);
        }
        fail_msg("%s: databases differ (%zu and %zu bytes, first at %zu)", what,
                 la, lb, at);
    }
    free(ia);
    free(ib);
    assert_int_equal(amk_sm_applied_index(a->sm), amk_sm_applied_index(b->sm));
}

/* Applies one entry to one sm at index. */
static void apply(struct h_ctx *h, uint64_t index, const void *buf, size_t len)
{
    amk_sm_result_clear(&h->r);
    int rv = amk_sm_apply(h->sm, index, buf, len, &h->r);
    if (rv != 0) {
        fail_msg("apply %llu: %s", (unsigned long long)index,
                 amk_sm_errmsg(h->sm));
    }
    h->index = index;
}

static void test_same_stream_same_bytes(void **state)
{
    const struct run *run = *state;
    struct amk_sm_config cfg;
    config(&cfg);
    struct h_ctx a, b, c;
    h_open_cfg(&a, &cfg);
    h_open_cfg(&b, &cfg);
    h_open_cfg(&c, &cfg);
    bool c_live = false;
    struct gen g;
    gen_init(&g, run->seed);
    unsigned counts[AMK_CODE__N] = {0};
    unsigned applied = 0;

    uint64_t index = 0;
    for (unsigned i = 1; i <= run->n_commands; i++) {
        /* Raft entries the sm never sees (configuration changes) leave
         * gaps. */
        index += gen_chance(&g, 2) ? 2 + gen_below(&g, 3) : 1;
        void *buf;
        size_t len;
        gen_next(&g, a.sm, &buf, &len);
        apply(&a, index, buf, len);
        apply(&b, index, buf, len);
        expect_same_result(&a.r, &b.r, index);
        if (c_live) {
            apply(&c, index, buf, len);
            expect_same_result(&a.r, &c.r, index);
        }
        if (getenv("AMK_GEN_STATS") != NULL) {
            uint64_t term;
            uint16_t type = 0;
            amk_cmd_peek(buf, len, &term, &type);
            const char *name = amk_cmd_name(type);
            fprintf(stderr, "STAT %s %s\n", name ? name : "raw",
                    amk_code_name(a.r.code));
        }
        free(buf);
        counts[a.r.code]++;
        applied += a.r.code == AMK_OK && a.r.applied && !a.r.replayed;

        if (i == run->n_commands / 2) {
            /* Midway: a snapshot of A restored into C, which follows. */
            void *snap;
            size_t snap_len;
            assert_int_equal(amk_sm_snapshot(a.sm, &snap, &snap_len), 0);
            assert_int_equal(amk_sm_restore(c.sm, snap, snap_len), 0);
            amk_sm_snapshot_free(snap, snap_len);
            c_live = true;
            expect_same_image(&a, &c, "restored");
        }
        if (i % (run->n_commands / 3) == 0) {
            char what[64];
            snprintf(what, sizeof what, "checkpoint %u", i);
            expect_same_image(&a, &b, what);
            const char *bad = h_check_invariants(&a);
            if (bad != NULL) {
                fail_msg("%s: %s", what, bad);
            }
        }
    }
    expect_same_image(&a, &b, "end");
    expect_same_image(&a, &c, "end, via snapshot");

    /* The stream is realistic: most commands do something, and every kind
     * of answer occurs. */
    print_message("seed %llu: %u applied;", (unsigned long long)run->seed,
                  applied);
    for (int code = 0; code < AMK_CODE__N; code++) {
        if (counts[code] > 0) {
            print_message(" %s %u", amk_code_name(code), counts[code]);
        }
    }
    print_message("\n");
    assert_true(applied > run->n_commands / 3);
    int must[] = {AMK_EINVALID,         AMK_EUNAUTHENTICATED, AMK_EFORBIDDEN,
                  AMK_ENOTFOUND,        AMK_ESTALE_EPOCH,     AMK_ECONFLICT,
                  AMK_EVERSION_MISMATCH};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        assert_true(counts[must[i]] > 0);
    }
    gen_free(&g);
    h_close(&a);
    h_close(&b);
    h_close(&c);
}

/* The generator itself is deterministic and covers every command type. */
static void test_generator_covers_all_types(void **state)
{
    (void)state;
    struct amk_sm_config cfg;
    config(&cfg);
    struct h_ctx a;
    h_open_cfg(&a, &cfg);
    struct gen g;
    gen_init(&g, 7);
    bool seen[AMK_CMD__END] = {false};
    unsigned raw = 0;
    for (unsigned i = 1; i <= 3000; i++) {
        void *buf;
        size_t len;
        gen_next(&g, a.sm, &buf, &len);
        uint64_t term;
        uint16_t type;
        struct amk_cmd cmd;
        char errmsg[256];
        if (amk_cmd_decode(buf, len, &cmd, errmsg) == 0 &&
            amk_cmd_peek(buf, len, &term, &type) == 0) {
            seen[type] = true;
        } else {
            raw++;
        }
        apply(&a, i, buf, len);
        free(buf);
    }
    for (uint16_t t = AMK_CMD_NOOP; t < AMK_CMD__END; t++) {
        if (!seen[t]) {
            fail_msg("the generator never made %s", amk_cmd_name(t));
        }
    }
    assert_true(raw > 0);
    gen_free(&g);
    h_close(&a);
}

#define RUN(i)                                                                 \
    cmocka_unit_test_prestate(test_same_stream_same_bytes, (void *)&runs[i])

int main(void)
{
    const struct CMUnitTest tests[] = {
        RUN(0),
        RUN(1),
        RUN(2),
        cmocka_unit_test(test_generator_covers_all_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
