/*
 * The native transport (`source: native`): the event-driven RTSP/RTP client
 * of ingest/rtsp behind the camera-session supervisor (transport.h).
 *
 * A small pool of loop threads (one per core, at most 4, created on first
 * use and kept for the life of the process) hosts every native camera; a
 * camera is pinned to one loop, round robin. Other threads talk to a camera
 * only through its loop's async handle: start and stop requests are queued
 * under the loop's mutex. So the client, the reconnect timer and every
 * supervisor call of a camera happen on its loop thread alone, and stop
 * waits on a condition variable until the loop has let go of the camera.
 * Each loop has one watchdog timer that applies the supervisor's stall rule
 * to the cameras playing on it (one timer per loop, not per camera).
 *
 * The video track's codec parameters come from the SDP (and in-band updates);
 * the picture size from libavcodec's parser on the first keyframe, when the
 * run starts (that is when the camera is online). Video access units are
 * built straight into the segmenter's buffer (video_buffer), so the client's
 * bytes are copied once.
 */
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <limits.h>
#include <strings.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/common.h"
#include "ingest/rtsp/rtsp_client.h"
#include "ingest/transport.h"

#define MAX_LOOPS 4
#define WATCHDOG_MS 1000
/* Sockets are read every tick, not on every packet: over TCP at 2 Mbit/s a
 * 200 ms tick is one 50 KB recv per camera (the kernel's receive buffer holds
 * the rest; TCP flow control covers any bitrate). UDP has no flow control and
 * a receive buffer the kernel may cap (rmem_max), so it is drained more often. */
#define NATIVE_TICK_MS_TCP 200
#define NATIVE_TICK_MS_UDP 50
/* A camera with live viewers is read every frame interval (at 25 fps) instead:
 * its frames reach viewers up to 160 ms sooner, for ~5x the wake-ups of that
 * camera's session (still one per loop per tick for all such cameras). */
#define NATIVE_TICK_MS_LIVE 40

typedef struct native_loop native_loop;
typedef struct native_cam native_cam;

struct native_cam {
    ingest_camera *cam; /* the supervisor's, borrowed */
    const char *id;
    char *url, *user, *pass;
    char *ca_file;      /* tls_ca_file, NULL: the system's CAs */
    bool tls_no_verify; /* tls_verify: false */
    bool tcp;
    native_loop *nl;
    native_cam *next_cmd; /* in nl's queue (nl->lock) */
    bool queued;

    /* loop thread only */
    native_cam *prev_on_loop, *next_on_loop; /* nl->cams, while started */
    rtsp_client *client;
    uv_timer_t retry;
    bool retry_init;
    bool playing; /* the client has its tracks */
    int video, audio; /* track indexes, -1 none */
    rtsp_track_info vti, ati;
    uint8_t aconfig[64];
    uint8_t *extradata; /* the video track's parameter sets, Annex B */
    size_t extradata_len;
    int width, height;  /* from the last run's first keyframe */
    ingest_live *live;  /* the camera's live feed (borrowed), NULL none */
    bool live_tick;     /* reading on NATIVE_TICK_MS_LIVE */
    int basic_logged;   /* rtsp_client_opts.basic_logged, across sessions */

    /* shared, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop_requested, started, released;
};

struct native_loop {
    uv_loop_t loop;
    uv_async_t async;
    uv_check_t check; /* after each loop iteration: one live wake-up for the tick */
    uv_timer_t watchdog;
    pthread_t thread;
    pthread_mutex_t lock;
    native_cam *queue;
    native_cam *cams; /* loop thread only */
};

static native_loop g_loops[MAX_LOOPS];
static int g_nloops;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static unsigned g_next;
static pthread_mutex_t g_next_lock = PTHREAD_MUTEX_INITIALIZER;

static void connect_camera(native_cam *c);

/* ---------------- session callbacks (loop thread) ---------------- */

static void on_tracks(void *opaque, const rtsp_track_info *t, int n)
{
    native_cam *c = opaque;
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
    c->playing = true;
    ingest__session_end_run(c->cam);
    if (c->video < 0)
        vg_log_cam(LOG_WARNING, c->id, "native: no H.264/H.265 video track; nothing to record");
}

/* The video track's parameter sets as Annex B extradata. */
static int set_extradata(native_cam *c, const rtsp_track_info *t)
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

/* A run from the current tracks; the first of a connection makes the camera
 * online. */
static int start_run(native_cam *c, const rtsp_frame *key)
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
    return ingest__session_run(c->cam, &v, c->audio >= 0 ? &a : NULL, 0);
}

static void on_frame(void *opaque, const rtsp_frame *f)
{
    native_cam *c = opaque;
    bool audio = f->track == c->audio;
    if (f->track != c->video && !audio) return;
    /* A run starts at a keyframe (its picture size comes from it); anything
     * before is counted dropped by the supervisor. */
    if (!audio && f->keyframe && !ingest__session_running(c->cam)) start_run(c, f);
    ingest_frame fr = {.audio = audio,
                       .data = f->data,
                       .size = f->len,
                       .pts = f->pts,
                       .key = !audio && f->keyframe,
                       .length_prefixed = !audio,
                       .recv_us = f->recv_us,
                       .ntp_us = f->ntp_us};
    ingest__session_frame(c->cam, &fr);
}

/* Video units are built straight into the segmenter's fragment buffer. */
static uint8_t *video_buffer(void *opaque, int track, size_t keep, size_t need)
{
    native_cam *c = opaque;
    return track == c->video ? ingest__session_video_buffer(c->cam, keep, need) : NULL;
}

static void on_params(void *opaque, const rtsp_track_info *t)
{
    native_cam *c = opaque;
    if (t->index != c->video || !ingest__session_running(c->cam)) return;
    /* New parameter sets in band: the next keyframe starts a new run with them. */
    c->vti.vps = t->vps;
    c->vti.vps_len = t->vps_len;
    c->vti.sps = t->sps;
    c->vti.sps_len = t->sps_len;
    c->vti.pps = t->pps;
    c->vti.pps_len = t->pps_len;
    ingest__session_end_run(c->cam);
}

static void on_retry(uv_timer_t *t)
{
    connect_camera(t->data);
}

/* The attempt is over: close the client, wait the supervisor's backoff. */
static void fail_session(native_cam *c, ingest_reason reason, const char *detail)
{
    rtsp_client_close(c->client, NULL);
    c->client = NULL;
    c->playing = false;
    int64_t delay_us = ingest__session_failed(c->cam, reason, detail);
    uv_timer_start(&c->retry, on_retry, (uint64_t)(delay_us / 1000), 0);
}

static void on_error(void *opaque, rtsp_error e, const char *detail)
{
    native_cam *c = opaque;
    ingest_reason r = INGEST_REASON_ERROR;
    switch (e) {
    case RTSP_ERR_UNREACHABLE:
    case RTSP_ERR_CLOSED: r = INGEST_REASON_UNREACHABLE; break; /* as a dropped connection */
    case RTSP_ERR_AUTH_FAILED: r = INGEST_REASON_AUTH_FAILED; break;
    case RTSP_ERR_NOT_FOUND: r = INGEST_REASON_NOT_FOUND; break;
    case RTSP_ERR_STALLED: r = INGEST_REASON_STALLED; break;
    case RTSP_ERR_NONE:
    case RTSP_ERR_PROTOCOL: break;
    }
    fail_session(c, r, detail);
}

static void connect_camera(native_cam *c)
{
    rtsp_client_opts o = {.url = c->url,
                          .user = c->user,
                          .pass = c->pass,
                          .camera = c->id,
                          .basic_logged = &c->basic_logged,
                          .tls_ca_file = c->ca_file,
                          .tls_no_verify = c->tls_no_verify,
                          .transport = c->tcp ? RTSP_TRANSPORT_TCP : RTSP_TRANSPORT_UDP,
                          /* MP4's sample format: the segmenter copies units as they are */
                          .length_prefixed = 1,
                          .stall_ms = INGEST_STALL_US / 1000,
                          .tick_ms = c->tcp ? NATIVE_TICK_MS_TCP : NATIVE_TICK_MS_UDP};
    c->live_tick = false; /* a new client starts on the base tick */
    rtsp_client_cbs cb = {
        .on_tracks = on_tracks, .on_frame = on_frame, .on_params = on_params, .on_error = on_error,
        .video_buffer = video_buffer};
    ingest__session_connecting(c->cam);
    int r = rtsp_client_start(&c->nl->loop, &o, &cb, c, &c->client);
    if (r < 0) {
        c->client = NULL;
        vg_log_cam(LOG_ERR, c->id, "native: cannot start: %s", strerror(-r));
        int64_t delay_us = ingest__session_failed(c->cam, INGEST_REASON_ERROR, strerror(-r));
        uv_timer_start(&c->retry, on_retry, (uint64_t)(delay_us / 1000), 0);
    }
}

/* ---------------- loop threads ---------------- */

/* The supervisor's stall rule (no video for INGEST_STALL_US) for every camera
 * playing on this loop; the client's own rule (no RTP at all) stays as the
 * protocol's. */
static void on_watchdog(uv_timer_t *t)
{
    native_loop *nl = t->data;
    for (native_cam *c = nl->cams, *next; c; c = next) {
        next = c->next_on_loop;
        if (c->client && c->playing && ingest__session_stalled(c->cam)) {
            fail_session(c, INGEST_REASON_STALLED, "no video");
            continue;
        }
        /* read latency follows need: a shorter tick while someone watches */
        bool want = ingest_live_wanted(c->live);
        if (c->client && want != c->live_tick) {
            int base = c->tcp ? NATIVE_TICK_MS_TCP : NATIVE_TICK_MS_UDP;
            rtsp_client_set_tick(c->client, want && NATIVE_TICK_MS_LIVE < base ? NATIVE_TICK_MS_LIVE
                                                                               : base);
            c->live_tick = want;
        }
    }
}

/* Also called directly, for a camera stopped before its timer was ever
 * initialised (h->data unset): the camera is found from the handle's place. */
static void on_retry_closed(uv_handle_t *h)
{
    native_cam *c = vg_container_of((uv_timer_t *)h, native_cam, retry);
    pthread_mutex_lock(&c->lock);
    c->released = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void loop_add(native_cam *c)
{
    native_loop *nl = c->nl;
    c->prev_on_loop = NULL;
    c->next_on_loop = nl->cams;
    if (nl->cams) nl->cams->prev_on_loop = c;
    nl->cams = c;
}

static void loop_remove(native_cam *c)
{
    if (c->prev_on_loop)
        c->prev_on_loop->next_on_loop = c->next_on_loop;
    else
        c->nl->cams = c->next_on_loop;
    if (c->next_on_loop) c->next_on_loop->prev_on_loop = c->prev_on_loop;
    c->prev_on_loop = c->next_on_loop = NULL;
}

static void do_stop(native_cam *c)
{
    if (c->client) {
        rtsp_client_close(c->client, NULL);
        c->client = NULL;
    }
    c->playing = false;
    ingest__session_ended(c->cam); /* closes the open segment here, on the loop */
    if (c->retry_init) {
        loop_remove(c);
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
    native_cam *q = nl->queue;
    nl->queue = NULL;
    for (native_cam *c = q; c; c = c->next_cmd)
        c->queued = false;
    pthread_mutex_unlock(&nl->lock);
    while (q) {
        native_cam *c = q;
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
            loop_add(c);
            connect_camera(c);
        }
    }
}

/* The sessions whose ticks fell in this iteration have all been read: wake
 * the HTTP loop once for the live frames they published. */
static void on_check(uv_check_t *h)
{
    (void)h;
    ingest_live_tick_end();
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
        uv_check_init(&nl->loop, &nl->check);
        uv_check_start(&nl->check, on_check);
        uv_unref((uv_handle_t *)&nl->check);
        uv_timer_init(&nl->loop, &nl->watchdog);
        nl->watchdog.data = nl;
        uv_timer_start(&nl->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS);
        if (pthread_create(&nl->thread, NULL, loop_thread, nl) != 0) break;
        g_nloops = i + 1;
    }
}

static void enqueue(native_cam *c)
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

/* ---------------- the transport ---------------- */

static void cam_free(native_cam *c)
{
    if (!c) return;
    free(c->extradata);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c->url);
    free(c->user);
    free(c->pass);
    free(c->ca_file);
    free(c);
}

static int native_start(ingest_camera *cam, const ingest_params *p, void **out)
{
    int r = 0;
    native_cam *c = NULL;
    *out = NULL;
    pthread_once(&g_once, init_loops);
    if (g_nloops == 0) return -ENOMEM;
    if (!(c = calloc(1, sizeof(*c)))) return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->cam = cam;
    c->id = ingest__session_id(cam);
    c->url = strdup(p->camera->url);
    c->user = p->camera->username ? strdup(p->camera->username) : NULL;
    c->pass = p->camera->password ? strdup(p->camera->password) : NULL;
    c->ca_file = p->camera->tls_ca_file ? strdup(p->camera->tls_ca_file) : NULL;
    c->tls_no_verify = p->camera->tls_no_verify;
    if (c->tls_no_verify && !strncasecmp(c->url, "rtsps://", 8))
        vg_log_cam(LOG_WARNING, p->camera->id, "native: tls_verify: false: the camera's TLS "
                   "certificate is not checked, so whoever answers at its address gets its "
                   "credentials");
    if (!c->url || (p->camera->username && !c->user) || (p->camera->password && !c->pass) ||
        (p->camera->tls_ca_file && !c->ca_file)) {
        r = -ENOMEM;
        goto out;
    }
    rtsp_url u;
    if (rtsp_url_parse(c->url, &u) < 0) {
        r = -EINVAL;
        goto out;
    }
    c->tcp = p->camera->tcp;
    c->live = ingest_live_feed(p->live, p->camera->id, p->sub ? "sub" : "main");
    c->video = c->audio = -1;
    pthread_mutex_lock(&g_next_lock);
    c->nl = &g_loops[g_next++ % (unsigned)g_nloops];
    pthread_mutex_unlock(&g_next_lock);
    vg_log_cam(LOG_INFO, c->id, "starting (native, %s, %s)", c->url, c->tcp ? "tcp" : "udp");
    enqueue(c);
    *out = c;
    c = NULL;
out:
    cam_free(c);
    return r;
}

static void native_request_stop(void *t)
{
    native_cam *c = t;
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    bool first = !c->stop_requested;
    c->stop_requested = true;
    pthread_mutex_unlock(&c->lock);
    if (first) enqueue(c);
}

static void native_stop(void *t)
{
    native_cam *c = t;
    if (!c) return;
    native_request_stop(c);
    pthread_mutex_lock(&c->lock);
    while (!c->released)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    /* the loop no longer touches c; the queue entry was consumed before released */
    pthread_mutex_lock(&c->nl->lock);
    pthread_mutex_unlock(&c->nl->lock);
    cam_free(c);
}

const ingest_transport ingest__transport_native = {
    .name = "native",
    .start = native_start,
    .request_stop = native_request_stop,
    .stop = native_stop,
};
