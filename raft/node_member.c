/* raft/node_member.c: membership changes (add, assign, remove) and the
 * verified, retried leadership transfer (DESIGN 0.15 defect 4, upstream
 * #477: raft_transfer's callback fires whether or not the target took
 * over). */
#include <stdio.h>
#include <string.h>

#include "raft/node_internal.h"

/* --- Membership --- */

static void change_cb(struct raft_change *change, int status)
{
    struct amk_raft_change *req = change->data;
    struct amk_raft_node *node = req->node;
    int rv = status == 0 ? 0 : node__callback_status(node, status);
    if (rv != 0) {
        node__log(node, AMK_RAFT_LOG_WARN, "configuration change failed: %s",
                  amk_raft_code_name(rv));
    }
    req->cb(req, rv);
}

static void change_prepare(struct amk_raft_node *node,
                           struct amk_raft_change *req, amk_raft_change_cb cb)
{
    memset(&req->change, 0, sizeof req->change);
    req->change.data = req;
    req->node = node;
    req->cb = cb;
}

static int change_error(struct amk_raft_node *node, int raft_rv,
                        const char *what, uint64_t id)
{
    char context[128];
    snprintf(context, sizeof context, "%s server %llu", what,
             (unsigned long long)id);
    return amk_raft_code_from_raft(raft_rv, node->errmsg, context,
                                   raft_errmsg(&node->raft));
}

int amk_raft_node_add(struct amk_raft_node *node, struct amk_raft_change *req,
                      uint64_t id, const char *address, amk_raft_change_cb cb)
{
    int rv;

    if (id == 0) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "add server: id must be > 0");
        return AMK_RAFT_EINVAL;
    }
    rv = amk_raft_address_check(address, "add server: address", node->errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = node__check_leader(node, "add server");
    if (rv != 0) {
        return rv;
    }
    change_prepare(node, req, cb);
    rv = raft_add(&node->raft, &req->change, id, address, change_cb);
    if (rv != 0) {
        return change_error(node, rv, "add", id);
    }
    node__log(node, AMK_RAFT_LOG_INFO, "adding server %llu at %s as spare",
              (unsigned long long)id, address);
    return 0;
}

int amk_raft_node_assign(struct amk_raft_node *node,
                         struct amk_raft_change *req, uint64_t id, int role,
                         amk_raft_change_cb cb)
{
    int rv;

    if (amk_raft_role_name(role) == NULL) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "assign: role %d is not voter, standby or spare", role);
        return AMK_RAFT_EINVAL;
    }
    rv = node__check_leader(node, "assign");
    if (rv != 0) {
        return rv;
    }
    change_prepare(node, req, cb);
    rv = raft_assign(&node->raft, &req->change, id, role, change_cb);
    if (rv != 0) {
        return change_error(node, rv, "assign", id);
    }
    node__log(node, AMK_RAFT_LOG_INFO, "assigning role %s to server %llu",
              amk_raft_role_name(role), (unsigned long long)id);
    return 0;
}

int amk_raft_node_remove(struct amk_raft_node *node,
                         struct amk_raft_change *req, uint64_t id,
                         amk_raft_change_cb cb)
{
    int rv;

    if (id == node->config.id) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "remove server %llu: that is this node, the leader; "
                 "transfer leadership first",
                 (unsigned long long)id);
        return AMK_RAFT_EINVAL;
    }
    rv = node__check_leader(node, "remove server");
    if (rv != 0) {
        return rv;
    }
    change_prepare(node, req, cb);
    rv = raft_remove(&node->raft, &req->change, id, change_cb);
    if (rv != 0) {
        return change_error(node, rv, "remove", id);
    }
    node__log(node, AMK_RAFT_LOG_INFO, "removing server %llu",
              (unsigned long long)id);
    return 0;
}

/* --- Leadership transfer --- */

/* raft's callback: the transfer either happened or timed out after an
 * election timeout; which one is decided by node__transfer_check(), right
 * after raft returns to us (never act inside raft's own callback). */
static void transfer_done(struct raft_transfer *raft_req)
{
    struct amk_raft_node *node = raft_req->data;
    if (node->transfer == NULL) {
        return; /* finished early: the target was seen as leader */
    }
    node->transfer_waiting = true;
    /* Time for the cluster to show who leads: an election takes up to
     * two election timeouts. */
    node->transfer_deadline =
        uv_now(node->loop) + 2 * (uint64_t)node->config.election_ms;
}

static int transfer_attempt(struct amk_raft_node *node)
{
    struct amk_raft_transfer *req = node->transfer;
    int rv;

    /* node->raft_transfer is reused and never freed before the node: 0.15
     * sends TimeoutNow with &raft_transfer->send and no callback, so the
     * struct must outlive that send. */
    node->raft_transfer.data = node;
    node->transfer_waiting = false;
    rv = raft_transfer(&node->raft, &node->raft_transfer, req->target,
                       transfer_done);
    if (rv != 0) {
        return amk_raft_code_from_raft(rv, node->errmsg, "leadership transfer",
                                       raft_errmsg(&node->raft));
    }
    req->attempts++;
    if (req->attempts > 1) {
        node->stats.transfer_retries++;
    }
    node__log(node, AMK_RAFT_LOG_INFO,
              "leadership transfer to %llu: attempt %u of %u",
              node->raft_transfer.id, req->attempts,
              node->transfer_max_attempts);
    return 0;
}

void node__transfer_finish(struct amk_raft_node *node, int status)
{
    struct amk_raft_transfer *req = node->transfer;
    if (req == NULL) {
        return;
    }
    node->transfer = NULL;
    node->transfer_waiting = false;
    req->cb(req, status);
}

int node__transfer_start(struct amk_raft_node *node,
                         struct amk_raft_transfer *req, unsigned max_attempts)
{
    int rv;

    req->attempts = 0;
    node->transfer = req;
    node->transfer_max_attempts = max_attempts;
    rv = transfer_attempt(node);
    if (rv != 0) {
        node->transfer = NULL;
        return rv;
    }
    return 0;
}

void node__transfer_check(struct amk_raft_node *node)
{
    struct amk_raft_transfer *req = node->transfer;
    raft_id leader_id;
    const char *leader_address;
    int rv;

    if (req == NULL) {
        return;
    }
    raft_leader(&node->raft, &leader_id, &leader_address);
    if (leader_id != 0 && leader_id != node->config.id) {
        if (req->target == 0 || leader_id == req->target) {
            node__log(node, AMK_RAFT_LOG_INFO,
                      "leadership transfer verified: %llu leads", leader_id);
            node__transfer_finish(node, 0);
        } else {
            node__log(node, AMK_RAFT_LOG_WARN,
                      "leadership transfer: %llu leads, not the target %llu",
                      leader_id, (unsigned long long)req->target);
            node__transfer_finish(node, AMK_RAFT_ELEADERSHIPLOST);
        }
        return;
    }
    if (!node->transfer_waiting) {
        return; /* raft is still at it */
    }
    if (raft_state(&node->raft) == RAFT_LEADER) {
        /* upstream #477: the transfer silently did not happen. */
        if (req->attempts < node->transfer_max_attempts) {
            node__log(node, AMK_RAFT_LOG_WARN,
                      "leadership transfer to %llu did not happen; retrying",
                      node->raft_transfer.id);
            rv = transfer_attempt(node);
            if (rv != 0) {
                node__log(node, AMK_RAFT_LOG_WARN, "%s", node->errmsg);
                node__transfer_finish(node, rv);
            }
            return;
        }
        snprintf(node->errmsg, sizeof node->errmsg,
                 "leadership transfer: still leader after %u attempts",
                 req->attempts);
        node__log(node, AMK_RAFT_LOG_WARN, "%s", node->errmsg);
        node__transfer_finish(node, AMK_RAFT_ETIMEOUT);
        return;
    }
    if (uv_now(node->loop) >= node->transfer_deadline) {
        node__log(node, AMK_RAFT_LOG_WARN,
                  "leadership transfer: no leader seen in time");
        node__transfer_finish(node, AMK_RAFT_ETIMEOUT);
    }
}

int amk_raft_node_transfer(struct amk_raft_node *node,
                           struct amk_raft_transfer *req,
                           amk_raft_transfer_cb cb)
{
    const struct raft_configuration *conf = &node->raft.configuration;
    unsigned i;
    int rv;

    rv = node__check_leader(node, "leadership transfer");
    if (rv != 0) {
        return rv;
    }
    if (req->target == node->config.id) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "leadership transfer: %llu is already the leader",
                 (unsigned long long)req->target);
        return AMK_RAFT_EINVAL;
    }
    if (req->target != 0) {
        for (i = 0; i < conf->n; i++) {
            if (conf->servers[i].id == req->target) {
                break;
            }
        }
        if (i == conf->n || conf->servers[i].role != RAFT_VOTER) {
            snprintf(node->errmsg, sizeof node->errmsg,
                     "leadership transfer: %llu is not a voter of the "
                     "configuration",
                     (unsigned long long)req->target);
            return AMK_RAFT_ENOTFOUND;
        }
    }
    req->node = node;
    req->cb = cb;
    return node__transfer_start(node, req, node->config.transfer_attempts);
}
