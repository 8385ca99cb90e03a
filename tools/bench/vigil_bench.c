/*
 * vigil-bench: the clip benchmark and the fixtures it needs.
 *
 *   vigil-bench import --index DB --pool ID --pool-path DIR --camera ID --start T
 *                      [--codec h264] [--audio aac] [--size WxH] [--gap-after N:SECONDS]
 *                      [--run-per-file] FILE...
 *       Indexes fragmented-MP4 files that already sit under DIR, one segment
 *       each, back to back from T, with the fragment tables scanned from the
 *       files (what the recorder would have indexed).
 *   vigil-bench serve --config CFG [--listen ADDR]
 *       Runs only the HTTP server on a libuv loop (no recording): a fixture
 *       server for tests and the benchmark. Prints "port N" when listening.
 *   vigil-bench synth --index DB --cameras N --days D ...
 *       A month of index rows, fragment tables and events (see synth.c).
 *   vigil-bench clip URL [--repeat N]
 *       GETs URL over one connection and reports time to first byte,
 *       throughput and bytes (the body is discarded as it arrives).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "common/common.h"
#include "config/config.h"
#include "index/index.h"
#include "media/media.h"
#include "serve/serve.h"

int vigil_bench_synth(int argc, char **argv); /* synth.c */

static int usage(void)
{
    fprintf(stderr, "usage: vigil-bench import|serve|clip ... (see the top of vigil_bench.c)\n");
    return 2;
}

/* The fragment table of a segment file as the recorder would have indexed it
 * (media/'s scanner), wall times from the video tfdt with start_us as the
 * time of decode time 0. *out malloc'd; *init_len: the init segment's length. */
static int scan_file(const char *path, int64_t start_us, index_fragment **out, size_t *n,
                     size_t *init_len)
{
    media_scan sc = {0};
    struct stat st;
    int ret = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    *out = NULL, *n = 0, *init_len = 0;
    if (fd < 0) return -errno;
    if (fstat(fd, &st) < 0) {
        ret = -errno;
        goto out;
    }
    if ((ret = media_scan_fd(fd, (uint64_t)st.st_size, &sc)) < 0) goto out;
    if (sc.nfrags && !(*out = calloc(sc.nfrags, sizeof(**out)))) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < sc.nfrags; k++) {
        const media_scan_frag *f = &sc.frags[k];
        (*out)[k] = (index_fragment){
            .offset = f->offset, .size = f->size, .flags = f->key ? 1u : 0u,
            .start_us = start_us + (int64_t)(f->base_dt * 1000000 / sc.timescale),
            .end_us = start_us + (int64_t)((f->base_dt + f->dur) * 1000000 / sc.timescale)};
    }
    *n = sc.nfrags;
    *init_len = (size_t)sc.init_end;
out:
    media_scan_free(&sc);
    close(fd);
    return ret;
}

static int cmd_import(int argc, char **argv)
{
    const char *index_path = NULL, *pool = "main", *pool_path = NULL, *camera = NULL;
    const char *codec = "h264", *audio = "", *start_s = NULL;
    int width = 640, height = 360, run_per_file = 0, gap_after = -1;
    double gap_s = 0;
    int i = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--run-per-file")) {
            run_per_file = 1;
            continue;
        }
        if (!v) return usage();
        i++;
        if (!strcmp(a, "--index")) index_path = v;
        else if (!strcmp(a, "--pool")) pool = v;
        else if (!strcmp(a, "--pool-path")) pool_path = v;
        else if (!strcmp(a, "--camera")) camera = v;
        else if (!strcmp(a, "--start")) start_s = v;
        else if (!strcmp(a, "--codec")) codec = v;
        else if (!strcmp(a, "--audio")) audio = v;
        else if (!strcmp(a, "--size")) sscanf(v, "%dx%d", &width, &height);
        else if (!strcmp(a, "--gap-after")) sscanf(v, "%d:%lf", &gap_after, &gap_s);
        else return usage();
    }
    int64_t t;
    if (!index_path || !pool_path || !camera || !start_s || vg_time_parse(start_s, &t) < 0)
        return usage();
    index_db *db = NULL;
    int ret = index_open(index_path, &db);
    if (ret < 0) {
        fprintf(stderr, "index_open: %s\n", strerror(-ret));
        return 1;
    }
    int64_t run_start = t;
    size_t plen = strlen(pool_path);
    for (int k = 0; i < argc; i++, k++) {
        const char *f = argv[i];
        if (strncmp(f, pool_path, plen) != 0 || f[plen] != '/') {
            fprintf(stderr, "%s is not under %s\n", f, pool_path);
            ret = -EINVAL;
            break;
        }
        index_fragment *frags = NULL;
        size_t n = 0, init_len = 0;
        if ((ret = scan_file(f, t, &frags, &n, &init_len)) < 0 || n == 0) {
            fprintf(stderr, "%s: cannot scan: %s\n", f, ret < 0 ? strerror(-ret) : "no fragments");
            free(frags);
            ret = -EINVAL;
            break;
        }
        if (run_per_file) run_start = frags[0].start_us;
        index_segment s;
        memset(&s, 0, sizeof(s));
        snprintf(s.camera, sizeof(s.camera), "%s", camera);
        snprintf(s.pool, sizeof(s.pool), "%s", pool);
        snprintf(s.path, sizeof(s.path), "%s", f + plen + 1);
        snprintf(s.codec, sizeof(s.codec), "%s", codec);
        snprintf(s.audio_codec, sizeof(s.audio_codec), "%s", audio);
        s.start_us = frags[0].start_us;
        s.end_us = frags[0].start_us;
        s.run_start_us = run_start;
        s.width = width, s.height = height;
        int64_t id = index_segment_begin(db, &s);
        int64_t bytes = (int64_t)init_len;
        for (size_t j = 0; j < n; j++) {
            bytes += frags[j].size;
            index_segment_progress(db, id, frags[j].end_us, bytes, &frags[j]);
        }
        uint8_t sha[32] = {0};
        index_segment_finish(db, id, frags[n - 1].end_us, bytes, sha);
        printf("segment %" PRId64 " %s %zu fragments %" PRId64 "..%" PRId64 "\n", id, s.path, n,
               s.start_us, frags[n - 1].end_us);
        t = frags[n - 1].end_us;
        if (k == gap_after) {
            t += (int64_t)(gap_s * 1e6);
            run_start = t;
        }
        free(frags);
    }
    int fr = index_flush(db);
    index_close(&db);
    return ret < 0 || fr < 0 ? 1 : 0;
}

static uv_signal_t sig_int, sig_term;
static serve_ctx *g_serve;

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    serve_stop(&g_serve);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
}

static int cmd_serve(int argc, char **argv)
{
    const char *cfg_path = NULL, *listen = NULL;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--config")) cfg_path = argv[i + 1];
        else if (!strcmp(argv[i], "--listen")) listen = argv[i + 1];
        else return usage();
    }
    if (!cfg_path) return usage();
    char err[512];
    config *cfg = NULL;
    int ret = config_load(cfg_path, &cfg, err, sizeof(err));
    if (ret < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    serve_config sc = {.listen = listen, .cfg = cfg};
    if ((ret = serve_start(&loop, &sc, &g_serve)) < 0) {
        fprintf(stderr, "serve_start: %s\n", strerror(-ret));
        uv_loop_close(&loop);
        config_free(&cfg);
        return 1;
    }
    printf("port %d\n", serve_port(g_serve));
    fflush(stdout);
    uv_signal_init(&loop, &sig_int);
    uv_signal_init(&loop, &sig_term);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    config_free(&cfg);
    return 0;
}

/* ---- the client ---- */

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        int one = 1, rcv = 4 << 20;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    }
    return fd;
}

static int cmd_clip(int argc, char **argv)
{
    if (argc < 1 || strncmp(argv[0], "http://", 7) != 0) return usage();
    int repeat = 1;
    if (argc >= 3 && !strcmp(argv[1], "--repeat")) repeat = atoi(argv[2]);
    char host[256], port[16] = "80";
    const char *h = argv[0] + 7, *path = strchr(h, '/');
    if (!path) path = "/";
    size_t hl = (size_t)(path - h);
    if (hl >= sizeof(host)) return usage();
    memcpy(host, h, hl);
    host[hl] = 0;
    char *colon = strchr(host, ':');
    if (colon) {
        *colon = 0;
        snprintf(port, sizeof(port), "%s", colon + 1);
    }
    size_t cap = 4 << 20;
    char *buf = malloc(cap);
    int rc = 0;
    for (int r = 0; r < repeat && rc == 0; r++) {
        int fd = connect_to(host, port);
        if (fd < 0) {
            perror("connect");
            rc = 1;
            break;
        }
        char reqs[4096];
        int n = snprintf(reqs, sizeof(reqs), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
        int64_t t0 = vg_mono_us(), t_first = 0, t_hdr = 0;
        if (write(fd, reqs, (size_t)n) != n) {
            rc = 1;
            close(fd);
            break;
        }
        uint64_t total = 0, body = 0, clen = 0;
        size_t hlen = 0;
        int status = 0;
        char hdr[8192];
        for (;;) {
            ssize_t k = read(fd, buf, cap);
            if (k <= 0) break;
            if (!t_first) t_first = vg_mono_us();
            if (!t_hdr) {
                size_t c = (size_t)k < sizeof(hdr) - 1 - hlen ? (size_t)k : sizeof(hdr) - 1 - hlen;
                memcpy(hdr + hlen, buf, c);
                hlen += c;
                hdr[hlen] = 0;
                char *e = strstr(hdr, "\r\n\r\n");
                if (e) {
                    t_hdr = vg_mono_us();
                    sscanf(hdr, "HTTP/1.%*d %d", &status);
                    char *cl = strcasestr(hdr, "content-length:");
                    if (cl) clen = strtoull(cl + 15, NULL, 10);
                    size_t used = (size_t)(e + 4 - hdr) - (hlen - c);
                    body += (uint64_t)k - used;
                    total += (uint64_t)k;
                    continue;
                }
            } else {
                body += (uint64_t)k;
            }
            total += (uint64_t)k;
        }
        int64_t t_end = vg_mono_us();
        close(fd);
        double secs = (double)(t_end - t0) / 1e6;
        printf("status %d bytes %" PRIu64 " (content-length %" PRIu64 ", %" PRIu64 " with headers) "
               "ttfb_ms %.2f total_s %.3f throughput_MBps %.1f\n",
               status, body, clen, total, (double)(t_first - t0) / 1000.0, secs,
               (double)body / secs / 1e6);
        if (status != 200 || body != clen) rc = 1;
    }
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    if (!strcmp(argv[1], "import")) return cmd_import(argc - 2, argv + 2);
    if (!strcmp(argv[1], "serve")) return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "clip")) return cmd_clip(argc - 2, argv + 2);
    if (!strcmp(argv[1], "synth")) return vigil_bench_synth(argc - 2, argv + 2);
    return usage();
}
