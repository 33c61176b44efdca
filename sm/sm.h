/* sm/sm.h: the deterministic state machine over SQLite. It knows nothing of
 * raft, sockets or clocks: amk_sm_apply() takes one encoded command and the
 * raft index it was committed at; time comes from the command header. The
 * same sequence of (index, command) on two fresh state machines gives
 * byte-identical databases (amk_sm_serialize). */
#ifndef AMK_SM_SM_H
#define AMK_SM_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd.h"
#include "error.h"

struct amk_sm;

/* Part of the replicated behaviour: every node of a cluster must run with the
 * same values, or their state machines diverge. */
struct amk_sm_config {
    int64_t idem_window_ms;   /* idempotency keys kept this long (leader time);
                                 default 24 h */
    uint64_t events_retained; /* at least this many newest events kept;
                                 default 100000 */
    uint64_t audit_retained;  /* at least this many newest audit entries
                                 kept; 0 (the default): all of them */
};

void amk_sm_config_default(struct amk_sm_config *cfg);

/* Opens a fresh, empty state machine (an in-memory SQLite database: the raft
 * log and snapshots are what is durable). On failure returns non-zero with
 * errmsg (256 bytes) set and *out NULL. The caller owns *out and frees it
 * with amk_sm_close(). cfg may be NULL for defaults. */
int amk_sm_open(struct amk_sm **out, const struct amk_sm_config *cfg,
                char *errmsg);
void amk_sm_close(struct amk_sm *sm);

/* The last error message of a call on sm that returned non-zero. */
const char *amk_sm_errmsg(const struct amk_sm *sm);

/* The outcome of one applied command. Strings it holds are owned by it;
 * release with amk_sm_result_clear() (safe on a zeroed or cleared result). */
struct amk_sm_result {
    int code;          /* AMK_OK, or the domain code the command was rejected
                          with (AMK_EINVALID .. AMK_EVERSION_MISMATCH) */
    char message[256]; /* why, naming the field, when code != AMK_OK */
    char owner[AMK_ID_MAX + 1]; /* AMK_ESTALE_EPOCH: the owning centre */
    uint64_t epoch;             /* AMK_ESTALE_EPOCH: its current epoch */
    uint64_t version;           /* AMK_EVERSION_MISMATCH: the current version;
                                   AMK_OK: the primary object's version after the
                                   change (0 when it has none) */
    bool applied;   /* false: accepted but ignored (stale seq) or noop */
    bool replayed;  /* an idempotent replay of an earlier command */
    bool created;   /* the command created its object (HTTP 201) */
    uint64_t index; /* the raft index that produced this result */
    char *body;     /* JSON of the object after the change, or NULL */
    char *event;    /* JSON of the event produced, or NULL if none */
};

void amk_sm_result_clear(struct amk_sm_result *result);

/* Applies one command committed at raft index `index` (> the last applied).
 * Returns 0 when the command was processed: result->code tells whether it
 * was accepted or rejected (rejections are audited, change nothing else, and
 * are deterministic, so every node reaches the same answer). Returns
 * AMK_EINTERNAL or AMK_ENOMEM when the state machine could not process it
 * (SQLite failure, index not increasing): the node can no longer be trusted
 * to agree with its peers and the caller must stop applying. */
int amk_sm_apply(struct amk_sm *sm, uint64_t index, const void *cmd, size_t len,
                 struct amk_sm_result *result);

/* The raft index of the last command applied (0 for a fresh sm). */
uint64_t amk_sm_applied_index(const struct amk_sm *sm);

/* How large the state is (for metrics; a snapshot is about db_bytes +
 * logs_bytes). */
struct amk_sm_stats {
    uint64_t db_bytes;   /* the database image */
    uint64_t logs_bytes; /* events, audit and idempotency records, encoded */
    uint64_t events, audit_entries, idem_records;
};
void amk_sm_stats(struct amk_sm *sm, struct amk_sm_stats *out);

/* --- Queries. Each returns 0 with *json a malloc'd JSON text the caller
 * frees, or a code (AMK_ENOTFOUND, AMK_EINVALID for a bad filter,
 * AMK_ECOMPACTED, AMK_EINTERNAL, AMK_ENOMEM) with amk_sm_errmsg set. */

enum amk_sm_object {
    AMK_OBJ_CENTRE = 0,
    AMK_OBJ_SESSION,
    AMK_OBJ_INCIDENT,
    AMK_OBJ_RESOURCE,
};

/* One object; *version (may be NULL) gets its version, 0 for sessions,
 * which have none. */
int amk_sm_get(struct amk_sm *sm, enum amk_sm_object kind, const char *id,
               char **json, uint64_t *version);

/* NULL or empty strings mean "no filter". */
struct amk_sm_filter {
    const char *owner;   /* incidents: owning centre */
    const char *status;  /* incidents: a status, "open" (default), "closed"
                            statuses by name, or "all"; resources: a status */
    const char *urgency; /* incidents */
    const char *centre;  /* resources: controlling centre */
    unsigned limit;      /* 0: 100; capped at 1000 */
    const char *after;   /* cursor from a previous page's "next" */
};

/* {"items": [...], "next": "cursor"|null}. Centres and sessions ignore the
 * filters but limit/after. */
int amk_sm_list(struct amk_sm *sm, enum amk_sm_object kind,
                const struct amk_sm_filter *filter, char **json);

/* {"events": [...], "next": M}: events with index > since, oldest first, at
 * most limit (0: 100, capped at 1000). next is the index of the last event
 * returned, or max(since, applied index) when none. AMK_ECOMPACTED when
 * events after `since` were already discarded. */
int amk_sm_events(struct amk_sm *sm, uint64_t since, unsigned limit,
                  char **json);

/* The first event after index `after`: 0 with *index and *json (malloc'd,
 * the caller frees) set, AMK_ENOTFOUND when there is none yet, or
 * AMK_ECOMPACTED when events after `after` were discarded. */
int amk_sm_event_next(struct amk_sm *sm, uint64_t after, uint64_t *index,
                      char **json);

/* {"items": [...], "next": cursor|null}: audit entries with index > since,
 * filtered by object id and/or actor principal (NULL: any). */
int amk_sm_audit(struct amk_sm *sm, const char *object, const char *actor,
                 uint64_t since, unsigned limit, char **json);

/* What the API layer needs to know of a session before it proposes. */
struct amk_sm_session_info {
    bool exists, closed, read_only, stale;
    char centre[AMK_ID_MAX + 1];
    uint64_t epoch;        /* the centre epoch at login */
    uint64_t centre_epoch; /* the centre's current epoch */
    uint8_t role;          /* enum amk_role the session was opened with */
};
int amk_sm_session_info(struct amk_sm *sm, const char *id,
                        struct amk_sm_session_info *info);

/* A cluster node's directory entry (node.register). */
struct amk_sm_node_info {
    uint64_t id;
    char raft_address[AMK_ID_MAX + 1];
    char http_address[AMK_ID_MAX + 1];
    char binary_address[AMK_ID_MAX + 1];
    char centre[AMK_ID_MAX + 1];
    char region[AMK_ID_MAX + 1];
};

/* Looks up node id: 0, or AMK_ENOTFOUND. */
int amk_sm_node_info(struct amk_sm *sm, uint64_t id,
                     struct amk_sm_node_info *info);

/* --- Snapshots: a header (magic, format, applied index, length) and the
 * serialized database. amk_sm_snapshot() returns a buffer the caller gives
 * back with amk_sm_snapshot_free() (it is mapped, not malloc'd).
 * amk_sm_restore() checks the header and replaces the whole state; on error the
 * state is unchanged. */
int amk_sm_snapshot(struct amk_sm *sm, void **buf, size_t *len);

/* The same in two phases, so the expensive part can leave the thread that
 * applies: amk_sm_snapshot_copy() copies the database image (one memcpy)
 * into a buffer with room for the header, and must run where
 * amk_sm_apply runs; amk_sm_snapshot_seal() writes the header's magic and
 * checksum, touches nothing but the buffer, and may run on any thread. An
 * unsealed buffer is refused by amk_sm_restore. */
int amk_sm_snapshot_copy(struct amk_sm *sm, void **buf, size_t *len);
void amk_sm_snapshot_seal(void *buf, size_t len);
void amk_sm_snapshot_free(void *buf, size_t len);
/* Gives a snapshot buffer back to sm for its next snapshot (same thread as
 * amk_sm_snapshot_copy): the copy into memory already touched is several
 * times faster. */
void amk_sm_snapshot_recycle(struct amk_sm *sm, void *buf, size_t len);
int amk_sm_restore(struct amk_sm *sm, const void *buf, size_t len);

/* The raw serialized database, for determinism checks (caller frees). */
int amk_sm_serialize(struct amk_sm *sm, void **buf, size_t *len);

#endif
