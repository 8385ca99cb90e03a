/*
 * An online copy of the index (vigilctl backup): SQLite's backup API reading
 * through a connection of its own while vigild keeps writing.
 *
 * The copy is made in one backup step (all pages), which holds one read
 * transaction for its whole length: in WAL mode that is a snapshot, so the
 * copy is the index exactly as it was at one commit, and the writer is never
 * blocked (it appends to the WAL meanwhile). Copying in several steps would
 * let a commit in between restart the copy from the first page, over and
 * over on a busy recorder. The copy is written to DEST.tmp, checked
 * (quick_check), synced, then renamed over DEST, so DEST is either the old
 * backup or a whole new one.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int ret = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return ret;
}

static int check_copy(sqlite3 *db, const char *dest)
{
    sqlite3_stmt *st = NULL;
    int ret = 0;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ret = index__fail(db, rc, dest, "checking the copy");
    } else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        vg_log(LOG_ERR, "index: %s: the copy fails its check: %s", dest,
               (const char *)sqlite3_column_text(st, 0));
        ret = -EIO;
    }
    sqlite3_finalize(st);
    return ret;
}

int index_backup(const char *path, const char *dest, index_backup_info *info)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    char tmp[4096], dir[4096];
    int version = 0, ret, rc;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp)) return -ENAMETOOLONG;
    if (info) memset(info, 0, sizeof(*info));
    if ((ret = index__open_conn(path, 0, &src, &version)) < 0) return ret;
    unlink(tmp);
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(dst, rc, tmp, "creating the copy");
        goto out;
    }
    if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
        ret = index__fail(dst, sqlite3_errcode(dst), tmp, "starting the copy");
        goto out;
    }
    /* One step, all pages: one read snapshot (see above). BUSY/LOCKED only
     * while another connection holds a lock vigild never takes for long. */
    for (int tries = 0; (rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED;
         tries++) {
        if (tries == 100) break;
        sqlite3_sleep(100);
    }
    if (info) info->pages = sqlite3_backup_pagecount(b);
    if (sqlite3_backup_finish(b) != SQLITE_OK || rc != SQLITE_DONE) {
        b = NULL;
        ret = index__fail(dst, rc == SQLITE_DONE ? sqlite3_errcode(dst) : rc, tmp,
                          "copying the index");
        goto out;
    }
    b = NULL;
    /* A copy is a standalone file: no WAL beside it to lose. */
    if ((ret = index__exec(dst, tmp, "PRAGMA journal_mode = DELETE", NULL)) < 0) goto out;
    if ((ret = check_copy(dst, tmp)) < 0) goto out;
    sqlite3_close(dst);
    dst = NULL;
    if ((ret = sync_path(tmp)) < 0) goto out;
    if (rename(tmp, dest) < 0) {
        ret = -errno;
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s", dest);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = 0;
        sync_path(dir); /* best effort: the rename is durable once the directory is */
    }
    if (info) info->schema_version = version;
out:
    if (b) sqlite3_backup_finish(b);
    sqlite3_close(dst);
    sqlite3_close(src);
    if (ret < 0) unlink(tmp);
    return ret;
}
