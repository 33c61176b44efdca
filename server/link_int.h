/* server/link_int.h: what the cluster link's files share: one TCP connection
 * (served by the listener, or a client connection to the leader), frame
 * assembly and sending. Internal to server/link*.c. */
#ifndef AMK_SERVER_LINK_INT_H
#define AMK_SERVER_LINK_INT_H

#include "link.h"

#define LINK_READ_BUFFER 16384
/* A peer that does not read its answers is cut off past this much queued
 * output, rather than growing our memory without bound. */
#define LINK_MAX_WRITE_QUEUE         (64u * 1024u * 1024u)
#define LINK_DEFAULT_TIMEOUT_MS      5000u
#define LINK_DEFAULT_MAX_CONNECTIONS 256u
#define LINK_DEFAULT_MAX_INFLIGHT    1024u
/* Granularity of request deadlines and of retries waiting for a leader. */
#define LINK_TIMER_MS 20u
/* Reconnect backoff of the tick after a failed connect. */
#define LINK_RECONNECT_MS 500u
/* A follower's own liveness heartbeat to the leader. */
#define LINK_NODE_HEARTBEAT_MS 1000u

/* Connection lifecycle: an explicit state machine.
 *   CONNECTING -> OPEN -> CLOSING (client)
 *   OPEN -> CLOSING (served)
 *   CONNECTING -> CLOSING (connect failed or cancelled)
 * CLOSING ends in the close callback, which frees the struct. */
enum link_conn_state {
    CONN_CONNECTING = 1,
    CONN_OPEN,
    CONN_CLOSING,
};

struct link_conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct amk_link *link;
    struct link_conn *prev, *next; /* link->served or link->draining */
    bool served;                   /* accepted by our listener */
    bool broken;                   /* a write failed: closed by the timer */
    int state;                     /* enum link_conn_state */
    char peer[64];                 /* for log lines */

    /* frame assembly: the header first, then the payload */
    uint8_t head[AMK_LINK_HEADER_SIZE];
    size_t head_have;
    struct amk_link_header h;
    uint8_t *payload; /* malloc'd after the header passed its caps */
    size_t payload_have;
    uint8_t read_buf[LINK_READ_BUFFER];

    /* served: answers pending from the env */
    struct amk_link_op *ops;
    unsigned n_ops;
    bool paused; /* reading stopped: too many in flight */

    /* client: the leader it goes to, requests queued or sent on it */
    uint64_t leader_id;
    char address[64];
    unsigned n_requests;
    uint64_t connect_started_ms; /* uv_now() of the connect */
};

/* link.c */
__attribute__((format(printf, 3, 4))) void
link__log(struct amk_link *link, int level, const char *fmt, ...);
/* Sends a whole frame (malloc'd, ownership taken in every case). Returns 0,
 * or a libuv error after which the connection is marked broken. */
int link__send(struct link_conn *conn, void *frame, size_t len);
/* Starts reading frames on an open connection. */
int link__read_start(struct link_conn *conn);
/* Closes conn once (why: for the log line; NULL says nothing). Fails or
 * detaches what depends on it first. */
void link__conn_close(struct link_conn *conn, int level, const char *why);
void link__list_add(struct link_conn **head, struct link_conn *conn);
void link__list_remove(struct link_conn **head, struct link_conn *conn);
/* One handle fewer to wait for; finishes a close. */
void link__handle_closed(struct amk_link *link);

/* link_server.c */
int link_server__listen(struct amk_link *link);
/* Stops accepting (close). */
void link_server__close(struct amk_link *link);
/* A complete frame arrived on a served connection: 0 or -1 (closed). */
int link_server__frame(struct link_conn *conn, const struct amk_link_header *h,
                       const uint8_t *payload);
/* The connection is closing: its ops are detached. */
void link_server__conn_closing(struct link_conn *conn);
void link_server__record(struct amk_link *link, const char *session,
                         const char *centre, bool valid);

/* link_client.c */
int link_client__frame(struct link_conn *conn, const struct amk_link_header *h,
                       const uint8_t *payload);
void link_client__conn_closing(struct link_conn *conn);
void link_client__connected(struct link_conn *conn);
/* Fails every request with AMK_LINK_ESHUTDOWN (close). */
void link_client__shutdown(struct amk_link *link);
void link_client__init(struct amk_link *link);

#endif
