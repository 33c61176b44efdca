/* api/http_sse.c: Server-Sent Events (text/event-stream) responses. A
 * stream double-buffers: h2o holds one buffer until it asks for more
 * (generator proceed), messages queue in the other. The queue is bounded:
 * a client that reads too slowly gets a final "event: resync" and the
 * stream ends, so a slow console can never make the server buffer without
 * limit; it resumes with Last-Event-ID. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"

#define SSE_RESYNC    "event: resync\ndata: {\"reason\":\"client too slow\"}\n\n"
#define SSE_HEARTBEAT ":\n\n"

static struct http_req *req_of(const struct amk_http_sse *sse)
{
    return (struct http_req *)(void *)((const char *)sse -
                                       offsetof(struct http_req, sse));
}

static bool stream_open(const struct http_req *req)
{
    return req->state == HTTP_REQ_STREAMING && !req->gone && req->h2o != NULL &&
           !req->sse.ending && !req->sse.ended;
}

/* Hands the queue to h2o when it is not holding a buffer already. */
static void flush(struct http_req *req)
{
    struct amk_http_sse *sse = &req->sse;
    h2o_iovec_t buf;
    h2o_send_state_t state;
    char *swap_buf;
    size_t swap_cap;

    if (sse->sending || sse->ended || req->h2o == NULL) {
        return;
    }
    if (sse->queue_len == 0 && !sse->ending) {
        return;
    }
    swap_buf = sse->inflight;
    swap_cap = sse->inflight_cap;
    sse->inflight = sse->queue;
    sse->inflight_cap = sse->queue_cap;
    sse->inflight_len = sse->queue_len;
    sse->queue = swap_buf;
    sse->queue_cap = swap_cap;
    sse->queue_len = 0;

    state = H2O_SEND_STATE_IN_PROGRESS;
    if (sse->ending) {
        state = H2O_SEND_STATE_FINAL;
        sse->ended = true;
        http_request__async_unlink(req);
    }
    sse->sending = true;
    sse->last_send_ms = uv_now(req->server->loop);
    buf = h2o_iovec_init(sse->inflight, sse->inflight_len);

    /* A final send with nothing to write can complete, and free the h2o
     * request, from inside h2o_send. */
    http_request__ref(req);
    h2o_send(req->h2o, buf.len ? &buf : NULL, buf.len ? 1 : 0, state);
    http_request__unref(req);
}

static void on_proceed(h2o_generator_t *generator, h2o_req_t *h2o)
{
    struct http_guard *guard =
        (struct http_guard *)(void *)((char *)generator -
                                      offsetof(struct http_guard, generator));
    struct http_req *req = guard->req;

    req->sse.sending = false;
    req->sse.inflight_len = 0;
    flush(req);
}

static void on_stop(h2o_generator_t *generator, h2o_req_t *h2o)
{
    /* The guard's dispose, right after, marks the stream gone. */
}

/* Appends to the queue; false when out of memory. */
static bool enqueue(struct amk_http_sse *sse, const char *message, size_t len)
{
    if (sse->queue_len + len > sse->queue_cap) {
        size_t cap = sse->queue_cap ? sse->queue_cap : 1024;
        char *queue;
        while (cap < sse->queue_len + len) {
            cap *= 2;
        }
        queue = realloc(sse->queue, cap);
        if (queue == NULL) {
            return false;
        }
        sse->queue = queue;
        sse->queue_cap = cap;
    }
    memcpy(sse->queue + sse->queue_len, message, len);
    sse->queue_len += len;
    return true;
}

/* The client cannot keep up: drop what it has not been sent, tell it to
 * resynchronise, and end the stream. */
static void overflow(struct http_req *req)
{
    struct amk_http_sse *sse = &req->sse;
    sse->queue_len = 0;
    (void)enqueue(sse, SSE_RESYNC, sizeof(SSE_RESYNC) - 1);
    sse->ending = true;
    req->server->metrics.streams_resync++;
    flush(req);
}

int amk_http_sse_start(struct amk_http_request *pub, struct amk_http_sse **out)
{
    struct http_req *req = HTTP_REQ_OF(pub);
    struct amk_http *http = req->server;
    h2o_req_t *h2o = req->h2o;
    char index[24];
    int n;

    *out = NULL;
    if (req->gone || h2o == NULL ||
        (req->state != HTTP_REQ_RUNNING && req->state != HTTP_REQ_PENDING)) {
        if (!req->in_handler) {
            http_request__unref(req);
        }
        return AMK_HTTP_EGONE;
    }
    if (http->closing) {
        amk_http_respond_set_retry_after(pub, 1);
        amk_http_respond_error_status(pub, 503, AMK_HTTP_CODE_UNAVAILABLE,
                                      "server shutting down", NULL);
        return AMK_HTTP_EGONE;
    }

    h2o->res.status = 200;
    h2o->res.reason = "OK";
    h2o->res.content_length = SIZE_MAX;
    h2o_add_header(&h2o->pool, &h2o->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&h2o->pool, &h2o->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    uint64_t at = req->index_set ? req->index : http__applied_index(http);
    n = snprintf(index, sizeof(index), "%llu", (unsigned long long)at);
    {
        h2o_iovec_t v = h2o_strdup(&h2o->pool, index, (size_t)n);
        h2o_add_header_by_str(&h2o->pool, &h2o->res.headers,
                              H2O_STRLIT(HTTP_INDEX_HEADER), 0, NULL, v.base,
                              v.len);
    }
    if (h2o->version < 0x101) {
        h2o->http1_is_persistent = 0; /* no chunked encoding: close ends it */
    }
    http_metrics__record(&http->metrics, req->metrics_slot, 200,
                         uv_hrtime() - req->started_ns);
    http_respond__access(req, 200, at, true);
    http->metrics.streams_open++;

    /* The owner's reference now belongs to the stream. */
    req->state = HTTP_REQ_STREAMING;
    http_request__async_link(req);
    req->guard->generator.proceed = on_proceed;
    req->guard->generator.stop = on_stop;
    req->sse.sending = true;
    req->sse.last_send_ms = uv_now(http->loop);
    http_request__ref(req);
    h2o_start_response(h2o, &req->guard->generator);
    h2o_send(h2o, NULL, 0, H2O_SEND_STATE_IN_PROGRESS); /* the headers */
    http_request__unref(req);
    *out = &req->sse;
    return 0;
}

int amk_http_sse_push(struct amk_http_sse *sse, const char *message, size_t len)
{
    struct http_req *req = req_of(sse);

    /* Once the stream is closed the server may be gone too. */
    if (!stream_open(req)) {
        return AMK_HTTP_EGONE;
    }
    if (sse->queue_len + len > req->server->config.limits.sse_buffer ||
        !enqueue(sse, message, len)) {
        overflow(req);
        return AMK_HTTP_EFULL;
    }
    flush(req);
    return 0;
}

bool amk_http_sse_alive(const struct amk_http_sse *sse)
{
    return stream_open(req_of(sse));
}

void amk_http_sse_close(struct amk_http_sse *sse)
{
    struct http_req *req = req_of(sse);
    if (stream_open(req)) {
        sse->ending = true;
        flush(req);
    }
    http_request__unref(req);
}

void http_sse__end(struct http_req *req)
{
    /* Also for a stream already marked gone: the final chunk is what makes
     * h2o finish (or fail and close) the request. */
    if (req->state == HTTP_REQ_STREAMING && req->h2o != NULL &&
        !req->sse.ending && !req->sse.ended) {
        req->sse.ending = true;
        flush(req);
    }
}

void http_sse__heartbeat(struct http_req *req, uint64_t now_ms)
{
    struct amk_http_sse *sse = &req->sse;
    uint64_t every = req->server->config.limits.sse_heartbeat_ms;

    if (every == 0 || !stream_open(req) || sse->sending ||
        sse->queue_len != 0 || now_ms - sse->last_send_ms < every) {
        return;
    }
    if (enqueue(sse, SSE_HEARTBEAT, sizeof(SSE_HEARTBEAT) - 1)) {
        flush(req);
    }
}

void http_sse__free(struct http_req *req)
{
    free(req->sse.inflight);
    free(req->sse.queue);
    req->sse.inflight = req->sse.queue = NULL;
}
