/*
 * The routes of cases, their HTTP half (cases.c is the worker half):
 *
 *   GET  /api/cases[?all=1]            open cases (all: closed ones too)
 *   POST /api/cases                    {title, reason, start, end, cameras | district[, site]}
 *   GET  /api/cases/{id}               the whole case
 *   POST /api/cases/{id}/notes         {text}
 *   POST /api/cases/{id}/close         {reason}        its creator or an admin
 *   POST /api/cases/{id}/exports       {reason[, start, end, cameras, until]}
 *
 * Requests are validated here on the loop thread, with the config's cameras
 * copied into the job; everything that touches SQLite runs on the pool.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

typedef struct case_job {
    serve__reply_job rj;
    int64_t id;
    int all;
    bool admin;
    index_case c;
    index_case_note note;
    char reason[256];
    int64_t start_us, end_us, until_us;
    serve__area_cam *cams; /* owned: the case's cameras (create), the export's (NULL: all) */
    size_t ncams;
    serve__area_cam *known; /* owned: every camera of the config */
    size_t nknown;
} case_job;

static void case_job_free(serve__job *base)
{
    case_job *j = vg_container_of(base, case_job, rj.base);
    free(j->cams);
    free(j->known);
    serve__reply_job_free(base);
}

static case_job *case_job_new(serve_ctx *s, h2o_req_t *req, bool known)
{
    case_job *j = calloc(1, sizeof(*j));
    if (j && known && serve__area_all(s, &j->known, &j->nknown) < 0) {
        free(j);
        j = NULL;
    }
    if (!j) serve__send_error(req, 503, "out of memory");
    return j;
}

static int create_work(serve__job *base, index_reader *r)
{
    (void)r;
    case_job *j = vg_container_of(base, case_job, rj.base);
    serve__case_create(base->s->index_path, base->s->idx, &j->c, j->cams, j->ncams, &j->rj.reply);
    return 0;
}

static int list_work(serve__job *base, index_reader *r)
{
    (void)r;
    case_job *j = vg_container_of(base, case_job, rj.base);
    serve__cases_list(base->s->index_path, j->all, &j->rj.reply);
    return 0;
}

static int get_work(serve__job *base, index_reader *r)
{
    case_job *j = vg_container_of(base, case_job, rj.base);
    serve__case_get(r, base->s->index_path, base->s->idx, base->who, j->id, j->known, j->nknown,
                    &j->rj.reply);
    return serve__reply_job_status(&j->rj);
}

static int note_work(serve__job *base, index_reader *r)
{
    (void)r;
    case_job *j = vg_container_of(base, case_job, rj.base);
    serve__case_note(base->s->index_path, base->s->idx, &j->note, &j->rj.reply);
    return 0;
}

static int close_work(serve__job *base, index_reader *r)
{
    (void)r;
    case_job *j = vg_container_of(base, case_job, rj.base);
    serve__case_close(base->s->index_path, base->s->idx, j->id, base->who, j->admin, j->reason,
                      &j->rj.reply);
    return 0;
}

static int export_work(serve__job *base, index_reader *r)
{
    case_job *j = vg_container_of(base, case_job, rj.base);
    serve_ctx *s = base->s;
    serve__export_req q = {.index_path = s->index_path, .idx = s->idx, .sk = s->sign_sk,
                           .pk = s->sign_pk, .who = base->who, .reason = j->reason,
                           .start_us = j->start_us, .end_us = j->end_us, .until_us = j->until_us,
                           .cams = j->cams, .ncams = j->ncams, .abspath = serve__abspath,
                           .abspath_opaque = s};
    /* The manifest hashes each clip as served, through the clip planner,
     * which reads segment files and pins them like a download. */
    media_pins pins = serve__pins_media(s->pins);
    q.pins = &pins;
    serve__case_export(r, &q, j->id, j->known, j->nknown, &j->rj.reply);
    return serve__reply_job_status(&j->rj);
}

static const serve__job_ops create_ops = {
    .need_reader = false, .work = create_work, .done = serve__reply_job_done, .free = case_job_free};
static const serve__job_ops list_ops = {
    .need_reader = false, .work = list_work, .done = serve__reply_job_done, .free = case_job_free};
static const serve__job_ops get_ops = {
    .need_reader = true, .work = get_work, .done = serve__reply_job_done, .free = case_job_free};
static const serve__job_ops note_ops = {
    .need_reader = false, .work = note_work, .done = serve__reply_job_done, .free = case_job_free};
static const serve__job_ops close_ops = {
    .need_reader = false, .work = close_work, .done = serve__reply_job_done, .free = case_job_free};
static const serve__job_ops export_ops = {
    .need_reader = true, .work = export_work, .done = serve__reply_job_done, .free = case_job_free};

/* POST /api/cases */
static void case_create(serve_ctx *s, h2o_req_t *req, const char *who)
{
    json_t *b = NULL;
    case_job *j = NULL;
    const char *bad = NULL;
    int status = 400;
    bool hs, he;
    if (serve__body_object(req, &b) < 0) return;
    if (!b) {
        serve__send_error(req, 400, "a JSON body {title, reason, start, end, cameras | district} "
                                    "is required");
        return;
    }
    if (!(j = case_job_new(s, req, false))) goto out;
    index_case *c = &j->c;
    if (!serve__member_str(b, "title", c->title, sizeof(c->title)) || !c->title[0])
        bad = "title is required (at most 255 bytes)";
    else if (!serve__member_str(b, "reason", c->reason, sizeof(c->reason)) || !c->reason[0])
        bad = "reason is required (at most 255 bytes)";
    else if (serve__member_time(b, "start", &c->start_us, &hs) < 0 || !hs ||
             serve__member_time(b, "end", &c->end_us, &he) < 0 || !he)
        bad = "start and end are required (RFC 3339 or Unix seconds)";
    else if (!serve__range_ok(c->start_us, c->end_us, SERVE__MAX_QUERY_US))
        bad = "end must be after start (at most 366 days)";
    if (bad) goto out;
    if ((status = serve__area_from_body(s, b, &j->cams, &j->ncams, &bad)) != 0) goto out;
    snprintf(c->created_by, sizeof(c->created_by), "%s", who);
    serve__job_queue(s, req, who, &j->rj.base, &create_ops);
    j = NULL;
out:
    json_decref(b);
    if (j) {
        free(j->cams);
        free(j);
    }
    if (bad) serve__send_error(req, status, bad);
}

/* POST /api/cases/{id}/notes {text} */
static void case_note(serve_ctx *s, h2o_req_t *req, const char *who, int64_t id)
{
    json_t *b = NULL;
    if (serve__body_object(req, &b) < 0) return;
    case_job *j = case_job_new(s, req, false);
    if (!j) {
        json_decref(b);
        return;
    }
    if (!b || !serve__member_str(b, "text", j->note.text, sizeof(j->note.text)) ||
        !j->note.text[0]) {
        json_decref(b);
        free(j);
        serve__send_error(req, 400, "a JSON body {text} is required (at most 2047 bytes)");
        return;
    }
    json_decref(b);
    j->note.case_id = id;
    snprintf(j->note.author, sizeof(j->note.author), "%s", who);
    serve__job_queue(s, req, who, &j->rj.base, &note_ops);
}

/* POST /api/cases/{id}/close {reason} */
static void case_close(serve_ctx *s, h2o_req_t *req, const char *who, int64_t id)
{
    json_t *b = NULL;
    if (serve__body_object(req, &b) < 0) return;
    case_job *j = case_job_new(s, req, false);
    if (!j) {
        json_decref(b);
        return;
    }
    if (!b || !serve__member_str(b, "reason", j->reason, sizeof(j->reason)) || !j->reason[0]) {
        json_decref(b);
        free(j);
        serve__send_error(req, 400, "a JSON body {reason} is required (at most 255 bytes)");
        return;
    }
    json_decref(b);
    j->id = id;
    j->admin = serve__caller_is_admin(s, who);
    serve__job_queue(s, req, who, &j->rj.base, &close_ops);
}

/* POST /api/cases/{id}/exports {reason[, start, end, cameras, until]} */
static void case_export(serve_ctx *s, h2o_req_t *req, const char *who, int64_t id)
{
    json_t *b = NULL;
    case_job *j = NULL;
    const char *bad = NULL;
    int status = 400;
    bool hs = false, he = false, hu = false;
    if (!s->have_key) {
        serve__send_error(req, 503, "no export signing key (see the log)");
        return;
    }
    if (serve__body_object(req, &b) < 0) return;
    if (!b) {
        serve__send_error(req, 400, "a JSON body {reason[, start, end, cameras]} is required");
        return;
    }
    if (!(j = case_job_new(s, req, true))) goto out;
    if (!serve__member_str(b, "reason", j->reason, sizeof(j->reason)) || !j->reason[0])
        bad = "reason is required (at most 200 bytes)";
    else if (serve__member_time(b, "start", &j->start_us, &hs) < 0 ||
             serve__member_time(b, "end", &j->end_us, &he) < 0 || hs != he)
        bad = "start and end go together (RFC 3339 or Unix seconds)";
    else if (hs && !serve__range_ok(j->start_us, j->end_us, SERVE__MAX_CLIP_US))
        bad = "end must be after start (at most 24 h)";
    else if (serve__member_time(b, "until", &j->until_us, &hu) < 0 ||
             (hu && j->until_us <= vg_now_us()))
        bad = "until must be a time in the future";
    if (bad) goto out;
    if (json_object_get(b, "cameras") &&
        (status = serve__area_from_body(s, b, &j->cams, &j->ncams, &bad)) != 0)
        goto out;
    j->id = id;
    serve__job_queue(s, req, who, &j->rj.base, &export_ops);
    j = NULL;
out:
    json_decref(b);
    if (j) {
        free(j->cams);
        free(j->known);
        free(j);
    }
    if (bad) serve__send_error(req, status, bad);
}

/* rest: "", "/ID" or "/ID/ACTION". */
static int route_cases(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                       size_t rlen)
{
    char buf[64], *e, *action = NULL;
    if (rlen <= 1) {
        if (serve__method_is(req, "POST")) {
            case_create(s, req, who);
        } else if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
            serve__send_405(req, "GET, HEAD, POST");
        } else {
            char all[8] = "";
            if (serve__query_string(req, "all", all, sizeof(all)) < 0) {
                serve__send_error(req, 400, "malformed query");
                return 0;
            }
            case_job *j = case_job_new(s, req, false);
            if (!j) return 0;
            j->all = all[0] && strcmp(all, "0") != 0 && strcmp(all, "false") != 0;
            serve__job_queue(s, req, who, &j->rj.base, &list_ops);
        }
        return 0;
    }
    if (rlen >= sizeof(buf)) goto notfound;
    memcpy(buf, rest + 1, rlen - 1);
    buf[rlen - 1] = 0;
    if ((action = strchr(buf, '/'))) *action++ = 0;
    long long id = strtoll(buf, &e, 10);
    if (*e || !buf[0] || id <= 0) goto notfound;
    if (!action) {
        if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
            serve__send_405(req, "GET, HEAD");
            return 0;
        }
        case_job *j = case_job_new(s, req, true);
        if (!j) return 0;
        j->id = id;
        serve__job_queue(s, req, who, &j->rj.base, &get_ops);
        return 0;
    }
    void (*fn)(serve_ctx *, h2o_req_t *, const char *, int64_t) =
        !strcmp(action, "notes")     ? case_note
        : !strcmp(action, "close")   ? case_close
        : !strcmp(action, "exports") ? case_export
                                     : NULL;
    if (!fn) goto notfound;
    if (!serve__method_is(req, "POST")) {
        serve__send_405(req, "POST");
        return 0;
    }
    fn(s, req, who, id);
    return 0;
notfound:
    serve__send_error(req, 404, "no such case");
    return 0;
}

void serve__routes_cases(serve_ctx *s, h2o_hostconf_t *host)
{
    serve__route_add(s, host, "/api/cases", route_cases);
}
