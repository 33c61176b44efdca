/* sm/snapshot.c: the state machine's snapshot: a versioned header, the
 * serialized SQLite database and the logs kept beside it (sm/logs.h).
 * Restoring checks the header, the database and the logs before it replaces
 * anything, so a bad snapshot leaves the state as it was.
 *
 * Layout (little-endian): "AMKSNAP1" | u32 format (3) | u32 CRC-32 of
 * everything after it | u64 applied index | u64 database length | database
 * bytes | logs (sm_logs_encode). The checksum catches damage PRAGMA
 * quick_check cannot see (a changed value inside a row). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SNAP_MAGIC  "AMKSNAP1"
#define SNAP_FORMAT 3
#define SNAP_HEADER 32

/* CRC-32 (IEEE 802.3, as zlib), a byte at a time through a table. Runs in
 * raft's thread pool (amk_sm_snapshot_seal), never on the loop thread. */
static uint32_t crc32_table[256];

static void crc32_init_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        }
        crc32_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc32_init_table);
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc = crc32_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

/* Makes db's main database a memdb image (a copy of `image`, or empty). */
static int memdb_attach(sqlite3 *db, const void *image, size_t len)
{
    /* SQLite owns the buffer from here on, even when deserialize fails
     * (FREEONCLOSE). */
    size_t alloc = len > 4096 ? len : 4096;
    unsigned char *copy = sqlite3_malloc64(alloc);
    if (copy == NULL) {
        return SQLITE_NOMEM;
    }
    if (len > 0) {
        memcpy(copy, image, len);
    }
    int rv = sqlite3_deserialize(
        db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)alloc,
        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rv != SQLITE_OK) {
        return rv;
    }
    /* memdb stops growing at 1 GiB unless told otherwise; a node that hit
     * it would fail commands its peers apply. */
    sqlite3_int64 limit = INT64_C(1) << 50;
    return sqlite3_file_control(db, "main", SQLITE_FCNTL_SIZE_LIMIT, &limit);
}

int sm_db_open(sqlite3 **out, const void *image, size_t len, char *errmsg,
               size_t errmsg_size)
{
    sqlite3 *db = NULL;
    const char *step = "open";
    int rv = sqlite3_open_v2(
        ":memory:", &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rv == SQLITE_OK) {
        step = "deserialize";
        rv = memdb_attach(db, image, len);
    }
    /* Fixed settings: the database image must depend only on the commands
     * applied, never on the build's defaults. secure_delete must be ON:
     * with it off, freed and reused pages keep stale bytes, and which
     * bytes depends on what is in the pager's cache, so a restored node's
     * image drifts from its peers' (test_determinism). page_size and
     * auto_vacuum belong to the database file: set on a fresh one, carried
     * by an image. */
    if (rv == SQLITE_OK) {
        step = "configure";
        rv = sqlite3_exec(db,
                          "PRAGMA locking_mode=EXCLUSIVE; PRAGMA "
                          "journal_mode=MEMORY; PRAGMA secure_delete=ON;"
                          " PRAGMA foreign_keys=OFF;"
                          " PRAGMA recursive_triggers=OFF;",
                          NULL, NULL, NULL);
    }
    if (rv == SQLITE_OK && image == NULL) {
        rv = sqlite3_exec(db, "PRAGMA page_size=4096; PRAGMA auto_vacuum=NONE;",
                          NULL, NULL, NULL);
    }
    if (rv != SQLITE_OK) {
        snprintf(errmsg, errmsg_size, "%s: %s", step,
                 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rv));
        sqlite3_close(db);
        *out = NULL;
        return rv;
    }
    *out = db;
    return SQLITE_OK;
}

/* Where a snapshot's bytes go: an anonymous mapping with transparent huge
 * pages asked for, kept for the next snapshot when given back with
 * amk_sm_snapshot_recycle. The copy is made on the loop thread, and first
 * touching fresh pages is most of its cost on this machine kind: a 277 MB
 * image took ~780 ms into fresh malloc'd memory and a few tens of ms into
 * a mapping already touched (docs/performance.md). The mapping's size is
 * kept in its first bytes, before what the caller sees. */
#define MAP_PREFIX 64

static size_t mapping_size(const void *buf)
{
    size_t size;
    memcpy(&size, (const uint8_t *)buf - MAP_PREFIX, sizeof size);
    return size;
}

static void *snapshot_map(struct amk_sm *sm, size_t len)
{
    if (sm->snap_spare != NULL && mapping_size(sm->snap_spare) >= len) {
        void *buf = sm->snap_spare;
        sm->snap_spare = NULL;
        return buf;
    }
    sm_snapshot_spare_free(sm);
    /* A quarter more than asked: the next snapshot is usually larger. */
    size_t size = MAP_PREFIX + len + len / 4;
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
    memcpy(p, &size, sizeof size);
    return p + MAP_PREFIX;
}

void amk_sm_snapshot_free(void *buf, size_t len)
{
    (void)len;
    if (buf != NULL) {
        munmap((uint8_t *)buf - MAP_PREFIX, mapping_size(buf));
    }
}

void amk_sm_snapshot_recycle(struct amk_sm *sm, void *buf, size_t len)
{
    if (buf == NULL) {
        return;
    }
    if (sm->snap_spare != NULL &&
        mapping_size(sm->snap_spare) >= mapping_size(buf)) {
        amk_sm_snapshot_free(buf, len);
        return;
    }
    sm_snapshot_spare_free(sm);
    sm->snap_spare = buf;
}

void sm_snapshot_spare_free(struct amk_sm *sm)
{
    amk_sm_snapshot_free(sm->snap_spare, 0);
    sm->snap_spare = NULL;
}

/* Copies the database image, after `header` bytes, into a snapshot
 * mapping or a malloc'd buffer (one memcpy of memdb's buffer), and the logs
 * after it. *db_len is the image's length. */
static int serialize(struct amk_sm *sm, size_t header, bool mapped, void **buf,
                     size_t *len, size_t *db_len)
{
    sqlite3_int64 size = 0;
    unsigned char *image =
        sqlite3_serialize(sm->db, "main", &size, SQLITE_SERIALIZE_NOCOPY);
    if (image == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "serialize: the database is not a memdb image");
        return AMK_EINTERNAL;
    }
    size_t total = header + (size_t)size + sm_logs_size(&sm->logs);
    uint8_t *out = mapped ? snapshot_map(sm, total) : malloc(total);
    if (out == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: out of memory (%zu bytes)", total);
        return AMK_ENOMEM;
    }
    memset(out, 0, header);
    memcpy(out + header, image, (size_t)size);
    sm_logs_encode(&sm->logs, sm->last_time_ms, out + header + (size_t)size);
    *buf = out;
    *len = total;
    *db_len = (size_t)size;
    return AMK_OK;
}

int amk_sm_serialize(struct amk_sm *sm, void **buf, size_t *len)
{
    size_t db_len;
    int rv = serialize(sm, 0, false, buf, len, &db_len);
    /* The file change counter (bytes 24-27) and version-valid-for / SQLite
     * version (bytes 92-99) of the header say nothing about the content:
     * zero them so equal states compare equal however they were reached
     * (a database that was deserialized from a snapshot keeps the counter
     * it had). */
    if (rv == AMK_OK && db_len >= 100) {
        memset((uint8_t *)*buf + 24, 0, 4);
        memset((uint8_t *)*buf + 92, 0, 8);
    }
    return rv;
}

int amk_sm_snapshot_copy(struct amk_sm *sm, void **buf, size_t *len)
{
    size_t db_len;
    int rv = serialize(sm, SNAP_HEADER, true, buf, len, &db_len);
    if (rv != AMK_OK) {
        return rv;
    }
    uint8_t *p = *buf;
    sm_le_put(p + 16, sm->applied_index, 8);
    sm_le_put(p + 24, db_len, 8);
    return AMK_OK;
}

void amk_sm_snapshot_seal(void *buf, size_t len)
{
    uint8_t *p = buf;
    memcpy(p, SNAP_MAGIC, 8);
    sm_le_put(p + 8, SNAP_FORMAT, 4);
    sm_le_put(p + 12, crc32(p + 16, len - 16), 4);
}

int amk_sm_snapshot(struct amk_sm *sm, void **buf, size_t *len)
{
    int rv = amk_sm_snapshot_copy(sm, buf, len);
    if (rv == AMK_OK) {
        amk_sm_snapshot_seal(*buf, *len);
    }
    return rv;
}

/* Checks that an opened image is a state machine database we understand. */
static int check_image(sqlite3 *db, char *errmsg)
{
    sqlite3_stmt *s = NULL;
    int rv = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, NULL);
    if (rv != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
        snprintf(errmsg, 256, "snapshot: database fails its integrity check");
        sqlite3_finalize(s);
        return AMK_EINVALID;
    }
    sqlite3_finalize(s);
    rv = sqlite3_prepare_v2(db,
                            "SELECT value FROM meta"
                            " WHERE key = 'schema_version'",
                            -1, &s, NULL);
    if (rv != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        snprintf(errmsg, 256, "snapshot: not a state machine database");
        sqlite3_finalize(s);
        return AMK_EINVALID;
    }
    int version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (version != 2) {
        snprintf(errmsg, 256, "snapshot: schema version %d, expected 2",
                 version);
        return AMK_EINVALID;
    }
    return AMK_OK;
}

int amk_sm_restore(struct amk_sm *sm, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (len < SNAP_HEADER || memcmp(p, SNAP_MAGIC, 8) != 0) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: bad magic or truncated header (%zu bytes)", len);
        return AMK_EINVALID;
    }
    uint32_t format = (uint32_t)sm_le_get(p + 8, 4);
    if (format != SNAP_FORMAT) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: format %u, this build reads %u", format,
                 SNAP_FORMAT);
        return AMK_EINVALID;
    }
    if (sm_le_get(p + 12, 4) != crc32(p + 16, len - 16)) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: checksum mismatch (damaged in storage or"
                 " transfer)");
        return AMK_EINVALID;
    }
    uint64_t applied = sm_le_get(p + 16, 8);
    uint64_t db_len = sm_le_get(p + 24, 8);
    if (db_len > len - SNAP_HEADER || db_len == 0) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: header says %llu database bytes, %zu present",
                 (unsigned long long)db_len, len - SNAP_HEADER);
        return AMK_EINVALID;
    }
    struct sm_logs logs;
    int64_t last_time = 0;
    const uint8_t *tail = p + SNAP_HEADER + db_len;
    int rv = sm_logs_decode(&logs, tail, len - SNAP_HEADER - (size_t)db_len,
                            &last_time, sm->errmsg, sizeof sm->errmsg);
    if (rv != AMK_OK) {
        return rv;
    }
    /* The logs are those of the state at `applied`: no record, and no
     * purge marker, can be from a later index. */
    uint64_t newest = sm_logs_newest_index(&logs);
    if (newest > applied) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: its logs mention index %llu, after its applied"
                 " index %llu",
                 (unsigned long long)newest, (unsigned long long)applied);
        sm_logs_free(&logs);
        return AMK_EINVALID;
    }

    sqlite3 *db = NULL;
    char why[200];
    rv = sm_db_open(&db, p + SNAP_HEADER, (size_t)db_len, why, sizeof why);
    if (rv != SQLITE_OK) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "snapshot: %s", why);
        sm_logs_free(&logs);
        /* The first read of the image: a damaged one is bad input, not a
         * local failure. */
        int primary = rv & 0xff;
        return primary == SQLITE_NOMEM ? AMK_ENOMEM
               : primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT
                   ? AMK_EINVALID
                   : AMK_EINTERNAL;
    }
    rv = check_image(db, sm->errmsg);
    if (rv != AMK_OK) {
        sqlite3_close(db);
        sm_logs_free(&logs);
        return rv;
    }
    sm_stmts_finalize(sm);
    sqlite3_close(sm->db);
    sm->db = db;
    sm_actor_cache_clear(sm);
    sm_logs_free(&sm->logs);
    sm->logs = logs;
    sm->applied_index = applied;
    sm->last_time_ms = last_time;
    return AMK_OK;
}
