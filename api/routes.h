/* api/routes.h: the route tables of the domain routes, one per file. */
#ifndef AMK_API_ROUTES_H
#define AMK_API_ROUTES_H

#include "write.h"

struct routes_entry {
    const char *method;
    const char *pattern;
    amk_http_handler_fn handler;
    unsigned flags;
};

extern const struct routes_entry routes_centre[];
extern const struct routes_entry routes_incident[];
extern const struct routes_entry routes_resource[];
extern const struct routes_entry routes_events[];

/* events.c: turns a GET /v1/events into an event stream from `since`. */
int amk_api_events_stream(struct amk_api *api, struct amk_http_request *req,
                          uint64_t since);

/* limit and after. Returns 0 or answers 400 and returns -1. */
int routes_paging(struct amk_http_request *req, struct amk_sm_filter *f);

#endif
