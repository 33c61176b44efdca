/* raft/node_propose.c: proposals. They are queued as they arrive and handed
 * to raft once per loop iteration as one raft_apply of many entries (a
 * batch: one disk write, one AppendEntries per follower); each is answered
 * with its own result, routed by raft index from the FSM adapter, because
 * canonical/raft 0.15 calls a raft_apply's callback only once. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/node_internal.h"
#include "sm/cmd.h"

/* One raft_apply of proposals. What canonical/raft 0.15 does with it
 * (src/client.c raft_apply, src/replication.c getRequest/applyCommand,
 * src/convert.c convertClearLeader; checked in tests/unit/raft/
 * test_node_batch.c):
 * - raft_apply appends the n buffers as n consecutive entries from
 *   last_index + 1 and sets apply.index to that first index;
 * - the request is found again by apply.index only: its callback fires
 *   once, after the FSM applied the FIRST entry, with that entry's result,
 *   and raft forgets the request then. The other entries are applied later
 *   (in the same pass, unless an apply fails) with no callback at all;
 * - a request still queued when the leader steps down fails with
 *   RAFT_LEADERSHIPLOST, and when raft closes likewise (its members are
 *   answered UNKNOWN then: they were appended, and may commit).
 * So the members are answered from the FSM's result hook by (index, term),
 * and what raft forgot is failed by the node on step-down and close. The
 * batch lives until raft's callback: raft holds `apply`, which no member
 * (whose callback may free it) may own. */
struct node_batch {
    struct raft_apply apply;
    struct amk_raft_node *node;
    struct node_batch *next; /* node->batches */
    uint64_t first;          /* index of the first entry */
    unsigned n;
};

/* --- Answers --- */

/* Copies the answer in src into dst (dst owns its body afterwards). The
 * event is not copied: it reaches subscribers through the applied hook,
 * and no proposer reads it. */
static int copy_result(struct amk_sm_result *dst,
                       const struct amk_sm_result *src)
{
    *dst = *src;
    dst->body = NULL;
    dst->event = NULL;
    if (src->body != NULL && (dst->body = strdup(src->body)) == NULL) {
        memset(dst, 0, sizeof *dst);
        return AMK_RAFT_ENOMEM;
    }
    return 0;
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

/* Fails req, which is in no list any more, with status (not 0: applied
 * requests are answered through answer_later). req may be freed by its
 * callback. */
static void fail_one(struct amk_raft_propose *req, int status)
{
    assert(status != 0);
    req->next = NULL;
    memset(&req->result, 0, sizeof req->result);
    if (req->buf.base != NULL) { /* never handed to raft */
        raft_free(req->buf.base);
        req->buf.base = NULL;
    }
    req->cb(req, status);
}

/* Keeps the answer of an applied request for the end of this loop
 * iteration (node__proposals_flush_cb): raft applies the entries a commit
 * brings in one pass, and answering each at once would interleave a socket
 * write per client with the applies. The result is copied now: the FSM
 * reuses its buffer for the next entry. */
static void answer_later(struct amk_raft_node *node,
                         struct amk_raft_propose *req,
                         const struct amk_sm_result *result)
{
    req->next = NULL;
    req->status = copy_result(&req->result, result);
    if (req->status != 0) {
        node__log(node, AMK_RAFT_LOG_ERROR,
                  "out of memory copying the result of index %llu",
                  (unsigned long long)req->index);
    } else {
        record_latency(node, now_ns() - req->proposed_ns);
    }
    if (node->done_tail != NULL) {
        node->done_tail->next = req;
    } else {
        node->done_head = req;
    }
    node->done_tail = req;
}

/* Answers the applied requests kept by answer_later, in index order. */
static void answer_done(struct amk_raft_node *node)
{
    struct amk_raft_propose *list = node->done_head;
    node->done_head = NULL;
    node->done_tail = NULL;
    while (list != NULL) {
        struct amk_raft_propose *req = list;
        list = req->next;
        req->next = NULL;
        req->cb(req, req->status);
    }
}

static void update_handles(struct amk_raft_node *node);

/* Answers every request of a detached list with status. */
static void fail_list(struct amk_raft_propose *list, int status)
{
    while (list != NULL) {
        struct amk_raft_propose *req = list;
        list = req->next;
        fail_one(req, status);
    }
}

/* Removes the in-flight requests with indexes in [first, first + n) from
 * the FIFO and returns them as a list, in index order. */
static struct amk_raft_propose *flight_take(struct amk_raft_node *node,
                                            uint64_t first, uint64_t n)
{
    struct amk_raft_propose **link = &node->flight_head;
    struct amk_raft_propose *taken = NULL;
    struct amk_raft_propose **taken_tail = &taken;
    struct amk_raft_propose *prev = NULL;

    while (*link != NULL) {
        struct amk_raft_propose *req = *link;
        if (req->index >= first && req->index - first < n) {
            *link = req->next;
            req->next = NULL;
            *taken_tail = req;
            taken_tail = &req->next;
            continue;
        }
        prev = req;
        link = &req->next;
    }
    node->flight_tail = prev;
    return taken;
}

/* --- The FSM's result hook --- */

void node__proposals_on_result(void *data, uint64_t index, uint64_t term,
                               const struct amk_sm_result *result)
{
    struct amk_raft_node *node = data;
    struct amk_raft_propose *req;

    /* The FIFO is in index order and entries are applied in index order:
     * a request below this index was never seen applied (its entry came in
     * a snapshot, or another entry took its index): outcome unknown. */
    while ((req = node->flight_head) != NULL && req->index <= index) {
        node->flight_head = req->next;
        if (node->flight_head == NULL) {
            node->flight_tail = NULL;
        }
        if (req->index == index && req->term == term) {
            answer_later(node, req, result);
            update_handles(node);
            return;
        }
        node__log(node, AMK_RAFT_LOG_WARN,
                  "proposal at index %llu (term %llu) not seen applied "
                  "(applying %llu, term %llu): outcome unknown",
                  (unsigned long long)req->index, (unsigned long long)req->term,
                  (unsigned long long)index, (unsigned long long)term);
        fail_one(req, AMK_RAFT_ELEADERSHIPLOST);
    }
}

/* --- Batches --- */

static void batch_unlink(struct amk_raft_node *node, struct node_batch *batch)
{
    struct node_batch **link = &node->batches;
    while (*link != NULL && *link != batch) {
        link = &(*link)->next;
    }
    if (*link == batch) {
        *link = batch->next;
    }
}

static void batch_cb(struct raft_apply *apply, int status, void *result)
{
    struct node_batch *batch = apply->data;
    struct amk_raft_node *node = batch->node;
    struct amk_raft_propose *failed = NULL;
    (void)result; /* the first entry's: the result hook has routed it */

    batch_unlink(node, batch);
    if (status != 0) {
        /* Failed before its first entry was applied (leadership lost,
         * closing): none of its members can have been answered. */
        failed = flight_take(node, batch->first, batch->n);
        status = node__callback_status(node, status);
        /* Appended: closing does not tell whether they commit. */
        if (status == AMK_RAFT_ESHUTDOWN) {
            status = AMK_RAFT_EUNKNOWN;
        }
    }
    free(batch);
    fail_list(failed, status);
}

void node__batches_free(struct amk_raft_node *node)
{
    /* raft is closed: a batch it never called back cannot fire now. */
    while (node->batches != NULL) {
        struct node_batch *batch = node->batches;
        node->batches = batch->next;
        free(batch);
    }
}

/* Hands the first requests of *list (up to the batch limits) to one
 * raft_apply; on failure answers them with the translated code. The rest
 * stays in *list. */
static void submit(struct amk_raft_node *node, struct amk_raft_propose **list)
{
    struct raft_buffer bufs[AMK_RAFT_BATCH_MAX_ENTRIES];
    struct amk_raft_propose *members = *list;
    struct amk_raft_propose *last = NULL;
    struct node_batch *batch;
    uint64_t term = node->raft.current_term;
    int64_t now_ms = node__wall_ms();
    size_t bytes = 0;
    unsigned n = 0;
    int rv;

    for (struct amk_raft_propose *req = members; req != NULL; req = req->next) {
        if (n == AMK_RAFT_BATCH_MAX_ENTRIES ||
            (n > 0 && bytes + req->buf.len > AMK_RAFT_BATCH_MAX_BYTES)) {
            break;
        }
        /* DESIGN 0.15 defect 1: the term the leader appends in travels
         * with the command, so the FSM can defer entries of earlier terms;
         * time comes from the leader's clock, never from apply time. The
         * command was checked when it was queued. */
        amk_cmd_stamp(req->buf.base, req->len, term, now_ms);
        bufs[n++] = req->buf;
        bytes += req->buf.len;
        last = req;
    }
    *list = last->next;
    last->next = NULL;

    batch = calloc(1, sizeof *batch);
    if (batch == NULL) {
        node__log(node, AMK_RAFT_LOG_ERROR,
                  "out of memory batching %u proposals", n);
        fail_list(members, AMK_RAFT_ENOMEM);
        return;
    }
    batch->node = node;
    batch->n = n;
    batch->apply.data = batch;
    rv = raft_apply(&node->raft, &batch->apply, bufs, n, batch_cb);
    if (rv != 0) {
        char msg[256];
        free(batch);
        rv = amk_raft_code_from_raft(rv, msg, "raft_apply",
                                     raft_errmsg(&node->raft));
        node__log(node, AMK_RAFT_LOG_WARN, "%s (%u proposals)", msg, n);
        fail_list(members, rv); /* they still own their buffers */
        return;
    }
    batch->first = batch->apply.index;
    batch->next = node->batches;
    node->batches = batch;
    node->stats.batches++;
    node->stats.batched += n;

    /* raft owns the buffers now; the members wait for their indexes. */
    uint64_t index = batch->first;
    for (struct amk_raft_propose *req = members; req != NULL; req = req->next) {
        req->buf.base = NULL;
        req->index = index++;
        req->term = term;
    }
    if (node->flight_tail != NULL) {
        node->flight_tail->next = members;
    } else {
        node->flight_head = members;
    }
    node->flight_tail = last;
}

/* Stops polling for the queue when it is empty, starts it otherwise. */
static void update_handles(struct amk_raft_node *node)
{
    if (node->queue_head == NULL && node->done_head == NULL) {
        uv_check_stop(&node->flush);
        uv_idle_stop(&node->keep_polling);
    } else if (node->lifecycle != AMK_RAFT_NODE_CLOSED) {
        uv_check_start(&node->flush, node__proposals_flush_cb);
        /* An active idle handle makes the loop poll without blocking, so
         * a request queued after this iteration's check (by a later check
         * handle, a close callback) waits no longer than one iteration. */
        uv_idle_start(&node->keep_polling, node__proposals_idle_cb);
    }
}

void node__proposals_idle_cb(uv_idle_t *idle)
{
    (void)idle;
}

void node__proposals_flush_cb(uv_check_t *check)
{
    struct amk_raft_node *node = check->data;
    /* Requests that callbacks make while this runs go to the next one. */
    struct amk_raft_propose *list = node->queue_head;
    node->queue_head = NULL;
    node->queue_tail = NULL;

    while (list != NULL) {
        int rv = node__check_leader(node, "propose");
        if (rv != 0) {
            /* Nothing of these was appended: the callers may forward or
             * retry elsewhere (503 NO_LEADER, not 504). */
            fail_list(list, rv);
            break;
        }
        submit(node, &list);
    }
    /* After handing the queue to raft, so that its disk write and
     * AppendEntries are under way while the answers go out. */
    answer_done(node);
    update_handles(node);
}

/* --- Step-down and close --- */

void node__proposals_abandon(struct amk_raft_node *node, int status)
{
    struct amk_raft_propose *list = node->flight_head;
    unsigned n = 0;

    if (list == NULL) {
        return;
    }
    node->flight_head = NULL;
    node->flight_tail = NULL;
    for (struct amk_raft_propose *req = list; req != NULL; req = req->next) {
        n++;
    }
    node->stats.orphans_failed += n;
    node__log(node, AMK_RAFT_LOG_INFO,
              "%u proposals in flight from index %llu answered %s: raft no "
              "longer tracks them, and they may still commit",
              n, (unsigned long long)list->index, amk_raft_code_name(status));
    fail_list(list, status);
}

void node__proposals_check(struct amk_raft_node *node)
{
    /* raft fails the batches it still holds when the leader steps down
     * (convertClearLeader, before this check runs); what it forgot after
     * applying a batch's first entry is failed here. A leader of a later
     * term cannot know what became of entries of an earlier one either. */
    if (node->flight_head != NULL &&
        (raft_state(&node->raft) != RAFT_LEADER ||
         node->flight_head->term != node->raft.current_term)) {
        node__proposals_abandon(node, AMK_RAFT_ELEADERSHIPLOST);
    }
}

void node__proposals_close(struct amk_raft_node *node)
{
    struct amk_raft_propose *queued = node->queue_head;
    node->queue_head = NULL;
    node->queue_tail = NULL;
    answer_done(node); /* applied: their results are known */
    fail_list(queued, AMK_RAFT_ESHUTDOWN);            /* never appended */
    node__proposals_abandon(node, AMK_RAFT_EUNKNOWN); /* appended */
    answer_done(node); /* none can have been added; if one were, now */
    update_handles(node);
}

/* --- Proposing --- */

int node__propose(struct amk_raft_node *node, struct amk_raft_propose *req,
                  const void *cmd, size_t len, amk_raft_propose_cb cb)
{
    struct raft_buffer buf;

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
    /* Checks the header now; the batch stamps the term it is appended in. */
    if (amk_cmd_stamp(buf.base, len, node->raft.current_term,
                      node__wall_ms()) != 0) {
        raft_free(buf.base);
        snprintf(node->errmsg, sizeof node->errmsg,
                 "propose: not an encoded command (%zu bytes)", len);
        return AMK_RAFT_EINVAL;
    }
    memset(&req->result, 0, sizeof req->result);
    req->next = NULL;
    req->node = node;
    req->cb = cb;
    req->buf = buf;
    req->len = len;
    req->index = 0;
    req->term = 0;
    req->proposed_ns = now_ns();
    if (node->queue_tail != NULL) {
        node->queue_tail->next = req;
    } else {
        node->queue_head = req;
    }
    node->queue_tail = req;
    update_handles(node);
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
    return node__propose(node, req, cmd, len, cb);
}
