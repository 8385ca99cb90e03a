/*
 * The lock mirror: every evidence lock, released ones too, kept in a small
 * file beside the footage (<pool>/.vigil-locks), so the loss of the index
 * file (its disk, a careless rm, corruption) does not take the locks with it.
 * Footage and the locks that protect it then live and die on the same disk.
 *
 * The file is JSON (jansson), rewritten whole and atomically replaced (written
 * to .vigil-locks.tmp, fsynced, renamed, directory fsynced) by every lock
 * change, inside the change's write transaction: BEGIN IMMEDIATE serializes
 * the writers of every process (the daemon's HTTP workers, vigilctl), so the
 * mirror is rewritten by one writer at a time and always from the state the
 * transaction is about to commit. A change whose mirror could be written in no
 * directory is rolled back: a lock that exists only in the index is a lock one
 * lost file away from gone. Locks are few (one per case and camera), so a
 * rewrite costs a few kilobytes.
 *
 * The mirror also records the audit trail's last row id and the number of
 * exports when it was written, so a rebuild can say how much of the trail it
 * could not bring back.
 *
 * Each finished export is mirrored too, one file per export
 * (<dir>/.vigil-exports/<id>.json: its row and the signed manifest exactly as
 * stored, written once, atomically), so GET /api/exports/{id} answers the
 * same bytes after a rebuild.
 *
 * The directories are process-wide (index_lock_mirror_set()): the daemon and
 * vigilctl set the roots of the pools whose identity file is right, and every
 * lock change of the process mirrors into them; unit tests that set none get
 * no mirror.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIRROR_FORMAT 1

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char **g_dirs; /* guarded by g_mu */
static size_t g_ndirs;

int index_lock_mirror_set(const char *const *dirs, size_t n)
{
    char **v = n ? calloc(n, sizeof(*v)) : NULL;
    int ret = 0;
    if (n && !v) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] = strdup(dirs[i]))) {
            ret = -ENOMEM;
            for (size_t k = 0; k < i; k++) free(v[k]);
            free(v);
            return ret;
        }
    }
    pthread_mutex_lock(&g_mu);
    char **old = g_dirs;
    size_t nold = g_ndirs;
    g_dirs = v;
    g_ndirs = n;
    pthread_mutex_unlock(&g_mu);
    for (size_t i = 0; i < nold; i++) free(old[i]);
    free(old);
    return 0;
}

static json_t *lock_json(const index_lock *l)
{
    return json_pack("{s:I,s:s,s:I,s:I,s:s,s:s,s:I,s:I,s:I,s:s}", "id", (json_int_t)l->id,
                     "camera", l->camera, "start_us", (json_int_t)l->start_us, "end_us",
                     (json_int_t)l->end_us, "reason", l->reason, "created_by", l->created_by,
                     "created_us", (json_int_t)l->created_us, "until_us",
                     (json_int_t)l->until_us, "released_us", (json_int_t)l->released_us,
                     "released_by", l->released_by);
}

/* The first column of sql's single row, 0 when the table does not exist. */
static int64_t query_or_zero(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The mirror's text from db's locks (malloc'd, caller frees). 0 or negative. */
static int mirror_text(sqlite3 *db, const char *path, char **out)
{
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array(), *doc = NULL;
    index_lock l;
    int ret = 0, rc;
    *out = NULL;
    if (!arr) return -ENOMEM;
    rc = sqlite3_prepare_v2(db, "SELECT " INDEX__LOCK_COLS " FROM locks ORDER BY id", -1, &st,
                            NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        index__lock_from_row(st, &l);
        if (json_array_append_new(arr, lock_json(&l)) < 0) {
            ret = -ENOMEM;
            goto out;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        ret = index__fail(db, rc, path, "reading the locks to mirror");
        goto out;
    }
    doc = json_pack("{s:i,s:I,s:I,s:I,s:O}", "vigil_locks", MIRROR_FORMAT, "written_us",
                    (json_int_t)vg_now_us(), "audit_last_id",
                    (json_int_t)query_or_zero(db, "SELECT coalesce(max(id), 0) FROM audit"),
                    "exports", (json_int_t)query_or_zero(db, "SELECT count(*) FROM exports"),
                    "locks", arr);
    if (!doc || !(*out = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS))) ret = -ENOMEM;
out:
    sqlite3_finalize(st);
    json_decref(arr);
    json_decref(doc);
    return ret;
}

/* Writes text to <dir>/.vigil-locks atomically. 0 or negative errno. */
static int write_one(const char *dir, const char *text)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int ret = 0;
    if (snprintf(tmp, sizeof(tmp), "%s/" INDEX_LOCK_MIRROR ".tmp", dir) >= (int)sizeof(tmp) ||
        snprintf(dst, sizeof(dst), "%s/" INDEX_LOCK_MIRROR, dir) >= (int)sizeof(dst))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    if ((ret = vg_write_all(fd, text, strlen(text))) == 0 && fsync(fd) != 0) ret = -errno;
    close(fd);
    if (ret == 0 && rename(tmp, dst) != 0) ret = -errno;
    if (ret == 0) ret = vg_fsync_dir(dir);
    if (ret < 0) unlink(tmp);
    return ret;
}

int index__lock_mirror_write(sqlite3 *db, const char *path)
{
    char *text = NULL;
    int ret = 0, written = 0;
    pthread_mutex_lock(&g_mu);
    if (g_ndirs == 0) goto out;
    if ((ret = mirror_text(db, path, &text)) < 0) goto out;
    for (size_t i = 0; i < g_ndirs; i++) {
        int r = write_one(g_dirs[i], text);
        if (r == 0) {
            written++;
            continue;
        }
        vg_log(LOG_ERR, "index: cannot write the lock mirror %s/" INDEX_LOCK_MIRROR ": %s",
               g_dirs[i], strerror(-r));
        if (ret == 0) ret = r;
    }
    if (written) ret = 0;
out:
    pthread_mutex_unlock(&g_mu);
    free(text);
    return ret;
}

static int sync_txn(sqlite3 *db, const char *path, void *arg)
{
    (void)arg;
    return index__lock_mirror_write(db, path);
}

int index_lock_mirror_sync(const char *path)
{
    return index__write_txn(path, 2, "locks", sync_txn, NULL);
}

static int get_int(json_t *o, const char *key, int64_t *v)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j)) return -EBADMSG;
    *v = json_integer_value(j);
    return 0;
}

static int get_str(json_t *o, const char *key, char *dst, size_t len)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) return -EBADMSG;
    /* Written from the same fixed-size fields, so it fits; cut on a
     * character boundary all the same if someone edited the file. */
    vg_utf8_copy(dst, len, s);
    return 0;
}

int index_lock_mirror_read(const char *dir, index_lock **out, size_t *n, index_mirror_info *info)
{
    char p[PATH_MAX];
    json_error_t jerr;
    json_t *doc = NULL, *arr, *o;
    index_lock *v = NULL;
    size_t i, count = 0;
    int ret = 0;
    *out = NULL;
    *n = 0;
    memset(info, 0, sizeof(*info));
    if (snprintf(p, sizeof(p), "%s/" INDEX_LOCK_MIRROR, dir) >= (int)sizeof(p))
        return -ENAMETOOLONG;
    if (access(p, F_OK) != 0) return -errno;
    doc = json_load_file(p, 0, &jerr);
    int64_t format = 0;
    if (!doc || get_int(doc, "vigil_locks", &format) < 0 || format != MIRROR_FORMAT ||
        get_int(doc, "written_us", &info->written_us) < 0 ||
        !json_is_array(arr = json_object_get(doc, "locks"))) {
        vg_log(LOG_ERR, "index: %s is not a lock mirror this build can read%s%s", p,
               doc ? "" : ": ", doc ? "" : jerr.text);
        ret = -EBADMSG;
        goto out;
    }
    get_int(doc, "audit_last_id", &info->audit_last_id);
    get_int(doc, "exports", &info->exports);
    if (!(v = calloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof(*v)))) {
        ret = -ENOMEM;
        goto out;
    }
    json_array_foreach(arr, i, o) {
        index_lock *l = &v[count];
        if (get_int(o, "id", &l->id) < 0 || get_str(o, "camera", l->camera, sizeof(l->camera)) ||
            get_int(o, "start_us", &l->start_us) || get_int(o, "end_us", &l->end_us) ||
            get_str(o, "reason", l->reason, sizeof(l->reason)) ||
            get_str(o, "created_by", l->created_by, sizeof(l->created_by)) ||
            get_int(o, "created_us", &l->created_us) || get_int(o, "until_us", &l->until_us) ||
            get_int(o, "released_us", &l->released_us) ||
            get_str(o, "released_by", l->released_by, sizeof(l->released_by)) || l->id <= 0) {
            vg_log(LOG_ERR, "index: %s: lock #%zu is damaged", p, i);
            ret = -EBADMSG;
            goto out;
        }
        count++;
    }
    *out = v;
    *n = count;
    v = NULL;
out:
    free(v);
    json_decref(doc);
    return ret;
}

typedef struct restore_args {
    const index_lock *locks;
    size_t n;
    const char *from;
    int restored;
} restore_args;

static int restore_txn(sqlite3 *db, const char *path, void *arg)
{
    restore_args *a = arg;
    sqlite3_stmt *st = NULL, *ev = NULL;
    int ret = 0;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR IGNORE INTO locks (id, camera, start_us, end_us, reason, "
                                "created_by, created_us, until_us, released_us, released_by) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, index__sql_event_insert, -1, &ev, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, "restoring locks");
        goto out;
    }
    int64_t now = vg_now_us();
    for (size_t i = 0; i < a->n; i++) {
        const index_lock *l = &a->locks[i];
        sqlite3_bind_int64(st, 1, l->id);
        sqlite3_bind_text(st, 2, l->camera, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, l->start_us);
        sqlite3_bind_int64(st, 4, l->end_us);
        sqlite3_bind_text(st, 5, l->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, l->created_by, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, l->created_us);
        if (l->until_us) sqlite3_bind_int64(st, 8, l->until_us);
        if (l->released_us) {
            sqlite3_bind_int64(st, 9, l->released_us);
            sqlite3_bind_text(st, 10, l->released_by, -1, SQLITE_STATIC);
        }
        rc = sqlite3_step(st);
        int changed = sqlite3_changes(db);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            ret = index__fail(db, rc, path, "restoring a lock");
            goto out;
        }
        if (!changed) continue; /* the index has it already */
        a->restored++;
        char detail[INDEX_DETAIL_MAX];
        json_t *d = json_pack("{s:I,s:s,s:b}", "lock", (json_int_t)l->id, "from", a->from,
                              "released", l->released_us != 0);
        index_detail_format(d, detail, sizeof(detail));
        json_decref(d);
        sqlite3_bind_int64(ev, 1, now);
        sqlite3_bind_text(ev, 2, l->camera, -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 3, "lock_restored", -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 4, detail, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(ev);
        sqlite3_reset(ev);
        sqlite3_clear_bindings(ev);
        if (rc != SQLITE_DONE) {
            ret = index__fail(db, rc, path, "inserting an event");
            goto out;
        }
    }
    /* The restored set is now the index's: mirror it back (a pool that had
     * no mirror, or an older one, gets the union). */
    ret = index__lock_mirror_write(db, path);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ev);
    return ret;
}

int index_locks_restore(const char *path, const index_lock *locks, size_t n, const char *from)
{
    restore_args a = {.locks = locks, .n = n, .from = from ? from : ""};
    int ret = index__write_txn(path, 2, "locks", restore_txn, &a);
    return ret < 0 ? ret : a.restored;
}

/* ---- exports ---- */

#define EXPORTS_DIR ".vigil-exports"

int index__export_mirror_write(const index_export *e, const char *manifest,
                               const char *signature)
{
    char d[PATH_MAX], name[64];
    char *text = NULL;
    int ret = 0, written = 0;
    json_t *doc = json_pack("{s:i,s:I,s:I,s:s,s:s,s:I,s:I,s:s,s:s}", "vigil_export",
                            MIRROR_FORMAT, "id", (json_int_t)e->id, "created_us",
                            (json_int_t)e->created_us, "created_by", e->created_by, "reason",
                            e->reason, "start_us", (json_int_t)e->start_us, "end_us",
                            (json_int_t)e->end_us, "manifest", manifest, "signature", signature);
    if (!doc || !(text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS))) {
        json_decref(doc);
        return -ENOMEM;
    }
    json_decref(doc);
    snprintf(name, sizeof(name), "%lld.json", (long long)e->id);
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_ndirs; i++) {
        char p[PATH_MAX + 80], tmp[PATH_MAX + 90];
        int r = snprintf(d, sizeof(d), "%s/" EXPORTS_DIR, g_dirs[i]) >= (int)sizeof(d)
                    ? -ENAMETOOLONG
                    : vg_mkdir_p(d, 0700);
        snprintf(p, sizeof(p), "%s/%s", d, name);
        snprintf(tmp, sizeof(tmp), "%s.tmp", p);
        int fd = r < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (r == 0 && fd < 0) r = -errno;
        if (r == 0 && (r = vg_write_all(fd, text, strlen(text))) == 0 && fsync(fd) != 0)
            r = -errno;
        if (fd >= 0) close(fd);
        if (r == 0 && rename(tmp, p) != 0) r = -errno;
        if (r == 0) r = vg_fsync_dir(d);
        if (r == 0) {
            written++;
            continue;
        }
        unlink(tmp);
        vg_log(LOG_ERR, "index: cannot mirror export %lld to %s: %s", (long long)e->id, d,
               strerror(-r));
        if (ret == 0) ret = r;
    }
    pthread_mutex_unlock(&g_mu);
    free(text);
    return written || g_ndirs == 0 ? 0 : ret;
}

typedef struct export_restore {
    const char *dir;
    int restored;
    int damaged;
} export_restore;

/* Inserts one mirrored export file's row unless its id is taken. */
static int restore_export_file(sqlite3 *db, const char *path, sqlite3_stmt *st, const char *file,
                               export_restore *a)
{
    json_error_t jerr;
    json_t *doc = json_load_file(file, 0, &jerr);
    int64_t id = 0, created = 0, start = 0, end = 0, format = 0;
    const char *by = json_string_value(json_object_get(doc, "created_by"));
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    const char *m = json_string_value(json_object_get(doc, "manifest"));
    const char *sig = json_string_value(json_object_get(doc, "signature"));
    int ret = 0;
    if (!doc || get_int(doc, "vigil_export", &format) < 0 || format != MIRROR_FORMAT ||
        get_int(doc, "id", &id) < 0 || get_int(doc, "created_us", &created) < 0 ||
        get_int(doc, "start_us", &start) < 0 || get_int(doc, "end_us", &end) < 0 || !by ||
        !reason || !m || !sig || id <= 0) {
        vg_log(LOG_ERR, "index: %s is not a mirrored export this build can read", file);
        a->damaged++;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, created);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, start);
    sqlite3_bind_int64(st, 6, end);
    sqlite3_bind_text(st, 7, m, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, sig, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "restoring an export");
    else if (sqlite3_changes(db)) a->restored++;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
out:
    json_decref(doc);
    return ret;
}

static int export_restore_txn(sqlite3 *db, const char *path, void *arg)
{
    export_restore *a = arg;
    char d[PATH_MAX];
    sqlite3_stmt *st = NULL;
    int ret = 0;
    if (snprintf(d, sizeof(d), "%s/" EXPORTS_DIR, a->dir) >= (int)sizeof(d)) return -ENAMETOOLONG;
    DIR *dh = opendir(d);
    if (!dh) return errno == ENOENT ? 0 : -errno;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR IGNORE INTO exports (id, created_us, created_by, reason, "
                                "start_us, end_us, manifest, signature) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, "restoring exports");
        goto out;
    }
    struct dirent *e;
    while (ret == 0 && (e = readdir(dh)) != NULL) {
        size_t n = strlen(e->d_name);
        char file[PATH_MAX + 300];
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0) continue;
        snprintf(file, sizeof(file), "%s/%s", d, e->d_name);
        ret = restore_export_file(db, path, st, file, a);
    }
out:
    sqlite3_finalize(st);
    closedir(dh);
    return ret;
}

int index_exports_restore(const char *path, const char *dir, int *damaged)
{
    export_restore a = {.dir = dir};
    int ret = index__write_txn(path, 4, "exports", export_restore_txn, &a);
    if (damaged) *damaged = a.damaged;
    return ret < 0 ? ret : a.restored;
}
