/* sm/json.c: the state machine's JSON writer (see json.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void sm_json_add_grow(struct sm_json *o, const char *s, size_t n)
{
    if (o->failed) {
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap == 0 ? 1024 : o->cap;
        while (cap < o->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(o->ptr, cap);
        if (p == NULL) {
            o->failed = true;
            return;
        }
        o->ptr = p;
        o->cap = cap;
    }
    memcpy(o->ptr + o->len, s, n);
    o->len += n;
    o->ptr[o->len] = '\0';
}

void sm_json_lit(struct sm_json *o, const char *s)
{
    sm_json_add(o, s, strlen(s));
}

void sm_json_str(struct sm_json *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sm_json_add(o, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        sm_json_add(o, s + run, i - run);
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
            case '"':
            case '\\':
                esc[1] = (char)c;
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            default:
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                len = 6;
        }
        sm_json_add(o, esc, len);
        run = i + 1;
    }
    sm_json_add(o, s + run, n - run);
    sm_json_add(o, "\"", 1);
}

void sm_json_key(struct sm_json *o, bool *first, const char *name)
{
    if (!*first) {
        sm_json_add(o, ",", 1);
    }
    *first = false;
    sm_json_add(o, "\"", 1);
    sm_json_lit(o, name); /* keys are literals of sm/: nothing to escape */
    sm_json_add(o, "\":", 2);
}

void sm_json_int(struct sm_json *o, int64_t v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    sm_json_add(o, p, (size_t)(buf + sizeof buf - p));
}

/* 10^0 .. 10^18, each exact in a double. */
static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,
                               1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13,
                               1e14, 1e15, 1e16, 1e17, 1e18};

/* "%.15g" for 1e-4 <= |v| < 1e15 without printf (a tenth of its cost; a
 * position report renders five reals), or 0 when the case is not one it
 * can prove equal, and the caller uses printf.
 *
 * With x = floor(log10|v|), the 15 significant digits are |v| * 10^(14-x)
 * rounded to an integer N. The product p is computed in double: 10^(14-x)
 * is exact (0 <= 14-x <= 18) and p < 1e15 < 2^53, so |p - exact| <= half
 * an ulp <= 1/16. When p is within 0.4 of N, the exact product is within
 * 0.4625 of N, so N is the correctly rounded digit string glibc prints.
 * Otherwise (a value near a rounding tie, or x misjudged at a power of
 * ten) it falls back. tests/unit/sm/test_json.c checks it against printf. */
static size_t real_fast(char *buf, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15)) {
        return 0;
    }
    int x = 14;
    while (x > -4 && a * POW10[4] < POW10[x + 4]) {
        x--;
    }
    double p = a * POW10[14 - x];
    double n = nearbyint(p);
    if (fabs(p - n) >= 0.4 || n < 1e14 || n >= 1e15) {
        return 0;
    }
    char d[15];
    uint64_t u = (uint64_t)n;
    for (int i = 14; i >= 0; i--) {
        d[i] = (char)('0' + u % 10);
        u /= 10;
    }
    int last = 14; /* the last digit kept: trailing zeros of the fraction go */
    while (last > (x >= 0 ? x : -1) && d[last] == '0') {
        last--;
    }
    size_t len = 0;
    if (v < 0) {
        buf[len++] = '-';
    }
    if (x >= 0) {
        for (int i = 0; i <= x; i++) {
            buf[len++] = d[i];
        }
        if (last > x) {
            buf[len++] = '.';
            for (int i = x + 1; i <= last; i++) {
                buf[len++] = d[i];
            }
        }
    } else {
        buf[len++] = '0';
        buf[len++] = '.';
        for (int i = x + 1; i < 0; i++) {
            buf[len++] = '0';
        }
        for (int i = 0; i <= last; i++) {
            buf[len++] = d[i];
        }
    }
    return len;
}

void sm_json_real(struct sm_json *o, double v)
{
    if (!isfinite(v)) {
        sm_json_lit(o, "null");
        return;
    }
    char buf[40];
    size_t n = real_fast(buf, v);
    if (n == 0) {
        n = (size_t)snprintf(buf, sizeof buf, "%.15g", v);
    }
    sm_json_add(o, buf, n);
}

static void digits(char *p, unsigned v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days): pure arithmetic, unlike gmtime_r, which takes glibc's
 * timezone lock on every call. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void sm_json_time(struct sm_json *o, int64_t ms)
{
    int64_t secs = ms / 1000;
    int64_t millis = ms % 1000;
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999) {
        sm_json_lit(o, "null");
        return;
    }
    char buf[26] = "\"0000-00-00T00:00:00.000Z\"";
    digits(buf + 1, (unsigned)year, 4);
    digits(buf + 6, month, 2);
    digits(buf + 9, day, 2);
    digits(buf + 12, (unsigned)(rem / 3600), 2);
    digits(buf + 15, (unsigned)(rem / 60 % 60), 2);
    digits(buf + 18, (unsigned)(rem % 60), 2);
    digits(buf + 21, (unsigned)millis, 3);
    sm_json_add(o, buf, sizeof buf);
}
