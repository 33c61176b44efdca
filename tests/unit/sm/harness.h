/* tests/unit/sm/harness.h: builds and applies commands for sm tests. Every
 * helper asserts on local failures, so a test reads as a script. JSON
 * answers are picked apart with SQLite's own JSON functions (amk_sm already
 * links SQLite), in a private connection the context owns. */
#ifndef AMK_TEST_SM_HARNESS_H
#define AMK_TEST_SM_HARNESS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm/sm.h"

#define H_RING 64 /* answers a test may hold at once */

struct h_ctx {
    struct amk_sm *sm;
    uint64_t index;
    int64_t now_ms;
    struct amk_sm_result r; /* result of the last apply */
    sqlite3 *jdb;           /* JSON helper connection */
    char *ring[H_RING];     /* malloc'd answers, freed when reused */
    unsigned ring_next;
};

static inline void h_open_cfg(struct h_ctx *h, const struct amk_sm_config *cfg)
{
    char errmsg[256];
    memset(h, 0, sizeof *h);
    if (amk_sm_open(&h->sm, cfg, errmsg) != 0) {
        fprintf(stderr, "amk_sm_open: %s\n", errmsg);
        abort();
    }
    if (sqlite3_open(":memory:", &h->jdb) != SQLITE_OK) {
        abort();
    }
    h->now_ms = 1795000000000LL; /* 2026-11-18 */
}

static inline void h_open(struct h_ctx *h)
{
    h_open_cfg(h, NULL);
}

static inline void h_close(struct h_ctx *h)
{
    amk_sm_result_clear(&h->r);
    amk_sm_close(h->sm);
    for (unsigned i = 0; i < H_RING; i++) {
        free(h->ring[i]);
    }
    sqlite3_close(h->jdb);
    memset(h, 0, sizeof *h);
}

/* Keeps a malloc'd string alive until H_RING more are kept. */
static inline char *h_keep(struct h_ctx *h, char *s)
{
    unsigned slot = h->ring_next++ % H_RING;
    free(h->ring[slot]);
    h->ring[slot] = s;
    return s;
}

static inline char *h_dup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        abort();
    }
    return d;
}

/* --- JSON ---------------------------------------------------------------- */

/* json_extract(json, path) as text: the value, the JSON text of an object
 * or array, or "null" for JSON null or a missing path. */
static inline const char *h_js(struct h_ctx *h, const char *json,
                               const char *path)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h->jdb,
                           "SELECT CASE WHEN json_type(?1, ?2) IN"
                           " ('object', 'array') THEN json_extract(?1, ?2)"
                           " ELSE coalesce(json_extract(?1, ?2), 'null')"
                           " END",
                           -1, &s, NULL) != SQLITE_OK) {
        abort();
    }
    sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        fprintf(stderr, "h_js: %s on %.200s: %s\n", path, json,
                sqlite3_errmsg(h->jdb));
        abort();
    }
    char *out = h_dup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return h_keep(h, out);
}

/* json_extract(json, path) as an integer; INT64_MIN for null or missing. */
static inline int64_t h_ji(struct h_ctx *h, const char *json, const char *path)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h->jdb, "SELECT json_extract(?1, ?2)", -1, &s,
                           NULL) != SQLITE_OK) {
        abort();
    }
    sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        fprintf(stderr, "h_ji: %s on %.200s: %s\n", path, json,
                sqlite3_errmsg(h->jdb));
        abort();
    }
    int64_t v = sqlite3_column_type(s, 0) == SQLITE_NULL
                    ? INT64_MIN
                    : sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* json_array_length(json, path); -1 if not an array. */
static inline int64_t h_jlen(struct h_ctx *h, const char *json,
                             const char *path)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h->jdb, "SELECT json_array_length(?1, ?2)", -1, &s,
                           NULL) != SQLITE_OK) {
        abort();
    }
    sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        abort();
    }
    int64_t v = sqlite3_column_type(s, 0) == SQLITE_NULL
                    ? -1
                    : sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* --- Queries ------------------------------------------------------------- */

/* The object's JSON (kept by h), or NULL if amk_sm_get says NOT_FOUND. */
static inline const char *h_get(struct h_ctx *h, enum amk_sm_object kind,
                                const char *id)
{
    char *json = NULL;
    int rv = amk_sm_get(h->sm, kind, id, &json, NULL);
    if (rv == AMK_ENOTFOUND) {
        return NULL;
    }
    if (rv != AMK_OK || json == NULL) {
        fprintf(stderr, "amk_sm_get %s: %s\n", id, amk_sm_errmsg(h->sm));
        abort();
    }
    return h_keep(h, json);
}

/* A field of an object that must exist. */
static inline const char *h_gs(struct h_ctx *h, enum amk_sm_object kind,
                               const char *id, const char *path)
{
    const char *json = h_get(h, kind, id);
    if (json == NULL) {
        fprintf(stderr, "h_gs: %s not found\n", id);
        abort();
    }
    return h_js(h, json, path);
}

static inline int64_t h_gi(struct h_ctx *h, enum amk_sm_object kind,
                           const char *id, const char *path)
{
    const char *json = h_get(h, kind, id);
    if (json == NULL) {
        fprintf(stderr, "h_gi: %s not found\n", id);
        abort();
    }
    return h_ji(h, json, path);
}

/* The whole database image (caller frees). */
static inline void *h_image(struct h_ctx *h, size_t *len)
{
    void *buf;
    if (amk_sm_serialize(h->sm, &buf, len) != 0) {
        abort();
    }
    return buf;
}

/* The audit entry of one index (kept by h), or NULL if there is none. */
static inline const char *h_audit_at(struct h_ctx *h, uint64_t index)
{
    char *json;
    if (amk_sm_audit(h->sm, NULL, NULL, index - 1, 1, &json) != 0) {
        abort();
    }
    h_keep(h, json);
    const char *entry = h_js(h, json, "$.items[0]");
    if (strcmp(entry, "null") == 0 ||
        h_ji(h, entry, "$.index") != (int64_t)index) {
        return NULL;
    }
    return entry;
}

/* Runs SQL on the JSON helper connection; aborts on error. */
static inline void h_jexec(struct h_ctx *h, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(h->jdb, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "h_jexec: %s: %s\n", sql, err);
        abort();
    }
}

/* Runs a one-row text query on the JSON helper connection with ?1 bound to
 * json; the answer is kept by h, NULL when there is no row or it is null. */
static inline const char *h_jquery(struct h_ctx *h, const char *sql,
                                   const char *json)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h->jdb, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "h_jquery: %s\n", sqlite3_errmsg(h->jdb));
        abort();
    }
    sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
    const char *out = NULL;
    int rv = sqlite3_step(s);
    if (rv == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        out = h_keep(h, h_dup((const char *)sqlite3_column_text(s, 0)));
    } else if (rv != SQLITE_ROW && rv != SQLITE_DONE) {
        fprintf(stderr, "h_jquery: %s\n", sqlite3_errmsg(h->jdb));
        abort();
    }
    sqlite3_finalize(s);
    return out;
}

/* Every page of a list, its items loaded into table `table` (item TEXT) of
 * the JSON helper connection. */
static inline void h_load_list(struct h_ctx *h, enum amk_sm_object kind,
                               const char *status, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS %s; CREATE TABLE %s (item TEXT);", table,
             table);
    h_jexec(h, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO %s SELECT value FROM json_each(?1, '$.items')",
             table);
    char after[128] = "";
    for (;;) {
        struct amk_sm_filter f = {
            .status = status, .limit = 1000, .after = after};
        char *page;
        if (amk_sm_list(h->sm, kind, &f, &page) != 0) {
            fprintf(stderr, "list: %s\n", amk_sm_errmsg(h->sm));
            abort();
        }
        h_jquery(h, sql, page);
        const char *next = h_js(h, page, "$.next");
        bool more = strcmp(next, "null") != 0;
        if (more) {
            snprintf(after, sizeof after, "%s", next);
        }
        free(page);
        if (!more) {
            break;
        }
    }
}

/* The domain's cross-object invariants, checked from the outside: a unit is
 * on at most one incident, only on an open one, through exactly one active
 * assignment, and on a mission status; every active assignment is its
 * unit's. Returns NULL, or a description of the first violation. */
static inline const char *h_check_invariants(struct h_ctx *h)
{
    h_load_list(h, AMK_OBJ_INCIDENT, "all", "inc");
    h_load_list(h, AMK_OBJ_RESOURCE, NULL, "res");
    h_jexec(h, "DROP TABLE IF EXISTS act; CREATE TABLE act AS SELECT"
               " json_extract(a.value, '$.resource') AS resource,"
               " json_extract(i.item, '$.id') AS incident,"
               " json_extract(i.item, '$.status') AS status"
               " FROM inc i, json_each(i.item, '$.assignments') a"
               " WHERE json_extract(a.value, '$.active');");
    static const char *const checks[] = {
        "SELECT 'two active assignments: ' || resource FROM act"
        " GROUP BY resource HAVING count(*) > 1",
        "SELECT 'active assignment on ' || status || ' incident ' || incident"
        " FROM act WHERE status IN ('closed', 'cancelled')",
        "SELECT 'assignment not the unit''s: ' || a.resource FROM act a"
        " LEFT JOIN res r ON json_extract(r.item, '$.id') = a.resource"
        " WHERE r.item IS NULL"
        " OR json_extract(r.item, '$.incident') IS NOT a.incident",
        "SELECT 'unit without its assignment: ' || json_extract(r.item, '$.id')"
        " FROM res r WHERE json_extract(r.item, '$.incident') IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM act a WHERE"
        " a.resource = json_extract(r.item, '$.id'))",
        "SELECT 'unit on an incident but ' || json_extract(item, '$.status')"
        " FROM res WHERE (json_extract(item, '$.incident') IS NOT NULL) <>"
        " (json_extract(item, '$.status') IN ('alerted', 'acknowledged',"
        " 'en_route', 'on_scene', 'transporting', 'at_destination'))",
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const char *bad = h_jquery(h, checks[i], NULL);
        if (bad != NULL) {
            return bad;
        }
    }
    return NULL;
}

/* --- Commands ------------------------------------------------------------ */

/* A command of `type` acting as (role, session). */
static inline void h_cmd(struct amk_cmd *c, uint16_t type, uint8_t role,
                         const char *session)
{
    if (amk_cmd_init(c, type) != 0) {
        abort();
    }
    c->h.role = role;
    c->h.principal = amk_str_c(role == AMK_ROLE_ADMIN ? "admin" : "op");
    c->h.session = amk_str_c(session != NULL ? session : "");
    if (session == NULL) {
        c->h.session.len = 0;
    }
}

/* Encodes and applies c at the next index; returns the result code. */
static inline int h_apply(struct h_ctx *h, struct amk_cmd *c)
{
    void *buf;
    size_t len;
    char errmsg[256];
    c->h.timestamp_ms = h->now_ms;
    if (amk_cmd_encode(c, &buf, &len, errmsg) != 0) {
        fprintf(stderr, "encode: %s\n", errmsg);
        abort();
    }
    amk_sm_result_clear(&h->r);
    h->now_ms += 1000;
    int rv = amk_sm_apply(h->sm, ++h->index, buf, len, &h->r);
    free(buf);
    if (rv != 0) {
        fprintf(stderr, "apply: %s\n", amk_sm_errmsg(h->sm));
        abort();
    }
    return h->r.code;
}

/* Applies raw bytes at the next index (undecodable input). */
static inline int h_apply_raw(struct h_ctx *h, const void *buf, size_t len)
{
    amk_sm_result_clear(&h->r);
    h->now_ms += 1000;
    int rv = amk_sm_apply(h->sm, ++h->index, buf, len, &h->r);
    if (rv != 0) {
        fprintf(stderr, "apply: %s\n", amk_sm_errmsg(h->sm));
        abort();
    }
    return h->r.code;
}

/* The acting role of a helper: admin without a session, operator with. */
static inline uint8_t h_role_for(const char *session)
{
    return session == NULL ? AMK_ROLE_ADMIN : AMK_ROLE_OPERATOR;
}

static inline int h_centre(struct h_ctx *h, const char *id, const char *backup)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_REGISTER, AMK_ROLE_ADMIN, NULL);
    c.u.centre_register.id = amk_str_c(id);
    c.u.centre_register.name = amk_str_c(id);
    c.u.centre_register.region = amk_str_c("sor-ost");
    c.u.centre_register.n_backups = backup != NULL ? 1 : 0;
    c.u.centre_register.backups[0] = amk_str_c(backup);
    return h_apply(h, &c);
}

static inline int h_session(struct h_ctx *h, const char *id, const char *centre,
                            uint8_t role)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_SESSION_OPEN, role, NULL);
    c.u.session_open.id = amk_str_c(id);
    c.u.session_open.centre = amk_str_c(centre);
    c.u.session_open.console = amk_str_c("console-1");
    c.u.session_open.operator_id = amk_str_c("nurse-1");
    return h_apply(h, &c);
}

/* session.close of `id`, sent by session `by` (NULL: an admin). */
static inline int h_session_close(struct h_ctx *h, const char *by,
                                  const char *id)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_SESSION_CLOSE, h_role_for(by), by);
    c.u.session_close.id = amk_str_c(id);
    return h_apply(h, &c);
}

static inline int h_incident(struct h_ctx *h, const char *id,
                             const char *session)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_CREATE, AMK_ROLE_OPERATOR, session);
    c.u.incident_create.id = amk_str_c(id);
    c.u.incident_create.urgency = AMK_URG_ACUTE;
    c.u.incident_create.criterion = amk_str_c("10.01");
    c.u.incident_create.lat = 59.91;
    c.u.incident_create.lon = 10.75;
    c.u.incident_create.accuracy_m = 25;
    c.u.incident_create.address = amk_str_c("Karl Johans gate 1");
    c.u.incident_create.municipality = amk_str_c("0301");
    return h_apply(h, &c);
}

static inline int h_resource(struct h_ctx *h, const char *id, int64_t issi,
                             const char *home)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_REGISTER, AMK_ROLE_ADMIN, NULL);
    c.u.resource_register.id = amk_str_c(id);
    c.u.resource_register.type = AMK_RT_AMBULANCE;
    c.u.resource_register.issi = issi;
    c.u.resource_register.home_centre = amk_str_c(home);
    return h_apply(h, &c);
}

/* centre.takeover of x by `by`, by an admin (automatic: by the system). */
static inline int h_takeover(struct h_ctx *h, const char *x, const char *by,
                             bool automatic)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_TAKEOVER,
          automatic ? AMK_ROLE_SYSTEM : AMK_ROLE_ADMIN, NULL);
    c.u.centre_takeover.id = amk_str_c(x);
    c.u.centre_takeover.by = amk_str_c(by);
    c.u.centre_takeover.reason = amk_str_c("test");
    c.u.centre_takeover.automatic = automatic ? 1 : 0;
    return h_apply(h, &c);
}

/* centre.handback of x; incidents AMK_HB_* or AMK_ENUM_NONE (default). */
static inline int h_handback(struct h_ctx *h, const char *x, uint8_t incidents)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_HANDBACK, AMK_ROLE_ADMIN, NULL);
    c.u.centre_handback.id = amk_str_c(x);
    c.u.centre_handback.incidents = incidents;
    return h_apply(h, &c);
}

/* centre.set_state by session (NULL: an admin). */
static inline int h_set_state(struct h_ctx *h, const char *session,
                              const char *id, uint8_t state)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_CENTRE_SET_STATE, h_role_for(session), session);
    c.u.centre_set_state.id = amk_str_c(id);
    c.u.centre_set_state.state = state;
    return h_apply(h, &c);
}

/* incident.update with only a status. */
static inline int h_move(struct h_ctx *h, const char *session, const char *id,
                         uint8_t status)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, session);
    c.u.incident_update.id = amk_str_c(id);
    c.u.incident_update.status = status;
    return h_apply(h, &c);
}

static inline int h_note(struct h_ctx *h, const char *session, const char *id,
                         const char *text)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_NOTE, AMK_ROLE_OPERATOR, session);
    c.u.incident_note.id = amk_str_c(id);
    c.u.incident_note.text = amk_str_c(text);
    return h_apply(h, &c);
}

static inline int h_assign(struct h_ctx *h, const char *session, const char *id,
                           const char *resource)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_ASSIGN, AMK_ROLE_OPERATOR, session);
    c.u.incident_assign.id = amk_str_c(id);
    c.u.incident_assign.resource = amk_str_c(resource);
    return h_apply(h, &c);
}

static inline int h_unassign(struct h_ctx *h, const char *session,
                             const char *id, const char *resource)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_UNASSIGN, AMK_ROLE_OPERATOR, session);
    c.u.incident_unassign.id = amk_str_c(id);
    c.u.incident_unassign.resource = amk_str_c(resource);
    return h_apply(h, &c);
}

static inline int h_phase(struct h_ctx *h, const char *session, const char *id,
                          const char *resource, uint8_t phase)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_PHASE, AMK_ROLE_OPERATOR, session);
    c.u.incident_phase.id = amk_str_c(id);
    c.u.incident_phase.resource = amk_str_c(resource);
    c.u.incident_phase.phase = phase;
    return h_apply(h, &c);
}

static inline int h_close_incident(struct h_ctx *h, const char *session,
                                   const char *id, uint8_t disposition)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_CLOSE, AMK_ROLE_OPERATOR, session);
    c.u.incident_close.id = amk_str_c(id);
    c.u.incident_close.disposition = disposition;
    return h_apply(h, &c);
}

static inline int h_cancel(struct h_ctx *h, const char *session, const char *id)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_CANCEL, AMK_ROLE_OPERATOR, session);
    c.u.incident_cancel.id = amk_str_c(id);
    c.u.incident_cancel.reason = amk_str_c("caller hung up");
    return h_apply(h, &c);
}

static inline int h_transfer(struct h_ctx *h, const char *session,
                             const char *id, const char *to)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_INCIDENT_TRANSFER, AMK_ROLE_OPERATOR, session);
    c.u.incident_transfer.id = amk_str_c(id);
    c.u.incident_transfer.to = amk_str_c(to);
    return h_apply(h, &c);
}

static inline int h_answer(struct h_ctx *h, const char *session, const char *id,
                           bool accept)
{
    struct amk_cmd c;
    h_cmd(&c,
          accept ? AMK_CMD_INCIDENT_TRANSFER_ACCEPT
                 : AMK_CMD_INCIDENT_TRANSFER_REJECT,
          AMK_ROLE_OPERATOR, session);
    if (accept) {
        c.u.incident_transfer_accept.id = amk_str_c(id);
    } else {
        c.u.incident_transfer_reject.id = amk_str_c(id);
    }
    return h_apply(h, &c);
}

/* resource.status report from a bridge session (NULL: an admin). */
static inline int h_report(struct h_ctx *h, const char *session, const char *id,
                           uint8_t status, int64_t seq)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_STATUS,
          session == NULL ? AMK_ROLE_ADMIN : AMK_ROLE_BRIDGE, session);
    c.u.resource_status.id = amk_str_c(id);
    c.u.resource_status.status = status;
    c.u.resource_status.seq = seq;
    return h_apply(h, &c);
}

static inline int h_position(struct h_ctx *h, const char *session,
                             const char *id, double lat, double lon,
                             int64_t seq)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_POSITION,
          session == NULL ? AMK_ROLE_ADMIN : AMK_ROLE_BRIDGE, session);
    c.u.resource_position.id = amk_str_c(id);
    c.u.resource_position.lat = lat;
    c.u.resource_position.lon = lon;
    c.u.resource_position.seq = seq;
    return h_apply(h, &c);
}

static inline int h_alarm(struct h_ctx *h, const char *session, const char *id,
                          bool on, int64_t seq)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_RESOURCE_ALARM,
          session == NULL ? AMK_ROLE_ADMIN : AMK_ROLE_BRIDGE, session);
    c.u.resource_alarm.id = amk_str_c(id);
    c.u.resource_alarm.on = on ? 1 : 0;
    c.u.resource_alarm.seq = seq;
    return h_apply(h, &c);
}

/* A cheap changing command (an admin's position report on oslo-2, with
 * the index as its seq), to fill the log up to some index. */
static inline int h_filler(struct h_ctx *h)
{
    return h_position(h, NULL, "oslo-2", 59.9, 10.7, (int64_t)h->index + 1);
}

/* The usual world: oslo (backed up by bergen), bergen, trondheim; an
 * operator session at each (s-oslo, s-bergen, s-trd), a bridge session at
 * oslo (b-oslo); two ambulances at oslo and one at bergen. Asserts each
 * step (the helpers abort on local failures; domain failures abort here). */
static inline void h_world(struct h_ctx *h)
{
    int rc = h_centre(h, "oslo", "bergen");
    rc |= h_centre(h, "bergen", "oslo");
    rc |= h_centre(h, "trondheim", NULL);
    rc |= h_session(h, "s-oslo", "oslo", AMK_ROLE_OPERATOR);
    rc |= h_session(h, "s-bergen", "bergen", AMK_ROLE_OPERATOR);
    rc |= h_session(h, "s-trd", "trondheim", AMK_ROLE_OPERATOR);
    rc |= h_session(h, "b-oslo", "oslo", AMK_ROLE_BRIDGE);
    rc |= h_resource(h, "oslo-1", 1001, "oslo");
    rc |= h_resource(h, "oslo-2", 1002, "oslo");
    rc |= h_resource(h, "bergen-1", 2001, "bergen");
    if (rc != AMK_OK) {
        fprintf(stderr, "h_world: %s\n", h->r.message);
        abort();
    }
}

/* Substring check on the last result's body. */
static inline int h_body_has(struct h_ctx *h, const char *needle)
{
    return h->r.body != NULL && strstr(h->r.body, needle) != NULL;
}

/* For use after <cmocka.h>: expects a code, failing with the message. */
#define H_EXPECT(h, expected, expr)                                            \
    do {                                                                       \
        int h_rc_ = (expr);                                                    \
        if (h_rc_ != (expected)) {                                             \
            fail_msg("%s: expected %s, got %s (%s)", #expr,                    \
                     amk_code_name(expected), amk_code_name(h_rc_),            \
                     (h)->r.message);                                          \
        }                                                                      \
    } while (0)
#define H_OK(h, expr) H_EXPECT(h, AMK_OK, expr)

/* The fixture most sm test files share: a state machine set up with
 * h_world(), and the table row of a table-driven case (cmocka's prestate;
 * NULL for other tests). */
struct h_fixture {
    struct h_ctx h;
    const void *row;
};

static inline int h_fixture_setup(void **state)
{
    struct h_fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    f->row = *state;
    h_open(&f->h);
    h_world(&f->h);
    *state = f;
    return 0;
}

static inline int h_fixture_teardown(void **state)
{
    struct h_fixture *f = *state;
    h_close(&f->h);
    free(f);
    return 0;
}

static inline struct h_ctx *h_fixture_ctx(void **state)
{
    return &((struct h_fixture *)*state)->h;
}

#endif
