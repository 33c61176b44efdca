/* api/http_request.c: from an h2o request to a handler call. Matches the
 * route, copies and validates the inputs every route needs (path and query
 * parameters, the headers of interest, the JSON body within the limits),
 * runs the handler, and keeps the request's lifetime: a reference for its
 * owner and one for h2o, the latter dropped by a pool-allocated guard whose
 * dispose callback runs when h2o frees the request, so that an answer given
 * after the client left is a no-op instead of a use-after-free. */
#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/http_int.h"
#include "sm/cmd.h"
#include "sm/error.h"

/* ---- Lifetime ---- */

void http_request__ref(struct http_req *req)
{
    req->refs++;
}

void http_request__unref(struct http_req *req)
{
    assert(req->refs > 0);
    if (--req->refs > 0) {
        return;
    }
    assert(!req->in_async);
    json_decref(req->pub.body);
    http_sse__free(req);
    free(req->arena);
    free(req);
}

void http_request__async_link(struct http_req *req)
{
    struct amk_http *http = req->server;
    if (req->in_async) {
        return;
    }
    req->async_prev = NULL;
    req->async_next = http->async;
    if (http->async != NULL) {
        http->async->async_prev = req;
    }
    http->async = req;
    req->in_async = true;
}

void http_request__async_unlink(struct http_req *req)
{
    if (!req->in_async) {
        return;
    }
    if (req->async_prev != NULL) {
        req->async_prev->async_next = req->async_next;
    } else {
        req->server->async = req->async_next;
    }
    if (req->async_next != NULL) {
        req->async_next->async_prev = req->async_prev;
    }
    req->async_prev = req->async_next = NULL;
    req->in_async = false;
}

/* h2o is freeing the request: the response is complete, or the client is
 * gone (connection closed, HTTP/2 stream reset, server shutdown). Runs
 * before the connection's socket is closed, so conn and server are alive. */
static void on_guard_dispose(void *p)
{
    struct http_guard *guard = p;
    struct http_req *req = guard->req;
    struct amk_http *http = req->server;

    if (req->state == HTTP_REQ_PENDING ||
        (req->state == HTTP_REQ_STREAMING && !req->sse.ended)) {
        if (!req->gone) {
            http->metrics.clients_gone++;
        }
    }
    if (req->state == HTTP_REQ_STREAMING) {
        http->metrics.streams_open--;
    }
    req->gone = true;
    http_request__async_unlink(req);
    if (req->conn != NULL) {
        req->conn->inflight--;
        req->conn = NULL;
    }
    req->h2o = NULL;
    req->guard = NULL;
    http_request__unref(req);
}

/* ---- Accessors ---- */

static const char *find_param(const struct amk_http_param *params, size_t n,
                              const char *name)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (strcmp(params[i].name, name) == 0) {
            return params[i].value;
        }
    }
    return NULL;
}

const char *amk_http_request_param(const struct amk_http_request *req,
                                   const char *name)
{
    return find_param(req->params, req->n_params, name);
}

void amk_http_request_peer(const struct amk_http_request *req, char *buf,
                           size_t size)
{
    h2o_req_t *h2o = HTTP_REQ_OF(req)->h2o;
    struct sockaddr_storage ss;
    char host[NI_MAXHOST];

    buf[0] = '\0';
    if (h2o == NULL || h2o->conn->callbacks->get_peername == NULL ||
        h2o->conn->callbacks->get_peername(h2o->conn, (struct sockaddr *)&ss) ==
            0) {
        return;
    }
    size_t n =
        h2o_socket_getnumerichost((struct sockaddr *)&ss, sizeof ss, host);
    int32_t port = h2o_socket_getport((struct sockaddr *)&ss);
    if (n == SIZE_MAX || port < 0) {
        return;
    }
    snprintf(buf, size, ss.ss_family == AF_INET6 ? "[%.*s]:%d" : "%.*s:%d",
             (int)n, host, (int)port);
}

const char *amk_http_request_query(const struct amk_http_request *req,
                                   const char *name)
{
    return find_param(req->query, req->n_query, name);
}

bool amk_http_request_alive(const struct amk_http_request *req)
{
    const struct http_req *r = HTTP_REQ_OF(req);
    return !r->gone && r->h2o != NULL;
}

/* ---- Input parsing ---- */

/* Copies of the request's strings, in one allocation sized up front. */
struct arena {
    char *base;
    size_t used;
    size_t size;
};

static char *arena_dup(struct arena *arena, const char *s, size_t len)
{
    char *p = arena->base + arena->used;
    assert(arena->used + len + 1 <= arena->size);
    memcpy(p, s, len);
    p[len] = '\0';
    arena->used += len + 1;
    return p;
}

static h2o_iovec_t trim(h2o_iovec_t v)
{
    while (v.len > 0 && (v.base[0] == ' ' || v.base[0] == '\t')) {
        v.base++;
        v.len--;
    }
    while (v.len > 0 &&
           (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t')) {
        v.len--;
    }
    return v;
}

/* A header of interest: 0 absent, 1 present once (*value), 2 repeated. */
static int header_once(const h2o_req_t *h2o, const h2o_token_t *token,
                       const char *name, size_t name_len, h2o_iovec_t *value)
{
    ssize_t at = token != NULL ? h2o_find_header(&h2o->headers, token, -1)
                               : h2o_find_header_by_str(&h2o->headers, name,
                                                        name_len, -1);
    ssize_t again;
    if (at == -1) {
        return 0;
    }
    again = token != NULL
                ? h2o_find_header(&h2o->headers, token, at)
                : h2o_find_header_by_str(&h2o->headers, name, name_len, at);
    *value = trim(h2o->headers.entries[at].value);
    return again == -1 ? 1 : 2;
}

static bool has_control_char(h2o_iovec_t v)
{
    size_t i;
    for (i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if (c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

/* Decimal uint64 without sign or spaces; false on overflow or junk. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (len == 0 || len > 20) {
        return false;
    }
    for (i = 0; i < len; i++) {
        unsigned digit;
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        digit = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            return false;
        }
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

static bool contains_ci(h2o_iovec_t haystack, const char *needle)
{
    size_t n = strlen(needle);
    size_t i;
    for (i = 0; i + n <= haystack.len; i++) {
        if (strncasecmp(haystack.base + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

struct inputs {
    h2o_iovec_t idempotency_key;
    h2o_iovec_t if_match;
    h2o_iovec_t session;
    h2o_iovec_t last_event_id;
    h2o_iovec_t accept;
    int n_idempotency_key, n_if_match, n_session, n_last_event_id, n_accept;
};

static void bad_request(struct http_req *req, const char *message,
                        json_t *extra)
{
    http_respond__error(req, 400, amk_code_name(AMK_EINVALID), message, extra);
}

/* Validates the headers of interest into req->pub. */
static int take_headers(struct http_req *req, struct arena *arena,
                        const struct inputs *in)
{
    struct amk_http_request *pub = &req->pub;
    char message[160];

    if (in->n_idempotency_key == 2) {
        bad_request(req, "Idempotency-Key given more than once", NULL);
        return -1;
    }
    if (in->n_idempotency_key == 1) {
        if (in->idempotency_key.len == 0 ||
            in->idempotency_key.len > AMK_IDEM_KEY_MAX ||
            has_control_char(in->idempotency_key)) {
            snprintf(message, sizeof(message),
                     "Idempotency-Key must be 1 to %d bytes without control "
                     "characters",
                     AMK_IDEM_KEY_MAX);
            bad_request(req, message, NULL);
            return -1;
        }
        pub->idempotency_key =
            arena_dup(arena, in->idempotency_key.base, in->idempotency_key.len);
    }

    if (in->n_if_match == 2) {
        bad_request(req, "If-Match given more than once", NULL);
        return -1;
    }
    if (in->n_if_match == 1) {
        h2o_iovec_t v = in->if_match;
        if (v.len < 3 || v.base[0] != '"' || v.base[v.len - 1] != '"' ||
            !parse_u64(v.base + 1, v.len - 2, &pub->if_match)) {
            bad_request(req, "If-Match must be a version in quotes, like \"3\"",
                        NULL);
            return -1;
        }
        pub->has_if_match = true;
    }

    if (in->n_session == 2) {
        bad_request(req, "X-Amk-Session given more than once", NULL);
        return -1;
    }
    if (in->n_session == 1) {
        if (in->session.len == 0 || in->session.len > AMK_ID_MAX ||
            has_control_char(in->session)) {
            snprintf(message, sizeof(message),
                     "X-Amk-Session must be a session id of 1 to %d bytes",
                     AMK_ID_MAX);
            bad_request(req, message, NULL);
            return -1;
        }
        pub->session = arena_dup(arena, in->session.base, in->session.len);
    }

    if (in->n_last_event_id == 2) {
        bad_request(req, "Last-Event-ID given more than once", NULL);
        return -1;
    }
    if (in->n_last_event_id == 1 && in->last_event_id.len > 0) {
        if (!parse_u64(in->last_event_id.base, in->last_event_id.len,
                       &pub->last_event_id)) {
            bad_request(req, "Last-Event-ID must be an event index (digits)",
                        NULL);
            return -1;
        }
        pub->has_last_event_id = true;
    }

    if (in->n_accept > 0) {
        pub->accept = arena_dup(arena, in->accept.base, in->accept.len);
        pub->accepts_event_stream =
            contains_ci(in->accept, "text/event-stream");
    }
    return 0;
}

/* Splits and decodes the query (a writable copy) into req->query. */
static int take_query(struct http_req *req, char *query)
{
    char *cursor = query;
    size_t n = 0;
    char message[160];

    while (cursor != NULL && *cursor != '\0') {
        char *amp = strchr(cursor, '&');
        char *name = cursor;
        char *value;
        char *eq;

        if (amp != NULL) {
            *amp = '\0';
        }
        cursor = amp != NULL ? amp + 1 : NULL;
        if (*name == '\0') {
            continue;
        }
        eq = strchr(name, '=');
        if (eq != NULL) {
            *eq = '\0';
            value = eq + 1;
        } else {
            value = name + strlen(name); /* "" */
        }
        if (http_router__decode(name, strlen(name), true) != 0) {
            snprintf(message, sizeof(message),
                     "query parameter %zu: bad percent-encoding, NUL or "
                     "invalid UTF-8 in its name",
                     n + 1);
            bad_request(req, message, NULL);
            return -1;
        }
        if (http_router__decode(value, strlen(value), true) != 0) {
            json_t *extra = json_pack("{s:s}", "field", name);
            snprintf(message, sizeof(message),
                     "query parameter %.64s: bad percent-encoding, NUL or "
                     "invalid UTF-8",
                     name);
            bad_request(req, message, extra);
            return -1;
        }
        if (*name == '\0') {
            continue;
        }
        if (n == AMK_HTTP_MAX_QUERY) {
            snprintf(message, sizeof(message), "more than %d query parameters",
                     AMK_HTTP_MAX_QUERY);
            bad_request(req, message, NULL);
            return -1;
        }
        req->query[n].name = name;
        req->query[n].value = value;
        n++;
    }
    req->pub.query = req->query;
    req->pub.n_query = n;
    return 0;
}

/* Checks nesting depth and string sizes of a parsed body, naming where the
 * first violation is ($.a.b[2]). Recursion stops one level past the limit,
 * and jansson itself refuses nesting past JSON_PARSER_MAX_DEPTH. */
struct walk {
    const struct amk_http_limits *limits;
    char path[128];
    size_t path_len;
    char message[256];
};

static size_t walk_push(struct walk *w, const char *fmt, const char *key,
                        size_t index)
{
    size_t before = w->path_len;
    size_t room = sizeof(w->path) - w->path_len;
    int n = key != NULL ? snprintf(w->path + w->path_len, room, fmt, key)
                        : snprintf(w->path + w->path_len, room, fmt, index);
    if (n > 0) {
        w->path_len += (size_t)n < room ? (size_t)n : room - 1;
    }
    return before;
}

static bool walk_json(json_t *value, unsigned depth, struct walk *w)
{
    const struct amk_http_limits *limits = w->limits;

    if (json_is_object(value) || json_is_array(value)) {
        if (depth > limits->max_json_depth) {
            snprintf(w->message, sizeof(w->message),
                     "JSON body nested deeper than %u levels at %s",
                     limits->max_json_depth, w->path);
            return false;
        }
    }
    if (json_is_object(value)) {
        const char *key;
        json_t *child;
        json_object_foreach(value, key, child)
        {
            size_t before;
            if (strlen(key) > limits->max_json_string) {
                snprintf(w->message, sizeof(w->message),
                         "JSON object key longer than %zu bytes in %s",
                         limits->max_json_string, w->path);
                return false;
            }
            before = walk_push(w, ".%.32s", key, 0);
            if (!walk_json(child, depth + 1, w)) {
                return false;
            }
            w->path_len = before;
            w->path[before] = '\0';
        }
    } else if (json_is_array(value)) {
        size_t i;
        json_t *child;
        json_array_foreach(value, i, child)
        {
            size_t before = walk_push(w, "[%zu]", NULL, i);
            if (!walk_json(child, depth + 1, w)) {
                return false;
            }
            w->path_len = before;
            w->path[before] = '\0';
        }
    } else if (json_is_string(value)) {
        if (json_string_length(value) > limits->max_json_string) {
            snprintf(w->message, sizeof(w->message),
                     "JSON string longer than %zu bytes at %s",
                     limits->max_json_string, w->path);
            return false;
        }
    }
    return true;
}

static bool is_json_media_type(h2o_iovec_t v)
{
    size_t len = 0;
    while (len < v.len && v.base[len] != ';') {
        len++;
    }
    v.len = len;
    v = trim(v);
    if (v.len == 16 && strncasecmp(v.base, "application/json", 16) == 0) {
        return true;
    }
    return v.len > 5 && strncasecmp(v.base + v.len - 5, "+json", 5) == 0;
}

static int take_body(struct http_req *req)
{
    const struct amk_http_limits *limits = &req->server->config.limits;
    h2o_iovec_t entity = req->h2o->entity;
    bool has_body = entity.base != NULL && entity.len > 0;
    unsigned flags = req->pub.route_flags;
    h2o_iovec_t content_type;
    char message[256];
    json_error_t error;
    json_t *body;
    struct walk walk;

    if (entity.len > limits->max_body) {
        /* h2o stops reading at max_body + 1 bytes (its limit is set one
         * higher because its chunked reader rejects at the limit itself). */
        snprintf(message, sizeof(message), "request body larger than %zu bytes",
                 limits->max_body);
        req->h2o->http1_is_persistent = 0;
        http_respond__error(req, 413, amk_code_name(AMK_ETOOLARGE), message,
                            NULL);
        return -1;
    }
    if (header_once(req->h2o, H2O_TOKEN_CONTENT_TYPE, NULL, 0, &content_type) !=
            0 &&
        has_body && !is_json_media_type(content_type)) {
        snprintf(message, sizeof(message),
                 "unsupported Content-Type '%.*s': send application/json",
                 (int)(content_type.len < 64 ? content_type.len : 64),
                 content_type.base);
        bad_request(req, message, NULL);
        return -1;
    }
    if (!has_body) {
        if (flags & AMK_HTTP_ROUTE_BODY_REQUIRED) {
            bad_request(req, "request body required: a JSON object", NULL);
            return -1;
        }
        return 0;
    }
    body = json_loadb(entity.base, entity.len,
                      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (body == NULL) {
        snprintf(message, sizeof(message),
                 "malformed JSON body: %s (line %d, column %d)", error.text,
                 error.line, error.column);
        bad_request(
            req, message,
            json_pack("{s:i,s:i}", "line", error.line, "column", error.column));
        return -1;
    }
    if (!(flags & AMK_HTTP_ROUTE_BODY_ANY_JSON) && !json_is_object(body)) {
        json_decref(body);
        bad_request(req, "request body must be a JSON object", NULL);
        return -1;
    }
    memset(&walk, 0, sizeof(walk));
    walk.limits = limits;
    walk.path[0] = '$';
    walk.path_len = 1;
    if (!walk_json(body, 1, &walk)) {
        json_decref(body);
        bad_request(req, walk.message, NULL);
        return -1;
    }
    req->pub.body = body;
    return 0;
}

/* Fills req->pub from the h2o request, or answers the error itself and
 * returns non-zero. */
static int prepare(struct http_req *req, amk_http_handler_fn *handler)
{
    h2o_req_t *h2o = req->h2o;
    struct amk_http *http = req->server;
    size_t path_len = h2o->query_at != SIZE_MAX ? h2o->query_at : h2o->path.len;
    size_t query_len =
        h2o->query_at != SIZE_MAX ? h2o->path.len - h2o->query_at - 1 : 0;
    struct inputs in;
    struct arena arena;
    char *split_path;
    char *query;
    char *segments[AMK_HTTP_MAX_SEGMENTS];
    size_t n_segments = 0;
    size_t slashes = 0;
    size_t i;
    struct amk_http_match match;
    char message[AMK_HTTP_ERRMSG_SIZE];
    int found;

    memset(&in, 0, sizeof(in));
    in.n_idempotency_key = header_once(h2o, NULL, H2O_STRLIT("idempotency-key"),
                                       &in.idempotency_key);
    in.n_if_match = header_once(h2o, H2O_TOKEN_IF_MATCH, NULL, 0, &in.if_match);
    in.n_session =
        header_once(h2o, NULL, H2O_STRLIT("x-amk-session"), &in.session);
    in.n_last_event_id =
        header_once(h2o, NULL, H2O_STRLIT("last-event-id"), &in.last_event_id);
    in.n_accept = header_once(h2o, H2O_TOKEN_ACCEPT, NULL, 0, &in.accept);

    arena.size = h2o->method.len + 1 + 2 * (path_len + 1) + query_len + 1 +
                 in.idempotency_key.len + 1 + in.session.len + 1 +
                 in.accept.len + 1;
    arena.used = 0;
    arena.base = malloc(arena.size);
    if (arena.base == NULL) {
        http_respond__error(req, 503, AMK_HTTP_CODE_UNAVAILABLE,
                            "out of memory", NULL);
        return -1;
    }
    req->arena = arena.base;
    req->pub.method = arena_dup(&arena, h2o->method.base, h2o->method.len);
    req->pub.path = arena_dup(&arena, h2o->path.base, path_len);
    split_path = arena_dup(&arena, h2o->path.base, path_len);
    query = arena_dup(&arena, h2o->path.base + path_len + (query_len ? 1 : 0),
                      query_len);

    for (i = 0; i < path_len; i++) {
        slashes += split_path[i] == '/';
    }
    if (slashes > AMK_HTTP_MAX_SEGMENTS || split_path[0] != '/') {
        found = AMK_HTTP_MATCH_NO_PATH;
    } else if (amk_http_router_split(split_path, segments, &n_segments,
                                     message) != 0) {
        bad_request(req, message, NULL);
        return -1;
    } else {
        found = amk_http_router_match(http->router, req->pub.method, segments,
                                      n_segments, &match);
    }
    if (found == AMK_HTTP_MATCH_NO_PATH) {
        snprintf(message, sizeof(message), "no route for %.16s %.160s",
                 req->pub.method, req->pub.path);
        http_respond__error(req, 404, amk_code_name(AMK_ENOTFOUND), message,
                            NULL);
        return -1;
    }
    if (found == AMK_HTTP_MATCH_NO_METHOD) {
        h2o_iovec_t allow =
            h2o_strdup(&h2o->pool, match.allow, strlen(match.allow));
        h2o_add_header(&h2o->pool, &h2o->res.headers, H2O_TOKEN_ALLOW, NULL,
                       allow.base, allow.len);
        snprintf(message, sizeof(message),
                 "method %.16s not allowed on %.120s; allowed: %.60s",
                 req->pub.method, req->pub.path, match.allow);
        http_respond__error(req, 405, AMK_HTTP_CODE_METHOD_NOT_ALLOWED, message,
                            json_pack("{s:s}", "allow", match.allow));
        return -1;
    }

    req->metrics_slot = match.route_index;
    req->pub.route_pattern = match.pattern;
    req->pub.route_flags = match.flags;
    req->pub.route_data = match.data;
    memcpy(req->params, match.params, sizeof(req->params));
    req->pub.params = req->params;
    req->pub.n_params = match.n_params;
    *handler = match.handler;

    if (take_headers(req, &arena, &in) != 0 || take_query(req, query) != 0 ||
        take_body(req) != 0) {
        return -1;
    }
    return 0;
}

static struct http_conn *conn_of(h2o_req_t *h2o)
{
    h2o_socket_t *sock;
    if (h2o->conn->callbacks->get_socket == NULL) {
        return NULL;
    }
    sock = h2o->conn->callbacks->get_socket(h2o->conn);
    return sock != NULL ? sock->on_close.data : NULL;
}

int http_request__dispatch(struct amk_http *http, h2o_req_t *h2o)
{
    struct http_req *req = calloc(1, sizeof(*req));
    amk_http_handler_fn handler = NULL;
    int result = AMK_HTTP_DONE;

    if (req == NULL) {
        h2o_send_error_503(h2o, "Service Unavailable", "out of memory", 0);
        return 0;
    }
    req->server = http;
    req->conn = conn_of(h2o);
    req->h2o = h2o;
    req->refs = 2; /* the owner, and the guard below */
    req->started_ns = uv_hrtime();
    req->metrics_slot = http->metrics.n_slots - 1;
    req->pub.http_version = h2o->version;
    req->guard =
        h2o_mem_alloc_shared(&h2o->pool, sizeof(*req->guard), on_guard_dispose);
    memset(req->guard, 0, sizeof(*req->guard));
    req->guard->req = req;
    if (req->conn != NULL) {
        req->conn->inflight++;
        req->conn->version = h2o->version;
    }

    req->in_handler = true;
    if (req->conn != NULL && req->conn->reject) {
        h2o->http1_is_persistent = 0;
        amk_http_respond_set_retry_after(&req->pub, 1);
        http_respond__error(req, 503, AMK_HTTP_CODE_UNAVAILABLE,
                            "too many connections", NULL);
    } else if (http->closing) {
        amk_http_respond_set_retry_after(&req->pub, 1);
        http_respond__error(req, 503, AMK_HTTP_CODE_UNAVAILABLE,
                            "server shutting down", NULL);
    } else if (prepare(req, &handler) == 0) {
        result = handler(&req->pub);
    }
    req->in_handler = false;

    switch (req->state) {
        case HTTP_REQ_RUNNING:
            if (result == AMK_HTTP_PENDING) {
                /* The owner's reference goes to the handler. */
                req->state = HTTP_REQ_PENDING;
                http_request__async_link(req);
                return 0;
            }
            http__log(http, AMK_HTTP_LOG_ERROR,
                      "http: handler for %s %s returned without answering",
                      req->pub.method, req->pub.route_pattern);
            http_respond__error(req, 500, AMK_HTTP_CODE_INTERNAL,
                                "the handler did not answer", NULL);
            break;
        case HTTP_REQ_STREAMING:
            return 0; /* the owner's reference went to the stream */
        case HTTP_REQ_PENDING:
        case HTTP_REQ_ANSWERED:
            break;
    }
    http_request__unref(req);
    return 0;
}
