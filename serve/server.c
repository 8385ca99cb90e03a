/*
 * The HTTP server's lifetime: libh2o (its libuv build) on the daemon's
 * loop. serve_start() binds the listener, builds the h2o configuration with
 * one path per route (each route group registers its own, see
 * http_internal.h) and accepts connections; serve_stop() stops accepting,
 * lets requests in flight finish for a grace period and frees everything
 * once the last connection, job and download has gone.
 *
 * Every registered path gets the same front: the Referrer-Policy,
 * Content-Security-Policy and X-Frame-Options headers and
 * access control (serve/auth.h), then its route function; "/api" takes
 * unknown API paths and "/" the web console's static files.
 */
#include "serve/auth.h"
#include "serve/http_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"

struct serve__conn {
    uv_tcp_t tcp; /* first: h2o gives the handle back to the close callback */
    serve_ctx *s;
    h2o_socket_t *sock;
    serve__conn *prev, *next;
};

typedef struct route_handler {
    h2o_handler_t super;
    serve_ctx *s;
    serve__route_fn fn;
    size_t path_len;
} route_handler;

/* ---- the front of every route ---- */

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
    /* No token presented: the console's session cookie stands for one. */
    if (s->cfg->auth_enabled && hi < 0 && !au->name[0]) {
        const char *name = serve__session_user(s, req);
        const config_token *t = NULL;
        for (size_t i = 0; name && i < s->cfg->ntokens; i++)
            if (!strcmp(s->cfg->tokens[i].name, name)) t = &s->cfg->tokens[i];
        if (t) serve_auth_grant(need, t, au);
    }
    if (au->status == 0) return true;
    serve__audit_auth_failure(s, req, au->status, au->status == 401 ? "" : au->name);
    if (au->status == 401) {
        serve__add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer realm=\"vigil\"");
        serve__send_error(req, 401, "a valid bearer token is required");
    } else {
        char msg[160];
        snprintf(msg, sizeof(msg), "token '%s' (%s) may not use this route; it needs %s", au->name,
                 config_role_name(au->role),
                 config_role_name((config_role)(need & ~SERVE_AUTH_INTEGRATOR)));
        serve__send_error(req, 403, msg);
    }
    return false;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    route_handler *h = (route_handler *)self;
    serve__add_header_str(req, "referrer-policy", "no-referrer"); /* access_token= in URLs */
    /* The console runs only its own scripts and media (live tiles are MSE
     * blob: URLs) and is never framed: an injected string cannot load code
     * and no other site can overlay the operator's screen. */
    serve__add_header_str(req, "content-security-policy",
                          "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "media-src 'self' blob:; img-src 'self' blob: data:; "
                          "connect-src 'self'; object-src 'none'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'");
    serve__add_header_str(req, "x-frame-options", "DENY");
    serve_auth_result au;
    if (!authorize(h->s, req, &au)) return 0;
    if (!h->fn) return -1; /* "/": the static files' handler is next */
    size_t n = req->path_normalized.len;
    return h->fn(h->s, req, au.name, req->path_normalized.base + h->path_len, n - h->path_len);
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

static h2o_pathconf_t *path_add(serve_ctx *s, h2o_hostconf_t *host, const char *path,
                                serve__route_fn fn)
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
    route_handler *h = (route_handler *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->s = s;
    h->fn = fn;
    h->path_len = strcmp(path, "/") == 0 ? 0 : strlen(path);
    status_logger *lg = (status_logger *)h2o_create_logger(pc, sizeof(*lg));
    lg->super.log_access = log_status;
    lg->s = s;
    return pc;
}

void serve__route_add(serve_ctx *s, h2o_hostconf_t *host, const char *path, serve__route_fn fn)
{
    path_add(s, host, path, fn);
}

int serve__api_unknown(h2o_req_t *req)
{
    if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD"))
        serve__send_405(req, "GET, HEAD");
    else
        serve__send_error(req, 404, "not found");
    return 0;
}

static int route_api(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest, size_t rlen)
{
    (void)s, (void)who, (void)rest, (void)rlen;
    return serve__api_unknown(req);
}

/* ---- connections ---- */

static void on_conn_close(uv_handle_t *h)
{
    serve__conn *c = (serve__conn *)h;
    serve_ctx *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
    s->nconns--;
    serve__maybe_finish_stop(s);
}

static void on_accept(uv_stream_t *listener, int status)
{
    serve_ctx *s = vg_container_of((uv_tcp_t *)listener, serve_ctx, listener);
    if (status < 0 || s->stopping) return;
    serve__conn *c = calloc(1, sizeof(*c));
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
    c->sock = sock;
    h2o_accept(&s->accept_ctx, sock);
}

/* The socket address of a listen: (parsed by config). */
static int listen_addr(const config_listen *l, struct sockaddr_storage *ss)
{
    const char *host = !l->host[0] ? "0.0.0.0" : !strcmp(l->host, "localhost") ? "127.0.0.1" : l->host;
    if (uv_ip4_addr(host, l->port, (struct sockaddr_in *)ss) == 0) return 0;
    if (uv_ip6_addr(host, l->port, (struct sockaddr_in6 *)ss) == 0) return 0;
    return -EINVAL;
}

/* ---- lifetime ---- */

/* Releases everything; s itself too unless serve_stop_wait() waits for it
 * (then it is marked freed and serve_stop_wait() frees it). */
static void free_ctx(serve_ctx *s)
{
    for (size_t i = 0; i < s->nreaders; i++) index_reader_close(&s->readers[i]);
    pthread_mutex_destroy(&s->readers_mu);
    serve__pins_free(&s->pins);
    serve__slots_free(&s->slots);
    serve_metrics_free(&s->metrics);
    vg_memzero(s->sign_sk, sizeof(s->sign_sk));
    free(s->index_path);
    s->index_path = NULL;
    free(s->index_problem);
    free(s->index_fix);
    free(s->index_in_use);
    if (s->waited)
        s->freed = true;
    else
        free(s);
}

static void on_listener_close(uv_handle_t *h)
{
    serve_ctx *s = vg_container_of((uv_tcp_t *)h, serve_ctx, listener);
    s->listener_open = false;
    serve__maybe_finish_stop(s);
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
    for (serve__conn *c = s->conns; c; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) shutdown(fd, SHUT_RDWR);
    }
}

int serve__req_fd(void *opaque, h2o_req_t *req)
{
    serve_ctx *s = opaque;
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    for (serve__conn *c = s->conns; c && sock; c = c->next) {
        uv_os_fd_t fd;
        if (c->sock == sock && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) return fd;
    }
    return -1;
}

static void on_lag_timer_close(uv_handle_t *h)
{
    serve_ctx *s = vg_container_of((uv_timer_t *)h, serve_ctx, lag_timer);
    uv_close((uv_handle_t *)&s->kill_timer, on_kill_timer_close);
}

/* The lag timer, then the kill timer, whose close callback frees s. */
static void close_kill_timer(void *arg)
{
    serve_ctx *s = arg;
    uv_close((uv_handle_t *)&s->lag_timer, on_lag_timer_close);
}

static void on_lag_timer(uv_timer_t *t)
{
    serve_ctx *s = vg_container_of(t, serve_ctx, lag_timer);
    int64_t now = vg_mono_us();
    int64_t late = now - s->lag_last_us - SERVE__LAG_MS * INT64_C(1000);
    if (late > s->lag_max_us) s->lag_max_us = late;
    s->lag_last_us = now;
}

static void stop_auditor(void *arg)
{
    serve_ctx *s = arg;
    if (s->auditor)
        serve__auditor_stop(&s->auditor, close_kill_timer, s); /* the runs' last rows */
    else
        close_kill_timer(s);
}

void serve__maybe_finish_stop(serve_ctx *s)
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
    /* Every job came back (njobs is 0): the workers are idle. Then the
     * audit runs' last rows, then the kill timer, the last handle. */
    serve__workers_close(&s->workers, stop_auditor, s);
}

/* The h2o configuration: every route's path, then "/api" (unknown API
 * paths), then "/" (access control, then the console's files). h2o takes the
 * first registered path that matches, so the order matters. */
static void configure(serve_ctx *s, const config *cfg)
{
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("vigil"));
    /* Bodies are small JSON documents (a lock, an export's camera list). h2o
     * buffers a body before any handler (so before authentication) runs:
     * its 1 GiB default would let a few anonymous uploads fill memory and
     * stop recording. Past the cap h2o answers 413 without reading on. */
    s->globalconf.max_request_entity_size = SERVE__MAX_BODY;
    /* HTTP/2 is not used: no "Upgrade: h2c" surface. */
    s->globalconf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    serve__routes_admin(s, host);
    serve__routes_evidence(s, host);
    serve__routes_cameras(s, host);
    serve__routes_cases(s, host);
    serve__routes_events(s, host);
    serve__routes_activity(s, host);
    serve__route_add(s, host, "/api", route_api);
    h2o_pathconf_t *root = path_add(s, host, "/", NULL);
    if (cfg && cfg->web_root && cfg->web_root[0]) {
        static const char *index_files[] = {"index.html", NULL};
        h2o_file_register(root, cfg->web_root, index_files, NULL, 0);
    }
}

/* The signing key at path, with its copies at the roots of the usable pools. */
static int load_key(const config *cfg, const storage *st, const char *path,
                    uint8_t sk[SERVE__SIGN_SK], uint8_t pk[SERVE__SIGN_PK])
{
    size_t np = cfg ? cfg->npools : 0, n = 0;
    const char **dirs = calloc(np ? np : 1, sizeof(*dirs));
    int ret;
    if (!dirs) return -ENOMEM;
    for (size_t i = 0; i < np; i++)
        if (st && storage_pool_usable(st, cfg->pools[i].id) == 1) dirs[n++] = cfg->pools[i].path;
    ret = serve__signing_key_load_mirrored(path, dirs, n, sk, pk);
    free(dirs);
    return ret;
}

int serve_signing_key_prepare(const config *cfg, const storage *st, const char *path,
                              uint8_t pk[32])
{
    uint8_t sk[SERVE__SIGN_SK];
    int ret = load_key(cfg, st, path, sk, pk);
    vg_memzero(sk, sizeof(sk));
    return ret;
}

int serve_start(uv_loop_t *loop, const serve_config *c, serve_ctx **out)
{
    int ret;
    struct sockaddr_storage ss;
    const char *laddr = c->listen ? c->listen : c->cfg ? c->cfg->listen : NULL;
    const char *index_path = c->index_path ? c->index_path : c->cfg ? c->cfg->index_path : NULL;
    if (!laddr || !index_path) return -EINVAL;
    config_listen la;
    if (c->listen) {
        ret = config_listen_parse(c->listen, &la);
    } else {
        la = c->cfg->listen_at;
        ret = 0;
    }
    if (ret < 0 || (ret = listen_addr(&la, &ss)) < 0) {
        vg_log(LOG_ERR, "serve: bad listen address \"%s\"", laddr);
        return ret;
    }
    char aerr[512];
    if (c->cfg && !config_listen_allowed(c->cfg, laddr, aerr, sizeof(aerr))) {
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
    s->scrub = c->scrub;
    s->mover = c->mover;
    s->reload = c->reload;
    s->reload_report = c->reload_report;
    s->reload_opaque = c->reload_opaque;
    s->started_us = vg_mono_us();
    pthread_mutex_init(&s->readers_mu, NULL);
    if (c->index_problem &&
        (!(s->index_problem = strdup(c->index_problem)) ||
         !(s->index_fix = strdup(c->index_fix ? c->index_fix : "")) ||
         !(s->index_in_use = strdup(c->index_in_use ? c->index_in_use : "")))) {
        free_ctx(s);
        return -ENOMEM;
    }
    if (!(s->index_path = strdup(index_path)) || serve__pins_new(&s->pins) < 0 ||
        serve__slots_new(&s->slots) < 0 ||
        serve_metrics_new(&s->metrics) < 0) {
        free_ctx(s);
        return -ENOMEM;
    }
    /* Evidence exports are signed; without a key they are refused (503). */
    {
        char key[4096];
        if (c->signing_key)
            snprintf(key, sizeof(key), "%s", c->signing_key);
        else
            snprintf(key, sizeof(key), "%s.signing-key", s->index_path);
        s->have_key = load_key(c->cfg, c->st, key, s->sign_sk, s->sign_pk) == 0;
    }
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
    unsigned nworkers = c->cfg ? (unsigned)c->cfg->http.workers : CONFIG_HTTP_WORKERS;
    if ((ret = serve__workers_new(loop, nworkers, &s->workers)) < 0) {
        vg_log(LOG_ERR, "serve: cannot start %u worker threads: %s", nworkers, strerror(-ret));
        uv_close((uv_handle_t *)&s->listener, on_listener_close_early);
        return ret;
    }
    uv_timer_init(loop, &s->kill_timer);
    uv_timer_init(loop, &s->lag_timer);
    s->lag_last_us = vg_mono_us();
    uv_timer_start(&s->lag_timer, on_lag_timer, SERVE__LAG_MS, SERVE__LAG_MS);
    uv_unref((uv_handle_t *)&s->lag_timer); /* never what keeps the loop running */
    if (serve__auditor_new(s, &s->auditor) < 0)
        vg_log(LOG_WARNING, "serve: out of memory: footage accesses are audited uncoalesced");
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);

    configure(s, c->cfg);
    h2o_context_init(&s->h2o, loop, &s->globalconf);
    if ((ret = serve__live_new(loop, c->live, c->idx, serve__req_fd, s, &s->live)) < 0)
        vg_log(LOG_ERR, "serve: live view unavailable: %s", strerror(-ret));
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
    serve__live_stop(&s->live);
    serve__downloads_abort(s);
}

void serve_stop_wait(serve_ctx **sp, uv_loop_t *loop)
{
    serve_ctx *s = *sp;
    if (!s) return;
    s->waited = true;
    serve_stop(sp);
    while (!s->freed) uv_run(loop, UV_RUN_ONCE);
    free(s);
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
