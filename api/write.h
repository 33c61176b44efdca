/* api/write.h: the shared plumbing of the routes: acting-as headers, JSON
 * field extraction with errors naming the field, proposing a command and
 * turning its result into an HTTP answer, and read points. Internal to api/. */
#ifndef AMK_API_WRITE_H
#define AMK_API_WRITE_H

#include "api.h"

/* Field extraction. Each returns 0, or answers 400 INVALID naming the field
 * and returns -1 (the handler then returns AMK_HTTP_DONE). Absent (or null)
 * optional fields leave *out untouched. */
int api_str(struct amk_http_request *req, json_t *obj, const char *prefix,
            const char *key, bool required, struct amk_str *out);
int api_enum(struct amk_http_request *req, json_t *obj, const char *key,
             enum amk_enum_kind kind, bool required, uint8_t *out);
int api_num(struct amk_http_request *req, json_t *obj, const char *prefix,
            const char *key, bool required, double *out);
int api_int(struct amk_http_request *req, json_t *obj, const char *key,
            bool required, int64_t *out);
int api_bool(struct amk_http_request *req, json_t *obj, const char *key,
             uint8_t *out);
int api_time(struct amk_http_request *req, json_t *obj, const char *key,
             int64_t *out);
int api_invalid(struct amk_http_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fills the header of cmd for this request (idempotency key, If-Match,
 * session, role, principal). */
void api_actor(struct amk_api *api, struct amk_http_request *req,
               struct amk_cmd *cmd);

/* How a successful result is answered. */
enum api_answer {
    API_ANSWER_OBJECT = 0, /* 200, or 201 when the command created it */
    API_ANSWER_CREATED,    /* 201 always */
    API_ANSWER_NO_CONTENT, /* 204 */
    API_ANSWER_APPLIED,    /* 200 with "applied": bool added */
};

/* Encodes cmd, proposes it and answers when it is applied. Returns what the
 * handler returns. */
int api_submit(struct amk_api *api, struct amk_http_request *req,
               struct amk_cmd *cmd, enum api_answer answer);

/* Runs fn at a read point: at once with ?consistency=local, otherwise after
 * the backend confirmed a linearizable read index. Returns what the handler
 * returns. fn must answer req. */
typedef void (*api_read_fn)(struct amk_api *api, struct amk_http_request *req);
int api_read(struct amk_api *api, struct amk_http_request *req, api_read_fn fn);

/* Answers a query's outcome: 200 with json (freed) and, when version > 0,
 * its ETag; or the sm error. */
void api_answer_query(struct amk_api *api, struct amk_http_request *req, int rv,
                      char *json, uint64_t version);

#endif
