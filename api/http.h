/* api/http.h: the HTTP server framework of the api layer. An h2o listener
 * (HTTP/1.1 and HTTP/2, plaintext or TLS) on a libuv loop, a router from
 * (method, path pattern) to handler, a request context carrying the inputs
 * every route needs, JSON and Server-Sent-Events responses, limits against
 * abusive clients, and per-route metrics. Domain routes plug in through
 * amk_http_router_add(). Everything here runs on the loop's thread. */
#ifndef AMK_API_HTTP_H
#define AMK_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <uv.h>

#define AMK_HTTP_ERRMSG_SIZE  256
#define AMK_HTTP_MAX_PARAMS   8  /* {param} segments in one pattern */
#define AMK_HTTP_MAX_SEGMENTS 16 /* path segments in a pattern or request */
#define AMK_HTTP_MAX_QUERY    32 /* query parameters in one request */

/* Result codes of this module. */
enum amk_http_rv {
    AMK_HTTP_OK = 0,
    AMK_HTTP_EINVAL,  /* bad argument: address, pattern, config */
    AMK_HTTP_ELISTEN, /* could not listen; errmsg names address and reason */
    AMK_HTTP_ENOMEM,
    AMK_HTTP_EGONE, /* the client has gone, or the request was already
                       answered by the server (close deadline): nothing sent */
    AMK_HTTP_EFULL, /* event stream buffer overflowed: the stream was ended
                       with a final "event: resync" message */
};

/* Error codes of the HTTP layer that have no counterpart in sm/error.h. */
#define AMK_HTTP_CODE_METHOD_NOT_ALLOWED "METHOD_NOT_ALLOWED" /* 405 */
#define AMK_HTTP_CODE_UNAVAILABLE        "UNAVAILABLE" /* 503: overload, shutdown */
#define AMK_HTTP_CODE_NO_LEADER          "NO_LEADER" /* 503 */
#define AMK_HTTP_CODE_TIMEOUT            "TIMEOUT"   /* 504: outcome unknown */
#define AMK_HTTP_CODE_INTERNAL           "INTERNAL"  /* 500 */

/* ---- Requests ---------------------------------------------------------- */

struct amk_http_param {
    const char *name;
    const char *value; /* percent-decoded, valid UTF-8, no NUL */
};

/* What a handler sees. Every string is NUL-terminated and owned by the
 * request: valid until the request is answered (amk_http_respond_*) or
 * turned into an event stream (amk_http_sse_start). Handlers read these
 * fields and must not change them, except `data`. */
struct amk_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* as received, without the query, not decoded */
    int http_version;   /* 0x100, 0x101, 0x200 */

    /* The route that matched. */
    const char *route_pattern; /* "/v1/incidents/{id}" */
    unsigned route_flags;      /* AMK_HTTP_ROUTE_* */
    void *route_data;          /* as given to amk_http_router_add() */

    size_t n_params; /* path {params}, in pattern order */
    const struct amk_http_param *params;
    size_t n_query; /* query parameters, in request order ('+' is a space) */
    const struct amk_http_param *query;

    /* Headers of interest, already validated (a malformed one is answered
     * with 400 INVALID before the handler runs). */
    const char *idempotency_key; /* Idempotency-Key, 1..64 bytes, or NULL */
    bool has_if_match;           /* If-Match: "N" */
    uint64_t if_match;
    const char *session;    /* X-Amk-Session, 1..64 bytes, or NULL */
    bool has_last_event_id; /* Last-Event-ID: N */
    uint64_t last_event_id;
    const char *accept;        /* Accept, or NULL */
    bool accepts_event_stream; /* Accept names text/event-stream */

    /* The body parsed by jansson (Content-Type JSON, or absent with a
     * non-empty body), within the limits; NULL when there is none. Borrowed:
     * json_incref() to keep it past the answer. */
    json_t *body;

    void *data; /* free for the handler, e.g. its pending operation */
};

/* The value of path parameter / query parameter `name`, or NULL. */
const char *amk_http_request_param(const struct amk_http_request *req,
                                   const char *name);
/* Writes "IP:port" (IPv6 as "[IP]:port") of the client that sent req into
 * buf (size bytes; 64 hold any), or "" when unknown. */
void amk_http_request_peer(const struct amk_http_request *req, char *buf,
                           size_t size);

const char *amk_http_request_query(const struct amk_http_request *req,
                                   const char *name);

/* False once the client has gone (disconnect, stream reset) or the server
 * answered on the handler's behalf (close deadline): an answer would be
 * dropped. */
bool amk_http_request_alive(const struct amk_http_request *req);

/* ---- Handlers and the router ------------------------------------------- */

/* What a handler returns. */
enum amk_http_handler_result {
    AMK_HTTP_DONE = 0, /* answered (amk_http_respond_* or amk_http_sse_start
                          was called before returning) */
    AMK_HTTP_PENDING,  /* will answer later: the handler keeps `req` and must
                          call exactly one amk_http_respond_* (or
                          amk_http_sse_start) on it, even if the client has
                          gone by then (the call then only releases it) */
};

typedef int (*amk_http_handler_fn)(struct amk_http_request *req);

/* Route flags. */
enum {
    AMK_HTTP_ROUTE_WRITE = 1u << 0,         /* changes state (a write) */
    AMK_HTTP_ROUTE_BODY_REQUIRED = 1u << 1, /* a JSON object body is needed */
    AMK_HTTP_ROUTE_BODY_ANY_JSON = 1u << 2, /* the body may be any JSON value;
                                               by default a body, when sent,
                                               must be a JSON object */
};

struct amk_http_router;

/* Creates an empty router; NULL when out of memory. The caller owns it and
 * frees it with amk_http_router_free() after every server using it closed. */
struct amk_http_router *amk_http_router_new(void);
void amk_http_router_free(struct amk_http_router *router);

/* Adds a route. `pattern` is an absolute path whose segments are literals or
 * {name} parameters ("/v1/incidents/{id}/notes"). A literal segment wins over
 * a parameter at the same position. Patterns with the same shape (differing
 * only in parameter names) conflict. Copies method and pattern. Returns
 * AMK_HTTP_EINVAL with errmsg set for a bad pattern, a duplicate route, or a
 * router already in use by a server; AMK_HTTP_ENOMEM. */
int amk_http_router_add(struct amk_http_router *router, const char *method,
                        const char *pattern, amk_http_handler_fn handler,
                        unsigned flags, void *data, char *errmsg);

/* Splits `path` (absolute, no query) in place into percent-decoded segments:
 * segments[i] point into path. "/" has no segment; an empty segment ("//",
 * trailing "/") is kept as "". Returns AMK_HTTP_EINVAL with errmsg for a
 * path not starting with '/', more than AMK_HTTP_MAX_SEGMENTS segments, bad
 * percent-encoding, a decoded NUL or invalid UTF-8. */
int amk_http_router_split(char *path, char **segments, size_t *n_segments,
                          char *errmsg);

enum amk_http_match_result {
    AMK_HTTP_MATCH_FOUND = 0,
    AMK_HTTP_MATCH_NO_PATH,   /* 404 */
    AMK_HTTP_MATCH_NO_METHOD, /* 405: `allow` lists the methods */
};

struct amk_http_match {
    size_t route_index; /* FOUND: registration order */
    const char *pattern;
    unsigned flags;
    amk_http_handler_fn handler;
    void *data;
    size_t n_params;
    struct amk_http_param params[AMK_HTTP_MAX_PARAMS]; /* into segments */
    char allow[128]; /* NO_METHOD: "GET, POST" */
};

/* Matches a request's segments (from amk_http_router_split) against the
 * routes: the most specific pattern that fits the path decides (its literal
 * segments leftmost), then the method. Parameters never match an empty
 * segment. match->params point into segments; strings in match are owned by
 * the router. */
int amk_http_router_match(const struct amk_http_router *router,
                          const char *method, char *const *segments,
                          size_t n_segments, struct amk_http_match *match);

/* ---- The server -------------------------------------------------------- */

struct amk_http_limits {
    size_t max_body;             /* request body bytes; 1 MiB (413) */
    unsigned max_json_depth;     /* nested arrays/objects; 32 (400) */
    size_t max_json_string;      /* bytes of any JSON string or key; 64 KiB */
    unsigned max_connections;    /* 1024; the next 64 get 503 and are closed,
                                    beyond that they are closed at once */
    uint64_t request_timeout_ms; /* HTTP/1: receive a whole request (headers
                                    and body), and keep-alive idle; 10 s */
    uint64_t http2_idle_timeout_ms;    /* 10 s */
    uint64_t tls_handshake_timeout_ms; /* 10 s */
    size_t sse_buffer; /* bytes queued per event stream before the stream is
                          ended with "event: resync"; 1 MiB; >= 128 */
    uint64_t sse_heartbeat_ms; /* ":" comment on a quiet stream; 15 s; 0 off */
    uint64_t disconnect_check_ms; /* how often a pending HTTP/1 request is
                                     checked for a closed client; 1 s; 0 off */
};

/* The raft index an answer reflects (X-Amk-Index) when the handler did not
 * set one: called for every response. */
typedef uint64_t (*amk_http_index_fn)(void *data);

enum { AMK_HTTP_LOG_ERROR = 0, AMK_HTTP_LOG_WARN, AMK_HTTP_LOG_INFO };
typedef void (*amk_http_log_fn)(void *data, int level, const char *message);

/* One request as answered, for an access log. Everything is borrowed for
 * the duration of the call. */
struct amk_http_access {
    const char *method; /* as received */
    size_t method_len;
    const char *target; /* path and query, as received (not decoded) */
    size_t target_len;
    const char *route;   /* the matched pattern, or NULL */
    const char *session; /* X-Amk-Session as validated, or NULL */
    /* The request, for amk_http_request_peer (NULL outside the framework):
     * the client's address is looked up only for what is recorded. */
    const struct amk_http_request *request;
    int status;     /* answered status; 200 for an event stream */
    uint64_t index; /* X-Amk-Index sent */
    bool stream;    /* an event stream began (its headers were sent) */
};
/* Called on the loop once per request the framework answers through a
 * handler or its own checks (not for h2o's internal errors), when the
 * answer's head is sent; an event stream is reported when it starts. */
typedef void (*amk_http_access_fn)(void *data,
                                   const struct amk_http_access *access);

struct amk_http_config {
    const char *address; /* "127.0.0.1:8001" or "[::1]:8001"; IP literals
                            only; port 0 picks a free port */
    struct amk_http_router *router; /* borrowed, outlives the server; it
                                       takes no more routes while in use */
    SSL_CTX *ssl_ctx; /* NULL: plaintext. Borrowed, outlives the server;
                         ALPN (h2, http/1.1) is registered on it */
    amk_http_index_fn applied_index; /* NULL: X-Amk-Index 0 */
    void *applied_index_data;
    amk_http_log_fn log; /* NULL: silent */
    void *log_data;
    amk_http_access_fn access; /* NULL: none */
    void *access_data;
    struct amk_http_limits limits;
};

/* Fills limits with the defaults above, everything else zero. A zero size
 * or timeout limit (other than those where 0 means off) is refused by
 * amk_http_open with AMK_HTTP_EINVAL. */
void amk_http_config_default(struct amk_http_config *config);

struct amk_http;

/* Starts listening on config->address. The process must ignore SIGPIPE (as
 * every libuv server must): a write to a client that left would kill it.
 * On success *out is the server, owned by the caller until amk_http_close()
 * calls back. On failure returns
 * AMK_HTTP_EINVAL (bad address or config) or AMK_HTTP_ELISTEN with errmsg
 * (AMK_HTTP_ERRMSG_SIZE bytes) like "listen 127.0.0.1:8001: address already
 * in use", *out is NULL and no callback ever fires. */
int amk_http_open(struct amk_http **out, uv_loop_t *loop,
                  const struct amk_http_config *config, char *errmsg);

/* The bound port (useful with port 0). */
uint16_t amk_http_port(const struct amk_http *http);

typedef void (*amk_http_close_cb)(void *data);

/* Graceful close: stops accepting at once, asks HTTP/2 clients to go away,
 * ends event streams, closes idle connections, and lets in-flight requests
 * finish. Requests still pending after deadline_ms are answered 504 TIMEOUT
 * on the handler's behalf (the handler's own answer then only releases the
 * request); a second later any connection left is cut. When every handle is
 * closed, the server is freed and cb(data) runs, never from inside this
 * call. Call once. */
void amk_http_close(struct amk_http *http, uint64_t deadline_ms,
                    amk_http_close_cb cb, void *data);

/* Appends the Prometheus text of the server's metrics (requests by route and
 * status class, latency histograms, connections, event streams) to *buf
 * (malloc'd, NUL-terminated, *len excludes the NUL; *buf may be NULL). The
 * caller frees *buf. Returns AMK_HTTP_ENOMEM leaving *buf as it was. */
int amk_http_metrics_append(const struct amk_http *http, char **buf,
                            size_t *len);

/* ---- Answers ------------------------------------------------------------
 * Each amk_http_respond_* answers the request and, for a pending request,
 * releases it: `req` must not be used afterwards. Every response carries
 * X-Amk-Index and, for JSON, Content-Type: application/json; charset=utf-8.
 * They return 0, or AMK_HTTP_EGONE when the client had gone (the answer is
 * dropped). Headers must be set before the answer. */

/* Sends `body` (reference stolen, may be NULL for "{}"). */
int amk_http_respond_json(struct amk_http_request *req, int status,
                          json_t *body);

/* Sends a pre-rendered JSON text (copied). */
int amk_http_respond_json_text(struct amk_http_request *req, int status,
                               const char *json, size_t len);

/* Sends any other body (e.g. Prometheus text), copied. Do not answer an
 * error with exactly "text/plain; charset=utf-8": that is how h2o's own
 * errors are recognised and turned into JSON. */
int amk_http_respond_text(struct amk_http_request *req, int status,
                          const char *content_type, const char *body,
                          size_t len);

/* Sends a body-less answer (e.g. 204). */
int amk_http_respond_status(struct amk_http_request *req, int status);

/* Sends {"error": {"code": amk_code_name(code), "message": message, ...}}
 * with amk_code_http_status(code). `extra` (reference stolen, may be NULL)
 * is an object whose fields join code and message (owner, epoch, version).
 * NULL message uses the code's name. */
int amk_http_respond_error(struct amk_http_request *req, int code,
                           const char *message, json_t *extra);

/* The same with an explicit status and wire code, for codes of the HTTP
 * layer (AMK_HTTP_CODE_NO_LEADER, ...). */
int amk_http_respond_error_status(struct amk_http_request *req, int status,
                                  const char *code_name, const char *message,
                                  json_t *extra);

/* Headers for the coming answer. name is lower-cased; both are copied. */
void amk_http_respond_set_header(struct amk_http_request *req, const char *name,
                                 const char *value);
void amk_http_respond_set_etag(struct amk_http_request *req,
                               uint64_t version); /* ETag: "N" */
void amk_http_respond_set_retry_after(struct amk_http_request *req,
                                      unsigned seconds);
void amk_http_respond_set_location(struct amk_http_request *req,
                                   const char *location);
/* X-Amk-Index for this answer, instead of the server's applied index. */
void amk_http_respond_set_index(struct amk_http_request *req, uint64_t index);

/* ---- Server-Sent Events ------------------------------------------------ */

struct amk_http_sse;

/* Answers `req` with 200 text/event-stream and turns it into a stream. The
 * request is consumed in every case. On success *out is the stream, owned
 * by the caller until amk_http_sse_close(). AMK_HTTP_EGONE when the client
 * had gone (*out NULL). */
int amk_http_sse_start(struct amk_http_request *req, struct amk_http_sse **out);

/* Queues one pre-rendered SSE message ("id: 7\ndata: {...}\n\n"), copied.
 * Returns AMK_HTTP_EGONE when the stream is no longer open (client gone,
 * ended, server closing), AMK_HTTP_EFULL when the queue would exceed
 * limits.sse_buffer: the queue is then dropped and the stream ended with
 * "event: resync", so the client resumes from its Last-Event-ID. */
int amk_http_sse_push(struct amk_http_sse *sse, const char *message,
                      size_t len);

/* Whether pushes still reach the client. */
bool amk_http_sse_alive(const struct amk_http_sse *sse);

/* Ends the stream (after what is queued) if still open, and releases it. */
void amk_http_sse_close(struct amk_http_sse *sse);

#endif
