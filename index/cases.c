/*
 * Cases: an investigation that holds footage of several cameras over one
 * range and gathers what was done with it (exports, notes, the accesses to
 * its footage).
 *
 * A case does not hold footage by itself: the caller creates an ordinary
 * lock per camera and records it here (index_case_set_lock()), so retention,
 * the lock listing and the release rules stay the locks' alone. Exports are
 * ordinary exports linked here. What a case adds is the grouping, its notes
 * and the chain-of-custody query over the audit trail.
 *
 * Case changes are rare, come from the HTTP API on worker threads, and must
 * be durable when the response goes out: like index/locks.c each call opens a
 * connection of its own (WAL interleaves it with the writer thread's batches).
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Cases came with schema version 5. */
#define CASES_VERSION 5

#define CASE_COLS                                                                                 \
    "c.id, c.title, c.reason, c.start_us, c.end_us, c.created_by, c.created_us, c.closed_us, "    \
    "c.closed_by, c.close_reason, (SELECT count(*) FROM case_cameras k WHERE k.case_id = c.id)"

static void row_to_case(sqlite3_stmt *st, index_case *c)
{
    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(st, 0);
    index__col_str(st, 1, c->title, sizeof(c->title));
    index__col_str(st, 2, c->reason, sizeof(c->reason));
    c->start_us = sqlite3_column_int64(st, 3);
    c->end_us = sqlite3_column_int64(st, 4);
    index__col_str(st, 5, c->created_by, sizeof(c->created_by));
    c->created_us = sqlite3_column_int64(st, 6);
    c->closed_us = sqlite3_column_int64(st, 7); /* NULL reads as 0 */
    index__col_str(st, 8, c->closed_by, sizeof(c->closed_by));
    index__col_str(st, 9, c->close_reason, sizeof(c->close_reason));
    c->ncameras = sqlite3_column_int(st, 10);
}

/* Runs one statement with up to three bindings (int64 a, text t, int64 b;
 * bound when non-zero / non-NULL) and expects SQLITE_DONE. */
static int exec_bound(sqlite3 *db, const char *path, const char *sql, int64_t a, const char *t,
                      int64_t b, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a);
        if (t) sqlite3_bind_text(st, 2, t, -1, SQLITE_STATIC);
        if (b) sqlite3_bind_int64(st, 3, b);
        rc = sqlite3_step(st);
    }
    int ret = rc == SQLITE_DONE ? 0 : index__fail(db, rc, path, what);
    sqlite3_finalize(st);
    return ret;
}

typedef struct create_args {
    index_case *c;
    const char *const *cameras;
    size_t n;
} create_args;

static int create_txn(sqlite3 *db, const char *path, void *arg)
{
    create_args *a = arg;
    index_case *c = a->c;
    sqlite3_stmt *st = NULL;
    int ret = 0;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO cases (title, reason, start_us, end_us, created_by, "
                                "created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, c->start_us);
        sqlite3_bind_int64(st, 4, c->end_us);
        sqlite3_bind_text(st, 5, c->created_by, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, c->created_us);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return index__fail(db, rc, path, "inserting a case");
    c->id = sqlite3_last_insert_rowid(db);
    for (size_t i = 0; i < a->n && ret == 0; i++)
        ret = exec_bound(db, path,
                         "INSERT OR IGNORE INTO case_cameras (case_id, camera) VALUES (?1, ?2)",
                         c->id, a->cameras[i], 0, "adding a camera to a case");
    c->ncameras = (int)a->n;
    return ret;
}

int index_case_create(const char *path, index_case *c, const char *const *cameras, size_t n)
{
    if (!c->title[0] || !c->reason[0] || c->end_us <= c->start_us || n == 0) return -EINVAL;
    if (!c->created_by[0]) snprintf(c->created_by, sizeof(c->created_by), "local");
    if (!c->created_us) c->created_us = vg_now_us();
    create_args a = {.c = c, .cameras = cameras, .n = n};
    return index__write_txn(path, CASES_VERSION, "cases", create_txn, &a);
}

static int delete_txn(sqlite3 *db, const char *path, void *arg)
{
    int64_t id = *(int64_t *)arg;
    static const char *const sqls[] = {
        "DELETE FROM case_cameras WHERE case_id = ?1",
        "DELETE FROM case_exports WHERE case_id = ?1",
        "DELETE FROM case_notes WHERE case_id = ?1",
        "DELETE FROM cases WHERE id = ?1",
    };
    int ret = 0;
    for (size_t i = 0; i < VG_ARRAY_SIZE(sqls) && ret == 0; i++)
        ret = exec_bound(db, path, sqls[i], id, NULL, 0, "deleting a case");
    return ret;
}

int index_case_delete(const char *path, int64_t id)
{
    return index__write_txn(path, CASES_VERSION, "cases", delete_txn, &id);
}

typedef struct link_args {
    int64_t id;
    const char *camera;
    int64_t other;
} link_args;

static int set_lock_txn(sqlite3 *db, const char *path, void *arg)
{
    link_args *a = arg;
    int ret = exec_bound(db, path,
                         "UPDATE case_cameras SET lock_id = ?3 WHERE case_id = ?1 AND camera = ?2",
                         a->id, a->camera, a->other, "recording a case's lock");
    if (ret == 0 && sqlite3_changes(db) == 0) ret = -ENOENT;
    return ret;
}

int index_case_set_lock(const char *path, int64_t id, const char *camera, int64_t lock_id)
{
    link_args a = {.id = id, .camera = camera, .other = lock_id};
    return index__write_txn(path, CASES_VERSION, "cases", set_lock_txn, &a);
}

int index_case_add_export(const char *path, int64_t id, int64_t export_id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = index__open_for(path, 1, CASES_VERSION, "cases", &db);
    if (ret < 0) return ret;
    int rc = sqlite3_prepare_v2(
        db, "INSERT OR IGNORE INTO case_exports (case_id, export_id) VALUES (?1, ?2)", -1, &st,
        NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, export_id);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "linking an export to a case");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

/* Steps a read-only query over a connection of its own: prepare sql, let
 * bind() bind it, hand each row to row(). Returns row()'s first non-zero
 * result, a step error, or 0. */
typedef void (*bind_fn)(sqlite3_stmt *st, const void *arg);
typedef int (*row_fn)(sqlite3_stmt *st, void *arg);

static int query(const char *path, const char *sql, bind_fn bind, const void *barg, row_fn row,
                 void *rarg, const char *what)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = index__open_for(path, 0, CASES_VERSION, "cases", &db);
    if (ret < 0) return ret;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, what);
        goto out;
    }
    bind(st, barg);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((ret = row(st, rarg)) != 0) goto out;
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, what);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

static void bind_id(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_int64(st, 1, *(const int64_t *)arg);
}

static int row_case_copy(sqlite3_stmt *st, void *arg)
{
    row_to_case(st, arg);
    return 1;
}

int index_case_get(const char *path, int64_t id, index_case *c)
{
    int ret = query(path, "SELECT " CASE_COLS " FROM cases c WHERE c.id = ?1", bind_id, &id,
                    row_case_copy, c, "reading a case");
    return ret == 1 ? 0 : ret < 0 ? ret : -ENOENT;
}

typedef struct case_each {
    index_case_cb cb;
    void *arg;
} case_each;

static int row_case_each(sqlite3_stmt *st, void *arg)
{
    case_each *e = arg;
    index_case c;
    row_to_case(st, &c);
    return e->cb(&c, e->arg);
}

static void bind_all(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_int(st, 1, *(const int *)arg != 0);
}

int index_cases_list(const char *path, int all, index_case_cb cb, void *arg)
{
    case_each e = {.cb = cb, .arg = arg};
    return query(path,
                 "SELECT " CASE_COLS " FROM cases c WHERE ?1 OR c.closed_us IS NULL "
                 "ORDER BY c.id DESC",
                 bind_all, &all, row_case_each, &e, "listing cases");
}

typedef struct camera_each {
    index_case_camera_cb cb;
    void *arg;
} camera_each;

static int row_camera(sqlite3_stmt *st, void *arg)
{
    camera_each *e = arg;
    char cam[INDEX_ID_MAX];
    index__col_str(st, 0, cam, sizeof(cam));
    return e->cb(cam, sqlite3_column_int64(st, 1), e->arg);
}

int index_case_cameras(const char *path, int64_t id, index_case_camera_cb cb, void *arg)
{
    camera_each e = {.cb = cb, .arg = arg};
    return query(path,
                 "SELECT camera, lock_id FROM case_cameras WHERE case_id = ?1 ORDER BY camera",
                 bind_id, &id, row_camera, &e, "listing a case's cameras");
}

typedef struct id_each {
    index_case_id_cb cb;
    void *arg;
} id_each;

static int row_id(sqlite3_stmt *st, void *arg)
{
    id_each *e = arg;
    return e->cb(sqlite3_column_int64(st, 0), e->arg);
}

int index_case_exports(const char *path, int64_t id, index_case_id_cb cb, void *arg)
{
    id_each e = {.cb = cb, .arg = arg};
    return query(path,
                 "SELECT export_id FROM case_exports WHERE case_id = ?1 ORDER BY export_id",
                 bind_id, &id, row_id, &e, "listing a case's exports");
}

/* The state of case id inside a write transaction: 0 open, -ENOENT, -EALREADY
 * (closed); *creator (64 bytes) its creator. */
static int case_state(sqlite3 *db, const char *path, int64_t id, char *creator)
{
    sqlite3_stmt *st = NULL;
    int ret;
    int rc = sqlite3_prepare_v2(db, "SELECT closed_us, created_by FROM cases WHERE id = ?1", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        ret = -ENOENT;
    } else if (rc != SQLITE_ROW) {
        ret = index__fail(db, rc, path, "reading a case");
    } else {
        index__col_str(st, 1, creator, 64);
        ret = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : -EALREADY;
    }
    sqlite3_finalize(st);
    return ret;
}

static int note_txn(sqlite3 *db, const char *path, void *arg)
{
    index_case_note *n = arg;
    sqlite3_stmt *st = NULL;
    char creator[64];
    int ret = case_state(db, path, n->case_id, creator);
    if (ret < 0) return ret;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO case_notes (case_id, time_us, author, text) VALUES (?1, ?2, ?3, ?4)", -1,
        &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, n->case_id);
        sqlite3_bind_int64(st, 2, n->time_us);
        sqlite3_bind_text(st, 3, n->author, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, n->text, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        ret = index__fail(db, rc, path, "adding a case note");
    else
        n->id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    return ret;
}

int index_case_note_add(const char *path, index_case_note *n)
{
    if (!n->text[0]) return -EINVAL;
    if (!n->author[0]) snprintf(n->author, sizeof(n->author), "local");
    if (!n->time_us) n->time_us = vg_now_us();
    return index__write_txn(path, CASES_VERSION, "cases", note_txn, n);
}

typedef struct note_each {
    index_case_note_cb cb;
    void *arg;
} note_each;

static int row_note(sqlite3_stmt *st, void *arg)
{
    note_each *e = arg;
    index_case_note n;
    memset(&n, 0, sizeof(n));
    n.id = sqlite3_column_int64(st, 0);
    n.case_id = sqlite3_column_int64(st, 1);
    n.time_us = sqlite3_column_int64(st, 2);
    index__col_str(st, 3, n.author, sizeof(n.author));
    index__col_str(st, 4, n.text, sizeof(n.text));
    return e->cb(&n, e->arg);
}

int index_case_notes(const char *path, int64_t id, index_case_note_cb cb, void *arg)
{
    note_each e = {.cb = cb, .arg = arg};
    return query(path,
                 "SELECT id, case_id, time_us, author, text FROM case_notes WHERE case_id = ?1 "
                 "ORDER BY id",
                 bind_id, &id, row_note, &e, "listing a case's notes");
}

typedef struct close_args {
    int64_t id, now;
    const char *who, *why;
    int own_only;
} close_args;

static int close_txn(sqlite3 *db, const char *path, void *arg)
{
    close_args *a = arg;
    sqlite3_stmt *st = NULL;
    char creator[64];
    int ret = case_state(db, path, a->id, creator);
    if (ret < 0) return ret;
    /* Checked against the row being closed, inside the closing transaction. */
    if (a->own_only && strcmp(creator, a->who) != 0) return -EPERM;
    int rc = sqlite3_prepare_v2(
        db, "UPDATE cases SET closed_us = ?2, closed_by = ?3, close_reason = ?4 WHERE id = ?1", -1,
        &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_int64(st, 2, a->now);
        sqlite3_bind_text(st, 3, a->who, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, a->why, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "closing a case");
    sqlite3_finalize(st);
    return ret;
}

int index_case_close(const char *path, int64_t id, const char *who, const char *why,
                     int own_only)
{
    close_args a = {.id = id, .now = vg_now_us(), .who = who, .why = why, .own_only = own_only};
    if (!why || !*why) return -EINVAL; /* a close is always explained */
    if (!who || !*who) a.who = "local";
    return index__write_txn(path, CASES_VERSION, "cases", close_txn, &a);
}

typedef struct custody_each {
    index_audit_cb cb;
    void *arg;
} custody_each;

static int row_audit(sqlite3_stmt *st, void *arg)
{
    custody_each *e = arg;
    index_audit a;
    memset(&a, 0, sizeof(a));
    a.id = sqlite3_column_int64(st, 0);
    a.time_us = sqlite3_column_int64(st, 1);
    index__col_str(st, 2, a.token, sizeof(a.token));
    index__col_str(st, 3, a.action, sizeof(a.action));
    index__col_str(st, 4, a.camera, sizeof(a.camera));
    a.start_us = sqlite3_column_int64(st, 5);
    a.end_us = sqlite3_column_int64(st, 6);
    index__col_str(st, 7, a.detail, sizeof(a.detail));
    return e->cb(&a, e->arg);
}

typedef struct custody_q {
    const index_case *c;
    int64_t limit;
} custody_q;

static void bind_custody(sqlite3_stmt *st, const void *arg)
{
    const custody_q *q = arg;
    sqlite3_bind_int64(st, 1, q->c->id);
    sqlite3_bind_int64(st, 2, q->c->start_us);
    sqlite3_bind_int64(st, 3, q->c->end_us);
    sqlite3_bind_int64(st, 4, q->limit);
    sqlite3_bind_int64(st, 5, q->c->created_us);
}

int index_case_custody(const char *path, const index_case *c, int64_t limit, index_audit_cb cb,
                       void *arg)
{
    custody_each e = {.cb = cb, .arg = arg};
    custody_q q = {.c = c, .limit = limit > 0 ? limit : 10000};
    /* Accesses to the case's footage: the rows of its cameras whose range
     * overlaps the case's (audit_camera_range; a row's start is never after
     * its end, so start_us < case end bounds the scan), made from any time
     * (footage seen before the case was opened is part of its history too);
     * plus the case's own actions, which name it in their detail. Detail is
     * JSON for the daemon's rows; json_valid() keeps other text out. */
    return query(path,
                 "SELECT * FROM (SELECT id, time_us, token, action, camera, start_us, end_us, "
                 "detail FROM audit WHERE camera IN (SELECT camera FROM case_cameras WHERE "
                 "case_id = ?1) AND start_us IS NOT NULL AND start_us < ?3 AND end_us > ?2 "
                 "UNION SELECT id, time_us, token, action, camera, start_us, end_us, detail "
                 "FROM audit WHERE time_us >= ?5 AND action LIKE 'case%' AND json_valid(detail) "
                 "AND json_extract(detail, '$.case') = ?1 ORDER BY id DESC LIMIT ?4) ORDER BY id",
                 bind_custody, &q, row_audit, &e, "reading a case's chain of custody");
}
