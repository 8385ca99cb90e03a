/*
 * supervisor: the daemon's cameras. Prefix: supervisor_.
 *
 * Starts an ingest session for every enabled camera of a config and stops them
 * all: a stop request goes to every camera first (they wind down in parallel),
 * then each is joined, which closes its open segment cleanly. Used from the
 * libuv loop thread only.
 */
#ifndef VIGIL_SUPERVISOR_H
#define VIGIL_SUPERVISOR_H

#include <stddef.h>

#include "config/config.h"
#include "index/index.h"
#include "ingest/ingest.h"
#include "storage/storage.h"

typedef struct supervisor_cam {
    const config_camera *cfg; /* borrowed from the config */
    ingest_camera *cam;       /* NULL when disabled or not started */
} supervisor_cam;

typedef struct supervisor {
    const config *cfg; /* borrowed */
    storage *st;       /* borrowed */
    index_db *idx;     /* borrowed */
    supervisor_cam *cams;
    size_t ncams;
    size_t nrunning;
} supervisor;

/* Starts every enabled camera; a camera that fails to start is logged and
 * skipped. 0 or negative (only for ENOMEM). */
int supervisor_start(supervisor *sv, const config *cfg, storage *st, index_db *idx);
/* Stops every camera (parallel stop requests, then joins) and frees the table. */
void supervisor_stop(supervisor *sv);
/* The running session of a camera, NULL if none (disabled / unknown). */
ingest_camera *supervisor_find(const supervisor *sv, const char *camera_id);
/* Stats of a camera (for serve/): 0, or -ENOENT for an unknown camera; a
 * disabled camera reports INGEST_DISABLED. */
int supervisor_camera_stats(void *sv, const char *camera_id, ingest_stats *out);

#endif
