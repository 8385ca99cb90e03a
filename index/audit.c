/*
 * The audit trail (issue 5): who looked at or changed what, and when.
 *
 * Every footage access (clip, snapshot, export), every evidence-lock change and
 * every configuration reload is one row of the audit table (schema v3): time,
 * the name of the token that made the request ("local" for vigilctl on the
 * server, "daemon" for a SIGHUP), the action, the camera and the time range
 * involved, and a short detail. Never a secret: the token's name, not the
 * token; no URLs (they could carry credentials).
 *
 * The daemon's rows go through the writer thread's queue (index_audit_add(),
 * see writer.c), so the HTTP loop never waits for the disk: audit rows commit
 * in the same batches as segment progress. vigilctl runs in another process
 * without a writer thread, so index_audit_add_direct() writes its row in a
 * connection of its own, durable when it returns (like index/locks.c).
 * Listing opens a read-only connection per call: audit queries are rare
 * (an administrator's), and that keeps them off the readers' hot statements.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char index__sql_audit_insert[] =
    "INSERT INTO audit (time_us, token, action, camera, start_us, end_us, detail) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

void index__audit_bind(sqlite3_stmt *st, const index_audit *a)
{
    sqlite3_bind_int64(st, 1, a->time_us);
    sqlite3_bind_text(st, 2, a->token, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, a->action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, a->camera, -1, SQLITE_TRANSIENT);
    if (a->start_us || a->end_us) {
        sqlite3_bind_int64(st, 5, a->start_us);
        sqlite3_bind_int64(st, 6, a->end_us);
    } else {
        sqlite3_bind_null(st, 5);
        sqlite3_bind_null(st, 6);
    }
    sqlite3_bind_text(st, 7, a->detail, -1, SQLITE_TRANSIENT);
}

void index_audit_fill(index_audit *a, const char *token, const char *action, const char *camera,
                      int64_t start_us, int64_t end_us, const char *detail)
{
    memset(a, 0, sizeof(*a));
    a->time_us = vg_now_us();
    vg_utf8_copy(a->token, sizeof(a->token), token ? token : "");
    vg_utf8_copy(a->action, sizeof(a->action), action ? action : "");
    vg_utf8_copy(a->camera, sizeof(a->camera), camera ? camera : "");
    a->start_us = start_us;
    a->end_us = end_us;
    vg_utf8_copy(a->detail, sizeof(a->detail), detail ? detail : "");
}

/* The audit trail came with schema version 3. */
#define AUDIT_VERSION 3

int index_audit_add_direct(const char *path, const index_audit *a)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = index__open_for(path, 1, AUDIT_VERSION, "audit trail", &db);
    if (ret < 0) return ret;
    int rc = sqlite3_prepare_v2(db, index__sql_audit_insert, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        index__audit_bind(st, a);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "inserting an audit row");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

int index_audit_list(const char *path, const char *camera, int64_t start_us, int64_t end_us,
                     int64_t limit, index_audit_cb cb, void *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    index_audit a;
    int ret = index__open_for(path, 0, AUDIT_VERSION, "audit trail", &db);
    if (ret < 0) return ret;
    /* Newest last; with a limit, the newest `limit` rows (still oldest first). */
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT * FROM (SELECT id, time_us, token, action, camera, start_us, end_us, detail "
        "FROM audit WHERE time_us >= ?1 AND time_us < ?2 AND (?3 IS NULL OR camera = ?3) "
        "ORDER BY time_us DESC, id DESC LIMIT ?4) ORDER BY time_us, id",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, "listing the audit trail");
        goto out;
    }
    sqlite3_bind_int64(st, 1, start_us);
    sqlite3_bind_int64(st, 2, end_us);
    if (camera) sqlite3_bind_text(st, 3, camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&a, 0, sizeof(a));
        a.id = sqlite3_column_int64(st, 0);
        a.time_us = sqlite3_column_int64(st, 1);
        index__col_str(st, 2, a.token, sizeof(a.token));
        index__col_str(st, 3, a.action, sizeof(a.action));
        index__col_str(st, 4, a.camera, sizeof(a.camera));
        a.start_us = sqlite3_column_int64(st, 5); /* NULL reads as 0 */
        a.end_us = sqlite3_column_int64(st, 6);
        index__col_str(st, 7, a.detail, sizeof(a.detail));
        if ((ret = cb(&a, arg)) != 0) goto out;
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "listing the audit trail");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}
