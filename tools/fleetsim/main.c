/*
 * fleetsim: a camera fleet cheap enough that a benchmark of 800 cameras on one
 * machine measures the recorder and not the simulator.
 *
 *   fleetsim --input FILE [--cameras N] [--port P] [--address 127.0.0.1]
 *            [--prefix cam] [--mtu 1400] [--tick-ms 40] [--stats FILE]
 *            [--bitrate-check MBPS]
 *
 * Serves rtsp://ADDRESS:P/<prefix>1 .. <prefix>N, every mount replaying the H.264
 * stream of FILE in a loop (see server.c). Prints
 *   READY port=P cameras=N bitrate=B fps=F gop=G frames=K width=W height=H
 * on stdout once it listens. --stats FILE is rewritten every second (and at
 * exit) with one JSON object per line per camera plus a last "total" line;
 * SIGUSR1 prints the same to stdout. SIGUSR2 drains: every session stops at its
 * next IDR (so the frames sent are whole GOPs) and the connections stay open.
 * SIGTERM/SIGINT: close everything, write the stats, exit 0.
 * --bitrate-check MBPS exits 2 if the source's RTP bitrate is more than 20 %
 * away from MBPS (so a benchmark cannot silently run on the wrong clip).
 */
#include "tools/fleetsim/fleetsim.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>

#include "common/common.h"

typedef struct app app;
typedef struct stats_job {
    uv_work_t req;
    app *a;
    char *buf;
    size_t len;
    char path[4096];
} stats_job;

struct app {
    uv_loop_t *loop;
    fs_server *srv;
    uv_signal_t sig[4];
    uv_timer_t stats_timer;
    const char *stats_path;
    int stats_busy; /* a write job is queued */
    struct stats_job *final; /* the exit stats, waiting for that job */
    int stopping;
};

/* The stats file is written off the loop thread: a file system busy with the
 * recorder's writes and fsyncs can block open/rename for hundreds of ms, and the
 * loop must keep sending on time. The loop renders the JSON into memory (fast) and
 * a thread-pool job writes it; one job at a time. */

static void write_file(const char *path, const char *buf, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        vg_log(LOG_WARNING, "fleetsim: %s: %s", tmp, strerror(errno));
        return;
    }
    size_t n = fwrite(buf, 1, len, f);
    if (fclose(f) == 0 && n == len) rename(tmp, path);
}

static void stats_work(uv_work_t *req)
{
    stats_job *j = vg_container_of(req, stats_job, req);
    write_file(j->path, j->buf, j->len);
}

static void stats_done(uv_work_t *req, int status)
{
    stats_job *j = vg_container_of(req, stats_job, req);
    app *a = j->a;
    (void)status;
    a->stats_busy = 0;
    free(j->buf);
    free(j);
    if (a->final) { /* rendered at stop while this job ran: it goes last */
        write_file(a->final->path, a->final->buf, a->final->len);
        free(a->final->buf);
        free(a->final);
        a->final = NULL;
    }
}

/* Renders the stats and queues a job; with sync (at start and exit) writes at once,
 * or, when a job is running, right after it. */
static void write_stats_file(app *a, int sync)
{
    if (!a->stats_path || !a->srv || (!sync && a->stats_busy)) return;
    stats_job *j = calloc(1, sizeof(*j));
    FILE *m = j ? open_memstream(&j->buf, &j->len) : NULL;
    if (!m) {
        free(j);
        return;
    }
    fs_server_write_stats(a->srv, m, 1);
    fs_server_write_stats(a->srv, m, 0);
    if (fclose(m) != 0) {
        free(j->buf);
        free(j);
        return;
    }
    j->a = a;
    snprintf(j->path, sizeof(j->path), "%s", a->stats_path);
    if (!sync && uv_queue_work(a->loop, &j->req, stats_work, stats_done) == 0) {
        a->stats_busy = 1;
        return;
    }
    if (a->stats_busy) {
        free(a->final ? a->final->buf : NULL);
        free(a->final);
        a->final = j;
        return;
    }
    write_file(j->path, j->buf, j->len);
    free(j->buf);
    free(j);
}

static void on_stats_timer(uv_timer_t *t)
{
    write_stats_file(t->data, 0);
}

static void stop(app *a)
{
    if (a->stopping) return;
    a->stopping = 1;
    write_stats_file(a, 1);
    fs_server_close(a->srv);
    a->srv = NULL;
    uv_close((uv_handle_t *)&a->stats_timer, NULL);
    for (size_t i = 0; i < VG_ARRAY_SIZE(a->sig); i++) uv_close((uv_handle_t *)&a->sig[i], NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app *a = h->data;
    if (signum == SIGUSR1 && a->srv) {
        fs_server_write_stats(a->srv, stdout, 1);
        fs_server_write_stats(a->srv, stdout, 0);
        fflush(stdout);
    } else if (signum == SIGUSR2 && a->srv) {
        fs_server_drain(a->srv);
        vg_log(LOG_INFO, "fleetsim: draining: sessions stop at their next IDR");
    } else if (signum == SIGTERM || signum == SIGINT) {
        stop(a);
    }
}

static void usage(FILE *f)
{
    fputs("usage: fleetsim --input FILE [--cameras N] [--port P] [--address A] [--prefix cam]\n"
          "                [--mtu 1400] [--tick-ms 40] [--stats FILE] [--bitrate-check MBPS]\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},   {"cameras", required_argument, NULL, 'n'},
        {"port", required_argument, NULL, 'p'},    {"address", required_argument, NULL, 'a'},
        {"prefix", required_argument, NULL, 'x'},  {"mtu", required_argument, NULL, 'm'},
        {"tick-ms", required_argument, NULL, 't'}, {"stats", required_argument, NULL, 's'},
        {"bitrate-check", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *input = NULL;
    double check_mbps = 0;
    int mtu = 1400, rc = 1, r;
    fs_source src;
    app a = {0};
    uv_loop_t loop;
    fs_server_opts o = {.address = "127.0.0.1", .cameras = 1, .prefix = "cam", .tick_ms = 40};
    int c;
    while ((c = getopt_long(argc, argv, "i:n:p:a:x:m:t:s:b:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': input = optarg; break;
        case 'n': o.cameras = atoi(optarg); break;
        case 'p': o.port = atoi(optarg); break;
        case 'a': o.address = optarg; break;
        case 'x': o.prefix = optarg; break;
        case 'm': mtu = atoi(optarg); break;
        case 't': o.tick_ms = atoi(optarg); break;
        case 's': a.stats_path = optarg; break;
        case 'b': check_mbps = atof(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (!input || o.cameras < 1 || o.cameras > 100000 || mtu < 200 || mtu > 65000 ||
        o.tick_ms < 4 || o.tick_ms > 1000 || strlen(o.prefix) > 32 || optind != argc) {
        usage(stderr);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    vg_log_capture_ffmpeg();
    if ((r = fs_source_load(&src, input, mtu)) < 0) {
        vg_log(LOG_ERR, "fleetsim: %s: cannot load: %s", input, av_err2str(r));
        return 1;
    }
    double mbps = (double)src.bitrate / 1e6;
    double gop = src.nidr > 1 ? (double)src.duration / 90000.0 / (double)src.nidr : 0;
    vg_log(LOG_INFO,
           "fleetsim: %s: %dx%d %.3g fps, %zu frames, %zu IDRs, %.2f s loop, %.3f Mbit/s, %zu RTP "
           "packets",
           input, src.width, src.height, src.fps, src.nframes, src.nidr,
           (double)src.duration / 90000.0, mbps, src.npkts);
    if (check_mbps > 0 && fabs(mbps - check_mbps) > 0.2 * check_mbps) {
        vg_log(LOG_ERR, "fleetsim: %s is %.3f Mbit/s, not %.3f (--bitrate-check)", input, mbps,
               check_mbps);
        fs_source_free(&src);
        return 2;
    }
    uv_loop_init(&loop);
    a.loop = &loop;
    o.src = &src;
    if ((r = fs_server_start(&loop, &o, &a.srv)) < 0) {
        vg_log(LOG_ERR, "fleetsim: listen %s:%d: %s", o.address, o.port, uv_strerror(r));
        uv_run(&loop, UV_RUN_DEFAULT); /* let the server's handles close */
        goto out;
    }
    static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < VG_ARRAY_SIZE(sigs); i++) {
        uv_signal_init(&loop, &a.sig[i]);
        a.sig[i].data = &a;
        uv_signal_start(&a.sig[i], on_signal, sigs[i]);
    }
    uv_timer_init(&loop, &a.stats_timer);
    a.stats_timer.data = &a;
    uv_timer_start(&a.stats_timer, on_stats_timer, 1000, 1000);
    write_stats_file(&a, 1);
    printf("READY port=%d cameras=%d bitrate=%lld fps=%.3g gop=%.2f frames=%zu width=%d "
           "height=%d\n",
           fs_server_port(a.srv), o.cameras, (long long)src.bitrate, src.fps, gop, src.nframes,
           src.width, src.height);
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (uv_loop_close(&loop) != 0) vg_log(LOG_WARNING, "fleetsim: loop closed with open handles");
    fs_source_free(&src);
    return rc;
}
