/* raft/fsm.c: canonical/raft's struct raft_fsm over the state machine, with
 * the guard against 0.15 committing earlier-term entries by counting replicas
 * (Raft paper §5.4.2 and Figure 8; upstream canonical/raft #220; DESIGN.md
 * "known defects" 1). */
#include "raft/fsm.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Snapshot wire format, version 1 (all integers little-endian):
 *   u8[8] magic "AMKRFSM1"   u32 format   u32 n_deferred
 *   n_deferred x (u64 index   u64 term   u32 len   u8[len] entry)
 *   u64 sm_len   u8[sm_len] amk_sm_snapshot() bytes
 * and nothing after. */
#define SNAPSHOT_MAGIC       "AMKRFSM1"
#define SNAPSHOT_MAGIC_SIZE  8
#define SNAPSHOT_FORMAT      1u
#define SNAPSHOT_HEADER_SIZE (SNAPSHOT_MAGIC_SIZE + 4 + 4)
#define DEFERRED_HEADER_SIZE (8 + 8 + 4)
#define SM_LEN_SIZE          8

/* --- Errors -------------------------------------------------------------- */

/* The one translation from this layer's codes (sm/error.h) to raft's, for
 * what the fsm callbacks return to canonical/raft. */
static int raft_code_of(int amk_code)
{
    switch (amk_code) {
        case AMK_OK:
            return 0;
        case AMK_ENOMEM:
            return RAFT_NOMEM;
        case AMK_ETOOLARGE:
            return RAFT_TOOBIG;
        case AMK_EINTERNAL:
            return RAFT_IOERR; /* SQLite is the storage under sm */
        default:
            return RAFT_MALFORMED;
    }
}

static void set_errmsg(struct amk_raft_fsm *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_errmsg(struct amk_raft_fsm *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->errmsg, sizeof f->errmsg, fmt, ap);
    va_end(ap);
}

/* The state machine refused to process a committed entry (SQLite failure,
 * out of memory, index not increasing). Every peer applies this entry, so
 * skipping it or retrying it later would leave this node's state different
 * from theirs with nothing to tell; and canonical/raft 0.15 has no way for an
 * FSM to stop the node cleanly from inside apply. Stop the process loudly:
 * the service manager restarts it, and the restart rebuilds state from the
 * snapshot and log. */
static void fatal(struct amk_raft_fsm *f, uint64_t index, int rv)
    __attribute__((noreturn));

static void fatal(struct amk_raft_fsm *f, uint64_t index, int rv)
{
    fprintf(stderr,
            "amk raft fsm: FATAL: cannot apply committed entry %" PRIu64
            ": %s: %s; stopping so this node cannot diverge from its peers\n",
            index, amk_code_name(rv), amk_sm_errmsg(f->sm));
    fflush(stderr);
    abort();
}

/* --- Deferred entries ---------------------------------------------------- */

static void deferred_free(struct amk_raft_fsm_deferred *deferred, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        raft_free(deferred[i].buf);
    }
    raft_free(deferred);
}

/* Makes room for `need` entries in *list (capacity *cap). On failure returns
 * RAFT_NOMEM or RAFT_TOOMANY with errmsg set and changes nothing. */
static int reserve(struct amk_raft_fsm *f, struct amk_raft_fsm_deferred **list,
                   unsigned *cap, unsigned need, const char *what)
{
    struct amk_raft_fsm_deferred *grown;
    unsigned want = *cap == 0 ? 8 : *cap;

    if (need <= *cap) {
        return 0;
    }
    if (need > AMK_RAFT_FSM_MAX_DEFERRED) {
        set_errmsg(f, "more than %u %s entries", AMK_RAFT_FSM_MAX_DEFERRED,
                   what);
        return RAFT_TOOMANY;
    }
    while (want < need) {
        want *= 2;
    }
    if (want > AMK_RAFT_FSM_MAX_DEFERRED) {
        want = AMK_RAFT_FSM_MAX_DEFERRED;
    }
    grown = raft_realloc(*list, want * sizeof *grown);
    if (grown == NULL) {
        set_errmsg(f, "out of memory growing the %s list", what);
        return RAFT_NOMEM;
    }
    *list = grown;
    *cap = want;
    return 0;
}

/* A raft_malloc'd copy of buf (raft_malloc(0) may return NULL: at least one
 * byte), or NULL with errmsg set. */
static void *copy_entry(struct amk_raft_fsm *f, uint64_t index,
                        const struct raft_buffer *buf)
{
    void *copy = raft_malloc(buf->len > 0 ? buf->len : 1);
    if (copy == NULL) {
        set_errmsg(f, "out of memory copying entry %" PRIu64, index);
        return NULL;
    }
    if (buf->len > 0) {
        memcpy(copy, buf->base, buf->len);
    }
    return copy;
}

/* Appends a copy of the entry to the deferred list. On failure returns
 * RAFT_NOMEM or RAFT_TOOMANY and changes nothing. */
static int defer(struct amk_raft_fsm *f, uint64_t index, uint64_t term,
                 const struct raft_buffer *buf)
{
    struct amk_raft_fsm_deferred *d;
    void *copy;
    int rv;

    rv = reserve(f, &f->deferred, &f->cap_deferred, f->n_deferred + 1,
                 "deferred");
    if (rv != 0) {
        return rv;
    }
    copy = copy_entry(f, index, buf);
    if (copy == NULL) {
        return RAFT_NOMEM;
    }
    d = &f->deferred[f->n_deferred++];
    d->index = index;
    d->term = term;
    d->buf = copy;
    d->len = buf->len;
    f->n_deferred_total++;
    return 0;
}

/* Queues the deferred entries, then a copy of this one, for
 * amk_raft_fsm_drain(), in index order. On failure returns RAFT_NOMEM or
 * RAFT_TOOMANY and changes nothing. */
static int pend(struct amk_raft_fsm *f, uint64_t index, uint64_t term,
                const struct raft_buffer *buf)
{
    struct amk_raft_fsm_deferred *d;
    void *copy;
    unsigned i;
    int rv;

    rv = reserve(f, &f->pending, &f->cap_pending,
                 f->n_pending + f->n_deferred + 1, "pending");
    if (rv != 0) {
        return rv;
    }
    copy = copy_entry(f, index, buf);
    if (copy == NULL) {
        return RAFT_NOMEM;
    }
    for (i = 0; i < f->n_deferred; i++) {
        f->pending[f->n_pending++] = f->deferred[i]; /* takes the copy */
    }
    f->n_deferred = 0;
    d = &f->pending[f->n_pending++];
    d->index = index;
    d->term = term;
    d->buf = copy;
    d->len = buf->len;
    return 0;
}

/* Applies one entry (header term `term`) to sm, or stops the process (see
 * fatal()). Afterwards f->last holds its result. */
static void apply_one(struct amk_raft_fsm *f, uint64_t index, uint64_t term,
                      const void *buf, size_t len)
{
    int rv;

    amk_sm_result_clear(&f->last);
    rv = amk_sm_apply(f->sm, index, buf, len, &f->last);
    if (rv != 0) {
        fatal(f, index, rv);
    }
    if (f->applied_cb != NULL) {
        f->applied_cb(f->applied_data, &f->last);
    }
    if (f->result_cb != NULL) {
        f->result_cb(f->result_data, index, term, &f->last);
    }
}

/* Applies every deferred entry, in index order, and empties the list. */
static void flush_deferred(struct amk_raft_fsm *f)
{
    unsigned i;

    for (i = 0; i < f->n_deferred; i++) {
        struct amk_raft_fsm_deferred *d = &f->deferred[i];
        apply_one(f, d->index, d->term, d->buf, d->len);
        raft_free(d->buf);
        d->buf = NULL;
    }
    f->n_deferred = 0;
}

/* --- raft_fsm callbacks -------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    struct amk_raft_fsm *f = fsm->data;
    uint64_t index;
    uint64_t term;
    uint64_t current_term;
    int rv;

    if (f->raft == NULL) {
        fprintf(stderr, "amk raft fsm: FATAL: apply before "
                        "amk_raft_fsm_bind()\n");
        abort();
    }
    /* 0.15 (src/replication.c, replicationApply/applyCommand) advances
     * last_applied only after fsm->apply returns, so the entry being applied
     * is the next one. */
    index = raft_last_applied(f->raft) + 1;
    current_term = f->raft->current_term;
    if (f->n_deferred > 0 && index <= f->deferred[f->n_deferred - 1].index) {
        set_errmsg(f, "entry %" PRIu64 " not after deferred entry %" PRIu64,
                   index, f->deferred[f->n_deferred - 1].index);
        fprintf(stderr, "amk raft fsm: FATAL: %s\n", f->errmsg);
        abort();
    }

    /* An entry whose header cannot be read has no trustworthy term: treat it
     * as the oldest possible, so it waits like any earlier-term entry (it is
     * still applied, and rejected by sm, in its turn). */
    if (amk_cmd_peek(buf->base, buf->len, &term, NULL) != 0) {
        term = 0;
    }

    /* §5.4.2: only an entry of the leader's current term is committed by
     * counting replicas; an earlier-term entry is committed only once an
     * entry of the current term after it is. 0.15 skips that check, so an
     * earlier-term entry raft hands us may still be replaced (Figure 8):
     * hold it until an entry of our current term is applied. */
    if (term < current_term && f->current_term_applied != current_term) {
        rv = defer(f, index, term, buf);
        if (rv != 0) {
            /* Nothing changed, and 0.15 leaves last_applied where it was and
             * offers this entry again on its next apply pass: on a leader at
             * the next AppendEntries result, on a follower only once the
             * commit index moves again (checked with raft_fixture). Safe,
             * but an idle follower lags until the next write. */
            return rv;
        }
        *result = NULL;
        return 0;
    }

    /* canonical/raft 0.15 applies what a follower learns is committed before
     * it answers the AppendEntries that brought new entries
     * (src/replication.c, appendFollowerCb: replicationApply, then
     * sendAppendEntriesResult), so every commit round waited for a follower
     * to apply the previous batch (~3 ms for 64 writes). A follower queues
     * the entry, and the node applies the queue once raft returns, after
     * the answer is sent (amk_raft_fsm_drain). Nobody waits on a follower's
     * result; its reads wait for amk_raft_fsm_applied_index(). */
    if (f->apply_later && raft_state(f->raft) == RAFT_FOLLOWER) {
        rv = pend(f, index, term, buf);
        if (rv != 0) {
            return rv; /* nothing changed: 0.15 offers it again later */
        }
        *result = NULL;
    } else {
        amk_raft_fsm_drain(f);
        flush_deferred(f);
        apply_one(f, index, term, buf->base, buf->len);
        *result = &f->last;
    }
    /* A header term above ours is not one an honest leader writes (entries
     * reach us only from leaders of terms we have seen); it counts as
     * current, which is what we would have to believe of it anyway. */
    if (term >= current_term) {
        f->current_term_applied = current_term;
    }
    return 0;
}

static void put_u32(uint8_t **p, uint32_t v)
{
    unsigned i;
    for (i = 0; i < 4; i++) {
        (*p)[i] = (uint8_t)(v >> (8 * i));
    }
    *p += 4;
}

static void put_u64(uint8_t **p, uint64_t v)
{
    unsigned i;
    for (i = 0; i < 8; i++) {
        (*p)[i] = (uint8_t)(v >> (8 * i));
    }
    *p += 8;
}

/* A snapshot is two buffers, which raft stores one after the other and
 * hands back to fsm_restore as one: [0] the header, the deferred entries
 * and sm_len (raft_malloc'd), [1] the state machine's snapshot (mapped by
 * sm). On the loop thread, fsm_snapshot only copies: the deferred entries
 * and the database image (one memcpy, sm/snapshot.c). The checksum over
 * the image, the expensive part, is computed by fsm_snapshot_async in
 * raft's thread pool (fsm version 3), or here when the raft_io cannot run
 * work off the loop. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct amk_raft_fsm *f = fsm->data;
    struct raft_buffer *out;
    void *sm_buf;
    size_t sm_len;
    size_t size;
    uint8_t *p;
    unsigned i;
    int rv;

    /* raft snapshots at its last_applied: queued entries are part of it. */
    amk_raft_fsm_drain(f);
    rv = amk_sm_snapshot_copy(f->sm, &sm_buf, &sm_len);
    if (rv != 0) {
        set_errmsg(f, "snapshot: sm: %s", amk_sm_errmsg(f->sm));
        rv = raft_code_of(rv);
        goto err;
    }
    if (f->fsm.snapshot_async == NULL) {
        amk_sm_snapshot_seal(sm_buf, sm_len);
    }

    size = SNAPSHOT_HEADER_SIZE + SM_LEN_SIZE;
    for (i = 0; i < f->n_deferred; i++) {
        size_t entry = DEFERRED_HEADER_SIZE + f->deferred[i].len;
        if (f->deferred[i].len > UINT32_MAX || size > SIZE_MAX - entry) {
            set_errmsg(f, "snapshot: deferred entry %" PRIu64 " too large",
                       f->deferred[i].index);
            rv = RAFT_TOOBIG;
            goto err_after_sm_snapshot;
        }
        size += entry;
    }

    out = raft_calloc(2, sizeof *out);
    if (out == NULL) {
        set_errmsg(f, "snapshot: out of memory");
        rv = RAFT_NOMEM;
        goto err_after_sm_snapshot;
    }
    out[0].base = raft_malloc(size);
    if (out[0].base == NULL) {
        set_errmsg(f, "snapshot: out of memory (%zu bytes)", size);
        rv = RAFT_NOMEM;
        goto err_after_out_alloc;
    }
    out[0].len = size;

    p = out[0].base;
    memcpy(p, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_SIZE);
    p += SNAPSHOT_MAGIC_SIZE;
    put_u32(&p, SNAPSHOT_FORMAT);
    put_u32(&p, f->n_deferred);
    for (i = 0; i < f->n_deferred; i++) {
        const struct amk_raft_fsm_deferred *d = &f->deferred[i];
        put_u64(&p, d->index);
        put_u64(&p, d->term);
        put_u32(&p, (uint32_t)d->len);
        if (d->len > 0) {
            memcpy(p, d->buf, d->len);
            p += d->len;
        }
    }
    put_u64(&p, sm_len);
    out[1].base = sm_buf;
    out[1].len = sm_len;

    *bufs = out;
    *n_bufs = 2;
    return 0;

err_after_out_alloc:
    raft_free(out);
err_after_sm_snapshot:
    amk_sm_snapshot_free(sm_buf, sm_len);
err:
    return rv;
}

/* Version 3: raft's thread pool, after fsm_snapshot and before the
 * snapshot is stored. Touches only the state machine's copy. */
static int fsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                              unsigned *n_bufs)
{
    (void)fsm;
    if (*bufs == NULL || *n_bufs != 2) {
        return RAFT_INVALID;
    }
    amk_sm_snapshot_seal((*bufs)[1].base, (*bufs)[1].len);
    return 0;
}

/* Version 2: raft calls this once it is done with what fsm_snapshot returned
 * (stored or failed), and leaves freeing it to us. */
static int fsm_snapshot_finalize(struct raft_fsm *fsm,
                                 struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct amk_raft_fsm *f = fsm->data;

    if (*bufs == NULL) {
        return 0;
    }
    if (*n_bufs >= 1) {
        raft_free((*bufs)[0].base);
    }
    if (*n_bufs >= 2) {
        amk_sm_snapshot_recycle(f->sm, (*bufs)[1].base, (*bufs)[1].len);
    }
    raft_free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* A bounds-checked reader over an untrusted buffer (dqlite's struct cursor):
 * every read checks the bytes left first. */
struct cursor {
    const uint8_t *p;
    size_t left;
};

static int cursor_u32(struct cursor *c, uint32_t *v)
{
    unsigned i;
    if (c->left < 4) {
        return -1;
    }
    *v = 0;
    for (i = 0; i < 4; i++) {
        *v |= (uint32_t)c->p[i] << (8 * i);
    }
    c->p += 4;
    c->left -= 4;
    return 0;
}

static int cursor_u64(struct cursor *c, uint64_t *v)
{
    unsigned i;
    if (c->left < 8) {
        return -1;
    }
    *v = 0;
    for (i = 0; i < 8; i++) {
        *v |= (uint64_t)c->p[i] << (8 * i);
    }
    c->p += 8;
    c->left -= 8;
    return 0;
}

/* Decodes the deferred list of a snapshot into *out (raft_malloc'd, n
 * entries) and leaves c at the sm snapshot. Returns 0, or RAFT_MALFORMED /
 * RAFT_NOMEM with f->errmsg naming the field; on error nothing is left
 * allocated. */
static int decode_deferred(struct amk_raft_fsm *f, struct cursor *c,
                           struct amk_raft_fsm_deferred **out, unsigned *n)
{
    struct amk_raft_fsm_deferred *deferred = NULL;
    uint32_t format;
    uint32_t count;
    uint32_t i;
    uint64_t prev_index = 0;
    int rv;

    *out = NULL;
    *n = 0;
    if (c->left < SNAPSHOT_MAGIC_SIZE ||
        memcmp(c->p, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_SIZE) != 0) {
        set_errmsg(f, "snapshot: bad magic (not an AMKRFSM1 snapshot)");
        return RAFT_MALFORMED;
    }
    c->p += SNAPSHOT_MAGIC_SIZE;
    c->left -= SNAPSHOT_MAGIC_SIZE;
    if (cursor_u32(c, &format) != 0) {
        set_errmsg(f, "snapshot: truncated in field format");
        return RAFT_MALFORMED;
    }
    if (format != SNAPSHOT_FORMAT) {
        set_errmsg(f,
                   "snapshot: unknown format %" PRIu32 " (this node reads %u)",
                   format, SNAPSHOT_FORMAT);
        return RAFT_MALFORMED;
    }
    if (cursor_u32(c, &count) != 0) {
        set_errmsg(f, "snapshot: truncated in field n_deferred");
        return RAFT_MALFORMED;
    }
    /* Never allocate by a claimed count: each entry needs at least its
     * header in the bytes that are actually there. */
    if (count > AMK_RAFT_FSM_MAX_DEFERRED ||
        count > (c->left - (c->left < SM_LEN_SIZE ? c->left : SM_LEN_SIZE)) /
                    DEFERRED_HEADER_SIZE) {
        set_errmsg(f,
                   "snapshot: n_deferred %" PRIu32
                   " exceeds the limit or the %zu bytes left",
                   count, c->left);
        return RAFT_MALFORMED;
    }
    if (count > 0) {
        deferred = raft_calloc(count, sizeof *deferred);
        if (deferred == NULL) {
            set_errmsg(
                f, "snapshot: out of memory for %" PRIu32 " deferred entries",
                count);
            return RAFT_NOMEM;
        }
    }
    for (i = 0; i < count; i++) {
        struct amk_raft_fsm_deferred *d = &deferred[i];
        uint32_t len;
        if (cursor_u64(c, &d->index) != 0 || cursor_u64(c, &d->term) != 0 ||
            cursor_u32(c, &len) != 0) {
            set_errmsg(f, "snapshot: deferred entry %" PRIu32 " truncated", i);
            rv = RAFT_MALFORMED;
            goto err;
        }
        if (d->index <= prev_index) {
            set_errmsg(f,
                       "snapshot: deferred entry %" PRIu32 ": index %" PRIu64
                       " not after %" PRIu64,
                       i, d->index, prev_index);
            rv = RAFT_MALFORMED;
            goto err;
        }
        prev_index = d->index;
        if (len > c->left) {
            set_errmsg(f,
                       "snapshot: deferred entry %" PRIu32 ": len %" PRIu32
                       " exceeds the %zu bytes left",
                       i, len, c->left);
            rv = RAFT_MALFORMED;
            goto err;
        }
        d->buf = raft_malloc(len > 0 ? len : 1);
        if (d->buf == NULL) {
            set_errmsg(f, "snapshot: out of memory for deferred entry %" PRIu32,
                       i);
            rv = RAFT_NOMEM;
            goto err;
        }
        if (len > 0) {
            memcpy(d->buf, c->p, len);
        }
        d->len = len;
        c->p += len;
        c->left -= len;
    }
    *out = deferred;
    *n = count;
    return 0;

err:
    /* calloc left the buf of entries not reached NULL. */
    deferred_free(deferred, count);
    return rv;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct amk_raft_fsm *f = fsm->data;
    struct cursor c = {buf->base, buf->len};
    struct amk_raft_fsm_deferred *deferred;
    unsigned n_deferred;
    uint64_t sm_len;
    int rv;

    if (buf->base == NULL && buf->len > 0) {
        set_errmsg(f, "snapshot: no data");
        return RAFT_MALFORMED;
    }
    rv = decode_deferred(f, &c, &deferred, &n_deferred);
    if (rv != 0) {
        goto err;
    }
    if (cursor_u64(&c, &sm_len) != 0) {
        set_errmsg(f, "snapshot: truncated in field sm_len");
        rv = RAFT_MALFORMED;
        goto err_after_decode;
    }
    if (sm_len != c.left) {
        set_errmsg(f, "snapshot: sm_len %" PRIu64 " but %zu bytes follow",
                   sm_len, c.left);
        rv = RAFT_MALFORMED;
        goto err_after_decode;
    }
    /* amk_sm_restore leaves sm unchanged on error, and it is the last step
     * that can fail: from here on nothing else can. */
    rv = amk_sm_restore(f->sm, c.p, (size_t)sm_len);
    if (rv != 0) {
        set_errmsg(f, "snapshot: sm: %s", amk_sm_errmsg(f->sm));
        rv = raft_code_of(rv);
        goto err_after_decode;
    }

    deferred_free(f->deferred, f->n_deferred);
    f->deferred = deferred;
    f->n_deferred = n_deferred;
    f->cap_deferred = n_deferred;
    /* Queued entries are at or below the snapshot's index: superseded. */
    deferred_free(f->pending, f->n_pending);
    f->pending = NULL;
    f->n_pending = 0;
    f->cap_pending = 0;
    /* Whatever this node applied of its current term is gone with the old
     * state: defer earlier-term entries again until the next one. */
    f->current_term_applied = 0;
    amk_sm_result_clear(&f->last);

    /* canonical/raft 0.15 (src/snapshot.c, snapshotRestore) hands us the
     * buffer on success and frees it itself only when restore fails. */
    raft_free(buf->base);
    buf->base = NULL;
    buf->len = 0;
    return 0;

err_after_decode:
    deferred_free(deferred, n_deferred);
err:
    return rv;
}

/* --- Public -------------------------------------------------------------- */

int amk_raft_fsm_init(struct amk_raft_fsm *f, struct amk_sm *sm)
{
    memset(f, 0, sizeof *f);
    f->sm = sm;
    f->fsm.version = 2;
    f->fsm.data = f;
    f->fsm.apply = fsm_apply;
    f->fsm.snapshot = fsm_snapshot;
    f->fsm.restore = fsm_restore;
    f->fsm.snapshot_finalize = fsm_snapshot_finalize;
    f->fsm.snapshot_async = NULL; /* until amk_raft_fsm_bind */
    return 0;
}

void amk_raft_fsm_close(struct amk_raft_fsm *f)
{
    deferred_free(f->deferred, f->n_deferred);
    f->deferred = NULL;
    f->n_deferred = 0;
    f->cap_deferred = 0;
    deferred_free(f->pending, f->n_pending);
    f->pending = NULL;
    f->n_pending = 0;
    f->cap_pending = 0;
    amk_sm_result_clear(&f->last);
}

void amk_raft_fsm_bind(struct amk_raft_fsm *f, struct raft *raft)
{
    f->raft = raft;
    /* Version 3 needs raft_io's async_work (raft_uv has it; a test io may
     * not): without it the checksum stays on the loop thread. */
    if (raft != NULL && raft->io != NULL && raft->io->version >= 2 &&
        raft->io->async_work != NULL) {
        f->fsm.version = 3;
        f->fsm.snapshot_async = fsm_snapshot_async;
    } else {
        f->fsm.version = 2;
        f->fsm.snapshot_async = NULL;
    }
}

void amk_raft_fsm_on_applied(struct amk_raft_fsm *f, amk_raft_fsm_applied_cb cb,
                             void *data)
{
    f->applied_cb = cb;
    f->applied_data = data;
}

void amk_raft_fsm_apply_later(struct amk_raft_fsm *f, bool on)
{
    f->apply_later = on;
}

void amk_raft_fsm_drain(struct amk_raft_fsm *f)
{
    unsigned i;
    if (f->draining) {
        return; /* from a callback of the drain itself */
    }
    f->draining = true;
    for (i = 0; i < f->n_pending; i++) {
        struct amk_raft_fsm_deferred *d = &f->pending[i];
        apply_one(f, d->index, d->term, d->buf, d->len);
        raft_free(d->buf);
        d->buf = NULL;
    }
    f->n_pending = 0;
    f->draining = false;
}

uint64_t amk_raft_fsm_applied_index(const struct amk_raft_fsm *f,
                                    uint64_t raft_applied)
{
    uint64_t applied = raft_applied;
    if (f->n_pending > 0 && f->pending[0].index - 1 < applied) {
        applied = f->pending[0].index - 1;
    }
    if (f->n_deferred > 0 && f->deferred[0].index - 1 < applied) {
        applied = f->deferred[0].index - 1;
    }
    return applied;
}

void amk_raft_fsm_on_result(struct amk_raft_fsm *f, amk_raft_fsm_result_cb cb,
                            void *data)
{
    f->result_cb = cb;
    f->result_data = data;
}
