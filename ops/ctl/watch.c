/* ops/ctl/watch.c: `watch [--since N]` follows the event log (API.md
 * "Events"), one line per event: over the Server-Sent Events stream, which
 * resumes after the last id it printed; when the stream is refused (an old
 * server, too many subscribers) or ends with "event: resync", it reads pages
 * of GET /v1/events?since=N and, caught up, opens the stream again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define POLL_MS 500
#define PAGE    1000

static void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* "17  2026-11-24T01:51:34.160Z  incident.assigned  incident:9d7d...
 * resource:OSL-A1" */
static void print_event(struct ctl *ctl, json_t *event)
{
    if (ctl->json) {
        ctl_show_json(ctl, event);
        return;
    }
    char index[32], at[64], type[64];
    fprintf(ctl->out, "%s  %s  %s",
            ctl_show_field(event, "index", index, sizeof index),
            ctl_show_field(event, "at", at, sizeof at),
            ctl_show_field(event, "type", type, sizeof type));
    json_t *changes = json_object_get(event, "changes");
    for (size_t i = 0; i < json_array_size(changes); i++) {
        json_t *change = json_array_get(changes, i);
        char object[32], id[128];
        fprintf(ctl->out, "%s%s:%s", i == 0 ? "  " : " ",
                ctl_show_field(change, "object", object, sizeof object),
                ctl_show_field(change, "id", id, sizeof id));
    }
    fputc('\n', ctl->out);
}

/* Where to start without --since: what the endpoint has applied now. */
static int start_index(struct ctl *ctl, uint64_t *since)
{
    struct ctl_call call = {.method = "GET", .path = "/v1/cluster"};
    struct ctl_reply reply;
    int rv = ctl_client_run(ctl, &call, &reply);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    json_t *applied = json_object_get(reply.body, "applied_index");
    *since = json_is_integer(applied) ? (uint64_t)json_integer_value(applied)
                                      : reply.index;
    ctl_reply_clear(&reply);
    return CTL_EXIT_OK;
}

struct stream_state {
    struct ctl *ctl;
    uint64_t *since;
    uint64_t id;  /* id: of the message being read */
    char *data;   /* data: of the message being read */
    bool resync;  /* the server asked the client to catch up */
    bool stopped; /* the reader of our output went away */
};

/* One line of the stream (the SSE format: id, data, event, comments). */
static int on_line(void *arg, const char *line)
{
    struct stream_state *st = arg;
    if (strncmp(line, "id: ", 4) == 0) {
        st->id = strtoull(line + 4, NULL, 10);
    } else if (strncmp(line, "data: ", 6) == 0) {
        free(st->data);
        st->data = strdup(line + 6);
    } else if (strcmp(line, "event: resync") == 0) {
        st->resync = true;
    } else if (line[0] == '\0' && st->data != NULL) {
        json_t *event = json_loads(st->data, 0, NULL);
        free(st->data);
        st->data = NULL;
        if (event != NULL) {
            print_event(st->ctl, event);
            json_decref(event);
            *st->since = st->id;
        }
        if (fflush(st->ctl->out) != 0 || ferror(st->ctl->out)) {
            st->stopped = true;
            return 1;
        }
    }
    return 0;
}

/* Follows the stream from *since. Returns 1 when the stream is not offered
 * (fall back to polling), 2 when our reader went away, 0 when it ended
 * (resync, server closed, connection lost: catch up and come back). */
static int follow_stream(struct ctl *ctl, uint64_t *since)
{
    char path[64], last[64];
    snprintf(path, sizeof path, "%.48s/v1/events", ctl->endpoint.prefix);
    snprintf(last, sizeof last, "Last-Event-ID: %llu",
             (unsigned long long)*since);
    struct ctl_http_request req = {.method = "GET",
                                   .url = &ctl->endpoint,
                                   .target = path,
                                   .headers = {last, NULL},
                                   .timeout_ms = ctl->timeout_ms,
                                   .accept = "text/event-stream"};
    struct stream_state st = {.ctl = ctl, .since = since};
    char errmsg[CTL_ERRMSG_SIZE];
    int status = 0;
    int rv = ctl_http_stream(&req, 45000, on_line, &st, &status, errmsg);
    free(st.data);
    if (st.stopped) {
        return 2;
    }
    if (rv == CTL_HTTP_OK && status != 200 && status != 0) {
        return 1;
    }
    return 0;
}

int ctl_watch_main(struct ctl *ctl, int argc, char **argv)
{
    static const char usage[] = "watch [--since N]";
    struct ctl_opt opts[] = {{"since", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    uint64_t since = 0;
    int rv =
        ctl_args_parse(ctl, argc, argv, opts, 1, operands, &n, 0, 0, usage);
    if (rv == 0 && opts[0].value != NULL) {
        rv = ctl_args_u64(ctl, opts[0].value, "--since", INT64_MAX, &since);
    } else if (rv == 0) {
        rv = start_index(ctl, &since);
    }
    if (rv != 0) {
        return rv;
    }
    bool answered = false; /* the endpoint answered at least once */
    bool lost = false;     /* in an outage, already reported */
    bool streaming = true; /* the server offers the event stream */
    for (;;) {
        char path[128];
        snprintf(path, sizeof path, "/v1/events?since=%llu&limit=%d",
                 (unsigned long long)since, PAGE);
        struct ctl_call call = {.method = "GET", .path = path};
        struct ctl_reply reply;
        char errmsg[CTL_ERRMSG_SIZE];
        rv = ctl_client_call(ctl, &call, &reply, errmsg);
        if (rv != CTL_EXIT_OK) {
            /* A node restarting or an election is an outage to sit out
             * once we have been following; anything else ends the watch
             * (410 COMPACTED: events after --since are gone). */
            bool transient =
                answered && (rv == CTL_EXIT_UNREACHABLE ||
                             reply.status == 503 || reply.status == 504);
            if (!transient) {
                return ctl_fail(ctl, rv, "%s", errmsg);
            }
            if (!lost) {
                ctl_fail(ctl, rv, "%s; still trying", errmsg);
                lost = true;
            }
            pause_ms(POLL_MS);
            continue;
        }
        if (lost) {
            ctl_fail(ctl, 0, "%s answers again", ctl->endpoint.text);
            lost = false;
        }
        answered = true;
        json_t *events = json_object_get(reply.body, "events");
        for (size_t i = 0; i < json_array_size(events); i++) {
            print_event(ctl, json_array_get(events, i));
        }
        json_t *next = json_object_get(reply.body, "next");
        if (json_is_integer(next) && json_integer_value(next) >= 0) {
            since = (uint64_t)json_integer_value(next);
        }
        size_t count = json_array_size(events);
        ctl_reply_clear(&reply);
        if (fflush(ctl->out) != 0 || ferror(ctl->out)) {
            return CTL_EXIT_OK; /* the reader went away (| head) */
        }
        if (count < PAGE && streaming) {
            /* Caught up: follow the stream until it ends, then catch up
             * from the last event it printed. */
            int srv = follow_stream(ctl, &since);
            if (srv == 2) {
                return CTL_EXIT_OK;
            }
            streaming = srv == 0;
            pause_ms(100); /* a stream that ends at once must not spin */
        } else if (count < PAGE) {
            pause_ms(POLL_MS);
        }
    }
}
