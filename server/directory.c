/* server/directory.c: keeps this node's entry in the replicated node
 * directory (node.register) equal to its configuration, so followers can
 * reach the leader's link and HTTP addresses and the leader knows each
 * node's centre. The leader proposes its own entry; a follower forwards its
 * entry over the link once it knows the leader's link address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

#define RETRY_MS 1000u

static bool entry_matches(struct amk_node *node,
                          const struct amk_sm_node_info *info)
{
    const struct amk_config *c = &node->config;
    return strcmp(info->raft_address, c->raft) == 0 &&
           strcmp(info->http_address, node->http_address) == 0 &&
           strcmp(info->binary_address, node->binary_address) == 0 &&
           strcmp(info->centre, c->centre) == 0 &&
           strcmp(info->region, c->region) == 0;
}

bool amk_directory_current(struct amk_node *node)
{
    struct amk_sm_node_info info;
    return amk_sm_node_info(node->sm, node->config.id, &info) == AMK_OK &&
           entry_matches(node, &info);
}

static int encode(struct amk_node *node, void **buf, size_t *len)
{
    struct amk_cmd cmd;
    char principal[32];
    char errmsg[256];
    amk_cmd_init(&cmd, AMK_CMD_NODE_REGISTER);
    snprintf(principal, sizeof principal, "node:%llu",
             (unsigned long long)node->config.id);
    cmd.h.role = AMK_ROLE_SYSTEM;
    cmd.h.principal = amk_str_c(principal);
    struct amk_cmd_node_register *r = &cmd.u.node_register;
    r->id = (int64_t)node->config.id;
    r->raft_address = amk_str_c(node->config.raft);
    r->http_address = amk_str_c(node->http_address);
    r->binary_address = amk_str_c(node->binary_address);
    r->centre = amk_str_c(node->config.centre);
    r->region = amk_str_c(node->config.region);
    int rv = amk_cmd_encode(&cmd, buf, len, errmsg);
    if (rv != AMK_OK) {
        amk_log(node, LOG_ERROR, "node directory: cannot encode: %s", errmsg);
    }
    return rv;
}

static void finished(struct amk_node *node, int status, const char *why,
                     const struct amk_sm_result *result)
{
    struct amk_directory *d = &node->directory;
    free(d->cmd);
    d->cmd = NULL;
    d->in_flight = false;
    if (status == 0 && result->code == AMK_OK) {
        d->failures = 0;
        d->wait_index = result->index;
        amk_log(node, LOG_INFO,
                "node directory: registered at index %llu (raft %s, http %s,"
                " binary %s, centre '%s', region '%s')",
                (unsigned long long)result->index, node->config.raft,
                node->http_address,
                node->binary_address[0] ? node->binary_address : "-",
                node->config.centre, node->config.region);
        return;
    }
    d->failures++;
    d->next_attempt_ms = uv_now(&node->loop) + RETRY_MS;
    if (status == 0) {
        amk_log(node, LOG_WARN, "node directory: registration rejected: %s: %s",
                amk_code_name(result->code), result->message);
    } else {
        /* Transient (no leader yet, a timeout): logged once in a while. */
        amk_log(node, d->failures % 10 == 1 ? LOG_INFO : LOG_DEBUG,
                "node directory: registration not done (%s); retrying", why);
    }
}

static void propose_done(struct amk_raft_propose *req, int status)
{
    struct amk_node *node = req->data;
    finished(node, status, amk_raft_code_name(status), &req->result);
    amk_sm_result_clear(&req->result);
}

static void link_done(struct amk_link_request *req, int status)
{
    struct amk_node *node = req->data;
    finished(node, status, amk_link_code_name(status), &req->result);
    amk_sm_result_clear(&req->result);
}

void amk_directory_tick(struct amk_node *node)
{
    struct amk_directory *d = &node->directory;
    bool leading = amk_raft_node_state(&node->raft) == AMK_RAFT_LEADER;
    if (leading && !d->was_leader) {
        /* Followers cannot forward to a leader missing from the directory:
         * a new leader registers at once, whatever backoff it had. */
        d->next_attempt_ms = 0;
        d->wait_index = 0;
    }
    d->was_leader = leading;
    if (d->in_flight || node->stopping || !node->link_open ||
        uv_now(&node->loop) < d->next_attempt_ms ||
        amk_raft_node_applied_index(&node->raft) < d->wait_index) {
        return;
    }
    bool leader = amk_raft_node_state(&node->raft) == AMK_RAFT_LEADER;
    if (!leader) {
        /* A follower goes through the leader's link: only once it knows
         * where that is (the leader registers itself when elected). */
        uint64_t id = amk_raft_node_leader(&node->raft, NULL);
        struct amk_sm_node_info info;
        if (id == 0 || amk_sm_node_info(node->sm, id, &info) != AMK_OK ||
            info.binary_address[0] == '\0') {
            return;
        }
    }
    if (amk_directory_current(node)) {
        return;
    }
    size_t len;
    if (encode(node, &d->cmd, &len) != AMK_OK) {
        d->next_attempt_ms = uv_now(&node->loop) + 10 * RETRY_MS;
        return;
    }
    int rv;
    const char *why;
    if (leader) {
        memset(&d->propose, 0, sizeof d->propose);
        d->propose.data = node;
        rv = amk_raft_node_propose(&node->raft, &d->propose, d->cmd, len,
                                   propose_done);
        why = amk_raft_code_name(rv);
    } else {
        memset(&d->request, 0, sizeof d->request);
        d->request.data = node;
        rv = amk_link_propose(&node->link, &d->request, d->cmd, len, link_done);
        why = amk_link_code_name(rv);
    }
    d->in_flight = true;
    if (rv != 0) {
        finished(node, rv, why, NULL);
    }
}
