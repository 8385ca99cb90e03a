/*
 * Scrubbing: footage must stay intact for as long as it is kept, and a disk
 * that silently returns other bytes (a bad sector, a bit flip, a botched
 * restore) must be found before an investigator needs the file, not when.
 *
 * A thread of its own walks every closed segment in id order (rowid order, a
 * scan of the table itself) and re-reads its file, comparing its size and
 * SHA-256 with the index. A pass starts every scrub.period and reads at the
 * rate that spreads it over most of that period (the bytes of the pools over
 * 80 % of the period), never faster than scrub.max_rate, so the verifier is a
 * small steady load next to recording rather than a burst; when max_rate
 * cannot cover the pools in one period, that is logged once per pass. A pass
 * covers the segments that began before it did, so it ends however fast
 * recording adds new ones. Where
 * the walk stands is kept in <index>.scrub (the next id and the pass's
 * start), so a restart resumes the pass instead of starting it over.
 *
 * A mismatch, a read error or a missing file (whose row still exists: a
 * segment retention deleted meanwhile is not a finding) is an event
 * (segment_corrupt), an audit row naming the segment, a log line and a
 * counter. Files are read with posix_fadvise(DONTNEED) behind the reader, so
 * a pass does not push recent footage (what live viewers and clips read) out
 * of the page cache.
 */
#include "storage/storage.h"

#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define BATCH 32
#define MIN_RATE (1u << 20) /* a pass never crawls slower than 1 MiB/s */

struct storage_scrub {
    storage *st;
    index_db *idx;
    char *index_path;
    char *state_path;
    index_reader *r;
    index_retention *q;  /* the pools' byte counts */
    char **pools;
    size_t npools;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu; /* stop, the config */
    pthread_cond_t cv;
    int stop;
    int64_t period_us;
    uint64_t max_rate;
    uint8_t *buf;
    /* the walk */
    int64_t cursor, pass_start_us;
    uint64_t rate;
    int64_t bucket_t;     /* monotonic time the read budget refers to */
    double bucket;        /* bytes that may be read now */
    _Atomic uint64_t ok, bad, bytes, passes;
    _Atomic int64_t last_pass_us;
};

/* Waits up to us; 1 when stopping. mu held by the caller. */
static int wait_stop(storage_scrub *sc, int64_t us)
{
    int64_t deadline = vg_mono_us() + us;
    struct timespec ts = {.tv_sec = deadline / 1000000, .tv_nsec = (long)(deadline % 1000000) * 1000};
    while (!sc->stop && vg_mono_us() < deadline) pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
    return sc->stop;
}

/* Token bucket, paid after the fact: n bytes were just read; waits until the
 * rate has allowed them. What is charged is what was read, so a file far
 * smaller than a read buffer costs its own size. 1 when stopping. */
static int throttle(storage_scrub *sc, size_t n)
{
    int64_t now = vg_mono_us();
    sc->bucket += (double)(now - sc->bucket_t) * (double)sc->rate / 1e6;
    if (sc->bucket > (double)sc->rate) sc->bucket = (double)sc->rate; /* at most 1 s of burst */
    sc->bucket_t = now;
    sc->bucket -= (double)n;
    if (sc->bucket >= 0) return 0;
    int64_t wait = (int64_t)(-sc->bucket * 1e6 / (double)sc->rate);
    pthread_mutex_lock(&sc->mu);
    int stop = wait_stop(sc, wait);
    pthread_mutex_unlock(&sc->mu);
    return stop;
}

int storage_segment_relocated(index_reader *r, const index_segment *s, index_segment *now)
{
    int ret = index_get_segment(r, s->id, now);
    if (ret < 0) return ret;
    return strcmp(now->pool, s->pool) != 0 || strcmp(now->path, s->path) != 0;
}

int storage_verify_file(const char *path, const index_segment *s, storage_scrub *sc, char *why,
                        size_t whylen)
{
    uint8_t got[32];
    uint8_t *buf = sc ? sc->buf : malloc(CHUNK);
    vg_sha256 *h = vg_sha256_new();
    int64_t total = 0;
    int ret = 0, fd = -1;
    why[0] = 0;
    if (!buf || !h) {
        ret = -ENOMEM;
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        ret = -errno;
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ret = -errno;
            snprintf(why, whylen, "read error at byte %" PRId64 ": %s", total, strerror(errno));
            goto out;
        }
        if (n == 0) break;
        vg_sha256_update(h, buf, (size_t)n);
        posix_fadvise(fd, total, n, POSIX_FADV_DONTNEED);
        total += n;
        if (sc) {
            atomic_fetch_add(&sc->bytes, (uint64_t)n);
            if (throttle(sc, (size_t)n)) {
                ret = -ECANCELED;
                goto out;
            }
        }
    }
    vg_sha256_final(h, got);
    if (total != s->bytes) {
        ret = -EBADMSG;
        snprintf(why, whylen, "size %" PRId64 " bytes, the index says %" PRId64, total, s->bytes);
    } else if (!s->has_sha256) {
        ret = -ENODATA;
        snprintf(why, whylen, "the index has no SHA-256 for it");
    } else if (!vg_ct_equal(got, s->sha256, 32)) {
        char a[65], b[65];
        vg_hex(got, 32, a);
        vg_hex(s->sha256, 32, b);
        ret = -EBADMSG;
        snprintf(why, whylen, "SHA-256 %s, the index says %s", a, b);
    }
out:
    if (fd >= 0) close(fd);
    vg_sha256_free(&h);
    if (!sc) free(buf);
    return ret;
}

/* ---- where the walk stands: <index>.scrub ---- */

static void state_load(storage_scrub *sc)
{
    char *text = NULL;
    long long cur = 0, start = 0;
    if (vg_read_small_file(sc->state_path, &text) == 0 &&
        sscanf(text, "vigil-scrub %lld %lld", &cur, &start) == 2 && cur >= 0) {
        sc->cursor = cur;
        sc->pass_start_us = start;
    }
    free(text);
}

/* Best effort, atomically replaced: losing it only restarts a pass. */
static void state_save(storage_scrub *sc)
{
    char tmp[4200], text[96];
    int n = snprintf(text, sizeof(text), "vigil-scrub %lld %lld\n", (long long)sc->cursor,
                     (long long)sc->pass_start_us);
    snprintf(tmp, sizeof(tmp), "%s.tmp", sc->state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    int ok = vg_write_all(fd, text, (size_t)n) == 0;
    close(fd);
    if (!ok || rename(tmp, sc->state_path) < 0) unlink(tmp);
}

/* ---- findings ---- */

static void report_bad(storage_scrub *sc, const index_segment *s, const char *why)
{
    char detail[INDEX_DETAIL_MAX];
    atomic_fetch_add(&sc->bad, 1);
    vg_log(LOG_ERR, "scrub: camera %s: segment %" PRId64 " (%s/%s) is damaged: %s", s->camera,
           s->id, s->pool, s->path, why);
    json_t *d = json_pack("{s:I,s:s,s:s,s:s}", "segment", (json_int_t)s->id, "pool", s->pool,
                          "path", s->path, "error", why);
    index_detail_format(d, detail, sizeof(detail));
    json_decref(d);
    index_event_add(sc->idx, vg_now_us(), s->camera, "segment_corrupt", detail);
    index_audit a;
    index_audit_fill(&a, "daemon", "segment_corrupt", s->camera, s->start_us, s->end_us, detail);
    index_audit_add(sc->idx, &a);
}

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

static void check_one(storage_scrub *sc, const index_segment *s)
{
    char path[4096], why[256];
    if (storage_abspath(sc->st, s->pool, s->path, path, sizeof(path)) < 0) return; /* pool gone */
    int r = storage_verify_file(path, s, sc, why, sizeof(why));
    if (r == 0) {
        atomic_fetch_add(&sc->ok, 1);
        return;
    }
    if (r == -ECANCELED || r == -ENOMEM || r == -ENODATA) return;
    if (r == -ENOENT) {
        index_segment now;
        int moved = storage_segment_relocated(sc->r, s, &now);
        if (moved < 0) return; /* deleted by retention, or unknown yet */
        if (moved) {
            check_one(sc, &now);
            return;
        }
        /* A pool that does not answer (an archive's mount gone) has lost
         * nothing yet: the mover says so (pool_unreachable), and the segment
         * is checked on a later pass. */
        const char *root = storage_pool_path(sc->st, s->pool);
        if (!root || !storage_pool_identified(root, s->pool)) return;
    }
    report_bad(sc, s, why);
}

/* The pools' bytes, for the pass's rate. */
static int64_t pools_bytes(storage_scrub *sc)
{
    int64_t total = 0, b;
    for (size_t i = 0; i < sc->npools; i++)
        if (index_retention_pool_bytes(sc->q, sc->pools[i], &b) == 0) total += b;
    return total;
}

static void pass_begin(storage_scrub *sc, int64_t now, int64_t period, uint64_t max_rate)
{
    int64_t total = pools_bytes(sc);
    uint64_t want = (uint64_t)((double)total / ((double)period / 1e6 * 0.8));
    sc->rate = want < MIN_RATE ? MIN_RATE : want;
    if (sc->rate > max_rate) {
        sc->rate = max_rate;
        vg_log(LOG_WARNING, "scrub: %" PRId64 " bytes cannot be read once per %" PRId64
               " s at max_rate %" PRIu64 " B/s; a pass will take longer than the period",
               total, period / 1000000, max_rate);
    }
    if (sc->cursor == 0) sc->pass_start_us = now;
    sc->bucket = 0;
    sc->bucket_t = vg_mono_us();
    vg_log(LOG_INFO, "scrub: pass %s at segment id %" PRId64 ", %" PRId64 " bytes at %" PRIu64
           " B/s", sc->cursor ? "resumed" : "started", sc->cursor, total, sc->rate);
}

static void *scrub_main(void *arg)
{
    storage_scrub *sc = arg;
    int in_pass = 0;
    pthread_mutex_lock(&sc->mu);
    while (!sc->stop) {
        int64_t period = sc->period_us;
        uint64_t max_rate = sc->max_rate;
        pthread_mutex_unlock(&sc->mu);
        int64_t now = vg_now_us();
        int64_t sleep_us = 0;
        if (period <= 0) {
            sleep_us = 1000000; /* off; the config may turn it on */
        } else if (!in_pass) {
            int64_t next = sc->pass_start_us ? sc->pass_start_us + period : 0;
            if (sc->cursor > 0 || now >= next) {
                pass_begin(sc, now, period, max_rate);
                in_pass = 1;
            } else {
                sleep_us = next - now > 1000000 ? 1000000 : next - now;
            }
        } else {
            batch b = {.n = 0};
            int r = index_query_closed_after(sc->r, sc->cursor, NULL, INT64_MIN, INT64_MAX, BATCH,
                                             on_seg, &b);
            if (r < 0) {
                sleep_us = 5000000; /* the index is busy or damaged: try again later */
            } else if (b.n == 0) {
                int64_t took = vg_now_us() - sc->pass_start_us;
                atomic_fetch_add(&sc->passes, 1);
                atomic_store(&sc->last_pass_us, took);
                vg_log(LOG_NOTICE, "scrub: pass done in %" PRId64 " s: %" PRIu64 " segments "
                       "verified, %" PRIu64 " damaged so far", took / 1000000,
                       atomic_load(&sc->ok), atomic_load(&sc->bad));
                sc->cursor = 0;
                in_pass = 0;
                state_save(sc);
            } else {
                /* A pass covers what was recorded before it began; newer
                 * segments wait for the next one. Otherwise a walk slower than
                 * recording (small segments, a low rate) would never reach its
                 * end, and what it had passed would never be read again. */
                for (int i = 0; i < b.n && !sc->stop; i++) {
                    if (b.v[i].start_us < sc->pass_start_us) check_one(sc, &b.v[i]);
                    sc->cursor = b.v[i].id;
                }
                state_save(sc);
            }
        }
        pthread_mutex_lock(&sc->mu);
        if (sleep_us > 0) wait_stop(sc, sleep_us);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

int storage_scrub_start(storage *st, index_db *idx, const config *cfg, storage_scrub **out)
{
    int r = 0;
    pthread_condattr_t ca;
    storage_scrub *sc = calloc(1, sizeof(*sc));
    *out = NULL;
    if (!sc) return -ENOMEM;
    sc->st = st;
    sc->idx = idx;
    pthread_mutex_init(&sc->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cv, &ca);
    pthread_condattr_destroy(&ca);
    size_t plen = strlen(cfg->index_path) + 8;
    if (!(sc->index_path = strdup(cfg->index_path)) || !(sc->state_path = malloc(plen)) ||
        !(sc->buf = malloc(CHUNK)) || !(sc->pools = calloc(cfg->npools + 1, sizeof(char *)))) {
        r = -ENOMEM;
        goto out;
    }
    snprintf(sc->state_path, plen, "%s.scrub", cfg->index_path);
    for (size_t i = 0; i < cfg->npools; i++)
        if (!(sc->pools[sc->npools++] = strdup(cfg->pools[i].id))) {
            r = -ENOMEM;
            goto out;
        }
    storage_scrub_set_config(sc, cfg);
    if ((r = index_reader_open(cfg->index_path, &sc->r)) < 0) goto out;
    if ((r = index_retention_open(cfg->index_path, &sc->q)) < 0) goto out;
    state_load(sc);
    int e = pthread_create(&sc->thread, NULL, scrub_main, sc);
    if (e != 0) {
        r = -e;
        goto out;
    }
    sc->thread_started = 1;
    *out = sc;
    sc = NULL;
out:
    storage_scrub_stop(&sc);
    return r;
}

void storage_scrub_stop(storage_scrub **psc)
{
    storage_scrub *sc = psc ? *psc : NULL;
    if (!sc) return;
    if (sc->thread_started) {
        pthread_mutex_lock(&sc->mu);
        sc->stop = 1;
        pthread_cond_signal(&sc->cv);
        pthread_mutex_unlock(&sc->mu);
        pthread_join(sc->thread, NULL);
    }
    index_reader_close(&sc->r);
    index_retention_close(&sc->q);
    for (size_t i = 0; i < sc->npools; i++) free(sc->pools[i]);
    free(sc->pools);
    free(sc->buf);
    free(sc->state_path);
    free(sc->index_path);
    pthread_cond_destroy(&sc->cv);
    pthread_mutex_destroy(&sc->mu);
    free(sc);
    *psc = NULL;
}

void storage_scrub_set_config(storage_scrub *sc, const config *cfg)
{
    pthread_mutex_lock(&sc->mu);
    sc->period_us = cfg->scrub_period_us;
    sc->max_rate = cfg->scrub_max_rate;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

void storage_scrub_get_stats(storage_scrub *sc, storage_scrub_stats *out)
{
    out->segments_ok = atomic_load(&sc->ok);
    out->segments_bad = atomic_load(&sc->bad);
    out->bytes = atomic_load(&sc->bytes);
    out->passes = atomic_load(&sc->passes);
    out->last_pass_us = atomic_load(&sc->last_pass_us);
}
