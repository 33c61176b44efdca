/* ops/bench/http_client.c: the load generator's minimal HTTP/1.1 client:
 * Content-Length and chunked answers, or up to EOF after `Connection:
 * close`. */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESPONSE_MAX (1u << 20)
#define HEAD_MAX     2048

void http_client_response_clear(struct http_client_response *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

int http_client_connect(const char *address, unsigned timeout_ms)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        if (errno != EINPROGRESS || poll(&p, 1, (int)timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            return -1;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The value of header `name` (case-insensitive) in the NUL-terminated head,
 * or NULL. */
static const char *header_value(const char *head, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL;
         p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
            p += len + 1;
            while (*p == ' ') {
                p++;
            }
            return p;
        }
    }
    return NULL;
}

/* Decodes a chunked body of `len` bytes at `body` (NUL-terminated) in place.
 * Returns the decoded length, or -1 while the final chunk has not arrived. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (unsigned chunks = 0; chunks < 100000; chunks++) {
        char *eol = strstr(body + in, "\r\n");
        if (eol == NULL) {
            return -1;
        }
        unsigned long size = strtoul(body + in, NULL, 16);
        size_t data = (size_t)(eol + 2 - body);
        if (size == 0) {
            return data + 2 <= len ? (long)out : -1;
        }
        if (data + size + 2 > len) {
            return -1;
        }
        memmove(body + out, body + data, size);
        out += size;
        in = data + size + 2;
    }
    return -1;
}

/* The reading state of one answer in a growable buffer. */
struct reader {
    char **buf;
    size_t *cap, len, body_at, body_len;
};

/* Reads one answer from fd into r (up to EOF when until_eof and there is no
 * length). Returns the status, or 0 on EOF too early, timeout or a
 * malformed answer. */
static int read_answer(int fd, struct reader *r, bool until_eof,
                       uint64_t *index)
{
    long content_length = -1;
    bool chunked = false, have_head = false;
    r->len = 0;
    for (;;) {
        if (r->len + 1 >= *r->cap) {
            if (*r->cap >= RESPONSE_MAX) {
                return 0;
            }
            char *grown = realloc(*r->buf, *r->cap * 2);
            if (grown == NULL) {
                return 0;
            }
            *r->buf = grown;
            *r->cap *= 2;
        }
        char *buf = *r->buf;
        ssize_t got = recv(fd, buf + r->len, *r->cap - r->len - 1, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            if (got == 0 && until_eof && have_head && !chunked &&
                content_length < 0) {
                r->body_len = r->len - r->body_at;
                break;
            }
            return 0; /* EOF, timeout or error */
        }
        r->len += (size_t)got;
        buf[r->len] = '\0';
        if (!have_head) {
            char *end = strstr(buf, "\r\n\r\n");
            if (end == NULL) {
                if (r->len > HEAD_MAX * 8) {
                    return 0;
                }
                continue;
            }
            have_head = true;
            *end = '\0';
            const char *cl = header_value(buf, "content-length");
            content_length = cl != NULL ? atol(cl) : -1;
            const char *te = header_value(buf, "transfer-encoding");
            chunked = te != NULL && strncasecmp(te, "chunked", 7) == 0;
            const char *ix = header_value(buf, "x-amk-index");
            *index = ix != NULL ? strtoull(ix, NULL, 10) : 0;
            *end = '\r';
            r->body_at = (size_t)(end + 4 - buf);
        }
        if (chunked) {
            char *copy = buf + r->body_at;
            size_t n = r->len - r->body_at;
            /* Decode a copy so a partial body can still grow. */
            char *tmp = malloc(n + 1);
            if (tmp == NULL) {
                return 0;
            }
            memcpy(tmp, copy, n);
            tmp[n] = '\0';
            long decoded = dechunk(tmp, n);
            if (decoded >= 0) {
                memcpy(copy, tmp, (size_t)decoded);
                r->body_len = (size_t)decoded;
                free(tmp);
                break;
            }
            free(tmp);
        } else if (content_length >= 0 &&
                   r->len >= r->body_at + (size_t)content_length) {
            r->body_len = (size_t)content_length;
            break;
        } else if (content_length < 0 && !until_eof) {
            r->body_len = r->len - r->body_at; /* no body (204, 304) */
            break;
        }
    }
    char *buf = *r->buf;
    buf[r->body_at + r->body_len] = '\0';
    if (strncmp(buf, "HTTP/1.", 7) != 0) {
        return 0;
    }
    return atoi(buf + 9);
}

static int format_head(char *head, size_t size, const char *address,
                       const char *method, const char *path,
                       const char *connection, const char *headers,
                       size_t body_len)
{
    int n = snprintf(head, size,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: %s\r\n%s"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, address, connection,
                     headers != NULL ? headers : "", body_len);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

struct http_client_response
http_client_request(const char *address, const char *method, const char *path,
                    const char *key, const char *body, unsigned timeout_ms)
{
    struct http_client_response out = {0};
    char extra[128] = "";
    if (key != NULL) {
        snprintf(extra, sizeof extra, "Idempotency-Key: %s\r\n", key);
    }
    char head[HEAD_MAX];
    size_t body_len = body != NULL ? strlen(body) : 0;
    int n = format_head(head, sizeof head, address, method, path, "close",
                        extra, body_len);
    int fd = n < 0 ? -1 : http_client_connect(address, timeout_ms);
    if (fd < 0) {
        return out;
    }
    if (send_all(fd, head, (size_t)n) != 0 ||
        (body_len > 0 && send_all(fd, body, body_len) != 0)) {
        close(fd);
        return out;
    }
    size_t cap = 8192;
    char *buf = malloc(cap);
    struct reader r = {.buf = &buf, .cap = &cap};
    int status = buf != NULL ? read_answer(fd, &r, true, &out.index) : 0;
    close(fd);
    if (status != 0) {
        out.body = malloc(r.body_len + 1);
        if (out.body != NULL) {
            memcpy(out.body, buf + r.body_at, r.body_len + 1);
            out.body_len = r.body_len;
            out.status = status;
        }
    }
    free(buf);
    return out;
}

int http_client_conn_init(struct http_client_conn *c, const char *address,
                          unsigned timeout_ms)
{
    memset(c, 0, sizeof *c);
    snprintf(c->address, sizeof c->address, "%s", address);
    c->timeout_ms = timeout_ms;
    c->fd = -1;
    c->cap = 8192;
    c->buf = malloc(c->cap);
    if (c->buf == NULL) {
        return -1;
    }
    c->buf[0] = '\0';
    return 0;
}

void http_client_conn_close(struct http_client_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->buf);
    c->buf = NULL;
    c->fd = -1;
}

int http_client_conn_request(struct http_client_conn *c, const char *method,
                             const char *path, const char *headers,
                             const char *body)
{
    char head[HEAD_MAX];
    size_t body_len = body != NULL ? strlen(body) : 0;
    int n = format_head(head, sizeof head, c->address, method, path,
                        "keep-alive", headers, body_len);
    c->body_at = c->body_len = 0;
    if (n < 0) {
        return 0;
    }
    /* A kept connection the server has closed since fails on send or
     * reads EOF: reconnect and send once more (writes carry an
     * Idempotency-Key or are idempotent puts, so a repeat is safe). */
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = c->fd < 0;
        if (fresh) {
            c->fd = http_client_connect(c->address, c->timeout_ms);
            if (c->fd < 0) {
                return 0;
            }
        }
        uint64_t index = 0;
        struct reader r = {.buf = &c->buf, .cap = &c->cap};
        int status = 0;
        if (send_all(c->fd, head, (size_t)n) == 0 &&
            (body_len == 0 || send_all(c->fd, body, body_len) == 0)) {
            status = read_answer(c->fd, &r, false, &index);
        }
        if (status != 0) {
            c->body_at = r.body_at;
            c->body_len = r.body_len;
            return status;
        }
        close(c->fd);
        c->fd = -1;
        if (fresh) {
            return 0;
        }
    }
    return 0;
}
