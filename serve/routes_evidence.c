/*
 * The investigators' routes: evidence locks, coverage of an
 * area and signed exports. This file is their HTTP half (methods, query and
 * body validation, the camera list copied from the config on the loop
 * thread); evidence.c is the worker half that reads and writes the index and
 * signs. Each endpoint has a job struct of its own holding its arguments.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* Allocates a reply job of size bytes (the endpoint's struct, which starts
 * with a serve__reply_job); NULL when answered 503. */
static void *reply_job_new(h2o_req_t *req, size_t size)
{
    void *j = calloc(1, size);
    if (!j) serve__send_error(req, 503, "out of memory");
    return j;
}

/* ---- locks ---- */

typedef struct lock_create_job {
    serve__reply_job rj;
    index_lock lock;
} lock_create_job;

static int lock_create_work(serve__job *base, index_reader *r)
{
    (void)r;
    lock_create_job *j = vg_container_of(base, lock_create_job, rj.base);
    serve__locks_create(base->s->index_path, base->s->idx, &j->lock, &j->rj.reply);
    return 0;
}

static const serve__job_ops lock_create_ops = {
    .work = lock_create_work, .done = serve__reply_job_done, .free = serve__reply_job_free};

typedef struct locks_list_job {
    serve__reply_job rj;
    char camera[INDEX_ID_MAX];
    int all;
} locks_list_job;

static int locks_list_work(serve__job *base, index_reader *r)
{
    (void)r;
    locks_list_job *j = vg_container_of(base, locks_list_job, rj.base);
    serve__locks_list(base->s->index_path, j->camera[0] ? j->camera : NULL, j->all, &j->rj.reply);
    return 0;
}

static const serve__job_ops locks_list_ops = {
    .work = locks_list_work, .done = serve__reply_job_done, .free = serve__reply_job_free};

typedef struct lock_release_job {
    serve__reply_job rj;
    int64_t id;
    bool admin;
    char reason[256];
} lock_release_job;

static int lock_release_work(serve__job *base, index_reader *r)
{
    (void)r;
    lock_release_job *j = vg_container_of(base, lock_release_job, rj.base);
    serve__locks_release(base->s->index_path, base->s->idx, j->id, base->who, j->admin, j->reason,
                         &j->rj.reply);
    return 0;
}

static const serve__job_ops lock_release_ops = {
    .work = lock_release_work, .done = serve__reply_job_done, .free = serve__reply_job_free};

/* POST /api/locks {"camera","start","end","reason"[,"until"]} */
static void lock_create(serve_ctx *s, h2o_req_t *req, const char *who)
{
    json_t *b = NULL;
    index_lock l;
    bool hs, he, hu;
    memset(&l, 0, sizeof(l));
    if (serve__body_object(req, &b) < 0) return;
    if (!b) {
        serve__send_error(req, 400, "a JSON body {camera, start, end, reason[, until]} is required");
        return;
    }
    const char *bad = NULL;
    if (!serve__member_str(b, "camera", l.camera, sizeof(l.camera)) || !l.camera[0])
        bad = "camera is required";
    else if (!serve__member_str(b, "reason", l.reason, sizeof(l.reason)) || !l.reason[0])
        bad = "reason is required (at most 255 bytes)";
    else if (serve__member_time(b, "start", &l.start_us, &hs) < 0 || !hs ||
             serve__member_time(b, "end", &l.end_us, &he) < 0 || !he)
        bad = "start and end are required (RFC 3339 or Unix seconds)";
    else if (l.end_us <= l.start_us)
        bad = "end must be after start";
    else if (serve__member_time(b, "until", &l.until_us, &hu) < 0)
        bad = "malformed until";
    else if (hu && l.until_us <= vg_now_us())
        bad = "until must be in the future";
    json_decref(b);
    if (bad) {
        serve__send_error(req, 400, bad);
        return;
    }
    if (!s->cfg || !config_find_camera(s->cfg, l.camera)) {
        serve__send_error(req, 404, "unknown camera");
        return;
    }
    snprintf(l.created_by, sizeof(l.created_by), "%s", who);
    lock_create_job *j = reply_job_new(req, sizeof(*j));
    if (!j) return;
    j->lock = l;
    serve__job_queue(s, req, who, &j->rj.base, &lock_create_ops);
}

/* GET /api/locks[?camera=&all=1] */
static void locks_list(serve_ctx *s, h2o_req_t *req, const char *who)
{
    char cam[INDEX_ID_MAX] = "", all[8] = "";
    if (serve__query_string(req, "camera", cam, sizeof(cam)) < 0 ||
        serve__query_string(req, "all", all, sizeof(all)) < 0) {
        serve__send_error(req, 400, "malformed query");
        return;
    }
    locks_list_job *j = reply_job_new(req, sizeof(*j));
    if (!j) return;
    snprintf(j->camera, sizeof(j->camera), "%s", cam);
    j->all = all[0] && strcmp(all, "0") != 0 && strcmp(all, "false") != 0;
    serve__job_queue(s, req, who, &j->rj.base, &locks_list_ops);
}

bool serve__caller_is_admin(const serve_ctx *s, const char *who)
{
    if (!s->cfg->auth_enabled) return true;
    for (size_t i = 0; i < s->cfg->ntokens; i++)
        if (strcmp(s->cfg->tokens[i].name, who) == 0)
            return config_role_covers(s->cfg->tokens[i].role, CONFIG_ROLE_ADMIN);
    return false;
}

/* DELETE /api/locks/{id} {"reason"} */
static void lock_release(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                         size_t rlen)
{
    char idb[24];
    char *e;
    if (rlen >= sizeof(idb)) {
        serve__send_error(req, 404, "no such lock");
        return;
    }
    memcpy(idb, rest, rlen);
    idb[rlen] = 0;
    long long id = strtoll(idb, &e, 10);
    if (*e || id <= 0) {
        serve__send_error(req, 404, "no such lock");
        return;
    }
    if (!serve__method_is(req, "DELETE")) {
        serve__send_405(req, "DELETE");
        return;
    }
    json_t *b = NULL;
    char why[256] = "";
    if (serve__body_object(req, &b) < 0) return;
    if (!b || !serve__member_str(b, "reason", why, sizeof(why)) || !why[0]) {
        json_decref(b);
        serve__send_error(req, 400, "a JSON body {reason} is required (at most 255 bytes)");
        return;
    }
    json_decref(b);
    lock_release_job *j = reply_job_new(req, sizeof(*j));
    if (!j) return;
    j->id = id;
    j->admin = serve__caller_is_admin(s, who);
    snprintf(j->reason, sizeof(j->reason), "%s", why);
    serve__job_queue(s, req, who, &j->rj.base, &lock_release_ops);
}

static void locks(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest, size_t rlen)
{
    if (rlen > 0) {
        lock_release(s, req, who, rest, rlen);
    } else if (serve__method_is(req, "POST")) {
        lock_create(s, req, who);
    } else if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
        serve__send_405(req, "GET, HEAD, POST");
    } else {
        locks_list(s, req, who);
    }
}

/* ---- areas: cameras copied from the config for a worker ---- */

static void area_cam_fill(serve__area_cam *a, const config_camera *c)
{
    snprintf(a->id, sizeof(a->id), "%s", c->id);
    snprintf(a->name, sizeof(a->name), "%s", c->name ? c->name : c->id);
    snprintf(a->district, sizeof(a->district), "%s", c->district ? c->district : "");
    snprintf(a->site, sizeof(a->site), "%s", config_site_name(c->site));
}

int serve__area_cams(serve_ctx *s, const char *district, const char *site, serve__area_cam **out,
                     size_t *n)
{
    size_t nc = s->cfg ? s->cfg->ncameras : 0, k = 0;
    serve__area_cam *v = calloc(nc ? nc : 1, sizeof(*v));
    if (!v) return -ENOMEM;
    for (size_t i = 0; i < nc; i++) {
        const config_camera *c = &s->cfg->cameras[i];
        if (district && strcmp(district, c->district ? c->district : "") != 0) continue;
        if (site && strcmp(site, config_site_name(c->site)) != 0) continue;
        area_cam_fill(&v[k++], c);
    }
    *out = v;
    *n = k;
    return 0;
}

int serve__area_all(serve_ctx *s, serve__area_cam **out, size_t *n)
{
    return serve__area_cams(s, NULL, NULL, out, n);
}

int serve__area_from_body(serve_ctx *s, json_t *b, serve__area_cam **out, size_t *n,
                          const char **bad)
{
    char district[256] = "", site[64] = "";
    json_t *cams = json_object_get(b, "cameras");
    bool hd = json_object_get(b, "district") != NULL, hsi = json_object_get(b, "site") != NULL;
    serve__area_cam *v = NULL;
    size_t k = 0;
    int status = 400;
    *bad = NULL;
    if (!cams == !(hd || hsi))
        *bad = "either cameras or district/site is required";
    else if (cams && (!json_is_array(cams) || json_array_size(cams) == 0))
        *bad = "cameras must be a non-empty array of camera ids";
    else if ((hd && !serve__member_str(b, "district", district, sizeof(district))) ||
             (hsi && !serve__member_str(b, "site", site, sizeof(site))))
        *bad = "district and site must be strings";
    if (*bad) goto out;
    if (cams) {
        size_t i;
        json_t *c;
        if (!(v = calloc(json_array_size(cams), sizeof(*v)))) {
            *bad = "out of memory", status = 503;
            goto out;
        }
        json_array_foreach(cams, i, c) {
            const config_camera *cc = json_is_string(c) && s->cfg
                                          ? config_find_camera(s->cfg, json_string_value(c))
                                          : NULL;
            if (!cc) {
                *bad = json_is_string(c) ? "unknown camera" : "cameras must be camera ids";
                status = json_is_string(c) ? 404 : 400;
                goto out;
            }
            bool dup = false; /* the same camera twice: one lock */
            for (size_t x = 0; x < k && !dup; x++) dup = !strcmp(v[x].id, cc->id);
            if (!dup) area_cam_fill(&v[k++], cc);
        }
    } else if (serve__area_cams(s, hd ? district : NULL, hsi ? site : NULL, &v, &k) < 0) {
        *bad = "out of memory", status = 503;
        goto out;
    } else if (k == 0) {
        *bad = "no camera in that area", status = 404;
        goto out;
    }
    *out = v, *n = k;
    v = NULL;
    status = 0;
out:
    free(v);
    return status;
}

/* A reply job over a set of cameras (coverage, export creation). */
typedef struct area_job {
    serve__reply_job rj;
    serve__area_cam *cams; /* owned */
    size_t ncams;
    int64_t start_us, end_us, until_us;
    char reason[256];
} area_job;

static void area_job_free(serve__job *base)
{
    area_job *j = vg_container_of(base, area_job, rj.base);
    free(j->cams);
    serve__reply_job_free(base);
}

/* ---- GET /api/coverage?district=&site=&start=&end= ---- */

static int coverage_work(serve__job *base, index_reader *r)
{
    area_job *j = vg_container_of(base, area_job, rj.base);
    serve__coverage(r, j->cams, j->ncams, j->start_us, j->end_us, true, &j->rj.reply);
    return serve__reply_job_status(&j->rj);
}

static const serve__job_ops coverage_ops = {
    .need_reader = true, .work = coverage_work, .done = serve__reply_job_done, .free = area_job_free};

static void coverage(serve_ctx *s, h2o_req_t *req, const char *who)
{
    int64_t start = 0, end = 0;
    bool hs, he;
    char district[256], site[64];
    if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
        serve__send_405(req, "GET, HEAD");
        return;
    }
    int hd = serve__query_string(req, "district", district, sizeof(district));
    int hsi = serve__query_string(req, "site", site, sizeof(site));
    if (hd < 0 || hsi < 0 || serve__query_time(req, "start", &start, &hs) < 0 ||
        serve__query_time(req, "end", &end, &he) < 0) {
        serve__send_error(req, 400, "malformed query");
        return;
    }
    if (!hs || !he || !serve__range_ok(start, end, SERVE__MAX_QUERY_US)) {
        serve__send_error(req, 400, "start and end are required, end after start (at most 366 days)");
        return;
    }
    area_job *j = reply_job_new(req, sizeof(*j));
    if (!j) return;
    if (serve__area_cams(s, hd > 0 ? district : NULL, hsi > 0 ? site : NULL, &j->cams,
                         &j->ncams) < 0) {
        free(j);
        serve__send_error(req, 503, "out of memory");
        return;
    }
    j->start_us = start, j->end_us = end;
    serve__job_queue(s, req, who, &j->rj.base, &coverage_ops);
}

/* ---- exports ---- */

static int export_create_work(serve__job *base, index_reader *r)
{
    area_job *j = vg_container_of(base, area_job, rj.base);
    serve_ctx *s = base->s;
    serve__export_req q = {.index_path = s->index_path, .idx = s->idx, .sk = s->sign_sk,
                           .pk = s->sign_pk, .who = base->who, .reason = j->reason,
                           .start_us = j->start_us, .end_us = j->end_us, .until_us = j->until_us,
                           .cams = j->cams, .ncams = j->ncams, .abspath = serve__abspath,
                           .abspath_opaque = s};
    media_pins pins = serve__pins_media(s->pins);
    q.pins = &pins;
    serve__export_create(r, &q, &j->rj.reply);
    return serve__reply_job_status(&j->rj);
}

static const serve__job_ops export_create_ops = {.need_reader = true,
                                                 .work = export_create_work,
                                                 .done = serve__reply_job_done,
                                                 .free = area_job_free};

typedef struct export_get_job {
    serve__reply_job rj;
    int64_t id;
} export_get_job;

static int export_get_work(serve__job *base, index_reader *r)
{
    (void)r;
    export_get_job *j = vg_container_of(base, export_get_job, rj.base);
    serve__export_get(base->s->index_path, j->id, &j->rj.reply);
    return 0;
}

static const serve__job_ops export_get_ops = {
    .work = export_get_work, .done = serve__reply_job_done, .free = serve__reply_job_free};

/* POST /api/exports {"cameras":[ids] | "district"[, "site"], "start","end","reason"[,"until"]} */
static void export_create(serve_ctx *s, h2o_req_t *req, const char *who)
{
    json_t *b = NULL;
    area_job *j = NULL;
    const char *bad = NULL;
    int status = 400;
    int64_t start = 0, end = 0, until = 0;
    bool hs, he, hu;
    char reason[256];
    if (!s->have_key) {
        serve__send_error(req, 503, "no export signing key (see the log)");
        return;
    }
    if (serve__body_object(req, &b) < 0) return;
    if (!b) {
        serve__send_error(req, 400, "a JSON body {cameras | district, start, end, reason} is required");
        return;
    }
    if (!serve__member_str(b, "reason", reason, sizeof(reason)) || !reason[0])
        bad = "reason is required (at most 255 bytes)";
    else if (serve__member_time(b, "start", &start, &hs) < 0 || !hs ||
             serve__member_time(b, "end", &end, &he) < 0 || !he)
        bad = "start and end are required (RFC 3339 or Unix seconds)";
    else if (!serve__range_ok(start, end, SERVE__MAX_CLIP_US))
        bad = "end must be after start (at most 24 h)";
    else if (serve__member_time(b, "until", &until, &hu) < 0 || (hu && until <= vg_now_us()))
        bad = "until must be a time in the future";
    if (bad) goto out;
    if (!(j = calloc(1, sizeof(*j)))) {
        bad = "out of memory", status = 503;
        goto out;
    }
    if ((status = serve__area_from_body(s, b, &j->cams, &j->ncams, &bad)) != 0) goto out;
    snprintf(j->reason, sizeof(j->reason), "%s", reason);
    j->start_us = start, j->end_us = end, j->until_us = hu ? until : 0;
    serve__job_queue(s, req, who, &j->rj.base, &export_create_ops);
    j = NULL;
out:
    json_decref(b);
    if (j) {
        free(j->cams);
        free(j);
    }
    if (bad) serve__send_error(req, status, bad);
}

static void exports(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest, size_t rlen)
{
    if (rlen == 0) {
        if (serve__method_is(req, "POST"))
            export_create(s, req, who);
        else
            serve__send_405(req, "POST");
        return;
    }
    if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
        serve__send_405(req, "GET, HEAD");
        return;
    }
    if (rlen == 10 && memcmp(rest, "public-key", 10) == 0) {
        if (!s->have_key) {
            serve__send_error(req, 503, "no export signing key (see the log)");
            return;
        }
        char *pk = vg_base64(s->sign_pk, SERVE__SIGN_PK);
        if (!pk) {
            serve__send_error(req, 503, "out of memory");
            return;
        }
        serve__send_json(req, 200, json_pack("{s:s,s:s}", "algorithm", "Ed25519", "public_key", pk));
        free(pk);
        return;
    }
    char idb[24];
    char *e;
    long long id = 0;
    if (rlen < sizeof(idb)) {
        memcpy(idb, rest, rlen);
        idb[rlen] = 0;
        id = strtoll(idb, &e, 10);
        if (*e) id = 0;
    }
    if (id <= 0) {
        serve__send_error(req, 404, "no such export");
        return;
    }
    export_get_job *j = reply_job_new(req, sizeof(*j));
    if (!j) return;
    j->id = id;
    serve__job_queue(s, req, who, &j->rj.base, &export_get_ops);
}

/* ---- GET /api/exports/{id}/bundle.zip ---- */

typedef struct bundle_job {
    serve__job base;
    int64_t id;
    int err;
    bool slot; /* holds a download slot until the stream takes it */
    serve__bundle *b;
    uint64_t len;
    index_export ex;
} bundle_job;

static int bundle_work(serve__job *base, index_reader *r)
{
    bundle_job *j = vg_container_of(base, bundle_job, base);
    serve_ctx *s = base->s;
    media_pins pins = serve__pins_media(s->pins);
    serve__bundle_req q = {.index_path = s->index_path, .export_id = j->id, .sk = s->sign_sk,
                           .pk = s->sign_pk, .abspath = serve__abspath, .abspath_opaque = s,
                           .pins = &pins};
    j->err = serve__bundle_open(r, &q, &j->b, &j->len, &j->ex);
    return j->err == -ESTALE || j->err == -ENOTSUP ? 0 : j->err;
}

static int bundle_read(void *opaque, uint64_t pos, uint8_t *buf, size_t len)
{
    return serve__bundle_read(opaque, pos, buf, len);
}

static void bundle_body_free(void *opaque)
{
    serve__bundle *b = opaque;
    serve__bundle_free(&b);
}

static void bundle_done(serve__job *base, h2o_req_t *req)
{
    bundle_job *j = vg_container_of(base, bundle_job, base);
    char hv[96];
    if (j->err == -ENOENT) {
        serve__send_error(req, 404, "no such export");
        return;
    }
    if (j->err == -ESTALE) {
        serve__send_error(req, 409, "footage of this export is gone or changed since it was "
                          "signed (see the log)");
        return;
    }
    if (j->err == -ENOTSUP) {
        serve__send_error(req, 409, "this export predates hashed clips: export the range again");
        return;
    }
    if (j->err < 0) {
        serve__send_errno(req, j->err, "cannot build the bundle");
        return;
    }
    json_t *d = json_pack("{s:I,s:I}", "export", (json_int_t)j->id, "bytes", (json_int_t)j->len);
    serve__audit(base->s, base->who, "export_bundle", NULL, j->ex.start_us, j->ex.end_us, d);
    json_decref(d);
    snprintf(hv, sizeof(hv), "attachment; filename=\"export-%" PRId64 ".zip\"", j->id);
    serve__add_header(req, H2O_TOKEN_CONTENT_DISPOSITION, hv);
    serve__add_header(req, H2O_TOKEN_CONTENT_TYPE, "application/zip");
    serve__add_header(req, H2O_TOKEN_CACHE_CONTROL, "private, no-store");
    req->res.status = 200;
    req->res.reason = serve__reason(200);
    req->res.content_length = (size_t)j->len;
    serve__body body = {.opaque = j->b, .read = bundle_read, .free = bundle_body_free};
    j->b = NULL;
    serve__stream_start(base->s, req, &body, 0, j->len, base->who, &j->slot);
}

static void bundle_free(serve__job *base)
{
    bundle_job *j = vg_container_of(base, bundle_job, base);
    if (j->slot) serve__slots_give(j->base.s->slots, SERVE__SLOT_DOWNLOAD, j->base.who);
    serve__bundle_free(&j->b);
    free(j);
}

static const serve__job_ops bundle_ops = {
    .need_reader = true, .work = bundle_work, .done = bundle_done, .free = bundle_free};

static void export_bundle(serve_ctx *s, h2o_req_t *req, const char *who, int64_t id)
{
    if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
        serve__send_405(req, "GET, HEAD");
        return;
    }
    if (!s->have_key) {
        serve__send_error(req, 503, "no export signing key (see the log)");
        return;
    }
    bundle_job *j = calloc(1, sizeof(*j));
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return;
    }
    /* A bundle is a download (of every clip of the export): it holds a slot. */
    int r = serve__slots_take(s->slots, SERVE__SLOT_DOWNLOAD, who, s->cfg->http.max_downloads,
                              s->cfg->http.max_downloads_per_token);
    if (r < 0) {
        free(j);
        serve__slots_refuse(req, SERVE__SLOT_DOWNLOAD, r);
        return;
    }
    j->slot = true;
    j->id = id;
    serve__job_queue(s, req, who, &j->base, &bundle_ops);
}

/* ---- registration ---- */

/* rest after the route's path: "" or "/x"; a second level is unknown. */
static bool split_rest(h2o_req_t *req, const char **rest, size_t *rlen, bool allow_id)
{
    if (*rlen > 0) (*rest)++, (*rlen)--; /* the '/' */
    if (memchr(*rest, '/', *rlen) || (!allow_id && *rlen)) {
        serve__send_error(req, 404, "not found");
        return false;
    }
    return true;
}

static int route_locks(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest, size_t rlen)
{
    if (split_rest(req, &rest, &rlen, true)) locks(s, req, who, rest, rlen);
    return 0;
}

static int route_coverage(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                          size_t rlen)
{
    if (split_rest(req, &rest, &rlen, false)) coverage(s, req, who);
    return 0;
}

static int route_exports(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                         size_t rlen)
{
    static const char suffix[] = "/bundle.zip";
    const size_t sl = sizeof(suffix) - 1;
    if (rlen > 1 + sl && memcmp(rest + rlen - sl, suffix, sl) == 0) {
        /* /{id}/bundle.zip */
        char idb[24], *e;
        size_t n = rlen - 1 - sl;
        long long id = 0;
        if (n < sizeof(idb)) {
            memcpy(idb, rest + 1, n);
            idb[n] = 0;
            id = strtoll(idb, &e, 10);
            if (*e || e == idb) id = 0;
        }
        if (id <= 0)
            serve__send_error(req, 404, "no such export");
        else
            export_bundle(s, req, who, id);
        return 0;
    }
    if (split_rest(req, &rest, &rlen, true)) exports(s, req, who, rest, rlen);
    return 0;
}

void serve__routes_evidence(serve_ctx *s, h2o_hostconf_t *host)
{
    serve__route_add(s, host, "/api/locks", route_locks);
    serve__route_add(s, host, "/api/coverage", route_coverage);
    serve__route_add(s, host, "/api/exports", route_exports);
}
