/* sm/resource.c: resources (ambulances, helicopters, doctors on call) and
 * the reports that reach them from the field through Nødnett bridges.
 * Status (with the emergency alarm, TETRA status 0) and position each have
 * their own sequence counter, so a late or repeated radio message never rolls
 * a unit back: a report whose seq is not above the last accepted one is
 * accepted and ignored. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char SQL_GET[] =
    "SELECT status, version, status_seq, pos_seq, controlled_by,"
    " coalesce(incident, '') FROM resources WHERE id = ?1";

int sm_resource_load(struct amk_sm *sm, const char *id,
                     struct sm_resource_row *row)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_GET);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = sm_step_one(sm, s, "load resource");
    if (rv == AMK_ENOTFOUND) {
        return sm_reject(sm, AMK_ENOTFOUND, "resource %s not found", id);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    const char *name = sm_col_text(s, 0);
    row->status = 0;
    amk_enum_parse(AMK_ENUM_RESOURCE_STATUS, name, strlen(name), &row->status);
    row->version = (uint64_t)sqlite3_column_int64(s, 1);
    row->status_seq = sqlite3_column_int64(s, 2);
    row->pos_seq = sqlite3_column_int64(s, 3);
    sm_copy(row->controlled_by, sizeof row->controlled_by, sm_col_text(s, 4));
    sm_copy(row->incident, sizeof row->incident, sm_col_text(s, 5));
    sqlite3_reset(s);
    return AMK_OK;
}

int sm_resource_register(struct amk_sm *sm)
{
    const struct amk_cmd_resource_register *c = &sm->cmd->u.resource_register;
    char id[AMK_ID_MAX + 1], home[AMK_ID_MAX + 1];
    sm_str_copy(id, sizeof id, c->id);
    sm_str_copy(home, sizeof home, c->home_centre);
    sm_set_event(sm, "resource.registered", AMK_OBJ_RESOURCE, id);
    int rv = sm_require_admin(sm);
    if (rv != AMK_OK) {
        return rv;
    }
    if (!sm_id_valid(c->id)) {
        return sm_reject(sm, AMK_EINVALID,
                         "id: a call sign of 1-64 of A-Z a-z 0-9 . _ : -");
    }
    if (c->issi < 0 || c->issi > 16777215) {
        return sm_reject(sm, AMK_EINVALID, "issi: 0..16777215 (24-bit ISSI)");
    }
    static const char SQL_HOME[] =
        "SELECT c.controlled_by, k.epoch FROM centres c"
        " JOIN centres k ON k.id = c.controlled_by WHERE c.id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL_HOME);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, home);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return sm_reject(sm, AMK_EINVALID, "home_centre: %s not found", home);
    }
    char controller[AMK_ID_MAX + 1];
    sm_copy(controller, sizeof controller, sm_col_text(s, 0));
    int64_t controller_epoch = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);

    static const char SQL_DUP[] =
        "SELECT id, id = ?1 FROM resources WHERE id = ?1 OR issi = ?2"
        " ORDER BY 2 DESC";
    s = sm_sql(sm, SQL_DUP);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, c->issi);
    if (sqlite3_step(s) == SQLITE_ROW) {
        bool same_id = sqlite3_column_int(s, 1) != 0;
        char other[AMK_ID_MAX + 1];
        sm_copy(other, sizeof other, sm_col_text(s, 0));
        sqlite3_reset(s);
        if (same_id) {
            return sm_reject(sm, AMK_ECONFLICT, "resource %s already exists",
                             id);
        }
        return sm_reject(sm, AMK_ECONFLICT, "issi: %lld is used by %s",
                         (long long)c->issi, other);
    }
    sqlite3_reset(s);

    /* A unit enters service available at its station; a unit of a centre
     * under takeover is controlled by the taking centre and returns with
     * the handback. */
    static const char SQL[] =
        "INSERT INTO resources (id, type, issi, home_centre, controlled_by,"
        " controller_epoch, taken_from, status, status_seq, pos_seq, alarm,"
        " version, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
        " CASE WHEN ?4 = ?5 THEN NULL ELSE ?4 END, 'available_station', 0, 0,"
        " 0, 1, ?7, ?7)";
    s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_text(s, 2, amk_enum_name(AMK_ENUM_RESOURCE_TYPE, c->type));
    sqlite3_bind_int64(s, 3, c->issi);
    sm_bind_text(s, 4, home);
    sm_bind_text(s, 5, controller);
    sqlite3_bind_int64(s, 6, controller_epoch);
    sqlite3_bind_int64(s, 7, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "insert resource");
    if (rv != AMK_OK) {
        return rv;
    }
    sm->result->created = true;
    return sm_change_bumped(sm, AMK_OBJ_RESOURCE, id);
}

/* Reports are facts from the field: any open session (console or bridge)
 * may send them, and so may the system and admins; they are fenced by their
 * sequence numbers, not by epochs, so a bridge keeps reporting through a
 * takeover of its centre. */
static int require_reporter(struct amk_sm *sm)
{
    uint8_t role = sm_role(sm);
    if ((role == AMK_ROLE_ADMIN || role == AMK_ROLE_SYSTEM) &&
        sm->cmd->h.session.len == 0) {
        return AMK_OK;
    }
    if (!sm->actor.has_session) {
        return sm_reject(sm, AMK_EUNAUTHENTICATED,
                         sm->cmd->h.session.len == 0
                             ? "reports need a session (X-Amk-Session)"
                             : "unknown session");
    }
    if (!sm->actor.session_open) {
        return sm_reject(sm, AMK_EUNAUTHENTICATED, "session is closed");
    }
    if (role == AMK_ROLE_OBSERVER) {
        return sm_reject(sm, AMK_EFORBIDDEN, "observers cannot report");
    }
    return AMK_OK;
}

static int report_prelude(struct amk_sm *sm, struct amk_str idstr,
                          const char *event, char *id,
                          struct sm_resource_row *row, int64_t seq)
{
    sm_str_copy(id, AMK_ID_MAX + 1, idstr);
    sm_set_event(sm, event, AMK_OBJ_RESOURCE, id);
    int rv = require_reporter(sm);
    if (rv == AMK_OK) {
        rv = sm_resource_load(sm, id, row);
    }
    if (rv == AMK_OK && seq <= 0) {
        rv = sm_reject(sm, AMK_EINVALID, "seq: must be > 0");
    }
    return rv;
}

static const char SQL_PHASE[] =
    "UPDATE assignments SET phase = ?3,"
    " t_acknowledged = CASE WHEN ?3 = 'acknowledged'"
    "  THEN coalesce(t_acknowledged, ?4) ELSE t_acknowledged END,"
    " t_en_route = CASE WHEN ?3 = 'en_route' THEN coalesce(t_en_route, ?4)"
    "  ELSE t_en_route END,"
    " t_on_scene = CASE WHEN ?3 = 'on_scene' THEN coalesce(t_on_scene, ?4)"
    "  ELSE t_on_scene END,"
    " t_transporting = CASE WHEN ?3 = 'transporting'"
    "  THEN coalesce(t_transporting, ?4) ELSE t_transporting END,"
    " t_at_destination = CASE WHEN ?3 = 'at_destination'"
    "  THEN coalesce(t_at_destination, ?4) ELSE t_at_destination END"
    " WHERE incident = ?1 AND resource = ?2 AND active";

static const char SQL_CLEAR[] =
    "UPDATE assignments SET phase = 'cleared', active = 0, t_cleared = ?3"
    " WHERE incident = ?1 AND resource = ?2 AND active";

static const char SQL_MOVE[] =
    "UPDATE resources SET status = ?2,"
    " incident = CASE WHEN ?3 THEN incident ELSE NULL END,"
    " pre_alert_status = CASE WHEN ?3 THEN pre_alert_status ELSE NULL END"
    " WHERE id = ?1";

int sm_resource_move(struct amk_sm *sm, const char *rid, uint8_t from,
                     uint8_t to, const char *incident)
{
    (void)from;
    bool mission = sm_resource_on_mission(to);
    sqlite3_stmt *s = sm_sql(sm, SQL_MOVE);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, rid);
    sm_bind_text(s, 2, amk_enum_name(AMK_ENUM_RESOURCE_STATUS, to));
    sqlite3_bind_int(s, 3, mission);
    int rv = sm_exec_stmt(sm, s, "move resource");
    if (rv == AMK_OK) {
        rv = sm_change(sm, AMK_OBJ_RESOURCE, rid);
    }
    if (rv != AMK_OK || incident == NULL || incident[0] == '\0') {
        return rv;
    }
    s = sm_sql(sm, mission ? SQL_PHASE : SQL_CLEAR);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, incident);
    sm_bind_text(s, 2, rid);
    if (mission) {
        sm_bind_text(s, 3, amk_enum_name(AMK_ENUM_RESOURCE_STATUS, to));
        sqlite3_bind_int64(s, 4, sm->cmd->h.timestamp_ms);
    } else {
        sqlite3_bind_int64(s, 3, sm->cmd->h.timestamp_ms);
    }
    rv = sm_exec_stmt(sm, s, "assignment phase");
    if (rv == AMK_OK) {
        rv = sm_change(sm, AMK_OBJ_INCIDENT, incident);
    }
    if (rv == AMK_OK && mission) {
        rv = sm_incident_follow_unit(sm, incident, to);
    }
    return rv;
}

int sm_resource_release(struct amk_sm *sm, const char *rid,
                        const char *incident)
{
    /* A unit stood down before it moved returns to where it was; one that
     * was already on its way is available where it is. */
    static const char SQL[] =
        "SELECT status, coalesce(pre_alert_status, 'available_mobile')"
        " FROM resources WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, rid);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "assignment names missing resource %s", rid);
        return AMK_EINTERNAL;
    }
    uint8_t status = 0, back = AMK_RS_AVAILABLE_MOBILE;
    const char *name = sm_col_text(s, 0);
    amk_enum_parse(AMK_ENUM_RESOURCE_STATUS, name, strlen(name), &status);
    if (status == AMK_RS_ALERTED || status == AMK_RS_ACKNOWLEDGED) {
        name = sm_col_text(s, 1);
        amk_enum_parse(AMK_ENUM_RESOURCE_STATUS, name, strlen(name), &back);
    } else if (!sm_resource_on_mission(status)) {
        back = status; /* out of service stays out of service */
    }
    sqlite3_reset(s);
    return sm_resource_move(sm, rid, status, back, incident);
}

static int accept_stale(struct amk_sm *sm)
{
    sm->result->applied = false;
    return AMK_OK;
}

int sm_resource_status(struct amk_sm *sm)
{
    const struct amk_cmd_resource_status *c = &sm->cmd->u.resource_status;
    char id[AMK_ID_MAX + 1];
    struct sm_resource_row row;
    int rv = report_prelude(sm, c->id, "resource.status", id, &row, c->seq);
    if (rv != AMK_OK) {
        return rv;
    }
    if (c->raw_code != INT64_MIN && (c->raw_code < 0 || c->raw_code > 65535)) {
        return sm_reject(sm, AMK_EINVALID, "raw_code: 0..65535");
    }
    if (c->seq <= row.status_seq) {
        return accept_stale(sm);
    }
    uint8_t to = c->status;
    if (to == AMK_RS_ALERTED) {
        return sm_reject(sm, AMK_ECONFLICT,
                         "status: alerted is set by an assignment, not"
                         " reported");
    }
    if (!sm_resource_can_move(row.status, to)) {
        return sm_reject(sm, AMK_ECONFLICT, "status: %s cannot move to %s",
                         amk_enum_name(AMK_ENUM_RESOURCE_STATUS, row.status),
                         amk_enum_name(AMK_ENUM_RESOURCE_STATUS, to));
    }
    rv = sm_resource_move(sm, id, row.status, to, row.incident);
    if (rv != AMK_OK) {
        return rv;
    }
    static const char SQL[] =
        "UPDATE resources SET status_seq = ?2, status_time = ?3,"
        " raw_code = ?4 WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, c->seq);
    sqlite3_bind_int64(s, 3,
                       c->event_time != INT64_MIN ? c->event_time
                                                  : sm->cmd->h.timestamp_ms);
    if (c->raw_code != INT64_MIN) {
        sqlite3_bind_int64(s, 4, c->raw_code);
    }
    return sm_exec_stmt(sm, s, "record status");
}

int sm_resource_alarm(struct amk_sm *sm)
{
    const struct amk_cmd_resource_alarm *c = &sm->cmd->u.resource_alarm;
    char id[AMK_ID_MAX + 1];
    struct sm_resource_row row;
    int rv = report_prelude(sm, c->id, "resource.alarm", id, &row, c->seq);
    if (rv != AMK_OK) {
        return rv;
    }
    if (c->seq <= row.status_seq) {
        return accept_stale(sm);
    }
    static const char SQL[] =
        "UPDATE resources SET alarm = ?2, status_seq = ?3, status_time = ?4"
        " WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_int(s, 2, c->on ? 1 : 0);
    sqlite3_bind_int64(s, 3, c->seq);
    sqlite3_bind_int64(s, 4,
                       c->event_time != INT64_MIN ? c->event_time
                                                  : sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "record alarm");
    if (rv == AMK_OK) {
        rv = sm_change(sm, AMK_OBJ_RESOURCE, id);
    }
    return rv;
}

int sm_resource_position(struct amk_sm *sm)
{
    const struct amk_cmd_resource_position *c = &sm->cmd->u.resource_position;
    char id[AMK_ID_MAX + 1];
    struct sm_resource_row row;
    int rv = report_prelude(sm, c->id, "resource.position", id, &row, c->seq);
    if (rv != AMK_OK) {
        return rv;
    }
    if (c->lat < -90.0 || c->lat > 90.0) {
        return sm_reject(sm, AMK_EINVALID, "lat: -90..90");
    }
    if (c->lon < -180.0 || c->lon > 180.0) {
        return sm_reject(sm, AMK_EINVALID, "lon: -180..180");
    }
    if (!isnan(c->accuracy_m) && c->accuracy_m < 0) {
        return sm_reject(sm, AMK_EINVALID, "accuracy_m: >= 0");
    }
    if (!isnan(c->speed) && c->speed < 0) {
        return sm_reject(sm, AMK_EINVALID, "speed: >= 0");
    }
    if (!isnan(c->heading) && (c->heading < 0 || c->heading >= 360)) {
        return sm_reject(sm, AMK_EINVALID, "heading: 0..360 (exclusive)");
    }
    if (c->seq <= row.pos_seq) {
        return accept_stale(sm);
    }
    static const char SQL[] =
        "UPDATE resources SET pos_seq = ?2, lat = ?3, lon = ?4,"
        " accuracy_m = ?5, speed = ?6, heading = ?7, pos_time = ?8,"
        " pos_at = ?9, version = version + 1, updated_at = ?9 WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, c->seq);
    sqlite3_bind_double(s, 3, c->lat);
    sqlite3_bind_double(s, 4, c->lon);
    double optional[3] = {c->accuracy_m, c->speed, c->heading};
    for (int i = 0; i < 3; i++) {
        if (!isnan(optional[i])) {
            sqlite3_bind_double(s, 5 + i, optional[i]);
        }
    }
    int64_t now = sm->cmd->h.timestamp_ms;
    sqlite3_bind_int64(s, 8, c->event_time != INT64_MIN ? c->event_time : now);
    sqlite3_bind_int64(s, 9, now);
    rv = sm_exec_stmt(sm, s, "record position");
    if (rv == AMK_OK) {
        rv = sm_change_bumped(sm, AMK_OBJ_RESOURCE, id);
    }
    return rv;
}
