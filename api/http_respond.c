/* api/http_respond.c: answers. JSON and error bodies, the response headers
 * (X-Amk-Index on every response, ETag, Retry-After, Location), and the h2o
 * filter that gives h2o's own error responses (413 from its body reader,
 * 400 for a broken request) the same JSON shape and headers. */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"
#include "sm/error.h"

static const char fallback_error[] =
    "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}}";

const char *http_respond__reason(int status)
{
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 415:
            return "Unsupported Media Type";
        case 417:
            return "Expectation Failed";
        case 429:
            return "Too Many Requests";
        case 499:
            return "Client Closed Request";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        default:
            return status < 400 ? "OK" : "Error";
    }
}

/* A copy of s with every byte that is not part of valid UTF-8 replaced by
 * '?': messages may quote what a client sent. */
static char *utf8_sanitized(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    size_t i = 0;

    if (out == NULL) {
        return NULL;
    }
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (n <= len - i && http_router__utf8_valid(s + i, n)) {
            memcpy(out + i, s + i, n);
            i += n;
        } else {
            out[i++] = '?';
        }
    }
    out[len] = '\0';
    return out;
}

static json_t *message_string(const char *message)
{
    json_t *value = json_string(message);
    if (value == NULL) {
        char *clean = utf8_sanitized(message);
        if (clean != NULL) {
            value = json_string(clean);
            free(clean);
        }
    }
    return value;
}

const char *http_respond__error_text(const char *code_name, const char *message,
                                     json_t *extra, size_t *len, char **to_free)
{
    json_t *error = json_object();
    json_t *root = NULL;
    char *text = NULL;

    *to_free = NULL;
    if (message == NULL) {
        message = code_name;
    }
    if (error == NULL ||
        json_object_set_new(error, "code", json_string(code_name)) != 0 ||
        json_object_set_new(error, "message", message_string(message)) != 0) {
        goto fallback;
    }
    if (extra != NULL && json_is_object(extra)) {
        const char *key;
        json_t *value;
        json_object_foreach(extra, key, value)
        {
            if (strcmp(key, "code") != 0 && strcmp(key, "message") != 0) {
                json_object_set(error, key, value);
            }
        }
    }
    root = json_object();
    if (root == NULL || json_object_set(root, "error", error) != 0) {
        goto fallback;
    }
    text = json_dumps(root, JSON_COMPACT);
    if (text == NULL) {
        goto fallback;
    }
    json_decref(root);
    json_decref(error);
    json_decref(extra);
    *to_free = text;
    *len = strlen(text);
    return text;

fallback:
    json_decref(root);
    json_decref(error);
    json_decref(extra);
    *len = sizeof(fallback_error) - 1;
    return fallback_error;
}

static void add_header(h2o_req_t *h2o, const char *name, size_t name_len,
                       const char *value, size_t value_len)
{
    h2o_iovec_t v = h2o_strdup(&h2o->pool, value, value_len);
    h2o_add_header_by_str(&h2o->pool, &h2o->res.headers, name, name_len, 1,
                          NULL, v.base, v.len);
}

static void add_index_header(h2o_req_t *h2o, uint64_t index)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%llu", (unsigned long long)index);
    add_header(h2o, H2O_STRLIT(HTTP_INDEX_HEADER), text, (size_t)n);
}

void http_respond__access(struct http_req *req, int status, uint64_t index,
                          bool stream)
{
    struct amk_http *http = req->server;
    h2o_req_t *h2o = req->h2o;

    if (http->config.access == NULL || h2o == NULL) {
        return;
    }
    struct amk_http_access access = {
        .method = h2o->method.base,
        .method_len = h2o->method.len,
        .target = h2o->path.base,
        .target_len = h2o->path.len,
        .route = req->pub.route_pattern,
        .session = req->pub.session,
        .request = &req->pub,
        .status = status,
        .index = index,
        .stream = stream,
    };
    http->config.access(http->config.access_data, &access);
}

void http_respond__send(struct http_req *req, int status,
                        const char *content_type, const char *body, size_t len)
{
    h2o_req_t *h2o = req->h2o;
    struct amk_http *http = req->server;
    h2o_iovec_t buf = {NULL, 0};
    bool bodyless = status == 204 || status == 304 || status < 200;

    assert(h2o != NULL && req->state != HTTP_REQ_ANSWERED &&
           req->state != HTTP_REQ_STREAMING);
    h2o->res.status = status;
    h2o->res.reason = http_respond__reason(status);
    if (content_type != NULL && !bodyless) {
        h2o_add_header(&h2o->pool, &h2o->res.headers, H2O_TOKEN_CONTENT_TYPE,
                       NULL, content_type, strlen(content_type));
    }
    uint64_t index = req->index_set ? req->index : http__applied_index(http);
    add_index_header(h2o, index);
    if (http->closing) {
        h2o->http1_is_persistent = 0;
    }
    http_respond__access(req, status, index, false);
    if (bodyless) {
        h2o->res.content_length = SIZE_MAX;
    } else {
        h2o->res.content_length = len;
        if (len > 0) {
            buf = h2o_strdup(&h2o->pool, body, len);
        }
    }
    http_metrics__record(&http->metrics, req->metrics_slot, status,
                         uv_hrtime() - req->started_ns);
    req->state = HTTP_REQ_ANSWERED;
    http_request__async_unlink(req);

    /* h2o may finish (and free) the request from inside h2o_send when
     * there is nothing left to write: hold a reference across. */
    http_request__ref(req);
    req->guard->generator.proceed = NULL;
    req->guard->generator.stop = NULL;
    h2o_start_response(h2o, &req->guard->generator);
    if (buf.len == 0 || h2o_memis(h2o->input.method.base, h2o->input.method.len,
                                  H2O_STRLIT("HEAD"))) {
        h2o_send(h2o, NULL, 0, H2O_SEND_STATE_FINAL);
    } else {
        h2o_send(h2o, &buf, 1, H2O_SEND_STATE_FINAL);
    }
    http_request__unref(req);
}

void http_respond__error(struct http_req *req, int status,
                         const char *code_name, const char *message,
                         json_t *extra)
{
    char *to_free;
    size_t len;
    const char *text =
        http_respond__error_text(code_name, message, extra, &len, &to_free);
    http_respond__send(req, status, HTTP_CONTENT_TYPE_JSON, text, len);
    free(to_free);
}

/* ---- The public answers ---- */

/* 0 when req can still be answered; AMK_HTTP_EGONE otherwise. */
static int answerable(struct http_req *req)
{
    assert(req->state == HTTP_REQ_RUNNING || req->state == HTTP_REQ_PENDING ||
           req->gone);
    if (req->gone || req->h2o == NULL ||
        (req->state != HTTP_REQ_RUNNING && req->state != HTTP_REQ_PENDING)) {
        return AMK_HTTP_EGONE;
    }
    return 0;
}

/* A pending request is released by its answer; during the handler the
 * dispatcher releases it when the handler returns. */
static void release(struct http_req *req)
{
    if (!req->in_handler) {
        http_request__unref(req);
    }
}

int amk_http_respond_json_text(struct amk_http_request *pub, int status,
                               const char *json, size_t len)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    int rv = answerable(req);
    if (rv == 0) {
        http_respond__send(req, status, HTTP_CONTENT_TYPE_JSON, json, len);
    }
    release(req);
    return rv;
}

int amk_http_respond_json(struct amk_http_request *pub, int status,
                          json_t *body)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    int rv = answerable(req);
    char *text;

    if (rv != 0) {
        json_decref(body);
        release(req);
        return rv;
    }
    text = body != NULL ? json_dumps(body, JSON_COMPACT) : strdup("{}");
    json_decref(body);
    if (text == NULL) {
        http__log(req->server, AMK_HTTP_LOG_ERROR,
                  "http: cannot render the answer to %s %s", pub->method,
                  pub->path);
        http_respond__error(req, 500, AMK_HTTP_CODE_INTERNAL,
                            "cannot render the answer", NULL);
    } else {
        http_respond__send(req, status, HTTP_CONTENT_TYPE_JSON, text,
                           strlen(text));
        free(text);
    }
    release(req);
    return 0;
}

int amk_http_respond_text(struct amk_http_request *pub, int status,
                          const char *content_type, const char *body,
                          size_t len)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    int rv = answerable(req);
    if (rv == 0) {
        h2o_iovec_t type;
        /* http_respond__send keeps the content type's pointer. */
        type = h2o_strdup(&req->h2o->pool, content_type, strlen(content_type));
        http_respond__send(req, status, type.base, body, len);
    }
    release(req);
    return rv;
}

int amk_http_respond_status(struct amk_http_request *pub, int status)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    int rv = answerable(req);
    if (rv == 0) {
        http_respond__send(req, status, NULL, NULL, 0);
    }
    release(req);
    return rv;
}

int amk_http_respond_error_status(struct amk_http_request *pub, int status,
                                  const char *code_name, const char *message,
                                  json_t *extra)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    int rv = answerable(req);
    if (rv == 0) {
        http_respond__error(req, status, code_name,
                            message != NULL ? message : code_name, extra);
    } else {
        json_decref(extra);
    }
    release(req);
    return rv;
}

int amk_http_respond_error(struct amk_http_request *pub, int code,
                           const char *message, json_t *extra)
{
    return amk_http_respond_error_status(pub, amk_code_http_status(code),
                                         amk_code_name(code), message, extra);
}

/* Headers go straight into h2o's response; dropped when the request can no
 * longer be answered. */
static h2o_req_t *header_target(struct amk_http_request *pub)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    if (answerable(req) != 0) {
        return NULL;
    }
    return req->h2o;
}

void amk_http_respond_set_header(struct amk_http_request *pub, const char *name,
                                 const char *value)
{
    h2o_req_t *h2o = header_target(pub);
    h2o_iovec_t lower;
    size_t i;

    if (h2o == NULL) {
        return;
    }
    /* HTTP/2 requires lower-case names; h2o keeps the name's pointer. */
    lower = h2o_strdup(&h2o->pool, name, strlen(name));
    for (i = 0; i < lower.len; i++) {
        lower.base[i] = (char)tolower((unsigned char)lower.base[i]);
    }
    add_header(h2o, lower.base, lower.len, value, strlen(value));
}

void amk_http_respond_set_etag(struct amk_http_request *pub, uint64_t version)
{
    h2o_req_t *h2o = header_target(pub);
    char text[24];
    int n;

    if (h2o == NULL) {
        return;
    }
    n = snprintf(text, sizeof(text), "\"%llu\"", (unsigned long long)version);
    add_header(h2o, H2O_STRLIT("etag"), text, (size_t)n);
}

void amk_http_respond_set_retry_after(struct amk_http_request *pub,
                                      unsigned seconds)
{
    h2o_req_t *h2o = header_target(pub);
    char text[16];
    int n;

    if (h2o == NULL) {
        return;
    }
    n = snprintf(text, sizeof(text), "%u", seconds);
    add_header(h2o, H2O_STRLIT("retry-after"), text, (size_t)n);
}

void amk_http_respond_set_location(struct amk_http_request *pub,
                                   const char *location)
{
    h2o_req_t *h2o = header_target(pub);
    if (h2o != NULL) {
        add_header(h2o, H2O_STRLIT("location"), location, strlen(location));
    }
}

void amk_http_respond_set_index(struct amk_http_request *pub, uint64_t index)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    req->index_set = true;
    req->index = index;
}

/* ---- The filter over every response ---- */

struct rewrite_ostream {
    h2o_ostream_t super;
    struct amk_http *http;
    bool done;
};

static const char *code_for_status(int status)
{
    switch (status) {
        case 404:
            return amk_code_name(AMK_ENOTFOUND);
        case 405:
            return AMK_HTTP_CODE_METHOD_NOT_ALLOWED;
        case 413:
            return amk_code_name(AMK_ETOOLARGE);
        case 503:
            return AMK_HTTP_CODE_UNAVAILABLE;
        default:
            return status < 500 ? amk_code_name(AMK_EINVALID)
                                : AMK_HTTP_CODE_INTERNAL;
    }
}

/* Replaces h2o's plain-text error body (one final send from
 * h2o_send_inline) with the JSON error. Headers are not yet flattened: the
 * final ostream does that on its first send, after this one. */
static void rewrite_do_send(h2o_ostream_t *self, h2o_req_t *h2o,
                            h2o_iovec_t *bufs, size_t bufcnt,
                            h2o_send_state_t state)
{
    struct rewrite_ostream *ostream = (struct rewrite_ostream *)self;
    h2o_iovec_t out = {NULL, 0};
    size_t outcnt = 0;

    if (!ostream->done) {
        char message[128];
        size_t used = 0;
        size_t i;
        const char *text;
        char *to_free;
        size_t len;

        ostream->done = true;
        message[0] = '\0';
        for (i = 0; i < bufcnt && used + 1 < sizeof(message); i++) {
            size_t n = bufs[i].len;
            if (n > sizeof(message) - 1 - used) {
                n = sizeof(message) - 1 - used;
            }
            memcpy(message + used, bufs[i].base, n);
            used += n;
        }
        message[used] = '\0';
        if (h2o->res.status == 413) {
            snprintf(message, sizeof(message),
                     "request body larger than %zu bytes",
                     ostream->http->config.limits.max_body);
        }
        text = http_respond__error_text(code_for_status(h2o->res.status),
                                        message[0] != '\0' ? message
                                                           : h2o->res.reason,
                                        NULL, &len, &to_free);
        out = h2o_strdup(&h2o->pool, text, len);
        free(to_free);
        h2o->res.content_length = len;
        if (bufcnt > 0) {
            outcnt = 1;
        }
    }
    h2o_ostream_send_next(self, h2o, outcnt ? &out : NULL, outcnt, state);
}

void http_respond__on_setup_ostream(h2o_filter_t *self, h2o_req_t *h2o,
                                    h2o_ostream_t **slot)
{
    struct amk_http *http = ((struct http_filter *)self)->http;
    ssize_t content_type;

    if (h2o_find_header_by_str(&h2o->res.headers, H2O_STRLIT(HTTP_INDEX_HEADER),
                               -1) == -1) {
        add_index_header(h2o, http__applied_index(http));
    }
    content_type =
        h2o_find_header(&h2o->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    /* The framework never answers text/plain: this is h2o's own error. */
    if (h2o->res.status >= 400 && content_type != -1 &&
        h2o_memis(h2o->res.headers.entries[content_type].value.base,
                  h2o->res.headers.entries[content_type].value.len,
                  H2O_STRLIT("text/plain; charset=utf-8"))) {
        struct rewrite_ostream *ostream =
            (void *)h2o_add_ostream(h2o, sizeof(*ostream), slot);
        ostream->super.do_send = rewrite_do_send;
        ostream->http = http;
        ostream->done = false;
        h2o->res.headers.entries[content_type].value =
            h2o_iovec_init(H2O_STRLIT(HTTP_CONTENT_TYPE_JSON));
        if (http->closing) {
            h2o->http1_is_persistent = 0;
        }
        http_metrics__record(&http->metrics, http->metrics.n_slots - 1,
                             h2o->res.status, 0);
        slot = &ostream->super.next;
    }
    h2o_setup_next_ostream(h2o, slot);
}
