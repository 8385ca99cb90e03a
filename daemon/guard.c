/*
 * The index guard (see guard.h): a trusted recorder never trades evidence
 * for a quiet start, and never stops recording because of the index file.
 *
 * Why a stand-in and not a silent re-creation: a fresh index at the
 * configured path looks like a healthy one to everything that reads it
 * (vigilctl, monitoring, the next start), so the loss would be forgotten; and
 * the configured path may be fine again once its disk is mounted. The
 * stand-in lives at the root of the first pool (or beside the configured
 * file when there is no pool), so it works when the index's own disk is
 * gone, and is reused by the next degraded start (what was recorded and
 * audited on it meanwhile is kept until the rebuild).
 *
 * Why the rebuild is a separate run: reconciliation cuts files back to their
 * last whole fragment, which must never race a camera still writing them; so
 * the rebuild runs with the service stopped, indexes every file, restores the
 * mirrored locks (index/mirror.c) and the signing key (serve/), moves the
 * damaged file aside (never deletes it: sqlite3's .recover may still get its
 * audit trail out) and says what it could not bring back.
 */
#include "daemon/guard.h"

#include "common/common.h"
#include "serve/serve.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STANDIN_NAME ".vigil-index.degraded"

/* The roots of the pools whose identity file is right (borrowed from cfg). */
static size_t pool_dirs(const config *cfg, const char **dirs)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->npools; i++)
        if (storage_pool_identified(cfg->pools[i].path, cfg->pools[i].id))
            dirs[n++] = cfg->pools[i].path;
    return n;
}

/* The union of the lock mirrors of dirs, by id (for an id in several, the
 * newest mirror's). *damaged counts mirrors that exist but cannot be read;
 * *found those read. *out malloc'd. 0 or -ENOMEM. */
static int read_mirrors(const char *const *dirs, size_t ndirs, index_lock **out, size_t *n,
                        index_mirror_info *newest, char *from, size_t fromlen, int *found,
                        int *damaged)
{
    index_lock *all = NULL;
    size_t nall = 0;
    int64_t *when = NULL;
    *out = NULL;
    *n = 0;
    *found = *damaged = 0;
    memset(newest, 0, sizeof(*newest));
    from[0] = 0;
    for (size_t i = 0; i < ndirs; i++) {
        index_lock *v = NULL;
        size_t nv = 0;
        index_mirror_info info;
        int r = index_lock_mirror_read(dirs[i], &v, &nv, &info);
        if (r == -ENOENT) continue;
        if (r < 0) {
            (*damaged)++;
            continue;
        }
        (*found)++;
        if (info.written_us > newest->written_us) {
            *newest = info;
            snprintf(from, fromlen, "%s/" INDEX_LOCK_MIRROR, dirs[i]);
        }
        index_lock *na = realloc(all, (nall + nv + 1) * sizeof(*na));
        int64_t *nw = realloc(when, (nall + nv + 1) * sizeof(*nw));
        if (na) all = na;
        if (nw) when = nw;
        if (!na || !nw) {
            free(v);
            free(all);
            free(when);
            return -ENOMEM;
        }
        for (size_t k = 0; k < nv; k++) {
            size_t j = 0;
            while (j < nall && all[j].id != v[k].id) j++;
            if (j < nall && when[j] >= info.written_us) continue;
            all[j] = v[k];
            when[j] = info.written_us;
            if (j == nall) nall++;
        }
        free(v);
    }
    free(when);
    *out = all;
    *n = nall;
    return 0;
}

/* Restores the mirrored locks into the index at path; logs. Returns 1 when
 * the locks are known (a readable mirror and no damaged one), else 0. With
 * mirror_back, the pools' mirrors are (re)written from the result, unless a
 * damaged one must be kept for a person to look at. */
static int restore_locks(const char *path, const char *const *dirs, size_t ndirs,
                         int mirror_back, index_mirror_info *info_out, int *damaged_out,
                         int *exports_out)
{
    index_lock *locks = NULL;
    size_t n = 0;
    int found = 0, damaged = 0;
    char from[PATH_MAX + 32];
    index_mirror_info info = {0};
    if (read_mirrors(dirs, ndirs, &locks, &n, &info, from, sizeof(from), &found, &damaged) < 0)
        return 0;
    if (info_out) *info_out = info;
    if (damaged_out) *damaged_out = damaged;
    /* Never overwrite a mirror that could not be read: it may hold the only
     * copy of a lock. */
    if (mirror_back && !damaged) index_lock_mirror_set(dirs, ndirs);
    else index_lock_mirror_set(NULL, 0);
    if (found) {
        int r = index_locks_restore(path, locks, n, from);
        char t[VG_TIME_LEN];
        if (r < 0)
            vg_log(LOG_ERR, "vigild: cannot restore the %zu locks of %s into %s: %s", n, from,
                   path, strerror(-r));
        else if (r > 0)
            vg_log(LOG_NOTICE, "vigild: restored %d of the %zu evidence locks kept in %s "
                   "(written %s) into %s", r, n, from,
                   vg_time_format(info.written_us, t, sizeof(t)), path);
        if (r < 0) found = 0;
    }
    if (damaged)
        vg_log(LOG_ERR, "vigild: %d lock mirror(s) (" INDEX_LOCK_MIRROR ") cannot be read; "
               "left as they are: the locks they held are not known", damaged);
    /* The signed export manifests mirrored beside the footage. */
    int nexp = 0;
    for (size_t i = 0; i < ndirs; i++) {
        int bad = 0, r = index_exports_restore(path, dirs[i], &bad);
        if (r > 0) nexp += r;
        if (r < 0)
            vg_log(LOG_ERR, "vigild: cannot restore the exports mirrored in %s: %s", dirs[i],
                   strerror(-r));
    }
    if (nexp)
        vg_log(LOG_NOTICE, "vigild: restored %d signed export manifests mirrored beside the "
               "footage into %s", nexp, path);
    if (exports_out) *exports_out = nexp;
    free(locks);
    return found && !damaged;
}

static int any_history(const config *cfg, const char *const *dirs, size_t ndirs, char *which,
                       size_t len)
{
    (void)cfg;
    for (size_t i = 0; i < ndirs; i++)
        if (storage_pool_has_history(dirs[i])) {
            snprintf(which, len, "%s", dirs[i]);
            return 1;
        }
    return 0;
}

/* Removes path and its -wal and -shm. */
static void remove_db(const char *path)
{
    char p[PATH_MAX + 8];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

/* Renames path (and its -wal, -shm) to path + suffix. 0 or -errno. */
static int move_db(const char *path, const char *suffix, char *dst, size_t len)
{
    char a[PATH_MAX + 8], b[PATH_MAX + 64];
    snprintf(dst, len, "%s%s", path, suffix);
    if (rename(path, dst) != 0 && errno != ENOENT) return -errno;
    static const char *const side[] = {"-wal", "-shm"};
    for (size_t i = 0; i < VG_ARRAY_SIZE(side); i++) {
        snprintf(a, sizeof(a), "%s%s", path, side[i]);
        snprintf(b, sizeof(b), "%s%s", dst, side[i]);
        if (rename(a, b) != 0 && errno != ENOENT)
            vg_log(LOG_WARNING, "vigild: cannot rename %s: %m", a);
    }
    vg_fsync_parent(dst);
    return 0;
}

static void standin_path(const config *cfg, const char *const *dirs, size_t ndirs, char *out,
                         size_t len)
{
    if (ndirs)
        snprintf(out, len, "%s/" STANDIN_NAME, dirs[0]);
    else
        snprintf(out, len, "%s.degraded", cfg->index_path);
}

int guard_open(guard *g, config *cfg, const char *cfg_path, index_db **idx)
{
    char why[512], hist[PATH_MAX];
    int damaged = 0;
    const char **dirs = calloc(cfg->npools ? cfg->npools : 1, sizeof(*dirs));
    int ret = 0;
    memset(g, 0, sizeof(*g));
    *idx = NULL;
    if (!dirs) return -ENOMEM;
    size_t ndirs = pool_dirs(cfg, dirs);
    snprintf(g->configured, sizeof(g->configured), "%s", cfg->index_path);
    snprintf(g->in_use, sizeof(g->in_use), "%s", cfg->index_path);
    int probe = index_probe(cfg->index_path, why, sizeof(why));
    int history = any_history(cfg, dirs, ndirs, hist, sizeof(hist));
    if (probe == 0 || (probe == -ENOENT && !history)) {
        ret = index_open(cfg->index_path, idx);
        if (ret == 0) {
            /* The index is the truth; the mirrors may still hold a lock it
             * lacks (an index restored from an older backup): merge, then
             * mirror the union back. */
            g->locks_known = 1;
            restore_locks(cfg->index_path, dirs, ndirs, 1, NULL, &damaged, NULL);
            g->mirror_ok = !damaged;
            goto out;
        }
        snprintf(why, sizeof(why), "it cannot be opened: %s", strerror(-ret));
        probe = ret;
    }

    /* Degraded: never silently. */
    g->degraded = 1;
    if (probe == -ENOENT)
        snprintf(g->problem, sizeof(g->problem),
                 "the index %s is missing (%s) but the pool at %s holds footage of earlier runs: "
                 "its segments, locks, exports and audit trail are not in any index",
                 g->configured, why, hist);
    else
        snprintf(g->problem, sizeof(g->problem), "the index %s is unusable: %s", g->configured,
                 why);
    snprintf(g->fix, sizeof(g->fix),
             "if its disk is only unmounted, mount it and restart vigild; otherwise stop vigild, "
             "run `vigild --config %s --rebuild-index` (rebuilds the index from the footage and "
             "the locks and signing key kept beside it) and start vigild again",
             cfg_path);
    standin_path(cfg, dirs, ndirs, g->in_use, sizeof(g->in_use));
    if (index_probe(g->in_use, why, sizeof(why)) != 0) remove_db(g->in_use);
    ret = index_open(g->in_use, idx);
    if (ret < 0) {
        vg_log(LOG_CRIT, "vigild: %s; and no stand-in index could be opened at %s: %s. Fix: %s",
               g->problem, g->in_use, strerror(-ret), g->fix);
        goto out;
    }
    char *p = strdup(g->in_use);
    if (!p) {
        index_close(idx);
        ret = -ENOMEM;
        goto out;
    }
    free(cfg->index_path);
    cfg->index_path = p;
    g->locks_known = restore_locks(g->in_use, dirs, ndirs, 1, NULL, &damaged, NULL);
    g->mirror_ok = !damaged;
    vg_log(LOG_CRIT,
           "vigild: INDEX DEGRADED: %s. Recording continues on a stand-in index %s; %s %s "
           "is left as it is. Fix: %s",
           g->problem, g->in_use,
           g->locks_known ? "the mirrored evidence locks are restored into it and nothing is "
                            "deleted for age;"
                          : "the evidence locks are NOT known (no readable lock mirror), so "
                            "retention deletes nothing at all;",
           g->configured, g->fix);
out:
    free(dirs);
    return ret;
}

void guard_started(const guard *g, const config *cfg, const storage *st, index_db *idx,
                   storage_retention *rt)
{
    /* A pool initialised by storage_open() gets its mirror now. */
    const char **dirs = calloc(cfg->npools ? cfg->npools : 1, sizeof(*dirs));
    size_t n = 0;
    for (size_t i = 0; dirs && g->mirror_ok && i < cfg->npools; i++)
        if (storage_pool_usable(st, cfg->pools[i].id) == 1) dirs[n++] = cfg->pools[i].path;
    if (dirs && g->mirror_ok && index_lock_mirror_set(dirs, n) == 0) {
        int r = index_lock_mirror_sync(g->in_use);
        if (r < 0) vg_log(LOG_ERR, "vigild: cannot write the lock mirrors: %s", strerror(-r));
    }
    free(dirs);
    if (!g->degraded) return;
    if (rt)
        storage_retention_hold(rt, STORAGE_HOLD_AGE | (g->locks_known ? 0 : STORAGE_HOLD_SPACE),
                               g->locks_known ? "the index is degraded (run vigild "
                                                "--rebuild-index)"
                                              : "the index is degraded and the evidence locks "
                                                "are not known (run vigild --rebuild-index)");
    index_event_add_json(idx, vg_now_us(), NULL, "index_degraded",
                         json_pack("{s:s,s:s,s:s,s:b}", "problem", g->problem, "fix", g->fix,
                                   "stand_in", g->in_use, "locks_known", g->locks_known));
}

/* Audit rows of the index at path (read-only), or -1 when it cannot say. */
static int64_t count_audit(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int guard_rebuild(config *cfg, const char *cfg_path)
{
    char why[512], moved[PATH_MAX + 64] = "", standin[PATH_MAX], smoved[PATH_MAX + 64] = "";
    char suffix[64], t[VG_TIME_LEN], key[PATH_MAX + 16];
    const char **dirs = calloc(cfg->npools ? cfg->npools : 1, sizeof(*dirs));
    index_db *idx = NULL;
    storage *st = NULL;
    storage_reconcile_report rep;
    index_mirror_info info = {0};
    uint8_t pk[32];
    int64_t standin_audit = -1, damaged_audit = -1;
    int rc = 1, r;
    if (!dirs) return 1;
    size_t ndirs = pool_dirs(cfg, dirs);
    (void)cfg_path;
    int probe = index_probe(cfg->index_path, why, sizeof(why));
    if (probe == 0) {
        vg_log(LOG_NOTICE, "vigild: the index %s is healthy: nothing to rebuild",
               cfg->index_path);
        rc = 0;
        goto out;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(suffix, sizeof(suffix), ".damaged-%Y%m%dT%H%M%SZ", &tm);
    vg_log(LOG_NOTICE, "vigild: rebuilding the index %s (%s) from the footage", cfg->index_path,
           why);
    struct stat sb;
    if (stat(cfg->index_path, &sb) == 0) {
        damaged_audit = count_audit(cfg->index_path);
        if ((r = move_db(cfg->index_path, suffix, moved, sizeof(moved))) < 0) {
            vg_log(LOG_ERR, "vigild: cannot move the damaged index %s aside: %s",
                   cfg->index_path, strerror(-r));
            goto out;
        }
        vg_log(LOG_NOTICE, "vigild: the damaged index is kept as %s (sqlite3's .recover may "
               "still get rows out of it)", moved);
    }
    standin_path(cfg, dirs, ndirs, standin, sizeof(standin));
    if (stat(standin, &sb) == 0) {
        standin_audit = count_audit(standin);
        strftime(suffix, sizeof(suffix), "-%Y%m%dT%H%M%SZ", &tm);
        if (move_db(standin, suffix, smoved, sizeof(smoved)) == 0)
            vg_log(LOG_NOTICE, "vigild: the stand-in index of the degraded runs is kept as %s",
                   smoved);
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", cfg->index_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        vg_mkdir_p(dir, 0755);
    }
    if ((r = index_open(cfg->index_path, &idx)) < 0) {
        vg_log(LOG_ERR, "vigild: cannot create the index %s: %s", cfg->index_path, strerror(-r));
        goto out;
    }
    int damaged = 0, nexports = 0;
    int known = restore_locks(cfg->index_path, dirs, ndirs, 1, &info, &damaged, &nexports);
    if ((r = storage_open(cfg, idx, &st)) < 0) {
        vg_log(LOG_ERR, "vigild: cannot open storage: %s", strerror(-r));
        goto out;
    }
    snprintf(key, sizeof(key), "%s.signing-key", cfg->index_path);
    int have_key = serve_signing_key_prepare(cfg, st, key, pk) == 0;
    storage_reconcile_opts ropts = {.full = 1}; /* the new index vouches for nothing */
    if ((r = storage_reconcile_opts_run(st, idx, cfg, &ropts, &rep)) < 0)
        vg_log(LOG_ERR, "vigild: rebuild: reconciliation incomplete: %s", strerror(-r));
    /* What could not be brought back, said once and plainly. */
    char lost[1024];
    int n = snprintf(lost, sizeof(lost), "the audit trail");
    if (damaged_audit >= 0)
        n += snprintf(lost + n, sizeof(lost) - (size_t)n, " (%lld rows, still in %s)",
                      (long long)damaged_audit, moved);
    else if (info.written_us)
        n += snprintf(lost + n, sizeof(lost) - (size_t)n,
                      " (%lld rows when the lock mirror was last written, at %s, and any after)",
                      (long long)info.audit_last_id, vg_time_format(info.written_us, t, sizeof(t)));
    else
        n += snprintf(lost + n, sizeof(lost) - (size_t)n, " (how many rows is not known)");
    if (standin_audit > 0)
        n += snprintf(lost + n, sizeof(lost) - (size_t)n,
                      ", %lld audit rows of the degraded runs (still in %s)",
                      (long long)standin_audit, smoved);
    n += snprintf(lost + n, sizeof(lost) - (size_t)n, ", the camera events, the cases");
    if (info.exports > nexports)
        snprintf(lost + n, sizeof(lost) - (size_t)n,
                 ", %lld of the %lld stored export manifests (not mirrored; the signed copies "
                 "are with whoever received them and still verify with the same key)",
                 (long long)(info.exports - nexports), (long long)info.exports);
    char *b64 = have_key ? vg_base64(pk, sizeof(pk)) : NULL;
    vg_log(LOG_WARNING,
           "vigild: index rebuilt at %s: %u segments indexed from the footage (%u quarantined); "
           "evidence locks: %s; %d signed export manifests restored; export signing key: %s%s. "
           "LOST: %s",
           cfg->index_path, rep.indexed, rep.quarantined,
           known ? "restored from the mirror beside the footage"
                 : "NOT restored (no readable lock mirror): re-create them",
           nexports, have_key ? "kept, public key " : "NONE (see above)", b64 ? b64 : "", lost);
    index_audit a;
    char detail[INDEX_DETAIL_MAX];
    json_t *d = json_pack("{s:I,s:b,s:s}", "segments", (json_int_t)rep.indexed, "locks_restored",
                          known, "lost", lost);
    index_detail_format(d, detail, sizeof(detail));
    index_audit_fill(&a, "local", "index_rebuilt", NULL, 0, 0, detail);
    index_audit_add(idx, &a);
    index_event_add_json(idx, vg_now_us(), NULL, "index_rebuilt", d);
    free(b64);
    rc = index_flush(idx) == 0 ? 0 : 1;
out:
    index_lock_mirror_set(NULL, 0);
    storage_close(&st);
    index_close(&idx);
    free(dirs);
    return rc;
}
