/*
 * storage: pools and segment files.
 *
 * A pool is checked once at open: its identity file must name it, or the
 * directory must be empty (a fresh pool, which then gets its identity file);
 * anything else means a wrong or missing mount, so the pool is marked unusable
 * (logged and evented) instead of being written to. After open the pool table
 * is read-only, so camera threads create and write segments without locks.
 *
 * A segment is written in Moonfire's order: O_EXCL create and queue the open
 * row; append whole fragments, each with one pwrite (a short write is retried,
 * a failed one is cut back so the file always ends on a whole fragment and the
 * running SHA-256 matches its bytes); at close fsync the file, then its
 * directory (and any directory this segment created), then queue the close.
 *
 * Durability while a segment is open: a written fragment is in the file
 * (O_DIRECT: on the device, possibly in its volatile cache; the file's new
 * size only in the journal), which survives the process being killed but not
 * a power loss. So a syncer thread fdatasyncs every open segment that has
 * unsynced bytes once per pool's sync_ms (default 1000 ms; 0: only at
 * close), off the cameras' threads: a camera's loop thread never waits for
 * the disk's flush, and one slow flush delays only the next round. After a
 * power loss a segment then holds what was written up to sync_ms (plus one
 * round's flushing) before the cut, and recovery cuts it back to its last
 * whole fragment. The syncer works on a dup of the segment's descriptor, so
 * a segment closing meanwhile is not held up (its close fsyncs anyway); a
 * failed fdatasync is logged, counted and marks the segment's row.
 */
#include "storage/storage.h"

#include "common/common.h"
#include "storage/storage_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>


#define IDENTITY_NAME ".vigil-pool"

#define DIO_ALIGN 4096 /* offset, length and memory alignment of O_DIRECT writes */

typedef struct storage_pool {
    char *id;
    char *path;
    bool usable;
    bool direct; /* segments written with O_DIRECT (see "direct I/O") */
    atomic_bool direct_warned;
    _Atomic int64_t used_bytes; /* segment bytes on the pool (issue 4: retention) */
    int sync_ms;                /* fdatasync open segments this often; 0: at close only */
    int64_t sync_due_us;        /* syncer: the next round for this pool (monotonic) */
    _Atomic uint64_t syncs, sync_errors, sync_ns;
} storage_pool;

struct storage {
    storage_pool *pools;
    size_t npools;
    index_db *idx; /* borrowed */
    storage__enospc_fn enospc; /* issue 4: the emergency purge (storage/retention.c) */
    void *enospc_opaque;
    /* the syncer (see "Durability" above) */
    pthread_mutex_t sync_mu;   /* guards the list of open segments and sync_stop */
    pthread_cond_t sync_cv;
    storage_segment *open_list; /* segments of pools with sync_ms > 0 */
    bool sync_stop, sync_running;
    pthread_t sync_thread;
};

struct storage_segment {
    storage *st;
    int fd;
    int64_t id;
    uint64_t bytes;
    int64_t end_us;
    int new_dirs; /* how many directory levels this segment created (fsynced at close) */
    char camera[INDEX_ID_MAX];
    char abspath[PATH_MAX];
    char pool_path[PATH_MAX];
    storage_pool *pool;
    vg_sha256 *sha;
    bool direct;                /* fd has O_DIRECT */
    uint8_t tail[DIO_ALIGN];    /* direct: the bytes of the last, partial block */
    /* syncer: the list (under st->sync_mu), what is written and what is synced */
    storage_segment *sync_prev, *sync_next;
    bool listed;
    bool sync_failed_logged;    /* syncer thread only */
    _Atomic uint64_t written;   /* bytes appended (the file's content) */
    _Atomic uint64_t synced;    /* of which fdatasync'ed */
};

/* ---- pools ---- */

/* 1 if dir holds nothing (besides . and ..), 0 if it holds something, -errno. */
static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -errno;
    int empty = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        empty = 0;
        break;
    }
    closedir(d);
    return empty;
}

static int write_identity(const char *path, const char *id)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "vigil-pool %s\n", id);
    int r = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    if (write(fd, buf, (size_t)n) != n) {
        r = errno ? -errno : -EIO;
        goto out;
    }
    if (fsync(fd) != 0) {
        r = -errno;
        goto out;
    }
out:
    close(fd);
    if (r == 0) r = vg_fsync_parent(path);
    else unlink(path);
    return r;
}

static void pool_unavailable(storage *st, storage_pool *p, const char *why)
{
    p->usable = false;
    char detail[PATH_MAX + 1024];
    snprintf(detail, sizeof(detail), "pool %s (%s): %s", p->id, p->path, why);
    vg_log(LOG_ERR, "storage: %s; not writing to it", detail);
    if (st->idx) index_event_add(st->idx, vg_now_us(), NULL, "pool_unavailable", detail);
}

/* Checks (or initialises) one pool; marks it usable or not. Never fails. */
static void pool_check(storage *st, storage_pool *p)
{
    char idpath[PATH_MAX], want[256], why[512];
    char *have = NULL;
    snprintf(want, sizeof(want), "vigil-pool %s", p->id);
    if (snprintf(idpath, sizeof(idpath), "%s/" IDENTITY_NAME, p->path) >= (int)sizeof(idpath)) {
        pool_unavailable(st, p, "path too long");
        goto out;
    }
    int r = vg_mkdir_p(p->path, 0755);
    if (r < 0) {
        snprintf(why, sizeof(why), "cannot create directory: %s", strerror(-r));
        pool_unavailable(st, p, why);
        goto out;
    }
    r = vg_read_small_file(idpath, &have);
    if (r == 0) {
        if (strcmp(have, want) == 0) {
            p->usable = true;
        } else {
            snprintf(why, sizeof(why), "identity file says \"%.100s\", expected \"%.100s\"", have,
                     want);
            pool_unavailable(st, p, why);
        }
        goto out;
    }
    if (r != -ENOENT) {
        snprintf(why, sizeof(why), "cannot read identity file: %s", strerror(-r));
        pool_unavailable(st, p, why);
        goto out;
    }
    r = dir_is_empty(p->path);
    if (r < 0) {
        snprintf(why, sizeof(why), "cannot list directory: %s", strerror(-r));
        pool_unavailable(st, p, why);
        goto out;
    }
    if (r == 0) {
        pool_unavailable(st, p, "identity file missing and directory not empty (wrong mount?)");
        goto out;
    }
    r = write_identity(idpath, p->id);
    if (r < 0) {
        snprintf(why, sizeof(why), "cannot write identity file: %s", strerror(-r));
        pool_unavailable(st, p, why);
        goto out;
    }
    vg_log(LOG_NOTICE, "storage: initialised new pool %s at %s", p->id, p->path);
    p->usable = true;
out:
    free(have);
}

/* ---- the syncer ---- */

typedef struct sync_job {
    storage_segment *seg;
    int64_t id;
    int fd; /* a dup: the segment may close meanwhile */
    uint64_t upto;
    storage_pool *pool;
    char *dir;  /* its first sync: the file's directory (owned), else NULL */
    int levels; /* ... and the directories it created above that */
} sync_job;

/* fsyncs dir and levels directories above it (dir is cut on the way). */
static int fsync_dirs(char *dir, int levels)
{
    int r = 0;
    for (int level = 0; level <= levels; level++) {
        int fr = vg_fsync_dir(dir);
        if (fr < 0 && r == 0) r = fr;
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = 0;
    }
    return r;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One round: under the lock, every listed segment of a pool that is due and
 * has unsynced bytes gets a dup of its descriptor; the flushes run unlocked;
 * the segments still listed then learn what is synced. */
static void sync_round(storage *st, sync_job **jobs, size_t *cap)
{
    size_t n = 0;
    int64_t now = mono_us();
    pthread_mutex_lock(&st->sync_mu);
    for (storage_segment *g = st->open_list; g; g = g->sync_next) {
        storage_pool *p = g->pool;
        uint64_t w = atomic_load(&g->written);
        if (now < p->sync_due_us || w <= atomic_load(&g->synced)) continue;
        if (n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            sync_job *nj = realloc(*jobs, nc * sizeof(*nj));
            if (!nj) break; /* the rest next round */
            *jobs = nj;
            *cap = nc;
        }
        int fd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) continue;
        /* a new file's name is durable once its directory is */
        char *dir = atomic_load(&g->synced) == 0 ? strdup(g->abspath) : NULL;
        if (dir) *strrchr(dir, '/') = 0;
        (*jobs)[n++] = (sync_job){.seg = g, .id = g->id, .fd = fd, .upto = w, .pool = p,
                                  .dir = dir, .levels = g->new_dirs};
    }
    for (size_t i = 0; i < st->npools; i++)
        if (st->pools[i].sync_ms > 0 && now >= st->pools[i].sync_due_us)
            st->pools[i].sync_due_us = now + (int64_t)st->pools[i].sync_ms * 1000;
    pthread_mutex_unlock(&st->sync_mu);

    for (size_t i = 0; i < n; i++) {
        sync_job *j = &(*jobs)[i];
        int64_t t0 = mono_us();
        int r = fdatasync(j->fd) == 0 ? 0 : -errno;
        close(j->fd);
        if (j->dir) {
            int dr = fsync_dirs(j->dir, j->levels);
            if (r == 0) r = dr;
            free(j->dir);
        }
        atomic_fetch_add(&j->pool->sync_ns, (uint64_t)(mono_us() - t0) * 1000);
        atomic_fetch_add(&j->pool->syncs, 1);
        if (r < 0) atomic_fetch_add(&j->pool->sync_errors, 1);
        pthread_mutex_lock(&st->sync_mu);
        storage_segment *g = st->open_list;
        while (g && !(g == j->seg && g->id == j->id)) g = g->sync_next;
        if (g && r == 0 && j->upto > atomic_load(&g->synced)) atomic_store(&g->synced, j->upto);
        if (g && r < 0 && !g->sync_failed_logged) {
            g->sync_failed_logged = true;
            vg_log_cam(LOG_ERR, g->camera, "storage: fdatasync of %s failed: %s", g->abspath,
                       strerror(-r));
        }
        pthread_mutex_unlock(&st->sync_mu);
        if (r < 0 && st->idx) index_segment_fsync_failed(st->idx, j->id);
    }
}

static void *sync_main(void *arg)
{
    storage *st = arg;
    sync_job *jobs = NULL;
    size_t cap = 0;
    int tick_ms = 0;
    for (size_t i = 0; i < st->npools; i++)
        if (st->pools[i].sync_ms > 0 && (!tick_ms || st->pools[i].sync_ms < tick_ms))
            tick_ms = st->pools[i].sync_ms;
    pthread_mutex_lock(&st->sync_mu);
    while (!st->sync_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)tick_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&st->sync_cv, &st->sync_mu, &ts);
        if (st->sync_stop) break;
        pthread_mutex_unlock(&st->sync_mu);
        sync_round(st, &jobs, &cap);
        pthread_mutex_lock(&st->sync_mu);
    }
    pthread_mutex_unlock(&st->sync_mu);
    free(jobs);
    return NULL;
}

static int sync_start(storage *st)
{
    pthread_condattr_t ca;
    bool any = false;
    for (size_t i = 0; i < st->npools; i++) any = any || st->pools[i].sync_ms > 0;
    if (!any) return 0;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int r = pthread_cond_init(&st->sync_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0) return -r;
    if ((r = pthread_create(&st->sync_thread, NULL, sync_main, st)) != 0) {
        pthread_cond_destroy(&st->sync_cv);
        return -r;
    }
    st->sync_running = true;
    return 0;
}

static void sync_list_add(storage_segment *seg)
{
    storage *st = seg->st;
    if (!st->sync_running || seg->pool->sync_ms <= 0) return;
    pthread_mutex_lock(&st->sync_mu);
    seg->sync_prev = NULL;
    seg->sync_next = st->open_list;
    if (st->open_list) st->open_list->sync_prev = seg;
    st->open_list = seg;
    seg->listed = true;
    pthread_mutex_unlock(&st->sync_mu);
}

static void sync_list_remove(storage_segment *seg)
{
    storage *st = seg->st;
    if (!seg->listed) return;
    pthread_mutex_lock(&st->sync_mu);
    if (seg->sync_prev) seg->sync_prev->sync_next = seg->sync_next;
    else st->open_list = seg->sync_next;
    if (seg->sync_next) seg->sync_next->sync_prev = seg->sync_prev;
    seg->listed = false;
    pthread_mutex_unlock(&st->sync_mu);
}

int storage_pool_sync_stats(const storage *st, const char *pool, storage_sync_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < st->npools; i++) {
        storage_pool *p = &st->pools[i];
        if (strcmp(p->id, pool) != 0) continue;
        out->sync_ms = p->sync_ms;
        out->syncs = atomic_load(&p->syncs);
        out->errors = atomic_load(&p->sync_errors);
        out->seconds = (double)atomic_load(&p->sync_ns) / 1e9;
        return 0;
    }
    return -ENOENT;
}

uint64_t storage_segment_synced_bytes(const storage_segment *seg)
{
    return atomic_load(&((storage_segment *)seg)->synced);
}

int storage_open(const config *cfg, index_db *idx, storage **out)
{
    int r = 0;
    storage *st = NULL;
    *out = NULL;
    st = calloc(1, sizeof(*st));
    if (!st) return -ENOMEM;
    st->idx = idx;
    pthread_mutex_init(&st->sync_mu, NULL);
    st->pools = calloc(cfg->npools ? cfg->npools : 1, sizeof(*st->pools));
    if (!st->pools) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        storage_pool *p = &st->pools[i];
        p->id = strdup(cfg->pools[i].id);
        p->path = strdup(cfg->pools[i].path);
        p->direct = !cfg->pools[i].buffered;
        p->sync_ms = cfg->pools[i].sync_ms > 0 ? cfg->pools[i].sync_ms : 0;
        st->npools++;
        if (!p->id || !p->path) {
            r = -ENOMEM;
            goto out;
        }
        pool_check(st, p);
    }
    if ((r = sync_start(st)) < 0) {
        vg_log(LOG_ERR, "storage: cannot start the syncer thread: %s", strerror(-r));
        goto out;
    }
    *out = st;
    st = NULL;
out:
    storage_close(&st);
    return r;
}

void storage_close(storage **stp)
{
    if (!stp || !*stp) return;
    storage *st = *stp;
    if (st->sync_running) {
        pthread_mutex_lock(&st->sync_mu);
        st->sync_stop = true;
        pthread_cond_signal(&st->sync_cv);
        pthread_mutex_unlock(&st->sync_mu);
        pthread_join(st->sync_thread, NULL);
        pthread_cond_destroy(&st->sync_cv);
    }
    pthread_mutex_destroy(&st->sync_mu);
    for (size_t i = 0; i < st->npools; i++) {
        free(st->pools[i].id);
        free(st->pools[i].path);
    }
    free(st->pools);
    free(st);
    *stp = NULL;
}

int storage_pool_identified(const char *path, const char *id)
{
    char idpath[PATH_MAX], want[256];
    char *have = NULL;
    snprintf(want, sizeof(want), "vigil-pool %s", id);
    if (snprintf(idpath, sizeof(idpath), "%s/" IDENTITY_NAME, path) >= (int)sizeof(idpath))
        return 0;
    int ok = vg_read_small_file(idpath, &have) == 0 && strcmp(have, want) == 0;
    free(have);
    return ok;
}

int storage_pool_has_history(const char *path)
{
    DIR *d = opendir(path);
    int found = 0;
    if (!d) return 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, INDEX_LOCK_MIRROR) == 0) found = 1;
        if (e->d_name[0] == '.' || strcmp(e->d_name, "quarantine") == 0) continue;
        if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) found = 1;
    }
    closedir(d);
    return found;
}

static const storage_pool *find_pool(const storage *st, const char *id)
{
    for (size_t i = 0; i < st->npools; i++)
        if (strcmp(st->pools[i].id, id) == 0) return &st->pools[i];
    return NULL;
}

int storage_pool_usable(const storage *st, const char *pool)
{
    const storage_pool *p = find_pool(st, pool);
    if (!p) return -ENOENT;
    return p->usable ? 1 : 0;
}

const char *storage_pool_path(const storage *st, const char *pool)
{
    const storage_pool *p = find_pool(st, pool);
    return p ? p->path : NULL;
}

size_t storage_pool_count(const storage *st, size_t *usable)
{
    size_t n = 0;
    for (size_t i = 0; i < st->npools; i++) n += st->pools[i].usable;
    if (usable) *usable = n;
    return st->npools;
}

/* ---- paths ---- */

int storage_abspath(const storage *st, const char *pool, const char *relpath, char *out,
                    size_t len)
{
    const storage_pool *p = find_pool(st, pool);
    if (!p) return -ENOENT;
    int n = snprintf(out, len, "%s/%s", p->path, relpath);
    if (n < 0 || (size_t)n >= len) return -ENAMETOOLONG;
    return 0;
}

/* ---- segments ---- */

/* The disk is full: run the emergency purge registered by storage/retention.c
 * (it deletes the oldest unlocked segments of the pool through the index, then
 * returns 0 so the write is retried once); without one the write fails. */
int storage__on_enospc(storage *st, const char *pool_path)
{
    if (!st->enospc) return -ENOSPC;
    return st->enospc(st->enospc_opaque, pool_path);
}

void storage__set_enospc_handler(storage *st, storage__enospc_fn fn, void *opaque)
{
    st->enospc = fn;
    st->enospc_opaque = opaque;
}

int64_t storage__pool_used_add(storage *st, const char *pool, int64_t delta)
{
    storage_pool *p = (storage_pool *)find_pool(st, pool);
    if (!p) return -ENOENT;
    return atomic_fetch_add(&p->used_bytes, delta) + delta;
}

/* mkdir -p of dir below pool; returns how many levels were created, or -errno. */
static int mkdirs_counted(const char *pool_path, const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) return 0;
    int created = 0;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    size_t base = strlen(pool_path);
    for (char *p = tmp + base + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) == 0) created++;
        else if (errno != EEXIST) return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) == 0) created++;
    else if (errno != EEXIST) return -errno;
    return created;
}

int storage_segment_create(storage *st, const storage_segment_info *info,
                           storage_segment **out)
{
    int r = 0;
    storage_segment *seg = NULL;
    const storage_pool *pool = NULL;
    char rel[INDEX_PATH_MAX] = "", dir[PATH_MAX];
    *out = NULL;

    if (info->pool) {
        pool = find_pool(st, info->pool);
        if (!pool) {
            r = -ENOENT;
            goto out;
        }
    } else {
        for (size_t i = 0; i < st->npools && !pool; i++)
            if (st->pools[i].usable) pool = &st->pools[i];
        if (!pool) {
            r = -ENODEV;
            goto out;
        }
    }
    if (!pool->usable) {
        r = -ENODEV;
        goto out;
    }
    r = vg_segment_relpath(info->camera, info->start_us, rel, sizeof(rel));
    if (r < 0) goto out;
    seg = calloc(1, sizeof(*seg));
    if (!seg) {
        r = -ENOMEM;
        goto out;
    }
    seg->fd = -1;
    seg->st = st;
    seg->end_us = info->start_us;
    snprintf(seg->camera, sizeof(seg->camera), "%s", info->camera);
    snprintf(seg->pool_path, sizeof(seg->pool_path), "%s", pool->path);
    seg->pool = (storage_pool *)pool;
    if (snprintf(seg->abspath, sizeof(seg->abspath), "%s/%s", pool->path, rel) >=
        (int)sizeof(seg->abspath)) {
        r = -ENAMETOOLONG;
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s", seg->abspath);
    *strrchr(dir, '/') = 0;
    r = mkdirs_counted(pool->path, dir);
    if (r < 0) goto out;
    seg->new_dirs = r;
    seg->fd = open(seg->abspath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (seg->fd < 0) {
        r = -errno;
        goto out;
    }
    if (pool->direct) {
        int fl = fcntl(seg->fd, F_GETFL);
        if (fl >= 0 && fcntl(seg->fd, F_SETFL, fl | O_DIRECT) == 0) {
            seg->direct = true;
        } else if (!atomic_exchange(&seg->pool->direct_warned, true)) {
            vg_log(LOG_WARNING, "storage: pool '%s' does not take O_DIRECT (%m); writing "
                   "through the page cache", pool->id);
        }
    }
    if (!(seg->sha = vg_sha256_new())) {
        r = -ENOMEM;
        goto out;
    }

    index_segment row;
    memset(&row, 0, sizeof(row));
    snprintf(row.camera, sizeof(row.camera), "%s", info->camera);
    row.start_us = info->start_us;
    row.end_us = info->start_us;
    row.run_start_us = info->run_start_us;
    snprintf(row.pool, sizeof(row.pool), "%s", pool->id);
    snprintf(row.path, sizeof(row.path), "%s", rel);
    row.open = 1;
    snprintf(row.codec, sizeof(row.codec), "%s", info->codec ? info->codec : "");
    snprintf(row.audio_codec, sizeof(row.audio_codec), "%s",
             info->audio_codec ? info->audio_codec : "");
    row.width = info->width;
    row.height = info->height;
    seg->id = st->idx ? index_segment_begin(st->idx, &row) : 0;
    if (st->idx && seg->id <= 0) {
        r = seg->id < 0 ? (int)seg->id : -EIO;
        unlink(seg->abspath);
        goto out;
    }
    sync_list_add(seg);
    *out = seg;
    seg = NULL;
    r = 0;
out:
    if (r < 0)
        vg_log_cam(LOG_ERR, info->camera, "storage: cannot create segment %s: %s", rel,
                   strerror(-r));
    if (seg) {
        if (seg->fd >= 0) close(seg->fd);
        vg_sha256_free(&seg->sha);
        free(seg);
    }
    return r;
}

int storage_segment_append(storage_segment *seg, const uint8_t *buf, size_t len,
                           index_fragment *frag, int64_t end_us)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return storage_segment_appendv(seg, &iov, 1, frag, end_us);
}

/*
 * Direct I/O. Footage is written once and read rarely, so by default segment
 * files bypass the page cache (O_DIRECT): no copy into the cache, no cache
 * pages to allocate and write back, no other data pushed out of memory — on
 * this project's VM that made writing 6-20x cheaper in CPU (tools/bench).
 * O_DIRECT wants block-aligned offsets, lengths and memory, and a fragment is
 * neither, so each write goes through a per-thread aligned staging buffer: the
 * segment's last partial block (kept in seg->tail) + the new bytes + zero
 * padding to the block, written at the block's offset. The file is thus up
 * to one block longer than its content while open; the index (and every
 * reader) goes by seg->bytes, crash recovery cuts to the last whole fragment,
 * and the close truncates it to its size. A filesystem that refuses
 * (EINVAL) gets buffered writes for that segment, logged once per pool.
 */
static pthread_key_t g_stage_key;
static pthread_once_t g_stage_once = PTHREAD_ONCE_INIT;

typedef struct stage_buf {
    uint8_t *p;
    size_t cap;
} stage_buf;

static void stage_free(void *v)
{
    stage_buf *b = v;
    free(b->p);
    free(b);
}

static void stage_key_init(void)
{
    (void)pthread_key_create(&g_stage_key, stage_free);
}

/* This thread's aligned staging buffer of at least n bytes, NULL on ENOMEM. */
static uint8_t *stage_get(size_t n)
{
    pthread_once(&g_stage_once, stage_key_init);
    stage_buf *b = pthread_getspecific(g_stage_key);
    if (!b) {
        if (!(b = calloc(1, sizeof(*b)))) return NULL;
        if (pthread_setspecific(g_stage_key, b) != 0) {
            free(b);
            return NULL;
        }
    }
    if (b->cap < n) {
        size_t nc = b->cap ? b->cap : 256 * 1024;
        while (nc < n) nc *= 2;
        void *np = NULL;
        if (posix_memalign(&np, DIO_ALIGN, nc) != 0) return NULL;
        free(b->p);
        b->p = np;
        b->cap = nc;
    }
    return b->p;
}

/* pwritev of iov[0..cnt) at off, skipping the first done bytes. */
static ssize_t pwritev_from(int fd, const struct iovec *iov, int cnt, size_t done, off_t off)
{
    struct iovec v[STORAGE_IOV_MAX];
    int n = 0;
    size_t skip = done;
    for (int i = 0; i < cnt; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        v[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
        v[n].iov_len = iov[i].iov_len - skip;
        skip = 0;
        n++;
    }
    return pwritev(fd, v, n, off + (off_t)done);
}

/* Writes iov[0..cnt) (len bytes) at off: partial writes and EINTR are
 * resumed, ENOSPC purges the pool (issue 4) and is retried once. 0 or -errno;
 * *done counts the bytes written. */
static int write_at(storage_segment *seg, const struct iovec *iov, int cnt, size_t len, off_t off,
                    size_t *done)
{
    int retried = 0;
    while (*done < len) {
        ssize_t n = pwritev_from(seg->fd, iov, cnt, *done, off);
        if (n > 0) {
            *done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        int r = n < 0 ? -errno : -EIO;
        if (r == -ENOSPC && !retried) {
            retried = 1;
            if (storage__on_enospc(seg->st, seg->pool_path) == 0) continue;
        }
        return r;
    }
    return 0;
}

/* The direct path: tail + iov + padding, block-aligned. 0, -EINVAL (O_DIRECT
 * refused: the caller falls back), or -errno. */
static int append_direct(storage_segment *seg, const struct iovec *iov, int iovcnt, size_t len)
{
    size_t head = seg->bytes % DIO_ALIGN;
    off_t start = (off_t)(seg->bytes - head);
    size_t total = head + len;
    size_t wlen = (total + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
    uint8_t *b = stage_get(wlen);
    if (!b) return -ENOMEM;
    memcpy(b, seg->tail, head);
    size_t o = head;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(b + o, iov[i].iov_base, iov[i].iov_len);
        o += iov[i].iov_len;
    }
    memset(b + total, 0, wlen - total);
    size_t done = 0;
    struct iovec one = {.iov_base = b, .iov_len = wlen};
    int r = write_at(seg, &one, 1, wlen, start, &done);
    if (r < 0) return r;
    memcpy(seg->tail, b + (total / DIO_ALIGN) * DIO_ALIGN, total % DIO_ALIGN);
    return 0;
}

/* Leaves O_DIRECT for the rest of the segment. */
static void direct_off(storage_segment *seg, int err)
{
    int fl = fcntl(seg->fd, F_GETFL);
    if (fl >= 0) (void)fcntl(seg->fd, F_SETFL, fl & ~O_DIRECT);
    seg->direct = false;
    if (!atomic_exchange(&seg->pool->direct_warned, true))
        vg_log(LOG_WARNING, "storage: pool '%s' refuses O_DIRECT writes (%s); writing through "
               "the page cache", seg->pool->id, strerror(-err));
}

int storage_segment_appendv(storage_segment *seg, const struct iovec *iov, int iovcnt,
                            index_fragment *frag, int64_t end_us)
{
    int r = 0;
    size_t done = 0, len = 0;
    if (iovcnt < 0 || iovcnt > STORAGE_IOV_MAX) return -EINVAL;
    for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
    if (seg->direct) {
        r = append_direct(seg, iov, iovcnt, len);
        if (r == -EINVAL) {
            direct_off(seg, r); /* and write it through the page cache below */
        } else {
            done = r == 0 ? len : 1; /* on failure: cut back below */
            goto written;
        }
    }
    r = write_at(seg, iov, iovcnt, len, (off_t)seg->bytes, &done);
written:
    if (r < 0) {
        /* Cut back to the last whole fragment so the file and its hash agree. */
        if (done && ftruncate(seg->fd, (off_t)seg->bytes) != 0)
            vg_log_cam(LOG_ERR, seg->camera, "storage: cannot truncate %s: %m", seg->abspath);
        vg_log_cam(LOG_ERR, seg->camera, "storage: write to %s failed: %s", seg->abspath,
                   strerror(-r));
        return r;
    }
    for (int i = 0; i < iovcnt; i++) vg_sha256_update(seg->sha, iov[i].iov_base, iov[i].iov_len);
    if (frag) {
        frag->offset = seg->bytes;
        frag->size = (uint32_t)len;
    }
    seg->bytes += len;
    atomic_store(&seg->written, seg->bytes);
    atomic_fetch_add(&seg->pool->used_bytes, (int64_t)len);
    if (frag) {
        seg->end_us = end_us;
        if (seg->st->idx)
            index_segment_progress(seg->st->idx, seg->id, end_us, (int64_t)seg->bytes, frag);
    }
    return 0;
}

int storage_segment_close(storage_segment **segp, int64_t end_us)
{
    if (!segp || !*segp) return 0;
    storage_segment *seg = *segp;
    int r = 0;
    uint8_t sha[32];
    char dir[PATH_MAX];
    sync_list_remove(seg); /* before its descriptor goes: the syncer dups it under the lock */
    /* direct I/O leaves the last block padded: the file ends where its content does */
    if (seg->direct && ftruncate(seg->fd, (off_t)seg->bytes) != 0) r = -errno;
    if (fsync(seg->fd) != 0 && r == 0) r = -errno;
    if (close(seg->fd) != 0 && r == 0) r = -errno;
    /* The file's directory, then every directory this segment created up to the pool. */
    snprintf(dir, sizeof(dir), "%s", seg->abspath);
    for (int level = 0; level <= seg->new_dirs; level++) {
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = 0;
        int fr = vg_fsync_dir(dir);
        if (fr < 0 && r == 0) r = fr;
    }
    vg_sha256_final(seg->sha, sha);
    if (r < 0)
        vg_log_cam(LOG_ERR, seg->camera, "storage: fsync of %s failed: %s", seg->abspath,
                   strerror(-r));
    if (seg->st->idx) index_segment_finish(seg->st->idx, seg->id, end_us, (int64_t)seg->bytes, sha);
    /* Its hash is of the bytes written, which may not all be on the disk:
     * exports say so rather than vouch for them. */
    if (r < 0 && seg->st->idx) index_segment_fsync_failed(seg->st->idx, seg->id);
    vg_sha256_free(&seg->sha);
    free(seg);
    *segp = NULL;
    return r;
}

int64_t storage_segment_id(const storage_segment *seg)
{
    return seg->id;
}

int64_t storage_segment_bytes(const storage_segment *seg)
{
    return (int64_t)seg->bytes;
}

const char *storage_segment_path(const storage_segment *seg)
{
    return seg->abspath;
}
