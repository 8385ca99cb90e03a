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
#include "media/media.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
    vg_segment_relpath(cam, start, rel, sizeof(rel));
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

/* While the index cannot be trusted, retention holds back: nothing for age,
 * and with the space hold nothing at all, not even on ENOSPC; lifting the
 * hold lets the next pass do both. */
static void t_hold(void **state)
{
    fixture *f = *state;
    f->pool.max_bytes = 3 * 100000;
    f->cams[1].retention_days = 1;
    for (int i = 0; i < 6; i++)
        make_segment(f, "cam2", T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC, 100000);
    assert_int_equal(index_flush(f->idx), 0);
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    storage_retention_report rep;
    int64_t later = T0 + 3 * 86400 * SEC; /* everything is past its retention */
    storage_retention_hold(rt, STORAGE_HOLD_AGE | STORAGE_HOLD_SPACE, "test: locks unknown");
    assert_int_equal(storage_retention_run(rt, later, &rep), 0);
    assert_int_equal(rep.deleted_segments, 0);
    assert_int_equal(storage__on_enospc(f->st, poolpath), -ENOSPC);
    assert_int_equal(count_segments("cam2"), 6);
    /* Space only: the quota deletes, age does not. */
    storage_retention_hold(rt, STORAGE_HOLD_AGE, "test: degraded");
    assert_int_equal(storage_retention_run(rt, later, &rep), 0);
    int left = count_segments("cam2");
    assert_true(left > 0 && left <= 3);
    assert_true(file_exists("cam2", T0 + 50 * SEC));
    /* Lifted: the age pass runs at once and takes the rest. */
    storage_retention_hold(rt, 0, NULL);
    assert_int_equal(storage_retention_run(rt, later, &rep), 0);
    assert_int_equal(count_segments("cam2"), 0);
    assert_false(file_exists("cam2", T0 + 50 * SEC));
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

/* A lock created while a pass runs (here by the pin check, which retention
 * calls for each candidate after it read the locks) keeps its footage: the
 * index checks locks again in the deleting transaction. */
typedef struct lock_during {
    fixture *f;
    int64_t start_us, end_us;
    int created;
} lock_during;

static int lock_during_fn(void *opaque, int64_t id)
{
    (void)id;
    lock_during *ld = opaque;
    if (!ld->created) {
        index_lock l;
        memset(&l, 0, sizeof(l));
        snprintf(l.camera, sizeof(l.camera), "cam1");
        l.start_us = ld->start_us;
        l.end_us = ld->end_us;
        snprintf(l.reason, sizeof(l.reason), "locked during the pass");
        assert_int_equal(index_lock_create(dbpath, &l), 0);
        ld->created = 1;
    }
    return 0;
}

static void t_lock_during_pass(void **state)
{
    fixture *f = *state;
    f->pool.max_bytes = 3 * 100000;
    for (int i = 0; i < 10; i++)
        make_segment(f, "cam1", T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC, 100000);
    assert_int_equal(index_flush(f->idx), 0);
    /* The lock covers segments 1 and 2, which the quota alone would delete. */
    lock_during ld = {.f = f, .start_us = T0 + 15 * SEC, .end_us = T0 + 25 * SEC};
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    storage_retention_set_pin_check(rt, lock_during_fn, &ld);
    storage_retention_report rep;
    assert_int_equal(storage_retention_run(rt, T0 + 200 * SEC, &rep), 0);
    assert_true(ld.created);
    assert_false(file_exists("cam1", T0));
    assert_true(file_exists("cam1", T0 + 10 * SEC));
    assert_true(file_exists("cam1", T0 + 20 * SEC));
    assert_int_equal(count_segments("cam1"), (int)(10 - rep.deleted_segments));
    storage_pool_usage u;
    assert_int_equal(storage_retention_pool_usage(rt, "main", &u), 0);
    assert_int_equal(u.used_bytes, (int64_t)(10 - rep.deleted_segments) * 100000);
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

/* A recorded sub stream ("<id>.sub") ages with its camera's retention_days,
 * and only a record_sub camera's sub key is aged. */
static void t_age_sub(void **state)
{
    fixture *f = *state;
    f->cams[0].retention_days = 1;
    f->cams[0].sub_url = "rtsp://h/2";
    f->cams[0].record_sub = true;
    f->cams[1].retention_days = 1; /* no record_sub: its ".sub" key is not its own */
    int64_t now = T0 + 3 * 86400 * SEC;
    for (int d = 0; d < 3; d++) {
        make_segment(f, "cam1", T0 + d * 86400 * SEC, T0 + d * 86400 * SEC + 60 * SEC, 1000);
        make_segment(f, "cam1.sub", T0 + d * 86400 * SEC, T0 + d * 86400 * SEC + 60 * SEC, 500);
        make_segment(f, "cam2.sub", T0 + d * 86400 * SEC, T0 + d * 86400 * SEC + 60 * SEC, 500);
    }
    assert_int_equal(index_flush(f->idx), 0);
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    storage_retention_report rep;
    assert_int_equal(storage_retention_run(rt, now, &rep), 0);
    assert_int_equal(rep.deleted_segments, 4); /* days 0 and 1 of cam1 and of cam1.sub */
    assert_int_equal(count_segments("cam1"), 1);
    assert_int_equal(count_segments("cam1.sub"), 1);
    assert_int_equal(count_segments("cam2.sub"), 3);
    assert_true(file_exists("cam1.sub", T0 + 2 * 86400 * SEC));
    assert_false(file_exists("cam1.sub", T0));
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


/* ---- reconcile ---- */

static uint8_t *media;
static size_t media_len;
static media_scan media_sc;

/* A real fragmented MP4 (one fragment per second), made once by ffmpeg. */
static int load_media(void)
{
    char path[PATH_MAX], cmd[PATH_MAX + 512];
    snprintf(path, sizeof(path), "%s/media.mp4", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=160x120:rate=25 "
             "-t 5 -c:v libx264 -g 25 -preset ultrafast -movflags "
             "+frag_keyframe+empty_moov+default_base_moof -f mp4 '%s'",
             path);
    if (system(cmd) != 0) return -1;
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) return -1;
    media_len = (size_t)sb.st_size;
    media = malloc(media_len);
    if (read(fd, media, media_len) != (ssize_t)media_len) return -1;
    int r = media_scan_fd(fd, media_len, &media_sc);
    close(fd);
    unlink(path);
    return r;
}

static void write_file(const char *abs, const uint8_t *buf, size_t len)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", abs);
    *strrchr(dir, '/') = 0;
    assert_int_equal(vg_mkdir_p(dir, 0755), 0);
    int fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static int get_cb(const index_segment *s, void *arg)
{
    *(index_segment *)arg = *s;
    return 1;
}

static void t_scan(void **state)
{
    (void)state;
    assert_int_equal(load_media(), 0);
    assert_int_equal(media_sc.nfrags, 5);
    assert_string_equal(media_sc.codec, "h264");
    assert_int_equal(media_sc.width, 160);
    /* ffmpeg's mfra trailer is not a fragment (vigil's files carry none): drop it. */
    assert_true(media_sc.valid_end <= media_len);
    media_len = media_sc.valid_end;
    for (size_t i = 0; i < media_sc.nfrags; i++) {
        assert_true(media_sc.frags[i].key);
        /* 25 frames of 1/25 s each */
        assert_int_equal(media_sc.frags[i].dur * 25, (uint64_t)media_sc.timescale * 25);
    }
}

static void t_reconcile(void **state)
{
    fixture *f = *state;
    const media_scan *m = &media_sc;
    char rel[512], abs[PATH_MAX + 600];
    /* 1. An open row, 3 fragments indexed, 4 whole in the file + half of the 5th. */
    index_segment row;
    memset(&row, 0, sizeof(row));
    snprintf(row.camera, sizeof(row.camera), "cam1");
    row.start_us = row.end_us = row.run_start_us = T0;
    snprintf(row.pool, sizeof(row.pool), "main");
    vg_segment_relpath("cam1", T0, rel, sizeof(rel));
    snprintf(row.path, sizeof(row.path), "%s", rel);
    int64_t id = index_segment_begin(f->idx, &row);
    for (int i = 0; i < 3; i++) {
        index_fragment fr = {.offset = m->frags[i].offset, .size = m->frags[i].size, .flags = 1,
                             .start_us = T0 + i * SEC, .end_us = T0 + (i + 1) * SEC};
        index_segment_progress(f->idx, id, fr.end_us, (int64_t)(fr.offset + fr.size), &fr);
    }
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    size_t crash_len = (size_t)(m->frags[4].offset + m->frags[4].size / 2);
    write_file(abs, media, crash_len);
    /* 2. An open row without a file. */
    row.start_us = row.end_us = row.run_start_us = T0 + 100 * SEC;
    vg_segment_relpath("cam1", row.start_us, row.path, sizeof(row.path));
    int64_t gone = index_segment_begin(f->idx, &row);
    /* 3. A closed row without a file. */
    int64_t closed_gone = make_segment(f, "cam2", T0 + 200 * SEC, T0 + 210 * SEC, 1000);
    vg_segment_relpath("cam2", T0 + 200 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    assert_int_equal(unlink(abs), 0);
    /* 4. A whole file nobody indexed, and 5. garbage with a segment's name. */
    vg_segment_relpath("cam2", T0 + 300 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    write_file(abs, media, media_len);
    vg_segment_relpath("cam2", T0 + 400 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    write_file(abs, (const uint8_t *)"not an mp4 at all", 17);
    assert_int_equal(index_flush(f->idx), 0);

    storage_reconcile_report rep;
    assert_int_equal(storage_reconcile(f->st, f->idx, &f->cfg, &rep), 0);
    assert_int_equal(rep.recovered, 1);
    assert_int_equal(rep.missing, 2);
    assert_int_equal(rep.indexed, 1);
    assert_int_equal(rep.quarantined, 1);
    assert_int_equal(rep.truncated_bytes, (int64_t)(crash_len - m->frags[3].offset - m->frags[3].size));

    index_reader *r = NULL;
    index_segment s;
    assert_int_equal(index_reader_open(dbpath, &r), 0);
    assert_int_equal(index_get_segment(r, id, &s), 0);
    assert_int_equal(s.open, 0);
    assert_int_equal(s.bytes, (int64_t)(m->frags[3].offset + m->frags[3].size));
    assert_int_equal(s.end_us, T0 + 4 * SEC);
    uint8_t sha[32];
    vg_sha256_digest(media, (size_t)s.bytes, sha);
    assert_true(s.has_sha256);
    assert_memory_equal(sha, s.sha256, 32);
    vg_segment_relpath("cam1", T0, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    struct stat sb;
    assert_int_equal(stat(abs, &sb), 0);
    assert_int_equal(sb.st_size, s.bytes);
    index_fragment *frags = NULL;
    size_t nf = 0;
    assert_int_equal(index_get_fragments(r, id, &frags, &nf), 0);
    assert_int_equal(nf, 4);
    assert_int_equal(frags[3].end_us, T0 + 4 * SEC);
    free(frags);
    assert_int_equal(index_get_segment(r, gone, &s), -ENOENT);
    assert_int_equal(index_get_segment(r, closed_gone, &s), -ENOENT);
    memset(&s, 0, sizeof(s));
    assert_int_equal(index_query_segments(r, "cam2", T0 + 300 * SEC, T0 + 301 * SEC, get_cb, &s), 1);
    assert_int_equal(s.start_us, T0 + 300 * SEC);
    assert_int_equal(s.end_us, T0 + 305 * SEC);
    assert_int_equal(s.bytes, (int64_t)media_len);
    assert_int_equal(s.open, 0);
    assert_string_equal(s.codec, "h264");
    ev_count = 0;
    ev_types[0] = 0;
    assert_int_equal(index_query_events(r, NULL, INT64_MIN, INT64_MAX, ev_cb, NULL), 0);
    index_reader_close(&r);
    assert_non_null(strstr(ev_types, "segment_recovered"));
    assert_non_null(strstr(ev_types, "segment_missing"));
    assert_non_null(strstr(ev_types, "segment_indexed"));
    assert_non_null(strstr(ev_types, "segment_quarantined"));
    snprintf(abs, sizeof(abs), "%s/quarantine", poolpath);
    assert_int_equal(access(abs, F_OK), 0);
    /* A second pass finds nothing to do. */
    assert_int_equal(storage_reconcile(f->st, f->idx, &f->cfg, &rep), 0);
    assert_int_equal(rep.recovered + rep.missing + rep.indexed + rep.quarantined, 0);
    media_scan_free(&media_sc);
    free(media);
    media = NULL;
}

/* Usage readers (/metrics on the daemon's loop) never wait for a purge: the
 * pin check, which retention calls with its pass mutex held, asks for the
 * pool's usage from another thread and waits for the answer. A reader that
 * needed the pass mutex would still be blocked when the wait gives up (the
 * bound only turns a deadlock into a failure; nothing is timed). */
typedef struct usage_during {
    storage_retention *rt;
    unsigned calls, answered, blocked;
    uint64_t max_deleted; /* deleted_segments seen during the purge */
} usage_during;

typedef struct usage_read {
    storage_retention *rt;
    storage_pool_usage u;
    int r;
} usage_read;

static void *usage_thread(void *arg)
{
    usage_read *ur = arg;
    ur->r = storage_retention_pool_usage(ur->rt, "main", &ur->u);
    return NULL;
}

static int usage_during_fn(void *opaque, int64_t id)
{
    (void)id;
    usage_during *ud = opaque;
    if (ud->calls++ % 16 != 0 || ud->blocked) return 0;
    static usage_read ur;
    ur.rt = ud->rt;
    ur.r = -1;
    pthread_t th;
    if (pthread_create(&th, NULL, usage_thread, &ur) != 0) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
        ud->blocked++;
        pthread_detach(th); /* finishes once the purge lets go */
        return 0;
    }
    if (ur.r == 0) {
        ud->answered++;
        if (ur.u.deleted_segments > ud->max_deleted) ud->max_deleted = ur.u.deleted_segments;
    }
    return 0;
}

static void t_usage_during_purge(void **state)
{
    fixture *f = *state;
    f->pool.max_bytes = 10 * 1000;
    /* 200 segments of 1 kB against a 10 kB quota: a purge of several batches. */
    for (int i = 0; i < 200; i++)
        make_segment(f, "cam1", T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC, 1000);
    assert_int_equal(index_flush(f->idx), 0);
    storage_retention *rt = NULL;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    usage_during ud = {.rt = rt};
    storage_retention_set_pin_check(rt, usage_during_fn, &ud);
    storage_retention_report rep;
    assert_int_equal(storage_retention_run(rt, T0 + 3000 * SEC, &rep), 0);
    assert_true(rep.deleted_segments > 2 * 64);
    assert_true(ud.calls > 2 * 64);
    assert_int_equal(ud.blocked, 0);
    assert_true(ud.answered >= ud.calls / 16);
    /* Totals are published per batch: a reader during the purge saw the
     * earlier batches' deletions, and never more than the purge's total. */
    assert_true(ud.max_deleted > 0);
    assert_true(ud.max_deleted < rep.deleted_segments);
    storage_pool_usage u;
    assert_int_equal(storage_retention_pool_usage(rt, "main", &u), 0);
    assert_int_equal(u.deleted_segments, rep.deleted_segments);
    storage_retention_stop(&rt);
}

/* Start-up at scale: a clean stop walks nothing, a crash walks only each
 * camera's last hours (and a camera without rows whole), full walks all. */
static void t_reconcile_bounded(void **state)
{
    fixture *f = *state;
    char rel[512], abs[PATH_MAX + 600];
    const int64_t hour = 3600 * SEC;
    storage_reconcile_report rep;
    assert_int_equal(load_media(), 0);
    media_len = media_sc.valid_end;
    /* cam1: 48 hours, one closed segment each. */
    for (int h = 0; h < 48; h++)
        make_segment(f, "cam1", T0 + h * hour, T0 + h * hour + 10 * SEC, 100);
    /* Copied in by hand while vigild was stopped, in an old hour: no walk of
     * a bounded start sees it. */
    vg_segment_relpath("cam1", T0 + 2 * hour + 300 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    write_file(abs, media, media_len);

    assert_int_equal(storage_mark_clean(f->st, f->idx, &f->cfg), 0);
    snprintf(abs, sizeof(abs), "%s/.vigil-clean", poolpath);
    assert_int_equal(access(abs, F_OK), 0);
    assert_int_equal(storage_reconcile(f->st, f->idx, &f->cfg, &rep), 0);
    assert_int_equal(rep.pools_clean, 1);
    assert_int_equal(rep.hour_dirs, 0);
    assert_int_equal(rep.indexed, 0);
    /* The start took the token: the marker is gone. */
    assert_int_equal(access(abs, F_OK), -1);

    /* A crash now: the file of a segment whose begin never committed, after
     * the crashed run's last checkpoint (half past hour 46), and one of a
     * camera without any row. The start walks from the checkpoint's hour. */
    assert_int_equal(index_meta_set(dbpath, "reconciled_before_us", T0 + 46 * hour + 1800 * SEC), 0);
    vg_segment_relpath("cam1", T0 + 47 * hour + 600 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    write_file(abs, media, media_len);
    vg_segment_relpath("cam9", T0 + 47 * hour + 100 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    write_file(abs, media, media_len);
    assert_int_equal(storage_reconcile(f->st, f->idx, &f->cfg, &rep), 0);
    assert_int_equal(rep.pools_clean, 0);
    /* hours 46 and 47 of cam1 (T0 is 800 s into its hour), hour 47 of cam9 */
    assert_int_equal(rep.hour_dirs, 3);
    assert_int_equal(rep.indexed, 2);
    assert_int_equal(rep.missing, 0);
    assert_int_equal(count_segments("cam9"), 1);
    assert_int_equal(count_segments("cam1"), 49);
    /* The start moved the checkpoint to its own time (less the margin). */
    int64_t cp = 0;
    assert_int_equal(index_meta_get(dbpath, "reconciled_before_us", &cp), 0);
    assert_true(cp > vg_now_us() - 2 * hour && cp <= vg_now_us() - hour);

    /* An index without a checkpoint (an older vigild's): each camera from its
     * latest row less an hour; a camera without rows from the pool's latest. */
    assert_int_equal(index_meta_delete(dbpath, "reconciled_before_us"), 0);
    vg_segment_relpath("cam1", T0 + 47 * hour + 900 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    write_file(abs, media, media_len);
    vg_segment_relpath("cam8", T0 + 47 * hour + 700 * SEC, rel, sizeof(rel));
    snprintf(abs, sizeof(abs), "%s/%s", poolpath, rel);
    write_file(abs, media, media_len);
    assert_int_equal(storage_reconcile(f->st, f->idx, &f->cfg, &rep), 0);
    assert_int_equal(rep.hour_dirs, 2 + 1 + 1);
    assert_int_equal(rep.indexed, 2);
    assert_int_equal(count_segments("cam8"), 1);
    assert_int_equal(count_segments("cam1"), 50);

    /* A checkpoint advanced while running, and a dropped write freezes it. */
    uint64_t failures = index_writer_failures(f->idx);
    assert_int_equal(storage_checkpoint(f->idx, dbpath, failures), 0);
    assert_int_equal(storage_checkpoint(f->idx, dbpath, failures + 1), -EIO);

    /* A stop that was not recorded as clean again, and a full walk: every
     * hour directory, and the old hand-copied file is found. */
    storage_reconcile_opts full = {.full = 1};
    assert_int_equal(storage_mark_clean(f->st, f->idx, &f->cfg), 0);
    assert_int_equal(storage_reconcile_opts_run(f->st, f->idx, &f->cfg, &full, &rep), 0);
    assert_int_equal(rep.pools_clean, 0);
    assert_int_equal(rep.hour_dirs, 48 + 1 + 1);
    assert_int_equal(rep.indexed, 1);
    assert_int_equal(count_segments("cam1"), 51);
    /* A marker whose token is not the index's (an index restored from a
     * backup) is not a clean stop. */
    assert_int_equal(storage_mark_clean(f->st, f->idx, &f->cfg), 0);
    assert_int_equal(index_meta_set(dbpath, "clean_token", 12345), 0);
    assert_int_equal(index_meta_set(dbpath, "reconciled_before_us", T0 + 47 * hour + 1000 * SEC), 0);
    assert_int_equal(storage_reconcile(f->st, f->idx, &f->cfg, &rep), 0);
    assert_int_equal(rep.pools_clean, 0);
    assert_int_equal(rep.hour_dirs, 3); /* hour 47 of cam1, cam8 and cam9 */
    media_scan_free(&media_sc);
    free(media);
    media = NULL;
}

/* A segment whose fsync fails is marked in the index (exports say so). The
 * failure is real: the segment's descriptor is replaced by a pipe, which
 * cannot be fsynced (EINVAL), behind storage's back. */
static void t_fsync_failure_marked(void **state)
{
    fixture *f = *state;
    int64_t good = make_segment(f, "cam1", T0, T0 + 10 * SEC, 4096);
    storage_segment_info info = {.camera = "cam1", .start_us = T0 + 10 * SEC,
                                 .run_start_us = T0, .codec = "h264"};
    storage_segment *seg = NULL;
    assert_int_equal(storage_segment_create(f->st, &info, &seg), 0);
    uint8_t buf[4096] = {0};
    index_fragment fr = {.flags = 1, .start_us = T0 + 10 * SEC, .end_us = T0 + 20 * SEC};
    assert_int_equal(storage_segment_append(seg, buf, sizeof(buf), &fr, fr.end_us), 0);
    int64_t bad = storage_segment_id(seg);
    /* find the segment's descriptor */
    int segfd = -1;
    for (int fd = 3; fd < 1024 && segfd < 0; fd++) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strcmp(target, storage_segment_path(seg)) == 0) segfd = fd;
    }
    assert_true(segfd >= 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_true(dup2(p[0], segfd) == segfd);
    close(p[0]);
    close(p[1]);
    assert_true(storage_segment_close(&seg, T0 + 20 * SEC) < 0);
    assert_int_equal(index_flush(f->idx), 0);
    index_reader *r = NULL;
    index_segment s;
    assert_int_equal(index_reader_open(dbpath, &r), 0);
    assert_int_equal(index_get_segment(r, good, &s), 0);
    assert_int_equal(s.fsync_failed, 0);
    assert_int_equal(index_get_segment(r, bad, &s), 0);
    assert_int_equal(s.fsync_failed, 1);
    assert_int_equal(s.open, 0);
    index_reader_close(&r);
}

static int count_rows(const index_event_row *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
    return 0;
}

/* Events found by a full-text search for words. */
static int search_events(const char *words)
{
    index_reader *r = NULL;
    int n = 0;
    index_event_query q = {.q = words, .start_us = INT64_MIN, .end_us = INT64_MAX, .limit = 10000};
    assert_int_equal(index_reader_open(dbpath, &r), 0);
    assert_int_equal(index_events_search(r, &q, count_rows, &n), 0);
    index_reader_close(&r);
    return n;
}

/* Events older than events.retention_days go, in several transactions, out
 * of the full-text index too; those an active lock covers stay (of its camera,
 * and an area event under it) until the lock is released. */
static void t_event_expiry(void **state)
{
    fixture *f = *state;
    const int64_t day = 86400 * SEC, now = T0 + 100 * day;
    f->cfg.event_retention_days = 30;
    index_event_in ev[] = {
        {.time_us = T0, .camera = "cam1", .type = "note", .text = "alpha unlocked"},
        {.time_us = T0 + 10 * SEC, .camera = "cam1", .type = "note", .text = "bravo locked"},
        {.time_us = T0 + 12 * SEC, .district = "north", .type = "alarm", .text = "charlie area"},
        {.time_us = T0 + 10 * SEC, .camera = "cam2", .type = "note", .text = "delta other"},
        {.time_us = now - 10 * day, .camera = "cam1", .type = "note", .text = "echo recent"},
        /* begins before the lock, ends inside it */
        {.time_us = T0, .end_us = T0 + 6 * SEC, .camera = "cam1", .type = "note",
         .text = "hotel spanning"},
    };
    assert_int_equal(index_events_post(f->idx, ev, VG_ARRAY_SIZE(ev), NULL, NULL), 0);
    index_event_add(f->idx, T0 + SEC, "cam1", "offline", "{\"reason\":\"foxtrot\"}");
    for (int i = 0; i < 1200; i++) /* more than two transactions' worth */
        index_event_add(f->idx, T0 + 20 * SEC + i, "cam2", "retention_delete",
                        "{\"reason\":\"golf\"}");
    assert_int_equal(index_flush(f->idx), 0);
    index_lock l;
    memset(&l, 0, sizeof(l));
    snprintf(l.camera, sizeof(l.camera), "cam1");
    l.start_us = T0 + 5 * SEC;
    l.end_us = T0 + 15 * SEC;
    snprintf(l.reason, sizeof(l.reason), "case 7");
    assert_int_equal(index_lock_create(dbpath, &l), 0);

    storage_retention *rt = NULL;
    storage_retention_report rep;
    assert_int_equal(storage_retention_start(f->st, f->idx, &f->cfg, 0, &rt), 0);
    assert_int_equal(storage_retention_run(rt, now, &rep), 0);
    assert_int_equal(rep.expired_events, 1200 + 3);
    assert_int_equal(storage_retention_events_expired(rt), 1200 + 3);
    assert_int_equal(search_events("alpha"), 0);
    assert_int_equal(search_events("delta"), 0);
    assert_int_equal(search_events("foxtrot"), 0);
    assert_int_equal(search_events("golf"), 0);
    assert_int_equal(search_events("bravo"), 1);
    assert_int_equal(search_events("charlie"), 1);
    assert_int_equal(search_events("hotel"), 1);
    assert_int_equal(search_events("echo"), 1);

    /* Released: they go at the next age turn. */
    assert_int_equal(index_lock_release(dbpath, l.id, "tester", "case closed"), 0);
    uint64_t later = 0;
    for (int i = 0; i < 10 && !later; i++) {
        assert_int_equal(storage_retention_run(rt, now, &rep), 0);
        later = rep.expired_events;
    }
    assert_int_equal(later, 3);
    assert_int_equal(search_events("bravo"), 0);
    assert_int_equal(search_events("charlie"), 0);
    assert_int_equal(search_events("hotel"), 0);
    assert_int_equal(search_events("echo"), 1);
    assert_int_equal(storage_retention_events_expired(rt), 1200 + 6);
    storage_retention_stop(&rt);
}

int main(void)
{
    vg_log_set_level(LOG_WARNING);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(t_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(t_locks_and_pins, setup, teardown),
        cmocka_unit_test_setup_teardown(t_lock_during_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(t_lock_events_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(t_age, setup, teardown),
        cmocka_unit_test_setup_teardown(t_age_sub, setup, teardown),
        cmocka_unit_test_setup_teardown(t_enospc_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(t_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(t_reconcile, setup, teardown),
        cmocka_unit_test_setup_teardown(t_usage_during_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(t_reconcile_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(t_fsync_failure_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(t_event_expiry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
