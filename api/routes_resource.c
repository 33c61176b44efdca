/* api/routes_resource.c: resources and the field reports of bridges and
 * consoles (API.md "Resources"). */
#include <string.h>

#include "routes.h"

static int resource_create(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_RESOURCE_REGISTER);
    api_actor(api, req, &cmd);
    struct amk_cmd_resource_register *c = &cmd.u.resource_register;
    if (api_str(req, req->body, "", "id", true, &c->id) ||
        api_enum(req, req->body, "type", AMK_ENUM_RESOURCE_TYPE, true,
                 &c->type) ||
        api_int(req, req->body, "issi", true, &c->issi) ||
        api_str(req, req->body, "", "home_centre", true, &c->home_centre)) {
        return AMK_HTTP_DONE;
    }
    if (c->issi < 0 || c->issi > 16777215) {
        api_invalid(req, "issi: an integer 0..16777215 (24-bit ISSI)");
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_CREATED);
}

static void read_resource(struct amk_api *api, struct amk_http_request *req)
{
    char *json = NULL;
    uint64_t version = 0;
    int rv = amk_sm_get(api->backend->sm, AMK_OBJ_RESOURCE,
                        amk_http_request_param(req, "id"), &json, &version);
    api_answer_query(api, req, rv, json, version);
}

static int resource_get(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_resource);
}

static void read_resources(struct amk_api *api, struct amk_http_request *req)
{
    struct amk_sm_filter f;
    if (routes_paging(req, &f) != 0) {
        return;
    }
    f.centre = amk_http_request_query(req, "centre");
    f.status = amk_http_request_query(req, "status");
    char *json = NULL;
    int rv = amk_sm_list(api->backend->sm, AMK_OBJ_RESOURCE, &f, &json);
    api_answer_query(api, req, rv, json, 0);
}

static int resource_list(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_resources);
}

static int resource_status(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_RESOURCE_STATUS);
    api_actor(api, req, &cmd);
    struct amk_cmd_resource_status *c = &cmd.u.resource_status;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    if (api_enum(req, req->body, "status", AMK_ENUM_RESOURCE_STATUS, true,
                 &c->status) ||
        api_int(req, req->body, "seq", true, &c->seq) ||
        api_time(req, req->body, "event_time", &c->event_time) ||
        api_int(req, req->body, "raw_code", false, &c->raw_code)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_APPLIED);
}

static int resource_position(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_RESOURCE_POSITION);
    api_actor(api, req, &cmd);
    struct amk_cmd_resource_position *c = &cmd.u.resource_position;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    if (api_num(req, req->body, "", "lat", true, &c->lat) ||
        api_num(req, req->body, "", "lon", true, &c->lon) ||
        api_num(req, req->body, "", "accuracy_m", false, &c->accuracy_m) ||
        api_num(req, req->body, "", "speed", false, &c->speed) ||
        api_num(req, req->body, "", "heading", false, &c->heading) ||
        api_int(req, req->body, "seq", true, &c->seq) ||
        api_time(req, req->body, "event_time", &c->event_time)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_APPLIED);
}

static int resource_alarm(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_RESOURCE_ALARM);
    api_actor(api, req, &cmd);
    struct amk_cmd_resource_alarm *c = &cmd.u.resource_alarm;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    c->on = 1;
    if (api_bool(req, req->body, "on", &c->on) ||
        api_int(req, req->body, "seq", true, &c->seq) ||
        api_time(req, req->body, "event_time", &c->event_time)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_APPLIED);
}

#define W AMK_HTTP_ROUTE_WRITE
#define B AMK_HTTP_ROUTE_BODY_REQUIRED
const struct routes_entry routes_resource[] = {
    {"POST", "/v1/resources", resource_create, W | B},
    {"GET", "/v1/resources", resource_list, 0},
    {"GET", "/v1/resources/{id}", resource_get, 0},
    {"POST", "/v1/resources/{id}/status", resource_status, W | B},
    {"POST", "/v1/resources/{id}/position", resource_position, W | B},
    {"POST", "/v1/resources/{id}/alarm", resource_alarm, W | B},
    {NULL, NULL, NULL, 0},
};
