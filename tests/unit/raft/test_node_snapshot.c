/* tests/unit/raft/test_node_snapshot.c: snapshots of real nodes in one
 * process (node_harness.h): the FSM snapshots asynchronously (version 3). */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include "unit/raft/node_harness.h"

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
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
