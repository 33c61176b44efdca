/* tests/fuzz/fuzz_cmd_decode.c: amk_cmd_decode on arbitrary bytes either
 * rejects them with a message, or accepts exactly the canonical encoding of
 * what it decoded (re-encoding gives the input back, byte for byte), followed
 * at most by raft's zero padding to a multiple of 8 bytes. */
#include <string.h>

#include "fuzz.h"
#include "sm/cmd.h"
#include "sm/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct amk_cmd cmd, again;
    char errmsg[256];
    void *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    uint64_t term = 0;
    uint16_t type = 0;
    int rv;

    errmsg[0] = '\0';
    rv = amk_cmd_decode(data, size, &cmd, errmsg);
    if (rv != 0) {
        FUZZ_CHECK(rv == AMK_EINVALID || rv == AMK_ETOOLARGE);
        FUZZ_CHECK(errmsg[0] != '\0');
        FUZZ_CHECK(memchr(errmsg, '\0', sizeof errmsg) != NULL);
        return 0;
    }
    FUZZ_CHECK(amk_cmd_peek(data, size, &term, &type) == 0);
    FUZZ_CHECK(term == cmd.h.term && type == cmd.h.type);
    FUZZ_CHECK(amk_cmd_name(type) != NULL);

    FUZZ_CHECK(amk_cmd_encode(&cmd, &buf, &len, errmsg) == 0);
    FUZZ_CHECK(len <= size && memcmp(buf, data, len) == 0);
    if (len < size) {
        FUZZ_CHECK(size % 8 == 0 && size - len <= 7);
        for (size_t i = len; i < size; i++) {
            FUZZ_CHECK(data[i] == 0);
        }
    }
    FUZZ_CHECK(amk_cmd_decode(buf, len, &again, errmsg) == 0);
    FUZZ_CHECK(again.present == cmd.present);
    FUZZ_CHECK(amk_cmd_encode(&again, &buf2, &len2, errmsg) == 0);
    FUZZ_CHECK(len2 == len && memcmp(buf, buf2, len) == 0);

    /* Stamping changes the term and time and nothing else. */
    FUZZ_CHECK(amk_cmd_stamp(buf, len, term + 1, cmd.h.timestamp_ms ^ 1) == 0);
    FUZZ_CHECK(amk_cmd_decode(buf, len, &again, errmsg) == 0);
    FUZZ_CHECK(again.h.term == term + 1);
    FUZZ_CHECK(again.h.timestamp_ms == (cmd.h.timestamp_ms ^ 1));
    FUZZ_CHECK(again.present == cmd.present);
    FUZZ_CHECK(memcmp((uint8_t *)buf + 20, data + 20, len - 20) == 0);

    free(buf);
    free(buf2);
    return 0;
}

/* --- Seeds: one valid command of every type ----------------------------- */

static void seed(amk_fuzz_add_fn *add, void *arg, const struct amk_cmd *cmd)
{
    char errmsg[256];
    void *buf;
    size_t len;

    if (amk_cmd_encode(cmd, &buf, &len, errmsg) != 0) {
        fprintf(stderr, "fuzz_cmd_decode: bad seed: %s\n", errmsg);
        abort();
    }
    add(arg, buf, len);
    free(buf);
}

static void header(struct amk_cmd *cmd, uint16_t type)
{
    amk_cmd_init(cmd, type);
    cmd->h.term = 3;
    cmd->h.timestamp_ms = 1717171717000;
    cmd->h.if_match = 4;
    cmd->h.idem_key = amk_str_c("7f1c0a2e-idem");
    cmd->h.principal = amk_str_c("CN=op1,O=AMK Oslo");
    cmd->h.role = AMK_ROLE_OPERATOR;
    cmd->h.session = amk_str_c("sess-1");
    cmd->h.centre = amk_str_c("oslo");
    cmd->h.epoch = 2;
}

static void seeds_centres(amk_fuzz_add_fn *add, void *arg, struct amk_cmd *c)
{
    header(c, AMK_CMD_NOOP);
    c->h.role = AMK_ROLE_SYSTEM;
    seed(add, arg, c);

    header(c, AMK_CMD_CENTRE_REGISTER);
    c->u.centre_register.id = amk_str_c("oslo");
    c->u.centre_register.name = amk_str_c("AMK Oslo og Akershus");
    c->u.centre_register.region = amk_str_c("s\xC3\xB8r-\xC3\xB8st");
    c->u.centre_register.n_backups = 2;
    c->u.centre_register.backups[0] = amk_str_c("innlandet");
    c->u.centre_register.backups[1] = amk_str_c("bergen");
    c->u.centre_register.auto_takeover = 1;
    seed(add, arg, c);

    header(c, AMK_CMD_CENTRE_UPDATE);
    c->u.centre_update.id = amk_str_c("oslo");
    c->u.centre_update.n_backups = 0;
    c->u.centre_update.auto_takeover = 0;
    seed(add, arg, c);

    header(c, AMK_CMD_CENTRE_SET_STATE);
    c->u.centre_set_state.id = amk_str_c("oslo");
    c->u.centre_set_state.state = AMK_SS_OVERLOADED;
    seed(add, arg, c);

    header(c, AMK_CMD_CENTRE_TAKEOVER);
    c->u.centre_takeover.id = amk_str_c("oslo");
    c->u.centre_takeover.by = amk_str_c("innlandet");
    c->u.centre_takeover.reason = amk_str_c("no heartbeat for 10 s");
    c->u.centre_takeover.automatic = 1;
    seed(add, arg, c);

    header(c, AMK_CMD_CENTRE_HANDBACK);
    c->u.centre_handback.id = amk_str_c("oslo");
    c->u.centre_handback.incidents = AMK_HB_KEEP;
    seed(add, arg, c);

    header(c, AMK_CMD_SESSION_OPEN);
    c->u.session_open.id = amk_str_c("sess-2");
    c->u.session_open.centre = amk_str_c("oslo");
    c->u.session_open.console = amk_str_c("console-7");
    c->u.session_open.operator_id = amk_str_c("op1");
    seed(add, arg, c);

    header(c, AMK_CMD_SESSION_CLOSE);
    c->u.session_close.id = amk_str_c("sess-2");
    seed(add, arg, c);
}

static void seeds_incidents(amk_fuzz_add_fn *add, void *arg, struct amk_cmd *c)
{
    static const uint16_t id_and_resource[] = {AMK_CMD_INCIDENT_ASSIGN,
                                               AMK_CMD_INCIDENT_UNASSIGN};
    static const uint16_t answers[] = {AMK_CMD_INCIDENT_TRANSFER_ACCEPT,
                                       AMK_CMD_INCIDENT_TRANSFER_REJECT};
    struct amk_cmd_incident_create *ic = &c->u.incident_create;
    size_t i;

    header(c, AMK_CMD_INCIDENT_CREATE);
    ic->id = amk_str_c("3b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed");
    ic->urgency = AMK_URG_ACUTE;
    ic->criterion = amk_str_c("10.01");
    ic->lat = 59.9127;
    ic->lon = 10.7461;
    ic->accuracy_m = 25.0;
    ic->address = amk_str_c("Karl Johans gate 1");
    ic->municipality = amk_str_c("0301");
    ic->caller_phone = amk_str_c("+4791234567");
    ic->caller_name = amk_str_c("Kari Nordmann");
    ic->n_patients = 2;
    ic->patients[0].name = amk_str_c("Ola Nordmann");
    ic->patients[0].national_id = amk_str_c("01020312345");
    ic->patients[0].age = 67;
    ic->patients[0].sex = AMK_SEX_MALE;
    ic->patients[1].age = 3;
    ic->note = amk_str_c("Brystsmerter, bevisst, puster.");
    ic->area_centre = amk_str_c("oslo");
    seed(add, arg, c);

    header(c, AMK_CMD_INCIDENT_UPDATE);
    c->u.incident_update.id = amk_str_c("3b9d6bcd");
    c->u.incident_update.urgency = AMK_URG_URGENT;
    c->u.incident_update.lat = -0.0;
    c->u.incident_update.lon = 180.0;
    c->u.incident_update.n_patients = 1;
    c->u.incident_update.patients[0].sex = AMK_SEX_UNKNOWN;
    c->u.incident_update.status = AMK_INC_TRIAGED;
    seed(add, arg, c);

    header(c, AMK_CMD_INCIDENT_NOTE);
    c->u.incident_note.id = amk_str_c("3b9d6bcd");
    c->u.incident_note.text =
        amk_str_c("Pasienten er \xE2\x80\x9Cstabil\xE2\x80\x9D.");
    seed(add, arg, c);

    for (i = 0; i < 2; i++) {
        header(c, id_and_resource[i]);
        c->u.incident_assign.id = amk_str_c("3b9d6bcd");
        c->u.incident_assign.resource = amk_str_c("A-OSL-12");
        seed(add, arg, c);
    }

    header(c, AMK_CMD_INCIDENT_PHASE);
    c->u.incident_phase.id = amk_str_c("3b9d6bcd");
    c->u.incident_phase.resource = amk_str_c("A-OSL-12");
    c->u.incident_phase.phase = AMK_RS_EN_ROUTE;
    seed(add, arg, c);

    header(c, AMK_CMD_INCIDENT_CLOSE);
    c->u.incident_close.id = amk_str_c("3b9d6bcd");
    c->u.incident_close.disposition = AMK_DISP_TRANSPORTED;
    seed(add, arg, c);

    header(c, AMK_CMD_INCIDENT_CANCEL);
    c->u.incident_cancel.id = amk_str_c("3b9d6bcd");
    c->u.incident_cancel.reason = amk_str_c("");
    seed(add, arg, c);

    header(c, AMK_CMD_INCIDENT_TRANSFER);
    c->u.incident_transfer.id = amk_str_c("3b9d6bcd");
    c->u.incident_transfer.to = amk_str_c("bergen");
    seed(add, arg, c);

    for (i = 0; i < 2; i++) {
        header(c, answers[i]);
        c->u.incident_transfer_accept.id = amk_str_c("3b9d6bcd");
        c->u.incident_transfer_accept.reason = amk_str_c("no capacity");
        seed(add, arg, c);
    }
}

static void seeds_resources(amk_fuzz_add_fn *add, void *arg, struct amk_cmd *c)
{
    header(c, AMK_CMD_RESOURCE_REGISTER);
    c->h.role = AMK_ROLE_ADMIN;
    c->u.resource_register.id = amk_str_c("A-OSL-12");
    c->u.resource_register.type = AMK_RT_AMBULANCE;
    c->u.resource_register.issi = 16777215;
    c->u.resource_register.home_centre = amk_str_c("oslo");
    seed(add, arg, c);

    header(c, AMK_CMD_RESOURCE_STATUS);
    c->h.role = AMK_ROLE_BRIDGE;
    c->u.resource_status.id = amk_str_c("A-OSL-12");
    c->u.resource_status.status = AMK_RS_ON_SCENE;
    c->u.resource_status.seq = 42;
    c->u.resource_status.event_time = -1;
    c->u.resource_status.raw_code = 65535;
    seed(add, arg, c);

    header(c, AMK_CMD_RESOURCE_POSITION);
    c->h.role = AMK_ROLE_BRIDGE;
    c->u.resource_position.id = amk_str_c("LN-OOS");
    c->u.resource_position.lat = 78.2232;
    c->u.resource_position.lon = 15.6267;
    c->u.resource_position.speed = 61.5;
    c->u.resource_position.heading = 359.9;
    c->u.resource_position.seq = 9;
    seed(add, arg, c);

    header(c, AMK_CMD_RESOURCE_ALARM);
    c->h.role = AMK_ROLE_BRIDGE;
    c->u.resource_alarm.id = amk_str_c("A-OSL-12");
    c->u.resource_alarm.on = 1;
    c->u.resource_alarm.seq = 43;
    c->u.resource_alarm.event_time = 1717171717001;
    seed(add, arg, c);

    header(c, AMK_CMD_NODE_REGISTER);
    c->h.role = AMK_ROLE_SYSTEM;
    c->u.node_register.id = 3;
    c->u.node_register.raft_address = amk_str_c("127.0.0.1:7003");
    c->u.node_register.http_address = amk_str_c("127.0.0.1:8003");
    c->u.node_register.binary_address = amk_str_c("127.0.0.1:9003");
    c->u.node_register.centre = amk_str_c("bergen");
    c->u.node_register.region = amk_str_c("vest");
    seed(add, arg, c);
}

void amk_fuzz_seeds(amk_fuzz_add_fn *add, void *arg)
{
    struct amk_cmd cmd;

    seeds_centres(add, arg, &cmd);
    seeds_incidents(add, arg, &cmd);
    seeds_resources(add, arg, &cmd);
}
