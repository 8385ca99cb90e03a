/*
 * Camera supervision: one ingest session per enabled camera. Sessions
 * reconnect by themselves (ingest/), so the supervisor only starts and stops
 * them.
 *
 * Stopping a session blocks until its transport has let go (a thread joined,
 * or a loop of the native client has released it) and its open segment is
 * closed with an fsync. At shutdown that is fine; while the daemon runs
 * (reload) it must not happen on the libuv loop thread, which serves HTTP.
 * So retired sessions go to a reaper: a thread per batch that asks each to
 * stop (they wind down in parallel), joins them, and wakes the loop through
 * an async handle; the loop then joins the reaper thread (already finished)
 * and starts the cameras that waited for an old session of their id.
 */
#include "daemon/supervisor.h"

#include "common/common.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct supervisor_reaper {
    supervisor *sv;
    pthread_t thread;
    ingest_camera **cams; /* owned, stopped by the thread */
    char **ids;           /* owned */
    size_t n;
    atomic_bool done;
    supervisor_reaper *next;
};

static void reaper_free(supervisor_reaper *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) free(r->ids ? r->ids[i] : NULL);
    free(r->ids);
    free(r->cams);
    free(r);
}

/* Stops a batch of sessions: requests first, so they stop in parallel. */
static void stop_all(ingest_camera **cams, size_t n)
{
    for (size_t i = 0; i < n; i++) ingest_camera_request_stop(cams[i]);
    for (size_t i = 0; i < n; i++) ingest_camera_stop(&cams[i]);
}

static void *reaper_thread(void *arg)
{
    supervisor_reaper *r = arg;
    stop_all(r->cams, r->n);
    atomic_store(&r->done, true);
    uv_async_send(&r->sv->reaped);
    return NULL;
}

/* Is an old session of this id still being stopped? */
static bool id_reaping(const supervisor *sv, const char *id)
{
    for (const supervisor_reaper *r = sv->reapers; r; r = r->next)
        for (size_t i = 0; i < r->n; i++)
            if (!strcmp(r->ids[i], id)) return true;
    return false;
}

static void start_now(supervisor *sv, size_t i)
{
    supervisor_cam *sc = &sv->cams[i];
    const config_camera *cc = sc->cfg;
    const config_pool *pool = config_camera_pool(sv->cfg, cc);
    ingest_params p = {
        .camera = cc,
        .pool = pool ? pool->id : NULL,
        .segment_seconds = sv->cfg->segment_seconds,
        .st = sv->st,
        .idx = sv->idx,
        .live = sv->live,
    };
    sc->start_pending = false;
    int r = ingest_camera_start(&p, &sc->cam);
    if (r < 0) {
        vg_log_cam(LOG_ERR, cc->id, "cannot start: %s", strerror(-r));
        sc->cam = NULL;
        return;
    }
    sv->nrunning++;
}

void supervisor_start_camera(supervisor *sv, size_t i)
{
    supervisor_cam *sc = &sv->cams[i];
    if (!sc->cfg->enabled) {
        vg_log_cam(LOG_INFO, sc->cfg->id, "disabled; not recording");
        return;
    }
    if (id_reaping(sv, sc->cfg->id)) {
        vg_log_cam(LOG_INFO, sc->cfg->id, "starts once its previous session has stopped");
        sc->start_pending = true;
        return;
    }
    start_now(sv, i);
}

/* Loop thread: finished reapers are joined and freed; cameras that waited
 * for them start. */
static void on_reaped(uv_async_t *a)
{
    supervisor *sv = a->data;
    for (supervisor_reaper **pp = &sv->reapers; *pp;) {
        supervisor_reaper *r = *pp;
        if (!atomic_load(&r->done)) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        pthread_join(r->thread, NULL); /* it has returned or is returning */
        reaper_free(r);
    }
    for (size_t i = 0; i < sv->ncams; i++)
        if (sv->cams[i].start_pending && !id_reaping(sv, sv->cams[i].cfg->id)) start_now(sv, i);
}

void supervisor_retire(supervisor *sv, ingest_camera **cams, const char *const *ids, size_t n)
{
    supervisor_reaper *r = NULL;
    size_t k = 0;
    if (!n) return;
    /* Asked at once, so they stop while the reaper is being set up. */
    for (size_t i = 0; i < n; i++) ingest_camera_request_stop(cams[i]);
    if (!sv->reaped_init || !(r = calloc(1, sizeof(*r))) ||
        !(r->cams = calloc(n, sizeof(*r->cams))) || !(r->ids = calloc(n, sizeof(*r->ids))))
        goto inline_stop;
    r->sv = sv;
    for (k = 0; k < n; k++)
        if (!(r->ids[k] = strdup(ids[k]))) goto inline_stop;
    memcpy(r->cams, cams, n * sizeof(*cams));
    r->n = n;
    if (pthread_create(&r->thread, NULL, reaper_thread, r) != 0) goto inline_stop;
    r->next = sv->reapers;
    sv->reapers = r;
    for (size_t i = 0; i < n; i++) cams[i] = NULL; /* the reaper's now */
    return;
inline_stop:
    /* Out of memory or threads: stop them here, as before there were reapers. */
    vg_log(LOG_WARNING, "vigild: stopping %zu camera(s) on the loop thread", n);
    if (r) r->n = k; /* the ids copied so far; the cameras stay the caller's */
    reaper_free(r);
    stop_all(cams, n);
}

int supervisor_start(supervisor *sv, uv_loop_t *loop, const config *cfg, storage *st,
                     index_db *idx, ingest_live_hub *live)
{
    memset(sv, 0, sizeof(*sv));
    sv->live = live;
    sv->cfg = cfg;
    sv->st = st;
    sv->idx = idx;
    sv->loop = loop;
    if (loop) {
        if (uv_async_init(loop, &sv->reaped, on_reaped) == 0) {
            sv->reaped.data = sv;
            sv->reaped_init = true;
        }
    }
    sv->cams = calloc(cfg->ncameras ? cfg->ncameras : 1, sizeof(*sv->cams));
    if (!sv->cams) return -ENOMEM;
    sv->ncams = cfg->ncameras;
    for (size_t i = 0; i < cfg->ncameras; i++) {
        sv->cams[i].cfg = &cfg->cameras[i];
        supervisor_start_camera(sv, i);
    }
    return 0;
}

void supervisor_stop(supervisor *sv)
{
    for (size_t i = 0; i < sv->ncams; i++) ingest_camera_request_stop(sv->cams[i].cam);
    /* Retired sessions first: they were asked to stop long ago. */
    while (sv->reapers) {
        supervisor_reaper *r = sv->reapers;
        sv->reapers = r->next;
        pthread_join(r->thread, NULL);
        reaper_free(r);
    }
    for (size_t i = 0; i < sv->ncams; i++) ingest_camera_stop(&sv->cams[i].cam);
    if (sv->reaped_init && !uv_is_closing((uv_handle_t *)&sv->reaped))
        uv_close((uv_handle_t *)&sv->reaped, NULL);
    sv->reaped_init = false;
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
            out->state = sv->cams[i].start_pending ? INGEST_CONNECTING : INGEST_DISABLED;
        }
        return 0;
    }
    return -ENOENT;
}
