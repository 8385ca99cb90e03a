/*
 * The camera routes: GET /api/cameras (the configured cameras with their
 * live status) and GET /api/cameras/{id}/{what}. One prefix handler takes
 * every path under /api/cameras, parses "{id}/{what}" once, checks that the
 * camera exists, and looks {what} up in camera_routes[]: a new per-camera
 * endpoint is one line there and a handler of the serve__camera_fn shape.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

#define RUN_TOLERANCE_US 1000000

/* ---- GET /api/cameras[?district=&site=] ---- */

static const char *state_name(ingest_state st)
{
    switch (st) {
    case INGEST_RECORDING: return "recording";
    case INGEST_CONNECTING: return "connecting";
    case INGEST_DISABLED: return "disabled";
    case INGEST_OFFLINE:
    default: return "offline";
    }
}

static void cameras_list(serve_ctx *s, h2o_req_t *req)
{
    char district[256], site[64];
    int hd = serve__query_string(req, "district", district, sizeof(district));
    int hs = serve__query_string(req, "site", site, sizeof(site));
    if (hd < 0 || hs < 0) {
        serve__send_error(req, 400, "malformed query");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; s->cfg && i < s->cfg->ncameras; i++) {
        const config_camera *c = &s->cfg->cameras[i];
        const char *sname = config_site_name(c->site);
        if (hd > 0 && strcmp(district, c->district ? c->district : "") != 0) continue;
        if (hs > 0 && strcmp(site, sname) != 0) continue;
        ingest_stats st;
        memset(&st, 0, sizeof(st));
        bool have = c->enabled && s->camera_stats &&
                    s->camera_stats(s->camera_stats_opaque, c->id, &st) == 0;
        const char *status = !c->enabled ? "disabled" : have ? state_name(st.state) : "offline";
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", c->id, "name", c->name ? c->name : c->id,
                              "district", c->district ? c->district : "", "site", sname, "status",
                              status);
        json_object_set_new(o, "codec", have && st.codec[0] ? json_string(st.codec) : json_null());
        json_object_set_new(o, "audio_codec",
                            have && st.audio_codec[0] ? json_string(st.audio_codec) : json_null());
        json_object_set_new(o, "width", have && st.width ? json_integer(st.width) : json_null());
        json_object_set_new(o, "height", have && st.height ? json_integer(st.height) : json_null());
        json_object_set_new(o, "fps", have && st.fps > 0 ? json_real(st.fps) : json_null());
        json_object_set_new(o, "bitrate_bps",
                            have && st.bitrate_bps > 0 ? json_integer(st.bitrate_bps) : json_null());
        json_object_set_new(o, "last_frame_at",
                            have && st.last_frame_us ? serve__json_time(st.last_frame_us) : json_null());
        /* The console's wall picks the sub stream for small tiles and shows
         * why a camera is down. */
        json_object_set_new(o, "sub", json_boolean(c->sub_url != NULL));
        /* The administration view's health table groups cameras by the pool they fill. */
        const config_pool *pool = config_camera_pool(s->cfg, c);
        json_object_set_new(o, "pool", pool ? json_string(pool->id) : json_null());
        json_object_set_new(o, "reason",
                            have && st.last_error[0] ? json_string(st.last_error) : json_null());
        json_array_append_new(arr, o);
    }
    serve__send_json(req, 200, arr);
}

/* ---- the query every footage route accepts ---- */

typedef struct cam_query {
    int64_t start, end, at;
    bool has_start, has_end, has_at;
    char export_id[24]; /* digits, or "" */
} cam_query;

/* start=, end=, at=, export=; false when answered (400). */
static bool cam_query_parse(h2o_req_t *req, cam_query *q)
{
    memset(q, 0, sizeof(*q));
    if (serve__query_time(req, "start", &q->start, &q->has_start) < 0 ||
        serve__query_time(req, "end", &q->end, &q->has_end) < 0 ||
        serve__query_time(req, "at", &q->at, &q->has_at) < 0) {
        serve__send_error(req, 400, "malformed time (RFC 3339 or Unix seconds, years 1 to 9999)");
        return false;
    }
    if (serve__query_string(req, "export", q->export_id, sizeof(q->export_id)) < 0 ||
        strspn(q->export_id, "0123456789") != strlen(q->export_id)) {
        serve__send_error(req, 400, "export must be an export id");
        return false;
    }
    return true;
}

/* stream=main (default) | sub: the index key of the footage asked for, the
 * camera's own id or its recorded sub stream's (config_sub_key()); false when
 * answered (400, 404). */
static bool footage_key(serve_ctx *s, h2o_req_t *req, const char *camera, char *key,
                        size_t len)
{
    char stream[8] = "main";
    if (serve__query_string(req, "stream", stream, sizeof(stream)) < 0 ||
        (strcmp(stream, "main") != 0 && strcmp(stream, "sub") != 0)) {
        serve__send_error(req, 400, "stream must be main or sub");
        return false;
    }
    if (!strcmp(stream, "main")) {
        snprintf(key, len, "%s", camera);
        return true;
    }
    const config_camera *cc = s->cfg ? config_find_camera(s->cfg, camera) : NULL;
    if (!cc || !cc->record_sub || config_sub_key(camera, key, len) < 0) {
        serve__send_error(req, 404, "this camera's sub stream is not recorded (record_sub)");
        return false;
    }
    return true;
}

static void what_for(char *out, size_t len, const char *camera)
{
    snprintf(out, len, "for camera %s in that range", camera);
}

/* ---- GET /api/cameras/{id}/recordings?start=&end= ---- */

typedef struct recordings_job {
    serve__job base;
    char camera[INDEX_ID_MAX]; /* the index key (footage_key()) */
    char id[INDEX_ID_MAX];     /* the camera's id, as asked */
    int64_t start_us, end_us;
    int err;
    json_t *json;
} recordings_job;

/* The runs as times: the gaps are computed from them, and both are turned
 * into JSON once at the end. */
typedef struct seg_acc {
    int64_t (*runs)[2]; /* malloc'd */
    size_t nruns, cap;
    int64_t start, end, run_start, run_end;
    bool have;
} seg_acc;

static int add_run(seg_acc *a)
{
    if (a->nruns == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        void *p = realloc(a->runs, cap * sizeof(*a->runs));
        if (!p) return -ENOMEM;
        a->runs = p, a->cap = cap;
    }
    a->runs[a->nruns][0] = a->run_start;
    a->runs[a->nruns++][1] = a->run_end;
    return 0;
}

static int on_span(const index_span *seg, void *arg)
{
    seg_acc *a = arg;
    int64_t s = seg->start_us < a->start ? a->start : seg->start_us;
    int64_t e = seg->end_us > a->end ? a->end : seg->end_us;
    if (e <= s) return 0;
    if (a->have && s <= a->run_end + RUN_TOLERANCE_US) {
        if (e > a->run_end) a->run_end = e;
        return 0;
    }
    if (a->have && add_run(a) < 0) return -ENOMEM;
    a->have = true;
    a->run_start = s, a->run_end = e;
    return 0;
}

static int append_range(json_t *arr, int64_t start, int64_t end)
{
    return json_array_append_new(arr, json_pack("{s:o,s:o}", "start", serve__json_time(start),
                                                "end", serve__json_time(end)));
}

static int recordings_work(serve__job *base, index_reader *r)
{
    recordings_job *j = vg_container_of(base, recordings_job, base);
    seg_acc a = {.start = j->start_us, .end = j->end_us};
    int ret = index_query_spans(r, j->camera, j->start_us, j->end_us, on_span, &a);
    if (ret == 0 && a.have) ret = add_run(&a);
    json_t *runs = json_array(), *gaps = json_array();
    if (ret == 0 && (!runs || !gaps)) ret = -ENOMEM;
    for (size_t i = 0; ret == 0 && i < a.nruns; i++)
        if (append_range(runs, a.runs[i][0], a.runs[i][1]) < 0) ret = -ENOMEM;
    /* Gaps: the complement of the runs within [start, min(end, now)). */
    int64_t now = vg_now_us(), lim = j->end_us < now ? j->end_us : now, cur = j->start_us;
    for (size_t i = 0; ret == 0 && i < a.nruns; i++) {
        int64_t rs = a.runs[i][0], re = a.runs[i][1];
        if (rs > cur && cur < lim && append_range(gaps, cur, rs < lim ? rs : lim) < 0)
            ret = -ENOMEM;
        if (re > cur) cur = re;
    }
    if (ret == 0 && cur < lim && append_range(gaps, cur, lim) < 0) ret = -ENOMEM;
    free(a.runs);
    if (ret < 0) {
        json_decref(runs);
        json_decref(gaps);
        return j->err = ret;
    }
    j->json = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "camera", j->id, "stream",
                        strcmp(j->id, j->camera) ? "sub" : "main", "start",
                        serve__json_time(j->start_us), "end", serve__json_time(j->end_us), "runs",
                        runs, "gaps", gaps);
    if (!j->json) j->err = -ENOMEM;
    return j->err;
}

static void recordings_done(serve__job *base, h2o_req_t *req)
{
    recordings_job *j = vg_container_of(base, recordings_job, base);
    char what[160];
    if (j->err < 0) {
        what_for(what, sizeof(what), j->camera);
        serve__send_errno(req, j->err, what);
        return;
    }
    serve__send_json(req, 200, j->json);
    j->json = NULL;
}

static void recordings_free(serve__job *base)
{
    recordings_job *j = vg_container_of(base, recordings_job, base);
    json_decref(j->json);
    free(j);
}

static const serve__job_ops recordings_ops = {
    .need_reader = true, .work = recordings_work, .done = recordings_done, .free = recordings_free};

static void camera_recordings(serve_ctx *s, h2o_req_t *req, const char *who, const char *id)
{
    cam_query q;
    char camera[INDEX_ID_MAX];
    if (!cam_query_parse(req, &q) || !footage_key(s, req, id, camera, sizeof(camera))) return;
    if (!q.has_end) q.end = vg_now_us();
    if (!q.has_start) q.start = q.end - 24LL * 3600 * 1000000;
    if (!serve__range_ok(q.start, q.end, SERVE__MAX_QUERY_US)) {
        serve__send_error(req, 400, "end must be after start (at most 366 days)");
        return;
    }
    recordings_job *j = calloc(1, sizeof(*j));
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return;
    }
    snprintf(j->camera, sizeof(j->camera), "%s", camera);
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->start_us = q.start, j->end_us = q.end;
    serve__job_queue(s, req, who, &j->base, &recordings_ops);
}

/* ---- GET /api/cameras/{id}/clip.mp4?start=&end=[&export=] ---- */

/* The role of the token named who (loop thread: reads the config); without
 * auth: every caller is admin (serve/auth.h). */
static config_role caller_role(const serve_ctx *s, const char *who)
{
    if (!s->cfg || !s->cfg->auth_enabled) return CONFIG_ROLE_ADMIN;
    for (size_t i = 0; i < s->cfg->ntokens; i++)
        if (!strcmp(s->cfg->tokens[i].name, who)) return s->cfg->tokens[i].role;
    return (config_role)0;
}

typedef struct clip_job {
    serve__job base;
    char camera[INDEX_ID_MAX];
    int64_t start_us, end_us;
    char export_id[24]; /* requested with export=ID (audited as "export") */
    int err;
    bool slot; /* holds a download slot until the download takes it */
    int refused;        /* export=ID does not hold: 403/404 with why */
    char why[160];
    media_clip *clip;
} clip_job;

/* Whether export id exists and covers this clip: camera among its cameras,
 * [start, end) within its range. The export's manifest (index/exports.c)
 * is the record of what it covers. Worker thread. 0 (refused set when it
 * does not hold) or negative. */
static int export_check(clip_job *j)
{
    index_export e;
    char *manifest = NULL, *sig = NULL;
    long long id = strtoll(j->export_id, NULL, 10);
    int ret = index_export_get(j->base.s->index_path, id, &e, &manifest, &sig);
    if (ret == -ENOENT) {
        j->refused = 404;
        snprintf(j->why, sizeof(j->why), "no such export: %lld", id);
        return 0;
    }
    if (ret < 0) return ret;
    json_t *m = json_loads(manifest, 0, NULL);
    json_t *cams = json_object_get(m, "cameras"), *c;
    size_t i;
    bool found = false;
    json_array_foreach(cams, i, c) {
        const char *cid = json_string_value(json_object_get(c, "id"));
        if (cid && !strcmp(cid, j->camera)) found = true;
    }
    if (!m) {
        ret = -EBADMSG;
    } else if (!found) {
        j->refused = 403;
        snprintf(j->why, sizeof(j->why), "export %lld does not cover camera %s", id, j->camera);
    } else if (j->start_us < e.start_us || j->end_us > e.end_us) {
        j->refused = 403;
        snprintf(j->why, sizeof(j->why), "export %lld does not cover that range", id);
    }
    json_decref(m);
    free(manifest);
    free(sig);
    return ret;
}

static int clip_work(serve__job *base, index_reader *r)
{
    clip_job *j = vg_container_of(base, clip_job, base);
    if (j->export_id[0] && ((j->err = export_check(j)) < 0 || j->refused)) return j->err;
    media_pins pins = serve__pins_media(j->base.s->pins);
    j->err = media_clip_open(r, serve__abspath, j->base.s, &pins, j->camera, j->start_us,
                             j->end_us, &j->clip);
    return j->err;
}

static void clip_done(serve__job *base, h2o_req_t *req)
{
    clip_job *j = vg_container_of(base, clip_job, base);
    char what[160];
    if (j->refused) {
        serve__send_error(req, j->refused, j->why);
        return;
    }
    if (j->err < 0) {
        what_for(what, sizeof(what), j->camera);
        serve__send_errno(req, j->err, what);
        return;
    }
    serve__download_start(j->base.s, req, &j->clip, j->camera, j->base.who, j->export_id,
                          &j->slot);
}

static void clip_free(serve__job *base)
{
    clip_job *j = vg_container_of(base, clip_job, base);
    if (j->slot) serve__slots_give(j->base.s->slots, SERVE__SLOT_DOWNLOAD, j->base.who);
    media_clip_free(&j->clip);
    free(j);
}

static const serve__job_ops clip_ops = {
    .need_reader = true, .work = clip_work, .done = clip_done, .free = clip_free};

static void camera_clip(serve_ctx *s, h2o_req_t *req, const char *who, const char *id)
{
    cam_query q;
    char camera[INDEX_ID_MAX];
    if (!cam_query_parse(req, &q) || !footage_key(s, req, id, camera, sizeof(camera))) return;
    if (!q.has_start || !q.has_end) {
        serve__send_error(req, 400, "start and end are required");
        return;
    }
    if (!serve__range_ok(q.start, q.end, SERVE__MAX_CLIP_US)) {
        serve__send_error(req, 400, "end must be after start (at most 24 h)");
        return;
    }
    /* A download under an export is the export's: only those who may read
     * exports (investigators and admins) can make one. */
    if (q.export_id[0] && !config_role_covers(caller_role(s, who), CONFIG_ROLE_INVESTIGATOR)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "token '%s' may not download under an export (needs %s)", who,
                 config_role_name(CONFIG_ROLE_INVESTIGATOR));
        serve__send_error(req, 403, msg);
        return;
    }
    clip_job *j = calloc(1, sizeof(*j));
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return;
    }
    /* The slot is held from here (planning reads the index and pins) to the
     * end of the download. */
    int r = serve__slots_take(s->slots, SERVE__SLOT_DOWNLOAD, who, s->cfg->http.max_downloads,
                              s->cfg->http.max_downloads_per_token);
    if (r < 0) {
        free(j);
        serve__slots_refuse(req, SERVE__SLOT_DOWNLOAD, r);
        return;
    }
    j->slot = true;
    snprintf(j->camera, sizeof(j->camera), "%s", camera);
    j->start_us = q.start, j->end_us = q.end;
    snprintf(j->export_id, sizeof(j->export_id), "%s", q.export_id);
    serve__job_queue(s, req, who, &j->base, &clip_ops);
}

/* ---- GET /api/cameras/{id}/snapshot.jpg?at= ---- */

typedef struct snapshot_job {
    serve__job base;
    char camera[INDEX_ID_MAX];
    int64_t at_us, frame_us;
    int64_t max_pixels; /* http.snapshot_max_pixels when asked */
    int width, height;  /* of the frame, set when it is refused as too large */
    int err;
    uint8_t *jpeg;
    size_t jpeg_len;
} snapshot_job;

static int snapshot_work(serve__job *base, index_reader *r)
{
    snapshot_job *j = vg_container_of(base, snapshot_job, base);
    j->err = serve__snapshot(r, serve__abspath, j->base.s, j->camera, j->at_us, j->max_pixels,
                             &j->width, &j->height, &j->jpeg, &j->jpeg_len, &j->frame_us);
    return j->err;
}

static void snapshot_done(serve__job *base, h2o_req_t *req)
{
    snapshot_job *j = vg_container_of(base, snapshot_job, base);
    char t[VG_TIME_LEN], cd[200];
    if (j->err == -E2BIG) {
        snprintf(cd, sizeof(cd), "the frame (%dx%d) has more pixels than http.snapshot_max_pixels "
                 "(%lld)", j->width, j->height, (long long)j->max_pixels);
        serve__send_error(req, 400, cd);
        return;
    }
    if (j->err < 0) {
        what_for(cd, sizeof(cd), j->camera);
        serve__send_errno(req, j->err, cd);
        return;
    }
    serve__add_header_str(req, "x-frame-time", vg_time_format(j->frame_us, t, sizeof(t)));
    snprintf(cd, sizeof(cd), "inline; filename=\"%s_%s.jpg\"", j->camera, t);
    serve__add_header(req, H2O_TOKEN_CONTENT_DISPOSITION, cd);
    serve__send_body(req, 200, "image/jpeg", j->jpeg, j->jpeg_len);
    char what[32];
    snprintf(what, sizeof(what), "%lld", (long long)j->frame_us); /* a frame is one resource */
    serve__audit_access(j->base.s, j->base.who, "snapshot", j->camera, what, j->frame_us,
                        j->frame_us, j->jpeg_len, NULL);
}

static void snapshot_free(serve__job *base)
{
    snapshot_job *j = vg_container_of(base, snapshot_job, base);
    serve__slots_give(j->base.s->slots, SERVE__SLOT_SNAPSHOT, j->base.who);
    free(j->jpeg);
    free(j);
}

static const serve__job_ops snapshot_ops = {
    .need_reader = true, .work = snapshot_work, .done = snapshot_done, .free = snapshot_free};

static void camera_snapshot(serve_ctx *s, h2o_req_t *req, const char *who, const char *camera)
{
    cam_query q;
    if (!cam_query_parse(req, &q)) return;
    if (!q.has_at) {
        serve__send_error(req, 400, "at is required");
        return;
    }
    snapshot_job *j = calloc(1, sizeof(*j));
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return;
    }
    int r = serve__slots_take(s->slots, SERVE__SLOT_SNAPSHOT, who, s->cfg->http.max_snapshots,
                              s->cfg->http.max_snapshots_per_token);
    if (r < 0) {
        free(j);
        serve__slots_refuse(req, SERVE__SLOT_SNAPSHOT, r);
        return;
    }
    snprintf(j->camera, sizeof(j->camera), "%s", camera);
    j->at_us = q.at;
    j->max_pixels = s->cfg->http.snapshot_max_pixels;
    serve__job_queue(s, req, who, &j->base, &snapshot_ops);
}

/* ---- GET /api/cameras/{id}/live.mp4[?stream=main|sub] (serve/live.c) ---- */

static void camera_live(serve_ctx *s, h2o_req_t *req, const char *who, const char *camera)
{
    char stream[8] = "main";
    if (serve__query_string(req, "stream", stream, sizeof(stream)) < 0 ||
        (strcmp(stream, "main") != 0 && strcmp(stream, "sub") != 0)) {
        serve__send_error(req, 400, "stream must be main or sub");
        return;
    }
    const config_camera *cc = s->cfg ? config_find_camera(s->cfg, camera) : NULL;
    if (!strcmp(stream, "sub") && (!cc || !cc->sub_url)) {
        serve__send_error(req, 404, "this camera has no sub stream (sub_url)");
        return;
    }
    if (serve__live_handle(s->live, req, who, camera, stream)) {
        /* The start of a view is an access (its end is audited with its
         * bytes by serve/live.c); reconnects of one player make one run. */
        int64_t now = vg_now_us();
        json_t *d = json_pack("{s:s}", "stream", stream);
        serve__audit_access(s, who, "live", camera, stream, now, now, 0, d);
        json_decref(d);
    }
}

/* ---- the /api/cameras prefix ---- */

/* GET/HEAD /api/cameras/{id}/NAME: one line per endpoint. */
static const struct {
    const char *name;
    serve__camera_fn fn;
} camera_routes[] = {
    {"recordings", camera_recordings},
    {"clip.mp4", camera_clip},
    {"snapshot.jpg", camera_snapshot},
    {"live.mp4", camera_live},
    {"activity", serve__camera_activity},
};

static int route_cameras(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                         size_t rlen)
{
    if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
        serve__send_405(req, "GET, HEAD");
        return 0;
    }
    if (rlen <= 1) { /* "/api/cameras" or "/api/cameras/" */
        cameras_list(s, req);
        return 0;
    }
    /* rest is "/{id}/{what}" */
    const char *id = rest + 1, *end = rest + rlen;
    const char *slash = memchr(id, '/', (size_t)(end - id));
    if (!slash || memchr(slash + 1, '/', (size_t)(end - slash - 1))) {
        serve__send_error(req, 404, "not found");
        return 0;
    }
    char cam[INDEX_ID_MAX];
    size_t idlen = (size_t)(slash - id), wlen = (size_t)(end - slash - 1);
    if (idlen == 0 || idlen >= sizeof(cam)) {
        serve__send_error(req, 404, "unknown camera");
        return 0;
    }
    memcpy(cam, id, idlen);
    cam[idlen] = 0;
    if (!s->cfg || !config_find_camera(s->cfg, cam)) {
        serve__send_error(req, 404, "unknown camera");
        return 0;
    }
    for (size_t i = 0; i < VG_ARRAY_SIZE(camera_routes); i++) {
        if (strlen(camera_routes[i].name) == wlen &&
            memcmp(camera_routes[i].name, slash + 1, wlen) == 0) {
            camera_routes[i].fn(s, req, who, cam);
            return 0;
        }
    }
    serve__send_error(req, 404, "not found");
    return 0;
}

void serve__routes_cameras(serve_ctx *s, h2o_hostconf_t *host)
{
    serve__route_add(s, host, "/api/cameras", route_cameras);
}
