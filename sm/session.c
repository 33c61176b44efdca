/* sm/session.c: console and bridge sessions. A session records its centre's
 * epoch at login; it may write while that epoch is current and its centre
 * controls itself. A login while the centre is controlled by another gives a
 * read-only session. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int sm_session_open(struct amk_sm *sm)
{
    const struct amk_cmd_session_open *c = &sm->cmd->u.session_open;
    char id[AMK_ID_MAX + 1], centre[AMK_ID_MAX + 1];
    sm_str_copy(id, sizeof id, c->id);
    sm_str_copy(centre, sizeof centre, c->centre);
    sm_set_event(sm, "session.opened", AMK_OBJ_SESSION, id);
    if (!sm_id_valid(c->id)) {
        return sm_reject(sm, AMK_EINVALID, "id: not a valid session id");
    }
    if (c->console.len == 0 || c->operator_id.len == 0) {
        return sm_reject(sm, AMK_EINVALID,
                         c->console.len == 0 ? "console: required"
                                             : "operator: required");
    }
    static const char SQL_CENTRE[] =
        "SELECT epoch, controlled_by = id FROM centres WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL_CENTRE);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, centre);
    int rv = sm_step_one(sm, s, "load centre");
    if (rv == AMK_ENOTFOUND) {
        return sm_reject(sm, AMK_EINVALID, "centre: %s not found", centre);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    int64_t epoch = sqlite3_column_int64(s, 0);
    bool self_controlled = sqlite3_column_int(s, 1) != 0;
    sqlite3_reset(s);

    static const char SQL_EXISTS[] = "SELECT 1 FROM sessions WHERE id = ?1";
    s = sm_sql(sm, SQL_EXISTS);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    rv = sqlite3_step(s);
    sqlite3_reset(s);
    if (rv == SQLITE_ROW) {
        return sm_reject(sm, AMK_ECONFLICT, "session %s already exists", id);
    }
    uint8_t role = sm->cmd->h.role;
    bool read_only = !self_controlled || role == AMK_ROLE_OBSERVER;

    static const char SQL[] =
        "INSERT INTO sessions (id, centre, console, operator_id, principal,"
        " role, epoch, read_only, opened_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
        " ?7, ?8, ?9)";
    s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_text(s, 2, centre);
    sm_bind_str(s, 3, c->console);
    sm_bind_str(s, 4, c->operator_id);
    sqlite3_bind_text(
        s, 5, sm->cmd->h.principal.ptr != NULL ? sm->cmd->h.principal.ptr : "",
        (int)sm->cmd->h.principal.len, SQLITE_STATIC);
    sm_bind_text(s, 6, amk_enum_name(AMK_ENUM_ROLE, role));
    sqlite3_bind_int64(s, 7, epoch);
    sqlite3_bind_int(s, 8, read_only);
    sqlite3_bind_int64(s, 9, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "insert session");
    if (rv != AMK_OK) {
        return rv;
    }
    sm->result->created = true;
    return sm_change(sm, AMK_OBJ_SESSION, id);
}

int sm_session_close(struct amk_sm *sm)
{
    const struct amk_cmd_session_close *c = &sm->cmd->u.session_close;
    char id[AMK_ID_MAX + 1];
    sm_str_copy(id, sizeof id, c->id);
    sm_set_event(sm, "session.closed", AMK_OBJ_SESSION, id);
    static const char SQL_GET[] =
        "SELECT closed_at IS NOT NULL FROM sessions WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL_GET);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = sm_step_one(sm, s, "load session");
    if (rv == AMK_ENOTFOUND) {
        return sm_reject(sm, AMK_ENOTFOUND, "session %s not found", id);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    bool closed = sqlite3_column_int(s, 0) != 0;
    sqlite3_reset(s);
    /* A session ends itself; an admin may end any. */
    uint8_t role = sm_role(sm);
    if (role != AMK_ROLE_ADMIN && role != AMK_ROLE_SYSTEM &&
        !sm_str_eq(sm->cmd->h.session, id)) {
        return sm_reject(sm, AMK_EFORBIDDEN,
                         "only the session itself or an admin may close it");
    }
    if (closed) {
        sm->result->applied = false; /* already closed: nothing to do */
        return AMK_OK;
    }
    static const char SQL[] =
        "UPDATE sessions SET closed_at = ?2 WHERE id = ?1";
    s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "close session");
    if (rv != AMK_OK) {
        return rv;
    }
    return sm_change(sm, AMK_OBJ_SESSION, id);
}
