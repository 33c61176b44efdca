/* tests/unit/raft/node_harness.h: the harness of the node tests: nodes in one
 * process on one loop, bounded waits, and synchronous wrappers around the
 * node's requests. Header-only, included by test_node.c,
 * test_node_propose.c and test_transport.c (its functions are static inline:
 * each test uses some). */
#ifndef AMK_TESTS_UNIT_RAFT_NODE_HARNESS_H
#define AMK_TESTS_UNIT_RAFT_NODE_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "raft/node.h"
#include "sm/cmd.h"

#define MAX_NODES 4
#define WAIT_MS   10000 /* bound of every wait */

struct tnode {
    struct amk_raft_node node;
    struct amk_sm *sm;
    uint64_t id;
    char dir[PATH_MAX];
    char address[32];
    bool open;        /* initialized and not yet closed */
    bool closed;      /* close callback fired */
    unsigned applied; /* on_applied calls */
    unsigned peers_ignored;
    struct cluster *c;
};

struct cluster {
    uv_loop_t loop;
    uv_timer_t wake; /* keeps UV_RUN_ONCE from blocking */
    char root[64];
    int port_base;
    struct tnode t[MAX_NODES];
    struct amk_raft_peer peers[MAX_NODES];
    unsigned n_peers;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned fatal_calls;
};

/* --- Harness --- */

static unsigned port_block; /* one block of ports per test */

static inline void log_sink(void *data, int level, const char *msg)
{
    struct tnode *t = data;
    if (strstr(msg, "peers list ignored") != NULL) {
        t->peers_ignored++;
    }
    if (level >= AMK_RAFT_LOG_WARN || getenv("AMK_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "    [node %llu] %s\n", (unsigned long long)t->id, msg);
    }
}

static inline void fatal_hook(void *data, int code, const char *msg)
{
    struct tnode *t = data;
    t->c->fatal_calls++;
    fprintf(stderr, "    [node %llu] FATAL hook (%s): %s\n",
            (unsigned long long)t->id, amk_raft_code_name(code), msg);
}

static inline void on_applied(void *data, const struct amk_sm_result *result)
{
    struct tnode *t = data;
    (void)result;
    t->applied++;
}

static inline void wake_cb(uv_timer_t *timer)
{
    (void)timer;
}

typedef bool (*pred_fn)(struct cluster *c, void *arg);

/* Runs the loop until pred holds or timeout_ms pass. */
static inline bool run_until(struct cluster *c, pred_fn pred, void *arg,
                             unsigned timeout_ms)
{
    uint64_t deadline;
    uv_update_time(&c->loop);
    deadline = uv_now(&c->loop) + timeout_ms;
    while (!pred(c, arg)) {
        if (uv_now(&c->loop) >= deadline) {
            return false;
        }
        uv_run(&c->loop, UV_RUN_ONCE);
    }
    return true;
}

static inline bool flag_set(struct cluster *c, void *arg)
{
    (void)c;
    return *(bool *)arg;
}

static inline void cluster_setup(struct cluster *c, unsigned n_peers)
{
    unsigned i;
    memset(c, 0, sizeof *c);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    assert_int_equal(uv_timer_init(&c->loop, &c->wake), 0);
    assert_int_equal(uv_timer_start(&c->wake, wake_cb, 5, 5), 0);
    snprintf(c->root, sizeof c->root, "/tmp/amk-test-node-XXXXXX");
    assert_non_null(mkdtemp(c->root));
    /* 10000..29950 by pid, then 5 ports per test: clear of the ephemeral
     * range (32768+) that outgoing connections draw from. */
    c->port_base = 10000 + (int)(getpid() % 400) * 50 + (int)port_block * 5;
    port_block = (port_block + 1) % 10;
    c->n_peers = n_peers;
    for (i = 0; i < MAX_NODES; i++) {
        struct tnode *t = &c->t[i];
        t->c = c;
        t->id = i + 1;
        snprintf(t->dir, sizeof t->dir, "%s/n%u", c->root, i + 1);
        assert_int_equal(mkdir(t->dir, 0700), 0);
        snprintf(t->address, sizeof t->address, "127.0.0.1:%d",
                 c->port_base + (int)i);
        if (i < n_peers) {
            c->peers[i].id = t->id;
            c->peers[i].address = t->address;
        }
    }
}

static inline void node_config(struct cluster *c, struct tnode *t,
                               struct amk_raft_node_config *cfg,
                               bool with_peers)
{
    amk_raft_node_config_default(cfg);
    cfg->id = t->id;
    cfg->address = t->address;
    cfg->data_dir = t->dir;
    if (with_peers) {
        cfg->peers = c->peers;
        cfg->n_peers = c->n_peers;
    }
    if (c->snapshot_threshold != 0) {
        cfg->snapshot_threshold = c->snapshot_threshold;
        cfg->snapshot_trailing = c->snapshot_trailing;
    }
    cfg->log = log_sink;
    cfg->log_data = t;
    cfg->fatal = fatal_hook;
    cfg->fatal_data = t;
}

/* Opens a fresh sm and starts node i (0-based); returns start's code. */
static inline int node_try_open(struct cluster *c, unsigned i, bool with_peers,
                                bool auto_recovery)
{
    struct tnode *t = &c->t[i];
    struct amk_raft_node_config cfg;
    char errmsg[256];
    int rv;

    assert_false(t->open);
    assert_int_equal(amk_sm_open(&t->sm, NULL, errmsg), 0);
    node_config(c, t, &cfg, with_peers);
    cfg.auto_recovery = auto_recovery;
    t->applied = 0;
    t->closed = false;
    rv = amk_raft_node_init(&t->node, &c->loop, t->sm, &cfg);
    if (rv != 0) {
        fprintf(stderr, "init: %s\n", t->node.errmsg);
    }
    assert_int_equal(rv, 0);
    t->open = true;
    amk_raft_node_on_applied(&t->node, on_applied, t);
    return amk_raft_node_start(&t->node);
}

static inline void node_open(struct cluster *c, unsigned i, bool with_peers)
{
    int rv = node_try_open(c, i, with_peers, false);
    if (rv != 0) {
        fprintf(stderr, "start: %s\n", c->t[i].node.errmsg);
    }
    assert_int_equal(rv, 0);
}

static inline void closed_cb(struct amk_raft_node *node)
{
    struct tnode *t =
        (struct tnode *)((char *)node - offsetof(struct tnode, node));
    t->closed = true;
}

static inline void node_close(struct cluster *c, unsigned i)
{
    struct tnode *t = &c->t[i];
    assert_true(t->open);
    assert_int_equal(amk_raft_node_close(&t->node, closed_cb), 0);
    assert_true(run_until(c, flag_set, &t->closed, WAIT_MS));
    assert_int_equal(amk_raft_node_lifecycle(&t->node), AMK_RAFT_NODE_CLOSED);
    amk_sm_close(t->sm);
    t->sm = NULL;
    t->open = false;
}

static inline int rm_entry(const char *path, const struct stat *st, int flag,
                           struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void cluster_teardown(struct cluster *c)
{
    unsigned i;
    for (i = 0; i < MAX_NODES; i++) {
        if (c->t[i].open) {
            node_close(c, i);
        }
    }
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    /* Every handle the nodes opened is closed again. */
    assert_int_equal(uv_loop_close(&c->loop), 0);
    nftw(c->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    assert_int_equal(c->fatal_calls, 0);
}

static inline int setup(void **state)
{
    struct cluster *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cluster_setup(c, 3);
    *state = c;
    return 0;
}

static inline int teardown(void **state)
{
    struct cluster *c = *state;
    cluster_teardown(c);
    free(c);
    return 0;
}

/* --- Cluster predicates --- */

/* Index of the single leader every open voter agrees on, or -1. */
static inline int agreed_leader(struct cluster *c)
{
    int leader = -1;
    uint64_t leader_id = 0;
    unsigned i;
    for (i = 0; i < MAX_NODES; i++) {
        struct tnode *t = &c->t[i];
        if (!t->open) {
            continue;
        }
        if (amk_raft_node_state(&t->node) == AMK_RAFT_LEADER) {
            if (leader >= 0) {
                return -1;
            }
            leader = (int)i;
        }
    }
    if (leader < 0) {
        return -1;
    }
    leader_id = c->t[leader].id;
    for (i = 0; i < MAX_NODES; i++) {
        struct tnode *t = &c->t[i];
        uint64_t seen;
        if (!t->open || amk_raft_node_state(&t->node) == AMK_RAFT_UNAVAILABLE) {
            continue;
        }
        seen = amk_raft_node_leader(&t->node, NULL);
        if (seen != leader_id && (int)i < (int)c->n_peers) {
            return -1;
        }
    }
    return leader;
}

static inline bool has_leader(struct cluster *c, void *arg)
{
    (void)arg;
    return agreed_leader(c) >= 0;
}

static inline int wait_leader(struct cluster *c)
{
    assert_true(run_until(c, has_leader, NULL, WAIT_MS));
    return agreed_leader(c);
}

struct applied_arg {
    uint64_t index;
};

/* Every open node's sm has applied at least arg->index, and all the same. */
static inline bool all_applied(struct cluster *c, void *arg)
{
    struct applied_arg *a = arg;
    uint64_t first = 0;
    bool any = false;
    unsigned i;
    for (i = 0; i < MAX_NODES; i++) {
        uint64_t applied;
        if (!c->t[i].open) {
            continue;
        }
        applied = amk_sm_applied_index(c->t[i].sm);
        if (applied < a->index || (any && applied != first)) {
            return false;
        }
        first = applied;
        any = true;
    }
    return true;
}

/* All open nodes hold byte-identical databases (a node restored from a
 * snapshot included). */
static inline void assert_same_state(struct cluster *c)
{
    void *ref = NULL;
    size_t ref_len = 0;
    unsigned ref_node = 0;
    unsigned i;
    for (i = 0; i < MAX_NODES; i++) {
        const unsigned char *a;
        const unsigned char *b;
        void *buf;
        size_t len;
        size_t k;
        if (!c->t[i].open) {
            continue;
        }
        assert_int_equal(amk_sm_serialize(c->t[i].sm, &buf, &len), 0);
        if (ref == NULL) {
            ref = buf;
            ref_len = len;
            ref_node = i;
            continue;
        }
        assert_int_equal(len, ref_len);
        a = buf;
        b = ref;
        for (k = 0; k < len; k++) {
            if (a[k] != b[k]) {
                fprintf(stderr, "    node %u and node %u differ at byte %zu\n",
                        ref_node + 1, i + 1, k);
                fail();
            }
        }
        free(buf);
    }
    free(ref);
}

/* --- Requests --- */

static inline void *encode_centre(unsigned n, size_t *len)
{
    struct amk_cmd cmd;
    char id[32];
    char errmsg[256];
    void *buf;

    snprintf(id, sizeof id, "c%u", n);
    assert_int_equal(amk_cmd_init(&cmd, AMK_CMD_CENTRE_REGISTER), 0);
    cmd.h.role = AMK_ROLE_ADMIN;
    cmd.h.principal = amk_str_c("admin@test");
    cmd.u.centre_register.id = amk_str_c(id);
    cmd.u.centre_register.name = amk_str_c(id);
    cmd.u.centre_register.region = amk_str_c("helse-vest");
    assert_int_equal(amk_cmd_encode(&cmd, &buf, len, errmsg), 0);
    return buf;
}

struct pending {
    struct amk_raft_propose req;
    bool done;
    int status;
};

static inline void propose_cb(struct amk_raft_propose *req, int status)
{
    struct pending *p = req->data;
    p->done = true;
    p->status = status;
}

/* Proposes centre c<n> on node i and waits for the answer. Returns the
 * status; *result (may be NULL) gets the result, else it is cleared. */
static inline int propose(struct cluster *c, unsigned i, unsigned n,
                          struct amk_sm_result *result)
{
    struct pending p;
    size_t len;
    void *cmd = encode_centre(n, &len);
    int rv;

    memset(&p, 0, sizeof p);
    p.req.data = &p;
    rv = amk_raft_node_propose(&c->t[i].node, &p.req, cmd, len, propose_cb);
    free(cmd);
    if (rv != 0) {
        return rv;
    }
    assert_false(p.done); /* never from inside the call */
    assert_true(run_until(c, flag_set, &p.done, WAIT_MS));
    if (result != NULL) {
        *result = p.req.result;
    } else {
        amk_sm_result_clear(&p.req.result);
    }
    return p.status;
}

/* Proposes centres first..last on the leader i, each answered OK. */
static inline uint64_t propose_many(struct cluster *c, unsigned i,
                                    unsigned first, unsigned last)
{
    struct amk_sm_result result;
    uint64_t index = 0;
    unsigned n;
    for (n = first; n <= last; n++) {
        assert_int_equal(propose(c, i, n, &result), 0);
        assert_int_equal(result.code, AMK_OK);
        assert_true(result.index > index);
        index = result.index;
        amk_sm_result_clear(&result);
    }
    return index;
}

struct change_wait {
    struct amk_raft_change req;
    bool done;
    int status;
};

static inline void change_cb(struct amk_raft_change *req, int status)
{
    struct change_wait *w = req->data;
    w->done = true;
    w->status = status;
}

struct transfer_wait {
    struct amk_raft_transfer req;
    bool done;
    int status;
};

static inline void transfer_cb(struct amk_raft_transfer *req, int status)
{
    struct transfer_wait *w = req->data;
    w->done = true;
    w->status = status;
}

#endif
