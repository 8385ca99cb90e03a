/*
 * Unit tests of index/: schema and migrations, the writer's queue and batches,
 * the readers' queries (overlap boundaries, events), deletion, flush, a reader
 * running while the writer commits, bad files, and the query plan of the
 * overlap query. Every test works on a fresh file in its own temp directory.
 */
#include "index/index.h"
#include "index/index_internal.h"

#include "common/common.h"
#include "tests/unit/index/index_files.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define S (INT64_C(1000000))
#define T0 (INT64_C(1763881200) * S) /* 2025-11-23T07:00:00Z */

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-test-index-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/index.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    index_files_remove(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static index_segment make_seg(const char *camera, int64_t start_us, int64_t end_us)
{
    index_segment s;
    memset(&s, 0, sizeof(s));
    snprintf(s.camera, sizeof(s.camera), "%s", camera);
    s.start_us = start_us;
    s.end_us = end_us;
    s.run_start_us = start_us;
    snprintf(s.pool, sizeof(s.pool), "main");
    snprintf(s.path, sizeof(s.path), "%s/%lld.mp4", camera, (long long)start_us);
    snprintf(s.codec, sizeof(s.codec), "h264");
    snprintf(s.audio_codec, sizeof(s.audio_codec), "aac");
    s.width = 1920;
    s.height = 1080;
    return s;
}

/* Adds s closed at end_us and returns its id. */
static int64_t add_closed_seg(index_db *db, const index_segment *s, int64_t end_us)
{
    int64_t id = index_segment_begin(db, s);
    assert_true(id > 0);
    uint8_t sha[32];
    memset(sha, (int)(id & 0xff), sizeof(sha));
    index_segment_finish(db, id, end_us, 1000 * id, sha);
    return id;
}

/* Adds a closed segment [start, end) and returns its id. */
static int64_t add_closed(index_db *db, const char *camera, int64_t start_us, int64_t end_us)
{
    index_segment s = make_seg(camera, start_us, start_us);
    return add_closed_seg(db, &s, end_us);
}

/* Collects segment ids. */
typedef struct ids {
    int64_t v[64];
    size_t n;
} ids;

static int collect_seg(const index_segment *s, void *arg)
{
    ids *c = arg;
    assert_true(c->n < VG_ARRAY_SIZE(c->v));
    c->v[c->n++] = s->id;
    return 0;
}

static ids query(index_reader *r, const char *camera, int64_t start, int64_t end)
{
    ids c = {.n = 0};
    assert_int_equal(index_query_segments(r, camera, start, end, collect_seg, &c), 0);
    return c;
}

static int64_t pragma_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ---- schema ---- */

static void test_fresh_and_reopen(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    int64_t a = add_closed(db, "cam1", T0, T0 + 60 * S);
    int64_t b = add_closed(db, "cam1", T0 + 60 * S, T0 + 120 * S);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(pragma_int(f->path, "PRAGMA user_version"), index__schema_version());
    index_close(&db);
    assert_null(db);
    index_close(&db); /* NULL is fine */

    /* Reopen: no migration runs again, data is kept, ids continue after max(id). */
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(pragma_int(f->path, "PRAGMA user_version"), index__schema_version());
    index_segment s = make_seg("cam2", T0, T0);
    assert_int_equal(index_segment_begin(db, &s), 3);
    assert_int_equal(index_flush(db), 0);
    index_close(&db);

    index_reader *r = NULL;
    assert_int_equal(index_reader_open(f->path, &r), 0);
    ids c = query(r, "cam1", INT64_MIN, INT64_MAX);
    assert_int_equal(c.n, 2);
    index_reader_close(&r);
    assert_null(r);
    index_reader_close(&r);
    /* WAL mode is a property of the file. */
    assert_int_equal(pragma_int(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"),
                     1);
}

/* ---- segments ---- */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);

    index_segment s = make_seg("cam1", T0, T0);
    s.id = 999; /* ignored */
    s.run_start_us = T0 - 3600 * S;
    int64_t id = index_segment_begin(db, &s);
    assert_int_equal(id, 1);
    index_fragment fr[3];
    for (int i = 0; i < 3; i++) {
        fr[i].offset = 1000 + (uint64_t)i * 50000 + ((uint64_t)1 << 40); /* > 32 bits */
        fr[i].size = 50000 + (uint32_t)i;
        fr[i].flags = i == 1 ? 0 : 1;
        fr[i].start_us = T0 + i * 2 * S;
        fr[i].end_us = T0 + (i + 1) * 2 * S;
    }
    index_segment_progress(db, id, T0 + 2 * S, 51000, &fr[0]);
    index_segment_progress(db, id, T0 + 3 * S, 60000, NULL); /* no fragment */
    assert_int_equal(index_flush(db), 0);

    /* Open: visible, listed as open, fragments so far. */
    index_segment g;
    assert_int_equal(index_get_segment(r, id, &g), 0);
    assert_int_equal(g.id, id);
    assert_string_equal(g.camera, "cam1");
    assert_true(g.start_us == T0);
    assert_true(g.end_us == T0 + 3 * S);
    assert_true(g.run_start_us == T0 - 3600 * S);
    assert_string_equal(g.pool, "main");
    assert_string_equal(g.path, s.path);
    assert_int_equal(g.bytes, 60000);
    assert_int_equal(g.open, 1);
    assert_int_equal(g.has_sha256, 0);
    assert_string_equal(g.codec, "h264");
    assert_string_equal(g.audio_codec, "aac");
    assert_int_equal(g.width, 1920);
    assert_int_equal(g.height, 1080);
    ids open = {.n = 0};
    assert_int_equal(index_query_open_segments(r, collect_seg, &open), 0);
    assert_int_equal(open.n, 1);
    index_fragment *got = NULL;
    size_t n = 0;
    assert_int_equal(index_get_fragments(r, id, &got, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(&got[0], &fr[0], sizeof(fr[0]));
    free(got);

    index_segment_progress(db, id, T0 + 4 * S, 101000, &fr[1]);
    index_segment_progress(db, id, T0 + 6 * S, 151000, &fr[2]);
    uint8_t sha[32];
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)(i * 7);
    index_segment_finish(db, id, T0 + 6 * S, 151002, sha);
    assert_int_equal(index_flush(db), 0);

    assert_int_equal(index_get_segment(r, id, &g), 0);
    assert_int_equal(g.open, 0);
    assert_int_equal(g.bytes, 151002);
    assert_true(g.end_us == T0 + 6 * S);
    assert_int_equal(g.has_sha256, 1);
    assert_memory_equal(g.sha256, sha, 32);
    open.n = 0;
    assert_int_equal(index_query_open_segments(r, collect_seg, &open), 0);
    assert_int_equal(open.n, 0);
    /* Finished: one entry a GOP (the second fragment continues the first). */
    assert_int_equal(index_get_fragments(r, id, &got, &n), 0);
    assert_int_equal(n, 2);
    assert_true(got[0].offset == fr[0].offset);
    assert_int_equal(got[0].size, fr[0].size + fr[1].size);
    assert_int_equal(got[0].flags, 1);
    assert_true(got[0].start_us == fr[0].start_us);
    assert_true(got[0].end_us == fr[1].end_us);
    assert_true(got[1].offset == fr[2].offset);
    assert_int_equal(got[1].size, fr[2].size);
    assert_int_equal(got[1].flags, fr[2].flags);
    assert_true(got[1].start_us == fr[2].start_us);
    assert_true(got[1].end_us == fr[2].end_us);
    free(got);

    /* Unknown ids. */
    assert_int_equal(index_get_segment(r, 12345, &g), -ENOENT);
    got = (index_fragment *)&g;
    n = 7;
    assert_int_equal(index_get_fragments(r, 12345, &got, &n), 0);
    assert_null(got);
    assert_int_equal(n, 0);

    /* The longest duration seen bounds the overlap scan. */
    assert_int_equal(pragma_int(f->path, "SELECT value FROM meta WHERE key = 'max_segment_us'"),
                     6 * S);
    index_reader_close(&r);
    index_close(&db);
}

/* segments.path as stored, read straight from the file. */
static void stored_path(const char *path, int64_t id, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT path FROM segments WHERE id = ?1", -1, &st,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Collects the paths of segments, by id (1..4). */
typedef struct paths {
    char v[5][INDEX_PATH_MAX];
} paths;

static int collect_path(const index_segment *s, void *arg)
{
    paths *p = arg;
    assert_true(s->id >= 1 && s->id <= 4);
    snprintf(p->v[s->id], sizeof(p->v[s->id]), "%s", s->path);
    return 0;
}

/* A row whose file is at the layout's path stores '' and reads back the full
 * path from every query that returns segments; any other path is kept as it
 * is. */
static void test_layout_path(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    index_retention *rt = NULL;
    char want[5][INDEX_PATH_MAX], got[INDEX_PATH_MAX];
    const int64_t t1 = T0 + 123456, t2 = T0 + 60 * S, t3 = T0 + 120 * S, t4 = T0 + 180 * S;
    assert_int_equal(index_open(f->path, &db), 0);
    /* 1: the layout's path (with a fraction of a second). */
    index_segment s = make_seg("cam1", t1, t1);
    assert_int_equal(vg_segment_relpath("cam1", t1, s.path, sizeof(s.path)), 0);
    snprintf(want[1], sizeof(want[1]), "%s", s.path);
    assert_int_equal(add_closed_seg(db, &s, t2), 1);
    /* 2: another name (reconciliation, an older vigild). */
    s = make_seg("cam1", t2, t2);
    snprintf(s.path, sizeof(s.path), "cam1/elsewhere/x.mp4");
    snprintf(want[2], sizeof(want[2]), "%s", s.path);
    assert_int_equal(add_closed_seg(db, &s, t3), 2);
    /* 3: a layout path, but of another start: kept. */
    s = make_seg("cam1", t3, t3);
    assert_int_equal(vg_segment_relpath("cam1", t2, s.path, sizeof(s.path)), 0);
    snprintf(want[3], sizeof(want[3]), "%s", s.path);
    assert_int_equal(add_closed_seg(db, &s, t4), 3);
    /* 4: the layout's path of a segment still open. */
    s = make_seg("cam1", t4, t4);
    assert_int_equal(vg_segment_relpath("cam1", t4, s.path, sizeof(s.path)), 0);
    snprintf(want[4], sizeof(want[4]), "%s", s.path);
    assert_int_equal(index_segment_begin(db, &s), 4);
    assert_int_equal(index_flush(db), 0);

    stored_path(f->path, 1, got, sizeof(got));
    assert_string_equal(got, "");
    stored_path(f->path, 4, got, sizeof(got));
    assert_string_equal(got, "");
    stored_path(f->path, 2, got, sizeof(got));
    assert_string_equal(got, want[2]);
    stored_path(f->path, 3, got, sizeof(got));
    assert_string_equal(got, want[3]);

    assert_int_equal(index_reader_open(f->path, &r), 0);
    index_segment g;
    for (int64_t id = 1; id <= 4; id++) {
        assert_int_equal(index_get_segment(r, id, &g), 0);
        assert_string_equal(g.path, want[id]);
    }
    paths p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(index_query_segments(r, "cam1", INT64_MIN / 2, INT64_MAX / 2, collect_path,
                                          &p),
                     0);
    for (int i = 1; i <= 4; i++) assert_string_equal(p.v[i], want[i]);
    memset(&p, 0, sizeof(p));
    assert_int_equal(index_query_open_segments(r, collect_path, &p), 0);
    assert_string_equal(p.v[4], want[4]);
    memset(&p, 0, sizeof(p));
    assert_int_equal(index_query_closed_after(r, 0, NULL, INT64_MIN / 2, INT64_MAX / 2, 10,
                                              collect_path, &p),
                     0);
    for (int i = 1; i <= 3; i++) assert_string_equal(p.v[i], want[i]);
    /* Retention's own connection decodes the same columns. */
    assert_int_equal(index_retention_open(f->path, &rt), 0);
    memset(&p, 0, sizeof(p));
    assert_int_equal(index_retention_oldest(rt, "main", INT64_MIN, 0, 10, collect_path, &p), 0);
    for (int i = 1; i <= 3; i++) assert_string_equal(p.v[i], want[i]);
    index_retention_close(&rt);
    index_reader_close(&r);
    index_close(&db);
}

/* Many progress reports of one segment queued at once are merged in order. */
static void test_progress_coalesced(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    index_segment s = make_seg("cam1", T0, T0);
    int64_t a = index_segment_begin(db, &s);
    s = make_seg("cam2", T0, T0);
    int64_t b = index_segment_begin(db, &s);
    for (int i = 0; i < 100; i++) {
        index_fragment fr = {.offset = (uint64_t)i * 10,
                             .size = 10,
                             .flags = 1,
                             .start_us = T0 + i * S,
                             .end_us = T0 + (i + 1) * S};
        index_segment_progress(db, a, fr.end_us, (i + 1) * 10, &fr);
        fr.offset += 5;
        index_segment_progress(db, b, fr.end_us, (i + 1) * 20, &fr);
    }
    index_segment_finish(db, a, T0 + 100 * S, 1000, NULL);
    /* After the finish: must not be merged into the progress before it. */
    index_segment_progress(db, a, T0 + 101 * S, 1010, NULL);
    assert_int_equal(index_flush(db), 0);
    size_t depth = 99;
    int64_t commit_us = -1;
    index_writer_stats(db, &depth, &commit_us);
    assert_true(index_writer_max_commit_us(db) >= commit_us);
    assert_int_equal(depth, 0);
    assert_true(commit_us >= 0);

    assert_int_equal(index_reader_open(f->path, &r), 0);
    index_segment g;
    assert_int_equal(index_get_segment(r, a, &g), 0);
    assert_int_equal(g.bytes, 1010);
    assert_int_equal(g.open, 0);
    assert_int_equal(g.has_sha256, 0); /* finish without a hash */
    assert_int_equal(index_get_segment(r, b, &g), 0);
    assert_int_equal(g.bytes, 2000);
    assert_int_equal(g.open, 1);
    index_fragment *fr = NULL;
    size_t n = 0;
    assert_int_equal(index_get_fragments(r, b, &fr, &n), 0);
    assert_int_equal(n, 100);
    for (size_t i = 0; i < n; i++)
        assert_true(fr[i].offset == i * 10 + 5);
    free(fr);
    index_reader_close(&r);
    index_close(&db);
}

static int stop_at_first(const index_segment *s, void *arg)
{
    (void)s;
    ++*(int *)arg;
    return 42;
}

static void test_overlap_boundaries(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    int64_t a = add_closed(db, "cam1", T0, T0 + 60 * S);
    int64_t b = add_closed(db, "cam1", T0 + 60 * S, T0 + 120 * S);
    int64_t c = add_closed(db, "cam1", T0 + 120 * S, T0 + 180 * S);
    int64_t other = add_closed(db, "cam10", T0, T0 + 180 * S);
    (void)other;
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);

    ids q = query(r, "cam1", T0 + 60 * S, T0 + 120 * S); /* exactly b: touching ones out */
    assert_int_equal(q.n, 1);
    assert_int_equal(q.v[0], b);
    q = query(r, "cam1", T0 + 60 * S - 1, T0 + 60 * S + 1); /* straddles a|b */
    assert_int_equal(q.n, 2);
    assert_int_equal(q.v[0], a);
    assert_int_equal(q.v[1], b);
    q = query(r, "cam1", INT64_MIN, INT64_MAX); /* open bounds, ordered by start */
    assert_int_equal(q.n, 3);
    assert_int_equal(q.v[0], a);
    assert_int_equal(q.v[1], b);
    assert_int_equal(q.v[2], c);
    q = query(r, "cam1", INT64_MIN, T0); /* ends where a starts */
    assert_int_equal(q.n, 0);
    q = query(r, "cam1", INT64_MIN, T0 + 1);
    assert_int_equal(q.n, 1);
    q = query(r, "cam1", T0 + 180 * S, INT64_MAX); /* starts where c ends */
    assert_int_equal(q.n, 0);
    q = query(r, "cam1", T0 + 180 * S - 1, INT64_MAX);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.v[0], c);
    q = query(r, "cam1", T0 + 30 * S, T0 + 30 * S + 1); /* inside a */
    assert_int_equal(q.n, 1);
    assert_int_equal(q.v[0], a);
    /* start == end: the contract's formula (start_us < end && end_us > start)
     * finds the segment around that instant. */
    q = query(r, "cam1", T0 + 90 * S, T0 + 90 * S);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.v[0], b);
    q = query(r, "cam", INT64_MIN, INT64_MAX); /* no prefix matching */
    assert_int_equal(q.n, 0);

    /* A much longer segment (an open one still growing) is found from deep
     * inside it: the scan bound follows the longest segment. */
    index_segment s = make_seg("cam1", T0 + 200 * S, T0 + 200 * S);
    int64_t d = index_segment_begin(db, &s);
    index_segment_progress(db, d, T0 + 200 * S + 3 * 3600 * S, 1, NULL);
    assert_int_equal(index_flush(db), 0);
    q = query(r, "cam1", T0 + 200 * S + 3 * 3600 * S - 1, INT64_MAX);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.v[0], d);

    /* A callback stops the query with its value. */
    int calls = 0;
    assert_int_equal(index_query_segments(r, "cam1", INT64_MIN, INT64_MAX, stop_at_first, &calls),
                     42);
    assert_int_equal(calls, 1);
    index_reader_close(&r);
    index_close(&db);
}

/* The overlap query is a range search of the covering index: no table scan, no
 * sort, the bound on start_us from both sides. */
static void check_plan(const char *path, const char *query, const char *want)
{
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    char sql[1024];
    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", query);
    assert_int_equal(sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
    int range = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        print_message("plan: %s\n", d);
        if (strstr(d, want)) range = 1;
        assert_null(strstr(d, "SCAN segments"));
        assert_null(strstr(d, "TEMP B-TREE"));
    }
    assert_int_equal(range, 1);
    sqlite3_finalize(st);
    sqlite3_close(c);
}

static void test_overlap_query_plan(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    index_close(&db);
    check_plan(f->path, index__sql_overlap,
               "SEARCH segments USING INDEX segments_camera_start "
               "(camera=? AND start_us>? AND start_us<?)");
    /* The spans never touch the table. */
    check_plan(f->path, index__sql_spans,
               "SEARCH segments USING COVERING INDEX segments_camera_start "
               "(camera=? AND start_us>? AND start_us<?)");
}

typedef struct spans {
    index_span v[8];
    size_t n;
} spans;

static int collect_span(const index_span *s, void *arg)
{
    spans *c = arg;
    assert_true(c->n < VG_ARRAY_SIZE(c->v));
    c->v[c->n++] = *s;
    return 0;
}

static int stop_span(const index_span *s, void *arg)
{
    (void)s;
    ++*(int *)arg;
    return 42;
}

/* index_query_spans() answers what index_query_segments() does, times only. */
static void test_spans(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    add_closed(db, "cam1", T0, T0 + 60 * S);
    add_closed(db, "cam1", T0 + 60 * S, T0 + 120 * S);
    add_closed(db, "cam2", T0, T0 + 60 * S);
    index_segment s = make_seg("cam1", T0 + 200 * S, T0 + 200 * S);
    index_segment_begin(db, &s);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);
    spans c = {.n = 0};
    assert_int_equal(index_query_spans(r, "cam1", T0 + 30 * S, INT64_MAX, collect_span, &c), 0);
    assert_int_equal(c.n, 3);
    assert_true(c.v[0].start_us == T0 && c.v[0].end_us == T0 + 60 * S && !c.v[0].open);
    assert_true(c.v[1].start_us == T0 + 60 * S && c.v[1].end_us == T0 + 120 * S);
    assert_true(c.v[2].start_us == T0 + 200 * S && c.v[2].open);
    index_segment_progress(db, 4, T0 + 230 * S, 10, NULL);
    assert_int_equal(index_flush(db), 0);
    c.n = 0;
    assert_int_equal(index_query_spans(r, "cam1", T0 + 60 * S, T0 + 210 * S, collect_span, &c), 0);
    assert_int_equal(c.n, 2);
    assert_true(c.v[1].start_us == T0 + 200 * S && c.v[1].end_us == T0 + 230 * S && c.v[1].open);
    int calls = 0;
    assert_int_equal(index_query_spans(r, "cam1", INT64_MIN, INT64_MAX, stop_span, &calls), 42);
    assert_int_equal(calls, 1);
    index_reader_close(&r);
    index_close(&db);
}

/* ---- events ---- */

typedef struct evs {
    index_event v[16];
    size_t n;
} evs;

static int collect_ev(const index_event *e, void *arg)
{
    evs *c = arg;
    assert_true(c->n < VG_ARRAY_SIZE(c->v));
    c->v[c->n++] = *e;
    return 0;
}

static void test_events(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    index_event_add(db, T0 + 2 * S, "cam1", "offline", "connection refused");
    index_event_add(db, T0, "cam1", "online", "");
    index_event_add(db, T0 + 1 * S, NULL, "startup", "vigild 0.1");
    index_event_add(db, T0 + 3 * S, "cam2", "codec_change", "h264 -> hevc");
    index_event_add(db, T0 + 2 * S, "cam2", "online", NULL);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);

    evs c = {.n = 0};
    assert_int_equal(index_query_events(r, NULL, INT64_MIN, INT64_MAX, collect_ev, &c), 0);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.v[0].type, "online");
    assert_string_equal(c.v[1].type, "startup");
    assert_string_equal(c.v[1].camera, ""); /* daemon-wide */
    assert_string_equal(c.v[1].detail, "vigild 0.1");
    /* Same time: in insertion order. */
    assert_string_equal(c.v[2].camera, "cam1");
    assert_string_equal(c.v[2].detail, "connection refused");
    assert_string_equal(c.v[3].camera, "cam2");
    assert_string_equal(c.v[3].detail, "");
    assert_true(c.v[4].time_us == T0 + 3 * S);
    assert_true(c.v[0].id > 0);

    c.n = 0;
    assert_int_equal(index_query_events(r, "cam1", INT64_MIN, INT64_MAX, collect_ev, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.v[0].type, "online");
    assert_string_equal(c.v[1].type, "offline");

    c.n = 0; /* [start, end): start included, end excluded */
    assert_int_equal(index_query_events(r, NULL, T0 + 1 * S, T0 + 3 * S, collect_ev, &c), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.v[0].type, "startup");

    c.n = 0;
    assert_int_equal(index_query_events(r, "cam2", T0 + 3 * S, T0 + 3 * S + 1, collect_ev, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0].type, "codec_change");

    c.n = 0;
    assert_int_equal(index_query_events(r, "nope", INT64_MIN, INT64_MAX, collect_ev, &c), 0);
    assert_int_equal(c.n, 0);
    index_reader_close(&r);
    index_close(&db);
}

/* ---- deletion, flush ---- */

static void test_delete(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);
    index_segment s = make_seg("cam1", T0, T0);
    int64_t a = index_segment_begin(db, &s);
    index_fragment fr = {.offset = 0, .size = 10, .flags = 1, .start_us = T0, .end_us = T0 + S};
    index_segment_progress(db, a, T0 + S, 10, &fr);
    index_segment_finish(db, a, T0 + S, 10, NULL);
    int64_t b = add_closed(db, "cam1", T0 + S, T0 + 2 * S);
    int64_t c = add_closed(db, "cam1", T0 + 2 * S, T0 + 3 * S);
    /* No flush: the delete is queued after them and waits for its commit. */
    int64_t del[] = {a, c, 777};
    assert_int_equal(index_segments_delete(db, del, VG_ARRAY_SIZE(del)), 0);
    assert_int_equal(index_segments_delete(db, NULL, 0), 0);
    index_segment g;
    assert_int_equal(index_get_segment(r, a, &g), -ENOENT);
    assert_int_equal(index_get_segment(r, c, &g), -ENOENT);
    assert_int_equal(index_get_segment(r, b, &g), 0);
    ids q = query(r, "cam1", INT64_MIN, INT64_MAX);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.v[0], b);
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM segment_fragments"), 0);

    /* A late progress report of a deleted segment leaves nothing behind. */
    index_segment_progress(db, a, T0 + 2 * S, 20, &fr);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM segment_fragments"), 0);
    assert_int_equal(index_get_segment(r, a, &g), -ENOENT);
    index_reader_close(&r);
    index_close(&db);
}

static void test_flush(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(index_flush(db), 0); /* nothing queued */
    assert_int_equal(index_reader_open(f->path, &r), 0);

    /* Queued, the batch would wait up to 250 ms; after index_flush() a reader
     * sees it at once. */
    index_event_add(db, T0, "cam1", "online", "");
    evs c = {.n = 0};
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_query_events(r, NULL, INT64_MIN, INT64_MAX, collect_ev, &c), 0);
    assert_int_equal(c.n, 1);

    /* More than a batch. */
    for (int i = 0; i < 1000; i++)
        index_event_add(db, T0 + i, "cam2", "test", "");
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM events"), 1001);

    /* Without a flush, the batch still commits within ~250 ms. */
    index_event_add(db, T0, "cam3", "online", "");
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) {
        usleep(10000);
        seen = (int)pragma_int(f->path, "SELECT count(*) FROM events WHERE camera = 'cam3'");
    }
    assert_int_equal(seen, 1);

    /* index_close() commits what is queued. */
    index_event_add(db, T0, "cam4", "online", "");
    index_reader_close(&r);
    index_close(&db);
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM events WHERE camera = 'cam4'"), 1);
}

/* ---- a reader while the writer commits ---- */

typedef struct writer_arg {
    index_db *db;
    int64_t id;
    int rounds;
} writer_arg;

static void *writer_thread(void *p)
{
    writer_arg *w = p;
    for (int i = 1; i <= w->rounds; i++) {
        index_fragment fr = {.offset = (uint64_t)i,
                             .size = 1,
                             .flags = 1,
                             .start_us = T0 + (i - 1) * 1000,
                             .end_us = T0 + i * 1000};
        index_segment_progress(w->db, w->id, fr.end_us, i, &fr);
        index_event_add(w->db, T0 + i, "cam1", "tick", "");
        if (i % 50 == 0) index_flush(w->db);
    }
    index_segment_finish(w->db, w->id, T0 + w->rounds * 1000, w->rounds, NULL);
    index_flush(w->db);
    return NULL;
}

static void test_concurrent_reader(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    index_segment s = make_seg("cam1", T0, T0);
    writer_arg w = {.db = db, .id = index_segment_begin(db, &s), .rounds = 2000};
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_thread, &w), 0);
    int64_t last_bytes = 0;
    int open = 1;
    int64_t deadline = vg_mono_us() + 60 * S;
    int reads = 0;
    while (open && vg_mono_us() < deadline) {
        reads++;
        index_segment g;
        assert_int_equal(index_get_segment(r, w.id, &g), 0);
        assert_true(g.bytes >= last_bytes); /* never goes back */
        last_bytes = g.bytes;
        open = g.open;
        index_fragment *fr = NULL;
        size_t n = 0;
        assert_int_equal(index_get_fragments(r, w.id, &fr, &n), 0);
        /* Fragments are committed with their progress report, in order. */
        if (!open) assert_int_equal(n, (size_t)w.rounds);
        for (size_t k = 0; k < n; k++)
            assert_true(fr[k].offset == k + 1);
        free(fr);
        ids q = query(r, "cam1", T0, T0 + 1);
        /* Empty until the first progress report (a later snapshot than g's). */
        if (g.end_us > T0) assert_int_equal(q.n, 1);
    }
    pthread_join(t, NULL);
    print_message("%d reads while writing\n", reads);
    assert_int_equal(open, 0);
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM events"), w.rounds);
    index_reader_close(&r);
    index_close(&db);
}

/* ---- bad files ---- */

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_bad_files(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;

    /* No file yet: the writer creates it, a reader says so. */
    assert_int_equal(index_reader_open(f->path, &r), -ENOENT);
    assert_null(r);

    /* Not a database. */
    char text[4096];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = 0;
    write_file(f->path, text);
    assert_int_equal(index_open(f->path, &db), -EBADMSG);
    assert_null(db);
    assert_int_equal(index_reader_open(f->path, &r), -EBADMSG);
    assert_null(r);
    unlink(f->path);

    /* An SQLite file without our schema: a reader refuses it. */
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
    assert_int_equal(sqlite3_exec(c, "CREATE TABLE t (a)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(index_reader_open(f->path, &r), -EBADMSG);
    /* A newer schema than this build knows: both refuse. */
    assert_int_equal(sqlite3_exec(c, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c);
    assert_int_equal(index_open(f->path, &db), -EPROTONOSUPPORT);
    assert_int_equal(index_reader_open(f->path, &r), -EPROTONOSUPPORT);
    assert_null(db);
    assert_null(r);

    /* A directory that does not exist. */
    assert_true(index_open("/nonexistent-vigil-dir/index.db", &db) < 0);
    assert_null(db);
}

/* Details are whole JSON documents whatever they hold: quotes and
 * backslashes escaped, a text too long for the column cut on a UTF-8
 * character boundary, then arrays halved. */
static void test_detail_format(void **state)
{
    (void)state;
    char out[INDEX_DETAIL_MAX], big[2000];
    json_t *d = json_pack("{s:I,s:s}", "id", (json_int_t)7, "path", "cam \"1\"\\x/2026.mp4");
    assert_int_equal(index_detail_format(d, out, sizeof(out)), 0);
    assert_string_equal(out, "{\"id\":7,\"path\":\"cam \\\"1\\\"\\\\x/2026.mp4\"}");
    json_decref(d);
    /* 1000 two-byte characters: does not fit, is cut between characters */
    for (int i = 0; i < 1000; i++) memcpy(big + 2 * i, "\xc3\xa9", 2);
    big[2000 - 1] = 0;
    big[1998] = 0;
    d = json_pack("{s:s,s:s}", "why", "short", "reason", big);
    assert_int_equal(index_detail_format(d, out, sizeof(out)), 0);
    assert_true(strlen(out) < sizeof(out));
    json_error_t je;
    json_t *back = json_loads(out, 0, &je);
    assert_non_null(back);
    const char *r = json_string_value(json_object_get(back, "reason"));
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(back, "why")), "short");
    size_t rl = strlen(r);
    assert_true(rl > 3 && memcmp(r + rl - 3, "\xe2\x80\xa6", 3) == 0); /* marked as cut */
    assert_int_equal((rl - 3) % 2, 0);                                 /* whole characters */
    json_decref(back);
    json_decref(d);
    /* a long array is halved until it fits */
    json_t *arr = json_array();
    for (int i = 0; i < 400; i++) json_array_append_new(arr, json_integer(1000000 + i));
    d = json_pack("{s:I,s:o}", "export", (json_int_t)3, "locks", arr);
    assert_int_equal(index_detail_format(d, out, sizeof(out)), 0);
    back = json_loads(out, 0, &je);
    assert_non_null(back);
    assert_true(json_array_size(json_object_get(back, "locks")) > 0);
    assert_true(json_array_size(json_object_get(back, "locks")) < 400);
    json_decref(back);
    json_decref(d);
    /* nothing to build from: "{}" */
    assert_true(index_detail_format(NULL, out, sizeof(out)) < 0);
    assert_string_equal(out, "{}");
}

typedef struct reasons {
    char v[4][256];
    int n;
} reasons;

static int on_lock_reason(const index_lock *l, void *arg)
{
    reasons *r = arg;
    if (r->n < 4) memcpy(r->v[r->n++], l->reason, sizeof(l->reason));
    return 0;
}

/* Text stored longer than its buffer (a Vietnamese reason of 296 bytes) is cut
 * on a character boundary, and invalid bytes (written by an older client) are
 * replaced: every lock read back is text jansson accepts, so one row cannot
 * fail a listing. */
static void test_lock_text_utf8(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    index_close(&db);
    index_lock l = {.start_us = T0, .end_us = T0 + 60 * S};
    snprintf(l.camera, sizeof(l.camera), "cam1");
    snprintf(l.reason, sizeof(l.reason), "short");
    assert_int_equal(index_lock_create(f->path, &l), 0);
    int64_t long_id = l.id;
    snprintf(l.reason, sizeof(l.reason), "bad \xff\xfe\xc3 reason");
    assert_int_equal(index_lock_create(f->path, &l), 0);
    /* "xx" and 14 times "Dieu tra vu an " in Vietnamese (21 bytes): 296 bytes,
     * and byte 255 is the second of a two-byte letter, so a cut at 255 bytes
     * splits a character. */
    char vi[512] = "xx";
    for (int i = 0; i < 14; i++) strcat(vi, "\xc4\x90i\xe1\xbb\x81u tra v\xe1\xbb\xa5 \xc3\xa1n ");
    assert_int_equal(strlen(vi), 296);
    assert_int_equal((unsigned char)vi[255], 0x90);
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c, "UPDATE locks SET reason = ? WHERE id = ?", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, vi, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, long_id);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(c);

    reasons r = {0};
    assert_int_equal(index_locks_list(f->path, NULL, 1, T0, on_lock_reason, &r), 0);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < r.n; i++) {
        json_t *js = json_string(r.v[i]); /* NULL for text that is not UTF-8 */
        if (!js) fail_msg("lock %d: reason is not valid UTF-8", i);
        json_decref(js);
    }
    size_t n = strlen(r.v[0]);
    assert_true(n > 240 && n <= 255);
    assert_memory_equal(r.v[0], vi, n);                 /* a prefix of what was stored */
    assert_true(((unsigned char)vi[n] & 0xC0) != 0x80); /* ending between characters */
    assert_string_equal(r.v[1], "bad ??? reason");
}

/* Retention's delete checks the locks in its own transaction: a lock created
 * after retention chose its victims (as from the API during a pass) keeps its
 * footage, and the caller is told which rows stayed. Released or expired
 * locks, and other cameras' locks, keep nothing. */
static void test_delete_unlocked(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);
    int64_t a = add_closed(db, "cam1", T0, T0 + S);
    int64_t b = add_closed(db, "cam1", T0 + S, T0 + 2 * S);
    int64_t c = add_closed(db, "cam1", T0 + 2 * S, T0 + 3 * S);
    int64_t d = add_closed(db, "cam2", T0, T0 + S);
    int64_t e = add_closed(db, "cam1", T0 + 3 * S, T0 + 4 * S);
    assert_int_equal(index_flush(db), 0);
    /* Victims chosen; now locks arrive. */
    index_lock l = {.start_us = T0 + S + S / 2, .end_us = T0 + S + S / 2 + 1};
    snprintf(l.camera, sizeof(l.camera), "cam1");
    snprintf(l.reason, sizeof(l.reason), "case 1");
    assert_int_equal(index_lock_create(f->path, &l), 0); /* covers b only */
    index_lock rel = {.start_us = T0, .end_us = T0 + S};
    snprintf(rel.camera, sizeof(rel.camera), "cam1");
    snprintf(rel.reason, sizeof(rel.reason), "case 2");
    assert_int_equal(index_lock_create(f->path, &rel), 0); /* covers a, released */
    assert_int_equal(index_lock_release(f->path, rel.id, "ops", "closed"), 0);
    index_lock exp = {.start_us = T0 + 2 * S, .end_us = T0 + 3 * S, .until_us = T0 + 10 * S};
    snprintf(exp.camera, sizeof(exp.camera), "cam1");
    snprintf(exp.reason, sizeof(exp.reason), "case 3");
    assert_int_equal(index_lock_create(f->path, &exp), 0); /* covers c until T0 + 10 s */
    int64_t del[] = {a, b, c, d, e};
    uint8_t kept[VG_ARRAY_SIZE(del)];
    /* At T0 + 20 s the "until" lock has expired. */
    assert_int_equal(index_segments_delete_unlocked(db, del, VG_ARRAY_SIZE(del), T0 + 20 * S, kept),
                     0);
    uint8_t want[] = {0, 1, 0, 0, 0};
    assert_memory_equal(kept, want, sizeof(want));
    index_segment g;
    assert_int_equal(index_get_segment(r, b, &g), 0);
    assert_int_equal(index_get_segment(r, a, &g), -ENOENT);
    assert_int_equal(index_get_segment(r, c, &g), -ENOENT);
    assert_int_equal(index_get_segment(r, d, &g), -ENOENT);
    assert_int_equal(index_get_segment(r, e, &g), -ENOENT);
    index_reader_close(&r);
    index_close(&db);
}

/* Clock evidence per run: stored, replaced as the run goes, and the query
 * returns the run covering the range's start plus those beginning inside it. */
typedef struct clock_acc {
    index_clock_run v[8];
    int n;
} clock_acc;

static int on_clock(const index_clock_run *c, void *arg)
{
    clock_acc *a = arg;
    if (a->n < 8) a->v[a->n++] = *c;
    return 0;
}

static void test_clock_runs_and_fsync_flag(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    const int64_t starts[] = {T0, T0 + 100 * S, T0 + 200 * S};
    const char *causes[] = {"start", "drift", "jump_forward"};
    for (int i = 0; i < 3; i++) {
        index_clock_run c;
        memset(&c, 0, sizeof(c));
        snprintf(c.camera, sizeof(c.camera), "cam1");
        snprintf(c.cause, sizeof(c.cause), "%s", causes[i]);
        c.run_start_us = starts[i];
        c.updated_us = starts[i] + 10 * S;
        index_clock_run_update(db, &c);
        /* the second report of a run replaces the first */
        c.updated_us = starts[i] + 90 * S;
        c.slew_us = -1234 * (i + 1);
        c.step_us = -20000;
        c.has_recv_offset = i != 1;
        c.recv_offset_us = 3000;
        c.ntp_samples = i == 0 ? 0 : 250;
        c.ntp_offset_us = -700 + i, c.ntp_offset_min_us = -900, c.ntp_offset_max_us = -500;
        index_clock_run_update(db, &c);
    }
    index_segment other = make_seg("cam2", T0, T0);
    index_clock_run c2;
    memset(&c2, 0, sizeof(c2));
    snprintf(c2.camera, sizeof(c2.camera), "cam2");
    snprintf(c2.cause, sizeof(c2.cause), "start");
    c2.run_start_us = T0 + 150 * S;
    index_clock_run_update(db, &c2);
    int64_t a = add_closed(db, "cam1", T0, T0 + 10 * S);
    int64_t b = add_closed(db, "cam1", T0 + 10 * S, T0 + 20 * S);
    (void)other;
    index_segment_fsync_failed(db, b);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);

    clock_acc acc = {0};
    /* from inside the first run to inside the second: both */
    assert_int_equal(index_query_clock_runs(r, "cam1", T0 + 50 * S, T0 + 150 * S, on_clock, &acc),
                     0);
    assert_int_equal(acc.n, 2);
    assert_true(acc.v[0].run_start_us == T0 && acc.v[1].run_start_us == T0 + 100 * S);
    assert_string_equal(acc.v[0].cause, "start");
    assert_string_equal(acc.v[1].cause, "drift");
    assert_true(acc.v[0].updated_us == T0 + 90 * S && acc.v[0].slew_us == -1234);
    assert_int_equal(acc.v[0].ntp_samples, 0);
    assert_true(acc.v[0].has_recv_offset && acc.v[0].recv_offset_us == 3000);
    assert_false(acc.v[1].has_recv_offset);
    assert_true(acc.v[1].ntp_samples == 250 && acc.v[1].ntp_offset_us == -699 &&
                acc.v[1].ntp_offset_min_us == -900 && acc.v[1].ntp_offset_max_us == -500);
    /* a range inside one run: that run only; before every run: none */
    acc.n = 0;
    assert_int_equal(index_query_clock_runs(r, "cam1", T0 + 210 * S, T0 + 220 * S, on_clock, &acc),
                     0);
    assert_int_equal(acc.n, 1);
    assert_string_equal(acc.v[0].cause, "jump_forward");
    acc.n = 0;
    assert_int_equal(index_query_clock_runs(r, "cam1", T0 - 50 * S, T0 - 10 * S, on_clock, &acc),
                     0);
    assert_int_equal(acc.n, 0);
    /* starting exactly at a run's start: that run and the next ones */
    acc.n = 0;
    assert_int_equal(index_query_clock_runs(r, "cam1", T0 + 100 * S, INT64_MAX, on_clock, &acc), 0);
    assert_int_equal(acc.n, 2);
    acc.n = 0;
    assert_int_equal(index_query_clock_runs(r, "cam2", INT64_MIN, INT64_MAX, on_clock, &acc), 0);
    assert_int_equal(acc.n, 1);

    index_segment s;
    assert_int_equal(index_get_segment(r, a, &s), 0);
    assert_int_equal(s.fsync_failed, 0);
    assert_int_equal(index_get_segment(r, b, &s), 0);
    assert_int_equal(s.fsync_failed, 1);
    assert_int_equal(s.has_sha256, 1);
    index_reader_close(&r);
    index_close(&db);
}

/* ---- activity ---- */

typedef struct act_rows {
    int64_t id[8];
    uint8_t v[8][16];
    size_t n[8];
    size_t rows;
} act_rows;

static int collect_act(const index_segment *s, const uint8_t *v, size_t n, void *arg)
{
    act_rows *a = arg;
    assert_true(a->rows < 8 && n <= 16);
    a->id[a->rows] = s->id;
    memcpy(a->v[a->rows], v, n);
    a->n[a->rows++] = n;
    return 0;
}

static void test_activity(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    int64_t a = add_closed(db, "cam1", T0, T0 + 10 * S);
    int64_t b = add_closed(db, "cam1", T0 + 10 * S, T0 + 20 * S);
    add_closed(db, "cam1", T0 + 20 * S, T0 + 30 * S); /* no activity stored */
    int64_t c = add_closed(db, "cam2", T0, T0 + 10 * S);
    uint8_t va[11], vb[3] = {INDEX_ACTIVITY_NONE, 7, INDEX_ACTIVITY_HIDDEN}, vc[1] = {9};
    for (int i = 0; i < 11; i++) va[i] = (uint8_t)(i * 20);
    index_segment_activity(db, a, va, sizeof(va));
    index_segment_activity(db, b, vb, sizeof(vb));
    index_segment_activity(db, c, vc, sizeof(vc));
    index_segment_activity(db, 999, vc, sizeof(vc)); /* unknown: nothing */
    assert_int_equal(index_flush(db), 0);

    assert_int_equal(index_reader_open(f->path, &r), 0);
    act_rows got = {.rows = 0};
    assert_int_equal(index_query_activity(r, "cam1", T0 + 5 * S, T0 + 40 * S, collect_act, &got), 0);
    assert_int_equal(got.rows, 2); /* the third has none */
    assert_int_equal(got.id[0], a);
    assert_int_equal(got.n[0], sizeof(va));
    assert_memory_equal(got.v[0], va, sizeof(va));
    assert_int_equal(got.id[1], b);
    assert_memory_equal(got.v[1], vb, sizeof(vb));
    memset(&got, 0, sizeof(got));
    assert_int_equal(index_query_activity(r, "cam1", T0 + 10 * S, T0 + 11 * S, collect_act, &got), 0);
    assert_int_equal(got.rows, 1);
    assert_int_equal(got.id[0], b);
    memset(&got, 0, sizeof(got));
    assert_int_equal(index_query_activity(r, "cam3", T0, T0 + 40 * S, collect_act, &got), 0);
    assert_int_equal(got.rows, 0);
    index_reader_close(&r);

    /* deleting a segment takes its activity with the row */
    assert_int_equal(index_segments_delete(db, &a, 1), 0);
    assert_int_equal(pragma_int(f->path, "SELECT count(*) FROM segments WHERE activity IS NOT NULL"),
                     2);
    index_close(&db);
}

int main(void)
{
    vg_log_set_level(LOG_CRIT); /* the bad-file tests log errors on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_coalesced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_query_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test(test_detail_format),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_text_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_unlocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_runs_and_fsync_flag, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
