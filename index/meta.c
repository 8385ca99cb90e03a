/*
 * Small durable settings in the meta table (see index.h).
 *
 * The writer thread commits with synchronous=NORMAL, so its last batches may
 * roll back on power loss; that is fine for rows that reconciliation repairs,
 * but not for a flag whose whole point is to say "nothing needs repairing".
 * These calls therefore use a connection of their own with synchronous=FULL:
 * when a set or a delete returns, it survives power loss. They are rare (twice
 * per run), so the cost of opening a connection does not matter.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>

/* The meta table came with the first schema version. */
#define META_VERSION 1

static int meta_write(const char *path, const char *sql, const char *key, int64_t value,
                      int bind_value)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = index__open_for(path, 1, META_VERSION, "meta table", &db);
    if (ret < 0) return ret;
    if ((ret = index__exec(db, path, "PRAGMA synchronous = FULL", NULL)) < 0) goto out;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (bind_value) sqlite3_bind_int64(st, 2, value);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "writing the meta table");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

int index_meta_set(const char *path, const char *key, int64_t value)
{
    return meta_write(path, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      key, value, 1);
}

int index_meta_delete(const char *path, const char *key)
{
    return meta_write(path, "DELETE FROM meta WHERE key = ?1", key, 0, 0);
}

int index_meta_get(const char *path, const char *key, int64_t *value)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = index__open_for(path, 0, META_VERSION, "meta table", &db);
    if (ret < 0) return ret;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        ret = -ENOENT;
    else
        ret = index__fail(db, rc, path, "reading the meta table");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}
