/* api/http_metrics.c: per-route request counters by status class, latency
 * histograms, connection and event-stream gauges, and their Prometheus text
 * exposition. Counters are plain integers: everything runs on the loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t bucket_us[HTTP_LATENCY_BUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

static const char *const class_names[6] = {"1xx", "2xx", "3xx",
                                           "4xx", "5xx", "other"};

int http_metrics__init(struct http_metrics *metrics, size_t n_routes)
{
    memset(metrics, 0, sizeof(*metrics));
    metrics->n_slots = n_routes + 1;
    metrics->slots = calloc(metrics->n_slots, sizeof(*metrics->slots));
    return metrics->slots != NULL ? 0 : AMK_HTTP_ENOMEM;
}

void http_metrics__close(struct http_metrics *metrics)
{
    free(metrics->slots);
    metrics->slots = NULL;
}

void http_metrics__record(struct http_metrics *metrics, size_t slot, int status,
                          uint64_t latency_ns)
{
    struct http_metrics_slot *s;
    uint64_t us = latency_ns / 1000;
    size_t b;

    if (slot >= metrics->n_slots) {
        slot = metrics->n_slots - 1;
    }
    s = &metrics->slots[slot];
    if (status >= 100 && status <= 599) {
        s->by_class[status / 100 - 1]++;
    } else {
        s->by_class[5]++;
    }
    for (b = 0; b < HTTP_LATENCY_BUCKETS && us > bucket_us[b]; b++) {
    }
    s->buckets[b]++;
    s->sum_us += us;
    s->count++;
}

struct text {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

static void text_printf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->failed) {
        return;
    }
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        n = vsnprintf(t->buf + t->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        {
            size_t cap = t->cap * 2 + (size_t)n + 1;
            char *buf = realloc(t->buf, cap);
            if (buf == NULL) {
                t->failed = true;
                return;
            }
            t->buf = buf;
            t->cap = cap;
        }
    }
}

/* A label value: backslash, quote and newline escaped. */
static void text_label(struct text *t, const char *value)
{
    for (; *value != '\0'; value++) {
        if (*value == '\\' || *value == '"') {
            text_printf(t, "\\%c", *value);
        } else if (*value == '\n') {
            text_printf(t, "\\n");
        } else {
            text_printf(t, "%c", *value);
        }
    }
}

static void slot_labels(struct text *t, const struct amk_http *http,
                        size_t slot)
{
    const struct amk_http_router *router = http->router;
    if (slot < router->n_routes) {
        text_printf(t, "method=\"");
        text_label(t, router->routes[slot].method);
        text_printf(t, "\",route=\"");
        text_label(t, router->routes[slot].pattern);
        text_printf(t, "\"");
    } else {
        text_printf(t, "method=\"\",route=\"(unmatched)\"");
    }
}

int amk_http_metrics_append(const struct amk_http *http, char **buf,
                            size_t *len)
{
    const struct http_metrics *m = &http->metrics;
    struct text t;
    size_t slot, c, b;

    t.buf = *buf;
    t.len = *buf != NULL ? *len : 0;
    t.cap = *buf != NULL ? *len + 1 : 0;
    t.failed = false;
    if (t.buf == NULL) {
        t.cap = 4096;
        t.buf = malloc(t.cap);
        if (t.buf == NULL) {
            return AMK_HTTP_ENOMEM;
        }
        t.buf[0] = '\0';
    }

    text_printf(&t, "# HELP amk_http_requests_total HTTP requests answered, "
                    "by route and status class.\n"
                    "# TYPE amk_http_requests_total counter\n");
    for (slot = 0; slot < m->n_slots; slot++) {
        for (c = 0; c < 6; c++) {
            if (m->slots[slot].by_class[c] == 0) {
                continue;
            }
            text_printf(&t, "amk_http_requests_total{");
            slot_labels(&t, http, slot);
            text_printf(&t, ",status=\"%s\"} %llu\n", class_names[c],
                        (unsigned long long)m->slots[slot].by_class[c]);
        }
    }

    text_printf(&t, "# HELP amk_http_request_duration_seconds Time from "
                    "request to response start, by route.\n"
                    "# TYPE amk_http_request_duration_seconds histogram\n");
    for (slot = 0; slot < m->n_slots; slot++) {
        const struct http_metrics_slot *s = &m->slots[slot];
        uint64_t cumulative = 0;
        if (s->count == 0) {
            continue;
        }
        for (b = 0; b <= HTTP_LATENCY_BUCKETS; b++) {
            cumulative += s->buckets[b];
            text_printf(&t, "amk_http_request_duration_seconds_bucket{");
            slot_labels(&t, http, slot);
            if (b < HTTP_LATENCY_BUCKETS) {
                text_printf(&t, ",le=\"%g\"} %llu\n",
                            (double)bucket_us[b] / 1e6,
                            (unsigned long long)cumulative);
            } else {
                text_printf(&t, ",le=\"+Inf\"} %llu\n",
                            (unsigned long long)cumulative);
            }
        }
        text_printf(&t, "amk_http_request_duration_seconds_sum{");
        slot_labels(&t, http, slot);
        text_printf(&t, "} %.6f\n", (double)s->sum_us / 1e6);
        text_printf(&t, "amk_http_request_duration_seconds_count{");
        slot_labels(&t, http, slot);
        text_printf(&t, "} %llu\n", (unsigned long long)s->count);
    }

    text_printf(&t,
                "# HELP amk_http_connections Open HTTP connections.\n"
                "# TYPE amk_http_connections gauge\n"
                "amk_http_connections %zu\n"
                "# HELP amk_http_connections_total HTTP connections "
                "accepted.\n"
                "# TYPE amk_http_connections_total counter\n"
                "amk_http_connections_total %llu\n"
                "# HELP amk_http_connections_rejected_total Connections over "
                "the limit: answered 503 (overload) or closed at once "
                "(closed).\n"
                "# TYPE amk_http_connections_rejected_total counter\n"
                "amk_http_connections_rejected_total{how=\"overload\"} %llu\n"
                "amk_http_connections_rejected_total{how=\"closed\"} %llu\n"
                "# HELP amk_http_clients_gone_total Pending requests and "
                "streams whose client left first.\n"
                "# TYPE amk_http_clients_gone_total counter\n"
                "amk_http_clients_gone_total %llu\n"
                "# HELP amk_http_event_streams Open event streams.\n"
                "# TYPE amk_http_event_streams gauge\n"
                "amk_http_event_streams %llu\n"
                "# HELP amk_http_event_stream_resyncs_total Event streams "
                "ended with resync because the client fell behind.\n"
                "# TYPE amk_http_event_stream_resyncs_total counter\n"
                "amk_http_event_stream_resyncs_total %llu\n",
                http->n_conns, (unsigned long long)m->connections_total,
                (unsigned long long)m->connections_overload,
                (unsigned long long)m->connections_rejected,
                (unsigned long long)m->clients_gone,
                (unsigned long long)m->streams_open,
                (unsigned long long)m->streams_resync);

    if (t.failed) {
        if (*buf == NULL) {
            free(t.buf);
        } else {
            /* realloc may have moved the caller's text: hand it back, cut
             * to what it was. */
            t.buf[*len] = '\0';
            *buf = t.buf;
        }
        return AMK_HTTP_ENOMEM;
    }
    *buf = t.buf;
    *len = t.len;
    return 0;
}
