/* raft/node.c: the node's lifecycle (init, start, close), the leadership watch
 * that proposes each term's no-op and trips on a silent UNAVAILABLE (#220),
 * logging and the accessors. Configuration checks live in node_config.c, the
 * guards around raft_uv in node_guard.c, requests in node_request.c and
 * node_member.c. */
#include "raft/node.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/node_internal.h"
#include "sm/cmd.h"

/* --- Logging and the fatal guard --- */

static void log_stderr(uint64_t id, int level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "WARN", "ERROR"};
    if (level >= AMK_RAFT_LOG_WARN) {
        fprintf(stderr, "amk-raft[%llu] %s: %s\n", (unsigned long long)id,
                names[level], msg);
    }
}

static void vlog(struct amk_raft_node *node, int level, const char *fmt,
                 va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (node->config.log != NULL) {
        node->config.log(node->config.log_data, level, msg);
    } else {
        log_stderr(node->config.id, level, msg);
    }
}

void node__log(struct amk_raft_node *node, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(node, level, fmt, ap);
    va_end(ap);
}

void node__fatal(struct amk_raft_node *node, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    node__log(node, AMK_RAFT_LOG_ERROR, "FATAL: %s", msg);
    if (node->config.fatal != NULL) {
        if (node->lifecycle == AMK_RAFT_NODE_STARTED ||
            node->lifecycle == AMK_RAFT_NODE_INIT) {
            node->lifecycle = AMK_RAFT_NODE_FAILED;
        }
        node->config.fatal(node->config.fatal_data, code, msg);
        return;
    }
    /* Always on stderr too: the sink may be buffered or remote. */
    log_stderr(node->config.id, AMK_RAFT_LOG_ERROR, msg);
    if (code == AMK_RAFT_EIO) {
        abort();
    }
    exit(EXIT_FAILURE);
}

int64_t node__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- The leadership watch --- */

static void nudge_check(struct amk_raft_node *node);

void node__check_state(struct amk_raft_node *node)
{
    raft_id leader_id;
    const char *leader_address;
    raft_term term;
    int state;

    /* What a follower queued in the raft callback that just returned, now
     * that raft has sent its answers (raft/fsm.h, apply_later). */
    amk_raft_fsm_drain(&node->fsm);
    if (node->checking) {
        return;
    }
    if (node->lifecycle == AMK_RAFT_NODE_CLOSING) {
        /* Only the leadership hand-over of close is still to verify. */
        node->checking = true;
        node__transfer_check(node);
        node->checking = false;
        return;
    }
    if (node->lifecycle != AMK_RAFT_NODE_STARTED) {
        return;
    }
    node->checking = true;
    state = raft_state(&node->raft);
    term = node->raft.current_term;

    if (state == RAFT_UNAVAILABLE) {
        /* DESIGN 0.15 defect 1: on a log conflict it cannot resolve (the
         * aftermath of upstream #220), or an I/O error in its tick, 0.15
         * turns the server UNAVAILABLE without telling anyone. */
        node__fatal(node, AMK_RAFT_EINTERNAL,
                    "raft turned UNAVAILABLE by itself (term %llu, commit "
                    "%llu, applied %llu): canonical/raft 0.15 does this on a "
                    "log conflict (upstream #220) or an I/O error; exiting so "
                    "the service manager restarts the node",
                    term, node->raft.commit_index, node->raft.last_applied);
        node->checking = false;
        return;
    }

    node__snapshot_schedule(node);

    raft_leader(&node->raft, &leader_id, &leader_address);
    if (leader_id != node->observed_leader ||
        (leader_id != 0 && term != node->observed_term)) {
        if (leader_id != 0) {
            node->stats.leader_changes++;
            node->observed_term = term;
            node__log(node, AMK_RAFT_LOG_INFO, "leader is %llu (%s), term %llu",
                      leader_id, leader_address, term);
        } else {
            node__log(node, AMK_RAFT_LOG_INFO, "no leader known (term %llu)",
                      term);
        }
        node->observed_leader = leader_id;
    }

    node__proposals_check(node);

    /* DESIGN 0.15 defect 1: a new leader commits an entry of its own term at
     * once (Raft paper §5.4.2, §8). Retried on every check until it goes
     * out (raft_apply refuses during a transfer). */
    if (state == RAFT_LEADER && node->noop_term != term &&
        node->raft.transfer == NULL) {
        if (node__propose_noop(node) == 0) {
            node->noop_term = term;
            node->stats.noops++;
        }
    }

    node__reads_kick(node);
    node__transfer_check(node);
    nudge_check(node);
    node->checking = false;
}

static void nudge_cb(struct raft_barrier *req, int status)
{
    /* May fire twice in 0.15 (#344-like): clearing a flag is idempotent. */
    struct amk_raft_node *node = req->data;
    (void)status;
    node->nudge_pending = false;
}

/* canonical/raft 0.15: a follower whose log ends in a longer tail of
 * uncommitted entries of an old term, conflicting with the leader's, stays
 * behind in an idle cluster with its commit index stuck: its rejection hint
 * is its last index, so the leader's probe never moves back while the
 * leader's own log is the shorter one (seen after restarts following
 * leadership hand-overs: integration/restart_all). New entries move the
 * leader's log past that tail, after which probing repairs it. So a new
 * leader whose log stays idle appends a raft barrier every 250 ms of its
 * first 10 s, 40 at most per term: a few tiny entries per election. */
static void nudge_check(struct amk_raft_node *node)
{
    struct raft *r = &node->raft;
    if (raft_state(r) != RAFT_LEADER || r->transfer != NULL ||
        node->nudge_pending) {
        return;
    }
    raft_index last = raft_last_index(r);
    uint64_t now = uv_now(node->loop);
    if (node->nudge_term != r->current_term) {
        node->nudge_term = r->current_term;
        node->nudge_term_start_ms = now;
        node->nudge_last = last;
        node->nudge_idle_since_ms = now;
        node->nudge_count = 0;
    }
    if (last != node->nudge_last) {
        node->nudge_last = last;
        node->nudge_idle_since_ms = now;
    } else if (now - node->nudge_term_start_ms < 10000 &&
               node->nudge_count < 40 &&
               now - node->nudge_idle_since_ms >= 250 &&
               r->configuration.n > 1) {
        node->nudge.data = node;
        if (raft_barrier(r, &node->nudge, nudge_cb) == 0) {
            node->nudge_pending = true;
            node->nudge_count++;
            node->stats.nudges++;
        }
        node->nudge_idle_since_ms = now;
    }
}

static void watch_cb(uv_timer_t *timer)
{
    node__check_state(timer->data);
}

/* --- Lifecycle --- */

static int make_noop_template(struct amk_raft_node *node)
{
    struct amk_cmd cmd;
    char errmsg[256] = "";
    int rv;

    rv = amk_cmd_init(&cmd, AMK_CMD_NOOP);
    if (rv == 0) {
        cmd.h.role = AMK_ROLE_SYSTEM;
        cmd.h.principal = amk_str_c("amkd");
        rv =
            amk_cmd_encode(&cmd, &node->noop_template, &node->noop_len, errmsg);
    }
    if (rv != 0) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "cannot encode the no-op command: %.200s (%s)", errmsg,
                 amk_code_name(rv));
        return rv == AMK_ENOMEM ? AMK_RAFT_ENOMEM : AMK_RAFT_EINTERNAL;
    }
    return 0;
}

int amk_raft_node_init(struct amk_raft_node *node, uv_loop_t *loop,
                       struct amk_sm *sm,
                       const struct amk_raft_node_config *config)
{
    int rv;

    memset(node, 0, sizeof *node);
    node->loop = loop;
    node->sm = sm;
    if (loop == NULL || sm == NULL || config == NULL) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "raft node: loop, state machine and config are required");
        return AMK_RAFT_EINVAL;
    }
    node->config.id = config->id; /* for log lines from here on */
    rv = node__config_check(node, config);
    if (rv != 0) {
        return rv;
    }
    rv = node__config_copy(node, config);
    if (rv != 0) {
        goto err_after_copy;
    }
    rv = make_noop_template(node);
    if (rv != 0) {
        goto err_after_copy;
    }

    rv = node->transport_ops->init(&node->transport, loop,
                                   config->transport_config, node->errmsg);
    if (rv != 0) {
        goto err_after_copy;
    }
    rv = raft_uv_init(&node->io, loop, node->data_dir, &node->transport.uv);
    if (rv != 0) {
        rv = amk_raft_code_from_raft(rv, node->errmsg, "raft data directory",
                                     node->io.errmsg);
        goto err_after_transport;
    }
    node__guard_io(node);

    rv = amk_raft_fsm_init(&node->fsm, sm);
    if (rv != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "raft FSM adapter: %.200s",
                 node->fsm.errmsg[0] != '\0' ? node->fsm.errmsg
                                             : amk_code_name(rv));
        rv = rv == AMK_ENOMEM ? AMK_RAFT_ENOMEM : AMK_RAFT_EINTERNAL;
        goto err_after_io;
    }
    /* raft_init runs raft_uv's init: checks and probes the data directory,
     * removes leftover temporary files, loads the metadata, initializes the
     * transport. Its errors are the "unusable data dir" ones. */
    rv = raft_init(&node->raft, &node->io, &node->fsm.fsm, node->config.id,
                   node->address);
    if (rv != 0) {
        char context[300];
        snprintf(context, sizeof context, "raft data directory %s",
                 node->data_dir);
        rv = amk_raft_code_from_raft(rv, node->errmsg, context,
                                     raft_errmsg(&node->raft));
        if (rv != AMK_RAFT_ENOMEM) {
            rv = AMK_RAFT_EIO; /* missing, not a directory, no access... */
        }
        goto err_after_fsm;
    }
    node->raft.data = node;
    node->raft.tracer = &node->tracer;
    amk_raft_fsm_bind(&node->fsm, &node->raft);
    raft_set_heartbeat_timeout(&node->raft, node->config.heartbeat_ms);
    raft_set_election_timeout(&node->raft, node->config.election_ms);
    raft_set_snapshot_threshold(&node->raft, node->config.snapshot_threshold);
    raft_set_snapshot_trailing(&node->raft, node->config.snapshot_trailing);
    raft_set_pre_vote(&node->raft, node->config.pre_vote);

    amk_raft_fsm_on_result(&node->fsm, node__proposals_on_result, node);
    amk_raft_fsm_apply_later(&node->fsm, true);
    /* None of these can fail on Unix. */
    uv_timer_init(loop, &node->watch);
    node->watch.data = node;
    uv_check_init(loop, &node->flush);
    node->flush.data = node;
    uv_idle_init(loop, &node->keep_polling);
    node->keep_polling.data = node;
    node->lifecycle = AMK_RAFT_NODE_INIT;
    return 0;

err_after_fsm:
    amk_raft_fsm_close(&node->fsm);
err_after_io:
    raft_uv_close(&node->io);
err_after_transport:
    node->transport_ops->release(&node->transport);
err_after_copy:
    node__config_free(node);
    return rv;
}

static int bootstrap(struct amk_raft_node *node, bool *bootstrapped)
{
    struct raft_configuration conf;
    unsigned i;
    int rv;

    *bootstrapped = false;
    if (node->config.n_peers == 0) {
        return 0;
    }
    raft_configuration_init(&conf);
    for (i = 0; i < node->config.n_peers; i++) {
        rv = raft_configuration_add(&conf, node->peers[i].id,
                                    node->peers[i].address, RAFT_VOTER);
        if (rv != 0) {
            raft_configuration_close(&conf);
            return amk_raft_code_from_raft(rv, node->errmsg, "peers", NULL);
        }
    }
    rv = raft_bootstrap(&node->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
        node__log(node, AMK_RAFT_LOG_INFO,
                  "%s already holds raft data: peers list ignored",
                  node->data_dir);
        return 0;
    }
    if (rv != 0) {
        char context[300];
        snprintf(context, sizeof context, "bootstrap in %s", node->data_dir);
        return amk_raft_code_from_raft(rv, node->errmsg, context,
                                       node->io.errmsg);
    }
    *bootstrapped = true;
    node__log(node, AMK_RAFT_LOG_INFO, "bootstrapped a cluster of %u voters",
              node->config.n_peers);
    return 0;
}

int amk_raft_node_start(struct amk_raft_node *node)
{
    unsigned corrupt_before;
    unsigned corrupt_after;
    bool pristine;
    bool bootstrapped = false;
    int rv;

    if (node->lifecycle != AMK_RAFT_NODE_INIT) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "raft node: start called twice or after close");
        return AMK_RAFT_ESTATE;
    }
    rv = node__check_bindable(node);
    if (rv != 0) {
        goto err;
    }
    corrupt_before = node__scan_corrupt_files(node->data_dir);
    if (corrupt_before > 0) {
        node__log(node, AMK_RAFT_LOG_WARN,
                  "%s holds %u corrupt-* file(s) set aside by an earlier "
                  "raft_uv auto-recovery",
                  node->data_dir, corrupt_before);
    }
    pristine = node__data_dir_pristine(node->data_dir);
    if (pristine && node->config.n_peers == 0) {
        node__log(node, AMK_RAFT_LOG_INFO,
                  "empty data directory and no peers: waiting to be added to "
                  "a cluster");
    }
    rv = bootstrap(node, &bootstrapped);
    if (rv != 0) {
        goto err;
    }

    rv = raft_start(&node->raft);
    if (rv != 0) {
        char context[300];
        const char *detail = raft_errmsg(&node->raft);
        if (detail[0] == '\0') {
            detail = node->io.errmsg;
        }
        if (rv == RAFT_CORRUPT) {
            snprintf(context, sizeof context,
                     "raft log in %s (auto-recovery %s)", node->data_dir,
                     node->config.auto_recovery ? "on" : "off");
        } else {
            snprintf(context, sizeof context, "raft start on %s with %s",
                     node->address, node->data_dir);
        }
        rv = amk_raft_code_from_raft(rv, node->errmsg, context, detail);
        if (bootstrapped) {
            node__undo_bootstrap(node);
        }
        goto err;
    }

    corrupt_after = node__scan_corrupt_files(node->data_dir);
    if (corrupt_after > corrupt_before) {
        node->stats.corruptions += corrupt_after - corrupt_before;
        node__log(node, AMK_RAFT_LOG_ERROR,
                  "raft_uv auto-recovery set %u corrupt segment(s) aside in "
                  "%s (corrupt-*) and started without their entries: this "
                  "node may have forgotten entries it acknowledged "
                  "(0.15 defect 3)",
                  corrupt_after - corrupt_before, node->data_dir);
    }
    node->tracer.enabled = node->config.trace;
    node->lifecycle = AMK_RAFT_NODE_STARTED;
    uv_timer_start(&node->watch, watch_cb, node->config.watch_ms,
                   node->config.watch_ms);
    node__log(node, AMK_RAFT_LOG_INFO,
              "started at %s in %s: term %llu, %llu entries, applied %llu",
              node->address, node->data_dir, node->raft.current_term,
              raft_last_index(&node->raft), node->raft.last_applied);
    node__check_state(node);
    return 0;

err:
    node->lifecycle = AMK_RAFT_NODE_FAILED;
    return rv;
}

/* --- Close --- */

static void handle_closed(uv_handle_t *handle)
{
    struct amk_raft_node *node = handle->data;
    amk_raft_node_close_cb cb = node->close_cb;

    if (--node->open_handles > 0) {
        return;
    }
    /* raft_close's callback has fired: raft_uv and the transport are idle. */
    raft_uv_close(&node->io);
    node->transport_ops->release(&node->transport);
    amk_raft_fsm_close(&node->fsm);
    node__barriers_free(node);
    node__batches_free(node);
    free(node->contacts);
    node->contacts = NULL;
    node->n_contacts = 0;
    node__config_free(node);
    node->lifecycle = AMK_RAFT_NODE_CLOSED;
    if (cb != NULL) {
        cb(node);
    }
}

static void raft_closed(struct raft *raft)
{
    struct amk_raft_node *node = raft->data;
    /* Releasing raft_uv right here would free memory its close path may
     * still touch after calling us: finish in the next loop iteration. */
    node->open_handles = 3;
    uv_close((uv_handle_t *)&node->watch, handle_closed);
    uv_close((uv_handle_t *)&node->flush, handle_closed);
    uv_close((uv_handle_t *)&node->keep_polling, handle_closed);
}

void node__close_raft(struct amk_raft_node *node)
{
    node__reads_fail(node, AMK_RAFT_ESHUTDOWN);
    uv_timer_stop(&node->watch);
    /* raft_close fails the pending applies, barriers and changes (their
     * callbacks map the status to AMK_RAFT_ESHUTDOWN) and closes raft_uv,
     * which closes the transport. */
    raft_close(&node->raft, raft_closed);
    /* What raft did not fail itself: queued proposals, and those in flight
     * whose batch raft already forgot. */
    node__proposals_close(node);
    node__transfer_finish(node, AMK_RAFT_ESHUTDOWN);
}

static void close_timer_cb(uv_timer_t *timer)
{
    node__close_raft(timer->data);
}

static void close_transfer_cb(struct amk_raft_transfer *req, int status)
{
    struct amk_raft_node *node = req->node;
    if (status == 0) {
        node__log(node, AMK_RAFT_LOG_INFO,
                  "closing: leadership handed over to %llu",
                  (unsigned long long)node->observed_leader);
    } else {
        node__log(node, AMK_RAFT_LOG_WARN,
                  "closing: leadership hand-over not confirmed (%s)",
                  amk_raft_code_name(status));
    }
    /* From a loop callback: never close raft inside raft's own callbacks. */
    uv_timer_start(&node->watch, close_timer_cb, 0, 0);
}

int amk_raft_node_close(struct amk_raft_node *node, amk_raft_node_close_cb cb)
{
    bool was_started = node->lifecycle == AMK_RAFT_NODE_STARTED;

    if (node->lifecycle == AMK_RAFT_NODE_CLOSING ||
        node->lifecycle == AMK_RAFT_NODE_CLOSED) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "raft node: close called twice");
        return AMK_RAFT_ESTATE;
    }
    node->lifecycle = AMK_RAFT_NODE_CLOSING;
    node->close_cb = cb;
    if (node->stats.batches > 0) {
        node__log(node, AMK_RAFT_LOG_INFO,
                  "closing: %llu proposals were appended in %llu batches",
                  (unsigned long long)node->stats.batched,
                  (unsigned long long)node->stats.batches);
    }

    if (was_started && raft_state(&node->raft) == RAFT_LEADER &&
        node->transfer == NULL) {
        struct amk_raft_transfer *req = &node->close_transfer;
        memset(req, 0, sizeof *req);
        req->node = node;
        req->cb = close_transfer_cb;
        req->target = 0;
        if (node__transfer_start(node, req, 1) == 0) {
            node__log(node, AMK_RAFT_LOG_INFO,
                      "closing: handing leadership over");
            return 0; /* the watch keeps running to verify it */
        }
    }
    uv_timer_start(&node->watch, close_timer_cb, 0, 0);
    return 0;
}

/* --- Accessors --- */

void amk_raft_node_on_applied(struct amk_raft_node *node,
                              amk_raft_fsm_applied_cb cb, void *data)
{
    amk_raft_fsm_on_applied(&node->fsm, cb, data);
}

int amk_raft_node_state(const struct amk_raft_node *node)
{
    return node->raft.state;
}

int amk_raft_node_lifecycle(const struct amk_raft_node *node)
{
    return node->lifecycle;
}

uint64_t amk_raft_node_id(const struct amk_raft_node *node)
{
    return node->config.id;
}

uint64_t amk_raft_node_term(const struct amk_raft_node *node)
{
    return node->raft.current_term;
}

uint64_t amk_raft_node_leader(struct amk_raft_node *node, const char **address)
{
    raft_id id = 0;
    const char *leader_address = NULL;
    if (node->lifecycle == AMK_RAFT_NODE_STARTED) {
        raft_leader(&node->raft, &id, &leader_address);
    }
    if (address != NULL) {
        *address = leader_address;
    }
    return id;
}

uint64_t amk_raft_node_commit_index(const struct amk_raft_node *node)
{
    return node->raft.commit_index;
}

uint64_t amk_raft_node_applied_index(const struct amk_raft_node *node)
{
    return amk_raft_fsm_applied_index(&node->fsm, node->raft.last_applied);
}

uint64_t amk_raft_node_leader_changes(const struct amk_raft_node *node)
{
    return node->stats.leader_changes;
}

uint64_t amk_raft_node_deferred(const struct amk_raft_node *node)
{
    return node->fsm.n_deferred;
}

void amk_raft_node_stats(const struct amk_raft_node *node,
                         struct amk_raft_node_stats *stats)
{
    *stats = node->stats;
    stats->snapshot_target = node->snapshot_target;
    stats->deferred = node->fsm.n_deferred;
    stats->deferred_total = node->fsm.n_deferred_total;
}

static bool heard_from(const struct amk_raft_node *node, uint64_t id)
{
    unsigned i;
    for (i = 0; i < node->n_contacts; i++) {
        if (node->contacts[i].id == id) {
            return uv_now(node->loop) - node->contacts[i].last_ms <
                   2 * (uint64_t)node->config.election_ms;
        }
    }
    return false;
}

int amk_raft_node_members(struct amk_raft_node *node,
                          struct amk_raft_member **members, unsigned *n)
{
    const struct raft_configuration *conf = &node->raft.configuration;
    bool leader = node->lifecycle == AMK_RAFT_NODE_STARTED &&
                  raft_state(&node->raft) == RAFT_LEADER;
    unsigned i;

    *members = NULL;
    *n = 0;
    if (conf->n == 0) {
        return 0;
    }
    *members = calloc(conf->n, sizeof **members);
    if (*members == NULL) {
        snprintf(node->errmsg, sizeof node->errmsg, "out of memory");
        return AMK_RAFT_ENOMEM;
    }
    for (i = 0; i < conf->n; i++) {
        struct amk_raft_member *m = &(*members)[i];
        m->id = conf->servers[i].id;
        snprintf(m->address, sizeof m->address, "%s", conf->servers[i].address);
        m->role = conf->servers[i].role;
        m->reachable = -1;
        if (leader) {
            m->reachable = m->id == node->config.id || heard_from(node, m->id);
        }
    }
    *n = conf->n;
    return 0;
}

int node__check_leader(struct amk_raft_node *node, const char *what)
{
    raft_id leader_id;
    const char *leader_address;

    if (node->lifecycle == AMK_RAFT_NODE_CLOSING ||
        node->lifecycle == AMK_RAFT_NODE_CLOSED) {
        snprintf(node->errmsg, sizeof node->errmsg, "%s: node is closing",
                 what);
        return AMK_RAFT_ESHUTDOWN;
    }
    if (node->lifecycle != AMK_RAFT_NODE_STARTED) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "%s: node is not running (%s)", what,
                 node->lifecycle == AMK_RAFT_NODE_INIT ? "not started"
                                                       : "failed");
        return AMK_RAFT_ESTATE;
    }
    if (raft_state(&node->raft) != RAFT_LEADER) {
        raft_leader(&node->raft, &leader_id, &leader_address);
        if (leader_id != 0) {
            snprintf(node->errmsg, sizeof node->errmsg,
                     "%s: not the leader; the leader is %llu at %s", what,
                     leader_id, leader_address);
        } else {
            snprintf(node->errmsg, sizeof node->errmsg,
                     "%s: not the leader; no leader known", what);
        }
        return AMK_RAFT_ENOTLEADER;
    }
    if (node->raft.transfer != NULL || node->transfer != NULL) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "%s: leadership transfer in progress", what);
        return AMK_RAFT_EBUSY;
    }
    return 0;
}
