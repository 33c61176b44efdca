/* sm/enums.h: the domain's enumerations and their wire names, declared once
 * and shared by the codec, the state machine, the API and amkctl. The numeric
 * values are part of the command encoding: append, never renumber. */
#ifndef AMK_SM_ENUMS_H
#define AMK_SM_ENUMS_H

#include <stddef.h>
#include <stdint.h>

#define AMK_ENUM_NONE 0xFF /* "field absent" in a uint8_t enum slot */

enum amk_role {
    AMK_ROLE_SYSTEM = 0, /* the leader itself (auto takeover, no-op) */
    AMK_ROLE_ADMIN = 1,
    AMK_ROLE_OPERATOR = 2,
    AMK_ROLE_BRIDGE = 3,
    AMK_ROLE_OBSERVER = 4,
};

enum amk_urgency { AMK_URG_ACUTE = 0, AMK_URG_URGENT = 1, AMK_URG_NORMAL = 2 };

enum amk_incident_status {
    AMK_INC_NEW = 0,
    AMK_INC_TRIAGED = 1,
    AMK_INC_DISPATCHED = 2,
    AMK_INC_ON_SCENE = 3,
    AMK_INC_TRANSPORTING = 4,
    AMK_INC_RESOLVED = 5,
    AMK_INC_CLOSED = 6,
    AMK_INC_CANCELLED = 7,
};

enum amk_resource_type {
    AMK_RT_AMBULANCE = 0,
    AMK_RT_AMBULANCE_BOAT = 1,
    AMK_RT_HELICOPTER = 2,
    AMK_RT_FIXED_WING = 3,
    AMK_RT_DOCTOR_CAR = 4,
    AMK_RT_GP_ON_CALL = 5,
    AMK_RT_FIRST_RESPONDER = 6,
};

enum amk_resource_status {
    AMK_RS_OUT_OF_SERVICE = 0,
    AMK_RS_AVAILABLE_STATION = 1,
    AMK_RS_AVAILABLE_MOBILE = 2,
    AMK_RS_ALERTED = 3,
    AMK_RS_ACKNOWLEDGED = 4,
    AMK_RS_EN_ROUTE = 5,
    AMK_RS_ON_SCENE = 6,
    AMK_RS_TRANSPORTING = 7,
    AMK_RS_AT_DESTINATION = 8,
};

enum amk_service_state {
    AMK_SS_NORMAL = 0,
    AMK_SS_OVERLOADED = 1,
    AMK_SS_GOING_DOWN = 2,
    AMK_SS_DOWN = 3,
    AMK_SS_UNREACHABLE = 4,
};

enum amk_sex {
    AMK_SEX_FEMALE = 0,
    AMK_SEX_MALE = 1,
    AMK_SEX_OTHER = 2,
    AMK_SEX_UNKNOWN = 3,
};

enum amk_disposition {
    AMK_DISP_TRANSPORTED = 0,
    AMK_DISP_TREATED_ON_SCENE = 1,
    AMK_DISP_ADVICE_GIVEN = 2,
    AMK_DISP_REFERRED = 3,
    AMK_DISP_NO_PATIENT = 4,
    AMK_DISP_FALSE_ALARM = 5,
    AMK_DISP_DUPLICATE = 6,
};

enum amk_handback_incidents { AMK_HB_RETURN = 0, AMK_HB_KEEP = 1 };

/* The enumeration kinds, used by the codec's field table to validate. */
enum amk_enum_kind {
    AMK_ENUM_ROLE = 0,
    AMK_ENUM_URGENCY,
    AMK_ENUM_INCIDENT_STATUS,
    AMK_ENUM_RESOURCE_TYPE,
    AMK_ENUM_RESOURCE_STATUS,
    AMK_ENUM_SERVICE_STATE,
    AMK_ENUM_SEX,
    AMK_ENUM_DISPOSITION,
    AMK_ENUM_HANDBACK,
    AMK_ENUM__N
};

/* Number of values of a kind (values are 0..n-1). */
unsigned amk_enum_count(enum amk_enum_kind kind);

/* Wire name of a value, or NULL if out of range. */
const char *amk_enum_name(enum amk_enum_kind kind, unsigned value);

/* Parses a wire name of len bytes. Returns 0 and sets *value, or -1. */
int amk_enum_parse(enum amk_enum_kind kind, const char *name, size_t len,
                   uint8_t *value);

/* A short list of the valid names ("acute|urgent|normal") for messages. */
const char *amk_enum_choices(enum amk_enum_kind kind);

#endif
