/* api/api.c: registers the domain routes of every routes_*.c table. */
#include "routes.h"

int amk_api_register(struct amk_http_router *router, struct amk_api *api,
                     char *errmsg)
{
    const struct routes_entry *tables[] = {routes_centre, routes_incident,
                                           routes_resource, routes_events};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const struct routes_entry *e = tables[t]; e->method != NULL; e++) {
            int rv = amk_http_router_add(router, e->method, e->pattern,
                                         e->handler, e->flags, api, errmsg);
            if (rv != 0) {
                return rv;
            }
        }
    }
    return 0;
}
