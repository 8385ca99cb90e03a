/*
 * storage: pools and segment files. Prefix: storage_.
 *
 * A pool is a directory (normally a mount point) holding an identity file
 * (.vigil-pool, contents "vigil-pool <id>\n"); a pool whose identity is missing
 * or wrong is not written to. Segment files live at
 *   <pool>/<camera>/<YYYY>/<MM>/<DD>/<HH>/<YYYYMMDD>T<HHMMSS>.<uuuuuu>Z.mp4
 * (UTC of the segment's start; vg_segment_relpath() in common/ builds it).
 * Write order, after Moonfire: create with O_EXCL and queue the open row in
 * the index; append whole fragments, each with one write; at close fsync the
 * file, then its directory, then mark the row closed with size and SHA-256
 * (hashed as written, never re-read). While a segment is open a thread of
 * storage's own fdatasyncs it every pool's sync_ms.
 */
#ifndef VIGIL_STORAGE_H
#define VIGIL_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config/config.h"
#include "index/index.h"

typedef struct storage storage;
typedef struct storage_segment storage_segment;

/* Opens every pool of cfg (creating the identity file of an empty new pool
 * directory; refusing a non-empty directory with a wrong or missing identity).
 * idx is borrowed and must outlive the storage. Never fails because one pool is
 * bad: that pool is marked unusable, logged and evented. */
int storage_open(const config *cfg, index_db *idx, storage **out);
void storage_close(storage **st);

/* Absolute path of a pool-relative path; -ENOENT for an unknown pool. */
int storage_abspath(const storage *st, const char *pool, const char *relpath, char *out,
                    size_t len);

/* Properties of a new segment, from the segmenter. */
typedef struct storage_segment_info {
    const char *camera;
    const char *pool;       /* NULL: the first usable pool */
    int64_t start_us;
    int64_t run_start_us;
    const char *codec, *audio_codec; /* "h264"/"hevc", "aac"/"pcm_mulaw"/"pcm_alaw"/"" */
    int width, height;
} storage_segment_info;

/* Creates the file (O_EXCL) and queues its open row. 0 or negative. */
int storage_segment_create(storage *st, const storage_segment_info *info,
                           storage_segment **out);
/* Appends bytes (the init segment, or one whole fragment) with one write;
 * hashes them. When frag is non-NULL the bytes are that fragment (its offset is
 * filled in here) and the index is told (progress: end so far, bytes, fragment).
 * On ENOSPC the storage purges (issue 4) and retries once. 0 or negative. */
int storage_segment_append(storage_segment *seg, const uint8_t *buf, size_t len,
                           index_fragment *frag, int64_t end_us);
/* The same for bytes gathered from up to STORAGE_IOV_MAX pieces (one pwritev). */
#define STORAGE_IOV_MAX 64
int storage_segment_appendv(storage_segment *seg, const struct iovec *iov, int iovcnt,
                            index_fragment *frag, int64_t end_us);
/* fsync file, fsync dir, queue the close (end, size, sha256), free. Accepts NULL. */
int storage_segment_close(storage_segment **seg, int64_t end_us);
int64_t storage_segment_id(const storage_segment *seg);
int64_t storage_segment_bytes(const storage_segment *seg);
/* Absolute path of the segment's file (borrowed, valid until close). */
const char *storage_segment_path(const storage_segment *seg);

/* Bytes of the segment fdatasync'ed so far by the syncer (its pool's sync_ms;
 * see storage.c "Durability"): what survives a power loss. Thread-safe. */
uint64_t storage_segment_synced_bytes(const storage_segment *seg);

/* The syncer's work on a pool, for metrics. 0 or -ENOENT. */
typedef struct storage_sync_stats {
    int sync_ms;      /* the pool's period; 0: segments are synced at close only */
    uint64_t syncs;   /* fdatasyncs of open segments */
    uint64_t errors;  /* of which failed (the segment's row is marked) */
    double seconds;   /* spent in them (on the syncer thread) */
} storage_sync_stats;
int storage_pool_sync_stats(const storage *st, const char *pool, storage_sync_stats *out);

/* 1 if the pool is usable, 0 if not (wrong/missing identity), -ENOENT if unknown. */
int storage_pool_usable(const storage *st, const char *pool);
/* Directory of a pool (borrowed), NULL if unknown. */
const char *storage_pool_path(const storage *st, const char *pool);
/* Number of pools; *usable (may be NULL) gets how many are usable. */
size_t storage_pool_count(const storage *st, size_t *usable);
/* What a pool's root says before storage_open() (vigilctl; vigild deciding
 * whether a missing index is a first start). 1 if the directory at path
 * carries the identity file of pool id, else 0. Creates nothing. */
int storage_pool_identified(const char *path, const char *id);
/* 1 if the pool at path holds something of an earlier run (a camera
 * directory, a lock mirror), 0 if not. Creates nothing. */
int storage_pool_has_history(const char *path);

/* ---- retention (storage/retention.c, issue 4) ----
 * Keeps every pool under its quota (max_bytes) and above its free-space floor
 * (min_free, or a small implicit reserve), and deletes footage older than its
 * camera's retention_days; the oldest closed, unlocked, unpinned segments go
 * first, through the index first (no row ever names a deleted file). Runs on a
 * thread of its own every interval; a write that hits ENOSPC runs an emergency
 * purge of its pool on the writing thread and retries once. */
typedef struct storage_retention storage_retention;

typedef struct storage_retention_report {
    uint64_t deleted_segments;
    int64_t deleted_bytes;
    uint64_t skipped_locked, skipped_pinned;
    uint64_t expired_events; /* events older than events.retention_days deleted */
    int errors;
} storage_retention_report;

typedef struct storage_pool_usage {
    int usable;
    int64_t used_bytes;      /* bytes of its segments, open ones included */
    int64_t max_bytes;       /* 0: no quota */
    int64_t free_bytes;      /* statvfs, available to us */
    int64_t total_bytes;
    int64_t floor_bytes;     /* free-space floor retention keeps */
    uint64_t deleted_segments, deleted_bytes; /* by retention since start */
    uint64_t enospc;         /* emergency purges */
} storage_pool_usage;

/* true while segment_id must not be deleted (a download uses it). Thread-safe. */
typedef int (*storage_pin_fn)(void *opaque, int64_t segment_id);

/* Starts retention over st's pools with cfg's limits: sets each pool's byte
 * count from the index (call after storage_reconcile(), before cameras start),
 * registers the ENOSPC purge and, when interval_ms > 0, starts the thread.
 * st, idx borrowed (must outlive it); cfg is copied. 0 or negative. */
int storage_retention_start(storage *st, index_db *idx, const config *cfg, int interval_ms,
                            storage_retention **out);
/* Stops the thread, unregisters the purge, frees. Accepts NULL. */
void storage_retention_stop(storage_retention **rt);
/* New limits and retention days after a config reload (copied). */
int storage_retention_set_config(storage_retention *rt, const config *cfg);
/* Segments for which pinned() is true are skipped. Call before cameras start. */
void storage_retention_set_pin_check(storage_retention *rt, storage_pin_fn pinned, void *opaque);
/* One pass now (what the thread does every interval). out may be NULL. 0 or negative. */
int storage_retention_run(storage_retention *rt, int64_t now_us, storage_retention_report *out);
/* Holding retention back while the index cannot be trusted (vigild with a
 * lost or damaged index): with STORAGE_HOLD_AGE nothing is deleted for age,
 * with STORAGE_HOLD_SPACE nothing for space either (quota, free-space floor,
 * ENOSPC: recording then stops when a pool fills). why (copied) is logged
 * with each pass that held something back (at most hourly). 0: no hold. */
#define STORAGE_HOLD_AGE 1
#define STORAGE_HOLD_SPACE 2
void storage_retention_hold(storage_retention *rt, int what, const char *why);
/* Events deleted for age (events.retention_days) since start. Never waits. */
uint64_t storage_retention_events_expired(storage_retention *rt);
/* Usage of a pool for metrics. Never waits for a pass or purge in progress
 * (readers on the daemon's loop call it). 0 or -ENOENT. */
int storage_retention_pool_usage(storage_retention *rt, const char *pool, storage_pool_usage *out);

/* ---- scrubbing (storage/scrub.c) ----
 * A thread re-reads every closed segment at least once per scrub.period, at a
 * bounded rate, and compares it with its indexed size and SHA-256; a damaged
 * or missing file is an event (segment_corrupt), an audit row and a log line. */
typedef struct storage_scrub storage_scrub;

typedef struct storage_scrub_stats {
    uint64_t segments_ok, segments_bad; /* since start */
    uint64_t bytes;                     /* read */
    uint64_t passes;                    /* completed */
    int64_t last_pass_us;               /* duration of the last completed pass */
} storage_scrub_stats;

/* Starts the thread (st, idx borrowed; cfg's values copied). 0 or negative. */
int storage_scrub_start(storage *st, index_db *idx, const config *cfg, storage_scrub **out);
/* Stops it (a file being read is abandoned), frees. Accepts NULL. */
void storage_scrub_stop(storage_scrub **sc);
/* New period and rate after a reload. */
void storage_scrub_set_config(storage_scrub *sc, const config *cfg);
/* Never waits (atomics): for /metrics. */
void storage_scrub_get_stats(storage_scrub *sc, storage_scrub_stats *out);
/* Re-reads the file at path and compares it with segment s's size and
 * SHA-256: 0, -EBADMSG (differs), -ENODATA (no hash indexed), or the read's
 * negative errno; why (whylen bytes) says what was found. throttle: the
 * scrubber whose rate applies, NULL for none (vigilctl verify). */
int storage_verify_file(const char *path, const index_segment *s, storage_scrub *throttle,
                        char *why, size_t whylen);
/* A segment's file was not where a listing read earlier put it: while vigild
 * runs, the mover may since have put it in its archive pool, or retention
 * deleted it. 1 (moved: *now is its row as it stands), 0 (the index still
 * says it is there: it is lost), or the read's negative errno (-ENOENT: the
 * row is gone too, deleted). */
int storage_segment_relocated(index_reader *r, const index_segment *s, index_segment *now);

/* ---- tiers (storage/mover.c) ----
 * Closed segments of a pool with move_to move to that archive pool once they
 * ended move_after ago (copy, fsync, read back against the SHA-256, switch
 * the row, unlink), at most move_rate bytes/s, on a thread of its own; an
 * archive that does not answer pauses moving (pool_unreachable event). */
typedef struct storage_mover storage_mover;

typedef struct storage_mover_stats {
    uint64_t moved_segments, moved_bytes, failures; /* since start */
    int unreachable;                                /* archives not answering now */
} storage_mover_stats;

/* Finishes or undoes the moves a stop or crash interrupted (the index's
 * journal). Run at start before storage_reconcile(). 0 or negative. */
int storage_moves_recover(storage *st, const config *cfg);
/* Starts the thread when a pool has move_to (*out stays NULL otherwise). */
int storage_mover_start(storage *st, index_db *idx, const config *cfg, storage_mover **out);
/* Segments for which pinned() is true stay (or keep their source) for now. */
void storage_mover_set_pin_check(storage_mover *m, storage_pin_fn pinned, void *opaque);
void storage_mover_stop(storage_mover **m);
/* Never waits: for /metrics. m may be NULL (zeros). */
void storage_mover_get_stats(storage_mover *m, storage_mover_stats *out);

/* ---- startup reconciliation (storage/reconcile.c, issue 4) ----
 * Run once at start, before retention and cameras: every open row is cut back
 * to its last whole fragment (file truncated, SHA-256 recomputed, end from the
 * fragments, row closed; event segment_recovered); rows whose file is gone are
 * deleted (segment_missing); files in a pool the index does not know are
 * indexed (segment_indexed) or, if unparseable, moved to <pool>/quarantine/
 * (segment_quarantined). 0 or negative (a single bad file is not an error).
 * Only what can be unknown is walked: nothing in a pool after a clean stop
 * (storage_mark_clean()), the hours since the last checkpoint after a crash
 * (storage_checkpoint(); see reconcile.c). */
typedef struct storage_reconcile_report {
    unsigned recovered, missing, indexed, quarantined, removed_empty;
    int64_t truncated_bytes;
    unsigned pools_clean; /* pools not walked: the last stop was clean */
    unsigned hour_dirs;   /* hour directories walked */
    int64_t elapsed_ms;   /* so far (progress) or in all */
} storage_reconcile_report;

typedef struct storage_reconcile_opts {
    int full; /* walk every hour directory of every pool, whatever the last stop was */
    /* Called on the reconciling thread when work starts and then about once a
     * second with the counts so far (vigild extends systemd's start timeout
     * with it). May be NULL. */
    void (*progress)(void *opaque, const storage_reconcile_report *so_far);
    void *opaque;
} storage_reconcile_opts;

/* cfg gives the pools and the index path (a reader is opened on it). opts may
 * be NULL (storage_reconcile()). */
int storage_reconcile_opts_run(storage *st, index_db *idx, const config *cfg,
                               const storage_reconcile_opts *opts, storage_reconcile_report *out);
int storage_reconcile(storage *st, index_db *idx, const config *cfg,
                      storage_reconcile_report *out);
/* Moves the checkpoint (every file starting before it is indexed) up to
 * about now: flushes the index, so it blocks; call it off the loop every few
 * minutes. index_path: the index's file (cfg->index_path; borrowed).
 * failures: index_writer_failures() when reconciliation ended; once
 * the writer has failed since, the checkpoint stays (-EIO). 0 or negative. */
int storage_checkpoint(index_db *idx, const char *index_path, uint64_t failures);
/* Records a clean stop, so the next start walks no pool: call when nothing
 * writes any more (cameras and retention stopped). Flushes the index; refuses
 * (-EIO) when the index missed writes during the run. 0 or negative. */
int storage_mark_clean(storage *st, index_db *idx, const config *cfg);

#endif
