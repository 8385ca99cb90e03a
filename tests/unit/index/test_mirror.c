/*
 * Unit tests of index/mirror.c and index_probe(): every lock change rewrites
 * the mirror beside the footage (released locks too), a mirror reads back
 * exactly (UTF-8 reasons included), its locks restore into a new index with
 * their ids and are not restored twice, a change no mirror can take is
 * refused, a damaged mirror is reported as such, and the probe tells a
 * healthy, missing, garbage and truncated index apart; a finished export is
 * mirrored and restores with the very manifest and signature.
 */
#include "index/index.h"

#include "common/common.h"
#include "tests/unit/index/index_files.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define S (INT64_C(1000000))

static char dir[64], path[128], path2[128], pool[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vigil-test-mirror-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/index.db", dir);
    snprintf(path2, sizeof(path2), "%s/rebuilt.db", dir);
    snprintf(pool, sizeof(pool), "%s/pool", dir);
    assert_int_equal(mkdir(pool, 0755), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[200];
    index_lock_mirror_set(NULL, 0);
    index_files_remove(path);
    index_files_remove(path2);
    snprintf(p, sizeof(p), "%s/" INDEX_LOCK_MIRROR, pool);
    unlink(p);
    rmdir(pool);
    rmdir(dir);
    return 0;
}

static index_lock make_lock(const char *cam, int64_t a, int64_t b, const char *reason)
{
    index_lock l;
    memset(&l, 0, sizeof(l));
    snprintf(l.camera, sizeof(l.camera), "%s", cam);
    l.start_us = a;
    l.end_us = b;
    snprintf(l.reason, sizeof(l.reason), "%s", reason);
    snprintf(l.created_by, sizeof(l.created_by), "police");
    return l;
}

static void test_mirror_follows_changes_and_restores(void **state)
{
    (void)state;
    index_db *db = NULL;
    const char *dirs[] = {pool};
    index_lock *v = NULL;
    size_t n = 0;
    index_mirror_info info;
    assert_int_equal(index_open(path, &db), 0);
    assert_int_equal(index_lock_mirror_set(dirs, 1), 0);

    index_lock a = make_lock("cam1", 100 * S, 200 * S, "vụ án 2026/118 — cướp giật");
    index_lock b = make_lock("cam2", 300 * S, 400 * S, "case 7");
    assert_int_equal(index_lock_create(path, &a), 0);
    assert_int_equal(index_lock_create(path, &b), 0);
    assert_int_equal(index_lock_release(path, b.id, "admin", "closed"), 0);

    assert_int_equal(index_lock_mirror_read(pool, &v, &n, &info), 0);
    assert_int_equal(n, 2);
    assert_true(info.written_us > 0);
    assert_int_equal(v[0].id, a.id);
    assert_string_equal(v[0].reason, a.reason);
    assert_string_equal(v[0].camera, "cam1");
    assert_true(v[0].start_us == 100 * S && v[0].end_us == 200 * S);
    assert_int_equal(v[0].released_us, 0);
    assert_int_equal(v[1].id, b.id);
    assert_true(v[1].released_us > 0);
    assert_string_equal(v[1].released_by, "admin");

    /* A new index (the old one lost) gets them back, ids and all, once. */
    index_close(&db);
    assert_int_equal(index_open(path2, &db), 0);
    assert_int_equal(index_locks_restore(path2, v, n, "test"), 2);
    assert_int_equal(index_locks_restore(path2, v, n, "test"), 0);
    index_lock *in_force = NULL;
    size_t nf = 0;
    index_retention *rt = NULL;
    assert_int_equal(index_retention_open(path2, &rt), 0);
    assert_int_equal(index_retention_locks(rt, vg_now_us(), &in_force, &nf), 0);
    assert_int_equal(nf, 1); /* the released one stays released */
    assert_int_equal(in_force[0].id, a.id);
    assert_string_equal(in_force[0].reason, a.reason);
    free(in_force);
    index_retention_close(&rt);
    /* Ids go on after the restored ones. */
    index_lock c = make_lock("cam1", 1 * S, 2 * S, "later");
    assert_int_equal(index_lock_create(path2, &c), 0);
    assert_true(c.id > b.id);
    free(v);
    index_close(&db);
}

static void test_exports_mirrored(void **state)
{
    (void)state;
    index_db *db = NULL;
    const char *dirs[] = {pool};
    char *m = NULL, *sig = NULL, p[200];
    assert_int_equal(index_open(path, &db), 0);
    assert_int_equal(index_lock_mirror_set(dirs, 1), 0);
    index_export e;
    memset(&e, 0, sizeof(e));
    snprintf(e.created_by, sizeof(e.created_by), "police");
    snprintf(e.reason, sizeof(e.reason), "vụ án 7");
    e.start_us = 10 * S;
    e.end_us = 20 * S;
    assert_int_equal(index_export_create(path, &e), 0);
    const char *manifest = "{\"export\":1,\"reason\":\"v\\u1ee5 \\u00e1n 7\"}";
    assert_int_equal(index_export_finish(path, e.id, manifest, "c2lnbmF0dXJl"), 0);
    snprintf(p, sizeof(p), "%s/.vigil-exports/%lld.json", pool, (long long)e.id);
    assert_int_equal(access(p, F_OK), 0);
    index_close(&db);

    assert_int_equal(index_open(path2, &db), 0);
    int bad = -1;
    assert_int_equal(index_exports_restore(path2, pool, &bad), 1);
    assert_int_equal(bad, 0);
    assert_int_equal(index_exports_restore(path2, pool, &bad), 0);
    index_export got;
    assert_int_equal(index_export_get(path2, e.id, &got, &m, &sig), 0);
    assert_string_equal(m, manifest);
    assert_string_equal(sig, "c2lnbmF0dXJl");
    assert_string_equal(got.reason, "vụ án 7");
    assert_true(got.start_us == e.start_us && got.end_us == e.end_us);
    free(m);
    free(sig);
    unlink(p);
    snprintf(p, sizeof(p), "%s/.vigil-exports", pool);
    rmdir(p);
    index_close(&db);
}

static void test_unmirrored_change_refused(void **state)
{
    (void)state;
    index_db *db = NULL;
    char gone[160];
    snprintf(gone, sizeof(gone), "%s/not-mounted", dir);
    const char *dirs[] = {gone};
    assert_int_equal(index_open(path, &db), 0);
    assert_int_equal(index_lock_mirror_set(dirs, 1), 0);
    index_lock a = make_lock("cam1", 100 * S, 200 * S, "x");
    assert_true(index_lock_create(path, &a) < 0);
    assert_int_equal(index_lock_mirror_set(NULL, 0), 0);
    int found = 0;
    index_retention *rt = NULL;
    index_lock *v = NULL;
    size_t n = 0;
    assert_int_equal(index_retention_open(path, &rt), 0);
    assert_int_equal(index_retention_locks(rt, vg_now_us(), &v, &n), 0);
    found = (int)n;
    free(v);
    index_retention_close(&rt);
    assert_int_equal(found, 0); /* rolled back */
    index_close(&db);
}

static void test_damaged_mirror(void **state)
{
    (void)state;
    char p[200];
    index_lock *v = NULL;
    size_t n = 0;
    index_mirror_info info;
    assert_int_equal(index_lock_mirror_read(pool, &v, &n, &info), -ENOENT);
    snprintf(p, sizeof(p), "%s/" INDEX_LOCK_MIRROR, pool);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("{\"vigil_locks\":1,\"written_us\":5,\"locks\":[{\"id\":1}]}", f);
    fclose(f);
    assert_int_equal(index_lock_mirror_read(pool, &v, &n, &info), -EBADMSG);
    f = fopen(p, "w");
    fputs("{\"vigil_lo", f);
    fclose(f);
    assert_int_equal(index_lock_mirror_read(pool, &v, &n, &info), -EBADMSG);
    assert_null(v);
}

static void test_probe(void **state)
{
    (void)state;
    char why[256];
    index_db *db = NULL;
    assert_int_equal(index_probe(path, why, sizeof(why)), -ENOENT);
    assert_int_equal(index_open(path, &db), 0);
    for (int i = 0; i < 2000; i++)
        index_event_add(db, i * S, "cam1", "online", "a detail long enough to fill some pages");
    assert_int_equal(index_flush(db), 0);
    index_close(&db);
    assert_int_equal(index_probe(path, why, sizeof(why)), 0);

    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    assert_int_equal(index_probe(path, why, sizeof(why)), -EBADMSG);
    assert_non_null(strstr(why, "truncated"));

    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    char junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (char)(i * 7 + 3);
    assert_int_equal(write(fd, junk, sizeof(junk)), (int)sizeof(junk));
    close(fd);
    assert_int_equal(index_probe(path, why, sizeof(why)), -EBADMSG);
    assert_non_null(strstr(why, "not an SQLite database"));
    /* The probe changed nothing. */
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, (off_t)sizeof(junk));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mirror_follows_changes_and_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exports_mirrored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmirrored_change_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_mirror, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
