/* server/backend.c: the api layer's backend: writes are proposed when this
 * node leads; reads wait for a leader-confirmed read index. A follower
 * forwards to the leader over the cluster link (server/link.c). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "node.h"

struct propose_op {
    struct amk_raft_propose propose;
    struct amk_api_write *w;
};

static int map_raft_status(int status)
{
    switch (status) {
        case 0:
            return AMK_API_OK;
        case AMK_RAFT_ENOTLEADER:
        case AMK_RAFT_ELEADERSHIPLOST:
        case AMK_RAFT_EBUSY:
            return AMK_API_ENOLEADER;
        case AMK_RAFT_ESHUTDOWN:
            return AMK_API_ESHUTDOWN;
        case AMK_RAFT_ENOMEM:
            return AMK_API_ENOMEM;
        default:
            return AMK_API_ETIMEOUT;
    }
}

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

static int backend_write(void *data, struct amk_api_write *w)
{
    struct amk_node *node = data;
    if (node->stopping) {
        return AMK_API_ESHUTDOWN;
    }
    if (amk_raft_node_state(&node->raft) != AMK_RAFT_LEADER) {
        /* Forwarding to the leader comes with the cluster link. */
        return AMK_API_ENOLEADER;
    }
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

struct read_op {
    struct amk_raft_read read;
    struct amk_api_read *r;
};

static void read_done(struct amk_raft_read *req, int status)
{
    struct read_op *op = req->data;
    struct amk_api_read *r = op->r;
    r->index = req->index;
    free(op);
    r->cb(r, map_raft_status(status));
}

static int backend_read(void *data, struct amk_api_read *r)
{
    struct amk_node *node = data;
    if (node->stopping) {
        return AMK_API_ESHUTDOWN;
    }
    if (amk_raft_node_state(&node->raft) != AMK_RAFT_LEADER) {
        return AMK_API_ENOLEADER;
    }
    struct read_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return AMK_API_ENOMEM;
    }
    op->r = r;
    op->read.data = op;
    int rv = amk_raft_node_read(&node->raft, &op->read, read_done);
    if (rv != 0) {
        free(op);
        return map_raft_status(rv);
    }
    return AMK_API_OK;
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
    b->secure = !node->config.insecure;
    node->api.backend = b;
}
