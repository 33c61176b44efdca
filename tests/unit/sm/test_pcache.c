/* tests/unit/sm/test_pcache.c: the page-cache layer of sm/pcache.c skips
 * only truncations that cannot drop a page. Page splits that park a page at
 * the pending-byte page number, rollbacks that shrink the database and
 * savepoints inside a transaction must all leave a sound database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sm/internal.h"

static sqlite3 *open_db(void)
{
    sm_sqlite_configure();
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "PRAGMA journal_mode=MEMORY; PRAGMA page_size=4096;"
                     " CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL)"
                     " WITHOUT ROWID;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    return db;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void assert_sound(sqlite3 *db)
{
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
}

/* Inserts n rows of 600 bytes of `fill` in scattered key order, one
 * transaction each: many splits, many of them reordering siblings. */
static void insert_filled(sqlite3 *db, unsigned first, unsigned n, char fill)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO t VALUES (?1,"
                                        " printf('%.600c', ?2))",
                                        -1, &s, NULL),
                     SQLITE_OK);
    char fill_text[2] = {fill, '\0'};
    sqlite3_bind_text(s, 2, fill_text, -1, SQLITE_TRANSIENT);
    for (unsigned i = first; i < first + n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%08u", (i * 7919u) % 100003u);
        sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
}

static void insert_scattered(sqlite3 *db, unsigned first, unsigned n)
{
    insert_filled(db, first, n, 'x');
}

static void test_installed(void **state)
{
    (void)state;
    assert_true(sm_pcache_installed());
}

static void test_splits_keep_database_sound(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    insert_scattered(db, 0, 3000);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 3000);
    assert_sound(db);
    sqlite3_close(db);
}

/* A rolled-back transaction that grew the database shrinks it again: the
 * cache must drop the pages past the end, or the next transaction would
 * find stale pages there. */
static void test_rollback_that_shrinks(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    insert_scattered(db, 0, 500);
    int64_t pages = query_int(db, "PRAGMA page_count");
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    insert_scattered(db, 500, 1500);
    assert_true(query_int(db, "PRAGMA page_count") > pages);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(query_int(db, "PRAGMA page_count"), pages);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 500);
    assert_sound(db);
    /* The pages past the end are reused, with their new contents. */
    insert_scattered(db, 2000, 1000);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 1500);
    assert_sound(db);
    sqlite3_close(db);
}

/* The same committed writes give the same image, whether or not a
 * rolled-back transaction grew the database in between: pages past the end
 * must not keep the rolled-back bytes (determinism across nodes). */
static void test_rollback_leaves_no_stale_bytes(void **state)
{
    (void)state;
    sqlite3 *a = open_db();
    sqlite3 *b = open_db();
    assert_int_equal(
        sqlite3_exec(a, "PRAGMA secure_delete=ON", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(b, "PRAGMA secure_delete=ON", NULL, NULL, NULL),
        SQLITE_OK);
    insert_filled(a, 0, 300, 'x');
    insert_filled(b, 0, 300, 'x');
    assert_int_equal(sqlite3_exec(a, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    insert_filled(a, 300, 1500, 'R');
    assert_int_equal(sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    /* Fewer rows than were rolled back: the end of the file is where
     * the rolled-back pages were. */
    insert_filled(a, 5000, 200, 'y');
    insert_filled(b, 5000, 200, 'y');
    sqlite3_int64 len_a, len_b;
    unsigned char *img_a = sqlite3_serialize(a, "main", &len_a, 0);
    unsigned char *img_b = sqlite3_serialize(b, "main", &len_b, 0);
    assert_non_null(img_a);
    assert_non_null(img_b);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(img_a, img_b, (size_t)len_a);
    sqlite3_free(img_a);
    sqlite3_free(img_b);
    sqlite3_close(a);
    sqlite3_close(b);
}

/* The state machine's shape: a savepoint per command, some rolled back
 * after they wrote. */
static void test_savepoint_rollbacks(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    for (unsigned round = 0; round < 40; round++) {
        assert_int_equal(sqlite3_exec(db, "SAVEPOINT cmd", NULL, NULL, NULL),
                         SQLITE_OK);
        insert_scattered(db, round * 100, 100);
        if (round % 3 == 0) {
            assert_int_equal(
                sqlite3_exec(db, "ROLLBACK TO cmd", NULL, NULL, NULL),
                SQLITE_OK);
        }
        assert_int_equal(sqlite3_exec(db, "RELEASE cmd", NULL, NULL, NULL),
                         SQLITE_OK);
    }
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 26 * 100);
    assert_sound(db);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed),
        cmocka_unit_test(test_splits_keep_database_sound),
        cmocka_unit_test(test_rollback_that_shrinks),
        cmocka_unit_test(test_rollback_leaves_no_stale_bytes),
        cmocka_unit_test(test_savepoint_rollbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
