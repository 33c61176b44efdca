/* sm/schema.c: the tables of a fresh state machine database. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Objects are rendered by sm/render.c. The event, audit and idempotency
 * logs are not tables: they live beside the database (sm/logs.h). */
static const char SCHEMA[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('schema_version', 2);"

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

    "CREATE TABLE nodes (id INTEGER PRIMARY KEY, raft_address TEXT NOT NULL,"
    " http_address TEXT NOT NULL, binary_address TEXT NOT NULL,"
    " centre TEXT NOT NULL, region TEXT NOT NULL,"
    " registered_at INTEGER NOT NULL);";

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
