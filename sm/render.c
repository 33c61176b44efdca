/* sm/render.c: renders each object as JSON, the one rendering every reader
 * sees (answers, events, gets, lists). Written in C rather than as SQL views:
 * SQLite's JSON functions re-parse every nested value, which made rendering a
 * quarter of the cost of applying a command. Output is deterministic: the
 * same row always gives the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

typedef struct sm_json out_t;

/* Column col of s as a JSON value; SQL NULL as null. */
static void col_text(out_t *o, sqlite3_stmt *s, int col)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL) {
        sm_json_lit(o, "null");
        return;
    }
    const char *t = (const char *)sqlite3_column_text(s, col);
    sm_json_str(o, t, (size_t)sqlite3_column_bytes(s, col));
}

static void col_int(out_t *o, sqlite3_stmt *s, int col)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL) {
        sm_json_lit(o, "null");
    } else {
        sm_json_int(o, sqlite3_column_int64(s, col));
    }
}

static void col_bool(out_t *o, sqlite3_stmt *s, int col)
{
    sm_json_lit(o, sqlite3_column_int(s, col) ? "true" : "false");
}

static void col_real(out_t *o, sqlite3_stmt *s, int col)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL) {
        sm_json_lit(o, "null");
    } else {
        sm_json_real(o, sqlite3_column_double(s, col));
    }
}

static void col_time(out_t *o, sqlite3_stmt *s, int col)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL) {
        sm_json_lit(o, "null");
    } else {
        sm_json_time(o, sqlite3_column_int64(s, col));
    }
}

/* Column col holds JSON text sm/ wrote itself (backups, patients, notes). */
static void col_raw(out_t *o, sqlite3_stmt *s, int col)
{
    sm_json_add(o, (const char *)sqlite3_column_text(s, col),
                (size_t)sqlite3_column_bytes(s, col));
}

#define lit sm_json_lit
#define key SM_JSON_KEY

static int step_row(struct amk_sm *sm, sqlite3_stmt *s, const char *what)
{
    int rv = sqlite3_step(s);
    if (rv == SQLITE_ROW) {
        return 1;
    }
    if (rv == SQLITE_DONE) {
        return 0;
    }
    return -sm_sqlite_error(sm, what);
}

static const char SQL_CENTRE[] =
    "SELECT id, name, region, backups, auto_takeover, service_state, epoch,"
    " controlled_by, version FROM centres WHERE id = ?1";

static int centre(struct amk_sm *sm, const char *id, out_t *o,
                  uint64_t *version)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_CENTRE);
    if (s == NULL) {
        return -AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = step_row(sm, s, "render centre");
    if (rv == 1) {
        bool f = true;
        lit(o, "{");
        key(o, &f, "id"), col_text(o, s, 0);
        key(o, &f, "name"), col_text(o, s, 1);
        key(o, &f, "region"), col_text(o, s, 2);
        key(o, &f, "backups"), col_raw(o, s, 3);
        key(o, &f, "auto_takeover"), col_bool(o, s, 4);
        key(o, &f, "service_state"), col_text(o, s, 5);
        key(o, &f, "epoch"), col_int(o, s, 6);
        key(o, &f, "controlled_by"), col_text(o, s, 7);
        key(o, &f, "version"), col_int(o, s, 8);
        lit(o, "}");
        if (version != NULL) {
            *version = (uint64_t)sqlite3_column_int64(s, 8);
        }
    }
    sqlite3_reset(s);
    return rv;
}

static const char SQL_SESSION[] =
    "SELECT s.id, s.centre, s.console, s.operator_id, s.role, s.epoch,"
    " s.read_only, s.closed_at IS NULL AND NOT s.read_only"
    " AND c.epoch = s.epoch AND c.controlled_by = c.id,"
    " s.opened_at, s.closed_at FROM sessions s"
    " JOIN centres c ON c.id = s.centre WHERE s.id = ?1";

static int session(struct amk_sm *sm, const char *id, out_t *o)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_SESSION);
    if (s == NULL) {
        return -AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = step_row(sm, s, "render session");
    if (rv == 1) {
        bool f = true;
        lit(o, "{");
        key(o, &f, "id"), col_text(o, s, 0);
        key(o, &f, "centre"), col_text(o, s, 1);
        key(o, &f, "console"), col_text(o, s, 2);
        key(o, &f, "operator"), col_text(o, s, 3);
        key(o, &f, "role"), col_text(o, s, 4);
        key(o, &f, "epoch"), col_int(o, s, 5);
        key(o, &f, "read_only"), col_bool(o, s, 6);
        key(o, &f, "valid"), col_bool(o, s, 7);
        key(o, &f, "opened_at"), col_time(o, s, 8);
        key(o, &f, "closed_at"), col_time(o, s, 9);
        lit(o, "}");
    }
    sqlite3_reset(s);
    return rv;
}

static const char SQL_INCIDENT[] =
    "SELECT id, case_number, status, urgency, criterion, lat, lon,"
    " accuracy_m, address, municipality, caller_phone, caller_name, owner,"
    " owner_epoch, answering_centre, area_centre, transfer_to, disposition,"
    " t_created, t_triaged, t_dispatched, t_on_scene, t_transporting,"
    " t_resolved, t_closed, t_cancelled, t_updated, version, patients, notes"
    " FROM incidents WHERE id = ?1";
static const char SQL_ASSIGNMENTS[] =
    "SELECT resource, phase, active, t_alerted, t_acknowledged, t_en_route,"
    " t_on_scene, t_transporting, t_at_destination, t_cleared"
    " FROM assignments WHERE incident = ?1 ORDER BY id";

/* Runs a child query and renders each row as an object with row_fn. */
static int children(struct amk_sm *sm, const char *sql, const char *id,
                    out_t *o, void (*row_fn)(out_t *o, sqlite3_stmt *s))
{
    sqlite3_stmt *s = sm_sql(sm, sql);
    if (s == NULL) {
        return -AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    lit(o, "[");
    int rv, n = 0;
    while ((rv = step_row(sm, s, "render children")) == 1) {
        if (n++ > 0) {
            lit(o, ",");
        }
        row_fn(o, s);
    }
    sqlite3_reset(s);
    lit(o, "]");
    return rv;
}

static void assignment_row(out_t *o, sqlite3_stmt *s)
{
    static const char *const phases[] = {
        "alerted",      "acknowledged",   "en_route", "on_scene",
        "transporting", "at_destination", "cleared"};
    bool f = true, t = true;
    lit(o, "{");
    key(o, &f, "resource"), col_text(o, s, 0);
    key(o, &f, "phase"), col_text(o, s, 1);
    key(o, &f, "active"), col_bool(o, s, 2);
    key(o, &f, "times"), lit(o, "{");
    for (int i = 0; i < 7; i++) {
        sm_json_key(o, &t, phases[i]), col_time(o, s, 3 + i);
    }
    lit(o, "}}");
}

static int incident(struct amk_sm *sm, const char *id, out_t *o,
                    uint64_t *version)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_INCIDENT);
    if (s == NULL) {
        return -AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = step_row(sm, s, "render incident");
    if (rv != 1) {
        sqlite3_reset(s);
        return rv;
    }
    bool f = true;
    lit(o, "{");
    key(o, &f, "id"), col_text(o, s, 0);
    key(o, &f, "case_number"), col_text(o, s, 1);
    key(o, &f, "status"), col_text(o, s, 2);
    key(o, &f, "urgency"), col_text(o, s, 3);
    key(o, &f, "criterion"), col_text(o, s, 4);
    key(o, &f, "location");
    if (sqlite3_column_type(s, 5) == SQLITE_NULL &&
        sqlite3_column_type(s, 8) == SQLITE_NULL &&
        sqlite3_column_type(s, 9) == SQLITE_NULL) {
        lit(o, "null");
    } else {
        bool l = true;
        lit(o, "{");
        key(o, &l, "lat"), col_real(o, s, 5);
        key(o, &l, "lon"), col_real(o, s, 6);
        key(o, &l, "accuracy_m"), col_real(o, s, 7);
        key(o, &l, "address"), col_text(o, s, 8);
        key(o, &l, "municipality"), col_text(o, s, 9);
        lit(o, "}");
    }
    bool c = true;
    key(o, &f, "caller"), lit(o, "{");
    key(o, &c, "phone"), col_text(o, s, 10);
    key(o, &c, "name"), col_text(o, s, 11);
    lit(o, "}");
    key(o, &f, "owner"), col_text(o, s, 12);
    key(o, &f, "owner_epoch"), col_int(o, s, 13);
    key(o, &f, "answering_centre"), col_text(o, s, 14);
    key(o, &f, "area_centre"), col_text(o, s, 15);
    key(o, &f, "transfer_to"), col_text(o, s, 16);
    key(o, &f, "disposition"), col_text(o, s, 17);
    static const char *const times[] = {
        "created",  "triaged", "dispatched", "on_scene", "transporting",
        "resolved", "closed",  "cancelled",  "updated"};
    bool t = true;
    key(o, &f, "times"), lit(o, "{");
    for (int i = 0; i < 9; i++) {
        sm_json_key(o, &t, times[i]), col_time(o, s, 18 + i);
    }
    lit(o, "}");
    key(o, &f, "patients"), col_raw(o, s, 28);
    key(o, &f, "notes"), col_raw(o, s, 29);
    /* Assignments come last so the row statement can be reset first. */
    int64_t v = sqlite3_column_int64(s, 27);
    sqlite3_reset(s);
    key(o, &f, "assignments");
    rv = children(sm, SQL_ASSIGNMENTS, id, o, assignment_row);
    if (rv < 0) {
        return rv;
    }
    key(o, &f, "version"), sm_json_int(o, v);
    lit(o, "}");
    if (version != NULL) {
        *version = (uint64_t)v;
    }
    return 1;
}

static const char SQL_RESOURCE[] =
    "SELECT id, type, issi, home_centre, controlled_by, controller_epoch,"
    " status, status_seq, status_time, pos_seq, lat, lon, accuracy_m, speed,"
    " heading, pos_time, incident, alarm, version FROM resources"
    " WHERE id = ?1";

static int resource(struct amk_sm *sm, const char *id, out_t *o,
                    uint64_t *version)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_RESOURCE);
    if (s == NULL) {
        return -AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = step_row(sm, s, "render resource");
    if (rv == 1) {
        bool f = true;
        lit(o, "{");
        key(o, &f, "id"), col_text(o, s, 0);
        key(o, &f, "type"), col_text(o, s, 1);
        key(o, &f, "issi"), col_int(o, s, 2);
        key(o, &f, "home_centre"), col_text(o, s, 3);
        key(o, &f, "controlled_by"), col_text(o, s, 4);
        key(o, &f, "controller_epoch"), col_int(o, s, 5);
        key(o, &f, "status"), col_text(o, s, 6);
        key(o, &f, "status_seq"), col_int(o, s, 7);
        key(o, &f, "status_time"), col_time(o, s, 8);
        key(o, &f, "position");
        if (sqlite3_column_int64(s, 9) == 0) {
            lit(o, "null");
        } else {
            bool p = true;
            lit(o, "{");
            key(o, &p, "lat"), col_real(o, s, 10);
            key(o, &p, "lon"), col_real(o, s, 11);
            key(o, &p, "accuracy_m"), col_real(o, s, 12);
            key(o, &p, "speed"), col_real(o, s, 13);
            key(o, &p, "heading"), col_real(o, s, 14);
            key(o, &p, "time"), col_time(o, s, 15);
            key(o, &p, "seq"), col_int(o, s, 9);
            lit(o, "}");
        }
        key(o, &f, "incident"), col_text(o, s, 16);
        key(o, &f, "alarm"), col_bool(o, s, 17);
        key(o, &f, "version"), col_int(o, s, 18);
        lit(o, "}");
        if (version != NULL) {
            *version = (uint64_t)sqlite3_column_int64(s, 18);
        }
    }
    sqlite3_reset(s);
    return rv;
}

int sm_render_into(struct amk_sm *sm, enum amk_sm_object kind, const char *id,
                   struct sm_json *o, uint64_t *version)
{
    switch (kind) {
        case AMK_OBJ_CENTRE:
            return centre(sm, id, o, version);
        case AMK_OBJ_SESSION:
            return session(sm, id, o);
        case AMK_OBJ_INCIDENT:
            return incident(sm, id, o, version);
        case AMK_OBJ_RESOURCE:
            return resource(sm, id, o, version);
    }
    return -AMK_EINTERNAL;
}

int sm_render(struct amk_sm *sm, enum amk_sm_object kind, const char *id,
              char **json, uint64_t *version)
{
    struct sm_json o = {0};
    *json = NULL;
    int rv = sm_render_into(sm, kind, id, &o, version);
    if (o.failed) {
        free(o.ptr);
        snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        return AMK_ENOMEM;
    }
    if (rv == 1) {
        *json = o.ptr;
        return AMK_OK;
    }
    free(o.ptr);
    return rv == 0 ? AMK_OK : -rv;
}
