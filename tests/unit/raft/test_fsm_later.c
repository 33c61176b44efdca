/* tests/unit/raft/test_fsm_later.c: the FSM adapter's apply_later mode
 * (raft/fsm.h): a follower queues committed entries and
 * amk_raft_fsm_drain() applies them in order; the applied index reports
 * the queue; a direct apply (leader), a snapshot and the release of deferred
 * entries keep the order; a restored snapshot supersedes the queue. The
 * adapter is driven the way canonical/raft 0.15 drives it, over a struct
 * raft of which it reads only the state, term and last_applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raft/fsm.h"
#include "unit/raft/helpers.h"

#define MAX_APPLIED 16

struct fx {
    struct raft raft;
    struct amk_sm *sm;
    struct amk_raft_fsm f;
    uint64_t applied[MAX_APPLIED]; /* indexes, in the order applied */
    unsigned n_applied;
};

static void on_applied(void *data, const struct amk_sm_result *result)
{
    struct fx *fx = data;
    assert_true(fx->n_applied < MAX_APPLIED);
    fx->applied[fx->n_applied++] = result->index;
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    char errmsg[256];
    assert_non_null(fx);
    fx->raft.current_term = 4;
    fx->raft.state = RAFT_FOLLOWER;
    assert_int_equal(amk_sm_open(&fx->sm, NULL, errmsg), 0);
    assert_int_equal(amk_raft_fsm_init(&fx->f, fx->sm), 0);
    amk_raft_fsm_bind(&fx->f, &fx->raft);
    amk_raft_fsm_on_applied(&fx->f, on_applied, fx);
    amk_raft_fsm_apply_later(&fx->f, true);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    amk_raft_fsm_close(&fx->f);
    amk_sm_close(fx->sm);
    free(fx);
    return 0;
}

/* Hands buf to the adapter as 0.15 does and advances last_applied; returns
 * apply's result. */
static void *feed(struct fx *fx, struct raft_buffer buf)
{
    void *result = (void *)1;
    assert_int_equal(fx->f.fsm.apply(&fx->f.fsm, &buf, &result), 0);
    fx->raft.last_applied++;
    raft_free(buf.base);
    return result;
}

static uint64_t applied_index(struct fx *fx)
{
    return amk_raft_fsm_applied_index(&fx->f, fx->raft.last_applied);
}

static void assert_applied_in_order(struct fx *fx, unsigned n)
{
    unsigned i;
    assert_int_equal(fx->n_applied, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(fx->applied[i], i + 1);
    }
    assert_int_equal(amk_sm_applied_index(fx->sm), n);
    assert_int_equal(applied_index(fx), n);
}

/* A follower queues; the applied index stays where sm is; drain applies. */
static void test_follower_queues(void **state)
{
    struct fx *fx = *state;
    assert_null(feed(fx, helpers_noop(4)));
    assert_null(feed(fx, helpers_centre_register("c-a", 4)));
    assert_null(feed(fx, helpers_centre_register("c-b", 4)));
    assert_int_equal(fx->f.n_pending, 3);
    assert_int_equal(fx->n_applied, 0);
    assert_int_equal(amk_sm_applied_index(fx->sm), 0);
    assert_int_equal(applied_index(fx), 0);

    amk_raft_fsm_drain(&fx->f);
    assert_int_equal(fx->f.n_pending, 0);
    assert_applied_in_order(fx, 3);
    amk_raft_fsm_drain(&fx->f); /* nothing left: no-op */
    assert_int_equal(fx->n_applied, 3);
}

/* Once a leader, the adapter applies at once, after what was queued. */
static void test_leader_drains_first(void **state)
{
    struct fx *fx = *state;
    struct amk_sm_result *result;
    feed(fx, helpers_noop(4));
    feed(fx, helpers_centre_register("c-a", 4));
    fx->raft.current_term = 5;
    fx->raft.state = RAFT_LEADER;
    result = feed(fx, helpers_noop(5));
    assert_non_null(result);
    assert_int_equal(result->index, 3);
    assert_int_equal(fx->f.n_pending, 0);
    assert_applied_in_order(fx, 3);
}

/* Earlier-term entries deferred by the #220 guard are queued ahead of the
 * current-term entry that releases them. */
static void test_deferred_then_queued(void **state)
{
    struct fx *fx = *state;
    fx->raft.current_term = 5;
    feed(fx, helpers_centre_register("c-a", 4));
    feed(fx, helpers_centre_register("c-b", 4));
    assert_int_equal(fx->f.n_deferred, 2);
    assert_int_equal(fx->f.n_pending, 0);
    feed(fx, helpers_noop(5));
    assert_int_equal(fx->f.n_deferred, 0);
    assert_int_equal(fx->f.n_pending, 3);
    assert_int_equal(applied_index(fx), 0);
    amk_raft_fsm_drain(&fx->f);
    assert_applied_in_order(fx, 3);
}

/* raft snapshots at its last_applied: the snapshot applies the queue first.
 * A restored snapshot supersedes what is queued. */
static void test_snapshot_and_restore(void **state)
{
    struct fx *fx = *state;
    struct raft_buffer *bufs = NULL;
    struct raft_buffer image;
    unsigned n_bufs = 0;

    feed(fx, helpers_noop(4));
    feed(fx, helpers_centre_register("c-a", 4));
    assert_int_equal(fx->f.n_pending, 2);
    assert_int_equal(fx->f.fsm.snapshot(&fx->f.fsm, &bufs, &n_bufs), 0);
    assert_int_equal(fx->f.n_pending, 0);
    assert_applied_in_order(fx, 2);
    if (fx->f.fsm.snapshot_async != NULL) {
        assert_int_equal(fx->f.fsm.snapshot_async(&fx->f.fsm, &bufs, &n_bufs),
                         0);
    }
    image = helpers_concat(bufs);
    assert_int_equal(fx->f.fsm.snapshot_finalize(&fx->f.fsm, &bufs, &n_bufs),
                     0);

    feed(fx, helpers_centre_register("c-b", 4));
    assert_int_equal(fx->f.n_pending, 1);
    assert_int_equal(fx->f.fsm.restore(&fx->f.fsm, &image), 0);
    assert_int_equal(fx->f.n_pending, 0);
    assert_int_equal(amk_sm_applied_index(fx->sm), 2);
    amk_raft_fsm_drain(&fx->f);
    assert_int_equal(fx->n_applied, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_follower_queues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_drains_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deferred_then_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_and_restore, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
