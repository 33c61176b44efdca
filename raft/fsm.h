/* raft/fsm.h: adapts the state machine (sm/) to canonical/raft's struct
 * raft_fsm, with the guard against 0.15's earlier-term commit defect
 * (Raft paper §5.4.2, Figure 8; upstream canonical/raft #220): an entry whose
 * header term is older than the server's current term is deferred, not
 * applied, until an entry of the current term is applied; then the deferred
 * entries are applied in index order before it. Deferred entries are carried
 * through snapshots. */
#ifndef AMK_RAFT_FSM_H
#define AMK_RAFT_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "sm/sm.h"

struct amk_raft_fsm;

/* At most this many entries wait in the deferred list (and in a snapshot's).
 * Only what earlier leaders proposed and had not yet committed is ever
 * deferred, so reaching this means something else is badly wrong. */
#define AMK_RAFT_FSM_MAX_DEFERRED (1u << 20)

/* Called after each command is applied to sm (including deferred ones when
 * they are finally applied), in index order, on the loop thread. The result
 * is only valid during the call. */
typedef void (*amk_raft_fsm_applied_cb)(void *data,
                                        const struct amk_sm_result *result);

/* Called after each command is applied to sm, right after the applied
 * callback, with the entry's raft index and the term its header carries (0
 * if the header cannot be read): the node routes the result to the
 * proposal waiting for that (index, term), since canonical/raft 0.15 calls
 * raft_apply's callback once per call, with the first entry's result only
 * (raft/node_propose.c). The result is only valid during the call. */
typedef void (*amk_raft_fsm_result_cb)(void *data, uint64_t index,
                                       uint64_t term,
                                       const struct amk_sm_result *result);

struct amk_raft_fsm_deferred {
    uint64_t index;
    uint64_t term;
    void *buf; /* raft_malloc'd copy of the entry (raft_heap_set() injects
                  allocation faults in tests) */
    size_t len;
};

struct amk_raft_fsm {
    struct raft_fsm fsm; /* handed to raft_init(); fsm.data = this */
    struct amk_sm *sm;   /* not owned */
    struct raft *raft;   /* set with amk_raft_fsm_bind() before start */
    amk_raft_fsm_applied_cb applied_cb;
    void *applied_data;
    amk_raft_fsm_result_cb result_cb;
    void *result_data;
    struct amk_raft_fsm_deferred *deferred; /* index order */
    unsigned n_deferred, cap_deferred;
    bool apply_later; /* see amk_raft_fsm_apply_later() */
    bool draining;
    struct amk_raft_fsm_deferred *pending; /* committed, to apply, in order */
    unsigned n_pending, cap_pending;
    uint64_t current_term_applied; /* the raft term in which an entry of that
                                      same term was last applied; entries of
                                      earlier terms are deferred while this
                                      differs from raft->current_term */
    struct amk_sm_result last;     /* result of the last apply: raft's apply
                                      callback on the leader receives &last as
                                      its `result` and must copy what it needs;
                                      it receives NULL for an entry that was
                                      deferred (an earlier-term entry, so never
                                      one this leader proposed) */
    uint64_t n_deferred_total;     /* metrics: entries ever deferred */
    char errmsg[256];
};

/* Sets up f over sm (not owned): f->fsm is a version 2 struct raft_fsm.
 * Returns 0 or AMK_ENOMEM.
 *
 * apply: the entry's index is raft_last_applied() + 1 (0.15 advances it after
 * apply returns); its term is read from the command header. A committed
 * entry that sm cannot process (AMK_EINTERNAL, AMK_ENOMEM) stops the process
 * with abort(): the node could no longer agree with its peers. If the copy
 * of a deferred entry cannot be allocated, apply returns RAFT_NOMEM (or
 * RAFT_TOOMANY past AMK_RAFT_FSM_MAX_DEFERRED) with f->errmsg set and nothing
 * changed; 0.15 offers the entry again later.
 * snapshot: one raft_malloc'd buffer, freed by snapshot_finalize:
 *   "AMKRFSM1" u32 format(1) u32 n_deferred
 *   n_deferred x (u64 index u64 term u32 len bytes) u64 sm_len sm_bytes
 * (little-endian), sm_bytes being amk_sm_snapshot()'s.
 * restore: validates all of it first; on error returns a raft code with
 * f->errmsg set, changes nothing and leaves buf to raft (0.15 frees it); on
 * success takes buf->base and raft_free()s it, as 0.15 expects. */
int amk_raft_fsm_init(struct amk_raft_fsm *f, struct amk_sm *sm);
void amk_raft_fsm_close(struct amk_raft_fsm *f);

/* The raft instance whose current term and last applied index the adapter
 * reads; must be called after raft_init() and before raft_start(). */
void amk_raft_fsm_bind(struct amk_raft_fsm *f, struct raft *raft);

void amk_raft_fsm_on_applied(struct amk_raft_fsm *f, amk_raft_fsm_applied_cb cb,
                             void *data);

/* on: while raft is a follower, committed entries are queued (in index
 * order, after the deferred ones they release) instead of applied, and
 * amk_raft_fsm_drain() applies them; raft's last_applied runs ahead of sm by
 * the queue. Off (the default): every entry is applied inside raft's apply,
 * as raft_fixture tests expect. Whenever an entry is applied directly (a
 * leader, a candidate), and before a snapshot, the queue is drained first;
 * a restored snapshot supersedes it. */
void amk_raft_fsm_apply_later(struct amk_raft_fsm *f, bool on);

/* Applies the queued entries, in order (see apply_later). */
void amk_raft_fsm_drain(struct amk_raft_fsm *f);

/* The index up to which sm reflects every committed entry: raft_applied
 * (raft's last_applied), or just below the first entry still queued or
 * deferred. */
uint64_t amk_raft_fsm_applied_index(const struct amk_raft_fsm *f,
                                    uint64_t raft_applied);

/* The node's hook for proposal results (see amk_raft_fsm_result_cb). */
void amk_raft_fsm_on_result(struct amk_raft_fsm *f, amk_raft_fsm_result_cb cb,
                            void *data);

#endif
