/* sm/node.c: the cluster's node directory: where each amkd node listens and
 * which centre it serves. Replicated so that a follower can reach the leader
 * (forwarding) and the leader knows each node's centre (liveness). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static bool address_ok(struct amk_str s)
{
    /* IP:port; the node checks the form, sm only keeps it printable. */
    if (s.ptr == NULL) {
        return true;
    }
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F') || c == '.' || c == ':' || c == '[' ||
              c == ']')) {
            return false;
        }
    }
    return true;
}

int sm_node_register(struct amk_sm *sm)
{
    const struct amk_cmd_node_register *c = &sm->cmd->u.node_register;
    char id[24];
    snprintf(id, sizeof id, "node:%lld", (long long)c->id);
    sm_set_event(sm, NULL, AMK_OBJ_CENTRE, id);
    int rv = sm_require_admin(sm);
    if (rv != AMK_OK) {
        return rv;
    }
    if (c->id <= 0) {
        return sm_reject(sm, AMK_EINVALID, "id: a node id > 0");
    }
    if (!address_ok(c->raft_address) || !address_ok(c->http_address) ||
        !address_ok(c->binary_address)) {
        return sm_reject(sm, AMK_EINVALID, "address: IP:port");
    }
    if ((c->centre.ptr != NULL && c->centre.len > 0 &&
         !sm_id_valid(c->centre)) ||
        (c->region.ptr != NULL && c->region.len > 0 &&
         !sm_id_valid(c->region))) {
        return sm_reject(sm, AMK_EINVALID, "centre/region: not a valid id");
    }
    static const char SQL[] =
        "INSERT OR REPLACE INTO nodes (id, raft_address, http_address,"
        " binary_address, centre, region, registered_at)"
        " VALUES (?1, ?2, coalesce(?3, ''), coalesce(?4, ''),"
        " coalesce(?5, ''), coalesce(?6, ''), ?7)";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sqlite3_bind_int64(s, 1, c->id);
    sm_bind_str(s, 2, c->raft_address);
    sm_bind_str(s, 3, c->http_address);
    sm_bind_str(s, 4, c->binary_address);
    sm_bind_str(s, 5, c->centre);
    sm_bind_str(s, 6, c->region);
    sqlite3_bind_int64(s, 7, sm->cmd->h.timestamp_ms);
    /* No event: the directory is cluster plumbing, not dispatch state. */
    sm->object_id[0] = '\0';
    return sm_exec_stmt(sm, s, "register node");
}

int amk_sm_node_info(struct amk_sm *sm, uint64_t id,
                     struct amk_sm_node_info *info)
{
    static const char SQL[] =
        "SELECT raft_address, http_address, binary_address, centre, region"
        " FROM nodes WHERE id = ?1";
    memset(info, 0, sizeof *info);
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
    int rv = sqlite3_step(s);
    if (rv == SQLITE_ROW) {
        info->id = id;
        sm_copy(info->raft_address, sizeof info->raft_address,
                sm_col_text(s, 0));
        sm_copy(info->http_address, sizeof info->http_address,
                sm_col_text(s, 1));
        sm_copy(info->binary_address, sizeof info->binary_address,
                sm_col_text(s, 2));
        sm_copy(info->centre, sizeof info->centre, sm_col_text(s, 3));
        sm_copy(info->region, sizeof info->region, sm_col_text(s, 4));
        sqlite3_reset(s);
        return AMK_OK;
    }
    sqlite3_reset(s);
    if (rv != SQLITE_DONE) {
        return sm_sqlite_error(sm, "node info");
    }
    snprintf(sm->errmsg, sizeof sm->errmsg, "node %llu not registered",
             (unsigned long long)id);
    return AMK_ENOTFOUND;
}
