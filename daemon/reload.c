/*
 * Configuration reload (see reload.h for the rules).
 *
 * The camera diff keeps the ingest sessions of unchanged cameras: the new
 * supervisor table takes over their ingest_camera pointers, so their threads
 * never notice the reload and their segments continue without a gap. An
 * ingest session copies its config_camera at start, so the old config can be
 * freed once every borrower (supervisor table, HTTP layer, retention) points
 * at the new one.
 *
 * Cameras to stop (removed and changed) are retired to the supervisor: all
 * asked to stop at once and joined by a reaper thread, so the loop goes on
 * serving HTTP meanwhile and n restarts cost one stop time rather than n. A
 * changed camera's new session starts when its old one has stopped (never
 * two sessions of one camera writing at once).
 */
#include "daemon/reload.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int reload_check(const config *old, const config *neu, char *err, size_t errlen)
{
    const char *what = NULL;
    if (strcmp(old->index_path, neu->index_path) != 0)
        what = "index:";
    else if (strcmp(old->listen, neu->listen) != 0)
        what = "listen:";
    else if (old->npools != neu->npools)
        what = "storage.pools";
    for (size_t i = 0; !what && i < old->npools; i++)
        if (strcmp(old->pools[i].id, neu->pools[i].id) != 0 ||
            strcmp(old->pools[i].path, neu->pools[i].path) != 0 ||
            strcmp(old->pools[i].move_to ? old->pools[i].move_to : "",
                   neu->pools[i].move_to ? neu->pools[i].move_to : "") != 0 ||
            old->pools[i].move_after_us != neu->pools[i].move_after_us ||
            old->pools[i].move_rate != neu->pools[i].move_rate)
            what = "storage.pools";
    if (what) {
        snprintf(err, errlen, "%s: a change of %s needs a restart of vigild", neu->path, what);
        return -EINVAL;
    }
    /* The rule vigild checked before it listened holds for the config it
     * runs on, whenever it got it: a reload that drops auth: on an address
     * other hosts can reach would make every one of them an admin. listen:
     * is unchanged here, so neu's is the address being served. */
    if (!config_listen_allowed(neu, neu->listen, err, errlen)) return -EACCES;
    return 0;
}

static const config_camera *find_old(const supervisor *sv, const char *id, size_t *idx)
{
    for (size_t i = 0; i < sv->ncams; i++)
        if (!strcmp(sv->cams[i].cfg->id, id)) {
            *idx = i;
            return sv->cams[i].cfg;
        }
    return NULL;
}

void reload_apply(supervisor *sv, const config *neu, reload_summary *out)
{
    reload_summary sum = {0, 0, 0, 0};
    supervisor_cam *cams = calloc(neu->ncameras ? neu->ncameras : 1, sizeof(*cams));
    /* 0: keep (moved to the new table), 1: stop */
    unsigned char *stop = calloc(sv->ncams ? sv->ncams : 1, 1);
    unsigned char *start = calloc(neu->ncameras ? neu->ncameras : 1, 1);
    ingest_camera **retire = calloc(sv->ncams ? sv->ncams : 1, sizeof(*retire));
    const char **retire_ids = calloc(sv->ncams ? sv->ncams : 1, sizeof(*retire_ids));
    size_t nretire = 0;
    if (!cams || !stop || !start || !retire || !retire_ids) {
        /* Out of memory: keep everything as it is rather than half-apply. */
        vg_log(LOG_ERR, "vigild: reload: out of memory; cameras unchanged");
        goto out;
    }
    for (size_t i = 0; i < sv->ncams; i++)
        stop[i] = 1;
    for (size_t i = 0; i < neu->ncameras; i++) {
        const config_camera *nc = &neu->cameras[i];
        size_t oi = 0;
        const config_camera *oc = find_old(sv, nc->id, &oi);
        cams[i].cfg = nc;
        if (!oc) {
            sum.added++;
            start[i] = 1;
            vg_log_cam(LOG_NOTICE, nc->id, "reload: added");
        } else if (config_camera_needs_restart(oc, nc)) {
            sum.restarted++;
            start[i] = 1;
            vg_log_cam(LOG_NOTICE, nc->id, "reload: changed; restarting");
        } else {
            sum.unchanged++;
            cams[i].cam = sv->cams[oi].cam; /* the session carries on */
            cams[i].start_pending = sv->cams[oi].start_pending;
            sv->cams[oi].cam = NULL;
            stop[oi] = 0;
        }
    }
    for (size_t i = 0; i < sv->ncams; i++) {
        if (!stop[i]) continue;
        if (!config_find_camera(neu, sv->cams[i].cfg->id)) {
            sum.removed++;
            vg_log_cam(LOG_NOTICE, sv->cams[i].cfg->id, "reload: removed; stopping");
        }
        if (!sv->cams[i].cam) continue;
        retire[nretire] = sv->cams[i].cam;
        retire_ids[nretire++] = sv->cams[i].cfg->id;
        sv->cams[i].cam = NULL;
    }
    /* Stopped off the loop; a changed camera's new session waits for its old one. */
    supervisor_retire(sv, retire, retire_ids, nretire);
    free(sv->cams);
    sv->cams = cams;
    cams = NULL;
    sv->ncams = neu->ncameras;
    sv->cfg = neu;
    sv->nrunning = 0;
    for (size_t i = 0; i < neu->ncameras; i++) {
        if (sv->cams[i].cam) sv->nrunning++;
        if (start[i]) supervisor_start_camera(sv, i);
    }
out:
    free(cams);
    free(stop);
    free(start);
    free(retire);
    free(retire_ids);
    if (out) *out = sum;
}

void reload_summary_format(const reload_summary *s, char *buf, size_t len)
{
    snprintf(buf, len, "added %zu, removed %zu, restarted %zu, unchanged %zu", s->added, s->removed,
             s->restarted, s->unchanged);
}

static void audit(reload_ctx *c, const char *who, const char *action, const char *detail)
{
    index_audit a;
    index_audit_fill(&a, who, action, NULL, 0, 0, detail);
    index_audit_add(c->idx, &a);
}

int reload_run(reload_ctx *c, const char *who, char *err, size_t errlen)
{
    config *neu = NULL;
    char detail[256];
    reload_summary sum;
    int ret;
    err[0] = 0;
    if (c->ntf) notify_reloading(c->ntf);
    vg_log(LOG_NOTICE, "vigild: reloading %s (%s)", c->path, who);
    ret = config_load(c->path, &neu, err, errlen);
    if (ret == 0 && c->index_in_use && strcmp(neu->index_path, c->index_configured) == 0) {
        /* Running on a stand-in index (daemon/guard.c): the same index:
         * still means the file in use. */
        char *p = strdup(c->index_in_use);
        if (p) {
            free(neu->index_path);
            neu->index_path = p;
        } else {
            ret = -ENOMEM;
        }
    }
    if (ret == 0) ret = reload_check(*c->cfg, neu, err, errlen);
    if (ret < 0) {
        if (!err[0]) snprintf(err, errlen, "%s: %s", c->path, strerror(-ret));
        vg_log(LOG_ERR, "reload refused: %s", err);
        index_event_add(c->idx, vg_now_us(), NULL, "config_reload_failed", err);
        audit(c, who, "config_reload_failed", err);
        if (c->count) c->count(c->count_opaque, 0);
        config_free(&neu);
        if (c->ntf) notify_ready(c->ntf);
        return ret;
    }
    reload_apply(c->sup, neu, &sum);
    if (c->set_config) c->set_config(c->set_config_opaque, neu);
    if (c->scrub) storage_scrub_set_config(c->scrub, neu);
    if (c->rt) {
        int r = storage_retention_set_config(c->rt, neu);
        if (r < 0) vg_log(LOG_WARNING, "vigild: reload: retention limits: %s", strerror(-r));
    }
    config_free(c->cfg);
    *c->cfg = neu;
    reload_summary_format(&sum, detail, sizeof(detail));
    vg_log(LOG_NOTICE, "vigild: config reloaded: %s", detail);
    index_event_add(c->idx, vg_now_us(), NULL, "config_reloaded", detail);
    audit(c, who, "config_reload", detail);
    if (c->count) c->count(c->count_opaque, 1);
    if (c->ntf) notify_ready(c->ntf);
    return 0;
}
