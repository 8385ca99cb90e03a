/*
 * Retention: recording never stops for lack of space.
 *
 * Every pool has a byte count of its segments (storage.c adds each append;
 * this file sets it from the index at start and subtracts what it deletes),
 * so a quota check costs an atomic load, and statvfs gives the free space. A
 * pass (its own thread, every interval; the SQLite and unlink work never runs
 * on the daemon's loop) does, per usable pool:
 *   - quota: when used bytes plus the growth expected before the next pass
 *     exceed max_bytes, delete down to the lower of 95 % of the quota and the
 *     quota minus three intervals of growth;
 *   - floor: the same against the free space and min_free (the larger of its
 *     bytes and percentage forms; without one, 1 % of the filesystem capped at
 *     1 GiB, so a pool that shares its disk never fills it);
 * and every few passes, per camera, deletes what ended before now minus its
 * retention_days (0: keep until space runs out), and deletes the events
 * older than events.retention_days (index_events_expire(): EVENT_BATCH rows a
 * transaction of the writer, so ingest's commits go between them; those an
 * active lock covers stay).
 * Growth is measured (an average of the appended bytes per second), so the
 * margins follow the real bitrate: a 24 MB tmpfs pool and a 2 TiB disk use the
 * same rule.
 *
 * Victims are the oldest closed segments of the pool across its cameras
 * (keyset scan on (start_us, id), so skipped ones do not stall the pass),
 * skipping those an active lock covers and those pinned by a download. Open
 * rows are never candidates (the query wants open = 0), and a segment's row is
 * in the index before its first byte is written. Deletion: the rows first
 * (index_segments_delete() commits synchronously), then the files and any
 * directory that became empty (hour, day, month, year; never the camera's),
 * then one retention_delete event per pool and reason with a summary.
 *
 * Pins and the delete race. A download reads a segment's row, then pins it
 * (media/clip.c), so a pass can see a segment unpinned, and the download pin
 * it between that check and the unlink. Two checks close the window: after
 * the rows are deleted (committed), each victim's pin is checked again, and a
 * pinned one is not unlinked but deferred (its file is unlinked by a later
 * pass once unpinned, or at stop); and serve, after pinning, re-reads the row
 * and drops the segment when it is gone. Either the pin is taken before this
 * re-check (the file is deferred) or the row's deletion committed before the
 * pin (serve sees no row and never opens the file).
 *
 * A write that fails with ENOSPC calls the purge registered here on the
 * writing thread: it deletes oldest-first until the floor plus a margin is
 * free again (at least one segment) and returns 0 so the write is retried once.
 * One mutex serialises passes and purges; both only wait for the index writer,
 * which never waits for them.
 *
 * Readers (/metrics, /healthz on the daemon's loop) never take that mutex: a
 * purge of thousands of segments holds it for as long as the unlinks take, and
 * the loop (and its watchdog ping) must not wait for that. Retention publishes
 * a copy of each pool's limits and totals under a second mutex held only for
 * the copy (after its config changes and after each deleted batch), and the
 * byte count and statvfs need no lock at all.
 *
 * While the index cannot be trusted (vigild started on a lost or damaged
 * index: see daemon/guard.c) the daemon holds retention back: nothing is
 * deleted for age, and while the locks are not known either (no readable
 * lock mirror) nothing at all; each pass that holds back says so, hourly.
 */
#include "storage/storage.h"

#include "common/common.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64                    /* candidates read per query */
#define AGE_EVERY 10                /* passes between age checks */
#define QUOTA_LOW 0.95              /* delete down to this fraction of the quota */
#define IMPLICIT_FLOOR_PCT 1.0      /* floor without min_free: % of the filesystem... */
#define IMPLICIT_FLOOR_MAX (INT64_C(1) << 30) /* ...at most 1 GiB */
#define EVENT_BATCH 500             /* events looked at per transaction */
#define EVENT_BATCHES 200           /* ...and transactions per pass (the rest: next turn) */

typedef struct rt_pool {
    char id[INDEX_ID_MAX];
    char path[PATH_MAX];
    int usable;
    int64_t max_bytes, min_free_bytes;
    double min_free_pct;
    /* growth estimate */
    int64_t last_appended; /* used + deleted at the last pass */
    int64_t last_mono_us;
    double rate;           /* bytes per second */
    /* totals (published to readers by publish()) */
    uint64_t deleted_segments, deleted_bytes, enospc;
    int64_t deleted_total; /* bytes retention took off the counter */
    int warned_full;       /* logged "nothing left to delete" */
} rt_pool;

typedef struct rt_camera {
    char id[INDEX_ID_MAX];
    int retention_days;
} rt_camera;

struct storage_retention {
    storage *st;     /* borrowed */
    index_db *idx;   /* borrowed */
    index_retention *q;
    /* The pools as readers see them: a copy published under pub_mu, which is
     * held only to copy (never across I/O, SQLite or mu). */
    pthread_mutex_t pub_mu;
    rt_pool *pub;
    size_t npub;
    pthread_mutex_t mu; /* one pass or purge at a time; guards everything below */
    rt_pool *pools;
    size_t npools;
    rt_camera *cams;
    size_t ncams;
    int event_days;
    _Atomic uint64_t events_expired; /* read by /metrics without mu */
    storage_pin_fn pinned;
    void *pin_opaque;
    unsigned passes;
    int interval_ms;
    /* Files whose rows are deleted but which a download pinned meanwhile. */
    struct deferred {
        int64_t id;
        char *path; /* absolute */
    } *deferred;
    size_t ndeferred, deferred_cap;

    /* STORAGE_HOLD_* while the index cannot be trusted, and why. */
    int hold;
    char hold_why[512];
    int64_t hold_logged_us; /* monotonic; the last "held back" line */

    pthread_t thread;
    int thread_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
};

/* Why a batch was deleted (the event says it). */
typedef enum { WHY_QUOTA, WHY_FLOOR, WHY_AGE, WHY_ENOSPC } why_t;
static const char *const why_name[] = {"quota", "free_space", "age", "enospc"};

/* ---- config ---- */

static int copy_config(storage_retention *rt, const config *cfg)
{
    rt_pool *pools = calloc(cfg->npools ? cfg->npools : 1, sizeof(*pools));
    /* Up to two keys a camera: its own and its recorded sub stream's. */
    rt_camera *cams = calloc(cfg->ncameras ? 2 * cfg->ncameras : 1, sizeof(*cams));
    if (!pools || !cams) {
        free(pools);
        free(cams);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        const config_pool *cp = &cfg->pools[i];
        rt_pool *p = &pools[i];
        snprintf(p->id, sizeof(p->id), "%s", cp->id);
        snprintf(p->path, sizeof(p->path), "%s", cp->path);
        p->max_bytes = (int64_t)cp->max_bytes;
        p->min_free_bytes = (int64_t)cp->min_free_bytes;
        p->min_free_pct = cp->min_free_pct;
        p->usable = storage_pool_usable(rt->st, cp->id) == 1;
        /* Keep the counters of a pool that survives the reload. */
        for (size_t k = 0; k < rt->npools; k++) {
            rt_pool *o = &rt->pools[k];
            if (strcmp(o->id, p->id) != 0) continue;
            p->last_appended = o->last_appended;
            p->last_mono_us = o->last_mono_us;
            p->rate = o->rate;
            p->deleted_segments = o->deleted_segments;
            p->deleted_bytes = o->deleted_bytes;
            p->deleted_total = o->deleted_total;
            p->enospc = o->enospc;
        }
    }
    size_t ncams = 0;
    for (size_t i = 0; i < cfg->ncameras; i++) {
        const config_camera *cc = &cfg->cameras[i];
        snprintf(cams[ncams].id, sizeof(cams[ncams].id), "%s", cc->id);
        cams[ncams++].retention_days = cc->retention_days;
        /* The sub stream's segments age like the camera's own. */
        if (cc->record_sub && config_sub_key(cc->id, cams[ncams].id, sizeof(cams[ncams].id)) == 0)
            cams[ncams++].retention_days = cc->retention_days;
    }
    free(rt->pools);
    free(rt->cams);
    rt->pools = pools;
    rt->npools = cfg->npools;
    rt->cams = cams;
    rt->ncams = ncams;
    rt->event_days = cfg->event_retention_days;
    return 0;
}

/* Copies the pools for readers (called under mu). Without memory for a new
 * copy the old one stays: readers see stale totals, never a torn one. */
static void publish(storage_retention *rt)
{
    pthread_mutex_lock(&rt->pub_mu);
    if (rt->npub != rt->npools) {
        rt_pool *n = realloc(rt->pub, (rt->npools ? rt->npools : 1) * sizeof(*n));
        if (!n) goto out;
        rt->pub = n;
        rt->npub = rt->npools;
    }
    if (rt->npools) memcpy(rt->pub, rt->pools, rt->npools * sizeof(*rt->pub));
out:
    pthread_mutex_unlock(&rt->pub_mu);
}

int storage_retention_set_config(storage_retention *rt, const config *cfg)
{
    pthread_mutex_lock(&rt->mu);
    int r = copy_config(rt, cfg);
    if (r == 0) publish(rt);
    pthread_mutex_unlock(&rt->mu);
    return r;
}

void storage_retention_set_pin_check(storage_retention *rt, storage_pin_fn pinned, void *opaque)
{
    pthread_mutex_lock(&rt->mu);
    rt->pinned = pinned;
    rt->pin_opaque = opaque;
    pthread_mutex_unlock(&rt->mu);
}

/* ---- space ---- */

static int pool_space(const rt_pool *p, int64_t *free_b, int64_t *total_b)
{
    struct statvfs sv;
    if (statvfs(p->path, &sv) != 0) return -errno;
    *free_b = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    *total_b = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
    return 0;
}

static int64_t pool_floor(const rt_pool *p, int64_t total)
{
    int64_t pct = (int64_t)((double)total * p->min_free_pct / 100.0);
    int64_t f = p->min_free_bytes > pct ? p->min_free_bytes : pct;
    if (f == 0 && p->min_free_pct == 0) {
        f = (int64_t)((double)total * IMPLICIT_FLOOR_PCT / 100.0);
        if (f > IMPLICIT_FLOOR_MAX) f = IMPLICIT_FLOOR_MAX;
    }
    return f;
}

static int64_t pool_used(storage_retention *rt, const rt_pool *p)
{
    return storage__pool_used_add(rt->st, p->id, 0);
}

/* Bytes expected to be appended during n intervals, so a pass leaves room for
 * what arrives before the next one. Without a thread of its own (passes only
 * on demand) there is no next interval to leave room for, and a rate measured
 * between two calls a few milliseconds apart would make a pass delete more
 * than its limits ask. */
static int64_t growth(const storage_retention *rt, const rt_pool *p, double n)
{
    if (rt->interval_ms <= 0) return 0;
    return (int64_t)(p->rate * (rt->interval_ms / 1000.0) * n);
}

static void update_rate(storage_retention *rt, rt_pool *p)
{
    int64_t now = vg_mono_us();
    int64_t appended = pool_used(rt, p) + p->deleted_total;
    if (p->last_mono_us) {
        double dt = (double)(now - p->last_mono_us) / 1e6;
        if (dt > 0.05) {
            double r = (double)(appended - p->last_appended) / dt;
            if (r < 0) r = 0;
            /* Rise at once (a burst must not fill the disk), decay slowly. */
            p->rate = r > p->rate ? r : 0.8 * p->rate + 0.2 * r;
        }
    }
    p->last_appended = appended;
    p->last_mono_us = now;
}

/* ---- deleting ---- */

typedef struct victims {
    int64_t *ids;
    char (*paths)[INDEX_PATH_MAX];
    char (*pools)[INDEX_ID_MAX];
    int64_t *bytes;
    size_t n, cap;
    /* summary */
    int64_t total_bytes, oldest_us, newest_us;
} victims;

static void victims_free(victims *v)
{
    free(v->ids);
    free(v->paths);
    free(v->pools);
    free(v->bytes);
    memset(v, 0, sizeof(*v));
}

static int victims_add(victims *v, const index_segment *s)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : BATCH;
        int64_t *ids = realloc(v->ids, cap * sizeof(*ids));
        if (ids) v->ids = ids;
        char(*paths)[INDEX_PATH_MAX] = realloc(v->paths, cap * sizeof(*paths));
        if (paths) v->paths = paths;
        char(*pools)[INDEX_ID_MAX] = realloc(v->pools, cap * sizeof(*pools));
        if (pools) v->pools = pools;
        int64_t *bytes = realloc(v->bytes, cap * sizeof(*bytes));
        if (bytes) v->bytes = bytes;
        if (!ids || !paths || !pools || !bytes) return -ENOMEM;
        v->cap = cap;
    }
    v->ids[v->n] = s->id;
    snprintf(v->paths[v->n], INDEX_PATH_MAX, "%s", s->path);
    snprintf(v->pools[v->n], INDEX_ID_MAX, "%s", s->pool);
    v->bytes[v->n] = s->bytes;
    v->n++;
    v->total_bytes += s->bytes;
    if (!v->oldest_us || s->start_us < v->oldest_us) v->oldest_us = s->start_us;
    if (s->end_us > v->newest_us) v->newest_us = s->end_us;
    return 0;
}

/* rmdir of the file's directory and its parents while they are empty, up to
 * (not including) the camera directory: <pool>/<cam>/YYYY/MM/DD/HH. */
static void prune_dirs(const char *abspath)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", abspath);
    for (int level = 0; level < 4; level++) {
        char *slash = strrchr(dir, '/');
        if (!slash) return;
        *slash = 0;
        if (rmdir(dir) != 0) return; /* ENOTEMPTY and friends: stop */
    }
}

static rt_pool *pool_by_id(storage_retention *rt, const char *id)
{
    for (size_t i = 0; i < rt->npools; i++)
        if (strcmp(rt->pools[i].id, id) == 0) return &rt->pools[i];
    return NULL;
}

static void unlink_file(const char *abs, storage_retention_report *rep)
{
    if (unlink(abs) != 0 && errno != ENOENT) {
        vg_log(LOG_ERR, "storage: retention: cannot delete %s: %m", abs);
        if (rep) rep->errors++;
    } else {
        prune_dirs(abs);
    }
}

/* Keeps abs for a later pass (a download pinned it after the pin check). */
static void defer_unlink(storage_retention *rt, int64_t id, const char *abs,
                         storage_retention_report *rep)
{
    if (rt->ndeferred == rt->deferred_cap) {
        size_t cap = rt->deferred_cap ? 2 * rt->deferred_cap : 16;
        struct deferred *n = realloc(rt->deferred, cap * sizeof(*n));
        if (!n) {
            unlink_file(abs, rep); /* cannot remember it: delete as before */
            return;
        }
        rt->deferred = n, rt->deferred_cap = cap;
    }
    char *p = strdup(abs);
    if (!p) {
        unlink_file(abs, rep);
        return;
    }
    vg_log(LOG_INFO, "storage: retention: %s was pinned by a download as its row was deleted; "
           "unlinking it once the download ends", abs);
    rt->deferred[rt->ndeferred].id = id;
    rt->deferred[rt->ndeferred].path = p;
    rt->ndeferred++;
}

/* Unlinks the deferred files no longer pinned (all of them with force). */
static void unlink_deferred(storage_retention *rt, int force)
{
    size_t k = 0;
    for (size_t i = 0; i < rt->ndeferred; i++) {
        struct deferred *d = &rt->deferred[i];
        if (!force && rt->pinned && rt->pinned(rt->pin_opaque, d->id)) {
            rt->deferred[k++] = *d;
            continue;
        }
        unlink_file(d->path, NULL);
        free(d->path);
    }
    rt->ndeferred = k;
}

/* Rows first (committed), then files (each in its row's pool); a file pinned
 * meanwhile is deferred (see the top). Updates the pools' counters and totals,
 * and leaves in v->n and v->total_bytes what was deleted. */
static int delete_victims(storage_retention *rt, victims *v, int64_t now_us,
                          storage_retention_report *rep)
{
    if (v->n == 0) return 0;
    /* The locks read at the start of the pass may be stale: the index checks
     * them again in the deleting transaction and keeps what one now covers. */
    uint8_t *kept = malloc(v->n);
    int r = kept ? index_segments_delete_unlocked(rt->idx, v->ids, v->n, now_us, kept)
                 : -ENOMEM;
    if (r < 0) {
        free(kept);
        vg_log(LOG_ERR, "storage: retention: cannot delete %zu rows from the index: %s", v->n,
               strerror(-r));
        rep->errors++;
        return r;
    }
    size_t ndel = 0;
    int64_t del_bytes = 0;
    for (size_t i = 0; i < v->n; i++) {
        char abs[PATH_MAX];
        if (kept[i]) {
            vg_log(LOG_INFO, "storage: retention: segment %lld kept: locked during the pass",
                   (long long)v->ids[i]);
            continue;
        }
        ndel++, del_bytes += v->bytes[i];
        rt_pool *p = pool_by_id(rt, v->pools[i]);
        const char *base = p ? p->path : storage_pool_path(rt->st, v->pools[i]);
        if (p) {
            p->deleted_total += v->bytes[i];
            p->deleted_segments++;
            p->deleted_bytes += (uint64_t)v->bytes[i];
        }
        storage__pool_used_add(rt->st, v->pools[i], -v->bytes[i]);
        if (!base || snprintf(abs, sizeof(abs), "%s/%s", base, v->paths[i]) >= (int)sizeof(abs))
            continue;
        if (rt->pinned && rt->pinned(rt->pin_opaque, v->ids[i]))
            defer_unlink(rt, v->ids[i], abs, rep);
        else
            unlink_file(abs, rep);
    }
    free(kept);
    publish(rt);
    rep->deleted_segments += ndel;
    rep->deleted_bytes += del_bytes;
    /* What the caller sums into its event: only what went (the arrays stay
     * allocated; victims_free does not need n). */
    v->n = ndel;
    v->total_bytes = del_bytes;
    return 0;
}

static void event_summary(storage_retention *rt, const rt_pool *p, why_t why, uint64_t nseg,
                          int64_t bytes, int64_t oldest, int64_t newest, uint64_t locked,
                          uint64_t pinned)
{
    char a[VG_TIME_LEN], b[VG_TIME_LEN], detail[INDEX_DETAIL_MAX];
    json_t *d = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:I}", "pool", p->id, "reason",
                          why_name[why], "segments", (json_int_t)nseg, "bytes", (json_int_t)bytes,
                          "oldest", vg_time_format(oldest, a, sizeof(a)), "newest",
                          vg_time_format(newest, b, sizeof(b)), "skipped_locked",
                          (json_int_t)locked, "skipped_pinned", (json_int_t)pinned);
    index_detail_format(d, detail, sizeof(detail));
    vg_log(LOG_INFO, "storage: retention_delete %s", detail);
    index_event_add_json(rt->idx, vg_now_us(), NULL, "retention_delete", d);
}

/* What a scan needs to decide and to page. */
typedef struct scan {
    storage_retention *rt;
    const index_lock *locks;
    size_t nlocks;
    int64_t now_us;
    victims *v;
    int64_t want_bytes; /* stop adding once this much is chosen (INT64_MAX: all) */
    int64_t last_start, last_id;
    size_t rows;
    uint64_t locked, pinned;
    int err;
} scan;

static int scan_cb(const index_segment *s, void *arg)
{
    scan *sc = arg;
    if (sc->v->total_bytes >= sc->want_bytes) return 1; /* enough chosen: stop before s */
    sc->rows++;
    sc->last_start = s->start_us; /* s is consumed: taken or skipped */
    sc->last_id = s->id;
    for (size_t i = 0; i < sc->nlocks; i++) {
        if (index_lock_covers(&sc->locks[i], s->camera, s->start_us, s->end_us, sc->now_us)) {
            sc->locked++;
            return 0;
        }
    }
    if (sc->rt->pinned && sc->rt->pinned(sc->rt->pin_opaque, s->id)) {
        sc->pinned++;
        return 0;
    }
    int r = victims_add(sc->v, s);
    if (r < 0) {
        sc->err = r;
        return 1;
    }
    return 0;
}

/* Deletes oldest-first from pool p until need() says enough (checked after
 * each batch) or nothing deletable is left. need() returns the bytes still to
 * free (<= 0: done). Returns the number of segments deleted, or negative. */
typedef int64_t (*need_fn)(storage_retention *rt, rt_pool *p, void *arg);

static int64_t purge_pool(storage_retention *rt, rt_pool *p, why_t why, need_fn need, void *arg,
                          int64_t now_us, storage_retention_report *rep)
{
    index_lock *locks = NULL;
    size_t nlocks = 0;
    int64_t deleted = 0, bytes = 0, oldest = 0, newest = 0;
    uint64_t locked = 0, pinned = 0;
    int r = index_retention_locks(rt->q, now_us, &locks, &nlocks);
    if (r < 0) {
        rep->errors++;
        return r;
    }
    /* Deleted rows vanish and skipped ones need no second look, so the next
     * page always starts after the last row consumed. */
    int64_t after_start = INT64_MIN, after_id = 0;
    for (;;) {
        int64_t want = need(rt, p, arg);
        if (want <= 0) break;
        victims v = {0};
        scan sc = {.rt = rt, .locks = locks, .nlocks = nlocks, .now_us = now_us, .v = &v,
                   .want_bytes = want, .last_start = after_start, .last_id = after_id};
        r = index_retention_oldest(rt->q, p->id, after_start, after_id, BATCH, scan_cb, &sc);
        locked += sc.locked;
        pinned += sc.pinned;
        after_start = sc.last_start;
        after_id = sc.last_id;
        if (r < 0 || sc.err) {
            rep->errors++;
            victims_free(&v);
            break;
        }
        if (v.n) {
            r = delete_victims(rt, &v, now_us, rep);
            if (r == 0) {
                deleted += (int64_t)v.n;
                bytes += v.total_bytes;
                if (!oldest || v.oldest_us < oldest) oldest = v.oldest_us;
                if (v.newest_us > newest) newest = v.newest_us;
            }
        }
        size_t taken = v.n, rows = sc.rows;
        victims_free(&v);
        if (r < 0) break;
        if (taken == 0 && rows < BATCH) {
            if (!p->warned_full) {
                vg_log(LOG_WARNING,
                       "storage: retention: pool %s: %s limit reached and nothing left to delete "
                       "(%llu locked, %llu pinned segments skipped)",
                       p->id, why_name[why], (unsigned long long)locked,
                       (unsigned long long)pinned);
                p->warned_full = 1;
            }
            break;
        }
    }
    if (deleted) p->warned_full = 0;
    if (deleted)
        event_summary(rt, p, why, (uint64_t)deleted, bytes, oldest, newest, locked, pinned);
    rep->skipped_locked += locked;
    rep->skipped_pinned += pinned;
    free(locks);
    return deleted;
}

/* Bytes over the quota's low-water mark, once the high-water mark is crossed. */
typedef struct quota_arg {
    int64_t target;
} quota_arg;

static int64_t need_quota(storage_retention *rt, rt_pool *p, void *arg)
{
    quota_arg *a = arg;
    return pool_used(rt, p) - a->target;
}

typedef struct floor_arg {
    int64_t target_free;
} floor_arg;

static int64_t need_floor(storage_retention *rt, rt_pool *p, void *arg)
{
    (void)rt;
    floor_arg *a = arg;
    int64_t fr = 0, total = 0;
    if (pool_space(p, &fr, &total) < 0) return 0;
    return a->target_free - fr;
}

static void pass_pool(storage_retention *rt, rt_pool *p, int64_t now_us,
                      storage_retention_report *rep)
{
    update_rate(rt, p);
    /* Margins: the growth expected over the next two (trigger) and three
     * (target) intervals; zero until the rate is measured (ENOSPC covers that). */
    int64_t soon = growth(rt, p, 2.0), later = growth(rt, p, 3.0);
    if (p->max_bytes > 0) {
        int64_t used = pool_used(rt, p);
        if (used + soon > p->max_bytes) {
            int64_t low = (int64_t)((double)p->max_bytes * QUOTA_LOW);
            if (p->max_bytes - later < low) low = p->max_bytes - later;
            quota_arg a = {.target = low};
            purge_pool(rt, p, WHY_QUOTA, need_quota, &a, now_us, rep);
        }
    }
    int64_t fr = 0, total = 0;
    int r = pool_space(p, &fr, &total);
    if (r < 0) {
        rep->errors++;
        return;
    }
    int64_t floor = pool_floor(p, total);
    if (fr - soon < floor) {
        int64_t margin = total / 20 < later ? later : total / 20;
        if (margin > IMPLICIT_FLOOR_MAX) margin = later > IMPLICIT_FLOOR_MAX ? later : IMPLICIT_FLOOR_MAX;
        floor_arg a = {.target_free = floor + margin};
        purge_pool(rt, p, WHY_FLOOR, need_floor, &a, now_us, rep);
    }
}

/* Age: everything of cam that ended before the cutoff, oldest first. */
static void pass_age(storage_retention *rt, const rt_camera *cam, int64_t now_us,
                     storage_retention_report *rep)
{
    if (cam->retention_days <= 0) return;
    int64_t cutoff = now_us - (int64_t)cam->retention_days * 86400 * INT64_C(1000000);
    index_lock *locks = NULL;
    size_t nlocks = 0;
    if (index_retention_locks(rt->q, now_us, &locks, &nlocks) < 0) {
        rep->errors++;
        return;
    }
    int64_t after_start = INT64_MIN, after_id = 0;
    uint64_t locked = 0, pinned = 0, nseg = 0;
    int64_t bytes = 0, oldest = 0, newest = 0;
    for (;;) {
        victims v = {0};
        scan sc = {.rt = rt, .locks = locks, .nlocks = nlocks, .now_us = now_us, .v = &v,
                   .want_bytes = INT64_MAX, .last_start = after_start, .last_id = after_id};
        int r = index_retention_expired(rt->q, cam->id, cutoff, after_start, after_id, BATCH,
                                        scan_cb, &sc);
        locked += sc.locked;
        pinned += sc.pinned;
        after_start = sc.last_start;
        after_id = sc.last_id;
        if (r < 0 || sc.err) {
            rep->errors++;
            victims_free(&v);
            break;
        }
        if (v.n && delete_victims(rt, &v, now_us, rep) == 0) {
            nseg += v.n;
            bytes += v.total_bytes;
            if (!oldest || v.oldest_us < oldest) oldest = v.oldest_us;
            if (v.newest_us > newest) newest = v.newest_us;
        }
        size_t rows = sc.rows;
        victims_free(&v);
        if (rows < BATCH) break;
    }
    if (nseg) {
        char detail[INDEX_DETAIL_MAX], a[VG_TIME_LEN], b[VG_TIME_LEN];
        json_t *d = json_pack("{s:s,s:i,s:I,s:I,s:s,s:s,s:I,s:I}", "reason", "age",
                              "retention_days", cam->retention_days, "segments", (json_int_t)nseg,
                              "bytes", (json_int_t)bytes, "oldest",
                              vg_time_format(oldest, a, sizeof(a)), "newest",
                              vg_time_format(newest, b, sizeof(b)), "skipped_locked",
                              (json_int_t)locked, "skipped_pinned", (json_int_t)pinned);
        index_detail_format(d, detail, sizeof(detail));
        vg_log_cam(LOG_INFO, cam->id, "storage: retention_delete %s", detail);
        index_event_add_json(rt->idx, vg_now_us(), cam->id, "retention_delete", d);
    }
    rep->skipped_locked += locked;
    rep->skipped_pinned += pinned;
    free(locks);
}

/* Events older than event_days, in short transactions; one line a pass that
 * deleted any. */
static void pass_events(storage_retention *rt, int64_t now_us, storage_retention_report *rep)
{
    if (rt->event_days <= 0) return;
    index_event_expiry x = {
        .before_us = now_us - (int64_t)rt->event_days * 86400 * INT64_C(1000000),
        .now_us = now_us, .limit = EVENT_BATCH, .after_time_us = INT64_MIN, .after_id = 0};
    uint64_t deleted = 0, kept = 0;
    for (int i = 0; i < EVENT_BATCHES; i++) {
        if (index_events_expire(rt->idx, &x) < 0) {
            rep->errors++;
            break;
        }
        deleted += x.deleted;
        kept += x.kept;
        atomic_fetch_add(&rt->events_expired, (uint64_t)x.deleted);
        if (x.scanned < (size_t)x.limit) break;
    }
    rep->expired_events += deleted;
    if (deleted) {
        char cut[VG_TIME_LEN];
        vg_log(LOG_INFO,
               "storage: retention: expired %llu events older than %d days (before %s); "
               "%llu kept under evidence locks",
               (unsigned long long)deleted, rt->event_days,
               vg_time_format(x.before_us, cut, sizeof(cut)), (unsigned long long)kept);
    }
}

uint64_t storage_retention_events_expired(storage_retention *rt)
{
    return atomic_load(&rt->events_expired);
}

void storage_retention_hold(storage_retention *rt, int what, const char *why)
{
    pthread_mutex_lock(&rt->mu);
    rt->hold = what;
    snprintf(rt->hold_why, sizeof(rt->hold_why), "%s", why ? why : "");
    rt->hold_logged_us = 0;
    if (what)
        vg_log(LOG_WARNING, "storage: retention deletes nothing%s: %s",
               what & STORAGE_HOLD_SPACE ? "" : " for age (space limits still apply)",
               rt->hold_why);
    pthread_mutex_unlock(&rt->mu);
}

/* Logs (at most hourly) that a pass held something back. Under mu. */
static void hold_note(storage_retention *rt, const char *what)
{
    int64_t now = vg_mono_us();
    if (rt->hold_logged_us && now - rt->hold_logged_us < INT64_C(3600) * 1000000) return;
    rt->hold_logged_us = now;
    vg_log(LOG_WARNING, "storage: retention: nothing deleted for %s: %s", what, rt->hold_why);
}

int storage_retention_run(storage_retention *rt, int64_t now_us, storage_retention_report *out)
{
    storage_retention_report rep = {0};
    pthread_mutex_lock(&rt->mu);
    unlink_deferred(rt, 0);
    for (size_t i = 0; i < rt->npools && !(rt->hold & STORAGE_HOLD_SPACE); i++) {
        rt_pool *p = &rt->pools[i];
        if (!p->usable) continue;
        pass_pool(rt, p, now_us, &rep);
    }
    if (rt->hold) hold_note(rt, rt->hold & STORAGE_HOLD_SPACE ? "age or space" : "age");
    /* A held pass does not use up the age turn: age runs at the first pass
     * after the hold is lifted. */
    if (!(rt->hold & STORAGE_HOLD_AGE) && rt->passes++ % AGE_EVERY == 0) {
        for (size_t i = 0; i < rt->ncams; i++) pass_age(rt, &rt->cams[i], now_us, &rep);
        pass_events(rt, now_us, &rep);
    }
    pthread_mutex_unlock(&rt->mu);
    if (out) *out = rep;
    return rep.errors ? -EIO : 0;
}

/* ---- ENOSPC: on the writing thread ---- */

static int on_enospc(void *opaque, const char *pool_path)
{
    storage_retention *rt = opaque;
    storage_retention_report rep = {0};
    int64_t n = 0;
    pthread_mutex_lock(&rt->mu);
    rt_pool *p = NULL;
    if (rt->hold & STORAGE_HOLD_SPACE) {
        vg_log(LOG_ERR, "storage: pool %s is full (ENOSPC) and retention deletes nothing: %s",
               pool_path, rt->hold_why);
        pthread_mutex_unlock(&rt->mu);
        return -ENOSPC;
    }
    for (size_t i = 0; i < rt->npools && !p; i++)
        if (strcmp(rt->pools[i].path, pool_path) == 0) p = &rt->pools[i];
    if (p) {
        int64_t fr = 0, total = 0;
        p->enospc++;
        publish(rt);
        if (pool_space(p, &fr, &total) == 0) {
            int64_t margin = total / 20 > growth(rt, p, 3.0) ? total / 20 : growth(rt, p, 3.0);
            if (margin > IMPLICIT_FLOOR_MAX) margin = IMPLICIT_FLOOR_MAX;
            floor_arg a = {.target_free = pool_floor(p, total) + margin};
            n = purge_pool(rt, p, WHY_ENOSPC, need_floor, &a, vg_now_us(), &rep);
        }
        vg_log(LOG_WARNING, "storage: pool %s is full (ENOSPC): emergency purge deleted %lld "
               "segments (%lld bytes)", p->id, (long long)(n > 0 ? n : 0),
               (long long)rep.deleted_bytes);
        index_event_add(rt->idx, vg_now_us(), NULL, "disk_full", p->id);
    }
    pthread_mutex_unlock(&rt->mu);
    return n > 0 ? 0 : -ENOSPC;
}

/* ---- the thread ---- */

static void *retention_main(void *arg)
{
    storage_retention *rt = arg;
    pthread_mutex_lock(&rt->stop_mu);
    /* The first pass runs one interval after the start, so whoever started
     * retention sets it up (a hold, the pin check) before anything goes. */
    while (!rt->stop) {
        int64_t deadline = vg_mono_us() + (int64_t)rt->interval_ms * 1000;
        struct timespec ts = {.tv_sec = deadline / 1000000,
                              .tv_nsec = (long)(deadline % 1000000) * 1000};
        while (!rt->stop && vg_mono_us() < deadline)
            pthread_cond_timedwait(&rt->stop_cv, &rt->stop_mu, &ts);
        if (rt->stop) break;
        pthread_mutex_unlock(&rt->stop_mu);
        storage_retention_run(rt, vg_now_us(), NULL);
        pthread_mutex_lock(&rt->stop_mu);
    }
    pthread_mutex_unlock(&rt->stop_mu);
    return NULL;
}

int storage_retention_start(storage *st, index_db *idx, const config *cfg, int interval_ms,
                            storage_retention **out)
{
    int r = 0;
    pthread_condattr_t ca;
    storage_retention *rt = calloc(1, sizeof(*rt));
    *out = NULL;
    if (!rt) return -ENOMEM;
    rt->st = st;
    rt->idx = idx;
    rt->interval_ms = interval_ms;
    pthread_mutex_init(&rt->mu, NULL);
    pthread_mutex_init(&rt->pub_mu, NULL);
    pthread_mutex_init(&rt->stop_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    if ((r = copy_config(rt, cfg)) < 0) goto out;
    publish(rt);
    if ((r = index_flush(idx)) < 0) goto out;
    if ((r = index_retention_open(cfg->index_path, &rt->q)) < 0) goto out;
    for (size_t i = 0; i < rt->npools; i++) {
        rt_pool *p = &rt->pools[i];
        int64_t sum = 0;
        if ((r = index_retention_pool_bytes(rt->q, p->id, &sum)) < 0) goto out;
        int64_t cur = storage__pool_used_add(st, p->id, 0);
        if (cur >= 0) storage__pool_used_add(st, p->id, sum - cur);
        vg_log(LOG_INFO, "storage: pool %s: %lld bytes of segments%s", p->id, (long long)sum,
               p->usable ? "" : " (not usable)");
    }
    storage__set_enospc_handler(st, on_enospc, rt);
    if (interval_ms > 0) {
        int e = pthread_create(&rt->thread, NULL, retention_main, rt);
        if (e != 0) {
            storage__set_enospc_handler(st, NULL, NULL);
            r = -e;
            goto out;
        }
        rt->thread_started = 1;
    }
    *out = rt;
    rt = NULL;
out:
    storage_retention_stop(&rt);
    return r;
}

void storage_retention_stop(storage_retention **prt)
{
    storage_retention *rt = prt ? *prt : NULL;
    if (!rt) return;
    if (rt->thread_started) {
        pthread_mutex_lock(&rt->stop_mu);
        rt->stop = 1;
        pthread_cond_signal(&rt->stop_cv);
        pthread_mutex_unlock(&rt->stop_mu);
        pthread_join(rt->thread, NULL);
    }
    /* Unregister under mu: a purge running on a camera thread finishes first. */
    pthread_mutex_lock(&rt->mu);
    storage__set_enospc_handler(rt->st, NULL, NULL);
    unlink_deferred(rt, 1); /* their rows are gone: never leave unindexed files */
    free(rt->deferred);
    pthread_mutex_unlock(&rt->mu);
    index_retention_close(&rt->q);
    free(rt->pools);
    free(rt->cams);
    free(rt->pub);
    pthread_cond_destroy(&rt->stop_cv);
    pthread_mutex_destroy(&rt->stop_mu);
    pthread_mutex_destroy(&rt->pub_mu);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
    *prt = NULL;
}

/* Never takes mu (see the top): the published copy, the atomic byte count,
 * statvfs. */
int storage_retention_pool_usage(storage_retention *rt, const char *pool, storage_pool_usage *out)
{
    int r = -ENOENT;
    rt_pool p;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&rt->pub_mu);
    for (size_t i = 0; i < rt->npub; i++) {
        if (strcmp(rt->pub[i].id, pool) != 0) continue;
        p = rt->pub[i];
        r = 0;
        break;
    }
    pthread_mutex_unlock(&rt->pub_mu);
    if (r < 0) return r;
    out->usable = p.usable;
    out->used_bytes = pool_used(rt, &p);
    out->max_bytes = p.max_bytes;
    if (pool_space(&p, &out->free_bytes, &out->total_bytes) == 0)
        out->floor_bytes = pool_floor(&p, out->total_bytes);
    out->deleted_segments = p.deleted_segments;
    out->deleted_bytes = p.deleted_bytes;
    out->enospc = p.enospc;
    return 0;
}
