/*
 * ingest clock: maps a stream's presentation times to wall-clock times.
 * Prefix: ingest_clock_.
 *
 * wall(pts) = anchor_wall + (pts - anchor_pts). The anchor is the receive time
 * of the first frame of a run. Because receive time = capture time + network
 * delay, the mapping is steered toward the *smallest* receive-minus-mapped
 * offset seen over a window (the least delayed frame), with a bounded slew
 * (<= 500 ppm of stream time), so wall times stay smooth and durations match
 * the file's within 0.05 %. A run ends (the caller starts a new segment) when
 * pts jumps backwards, jumps forward far beyond the receive-time progress, or
 * the mapping and the receive clock disagree by more than 0.5 s.
 *
 * Until ingest_clock_lock() the mapping may also *step* earlier: libavformat
 * delivers the frames it read while probing in a burst, so the first frame's
 * receive time can be late by the probe duration; the segmenter assigns wall
 * times only when it writes the first fragment and locks the clock then.
 *
 * Pure functions on a caller-owned struct: no I/O, no clock reads.
 * All times in microseconds.
 */
#ifndef VIGIL_INGEST_CLOCK_H
#define VIGIL_INGEST_CLOCK_H

#include <stdint.h>

#define INGEST_CLOCK_SLEW_PPM 500
#define INGEST_CLOCK_MAX_DRIFT_US 500000      /* beyond: new run */
#define INGEST_CLOCK_JUMP_BACK_US 1000000     /* pts going back by more: new run */
#define INGEST_CLOCK_JUMP_FWD_US 3000000      /* pts ahead of receive progress by more: new run */
#define INGEST_CLOCK_WINDOW_US 2000000        /* min-offset window (stream time) */

typedef struct ingest_clock {
    int anchored;
    int locked;
    int64_t anchor_pts_us, anchor_wall_us;
    int64_t max_pts_us, max_pts_recv_us; /* highest pts so far and when it arrived */
    int64_t win_start_pts_us, win_min_off_us;
    int64_t last_slew_pts_us;
    int64_t slewed_us; /* total slew applied since the anchor (for stats/tests) */
    int64_t stepped_us; /* total steps (before lock) since the anchor */
    int has_err;
    int64_t last_err_us; /* the last window's minimum receive - mapped offset */
    int cause;           /* INGEST_CLOCK_CAUSE_*: why the current run began */
} ingest_clock;

/* Why a run began: its first frame (a connect, a reconnect, new streams), pts
 * going back, pts ahead of the receive clock, or drift beyond the slew. */
enum {
    INGEST_CLOCK_CAUSE_FIRST = 0,
    INGEST_CLOCK_CAUSE_JUMP_BACK,
    INGEST_CLOCK_CAUSE_JUMP_FORWARD,
    INGEST_CLOCK_CAUSE_DRIFT,
};
/* "start", "jump_back", "jump_forward", "drift" (static strings). */
const char *ingest_clock_cause_name(int cause);

enum {
    INGEST_CLOCK_NEW_RUN = 1, /* this frame starts a new run (first frame, jump, drift) */
    INGEST_CLOCK_STEPPED = 2, /* the mapping stepped (only before lock): recompute walls */
};

void ingest_clock_init(ingest_clock *c);
/* Feeds one frame (any order of pts within a GOP is fine: B-frames). Returns a
 * mask of INGEST_CLOCK_*; *wall_us (may be NULL) gets the frame's wall time
 * under the mapping after the update. */
int ingest_clock_update(ingest_clock *c, int64_t pts_us, int64_t recv_us, int64_t *wall_us);
/* The wall time of pts under the current mapping. */
int64_t ingest_clock_wall(const ingest_clock *c, int64_t pts_us);
/* No more steps until the next run: wall times have been written out. */
void ingest_clock_lock(ingest_clock *c);
/* Extends a 32-bit RTP timestamp to 64 bits given the previous extended value
 * (*ext, INT64_MIN before the first). Returns the extended value. */
int64_t ingest_clock_unwrap32(int64_t *ext, uint32_t ts);

#endif
