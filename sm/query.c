/* sm/query.c: reads of the state machine: one object, filtered pages with
 * cursors, events since an index, the audit log, session checks. Every
 * object is rendered by its JSON view (sm/schema.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

#define LIST_DEFAULT 100
#define LIST_MAX     1000

static const char *const KIND_NAME[] = {"centre", "session", "incident",
                                        "resource"};

int amk_sm_get(struct amk_sm *sm, enum amk_sm_object kind, const char *id,
               char **json, uint64_t *version)
{
    if (version != NULL) {
        *version = 0;
    }
    int rv = sm_render(sm, kind, id, json, version);
    if (rv == AMK_OK && *json == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "%s %s not found",
                 KIND_NAME[kind], id);
        return AMK_ENOTFOUND;
    }
    return rv;
}

static int out_finish(struct amk_sm *sm, struct sm_json *o, char **json)
{
    if (o->failed) {
        free(o->ptr);
        snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        return AMK_ENOMEM;
    }
    *json = o->ptr;
    return AMK_OK;
}

static unsigned clamp_limit(unsigned limit)
{
    if (limit == 0) {
        return LIST_DEFAULT;
    }
    return limit > LIST_MAX ? LIST_MAX : limit;
}

static const char *nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Runs a page query whose rows are (id, cursor) of objects of `kind`, or
 * (json, cursor) when kind is AUDIT_ROWS; its last parameter is the row
 * limit (limit + 1 is asked for, to know whether more follow). */
#define AUDIT_ROWS (-1)

static int page(struct amk_sm *sm, sqlite3_stmt *s, int limit_param,
                unsigned limit, int kind, char **json)
{
    struct sm_json b = {0};
    struct sm_json o = {0};
    sqlite3_bind_int(s, limit_param, (int)limit + 1);
    sm_json_lit(&o, "{\"items\":[");
    unsigned n = 0;
    char cursor[AMK_ID_MAX + 24] = "";
    bool more = false;
    int rv;
    while ((rv = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        if (n > 0) {
            sm_json_add(&o, ",", 1);
        }
        if (kind == AUDIT_ROWS) {
            sm_json_lit(&o, sm_col_text(s, 0));
        } else {
            b.len = 0;
            int r = sm_render_into(sm, (enum amk_sm_object)kind,
                                   sm_col_text(s, 0), &b, NULL);
            if (r < 0 || b.failed) {
                sqlite3_reset(s);
                free(b.ptr);
                free(o.ptr);
                snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
                return r < 0 ? -r : AMK_ENOMEM;
            }
            sm_json_add(&o, b.ptr, b.len);
        }
        snprintf(cursor, sizeof cursor, "%s", sm_col_text(s, 1));
        n++;
    }
    free(b.ptr);
    if (rv != SQLITE_ROW && rv != SQLITE_DONE) {
        rv = sm_sqlite_error(sm, "list");
        sqlite3_reset(s);
        free(o.ptr);
        return rv;
    }
    sqlite3_reset(s);
    if (more) {
        /* Cursors are ids ([A-Za-z0-9._:-]) or decimal indexes: no escaping
         * needed. */
        sm_json_lit(&o, "],\"next\":\"");
        sm_json_lit(&o, cursor);
        sm_json_lit(&o, "\"}");
    } else {
        sm_json_lit(&o, "],\"next\":null}");
    }
    return out_finish(sm, &o, json);
}

static const char SQL_LIST_INCIDENTS[] =
    "SELECT i.id, i.created_index FROM incidents i"
    " WHERE (?1 IS NULL OR i.owner = ?1)"
    " AND (CASE ?2 WHEN 'open' THEN i.open WHEN 'all' THEN 1"
    "  ELSE i.status = ?2 END)"
    " AND (?3 IS NULL OR i.urgency = ?3) AND i.created_index > ?4"
    " ORDER BY i.created_index LIMIT ?5";
static const char SQL_LIST_RESOURCES[] =
    "SELECT r.id, r.id FROM resources r"
    " WHERE (?1 IS NULL OR r.controlled_by = ?1)"
    " AND (?2 IS NULL OR r.status = ?2) AND r.id > ?3"
    " ORDER BY r.id LIMIT ?4";
static const char SQL_LIST_CENTRES[] =
    "SELECT id, id FROM centres WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_LIST_SESSIONS[] =
    "SELECT id, id FROM sessions WHERE id > ?1 ORDER BY id LIMIT ?2";

static int bad_filter(struct amk_sm *sm, const char *field, const char *value,
                      const char *choices)
{
    snprintf(sm->errmsg, sizeof sm->errmsg, "%s: unknown value '%.64s' (%s)",
             field, value, choices);
    return AMK_EINVALID;
}

int amk_sm_list(struct amk_sm *sm, enum amk_sm_object kind,
                const struct amk_sm_filter *filter, char **json)
{
    static const struct amk_sm_filter none = {0};
    const struct amk_sm_filter *f = filter != NULL ? filter : &none;
    unsigned limit = clamp_limit(f->limit);
    const char *after = nonempty(f->after);
    *json = NULL;
    uint8_t v;
    sqlite3_stmt *s;
    switch (kind) {
        case AMK_OBJ_INCIDENT: {
            const char *status = nonempty(f->status);
            if (status == NULL) {
                status = "open";
            }
            if (strcmp(status, "open") != 0 && strcmp(status, "all") != 0 &&
                amk_enum_parse(AMK_ENUM_INCIDENT_STATUS, status, strlen(status),
                               &v) != 0) {
                return bad_filter(sm, "status", status,
                                  "open|all|new|triaged|dispatched|on_scene|"
                                  "transporting|resolved|closed|cancelled");
            }
            const char *urgency = nonempty(f->urgency);
            if (urgency != NULL && amk_enum_parse(AMK_ENUM_URGENCY, urgency,
                                                  strlen(urgency), &v) != 0) {
                return bad_filter(sm, "urgency", urgency,
                                  amk_enum_choices(AMK_ENUM_URGENCY));
            }
            long long after_index = 0;
            if (after != NULL) {
                char *end;
                after_index = strtoll(after, &end, 10);
                if (*end != '\0' || after_index < 0) {
                    snprintf(sm->errmsg, sizeof sm->errmsg,
                             "after: not a cursor from this list");
                    return AMK_EINVALID;
                }
            }
            s = sm_sql(sm, SQL_LIST_INCIDENTS);
            if (s == NULL) {
                return AMK_EINTERNAL;
            }
            sm_bind_text(s, 1, nonempty(f->owner));
            sm_bind_text(s, 2, status);
            sm_bind_text(s, 3, urgency);
            sqlite3_bind_int64(s, 4, after_index);
            return page(sm, s, 5, limit, AMK_OBJ_INCIDENT, json);
        }
        case AMK_OBJ_RESOURCE: {
            const char *status = nonempty(f->status);
            if (status != NULL &&
                amk_enum_parse(AMK_ENUM_RESOURCE_STATUS, status, strlen(status),
                               &v) != 0) {
                return bad_filter(sm, "status", status,
                                  amk_enum_choices(AMK_ENUM_RESOURCE_STATUS));
            }
            s = sm_sql(sm, SQL_LIST_RESOURCES);
            if (s == NULL) {
                return AMK_EINTERNAL;
            }
            sm_bind_text(s, 1, nonempty(f->centre));
            sm_bind_text(s, 2, status);
            sm_bind_text(s, 3, after != NULL ? after : "");
            return page(sm, s, 4, limit, AMK_OBJ_RESOURCE, json);
        }
        case AMK_OBJ_CENTRE:
        case AMK_OBJ_SESSION:
            s = sm_sql(sm, kind == AMK_OBJ_CENTRE ? SQL_LIST_CENTRES
                                                  : SQL_LIST_SESSIONS);
            if (s == NULL) {
                return AMK_EINTERNAL;
            }
            sm_bind_text(s, 1, after != NULL ? after : "");
            return page(sm, s, 2, limit, (int)kind, json);
    }
    snprintf(sm->errmsg, sizeof sm->errmsg, "unknown object kind");
    return AMK_EINVALID;
}

static const char SQL_PURGED[] =
    "SELECT value FROM meta WHERE key = 'events_purged'";
static const char SQL_EVENTS[] =
    "SELECT idx, body FROM events WHERE idx > ?1 ORDER BY idx LIMIT ?2";

int amk_sm_events(struct amk_sm *sm, uint64_t since, unsigned limit,
                  char **json)
{
    *json = NULL;
    sqlite3_stmt *s = sm_sql(sm, SQL_PURGED);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    uint64_t purged = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        purged = (uint64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (since < purged) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "events up to index %llu are no longer kept; read the"
                 " objects again and follow from their X-Amk-Index",
                 (unsigned long long)purged);
        return AMK_ECOMPACTED;
    }
    limit = clamp_limit(limit);
    s = sm_sql(sm, SQL_EVENTS);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
    sqlite3_bind_int(s, 2, (int)limit);
    struct sm_json o = {0};
    sm_json_lit(&o, "{\"events\":[");
    uint64_t next = since > sm->applied_index ? since : sm->applied_index;
    unsigned n = 0;
    int rv;
    while ((rv = sqlite3_step(s)) == SQLITE_ROW) {
        if (n++ > 0) {
            sm_json_add(&o, ",", 1);
        }
        sm_json_lit(&o, sm_col_text(s, 1));
        if (n == limit) {
            next = (uint64_t)sqlite3_column_int64(s, 0);
        }
    }
    if (rv != SQLITE_ROW && rv != SQLITE_DONE) {
        rv = sm_sqlite_error(sm, "events");
        sqlite3_reset(s);
        free(o.ptr);
        return rv;
    }
    sqlite3_reset(s);
    char tail[48];
    snprintf(tail, sizeof tail, "],\"next\":%llu}", (unsigned long long)next);
    sm_json_lit(&o, tail);
    return out_finish(sm, &o, json);
}

static const char SQL_EVENT_NEXT[] =
    "SELECT idx, body FROM events WHERE idx > ?1 ORDER BY idx LIMIT 1";

int amk_sm_event_next(struct amk_sm *sm, uint64_t after, uint64_t *index,
                      char **json)
{
    *json = NULL;
    sqlite3_stmt *s = sm_sql(sm, SQL_PURGED);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    uint64_t purged = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        purged = (uint64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (after < purged) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "events up to index %llu are no longer kept",
                 (unsigned long long)purged);
        return AMK_ECOMPACTED;
    }
    s = sm_sql(sm, SQL_EVENT_NEXT);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
    int rv = sqlite3_step(s);
    if (rv == SQLITE_ROW) {
        *index = (uint64_t)sqlite3_column_int64(s, 0);
        *json = strdup(sm_col_text(s, 1));
        sqlite3_reset(s);
        if (*json == NULL) {
            snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
            return AMK_ENOMEM;
        }
        return AMK_OK;
    }
    sqlite3_reset(s);
    if (rv != SQLITE_DONE) {
        return sm_sqlite_error(sm, "next event");
    }
    snprintf(sm->errmsg, sizeof sm->errmsg, "no event after %llu",
             (unsigned long long)after);
    return AMK_ENOTFOUND;
}

static const char SQL_AUDIT[] =
    "SELECT j, idx FROM audit_json WHERE idx > ?1"
    " AND (?2 IS NULL OR object = ?2) AND (?3 IS NULL OR principal = ?3)"
    " ORDER BY idx LIMIT ?4";

int amk_sm_audit(struct amk_sm *sm, const char *object, const char *actor,
                 uint64_t since, unsigned limit, char **json)
{
    *json = NULL;
    sqlite3_stmt *s = sm_sql(sm, SQL_AUDIT);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
    sm_bind_text(s, 2, nonempty(object));
    sm_bind_text(s, 3, nonempty(actor));
    return page(sm, s, 4, clamp_limit(limit), AUDIT_ROWS, json);
}

static const char SQL_SESSION_INFO[] =
    "SELECT s.centre, s.epoch, s.read_only, s.closed_at IS NOT NULL, c.epoch,"
    " c.controlled_by = c.id, s.role FROM sessions s"
    " JOIN centres c ON c.id = s.centre"
    " WHERE s.id = ?1";

int amk_sm_session_info(struct amk_sm *sm, const char *id,
                        struct amk_sm_session_info *info)
{
    memset(info, 0, sizeof *info);
    sqlite3_stmt *s = sm_sql(sm, SQL_SESSION_INFO);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_text(s, 1, id);
    int rv = sqlite3_step(s);
    if (rv == SQLITE_ROW) {
        info->exists = true;
        snprintf(info->centre, sizeof info->centre, "%s", sm_col_text(s, 0));
        info->epoch = (uint64_t)sqlite3_column_int64(s, 1);
        info->read_only = sqlite3_column_int(s, 2) != 0;
        info->closed = sqlite3_column_int(s, 3) != 0;
        info->centre_epoch = (uint64_t)sqlite3_column_int64(s, 4);
        bool self_controlled = sqlite3_column_int(s, 5) != 0;
        info->stale = info->epoch != info->centre_epoch || !self_controlled;
        const char *role = sm_col_text(s, 6);
        info->role = AMK_ROLE_OBSERVER;
        amk_enum_parse(AMK_ENUM_ROLE, role, strlen(role), &info->role);
    } else if (rv != SQLITE_DONE) {
        rv = sm_sqlite_error(sm, "session info");
        sqlite3_reset(s);
        return rv;
    }
    sqlite3_reset(s);
    if (!info->exists) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "session %s not found", id);
        return AMK_ENOTFOUND;
    }
    return AMK_OK;
}
