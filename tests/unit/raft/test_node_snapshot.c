/* tests/unit/raft/test_node_snapshot.c: snapshots of real nodes in one
 * process (node_harness.h): the FSM snapshots asynchronously (version 3),
 * and with a common period T each voter snapshots at its own phase
 * (raft/node_snapshot.c: rank x T / 3), so no two snapshot at the same
 * index, however long the cluster runs; the state stays byte-identical. */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include "unit/raft/node_harness.h"

#define PERIOD        48
#define WRITES        300
#define SLACK         3 /* entries an apply pass may pass a target by */
#define MAX_SNAPSHOTS 64

struct seen {
    uint64_t index[MAX_NODES][MAX_SNAPSHOTS];
    unsigned n[MAX_NODES];
};

/* Records each node's latest snapshot index when it changes. */
static void record(struct cluster *c, struct seen *s)
{
    unsigned i;
    for (i = 0; i < 3; i++) {
        uint64_t last = c->t[i].node.raft.log.snapshot.last_index;
        if (last != 0 && (s->n[i] == 0 || s->index[i][s->n[i] - 1] != last)) {
            assert_true(s->n[i] < MAX_SNAPSHOTS);
            s->index[i][s->n[i]++] = last;
        }
    }
}

static void test_staggered(void **state)
{
    struct cluster *c = *state;
    struct seen seen;
    struct applied_arg applied;
    struct amk_raft_node_stats stats;
    unsigned i;
    unsigned j;
    unsigned k;
    unsigned l;
    unsigned n;
    int leader;

    memset(&seen, 0, sizeof seen);
    c->snapshot_threshold = PERIOD;
    c->snapshot_trailing = 8;
    for (i = 0; i < 3; i++) {
        node_open(c, i, true);
    }
    leader = wait_leader(c);
    for (n = 1; n <= WRITES; n++) {
        applied.index = propose_many(c, (unsigned)leader, n, n);
        record(c, &seen);
    }
    assert_true(run_until(c, all_applied, &applied, WAIT_MS));
    record(c, &seen);

    for (i = 0; i < 3; i++) {
        /* Node ids 1..3: rank i, phase i x PERIOD / 3. */
        uint64_t phase = PERIOD * i / 3;
        assert_true(seen.n[i] >= 4);
        for (k = 0; k < seen.n[i]; k++) {
            uint64_t s = seen.index[i][k];
            assert_true(s >= phase);
            if ((s - phase) % PERIOD > SLACK) {
                fprintf(stderr,
                        "    node %u snapshot at %llu, off phase %llu\n", i + 1,
                        (unsigned long long)s, (unsigned long long)phase);
                fail();
            }
        }
        amk_raft_node_stats(&c->t[i].node, &stats);
        assert_int_equal((stats.snapshot_target - phase) % PERIOD, 0);
        assert_true(stats.snapshot_target >
                    c->t[i].node.raft.log.snapshot.last_index);
    }
    /* No two nodes near the same index. */
    for (i = 0; i < 3; i++) {
        for (j = i + 1; j < 3; j++) {
            for (k = 0; k < seen.n[i]; k++) {
                for (l = 0; l < seen.n[j]; l++) {
                    uint64_t a = seen.index[i][k];
                    uint64_t b = seen.index[j][l];
                    assert_true((a > b ? a - b : b - a) >=
                                PERIOD / 3 - 2 * SLACK);
                }
            }
        }
    }
    assert_same_state(c);
}

/* raft_uv 0.15 says io->version 1 although it has async_work: the node
 * corrects that, so the FSM is version 3 and the snapshot's checksum runs in
 * the thread pool (raft/node_guard.c). */
static void test_async_snapshot(void **state)
{
    struct cluster *c = *state;
    node_open(c, 0, true);
    assert_int_equal(c->t[0].node.io.version, 2);
    assert_int_equal(c->t[0].node.fsm.fsm.version, 3);
    assert_non_null(c->t[0].node.fsm.fsm.snapshot_async);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_async_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staggered, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
