/*
 * The operator's routes: GET /healthz (open), and for admins GET /metrics
 * (Prometheus text), GET /api/audit (the audit trail), POST /api/reload
 * (reload the config, as SIGHUP does) and GET /api/reload (what the last
 * reload did). Each is registered as an exact path:
 * anything below it is unknown.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* ---- GET /healthz {"ok":true,"downloads":N,"pinned_segments":N,"index":{...}} ----
 * index is {"state":"ok"}, or {"state":"degraded","problem","fix","in_use"}
 * while vigild records on a stand-in for a lost or damaged index: the daemon
 * is alive and recording (200), but evidence needs an operator. */

static int route_healthz(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                         size_t rlen)
{
    (void)who, (void)rest;
    if (rlen) return -1;
    json_t *index = s->index_problem
                        ? json_pack("{s:s,s:s,s:s,s:s}", "state", "degraded", "problem",
                                    s->index_problem, "fix", s->index_fix, "in_use",
                                    s->index_in_use)
                        : json_pack("{s:s}", "state", "ok");
    serve__send_json(req, 200,
                     json_pack("{s:b,s:I,s:I,s:o}", "ok", 1, "downloads",
                               (json_int_t)s->ndownloads, "pinned_segments",
                               (json_int_t)serve__pins_count(s->pins), "index", index));
    return 0;
}

/* ---- GET /metrics ---- */

static int route_metrics(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                         size_t rlen)
{
    (void)who, (void)rest;
    if (rlen || (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD"))) return -1;
    size_t nc = s->cfg ? s->cfg->ncameras : 0, np = s->cfg ? s->cfg->npools : 0;
    serve_metrics_camera *cams = calloc(nc ? nc : 1, sizeof(*cams));
    serve_metrics_pool *pools = calloc(np ? np : 1, sizeof(*pools));
    char *text = NULL;
    size_t len = 0;
    serve_metrics_input in = {.now_us = vg_now_us(), .uptime_us = vg_mono_us() - s->started_us,
                              .cameras = cams, .ncameras = nc, .pools = pools, .npools = np};
    if (!cams || !pools) goto out;
    for (size_t i = 0; i < nc; i++) {
        const config_camera *c = &s->cfg->cameras[i];
        cams[i].id = c->id;
        cams[i].running = c->enabled && s->camera_stats &&
                          s->camera_stats(s->camera_stats_opaque, c->id, &cams[i].st) == 0 &&
                          cams[i].st.state != INGEST_DISABLED;
    }
    for (size_t i = 0; i < np; i++) {
        pools[i].id = s->cfg->pools[i].id;
        pools[i].have_usage = s->retention && storage_retention_pool_usage(
                                                  s->retention, pools[i].id, &pools[i].u) == 0;
        pools[i].have_sync = s->st && storage_pool_sync_stats(s->st, pools[i].id,
                                                              &pools[i].sync) == 0;
    }
    if (s->idx) {
        in.have_index = 1;
        index_writer_stats(s->idx, &in.index_queue_depth, &in.index_last_commit_us);
        in.index_max_commit_us = index_writer_max_commit_us(s->idx);
        in.audit_dropped = index_audit_dropped(s->idx);
    }
    if (s->retention) {
        in.have_retention = 1;
        in.events_expired = storage_retention_events_expired(s->retention);
    }
    if (s->mover) {
        in.have_mover = 1;
        storage_mover_get_stats(s->mover, &in.mover);
    }
    if (s->scrub) {
        in.have_scrub = 1;
        storage_scrub_get_stats(s->scrub, &in.scrub);
    }
    serve_stats(s, &in.downloads, &in.pinned_segments);
    in.have_loop = 1;
    in.loop_stall_max_us = s->lag_max_us;
    serve_metrics_render(s->metrics, &in, &text, &len);
    char *ltext = NULL;
    size_t llen = 0;
    if (text && serve__live_metrics(s->live, &ltext, &llen) == 0) {
        char *all = realloc(text, len + llen + 1);
        if (all) {
            memcpy(all + len, ltext, llen);
            len += llen;
            all[len] = 0;
            text = all;
        }
        free(ltext);
    }
out:
    if (text)
        serve__send_body(req, 200, SERVE_METRICS_CONTENT_TYPE, text, len);
    else
        serve__send_error(req, 503, "out of memory");
    free(text);
    free(cams);
    free(pools);
    return 0;
}

/* ---- GET /api/audit?start=&end=&camera=&who=&action=&before=&limit= ----
 * Oldest first, the newest limit rows (default 1000) of those matching: who
 * is the token's name, action exact ("lock_release"), before an id (the next
 * page back is before= the first id of this one). */

typedef struct audit_job {
    serve__job base;
    char camera[INDEX_ID_MAX], token[64], action[32];
    int64_t start_us, end_us, limit, before;
    int err;
    json_t *json;
} audit_job;

json_t *serve__audit_json(const index_audit *a)
{
    return json_pack("{s:I,s:o,s:s,s:s,s:o,s:o,s:o,s:s}", "id", (json_int_t)a->id, "time",
                     serve__json_time(a->time_us), "token", a->token, "action", a->action,
                     "camera", a->camera[0] ? json_string(a->camera) : json_null(), "start",
                     a->start_us || a->end_us ? serve__json_time(a->start_us) : json_null(),
                     "end", a->start_us || a->end_us ? serve__json_time(a->end_us) : json_null(),
                     "detail", a->detail);
}

static int on_audit_row(const index_audit *a, void *arg)
{
    return serve__append_row(arg, serve__audit_json(a), "audit row", a->id);
}

/* Its own connection per query (index/audit.c), no reader. */
static int audit_work(serve__job *base, index_reader *r)
{
    (void)r;
    audit_job *j = vg_container_of(base, audit_job, base);
    j->json = json_array();
    index_audit_filter f = {.camera = j->camera, .token = j->token, .action = j->action,
                            .start_us = j->start_us, .end_us = j->end_us,
                            .before_id = j->before, .limit = j->limit};
    j->err = j->json ? index_audit_query(base->s->index_path, &f, on_audit_row, j->json) : -ENOMEM;
    return j->err;
}

static void audit_done(serve__job *base, h2o_req_t *req)
{
    audit_job *j = vg_container_of(base, audit_job, base);
    if (j->err < 0) {
        char what[160];
        snprintf(what, sizeof(what), "for camera %s in that range", j->camera);
        serve__send_errno(req, j->err, what);
        return;
    }
    serve__send_json(req, 200, j->json);
    j->json = NULL;
}

static void audit_free(serve__job *base)
{
    audit_job *j = vg_container_of(base, audit_job, base);
    json_decref(j->json);
    free(j);
}

static const serve__job_ops audit_ops = {.work = audit_work, .done = audit_done, .free = audit_free};

static int route_audit(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                       size_t rlen)
{
    (void)rest;
    if (rlen || (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")))
        return serve__api_unknown(req);
    int64_t start = INT64_MIN, end = INT64_MAX;
    bool hs, he;
    char cam[INDEX_ID_MAX] = "", lim[24] = "", tok[64] = "", act[32] = "", bef[24] = "";
    if (serve__query_time(req, "start", &start, &hs) < 0 ||
        serve__query_time(req, "end", &end, &he) < 0 ||
        serve__query_string(req, "camera", cam, sizeof(cam)) < 0 ||
        serve__query_string(req, "who", tok, sizeof(tok)) < 0 ||
        serve__query_string(req, "action", act, sizeof(act)) < 0 ||
        serve__query_string(req, "before", bef, sizeof(bef)) < 0 ||
        serve__query_string(req, "limit", lim, sizeof(lim)) < 0) {
        serve__send_error(req, 400, "malformed query");
        return 0;
    }
    if (!hs) start = INT64_MIN;
    if (!he) end = INT64_MAX;
    audit_job *j = calloc(1, sizeof(*j));
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return 0;
    }
    snprintf(j->camera, sizeof(j->camera), "%s", cam);
    snprintf(j->token, sizeof(j->token), "%s", tok);
    snprintf(j->action, sizeof(j->action), "%s", act);
    j->before = bef[0] ? strtoll(bef, NULL, 10) : 0;
    j->start_us = start, j->end_us = end;
    j->limit = lim[0] ? strtoll(lim, NULL, 10) : 1000;
    serve__job_queue(s, req, who, &j->base, &audit_ops);
    return 0;
}

/* ---- POST /api/reload, GET /api/reload ----
 * POST answers {"ok":true} or 422 {"error"}, each with the outcome's fields
 * (reload.h: ok, time, who, reason, cameras {added, changed, removed,
 * unchanged}, sections); GET answers {"last": that outcome, or null before
 * the first reload since vigild started}, SIGHUP's reloads included. */

static json_t *reload_report(serve_ctx *s)
{
    char *text = s->reload_report ? s->reload_report(s->reload_opaque) : NULL;
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return o;
}

static int route_reload(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                        size_t rlen)
{
    (void)rest;
    char err[1024] = "", name[64];
    if (rlen) return serve__api_unknown(req);
    bool get = serve__method_is(req, "GET") || serve__method_is(req, "HEAD");
    if (!get && !serve__method_is(req, "POST")) {
        serve__send_405(req, "GET, HEAD, POST");
        return 0;
    }
    if (!s->reload) {
        serve__send_error(req, 404, "not found");
        return 0;
    }
    if (get) {
        json_t *last = reload_report(s);
        serve__send_json(req, 200, json_pack("{s:o}", "last", last ? last : json_null()));
        return 0;
    }
    snprintf(name, sizeof(name), "%s", who); /* who lives in the config being replaced */
    int r = s->reload(s->reload_opaque, name, err, sizeof(err));
    json_t *o = reload_report(s);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    if (r < 0) {
        json_object_set_new(o, "error", json_string(err[0] ? err : "reload refused"));
        json_object_set_new(o, "ok", json_false());
        serve__send_json(req, 422, o);
        return 0;
    }
    json_object_set_new(o, "ok", json_true());
    serve__send_json(req, 200, o);
    return 0;
}

void serve__routes_admin(serve_ctx *s, h2o_hostconf_t *host)
{
    serve__routes_session(s, host);
    serve__route_add(s, host, "/healthz", route_healthz);
    serve__route_add(s, host, "/metrics", route_metrics);
    serve__route_add(s, host, "/api/audit", route_audit);
    serve__route_add(s, host, "/api/reload", route_reload);
}
