/* tests/unit/api/test_http.c: the HTTP framework end to end. Each test
 * starts a server on 127.0.0.1 (ephemeral port) whose libuv loop runs in a
 * background thread, registers dummy routes (sync JSON, async answered from
 * a uv timer, path and query parameters, event streams), and talks raw
 * HTTP/1.1 to it over plain sockets with the tiny client below. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "api/http.h"
#include "sm/error.h"

/* ======================================================================
 * A tiny HTTP/1.1 client: raw requests out, responses with Content-Length
 * or chunked bodies in. Test code, not product code.
 * ====================================================================== */

struct client {
    int fd;
    char buf[1 << 16];
    size_t len;
};

struct response {
    int status;
    char head[8192]; /* raw header block, NUL-terminated */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_len;
};

static int client_connect(uint16_t port, struct client *c)
{
    struct sockaddr_in addr;
    struct timeval tv = {5, 0};
    int one = 1;

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int err = errno;
        close(c->fd);
        c->fd = -1;
        return err;
    }
    return 0;
}

static void client_close(struct client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static void client_send(struct client *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void client_sendf(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void client_sendf(struct client *c, const char *fmt, ...)
{
    char text[16384];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    client_send(c, text, (size_t)n);
}

/* Reads more into the buffer: > 0 bytes, 0 at EOF, -1 on error/timeout. */
static ssize_t client_fill(struct client *c)
{
    ssize_t n;
    assert_true(c->len < sizeof(c->buf));
    do {
        n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        c->len += (size_t)n;
    }
    return n;
}

static void client_consume(struct client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Index just past the CRLF of the first line in the buffer, reading more as
 * needed; 0 on EOF. */
static size_t client_line(struct client *c)
{
    for (;;) {
        char *crlf = memmem(c->buf, c->len, "\r\n", 2);
        if (crlf != NULL) {
            return (size_t)(crlf - c->buf) + 2;
        }
        if (client_fill(c) <= 0) {
            return 0;
        }
    }
}

static void body_append(struct response *r, const char *data, size_t len)
{
    r->body = realloc(r->body, r->body_len + len + 1);
    assert_non_null(r->body);
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

static const char *header(const struct response *r, const char *name,
                          char *value, size_t size)
{
    const char *line = strstr(r->head, "\r\n");
    size_t name_len = strlen(name);
    while (line != NULL && line[2] != '\0') {
        const char *start = line + 2;
        const char *end = strstr(start, "\r\n");
        if (end == NULL) {
            break;
        }
        if ((size_t)(end - start) > name_len && start[name_len] == ':' &&
            strncasecmp(start, name, name_len) == 0) {
            const char *v = start + name_len + 1;
            size_t n;
            while (*v == ' ') {
                v++;
            }
            n = (size_t)(end - v);
            if (n >= size) {
                n = size - 1;
            }
            memcpy(value, v, n);
            value[n] = '\0';
            return value;
        }
        line = end;
    }
    return NULL;
}

static bool has_header(const struct response *r, const char *name)
{
    char value[256];
    return header(r, name, value, sizeof(value)) != NULL;
}

/* Reads the status line and headers. 0, or -1 when the connection closed
 * (or timed out) first. */
static int client_read_head(struct client *c, struct response *r)
{
    char *end;
    size_t head_len;

    memset(r, 0, sizeof(*r));
    for (;;) {
        end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end != NULL) {
            break;
        }
        if (client_fill(c) <= 0) {
            return -1;
        }
    }
    head_len = (size_t)(end - c->buf) + 4;
    assert_true(head_len < sizeof(r->head));
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    client_consume(c, head_len);
    assert_int_equal(sscanf(r->head, "HTTP/1.%*d %d", &r->status), 1);
    return 0;
}

/* Reads one chunk of a chunked body into r: its size, 0 at the end, -1 on
 * a closed connection. */
static long client_read_chunk(struct client *c, struct response *r)
{
    size_t line = client_line(c);
    unsigned long size;

    if (line == 0) {
        return -1;
    }
    size = strtoul(c->buf, NULL, 16);
    client_consume(c, line);
    while (c->len < size + 2) {
        if (client_fill(c) <= 0) {
            return -1;
        }
    }
    body_append(r, c->buf, size);
    client_consume(c, size + 2);
    return (long)size;
}

static int client_read(struct client *c, struct response *r, bool head_only)
{
    char value[64];

    if (client_read_head(c, r) != 0) {
        return -1;
    }
    body_append(r, "", 0);
    if (head_only || r->status == 204) {
        return 0;
    }
    if (header(r, "content-length", value, sizeof(value)) != NULL) {
        size_t want = strtoul(value, NULL, 10);
        while (c->len < want) {
            if (client_fill(c) <= 0) {
                return -1;
            }
        }
        body_append(r, c->buf, want);
        client_consume(c, want);
    } else if (header(r, "transfer-encoding", value, sizeof(value)) != NULL) {
        long n;
        while ((n = client_read_chunk(c, r)) > 0) {
        }
        if (n < 0) {
            return -1;
        }
        assert_true(client_line(c) == 2); /* the empty trailer */
        client_consume(c, 2);
    } else {
        while (client_fill(c) > 0) {
        }
        body_append(r, c->buf, c->len);
        c->len = 0;
    }
    return 0;
}

static void response_free(struct response *r)
{
    free(r->body);
    r->body = NULL;
}

/* Every response carries X-Amk-Index; returns it. */
static unsigned long long index_of(const struct response *r)
{
    char value[64];
    if (header(r, "x-amk-index", value, sizeof(value)) == NULL) {
        fail_msg("no X-Amk-Index in:\n%s", r->head);
    }
    return strtoull(value, NULL, 10);
}

static json_t *body_json(const struct response *r)
{
    json_error_t error;
    char value[128];
    json_t *json = json_loads(r->body, 0, &error);
    if (json == NULL) {
        fail_msg("body is not JSON (%s): %s", error.text, r->body);
    }
    assert_non_null(header(r, "content-type", value, sizeof(value)));
    assert_string_equal(value, "application/json; charset=utf-8");
    return json;
}

/* The error code of an error body; asserts the shape. */
static const char *error_code(json_t *json)
{
    json_t *error = json_object_get(json, "error");
    assert_true(json_is_object(error));
    assert_true(json_is_string(json_object_get(error, "message")));
    assert_true(json_is_string(json_object_get(error, "code")));
    return json_string_value(json_object_get(error, "code"));
}

static const char *error_message(json_t *json)
{
    return json_string_value(
        json_object_get(json_object_get(json, "error"), "message"));
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int count_fds(void)
{
    int n = 0;
    int fd;
    for (fd = 0; fd < 1024; fd++) {
        if (fcntl(fd, F_GETFD) != -1) {
            n++;
        }
    }
    return n;
}

/* ======================================================================
 * The server under test, its loop in a thread, and the dummy routes.
 * ====================================================================== */

struct fixture {
    struct amk_http_config config;
    uv_loop_t loop;
    uv_async_t wake;
    uv_mutex_t lock;
    struct amk_http_router *router;
    struct amk_http *http;
    uint16_t port;

    /* Commands to the loop thread, under lock. */
    bool want_close;
    uint64_t close_deadline_ms;
    bool want_metrics;

    /* Observations, from the loop thread. */
    atomic_int closed;
    atomic_int slow_rv;   /* what the late answer of /slow returned */
    atomic_int ticker_rv; /* what the last push of /ticker returned */
    atomic_int flood_rv;
    atomic_int never_rv; /* /never answered after the server closed */
    atomic_int events_done;
    atomic_ullong applied_index;
    char metrics[65536]; /* under lock */
    atomic_int metrics_ready;

    struct amk_http_request *never; /* loop thread only */
    int fds_before;
};

static uint64_t applied_index(void *data)
{
    struct fixture *f = data;
    return atomic_load(&f->applied_index);
}

/* A uv timer that finishes something for a handler. */
struct later {
    uv_timer_t timer;
    struct fixture *f;
    struct amk_http_request *req;
    struct amk_http_sse *sse;
    int count;
};

static void later_free(uv_handle_t *handle)
{
    free(handle->data);
}

static void later_stop(struct later *later)
{
    uv_timer_stop(&later->timer);
    uv_close((uv_handle_t *)&later->timer, later_free);
}

static struct later *later_start(struct fixture *f, uv_timer_cb cb,
                                 uint64_t timeout, uint64_t repeat)
{
    struct later *later = calloc(1, sizeof(*later));
    assert_non_null(later);
    later->f = f;
    uv_timer_init(&f->loop, &later->timer);
    later->timer.data = later;
    uv_timer_start(&later->timer, cb, timeout, repeat);
    return later;
}

static struct fixture *fixture_of(struct amk_http_request *req)
{
    return req->route_data;
}

static int route_sync(struct amk_http_request *req)
{
    json_t *body = json_pack("{s:b,s:s,s:s}", "ok", 1, "method", req->method,
                             "path", req->path);
    amk_http_respond_json(req, 200, body);
    return AMK_HTTP_DONE;
}

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static int route_echo(struct amk_http_request *req)
{
    json_t *body = json_object();
    json_object_set(body, "body", req->body);
    json_object_set_new(body, "idempotency_key",
                        string_or_null(req->idempotency_key));
    json_object_set_new(body, "if_match",
                        req->has_if_match
                            ? json_integer((json_int_t)req->if_match)
                            : json_null());
    json_object_set_new(body, "session", string_or_null(req->session));
    json_object_set_new(body, "last_event_id",
                        req->has_last_event_id
                            ? json_integer((json_int_t)req->last_event_id)
                            : json_null());
    json_object_set_new(body, "event_stream",
                        json_boolean(req->accepts_event_stream));
    json_object_set_new(body, "write",
                        json_boolean(req->route_flags & AMK_HTTP_ROUTE_WRITE));
    amk_http_respond_set_etag(req, 12);
    amk_http_respond_set_location(req, "/v1/things/1");
    amk_http_respond_json(req, 201, body);
    return AMK_HTTP_DONE;
}

static int route_params(struct amk_http_request *req)
{
    json_t *body = json_pack(
        "{s:s,s:s,s:i}", "id", amk_http_request_param(req, "id"), "note",
        amk_http_request_param(req, "note"), "n", (int)req->n_params);
    amk_http_respond_json(req, 200, body);
    return AMK_HTTP_DONE;
}

static int route_query(struct amk_http_request *req)
{
    json_t *body =
        json_pack("{s:o,s:o,s:o,s:i}", "a",
                  string_or_null(amk_http_request_query(req, "a")), "b",
                  string_or_null(amk_http_request_query(req, "b")), "missing",
                  string_or_null(amk_http_request_query(req, "zz")), "n",
                  (int)req->n_query);
    amk_http_respond_json(req, 200, body);
    return AMK_HTTP_DONE;
}

static void async_fire(uv_timer_t *timer)
{
    struct later *later = timer->data;
    amk_http_respond_set_index(later->req, 777);
    amk_http_respond_set_etag(later->req, 5);
    amk_http_respond_json_text(later->req, 200, "{\"async\":true}", 14);
    later_stop(later);
}

static int route_async(struct amk_http_request *req)
{
    struct later *later = later_start(fixture_of(req), async_fire, 50, 0);
    later->req = req;
    return AMK_HTTP_PENDING;
}

static void slow_fire(uv_timer_t *timer)
{
    struct later *later = timer->data;
    atomic_store(
        &later->f->slow_rv,
        amk_http_respond_json(later->req, 200, json_pack("{s:b}", "slow", 1)));
    later_stop(later);
}

static int route_slow(struct amk_http_request *req)
{
    struct later *later = later_start(fixture_of(req), slow_fire, 300, 0);
    later->req = req;
    return AMK_HTTP_PENDING;
}

static int route_never(struct amk_http_request *req)
{
    fixture_of(req)->never = req;
    return AMK_HTTP_PENDING;
}

static int route_forgets(struct amk_http_request *req)
{
    (void)req;
    return AMK_HTTP_DONE; /* a bug: the framework answers 500 */
}

static int route_error(struct amk_http_request *req)
{
    amk_http_respond_error(
        req, AMK_ESTALE_EPOCH, "fenced",
        json_pack("{s:s,s:i}", "owner", "bergen", "epoch", 4));
    return AMK_HTTP_DONE;
}

static int route_no_content(struct amk_http_request *req)
{
    amk_http_respond_status(req, 204);
    return AMK_HTTP_DONE;
}

static int route_metrics(struct amk_http_request *req)
{
    struct fixture *f = fixture_of(req);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(amk_http_metrics_append(f->http, &text, &len), 0);
    amk_http_respond_text(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
    return AMK_HTTP_DONE;
}

static void events_fire(uv_timer_t *timer)
{
    struct later *later = timer->data;
    if (later->count++ == 0) {
        assert_int_equal(
            amk_http_sse_push(later->sse, "id: 4\ndata: four\n\n", 18), 0);
        return;
    }
    amk_http_sse_close(later->sse);
    atomic_store(&later->f->events_done, 1);
    later_stop(later);
}

static int route_events(struct amk_http_request *req)
{
    struct fixture *f = fixture_of(req);
    struct amk_http_sse *sse;
    struct later *later;
    char message[64];
    int i;

    if (!req->accepts_event_stream) {
        amk_http_respond_json(req, 200, NULL);
        return AMK_HTTP_DONE;
    }
    assert_int_equal(amk_http_sse_start(req, &sse), 0);
    for (i = 1; i <= 3; i++) {
        int n =
            snprintf(message, sizeof(message), "id: %d\ndata: %d\n\n", i, i);
        assert_int_equal(amk_http_sse_push(sse, message, (size_t)n), 0);
    }
    later = later_start(f, events_fire, 30, 30);
    later->sse = sse;
    return AMK_HTTP_DONE;
}

static int route_flood(struct amk_http_request *req)
{
    struct fixture *f = fixture_of(req);
    struct amk_http_sse *sse;
    char message[100];
    int i, rv = 0;

    assert_int_equal(amk_http_sse_start(req, &sse), 0);
    memset(message, 'x', sizeof(message));
    memcpy(message, "data: ", 6);
    message[98] = '\n';
    message[99] = '\n';
    for (i = 0; i < 1000 && rv == 0; i++) {
        rv = amk_http_sse_push(sse, message, sizeof(message));
    }
    atomic_store(&f->flood_rv, rv);
    assert_false(amk_http_sse_alive(sse));
    assert_int_equal(amk_http_sse_push(sse, message, sizeof(message)),
                     AMK_HTTP_EGONE);
    amk_http_sse_close(sse);
    return AMK_HTTP_DONE;
}

static void ticker_fire(uv_timer_t *timer)
{
    struct later *later = timer->data;
    int rv = amk_http_sse_push(later->sse, "data: tick\n\n", 12);
    atomic_store(&later->f->ticker_rv, rv);
    if (rv != 0) {
        assert_false(amk_http_sse_alive(later->sse));
        amk_http_sse_close(later->sse);
        later_stop(later);
    }
}

static int route_ticker(struct amk_http_request *req)
{
    struct amk_http_sse *sse;
    struct later *later;

    assert_int_equal(amk_http_sse_start(req, &sse), 0);
    later = later_start(fixture_of(req), ticker_fire, 0, 20);
    later->sse = sse;
    return AMK_HTTP_DONE;
}

static void quiet_fire(uv_timer_t *timer)
{
    struct later *later = timer->data;
    amk_http_sse_close(later->sse);
    later_stop(later);
}

static int route_quiet(struct amk_http_request *req)
{
    struct amk_http_sse *sse;
    struct later *later;

    assert_int_equal(amk_http_sse_start(req, &sse), 0);
    later = later_start(fixture_of(req), quiet_fire, 350, 0);
    later->sse = sse;
    return AMK_HTTP_DONE;
}

static void add_route(struct fixture *f, const char *method,
                      const char *pattern, amk_http_handler_fn fn,
                      unsigned flags)
{
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    if (amk_http_router_add(f->router, method, pattern, fn, flags, f, errmsg) !=
        0) {
        fail_msg("%s", errmsg);
    }
}

static void on_closed(void *data)
{
    struct fixture *f = data;
    f->http = NULL;
    /* The server is gone: a late answer must be a harmless no-op. */
    if (f->never != NULL) {
        atomic_store(&f->never_rv,
                     amk_http_respond_json(f->never, 200, json_object()));
        f->never = NULL;
    }
    atomic_store(&f->closed, 1);
    uv_close((uv_handle_t *)&f->wake, NULL);
}

static void on_wake(uv_async_t *async)
{
    struct fixture *f = async->data;
    bool close, metrics;
    uint64_t deadline;

    uv_mutex_lock(&f->lock);
    close = f->want_close;
    deadline = f->close_deadline_ms;
    metrics = f->want_metrics;
    f->want_close = f->want_metrics = false;
    uv_mutex_unlock(&f->lock);

    if (metrics && f->http != NULL) {
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(amk_http_metrics_append(f->http, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        uv_mutex_lock(&f->lock);
        snprintf(f->metrics, sizeof(f->metrics), "%s", text);
        uv_mutex_unlock(&f->lock);
        free(text);
        atomic_store(&f->metrics_ready, 1);
    }
    if (close && f->http != NULL) {
        amk_http_close(f->http, deadline, on_closed, f);
        assert_int_equal(atomic_load(&f->closed), 0); /* never inline */
    }
}

/* h2o keeps per-thread caches of freed memory (its recycle bins) and never
 * empties them: a loop thread that exits leaks them (LeakSanitizer says so).
 * So one runner thread, parked between tests and still alive at exit, runs
 * every test's loop. */
static struct {
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    uv_loop_t *loop; /* to run; NULL while idle */
    bool done;
} runner;

static void runner_main(void *arg)
{
    (void)arg;
    for (;;) {
        uv_loop_t *loop;
        uv_mutex_lock(&runner.lock);
        while (runner.loop == NULL) {
            uv_cond_wait(&runner.cond, &runner.lock);
        }
        loop = runner.loop;
        uv_mutex_unlock(&runner.lock);

        uv_run(loop, UV_RUN_DEFAULT);

        uv_mutex_lock(&runner.lock);
        runner.loop = NULL;
        runner.done = true;
        uv_cond_broadcast(&runner.cond);
        uv_mutex_unlock(&runner.lock);
    }
}

static void runner_run(uv_loop_t *loop)
{
    uv_mutex_lock(&runner.lock);
    runner.loop = loop;
    runner.done = false;
    uv_cond_broadcast(&runner.cond);
    uv_mutex_unlock(&runner.lock);
}

/* Waits until the loop given to runner_run() ran out of handles. */
static void runner_wait(void)
{
    uv_mutex_lock(&runner.lock);
    while (!runner.done) {
        uv_cond_wait(&runner.cond, &runner.lock);
    }
    uv_mutex_unlock(&runner.lock);
}

/* Variants of the server's configuration, one per prestate. */
enum variant {
    VARIANT_DEFAULT = 0,
    VARIANT_FEW_CONNECTIONS,
    VARIANT_SHORT_TIMEOUT
};
static const enum variant variant_default = VARIANT_DEFAULT;
static const enum variant variant_few = VARIANT_FEW_CONNECTIONS;
static const enum variant variant_short_timeout = VARIANT_SHORT_TIMEOUT;

static int setup(void **state)
{
    const enum variant *variant = *state;
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[AMK_HTTP_ERRMSG_SIZE];

    assert_non_null(f);
    f->router = amk_http_router_new();
    add_route(f, "GET", "/sync", route_sync, 0);
    add_route(f, "POST", "/echo", route_echo,
              AMK_HTTP_ROUTE_WRITE | AMK_HTTP_ROUTE_BODY_REQUIRED);
    add_route(f, "PUT", "/echo", route_echo, AMK_HTTP_ROUTE_BODY_ANY_JSON);
    add_route(f, "GET", "/items/{id}/notes/{note}", route_params, 0);
    add_route(f, "DELETE", "/items/{id}/notes/{note}", route_params, 0);
    add_route(f, "GET", "/query", route_query, 0);
    add_route(f, "GET", "/async", route_async, 0);
    add_route(f, "GET", "/slow", route_slow, 0);
    add_route(f, "GET", "/never", route_never, 0);
    add_route(f, "GET", "/forgets", route_forgets, 0);
    add_route(f, "GET", "/error", route_error, 0);
    add_route(f, "DELETE", "/no-content", route_no_content, 0);
    add_route(f, "GET", "/metrics", route_metrics, 0);
    add_route(f, "GET", "/events", route_events, 0);
    add_route(f, "GET", "/flood", route_flood, 0);
    add_route(f, "GET", "/ticker", route_ticker, 0);
    add_route(f, "GET", "/quiet", route_quiet, 0);

    amk_http_config_default(&f->config);
    f->config.address = "127.0.0.1:0";
    f->config.router = f->router;
    f->config.applied_index = applied_index;
    f->config.applied_index_data = f;
    f->config.limits.sse_buffer = 2048;
    f->config.limits.sse_heartbeat_ms = 100;
    f->config.limits.disconnect_check_ms = 20;
    if (variant != NULL && *variant == VARIANT_FEW_CONNECTIONS) {
        f->config.limits.max_connections = 2;
    }
    if (variant != NULL && *variant == VARIANT_SHORT_TIMEOUT) {
        f->config.limits.request_timeout_ms = 200;
    }
    atomic_store(&f->applied_index, 42);
    atomic_store(&f->slow_rv, -1);
    atomic_store(&f->ticker_rv, -1);
    atomic_store(&f->flood_rv, -1);
    atomic_store(&f->never_rv, -1);

    f->fds_before = count_fds();
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_mutex_init(&f->lock), 0);
    assert_int_equal(uv_async_init(&f->loop, &f->wake, on_wake), 0);
    f->wake.data = f;
    if (amk_http_open(&f->http, &f->loop, &f->config, errmsg) != 0) {
        fail_msg("open: %s", errmsg);
    }
    f->port = amk_http_port(f->http);
    assert_true(f->port != 0);
    runner_run(&f->loop);
    *state = f;
    return 0;
}

static void request_close(struct fixture *f, uint64_t deadline_ms)
{
    uv_mutex_lock(&f->lock);
    f->want_close = true;
    f->close_deadline_ms = deadline_ms;
    uv_mutex_unlock(&f->lock);
    uv_async_send(&f->wake);
}

static bool wait_for(atomic_int *flag, int value, unsigned timeout_ms)
{
    unsigned waited = 0;
    while (atomic_load(flag) != value && waited < timeout_ms) {
        sleep_ms(5);
        waited += 5;
    }
    return atomic_load(flag) == value;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (!atomic_load(&f->closed)) {
        request_close(f, 1000);
    }
    assert_true(wait_for(&f->closed, 1, 10000));
    runner_wait(); /* the loop ran out of handles */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(count_fds(), f->fds_before); /* no socket left open */
    uv_mutex_destroy(&f->lock);
    amk_http_router_free(f->router);
    free(f);
    return 0;
}

/* One request on a fresh connection. */
static void roundtrip(struct fixture *f, const char *request,
                      struct response *r)
{
    struct client c;
    assert_int_equal(client_connect(f->port, &c), 0);
    client_send(&c, request, strlen(request));
    assert_int_equal(client_read(&c, r, false), 0);
    client_close(&c);
    (void)index_of(r);
}

static void post_json(struct fixture *f, const char *headers, const char *body,
                      size_t len, struct response *r)
{
    struct client c;
    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c,
                 "POST /echo HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n"
                 "\r\n",
                 headers, len);
    client_send(&c, body, len);
    assert_int_equal(client_read(&c, r, false), 0);
    client_close(&c);
    (void)index_of(r);
}

/* ======================================================================
 * Tests
 * ====================================================================== */

static void test_sync_json_keepalive(void **state)
{
    struct fixture *f = *state;
    struct client c;
    struct response r;
    json_t *json;
    int i;

    assert_int_equal(client_connect(f->port, &c), 0);
    for (i = 0; i < 3; i++) { /* keep-alive: three on one connection */
        client_sendf(&c, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(client_read(&c, &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(index_of(&r), 42);
        json = body_json(&r);
        assert_true(json_is_true(json_object_get(json, "ok")));
        assert_string_equal(json_string_value(json_object_get(json, "method")),
                            "GET");
        json_decref(json);
        response_free(&r);
    }
    client_close(&c);

    atomic_store(&f->applied_index, 43);
    roundtrip(f, "GET /sync?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(index_of(&r), 43);
    json = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json, "path")),
                        "/sync");
    json_decref(json);
    response_free(&r);
}

static void test_not_found_and_method(void **state)
{
    struct fixture *f = *state;
    struct response r;
    char allow[128];
    json_t *json;

    roundtrip(f, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    json = body_json(&r);
    assert_string_equal(error_code(json), "NOT_FOUND");
    assert_non_null(strstr(error_message(json), "/nowhere"));
    json_decref(json);
    response_free(&r);

    roundtrip(f, "POST /sync HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
              &r);
    assert_int_equal(r.status, 405);
    assert_non_null(header(&r, "allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
    json = body_json(&r);
    assert_string_equal(error_code(json), "METHOD_NOT_ALLOWED");
    json_decref(json);
    response_free(&r);

    roundtrip(f, "PATCH /items/1/notes/2 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_non_null(header(&r, "allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET, DELETE");
    response_free(&r);

    /* h2o's own 404 never happens, but a bad percent-escape is ours. */
    roundtrip(f, "GET /items/%zz/notes/1 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 400);
    json = body_json(&r);
    assert_string_equal(error_code(json), "INVALID");
    json_decref(json);
    response_free(&r);
}

static void test_path_and_query_params(void **state)
{
    struct fixture *f = *state;
    struct response r;
    json_t *json;

    roundtrip(f, "GET /items/ab%20c/notes/n%C3%B8 HTTP/1.1\r\nHost: t\r\n\r\n",
              &r);
    assert_int_equal(r.status, 200);
    json = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json, "id")), "ab c");
    assert_string_equal(json_string_value(json_object_get(json, "note")),
                        "n\xc3\xb8");
    assert_int_equal(json_integer_value(json_object_get(json, "n")), 2);
    json_decref(json);
    response_free(&r);

    roundtrip(f,
              "GET /query?a=1%2B1&b=x+y&&flag&a=second HTTP/1.1\r\nHost: "
              "t\r\n\r\n",
              &r);
    assert_int_equal(r.status, 200);
    json = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json, "a")), "1+1");
    assert_string_equal(json_string_value(json_object_get(json, "b")), "x y");
    assert_true(json_is_null(json_object_get(json, "missing")));
    assert_int_equal(json_integer_value(json_object_get(json, "n")), 4);
    json_decref(json);
    response_free(&r);

    roundtrip(f, "GET /query?a=%ff HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 400);
    json = body_json(&r);
    assert_string_equal(error_code(json), "INVALID");
    assert_non_null(strstr(error_message(json), "query parameter a"));
    json_decref(json);
    response_free(&r);

    {
        char request[1024] = "GET /query?";
        int i;
        for (i = 0; i < 40; i++) {
            strcat(request, "k=v&");
        }
        strcat(request, " HTTP/1.1\r\nHost: t\r\n\r\n");
        roundtrip(f, request, &r);
        assert_int_equal(r.status, 400);
        response_free(&r);
    }
}

static void test_body_echo_and_headers(void **state)
{
    struct fixture *f = *state;
    struct response r;
    char value[128];
    json_t *json;
    const char *body = "{\"name\":\"Ola\",\"n\":[1,2,{\"x\":null}]}";

    post_json(f,
              "Content-Type: application/json\r\nIdempotency-Key: k-1\r\n"
              "If-Match: \"7\"\r\nX-Amk-Session: s-1\r\nLast-Event-ID: 99\r\n"
              "Accept: application/json, text/event-stream\r\n",
              body, strlen(body), &r);
    assert_int_equal(r.status, 201);
    assert_non_null(header(&r, "etag", value, sizeof(value)));
    assert_string_equal(value, "\"12\"");
    assert_non_null(header(&r, "location", value, sizeof(value)));
    assert_string_equal(value, "/v1/things/1");
    json = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json, "body"), "name")),
                        "Ola");
    assert_string_equal(
        json_string_value(json_object_get(json, "idempotency_key")), "k-1");
    assert_int_equal(json_integer_value(json_object_get(json, "if_match")), 7);
    assert_string_equal(json_string_value(json_object_get(json, "session")),
                        "s-1");
    assert_int_equal(json_integer_value(json_object_get(json, "last_event_id")),
                     99);
    assert_true(json_is_true(json_object_get(json, "event_stream")));
    assert_true(json_is_true(json_object_get(json, "write")));
    json_decref(json);
    response_free(&r);

    /* No Content-Type with a body: parsed as JSON. +json media types too. */
    post_json(f, "", "{}", 2, &r);
    assert_int_equal(r.status, 201);
    response_free(&r);
    post_json(f,
              "Content-Type: application/merge-patch+json; charset=utf-8\r\n",
              "{}", 2, &r);
    assert_int_equal(r.status, 201);
    response_free(&r);
}

struct bad_case {
    const char *headers;
    const char *body;
    int status;
    const char *code;
    const char *needle; /* in the message */
};

static void test_bad_inputs(void **state)
{
    static char deep_ok[256], deep_bad[256], long_key[70];
    static char *long_string;
    struct fixture *f = *state;
    size_t i;
    int depth;

    /* {"a":[[...]]} with 32 and 33 levels in all. */
    strcpy(deep_ok, "{\"a\":");
    strcpy(deep_bad, "{\"a\":");
    for (depth = 1; depth < 32; depth++) {
        strcat(deep_ok, "[");
    }
    for (depth = 1; depth < 33; depth++) {
        strcat(deep_bad, "[");
    }
    for (depth = 1; depth < 32; depth++) {
        strcat(deep_ok, "]");
    }
    for (depth = 1; depth < 33; depth++) {
        strcat(deep_bad, "]");
    }
    strcat(deep_ok, "}");
    strcat(deep_bad, "}");
    memset(long_key, 'k', 65);
    long_key[65] = '\0';
    long_string = malloc(70000);
    assert_non_null(long_string);
    strcpy(long_string, "{\"s\":\"");
    memset(long_string + 6, 'x', 64 * 1024 + 1);
    strcpy(long_string + 6 + 64 * 1024 + 1, "\"}");

    {
        char key_header[128];
        char ok_key_header[128];
        snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s\r\n",
                 long_key);
        long_key[64] = '\0';
        snprintf(ok_key_header, sizeof(ok_key_header),
                 "Idempotency-Key: %s\r\n", long_key);

        const struct bad_case cases[] = {
            {"", "{\"a\":", 400, "INVALID", "malformed JSON body"},
            {"", "{\"a\" 1}", 400, "INVALID", "line 1, column"},
            {"", "{\"a\":1,\"a\":2}", 400, "INVALID", "duplicate"},
            {"", "[1,2]", 400, "INVALID", "must be a JSON object"},
            {"", "\"text\"", 400, "INVALID", "must be a JSON object"},
            {"", deep_bad, 400, "INVALID", "deeper than 32"},
            {"", deep_ok, 201, NULL, NULL},
            {"", long_string, 400, "INVALID", "longer than 65536"},
            {"Content-Type: text/plain\r\n", "{}", 400, "INVALID",
             "Content-Type"},
            {key_header, "{}", 400, "INVALID", "Idempotency-Key"},
            {ok_key_header, "{}", 201, NULL, NULL},
            {"Idempotency-Key: a\r\nIdempotency-Key: b\r\n", "{}", 400,
             "INVALID", "more than once"},
            {"If-Match: 7\r\n", "{}", 400, "INVALID", "If-Match"},
            {"If-Match: W/\"7\"\r\n", "{}", 400, "INVALID", "If-Match"},
            {"If-Match: \"\"\r\n", "{}", 400, "INVALID", "If-Match"},
            {"If-Match: \"99999999999999999999\"\r\n", "{}", 400, "INVALID",
             "If-Match"},
            {"If-Match: \"18446744073709551615\"\r\n", "{}", 201, NULL, NULL},
            {"Last-Event-ID: x1\r\n", "{}", 400, "INVALID", "Last-Event-ID"},
            {"", "", 400, "INVALID", "request body required"},
        };

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct response r;
            post_json(f, cases[i].headers, cases[i].body, strlen(cases[i].body),
                      &r);
            if (r.status != cases[i].status) {
                fail_msg("case %zu: status %d, want %d: %s", i, r.status,
                         cases[i].status, r.body);
            }
            if (cases[i].code != NULL) {
                json_t *json = body_json(&r);
                assert_string_equal(error_code(json), cases[i].code);
                if (strstr(error_message(json), cases[i].needle) == NULL) {
                    fail_msg("case %zu: message '%s' lacks '%s'", i,
                             error_message(json), cases[i].needle);
                }
                json_decref(json);
            }
            response_free(&r);
        }
    }
    free(long_string);

    /* The malformed-JSON error carries line and column. */
    {
        struct response r;
        json_t *json, *error;
        post_json(f, "", "{\n \"a\": tru }", 13, &r);
        assert_int_equal(r.status, 400);
        json = body_json(&r);
        error = json_object_get(json, "error");
        assert_int_equal(json_integer_value(json_object_get(error, "line")), 2);
        assert_true(json_integer_value(json_object_get(error, "column")) > 0);
        json_decref(json);
        response_free(&r);
    }
    /* BODY_ANY_JSON takes arrays. */
    {
        struct client c;
        struct response r;
        assert_int_equal(client_connect(f->port, &c), 0);
        client_sendf(&c, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
                         "5\r\n\r\n[1,2]");
        assert_int_equal(client_read(&c, &r, false), 0);
        assert_int_equal(r.status, 201);
        response_free(&r);
        client_close(&c);
    }
}

static void test_body_too_large(void **state)
{
    struct fixture *f = *state;
    struct client c;
    struct response r;
    json_t *json;
    size_t limit = f->config.limits.max_body;
    char *body;

    /* Announced too large: h2o refuses before reading the body; the filter
     * gives its 413 our JSON shape and X-Amk-Index. */
    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: "
                 "application/json\r\nContent-Length: %zu\r\n\r\n{",
                 2 * limit);
    assert_int_equal(client_read(&c, &r, false), 0);
    client_close(&c);
    assert_int_equal(r.status, 413);
    assert_int_equal(index_of(&r), 42);
    json = body_json(&r);
    assert_string_equal(error_code(json), "TOO_LARGE");
    assert_non_null(strstr(error_message(json), "1048576"));
    json_decref(json);
    response_free(&r);

    /* Exactly one byte over: read by h2o (its limit is ours + 1), refused
     * by the framework. */
    body = malloc(limit + 1);
    assert_non_null(body);
    memset(body, ' ', limit + 1);
    body[0] = '{';
    body[limit] = '}';
    post_json(f, "", body, limit + 1, &r);
    assert_int_equal(r.status, 413);
    json = body_json(&r);
    assert_string_equal(error_code(json), "TOO_LARGE");
    json_decref(json);
    response_free(&r);

    /* Exactly at the limit: fine. */
    body[limit - 1] = '}';
    post_json(f, "", body, limit, &r);
    assert_int_equal(r.status, 201);
    response_free(&r);

    /* Chunked over the limit: h2o stops at the limit. */
    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n");
    {
        size_t sent = 0;
        char chunk_head[32];
        while (sent <= limit + 1) {
            int n = snprintf(chunk_head, sizeof(chunk_head), "%x\r\n",
                             (unsigned)(64 * 1024));
            ssize_t w = send(c.fd, chunk_head, (size_t)n, MSG_NOSIGNAL);
            if (w <= 0) {
                break;
            }
            w = send(c.fd, body, 64 * 1024, MSG_NOSIGNAL);
            if (w <= 0) {
                break;
            }
            send(c.fd, "\r\n", 2, MSG_NOSIGNAL);
            sent += 64 * 1024;
        }
    }
    assert_int_equal(client_read(&c, &r, false), 0);
    client_close(&c);
    assert_int_equal(r.status, 413);
    json = body_json(&r);
    assert_string_equal(error_code(json), "TOO_LARGE");
    json_decref(json);
    response_free(&r);
    free(body);
}

static void test_async_and_errors(void **state)
{
    struct fixture *f = *state;
    struct response r;
    char value[64];
    json_t *json, *error;

    roundtrip(f, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(index_of(&r), 777);
    assert_non_null(header(&r, "etag", value, sizeof(value)));
    assert_string_equal(value, "\"5\"");
    json = body_json(&r);
    assert_true(json_is_true(json_object_get(json, "async")));
    json_decref(json);
    response_free(&r);

    roundtrip(f, "GET /error HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 409);
    json = body_json(&r);
    assert_string_equal(error_code(json), "STALE_EPOCH");
    error = json_object_get(json, "error");
    assert_string_equal(json_string_value(json_object_get(error, "owner")),
                        "bergen");
    assert_int_equal(json_integer_value(json_object_get(error, "epoch")), 4);
    assert_string_equal(error_message(json), "fenced");
    json_decref(json);
    response_free(&r);

    roundtrip(f, "GET /forgets HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    json = body_json(&r);
    assert_string_equal(error_code(json), "INTERNAL");
    json_decref(json);
    response_free(&r);

    roundtrip(f, "DELETE /no-content HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 204);
    assert_false(has_header(&r, "content-type"));
    response_free(&r);

    /* HEAD of a GET route is 405, and has no body on the wire. */
    {
        struct client c;
        assert_int_equal(client_connect(f->port, &c), 0);
        client_sendf(&c, "HEAD /sync HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(client_read(&c, &r, true), 0);
        assert_int_equal(r.status, 405);
        response_free(&r);
        assert_int_equal(client_read(&c, &r, false), 0);
        assert_int_equal(r.status, 200); /* the stream stayed in step */
        response_free(&r);
        client_close(&c);
    }
}

static void test_client_gone_before_async_answer(void **state)
{
    struct fixture *f = *state;
    struct client c;
    struct response r;
    json_t *json;

    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(50); /* the handler is pending now */
    client_close(&c);
    /* The answer, 300 ms later, is dropped: the request was marked gone. */
    assert_true(wait_for(&f->slow_rv, AMK_HTTP_EGONE, 3000));

    /* The server is fine, and counted it. */
    roundtrip(f, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "amk_http_clients_gone_total 1"));
    response_free(&r);
    roundtrip(f, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    json = body_json(&r);
    json_decref(json);
    response_free(&r);
}

/* Reads SSE messages (ignoring ":" heartbeats) until the stream ends;
 * returns the data part concatenated, one line per message. */
static void read_stream(struct client *c, struct response *r)
{
    char value[128];
    long n;

    assert_int_equal(client_read_head(c, r), 0);
    assert_int_equal(r->status, 200);
    assert_non_null(header(r, "content-type", value, sizeof(value)));
    assert_string_equal(value, "text/event-stream");
    assert_non_null(header(r, "transfer-encoding", value, sizeof(value)));
    (void)index_of(r);
    body_append(r, "", 0);
    while ((n = client_read_chunk(c, r)) > 0) {
    }
    assert_int_equal(n, 0); /* a clean end, not a cut connection */
}

static void test_sse_stream(void **state)
{
    struct fixture *f = *state;
    struct client c;
    struct response r;
    json_t *json;

    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c, "GET /events HTTP/1.1\r\nHost: t\r\nAccept: "
                     "text/event-stream\r\n\r\n");
    read_stream(&c, &r);
    assert_non_null(strstr(r.body, "id: 1\ndata: 1\n\n"));
    assert_non_null(strstr(r.body, "id: 2\ndata: 2\n\n"));
    assert_non_null(strstr(r.body, "id: 3\ndata: 3\n\n"));
    assert_non_null(strstr(r.body, "id: 4\ndata: four\n\n"));
    assert_true(strstr(r.body, "id: 3") < strstr(r.body, "id: 4"));
    response_free(&r);
    assert_true(wait_for(&f->events_done, 1, 1000));

    /* The connection is still usable after the stream. */
    client_sendf(&c, "GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_read(&c, &r, false), 0);
    assert_int_equal(r.status, 200);
    json = body_json(&r);
    json_decref(json);
    response_free(&r);
    client_close(&c);
}

static void test_sse_full_buffer_resyncs(void **state)
{
    struct fixture *f = *state;
    struct client c;
    struct response r;
    const char *resync;

    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c, "GET /flood HTTP/1.1\r\nHost: t\r\n\r\n");
    read_stream(&c, &r);
    assert_true(wait_for(&f->flood_rv, AMK_HTTP_EFULL, 1000));
    resync = strstr(r.body, "event: resync\ndata: ");
    assert_non_null(resync);
    /* The resync is the last message, and the queue was dropped: far fewer
     * than the 1000 messages pushed made it. */
    assert_non_null(strstr(resync, "\n\n"));
    assert_string_equal(strstr(resync, "\n\n"), "\n\n");
    assert_true(r.body_len < 4096);
    response_free(&r);
    client_close(&c);

    roundtrip(f, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_non_null(strstr(r.body, "amk_http_event_stream_resyncs_total 1"));
    assert_non_null(strstr(r.body, "amk_http_event_streams 0"));
    response_free(&r);
}

static void test_sse_client_gone_and_heartbeat(void **state)
{
    struct fixture *f = *state;
    struct client c;
    struct response r;

    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c, "GET /ticker HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_read_head(&c, &r), 0);
    body_append(&r, "", 0);
    while (strstr(r.body, "data: tick\n\n") == NULL) {
        assert_true(client_read_chunk(&c, &r) > 0);
    }
    response_free(&r);
    assert_true(wait_for(&f->ticker_rv, 0, 1000)); /* stored after the push */
    client_close(&c);
    /* The next pushes find the stream gone. */
    assert_true(wait_for(&f->ticker_rv, AMK_HTTP_EGONE, 3000));

    /* A quiet stream gets ":" heartbeats (every 100 ms here). */
    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c, "GET /quiet HTTP/1.1\r\nHost: t\r\n\r\n");
    read_stream(&c, &r);
    assert_non_null(strstr(r.body, ":\n\n"));
    response_free(&r);
    client_close(&c);
}

static void test_metrics_text(void **state)
{
    struct fixture *f = *state;
    struct response r;
    char value[128];

    roundtrip(f, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    response_free(&r);
    roundtrip(f, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    response_free(&r);
    roundtrip(f, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "content-type", value, sizeof(value)));
    assert_string_equal(value, "text/plain; version=0.0.4");
    assert_non_null(strstr(r.body, "# TYPE amk_http_requests_total counter\n"));
    assert_non_null(strstr(r.body, "amk_http_requests_total{method=\"GET\","
                                   "route=\"/sync\",status=\"2xx\"} 1\n"));
    assert_non_null(strstr(r.body,
                           "amk_http_requests_total{method=\"\",route=\"("
                           "unmatched)\",status=\"4xx\"} 1\n"));
    assert_non_null(strstr(r.body, "amk_http_request_duration_seconds_bucket{"
                                   "method=\"GET\",route=\"/sync\",le=\"+"
                                   "Inf\"} 1\n"));
    assert_non_null(strstr(r.body, "amk_http_request_duration_seconds_count{"
                                   "method=\"GET\",route=\"/sync\"} 1\n"));
    assert_non_null(strstr(r.body, "amk_http_connections "));
    response_free(&r);

    /* Appending to an existing buffer (from the loop thread). */
    uv_mutex_lock(&f->lock);
    f->want_metrics = true;
    uv_mutex_unlock(&f->lock);
    uv_async_send(&f->wake);
    assert_true(wait_for(&f->metrics_ready, 1, 2000));
    uv_mutex_lock(&f->lock);
    assert_non_null(strstr(f->metrics, "route=\"/metrics\""));
    uv_mutex_unlock(&f->lock);
}

static void test_listen_errors(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "127.0.0.1", "localhost:80", "999.0.0.1:80", "[::1]:70000", "::1:80",
        "",          "127.0.0.1:",   "127.0.0.1:8x", "[::1:80",     "[::1]80",
        "1.2.3:80",
    };
    struct amk_http_config config = f->config;
    struct amk_http *http = NULL;
    char address[64];
    char expect[128];
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    uv_loop_t loop;
    size_t i;

    /* Another loop, in this thread: a failed open leaves nothing behind. */
    assert_int_equal(uv_loop_init(&loop), 0);
    snprintf(address, sizeof(address), "127.0.0.1:%u", f->port);
    config.address = address;
    assert_int_equal(amk_http_open(&http, &loop, &config, errmsg),
                     AMK_HTTP_ELISTEN);
    assert_null(http);
    snprintf(expect, sizeof(expect), "listen %s: address already in use",
             address);
    assert_string_equal(errmsg, expect);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config.address = bad[i];
        errmsg[0] = '\0';
        if (amk_http_open(&http, &loop, &config, errmsg) != AMK_HTTP_EINVAL) {
            fail_msg("%s: accepted", bad[i]);
        }
        assert_null(http);
        assert_non_null(strstr(errmsg, "listen"));
    }
    config.address = "127.0.0.1:0";
    config.router = NULL;
    assert_int_equal(amk_http_open(&http, &loop, &config, errmsg),
                     AMK_HTTP_EINVAL);
    config.router = f->router;
    config.limits.max_body = 0;
    assert_int_equal(amk_http_open(&http, &loop, &config, errmsg),
                     AMK_HTTP_EINVAL);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);

    /* A router in use takes no more routes. */
    assert_int_equal(amk_http_router_add(f->router, "GET", "/late", route_sync,
                                         0, f, errmsg),
                     AMK_HTTP_EINVAL);
}

static void closed_cb(void *data)
{
    *(int *)data = 1;
}

static void test_ipv6_open_close_inline_loop(void **state)
{
    struct fixture *f = *state;
    struct amk_http_config config = f->config;
    struct amk_http *http = NULL;
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    uv_loop_t loop;
    int closed = 0;
    int fds;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 addr;

    memset(&addr, 0, sizeof(addr));
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    if (probe < 0 || bind(probe, (struct sockaddr *)&addr, sizeof(addr))) {
        if (probe >= 0) {
            close(probe);
        }
        skip(); /* no IPv6 loopback here */
    }
    close(probe);
    fds = count_fds();
    assert_int_equal(uv_loop_init(&loop), 0);
    config.address = "[::1]:0";
    assert_int_equal(amk_http_open(&http, &loop, &config, errmsg), 0);
    assert_true(amk_http_port(http) != 0);
    amk_http_close(http, 100, closed_cb, &closed);
    assert_int_equal(closed, 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(count_fds(), fds); /* h2o and libuv gave back every fd */
}

static void test_graceful_close_lets_requests_finish(void **state)
{
    struct fixture *f = *state;
    struct client slow, idle, late;
    struct response r;
    json_t *json;

    assert_int_equal(client_connect(f->port, &idle), 0); /* keep-alive */
    client_sendf(&idle, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_read(&idle, &r, false), 0);
    response_free(&r);

    assert_int_equal(client_connect(f->port, &slow), 0);
    client_sendf(&slow, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(50);
    request_close(f, 5000);
    sleep_ms(50);
    /* No longer accepting. */
    assert_int_equal(client_connect(f->port, &late), ECONNREFUSED);
    /* The idle keep-alive connection is closed by the server. */
    assert_int_equal(client_fill(&idle), 0);
    client_close(&idle);
    /* The in-flight request still gets its answer, then the connection
     * closes. */
    assert_int_equal(client_read(&slow, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Connection: close"));
    json = body_json(&r);
    assert_true(json_is_true(json_object_get(json, "slow")));
    json_decref(json);
    response_free(&r);
    assert_true(wait_for(&f->slow_rv, 0, 1000)); /* stored after the send */
    client_close(&slow);
    assert_true(wait_for(&f->closed, 1, 3000));
}

static void test_close_deadline_answers_pending(void **state)
{
    struct fixture *f = *state;
    struct client c;
    struct response r;
    json_t *json;

    assert_int_equal(client_connect(f->port, &c), 0);
    client_sendf(&c, "GET /never HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(50);
    request_close(f, 100);
    assert_int_equal(client_read(&c, &r, false), 0);
    assert_int_equal(r.status, 504);
    assert_int_equal(index_of(&r), 42);
    json = body_json(&r);
    assert_string_equal(error_code(json), "TIMEOUT");
    json_decref(json);
    response_free(&r);
    client_close(&c);
    assert_true(wait_for(&f->closed, 1, 3000));
    /* The handler's own answer, after the server is gone, only released
     * the request. */
    assert_int_equal(atomic_load(&f->never_rv), AMK_HTTP_EGONE);
}

static void test_close_cuts_streams_and_stuck_clients(void **state)
{
    struct fixture *f = *state;
    struct client stream, partial;
    struct response r;

    assert_int_equal(client_connect(f->port, &stream), 0);
    client_sendf(&stream, "GET /ticker HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_read_head(&stream, &r), 0);
    response_free(&r);
    /* A client that sent half a request and stalls. */
    assert_int_equal(client_connect(f->port, &partial), 0);
    client_sendf(&partial, "GET /sync HTTP/1.1\r\nHo");
    sleep_ms(50);
    request_close(f, 200);
    /* Streams end at once; the stalled client is cut after the deadline. */
    body_append(&r, "", 0);
    {
        long n;
        while ((n = client_read_chunk(&stream, &r)) > 0) {
        }
        assert_int_equal(n, 0);
    }
    response_free(&r);
    assert_true(wait_for(&f->closed, 1, 5000));
    assert_true(client_fill(&partial) <= 0);
    client_close(&partial);
    client_close(&stream);
}

static void test_max_connections(void **state)
{
    struct fixture *f = *state;
    struct client a, b, over;
    struct response r;
    char value[32];
    json_t *json;

    assert_int_equal(client_connect(f->port, &a), 0);
    assert_int_equal(client_connect(f->port, &b), 0);
    sleep_ms(50);
    assert_int_equal(client_connect(f->port, &over), 0);
    client_sendf(&over, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_read(&over, &r, false), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(header(&r, "retry-after", value, sizeof(value)));
    assert_string_equal(value, "1");
    (void)index_of(&r);
    json = body_json(&r);
    assert_string_equal(error_code(json), "UNAVAILABLE");
    json_decref(json);
    response_free(&r);
    assert_int_equal(client_fill(&over), 0); /* and closed */
    client_close(&over);

    /* The ones within the limit are served. */
    client_sendf(&a, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_read(&a, &r, false), 0);
    assert_int_equal(r.status, 200);
    response_free(&r);
    client_close(&a);
    client_close(&b);
}

static void test_slow_client_timed_out(void **state)
{
    struct fixture *f = *state;
    struct client slow, idle, ok;
    struct response r;
    uint64_t start = uv_hrtime();
    uint64_t elapsed_ms;

    /* Headers trickling in, a body never finished, and an idle keep-alive
     * connection: all cut by the request timeout (200 ms here). */
    assert_int_equal(client_connect(f->port, &slow), 0);
    client_sendf(&slow, "GET /sync HTTP/1.1\r\nHo");
    assert_int_equal(client_connect(f->port, &idle), 0);
    client_sendf(&idle, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
                        "10\r\n\r\n{");
    assert_int_equal(client_connect(f->port, &ok), 0);
    client_sendf(&ok, "GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_read(&ok, &r, false), 0);
    assert_int_equal(r.status, 200);
    response_free(&r);

    assert_true(client_fill(&slow) <= 0);
    assert_true(client_fill(&idle) <= 0);
    assert_true(client_fill(&ok) <= 0);
    elapsed_ms = (uv_hrtime() - start) / 1000000;
    assert_true(elapsed_ms >= 150 && elapsed_ms < 3000);
    client_close(&slow);
    client_close(&idle);
    client_close(&ok);
}

#define TEST(fn, variant)                                                      \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown,              \
                                             (void *)&(variant))

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_sync_json_keepalive, variant_default),
        TEST(test_not_found_and_method, variant_default),
        TEST(test_path_and_query_params, variant_default),
        TEST(test_body_echo_and_headers, variant_default),
        TEST(test_bad_inputs, variant_default),
        TEST(test_body_too_large, variant_default),
        TEST(test_async_and_errors, variant_default),
        TEST(test_client_gone_before_async_answer, variant_default),
        TEST(test_sse_stream, variant_default),
        TEST(test_sse_full_buffer_resyncs, variant_default),
        TEST(test_sse_client_gone_and_heartbeat, variant_default),
        TEST(test_metrics_text, variant_default),
        TEST(test_listen_errors, variant_default),
        TEST(test_ipv6_open_close_inline_loop, variant_default),
        TEST(test_graceful_close_lets_requests_finish, variant_default),
        TEST(test_close_deadline_answers_pending, variant_default),
        TEST(test_close_cuts_streams_and_stuck_clients, variant_default),
        TEST(test_max_connections, variant_few),
        TEST(test_slow_client_timed_out, variant_short_timeout),
    };
    /* Writes to a closed client must fail with EPIPE, not kill the
     * process: libuv leaves SIGPIPE to the application. */
    signal(SIGPIPE, SIG_IGN);
    uv_mutex_init(&runner.lock);
    uv_cond_init(&runner.cond);
    runner.done = true;
    if (uv_thread_create(&runner.thread, runner_main, NULL) != 0) {
        return 1;
    }
    /* libuv opens its process-wide signal pipe with the first loop: open it
     * now, so that the tests' fd counts compare like with like. */
    {
        uv_loop_t warm;
        uv_loop_init(&warm);
        uv_loop_close(&warm);
    }
    /* The runner is never joined: see above. */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
