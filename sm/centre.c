/* sm/centre.c: centres, and the two commands that move a failed centre's
 * incidents and resources to another and back (DESIGN "Takeover and
 * fencing"). Every takeover and handback raises the centre's epoch, which
 * makes every session logged in under the old epoch stale. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char SQL_GET[] =
    "SELECT epoch, controlled_by, version, auto_takeover FROM centres"
    " WHERE id = ?1";

struct centre_row {
    bool exists;
    uint64_t epoch, version;
    char controlled_by[AMK_ID_MAX + 1];
};

static int centre_load(struct amk_sm *sm, const char *id, struct centre_row *c)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *s = sm_sql(sm, SQL_GET);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = sm_step_one(sm, s, "load centre");
    if (rv == AMK_ENOTFOUND) {
        return AMK_OK; /* c->exists stays false */
    }
    if (rv != AMK_OK) {
        return rv;
    }
    c->exists = true;
    c->epoch = (uint64_t)sqlite3_column_int64(s, 0);
    sm_copy(c->controlled_by, sizeof c->controlled_by, sm_col_text(s, 1));
    c->version = (uint64_t)sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    return AMK_OK;
}

/* Validates a backup list and renders it as a JSON array of ids. */
static int backups_json(struct amk_sm *sm, const char *self, uint32_t n,
                        const struct amk_str *list, char *out, size_t cap)
{
    size_t len = 0;
    out[len++] = '[';
    for (uint32_t i = 0; i < n; i++) {
        if (!sm_id_valid(list[i])) {
            return sm_reject(sm, AMK_EINVALID,
                             "backups[%u]: not a valid centre id", i);
        }
        if (sm_str_eq(list[i], self)) {
            return sm_reject(sm, AMK_EINVALID,
                             "backups[%u]: a centre cannot back itself up", i);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (list[j].len == list[i].len &&
                memcmp(list[j].ptr, list[i].ptr, list[i].len) == 0) {
                return sm_reject(sm, AMK_EINVALID,
                                 "backups[%u]: duplicate centre", i);
            }
        }
        int n_written =
            snprintf(out + len, cap - len, "%s\"%.*s\"", i == 0 ? "" : ",",
                     (int)list[i].len, list[i].ptr);
        len += (size_t)n_written;
    }
    out[len++] = ']';
    out[len] = '\0';
    return AMK_OK;
}

#define BACKUPS_JSON_MAX (AMK_CMD_MAX_BACKUPS * (AMK_ID_MAX + 3) + 3)

static bool text_ok(struct amk_str s, uint32_t max)
{
    return s.ptr != NULL && s.len > 0 && s.len <= max;
}

int sm_centre_register(struct amk_sm *sm)
{
    const struct amk_cmd_centre_register *c = &sm->cmd->u.centre_register;
    char id[AMK_ID_MAX + 1];
    sm_str_copy(id, sizeof id, c->id);
    sm_set_event(sm, "centre.registered", AMK_OBJ_CENTRE, id);
    int rv = sm_require_admin(sm);
    if (rv != AMK_OK) {
        return rv;
    }
    if (!sm_id_valid(c->id)) {
        return sm_reject(sm, AMK_EINVALID,
                         "id: 1-64 characters of A-Z a-z 0-9 . _ : -");
    }
    if (!text_ok(c->name, 256)) {
        return sm_reject(sm, AMK_EINVALID, "name: required");
    }
    if (!sm_id_valid(c->region)) {
        return sm_reject(sm, AMK_EINVALID, "region: not a valid region id");
    }
    char backups[BACKUPS_JSON_MAX];
    uint32_t n = c->n_backups == AMK_CMD_ABSENT ? 0 : c->n_backups;
    rv = backups_json(sm, id, n, c->backups, backups, sizeof backups);
    if (rv != AMK_OK) {
        return rv;
    }
    struct centre_row row;
    rv = centre_load(sm, id, &row);
    if (rv != AMK_OK) {
        return rv;
    }
    if (row.exists) {
        return sm_reject(sm, AMK_ECONFLICT, "centre %s already exists", id);
    }
    static const char SQL[] =
        "INSERT INTO centres (id, name, region, backups, auto_takeover,"
        " service_state, epoch, controlled_by, version, created_at,"
        " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'normal', 1, ?1, 1, ?6, ?6)";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_str(s, 2, c->name);
    sm_bind_str(s, 3, c->region);
    sm_bind_text(s, 4, backups);
    sqlite3_bind_int(s, 5, c->auto_takeover == 0 ? 0 : 1);
    sqlite3_bind_int64(s, 6, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "insert centre");
    if (rv != AMK_OK) {
        return rv;
    }
    sm->result->created = true;
    return sm_change_bumped(sm, AMK_OBJ_CENTRE, id);
}

static int load_existing(struct amk_sm *sm, struct amk_str idstr, char *id,
                         struct centre_row *row)
{
    sm_str_copy(id, AMK_ID_MAX + 1, idstr);
    int rv = centre_load(sm, id, row);
    if (rv != AMK_OK) {
        return rv;
    }
    if (!row->exists) {
        return sm_reject(sm, AMK_ENOTFOUND, "centre %s not found", id);
    }
    return AMK_OK;
}

int sm_centre_update(struct amk_sm *sm)
{
    const struct amk_cmd_centre_update *c = &sm->cmd->u.centre_update;
    char id[AMK_ID_MAX + 1];
    struct centre_row row;
    sm_str_copy(id, sizeof id, c->id);
    sm_set_event(sm, "centre.updated", AMK_OBJ_CENTRE, id);
    int rv = sm_require_admin(sm);
    if (rv == AMK_OK) {
        rv = load_existing(sm, c->id, id, &row);
    }
    if (rv == AMK_OK) {
        rv = sm_require_version(sm, row.version);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    if (c->name.ptr != NULL && !text_ok(c->name, 256)) {
        return sm_reject(sm, AMK_EINVALID, "name: must not be empty");
    }
    char backups[BACKUPS_JSON_MAX];
    bool has_backups = c->n_backups != AMK_CMD_ABSENT;
    if (has_backups) {
        rv = backups_json(sm, id, c->n_backups, c->backups, backups,
                          sizeof backups);
        if (rv != AMK_OK) {
            return rv;
        }
    }
    static const char SQL[] = "UPDATE centres SET name = coalesce(?2, name),"
                              " backups = coalesce(?3, backups),"
                              " auto_takeover = coalesce(?4, auto_takeover),"
                              " updated_at = ?5 WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_str(s, 2, c->name);
    sm_bind_text(s, 3, has_backups ? backups : NULL);
    if (c->auto_takeover != AMK_ENUM_NONE) {
        sqlite3_bind_int(s, 4, c->auto_takeover ? 1 : 0);
    }
    sqlite3_bind_int64(s, 5, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "update centre");
    if (rv != AMK_OK) {
        return rv;
    }
    return sm_change(sm, AMK_OBJ_CENTRE, id);
}

int sm_centre_set_state(struct amk_sm *sm)
{
    const struct amk_cmd_centre_set_state *c = &sm->cmd->u.centre_set_state;
    char id[AMK_ID_MAX + 1];
    struct centre_row row;
    sm_str_copy(id, sizeof id, c->id);
    sm_set_event(sm, "centre.state", AMK_OBJ_CENTRE, id);
    /* An admin, or the centre's own shift leader (a valid session of it)
     * declaring itself overloaded or going down. The session is checked
     * before the centre's existence (docs/state-machine.md check order). */
    uint8_t role = sm_role(sm);
    bool admin = role == AMK_ROLE_ADMIN || role == AMK_ROLE_SYSTEM;
    int rv = admin ? AMK_OK : sm_require_writer(sm);
    if (rv == AMK_OK) {
        rv = load_existing(sm, c->id, id, &row);
    }
    if (rv == AMK_OK && !admin) {
        rv = sm_require_owner(sm, id);
    }
    if (rv == AMK_OK) {
        rv = sm_require_version(sm, row.version);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    static const char SQL[] = "UPDATE centres SET service_state = ?2,"
                              " updated_at = ?3 WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_text(s, 2, amk_enum_name(AMK_ENUM_SERVICE_STATE, c->state));
    sqlite3_bind_int64(s, 3, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "set centre state");
    if (rv != AMK_OK) {
        return rv;
    }
    return sm_change(sm, AMK_OBJ_CENTRE, id);
}

/* Adds every id the query (one ?1 parameter) returns to the event. */
static int collect(struct amk_sm *sm, const char *sql, const char *param,
                   enum amk_sm_object kind)
{
    sqlite3_stmt *s = sm_sql(sm, sql);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, param);
    int rv;
    while ((rv = sqlite3_step(s)) == SQLITE_ROW) {
        int crv = sm_change(sm, kind, sm_col_text(s, 0));
        if (crv != AMK_OK) {
            sqlite3_reset(s);
            return crv;
        }
    }
    if (rv != SQLITE_DONE) {
        rv = sm_sqlite_error(sm, "collect changes");
        sqlite3_reset(s);
        return rv;
    }
    sqlite3_reset(s);
    return AMK_OK;
}

/* Runs an UPDATE binding ?1..?4 to two texts and two integers (a statement
 * may use fewer: binding an unused index is harmless). */
static int exec4(struct amk_sm *sm, const char *sql, const char *a,
                 const char *b, int64_t c, int64_t d, const char *what)
{
    sqlite3_stmt *s = sm_sql(sm, sql);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, a);
    sm_bind_text(s, 2, b);
    sqlite3_bind_int64(s, 3, c);
    sqlite3_bind_int64(s, 4, d);
    return sm_exec_stmt(sm, s, what);
}

static const char SQL_OPEN_OWNED[] =
    "SELECT id FROM incidents WHERE owner = ?1 AND open ORDER BY id";
static const char SQL_CONTROLLED[] =
    "SELECT id FROM resources WHERE controlled_by = ?1 ORDER BY id";
static const char SQL_TRANSFERS_TO[] =
    "SELECT id FROM incidents WHERE transfer_to = ?1 AND open ORDER BY id";
static const char SQL_DEPENDENTS[] =
    "SELECT id FROM centres WHERE controlled_by = ?1 AND id <> ?1"
    " ORDER BY id";

int sm_centre_takeover(struct amk_sm *sm)
{
    const struct amk_cmd_centre_takeover *c = &sm->cmd->u.centre_takeover;
    char id[AMK_ID_MAX + 1], by[AMK_ID_MAX + 1];
    struct centre_row x, y;
    sm_str_copy(id, sizeof id, c->id);
    sm_str_copy(by, sizeof by, c->by);
    sm_set_event(sm, "centre.takeover", AMK_OBJ_CENTRE, id);
    int rv = sm_require_admin(sm);
    if (rv == AMK_OK) {
        rv = load_existing(sm, c->id, id, &x);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    if (!sm_id_valid(c->by)) {
        return sm_reject(sm, AMK_EINVALID, "by: not a valid centre id");
    }
    if (strcmp(id, by) == 0) {
        return sm_reject(sm, AMK_EINVALID,
                         "by: a centre cannot take over"
                         " itself (use handback)");
    }
    rv = centre_load(sm, by, &y);
    if (rv != AMK_OK) {
        return rv;
    }
    if (!y.exists) {
        return sm_reject(sm, AMK_EINVALID, "by: centre %s not found", by);
    }
    if (strcmp(y.controlled_by, by) != 0) {
        return sm_reject(sm, AMK_ECONFLICT,
                         "by: %s is itself controlled by %s (no chains)", by,
                         y.controlled_by);
    }
    if (strcmp(x.controlled_by, id) != 0) {
        return sm_reject(sm, AMK_ECONFLICT,
                         "%s is already controlled by %s; hand it back first",
                         id, x.controlled_by);
    }
    rv = sm_require_version(sm, x.version);
    if (rv != AMK_OK) {
        return rv;
    }
    int64_t now = sm->cmd->h.timestamp_ms;

    rv = sm_change(sm, AMK_OBJ_CENTRE, id);
    if (rv == AMK_OK) {
        rv = collect(sm, SQL_DEPENDENTS, id, AMK_OBJ_CENTRE);
    }
    if (rv == AMK_OK) {
        rv = collect(sm, SQL_OPEN_OWNED, id, AMK_OBJ_INCIDENT);
    }
    if (rv == AMK_OK) {
        rv = collect(sm, SQL_TRANSFERS_TO, id, AMK_OBJ_INCIDENT);
    }
    if (rv == AMK_OK) {
        rv = collect(sm, SQL_CONTROLLED, id, AMK_OBJ_RESOURCE);
    }
    if (rv != AMK_OK) {
        return rv;
    }

    static const char SQL_X[] =
        "UPDATE centres SET epoch = epoch + 1, controlled_by = ?2,"
        " service_state = CASE WHEN ?3 THEN 'down' ELSE service_state END,"
        " updated_at = ?4 WHERE id = ?1";
    rv = exec4(sm, SQL_X, id, by, c->automatic == 1, now, "take over centre");
    /* Centres X controlled pass to Y too: control never chains. */
    static const char SQL_DEP[] =
        "UPDATE centres SET epoch = epoch + 1, controlled_by = ?2,"
        " updated_at = ?4"
        " WHERE controlled_by = ?1 AND id <> ?1";
    if (rv == AMK_OK) {
        rv = exec4(sm, SQL_DEP, id, by, 0, now, "move dependent centres");
    }
    static const char SQL_INC[] =
        "UPDATE incidents SET owner = ?2, owner_epoch = ?3,"
        " taken_from = coalesce(taken_from, ?1),"
        " t_updated = ?4 WHERE owner = ?1 AND open";
    if (rv == AMK_OK) {
        rv =
            exec4(sm, SQL_INC, id, by, (int64_t)y.epoch, now, "move incidents");
    }
    /* A transfer the taker itself asked for (to X) is void: it would be a
     * transfer to itself. */
    static const char SQL_XFER[] =
        "UPDATE incidents SET transfer_to = CASE WHEN owner = ?2 THEN NULL"
        " ELSE ?2 END, t_updated = ?4 WHERE transfer_to = ?1 AND open";
    if (rv == AMK_OK) {
        rv = exec4(sm, SQL_XFER, id, by, 0, now, "redirect transfers");
    }
    static const char SQL_RES[] =
        "UPDATE resources SET controlled_by = ?2, controller_epoch = ?3,"
        " taken_from = coalesce(taken_from, ?1),"
        " updated_at = ?4 WHERE controlled_by = ?1";
    if (rv == AMK_OK) {
        rv =
            exec4(sm, SQL_RES, id, by, (int64_t)y.epoch, now, "move resources");
    }
    return rv;
}

static const char SQL_TAKEN_INC[] =
    "SELECT id FROM incidents WHERE taken_from = ?1 AND open ORDER BY id";
static const char SQL_TAKEN_RES[] =
    "SELECT id FROM resources WHERE taken_from = ?1 ORDER BY id";

int sm_centre_handback(struct amk_sm *sm)
{
    const struct amk_cmd_centre_handback *c = &sm->cmd->u.centre_handback;
    char id[AMK_ID_MAX + 1];
    struct centre_row x;
    sm_str_copy(id, sizeof id, c->id);
    sm_set_event(sm, "centre.handback", AMK_OBJ_CENTRE, id);
    int rv = sm_require_admin(sm);
    if (rv == AMK_OK) {
        rv = load_existing(sm, c->id, id, &x);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    if (strcmp(x.controlled_by, id) == 0) {
        return sm_reject(sm, AMK_ECONFLICT,
                         "%s controls itself: nothing to hand back", id);
    }
    rv = sm_require_version(sm, x.version);
    if (rv != AMK_OK) {
        return rv;
    }
    bool keep = c->incidents == AMK_HB_KEEP;
    int64_t now = sm->cmd->h.timestamp_ms;
    int64_t new_epoch = (int64_t)x.epoch + 1;

    rv = sm_change(sm, AMK_OBJ_CENTRE, id);
    if (rv == AMK_OK && !keep) {
        rv = collect(sm, SQL_TAKEN_INC, id, AMK_OBJ_INCIDENT);
    }
    if (rv == AMK_OK) {
        rv = collect(sm, SQL_TAKEN_RES, id, AMK_OBJ_RESOURCE);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    static const char SQL_X[] =
        "UPDATE centres SET epoch = ?3, controlled_by = ?1,"
        " service_state = 'normal', updated_at = ?4"
        " WHERE id = ?1";
    rv = exec4(sm, SQL_X, id, "", new_epoch, now, "hand back centre");
    static const char SQL_INC[] =
        "UPDATE incidents SET owner = ?1, owner_epoch = ?3,"
        " taken_from = NULL, t_updated = ?4"
        " WHERE taken_from = ?1 AND open";
    static const char SQL_INC_KEEP[] = "UPDATE incidents SET taken_from = NULL"
                                       " WHERE taken_from = ?1";
    if (rv == AMK_OK) {
        rv = exec4(sm, keep ? SQL_INC_KEEP : SQL_INC, id, "", new_epoch, now,
                   "return incidents");
    }
    /* Closed incidents keep their owner; they no longer remember X. */
    static const char SQL_INC_CLOSED[] =
        "UPDATE incidents SET taken_from = NULL"
        " WHERE taken_from = ?1 AND NOT open"
        "";
    if (rv == AMK_OK) {
        rv = exec4(sm, SQL_INC_CLOSED, id, "", 0, 0, "forget closed");
    }
    static const char SQL_RES[] =
        "UPDATE resources SET controlled_by = ?1, controller_epoch = ?3,"
        " taken_from = NULL, updated_at = ?4"
        " WHERE taken_from = ?1";
    if (rv == AMK_OK) {
        rv = exec4(sm, SQL_RES, id, "", new_epoch, now, "return resources");
    }
    return rv;
}
