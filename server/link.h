/* server/link.h: the cluster link, a framed binary protocol between amkd
 * nodes on the --binary address, so that a console only ever needs its local
 * node (DESIGN.md "Consistency"): a follower forwards writes (PROPOSE) and
 * asks for linearizable read points (READ_INDEX) over one persistent
 * connection to the leader, and relays console heartbeats (HEARTBEAT) to the
 * leader's liveness table.
 *
 * Frame (all integers little-endian), declared once here:
 *   u32 length      bytes that follow this field: 10 + payload length,
 *                   checked against the type's cap before anything is
 *                   allocated (at most AMK_LINK_MAX_FRAME)
 *   u8  version     AMK_LINK_VERSION; anything else closes the connection
 *   u8  type        enum amk_link_type
 *   u64 request id  chosen by the sender of a request, echoed by the answer
 *   payload
 * Payloads (str = u32 length + bytes, no NUL, capped per field):
 *   PROPOSE     an encoded sm command (sm/cmd.h), 1..AMK_CMD_MAX_SIZE bytes
 *   RESULT      u8 status; status OK: u16 code, str message (<= 255),
 *               str owner (<= AMK_ID_MAX), u64 epoch, u64 version,
 *               u8 flags (1 applied, 2 replayed, 4 created; others 0),
 *               u64 index, u8 has_body, [str body];
 *               any other status: str message (<= 255)
 *   READ_INDEX  empty
 *   INDEX       u8 status, u64 read index (0 unless status OK)
 *   HEARTBEAT   str session (<= AMK_ID_MAX, may be empty: the sending node
 *               itself), str centre (1..AMK_ID_MAX), u8 valid (0 or 1);
 *               no answer
 * No trailing bytes. A malformed frame closes its connection with a log line.
 *
 * Statuses of RESULT and INDEX, and what a follower makes of them:
 *   OK          the command was applied / the index is a read point
 *   NOT_LEADER  NOT applied: the node does not lead (or is stepping down);
 *               retried once against the next leader
 *   SHUTDOWN    the leader closed while the request was in flight: the
 *               outcome of a PROPOSE is unknown (504)
 *   ERROR       outcome unknown (leadership lost after the entry was
 *               appended, out of memory, an oversized answer); reads retry
 *
 * Threading: everything runs on the loop thread. Async calls follow libuv's
 * contract: the caller-owned request stays valid until its callback, which
 * fires exactly once and never from inside the call that started it; a
 * non-zero return means it never fires. */
#ifndef AMK_SERVER_LINK_H
#define AMK_SERVER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sm/sm.h"

#define AMK_LINK_VERSION     1
#define AMK_LINK_HEADER_SIZE 14 /* length + version + type + id */
#define AMK_LINK_MAX_PAYLOAD (1024u * 1024u)
/* Cap of the length field: version + type + id + payload. */
#define AMK_LINK_MAX_FRAME   (AMK_LINK_MAX_PAYLOAD + 10u)
#define AMK_LINK_MESSAGE_MAX 255
/* Liveness table: one row per centre heard from (16 AMK centres today). */
#define AMK_LINK_MAX_CENTRES 64

/* Wire values: append, never renumber. */
enum amk_link_type {
    AMK_LINK_PROPOSE = 1,
    AMK_LINK_RESULT = 2,
    AMK_LINK_READ_INDEX = 3,
    AMK_LINK_INDEX = 4,
    AMK_LINK_HEARTBEAT = 5,
    AMK_LINK_TYPE__END
};

/* Wire values of RESULT and INDEX statuses. */
enum amk_link_status {
    AMK_LINK_STATUS_OK = 0,
    AMK_LINK_STATUS_NOT_LEADER = 1,
    AMK_LINK_STATUS_SHUTDOWN = 2,
    AMK_LINK_STATUS_ERROR = 3,
    AMK_LINK_STATUS__END
};

/* Result codes of this module. */
enum amk_link_code {
    AMK_LINK_OK = 0,
    AMK_LINK_EPROTO,    /* malformed input (errmsg names the field) */
    AMK_LINK_EAGAIN,    /* frame decode: not enough bytes yet */
    AMK_LINK_ETOOBIG,   /* over a cap */
    AMK_LINK_ENOMEM,    /* out of memory */
    AMK_LINK_EINVAL,    /* bad argument or configuration */
    AMK_LINK_ELISTEN,   /* could not listen (errmsg: address and reason) */
    AMK_LINK_ENOLEADER, /* not sent: no leader known, its address unknown,
                           connect failed, or the retry found no new leader:
                           NOT applied (503 NO_LEADER) */
    AMK_LINK_ETIMEOUT,  /* sent, then the connection dropped, the deadline
                           passed or the leader could not tell: outcome
                           unknown (504 TIMEOUT) */
    AMK_LINK_ELOCAL,    /* not applied, and this node is now the leader:
                           serve the request locally */
    AMK_LINK_ESHUTDOWN, /* this node is closing */
    AMK_LINK_ENOTFOUND, /* liveness: never heard from that centre */
    AMK_LINK_CODE__N
};

/* The name of a code or status ("NO_LEADER"), never NULL. */
const char *amk_link_code_name(int code);
const char *amk_link_status_name(int status);

/* --- Codec (server/link_codec.c): pure, no I/O --------------------------- */

/* The fixed part of a frame. */
struct amk_link_header {
    uint32_t length; /* bytes after the length field */
    uint8_t version;
    uint8_t type;
    uint64_t id;
    size_t payload_len; /* length - 10 */
};

/* A decoded frame: payload points into the buffer given to decode. */
struct amk_link_frame {
    struct amk_link_header h;
    const uint8_t *payload;
};

/* The largest payload a frame of `type` may carry, 0 for an unknown type
 * (READ_INDEX carries none: its cap is 0 too, see amk_link_type_known). */
size_t amk_link_payload_cap(uint8_t type);
bool amk_link_type_known(uint8_t type);

/* Decodes and checks the first AMK_LINK_HEADER_SIZE bytes of a frame:
 * length within [10, AMK_LINK_MAX_FRAME], the version, a known type, the
 * payload within the type's cap. Nothing is allocated before this passes.
 * Returns 0 or AMK_LINK_EPROTO / AMK_LINK_ETOOBIG with errmsg (256 bytes,
 * may be NULL). */
int amk_link_header_decode(const uint8_t *buf, struct amk_link_header *h,
                           char *errmsg);

/* Decodes one whole frame from the start of buf (len bytes): 0 with *frame
 * and *consumed (header plus payload) set; AMK_LINK_EAGAIN when buf holds
 * only part of a frame (*consumed: bytes needed in total, once the header is
 * known, else AMK_LINK_HEADER_SIZE); AMK_LINK_EPROTO / ETOOBIG as above.
 * Never allocates. */
int amk_link_frame_decode(const void *buf, size_t len,
                          struct amk_link_frame *frame, size_t *consumed,
                          char *errmsg);

/* Encoders: each returns 0 with *buf a malloc'd whole frame (the caller
 * frees it) of *len bytes, AMK_LINK_ETOOBIG (payload over its cap, or a
 * string over its cap), AMK_LINK_EINVAL (a string with a NUL, an unknown
 * status) or AMK_LINK_ENOMEM. */
int amk_link_encode_propose(uint64_t id, const void *cmd, size_t cmd_len,
                            void **buf, size_t *len);
/* status OK: result is serialized (its event is not: followers emit their
 * own events when they apply); otherwise message (NULL: "") goes. */
int amk_link_encode_result(uint64_t id, uint8_t status,
                           const struct amk_sm_result *result,
                           const char *message, void **buf, size_t *len);
int amk_link_encode_read_index(uint64_t id, void **buf, size_t *len);
int amk_link_encode_index(uint64_t id, uint8_t status, uint64_t index,
                          void **buf, size_t *len);

struct amk_link_heartbeat {
    char session[AMK_ID_MAX + 1]; /* "" = the sending node itself */
    char centre[AMK_ID_MAX + 1];
    bool valid; /* the session is not stale and not read-only */
};

int amk_link_encode_heartbeat(uint64_t id, const struct amk_link_heartbeat *hb,
                              void **buf, size_t *len);

/* Payload decoders: 0, or AMK_LINK_EPROTO with errmsg naming the field.
 * decode_result: *status set; status OK fills *result (zeroed first; body
 * malloc'd after its length was checked against what is left of the
 * payload, released with amk_sm_result_clear()); other statuses copy the
 * message into message (AMK_LINK_MESSAGE_MAX + 1 bytes, may be NULL).
 * On error *result holds nothing to free. AMK_LINK_ENOMEM possible. */
int amk_link_decode_result(const uint8_t *payload, size_t len, uint8_t *status,
                           struct amk_sm_result *result, char *message,
                           char *errmsg);
int amk_link_decode_index(const uint8_t *payload, size_t len, uint8_t *status,
                          uint64_t *index, char *errmsg);
int amk_link_decode_heartbeat(const uint8_t *payload, size_t len,
                              struct amk_link_heartbeat *hb, char *errmsg);

/* Splits "A.B.C.D:port" or "[v6]:port" into a socket address (port 0
 * allowed only when allow_port_zero). Returns 0 or AMK_LINK_EINVAL. */
struct sockaddr_storage;
int amk_link_parse_address(const char *address, bool allow_port_zero,
                           struct sockaddr_storage *out);

/* --- The link (server/link.c, link_server.c, link_client.c) ------------- */

enum {
    AMK_LINK_LOG_ERROR = 0,
    AMK_LINK_LOG_WARN,
    AMK_LINK_LOG_INFO,
    AMK_LINK_LOG_DEBUG
};

struct amk_link;
struct amk_link_op;

/* What the link needs from the node that runs it (server/backend.c gives
 * the raft-backed one; tests give fakes). Called on the loop thread. */
struct amk_link_env {
    void *data;
    /* The leader as this node knows it: its id (0: none known) and the
     * address of its link listener from the node directory into address
     * (size bytes; "" when unknown). */
    uint64_t (*leader)(void *data, char *address, size_t size);
    /* Whether this node leads and takes requests (not stepping down). */
    bool (*is_leader)(void *data);
    /* The index up to which local state reflects every committed entry. */
    uint64_t (*applied_index)(void *data);
    /* Leader side. Each returns AMK_LINK_STATUS_OK and later completes op
     * with amk_link_op_result / amk_link_op_index (exactly once, never from
     * inside the call), or another status now (no completion). cmd is valid
     * only during the call. */
    int (*propose)(void *data, struct amk_link_op *op, const void *cmd,
                   size_t len);
    int (*read_index)(void *data, struct amk_link_op *op);
    /* One line, without newline; level AMK_LINK_LOG_*. May be NULL. */
    void (*log)(void *data, int level, const char *msg);
};

struct amk_link_config {
    const char *address;         /* listen "IP:port"; NULL or "": no
                                    listener (the client still works) */
    uint64_t self_id;            /* this node's raft id */
    unsigned request_timeout_ms; /* per forwarded request; 0: 5000 */
    unsigned max_connections;    /* served connections; 0: 256 */
    unsigned max_inflight;       /* per served connection, before reading
                                    pauses; 0: 1024 */
    struct amk_link_env env;
};

/* A request being served on the leader, owned by the link. */
struct amk_link_op {
    void *data; /* free for the env */
    /* private */
    struct amk_link *link;
    struct link_conn *conn; /* NULL once the connection has gone */
    struct amk_link_op *prev, *next;
    uint64_t id;
    uint8_t type;
};

/* Answers a served PROPOSE: status OK with result (copied, the caller keeps
 * it), or another status with a message (may be NULL). Frees op. */
void amk_link_op_result(struct amk_link_op *op, int status,
                        const struct amk_sm_result *result,
                        const char *message);
/* Answers a served READ_INDEX. Frees op. */
void amk_link_op_index(struct amk_link_op *op, int status, uint64_t index);

struct amk_link_request;
typedef void (*amk_link_request_cb)(struct amk_link_request *req, int status);

/* A forwarded request (client side), caller-owned. */
struct amk_link_request {
    void *data;                  /* free for the caller */
    struct amk_sm_result result; /* PROPOSE, status 0: the outcome, owned by
                                    the request: amk_sm_result_clear() */
    uint64_t index;              /* READ_INDEX, status 0: the read index,
                                    already applied locally */
    /* private */
    struct amk_link *link;
    struct link_conn *conn; /* where it was queued or sent, or NULL */
    struct amk_link_request *prev, *next;
    const void *cmd; /* PROPOSE: borrowed from the caller until cb */
    size_t len;
    uint64_t id;
    uint64_t deadline; /* uv_now() ms */
    uint64_t tried;    /* the leader that answered NOT_LEADER */
    uint8_t type;
    int state;    /* link_client.c */
    bool retried; /* the one retry has been used */
    amk_link_request_cb cb;
};

/* Counters for /metrics. */
struct amk_link_stats {
    uint64_t forwarded_writes;    /* PROPOSE sent to a leader */
    uint64_t forwarded_reads;     /* READ_INDEX sent to a leader */
    uint64_t forwarded_ok;        /* forwarded requests answered OK */
    uint64_t forward_no_leader;   /* answered AMK_LINK_ENOLEADER */
    uint64_t forward_timeouts;    /* answered AMK_LINK_ETIMEOUT */
    uint64_t forward_retries;     /* NOT_LEADER (or drop) retries */
    uint64_t served_writes;       /* PROPOSE served for followers */
    uint64_t served_reads;        /* READ_INDEX served for followers */
    uint64_t heartbeats_received; /* HEARTBEAT frames recorded */
    uint64_t protocol_errors;     /* connections closed on bad frames */
    uint64_t connects;            /* client connections opened */
    uint64_t connect_failures;
    unsigned served_connections; /* open right now */
    bool connected;              /* a client connection to the leader */
};

/* One liveness row (leader only). Times are uv_now() ms. */
struct amk_link_liveness {
    char centre[AMK_ID_MAX + 1];
    uint64_t last_valid_ms; /* a node or a valid session; 0 never */
    uint64_t last_any_ms;   /* any heartbeat, stale sessions included */
    char last_session[AMK_ID_MAX + 1]; /* "" a node */
};

enum link_lifecycle {
    LINK_INIT = 0,
    LINK_OPEN,
    LINK_CLOSING,
    LINK_CLOSED,
};

typedef void (*amk_link_close_cb)(struct amk_link *link);

/* All fields private but errmsg. Must stay at a fixed address from init
 * until the close callback. */
struct amk_link {
    char errmsg[256];
    uv_loop_t *loop;
    struct amk_link_config config;
    char address[64]; /* the listen address (copied) */
    int lifecycle;    /* enum link_lifecycle */
    unsigned open_handles;
    amk_link_close_cb close_cb;

    /* server side */
    uv_tcp_t *listener;       /* heap: a failed init leaves nothing of the
                                 caller's memory in the loop */
    uint16_t port;            /* bound port */
    struct link_conn *served; /* open served connections */
    unsigned n_served;
    struct amk_link_op *ops; /* answers pending from the env */
    struct amk_link_liveness liveness[AMK_LINK_MAX_CENTRES];
    unsigned n_liveness;

    /* client side */
    struct link_conn *current;  /* to the leader (connecting or open) */
    struct link_conn *draining; /* older ones finishing their requests */
    struct amk_link_request *requests, *requests_tail; /* deadline order */
    unsigned n_requests;
    uint64_t next_id;
    uint64_t next_connect_ms;   /* reconnect backoff of the tick */
    uint64_t warned_leader;     /* connect failures to it logged once */
    uint64_t last_heartbeat_ms; /* node heartbeats sent by the tick */
    uv_timer_t timer;           /* deadlines and parked retries */
    bool timer_running;
    uv_check_t check; /* reads waiting for the local apply */
    bool check_running;

    struct amk_link_stats stats;
};

/* Sets link up on loop and, when config->address is set, listens on it. The
 * configuration is copied. Returns 0, or AMK_LINK_EINVAL / AMK_LINK_ELISTEN
 * with link->errmsg set ("listen 127.0.0.1:9001: address already in use"),
 * in which case nothing needs closing and nothing in the loop refers to
 * link (a failed listener closes on its own with the next loop run). After
 * 0 the link must be closed. */
int amk_link_init(struct amk_link *link, uv_loop_t *loop,
                  const struct amk_link_config *config);

/* The bound port of the listener (0: none). */
uint16_t amk_link_port(const struct amk_link *link);

/* Closes the listener and every connection, fails waiting requests with
 * AMK_LINK_ESHUTDOWN, detaches served ops (their answers are dropped). cb
 * (may be NULL) fires once every handle is closed. Call once, after the env
 * stopped producing completions (raft closed). */
void amk_link_close(struct amk_link *link, amk_link_close_cb cb);

/* Periodic upkeep (every ~100 ms, from the node's ticker): follows leader
 * changes (a connection to an old leader drains), connects ahead of the
 * first request, sends this node's own heartbeat (centre, when set) to the
 * leader every second, or records it when this node leads. */
void amk_link_tick(struct amk_link *link, const char *own_centre);

/* Forwards an encoded command (borrowed until cb) to the leader. Returns 0
 * and later cb with AMK_LINK_OK (req->result holds the outcome),
 * ENOLEADER, ETIMEOUT, ELOCAL, ESHUTDOWN or ENOMEM; or ENOLEADER /
 * ESHUTDOWN / ETOOBIG / ENOMEM now. */
int amk_link_propose(struct amk_link *link, struct amk_link_request *req,
                     const void *cmd, size_t len, amk_link_request_cb cb);

/* Asks the leader for a read index and waits until the local applied index
 * reaches it (req->index). Same outcomes; ETIMEOUT when the answer or the
 * local apply did not come within the deadline. */
int amk_link_read(struct amk_link *link, struct amk_link_request *req,
                  amk_link_request_cb cb);

/* A heartbeat of a console session (or, with session "", of a node) of
 * centre: recorded when this node leads, else sent to the leader if a
 * connection is open (liveness is best effort: the next one follows). */
void amk_link_heartbeat(struct amk_link *link, const char *session,
                        const char *centre, bool valid);

/* Leader's liveness table: when it last heard a valid heartbeat from centre
 * (a node of it or a valid session): 0 with *at_ms (uv_now() time) set, or
 * AMK_LINK_ENOTFOUND. */
int amk_link_last_heard(const struct amk_link *link, const char *centre,
                        uint64_t *at_ms);
/* The whole row, for diagnostics: 0 or AMK_LINK_ENOTFOUND. */
int amk_link_liveness(const struct amk_link *link, const char *centre,
                      struct amk_link_liveness *row);
/* Forgets every row (a new leader starts its detection period afresh). */
void amk_link_liveness_reset(struct amk_link *link);

void amk_link_stats(const struct amk_link *link, struct amk_link_stats *out);

#endif
