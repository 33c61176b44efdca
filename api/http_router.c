/* api/http_router.c: routes from (method, path pattern) to handlers, path
 * splitting and percent-decoding. Matching is a linear scan: the API has a
 * few dozen routes, and a request path has at most AMK_HTTP_MAX_SEGMENTS
 * segments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"

struct amk_http_router *amk_http_router_new(void)
{
    return calloc(1, sizeof(struct amk_http_router));
}

static void route_clear(struct http_route *route)
{
    size_t i;
    free(route->method);
    free(route->pattern);
    for (i = 0; i < route->n_segments; i++) {
        free(route->segments[i]);
        free(route->param_names[i]);
    }
    memset(route, 0, sizeof(*route));
}

void amk_http_router_free(struct amk_http_router *router)
{
    size_t i;
    if (router == NULL) {
        return;
    }
    for (i = 0; i < router->n_routes; i++) {
        route_clear(&router->routes[i]);
    }
    free(router->routes);
    free(router);
}

static bool is_name_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        return true;
    }
    return !first && c >= '0' && c <= '9';
}

static bool is_token_char(char c)
{
    /* RFC 9110 tchar */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
        return true;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Parses pattern into route->segments / param_names (allocated). */
static int parse_pattern(struct http_route *route, const char *pattern,
                         char *errmsg)
{
    const char *cursor = pattern;
    size_t n_params = 0;

    if (pattern[0] != '/') {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                 "route %s: pattern must start with '/'", pattern);
        return AMK_HTTP_EINVAL;
    }
    if (strcmp(pattern, "/") == 0) {
        return 0;
    }
    while (*cursor == '/') {
        const char *start = cursor + 1;
        const char *end = strchr(start, '/');
        size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
        size_t i = route->n_segments;
        size_t k;

        if (len == 0) {
            snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                     "route %s: empty path segment", pattern);
            return AMK_HTTP_EINVAL;
        }
        if (i == AMK_HTTP_MAX_SEGMENTS) {
            snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                     "route %s: more than %d segments", pattern,
                     AMK_HTTP_MAX_SEGMENTS);
            return AMK_HTTP_EINVAL;
        }
        if (start[0] == '{') {
            if (len < 3 || start[len - 1] != '}') {
                snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                         "route %s: malformed parameter segment", pattern);
                return AMK_HTTP_EINVAL;
            }
            for (k = 1; k < len - 1; k++) {
                if (!is_name_char(start[k], k == 1)) {
                    snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                             "route %s: bad parameter name", pattern);
                    return AMK_HTTP_EINVAL;
                }
            }
            if (n_params == AMK_HTTP_MAX_PARAMS) {
                snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                         "route %s: more than %d parameters", pattern,
                         AMK_HTTP_MAX_PARAMS);
                return AMK_HTTP_EINVAL;
            }
            route->param_names[i] = strndup(start + 1, len - 2);
            if (route->param_names[i] == NULL) {
                return AMK_HTTP_ENOMEM;
            }
            for (k = 0; k < i; k++) {
                if (route->param_names[k] != NULL &&
                    strcmp(route->param_names[k], route->param_names[i]) == 0) {
                    snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                             "route %s: parameter {%s} named twice", pattern,
                             route->param_names[i]);
                    route->n_segments = i + 1;
                    return AMK_HTTP_EINVAL;
                }
            }
            n_params++;
        } else {
            for (k = 0; k < len; k++) {
                char c = start[k];
                if (c == '{' || c == '}' || c == '%' || c == '?' || c == '#' ||
                    (unsigned char)c < 0x21 || (unsigned char)c > 0x7e) {
                    snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                             "route %s: bad character in literal segment",
                             pattern);
                    return AMK_HTTP_EINVAL;
                }
            }
            route->segments[i] = strndup(start, len);
            if (route->segments[i] == NULL) {
                return AMK_HTTP_ENOMEM;
            }
        }
        route->n_segments = i + 1;
        cursor = start + len;
    }
    return 0;
}

/* Same shape: same length, parameters at the same positions, equal
 * literals. Such patterns match exactly the same paths. */
static bool same_shape(const struct http_route *a, const struct http_route *b)
{
    size_t i;
    if (a->n_segments != b->n_segments) {
        return false;
    }
    for (i = 0; i < a->n_segments; i++) {
        if ((a->segments[i] == NULL) != (b->segments[i] == NULL)) {
            return false;
        }
        if (a->segments[i] != NULL &&
            strcmp(a->segments[i], b->segments[i]) != 0) {
            return false;
        }
    }
    return true;
}

int amk_http_router_add(struct amk_http_router *router, const char *method,
                        const char *pattern, amk_http_handler_fn handler,
                        unsigned flags, void *data, char *errmsg)
{
    struct http_route route;
    size_t i;
    int rv;

    memset(&route, 0, sizeof(route));
    if (router->users != 0) {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                 "route %s %s: router already in use by a server", method,
                 pattern);
        return AMK_HTTP_EINVAL;
    }
    if (method == NULL || method[0] == '\0' || handler == NULL ||
        pattern == NULL) {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                 "route: method, pattern and handler are required");
        return AMK_HTTP_EINVAL;
    }
    for (i = 0; method[i] != '\0'; i++) {
        if (!is_token_char(method[i])) {
            snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "route %s %s: bad method",
                     method, pattern);
            return AMK_HTTP_EINVAL;
        }
    }
    rv = parse_pattern(&route, pattern, errmsg);
    if (rv != 0) {
        goto err;
    }
    for (i = 0; i < router->n_routes; i++) {
        const struct http_route *other = &router->routes[i];
        size_t k;
        if (!same_shape(&route, other)) {
            continue;
        }
        if (strcmp(other->method, method) == 0) {
            snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                     "route %s %s: already registered", method, pattern);
            rv = AMK_HTTP_EINVAL;
            goto err;
        }
        for (k = 0; k < route.n_segments; k++) {
            if (route.param_names[k] != NULL &&
                strcmp(route.param_names[k], other->param_names[k]) != 0) {
                snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                         "route %s %s: conflicts with %s %s", method, pattern,
                         other->method, other->pattern);
                rv = AMK_HTTP_EINVAL;
                goto err;
            }
        }
    }
    route.method = strdup(method);
    route.pattern = strdup(pattern);
    if (route.method == NULL || route.pattern == NULL) {
        rv = AMK_HTTP_ENOMEM;
        goto err;
    }
    if (router->n_routes == router->cap_routes) {
        size_t cap = router->cap_routes ? router->cap_routes * 2 : 16;
        struct http_route *routes =
            realloc(router->routes, cap * sizeof(*routes));
        if (routes == NULL) {
            rv = AMK_HTTP_ENOMEM;
            goto err;
        }
        router->routes = routes;
        router->cap_routes = cap;
    }
    route.handler = handler;
    route.flags = flags;
    route.data = data;
    router->routes[router->n_routes++] = route;
    return 0;

err:
    if (rv == AMK_HTTP_ENOMEM) {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "route %s %s: out of memory",
                 method, pattern);
    }
    route_clear(&route);
    return rv;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool http_router__utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        uint32_t cp;
        size_t k;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i - 1 < need) {
            return false;
        }
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += need + 1;
    }
    return true;
}

int http_router__decode(char *s, size_t len, bool plus_is_space)
{
    size_t in = 0;
    size_t out = 0;

    while (in < len) {
        char c = s[in];
        if (c == '%') {
            int hi, lo;
            if (len - in < 3) {
                return -1;
            }
            hi = hex_value(s[in + 1]);
            lo = hex_value(s[in + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            s[out++] = (char)(hi * 16 + lo);
            in += 3;
        } else if (c == '\0') {
            return -1;
        } else {
            s[out++] = (plus_is_space && c == '+') ? ' ' : c;
            in++;
        }
    }
    s[out] = '\0';
    return http_router__utf8_valid(s, out) ? 0 : -1;
}

int amk_http_router_split(char *path, char **segments, size_t *n_segments,
                          char *errmsg)
{
    char *start;
    size_t n = 0;

    *n_segments = 0;
    if (path[0] != '/') {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "path must start with '/'");
        return AMK_HTTP_EINVAL;
    }
    if (path[1] == '\0') {
        return 0;
    }
    start = path + 1;
    for (;;) {
        char *end = strchr(start, '/');
        size_t len = end != NULL ? (size_t)(end - start) : strlen(start);

        if (n == AMK_HTTP_MAX_SEGMENTS) {
            snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                     "path has more than %d segments", AMK_HTTP_MAX_SEGMENTS);
            return AMK_HTTP_EINVAL;
        }
        /* Decoding shrinks in place and may overwrite *end with the NUL. */
        if (http_router__decode(start, len, false) != 0) {
            snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                     "path segment %zu: bad percent-encoding, NUL or invalid "
                     "UTF-8",
                     n + 1);
            return AMK_HTTP_EINVAL;
        }
        segments[n++] = start;
        if (end == NULL) {
            break;
        }
        start = end + 1;
    }
    *n_segments = n;
    return 0;
}

/* Bit i (from the top) set when segment i is a literal: a higher rank is
 * more specific, decided by the leftmost difference. */
static unsigned route_rank(const struct http_route *route)
{
    unsigned rank = 0;
    size_t i;
    for (i = 0; i < route->n_segments; i++) {
        if (route->segments[i] != NULL) {
            rank |= 1u << (AMK_HTTP_MAX_SEGMENTS - 1 - i);
        }
    }
    return rank;
}

static bool route_matches(const struct http_route *route, char *const *segments,
                          size_t n_segments)
{
    size_t i;
    if (route->n_segments != n_segments) {
        return false;
    }
    for (i = 0; i < n_segments; i++) {
        if (route->segments[i] == NULL
                ? segments[i][0] == '\0'
                : strcmp(route->segments[i], segments[i]) != 0) {
            return false; /* a parameter never matches an empty segment */
        }
    }
    return true;
}

int amk_http_router_match(const struct amk_http_router *router,
                          const char *method, char *const *segments,
                          size_t n_segments, struct amk_http_match *match)
{
    const struct http_route *best = NULL;
    unsigned best_rank = 0;
    size_t i;
    size_t allow_len = 0;

    memset(match, 0, sizeof(*match));
    for (i = 0; i < router->n_routes; i++) {
        const struct http_route *route = &router->routes[i];
        unsigned rank;
        if (!route_matches(route, segments, n_segments)) {
            continue;
        }
        rank = route_rank(route);
        if (best == NULL || rank > best_rank) {
            best = route;
            best_rank = rank;
        }
    }
    if (best == NULL) {
        return AMK_HTTP_MATCH_NO_PATH;
    }
    /* Routes of best's shape differ only by method. */
    for (i = 0; i < router->n_routes; i++) {
        const struct http_route *route = &router->routes[i];
        size_t k, n = 0;
        int written;

        if (!same_shape(route, best)) {
            continue;
        }
        if (strcmp(route->method, method) == 0) {
            match->route_index = i;
            match->pattern = route->pattern;
            match->flags = route->flags;
            match->handler = route->handler;
            match->data = route->data;
            for (k = 0; k < n_segments; k++) {
                if (route->segments[k] == NULL) {
                    match->params[n].name = route->param_names[k];
                    match->params[n].value = segments[k];
                    n++;
                }
            }
            match->n_params = n;
            match->allow[0] = '\0';
            return AMK_HTTP_MATCH_FOUND;
        }
        written =
            snprintf(match->allow + allow_len, sizeof(match->allow) - allow_len,
                     "%s%s", allow_len ? ", " : "", route->method);
        if (written > 0 && (size_t)written < sizeof(match->allow) - allow_len) {
            allow_len += (size_t)written;
        }
    }
    return AMK_HTTP_MATCH_NO_METHOD;
}
