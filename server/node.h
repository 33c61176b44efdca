/* server/node.h: struct amk_node, the one context of an amkd process: its
 * loop, state machine, raft node, HTTP server, cluster link and the api
 * layer's backend. No globals: everything hangs off this struct. */
#ifndef AMK_SERVER_NODE_H
#define AMK_SERVER_NODE_H

#include <uv.h>

#include "api/api.h"
#include "api/http.h"
#include "raft/node.h"
#include "server/access_log.h"
#include "server/config.h"
#include "server/link.h"
#include "server/supervisor.h"
#include "sm/sm.h"

enum amk_log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* This node's own entry in the replicated node directory (node.register):
 * kept equal to its configuration by server/directory.c. */
struct amk_directory {
    bool in_flight;           /* a registration is being proposed */
    uint64_t next_attempt_ms; /* uv_now() backoff after a failure */
    uint64_t wait_index;      /* registered at: not checked again before
                                 this index is applied here */
    unsigned failures;
    bool was_leader; /* at the last tick: a new leader registers at once */
    void *cmd;       /* the encoded command in flight */
    struct amk_raft_propose propose; /* as the leader */
    struct amk_link_request request; /* as a follower, through the link */
};

struct amk_join;

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
    struct amk_link link;             /* the cluster link (server/link.h) */
    struct amk_access_log access_log; /* reads of incident data */
    bool link_open;
    /* Addresses as others reach them (a port 0 in the configuration
     * replaced by the bound port): what the directory records. */
    char http_address[64];
    char binary_address[64];
    struct amk_directory directory;
    struct amk_supervisor supervisor; /* automatic takeovers (leader) */
    struct amk_join *join;            /* --join in progress, or NULL */
    uv_signal_t sigterm, sigint;
    uv_timer_t ticker; /* readiness, supervision */
    bool stopping;
    int exit_code;
    int log_level;
    uint64_t start_index;  /* last index present at start: ready once applied */
    uint64_t start_commit; /* commit index known at start */
    bool ready;
    bool was_leader;    /* at the last tick */
    uint64_t read_term; /* term of the last read completed as leader */
    char errmsg[256];
};

/* server/log.c: the wall clock as RFC 3339 UTC with milliseconds
 * ("2026-11-24T06:42:28.527Z"), for logs. */
#define AMK_NOW_TEXT 32
void amk_now_text(char out[AMK_NOW_TEXT]);

/* server/log.c: one line per message, to stderr, with level and node id. */
void amk_log(struct amk_node *node, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* server/backend.c: the api backend over the raft node, forwarding to the
 * leader through the link when this node does not lead. */
void amk_backend_init(struct amk_node *node);
/* The link's env over this node's raft node and directory. */
void amk_backend_link_env(struct amk_node *node, struct amk_link_env *env);

/* server/directory.c: registers this node (addresses, centre, region) in
 * the node directory when its entry differs from its configuration: the
 * leader proposes it, a follower forwards it. Called from the ticker. */
void amk_directory_tick(struct amk_node *node);
/* Whether this node's directory entry matches its configuration. */
bool amk_directory_current(struct amk_node *node);

/* server/join.c: --join: asks a running member to add this node (POST
 * /v1/cluster/members, following one 307), retrying for a bounded time.
 * done(node, 0) once added, done(node, -1) when the cluster refused or the
 * time ran out (logged). Returns 0, or -1 with node->errmsg set. */
typedef void (*amk_join_cb)(struct amk_node *node, int status);
int amk_join_start(struct amk_node *node, amk_join_cb done);
/* Cancels a join in progress (done does not fire); its handles close on the
 * loop. */
void amk_join_cancel(struct amk_node *node);

/* server/cluster.c: /healthz, /readyz, /metrics, /v1/cluster and membership
 * routes. */
/* Ready (API.md /readyz): a leader is known, the node is not stopping, and
 * it applied what its log held at start (or, if a new leader cut that tail,
 * everything committed since). Otherwise *why (may be NULL) says why. */
bool amk_node_ready(struct amk_node *node, const char **why);
int amk_cluster_routes(struct amk_node *node, char *errmsg);

#endif
