/* tests/unit/server/test_access_log.c: which requests the access log
 * records, the start-time check of its path, and a failing write (counted,
 * reported once per run of failures, never fatal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/access_log.h"

static struct amk_http_access access_of(const char *method, const char *target)
{
    struct amk_http_access a = {
        .method = method,
        .method_len = strlen(method),
        .target = target,
        .target_len = strlen(target),
        .status = 200,
        .index = 7,
    };
    return a;
}

static void test_wants(void **state)
{
    (void)state;
    static const struct {
        const char *method, *target, *route;
        bool wanted;
    } cases[] = {
        {"GET", "/v1/incidents", "/v1/incidents", true},
        {"GET", "/v1/incidents?owner=oslo", "/v1/incidents", true},
        {"GET", "/v1/incidents/i-1", "/v1/incidents/{id}", true},
        {"HEAD", "/v1/incidents/i-1", NULL, true},
        {"GET", "/v1/events?since=0", "/v1/events", true},
        {"GET", "/v1/audit?object=i-1", "/v1/audit", true},
        /* Spelled otherwise, matched by the router after decoding. */
        {"GET", "/v1/%69ncidents/i-1", "/v1/incidents/{id}", true},
        {"GET", "/%761/audit?object=i-1", "/v1/audit", true},
        {"GET", "/v1/%65vents?since=0", "/v1/events", true},
        /* No route matched (404): by the target. */
        {"GET", "/v1/incidents/i-1/nothing", NULL, true},
        {"POST", "/v1/incidents", "/v1/incidents", false},
        {"PATCH", "/v1/incidents/i-1", "/v1/incidents/{id}", false},
        {"GET", "/v1/incidentsX", NULL, false},
        {"GET", "/v1/centres/oslo", "/v1/centres/{id}", false},
        {"GET", "/v1/resources", "/v1/resources", false},
        {"GET", "/healthz", "/healthz", false},
        {"GET", "/metrics", "/metrics", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct amk_http_access a = access_of(cases[i].method, cases[i].target);
        a.route = cases[i].route;
        if (amk_access_log_wants(&a) != cases[i].wanted) {
            fail_msg("%s %s: want %d", cases[i].method, cases[i].target,
                     cases[i].wanted);
        }
    }
}

/* A fresh directory and the path of an access log in it. */
struct temp {
    char dir[32];
    char path[64];
};

static struct temp temp_new(void)
{
    struct temp t = {.dir = "/tmp/amk-access-XXXXXX"};
    assert_non_null(mkdtemp(t.dir));
    snprintf(t.path, sizeof t.path, "%s/access.log", t.dir);
    return t;
}

static void test_check(void **state)
{
    (void)state;
    char errmsg[256];
    struct temp t = temp_new();
    const char *path = t.path;
    const char *flag = "--access-log";

    assert_int_equal(amk_access_log_check("off", flag, errmsg), 0);
    /* A file to be created in a writable directory: nothing is created. */
    assert_int_equal(amk_access_log_check(path, flag, errmsg), 0);
    assert_int_equal(access(path, F_OK), -1);
    /* A missing directory is named, after what named the path. */
    assert_int_equal(
        amk_access_log_check("/nonexistent-amk/dir/access.log", flag, errmsg),
        -1);
    assert_non_null(strstr(errmsg, "--access-log"));
    assert_non_null(strstr(errmsg, "/nonexistent-amk/dir"));
    /* Not a regular file: a directory (open would fail), a FIFO (open
     * would block). Refused by the check and by open. */
    struct amk_access_log log;
    assert_int_equal(amk_access_log_check(t.dir, flag, errmsg), -1);
    assert_non_null(strstr(errmsg, "not a regular file"));
    assert_int_equal(amk_access_log_open(&log, t.dir, flag, 1, NULL, errmsg),
                     -1);
    assert_int_equal(log.fd, -1);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(amk_access_log_check(path, flag, errmsg), -1);
    assert_non_null(strstr(errmsg, "not a regular file"));
    assert_int_equal(amk_access_log_open(&log, path, flag, 1, NULL, errmsg),
                     -1);
    assert_int_equal(log.fd, -1);
    unlink(path);
    rmdir(t.dir);
}

static void test_record_and_fail(void **state)
{
    (void)state;
    char errmsg[256];
    struct temp t = temp_new();
    const char *path = t.path;
    struct amk_access_log log;
    assert_int_equal(
        amk_access_log_open(&log, path, "--access-log", 3, NULL, errmsg), 0);

    bool warn;
    /* Bytes outside printable ASCII are percent-encoded. */
    struct amk_http_access a = access_of("GET", "/v1/incidents/\xc3\xa6\x01");
    amk_access_log_record(&log, &a, &warn);
    assert_false(warn);
    a = access_of("GET", "/v1/centres");
    amk_access_log_record(&log, &a, &warn); /* not recorded */
    assert_int_equal(log.lines, 1);
    /* A session header that is not UTF-8 still makes a line. */
    a = access_of("GET", "/v1/incidents/i-1");
    a.session = "s\xff";
    amk_access_log_record(&log, &a, &warn);
    assert_false(warn);
    assert_int_equal(log.lines, 2);
    assert_int_equal(log.errors, 0);

    char text[512] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    char second[512] = "";
    assert_non_null(fgets(second, sizeof second, f));
    assert_null(fgets(second + strlen(second), 16, f)); /* two lines */
    fclose(f);
    assert_non_null(strstr(second, "\"session\":\"s%FF\""));
    assert_non_null(strstr(text, "\"target\":\"/v1/incidents/%C3%A6%01\""));
    assert_non_null(strstr(text, "\"node\":3"));
    assert_non_null(strstr(text, "\"index\":7"));
    assert_non_null(strstr(text, "\"session\":null"));
    assert_non_null(strstr(text, "\"peer\":\"\"")); /* no request */
    assert_int_equal(text[strlen(text) - 1], '\n');

    /* Writes that fail (injected: a descriptor open for reading only) are
     * counted and reported once until one succeeds again. */
    int good = log.fd;
    log.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(log.fd >= 0);
    a = access_of("GET", "/v1/incidents");
    amk_access_log_record(&log, &a, &warn);
    assert_true(warn);
    amk_access_log_record(&log, &a, &warn);
    assert_false(warn);
    assert_int_equal(log.errors, 2);
    close(log.fd);
    log.fd = good;
    amk_access_log_record(&log, &a, &warn);
    assert_false(warn);
    assert_int_equal(log.lines, 3);
    log.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    amk_access_log_record(&log, &a, &warn);
    assert_true(warn); /* a new run of failures */
    close(log.fd);
    log.fd = good;

    amk_access_log_close(&log);
    assert_int_equal(log.fd, -1);
    unlink(path);
    rmdir(t.dir);
}

static void test_off(void **state)
{
    (void)state;
    char errmsg[256];
    struct amk_access_log log;
    assert_int_equal(
        amk_access_log_open(&log, "off", "--access-log", 1, NULL, errmsg), 0);
    assert_int_equal(log.fd, -1);
    bool warn;
    struct amk_http_access a = access_of("GET", "/v1/incidents");
    amk_access_log_record(&log, &a, &warn);
    assert_int_equal(log.lines, 0);
    assert_int_equal(log.errors, 0);
    amk_access_log_close(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wants),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_record_and_fail),
        cmocka_unit_test(test_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
