/* tests/unit/raft/test_node_propose.c: batched proposals (raft/node_propose.c)
 * on three real nodes in one process (node_harness.h): the proposals of one
 * loop iteration go to raft as one raft_apply and each gets its own result;
 * every proposal is answered exactly once when a batch fails before commit,
 * when leadership is lost after part of a batch was applied (0.15 then has
 * forgotten the rest), and when the node closes with proposals queued or in
 * flight. Each request is heap-allocated and freed by its callback, so a
 * second answer would be a use after free under ASan as well as a count. */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include "unit/raft/node_harness.h"

#include "raft/node_internal.h"

/* What each proposal received; outlives the request. */
struct tracked {
    unsigned calls;
    int status;
    struct amk_sm_result result; /* of the first answer */
};

struct treq {
    struct amk_raft_propose req;
    struct tracked *t;
};

static void tracked_cb(struct amk_raft_propose *req, int status)
{
    struct treq *r = req->data;
    struct tracked *t = r->t;
    t->calls++;
    if (t->calls == 1) {
        t->status = status;
        t->result = req->result; /* moves the strings */
    } else {
        fprintf(stderr, "    proposal answered again (%s)\n",
                amk_raft_code_name(status));
        amk_sm_result_clear(&req->result);
    }
    free(r);
}

/* Proposes centre c<n> on node i; the answer goes to *t. */
static void propose_tracked(struct cluster *c, unsigned i, unsigned n,
                            struct tracked *t)
{
    struct treq *r = calloc(1, sizeof *r);
    size_t len;
    void *cmd = encode_centre(n, &len);
    int rv;

    assert_non_null(r);
    r->t = t;
    r->req.data = r;
    rv = amk_raft_node_propose(&c->t[i].node, &r->req, cmd, len, tracked_cb);
    free(cmd);
    if (rv != 0) {
        fprintf(stderr, "propose: %s\n", c->t[i].node.errmsg);
        free(r);
    }
    assert_int_equal(rv, 0);
    assert_int_equal(t->calls, 0); /* never from inside the call */
}

struct tracked_arg {
    struct tracked *t;
    unsigned n;
};

static bool all_answered(struct cluster *c, void *arg)
{
    struct tracked_arg *a = arg;
    unsigned i;
    (void)c;
    for (i = 0; i < a->n; i++) {
        if (a->t[i].calls == 0) {
            return false;
        }
    }
    return true;
}

static void wait_answered(struct cluster *c, struct tracked *t, unsigned n)
{
    struct tracked_arg arg = {t, n};
    assert_true(run_until(c, all_answered, &arg, WAIT_MS));
}

/* Runs the loop for ms, then checks every proposal was answered once. */
static void assert_answered_once(struct cluster *c, struct tracked *t,
                                 unsigned n, unsigned ms)
{
    bool never = false;
    unsigned i;
    run_until(c, flag_set, &never, ms);
    for (i = 0; i < n; i++) {
        assert_int_equal(t[i].calls, 1);
    }
}

/* Proposals from..to-1 were answered once each, with status. */
static void assert_statuses(struct tracked *t, unsigned from, unsigned to,
                            int status)
{
    unsigned i;
    for (i = from; i < to; i++) {
        assert_int_equal(t[i].calls, 1);
        assert_int_equal(t[i].status, status);
    }
}

static void tracked_clear(struct tracked *t, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        amk_sm_result_clear(&t[i].result);
    }
}

/* Three nodes, a leader whose no-op and a first write are applied. */
static unsigned start_cluster(struct cluster *c)
{
    unsigned i;
    int leader;
    for (i = 0; i < 3; i++) {
        node_open(c, i, true);
    }
    leader = wait_leader(c);
    propose_many(c, (unsigned)leader, 1, 1);
    return (unsigned)leader;
}

static void close_followers(struct cluster *c, unsigned leader)
{
    unsigned i;
    for (i = 0; i < 3; i++) {
        if (i != leader) {
            node_close(c, i);
        }
    }
    /* Still leader: 0.15 steps down only after an election timeout
     * without hearing from a majority. */
    assert_int_equal(amk_raft_node_state(&c->t[leader].node), AMK_RAFT_LEADER);
}

static void reopen_followers(struct cluster *c)
{
    unsigned i;
    for (i = 0; i < 3; i++) {
        if (!c->t[i].open) {
            node_open(c, i, true);
        }
    }
    wait_leader(c);
}

static void assert_centre_everywhere(struct cluster *c, unsigned n)
{
    char id[32];
    char *json;
    unsigned i;
    snprintf(id, sizeof id, "c%u", n);
    for (i = 0; i < MAX_NODES; i++) {
        if (c->t[i].open) {
            assert_int_equal(
                amk_sm_get(c->t[i].sm, AMK_OBJ_CENTRE, id, &json, NULL), 0);
            free(json);
        }
    }
}

/* --- Holding back the leader's applies ---------------------------------
 * Wraps a node's raft_fsm.apply: while `holding`, the first `pass` calls go
 * through and every later one fails with RAFT_NOMEM (nothing applied; 0.15
 * offers the entry again at its next apply pass), so a batch stops after
 * its first entries are applied, the state in which 0.15 has called back
 * and forgotten the request while the rest still wait. */

static struct {
    int (*orig)(struct raft_fsm *, const struct raft_buffer *, void **);
    bool holding;
    unsigned pass;
    unsigned passed;
    unsigned failures;
} hold;

static int held_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                      void **result)
{
    if (hold.holding) {
        if (hold.passed == hold.pass) {
            hold.failures++;
            return RAFT_NOMEM;
        }
        hold.passed++;
    }
    return hold.orig(fsm, buf, result);
}

static void hold_start(struct cluster *c, unsigned i, unsigned pass)
{
    struct raft_fsm *fsm = &c->t[i].node.fsm.fsm;
    memset(&hold, 0, sizeof hold);
    hold.orig = fsm->apply;
    hold.pass = pass;
    hold.holding = true;
    fsm->apply = held_apply;
}

static void hold_end(struct cluster *c, unsigned i)
{
    hold.holding = false;
    c->t[i].node.fsm.fsm.apply = hold.orig;
}

/* Proposes A..D on the leader with its applies held after A and B: A and B
 * are answered with their results, C and D wait, and raft has called back
 * the batch (the node holds no batch). Returns A's index. */
static uint64_t propose_held_batch(struct cluster *c, unsigned leader,
                                   struct tracked *t)
{
    struct amk_raft_node_stats before;
    struct amk_raft_node_stats after;
    unsigned i;

    amk_raft_node_stats(&c->t[leader].node, &before);
    hold_start(c, leader, 2);
    for (i = 0; i < 4; i++) {
        propose_tracked(c, leader, 20 + i, &t[i]);
    }
    wait_answered(c, t, 2);
    assert_true(hold.failures > 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(t[i].status, 0);
        assert_int_equal(t[i].result.code, AMK_OK);
    }
    assert_int_equal(t[1].result.index, t[0].result.index + 1);
    assert_int_equal(t[2].calls, 0);
    assert_int_equal(t[3].calls, 0);
    amk_raft_node_stats(&c->t[leader].node, &after);
    assert_int_equal(after.batches - before.batches, 1);
    assert_null(c->t[leader].node.batches);
    return t[0].result.index;
}

/* --- Tests --- */

/* Eight proposals made in one loop iteration: one raft_apply, eight
 * answers, each with its own result (distinct consecutive indexes, its own
 * object), and every node applies all of them. */
static void test_batch_own_results(void **state)
{
    struct cluster *c = *state;
    struct amk_raft_node_stats before;
    struct amk_raft_node_stats after;
    struct applied_arg applied;
    struct tracked t[8];
    char id[32];
    unsigned leader = start_cluster(c);
    unsigned i;

    memset(t, 0, sizeof t);
    amk_raft_node_stats(&c->t[leader].node, &before);
    for (i = 0; i < 8; i++) {
        propose_tracked(c, leader, 10 + i, &t[i]);
    }
    wait_answered(c, t, 8);
    amk_raft_node_stats(&c->t[leader].node, &after);
    assert_int_equal(after.batches - before.batches, 1);
    assert_int_equal(after.batched - before.batched, 8);
    assert_int_equal(after.apply_latency_total - before.apply_latency_total, 8);
    for (i = 0; i < 8; i++) {
        assert_int_equal(t[i].status, 0);
        assert_int_equal(t[i].result.code, AMK_OK);
        assert_true(t[i].result.created);
        assert_int_equal(t[i].result.index, t[0].result.index + i);
        snprintf(id, sizeof id, "\"c%u\"", 10 + i);
        assert_non_null(t[i].result.body);
        assert_non_null(strstr(t[i].result.body, id));
    }
    applied.index = t[7].result.index;
    assert_true(run_until(c, all_applied, &applied, WAIT_MS));
    assert_same_state(c);
    assert_answered_once(c, t, 8, 200);
    tracked_clear(t, 8);
}

/* More than AMK_RAFT_BATCH_MAX_ENTRIES at once: split into raft_apply calls
 * of at most that many, answered in order. */
static void test_batch_cap(void **state)
{
    enum { N = AMK_RAFT_BATCH_MAX_ENTRIES + 44 };
    struct cluster *c = *state;
    struct amk_raft_node_stats before;
    struct amk_raft_node_stats after;
    struct tracked *t = calloc(N, sizeof *t);
    unsigned leader = start_cluster(c);
    unsigned i;

    assert_non_null(t);
    amk_raft_node_stats(&c->t[leader].node, &before);
    for (i = 0; i < N; i++) {
        propose_tracked(c, leader, 100 + i, &t[i]);
    }
    wait_answered(c, t, N);
    amk_raft_node_stats(&c->t[leader].node, &after);
    assert_int_equal(after.batches - before.batches, 2);
    assert_int_equal(after.batched - before.batched, N);
    for (i = 0; i < N; i++) {
        assert_int_equal(t[i].status, 0);
        assert_int_equal(t[i].result.code, AMK_OK);
        assert_int_equal(t[i].result.index, t[0].result.index + i);
    }
    assert_answered_once(c, t, N, 100);
    tracked_clear(t, N);
    free(t);
}

/* The followers are gone before the batch can commit: the leader steps
 * down, raft fails the batch, and each member is answered once with
 * LEADERSHIP_LOST (outcome unknown), also after the cluster comes back and
 * goes on. */
static void test_batch_fails_before_commit(void **state)
{
    struct cluster *c = *state;
    struct tracked t[4];
    struct applied_arg applied;
    unsigned leader = start_cluster(c);
    unsigned i;

    memset(t, 0, sizeof t);
    close_followers(c, leader);
    for (i = 0; i < 4; i++) {
        propose_tracked(c, leader, 10 + i, &t[i]);
    }
    wait_answered(c, t, 4);
    assert_statuses(t, 0, 4, AMK_RAFT_ELEADERSHIPLOST);
    assert_int_not_equal(amk_raft_node_state(&c->t[leader].node),
                         AMK_RAFT_LEADER);

    reopen_followers(c);
    applied.index = propose_many(c, (unsigned)agreed_leader(c), 30, 30);
    assert_true(run_until(c, all_applied, &applied, WAIT_MS));
    assert_same_state(c);
    assert_answered_once(c, t, 4, 200);
}

/* Leadership lost mid-batch: A and B applied and answered, raft has
 * forgotten the batch, C and D are committed but not applied on the leader
 * when it steps down. The node answers C and D itself, once, with
 * LEADERSHIP_LOST (outcome unknown: they did commit), and when it applies
 * them later, as a follower, nobody is answered again. */
static void test_batch_leadership_lost_mid_batch(void **state)
{
    struct cluster *c = *state;
    struct tracked t[4];
    struct amk_raft_node_stats stats;
    struct applied_arg applied;
    unsigned leader = start_cluster(c);
    uint64_t first;

    memset(t, 0, sizeof t);
    first = propose_held_batch(c, leader, t);

    close_followers(c, leader);
    wait_answered(c, t, 4);
    assert_statuses(t, 2, 4, AMK_RAFT_ELEADERSHIPLOST);
    amk_raft_node_stats(&c->t[leader].node, &stats);
    assert_int_equal(stats.orphans_failed, 2);

    hold_end(c, leader);
    reopen_followers(c);
    applied.index = first + 3;
    assert_true(run_until(c, all_applied, &applied, WAIT_MS));
    assert_centre_everywhere(c, 22);
    assert_centre_everywhere(c, 23);
    assert_same_state(c);
    assert_answered_once(c, t, 4, 200);
    tracked_clear(t, 4);
}

/* Closing the leader with proposals queued (not yet handed to raft): each
 * is answered once with SHUTTING_DOWN. */
static void test_batch_close_queued(void **state)
{
    struct cluster *c = *state;
    struct tracked t[3];
    unsigned leader = start_cluster(c);
    unsigned i;

    memset(t, 0, sizeof t);
    for (i = 0; i < 3; i++) {
        propose_tracked(c, leader, 10 + i, &t[i]);
    }
    node_close(c, leader);
    assert_statuses(t, 0, 3, AMK_RAFT_ESHUTDOWN);
    wait_leader(c);
    assert_answered_once(c, t, 3, 200);
}

static bool batched_since(struct cluster *c, void *arg)
{
    uint64_t *before = arg;
    unsigned i;
    for (i = 0; i < MAX_NODES; i++) {
        if (c->t[i].open && c->t[i].node.stats.batches > *before) {
            return true;
        }
    }
    return false;
}

/* Closing the leader with a batch in raft, uncommitted (the followers are
 * gone): each member is answered once with UNKNOWN (it was appended: a
 * later leader may still commit it). */
static void test_batch_close_in_flight(void **state)
{
    struct cluster *c = *state;
    struct tracked t[3];
    unsigned leader = start_cluster(c);
    uint64_t batches;
    unsigned i;

    memset(t, 0, sizeof t);
    close_followers(c, leader);
    batches = c->t[leader].node.stats.batches;
    for (i = 0; i < 3; i++) {
        propose_tracked(c, leader, 10 + i, &t[i]);
    }
    assert_true(run_until(c, batched_since, &batches, WAIT_MS));
    assert_int_equal(t[0].calls, 0);
    node_close(c, leader);
    assert_statuses(t, 0, 3, AMK_RAFT_EUNKNOWN);
}

/* Closing the leader when raft has forgotten a batch whose last members are
 * not applied yet: the node answers them once with UNKNOWN; the entries
 * were committed, and the others apply them. */
static void test_batch_close_mid_batch(void **state)
{
    struct cluster *c = *state;
    struct tracked t[4];
    struct applied_arg applied;
    unsigned leader = start_cluster(c);
    uint64_t first;

    memset(t, 0, sizeof t);
    first = propose_held_batch(c, leader, t);
    node_close(c, leader);
    hold_end(c, leader);
    assert_statuses(t, 2, 4, AMK_RAFT_EUNKNOWN);
    wait_leader(c);
    applied.index = first + 3;
    assert_true(run_until(c, all_applied, &applied, WAIT_MS));
    assert_centre_everywhere(c, 23);
    assert_answered_once(c, t, 4, 200);
    tracked_clear(t, 4);
}

/* The no-op of a term is queued like any proposal; if it is refused before
 * it reaches raft (here a leadership transfer begins in the same loop
 * iteration), the watch must propose it again, so the term's no-op is
 * cleared. */
static void test_noop_refused_is_retried(void **state)
{
    struct cluster *c = *state;
    struct transfer_wait w;
    unsigned leader = start_cluster(c);
    struct amk_raft_node *node = &c->t[leader].node;

    assert_int_equal(node->noop_term, amk_raft_node_term(node));
    assert_int_equal(node__propose_noop(node), 0);
    memset(&w, 0, sizeof w);
    w.req.data = &w;
    w.req.target = c->t[(leader + 1) % 3].id;
    assert_int_equal(amk_raft_node_transfer(node, &w.req, transfer_cb), 0);
    assert_true(run_until(c, flag_set, &w.done, WAIT_MS));
    assert_int_equal(w.status, 0);
    assert_int_equal(node->noop_term, 0);
    assert_int_not_equal(agreed_leader(c), (int)leader);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_own_results, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_fails_before_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_leadership_lost_mid_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_close_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_close_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_close_mid_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_noop_refused_is_retried, setup,
                                        teardown),
    };
    /* As amkd must: libuv writes to peers that may have gone. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
