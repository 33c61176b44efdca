/* sm/lifecycle.c: the transition tables of the incident and resource life
 * cycles. A move not in a table is a CONFLICT naming both states. */
#include "internal.h"

#define BIT(s) (1u << (s))

/* Moves an explicit status update (PATCH) may make. Closing and cancelling
 * have commands of their own (they need a disposition or a reason). */
static const unsigned incident_next[] = {
    [AMK_INC_NEW] = BIT(AMK_INC_TRIAGED) | BIT(AMK_INC_DISPATCHED),
    [AMK_INC_TRIAGED] = BIT(AMK_INC_DISPATCHED),
    [AMK_INC_DISPATCHED] = BIT(AMK_INC_ON_SCENE) | BIT(AMK_INC_TRANSPORTING) |
                           BIT(AMK_INC_RESOLVED),
    [AMK_INC_ON_SCENE] = BIT(AMK_INC_TRANSPORTING) | BIT(AMK_INC_RESOLVED),
    [AMK_INC_TRANSPORTING] = BIT(AMK_INC_RESOLVED),
    [AMK_INC_RESOLVED] = 0,
    [AMK_INC_CLOSED] = 0,
    [AMK_INC_CANCELLED] = 0,
};

bool sm_incident_can_move(uint8_t from, uint8_t to)
{
    if (from > AMK_INC_CANCELLED || to > AMK_INC_CANCELLED) {
        return false;
    }
    return (incident_next[from] & BIT(to)) != 0;
}

bool sm_incident_is_open(uint8_t status)
{
    return status <= AMK_INC_RESOLVED;
}

#define AVAILABLE (BIT(AMK_RS_AVAILABLE_STATION) | BIT(AMK_RS_AVAILABLE_MOBILE))

/* Moves a unit may make, by status report or by a coordinator's phase
 * command. `alerted` is reached only by assignment, never reported; a
 * repeated status (same to same) is allowed and refreshes its time. Going
 * out of service or available from a mission ends the assignment. */
static const unsigned resource_next[] = {
    [AMK_RS_OUT_OF_SERVICE] = AVAILABLE,
    [AMK_RS_AVAILABLE_STATION] = AVAILABLE | BIT(AMK_RS_OUT_OF_SERVICE),
    [AMK_RS_AVAILABLE_MOBILE] = AVAILABLE | BIT(AMK_RS_OUT_OF_SERVICE),
    [AMK_RS_ALERTED] = BIT(AMK_RS_ACKNOWLEDGED) | BIT(AMK_RS_EN_ROUTE) |
                       BIT(AMK_RS_ON_SCENE) | AVAILABLE |
                       BIT(AMK_RS_OUT_OF_SERVICE),
    [AMK_RS_ACKNOWLEDGED] = BIT(AMK_RS_EN_ROUTE) | BIT(AMK_RS_ON_SCENE) |
                            AVAILABLE | BIT(AMK_RS_OUT_OF_SERVICE),
    [AMK_RS_EN_ROUTE] =
        BIT(AMK_RS_ON_SCENE) | AVAILABLE | BIT(AMK_RS_OUT_OF_SERVICE),
    [AMK_RS_ON_SCENE] =
        BIT(AMK_RS_TRANSPORTING) | AVAILABLE | BIT(AMK_RS_OUT_OF_SERVICE),
    [AMK_RS_TRANSPORTING] =
        BIT(AMK_RS_AT_DESTINATION) | AVAILABLE | BIT(AMK_RS_OUT_OF_SERVICE),
    [AMK_RS_AT_DESTINATION] = AVAILABLE | BIT(AMK_RS_OUT_OF_SERVICE),
};

bool sm_resource_can_move(uint8_t from, uint8_t to)
{
    if (from > AMK_RS_AT_DESTINATION || to > AMK_RS_AT_DESTINATION) {
        return false;
    }
    if (from == to && to != AMK_RS_ALERTED) {
        return true;
    }
    return (resource_next[from] & BIT(to)) != 0;
}

bool sm_resource_is_available(uint8_t status)
{
    return status == AMK_RS_AVAILABLE_STATION ||
           status == AMK_RS_AVAILABLE_MOBILE;
}

bool sm_resource_on_mission(uint8_t status)
{
    return status >= AMK_RS_ALERTED && status <= AMK_RS_AT_DESTINATION;
}

uint8_t sm_incident_status_for_unit(uint8_t unit_status)
{
    switch (unit_status) {
        case AMK_RS_ALERTED:
        case AMK_RS_ACKNOWLEDGED:
        case AMK_RS_EN_ROUTE:
            return AMK_INC_DISPATCHED;
        case AMK_RS_ON_SCENE:
            return AMK_INC_ON_SCENE;
        case AMK_RS_TRANSPORTING:
        case AMK_RS_AT_DESTINATION:
            return AMK_INC_TRANSPORTING;
        default:
            return AMK_ENUM_NONE;
    }
}
