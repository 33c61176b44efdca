/* sm/sm.c: the state machine's life cycle and the apply pipeline every
 * command goes through: decode, idempotency, authorisation context, the
 * handler inside a savepoint, event, audit, one SQLite transaction. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

#define SM_PURGE_EVERY 1024 /* indexes between purges of the logs */

void amk_sm_config_default(struct amk_sm_config *cfg)
{
    cfg->idem_window_ms = 24LL * 3600 * 1000;
    cfg->events_retained = 100000;
    cfg->audit_retained = 0;
}

static int db_open(struct amk_sm *sm)
{
    char why[200];
    int rv = sm_db_open(&sm->db, NULL, 0, why, sizeof why);
    if (rv != SQLITE_OK) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "open database: %s", why);
        return (rv & 0xff) == SQLITE_NOMEM ? AMK_ENOMEM : AMK_EINTERNAL;
    }
    return AMK_OK;
}

int amk_sm_open(struct amk_sm **out, const struct amk_sm_config *cfg,
                char *errmsg)
{
    sm_sqlite_configure();
    *out = NULL;
    struct amk_sm *sm = calloc(1, sizeof *sm);
    if (sm == NULL) {
        snprintf(errmsg, 256, "out of memory");
        return AMK_ENOMEM;
    }
    if (cfg != NULL) {
        sm->config = *cfg;
    } else {
        amk_sm_config_default(&sm->config);
    }
    sm->changes = sm->changes_inline;
    sm->cap_changes = SM_CHANGES_INLINE;
    sm_logs_init(&sm->logs);
    int rv = db_open(sm);
    if (rv != AMK_OK) {
        goto err_after_alloc;
    }
    rv = sm_schema_create(sm->db, sm->errmsg);
    if (rv != AMK_OK) {
        goto err_after_db_open;
    }
    *out = sm;
    return AMK_OK;

err_after_db_open:
    sqlite3_close(sm->db);
err_after_alloc:
    snprintf(errmsg, 256, "%s", sm->errmsg);
    free(sm);
    return rv;
}

void sm_stmts_finalize(struct amk_sm *sm)
{
    for (unsigned i = 0; i < SM_STMT_CACHE; i++) {
        if (sm->stmts[i].stmt != NULL) {
            sqlite3_finalize(sm->stmts[i].stmt);
        }
        sm->stmts[i].stmt = NULL;
        sm->stmts[i].sql = NULL;
    }
}

void amk_sm_close(struct amk_sm *sm)
{
    if (sm == NULL) {
        return;
    }
    sm_stmts_finalize(sm);
    sqlite3_close(sm->db);
    sm_logs_free(&sm->logs);
    sm_snapshot_spare_free(sm);
    if (sm->changes != sm->changes_inline) {
        free(sm->changes);
    }
    free(sm);
}

const char *amk_sm_errmsg(const struct amk_sm *sm)
{
    return sm->errmsg;
}

uint64_t amk_sm_applied_index(const struct amk_sm *sm)
{
    return sm->applied_index;
}

void amk_sm_stats(struct amk_sm *sm, struct amk_sm_stats *out)
{
    sqlite3_int64 size = 0;
    /* A memdb image: no copy, only its pointer and size. */
    (void)sqlite3_serialize(sm->db, "main", &size, SQLITE_SERIALIZE_NOCOPY);
    out->db_bytes = size > 0 ? (uint64_t)size : 0;
    out->logs_bytes = sm_logs_size(&sm->logs);
    out->events = sm->logs.events.n;
    out->audit_entries = sm->logs.audit.n;
    out->idem_records = sm->logs.idem.n;
}

void amk_sm_result_clear(struct amk_sm_result *result)
{
    free(result->body);
    free(result->event);
    memset(result, 0, sizeof *result);
}

sqlite3_stmt *sm_sql(struct amk_sm *sm, const char *sql)
{
    uintptr_t h = ((uintptr_t)sql >> 3) * 2654435761u;
    for (unsigned probe = 0; probe < SM_STMT_CACHE; probe++) {
        struct sm_stmt_slot *slot =
            &sm->stmts[(h + probe) & (SM_STMT_CACHE - 1)];
        if (slot->sql == sql) {
            sqlite3_reset(slot->stmt);
            sqlite3_clear_bindings(slot->stmt);
            return slot->stmt;
        }
        if (slot->sql == NULL) {
            int rv = sqlite3_prepare_v3(
                sm->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
            if (rv != SQLITE_OK) {
                snprintf(sm->errmsg, sizeof sm->errmsg, "prepare: %s: %.80s",
                         sqlite3_errmsg(sm->db), sql);
                sqlite3_finalize(slot->stmt);
                slot->stmt = NULL;
                return NULL;
            }
            slot->sql = sql;
            return slot->stmt;
        }
    }
    snprintf(sm->errmsg, sizeof sm->errmsg, "statement cache full");
    return NULL;
}

int sm_bind_str(sqlite3_stmt *s, int col, struct amk_str v)
{
    if (v.ptr == NULL) {
        return sqlite3_bind_null(s, col);
    }
    return sqlite3_bind_text(s, col, v.ptr, (int)v.len, SQLITE_STATIC);
}

int sm_bind_text(sqlite3_stmt *s, int col, const char *v)
{
    if (v == NULL) {
        return sqlite3_bind_null(s, col);
    }
    return sqlite3_bind_text(s, col, v, -1, SQLITE_STATIC);
}

const char *sm_col_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t != NULL ? (const char *)t : "";
}

int sm_sqlite_error(struct amk_sm *sm, const char *what)
{
    int rv = sqlite3_errcode(sm->db);
    snprintf(sm->errmsg, sizeof sm->errmsg, "%s: %s", what,
             sqlite3_errmsg(sm->db));
    return rv == SQLITE_NOMEM ? AMK_ENOMEM : AMK_EINTERNAL;
}

int sm_exec_stmt(struct amk_sm *sm, sqlite3_stmt *s, const char *what)
{
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    int rv = sqlite3_step(s);
    if (rv != SQLITE_DONE && rv != SQLITE_ROW) {
        rv = sm_sqlite_error(sm, what);
        sqlite3_reset(s);
        return rv;
    }
    sqlite3_reset(s);
    return AMK_OK;
}

int sm_step_one(struct amk_sm *sm, sqlite3_stmt *s, const char *what)
{
    int rv = sqlite3_step(s);
    if (rv == SQLITE_ROW) {
        return AMK_OK;
    }
    if (rv != SQLITE_DONE) {
        rv = sm_sqlite_error(sm, what);
        sqlite3_reset(s);
        return rv;
    }
    sqlite3_reset(s);
    return AMK_ENOTFOUND;
}

int sm_exec(struct amk_sm *sm, const char *sql, const char *what)
{
    return sm_exec_stmt(sm, sm_sql(sm, sql), what);
}

void sm_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void sm_str_copy(char *dst, size_t cap, struct amk_str s)
{
    size_t n = s.ptr == NULL ? 0 : s.len;
    if (n >= cap) {
        n = cap - 1;
    }
    if (n > 0) {
        memcpy(dst, s.ptr, n);
    }
    dst[n] = '\0';
}

bool sm_str_eq(struct amk_str s, const char *c)
{
    size_t n = strlen(c);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, c, n) == 0;
}

bool sm_id_valid(struct amk_str s)
{
    if (s.ptr == NULL || s.len == 0 || s.len > AMK_ID_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
                  c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int vreject(struct amk_sm *sm, int code, const char *fmt, va_list ap)
{
    sm->result->code = code;
    vsnprintf(sm->result->message, sizeof sm->result->message, fmt, ap);
    return code;
}

int sm_reject(struct amk_sm *sm, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreject(sm, code, fmt, ap);
    va_end(ap);
    return code;
}

int sm_reject_stale(struct amk_sm *sm, const char *owner, uint64_t epoch,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreject(sm, AMK_ESTALE_EPOCH, fmt, ap);
    va_end(ap);
    sm_copy(sm->result->owner, sizeof sm->result->owner, owner);
    sm->result->epoch = epoch;
    return AMK_ESTALE_EPOCH;
}

static int change(struct amk_sm *sm, enum amk_sm_object kind, const char *id,
                  bool bumped)
{
    for (unsigned i = 0; i < sm->n_changes; i++) {
        if (sm->changes[i].kind == kind && strcmp(sm->changes[i].id, id) == 0) {
            sm->changes[i].bumped |= bumped;
            return AMK_OK;
        }
    }
    if (sm->n_changes == sm->cap_changes) {
        unsigned cap = sm->cap_changes * 2;
        struct sm_change *grown;
        if (sm->changes == sm->changes_inline) {
            grown = malloc(cap * sizeof *grown);
            if (grown != NULL) {
                memcpy(grown, sm->changes, sm->n_changes * sizeof *grown);
            }
        } else {
            grown = realloc(sm->changes, cap * sizeof *grown);
        }
        if (grown == NULL) {
            snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
            return AMK_ENOMEM;
        }
        sm->changes = grown;
        sm->cap_changes = cap;
    }
    struct sm_change *c = &sm->changes[sm->n_changes++];
    c->kind = kind;
    c->bumped = bumped;
    sm_copy(c->id, sizeof c->id, id);
    return AMK_OK;
}

int sm_change(struct amk_sm *sm, enum amk_sm_object kind, const char *id)
{
    return change(sm, kind, id, false);
}

int sm_change_bumped(struct amk_sm *sm, enum amk_sm_object kind, const char *id)
{
    return change(sm, kind, id, true);
}

void sm_set_event(struct amk_sm *sm, const char *type, enum amk_sm_object kind,
                  const char *object_id)
{
    sm->event_type = type;
    sm->object_kind = kind;
    if (object_id != NULL) {
        sm_copy(sm->object_id, sizeof sm->object_id, object_id);
    }
}

/* --- The pipeline -------------------------------------------------------- */

static int dispatch(struct amk_sm *sm)
{
    switch (sm->cmd->h.type) {
        case AMK_CMD_NOOP:
            sm->result->applied = false;
            return AMK_OK;
        case AMK_CMD_CENTRE_REGISTER:
            return sm_centre_register(sm);
        case AMK_CMD_CENTRE_UPDATE:
            return sm_centre_update(sm);
        case AMK_CMD_CENTRE_SET_STATE:
            return sm_centre_set_state(sm);
        case AMK_CMD_CENTRE_TAKEOVER:
            return sm_centre_takeover(sm);
        case AMK_CMD_CENTRE_HANDBACK:
            return sm_centre_handback(sm);
        case AMK_CMD_SESSION_OPEN:
            return sm_session_open(sm);
        case AMK_CMD_SESSION_CLOSE:
            return sm_session_close(sm);
        case AMK_CMD_INCIDENT_CREATE:
            return sm_incident_create(sm);
        case AMK_CMD_INCIDENT_UPDATE:
            return sm_incident_update(sm);
        case AMK_CMD_INCIDENT_NOTE:
            return sm_incident_note(sm);
        case AMK_CMD_INCIDENT_ASSIGN:
            return sm_incident_assign(sm);
        case AMK_CMD_INCIDENT_PHASE:
            return sm_incident_phase(sm);
        case AMK_CMD_INCIDENT_UNASSIGN:
            return sm_incident_unassign(sm);
        case AMK_CMD_INCIDENT_CLOSE:
            return sm_incident_close(sm);
        case AMK_CMD_INCIDENT_CANCEL:
            return sm_incident_cancel(sm);
        case AMK_CMD_INCIDENT_TRANSFER:
            return sm_incident_transfer(sm);
        case AMK_CMD_INCIDENT_TRANSFER_ACCEPT:
            return sm_incident_transfer_answer(sm, true);
        case AMK_CMD_INCIDENT_TRANSFER_REJECT:
            return sm_incident_transfer_answer(sm, false);
        case AMK_CMD_RESOURCE_REGISTER:
            return sm_resource_register(sm);
        case AMK_CMD_RESOURCE_STATUS:
            return sm_resource_status(sm);
        case AMK_CMD_RESOURCE_POSITION:
            return sm_resource_position(sm);
        case AMK_CMD_RESOURCE_ALARM:
            return sm_resource_alarm(sm);
        case AMK_CMD_NODE_REGISTER:
            return sm_node_register(sm);
        default:
            /* The codec rejects unknown types before we get here. */
            return sm_reject(sm, AMK_EINVALID, "unknown command type %u",
                             (unsigned)sm->cmd->h.type);
    }
}

static bool is_domain_code(int code)
{
    return code > AMK_OK && code < AMK_ENOMEM;
}

static const char *object_kind_name(enum amk_sm_object kind)
{
    static const char *const names[] = {"centre", "session", "incident",
                                        "resource"};
    return names[kind];
}

/* Renders the event of the current command from its list of changes and
 * stores it. */
static int emit_event(struct amk_sm *sm)
{
    struct sm_json b = {0};
    /* index (a raft index) fits int64: raft indexes are far below 2^63. */
    sm_json_lit(&b, "{\"index\":");
    sm_json_int(&b, (int64_t)sm->index);
    sm_json_lit(&b, ",\"type\":\"");
    sm_json_lit(&b, sm->event_type != NULL ? sm->event_type
                                           : amk_cmd_name(sm->cmd->h.type));
    sm_json_lit(&b, "\",\"at\":");
    sm_json_time(&b, sm->cmd->h.timestamp_ms);
    sm_json_lit(&b, ",\"changes\":[");
    int rv = AMK_OK;
    for (unsigned i = 0; i < sm->n_changes; i++) {
        struct sm_change *c = &sm->changes[i];
        /* The first change is the result's body, already rendered. */
        char *data = NULL;
        if (i > 0 || sm->result->body == NULL) {
            rv = sm_render(sm, c->kind, c->id, &data, NULL);
            if (rv != AMK_OK) {
                break;
            }
        }
        const char *text =
            i == 0 && sm->result->body != NULL ? sm->result->body : data;
        /* Ids are validated to [A-Za-z0-9._:-]: no escaping needed. */
        sm_json_lit(&b, i == 0 ? "{\"object\":\"" : ",{\"object\":\"");
        sm_json_lit(&b, object_kind_name(c->kind));
        sm_json_lit(&b, "\",\"id\":\"");
        sm_json_lit(&b, c->id);
        sm_json_lit(&b, "\",\"data\":");
        sm_json_lit(&b, text != NULL ? text : "null");
        sm_json_lit(&b, "}");
        free(data);
    }
    sm_json_lit(&b, "]}");
    if (rv == AMK_OK && b.failed) {
        rv = AMK_ENOMEM;
    }
    if (rv != AMK_OK) {
        free(b.ptr);
        if (rv == AMK_ENOMEM) {
            snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        }
        return rv;
    }
    sm->staged.event = sm_event_make(&sm->logs, sm->index, b.ptr, b.len);
    if (sm->staged.event == NULL) {
        free(b.ptr);
        snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        return AMK_ENOMEM;
    }
    sm->result->event = b.ptr;
    return AMK_OK;
}

/* The field of a decoded header string, or "" without a header. */
static void str_field(const char **field, size_t *len, const struct amk_str *v)
{
    *field = v != NULL && v->ptr != NULL ? v->ptr : "";
    *len = v != NULL && v->ptr != NULL ? v->len : 0;
}

static void text_field(const char **field, size_t *len, const char *v)
{
    *field = v != NULL ? v : "";
    *len = strlen(*field);
}

/* Stages the command's audit entry (published when it commits). */
static int audit(struct amk_sm *sm, const char *command)
{
    const struct amk_cmd_header *h = sm->cmd != NULL ? &sm->cmd->h : NULL;
    struct amk_sm_result *r = sm->result;
    const char *f[SM_AUDIT_FIELDS];
    size_t n[SM_AUDIT_FIELDS];
    const char *role = h != NULL ? amk_enum_name(AMK_ENUM_ROLE, h->role) : "";
    text_field(&f[SM_AUDIT_ACTION], &n[SM_AUDIT_ACTION], command);
    str_field(&f[SM_AUDIT_ACTOR], &n[SM_AUDIT_ACTOR],
              h != NULL ? &h->principal : NULL);
    text_field(&f[SM_AUDIT_ROLE], &n[SM_AUDIT_ROLE], role);
    if (sm->actor.has_session || h == NULL) {
        text_field(&f[SM_AUDIT_CENTRE], &n[SM_AUDIT_CENTRE], sm->actor.centre);
    } else {
        str_field(&f[SM_AUDIT_CENTRE], &n[SM_AUDIT_CENTRE], &h->centre);
    }
    text_field(&f[SM_AUDIT_CONSOLE], &n[SM_AUDIT_CONSOLE], sm->actor.console);
    str_field(&f[SM_AUDIT_SESSION], &n[SM_AUDIT_SESSION],
              h != NULL ? &h->session : NULL);
    text_field(&f[SM_AUDIT_OBJECT], &n[SM_AUDIT_OBJECT], sm->object_id);
    text_field(&f[SM_AUDIT_OUTCOME], &n[SM_AUDIT_OUTCOME],
               r->code == AMK_OK ? (r->replayed ? "replayed" : "ok")
                                 : amk_code_name(r->code));
    text_field(&f[SM_AUDIT_REASON], &n[SM_AUDIT_REASON], r->message);
    str_field(&f[SM_AUDIT_IDEM_KEY], &n[SM_AUDIT_IDEM_KEY],
              h != NULL ? &h->idem_key : NULL);
    uint64_t epoch = h == NULL               ? 0
                     : sm->actor.has_session ? sm->actor.session_epoch
                                             : h->epoch;
    sm->staged.audit = sm_audit_make(
        &sm->logs, sm->index, h != NULL ? h->timestamp_ms : 0, epoch, f, n);
    if (sm->staged.audit == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        return AMK_ENOMEM;
    }
    return AMK_OK;
}

/* Returns 1 and fills the result if the key was seen, 0 if not. */
static int idem_lookup(struct amk_sm *sm)
{
    const struct amk_cmd_header *h = &sm->cmd->h;
    const char *principal;
    size_t principal_len;
    str_field(&principal, &principal_len, &h->principal);
    const struct sm_idem *seen = sm_idem_find(
        &sm->logs, principal, principal_len, h->idem_key.ptr, h->idem_key.len);
    if (seen == NULL) {
        return 0;
    }
    struct amk_sm_result *r = sm->result;
    r->code = seen->code;
    sm_copy(r->message, sizeof r->message,
            sm_idem_field(seen, SM_IDEM_MESSAGE));
    sm_copy(r->owner, sizeof r->owner, sm_idem_field(seen, SM_IDEM_OWNER));
    r->epoch = seen->epoch;
    r->version = seen->version;
    r->applied = (seen->flags & SM_IDEM_APPLIED) != 0;
    r->created = (seen->flags & SM_IDEM_CREATED) != 0;
    r->replayed = true;
    if (seen->flags & SM_IDEM_HAS_BODY) {
        r->body = strdup(sm_idem_field(seen, SM_IDEM_BODY));
        if (r->body == NULL) {
            snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
            return -AMK_ENOMEM;
        }
    }
    snprintf(sm->object_id, sizeof sm->object_id, "index:%llu",
             (unsigned long long)seen->idx);
    return 1;
}

/* Stages the first answer to the command's key. */
static int idem_store(struct amk_sm *sm)
{
    const struct amk_cmd_header *h = &sm->cmd->h;
    struct amk_sm_result *r = sm->result;
    const char *f[SM_IDEM_FIELDS];
    size_t n[SM_IDEM_FIELDS];
    str_field(&f[SM_IDEM_PRINCIPAL], &n[SM_IDEM_PRINCIPAL], &h->principal);
    str_field(&f[SM_IDEM_KEY], &n[SM_IDEM_KEY], &h->idem_key);
    text_field(&f[SM_IDEM_MESSAGE], &n[SM_IDEM_MESSAGE], r->message);
    text_field(&f[SM_IDEM_OWNER], &n[SM_IDEM_OWNER], r->owner);
    text_field(&f[SM_IDEM_BODY], &n[SM_IDEM_BODY], r->body);
    uint8_t flags = (uint8_t)((r->applied ? SM_IDEM_APPLIED : 0) |
                              (r->created ? SM_IDEM_CREATED : 0) |
                              (r->body != NULL ? SM_IDEM_HAS_BODY : 0));
    sm->staged.idem = sm_idem_make(&sm->logs, sm->index, h->timestamp_ms,
                                   r->epoch, r->version, r->code, flags, f, n);
    if (sm->staged.idem == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        return AMK_ENOMEM;
    }
    return AMK_OK;
}

/* Deterministic housekeeping, driven by the index and leader time only:
 * once per period of SM_PURGE_EVERY indexes, by the first command of the
 * period. The sm sees only raft's command entries, so configuration changes
 * and barriers leave gaps, and index % SM_PURGE_EVERY == 0 may never come.
 * applied_index is replicated state (restored with snapshots), so every
 * node purges at the same index. Runs after the command committed: it only
 * frees. */
static void purge(struct amk_sm *sm, int64_t now_ms)
{
    if (sm->index / SM_PURGE_EVERY == sm->applied_index / SM_PURGE_EVERY) {
        return;
    }
    sm_logs_purge(&sm->logs, sm->config.events_retained,
                  sm->config.audit_retained,
                  now_ms - sm->config.idem_window_ms);
}

/* One savepoint is the whole transaction of a command: opened first (it
 * begins the transaction), rolled back to when the handler rejects (which
 * keeps it open for the audit entry), released last (which commits). */
static const char SQL_SAVEPOINT[] = "SAVEPOINT cmd";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO cmd";
static const char SQL_RELEASE[] = "RELEASE cmd";

static void reset_context(struct amk_sm *sm)
{
    sm->cmd = NULL;
    sm->event_type = NULL;
    sm->object_id[0] = '\0';
    sm->n_changes = 0;
    memset(&sm->actor, 0, sizeof sm->actor);
}

/* Every applied write raises each object it changed by exactly one version,
 * however many statements touched it (created objects are inserted at 1). */
static int bump_versions(struct amk_sm *sm)
{
    static const char *const SQL[] = {
        [AMK_OBJ_CENTRE] = "UPDATE centres SET version = version + 1,"
                           " updated_at = ?2 WHERE id = ?1",
        [AMK_OBJ_SESSION] = NULL,
        [AMK_OBJ_INCIDENT] = "UPDATE incidents SET version = version + 1,"
                             " t_updated = ?2 WHERE id = ?1",
        [AMK_OBJ_RESOURCE] = "UPDATE resources SET version = version + 1,"
                             " updated_at = ?2 WHERE id = ?1",
    };
    for (unsigned i = 0; i < sm->n_changes; i++) {
        const char *sql = SQL[sm->changes[i].kind];
        if (sql == NULL || sm->changes[i].bumped) {
            continue;
        }
        sqlite3_stmt *s = sm_sql(sm, sql);
        if (s == NULL) {
            return AMK_EINTERNAL;
        }
        sm_bind_text(s, 1, sm->changes[i].id);
        sqlite3_bind_int64(s, 2, sm->cmd->h.timestamp_ms);
        int rv = sm_exec_stmt(sm, s, "bump version");
        if (rv != AMK_OK) {
            return rv;
        }
    }
    return AMK_OK;
}

/* Renders the answer's body, and its version for the ETag. */
static int render_body(struct amk_sm *sm, enum amk_sm_object kind,
                       const char *id)
{
    return sm_render(sm, kind, id, &sm->result->body, &sm->result->version);
}

/* Runs the handler: a rejection rolls back everything it did, so a
 * rejected command changes nothing but the audit log. */
static int run_handler(struct amk_sm *sm)
{
    sm->result->applied = true;
    int rv = dispatch(sm);
    if (rv == AMK_OK && sm->n_changes > 0) {
        rv = bump_versions(sm);
    }
    if (rv == AMK_OK && sm->n_changes > 0) {
        rv = render_body(sm, sm->changes[0].kind, sm->changes[0].id);
        if (rv == AMK_OK) {
            rv = emit_event(sm);
        }
    } else if (rv == AMK_OK && sm->result->body == NULL &&
               sm->object_id[0] != '\0' && sm->cmd->h.type != AMK_CMD_NOOP) {
        /* Accepted without change (stale report): answer with the object
         * as it is. */
        rv = render_body(sm, sm->object_kind, sm->object_id);
    }
    if (rv == AMK_OK) {
        return AMK_OK;
    }
    struct sm_staged event = {.event = sm->staged.event};
    sm->staged.event = NULL;
    sm_staged_free(&sm->logs, &event);
    int undo = sm_exec(sm, SQL_ROLLBACK_TO, "rollback to savepoint");
    if (undo != AMK_OK) {
        return undo;
    }
    if (is_domain_code(rv)) {
        free(sm->result->body);
        sm->result->body = NULL;
        sm->result->applied = false;
        sm->result->created = false;
        sm->n_changes = 0;
        return AMK_OK; /* rejected, deterministically */
    }
    return rv;
}

int amk_sm_apply(struct amk_sm *sm, uint64_t index, const void *buf, size_t len,
                 struct amk_sm_result *result)
{
    memset(result, 0, sizeof *result);
    result->index = index;
    if (index <= sm->applied_index) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "index %llu not after applied index %llu",
                 (unsigned long long)index,
                 (unsigned long long)sm->applied_index);
        result->code = AMK_EINTERNAL;
        return AMK_EINTERNAL;
    }
    reset_context(sm);
    sm->index = index;
    sm->result = result;
    int64_t time_before = sm->last_time_ms;

    int rv = sm_exec(sm, SQL_SAVEPOINT, "begin");
    if (rv != AMK_OK) {
        goto err;
    }

    struct amk_cmd cmd;
    char errmsg[256];
    int decoded = amk_cmd_decode(buf, len, &cmd, errmsg);
    if (decoded != AMK_OK) {
        /* A command no node can read is rejected the same way on every
         * node; it is audited like any other rejection. */
        uint64_t term;
        uint16_t type = 0;
        const char *name = amk_cmd_peek(buf, len, &term, &type) == AMK_OK
                               ? amk_cmd_name(type)
                               : NULL;
        result->code = decoded == AMK_ETOOLARGE ? AMK_ETOOLARGE : AMK_EINVALID;
        sm_copy(result->message, sizeof result->message, errmsg);
        rv = audit(sm, name != NULL ? name : "undecodable");
        if (rv != AMK_OK) {
            goto err_after_begin;
        }
        goto commit;
    }
    /* Leader time never runs backwards: a new leader whose clock is behind
     * its predecessor's would otherwise date events before earlier ones. The
     * clamp depends only on the log, so every node agrees. */
    if (cmd.h.timestamp_ms < sm->last_time_ms) {
        cmd.h.timestamp_ms = sm->last_time_ms;
    }
    sm->last_time_ms = cmd.h.timestamp_ms;
    sm->cmd = &cmd;
    const char *name = amk_cmd_name(cmd.h.type);

    rv = sm_actor_load(sm);
    if (rv != AMK_OK) {
        goto err_after_begin;
    }

    bool keyed = cmd.h.idem_key.len > 0;
    if (keyed) {
        int seen = idem_lookup(sm);
        if (seen < 0) {
            rv = -seen;
            goto err_after_begin;
        }
        if (seen == 1) {
            rv = audit(sm, name);
            if (rv != AMK_OK) {
                goto err_after_begin;
            }
            goto commit;
        }
    }

    rv = run_handler(sm);
    if (rv != AMK_OK) {
        goto err_after_begin;
    }
    if (keyed) {
        rv = idem_store(sm);
        if (rv != AMK_OK) {
            goto err_after_begin;
        }
    }
    rv = audit(sm, name);
    if (rv != AMK_OK) {
        goto err_after_begin;
    }

commit:
    /* Room in the logs first: after the database commits, nothing fails. */
    rv = sm_logs_reserve(&sm->logs, &sm->staged);
    if (rv != AMK_OK) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        goto err_after_begin;
    }
    rv = sm_exec(sm, SQL_RELEASE, "commit");
    if (rv != AMK_OK) {
        goto err_after_begin;
    }
    sm_logs_publish(&sm->logs, &sm->staged);
    purge(sm, sm->last_time_ms);
    sm->applied_index = index;
    sm->cmd = NULL;
    sm->result = NULL;
    return AMK_OK;

err_after_begin:
    if (sm_exec(sm, SQL_ROLLBACK_TO, "rollback") == AMK_OK) {
        sm_exec(sm, SQL_RELEASE, "end");
    }
err:
    sm_staged_free(&sm->logs, &sm->staged);
    sm->last_time_ms = time_before;
    sm->cmd = NULL;
    sm->result = NULL;
    free(result->body);
    free(result->event);
    result->body = NULL;
    result->event = NULL;
    result->code = rv;
    sm_copy(result->message, sizeof result->message, sm->errmsg);
    return rv;
}
