/* sm/internal.h: what the files of sm/ share: the state machine struct, the
 * statement cache, the per-command context and the helpers handlers use. */
#ifndef AMK_SM_INTERNAL_H
#define AMK_SM_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "logs.h"
#include "sm.h"

#define SM_CHANGES_INLINE 16

#define SM_STMT_CACHE 256 /* power of two, > number of distinct SQL texts */

struct sm_stmt_slot {
    const char *sql; /* static SQL text: the key is its address */
    sqlite3_stmt *stmt;
};

/* One object a command changed: listed in its event, in order. */
struct sm_change {
    enum amk_sm_object kind;
    bool bumped; /* its version was already raised by this command */
    char id[AMK_ID_MAX + 1];
};

/* The session and centre a command acts through, loaded once per command. */
struct sm_actor {
    bool has_session;  /* the command names a session that exists */
    bool session_open; /* ... and it is not closed */
    bool valid;        /* open, not read-only, epoch current, centre controls
                          itself: may write objects its centre owns */
    char centre[AMK_ID_MAX + 1];     /* the session's centre */
    char controller[AMK_ID_MAX + 1]; /* who controls that centre */
    uint64_t session_epoch, centre_epoch, controller_epoch;
    char console[257];
    char operator_id[257];
    uint8_t role; /* the session's role, recorded at login */
};

/* A session as sm_actor_load read it (its `valid` is per command). Kept only
 * while no command that may change a session or a centre has run since:
 * auth.c clears the cache when one starts, and restore empties it. */
#define SM_ACTOR_CACHE 64 /* power of two */

struct sm_actor_slot {
    bool used;
    bool read_only;
    uint8_t len;
    char session[AMK_ID_MAX + 1];
    struct sm_actor actor;
};

struct amk_sm {
    sqlite3 *db;
    struct sm_stmt_slot stmts[SM_STMT_CACHE];
    struct amk_sm_config config;
    uint64_t applied_index;
    int64_t last_time_ms; /* effective time of the last applied command */
    char errmsg[256];
    void *snap_spare;    /* a snapshot buffer given back, for the next one */
    struct sm_logs logs; /* events, audit, idempotency records */

    /* Per-command context, valid during amk_sm_apply. */
    const struct amk_cmd *cmd;
    uint64_t index;
    struct sm_actor actor;
    struct sm_actor_slot actor_cache[SM_ACTOR_CACHE];
    struct amk_sm_result *result;
    struct sm_staged staged; /* this command's log records, until commit */
    const char *event_type;
    enum amk_sm_object object_kind;
    char object_id[AMK_ID_MAX + 1]; /* audited object */
    struct sm_change *changes;
    unsigned n_changes, cap_changes;
    struct sm_change changes_inline[SM_CHANGES_INLINE];
};

/* pcache.c: process-wide SQLite settings (page cache layer, no memory
 * statistics), installed once before the first database is opened. */
void sm_sqlite_configure(void);
bool sm_pcache_installed(void); /* for tests */
/* alloc.c: SQLite's allocator (size-class caches over malloc); false when
 * not installed (sanitizer builds, or SQLite already initialised). */
bool sm_alloc_install(void);

/* snapshot.c: opens a state machine database, fresh (image NULL) or a
 * copy of `image`, with the connection settings every node shares (one
 * place for amk_sm_open and amk_sm_restore). It is a memdb image, growable
 * without SQLite's 1 GiB default limit: every state machine database lives
 * in one contiguous buffer, so a snapshot is one memcpy. Returns an SQLite
 * code; on failure *db is NULL and errmsg names the step. */
int sm_db_open(sqlite3 **db, const void *image, size_t len, char *errmsg,
               size_t errmsg_size);
void sm_snapshot_spare_free(struct amk_sm *sm);

/* schema.c: the tables of a fresh database. */
int sm_schema_create(sqlite3 *db, char *errmsg);

/* sm.c: helpers for handlers. Each `sm_reject*` fills sm->result and returns
 * the code, so a handler can `return sm_reject(sm, AMK_ECONFLICT, ...)`. */
int sm_reject(struct amk_sm *sm, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sm_reject_stale(struct amk_sm *sm, const char *owner, uint64_t epoch,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int sm_sqlite_error(struct amk_sm *sm, const char *what);
int sm_change(struct amk_sm *sm, enum amk_sm_object kind, const char *id);
/* The same for an object whose version the handler's own statement set
 * (inserted at 1, or raised in its one UPDATE): not raised again. */
int sm_change_bumped(struct amk_sm *sm, enum amk_sm_object kind,
                     const char *id);
/* Names the command's event type and its primary object (audited, and
 * rendered as the result's body even when nothing changed). */
void sm_set_event(struct amk_sm *sm, const char *type, enum amk_sm_object kind,
                  const char *object_id);

/* The cached prepared statement for a static SQL text, reset and with its
 * bindings cleared; NULL (errmsg set) if it cannot be prepared. The statement
 * belongs to sm: never finalize it. */
sqlite3_stmt *sm_sql(struct amk_sm *sm, const char *sql);
void sm_stmts_finalize(struct amk_sm *sm);
int sm_bind_str(sqlite3_stmt *s, int col, struct amk_str v);
int sm_bind_text(sqlite3_stmt *s, int col, const char *v);
/* Runs a statement expected to return no row; AMK_OK or AMK_EINTERNAL. */
int sm_exec_stmt(struct amk_sm *sm, sqlite3_stmt *s, const char *what);
/* Steps s, expected to give at most one row: AMK_OK with the row ready
 * (the caller reads it, then resets s), AMK_ENOTFOUND with s reset and
 * nothing rejected, or a local error (sm_sqlite_error, naming `what`). */
int sm_step_one(struct amk_sm *sm, sqlite3_stmt *s, const char *what);
/* Runs literal SQL (no user data) or with bound str params ?1..?n. */
int sm_exec(struct amk_sm *sm, const char *sql, const char *what);

/* Copies a slice into a NUL-terminated buffer of cap bytes. */
void sm_str_copy(char *dst, size_t cap, struct amk_str s);
/* snprintf(dst, cap, "%s", src) without printf's cost; cap > 0. */
void sm_copy(char *dst, size_t cap, const char *src);
bool sm_str_eq(struct amk_str s, const char *c);
/* Ids: 1..64 of [A-Za-z0-9._:-]. */
bool sm_id_valid(struct amk_str s);

/* auth.c: loads sm->actor for the command being applied (AMK_OK, or an
 * SQLite failure); empties the session cache (after a restore). */
int sm_actor_load(struct amk_sm *sm);
void sm_actor_cache_clear(struct amk_sm *sm);
/* auth.c: checks for handlers; each returns AMK_OK or rejects. */
int sm_require_admin(struct amk_sm *sm);
/* The acting role: the session's own role when the command names an existing
 * session (recorded at login), else the header's. */
uint8_t sm_role(const struct amk_sm *sm);
int sm_require_session(struct amk_sm *sm);
/* An open session whose role may write (operator or admin): 401/403. */
int sm_require_writer(struct amk_sm *sm);
/* A valid session of the centre that owns the object (STALE_EPOCH naming
 * owner and owner's current epoch otherwise). */
int sm_require_owner(struct amk_sm *sm, const char *owner);
int sm_require_version(struct amk_sm *sm, uint64_t version);
/* The current epoch of a centre, 0 if it does not exist. */
uint64_t sm_centre_epoch(struct amk_sm *sm, const char *centre);
/* Text of column col, "" for NULL. */
const char *sm_col_text(sqlite3_stmt *s, int col);

/* Handlers, one file each. Return AMK_OK (changes made) or a rejection code
 * (with result filled) or AMK_EINTERNAL/AMK_ENOMEM. */
int sm_centre_register(struct amk_sm *sm);
int sm_centre_update(struct amk_sm *sm);
int sm_centre_set_state(struct amk_sm *sm);
int sm_centre_takeover(struct amk_sm *sm);
int sm_centre_handback(struct amk_sm *sm);
int sm_session_open(struct amk_sm *sm);
int sm_session_close(struct amk_sm *sm);
int sm_incident_create(struct amk_sm *sm);
int sm_incident_update(struct amk_sm *sm);
int sm_incident_note(struct amk_sm *sm);
int sm_incident_assign(struct amk_sm *sm);
int sm_incident_phase(struct amk_sm *sm);
int sm_incident_unassign(struct amk_sm *sm);
int sm_incident_close(struct amk_sm *sm);
int sm_incident_cancel(struct amk_sm *sm);
int sm_incident_transfer(struct amk_sm *sm);
int sm_incident_transfer_answer(struct amk_sm *sm, bool accept);
int sm_resource_register(struct amk_sm *sm);
int sm_resource_status(struct amk_sm *sm);
int sm_resource_position(struct amk_sm *sm);
int sm_resource_alarm(struct amk_sm *sm);
int sm_node_register(struct amk_sm *sm);

/* resource.c, shared with incident.c: a resource's row as the handlers
 * need it. sm_resource_load returns AMK_OK, or rejects NOT_FOUND. */
struct sm_resource_row {
    uint8_t status; /* enum amk_resource_status */
    uint64_t version;
    int64_t status_seq, pos_seq;
    char controlled_by[AMK_ID_MAX + 1];
    char incident[AMK_ID_MAX + 1]; /* "" when on no incident */
};
int sm_resource_load(struct amk_sm *sm, const char *id,
                     struct sm_resource_row *row);

/* resource.c, shared with incident.c: moves a resource on `incident` to a new
 * mission status (from a report or a phase command), keeping the assignment
 * and the incident's status in step. */
int sm_resource_move(struct amk_sm *sm, const char *resource_id, uint8_t from,
                     uint8_t to, const char *incident_id);
/* Ends the resource's assignment and frees it (incident close/unassign). */
int sm_resource_release(struct amk_sm *sm, const char *resource_id,
                        const char *incident_id);

/* incident.c, for resource.c: moves the incident forward to the status a
 * unit's mission status implies (never back). */
int sm_incident_follow_unit(struct amk_sm *sm, const char *id,
                            uint8_t unit_status);

/* lifecycle.c: the transition tables. */
bool sm_incident_can_move(uint8_t from, uint8_t to);
bool sm_incident_is_open(uint8_t status);
bool sm_resource_can_move(uint8_t from, uint8_t to);
bool sm_resource_is_available(uint8_t status);
bool sm_resource_on_mission(uint8_t status);
/* The incident status a unit's mission status implies (AMK_ENUM_NONE if
 * none): en_route -> dispatched, on_scene -> on_scene, transporting and
 * at_destination -> transporting. */
uint8_t sm_incident_status_for_unit(uint8_t unit_status);

/* render.c: renders an object as JSON (malloc'd) into *json, NULL if the
 * object does not exist, and its version into *version (may be NULL).
 * Returns AMK_OK or a local error. */
int sm_render(struct amk_sm *sm, enum amk_sm_object kind, const char *id,
              char **json, uint64_t *version);

struct sm_json;

/* Appends the object's JSON to o: returns 1 if it exists (and sets *version,
 * if not NULL, for objects that have one), 0 if not (nothing appended), or
 * minus a local error code. o->failed tells of a failed allocation. */
int sm_render_into(struct amk_sm *sm, enum amk_sm_object kind, const char *id,
                   struct sm_json *o, uint64_t *version);

#endif
