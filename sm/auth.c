/* sm/auth.c: the authorisation context of a command (its session, the
 * session's centre and the centre that controls it, loaded once per
 * command and cached between commands that cannot change them) and the
 * checks handlers make against it (sm_require_*). */
#include <string.h>

#include "internal.h"

static const char SQL_ACTOR[] =
    "SELECT s.centre, s.console, s.epoch, s.read_only, s.closed_at IS NULL,"
    " c.epoch, c.controlled_by, k.epoch, s.operator_id, s.role"
    " FROM sessions s JOIN centres c ON c.id = s.centre"
    " JOIN centres k ON k.id = c.controlled_by WHERE s.id = ?1";

/* Whether a command of this type may change a session or a centre: only
 * those may not use the actor cache, and each clears it. The others write
 * incidents, assignments and resources only (sm/incident.c, resource.c). */
static bool may_change_actors(uint16_t type)
{
    return type < AMK_CMD_INCIDENT_CREATE || type > AMK_CMD_RESOURCE_ALARM;
}

static struct sm_actor_slot *actor_slot(struct amk_sm *sm, struct amk_str id)
{
    uint64_t h = sm_hash_add(SM_HASH_SEED, id.ptr, id.len);
    return &sm->actor_cache[h & (SM_ACTOR_CACHE - 1)];
}

/* Reads the session's row and its centres' into a; false if there is no
 * such session. */
static int read_actor(struct amk_sm *sm, struct sm_actor *a, bool *read_only)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_ACTOR);
    if (s == NULL) {
        return AMK_EINTERNAL;
    }
    sm_bind_str(s, 1, sm->cmd->h.session);
    int rv = sqlite3_step(s);
    if (rv == SQLITE_ROW) {
        a->has_session = true;
        sm_copy(a->centre, sizeof a->centre, sm_col_text(s, 0));
        sm_copy(a->console, sizeof a->console, sm_col_text(s, 1));
        a->session_epoch = (uint64_t)sqlite3_column_int64(s, 2);
        *read_only = sqlite3_column_int(s, 3) != 0;
        a->session_open = sqlite3_column_int(s, 4) != 0;
        a->centre_epoch = (uint64_t)sqlite3_column_int64(s, 5);
        sm_copy(a->controller, sizeof a->controller, sm_col_text(s, 6));
        a->controller_epoch = (uint64_t)sqlite3_column_int64(s, 7);
        sm_copy(a->operator_id, sizeof a->operator_id, sm_col_text(s, 8));
        const char *role = sm_col_text(s, 9);
        a->role = AMK_ROLE_OBSERVER;
        amk_enum_parse(AMK_ENUM_ROLE, role, strlen(role), &a->role);
    } else if (rv != SQLITE_DONE) {
        return sm_sqlite_error(sm, "load session");
    }
    sqlite3_reset(s);
    return AMK_OK;
}

void sm_actor_cache_clear(struct amk_sm *sm)
{
    memset(sm->actor_cache, 0, sizeof sm->actor_cache);
}

int sm_actor_load(struct amk_sm *sm)
{
    struct sm_actor *a = &sm->actor;
    memset(a, 0, sizeof *a);
    struct amk_str id = sm->cmd->h.session;
    bool keeps = !may_change_actors(sm->cmd->h.type);
    if (!keeps) {
        sm_actor_cache_clear(sm);
    }
    if (id.len == 0) {
        return AMK_OK;
    }
    bool read_only = false;
    struct sm_actor_slot *slot = NULL;
    if (keeps && id.len <= AMK_ID_MAX) {
        slot = actor_slot(sm, id);
    }
    if (slot != NULL && slot->used && slot->len == id.len &&
        memcmp(slot->session, id.ptr, id.len) == 0) {
        *a = slot->actor;
        read_only = slot->read_only;
    } else {
        int rv = read_actor(sm, a, &read_only);
        if (rv != AMK_OK) {
            return rv;
        }
        if (slot != NULL && a->has_session) {
            slot->used = true;
            slot->read_only = read_only;
            slot->len = (uint8_t)id.len;
            memcpy(slot->session, id.ptr, id.len);
            slot->actor = *a;
        }
    }
    uint64_t claimed = sm->cmd->h.epoch;
    a->valid = a->has_session && a->session_open && !read_only &&
               a->session_epoch == a->centre_epoch &&
               strcmp(a->controller, a->centre) == 0 &&
               (claimed == 0 || claimed == a->centre_epoch);
    return AMK_OK;
}

static const char SQL_CENTRE_EPOCH[] =
    "SELECT epoch FROM centres WHERE id = ?1";

uint64_t sm_centre_epoch(struct amk_sm *sm, const char *centre)
{
    sqlite3_stmt *s = sm_sql(sm, SQL_CENTRE_EPOCH);
    if (s == NULL) {
        return 0;
    }
    sm_bind_text(s, 1, centre);
    uint64_t epoch = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        epoch = (uint64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return epoch;
}

uint8_t sm_role(const struct amk_sm *sm)
{
    return sm->actor.has_session ? sm->actor.role : sm->cmd->h.role;
}

int sm_require_admin(struct amk_sm *sm)
{
    uint8_t role = sm_role(sm);
    if (role == AMK_ROLE_ADMIN || role == AMK_ROLE_SYSTEM) {
        return AMK_OK;
    }
    return sm_reject(sm, AMK_EFORBIDDEN, "%s needs the admin role",
                     amk_cmd_name(sm->cmd->h.type));
}

/* An open session of a role that may write. */
int sm_require_writer(struct amk_sm *sm)
{
    if (!sm->actor.has_session) {
        return sm_reject(sm, AMK_EUNAUTHENTICATED,
                         sm->cmd->h.session.len == 0
                             ? "%s needs a session (X-Amk-Session)"
                             : "%s: unknown session",
                         amk_cmd_name(sm->cmd->h.type));
    }
    if (!sm->actor.session_open) {
        return sm_reject(sm, AMK_EUNAUTHENTICATED, "session is closed");
    }
    uint8_t role = sm_role(sm);
    if (role != AMK_ROLE_OPERATOR && role != AMK_ROLE_ADMIN &&
        role != AMK_ROLE_SYSTEM) {
        return sm_reject(sm, AMK_EFORBIDDEN, "role %s may not %s",
                         amk_enum_name(AMK_ENUM_ROLE, role),
                         amk_cmd_name(sm->cmd->h.type));
    }
    return AMK_OK;
}

int sm_require_session(struct amk_sm *sm)
{
    int rv = sm_require_writer(sm);
    if (rv != AMK_OK) {
        return rv;
    }
    if (!sm->actor.valid) {
        return sm_reject_stale(
            sm, sm->actor.controller, sm->actor.controller_epoch,
            "session of %s is stale or read-only: %s is"
            " controlled by %s at epoch %llu",
            sm->actor.centre, sm->actor.centre, sm->actor.controller,
            (unsigned long long)sm->actor.controller_epoch);
    }
    return AMK_OK;
}

int sm_require_owner(struct amk_sm *sm, const char *owner)
{
    int rv = sm_require_writer(sm);
    if (rv != AMK_OK) {
        return rv;
    }
    if (!sm->actor.valid || strcmp(sm->actor.centre, owner) != 0) {
        uint64_t epoch = sm_centre_epoch(sm, owner);
        return sm_reject_stale(sm, owner, epoch,
                               "owned by %s at epoch %llu; the session (%s,"
                               " epoch %llu) may not act on it",
                               owner, (unsigned long long)epoch,
                               sm->actor.centre,
                               (unsigned long long)sm->actor.session_epoch);
    }
    return AMK_OK;
}

int sm_require_version(struct amk_sm *sm, uint64_t version)
{
    uint64_t expected = sm->cmd->h.if_match;
    if (expected != 0 && expected != version) {
        sm->result->version = version;
        return sm_reject(sm, AMK_EVERSION_MISMATCH,
                         "If-Match %llu does not match version %llu",
                         (unsigned long long)expected,
                         (unsigned long long)version);
    }
    return AMK_OK;
}
