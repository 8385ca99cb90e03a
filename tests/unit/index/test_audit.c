/*
 * Unit tests of index/audit.c: schema v3 carries the audit table, rows queued
 * through the writer and written directly (vigilctl) both land, listing by
 * range, camera and limit, and an index older than v3 is refused clearly.
 * The hash chain: rows from both writers chain, a row edited or removed in the
 * SQLite file is named by index_audit_verify(), rows of an index older than
 * the chain are chained by its migration, and rows the writer could not store
 * are counted.
 */
#include "index/index.h"
#include "index/index_internal.h"

#include "common/common.h"
#include "tests/unit/index/index_files.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include <cmocka.h>

#define S (INT64_C(1000000))

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vigil-test-audit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/index.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    index_files_remove(path);
    rmdir(dir);
    return 0;
}

typedef struct rows {
    index_audit a[16];
    int n;
} rows;

static int collect(const index_audit *a, void *arg)
{
    rows *r = arg;
    if (r->n < 16) r->a[r->n++] = *a;
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    index_db *db = NULL;
    assert_int_equal(index_open(path, &db), 0);
    index_audit a;
    index_audit_fill(&a, "police", "clip", "cam1", 100 * S, 160 * S, "{\"bytes\":1234}");
    a.time_us = 1000 * S;
    index_audit_add(db, &a);
    index_audit_fill(&a, "ops", "config_reload", NULL, 0, 0, "added 1, removed 0");
    a.time_us = 1001 * S;
    index_audit_add(db, &a);
    assert_int_equal(index_flush(db), 0);

    index_audit_fill(&a, "local", "lock_create", "cam2", 5 * S, 6 * S, "");
    a.time_us = 1002 * S;
    assert_int_equal(index_audit_add_direct(path, &a), 0);

    rows r = {.n = 0};
    assert_int_equal(index_audit_list(path, NULL, INT64_MIN, INT64_MAX, 0, collect, &r), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.a[0].token, "police");
    assert_string_equal(r.a[0].action, "clip");
    assert_string_equal(r.a[0].camera, "cam1");
    assert_true(r.a[0].start_us == 100 * S && r.a[0].end_us == 160 * S);
    assert_string_equal(r.a[0].detail, "{\"bytes\":1234}");
    assert_string_equal(r.a[1].action, "config_reload");
    assert_string_equal(r.a[1].camera, "");
    assert_true(r.a[1].start_us == 0 && r.a[1].end_us == 0);
    assert_string_equal(r.a[2].token, "local");

    r.n = 0;
    assert_int_equal(index_audit_list(path, "cam1", INT64_MIN, INT64_MAX, 0, collect, &r), 0);
    assert_int_equal(r.n, 1);
    r.n = 0;
    assert_int_equal(index_audit_list(path, NULL, 1001 * S, 1002 * S, 0, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.a[0].token, "ops");
    r.n = 0; /* limit keeps the newest, listed oldest first */
    assert_int_equal(index_audit_list(path, NULL, INT64_MIN, INT64_MAX, 2, collect, &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.a[0].token, "ops");
    assert_string_equal(r.a[1].token, "local");

    /* The console's filters: who, action, and paging back by id. */
    index_audit_filter f = {.token = "ops", .start_us = INT64_MIN, .end_us = INT64_MAX};
    r.n = 0;
    assert_int_equal(index_audit_query(path, &f, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.a[0].action, "config_reload");
    f = (index_audit_filter){.action = "lock_create", .camera = "", .start_us = INT64_MIN,
                             .end_us = INT64_MAX};
    r.n = 0;
    assert_int_equal(index_audit_query(path, &f, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.a[0].token, "local");
    f = (index_audit_filter){.start_us = INT64_MIN, .end_us = INT64_MAX, .limit = 1};
    r.n = 0;
    assert_int_equal(index_audit_query(path, &f, collect, &r), 0);
    assert_int_equal(r.n, 1);
    f.before_id = r.a[0].id; /* the page before: the next newest */
    r.n = 0;
    assert_int_equal(index_audit_query(path, &f, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.a[0].token, "ops");
    f = (index_audit_filter){.token = "ops", .action = "clip", .start_us = INT64_MIN,
                             .end_us = INT64_MAX};
    r.n = 0;
    assert_int_equal(index_audit_query(path, &f, collect, &r), 0);
    assert_int_equal(r.n, 0);
    index_close(&db);
}

static void test_old_schema(void **state)
{
    (void)state;
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
    assert_int_equal(sqlite3_exec(c, "CREATE TABLE x(a); PRAGMA user_version = 2", 0, 0, 0),
                     SQLITE_OK);
    sqlite3_close(c);
    index_audit a;
    index_audit_fill(&a, "local", "lock_create", "cam2", 0, 0, "");
    assert_int_equal(index_audit_add_direct(path, &a), -EPROTONOSUPPORT);
    assert_int_equal(index_audit_add_direct("/nonexistent/dir/index.db", &a) < 0, 1);
}


/* Runs sql on a connection of its own (the way someone with the file would). */
static void raw_exec(const char *sql)
{
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    char *err = NULL;
    int rc = sqlite3_exec(c, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) print_error("%s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(c);
}

/* The hash column of row id, as stored. */
static void stored_hash(int64_t id, const char *col, uint8_t out[32])
{
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT %s FROM audit WHERE id = %lld", col, (long long)id);
    assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st, 0), 32);
    memcpy(out, sqlite3_column_blob(st, 0), 32);
    sqlite3_finalize(st);
    sqlite3_close(c);
}

static void add_row(index_db *db, const char *who, const char *action, const char *camera,
                    int64_t s, int64_t e, const char *detail)
{
    index_audit a;
    index_audit_fill(&a, who, action, camera, s, e, detail);
    index_audit_add(db, &a);
}

static void test_chain_verify(void **state)
{
    (void)state;
    index_db *db = NULL;
    index_audit_check c;
    uint8_t head[32];
    assert_int_equal(index_open(path, &db), 0);
    assert_int_equal(index_audit_verify(path, &c), 0); /* empty: holds */
    assert_true(c.rows == 0 && c.broken_id == 0);
    add_row(db, "police", "clip", "cam1", 100 * S, 160 * S, "{\"bytes\":1234}");
    add_row(db, "ops", "config_reload", NULL, 0, 0, "added 1");
    add_row(db, "ioc", "snapshot", "cam2", 7 * S, 7 * S, "{\"note\":\"Ngã tư Đồi Ngô\"}");
    assert_int_equal(index_flush(db), 0);
    index_audit a; /* vigilctl, while the daemon runs */
    index_audit_fill(&a, "local", "lock_create", "cam2", 5 * S, 6 * S, "{\"reason\":\"case 17\"}");
    assert_int_equal(index_audit_add_direct(path, &a), 0);
    add_row(db, "police", "export", "cam1", 100 * S, 160 * S, "{\"export\":3}");
    add_row(db, "", "auth_failed", NULL, 0, 0, "{\"address\":\"127.0.0.1\"}");
    assert_int_equal(index_flush(db), 0);
    index_close(&db);

    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.rows, 6);
    assert_int_equal(c.broken_id, 0);
    stored_hash(6, "hash", head);
    assert_memory_equal(c.head, head, 32);
    uint8_t prev[32], zero[32] = {0};
    stored_hash(1, "prev_hash", prev);
    assert_memory_equal(prev, zero, 32);
    stored_hash(4, "prev_hash", prev); /* the direct row follows the writer's */
    stored_hash(3, "hash", head);
    assert_memory_equal(prev, head, 32);

    /* An edit in the file is named, and only the edit: put back, it holds. */
    raw_exec("UPDATE audit SET detail = '{\"bytes\":1}' WHERE id = 2");
    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.broken_id, 2);
    assert_non_null(strstr(c.problem, "changed"));
    raw_exec("UPDATE audit SET detail = 'added 1' WHERE id = 2");
    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.broken_id, 0);
    /* So is a range taken off a row (NULL is not 0), and a token renamed. */
    raw_exec("UPDATE audit SET start_us = NULL, end_us = NULL WHERE id = 3");
    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.broken_id, 3);
    raw_exec("UPDATE audit SET start_us = 7000000, end_us = 7000000 WHERE id = 3");
    raw_exec("UPDATE audit SET token = 'ops' WHERE id = 5");
    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.broken_id, 5);
    raw_exec("UPDATE audit SET token = 'police' WHERE id = 5");
    /* A removed row: the one after it no longer follows. */
    raw_exec("DELETE FROM audit WHERE id = 4");
    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.broken_id, 5);
    assert_non_null(strstr(c.problem, "removed"));
    assert_int_equal(c.rows, 4);
    /* The first rows removed: the new first row does not start the chain. */
    raw_exec("DELETE FROM audit WHERE id <= 2");
    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.broken_id, 3);
}

/* An index from before the chain: its rows are chained by the migration. */
static void test_chain_migration(void **state)
{
    (void)state;
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
    assert_int_equal(index__migrate_to(c, path, INDEX__AUDIT_CHAIN_VERSION - 1), 0);
    assert_int_equal(
        sqlite3_exec(c,
                     "INSERT INTO audit (time_us, token, action, camera, start_us, end_us, detail) "
                     "VALUES (1, 'police', 'clip', 'cam1', 10, 20, '{}'), "
                     "(2, 'ops', 'config_reload', '', NULL, NULL, 'added 1'), "
                     "(3, 'local', 'lock_create', 'cam1', 10, 20, '')",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(c);
    index_audit_check chk;
    assert_int_equal(index_audit_verify(path, &chk), -EPROTONOSUPPORT);
    index_audit a;
    index_audit_fill(&a, "local", "lock_create", "cam2", 0, 0, "");
    assert_int_equal(index_audit_add_direct(path, &a), -EPROTONOSUPPORT);

    index_db *db = NULL;
    assert_int_equal(index_open(path, &db), 0);
    add_row(db, "police", "clip", "cam1", 30 * S, 40 * S, "{}");
    assert_int_equal(index_flush(db), 0);
    index_close(&db);
    assert_int_equal(index_audit_verify(path, &chk), 0);
    assert_int_equal(chk.rows, 4);
    assert_int_equal(chk.broken_id, 0);
    raw_exec("UPDATE audit SET time_us = 5 WHERE id = 1");
    assert_int_equal(index_audit_verify(path, &chk), 0);
    assert_int_equal(chk.broken_id, 1);
}

/* Rows the writer could not store are counted, and the chain has no hole. */
static void test_dropped(void **state)
{
    (void)state;
    index_db *db = NULL;
    assert_int_equal(index_open(path, &db), 0);
    add_row(db, "police", "clip", "cam1", 1 * S, 2 * S, "{}");
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_audit_dropped(db), 0);
    raw_exec("CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'no'); END");
    add_row(db, "police", "clip", "cam1", 3 * S, 4 * S, "{}");
    add_row(db, "police", "snapshot", "cam1", 5 * S, 5 * S, "{}");
    index_event_add(db, 6 * S, "cam1", "online", "");
    assert_true(index_flush(db) < 0);
    assert_int_equal(index_audit_dropped(db), 2);
    raw_exec("DROP TRIGGER refuse");
    add_row(db, "police", "clip", "cam1", 7 * S, 8 * S, "{}");
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_audit_dropped(db), 2);
    index_close(&db);
    index_audit_check c;
    assert_int_equal(index_audit_verify(path, &c), 0);
    assert_int_equal(c.rows, 2);
    assert_int_equal(c.broken_id, 0);
}

int main(void)
{
    vg_log_set_level(LOG_CRIT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
