/* ops/ctl/http.c: a small HTTP/1.1 client: one request per connection
 * (Connection: close), a non-blocking socket driven by poll() against one
 * deadline for the whole exchange, and answers framed by Content-Length,
 * chunked coding (RFC 9112 7.1) or the server closing. Sizes are capped
 * before anything is allocated for them. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define HEAD_MAX    (64u * 1024u)              /* status line and headers */
#define BODY_MAX    (64u * 1024u * 1024u)      /* a decoded body */
#define RAW_MAX     (2u * BODY_MAX + HEAD_MAX) /* bytes read, framing included */
#define HEADERS_MAX 100

struct conn {
    int fd;
    int64_t deadline_ms;
    int timeout_ms;
    char *buf; /* raw bytes read; [pos, len) not consumed yet */
    size_t len, pos, cap;
    bool eof;
    char *errmsg;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* strerror text with a lower-case first letter, as amkctl's lines read. */
static void describe_errno(char *errmsg, const char *what, int err)
{
    char text[128];
    snprintf(text, sizeof text, "%s", strerror(err));
    text[0] = (char)tolower((unsigned char)text[0]);
    snprintf(errmsg, CTL_ERRMSG_SIZE, "%s%s", what, text);
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(struct conn *c, short events, const char *doing)
{
    for (;;) {
        int64_t left = c->deadline_ms - now_ms();
        if (left <= 0) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE, "timed out after %g s %s",
                     c->timeout_ms / 1000.0, doing);
            return CTL_HTTP_ETIMEOUT;
        }
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0) {
            return CTL_HTTP_OK;
        }
        if (n < 0 && errno != EINTR) {
            describe_errno(c->errmsg, "poll: ", errno);
            return CTL_HTTP_EIO;
        }
    }
}

static int connect_to(struct conn *c, const struct ctl_url *url)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int rv = getaddrinfo(url->host, url->port, &hints, &list);
    if (rv != 0) {
        snprintf(c->errmsg, CTL_ERRMSG_SIZE, "cannot resolve %s: %s", url->host,
                 gai_strerror(rv));
        return CTL_HTTP_EUNREACHABLE;
    }
    int status = CTL_HTTP_EUNREACHABLE;
    snprintf(c->errmsg, CTL_ERRMSG_SIZE, "no address for %s", url->host);
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family,
                       ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol);
        if (c->fd < 0) {
            describe_errno(c->errmsg, "socket: ", errno);
            continue;
        }
        int err = 0;
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                status = wait_fd(c, POLLOUT, "connecting");
                if (status != CTL_HTTP_OK) {
                    close(c->fd);
                    c->fd = -1;
                    break; /* the deadline is spent for every address */
                }
                socklen_t len = sizeof err;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                    err = errno;
                }
            }
        }
        if (err == 0) {
            status = CTL_HTTP_OK;
            break;
        }
        describe_errno(c->errmsg, "", err);
        status = CTL_HTTP_EUNREACHABLE;
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(list);
    return status;
}

static int send_all(struct conn *c, const char *data, size_t len)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(c->fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rv = wait_fd(c, POLLOUT, "sending the request");
            if (rv != CTL_HTTP_OK) {
                return rv;
            }
            continue;
        }
        describe_errno(c->errmsg, "while sending: ", errno);
        return CTL_HTTP_EIO;
    }
    return CTL_HTTP_OK;
}

/* Reads more bytes into c->buf. At the end of the stream sets c->eof. */
static int fill(struct conn *c)
{
    if (c->len == c->cap) {
        if (c->cap >= RAW_MAX) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE, "the answer is over %u MiB",
                     RAW_MAX >> 20);
            return CTL_HTTP_EPROTOCOL;
        }
        size_t cap = c->cap == 0 ? 16384 : c->cap * 2;
        if (cap > RAW_MAX) {
            cap = RAW_MAX;
        }
        char *grown = realloc(c->buf, cap + 1);
        if (grown == NULL) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE, "out of memory");
            return CTL_HTTP_ENOMEM;
        }
        c->buf = grown;
        c->cap = cap;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            return CTL_HTTP_OK;
        }
        if (n == 0) {
            c->eof = true;
            return CTL_HTTP_OK;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rv = wait_fd(c, POLLIN, "waiting for the answer");
            if (rv != CTL_HTTP_OK) {
                return rv;
            }
            continue;
        }
        describe_errno(c->errmsg, "while reading the answer: ", errno);
        return CTL_HTTP_EIO;
    }
}

static int closed_early(struct conn *c)
{
    snprintf(c->errmsg, CTL_ERRMSG_SIZE,
             c->len == 0 ? "the server closed the connection without answering"
                         : "the server closed the connection mid-answer");
    return CTL_HTTP_EIO;
}

/* Makes n unconsumed bytes available. */
static int need(struct conn *c, size_t n)
{
    while (c->len - c->pos < n) {
        if (c->eof) {
            return closed_early(c);
        }
        int rv = fill(c);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
    }
    return CTL_HTTP_OK;
}

/* The next line (CRLF or LF ended), NUL-terminated in place, valid until the
 * next read. Lines longer than max are a protocol error. */
static int read_line(struct conn *c, size_t max, char **line)
{
    size_t scanned = c->pos;
    for (;;) {
        char *nl = c->len > scanned
                       ? memchr(c->buf + scanned, '\n', c->len - scanned)
                       : NULL; /* c->buf is NULL before the first read */
        if (nl != NULL) {
            char *start = c->buf + c->pos;
            size_t n = (size_t)(nl - start);
            if (n > 0 && start[n - 1] == '\r') {
                n--;
            }
            start[n] = '\0';
            c->pos = (size_t)(nl - c->buf) + 1;
            *line = start;
            return CTL_HTTP_OK;
        }
        scanned = c->len;
        if (c->len - c->pos > max) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                     "malformed answer: a line over %zu bytes", max);
            return CTL_HTTP_EPROTOCOL;
        }
        if (c->eof) {
            return closed_early(c);
        }
        int rv = fill(c);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
    }
}

static char *build_request(const struct ctl_http_request *req, size_t *len)
{
    bool v6 = strchr(req->url->host, ':') != NULL;
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                     "User-Agent: amkctl/0.1\r\nAccept: %s\r\n"
                     "Connection: close\r\n",
                     req->method, req->target, v6 ? "[" : "", req->url->host,
                     v6 ? "]" : "", req->url->port,
                     req->accept != NULL ? req->accept : "application/json");
    for (size_t i = 0; i < 8 && req->headers[i] != NULL; i++) {
        n += snprintf(head + n,
                      n < (int)sizeof head ? sizeof head - (size_t)n : 0,
                      "%s\r\n", req->headers[i]);
    }
    if (req->body != NULL) {
        n += snprintf(head + n,
                      n < (int)sizeof head ? sizeof head - (size_t)n : 0,
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n",
                      req->body_len);
    }
    n += snprintf(head + n, n < (int)sizeof head ? sizeof head - (size_t)n : 0,
                  "\r\n");
    if (n < 0 || (size_t)n >= sizeof head) {
        return NULL; /* headers are ours and short; a path is capped */
    }
    size_t body_len = req->body != NULL ? req->body_len : 0;
    char *out = malloc((size_t)n + body_len);
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, head, (size_t)n);
    if (body_len > 0) {
        memcpy(out + n, req->body, body_len);
    }
    *len = (size_t)n + body_len;
    return out;
}

struct head {
    bool chunked;
    bool has_length;
    size_t length;
};

static void trim(char **s)
{
    while (**s == ' ' || **s == '\t') {
        (*s)++;
    }
    size_t n = strlen(*s);
    while (n > 0 && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t')) {
        (*s)[--n] = '\0';
    }
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') {
        return -1;
    }
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return *s == '\0' ? 0 : -1;
}

static int header(struct conn *c, char *line, struct head *h,
                  struct ctl_http_response *resp)
{
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t') {
        snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                 "malformed answer: bad header line '%.60s'", line);
        return CTL_HTTP_EPROTOCOL;
    }
    *colon = '\0';
    char *value = colon + 1;
    trim(&value);
    uint64_t n;
    if (strcasecmp(line, "content-length") == 0) {
        if (parse_u64(value, &n) != 0 || (h->has_length && n != h->length)) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                     "malformed answer: Content-Length '%.30s'", value);
            return CTL_HTTP_EPROTOCOL;
        }
        if (n > BODY_MAX) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                     "the answer's body (%llu bytes) is over %u MiB",
                     (unsigned long long)n, BODY_MAX >> 20);
            return CTL_HTTP_EPROTOCOL;
        }
        h->has_length = true;
        h->length = (size_t)n;
    } else if (strcasecmp(line, "transfer-encoding") == 0) {
        /* chunked must be the last coding (RFC 9112 6.1); other codings we
         * cannot undo, so such a body is read to the close as is. */
        size_t len = strlen(value);
        h->chunked = len >= 7 && strcasecmp(value + len - 7, "chunked") == 0;
    } else if (strcasecmp(line, "location") == 0) {
        snprintf(resp->location, sizeof resp->location, "%s", value);
    } else if (strcasecmp(line, "retry-after") == 0) {
        resp->retry_after = parse_u64(value, &n) == 0 && n < 3600 ? (int)n : -1;
    } else if (strcasecmp(line, "x-amk-index") == 0) {
        resp->has_index = parse_u64(value, &resp->index) == 0;
    }
    return CTL_HTTP_OK;
}

/* Status line and headers; 1xx interim answers are skipped. */
static int read_head(struct conn *c, struct head *h,
                     struct ctl_http_response *resp)
{
    for (;;) {
        memset(h, 0, sizeof *h);
        resp->location[0] = '\0';
        resp->retry_after = -1;
        resp->has_index = false;
        char *line;
        int rv = read_line(c, HEAD_MAX, &line);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
        if (strncmp(line, "HTTP/1.", 7) != 0 ||
            !isdigit((unsigned char)line[7]) || line[8] != ' ' ||
            !isdigit((unsigned char)line[9]) ||
            !isdigit((unsigned char)line[10]) ||
            !isdigit((unsigned char)line[11]) ||
            (line[12] != ' ' && line[12] != '\0')) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                     "not an HTTP/1.x answer: '%.40s'", line);
            return CTL_HTTP_EPROTOCOL;
        }
        resp->status =
            (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        size_t head_start = c->pos;
        for (int count = 0;; count++) {
            rv = read_line(c, HEAD_MAX, &line);
            if (rv != CTL_HTTP_OK) {
                return rv;
            }
            if (line[0] == '\0') {
                break;
            }
            if (count == HEADERS_MAX || c->pos - head_start > HEAD_MAX) {
                snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                         "malformed answer: too many headers");
                return CTL_HTTP_EPROTOCOL;
            }
            rv = header(c, line, h, resp);
            if (rv != CTL_HTTP_OK) {
                return rv;
            }
        }
        if (resp->status >= 200 || resp->status < 100) {
            return CTL_HTTP_OK;
        }
    }
}

static int append(struct conn *c, struct ctl_http_response *resp,
                  const char *data, size_t n, size_t *cap)
{
    if (n > BODY_MAX - resp->body_len) {
        snprintf(c->errmsg, CTL_ERRMSG_SIZE, "the answer's body is over %u MiB",
                 BODY_MAX >> 20);
        return CTL_HTTP_EPROTOCOL;
    }
    if (resp->body_len + n + 1 > *cap) {
        size_t want = *cap == 0 ? 4096 : *cap;
        while (want < resp->body_len + n + 1) {
            want *= 2;
        }
        char *grown = realloc(resp->body, want);
        if (grown == NULL) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE, "out of memory");
            return CTL_HTTP_ENOMEM;
        }
        resp->body = grown;
        *cap = want;
    }
    memcpy(resp->body + resp->body_len, data, n);
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
    return CTL_HTTP_OK;
}

static int read_chunked(struct conn *c, struct ctl_http_response *resp,
                        size_t *cap)
{
    for (;;) {
        char *line;
        int rv = read_line(c, 1024, &line);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
        char *end;
        errno = 0;
        unsigned long long size = strtoull(line, &end, 16);
        if (end == line || errno != 0 || !isxdigit((unsigned char)line[0]) ||
            (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t')) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                     "malformed answer: bad chunk size '%.20s'", line);
            return CTL_HTTP_EPROTOCOL;
        }
        if (size == 0) {
            break;
        }
        if (size > BODY_MAX - resp->body_len) {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                     "the answer's body is over %u MiB", BODY_MAX >> 20);
            return CTL_HTTP_EPROTOCOL;
        }
        rv = need(c, (size_t)size + 2);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
        rv = append(c, resp, c->buf + c->pos, (size_t)size, cap);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
        c->pos += (size_t)size;
        if (c->buf[c->pos] == '\r' && c->buf[c->pos + 1] == '\n') {
            c->pos += 2;
        } else {
            snprintf(c->errmsg, CTL_ERRMSG_SIZE,
                     "malformed answer: chunk not followed by CRLF");
            return CTL_HTTP_EPROTOCOL;
        }
    }
    for (;;) { /* trailer fields, ignored, up to the empty line */
        char *line;
        int rv = read_line(c, HEAD_MAX, &line);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
        if (line[0] == '\0') {
            return CTL_HTTP_OK;
        }
    }
}

static int read_body(struct conn *c, const char *method, const struct head *h,
                     struct ctl_http_response *resp)
{
    size_t cap = 0;
    int rv = append(c, resp, "", 0, &cap); /* always a NUL-terminated body */
    if (rv != CTL_HTTP_OK) {
        return rv;
    }
    if (strcmp(method, "HEAD") == 0 || resp->status == 204 ||
        resp->status == 304) {
        return CTL_HTTP_OK;
    }
    if (h->chunked) {
        return read_chunked(c, resp, &cap);
    }
    if (h->has_length) {
        rv = need(c, h->length);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
        rv = append(c, resp, c->buf + c->pos, h->length, &cap);
        c->pos += h->length;
        return rv;
    }
    for (;;) { /* no framing: the body ends when the server closes */
        rv = append(c, resp, c->buf + c->pos, c->len - c->pos, &cap);
        c->pos = c->len;
        if (rv != CTL_HTTP_OK || c->eof) {
            return rv;
        }
        rv = fill(c);
        if (rv != CTL_HTTP_OK) {
            return rv;
        }
    }
}

int ctl_http_exchange(const struct ctl_http_request *req,
                      struct ctl_http_response *resp, char *errmsg)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
    struct conn c = {.fd = -1,
                     .timeout_ms = req->timeout_ms,
                     .deadline_ms = now_ms() + req->timeout_ms,
                     .errmsg = errmsg};
    size_t len = 0;
    char *request = build_request(req, &len);
    if (request == NULL) {
        snprintf(errmsg, CTL_ERRMSG_SIZE, "out of memory or request too long");
        return CTL_HTTP_ENOMEM;
    }
    int rv = connect_to(&c, req->url);
    if (rv != CTL_HTTP_OK) {
        goto err_after_request;
    }
    rv = send_all(&c, request, len);
    if (rv != CTL_HTTP_OK) {
        goto err_after_connect;
    }
    struct head h;
    rv = read_head(&c, &h, resp);
    if (rv != CTL_HTTP_OK) {
        goto err_after_connect;
    }
    rv = read_body(&c, req->method, &h, resp);
    if (rv != CTL_HTTP_OK) {
        goto err_after_connect;
    }
    close(c.fd);
    free(c.buf);
    free(request);
    return CTL_HTTP_OK;

err_after_connect:
    close(c.fd);
    free(c.buf);
    ctl_http_response_clear(resp);
err_after_request:
    free(request);
    return rv;
}

void ctl_http_response_clear(struct ctl_http_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
}

/* --- Streaming (Server-Sent Events) -------------------------------------- */

#define STREAM_LINE_MAX (2u * 1024u * 1024u) /* one event's data line */

struct lines {
    char *buf;
    size_t len, cap;
};

/* Feeds body bytes; calls on_line for each complete line. Returns non-zero
 * when on_line asked to stop, -1 on a line over the cap or no memory. */
static int feed(struct lines *l, const char *data, size_t n,
                int (*on_line)(void *, const char *), void *arg)
{
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap == 0 ? 16384 : l->cap;
        while (cap < l->len + n + 1) {
            cap *= 2;
        }
        if (cap > STREAM_LINE_MAX + 16384) {
            return -1;
        }
        char *grown = realloc(l->buf, cap);
        if (grown == NULL) {
            return -1;
        }
        l->buf = grown;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    size_t start = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (l->buf[i] != '\n') {
            continue;
        }
        size_t end = i > start && l->buf[i - 1] == '\r' ? i - 1 : i;
        l->buf[end] = '\0';
        int stop = on_line(arg, l->buf + start);
        start = i + 1;
        if (stop != 0) {
            return stop;
        }
    }
    memmove(l->buf, l->buf + start, l->len - start);
    l->len -= start;
    return 0;
}

/* Moves what was consumed out of the connection buffer. */
static void compact(struct conn *c)
{
    memmove(c->buf, c->buf + c->pos, c->len - c->pos);
    c->len -= c->pos;
    c->pos = 0;
}

int ctl_http_stream(const struct ctl_http_request *req, int idle_ms,
                    int (*on_line)(void *data, const char *line), void *data,
                    int *status, char *errmsg)
{
    struct ctl_http_response resp;
    memset(&resp, 0, sizeof resp);
    struct conn c = {.fd = -1,
                     .timeout_ms = req->timeout_ms,
                     .deadline_ms = now_ms() + req->timeout_ms,
                     .errmsg = errmsg};
    struct lines l = {0};
    size_t len = 0;
    *status = 0;
    char *request = build_request(req, &len);
    if (request == NULL) {
        snprintf(errmsg, CTL_ERRMSG_SIZE, "out of memory or request too long");
        return CTL_HTTP_ENOMEM;
    }
    int rv = connect_to(&c, req->url);
    if (rv == CTL_HTTP_OK) {
        rv = send_all(&c, request, len);
    }
    struct head h;
    if (rv == CTL_HTTP_OK) {
        rv = read_head(&c, &h, &resp);
        *status = resp.status;
    }
    while (rv == CTL_HTTP_OK && resp.status == 200) {
        /* The stream may stay quiet for a while: the deadline is idle time
         * (the server sends a comment every 15 s). */
        c.timeout_ms = idle_ms;
        c.deadline_ms = now_ms() + idle_ms;
        size_t n;
        if (h.chunked) {
            char *line;
            rv = read_line(&c, 1024, &line);
            if (rv != CTL_HTTP_OK) {
                break;
            }
            n = (size_t)strtoull(line, NULL, 16);
            if (n == 0) {
                break; /* the server ended the stream */
            }
            rv = need(&c, n + 2);
            if (rv != CTL_HTTP_OK) {
                break;
            }
        } else {
            if (c.len == c.pos) {
                if (c.eof) {
                    break;
                }
                rv = fill(&c);
                continue;
            }
            n = c.len - c.pos;
        }
        int stop = feed(&l, c.buf + c.pos, n, on_line, data);
        c.pos += n + (h.chunked ? 2 : 0);
        compact(&c);
        if (stop < 0) {
            snprintf(errmsg, CTL_ERRMSG_SIZE, "an event over %u MiB",
                     STREAM_LINE_MAX >> 20);
            rv = CTL_HTTP_EPROTOCOL;
        } else if (stop > 0) {
            break;
        }
    }
    if (c.fd >= 0) {
        close(c.fd);
    }
    free(l.buf);
    free(c.buf);
    free(request);
    ctl_http_response_clear(&resp);
    return rv;
}
