/*
 * rtsp_probe: runs one native RTSP session for a few seconds and dumps what
 * it received — each track's access units to PREFIX.N.{h264,hevc,aac,ulaw,
 * alaw} (Annex-B video, ADTS-framed AAC so ffprobe can read it) — and prints
 * one JSON line with the outcome and counters. Used by the interop tests
 * (tests/integration/test_rtsp_native.py) and handy against a real camera.
 *
 *   rtsp_probe URL [--seconds N (of playing)] [--out PREFIX] [--udp] [--user U] [--pass P]
 *              [--tick MS] [--timeout MS] [--count N]
 * --count N opens N sessions of the same URL on one loop (only the first is
 * dumped) and adds the process CPU time per session to the JSON line: the
 * cost the architecture budgets (0.065 % of a core per 2 Mbit/s camera).
 * Exit status: 0 when the session played until the end, 1 on an error.
 */
#include <errno.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "ingest/rtsp/rtsp_client.h"

typedef struct probe {
    uv_loop_t *loop;
    rtsp_client *c;
    uv_timer_t stop;
    const char *prefix;
    FILE *f[RTSP_SDP_MAX_MEDIA];
    rtsp_track_info ti[RTSP_SDP_MAX_MEDIA];
    uint8_t cfg[RTSP_SDP_MAX_MEDIA][64];
    int ntracks;
    uint64_t frames[RTSP_SDP_MAX_MEDIA], keys[RTSP_SDP_MAX_MEDIA], bytes[RTSP_SDP_MAX_MEDIA];
    int64_t first_pts[RTSP_SDP_MAX_MEDIA], last_pts[RTSP_SDP_MAX_MEDIA];
    rtsp_error err;
    char detail[256];
    double seconds; /* how long to play once PLAY succeeded */
    int played, params_changes;
    int seen_key[RTSP_SDP_MAX_MEDIA]; /* video is dumped from its first keyframe on */
    rtsp_client_stats st;
} probe;

static const char *ext(rtsp_codec c)
{
    switch (c) {
    case RTSP_CODEC_H264:
        return "h264";
    case RTSP_CODEC_H265:
        return "hevc";
    case RTSP_CODEC_AAC:
        return "aac";
    case RTSP_CODEC_PCMU:
        return "ulaw";
    case RTSP_CODEC_PCMA:
        return "alaw";
    default:
        return "bin";
    }
}

static void on_stop(uv_timer_t *t);

static void on_tracks(void *opaque, const rtsp_track_info *t, int n)
{
    probe *p = opaque;
    p->played = 1;
    p->ntracks = n;
    uv_timer_start(&p->stop, on_stop, (uint64_t)(p->seconds * 1000), 0);
    for (int i = 0; i < n; i++) {
        p->ti[i] = t[i];
        size_t cl = t[i].config_len < 64 ? t[i].config_len : 64;
        memcpy(p->cfg[i], t[i].config, cl);
        p->ti[i].config = p->cfg[i];
        p->ti[i].config_len = cl;
        p->ti[i].vps = p->ti[i].sps = p->ti[i].pps = NULL;
        if (p->prefix) {
            char path[1024];
            snprintf(path, sizeof(path), "%s.%d.%s", p->prefix, i, ext(t[i].codec));
            p->f[i] = fopen(path, "wb");
        }
    }
}

static void write_adts(FILE *f, const rtsp_track_info *t, size_t len)
{
    if (t->config_len < 2) return;
    int obj = t->config[0] >> 3;
    int fi = ((t->config[0] & 7) << 1) | (t->config[1] >> 7);
    int ch = (t->config[1] >> 3) & 0xf;
    size_t fl = len + 7;
    uint8_t h[7] = {0xff,
                    0xf1,
                    (uint8_t)(((obj - 1) << 6) | (fi << 2) | (ch >> 2)),
                    (uint8_t)(((ch & 3) << 6) | (fl >> 11)),
                    (uint8_t)(fl >> 3),
                    (uint8_t)(((fl & 7) << 5) | 0x1f),
                    0xfc};
    fwrite(h, 1, 7, f);
}

static void on_frame(void *opaque, const rtsp_frame *fr)
{
    probe *p = opaque;
    int i = fr->track;
    if (i < 0 || i >= p->ntracks) return;
    if (p->frames[i] == 0) p->first_pts[i] = fr->pts;
    p->last_pts[i] = fr->pts;
    p->frames[i]++;
    p->keys[i] += fr->keyframe != 0;
    p->bytes[i] += fr->len;
    if (fr->keyframe) p->seen_key[i] = 1;
    if (p->f[i] && p->seen_key[i]) {
        if (fr->codec == RTSP_CODEC_AAC) write_adts(p->f[i], &p->ti[i], fr->len);
        fwrite(fr->data, 1, fr->len, p->f[i]);
    }
}

static void on_params(void *opaque, const rtsp_track_info *t)
{
    (void)t;
    ((probe *)opaque)->params_changes++;
}

static void on_closed(void *opaque)
{
    probe *p = opaque;
    uv_close((uv_handle_t *)&p->stop, NULL);
}

static void on_error(void *opaque, rtsp_error e, const char *detail)
{
    probe *p = opaque;
    p->err = e;
    snprintf(p->detail, sizeof(p->detail), "%s", detail);
    uv_timer_stop(&p->stop);
    rtsp_client_get_stats(p->c, &p->st);
    rtsp_client_close(p->c, on_closed);
    p->c = NULL;
}

static void on_stop(uv_timer_t *t)
{
    probe *p = t->data;
    if (!p->c) return;
    rtsp_client_get_stats(p->c, &p->st);
    rtsp_client_close(p->c, on_closed);
    p->c = NULL;
}

int main(int argc, char **argv)
{
    static probe ps[1024];
    probe *p = &ps[0];
    int count = 1;
    rtsp_client_opts o;
    memset(&o, 0, sizeof(o));
    double seconds = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            p->prefix = argv[++i];
        else if (!strcmp(argv[i], "--udp"))
            o.transport = RTSP_TRANSPORT_UDP;
        else if (!strcmp(argv[i], "--user") && i + 1 < argc)
            o.user = argv[++i];
        else if (!strcmp(argv[i], "--pass") && i + 1 < argc)
            o.pass = argv[++i];
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            o.timeout_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tick") && i + 1 < argc)
            o.tick_ms = atoi(argv[++i]);
        else if (!o.url)
            o.url = argv[i];
        else {
            fprintf(stderr, "usage: rtsp_probe URL [--seconds N] [--out PREFIX] [--udp] "
                            "[--user U] [--pass P] [--tick MS] [--timeout MS]\n");
            return 2;
        }
    }
    if (!o.url) {
        fprintf(stderr, "rtsp_probe: no URL\n");
        return 2;
    }
    o.camera = "probe";
    if (!o.timeout_ms) o.timeout_ms = 8000;
    o.stall_ms = 5000;
    if (count < 1 || count > (int)VG_ARRAY_SIZE(ps)) {
        fprintf(stderr, "rtsp_probe: --count 1..%zu\n", VG_ARRAY_SIZE(ps));
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    rtsp_client_cbs cb = {
        .on_tracks = on_tracks, .on_frame = on_frame, .on_params = on_params, .on_error = on_error};
    const char *prefix = p->prefix;
    int64_t t0 = vg_mono_us();
    for (int k = 0; k < count; k++) {
        p = &ps[k];
        p->prefix = k == 0 ? prefix : NULL;
        p->loop = &loop;
        p->seconds = seconds;
        uv_timer_init(&loop, &p->stop);
        p->stop.data = p;
        int r = rtsp_client_start(&loop, &o, &cb, p, &p->c);
        if (r < 0) {
            fprintf(stderr, "rtsp_probe: %s\n", strerror(-r));
            return 2;
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    int64_t wall = vg_mono_us() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    int played = 0, failed = 0;
    uint64_t bytes = 0;
    for (int k = 0; k < count; k++) {
        played += ps[k].played;
        failed += ps[k].err != RTSP_ERR_NONE;
        bytes += ps[k].st.bytes;
    }
    p = &ps[0];
    for (int i = 0; i < p->ntracks; i++)
        if (p->f[i]) fclose(p->f[i]);

    printf("{\"error\":\"%s\",\"detail\":\"%s\",\"played\":%d,\"params_changes\":%d,\"tracks\":[",
           rtsp_error_name(p->err), p->err ? p->detail : "", p->played, p->params_changes);
    for (int i = 0; i < p->ntracks; i++)
        printf("%s{\"codec\":\"%s\",\"clock_rate\":%u,\"frames\":%llu,\"keyframes\":%llu,"
               "\"bytes\":%llu,\"pts_span\":%lld,\"sps\":%zu,\"config\":%zu}",
               i ? "," : "", rtsp_codec_name(p->ti[i].codec), p->ti[i].clock_rate,
               (unsigned long long)p->frames[i], (unsigned long long)p->keys[i],
               (unsigned long long)p->bytes[i], (long long)(p->last_pts[i] - p->first_pts[i]),
               p->ti[i].sps_len, p->ti[i].config_len);
    printf("],\"stats\":{\"bytes\":%llu,\"reads\":%llu,\"rtp\":%llu,\"lost\":%llu,\"rtcp\":%llu,"
           "\"dropped\":%llu,\"bad\":%llu}}\n",
           (unsigned long long)p->st.bytes, (unsigned long long)p->st.reads,
           (unsigned long long)p->st.rtp_packets, (unsigned long long)p->st.rtp_lost,
           (unsigned long long)p->st.rtcp_packets, (unsigned long long)p->st.frames_dropped,
           (unsigned long long)p->st.bad_packets);
    if (count > 1)
        printf("{\"sessions\":%d,\"played\":%d,\"failed\":%d,\"wall_s\":%.2f,\"cpu_s\":%.3f,"
               "\"mbit_per_session\":%.2f,\"core_pct_per_session\":%.4f}\n",
               count, played, failed, wall / 1e6, cpu,
               (double)bytes * 8 / 1e6 / (wall / 1e6) / count, cpu / (wall / 1e6) * 100 / count);
    return p->err == RTSP_ERR_NONE && p->played ? 0 : 1;
}
