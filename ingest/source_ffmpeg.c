/*
 * The FFmpeg transport (`source: ffmpeg`): libavformat's RTSP demuxer, one
 * thread per camera, behind the camera-session supervisor (transport.h).
 *
 * The thread connects (credentials go into the URL, percent-encoded, and the
 * URL is never logged by us; FFmpeg's own lines pass the redacting logger),
 * probes briefly, picks the first H.264/H.265 video and AAC/G.711 audio
 * stream, and hands every packet with its receive time to the supervisor. An
 * interrupt callback aborts any blocking call on a stop request or when the
 * supervisor's stall rule says so (no video for 10 s; audio alone records
 * nothing). After a failure it waits the supervisor's backoff on a condition
 * variable, so a stop request ends the wait at once.
 *
 * libavformat (5.1) hands out the first video access unit of every RTSP
 * session without a pts or dts: its parser looks timestamps up by byte
 * position and RTP packets have none (-1), which defeats its "first frame"
 * case. That frame is the session's first keyframe, and without it the
 * segmenter waits for the next one: a whole GOP lost per connection. So the
 * packets at the start of a session are held until a few timestamped video
 * frames follow, and the first one gets the smallest pts among them minus one
 * frame duration (exact without B-frames and with closed GOPs, which is what
 * an IDR starts). When a stop interrupts a read, the parser flushes the
 * picture it held back (the last one the camera sent); that is a real frame
 * and is recorded too.
 */
#include "ingest/transport.h"

#include "common/common.h"

#include <errno.h>
#include <libavformat/avformat.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOLD_LOOKAHEAD 4  /* timestamped video frames after an untimed first one */
#define HOLD_MAX 64       /* packets held at most meanwhile (audio too) */

typedef struct ffmpeg_transport {
    ingest_camera *cam; /* the supervisor's, borrowed */
    const char *id;
    char *url;          /* with credentials: never logged */
    bool tcp;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* guards the wait */
    pthread_cond_t cond;
    atomic_bool stop;
    atomic_bool stalled;  /* the interrupt fired because nothing came */
} ffmpeg_transport;

/* ---- URL ---- */

static void pct_encode(const char *in, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = 0;
}

/* rtsp://host/path + user/pass -> rtsp://user:pass@host/path (malloc'd). */
static char *url_with_credentials(const char *url, const char *user, const char *pass)
{
    const char *sep = strstr(url, "://");
    if (!user || !*user || !sep) return strdup(url);
    char u[256 * 3 + 1], p[256 * 3 + 1];
    pct_encode(user, u, sizeof(u));
    pct_encode(pass ? pass : "", p, sizeof(p));
    size_t n = strlen(url) + strlen(u) + strlen(p) + 4;
    char *out = malloc(n);
    if (!out) return NULL;
    snprintf(out, n, "%.*s://%s%s%s@%s", (int)(sep - url), url, u, pass ? ":" : "", pass ? p : "",
             sep + 3);
    return out;
}

/* ---- failures ---- */

static int interrupt_cb(void *opaque)
{
    ffmpeg_transport *c = opaque;
    if (atomic_load(&c->stop)) return 1;
    if (ingest__session_stalled(c->cam)) {
        atomic_store(&c->stalled, true);
        return 1;
    }
    return 0;
}

/* The reason an attempt failed with err (detail: for "error: ..."). */
static ingest_reason reason_for(ffmpeg_transport *c, int err, bool playing, char *detail,
                                size_t len)
{
    detail[0] = 0;
    if (atomic_load(&c->stalled) || err == AVERROR(ETIMEDOUT))
        return playing ? INGEST_REASON_STALLED : INGEST_REASON_UNREACHABLE;
    if (err == AVERROR_HTTP_UNAUTHORIZED || err == AVERROR_HTTP_FORBIDDEN)
        return INGEST_REASON_AUTH_FAILED;
    if (err == AVERROR_HTTP_NOT_FOUND) return INGEST_REASON_NOT_FOUND;
    if (err == AVERROR(ECONNREFUSED) || err == AVERROR(EHOSTUNREACH) ||
        err == AVERROR(ENETUNREACH) || err == AVERROR(EIO) || err == AVERROR_EOF ||
        err == AVERROR(ECONNRESET) || err == AVERROR(EPIPE) || err == AVERROR(ECONNABORTED) ||
        err == AVERROR(EHOSTDOWN) || err == AVERROR(ENOTCONN))
        return INGEST_REASON_UNREACHABLE;
    av_strerror(err, detail, len);
    return INGEST_REASON_ERROR;
}

/* ---- one connection ---- */

/* A libavformat stream in the segmenter's terms (extradata borrowed from par). */
static ingest_stream stream_of(const AVCodecParameters *par, AVRational tb)
{
    ingest_stream st = {.codec = INGEST_CODEC_OTHER,
                        .name = avcodec_get_name(par->codec_id),
                        .extradata = par->extradata,
                        .extradata_len = par->extradata_size > 0 ? (size_t)par->extradata_size : 0,
                        .width = par->width,
                        .height = par->height,
                        .sample_rate = par->sample_rate,
                        .channels = par->ch_layout.nb_channels,
                        .frame_size = par->frame_size,
                        .bit_rate = par->bit_rate,
                        .tb_num = tb.num,
                        .tb_den = tb.den};
    switch (par->codec_id) {
    case AV_CODEC_ID_H264: st.codec = INGEST_CODEC_H264; break;
    case AV_CODEC_ID_HEVC: st.codec = INGEST_CODEC_H265; break;
    case AV_CODEC_ID_AAC: st.codec = INGEST_CODEC_AAC; break;
    case AV_CODEC_ID_PCM_MULAW: st.codec = INGEST_CODEC_PCMU; break;
    case AV_CODEC_ID_PCM_ALAW: st.codec = INGEST_CODEC_PCMA; break;
    default: break;
    }
    return st;
}

/* The streams of a session, as the segmenter was given them. */
typedef struct sess {
    int vi, ai;
    AVCodecParameters *vpar; /* ours: extradata follows in-band parameter sets */
    AVRational vtb;
    const AVCodecParameters *apar; /* NULL: no audio */
    AVRational atb;
    /* Start of the session: packets held while the first video frame has no pts. */
    AVPacket *hold[HOLD_MAX];
    int64_t hold_recv[HOLD_MAX];
    int nhold, hold_timed;
    bool first_video_seen, holding;
} sess;

/* A run with the session's streams as they are now. */
static int start_run(ffmpeg_transport *c, const sess *ss, double fps)
{
    ingest_stream v = stream_of(ss->vpar, ss->vtb), a;
    if (ss->apar) a = stream_of(ss->apar, ss->atb);
    return ingest__session_run(c->cam, &v, ss->apar ? &a : NULL, fps);
}

/* Hands one packet of a recorded stream to the supervisor. */
static void feed(ffmpeg_transport *c, sess *ss, AVPacket *pkt, int64_t recv_us)
{
    bool video = pkt->stream_index == ss->vi;
    if (pkt->pts == AV_NOPTS_VALUE) return;
    if (video) {
        /* New parameter sets in band: a new run with the new extradata. */
        size_t sz = 0;
        AVCodecParameters *vpar = ss->vpar;
        uint8_t *ed = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &sz);
        if (ed && sz && ((size_t)vpar->extradata_size != sz ||
                         memcmp(vpar->extradata, ed, sz) != 0)) {
            av_freep(&vpar->extradata);
            vpar->extradata = av_mallocz(sz + AV_INPUT_BUFFER_PADDING_SIZE);
            if (vpar->extradata) {
                memcpy(vpar->extradata, ed, sz);
                vpar->extradata_size = (int)sz;
            } else {
                vpar->extradata_size = 0;
            }
            start_run(c, ss, 0);
        }
    }
    ingest_frame f = {.audio = !video, .data = pkt->data, .size = (size_t)pkt->size,
                      .pts = pkt->pts,
                      .key = video && (pkt->flags & AV_PKT_FLAG_KEY), .recv_us = recv_us};
    ingest__session_frame(c->cam, &f);
    ingest_live_tick_end(); /* this thread's tick is one packet: live viewers are woken */
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Gives the held first video frame its pts (see the top of the file), then
 * feeds everything held, in arrival order. */
static void release_held(ffmpeg_transport *c, sess *ss, AVRational fps)
{
    int64_t pts[HOLD_MAX];
    int n = 0;
    for (int i = 1; i < ss->nhold; i++)
        if (ss->hold[i]->stream_index == ss->vi && ss->hold[i]->pts != AV_NOPTS_VALUE)
            pts[n++] = ss->hold[i]->pts;
    if (ss->nhold && n) {
        qsort(pts, (size_t)n, sizeof(pts[0]), cmp_i64);
        int64_t dur = 0;
        for (int i = 1; i < n; i++) {
            int64_t d = pts[i] - pts[i - 1];
            if (d > 0 && (!dur || d < dur)) dur = d;
        }
        if (!dur && fps.num > 0 && fps.den > 0) dur = av_rescale_q(1, av_inv_q(fps), ss->vtb);
        if (!dur) dur = av_rescale_q(40000, AV_TIME_BASE_Q, ss->vtb);
        if (dur < 1) dur = 1;
        ss->hold[0]->pts = pts[0] - dur;
        vg_log_cam(LOG_DEBUG, c->id, "first video frame without a timestamp: pts %lld",
                   (long long)ss->hold[0]->pts);
    }
    for (int i = 0; i < ss->nhold; i++) {
        feed(c, ss, ss->hold[i], ss->hold_recv[i]);
        av_packet_free(&ss->hold[i]);
    }
    ss->nhold = ss->hold_timed = 0;
    ss->holding = false;
}

static void drop_held(sess *ss)
{
    for (int i = 0; i < ss->nhold; i++) av_packet_free(&ss->hold[i]);
    ss->nhold = ss->hold_timed = 0;
    ss->holding = false;
}

/*
 * Connects and records until an error or a stop. Returns 0 on stop, else the
 * error with *reason (and detail) set.
 */
static int session(ffmpeg_transport *c, ingest_reason *reason, char *detail, size_t detail_len)
{
    int r = 0;
    AVFormatContext *ic = NULL;
    AVDictionary *opts = NULL;
    AVPacket *pkt = NULL;
    AVCodecParameters *vpar = NULL;
    bool playing = false;
    sess ss = {.vi = -1, .ai = -1};
    AVRational fr = {0, 1};
    *reason = INGEST_REASON_ERROR;
    detail[0] = 0;
    atomic_store(&c->stalled, false);

    if (!(ic = avformat_alloc_context()) || !(pkt = av_packet_alloc())) {
        r = AVERROR(ENOMEM);
        goto fail;
    }
    ic->interrupt_callback.callback = interrupt_cb;
    ic->interrupt_callback.opaque = c;
    av_dict_set(&opts, "rtsp_transport", c->tcp ? "tcp" : "udp", 0);
    av_dict_set(&opts, "timeout", "10000000", 0); /* socket I/O, us */
    av_dict_set(&opts, "probesize", "500000", 0);
    av_dict_set(&opts, "analyzeduration", "1000000", 0);
    av_dict_set(&opts, "allowed_media_types", "video+audio", 0);
    if (!c->tcp) av_dict_set(&opts, "max_delay", "500000", 0);
    r = avformat_open_input(&ic, c->url, NULL, &opts);
    if (r < 0) goto fail;
    r = avformat_find_stream_info(ic, NULL);
    if (r < 0) goto fail;

    int vi = -1, ai = -1;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        const AVCodecParameters *par = ic->streams[i]->codecpar;
        if (vi < 0 && par->codec_type == AVMEDIA_TYPE_VIDEO) vi = (int)i;
        if (ai < 0 && par->codec_type == AVMEDIA_TYPE_AUDIO &&
            (par->codec_id == AV_CODEC_ID_AAC || par->codec_id == AV_CODEC_ID_PCM_MULAW ||
             par->codec_id == AV_CODEC_ID_PCM_ALAW))
            ai = (int)i;
    }
    if (vi < 0 || (ic->streams[vi]->codecpar->codec_id != AV_CODEC_ID_H264 &&
                   ic->streams[vi]->codecpar->codec_id != AV_CODEC_ID_HEVC)) {
        vg_log_cam(LOG_WARNING, c->id, "video codec %s is not recorded (H.264/H.265 only)",
                   vi < 0 ? "(none)" : avcodec_get_name(ic->streams[vi]->codecpar->codec_id));
        snprintf(detail, detail_len, "unsupported codec");
        r = AVERROR_PATCHWELCOME;
        goto out; /* reason: error, with that detail */
    }
    AVStream *vs = ic->streams[vi], *as = ai >= 0 ? ic->streams[ai] : NULL;
    if (!(vpar = avcodec_parameters_alloc()) || avcodec_parameters_copy(vpar, vs->codecpar) < 0) {
        r = AVERROR(ENOMEM);
        goto fail;
    }
    ss.vi = vi;
    ss.ai = as ? ai : -1;
    ss.vpar = vpar;
    ss.vtb = vs->time_base;
    ss.apar = as ? as->codecpar : NULL;
    ss.atb = as ? as->time_base : (AVRational){1, 1};
    fr = vs->avg_frame_rate.num ? vs->avg_frame_rate : vs->r_frame_rate;
    r = start_run(c, &ss, fr.den ? av_q2d(fr) : 0.0); /* online */
    if (r < 0) goto fail;

    playing = true;
    int64_t last_video_recv = 0;
    while (!atomic_load(&c->stop)) {
        r = av_read_frame(ic, pkt);
        if (r < 0) break;
        int64_t now = vg_now_us();
        bool video = pkt->stream_index == vi;
        if (video) {
            /* When the socket times out, libavformat's parser flushes the frame
             * it held back and returns it as if nothing happened; the next read
             * then blocks for another timeout. A video frame after more than
             * half the stall limit of silence is therefore that flush: the
             * camera has stalled. The frame itself is the last one the camera
             * sent (it arrived with the previous one): recorded, then the
             * session ends. A stop request interrupting the read flushes it
             * the same way. */
            bool flushed = ingest__session_idle_us(c->cam) > INGEST_STALL_US / 2;
            if (flushed && last_video_recv) now = last_video_recv;
            if (flushed && !atomic_load(&c->stop)) {
                atomic_store(&c->stalled, true);
                r = AVERROR(ETIMEDOUT);
            }
            last_video_recv = now;
        }
        if (!video && pkt->stream_index != ss.ai) {
            av_packet_unref(pkt);
        } else {
            if (video && !ss.first_video_seen) {
                ss.first_video_seen = true;
                ss.holding = pkt->pts == AV_NOPTS_VALUE && pkt->dts == AV_NOPTS_VALUE;
            }
            if (ss.holding) {
                AVPacket *h = av_packet_alloc();
                if (!h) {
                    r = AVERROR(ENOMEM);
                    av_packet_unref(pkt);
                    break;
                }
                av_packet_move_ref(h, pkt);
                ss.hold_recv[ss.nhold] = now;
                ss.hold[ss.nhold++] = h;
                if (video && h->pts != AV_NOPTS_VALUE) ss.hold_timed++;
                if (ss.hold_timed >= HOLD_LOOKAHEAD || ss.nhold == HOLD_MAX)
                    release_held(c, &ss, fr);
            } else {
                feed(c, &ss, pkt, now);
                av_packet_unref(pkt);
            }
        }
        if (r < 0) break; /* the stall flush above */
    }
    /* Whatever ended the session, what was received is recorded. */
    if (ss.holding && r != AVERROR(ENOMEM)) release_held(c, &ss, fr);
    drop_held(&ss);
fail:
    if (atomic_load(&c->stop)) {
        r = 0;
        goto out;
    }
    *reason = reason_for(c, r, playing, detail, detail_len);
out:
    ingest__session_end_run(c->cam);
    avcodec_parameters_free(&vpar);
    av_dict_free(&opts);
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    avformat_free_context(ic);
    return r;
}

/* Sleeps us or until a stop request. */
static void wait_or_stop(ffmpeg_transport *c, int64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (us % 1000000) * 1000;
    ts.tv_sec += (time_t)(us / 1000000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&c->lock);
    while (!atomic_load(&c->stop))
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&c->lock);
}

static void *camera_thread(void *arg)
{
    ffmpeg_transport *c = arg;
    char detail[AV_ERROR_MAX_STRING_SIZE + 32];
    while (!atomic_load(&c->stop)) {
        ingest_reason reason;
        ingest__session_connecting(c->cam);
        int r = session(c, &reason, detail, sizeof(detail));
        if (atomic_load(&c->stop) || r == 0) break;
        wait_or_stop(c, ingest__session_failed(c->cam, reason, detail));
    }
    ingest__session_ended(c->cam); /* closes the open segment: fsync, indexed */
    return NULL;
}

/* ---- the transport ---- */

static void transport_free(ffmpeg_transport *c)
{
    if (!c) return;
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c->url);
    free(c);
}

static int ffmpeg_start(ingest_camera *cam, const ingest_params *p, void **out)
{
    int r = 0;
    ffmpeg_transport *c = NULL;
    pthread_condattr_t ca;
    *out = NULL;
    if (!(c = calloc(1, sizeof(*c)))) return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->cam = cam;
    c->id = ingest__session_id(cam);
    c->url = url_with_credentials(p->camera->url, p->camera->username, p->camera->password);
    if (!c->url) {
        r = -ENOMEM;
        goto out;
    }
    c->tcp = p->camera->tcp;
    vg_log_cam(LOG_INFO, c->id, "starting (%s, %s)", p->camera->url, c->tcp ? "tcp" : "udp");
    r = pthread_create(&c->thread, NULL, camera_thread, c);
    if (r != 0) {
        r = -r;
        goto out;
    }
    c->thread_started = true;
    *out = c;
    c = NULL;
out:
    transport_free(c);
    return r;
}

static void ffmpeg_request_stop(void *t)
{
    ffmpeg_transport *c = t;
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    atomic_store(&c->stop, true);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void ffmpeg_stop(void *t)
{
    ffmpeg_transport *c = t;
    if (!c) return;
    ffmpeg_request_stop(c);
    if (c->thread_started) pthread_join(c->thread, NULL);
    transport_free(c);
}

const ingest_transport ingest__transport_ffmpeg = {
    .name = "ffmpeg",
    .start = ffmpeg_start,
    .request_stop = ffmpeg_request_stop,
    .stop = ffmpeg_stop,
};
