/* server/join.c: --join: a node with an empty data directory and no --peers
 * asks a running member to add it (POST /v1/cluster/members) with a minimal
 * HTTP/1.1 client over libuv: one request per connection, the response read
 * only for its status line (and, on a 307 from a follower, the Location
 * header, followed once), retried for a bounded time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/h2o_inc.h"
#include "node.h"

#define JOIN_BUDGET_MS    60000u /* give up after this long */
#define JOIN_ATTEMPT_MS   30000u /* one request (the voter must catch up) */
#define JOIN_RETRY_MS     1000u  /* between attempts */
#define JOIN_RESPONSE_MAX 8192u  /* the status line and headers fit */
/* 409 is BUSY (another change in flight: retry) or EXISTS (this id or
 * address is taken: final); only the status line is read, so a run of them
 * is taken as final. */
#define JOIN_MAX_CONFLICTS 10u
#define JOIN_PATH          "/v1/cluster/members"

/* One connection; freed in its close callback. */
struct join_attempt {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    struct amk_join *join; /* NULL once abandoned */
    char *request;
    char response[JOIN_RESPONSE_MAX + 1];
    size_t have;
};

enum join_state {
    JOIN_CONNECTING = 1, /* an attempt is in flight */
    JOIN_WAITING,        /* the retry timer runs */
    JOIN_FINISHED,       /* done or cancelled: the timer is closing */
};

struct amk_join {
    struct amk_node *node;
    amk_join_cb done;
    uv_timer_t timer; /* attempt timeout, then retry delay */
    int state;        /* enum join_state */
    struct join_attempt *attempt;
    char target[128]; /* IP:port asked */
    char path[256];
    char *body;
    uint64_t deadline;
    unsigned attempts;
    bool redirected;
    unsigned conflicts; /* 409 answers in a row */
    int last_status;    /* last HTTP status, 0: none */
    char last_error[320];
};

static void start_attempt(struct amk_join *join);

static void timer_closed(uv_handle_t *handle)
{
    struct amk_join *join = handle->data;
    free(join->body);
    free(join);
}

static void attempt_closed(uv_handle_t *handle)
{
    struct join_attempt *attempt = handle->data;
    free(attempt->request);
    free(attempt);
}

static void attempt_end(struct amk_join *join)
{
    struct join_attempt *attempt = join->attempt;
    if (attempt == NULL) {
        return;
    }
    join->attempt = NULL;
    attempt->join = NULL;
    uv_close((uv_handle_t *)&attempt->tcp, attempt_closed);
}

static void finish(struct amk_join *join, int status)
{
    struct amk_node *node = join->node;
    attempt_end(join);
    join->state = JOIN_FINISHED;
    uv_timer_stop(&join->timer);
    uv_close((uv_handle_t *)&join->timer, timer_closed);
    node->join = NULL;
    join->done(node, status);
}

static void retry_cb(uv_timer_t *timer)
{
    start_attempt(timer->data);
}

/* The attempt failed in a way worth another try, if time is left. */
static void again(struct amk_join *join, const char *why)
{
    struct amk_node *node = join->node;
    attempt_end(join);
    snprintf(join->last_error, sizeof join->last_error, "%s", why);
    if (uv_now(&node->loop) + JOIN_RETRY_MS >= join->deadline) {
        amk_log(node, LOG_ERROR,
                "join: gave up after %u attempts in %u s; last: %s",
                join->attempts, JOIN_BUDGET_MS / 1000, why);
        finish(join, -1);
        return;
    }
    amk_log(node, join->attempts % 10 == 1 ? LOG_WARN : LOG_DEBUG,
            "join: %s; retrying", why);
    join->state = JOIN_WAITING;
    uv_timer_start(&join->timer, retry_cb, JOIN_RETRY_MS, 0);
}

static bool self_in_configuration(struct amk_node *node)
{
    struct amk_raft_member *members = NULL;
    unsigned n = 0;
    bool found = false;
    if (amk_raft_node_members(&node->raft, &members, &n) != 0) {
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        found |= members[i].id == node->config.id;
    }
    free(members);
    return found;
}

/* The value of the Location header in the header block (NUL-terminated,
 * ending at the blank line), copied into out; false if absent. Only this
 * one header is looked at. */
static bool find_location(const char *headers, char *out, size_t size)
{
    const char *line = strstr(headers, "\r\n");
    while (line != NULL && line[2] != '\r' && line[2] != '\0') {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (end == NULL) {
            return false;
        }
        if ((size_t)(end - line) > 9 &&
            strncasecmp(line, "location:", 9) == 0) {
            const char *v = line + 9;
            while (v < end && (*v == ' ' || *v == '\t')) {
                v++;
            }
            size_t n = (size_t)(end - v);
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
                n--;
            }
            if (n == 0 || n >= size) {
                return false;
            }
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        line = end;
    }
    return false;
}

/* Follows a 307 to the leader: "http://IP:port/path". */
static int redirect(struct amk_join *join, const char *headers)
{
    char location[256];
    h2o_url_t url;
    if (!find_location(headers, location, sizeof location) ||
        h2o_url_parse(location, strlen(location), &url) != 0 ||
        url.scheme != &H2O_URL_SCHEME_HTTP ||
        url.authority.len >= sizeof join->target ||
        url.path.len >= sizeof join->path || url.path.len == 0) {
        return -1;
    }
    memcpy(join->target, url.authority.base, url.authority.len);
    join->target[url.authority.len] = '\0';
    memcpy(join->path, url.path.base, url.path.len);
    join->path[url.path.len] = '\0';
    struct sockaddr_storage addr;
    return amk_link_parse_address(join->target, false, &addr) == 0 ? 0 : -1;
}

/* The response (or as much as arrived) is in attempt->response. */
static void evaluate(struct amk_join *join, struct join_attempt *attempt)
{
    struct amk_node *node = join->node;
    char *text = attempt->response;
    int status = 0;
    int minor = 0;
    int consumed = 0;
    char why[320];
    text[attempt->have] = '\0';
    if (sscanf(text, "HTTP/1.%1d %3d%n", &minor, &status, &consumed) != 2 ||
        consumed != 12 || status < 100 || status > 599) {
        again(join, "no HTTP status line in the answer");
        return;
    }
    join->last_status = status;
    char *body = strstr(text, "\r\n\r\n");
    if (status >= 200 && status < 300) {
        amk_log(node, LOG_INFO,
                "join: added to the cluster by %s as voter %llu (HTTP %d)",
                join->target, (unsigned long long)node->config.id, status);
        finish(join, 0);
        return;
    }
    if ((status == 307 || status == 308) && !join->redirected && body) {
        body[2] = '\0'; /* the header block only */
        char from[128];
        snprintf(from, sizeof from, "%s", join->target);
        if (redirect(join, text) != 0) {
            attempt_end(join);
            amk_log(node, LOG_ERROR,
                    "join: %s redirected without a usable Location", from);
            finish(join, -1);
            return;
        }
        join->redirected = true;
        amk_log(node, LOG_INFO, "join: %s redirected to the leader at %s", from,
                join->target);
        attempt_end(join);
        start_attempt(join);
        return;
    }
    if (status == 409 && self_in_configuration(node)) {
        /* An earlier attempt got through (its answer was lost). */
        amk_log(node, LOG_INFO, "join: already a member of the cluster");
        finish(join, 0);
        return;
    }
    /* The answer body, for the log line: as received, made printable. */
    char detail[201] = "";
    if (body != NULL) {
        size_t n = 0;
        for (const char *p = body + 4; *p != '\0' && n < sizeof detail - 1;
             p++) {
            detail[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : ' ';
        }
        detail[n] = '\0';
    }
    snprintf(why, sizeof why, "%s answered HTTP %d %.100s", join->target,
             status, detail);
    join->conflicts = status == 409 ? join->conflicts + 1 : 0;
    if ((status == 409 && join->conflicts < JOIN_MAX_CONFLICTS) ||
        status == 429 || status >= 500) {
        /* Busy (another change in flight), no leader, a timeout. */
        again(join, why);
        return;
    }
    attempt_end(join);
    amk_log(node, LOG_ERROR, "join: the cluster refused: %s", why);
    finish(join, -1);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct join_attempt *attempt = handle->data;
    size_t room = JOIN_RESPONSE_MAX - attempt->have;
    *buf = uv_buf_init(attempt->response + attempt->have, (unsigned)room);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct join_attempt *attempt = stream->data;
    struct amk_join *join = attempt->join;
    (void)buf;
    if (join == NULL) {
        return;
    }
    if (nread > 0) {
        attempt->have += (size_t)nread;
        attempt->response[attempt->have] = '\0';
        /* The status line and headers are all that is needed. */
        if (strstr(attempt->response, "\r\n\r\n") == NULL &&
            attempt->have < JOIN_RESPONSE_MAX) {
            return;
        }
        uv_read_stop(stream);
        evaluate(join, attempt);
        return;
    }
    if (nread < 0) {
        if (attempt->have > 0) {
            evaluate(join, attempt);
            return;
        }
        char why[160];
        snprintf(why, sizeof why, "%s closed the connection: %s", join->target,
                 uv_strerror((int)nread));
        again(join, why);
    }
}

static void write_cb(uv_write_t *req, int status)
{
    struct join_attempt *attempt = req->data;
    if (attempt->join != NULL && status != 0) {
        char why[160];
        snprintf(why, sizeof why, "sending to %s: %s", attempt->join->target,
                 uv_strerror(status));
        again(attempt->join, why);
    }
}

static void on_connect(uv_connect_t *connect, int status)
{
    struct join_attempt *attempt = connect->data;
    struct amk_join *join = attempt->join;
    if (join == NULL) {
        return;
    }
    if (status == 0) {
        uv_buf_t buf =
            uv_buf_init(attempt->request, (unsigned)strlen(attempt->request));
        attempt->write.data = attempt;
        status = uv_write(&attempt->write, (uv_stream_t *)&attempt->tcp, &buf,
                          1, write_cb);
        if (status == 0) {
            status =
                uv_read_start((uv_stream_t *)&attempt->tcp, alloc_cb, read_cb);
        }
    }
    if (status != 0) {
        char why[160];
        snprintf(why, sizeof why, "connecting to %s: %s", join->target,
                 uv_strerror(status));
        again(join, why);
    }
}

static void attempt_timeout(uv_timer_t *timer)
{
    struct amk_join *join = timer->data;
    char why[160];
    snprintf(why, sizeof why, "%s did not answer within %u s", join->target,
             JOIN_ATTEMPT_MS / 1000);
    again(join, why);
}

static void start_attempt(struct amk_join *join)
{
    struct amk_node *node = join->node;
    struct sockaddr_storage addr;
    join->attempts++;
    if (amk_link_parse_address(join->target, false, &addr) != 0) {
        amk_log(node, LOG_ERROR, "join: %s is not IP:port", join->target);
        finish(join, -1);
        return;
    }
    struct join_attempt *attempt = calloc(1, sizeof *attempt);
    size_t body_len = strlen(join->body);
    size_t cap = strlen(join->path) + strlen(join->target) + body_len + 256;
    char *request = malloc(cap);
    if (attempt == NULL || request == NULL) {
        free(attempt);
        free(request);
        amk_log(node, LOG_ERROR, "join: out of memory");
        finish(join, -1);
        return;
    }
    snprintf(request, cap,
             "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: amkd\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             join->path, join->target, body_len, join->body);
    attempt->request = request;
    attempt->join = join;
    attempt->tcp.data = attempt;
    attempt->connect.data = attempt;
    uv_tcp_init(&node->loop, &attempt->tcp);
    join->attempt = attempt;
    join->state = JOIN_CONNECTING;
    uv_timer_start(&join->timer, attempt_timeout, JOIN_ATTEMPT_MS, 0);
    /* The first request and the redirected one; retries are in again(). */
    amk_log(node, join->attempts <= 2 ? LOG_INFO : LOG_DEBUG,
            "join: asking %s to add node %llu (raft %s)", join->target,
            (unsigned long long)node->config.id, node->config.raft);
    int rv = uv_tcp_connect(&attempt->connect, &attempt->tcp,
                            (struct sockaddr *)&addr, on_connect);
    if (rv != 0) {
        char why[160];
        snprintf(why, sizeof why, "connecting to %s: %s", join->target,
                 uv_strerror(rv));
        again(join, why);
    }
}

int amk_join_start(struct amk_node *node, amk_join_cb done)
{
    struct amk_join *join = calloc(1, sizeof *join);
    json_t *body =
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)node->config.id,
                  "address", node->config.raft, "role", "voter");
    if (join == NULL || body == NULL) {
        goto err_nomem;
    }
    if (node->config.centre[0] != '\0') {
        json_object_set_new(body, "centre", json_string(node->config.centre));
    }
    if (node->config.region[0] != '\0') {
        json_object_set_new(body, "region", json_string(node->config.region));
    }
    join->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    body = NULL;
    if (join->body == NULL) {
        goto err_nomem;
    }
    struct sockaddr_storage addr;
    if (amk_link_parse_address(node->config.join, false, &addr) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "--join %.64s: not an IP:port address", node->config.join);
        free(join->body);
        free(join);
        return -1;
    }
    join->node = node;
    join->done = done;
    snprintf(join->target, sizeof join->target, "%s", node->config.join);
    snprintf(join->path, sizeof join->path, "%s", JOIN_PATH);
    join->deadline = uv_now(&node->loop) + JOIN_BUDGET_MS;
    uv_timer_init(&node->loop, &join->timer);
    join->timer.data = join;
    node->join = join;
    start_attempt(join);
    return 0;

err_nomem:
    json_decref(body);
    if (join != NULL) {
        free(join->body);
    }
    free(join);
    snprintf(node->errmsg, sizeof node->errmsg, "--join: out of memory");
    return -1;
}

void amk_join_cancel(struct amk_node *node)
{
    struct amk_join *join = node->join;
    if (join == NULL) {
        return;
    }
    attempt_end(join);
    join->state = JOIN_FINISHED;
    uv_timer_stop(&join->timer);
    uv_close((uv_handle_t *)&join->timer, timer_closed);
    node->join = NULL;
}
