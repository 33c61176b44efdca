/* sm/cmd.h: the replicated command: its header, one body struct per command
 * type, and the versioned binary codec that turns them into raft entries and
 * back. Declared once: the field tables in sm/cmd.c drive both directions.
 *
 * Wire format (all integers little-endian):
 *   u8  format (AMK_CMD_FORMAT)      u16 type      u8 type_version
 *   u64 term      i64 timestamp_ms   u64 if_match (0 = none)
 *   str idem_key  str principal      u8 role       str session
 *   str centre    u64 epoch
 *   u64 present   (bit i set: body field i follows)
 *   body fields in table order, each only if present
 *   up to 7 zero bytes of padding when the total is a multiple of 8
 *   (canonical/raft stores entries in multiples of 8 bytes)
 * where str = u32 length + bytes (valid UTF-8, no NUL, capped per field),
 * f64 = IEEE-754 bits as u64 (finite only), list = u32 count + elements
 * (capped before anything is read), nested struct = its own present + fields.
 *
 * Absent optional fields are represented in the structs by sentinels:
 * amk_str.ptr == NULL, enum/bool slot AMK_ENUM_NONE, f64 NaN, i32 INT32_MIN,
 * i64 INT64_MIN, list count AMK_CMD_ABSENT. amk_cmd_init() sets every field
 * absent. */
#ifndef AMK_SM_CMD_H
#define AMK_SM_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enums.h"

#define AMK_CMD_FORMAT       1
#define AMK_CMD_MAX_SIZE     (256u * 1024u)
#define AMK_CMD_MAX_PATIENTS 16
#define AMK_CMD_MAX_BACKUPS  16
#define AMK_CMD_ABSENT       UINT32_MAX
#define AMK_IDEM_KEY_MAX     64
#define AMK_ID_MAX           64

/* A string slice. After decoding it points into the decoded buffer, which
 * must outlive the struct; it is NOT NUL-terminated. */
struct amk_str {
    const char *ptr; /* NULL: absent */
    uint32_t len;
};

/* Wire values: append, never renumber. */
enum amk_cmd_type {
    AMK_CMD_NOOP = 1,
    AMK_CMD_CENTRE_REGISTER = 2,
    AMK_CMD_CENTRE_UPDATE = 3,
    AMK_CMD_CENTRE_SET_STATE = 4,
    AMK_CMD_CENTRE_TAKEOVER = 5,
    AMK_CMD_CENTRE_HANDBACK = 6,
    AMK_CMD_SESSION_OPEN = 7,
    AMK_CMD_SESSION_CLOSE = 8,
    AMK_CMD_INCIDENT_CREATE = 9,
    AMK_CMD_INCIDENT_UPDATE = 10,
    AMK_CMD_INCIDENT_NOTE = 11,
    AMK_CMD_INCIDENT_ASSIGN = 12,
    AMK_CMD_INCIDENT_PHASE = 13,
    AMK_CMD_INCIDENT_UNASSIGN = 14,
    AMK_CMD_INCIDENT_CLOSE = 15,
    AMK_CMD_INCIDENT_CANCEL = 16,
    AMK_CMD_INCIDENT_TRANSFER = 17,
    AMK_CMD_INCIDENT_TRANSFER_ACCEPT = 18,
    AMK_CMD_INCIDENT_TRANSFER_REJECT = 19,
    AMK_CMD_RESOURCE_REGISTER = 20,
    AMK_CMD_RESOURCE_STATUS = 21,
    AMK_CMD_RESOURCE_POSITION = 22,
    AMK_CMD_RESOURCE_ALARM = 23,
    AMK_CMD_NODE_REGISTER = 24,
    AMK_CMD__END
};

struct amk_cmd_header {
    uint8_t format;
    uint16_t type;
    uint8_t type_version;
    uint64_t term; /* raft term the leader proposed in (DESIGN §0.15 #1) */
    int64_t timestamp_ms; /* leader clock, ms since epoch UTC: sm's only time */
    uint64_t if_match;    /* expected object version, 0 = unconditional */
    struct amk_str idem_key;  /* may be empty: no idempotency */
    struct amk_str principal; /* authenticated identity */
    uint8_t role;             /* enum amk_role */
    struct amk_str session;   /* acting console session, may be empty */
    struct amk_str centre;    /* centre the caller claims; audit only */
    uint64_t epoch;           /* centre epoch the caller believes; 0 = none */
};

struct amk_patient {
    struct amk_str name;
    struct amk_str national_id; /* 11 digits */
    int32_t age;                /* INT32_MIN: absent */
    uint8_t sex;                /* enum amk_sex */
};

struct amk_cmd_noop {
    uint8_t unused; /* empty body */
};

struct amk_cmd_centre_register {
    struct amk_str id, name, region;
    uint32_t n_backups;
    struct amk_str backups[AMK_CMD_MAX_BACKUPS];
    uint8_t auto_takeover; /* bool; absent = true */
};

struct amk_cmd_centre_update {
    struct amk_str id, name;
    uint32_t n_backups;
    struct amk_str backups[AMK_CMD_MAX_BACKUPS];
    uint8_t auto_takeover;
};

struct amk_cmd_centre_set_state {
    struct amk_str id;
    uint8_t state; /* enum amk_service_state */
};

struct amk_cmd_centre_takeover {
    struct amk_str id, by, reason;
    uint8_t automatic; /* bool: proposed by the leader's supervisor */
};

struct amk_cmd_centre_handback {
    struct amk_str id;
    uint8_t incidents; /* enum amk_handback_incidents; absent = return */
};

struct amk_cmd_session_open {
    struct amk_str id, centre, console, operator_id;
};

struct amk_cmd_session_close {
    struct amk_str id;
};

struct amk_cmd_incident_create {
    struct amk_str id; /* UUID chosen by the proposer */
    uint8_t urgency;
    struct amk_str criterion; /* NIMN "10.01" */
    double lat, lon, accuracy_m;
    struct amk_str address, municipality;
    struct amk_str caller_phone, caller_name;
    uint32_t n_patients;
    struct amk_patient patients[AMK_CMD_MAX_PATIENTS];
    struct amk_str note;
    struct amk_str area_centre; /* absent: the session's centre */
};

struct amk_cmd_incident_update {
    struct amk_str id;
    uint8_t urgency;
    struct amk_str criterion;
    double lat, lon, accuracy_m; /* location replaced whole when lat given */
    struct amk_str address, municipality;
    struct amk_str caller_phone, caller_name;
    uint32_t n_patients;
    struct amk_patient patients[AMK_CMD_MAX_PATIENTS];
    uint8_t status; /* enum amk_incident_status */
};

struct amk_cmd_incident_note {
    struct amk_str id, text;
};

struct amk_cmd_incident_resource { /* assign and unassign */
    struct amk_str id, resource;
};

struct amk_cmd_incident_phase {
    struct amk_str id, resource;
    uint8_t phase; /* enum amk_resource_status, alerted..available_* */
};

struct amk_cmd_incident_close {
    struct amk_str id;
    uint8_t disposition;
};

struct amk_cmd_incident_cancel {
    struct amk_str id, reason;
};

struct amk_cmd_incident_transfer {
    struct amk_str id, to;
};

struct amk_cmd_incident_transfer_answer { /* accept and reject */
    struct amk_str id, reason;
};

struct amk_cmd_resource_register {
    struct amk_str id;
    uint8_t type;
    int64_t issi; /* 0..16777215 */
    struct amk_str home_centre;
};

struct amk_cmd_resource_status {
    struct amk_str id;
    uint8_t status;
    int64_t seq;        /* > 0 */
    int64_t event_time; /* terminal's clock, ms UTC; INT64_MIN absent */
    int64_t raw_code;   /* TETRA pre-coded status 0..65535; INT64_MIN absent */
};

struct amk_cmd_resource_position {
    struct amk_str id;
    double lat, lon, accuracy_m, speed, heading;
    int64_t seq;
    int64_t event_time;
};

struct amk_cmd_resource_alarm {
    struct amk_str id;
    uint8_t on;  /* bool */
    int64_t seq; /* shares the status counter: TETRA status 0 is the alarm */
    int64_t event_time;
};

/* A cluster node's directory entry: how to reach it and which centre it
 * serves. The leader registers itself when elected; followers register
 * through it. */
struct amk_cmd_node_register {
    int64_t id; /* raft id, > 0 */
    struct amk_str raft_address, http_address, binary_address;
    struct amk_str centre, region;
};

struct amk_cmd {
    struct amk_cmd_header h;
    uint64_t present; /* body fields present on the wire (set by decode) */
    union {
        struct amk_cmd_noop noop;
        struct amk_cmd_centre_register centre_register;
        struct amk_cmd_centre_update centre_update;
        struct amk_cmd_centre_set_state centre_set_state;
        struct amk_cmd_centre_takeover centre_takeover;
        struct amk_cmd_centre_handback centre_handback;
        struct amk_cmd_session_open session_open;
        struct amk_cmd_session_close session_close;
        struct amk_cmd_incident_create incident_create;
        struct amk_cmd_incident_update incident_update;
        struct amk_cmd_incident_note incident_note;
        struct amk_cmd_incident_resource incident_assign;
        struct amk_cmd_incident_phase incident_phase;
        struct amk_cmd_incident_resource incident_unassign;
        struct amk_cmd_incident_close incident_close;
        struct amk_cmd_incident_cancel incident_cancel;
        struct amk_cmd_incident_transfer incident_transfer;
        struct amk_cmd_incident_transfer_answer incident_transfer_accept;
        struct amk_cmd_incident_transfer_answer incident_transfer_reject;
        struct amk_cmd_resource_register resource_register;
        struct amk_cmd_resource_status resource_status;
        struct amk_cmd_resource_position resource_position;
        struct amk_cmd_resource_alarm resource_alarm;
        struct amk_cmd_node_register node_register;
    } u;
};

/* Sets up cmd for type: header zeroed but for format/type/type_version,
 * every body field absent. Returns 0, or AMK_EINVALID for an unknown type. */
int amk_cmd_init(struct amk_cmd *cmd, uint16_t type);

/* The command's name ("incident.create"), or NULL for an unknown type. */
const char *amk_cmd_name(uint16_t type);

/* Encodes cmd into a buffer allocated with malloc (caller frees *buf).
 * Returns 0; AMK_EINVALID (a required field absent, a string over its cap,
 * an enum out of range, a non-finite number) with errmsg naming the field;
 * AMK_ETOOLARGE; or AMK_ENOMEM. */
int amk_cmd_encode(const struct amk_cmd *cmd, void **buf, size_t *len,
                   char *errmsg);

/* Decodes len bytes. cmd's strings point into buf afterwards. Returns 0;
 * AMK_EINVALID with errmsg naming the field or offset for anything malformed
 * (truncation, trailing bytes, unknown format/type/version, bad UTF-8, cap
 * exceeded, enum out of range, required field missing, unknown field bit);
 * AMK_ETOOLARGE if len > AMK_CMD_MAX_SIZE. Never allocates. */
int amk_cmd_decode(const void *buf, size_t len, struct amk_cmd *cmd,
                   char *errmsg);

/* Decodes only the fixed part of the header (format, type, type_version,
 * term, timestamp), for the raft layer. Returns 0 or AMK_EINVALID. */
int amk_cmd_peek(const void *buf, size_t len, uint64_t *term, uint16_t *type);

/* Rewrites the term field of an encoded command in place (the leader stamps
 * it just before raft_apply). Returns 0 or AMK_EINVALID. */
int amk_cmd_stamp(void *buf, size_t len, uint64_t term, int64_t timestamp_ms);

/* Makes s from a NUL-terminated string (NULL stays absent). */
struct amk_str amk_str_c(const char *s);

#endif
