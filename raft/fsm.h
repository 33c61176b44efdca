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

/* Called after each command is applied to sm (including deferred ones when
 * they are finally applied), in index order, on the loop thread. The result
 * is only valid during the call. */
typedef void (*amk_raft_fsm_applied_cb)(void *data,
                                        const struct amk_sm_result *result);

struct amk_raft_fsm_deferred {
    uint64_t index;
    uint64_t term;
    void *buf; /* malloc'd copy of the entry */
    size_t len;
};

struct amk_raft_fsm {
    struct raft_fsm fsm;      /* handed to raft_init(); fsm.data = this */
    struct amk_sm *sm;        /* not owned */
    struct raft *raft;        /* set with amk_raft_fsm_bind() before start */
    amk_raft_fsm_applied_cb applied_cb;
    void *applied_data;
    struct amk_raft_fsm_deferred *deferred; /* index order */
    unsigned n_deferred, cap_deferred;
    uint64_t current_term_applied; /* term of the last applied entry */
    struct amk_sm_result last; /* result of the last apply: raft's apply
                                  callback on the leader receives &last as
                                  its `result` and must copy what it needs */
    uint64_t n_deferred_total; /* metrics: entries ever deferred */
    char errmsg[256];
};

/* Sets up f over sm (not owned). Returns 0 or AMK_ENOMEM. */
int amk_raft_fsm_init(struct amk_raft_fsm *f, struct amk_sm *sm);
void amk_raft_fsm_close(struct amk_raft_fsm *f);

/* The raft instance whose current term and last applied index the adapter
 * reads; must be called after raft_init() and before raft_start(). */
void amk_raft_fsm_bind(struct amk_raft_fsm *f, struct raft *raft);

void amk_raft_fsm_on_applied(struct amk_raft_fsm *f, amk_raft_fsm_applied_cb cb,
                             void *data);

#endif
