/* raft/node_request.c: proposals (stamped with term and leader time, answered
 * with a deep copy of the state machine's result), each term's no-op, and the
 * coalesced raft barriers behind linearizable reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* --- Proposals --- */

/* Deep-copies src into dst (dst owns its strings afterwards). */
static int copy_result(struct amk_sm_result *dst,
                       const struct amk_sm_result *src)
{
    *dst = *src;
    dst->body = NULL;
    dst->event = NULL;
    if (src->body != NULL && (dst->body = strdup(src->body)) == NULL) {
        goto oom;
    }
    if (src->event != NULL && (dst->event = strdup(src->event)) == NULL) {
        goto oom;
    }
    return 0;

oom:
    free(dst->body);
    memset(dst, 0, sizeof *dst);
    return AMK_RAFT_ENOMEM;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

_Static_assert(
    sizeof((double[])AMK_RAFT_LATENCY_BUCKETS) / sizeof(double) ==
        sizeof(((struct amk_raft_node_stats *)0)->apply_latency_count) /
            sizeof(uint64_t),
    "one counter per latency bucket");

static void record_latency(struct amk_raft_node *node, uint64_t ns)
{
    static const double bounds_ms[] = AMK_RAFT_LATENCY_BUCKETS;
    struct amk_raft_node_stats *st = &node->stats;
    unsigned n = sizeof bounds_ms / sizeof bounds_ms[0];
    unsigned b = 0;
    while (b + 1 < n && (double)ns / 1e6 > bounds_ms[b]) {
        b++;
    }
    st->apply_latency_count[b]++;
    st->apply_latency_sum_us += ns / 1000;
    st->apply_latency_total++;
}

static void apply_cb(struct raft_apply *apply, int status, void *result)
{
    struct amk_raft_propose *req = apply->data;
    struct amk_raft_node *node = req->node;
    int rv;

    memset(&req->result, 0, sizeof req->result);
    if (status != 0) {
        rv = node__callback_status(node, status);
    } else if (result == NULL) {
        /* The FSM deferred the entry (an earlier-term entry, raft/fsm.h).
         * A leader never defers entries of its own term, so this is not
         * expected for a request it still tracks. */
        node__log(node, AMK_RAFT_LOG_WARN,
                  "proposal at index %llu was deferred by the FSM: outcome "
                  "unknown",
                  apply->index);
        rv = AMK_RAFT_EUNKNOWN;
    } else {
        rv = copy_result(&req->result, result);
        if (rv != 0) {
            node__log(node, AMK_RAFT_LOG_ERROR,
                      "out of memory copying the result of index %llu",
                      apply->index);
        }
        record_latency(node, now_ns() - req->proposed_ns);
    }
    req->cb(req, rv);
}

/* Copies cmd into a raft buffer, stamps it and hands it to raft_apply. */
static int propose(struct amk_raft_node *node, struct amk_raft_propose *req,
                   const void *cmd, size_t len, amk_raft_propose_cb cb)
{
    struct raft_buffer buf;
    int rv;

    if (cmd == NULL || len == 0 || len > AMK_CMD_MAX_SIZE) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "propose: command of %zu bytes (1..%u allowed)", len,
                 AMK_CMD_MAX_SIZE);
        return len > AMK_CMD_MAX_SIZE ? AMK_RAFT_ETOOBIG : AMK_RAFT_EINVAL;
    }
    /* canonical/raft 0.15 requires entry lengths in multiples of 8: its
     * decoder skips to the next 8-byte boundary after each entry, but its
     * encoders (disk segments, AppendEntries) write entries back to back,
     * so any other length corrupts the log on disk and the entries followers
     * receive. Pad with zero bytes (sm's decoder accepts up to 7). */
    buf.len = (len + 7) & ~(size_t)7;
    buf.base = raft_malloc(buf.len);
    if (buf.base == NULL) {
        snprintf(node->errmsg, sizeof node->errmsg, "propose: out of memory");
        return AMK_RAFT_ENOMEM;
    }
    memcpy(buf.base, cmd, len);
    memset((char *)buf.base + len, 0, buf.len - len);
    /* DESIGN 0.15 defect 1: the term the leader proposes in travels with the
     * command, so the FSM can defer entries of earlier terms. Time comes from
     * the leader's clock, never from the clock at apply time. */
    if (amk_cmd_stamp(buf.base, len, node->raft.current_term,
                      node__wall_ms()) != 0) {
        raft_free(buf.base);
        snprintf(node->errmsg, sizeof node->errmsg,
                 "propose: not an encoded command (%zu bytes)", len);
        return AMK_RAFT_EINVAL;
    }
    memset(&req->result, 0, sizeof req->result);
    req->node = node;
    req->cb = cb;
    req->apply.data = req;
    req->proposed_ns = now_ns();
    rv = raft_apply(&node->raft, &req->apply, &buf, 1, apply_cb);
    if (rv != 0) {
        raft_free(buf.base);
        return amk_raft_code_from_raft(rv, node->errmsg, "propose",
                                       raft_errmsg(&node->raft));
    }
    return 0;
}

int amk_raft_node_propose(struct amk_raft_node *node,
                          struct amk_raft_propose *req, const void *cmd,
                          size_t len, amk_raft_propose_cb cb)
{
    int rv = node__check_leader(node, "propose");
    if (rv != 0) {
        return rv;
    }
    return propose(node, req, cmd, len, cb);
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
    rv =
        propose(node, &noop->req, node->noop_template, node->noop_len, noop_cb);
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
