/* api/write.c: the plumbing shared by the routes: field extraction that names
 * the field in its error, the acting-as header of a command, proposing a
 * command and answering its result, and read points. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "write.h"

int api_invalid(struct amk_http_request *req, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    amk_http_respond_error(req, AMK_EINVALID, message, NULL);
    return -1;
}

static const char *sep(const char *prefix)
{
    return prefix[0] != '\0' ? "." : "";
}

int api_str(struct amk_http_request *req, json_t *obj, const char *prefix,
            const char *key, bool required, struct amk_str *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return api_invalid(req, "%s%s%s: required", prefix, sep(prefix),
                               key);
        }
        return 0;
    }
    if (!json_is_string(v)) {
        return api_invalid(req, "%s%s%s: must be a string", prefix, sep(prefix),
                           key);
    }
    out->ptr = json_string_value(v);
    out->len = (uint32_t)json_string_length(v);
    if (strlen(out->ptr) != out->len) {
        return api_invalid(req, "%s%s%s: contains a NUL character", prefix,
                           sep(prefix), key);
    }
    return 0;
}

int api_enum(struct amk_http_request *req, json_t *obj, const char *key,
             enum amk_enum_kind kind, bool required, uint8_t *out)
{
    struct amk_str s = {0};
    if (api_str(req, obj, "", key, required, &s) != 0) {
        return -1;
    }
    if (s.ptr == NULL) {
        return 0;
    }
    if (amk_enum_parse(kind, s.ptr, s.len, out) != 0) {
        return api_invalid(req, "%s: unknown value '%.64s' (%s)", key, s.ptr,
                           amk_enum_choices(kind));
    }
    return 0;
}

int api_num(struct amk_http_request *req, json_t *obj, const char *prefix,
            const char *key, bool required, double *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return api_invalid(req, "%s%s%s: required", prefix, sep(prefix),
                               key);
        }
        return 0;
    }
    if (!json_is_number(v)) {
        return api_invalid(req, "%s%s%s: must be a number", prefix, sep(prefix),
                           key);
    }
    double d = json_number_value(v);
    if (!isfinite(d)) {
        return api_invalid(req, "%s%s%s: must be finite", prefix, sep(prefix),
                           key);
    }
    *out = d;
    return 0;
}

int api_int(struct amk_http_request *req, json_t *obj, const char *key,
            bool required, int64_t *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL || json_is_null(v)) {
        return required ? api_invalid(req, "%s: required", key) : 0;
    }
    if (!json_is_integer(v)) {
        return api_invalid(req, "%s: must be an integer", key);
    }
    *out = json_integer_value(v);
    return 0;
}

int api_bool(struct amk_http_request *req, json_t *obj, const char *key,
             uint8_t *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_boolean(v)) {
        return api_invalid(req, "%s: must be true or false", key);
    }
    *out = json_is_true(v) ? 1 : 0;
    return 0;
}

int amk_api_parse_time(const json_t *value, int64_t *ms)
{
    if (json_is_integer(value)) {
        *ms = json_integer_value(value);
        return 0;
    }
    if (!json_is_string(value)) {
        return -1;
    }
    const char *s = json_string_value(value);
    int year, mon, day, hour, min, sec, consumed = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &mon, &day, &hour, &min,
               &sec, &consumed) != 6 ||
        consumed != 19 || mon < 1 || mon > 12 || day < 1 || day > 31 ||
        hour > 23 || min > 59 || sec > 60) {
        return -1;
    }
    const char *p = s + consumed;
    int millis = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3) {
                millis = millis * 10 + (*p - '0');
            }
            digits++;
            p++;
        }
        if (digits == 0) {
            return -1;
        }
        for (; digits < 3; digits++) {
            millis *= 10;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6) {
            return -1;
        }
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - offset_min * 60) * 1000 + millis;
    return 0;
}

int api_time(struct amk_http_request *req, json_t *obj, const char *key,
             int64_t *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (amk_api_parse_time(v, out) != 0) {
        return api_invalid(req,
                           "%s: not an RFC 3339 time"
                           " (2026-11-24T10:00:00.000Z)",
                           key);
    }
    return 0;
}

void api_actor(struct amk_api *api, struct amk_http_request *req,
               struct amk_cmd *cmd)
{
    (void)api;
    /* Without authentication (--insecure) every caller is an admin; a
     * command that names a session acts with that session's own role,
     * which the state machine applies. */
    cmd->h.role = AMK_ROLE_ADMIN;
    cmd->h.principal = amk_str_c("anonymous");
    if (req->idempotency_key != NULL) {
        cmd->h.idem_key = amk_str_c(req->idempotency_key);
    }
    if (req->has_if_match) {
        cmd->h.if_match = req->if_match;
    }
    if (req->session != NULL) {
        cmd->h.session = amk_str_c(req->session);
    }
}

/* --- Writes -------------------------------------------------------------- */

struct write_op {
    struct amk_api_write w;
    struct amk_http_request *req;
    enum api_answer answer;
    void *buf;
};

static void answer_status(struct amk_http_request *req, int status);

static json_t *error_extra(const struct amk_sm_result *r)
{
    if (r->code == AMK_ESTALE_EPOCH) {
        return json_pack("{s:s, s:I}", "owner", r->owner, "epoch",
                         (json_int_t)r->epoch);
    }
    if (r->code == AMK_EVERSION_MISMATCH) {
        return json_pack("{s:I}", "version", (json_int_t)r->version);
    }
    return NULL;
}

static void answer_result(struct amk_http_request *req,
                          const struct amk_sm_result *r, enum api_answer answer)
{
    amk_http_respond_set_index(req, r->index);
    if (r->replayed) {
        amk_http_respond_set_header(req, "idempotent-replayed", "true");
    }
    if (r->code != AMK_OK) {
        if (r->code == AMK_EINTERNAL || r->code == AMK_ENOMEM) {
            amk_http_respond_error_status(req, 500, AMK_HTTP_CODE_INTERNAL,
                                          r->message, NULL);
            return;
        }
        amk_http_respond_error(req, r->code, r->message, error_extra(r));
        return;
    }
    if (r->version > 0) {
        amk_http_respond_set_etag(req, r->version);
    }
    if (answer == API_ANSWER_NO_CONTENT) {
        amk_http_respond_status(req, 204);
        return;
    }
    int status = answer == API_ANSWER_CREATED ||
                         (answer == API_ANSWER_OBJECT && r->created)
                     ? 201
                     : 200;
    if (answer == API_ANSWER_APPLIED) {
        /* {"applied": b, ...the object's fields}: spliced into the rendered
         * text, so numbers keep the state machine's formatting. */
        const char *flag =
            r->applied ? "{\"applied\":true" : "{\"applied\":false";
        const char *rest =
            r->body != NULL && r->body[0] == '{' ? r->body + 1 : "}";
        bool empty = rest[0] == '}';
        size_t len = strlen(flag) + (empty ? 0 : 1) + strlen(rest);
        char *text = malloc(len + 1);
        if (text == NULL) {
            answer_status(req, AMK_API_ENOMEM);
            return;
        }
        snprintf(text, len + 1, "%s%s%s", flag, empty ? "" : ",", rest);
        amk_http_respond_json_text(req, status, text, len);
        free(text);
        return;
    }
    if (r->body == NULL) {
        amk_http_respond_json_text(req, status, "{}", 2);
        return;
    }
    amk_http_respond_json_text(req, status, r->body, strlen(r->body));
}

static void answer_status(struct amk_http_request *req, int status)
{
    switch (status) {
        case AMK_API_ENOLEADER:
            amk_http_respond_set_retry_after(req, 1);
            amk_http_respond_error_status(
                req, 503, AMK_HTTP_CODE_NO_LEADER,
                "no leader reachable; the write was not applied", NULL);
            break;
        case AMK_API_ETIMEOUT:
            amk_http_respond_error_status(
                req, 504, AMK_HTTP_CODE_TIMEOUT,
                "no answer in time; the outcome is unknown: retry with the"
                " same Idempotency-Key",
                NULL);
            break;
        case AMK_API_ESHUTDOWN:
            amk_http_respond_set_retry_after(req, 1);
            amk_http_respond_error_status(req, 503, AMK_HTTP_CODE_UNAVAILABLE,
                                          "the node is shutting down", NULL);
            break;
        default:
            amk_http_respond_error_status(req, 500, AMK_HTTP_CODE_INTERNAL,
                                          "out of memory", NULL);
            break;
    }
}

static void write_done(struct amk_api_write *w, int status)
{
    struct write_op *op = w->data;
    if (status == AMK_API_OK) {
        answer_result(op->req, &w->result, op->answer);
    } else {
        answer_status(op->req, status);
    }
    amk_sm_result_clear(&w->result);
    free(op->buf);
    free(op);
}

int api_submit(struct amk_api *api, struct amk_http_request *req,
               struct amk_cmd *cmd, enum api_answer answer)
{
    char errmsg[256];
    void *buf;
    size_t len;
    int rv = amk_cmd_encode(cmd, &buf, &len, errmsg);
    if (rv != AMK_OK) {
        if (rv == AMK_ENOMEM) {
            answer_status(req, AMK_API_ENOMEM);
        } else {
            amk_http_respond_error(req, rv, errmsg, NULL);
        }
        return AMK_HTTP_DONE;
    }
    struct write_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        free(buf);
        answer_status(req, AMK_API_ENOMEM);
        return AMK_HTTP_DONE;
    }
    op->req = req;
    op->answer = answer;
    op->buf = buf;
    op->w.cmd = buf;
    op->w.len = len;
    op->w.cb = write_done;
    op->w.data = op;
    rv = api->backend->write(api->backend->data, &op->w);
    if (rv != AMK_API_OK) {
        free(buf);
        free(op);
        answer_status(req, rv);
        return AMK_HTTP_DONE;
    }
    return AMK_HTTP_PENDING;
}

/* --- Reads --------------------------------------------------------------- */

struct read_op {
    struct amk_api_read r;
    struct amk_api *api;
    struct amk_http_request *req;
    api_read_fn fn;
};

static void read_done(struct amk_api_read *r, int status)
{
    struct read_op *op = r->data;
    if (status == AMK_API_OK) {
        op->fn(op->api, op->req);
    } else {
        answer_status(op->req, status);
    }
    free(op);
}

int api_read(struct amk_api *api, struct amk_http_request *req, api_read_fn fn)
{
    const char *consistency = amk_http_request_query(req, "consistency");
    if (consistency != NULL && strcmp(consistency, "local") == 0) {
        fn(api, req);
        return AMK_HTTP_DONE;
    }
    if (consistency != NULL && strcmp(consistency, "linearizable") != 0) {
        api_invalid(req,
                    "consistency: unknown value '%.32s'"
                    " (linearizable|local)",
                    consistency);
        return AMK_HTTP_DONE;
    }
    struct read_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        answer_status(req, AMK_API_ENOMEM);
        return AMK_HTTP_DONE;
    }
    op->api = api;
    op->req = req;
    op->fn = fn;
    op->r.cb = read_done;
    op->r.data = op;
    int rv = api->backend->read(api->backend->data, &op->r);
    if (rv != AMK_API_OK) {
        free(op);
        answer_status(req, rv);
        return AMK_HTTP_DONE;
    }
    return AMK_HTTP_PENDING;
}

void api_answer_query(struct amk_api *api, struct amk_http_request *req, int rv,
                      char *json, uint64_t version)
{
    struct amk_sm *sm = api->backend->sm;
    amk_http_respond_set_index(req, amk_sm_applied_index(sm));
    if (rv != AMK_OK) {
        if (rv == AMK_ENOMEM || rv == AMK_EINTERNAL) {
            amk_http_respond_error_status(req, 500, AMK_HTTP_CODE_INTERNAL,
                                          amk_sm_errmsg(sm), NULL);
        } else {
            amk_http_respond_error(req, rv, amk_sm_errmsg(sm), NULL);
        }
        return;
    }
    if (version > 0) {
        amk_http_respond_set_etag(req, version);
    }
    amk_http_respond_json_text(req, 200, json, strlen(json));
    free(json);
}
