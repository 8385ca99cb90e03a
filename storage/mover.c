/*
 * Tiers: a camera records to a fast pool; once a closed segment ended
 * move_after ago, it moves to that pool's archive (move_to), in the
 * background and at most move_rate bytes per second, so recording, which
 * shares the fast disk, is never starved. Clips, exports, locks and cases
 * find the segment through its row wherever it is, so nothing else knows
 * about tiers; retention applies to each pool by its own quota and floor, and
 * to the archive by the cameras' retention_days.
 *
 * One move, in the order that leaves exactly one valid copy indexed whatever
 * the moment of a crash (the journal row in the index says a move was under
 * way; storage_moves_recover() finishes or undoes it at the next start,
 * before reconciliation could mistake a copy for new footage):
 *   1. journal the move (index_move_begin);
 *   2. copy to <archive>/<path>.moving, hashing the source as it is read
 *      (a source that no longer matches its SHA-256 is not spread: the move
 *      is dropped and the scrubber's report stands);
 *   3. fsync the copy, drop it from the page cache and read it back from the
 *      disk against the indexed SHA-256;
 *   4. rename it to <archive>/<path>, fsync the directory;
 *   5. switch the row to the archive (only if it is still in the fast pool:
 *      retention may have deleted it meanwhile, then the copy goes);
 *   6. unlink the source (deferred while a download holds it pinned; its
 *      reader resolved the old path), end the journal row.
 * Recovery: row still in the fast pool: the copy (either name) goes; row in
 * the archive: the source goes; row gone: both go.
 *
 * An archive is a network mount more often than not. Before each pass the
 * mover checks that the archive answers (its identity file reads back, the
 * directory is writable); if not, moving pauses, a pool_unreachable event is
 * raised once and vigil_pool_reachable drops to 0, and nothing else waits:
 * the mover is a thread of its own, and recording only ever touches the fast
 * pool. Should the fast pool fill while the archive is away, retention frees
 * it by its quota and floor as always: recording does not stop.
 */
#include "storage/storage.h"

#include "common/common.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define BATCH 16
#define IDLE_US 1000000

typedef struct tier {
    char *from, *to;
    int64_t after_us;
    uint64_t rate;
    int reachable; /* -1 not checked yet */
} tier;

typedef struct deferred {
    int64_t id;
    char path[4096];
} deferred;

struct storage_mover {
    storage *st;
    index_db *idx;
    char *index_path;
    index_retention *q;
    tier *tiers;
    size_t ntiers;
    storage_pin_fn pinned;
    void *pin_opaque;
    deferred *def;
    size_t ndef, capdef;
    uint8_t *buf;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    double bucket;
    int64_t bucket_t;
    _Atomic uint64_t moved, moved_bytes, failed;
    _Atomic int unreachable; /* tiers whose archive does not answer */
};

/* ---- helpers ---- */

static int wait_stop(storage_mover *m, int64_t us)
{
    int64_t deadline = vg_mono_us() + us;
    struct timespec ts = {.tv_sec = deadline / 1000000, .tv_nsec = (long)(deadline % 1000000) * 1000};
    pthread_mutex_lock(&m->mu);
    while (!m->stop && vg_mono_us() < deadline) pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    int stop = m->stop;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

static int stopping(storage_mover *m)
{
    pthread_mutex_lock(&m->mu);
    int s = m->stop;
    pthread_mutex_unlock(&m->mu);
    return s;
}

/* Token bucket at rate; 1 when stopping. */
static int throttle(storage_mover *m, uint64_t rate, size_t n)
{
    int64_t now = vg_mono_us();
    m->bucket += (double)(now - m->bucket_t) * (double)rate / 1e6;
    if (m->bucket > (double)rate) m->bucket = (double)rate;
    m->bucket_t = now;
    m->bucket -= (double)n;
    if (m->bucket >= 0) return 0;
    return wait_stop(m, (int64_t)(-m->bucket * 1e6 / (double)rate));
}

static int path_join(const storage *st, const char *pool, const char *rel, const char *suffix,
                     char *out, size_t len)
{
    const char *root = storage_pool_path(st, pool);
    if (!root) return -ENOENT;
    return snprintf(out, len, "%s/%s%s", root, rel, suffix) < (int)len ? 0 : -ENAMETOOLONG;
}

/* Removes the hour/day/month/year directories a move emptied (never the
 * camera's): rmdir fails harmlessly on the first one that is not empty. */
static void prune_dirs(const char *file)
{
    char d[4096];
    snprintf(d, sizeof(d), "%s", file);
    for (int i = 0; i < 4; i++) {
        char *slash = strrchr(d, '/');
        if (!slash) return;
        *slash = 0;
        if (rmdir(d) < 0) return;
    }
}

static void event(storage_mover *m, const char *camera, const char *type, json_t *d)
{
    char detail[INDEX_DETAIL_MAX];
    index_detail_format(d, detail, sizeof(detail));
    json_decref(d);
    index_event_add(m->idx, vg_now_us(), camera, type, detail);
}

/* Whether the archive answers: its identity reads back as this pool's, and
 * its directory takes files. */
static int archive_answers(const storage *st, const char *pool)
{
    const char *root = storage_pool_path(st, pool);
    return root && storage_pool_identified(root, pool) && access(root, W_OK | X_OK) == 0;
}

/* ---- one move ---- */

/* Copies src to dst (created), hashing what it reads; 0, -EBADMSG when the
 * source does not match s, or negative errno. */
static int copy_file(storage_mover *m, const tier *t, const char *src, const char *dst,
                     const index_segment *s)
{
    uint8_t got[32];
    vg_sha256 *h = vg_sha256_new();
    int in = -1, out = -1, ret = 0;
    int64_t total = 0;
    if (!h) return -ENOMEM;
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 ||
        (out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        ret = -errno;
        goto out;
    }
    posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        if (throttle(m, t->rate, CHUNK)) {
            ret = -ECANCELED;
            goto out;
        }
        ssize_t n = read(in, m->buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ret = -errno;
            goto out;
        }
        if (n == 0) break;
        vg_sha256_update(h, m->buf, (size_t)n);
        if ((ret = vg_write_all(out, m->buf, (size_t)n)) < 0) goto out;
        posix_fadvise(in, total, n, POSIX_FADV_DONTNEED);
        total += n;
    }
    vg_sha256_final(h, got);
    if (total != s->bytes || !s->has_sha256 || !vg_ct_equal(got, s->sha256, 32)) {
        ret = -EBADMSG;
        goto out;
    }
    if (fsync(out) < 0) {
        ret = -errno;
        goto out;
    }
    /* What is verified next must come from the disk, not from this cache. */
    posix_fadvise(out, 0, 0, POSIX_FADV_DONTNEED);
out:
    if (in >= 0) close(in);
    if (out >= 0 && close(out) < 0 && ret == 0) ret = -errno;
    vg_sha256_free(&h);
    return ret;
}

static void defer_unlink(storage_mover *m, int64_t id, const char *path)
{
    if (m->ndef == m->capdef) {
        size_t ncap = m->capdef ? 2 * m->capdef : 16;
        deferred *nd = realloc(m->def, ncap * sizeof(*nd));
        if (!nd) {
            unlink(path); /* cannot remember it: the reader keeps its open file */
            return;
        }
        m->def = nd;
        m->capdef = ncap;
    }
    m->def[m->ndef].id = id;
    snprintf(m->def[m->ndef].path, sizeof(m->def[m->ndef].path), "%s", path);
    m->ndef++;
}

static void unlink_deferred(storage_mover *m, int all)
{
    size_t k = 0;
    for (size_t i = 0; i < m->ndef; i++) {
        if (!all && m->pinned && m->pinned(m->pin_opaque, m->def[i].id)) {
            m->def[k++] = m->def[i];
            continue;
        }
        unlink(m->def[i].path);
        prune_dirs(m->def[i].path);
    }
    m->ndef = k;
}

/* Moves s along t. 0 moved (or nothing to do), negative on failure (the
 * source stays indexed and in place). */
static int move_one(storage_mover *m, const tier *t, const index_segment *s)
{
    char src[4096], dst[4096], tmp[4096], why[256];
    int ret;
    if ((ret = path_join(m->st, t->from, s->path, "", src, sizeof(src))) < 0 ||
        (ret = path_join(m->st, t->to, s->path, "", dst, sizeof(dst))) < 0 ||
        (ret = path_join(m->st, t->to, s->path, ".moving", tmp, sizeof(tmp))) < 0)
        return ret;
    if ((ret = index_move_begin(m->index_path, s->id, t->from, t->to, s->path)) < 0) return ret;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", dst);
    *strrchr(dir, '/') = 0;
    if ((ret = vg_mkdir_p(dir, 0755)) < 0) goto undo;
    if ((ret = copy_file(m, t, src, tmp, s)) < 0) {
        if (ret == -EBADMSG)
            vg_log(LOG_ERR, "mover: camera %s: %s no longer matches its SHA-256; not moved",
                   s->camera, src);
        goto undo;
    }
    if ((ret = storage_verify_file(tmp, s, NULL, why, sizeof(why))) < 0) {
        vg_log(LOG_ERR, "mover: the copy %s does not read back as written: %s", tmp, why);
        goto undo;
    }
    if (rename(tmp, dst) < 0) {
        ret = -errno;
        goto undo;
    }
    vg_fsync_dir(dir);
    ret = index_move_switch(m->index_path, s->id, t->from, t->to);
    if (ret <= 0) {
        unlink(dst); /* the row went meanwhile (retention), or the switch failed */
        goto end;
    }
    storage__pool_used_add(m->st, t->to, s->bytes);
    storage__pool_used_add(m->st, t->from, -s->bytes);
    if (m->pinned && m->pinned(m->pin_opaque, s->id)) {
        defer_unlink(m, s->id, src);
    } else {
        unlink(src);
        prune_dirs(src);
    }
    atomic_fetch_add(&m->moved, 1);
    atomic_fetch_add(&m->moved_bytes, (uint64_t)s->bytes);
    ret = 0;
end:
    index_move_end(m->index_path, s->id);
    return ret < 0 ? ret : 0;
undo:
    unlink(tmp);
    index_move_end(m->index_path, s->id);
    return ret;
}

/* ---- the thread ---- */

typedef struct batch {
    index_segment v[BATCH];
    int n;
} batch;

static int on_seg(const index_segment *s, void *arg)
{
    batch *b = arg;
    b->v[b->n++] = *s;
    return 0;
}

static void set_reachable(storage_mover *m, tier *t, int ok)
{
    if (t->reachable == ok) return;
    if (!ok) {
        atomic_fetch_add(&m->unreachable, 1);
        vg_log(LOG_ERR, "mover: archive pool %s (%s) does not answer; moving from %s paused",
               t->to, storage_pool_path(m->st, t->to), t->from);
        event(m, NULL, "pool_unreachable", json_pack("{s:s,s:s}", "pool", t->to, "from", t->from));
    } else if (t->reachable == 0) {
        atomic_fetch_sub(&m->unreachable, 1);
        vg_log(LOG_NOTICE, "mover: archive pool %s answers again; moving resumes", t->to);
        event(m, NULL, "pool_reachable", json_pack("{s:s,s:s}", "pool", t->to, "from", t->from));
    }
    t->reachable = ok;
}

/* One pass over tier t: every segment due. Returns how many moved. */
static int pass(storage_mover *m, tier *t)
{
    int64_t cutoff = vg_now_us() - t->after_us, after_start = INT64_MIN, after_id = 0;
    uint64_t n0 = atomic_load(&m->moved), b0 = atomic_load(&m->moved_bytes);
    int failures = 0;
    set_reachable(m, t, archive_answers(m->st, t->to));
    if (!t->reachable) return 0;
    for (;;) {
        batch b = {.n = 0};
        if (index_retention_oldest(m->q, t->from, after_start, after_id, BATCH, on_seg, &b) < 0 ||
            b.n == 0)
            break;
        int done = 0;
        for (int i = 0; i < b.n && !done; i++) {
            const index_segment *s = &b.v[i];
            after_start = s->start_us, after_id = s->id;
            if (s->end_us > cutoff) {
                done = 1; /* oldest first: the rest are younger still */
            } else if (stopping(m)) {
                return 0;
            } else if (m->pinned && m->pinned(m->pin_opaque, s->id)) {
                continue; /* a download reads it: next pass */
            } else if (move_one(m, t, s) < 0) {
                atomic_fetch_add(&m->failed, 1);
                if (++failures >= 3 || !archive_answers(m->st, t->to)) {
                    set_reachable(m, t, archive_answers(m->st, t->to));
                    done = 1;
                }
            }
        }
        if (done) break;
    }
    uint64_t n = atomic_load(&m->moved) - n0;
    if (n)
        event(m, NULL, "segments_moved",
              json_pack("{s:s,s:s,s:I,s:I}", "from", t->from, "to", t->to, "segments",
                        (json_int_t)n, "bytes", (json_int_t)(atomic_load(&m->moved_bytes) - b0)));
    return (int)n;
}

static void *mover_main(void *arg)
{
    storage_mover *m = arg;
    while (!stopping(m)) {
        int moved = 0;
        unlink_deferred(m, 0);
        for (size_t i = 0; i < m->ntiers && !stopping(m); i++) moved += pass(m, &m->tiers[i]);
        if (!moved && wait_stop(m, IDLE_US)) break;
    }
    return NULL;
}

int storage_mover_start(storage *st, index_db *idx, const config *cfg, storage_mover **out)
{
    int r = 0;
    pthread_condattr_t ca;
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->npools; i++) n += cfg->pools[i].move_to != NULL;
    if (n == 0) return 0; /* no tiers: no thread */
    storage_mover *m = calloc(1, sizeof(*m));
    if (!m) return -ENOMEM;
    m->st = st;
    m->idx = idx;
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!(m->index_path = strdup(cfg->index_path)) || !(m->buf = malloc(CHUNK)) ||
        !(m->tiers = calloc(n, sizeof(*m->tiers)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        const config_pool *p = &cfg->pools[i];
        if (!p->move_to) continue;
        tier *t = &m->tiers[m->ntiers++];
        t->reachable = -1;
        t->after_us = p->move_after_us;
        t->rate = p->move_rate;
        if (!(t->from = strdup(p->id)) || !(t->to = strdup(p->move_to))) {
            r = -ENOMEM;
            goto out;
        }
    }
    m->bucket_t = vg_mono_us();
    if ((r = index_retention_open(cfg->index_path, &m->q)) < 0) goto out;
    int e = pthread_create(&m->thread, NULL, mover_main, m);
    if (e != 0) {
        r = -e;
        goto out;
    }
    m->thread_started = 1;
    *out = m;
    m = NULL;
out:
    storage_mover_stop(&m);
    return r;
}

void storage_mover_set_pin_check(storage_mover *m, storage_pin_fn pinned, void *opaque)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->pinned = pinned;
    m->pin_opaque = opaque;
    pthread_mutex_unlock(&m->mu);
}

void storage_mover_stop(storage_mover **pm)
{
    storage_mover *m = pm ? *pm : NULL;
    if (!m) return;
    if (m->thread_started) {
        pthread_mutex_lock(&m->mu);
        m->stop = 1;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    unlink_deferred(m, 1); /* their rows point at the archive already */
    free(m->def);
    index_retention_close(&m->q);
    for (size_t i = 0; i < m->ntiers; i++) {
        free(m->tiers[i].from);
        free(m->tiers[i].to);
    }
    free(m->tiers);
    free(m->buf);
    free(m->index_path);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
    *pm = NULL;
}

void storage_mover_get_stats(storage_mover *m, storage_mover_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!m) return;
    out->moved_segments = atomic_load(&m->moved);
    out->moved_bytes = atomic_load(&m->moved_bytes);
    out->failures = atomic_load(&m->failed);
    out->unreachable = atomic_load(&m->unreachable);
}

/* ---- start-up: moves a stop or crash interrupted ---- */

typedef struct pending {
    index_move *v;
    size_t n, cap;
} pending;

static int on_pending(const index_move *mv, void *arg)
{
    pending *a = arg;
    if (a->n == a->cap) {
        size_t ncap = a->cap ? 2 * a->cap : 16;
        index_move *nv = realloc(a->v, ncap * sizeof(*nv));
        if (!nv) return -ENOMEM;
        a->v = nv, a->cap = ncap;
    }
    a->v[a->n++] = *mv;
    return 0;
}

/* Finishes or undoes one interrupted move. 1 done, 0 left (a pool is not
 * configured any more), negative on an index error. */
static int recover_one(storage *st, index_reader *r, const index_move *mv)
{
    index_segment s;
    char from[4096], to[4096], tmp[4096];
    int ret = index_get_segment(r, mv->segment_id, &s);
    if (ret < 0 && ret != -ENOENT) return ret;
    if (path_join(st, mv->from, mv->path, "", from, sizeof(from)) < 0 ||
        path_join(st, mv->to, mv->path, "", to, sizeof(to)) < 0 ||
        path_join(st, mv->to, mv->path, ".moving", tmp, sizeof(tmp)) < 0) {
        vg_log(LOG_WARNING, "mover: segment %" PRId64 ": pool %s or %s is not configured; its "
               "interrupted move is left as it is", mv->segment_id, mv->from, mv->to);
        return 0;
    }
    if (ret == -ENOENT) {
        /* The row is gone (retention): every copy left belongs to nobody. */
        unlink(tmp);
        unlink(to);
        unlink(from);
    } else if (!strcmp(s.pool, mv->from)) {
        unlink(tmp); /* not switched: the source is the valid copy */
        unlink(to);
    } else if (!strcmp(s.pool, mv->to)) {
        if (access(to, F_OK) < 0 && access(tmp, F_OK) == 0) rename(tmp, to);
        unlink(from); /* switched: the archive's copy is the valid one */
        unlink(tmp);
    }
    return 1;
}

int storage_moves_recover(storage *st, const config *cfg)
{
    index_reader *r = NULL;
    pending p = {0};
    unsigned done = 0;
    int ret = index_moves_pending(cfg->index_path, on_pending, &p);
    if (ret == 0 && p.n) ret = index_reader_open(cfg->index_path, &r);
    for (size_t i = 0; ret == 0 && i < p.n; i++) {
        int k = recover_one(st, r, &p.v[i]);
        if (k < 0) ret = k;
        if (k == 1 && (ret = index_move_end(cfg->index_path, p.v[i].segment_id)) == 0) done++;
    }
    if (done) vg_log(LOG_NOTICE, "mover: %u interrupted moves finished or undone", done);
    free(p.v);
    index_reader_close(&r);
    return ret;
}
