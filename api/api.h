/* api/api.h: the domain routes of the HTTP API (API.md): JSON requests become
 * sm commands proposed through the backend, reads come from the local state
 * machine at a linearizable (default) or local read point. */
#ifndef AMK_API_API_H
#define AMK_API_API_H

#include "backend.h"
#include "events.h"
#include "http.h"

struct amk_api {
    const struct amk_api_backend *backend; /* borrowed */
    struct amk_api_events events;          /* live event subscribers */
};

/* Registers every domain route on router, with api (borrowed, must outlive
 * the router) as route data. Returns 0 or an AMK_HTTP_* code with errmsg. */
int amk_api_register(struct amk_http_router *router, struct amk_api *api,
                     char *errmsg);

/* Parses an RFC 3339 time ("2026-11-24T10:00:00.123Z", offsets allowed) or
 * integer milliseconds since the epoch. Returns 0 or -1. */
int amk_api_parse_time(const json_t *value, int64_t *ms);

#endif
