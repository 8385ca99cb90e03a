/*
 * The Prometheus exposition of vigil's state (see metrics.h for the series).
 *
 * The text is built in one growing buffer per scrape: 800 cameras x ~14
 * series is ~1 MB, rendered in a few milliseconds on the loop, which is what
 * a scrape every 15 s can afford. Each family gets its # HELP and # TYPE line
 * once, followed by all its samples, as the format requires. Label values are
 * escaped (\\, \", \n) even though ids are [a-z0-9_-], so a future relaxed id
 * cannot break the exposition.
 */
#include "serve/metrics.h"

#include "common/common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_STATUS 100
#define MAX_STATUS 599

struct serve_metrics {
    _Atomic uint64_t requests[MAX_STATUS - MIN_STATUS + 2]; /* last: out of range */
    _Atomic uint64_t reloads_ok, reloads_failed;
    _Atomic uint64_t events_stored, events_duplicate, events_refused;
};

int serve_metrics_new(serve_metrics **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void serve_metrics_free(serve_metrics **m)
{
    if (!m || !*m) return;
    free(*m);
    *m = NULL;
}

void serve_metrics_count_request(serve_metrics *m, int status)
{
    if (!m) return;
    size_t i = status >= MIN_STATUS && status <= MAX_STATUS ? (size_t)(status - MIN_STATUS)
                                                            : VG_ARRAY_SIZE(m->requests) - 1;
    atomic_fetch_add_explicit(&m->requests[i], 1, memory_order_relaxed);
}

void serve_metrics_count_reload(serve_metrics *m, int ok)
{
    if (!m) return;
    atomic_fetch_add_explicit(ok ? &m->reloads_ok : &m->reloads_failed, 1, memory_order_relaxed);
}

void serve_metrics_count_events(serve_metrics *m, uint64_t stored, uint64_t duplicates,
                                uint64_t refused)
{
    if (!m) return;
    atomic_fetch_add_explicit(&m->events_stored, stored, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->events_duplicate, duplicates, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->events_refused, refused, memory_order_relaxed);
}

/* ---- the text buffer ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int err;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    if (b->err) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = -EINVAL;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = -ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Appends v escaped as a label value. */
static void put_label(buf *b, const char *v)
{
    char tmp[3 * INDEX_ID_MAX];
    size_t j = 0;
    for (const char *s = v ? v : ""; *s && j + 3 < sizeof(tmp); s++) {
        if (*s == '\\' || *s == '"') {
            tmp[j++] = '\\';
            tmp[j++] = *s;
        } else if (*s == '\n') {
            tmp[j++] = '\\';
            tmp[j++] = 'n';
        } else {
            tmp[j++] = *s;
        }
    }
    tmp[j] = 0;
    put(b, "%s", tmp);
}

static void family(buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sample with one label: name{key="val"} value */
static void sample1(buf *b, const char *name, const char *key, const char *val, double v)
{
    put(b, "%s{%s=\"", name, key);
    put_label(b, val);
    if (isnan(v))
        put(b, "\"} NaN\n");
    else
        put(b, "\"} %.17g\n", v);
}

static const char *state_name(ingest_state s)
{
    switch (s) {
    case INGEST_CONNECTING:
        return "connecting";
    case INGEST_RECORDING:
        return "recording";
    case INGEST_OFFLINE:
        return "offline";
    case INGEST_DISABLED:
        return "disabled";
    }
    return "unknown";
}

typedef double (*cam_value_fn)(const serve_metrics_input *in, const serve_metrics_camera *c);

static double cam_recording(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return c->running && c->st.state == INGEST_RECORDING;
}
static double cam_bitrate(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return c->running ? (double)c->st.bitrate_bps : 0;
}
static double cam_fps(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return c->running ? c->st.fps : 0;
}
static double cam_rx(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return (double)c->st.frames_received;
}
static double cam_wr(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return (double)c->st.frames_written;
}
static double cam_drop(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return (double)c->st.frames_dropped;
}
static double cam_overflow(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return (double)c->st.queue_overflows;
}
static double cam_queued(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return (double)c->st.queued_bytes;
}
static double cam_reconn(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    (void)in;
    return (double)c->st.reconnects;
}
static double cam_since(const serve_metrics_input *in, const serve_metrics_camera *c)
{
    if (!c->running || c->st.last_frame_us <= 0) return NAN;
    double d = (double)(in->now_us - c->st.last_frame_us) / 1e6;
    return d < 0 ? 0 : d;
}

static const struct {
    const char *name, *type, *help;
    cam_value_fn fn;
} cam_series[] = {
    {"vigil_camera_recording", "gauge", "1 while the camera is recording", cam_recording},
    {"vigil_camera_bitrate_bps", "gauge", "Received bitrate over the last seconds", cam_bitrate},
    {"vigil_camera_fps", "gauge", "Received video frames per second", cam_fps},
    {"vigil_camera_frames_received_total", "counter", "Frames received", cam_rx},
    {"vigil_camera_frames_written_total", "counter", "Frames written to segments", cam_wr},
    {"vigil_camera_frames_dropped_total", "counter", "Frames dropped", cam_drop},
    {"vigil_camera_reconnects_total", "counter", "Reconnections to the camera", cam_reconn},
    {"vigil_camera_queued_bytes", "gauge",
     "Bytes of the camera's frames held until their fragment is written", cam_queued},
    {"vigil_camera_queue_overflows_total", "counter",
     "Times the frames held for the camera reached their cap (a fragment cut early or a new run)",
     cam_overflow},
    {"vigil_camera_seconds_since_last_frame", "gauge",
     "Seconds since the last frame (NaN: none yet)", cam_since},
};

typedef double (*pool_value_fn)(const serve_metrics_pool *p);
static double pool_usable(const serve_metrics_pool *p)
{
    return p->u.usable;
}
static double pool_used(const serve_metrics_pool *p)
{
    return (double)p->u.used_bytes;
}
static double pool_free(const serve_metrics_pool *p)
{
    return (double)p->u.free_bytes;
}
static double pool_max(const serve_metrics_pool *p)
{
    return (double)p->u.max_bytes;
}
static double pool_del(const serve_metrics_pool *p)
{
    return (double)p->u.deleted_segments;
}
static double pool_delb(const serve_metrics_pool *p)
{
    return (double)p->u.deleted_bytes;
}

static const struct {
    const char *name, *type, *help;
    pool_value_fn fn;
} pool_series[] = {
    {"vigil_pool_usable", "gauge", "1 when the pool's identity is right and it is written to",
     pool_usable},
    {"vigil_pool_used_bytes", "gauge", "Bytes of the pool's segments", pool_used},
    {"vigil_pool_free_bytes", "gauge", "Free bytes of the pool's file system", pool_free},
    {"vigil_pool_max_bytes", "gauge", "Quota of the pool (0: none)", pool_max},
    {"vigil_pool_segments_deleted_total", "counter", "Segments deleted by retention", pool_del},
    {"vigil_pool_bytes_deleted_total", "counter", "Bytes deleted by retention", pool_delb},
};

int serve_metrics_render(const serve_metrics *m, const serve_metrics_input *in, char **out,
                         size_t *len)
{
    buf b = {.cap = 4096 + in->ncameras * 1200 + in->npools * 600};
    *out = NULL;
    *len = 0;
    if (!(b.p = malloc(b.cap))) return -ENOMEM;
    b.p[0] = 0;

    for (size_t k = 0; k < VG_ARRAY_SIZE(cam_series); k++) {
        family(&b, cam_series[k].name, cam_series[k].type, cam_series[k].help);
        for (size_t i = 0; i < in->ncameras; i++)
            sample1(&b, cam_series[k].name, "camera", in->cameras[i].id,
                    cam_series[k].fn(in, &in->cameras[i]));
    }
    family(&b, "vigil_camera_state", "gauge", "1 for the camera's current state");
    static const ingest_state states[] = {INGEST_CONNECTING, INGEST_RECORDING, INGEST_OFFLINE,
                                          INGEST_DISABLED};
    for (size_t i = 0; i < in->ncameras; i++) {
        const serve_metrics_camera *c = &in->cameras[i];
        ingest_state cur = c->running ? c->st.state : INGEST_DISABLED;
        for (size_t s = 0; s < VG_ARRAY_SIZE(states); s++) {
            put(&b, "vigil_camera_state{camera=\"");
            put_label(&b, c->id);
            put(&b, "\",state=\"%s\"} %d\n", state_name(states[s]), cur == states[s]);
        }
    }

    for (size_t k = 0; k < VG_ARRAY_SIZE(pool_series); k++) {
        family(&b, pool_series[k].name, pool_series[k].type, pool_series[k].help);
        for (size_t i = 0; i < in->npools; i++) {
            if (!in->pools[i].have_usage) continue;
            sample1(&b, pool_series[k].name, "pool", in->pools[i].id,
                    pool_series[k].fn(&in->pools[i]));
        }
    }

    /* the syncer: fdatasyncs of open segments (storage.c "Durability") */
    static const struct {
        const char *name, *type, *help;
    } sync_series[] = {
        {"vigil_pool_sync_interval_seconds", "gauge",
         "How often open segments are fdatasync'ed (0: only at close)"},
        {"vigil_pool_syncs_total", "counter", "fdatasyncs of open segments"},
        {"vigil_pool_sync_errors_total", "counter", "fdatasyncs of open segments that failed"},
        {"vigil_pool_sync_seconds_total", "counter", "Time spent in those fdatasyncs"},
    };
    for (size_t k = 0; k < VG_ARRAY_SIZE(sync_series); k++) {
        family(&b, sync_series[k].name, sync_series[k].type, sync_series[k].help);
        for (size_t i = 0; i < in->npools; i++) {
            const storage_sync_stats *y = &in->pools[i].sync;
            if (!in->pools[i].have_sync) continue;
            double v = k == 0 ? y->sync_ms / 1000.0 : k == 1 ? (double)y->syncs
                       : k == 2 ? (double)y->errors : y->seconds;
            sample1(&b, sync_series[k].name, "pool", in->pools[i].id, v);
        }
    }

    if (in->have_index) {
        family(&b, "vigil_index_write_queue_depth", "gauge",
               "Operations queued for the index writer");
        put(&b, "vigil_index_write_queue_depth %zu\n", in->index_queue_depth);
        family(&b, "vigil_index_commit_latency_seconds", "gauge",
               "Duration of the index writer's last commit");
        put(&b, "vigil_index_commit_latency_seconds %.6f\n",
            (double)in->index_last_commit_us / 1e6);
        family(&b, "vigil_index_commit_latency_max_seconds", "gauge",
               "Longest commit of the index writer since start (WAL checkpoints included)");
        put(&b, "vigil_index_commit_latency_max_seconds %.6f\n",
            (double)in->index_max_commit_us / 1e6);
        family(&b, "vigil_audit_rows_dropped_total", "counter",
               "Audit rows the index writer could not store");
        put(&b, "vigil_audit_rows_dropped_total %llu\n", (unsigned long long)in->audit_dropped);
    }

    if (in->have_loop) {
        family(&b, "vigil_loop_stall_max_seconds", "gauge",
               "Longest the daemon's event loop (HTTP, timers, camera supervision) ran late "
               "since start");
        put(&b, "vigil_loop_stall_max_seconds %.6f\n", (double)in->loop_stall_max_us / 1e6);
    }

    family(&b, "vigil_http_requests_total", "counter", "HTTP responses by status code");
    if (m) {
        for (size_t i = 0; i + 1 < VG_ARRAY_SIZE(m->requests); i++) {
            uint64_t n = atomic_load_explicit(&m->requests[i], memory_order_relaxed);
            if (n)
                put(&b, "vigil_http_requests_total{code=\"%zu\"} %llu\n", i + MIN_STATUS,
                    (unsigned long long)n);
        }
        uint64_t other = atomic_load_explicit(&m->requests[VG_ARRAY_SIZE(m->requests) - 1],
                                              memory_order_relaxed);
        if (other)
            put(&b, "vigil_http_requests_total{code=\"other\"} %llu\n", (unsigned long long)other);
        family(&b, "vigil_config_reloads_total", "counter", "Configuration reloads by result");
        put(&b, "vigil_config_reloads_total{result=\"ok\"} %llu\n",
            (unsigned long long)atomic_load(&m->reloads_ok));
        put(&b, "vigil_config_reloads_total{result=\"failed\"} %llu\n",
            (unsigned long long)atomic_load(&m->reloads_failed));
        family(&b, "vigil_events_posted_total", "counter",
               "Events posted by other systems, by what became of them");
        put(&b, "vigil_events_posted_total{result=\"stored\"} %llu\n",
            (unsigned long long)atomic_load(&m->events_stored));
        put(&b, "vigil_events_posted_total{result=\"duplicate\"} %llu\n",
            (unsigned long long)atomic_load(&m->events_duplicate));
        put(&b, "vigil_events_posted_total{result=\"refused\"} %llu\n",
            (unsigned long long)atomic_load(&m->events_refused));
    }
    if (in->have_retention) {
        family(&b, "vigil_events_expired_total", "counter",
               "Events deleted by retention for being older than events.retention_days");
        put(&b, "vigil_events_expired_total %llu\n", (unsigned long long)in->events_expired);
    }
    if (in->have_mover) {
        family(&b, "vigil_tier_moved_segments_total", "counter",
               "Segments moved from a fast pool to its archive");
        put(&b, "vigil_tier_moved_segments_total %llu\n",
            (unsigned long long)in->mover.moved_segments);
        family(&b, "vigil_tier_moved_bytes_total", "counter", "Bytes moved to archive pools");
        put(&b, "vigil_tier_moved_bytes_total %llu\n", (unsigned long long)in->mover.moved_bytes);
        family(&b, "vigil_tier_move_failures_total", "counter", "Moves that failed (retried)");
        put(&b, "vigil_tier_move_failures_total %llu\n", (unsigned long long)in->mover.failures);
        family(&b, "vigil_tier_archives_unreachable", "gauge",
               "Archive pools that do not answer (moving to them is paused)");
        put(&b, "vigil_tier_archives_unreachable %d\n", in->mover.unreachable);
    }
    if (in->have_scrub) {
        family(&b, "vigil_scrub_segments_total", "counter",
               "Segments re-read by the verifier, by result");
        put(&b, "vigil_scrub_segments_total{result=\"ok\"} %llu\n",
            (unsigned long long)in->scrub.segments_ok);
        put(&b, "vigil_scrub_segments_total{result=\"damaged\"} %llu\n",
            (unsigned long long)in->scrub.segments_bad);
        family(&b, "vigil_scrub_bytes_total", "counter", "Bytes re-read by the verifier");
        put(&b, "vigil_scrub_bytes_total %llu\n", (unsigned long long)in->scrub.bytes);
        family(&b, "vigil_scrub_passes_total", "counter", "Completed verification passes");
        put(&b, "vigil_scrub_passes_total %llu\n", (unsigned long long)in->scrub.passes);
        family(&b, "vigil_scrub_last_pass_seconds", "gauge", "Duration of the last pass");
        put(&b, "vigil_scrub_last_pass_seconds %.3f\n", (double)in->scrub.last_pass_us / 1e6);
    }
    family(&b, "vigil_downloads_in_progress", "gauge", "Clip downloads in progress");
    put(&b, "vigil_downloads_in_progress %llu\n", (unsigned long long)in->downloads);
    family(&b, "vigil_pinned_segments", "gauge", "Segments pinned by downloads");
    put(&b, "vigil_pinned_segments %llu\n", (unsigned long long)in->pinned_segments);
    family(&b, "vigil_uptime_seconds", "gauge", "Seconds since vigild started");
    put(&b, "vigil_uptime_seconds %.3f\n", (double)in->uptime_us / 1e6);

    if (b.err) {
        free(b.p);
        return b.err;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}
