/* tests/unit/sm/gen.h: a seeded generator of realistic command streams for
 * the determinism and snapshot tests: every command type, valid and invalid,
 * existing and unknown ids, takeovers and handbacks, idempotent retries and
 * undecodable entries. It peeks at one state machine to aim most commands at
 * something that exists (so they get past the first checks), which keeps it
 * deterministic: the stream depends only on the seed and on the state it is
 * applied to. */
#ifndef AMK_TEST_SM_GEN_H
#define AMK_TEST_SM_GEN_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm/sm.h"

#define GEN_CENTRES  5
#define GEN_SESSIONS 256
#define GEN_REPLAYS  8

struct gen_session {
    char id[16];
    int centre; /* index into the centre pool, -1: none */
    uint8_t role;
};

struct gen {
    uint64_t rng; /* xorshift64 state, never 0 */
    int64_t now_ms;
    uint64_t n_commands;
    unsigned n_sessions;
    struct gen_session sessions[GEN_SESSIONS];
    unsigned n_incidents; /* i0 .. i<n-1> attempted */
    unsigned n_resources; /* r0 .. r<n-1> attempted */
    int64_t status_seq[64], pos_seq[64];
    unsigned n_keys;
    void *replay[GEN_REPLAYS]; /* encoded keyed commands to retry */
    size_t replay_len[GEN_REPLAYS];
    sqlite3 *jdb;
    char scratch[48][80]; /* string fields of the command being built */
    unsigned n_scratch;
};

static const char *const gen_centres[GEN_CENTRES] = {
    "oslo", "bergen", "trondheim", "tromso", "kristiansand"};

static inline void gen_init(struct gen *g, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    g->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    g->now_ms = 1798754400000LL; /* 2026-12-31 late: case years roll over */
    if (sqlite3_open(":memory:", &g->jdb) != SQLITE_OK) {
        abort();
    }
}

static inline void gen_free(struct gen *g)
{
    for (unsigned i = 0; i < GEN_REPLAYS; i++) {
        free(g->replay[i]);
    }
    sqlite3_close(g->jdb);
}

static inline uint64_t gen_u64(struct gen *g)
{
    uint64_t x = g->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    g->rng = x;
    return x;
}

/* Uniform in 0..n-1 (n > 0). */
static inline unsigned gen_below(struct gen *g, unsigned n)
{
    return (unsigned)(gen_u64(g) % n);
}

static inline bool gen_chance(struct gen *g, unsigned percent)
{
    return gen_below(g, 100) < percent;
}

static inline double gen_real(struct gen *g, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(gen_u64(g) >> 11) / 9007199254740992.0);
}

/* A string field of the command being built (valid until the next
 * command). */
static inline struct amk_str gen_str(struct gen *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline struct amk_str gen_str(struct gen *g, const char *fmt, ...)
{
    if (g->n_scratch == sizeof g->scratch / sizeof g->scratch[0]) {
        abort(); /* one command never needs this many */
    }
    char *out = g->scratch[g->n_scratch++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, sizeof g->scratch[0], fmt, ap);
    va_end(ap);
    return amk_str_c(out);
}

/* json_extract of an object of `sm` as text into out ("" if none). */
static inline void gen_peek(struct gen *g, struct amk_sm *sm,
                            enum amk_sm_object kind, const char *id,
                            const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    char *json = NULL;
    if (amk_sm_get(sm, kind, id, &json, NULL) != 0) {
        return;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(g->jdb, "SELECT json_extract(?1, ?2)", -1, &s,
                           NULL) != SQLITE_OK) {
        abort();
    }
    sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    free(json);
}

static inline int gen_centre_index(const char *name)
{
    for (int i = 0; i < GEN_CENTRES; i++) {
        if (strcmp(gen_centres[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

/* The newest operator session of a centre that may write (asking `peek`),
 * else its newest operator session, or -1. */
static inline int gen_session_of(struct gen *g, struct amk_sm *peek, int centre)
{
    int fallback = -1;
    int oldest = (int)g->n_sessions - 40; /* the newest are enough */
    for (int i = (int)g->n_sessions - 1; i >= 0 && i >= oldest; i--) {
        if (g->sessions[i].centre != centre ||
            g->sessions[i].role != AMK_ROLE_OPERATOR) {
            continue;
        }
        struct amk_sm_session_info info;
        if (amk_sm_session_info(peek, g->sessions[i].id, &info) == 0 &&
            !info.closed && !info.read_only && !info.stale) {
            return i;
        }
        if (fallback < 0) {
            fallback = i;
        }
    }
    return fallback;
}

/* A random session, preferring (a few tries) one that `peek` says is open
 * and, when `writer`, valid for writing as an operator. -1 if none. */
static inline int gen_any_session(struct gen *g, struct amk_sm *peek,
                                  bool writer)
{
    int pick = -1;
    for (unsigned tries = 0; g->n_sessions > 0 && tries < 8; tries++) {
        pick = (int)gen_below(g, g->n_sessions);
        struct amk_sm_session_info info;
        if (amk_sm_session_info(peek, g->sessions[pick].id, &info) != 0 ||
            info.closed) {
            continue;
        }
        if (!writer || (!info.read_only && !info.stale &&
                        g->sessions[pick].role == AMK_ROLE_OPERATOR)) {
            break;
        }
    }
    return pick;
}

/* Sets the acting session: mostly `preferred` (a session index or -1),
 * sometimes another, none or one that does not exist. */
static inline void gen_act(struct gen *g, struct amk_cmd *c, int preferred)
{
    unsigned roll = gen_below(g, 100);
    int pick = preferred;
    if (roll >= 80 || pick < 0) {
        pick = g->n_sessions > 0 ? (int)gen_below(g, g->n_sessions) : -1;
    }
    if (roll >= 97 || pick < 0) {
        c->h.role = gen_chance(g, 50) ? AMK_ROLE_OPERATOR : AMK_ROLE_ADMIN;
        c->h.principal =
            amk_str_c(c->h.role == AMK_ROLE_ADMIN ? "admin" : "op");
        c->h.session = roll >= 99 ? amk_str_c("ghost") : amk_str_c("");
        return;
    }
    const struct gen_session *s = &g->sessions[pick];
    c->h.role = s->role;
    c->h.principal = gen_str(g, "user-%d", pick % 7);
    c->h.session = amk_str_c(s->id);
}

static inline void gen_admin(struct gen *g, struct amk_cmd *c)
{
    c->h.role = gen_chance(g, 90) ? AMK_ROLE_ADMIN : AMK_ROLE_OPERATOR;
    c->h.principal = amk_str_c("admin");
}

/* An incident id: mostly one already attempted, sometimes unknown. */
static inline struct amk_str gen_incident(struct gen *g)
{
    if (g->n_incidents == 0 || gen_chance(g, 4)) {
        return gen_str(g, "i-unknown-%u", gen_below(g, 5));
    }
    /* Favour recent incidents: they are the open ones. */
    unsigned n = g->n_incidents < 30 ? g->n_incidents : 30;
    return gen_str(g, "i%u", g->n_incidents - 1 - gen_below(g, n));
}

static inline struct amk_str gen_resource(struct gen *g)
{
    if (g->n_resources == 0 || gen_chance(g, 4)) {
        return gen_str(g, "r-unknown");
    }
    return gen_str(g, "r%u", gen_below(g, g->n_resources));
}

/* The session index to act on an incident as: its owner's (or, for
 * transfer answers, its receiver's). */
static inline int gen_owner_session(struct gen *g, struct amk_sm *peek,
                                    struct amk_str incident, const char *path)
{
    char id[AMK_ID_MAX + 1], centre[80];
    snprintf(id, sizeof id, "%.*s", (int)incident.len, incident.ptr);
    gen_peek(g, peek, AMK_OBJ_INCIDENT, id, path, centre, sizeof centre);
    int ci = gen_centre_index(centre);
    return ci < 0 ? -1 : gen_session_of(g, peek, ci);
}

static inline uint8_t gen_enum(struct gen *g, enum amk_enum_kind kind)
{
    return (uint8_t)gen_below(g, amk_enum_count(kind));
}

/* Fills the location and other fields shared by create and update,
 * mostly valid. */
#define GEN_FIELDS(g, b)                                                       \
    do {                                                                       \
        if (gen_chance(g, 70)) {                                               \
            (b)->lat = gen_chance(g, 3) ? 95.0 : gen_real(g, 58, 71);          \
            (b)->lon = gen_real(g, 4, 31);                                     \
            (b)->accuracy_m = gen_real(g, 0, 500);                             \
        }                                                                      \
        if (gen_chance(g, 60)) {                                               \
            (b)->address = gen_str(g, "Gate %u", gen_below(g, 200));           \
            (b)->municipality = gen_chance(g, 3)                               \
                                    ? gen_str(g, "30")                         \
                                    : gen_str(g, "%04u", gen_below(g, 5500));  \
        }                                                                      \
        if (gen_chance(g, 50)) {                                               \
            (b)->criterion = gen_chance(g, 3) ? gen_str(g, "x.yz")             \
                                              : gen_str(g, "%02u.%02u",        \
                                                        1 + gen_below(g, 40),  \
                                                        1 + gen_below(g, 15)); \
        }                                                                      \
        if (gen_chance(g, 40)) {                                               \
            (b)->caller_phone =                                                \
                gen_str(g, "+47 %08u", gen_below(g, 100000000));               \
            (b)->caller_name = gen_str(g, "Caller %u", gen_below(g, 50));      \
        }                                                                      \
        if (gen_chance(g, 30)) {                                               \
            (b)->n_patients = gen_below(g, 4);                                 \
            for (uint32_t p_ = 0; p_ < (b)->n_patients; p_++) {                \
                (b)->patients[p_].age = (int32_t)gen_below(g, 160);            \
                (b)->patients[p_].sex = gen_enum(g, AMK_ENUM_SEX);             \
                if (gen_chance(g, 50)) {                                       \
                    (b)->patients[p_].national_id = gen_str(                   \
                        g, "%011llu",                                          \
                        (unsigned long long)(gen_u64(g) % 100000000000ull));   \
                }                                                              \
            }                                                                  \
        }                                                                      \
    } while (0)

/* Builds the next command into c (its strings live in g). Returns false
 * when the next entry is instead raw bytes (*raw, *raw_len, malloc'd):
 * garbage or an idempotent retry. */
static inline bool gen_build(struct gen *g, struct amk_sm *peek,
                             struct amk_cmd *c, void **raw, size_t *raw_len)
{
    uint64_t n = g->n_commands++;
    g->n_scratch = 0;
    g->now_ms += gen_below(g, 2500);

    /* The prelude: centres, resources, a session per centre. */
    if (n < GEN_CENTRES) {
        amk_cmd_init(c, AMK_CMD_CENTRE_REGISTER);
        c->h.role = AMK_ROLE_ADMIN;
        c->h.principal = amk_str_c("admin");
        c->u.centre_register.id = amk_str_c(gen_centres[n]);
        c->u.centre_register.name = gen_str(g, "AMK %s", gen_centres[n]);
        c->u.centre_register.region = amk_str_c("region");
        c->u.centre_register.n_backups = 1;
        c->u.centre_register.backups[0] =
            amk_str_c(gen_centres[(n + 1) % GEN_CENTRES]);
        return true;
    }
    if (n < 2 * GEN_CENTRES) {
        unsigned ci = (unsigned)n - GEN_CENTRES;
        amk_cmd_init(c, AMK_CMD_SESSION_OPEN);
        c->h.role = AMK_ROLE_OPERATOR;
        c->h.principal = amk_str_c("op");
        struct gen_session *s = &g->sessions[g->n_sessions++];
        snprintf(s->id, sizeof s->id, "s%u", g->n_sessions - 1);
        s->centre = (int)ci;
        s->role = AMK_ROLE_OPERATOR;
        c->u.session_open.id = amk_str_c(s->id);
        c->u.session_open.centre = amk_str_c(gen_centres[ci]);
        c->u.session_open.console = gen_str(g, "console-%u", ci);
        c->u.session_open.operator_id = gen_str(g, "nurse-%u", ci);
        return true;
    }

    if (n < 4 * GEN_CENTRES) {
        unsigned ri = (unsigned)n - 2 * GEN_CENTRES;
        amk_cmd_init(c, AMK_CMD_RESOURCE_REGISTER);
        c->h.role = AMK_ROLE_ADMIN;
        c->h.principal = amk_str_c("admin");
        c->u.resource_register.id = gen_str(g, "r%u", g->n_resources++);
        c->u.resource_register.type = (uint8_t)(ri % 3);
        c->u.resource_register.issi = 1000 + (int64_t)ri * 7;
        c->u.resource_register.home_centre =
            amk_str_c(gen_centres[ri % GEN_CENTRES]);
        return true;
    }

    unsigned roll = gen_below(g, 1000);
    /* Garbage and retries first: they bypass the builders. */
    if (roll < 10) {
        size_t len = 1 + gen_below(g, 64);
        unsigned char *buf = malloc(len);
        for (size_t i = 0; i < len; i++) {
            buf[i] = (unsigned char)gen_u64(g);
        }
        if (len > 4 && gen_chance(g, 50)) {
            buf[0] = AMK_CMD_FORMAT; /* get past the format byte */
        }
        *raw = buf;
        *raw_len = len;
        return false;
    }
    if (roll < 30 && g->n_keys > 0) {
        unsigned k =
            gen_below(g, g->n_keys < GEN_REPLAYS ? g->n_keys : GEN_REPLAYS);
        void *copy = malloc(g->replay_len[k]);
        memcpy(copy, g->replay[k], g->replay_len[k]);
        amk_cmd_stamp(copy, g->replay_len[k], 1, g->now_ms);
        *raw = copy;
        *raw_len = g->replay_len[k];
        return false;
    }

    struct amk_str inc = gen_incident(g);
    if (roll < 150) { /* incident.create */
        amk_cmd_init(c, AMK_CMD_INCIDENT_CREATE);
        gen_act(g, c, gen_any_session(g, peek, true));
        struct amk_cmd_incident_create *b = &c->u.incident_create;
        b->id = gen_chance(g, 95) ? gen_str(g, "i%u", g->n_incidents++) : inc;
        b->urgency = gen_enum(g, AMK_ENUM_URGENCY);
        GEN_FIELDS(g, b);
        if (gen_chance(g, 20)) {
            b->note = gen_str(g, "note %u", gen_below(g, 1000));
        }
        if (gen_chance(g, 10)) {
            b->area_centre = amk_str_c(
                gen_chance(g, 90) ? gen_centres[gen_below(g, GEN_CENTRES)]
                                  : "nowhere");
        }
    } else if (roll < 260) { /* incident.update */
        amk_cmd_init(c, AMK_CMD_INCIDENT_UPDATE);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.owner"));
        struct amk_cmd_incident_update *b = &c->u.incident_update;
        b->id = inc;
        if (gen_chance(g, 30)) {
            b->urgency = gen_enum(g, AMK_ENUM_URGENCY);
        }
        if (gen_chance(g, 50)) {
            b->status = gen_enum(g, AMK_ENUM_INCIDENT_STATUS);
        }
        GEN_FIELDS(g, b);
    } else if (roll < 340) { /* incident.note */
        amk_cmd_init(c, AMK_CMD_INCIDENT_NOTE);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.owner"));
        c->u.incident_note.id = inc;
        c->u.incident_note.text = gen_chance(g, 3)
                                      ? gen_str(g, "%s", "")
                                      : gen_str(g, "obs %u", gen_below(g, 99));
    } else if (roll < 420) { /* incident.assign */
        amk_cmd_init(c, AMK_CMD_INCIDENT_ASSIGN);
        int si = gen_owner_session(g, peek, inc, "$.owner");
        gen_act(g, c, si);
        c->u.incident_assign.id = inc;
        c->u.incident_assign.resource = gen_resource(g);
        /* Prefer a free unit the acting centre controls. */
        for (unsigned tries = 0; si >= 0 && tries < 6; tries++) {
            struct amk_str r = gen_resource(g);
            char rid[32], ctl[80], st[80];
            snprintf(rid, sizeof rid, "%.*s", (int)r.len, r.ptr);
            gen_peek(g, peek, AMK_OBJ_RESOURCE, rid, "$.controlled_by", ctl,
                     sizeof ctl);
            gen_peek(g, peek, AMK_OBJ_RESOURCE, rid, "$.status", st, sizeof st);
            if (gen_centre_index(ctl) == g->sessions[si].centre &&
                strncmp(st, "available", 9) == 0) {
                c->u.incident_assign.resource = r;
                break;
            }
        }
    } else if (roll < 480) { /* incident.phase */
        amk_cmd_init(c, AMK_CMD_INCIDENT_PHASE);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.owner"));
        c->u.incident_phase.id = inc;
        char id[AMK_ID_MAX + 1], unit[80];
        snprintf(id, sizeof id, "%.*s", (int)inc.len, inc.ptr);
        gen_peek(g, peek, AMK_OBJ_INCIDENT, id, "$.assignments[#-1].resource",
                 unit, sizeof unit);
        c->u.incident_phase.resource = unit[0] != '\0' && gen_chance(g, 85)
                                           ? gen_str(g, "%s", unit)
                                           : gen_resource(g);
        c->u.incident_phase.phase = gen_enum(g, AMK_ENUM_RESOURCE_STATUS);
    } else if (roll < 510) { /* incident.unassign */
        amk_cmd_init(c, AMK_CMD_INCIDENT_UNASSIGN);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.owner"));
        c->u.incident_unassign.id = inc;
        char id[AMK_ID_MAX + 1], unit[80];
        snprintf(id, sizeof id, "%.*s", (int)inc.len, inc.ptr);
        gen_peek(g, peek, AMK_OBJ_INCIDENT, id, "$.assignments[0].resource",
                 unit, sizeof unit);
        c->u.incident_unassign.resource =
            unit[0] != '\0' ? gen_str(g, "%s", unit) : gen_resource(g);
    } else if (roll < 560) { /* incident.close */
        amk_cmd_init(c, AMK_CMD_INCIDENT_CLOSE);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.owner"));
        c->u.incident_close.id = inc;
        c->u.incident_close.disposition = gen_enum(g, AMK_ENUM_DISPOSITION);
    } else if (roll < 580) { /* incident.cancel */
        amk_cmd_init(c, AMK_CMD_INCIDENT_CANCEL);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.owner"));
        c->u.incident_cancel.id = inc;
        if (gen_chance(g, 50)) {
            c->u.incident_cancel.reason = gen_str(g, "reason");
        }
    } else if (roll < 600) { /* incident.transfer */
        amk_cmd_init(c, AMK_CMD_INCIDENT_TRANSFER);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.owner"));
        c->u.incident_transfer.id = inc;
        c->u.incident_transfer.to =
            amk_str_c(gen_chance(g, 95) ? gen_centres[gen_below(g, GEN_CENTRES)]
                                        : "nowhere");
    } else if (roll < 630) { /* incident.transfer_accept / _reject */
        bool accept = gen_chance(g, 70);
        amk_cmd_init(c, accept ? AMK_CMD_INCIDENT_TRANSFER_ACCEPT
                               : AMK_CMD_INCIDENT_TRANSFER_REJECT);
        gen_act(g, c, gen_owner_session(g, peek, inc, "$.transfer_to"));
        c->u.incident_transfer_accept.id = inc;
        if (gen_chance(g, 30)) {
            c->u.incident_transfer_accept.reason = gen_str(g, "busy");
        }
    } else if (roll < 880) { /* reports */
        struct amk_str r = gen_resource(g);
        unsigned ri = 63;
        if (r.len > 1 && r.ptr[1] >= '0' && r.ptr[1] <= '9') {
            ri = (unsigned)atoi(r.ptr + 1) % 64;
        }
        unsigned kind = gen_below(g, 20);
        uint16_t type = kind < 11   ? AMK_CMD_RESOURCE_STATUS
                        : kind < 19 ? AMK_CMD_RESOURCE_POSITION
                                    : AMK_CMD_RESOURCE_ALARM;
        amk_cmd_init(c, type);
        /* Any open session (a bridge, a console) may report. */
        gen_act(g, c, gen_any_session(g, peek, false));
        if (gen_chance(g, 5)) {
            c->h.role = AMK_ROLE_ADMIN;
            c->h.principal = amk_str_c("admin");
            c->h.session = amk_str_c("");
        }
        int64_t *counter = type == AMK_CMD_RESOURCE_POSITION
                               ? &g->pos_seq[ri]
                               : &g->status_seq[ri];
        int64_t seq =
            *counter + (gen_chance(g, 85) ? 1 + gen_below(g, 3)
                                          : -(int64_t)gen_below(g, 3));
        if (seq > *counter) {
            *counter = seq;
        }
        if (type == AMK_CMD_RESOURCE_STATUS) {
            c->u.resource_status.id = r;
            c->u.resource_status.seq = seq;
            /* Mostly a move the unit can make, sometimes any. */
            static const uint8_t next[][3] = {
                [AMK_RS_OUT_OF_SERVICE] = {1, 1, 2},
                [AMK_RS_AVAILABLE_STATION] = {2, 0, 2},
                [AMK_RS_AVAILABLE_MOBILE] = {1, 0, 1},
                [AMK_RS_ALERTED] = {4, 5, 6},
                [AMK_RS_ACKNOWLEDGED] = {5, 5, 6},
                [AMK_RS_EN_ROUTE] = {6, 6, 2},
                [AMK_RS_ON_SCENE] = {7, 7, 2},
                [AMK_RS_TRANSPORTING] = {8, 8, 2},
                [AMK_RS_AT_DESTINATION] = {2, 1, 0},
            };
            char rid[32], st[80];
            snprintf(rid, sizeof rid, "%.*s", (int)r.len, r.ptr);
            gen_peek(g, peek, AMK_OBJ_RESOURCE, rid, "$.status", st, sizeof st);
            uint8_t now = 0;
            if (gen_chance(g, 80) &&
                amk_enum_parse(AMK_ENUM_RESOURCE_STATUS, st, strlen(st),
                               &now) == 0) {
                c->u.resource_status.status = next[now][gen_below(g, 3)];
            } else {
                c->u.resource_status.status =
                    gen_enum(g, AMK_ENUM_RESOURCE_STATUS);
            }
            if (gen_chance(g, 20)) {
                c->u.resource_status.raw_code = gen_below(g, 70000);
            }
            if (gen_chance(g, 30)) {
                c->u.resource_status.event_time = g->now_ms - 500;
            }
        } else if (type == AMK_CMD_RESOURCE_POSITION) {
            c->u.resource_position.id = r;
            c->u.resource_position.seq = seq;
            c->u.resource_position.lat = gen_real(g, 57, 72);
            c->u.resource_position.lon = gen_real(g, 4, 32);
            if (gen_chance(g, 50)) {
                c->u.resource_position.speed = gen_real(g, -1, 50);
                c->u.resource_position.heading = gen_real(g, 0, 370);
            }
        } else {
            c->u.resource_alarm.id = r;
            c->u.resource_alarm.seq = seq;
            c->u.resource_alarm.on = gen_chance(g, 50);
        }
    } else if (roll < 895) { /* resource.register */
        amk_cmd_init(c, AMK_CMD_RESOURCE_REGISTER);
        gen_admin(g, c);
        c->u.resource_register.id = gen_chance(g, 90) && g->n_resources < 40
                                        ? gen_str(g, "r%u", g->n_resources++)
                                        : gen_resource(g);
        c->u.resource_register.type = gen_enum(g, AMK_ENUM_RESOURCE_TYPE);
        c->u.resource_register.issi = gen_chance(g, 95)
                                          ? 1000 + (int64_t)g->n_resources * 7
                                          : (int64_t)gen_below(g, 20000000);
        c->u.resource_register.home_centre =
            amk_str_c(gen_chance(g, 95) ? gen_centres[gen_below(g, GEN_CENTRES)]
                                        : "nowhere");
    } else if (roll < 945) { /* session.open */
        amk_cmd_init(c, AMK_CMD_SESSION_OPEN);
        unsigned ci = gen_below(g, GEN_CENTRES);
        unsigned r = gen_below(g, 100);
        uint8_t role = r < 70   ? AMK_ROLE_OPERATOR
                       : r < 85 ? AMK_ROLE_BRIDGE
                       : r < 95 ? AMK_ROLE_OBSERVER
                                : AMK_ROLE_ADMIN;
        c->h.role = role;
        c->h.principal = gen_str(g, "user-%u", ci);
        if (g->n_sessions < GEN_SESSIONS && gen_chance(g, 95)) {
            struct gen_session *s = &g->sessions[g->n_sessions++];
            snprintf(s->id, sizeof s->id, "s%u", g->n_sessions - 1);
            s->centre = (int)ci;
            s->role = role;
            c->u.session_open.id = amk_str_c(s->id);
        } else {
            c->u.session_open.id = gen_str(g, "s%u", gen_below(g, 10));
        }
        c->u.session_open.centre =
            amk_str_c(gen_chance(g, 97) ? gen_centres[ci] : "nowhere");
        c->u.session_open.console = gen_str(g, "console-%u", gen_below(g, 9));
        c->u.session_open.operator_id = gen_str(g, "nurse-%u", gen_below(g, 9));
    } else if (roll < 955) { /* session.close */
        amk_cmd_init(c, AMK_CMD_SESSION_CLOSE);
        int si = g->n_sessions > 0 ? (int)gen_below(g, g->n_sessions) : -1;
        gen_act(g, c, si);
        if (gen_chance(g, 30)) {
            gen_admin(g, c);
        }
        c->u.session_close.id =
            si >= 0 ? amk_str_c(g->sessions[si].id) : gen_str(g, "ghost");
    } else if (roll < 963) { /* centre.update / register / set_state */
        unsigned ci = gen_below(g, GEN_CENTRES);
        unsigned what = gen_below(g, 3);
        if (what == 0) {
            amk_cmd_init(c, AMK_CMD_CENTRE_UPDATE);
            gen_admin(g, c);
            c->u.centre_update.id = amk_str_c(gen_centres[ci]);
            if (gen_chance(g, 50)) {
                c->u.centre_update.name = gen_str(g, "AMK %u", ci);
            }
            if (gen_chance(g, 50)) {
                c->u.centre_update.n_backups = gen_below(g, 3);
                for (uint32_t i = 0; i < c->u.centre_update.n_backups; i++) {
                    c->u.centre_update.backups[i] =
                        amk_str_c(gen_centres[gen_below(g, GEN_CENTRES)]);
                }
            }
            if (gen_chance(g, 30)) {
                c->u.centre_update.auto_takeover = gen_chance(g, 50);
            }
        } else if (what == 1) {
            amk_cmd_init(c, AMK_CMD_CENTRE_REGISTER);
            gen_admin(g, c);
            c->u.centre_register.id =
                amk_str_c(gen_chance(g, 50) ? gen_centres[ci] : "bad centre");
            c->u.centre_register.name = gen_str(g, "x");
            c->u.centre_register.region = gen_str(g, "r");
        } else {
            amk_cmd_init(c, AMK_CMD_CENTRE_SET_STATE);
            gen_act(g, c, gen_session_of(g, peek, (int)ci));
            if (gen_chance(g, 40)) {
                gen_admin(g, c);
            }
            c->u.centre_set_state.id = amk_str_c(gen_centres[ci]);
            c->u.centre_set_state.state = gen_enum(g, AMK_ENUM_SERVICE_STATE);
        }
    } else if (roll < 985) { /* takeover / handback */
        unsigned x = gen_below(g, GEN_CENTRES);
        if (gen_chance(g, 50)) {
            amk_cmd_init(c, AMK_CMD_CENTRE_TAKEOVER);
            bool automatic = gen_chance(g, 30);
            if (automatic) {
                c->h.role = AMK_ROLE_SYSTEM;
                c->h.principal = amk_str_c("leader");
            } else {
                gen_admin(g, c);
            }
            c->u.centre_takeover.id = amk_str_c(gen_centres[x]);
            c->u.centre_takeover.by =
                amk_str_c(gen_centres[gen_below(g, GEN_CENTRES)]);
            c->u.centre_takeover.automatic = automatic;
            c->u.centre_takeover.reason = gen_str(g, "drill");
        } else {
            amk_cmd_init(c, AMK_CMD_CENTRE_HANDBACK);
            gen_admin(g, c);
            c->u.centre_handback.id = amk_str_c(gen_centres[x]);
            unsigned r = gen_below(g, 3);
            c->u.centre_handback.incidents = r == 0   ? AMK_ENUM_NONE
                                             : r == 1 ? AMK_HB_RETURN
                                                      : AMK_HB_KEEP;
        }
    } else if (roll < 992) { /* node.register */
        amk_cmd_init(c, AMK_CMD_NODE_REGISTER);
        c->h.role = AMK_ROLE_SYSTEM;
        c->h.principal = amk_str_c("leader");
        c->u.node_register.id = (int64_t)gen_below(g, 6);
        c->u.node_register.raft_address =
            gen_str(g, "127.0.0.1:%u", 7000 + gen_below(g, 6));
        c->u.node_register.centre =
            amk_str_c(gen_centres[gen_below(g, GEN_CENTRES)]);
    } else { /* noop */
        amk_cmd_init(c, AMK_CMD_NOOP);
        c->h.role = AMK_ROLE_SYSTEM;
        c->h.principal = amk_str_c("leader");
    }
    if (gen_chance(g, 8)) {
        c->h.if_match = 1 + gen_below(g, 6);
    }
    if (gen_chance(g, 3)) {
        c->h.epoch = 1 + gen_below(g, 4);
    }
    if (gen_chance(g, 20)) {
        c->h.idem_key = gen_str(g, "key-%u", g->n_keys++);
    }
    return true;
}

/* The next entry's bytes (malloc'd; caller frees). */
static inline void gen_next(struct gen *g, struct amk_sm *peek, void **buf,
                            size_t *len)
{
    struct amk_cmd c;
    if (!gen_build(g, peek, &c, buf, len)) {
        return;
    }
    c.h.term = 1;
    c.h.timestamp_ms = g->now_ms;
    char errmsg[256];
    if (amk_cmd_encode(&c, buf, len, errmsg) != 0) {
        fprintf(stderr, "gen: encode %s: %s\n", amk_cmd_name(c.h.type), errmsg);
        abort();
    }
    if (c.h.idem_key.len > 0) {
        unsigned slot = (g->n_keys - 1) % GEN_REPLAYS;
        free(g->replay[slot]);
        g->replay[slot] = malloc(*len);
        memcpy(g->replay[slot], *buf, *len);
        g->replay_len[slot] = *len;
    }
}

#endif
