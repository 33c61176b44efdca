/* server/backend.c: the api layer's backend over the raft node: the leader
 * proposes writes and confirms reads itself; a follower forwards writes and
 * asks the leader for read indexes over the cluster link (server/link.h),
 * then reads locally once it has applied that index. Also the link's env:
 * how the leader serves what followers forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "node.h"

static bool leads(struct amk_node *node)
{
    return amk_raft_node_state(&node->raft) == AMK_RAFT_LEADER;
}

static int map_raft_status(int status)
{
    switch (status) {
        case 0:
            return AMK_API_OK;
        case AMK_RAFT_ENOTLEADER:
        case AMK_RAFT_ELEADERSHIPLOST:
        case AMK_RAFT_EBUSY:
        case AMK_RAFT_ESTATE: /* the node failed before appending */
            return AMK_API_ENOLEADER;
        case AMK_RAFT_ESHUTDOWN:
            return AMK_API_ESHUTDOWN;
        case AMK_RAFT_ENOMEM:
            return AMK_API_ENOMEM;
        default:
            return AMK_API_ETIMEOUT;
    }
}

/* The one translation of the link's outcomes into the api's. */
static int map_link_status(int status)
{
    switch (status) {
        case AMK_LINK_OK:
            return AMK_API_OK;
        case AMK_LINK_ETIMEOUT:
            return AMK_API_ETIMEOUT; /* sent: outcome unknown */
        case AMK_LINK_ESHUTDOWN:
            return AMK_API_ESHUTDOWN;
        case AMK_LINK_ENOMEM:
            return AMK_API_ENOMEM;
        default: /* ENOLEADER, ELOCAL too late, ETOOBIG: not applied */
            return AMK_API_ENOLEADER;
    }
}

/* --- Writes ----------------------------------------------------------------
 */

struct propose_op {
    struct amk_raft_propose propose;
    struct amk_api_write *w;
};

static void propose_done(struct amk_raft_propose *req, int status)
{
    struct propose_op *op = req->data;
    struct amk_api_write *w = op->w;
    if (status == 0) {
        w->result = req->result; /* moves the strings */
    } else if (status == AMK_RAFT_ELEADERSHIPLOST) {
        /* Lost leadership after appending: the entry may still commit. */
        status = AMK_RAFT_EUNKNOWN;
    }
    free(op);
    w->cb(w, map_raft_status(status));
}

/* Proposes on this node, the leader. Returns an api status now (no
 * callback) or 0 and later w->cb. */
static int propose_local(struct amk_node *node, struct amk_api_write *w)
{
    struct propose_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return AMK_API_ENOMEM;
    }
    op->w = w;
    op->propose.data = op;
    int rv = amk_raft_node_propose(&node->raft, &op->propose, w->cmd, w->len,
                                   propose_done);
    if (rv != 0) {
        free(op);
        return map_raft_status(rv);
    }
    return AMK_API_OK;
}

struct forward_op {
    struct amk_link_request request;
    struct amk_node *node;
    struct amk_api_write *w;
    struct amk_api_read *r;
};

static void forward_write_done(struct amk_link_request *req, int status)
{
    struct forward_op *op = req->data;
    struct amk_node *node = op->node;
    struct amk_api_write *w = op->w;
    if (status == AMK_LINK_OK) {
        w->result = req->result; /* moves the body */
    }
    free(op);
    if (status == AMK_LINK_ELOCAL && leads(node) && !node->stopping) {
        /* Refused by the old leader (not applied), and this node took over
         * meanwhile: propose here, once. */
        int rv = propose_local(node, w);
        if (rv != AMK_API_OK) {
            w->cb(w, rv);
        }
        return;
    }
    w->cb(w, map_link_status(status));
}

static int backend_write(void *data, struct amk_api_write *w)
{
    struct amk_node *node = data;
    if (node->stopping) {
        return AMK_API_ESHUTDOWN;
    }
    if (leads(node)) {
        return propose_local(node, w);
    }
    if (!node->link_open) {
        return AMK_API_ENOLEADER;
    }
    struct forward_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return AMK_API_ENOMEM;
    }
    op->node = node;
    op->w = w;
    op->request.data = op;
    int rv = amk_link_propose(&node->link, &op->request, w->cmd, w->len,
                              forward_write_done);
    if (rv != AMK_LINK_OK) {
        free(op);
        return map_link_status(rv);
    }
    return AMK_API_OK;
}

/* --- Reads -----------------------------------------------------------------
 */

struct read_op {
    struct amk_raft_read read;
    struct amk_node *node;
    struct amk_api_read *r;
};

/* A read completed in the current term: this term's no-op is applied (the
 * raft node issues no barrier before it), see env_read_index. */
static void note_read_term(struct amk_node *node)
{
    if (leads(node)) {
        node->read_term = amk_raft_node_term(&node->raft);
    }
}

static void read_done(struct amk_raft_read *req, int status)
{
    struct read_op *op = req->data;
    struct amk_api_read *r = op->r;
    if (status == 0) {
        note_read_term(op->node);
    }
    r->index = req->index;
    free(op);
    r->cb(r, map_raft_status(status));
}

static int read_local(struct amk_node *node, struct amk_api_read *r)
{
    struct read_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return AMK_API_ENOMEM;
    }
    op->r = r;
    op->node = node;
    op->read.data = op;
    int rv = amk_raft_node_read(&node->raft, &op->read, read_done);
    if (rv != 0) {
        free(op);
        return map_raft_status(rv);
    }
    return AMK_API_OK;
}

static void forward_read_done(struct amk_link_request *req, int status)
{
    struct forward_op *op = req->data;
    struct amk_node *node = op->node;
    struct amk_api_read *r = op->r;
    uint64_t index = req->index;
    free(op);
    if (status == AMK_LINK_ELOCAL && leads(node) && !node->stopping) {
        int rv = read_local(node, r);
        if (rv != AMK_API_OK) {
            r->cb(r, rv);
        }
        return;
    }
    /* status 0: the leader's read index, already applied here. */
    r->index = status == AMK_LINK_OK ? index : 0;
    r->cb(r, map_link_status(status));
}

static int backend_read(void *data, struct amk_api_read *r)
{
    struct amk_node *node = data;
    if (node->stopping) {
        return AMK_API_ESHUTDOWN;
    }
    if (leads(node)) {
        return read_local(node, r);
    }
    if (!node->link_open) {
        return AMK_API_ENOLEADER;
    }
    struct forward_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return AMK_API_ENOMEM;
    }
    op->node = node;
    op->r = r;
    op->request.data = op;
    int rv = amk_link_read(&node->link, &op->request, forward_read_done);
    if (rv != AMK_LINK_OK) {
        free(op);
        return map_link_status(rv);
    }
    return AMK_API_OK;
}

static void backend_heartbeat(void *data, const char *session,
                              const char *centre, bool valid)
{
    struct amk_node *node = data;
    if (node->link_open) {
        amk_link_heartbeat(&node->link, session, centre, valid);
    }
}

static void backend_new_id(void *data, char out[37])
{
    (void)data;
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* getrandom on Linux >= 3.17 does not fail for 16 bytes once the
         * pool is initialised; refuse to make up ids if it ever does. */
        abort();
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

void amk_backend_init(struct amk_node *node)
{
    struct amk_api_backend *b = &node->backend;
    memset(b, 0, sizeof *b);
    b->data = node;
    b->sm = node->sm;
    b->write = backend_write;
    b->read = backend_read;
    b->new_id = backend_new_id;
    b->heartbeat = backend_heartbeat;
    b->secure = !node->config.insecure;
    node->api.backend = b;
}

/* --- The link's env: serving followers on the leader -----------------------
 */

static uint64_t env_leader(void *data, char *address, size_t size)
{
    struct amk_node *node = data;
    address[0] = '\0';
    uint64_t leader = amk_raft_node_leader(&node->raft, NULL);
    if (leader == 0) {
        return 0;
    }
    struct amk_sm_node_info info;
    if (amk_sm_node_info(node->sm, leader, &info) == AMK_OK) {
        snprintf(address, size, "%s", info.binary_address);
    }
    return leader;
}

static bool env_is_leader(void *data)
{
    struct amk_node *node = data;
    return leads(node) && !node->stopping;
}

static uint64_t env_applied_index(void *data)
{
    struct amk_node *node = data;
    return amk_raft_node_applied_index(&node->raft);
}

/* Raft codes of a request that was refused before anything was appended. */
static int refused_status(int rv)
{
    return rv == AMK_RAFT_ENOTLEADER || rv == AMK_RAFT_EBUSY ||
                   rv == AMK_RAFT_ESHUTDOWN || rv == AMK_RAFT_ESTATE
               ? AMK_LINK_STATUS_NOT_LEADER
               : AMK_LINK_STATUS_ERROR;
}

struct serve_propose {
    struct amk_raft_propose propose;
    struct amk_link_op *op;
};

static void serve_propose_done(struct amk_raft_propose *req, int status)
{
    struct serve_propose *s = req->data;
    if (status == 0) {
        amk_link_op_result(s->op, AMK_LINK_STATUS_OK, &req->result, NULL);
        amk_sm_result_clear(&req->result);
    } else if (status == AMK_RAFT_ENOTLEADER || status == AMK_RAFT_EBUSY ||
               status == AMK_RAFT_ESTATE || status == AMK_RAFT_ESHUTDOWN) {
        /* Leadership went, a transfer began, or this node failed or closed
         * before the queued proposal reached raft: nothing was appended,
         * the follower may retry it with the next leader. */
        amk_link_op_result(s->op, AMK_LINK_STATUS_NOT_LEADER, NULL,
                           amk_raft_code_name(status));
    } else {
        /* Appended, then leadership lost or the node closed (UNKNOWN): the
         * follower answers 504 and the client retries with its key. */
        amk_link_op_result(s->op, AMK_LINK_STATUS_ERROR, NULL,
                           amk_raft_code_name(status));
    }
    free(s);
}

static int env_propose(void *data, struct amk_link_op *op, const void *cmd,
                       size_t len)
{
    struct amk_node *node = data;
    struct serve_propose *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return AMK_LINK_STATUS_ERROR;
    }
    s->op = op;
    s->propose.data = s;
    int rv = amk_raft_node_propose(&node->raft, &s->propose, cmd, len,
                                   serve_propose_done);
    if (rv != 0) {
        amk_log(node, LOG_DEBUG, "link: forwarded write refused: %s",
                amk_raft_code_name(rv));
        free(s);
        return refused_status(rv);
    }
    return AMK_LINK_STATUS_OK;
}

struct serve_read {
    struct amk_raft_read read;
    struct amk_link_op *op;
    struct amk_node *node;
    bool tight;             /* arrival_index is a valid read index */
    uint64_t arrival_index; /* applied index when the request arrived */
};

static void serve_read_done(struct amk_raft_read *req, int status)
{
    struct serve_read *s = req->data;
    uint64_t index = req->index;
    int link_status = AMK_LINK_STATUS_OK;
    if (status == 0) {
        note_read_term(s->node);
        if (s->tight && s->arrival_index < index) {
            index = s->arrival_index;
        }
    }
    if (status == AMK_RAFT_ESHUTDOWN) {
        link_status = AMK_LINK_STATUS_SHUTDOWN;
    } else if (status == AMK_RAFT_ENOTLEADER ||
               status == AMK_RAFT_ELEADERSHIPLOST) {
        link_status = AMK_LINK_STATUS_NOT_LEADER;
    } else if (status != 0) {
        link_status = AMK_LINK_STATUS_ERROR;
    }
    amk_link_op_index(s->op, link_status, status == 0 ? index : 0);
    free(s);
}

static int env_read_index(void *data, struct amk_link_op *op)
{
    struct amk_node *node = data;
    struct serve_read *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return AMK_LINK_STATUS_ERROR;
    }
    s->op = op;
    s->node = node;
    s->read.data = s;
    /* The barrier's own index reaches followers as committed only with
     * the next heartbeat, so a follower waiting for it waits up to one
     * heartbeat. The applied index at arrival is enough (ReadIndex, Raft
     * thesis §6.4) once this term's no-op is applied: every write
     * acknowledged before now was applied here (this leader acknowledges
     * after apply; earlier leaders' are at or below the no-op), and the
     * barrier still confirms that no later leader exists. A completed read
     * in this term proves the no-op applied (no barrier goes before it). */
    s->tight = node->read_term == amk_raft_node_term(&node->raft);
    s->arrival_index = amk_raft_node_applied_index(&node->raft);
    int rv = amk_raft_node_read(&node->raft, &s->read, serve_read_done);
    if (rv != 0) {
        free(s);
        return refused_status(rv);
    }
    return AMK_LINK_STATUS_OK;
}

static void env_log(void *data, int level, const char *msg)
{
    /* AMK_LINK_LOG_* count like amk_log's levels: error, warn, info, debug. */
    amk_log(data, level, "%s", msg);
}

void amk_backend_link_env(struct amk_node *node, struct amk_link_env *env)
{
    memset(env, 0, sizeof *env);
    env->data = node;
    env->leader = env_leader;
    env->is_leader = env_is_leader;
    env->applied_index = env_applied_index;
    env->propose = env_propose;
    env->read_index = env_read_index;
    env->log = env_log;
}
