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

/* Objects are rendered by sm/render.c; only the cold audit log keeps a
 * JSON view. */
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
    " case_number TEXT NOT NULL, status TEXT NOT NULL,"
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
    " open INTEGER NOT NULL,"
    /* Replaced whole / appended to, never queried inside: kept rendered. */
    " patients TEXT NOT NULL, notes TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX incidents_order ON incidents(open, created_index);"
    "CREATE INDEX incidents_owner ON incidents(owner, open);"
    "CREATE INDEX incidents_taken ON incidents(taken_from)"
    " WHERE taken_from IS NOT NULL;"
    "CREATE INDEX incidents_transfer ON incidents(transfer_to)"
    " WHERE transfer_to IS NOT NULL;"

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
