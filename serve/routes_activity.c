/*
 * The activity routes: what ingest/activity stored per second with each
 * segment (index.h's byte format), for a timeline's heat strip and for "where
 * did something move in this area between 07:00 and 09:00".
 *
 *   GET /api/cameras/{id}/activity?start=&end=&step=
 *       {camera, start, end, step, available, reason?, values: [...]}: the
 *       highest level of each step, null where nothing was recorded (or
 *       nothing measured). available is false when no second of the range
 *       has a level or most are hidden, with the reason: the camera's
 *       encoder keeps every picture the same size (strict CBR: "activity unavailable", not "no
 *       activity"), or nothing was recorded there.
 *   GET /api/activity/search?district=&site=&start=&end=&min_level=&limit=
 *       {start, end, min_level, intervals: [{camera, start, end, peak}],
 *       unavailable: [{camera, reason}]}: the stretches where a camera's
 *       level reached min_level (default 40: pictures ~2.4 times their quiet
 *       size on average; gaps of up to 2 s joined), highest peak first.
 *
 * Both read like recordings (footage metadata): any viewer, not audited.
 * Both work on one array of seconds per camera, built on a worker from the
 * segments' BLOBs (series_fill()): a second two segments share (the one a
 * rotation happens in) takes the higher level.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

#define SEC_US INT64_C(1000000)
#define MAX_RANGE_US (31LL * 24 * 3600 * SEC_US) /* one array of seconds per camera */
#define MAX_VALUES 100000
#define DEFAULT_VALUES 1000    /* the default step keeps a reply this short */
#define DEFAULT_MIN_LEVEL 40
#define JOIN_GAP_S 2           /* seconds under min_level still inside an interval */
#define DEFAULT_LIMIT 100
#define GAP 253                /* a second nothing was recorded in (local to this file) */

static const char reason_hidden[] =
    "the camera's encoder keeps every picture the same size (strict CBR): motion cannot be "
    "read from it";
static const char reason_none[] = "no activity recorded in that range";

/* ---- one camera's seconds ---- */

static int64_t floor_s(int64_t us)
{
    return us >= 0 ? us / SEC_US : -((-us + SEC_US - 1) / SEC_US);
}

typedef struct series {
    int64_t first_s; /* second of v[0] */
    size_t n;
    uint8_t *v;      /* levels, INDEX_ACTIVITY_NONE / _HIDDEN, or GAP */
} series;

/* Is a (a level, NONE, HIDDEN or GAP) better than b? Levels beat everything,
 * the higher the better; then what says why there is none; GAP last. */
static bool better(uint8_t a, uint8_t b)
{
    bool la = a <= INDEX_ACTIVITY_MAX, lb = b <= INDEX_ACTIVITY_MAX;
    if (la != lb) return la;
    if (la) return a > b;
    if (b == GAP) return a != GAP;
    return a == INDEX_ACTIVITY_HIDDEN && b == INDEX_ACTIVITY_NONE;
}

static int on_activity(const index_segment *seg, const uint8_t *v, size_t n, void *arg)
{
    series *s = arg;
    int64_t s0 = floor_s(seg->start_us);
    for (size_t i = 0; i < n; i++) {
        int64_t k = s0 + (int64_t)i - s->first_s;
        if (k < 0) continue;
        if ((uint64_t)k >= s->n) break;
        if (better(v[i], s->v[k])) s->v[k] = v[i];
    }
    return 0;
}

/* Fills s (allocated by the caller for [first_s, first_s + n)) for camera. */
static int series_fill(index_reader *r, const char *camera, series *s)
{
    memset(s->v, GAP, s->n);
    return index_query_activity(r, camera, s->first_s * SEC_US,
                                (s->first_s + (int64_t)s->n) * SEC_US, on_activity, s);
}

/* Why a series says nothing (NULL: it does): no level at all, or more
 * seconds hidden than measured (a CBR camera's first seconds are measured
 * before its flat sizes are recognised). */
static const char *series_unavailable(const series *s)
{
    size_t hidden = 0, levels = 0;
    for (size_t i = 0; i < s->n; i++) {
        levels += s->v[i] <= INDEX_ACTIVITY_MAX;
        hidden += s->v[i] == INDEX_ACTIVITY_HIDDEN;
    }
    if (hidden > levels) return reason_hidden;
    return levels ? NULL : reason_none;
}

static int series_alloc(series *s, int64_t start_us, int64_t end_us)
{
    s->first_s = floor_s(start_us);
    s->n = (size_t)(floor_s(end_us - 1) - s->first_s + 1);
    s->v = malloc(s->n);
    return s->v ? 0 : -ENOMEM;
}

/* The query both routes take: start/end (required, at most MAX_RANGE_US);
 * false when answered (400). */
static bool range_parse(h2o_req_t *req, int64_t *start, int64_t *end)
{
    bool hs = false, he = false;
    if (serve__query_time(req, "start", start, &hs) < 0 ||
        serve__query_time(req, "end", end, &he) < 0) {
        serve__send_error(req, 400, "malformed time (RFC 3339 or Unix seconds, years 1 to 9999)");
        return false;
    }
    if (!hs || !he || !serve__range_ok(*start, *end, MAX_RANGE_US)) {
        serve__send_error(req, 400, "start and end are required, end after start (at most 31 days)");
        return false;
    }
    return true;
}

/* A positive integer parameter in [lo, hi]: 1 present, 0 absent, -1 bad. */
static int query_int(h2o_req_t *req, const char *name, long lo, long hi, long *out)
{
    char buf[24], *e = NULL;
    int r = serve__query_string(req, name, buf, sizeof(buf));
    if (r <= 0) return r;
    errno = 0;
    long v = strtol(buf, &e, 10);
    if (errno || e == buf || *e || v < lo || v > hi) return -1;
    *out = v;
    return 1;
}

/* ---- GET /api/cameras/{id}/activity?start=&end=&step= ---- */

typedef struct timeline_job {
    serve__job base;
    char camera[INDEX_ID_MAX];
    int64_t start_us, end_us, step_s;
    int err;
    json_t *json;
} timeline_job;

static int timeline_work(serve__job *base, index_reader *r)
{
    timeline_job *j = vg_container_of(base, timeline_job, base);
    series s = {0};
    json_t *values = NULL;
    int ret = series_alloc(&s, j->start_us, j->end_us);
    if (ret == 0) ret = series_fill(r, j->camera, &s);
    if (ret < 0) goto out;
    values = json_array();
    if (!values) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s.n; i += (size_t)j->step_s) {
        int best = -1;
        for (size_t k = i; k < s.n && k < i + (size_t)j->step_s; k++)
            if (s.v[k] <= INDEX_ACTIVITY_MAX && s.v[k] > best) best = s.v[k];
        if (json_array_append_new(values, best >= 0 ? json_integer(best) : json_null()) < 0) {
            ret = -ENOMEM;
            goto out;
        }
    }
    const char *why = series_unavailable(&s);
    j->json = json_pack("{s:s,s:o,s:o,s:I,s:b,s:O}", "camera", j->camera, "start",
                        serve__json_time(s.first_s * SEC_US), "end",
                        serve__json_time(j->end_us), "step", (json_int_t)j->step_s,
                        "available", why == NULL, "values", values);
    if (j->json && why) json_object_set_new(j->json, "reason", json_string(why));
    if (!j->json) ret = -ENOMEM;
out:
    json_decref(values);
    free(s.v);
    return j->err = ret;
}

static void timeline_done(serve__job *base, h2o_req_t *req)
{
    timeline_job *j = vg_container_of(base, timeline_job, base);
    if (j->err < 0) {
        serve__send_errno(req, j->err, "activity");
        return;
    }
    serve__send_json(req, 200, j->json);
    j->json = NULL;
}

static void timeline_free(serve__job *base)
{
    timeline_job *j = vg_container_of(base, timeline_job, base);
    json_decref(j->json);
    free(j);
}

static const serve__job_ops timeline_ops = {
    .need_reader = true, .work = timeline_work, .done = timeline_done, .free = timeline_free};

void serve__camera_activity(serve_ctx *s, h2o_req_t *req, const char *who, const char *camera)
{
    int64_t start = 0, end = 0;
    long step = 0;
    if (!range_parse(req, &start, &end)) return;
    int64_t secs = (end - start + SEC_US - 1) / SEC_US + 1;
    int hs = query_int(req, "step", 1, 86400, &step);
    if (hs < 0) {
        serve__send_error(req, 400, "step must be whole seconds, 1 to 86400");
        return;
    }
    if (hs == 0) step = (long)((secs + DEFAULT_VALUES - 1) / DEFAULT_VALUES);
    if (secs / step > MAX_VALUES) {
        serve__send_error(req, 400, "too many values: make step larger or the range shorter");
        return;
    }
    timeline_job *j = calloc(1, sizeof(*j));
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return;
    }
    snprintf(j->camera, sizeof(j->camera), "%s", camera);
    j->start_us = start, j->end_us = end, j->step_s = step;
    serve__job_queue(s, req, who, &j->base, &timeline_ops);
}

/* ---- GET /api/activity/search?district=&site=&start=&end=&min_level=&limit= ---- */

typedef struct interval {
    int cam;
    int64_t start_s, end_s;
    int peak;
} interval;

typedef struct search_job {
    serve__reply_job rj;
    serve__area_cam *cams; /* owned */
    size_t ncams;
    int64_t start_us, end_us;
    int min_level, limit;
} search_job;

static int cmp_interval(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    if (x->peak != y->peak) return x->peak > y->peak ? -1 : 1;
    if (x->start_s != y->start_s) return x->start_s < y->start_s ? -1 : 1;
    return x->cam - y->cam;
}

/* Appends the intervals of one camera's series to *v. */
static int find_intervals(const series *s, int cam, int min_level, interval **v, size_t *n,
                          size_t *cap)
{
    size_t i = 0;
    while (i < s->n) {
        if (s->v[i] > INDEX_ACTIVITY_MAX || s->v[i] < min_level) {
            i++;
            continue;
        }
        interval iv = {.cam = cam, .start_s = s->first_s + (int64_t)i, .peak = s->v[i]};
        size_t last = i, k = i + 1;
        for (; k < s->n && k <= last + JOIN_GAP_S + 1; k++) {
            if (s->v[k] <= INDEX_ACTIVITY_MAX && s->v[k] >= min_level) {
                last = k;
                if (s->v[k] > iv.peak) iv.peak = s->v[k];
            }
        }
        iv.end_s = s->first_s + (int64_t)last + 1;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            interval *nv = realloc(*v, nc * sizeof(*nv));
            if (!nv) return -ENOMEM;
            *v = nv;
            *cap = nc;
        }
        (*v)[(*n)++] = iv;
        i = last + 1;
    }
    return 0;
}

static int search_work(serve__job *base, index_reader *r)
{
    search_job *j = vg_container_of(base, search_job, rj.base);
    serve__reply *out = &j->rj.reply;
    series s = {0};
    interval *iv = NULL;
    size_t niv = 0, cap = 0;
    json_t *arr = NULL, *unavail = json_array();
    int ret = series_alloc(&s, j->start_us, j->end_us);
    if (ret < 0 || !unavail) goto out;
    for (size_t c = 0; c < j->ncams; c++) {
        if ((ret = series_fill(r, j->cams[c].id, &s)) < 0) goto out;
        const char *why = series_unavailable(&s);
        if (why) {
            json_array_append_new(unavail, json_pack("{s:s,s:s}", "camera", j->cams[c].id,
                                                     "reason", why));
            continue;
        }
        if ((ret = find_intervals(&s, (int)c, j->min_level, &iv, &niv, &cap)) < 0) goto out;
    }
    if (niv) qsort(iv, niv, sizeof(*iv), cmp_interval);
    arr = json_array();
    if (!arr) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < niv && (int)i < j->limit; i++) {
        json_t *o = json_pack("{s:s,s:o,s:o,s:i}", "camera", j->cams[iv[i].cam].id, "start",
                              serve__json_time(iv[i].start_s * SEC_US), "end",
                              serve__json_time(iv[i].end_s * SEC_US), "peak", iv[i].peak);
        if (!o || json_array_append_new(arr, o) < 0) {
            ret = -ENOMEM;
            goto out;
        }
    }
    out->json = json_pack("{s:o,s:o,s:i,s:O,s:O}", "start", serve__json_time(j->start_us), "end",
                          serve__json_time(j->end_us), "min_level", j->min_level, "intervals",
                          arr, "unavailable", unavail);
    if (!out->json) ret = -ENOMEM;
out:
    if (ret < 0 || !unavail) {
        json_decref(out->json);
        out->status = ret == -ENOMEM || !unavail ? 503 : 500;
        out->json = json_pack("{s:s}", "error", "cannot read the activity index");
    } else {
        out->status = 200;
    }
    json_decref(arr);
    json_decref(unavail);
    free(iv);
    free(s.v);
    return serve__reply_job_status(&j->rj);
}

static void search_free(serve__job *base)
{
    search_job *j = vg_container_of(base, search_job, rj.base);
    free(j->cams);
    serve__reply_job_free(base);
}

static const serve__job_ops search_ops = {
    .need_reader = true, .work = search_work, .done = serve__reply_job_done, .free = search_free};

static void activity_search(serve_ctx *s, h2o_req_t *req, const char *who)
{
    int64_t start = 0, end = 0;
    long min_level = DEFAULT_MIN_LEVEL, limit = DEFAULT_LIMIT;
    char district[256], site[64];
    int hd = serve__query_string(req, "district", district, sizeof(district));
    int hsi = serve__query_string(req, "site", site, sizeof(site));
    if (hd < 0 || hsi < 0) {
        serve__send_error(req, 400, "malformed district or site");
        return;
    }
    if (!range_parse(req, &start, &end)) return;
    if (query_int(req, "min_level", 1, INDEX_ACTIVITY_MAX, &min_level) < 0) {
        serve__send_error(req, 400, "min_level must be 1 to 250");
        return;
    }
    if (query_int(req, "limit", 1, 10000, &limit) < 0) {
        serve__send_error(req, 400, "limit must be 1 to 10000");
        return;
    }
    search_job *j = calloc(1, sizeof(*j));
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return;
    }
    if (serve__area_cams(s, hd > 0 ? district : NULL, hsi > 0 ? site : NULL, &j->cams,
                         &j->ncams) < 0) {
        free(j);
        serve__send_error(req, 503, "out of memory");
        return;
    }
    j->start_us = start, j->end_us = end;
    j->min_level = (int)min_level, j->limit = (int)limit;
    serve__job_queue(s, req, who, &j->rj.base, &search_ops);
}

static int route_search(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                        size_t rlen)
{
    (void)rest;
    if (rlen > 1) {
        serve__send_error(req, 404, "not found");
    } else if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
        serve__send_405(req, "GET, HEAD");
    } else {
        activity_search(s, req, who);
    }
    return 0;
}

void serve__routes_activity(serve_ctx *s, h2o_hostconf_t *host)
{
    serve__route_add(s, host, "/api/activity/search", route_search);
}
