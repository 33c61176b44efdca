/* server/main.c: amkd: parses the configuration, opens the state machine,
 * the HTTP and cluster-link listeners and the raft node on one libuv loop
 * (joining a running cluster with --join), and runs until SIGTERM/SIGINT,
 * when it finishes in-flight requests, hands leadership over and exits 0.
 * Start-up errors print one line and exit non-zero. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"

#define HTTP_DRAIN_MS 5000

static int level_of(const char *name)
{
    if (strcmp(name, "error") == 0) {
        return LOG_ERROR;
    }
    if (strcmp(name, "warn") == 0) {
        return LOG_WARN;
    }
    return strcmp(name, "debug") == 0 ? LOG_DEBUG : LOG_INFO;
}

static void raft_log(void *data, int level, const char *msg)
{
    /* amk_raft_log_level counts the other way (debug 0 .. error 3). */
    static const int levels[] = {
        [AMK_RAFT_LOG_DEBUG] = LOG_DEBUG,
        [AMK_RAFT_LOG_INFO] = LOG_INFO,
        [AMK_RAFT_LOG_WARN] = LOG_WARN,
        [AMK_RAFT_LOG_ERROR] = LOG_ERROR,
    };
    bool known = level >= AMK_RAFT_LOG_DEBUG && level <= AMK_RAFT_LOG_ERROR;
    amk_log(data, known ? levels[level] : LOG_ERROR, "raft: %s", msg);
}

static void http_access(void *data, const struct amk_http_access *access)
{
    struct amk_node *node = data;
    bool warn;
    amk_access_log_record(&node->access_log, access, &warn);
    if (warn) {
        amk_log(node, LOG_ERROR,
                "access log %s: a line could not be written (%llu so far);"
                " reads are still answered",
                node->access_log.path,
                (unsigned long long)node->access_log.errors);
    }
}

static void http_log(void *data, int level, const char *msg)
{
    amk_log(data, level, "http: %s", msg);
}

static uint64_t applied_index(void *data)
{
    struct amk_node *node = data;
    return amk_sm_applied_index(node->sm);
}

/* The data directory must exist (it is created if missing) and be a
 * writable directory; nothing in it is touched here. */
static int check_data_dir(struct amk_node *node)
{
    const char *dir = node->config.data_dir;
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0) {
            snprintf(node->errmsg, sizeof node->errmsg, "--data-dir %.200s: %s",
                     dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "--data-dir %.200s: not a directory", dir);
        return -1;
    }
    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "--data-dir %.200s: %s",
                 dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Whether the data directory holds raft data (raft_uv's metadata files,
 * which it writes on bootstrap and on the first entry it receives). Looked
 * at before raft touches the directory. */
static bool has_raft_data(const char *dir)
{
    static const char *const files[] = {"metadata1", "metadata2"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (access(path, F_OK) == 0) {
            return true;
        }
    }
    return false;
}

/* Checks what config.c cannot see alone: a node of a multi-node cluster
 * must serve the cluster link, or followers cannot forward to it. */
static int check_config(struct amk_node *node)
{
    const struct amk_config *c = &node->config;
    struct sockaddr_storage addr;
    if (c->binary[0] == '\0' && (c->n_peers > 1 || c->join[0] != '\0')) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "--binary: required in a multi-node cluster (IP:port of"
                 " the cluster link)");
        return -1;
    }
    if (c->binary[0] != '\0' &&
        amk_link_parse_address(c->binary, true, &addr) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "--binary %.64s: not an IP:port address", c->binary);
        return -1;
    }
    if (c->join[0] != '\0' &&
        amk_link_parse_address(c->join, false, &addr) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "--join %.64s: not the IP:port of a member's HTTP API",
                 c->join);
        return -1;
    }
    return 0;
}

static void close_handles(struct amk_node *node)
{
    uv_close((uv_handle_t *)&node->ticker, NULL);
    uv_close((uv_handle_t *)&node->sigterm, NULL);
    uv_close((uv_handle_t *)&node->sigint, NULL);
}

static void link_closed(struct amk_link *link)
{
    (void)link;
}

/* Last: the link, once raft has failed or answered everything it served
 * for followers. */
static void raft_closed(struct amk_raft_node *raft)
{
    struct amk_node *node =
        (struct amk_node *)((char *)raft - offsetof(struct amk_node, raft));
    if (node->link_open) {
        node->link_open = false;
        amk_link_close(&node->link, link_closed);
    }
}

/* Every applied command that produced an event goes to the live event
 * streams, in index order. */
static void on_applied(void *data, const struct amk_sm_result *result)
{
    struct amk_node *node = data;
    if (result->event != NULL) {
        amk_api_events_publish(&node->api.events, result->index, result->event);
    }
}

static void http_closed(void *data)
{
    struct amk_node *node = data;
    node->http = NULL;
    amk_api_events_close(&node->api.events);
    if (node->raft_open) {
        node->raft_open = false;
        amk_raft_node_close(&node->raft, raft_closed);
    } else {
        raft_closed(&node->raft);
    }
    close_handles(node);
}

static void stop(struct amk_node *node, const char *why)
{
    if (node->stopping) {
        return;
    }
    node->stopping = true;
    amk_log(node, LOG_INFO, "stopping (%s)", why);
    amk_join_cancel(node);
    if (node->http != NULL) {
        /* Finish in-flight requests first, then raft hands over leadership
         * as it closes. */
        amk_http_close(node->http, HTTP_DRAIN_MS, http_closed, node);
    } else {
        http_closed(node);
    }
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct amk_node *node = handle->data;
    stop(node, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_join_done(struct amk_node *node, int status)
{
    if (status != 0) {
        node->exit_code = 1;
        stop(node, "could not join the cluster");
    }
}

static void on_tick(uv_timer_t *timer)
{
    struct amk_node *node = timer->data;
    bool leader = amk_raft_node_state(&node->raft) == AMK_RAFT_LEADER;
    if (leader != node->was_leader) {
        node->was_leader = leader;
        if (leader) {
            /* Liveness heard under an earlier leader is not ours to
             * trust: the detection period starts afresh. */
            amk_link_liveness_reset(&node->link);
        }
    }
    if (node->link_open && !node->stopping) {
        amk_link_tick(&node->link, node->config.centre);
        amk_directory_tick(node);
        amk_supervisor_tick(node);
    }
    const char *why = "?";
    bool ready = amk_node_ready(node, &why);
    if (ready != node->ready) {
        node->ready = ready;
        if (ready) {
            amk_log(node, LOG_INFO, "ready: leader %llu, term %llu",
                    (unsigned long long)amk_raft_node_leader(&node->raft, NULL),
                    (unsigned long long)amk_raft_node_term(&node->raft));
        } else {
            amk_log(node, LOG_WARN, "not ready: %s (term %llu)", why,
                    (unsigned long long)amk_raft_node_term(&node->raft));
        }
    }
}

static int open_http(struct amk_node *node)
{
    char errmsg[AMK_HTTP_ERRMSG_SIZE];
    node->router = amk_http_router_new();
    if (node->router == NULL) {
        snprintf(node->errmsg, sizeof node->errmsg, "out of memory");
        return -1;
    }
    if (amk_cluster_routes(node, errmsg) != 0 ||
        amk_api_register(node->router, &node->api, errmsg) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "routes: %.240s", errmsg);
        return -1;
    }
    struct amk_http_config hc;
    amk_http_config_default(&hc);
    hc.address = node->config.http;
    hc.router = node->router;
    hc.applied_index = applied_index;
    hc.applied_index_data = node;
    hc.log = http_log;
    hc.log_data = node;
    hc.access = http_access;
    hc.access_data = node;
    const struct amk_config *cfg = &node->config;
    if (cfg->max_body_bytes != 0) {
        hc.limits.max_body = cfg->max_body_bytes;
    }
    if (cfg->max_connections != 0) {
        hc.limits.max_connections = cfg->max_connections;
    }
    if (cfg->http_read_timeout_ms != 0) {
        hc.limits.request_timeout_ms = cfg->http_read_timeout_ms;
        hc.limits.http2_idle_timeout_ms = cfg->http_read_timeout_ms;
    }
    if (cfg->sse_buffer_bytes != 0) {
        hc.limits.sse_buffer = cfg->sse_buffer_bytes;
    }
    if (amk_http_open(&node->http, &node->loop, &hc, errmsg) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "--http: %.240s", errmsg);
        return -1;
    }
    return 0;
}

/* configured with its port replaced by the bound one (port 0 picks). */
static void effective_address(const char *configured, unsigned port, char *out,
                              size_t size)
{
    const char *colon = strrchr(configured, ':');
    if (colon == NULL || port == 0) {
        snprintf(out, size, "%s", configured);
        return;
    }
    snprintf(out, size, "%.*s:%u", (int)(colon - configured), configured, port);
}

static int open_link(struct amk_node *node)
{
    struct amk_link_config lc;
    memset(&lc, 0, sizeof lc);
    lc.address = node->config.binary;
    lc.self_id = node->config.id;
    lc.request_timeout_ms = node->config.request_timeout_ms;
    amk_backend_link_env(node, &lc.env);
    if (amk_link_init(&node->link, &node->loop, &lc) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "--binary: %.240s",
                 node->link.errmsg);
        return -1;
    }
    node->link_open = true;
    effective_address(node->config.http, amk_http_port(node->http),
                      node->http_address, sizeof node->http_address);
    if (node->config.binary[0] != '\0') {
        effective_address(node->config.binary, amk_link_port(&node->link),
                          node->binary_address, sizeof node->binary_address);
    }
    return 0;
}

/* A node whose configuration (loaded from its data) has several members
 * needs the link, whatever flags it was restarted with. */
static int check_membership(struct amk_node *node)
{
    struct amk_raft_member *members = NULL;
    unsigned n = 0;
    if (node->config.binary[0] != '\0' ||
        amk_raft_node_members(&node->raft, &members, &n) != 0) {
        return 0;
    }
    free(members);
    if (n > 1) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "--binary: required: this node belongs to a cluster of %u"
                 " members",
                 n);
        return -1;
    }
    return 0;
}

static int open_raft(struct amk_node *node)
{
    struct amk_raft_node_config rc;
    amk_raft_node_config_default(&rc);
    struct amk_raft_peer peers[AMK_CONFIG_MAX_PEERS];
    for (unsigned i = 0; i < node->config.n_peers; i++) {
        peers[i].id = node->config.peers[i].id;
        peers[i].address = node->config.peers[i].address;
    }
    rc.id = node->config.id;
    rc.address = node->config.raft;
    rc.data_dir = node->config.data_dir;
    rc.peers = peers;
    rc.n_peers = node->config.n_peers;
    rc.heartbeat_ms = node->config.heartbeat_ms;
    rc.election_ms = node->config.election_ms;
    rc.snapshot_threshold = node->config.snapshot_threshold;
    rc.snapshot_trailing = node->config.snapshot_trailing;
    rc.log = raft_log;
    rc.log_data = node;
    if (amk_raft_node_init(&node->raft, &node->loop, node->sm, &rc) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "%s", node->raft.errmsg);
        return -1;
    }
    amk_raft_node_on_applied(&node->raft, on_applied, node);
    node->raft_open = true;
    if (amk_raft_node_start(&node->raft) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "%s", node->raft.errmsg);
        return -1;
    }
    /* What the log held at start: /readyz waits until it is applied. raft/
     * has no accessor for the last index yet, so this asks canonical/raft's
     * public raft_last_index() on the node's raft struct directly. */
    node->start_index = raft_last_index(&node->raft.raft);
    node->start_commit = amk_raft_node_commit_index(&node->raft);
    return 0;
}

/* The access log's path, and what named it (for error messages). */
static const char *access_log_path(const struct amk_node *node, char *path,
                                   size_t size)
{
    if (node->config.access_log[0] != '\0') {
        snprintf(path, size, "%s", node->config.access_log);
        return "--access-log";
    }
    snprintf(path, size, "%s/access.log", node->config.data_dir);
    return "access log (in --data-dir)";
}

/* Checked with the configuration, opened last of the start steps: a node
 * that cannot start for another reason leaves no new file behind. */
static int check_access_log(struct amk_node *node)
{
    char path[600];
    const char *what = access_log_path(node, path, sizeof path);
    return amk_access_log_check(path, what, node->errmsg);
}

static int open_access_log(struct amk_node *node)
{
    char path[600];
    const char *what = access_log_path(node, path, sizeof path);
    return amk_access_log_open(&node->access_log, path, what, node->config.id,
                               node->sm, node->errmsg);
}

static void close_walk(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle)) {
        uv_close(handle, NULL);
    }
}

/* Start-up failed after the loop began owning handles: close what is open
 * and let the loop drain. */
static void abandon(struct amk_node *node)
{
    amk_join_cancel(node);
    if (node->http != NULL) {
        amk_http_close(node->http, 0, NULL, NULL);
        node->http = NULL;
    }
    if (node->link_open) {
        node->link_open = false;
        amk_link_close(&node->link, NULL);
    }
    if (node->raft_open) {
        node->raft_open = false;
        amk_raft_node_close(&node->raft, raft_closed);
    }
    uv_run(&node->loop, UV_RUN_DEFAULT);
    uv_walk(&node->loop, close_walk, NULL);
    uv_run(&node->loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
    static struct amk_node node; /* large; one per process */
    char errmsg[256];
    int rv = amk_config_load(&node.config, argc, argv, errmsg);
    if (rv != 0) {
        if (rv < 0) {
            fprintf(stderr, "amkd: %s\n", errmsg);
        }
        return rv < 0 ? 2 : 0;
    }
    node.log_level = level_of(node.config.log_level);
    signal(SIGPIPE, SIG_IGN);
    if (node.config.insecure) {
        amk_log(&node, LOG_WARN,
                "INSECURE MODE: no TLS, no authentication; every caller is an"
                " admin. For local development only.");
    } else {
        fprintf(stderr, "amkd: --tls-dir: TLS is not implemented yet; run"
                        " with --insecure on a trusted network\n");
        return 2;
    }
    if (check_config(&node) != 0 || check_data_dir(&node) != 0 ||
        check_access_log(&node) != 0) {
        fprintf(stderr, "amkd: %s\n", node.errmsg);
        return 2;
    }
    bool join = node.config.join[0] != '\0' && node.config.n_peers == 0 &&
                !has_raft_data(node.config.data_dir);
    struct amk_sm_config smc;
    amk_sm_config_default(&smc);
    if (node.config.events_retained != 0) {
        smc.events_retained = node.config.events_retained;
    }
    if (node.config.idem_window_s != 0) {
        smc.idem_window_ms = (int64_t)node.config.idem_window_s * 1000;
    }
    smc.audit_retained = node.config.audit_retained;
    if (amk_sm_open(&node.sm, &smc, errmsg) != 0) {
        fprintf(stderr, "amkd: state machine: %s\n", errmsg);
        return 1;
    }
    node.access_log.fd = -1; /* opened once the listeners are bound */
    uv_loop_init(&node.loop);
    amk_backend_init(&node);
    amk_api_events_init(&node.api.events, node.config.max_subscribers);
    /* Listeners first: a busy port must fail before raft touches the data
     * dir. */
    if (open_http(&node) != 0 || open_link(&node) != 0 ||
        open_raft(&node) != 0 || check_membership(&node) != 0 ||
        open_access_log(&node) != 0) {
        fprintf(stderr, "amkd: %s\n", node.errmsg);
        abandon(&node);
        uv_loop_close(&node.loop);
        amk_http_router_free(node.router);
        amk_sm_close(node.sm);
        return 1;
    }
    uv_signal_init(&node.loop, &node.sigterm);
    uv_signal_init(&node.loop, &node.sigint);
    node.sigterm.data = node.sigint.data = &node;
    uv_signal_start(&node.sigterm, on_signal, SIGTERM);
    uv_signal_start(&node.sigint, on_signal, SIGINT);
    uv_timer_init(&node.loop, &node.ticker);
    node.ticker.data = &node;
    uv_timer_start(&node.ticker, on_tick, 100, 100);
    amk_log(&node, LOG_INFO, "node %llu: raft %s, http %s, binary %s, data %s",
            (unsigned long long)node.config.id, node.config.raft,
            node.http_address,
            node.binary_address[0] != '\0' ? node.binary_address : "(none)",
            node.config.data_dir);
    if (join && amk_join_start(&node, on_join_done) != 0) {
        fprintf(stderr, "amkd: %s\n", node.errmsg);
        node.exit_code = 1;
        stop(&node, "could not join the cluster");
    } else if (node.config.join[0] != '\0' && !join) {
        amk_log(&node, LOG_INFO, "--join %s ignored: %s", node.config.join,
                node.config.n_peers > 0 ? "--peers bootstraps this node"
                                        : "the data directory holds raft data");
    }

    uv_run(&node.loop, UV_RUN_DEFAULT);
    amk_access_log_close(&node.access_log);
    uv_loop_close(&node.loop);
    amk_http_router_free(node.router);
    amk_sm_close(node.sm);
    amk_log(&node, LOG_INFO, "stopped");
    return node.exit_code;
}
