/* tests/unit/sm/test_json.c: the state machine's JSON writer: escaping,
 * integers, reals, and times against glibc's gmtime_r. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sm/json.h"

static char *take(struct sm_json *o)
{
    assert_false(o->failed);
    return o->ptr;
}

static void test_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"plain", "\"plain\""},
        {"quote \" and \\ backslash", "\"quote \\\" and \\\\ backslash\""},
        {"line\nfeed\ttab\rcr", "\"line\\nfeed\\ttab\\rcr\""},
        {"\b\f", "\"\\b\\f\""},
        {"\x01\x1f", "\"\\u0001\\u001f\""},
        {"Ålesund Tromsø", "\"Ålesund Tromsø\""},
        {"", "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sm_json o = {0};
        sm_json_str(&o, cases[i].in, strlen(cases[i].in));
        char *s = take(&o);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
}

static void test_int_real_key(void **state)
{
    (void)state;
    struct sm_json o = {0};
    bool first = true;
    sm_json_lit(&o, "{");
    sm_json_key(&o, &first, "a");
    sm_json_int(&o, 0);
    sm_json_key(&o, &first, "b");
    sm_json_int(&o, -42);
    sm_json_key(&o, &first, "c");
    sm_json_int(&o, INT64_MIN);
    sm_json_key(&o, &first, "d");
    sm_json_real(&o, 59.91);
    sm_json_key(&o, &first, "e");
    sm_json_real(&o, 1.0 / 0.0);
    sm_json_lit(&o, "}");
    char *s = take(&o);
    assert_string_equal(s, "{\"a\":0,\"b\":-42,\"c\":-9223372036854775808,"
                           "\"d\":59.91,\"e\":null}");
    free(s);
}

static void test_time_edges(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *out;
    } cases[] = {
        {0, "\"1970-01-01T00:00:00.000Z\""},
        {-1, "\"1969-12-31T23:59:59.999Z\""},
        {951782400000LL, "\"2000-02-29T00:00:00.000Z\""},
        {1795000000123LL, "\"2026-11-18T11:06:40.123Z\""},
        {253402300799999LL, "\"9999-12-31T23:59:59.999Z\""},
        {253402300800000LL, "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sm_json o = {0};
        sm_json_time(&o, cases[i].ms);
        char *s = take(&o);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
}

/* The arithmetic date conversion agrees with gmtime_r everywhere. */
static void test_time_matches_gmtime(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ms = (int64_t)(x % 253402300799999ULL);
        struct sm_json o = {0};
        sm_json_time(&o, ms);
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        assert_non_null(gmtime_r(&secs, &tm));
        char want[80];
        snprintf(want, sizeof want, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        char *s = take(&o);
        assert_string_equal(s, want);
        free(s);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t next_u64(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void expect_printf(double v)
{
    char want[64];
    snprintf(want, sizeof want, "%.15g", v);
    if (!isfinite(v)) {
        snprintf(want, sizeof want, "null");
    }
    struct sm_json o = {0};
    sm_json_real(&o, v);
    char *s = take(&o);
    if (strcmp(s, want) != 0) {
        fail_msg("%.17g: wrote %s, printf %s", v, s, want);
    }
    free(s);
}

/* sm_json_real writes most values without printf: it must write exactly
 * what "%.15g" does, for the values sm renders (coordinates, speeds,
 * accuracies, headings with a few decimals) and for any double. */
static void test_real_matches_printf(void **state)
{
    (void)state;
    static const double fixed[] = {
        0,
        -0.0,
        1e-5,
        1e-4,
        0.0001,
        0.001,
        0.1,
        0.5,
        1,
        9.5,
        10,
        22.5,
        59.91,
        -59.91,
        10.7123,
        359.99,
        1e14,
        1e15,
        1e16,
        123456789012345.0,
        0.3,
        2.0 / 3,
        1.0 / 3,
        99999999999999.99,
        999999999999999.9,
        0.00099999999999999999,
        0.099999999999999999,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        expect_printf(fixed[i]);
    }
    /* Values next to every power of ten in range, and ties. */
    for (int e = -6; e <= 16; e++) {
        double p = 1;
        for (int k = 0; k < (e < 0 ? -e : e); k++) {
            p = e < 0 ? p / 10 : p * 10;
        }
        expect_printf(p);
        expect_printf(nextafter(p, 0));
        expect_printf(nextafter(p, 1e300));
        expect_printf(-nextafter(p, 0));
        expect_printf(p * 1.5);
    }
    /* Decimal values with 0..9 places, as clients send them. */
    for (int i = 0; i < 200000; i++) {
        int places = (int)(next_u64() % 10);
        double scale = 1;
        for (int k = 0; k < places; k++) {
            scale *= 10;
        }
        int64_t units = (int64_t)(next_u64() % 4000000000ull) - 2000000000;
        expect_printf((double)units / scale);
    }
    /* Any double of any magnitude (by its bits), and uniform ones. */
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = next_u64();
        double v;
        memcpy(&v, &bits, sizeof v);
        expect_printf(v);
        expect_printf((double)(next_u64() >> 11) / (double)(1ull << 53) *
                      360.0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_int_real_key),
        cmocka_unit_test(test_time_edges),
        cmocka_unit_test(test_time_matches_gmtime),
        cmocka_unit_test(test_real_matches_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
