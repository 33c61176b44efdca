/* raft/node_internal.h: what the files implementing struct amk_raft_node share
 * (node.c: lifecycle and watch; node_config.c: configuration; node_guard.c:
 * guards around raft_uv; node_propose.c: batched proposals; node_snapshot.c:
 * when snapshots are taken; node_request.c: the no-op and reads;
 * node_member.c: membership and leadership transfer).
 * Not for other layers. */
#ifndef AMK_RAFT_NODE_INTERNAL_H
#define AMK_RAFT_NODE_INTERNAL_H

#include <stdarg.h>

#include "raft/node.h"

/* A raft_barrier issued for a batch of reads. Heap-allocated, and kept on a
 * small ring after its callback so that a second firing (0.15 #344 class of
 * bugs) touches live memory and is recognized by `fired`. */
struct node_barrier {
    struct raft_barrier req;
    struct amk_raft_node *node;
    struct amk_raft_read *reads; /* answered by this barrier */
    bool fired;
};

struct sockaddr_in;

/* node.c */
/* The leadership watch: runs after every raft tick and received message and
 * on the watch timer. */
void node__check_state(struct amk_raft_node *node);
void node__log(struct amk_raft_node *node, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A guard tripped: log at ERROR, then terminate the process (abort() for
 * AMK_RAFT_EIO, exit(EXIT_FAILURE) otherwise) unless config.fatal is set. */
void node__fatal(struct amk_raft_node *node, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 0 if node may start a request now, else a code with errmsg set: ESTATE,
 * ESHUTDOWN, ENOTLEADER (naming the leader if known), EBUSY (transfer). */
int node__check_leader(struct amk_raft_node *node, const char *what);
/* Ends the close sequence from a loop callback. */
void node__close_raft(struct amk_raft_node *node);
/* Milliseconds since the epoch, UTC, from the wall clock. */
int64_t node__wall_ms(void);

/* node_config.c */
/* Parses "A.B.C.D:port" into *sa. Returns 0, or -1 with *reason set. */
int node__parse_ipv4(const char *address, struct sockaddr_in *sa,
                     const char **reason);
/* Checks c; 0 or AMK_RAFT_EINVAL with node->errmsg naming the field. */
int node__config_check(struct amk_raft_node *node,
                       const struct amk_raft_node_config *c);
/* Copies c into node->config with defaults for zero fields; frees with
 * node__config_free(). Returns 0, AMK_RAFT_EINVAL or AMK_RAFT_ENOMEM. */
int node__config_copy(struct amk_raft_node *node,
                      const struct amk_raft_node_config *c);
void node__config_free(struct amk_raft_node *node);

/* node_guard.c */
/* Wraps io->append and io->start, installs the tracer, sets auto-recovery
 * and the reconnect delay. After raft_uv_init, before raft_init. */
void node__guard_io(struct amk_raft_node *node);
/* corrupt-* files in dir (set aside by raft_uv's auto-recovery). */
unsigned node__scan_corrupt_files(const char *dir);
/* Whether raft_uv has written anything into dir yet. */
bool node__data_dir_pristine(const char *dir);
/* Removes what raft_bootstrap wrote into a pristine data directory. */
void node__undo_bootstrap(struct amk_raft_node *node);
/* Binds the raft address once: "in use" is reported before anything is
 * written. 0 or AMK_RAFT_ENET with node->errmsg set. */
int node__check_bindable(struct amk_raft_node *node);

/* node_propose.c */
/* Checks, copies and queues cmd (amk_raft_node_propose without the leader
 * check). Returns 0 (cb fires later) or a code with errmsg set. */
int node__propose(struct amk_raft_node *node, struct amk_raft_propose *req,
                  const void *cmd, size_t len, amk_raft_propose_cb cb);
/* The FSM's result hook (amk_raft_fsm_result_cb; data is the node). */
void node__proposals_on_result(void *data, uint64_t index, uint64_t term,
                               const struct amk_sm_result *result);
/* The loop handles that hand queued proposals to raft. */
void node__proposals_flush_cb(uv_check_t *check);
void node__proposals_idle_cb(uv_idle_t *idle);
/* From the leadership watch: fails the in-flight proposals raft no longer
 * tracks once this node is no leader of their term (ELEADERSHIPLOST). */
void node__proposals_check(struct amk_raft_node *node);
/* Answers every in-flight proposal with status, at once. */
void node__proposals_abandon(struct amk_raft_node *node, int status);
/* On close, after raft_close: every proposal not yet answered, queued or
 * in flight, gets AMK_RAFT_ESHUTDOWN. */
void node__proposals_close(struct amk_raft_node *node);
/* Frees the batches raft never called back (after raft is closed). */
void node__batches_free(struct amk_raft_node *node);

/* node_snapshot.c */
/* Sets raft's snapshot threshold so that this node's next snapshot lands on
 * its own phase of the snapshot period (from the leadership watch). */
void node__snapshot_schedule(struct amk_raft_node *node);

/* node_request.c */
/* Proposes this term's no-op (DESIGN 0.15 defect 1). Returns 0 or a code. */
int node__propose_noop(struct amk_raft_node *node);
/* Issues a barrier for waiting reads when possible; fails them with
 * AMK_RAFT_ENOTLEADER when this node is no longer the leader. */
void node__reads_kick(struct amk_raft_node *node);
/* Answers every waiting read with status. */
void node__reads_fail(struct amk_raft_node *node, int status);
/* Frees the retired barriers (after raft is closed). */
void node__barriers_free(struct amk_raft_node *node);
/* Maps a failure status of a raft callback, ESHUTDOWN while closing. */
int node__callback_status(struct amk_raft_node *node, int raft_status);

/* node_member.c */
/* Starts req (set up by the caller: target, cb, node) as the node's transfer;
 * max_attempts raft_transfer calls. Returns 0 or a code (no callback). */
int node__transfer_start(struct amk_raft_node *node,
                         struct amk_raft_transfer *req, unsigned max_attempts);
/* Advances a running transfer: verification, retry, timeout. */
void node__transfer_check(struct amk_raft_node *node);
/* Ends a running transfer, if any, with status. */
void node__transfer_finish(struct amk_raft_node *node, int status);

#endif
