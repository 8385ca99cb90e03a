/*
 * The stream-to-wall clock (see clock.h for the model). Each frame's offset
 * recv - wall(pts) is at least the network delay when the mapping is right;
 * the minimum over a window estimates the mapping's error. The error is slewed
 * away at <= 500 ppm of elapsed stream time; an error larger than 0.5 s (a
 * camera clock drifting faster than the slew can follow, or a long change in
 * delay) ends the run, as do pts jumps.
 */
#include "ingest/clock.h"

#include <stddef.h>

static void anchor(ingest_clock *c, int64_t pts_us, int64_t recv_us, int cause)
{
    c->cause = cause;
    c->stepped_us = 0;
    c->has_err = 0;
    c->last_err_us = 0;
    c->anchored = 1;
    c->locked = 0;
    c->anchor_pts_us = pts_us;
    c->anchor_wall_us = recv_us;
    c->max_pts_us = pts_us;
    c->max_pts_recv_us = recv_us;
    c->win_start_pts_us = pts_us;
    c->win_min_off_us = INT64_MAX;
    c->last_slew_pts_us = pts_us;
    c->slewed_us = 0;
}

void ingest_clock_init(ingest_clock *c)
{
    *c = (ingest_clock){0};
}

int64_t ingest_clock_wall(const ingest_clock *c, int64_t pts_us)
{
    return c->anchor_wall_us + (pts_us - c->anchor_pts_us);
}

void ingest_clock_lock(ingest_clock *c)
{
    c->locked = 1;
}

int ingest_clock_update(ingest_clock *c, int64_t pts_us, int64_t recv_us, int64_t *wall_us)
{
    int ret = 0;
    if (!c->anchored) {
        anchor(c, pts_us, recv_us, INGEST_CLOCK_CAUSE_FIRST);
        ret = INGEST_CLOCK_NEW_RUN;
        goto out;
    }
    /* Jumps. B-frames make pts go back a little in decode order; a second is far more. */
    if (pts_us < c->max_pts_us - INGEST_CLOCK_JUMP_BACK_US) {
        anchor(c, pts_us, recv_us, INGEST_CLOCK_CAUSE_JUMP_BACK);
        ret = INGEST_CLOCK_NEW_RUN;
        goto out;
    }
    if (pts_us - c->max_pts_us > (recv_us - c->max_pts_recv_us) + INGEST_CLOCK_JUMP_FWD_US) {
        anchor(c, pts_us, recv_us, INGEST_CLOCK_CAUSE_JUMP_FORWARD);
        ret = INGEST_CLOCK_NEW_RUN;
        goto out;
    }
    if (pts_us > c->max_pts_us) {
        c->max_pts_us = pts_us;
        c->max_pts_recv_us = recv_us;
    }
    int64_t off = recv_us - ingest_clock_wall(c, pts_us);
    if (!c->locked && off < 0) {
        /* The anchor frame was late (probe burst): move the mapping earlier now. */
        c->anchor_wall_us += off;
        c->stepped_us += off;
        ret |= INGEST_CLOCK_STEPPED;
        off = 0;
    }
    if (off < c->win_min_off_us) c->win_min_off_us = off;
    if (pts_us - c->win_start_pts_us >= INGEST_CLOCK_WINDOW_US) {
        int64_t err = c->win_min_off_us;
        if (err > INGEST_CLOCK_MAX_DRIFT_US || err < -INGEST_CLOCK_MAX_DRIFT_US) {
            anchor(c, pts_us, recv_us, INGEST_CLOCK_CAUSE_DRIFT);
            ret = INGEST_CLOCK_NEW_RUN;
            goto out;
        }
        c->has_err = 1;
        c->last_err_us = err;
        int64_t elapsed = pts_us - c->last_slew_pts_us;
        int64_t max_adj = elapsed * INGEST_CLOCK_SLEW_PPM / 1000000;
        int64_t adj = err > max_adj ? max_adj : err < -max_adj ? -max_adj : err;
        c->anchor_wall_us += adj;
        c->slewed_us += adj;
        c->last_slew_pts_us = pts_us;
        c->win_start_pts_us = pts_us;
        c->win_min_off_us = INT64_MAX;
    }
out:
    if (wall_us) *wall_us = ingest_clock_wall(c, pts_us);
    return ret;
}

const char *ingest_clock_cause_name(int cause)
{
    switch (cause) {
    case INGEST_CLOCK_CAUSE_JUMP_BACK:
        return "jump_back";
    case INGEST_CLOCK_CAUSE_JUMP_FORWARD:
        return "jump_forward";
    case INGEST_CLOCK_CAUSE_DRIFT:
        return "drift";
    default:
        return "start";
    }
}

int64_t ingest_clock_unwrap32(int64_t *ext, uint32_t ts)
{
    if (*ext == INT64_MIN) {
        *ext = ts;
    } else {
        int32_t d = (int32_t)(ts - (uint32_t)*ext);
        *ext += d;
    }
    return *ext;
}
