/* sm/schema.c: the tables of a fresh state machine database, the views that
 * render each object as JSON (so every reader sees one rendering), and the
 * deterministic SQL functions they use. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Times are stored as integer ms since the epoch (leader time from the
 * command header) and rendered RFC 3339 UTC with milliseconds. */
static void amk_time_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_int64 ms = sqlite3_value_int64(argv[0]);
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, millis);
    sqlite3_result_text(ctx, buf, n, SQLITE_TRANSIENT);
}

int sm_schema_register_functions(sqlite3 *db)
{
    return sqlite3_create_function(db, "amk_time", 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC |
                                       SQLITE_INNOCUOUS,
                                   NULL, amk_time_fn, NULL, NULL);
}

/* Scalar subqueries lose SQLite's JSON subtype, hence the json(...) around
 * each: without it the nested value would be embedded as a string. */
static const char SCHEMA[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('schema_version', 1), ('events_purged', 0);"

    "CREATE TABLE centres ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL,"
    " backups TEXT NOT NULL, auto_takeover INTEGER NOT NULL,"
    " service_state TEXT NOT NULL, epoch INTEGER NOT NULL,"
    " controlled_by TEXT NOT NULL, version INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX centres_controller ON centres(controlled_by);"

    "CREATE TABLE sessions ("
    " id TEXT PRIMARY KEY, centre TEXT NOT NULL, console TEXT NOT NULL,"
    " operator_id TEXT NOT NULL, principal TEXT NOT NULL, role TEXT NOT NULL,"
    " epoch INTEGER NOT NULL, read_only INTEGER NOT NULL,"
    " opened_at INTEGER NOT NULL, closed_at INTEGER"
    ") WITHOUT ROWID;"

    "CREATE TABLE case_seq (centre TEXT NOT NULL, year INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, PRIMARY KEY (centre, year)) WITHOUT ROWID;"

    "CREATE TABLE incidents ("
    " id TEXT PRIMARY KEY, created_index INTEGER NOT NULL UNIQUE,"
    " case_number TEXT NOT NULL UNIQUE, status TEXT NOT NULL,"
    " urgency TEXT NOT NULL, criterion TEXT,"
    " lat REAL, lon REAL, accuracy_m REAL, address TEXT, municipality TEXT,"
    " caller_phone TEXT, caller_name TEXT,"
    " answering_centre TEXT NOT NULL, area_centre TEXT NOT NULL,"
    " owner TEXT NOT NULL, owner_epoch INTEGER NOT NULL,"
    " taken_from TEXT, transfer_to TEXT, disposition TEXT,"
    " cancel_reason TEXT, version INTEGER NOT NULL,"
    " t_created INTEGER NOT NULL, t_triaged INTEGER, t_dispatched INTEGER,"
    " t_on_scene INTEGER, t_transporting INTEGER, t_resolved INTEGER,"
    " t_closed INTEGER, t_cancelled INTEGER, t_updated INTEGER NOT NULL,"
    " open INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX incidents_order ON incidents(open, created_index);"
    "CREATE INDEX incidents_owner ON incidents(owner, open);"
    "CREATE INDEX incidents_taken ON incidents(taken_from)"
    " WHERE taken_from IS NOT NULL;"
    "CREATE INDEX incidents_transfer ON incidents(transfer_to)"
    " WHERE transfer_to IS NOT NULL;"

    "CREATE TABLE patients (incident TEXT NOT NULL, pos INTEGER NOT NULL,"
    " name TEXT, national_id TEXT, age INTEGER, sex TEXT,"
    " PRIMARY KEY (incident, pos)) WITHOUT ROWID;"

    "CREATE TABLE notes (incident TEXT NOT NULL, pos INTEGER NOT NULL,"
    " at INTEGER NOT NULL, by TEXT NOT NULL, text TEXT NOT NULL,"
    " PRIMARY KEY (incident, pos)) WITHOUT ROWID;"

    "CREATE TABLE assignments ("
    " id INTEGER PRIMARY KEY, incident TEXT NOT NULL, resource TEXT NOT NULL,"
    " phase TEXT NOT NULL, active INTEGER NOT NULL,"
    " t_alerted INTEGER, t_acknowledged INTEGER, t_en_route INTEGER,"
    " t_on_scene INTEGER, t_transporting INTEGER, t_at_destination INTEGER,"
    " t_cleared INTEGER);"
    "CREATE INDEX assignments_incident ON assignments(incident, id);"
    "CREATE INDEX assignments_active ON assignments(resource) WHERE active;"

    "CREATE TABLE resources ("
    " id TEXT PRIMARY KEY, type TEXT NOT NULL, issi INTEGER NOT NULL UNIQUE,"
    " home_centre TEXT NOT NULL, controlled_by TEXT NOT NULL,"
    " controller_epoch INTEGER NOT NULL, taken_from TEXT,"
    " status TEXT NOT NULL, status_seq INTEGER NOT NULL,"
    " status_time INTEGER, raw_code INTEGER, pre_alert_status TEXT,"
    " pos_seq INTEGER NOT NULL, lat REAL, lon REAL, accuracy_m REAL,"
    " speed REAL, heading REAL, pos_time INTEGER, pos_at INTEGER,"
    " incident TEXT, alarm INTEGER NOT NULL, version INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX resources_controller ON resources(controlled_by);"
    "CREATE INDEX resources_taken ON resources(taken_from)"
    " WHERE taken_from IS NOT NULL;"

    "CREATE TABLE idem (principal TEXT NOT NULL, key TEXT NOT NULL,"
    " idx INTEGER NOT NULL, at INTEGER NOT NULL, code INTEGER NOT NULL,"
    " message TEXT NOT NULL, owner TEXT NOT NULL, epoch INTEGER NOT NULL,"
    " version INTEGER NOT NULL, applied INTEGER NOT NULL,"
    " created INTEGER NOT NULL, body TEXT,"
    " PRIMARY KEY (principal, key)) WITHOUT ROWID;"
    "CREATE INDEX idem_at ON idem(at);"

    "CREATE TABLE events (idx INTEGER PRIMARY KEY, body TEXT NOT NULL);"

    "CREATE TABLE nodes (id INTEGER PRIMARY KEY, raft_address TEXT NOT NULL,"
    " http_address TEXT NOT NULL, binary_address TEXT NOT NULL,"
    " centre TEXT NOT NULL, region TEXT NOT NULL,"
    " registered_at INTEGER NOT NULL);"

    "CREATE TABLE audit ("
    " idx INTEGER PRIMARY KEY, at INTEGER NOT NULL, command TEXT NOT NULL,"
    " principal TEXT NOT NULL, role TEXT NOT NULL, centre TEXT NOT NULL,"
    " console TEXT NOT NULL, session TEXT NOT NULL, epoch INTEGER NOT NULL,"
    " object TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,"
    " idem_key TEXT NOT NULL);"
    "CREATE INDEX audit_object ON audit(object, idx);"
    "CREATE INDEX audit_principal ON audit(principal, idx);"

    "CREATE VIEW centre_json(id, j) AS SELECT id, json_object("
    " 'id', id, 'name', name, 'region', region, 'backups', json(backups),"
    " 'auto_takeover', json(CASE WHEN auto_takeover THEN 'true'"
    "  ELSE 'false' END),"
    " 'service_state', service_state, 'epoch', epoch,"
    " 'controlled_by', controlled_by, 'version', version) FROM centres;"

    "CREATE VIEW session_json(id, j) AS SELECT s.id, json_object("
    " 'id', s.id, 'centre', s.centre, 'console', s.console,"
    " 'operator', s.operator_id, 'role', s.role, 'epoch', s.epoch,"
    " 'read_only', json(CASE WHEN s.read_only THEN 'true' ELSE 'false' END),"
    " 'valid', json(CASE WHEN s.closed_at IS NULL AND NOT s.read_only"
    "  AND c.epoch = s.epoch AND c.controlled_by = c.id"
    "  THEN 'true' ELSE 'false' END),"
    " 'opened_at', amk_time(s.opened_at), 'closed_at', amk_time(s.closed_at))"
    " FROM sessions s JOIN centres c ON c.id = s.centre;"

    "CREATE VIEW incident_json(id, j) AS SELECT i.id, json_object("
    " 'id', i.id, 'case_number', i.case_number, 'status', i.status,"
    " 'urgency', i.urgency, 'criterion', i.criterion,"
    " 'location', json(CASE WHEN i.lat IS NULL AND i.address IS NULL"
    "  AND i.municipality IS NULL THEN NULL ELSE json_object("
    "  'lat', i.lat, 'lon', i.lon, 'accuracy_m', i.accuracy_m,"
    "  'address', i.address, 'municipality', i.municipality) END),"
    " 'caller', json_object('phone', i.caller_phone, 'name', i.caller_name),"
    " 'patients', json((SELECT json_group_array(json_object("
    "  'name', p.name, 'national_id', p.national_id, 'age', p.age,"
    "  'sex', p.sex)) FROM (SELECT * FROM patients p WHERE p.incident = i.id"
    "  ORDER BY p.pos) p)),"
    " 'owner', i.owner, 'owner_epoch', i.owner_epoch,"
    " 'answering_centre', i.answering_centre, 'area_centre', i.area_centre,"
    " 'transfer_to', i.transfer_to, 'disposition', i.disposition,"
    " 'notes', json((SELECT json_group_array(json_object("
    "  'at', amk_time(n.at), 'by', n.by, 'text', n.text))"
    "  FROM (SELECT * FROM notes n WHERE n.incident = i.id ORDER BY n.pos) n)),"
    " 'assignments', json((SELECT json_group_array(json_object("
    "  'resource', a.resource, 'phase', a.phase,"
    "  'active', json(CASE WHEN a.active THEN 'true' ELSE 'false' END),"
    "  'times', json_object('alerted', amk_time(a.t_alerted),"
    "  'acknowledged', amk_time(a.t_acknowledged),"
    "  'en_route', amk_time(a.t_en_route),"
    "  'on_scene', amk_time(a.t_on_scene),"
    "  'transporting', amk_time(a.t_transporting),"
    "  'at_destination', amk_time(a.t_at_destination),"
    "  'cleared', amk_time(a.t_cleared))))"
    "  FROM (SELECT * FROM assignments a WHERE a.incident = i.id"
    "  ORDER BY a.id) a)),"
    " 'times', json_object('created', amk_time(i.t_created),"
    "  'triaged', amk_time(i.t_triaged),"
    "  'dispatched', amk_time(i.t_dispatched),"
    "  'on_scene', amk_time(i.t_on_scene),"
    "  'transporting', amk_time(i.t_transporting),"
    "  'resolved', amk_time(i.t_resolved), 'closed', amk_time(i.t_closed),"
    "  'cancelled', amk_time(i.t_cancelled),"
    "  'updated', amk_time(i.t_updated)),"
    " 'version', i.version) FROM incidents i;"

    "CREATE VIEW resource_json(id, j) AS SELECT id, json_object("
    " 'id', id, 'type', type, 'issi', issi, 'home_centre', home_centre,"
    " 'controlled_by', controlled_by, 'controller_epoch', controller_epoch,"
    " 'status', status, 'status_seq', status_seq,"
    " 'status_time', amk_time(status_time),"
    " 'position', json(CASE WHEN pos_seq = 0 THEN NULL ELSE json_object("
    "  'lat', lat, 'lon', lon, 'accuracy_m', accuracy_m, 'speed', speed,"
    "  'heading', heading, 'time', amk_time(pos_time), 'seq', pos_seq) END),"
    " 'incident', incident,"
    " 'alarm', json(CASE WHEN alarm THEN 'true' ELSE 'false' END),"
    " 'version', version) FROM resources;"

    "CREATE VIEW audit_json(idx, object, principal, j) AS SELECT idx, object,"
    " principal, json_object('index', idx, 'at', amk_time(at),"
    " 'action', command, 'actor', principal, 'role', role, 'centre', centre,"
    " 'console', console, 'session', session, 'epoch', epoch,"
    " 'object', object, 'outcome', outcome, 'reason', reason,"
    " 'idempotency_key', idem_key) FROM audit;";

int sm_schema_create(sqlite3 *db, char *errmsg)
{
    char *msg = NULL;
    int rv = sqlite3_exec(db, SCHEMA, NULL, NULL, &msg);
    if (rv != SQLITE_OK) {
        snprintf(errmsg, 256, "create schema: %s",
                 msg != NULL ? msg : sqlite3_errstr(rv));
        sqlite3_free(msg);
        return AMK_EINTERNAL;
    }
    return AMK_OK;
}
