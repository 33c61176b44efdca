/* api/routes_centre.c: centres, takeover and handback, and console sessions
 * (API.md "Centres and sessions"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

static int backups(struct amk_http_request *req, json_t *body,
                   struct amk_str *list, uint32_t *n)
{
    json_t *v = json_object_get(body, "backups");
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > AMK_CMD_MAX_BACKUPS) {
        return api_invalid(req, "backups: an array of at most %d centre ids",
                           AMK_CMD_MAX_BACKUPS);
    }
    *n = (uint32_t)json_array_size(v);
    for (size_t i = 0; i < *n; i++) {
        json_t *item = json_array_get(v, i);
        if (!json_is_string(item)) {
            return api_invalid(req, "backups[%zu]: must be a string", i);
        }
        list[i] = amk_str_c(json_string_value(item));
    }
    return 0;
}

static int centre_create(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_CENTRE_REGISTER);
    api_actor(api, req, &cmd);
    struct amk_cmd_centre_register *c = &cmd.u.centre_register;
    c->n_backups = 0;
    if (api_str(req, req->body, "", "id", true, &c->id) ||
        api_str(req, req->body, "", "name", true, &c->name) ||
        api_str(req, req->body, "", "region", true, &c->region) ||
        backups(req, req->body, c->backups, &c->n_backups) ||
        api_bool(req, req->body, "auto_takeover", &c->auto_takeover)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_CREATED);
}

static int centre_patch(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_CENTRE_UPDATE);
    api_actor(api, req, &cmd);
    struct amk_cmd_centre_update *c = &cmd.u.centre_update;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    if (api_str(req, req->body, "", "name", false, &c->name) ||
        backups(req, req->body, c->backups, &c->n_backups) ||
        api_bool(req, req->body, "auto_takeover", &c->auto_takeover)) {
        return AMK_HTTP_DONE;
    }
    json_t *state = json_object_get(req->body, "service_state");
    if (state != NULL) {
        /* Service state has a command of its own. */
        amk_cmd_init(&cmd, AMK_CMD_CENTRE_SET_STATE);
        api_actor(api, req, &cmd);
        cmd.u.centre_set_state.id =
            amk_str_c(amk_http_request_param(req, "id"));
        if (api_enum(req, req->body, "service_state", AMK_ENUM_SERVICE_STATE,
                     true, &cmd.u.centre_set_state.state)) {
            return AMK_HTTP_DONE;
        }
    }
    return api_submit(api, req, &cmd, API_ANSWER_OBJECT);
}

static int centre_takeover(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_CENTRE_TAKEOVER);
    api_actor(api, req, &cmd);
    struct amk_cmd_centre_takeover *c = &cmd.u.centre_takeover;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    if (api_str(req, req->body, "", "by", true, &c->by) ||
        api_str(req, req->body, "", "reason", false, &c->reason)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_OBJECT);
}

static int centre_handback(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_CENTRE_HANDBACK);
    api_actor(api, req, &cmd);
    struct amk_cmd_centre_handback *c = &cmd.u.centre_handback;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    if (api_enum(req, req->body, "incidents", AMK_ENUM_HANDBACK, false,
                 &c->incidents)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_OBJECT);
}

static void read_centre(struct amk_api *api, struct amk_http_request *req)
{
    char *json = NULL;
    uint64_t version = 0;
    int rv = amk_sm_get(api->backend->sm, AMK_OBJ_CENTRE,
                        amk_http_request_param(req, "id"), &json, &version);
    api_answer_query(api, req, rv, json, version);
}

static int centre_get(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_centre);
}

/* limit and after, shared by every list. Returns 0 or answers 400. */
int routes_paging(struct amk_http_request *req, struct amk_sm_filter *f)
{
    memset(f, 0, sizeof *f);
    const char *limit = amk_http_request_query(req, "limit");
    if (limit != NULL) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (*end != '\0' || v < 1 || v > 1000) {
            return api_invalid(req, "limit: an integer 1..1000");
        }
        f->limit = (unsigned)v;
    }
    f->after = amk_http_request_query(req, "after");
    return 0;
}

static void read_centres(struct amk_api *api, struct amk_http_request *req)
{
    struct amk_sm_filter f;
    if (routes_paging(req, &f) != 0) {
        return;
    }
    char *json = NULL;
    int rv = amk_sm_list(api->backend->sm, AMK_OBJ_CENTRE, &f, &json);
    api_answer_query(api, req, rv, json, 0);
}

static int centre_list(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_centres);
}

static int session_create(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_SESSION_OPEN);
    api_actor(api, req, &cmd);
    cmd.h.session.len = 0; /* a login acts as nobody yet */
    cmd.h.role = AMK_ROLE_OPERATOR;
    struct amk_cmd_session_open *c = &cmd.u.session_open;
    char id[37];
    api->backend->new_id(api->backend->data, id);
    c->id = amk_str_c(id);
    uint8_t role = AMK_ROLE_OPERATOR;
    if (api_str(req, req->body, "", "centre", true, &c->centre) ||
        api_str(req, req->body, "", "console", true, &c->console) ||
        api_str(req, req->body, "", "operator", true, &c->operator_id) ||
        api_enum(req, req->body, "role", AMK_ENUM_ROLE, false, &role)) {
        return AMK_HTTP_DONE;
    }
    if (role == AMK_ROLE_SYSTEM || role == AMK_ROLE_ADMIN) {
        api_invalid(req, "role: a session is operator, bridge or observer");
        return AMK_HTTP_DONE;
    }
    cmd.h.role = role;
    return api_submit(api, req, &cmd, API_ANSWER_CREATED);
}

static void read_session(struct amk_api *api, struct amk_http_request *req)
{
    char *json = NULL;
    uint64_t version = 0;
    int rv = amk_sm_get(api->backend->sm, AMK_OBJ_SESSION,
                        amk_http_request_param(req, "id"), &json, &version);
    api_answer_query(api, req, rv, json, version);
}

static int session_get(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_session);
}

static void heartbeat_read(struct amk_api *api, struct amk_http_request *req)
{
    struct amk_sm_session_info info;
    const char *id = amk_http_request_param(req, "id");
    int rv = amk_sm_session_info(api->backend->sm, id, &info);
    amk_http_respond_set_index(req, amk_sm_applied_index(api->backend->sm));
    if (rv == AMK_ENOTFOUND || (rv == AMK_OK && info.closed)) {
        amk_http_respond_error(
            req, AMK_EUNAUTHENTICATED,
            rv == AMK_OK ? "session is closed" : "unknown session", NULL);
        return;
    }
    if (rv != AMK_OK) {
        amk_http_respond_error(req, rv, amk_sm_errmsg(api->backend->sm), NULL);
        return;
    }
    if (api->backend->heartbeat != NULL) {
        api->backend->heartbeat(api->backend->data, id, info.centre,
                                !info.stale && !info.read_only);
    }
    json_t *out =
        json_pack("{s:s, s:s, s:I, s:b, s:b}", "id", id, "centre", info.centre,
                  "epoch", (json_int_t)info.epoch, "valid",
                  !info.stale && !info.read_only, "read_only", info.read_only);
    amk_http_respond_json(req, 200, out);
}

static int session_heartbeat(struct amk_http_request *req)
{
    /* Heartbeats are liveness, not state: not replicated; the node passes
     * them to the leader's takeover supervisor. */
    return api_read(req->route_data, req, heartbeat_read);
}

static int session_delete(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_SESSION_CLOSE);
    api_actor(api, req, &cmd);
    const char *id = amk_http_request_param(req, "id");
    cmd.u.session_close.id = amk_str_c(id);
    /* Closing one's own session needs no X-Amk-Session header. */
    if (req->session == NULL) {
        cmd.h.session = amk_str_c(id);
    }
    return api_submit(api, req, &cmd, API_ANSWER_NO_CONTENT);
}

const struct routes_entry routes_centre[] = {
    {"POST", "/v1/centres", centre_create,
     AMK_HTTP_ROUTE_WRITE | AMK_HTTP_ROUTE_BODY_REQUIRED},
    {"GET", "/v1/centres", centre_list, 0},
    {"GET", "/v1/centres/{id}", centre_get, 0},
    {"PATCH", "/v1/centres/{id}", centre_patch,
     AMK_HTTP_ROUTE_WRITE | AMK_HTTP_ROUTE_BODY_REQUIRED},
    {"POST", "/v1/centres/{id}/takeover", centre_takeover,
     AMK_HTTP_ROUTE_WRITE | AMK_HTTP_ROUTE_BODY_REQUIRED},
    {"POST", "/v1/centres/{id}/handback", centre_handback,
     AMK_HTTP_ROUTE_WRITE},
    {"POST", "/v1/sessions", session_create,
     AMK_HTTP_ROUTE_WRITE | AMK_HTTP_ROUTE_BODY_REQUIRED},
    {"GET", "/v1/sessions/{id}", session_get, 0},
    {"POST", "/v1/sessions/{id}/heartbeat", session_heartbeat, 0},
    {"DELETE", "/v1/sessions/{id}", session_delete, AMK_HTTP_ROUTE_WRITE},
    {NULL, NULL, NULL, 0},
};
