/* api/http_int.h: the types the files of the HTTP framework share (server,
 * connection, request state, router, metrics) and their internal functions.
 * Not for use outside api/http*.c. */
#ifndef AMK_API_HTTP_INT_H
#define AMK_API_HTTP_INT_H

#include "api/h2o_inc.h"
#include "api/http.h"

#define HTTP_REJECT_SLACK  64 /* connections over the limit answered 503 */
#define HTTP_CLOSE_TICK_MS 20 /* housekeeping period while closing */
#define HTTP_GOAWAY_GRACE_MS                                                   \
    100                           /* an idle HTTP/2 connection gets this long  \
                                     to flush its GOAWAY before it is cut */
#define HTTP_HARD_CUT_MS     1000 /* after the deadline, then cut everything */
#define HTTP_LATENCY_BUCKETS 14

#define HTTP_CONTENT_TYPE_JSON "application/json; charset=utf-8"
#define HTTP_INDEX_HEADER      "x-amk-index"

/* ---- Router ---- */

struct http_route {
    char *method;
    char *pattern;
    size_t n_segments;
    char *segments[AMK_HTTP_MAX_SEGMENTS]; /* literal, or NULL: a parameter */
    char *param_names[AMK_HTTP_MAX_SEGMENTS];
    amk_http_handler_fn handler;
    unsigned flags;
    void *data;
};

struct amk_http_router {
    struct http_route *routes;
    size_t n_routes;
    size_t cap_routes;
    unsigned users; /* servers using it: no more routes once non-zero */
};

/* Decodes %XY (and '+' as space when plus_is_space) of s[0..len) in place
 * and NUL-terminates it. Fails (-1) on a bad escape, a decoded NUL or
 * invalid UTF-8. */
int http_router__decode(char *s, size_t len, bool plus_is_space);
bool http_router__utf8_valid(const char *s, size_t len);

/* ---- Metrics ---- */

struct http_metrics_slot {
    uint64_t by_class[6];                       /* 1xx..5xx, other */
    uint64_t buckets[HTTP_LATENCY_BUCKETS + 1]; /* last: +Inf */
    uint64_t sum_us;
    uint64_t count;
};

struct http_metrics {
    size_t n_slots; /* one per route, then one for unmatched requests */
    struct http_metrics_slot *slots;
    uint64_t connections_total;
    uint64_t connections_rejected; /* closed at once, over limit + slack */
    uint64_t connections_overload; /* answered 503, over the limit */
    uint64_t streams_open;
    uint64_t streams_resync;
    uint64_t clients_gone; /* pending requests whose client left */
};

int http_metrics__init(struct http_metrics *metrics, size_t n_routes);
void http_metrics__close(struct http_metrics *metrics);
void http_metrics__record(struct http_metrics *metrics, size_t slot, int status,
                          uint64_t latency_ns);

/* ---- Server and connections ---- */

/* One accepted TCP connection. The uv handle is ours; h2o's socket wraps
 * it and closes it, calling http.c's close callback, which frees this. */
struct http_conn {
    uv_tcp_t tcp;
    struct amk_http *server;
    h2o_socket_t *sock; /* NULL once h2o disposed of it */
    struct http_conn *prev, *next;
    unsigned inflight; /* requests given to the framework, not yet done */
    int version;       /* HTTP version of the last request; 0: none yet */
    bool reject;       /* over max_connections: every request gets 503 */
    bool shut;         /* shutdown(2) done */
};

struct http_req;

struct amk_http {
    uv_loop_t *loop;
    struct amk_http_config config;
    char address[80];
    uint16_t port;
    struct amk_http_router *router;

    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    bool h2o_ready; /* globalconf and ctx initialised */

    uv_tcp_t listener;
    uv_timer_t tick;  /* housekeeping: disconnect checks, heartbeats, close */
    uv_timer_t final; /* closed last: its callback frees the server */
    uint64_t tick_ms;

    struct http_conn *conns;
    size_t n_conns;
    struct http_req *async; /* pending and streaming requests */

    struct http_metrics metrics;

    bool closing;
    bool listener_closed;
    bool deadline_passed;
    bool finishing;
    uint64_t close_started_ms;
    uint64_t deadline_ms;
    uint64_t hard_cut_ms;
    amk_http_close_cb close_cb;
    void *close_data;
};

void http__log(struct amk_http *http, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t http__applied_index(struct amk_http *http);

/* ---- Requests ---- */

enum http_req_state {
    HTTP_REQ_RUNNING = 0, /* in its handler, not answered */
    HTTP_REQ_PENDING,     /* handler returned AMK_HTTP_PENDING */
    HTTP_REQ_ANSWERED,    /* a response was handed to h2o */
    HTTP_REQ_STREAMING,   /* an event stream */
};

/* Lives in the h2o request's pool: its dispose callback runs when h2o frees
 * the request (answer sent, or client gone), and tells the http_req. */
struct http_guard {
    struct http_req *req;
    h2o_generator_t generator; /* event streams */
};

struct amk_http_sse {
    char *inflight; /* handed to h2o, valid until proceed or dispose */
    size_t inflight_len;
    size_t inflight_cap;
    char *queue; /* waiting for the next proceed */
    size_t queue_len;
    size_t queue_cap;
    bool sending; /* h2o holds inflight */
    bool ending;  /* final send requested */
    bool ended;   /* final send handed to h2o */
    uint64_t last_send_ms;
};

/* The framework's side of a request. Reference counted: one reference for
 * the owner (dispatcher, then the handler if pending, then the stream
 * holder) and one for the guard while h2o has the request. */
struct http_req {
    struct amk_http_request pub;
    struct amk_http *server;
    struct http_conn *conn; /* NULL once h2o is done with the request */
    h2o_req_t *h2o;         /* NULL once h2o is done with the request */
    struct http_guard *guard;
    unsigned refs;
    enum http_req_state state;
    bool in_handler;
    bool gone; /* answers are dropped (client left, or server answered) */
    bool in_async;
    bool index_set;
    uint64_t index;
    uint64_t started_ns;
    size_t metrics_slot;
    struct http_req *async_prev, *async_next;
    struct amk_http_sse sse;
    char *arena; /* copies of path, query and headers */
    struct amk_http_param params[AMK_HTTP_MAX_PARAMS];
    struct amk_http_param query[AMK_HTTP_MAX_QUERY];
};

#define HTTP_REQ_OF(p) ((struct http_req *)(void *)(p)) /* pub is first */

/* Reports req to the access hook, if any (http_respond.c). */
void http_respond__access(struct http_req *req, int status, uint64_t index,
                          bool stream);

/* Entry point for every h2o request (the h2o handler's on_req). */
int http_request__dispatch(struct amk_http *http, h2o_req_t *h2o);
void http_request__ref(struct http_req *req);
void http_request__unref(struct http_req *req);
void http_request__async_link(struct http_req *req);
void http_request__async_unlink(struct http_req *req);

/* Hands a complete response to h2o (req->h2o must be set): status, content
 * type (NULL: none), body copied into the request pool. Adds X-Amk-Index,
 * records metrics, marks the request answered. */
void http_respond__send(struct http_req *req, int status,
                        const char *content_type, const char *body, size_t len);
/* Renders {"error": {...}}; never fails (falls back to a static text).
 * *to_free is what the caller frees (NULL for the fallback). */
const char *http_respond__error_text(const char *code_name, const char *message,
                                     json_t *extra, size_t *len,
                                     char **to_free);
/* An error answer from the framework itself (req->h2o must be set). */
void http_respond__error(struct http_req *req, int status,
                         const char *code_name, const char *message,
                         json_t *extra);
const char *http_respond__reason(int status);
/* The h2o filter that adds X-Amk-Index to every response and turns h2o's
 * own plain-text errors (413, 400, ...) into JSON errors. */
void http_respond__on_setup_ostream(h2o_filter_t *self, h2o_req_t *req,
                                    h2o_ostream_t **slot);

struct http_filter {
    h2o_filter_t super;
    struct amk_http *http;
};

/* Event streams. */
void http_sse__end(struct http_req *req);
void http_sse__heartbeat(struct http_req *req, uint64_t now_ms);
void http_sse__free(struct http_req *req);

#endif
