/*
 * /api/events: events posted by other systems (ANPR, alarm panels, the
 * emergency line, an operator's note) and the search over every event, the
 * daemon's own included.
 *
 * POST takes one event (a JSON object), a batch (a JSON array) or NDJSON
 * (Content-Type application/x-ndjson, one object a line). The whole body is
 * validated here on the loop thread before anything is stored, so a bad
 * element refuses the batch with a 400 naming its index and field; the
 * index then stores the batch in one transaction of its writer thread (all
 * or none) and says which source_ids it already had. A body is at most
 * SERVE__MAX_BODY like every other: h2o buffers a body before any handler
 * (and before authentication) runs, with one cap for every route, so a
 * bigger cap here would be a bigger cap for anonymous clients too. An
 * integrator sends big streams as several requests on one connection.
 *
 * GET searches (index_events_search(): full text over text and attributes,
 * and filters) and answers each event with the URL of a clip around it,
 * events.pre_roll before to events.post_roll after; an event of an area
 * gets one per camera of that area. The URLs are computed from the config
 * in force when the answer is sent.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

#define MAX_BATCH 1000       /* events per request */
#define MAX_TYPE 64          /* bytes with the NUL */
#define MAX_TEXT 4096        /* bytes */
#define MAX_ATTRIBUTES 8192  /* bytes of compact JSON */
#define MAX_SOURCE_ID 128    /* bytes */
#define MAX_DISTRICT 128     /* bytes with the NUL */
#define MAX_Q 512            /* bytes of a search */
#define MAX_LIMIT 10000      /* events per answer (and the default) */
#define MAX_AREA_CLIPS 32    /* clips offered with an event of an area */
/* Clips of area events in one answer: 10000 area events of a district of
 * hundreds of cameras must not build a 100 MB answer on the loop thread. */
#define MAX_ANSWER_AREA_CLIPS 5000
/* Posts waiting for the index writer at once: each holds a thread of libuv's
 * pool until the commit, and clip downloads and snapshots read through the
 * same pool. More are refused (503, Retry-After: 1); a stream needs no more,
 * since one writer commits them all anyway. */
#define MAX_POSTS_IN_FLIGHT 4

/* ---- POST ---- */

/* What an event needs beyond the strings of its JSON object (which stay in
 * the job's parsed body): copies from the config, its attributes as text. */
typedef struct post_ev {
    char camera[INDEX_ID_MAX];
    char district[MAX_DISTRICT];
    char site[32];
    char *attributes; /* malloc'd compact JSON, or NULL */
} post_ev;

typedef struct post_job {
    serve__job base;
    json_t *events; /* the parsed events (an array; owned) */
    bool batch;     /* answered as a batch (array or NDJSON) */
    size_t n;
    index_event_in *ev;
    post_ev *pe;
    uint8_t *dup;
    int64_t *ids;
    int err;
    bool slot; /* holds a SERVE__SLOT_EVENT_POST of base.who */
} post_job;

static void post_free(serve__job *base)
{
    post_job *j = vg_container_of(base, post_job, base);
    if (j->slot) serve__slots_give(base->s->slots, SERVE__SLOT_EVENT_POST, base->who);
    for (size_t i = 0; j->pe && i < j->n; i++) free(j->pe[i].attributes);
    free(j->pe);
    free(j->ev);
    free(j->dup);
    free(j->ids);
    json_decref(j->events);
    free(j);
}

static int post_work(serve__job *base, index_reader *r)
{
    (void)r;
    post_job *j = vg_container_of(base, post_job, base);
    j->err = base->s->idx ? index_events_post(base->s->idx, j->ev, j->n, j->dup, j->ids) : -ENODEV;
    return 0;
}

static void post_done(serve__job *base, h2o_req_t *req)
{
    post_job *j = vg_container_of(base, post_job, base);
    if (j->err < 0) {
        serve_metrics_count_events(base->s->metrics, 0, 0, j->n);
        char msg[128];
        snprintf(msg, sizeof(msg), "cannot store events: %s", strerror(-j->err));
        serve__send_error(req, 503, msg);
        return;
    }
    size_t stored = 0;
    for (size_t i = 0; i < j->n; i++) stored += !j->dup[i];
    serve_metrics_count_events(base->s->metrics, stored, j->n - stored, 0);
    json_t *o;
    if (!j->batch) {
        o = json_pack("{s:o,s:b}", "id", j->dup[0] ? json_null() : json_integer(j->ids[0]),
                      "duplicate", j->dup[0]);
    } else {
        json_t *ids = json_array();
        for (size_t i = 0; ids && i < j->n; i++)
            json_array_append_new(ids, j->dup[i] ? json_null() : json_integer(j->ids[i]));
        o = json_pack("{s:I,s:I,s:o}", "stored", (json_int_t)stored, "duplicates",
                      (json_int_t)(j->n - stored), "ids", ids);
    }
    if (!o) {
        serve__send_error(req, 500, "out of memory");
        return;
    }
    serve__send_json(req, stored ? 201 : 200, o);
}

static const serve__job_ops post_ops = {.work = post_work, .done = post_done, .free = post_free};

static bool site_known(const char *s)
{
    for (int i = CONFIG_SITE_SECURITY; i <= CONFIG_SITE_OTHER; i++)
        if (!strcmp(s, config_site_name((config_site)i))) return true;
    return false;
}

#define SITES "security, one-stop-shop, traffic, forest or other"

/* A string member: NULL when absent; *bad set when present but not a
 * string of 1..max-1 bytes without NUL or control characters (ctl: control
 * characters allowed, for free text). */
static const char *member_string(json_t *o, const char *key, size_t max, bool ctl,
                                 const char **bad)
{
    json_t *v = json_object_get(o, key);
    if (!v) return NULL;
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n == 0 || n >= max || strlen(s) != n) {
        *bad = "must be a non-empty string";
        if (s && n >= max) *bad = "too long";
        return NULL;
    }
    for (size_t i = 0; !ctl && i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            *bad = "must not contain control characters";
            return NULL;
        }
    return s;
}

/* A time member: what serve__member_time() takes, and Unix seconds with a
 * fraction too (an ANPR camera's milliseconds). 0 (present or not), -1. */
static int member_time(json_t *o, const char *key, int64_t *out, bool *present)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_real(v)) return serve__member_time(o, key, out, present);
    double d = json_real_value(v);
    *present = false;
    if (!(d >= 0 && d <= (double)VG_TIME_MAX_US / 1e6)) return -1;
    *out = (int64_t)(d * 1e6 + 0.5);
    *present = true;
    return 0;
}

/* Checks event o and fills *e and *pe. NULL when it is fine, else the name
 * of the field at fault, and *why. */
static const char *check_event(serve_ctx *s, json_t *o, index_event_in *e, post_ev *pe,
                               const char **why)
{
    static const char *const known[] = {"camera", "district", "site",      "time",     "end",
                                        "type",   "text",     "attributes", "source_id"};
    const char *key, *bad = NULL;
    json_t *v;
    bool present;
    *why = NULL;
    if (!json_is_object(o)) {
        *why = "must be a JSON object";
        return "event";
    }
    json_object_foreach(o, key, v) {
        bool ok = false;
        for (size_t i = 0; i < VG_ARRAY_SIZE(known) && !ok; i++) ok = !strcmp(key, known[i]);
        if (!ok) {
            *why = "unknown field";
            return key;
        }
    }
    if (member_time(o, "time", &e->time_us, &present) < 0 || (present && e->time_us == 0)) {
        *why = "must be an RFC 3339 time or Unix seconds";
        return "time";
    }
    if (!present) {
        *why = "required";
        return "time";
    }
    if (member_time(o, "end", &e->end_us, &present) < 0) {
        *why = "must be an RFC 3339 time or Unix seconds";
        return "end";
    }
    if (present && e->end_us < e->time_us) {
        *why = "must not be before time";
        return "end";
    }
    if (!(e->type = member_string(o, "type", MAX_TYPE, false, &bad))) {
        *why = bad ? bad : "required";
        return "type";
    }
    const char *cam = member_string(o, "camera", INDEX_ID_MAX, false, &bad);
    if (bad) {
        *why = bad;
        return "camera";
    }
    const char *district = member_string(o, "district", MAX_DISTRICT, false, &bad);
    if (bad) {
        *why = bad;
        return "district";
    }
    const char *site = member_string(o, "site", sizeof(pe->site), false, &bad);
    if (bad || (site && !site_known(site))) {
        *why = bad ? bad : "must be " SITES;
        return "site";
    }
    if (cam) {
        const config_camera *c = s->cfg ? config_find_camera(s->cfg, cam) : NULL;
        if (!c) {
            *why = "unknown camera";
            return "camera";
        }
        if (district || site) {
            *why = "give camera or district/site, not both";
            return district ? "district" : "site";
        }
        /* The camera's area, so a search by area finds its events. */
        district = c->district ? c->district : "";
        site = config_site_name(c->site);
    } else if (!district && !site) {
        *why = "camera or district/site is required";
        return "camera";
    }
    snprintf(pe->camera, sizeof(pe->camera), "%s", cam ? cam : "");
    vg_utf8_copy(pe->district, sizeof(pe->district), district ? district : "");
    snprintf(pe->site, sizeof(pe->site), "%s", site ? site : "");
    e->camera = pe->camera;
    e->district = pe->district;
    e->site = pe->site;
    e->text = member_string(o, "text", MAX_TEXT + 1, true, &bad);
    if (bad) {
        *why = bad;
        return "text";
    }
    v = json_object_get(o, "attributes");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            *why = "must be a JSON object";
            return "attributes";
        }
        pe->attributes = json_dumps(v, JSON_COMPACT);
        if (!pe->attributes || strlen(pe->attributes) > MAX_ATTRIBUTES) {
            *why = "too long";
            return "attributes";
        }
        e->attributes = pe->attributes;
    }
    e->source_id = member_string(o, "source_id", MAX_SOURCE_ID + 1, false, &bad);
    if (bad) {
        *why = bad;
        return "source_id";
    }
    return NULL;
}

/* 400 naming the field (and the element of a batch). */
static void send_field_error(h2o_req_t *req, bool batch, size_t index, const char *field,
                             const char *why)
{
    char msg[256];
    if (batch)
        snprintf(msg, sizeof(msg), "event %zu: %s: %s", index, field, why);
    else
        snprintf(msg, sizeof(msg), "%s: %s", field, why);
    json_t *o = json_pack("{s:s,s:s}", "error", msg, "field", field);
    if (o && batch) json_object_set_new(o, "index", json_integer((json_int_t)index));
    if (!o) o = json_pack("{s:s}", "error", "bad event");
    serve__send_json(req, 400, o);
}

static bool is_ndjson(h2o_req_t *req)
{
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (hi < 0) return false;
    const h2o_iovec_t *v = &req->headers.entries[hi].value;
    static const char *const types[] = {"application/x-ndjson", "application/ndjson",
                                        "application/jsonl"};
    for (size_t i = 0; i < VG_ARRAY_SIZE(types); i++) {
        size_t n = strlen(types[i]);
        if (v->len >= n && !strncasecmp(v->base, types[i], n) &&
            (v->len == n || v->base[n] == ';' || v->base[n] == ' '))
            return true;
    }
    return false;
}

/* The events of the body as a new array; NULL when answered (400). */
static json_t *parse_body(h2o_req_t *req, bool *batch)
{
    json_error_t e;
    char msg[256];
    const char *p = req->entity.base, *end = p + req->entity.len;
    json_t *arr = NULL;
    *batch = true;
    if (!p || req->entity.len == 0) {
        serve__send_error(req, 400, "body: an event, an array of events or NDJSON is required");
        return NULL;
    }
    if (!is_ndjson(req)) {
        json_t *j = json_loadb(p, req->entity.len, 0, &e);
        if (!j) {
            snprintf(msg, sizeof(msg), "body: not JSON (line %d: %s)", e.line, e.text);
            serve__send_error(req, 400, msg);
            return NULL;
        }
        if (json_is_array(j)) return j;
        *batch = false;
        arr = json_array();
        if (arr) json_array_append_new(arr, j);
        else json_decref(j);
        if (!arr) serve__send_error(req, 503, "out of memory");
        return arr;
    }
    if (!(arr = json_array())) {
        serve__send_error(req, 503, "out of memory");
        return NULL;
    }
    for (size_t line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < le) {
            json_t *j = json_loadb(q, (size_t)(le - q), 0, &e);
            if (!j) {
                snprintf(msg, sizeof(msg), "event %zu: not JSON (line %zu: %s)",
                         json_array_size(arr), line, e.text);
                json_decref(arr);
                serve__send_error(req, 400, msg);
                return NULL;
            }
            json_array_append_new(arr, j);
        }
        p = nl ? nl + 1 : end;
    }
    return arr;
}

static void post_events(serve_ctx *s, h2o_req_t *req, const char *who)
{
    bool batch;
    json_t *arr = parse_body(req, &batch);
    if (!arr) return;
    size_t n = json_array_size(arr);
    if (n == 0 || n > MAX_BATCH) {
        json_decref(arr);
        serve__send_error(req, 400, n ? "body: at most 1000 events per request"
                                      : "body: no events");
        return;
    }
    post_job *j = calloc(1, sizeof(*j));
    if (j) {
        j->events = arr;
        arr = NULL;
        j->batch = batch;
        j->n = n;
        j->ev = calloc(n, sizeof(*j->ev));
        j->pe = calloc(n, sizeof(*j->pe));
        j->dup = calloc(n, 1);
        j->ids = calloc(n, sizeof(*j->ids));
    }
    if (!j || !j->ev || !j->pe || !j->dup || !j->ids) {
        json_decref(arr);
        if (j) post_free(&j->base);
        serve__send_error(req, 503, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *why;
        const char *field = check_event(s, json_array_get(j->events, i), &j->ev[i], &j->pe[i], &why);
        if (field) {
            serve_metrics_count_events(s->metrics, 0, 0, n);
            send_field_error(req, batch, i, field, why);
            post_free(&j->base);
            return;
        }
        j->ev[i].posted_by = j->base.who;
    }
    int r = serve__slots_take(s->slots, SERVE__SLOT_EVENT_POST, who, MAX_POSTS_IN_FLIGHT, 0);
    if (r < 0) {
        serve_metrics_count_events(s->metrics, 0, 0, n);
        post_free(&j->base);
        serve__slots_refuse(req, SERVE__SLOT_EVENT_POST, r);
        return;
    }
    j->slot = true;
    serve__job_queue(s, req, who, &j->base, &post_ops);
}

/* ---- GET ---- */

/* A row of the answer as the worker wrote it, all but its clip URL(s) and
 * its closing brace: search_done() adds those from the config in force when
 * the answer is sent (the worker may not read the config, which a reload
 * frees). */
typedef struct row_mark {
    size_t end;               /* where the row's text ends */
    int64_t time_us, end_us;  /* end_us 0: none */
    size_t keys;              /* camera, district and site in keys, each NUL-ended */
} row_mark;

typedef struct row_acc {
    serve__jbuf text, keys;
    row_mark *rows;
    size_t nrows, cap;
    size_t n, limit;
    bool truncated;
} row_acc;

typedef struct search_job {
    serve__reply_job rj;
    char q[MAX_Q];
    char camera[INDEX_ID_MAX];
    char type[MAX_TYPE];
    char district[MAX_DISTRICT];
    char site[32];
    char *area_cameras; /* JSON array text, malloc'd; NULL: no area */
    index_event_query query;
    row_acc rows; /* the answer's rows, when it is 200 */
} search_job;

/* ,"key":"value" for a non-empty value; nothing when it is empty or not
 * valid UTF-8 (jansson would have left such a member out). */
static void opt_member(serve__jbuf *b, const char *key, const char *v)
{
    if (!v[0]) return;
    size_t at = b->len;
    serve__jbuf_puts(b, key);
    if (!serve__jbuf_str(b, v)) b->len = at;
}

/* The row as json_pack() and json_object_set_new() built it before, key for
 * key, written as text. */
static int on_row(const index_event_row *e, void *arg)
{
    row_acc *a = arg;
    serve__jbuf *b = &a->text;
    if (a->n++ >= a->limit) {
        a->truncated = true;
        return 1;
    }
    size_t start = b->len;
    serve__jbuf_puts(b, "{\"id\":");
    serve__jbuf_int(b, e->id);
    serve__jbuf_puts(b, ",\"time\":");
    serve__jbuf_time(b, e->time_us);
    serve__jbuf_puts(b, ",\"camera\":");
    bool ok = e->camera[0] ? serve__jbuf_str(b, e->camera) : (serve__jbuf_puts(b, "null"), true);
    if (ok) serve__jbuf_puts(b, ",\"type\":");
    ok = ok && serve__jbuf_str(b, e->type);
    if (ok) serve__jbuf_puts(b, ",\"detail\":");
    ok = ok && serve__jbuf_str(b, e->detail);
    if (!ok) { /* json_pack() refused it */
        b->len = start;
        vg_log(LOG_WARNING, "serve: event %lld left out of a listing: not valid as JSON",
               (long long)e->id);
        return 0;
    }
    if (e->end_us) {
        serve__jbuf_puts(b, ",\"end\":");
        serve__jbuf_time(b, e->end_us);
    }
    opt_member(b, ",\"district\":", e->district);
    opt_member(b, ",\"site\":", e->site);
    opt_member(b, ",\"text\":", e->text);
    if (e->attributes[0]) {
        /* Parsed and dumped again, as before: what the answer carries is
         * jansson's form of it, and a damaged one is left out. */
        json_t *v = json_loads(e->attributes, 0, NULL);
        if (v) {
            serve__jbuf_puts(b, ",\"attributes\":");
            serve__jbuf_json(b, v);
            json_decref(v);
        }
    }
    opt_member(b, ",\"source_id\":", e->source_id);
    opt_member(b, ",\"posted_by\":", e->posted_by);
    if (a->nrows == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        row_mark *p = realloc(a->rows, cap * sizeof(*p));
        if (!p) return -ENOMEM;
        a->rows = p, a->cap = cap;
    }
    row_mark *m = &a->rows[a->nrows++];
    m->end = b->len;
    m->time_us = e->time_us;
    m->end_us = e->end_us;
    m->keys = a->keys.len;
    /* What the clips are computed from: the members as the answer has them
     * (a camera, district or site left out above counts as absent). */
    const char *cam = e->camera[0] && vg_utf8_valid(e->camera, strlen(e->camera)) ? e->camera : "";
    const char *dist = vg_utf8_valid(e->district, strlen(e->district)) ? e->district : "";
    const char *site = vg_utf8_valid(e->site, strlen(e->site)) ? e->site : "";
    serve__jbuf_put(&a->keys, cam, strlen(cam) + 1);
    serve__jbuf_put(&a->keys, dist, strlen(dist) + 1);
    serve__jbuf_put(&a->keys, site, strlen(site) + 1);
    return b->failed || a->keys.failed ? -ENOMEM : 0;
}

static void row_acc_free(row_acc *a)
{
    serve__jbuf_free(&a->text);
    serve__jbuf_free(&a->keys);
    free(a->rows);
    memset(a, 0, sizeof(*a));
}

static int search_work(serve__job *base, index_reader *r)
{
    search_job *j = vg_container_of(base, search_job, rj.base);
    serve__reply *out = &j->rj.reply;
    row_acc *a = &j->rows;
    a->limit = (size_t)j->query.limit;
    j->query.limit++; /* one more tells the answer was cut */
    int ret = index_events_search(r, &j->query, on_row, a);
    if (ret == 1) ret = 0;
    if (ret < 0) {
        row_acc_free(a);
        out->status = ret == -EINVAL ? 400 : 503;
        out->json = json_pack("{s:s}", "error", ret == -EINVAL ? "q: no word to search for"
                                                               : "cannot read events");
        return ret == -EINVAL ? 0 : ret;
    }
    out->status = 200;
    return 0;
}

/* The clip URL of camera over [start, end) as a JSON string; false (nothing
 * written) when it is not valid UTF-8. */
static bool clip_url(serve__jbuf *b, const char *camera, int64_t start, int64_t end)
{
    char a[VG_TIME_LEN], e[VG_TIME_LEN], url[INDEX_ID_MAX + 2 * VG_TIME_LEN + 64];
    if (end - start > SERVE__MAX_CLIP_US) end = start + SERVE__MAX_CLIP_US;
    snprintf(url, sizeof(url), "/api/cameras/%s/clip.mp4?start=%s&end=%s", camera,
             vg_time_format(start, a, sizeof(a)), vg_time_format(end, e, sizeof(e)));
    return serve__jbuf_str(b, url);
}

/* Writes the clip URL(s) of row m into b: "clip" for an event of a camera,
 * "clips" (one per camera of its area) for an event of an area; *budget is
 * what is left of MAX_ANSWER_AREA_CLIPS. */
static void add_clips(const config *cfg, serve__jbuf *b, const row_mark *m, const char *keys,
                      size_t *budget)
{
    const char *camera = keys + m->keys;
    const char *district = camera + strlen(camera) + 1;
    const char *site = district + strlen(district) + 1;
    int64_t t = m->time_us, e = m->end_us ? m->end_us : m->time_us;
    t -= cfg->event_pre_roll_us;
    e += cfg->event_post_roll_us;
    if (e <= t) e = t + 1000000;
    if (camera[0]) {
        size_t at = b->len;
        serve__jbuf_puts(b, ",\"clip\":");
        if (!clip_url(b, camera, t, e)) b->len = at;
        return;
    }
    if (!district[0] && !site[0]) return; /* daemon-wide */
    serve__jbuf clips = {0};
    size_t n = 0, written = 0;
    serve__jbuf_puts(&clips, ",\"clips\":[");
    for (size_t i = 0; i < cfg->ncameras; i++) {
        const config_camera *c = &cfg->cameras[i];
        if (district[0] && strcmp(district, c->district ? c->district : "") != 0) continue;
        if (site[0] && strcmp(site, config_site_name(c->site)) != 0) continue;
        if (n++ == MAX_AREA_CLIPS || *budget == 0) {
            serve__jbuf_puts(b, ",\"clips_truncated\":true");
            break;
        }
        (*budget)--;
        size_t at = clips.len;
        if (written) serve__jbuf_puts(&clips, ",");
        serve__jbuf_puts(&clips, "{\"camera\":");
        bool ok = serve__jbuf_str(&clips, c->id);
        if (ok) serve__jbuf_puts(&clips, ",\"clip\":");
        if (!ok || !clip_url(&clips, c->id, t, e)) {
            clips.len = at; /* json_pack() refused it: not in the array */
            continue;
        }
        serve__jbuf_puts(&clips, "}");
        written++;
    }
    serve__jbuf_puts(&clips, "]");
    if (clips.failed) b->failed = true;
    serve__jbuf_put(b, clips.p, clips.len);
    serve__jbuf_free(&clips);
}

static void search_done(serve__job *base, h2o_req_t *req)
{
    search_job *j = vg_container_of(base, search_job, rj.base);
    serve__reply *r = &j->rj.reply;
    row_acc *a = &j->rows;
    bool truncated = a->truncated;
    if (r->status == 200 && !r->json) {
        const config *cfg = base->s->cfg;
        serve__jbuf out = {0};
        size_t budget = MAX_ANSWER_AREA_CLIPS, from = 0;
        /* The rows' text, and about what a clip URL adds to each. */
        serve__jbuf_reserve(&out, a->text.len + a->nrows * 120 + 2);
        serve__jbuf_puts(&out, "[");
        for (size_t i = 0; i < a->nrows; i++) {
            if (i) serve__jbuf_puts(&out, ",");
            serve__jbuf_put(&out, a->text.p + from, a->rows[i].end - from);
            from = a->rows[i].end;
            if (cfg) add_clips(cfg, &out, &a->rows[i], a->keys.p, &budget);
            serve__jbuf_puts(&out, "}");
        }
        serve__jbuf_puts(&out, "]");
        r->text = serve__jbuf_take(&out);
        row_acc_free(a);
    }
    if (truncated) serve__add_header_str(req, "x-events-truncated", "1");
    serve__reply_job_done(base, req);
}

static void search_free(serve__job *base)
{
    search_job *j = vg_container_of(base, search_job, rj.base);
    row_acc_free(&j->rows);
    free(j->area_cameras);
    serve__reply_job_free(base);
}

static const serve__job_ops search_ops = {
    .need_reader = true, .work = search_work, .done = search_done, .free = search_free};

static bool parse_limit(const char *s, long long *out)
{
    char *e = NULL;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || e == s || *e) return false;
    *out = v;
    return true;
}

/* The ids of the configured cameras of district/site (NULL: any) as a JSON
 * array's text (malloc'd), or NULL. */
static char *area_camera_ids(serve_ctx *s, const char *district, const char *site)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && s->cfg && i < s->cfg->ncameras; i++) {
        const config_camera *c = &s->cfg->cameras[i];
        if (district && strcmp(district, c->district ? c->district : "") != 0) continue;
        if (site && strcmp(site, config_site_name(c->site)) != 0) continue;
        json_array_append_new(arr, json_string(c->id));
    }
    char *t = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return t;
}

/* GET /api/events?q=&camera=&district=&site=&type=&start=&end=&limit=
 * (default: the last 24 h). */
static void search(serve_ctx *s, h2o_req_t *req, const char *who)
{
    int64_t start = 0, end = 0;
    bool hs, he;
    char lim[24] = "";
    search_job *j = calloc(1, sizeof(*j));
    const char *bad = NULL;
    if (!j) {
        serve__send_error(req, 503, "out of memory");
        return;
    }
    int hq = serve__query_string(req, "q", j->q, sizeof(j->q));
    int hc = serve__query_string(req, "camera", j->camera, sizeof(j->camera));
    int ht = serve__query_string(req, "type", j->type, sizeof(j->type));
    int hd = serve__query_string(req, "district", j->district, sizeof(j->district));
    int hsi = serve__query_string(req, "site", j->site, sizeof(j->site));
    int hl = serve__query_string(req, "limit", lim, sizeof(lim));
    long long limit = MAX_LIMIT;
    if (serve__query_time(req, "start", &start, &hs) < 0)
        bad = "start: must be an RFC 3339 time or Unix seconds";
    else if (serve__query_time(req, "end", &end, &he) < 0)
        bad = "end: must be an RFC 3339 time or Unix seconds";
    else if (hq < 0)
        bad = "q: malformed or too long";
    else if (hc < 0)
        bad = "camera: malformed";
    else if (ht < 0)
        bad = "type: malformed or too long";
    else if (hd < 0)
        bad = "district: malformed or too long";
    else if (hsi < 0 || (hsi && !site_known(j->site)))
        bad = "site: must be " SITES;
    else if (hl < 0 || (hl && (!parse_limit(lim, &limit) || limit < 1 || limit > MAX_LIMIT)))
        bad = "limit: must be an integer 1..10000";
    if (!bad) {
        if (!he) end = vg_now_us() + 1;
        if (!hs) start = end - 24LL * 3600 * 1000000;
        if (end <= start) bad = "end: must be after start";
    }
    if (bad) {
        free(j);
        serve__send_error(req, 400, bad);
        return;
    }
    if (hc && (!s->cfg || !config_find_camera(s->cfg, j->camera))) {
        free(j);
        serve__send_error(req, 404, "unknown camera");
        return;
    }
    if ((hd || hsi) &&
        !(j->area_cameras = area_camera_ids(s, hd ? j->district : NULL, hsi ? j->site : NULL))) {
        free(j);
        serve__send_error(req, 503, "out of memory");
        return;
    }
    index_event_query *q = &j->query;
    q->q = hq && j->q[0] ? j->q : NULL;
    q->camera = hc ? j->camera : NULL;
    q->type = ht ? j->type : NULL;
    q->district = hd ? j->district : NULL;
    q->site = hsi ? j->site : NULL;
    q->area_cameras = j->area_cameras;
    q->start_us = start;
    q->end_us = end;
    q->limit = limit;
    serve__job_queue(s, req, who, &j->rj.base, &search_ops);
}

/* ---- registration ---- */

static int route_events(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                        size_t rlen)
{
    if (rlen > 1 || (rlen == 1 && rest[0] != '/')) {
        serve__send_error(req, 404, "not found");
    } else if (serve__method_is(req, "POST")) {
        post_events(s, req, who);
    } else if (serve__method_is(req, "GET") || serve__method_is(req, "HEAD")) {
        search(s, req, who);
    } else {
        serve__send_405(req, "GET, HEAD, POST");
    }
    return 0;
}

void serve__routes_events(serve_ctx *s, h2o_hostconf_t *host)
{
    serve__route_add(s, host, "/api/events", route_events);
}
