/*
 * Evidence locks and the queries retention runs (issue 4).
 *
 * Lock changes are rare, come from the HTTP API and from vigilctl in another
 * process, and must be durable when the call returns, so each one opens a
 * write connection of its own (WAL lets it interleave with the writer thread's
 * batches; both wait on the busy timeout), writes the lock row and its event in
 * one transaction and closes. Nothing here goes through the writer queue.
 *
 * Every change also rewrites the lock mirror beside the footage
 * (index/mirror.c) before its transaction commits.
 *
 * Retention reads through index_retention, a read-only connection owned by
 * the retention thread. The victim scans are keyset-paginated on
 * (start_us, id) so a run that skips locked or pinned segments still moves
 * forward: segments_pool_start (pool, start_us, open, bytes) serves the pool
 * order and the pool's byte count; segments_camera_start serves the per-camera
 * age scan (start_us < cutoff bounds it, since start <= end).
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_COLS INDEX__LOCK_COLS

void index__lock_from_row(sqlite3_stmt *st, index_lock *l)
{
    memset(l, 0, sizeof(*l));
    l->id = sqlite3_column_int64(st, 0);
    index__col_str(st, 1, l->camera, sizeof(l->camera));
    l->start_us = sqlite3_column_int64(st, 2);
    l->end_us = sqlite3_column_int64(st, 3);
    index__col_str(st, 4, l->reason, sizeof(l->reason));
    index__col_str(st, 5, l->created_by, sizeof(l->created_by));
    l->created_us = sqlite3_column_int64(st, 6);
    l->until_us = sqlite3_column_int64(st, 7); /* NULL reads as 0 */
    l->released_us = sqlite3_column_int64(st, 8);
    index__col_str(st, 9, l->released_by, sizeof(l->released_by));
}

int index_lock_covers(const index_lock *l, const char *camera, int64_t start_us, int64_t end_us,
                      int64_t now_us)
{
    if (l->released_us) return 0;
    if (l->until_us && l->until_us <= now_us) return 0;
    if (strcmp(l->camera, camera) != 0) return 0;
    return l->start_us < end_us && l->end_us > start_us;
}

/* ---- lock changes: a connection per call ---- */

/* Locks came with schema version 2. */
#define LOCKS_VERSION 2

static int add_event(sqlite3 *db, const char *path, int64_t t, const char *camera,
                     const char *type, const char *detail)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, index__sql_event_insert, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, t);
        sqlite3_bind_text(st, 2, camera, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : index__fail(db, rc, path, "inserting an event");
    sqlite3_finalize(st);
    return ret;
}

/* The detail of a lock event: JSON, so consumers need not parse prose. */
static void lock_detail(const index_lock *l, const char *type, const char *who,
                        const char *why, char *out, size_t len)
{
    char a[VG_TIME_LEN], b[VG_TIME_LEN], u[VG_TIME_LEN];
    json_t *d = json_pack("{s:I,s:s,s:s,s:o,s:s,s:s,s:s}", "lock", (json_int_t)l->id, "start",
                          vg_time_format(l->start_us, a, sizeof(a)), "end",
                          vg_time_format(l->end_us, b, sizeof(b)), "until",
                          l->until_us ? json_string(vg_time_format(l->until_us, u, sizeof(u)))
                                      : json_null(),
                          "by", who ? who : "", "reason", why ? why : "", "type", type);
    index_detail_format(d, out, len);
    json_decref(d);
}

/* index_lock_create()'s transaction: the row, then its event. arg: the lock. */
static int create_txn(sqlite3 *db, const char *path, void *arg)
{
    index_lock *l = arg;
    sqlite3_stmt *st = NULL;
    char detail[INDEX_DETAIL_MAX];
    int ret = 0;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO locks (camera, start_us, end_us, reason, created_by, "
                                "created_us, until_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, l->camera, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, l->start_us);
        sqlite3_bind_int64(st, 3, l->end_us);
        sqlite3_bind_text(st, 4, l->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, l->created_by, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, l->created_us);
        if (l->until_us) sqlite3_bind_int64(st, 7, l->until_us);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        ret = index__fail(db, rc, path, "inserting a lock");
        goto out;
    }
    l->id = sqlite3_last_insert_rowid(db);
    lock_detail(l, "created", l->created_by, l->reason, detail, sizeof(detail));
    ret = add_event(db, path, l->created_us, l->camera, "lock_created", detail);
    if (ret == 0) ret = index__lock_mirror_write(db, path);
out:
    sqlite3_finalize(st);
    return ret;
}

int index_lock_create(const char *path, index_lock *l)
{
    if (!l->camera[0] || !l->reason[0] || l->end_us <= l->start_us) return -EINVAL;
    if (!l->created_by[0]) snprintf(l->created_by, sizeof(l->created_by), "local");
    if (!l->created_us) l->created_us = vg_now_us();
    return index__write_txn(path, LOCKS_VERSION, "locks", create_txn, l);
}

typedef struct release_args {
    int64_t id;
    int64_t now;
    const char *who, *why;
    bool own_only; /* only the lock's creator may release it */
} release_args;

/* index_lock_release()'s transaction: read the lock, mark it released, then
 * its event. arg: the release_args. */
static int release_txn(sqlite3 *db, const char *path, void *arg)
{
    const release_args *a = arg;
    sqlite3_stmt *st = NULL;
    index_lock l;
    char detail[INDEX_DETAIL_MAX];
    int ret = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT " LOCK_COLS " FROM locks WHERE id = ?1", -1, &st,
                                NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a->id);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        ret = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = index__fail(db, rc, path, "reading a lock");
        goto out;
    }
    index__lock_from_row(st, &l);
    sqlite3_finalize(st);
    st = NULL;
    if (l.released_us) {
        ret = -EALREADY;
        goto out;
    }
    /* Checked inside the transaction that releases, against the row it
     * releases: who created a lock is the evidence's owner. */
    if (a->own_only && strcmp(l.created_by, a->who) != 0) {
        ret = -EPERM;
        goto out;
    }
    rc = sqlite3_prepare_v2(db, "UPDATE locks SET released_us = ?2, released_by = ?3 WHERE id = ?1",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_int64(st, 2, a->now);
        sqlite3_bind_text(st, 3, a->who, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        ret = index__fail(db, rc, path, "releasing a lock");
        goto out;
    }
    lock_detail(&l, "released", a->who, a->why, detail, sizeof(detail));
    ret = add_event(db, path, a->now, l.camera, "lock_released", detail);
    if (ret == 0) ret = index__lock_mirror_write(db, path);
out:
    sqlite3_finalize(st);
    return ret;
}

static int release(const char *path, int64_t id, const char *who, const char *why, bool own_only)
{
    release_args a = {.id = id, .now = vg_now_us(), .who = who, .why = why, .own_only = own_only};
    if (!why || !*why) return -EINVAL; /* a release is always explained */
    if (!who || !*who) a.who = "local";
    return index__write_txn(path, LOCKS_VERSION, "locks", release_txn, &a);
}

int index_lock_release(const char *path, int64_t id, const char *who, const char *why)
{
    return release(path, id, who, why, false);
}

int index_lock_release_own(const char *path, int64_t id, const char *who, const char *why)
{
    return release(path, id, who, why, true);
}

int index_locks_list(const char *path, const char *camera, int all, int64_t now_us,
                     index_lock_cb cb, void *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    index_lock l;
    int ret = index__open_for(path, 0, LOCKS_VERSION, "locks", &db);
    if (ret < 0) return ret;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT " LOCK_COLS " FROM locks WHERE (?1 IS NULL OR camera = ?1) AND "
        "(?2 OR (released_us IS NULL AND (until_us IS NULL OR until_us > ?3))) ORDER BY id",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, "listing locks");
        goto out;
    }
    if (camera) sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, all != 0);
    sqlite3_bind_int64(st, 3, now_us);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        index__lock_from_row(st, &l);
        if ((ret = cb(&l, arg)) != 0) goto out;
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "listing locks");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

/* ---- retention's read connection ---- */

enum { RT_POOL_BYTES, RT_OLDEST, RT_EXPIRED, RT_LOCKS, RT_COUNT };

static const char *const rt_sqls[RT_COUNT] = {
    [RT_POOL_BYTES] = "SELECT coalesce(sum(bytes), 0) FROM segments WHERE pool = ?1",
    [RT_OLDEST] = "SELECT " INDEX__SEG_COLS " FROM segments INDEXED BY segments_pool_start "
                  "WHERE pool = ?1 AND open = 0 AND (start_us > ?2 OR (start_us = ?2 AND id > ?3)) "
                  "ORDER BY start_us, id LIMIT ?4",
    [RT_EXPIRED] = "SELECT " INDEX__SEG_COLS " FROM segments "
                   "WHERE camera = ?1 AND start_us < ?2 AND end_us < ?2 AND open = 0 "
                   "AND (start_us > ?3 OR (start_us = ?3 AND id > ?4)) "
                   "ORDER BY start_us, id LIMIT ?5",
    [RT_LOCKS] = "SELECT " LOCK_COLS " FROM locks WHERE released_us IS NULL "
                 "AND (until_us IS NULL OR until_us > ?1)",
};

struct index_retention {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *st[RT_COUNT];
};

int index_retention_open(const char *path, index_retention **out)
{
    int ret = 0;
    index_retention *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return -ENOMEM;
    }
    if ((ret = index__open_for(path, 0, LOCKS_VERSION, "locks", &r->db)) < 0) goto out;
    for (int i = 0; i < RT_COUNT; i++) {
        int rc = sqlite3_prepare_v3(r->db, rt_sqls[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i],
                                    NULL);
        if (rc != SQLITE_OK) {
            ret = index__fail(r->db, rc, path, "preparing a retention query");
            goto out;
        }
    }
    *out = r;
    r = NULL;
out:
    index_retention_close(&r);
    return ret;
}

void index_retention_close(index_retention **pr)
{
    index_retention *r = pr ? *pr : NULL;
    if (!r) return;
    for (int i = 0; i < RT_COUNT; i++) sqlite3_finalize(r->st[i]);
    sqlite3_close(r->db);
    free(r->path);
    free(r);
    *pr = NULL;
}

int index_retention_pool_bytes(index_retention *r, const char *pool, int64_t *bytes)
{
    sqlite3_stmt *st = r->st[RT_POOL_BYTES];
    int ret = 0;
    sqlite3_bind_text(st, 1, pool, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *bytes = sqlite3_column_int64(st, 0);
    else
        ret = index__fail(r->db, rc, r->path, "summing a pool");
    index__stmt_done(st);
    return ret;
}

int index_retention_oldest(index_retention *r, const char *pool, int64_t after_start_us,
                           int64_t after_id, int limit, index_segment_cb cb, void *arg)
{
    sqlite3_stmt *st = r->st[RT_OLDEST];
    sqlite3_bind_text(st, 1, pool, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after_start_us);
    sqlite3_bind_int64(st, 3, after_id);
    sqlite3_bind_int(st, 4, limit);
    return index__each_segment(r->db, r->path, st, cb, arg, "querying retention candidates");
}

int index_retention_expired(index_retention *r, const char *camera, int64_t before_us,
                            int64_t after_start_us, int64_t after_id, int limit,
                            index_segment_cb cb, void *arg)
{
    sqlite3_stmt *st = r->st[RT_EXPIRED];
    sqlite3_bind_text(st, 1, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, before_us);
    sqlite3_bind_int64(st, 3, after_start_us);
    sqlite3_bind_int64(st, 4, after_id);
    sqlite3_bind_int(st, 5, limit);
    return index__each_segment(r->db, r->path, st, cb, arg, "querying retention candidates");
}

int index_retention_locks(index_retention *r, int64_t now_us, index_lock **out, size_t *n)
{
    sqlite3_stmt *st = r->st[RT_LOCKS];
    index_lock *v = NULL;
    size_t count = 0, cap = 0;
    int rc, ret = 0;
    *out = NULL;
    *n = 0;
    sqlite3_bind_int64(st, 1, now_us);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            index_lock *nv = realloc(v, ncap * sizeof(*v));
            if (!nv) {
                ret = -ENOMEM;
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        index__lock_from_row(st, &v[count++]);
    }
    if (rc != SQLITE_DONE) {
        ret = index__fail(r->db, rc, r->path, "reading locks");
        goto out;
    }
    *out = v;
    *n = count;
    v = NULL;
out:
    free(v);
    index__stmt_done(st);
    return ret;
}
