/* tests/unit/raft/test_fsm.c: the FSM adapter (raft/fsm.c) over a real sm and
 * a fake struct raft: earlier-term deferral and flush order, snapshots that
 * carry deferred entries, and restore rejecting bad snapshots unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raft/fsm.h"
#include "unit/raft/helpers.h"

#define MAX_APPLIED 64

struct applied_rec {
    uint64_t index;
    int code;
    bool applied;
};

struct fx {
    struct raft raft; /* fake: only current_term and last_applied are read */
    struct amk_sm *sm;
    struct amk_raft_fsm f;
    struct applied_rec applied[MAX_APPLIED];
    unsigned n_applied;
    const void *param; /* the case of a table-driven test, or NULL */
};

static void on_applied(void *data, const struct amk_sm_result *result)
{
    struct fx *fx = data;
    assert_true(fx->n_applied < MAX_APPLIED);
    fx->applied[fx->n_applied].index = result->index;
    fx->applied[fx->n_applied].code = result->code;
    fx->applied[fx->n_applied].applied = result->applied;
    fx->n_applied++;
}

static void fx_open(struct fx *fx, uint64_t current_term)
{
    char errmsg[256];
    memset(fx, 0, sizeof *fx);
    fx->raft.current_term = current_term;
    assert_int_equal(amk_sm_open(&fx->sm, NULL, errmsg), 0);
    assert_int_equal(amk_raft_fsm_init(&fx->f, fx->sm), 0);
    amk_raft_fsm_bind(&fx->f, &fx->raft);
    amk_raft_fsm_on_applied(&fx->f, on_applied, fx);
}

static void fx_close(struct fx *fx)
{
    amk_raft_fsm_close(&fx->f);
    amk_sm_close(fx->sm);
}

static int setup(void **state)
{
    struct fx *fx = malloc(sizeof *fx);
    assert_non_null(fx);
    fx_open(fx, 4);
    fx->param = *state; /* the prestate, if any */
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    fx_close(fx);
    free(fx);
    return 0;
}

/* Hands buf to the adapter as canonical/raft 0.15 does (the entry is the one
 * after last_applied, which raft advances once apply returns 0), then frees
 * it. Returns apply's return value; *result gets apply's result. */
static int feed(struct fx *fx, struct raft_buffer buf, void **result)
{
    void *res = (void *)1;
    int rv = fx->f.fsm.apply(&fx->f.fsm, &buf, &res);
    if (rv == 0) {
        fx->raft.last_applied++;
    }
    raft_free(buf.base);
    if (result != NULL) {
        *result = res;
    }
    return rv;
}

static void feed_ok(struct fx *fx, struct raft_buffer buf, void **result)
{
    assert_int_equal(feed(fx, buf, result), 0);
}

/* The whole serialized database, for "unchanged" and "identical" checks. */
struct image {
    void *db;
    size_t len;
    uint64_t applied_index;
    unsigned n_deferred;
    uint64_t deferred_index[8];
    uint64_t deferred_term[8];
};

static void image_take(struct fx *fx, struct image *img)
{
    unsigned i;
    memset(img, 0, sizeof *img);
    assert_int_equal(amk_sm_serialize(fx->sm, &img->db, &img->len), 0);
    img->applied_index = amk_sm_applied_index(fx->sm);
    img->n_deferred = fx->f.n_deferred;
    assert_true(img->n_deferred <= 8);
    for (i = 0; i < img->n_deferred; i++) {
        img->deferred_index[i] = fx->f.deferred[i].index;
        img->deferred_term[i] = fx->f.deferred[i].term;
    }
}

/* Bytes of the SQLite file header that record how the file was written,
 * not what it holds: the change counter (24..27), version-valid-for
 * (92..95) and the library version (96..99). SQLite's in-memory pager never
 * writes them, while a database restored with sqlite3_deserialize gets them
 * on its next commit, so two sm with identical content differ there when only
 * one of them was restored from a snapshot. */
static bool header_bookkeeping(size_t offset)
{
    return (offset >= 24 && offset < 28) || (offset >= 92 && offset < 100);
}

static void db_assert_equal(const struct image *a, const struct image *b,
                            bool ignore_bookkeeping)
{
    const uint8_t *x = a->db;
    const uint8_t *y = b->db;
    size_t i;

    assert_int_equal(a->len, b->len);
    if (!ignore_bookkeeping) {
        assert_memory_equal(x, y, a->len);
        return;
    }
    for (i = 0; i < a->len; i++) {
        if (x[i] != y[i] && !header_bookkeeping(i)) {
            fail_msg("databases differ at byte %zu", i);
        }
    }
}

/* Same state; across a restore only the content can be the same. */
static void image_assert_same(const struct image *a, const struct image *b,
                              bool across_restore)
{
    unsigned i;
    assert_int_equal(a->applied_index, b->applied_index);
    db_assert_equal(a, b, across_restore);
    assert_int_equal(a->n_deferred, b->n_deferred);
    for (i = 0; i < a->n_deferred; i++) {
        assert_int_equal(a->deferred_index[i], b->deferred_index[i]);
        assert_int_equal(a->deferred_term[i], b->deferred_term[i]);
    }
}

static void image_assert_equal(const struct image *a, const struct image *b)
{
    image_assert_same(a, b, false);
}

static void image_free(struct image *img)
{
    free(img->db);
    img->db = NULL;
}

/* --- Deferral ------------------------------------------------------------ */

static void test_current_term_applies_at_once(void **state)
{
    struct fx *fx = *state;
    void *result;

    fx->raft.last_applied = 1; /* the bootstrap configuration entry */
    feed_ok(fx, helpers_centre_register("c-a", 4), &result);

    assert_ptr_equal(result, &fx->f.last);
    assert_int_equal(fx->f.last.index, 2);
    assert_int_equal(fx->f.last.code, AMK_OK);
    assert_true(fx->f.last.created);
    assert_int_equal(amk_sm_applied_index(fx->sm), 2);
    assert_int_equal(fx->n_applied, 1);
    assert_int_equal(fx->applied[0].index, 2);
    assert_int_equal(fx->f.n_deferred, 0);
    assert_int_equal(fx->f.n_deferred_total, 0);
    assert_int_equal(fx->f.current_term_applied, 4);
}

static void test_earlier_term_deferred_then_flushed_in_order(void **state)
{
    struct fx *fx = *state;
    void *result;

    fx->raft.last_applied = 1;
    feed_ok(fx, helpers_centre_register("c-a", 2), &result);
    assert_null(result);
    feed_ok(fx, helpers_centre_register("c-b", 3), &result);
    assert_null(result);

    assert_int_equal(fx->f.n_deferred, 2);
    assert_int_equal(fx->f.deferred[0].index, 2);
    assert_int_equal(fx->f.deferred[0].term, 2);
    assert_int_equal(fx->f.deferred[1].index, 3);
    assert_int_equal(fx->f.deferred[1].term, 3);
    assert_int_equal(fx->f.n_deferred_total, 2);
    assert_int_equal(amk_sm_applied_index(fx->sm), 0);
    assert_int_equal(fx->n_applied, 0);

    /* The new leader's no-op commits: everything before it is safe. */
    feed_ok(fx, helpers_noop(4), &result);
    assert_ptr_equal(result, &fx->f.last);
    assert_int_equal(fx->f.last.index, 4);
    assert_int_equal(fx->n_applied, 3);
    assert_int_equal(fx->applied[0].index, 2);
    assert_int_equal(fx->applied[0].code, AMK_OK);
    assert_true(fx->applied[0].applied);
    assert_int_equal(fx->applied[1].index, 3);
    assert_int_equal(fx->applied[1].code, AMK_OK);
    assert_int_equal(fx->applied[2].index, 4);
    assert_int_equal(fx->f.n_deferred, 0);
    assert_int_equal(fx->f.n_deferred_total, 2);
    assert_int_equal(amk_sm_applied_index(fx->sm), 4);

    /* Once the current term has applied, nothing waits any more. */
    feed_ok(fx, helpers_centre_register("c-c", 4), &result);
    assert_ptr_equal(result, &fx->f.last);
    assert_int_equal(amk_sm_applied_index(fx->sm), 5);
}

static void test_term_change_defers_again(void **state)
{
    struct fx *fx = *state;
    void *result;

    fx->raft.last_applied = 1;
    feed_ok(fx, helpers_noop(4), &result);
    assert_int_equal(fx->f.current_term_applied, 4);

    /* This node saw term 5 start; a term-4 entry committed now may have been
     * committed by counting replicas only. */
    fx->raft.current_term = 5;
    feed_ok(fx, helpers_centre_register("c-a", 4), &result);
    assert_null(result);
    assert_int_equal(fx->f.n_deferred, 1);
    assert_int_equal(amk_sm_applied_index(fx->sm), 2);

    feed_ok(fx, helpers_noop(5), &result);
    assert_ptr_equal(result, &fx->f.last);
    assert_int_equal(amk_sm_applied_index(fx->sm), 4);
    assert_int_equal(fx->f.n_deferred, 0);
    assert_int_equal(fx->f.current_term_applied, 5);
}

static void test_unreadable_entry_waits_then_is_rejected(void **state)
{
    struct fx *fx = *state;
    struct raft_buffer junk;
    void *result;

    junk.len = 5;
    junk.base = raft_malloc(junk.len);
    assert_non_null(junk.base);
    memcpy(junk.base, "\xff\xfe\xfd\xfc\xfb", junk.len);

    fx->raft.last_applied = 1;
    feed_ok(fx, junk, &result);
    assert_null(result); /* no readable term: treated as the oldest */
    assert_int_equal(fx->f.n_deferred, 1);
    assert_int_equal(fx->f.deferred[0].term, 0);

    feed_ok(fx, helpers_noop(4), &result);
    assert_int_equal(fx->n_applied, 2);
    assert_int_equal(fx->applied[0].index, 2);
    assert_int_equal(fx->applied[0].code, AMK_EINVALID);
    assert_false(fx->applied[0].applied);
    assert_int_equal(amk_sm_applied_index(fx->sm), 3);
}

/* raft_heap whose allocations fail once `countdown` reaches 0. */
static int heap_countdown;

static void *failing_malloc(void *data, size_t size)
{
    (void)data;
    if (heap_countdown >= 0 && heap_countdown-- == 0) {
        return NULL;
    }
    return malloc(size);
}

static void failing_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

static void *failing_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    if (heap_countdown >= 0 && heap_countdown-- == 0) {
        return NULL;
    }
    return calloc(nmemb, size);
}

static void *failing_realloc(void *data, void *ptr, size_t size)
{
    (void)data;
    if (heap_countdown >= 0 && heap_countdown-- == 0) {
        return NULL;
    }
    return realloc(ptr, size);
}

static struct raft_heap failing_heap = {
    NULL, failing_malloc, failing_free, failing_calloc, failing_realloc,
    NULL, NULL,
};

static void test_defer_out_of_memory_changes_nothing(void **state)
{
    struct fx *fx = *state;
    struct raft_buffer buf;
    void *result;
    int fail_at;

    fx->raft.last_applied = 1;
    /* 0: growing the list fails; 1: copying the entry fails. */
    for (fail_at = 0; fail_at < 2; fail_at++) {
        buf = helpers_centre_register("c-a", 2);
        heap_countdown = fail_at;
        raft_heap_set(&failing_heap);
        result = (void *)1;
        assert_int_equal(fx->f.fsm.apply(&fx->f.fsm, &buf, &result),
                         RAFT_NOMEM);
        raft_heap_set_default();
        raft_free(buf.base);
        assert_int_equal(fx->f.n_deferred, 0);
        assert_int_equal(fx->f.n_deferred_total, 0);
        assert_int_equal(fx->raft.last_applied, 1);
    }

    /* raft offers the same entry again later; now it is deferred. */
    feed_ok(fx, helpers_centre_register("c-a", 2), &result);
    assert_null(result);
    assert_int_equal(fx->f.n_deferred, 1);
    assert_int_equal(fx->f.deferred[0].index, 2);
}

/* --- Snapshots ----------------------------------------------------------- */

/* fx with two applied commands of term 4 and, after the term moved to 5,
 * two deferred term-4 commands. */
static void fill(struct fx *fx)
{
    fx->raft.last_applied = 1;
    feed_ok(fx, helpers_noop(4), NULL);
    feed_ok(fx, helpers_centre_register("c-a", 4), NULL);
    fx->raft.current_term = 5;
    feed_ok(fx, helpers_centre_register("c-b", 4), NULL);
    feed_ok(fx, helpers_centre_register("c-c", 4), NULL);
    assert_int_equal(amk_sm_applied_index(fx->sm), 3);
    assert_int_equal(fx->f.n_deferred, 2);
}

/* Takes a snapshot of fx the way raft does: fsm_snapshot, then (version 3)
 * fsm_snapshot_async, then the buffers stored one after the other, here in
 * one raft_malloc'd buffer, and finalize. */
static void take_snapshot(struct fx *fx, struct raft_buffer *out)
{
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;

    assert_int_equal(fx->f.fsm.snapshot(&fx->f.fsm, &bufs, &n_bufs), 0);
    assert_int_equal(n_bufs, 2);
    if (fx->f.fsm.snapshot_async != NULL) {
        assert_int_equal(fx->f.fsm.snapshot_async(&fx->f.fsm, &bufs, &n_bufs),
                         0);
    }
    *out = helpers_concat(bufs);
    assert_int_equal(fx->f.fsm.snapshot_finalize(&fx->f.fsm, &bufs, &n_bufs),
                     0);
    assert_null(bufs);
    assert_int_equal(n_bufs, 0);
}

static struct raft_buffer copy_buffer(const void *base, size_t len)
{
    struct raft_buffer b;
    b.len = len;
    b.base = raft_malloc(len > 0 ? len : 1);
    assert_non_null(b.base);
    if (len > 0) {
        memcpy(b.base, base, len);
    }
    return b;
}

static void test_snapshot_round_trip_with_deferred(void **state)
{
    struct fx *fx = *state;
    struct fx *other = malloc(sizeof *other);
    struct raft_buffer snap;
    struct image a, b;
    unsigned i;

    assert_non_null(other);
    fill(fx);
    take_snapshot(fx, &snap);

    fx_open(other, 5);
    assert_int_equal(other->f.fsm.restore(&other->f.fsm, &snap), 0);
    /* restore took the buffer and freed it (raft's 0.15 contract). */
    assert_null(snap.base);

    image_take(fx, &a);
    image_take(other, &b);
    image_assert_same(&a, &b, true);
    for (i = 0; i < fx->f.n_deferred; i++) {
        assert_int_equal(other->f.deferred[i].len, fx->f.deferred[i].len);
        assert_memory_equal(other->f.deferred[i].buf, fx->f.deferred[i].buf,
                            fx->f.deferred[i].len);
    }
    image_free(&a);
    image_free(&b);

    /* Both go on identically: the term-5 no-op releases the deferred ones. */
    other->raft.last_applied = fx->raft.last_applied;
    feed_ok(fx, helpers_noop(5), NULL);
    feed_ok(other, helpers_noop(5), NULL);
    assert_int_equal(amk_sm_applied_index(fx->sm), 6);
    image_take(fx, &a);
    image_take(other, &b);
    image_assert_same(&a, &b, true);
    assert_int_equal(a.n_deferred, 0);
    image_free(&a);
    image_free(&b);

    fx_close(other);
    free(other);
}

static void test_restore_resets_current_term_applied(void **state)
{
    struct fx *fx = *state;
    struct fx *other = malloc(sizeof *other);
    struct raft_buffer snap;
    void *result;

    assert_non_null(other);
    fill(fx);
    take_snapshot(fx, &snap);

    fx_open(other, 5);
    other->raft.last_applied = 1;
    feed_ok(other, helpers_noop(5), NULL);
    assert_int_equal(other->f.current_term_applied, 5);
    assert_int_equal(other->f.fsm.restore(&other->f.fsm, &snap), 0);
    assert_int_equal(other->f.current_term_applied, 0);

    /* An earlier-term entry after the snapshot waits again. */
    other->raft.last_applied = fx->raft.last_applied;
    feed_ok(other, helpers_centre_register("c-d", 4), &result);
    assert_null(result);
    assert_int_equal(other->f.n_deferred, 3);

    fx_close(other);
    free(other);
}

/* Little-endian stores into a snapshot being corrupted. */
static void poke_u32(uint8_t *p, uint32_t v)
{
    unsigned i;
    for (i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void poke_u64(uint8_t *p, uint64_t v)
{
    unsigned i;
    for (i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Offsets in the snapshot that fill() produces (see raft/fsm.c). */
#define OFF_FORMAT         8
#define OFF_N_DEFERRED     12
#define OFF_FIRST_DEFERRED 16
#define DEFERRED_HEADER    20

/* Each case turns a good snapshot (buf, *len) into a bad one. */
struct bad_snapshot {
    const char *name;
    void (*corrupt)(uint8_t *buf, size_t *len);
    int expected;
};

static size_t first_entry_len(const uint8_t *buf)
{
    const uint8_t *p = buf + OFF_FIRST_DEFERRED + 16;
    return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
           (size_t)p[3] << 24;
}

static size_t sm_len_offset(const uint8_t *buf)
{
    size_t off = OFF_FIRST_DEFERRED;
    unsigned i;
    for (i = 0; i < 2; i++) {
        const uint8_t *p = buf + off + 16;
        size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
                     (size_t)p[3] << 24;
        off += DEFERRED_HEADER + len;
    }
    return off;
}

static void bad_magic(uint8_t *buf, size_t *len)
{
    (void)len;
    buf[7] = '2';
}

static void bad_format(uint8_t *buf, size_t *len)
{
    (void)len;
    poke_u32(buf + OFF_FORMAT, 2);
}

static void huge_count(uint8_t *buf, size_t *len)
{
    (void)len;
    poke_u32(buf + OFF_N_DEFERRED, UINT32_MAX);
}

static void count_over_bytes(uint8_t *buf, size_t *len)
{
    (void)len;
    poke_u32(buf + OFF_N_DEFERRED, 100000);
}

static void entry_len_over_bytes(uint8_t *buf, size_t *len)
{
    poke_u32(buf + OFF_FIRST_DEFERRED + 16, (uint32_t)*len);
}

static void index_not_increasing(uint8_t *buf, size_t *len)
{
    size_t second = OFF_FIRST_DEFERRED + DEFERRED_HEADER + first_entry_len(buf);
    (void)len;
    poke_u64(buf + second, 4); /* the first is 4 too */
}

static void index_zero(uint8_t *buf, size_t *len)
{
    (void)len;
    poke_u64(buf + OFF_FIRST_DEFERRED, 0);
}

static void sm_len_short(uint8_t *buf, size_t *len)
{
    size_t off = sm_len_offset(buf);
    poke_u64(buf + off, *len - off - 8 - 1);
}

static void sm_len_long(uint8_t *buf, size_t *len)
{
    size_t off = sm_len_offset(buf);
    poke_u64(buf + off, UINT64_MAX);
    (void)len;
}

static void trailing_byte(uint8_t *buf, size_t *len)
{
    buf[*len] = 0; /* the buffer has room for one more */
    (*len)++;
}

static void sm_bytes_corrupt(uint8_t *buf, size_t *len)
{
    size_t off = sm_len_offset(buf) + 8;
    (void)len;
    buf[off] ^= 0xff; /* the sm snapshot's own magic */
}

static void empty(uint8_t *buf, size_t *len)
{
    (void)buf;
    *len = 0;
}

static const struct bad_snapshot bad_magic_case = {"bad magic", bad_magic,
                                                   RAFT_MALFORMED};
static const struct bad_snapshot bad_format_case = {"format 2", bad_format,
                                                    RAFT_MALFORMED};
static const struct bad_snapshot huge_count_case = {"count 2^32-1", huge_count,
                                                    RAFT_MALFORMED};
static const struct bad_snapshot count_over_bytes_case = {
    "count over bytes", count_over_bytes, RAFT_MALFORMED};
static const struct bad_snapshot entry_len_case = {
    "entry len over bytes", entry_len_over_bytes, RAFT_MALFORMED};
static const struct bad_snapshot index_order_case = {
    "index not increasing", index_not_increasing, RAFT_MALFORMED};
static const struct bad_snapshot index_zero_case = {"index 0", index_zero,
                                                    RAFT_MALFORMED};
static const struct bad_snapshot sm_len_short_case = {
    "sm_len short", sm_len_short, RAFT_MALFORMED};
static const struct bad_snapshot sm_len_long_case = {"sm_len huge", sm_len_long,
                                                     RAFT_MALFORMED};
static const struct bad_snapshot trailing_case = {
    "trailing byte", trailing_byte, RAFT_MALFORMED};
static const struct bad_snapshot sm_corrupt_case = {"sm bytes corrupt",
                                                    sm_bytes_corrupt, -1};
static const struct bad_snapshot empty_case = {"empty", empty, RAFT_MALFORMED};

/* The target of a bad restore: state of its own, deferred entries too. */
static struct fx *target_open(void)
{
    struct fx *target = malloc(sizeof *target);
    assert_non_null(target);
    fx_open(target, 5);
    target->raft.last_applied = 1;
    feed_ok(target, helpers_noop(3), NULL);
    feed_ok(target, helpers_noop(5), NULL);
    feed_ok(target, helpers_centre_register("t-a", 5), NULL);
    target->raft.current_term = 6;
    feed_ok(target, helpers_centre_register("t-b", 5), NULL);
    assert_int_equal(target->f.n_deferred, 1);
    return target;
}

/* Restores (base, len) into target and checks it failed with `expected`
 * (-1: any error) and changed nothing. */
static void assert_restore_rejected(struct fx *target, const void *base,
                                    size_t len, int expected)
{
    struct raft_buffer buf = copy_buffer(base, len);
    struct image before, after;
    int rv;

    image_take(target, &before);
    target->f.errmsg[0] = '\0';
    rv = target->f.fsm.restore(&target->f.fsm, &buf);
    if (expected < 0) {
        assert_int_not_equal(rv, 0);
    } else {
        assert_int_equal(rv, expected);
    }
    assert_true(target->f.errmsg[0] != '\0');
    /* On failure raft keeps the buffer and frees it. */
    assert_non_null(buf.base);
    raft_free(buf.base);
    image_take(target, &after);
    image_assert_equal(&before, &after);
    image_free(&before);
    image_free(&after);
}

static void test_restore_bad_snapshot(void **state)
{
    struct fx *fx = *state;
    const struct bad_snapshot *c = fx->param;
    struct raft_buffer snap;
    struct fx *target;
    uint8_t *bad;
    size_t len;

    fill(fx);
    take_snapshot(fx, &snap);

    bad = malloc(snap.len + 1);
    assert_non_null(bad);
    memcpy(bad, snap.base, snap.len);
    len = snap.len;
    c->corrupt(bad, &len);

    target = target_open();
    assert_restore_rejected(target, bad, len, c->expected);
    fx_close(target);
    free(target);
    free(bad);
    raft_free(snap.base);
}

/* Every length through our header, the deferred entries and the sm header,
 * then 64 lengths spread over the database image (checking each of its
 * ~10^5 lengths adds nothing and takes minutes). */
static void test_restore_every_truncation(void **state)
{
    struct fx *fx = *state;
    struct raft_buffer snap;
    struct fx *target;
    size_t dense;
    size_t stride;
    size_t len;

    fill(fx);
    take_snapshot(fx, &snap);
    dense = sm_len_offset(snap.base) + 8 + 32 + 8;
    assert_true(dense < snap.len);
    stride = (snap.len - dense) / 64 + 1;
    target = target_open();
    for (len = 0; len < snap.len; len += len < dense ? 1 : stride) {
        assert_restore_rejected(target, snap.base, len, -1);
    }
    assert_restore_rejected(target, snap.base, snap.len - 1, -1);
    fx_close(target);
    free(target);
    raft_free(snap.base);
}

static void test_restore_out_of_memory_changes_nothing(void **state)
{
    struct fx *fx = *state;
    struct raft_buffer snap;
    struct fx *target;
    int fail_at;

    fill(fx);
    take_snapshot(fx, &snap);
    target = target_open();
    /* 0: the deferred array, 1 and 2: the entries' copies. */
    for (fail_at = 0; fail_at < 3; fail_at++) {
        struct raft_buffer buf = copy_buffer(snap.base, snap.len);
        struct image before, after;
        image_take(target, &before);
        heap_countdown = fail_at;
        raft_heap_set(&failing_heap);
        assert_int_equal(target->f.fsm.restore(&target->f.fsm, &buf),
                         RAFT_NOMEM);
        raft_heap_set_default();
        raft_free(buf.base);
        image_take(target, &after);
        image_assert_equal(&before, &after);
        image_free(&before);
        image_free(&after);
    }
    fx_close(target);
    free(target);
    raft_free(snap.base);
}

static int fake_async_work(struct raft_io *io, struct raft_io_async_work *req,
                           raft_io_async_work_cb cb)
{
    (void)io;
    (void)req;
    (void)cb;
    return RAFT_NOTFOUND; /* never called: raft is not running here */
}

/* With a raft_io that runs work off the loop, the adapter is version 3:
 * fsm_snapshot leaves the state machine's part unsealed (no checksum, which
 * restore refuses) and fsm_snapshot_async seals it. */
static void test_snapshot_async_seals_off_the_loop(void **state)
{
    struct fx *fx = *state;
    struct raft_io io;
    memset(&io, 0, sizeof io);
    io.version = 2;
    io.async_work = fake_async_work;
    fx->raft.io = &io;
    amk_raft_fsm_bind(&fx->f, &fx->raft);
    assert_int_equal(fx->f.fsm.version, 3);
    assert_non_null(fx->f.fsm.snapshot_async);
    fill(fx);

    /* Unsealed: what raft would store if snapshot_async never ran. */
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;
    assert_int_equal(fx->f.fsm.snapshot(&fx->f.fsm, &bufs, &n_bufs), 0);
    assert_int_equal(n_bufs, 2);
    struct raft_buffer unsealed = helpers_concat(bufs);
    assert_int_equal(fx->f.fsm.snapshot_finalize(&fx->f.fsm, &bufs, &n_bufs),
                     0);
    struct fx *other = malloc(sizeof *other);
    assert_non_null(other);
    fx_open(other, 5);
    assert_int_equal(other->f.fsm.restore(&other->f.fsm, &unsealed),
                     RAFT_MALFORMED);
    raft_free(unsealed.base);

    /* Sealed in the "thread pool": restores to the same state. */
    struct raft_buffer snap;
    take_snapshot(fx, &snap);
    assert_int_equal(other->f.fsm.restore(&other->f.fsm, &snap), 0);
    struct image a, b;
    image_take(fx, &a);
    image_take(other, &b);
    image_assert_same(&a, &b, true);
    image_free(&a);
    image_free(&b);
    fx_close(other);
    free(other);
    fx->raft.io = NULL;
}

static void test_snapshot_out_of_memory(void **state)
{
    struct fx *fx = *state;
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;
    int fail_at;

    fill(fx);
    for (fail_at = 0; fail_at < 2; fail_at++) {
        heap_countdown = fail_at;
        raft_heap_set(&failing_heap);
        assert_int_equal(fx->f.fsm.snapshot(&fx->f.fsm, &bufs, &n_bufs),
                         RAFT_NOMEM);
        raft_heap_set_default();
    }
    assert_int_equal(fx->f.n_deferred, 2);
}

#define BAD(c)                                                                 \
    cmocka_unit_test_prestate_setup_teardown(test_restore_bad_snapshot, setup, \
                                             teardown, (void *)&(c))

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_term_applies_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_earlier_term_deferred_then_flushed_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_term_change_defers_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_unreadable_entry_waits_then_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_defer_out_of_memory_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_round_trip_with_deferred,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_restore_resets_current_term_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_async_seals_off_the_loop,
                                        setup, teardown),
        BAD(bad_magic_case),
        BAD(bad_format_case),
        BAD(huge_count_case),
        BAD(count_over_bytes_case),
        BAD(entry_len_case),
        BAD(index_order_case),
        BAD(index_zero_case),
        BAD(sm_len_short_case),
        BAD(sm_len_long_case),
        BAD(trailing_case),
        BAD(sm_corrupt_case),
        BAD(empty_case),
        cmocka_unit_test_setup_teardown(test_restore_every_truncation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_restore_out_of_memory_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_out_of_memory, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
