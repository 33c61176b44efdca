/* tests/unit/sm/harness.h: builds and applies commands for sm tests. Every
 * helper asserts on local failures, so a test reads as a script. */
#ifndef AMK_TEST_SM_HARNESS_H
#define AMK_TEST_SM_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm/sm.h"

struct h_ctx {
    struct amk_sm *sm;
    uint64_t index;
    int64_t now_ms;
    struct amk_sm_result r; /* result of the last apply */
};

static inline void h_open(struct h_ctx *h)
{
    char errmsg[256];
    memset(h, 0, sizeof *h);
    if (amk_sm_open(&h->sm, NULL, errmsg) != 0) {
        fprintf(stderr, "amk_sm_open: %s\n", errmsg);
        abort();
    }
    h->now_ms = 1795000000000LL; /* 2026-11-18 */
}

static inline void h_close(struct h_ctx *h)
{
    amk_sm_result_clear(&h->r);
    amk_sm_close(h->sm);
}

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

static inline int h_session(struct h_ctx *h, const char *id,
                            const char *centre, uint8_t role)
{
    struct amk_cmd c;
    h_cmd(&c, AMK_CMD_SESSION_OPEN, role, NULL);
    c.u.session_open.id = amk_str_c(id);
    c.u.session_open.centre = amk_str_c(centre);
    c.u.session_open.console = amk_str_c("console-1");
    c.u.session_open.operator_id = amk_str_c("nurse-1");
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

/* Substring check on the last result's body. */
static inline int h_body_has(struct h_ctx *h, const char *needle)
{
    return h->r.body != NULL && strstr(h->r.body, needle) != NULL;
}

#endif
