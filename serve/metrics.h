/*
 * serve/metrics: GET /metrics in the Prometheus text format (0.0.4).
 * Prefix: serve_metrics_.
 *
 * Series (camera="ID", pool="ID", code="NNN" labels):
 *   vigil_camera_recording, vigil_camera_state{state=...} (one-hot),
 *   vigil_camera_bitrate_bps, vigil_camera_fps,
 *   vigil_camera_frames_{received,written,dropped}_total, vigil_camera_reconnects_total,
 *   vigil_camera_seconds_since_last_frame (NaN: never),
 *   vigil_pool_usable, vigil_pool_{used,free,max}_bytes,
 *   vigil_pool_segments_deleted_total, vigil_pool_bytes_deleted_total,
 *   vigil_index_write_queue_depth, vigil_index_commit_latency_seconds,
 *   vigil_audit_rows_dropped_total (audit rows the index writer could not store),
 *   vigil_http_requests_total{code}, vigil_downloads_in_progress, vigil_pinned_segments,
 *   vigil_config_reloads_total{result="ok"|"failed"}, vigil_uptime_seconds,
 *   vigil_events_posted_total{result="stored"|"duplicate"|"refused"} (POST /api/events).
 *
 * serve_metrics keeps the counters the HTTP layer owns (requests by status,
 * reloads); everything else is read when /metrics is asked for and handed to
 * serve_metrics_render() in a serve_metrics_input, so rendering is pure and
 * unit-tested. Counters are atomics: safe from any thread.
 */
#ifndef VIGIL_SERVE_METRICS_H
#define VIGIL_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"
#include "storage/storage.h"

typedef struct serve_metrics serve_metrics;

int serve_metrics_new(serve_metrics **out);
void serve_metrics_free(serve_metrics **m); /* accepts NULL */
/* Counts one HTTP response with this status (100..599; others count as 0). */
void serve_metrics_count_request(serve_metrics *m, int status);
void serve_metrics_count_reload(serve_metrics *m, int ok);
/* Counts posted events: stored, duplicates (source_id already stored) and
 * refused (in a request answered 400 or 503). */
void serve_metrics_count_events(serve_metrics *m, uint64_t stored, uint64_t duplicates,
                                uint64_t refused);

typedef struct serve_metrics_camera {
    const char *id; /* borrowed */
    int running;    /* 0: stats not available (disabled, not started) */
    ingest_stats st;
} serve_metrics_camera;

typedef struct serve_metrics_pool {
    const char *id; /* borrowed */
    int have_usage; /* 0: retention not running, usage unknown */
    storage_pool_usage u;
    int have_sync;  /* 0: storage not known here */
    storage_sync_stats sync;
} serve_metrics_pool;

typedef struct serve_metrics_input {
    int64_t now_us; /* wall clock, for seconds since last frame */
    int64_t uptime_us;
    const serve_metrics_camera *cameras;
    size_t ncameras;
    const serve_metrics_pool *pools;
    size_t npools;
    int have_index;
    size_t index_queue_depth;
    int64_t index_last_commit_us;
    int64_t index_max_commit_us; /* index_writer_max_commit_us() */
    int have_loop;
    int64_t loop_stall_max_us; /* the loop's longest lateness since start */
    uint64_t audit_dropped; /* index_audit_dropped() */
    uint64_t downloads, pinned_segments;
    int have_scrub;
    storage_scrub_stats scrub;
    int have_mover;
    storage_mover_stats mover;
    int have_retention;
    uint64_t events_expired; /* storage_retention_events_expired() */
} serve_metrics_input;

/* Renders the exposition text; *out malloc'd (caller frees), *len its length.
 * m may be NULL (no HTTP counters). 0 or -ENOMEM. */
int serve_metrics_render(const serve_metrics *m, const serve_metrics_input *in, char **out,
                         size_t *len);

#define SERVE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
