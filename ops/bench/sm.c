/* ops/bench/sm.c: `amk-bench sm`: throughput of amk_sm_apply on one core for
 * the commands that dominate load: incident.create (a 113 call),
 * incident.update, resource.position (a LIP report from a bridge). Commands
 * are encoded before the clock starts: this measures the state machine, the
 * part every node repeats for every entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "sm/sm.h"

struct encoded {
    void *buf;
    size_t len;
};

static int64_t now_ms = 1795000000000LL;

static void encode_or_die(struct amk_cmd *c, struct encoded *out)
{
    char errmsg[256];
    c->h.timestamp_ms = now_ms++;
    if (amk_cmd_encode(c, &out->buf, &out->len, errmsg) != 0) {
        fprintf(stderr, "amk-bench: encode: %s\n", errmsg);
        exit(1);
    }
}

static void setup_cmd(struct amk_cmd *c, uint16_t type, uint8_t role,
                      const char *session)
{
    amk_cmd_init(c, type);
    c->h.role = role;
    c->h.principal = amk_str_c(role == AMK_ROLE_ADMIN ? "admin" : "op-1");
    if (session != NULL) {
        c->h.session = amk_str_c(session);
    }
}

static uint64_t applied;

static void apply_or_die(struct amk_sm *sm, struct encoded *e, int expect)
{
    struct amk_sm_result r;
    if (amk_sm_apply(sm, ++applied, e->buf, e->len, &r) != 0) {
        fprintf(stderr, "amk-bench: apply: %s\n", amk_sm_errmsg(sm));
        exit(1);
    }
    if (r.code != expect) {
        fprintf(stderr, "amk-bench: command rejected: %s\n", r.message);
        exit(1);
    }
    amk_sm_result_clear(&r);
}

static void run_one(struct amk_cmd *c, struct amk_sm *sm)
{
    struct encoded e;
    encode_or_die(c, &e);
    apply_or_die(sm, &e, 0);
    free(e.buf);
}

/* Applies the pre-encoded batch and prints its rate. */
static void measure(struct amk_sm *sm, const char *name, struct encoded *cmds,
                    unsigned n)
{
    uint64_t start = bench_now_ns();
    for (unsigned i = 0; i < n; i++) {
        apply_or_die(sm, &cmds[i], 0);
    }
    double secs = (double)(bench_now_ns() - start) / 1e9;
    printf("%-20s %8u commands  %8.3f s  %10.0f commands/s  %6.2f us/command\n",
           name, n, secs, n / secs, secs * 1e6 / n);
    for (unsigned i = 0; i < n; i++) {
        free(cmds[i].buf);
    }
}

int bench_sm(int argc, char **argv)
{
    unsigned n = argc > 0 ? (unsigned)strtoul(argv[0], NULL, 10) : 100000;
    if (n == 0) {
        fprintf(stderr, "amk-bench sm: N must be a positive number\n");
        return 2;
    }
    char errmsg[256];
    struct amk_sm *sm;
    if (amk_sm_open(&sm, NULL, errmsg) != 0) {
        fprintf(stderr, "amk-bench: %s\n", errmsg);
        return 1;
    }
    struct amk_cmd c;
    setup_cmd(&c, AMK_CMD_CENTRE_REGISTER, AMK_ROLE_ADMIN, NULL);
    c.u.centre_register.id = amk_str_c("oslo");
    c.u.centre_register.name = amk_str_c("AMK Oslo");
    c.u.centre_register.region = amk_str_c("sor-ost");
    run_one(&c, sm);
    setup_cmd(&c, AMK_CMD_SESSION_OPEN, AMK_ROLE_OPERATOR, NULL);
    c.u.session_open.id = amk_str_c("s1");
    c.u.session_open.centre = amk_str_c("oslo");
    c.u.session_open.console = amk_str_c("console-1");
    c.u.session_open.operator_id = amk_str_c("nurse-1");
    run_one(&c, sm);
    unsigned n_units = 1000;
    for (unsigned i = 0; i < n_units; i++) {
        char id[32];
        snprintf(id, sizeof id, "A-%u", i);
        setup_cmd(&c, AMK_CMD_RESOURCE_REGISTER, AMK_ROLE_ADMIN, NULL);
        c.u.resource_register.id = amk_str_c(id);
        c.u.resource_register.type = AMK_RT_AMBULANCE;
        c.u.resource_register.issi = 100000 + i;
        c.u.resource_register.home_centre = amk_str_c("oslo");
        run_one(&c, sm);
    }

    struct encoded *cmds = calloc(n, sizeof *cmds);
    char(*ids)[40] = calloc(n, sizeof *ids);
    if (cmds == NULL || ids == NULL) {
        fprintf(stderr, "amk-bench: out of memory\n");
        return 1;
    }
    printf("amk-bench sm: %u commands per kind, in-memory SQLite, one core\n",
           n);
    for (unsigned i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "6f1c2a4e-0000-4000-8000-%012u", i);
        setup_cmd(&c, AMK_CMD_INCIDENT_CREATE, AMK_ROLE_OPERATOR, "s1");
        c.h.idem_key = amk_str_c(ids[i]);
        struct amk_cmd_incident_create *ic = &c.u.incident_create;
        ic->id = amk_str_c(ids[i]);
        ic->urgency = (uint8_t)(i % 3);
        ic->criterion = amk_str_c("10.01");
        ic->lat = 59.9 + (i % 1000) * 1e-4;
        ic->lon = 10.7 + (i % 1000) * 1e-4;
        ic->accuracy_m = 20;
        ic->address = amk_str_c("Storgata 1");
        ic->municipality = amk_str_c("0301");
        ic->caller_phone = amk_str_c("+4791234567");
        ic->caller_name = amk_str_c("Kari Nordmann");
        ic->n_patients = 1;
        ic->patients[0].name = amk_str_c("Ola Nordmann");
        ic->patients[0].age = 67;
        ic->patients[0].sex = AMK_SEX_MALE;
        encode_or_die(&c, &cmds[i]);
    }
    measure(sm, "incident.create", cmds, n);

    for (unsigned i = 0; i < n; i++) {
        setup_cmd(&c, AMK_CMD_INCIDENT_UPDATE, AMK_ROLE_OPERATOR, "s1");
        c.u.incident_update.id = amk_str_c(ids[i]);
        c.u.incident_update.urgency = (uint8_t)((i + 1) % 3);
        c.u.incident_update.criterion = amk_str_c("12.03");
        encode_or_die(&c, &cmds[i]);
    }
    measure(sm, "incident.update", cmds, n);

    for (unsigned i = 0; i < n; i++) {
        char unit[32];
        snprintf(unit, sizeof unit, "A-%u", i % n_units);
        setup_cmd(&c, AMK_CMD_RESOURCE_POSITION, AMK_ROLE_BRIDGE, "s1");
        struct amk_cmd_resource_position *p = &c.u.resource_position;
        p->id = amk_str_c(unit);
        p->lat = 59.9 + (i % 977) * 1e-4;
        p->lon = 10.7 + (i % 983) * 1e-4;
        p->accuracy_m = 5;
        p->speed = 22.5;
        p->heading = (double)(i % 360);
        p->seq = 1 + i / n_units;
        p->event_time = now_ms;
        encode_or_die(&c, &cmds[i]);
    }
    measure(sm, "resource.position", cmds, n);

    /* What a raft snapshot of this state costs: the copy on the loop
     * thread (into a fresh mapping, then into the one the first snapshot
     * gave back, as raft/fsm.c does), the checksum in raft's thread pool. */
    void *snap = NULL;
    size_t snap_len = 0;
    for (int round = 0; round < 2; round++) {
        if (snap != NULL) {
            amk_sm_snapshot_recycle(sm, snap, snap_len);
        }
        uint64_t start = bench_now_ns();
        if (amk_sm_snapshot_copy(sm, &snap, &snap_len) != 0) {
            fprintf(stderr, "amk-bench: snapshot: %s\n", amk_sm_errmsg(sm));
            return 1;
        }
        uint64_t copied = bench_now_ns();
        amk_sm_snapshot_seal(snap, snap_len);
        uint64_t sealed = bench_now_ns();
        printf("%-20s %8.1f MB  copy %8.1f ms (loop thread, %s buffer), "
               "checksum %8.1f ms (thread pool)\n",
               "snapshot", (double)snap_len / 1e6,
               (double)(copied - start) / 1e6, round == 0 ? "fresh" : "reused",
               (double)(sealed - copied) / 1e6);
    }
    amk_sm_snapshot_free(snap, snap_len);
    free(ids);
    free(cmds);
    amk_sm_close(sm);
    return 0;
}
