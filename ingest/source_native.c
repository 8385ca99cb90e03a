/*
 * Recording cameras through the native RTSP client of ingest/rtsp (`source: native`).
 *
 * A small pool of loop threads (one per core, at most 4, created on first
 * use and kept for the life of the process) hosts every native camera; a
 * camera is pinned to one loop, round robin. Other threads talk to a camera
 * only through its loop's async handle: start and stop requests are queued
 * under the loop's mutex, and stats are read under the camera's mutex. So
 * the client, the segmenter and the reconnect timer of a camera are touched
 * by its loop thread alone, and ingest__native_stop() waits on a
 * condition variable until the loop has let go of the camera.
 *
 * The video track's codec parameters come from the SDP (and in-band updates);
 * the picture size from libavcodec's parser on the first keyframe, when the
 * segmenter run starts. G.711 audio is not storable in MP4 by the segmenter
 * and is left out; AAC is recorded.
 */
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/common.h"
#include "ingest/rtsp/rtsp_client.h"
#include "ingest/ingest_internal.h"
#include "ingest/segmenter.h"

#define MAX_LOOPS 4
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define BACKOFF_RESET_US 30000000
#define STATS_WINDOW_US 5000000
/* Sockets are read every tick, not on every packet: over TCP at 2 Mbit/s a
 * 200 ms tick is one 50 KB recv per camera (the kernel's receive buffer holds
 * the rest; TCP flow control covers any bitrate). UDP has no flow control and
 * a receive buffer the kernel may cap (rmem_max), so it is drained more often. */
#define NATIVE_TICK_MS_TCP 200
#define NATIVE_TICK_MS_UDP 50

typedef struct native_loop native_loop;

struct ingest_native {
    char id[INDEX_ID_MAX];
    char *url, *user, *pass, *pool;
    bool tcp;
    int segment_seconds;
    storage *st;
    index_db *idx;
    native_loop *nl;
    ingest_native *next_cmd; /* in nl's queue (nl->lock) */
    bool queued;

    /* loop thread only */
    rtsp_client *client;
    uv_timer_t retry;
    bool retry_init;
    ingest_segmenter *seg;
    int video, audio; /* track indexes, -1 none */
    rtsp_track_info vti, ati;
    uint8_t aconfig[64];
    uint8_t *extradata; /* the video track's parameter sets, Annex B */
    size_t extradata_len;
    int width, height;  /* from the last run's first keyframe */
    bool run_started, online;
    int backoff_ms;
    int64_t played_since_us;
    unsigned rng;
    int64_t win_start_us;
    uint64_t win_frames, win_bytes;

    /* shared, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop_requested, started, released;
    ingest_stats stats;
};

struct native_loop {
    uv_loop_t loop;
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t lock;
    ingest_native *queue;
};

static native_loop g_loops[MAX_LOOPS];
static int g_nloops;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static unsigned g_next;
static pthread_mutex_t g_next_lock = PTHREAD_MUTEX_INITIALIZER;

static void connect_camera(ingest_native *c);

/* ---------------- state ---------------- */

static void set_state(ingest_native *c, ingest_state s, const char *err)
{
    pthread_mutex_lock(&c->lock);
    c->stats.state = s;
    if (err) snprintf(c->stats.last_error, sizeof(c->stats.last_error), "%s", err);
    pthread_mutex_unlock(&c->lock);
}

static void event(ingest_native *c, const char *type, const char *detail)
{
    if (c->idx) index_event_add(c->idx, vg_now_us(), c->id, type, detail);
}

/* ---------------- session callbacks (loop thread) ---------------- */

static void on_tracks(void *opaque, const rtsp_track_info *t, int n)
{
    ingest_native *c = opaque;
    c->video = c->audio = -1;
    for (int i = 0; i < n; i++) {
        if (c->video < 0 && (t[i].codec == RTSP_CODEC_H264 || t[i].codec == RTSP_CODEC_H265)) {
            c->video = i;
            c->vti = t[i];
        } else if (c->audio < 0 && (t[i].codec == RTSP_CODEC_PCMU || t[i].codec == RTSP_CODEC_PCMA)) {
            c->audio = i; /* G.711: the segmenter stores it as AAC */
            c->ati = t[i];
            c->ati.config = NULL;
            c->ati.config_len = 0;
        } else if (c->audio < 0 && t[i].codec == RTSP_CODEC_AAC && t[i].config_len > 0) {
            c->audio = i;
            c->ati = t[i];
            size_t cl = t[i].config_len < sizeof(c->aconfig) ? t[i].config_len : sizeof(c->aconfig);
            memcpy(c->aconfig, t[i].config, cl);
            c->ati.config = c->aconfig;
            c->ati.config_len = cl;
        }
    }
    c->run_started = false;
    pthread_mutex_lock(&c->lock);
    snprintf(c->stats.codec, sizeof(c->stats.codec), "%s",
             c->video >= 0 ? rtsp_codec_name(c->vti.codec) : "");
    snprintf(c->stats.audio_codec, sizeof(c->stats.audio_codec), "%s",
             c->audio >= 0 ? rtsp_codec_name(c->ati.codec) : "");
    pthread_mutex_unlock(&c->lock);
    if (c->video < 0)
        vg_log_cam(LOG_WARNING, c->id, "native: no H.264/H.265 video track; nothing to record");
}

/* The video track's parameter sets as Annex B extradata. */
static int set_extradata(ingest_native *c, const rtsp_track_info *t)
{
    size_t n = (t->vps_len ? 4 + t->vps_len : 0) + 4 + t->sps_len + 4 + t->pps_len;
    uint8_t *e = malloc(n);
    if (!e) return -ENOMEM;
    size_t o = 0;
    const uint8_t *ps[3] = {t->vps, t->sps, t->pps};
    size_t pl[3] = {t->vps_len, t->sps_len, t->pps_len};
    for (int i = 0; i < 3; i++) {
        if (!pl[i]) continue;
        memcpy(e + o, "\0\0\0\1", 4);
        memcpy(e + o + 4, ps[i], pl[i]);
        o += 4 + pl[i];
    }
    free(c->extradata);
    c->extradata = e;
    c->extradata_len = o;
    return 0;
}

/* Picture size from the first keyframe (4-byte length-prefixed NAL units,
 * turned into Annex B in a copy) through libavcodec's parser. The parameter
 * sets of the SDP (extradata, Annex B) go in as the parser's extradata: a
 * camera that sends them only there has none in its keyframes, and without a
 * size the MP4 init segment cannot be built. */
static void probe_size(enum AVCodecID id, const uint8_t *extradata, size_t extradata_len,
                       const uint8_t *lp, size_t len, int *width, int *height)
{
    AVCodecParserContext *pc = av_parser_init(id);
    AVCodecContext *cc = avcodec_alloc_context3(NULL);
    uint8_t *data = malloc(len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (cc && extradata_len > 0 && extradata_len < INT_MAX / 2) {
        cc->extradata = av_mallocz(extradata_len + AV_INPUT_BUFFER_PADDING_SIZE);
        if (cc->extradata) {
            memcpy(cc->extradata, extradata, extradata_len);
            cc->extradata_size = (int)extradata_len;
        }
    }
    if (data) {
        memcpy(data, lp, len);
        memset(data + len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
        for (size_t o = 0; o + 4 <= len;) {
            size_t n = (size_t)data[o] << 24 | (size_t)data[o + 1] << 16 |
                       (size_t)data[o + 2] << 8 | data[o + 3];
            memcpy(data + o, "\0\0\0\1", 4);
            if (n > len - o - 4) break;
            o += 4 + n;
        }
    }
    if (pc && cc && data) {
        uint8_t *out = NULL;
        int outlen = 0;
        pc->flags |= PARSER_FLAG_COMPLETE_FRAMES;
        av_parser_parse2(pc, cc, &out, &outlen, data, (int)len, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
        if (pc->width > 0 && pc->height > 0) {
            *width = pc->width;
            *height = pc->height;
        }
    }
    av_parser_close(pc);
    avcodec_free_context(&cc);
    free(data);
}

static int start_run(ingest_native *c, const rtsp_frame *key)
{
    int r;
    bool hevc = c->vti.codec == RTSP_CODEC_H265;
    if ((r = set_extradata(c, &c->vti)) < 0) return r;
    probe_size(hevc ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264, c->extradata, c->extradata_len,
               key->data, key->len, &c->width, &c->height);
    ingest_stream v = {.codec = hevc ? INGEST_CODEC_H265 : INGEST_CODEC_H264,
                       .extradata = c->extradata,
                       .extradata_len = c->extradata_len,
                       .width = c->width,
                       .height = c->height,
                       .tb_num = 1,
                       .tb_den = (int)c->vti.clock_rate};
    ingest_stream a = {0};
    if (c->audio >= 0) {
        bool aac = c->ati.codec == RTSP_CODEC_AAC;
        a = (ingest_stream){.codec = c->ati.codec == RTSP_CODEC_PCMU   ? INGEST_CODEC_PCMU
                                     : c->ati.codec == RTSP_CODEC_PCMA ? INGEST_CODEC_PCMA
                                                                       : INGEST_CODEC_AAC,
                            .extradata = c->ati.config,
                            .extradata_len = c->ati.config_len,
                            .sample_rate = (int)c->ati.clock_rate,
                            .channels = c->ati.channels > 0 ? c->ati.channels : 1,
                            .frame_size = aac ? 1024 : 0,
                            .tb_num = 1,
                            .tb_den = (int)c->ati.clock_rate};
    }
    r = ingest_segmenter_start_run(c->seg, &v, c->audio >= 0 ? &a : NULL);
    if (r < 0) return r;
    c->run_started = true;
    pthread_mutex_lock(&c->lock);
    c->stats.width = c->width;
    c->stats.height = c->height;
    pthread_mutex_unlock(&c->lock);
    if (!c->online) {
        char detail[96];
        snprintf(detail, sizeof(detail), "native %s %dx%d%s%s", rtsp_codec_name(c->vti.codec),
                 c->width, c->height, c->audio >= 0 ? " + " : "",
                 c->audio >= 0 ? rtsp_codec_name(c->ati.codec) : "");
        event(c, "online", detail);
        c->online = true;
    }
    set_state(c, INGEST_RECORDING, NULL);
    c->played_since_us = vg_mono_us();
    return 0;
}

static void count_frame(ingest_native *c, const rtsp_frame *f, bool written)
{
    int64_t now = f->recv_us ? f->recv_us : vg_now_us();
    pthread_mutex_lock(&c->lock);
    c->stats.frames_received++;
    if (written)
        c->stats.frames_written++;
    else
        c->stats.frames_dropped++;
    if (f->track == c->video) {
        c->stats.last_frame_us = now;
        c->win_frames++;
    }
    c->win_bytes += f->len;
    if (!c->win_start_us) c->win_start_us = now;
    if (now - c->win_start_us >= STATS_WINDOW_US) {
        double s = (double)(now - c->win_start_us) / 1e6;
        c->stats.fps = (double)c->win_frames / s;
        c->stats.bitrate_bps = (int64_t)((double)c->win_bytes * 8 / s);
        c->win_start_us = now;
        c->win_frames = c->win_bytes = 0;
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_frame(void *opaque, const rtsp_frame *f)
{
    ingest_native *c = opaque;
    bool audio = f->track == c->audio;
    if (f->track != c->video && !audio) return;
    if (!c->run_started) {
        if (audio || !f->keyframe) {
            count_frame(c, f, false);
            return;
        }
        int r = start_run(c, f);
        if (r < 0) {
            vg_log_cam(LOG_ERR, c->id, "native: segmenter run: %s", av_err2str(r));
            count_frame(c, f, false);
            return;
        }
    }
    ingest_frame fr = {.audio = audio,
                       .data = f->data,
                       .size = f->len,
                       .pts = f->pts,
                       .key = !audio && f->keyframe,
                       .length_prefixed = !audio,
                       .recv_us = f->recv_us};
    int r = ingest_segmenter_write(c->seg, &fr);
    count_frame(c, f, r >= 0);
}

/* Video units are built straight into the segmenter's fragment buffer. */
static uint8_t *video_buffer(void *opaque, int track, size_t keep, size_t need)
{
    ingest_native *c = opaque;
    return track == c->video ? ingest_segmenter_video_buffer(c->seg, keep, need) : NULL;
}

static void on_params(void *opaque, const rtsp_track_info *t)
{
    ingest_native *c = opaque;
    if (t->index != c->video || !c->run_started) return;
    /* New parameter sets in band: the next keyframe starts a new run with them. */
    c->vti.vps = t->vps;
    c->vti.vps_len = t->vps_len;
    c->vti.sps = t->sps;
    c->vti.sps_len = t->sps_len;
    c->vti.pps = t->pps;
    c->vti.pps_len = t->pps_len;
    ingest_segmenter_end_run(c->seg);
    c->run_started = false;
}

static void on_retry(uv_timer_t *t)
{
    connect_camera(t->data);
}

static void on_error(void *opaque, rtsp_error e, const char *detail)
{
    ingest_native *c = opaque;
    rtsp_client_close(c->client, NULL);
    c->client = NULL;
    if (c->run_started) {
        ingest_segmenter_end_run(c->seg);
        c->run_started = false;
    }
    char reason[128];
    snprintf(reason, sizeof(reason), "%s", rtsp_error_name(e));
    if (c->online || c->stats.reconnects == 0) event(c, "offline", reason);
    c->online = false;
    set_state(c, INGEST_OFFLINE, reason);
    if (c->played_since_us && vg_mono_us() - c->played_since_us >= BACKOFF_RESET_US)
        c->backoff_ms = BACKOFF_MIN_MS;
    c->played_since_us = 0;
    int jitter = (int)(rand_r(&c->rng) % 41) - 20; /* +-20 % */
    int wait = c->backoff_ms + c->backoff_ms * jitter / 100;
    vg_log_cam(LOG_INFO, c->id, "native: %s (%s); retrying in %d ms", reason, detail, wait);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    pthread_mutex_lock(&c->lock);
    c->stats.reconnects++;
    pthread_mutex_unlock(&c->lock);
    uv_timer_start(&c->retry, on_retry, (uint64_t)wait, 0);
}

static void connect_camera(ingest_native *c)
{
    rtsp_client_opts o = {.url = c->url,
                          .user = c->user,
                          .pass = c->pass,
                          .camera = c->id,
                          .transport = c->tcp ? RTSP_TRANSPORT_TCP : RTSP_TRANSPORT_UDP,
                          /* MP4's sample format: the segmenter copies units as they are */
                          .length_prefixed = 1,
                          .tick_ms = c->tcp ? NATIVE_TICK_MS_TCP : NATIVE_TICK_MS_UDP};
    rtsp_client_cbs cb = {
        .on_tracks = on_tracks, .on_frame = on_frame, .on_params = on_params, .on_error = on_error,
        .video_buffer = video_buffer};
    set_state(c, INGEST_CONNECTING, NULL);
    int r = rtsp_client_start(&c->nl->loop, &o, &cb, c, &c->client);
    if (r < 0) {
        c->client = NULL;
        vg_log_cam(LOG_ERR, c->id, "native: cannot start: %s", strerror(-r));
        set_state(c, INGEST_OFFLINE, "error");
        event(c, "offline", "error");
    }
}

/* ---------------- loop threads ---------------- */

static void on_retry_closed(uv_handle_t *h)
{
    ingest_native *c = h->data;
    pthread_mutex_lock(&c->lock);
    c->released = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void do_stop(ingest_native *c)
{
    if (c->client) {
        rtsp_client_close(c->client, NULL);
        c->client = NULL;
    }
    if (c->run_started) {
        ingest_segmenter_end_run(c->seg);
        c->run_started = false;
    }
    if (c->retry_init) {
        c->retry_init = false;
        uv_close((uv_handle_t *)&c->retry, on_retry_closed);
    } else {
        on_retry_closed((uv_handle_t *)&c->retry);
    }
}

static void on_async(uv_async_t *a)
{
    native_loop *nl = a->data;
    pthread_mutex_lock(&nl->lock);
    ingest_native *q = nl->queue;
    nl->queue = NULL;
    for (ingest_native *c = q; c; c = c->next_cmd)
        c->queued = false;
    pthread_mutex_unlock(&nl->lock);
    while (q) {
        ingest_native *c = q;
        q = q->next_cmd;
        pthread_mutex_lock(&c->lock);
        bool stop = c->stop_requested, started = c->started;
        c->started = true;
        pthread_mutex_unlock(&c->lock);
        if (stop) {
            if (started || c->retry_init)
                do_stop(c);
            else
                on_retry_closed((uv_handle_t *)&c->retry);
        } else if (!started) {
            uv_timer_init(&nl->loop, &c->retry);
            c->retry.data = c;
            c->retry_init = true;
            connect_camera(c);
        }
    }
}

static void *loop_thread(void *arg)
{
    native_loop *nl = arg;
    uv_run(&nl->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void init_loops(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > MAX_LOOPS) n = MAX_LOOPS;
    for (int i = 0; i < n; i++) {
        native_loop *nl = &g_loops[i];
        if (uv_loop_init(&nl->loop) < 0) break;
        pthread_mutex_init(&nl->lock, NULL);
        uv_async_init(&nl->loop, &nl->async, on_async);
        nl->async.data = nl;
        if (pthread_create(&nl->thread, NULL, loop_thread, nl) != 0) break;
        g_nloops = i + 1;
    }
}

static void enqueue(ingest_native *c)
{
    native_loop *nl = c->nl;
    pthread_mutex_lock(&nl->lock);
    if (!c->queued) {
        c->queued = true;
        c->next_cmd = nl->queue;
        nl->queue = c;
    }
    pthread_mutex_unlock(&nl->lock);
    uv_async_send(&nl->async);
}

/* ---------------- public ---------------- */

static void camera_free(ingest_native *c)
{
    if (!c) return;
    ingest_segmenter_close(&c->seg);
    free(c->extradata);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c->url);
    free(c->user);
    free(c->pass);
    free(c->pool);
    free(c);
}

int ingest__native_start(const ingest_params *p, ingest_native **out)
{
    int r = 0;
    ingest_native *c = NULL;
    *out = NULL;
    if (!p->camera || !p->camera->id || !p->camera->url) return -EINVAL;
    pthread_once(&g_once, init_loops);
    if (g_nloops == 0) return -ENOMEM;
    if (!(c = calloc(1, sizeof(*c)))) return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    snprintf(c->id, sizeof(c->id), "%s", p->camera->id);
    c->url = strdup(p->camera->url);
    c->user = p->camera->username ? strdup(p->camera->username) : NULL;
    c->pass = p->camera->password ? strdup(p->camera->password) : NULL;
    c->pool = p->pool ? strdup(p->pool) : NULL;
    if (!c->url || (p->camera->username && !c->user) || (p->camera->password && !c->pass) ||
        (p->pool && !c->pool)) {
        r = -ENOMEM;
        goto out;
    }
    rtsp_url u;
    if (rtsp_url_parse(c->url, &u) < 0) {
        r = -EINVAL;
        goto out;
    }
    if (c->pass) vg_log_add_secret(c->pass);
    c->tcp = p->camera->tcp;
    c->segment_seconds = p->segment_seconds;
    c->st = p->st;
    c->idx = p->idx;
    c->video = c->audio = -1;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->rng = (unsigned)vg_now_us() ^ (unsigned)(uintptr_t)c;
    c->stats.state = INGEST_CONNECTING;
    ingest_segmenter_params sp = {.camera = c->id,
                                  .pool = c->pool,
                                  .segment_seconds = c->segment_seconds,
                                  .st = c->st,
                                  .idx = c->idx};
    if ((r = ingest_segmenter_open(&sp, &c->seg)) < 0) goto out;
    pthread_mutex_lock(&g_next_lock);
    c->nl = &g_loops[g_next++ % (unsigned)g_nloops];
    pthread_mutex_unlock(&g_next_lock);
    vg_log_cam(LOG_INFO, c->id, "starting (native, %s, %s)", c->url, c->tcp ? "tcp" : "udp");
    enqueue(c);
    *out = c;
    c = NULL;
out:
    camera_free(c);
    return r;
}

void ingest__native_request_stop(ingest_native *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    bool first = !c->stop_requested;
    c->stop_requested = true;
    pthread_mutex_unlock(&c->lock);
    if (first) enqueue(c);
}

void ingest__native_stop(ingest_native **cp)
{
    ingest_native *c = cp ? *cp : NULL;
    if (!c) return;
    ingest__native_request_stop(c);
    pthread_mutex_lock(&c->lock);
    while (!c->released)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    /* the loop no longer touches c; the queue entry was consumed before released */
    pthread_mutex_lock(&c->nl->lock);
    pthread_mutex_unlock(&c->nl->lock);
    camera_free(c);
    *cp = NULL;
}

void ingest__native_get_stats(ingest_native *c, ingest_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}
