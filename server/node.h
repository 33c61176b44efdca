/* server/node.h: struct amk_node, the one context of an amkd process: its
 * loop, state machine, raft node, HTTP server and the api layer's backend.
 * No globals: everything hangs off this struct. */
#ifndef AMK_SERVER_NODE_H
#define AMK_SERVER_NODE_H

#include <uv.h>

#include "api/api.h"
#include "api/http.h"
#include "raft/node.h"
#include "server/config.h"
#include "sm/sm.h"

enum amk_log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct amk_node {
    struct amk_config config;
    uv_loop_t loop;
    struct amk_sm *sm;
    struct amk_raft_node raft;
    bool raft_open;
    struct amk_http_router *router;
    struct amk_http *http;
    struct amk_api api;
    struct amk_api_backend backend;
    uv_signal_t sigterm, sigint;
    uv_timer_t ticker; /* readiness, supervision */
    bool stopping;
    int exit_code;
    int log_level;
    uint64_t start_index; /* last index present at start: ready once applied */
    bool ready;
    uint64_t requests_forwarded;
    char errmsg[256];
};

/* server/log.c: one line per message, to stderr, with level and node id. */
void amk_log(struct amk_node *node, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* server/backend.c: the api backend over the raft node. */
void amk_backend_init(struct amk_node *node);

/* server/cluster.c: /healthz, /readyz, /metrics, /v1/cluster and membership
 * routes. */
int amk_cluster_routes(struct amk_node *node, char *errmsg);

#endif
