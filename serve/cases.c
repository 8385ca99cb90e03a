/*
 * Cases, the worker-thread halves: an investigation that holds the footage of
 * its cameras over its range, and gathers its exports, notes and the accesses
 * to its footage (routes_cases.c is the HTTP half).
 *
 * A case holds footage with ordinary evidence locks, one per camera, created
 * here and recorded on the case (index/cases.c), so retention, quota and the
 * lock listing need nothing new; closing the case releases them. Its exports
 * are ordinary signed exports (evidence.c) linked to it. Every action under a
 * case is an audit row whose detail names it ("case": id), and the chain of
 * custody is read back from the audit trail: those rows plus every access to
 * the case's cameras over its range, whoever made it and whenever.
 */
#include "serve/serve_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

#define CUSTODY_MAX 5000

static void reply_error(serve__reply *out, int status, const char *msg)
{
    out->status = status;
    out->json = json_pack("{s:s}", "error", msg);
}

static void reply_errno(serve__reply *out, int err, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-err));
    reply_error(out, 503, msg);
}

static json_t *jtime(int64_t us)
{
    char b[VG_TIME_LEN];
    return json_string(vg_time_format(us, b, sizeof(b)));
}

/* An audit row about case id (detail d gets "case": id; the reference is taken). */
static void audit(index_db *idx, const char *who, const char *action, int64_t id,
                  const char *camera, int64_t start_us, int64_t end_us, json_t *d)
{
    char detail[INDEX_DETAIL_MAX];
    if (!d) d = json_object();
    if (idx && d) {
        index_audit a;
        json_object_set_new(d, "case", json_integer(id));
        index_detail_format(d, detail, sizeof(detail));
        index_audit_fill(&a, who, action, camera, start_us, end_us, detail);
        index_audit_add(idx, &a);
    }
    json_decref(d);
}

static json_t *case_json(const index_case *c)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:o,s:s,s:o,s:s,s:i,s:o,s:o,s:o}", "id", (json_int_t)c->id,
                     "title", c->title, "reason", c->reason, "start", jtime(c->start_us), "end",
                     jtime(c->end_us), "created_by", c->created_by, "created",
                     jtime(c->created_us), "status", c->closed_us ? "closed" : "open", "ncameras",
                     c->ncameras, "closed", c->closed_us ? jtime(c->closed_us) : json_null(),
                     "closed_by", c->closed_us ? json_string(c->closed_by) : json_null(),
                     "close_reason", c->closed_us ? json_string(c->close_reason) : json_null());
}

/* The reason of the lock holding a camera's footage for case c. */
static void lock_reason(const index_case *c, char *out, size_t len)
{
    char b[2 * sizeof(c->title)];
    snprintf(b, sizeof(b), "case %" PRId64 ": %s", c->id, c->title);
    vg_utf8_copy(out, len, b); /* cut on a character boundary */
}

void serve__case_create(const char *index_path, index_db *idx, index_case *c,
                        const serve__area_cam *cams, size_t n, serve__reply *out)
{
    const char **ids = calloc(n ? n : 1, sizeof(*ids));
    int64_t *locks = calloc(n ? n : 1, sizeof(*locks));
    size_t nlocks = 0;
    bool created = false;
    int ret = ids && locks ? 0 : -ENOMEM;
    for (size_t i = 0; ret == 0 && i < n; i++) ids[i] = cams[i].id;
    if (ret == 0) ret = index_case_create(index_path, c, ids, n);
    if (ret == -EINVAL) {
        reply_error(out, 400, "title, reason, cameras and end after start are required");
        goto out;
    }
    created = ret == 0;
    for (size_t i = 0; ret == 0 && i < n; i++) {
        index_lock l;
        memset(&l, 0, sizeof(l));
        snprintf(l.camera, sizeof(l.camera), "%s", cams[i].id);
        lock_reason(c, l.reason, sizeof(l.reason));
        snprintf(l.created_by, sizeof(l.created_by), "%s", c->created_by);
        l.start_us = c->start_us, l.end_us = c->end_us, l.created_us = c->created_us;
        if ((ret = index_lock_create(index_path, &l)) < 0) break;
        locks[nlocks++] = l.id;
        if ((ret = index_case_set_lock(index_path, c->id, l.camera, l.id)) < 0) break;
        audit(idx, c->created_by, "lock_create", c->id, l.camera, l.start_us, l.end_us,
              json_pack("{s:I}", "lock", (json_int_t)l.id));
    }
    if (ret < 0) {
        reply_errno(out, ret, "cannot create the case");
        goto out;
    }
    audit(idx, c->created_by, "case_create", c->id, NULL, c->start_us, c->end_us,
          json_pack("{s:s,s:s,s:I}", "title", c->title, "reason", c->reason, "cameras",
                    (json_int_t)n));
    out->status = 201;
    out->json = case_json(c);
out:
    if (ret < 0) {
        /* Undo: the footage stays only as locked as before the request. */
        for (size_t i = 0; i < nlocks; i++)
            index_lock_release(index_path, locks[i], c->created_by, "case creation failed");
        if (created) index_case_delete(index_path, c->id);
    }
    free(ids);
    free(locks);
}

static int on_case(const index_case *c, void *arg)
{
    return serve__append_row(arg, case_json(c), "case", c->id);
}

void serve__cases_list(const char *index_path, int all, serve__reply *out)
{
    json_t *arr = json_array();
    int ret = arr ? index_cases_list(index_path, all, on_case, arr) : -ENOMEM;
    if (ret < 0) {
        json_decref(arr);
        reply_errno(out, ret, "cannot list cases");
        return;
    }
    out->status = 200;
    out->json = arr;
}

/* ---- one case, whole ---- */

typedef struct case_cams {
    serve__area_cam *v;
    int64_t *locks;
    size_t n, cap;
    const serve__area_cam *known;
    size_t nknown;
} case_cams;

static int on_case_camera(const char *camera, int64_t lock_id, void *arg)
{
    case_cams *a = arg;
    if (a->n == a->cap) {
        size_t ncap = a->cap ? 2 * a->cap : 16;
        serve__area_cam *nv = realloc(a->v, ncap * sizeof(*nv));
        if (!nv) return -ENOMEM;
        a->v = nv;
        int64_t *nl = realloc(a->locks, ncap * sizeof(*nl));
        if (!nl) return -ENOMEM;
        a->locks = nl;
        a->cap = ncap;
    }
    serve__area_cam *c = &a->v[a->n];
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", camera);
    snprintf(c->name, sizeof(c->name), "%s", camera);
    /* A camera removed from the config since keeps its id as its name. */
    for (size_t i = 0; i < a->nknown; i++)
        if (!strcmp(a->known[i].id, camera)) *c = a->known[i];
    a->locks[a->n++] = lock_id;
    return 0;
}

static void case_cams_free(case_cams *a)
{
    free(a->v);
    free(a->locks);
}

typedef struct lock_pick {
    const case_cams *cams;
    json_t *arr;
} lock_pick;

static int on_lock(const index_lock *l, void *arg)
{
    lock_pick *p = arg;
    for (size_t i = 0; i < p->cams->n; i++)
        if (p->cams->locks[i] == l->id)
            return serve__append_row(p->arr, serve__lock_json(l), "lock", l->id);
    return 0;
}

typedef struct export_list {
    const char *index_path;
    json_t *arr;
} export_list;

static int on_export(int64_t id, void *arg)
{
    export_list *a = arg;
    index_export e;
    char *m = NULL, *sig = NULL, url[64], bundle[80];
    int ret = index_export_get(a->index_path, id, &e, &m, &sig);
    free(m);
    free(sig);
    if (ret == -ENOENT) return 0; /* being built, or failed */
    if (ret < 0) return ret;
    snprintf(url, sizeof(url), "/api/exports/%" PRId64, id);
    snprintf(bundle, sizeof(bundle), "/api/exports/%" PRId64 "/bundle.zip", id);
    json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:o,s:o,s:s,s:s}", "id", (json_int_t)id, "created",
                          jtime(e.created_us), "created_by", e.created_by, "reason", e.reason,
                          "start", jtime(e.start_us), "end", jtime(e.end_us), "url", url,
                          "bundle", bundle);
    return serve__append_row(a->arr, o, "export", id);
}

static int on_note(const index_case_note *n, void *arg)
{
    json_t *o = json_pack("{s:I,s:o,s:s,s:s}", "id", (json_int_t)n->id, "time", jtime(n->time_us),
                          "author", n->author, "text", n->text);
    return serve__append_row(arg, o, "case note", n->id);
}

static int on_custody(const index_audit *a, void *arg)
{
    return serve__append_row(arg, serve__audit_json(a), "audit row", a->id);
}

/* The cameras of the coverage reply, each with its lock id. */
static json_t *cameras_with_locks(json_t *coverage, const case_cams *cams)
{
    json_t *arr = json_incref(json_object_get(coverage, "cameras"));
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        if (i < cams->n)
            json_object_set_new(o, "lock", cams->locks[i] ? json_integer(cams->locks[i])
                                                          : json_null());
    }
    return arr ? arr : json_array();
}

void serve__case_get(index_reader *r, const char *index_path, index_db *idx, const char *who,
                     int64_t id, const serve__area_cam *known, size_t nknown, serve__reply *out)
{
    index_case c;
    case_cams cams = {.known = known, .nknown = nknown};
    serve__reply cov = {0};
    json_t *o = NULL, *locks = json_array(), *exports = json_array(), *notes = json_array(),
           *custody = json_array();
    int ret = index_case_get(index_path, id, &c);
    if (ret == -ENOENT) {
        reply_error(out, 404, "no such case");
        goto out;
    }
    if (ret == 0 && !(locks && exports && notes && custody)) ret = -ENOMEM;
    if (ret == 0) ret = index_case_cameras(index_path, id, on_case_camera, &cams);
    if (ret == 0) {
        serve__coverage(r, cams.v, cams.n, c.start_us, c.end_us, false, &cov);
        if (cov.status != 200) ret = -EIO;
    }
    lock_pick lp = {.cams = &cams, .arr = locks};
    export_list el = {.index_path = index_path, .arr = exports};
    if (ret == 0) ret = index_locks_list(index_path, NULL, 1, vg_now_us(), on_lock, &lp);
    if (ret == 0) ret = index_case_exports(index_path, id, on_export, &el);
    if (ret == 0) ret = index_case_notes(index_path, id, on_note, notes);
    /* This reading is itself part of the history; the rows queued before
     * it are committed first so the answer shows them. */
    if (ret == 0 && idx) {
        audit(idx, who, "case_view", id, NULL, 0, 0, NULL);
        index_flush(idx);
    }
    if (ret == 0) ret = index_case_custody(index_path, &c, CUSTODY_MAX, on_custody, custody);
    if (ret < 0) {
        reply_errno(out, ret, "cannot read the case");
        goto out;
    }
    o = case_json(&c);
    if (!o || json_object_set_new(o, "cameras", cameras_with_locks(cov.json, &cams)) < 0 ||
        json_object_set(o, "locks", locks) < 0 || json_object_set(o, "exports", exports) < 0 ||
        json_object_set(o, "notes", notes) < 0 || json_object_set(o, "custody", custody) < 0) {
        reply_error(out, 503, "out of memory");
        goto out;
    }
    out->status = 200;
    out->json = o;
    o = NULL;
out:
    json_decref(o);
    json_decref(cov.json);
    free(cov.text);
    json_decref(locks);
    json_decref(exports);
    json_decref(notes);
    json_decref(custody);
    case_cams_free(&cams);
}

void serve__case_note(const char *index_path, index_db *idx, index_case_note *n,
                      serve__reply *out)
{
    int ret = index_case_note_add(index_path, n);
    if (ret == -ENOENT) {
        reply_error(out, 404, "no such case");
    } else if (ret == -EALREADY) {
        reply_error(out, 409, "the case is closed");
    } else if (ret == -EINVAL) {
        reply_error(out, 400, "text is required");
    } else if (ret < 0) {
        reply_errno(out, ret, "cannot add the note");
    } else {
        audit(idx, n->author, "case_note", n->case_id, NULL, 0, 0,
              json_pack("{s:I}", "note", (json_int_t)n->id));
        out->status = 201;
        out->json = json_pack("{s:I,s:I,s:o,s:s,s:s}", "id", (json_int_t)n->id, "case",
                              (json_int_t)n->case_id, "time", jtime(n->time_us), "author",
                              n->author, "text", n->text);
    }
}

static int on_lock_id(const char *camera, int64_t lock_id, void *arg)
{
    (void)camera;
    json_t *arr = arg;
    return lock_id ? json_array_append_new(arr, json_integer(lock_id)) : 0;
}

void serve__case_close(const char *index_path, index_db *idx, int64_t id, const char *who,
                       bool admin, const char *why, serve__reply *out)
{
    index_case c;
    json_t *lock_ids = json_array(), *released = json_array();
    int ret = lock_ids && released ? index_case_close(index_path, id, who, why, !admin) : -ENOMEM;
    if (ret == -EPERM) {
        audit(idx, who, "case_close_refused", id, NULL, 0, 0, json_pack("{s:s}", "reason", why));
        reply_error(out, 403, "only the case's creator or an admin may close it");
        goto out;
    }
    if (ret == -ENOENT) {
        reply_error(out, 404, "no such case");
        goto out;
    }
    if (ret == -EALREADY) {
        reply_error(out, 409, "the case is already closed");
        goto out;
    }
    if (ret == -EINVAL) {
        reply_error(out, 400, "a reason is required to close a case");
        goto out;
    }
    if (ret < 0) {
        reply_errno(out, ret, "cannot close the case");
        goto out;
    }
    /* The case is closed; its holds go with it. A lock already released by
     * hand is not an error. */
    char reason[256], b[512];
    snprintf(b, sizeof(b), "case %" PRId64 " closed: %s", id, why);
    vg_utf8_copy(reason, sizeof(reason), b);
    index_case_cameras(index_path, id, on_lock_id, lock_ids);
    size_t i;
    json_t *v;
    json_array_foreach(lock_ids, i, v) {
        int64_t lid = json_integer_value(v);
        if (index_lock_release(index_path, lid, who, reason) == 0) {
            json_array_append(released, v);
            audit(idx, who, "lock_release", id, NULL, 0, 0,
                  json_pack("{s:I,s:s}", "lock", (json_int_t)lid, "reason", reason));
        }
    }
    audit(idx, who, "case_close", id, NULL, 0, 0,
          json_pack("{s:s,s:O}", "reason", why, "released_locks", released));
    if (index_case_get(index_path, id, &c) < 0) {
        out->status = 200;
        out->json = json_pack("{s:I,s:s}", "id", (json_int_t)id, "status", "closed");
        goto out;
    }
    out->status = 200;
    out->json = case_json(&c);
    json_object_set(out->json, "released_locks", released);
out:
    json_decref(lock_ids);
    json_decref(released);
}

/* ---- exports under a case ---- */

/* The export id of serve__export_create()'s reply text. */
static int64_t reply_export_id(const serve__reply *rep)
{
    json_t *o = rep->text ? json_loads(rep->text, 0, NULL) : NULL;
    int64_t id = json_integer_value(json_object_get(json_object_get(o, "manifest"), "export"));
    json_decref(o);
    return id;
}

void serve__case_export(index_reader *r, serve__export_req *q, int64_t id,
                        const serve__area_cam *known, size_t nknown, serve__reply *out)
{
    index_case c;
    case_cams cams = {.known = known, .nknown = nknown};
    size_t npick = 0;
    char reason[256], b[512];
    int ret = index_case_get(q->index_path, id, &c);
    if (ret == -ENOENT) {
        reply_error(out, 404, "no such case");
        goto out;
    }
    if (ret == 0 && c.closed_us) {
        reply_error(out, 409, "the case is closed");
        goto out;
    }
    if (ret == 0) ret = index_case_cameras(q->index_path, id, on_case_camera, &cams);
    if (ret < 0) {
        reply_errno(out, ret, "cannot read the case");
        goto out;
    }
    if (!q->start_us && !q->end_us) q->start_us = c.start_us, q->end_us = c.end_us;
    if (q->start_us < c.start_us || q->end_us > c.end_us || q->end_us <= q->start_us) {
        reply_error(out, 400, "the export's range must lie inside the case's");
        goto out;
    }
    if (q->cams) {
        /* Only the case's own cameras: a case is what was held. */
        for (size_t i = 0; i < q->ncams; i++) {
            bool in = false;
            for (size_t k = 0; k < cams.n && !in; k++) in = !strcmp(q->cams[i].id, cams.v[k].id);
            if (!in) {
                reply_error(out, 400, "a camera of the export is not in the case");
                goto out;
            }
        }
        npick = q->ncams;
    } else {
        q->cams = cams.v, q->ncams = npick = cams.n;
    }
    snprintf(b, sizeof(b), "case %" PRId64 ": %s", id, q->reason);
    vg_utf8_copy(reason, sizeof(reason), b);
    q->reason = reason;
    serve__export_create(r, q, out);
    int64_t eid = out->status == 201 ? reply_export_id(out) : 0;
    if (eid > 0) {
        if ((ret = index_case_add_export(q->index_path, id, eid)) < 0)
            vg_log(LOG_ERR, "serve: export %" PRId64 " could not be linked to case %" PRId64
                   ": %s", eid, id, strerror(-ret));
        audit(q->idx, q->who, "case_export", id, NULL, q->start_us, q->end_us,
              json_pack("{s:I,s:I}", "export", (json_int_t)eid, "cameras", (json_int_t)npick));
    }
out:
    case_cams_free(&cams);
}
