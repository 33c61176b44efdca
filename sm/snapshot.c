/* sm/snapshot.c: the state machine's snapshot: a versioned header and the
 * serialized SQLite database. Restoring checks the header and the database
 * before it replaces anything, so a bad snapshot leaves the state as it was.
 *
 * Layout (little-endian): "AMKSNAP1" | u32 format (1) | u32 CRC-32 of
 * everything after it | u64 applied index | u64 database length | database
 * bytes. The checksum catches damage PRAGMA quick_check cannot see (a
 * changed value inside a row). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SNAP_MAGIC  "AMKSNAP1"
#define SNAP_FORMAT 1
#define SNAP_HEADER 32

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* CRC-32 (IEEE 802.3, as zlib), a byte at a time through a table: a
 * snapshot of a few hundred MB is checksummed on the loop thread. */
static uint32_t crc32(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) {
                c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
            }
            table[i] = c;
        }
        ready = true;
    }
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Copies the database image into a malloc'd buffer with room for `header`
 * bytes before it. */
static int serialize(struct amk_sm *sm, size_t header, void **buf, size_t *len)
{
    sqlite3_int64 size = 0;
    unsigned char *image = sqlite3_serialize(sm->db, "main", &size, 0);
    if (image == NULL) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "serialize: out of memory");
        return AMK_ENOMEM;
    }
    uint8_t *out = malloc(header + (size_t)size);
    if (out == NULL) {
        sqlite3_free(image);
        snprintf(sm->errmsg, sizeof sm->errmsg, "snapshot: out of memory");
        return AMK_ENOMEM;
    }
    memcpy(out + header, image, (size_t)size);
    sqlite3_free(image);
    *buf = out;
    *len = header + (size_t)size;
    return AMK_OK;
}

int amk_sm_serialize(struct amk_sm *sm, void **buf, size_t *len)
{
    int rv = serialize(sm, 0, buf, len);
    /* A database that was deserialized from a snapshot maintains the file
     * change counter (bytes 24-27) and version-valid-for / SQLite version
     * (bytes 92-99) of the header on each commit; one that never was leaves
     * them zero. They say nothing about the content: zero them so equal
     * states compare equal however they were reached. */
    if (rv == AMK_OK && *len >= 100) {
        memset((uint8_t *)*buf + 24, 0, 4);
        memset((uint8_t *)*buf + 92, 0, 8);
    }
    return rv;
}

int amk_sm_snapshot(struct amk_sm *sm, void **buf, size_t *len)
{
    int rv = serialize(sm, SNAP_HEADER, buf, len);
    if (rv != AMK_OK) {
        return rv;
    }
    uint8_t *p = *buf;
    memcpy(p, SNAP_MAGIC, 8);
    put_u32(p + 8, SNAP_FORMAT);
    put_u64(p + 16, sm->applied_index);
    put_u64(p + 24, *len - SNAP_HEADER);
    put_u32(p + 12, crc32(p + 16, *len - 16));
    return AMK_OK;
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
    if (version != 1) {
        snprintf(errmsg, 256, "snapshot: schema version %d, expected 1",
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
    uint32_t format = get_u32(p + 8);
    if (format != SNAP_FORMAT) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: format %u, this build reads %u", format,
                 SNAP_FORMAT);
        return AMK_EINVALID;
    }
    if (get_u32(p + 12) != crc32(p + 16, len - 16)) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: checksum mismatch (damaged in storage or"
                 " transfer)");
        return AMK_EINVALID;
    }
    uint64_t applied = get_u64(p + 16);
    uint64_t db_len = get_u64(p + 24);
    if (db_len != len - SNAP_HEADER || db_len == 0) {
        snprintf(sm->errmsg, sizeof sm->errmsg,
                 "snapshot: header says %llu database bytes, %zu present",
                 (unsigned long long)db_len, len - SNAP_HEADER);
        return AMK_EINVALID;
    }

    struct amk_sm fresh;
    memset(&fresh, 0, sizeof fresh);
    int rv = sqlite3_open_v2(
        ":memory:", &fresh.db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rv != SQLITE_OK) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "snapshot: open: %s",
                 sqlite3_errstr(rv));
        sqlite3_close(fresh.db);
        return AMK_EINTERNAL;
    }
    unsigned char *image = sqlite3_malloc64(db_len);
    if (image == NULL) {
        sqlite3_close(fresh.db);
        snprintf(sm->errmsg, sizeof sm->errmsg, "snapshot: out of memory");
        return AMK_ENOMEM;
    }
    memcpy(image, p + SNAP_HEADER, db_len);
    rv = sqlite3_deserialize(
        fresh.db, "main", image, (sqlite3_int64)db_len, (sqlite3_int64)db_len,
        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rv != SQLITE_OK) {
        /* FREEONCLOSE: SQLite owns image even on failure. */
        snprintf(sm->errmsg, sizeof sm->errmsg, "snapshot: deserialize: %s",
                 sqlite3_errmsg(fresh.db));
        sqlite3_close(fresh.db);
        return AMK_EINVALID;
    }
    rv = sqlite3_exec(fresh.db,
                      "PRAGMA journal_mode=MEMORY; PRAGMA secure_delete=ON;",
                      NULL, NULL, NULL);
    if (rv == SQLITE_OK) {
        rv = sm_schema_register_functions(fresh.db);
    }
    if (rv != SQLITE_OK) {
        snprintf(sm->errmsg, sizeof sm->errmsg, "snapshot: configure: %s",
                 sqlite3_errmsg(fresh.db));
        sqlite3_close(fresh.db);
        /* The first read of the image: a damaged one is bad input, not a
         * local failure. */
        return (rv & 0xff) == SQLITE_NOTADB || (rv & 0xff) == SQLITE_CORRUPT
                   ? AMK_EINVALID
                   : AMK_EINTERNAL;
    }
    rv = check_image(fresh.db, sm->errmsg);
    if (rv != AMK_OK) {
        sqlite3_close(fresh.db);
        return rv;
    }
    /* The effective time of the last command is the audit log's last. */
    sqlite3_stmt *s = NULL;
    int64_t last_time = 0;
    if (sqlite3_prepare_v2(fresh.db,
                           "SELECT at FROM audit ORDER BY idx DESC LIMIT 1", -1,
                           &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        last_time = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    sm_stmts_finalize(sm);
    sqlite3_close(sm->db);
    sm->db = fresh.db;
    sm->applied_index = applied;
    sm->last_time_ms = last_time;
    return AMK_OK;
}
