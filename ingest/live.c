/*
 * Live fan-out (see live.h): one ring of refcounted chunks per feed, written
 * by the camera's ingest thread and read by the HTTP loop.
 *
 * The ring is an array of INGEST_LIVE_RING chunk pointers indexed by a
 * sequence number (seq % INGEST_LIVE_RING); [tail, head) is what it holds.
 * The producer publishes under the feed's mutex and drops the oldest chunks
 * when the ring is full or over INGEST_LIVE_RING_BYTES; a chunk a viewer is
 * still writing lives on through the viewer's reference. Consumers hold the
 * mutex only to copy pointers and take references, so the producer's
 * critical section never waits for socket I/O. The HTTP loop is woken once
 * per ingest tick per thread: ingest_live_publish() marks the thread, and
 * the thread's tick end (ingest_live_tick_end()) makes the single call.
 *
 * Chunks (ingest_live_chunk_build()) are a prft box (version 1: NTP wall
 * clock and 64-bit media time), then a single-sample fragment, both written
 * by media/ (the same fragment writer as the segment files), built into the
 * chunk's own allocation with the sample bytes.
 */
#include "ingest/live.h"

#include "media/media.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>


struct ingest_live {
    ingest_live_hub *hub;
    ingest_live *next; /* in the hub's list */
    char *camera, *stream;
    pthread_mutex_t mu;
    ingest_live_chunk *ring[INGEST_LIVE_RING];
    uint64_t head, tail;   /* seq of the next chunk / of the oldest held */
    uint64_t last_key;     /* seq of the newest keyframe chunk, UINT64_MAX none */
    size_t bytes;          /* in the ring */
    uint64_t cum;          /* bytes published in the run */
    uint32_t run;          /* current run number (0: none yet) */
    bool run_open;
    ingest_live_chunk *init;
    atomic_uint viewers;
    atomic_uint_fast64_t sessions, skipped, sent, published;
};

struct ingest_live_hub {
    pthread_mutex_t mu; /* the feed list */
    ingest_live *feeds;
    pthread_mutex_t wake_mu;
    void (*wake)(void *);
    void *wake_arg;
};

/* The hub this thread published to since its last tick end. */
static _Thread_local ingest_live_hub *tl_pending;

/* ---- chunks ---- */

ingest_live_chunk *ingest_live_chunk_new(size_t len)
{
    ingest_live_chunk *c = malloc(sizeof(*c) + len);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    c->key = c->video = false;
    c->run = 0;
    c->cum = 0;
    c->wall_us = 0;
    c->len = len;
    return c;
}

void ingest_live_chunk_unref(ingest_live_chunk **cp)
{
    ingest_live_chunk *c = cp ? *cp : NULL;
    if (!c) return;
    *cp = NULL;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) free(c);
}

static ingest_live_chunk *chunk_ref(ingest_live_chunk *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

ingest_live_chunk *ingest_live_chunk_build(const ingest_live_sample *s)
{
    bool video = s->track == 1;
    size_t hdr = MEDIA_PRFT_SIZE + media_frag_max_size(1, 1);
    ingest_live_chunk *c = ingest_live_chunk_new(hdr + s->size);
    if (!c) return NULL;
    uint8_t *p = c->data;
    p += media_prft_write(p, s->track, 0, media_ntp_from_us(s->wall_us > 0 ? s->wall_us : 0),
                          s->dts);
    media_frag_writer w;
    media_frag_begin(&w, p, s->seq);
    media_frag_traf(&w, s->track, s->dts, video, 0);
    media_frag_sample(&w, s->duration, (uint32_t)s->size,
                      s->key ? MEDIA_SAMPLE_SYNC : MEDIA_SAMPLE_NON_SYNC,
                      (uint32_t)(s->cto > 0 ? s->cto : 0));
    p += media_frag_end(&w, s->size);
    if (s->size) memcpy(p, s->data, s->size);
    c->len = (size_t)(p - c->data) + s->size; /* max_size is an upper bound */
    c->video = video;
    c->key = s->key && video; /* where a viewer may start: audio frames are all "sync" */
    c->wall_us = s->wall_us;
    return c;
}

/* ---- hub ---- */

int ingest_live_hub_new(ingest_live_hub **out)
{
    ingest_live_hub *h = calloc(1, sizeof(*h));
    *out = NULL;
    if (!h) return -ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->wake_mu, NULL);
    *out = h;
    return 0;
}

static void ring_drop_all(ingest_live *l)
{
    for (uint64_t s = l->tail; s < l->head; s++)
        ingest_live_chunk_unref(&l->ring[s % INGEST_LIVE_RING]);
    l->tail = l->head;
    l->bytes = 0;
    l->last_key = UINT64_MAX;
}

void ingest_live_hub_free(ingest_live_hub **hp)
{
    ingest_live_hub *h = hp ? *hp : NULL;
    if (!h) return;
    while (h->feeds) {
        ingest_live *l = h->feeds;
        h->feeds = l->next;
        ring_drop_all(l);
        ingest_live_chunk_unref(&l->init);
        pthread_mutex_destroy(&l->mu);
        free(l->camera);
        free(l->stream);
        free(l);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->wake_mu);
    free(h);
    *hp = NULL;
}

void ingest_live_hub_set_wake(ingest_live_hub *h, void (*wake)(void *), void *arg)
{
    pthread_mutex_lock(&h->wake_mu);
    h->wake = wake;
    h->wake_arg = arg;
    pthread_mutex_unlock(&h->wake_mu);
}

ingest_live *ingest_live_feed(ingest_live_hub *h, const char *camera, const char *stream)
{
    ingest_live *l;
    if (!h) return NULL;
    pthread_mutex_lock(&h->mu);
    for (l = h->feeds; l; l = l->next)
        if (strcmp(l->camera, camera) == 0 && strcmp(l->stream, stream) == 0) goto out;
    if (!(l = calloc(1, sizeof(*l)))) goto out;
    if (!(l->camera = strdup(camera)) || !(l->stream = strdup(stream))) {
        free(l->camera);
        free(l);
        l = NULL;
        goto out;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->hub = h;
    l->last_key = UINT64_MAX;
    l->next = h->feeds;
    h->feeds = l;
out:
    pthread_mutex_unlock(&h->mu);
    return l;
}

void ingest_live_hub_foreach(ingest_live_hub *h, void (*fn)(const ingest_live_stats *, void *),
                             void *arg)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    for (ingest_live *l = h->feeds; l; l = l->next) {
        ingest_live_stats st = {
            .camera = l->camera,
            .stream = l->stream,
            .viewers = atomic_load(&l->viewers),
            .sessions = atomic_load(&l->sessions),
            .frames_skipped = atomic_load(&l->skipped),
            .bytes_sent = atomic_load(&l->sent),
            .chunks_published = atomic_load(&l->published),
        };
        fn(&st, arg);
    }
    pthread_mutex_unlock(&h->mu);
}

/* ---- producer ---- */

bool ingest_live_wanted(const ingest_live *l)
{
    return l && atomic_load_explicit(&l->viewers, memory_order_relaxed) > 0;
}

static void mark_pending(ingest_live *l)
{
    tl_pending = l->hub;
}

int ingest_live_run_begin(ingest_live *l, const uint8_t *init, size_t len)
{
    ingest_live_chunk *c = ingest_live_chunk_new(len), *old = NULL;
    if (!c) return -ENOMEM;
    memcpy(c->data, init, len);
    pthread_mutex_lock(&l->mu);
    ring_drop_all(l);
    old = l->init;
    l->init = c;
    c->run = ++l->run;
    l->run_open = true;
    l->cum = 0;
    pthread_mutex_unlock(&l->mu);
    ingest_live_chunk_unref(&old);
    mark_pending(l);
    return 0;
}

void ingest_live_run_end(ingest_live *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    bool was = l->run_open;
    l->run_open = false;
    pthread_mutex_unlock(&l->mu);
    if (was) mark_pending(l);
}

void ingest_live_clear(ingest_live *l)
{
    pthread_mutex_lock(&l->mu);
    ring_drop_all(l);
    l->run_open = false;
    pthread_mutex_unlock(&l->mu);
}

void ingest_live_publish(ingest_live *l, ingest_live_chunk *c)
{
    ingest_live_chunk *drop[8];
    size_t nd = 0;
    pthread_mutex_lock(&l->mu);
    if (!l->run_open) {
        pthread_mutex_unlock(&l->mu);
        ingest_live_chunk_unref(&c);
        return;
    }
    c->run = l->run;
    c->cum = l->cum;
    l->cum += c->len;
    /* Make room: a free slot, and the bytes under the cap (the new chunk stays). */
    while (l->tail < l->head &&
           (l->head - l->tail >= INGEST_LIVE_RING || l->bytes + c->len > INGEST_LIVE_RING_BYTES)) {
        ingest_live_chunk **slot = &l->ring[l->tail % INGEST_LIVE_RING];
        l->bytes -= (*slot)->len;
        if (nd < sizeof(drop) / sizeof(drop[0]))
            drop[nd++] = *slot, *slot = NULL;
        else
            ingest_live_chunk_unref(slot); /* rare: a huge frame pushed many out */
        if (l->last_key == l->tail) l->last_key = UINT64_MAX;
        l->tail++;
    }
    if (c->key) l->last_key = l->head;
    l->ring[l->head % INGEST_LIVE_RING] = c;
    l->head++;
    l->bytes += c->len;
    pthread_mutex_unlock(&l->mu);
    atomic_fetch_add_explicit(&l->published, 1, memory_order_relaxed);
    /* freed outside the lock: a viewer may still hold them */
    for (size_t i = 0; i < nd; i++) ingest_live_chunk_unref(&drop[i]);
    mark_pending(l);
}

void ingest_live_tick_end(void)
{
    ingest_live_hub *h = tl_pending;
    if (!h) return;
    tl_pending = NULL;
    pthread_mutex_lock(&h->wake_mu);
    if (h->wake) h->wake(h->wake_arg);
    pthread_mutex_unlock(&h->wake_mu);
}

/* ---- consumer ---- */

void ingest_live_attach(ingest_live *l)
{
    atomic_fetch_add(&l->viewers, 1);
}

void ingest_live_detach(ingest_live *l)
{
    atomic_fetch_sub(&l->viewers, 1);
}

int ingest_live_join(ingest_live *l, uint32_t *run, ingest_live_chunk **init, uint64_t *pos)
{
    int r = 0;
    pthread_mutex_lock(&l->mu);
    if (l->run_open && l->init) {
        *run = l->run;
        *init = chunk_ref(l->init);
        *pos = l->last_key != UINT64_MAX ? l->last_key : l->head;
        r = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return r;
}

int ingest_live_read(ingest_live *l, uint32_t run, uint64_t *pos, bool *need_key,
                     const ingest_live_read_opts *o, ingest_live_chunk **out, uint64_t *skipped)
{
    int n = 0;
    size_t bytes = 0;
    pthread_mutex_lock(&l->mu);
    if (run != l->run) {
        n = INGEST_LIVE_END; /* a newer run began: this one is over */
        goto out;
    }
    uint64_t p = *pos;
    if (p > l->head) p = l->head;
    bool behind = p < l->tail;
    if (!behind && p < l->head) {
        const ingest_live_chunk *c = l->ring[p % INGEST_LIVE_RING];
        behind = l->cum - c->cum > o->backlog;
    }
    if (behind) {
        /* Skip to the newest keyframe (or wait for the next one). */
        uint64_t to = l->last_key != UINT64_MAX && l->last_key > p ? l->last_key : l->head;
        if (to < p) to = p;
        *skipped += to - p;
        *need_key = to == l->head;
        p = to;
    }
    while (p < l->head && (size_t)n < o->max_chunks) {
        ingest_live_chunk *c = l->ring[p % INGEST_LIVE_RING];
        if (*need_key) {
            if (!c->key) {
                p++;
                (*skipped)++;
                continue;
            }
            *need_key = false;
        }
        if (n > 0 && bytes + c->len > o->max_bytes) break;
        out[n++] = chunk_ref(c);
        bytes += c->len;
        p++;
    }
    *pos = p;
    if (n == 0 && !l->run_open && p >= l->head) n = INGEST_LIVE_END;
out:
    pthread_mutex_unlock(&l->mu);
    return n;
}

void ingest_live_count(ingest_live *l, uint64_t sessions, uint64_t skipped, uint64_t bytes)
{
    atomic_fetch_add_explicit(&l->sessions, sessions, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->skipped, skipped, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->sent, bytes, memory_order_relaxed);
}
