/* ops/ctl/client.c: API calls over http.c: JSON bodies via jansson, a fresh
 * Idempotency-Key per write, bounded retries of the same key on 503, 504 and
 * connection errors (the outcome of those is "not applied" or "unknown", and
 * a repeated key returns the first answer: API.md "Conventions"), one
 * followed 307/308, and errors turned into one line and an exit code. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ctl.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS   2000

int ctl_fail(struct ctl *ctl, int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("amkctl: ", ctl->err);
    vfprintf(ctl->err, fmt, ap);
    fputc('\n', ctl->err);
    va_end(ap);
    return exit_code;
}

int ctl_client_new_key(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

void ctl_reply_clear(struct ctl_reply *reply)
{
    json_decref(reply->body);
    memset(reply, 0, sizeof *reply);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Where a 307/308 points: an absolute http:// URL or an absolute path on
 * the same node. */
static int redirect_target(const char *location, const struct ctl_url *from,
                           struct ctl_url *url, char *target, size_t cap,
                           char *errmsg)
{
    if (location[0] == '/') {
        *url = *from;
        snprintf(target, cap, "%s", location);
        return 0;
    }
    if (strncmp(location, "http://", 7) != 0) {
        snprintf(errmsg, CTL_ERRMSG_SIZE,
                 "redirected to '%.200s', which amkctl cannot follow",
                 location);
        return -1;
    }
    const char *path = strchr(location + 7, '/');
    char base[600];
    size_t base_len =
        path != NULL ? (size_t)(path - location) : strlen(location);
    if (base_len >= sizeof base) {
        snprintf(errmsg, CTL_ERRMSG_SIZE, "redirected to an overlong URL");
        return -1;
    }
    memcpy(base, location, base_len);
    base[base_len] = '\0';
    char why[CTL_ERRMSG_SIZE];
    if (ctl_url_parse(base, url, why) != 0) {
        snprintf(errmsg, CTL_ERRMSG_SIZE, "bad redirect: %.400s", why);
        return -1;
    }
    snprintf(target, cap, "%s", path != NULL ? path : "/");
    return 0;
}

/* "(owner bergen, epoch 3)" from the fields of an error object besides
 * code and message. */
static void error_details(json_t *error, char *out, size_t cap)
{
    out[0] = '\0';
    size_t len = 0;
    const char *key;
    json_t *value;
    json_object_foreach(error, key, value)
    {
        if (strcmp(key, "code") == 0 || strcmp(key, "message") == 0) {
            continue;
        }
        char text[128];
        ctl_show_value(value, text, sizeof text);
        int n = snprintf(out + len, cap - len, "%s%s %s",
                         len == 0 ? " (" : ", ", key, text);
        if (n < 0 || (size_t)n >= cap - len - 1) {
            break;
        }
        len += (size_t)n;
    }
    if (len > 0) {
        snprintf(out + len, cap - len, ")");
    }
}

/* The error line of a non-2xx answer. */
static void api_error(const struct ctl_url *url, int status, json_t *body,
                      const char *raw, int attempts, char *errmsg)
{
    json_t *error = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    char tries[400] = "";
    if (attempts > 1) {
        snprintf(tries, sizeof tries, " [gave up after %d attempts at %.300s]",
                 attempts, url->text);
    }
    if (code == NULL) {
        /* Not our API's error shape: a proxy, or the wrong port. */
        char first[120];
        snprintf(first, sizeof first, "%s", raw != NULL ? raw : "");
        first[strcspn(first, "\r\n")] = '\0';
        snprintf(errmsg, CTL_ERRMSG_SIZE, "HTTP %d from %.200s%s%.100s%.150s",
                 status, url->text, first[0] != '\0' ? ": " : "", first, tries);
        return;
    }
    char details[256];
    error_details(error, details, sizeof details);
    snprintf(errmsg, CTL_ERRMSG_SIZE, "%d %.40s: %.200s%.120s%.120s", status,
             code, message != NULL ? message : "", details, tries);
}

static bool retry_status(int status)
{
    return status == 503 || status == 504;
}

/* One attempt: the exchange, and one redirect followed. On a transport
 * error *url_used names the node that failed. */
static int attempt(struct ctl *ctl, const struct ctl_call *call,
                   const struct ctl_url *base, const char *const *headers,
                   const char *body, struct ctl_http_response *resp,
                   const struct ctl_url **url_used, struct ctl_url *redirect,
                   char *errmsg)
{
    char target[2048];
    int n = snprintf(target, sizeof target, "%s%s", base->prefix, call->path);
    if (n < 0 || (size_t)n >= sizeof target) {
        snprintf(errmsg, CTL_ERRMSG_SIZE, "request path too long");
        return CTL_HTTP_ENOMEM;
    }
    struct ctl_http_request req = {
        .method = call->method,
        .url = base,
        .target = target,
        .body = body,
        .body_len = body != NULL ? strlen(body) : 0,
        .timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : ctl->timeout_ms,
    };
    memcpy(req.headers, headers, sizeof req.headers);
    *url_used = base;
    int rv = ctl_http_exchange(&req, resp, errmsg);
    if (rv != CTL_HTTP_OK || (resp->status != 307 && resp->status != 308)) {
        return rv;
    }
    /* Followed once: a follower may point at its leader (forwarding). */
    char location[sizeof resp->location];
    snprintf(location, sizeof location, "%s", resp->location);
    ctl_http_response_clear(resp);
    if (location[0] == '\0') {
        snprintf(errmsg, CTL_ERRMSG_SIZE, "redirect without a Location");
        return CTL_HTTP_EPROTOCOL;
    }
    if (redirect_target(location, base, redirect, target, sizeof target,
                        errmsg) != 0) {
        return CTL_HTTP_EPROTOCOL;
    }
    req.url = redirect;
    *url_used = redirect;
    rv = ctl_http_exchange(&req, resp, errmsg);
    if (rv == CTL_HTTP_OK && (resp->status == 307 || resp->status == 308)) {
        snprintf(errmsg, CTL_ERRMSG_SIZE,
                 "redirected again by %.200s (to %.200s); not following",
                 redirect->text, resp->location);
        ctl_http_response_clear(resp);
        return CTL_HTTP_EPROTOCOL;
    }
    return rv;
}

static int transport_error(int rv, const struct ctl_url *url, bool write,
                           int attempts, char *errmsg)
{
    char why[CTL_ERRMSG_SIZE];
    snprintf(why, sizeof why, "%s", errmsg);
    char tries[24] = "";
    if (attempts > 1) {
        snprintf(tries, sizeof tries, " (%d attempts)", attempts);
    }
    const char *unknown =
        write && (rv == CTL_HTTP_ETIMEOUT || rv == CTL_HTTP_EIO)
            ? "; the outcome of the write is unknown"
            : "";
    switch (rv) {
        case CTL_HTTP_EUNREACHABLE:
            snprintf(errmsg, CTL_ERRMSG_SIZE, "cannot reach %.250s: %.150s%s",
                     url->text, why, tries);
            return CTL_EXIT_UNREACHABLE;
        case CTL_HTTP_ETIMEOUT:
        case CTL_HTTP_EIO:
            snprintf(errmsg, CTL_ERRMSG_SIZE,
                     "no answer from %.250s: %.120s%s%s", url->text, why, tries,
                     unknown);
            return CTL_EXIT_UNREACHABLE;
        case CTL_HTTP_EPROTOCOL:
            snprintf(errmsg, CTL_ERRMSG_SIZE, "bad answer from %.250s: %.150s",
                     url->text, why);
            return CTL_EXIT_UNREACHABLE;
        default:
            snprintf(errmsg, CTL_ERRMSG_SIZE, "%.200s", why);
            return CTL_EXIT_API;
    }
}

int ctl_client_call(struct ctl *ctl, const struct ctl_call *call,
                    struct ctl_reply *reply, char *errmsg)
{
    memset(reply, 0, sizeof *reply);
    const struct ctl_url *base = call->url != NULL ? call->url : &ctl->endpoint;
    char key_header[64], session_header[128], if_match_header[64];
    const char *headers[8] = {NULL};
    size_t n_headers = 0;
    if (call->write) {
        char key[37];
        if (ctl_client_new_key(key) != 0) {
            snprintf(errmsg, CTL_ERRMSG_SIZE,
                     "no randomness for an Idempotency-Key");
            return CTL_EXIT_API;
        }
        snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", key);
        headers[n_headers++] = key_header;
    }
    if (call->session != NULL) {
        for (const char *c = call->session; *c != '\0'; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                /* It would end the header line: refuse, send nothing. */
                snprintf(errmsg, CTL_ERRMSG_SIZE,
                         "--session: a control character in the session id");
                return CTL_EXIT_USAGE;
            }
        }
        snprintf(session_header, sizeof session_header, "X-Amk-Session: %.100s",
                 call->session);
        headers[n_headers++] = session_header;
    }
    if (call->if_match != NULL) {
        snprintf(if_match_header, sizeof if_match_header, "If-Match: \"%.40s\"",
                 call->if_match);
        headers[n_headers++] = if_match_header;
    }
    char *body = NULL;
    bool has_body = call->body != NULL || strcmp(call->method, "POST") == 0 ||
                    strcmp(call->method, "PATCH") == 0;
    if (has_body) {
        body = call->body != NULL ? json_dumps(call->body, JSON_COMPACT)
                                  : strdup("{}");
        if (body == NULL) {
            snprintf(errmsg, CTL_ERRMSG_SIZE, "out of memory");
            return CTL_EXIT_API;
        }
    }
    int max_attempts = call->no_retry ? 1 : ctl->retries + 1;
    struct ctl_http_response resp;
    const struct ctl_url *used = base;
    struct ctl_url redirect;
    int rv = CTL_HTTP_OK;
    for (int n = 1;; n++) {
        reply->attempts = n;
        rv = attempt(ctl, call, base, headers, body, &resp, &used, &redirect,
                     errmsg);
        bool again;
        int wait_ms = BACKOFF_FIRST_MS << (n - 1 < 4 ? n - 1 : 4);
        if (rv == CTL_HTTP_OK) {
            again =
                call->unkeyed ? resp.status == 503 : retry_status(resp.status);
            if (resp.retry_after >= 0) {
                wait_ms = resp.retry_after * 1000;
            }
        } else {
            /* A write that was not sent, or whose answer was lost, is
             * retried with the same key; a read fails at once (nothing to
             * protect, and an unreachable node should say so fast). */
            again = call->write &&
                    (rv == CTL_HTTP_EUNREACHABLE ||
                     (!call->unkeyed &&
                      (rv == CTL_HTTP_ETIMEOUT || rv == CTL_HTTP_EIO)));
        }
        if (!again || n >= max_attempts) {
            break;
        }
        if (rv == CTL_HTTP_OK) {
            ctl_http_response_clear(&resp);
        }
        sleep_ms(wait_ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait_ms);
    }
    free(body);
    if (rv != CTL_HTTP_OK) {
        return transport_error(rv, used, call->write, reply->attempts, errmsg);
    }
    reply->status = resp.status;
    reply->index = resp.has_index ? resp.index : 0;
    json_error_t jerr;
    if (resp.body_len > 0) {
        reply->body = json_loadb(resp.body, resp.body_len, 0, &jerr);
    }
    int exit_code = CTL_EXIT_OK;
    if (resp.status < 200 || resp.status > 299) {
        api_error(used, resp.status, reply->body, resp.body, reply->attempts,
                  errmsg);
        exit_code = CTL_EXIT_API;
    } else if (resp.body_len > 0 && reply->body == NULL) {
        snprintf(errmsg, CTL_ERRMSG_SIZE,
                 "%d from %.300s, but the body is not JSON: %.100s",
                 resp.status, used->text, jerr.text);
        exit_code = CTL_EXIT_API;
    }
    ctl_http_response_clear(&resp);
    if (exit_code != CTL_EXIT_OK) {
        int status = reply->status;
        int attempts = reply->attempts;
        ctl_reply_clear(reply);
        reply->status = status; /* callers may tell 410 from 503 */
        reply->attempts = attempts;
    }
    return exit_code;
}

int ctl_client_run(struct ctl *ctl, const struct ctl_call *call,
                   struct ctl_reply *reply)
{
    char errmsg[CTL_ERRMSG_SIZE];
    int rv = ctl_client_call(ctl, call, reply, errmsg);
    if (rv != CTL_EXIT_OK) {
        ctl_fail(ctl, rv, "%s", errmsg);
    }
    return rv;
}

int ctl_client_list(struct ctl *ctl, const char *path, json_t **items)
{
    *items = json_array();
    if (*items == NULL) {
        return ctl_fail(ctl, CTL_EXIT_API, "out of memory");
    }
    char after[512] = "";
    /* Bounded: a cursor that does not move ends the walk. */
    for (int page = 0; page < 100000; page++) {
        char url[2048];
        int n = snprintf(url, sizeof url, "%s%slimit=1000", path,
                         strchr(path, '?') != NULL ? "&" : "?");
        if (after[0] != '\0' && n > 0 && (size_t)n < sizeof url) {
            snprintf(url + n, sizeof url - (size_t)n, "&after=");
            if (ctl_url_escape(url, sizeof url, after) != 0) {
                n = -1;
            }
        }
        if (n < 0 || (size_t)n >= sizeof url) {
            json_decref(*items);
            return ctl_fail(ctl, CTL_EXIT_USAGE, "list query too long");
        }
        struct ctl_call call = {.method = "GET", .path = url};
        struct ctl_reply reply;
        int rv = ctl_client_run(ctl, &call, &reply);
        if (rv != CTL_EXIT_OK) {
            json_decref(*items);
            *items = NULL;
            return rv;
        }
        json_t *page_items = json_object_get(reply.body, "items");
        if (!json_is_array(page_items)) {
            ctl_reply_clear(&reply);
            json_decref(*items);
            *items = NULL;
            return ctl_fail(ctl, CTL_EXIT_API,
                            "answer from %s has no \"items\" list",
                            ctl->endpoint.text);
        }
        json_array_extend(*items, page_items);
        json_t *cursor = json_object_get(reply.body, "next");
        char next[512] = "";
        if (json_is_string(cursor) || json_is_integer(cursor)) {
            ctl_show_value(cursor, next, sizeof next);
        }
        bool done = next[0] == '\0' || json_array_size(page_items) == 0 ||
                    strcmp(next, after) == 0;
        if (!done) {
            snprintf(after, sizeof after, "%s", next);
        }
        ctl_reply_clear(&reply);
        if (done) {
            return CTL_EXIT_OK;
        }
    }
    return CTL_EXIT_OK;
}

int ctl_client_show(struct ctl *ctl, const struct ctl_call *call,
                    void (*show)(struct ctl *ctl, const json_t *body))
{
    struct ctl_reply reply;
    int rv = ctl_client_run(ctl, call, &reply);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    if (ctl->json) {
        ctl_show_json(ctl, reply.body);
    } else {
        show(ctl, reply.body);
    }
    ctl_reply_clear(&reply);
    return CTL_EXIT_OK;
}
