/*
 * GET /api/cameras/{id}/live.mp4[?stream=main|sub]: an endless fragmented
 * MP4 per viewer, written from the camera's shared live chunks
 * (ingest/live.h).
 *
 * A viewer is a generator allocated in its request's memory pool: it lives
 * exactly as long as the request, and its dispose callback (the request is
 * over, however it ended) drops its chunk references, detaches from the feed,
 * counts its bytes and skips and writes the audit row (who, camera, stream,
 * from, to). The HTTP loop is woken by the ingest threads through one
 * uv_async (ingest_live_tick_end(): at most once per ingest tick and thread)
 * and then gives every viewer that is not in the middle of a write the
 * chunks it has not sent yet, as one h2o_send of up to LIVE_BATCH iovecs
 * pointing into the shared chunks (h2o writes them with writev; nothing is
 * copied per viewer). So a viewer's memory is its generator plus references
 * to at most LIVE_BATCH chunks (LIVE_BATCH_BYTES), whatever it does.
 *
 * A viewer more than LIVE_BACKLOG bytes behind the feed, or fallen out of the
 * ring, skips to the newest keyframe (counted in
 * vigil_live_frames_skipped_total); one that has skipped LIVE_MAX_SKIPS times
 * within LIVE_SKIP_WINDOW_US, or whose write has not completed for
 * LIVE_STALL_US (a client that opens and never reads: the kernel then holds
 * at most its LIVE_SNDBUF send buffer), is disconnected. The
 * response ends cleanly (final chunk) when the camera's run ends, and when
 * no run opens within LIVE_WAIT_US.
 */
#include "serve/live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/common.h"
#include "ingest/live.h"

#define LIVE_BATCH 64
#define LIVE_BATCH_BYTES (512u << 10)
#define LIVE_BACKLOG (3u << 20)
#define LIVE_MAX_SKIPS 3
#define LIVE_SKIP_WINDOW_US 30000000LL
#define LIVE_STALL_US 10000000LL
#define LIVE_WAIT_US 20000000LL
#define LIVE_SWEEP_MS 1000
#define LIVE_SNDBUF (256 << 10)

typedef struct viewer viewer;

struct serve__live {
    uv_loop_t *loop;
    ingest_live_hub *hub;
    index_db *idx;
    int (*req_fd)(void *opaque, h2o_req_t *req);
    void *fd_opaque;
    uv_async_t async;
    uv_timer_t sweep;
    int open_handles;
    bool stopping;
    viewer *viewers;
    size_t nviewers;
};

struct viewer {
    h2o_generator_t super;
    serve__live *L;
    h2o_req_t *req;
    ingest_live *feed;
    char who[64], camera[INDEX_ID_MAX], stream[8];
    uint32_t run;
    uint64_t pos;
    bool joined, need_key, in_write, finished, ending;
    ingest_live_chunk *inflight[LIVE_BATCH + 1];
    size_t ninflight;
    h2o_iovec_t iov[LIVE_BATCH + 1];
    int64_t from_us, opened_mono_us, write_since_us;
    uint64_t bytes, skipped, counted_skipped;
    int64_t skip_at[LIVE_MAX_SKIPS]; /* mono times of the last skips, ring */
    unsigned nskips;
    viewer *prev, *next;
};

static void release_inflight(viewer *v)
{
    for (size_t i = 0; i < v->ninflight; i++) ingest_live_chunk_unref(&v->inflight[i]);
    v->ninflight = 0;
}

static void finish(viewer *v, h2o_send_state_t st)
{
    if (v->finished || !v->req) return;
    v->finished = true;
    h2o_send(v->req, NULL, 0, st);
}

/* Records a skip; true when the viewer has skipped too often (stays behind). */
static bool note_skip(viewer *v)
{
    int64_t now = vg_mono_us();
    v->skip_at[v->nskips % LIVE_MAX_SKIPS] = now;
    v->nskips++;
    return v->nskips >= LIVE_MAX_SKIPS &&
           now - v->skip_at[v->nskips % LIVE_MAX_SKIPS] < LIVE_SKIP_WINDOW_US;
}

static void pump(viewer *v)
{
    if (v->in_write || v->finished || !v->req) return;
    serve__live *L = v->L;
    if (L->stopping || v->ending) {
        finish(v, H2O_SEND_STATE_FINAL);
        return;
    }
    size_t n = 0;
    if (!v->joined) {
        ingest_live_chunk *init = NULL;
        if (!ingest_live_join(v->feed, &v->run, &init, &v->pos)) {
            if (vg_mono_us() - v->opened_mono_us > LIVE_WAIT_US) finish(v, H2O_SEND_STATE_FINAL);
            return;
        }
        v->joined = true;
        v->need_key = true;
        v->inflight[n++] = init;
    }
    ingest_live_read_opts o = {.max_chunks = LIVE_BATCH, .max_bytes = LIVE_BATCH_BYTES,
                               .backlog = LIVE_BACKLOG};
    uint64_t before = v->skipped;
    bool was_waiting = v->need_key;
    int r = ingest_live_read(v->feed, v->run, &v->pos, &v->need_key, &o, v->inflight + n,
                             &v->skipped);
    v->ninflight = n + (r > 0 ? (size_t)r : 0);
    if (v->skipped > before) ingest_live_count(v->feed, 0, v->skipped - before, 0);
    if (v->skipped > before && !was_waiting && note_skip(v)) {
        vg_log_cam(LOG_NOTICE, v->camera, "live: viewer %s stays behind; disconnected", v->who);
        release_inflight(v);
        finish(v, H2O_SEND_STATE_ERROR);
        return;
    }
    if (r == INGEST_LIVE_END) {
        release_inflight(v);
        finish(v, H2O_SEND_STATE_FINAL); /* the run is over: the client reconnects */
        return;
    }
    n = v->ninflight;
    if (n == 0) return;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        v->iov[i] = h2o_iovec_init(v->inflight[i]->data, v->inflight[i]->len);
        bytes += v->inflight[i]->len;
    }
    v->bytes += bytes;
    ingest_live_count(v->feed, 0, 0, bytes);
    v->in_write = true;
    v->write_since_us = vg_mono_us();
    h2o_send(v->req, v->iov, n, H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    viewer *v = (viewer *)g;
    v->in_write = false;
    release_inflight(v);
    pump(v);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    viewer *v = (viewer *)g;
    v->in_write = false;
    v->finished = true; /* h2o is done with the request */
    release_inflight(v);
}

static void audit_session(viewer *v)
{
    serve__live *L = v->L;
    if (!L->idx) return;
    json_t *d = json_pack("{s:s,s:I,s:I}", "stream", v->stream, "bytes", (json_int_t)v->bytes,
                          "frames_skipped", (json_int_t)v->skipped);
    char *txt = d ? json_dumps(d, JSON_COMPACT) : NULL;
    index_audit a;
    index_audit_fill(&a, v->who, "live", v->camera, v->from_us, vg_now_us(), txt ? txt : "{}");
    index_audit_add(L->idx, &a);
    free(txt);
    json_decref(d);
}

/* Freed once stopped, its handles closed and its last viewer gone. */
static void maybe_free(serve__live *L)
{
    if (L->stopping && L->open_handles == 0 && L->nviewers == 0) free(L);
}

/* The request is over (however it ended): the viewer goes with it. */
static void on_dispose(void *p)
{
    viewer *v = p;
    serve__live *L = v->L;
    release_inflight(v);
    ingest_live_detach(v->feed);
    audit_session(v);
    if (v->prev)
        v->prev->next = v->next;
    else
        L->viewers = v->next;
    if (v->next) v->next->prev = v->prev;
    L->nviewers--;
    v->req = NULL;
    maybe_free(L);
}

static void on_async(uv_async_t *a)
{
    serve__live *L = a->data;
    viewer *next;
    for (viewer *v = L->viewers; v; v = next) {
        next = v->next; /* pump may end v's request (not free it: h2o disposes later) */
        pump(v);
    }
}

/* Once a second: stalled writers are cut off, waiting viewers time out. */
static void on_sweep(uv_timer_t *t)
{
    serve__live *L = t->data;
    int64_t now = vg_mono_us();
    for (viewer *v = L->viewers; v; v = v->next) {
        if (v->in_write && now - v->write_since_us > LIVE_STALL_US && v->req) {
            vg_log_cam(LOG_NOTICE, v->camera, "live: viewer %s has not read for %lld s; "
                       "disconnected", v->who, (long long)(LIVE_STALL_US / 1000000));
            v->write_since_us = now; /* once */
            /* h2o's write then fails and it closes the connection the normal way */
            int fd = L->req_fd ? L->req_fd(L->fd_opaque, v->req) : -1;
            if (fd >= 0) shutdown(fd, SHUT_RDWR);
        } else if (!v->joined) {
            pump(v);
        }
    }
}

static void wake(void *arg)
{
    uv_async_send(&((serve__live *)arg)->async);
}

int serve__live_new(uv_loop_t *loop, ingest_live_hub *hub, index_db *idx,
                    int (*req_fd)(void *opaque, h2o_req_t *req), void *opaque,
                    serve__live **out)
{
    int r;
    serve__live *L = calloc(1, sizeof(*L));
    *out = NULL;
    if (!L) return -ENOMEM;
    L->loop = loop;
    L->hub = hub;
    L->idx = idx;
    L->req_fd = req_fd;
    L->fd_opaque = opaque;
    if ((r = uv_async_init(loop, &L->async, on_async)) < 0) {
        free(L);
        return r;
    }
    L->async.data = L;
    uv_timer_init(loop, &L->sweep);
    L->sweep.data = L;
    uv_timer_start(&L->sweep, on_sweep, LIVE_SWEEP_MS, LIVE_SWEEP_MS);
    L->open_handles = 2;
    if (hub) ingest_live_hub_set_wake(hub, wake, L);
    *out = L;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    serve__live *L = h->data;
    L->open_handles--;
    maybe_free(L);
}

void serve__live_stop(serve__live **Lp)
{
    serve__live *L = Lp ? *Lp : NULL;
    if (!L) return;
    *Lp = NULL;
    L->stopping = true;
    if (L->hub) ingest_live_hub_set_wake(L->hub, NULL, NULL);
    viewer *next;
    for (viewer *v = L->viewers; v; v = next) {
        next = v->next;
        pump(v); /* ends the response now, or when its write completes */
    }
    /* Viewers still in a write end when it completes, or through serve's
     * kill timer; L lives until the last one is disposed. */
    for (viewer *v = L->viewers; v; v = v->next) v->ending = true;
    uv_close((uv_handle_t *)&L->async, on_closed);
    uv_close((uv_handle_t *)&L->sweep, on_closed);
}

size_t serve__live_viewers(const serve__live *L)
{
    return L ? L->nviewers : 0;
}

static void head_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)g;
    (void)req;
}

static void head_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)g;
    (void)req;
}

bool serve__live_handle(serve__live *L, h2o_req_t *req, const char *who, const char *camera,
                        const char *stream)
{
    ingest_live *feed = L && L->hub && !L->stopping ? ingest_live_feed(L->hub, camera, stream)
                                                    : NULL;
    if (!feed) {
        static const char msg[] = "{\"error\":\"live view is not available\"}";
        req->res.status = 503;
        req->res.reason = "Service Unavailable";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/json"));
        h2o_send_inline(req, msg, sizeof(msg) - 1);
        return false;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("video/mp4"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        static h2o_generator_t none = {head_proceed, head_stop};
        h2o_start_response(req, &none);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return false;
    }
    viewer *v = h2o_mem_alloc_shared(&req->pool, sizeof(*v), on_dispose);
    memset(v, 0, sizeof(*v));
    v->super.proceed = on_proceed;
    v->super.stop = on_stop;
    v->L = L;
    v->req = req;
    v->feed = feed;
    snprintf(v->who, sizeof(v->who), "%s", who);
    snprintf(v->camera, sizeof(v->camera), "%s", camera);
    snprintf(v->stream, sizeof(v->stream), "%s", stream);
    v->from_us = vg_now_us();
    v->opened_mono_us = vg_mono_us();
    v->next = L->viewers;
    if (v->next) v->next->prev = v;
    L->viewers = v;
    L->nviewers++;
    /* The kernel holds at most LIVE_SNDBUF (x2) for a viewer that does not
     * read, and such a viewer is noticed once it is full. */
    int fd = L->req_fd ? L->req_fd(L->fd_opaque, req) : -1;
    int sndbuf = LIVE_SNDBUF;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    ingest_live_attach(feed);
    ingest_live_count(feed, 1, 0, 0);
    h2o_start_response(req, &v->super);
    pump(v);
    return true;
}

/* ---- /metrics ---- */

typedef struct mtext {
    char *buf;
    size_t len, cap;
    int section;
    int err;
} mtext;

static void mt_add(mtext *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mt_add(mtext *m, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(m->buf ? m->buf + m->len : NULL, m->buf ? m->cap - m->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            m->err = -EINVAL;
            return;
        }
        if (m->buf && m->len + (size_t)k < m->cap) {
            m->len += (size_t)k;
            return;
        }
        size_t nc = m->cap ? m->cap * 2 : 4096;
        while (nc < m->len + (size_t)k + 1) nc *= 2;
        char *nb = realloc(m->buf, nc);
        if (!nb) {
            m->err = -ENOMEM;
            return;
        }
        m->buf = nb;
        m->cap = nc;
    }
}

/* Label values: backslash, quote and newline escaped (Prometheus text). */
static void mt_label(mtext *m, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') mt_add(m, "\\%c", *s);
        else if (*s == '\n') mt_add(m, "\\n");
        else mt_add(m, "%c", *s);
    }
}

static void metric_line(const ingest_live_stats *st, void *arg)
{
    mtext *m = arg;
    static const char *names[] = {"vigil_live_viewers", "vigil_live_sessions_total",
                                  "vigil_live_frames_skipped_total", "vigil_live_bytes_sent_total"};
    uint64_t vals[] = {st->viewers, st->sessions, st->frames_skipped, st->bytes_sent};
    mt_add(m, "%s{camera=\"", names[m->section]);
    mt_label(m, st->camera);
    mt_add(m, "\",stream=\"");
    mt_label(m, st->stream);
    mt_add(m, "\"} %" PRIu64 "\n", vals[m->section]);
}

int serve__live_metrics(const serve__live *L, char **out, size_t *len)
{
    static const char *help[] = {
        "# HELP vigil_live_viewers Live viewers connected.\n# TYPE vigil_live_viewers gauge\n",
        "# HELP vigil_live_sessions_total Live sessions opened.\n"
        "# TYPE vigil_live_sessions_total counter\n",
        "# HELP vigil_live_frames_skipped_total Frames live viewers skipped (fell behind).\n"
        "# TYPE vigil_live_frames_skipped_total counter\n",
        "# HELP vigil_live_bytes_sent_total Bytes written to live viewers.\n"
        "# TYPE vigil_live_bytes_sent_total counter\n",
    };
    mtext m = {0};
    *out = NULL;
    *len = 0;
    for (m.section = 0; m.section < 4; m.section++) {
        mt_add(&m, "%s", help[m.section]);
        if (L && L->hub) ingest_live_hub_foreach(L->hub, metric_line, &m);
    }
    if (m.err) {
        free(m.buf);
        return m.err;
    }
    *out = m.buf;
    *len = m.len;
    return 0;
}
