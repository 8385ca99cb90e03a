/*
 * Internals of serve/'s HTTP side, shared by its files. Prefix: serve__.
 * Errors: int 0 or negative errno-style, like the rest of serve/.
 *
 *   server.c           serve_ctx lifetime: listener, connections, the h2o
 *                      context on the loop, path registration, shutdown
 *   workers.c          serve's own worker threads (not libuv's pool)
 *   job.c              work on those threads for one request: readers,
 *                      the request anchor, queueing and completion
 *   limits.c           caps on concurrent downloads and snapshots
 *   download.c         clip downloads: Range/ETag, double-buffered streaming
 *   request.c          reading requests (query, body) and answering them
 *   routes_cameras.c   /api/cameras and /api/cameras/{id}/...
 *   routes_evidence.c  /api/locks, /api/coverage, /api/exports
 *   routes_events.c    /api/events (posted events, the search over every event)
 *   routes_admin.c     /healthz, /metrics, /api/audit, /api/reload
 *   audit.c            the audit rows of footage access and failed
 *                      authentication, coalesced into runs
 *
 * Everything here runs on the loop thread unless it says otherwise.
 */
#ifndef VIGIL_SERVE_HTTP_INTERNAL_H
#define VIGIL_SERVE_HTTP_INTERNAL_H

#include <h2o.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "serve/live.h"
#include "serve/metrics.h"
#include "serve/serve.h"
#include "serve/serve_internal.h"

#define SERVE__MAX_READERS 8
#define SERVE__LAG_MS 100 /* period of the loop-lateness timer (lag_timer) */
#define SERVE__MAX_BODY (64 * 1024) /* bytes of a request body; more is 413 */
#define SERVE__MAX_CLIP_US (24LL * 3600 * 1000000)
#define SERVE__MAX_QUERY_US (366LL * 24 * 3600 * 1000000)

typedef struct serve__download serve__download;
typedef struct serve__conn serve__conn;
typedef struct serve__auditor serve__auditor;

/* ---- limits.c: caps on concurrent footage work (loop thread only) ---- */

/* SERVE__SLOT_EVENT_POST: a POST /api/events waiting on a pool thread for the
 * index writer's commit (routes_events.c). */
typedef enum {
    SERVE__SLOT_DOWNLOAD,
    SERVE__SLOT_SNAPSHOT,
    SERVE__SLOT_EVENT_POST,
    SERVE__SLOT_KINDS
} serve__slot_kind;
typedef struct serve__slots serve__slots;

int serve__slots_new(serve__slots **out);
void serve__slots_free(serve__slots **sl); /* accepts NULL */
/* Takes a slot of kind for token who, under max slots in all and per_token
 * for who (<= 0: no cap). 0; -EBUSY: who holds per_token already; -EAGAIN:
 * max are taken; -ENOMEM. Give it back with serve__slots_give(). */
int serve__slots_take(serve__slots *sl, serve__slot_kind kind, const char *who, int max,
                      int per_token);
void serve__slots_give(serve__slots *sl, serve__slot_kind kind, const char *who);
unsigned serve__slots_in_use(const serve__slots *sl, serve__slot_kind kind);
/* Answers a refused take (its err): 429 for -EBUSY, 503 otherwise, with
 * Retry-After. */
void serve__slots_refuse(h2o_req_t *req, serve__slot_kind kind, int err);

/* ---- workers.c ---- */

/* One piece of work for serve's threads. Embed it and get back with
 * vg_container_of. */
typedef struct serve__task serve__task;
struct serve__task {
    void (*work)(serve__task *t); /* a worker thread */
    void (*done)(serve__task *t); /* the loop thread, after work; may free t */
    serve__task *next;
};
typedef struct serve__workers serve__workers;

/* n threads (at least 1) and an async handle on loop. 0 or negative; on
 * failure nothing is left to close. */
int serve__workers_new(uv_loop_t *loop, unsigned n, serve__workers **out);
/* Queues t (borrowed until its done() runs). Never fails. */
void serve__workers_queue(serve__workers *w, serve__task *t);
/* Joins the threads (every queued task must have come back) and closes the
 * handle; frees the pool in its close callback, then calls closed(arg).
 * *w is set to NULL. */
void serve__workers_close(serve__workers **w, void (*closed)(void *arg), void *arg);

/* A console sign-in: the cookie's id and the token name it stands for. */
#define SERVE__SESSIONS 256
#define SERVE__SESSION_TTL_US (12LL * 3600 * 1000000)
typedef struct serve__session {
    char id[65];         /* hex of 32 random bytes, "" when the slot is free */
    char name[64];       /* the token's configured name */
    int64_t expires_us;  /* monotonic */
} serve__session;

struct serve_ctx {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listener_open;
    int port;
    h2o_globalconf_t globalconf;
    h2o_context_t h2o;
    h2o_accept_ctx_t accept_ctx;
    char *index_path;
    /* NULL while the index is healthy; else what is wrong, what fixes it,
     * and the stand-in in use (GET /healthz). */
    char *index_problem, *index_fix, *index_in_use;
    const config *cfg;
    const storage *st;
    serve_camera_stats_fn camera_stats;
    void *camera_stats_opaque;
    index_db *idx;                /* audit rows, index metrics; may be NULL */
    serve__auditor *auditor;      /* runs of audited accesses (audit.c); NULL once stopped */
    storage_retention *retention; /* pool metrics; may be NULL */
    storage_scrub *scrub;         /* verifier metrics; may be NULL */
    storage_mover *mover;         /* tier metrics; may be NULL */
    int (*reload)(void *opaque, const char *who, char *err, size_t errlen);
    char *(*reload_report)(void *opaque);
    void *reload_opaque;
    serve_metrics *metrics;
    serve__live *live; /* live.mp4 viewers (serve/live.c) */
    int64_t started_us;
    serve__pins *pins;
    serve__workers *workers; /* every blocking piece of request work */
    serve__slots *slots;     /* downloads and snapshots in progress */
    pthread_mutex_t readers_mu;
    index_reader *readers[SERVE__MAX_READERS];
    size_t nreaders;
    uint64_t nconns, njobs, ndownloads;
    serve__download *downloads; /* list, for shutdown */
    serve__conn *conns;         /* list, for shutdown */
    uv_timer_t kill_timer;
    /* The loop's lateness: a timer every SERVE__LAG_MS notes how much later
     * than that it runs (a callback that blocked the loop: HTTP, timers and
     * camera supervision all wait). Loop thread only. */
    uv_timer_t lag_timer;
    int64_t lag_last_us, lag_max_us;
    bool stopping, finishing;
    bool waited, freed; /* serve_stop_wait() frees s once it is marked freed */
    bool have_key; /* the export signing key loaded (exports need it) */
    uint8_t sign_sk[SERVE__SIGN_SK], sign_pk[SERVE__SIGN_PK];
    serve__session sessions[SERVE__SESSIONS]; /* the console's sign-ins (session.c) */
};

/* ---- server.c ---- */

/* A route: answers every request whose normalized path is the registered
 * path or below it, after access control. who is the token's name (borrowed
 * from the config: copy it to keep it past this call); rest is what follows
 * the registered path ("" or "/..."). Returns 0 when answered, -1 to let
 * h2o answer 404. */
typedef int (*serve__route_fn)(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                               size_t rlen);
/* Registers path (no trailing '/') with fn. h2o takes the first registered
 * path that matches, so a path must be registered before any of its
 * prefixes. */
void serve__route_add(serve_ctx *s, h2o_hostconf_t *host, const char *path, serve__route_fn fn);
/* A per-camera endpoint, GET/HEAD /api/cameras/{id}/NAME, listed in
 * routes_cameras.c's camera_routes[] (one line per endpoint): camera names a
 * configured camera (borrowed, valid for the call); who as above. Answers
 * req. */
typedef void (*serve__camera_fn)(serve_ctx *s, h2o_req_t *req, const char *who,
                                 const char *camera);
/* The route groups, each registering its paths. */
void serve__routes_admin(serve_ctx *s, h2o_hostconf_t *host);
void serve__routes_evidence(serve_ctx *s, h2o_hostconf_t *host);
void serve__routes_cameras(serve_ctx *s, h2o_hostconf_t *host);
void serve__routes_cases(serve_ctx *s, h2o_hostconf_t *host);
void serve__routes_events(serve_ctx *s, h2o_hostconf_t *host);
void serve__routes_activity(serve_ctx *s, h2o_hostconf_t *host);

/* routes_evidence.c: whether the token named who (the caller, authenticated)
 * is an admin; every caller is when authentication is off, as serve/auth.c
 * treats them then. */
bool serve__caller_is_admin(const serve_ctx *s, const char *who);
/* The cameras a request body names: "cameras": [ids] or "district"/"site"
 * (the config's cameras there). 0 with *out (malloc'd) and *n, or the HTTP
 * status to answer with *bad as the message. */
int serve__area_from_body(serve_ctx *s, json_t *b, serve__area_cam **out, size_t *n,
                          const char **bad);
/* Every camera of the config. 0 or -ENOMEM; *out malloc'd. */
int serve__area_all(serve_ctx *s, serve__area_cam **out, size_t *n);
/* The cameras of the config in district/site (NULL: any). 0 or -ENOMEM;
 * *out malloc'd. */
int serve__area_cams(serve_ctx *s, const char *district, const char *site, serve__area_cam **out,
                     size_t *n);
/* routes_activity.c: GET /api/cameras/{id}/activity (camera_routes[]). */
void serve__camera_activity(serve_ctx *s, h2o_req_t *req, const char *who, const char *camera);

/* What an /api/ path no route knows gets: 405 (Allow: GET, HEAD) for other
 * methods, else 404. */
int serve__api_unknown(h2o_req_t *req);

/* The socket of a request's connection, -1 if unknown (s is the opaque). */
int serve__req_fd(void *s, h2o_req_t *req);
/* Frees s once stopping and nothing (listener, connection, job, download)
 * is left. Called whenever one of those ends. */
void serve__maybe_finish_stop(serve_ctx *s);

/* ---- session.c ---- */

/* The token name of the request's session cookie, NULL when none is valid. */
const char *serve__session_user(serve_ctx *s, h2o_req_t *req);
/* GET/POST/DELETE /api/session. */
void serve__routes_session(serve_ctx *s, h2o_hostconf_t *host);

/* ---- audit.c ---- */

/* Queues an audit row (never blocks: the index writer's queue); detail is a
 * JSON object or NULL (borrowed). No-op without an index. */
void serve__audit(serve_ctx *s, const char *who, const char *action, const char *camera,
                  int64_t start_us, int64_t end_us, const json_t *detail);
/* One footage access (action clip, export, snapshot, live) by token who:
 * what names the resource within camera (with who, action and camera the
 * key of its run), [start_us, end_us) the footage, bytes what was sent. The
 * first access of a run is written now, with detail's members (borrowed, may
 * be NULL) plus requests and bytes; repeats make one "coalesced" row when
 * the run ends. */
void serve__audit_access(serve_ctx *s, const char *who, const char *action, const char *camera,
                         const char *what, int64_t start_us, int64_t end_us, uint64_t bytes,
                         const json_t *detail);
/* A request refused with status 401 (who "") or 403 (who: the token's
 * name): audited as auth_failed / auth_denied with the peer's address and
 * the path (never the query), one run per address. */
void serve__audit_auth_failure(serve_ctx *s, h2o_req_t *req, int status, const char *who);
/* The runs' table and its sweep timer on s->loop. 0 or -ENOMEM. */
int serve__auditor_new(serve_ctx *s, serve__auditor **out);
/* Writes every run's row, closes the timer and frees; closed(arg) runs once
 * the timer is closed. Takes ownership (*A set to NULL). */
void serve__auditor_stop(serve__auditor **A, void (*closed)(void *arg), void *arg);

/* ---- job.c ---- */

/* Ties a request to whoever answers it later: when h2o frees the request
 * (the client went away), gone(owner) runs, so a late result is dropped
 * instead of written to freed memory. Lives in the request's pool. */
typedef struct serve__anchor serve__anchor;
serve__anchor *serve__anchor_new(h2o_req_t *req, void (*gone)(void *owner), void *owner);
/* The owner no longer needs to hear about the request (accepts NULL). */
void serve__anchor_drop(serve__anchor *a);

/* The index readers of worker threads, pooled. Thread-safe. A reader whose
 * query failed is closed instead of returned (failed), so a replaced or
 * repaired index is reopened by the next request. */
int serve__reader_get(serve_ctx *s, index_reader **out);
void serve__reader_put(serve_ctx *s, index_reader *r, bool failed);
/* Paths of segments (serve__abspath_fn; s is the opaque). Worker threads. */
int serve__abspath(void *s, const char *pool, const char *rel, char *out, size_t len);

typedef struct serve__job serve__job;

/* What one endpoint does with its job; each endpoint embeds serve__job first
 * in a struct of its own arguments and results. */
typedef struct serve__job_ops {
    bool need_reader;
    /* Worker thread; r is NULL unless need_reader. 0 or negative: a negative
     * other than -ENOENT and -EINVAL closes the reader (see reader_put). */
    int (*work)(serve__job *j, index_reader *r);
    /* Loop thread, only while the request is alive: answers it. */
    void (*done)(serve__job *j, h2o_req_t *req);
    /* Loop thread, always, last: frees the enclosing struct. */
    void (*free)(serve__job *j);
} serve__job_ops;

struct serve__job {
    serve__task task;
    serve_ctx *s;
    h2o_req_t *req; /* NULL once h2o freed the request */
    serve__anchor *anchor;
    const serve__job_ops *ops;
    int reader_err; /* no reader could be had: answered 503 without work/done */
    char who[64];   /* the token's name (audit trail, created_by) */
};

/* Runs ops->work on serve's workers, then ops->done with the request and
 * ops->free. Takes ownership of j. */
void serve__job_queue(serve_ctx *s, h2o_req_t *req, const char *who, serve__job *j,
                      const serve__job_ops *ops);

/* A job whose answer is a serve__reply (evidence.c's worker halves). */
typedef struct serve__reply_job {
    serve__job base;
    serve__reply reply;
} serve__reply_job;
/* done/free for reply jobs; free releases the reply, then free(j). */
void serve__reply_job_done(serve__job *j, h2o_req_t *req);
void serve__reply_job_free(serve__job *j);
/* work's return for a reply job: 5xx closes the reader. */
int serve__reply_job_status(const serve__reply_job *rj);

/* ---- download.c ---- */

/* Answers a clip request: Range, If-Range, If-None-Match (304), the clip
 * headers, the audited access (every response, whatever its range;
 * serve__audit_access(), action "export" with export_id, else "clip"), then
 * streams the bytes. Takes ownership of *clip (set to NULL), and of who's
 * download slot when *slot (the download gives it back when it ends; *slot
 * is then set to false). */
void serve__download_start(serve_ctx *s, h2o_req_t *req, media_clip **clip, const char *camera,
                           const char *who, const char *export_id, bool *slot);
/* A response body read by a download, front to back on worker threads:
 * read() fills len bytes at pos (0 or negative); free() is called once. */
typedef struct serve__body {
    void *opaque;
    int (*read)(void *opaque, uint64_t pos, uint8_t *buf, size_t len);
    void (*free)(void *opaque);
} serve__body;
/* Streams bytes [first, end) of body after the caller has set the status and
 * headers (Content-Length included), double-buffered like a clip. Takes
 * ownership of *body (cleared) and of who's download slot when *slot. */
void serve__stream_start(serve_ctx *s, h2o_req_t *req, serve__body *body, uint64_t first,
                         uint64_t end, const char *who, bool *slot);
/* Shutdown: every download in progress fails. */
void serve__downloads_abort(serve_ctx *s);

/* ---- request.c ---- */

const char *serve__reason(int status);
void serve__add_header(h2o_req_t *req, const h2o_token_t *tok, const char *v);
void serve__add_header_str(h2o_req_t *req, const char *name, const char *v);
/* Sends body (copied) with status and content type. */
void serve__send_body(h2o_req_t *req, int status, const char *ctype, const void *body, size_t len);
/* Sends j (takes the reference) as compact JSON. */
void serve__send_json(h2o_req_t *req, int status, json_t *j);
/* {"error": msg} */
void serve__send_error(h2o_req_t *req, int status, const char *msg);
/* Status and message for a negative result of a worker: -ENOENT 404 "no
 * footage <what>", file errors 500, anything else 503. */
void serve__send_errno(h2o_req_t *req, int err, const char *what);
void serve__send_405(h2o_req_t *req, const char *allow);
json_t *serve__json_time(int64_t us);
bool serve__method_is(h2o_req_t *req, const char *m);
/* Query parameters: 0 (present or not; *present says), -EINVAL malformed. */
int serve__query_time(h2o_req_t *req, const char *name, int64_t *out, bool *present);
/* 1 found, 0 absent, -1 malformed/too long (serve__query_get). */
int serve__query_string(h2o_req_t *req, const char *name, char *out, size_t outlen);
/* The request body as a JSON object: 1 parsed (*out owned by the caller),
 * 0 no body, -1 malformed (answered with 400). */
int serve__body_object(h2o_req_t *req, json_t **out);
/* A time member of o: RFC 3339 string or Unix seconds. 0 (present or not), -1 malformed. */
int serve__member_time(json_t *o, const char *key, int64_t *out, bool *present);
/* A string member of o copied into out; false when absent, not a string or too long. */
bool serve__member_str(json_t *o, const char *key, char *out, size_t len);

#endif
