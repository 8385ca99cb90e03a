/*
 * Camera supervision: one ingest session per enabled camera. Sessions
 * reconnect by themselves (ingest/), so the supervisor only starts and stops
 * them; config reload (diff and restart what changed) will live here too.
 */
#include "daemon/supervisor.h"

#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int supervisor_start(supervisor *sv, const config *cfg, storage *st, index_db *idx)
{
    memset(sv, 0, sizeof(*sv));
    sv->cfg = cfg;
    sv->st = st;
    sv->idx = idx;
    sv->cams = calloc(cfg->ncameras ? cfg->ncameras : 1, sizeof(*sv->cams));
    if (!sv->cams) return -ENOMEM;
    sv->ncams = cfg->ncameras;
    for (size_t i = 0; i < cfg->ncameras; i++) {
        const config_camera *cc = &cfg->cameras[i];
        sv->cams[i].cfg = cc;
        if (!cc->enabled) {
            vg_log_cam(LOG_INFO, cc->id, "disabled; not recording");
            continue;
        }
        const config_pool *pool = config_camera_pool(cfg, cc);
        ingest_params p = {
            .camera = cc,
            .pool = pool ? pool->id : NULL,
            .segment_seconds = cfg->segment_seconds,
            .st = st,
            .idx = idx,
        };
        int r = ingest_camera_start(&p, &sv->cams[i].cam);
        if (r < 0) {
            vg_log_cam(LOG_ERR, cc->id, "cannot start: %s", strerror(-r));
            continue;
        }
        sv->nrunning++;
    }
    return 0;
}

void supervisor_stop(supervisor *sv)
{
    for (size_t i = 0; i < sv->ncams; i++) ingest_camera_request_stop(sv->cams[i].cam);
    for (size_t i = 0; i < sv->ncams; i++) ingest_camera_stop(&sv->cams[i].cam);
    free(sv->cams);
    sv->cams = NULL;
    sv->ncams = sv->nrunning = 0;
}

ingest_camera *supervisor_find(const supervisor *sv, const char *camera_id)
{
    for (size_t i = 0; i < sv->ncams; i++)
        if (strcmp(sv->cams[i].cfg->id, camera_id) == 0) return sv->cams[i].cam;
    return NULL;
}

int supervisor_camera_stats(void *opaque, const char *camera_id, ingest_stats *out)
{
    supervisor *sv = opaque;
    for (size_t i = 0; i < sv->ncams; i++) {
        if (strcmp(sv->cams[i].cfg->id, camera_id) != 0) continue;
        if (sv->cams[i].cam) {
            ingest_camera_get_stats(sv->cams[i].cam, out);
        } else {
            memset(out, 0, sizeof(*out));
            out->state = INGEST_DISABLED;
        }
        return 0;
    }
    return -ENOENT;
}
