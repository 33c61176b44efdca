/* sm/cmd_table.c: one field table per command type: the single
 * declaration of each command's body that encode, decode and defaults in
 * sm/cmd.c follow. A table naming a member of the wrong type, an array
 * smaller than its cap, or more than 64 fields does not compile. */
#include <stddef.h>

#include "cmd_int.h"
#include "enums.h"

/* The member's offset, if it has type T: a table entry naming the wrong
 * member type does not compile. */
#define MEMBER(S, m, T) _Generic(((S *)0)->m, T : offsetof(S, m))
/* The array member holds at least cap elements, or the table does not
 * compile (decoding writes up to cap of them). */
#define ARRAY_HOLDS(S, m, cap)                                                 \
    (0 *                                                                       \
     sizeof(char[sizeof(((S *)0)->m) / sizeof(((S *)0)->m[0]) >= (cap) ? 1     \
                                                                       : -1]))

#define REQ F_REQUIRED
#define OPT 0u
#define STR(m, cap, fl)                                                        \
    {                                                                          \
#m, FT_STR, fl, MEMBER(S, m, struct amk_str), 0, cap, 0, NULL          \
    }
#define ENUM(m, kind, fl)                                                      \
    {                                                                          \
#m, FT_ENUM, fl, MEMBER(S, m, uint8_t), 0, kind, 0, NULL               \
    }
#define BOOL(m, fl)                                                            \
    {                                                                          \
#m, FT_BOOL, fl, MEMBER(S, m, uint8_t), 0, 0, 0, NULL                  \
    }
#define I32(m, fl)                                                             \
    {                                                                          \
#m, FT_I32, fl, MEMBER(S, m, int32_t), 0, 0, 0, NULL                   \
    }
#define I64(m, fl)                                                             \
    {                                                                          \
#m, FT_I64, fl, MEMBER(S, m, int64_t), 0, 0, 0, NULL                   \
    }
#define F64(m, fl)                                                             \
    {                                                                          \
#m, FT_F64, fl, MEMBER(S, m, double), 0, 0, 0, NULL                    \
    }
#define STR_LIST(m, count, cap, item_cap, fl)                                  \
    {                                                                          \
#m, FT_STR_LIST, fl, MEMBER(S, count, uint32_t),                       \
            MEMBER(S, m, struct amk_str *) + ARRAY_HOLDS(S, m, cap), cap,      \
            item_cap, NULL                                                     \
    }
#define STRUCT_LIST(m, count, T, cap, sub, fl)                                 \
    {                                                                          \
#m, FT_STRUCT_LIST, fl, MEMBER(S, count, uint32_t),                    \
            MEMBER(S, m, T *) + ARRAY_HOLDS(S, m, cap), cap, 0, sub            \
    }
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
/* The present mask is a u64: a table of more than 64 fields does not compile.
 */
#define FITS_MASK(a) (0 * sizeof(char[N_OF(a) <= 64 ? 1 : -1]))

#define S struct amk_patient
static const struct field patient_fields[] = {
    STR(name, CAP_TEXT, OPT),
    STR(national_id, CAP_CODE, OPT),
    I32(age, OPT),
    ENUM(sex, AMK_ENUM_SEX, OPT),
};
#undef S
static const struct table patient_table = {
    patient_fields, N_OF(patient_fields) + FITS_MASK(patient_fields),
    sizeof(struct amk_patient)};
#define PATIENTS                                                               \
    STRUCT_LIST(patients, n_patients, struct amk_patient,                      \
                AMK_CMD_MAX_PATIENTS, &patient_table, OPT)

#define S struct amk_cmd_centre_register
static const struct field centre_register_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(name, CAP_TEXT, REQ),
    STR(region, CAP_TEXT, REQ),
    STR_LIST(backups, n_backups, AMK_CMD_MAX_BACKUPS, CAP_ID, OPT),
    BOOL(auto_takeover, OPT),
};
#undef S

#define S struct amk_cmd_centre_update
static const struct field centre_update_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(name, CAP_TEXT, OPT),
    STR_LIST(backups, n_backups, AMK_CMD_MAX_BACKUPS, CAP_ID, OPT),
    BOOL(auto_takeover, OPT),
};
#undef S

#define S struct amk_cmd_centre_set_state
static const struct field centre_set_state_fields[] = {
    STR(id, CAP_ID, REQ),
    ENUM(state, AMK_ENUM_SERVICE_STATE, REQ),
};
#undef S

#define S struct amk_cmd_centre_takeover
static const struct field centre_takeover_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(by, CAP_ID, REQ),
    STR(reason, CAP_TEXT, OPT),
    BOOL(automatic, OPT),
};
#undef S

#define S struct amk_cmd_centre_handback
static const struct field centre_handback_fields[] = {
    STR(id, CAP_ID, REQ),
    ENUM(incidents, AMK_ENUM_HANDBACK, OPT),
};
#undef S

#define S struct amk_cmd_session_open
static const struct field session_open_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(centre, CAP_ID, REQ),
    STR(console, CAP_TEXT, REQ),
    STR(operator_id, CAP_TEXT, REQ),
};
#undef S

#define S struct amk_cmd_session_close
static const struct field session_close_fields[] = {
    STR(id, CAP_ID, REQ),
};
#undef S

#define S struct amk_cmd_incident_create
static const struct field incident_create_fields[] = {
    STR(id, CAP_ID, REQ),
    ENUM(urgency, AMK_ENUM_URGENCY, REQ),
    STR(criterion, CAP_CODE, OPT),
    F64(lat, OPT),
    F64(lon, OPT),
    F64(accuracy_m, OPT),
    STR(address, CAP_TEXT, OPT),
    STR(municipality, CAP_CODE, OPT),
    STR(caller_phone, CAP_TEXT, OPT),
    STR(caller_name, CAP_TEXT, OPT),
    PATIENTS,
    STR(note, CAP_NOTE, OPT),
    STR(area_centre, CAP_ID, OPT),
};
#undef S

#define S struct amk_cmd_incident_update
static const struct field incident_update_fields[] = {
    STR(id, CAP_ID, REQ),
    ENUM(urgency, AMK_ENUM_URGENCY, OPT),
    STR(criterion, CAP_CODE, OPT),
    F64(lat, OPT),
    F64(lon, OPT),
    F64(accuracy_m, OPT),
    STR(address, CAP_TEXT, OPT),
    STR(municipality, CAP_CODE, OPT),
    STR(caller_phone, CAP_TEXT, OPT),
    STR(caller_name, CAP_TEXT, OPT),
    PATIENTS,
    ENUM(status, AMK_ENUM_INCIDENT_STATUS, OPT),
};
#undef S

#define S struct amk_cmd_incident_note
static const struct field incident_note_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(text, CAP_NOTE, REQ),
};
#undef S

#define S struct amk_cmd_incident_resource
static const struct field incident_resource_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(resource, CAP_ID, REQ),
};
#undef S

#define S struct amk_cmd_incident_phase
static const struct field incident_phase_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(resource, CAP_ID, REQ),
    ENUM(phase, AMK_ENUM_RESOURCE_STATUS, REQ),
};
#undef S

#define S struct amk_cmd_incident_close
static const struct field incident_close_fields[] = {
    STR(id, CAP_ID, REQ),
    ENUM(disposition, AMK_ENUM_DISPOSITION, REQ),
};
#undef S

#define S struct amk_cmd_incident_cancel
static const struct field incident_cancel_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(reason, CAP_TEXT, OPT),
};
#undef S

#define S struct amk_cmd_incident_transfer
static const struct field incident_transfer_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(to, CAP_ID, REQ),
};
#undef S

#define S struct amk_cmd_incident_transfer_answer
static const struct field incident_transfer_answer_fields[] = {
    STR(id, CAP_ID, REQ),
    STR(reason, CAP_TEXT, OPT),
};
#undef S

#define S struct amk_cmd_resource_register
static const struct field resource_register_fields[] = {
    STR(id, CAP_ID, REQ),
    ENUM(type, AMK_ENUM_RESOURCE_TYPE, REQ),
    I64(issi, REQ),
    STR(home_centre, CAP_ID, REQ),
};
#undef S

/* clang-format would lay these two tables out in columns; one field a line
 * keeps the order (the wire order) readable. */
// clang-format off
#define S struct amk_cmd_resource_status
static const struct field resource_status_fields[] = {
    STR(id, CAP_ID, REQ),
    ENUM(status, AMK_ENUM_RESOURCE_STATUS, REQ),
    I64(seq, REQ), /* the resource's status counter */
    I64(event_time, OPT), /* terminal's clock */
    I64(raw_code, OPT), /* TETRA pre-coded status */
};
#undef S

#define S struct amk_cmd_resource_position
static const struct field resource_position_fields[] = {
    STR(id, CAP_ID, REQ),
    F64(lat, REQ), /* WGS84 degrees */
    F64(lon, REQ),
    F64(accuracy_m, OPT),
    F64(speed, OPT),
    F64(heading, OPT),
    I64(seq, REQ), /* the resource's position counter */
    I64(event_time, OPT),
};
#undef S
// clang-format on

#define S struct amk_cmd_resource_alarm
static const struct field resource_alarm_fields[] = {
    STR(id, CAP_ID, REQ),
    BOOL(on, REQ),
    I64(seq, REQ),
    I64(event_time, OPT),
};
#undef S

#define S struct amk_cmd_node_register
static const struct field node_register_fields[] = {
    I64(id, REQ),
    STR(raft_address, CAP_ID, REQ),
    STR(http_address, CAP_ID, OPT),
    STR(binary_address, CAP_ID, OPT),
    STR(centre, CAP_ID, OPT),
    STR(region, CAP_ID, OPT),
};
#undef S

/* Every body struct sits at the start of the union, so one table serves
 * each command type whose struct it names. */
#define DEF(name, fields) name, 1, fields, N_OF(fields) + FITS_MASK(fields)
static const struct cmd_def cmd_defs[AMK_CMD__END] = {
    [AMK_CMD_NOOP] = {"noop", 1, NULL, 0},
    [AMK_CMD_CENTRE_REGISTER] = {DEF("centre.register",
                                     centre_register_fields)},
    [AMK_CMD_CENTRE_UPDATE] = {DEF("centre.update", centre_update_fields)},
    [AMK_CMD_CENTRE_SET_STATE] = {DEF("centre.set_state",
                                      centre_set_state_fields)},
    [AMK_CMD_CENTRE_TAKEOVER] = {DEF("centre.takeover",
                                     centre_takeover_fields)},
    [AMK_CMD_CENTRE_HANDBACK] = {DEF("centre.handback",
                                     centre_handback_fields)},
    [AMK_CMD_SESSION_OPEN] = {DEF("session.open", session_open_fields)},
    [AMK_CMD_SESSION_CLOSE] = {DEF("session.close", session_close_fields)},
    [AMK_CMD_INCIDENT_CREATE] = {DEF("incident.create",
                                     incident_create_fields)},
    [AMK_CMD_INCIDENT_UPDATE] = {DEF("incident.update",
                                     incident_update_fields)},
    [AMK_CMD_INCIDENT_NOTE] = {DEF("incident.note", incident_note_fields)},
    [AMK_CMD_INCIDENT_ASSIGN] = {DEF("incident.assign",
                                     incident_resource_fields)},
    [AMK_CMD_INCIDENT_PHASE] = {DEF("incident.phase", incident_phase_fields)},
    [AMK_CMD_INCIDENT_UNASSIGN] = {DEF("incident.unassign",
                                       incident_resource_fields)},
    [AMK_CMD_INCIDENT_CLOSE] = {DEF("incident.close", incident_close_fields)},
    [AMK_CMD_INCIDENT_CANCEL] = {DEF("incident.cancel",
                                     incident_cancel_fields)},
    [AMK_CMD_INCIDENT_TRANSFER] = {DEF("incident.transfer",
                                       incident_transfer_fields)},
    [AMK_CMD_INCIDENT_TRANSFER_ACCEPT] = {DEF("incident.transfer_accept",
                                              incident_transfer_answer_fields)},
    [AMK_CMD_INCIDENT_TRANSFER_REJECT] = {DEF("incident.transfer_reject",
                                              incident_transfer_answer_fields)},
    [AMK_CMD_RESOURCE_REGISTER] = {DEF("resource.register",
                                       resource_register_fields)},
    [AMK_CMD_RESOURCE_STATUS] = {DEF("resource.status",
                                     resource_status_fields)},
    [AMK_CMD_RESOURCE_POSITION] = {DEF("resource.position",
                                       resource_position_fields)},
    [AMK_CMD_RESOURCE_ALARM] = {DEF("resource.alarm", resource_alarm_fields)},
    [AMK_CMD_NODE_REGISTER] = {DEF("node.register", node_register_fields)},
};

const struct cmd_def *cmd__def(uint16_t type)
{
    if (type >= AMK_CMD__END || cmd_defs[type].name == NULL) {
        return NULL;
    }
    return &cmd_defs[type];
}
