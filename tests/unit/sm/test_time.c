/* tests/unit/sm/test_time.c: leader time never runs backwards in the state
 * machine, also across a snapshot restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"

/* The leader time audited for index i. */
static const char *at(struct h_ctx *h, uint64_t i)
{
    const char *entry = h_audit_at(h, i);
    assert_non_null(entry);
    return h_js(h, entry, "$.at");
}

/* A command stamped before the last applied one takes the last one's time. */
static void test_clock_never_runs_backwards(void **state)
{
    (void)state;
    struct h_ctx h;
    h_open(&h);
    h.now_ms = 1795000000000LL;
    assert_int_equal(h_centre(&h, "oslo", NULL), AMK_OK);
    assert_string_equal(at(&h, 1), "2026-11-18T11:06:40.000Z");
    /* A new leader whose clock is an hour behind. */
    h.now_ms = 1795000000000LL - 3600 * 1000;
    assert_int_equal(h_centre(&h, "bergen", NULL), AMK_OK);
    assert_string_equal(at(&h, 2), "2026-11-18T11:06:40.000Z");
    assert_non_null(strstr(h.r.event, "\"at\":\"2026-11-18T11:06:40.000Z\""));
    /* Time moves on once the clock passes the last time again. */
    h.now_ms = 1795000000000LL + 5000;
    assert_int_equal(h_centre(&h, "trondheim", NULL), AMK_OK);
    assert_string_equal(at(&h, 3), "2026-11-18T11:06:45.000Z");
    h_close(&h);
}

/* The clamp survives a snapshot: a restored node agrees with its peers. */
static void test_clamp_after_restore(void **state)
{
    (void)state;
    struct h_ctx a, b;
    h_open(&a);
    h_open(&b);
    a.now_ms = b.now_ms = 1795000000000LL;
    assert_int_equal(h_centre(&a, "oslo", NULL), AMK_OK);
    void *snap;
    size_t len;
    assert_int_equal(amk_sm_snapshot(a.sm, &snap, &len), AMK_OK);
    assert_int_equal(amk_sm_restore(b.sm, snap, len), AMK_OK);
    amk_sm_snapshot_free(snap, len);
    b.index = a.index;
    a.now_ms = b.now_ms = 1795000000000LL - 60000; /* behind */
    assert_int_equal(h_centre(&a, "bergen", NULL), AMK_OK);
    assert_int_equal(h_centre(&b, "bergen", NULL), AMK_OK);
    assert_string_equal(at(&a, 2), at(&b, 2));
    assert_string_equal(at(&b, 2), "2026-11-18T11:06:40.000Z");
    h_close(&a);
    h_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_never_runs_backwards),
        cmocka_unit_test(test_clamp_after_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
