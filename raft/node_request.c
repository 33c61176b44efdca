/* raft/node_request.c: the status of raft's callbacks, each term's no-op,
 * and the coalesced raft barriers behind linearizable reads. Proposals are in
 * node_propose.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/node_internal.h"
#include "sm/cmd.h"

int node__callback_status(struct amk_raft_node *node, int raft_status)
{
    if (node->lifecycle == AMK_RAFT_NODE_CLOSING ||
        node->lifecycle == AMK_RAFT_NODE_CLOSED) {
        return AMK_RAFT_ESHUTDOWN;
    }
    return amk_raft_code_from_raft(raft_status, NULL, NULL, NULL);
}

/* --- The no-op of each term --- */

struct noop {
    struct amk_raft_propose req;
    raft_term term;
};

static void noop_cb(struct amk_raft_propose *req, int status)
{
    struct noop *noop = (struct noop *)req;
    struct amk_raft_node *node = req->node;

    if (status == 0) {
        if (noop->term > node->noop_applied_term) {
            node->noop_applied_term = noop->term;
        }
        node__log(node, AMK_RAFT_LOG_DEBUG,
                  "no-op of term %llu applied at index %llu", noop->term,
                  (unsigned long long)req->result.index);
        amk_sm_result_clear(&req->result);
        free(noop);
        /* Reads were held back until now: entries the FSM deferred are in
         * sm once an entry of this term is applied. */
        node__reads_kick(node);
        return;
    }
    node__log(node, AMK_RAFT_LOG_INFO, "no-op of term %llu not applied: %s",
              noop->term, amk_raft_code_name(status));
    /* Queued, then refused before it reached raft (a transfer began, the
     * batch could not be allocated): nothing was appended, so the watch
     * proposes it again while this node still leads that term. */
    if ((status == AMK_RAFT_EBUSY || status == AMK_RAFT_ENOTLEADER ||
         status == AMK_RAFT_ENOMEM) &&
        node->noop_term == noop->term) {
        node->noop_term = 0;
    }
    free(noop);
}

int node__propose_noop(struct amk_raft_node *node)
{
    struct noop *noop = calloc(1, sizeof *noop);
    int rv;

    if (noop == NULL) {
        return AMK_RAFT_ENOMEM;
    }
    noop->term = node->raft.current_term;
    rv = node__propose(node, &noop->req, node->noop_template, node->noop_len,
                       noop_cb);
    if (rv != 0) {
        node__log(node, AMK_RAFT_LOG_WARN,
                  "cannot propose the no-op of term %llu: %s", noop->term,
                  node->errmsg);
        free(noop);
        return rv;
    }
    return 0;
}

/* --- Reads --- */

static void retire(struct amk_raft_node *node, struct node_barrier *b)
{
    struct node_barrier **slot = &node->retired[node->retired_next];
    free(*slot);
    *slot = b;
    node->retired_next = (node->retired_next + 1) % AMK_RAFT_NODE_RETIRED;
}

void node__barriers_free(struct amk_raft_node *node)
{
    unsigned i;
    for (i = 0; i < AMK_RAFT_NODE_RETIRED; i++) {
        free(node->retired[i]);
        node->retired[i] = NULL;
    }
    /* raft is closed: an unanswered barrier can no longer fire. */
    free(node->barrier);
    node->barrier = NULL;
}

/* Answers a list of reads. Each request may be freed by its callback. */
static void answer(struct amk_raft_read *list, int status, uint64_t index)
{
    while (list != NULL) {
        struct amk_raft_read *req = list;
        list = req->next;
        req->next = NULL;
        req->index = status == 0 ? index : 0;
        req->cb(req, status);
    }
}

static void barrier_cb(struct raft_barrier *raft_req, int status)
{
    struct node_barrier *b = raft_req->data;
    struct amk_raft_node *node = b->node;
    struct amk_raft_read *reads;
    uint64_t index;

    /* A leader applies directly; this only matters if it became leader
     * with entries still queued from its time as a follower. */
    amk_raft_fsm_drain(&node->fsm);
    /* DESIGN 0.15 defect 4 (upstream #344): tolerate a second firing. */
    if (b->fired) {
        node->stats.barrier_refires++;
        node__log(node, AMK_RAFT_LOG_WARN,
                  "raft barrier at index %llu fired again (status %d): "
                  "ignored (upstream #344)",
                  raft_req->index, status);
        return;
    }
    b->fired = true;
    if (node->barrier == b) {
        node->barrier = NULL;
    }
    reads = b->reads;
    b->reads = NULL;
    retire(node, b);

    if (status != 0) {
        answer(reads, node__callback_status(node, status), 0);
    } else if (node->fsm.n_deferred > 0) {
        /* Not expected: barriers are held back until this term's no-op is
         * applied, which flushes every deferred entry. Serve these reads
         * with the next barrier rather than from incomplete state. */
        struct amk_raft_read *last = reads;
        node__log(node, AMK_RAFT_LOG_WARN,
                  "barrier done with %u deferred entries: reads wait",
                  node->fsm.n_deferred);
        while (last != NULL && last->next != NULL) {
            last = last->next;
        }
        if (last != NULL) {
            last->next = node->reads_head;
            if (node->reads_head == NULL) {
                node->reads_tail = last;
            }
            node->reads_head = reads;
        }
    } else {
        /* Everything up to the barrier is applied; raft may update
         * last_applied only after this callback. */
        index = node->raft.last_applied;
        if (raft_req->index > index) {
            index = raft_req->index;
        }
        for (struct amk_raft_read *r = reads; r != NULL; r = r->next) {
            node->stats.reads++;
        }
        answer(reads, 0, index);
    }
    node__reads_kick(node);
}

void node__reads_fail(struct amk_raft_node *node, int status)
{
    struct amk_raft_read *reads = node->reads_head;
    node->reads_head = NULL;
    node->reads_tail = NULL;
    answer(reads, status, 0);
}

void node__reads_kick(struct amk_raft_node *node)
{
    struct node_barrier *b;
    int rv;

    if (node->reads_head == NULL || node->lifecycle != AMK_RAFT_NODE_STARTED) {
        return;
    }
    if (raft_state(&node->raft) != RAFT_LEADER) {
        node__reads_fail(node, AMK_RAFT_ENOTLEADER);
        return;
    }
    if (node->barrier != NULL ||
        node->noop_applied_term != node->raft.current_term ||
        node->raft.transfer != NULL) {
        return; /* kicked again when the barrier or the no-op is done */
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        return; /* retried by the watch */
    }
    b->node = node;
    b->req.data = b;
    b->reads = node->reads_head;
    node->reads_head = NULL;
    node->reads_tail = NULL;
    rv = raft_barrier(&node->raft, &b->req, barrier_cb);
    if (rv != 0) {
        char msg[256];
        amk_raft_code_from_raft(rv, msg, "raft_barrier", NULL);
        node__log(node, AMK_RAFT_LOG_WARN, "%s (retrying)", msg);
        node->reads_head = b->reads;
        node->reads_tail = b->reads;
        while (node->reads_tail->next != NULL) {
            node->reads_tail = node->reads_tail->next;
        }
        free(b);
        return;
    }
    node->barrier = b;
    node->stats.barriers++;
}

int amk_raft_node_read(struct amk_raft_node *node, struct amk_raft_read *req,
                       amk_raft_read_cb cb)
{
    int rv = node__check_leader(node, "read");
    if (rv != 0) {
        return rv;
    }
    req->node = node;
    req->cb = cb;
    req->index = 0;
    req->next = NULL;
    if (node->reads_tail != NULL) {
        node->reads_tail->next = req;
    } else {
        node->reads_head = req;
    }
    node->reads_tail = req;
    node__reads_kick(node);
    return 0;
}
