/*
 * The HTTP server: libh2o (its libuv build) on the daemon's loop, JSON with
 * jansson. The loop thread only parses requests and moves bytes to h2o;
 * anything that touches SQLite or a segment file runs on libuv's thread pool
 * (uv_queue_work) with an index_reader taken from a small pool.
 *
 * A request that waits for a worker is tied to its job by an "anchor"
 * allocated in the request's memory pool: when h2o frees the request (the
 * client went away) the anchor's dispose callback clears the job's pointer,
 * so a late worker result is dropped instead of written to freed memory.
 *
 * Clip downloads stream through two buffers (DL_BUF each): while h2o writes
 * one to the socket, a worker preads the next, so the loop never waits on
 * disk and a download's memory is two buffers plus its plan, whatever its
 * length. A client that disconnects frees the download (and its pins) as
 * soon as any in-flight read returns.
 */
#include "serve/serve.h"
#include "serve/auth.h"
#include "serve/metrics.h"
#include "serve/serve_internal.h"

#include <errno.h>
#include <h2o.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "common/common.h"

#define DL_BUF (2u << 20)
#define DL_FIRST (128u << 10) /* the first read is small: time to first byte */
#define MAX_READERS 8
#define MAX_CLIP_US (24LL * 3600 * 1000000)
#define MAX_QUERY_US (366LL * 24 * 3600 * 1000000)
#define RUN_TOLERANCE_US 1000000

typedef struct download download;

struct serve_ctx {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listener_open;
    int port;
    h2o_globalconf_t globalconf;
    h2o_context_t h2o;
    h2o_accept_ctx_t accept_ctx;
    char *index_path;
    const config *cfg;
    const storage *st;
    serve_camera_stats_fn camera_stats;
    void *camera_stats_opaque;
    index_db *idx;                /* audit rows, index metrics; may be NULL */
    storage_retention *retention; /* pool metrics; may be NULL */
    int (*reload)(void *opaque, const char *who, char *err, size_t errlen);
    void *reload_opaque;
    serve_metrics *metrics;
    int64_t started_us;
    serve__pins *pins;
    pthread_mutex_t readers_mu;
    index_reader *readers[MAX_READERS];
    size_t nreaders;
    uint64_t nconns, njobs, ndownloads;
    download *downloads; /* list, for shutdown */
    struct conn *conns;  /* list, for shutdown */
    uv_timer_t kill_timer;
    bool stopping, finishing;
    bool *stopped; /* serve_stop_wait()'s flag, set when freed */
    bool have_key; /* the export signing key loaded (exports need it) */
    uint8_t sign_sk[SERVE__SIGN_SK], sign_pk[SERVE__SIGN_PK];
};

typedef struct handler {
    h2o_handler_t super;
    serve_ctx *s;
} handler;

typedef struct conn {
    uv_tcp_t tcp; /* first: h2o gives the handle back to the close callback */
    serve_ctx *s;
    struct conn *prev, *next;
} conn;

/* ---- small pure helpers (unit-tested) ---- */

int serve__query_get(const char *q, size_t qlen, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = q, *end = q + qlen;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *k_end = eq ? eq : e;
        if ((size_t)(k_end - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : e;
            return vg_percent_decode(v, (size_t)(e - v), out, outlen, true) < 0 ? -1 : 1;
        }
        p = e + 1;
    }
    return 0;
}

static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s == end || *s < '0' || *s > '9') return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

int serve__range_parse(const char *v, size_t vlen, uint64_t len, uint64_t *first, uint64_t *last)
{
    const char *p = v, *end = v + vlen;
    while (p < end && *p == ' ') p++;
    if ((size_t)(end - p) < 6 || strncasecmp(p, "bytes=", 6) != 0) return 0;
    p += 6;
    while (p < end && *p == ' ') p++;
    while (end > p && end[-1] == ' ') end--;
    if (memchr(p, ',', (size_t)(end - p))) return 0; /* several ranges: send it all */
    uint64_t a, b;
    if (p < end && *p == '-') {
        p++;
        if (!parse_u64(&p, end, &b) || p != end) return 0;
        if (b == 0 || len == 0) return -1;
        *first = b >= len ? 0 : len - b;
        *last = len - 1;
        return 1;
    }
    if (!parse_u64(&p, end, &a) || p == end || *p != '-') return 0;
    p++;
    if (p == end) {
        b = UINT64_MAX;
    } else if (!parse_u64(&p, end, &b) || p != end || b < a) {
        return 0;
    }
    if (a >= len) return -1;
    *first = a;
    *last = b >= len ? len - 1 : b;
    return 1;
}

/* ---- responses ---- */

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 422: return "Unprocessable Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

static void add_header(h2o_req_t *req, const h2o_token_t *tok, const char *v)
{
    h2o_iovec_t s = h2o_strdup(&req->pool, v, strlen(v));
    h2o_add_header(&req->pool, &req->res.headers, tok, NULL, s.base, s.len);
}

static void add_header_str(h2o_req_t *req, const char *name, const char *v)
{
    h2o_iovec_t s = h2o_strdup(&req->pool, v, strlen(v));
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, s.base,
                          s.len);
}

/* Sends body (copied) with status and content type. */
static void send_body(h2o_req_t *req, int status, const char *ctype, const void *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    add_header(req, H2O_TOKEN_CONTENT_TYPE, ctype);
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    h2o_send_inline(req, body, len);
}

static void send_json(h2o_req_t *req, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) {
        send_body(req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
        return;
    }
    send_body(req, status, "application/json", s, strlen(s));
    free(s);
}

static void send_error(h2o_req_t *req, int status, const char *msg)
{
    send_json(req, status, json_pack("{s:s}", "error", msg));
}

/* Status and message for a negative result of a worker. */
static void send_errno(h2o_req_t *req, int err, const char *what)
{
    char msg[256];
    switch (err) {
    case -ENOENT:
        snprintf(msg, sizeof(msg), "no footage %s", what);
        send_error(req, 404, msg);
        return;
    case -EINVAL:
    case -ENOTSUP:
    case -ERANGE:
    case -EIO:
        snprintf(msg, sizeof(msg), "cannot read the recording: %s", strerror(-err));
        send_error(req, 500, msg);
        return;
    default:
        snprintf(msg, sizeof(msg), "index unavailable: %s", strerror(-err));
        send_error(req, 503, msg);
        return;
    }
}

static json_t *json_time(int64_t us)
{
    char b[VG_TIME_LEN];
    return json_string(vg_time_format(us, b, sizeof(b)));
}

/* ---- readers ---- */

/* Queues an audit row (never blocks: the index writer's queue). */
static void audit(serve_ctx *s, const char *who, const char *action, const char *camera,
                  int64_t start_us, int64_t end_us, const char *detail)
{
    if (!s->idx) return;
    index_audit a;
    index_audit_fill(&a, who, action, camera, start_us, end_us, detail);
    index_audit_add(s->idx, &a);
}

static int reader_get(serve_ctx *s, index_reader **out)
{
    pthread_mutex_lock(&s->readers_mu);
    index_reader *r = s->nreaders ? s->readers[--s->nreaders] : NULL;
    pthread_mutex_unlock(&s->readers_mu);
    if (r) {
        *out = r;
        return 0;
    }
    int ret = index_reader_open(s->index_path, out);
    if (ret < 0) vg_log(LOG_WARNING, "serve: cannot open the index %s: %s", s->index_path, strerror(-ret));
    return ret;
}

/* Returns r to the pool; after a failed query it is closed instead, so a
 * replaced or repaired index is reopened by the next request. */
static void reader_put(serve_ctx *s, index_reader *r, bool failed)
{
    if (!failed) {
        pthread_mutex_lock(&s->readers_mu);
        if (s->nreaders < MAX_READERS) {
            s->readers[s->nreaders++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&s->readers_mu);
    }
    index_reader_close(&r);
}

static int abspath(void *opaque, const char *pool, const char *rel, char *out, size_t len)
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

/* ---- jobs: work on the thread pool for one request ---- */

enum job_kind { JOB_RECORDINGS, JOB_CLIP, JOB_SNAPSHOT, JOB_AUDIT, JOB_FN };

typedef struct job job;

typedef struct anchor {
    job *job;
    download *dl;
} anchor;

struct job {
    uv_work_t work;
    serve_ctx *s;
    h2o_req_t *req; /* NULL once h2o freed the request */
    anchor *anchor;
    enum job_kind kind;
    char who[64]; /* the token's name, for the audit trail */
    int64_t limit;
    char camera[INDEX_ID_MAX];
    int64_t start_us, end_us, at_us;
    int err;
    json_t *json;
    serve__clip *clip;
    uint8_t *jpeg;
    size_t jpeg_len;
    int64_t frame_us;
    char export_id[24]; /* clip: requested with export=ID (audited as "export") */
    /* JOB_FN: fn runs on the worker (with a reader when need_reader) and fills
     * reply; the fields below are its arguments (evidence.c). */
    void (*fn)(struct job *j, index_reader *r);
    bool need_reader;
    serve__reply reply;
    index_lock lock;
    int64_t id, until_us;
    int all;
    char type[32];
    char reason[256];
    serve__area_cam *cams; /* owned */
    size_t ncams;
};

static void anchor_dispose(void *p);
static void maybe_finish_stop(serve_ctx *s);

static anchor *anchor_new(h2o_req_t *req)
{
    anchor *a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), anchor_dispose);
    a->job = NULL;
    a->dl = NULL;
    return a;
}

typedef struct seg_acc {
    json_t *runs, *gaps;
    int64_t start, end, run_start, run_end;
    bool have;
} seg_acc;

static int add_run(seg_acc *a)
{
    json_t *r = json_pack("{s:o,s:o}", "start", json_time(a->run_start), "end", json_time(a->run_end));
    return json_array_append_new(a->runs, r) == 0 ? 0 : -ENOMEM;
}

static int on_segment(const index_segment *seg, void *arg)
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

static void job_recordings(job *j, index_reader *r)
{
    seg_acc a = {.runs = json_array(), .gaps = json_array(), .start = j->start_us, .end = j->end_us};
    int ret = index_query_segments(r, j->camera, j->start_us, j->end_us, on_segment, &a);
    if (ret == 0 && a.have) ret = add_run(&a);
    if (ret < 0) {
        json_decref(a.runs);
        json_decref(a.gaps);
        j->err = ret;
        return;
    }
    /* Gaps: the complement of the runs within [start, min(end, now)). */
    int64_t now = vg_now_us(), lim = j->end_us < now ? j->end_us : now, cur = j->start_us;
    size_t i;
    json_t *run;
    json_array_foreach(a.runs, i, run) {
        int64_t rs = 0, re = 0;
        vg_time_parse(json_string_value(json_object_get(run, "start")), &rs);
        vg_time_parse(json_string_value(json_object_get(run, "end")), &re);
        if (rs > cur && cur < lim)
            json_array_append_new(a.gaps, json_pack("{s:o,s:o}", "start", json_time(cur), "end",
                                                    json_time(rs < lim ? rs : lim)));
        if (re > cur) cur = re;
    }
    if (cur < lim)
        json_array_append_new(a.gaps, json_pack("{s:o,s:o}", "start", json_time(cur), "end", json_time(lim)));
    j->json = json_pack("{s:s,s:o,s:o,s:o,s:o}", "camera", j->camera, "start", json_time(j->start_us),
                        "end", json_time(j->end_us), "runs", a.runs, "gaps", a.gaps);
    if (!j->json) j->err = -ENOMEM;
}

static int on_audit_row(const index_audit *a, void *arg)
{
    json_t *arr = arg;
    json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:o,s:o,s:o,s:s}", "id", (json_int_t)a->id, "time",
                          json_time(a->time_us), "token", a->token, "action", a->action, "camera",
                          a->camera[0] ? json_string(a->camera) : json_null(), "start",
                          a->start_us || a->end_us ? json_time(a->start_us) : json_null(), "end",
                          a->start_us || a->end_us ? json_time(a->end_us) : json_null(), "detail",
                          a->detail);
    return json_array_append_new(arr, o) == 0 ? 0 : -ENOMEM;
}

/* GET /api/audit: its own connection per query (index/audit.c), no reader. */
static void job_audit(job *j)
{
    j->json = json_array();
    j->err = j->json ? index_audit_list(j->s->index_path, j->camera[0] ? j->camera : NULL,
                                        j->start_us, j->end_us, j->limit, on_audit_row, j->json)
                     : -ENOMEM;
}

static void job_work(uv_work_t *w)
{
    job *j = vg_container_of(w, job, work);
    index_reader *r = NULL;
    if (j->kind == JOB_AUDIT) {
        job_audit(j);
        return;
    }
    if (j->kind == JOB_FN && !j->need_reader) {
        j->fn(j, NULL);
        return;
    }
    if ((j->err = reader_get(j->s, &r)) < 0) {
        j->err = -EAGAIN; /* 503 */
        return;
    }
    switch (j->kind) {
    case JOB_RECORDINGS:
        job_recordings(j, r);
        break;
    case JOB_CLIP:
        j->err = serve__clip_open(r, abspath, j->s, j->s->pins, j->camera, j->start_us, j->end_us,
                                  &j->clip);
        break;
    case JOB_AUDIT: /* handled above */
        break;
    case JOB_FN:
        j->fn(j, r);
        if (j->reply.status >= 500) j->err = -EIO; /* close the reader: reopened next time */
        break;
    case JOB_SNAPSHOT:
        j->err = serve__snapshot(r, abspath, j->s, j->camera, j->at_us, &j->jpeg, &j->jpeg_len,
                                 &j->frame_us);
        break;
    }
    bool failed = j->err < 0 && j->err != -ENOENT && j->err != -EINVAL;
    reader_put(j->s, r, failed);
    if (j->kind == JOB_FN) j->err = 0; /* the reply says it all */
}

static void job_free(job *j)
{
    serve_ctx *s = j->s;
    if (j->anchor) j->anchor->job = NULL;
    json_decref(j->json);
    json_decref(j->reply.json);
    free(j->reply.text);
    free(j->cams);
    serve__clip_free(&j->clip);
    free(j->jpeg);
    free(j);
    s->njobs--;
    maybe_finish_stop(s);
}

static void start_download(job *j);

static void job_done(uv_work_t *w, int status)
{
    job *j = vg_container_of(w, job, work);
    h2o_req_t *req = j->req;
    if (!req || status < 0) {
        job_free(j);
        return;
    }
    char what[160];
    snprintf(what, sizeof(what), "for camera %s in that range", j->camera);
    if (j->kind == JOB_FN) {
        if (j->reply.text)
            send_body(req, j->reply.status, "application/json", j->reply.text,
                      strlen(j->reply.text));
        else if (j->reply.json)
            send_json(req, j->reply.status, j->reply.json), j->reply.json = NULL;
        else
            send_error(req, 503, "out of memory");
    } else if (j->err < 0) {
        send_errno(req, j->err, what);
    } else if (j->kind == JOB_RECORDINGS || j->kind == JOB_AUDIT) {
        send_json(req, 200, j->json);
        j->json = NULL;
    } else if (j->kind == JOB_SNAPSHOT) {
        char t[VG_TIME_LEN], cd[200];
        add_header_str(req, "x-frame-time", vg_time_format(j->frame_us, t, sizeof(t)));
        snprintf(cd, sizeof(cd), "inline; filename=\"%s_%s.jpg\"", j->camera, t);
        add_header(req, H2O_TOKEN_CONTENT_DISPOSITION, cd);
        send_body(req, 200, "image/jpeg", j->jpeg, j->jpeg_len);
        audit(j->s, j->who, "snapshot", j->camera, j->frame_us, j->frame_us, NULL);
    } else {
        start_download(j);
    }
    job_free(j);
}

static int queue_job(serve_ctx *s, h2o_req_t *req, job *j)
{
    j->s = s;
    j->req = req;
    j->anchor = anchor_new(req);
    j->anchor->job = j;
    s->njobs++;
    int ret = uv_queue_work(s->loop, &j->work, job_work, job_done);
    if (ret < 0) {
        j->anchor->job = NULL;
        j->anchor = NULL;
        s->njobs--;
        free(j);
        send_error(req, 503, "cannot queue work");
    }
    return 0;
}

/* ---- clip downloads ---- */

struct download {
    h2o_generator_t super;
    serve_ctx *s;
    h2o_req_t *req;
    anchor *anchor;
    serve__clip *clip;
    uint64_t pos, end;   /* next byte to read, end exclusive */
    uint8_t *buf[2];
    size_t len[2];
    int filling, ready;  /* buffer index or -1 */
    int sending_buf;     /* the buffer h2o writes from while in_write */
    int fill_err;
    bool in_write;       /* h2o has a buffer of ours and has not proceeded yet */
    bool finished;       /* the final h2o_send was made */
    bool aborted;
    bool sent_any;       /* a first (small) buffer was read */
    uv_work_t work;
    download *prev, *next;
};

static void dl_try_send(download *d);

static void dl_free(download *d)
{
    serve_ctx *s = d->s;
    if (d->prev)
        d->prev->next = d->next;
    else
        s->downloads = d->next;
    if (d->next) d->next->prev = d->prev;
    serve__clip_free(&d->clip);
    free(d->buf[0]);
    free(d->buf[1]);
    free(d);
    s->ndownloads--;
    maybe_finish_stop(s);
}

static void dl_fill_work(uv_work_t *w)
{
    download *d = vg_container_of(w, download, work);
    int b = d->filling;
    uint64_t n = d->end - d->pos, cap = d->sent_any ? DL_BUF : DL_FIRST;
    if (n > cap) n = cap;
    d->fill_err = serve__clip_read(d->clip, d->pos, d->buf[b], (size_t)n);
    d->len[b] = (size_t)n;
}

static void dl_fill_done(uv_work_t *w, int status)
{
    download *d = vg_container_of(w, download, work);
    int b = d->filling;
    d->filling = -1;
    d->s->njobs--;
    if (!d->req) {
        dl_free(d);
        return;
    }
    if (status < 0 && d->fill_err == 0) d->fill_err = -ECANCELED;
    if (d->fill_err == 0) {
        d->pos += d->len[b];
        d->ready = b;
        d->sent_any = true;
    }
    dl_try_send(d);
}

static void dl_start_fill(download *d)
{
    if (d->filling >= 0 || d->ready >= 0 || d->pos >= d->end || d->fill_err || d->aborted) return;
    /* The buffer h2o is not writing from. */
    static const int other[2] = {1, 0};
    int b = d->in_write ? other[d->sending_buf] : 0;
    d->filling = b;
    d->s->njobs++;
    if (uv_queue_work(d->s->loop, &d->work, dl_fill_work, dl_fill_done) < 0) {
        d->s->njobs--;
        d->filling = -1;
        d->fill_err = -EAGAIN;
    }
}

static void dl_try_send(download *d)
{
    if (d->in_write || d->finished || !d->req) return;
    if (d->fill_err || d->aborted) {
        if (d->fill_err)
            vg_log(LOG_WARNING, "serve: clip download failed at byte %" PRIu64 ": %s", d->pos,
                   strerror(-d->fill_err));
        if (d->filling >= 0) return; /* wait for the read in flight */
        d->finished = true;
        h2o_send(d->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (d->ready < 0) {
        dl_start_fill(d);
        return;
    }
    int b = d->ready;
    d->ready = -1;
    bool last = d->pos >= d->end;
    h2o_iovec_t iov = h2o_iovec_init(d->buf[b], d->len[b]);
    d->sending_buf = b;
    if (last) {
        d->finished = true;
    } else {
        d->in_write = true;
    }
    dl_start_fill(d); /* read the next buffer while this one is written */
    h2o_send(d->req, &iov, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void dl_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    download *d = (download *)g;
    d->in_write = false;
    dl_try_send(d);
}

static void dl_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    download *d = (download *)g;
    d->aborted = true;
    d->in_write = false;
    d->finished = true; /* h2o is done with the request: no more h2o_send */
}

static void anchor_dispose(void *p)
{
    anchor *a = p;
    if (a->job) {
        a->job->req = NULL;
        a->job->anchor = NULL;
    }
    if (a->dl) {
        download *d = a->dl;
        d->req = NULL;
        d->anchor = NULL;
        if (d->filling < 0) dl_free(d);
    }
}

static bool etag_matches(const char *list, size_t len, const char *etag)
{
    size_t el = strlen(etag);
    for (size_t i = 0; i + el <= len; i++)
        if (memcmp(list + i, etag, el) == 0) return true;
    return len == 1 && list[0] == '*';
}

static void start_download(job *j)
{
    h2o_req_t *req = j->req;
    serve_ctx *s = j->s;
    const serve__clip_info *ci = serve__clip_info_get(j->clip);
    uint64_t first = 0, last = ci->length - 1;
    int status = 200;
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1);
    if (hi >= 0) {
        bool use = true;
        ssize_t ii = h2o_find_header(&req->headers, H2O_TOKEN_IF_RANGE, -1);
        if (ii >= 0) {
            h2o_iovec_t v = req->headers.entries[ii].value;
            use = v.len == strlen(ci->etag) && memcmp(v.base, ci->etag, v.len) == 0;
        }
        h2o_iovec_t v = req->headers.entries[hi].value;
        int r = use ? serve__range_parse(v.base, v.len, ci->length, &first, &last) : 0;
        if (r < 0) {
            char cr[64];
            snprintf(cr, sizeof(cr), "bytes */%" PRIu64, ci->length);
            add_header(req, H2O_TOKEN_CONTENT_RANGE, cr);
            send_error(req, 416, "range not satisfiable");
            return;
        }
        if (r > 0) status = 206;
    }
    char b1[VG_TIME_LEN], b2[VG_TIME_LEN], hv[256];
    add_header(req, H2O_TOKEN_ACCEPT_RANGES, "bytes");
    add_header(req, H2O_TOKEN_ETAG, ci->etag);
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "private, max-age=60");
    add_header_str(req, "x-clip-start", vg_time_format(ci->start_us, b1, sizeof(b1)));
    add_header_str(req, "x-clip-end", vg_time_format(ci->end_us, b2, sizeof(b2)));
    if (ci->truncated) add_header_str(req, "x-clip-truncated", ci->truncated);
    /* File name: camera_YYYYMMDDTHHMMSSZ_YYYYMMDDTHHMMSSZ.mp4 (UTC). */
    char n1[32], n2[32];
    time_t t1 = (time_t)(ci->start_us / 1000000), t2 = (time_t)((ci->end_us + 999999) / 1000000);
    struct tm tm;
    strftime(n1, sizeof(n1), "%Y%m%dT%H%M%SZ", gmtime_r(&t1, &tm));
    strftime(n2, sizeof(n2), "%Y%m%dT%H%M%SZ", gmtime_r(&t2, &tm));
    snprintf(hv, sizeof(hv), "inline; filename=\"%s_%s_%s.mp4\"", j->camera, n1, n2);
    add_header(req, H2O_TOKEN_CONTENT_DISPOSITION, hv);
    add_header(req, H2O_TOKEN_CONTENT_TYPE, "video/mp4");
    if (status == 206) {
        snprintf(hv, sizeof(hv), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, ci->length);
        add_header(req, H2O_TOKEN_CONTENT_RANGE, hv);
    }
    /* One audit row per download, not per range a player asks for: whole
     * requests and ranges starting at byte 0. */
    if (first == 0) {
        char detail[96];
        if (j->export_id[0])
            snprintf(detail, sizeof(detail), "{\"bytes\":%" PRIu64 ",\"export\":%s}", ci->length,
                     j->export_id);
        else
            snprintf(detail, sizeof(detail), "{\"bytes\":%" PRIu64 "}", ci->length);
        audit(s, j->who, j->export_id[0] ? "export" : "clip", j->camera, ci->start_us, ci->end_us,
              detail);
    }
    ssize_t ni = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (ni >= 0 && status == 200 &&
        etag_matches(req->headers.entries[ni].value.base, req->headers.entries[ni].value.len, ci->etag)) {
        req->res.status = 304;
        req->res.reason = reason_of(304);
        h2o_send_inline(req, "", 0);
        return;
    }
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = (size_t)(last - first + 1);

    download *d = calloc(1, sizeof(*d));
    if (!d || !(d->buf[0] = malloc(DL_BUF)) || !(d->buf[1] = malloc(DL_BUF))) {
        if (d) free(d->buf[0]);
        free(d);
        send_error(req, 503, "out of memory");
        return;
    }
    d->super.proceed = dl_proceed;
    d->super.stop = dl_stop;
    d->s = s;
    d->req = req;
    d->clip = j->clip, j->clip = NULL;
    d->pos = first;
    d->end = last + 1;
    d->filling = d->ready = -1;
    d->anchor = anchor_new(req);
    d->anchor->dl = d;
    d->next = s->downloads;
    if (d->next) d->next->prev = d;
    s->downloads = d;
    s->ndownloads++;
    h2o_start_response(req, &d->super);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        d->finished = true;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    dl_start_fill(d);
}

/* ---- routing ---- */

static int query_time(h2o_req_t *req, const char *name, int64_t *out, bool *present)
{
    char v[128];
    *present = false;
    if (req->query_at == SIZE_MAX) return 0;
    const char *q = req->path.base + req->query_at + 1;
    size_t qlen = req->path.len - req->query_at - 1;
    int r = serve__query_get(q, qlen, name, v, sizeof(v));
    if (r < 0) return -EINVAL;
    if (r == 0) return 0;
    /* A '+' offset sent unencoded by a form encoder arrives as a space. */
    size_t l = strlen(v);
    if (l > 6 && v[l - 6] == ' ') v[l - 6] = '+';
    if (vg_time_parse(v, out) < 0) return -EINVAL;
    *present = true;
    return 0;
}

static int query_string(h2o_req_t *req, const char *name, char *out, size_t outlen)
{
    if (req->query_at == SIZE_MAX) return 0;
    return serve__query_get(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
                            name, out, outlen);
}

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

static void handle_cameras(serve_ctx *s, h2o_req_t *req)
{
    char district[256], site[64];
    int hd = query_string(req, "district", district, sizeof(district));
    int hs = query_string(req, "site", site, sizeof(site));
    if (hd < 0 || hs < 0) {
        send_error(req, 400, "malformed query");
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
        json_object_set_new(o, "bitrate_bps", have && st.bitrate_bps > 0 ? json_integer(st.bitrate_bps) : json_null());
        json_object_set_new(o, "last_frame_at", have && st.last_frame_us ? json_time(st.last_frame_us) : json_null());
        json_array_append_new(arr, o);
    }
    send_json(req, 200, arr);
}

static void handle_camera_path(serve_ctx *s, h2o_req_t *req, const char *who, const char *id,
                               size_t idlen, const char *what, size_t wlen)
{
    char cam[INDEX_ID_MAX];
    if (idlen == 0 || idlen >= sizeof(cam)) {
        send_error(req, 404, "unknown camera");
        return;
    }
    memcpy(cam, id, idlen);
    cam[idlen] = 0;
    if (!s->cfg || !config_find_camera(s->cfg, cam)) {
        send_error(req, 404, "unknown camera");
        return;
    }
    enum job_kind kind;
    if (wlen == 10 && memcmp(what, "recordings", 10) == 0)
        kind = JOB_RECORDINGS;
    else if (wlen == 8 && memcmp(what, "clip.mp4", 8) == 0)
        kind = JOB_CLIP;
    else if (wlen == 12 && memcmp(what, "snapshot.jpg", 12) == 0)
        kind = JOB_SNAPSHOT;
    else {
        send_error(req, 404, "not found");
        return;
    }
    int64_t start = 0, end = 0, at = 0;
    bool hs, he, ha;
    char exp[24] = "";
    if (query_time(req, "start", &start, &hs) < 0 || query_time(req, "end", &end, &he) < 0 ||
        query_time(req, "at", &at, &ha) < 0) {
        send_error(req, 400, "malformed time (RFC 3339 or Unix seconds)");
        return;
    }
    if (query_string(req, "export", exp, sizeof(exp)) < 0 || strspn(exp, "0123456789") != strlen(exp)) {
        send_error(req, 400, "export must be an export id");
        return;
    }
    if (kind == JOB_RECORDINGS) {
        if (!he) end = vg_now_us();
        if (!hs) start = end - 24LL * 3600 * 1000000;
        if (end <= start || end - start > MAX_QUERY_US) {
            send_error(req, 400, "end must be after start (at most 366 days)");
            return;
        }
    } else if (kind == JOB_CLIP) {
        if (!hs || !he) {
            send_error(req, 400, "start and end are required");
            return;
        }
        if (end <= start || end - start > MAX_CLIP_US) {
            send_error(req, 400, "end must be after start (at most 24 h)");
            return;
        }
    } else if (!ha) {
        send_error(req, 400, "at is required");
        return;
    }
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        send_error(req, 503, "out of memory");
        return;
    }
    j->kind = kind;
    snprintf(j->who, sizeof(j->who), "%s", who);
    strcpy(j->camera, cam);
    j->start_us = start, j->end_us = end, j->at_us = at;
    snprintf(j->export_id, sizeof(j->export_id), "%s", exp);
    queue_job(s, req, j);
}

/* Access control (serve/auth.h): false when the request was answered (401/403). */
static bool authorize(serve_ctx *s, h2o_req_t *req, serve_auth_result *au)
{
    int need = serve_auth_route(req->method.base, req->method.len, req->path_normalized.base,
                                req->path_normalized.len);
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    const char *q = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : NULL;
    size_t qlen = q ? req->path.len - req->query_at - 1 : 0;
    serve_auth_check(s->cfg, need, hi >= 0 ? req->headers.entries[hi].value.base : NULL,
                     hi >= 0 ? req->headers.entries[hi].value.len : 0, q, qlen, au);
    if (au->status == 0) return true;
    if (au->status == 401) {
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer realm=\"vigil\"");
        send_error(req, 401, "a valid bearer token is required");
    } else {
        char msg[160];
        snprintf(msg, sizeof(msg), "token '%s' (%s) may not use this route; it needs %s", au->name,
                 config_role_name(au->role), config_role_name((config_role)need));
        send_error(req, 403, msg);
    }
    return false;
}

static void handle_metrics(serve_ctx *s, h2o_req_t *req)
{
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
    }
    if (s->idx) {
        in.have_index = 1;
        index_writer_stats(s->idx, &in.index_queue_depth, &in.index_last_commit_us);
    }
    serve_stats(s, &in.downloads, &in.pinned_segments);
    serve_metrics_render(s->metrics, &in, &text, &len);
out:
    if (text)
        send_body(req, 200, SERVE_METRICS_CONTENT_TYPE, text, len);
    else
        send_error(req, 503, "out of memory");
    free(text);
    free(cams);
    free(pools);
}

static void handle_reload(serve_ctx *s, h2o_req_t *req, const char *who)
{
    char err[1024] = "", name[64];
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        add_header(req, H2O_TOKEN_ALLOW, "POST");
        send_error(req, 405, "method not allowed");
        return;
    }
    if (!s->reload) {
        send_error(req, 404, "not found");
        return;
    }
    snprintf(name, sizeof(name), "%s", who); /* who lives in the config being replaced */
    if (s->reload(s->reload_opaque, name, err, sizeof(err)) < 0) {
        send_error(req, 422, err[0] ? err : "reload refused");
        return;
    }
    send_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void handle_audit(serve_ctx *s, h2o_req_t *req)
{
    int64_t start = INT64_MIN, end = INT64_MAX;
    bool hs, he;
    char cam[INDEX_ID_MAX] = "", lim[24] = "";
    if (query_time(req, "start", &start, &hs) < 0 || query_time(req, "end", &end, &he) < 0 ||
        query_string(req, "camera", cam, sizeof(cam)) < 0 ||
        query_string(req, "limit", lim, sizeof(lim)) < 0) {
        send_error(req, 400, "malformed query");
        return;
    }
    if (!hs) start = INT64_MIN;
    if (!he) end = INT64_MAX;
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        send_error(req, 503, "out of memory");
        return;
    }
    j->kind = JOB_AUDIT;
    snprintf(j->camera, sizeof(j->camera), "%s", cam);
    j->start_us = start, j->end_us = end;
    j->limit = lim[0] ? strtoll(lim, NULL, 10) : 1000;
    queue_job(s, req, j);
}

/* ---- investigators: locks, events, coverage, exports (evidence.c) ---- */

static bool method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static void send_405(h2o_req_t *req, const char *allow)
{
    add_header(req, H2O_TOKEN_ALLOW, allow);
    send_error(req, 405, "method not allowed");
}

/* The request body as a JSON object: 1 parsed (*out owned by the caller),
 * 0 no body, -1 malformed (answered with 400). */
static int body_object(h2o_req_t *req, json_t **out)
{
    json_error_t e;
    *out = NULL;
    if (!req->entity.base || req->entity.len == 0) return 0;
    json_t *j = json_loadb(req->entity.base, req->entity.len, 0, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        send_error(req, 400, "the body must be a JSON object");
        return -1;
    }
    *out = j;
    return 1;
}

/* A time member of o: RFC 3339 string or Unix seconds. 0 (present or not), -1 malformed. */
static int member_time(json_t *o, const char *key, int64_t *out, bool *present)
{
    json_t *v = json_object_get(o, key);
    *present = false;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        json_int_t t = json_integer_value(v);
        if (t < 0 || t > INT64_MAX / 1000000) return -1;
        *out = (int64_t)t * 1000000;
    } else if (!json_is_string(v) || vg_time_parse(json_string_value(v), out) < 0) {
        return -1;
    }
    *present = true;
    return 0;
}

/* A string member of o copied into out; false when absent, not a string or too long. */
static bool member_str(json_t *o, const char *key, char *out, size_t len)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) >= len) return false;
    snprintf(out, len, "%s", json_string_value(v));
    return strlen(out) == json_string_length(v); /* no embedded NUL */
}

static job *fn_job(h2o_req_t *req, const char *who, void (*fn)(job *, index_reader *),
                   bool need_reader)
{
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        send_error(req, 503, "out of memory");
        return NULL;
    }
    j->kind = JOB_FN;
    j->fn = fn;
    j->need_reader = need_reader;
    snprintf(j->who, sizeof(j->who), "%s", who);
    return j;
}

static void fn_lock_create(job *j, index_reader *r)
{
    (void)r;
    serve__locks_create(j->s->index_path, j->s->idx, &j->lock, &j->reply);
}

static void fn_locks_list(job *j, index_reader *r)
{
    (void)r;
    serve__locks_list(j->s->index_path, j->camera[0] ? j->camera : NULL, j->all, &j->reply);
}

static void fn_lock_release(job *j, index_reader *r)
{
    (void)r;
    serve__locks_release(j->s->index_path, j->s->idx, j->id, j->who, j->reason, &j->reply);
}

static void fn_events(job *j, index_reader *r)
{
    serve__events(r, j->camera[0] ? j->camera : NULL, j->type[0] ? j->type : NULL, j->start_us,
                  j->end_us, &j->reply);
}

static void fn_coverage(job *j, index_reader *r)
{
    serve__coverage(r, j->cams, j->ncams, j->start_us, j->end_us, &j->reply);
}

static void fn_export_create(job *j, index_reader *r)
{
    serve__export_req q = {.index_path = j->s->index_path, .idx = j->s->idx, .sk = j->s->sign_sk,
                           .pk = j->s->sign_pk, .who = j->who, .reason = j->reason,
                           .start_us = j->start_us, .end_us = j->end_us, .until_us = j->until_us,
                           .cams = j->cams, .ncams = j->ncams};
    serve__export_create(r, &q, &j->reply);
}

static void fn_export_get(job *j, index_reader *r)
{
    (void)r;
    serve__export_get(j->s->index_path, j->id, &j->reply);
}

/* POST /api/locks {"camera","start","end","reason"[,"until"]} */
static void handle_lock_create(serve_ctx *s, h2o_req_t *req, const char *who)
{
    json_t *b = NULL;
    index_lock l;
    bool hs, he, hu;
    memset(&l, 0, sizeof(l));
    if (body_object(req, &b) < 0) return;
    if (!b) {
        send_error(req, 400, "a JSON body {camera, start, end, reason[, until]} is required");
        return;
    }
    const char *bad = NULL;
    if (!member_str(b, "camera", l.camera, sizeof(l.camera)) || !l.camera[0])
        bad = "camera is required";
    else if (!member_str(b, "reason", l.reason, sizeof(l.reason)) || !l.reason[0])
        bad = "reason is required (at most 255 bytes)";
    else if (member_time(b, "start", &l.start_us, &hs) < 0 || !hs ||
             member_time(b, "end", &l.end_us, &he) < 0 || !he)
        bad = "start and end are required (RFC 3339 or Unix seconds)";
    else if (l.end_us <= l.start_us)
        bad = "end must be after start";
    else if (member_time(b, "until", &l.until_us, &hu) < 0)
        bad = "malformed until";
    else if (hu && l.until_us <= vg_now_us())
        bad = "until must be in the future";
    json_decref(b);
    if (bad) {
        send_error(req, 400, bad);
        return;
    }
    if (!s->cfg || !config_find_camera(s->cfg, l.camera)) {
        send_error(req, 404, "unknown camera");
        return;
    }
    snprintf(l.created_by, sizeof(l.created_by), "%s", who);
    job *j = fn_job(req, who, fn_lock_create, false);
    if (!j) return;
    j->lock = l;
    queue_job(s, req, j);
}

static void handle_locks(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                         size_t rlen)
{
    if (rlen == 0) {
        if (method_is(req, "POST")) {
            handle_lock_create(s, req, who);
            return;
        }
        if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
            send_405(req, "GET, HEAD, POST");
            return;
        }
        char cam[INDEX_ID_MAX] = "", all[8] = "";
        if (query_string(req, "camera", cam, sizeof(cam)) < 0 ||
            query_string(req, "all", all, sizeof(all)) < 0) {
            send_error(req, 400, "malformed query");
            return;
        }
        job *j = fn_job(req, who, fn_locks_list, false);
        if (!j) return;
        snprintf(j->camera, sizeof(j->camera), "%s", cam);
        j->all = all[0] && strcmp(all, "0") != 0 && strcmp(all, "false") != 0;
        queue_job(s, req, j);
        return;
    }
    /* /api/locks/{id} */
    char idb[24];
    char *e;
    if (rlen >= sizeof(idb)) {
        send_error(req, 404, "no such lock");
        return;
    }
    memcpy(idb, rest, rlen);
    idb[rlen] = 0;
    long long id = strtoll(idb, &e, 10);
    if (*e || id <= 0) {
        send_error(req, 404, "no such lock");
        return;
    }
    if (!method_is(req, "DELETE")) {
        send_405(req, "DELETE");
        return;
    }
    json_t *b = NULL;
    char why[256] = "";
    if (body_object(req, &b) < 0) return;
    if (b && json_object_get(b, "reason") && !member_str(b, "reason", why, sizeof(why))) {
        json_decref(b);
        send_error(req, 400, "reason must be a string (at most 255 bytes)");
        return;
    }
    json_decref(b);
    job *j = fn_job(req, who, fn_lock_release, false);
    if (!j) return;
    j->id = id;
    snprintf(j->reason, sizeof(j->reason), "%s", why);
    queue_job(s, req, j);
}

/* GET /api/events?camera=&start=&end=&type= (default: the last 24 h) */
static void handle_events(serve_ctx *s, h2o_req_t *req, const char *who)
{
    int64_t start = 0, end = 0;
    bool hs, he;
    char cam[INDEX_ID_MAX] = "", type[32] = "";
    if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
        send_405(req, "GET, HEAD");
        return;
    }
    if (query_time(req, "start", &start, &hs) < 0 || query_time(req, "end", &end, &he) < 0 ||
        query_string(req, "camera", cam, sizeof(cam)) < 0 ||
        query_string(req, "type", type, sizeof(type)) < 0) {
        send_error(req, 400, "malformed query");
        return;
    }
    if (!he) end = vg_now_us() + 1;
    if (!hs) start = end - 24LL * 3600 * 1000000;
    if (end <= start) {
        send_error(req, 400, "end must be after start");
        return;
    }
    if (cam[0] && (!s->cfg || !config_find_camera(s->cfg, cam))) {
        send_error(req, 404, "unknown camera");
        return;
    }
    job *j = fn_job(req, who, fn_events, true);
    if (!j) return;
    snprintf(j->camera, sizeof(j->camera), "%s", cam);
    snprintf(j->type, sizeof(j->type), "%s", type);
    j->start_us = start, j->end_us = end;
    queue_job(s, req, j);
}

static void area_cam_fill(serve__area_cam *a, const config_camera *c)
{
    snprintf(a->id, sizeof(a->id), "%s", c->id);
    snprintf(a->name, sizeof(a->name), "%s", c->name ? c->name : c->id);
    snprintf(a->district, sizeof(a->district), "%s", c->district ? c->district : "");
    snprintf(a->site, sizeof(a->site), "%s", config_site_name(c->site));
}

/* The cameras of the config in district/site (NULL: any); *out malloc'd. */
static int area_cams(serve_ctx *s, const char *district, const char *site, serve__area_cam **out,
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

/* GET /api/coverage?district=&site=&start=&end= */
static void handle_coverage(serve_ctx *s, h2o_req_t *req, const char *who)
{
    int64_t start = 0, end = 0;
    bool hs, he;
    char district[256], site[64];
    if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
        send_405(req, "GET, HEAD");
        return;
    }
    int hd = query_string(req, "district", district, sizeof(district));
    int hsi = query_string(req, "site", site, sizeof(site));
    if (hd < 0 || hsi < 0 || query_time(req, "start", &start, &hs) < 0 ||
        query_time(req, "end", &end, &he) < 0) {
        send_error(req, 400, "malformed query");
        return;
    }
    if (!hs || !he || end <= start || end - start > MAX_QUERY_US) {
        send_error(req, 400, "start and end are required, end after start (at most 366 days)");
        return;
    }
    job *j = fn_job(req, who, fn_coverage, true);
    if (!j) return;
    if (area_cams(s, hd > 0 ? district : NULL, hsi > 0 ? site : NULL, &j->cams, &j->ncams) < 0) {
        free(j);
        send_error(req, 503, "out of memory");
        return;
    }
    j->start_us = start, j->end_us = end;
    queue_job(s, req, j);
}

/* POST /api/exports {"cameras":[ids] | "district"[, "site"], "start","end","reason"[,"until"]} */
static void handle_export_create(serve_ctx *s, h2o_req_t *req, const char *who)
{
    json_t *b = NULL;
    job *j = NULL;
    const char *bad = NULL;
    int status = 400;
    int64_t start = 0, end = 0, until = 0;
    bool hs, he, hu;
    char reason[256], district[256] = "", site[64] = "";
    if (!s->have_key) {
        send_error(req, 503, "no export signing key (see the log)");
        return;
    }
    if (body_object(req, &b) < 0) return;
    if (!b) {
        send_error(req, 400, "a JSON body {cameras | district, start, end, reason} is required");
        return;
    }
    json_t *cams = json_object_get(b, "cameras");
    bool hd = json_object_get(b, "district") != NULL, hsi = json_object_get(b, "site") != NULL;
    if (!member_str(b, "reason", reason, sizeof(reason)) || !reason[0])
        bad = "reason is required (at most 255 bytes)";
    else if (member_time(b, "start", &start, &hs) < 0 || !hs ||
             member_time(b, "end", &end, &he) < 0 || !he)
        bad = "start and end are required (RFC 3339 or Unix seconds)";
    else if (end <= start || end - start > MAX_CLIP_US)
        bad = "end must be after start (at most 24 h)";
    else if (member_time(b, "until", &until, &hu) < 0 || (hu && until <= vg_now_us()))
        bad = "until must be a time in the future";
    else if (!cams == !(hd || hsi))
        bad = "either cameras or district/site is required";
    else if (cams && (!json_is_array(cams) || json_array_size(cams) == 0))
        bad = "cameras must be a non-empty array of camera ids";
    else if ((hd && !member_str(b, "district", district, sizeof(district))) ||
             (hsi && !member_str(b, "site", site, sizeof(site))))
        bad = "district and site must be strings";
    if (bad) goto out;
    if (!(j = fn_job(req, who, fn_export_create, true))) goto out;
    if (cams) {
        size_t n = json_array_size(cams), i;
        json_t *v;
        if (!(j->cams = calloc(n, sizeof(*j->cams)))) {
            bad = "out of memory", status = 503;
            goto out;
        }
        json_array_foreach(cams, i, v) {
            const config_camera *c = json_is_string(v) && s->cfg
                                         ? config_find_camera(s->cfg, json_string_value(v))
                                         : NULL;
            if (!c) {
                bad = json_is_string(v) ? "unknown camera" : "cameras must be camera ids";
                status = json_is_string(v) ? 404 : 400;
                goto out;
            }
            bool dup = false; /* the same camera twice: one lock */
            for (size_t k = 0; k < j->ncams && !dup; k++) dup = !strcmp(j->cams[k].id, c->id);
            if (!dup) area_cam_fill(&j->cams[j->ncams++], c);
        }
    } else if (area_cams(s, hd ? district : NULL, hsi ? site : NULL, &j->cams, &j->ncams) < 0) {
        bad = "out of memory", status = 503;
        goto out;
    } else if (j->ncams == 0) {
        bad = "no camera in that area", status = 404;
        goto out;
    }
    snprintf(j->reason, sizeof(j->reason), "%s", reason);
    j->start_us = start, j->end_us = end, j->until_us = hu ? until : 0;
    queue_job(s, req, j);
    j = NULL;
out:
    json_decref(b);
    if (j) {
        free(j->cams);
        free(j);
    }
    if (bad) send_error(req, status, bad);
}

static void handle_exports(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                           size_t rlen)
{
    if (rlen == 0) {
        if (method_is(req, "POST"))
            handle_export_create(s, req, who);
        else
            send_405(req, "POST");
        return;
    }
    if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
        send_405(req, "GET, HEAD");
        return;
    }
    if (rlen == 10 && memcmp(rest, "public-key", 10) == 0) {
        if (!s->have_key) {
            send_error(req, 503, "no export signing key (see the log)");
            return;
        }
        char pk[sodium_base64_ENCODED_LEN(SERVE__SIGN_PK, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(pk, sizeof(pk), s->sign_pk, SERVE__SIGN_PK,
                          sodium_base64_VARIANT_ORIGINAL);
        send_json(req, 200, json_pack("{s:s,s:s}", "algorithm", "Ed25519", "public_key", pk));
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
        send_error(req, 404, "no such export");
        return;
    }
    job *j = fn_job(req, who, fn_export_get, false);
    if (!j) return;
    j->id = id;
    queue_job(s, req, j);
}

/* Routes of investigators; true when path was one of them (and answered). */
static bool route_evidence(serve_ctx *s, h2o_req_t *req, const char *who, const char *p, size_t n)
{
    static const struct {
        const char *prefix;
        int kind;
    } tab[] = {{"/api/locks", 0}, {"/api/events", 1}, {"/api/coverage", 2}, {"/api/exports", 3}};
    for (size_t i = 0; i < VG_ARRAY_SIZE(tab); i++) {
        size_t pl = strlen(tab[i].prefix);
        if (n < pl || memcmp(p, tab[i].prefix, pl) != 0 || (n > pl && p[pl] != '/')) continue;
        const char *rest = p + pl + (n > pl);
        size_t rlen = n > pl ? n - pl - 1 : 0;
        if (memchr(rest, '/', rlen) || ((tab[i].kind == 1 || tab[i].kind == 2) && rlen)) {
            send_error(req, 404, "not found");
            return true;
        }
        switch (tab[i].kind) {
        case 0: handle_locks(s, req, who, rest, rlen); break;
        case 1: handle_events(s, req, who); break;
        case 2: handle_coverage(s, req, who); break;
        default: handle_exports(s, req, who, rest, rlen); break;
        }
        return true;
    }
    return false;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    serve_ctx *s = ((handler *)self)->s;
    bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    bool head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    const char *p = req->path_normalized.base;
    size_t n = req->path_normalized.len;
    add_header_str(req, "referrer-policy", "no-referrer"); /* access_token= in URLs */
    serve_auth_result au;
    if (!authorize(s, req, &au)) return 0;
    const char *who = au.name;
    if (n == 8 && memcmp(p, "/metrics", 8) == 0 && (get || head)) {
        handle_metrics(s, req);
        return 0;
    }
    if (n == 11 && memcmp(p, "/api/reload", 11) == 0) {
        handle_reload(s, req, who);
        return 0;
    }
    if (n == 10 && memcmp(p, "/api/audit", 10) == 0 && (get || head)) {
        handle_audit(s, req);
        return 0;
    }
    if (n == 8 && memcmp(p, "/healthz", 8) == 0) {
        send_json(req, 200, json_pack("{s:b,s:I,s:I}", "ok", 1, "downloads", (json_int_t)s->ndownloads,
                                      "pinned_segments", (json_int_t)serve__pins_count(s->pins)));
        return 0;
    }
    if (n < 4 || memcmp(p, "/api", 4) != 0 || (n > 4 && p[4] != '/')) return -1;
    if (route_evidence(s, req, who, p, n)) return 0;
    if (!get && !head) {
        add_header(req, H2O_TOKEN_ALLOW, "GET, HEAD");
        send_error(req, 405, "method not allowed");
        return 0;
    }
    if ((n == 12 || n == 13) && memcmp(p, "/api/cameras/", n) == 0) {
        handle_cameras(s, req);
        return 0;
    }
    if (n > 13 && memcmp(p, "/api/cameras/", 13) == 0) {
        const char *id = p + 13, *end = p + n;
        const char *slash = memchr(id, '/', (size_t)(end - id));
        if (slash && !memchr(slash + 1, '/', (size_t)(end - slash - 1))) {
            handle_camera_path(s, req, who, id, (size_t)(slash - id), slash + 1,
                               (size_t)(end - slash - 1));
            return 0;
        }
    }
    send_error(req, 404, "not found");
    return 0;
}

/* ---- connections ---- */

static void on_conn_close(uv_handle_t *h)
{
    conn *c = (conn *)h;
    serve_ctx *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
    s->nconns--;
    maybe_finish_stop(s);
}

static void on_accept(uv_stream_t *listener, int status)
{
    serve_ctx *s = vg_container_of((uv_tcp_t *)listener, serve_ctx, listener);
    if (status < 0 || s->stopping) return;
    conn *c = calloc(1, sizeof(*c));
    if (!c) return;
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        s->nconns++;
        uv_close((uv_handle_t *)&c->tcp, on_conn_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    s->nconns++;
    c->next = s->conns;
    if (c->next) c->next->prev = c;
    s->conns = c;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_close);
    h2o_accept(&s->accept_ctx, sock);
}

static int parse_listen(const char *l, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon;
    if (l[0] == '[') {
        const char *rb = strchr(l, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - l - 1) >= sizeof(host)) return -EINVAL;
        memcpy(host, l + 1, (size_t)(rb - l - 1));
        host[rb - l - 1] = 0;
        colon = rb + 1;
    } else {
        colon = strrchr(l, ':');
        if (!colon || (size_t)(colon - l) >= sizeof(host)) return -EINVAL;
        memcpy(host, l, (size_t)(colon - l));
        host[colon - l] = 0;
    }
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (*e || port < 0 || port > 65535 || e == colon + 1) return -EINVAL;
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    if (uv_ip4_addr(host[0] ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)ss) == 0) return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
    return -EINVAL;
}

/* ---- lifetime ---- */

static void free_ctx(serve_ctx *s)
{
    if (s->stopped) *s->stopped = true;
    for (size_t i = 0; i < s->nreaders; i++) index_reader_close(&s->readers[i]);
    pthread_mutex_destroy(&s->readers_mu);
    serve__pins_free(&s->pins);
    serve_metrics_free(&s->metrics);
    sodium_memzero(s->sign_sk, sizeof(s->sign_sk));
    free(s->index_path);
    free(s);
}

static void on_listener_close(uv_handle_t *h)
{
    serve_ctx *s = vg_container_of((uv_tcp_t *)h, serve_ctx, listener);
    s->listener_open = false;
    maybe_finish_stop(s);
}

static void on_listener_close_early(uv_handle_t *h)
{
    free_ctx(vg_container_of((uv_tcp_t *)h, serve_ctx, listener));
}

static void on_kill_timer_close(uv_handle_t *h)
{
    free_ctx(vg_container_of((uv_timer_t *)h, serve_ctx, kill_timer));
}

/* Stop's grace period is over: connections still open (a client that does
 * not read, so h2o never proceeds) are shut down under h2o; the failed write
 * makes h2o close them the normal way, which frees their downloads. */
static void on_kill_timer(uv_timer_t *t)
{
    serve_ctx *s = vg_container_of(t, serve_ctx, kill_timer);
    for (conn *c = s->conns; c; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) shutdown(fd, SHUT_RDWR);
    }
}

static void maybe_finish_stop(serve_ctx *s)
{
    if (!s->stopping || s->finishing || s->listener_open || s->nconns || s->njobs || s->ndownloads)
        return;
    s->finishing = true;
    /* h2o_context_request_shutdown() armed HTTP/2's GOAWAY resend timer; with
     * no connection left it has nothing to do, and a linked entry would trip
     * h2o_timeout_dispose()'s assertion. */
    if (h2o_timeout_is_linked(&s->h2o.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&s->h2o.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&s->h2o);
    h2o_config_dispose(&s->globalconf);
    uv_close((uv_handle_t *)&s->kill_timer, on_kill_timer_close);
}

/* Counts every response by status for /metrics (static files included). */
typedef struct status_logger {
    h2o_logger_t super;
    serve_ctx *s;
} status_logger;

static void log_status(h2o_logger_t *self, h2o_req_t *req)
{
    serve_metrics_count_request(((status_logger *)self)->s->metrics, req->res.status);
}

int serve_start(uv_loop_t *loop, const serve_config *c, serve_ctx **out)
{
    int ret;
    struct sockaddr_storage ss;
    const char *laddr = c->listen ? c->listen : c->cfg ? c->cfg->listen : NULL;
    const char *index_path = c->index_path ? c->index_path : c->cfg ? c->cfg->index_path : NULL;
    if (!laddr || !index_path) return -EINVAL;
    if ((ret = parse_listen(laddr, &ss)) < 0) {
        vg_log(LOG_ERR, "serve: bad listen address \"%s\"", laddr);
        return ret;
    }
    char aerr[512];
    if (c->cfg && !serve_auth_listen_allowed(c->cfg, laddr, aerr, sizeof(aerr))) {
        vg_log(LOG_ERR, "serve: refusing to listen: %s", aerr);
        return -EACCES;
    }
    serve_ctx *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->loop = loop;
    s->cfg = c->cfg;
    s->st = c->st;
    s->camera_stats = c->camera_stats;
    s->camera_stats_opaque = c->camera_stats_opaque;
    s->idx = c->idx;
    s->retention = c->retention;
    s->reload = c->reload;
    s->reload_opaque = c->reload_opaque;
    s->started_us = vg_mono_us();
    pthread_mutex_init(&s->readers_mu, NULL);
    if (!(s->index_path = strdup(index_path)) || serve__pins_new(&s->pins) < 0 ||
        serve_metrics_new(&s->metrics) < 0) {
        free_ctx(s);
        return -ENOMEM;
    }
    /* Evidence exports are signed; without a key they are refused (503). */
    s->have_key = serve__signing_key_load(s->index_path, s->sign_sk, s->sign_pk) == 0;
    /* Bind and listen on our own socket first, so a failure (address in use)
     * leaves no libuv handle to close behind. */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    socklen_t slen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 511) < 0) {
        ret = -errno;
        vg_log(LOG_ERR, "serve: cannot listen on %s: %s", laddr, strerror(errno));
        if (fd >= 0) close(fd);
        free_ctx(s);
        return ret;
    }
    if ((ret = uv_tcp_init(loop, &s->listener)) < 0) {
        close(fd);
        free_ctx(s);
        return ret;
    }
    s->listener_open = true;
    if ((ret = uv_tcp_open(&s->listener, fd)) < 0 ||
        (ret = uv_listen((uv_stream_t *)&s->listener, 511, on_accept)) < 0) {
        vg_log(LOG_ERR, "serve: cannot listen on %s: %s", laddr, uv_strerror(ret));
        uv_close((uv_handle_t *)&s->listener, on_listener_close_early);
        return ret;
    }
    uv_timer_init(loop, &s->kill_timer);
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);

    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("vigil"));
    h2o_hostconf_t *host = h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    handler *h = (handler *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->s = s;
    status_logger *lg = (status_logger *)h2o_create_logger(pc, sizeof(*lg));
    lg->super.log_access = log_status;
    lg->s = s;
    if (c->cfg && c->cfg->web_root && c->cfg->web_root[0]) {
        static const char *index_files[] = {"index.html", NULL};
        h2o_file_register(pc, c->cfg->web_root, index_files, NULL, 0);
    }
    h2o_context_init(&s->h2o, loop, &s->globalconf);
    s->accept_ctx.ctx = &s->h2o;
    s->accept_ctx.hosts = s->globalconf.hosts;
    vg_log(LOG_INFO, "serve: listening on %s (port %d)", laddr, s->port);
    *out = s;
    return 0;
}

int serve_port(const serve_ctx *s)
{
    return s->port;
}

void serve_set_config(serve_ctx *s, const config *cfg)
{
    s->cfg = cfg;
}

void serve_stop(serve_ctx **sp)
{
    serve_ctx *s = *sp;
    if (!s) return;
    *sp = NULL;
    s->stopping = true;
    uv_timer_start(&s->kill_timer, on_kill_timer, 2000, 2000);
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
    h2o_context_request_shutdown(&s->h2o);
    for (download *d = s->downloads; d; d = d->next) {
        d->aborted = true;
        dl_try_send(d);
    }
}

void serve_stop_wait(serve_ctx **sp, uv_loop_t *loop)
{
    bool stopped = false;
    if (!*sp) return;
    (*sp)->stopped = &stopped;
    serve_stop(sp);
    while (!stopped) uv_run(loop, UV_RUN_ONCE);
}

bool serve_segment_pinned(const serve_ctx *s, int64_t segment_id)
{
    return s && serve__pins_has(s->pins, segment_id);
}

void serve_count_reload(void *s, int ok)
{
    serve_metrics_count_reload(((serve_ctx *)s)->metrics, ok);
}

int serve_pin_check(void *s, int64_t segment_id)
{
    return serve_segment_pinned(s, segment_id);
}

void serve_stats(const serve_ctx *s, uint64_t *downloads, uint64_t *pinned_segments)
{
    *downloads = s->ndownloads;
    *pinned_segments = serve__pins_count(s->pins);
}
