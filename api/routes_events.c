/* api/routes_events.c: the event log as JSON pages or a Server-Sent Events
 * stream (API.md "Events"; api/events.c), and the audit log. */
#include <stdlib.h>
#include <string.h>

#include "routes.h"

static int parse_u64(struct amk_http_request *req, const char *name,
                     uint64_t *out)
{
    const char *v = amk_http_request_query(req, name);
    if (v == NULL) {
        return 0;
    }
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] == '-' || v[0] == '\0' || *end != '\0') {
        return api_invalid(req, "%s: a non-negative integer", name);
    }
    *out = n;
    return 0;
}

static void read_events(struct amk_api *api, struct amk_http_request *req)
{
    uint64_t since = 0, limit = 0;
    if (parse_u64(req, "since", &since) || parse_u64(req, "limit", &limit)) {
        return;
    }
    if (limit > 1000) {
        api_invalid(req, "limit: at most 1000");
        return;
    }
    char *json = NULL;
    int rv = amk_sm_events(api->backend->sm, since, (unsigned)limit, &json);
    api_answer_query(api, req, rv, json, 0);
}

static int events_get(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    if (req->accepts_event_stream) {
        /* Resume after Last-Event-ID, else after ?since (default 0). */
        uint64_t since = 0;
        if (parse_u64(req, "since", &since)) {
            return AMK_HTTP_DONE;
        }
        if (req->has_last_event_id) {
            since = req->last_event_id;
        }
        return amk_api_events_stream(api, req, since);
    }
    return api_read(api, req, read_events);
}

static void read_audit(struct amk_api *api, struct amk_http_request *req)
{
    uint64_t since = 0, limit = 0;
    if (parse_u64(req, "since", &since) || parse_u64(req, "limit", &limit)) {
        return;
    }
    const char *after = amk_http_request_query(req, "after");
    if (after != NULL) {
        char *end;
        unsigned long long a = strtoull(after, &end, 10);
        if (*end != '\0') {
            api_invalid(req, "after: not a cursor from this list");
            return;
        }
        if (a > since) {
            since = a;
        }
    }
    char *json = NULL;
    int rv =
        amk_sm_audit(api->backend->sm, amk_http_request_query(req, "object"),
                     amk_http_request_query(req, "actor"), since,
                     (unsigned)(limit > 1000 ? 1000 : limit), &json);
    api_answer_query(api, req, rv, json, 0);
}

static int audit_get(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_audit);
}

const struct routes_entry routes_events[] = {
    {"GET", "/v1/events", events_get, 0},
    {"GET", "/v1/audit", audit_get, 0},
    {NULL, NULL, NULL, 0},
};
