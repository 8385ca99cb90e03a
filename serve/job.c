/*
 * Work on serve's worker threads (workers.c) for one request. The loop thread
 * only parses requests and moves bytes to h2o; anything that touches SQLite
 * or a segment file runs there with an index_reader taken from a small
 * pool. Each endpoint embeds serve__job in a struct of its own (its arguments
 * and results) and says in a serve__job_ops what runs on the worker, what
 * answers the request and how the struct is freed.
 *
 * A request that waits for a worker is tied to its job by an anchor
 * allocated in the request's memory pool: when h2o frees the request (the
 * client went away) the anchor's dispose callback clears the job's pointer,
 * so a late worker result is dropped instead of written to freed memory.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

struct serve__anchor {
    void (*gone)(void *owner);
    void *owner; /* NULL once dropped */
};

static void anchor_dispose(void *p)
{
    serve__anchor *a = p;
    if (a->owner) a->gone(a->owner);
}

serve__anchor *serve__anchor_new(h2o_req_t *req, void (*gone)(void *owner), void *owner)
{
    serve__anchor *a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), anchor_dispose);
    a->gone = gone;
    a->owner = owner;
    return a;
}

void serve__anchor_drop(serve__anchor *a)
{
    if (a) a->owner = NULL;
}

/* ---- readers ---- */

int serve__reader_get(serve_ctx *s, index_reader **out)
{
    pthread_mutex_lock(&s->readers_mu);
    index_reader *r = s->nreaders ? s->readers[--s->nreaders] : NULL;
    pthread_mutex_unlock(&s->readers_mu);
    if (r) {
        *out = r;
        return 0;
    }
    int ret = index_reader_open(s->index_path, out);
    if (ret < 0)
        vg_log(LOG_WARNING, "serve: cannot open the index %s: %s", s->index_path, strerror(-ret));
    return ret;
}

void serve__reader_put(serve_ctx *s, index_reader *r, bool failed)
{
    if (!failed) {
        pthread_mutex_lock(&s->readers_mu);
        if (s->nreaders < SERVE__MAX_READERS) {
            s->readers[s->nreaders++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&s->readers_mu);
    }
    index_reader_close(&r);
}

int serve__abspath(void *opaque, const char *pool, const char *rel, char *out, size_t len)
{
    serve_ctx *s = opaque;
    if (s->st) return storage_abspath(s->st, pool, rel, out, len);
    /* Without storage (tests, tools): the pool's path from the config. The
     * config is only read here when no storage is given, before any reload. */
    const config_pool *p = config_find_pool(s->cfg, pool);
    if (!p) return -ENOENT;
    int n = snprintf(out, len, "%s/%s", p->path, rel);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- jobs ---- */

static void job_gone(void *owner)
{
    serve__job *j = owner;
    j->req = NULL;
    j->anchor = NULL;
}

static void job_work(serve__task *t)
{
    serve__job *j = vg_container_of(t, serve__job, task);
    index_reader *r = NULL;
    if (!j->ops->need_reader) {
        j->ops->work(j, NULL);
        return;
    }
    if (serve__reader_get(j->s, &r) < 0) {
        j->reader_err = -EAGAIN; /* 503 */
        return;
    }
    int err = j->ops->work(j, r);
    serve__reader_put(j->s, r, err < 0 && err != -ENOENT && err != -EINVAL);
}

static void job_done(serve__task *t)
{
    serve__job *j = vg_container_of(t, serve__job, task);
    serve_ctx *s = j->s;
    if (j->req) {
        if (j->reader_err < 0)
            serve__send_errno(j->req, j->reader_err, "");
        else
            j->ops->done(j, j->req);
    }
    serve__anchor_drop(j->anchor);
    j->ops->free(j);
    s->njobs--;
    serve__maybe_finish_stop(s);
}

void serve__job_queue(serve_ctx *s, h2o_req_t *req, const char *who, serve__job *j,
                      const serve__job_ops *ops)
{
    j->s = s;
    j->req = req;
    j->ops = ops;
    snprintf(j->who, sizeof(j->who), "%s", who);
    j->anchor = serve__anchor_new(req, job_gone, j);
    s->njobs++;
    j->task.work = job_work;
    j->task.done = job_done;
    serve__workers_queue(s->workers, &j->task);
}

/* ---- reply jobs ---- */

void serve__reply_job_done(serve__job *j, h2o_req_t *req)
{
    serve__reply *r = &vg_container_of(j, serve__reply_job, base)->reply;
    if (r->text) {
        serve__send_body(req, r->status, "application/json", r->text, strlen(r->text));
    } else if (r->json) {
        serve__send_json(req, r->status, r->json);
        r->json = NULL;
    } else {
        serve__send_error(req, 503, "out of memory");
    }
}

void serve__reply_job_free(serve__job *j)
{
    serve__reply_job *rj = vg_container_of(j, serve__reply_job, base);
    json_decref(rj->reply.json);
    free(rj->reply.text);
    free(rj);
}

int serve__reply_job_status(const serve__reply_job *rj)
{
    return rj->reply.status >= 500 ? -EIO : 0;
}
