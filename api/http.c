/* api/http.c: the server's lifecycle. Binds the listener, sets h2o up on the
 * caller's libuv loop (HTTP/1.1, HTTP/2 via h2c or TLS ALPN), accepts and
 * tracks connections against the limit, runs the housekeeping tick
 * (closed-client checks, stream heartbeats), and closes gracefully: stop
 * accepting, drain, answer what is left at the deadline, cut, free. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/http_int.h"

#define LISTEN_BACKLOG 511

struct http_handler {
    h2o_handler_t super;
    struct amk_http *http;
};

void amk_http_config_default(struct amk_http_config *config)
{
    memset(config, 0, sizeof(*config));
    config->limits.max_body = 1024 * 1024;
    config->limits.max_json_depth = 32;
    config->limits.max_json_string = 64 * 1024;
    config->limits.max_connections = 1024;
    config->limits.request_timeout_ms = 10000;
    config->limits.http2_idle_timeout_ms = 10000;
    config->limits.tls_handshake_timeout_ms = 10000;
    config->limits.sse_buffer = 1024 * 1024;
    config->limits.sse_heartbeat_ms = 15000;
    config->limits.disconnect_check_ms = 1000;
}

void http__log(struct amk_http *http, int level, const char *fmt, ...)
{
    char message[512];
    va_list ap;

    if (http->config.log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    http->config.log(http->config.log_data, level, message);
}

uint64_t http__applied_index(struct amk_http *http)
{
    if (http->config.applied_index == NULL) {
        return 0;
    }
    return http->config.applied_index(http->config.applied_index_data);
}

uint16_t amk_http_port(const struct amk_http *http)
{
    return http->port;
}

/* ---- Listening ---- */

/* "a.b.c.d:port" or "[v6]:port", IP literals only (DESIGN: addresses are IP
 * literals throughout). */
static int parse_address(const char *address, struct sockaddr_storage *addr,
                         char *errmsg)
{
    char host[64];
    const char *port_text;
    size_t host_len;
    unsigned long port = 0;
    const char *p;

    if (address == NULL || address[0] == '\0') {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "listen: no address given");
        return AMK_HTTP_EINVAL;
    }
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (close == NULL || close[1] != ':') {
            goto bad;
        }
        host_len = (size_t)(close - address - 1);
        memcpy(host, address + 1, host_len < sizeof(host) ? host_len : 0);
        port_text = close + 2;
    } else {
        const char *colon = strrchr(address, ':');
        if (colon == NULL || memchr(address, ':', (size_t)(colon - address))) {
            goto bad;
        }
        host_len = (size_t)(colon - address);
        memcpy(host, address, host_len < sizeof(host) ? host_len : 0);
        port_text = colon + 1;
    }
    if (host_len == 0 || host_len >= sizeof(host) || port_text[0] == '\0' ||
        strlen(port_text) > 5) {
        goto bad;
    }
    host[host_len] = '\0';
    for (p = port_text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            goto bad;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535) {
        goto bad;
    }
    memset(addr, 0, sizeof(*addr));
    if (address[0] == '[') {
        if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0) {
            return 0;
        }
    } else if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0) {
        return 0;
    }
bad:
    snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
             "listen %.80s: not an IP literal with a port (a.b.c.d:port or "
             "[v6]:port)",
             address);
    return AMK_HTTP_EINVAL;
}

/* Binds and listens on a plain socket first, so that every error is
 * reported synchronously with no libuv handle to close. */
static int bind_listen(const char *address, const struct sockaddr_storage *addr,
                       int *fd_out, uint16_t *port, char *errmsg)
{
    int family = addr->ss_family;
    socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in);
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    int one = 1;
    int fd;

    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        goto err;
    }
    /* SO_REUSEADDR lets a restarted node bind over TIME_WAIT; it does not
     * let two listeners share a port. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        bind(fd, (const struct sockaddr *)addr, len) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        goto err;
    }
    *port =
        ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                 : ((struct sockaddr_in *)&bound)->sin_port);
    *fd_out = fd;
    return 0;

err:
    snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "listen %.80s: %s", address,
             uv_strerror(uv_translate_sys_error(errno)));
    if (fd >= 0) {
        close(fd);
    }
    return AMK_HTTP_ELISTEN;
}

static int check_limits(const struct amk_http_limits *limits, char *errmsg)
{
    if (limits->max_body == 0 || limits->max_body >= SIZE_MAX / 2 ||
        limits->max_json_depth == 0 || limits->max_json_string == 0 ||
        limits->max_connections == 0 || limits->request_timeout_ms == 0 ||
        limits->http2_idle_timeout_ms == 0 ||
        limits->tls_handshake_timeout_ms == 0 || limits->sse_buffer < 128) {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE,
                 "http: a limit is zero or out of range (start from "
                 "amk_http_config_default)");
        return AMK_HTTP_EINVAL;
    }
    return 0;
}

/* ---- Connections ---- */

static void on_unlisted_conn_close(uv_handle_t *handle)
{
    free(handle);
}

static void maybe_finish(struct amk_http *http);

/* The uv handle is closed (by h2o, through its socket): the last event of
 * a connection. */
static void on_conn_close(uv_handle_t *handle)
{
    struct http_conn *conn = (struct http_conn *)(void *)handle;
    struct amk_http *http = conn->server;

    if (conn->prev != NULL) {
        conn->prev->next = conn->next;
    } else {
        http->conns = conn->next;
    }
    if (conn->next != NULL) {
        conn->next->prev = conn->prev;
    }
    http->n_conns--;
    free(conn);
    maybe_finish(http);
}

/* h2o is disposing of the socket; the handle closes next. */
static void on_socket_dispose(void *data)
{
    struct http_conn *conn = data;
    conn->sock = NULL;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct amk_http *http =
        (struct amk_http *)(void *)((char *)listener -
                                    offsetof(struct amk_http, listener));
    struct http_conn *conn;
    h2o_socket_t *sock;

    if (status < 0) {
        http__log(http, AMK_HTTP_LOG_WARN, "http: accept: %s",
                  uv_strerror(status));
        return;
    }
    /* Out of memory here would stall the listener; h2o itself aborts on
     * allocation failure, so do the same. */
    conn = h2o_mem_alloc(sizeof(*conn));
    memset(conn, 0, sizeof(*conn));
    uv_tcp_init(http->loop, &conn->tcp);
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, on_unlisted_conn_close);
        return;
    }
    if (http->n_conns >=
        (size_t)http->config.limits.max_connections + HTTP_REJECT_SLACK) {
        http->metrics.connections_rejected++;
        uv_close((uv_handle_t *)&conn->tcp, on_unlisted_conn_close);
        return;
    }
    conn->server = http;
    conn->reject = http->n_conns >= http->config.limits.max_connections;
    if (conn->reject) {
        http->metrics.connections_overload++;
    }
    conn->next = http->conns;
    if (http->conns != NULL) {
        http->conns->prev = conn;
    }
    http->conns = conn;
    http->n_conns++;
    http->metrics.connections_total++;

    uv_tcp_nodelay(&conn->tcp, 1);
    sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_close);
    /* on_close is h2o's slot for the application: it lets a request find
     * its connection (get_socket(conn)->on_close.data). */
    sock->on_close.cb = on_socket_dispose;
    sock->on_close.data = conn;
    conn->sock = sock;
    h2o_accept(&http->accept_ctx, sock);
}

/* Ends a connection through h2o's own error path: its reads see EOF and
 * its writes fail, and h2o closes it, which calls on_conn_close. */
static void conn_shut(struct http_conn *conn)
{
    int fd;
    if (conn->shut || conn->sock == NULL) {
        return;
    }
    conn->shut = true;
    fd = h2o_socket_get_fd(conn->sock);
    if (fd >= 0) {
        shutdown(fd, SHUT_RDWR);
    }
}

/* Whether the client of an HTTP/1 connection has closed its side. h2o
 * stops reading an HTTP/1 connection while a request is being handled, so
 * without this a pending request notices a closed client only when its
 * answer fails. Peeking cannot see through TLS, and an HTTP/1 client that
 * half-closes after its request looks gone (nginx treats it the same). */
static bool peer_closed(struct http_conn *conn)
{
    char byte;
    ssize_t n;
    int fd = h2o_socket_get_fd(conn->sock);

    if (fd < 0) {
        return false;
    }
    n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        return true;
    }
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void sweep_closed_clients(struct amk_http *http)
{
    struct http_req *req = http->async;
    while (req != NULL) {
        struct http_req *next = req->async_next;
        struct http_conn *conn = req->conn;

        if (conn != NULL && conn->sock != NULL && conn->sock->ssl == NULL &&
            conn->version < 0x200 && !req->gone && peer_closed(conn)) {
            http->metrics.clients_gone++;
            req->gone = true; /* the handler's answer is now dropped */
            req->h2o->http1_is_persistent = 0;
            if (req->state == HTTP_REQ_PENDING) {
                /* Nobody reads it; it makes h2o write, fail and close. */
                http_respond__send(req, 499, NULL, NULL, 0);
            } else if (req->state == HTTP_REQ_STREAMING) {
                http_sse__end(req);
            }
        }
        req = next;
    }
}

static void answer_at_deadline(struct amk_http *http)
{
    struct http_req *req = http->async;
    while (req != NULL) {
        struct http_req *next = req->async_next;
        if (req->state == HTTP_REQ_PENDING && req->h2o != NULL) {
            req->gone = true;
            http_respond__error(
                req, 504, AMK_HTTP_CODE_TIMEOUT,
                "the server is shutting down before the answer was ready; "
                "the outcome is unknown, retry with the same "
                "Idempotency-Key",
                NULL);
        } else if (req->state == HTTP_REQ_STREAMING) {
            http_sse__end(req);
        }
        req = next;
    }
}

static void close_tick(struct amk_http *http, uint64_t now)
{
    struct http_conn *conn;
    bool cut_all;

    if (!http->deadline_passed && now >= http->deadline_ms) {
        http->deadline_passed = true;
        http->hard_cut_ms = now + HTTP_HARD_CUT_MS;
        answer_at_deadline(http);
    }
    cut_all = http->deadline_passed && now >= http->hard_cut_ms;
    for (conn = http->conns; conn != NULL; conn = conn->next) {
        bool idle, grace;
        if (conn->sock == NULL) {
            continue;
        }
        idle = conn->inflight == 0 && conn->sock->input->size == 0;
        grace = conn->version >= 0x200 &&
                now - http->close_started_ms < HTTP_GOAWAY_GRACE_MS;
        if ((idle && !grace) || cut_all) {
            conn_shut(conn);
        }
    }
}

static void on_tick(uv_timer_t *timer)
{
    struct amk_http *http =
        (struct amk_http *)(void *)((char *)timer -
                                    offsetof(struct amk_http, tick));
    uint64_t now = uv_now(http->loop);
    struct http_req *req;

    if (http->config.limits.disconnect_check_ms != 0 || http->closing) {
        sweep_closed_clients(http);
    }
    for (req = http->async; req != NULL;) {
        struct http_req *next = req->async_next;
        if (req->state == HTTP_REQ_STREAMING) {
            http_sse__heartbeat(req, now);
        }
        req = next;
    }
    if (http->closing) {
        close_tick(http, now);
        maybe_finish(http);
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    return http_request__dispatch(((struct http_handler *)self)->http, req);
}

/* ---- Open ---- */

static void setup_h2o(struct amk_http *http)
{
    const struct amk_http_limits *limits = &http->config.limits;
    h2o_hostconf_t *hostconf;
    h2o_pathconf_t *pathconf;
    struct http_handler *handler;
    struct http_filter *filter;

    h2o_config_init(&http->globalconf);
    http->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("amkd"));
    /* One more than ours: h2o's chunked reader refuses a body that reaches
     * its limit, so at max_body + 1 a body of exactly max_body still
     * passes, and take_body() answers 413 for max_body + 1. */
    http->globalconf.max_request_entity_size = limits->max_body + 1;
    http->globalconf.http1.req_timeout = limits->request_timeout_ms;
    http->globalconf.http2.idle_timeout = limits->http2_idle_timeout_ms;
    http->globalconf.handshake_timeout = limits->tls_handshake_timeout_ms;

    /* Every request lands on the host's fallback path: the router, not
     * h2o's path table, dispatches, and h2o's own errors (sent before a
     * path is chosen) are bound to the fallback path too, so the filter
     * sees them. */
    hostconf = h2o_config_register_host(
        &http->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    pathconf = &hostconf->fallback_path;
    handler = (void *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->http = http;
    /* Our filter first, so chunked encoding sees the final length. libh2o
     * registers no filter by itself: without h2o_chunked_register an
     * HTTP/1.1 stream would have neither length nor chunks. */
    filter = (void *)h2o_create_filter(pathconf, sizeof(*filter));
    filter->super.on_setup_ostream = http_respond__on_setup_ostream;
    filter->http = http;
    h2o_chunked_register(pathconf);

    h2o_context_init(&http->ctx, http->loop, &http->globalconf);
    http->accept_ctx.ctx = &http->ctx;
    http->accept_ctx.hosts = http->globalconf.hosts;
    http->accept_ctx.ssl_ctx = http->config.ssl_ctx;
    if (http->config.ssl_ctx != NULL) {
        h2o_ssl_register_alpn_protocols(http->config.ssl_ctx,
                                        h2o_http2_alpn_protocols);
    }
    http->h2o_ready = true;
}

static void on_failed_listener_close(uv_handle_t *handle)
{
    struct amk_http *http =
        (struct amk_http *)(void *)((char *)handle -
                                    offsetof(struct amk_http, listener));
    http_metrics__close(&http->metrics);
    free(http);
}

int amk_http_open(struct amk_http **out, uv_loop_t *loop,
                  const struct amk_http_config *config, char *errmsg)
{
    struct sockaddr_storage addr;
    struct amk_http *http;
    uint16_t port = 0;
    int fd = -1;
    int rv;

    *out = NULL;
    if (config->router == NULL) {
        snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "http: no router given");
        return AMK_HTTP_EINVAL;
    }
    rv = check_limits(&config->limits, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = parse_address(config->address, &addr, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = bind_listen(config->address, &addr, &fd, &port, errmsg);
    if (rv != 0) {
        return rv;
    }

    http = calloc(1, sizeof(*http));
    if (http == NULL) {
        rv = AMK_HTTP_ENOMEM;
        goto err_after_bind;
    }
    http->loop = loop;
    http->config = *config;
    snprintf(http->address, sizeof(http->address), "%s", config->address);
    http->config.address = http->address;
    http->port = port;
    http->router = config->router;
    rv = http_metrics__init(&http->metrics, http->router->n_routes);
    if (rv != 0) {
        goto err_after_alloc;
    }

    uv_tcp_init(loop, &http->listener);
    rv = uv_tcp_open(&http->listener, fd);
    if (rv != 0) {
        close(fd);
        goto err_async;
    }
    rv = uv_listen((uv_stream_t *)&http->listener, LISTEN_BACKLOG,
                   on_connection);
    if (rv != 0) {
        goto err_async;
    }

    setup_h2o(http);
    http->router->users++;
    uv_timer_init(loop, &http->tick);
    uv_timer_init(loop, &http->final);
    http->tick_ms = config->limits.disconnect_check_ms;
    if (config->limits.sse_heartbeat_ms != 0 &&
        (http->tick_ms == 0 ||
         config->limits.sse_heartbeat_ms / 2 < http->tick_ms)) {
        http->tick_ms = config->limits.sse_heartbeat_ms / 2 + 1;
    }
    if (http->tick_ms != 0) {
        uv_timer_start(&http->tick, on_tick, http->tick_ms, http->tick_ms);
    }
    *out = http;
    return 0;

err_async:
    /* Cannot happen on a freshly bound socket, but if it does the handle
     * must close on the loop: the server frees itself there, and the
     * caller gets no callback. */
    snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "listen %.80s: %s", config->address,
             uv_strerror(rv));
    uv_close((uv_handle_t *)&http->listener, on_failed_listener_close);
    return AMK_HTTP_ELISTEN;
err_after_alloc:
    free(http);
err_after_bind:
    close(fd);
    snprintf(errmsg, AMK_HTTP_ERRMSG_SIZE, "listen %.80s: out of memory",
             config->address);
    return rv;
}

/* ---- Close ---- */

static void on_final_close(uv_handle_t *handle)
{
    struct amk_http *http =
        (struct amk_http *)(void *)((char *)handle -
                                    offsetof(struct amk_http, final));
    amk_http_close_cb cb = http->close_cb;
    void *data = http->close_data;

    http->router->users--;
    http_metrics__close(&http->metrics);
    free(http);
    if (cb != NULL) {
        cb(data);
    }
}

/* h2o_context_dispose() closes timer handles embedded in ctx, so ctx must
 * live until they are closed. Handles closed during one closing pass of
 * libuv finish together, so closing `tick` after them and `final` from
 * tick's close callback (the next pass) orders the free after theirs. */
static void on_tick_close(uv_handle_t *handle)
{
    struct amk_http *http =
        (struct amk_http *)(void *)((char *)handle -
                                    offsetof(struct amk_http, tick));
    uv_close((uv_handle_t *)&http->final, on_final_close);
}

static void dispose_h2o(struct amk_http *http)
{
    uv_loop_t scratch;

    /* h2o_context_request_shutdown() linked this HTTP/2 GOAWAY timer and
     * nothing unlinks it; disposing a timeout with a linked entry aborts. */
    h2o_timeout_unlink(&http->ctx.http2._graceful_shutdown_timeout);
    /* h2o_context_dispose() ends with uv_run(ctx->loop, UV_RUN_NOWAIT) to
     * reap the timers it closes. We are inside that loop's callbacks and
     * uv_run is not reentrant. The timers close on their own loop whatever
     * ctx->loop says, so point ctx->loop at an empty loop for the call. */
    if (uv_loop_init(&scratch) != 0) {
        http__log(http, AMK_HTTP_LOG_ERROR,
                  "http: cannot dispose of h2o (no loop); leaking the server");
        return;
    }
    http->ctx.loop = &scratch;
    h2o_context_dispose(&http->ctx);
    uv_loop_close(&scratch);
    h2o_config_dispose(&http->globalconf);
    http->h2o_ready = false;
}

static void maybe_finish(struct amk_http *http)
{
    if (!http->closing || !http->listener_closed || http->n_conns != 0 ||
        http->finishing) {
        return;
    }
    http->finishing = true;
    uv_timer_stop(&http->tick);
    dispose_h2o(http);
    if (http->h2o_ready) {
        /* Could not dispose: never free what h2o still uses. */
        if (http->close_cb != NULL) {
            http->close_cb(http->close_data);
        }
        return;
    }
    uv_close((uv_handle_t *)&http->tick, on_tick_close);
}

static void on_listener_close(uv_handle_t *handle)
{
    struct amk_http *http =
        (struct amk_http *)(void *)((char *)handle -
                                    offsetof(struct amk_http, listener));
    http->listener_closed = true;
    maybe_finish(http);
}

void amk_http_close(struct amk_http *http, uint64_t deadline_ms,
                    amk_http_close_cb cb, void *data)
{
    struct http_req *req;

    if (http->closing) {
        return;
    }
    http->closing = true;
    http->close_cb = cb;
    http->close_data = data;
    http->close_started_ms = uv_now(http->loop);
    http->deadline_ms = http->close_started_ms + deadline_ms;

    uv_close((uv_handle_t *)&http->listener, on_listener_close);
    /* HTTP/2: GOAWAY now. HTTP/1: requests from now on are the last on
     * their connection. */
    h2o_context_request_shutdown(&http->ctx);
    /* Event streams never finish by themselves. */
    for (req = http->async; req != NULL;) {
        struct http_req *next = req->async_next;
        if (req->state == HTTP_REQ_STREAMING) {
            http_sse__end(req);
        }
        req = next;
    }
    uv_timer_start(&http->tick, on_tick, 0, HTTP_CLOSE_TICK_MS);
}
