/* storage/retention.c, storage/reconcile.c and index/locks.c against a real
 * index and real files: quota, age, locks, pins, ENOSPC purge hook, recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "config/config.h"
#include "index/index.h"
#include "storage/storage.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC INT64_C(1000000)
#define T0 (INT64_C(1790000000) * SEC)

static char tmpdir[256];
static char dbpath[PATH_MAX], poolpath[PATH_MAX];

typedef struct fixture {
    config cfg;
    config_pool pool;
    config_camera cams[2];
    index_db *idx;
    storage *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-test-retention-XXXXXX");
    if (!f || !mkdtemp(tmpdir)) return -1;
    snprintf(dbpath, sizeof(dbpath), "%s/index.db", tmpdir);
    snprintf(poolpath, sizeof(poolpath), "%s/pool0", tmpdir);
    f->pool.id = "main";
    f->pool.path = poolpath;
    f->cams[0].id = "cam1";
    f->cams[1].id = "cam2";
    f->cfg.index_path = dbpath;
    f->cfg.pools = &f->pool;
    f->cfg.npools = 1;
    f->cfg.cameras = f->cams;
    f->cfg.ncameras = 2;
    if (index_open(dbpath, &f->idx) < 0) return -1;
    if (storage_open(&f->cfg, f->idx, &f->st) < 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    storage_close(&f->st);
    index_close(&f->idx);
    free(f);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A closed segment of n bytes (not a real MP4: retention does not parse). */
static int64_t make_segment(fixture *f, const char *cam, int64_t start, int64_t end, size_t n)
{
    storage_segment_info info = {.camera = cam, .start_us = start, .run_start_us = start,
                                 .codec = "h264"};
    storage_segment *seg = NULL;
    assert_int_equal(storage_segment_create(f->st, &info, &seg), 0);
    uint8_t *buf = calloc(1, n);
    index_fragment fr = {.flags = 1, .start_us = start, .end_us = end};
    assert_int_equal(storage_segment_append(seg, buf, n, &fr, end), 0);
    free(buf);
    int64_t id = storage_segment_id(seg);
    assert_int_equal(storage_segment_close(&seg, end), 0);
    return id;
}

static int count_cb(const index_segment *s, void *arg)
{
    (void)s;
    (*(int *)arg)++;
    return 0;
}

static int count_segments(const char *cam)
{
    index_reader *r = NULL;
    int n = 0;
    assert_int_equal(index_reader_open(dbpath, &r), 0);
    assert_int_equal(index_query_segments(r, cam, INT64_MIN, INT64_MAX, count_cb, &n), 0);
    index_reader_close(&r);
    return n;
}

static int file_exists(const char *cam, int64_t start)
{
    char rel[512], abs[PATH_MAX + 600];
    storage_segment_relpath(cam, start, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    return access(abs, F_OK) == 0;
}

static void t_quota(void **state)
{
    fixture *f = *state;
    f->pool.max_bytes = 10 * 100000;
    /* 20 segments of 100 kB, both cameras interleaved: 2 MB, twice the quota. */
    for (int i = 0; i < 20; i++)
        make_segment(f, i % 2 ? "cam2" : "cam1", T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC,
                     100000);
    assert_int_equal(index_flush(f->idx), 0);
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    storage_pool_usage u;
    assert_int_equal(storage_retention_pool_usage(rt, "main", &u), 0);
    assert_int_equal(u.used_bytes, 2000000);
    storage_retention_report rep;
    assert_int_equal(storage_retention_run(rt, T0 + 300 * SEC, &rep), 0);
    assert_int_equal(storage_retention_pool_usage(rt, "main", &u), 0);
    assert_true(u.used_bytes <= 950000);
    assert_int_equal(rep.deleted_segments, 11); /* down to 95 %: 9 left */
    /* The oldest went first, across cameras; files and rows agree. */
    assert_false(file_exists("cam1", T0));
    assert_false(file_exists("cam2", T0 + 10 * SEC));
    assert_true(file_exists("cam2", T0 + 19 * 10 * SEC));
    assert_int_equal(count_segments("cam1") + count_segments("cam2"), 9);
    storage_retention_stop(&rt);
}

static int pinned_fn(void *opaque, int64_t id)
{
    return id == *(int64_t *)opaque;
}

static void t_locks_and_pins(void **state)
{
    fixture *f = *state;
    f->pool.max_bytes = 3 * 100000;
    int64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = make_segment(f, "cam1", T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC, 100000);
    assert_int_equal(index_flush(f->idx), 0);
    /* Lock segments 1 and 2 (a range inside them), pin segment 4. */
    index_lock l;
    memset(&l, 0, sizeof(l));
    snprintf(l.camera, sizeof(l.camera), "cam1");
    l.start_us = T0 + 15 * SEC;
    l.end_us = T0 + 25 * SEC;
    snprintf(l.reason, sizeof(l.reason), "case 42 \"robbery\"");
    assert_int_equal(index_lock_create(dbpath, &l), 0);
    assert_true(l.id > 0);
    /* An expired lock does not protect segment 0. */
    index_lock old = l;
    old.start_us = T0;
    old.end_us = T0 + 5 * SEC;
    old.until_us = T0 - SEC;
    assert_int_equal(index_lock_create(dbpath, &old), 0);
    int64_t pin = ids[4];
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    storage_retention_set_pin_check(rt, pinned_fn, &pin);
    storage_retention_report rep;
    assert_int_equal(storage_retention_run(rt, T0 + 200 * SEC, &rep), 0);
    assert_int_equal(rep.skipped_locked, 2);
    assert_int_equal(rep.skipped_pinned, 1);
    assert_false(file_exists("cam1", T0));
    assert_true(file_exists("cam1", T0 + 10 * SEC));
    assert_true(file_exists("cam1", T0 + 20 * SEC));
    assert_true(file_exists("cam1", T0 + 40 * SEC));
    storage_pool_usage u;
    assert_int_equal(storage_retention_pool_usage(rt, "main", &u), 0);
    assert_int_equal(u.used_bytes, 300000); /* only the locked and pinned ones are left */
    /* Release: the locked ones go at the next pass (after unpinning too). */
    assert_int_equal(index_lock_release(dbpath, l.id, "tester", "case closed"), 0);
    assert_int_equal(index_lock_release(dbpath, l.id, "tester", "again"), -EALREADY);
    assert_int_equal(index_lock_release(dbpath, 999, "tester", "x"), -ENOENT);
    pin = 0;
    make_segment(f, "cam1", T0 + 100 * SEC, T0 + 110 * SEC, 100000);
    assert_int_equal(storage_retention_run(rt, T0 + 200 * SEC, &rep), 0);
    assert_false(file_exists("cam1", T0 + 10 * SEC));
    assert_false(file_exists("cam1", T0 + 20 * SEC));
    assert_true(file_exists("cam1", T0 + 40 * SEC));
    assert_true(file_exists("cam1", T0 + 100 * SEC));
    storage_retention_stop(&rt);
}

static int ev_count;
static char ev_types[1024];
static int ev_cb(const index_event *e, void *arg)
{
    (void)arg;
    ev_count++;
    strncat(ev_types, e->type, sizeof(ev_types) - strlen(ev_types) - 2);
    strcat(ev_types, ",");
    return 0;
}

static int lock_count_cb(const index_lock *l, void *arg)
{
    (void)l;
    (*(int *)arg)++;
    return 0;
}

static void t_lock_events_and_list(void **state)
{
    fixture *f = *state;
    (void)f;
    index_lock l;
    memset(&l, 0, sizeof(l));
    snprintf(l.camera, sizeof(l.camera), "cam2");
    l.start_us = T0;
    l.end_us = T0 + SEC;
    assert_int_equal(index_lock_create(dbpath, &l), -EINVAL); /* no reason */
    snprintf(l.reason, sizeof(l.reason), "evidence");
    snprintf(l.created_by, sizeof(l.created_by), "ops-token");
    assert_int_equal(index_lock_create(dbpath, &l), 0);
    assert_int_equal(index_lock_release(dbpath, l.id, NULL, "done"), 0);
    int n = 0;
    assert_int_equal(index_locks_list(dbpath, "cam2", 0, vg_now_us(), lock_count_cb, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(index_locks_list(dbpath, NULL, 1, vg_now_us(), lock_count_cb, &n), 0);
    assert_int_equal(n, 1);
    index_reader *r = NULL;
    assert_int_equal(index_reader_open(dbpath, &r), 0);
    ev_count = 0;
    ev_types[0] = 0;
    assert_int_equal(index_query_events(r, "cam2", INT64_MIN, INT64_MAX, ev_cb, NULL), 0);
    index_reader_close(&r);
    assert_string_equal(ev_types, "lock_created,lock_released,");
}

static void t_age(void **state)
{
    fixture *f = *state;
    f->cams[0].retention_days = 1;
    f->cams[1].retention_days = 0; /* unlimited */
    int64_t now = T0 + 3 * 86400 * SEC;
    for (int d = 0; d < 3; d++) {
        make_segment(f, "cam1", T0 + d * 86400 * SEC, T0 + d * 86400 * SEC + 60 * SEC, 1000);
        make_segment(f, "cam2", T0 + d * 86400 * SEC, T0 + d * 86400 * SEC + 60 * SEC, 1000);
    }
    assert_int_equal(index_flush(f->idx), 0);
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    storage_retention_report rep;
    assert_int_equal(storage_retention_run(rt, now, &rep), 0);
    assert_int_equal(rep.deleted_segments, 2); /* cam1's days 0 and 1 */
    assert_int_equal(count_segments("cam1"), 1);
    assert_int_equal(count_segments("cam2"), 3);
    assert_true(file_exists("cam1", T0 + 2 * 86400 * SEC));
    storage_retention_stop(&rt);
}

static void t_enospc_hook(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 4; i++)
        make_segment(f, "cam1", T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC, 1000);
    assert_int_equal(index_flush(f->idx), 0);
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    /* The pool is on a big disk: the purge still deletes at least... nothing
     * needed, so it reports no space freed unless the floor is above free. */
    f->pool.min_free_pct = 100.0; /* floor = the whole disk: always short */
    assert_int_equal(storage_retention_set_config(rt, &f->cfg), 0);
    assert_int_equal(storage__on_enospc(f->st, poolpath), 0);
    assert_int_equal(count_segments("cam1"), 0);
    assert_int_equal(storage__on_enospc(f->st, poolpath), -ENOSPC); /* nothing left */
    storage_retention_stop(&rt);
    /* Unregistered after stop. */
    assert_int_equal(storage__on_enospc(f->st, poolpath), -ENOSPC);
}

int main(void)
{
    vg_log_set_level(LOG_WARNING);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(t_locks_and_pins, setup, teardown),
        cmocka_unit_test_setup_teardown(t_lock_events_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(t_age, setup, teardown),
        cmocka_unit_test_setup_teardown(t_enospc_hook, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
