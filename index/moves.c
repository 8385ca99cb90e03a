/*
 * The journal of segment moves between pools (storage/mover.c): a row per
 * move in progress, written before the copy starts and removed once the
 * source file is gone. The switch of a segment's row to its new pool is one
 * UPDATE guarded by the old pool, so a row retention deleted meanwhile is not
 * resurrected. Moves are a few per second at most and must be durable at each
 * step, so, like locks, each call opens a connection of its own.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The journal came with schema version 9. */
#define MOVES_VERSION 9

typedef struct move_args {
    int64_t id;
    const char *from, *to, *rel;
    int changed;
} move_args;

static int begin_txn(sqlite3 *db, const char *path, void *arg)
{
    move_args *a = arg;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO moves (segment_id, from_pool, to_pool, "
                                "path, started_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_text(st, 2, a->from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->to, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, a->rel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, vg_now_us());
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : index__fail(db, rc, path, "journaling a move");
}

int index_move_begin(const char *path, int64_t id, const char *from, const char *to,
                     const char *rel)
{
    move_args a = {.id = id, .from = from, .to = to, .rel = rel};
    return index__write_txn(path, MOVES_VERSION, "moves", begin_txn, &a);
}

static int switch_txn(sqlite3 *db, const char *path, void *arg)
{
    move_args *a = arg;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "UPDATE segments SET pool = ?3 WHERE id = ?1 AND pool = ?2",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_text(st, 2, a->from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->to, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return index__fail(db, rc, path, "switching a segment's pool");
    a->changed = sqlite3_changes(db) > 0;
    return 0;
}

int index_move_switch(const char *path, int64_t id, const char *from, const char *to)
{
    move_args a = {.id = id, .from = from, .to = to};
    int ret = index__write_txn(path, MOVES_VERSION, "moves", switch_txn, &a);
    return ret < 0 ? ret : a.changed;
}

static int end_txn(sqlite3 *db, const char *path, void *arg)
{
    move_args *a = arg;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM moves WHERE segment_id = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a->id);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : index__fail(db, rc, path, "ending a move");
}

int index_move_end(const char *path, int64_t id)
{
    move_args a = {.id = id};
    return index__write_txn(path, MOVES_VERSION, "moves", end_txn, &a);
}

int index_moves_pending(const char *path, index_move_cb cb, void *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    index_move m;
    int ret = index__open_for(path, 0, MOVES_VERSION, "moves", &db);
    if (ret < 0) return ret;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT segment_id, from_pool, to_pool, path, started_us FROM moves "
                                "ORDER BY segment_id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, "reading the move journal");
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&m, 0, sizeof(m));
        m.segment_id = sqlite3_column_int64(st, 0);
        index__col_str(st, 1, m.from, sizeof(m.from));
        index__col_str(st, 2, m.to, sizeof(m.to));
        index__col_str(st, 3, m.path, sizeof(m.path));
        m.started_us = sqlite3_column_int64(st, 4);
        if ((ret = cb(&m, arg)) != 0) goto out;
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "reading the move journal");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}
