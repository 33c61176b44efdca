/* sm/logs.c: the event, audit and idempotency logs of sm/logs.h: rings of
 * records, hash tables over keys, and their snapshot form.
 *
 * Snapshot form, after u64 last time, u64 events purged and u64 audit
 * purged (the index of the last entry discarded, 0 if none):
 *   u64 n, then n events:  u64 index | u32 len | len bytes of JSON
 *   u64 n, then n audits:  u64 index | i64 at | u64 epoch | u32 len | text
 *   u64 n, then n records: u64 index | i64 at | u64 epoch | u64 version |
 *                          i32 code | u8 flags | u32 len | text
 * where text is the record's fields, each NUL-terminated, in enum order.
 * Hash tables are not written: restore rebuilds them, so the bytes depend
 * only on the records and their order. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "logs.h"

#define EVENT_FIXED 12u /* encoded bytes of a record besides its text */
#define AUDIT_FIXED 28u
#define IDEM_FIXED  41u
#define LOGS_FIXED  48u /* last time, events and audit purged, 3 counts */

/* --- arenas --- */

#define CHUNK      ((size_t)2 << 20) /* a transparent huge page */
#define CHUNK_HEAD 16

struct sm_arena_chunk {
    uint32_t live; /* records not yet freed */
    uint32_t used; /* bytes, the header included */
};

static struct sm_arena_chunk *chunk_new(void)
{
    /* Twice the size, trimmed to a CHUNK-aligned CHUNK, so that a record's
     * chunk is its address rounded down. */
    uint8_t *p = mmap(NULL, 2 * CHUNK, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    uintptr_t at = ((uintptr_t)p + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1);
    uint8_t *start = (uint8_t *)at;
    if (start > p) {
        munmap(p, (size_t)(start - p));
    }
    munmap(start + CHUNK, (size_t)(p + 2 * CHUNK - (start + CHUNK)));
#ifdef MADV_HUGEPAGE
    (void)madvise(start, CHUNK, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
    struct sm_arena_chunk *c = (struct sm_arena_chunk *)start;
    c->live = 0;
    c->used = CHUNK_HEAD;
    return c;
}

static void *arena_alloc(struct sm_arena *a, size_t n, bool *in_arena)
{
    n = (n + 15) & ~(size_t)15;
    *in_arena = false;
    if (n > CHUNK / 8) {
        return malloc(n);
    }
    if (a->cur == NULL || a->cur->used + n > CHUNK) {
        struct sm_arena_chunk *c = chunk_new();
        if (c == NULL) {
            return NULL;
        }
        if (a->cur != NULL && a->cur->live == 0) {
            munmap(a->cur, CHUNK);
        }
        a->cur = c;
    }
    void *p = (uint8_t *)a->cur + a->cur->used;
    a->cur->used += (uint32_t)n;
    a->cur->live++;
    *in_arena = true;
    return p;
}

static void arena_free(struct sm_arena *a, void *p, bool in_arena)
{
    if (p == NULL) {
        return;
    }
    if (!in_arena) {
        free(p);
        return;
    }
    struct sm_arena_chunk *c =
        (struct sm_arena_chunk *)((uintptr_t)p & ~(uintptr_t)(CHUNK - 1));
    if (--c->live == 0 && c != a->cur) {
        munmap(c, CHUNK);
    }
}

static void arena_close(struct sm_arena *a)
{
    if (a->cur != NULL) {
        munmap(a->cur, CHUNK); /* every record in it was freed */
        a->cur = NULL;
    }
}

/* --- rings --- */

static int ring_reserve(struct sm_ring *r, size_t extra)
{
    if (r->n + extra <= r->cap) {
        return AMK_OK;
    }
    size_t cap = r->cap != 0 ? r->cap : 64;
    while (cap < r->n + extra) {
        cap *= 2;
    }
    void **slot = malloc(cap * sizeof *slot);
    if (slot == NULL) {
        return AMK_ENOMEM;
    }
    for (size_t i = 0; i < r->n; i++) {
        slot[i] = r->slot[(r->head + i) & (r->cap - 1)];
    }
    free(r->slot);
    r->slot = slot;
    r->cap = cap;
    r->head = 0;
    return AMK_OK;
}

static void *ring_at(const struct sm_ring *r, size_t i)
{
    return r->slot[(r->head + i) & (r->cap - 1)];
}

/* Room was reserved. */
static void ring_push(struct sm_ring *r, void *p)
{
    r->slot[(r->head + r->n) & (r->cap - 1)] = p;
    r->n++;
}

static void *ring_pop(struct sm_ring *r)
{
    void *p = r->slot[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
    return p;
}

/* Frees the ring and its records (each a struct whose in_arena flag is at
 * flag_offset). */
static void ring_free(struct sm_ring *r, struct sm_arena *a, size_t flag_offset)
{
    for (size_t i = 0; i < r->n; i++) {
        uint8_t *rec = ring_at(r, i);
        arena_free(a, rec, *(bool *)(rec + flag_offset));
    }
    free(r->slot);
    memset(r, 0, sizeof *r);
}

/* --- hash tables --- */

static struct sm_hnode *htab_chain(const struct sm_htab *t, uint64_t hash)
{
    return t->n_buckets != 0 ? t->bucket[hash & (t->n_buckets - 1)] : NULL;
}

/* Room for `extra` more nodes at a load of at most one per bucket. */
static int htab_reserve(struct sm_htab *t, size_t extra)
{
    if (t->n + extra <= t->n_buckets) {
        return AMK_OK;
    }
    size_t nb = t->n_buckets != 0 ? t->n_buckets : 64;
    while (nb < t->n + extra) {
        nb *= 2;
    }
    struct sm_hnode **bucket = calloc(nb, sizeof *bucket);
    if (bucket == NULL) {
        return AMK_ENOMEM;
    }
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct sm_hnode *e = t->bucket[i];
        while (e != NULL) {
            struct sm_hnode *next = e->next;
            e->next = bucket[e->hash & (nb - 1)];
            bucket[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(t->bucket);
    t->bucket = bucket;
    t->n_buckets = nb;
    return AMK_OK;
}

static void htab_insert(struct sm_htab *t, struct sm_hnode *e)
{
    struct sm_hnode **b = &t->bucket[e->hash & (t->n_buckets - 1)];
    e->next = *b;
    *b = e;
    t->n++;
}

static void htab_remove(struct sm_htab *t, struct sm_hnode *e)
{
    struct sm_hnode **p = &t->bucket[e->hash & (t->n_buckets - 1)];
    while (*p != e) {
        p = &(*p)->next;
    }
    *p = e->next;
    t->n--;
}

/* --- records --- */

struct sm_event *sm_event_make(struct sm_logs *l, uint64_t idx,
                               const char *body, size_t len)
{
    if (len > UINT32_MAX - 1) {
        return NULL;
    }
    bool in_arena;
    struct sm_event *e =
        arena_alloc(&l->event_arena, sizeof *e + len + 1, &in_arena);
    if (e == NULL) {
        return NULL;
    }
    e->in_arena = in_arena;
    e->idx = idx;
    e->len = (uint32_t)len;
    memcpy(e->body, body, len);
    e->body[len] = '\0';
    return e;
}

/* Packs n strings into text (each NUL-terminated), filling off[]. */
static void pack(char *text, uint32_t *off, unsigned n,
                 const char *const field[], const size_t len[])
{
    uint32_t at = 0;
    for (unsigned i = 0; i < n; i++) {
        off[i] = at;
        if (len[i] > 0) {
            memcpy(text + at, field[i], len[i]);
        }
        at += (uint32_t)len[i];
        text[at++] = '\0';
    }
}

static size_t packed_len(unsigned n, const char *const field[],
                         const size_t len[])
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        total += len[i] + 1;
        if (field[i] == NULL && len[i] != 0) {
            return SIZE_MAX;
        }
    }
    return total;
}

struct sm_audit *sm_audit_make(struct sm_logs *l, uint64_t idx, int64_t at,
                               uint64_t epoch,
                               const char *const field[SM_AUDIT_FIELDS],
                               const size_t len[SM_AUDIT_FIELDS])
{
    size_t total = packed_len(SM_AUDIT_FIELDS, field, len);
    if (total > UINT32_MAX) {
        return NULL;
    }
    bool in_arena;
    struct sm_audit *a =
        arena_alloc(&l->audit_arena, sizeof *a + total, &in_arena);
    if (a == NULL) {
        return NULL;
    }
    a->in_arena = in_arena;
    a->idx = idx;
    a->at = at;
    a->epoch = epoch;
    a->text_len = (uint32_t)total;
    pack(a->text, a->off, SM_AUDIT_FIELDS, field, len);
    return a;
}

static uint64_t idem_hash(const char *principal, size_t principal_len,
                          const char *key, size_t key_len)
{
    uint64_t h = sm_hash_add(SM_HASH_SEED, principal, principal_len);
    h = sm_hash_add(h, "", 1);
    return sm_hash_add(h, key, key_len);
}

struct sm_idem *sm_idem_make(struct sm_logs *l, uint64_t idx, int64_t at,
                             uint64_t epoch, uint64_t version, int32_t code,
                             uint8_t flags,
                             const char *const field[SM_IDEM_FIELDS],
                             const size_t len[SM_IDEM_FIELDS])
{
    size_t total = packed_len(SM_IDEM_FIELDS, field, len);
    if (total > UINT32_MAX) {
        return NULL;
    }
    bool in_arena;
    struct sm_idem *r =
        arena_alloc(&l->idem_arena, sizeof *r + total, &in_arena);
    if (r == NULL) {
        return NULL;
    }
    memset(&r->node, 0, sizeof r->node);
    r->in_arena = in_arena;
    r->idx = idx;
    r->at = at;
    r->epoch = epoch;
    r->version = version;
    r->code = code;
    r->flags = flags;
    r->text_len = (uint32_t)total;
    pack(r->text, r->off, SM_IDEM_FIELDS, field, len);
    r->node.hash = idem_hash(field[SM_IDEM_PRINCIPAL], len[SM_IDEM_PRINCIPAL],
                             field[SM_IDEM_KEY], len[SM_IDEM_KEY]);
    return r;
}

/* --- the logs --- */

void sm_logs_init(struct sm_logs *l)
{
    memset(l, 0, sizeof *l);
    l->encoded = LOGS_FIXED;
}

static void akeys_free(struct sm_htab *t)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct sm_hnode *e = t->bucket[i];
        while (e != NULL) {
            struct sm_hnode *next = e->next;
            struct sm_akey *k = (struct sm_akey *)e;
            free(k->pos);
            free(k);
            e = next;
        }
    }
    free(t->bucket);
    memset(t, 0, sizeof *t);
}

void sm_logs_free(struct sm_logs *l)
{
    ring_free(&l->events, &l->event_arena, offsetof(struct sm_event, in_arena));
    ring_free(&l->audit, &l->audit_arena, offsetof(struct sm_audit, in_arena));
    ring_free(&l->idem, &l->idem_arena, offsetof(struct sm_idem, in_arena));
    arena_close(&l->event_arena);
    arena_close(&l->audit_arena);
    arena_close(&l->idem_arena);
    free(l->idem_keys.bucket);
    akeys_free(&l->audit_by_object);
    akeys_free(&l->audit_by_actor);
    sm_logs_init(l);
}

static struct sm_akey *akey_find(const struct sm_htab *t, const char *key,
                                 uint64_t hash)
{
    for (struct sm_hnode *e = htab_chain(t, hash); e != NULL; e = e->next) {
        struct sm_akey *k = (struct sm_akey *)e;
        if (e->hash == hash && strcmp(k->key, key) == 0) {
            return k;
        }
    }
    return NULL;
}

/* Removes k from t if it holds no position (all purged, or added for a
 * command that then failed). */
static void akey_drop_if_empty(struct sm_htab *t, struct sm_akey *k)
{
    if (k != NULL && k->start == k->n) {
        htab_remove(t, &k->node);
        free(k->pos);
        free(k);
    }
}

/* The key's entry with room for one more position, added if new. */
static struct sm_akey *akey_reserve(struct sm_htab *t, const char *key)
{
    size_t len = strlen(key);
    uint64_t hash = sm_hash_add(SM_HASH_SEED, key, len);
    struct sm_akey *k = akey_find(t, key, hash);
    if (k == NULL) {
        if (htab_reserve(t, 1) != AMK_OK) {
            return NULL;
        }
        k = calloc(1, sizeof *k + len + 1);
        if (k == NULL) {
            return NULL;
        }
        k->node.hash = hash;
        memcpy(k->key, key, len + 1);
        htab_insert(t, &k->node);
    }
    if (k->n == k->cap && k->start >= k->n / 2 && k->start > 0) {
        /* At least half the room is purged positions: reuse it rather
         * than grow (not for less, or a large key would move its whole
         * array for a few slots at every purge). */
        memmove(k->pos, k->pos + k->start, (k->n - k->start) * sizeof *k->pos);
        k->n -= k->start;
        k->start = 0;
    }
    if (k->n == k->cap) {
        size_t cap = k->cap != 0 ? k->cap * 2 : 4;
        uint64_t *pos = realloc(k->pos, cap * sizeof *pos);
        if (pos == NULL) {
            akey_drop_if_empty(t, k); /* a key added just now */
            return NULL;
        }
        k->pos = pos;
        k->cap = cap;
    }
    return k;
}

int sm_logs_reserve(struct sm_logs *l, struct sm_staged *st)
{
    if (st->event != NULL && ring_reserve(&l->events, 1) != AMK_OK) {
        return AMK_ENOMEM;
    }
    if (st->idem != NULL && (ring_reserve(&l->idem, 1) != AMK_OK ||
                             htab_reserve(&l->idem_keys, 1) != AMK_OK)) {
        return AMK_ENOMEM;
    }
    if (st->audit != NULL) {
        if (ring_reserve(&l->audit, 1) != AMK_OK) {
            return AMK_ENOMEM;
        }
        st->by_object = akey_reserve(
            &l->audit_by_object, sm_audit_field(st->audit, SM_AUDIT_OBJECT));
        st->by_actor = akey_reserve(&l->audit_by_actor,
                                    sm_audit_field(st->audit, SM_AUDIT_ACTOR));
        if (st->by_object == NULL || st->by_actor == NULL) {
            return AMK_ENOMEM;
        }
    }
    return AMK_OK;
}

void sm_logs_publish(struct sm_logs *l, struct sm_staged *st)
{
    if (st->event != NULL) {
        ring_push(&l->events, st->event);
        l->encoded += EVENT_FIXED + st->event->len;
    }
    if (st->audit != NULL) {
        uint64_t pos = l->audit_base + l->audit.n;
        ring_push(&l->audit, st->audit);
        l->encoded += AUDIT_FIXED + st->audit->text_len;
        st->by_object->pos[st->by_object->n++] = pos;
        st->by_actor->pos[st->by_actor->n++] = pos;
    }
    if (st->idem != NULL) {
        ring_push(&l->idem, st->idem);
        htab_insert(&l->idem_keys, &st->idem->node);
        l->encoded += IDEM_FIXED + st->idem->text_len;
    }
    memset(st, 0, sizeof *st);
}

void sm_staged_free(struct sm_logs *l, struct sm_staged *st)
{
    if (st->event != NULL) {
        arena_free(&l->event_arena, st->event, st->event->in_arena);
    }
    if (st->audit != NULL) {
        arena_free(&l->audit_arena, st->audit, st->audit->in_arena);
    }
    if (st->idem != NULL) {
        arena_free(&l->idem_arena, st->idem, st->idem->in_arena);
    }
    /* Keys reserve added for this record and nothing else. */
    akey_drop_if_empty(&l->audit_by_object, st->by_object);
    akey_drop_if_empty(&l->audit_by_actor, st->by_actor);
    memset(st, 0, sizeof *st);
}

/* Drops the oldest position of `key`, which must be `pos` (entries are
 * purged oldest first, and each key's positions are in order); a key left
 * with none is removed. */
static void akey_drop_first(struct sm_htab *t, const char *key, uint64_t pos)
{
    struct sm_akey *k =
        akey_find(t, key, sm_hash_add(SM_HASH_SEED, key, strlen(key)));
    assert(k != NULL && k->start < k->n && k->pos[k->start] == pos);
    (void)pos;
    k->start++;
    akey_drop_if_empty(t, k);
}

void sm_logs_purge(struct sm_logs *l, uint64_t keep_events, uint64_t keep_audit,
                   int64_t idem_before)
{
    while (l->events.n > keep_events) {
        struct sm_event *e = ring_pop(&l->events);
        l->events_purged = e->idx;
        l->encoded -= EVENT_FIXED + e->len;
        arena_free(&l->event_arena, e, e->in_arena);
    }
    while (keep_audit > 0 && l->audit.n > keep_audit) {
        struct sm_audit *a = ring_pop(&l->audit);
        akey_drop_first(&l->audit_by_object, sm_audit_field(a, SM_AUDIT_OBJECT),
                        l->audit_base);
        akey_drop_first(&l->audit_by_actor, sm_audit_field(a, SM_AUDIT_ACTOR),
                        l->audit_base);
        l->audit_base++;
        l->audit_purged = a->idx;
        l->encoded -= AUDIT_FIXED + a->text_len;
        arena_free(&l->audit_arena, a, a->in_arena);
    }
    while (l->idem.n > 0 &&
           ((struct sm_idem *)ring_at(&l->idem, 0))->at < idem_before) {
        struct sm_idem *r = ring_pop(&l->idem);
        htab_remove(&l->idem_keys, &r->node);
        l->encoded -= IDEM_FIXED + r->text_len;
        arena_free(&l->idem_arena, r, r->in_arena);
    }
}

const struct sm_idem *sm_idem_find(const struct sm_logs *l,
                                   const char *principal, size_t principal_len,
                                   const char *key, size_t key_len)
{
    uint64_t hash = idem_hash(principal, principal_len, key, key_len);
    for (struct sm_hnode *e = htab_chain(&l->idem_keys, hash); e != NULL;
         e = e->next) {
        const struct sm_idem *r = (const struct sm_idem *)e;
        const char *p = sm_idem_field(r, SM_IDEM_PRINCIPAL);
        const char *k = sm_idem_field(r, SM_IDEM_KEY);
        if (e->hash == hash && strlen(p) == principal_len &&
            memcmp(p, principal, principal_len) == 0 && strlen(k) == key_len &&
            memcmp(k, key, key_len) == 0) {
            return r;
        }
    }
    return NULL;
}

uint64_t sm_logs_newest_index(const struct sm_logs *l)
{
    uint64_t newest =
        l->events_purged > l->audit_purged ? l->events_purged : l->audit_purged;
    if (l->events.n > 0) {
        const struct sm_event *e = ring_at(&l->events, l->events.n - 1);
        newest = e->idx > newest ? e->idx : newest;
    }
    if (l->audit.n > 0) {
        const struct sm_audit *a = ring_at(&l->audit, l->audit.n - 1);
        newest = a->idx > newest ? a->idx : newest;
    }
    /* Idempotency records are in time order, not index order. */
    for (size_t i = 0; i < l->idem.n; i++) {
        const struct sm_idem *r = ring_at(&l->idem, i);
        newest = r->idx > newest ? r->idx : newest;
    }
    return newest;
}

size_t sm_events_after(const struct sm_logs *l, uint64_t idx)
{
    size_t lo = 0, hi = l->events.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (((const struct sm_event *)ring_at(&l->events, mid))->idx <= idx) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

const struct sm_event *sm_event_at(const struct sm_logs *l, size_t pos)
{
    return pos < l->events.n ? ring_at(&l->events, pos) : NULL;
}

static void audit_json(struct sm_json *o, const struct sm_audit *a)
{
    static const char *const NAME[SM_AUDIT_FIELDS] = {
        [SM_AUDIT_ACTION] = "action",   [SM_AUDIT_ACTOR] = "actor",
        [SM_AUDIT_ROLE] = "role",       [SM_AUDIT_CENTRE] = "centre",
        [SM_AUDIT_CONSOLE] = "console", [SM_AUDIT_SESSION] = "session",
        [SM_AUDIT_OBJECT] = "object",   [SM_AUDIT_OUTCOME] = "outcome",
        [SM_AUDIT_REASON] = "reason",   [SM_AUDIT_IDEM_KEY] = "idempotency_key",
    };
    bool first = true;
    sm_json_add(o, "{", 1);
    sm_json_key(o, &first, "index");
    sm_json_int(o, (int64_t)a->idx);
    sm_json_key(o, &first, "at");
    sm_json_time(o, a->at);
    for (unsigned f = 0; f < SM_AUDIT_FIELDS; f++) {
        if (f == SM_AUDIT_OBJECT) {
            sm_json_key(o, &first, "epoch");
            sm_json_int(o, (int64_t)a->epoch);
        }
        const char *v = sm_audit_field(a, f);
        sm_json_key(o, &first, NAME[f]);
        sm_json_str(o, v, strlen(v));
    }
    sm_json_add(o, "}", 1);
}

/* First i in pos[0..n) whose audit entry has index > since. */
static size_t first_after(const struct sm_logs *l, const uint64_t *pos,
                          size_t n, uint64_t since)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t p = pos != NULL ? pos[mid] - l->audit_base : mid;
        if (((const struct sm_audit *)ring_at(&l->audit, p))->idx <= since) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void sm_audit_page(const struct sm_logs *l, const char *object,
                   const char *actor, uint64_t since, unsigned limit,
                   struct sm_json *o, bool *more, uint64_t *last)
{
    *more = false;
    *last = since;
    /* Walk the shorter list that applies; check the other filter. */
    const uint64_t *pos = NULL;
    size_t n = l->audit.n;
    const struct sm_akey *keys[2] = {NULL, NULL};
    const char *want[2] = {object, actor};
    const struct sm_htab *tab[2] = {&l->audit_by_object, &l->audit_by_actor};
    for (int k = 0; k < 2; k++) {
        if (want[k] == NULL) {
            continue;
        }
        keys[k] =
            akey_find(tab[k], want[k],
                      sm_hash_add(SM_HASH_SEED, want[k], strlen(want[k])));
        if (keys[k] == NULL) {
            return;
        }
        if (pos == NULL || keys[k]->n - keys[k]->start < n) {
            pos = keys[k]->pos + keys[k]->start;
            n = keys[k]->n - keys[k]->start;
        }
    }
    unsigned written = 0;
    for (size_t i = first_after(l, pos, n, since); i < n; i++) {
        const struct sm_audit *a =
            ring_at(&l->audit, pos != NULL ? pos[i] - l->audit_base : i);
        if ((object != NULL &&
             strcmp(sm_audit_field(a, SM_AUDIT_OBJECT), object) != 0) ||
            (actor != NULL &&
             strcmp(sm_audit_field(a, SM_AUDIT_ACTOR), actor) != 0)) {
            continue;
        }
        if (written == limit) {
            *more = true;
            return;
        }
        if (written++ > 0) {
            sm_json_add(o, ",", 1);
        }
        audit_json(o, a);
        *last = a->idx;
    }
}

/* --- snapshot form --- */

size_t sm_logs_size(const struct sm_logs *l)
{
    return l->encoded;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    sm_le_put(p, v, 8);
    return p + 8;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    sm_le_put(p, v, 4);
    return p + 4;
}

static uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

void sm_logs_encode(const struct sm_logs *l, int64_t last_time_ms, uint8_t *out)
{
    uint8_t *p = put64(out, (uint64_t)last_time_ms);
    p = put64(p, l->events_purged);
    p = put64(p, l->audit_purged);
    p = put64(p, l->events.n);
    for (size_t i = 0; i < l->events.n; i++) {
        const struct sm_event *e = ring_at(&l->events, i);
        p = put64(p, e->idx);
        p = put32(p, e->len);
        p = put_bytes(p, e->body, e->len);
    }
    p = put64(p, l->audit.n);
    for (size_t i = 0; i < l->audit.n; i++) {
        const struct sm_audit *a = ring_at(&l->audit, i);
        p = put64(p, a->idx);
        p = put64(p, (uint64_t)a->at);
        p = put64(p, a->epoch);
        p = put32(p, a->text_len);
        p = put_bytes(p, a->text, a->text_len);
    }
    p = put64(p, l->idem.n);
    for (size_t i = 0; i < l->idem.n; i++) {
        const struct sm_idem *r = ring_at(&l->idem, i);
        p = put64(p, r->idx);
        p = put64(p, (uint64_t)r->at);
        p = put64(p, r->epoch);
        p = put64(p, r->version);
        p = put32(p, (uint32_t)r->code);
        *p++ = r->flags;
        p = put32(p, r->text_len);
        p = put_bytes(p, r->text, r->text_len);
    }
}

/* A bounded reader of untrusted bytes: once short, every read fails. */
struct cursor {
    const uint8_t *p;
    size_t left;
    bool short_read;
};

static const uint8_t *get_bytes(struct cursor *c, size_t n)
{
    if (c->short_read || c->left < n) {
        c->short_read = true;
        c->left = 0;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

/* An n-byte integer, 0 once short. */
static uint64_t get_le(struct cursor *c, unsigned n)
{
    const uint8_t *p = get_bytes(c, n);
    return p != NULL ? sm_le_get(p, n) : 0;
}

static uint64_t get64(struct cursor *c)
{
    return get_le(c, 8);
}

static uint32_t get32(struct cursor *c)
{
    return (uint32_t)get_le(c, 4);
}

/* Splits text of len bytes into exactly n NUL-terminated fields. */
static bool unpack(const uint8_t *text, uint32_t len, unsigned n, uint32_t *off)
{
    unsigned f = 0;
    uint32_t start = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (text[i] != '\0') {
            continue;
        }
        if (f == n) {
            return false;
        }
        off[f++] = start;
        start = i + 1;
    }
    return f == n && start == len;
}

/* Reads a log's record count, which must fit in what is left at `fixed`
 * bytes a record (so a forged count cannot ask for a huge ring), and makes
 * room in ring for that many: AMK_OK, AMK_EINVALID naming `what`, or
 * AMK_ENOMEM. */
static int read_count(struct cursor *c, struct sm_ring *ring, size_t fixed,
                      const char *what, uint64_t *n, char *why, size_t why_size)
{
    *n = get64(c);
    if (c->short_read || *n > c->left / fixed) {
        snprintf(why, why_size, "%s count %llu past the end", what,
                 (unsigned long long)*n);
        return AMK_EINVALID;
    }
    return ring_reserve(ring, (size_t)*n) == AMK_OK ? AMK_OK : AMK_ENOMEM;
}

static int decode_events(struct sm_logs *l, struct cursor *c, char *why,
                         size_t why_size)
{
    uint64_t n;
    int rv = read_count(c, &l->events, EVENT_FIXED, "event", &n, why, why_size);
    if (rv != AMK_OK) {
        return rv;
    }
    uint64_t prev = l->events_purged;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t idx = get64(c);
        uint32_t len = get32(c);
        const uint8_t *body = get_bytes(c, len);
        if (body == NULL || idx <= prev || memchr(body, '\0', len) != NULL) {
            snprintf(why, why_size, "event %llu of %llu is damaged",
                     (unsigned long long)i, (unsigned long long)n);
            return AMK_EINVALID;
        }
        struct sm_event *e = sm_event_make(l, idx, (const char *)body, len);
        if (e == NULL) {
            return AMK_ENOMEM;
        }
        ring_push(&l->events, e);
        l->encoded += EVENT_FIXED + len;
        prev = idx;
    }
    return AMK_OK;
}

static int decode_audit(struct sm_logs *l, struct cursor *c, char *why,
                        size_t why_size)
{
    uint64_t n;
    int rv = read_count(c, &l->audit, AUDIT_FIXED, "audit", &n, why, why_size);
    if (rv != AMK_OK) {
        return rv;
    }
    uint64_t prev = l->audit_purged;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t idx = get64(c);
        int64_t at = (int64_t)get64(c);
        uint64_t epoch = get64(c);
        uint32_t len = get32(c);
        const uint8_t *text = get_bytes(c, len);
        uint32_t off[SM_AUDIT_FIELDS];
        if (text == NULL || idx <= prev ||
            !unpack(text, len, SM_AUDIT_FIELDS, off)) {
            snprintf(why, why_size, "audit entry %llu of %llu is damaged",
                     (unsigned long long)i, (unsigned long long)n);
            return AMK_EINVALID;
        }
        const char *field[SM_AUDIT_FIELDS];
        size_t flen[SM_AUDIT_FIELDS];
        for (unsigned f = 0; f < SM_AUDIT_FIELDS; f++) {
            field[f] = (const char *)text + off[f];
            flen[f] = strlen(field[f]);
        }
        struct sm_staged st = {
            .audit = sm_audit_make(l, idx, at, epoch, field, flen),
        };
        if (st.audit == NULL || sm_logs_reserve(l, &st) != AMK_OK) {
            sm_staged_free(l, &st);
            return AMK_ENOMEM;
        }
        sm_logs_publish(l, &st);
        prev = idx;
    }
    return AMK_OK;
}

static int decode_idem(struct sm_logs *l, struct cursor *c, char *why,
                       size_t why_size)
{
    uint64_t n;
    int rv = read_count(c, &l->idem, IDEM_FIXED, "idempotency record", &n, why,
                        why_size);
    if (rv != AMK_OK) {
        return rv;
    }
    if (htab_reserve(&l->idem_keys, (size_t)n) != AMK_OK) {
        return AMK_ENOMEM;
    }
    int64_t prev_at = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t idx = get64(c);
        int64_t at = (int64_t)get64(c);
        uint64_t epoch = get64(c);
        uint64_t version = get64(c);
        int32_t code = (int32_t)get32(c);
        const uint8_t *flags = get_bytes(c, 1);
        uint32_t len = get32(c);
        const uint8_t *text = get_bytes(c, len);
        uint32_t off[SM_IDEM_FIELDS];
        if (text == NULL || at < prev_at || code < 0 || code >= AMK_ENOMEM ||
            !unpack(text, len, SM_IDEM_FIELDS, off)) {
            snprintf(why, why_size,
                     "idempotency record %llu of %llu is damaged",
                     (unsigned long long)i, (unsigned long long)n);
            return AMK_EINVALID;
        }
        const char *field[SM_IDEM_FIELDS];
        size_t flen[SM_IDEM_FIELDS];
        for (unsigned f = 0; f < SM_IDEM_FIELDS; f++) {
            field[f] = (const char *)text + off[f];
            flen[f] = strlen(field[f]);
        }
        if (sm_idem_find(l, field[SM_IDEM_PRINCIPAL], flen[SM_IDEM_PRINCIPAL],
                         field[SM_IDEM_KEY], flen[SM_IDEM_KEY]) != NULL) {
            snprintf(why, why_size, "idempotency key repeated in record %llu",
                     (unsigned long long)i);
            return AMK_EINVALID;
        }
        struct sm_idem *r =
            sm_idem_make(l, idx, at, epoch, version, code, *flags, field, flen);
        if (r == NULL) {
            return AMK_ENOMEM;
        }
        ring_push(&l->idem, r);
        htab_insert(&l->idem_keys, &r->node);
        l->encoded += IDEM_FIXED + r->text_len;
        prev_at = at;
    }
    return AMK_OK;
}

int sm_logs_decode(struct sm_logs *l, const uint8_t *p, size_t len,
                   int64_t *last_time_ms, char *errmsg, size_t errmsg_size)
{
    sm_logs_init(l);
    struct cursor c = {.p = p, .left = len};
    *last_time_ms = (int64_t)get64(&c);
    l->events_purged = get64(&c);
    l->audit_purged = get64(&c);
    char why[160] = "";
    int rv = decode_events(l, &c, why, sizeof why);
    if (rv == AMK_OK) {
        rv = decode_audit(l, &c, why, sizeof why);
    }
    if (rv == AMK_OK) {
        rv = decode_idem(l, &c, why, sizeof why);
    }
    if (rv == AMK_OK && (c.short_read || c.left != 0)) {
        snprintf(why, sizeof why, "%s",
                 c.short_read ? "truncated" : "bytes after the last record");
        rv = AMK_EINVALID;
    }
    if (rv != AMK_OK) {
        snprintf(errmsg, errmsg_size, "snapshot logs: %s",
                 rv == AMK_ENOMEM ? "out of memory" : why);
        sm_logs_free(l);
    }
    return rv;
}
