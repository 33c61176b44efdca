/* tests/unit/raft/test_figure8.c: the Raft paper's Figure 8 (§5.4.2) on
 * canonical/raft 0.15's raft_fixture, 5 servers. Unguarded, stock 0.15 lets
 * S1 apply A at an index where every other server applies B (upstream #220,
 * DESIGN.md "known defects" 1); with a no-op per new leader and raft/fsm.c's
 * deferral, under the same schedule, no server applies A and the survivors
 * end byte-identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "raft/fsm.h"
#include "unit/raft/helpers.h"

#define N_SERVERS       5
#define MAX_INDEX       64
#define MAX_REQS        16
#define ELECTION_MS     1000   /* raft's default election timeout */
#define FROZEN_MS       600000 /* an election timeout that never runs out here */
#define SLOW_DISK_MS    300
#define DEFAULT_DISK_MS 10 /* raft_fixture's default */

/* Servers by their paper names; fixture indexes are 0-based. */
enum { S1, S2, S3, S4, S5 };

/* Step 1's state machine: it records what it was given at each index. */
struct plain_fsm {
    struct raft *raft;
    char applied[MAX_INDEX]; /* payload tag applied at each index, or 0 */
};

/* What runs on every server. */
enum mode {
    PLAIN,      /* step 1: stock 0.15 and a recording FSM */
    PLAIN_NOOP, /* the same, and each new leader proposes a no-op */
    GUARDED,    /* step 2: no-op, and amk_raft_fsm over amk_sm */
};

struct cluster {
    struct raft_fixture fixture;
    enum mode mode;
    bool guarded;
    struct raft_fsm plain_fsm[N_SERVERS];
    struct plain_fsm plain[N_SERVERS];
    struct amk_sm *sm[N_SERVERS];
    struct amk_raft_fsm fsm[N_SERVERS];
    struct raft_apply reqs[MAX_REQS]; /* outlive raft_fixture_close() */
    unsigned n_reqs;
};

static int plain_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                       void **result)
{
    struct plain_fsm *p = fsm->data;
    raft_index index = raft_last_applied(p->raft) + 1;
    assert_true(index < MAX_INDEX);
    p->applied[index] = ((const char *)buf->base)[0];
    *result = NULL;
    return 0;
}

static struct raft *server(struct cluster *c, unsigned i)
{
    return raft_fixture_get(&c->fixture, i);
}

static raft_index last_log_index(struct raft *r)
{
    const struct raft_log *log = &r->log;
    size_t n =
        log->size == 0 ? 0 : (log->back + log->size - log->front) % log->size;
    return log->offset + n;
}

static void cluster_open(struct cluster *c, enum mode mode)
{
    struct raft_configuration conf;
    bool guarded = mode == GUARDED;
    unsigned i;

    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->guarded = guarded;
    assert_int_equal(raft_fixture_initialize(&c->fixture), 0);
    for (i = 0; i < N_SERVERS; i++) {
        struct raft_fsm *fsm;
        if (guarded) {
            char errmsg[256];
            assert_int_equal(amk_sm_open(&c->sm[i], NULL, errmsg), 0);
            assert_int_equal(amk_raft_fsm_init(&c->fsm[i], c->sm[i]), 0);
            fsm = &c->fsm[i].fsm;
        } else {
            fsm = &c->plain_fsm[i];
            fsm->version = 1;
            fsm->data = &c->plain[i];
            fsm->apply = plain_apply;
            fsm->snapshot = helpers_no_snapshot;
            fsm->restore = helpers_no_restore;
        }
        assert_int_equal(raft_fixture_grow(&c->fixture, fsm), 0);
        if (guarded) {
            amk_raft_fsm_bind(&c->fsm[i], server(c, i));
        } else {
            c->plain[i].raft = server(c, i);
        }
    }
    assert_int_equal(raft_fixture_configuration(&c->fixture, N_SERVERS, &conf),
                     0);
    assert_int_equal(raft_fixture_bootstrap(&c->fixture, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&c->fixture), 0);
}

static void cluster_close(struct cluster *c)
{
    unsigned i;
    raft_fixture_close(&c->fixture);
    if (c->guarded) {
        for (i = 0; i < N_SERVERS; i++) {
            amk_raft_fsm_close(&c->fsm[i]);
            amk_sm_close(c->sm[i]);
        }
    }
}

/* --- Driving the fixture ------------------------------------------------- */

/* Election timeouts are ours to give: a frozen server never starts an
 * election, a thawed one does once its timer runs out. The fixture clamps
 * its randomized value into [timeout, 2 timeout], and the running timer is
 * set directly so the change applies now rather than at the next reset. */
static void set_election_timeout(struct cluster *c, unsigned i, unsigned ms)
{
    struct raft *r = server(c, i);
    raft_set_election_timeout(r, ms);
    raft_fixture_set_randomized_election_timeout(&c->fixture, i, ms);
    if (raft_state(r) == RAFT_FOLLOWER) {
        r->follower_state.randomized_election_timeout = ms;
    } else if (raft_state(r) == RAFT_CANDIDATE) {
        r->candidate_state.randomized_election_timeout = ms;
    }
}

static void connect_both(struct cluster *c, unsigned i, unsigned j, bool on)
{
    if (on) {
        raft_fixture_reconnect(&c->fixture, i, j);
        raft_fixture_reconnect(&c->fixture, j, i);
    } else {
        raft_fixture_disconnect(&c->fixture, i, j);
        raft_fixture_disconnect(&c->fixture, j, i);
    }
}

/* Proposes on leader i a payload stamped with i's current term, as amkd's
 * leader does: tag 'N' is the no-op, 'A' and 'B' register centres. Returns
 * the entry's index. */
static raft_index propose(struct cluster *c, unsigned i, char tag)
{
    struct raft *r = server(c, i);
    struct raft_buffer buf;

    assert_int_equal(raft_state(r), RAFT_LEADER);
    assert_true(c->n_reqs < MAX_REQS);
    if (!c->guarded) {
        buf.len = 8;
        buf.base = raft_malloc(buf.len);
        assert_non_null(buf.base);
        memset(buf.base, tag, buf.len);
    } else if (tag == 'N') {
        buf = helpers_noop(r->current_term);
    } else {
        buf = helpers_centre_register(tag == 'A' ? "centre-a" : "centre-b",
                                      r->current_term);
    }
    assert_int_equal(raft_apply(r, &c->reqs[c->n_reqs++], &buf, 1, NULL), 0);
    return last_log_index(r);
}

struct until_leader {
    struct cluster *c;
    unsigned i;
    raft_term above;
};

static bool is_leader(struct raft_fixture *f, void *arg)
{
    struct until_leader *u = arg;
    struct raft *r = raft_fixture_get(f, u->i);
    return raft_state(r) == RAFT_LEADER && r->current_term > u->above;
}

/* Gets server i elected in a term newer than any alive server has seen (a
 * revived server may still think it leads an old term) and, when guarded,
 * has it propose its no-op at once, as amkd does. raft_fixture_elect() will
 * not do: it asserts that every server, killed ones included, is a
 * follower. */
static void elect(struct cluster *c, unsigned i)
{
    struct until_leader u = {c, i, 0};
    unsigned j;

    for (j = 0; j < N_SERVERS; j++) {
        set_election_timeout(c, j, FROZEN_MS);
        if (raft_fixture_alive(&c->fixture, j) &&
            server(c, j)->current_term > u.above) {
            u.above = server(c, j)->current_term;
        }
    }
    set_election_timeout(c, i, ELECTION_MS);
    assert_true(
        raft_fixture_step_until(&c->fixture, is_leader, &u, 20 * ELECTION_MS));
    set_election_timeout(c, i, FROZEN_MS);
    if (c->mode != PLAIN) {
        propose(c, i, 'N');
    }
}

static bool is_candidate(struct raft_fixture *f, void *arg)
{
    unsigned *i = arg;
    return raft_state(raft_fixture_get(f, *i)) == RAFT_CANDIDATE;
}

/* A 0.15 follower that knows a leader refuses every vote until its own
 * election timer runs out (§4.2.3, recv_request_vote.c), even when that
 * leader is dead. Lets follower i time out once, then freezes it. */
static void forget_leader(struct cluster *c, unsigned i)
{
    set_election_timeout(c, i, ELECTION_MS);
    assert_true(raft_fixture_step_until(&c->fixture, is_candidate, &i,
                                        5 * ELECTION_MS));
    set_election_timeout(c, i, FROZEN_MS);
}

struct until_index {
    unsigned first, last; /* servers */
    raft_index index;
    bool stored; /* last_stored rather than last_applied */
};

static bool has_index(struct raft_fixture *f, void *arg)
{
    struct until_index *u = arg;
    unsigned i;
    for (i = u->first; i <= u->last; i++) {
        struct raft *r = raft_fixture_get(f, i);
        raft_index have = u->stored ? r->last_stored : raft_last_applied(r);
        if (have < u->index) {
            return false;
        }
    }
    return true;
}

static void step_until_index(struct cluster *c, unsigned first, unsigned last,
                             raft_index index, bool stored)
{
    struct until_index u = {first, last, index, stored};
    assert_true(raft_fixture_step_until(&c->fixture, has_index, &u, 3000));
}

static bool is_unavailable(struct raft_fixture *f, void *arg)
{
    unsigned *i = arg;
    return raft_state(raft_fixture_get(f, *i)) == RAFT_UNAVAILABLE;
}

/* --- The schedule -------------------------------------------------------- */

struct outcome {
    raft_index index_a;  /* where S1 put A */
    raft_index index_b;  /* where S5 put B */
    bool s1_unavailable; /* S1 went RAFT_UNAVAILABLE once revived */
};

/* Figure 8, (a) to (e), for 0.15. Each step names what it is for. */
static void run_figure8(struct cluster *c, struct outcome *out)
{
    unsigned i;

    /* (a) S1 leads term 2 and gets A to S2 only. */
    elect(c, S1);
    for (i = S3; i <= S5; i++) {
        connect_both(c, S1, i, false);
    }
    out->index_a = propose(c, S1, 'A');
    step_until_index(c, S2, S2, out->index_a, true);
    raft_fixture_kill(&c->fixture, S1);

    /* (b) S5 leads term 3 with the votes of S3 and S4 (S2's log is more up
     * to date) and takes B at the same index, alone. */
    elect(c, S5);
    for (i = S1; i <= S4; i++) {
        connect_both(c, S5, i, false);
    }
    out->index_b = propose(c, S5, 'B');
    step_until_index(c, S5, S5, out->index_b, true);
    raft_fixture_kill(&c->fixture, S5);

    /* (c) S1 comes back and leads term 4 with S3 and S4. Its disk is slow,
     * so its own no-op (guarded run) is still being written when followers
     * answer. S4 is cut off; S2 gets the election heartbeat (and acks it)
     * but nothing after, so it never sees a term-4 entry; S3 gets A (and the
     * no-op). 0.15 counts S1, S2 and S3 for A's index without checking its
     * term: A is "committed" and S1 applies it. S1 dies before telling. */
    raft_fixture_revive(&c->fixture, S1);
    for (i = S2; i <= S4; i++) {
        connect_both(c, S1, i, true);
    }
    raft_fixture_set_disk_latency(&c->fixture, S1, SLOW_DISK_MS);
    elect(c, S1);
    connect_both(c, S1, S4, false);
    assert_true(raft_fixture_step_until_delivered(&c->fixture, S1, S2, 1000));
    raft_fixture_disconnect(&c->fixture, S1, S2);
    step_until_index(c, S1, S1, out->index_a, false);
    raft_fixture_kill(&c->fixture, S1);
    raft_fixture_set_disk_latency(&c->fixture, S1, DEFAULT_DISK_MS);

    /* (d) S5 comes back; S2 and S4 never saw a term-4 entry, so S5's log
     * (last term 3) is more up to date than theirs and they elect it once
     * they stop believing in the dead S1 (S3 holds a term-4 entry and would
     * refuse). S5 replaces A with B on S2-S4; without a no-op 0.15 commits B
     * by counting replicas too, with one S5's no-op commits it. */
    raft_fixture_revive(&c->fixture, S5);
    for (i = S2; i <= S4; i++) {
        connect_both(c, S5, i, true);
    }
    raft_fixture_step_until_elapsed(&c->fixture, 300); /* S5 steps down */
    forget_leader(c, S2);
    forget_leader(c, S4);
    elect(c, S5);
    step_until_index(c, S2, S5, last_log_index(server(c, S5)), false);
    raft_fixture_step_until_elapsed(&c->fixture, 500);

    /* (e) S1 comes back and meets a conflict below its commit index. */
    raft_fixture_revive(&c->fixture, S1);
    for (i = S2; i <= S5; i++) {
        connect_both(c, S1, i, true);
    }
    i = S1;
    out->s1_unavailable =
        raft_fixture_step_until(&c->fixture, is_unavailable, &i, 3000);
    for (i = S2; i <= S5; i++) {
        assert_int_not_equal(raft_state(server(c, i)), RAFT_UNAVAILABLE);
    }
}

/* Step 1: the defect exists in the installed library. */
static void test_stock_0_15_diverges(void **state)
{
    struct cluster *c = malloc(sizeof *c);
    struct outcome out;
    unsigned i;
    (void)state;

    assert_non_null(c);
    cluster_open(c, PLAIN);
    run_figure8(c, &out);

    assert_int_equal(out.index_a, out.index_b);
    assert_int_equal(c->plain[S1].applied[out.index_a], 'A');
    for (i = S2; i <= S5; i++) {
        assert_int_equal(c->plain[i].applied[out.index_a], 'B');
    }
    /* 0.15 says nothing: the node just stops (DESIGN.md: watch
     * raft_state()). */
    assert_true(out.s1_unavailable);
    print_message("stock 0.15: S1 applied A at index %llu, S2-S5 applied B "
                  "there; S1 then went RAFT_UNAVAILABLE\n",
                  (unsigned long long)out.index_a);
    cluster_close(c);
    free(c);
}

/* DESIGN.md: "the no-op alone is not enough". S1's own no-op is still on
 * its slow disk when S2 and S3 answer, and 0.15 checks the quorum at the
 * leader's last stored index, which is A's. */
static void test_noop_alone_still_diverges(void **state)
{
    struct cluster *c = malloc(sizeof *c);
    struct outcome out;
    unsigned i;
    (void)state;

    assert_non_null(c);
    cluster_open(c, PLAIN_NOOP);
    run_figure8(c, &out);

    assert_int_equal(out.index_a, out.index_b);
    assert_int_equal(c->plain[S1].applied[out.index_a], 'A');
    for (i = S2; i <= S5; i++) {
        assert_int_equal(c->plain[i].applied[out.index_a], 'B');
    }
    assert_true(out.s1_unavailable);
    print_message("no-op only: S1 applied A at index %llu, S2-S5 applied B "
                  "there\n",
                  (unsigned long long)out.index_a);
    cluster_close(c);
    free(c);
}

static bool has_centre(struct cluster *c, unsigned i, const char *id)
{
    char *json = NULL;
    int rv = amk_sm_get(c->sm[i], AMK_OBJ_CENTRE, id, &json, NULL);
    free(json);
    assert_true(rv == AMK_OK || rv == AMK_ENOTFOUND);
    return rv == AMK_OK;
}

/* Step 2: no-op plus deferral under the same schedule. */
static void test_guard_prevents_divergence(void **state)
{
    struct cluster *c = malloc(sizeof *c);
    struct outcome out;
    void *db[N_SERVERS];
    size_t len[N_SERVERS];
    uint64_t applied;
    unsigned i;
    (void)state;

    assert_non_null(c);
    cluster_open(c, GUARDED);
    run_figure8(c, &out);

    assert_int_equal(out.index_a, out.index_b);
    /* raft did "commit" A on S1 (it went past A's index) but the adapter
     * held it: A is an earlier-term entry and no term-4 entry ever
     * committed. */
    assert_true(raft_last_applied(server(c, S1)) >= out.index_a);
    assert_true(amk_sm_applied_index(c->sm[S1]) < out.index_a);
    assert_int_equal(c->fsm[S1].n_deferred, out.index_a - 1);
    assert_int_equal(c->fsm[S1].deferred[c->fsm[S1].n_deferred - 1].index,
                     out.index_a);
    for (i = S1; i <= S5; i++) {
        assert_false(has_centre(c, i, "centre-a"));
    }
    assert_false(has_centre(c, S1, "centre-b"));

    /* The others applied B (released by S5's term no-op) and agree byte
     * for byte. */
    applied = amk_sm_applied_index(c->sm[S2]);
    assert_true(applied > out.index_b);
    for (i = S2; i <= S5; i++) {
        assert_true(has_centre(c, i, "centre-b"));
        assert_int_equal(amk_sm_applied_index(c->sm[i]), applied);
        assert_int_equal(c->fsm[i].n_deferred, 0);
        assert_int_equal(amk_sm_serialize(c->sm[i], &db[i], &len[i]), 0);
        assert_int_equal(len[i], len[S2]);
        assert_memory_equal(db[i], db[S2], len[S2]);
    }
    for (i = S2; i <= S5; i++) {
        free(db[i]);
    }
    /* 0.15 still stops S1 (its log conflicts below its commit index): the
     * guard keeps its state right, amkd has to restart it. */
    assert_true(out.s1_unavailable);
    print_message("guarded: S1 deferred A at index %llu and never applied "
                  "it; S2-S5 applied B and agree at index %llu; S1 went "
                  "RAFT_UNAVAILABLE\n",
                  (unsigned long long)out.index_a, (unsigned long long)applied);
    cluster_close(c);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stock_0_15_diverges),
        cmocka_unit_test(test_noop_alone_still_diverges),
        cmocka_unit_test(test_guard_prevents_divergence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
