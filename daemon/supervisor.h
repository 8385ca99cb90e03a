/*
 * supervisor: the daemon's cameras. Prefix: supervisor_.
 *
 * Starts an ingest session for every enabled camera of a config and stops them
 * all: a stop request goes to every camera first (they wind down in parallel),
 * then each is joined, which closes its open segment cleanly. Used from the
 * libuv loop thread only.
 *
 * Cameras retired while the daemon runs (a reload removes or changes them)
 * are stopped by a reaper thread, never on the loop: stopping joins the
 * camera's transport and closes its segment (fsync), and the loop must keep
 * answering HTTP meanwhile. A camera started under an id whose old session is
 * still being stopped waits for it (start_pending) and starts from the loop
 * once the reaper is done, so one camera never has two sessions writing.
 */
#ifndef VIGIL_SUPERVISOR_H
#define VIGIL_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config/config.h"
#include "index/index.h"
#include "ingest/ingest.h"
#include "storage/storage.h"

typedef struct supervisor_cam {
    const config_camera *cfg; /* borrowed from the config */
    ingest_camera *cam;       /* NULL when disabled or not started */
    bool start_pending;       /* starts once its old session has stopped */
} supervisor_cam;

typedef struct supervisor_reaper supervisor_reaper;

typedef struct supervisor {
    const config *cfg; /* borrowed */
    storage *st;       /* borrowed */
    index_db *idx;     /* borrowed */
    ingest_live_hub *live; /* borrowed, may be NULL: live view off */
    supervisor_cam *cams;
    size_t ncams;
    size_t nrunning;
    /* retired sessions being stopped off the loop */
    uv_loop_t *loop;   /* borrowed; NULL: retired sessions are stopped in place */
    uv_async_t reaped; /* a reaper finished */
    bool reaped_init;
    supervisor_reaper *reapers;
} supervisor;

/* Starts every enabled camera; a camera that fails to start is logged and
 * skipped. loop: the daemon's (retired sessions report back through it); may
 * be NULL. live (borrowed, may be NULL) takes the cameras' live feeds. 0 or negative (only for ENOMEM). */
int supervisor_start(supervisor *sv, uv_loop_t *loop, const config *cfg, storage *st,
                     index_db *idx, ingest_live_hub *live);
/* Stops every camera (parallel stop requests, then joins), waits for the
 * retired ones too, and frees the table. Blocks: at shutdown, not from a
 * running loop's callback. The async handle is closed by the caller's
 * uv_walk (or here when the loop no longer runs it). */
void supervisor_stop(supervisor *sv);
/* Retires sessions (ownership taken; their table entries are already gone):
 * each is asked to stop now, and a reaper thread joins them off the loop.
 * ids: the cameras' ids (copied), for the starts that wait on them. */
void supervisor_retire(supervisor *sv, ingest_camera **cams, const char *const *ids, size_t n);
/* Starts the camera of table entry i now, or marks it start_pending when an
 * old session of the same id is still stopping. Loop thread. */
void supervisor_start_camera(supervisor *sv, size_t i);
/* The running session of a camera, NULL if none (disabled / unknown). */
ingest_camera *supervisor_find(const supervisor *sv, const char *camera_id);
/* Stats of a camera (for serve/): 0, or -ENOENT for an unknown camera; a
 * disabled camera reports INGEST_DISABLED, one waiting for its old session to
 * stop INGEST_CONNECTING. */
int supervisor_camera_stats(void *sv, const char *camera_id, ingest_stats *out);

#endif
