/*
 * Unit tests of index/audit.c: schema v3 carries the audit table, rows queued
 * through the writer and written directly (vigilctl) both land, listing by
 * range, camera and limit, and an index older than v3 is refused clearly.
 */
#include "index/index.h"

#include "common/common.h"

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
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < VG_ARRAY_SIZE(suffixes); i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
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

int main(void)
{
    vg_log_set_level(LOG_CRIT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_schema, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
