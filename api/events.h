/* api/events.h: the live event stream (GET /v1/events with Accept:
 * text/event-stream). Subscribers get the backlog after their Last-Event-ID
 * (or ?since) from the state machine, then every event as it is applied.
 * A subscriber that cannot keep up is ended with "event: resync" by the HTTP
 * layer's bounded buffer, never slowing writers. */
#ifndef AMK_API_EVENTS_H
#define AMK_API_EVENTS_H

#include <stdint.h>

#include "http.h"

struct amk_api_subscriber;

struct amk_api_events {
    struct amk_api_subscriber *head; /* live subscribers */
    unsigned n;                      /* how many */
    unsigned max;                    /* cap: beyond it 503 + Retry-After */
    uint64_t dropped;                /* ended because they fell behind */
    uint64_t published;              /* events pushed to subscribers */
};

/* Sets up an empty registry with room for max subscribers (0: 1024). */
void amk_api_events_init(struct amk_api_events *events, unsigned max);

/* Ends every stream and frees the registry's subscribers. */
void amk_api_events_close(struct amk_api_events *events);

/* Sends one applied event (its JSON text and raft index) to every live
 * subscriber. Call in index order, for every applied event. */
void amk_api_events_publish(struct amk_api_events *events, uint64_t index,
                            const char *json);

#endif
