/* api/routes_incident.c: incidents (API.md "Incidents"). */
#include <stdio.h>
#include <string.h>

#include "routes.h"

/* location {lat, lon, accuracy_m, address, municipality}, caller {phone,
 * name}, patients [...], shared by create and update. */
static int details(struct amk_http_request *req, json_t *body, double *lat,
                   double *lon, double *accuracy_m, struct amk_str *address,
                   struct amk_str *municipality, struct amk_str *phone,
                   struct amk_str *name, uint32_t *n_patients,
                   struct amk_patient *patients)
{
    json_t *loc = json_object_get(body, "location");
    if (loc != NULL && !json_is_null(loc)) {
        if (!json_is_object(loc)) {
            return api_invalid(req, "location: must be an object");
        }
        if (api_num(req, loc, "location", "lat", false, lat) ||
            api_num(req, loc, "location", "lon", false, lon) ||
            api_num(req, loc, "location", "accuracy_m", false, accuracy_m) ||
            api_str(req, loc, "location", "address", false, address) ||
            api_str(req, loc, "location", "municipality", false,
                    municipality)) {
            return -1;
        }
    }
    json_t *caller = json_object_get(body, "caller");
    if (caller != NULL && !json_is_null(caller)) {
        if (!json_is_object(caller)) {
            return api_invalid(req, "caller: must be an object");
        }
        if (api_str(req, caller, "caller", "phone", false, phone) ||
            api_str(req, caller, "caller", "name", false, name)) {
            return -1;
        }
    }
    json_t *list = json_object_get(body, "patients");
    if (list != NULL && !json_is_null(list)) {
        if (!json_is_array(list) ||
            json_array_size(list) > AMK_CMD_MAX_PATIENTS) {
            return api_invalid(req, "patients: an array of at most %d",
                               AMK_CMD_MAX_PATIENTS);
        }
        *n_patients = (uint32_t)json_array_size(list);
        for (size_t i = 0; i < *n_patients; i++) {
            json_t *p = json_array_get(list, i);
            char prefix[32];
            snprintf(prefix, sizeof prefix, "patients[%zu]", i);
            if (!json_is_object(p)) {
                return api_invalid(req, "%s: must be an object", prefix);
            }
            int64_t age = INT32_MIN;
            struct amk_str sex = {0};
            if (api_str(req, p, prefix, "name", false, &patients[i].name) ||
                api_str(req, p, prefix, "national_id", false,
                        &patients[i].national_id) ||
                api_str(req, p, prefix, "sex", false, &sex)) {
                return -1;
            }
            json_t *a = json_object_get(p, "age");
            if (a != NULL && !json_is_null(a)) {
                if (!json_is_integer(a) || json_integer_value(a) < 0 ||
                    json_integer_value(a) > 150) {
                    return api_invalid(req, "%s.age: an integer 0..150",
                                       prefix);
                }
                age = json_integer_value(a);
            }
            patients[i].age = (int32_t)age;
            if (sex.ptr != NULL &&
                amk_enum_parse(AMK_ENUM_SEX, sex.ptr, sex.len,
                               &patients[i].sex) != 0) {
                return api_invalid(req, "%s.sex: unknown value '%.32s' (%s)",
                                   prefix, sex.ptr,
                                   amk_enum_choices(AMK_ENUM_SEX));
            }
        }
    }
    return 0;
}

static int incident_create(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_INCIDENT_CREATE);
    api_actor(api, req, &cmd);
    struct amk_cmd_incident_create *c = &cmd.u.incident_create;
    char id[37];
    api->backend->new_id(api->backend->data, id);
    c->id = amk_str_c(id);
    if (api_enum(req, req->body, "urgency", AMK_ENUM_URGENCY, true,
                 &c->urgency) ||
        api_str(req, req->body, "", "criterion", false, &c->criterion) ||
        api_str(req, req->body, "", "note", false, &c->note) ||
        api_str(req, req->body, "", "area_centre", false, &c->area_centre) ||
        details(req, req->body, &c->lat, &c->lon, &c->accuracy_m, &c->address,
                &c->municipality, &c->caller_phone, &c->caller_name,
                &c->n_patients, c->patients)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_CREATED);
}

static int incident_patch(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_INCIDENT_UPDATE);
    api_actor(api, req, &cmd);
    struct amk_cmd_incident_update *c = &cmd.u.incident_update;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    if (api_enum(req, req->body, "urgency", AMK_ENUM_URGENCY, false,
                 &c->urgency) ||
        api_enum(req, req->body, "status", AMK_ENUM_INCIDENT_STATUS, false,
                 &c->status) ||
        api_str(req, req->body, "", "criterion", false, &c->criterion) ||
        details(req, req->body, &c->lat, &c->lon, &c->accuracy_m, &c->address,
                &c->municipality, &c->caller_phone, &c->caller_name,
                &c->n_patients, c->patients)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_OBJECT);
}

static void read_incident(struct amk_api *api, struct amk_http_request *req)
{
    char *json = NULL;
    uint64_t version = 0;
    int rv = amk_sm_get(api->backend->sm, AMK_OBJ_INCIDENT,
                        amk_http_request_param(req, "id"), &json, &version);
    api_answer_query(api, req, rv, json, version);
}

static int incident_get(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_incident);
}

static void read_incidents(struct amk_api *api, struct amk_http_request *req)
{
    struct amk_sm_filter f;
    if (routes_paging(req, &f) != 0) {
        return;
    }
    f.owner = amk_http_request_query(req, "owner");
    f.status = amk_http_request_query(req, "status");
    f.urgency = amk_http_request_query(req, "urgency");
    char *json = NULL;
    int rv = amk_sm_list(api->backend->sm, AMK_OBJ_INCIDENT, &f, &json);
    api_answer_query(api, req, rv, json, 0);
}

static int incident_list(struct amk_http_request *req)
{
    return api_read(req->route_data, req, read_incidents);
}

/* A command on the incident in the path whose body is one string field. */
static int incident_simple(struct amk_http_request *req, uint16_t type,
                           const char *field, bool required,
                           enum api_answer answer)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, type);
    api_actor(api, req, &cmd);
    /* Every incident command body starts with (id, <string>); see
     * sm/cmd.h: note(id,text), assign/unassign(id,resource),
     * cancel(id,reason), transfer(id,to), accept/reject(id,reason). */
    struct amk_cmd_incident_note *c = &cmd.u.incident_note;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    if (field != NULL &&
        api_str(req, req->body, "", field, required, &c->text)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, answer);
}

static int incident_note(struct amk_http_request *req)
{
    return incident_simple(req, AMK_CMD_INCIDENT_NOTE, "text", true,
                           API_ANSWER_CREATED);
}

static int incident_assign(struct amk_http_request *req)
{
    return incident_simple(req, AMK_CMD_INCIDENT_ASSIGN, "resource", true,
                           API_ANSWER_CREATED);
}

static int incident_unassign(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_INCIDENT_UNASSIGN);
    api_actor(api, req, &cmd);
    cmd.u.incident_unassign.id = amk_str_c(amk_http_request_param(req, "id"));
    cmd.u.incident_unassign.resource =
        amk_str_c(amk_http_request_param(req, "resource"));
    return api_submit(api, req, &cmd, API_ANSWER_OBJECT);
}

static int incident_phase(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_INCIDENT_PHASE);
    api_actor(api, req, &cmd);
    struct amk_cmd_incident_phase *c = &cmd.u.incident_phase;
    c->id = amk_str_c(amk_http_request_param(req, "id"));
    c->resource = amk_str_c(amk_http_request_param(req, "resource"));
    if (api_enum(req, req->body, "phase", AMK_ENUM_RESOURCE_STATUS, true,
                 &c->phase)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_OBJECT);
}

static int incident_close(struct amk_http_request *req)
{
    struct amk_api *api = req->route_data;
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_INCIDENT_CLOSE);
    api_actor(api, req, &cmd);
    cmd.u.incident_close.id = amk_str_c(amk_http_request_param(req, "id"));
    if (api_enum(req, req->body, "disposition", AMK_ENUM_DISPOSITION, true,
                 &cmd.u.incident_close.disposition)) {
        return AMK_HTTP_DONE;
    }
    return api_submit(api, req, &cmd, API_ANSWER_OBJECT);
}

static int incident_cancel(struct amk_http_request *req)
{
    return incident_simple(req, AMK_CMD_INCIDENT_CANCEL, "reason", false,
                           API_ANSWER_OBJECT);
}

static int incident_transfer(struct amk_http_request *req)
{
    return incident_simple(req, AMK_CMD_INCIDENT_TRANSFER, "to", true,
                           API_ANSWER_OBJECT);
}

static int incident_accept(struct amk_http_request *req)
{
    return incident_simple(req, AMK_CMD_INCIDENT_TRANSFER_ACCEPT, "reason",
                           false, API_ANSWER_OBJECT);
}

static int incident_reject(struct amk_http_request *req)
{
    return incident_simple(req, AMK_CMD_INCIDENT_TRANSFER_REJECT, "reason",
                           false, API_ANSWER_OBJECT);
}

#define W AMK_HTTP_ROUTE_WRITE
#define B AMK_HTTP_ROUTE_BODY_REQUIRED
const struct routes_entry routes_incident[] = {
    {"POST", "/v1/incidents", incident_create, W | B},
    {"GET", "/v1/incidents", incident_list, 0},
    {"GET", "/v1/incidents/{id}", incident_get, 0},
    {"PATCH", "/v1/incidents/{id}", incident_patch, W | B},
    {"POST", "/v1/incidents/{id}/notes", incident_note, W | B},
    {"POST", "/v1/incidents/{id}/assignments", incident_assign, W | B},
    {"DELETE", "/v1/incidents/{id}/assignments/{resource}", incident_unassign,
     W},
    {"POST", "/v1/incidents/{id}/assignments/{resource}/phase", incident_phase,
     W | B},
    {"POST", "/v1/incidents/{id}/close", incident_close, W | B},
    {"POST", "/v1/incidents/{id}/cancel", incident_cancel, W},
    {"POST", "/v1/incidents/{id}/transfer", incident_transfer, W | B},
    {"POST", "/v1/incidents/{id}/transfer/accept", incident_accept, W},
    {"POST", "/v1/incidents/{id}/transfer/reject", incident_reject, W},
    {NULL, NULL, NULL, 0},
};
