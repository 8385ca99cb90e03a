/*
 * Read-only connections to the index, one per thread (the HTTP loop's thread
 * pool workers, vigilctl). WAL lets them read a consistent snapshot while the
 * writer thread commits; each statement is prepared once per reader and kept.
 *
 * A query runs one statement, so it reads one snapshot; the callback is called
 * while the statement is active and may use the reader for other queries
 * (they use other statements), but not for the same query.
 *
 * The decoding of a segment row (index__segment_from_row()), with the
 * encoding of its path that the writer uses (index__segment_path_stored()),
 * and the loop that hands a statement's rows to a callback live here for the
 * whole module: retention's scans in locks.c read the same columns.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_SEGMENTS,
    ST_SEGMENT,
    ST_FRAGMENTS,
    ST_FRAGMENTS_OLD,
    ST_EVENTS_ALL,
    ST_EVENTS_CAMERA,
    ST_OPEN,
    ST_LAST_START,
    ST_POOL_LAST_START,
    ST_CLOSED_AFTER,
    ST_CLOCK,
    ST_ACTIVITY,
    ST_SPANS,
    ST_COUNT
};

/* Overlap of [?2, ?3) on camera ?1, a range scan of segments_camera_start:
 * start_us is bounded below by ?2 minus the longest segment ever indexed (read
 * in the same statement, hence the same snapshot; see schema.c). ?2 arrives
 * clamped so the subtraction cannot overflow. */
const char index__sql_overlap[] =
    "SELECT " INDEX__SEG_COLS " FROM segments "
    "WHERE camera = ?1 AND start_us < ?3 AND end_us > ?2 "
    "AND start_us >= ?2 - (SELECT value FROM meta WHERE key = 'max_segment_us') "
    "ORDER BY start_us";

/* The same with only columns of segments_camera_start: a covering scan. */
const char index__sql_spans[] =
    "SELECT start_us, end_us, open FROM segments "
    "WHERE camera = ?1 AND start_us < ?3 AND end_us > ?2 "
    "AND start_us >= ?2 - (SELECT value FROM meta WHERE key = 'max_segment_us') "
    "ORDER BY start_us";

static const char *const sqls[ST_COUNT] = {
    [ST_SEGMENTS] = index__sql_overlap,
    [ST_SPANS] = index__sql_spans,
    [ST_SEGMENT] = "SELECT " INDEX__SEG_COLS " FROM segments WHERE id = ?1",
    [ST_FRAGMENTS] = "SELECT frags, segment_id < " INDEX__FRAGS_LEGACY_SQL
                     " FROM segment_fragments WHERE segment_id = ?1",
    /* A file older than INDEX__FRAGS_VERSION (vigilctl on an index vigild
     * has not migrated yet): every table has the old form. */
    [ST_FRAGMENTS_OLD] = "SELECT frags, 1 FROM segment_fragments WHERE segment_id = ?1",
    [ST_EVENTS_ALL] = "SELECT id, time_us, camera, type, detail FROM events "
                      "WHERE time_us >= ?1 AND time_us < ?2 ORDER BY time_us, id",
    [ST_EVENTS_CAMERA] = "SELECT id, time_us, camera, type, detail FROM events "
                         "WHERE camera = ?3 AND time_us >= ?1 AND time_us < ?2 "
                         "ORDER BY time_us, id",
    [ST_OPEN] = "SELECT " INDEX__SEG_COLS " FROM segments WHERE open = 1 ORDER BY id",
    /* One seek at the end of the camera's range of segments_camera_start. */
    [ST_LAST_START] = "SELECT max(start_us) FROM segments WHERE camera = ?1",
    /* The same at the end of the pool's range of segments_pool_start. */
    [ST_POOL_LAST_START] = "SELECT max(start_us) FROM segments WHERE pool = ?1",
    /* The rowid order: a range scan of the table itself, no index needed. */
    [ST_CLOSED_AFTER] = "SELECT " INDEX__SEG_COLS " FROM segments WHERE id > ?1 AND open = 0 "
                        "AND (?2 IS NULL OR camera = ?2) AND start_us < ?4 AND end_us > ?3 "
                        "ORDER BY id LIMIT ?5",
    [ST_CLOCK] = index__sql_clock_query,
    /* The overlap query, for the rows that carry activity (the BLOB last). */
    [ST_ACTIVITY] = "SELECT " INDEX__SEG_COLS ", activity FROM segments "
                    "WHERE camera = ?1 AND start_us < ?3 AND end_us > ?2 "
                    "AND start_us >= ?2 - (SELECT value FROM meta WHERE key = 'max_segment_us') "
                    "AND activity IS NOT NULL ORDER BY start_us",
};

struct index_reader {
    char *path;
    sqlite3 *db;
    int version; /* the file's schema version at open */
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt *slot[INDEX__READER_SLOTS];
};

/* Times far outside any real recording but far from int64 overflow too. */
#define TIME_MIN (-(INT64_C(1) << 61))
#define TIME_MAX (INT64_C(1) << 61)

static int64_t clamp_time(int64_t t)
{
    return t < TIME_MIN ? TIME_MIN : t > TIME_MAX ? TIME_MAX : t;
}

int index_reader_open(const char *path, index_reader **out)
{
    int ret = 0;
    index_reader *r = NULL;
    *out = NULL;

    r = calloc(1, sizeof(*r));
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return -ENOMEM;
    }
    int version = 0;
    if ((ret = index__open_conn(path, 0, &r->db, &version)) < 0) goto out;
    r->version = version;
    if (version == 0) {
        vg_log(LOG_ERR, "index: %s: not a vigil index (no schema)", path);
        ret = -EBADMSG;
        goto out;
    }
    *out = r;
    r = NULL;
out:
    index_reader_close(&r);
    return ret;
}

void index_reader_close(index_reader **pr)
{
    index_reader *r = pr ? *pr : NULL;
    if (!r) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(r->st[i]);
    for (int i = 0; i < INDEX__READER_SLOTS; i++)
        sqlite3_finalize(r->slot[i]);
    if (r->db) sqlite3_close(r->db);
    free(r->path);
    free(r);
    *pr = NULL;
}

sqlite3 *index__reader_db(index_reader *r)
{
    return r->db;
}

const char *index__reader_path(index_reader *r)
{
    return r->path;
}

sqlite3_stmt **index__reader_slot(index_reader *r, unsigned i)
{
    return i < INDEX__READER_SLOTS ? &r->slot[i] : NULL;
}

/* The cached statement i, prepared on first use, or NULL (logged; *err set). */
static sqlite3_stmt *stmt(index_reader *r, int i, int *err)
{
    if (!r->st[i]) {
        int rc = sqlite3_prepare_v3(r->db, sqls[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i], NULL);
        if (rc != SQLITE_OK) {
            *err = index__fail(r->db, rc, r->path, "preparing a query");
            return NULL;
        }
    }
    return r->st[i];
}

void index__stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void index__col_str(sqlite3_stmt *st, int i, char *dst, size_t len)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    /* Cut on a character boundary and invalid bytes replaced: a row is
     * served as JSON, which must be valid UTF-8. */
    vg_utf8_copy(dst, len, s ? (const char *)s : "");
}

const char *index__segment_path_stored(const char *camera, int64_t start_us, const char *path)
{
    char layout[INDEX_PATH_MAX];
    if (vg_segment_relpath(camera, start_us, layout, sizeof(layout)) == 0 &&
        strcmp(layout, path) == 0)
        return "";
    return path;
}

void index__segment_from_row(sqlite3_stmt *st, int first_col, index_segment *s)
{
    const int c = first_col;
    memset(s, 0, sizeof(*s));
    s->id = sqlite3_column_int64(st, c + 0);
    index__col_str(st, c + 1, s->camera, sizeof(s->camera));
    s->start_us = sqlite3_column_int64(st, c + 2);
    s->end_us = sqlite3_column_int64(st, c + 3);
    s->run_start_us = sqlite3_column_int64(st, c + 4);
    index__col_str(st, c + 5, s->pool, sizeof(s->pool));
    index__col_str(st, c + 6, s->path, sizeof(s->path));
    if (!s->path[0] && vg_segment_relpath(s->camera, s->start_us, s->path, sizeof(s->path)) < 0)
        s->path[0] = 0;
    s->bytes = sqlite3_column_int64(st, c + 7);
    s->open = sqlite3_column_int(st, c + 8) != 0;
    const void *sha = sqlite3_column_blob(st, c + 9);
    if (sha && sqlite3_column_bytes(st, c + 9) == 32) {
        s->has_sha256 = 1;
        memcpy(s->sha256, sha, 32);
    }
    index__col_str(st, c + 10, s->codec, sizeof(s->codec));
    index__col_str(st, c + 11, s->audio_codec, sizeof(s->audio_codec));
    s->width = sqlite3_column_int(st, c + 12);
    s->height = sqlite3_column_int(st, c + 13);
    s->fsync_failed = sqlite3_column_int(st, c + 14) != 0;
}

int index__each_segment(sqlite3 *db, const char *path, sqlite3_stmt *st, index_segment_cb cb,
                        void *arg, const char *what)
{
    index_segment s;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        index__segment_from_row(st, 0, &s);
        if ((ret = cb(&s, arg)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = index__fail(db, rc, path, what);
    index__stmt_done(st);
    return ret;
}

int index_query_segments(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                         index_segment_cb cb, void *arg)
{
    int ret = 0;
    sqlite3_stmt *st = stmt(r, ST_SEGMENTS, &ret);
    if (!st) return ret;
    sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, clamp_time(start_us));
    sqlite3_bind_int64(st, 3, clamp_time(end_us));
    return index__each_segment(r->db, r->path, st, cb, arg, "querying segments");
}

int index_query_spans(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                      index_span_cb cb, void *arg)
{
    int ret = 0, rc;
    sqlite3_stmt *st = stmt(r, ST_SPANS, &ret);
    if (!st) return ret;
    sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, clamp_time(start_us));
    sqlite3_bind_int64(st, 3, clamp_time(end_us));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        index_span sp = {.start_us = sqlite3_column_int64(st, 0),
                         .end_us = sqlite3_column_int64(st, 1),
                         .open = sqlite3_column_int(st, 2) != 0};
        if ((ret = cb(&sp, arg)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = index__fail(r->db, rc, r->path, "querying segments");
    index__stmt_done(st);
    return ret;
}

int index_query_activity(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                         index_activity_cb cb, void *arg)
{
    int ret = 0, rc;
    index_segment s;
    sqlite3_stmt *st = stmt(r, ST_ACTIVITY, &ret);
    if (!st) return ret;
    sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, clamp_time(start_us));
    sqlite3_bind_int64(st, 3, clamp_time(end_us));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        index__segment_from_row(st, 0, &s);
        const uint8_t *v = sqlite3_column_blob(st, INDEX__SEG_NCOLS);
        size_t n = (size_t)sqlite3_column_bytes(st, INDEX__SEG_NCOLS);
        if ((ret = cb(&s, v, v ? n : 0, arg)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = index__fail(r->db, rc, r->path, "querying activity");
    index__stmt_done(st);
    return ret;
}

int index_query_open_segments(index_reader *r, index_segment_cb cb, void *arg)
{
    int ret = 0;
    sqlite3_stmt *st = stmt(r, ST_OPEN, &ret);
    if (!st) return ret;
    return index__each_segment(r->db, r->path, st, cb, arg, "querying segments");
}

int index_query_closed_after(index_reader *r, int64_t after_id, const char *camera,
                             int64_t start_us, int64_t end_us, int limit, index_segment_cb cb,
                             void *arg)
{
    int ret = 0;
    sqlite3_stmt *st = stmt(r, ST_CLOSED_AFTER, &ret);
    if (!st) return ret;
    sqlite3_bind_int64(st, 1, after_id);
    if (camera) sqlite3_bind_text(st, 2, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, clamp_time(start_us));
    sqlite3_bind_int64(st, 4, clamp_time(end_us));
    sqlite3_bind_int(st, 5, limit);
    return index__each_segment(r->db, r->path, st, cb, arg, "querying segments");
}

int index_get_segment(index_reader *r, int64_t id, index_segment *out)
{
    int ret = 0;
    sqlite3_stmt *st = stmt(r, ST_SEGMENT, &ret);
    if (!st) return ret;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        index__segment_from_row(st, 0, out);
    else if (rc == SQLITE_DONE)
        ret = -ENOENT;
    else
        ret = index__fail(r->db, rc, r->path, "reading a segment");
    index__stmt_done(st);
    return ret;
}

int index_get_fragments(index_reader *r, int64_t segment_id, index_fragment **out, size_t *n)
{
    int ret = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st =
        stmt(r, r->version < INDEX__FRAGS_VERSION ? ST_FRAGMENTS_OLD : ST_FRAGMENTS, &ret);
    if (!st) return ret;
    sqlite3_bind_int64(st, 1, segment_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const uint8_t *blob = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        ret = sqlite3_column_int(st, 1) ? index__frags_decode_legacy(blob, len, out, n)
                                        : index__frags_decode(blob, len, out, n);
        if (ret == -EBADMSG)
            vg_log(LOG_ERR, "index: %s: fragment table of segment %lld is malformed (%zu bytes)",
                   r->path, (long long)segment_id, len);
    } else if (rc != SQLITE_DONE) {
        ret = index__fail(r->db, rc, r->path, "reading a fragment table");
    }
    index__stmt_done(st);
    return ret;
}

int index_query_events(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                       index_event_cb cb, void *arg)
{
    int ret = 0;
    sqlite3_stmt *st = stmt(r, camera ? ST_EVENTS_CAMERA : ST_EVENTS_ALL, &ret);
    if (!st) return ret;
    sqlite3_bind_int64(st, 1, start_us);
    sqlite3_bind_int64(st, 2, end_us);
    if (camera) sqlite3_bind_text(st, 3, camera, -1, SQLITE_STATIC);
    index_event e;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&e, 0, sizeof(e));
        e.id = sqlite3_column_int64(st, 0);
        e.time_us = sqlite3_column_int64(st, 1);
        index__col_str(st, 2, e.camera, sizeof(e.camera));
        index__col_str(st, 3, e.type, sizeof(e.type));
        index__col_str(st, 4, e.detail, sizeof(e.detail));
        if ((ret = cb(&e, arg)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = index__fail(r->db, rc, r->path, "querying events");
    index__stmt_done(st);
    return ret;
}

static int last_start(index_reader *r, int which, const char *key, int64_t *start_us)
{
    int ret = 0;
    sqlite3_stmt *st = stmt(r, which, &ret);
    if (!st) return ret;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        ret = index__fail(r->db, rc, r->path, "reading the latest segment start");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        ret = -ENOENT;
    else
        *start_us = sqlite3_column_int64(st, 0);
    index__stmt_done(st);
    return ret;
}

int index_camera_last_start(index_reader *r, const char *camera, int64_t *start_us)
{
    return last_start(r, ST_LAST_START, camera, start_us);
}

int index_pool_last_start(index_reader *r, const char *pool, int64_t *start_us)
{
    return last_start(r, ST_POOL_LAST_START, pool, start_us);
}

int index_query_clock_runs(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                           index_clock_run_cb cb, void *arg)
{
    int ret = 0;
    sqlite3_stmt *st = stmt(r, ST_CLOCK, &ret);
    if (!st) return ret;
    sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, clamp_time(start_us));
    sqlite3_bind_int64(st, 3, clamp_time(end_us));
    index_clock_run c;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        index__clock_from_row(st, &c);
        if ((ret = cb(&c, arg)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = index__fail(r->db, rc, r->path, "querying clock runs");
    index__stmt_done(st);
    return ret;
}
