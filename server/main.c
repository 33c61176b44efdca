/* server/main.c: amkd: parses the configuration, opens the state machine,
 * the HTTP listener and the raft node on one libuv loop, and runs until
 * SIGTERM/SIGINT, when it hands leadership over, finishes in-flight requests
 * and exits 0. Start-up errors print one line and exit non-zero. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    /* amk_raft_log_level counts the same way: error, warn, info, debug. */
    amk_log(data, level, "raft: %s", msg);
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
            snprintf(node->errmsg, sizeof node->errmsg,
                     "--data-dir %.200s: %s", dir, strerror(errno));
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

static void raft_closed(struct amk_raft_node *raft)
{
    (void)raft;
}

static void http_closed(void *data)
{
    struct amk_node *node = data;
    node->http = NULL;
    if (node->raft_open) {
        node->raft_open = false;
        amk_raft_node_close(&node->raft, raft_closed);
    }
    uv_close((uv_handle_t *)&node->ticker, NULL);
    uv_close((uv_handle_t *)&node->sigterm, NULL);
    uv_close((uv_handle_t *)&node->sigint, NULL);
}

static void stop(struct amk_node *node, const char *why)
{
    if (node->stopping) {
        return;
    }
    node->stopping = true;
    amk_log(node, LOG_INFO, "stopping (%s)", why);
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

static void on_tick(uv_timer_t *timer)
{
    struct amk_node *node = timer->data;
    bool ready = amk_raft_node_leader(&node->raft, NULL) != 0;
    if (ready != node->ready) {
        node->ready = ready;
        amk_log(node, ready ? LOG_INFO : LOG_WARN,
                ready ? "ready: leader %llu, term %llu"
                      : "not ready: no leader known (term %llu)",
                (unsigned long long)amk_raft_node_leader(&node->raft, NULL),
                (unsigned long long)amk_raft_node_term(&node->raft));
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
    if (amk_http_open(&node->http, &node->loop, &hc, errmsg) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "--http: %.240s", errmsg);
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
    node->raft_open = true;
    if (amk_raft_node_start(&node->raft) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "%s", node->raft.errmsg);
        return -1;
    }
    return 0;
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
    if (node->http != NULL) {
        amk_http_close(node->http, 0, NULL, NULL);
        node->http = NULL;
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
    if (check_data_dir(&node) != 0) {
        fprintf(stderr, "amkd: %s\n", node.errmsg);
        return 2;
    }
    if (amk_sm_open(&node.sm, NULL, errmsg) != 0) {
        fprintf(stderr, "amkd: state machine: %s\n", errmsg);
        return 1;
    }
    uv_loop_init(&node.loop);
    amk_backend_init(&node);
    /* HTTP first: a busy port must fail before raft touches the data dir. */
    if (open_http(&node) != 0 || open_raft(&node) != 0) {
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
    amk_log(&node, LOG_INFO, "node %llu: raft %s, http %s (port %u), data %s",
            (unsigned long long)node.config.id, node.config.raft,
            node.config.http, amk_http_port(node.http), node.config.data_dir);

    uv_run(&node.loop, UV_RUN_DEFAULT);
    uv_loop_close(&node.loop);
    amk_http_router_free(node.router);
    amk_sm_close(node.sm);
    amk_log(&node, LOG_INFO, "stopped");
    return node.exit_code;
}
