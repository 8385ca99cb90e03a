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

typedef struct app {
    uv_loop_t *loop;
    fs_server *srv;
    uv_signal_t sig[4];
    uv_timer_t stats_timer;
    const char *stats_path;
    int stopping;
} app;

static void write_stats_file(app *a)
{
    if (!a->stats_path || !a->srv) return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", a->stats_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        vg_log(LOG_WARNING, "fleetsim: %s: %s", tmp, strerror(errno));
        return;
    }
    fs_server_write_stats(a->srv, f, 1);
    fs_server_write_stats(a->srv, f, 0);
    if (fclose(f) == 0) rename(tmp, a->stats_path);
}

static void on_stats_timer(uv_timer_t *t)
{
    write_stats_file(t->data);
}

static void stop(app *a)
{
    if (a->stopping) return;
    a->stopping = 1;
    write_stats_file(a);
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
    write_stats_file(&a);
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
