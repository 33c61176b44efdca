/* raft/node.h: one amkd raft node: canonical/raft 0.15 over raft_uv storage in
 * a data directory, a transport behind the seam in raft/transport.h, and the
 * FSM adapter (raft/fsm.h) over a caller-owned state machine. It adds the
 * guards DESIGN.md lists for 0.15's known defects, linearizable-read support
 * (coalesced barriers), verified leadership transfer and membership changes.
 *
 * Threading: everything runs on the loop thread given to init; no call may be
 * made from another thread. The process must ignore SIGPIPE (raft_uv writes
 * to peers whose connection may just have gone; libuv does not ignore it).
 *
 * Async calls follow libuv's contract: they take a request struct owned by the
 * caller, which must stay valid and untouched until its callback; a non-zero
 * return means the callback will never fire; otherwise it fires exactly once,
 * never from inside the call. The caller may free the request in the
 * callback. */
#ifndef AMK_RAFT_NODE_H
#define AMK_RAFT_NODE_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "raft/error.h"
#include "raft/fsm.h"
#include "raft/transport.h"
#include "sm/sm.h"

/* Longest raft address accepted ("255.255.255.255:65535" is 21). */
#define AMK_RAFT_ADDRESS_MAX 63

/* Defaults, chosen for fast failover (goal: median < 1 s from kill -9 of the
 * leader to the first acknowledged write). 0.15 checks the election timer
 * once per heartbeat tick, randomizes it in [E, 2E), and a follower that
 * still believes in the dead leader refuses votes until its own timer runs
 * out, so a new leader needs about max of two followers' timers, ~1.7 E
 * (median) after the last heartbeat. Measured on loopback (3 amk_raft_node
 * processes, kill -9 of the leader, time to the next acknowledged write):
 * E 300 / H 50 ms: median 533 ms (20 runs, 406..1116); E 1000 / H 100 ms,
 * raft's own defaults: median 1.54 s. Heartbeat 50 ms keeps 6 heartbeats per
 * election timeout (a lost packet starts no election) and bounds the tick
 * granularity of the election timer to 50 ms. */
#define AMK_RAFT_DEFAULT_HEARTBEAT_MS 50
#define AMK_RAFT_DEFAULT_ELECTION_MS  300
/* A snapshot is a copy of the whole state, and it holds the node's loop for
 * the copy (12 - 130 ms for 12 - 33 MB here): take one per 65,536 entries
 * per node (etcd 3.4: 100,000), each voter at its own phase of that period
 * (raft/node_snapshot.c), and keep 4096 entries behind it so a briefly
 * lagging follower catches up from the log instead of a snapshot. The price
 * is up to ~70,000 entries of log to replay on restart (~3 s here) and to
 * keep in memory. */
#define AMK_RAFT_DEFAULT_SNAPSHOT_THRESHOLD 65536
#define AMK_RAFT_DEFAULT_SNAPSHOT_TRAILING  4096
/* Proposals queued in one loop iteration go to raft_apply in batches of at
 * most this many entries and bytes (a batch is one disk write and one
 * AppendEntries message per follower; raft_uv's segments are 8 MiB). */
#define AMK_RAFT_BATCH_MAX_ENTRIES 256
#define AMK_RAFT_BATCH_MAX_BYTES   (1024u * 1024u)
/* raft_uv's default is 1 s; a restarted peer is reconnected within 200 ms. */
#define AMK_RAFT_DEFAULT_CONNECT_RETRY_MS 200
/* The backstop poll of raft_state() (state changes are also checked right
 * after every raft tick and every received message). */
#define AMK_RAFT_DEFAULT_WATCH_MS          50
#define AMK_RAFT_DEFAULT_TRANSFER_ATTEMPTS 3

enum amk_raft_log_level {
    AMK_RAFT_LOG_DEBUG = 0,
    AMK_RAFT_LOG_INFO,
    AMK_RAFT_LOG_WARN,
    AMK_RAFT_LOG_ERROR,
};

/* The log sink. msg is one line without newline, valid during the call. */
typedef void (*amk_raft_log_fn)(void *data, int level, const char *msg);

/* Called instead of terminating the process when a guard trips (tests).
 * code is AMK_RAFT_EIO (a failed disk append, 0.15 #320) or AMK_RAFT_EINTERNAL
 * (raft turned UNAVAILABLE on its own, 0.15 #220). When it returns the node is
 * marked failed: every further call returns AMK_RAFT_ESTATE but close. */
typedef void (*amk_raft_fatal_fn)(void *data, int code, const char *msg);

/* Server roles, as in canonical/raft. */
enum amk_raft_role {
    AMK_RAFT_STANDBY = RAFT_STANDBY, /* replicates, does not vote */
    AMK_RAFT_VOTER = RAFT_VOTER,
    AMK_RAFT_SPARE = RAFT_SPARE, /* neither */
};

/* The role's name ("voter", "standby", "spare"), or NULL. */
const char *amk_raft_role_name(int role);

/* Parses "voter" / "standby" / "spare". Returns 0, or AMK_RAFT_EINVAL. */
int amk_raft_role_parse(const char *name, int *role);

enum amk_raft_state {
    AMK_RAFT_UNAVAILABLE = RAFT_UNAVAILABLE,
    AMK_RAFT_FOLLOWER = RAFT_FOLLOWER,
    AMK_RAFT_CANDIDATE = RAFT_CANDIDATE,
    AMK_RAFT_LEADER = RAFT_LEADER,
};

/* "unavailable", "follower", "candidate", "leader". */
const char *amk_raft_state_name(int state);

struct amk_raft_peer {
    uint64_t id;
    const char *address; /* "A.B.C.D:port" */
};

/* Start from amk_raft_node_config_default(); numeric fields left at 0 also
 * mean "default". Strings and the peers array are copied by init. */
struct amk_raft_node_config {
    uint64_t id;          /* > 0, unique in the cluster */
    const char *address;  /* "A.B.C.D:port": IPv4 literal only (0.15) */
    const char *data_dir; /* must exist and be writable */
    /* Bootstrap configuration (--peers), all voters, this node included with
     * the same address. Used only when data_dir holds no raft data yet; a
     * node with data ignores it. n_peers 0: no bootstrap (a joining node). */
    const struct amk_raft_peer *peers;
    unsigned n_peers;
    unsigned heartbeat_ms;       /* default AMK_RAFT_DEFAULT_HEARTBEAT_MS */
    unsigned election_ms;        /* default AMK_RAFT_DEFAULT_ELECTION_MS;
                                    at least 2 x heartbeat_ms */
    unsigned snapshot_threshold; /* entries between two snapshots of a
                                    node; voters are staggered by phase */
    unsigned snapshot_trailing;  /* entries kept behind a snapshot */
    unsigned connect_retry_ms;   /* reconnect delay to an unreachable peer */
    unsigned watch_ms;           /* raft_state() backstop poll */
    unsigned transfer_attempts;  /* raft_transfer tries per transfer */
    bool pre_vote;               /* default true: a partitioned node cannot
                                    disrupt the cluster when it returns */
    /* raft_uv's auto-recovery (0.15 defect 3): on a corrupt segment at start
     * it renames the segment and everything after it to corrupt-* and starts
     * without those entries, entries this node may have acknowledged; a voter
     * that forgets acknowledged entries can let a committed write be lost.
     * Default false: start fails with AMK_RAFT_ECORRUPT naming the segment;
     * the operator wipes the data dir and re-adds the node (it catches up by
     * snapshot) or, knowingly, restarts with this set. A corrupt batch in an
     * OPEN segment (a torn tail after a crash) is truncated by 0.15 whatever
     * this says. Either way every corrupt-* file and every "corrupt" trace
     * from raft_uv at start is logged at ERROR and counted
     * (amk_raft_node_stats.corruptions). */
    bool auto_recovery;
    bool trace; /* forward canonical/raft's trace lines at DEBUG level */
    const struct amk_raft_transport_ops *transport; /* NULL: TCP */
    const void *transport_config;                   /* for the transport */
    amk_raft_log_fn log; /* NULL: WARN and ERROR to stderr */
    void *log_data;
    amk_raft_fatal_fn fatal; /* NULL: log and terminate the process */
    void *fatal_data;
};

void amk_raft_node_config_default(struct amk_raft_node_config *cfg);

/* Checks that address is "A.B.C.D:port" (port 1..65535). Returns 0, or
 * AMK_RAFT_EINVAL with errmsg (256 bytes) naming `what` and the reason
 * (hostnames are rejected: canonical/raft 0.15 cannot resolve them). */
int amk_raft_address_check(const char *address, const char *what, char *errmsg);

/* --- Request types (caller-owned; see the header comment) --- */

struct amk_raft_node;
struct amk_raft_propose;
struct amk_raft_read;
struct amk_raft_change;
struct amk_raft_transfer;

/* status 0: req->result holds the outcome (a copy the request owns, release
 * it with amk_sm_result_clear(&req->result); its event is NULL: events go
 * to the hook of amk_raft_node_on_applied). Otherwise
 * req->result is zeroed and status is one of:
 * - AMK_RAFT_ENOTLEADER, AMK_RAFT_EBUSY, AMK_RAFT_ESTATE: leadership went,
 *   a transfer began or the node failed before the queued proposal reached
 *   raft: nothing was appended (forward it, or retry);
 * - AMK_RAFT_ESHUTDOWN: the node closed before the queued proposal reached
 *   raft: nothing was appended;
 * - AMK_RAFT_ELEADERSHIPLOST, AMK_RAFT_EUNKNOWN: appended, then leadership
 *   was lost or the node closed: outcome unknown, the entry may commit
 *   (answer 504 and let the client retry with its idempotency key);
 * - AMK_RAFT_ENOMEM: out of memory, either batching (not appended) or
 *   copying the result (applied, only its answer was lost). */
typedef void (*amk_raft_propose_cb)(struct amk_raft_propose *req, int status);

struct amk_raft_propose {
    void *data;                  /* free for the caller */
    struct amk_sm_result result; /* out, see amk_raft_propose_cb */
    /* private (raft/node_propose.c) */
    struct amk_raft_propose *next; /* in the node's queue or in-flight FIFO */
    struct amk_raft_node *node;
    amk_raft_propose_cb cb;
    struct raft_buffer buf; /* the padded copy, until handed to raft_apply */
    size_t len;             /* the command's length without padding */
    uint64_t index;         /* raft index of the entry, once in flight */
    uint64_t term;          /* term stamped into it, once in flight */
    uint64_t proposed_ns;   /* monotonic clock at propose: apply latency */
    int status;             /* while in the answered list */
};

/* status 0: the leader confirmed its leadership after the read was issued,
 * and req->index is an applied index at which local state may be read
 * linearizably (every write acknowledged before the read started is
 * included). A follower serving a read asks the leader for this index and
 * waits until amk_raft_node_applied_index() reaches it. Otherwise status is
 * AMK_RAFT_ELEADERSHIPLOST, AMK_RAFT_ENOTLEADER (leadership lost before the
 * barrier could be issued) or AMK_RAFT_ESHUTDOWN: forward or retry. */
typedef void (*amk_raft_read_cb)(struct amk_raft_read *req, int status);

struct amk_raft_read {
    void *data;
    uint64_t index; /* out */
    /* private */
    struct amk_raft_read *next;
    struct amk_raft_node *node;
    amk_raft_read_cb cb;
};

/* status 0: the configuration change is committed. Otherwise a code:
 * AMK_RAFT_ELEADERSHIPLOST / ESHUTDOWN (may or may not have happened: list
 * the configuration to see), AMK_RAFT_ENET (a promotee did not catch up). */
typedef void (*amk_raft_change_cb)(struct amk_raft_change *req, int status);

struct amk_raft_change {
    void *data;
    /* private */
    struct raft_change change;
    struct amk_raft_node *node;
    amk_raft_change_cb cb;
};

/* status 0: the target (or, for target 0, another voter) was observed as
 * leader. AMK_RAFT_ETIMEOUT: not observed after every attempt.
 * AMK_RAFT_ELEADERSHIPLOST: another node than the target became leader.
 * AMK_RAFT_ESHUTDOWN: the node is closing. */
typedef void (*amk_raft_transfer_cb)(struct amk_raft_transfer *req, int status);

struct amk_raft_transfer {
    void *data;
    uint64_t target;   /* 0: any voter (raft picks an up-to-date one) */
    unsigned attempts; /* out: raft_transfer calls made */
    /* private */
    struct amk_raft_node *node;
    amk_raft_transfer_cb cb;
};

/* One server of the configuration (GET /v1/cluster). */
struct amk_raft_member {
    uint64_t id;
    char address[AMK_RAFT_ADDRESS_MAX + 1];
    int role;      /* enum amk_raft_role */
    int reachable; /* leader only: 1 if a message from it arrived within
                      the last 2 election timeouts (or it is this node), 0
                      if not; -1 unknown (this node is no leader) */
};

/* Counters for metrics and tests. */
struct amk_raft_node_stats {
    uint64_t leader_changes;   /* (leader, term) pairs observed */
    uint64_t deferred;         /* entries deferred by the FSM right now */
    uint64_t deferred_total;   /* entries ever deferred (0.15 #220 guard) */
    uint64_t noops;            /* no-ops proposed on becoming leader */
    uint64_t reads;            /* read requests answered with status 0 */
    uint64_t barriers;         /* raft_barrier calls made for reads */
    uint64_t barrier_refires;  /* barrier callbacks that fired again (#344) */
    uint64_t transfer_retries; /* extra raft_transfer calls (#477) */
    uint64_t corruptions;      /* corrupt-tail events seen at start (#3) */
    uint64_t nudges;           /* barriers sent to unstick a lagging follower */
    uint64_t batches;          /* raft_apply calls made for proposals */
    uint64_t batched;          /* proposals handed to raft in them */
    uint64_t orphans_failed;   /* in-flight proposals raft had forgotten,
                                  answered by the node on step-down / close */
    uint64_t snapshot_target;  /* index at which this node's next snapshot
                                  is due (raft/node_snapshot.c) */
    /* Apply latency on the leader, proposal to applied (commit, fsync and
     * sm apply): a histogram with AMK_RAFT_LATENCY_BUCKETS upper bounds. */
    uint64_t apply_latency_count[12]; /* per bucket, not cumulative */
    uint64_t apply_latency_sum_us;
    uint64_t apply_latency_total;
};

/* Upper bounds (ms) of the apply latency buckets; the last is +Inf. */
#define AMK_RAFT_LATENCY_BUCKETS                                               \
    {                                                                          \
        0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 0 /* +Inf */            \
    }

/* --- The node --- */

enum amk_raft_node_lifecycle {
    AMK_RAFT_NODE_INIT = 0, /* after init: start or close */
    AMK_RAFT_NODE_STARTED,
    AMK_RAFT_NODE_FAILED, /* start failed or a guard tripped: close only */
    AMK_RAFT_NODE_CLOSING,
    AMK_RAFT_NODE_CLOSED,
};

typedef void (*amk_raft_node_close_cb)(struct amk_raft_node *node);

struct node_barrier;
struct node_batch;
struct node_contact {
    uint64_t id;
    uint64_t last_ms; /* uv_now() */
};

#define AMK_RAFT_NODE_RETIRED 8

/* All fields are private except errmsg (the last error of a synchronous
 * call). The struct must stay at a fixed address from init until the close
 * callback. */
struct amk_raft_node {
    char errmsg[256];

    /* configuration (owned copies) */
    uv_loop_t *loop;
    struct amk_sm *sm; /* not owned */
    struct amk_raft_node_config config;
    char address[AMK_RAFT_ADDRESS_MAX + 1];
    char *data_dir;
    struct amk_raft_peer *peers;
    char (*peer_addresses)[AMK_RAFT_ADDRESS_MAX + 1];
    const struct amk_raft_transport_ops *transport_ops;
    void *noop_template; /* encoded AMK_CMD_NOOP */
    size_t noop_len;

    /* canonical/raft */
    struct amk_raft_transport transport;
    struct raft_io io;
    struct raft_tracer tracer;
    struct amk_raft_fsm fsm;
    struct raft raft;

    /* guards: the raft_uv functions we wrap */
    int (*uv_append)(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n,
                     raft_io_append_cb cb);
    int (*uv_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                    raft_io_recv_cb recv);
    raft_io_tick_cb raft_tick;
    raft_io_recv_cb raft_recv;

    int lifecycle; /* enum amk_raft_node_lifecycle */
    bool checking; /* re-entrancy guard of the state check */
    uv_timer_t watch;
    unsigned open_handles; /* closes still to come before close_cb */
    amk_raft_node_close_cb close_cb;
    struct amk_raft_transfer close_transfer; /* leadership hand-over */

    /* last message from each server (struct node_contact), for members */
    struct node_contact *contacts;
    unsigned n_contacts;

    /* leadership watch */
    raft_id observed_leader;
    raft_term observed_term;
    raft_term noop_term; /* term whose no-op was proposed */
    /* Stuck-follower nudge (raft/node.c nudge_check). */
    struct raft_barrier nudge;
    bool nudge_pending;
    raft_term nudge_term;         /* term the leadership nudges belong to */
    uint64_t nudge_term_start_ms; /* when this node became leader in it */
    raft_index nudge_last;        /* last index at the previous check */
    uint64_t nudge_idle_since_ms; /* when the log last grew */
    unsigned nudge_count;         /* nudges sent in this term */
    raft_term noop_applied_term;  /* term whose no-op was applied */

    /* proposals (raft/node_propose.c) */
    struct amk_raft_propose *queue_head, *queue_tail;   /* not yet in raft */
    struct amk_raft_propose *flight_head, *flight_tail; /* by index */
    struct amk_raft_propose *done_head, *done_tail;     /* applied, to answer */
    struct node_batch *batches; /* raft_apply requests raft has not called
                                   back yet */
    uv_check_t flush; /* hands the queue to raft once per loop iteration */
    uv_idle_t keep_polling; /* no blocking poll while the queue waits */

    /* coalesced read barriers */
    struct amk_raft_read *reads_head, *reads_tail; /* waiting for a barrier */
    struct node_barrier *barrier;                  /* in flight, or NULL */
    struct node_barrier *retired[AMK_RAFT_NODE_RETIRED];
    unsigned retired_next;

    /* leadership transfer (one at a time) */
    struct amk_raft_transfer *transfer;
    struct raft_transfer raft_transfer; /* outlives every TimeoutNow send */
    unsigned transfer_max_attempts;
    bool transfer_waiting;      /* raft's callback fired; verifying */
    uint64_t transfer_deadline; /* uv_now() limit of verifying */

    uint64_t snapshot_target; /* node_snapshot.c */

    struct amk_raft_node_stats stats;
};

/* Sets up node on loop over sm (caller-owned; must outlive the node and be
 * freshly opened: raft replays the log and snapshot into it on start). Checks
 * the configuration (ids, IP-literal addresses, peers, timeouts) and the data
 * directory (raft_uv probes it), copies what it keeps. Returns 0, or a code
 * with node->errmsg set to one line, in which case nothing needs closing.
 * After 0 the node must be closed with amk_raft_node_close(), started or
 * not. */
int amk_raft_node_init(struct amk_raft_node *node, uv_loop_t *loop,
                       struct amk_sm *sm,
                       const struct amk_raft_node_config *config);

/* Bootstraps from config.peers if the data directory holds no raft data
 * (RAFT_CANTBOOTSTRAP: it does; the peers are ignored, logged at INFO), then
 * starts raft: loads the snapshot and log into sm and listens on the address.
 * Returns 0, or a code with node->errmsg set to one line (address in use,
 * corrupt log, ...); on failure a bootstrap this call made is undone, so the
 * data directory is as raft_uv's probing left it. The node must then be
 * closed. */
int amk_raft_node_start(struct amk_raft_node *node);

/* Closes the node: if it is the leader, first hands leadership to another
 * voter (one verified attempt: raft gives up after an election timeout, and
 * a new leader is awaited at most two more), then fails
 * pending requests (their callbacks fire with AMK_RAFT_ESHUTDOWN), closes raft,
 * raft_uv and the transport. cb (may be NULL) fires once everything is
 * closed; the node memory and sm may be released from then on. Returns 0, or
 * AMK_RAFT_ESTATE if already closing (the callback will not fire again). */
int amk_raft_node_close(struct amk_raft_node *node, amk_raft_node_close_cb cb);

/* Called for every command applied to sm, in index order (including deferred
 * ones when they are finally applied; see raft/fsm.h). For events. */
void amk_raft_node_on_applied(struct amk_raft_node *node,
                              amk_raft_fsm_applied_cb cb, void *data);

/* Proposes one encoded command (sm/cmd.h; len bytes, copied, the caller keeps
 * cmd). Leader only: AMK_RAFT_ENOTLEADER otherwise (forward to the leader),
 * AMK_RAFT_EBUSY during a leadership transfer. The copy is zero-padded to a
 * multiple of 8 bytes (0.15 corrupts other lengths, see node_propose.c) and
 * queued: the proposals made during one loop iteration go to raft as one
 * raft_apply of up to AMK_RAFT_BATCH_MAX_ENTRIES entries (one disk write and
 * one AppendEntries per follower for all of them), each stamped with the
 * current term and the wall clock (ms UTC) by amk_cmd_stamp() just before.
 * Each proposal still gets its own answer, with its own result. If the node
 * is no longer leader (or is in a transfer) when the queue is handed to raft,
 * the callback gets AMK_RAFT_ENOTLEADER (AMK_RAFT_EBUSY): nothing was
 * appended. AMK_RAFT_EINVAL if cmd is not an encoded command,
 * AMK_RAFT_ETOOBIG over AMK_CMD_MAX_SIZE (both at once, no callback). */
int amk_raft_node_propose(struct amk_raft_node *node,
                          struct amk_raft_propose *req, const void *cmd,
                          size_t len, amk_raft_propose_cb cb);

/* Linearizable read support on the leader: req waits for the next raft
 * barrier issued after it arrived; one barrier answers every read queued
 * before it was issued (reads arriving while a barrier is in flight wait for
 * the next one). No barrier is issued before this term's no-op is applied, so
 * entries deferred by the FSM are in sm when a read is answered. Leader only:
 * AMK_RAFT_ENOTLEADER otherwise; AMK_RAFT_EBUSY during a transfer. */
int amk_raft_node_read(struct amk_raft_node *node, struct amk_raft_read *req,
                       amk_raft_read_cb cb);

/* Membership (leader only; one change at a time: AMK_RAFT_EBUSY).
 * add: a new server as a spare (then assign it a role); address is an IPv4
 * literal; AMK_RAFT_EEXISTS for a known id or address.
 * assign: role voter (after the server catches up), standby or spare;
 * AMK_RAFT_ENOTFOUND, AMK_RAFT_EINVAL if it already has the role.
 * remove: AMK_RAFT_ENOTFOUND; AMK_RAFT_EINVAL for the leader itself
 * (transfer leadership first). */
int amk_raft_node_add(struct amk_raft_node *node, struct amk_raft_change *req,
                      uint64_t id, const char *address, amk_raft_change_cb cb);
int amk_raft_node_assign(struct amk_raft_node *node,
                         struct amk_raft_change *req, uint64_t id, int role,
                         amk_raft_change_cb cb);
int amk_raft_node_remove(struct amk_raft_node *node,
                         struct amk_raft_change *req, uint64_t id,
                         amk_raft_change_cb cb);

/* Hands leadership to req->target (0: raft picks an up-to-date voter) and
 * verifies it (0.15 #477: a transfer can silently not happen): succeeds only
 * when the target is observed as leader; retries raft_transfer up to
 * config.transfer_attempts times. Leader only; AMK_RAFT_EBUSY if a transfer
 * is running; AMK_RAFT_EINVAL for itself, AMK_RAFT_ENOTFOUND for an unknown or
 * non-voting target. */
int amk_raft_node_transfer(struct amk_raft_node *node,
                           struct amk_raft_transfer *req,
                           amk_raft_transfer_cb cb);

/* The current configuration (the latest appended one, committed or not):
 * *members is malloc'd (caller frees), *n its length. Returns 0 or
 * AMK_RAFT_ENOMEM. */
int amk_raft_node_members(struct amk_raft_node *node,
                          struct amk_raft_member **members, unsigned *n);

/* --- Accessors (cheap, any lifecycle state after init) --- */
int amk_raft_node_state(const struct amk_raft_node *node);
int amk_raft_node_lifecycle(const struct amk_raft_node *node);
uint64_t amk_raft_node_id(const struct amk_raft_node *node);
uint64_t amk_raft_node_term(const struct amk_raft_node *node);
/* The leader as this node knows it: returns its id (0: none known) and sets
 * *address (may be NULL) to its address, valid until control returns to the
 * loop, or NULL. */
uint64_t amk_raft_node_leader(struct amk_raft_node *node, const char **address);
uint64_t amk_raft_node_commit_index(const struct amk_raft_node *node);
/* The raft index up to which sm reflects every committed entry: raft's last
 * applied index, or just below the first entry the FSM still defers. Reads at
 * an index wait until this reaches it. */
uint64_t amk_raft_node_applied_index(const struct amk_raft_node *node);
uint64_t amk_raft_node_leader_changes(const struct amk_raft_node *node);
uint64_t amk_raft_node_deferred(const struct amk_raft_node *node);
void amk_raft_node_stats(const struct amk_raft_node *node,
                         struct amk_raft_node_stats *stats);

#endif
