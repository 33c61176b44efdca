/* api/events.c: Server-Sent Events for GET /v1/events: a subscriber starts
 * with the backlog after its Last-Event-ID (or ?since) read from the state
 * machine, then receives each event as it is applied. Each message is
 * "id: <raft index>\ndata: <event JSON>\n\n", so an EventSource resumes with
 * Last-Event-ID after a disconnect and misses nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

struct amk_api_subscriber {
    struct amk_http_sse *sse;
    uint64_t last; /* index of the last event sent */
    struct amk_api_subscriber *next;
};

void amk_api_events_init(struct amk_api_events *events, unsigned max)
{
    memset(events, 0, sizeof *events);
    events->max = max != 0 ? max : 1024;
}

static void drop(struct amk_api_events *events,
                 struct amk_api_subscriber **link)
{
    struct amk_api_subscriber *sub = *link;
    *link = sub->next;
    amk_http_sse_close(sub->sse);
    free(sub);
    events->n--;
}

void amk_api_events_close(struct amk_api_events *events)
{
    while (events->head != NULL) {
        drop(events, &events->head);
    }
}

/* Pushes one event; returns false when the subscriber is gone or was ended
 * for falling behind. */
static bool push(struct amk_api_events *events, struct amk_api_subscriber *sub,
                 uint64_t index, const char *json, size_t len)
{
    size_t cap = len + 48;
    char *msg = malloc(cap);
    if (msg == NULL) {
        return false;
    }
    int head =
        snprintf(msg, cap, "id: %llu\ndata: ", (unsigned long long)index);
    memcpy(msg + head, json, len);
    memcpy(msg + head + len, "\n\n", 2);
    int rv = amk_http_sse_push(sub->sse, msg, (size_t)head + len + 2);
    free(msg);
    if (rv == AMK_HTTP_EFULL) {
        events->dropped++;
    }
    if (rv != AMK_HTTP_OK) {
        return false;
    }
    sub->last = index;
    events->published++;
    return true;
}

void amk_api_events_publish(struct amk_api_events *events, uint64_t index,
                            const char *json)
{
    size_t len = strlen(json);
    struct amk_api_subscriber **link = &events->head;
    while (*link != NULL) {
        struct amk_api_subscriber *sub = *link;
        if (index <= sub->last) { /* already sent in its backlog */
            link = &sub->next;
            continue;
        }
        if (!amk_http_sse_alive(sub->sse) ||
            !push(events, sub, index, json, len)) {
            drop(events, link);
            continue;
        }
        link = &sub->next;
    }
}

/* Sends the backlog after sub->last from the state machine, the same bytes
 * the live path sends. Returns false if the stream ended (more backlog than
 * the buffer holds: the client gets "event: resync" and reads pages). */
static bool backlog(struct amk_api *api, struct amk_api_subscriber *sub)
{
    struct amk_sm *sm = api->backend->sm;
    for (;;) {
        uint64_t index;
        char *json = NULL;
        int rv = amk_sm_event_next(sm, sub->last, &index, &json);
        if (rv == AMK_ENOTFOUND) {
            return true;
        }
        if (rv != AMK_OK) {
            return false;
        }
        bool ok = push(&api->events, sub, index, json, strlen(json));
        free(json);
        if (!ok) {
            return false;
        }
    }
}

/* GET /v1/events with Accept: text/event-stream. */
int amk_api_events_stream(struct amk_api *api, struct amk_http_request *req,
                          uint64_t since)
{
    struct amk_sm *sm = api->backend->sm;
    amk_http_respond_set_index(req, amk_sm_applied_index(sm));
    /* Same check as the JSON pages: 410 when events were discarded. */
    char *probe = NULL;
    int rv = amk_sm_events(sm, since, 1, &probe);
    free(probe);
    if (rv != AMK_OK) {
        amk_http_respond_error(req, rv, amk_sm_errmsg(sm), NULL);
        return AMK_HTTP_DONE;
    }
    if (api->events.n >= api->events.max) {
        amk_http_respond_set_retry_after(req, 5);
        amk_http_respond_error_status(req, 503, AMK_HTTP_CODE_UNAVAILABLE,
                                      "too many event subscribers", NULL);
        return AMK_HTTP_DONE;
    }
    struct amk_api_subscriber *sub = calloc(1, sizeof *sub);
    if (sub == NULL) {
        amk_http_respond_error_status(req, 500, AMK_HTTP_CODE_INTERNAL,
                                      "out of memory", NULL);
        return AMK_HTTP_DONE;
    }
    if (amk_http_sse_start(req, &sub->sse) != AMK_HTTP_OK) {
        free(sub);
        return AMK_HTTP_DONE;
    }
    sub->last = since;
    sub->next = api->events.head;
    api->events.head = sub;
    api->events.n++;
    if (!backlog(api, sub)) {
        drop(&api->events, &api->events.head);
    }
    return AMK_HTTP_DONE;
}
