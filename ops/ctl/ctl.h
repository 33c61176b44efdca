/* ops/ctl/ctl.h: amkctl, the admin CLI and API client: the context every
 * command gets, the exit codes, and each file's functions (url.c, http.c,
 * client.c, args.c, table.c, show.c and one file per command group). */
#ifndef AMK_CTL_H
#define AMK_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes (API.md "Command line"; scripts rely on them). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_API = 1,         /* the API answered with an error */
    CTL_EXIT_USAGE = 2,       /* bad command line; nothing was sent */
    CTL_EXIT_UNREACHABLE = 3, /* no usable HTTP answer from the endpoint */
};

#define CTL_ERRMSG_SIZE 512

/* --- url.c: http://HOST:PORT[/path] ------------------------------------- */

struct ctl_url {
    char host[256]; /* without the brackets of an IPv6 literal */
    char port[6];
    char prefix[512]; /* path prefix without trailing '/', "" for none */
    char text[800];   /* "http://HOST:PORT[/path]" for messages */
};

/* Parses text into *url. Returns 0, or -1 with errmsg (CTL_ERRMSG_SIZE)
 * naming what is wrong. */
int ctl_url_parse(const char *text, struct ctl_url *url, char *errmsg);

/* Appends s to out (cap bytes, NUL-terminated) percent-encoding every byte
 * that is not unreserved (RFC 3986 2.3) or ':' (ids contain ':'; legal in
 * a segment and a query). Returns 0, or -1 if out is full. */
int ctl_url_escape(char *out, size_t cap, const char *s);

/* Appends "?name=value" (or "&...") to path (cap bytes) when value is not
 * NULL, value percent-encoded. Returns 0, or -1 if path is full. */
int ctl_url_add_query(char *path, size_t cap, const char *name,
                      const char *value);

/* --- http.c: one HTTP/1.1 exchange, poll() against a deadline ------------ */

enum ctl_http_status {
    CTL_HTTP_OK = 0,
    CTL_HTTP_EUNREACHABLE, /* resolve or connect failed: nothing was sent */
    CTL_HTTP_ETIMEOUT,     /* no complete answer in time */
    CTL_HTTP_EIO,          /* the connection broke after connecting */
    CTL_HTTP_EPROTOCOL,    /* the answer is not HTTP/1.x we understand */
    CTL_HTTP_ENOMEM,
};

struct ctl_http_request {
    const char *method;
    const struct ctl_url *url; /* host and port; the prefix is not used */
    const char *target;        /* origin-form: "/v1/x?y=z" */
    const char *headers[8];    /* extra "Name: value" lines, NULL-ended */
    const char *body;          /* NULL: no body */
    size_t body_len;
    int timeout_ms;     /* for the whole exchange, connect included */
    const char *accept; /* Accept header; NULL: application/json */
};

struct ctl_http_response {
    int status;
    char *body; /* owned, NUL-terminated (body_len excludes the NUL) */
    size_t body_len;
    char location[1024]; /* "" when absent */
    int retry_after;     /* seconds; -1 when absent or not a number */
    bool has_index;      /* X-Amk-Index */
    uint64_t index;
};

/* Sends req and reads the whole answer (Content-Length, chunked, or until
 * the server closes). Returns CTL_HTTP_OK with *resp filled (release with
 * ctl_http_response_clear), or an error status with errmsg (CTL_ERRMSG_SIZE)
 * saying why in a few words ("connection refused"). */
int ctl_http_exchange(const struct ctl_http_request *req,
                      struct ctl_http_response *resp, char *errmsg);

void ctl_http_response_clear(struct ctl_http_response *resp);

/* Sends req and, if the answer is 200, hands each line of its body (without
 * the line end) to on_line as it arrives, until on_line returns non-zero,
 * the server ends the body, or nothing arrives for idle_ms. *status is the
 * answer's status (a non-200 answer's body is not read). Returns CTL_HTTP_OK
 * when the stream ended (by the server or on_line), or an error status with
 * errmsg (including an idle timeout). */
int ctl_http_stream(const struct ctl_http_request *req, int idle_ms,
                    int (*on_line)(void *data, const char *line), void *data,
                    int *status, char *errmsg);

/* --- client.c: API calls with keys, retries, redirects, error text -------- */

struct ctl {
    struct ctl_url endpoint;
    bool json;      /* --json: raw JSON out */
    int timeout_ms; /* per HTTP exchange */
    int retries;    /* extra attempts after a 503/504/connection error */
    FILE *out;      /* stdout */
    FILE *err;      /* stderr */
};

struct ctl_call {
    const char *method;
    const char *path;     /* under the endpoint's prefix, query included */
    json_t *body;         /* borrowed; NULL: none ("{}" for POST) */
    const char *session;  /* X-Amk-Session, or NULL */
    const char *if_match; /* version for If-Match, or NULL */
    bool write;           /* sends a fresh Idempotency-Key; retries it */
    bool no_retry;        /* one attempt only (status views of members) */
    bool unkeyed;         /* a write whose route ignores Idempotency-Key (raft
                             membership, leadership): retried only when surely not
                             applied (503, connection refused), never on 504 */
    const struct ctl_url *url; /* another node than the endpoint, or NULL */
    int timeout_ms;            /* 0: ctl->timeout_ms */
};

struct ctl_reply {
    int status;
    json_t *body;   /* owned; NULL if the answer had no JSON body */
    uint64_t index; /* X-Amk-Index, 0 if absent */
    int attempts;
};

/* Makes the call, following one 307/308 redirect and retrying a write (same
 * Idempotency-Key) or a read on 503, 504 and, for writes, connection errors,
 * at most ctl->retries times. Returns CTL_EXIT_OK with *reply filled
 * (release with ctl_reply_clear), or CTL_EXIT_API / CTL_EXIT_UNREACHABLE
 * with errmsg (CTL_ERRMSG_SIZE): one line naming the reason; *reply then
 * holds only status (0 if no answer) and attempts. A 2xx answer is OK;
 * anything else is CTL_EXIT_API (CTL_EXIT_USAGE for a session id that
 * cannot be sent). */
int ctl_client_call(struct ctl *ctl, const struct ctl_call *call,
                    struct ctl_reply *reply, char *errmsg);

/* ctl_client_call that prints its error line on ctl->err. */
int ctl_client_run(struct ctl *ctl, const struct ctl_call *call,
                   struct ctl_reply *reply);

/* Fetches every page of a list ({"items", "next"}) at path (no "?" needed
 * after it unless it has a query). Returns as ctl_client_run; *items is a
 * new array. */
int ctl_client_list(struct ctl *ctl, const char *path, json_t **items);

/* Runs call and prints the answer: as JSON with --json, else with show.
 * Returns the exit code of ctl_client_run. */
int ctl_client_show(struct ctl *ctl, const struct ctl_call *call,
                    void (*show)(struct ctl *ctl, const json_t *body));

void ctl_reply_clear(struct ctl_reply *reply);

/* Prints "amkctl: <fmt>" and a newline on ctl->err; returns exit_code. */
int ctl_fail(struct ctl *ctl, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A fresh random UUID v4 (37 bytes with the NUL). Returns 0 or -1. */
int ctl_client_new_key(char out[37]);

/* --- args.c: a command's options and operands ----------------------------- */

enum ctl_opt_kind {
    CTL_OPT_FLAG,  /* --keep */
    CTL_OPT_VALUE, /* --role voter, --role=voter */
    CTL_OPT_LIST,  /* --backup a b c, --backup a,b --backup c */
};

struct ctl_opt {
    const char *name; /* without "--" */
    enum ctl_opt_kind kind;
    const char *value; /* FLAG: "1" when given; VALUE: the value */
    json_t *list;      /* LIST: a new array of strings when given */
};

#define CTL_MAX_OPERANDS 16

/* Splits argv into options of opts[0..n_opts) and at most CTL_MAX_OPERANDS
 * operands (operands has room for them); checks their count is within
 * [min, max]. "--" ends the options. Returns 0, or prints a usage error
 * ending with `usage` and returns CTL_EXIT_USAGE. Release with
 * ctl_args_free, whatever it returned. */
int ctl_args_parse(struct ctl *ctl, int argc, char **argv, struct ctl_opt *opts,
                   size_t n_opts, const char **operands, int *n_operands,
                   int min, int max, const char *usage);

void ctl_args_free(struct ctl_opt *opts, size_t n_opts);

/* The option named name (it must be one of opts). */
struct ctl_opt *ctl_args_get(struct ctl_opt *opts, size_t n_opts,
                             const char *name);

/* Parses a non-negative integer operand or option value; a usage error
 * (printed, CTL_EXIT_USAGE) names what. */
int ctl_args_u64(struct ctl *ctl, const char *text, const char *what,
                 uint64_t max, uint64_t *out);

/* Parses a finite decimal number. */
int ctl_args_double(struct ctl *ctl, const char *text, const char *what,
                    double *out);

/* Checks text is a wire name of an sm/enums.h kind (usage error listing the
 * choices otherwise). */
int ctl_args_enum(struct ctl *ctl, int kind, const char *text,
                  const char *what);

/* The value of a --session option, else $AMK_SESSION, else NULL. */
const char *ctl_args_session(const struct ctl_opt *session);

/* --- table.c: aligned columns for people ---------------------------------- */

struct ctl_table {
    unsigned n_cols;
    unsigned n_rows; /* the header row included */
    char **cells;    /* n_rows * n_cols owned strings */
    size_t cap_rows;
};

/* n_cols headers, NULL-free. Returns 0 or -1 (out of memory). */
int ctl_table_init(struct ctl_table *t, unsigned n_cols,
                   const char *const *headers);

/* Adds a row of n_cols cells (NULL prints "-"). Returns 0 or -1. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);

/* Prints the rows with columns padded to their widest cell (counted in
 * UTF-8 characters). */
void ctl_table_print(const struct ctl_table *t, FILE *out);

void ctl_table_free(struct ctl_table *t);

/* --- show.c: JSON values as text --------------------------------------- */

/* The text of a JSON value for a cell: strings as is, numbers, true/false
 * as yes/no, null/absent as "-". Writes into buf (cap) and returns buf. */
const char *ctl_show_value(const json_t *value, char *buf, size_t cap);

/* ctl_show_value of obj[key]. */
const char *ctl_show_field(const json_t *obj, const char *key, char *buf,
                           size_t cap);

/* Prints a JSON value compactly and a newline (--json). */
void ctl_show_json(struct ctl *ctl, const json_t *value);
/* Prints a fetched list as {"items": [...], "next": null} for --json, and
 * releases items. */
void ctl_show_list_json(struct ctl *ctl, json_t *items);

/* Prints "  key: value" lines of an object's scalar fields, in order. */
void ctl_show_object(struct ctl *ctl, const json_t *obj);

/* --- the command groups ------------------------------------------------- */

/* Each takes the words after the group name. Returns an exit code. */
int ctl_cluster_status(struct ctl *ctl, int argc, char **argv);
int ctl_cluster_members(struct ctl *ctl, int argc, char **argv);
int ctl_cluster_leader(struct ctl *ctl, int argc, char **argv);
int ctl_centre_main(struct ctl *ctl, int argc, char **argv);
int ctl_centre_session(struct ctl *ctl, int argc, char **argv);
int ctl_incident_main(struct ctl *ctl, int argc, char **argv);
int ctl_resource_main(struct ctl *ctl, int argc, char **argv);
int ctl_watch_main(struct ctl *ctl, int argc, char **argv);

/* Prints the usage of every command on out. */
void ctl_usage(FILE *out);

#endif
