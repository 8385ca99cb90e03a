/*
 * serve: the HTTP API on the daemon's libuv loop (libh2o), clip assembly and
 * snapshots. Prefix: serve_.
 *
 * Endpoints (times in queries: RFC 3339 with any offset, or Unix seconds;
 * in responses: RFC 3339 UTC; errors: JSON {"error": "..."} with 400 for a
 * malformed request, 404 for an unknown camera or no footage, 416 for an
 * unsatisfiable range, 503 when the index cannot be read; clip downloads and
 * snapshots past their caps in http: are 429 (the token's own cap) or 503
 * (all tokens'), with Retry-After):
 *
 *   GET /api/cameras[?district=&site=]
 *   GET /api/cameras/{id}/recordings?start=&end=    (default: the last 24 h)
 *   GET /api/cameras/{id}/clip.mp4?start=&end=
 *   GET /api/cameras/{id}/snapshot.jpg?at=        (400 past http.snapshot_max_pixels)
 *   GET /api/cameras/{id}/live.mp4[?stream=main|sub]  endless fMP4 (serve/live.c)
 *   GET /healthz   {"ok":true,"downloads":N,"pinned_segments":N}
 *   GET /metrics                                   Prometheus text (serve/metrics.h)
 *   GET /api/audit?start=&end=&camera=&who=&action=&before=&limit=  the audit trail, oldest first
 *   POST /api/reload, GET /api/reload              reload the config (as SIGHUP), what it did
 * Investigators (serve/evidence.c has the details):
 *   POST /api/locks {"camera","start","end","reason"[,"until"]}   201 with the lock
 *        {"id","camera","start","end","reason","created_by","created","until",
 *         "released","released_by"}; created_by is the token's name
 *   GET /api/locks[?camera=&all=1]                 in force (all=1: every lock)
 *   DELETE /api/locks/{id} [{"reason"}]            release: 200 with the lock,
 *                                                  404 unknown, 409 already released
 *   GET /api/events?q=&camera=&district=&site=&type=&start=&end=&limit=
 *        [{"id","time","camera","type","detail"[,"end","district","site","text",
 *        "attributes","source_id","posted_by"],"clip" | "clips":[{"camera","clip"}]}]
 *        oldest first (default: the last 24 h, at most limit (10000), header
 *        X-Events-Truncated: 1 when there were more); q: words to find in
 *        text/attributes/detail, diacritics and đ folded (serve/routes_events.c)
 *   POST /api/events {"camera" | "district"/"site", "time"[,"end"],"type"
 *        [,"text","attributes":{},"source_id"]}, an array of them, or NDJSON
 *        (application/x-ndjson): 201 {"id","duplicate"} or {"stored",
 *        "duplicates","ids":[id|null]}; all or none; 400 names the field (and
 *        the index). Integrator tokens may use this route and no other.
 *   GET /api/coverage?district=&site=&start=&end=  per camera of the area: its
 *        recorded runs in the range and covered_seconds (none: empty runs)
 *   POST /api/exports {"cameras":[ids] | "district"[,"site"], "start","end",
 *        "reason"[,"until"]}                       201 {"manifest":M,"signature":S}:
 *        locks the range on each camera; M lists per camera its lock, one clip
 *        per continuous run (…clip.mp4?start=&end=&export=ID, with the SHA-256
 *        and size of the bytes that URL serves) and the source segments (pool,
 *        relative path, bytes, sha256, sha256_of: "file", or "committed_prefix"
 *        for a segment still being written: its first `bytes` bytes,
 *        fsync_failed, start, end) and its clock evidence ("clock": per run
 *        covering the range, why it began, slew_us and step_us applied,
 *        receive_offset_us, camera_clock: the camera's RTCP sender-report time
 *        minus vigild's for the same frames, or null; "discontinuities": the
 *        runs beginning inside the range); S is the
 *        base64 Ed25519 signature of M's bytes exactly as they appear (jansson
 *        JSON_COMPACT|JSON_SORT_KEYS|JSON_ENSURE_ASCII); `vigilctl export-verify`
 *   GET /api/exports/{id}                          the same bytes again
 *   GET /api/exports/public-key                    {"algorithm":"Ed25519","public_key"}
 *   GET /api/exports/{id}/bundle.zip               the export as a ZIP a court checks with
 *        sha256sum and openssl alone (serve/bundle.c): clips, manifest.json and
 *        .sig, public_key.pem, SHA256SUMS and .sig, VERIFY.txt; audited as
 *        export_bundle; 409 when its footage no longer matches the manifest
 * Lock changes are events (lock_created/lock_released, naming who and why) and
 * audit rows (lock_create/lock_release); exports are audited (export_create),
 * and so are clip downloads with export=ID (action "export").
 * Access control (serve/auth.h): a bearer token (header or access_token=) of
 * the role the route needs; 401 without/unknown token, 403 for a lower role.
 * Every footage response (clip or export clip whatever its Range, snapshot,
 * the start and the end of a live view) is audited with the token's name,
 * and so is every refused authentication (auth_failed 401, auth_denied 403,
 * with the source address); repeats are coalesced into runs (serve/audit.c).
 * A clip with export=ID must name an export that covers its camera and range
 * (else 404/403), asked for by an investigator or admin (else 403).
 *   anything else: the console's files from cfg->web_root, when set.
 *
 * A clip is a virtual file computed from the index: the first segment's
 * ftyp+moov (with an mehd carrying the clip's duration), a sidx listing every
 * fragment (so players can seek without reading the whole file), then each
 * fragment's moof with its sequence number and tfdt rewritten so the timeline
 * is continuous from 0 (the last one cut at `end`), followed by the mdat bytes
 * read straight from the segment files. Its length is known before the first
 * byte (Content-Length, Range, If-Range, ETag all work) and a download holds a
 * fixed buffer plus ~32 bytes per fragment. Response headers of a clip:
 *   X-Clip-Start, X-Clip-End   the wall-clock range actually covered (UTC)
 *   X-Clip-Truncated           present when the clip stops before `end`:
 *                              "gap" (footage is missing after X-Clip-End) or
 *                              "codec_change" (the stream changed format); the
 *                              rest can be fetched with start=X-Clip-End.
 * Segments used by a download are pinned (see serve_segment_pinned()) until
 * the download ends or the client goes away.
 *
 * All serve_* functions except serve_segment_pinned() run on the loop thread.
 */
#ifndef VIGIL_SERVE_H
#define VIGIL_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "index/index.h"
#include "ingest/ingest.h"
#include "storage/storage.h"

typedef struct serve_ctx serve_ctx;

/* Live statistics of one camera; 0 or negative (e.g. -ENOENT when the camera
 * is not running). Called on the loop thread. */
typedef int (*serve_camera_stats_fn)(void *opaque, const char *camera_id, ingest_stats *out);

typedef struct serve_config {
    const char *listen;       /* "127.0.0.1:8080", "[::1]:0"; NULL: cfg->listen */
    const char *index_path;   /* NULL: cfg->index_path; serve opens its own readers */
    /* The export signing key's file; NULL: <index_path>.signing-key. A copy
     * is kept at the root of every usable pool (SERVE_SIGNING_KEY_MIRROR). */
    const char *signing_key;
    /* Set while vigild runs on a stand-in for a lost or damaged index
     * (copied): /healthz says what is wrong and what fixes it. */
    const char *index_problem, *index_fix, *index_in_use;
    const config *cfg;        /* borrowed; replace with serve_set_config() on reload */
    const storage *st;        /* borrowed, may be NULL: paths then come from cfg's pools.
                               * storage_abspath() is called from worker threads. */
    serve_camera_stats_fn camera_stats; /* may be NULL: every camera is then "offline" */
    void *camera_stats_opaque;
    index_db *idx;            /* borrowed, may be NULL: no audit rows, no index metrics */
    storage_retention *retention; /* borrowed, may be NULL: no pool metrics */
    storage_scrub *scrub;         /* borrowed, may be NULL: no verifier metrics */
    storage_mover *mover;         /* borrowed, may be NULL: no tiers */
    /* POST /api/reload (admin): reloads as who; 0, or negative with err set.
     * May be NULL (then 404). Called on the loop thread. */
    int (*reload)(void *opaque, const char *who, char *err, size_t errlen);
    /* The last reload's outcome as a JSON object text, malloc'd (freed by
     * serve), or NULL when there was none: answered by GET /api/reload and
     * merged into POST /api/reload's answer. May be NULL. Loop thread. */
    char *(*reload_report)(void *opaque);
    void *reload_opaque;
    /* GET /api/cameras/{id}/live.mp4 reads the cameras' live feeds here
     * (borrowed; must outlive serve). NULL: live.mp4 answers 503. */
    ingest_live_hub *live;
} serve_config;

/* Binds the listen address and starts serving on loop. The strings of c are
 * copied; cfg and st are borrowed. 0 or negative errno-style (-EADDRINUSE...);
 * *out is owned by the caller and released with serve_stop(). */
int serve_start(uv_loop_t *loop, const serve_config *c, serve_ctx **out);
/* The copy of the export signing key at a pool's root. */
#define SERVE_SIGNING_KEY_MIRROR ".vigil-signing-key"
/* Loads the export signing key at path as serve_start() does (restored from
 * a copy at the root of a usable pool of st when missing, made when there is
 * none, copied to the pools that lack it), for `vigild --rebuild-index`.
 * pk gets its public half. cfg, st borrowed. 0 or negative (logged). */
int serve_signing_key_prepare(const config *cfg, const storage *st, const char *path,
                              uint8_t pk[32]);
/* The bound port (useful with port 0). */
int serve_port(const serve_ctx *s);
/* Switches to a reloaded config (borrowed; the old one may be freed after). */
void serve_set_config(serve_ctx *s, const config *cfg);
/* Stops listening, closes idle connections, aborts downloads in progress
 * (connections still open after 2 s are shut down) and frees everything once
 * the last connection has closed; the caller keeps
 * running the loop until uv_run() returns. Takes ownership; *s is set to NULL.
 * Accepts NULL. */
void serve_stop(serve_ctx **s);
/* serve_stop(), then runs loop (UV_RUN_ONCE) until serve has freed itself:
 * for a daemon's shutdown path, after uv_run() has returned. Accepts NULL. */
void serve_stop_wait(serve_ctx **s, uv_loop_t *loop);

/* true while a download uses segment id; retention must not delete it then.
 * Thread-safe; s may be NULL (nothing pinned). Storage/retention call this
 * through a callback so the dependency stays one-way. */
bool serve_segment_pinned(const serve_ctx *s, int64_t segment_id);
/* The same, shaped as storage_pin_fn: storage_retention_set_pin_check(rt,
 * serve_pin_check, serve_ctx). Stop retention before serve_stop(). */
int serve_pin_check(void *serve_ctx, int64_t segment_id);
/* Counts a config reload in the metrics (shaped for reload_ctx.count). */
void serve_count_reload(void *serve_ctx, int ok);
/* Number of downloads in progress and pinned segments, for metrics. */
void serve_stats(const serve_ctx *s, uint64_t *downloads, uint64_t *pinned_segments);

#endif
