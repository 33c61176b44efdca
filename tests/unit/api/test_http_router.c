/* tests/unit/api/test_http_router.c: route registration, path splitting and
 * percent-decoding, and matching (literal over parameter, 404 vs 405). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/http.h"

static int handler_a(struct amk_http_request *req)
{
    (void)req;
    return AMK_HTTP_DONE;
}

static int handler_b(struct amk_http_request *req)
{
    (void)req;
    return AMK_HTTP_DONE;
}

static struct amk_http_router *router_with_routes(void)
{
    static const struct {
        const char *method;
        const char *pattern;
    } routes[] = {
        {"GET", "/healthz"},
        {"GET", "/v1/incidents"},
        {"POST", "/v1/incidents"},
        {"GET", "/v1/incidents/{id}"},
        {"PATCH", "/v1/incidents/{id}"},
        {"GET", "/v1/incidents/search"},
        {"POST", "/v1/incidents/{id}/notes"},
        {"POST", "/v1/incidents/{id}/transfer/accept"},
        {"DELETE", "/v1/cluster/members/{id}"},
        {"GET", "/"},
    };
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    struct amk_http_router *router = amk_http_router_new();
    size_t i;

    assert_non_null(router);
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        assert_int_equal(amk_http_router_add(
                             router, routes[i].method, routes[i].pattern,
                             handler_a, 0, (void *)(uintptr_t)(i + 1), errmsg),
                         0);
    }
    return router;
}

/* Splits a copy of path and matches it. */
static int match_path(const struct amk_http_router *router, const char *method,
                      const char *path, char *copy, size_t copy_size,
                      struct amk_http_match *match)
{
    char *segments[AMK_HTTP_MAX_SEGMENTS];
    size_t n = 0;
    char errmsg[AMK_HTTP_ERRMSG_SIZE];

    snprintf(copy, copy_size, "%s", path);
    assert_int_equal(amk_http_router_split(copy, segments, &n, errmsg), 0);
    return amk_http_router_match(router, method, segments, n, match);
}

struct match_case {
    const char *method;
    const char *path;
    int result;
    const char *pattern; /* FOUND */
    const char *param;   /* FOUND: first param value, or NULL */
    const char *allow;   /* NO_METHOD */
};

static const struct match_case match_cases[] = {
    {"GET", "/healthz", AMK_HTTP_MATCH_FOUND, "/healthz", NULL, NULL},
    {"GET", "/", AMK_HTTP_MATCH_FOUND, "/", NULL, NULL},
    {"GET", "/v1/incidents/abc", AMK_HTTP_MATCH_FOUND, "/v1/incidents/{id}",
     "abc", NULL},
    {"GET", "/v1/incidents/search", AMK_HTTP_MATCH_FOUND,
     "/v1/incidents/search", NULL, NULL},
    /* The literal route owns the path: PATCH there is 405, not {id}. */
    {"PATCH", "/v1/incidents/search", AMK_HTTP_MATCH_NO_METHOD, NULL, NULL,
     "GET"},
    {"PUT", "/v1/incidents/x1", AMK_HTTP_MATCH_NO_METHOD, NULL, NULL,
     "GET, PATCH"},
    {"DELETE", "/v1/incidents", AMK_HTTP_MATCH_NO_METHOD, NULL, NULL,
     "GET, POST"},
    {"get", "/healthz", AMK_HTTP_MATCH_NO_METHOD, NULL, NULL, "GET"},
    {"POST", "/v1/incidents/a%2Fb/notes", AMK_HTTP_MATCH_FOUND,
     "/v1/incidents/{id}/notes", "a/b", NULL},
    {"GET", "/v1/incidents/caf%C3%A9", AMK_HTTP_MATCH_FOUND,
     "/v1/incidents/{id}", "caf\xc3\xa9", NULL},
    {"GET", "/v1/%69ncidents/7", AMK_HTTP_MATCH_FOUND, "/v1/incidents/{id}",
     "7", NULL},
    {"POST", "/v1/incidents/9/transfer/accept", AMK_HTTP_MATCH_FOUND,
     "/v1/incidents/{id}/transfer/accept", "9", NULL},
    {"GET", "/v1/incidents/", AMK_HTTP_MATCH_NO_PATH, NULL, NULL, NULL},
    {"GET", "/v1/incidents/a/b", AMK_HTTP_MATCH_NO_PATH, NULL, NULL, NULL},
    {"GET", "/v2/incidents", AMK_HTTP_MATCH_NO_PATH, NULL, NULL, NULL},
    {"GET", "/healthz/", AMK_HTTP_MATCH_NO_PATH, NULL, NULL, NULL},
    {"GET", "//healthz", AMK_HTTP_MATCH_NO_PATH, NULL, NULL, NULL},
};

static void test_match_table(void **state)
{
    struct amk_http_router *router = router_with_routes();
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct match_case *c = &match_cases[i];
        struct amk_http_match match;
        char copy[256];
        int rv =
            match_path(router, c->method, c->path, copy, sizeof(copy), &match);
        if (rv != c->result) {
            fail_msg("%s %s: result %d, want %d", c->method, c->path, rv,
                     c->result);
        }
        if (rv == AMK_HTTP_MATCH_FOUND) {
            assert_string_equal(match.pattern, c->pattern);
            assert_ptr_equal(match.handler, handler_a);
            if (c->param != NULL) {
                assert_true(match.n_params >= 1);
                assert_string_equal(match.params[0].name, "id");
                assert_string_equal(match.params[0].value, c->param);
            } else {
                assert_int_equal(match.n_params, 0);
            }
        }
        if (rv == AMK_HTTP_MATCH_NO_METHOD) {
            assert_string_equal(match.allow, c->allow);
        }
    }
    amk_http_router_free(router);
}

static void test_route_data_and_flags(void **state)
{
    struct amk_http_router *router = amk_http_router_new();
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    struct amk_http_match match;
    char copy[64];
    int marker = 0;
    (void)state;

    assert_int_equal(amk_http_router_add(router, "POST", "/a/{x}/b/{y}",
                                         handler_b, AMK_HTTP_ROUTE_WRITE,
                                         &marker, errmsg),
                     0);
    assert_int_equal(
        match_path(router, "POST", "/a/1/b/2", copy, sizeof(copy), &match),
        AMK_HTTP_MATCH_FOUND);
    assert_ptr_equal(match.handler, handler_b);
    assert_ptr_equal(match.data, &marker);
    assert_int_equal(match.flags, AMK_HTTP_ROUTE_WRITE);
    assert_int_equal(match.n_params, 2);
    assert_string_equal(match.params[0].name, "x");
    assert_string_equal(match.params[0].value, "1");
    assert_string_equal(match.params[1].name, "y");
    assert_string_equal(match.params[1].value, "2");
    amk_http_router_free(router);
}

static void test_bad_routes(void **state)
{
    static const struct {
        const char *method;
        const char *pattern;
        const char *needle; /* in errmsg */
    } cases[] = {
        {"GET", "v1/x", "must start with '/'"},
        {"GET", "/v1//x", "empty path segment"},
        {"GET", "/v1/x/", "empty path segment"},
        {"GET", "/v1/{}", "malformed parameter"},
        {"GET", "/v1/{a-b}", "bad parameter name"},
        {"GET", "/v1/{id}/{id}", "named twice"},
        {"GET", "/v1/x%20y", "bad character"},
        {"GET", "/v1/{id", "malformed parameter"},
        {"G T", "/v1", "bad method"},
        {"", "/v1", "required"},
        {"GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", "segments"},
        {"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "parameters"},
        {"GET", "/v1/incidents/{id}", "already registered"},
        {"POST", "/v1/incidents/{other}", "conflicts with"},
    };
    struct amk_http_router *router = amk_http_router_new();
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    size_t i;
    (void)state;

    assert_int_equal(amk_http_router_add(router, "GET", "/v1/incidents/{id}",
                                         handler_a, 0, NULL, errmsg),
                     0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errmsg[0] = '\0';
        assert_int_equal(amk_http_router_add(router, cases[i].method,
                                             cases[i].pattern, handler_a, 0,
                                             NULL, errmsg),
                         AMK_HTTP_EINVAL);
        if (strstr(errmsg, cases[i].needle) == NULL) {
            fail_msg("%s %s: errmsg '%s' lacks '%s'", cases[i].method,
                     cases[i].pattern, errmsg, cases[i].needle);
        }
    }
    amk_http_router_free(router);
}

static void test_split(void **state)
{
    static const struct {
        const char *path;
        int rv;
        size_t n;
        const char *last; /* last segment when rv == 0 and n > 0 */
    } cases[] = {
        {"/", 0, 0, NULL},
        {"/a", 0, 1, "a"},
        {"/a/b%20c", 0, 2, "b c"},
        {"/a/b+c", 0, 2, "b+c"}, /* '+' is a plus in paths */
        {"/a/", 0, 2, ""},
        {"/%e2%82%ac", 0, 1, "\xe2\x82\xac"},
        {"/a%2", AMK_HTTP_EINVAL, 0, NULL},
        {"/a%zz", AMK_HTTP_EINVAL, 0, NULL},
        {"/a%00b", AMK_HTTP_EINVAL, 0, NULL},
        {"/%ff", AMK_HTTP_EINVAL, 0, NULL},       /* not UTF-8 */
        {"/%c0%af", AMK_HTTP_EINVAL, 0, NULL},    /* overlong '/' */
        {"/%ed%a0%80", AMK_HTTP_EINVAL, 0, NULL}, /* surrogate */
        {"a/b", AMK_HTTP_EINVAL, 0, NULL},
        {"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", 0, 16, "16"},
        {"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", AMK_HTTP_EINVAL, 0,
         NULL},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char copy[128];
        char *segments[AMK_HTTP_MAX_SEGMENTS];
        size_t n = 99;
        char errmsg[AMK_HTTP_ERRMSG_SIZE];
        int rv;

        snprintf(copy, sizeof(copy), "%s", cases[i].path);
        rv = amk_http_router_split(copy, segments, &n, errmsg);
        if (rv != cases[i].rv) {
            fail_msg("%s: rv %d, want %d", cases[i].path, rv, cases[i].rv);
        }
        if (rv == 0) {
            assert_int_equal(n, cases[i].n);
            if (n > 0) {
                assert_string_equal(segments[n - 1], cases[i].last);
            }
        }
    }
}

static void test_router_in_use_is_frozen_only_by_servers(void **state)
{
    struct amk_http_router *router = amk_http_router_new();
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    (void)state;

    /* Many routes: the table grows. */
    for (int i = 0; i < 100; i++) {
        char pattern[32];
        snprintf(pattern, sizeof(pattern), "/r%d/{id}", i);
        assert_int_equal(amk_http_router_add(router, "GET", pattern, handler_a,
                                             0, NULL, errmsg),
                         0);
    }
    amk_http_router_free(router);
    amk_http_router_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_route_data_and_flags),
        cmocka_unit_test(test_bad_routes),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_router_in_use_is_frozen_only_by_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
