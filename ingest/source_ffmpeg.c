/*
 * Camera sessions through libavformat's RTSP demuxer: one thread per camera.
 *
 * The thread connects (credentials go into the URL, percent-encoded, and the
 * URL is never logged by us; FFmpeg's own lines pass the redacting logger),
 * probes briefly, picks the first H.264/H.265 video and AAC/G.711 audio
 * stream, and feeds every packet with its receive time to the segmenter. An
 * interrupt callback aborts any blocking call on a stop request or when no
 * video packet came for 10 s (a stall; audio alone records nothing). After a failure it waits with exponential
 * backoff (1 s doubling to 30 s, +-20 % jitter, back to 1 s after a run of at
 * least 30 s) on a condition variable, so a stop request ends the wait at once.
 *
 * Events: `online` when streams are set up, `offline` with the reason once
 * per outage (each retry is only logged).
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
#include "ingest/ingest.h"
#include "ingest/ingest_internal.h"

#include "common/common.h"
#include "ingest/segmenter.h"

#include <errno.h>
#include <libavformat/avformat.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STALL_US 10000000
#define BACKOFF_MIN_US 1000000
#define BACKOFF_MAX_US 30000000
#define BACKOFF_RESET_US 30000000
#define STATS_WINDOW_US 5000000
#define HOLD_LOOKAHEAD 4  /* timestamped video frames after an untimed first one */
#define HOLD_MAX 64       /* packets held at most meanwhile (audio too) */

struct ingest_ffmpeg {
    char id[INDEX_ID_MAX];
    char *url;      /* with credentials: never logged */
    bool tcp;
    char *pool;
    int segment_seconds;
    storage *st;
    index_db *idx;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* guards stats and the wait */
    pthread_cond_t cond;
    atomic_bool stop;
    atomic_bool stalled;          /* the interrupt fired because nothing came */
    atomic_int_fast64_t activity_mono_us;

    ingest_stats stats;           /* under lock */
    int64_t win_start_us;         /* fps/bitrate window (thread only) */
    uint64_t win_frames, win_bytes;
    unsigned rng;
};

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

/* ---- state and stats ---- */

static void set_state(ingest_ffmpeg *c, ingest_state s, const char *err)
{
    pthread_mutex_lock(&c->lock);
    c->stats.state = s;
    if (err) snprintf(c->stats.last_error, sizeof(c->stats.last_error), "%s", err);
    pthread_mutex_unlock(&c->lock);
}

static void event(ingest_ffmpeg *c, const char *type, const char *detail)
{
    if (c->idx) index_event_add(c->idx, vg_now_us(), c->id, type, detail);
}

static int interrupt_cb(void *opaque)
{
    ingest_ffmpeg *c = opaque;
    if (atomic_load(&c->stop)) return 1;
    if (vg_mono_us() - atomic_load(&c->activity_mono_us) > STALL_US) {
        atomic_store(&c->stalled, true);
        return 1;
    }
    return 0;
}

static void touch(ingest_ffmpeg *c)
{
    atomic_store(&c->activity_mono_us, vg_mono_us());
}

/* The offline reason for an error. */
static void reason_for(ingest_ffmpeg *c, int err, bool playing, char *out, size_t len)
{
    if (atomic_load(&c->stalled)) {
        snprintf(out, len, "%s", playing ? "stalled" : "unreachable");
    } else if (err == AVERROR_HTTP_UNAUTHORIZED || err == AVERROR_HTTP_FORBIDDEN) {
        snprintf(out, len, "auth_failed");
    } else if (err == AVERROR_HTTP_NOT_FOUND) {
        snprintf(out, len, "not_found");
    } else if (err == AVERROR(ETIMEDOUT)) {
        snprintf(out, len, "%s", playing ? "stalled" : "unreachable");
    } else if (err == AVERROR(ECONNREFUSED) || err == AVERROR(EHOSTUNREACH) ||
               err == AVERROR(ENETUNREACH) || err == AVERROR(EIO) || err == AVERROR_EOF ||
               err == AVERROR(ECONNRESET) || err == AVERROR(EPIPE) ||
               err == AVERROR(ECONNABORTED) || err == AVERROR(EHOSTDOWN) ||
               err == AVERROR(ENOTCONN)) {
        snprintf(out, len, "unreachable");
    } else {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(err, e, sizeof(e));
        snprintf(out, len, "error: %s", e);
    }
}

static void count_packet(ingest_ffmpeg *c, const AVPacket *pkt, bool video, int64_t now_us,
                         const ingest_segmenter *seg)
{
    ingest_segmenter_stats ss;
    ingest_segmenter_get_stats(seg, &ss);
    if (video) c->win_frames++;
    c->win_bytes += (uint64_t)pkt->size;
    pthread_mutex_lock(&c->lock);
    c->stats.frames_received++;
    c->stats.frames_written = ss.frames_written;
    c->stats.frames_dropped = ss.frames_dropped;
    c->stats.last_frame_us = now_us;
    int64_t dt = now_us - c->win_start_us;
    if (dt >= STATS_WINDOW_US) {
        c->stats.fps = (double)c->win_frames * 1e6 / (double)dt;
        c->stats.bitrate_bps = (int64_t)((double)c->win_bytes * 8e6 / (double)dt);
        c->win_start_us = now_us;
        c->win_frames = c->win_bytes = 0;
    }
    pthread_mutex_unlock(&c->lock);
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

/* A segmenter run with the session's streams as they are now. */
static int start_run(ingest_segmenter *seg, const sess *ss)
{
    ingest_stream v = stream_of(ss->vpar, ss->vtb), a;
    if (ss->apar) a = stream_of(ss->apar, ss->atb);
    return ingest_segmenter_start_run(seg, &v, ss->apar ? &a : NULL);
}

/* Feeds one packet of a recorded stream to the segmenter (and the stats). */
static void feed(ingest_ffmpeg *c, ingest_segmenter *seg, sess *ss, AVPacket *pkt,
                 int64_t recv_us)
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
            start_run(seg, ss);
        }
    }
    ingest_frame f = {.audio = !video, .data = pkt->data, .size = (size_t)pkt->size,
                      .pts = pkt->pts,
                      .key = video && (pkt->flags & AV_PKT_FLAG_KEY), .recv_us = recv_us};
    ingest_segmenter_write(seg, &f);
    count_packet(c, pkt, video, recv_us, seg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Gives the held first video frame its pts (see the top of the file), then
 * feeds everything held, in arrival order. */
static void release_held(ingest_ffmpeg *c, ingest_segmenter *seg, sess *ss, AVRational fps)
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
        feed(c, seg, ss, ss->hold[i], ss->hold_recv[i]);
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
 * error; *online is set once the streams were set up, *played_us to how long.
 */
static int session(ingest_ffmpeg *c, ingest_segmenter *seg, bool *online, int64_t *played_us,
                   char *reason, size_t reason_len)
{
    int r = 0;
    AVFormatContext *ic = NULL;
    AVDictionary *opts = NULL;
    AVPacket *pkt = NULL;
    AVCodecParameters *vpar = NULL;
    int64_t t_online = 0;
    bool playing = false;
    sess ss = {.vi = -1, .ai = -1};
    AVRational fr = {0, 1};
    *online = false;
    *played_us = 0;
    reason[0] = 0;
    atomic_store(&c->stalled, false);
    touch(c);

    if (!(ic = avformat_alloc_context()) || !(pkt = av_packet_alloc())) {
        r = AVERROR(ENOMEM);
        goto out;
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
        snprintf(reason, reason_len, "unsupported codec");
        r = AVERROR_PATCHWELCOME;
        goto out;
    }
    AVStream *vs = ic->streams[vi], *as = ai >= 0 ? ic->streams[ai] : NULL;
    if (!(vpar = avcodec_parameters_alloc()) || avcodec_parameters_copy(vpar, vs->codecpar) < 0) {
        r = AVERROR(ENOMEM);
        goto out;
    }
    ss.vi = vi;
    ss.ai = as ? ai : -1;
    ss.vpar = vpar;
    ss.vtb = vs->time_base;
    ss.apar = as ? as->codecpar : NULL;
    ss.atb = as ? as->time_base : (AVRational){1, 1};
    r = start_run(seg, &ss);
    if (r < 0) goto fail;

    fr = vs->avg_frame_rate.num ? vs->avg_frame_rate : vs->r_frame_rate;
    char detail[160];
    snprintf(detail, sizeof(detail), "%s %dx%d %.4gfps%s%s", avcodec_get_name(vpar->codec_id),
             vpar->width, vpar->height, fr.den ? av_q2d(fr) : 0.0, as ? " +" : "",
             as ? avcodec_get_name(as->codecpar->codec_id) : "");
    vg_log_cam(LOG_NOTICE, c->id, "online: %s (%s)", detail, c->tcp ? "tcp" : "udp");
    event(c, "online", detail);
    *online = true;
    t_online = vg_mono_us();
    pthread_mutex_lock(&c->lock);
    c->stats.state = INGEST_RECORDING;
    snprintf(c->stats.codec, sizeof(c->stats.codec), "%s", avcodec_get_name(vpar->codec_id));
    snprintf(c->stats.audio_codec, sizeof(c->stats.audio_codec), "%s",
             as ? avcodec_get_name(as->codecpar->codec_id) : "");
    c->stats.width = vpar->width;
    c->stats.height = vpar->height;
    c->stats.last_error[0] = 0;
    pthread_mutex_unlock(&c->lock);
    c->win_start_us = vg_now_us();
    c->win_frames = c->win_bytes = 0;

    playing = true;
    touch(c);
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
            bool flushed = vg_mono_us() - atomic_load(&c->activity_mono_us) > STALL_US / 2;
            if (flushed && last_video_recv) now = last_video_recv;
            if (flushed && !atomic_load(&c->stop)) {
                atomic_store(&c->stalled, true);
                r = AVERROR(ETIMEDOUT);
            }
            if (!flushed) touch(c); /* audio alone does not keep a recording alive */
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
                    release_held(c, seg, &ss, fr);
            } else {
                feed(c, seg, &ss, pkt, now);
                av_packet_unref(pkt);
            }
        }
        if (r < 0) break; /* the stall flush above */
    }
    /* Whatever ended the session, what was received is recorded. */
    if (ss.holding && r != AVERROR(ENOMEM)) release_held(c, seg, &ss, fr);
    drop_held(&ss);
    *played_us = vg_mono_us() - t_online;
    if (atomic_load(&c->stop)) {
        r = 0;
        goto out;
    }
fail:
    if (atomic_load(&c->stop)) {
        r = 0;
        goto out;
    }
    if (!reason[0]) reason_for(c, r, playing, reason, reason_len);
out:
    if (*online && t_online && !*played_us) *played_us = vg_mono_us() - t_online;
    ingest_segmenter_end_run(seg);
    avcodec_parameters_free(&vpar);
    av_dict_free(&opts);
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    avformat_free_context(ic);
    return r;
}

/* Sleeps us or until a stop request. */
static void wait_or_stop(ingest_ffmpeg *c, int64_t us)
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
    ingest_ffmpeg *c = arg;
    ingest_segmenter *seg = NULL;
    ingest_segmenter_params sp = {.camera = c->id, .pool = c->pool,
                                  .segment_seconds = c->segment_seconds, .st = c->st,
                                  .idx = c->idx};
    int64_t backoff = BACKOFF_MIN_US;
    bool offline_reported = false;
    char reason[160];
    if (ingest_segmenter_open(&sp, &seg) < 0) {
        vg_log_cam(LOG_ERR, c->id, "cannot create the segmenter");
        set_state(c, INGEST_OFFLINE, "error: out of memory");
        goto out;
    }
    while (!atomic_load(&c->stop)) {
        bool online = false;
        int64_t played = 0;
        set_state(c, INGEST_CONNECTING, NULL);
        int r = session(c, seg, &online, &played, reason, sizeof(reason));
        if (atomic_load(&c->stop) || r == 0) break;
        if (online) offline_reported = false;
        if (played >= BACKOFF_RESET_US) backoff = BACKOFF_MIN_US;
        set_state(c, INGEST_OFFLINE, reason);
        if (!offline_reported) {
            vg_log_cam(LOG_WARNING, c->id, "offline: %s", reason);
            event(c, "offline", reason);
            offline_reported = true;
        }
        /* +-20 % jitter */
        c->rng = c->rng * 1103515245u + 12345u;
        double j = 0.8 + 0.4 * (double)((c->rng >> 8) % 10001) / 10000.0;
        int64_t delay = (int64_t)((double)backoff * j);
        vg_log_cam(LOG_INFO, c->id, "connection failed (%s); retrying in %.1f s", reason,
                   (double)delay / 1e6);
        wait_or_stop(c, delay);
        backoff = backoff * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : backoff * 2;
        pthread_mutex_lock(&c->lock);
        c->stats.reconnects++;
        pthread_mutex_unlock(&c->lock);
    }
out:
    ingest_segmenter_close(&seg); /* closes the open segment: fsync, indexed */
    set_state(c, INGEST_OFFLINE, NULL);
    return NULL;
}

/* ---- public ---- */

static void camera_free(ingest_ffmpeg *c)
{
    if (!c) return;
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c->url);
    free(c->pool);
    free(c);
}

int ingest__ffmpeg_start(const ingest_params *p, ingest_ffmpeg **out)
{
    int r = 0;
    ingest_ffmpeg *c = NULL;
    pthread_condattr_t ca;
    *out = NULL;
    if (!p->camera || !p->camera->id || !p->camera->url) return -EINVAL;
    if (!(c = calloc(1, sizeof(*c)))) return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(c->id, sizeof(c->id), "%s", p->camera->id);
    c->url = url_with_credentials(p->camera->url, p->camera->username, p->camera->password);
    c->pool = p->pool ? strdup(p->pool) : NULL;
    if (!c->url || (p->pool && !c->pool)) {
        r = -ENOMEM;
        goto out;
    }
    if (p->camera->password) vg_log_add_secret(p->camera->password);
    c->tcp = p->camera->tcp;
    c->segment_seconds = p->segment_seconds;
    c->st = p->st;
    c->idx = p->idx;
    c->stats.state = INGEST_CONNECTING;
    c->rng = (unsigned)vg_now_us() ^ (unsigned)(uintptr_t)c;
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
    camera_free(c);
    return r;
}

void ingest__ffmpeg_request_stop(ingest_ffmpeg *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    atomic_store(&c->stop, true);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void ingest__ffmpeg_stop(ingest_ffmpeg **cp)
{
    if (!cp || !*cp) return;
    ingest_ffmpeg *c = *cp;
    ingest__ffmpeg_request_stop(c);
    if (c->thread_started) pthread_join(c->thread, NULL);
    camera_free(c);
    *cp = NULL;
}

void ingest__ffmpeg_get_stats(ingest_ffmpeg *c, ingest_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}
