/* tests/unit/server/test_link.c: the cluster link's client and server over
 * real loopback sockets, with fake nodes as its env: forwarding, what each
 * failure answers (never sent -> NO_LEADER, sent then lost -> TIMEOUT), the
 * one retry after NOT_LEADER, reads waiting for the local apply, malformed
 * frames closing only their connection, liveness heartbeats, and close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/link.h"

#define MAX_NODES 4
#define MAX_HELD  16

enum mode {
    ANSWER_OK = 0, /* answer OK on the next loop turn */
    HOLD,          /* keep the request unanswered */
    NOT_LEADER,    /* refuse at once; the cluster moves to switch_to */
    ANSWER_ERROR,  /* answer ERROR (outcome unknown) */
};

struct cluster;

struct fake {
    struct amk_link link;
    bool link_open, link_closed;
    struct cluster *cluster;
    uint64_t id;
    char address[64]; /* "" when the node has no listener */
    uint64_t applied;
    int mode;
    uint64_t switch_to; /* NOT_LEADER: the next leader (0: none) */
    uint64_t read_index;
    struct amk_link_op *held[MAX_HELD];
    unsigned n_held;
    unsigned proposals, reads;
    uv_timer_t answer_timer;
};

struct cluster {
    uv_loop_t loop;
    struct fake nodes[MAX_NODES + 1]; /* by id, 1.. */
    uint64_t leader;
    bool hide_address; /* the directory does not know the address yet */
};

/* --- The fake env ------------------------------------------------------------
 */

static uint64_t env_leader(void *data, char *address, size_t size)
{
    struct fake *f = data;
    struct cluster *c = f->cluster;
    address[0] = '\0';
    if (c->leader != 0 && !c->hide_address) {
        snprintf(address, size, "%s", c->nodes[c->leader].address);
    }
    return c->leader;
}

static bool env_is_leader(void *data)
{
    struct fake *f = data;
    return f->cluster->leader == f->id;
}

static uint64_t env_applied(void *data)
{
    struct fake *f = data;
    return f->applied;
}

static void answer_held(uv_timer_t *timer)
{
    struct fake *f = timer->data;
    unsigned n = f->n_held;
    f->n_held = 0;
    for (unsigned i = 0; i < n; i++) {
        struct amk_link_op *op = f->held[i];
        if (op->type == AMK_LINK_READ_INDEX) {
            amk_link_op_index(op,
                              f->mode == ANSWER_ERROR ? AMK_LINK_STATUS_ERROR
                                                      : AMK_LINK_STATUS_OK,
                              f->mode == ANSWER_ERROR ? 0 : f->read_index);
            continue;
        }
        if (f->mode == ANSWER_ERROR) {
            amk_link_op_result(op, AMK_LINK_STATUS_ERROR, NULL,
                               "leadership lost");
            continue;
        }
        struct amk_sm_result r;
        memset(&r, 0, sizeof r);
        char body[64];
        snprintf(body, sizeof body, "{\"by\":%llu,\"n\":%u}",
                 (unsigned long long)f->id, f->proposals);
        r.body = body;
        r.created = true;
        r.applied = true;
        r.index = 100 + f->proposals;
        amk_link_op_result(op, AMK_LINK_STATUS_OK, &r, NULL);
    }
}

static int take(struct fake *f, struct amk_link_op *op)
{
    if (f->mode == NOT_LEADER) {
        f->cluster->leader = f->switch_to;
        return AMK_LINK_STATUS_NOT_LEADER;
    }
    assert_true(f->n_held < MAX_HELD);
    f->held[f->n_held++] = op;
    if (f->mode != HOLD) {
        uv_timer_start(&f->answer_timer, answer_held, 0, 0);
    }
    return AMK_LINK_STATUS_OK;
}

static int env_propose(void *data, struct amk_link_op *op, const void *cmd,
                       size_t len)
{
    struct fake *f = data;
    assert_true(len > 0);
    assert_non_null(cmd);
    f->proposals++;
    return take(f, op);
}

static int env_read(void *data, struct amk_link_op *op)
{
    struct fake *f = data;
    f->reads++;
    return take(f, op);
}

static void env_log(void *data, int level, const char *msg)
{
    struct fake *f = data;
    if (getenv("AMK_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "[node %llu] %d %s\n", (unsigned long long)f->id, level,
                msg);
    }
}

/* --- Set-up
 * -------------------------------------------------------------------- */

static void start_node(struct cluster *c, uint64_t id, bool listen,
                       unsigned timeout_ms)
{
    struct fake *f = &c->nodes[id];
    f->cluster = c;
    f->id = id;
    struct amk_link_config lc;
    memset(&lc, 0, sizeof lc);
    lc.address = listen ? "127.0.0.1:0" : NULL;
    lc.self_id = id;
    lc.request_timeout_ms = timeout_ms;
    lc.env.data = f;
    lc.env.leader = env_leader;
    lc.env.is_leader = env_is_leader;
    lc.env.applied_index = env_applied;
    lc.env.propose = env_propose;
    lc.env.read_index = env_read;
    lc.env.log = env_log;
    int rv = amk_link_init(&f->link, &c->loop, &lc);
    if (rv != 0) {
        fail_msg("link init: %s", f->link.errmsg);
    }
    f->link_open = true;
    if (listen) {
        assert_true(amk_link_port(&f->link) != 0);
        snprintf(f->address, sizeof f->address, "127.0.0.1:%u",
                 amk_link_port(&f->link));
    }
    uv_timer_init(&c->loop, &f->answer_timer);
    f->answer_timer.data = f;
}

static int setup(void **state)
{
    struct cluster *c = calloc(1, sizeof *c);
    assert_non_null(c);
    uv_loop_init(&c->loop);
    *state = c;
    return 0;
}

static void link_closed(struct amk_link *link)
{
    struct fake *f =
        (struct fake *)((char *)link - offsetof(struct fake, link));
    f->link_closed = true;
}

static void close_node(struct fake *f)
{
    if (f->link_open) {
        f->link_open = false;
        amk_link_close(&f->link, link_closed);
    }
}

static int teardown(void **state)
{
    struct cluster *c = *state;
    for (unsigned i = 1; i <= MAX_NODES; i++) {
        struct fake *f = &c->nodes[i];
        if (f->cluster == NULL) {
            continue;
        }
        close_node(f);
        if (!uv_is_closing((uv_handle_t *)&f->answer_timer)) {
            uv_close((uv_handle_t *)&f->answer_timer, NULL);
        }
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    for (unsigned i = 1; i <= MAX_NODES; i++) {
        struct fake *f = &c->nodes[i];
        /* Ops held by a fake leader are answered (and freed) late. */
        for (unsigned k = 0; k < f->n_held; k++) {
            amk_link_op_result(f->held[k], AMK_LINK_STATUS_SHUTDOWN, NULL,
                               NULL);
        }
        if (f->cluster != NULL) {
            assert_true(f->link_closed);
        }
    }
    /* Every handle was closed: the close-callback lifetimes hold. */
    assert_int_equal(uv_loop_close(&c->loop), 0);
    free(c);
    return 0;
}

/* --- Running the loop
 * ---------------------------------------------------------- */

struct call {
    struct amk_link_request req;
    bool done;
    int status;
    uint64_t started, finished;
};

static void call_done(struct amk_link_request *req, int status)
{
    struct call *call = req->data;
    assert_false(call->done);
    call->done = true;
    call->status = status;
    call->finished = uv_now(req->link->loop);
}

static void guard_fired(uv_timer_t *timer)
{
    *(bool *)timer->data = true;
}

/* Runs the loop until *flag or ms passed; returns *flag. */
static bool run_until(uv_loop_t *loop, const bool *flag, unsigned ms)
{
    bool expired = false;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, guard_fired, ms, 0);
    while (!*flag && !expired) {
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

static void run_for(uv_loop_t *loop, unsigned ms)
{
    bool never = false;
    run_until(loop, &never, ms);
}

static const char CMD[] = "an encoded command";

static int propose(struct fake *f, struct call *call)
{
    memset(call, 0, sizeof *call);
    call->req.data = call;
    call->started = uv_now(f->link.loop);
    return amk_link_propose(&f->link, &call->req, CMD, sizeof CMD, call_done);
}

static int read_index(struct fake *f, struct call *call)
{
    memset(call, 0, sizeof *call);
    call->req.data = call;
    call->started = uv_now(f->link.loop);
    return amk_link_read(&f->link, &call->req, call_done);
}

/* --- Tests
 * ------------------------------------------------------------------------ */

static void test_forward_write(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 2000);
    start_node(c, 2, false, 2000);
    c->leader = 1;
    for (unsigned i = 1; i <= 3; i++) {
        struct call call;
        assert_int_equal(propose(&c->nodes[2], &call), 0);
        assert_false(call.done); /* never from inside the call */
        assert_true(run_until(&c->loop, &call.done, 2000));
        assert_int_equal(call.status, AMK_LINK_OK);
        assert_int_equal(call.req.result.index, 100 + i);
        assert_true(call.req.result.created);
        char expect[64];
        snprintf(expect, sizeof expect, "{\"by\":1,\"n\":%u}", i);
        assert_string_equal(call.req.result.body, expect);
        amk_sm_result_clear(&call.req.result);
    }
    struct amk_link_stats st;
    amk_link_stats(&c->nodes[2].link, &st);
    assert_int_equal(st.forwarded_writes, 3);
    assert_int_equal(st.forwarded_ok, 3);
    assert_int_equal(st.connects, 1); /* one persistent connection */
    assert_true(st.connected);
    amk_link_stats(&c->nodes[1].link, &st);
    assert_int_equal(st.served_writes, 3);
    assert_int_equal(st.served_connections, 1);
}

static void test_no_leader_is_immediate(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 2000);
    start_node(c, 2, false, 2000);
    struct call call;
    c->leader = 0;
    assert_int_equal(propose(&c->nodes[2], &call), AMK_LINK_ENOLEADER);
    c->leader = 1;
    c->hide_address = true; /* leader known, its address not yet */
    assert_int_equal(propose(&c->nodes[2], &call), AMK_LINK_ENOLEADER);
    assert_int_equal(read_index(&c->nodes[2], &call), AMK_LINK_ENOLEADER);
    c->hide_address = false;
    c->leader = 2; /* raft says this node, but the caller found it does
                      not lead: a transition; not sent */
    assert_int_equal(propose(&c->nodes[2], &call), AMK_LINK_ENOLEADER);
    assert_false(call.done);
}

static void test_connect_refused_is_prompt(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 3000);
    start_node(c, 2, false, 3000);
    c->leader = 1;
    /* The leader's listener goes away: nothing listens on its port. */
    close_node(&c->nodes[1]);
    run_for(&c->loop, 20);
    struct call call;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 3000));
    assert_int_equal(call.status, AMK_LINK_ENOLEADER);
    assert_true(call.finished - call.started < 500); /* not the deadline */
    assert_null(call.req.result.body);
}

static void test_timeout_after_send(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 200);
    start_node(c, 2, false, 200);
    c->leader = 1;
    c->nodes[1].mode = HOLD;
    struct call call;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_ETIMEOUT); /* outcome unknown */
    assert_true(call.finished - call.started >= 190);
    assert_true(call.finished - call.started < 1000);
    /* The late answer is dropped quietly; the connection stays usable. */
    c->nodes[1].mode = ANSWER_OK;
    answer_held(&c->nodes[1].answer_timer);
    run_for(&c->loop, 30);
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_OK);
    amk_sm_result_clear(&call.req.result);
    struct amk_link_stats st;
    amk_link_stats(&c->nodes[2].link, &st);
    assert_int_equal(st.forward_timeouts, 1);
    assert_int_equal(st.protocol_errors, 0);
}

static void test_drop_after_send(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 3000);
    start_node(c, 2, false, 3000);
    c->leader = 1;
    c->nodes[1].mode = HOLD;
    struct call call;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    run_for(&c->loop, 30); /* sent */
    assert_int_equal(c->nodes[1].proposals, 1);
    close_node(&c->nodes[1]); /* the leader dies with the write in flight */
    assert_true(run_until(&c->loop, &call.done, 3000));
    assert_int_equal(call.status, AMK_LINK_ETIMEOUT);
    assert_true(call.finished - call.started < 1000);
}

static void test_not_leader_retries_once(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 2000);
    start_node(c, 2, false, 2000);
    start_node(c, 3, true, 2000);
    c->leader = 1;
    c->nodes[1].mode = NOT_LEADER;
    c->nodes[1].switch_to = 3; /* leadership moved to 3 */
    struct call call;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_OK);
    assert_string_equal(call.req.result.body, "{\"by\":3,\"n\":1}");
    amk_sm_result_clear(&call.req.result);
    struct amk_link_stats st;
    amk_link_stats(&c->nodes[2].link, &st);
    assert_int_equal(st.forward_retries, 1);
    assert_int_equal(c->nodes[1].proposals, 1);
    assert_int_equal(c->nodes[3].proposals, 1);

    /* Refused twice: one retry only, then NO_LEADER (not applied). */
    c->nodes[3].mode = NOT_LEADER;
    c->nodes[3].switch_to = 1;
    c->nodes[1].switch_to = 3;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_ENOLEADER);
    assert_true(call.finished - call.started < 1000);
}

static void test_not_leader_without_new_leader(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 300);
    start_node(c, 2, false, 300);
    c->leader = 1;
    c->nodes[1].mode = NOT_LEADER;
    c->nodes[1].switch_to = 1; /* still believed the leader */
    struct call call;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    /* Waited for a new leader until the deadline: not applied. */
    assert_int_equal(call.status, AMK_LINK_ENOLEADER);
    assert_true(call.finished - call.started >= 290);

    /* The election ends with this node leading: served locally. */
    c->nodes[1].switch_to = 0;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    run_for(&c->loop, 50);
    assert_false(call.done);
    c->leader = 2;
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_ELOCAL);
}

static void raise_applied(uv_timer_t *timer)
{
    struct fake *f = timer->data;
    f->applied = 50;
}

static void test_read_waits_for_apply(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 500);
    start_node(c, 2, false, 500);
    c->leader = 1;
    c->nodes[1].read_index = 50;
    c->nodes[2].applied = 50;
    struct call call;
    assert_int_equal(read_index(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_OK);
    assert_int_equal(call.req.index, 50);

    /* Behind: answered once the local apply reaches the index. */
    c->nodes[2].applied = 40;
    uv_timer_t later;
    uv_timer_init(&c->loop, &later);
    later.data = &c->nodes[2];
    uv_timer_start(&later, raise_applied, 100, 0);
    assert_int_equal(read_index(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_OK);
    assert_true(call.finished - call.started >= 95);
    uv_close((uv_handle_t *)&later, NULL);

    /* Never catches up: TIMEOUT at the deadline. */
    c->nodes[2].applied = 10;
    assert_int_equal(read_index(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_ETIMEOUT);
    assert_int_equal(call.req.index, 0);
}

static void test_read_retried_on_error(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 1000);
    start_node(c, 2, false, 1000);
    start_node(c, 3, true, 1000);
    c->leader = 1;
    c->nodes[1].mode = ANSWER_ERROR;
    c->nodes[3].read_index = 7;
    c->nodes[2].applied = 10;
    struct call call;
    assert_int_equal(read_index(&c->nodes[2], &call), 0);
    run_for(&c->loop, 50);
    assert_false(call.done); /* parked: no new leader yet */
    c->leader = 3;
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_OK);
    assert_int_equal(call.req.index, 7);
    assert_int_equal(c->nodes[1].reads, 1);
    assert_int_equal(c->nodes[3].reads, 1);

    /* A write answered ERROR is not retried: its outcome is unknown. */
    c->nodes[3].mode = ANSWER_ERROR;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_ETIMEOUT);
}

/* --- Malformed input on the server
 * ---------------------------------------------- */

struct raw {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uint8_t bytes[64];
    size_t len;
    bool connected, eof, closed;
    char buf[256];
};

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
    (void)s;
    struct raw *r = h->data;
    *buf = uv_buf_init(r->buf, sizeof r->buf);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct raw *r = s->data;
    if (n < 0) {
        r->eof = true;
    }
}

static void raw_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void raw_connected(uv_connect_t *req, int status)
{
    struct raw *r = req->data;
    assert_int_equal(status, 0);
    r->connected = true;
    uv_buf_t buf = uv_buf_init((char *)r->bytes, (unsigned)r->len);
    uv_write(&r->write, (uv_stream_t *)&r->tcp, &buf, 1, raw_written);
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void raw_closed(uv_handle_t *h)
{
    struct raw *r = h->data;
    r->closed = true;
}

/* Sends bytes to the node's listener; true if the node hung up. */
static bool send_raw(struct cluster *c, struct fake *f, const uint8_t *bytes,
                     size_t len)
{
    struct raw r;
    memset(&r, 0, sizeof r);
    memcpy(r.bytes, bytes, len);
    r.len = len;
    struct sockaddr_storage addr;
    assert_int_equal(amk_link_parse_address(f->address, false, &addr), 0);
    uv_tcp_init(&c->loop, &r.tcp);
    r.tcp.data = &r;
    r.connect.data = &r;
    uv_tcp_connect(&r.connect, &r.tcp, (struct sockaddr *)&addr, raw_connected);
    bool hung_up = run_until(&c->loop, &r.eof, 1000);
    uv_close((uv_handle_t *)&r.tcp, raw_closed);
    run_until(&c->loop, &r.closed, 1000);
    return hung_up;
}

static void test_malformed_frames_close_the_connection(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 1000);
    start_node(c, 2, false, 1000);
    c->leader = 1;
    static const struct {
        const char *name;
        uint8_t bytes[32];
        size_t len;
    } cases[] = {
        {"version 9", {10, 0, 0, 0, 9, 3, 1, 0, 0, 0, 0, 0, 0, 0}, 14},
        {"length over the cap", {0xff, 0xff, 0xff, 0xff, 1, 1}, 14},
        {"length under the header", {3, 0, 0, 0, 1, 3}, 14},
        {"unknown type", {10, 0, 0, 0, 1, 77}, 14},
        {"a RESULT sent to the server",
         {11, 0, 0, 0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0},
         15},
        {"an empty PROPOSE", {10, 0, 0, 0, 1, 1, 1}, 14},
        {"a HEARTBEAT without a centre",
         {19, 0, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, /* payload: */
          0,  0, 0, 0, 0, 0, 0, 0, 1},
         23},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!send_raw(c, &c->nodes[1], cases[i].bytes, cases[i].len)) {
            fail_msg("%s: connection left open", cases[i].name);
        }
    }
    struct amk_link_stats st;
    amk_link_stats(&c->nodes[1].link, &st);
    assert_int_equal(st.protocol_errors, sizeof cases / sizeof cases[0]);
    assert_int_equal(st.served_connections, 0);
    /* The server still serves well-formed peers. */
    struct call call;
    assert_int_equal(propose(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_OK);
    amk_sm_result_clear(&call.req.result);
}

/* A READ_INDEX split across writes is assembled; a leader that is not one
 * answers NOT_LEADER rather than hanging up. */
static void test_server_refuses_when_not_leader(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 300);
    start_node(c, 2, false, 300);
    c->leader = 1;
    c->nodes[1].mode = NOT_LEADER;
    c->nodes[1].switch_to = 0;
    struct call call;
    assert_int_equal(read_index(&c->nodes[2], &call), 0);
    assert_true(run_until(&c->loop, &call.done, 2000));
    assert_int_equal(call.status, AMK_LINK_ENOLEADER);
    struct amk_link_stats st;
    amk_link_stats(&c->nodes[1].link, &st);
    assert_int_equal(st.protocol_errors, 0);
}

/* --- Liveness
 * ---------------------------------------------------------------------- */

static void test_heartbeats(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 1000);
    start_node(c, 2, false, 1000);
    c->leader = 1;
    uint64_t at;
    assert_int_equal(amk_link_last_heard(&c->nodes[1].link, "oslo", &at),
                     AMK_LINK_ENOTFOUND);
    /* The follower connects ahead of any request and sends its own. */
    amk_link_tick(&c->nodes[2].link, "bergen");
    run_for(&c->loop, 50);
    amk_link_tick(&c->nodes[2].link, "bergen");
    amk_link_heartbeat(&c->nodes[2].link, "s1", "oslo", true);
    amk_link_heartbeat(&c->nodes[2].link, "s2", "tromso", false);
    run_for(&c->loop, 50);
    assert_int_equal(amk_link_last_heard(&c->nodes[1].link, "oslo", &at), 0);
    assert_int_equal(amk_link_last_heard(&c->nodes[1].link, "bergen", &at), 0);
    /* A stale session is recorded but does not count as alive. */
    assert_int_equal(amk_link_last_heard(&c->nodes[1].link, "tromso", &at),
                     AMK_LINK_ENOTFOUND);
    struct amk_link_liveness row;
    assert_int_equal(amk_link_liveness(&c->nodes[1].link, "tromso", &row), 0);
    assert_true(row.last_any_ms > 0);
    assert_int_equal(row.last_valid_ms, 0);
    assert_int_equal(amk_link_liveness(&c->nodes[1].link, "oslo", &row), 0);
    assert_string_equal(row.last_session, "s1");
    struct amk_link_stats st;
    amk_link_stats(&c->nodes[1].link, &st);
    assert_int_equal(st.heartbeats_received, 3);

    /* On the leader itself a heartbeat is recorded locally. */
    amk_link_heartbeat(&c->nodes[1].link, "s3", "bodo", true);
    assert_int_equal(amk_link_last_heard(&c->nodes[1].link, "bodo", &at), 0);
    amk_link_liveness_reset(&c->nodes[1].link);
    assert_int_equal(amk_link_last_heard(&c->nodes[1].link, "bodo", &at),
                     AMK_LINK_ENOTFOUND);

    /* The table is bounded: the quietest centre makes room. */
    for (unsigned i = 0; i < AMK_LINK_MAX_CENTRES + 5; i++) {
        char centre[16];
        snprintf(centre, sizeof centre, "c%u", i);
        amk_link_heartbeat(&c->nodes[1].link, "", centre, true);
    }
    assert_int_equal(c->nodes[1].link.n_liveness, AMK_LINK_MAX_CENTRES);
}

static void test_close_fails_waiting_requests(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 5000);
    start_node(c, 2, false, 5000);
    c->leader = 1;
    c->nodes[1].mode = HOLD;
    struct call write_call, read_call;
    assert_int_equal(propose(&c->nodes[2], &write_call), 0);
    assert_int_equal(read_index(&c->nodes[2], &read_call), 0);
    run_for(&c->loop, 30);
    close_node(&c->nodes[2]);
    assert_true(write_call.done); /* at once, not at the deadline */
    assert_true(read_call.done);
    assert_int_equal(write_call.status, AMK_LINK_ESHUTDOWN);
    assert_int_equal(read_call.status, AMK_LINK_ESHUTDOWN);
    assert_true(run_until(&c->loop, &c->nodes[2].link_closed, 1000));
    struct call late;
    assert_int_equal(propose(&c->nodes[2], &late), AMK_LINK_ESHUTDOWN);
}

static void test_listen_in_use(void **state)
{
    struct cluster *c = *state;
    start_node(c, 1, true, 1000);
    struct amk_link other;
    struct amk_link_config lc;
    memset(&lc, 0, sizeof lc);
    lc.address = c->nodes[1].address;
    lc.env = c->nodes[1].link.config.env;
    assert_int_equal(amk_link_init(&other, &c->loop, &lc), AMK_LINK_ELISTEN);
    assert_non_null(strstr(other.errmsg, "address already in use"));
    lc.address = "not-an-address";
    assert_int_equal(amk_link_init(&other, &c->loop, &lc), AMK_LINK_EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_forward_write),
        T(test_no_leader_is_immediate),
        T(test_connect_refused_is_prompt),
        T(test_timeout_after_send),
        T(test_drop_after_send),
        T(test_not_leader_retries_once),
        T(test_not_leader_without_new_leader),
        T(test_read_waits_for_apply),
        T(test_read_retried_on_error),
        T(test_malformed_frames_close_the_connection),
        T(test_server_refuses_when_not_leader),
        T(test_heartbeats),
        T(test_close_fails_waiting_requests),
        T(test_listen_in_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
