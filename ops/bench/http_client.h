/* ops/bench/http_client.h: the load generator's minimal HTTP/1.1 client,
 * shared by `amk-bench failover` (one request per connection) and
 * `amk-bench http` (keep-alive connections). IPv4 "host:port" addresses
 * only; every step is bounded by the caller's timeout. */
#ifndef AMK_BENCH_HTTP_CLIENT_H
#define AMK_BENCH_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* An answer. The caller owns body and frees it with
 * http_client_response_clear. */
struct http_client_response {
    int status;     /* 0: no answer (connect, timeout, malformed) */
    uint64_t index; /* X-Amk-Index, 0 if absent */
    char *body;     /* NUL-terminated, malloc'd; NULL if none */
    size_t body_len;
};

void http_client_response_clear(struct http_client_response *r);

/* A connected TCP socket to "a.b.c.d:port" with TCP_NODELAY and send and
 * receive timeouts of timeout_ms, or -1. The caller closes it. */
int http_client_connect(const char *address, unsigned timeout_ms);

/* Sends one request with `Connection: close` on a fresh connection (body
 * and idempotency key may be NULL) and reads the whole answer. */
struct http_client_response
http_client_request(const char *address, const char *method, const char *path,
                    const char *key, const char *body, unsigned timeout_ms);

/* A keep-alive connection: requests are sent one at a time on it and it is
 * reconnected when the server closes it or a request fails. */
struct http_client_conn {
    char address[64];
    unsigned timeout_ms;
    int fd;    /* -1: not connected */
    char *buf; /* the last answer: head, then body at body_at */
    size_t cap, len, body_at, body_len;
};

/* 0, or -1 when out of memory. Does not connect yet. Pair with
 * http_client_conn_close. */
int http_client_conn_init(struct http_client_conn *c, const char *address,
                          unsigned timeout_ms);
void http_client_conn_close(struct http_client_conn *c);

/* Sends one request (headers: extra "Name: value\r\n" lines or NULL; body
 * may be NULL) and reads the answer. Returns the status, 0 when no answer
 * came (the connection is then closed; the next request reconnects). The
 * body stays in c (NUL-terminated, body_len bytes at c->buf + c->body_at)
 * until the next request. */
int http_client_conn_request(struct http_client_conn *c, const char *method,
                             const char *path, const char *headers,
                             const char *body);

/* The body of the last answer on c. */
static inline const char *
http_client_conn_body(const struct http_client_conn *c)
{
    return c->buf + c->body_at;
}

#endif
