/* sm/enums.c: the wire names of every enumeration in enums.h, one table per
 * kind, shared by the codec (range checks), the API (parsing) and messages. */
#include "enums.h"

#include <string.h>

static const char *const role_names[] = {
    [AMK_ROLE_SYSTEM] = "system",     [AMK_ROLE_ADMIN] = "admin",
    [AMK_ROLE_OPERATOR] = "operator", [AMK_ROLE_BRIDGE] = "bridge",
    [AMK_ROLE_OBSERVER] = "observer",
};

static const char *const urgency_names[] = {
    [AMK_URG_ACUTE] = "acute",
    [AMK_URG_URGENT] = "urgent",
    [AMK_URG_NORMAL] = "normal",
};

static const char *const incident_status_names[] = {
    [AMK_INC_NEW] = "new",
    [AMK_INC_TRIAGED] = "triaged",
    [AMK_INC_DISPATCHED] = "dispatched",
    [AMK_INC_ON_SCENE] = "on_scene",
    [AMK_INC_TRANSPORTING] = "transporting",
    [AMK_INC_RESOLVED] = "resolved",
    [AMK_INC_CLOSED] = "closed",
    [AMK_INC_CANCELLED] = "cancelled",
};

static const char *const resource_type_names[] = {
    [AMK_RT_AMBULANCE] = "ambulance",
    [AMK_RT_AMBULANCE_BOAT] = "ambulance_boat",
    [AMK_RT_HELICOPTER] = "helicopter",
    [AMK_RT_FIXED_WING] = "fixed_wing",
    [AMK_RT_DOCTOR_CAR] = "doctor_car",
    [AMK_RT_GP_ON_CALL] = "gp_on_call",
    [AMK_RT_FIRST_RESPONDER] = "first_responder",
};

static const char *const resource_status_names[] = {
    [AMK_RS_OUT_OF_SERVICE] = "out_of_service",
    [AMK_RS_AVAILABLE_STATION] = "available_station",
    [AMK_RS_AVAILABLE_MOBILE] = "available_mobile",
    [AMK_RS_ALERTED] = "alerted",
    [AMK_RS_ACKNOWLEDGED] = "acknowledged",
    [AMK_RS_EN_ROUTE] = "en_route",
    [AMK_RS_ON_SCENE] = "on_scene",
    [AMK_RS_TRANSPORTING] = "transporting",
    [AMK_RS_AT_DESTINATION] = "at_destination",
};

static const char *const service_state_names[] = {
    [AMK_SS_NORMAL] = "normal",           [AMK_SS_OVERLOADED] = "overloaded",
    [AMK_SS_GOING_DOWN] = "going_down",   [AMK_SS_DOWN] = "down",
    [AMK_SS_UNREACHABLE] = "unreachable",
};

static const char *const sex_names[] = {
    [AMK_SEX_FEMALE] = "female",
    [AMK_SEX_MALE] = "male",
    [AMK_SEX_OTHER] = "other",
    [AMK_SEX_UNKNOWN] = "unknown",
};

static const char *const disposition_names[] = {
    [AMK_DISP_TRANSPORTED] = "transported",
    [AMK_DISP_TREATED_ON_SCENE] = "treated_on_scene",
    [AMK_DISP_ADVICE_GIVEN] = "advice_given",
    [AMK_DISP_REFERRED] = "referred",
    [AMK_DISP_NO_PATIENT] = "no_patient",
    [AMK_DISP_FALSE_ALARM] = "false_alarm",
    [AMK_DISP_DUPLICATE] = "duplicate",
};

static const char *const handback_names[] = {
    [AMK_HB_RETURN] = "return",
    [AMK_HB_KEEP] = "keep",
};

struct enum_table {
    const char *const *names;
    unsigned count;
    const char *choices; /* names joined by '|'; test_enums checks it */
};

#define TABLE(names, choices)                                                  \
    {                                                                          \
        names, sizeof(names) / sizeof(names[0]), choices                       \
    }

static const struct enum_table tables[AMK_ENUM__N] = {
    [AMK_ENUM_ROLE] =
        TABLE(role_names, "system|admin|operator|bridge|observer"),
    [AMK_ENUM_URGENCY] = TABLE(urgency_names, "acute|urgent|normal"),
    [AMK_ENUM_INCIDENT_STATUS] =
        TABLE(incident_status_names, "new|triaged|dispatched|on_scene|"
                                     "transporting|resolved|closed|cancelled"),
    [AMK_ENUM_RESOURCE_TYPE] =
        TABLE(resource_type_names, "ambulance|ambulance_boat|helicopter|"
                                   "fixed_wing|doctor_car|gp_on_call|"
                                   "first_responder"),
    [AMK_ENUM_RESOURCE_STATUS] =
        TABLE(resource_status_names, "out_of_service|available_station|"
                                     "available_mobile|alerted|acknowledged|"
                                     "en_route|on_scene|transporting|"
                                     "at_destination"),
    [AMK_ENUM_SERVICE_STATE] = TABLE(
        service_state_names, "normal|overloaded|going_down|down|unreachable"),
    [AMK_ENUM_SEX] = TABLE(sex_names, "female|male|other|unknown"),
    [AMK_ENUM_DISPOSITION] =
        TABLE(disposition_names, "transported|treated_on_scene|advice_given|"
                                 "referred|no_patient|false_alarm|duplicate"),
    [AMK_ENUM_HANDBACK] = TABLE(handback_names, "return|keep"),
};

static const struct enum_table *table_of(enum amk_enum_kind kind)
{
    if ((unsigned)kind >= AMK_ENUM__N) {
        return NULL;
    }
    return &tables[kind];
}

unsigned amk_enum_count(enum amk_enum_kind kind)
{
    const struct enum_table *t = table_of(kind);
    return t != NULL ? t->count : 0;
}

const char *amk_enum_name(enum amk_enum_kind kind, unsigned value)
{
    const struct enum_table *t = table_of(kind);
    if (t == NULL || value >= t->count) {
        return NULL;
    }
    return t->names[value];
}

int amk_enum_parse(enum amk_enum_kind kind, const char *name, size_t len,
                   uint8_t *value)
{
    const struct enum_table *t = table_of(kind);
    unsigned i;

    if (t == NULL || name == NULL) {
        return -1;
    }
    for (i = 0; i < t->count; i++) {
        /* Exact match of all len bytes: "acute\0x" and "acut" are not
         * "acute". */
        if (strlen(t->names[i]) == len && memcmp(t->names[i], name, len) == 0) {
            *value = (uint8_t)i;
            return 0;
        }
    }
    return -1;
}

const char *amk_enum_choices(enum amk_enum_kind kind)
{
    const struct enum_table *t = table_of(kind);
    return t != NULL ? t->choices : "";
}
