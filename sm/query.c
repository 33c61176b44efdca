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

/* Runs a page query whose rows are (id, cursor) of objects of `kind`; its
 * last parameter is the row limit (limit + 1 is asked for, to know whether
 * more follow). */
static int page(struct amk_sm *sm, sqlite3_stmt *s, int limit_param,
                unsigned limit, enum amk_sm_object kind, char **json)
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
        b.len = 0;
        int r = sm_render_into(sm, kind, sm_col_text(s, 0), &b, NULL);
        if (r < 0 || b.failed) {
            sqlite3_reset(s);
            free(b.ptr);
            free(o.ptr);
            snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
            return r < 0 ? -r : AMK_ENOMEM;
        }
        sm_json_add(&o, b.ptr, b.len);
        sm_copy(cursor, sizeof cursor, sm_col_text(s, 1));
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
            return page(sm, s, 2, limit, kind, json);
    }
    snprintf(sm->errmsg, sizeof sm->errmsg, "unknown object kind");
    return AMK_EINVALID;
}

/* AMK_ECOMPACTED unless every record of a log (`what`) after `since` is
 * still kept: none up to `purged` is. */
static int check_kept(struct amk_sm *sm, uint64_t since, uint64_t purged,
                      const char *what, const char *hint)
{
    if (since >= purged) {
        return AMK_OK;
    }
    snprintf(sm->errmsg, sizeof sm->errmsg,
             "%s up to index %llu are no longer kept%s", what,
             (unsigned long long)purged, hint);
    return AMK_ECOMPACTED;
}

int amk_sm_events(struct amk_sm *sm, uint64_t since, unsigned limit,
                  char **json)
{
    *json = NULL;
    int rv = check_kept(sm, since, sm->logs.events_purged, "events",
                        "; read the objects again and follow from their"
                        " X-Amk-Index");
    if (rv != AMK_OK) {
        return rv;
    }
    limit = clamp_limit(limit);
    struct sm_json o = {0};
    sm_json_lit(&o, "{\"events\":[");
    uint64_t next = since > sm->applied_index ? since : sm->applied_index;
    size_t pos = sm_events_after(&sm->logs, since);
    for (unsigned n = 0; n < limit; n++, pos++) {
        const struct sm_event *e = sm_event_at(&sm->logs, pos);
        if (e == NULL) {
            break;
        }
        if (n > 0) {
            sm_json_add(&o, ",", 1);
        }
        sm_json_add(&o, e->body, e->len);
        if (n + 1 == limit) {
            next = e->idx;
        }
    }
    char tail[48];
    snprintf(tail, sizeof tail, "],\"next\":%llu}", (unsigned long long)next);
    sm_json_lit(&o, tail);
    return out_finish(sm, &o, json);
}

int amk_sm_event_next(struct amk_sm *sm, uint64_t after, uint64_t *index,
                      char **json)
{
    *json = NULL;
    int rv = check_kept(sm, after, sm->logs.events_purged, "events", "");
    if (rv != AMK_OK) {
        return rv;
    }
    const struct sm_event *e =
        sm_event_at(&sm->logs, sm_events_after(&sm->logs, after));
    if (e == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "no event after %llu",
                 (unsigned long long)after);
        return AMK_ENOTFOUND;
    }
    *index = e->idx;
    *json = malloc(e->len + 1);
    if (*json == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "out of memory");
        return AMK_ENOMEM;
    }
    memcpy(*json, e->body, e->len + 1);
    return AMK_OK;
}

int amk_sm_audit(struct amk_sm *sm, const char *object, const char *actor,
                 uint64_t since, unsigned limit, char **json)
{
    *json = NULL;
    /* since 0 (none given) reads from the oldest entry kept; a later one
     * must not skip entries that were discarded. */
    if (since > 0) {
        int rv = check_kept(sm, since, sm->logs.audit_purged, "audit entries",
                            "; read from since set to that index, or without"
                            " since from the oldest kept");
        if (rv != AMK_OK) {
            return rv;
        }
    }
    struct sm_json o = {0};
    bool more;
    uint64_t last;
    sm_json_lit(&o, "{\"items\":[");
    sm_audit_page(&sm->logs, nonempty(object), nonempty(actor), since,
                  clamp_limit(limit), &o, &more, &last);
    char tail[48];
    if (more) {
        snprintf(tail, sizeof tail, "],\"next\":\"%llu\"}",
                 (unsigned long long)last);
    } else {
        snprintf(tail, sizeof tail, "],\"next\":null}");
    }
    sm_json_lit(&o, tail);
    return out_finish(sm, &o, json);
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
        sm_copy(info->centre, sizeof info->centre, sm_col_text(s, 0));
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
