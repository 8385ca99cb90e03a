/*
 * The HTTP side's audit rows: footage accesses and failed authentication,
 * coalesced so that a trail that sees everything is still readable.
 *
 * Every response that carries footage (a clip or an export's clip, whatever
 * byte range it asks for, a snapshot, the start of a live view) is an access
 * and is audited. A player asks for one clip in many ranges (seeking, a
 * browser's <video> reads a few hundred KiB at a time), and a scanner can
 * fail authentication thousands of times a minute; one row per request would
 * bury the trail. So accesses are grouped into runs keyed by (token, action,
 * camera, what: the clip's range and export, the snapshot's frame, the live
 * stream; for failed authentication the source address):
 *   - the first access of a run is written at once, with requests 1 and its
 *     bytes: an access is in the trail even if vigild dies a moment later;
 *   - the repeats are counted (requests, bytes, the union of their ranges)
 *     and written as one more row, "coalesced": true, when the run ends:
 *     RUN_IDLE_US without a repeat, RUN_MAX_US after it began, or vigild's
 *     HTTP side stopping.
 * So a player streaming one clip costs two rows per RUN_MAX_US at most, and a
 * scanner one row per address per run. The table of runs is bounded
 * (MAX_RUNS: the run idle longest ends early to make room), and failed
 * authentication has MAX_AUTH_RUNS addresses of its own; failures from more
 * addresses than that share one run, address "*".
 *
 * Loop thread only, like everything that answers requests; rows go through
 * the index writer's queue (index_audit_add()), never waiting for the disk.
 */
#include "serve/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/common.h"

#define RUN_IDLE_US (60LL * 1000000)
#define RUN_MAX_US (600LL * 1000000)
#define SWEEP_MS 5000
#define MAX_RUNS 1024
#define MAX_AUTH_RUNS 256

typedef struct access_run {
    struct access_run *next;
    char who[64];
    char action[32];
    char camera[INDEX_ID_MAX];
    char what[96];      /* the rest of the key */
    bool auth;          /* a failed-authentication run */
    int64_t first_us;   /* wall time of the run's first row */
    int64_t mono_first, mono_last;
    uint64_t requests;  /* repeats since the first row */
    uint64_t bytes;
    int64_t start_us, end_us; /* union of the repeats' ranges (start > end: none) */
} access_run;

struct serve__auditor {
    serve_ctx *s;
    uv_timer_t sweep;
    access_run *runs;
    size_t nruns, nauth;
    void (*closed)(void *arg);
    void *closed_arg;
};

void serve__audit(serve_ctx *s, const char *who, const char *action, const char *camera,
                  int64_t start_us, int64_t end_us, const json_t *detail)
{
    if (!s->idx) return;
    char d[INDEX_DETAIL_MAX] = "";
    if (detail) index_detail_format(detail, d, sizeof(d));
    index_audit a;
    index_audit_fill(&a, who, action, camera, start_us, end_us, d);
    index_audit_add(s->idx, &a);
}

/* Writes the run's summary row if it has repeats, then frees it. */
static void run_end(serve__auditor *A, access_run **link)
{
    access_run *r = *link;
    if (!r) return;
    *link = r->next;
    A->nruns--;
    if (r->auth) A->nauth--;
    if (r->requests) {
        char since[VG_TIME_LEN];
        json_t *d = json_pack("{s:I,s:I,s:b,s:s}", "requests", (json_int_t)r->requests, "bytes",
                              (json_int_t)r->bytes, "coalesced", 1, "since",
                              vg_time_format(r->first_us, since, sizeof(since)));
        if (d && r->auth) json_object_set_new(d, "address", json_string(r->what));
        bool range = r->start_us <= r->end_us;
        serve__audit(A->s, r->who, r->action, r->camera, range ? r->start_us : 0,
                     range ? r->end_us : 0, d);
        json_decref(d);
    }
    free(r);
}

static bool run_over(const access_run *r, int64_t mono)
{
    return mono - r->mono_last >= RUN_IDLE_US || mono - r->mono_first >= RUN_MAX_US;
}

static void on_sweep(uv_timer_t *t)
{
    serve__auditor *A = t->data;
    int64_t mono = vg_mono_us();
    for (access_run **l = &A->runs; *l;) {
        if (run_over(*l, mono))
            run_end(A, l);
        else
            l = &(*l)->next;
    }
}

int serve__auditor_new(serve_ctx *s, serve__auditor **out)
{
    serve__auditor *A = calloc(1, sizeof(*A));
    *out = NULL;
    if (!A) return -ENOMEM;
    A->s = s;
    uv_timer_init(s->loop, &A->sweep);
    A->sweep.data = A;
    uv_timer_start(&A->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&A->sweep); /* never what keeps the loop running */
    *out = A;
    return 0;
}

static void on_sweep_closed(uv_handle_t *h)
{
    serve__auditor *A = h->data;
    void (*closed)(void *) = A->closed;
    void *arg = A->closed_arg;
    free(A);
    closed(arg);
}

void serve__auditor_stop(serve__auditor **Ap, void (*closed)(void *arg), void *arg)
{
    serve__auditor *A = *Ap;
    *Ap = NULL;
    while (A->runs) run_end(A, &A->runs);
    A->closed = closed;
    A->closed_arg = arg;
    uv_close((uv_handle_t *)&A->sweep, on_sweep_closed);
}

/* The run of this key, ending it first if it is over; NULL when there is
 * none. */
static access_run *run_find(serve__auditor *A, const char *who, const char *action,
                            const char *camera, const char *what, int64_t mono)
{
    for (access_run **l = &A->runs; *l; l = &(*l)->next) {
        access_run *r = *l;
        if (strcmp(r->what, what) || strcmp(r->camera, camera) || strcmp(r->action, action) ||
            strcmp(r->who, who))
            continue;
        if (!run_over(r, mono)) return r;
        run_end(A, l);
        return NULL;
    }
    return NULL;
}

/* Room for one more run: the one idle longest ends. */
static void make_room(serve__auditor *A)
{
    if (A->nruns < MAX_RUNS) return;
    access_run **oldest = &A->runs;
    for (access_run **l = &A->runs; *l; l = &(*l)->next)
        if ((*l)->mono_last < (*oldest)->mono_last) oldest = l;
    run_end(A, oldest);
}

/* Counts one access in its run. Returns true when it starts a run: the
 * caller writes its row now. */
static bool run_count(serve__auditor *A, const char *who, const char *action, const char *camera,
                      const char *what, bool auth, int64_t start_us, int64_t end_us,
                      uint64_t bytes)
{
    int64_t mono = vg_mono_us();
    access_run *r = run_find(A, who, action, camera, what, mono);
    if (r) {
        r->requests++;
        r->bytes += bytes;
        r->mono_last = mono;
        if (start_us < r->start_us) r->start_us = start_us;
        if (end_us > r->end_us) r->end_us = end_us;
        return false;
    }
    make_room(A);
    if (!(r = calloc(1, sizeof(*r)))) return true; /* not coalesced, still audited */
    snprintf(r->who, sizeof(r->who), "%s", who);
    snprintf(r->action, sizeof(r->action), "%s", action);
    snprintf(r->camera, sizeof(r->camera), "%s", camera);
    snprintf(r->what, sizeof(r->what), "%s", what);
    r->auth = auth;
    r->first_us = vg_now_us();
    r->mono_first = r->mono_last = mono;
    r->start_us = INT64_MAX, r->end_us = INT64_MIN;
    r->next = A->runs;
    A->runs = r;
    A->nruns++;
    if (auth) A->nauth++;
    return true;
}

void serve__audit_access(serve_ctx *s, const char *who, const char *action, const char *camera,
                         const char *what, int64_t start_us, int64_t end_us, uint64_t bytes,
                         const json_t *detail)
{
    if (!s->idx) return;
    if (s->auditor &&
        !run_count(s->auditor, who, action, camera, what, false, start_us, end_us, bytes))
        return;
    json_t *d = detail ? json_deep_copy(detail) : json_object();
    if (d) {
        json_object_set_new(d, "requests", json_integer(1));
        json_object_set_new(d, "bytes", json_integer((json_int_t)bytes));
    }
    serve__audit(s, who, action, camera, start_us, end_us, d);
    json_decref(d);
}

/* The numeric address of the request's peer ("?" when unknown). */
static void peer_address(h2o_req_t *req, char *out, size_t len)
{
    struct sockaddr_storage ss;
    snprintf(out, len, "?");
    if (!req->conn->callbacks->get_peername) return;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl == 0) return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}

void serve__audit_auth_failure(serve_ctx *s, h2o_req_t *req, int status, const char *who)
{
    if (!s->idx) return;
    char addr[INET6_ADDRSTRLEN + 1];
    peer_address(req, addr, sizeof(addr));
    const char *action = status == 401 ? "auth_failed" : "auth_denied";
    serve__auditor *A = s->auditor;
    /* Past MAX_AUTH_RUNS addresses, new ones share one run. */
    const char *key = addr;
    if (A && A->nauth >= MAX_AUTH_RUNS && !run_find(A, who, action, "", addr, vg_mono_us()))
        key = "*";
    if (A && !run_count(A, who, action, "", key, true, 0, 0, 0)) return;
    /* The path without the query (an access_token= must never be stored). */
    json_t *d = json_pack("{s:s,s:i,s:s%,s:I}", "address", key, "status", status, "path",
                          req->path_normalized.base, req->path_normalized.len, "requests",
                          (json_int_t)1);
    serve__audit(s, who, action, NULL, 0, 0, d);
    json_decref(d);
}
