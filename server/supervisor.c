/* server/supervisor.c: the leader's takeover supervisor (supervisor.h).
 * Liveness comes from the cluster link's table: every node heartbeats its
 * centre to the leader each second, and console heartbeats (POST
 * /v1/sessions/{id}/heartbeat on any node) are relayed there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "node.h"

#define CHECK_EVERY_MS 500

static bool alive(struct amk_node *node, const char *centre, uint64_t now,
                  uint64_t period)
{
    uint64_t at;
    if (node->config.centre[0] != '\0' &&
        strcmp(node->config.centre, centre) == 0) {
        return true; /* the leader itself is a live node of it */
    }
    return amk_link_last_heard(&node->link, centre, &at) == 0 &&
           now - at <= period;
}

static void proposed(struct amk_raft_propose *req, int status)
{
    struct amk_node *node = req->data;
    struct amk_supervisor *s = &node->supervisor;
    if (status == 0 && req->result.code == AMK_OK) {
        s->takeovers++;
        amk_log(node, LOG_WARN, "automatic takeover applied at index %llu",
                (unsigned long long)req->result.index);
    } else if (status == 0) {
        amk_log(node, LOG_WARN, "automatic takeover rejected: %s",
                req->result.message);
    } else {
        amk_log(node, LOG_WARN, "automatic takeover not applied: %s",
                amk_raft_code_name(status));
    }
    amk_sm_result_clear(&req->result);
    free(s->cmd);
    s->cmd = NULL;
    s->pending = false;
}

static void take_over(struct amk_node *node, const char *centre, const char *by,
                      uint64_t epoch)
{
    struct amk_supervisor *s = &node->supervisor;
    char reason[160], key[AMK_IDEM_KEY_MAX + 1];
    snprintf(reason, sizeof reason,
             "automatic: no live node or console for %u s",
             node->config.takeover_after);
    /* One key per (centre, epoch): a retry by a later leader cannot take
     * the same centre twice. */
    snprintf(key, sizeof key, "auto-takeover:%.40s:%llu", centre,
             (unsigned long long)epoch);
    struct amk_cmd cmd;
    amk_cmd_init(&cmd, AMK_CMD_CENTRE_TAKEOVER);
    cmd.h.role = AMK_ROLE_SYSTEM;
    cmd.h.principal = amk_str_c("amkd-supervisor");
    cmd.h.idem_key = amk_str_c(key);
    cmd.u.centre_takeover.id = amk_str_c(centre);
    cmd.u.centre_takeover.by = amk_str_c(by);
    cmd.u.centre_takeover.reason = amk_str_c(reason);
    cmd.u.centre_takeover.automatic = 1;
    size_t len;
    char errmsg[256];
    if (amk_cmd_encode(&cmd, &s->cmd, &len, errmsg) != 0) {
        amk_log(node, LOG_ERROR, "supervisor: encode: %s", errmsg);
        return;
    }
    s->propose.data = node;
    int rv =
        amk_raft_node_propose(&node->raft, &s->propose, s->cmd, len, proposed);
    if (rv != 0) {
        free(s->cmd);
        s->cmd = NULL;
        return;
    }
    s->pending = true;
    amk_log(node, LOG_WARN,
            "centre %s: no live node or console for %u s: proposing takeover"
            " by %s",
            centre, node->config.takeover_after, by);
}

/* The first centre of the backup list that controls itself and is alive. */
static const char *choose_backup(struct amk_node *node, json_t *centres,
                                 json_t *backups, uint64_t now, uint64_t period)
{
    size_t i;
    json_t *b;
    json_array_foreach(backups, i, b)
    {
        const char *id = json_string_value(b);
        if (id == NULL) {
            continue;
        }
        size_t j;
        json_t *c;
        json_array_foreach(centres, j, c)
        {
            const char *cid = json_string_value(json_object_get(c, "id"));
            const char *ctl =
                json_string_value(json_object_get(c, "controlled_by"));
            if (cid != NULL && ctl != NULL && strcmp(cid, id) == 0 &&
                strcmp(ctl, id) == 0 && alive(node, id, now, period)) {
                return id;
            }
        }
    }
    return NULL;
}

void amk_supervisor_tick(struct amk_node *node)
{
    struct amk_supervisor *s = &node->supervisor;
    uint64_t now = uv_now(&node->loop);
    bool leading = amk_raft_node_state(&node->raft) == AMK_RAFT_LEADER;
    if (leading && !s->leading) {
        s->leader_since_ms = now;
    }
    s->leading = leading;
    uint64_t period = (uint64_t)node->config.takeover_after * 1000;
    if (!leading || s->pending || node->stopping || now < s->next_check_ms ||
        now - s->leader_since_ms < period) {
        return;
    }
    s->next_check_ms = now + CHECK_EVERY_MS;

    struct amk_sm_filter all = {.limit = 1000};
    char *text = NULL;
    if (amk_sm_list(node->sm, AMK_OBJ_CENTRE, &all, &text) != AMK_OK) {
        return;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    json_t *centres = json_object_get(doc, "items");
    size_t i;
    json_t *c;
    json_array_foreach(centres, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *ctl =
            json_string_value(json_object_get(c, "controlled_by"));
        if (id == NULL || ctl == NULL || strcmp(id, ctl) != 0 ||
            !json_is_true(json_object_get(c, "auto_takeover")) ||
            alive(node, id, now, period)) {
            continue;
        }
        const char *by = choose_backup(
            node, centres, json_object_get(c, "backups"), now, period);
        if (by == NULL) {
            continue; /* nobody alive to take it: keep watching */
        }
        take_over(node, id, by,
                  (uint64_t)json_integer_value(json_object_get(c, "epoch")));
        break; /* one takeover at a time */
    }
    json_decref(doc);
}
