/* tests/unit/raft/test_raft_apply_batch.c: what canonical/raft 0.15 (the
 * library this links) does with one raft_apply of several entries, which
 * raft/node_propose.c relies on: consecutive indexes from last_index + 1 in
 * req->index; one callback, fired after the FSM applied the FIRST entry,
 * with that entry's result; RAFT_LEADERSHIPLOST when the leader steps down
 * before that; and no callback at all for the other entries, even when the
 * leader steps down before they are applied. raft_fixture, 3 servers, a
 * recording FSM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "unit/raft/helpers.h"

#define N_SERVERS 3
#define MAX_INDEX 64
#define WAIT_MS   10000

/* Records which index each apply call saw and hands out a distinct result
 * per index; fails the apply of `fail_index` while it is set. */
struct rec_fsm {
    struct raft *raft;
    unsigned applies[MAX_INDEX]; /* apply calls per index */
    int results[MAX_INDEX];      /* &results[i] is index i's result */
    raft_index fail_index;
    unsigned failed;
};

struct fixture {
    struct raft_fixture f;
    struct raft_fsm fsm[N_SERVERS];
    struct rec_fsm rec[N_SERVERS];
};

struct call {
    unsigned calls;
    int status;
    void *result;
};

static int rec_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    struct rec_fsm *rec = fsm->data;
    raft_index index = raft_last_applied(rec->raft) + 1;
    (void)buf;
    assert_true(index < MAX_INDEX);
    if (index == rec->fail_index) {
        rec->failed++;
        return RAFT_NOMEM; /* nothing applied; 0.15 retries later */
    }
    rec->applies[index]++;
    *result = &rec->results[index];
    return 0;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct call *call = req->data;
    call->calls++;
    call->status = status;
    call->result = result;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct raft_configuration conf;
    unsigned i;

    assert_non_null(fx);
    assert_int_equal(raft_fixture_initialize(&fx->f), 0);
    for (i = 0; i < N_SERVERS; i++) {
        fx->fsm[i].version = 1;
        fx->fsm[i].data = &fx->rec[i];
        fx->fsm[i].apply = rec_apply;
        fx->fsm[i].snapshot = helpers_no_snapshot;
        fx->fsm[i].restore = helpers_no_restore;
        assert_int_equal(raft_fixture_grow(&fx->f, &fx->fsm[i]), 0);
        fx->rec[i].raft = raft_fixture_get(&fx->f, i);
    }
    assert_int_equal(raft_fixture_configuration(&fx->f, N_SERVERS, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&fx->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&fx->f), 0);
    raft_fixture_elect(&fx->f, 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    raft_fixture_close(&fx->f);
    free(fx);
    return 0;
}

/* raft_apply of n 8-byte entries (0.15 wants lengths in multiples of 8) on
 * server 0, the leader, answered into *call. Returns the first entry's
 * index, which must be what raft put in req->index. */
static raft_index apply_batch(struct fixture *fx, struct raft_apply *req,
                              struct call *call, unsigned n)
{
    struct raft *leader = raft_fixture_get(&fx->f, 0);
    struct raft_buffer bufs[8];
    raft_index first = raft_last_index(leader) + 1;
    unsigned i;

    assert_true(n <= 8);
    for (i = 0; i < n; i++) {
        bufs[i].len = 8;
        bufs[i].base = raft_malloc(8);
        assert_non_null(bufs[i].base);
        memset(bufs[i].base, 'a' + (int)i, 8);
    }
    memset(call, 0, sizeof *call);
    req->data = call;
    assert_int_equal(raft_apply(leader, req, bufs, n, apply_cb), 0);
    assert_int_equal(req->index, first);
    assert_int_equal(raft_last_index(leader), first + n - 1);
    assert_int_equal(call->calls, 0);
    return first;
}

/* Cuts server 0 off and steps until it has stepped down, and a while more
 * for any late callback. */
static void depose_leader(struct fixture *fx)
{
    raft_fixture_disconnect(&fx->f, 0, 1);
    raft_fixture_disconnect(&fx->f, 0, 2);
    assert_true(
        raft_fixture_step_until_state_is(&fx->f, 0, RAFT_FOLLOWER, WAIT_MS));
    raft_fixture_step_until_elapsed(&fx->f, 500);
}

/* Four entries in one raft_apply: indexes last + 1 .. last + 4, req->index
 * the first; one callback, after the first entry's apply, with its result;
 * all four applied on every server. */
static void test_one_callback_first_result(void **state)
{
    struct fixture *fx = *state;
    struct raft_apply req;
    struct call call;
    raft_index first = apply_batch(fx, &req, &call, 4);
    unsigned i;
    unsigned s;

    assert_true(
        raft_fixture_step_until_applied(&fx->f, N_SERVERS, first + 3, WAIT_MS));
    raft_fixture_step_until_elapsed(&fx->f, 500);
    assert_int_equal(call.calls, 1);
    assert_int_equal(call.status, 0);
    assert_ptr_equal(call.result, &fx->rec[0].results[first]);
    for (s = 0; s < N_SERVERS; s++) {
        for (i = 0; i < 4; i++) {
            assert_int_equal(fx->rec[s].applies[first + i], 1);
        }
    }
}

/* The leader steps down before the batch commits: one callback,
 * RAFT_LEADERSHIPLOST, nothing applied on it. */
static void test_fails_once_before_commit(void **state)
{
    struct fixture *fx = *state;
    struct raft_apply req;
    struct call call;
    raft_index first = apply_batch(fx, &req, &call, 3);

    depose_leader(fx);
    assert_int_equal(call.calls, 1);
    assert_int_equal(call.status, RAFT_LEADERSHIPLOST);
    assert_int_equal(fx->rec[0].applies[first], 0);
}

/* The FSM fails the second entry's apply: the callback has already fired
 * for the first, and raft forgets the request. The leader then steps down
 * with entries 2 and 3 committed but not applied on it: no callback, ever,
 * for them. (raft/node_propose.c answers those itself.) */
static void test_forgets_after_first(void **state)
{
    struct fixture *fx = *state;
    struct raft *leader = raft_fixture_get(&fx->f, 0);
    struct raft_apply req;
    struct call call;
    raft_index first;

    fx->rec[0].fail_index = raft_last_index(leader) + 2;
    first = apply_batch(fx, &req, &call, 3);
    assert_true(raft_fixture_step_until_applied(&fx->f, 1, first + 2, WAIT_MS));
    assert_true(fx->rec[0].failed > 0);
    assert_int_equal(call.calls, 1);
    assert_int_equal(call.status, 0);
    assert_ptr_equal(call.result, &fx->rec[0].results[first]);
    assert_int_equal(raft_last_applied(leader), first);
    assert_true(leader->commit_index >= first + 2);

    depose_leader(fx);
    assert_int_equal(call.calls, 1);
    assert_int_equal(fx->rec[0].applies[first + 1], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_callback_first_result, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fails_once_before_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forgets_after_first, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
