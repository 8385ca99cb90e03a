/*
 * vigild: the recorder. Loads the config, opens the index and the storage
 * pools, starts a session per enabled camera and runs the libuv loop until
 * SIGTERM/SIGINT; then every camera is asked to stop at once, each is joined
 * (closing its open segment: fsync, indexed), and the index is flushed.
 * Which index is opened, and what happens when it is lost or damaged, is
 * daemon/guard.c's. Everything else lives in the modules; main only wires
 * them together.
 */
#include "common/common.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/guard.h"
#include "daemon/supervisor.h"
#include "index/index.h"
#include "storage/storage.h"

#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "serve/serve.h"

#define VIGILD_UV_THREADS "16"

static void usage(FILE *f)
{
    fprintf(f, "usage: vigild --config FILE [--log-level debug|info|notice|warning] "
               "[--rebuild-index] [--reconcile-full]\n"
               "  --rebuild-index  rebuild a lost or damaged index from the footage and the\n"
               "                   locks and signing key kept beside it, then exit (run it\n"
               "                   with the service stopped)\n"
               "  --reconcile-full  walk every hour directory of every pool before recording\n"
               "                    (after footage was copied into a pool by hand: a start\n"
               "                    walks only what a crash can have left unindexed)\n");
}

static int parse_level(const char *s)
{
    if (strcmp(s, "debug") == 0) return LOG_DEBUG;
    if (strcmp(s, "info") == 0) return LOG_INFO;
    if (strcmp(s, "notice") == 0) return LOG_NOTICE;
    if (strcmp(s, "warning") == 0) return LOG_WARNING;
    if (strcmp(s, "error") == 0) return LOG_ERR;
    return -1;
}

/* A stop asked for while vigild starts (systemd's stop, a Ctrl-C during a
 * long reconciliation) is kept until the loop can act on it: the default
 * action would kill the daemon between the index and the loop, leaving the
 * pools marked unclean and the next start walking them. SIGHUP here is a
 * reload of the config being read anyway: nothing to do. */
static volatile sig_atomic_t early_signal;
static void on_early_signal(int signum)
{
    if (signum != SIGHUP) early_signal = signum;
}

static void on_signal(uv_signal_t *h, int signum)
{
    vigil_daemon *d = h->data;
    if (signum == SIGHUP) {
        char err[1024];
        if (!d->stopping && d->rl.path) reload_run(&d->rl, "daemon", err, sizeof(err)); /* logs it */
        return;
    }
    if (d->stopping) return;
    d->stopping = 1;
    vg_log(LOG_NOTICE, "vigild: %s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_stopping(&d->ntf);
    uv_stop(&d->loop);
}

/* STATUS= for systemd: "recording N/M cameras" (M: enabled ones). */
static void status_line(void *opaque, char *buf, size_t len)
{
    vigil_daemon *d = opaque;
    size_t n = 0, m = 0;
    for (size_t i = 0; i < d->sup.ncams; i++) {
        if (!d->sup.cams[i].cfg->enabled) continue;
        m++;
        ingest_stats st;
        if (!d->sup.cams[i].cam) continue;
        ingest_camera_get_stats(d->sup.cams[i].cam, &st);
        n += st.state == INGEST_RECORDING;
    }
    snprintf(buf, len, "%srecording %zu/%zu cameras",
             d->index_degraded ? "INDEX DEGRADED (see the log; vigild --rebuild-index): " : "", n, m);
}

/* POST /api/reload: the same reload as SIGHUP, audited as the token. */
static int http_reload(void *opaque, const char *who, char *err, size_t errlen)
{
    vigil_daemon *d = opaque;
    return reload_run(&d->rl, who, err, errlen);
}

/* GET /api/reload: a copy of the last outcome (SIGHUP's included). */
static char *http_reload_report(void *opaque)
{
    vigil_daemon *d = opaque;
    return d->rl.last_json ? strdup(d->rl.last_json) : NULL;
}

static void http_set_config(void *opaque, const config *cfg)
{
    serve_set_config(opaque, cfg);
}

/* Reconciliation's progress: each report buys another EXTEND_USEC of start
 * time from systemd (reports come about once a second while it works), so a
 * long walk after a crash is not killed by TimeoutStartSec= while a stuck one
 * still is. */
#define EXTEND_USEC (UINT64_C(30) * 1000000)
static void reconcile_progress(void *opaque, const storage_reconcile_report *so_far)
{
    (void)opaque;
    char status[256];
    snprintf(status, sizeof(status),
             "reconciling storage: %u hour directories walked, %u recovered, %u indexed "
             "(%lld s)",
             so_far->hour_dirs, so_far->recovered, so_far->indexed,
             (long long)(so_far->elapsed_ms / 1000));
    notify_extend_start(EXTEND_USEC, status);
}

/* The reconciliation checkpoint moves forward every CHECKPOINT_MS
 * (storage_checkpoint()), so a crash walks only the hours since. It flushes
 * the index, so it runs on libuv's thread pool, one at a time. */
#define CHECKPOINT_MS (10 * 60 * 1000)
typedef struct checkpointer {
    uv_timer_t timer;
    uv_work_t work;
    bool busy;
    index_db *idx;         /* borrowed */
    char *index_path;      /* owned: the config may be replaced by a reload */
    uint64_t failures;     /* the writer's failures when reconciliation ended */
    int result, logged;
} checkpointer;

static void checkpoint_work(uv_work_t *w)
{
    checkpointer *c = vg_container_of(w, checkpointer, work);
    c->result = storage_checkpoint(c->idx, c->index_path, c->failures);
}

static void checkpoint_done(uv_work_t *w, int status)
{
    checkpointer *c = vg_container_of(w, checkpointer, work);
    c->busy = false;
    if (status == 0 && c->result < 0 && c->result != c->logged)
        vg_log(LOG_WARNING, "vigild: the reconciliation checkpoint stays where it was (%s): "
               "a crash now walks the pools from there", strerror(-c->result));
    if (status == 0 && c->result < 0) c->logged = c->result;
}

static void checkpoint_tick(uv_timer_t *t)
{
    checkpointer *c = vg_container_of(t, checkpointer, timer);
    if (c->busy) return;
    if (uv_queue_work(t->loop, &c->work, checkpoint_work, checkpoint_done) == 0) c->busy = true;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL;
    int level = LOG_INFO, r, ret = 1;
    char err[1024];
    vigil_daemon d;
    storage_retention *retention = NULL; /* issue 4 */
    storage_scrub *scrub = NULL;
    storage_mover *mover = NULL; /* tiers: fast pool -> archive */
    serve_ctx *http = NULL;              /* issue 3 */
    ingest_live_hub *live = NULL;        /* live view: cameras publish, serve/ reads */
    memset(&d, 0, sizeof(d));
    bool loop_ready = false, rebuild = false;
    bool reconciled = false; /* the index and the pools agreed at start */
    bool reconcile_full = false;
    checkpointer ckpt;
    memset(&ckpt, 0, sizeof(ckpt));
    guard g;
    memset(&g, 0, sizeof(g));
    /* Every camera keeps a few buffers of 64 KiB - 1 MiB that grow and shrink
     * with its bitrate (ingest/segmenter.c). A fixed mmap threshold keeps them
     * in their own mappings, so a shrink or a free gives the memory back
     * instead of leaving holes in a thread's heap (glibc would otherwise raise
     * the threshold after the first such free). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* A viewer that goes away mid-write is an EPIPE for h2o, not a signal
     * that kills the recorder (systemd ignores SIGPIPE for us; a shell does not). */
    signal(SIGPIPE, SIG_IGN);
    /* libuv's thread pool (one per process, started at its first use) now
     * resolves camera host names and runs the one reconciliation checkpoint
     * at a time, nothing else: HTTP work has serve's own threads
     * (http.workers) and IP-literal hosts are never looked up. Sized for a
     * fleet reconnecting at once after a network cut, where each look-up of
     * an unreachable resolver can block a thread for seconds; libuv's default
     * of 4 would queue the rest. An operator's own value is kept. */
    setenv("UV_THREADPOOL_SIZE", VIGILD_UV_THREADS, 0);

    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"reconcile-full", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {"rebuild-index", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': cfg_path = optarg; break;
        case 'l':
            if ((level = parse_level(optarg)) < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'R': rebuild = true; break;
        case 'F': reconcile_full = true; break;
        default: usage(stderr); return 2;
        }
    }
    if (!cfg_path || optind != argc) {
        usage(stderr);
        return 2;
    }
    vg_log_set_level(level);
    vg_log_capture_ffmpeg();
    if (level >= LOG_DEBUG) av_log_set_level(AV_LOG_WARNING);
    avformat_network_init();

    err[0] = 0;
    r = config_load(cfg_path, &d.cfg, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "%s\n", err[0] ? err : "cannot load the config");
        ret = 2;
        goto out;
    }
    {
        /* The index's directory is ours to create, like a pool's. */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", d.cfg->index_path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            if ((r = vg_mkdir_p(dir, 0755)) < 0)
                vg_log(LOG_WARNING, "vigild: cannot create %s: %s", dir, strerror(-r));
        }
    }
    if (rebuild) {
        ret = guard_rebuild(d.cfg, cfg_path);
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_early_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A lost or damaged index is never replaced silently, and never stops
     * recording: see daemon/guard.c. */
    r = guard_open(&g, d.cfg, cfg_path, &d.idx);
    if (r < 0) {
        vg_log(LOG_ERR, "vigild: cannot open the index %s: %s", d.cfg->index_path, strerror(-r));
        goto out;
    }
    r = storage_open(d.cfg, d.idx, &d.st);
    if (r < 0) {
        vg_log(LOG_ERR, "vigild: cannot open storage: %s", strerror(-r));
        goto out;
    }
    /* Startup reconciliation, then retention (storage/, issue 4), before the
     * cameras start: open segments of a crash are closed, and the pools' byte
     * counts come from a consistent index. */
    /* Moves between tiers a crash interrupted are settled first: the walk
     * below must not take a half-moved copy for new footage. */
    if ((r = storage_moves_recover(d.st, d.cfg)) < 0)
        vg_log(LOG_ERR, "vigild: interrupted moves between pools: %s", strerror(-r));
    storage_reconcile_report rec;
    storage_reconcile_opts ropts = {.full = reconcile_full, .progress = reconcile_progress};
    r = storage_reconcile_opts_run(d.st, d.idx, d.cfg, &ropts, &rec);
    if (r < 0) vg_log(LOG_ERR, "vigild: reconciliation incomplete: %s", strerror(-r));
    else reconciled = true;
    r = storage_retention_start(d.st, d.idx, d.cfg, 1000, &retention);
    if (r < 0) {
        vg_log(LOG_ERR, "vigild: cannot start retention: %s", strerror(-r));
        goto out;
    }
    guard_started(&g, d.cfg, d.st, d.idx, retention);
    /* The verifier is not needed to record: without it, vigild says so and goes on. */
    if ((r = storage_scrub_start(d.st, d.idx, d.cfg, &scrub)) < 0)
        vg_log(LOG_ERR, "vigild: cannot start the segment verifier: %s", strerror(-r));
    if ((r = storage_mover_start(d.st, d.idx, d.cfg, &mover)) < 0)
        vg_log(LOG_ERR, "vigild: cannot start moving footage to the archive pools: %s",
               strerror(-r));

    r = uv_loop_init(&d.loop);
    if (r < 0) {
        vg_log(LOG_ERR, "vigild: uv_loop_init: %s", uv_strerror(r));
        goto out;
    }
    loop_ready = true;
    uv_signal_t *sigs[] = {&d.sig_term, &d.sig_int, &d.sig_hup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < VG_ARRAY_SIZE(sigs); i++) {
        uv_signal_init(&d.loop, sigs[i]);
        sigs[i]->data = &d;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    /* libuv's handlers are in place: one kept from the start is handed to
     * them, and the loop stops at its first turn. */
    if (early_signal) uv_kill(uv_os_getpid(), early_signal);

    if ((r = ingest_live_hub_new(&live)) < 0) {
        vg_log(LOG_ERR, "vigild: cannot set up live view: %s", strerror(-r));
        goto out;
    }
    /* HTTP (serve/) before the cameras: retention consults its pins. */
    serve_config sc = {.live = live, .cfg = d.cfg, .st = d.st, .camera_stats = supervisor_camera_stats,
                       .camera_stats_opaque = &d.sup, .idx = d.idx, .retention = retention, .scrub = scrub, .mover = mover,
                       .reload = http_reload, .reload_report = http_reload_report,
                       .reload_opaque = &d};
    char keypath[PATH_MAX + 16];
    snprintf(keypath, sizeof(keypath), "%s.signing-key", g.configured);
    sc.signing_key = keypath; /* beside the configured index, also when degraded */
    if (g.degraded) {
        sc.index_problem = g.problem;
        sc.index_fix = g.fix;
        sc.index_in_use = g.in_use;
    }
    r = serve_start(&d.loop, &sc, &http);
    if (r < 0) {
        vg_log(LOG_ERR, "vigild: cannot serve HTTP on %s: %s", d.cfg->listen, strerror(-r));
        goto out;
    }
    storage_retention_set_pin_check(retention, serve_pin_check, http);
    storage_mover_set_pin_check(mover, serve_pin_check, http);
    d.rl = (reload_ctx){.path = cfg_path, .cfg = &d.cfg, .sup = &d.sup, .idx = d.idx,
                        .rt = retention, .scrub = scrub, .ntf = &d.ntf, .set_config = http_set_config,
                        .set_config_opaque = http, .count = serve_count_reload,
                        .count_opaque = http,
                        .index_configured = g.degraded ? g.configured : NULL,
                        .index_in_use = g.degraded ? g.in_use : NULL};
    d.index_degraded = g.degraded;
    if ((r = notify_start(&d.ntf, &d.loop, status_line, &d)) < 0)
        vg_log(LOG_WARNING, "vigild: systemd notify timers: %s", uv_strerror(r));

    if (reconciled && (ckpt.index_path = strdup(d.cfg->index_path)) != NULL) {
        ckpt.idx = d.idx;
        ckpt.failures = index_writer_failures(d.idx);
        uv_timer_init(&d.loop, &ckpt.timer);
        uv_timer_start(&ckpt.timer, checkpoint_tick, CHECKPOINT_MS, CHECKPOINT_MS);
        uv_unref((uv_handle_t *)&ckpt.timer);
    }

    r = supervisor_start(&d.sup, &d.loop, d.cfg, d.st, d.idx, live);
    if (r < 0) {
        vg_log(LOG_ERR, "vigild: cannot start cameras: %s", strerror(-r));
        goto out;
    }

    char pools[1024] = "";
    size_t pl = 0;
    for (size_t i = 0; i < d.cfg->npools && pl < sizeof(pools); i++) {
        int u = storage_pool_usable(d.st, d.cfg->pools[i].id);
        pl += (size_t)snprintf(pools + pl, sizeof(pools) - pl, "%s%s=%s%s", i ? ", " : "",
                               d.cfg->pools[i].id, d.cfg->pools[i].path,
                               u == 1 ? "" : " (UNUSABLE)");
    }
    vg_log(LOG_NOTICE, "vigild: recording %zu cameras, index %s, pools %s", d.sup.nrunning,
           d.cfg->index_path, pools);
    notify_ready(&d.ntf);

    uv_run(&d.loop, UV_RUN_DEFAULT);
    ret = 0;
out:
    supervisor_stop(&d.sup);
    storage_mover_stop(&mover); /* before serve: it consults the pins */
    storage_scrub_stop(&scrub);
    storage_retention_stop(&retention); /* after the cameras: no ENOSPC purge can run */
    if (loop_ready) {
        serve_stop_wait(&http, &d.loop); /* after retention: nothing asks for pins now */
        notify_close(&d.ntf);
        uv_walk(&d.loop, close_walk_cb, NULL);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        uv_loop_close(&d.loop);
    }
    ingest_live_hub_free(&live); /* cameras and viewers are gone */
    /* Nothing writes any more: the next start need not walk the pools. */
    if (ret == 0 && reconciled && d.st) storage_mark_clean(d.st, d.idx, d.cfg);
    free(ckpt.index_path); /* its timer closed and its work done with the loop */
    storage_close(&d.st);
    /* The mirror's figures (audit rows, exports) as of this clean stop. */
    if (d.idx && g.mirror_ok && index_flush(d.idx) == 0) index_lock_mirror_sync(d.cfg->index_path);
    index_close(&d.idx);
    index_lock_mirror_set(NULL, 0);
    reload_ctx_clear(&d.rl);
    config_free(&d.cfg);
    avformat_network_deinit();
    if (ret == 0) vg_log(LOG_NOTICE, "vigild: stopped");
    return ret;
}
