/*
 * Evidence exports (POST /api/exports): the index keeps each export's signed
 * manifest so it can be fetched again (GET /api/exports/{id}) exactly as it
 * was signed. Exports are rare and must be durable when the HTTP response
 * goes out, so, like index/locks.c, each call opens a write connection of its
 * own (WAL interleaves it with the writer thread's batches) and closes it.
 *
 * An export is built in two steps because its id goes into the manifest (the
 * clip URLs carry export=ID): index_export_create() reserves the row, the
 * caller locks the footage and builds and signs the manifest, then
 * index_export_finish() stores it. A row without a manifest is an export that
 * is being built or failed; index_export_get() treats it as unknown.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exports came with schema version 4. */
#define EXPORTS_VERSION 4

int index_export_create(const char *path, index_export *e)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret;
    if (!e->created_us) e->created_us = vg_now_us();
    if ((ret = index__open_for(path, 1, EXPORTS_VERSION, "exports", &db)) < 0) return ret;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO exports (created_us, created_by, reason, start_us, "
                                "end_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, e->created_us);
        sqlite3_bind_text(st, 2, e->created_by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, e->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, e->start_us);
        sqlite3_bind_int64(st, 5, e->end_us);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        ret = index__fail(db, rc, path, "inserting an export");
    else
        e->id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

int index_export_finish(const char *path, int64_t id, const char *manifest, const char *signature)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret;
    if ((ret = index__open_for(path, 1, EXPORTS_VERSION, "exports", &db)) < 0) return ret;
    int rc = sqlite3_prepare_v2(db, "UPDATE exports SET manifest = ?2, signature = ?3 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, manifest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, signature, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        ret = index__fail(db, rc, path, "storing an export manifest");
    else if (sqlite3_changes(db) == 0)
        ret = -ENOENT;
    sqlite3_finalize(st);
    st = NULL;
    /* A copy beside the footage (index/mirror.c): the signed manifest
     * outlives the index file. The export stands without it (logged). */
    if (ret == 0 &&
        sqlite3_prepare_v2(db, "SELECT created_us, created_by, reason, start_us, end_us FROM "
                           "exports WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            index_export e;
            memset(&e, 0, sizeof(e));
            e.id = id;
            e.created_us = sqlite3_column_int64(st, 0);
            index__col_str(st, 1, e.created_by, sizeof(e.created_by));
            index__col_str(st, 2, e.reason, sizeof(e.reason));
            e.start_us = sqlite3_column_int64(st, 3);
            e.end_us = sqlite3_column_int64(st, 4);
            index__export_mirror_write(&e, manifest, signature);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

int index_export_delete(const char *path, int64_t id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret;
    if ((ret = index__open_for(path, 1, EXPORTS_VERSION, "exports", &db)) < 0) return ret;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM exports WHERE id = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "deleting an export");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return strdup(s ? (const char *)s : "");
}

int index_export_get(const char *path, int64_t id, index_export *e, char **manifest,
                     char **signature)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *m = NULL, *sig = NULL;
    int ret;
    *manifest = *signature = NULL;
    if ((ret = index__open_for(path, 0, EXPORTS_VERSION, "exports", &db)) < 0) return ret;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, created_us, created_by, reason, start_us, end_us, "
                                "manifest, signature FROM exports WHERE id = ?1 AND manifest != ''",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        ret = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = index__fail(db, rc, path, "reading an export");
        goto out;
    }
    if (e) {
        memset(e, 0, sizeof(*e));
        e->id = sqlite3_column_int64(st, 0);
        e->created_us = sqlite3_column_int64(st, 1);
        index__col_str(st, 2, e->created_by, sizeof(e->created_by));
        index__col_str(st, 3, e->reason, sizeof(e->reason));
        e->start_us = sqlite3_column_int64(st, 4);
        e->end_us = sqlite3_column_int64(st, 5);
    }
    if (!(m = col_dup(st, 6)) || !(sig = col_dup(st, 7))) {
        ret = -ENOMEM;
        goto out;
    }
    *manifest = m, m = NULL;
    *signature = sig, sig = NULL;
out:
    free(m);
    free(sig);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}
