/* sm/incident.c: incidents (113 calls and the missions they become): create,
 * update with compare-and-set, notes, assignment of resources, close,
 * cancel, and transfer between centres (request, then accept or reject by
 * the receiving centre, as in UCRI2 CAD-to-CAD handover). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "json.h"

struct incident_row {
    uint8_t status;
    uint64_t version;
    char owner[AMK_ID_MAX + 1];
    char transfer_to[AMK_ID_MAX + 1];
};

static const char SQL_GET[] =
    "SELECT status, version, owner, coalesce(transfer_to, '')"
    " FROM incidents WHERE id = ?1";

/* Returns AMK_OK and fills row, or rejects NOT_FOUND. */
static int incident_load(struct amk_sm *sm, const char *id,
                         struct incident_row *row)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_GET);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = sm_step_one(sm, s, "load incident");
    if (rv == AMK_ENOTFOUND) {
        return sm_reject(sm, AMK_ENOTFOUND, "incident %s not found", id);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    uint8_t status = 0;
    const char *name = sm_col_text(s, 0);
    amk_enum_parse(AMK_ENUM_INCIDENT_STATUS, name, strlen(name), &status);
    row->status = status;
    row->version = (uint64_t)sqlite3_column_int64(s, 1);
    sm_copy(row->owner, sizeof row->owner, sm_col_text(s, 2));
    sm_copy(row->transfer_to, sizeof row->transfer_to, sm_col_text(s, 3));
    sqlite3_reset(s);
    return AMK_OK;
}

/* The checks every write on an existing incident makes, in the order a
 * client can act on: who are you (401/403), does it exist (404), may your
 * centre act on it (409 STALE_EPOCH), is your copy current (412). */
static int load_for_write(struct amk_sm *sm, struct amk_str idstr,
                          const char *event, char *id, struct incident_row *row)
{
    sm_str_copy(id, AMK_ID_MAX + 1, idstr);
    sm_set_event(sm, event, AMK_OBJ_INCIDENT, id);
    int rv = sm_require_writer(sm);
    if (rv == AMK_OK) {
        rv = incident_load(sm, id, row);
    }
    if (rv == AMK_OK) {
        rv = sm_require_owner(sm, row->owner);
    }
    if (rv == AMK_OK) {
        rv = sm_require_version(sm, row->version);
    }
    return rv;
}

static int require_open(struct amk_sm *sm, const struct incident_row *row)
{
    if (!sm_incident_is_open(row->status)) {
        return sm_reject(sm, AMK_ECONFLICT, "incident is %s",
                         amk_enum_name(AMK_ENUM_INCIDENT_STATUS, row->status));
    }
    return AMK_OK;
}

/* --- Field validation ---------------------------------------------------- */

static bool digits(struct amk_str s, uint32_t n)
{
    if (s.ptr == NULL || s.len != n) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9') {
            return false;
        }
    }
    return true;
}

/* NIMN criterion: chapter and number, "10.01". */
static bool criterion_valid(struct amk_str s)
{
    return s.len == 5 && digits((struct amk_str){s.ptr, 2}, 2) &&
           s.ptr[2] == '.' && digits((struct amk_str){s.ptr + 3, 2}, 2);
}

static bool phone_valid(struct amk_str s)
{
    if (s.len == 0 || s.len > 32) {
        return false;
    }
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= '0' && c <= '9') || c == '+' || c == ' ' || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool present_f64(double v)
{
    return !isnan(v);
}

struct fields {
    uint8_t urgency;
    struct amk_str criterion;
    double lat, lon, accuracy_m;
    struct amk_str address, municipality, caller_phone, caller_name;
    uint32_t n_patients;
    const struct amk_patient *patients;
};

static int validate(struct amk_sm *sm, const struct fields *f)
{
    if (f->criterion.ptr != NULL && !criterion_valid(f->criterion)) {
        return sm_reject(sm, AMK_EINVALID,
                         "criterion: a NIMN code like \"10.01\"");
    }
    bool has_lat = present_f64(f->lat), has_lon = present_f64(f->lon);
    if (has_lat != has_lon) {
        return sm_reject(sm, AMK_EINVALID, "location: lat and lon go together");
    }
    if (has_lat && (f->lat < -90.0 || f->lat > 90.0)) {
        return sm_reject(sm, AMK_EINVALID, "location.lat: -90..90");
    }
    if (has_lon && (f->lon < -180.0 || f->lon > 180.0)) {
        return sm_reject(sm, AMK_EINVALID, "location.lon: -180..180");
    }
    if (present_f64(f->accuracy_m) && f->accuracy_m < 0) {
        return sm_reject(sm, AMK_EINVALID, "location.accuracy_m: >= 0");
    }
    if (f->municipality.ptr != NULL && !digits(f->municipality, 4)) {
        return sm_reject(sm, AMK_EINVALID,
                         "location.municipality: 4-digit kommunenummer");
    }
    if (f->caller_phone.ptr != NULL && !phone_valid(f->caller_phone)) {
        return sm_reject(sm, AMK_EINVALID,
                         "caller.phone: up to 32 of 0-9 + - and space");
    }
    if (f->n_patients != AMK_CMD_ABSENT) {
        for (uint32_t i = 0; i < f->n_patients; i++) {
            const struct amk_patient *p = &f->patients[i];
            if (p->national_id.ptr != NULL && !digits(p->national_id, 11)) {
                return sm_reject(sm, AMK_EINVALID,
                                 "patients[%u].national_id: 11 digits", i);
            }
            if (p->age != INT32_MIN && (p->age < 0 || p->age > 150)) {
                return sm_reject(sm, AMK_EINVALID, "patients[%u].age: 0..150",
                                 i);
            }
        }
    }
    return AMK_OK;
}

static void bind_f64(sqlite3_stmt *s, int col, double v)
{
    if (present_f64(v)) {
        sqlite3_bind_double(s, col, v);
    } else {
        sqlite3_bind_null(s, col);
    }
}

/* Patients are replaced whole and never queried inside: they are kept as
 * the JSON array every reader gets. */
static void patients_json(struct sm_json *o, uint32_t n,
                          const struct amk_patient *patients)
{
    sm_json_lit(o, "[");
    for (uint32_t i = 0; i < n && n != AMK_CMD_ABSENT; i++) {
        const struct amk_patient *p = &patients[i];
        bool f = true;
        sm_json_lit(o, i == 0 ? "{" : ",{");
        sm_json_key(o, &f, "name");
        if (p->name.ptr != NULL) {
            sm_json_str(o, p->name.ptr, p->name.len);
        } else {
            sm_json_lit(o, "null");
        }
        sm_json_key(o, &f, "national_id");
        if (p->national_id.ptr != NULL) {
            sm_json_str(o, p->national_id.ptr, p->national_id.len);
        } else {
            sm_json_lit(o, "null");
        }
        sm_json_key(o, &f, "age");
        if (p->age != INT32_MIN) {
            sm_json_int(o, p->age);
        } else {
            sm_json_lit(o, "null");
        }
        sm_json_key(o, &f, "sex");
        const char *sex = p->sex == AMK_ENUM_NONE
                              ? "unknown"
                              : amk_enum_name(AMK_ENUM_SEX, p->sex);
        sm_json_str(o, sex, strlen(sex));
        sm_json_lit(o, "}");
    }
    sm_json_lit(o, "]");
}

/* A note as the element of the incident's notes array. */
static void note_json(struct amk_sm *sm, struct sm_json *o, struct amk_str text)
{
    bool f = true;
    sm_json_lit(o, "{");
    sm_json_key(o, &f, "at");
    sm_json_time(o, sm->cmd->h.timestamp_ms);
    sm_json_key(o, &f, "by");
    if (sm->actor.operator_id[0] != '\0') {
        sm_json_str(o, sm->actor.operator_id, strlen(sm->actor.operator_id));
    } else {
        sm_json_str(
            o, sm->cmd->h.principal.ptr != NULL ? sm->cmd->h.principal.ptr : "",
            sm->cmd->h.principal.len);
    }
    sm_json_key(o, &f, "text");
    sm_json_str(o, text.ptr, text.len);
    sm_json_lit(o, "}");
}

static int out_of_memory(struct amk_sm *sm, struct sm_json *o)
{
    free(o->ptr);
    snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
    return AMK_ENOMEM;
}

static int patients_replace(struct amk_sm *sm, const char *id, uint32_t n,
                            const struct amk_patient *patients)
{
    static const char SQL[] = "UPDATE incidents SET patients = ?2"
                              " WHERE id = ?1";
    struct sm_json o = {0};
    patients_json(&o, n, patients);
    if (o.failed) {
        return out_of_memory(sm, &o);
    }
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        free(o.ptr);
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_text(s, 2, o.ptr, (int)o.len, SQLITE_STATIC);
    int rv = sm_exec_stmt(sm, s, "replace patients");
    sqlite3_clear_bindings(s);
    free(o.ptr);
    return rv;
}

/* Appends to the notes array in place: notes are append-only. */
static int note_add(struct amk_sm *sm, const char *id, struct amk_str text)
{
    static const char SQL[] =
        "UPDATE incidents SET notes = CASE WHEN notes = '[]' THEN '[' || ?2"
        " || ']' ELSE substr(notes, 1, length(notes) - 1) || ',' || ?2 || ']'"
        " END WHERE id = ?1";
    struct sm_json o = {0};
    note_json(sm, &o, text);
    if (o.failed) {
        return out_of_memory(sm, &o);
    }
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        free(o.ptr);
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_text(s, 2, o.ptr, (int)o.len, SQLITE_STATIC);
    int rv = sm_exec_stmt(sm, s, "add note");
    sqlite3_clear_bindings(s);
    free(o.ptr);
    return rv;
}

/* --- Commands ------------------------------------------------------------ */

static int next_case_number(struct amk_sm *sm, const char *centre, char *out,
                            size_t cap)
{
    time_t secs = (time_t)(sm->cmd->h.timestamp_ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        return sm_reject(sm, AMK_EINVALID, "timestamp out of range");
    }
    int year = tm.tm_year + 1900;
    /* UPDATE then INSERT: an upsert with RETURNING costs an ephemeral
     * table per call. */
    static const char SQL_BUMP[] =
        "UPDATE case_seq SET seq = seq + 1 WHERE centre = ?1 AND year = ?2";
    static const char SQL_FIRST[] =
        "INSERT INTO case_seq (centre, year, seq) VALUES (?1, ?2, 1)";
    static const char SQL_READ[] =
        "SELECT seq FROM case_seq WHERE centre = ?1 AND year = ?2";
    sqlite3_stmt *s = sm_sql(sm, SQL_BUMP);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, centre);
    sqlite3_bind_int(s, 2, year);
    int rv = sm_exec_stmt(sm, s, "case number");
    if (rv != AMK_OK) {
        return rv;
    }
    if (sqlite3_changes(sm->db) == 0) {
        s = sm_sql(sm, SQL_FIRST);
        if (s == NULL) {
            return AMK_EINTERNAL;
        }
        sm_bind_text(s, 1, centre);
        sqlite3_bind_int(s, 2, year);
        rv = sm_exec_stmt(sm, s, "first case number");
        if (rv != AMK_OK) {
            return rv;
        }
    }
    s = sm_sql(sm, SQL_READ);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, centre);
    sqlite3_bind_int(s, 2, year);
    if (sqlite3_step(s) != SQLITE_ROW) {
        rv = sm_sqlite_error(sm, "read case number");
        sqlite3_reset(s);
        return rv;
    }
    long long seq = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    snprintf(out, cap, "%s-%04d-%06lld", centre, year, seq);
    return AMK_OK;
}

int sm_incident_create(struct amk_sm *sm)
{
    const struct amk_cmd_incident_create *c = &sm->cmd->u.incident_create;
    char id[AMK_ID_MAX + 1];
    sm_str_copy(id, sizeof id, c->id);
    sm_set_event(sm, "incident.created", AMK_OBJ_INCIDENT, id);
    int rv = sm_require_session(sm);
    if (rv != AMK_OK) {
        return rv;
    }
    if (!sm_id_valid(c->id)) {
        return sm_reject(sm, AMK_EINVALID, "id: not a valid incident id");
    }
    struct fields f = {c->urgency,      c->criterion,    c->lat,
                       c->lon,          c->accuracy_m,   c->address,
                       c->municipality, c->caller_phone, c->caller_name,
                       c->n_patients,   c->patients};
    rv = validate(sm, &f);
    if (rv != AMK_OK) {
        return rv;
    }
    const char *centre = sm->actor.centre;
    char area[AMK_ID_MAX + 1];
    sm_copy(area, sizeof area, centre);
    if (c->area_centre.ptr != NULL) {
        sm_str_copy(area, sizeof area, c->area_centre);
        if (sm_centre_epoch(sm, area) == 0) {
            return sm_reject(sm, AMK_EINVALID, "area_centre: %s not found",
                             area);
        }
    }
    char case_number[AMK_ID_MAX + 32];
    rv = next_case_number(sm, centre, case_number, sizeof case_number);
    if (rv != AMK_OK) {
        return rv;
    }
    struct sm_json patients = {0}, notes = {0};
    patients_json(&patients, c->n_patients, c->patients);
    sm_json_lit(&notes, "[");
    if (c->note.ptr != NULL && c->note.len > 0) {
        note_json(sm, &notes, c->note);
    }
    sm_json_lit(&notes, "]");
    if (patients.failed || notes.failed) {
        free(notes.ptr);
        return out_of_memory(sm, &patients);
    }
    /* OR IGNORE: an existing id leaves the row alone and changes nothing;
     * the savepoint undoes the case number taken above. */
    static const char SQL[] =
        "INSERT OR IGNORE INTO incidents (id, created_index, case_number,"
        " status, urgency, criterion, lat, lon, accuracy_m, address,"
        " municipality, caller_phone, caller_name, answering_centre,"
        " area_centre, owner, owner_epoch, version, t_created, t_updated,"
        " open, patients, notes) VALUES (?1, ?2, ?3, 'new', ?4, ?5, ?6, ?7,"
        " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?13, ?15, 1, ?16, ?16, 1, ?17, ?18)";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        free(patients.ptr);
        free(notes.ptr);
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)sm->index);
    sm_bind_text(s, 3, case_number);
    sm_bind_text(s, 4, amk_enum_name(AMK_ENUM_URGENCY, c->urgency));
    sm_bind_str(s, 5, c->criterion);
    bind_f64(s, 6, c->lat);
    bind_f64(s, 7, c->lon);
    bind_f64(s, 8, c->accuracy_m);
    sm_bind_str(s, 9, c->address);
    sm_bind_str(s, 10, c->municipality);
    sm_bind_str(s, 11, c->caller_phone);
    sm_bind_str(s, 12, c->caller_name);
    sm_bind_text(s, 13, centre);
    sm_bind_text(s, 14, area);
    sqlite3_bind_int64(s, 15, (sqlite3_int64)sm->actor.centre_epoch);
    sqlite3_bind_int64(s, 16, sm->cmd->h.timestamp_ms);
    sqlite3_bind_text(s, 17, patients.ptr, (int)patients.len, SQLITE_STATIC);
    sqlite3_bind_text(s, 18, notes.ptr, (int)notes.len, SQLITE_STATIC);
    rv = sm_exec_stmt(sm, s, "insert incident");
    sqlite3_clear_bindings(s);
    free(patients.ptr);
    free(notes.ptr);
    if (rv != AMK_OK) {
        return rv;
    }
    if (sqlite3_changes(sm->db) == 0) {
        return sm_reject(sm, AMK_ECONFLICT, "incident %s already exists", id);
    }
    sm->result->created = true;
    return sm_change_bumped(sm, AMK_OBJ_INCIDENT, id);
}

/* Sets the incident's status and the time it first reached it. */
static const char SQL_SET_STATUS[] =
    "UPDATE incidents SET status = ?2, open = ?3,"
    " t_triaged = CASE WHEN ?2 = 'triaged' THEN coalesce(t_triaged, ?4)"
    "  ELSE t_triaged END,"
    " t_dispatched = CASE WHEN ?2 = 'dispatched'"
    "  THEN coalesce(t_dispatched, ?4) ELSE t_dispatched END,"
    " t_on_scene = CASE WHEN ?2 = 'on_scene' THEN coalesce(t_on_scene, ?4)"
    "  ELSE t_on_scene END,"
    " t_transporting = CASE WHEN ?2 = 'transporting'"
    "  THEN coalesce(t_transporting, ?4) ELSE t_transporting END,"
    " t_resolved = CASE WHEN ?2 = 'resolved' THEN coalesce(t_resolved, ?4)"
    "  ELSE t_resolved END,"
    " t_closed = CASE WHEN ?2 = 'closed' THEN ?4 ELSE t_closed END,"
    " t_cancelled = CASE WHEN ?2 = 'cancelled' THEN ?4 ELSE t_cancelled END,"
    " transfer_to = CASE WHEN ?3 THEN transfer_to ELSE NULL END,"
    " t_updated = ?4 WHERE id = ?1";

static int set_status(struct amk_sm *sm, const char *id, uint8_t status)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_SET_STATUS);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_text(s, 2, amk_enum_name(AMK_ENUM_INCIDENT_STATUS, status));
    sqlite3_bind_int(s, 3, sm_incident_is_open(status));
    sqlite3_bind_int64(s, 4, sm->cmd->h.timestamp_ms);
    int rv = sm_exec_stmt(sm, s, "set incident status");
    if (rv == AMK_OK) {
        rv = sm_change(sm, AMK_OBJ_INCIDENT, id);
    }
    return rv;
}

/* Unit statuses move the incident forward, never back. */
int sm_incident_follow_unit(struct amk_sm *sm, const char *id,
                            uint8_t unit_status)
{
    uint8_t target = sm_incident_status_for_unit(unit_status);
    if (target == AMK_ENUM_NONE) {
        return AMK_OK;
    }
    struct incident_row row;
    int rv = incident_load(sm, id, &row);
    if (rv != AMK_OK) {
        return rv == AMK_ENOTFOUND ? AMK_EINTERNAL : rv;
    }
    if (!sm_incident_is_open(row.status) || row.status >= target) {
        return AMK_OK;
    }
    return set_status(sm, id, target);
}

int sm_incident_update(struct amk_sm *sm)
{
    const struct amk_cmd_incident_update *c = &sm->cmd->u.incident_update;
    char id[AMK_ID_MAX + 1];
    struct incident_row row;
    int rv = load_for_write(sm, c->id, "incident.updated", id, &row);
    if (rv == AMK_OK) {
        rv = require_open(sm, &row);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    struct fields f = {c->urgency,      c->criterion,    c->lat,
                       c->lon,          c->accuracy_m,   c->address,
                       c->municipality, c->caller_phone, c->caller_name,
                       c->n_patients,   c->patients};
    rv = validate(sm, &f);
    if (rv != AMK_OK) {
        return rv;
    }
    bool has_location = present_f64(c->lat) || present_f64(c->accuracy_m) ||
                        c->address.ptr != NULL || c->municipality.ptr != NULL;
    bool has_caller = c->caller_phone.ptr != NULL || c->caller_name.ptr != NULL;
    bool has_patients = c->n_patients != AMK_CMD_ABSENT;
    bool has_status = c->status != AMK_ENUM_NONE;
    if (c->urgency == AMK_ENUM_NONE && c->criterion.ptr == NULL &&
        !has_location && !has_caller && !has_patients && !has_status) {
        return sm_reject(sm, AMK_EINVALID, "nothing to update");
    }
    if (has_status && c->status != row.status) {
        if (c->status == AMK_INC_CLOSED || c->status == AMK_INC_CANCELLED) {
            return sm_reject(sm, AMK_ECONFLICT,
                             "status: use close or cancel to end an incident");
        }
        if (!sm_incident_can_move(row.status, c->status)) {
            return sm_reject(
                sm, AMK_ECONFLICT, "status: %s cannot move to %s",
                amk_enum_name(AMK_ENUM_INCIDENT_STATUS, row.status),
                amk_enum_name(AMK_ENUM_INCIDENT_STATUS, c->status));
        }
        rv = set_status(sm, id, c->status);
        if (rv != AMK_OK) {
            return rv;
        }
    }
    /* A location or caller given is replaced whole; absent fields within it
     * become null. */
    static const char SQL[] =
        "UPDATE incidents SET urgency = coalesce(?2, urgency),"
        " criterion = coalesce(?3, criterion),"
        " lat = CASE WHEN ?4 THEN ?5 ELSE lat END,"
        " lon = CASE WHEN ?4 THEN ?6 ELSE lon END,"
        " accuracy_m = CASE WHEN ?4 THEN ?7 ELSE accuracy_m END,"
        " address = CASE WHEN ?4 THEN ?8 ELSE address END,"
        " municipality = CASE WHEN ?4 THEN ?9 ELSE municipality END,"
        " caller_phone = CASE WHEN ?10 THEN ?11 ELSE caller_phone END,"
        " caller_name = CASE WHEN ?10 THEN ?12 ELSE caller_name END,"
        " version = version + 1, t_updated = ?14 WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    if (c->urgency != AMK_ENUM_NONE) {
        sm_bind_text(s, 2, amk_enum_name(AMK_ENUM_URGENCY, c->urgency));
    }
    sm_bind_str(s, 3, c->criterion);
    sqlite3_bind_int(s, 4, has_location);
    bind_f64(s, 5, c->lat);
    bind_f64(s, 6, c->lon);
    bind_f64(s, 7, c->accuracy_m);
    sm_bind_str(s, 8, c->address);
    sm_bind_str(s, 9, c->municipality);
    sqlite3_bind_int(s, 10, has_caller);
    sm_bind_str(s, 11, c->caller_phone);
    sm_bind_str(s, 12, c->caller_name);
    sqlite3_bind_int64(s, 14, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "update incident");
    if (rv == AMK_OK && has_patients) {
        rv = patients_replace(sm, id, c->n_patients, c->patients);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    /* The statement above raised the version (once: it runs once per
     * command), which spares bump_versions a second write of the row. */
    return sm_change_bumped(sm, AMK_OBJ_INCIDENT, id);
}

/* Marks the incident changed (its version rises once per command). */
static int touch(struct amk_sm *sm, const char *id)
{
    return sm_change(sm, AMK_OBJ_INCIDENT, id);
}

int sm_incident_note(struct amk_sm *sm)
{
    const struct amk_cmd_incident_note *c = &sm->cmd->u.incident_note;
    char id[AMK_ID_MAX + 1];
    struct incident_row row;
    /* Notes may be added after closing: late documentation is normal. */
    int rv = load_for_write(sm, c->id, "incident.note_added", id, &row);
    if (rv != AMK_OK) {
        return rv;
    }
    if (c->text.len == 0) {
        return sm_reject(sm, AMK_EINVALID, "text: must not be empty");
    }
    rv = note_add(sm, id, c->text);
    if (rv == AMK_OK) {
        rv = touch(sm, id);
    }
    if (rv == AMK_OK) {
        sm->result->created = true;
    }
    return rv;
}

/* A resource on this incident's write must be controlled by the acting
 * centre too (the same fence as the incident). */
static int load_resource_for(struct amk_sm *sm, struct amk_str idstr, char *rid,
                             struct sm_resource_row *row)
{
    sm_str_copy(rid, AMK_ID_MAX + 1, idstr);
    int rv = sm_resource_load(sm, rid, row);
    if (rv == AMK_OK && strcmp(row->controlled_by, sm->actor.centre) != 0) {
        uint64_t epoch = sm_centre_epoch(sm, row->controlled_by);
        return sm_reject_stale(sm, row->controlled_by, epoch,
                               "resource %s is controlled by %s at epoch %llu",
                               rid, row->controlled_by,
                               (unsigned long long)epoch);
    }
    return rv;
}

int sm_incident_assign(struct amk_sm *sm)
{
    const struct amk_cmd_incident_resource *c = &sm->cmd->u.incident_assign;
    char id[AMK_ID_MAX + 1], rid[AMK_ID_MAX + 1];
    struct incident_row row;
    struct sm_resource_row res;
    int rv = load_for_write(sm, c->id, "incident.assigned", id, &row);
    if (rv == AMK_OK) {
        rv = require_open(sm, &row);
    }
    if (rv == AMK_OK) {
        rv = load_resource_for(sm, c->resource, rid, &res);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    if (row.status == AMK_INC_RESOLVED) {
        return sm_reject(sm, AMK_ECONFLICT, "incident is resolved");
    }
    if (res.incident[0] != '\0') {
        return sm_reject(sm, AMK_ECONFLICT,
                         "resource %s is already assigned to incident %s", rid,
                         res.incident);
    }
    if (!sm_resource_is_available(res.status)) {
        return sm_reject(sm, AMK_ECONFLICT, "resource %s is %s, not available",
                         rid,
                         amk_enum_name(AMK_ENUM_RESOURCE_STATUS, res.status));
    }
    static const char SQL_A[] =
        "INSERT INTO assignments (incident, resource, phase, active,"
        " t_alerted) VALUES (?1, ?2, 'alerted', 1, ?3)";
    static const char SQL_R[] =
        "UPDATE resources SET pre_alert_status = status, status = 'alerted',"
        " incident = ?2, updated_at = ?3"
        " WHERE id = ?1";
    int64_t now = sm->cmd->h.timestamp_ms;
    sqlite3_stmt *s = sm_sql(sm, SQL_A);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_text(s, 2, rid);
    sqlite3_bind_int64(s, 3, now);
    rv = sm_exec_stmt(sm, s, "insert assignment");
    if (rv != AMK_OK) {
        return rv;
    }
    s = sm_sql(sm, SQL_R);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, rid);
    sm_bind_text(s, 2, id);
    sqlite3_bind_int64(s, 3, now);
    rv = sm_exec_stmt(sm, s, "alert resource");
    if (rv == AMK_OK) {
        /* The incident change comes first: it is the answer's body. */
        rv = row.status < AMK_INC_DISPATCHED
                 ? set_status(sm, id, AMK_INC_DISPATCHED)
                 : touch(sm, id);
    }
    if (rv == AMK_OK) {
        rv = sm_change(sm, AMK_OBJ_RESOURCE, rid);
    }
    if (rv == AMK_OK) {
        sm->result->created = true;
    }
    return rv;
}

/* The resource must be on this incident now. */
static int require_assigned(struct amk_sm *sm, const char *id, const char *rid,
                            const struct sm_resource_row *res)
{
    if (strcmp(res->incident, id) != 0) {
        return sm_reject(sm, AMK_ECONFLICT,
                         "resource %s is not assigned to incident %s", rid, id);
    }
    return AMK_OK;
}

int sm_incident_phase(struct amk_sm *sm)
{
    const struct amk_cmd_incident_phase *c = &sm->cmd->u.incident_phase;
    char id[AMK_ID_MAX + 1], rid[AMK_ID_MAX + 1];
    struct incident_row row;
    struct sm_resource_row res;
    int rv = load_for_write(sm, c->id, "incident.phase", id, &row);
    if (rv == AMK_OK) {
        rv = require_open(sm, &row);
    }
    if (rv == AMK_OK) {
        rv = load_resource_for(sm, c->resource, rid, &res);
    }
    if (rv == AMK_OK) {
        rv = require_assigned(sm, id, rid, &res);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    if (c->phase == AMK_RS_ALERTED ||
        !sm_resource_can_move(res.status, c->phase)) {
        return sm_reject(sm, AMK_ECONFLICT, "phase: %s cannot move to %s",
                         amk_enum_name(AMK_ENUM_RESOURCE_STATUS, res.status),
                         amk_enum_name(AMK_ENUM_RESOURCE_STATUS, c->phase));
    }
    rv = touch(sm, id);
    if (rv == AMK_OK) {
        rv = sm_resource_move(sm, rid, res.status, c->phase, id);
    }
    return rv;
}

int sm_incident_unassign(struct amk_sm *sm)
{
    const struct amk_cmd_incident_resource *c = &sm->cmd->u.incident_unassign;
    char id[AMK_ID_MAX + 1], rid[AMK_ID_MAX + 1];
    struct incident_row row;
    struct sm_resource_row res;
    int rv = load_for_write(sm, c->id, "incident.unassigned", id, &row);
    if (rv == AMK_OK) {
        rv = load_resource_for(sm, c->resource, rid, &res);
    }
    if (rv == AMK_OK) {
        rv = require_assigned(sm, id, rid, &res);
    }
    if (rv == AMK_OK) {
        rv = touch(sm, id);
    }
    if (rv == AMK_OK) {
        rv = sm_resource_release(sm, rid, id);
    }
    return rv;
}

static const char SQL_ACTIVE_UNITS[] =
    "SELECT resource FROM assignments WHERE incident = ?1 AND active"
    " ORDER BY id";

/* Frees every unit still on the incident (close, cancel). */
static int release_all(struct amk_sm *sm, const char *id)
{
    char units[64][AMK_ID_MAX + 1];
    for (;;) {
        unsigned n = 0;
        sqlite3_stmt *s = sm_sql(sm, SQL_ACTIVE_UNITS);
        if (s == NULL) {
            return AMK_EINTERNAL;
        }
        sm_bind_text(s, 1, id);
        while (n < 64 && sqlite3_step(s) == SQLITE_ROW) {
            snprintf(units[n++], AMK_ID_MAX + 1, "%s", sm_col_text(s, 0));
        }
        sqlite3_reset(s);
        if (n == 0) {
            return AMK_OK;
        }
        for (unsigned i = 0; i < n; i++) {
            int rv = sm_resource_release(sm, units[i], id);
            if (rv != AMK_OK) {
                return rv;
            }
        }
    }
}

static int end_incident(struct amk_sm *sm, const char *id, uint8_t status)
{
    int rv = set_status(sm, id, status);
    if (rv == AMK_OK) {
        rv = release_all(sm, id);
    }
    return rv;
}

int sm_incident_close(struct amk_sm *sm)
{
    const struct amk_cmd_incident_close *c = &sm->cmd->u.incident_close;
    char id[AMK_ID_MAX + 1];
    struct incident_row row;
    int rv = load_for_write(sm, c->id, "incident.closed", id, &row);
    if (rv == AMK_OK) {
        rv = require_open(sm, &row);
    }
    if (rv == AMK_OK) {
        rv = end_incident(sm, id, AMK_INC_CLOSED);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    static const char SQL[] = "UPDATE incidents SET disposition = ?2"
                              " WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_text(s, 2, amk_enum_name(AMK_ENUM_DISPOSITION, c->disposition));
    return sm_exec_stmt(sm, s, "set disposition");
}

int sm_incident_cancel(struct amk_sm *sm)
{
    const struct amk_cmd_incident_cancel *c = &sm->cmd->u.incident_cancel;
    char id[AMK_ID_MAX + 1];
    struct incident_row row;
    int rv = load_for_write(sm, c->id, "incident.cancelled", id, &row);
    if (rv == AMK_OK) {
        rv = require_open(sm, &row);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    if (row.status > AMK_INC_DISPATCHED) {
        return sm_reject(sm, AMK_ECONFLICT,
                         "incident is %s: a unit has reached it; close it"
                         " instead",
                         amk_enum_name(AMK_ENUM_INCIDENT_STATUS, row.status));
    }
    rv = end_incident(sm, id, AMK_INC_CANCELLED);
    if (rv != AMK_OK) {
        return rv;
    }
    static const char SQL[] = "UPDATE incidents SET cancel_reason = ?2"
                              " WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_str(s, 2, c->reason);
    return sm_exec_stmt(sm, s, "set cancel reason");
}

int sm_incident_transfer(struct amk_sm *sm)
{
    const struct amk_cmd_incident_transfer *c = &sm->cmd->u.incident_transfer;
    char id[AMK_ID_MAX + 1], to[AMK_ID_MAX + 1];
    struct incident_row row;
    int rv = load_for_write(sm, c->id, "incident.transfer_requested", id, &row);
    if (rv == AMK_OK) {
        rv = require_open(sm, &row);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    sm_str_copy(to, sizeof to, c->to);
    if (!sm_id_valid(c->to) || sm_centre_epoch(sm, to) == 0) {
        return sm_reject(sm, AMK_EINVALID, "to: centre %s not found", to);
    }
    if (strcmp(to, row.owner) == 0) {
        return sm_reject(sm, AMK_EINVALID, "to: %s already owns the incident",
                         to);
    }
    static const char SQL_CTL[] = "SELECT controlled_by FROM centres"
                                  " WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, SQL_CTL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, to);
    char controller[AMK_ID_MAX + 1] = "";
    if (sqlite3_step(s) == SQLITE_ROW) {
        sm_copy(controller, sizeof controller, sm_col_text(s, 0));
    }
    sqlite3_reset(s);
    if (strcmp(controller, to) != 0) {
        return sm_reject(sm, AMK_ECONFLICT,
                         "to: %s is controlled by %s; transfer there instead",
                         to, controller);
    }
    static const char SQL[] = "UPDATE incidents SET transfer_to = ?2,"
                              " t_updated = ?3 WHERE id = ?1";
    s = sm_sql(sm, SQL);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sm_bind_text(s, 2, to);
    sqlite3_bind_int64(s, 3, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "request transfer");
    if (rv == AMK_OK) {
        rv = sm_change(sm, AMK_OBJ_INCIDENT, id);
    }
    return rv;
}

int sm_incident_transfer_answer(struct amk_sm *sm, bool accept)
{
    const struct amk_cmd_incident_transfer_answer *c =
        accept ? &sm->cmd->u.incident_transfer_accept
               : &sm->cmd->u.incident_transfer_reject;
    char id[AMK_ID_MAX + 1];
    struct incident_row row;
    sm_str_copy(id, sizeof id, c->id);
    sm_set_event(sm,
                 accept ? "incident.transferred" : "incident.transfer_rejected",
                 AMK_OBJ_INCIDENT, id);
    int rv = sm_require_writer(sm);
    if (rv == AMK_OK) {
        rv = incident_load(sm, id, &row);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    if (row.transfer_to[0] == '\0') {
        return sm_reject(sm, AMK_ECONFLICT, "no transfer is pending");
    }
    /* Only the receiving centre answers. */
    rv = sm_require_owner(sm, row.transfer_to);
    if (rv == AMK_OK) {
        rv = sm_require_version(sm, row.version);
    }
    if (rv == AMK_OK) {
        rv = require_open(sm, &row);
    }
    if (rv != AMK_OK) {
        return rv;
    }
    static const char SQL_ACCEPT[] =
        "UPDATE incidents SET owner = transfer_to, owner_epoch = ?2,"
        " transfer_to = NULL, taken_from = NULL,"
        " t_updated = ?3 WHERE id = ?1";
    static const char SQL_REJECT[] = "UPDATE incidents SET transfer_to = NULL,"
                                     " t_updated = ?3 WHERE id = ?1";
    sqlite3_stmt *s = sm_sql(sm, accept ? SQL_ACCEPT : SQL_REJECT);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)sm->actor.centre_epoch);
    sqlite3_bind_int64(s, 3, sm->cmd->h.timestamp_ms);
    rv = sm_exec_stmt(sm, s, "answer transfer");
    if (rv == AMK_OK && c->reason.len > 0) {
        rv = note_add(sm, id, c->reason);
    }
    if (rv == AMK_OK) {
        rv = sm_change(sm, AMK_OBJ_INCIDENT, id);
    }
    return rv;
}
