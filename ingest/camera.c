/*
 * The camera-session supervisor: what a camera session means, once, over
 * whichever transport brings the bytes (ingest/transport.h). `source:
 * native` (the default: the event-driven RTSP client of ingest/rtsp on a few
 * shared libuv loop threads) or `source: ffmpeg` (opt-in, for a camera the
 * native client cannot handle: libavformat's RTSP demuxer in a thread per
 * camera) only decides which transport connects; the state machine
 * (connecting -> recording -> offline -> connecting ...), the reconnect
 * backoff (1 s doubling to 30 s, +-20 % jitter, back to 1 s after a run of
 * at least 30 s), the stall rule (connected, no video for 10 s), the
 * statistics, the online/offline events and the segmenter live here.
 *
 * Every frame passes ingest__session_frame(): the segmenter takes it, the
 * statistics count it under the camera's lock (one lock per frame, the
 * readers are the HTTP API and the metrics), and its time keeps the stall
 * clock (an atomic, read by the transports' watchdogs) from running out.
 * That is also the place to hand frames to anything else that wants them
 * live.
 *
 * Threading: the ingest__session_* calls come from the camera's transport
 * thread (one at a time); ingest_camera_get_stats() from anywhere.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <libavutil/error.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "ingest/segmenter.h"
#include "ingest/transport.h"

#define BACKOFF_MIN_US 1000000
#define BACKOFF_MAX_US 30000000
#define BACKOFF_RESET_US 30000000 /* a run this long resets the backoff */
#define STATS_WINDOW_US 5000000

struct ingest_camera {
    char id[INDEX_ID_MAX];
    index_db *idx;
    ingest_segmenter *seg;
    const ingest_transport *tp;
    void *t; /* the transport's session */
    ingest_camera *sub; /* the camera's sub stream (sub_url): live only, NULL none */

    /* transport thread only */
    bool run, online, offline_reported;
    int64_t backoff_us, online_mono_us;
    unsigned rng;
    int64_t win_start_us;
    uint64_t win_frames, win_bytes;
    /* The frame rate is read from the stream's own times (the highest pts so
     * far, which B-frames do not move back): arrival times bunch up when the
     * network or this host is busy, and a frame step in the console moves by
     * one frame of it. */
    int64_t win_pts0, max_pts;
    bool have_pts;
    int tb_num, tb_den;
    uint64_t dropped_here; /* received outside a run */

    atomic_int_fast64_t activity_mono_us; /* last video / attempt / run start */

    pthread_mutex_t lock; /* guards stats */
    ingest_stats stats;
};

const char *ingest_state_name(ingest_state s)
{
    switch (s) {
    case INGEST_CONNECTING: return "connecting";
    case INGEST_RECORDING: return "recording";
    case INGEST_OFFLINE: return "offline";
    case INGEST_DISABLED: return "disabled";
    }
    return "unknown";
}

static const char *reason_name(ingest_reason r)
{
    switch (r) {
    case INGEST_REASON_UNREACHABLE: return "unreachable";
    case INGEST_REASON_AUTH_FAILED: return "auth_failed";
    case INGEST_REASON_NOT_FOUND: return "not_found";
    case INGEST_REASON_STALLED: return "stalled";
    case INGEST_REASON_ERROR: break;
    }
    return "error";
}

static void event(ingest_camera *c, const char *type, const char *detail)
{
    if (c->idx) index_event_add(c->idx, vg_now_us(), c->id, type, detail);
}

static void touch(ingest_camera *c)
{
    atomic_store_explicit(&c->activity_mono_us, vg_mono_us(), memory_order_relaxed);
}

static void set_state(ingest_camera *c, ingest_state s, const char *err)
{
    pthread_mutex_lock(&c->lock);
    c->stats.state = s;
    if (err) snprintf(c->stats.last_error, sizeof(c->stats.last_error), "%s", err);
    pthread_mutex_unlock(&c->lock);
}

/* ---- for the transports ---- */

const char *ingest__session_id(const ingest_camera *c)
{
    return c->id;
}

void ingest__session_connecting(ingest_camera *c)
{
    touch(c);
    set_state(c, INGEST_CONNECTING, NULL);
}

int ingest__session_run(ingest_camera *c, const ingest_stream *video, const ingest_stream *audio,
                        double fps)
{
    int r = ingest_segmenter_start_run(c->seg, video, audio);
    c->run = r >= 0;
    c->tb_num = video->tb_num;
    c->tb_den = video->tb_den;
    c->have_pts = false; /* a new run may start its times anew */
    if (r < 0) {
        vg_log_cam(LOG_ERR, c->id, "%s: segmenter run: %s", c->tp->name, av_err2str(r));
        return r;
    }
    touch(c);
    pthread_mutex_lock(&c->lock);
    c->stats.width = video->width;
    c->stats.height = video->height;
    pthread_mutex_unlock(&c->lock);
    if (c->online) return 0;

    char detail[160], rate[24] = "";
    if (fps > 0) snprintf(rate, sizeof(rate), " %.4gfps", fps);
    snprintf(detail, sizeof(detail), "%s %dx%d%s%s%s (%s)", ingest_codec_name(video->codec),
             video->width, video->height, rate, audio ? " + " : "",
             audio ? (audio->codec == INGEST_CODEC_OTHER && audio->name
                          ? audio->name
                          : ingest_codec_name(audio->codec))
                   : "",
             c->tp->name);
    vg_log_cam(LOG_NOTICE, c->id, "online: %s", detail);
    event(c, "online", detail);
    c->online = true;
    c->offline_reported = false;
    c->online_mono_us = vg_mono_us();
    c->win_start_us = 0;
    c->win_frames = c->win_bytes = 0;
    pthread_mutex_lock(&c->lock);
    c->stats.state = INGEST_RECORDING;
    snprintf(c->stats.codec, sizeof(c->stats.codec), "%s", ingest_codec_name(video->codec));
    snprintf(c->stats.audio_codec, sizeof(c->stats.audio_codec), "%s",
             audio ? ingest_codec_name(audio->codec) : "");
    c->stats.last_error[0] = 0;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void ingest__session_end_run(ingest_camera *c)
{
    if (!c->run) return;
    ingest_segmenter_end_run(c->seg);
    c->run = false;
}

bool ingest__session_running(const ingest_camera *c)
{
    return c->run;
}

void ingest__session_frame(ingest_camera *c, const ingest_frame *f)
{
    ingest_segmenter_stats ss;
    if (c->run)
        ingest_segmenter_write(c->seg, f);
    else
        c->dropped_here++;
    ingest_segmenter_get_stats(c->seg, &ss);
    int64_t now = f->recv_us ? f->recv_us : vg_now_us();
    if (!f->audio) {
        touch(c);
        if (!c->have_pts || f->pts > c->max_pts) c->max_pts = f->pts;
        if (!c->have_pts) {
            c->have_pts = true;
            c->win_pts0 = c->max_pts;
            c->win_frames = 0;
        } else {
            c->win_frames++;
        }
    }
    c->win_bytes += f->size;
    if (!c->win_start_us) c->win_start_us = now;
    pthread_mutex_lock(&c->lock);
    c->stats.frames_received++;
    c->stats.frames_written = ss.frames_written;
    c->stats.frames_dropped = ss.frames_dropped + c->dropped_here;
    c->stats.queue_overflows = ss.queue_overflows;
    c->stats.queued_bytes = ss.queued_bytes;
    if (!f->audio) c->stats.last_frame_us = now;
    int64_t dt = now - c->win_start_us;
    if (dt >= STATS_WINDOW_US) {
        double span = c->have_pts && c->tb_den > 0
                          ? (double)(c->max_pts - c->win_pts0) * c->tb_num / c->tb_den
                          : 0;
        c->stats.fps = span > 0 ? (double)c->win_frames / span : (double)c->win_frames * 1e6 / (double)dt;
        c->stats.bitrate_bps = (int64_t)((double)c->win_bytes * 8e6 / (double)dt);
        c->win_start_us = now;
        c->win_frames = c->win_bytes = 0;
        c->win_pts0 = c->max_pts;
    }
    pthread_mutex_unlock(&c->lock);
}

uint8_t *ingest__session_video_buffer(ingest_camera *c, size_t keep, size_t need)
{
    /* Also outside a run: the keyframe that starts one is built in place too. */
    return ingest_segmenter_video_buffer(c->seg, keep, need);
}

int64_t ingest__session_idle_us(const ingest_camera *c)
{
    return vg_mono_us() - atomic_load_explicit(&c->activity_mono_us, memory_order_relaxed);
}

bool ingest__session_stalled(const ingest_camera *c)
{
    return ingest__session_idle_us(c) > INGEST_STALL_US;
}

int64_t ingest__session_failed(ingest_camera *c, ingest_reason r, const char *detail)
{
    char reason[128];
    if (r == INGEST_REASON_ERROR && detail && *detail)
        snprintf(reason, sizeof(reason), "error: %s", detail);
    else
        snprintf(reason, sizeof(reason), "%s", reason_name(r));
    ingest__session_end_run(c);
    if (c->online && vg_mono_us() - c->online_mono_us >= BACKOFF_RESET_US)
        c->backoff_us = BACKOFF_MIN_US;
    c->online = false;
    set_state(c, INGEST_OFFLINE, reason);
    if (!c->offline_reported) {
        vg_log_cam(LOG_WARNING, c->id, "offline: %s", reason);
        event(c, "offline", reason);
        c->offline_reported = true;
    }
    /* +-20 % jitter, so cameras that failed together do not retry together */
    c->rng = c->rng * 1103515245u + 12345u;
    double j = 0.8 + 0.4 * (double)((c->rng >> 8) % 10001) / 10000.0;
    int64_t delay = (int64_t)((double)c->backoff_us * j);
    vg_log_cam(LOG_INFO, c->id, "%s: %s%s%s; retrying in %.1f s", c->tp->name, reason,
               detail && r != INGEST_REASON_ERROR ? " - " : "",
               detail && r != INGEST_REASON_ERROR ? detail : "", (double)delay / 1e6);
    c->backoff_us = c->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : c->backoff_us * 2;
    pthread_mutex_lock(&c->lock);
    c->stats.reconnects++;
    pthread_mutex_unlock(&c->lock);
    return delay;
}

void ingest__session_ended(ingest_camera *c)
{
    ingest__session_end_run(c); /* closes the open segment: fsync, indexed */
    c->online = false;
    set_state(c, INGEST_OFFLINE, NULL);
}

/* ---- public ---- */

static void camera_free(ingest_camera *c)
{
    if (!c) return;
    ingest_segmenter_close(&c->seg);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int ingest_camera_start(const ingest_params *p, ingest_camera **out)
{
    int r = 0;
    ingest_camera *c = NULL;
    *out = NULL;
    if (!p->camera || !p->camera->id || !p->camera->url) return -EINVAL;
    if (!(c = calloc(1, sizeof(*c)))) return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    snprintf(c->id, sizeof(c->id), "%s", p->camera->id);
    c->idx = p->sub ? NULL : p->idx; /* a sub stream reports no events */
    c->tp = p->camera->source == CONFIG_SOURCE_NATIVE ? &ingest__transport_native
                                                      : &ingest__transport_ffmpeg;
    c->backoff_us = BACKOFF_MIN_US;
    c->rng = (unsigned)vg_now_us() ^ (unsigned)(uintptr_t)c;
    c->stats.state = INGEST_CONNECTING;
    touch(c);
    /* A recorded sub stream is stored under its own camera key (config.h). */
    char key[INDEX_ID_MAX];
    if (p->sub && p->st && (r = config_sub_key(c->id, key, sizeof(key))) < 0) goto out;
    ingest_segmenter_params sp = {.camera = p->sub && p->st ? key : c->id,
                                  .pool = p->pool,
                                  .segment_seconds = p->segment_seconds,
                                  .st = p->st,
                                  .idx = p->idx,
                                  .live = ingest_live_feed(p->live, c->id,
                                                           p->sub ? "sub" : "main")};
    if ((r = ingest_segmenter_open(&sp, &c->seg)) < 0) goto out;
    if (p->camera->password) vg_log_add_secret(p->camera->password);
    if ((r = c->tp->start(c, p, &c->t)) < 0) goto out;
    if (p->camera->sub_url && !p->sub) {
        /* A second session on the sub stream that feeds live viewers and, with
         * record_sub, its own segments; no events (the camera's state is its
         * main stream's). */
        config_camera sc = *p->camera;
        sc.url = p->camera->sub_url;
        sc.sub_url = NULL;
        ingest_params sp2 = {.camera = &sc, .segment_seconds = p->segment_seconds,
                             .live = p->live, .sub = true};
        if (p->camera->record_sub) {
            sp2.pool = p->pool;
            sp2.st = p->st;
            sp2.idx = p->idx;
        }
        if ((r = ingest_camera_start(&sp2, &c->sub)) < 0) {
            vg_log_cam(LOG_ERR, c->id, "cannot start its sub stream: %s", strerror(-r));
            r = 0; /* the main stream records anyway */
        }
    }
    *out = c;
    c = NULL;
out:
    camera_free(c);
    return r;
}

void ingest_camera_request_stop(ingest_camera *c)
{
    if (!c) return;
    c->tp->request_stop(c->t);
    ingest_camera_request_stop(c->sub);
}

void ingest_camera_stop(ingest_camera **cp)
{
    ingest_camera *c = cp ? *cp : NULL;
    if (!c) return;
    c->tp->stop(c->t); /* ends the run on its own thread */
    c->t = NULL;
    ingest_camera_stop(&c->sub);
    camera_free(c);
    *cp = NULL;
}

void ingest_camera_get_stats(ingest_camera *c, ingest_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}
