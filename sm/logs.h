/* sm/logs.h: the state machine's three append-only logs, kept in memory
 * beside the SQLite database: the event log (the newest events), the audit
 * log (every command, the newest N if a retention is set) and the
 * idempotency records (kept for the window).
 * Internal to sm/.
 *
 * Each is written once per command and read by index, time order or key,
 * never updated in place, so a B-tree buys nothing for them: in SQLite they
 * were 6 of the ~11 B-tree entries a create wrote (docs/performance.md).
 * They are part of the replicated state: snapshotted after the database
 * image (sm/snapshot.c) and appended in apply order, so every node holds
 * the same logs.
 *
 * A command stages its records (struct sm_staged), reserves room for them
 * before the database commits (the only step that can fail), and publishes
 * them after: a command that fails leaves the logs as they were. */
#ifndef AMK_SM_LOGS_H
#define AMK_SM_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Little-endian fixed-width integers of the snapshot forms (sm/logs.c,
 * sm/snapshot.c): n bytes of v at p, and back. */
static inline void sm_le_put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint64_t sm_le_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* FNV-1a of n bytes, continuing from h (SM_HASH_SEED to start): the hash
 * of sm/'s tables and caches. */
#define SM_HASH_SEED 0xcbf29ce484222325ull
static inline uint64_t sm_hash_add(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    }
    return h;
}

/* A FIFO of pointers: a ring that grows. */
struct sm_ring {
    void **slot;
    size_t cap; /* 0 or a power of two */
    size_t head, n;
};

/* Chained hash table of intrusive nodes. */
struct sm_hnode {
    struct sm_hnode *next;
    uint64_t hash;
};

struct sm_htab {
    struct sm_hnode **bucket;
    size_t n_buckets; /* 0 or a power of two */
    size_t n;
};

struct sm_event {
    uint64_t idx;
    uint32_t len;
    bool in_arena;
    char body[]; /* the event's JSON, NUL-terminated */
};

enum sm_audit_field {
    SM_AUDIT_ACTION,
    SM_AUDIT_ACTOR,
    SM_AUDIT_ROLE,
    SM_AUDIT_CENTRE,
    SM_AUDIT_CONSOLE,
    SM_AUDIT_SESSION,
    SM_AUDIT_OBJECT,
    SM_AUDIT_OUTCOME,
    SM_AUDIT_REASON,
    SM_AUDIT_IDEM_KEY,
    SM_AUDIT_FIELDS
};

struct sm_audit {
    uint64_t idx;
    int64_t at;
    uint64_t epoch;
    bool in_arena;
    uint32_t text_len;             /* bytes of text, NULs included */
    uint32_t off[SM_AUDIT_FIELDS]; /* each field NUL-terminated in text */
    char text[];
};

enum sm_idem_field {
    SM_IDEM_PRINCIPAL,
    SM_IDEM_KEY,
    SM_IDEM_MESSAGE,
    SM_IDEM_OWNER,
    SM_IDEM_BODY, /* "" when has_body is false */
    SM_IDEM_FIELDS
};

#define SM_IDEM_APPLIED  1u
#define SM_IDEM_CREATED  2u
#define SM_IDEM_HAS_BODY 4u

/* The first answer to an idempotency key. */
struct sm_idem {
    struct sm_hnode node; /* in idem_keys, by (principal, key) */
    uint64_t idx;
    int64_t at;
    uint64_t epoch, version;
    int32_t code;
    uint8_t flags;
    bool in_arena;
    uint32_t text_len;
    uint32_t off[SM_IDEM_FIELDS];
    char text[];
};

/* The audit entries of one object or one principal, by position. */
struct sm_akey {
    struct sm_hnode node;
    uint64_t *pos; /* absolute positions (sm_logs.audit_base + ring index) */
    size_t start;  /* pos[start..n) are kept; those before were purged */
    size_t n, cap;
    char key[];
};

/* Where one log's records live: 2 MiB chunks (transparent huge pages
 * asked for), filled in order and freed when their last record is, which
 * for logs purged oldest first is chunk by chunk. Records too large for a
 * chunk are malloc'd. */
struct sm_arena_chunk;
struct sm_arena {
    struct sm_arena_chunk *cur;
};

struct sm_logs {
    struct sm_arena event_arena, audit_arena, idem_arena;
    struct sm_ring events;  /* struct sm_event *, by index */
    uint64_t events_purged; /* events up to this index were discarded */
    struct sm_ring audit;   /* struct sm_audit *, by index */
    uint64_t audit_purged;  /* audit entries up to this index were discarded */
    uint64_t audit_base;    /* entries discarded since this struct was filled:
                               not snapshotted, only offsets the positions */
    struct sm_htab audit_by_object, audit_by_actor; /* struct sm_akey */
    struct sm_ring idem; /* struct sm_idem *, in time order */
    struct sm_htab idem_keys;
    size_t encoded; /* bytes sm_logs_encode writes, kept up to date */
};

/* One command's records, between staging and publishing. */
struct sm_staged {
    struct sm_event *event;
    struct sm_audit *audit;
    struct sm_idem *idem;
    struct sm_akey *by_object, *by_actor; /* found or added by reserve */
};

void sm_logs_init(struct sm_logs *l);
void sm_logs_free(struct sm_logs *l);

/* Records, in l's arenas; NULL when out of memory. A record that is not
 * published is given back with sm_staged_free. */
struct sm_event *sm_event_make(struct sm_logs *l, uint64_t idx,
                               const char *body, size_t len);
/* Fields are given with their lengths (a NULL field of length 0 is ""). */
struct sm_audit *sm_audit_make(struct sm_logs *l, uint64_t idx, int64_t at,
                               uint64_t epoch,
                               const char *const field[SM_AUDIT_FIELDS],
                               const size_t len[SM_AUDIT_FIELDS]);
struct sm_idem *sm_idem_make(struct sm_logs *l, uint64_t idx, int64_t at,
                             uint64_t epoch, uint64_t version, int32_t code,
                             uint8_t flags,
                             const char *const field[SM_IDEM_FIELDS],
                             const size_t len[SM_IDEM_FIELDS]);
static inline const char *sm_audit_field(const struct sm_audit *a,
                                         enum sm_audit_field f)
{
    return a->text + a->off[f];
}
static inline const char *sm_idem_field(const struct sm_idem *r,
                                        enum sm_idem_field f)
{
    return r->text + r->off[f];
}

/* Makes room for st's records (grows rings and tables, adds the audit
 * keys): AMK_OK or AMK_ENOMEM, with the logs unchanged but for capacity.
 * Publish cannot fail after it. */
int sm_logs_reserve(struct sm_logs *l, struct sm_staged *st);
void sm_logs_publish(struct sm_logs *l, struct sm_staged *st);
void sm_staged_free(struct sm_logs *l, struct sm_staged *st);

/* Discards all but the newest `keep_events` events, all but the newest
 * `keep_audit` audit entries (0: keep every one), and the idempotency
 * records older than `idem_before` (leader time). */
void sm_logs_purge(struct sm_logs *l, uint64_t keep_events, uint64_t keep_audit,
                   int64_t idem_before);

/* The record of (principal, key), or NULL. */
const struct sm_idem *sm_idem_find(const struct sm_logs *l,
                                   const char *principal, size_t principal_len,
                                   const char *key, size_t key_len);

/* The highest raft index the logs mention: a record's, or a purge
 * marker's (0 for empty logs). */
uint64_t sm_logs_newest_index(const struct sm_logs *l);

/* Position in l->events of the first event with index > idx (n if none). */
size_t sm_events_after(const struct sm_logs *l, uint64_t idx);
const struct sm_event *sm_event_at(const struct sm_logs *l, size_t pos);

/* Appends to o the JSON of up to `limit` audit entries with index > since,
 * of object and/or actor (NULL: any); *more tells whether more follow and
 * *last is the index of the last one written. */
void sm_audit_page(const struct sm_logs *l, const char *object,
                   const char *actor, uint64_t since, unsigned limit,
                   struct sm_json *o, bool *more, uint64_t *last);

/* The snapshot form (little-endian): u64 last time, u64 events purged,
 * u64 audit purged, then each log as u64 count and its records
 * (sm/logs.c). Encode writes
 * exactly sm_logs_size() bytes. Decode fills `l` (it initialises it) from
 * untrusted bytes: AMK_OK, or AMK_EINVALID/AMK_ENOMEM with errmsg set and
 * `l` left empty. */
size_t sm_logs_size(const struct sm_logs *l);
void sm_logs_encode(const struct sm_logs *l, int64_t last_time_ms,
                    uint8_t *out);
int sm_logs_decode(struct sm_logs *l, const uint8_t *p, size_t len,
                   int64_t *last_time_ms, char *errmsg, size_t errmsg_size);

#endif
