/*
 * ingest/segmenter: real encoded streams (made with the ffmpeg CLI at test
 * time), decode times stripped, through the segmenter into a temp pool; every
 * file must probe, start with a keyframe, decode without a message, and last
 * what the index says (within 0.25 s); consecutive segments must be contiguous.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "fake_index.h"
#include "ingest/segmenter.h"
#include "storage/storage.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_US 1795000000000000LL
/* the segmenter's caps on what one camera makes it hold (segmenter.c) */
#define T_QUEUE_MAX_BYTES (6 * 1024 * 1024)
#define T_QUEUE_MAX_VIDEO 1024
#define T_QUEUE_MAX_AUDIO 2048

static char tmpdir[256];
static char pooldir[300];

static int setup(void **state)
{
    (void)state;
    fake_index_reset();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-test-seg-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(pooldir, sizeof(pooldir), "%s/pool", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    if (getenv("VIGIL_KEEP")) return 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs cmd, returns its output (stdout+stderr) in buf. */
static int run(const char *cmd, char *buf, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(buf, 1, len - 1, p);
    buf[n] = 0;
    return pclose(p);
}

static void make_sample(const char *path, const char *vcodec, int audio, int seconds)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=25 %s "
             "-t %d -c:v %s -g 50 -bf 2 %s %s -pix_fmt yuv420p %s 2>&1",
             audio ? "-f lavfi -i sine=sample_rate=48000" : "", seconds, vcodec,
             strcmp(vcodec, "libx265") == 0 ? "-x265-params log-level=error:keyint=50:bframes=3" : "",
             audio ? "-c:a aac -ac 1" : "", path);
    int rc = run(cmd, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "%s\n%s\n", cmd, out);
    assert_int_equal(rc, 0);
}

/* A demuxed stream in the segmenter's terms (extradata borrowed from par). */
static ingest_stream stream_of(const AVCodecParameters *par, AVRational tb)
{
    ingest_stream st = {.codec = INGEST_CODEC_OTHER, .name = avcodec_get_name(par->codec_id),
                        .extradata = par->extradata,
                        .extradata_len = par->extradata_size > 0 ? (size_t)par->extradata_size : 0,
                        .width = par->width, .height = par->height,
                        .sample_rate = par->sample_rate, .channels = par->ch_layout.nb_channels,
                        .frame_size = par->frame_size, .bit_rate = par->bit_rate,
                        .tb_num = tb.num, .tb_den = tb.den};
    if (par->codec_id == AV_CODEC_ID_H264) st.codec = INGEST_CODEC_H264;
    if (par->codec_id == AV_CODEC_ID_HEVC) st.codec = INGEST_CODEC_H265;
    if (par->codec_id == AV_CODEC_ID_AAC) st.codec = INGEST_CODEC_AAC;
    if (par->codec_id == AV_CODEC_ID_PCM_MULAW) st.codec = INGEST_CODEC_PCMU;
    if (par->codec_id == AV_CODEC_ID_PCM_ALAW) st.codec = INGEST_CODEC_PCMA;
    return st;
}

typedef struct feed_opts {
    int skip_first;         /* start feeding at this packet (possibly not a keyframe) */
    int64_t jump_at_us;     /* from this stream time on, pts jump by jump_by_us (0 = none) */
    int64_t jump_by_us;
    int split_slices;       /* keyframes (Annex B) arrive as one unit per slice, see below */
    int loops;              /* the file is fed this many times (0: once), times continuing */
    int stuck_pts;          /* every picture has the first one's pts (a broken camera) */
    int64_t audio_ahead_us; /* audio stamped this far ahead of the video */
    int overflow_expected;  /* else the segmenter's queue must never reach its cap */
    int64_t camera_clock_us; /* != 0: frames carry the camera's clock (RTCP SR), this far
                              * from the true capture time */
    /* out: the most the segmenter held after any frame */
    uint64_t max_queued_bytes, max_queued_frames, overflows;
} feed_opts;

/* Start of the Annex B NAL unit at or after p (its first header byte), end if none. */
static const uint8_t *next_nal(const uint8_t *p, const uint8_t *end)
{
    for (; end - p >= 3; p++)
        if (p[0] == 0 && p[1] == 0 && p[2] == 1) return p + 3;
    return end;
}

/*
 * Feeds a keyframe the way libavformat's H.264 parser hands out a picture whose
 * every slice follows its own copy of the parameter sets (rtph264pay's
 * config-interval=-1): one unit per slice, each after the SPS/PPS (VPS), the
 * first with the picture's pts, the others with invented ones a frame apart.
 */
static void write_split(ingest_segmenter *seg, const ingest_frame *f, bool hevc, int64_t frame)
{
    const uint8_t *end = f->data + f->size;
    const uint8_t *ps_start = NULL, *ps_end = NULL, *part = f->data;
    uint8_t *buf = malloc(2 * f->size + 64);
    int parts = 0;
    assert_non_null(buf);
    for (const uint8_t *n = next_nal(f->data, end); n < end;) {
        const uint8_t *next = next_nal(n, end);
        const uint8_t *n_start = n - 3 > f->data && n[-4] == 0 ? n - 4 : n - 3;
        int type = hevc ? (n[0] >> 1) & 0x3f : n[0] & 0x1f;
        bool ps = hevc ? type >= 32 && type <= 34 : type == 7 || type == 8;
        bool vcl = hevc ? type < 32 : type == 1 || type == 5;
        if (ps && !ps_start) ps_start = n_start;
        if (ps) ps_end = next < end ? (next[-4] == 0 ? next - 4 : next - 3) : end;
        bool first_slice = hevc ? (n[2] & 0x80) != 0 : (n[1] & 0x80) != 0;
        if (vcl && !first_slice) {
            /* the part so far, then this slice starts the next one */
            size_t len = 0;
            if (parts && ps_start) {
                memcpy(buf, ps_start, (size_t)(ps_end - ps_start));
                len = (size_t)(ps_end - ps_start);
            }
            memcpy(buf + len, part, (size_t)(n_start - part));
            len += (size_t)(n_start - part);
            ingest_frame p = *f;
            p.data = buf;
            p.size = len;
            p.pts = f->pts + parts * frame;
            assert_int_equal(ingest_segmenter_write(seg, &p), 0);
            parts++;
            part = n_start;
        }
        n = next;
    }
    size_t len = 0;
    if (parts && ps_start) {
        memcpy(buf, ps_start, (size_t)(ps_end - ps_start));
        len = (size_t)(ps_end - ps_start);
    }
    memcpy(buf + len, part, (size_t)(end - part));
    len += (size_t)(end - part);
    ingest_frame p = *f;
    p.data = buf;
    p.size = len;
    p.pts = f->pts + parts * frame;
    assert_int_equal(ingest_segmenter_write(seg, &p), 0);
    assert_true(parts >= 1); /* the sample has slices */
    free(buf);
}

/* Demuxes path and feeds its packets (pts only) through a segmenter. */
static void feed(const char *path, int segment_seconds, feed_opts *o)
{
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    ingest_segmenter *seg = NULL;
    storage *st = NULL;
    config cfg;
    config_pool pool = {.id = "main", .path = pooldir};
    memset(&cfg, 0, sizeof(cfg));
    cfg.pools = &pool;
    cfg.npools = 1;
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);

    assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(ic, NULL) >= 0);
    int vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int ai = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    assert_true(vi >= 0);
    ingest_segmenter_params sp = {.camera = "cam1", .segment_seconds = segment_seconds,
                                  .st = st, .idx = (index_db *)&fake_db};
    assert_int_equal(ingest_segmenter_open(&sp, &seg), 0);
    AVRational atb = ai >= 0 ? ic->streams[ai]->time_base : (AVRational){1, 1};
    ingest_stream vs = stream_of(ic->streams[vi]->codecpar, ic->streams[vi]->time_base), as;
    if (ai >= 0) as = stream_of(ic->streams[ai]->codecpar, atb);
    assert_int_equal(ingest_segmenter_start_run(seg, &vs, ai >= 0 ? &as : NULL), 0);
    int n = 0, loop = 0;
    int64_t loop_us = 0, last_us = 0, first_vpts = AV_NOPTS_VALUE, nvideo = 0;
    ingest_segmenter_stats stats;
    for (;;) {
        if (av_read_frame(ic, pkt) < 0) {
            if (++loop >= o->loops) break;
            /* again, continuing the timeline where the file ended */
            loop_us = last_us + 40000;
            assert_true(av_seek_frame(ic, -1, 0, AVSEEK_FLAG_BACKWARD) >= 0);
            continue;
        }
        if (pkt->stream_index != vi && pkt->stream_index != ai) goto next;
        if (n++ < o->skip_first) goto next;
        AVRational tb = ic->streams[pkt->stream_index]->time_base;
        int64_t pts_us = av_rescale_q(pkt->pts, tb, AV_TIME_BASE_Q) + loop_us;
        if (pts_us > last_us) last_us = pts_us;
        int64_t recv = BASE_US + pts_us + 20000;
        int64_t pts = pkt->pts + av_rescale_q(loop_us, AV_TIME_BASE_Q, tb);
        if (o->jump_by_us && pts_us >= o->jump_at_us)
            pts += av_rescale_q(o->jump_by_us, AV_TIME_BASE_Q, tb);
        if (pkt->stream_index == vi) {
            if (first_vpts == AV_NOPTS_VALUE) first_vpts = pts;
            if (o->stuck_pts) { /* the camera's clock stands still; ours does not */
                pts = first_vpts;
                recv = BASE_US + 40000 * nvideo + 20000;
            }
            nvideo++;
        } else if (o->audio_ahead_us) {
            pts += av_rescale_q(o->audio_ahead_us, AV_TIME_BASE_Q, tb);
        }
        pkt->dts = AV_NOPTS_VALUE; /* RTP gives pts only */
        ingest_frame f = {.audio = pkt->stream_index == ai, .data = pkt->data,
                          .size = (size_t)pkt->size, .pts = pts,
                          .key = !!(pkt->flags & AV_PKT_FLAG_KEY), .recv_us = recv};
        if (o->camera_clock_us) /* the capture time (before any jump), by the camera's clock */
            f.ntp_us = BASE_US + av_rescale_q(pkt->pts, tb, AV_TIME_BASE_Q) + loop_us +
                       o->camera_clock_us;
        if (o->split_slices && f.key && !f.audio)
            write_split(seg, &f, ic->streams[vi]->codecpar->codec_id == AV_CODEC_ID_HEVC,
                        av_rescale_q(40000, AV_TIME_BASE_Q, tb));
        else
            assert_int_equal(ingest_segmenter_write(seg, &f), 0);
        ingest_segmenter_get_stats(seg, &stats);
        if (stats.queued_bytes > o->max_queued_bytes) o->max_queued_bytes = stats.queued_bytes;
        if (stats.queued_frames > o->max_queued_frames) o->max_queued_frames = stats.queued_frames;
    next:
        av_packet_unref(pkt);
    }
    ingest_segmenter_get_stats(seg, &stats);
    assert_true(stats.frames_written > 0);
    o->overflows = stats.queue_overflows;
    if (!o->overflow_expected) assert_int_equal(stats.queue_overflows, 0);
    ingest_segmenter_close(&seg);
    avformat_close_input(&ic);
    av_packet_free(&pkt);
    storage_close(&st);
}

/* Checks every indexed segment's file with ffprobe/ffmpeg. */
static void check_segments(const char *want_codec, const char *want_tag, int want_audio)
{
    char cmd[2048], out[8192], file[1024];
    assert_true(fake_db.nsegs >= 1);
    assert_int_equal(fake_db.nfinished, fake_db.nsegs);
    /* Every closed segment got its activity: a byte per second it touches. */
    assert_int_equal(fake_db.nact, fake_db.nsegs);
    for (int i = 0; i < fake_db.nact; i++) {
        const index_segment *s = &fake_db.segs[fake_db.act_seg[i] - 1];
        int64_t first = s->start_us / 1000000, last = (s->end_us - 1) / 1000000;
        assert_int_equal(fake_db.act_n[i], (size_t)(last - first + 1));
    }
    for (int i = 0; i < fake_db.nsegs; i++) {
        const index_segment *s = &fake_db.segs[i];
        snprintf(file, sizeof(file), "%s/%s", pooldir, s->path);
        assert_int_equal(s->open, 0);
        assert_true(s->end_us > s->start_us);
        assert_string_equal(s->codec, want_codec);

        /* Decodes without a single message. */
        snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i '%s' -f null - 2>&1", file);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        if (out[0]) fprintf(stderr, "%s: %s\n", file, out);
        assert_string_equal(out, "");

        /* Starts with a keyframe. */
        snprintf(cmd, sizeof(cmd),
                 "ffprobe -v error -select_streams v:0 -show_entries frame=key_frame -of csv=p=0 "
                 "-read_intervals %%+#1 '%s' 2>&1", file);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_int_equal(out[0], '1');

        /* Streams, tag, and duration vs the index. */
        snprintf(cmd, sizeof(cmd),
                 "ffprobe -v error -show_entries stream=codec_name,codec_tag_string "
                 "-show_entries format=duration -of default=nw=1 '%s' 2>&1", file);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        char want[64];
        snprintf(want, sizeof(want), "codec_tag_string=%s", want_tag);
        if (!strstr(out, want)) fprintf(stderr, "%s\n", out);
        assert_non_null(strstr(out, want));
        assert_true((strstr(out, "codec_name=aac") != NULL) == want_audio);
        const char *d = strstr(out, "duration=");
        assert_non_null(d);
        double dur = atof(d + 9), idx = (double)(s->end_us - s->start_us) / 1e6;
        fprintf(stderr, "segment %d: %s indexed %.3f s, ffprobe %.3f s, %lld bytes, run %lld\n",
                i, s->path, idx, dur, (long long)s->bytes,
                (long long)(s->run_start_us - BASE_US));
        assert_true(fabs(dur - idx) <= 0.25);
        /* Contiguous with the previous segment of the same run. */
        if (i > 0 && fake_db.segs[i - 1].run_start_us == s->run_start_us)
            assert_int_equal(s->start_us, fake_db.segs[i - 1].end_us);
    }
    /* Fragments: offsets increasing, times contiguous within a segment. */
    for (int i = 1; i < fake_db.nfrags; i++) {
        if (fake_db.frag_seg[i] != fake_db.frag_seg[i - 1]) continue;
        assert_true(fake_db.frags[i].offset > fake_db.frags[i - 1].offset);
        assert_int_equal(fake_db.frags[i].start_us, fake_db.frags[i - 1].end_us);
    }
}

static void t_h264_mp4(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/in.mp4", tmpdir);
    make_sample(path, "libx264", 1, 12);
    feed_opts o = {0};
    feed(path, 4, &o);
    check_segments("h264", "avc1", 1);
    assert_true(fake_db.nsegs >= 2);
    assert_int_equal(fake_index_count_events("codec_change"), 0);
}

/* MPEG-TS carries Annex B like RTP does; start mid-GOP (frames before the
 * first keyframe are dropped). */
static void t_h264_ts_annexb(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/in.ts", tmpdir);
    make_sample(path, "libx264", 0, 10); /* AAC in TS is ADTS; RTP carries raw AAC */
    feed_opts o = {.skip_first = 7};
    feed(path, 3, &o);
    check_segments("h264", "avc1", 0);
    assert_true(fake_db.nsegs >= 2);
}

static void t_hevc(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/in.ts", tmpdir);
    make_sample(path, "libx265", 0, 8); /* open GOPs: leading pictures after each CRA */
    feed_opts o = {0};
    feed(path, 3, &o);
    check_segments("hevc", "hvc1", 0);
}

/* Video packets in a file (ffprobe -count_packets). */
static long count_video_packets(const char *file);

/* Pictures of four slices, each slice of a keyframe handed over as a unit of
 * its own behind repeated parameter sets (see write_split): every picture must
 * still be one sample, with its own time, and decode clean. */
static void split_slices(const char *enc, const char *params, const char *codec, const char *tag)
{
    char path[400], cmd[1200], out[4096], file[1024];
    snprintf(path, sizeof(path), "%s/slices.ts", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=25 -t 6 "
             "-c:v %s %s -g 25 -bf 2 -pix_fmt yuv420p '%s' 2>&1", enc, params, path);
    int rc = run(cmd, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "%s\n%s\n", cmd, out);
    assert_int_equal(rc, 0);
    long in_frames = count_video_packets(path);
    feed_opts o = {.split_slices = 1};
    feed(path, 2, &o);
    check_segments(codec, tag, 0);
    long total = 0;
    for (int i = 0; i < fake_db.nsegs; i++) {
        snprintf(file, sizeof(file), "%s/%s", pooldir, fake_db.segs[i].path);
        total += count_video_packets(file);
    }
    fprintf(stderr, "%s: %ld pictures in, %ld samples in %d segments\n", codec, in_frames, total,
            fake_db.nsegs);
    assert_true(fake_db.nsegs >= 2);
    assert_int_equal(total, in_frames);
}

static void t_h264_split_slices(void **state)
{
    (void)state;
    split_slices("libx264", "-x264-params slices=4", "h264", "avc1");
}

static void t_hevc_split_slices(void **state)
{
    (void)state;
    split_slices("libx265", "-x265-params log-level=error:slices=4:bframes=2:open-gop=0", "hevc", "hvc1");
}

/* A pts jump ends the run: a new segment with a new run start. */
static void t_jump(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/in.mp4", tmpdir);
    make_sample(path, "libx264", 1, 10);
    feed_opts o = {.jump_at_us = 5000000, .jump_by_us = 100000000, .camera_clock_us = -1500000};
    feed(path, 60, &o);
    check_segments("h264", "avc1", 1);
    assert_int_equal(fake_db.nsegs, 2);
    assert_true(fake_db.segs[1].run_start_us != fake_db.segs[0].run_start_us);
    /* Clock evidence: each run reported at its segment's open and close, the
     * second as begun by the jump; the camera's clock is 1.5 s behind the
     * capture time, and vigild's mapping is the receive time (20 ms after
     * capture): -1.52 s on every frame. */
    int seen[2] = {0, 0};
    for (int i = 0; i < fake_db.nclock; i++) {
        const index_clock_run *c = &fake_db.clock[i];
        int k = c->run_start_us == fake_db.segs[0].run_start_us ? 0 : 1;
        assert_true(k == 0 || c->run_start_us == fake_db.segs[1].run_start_us);
        assert_string_equal(c->camera, "cam1");
        assert_string_equal(c->cause, k == 0 ? "start" : "jump_forward");
        seen[k]++;
        if (c->ntp_samples == 0) continue; /* the open of the first segment may precede none */
        assert_true(c->ntp_offset_us == -1520000);
        assert_true(c->ntp_offset_min_us == -1520000 && c->ntp_offset_max_us == -1520000);
        assert_true(c->slew_us == 0);
    }
    assert_true(seen[0] >= 2 && seen[1] >= 2);
    const index_clock_run *last = &fake_db.clock[fake_db.nclock - 1];
    assert_true(last->ntp_samples > 0 && last->updated_us == fake_db.segs[1].end_us);
}

/* Video stops (a stalled camera) while audio goes on: the end of the video is
 * still written when the run ends. */
static void t_audio_outlasts_video(void **state)
{
    (void)state;
    char path[400], cmd[1024], out[4096];
    snprintf(path, sizeof(path), "%s/va.mp4", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=25:duration=7 "
             "-f lavfi -i sine=sample_rate=16000:duration=12 -c:v libx264 -g 50 -bf 0 "
             "-c:a aac -ac 1 -pix_fmt yuv420p %s 2>&1", path);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    feed_opts o = {0};
    feed(path, 60, &o);
    check_segments("h264", "avc1", 1);
    assert_int_equal(fake_db.nsegs, 1);
    int64_t d = fake_db.segs[0].end_us - fake_db.segs[0].start_us;
    assert_in_range(d, 6900000, 7100000);
}

/* ---- G.711 in, AAC out ---- */

typedef struct g711_opts {
    int64_t gap_at_us, gap_us;  /* audio packets in [gap_at, gap_at + gap) are lost */
    int seconds;
    enum AVCodecID codec;       /* 0: pcm_mulaw */
    int rate, channels;         /* 0: 8000, 1 */
} g711_opts;

/* G.711 packets of a 440 Hz sine: 20 ms each (160 samples at 8 kHz), pts in
 * 1/rate. */
static AVPacket **make_g711(const g711_opts *o, int *count)
{
    const AVCodec *c = avcodec_find_encoder(o->codec);
    AVCodecContext *enc = avcodec_alloc_context3(c);
    AVFrame *fr = av_frame_alloc();
    int n = (o->seconds + 2) * 50, spp = o->rate / 50, ch = o->channels;
    AVPacket **out = calloc((size_t)n, sizeof(*out));
    assert_non_null(enc);
    assert_non_null(fr);
    assert_non_null(out);
    enc->sample_fmt = AV_SAMPLE_FMT_S16;
    enc->sample_rate = o->rate;
    enc->time_base = (AVRational){1, o->rate};
    av_channel_layout_default(&enc->ch_layout, ch);
    assert_int_equal(avcodec_open2(enc, c, NULL), 0);
    for (int i = 0; i < n; i++) {
        fr->format = AV_SAMPLE_FMT_S16;
        fr->nb_samples = spp;
        fr->sample_rate = o->rate;
        av_channel_layout_default(&fr->ch_layout, ch);
        assert_int_equal(av_frame_get_buffer(fr, 0), 0);
        int16_t *d = (int16_t *)fr->data[0];
        for (int k = 0; k < spp * ch; k++)
            d[k] = (int16_t)(12000.0 * sin(2 * M_PI * 440.0 * (double)(i * spp + k / ch) /
                                           (double)o->rate));
        fr->pts = (int64_t)i * spp;
        assert_int_equal(avcodec_send_frame(enc, fr), 0);
        out[i] = av_packet_alloc();
        assert_non_null(out[i]);
        assert_int_equal(avcodec_receive_packet(enc, out[i]), 0);
        assert_int_equal(out[i]->size, spp * ch);
        out[i]->pts = (int64_t)i * spp;
        av_frame_unref(fr);
    }
    av_frame_free(&fr);
    avcodec_free_context(&enc);
    *count = n;
    return out;
}

/* Feeds the H.264 video of path with pcm_mulaw audio (a packet as soon as its
 * 20 ms have passed in video time), pts only. */
static void feed_g711(const char *path, int segment_seconds, const g711_opts *opts)
{
    g711_opts o1 = *opts, *o = &o1;
    if (!o->codec) o->codec = AV_CODEC_ID_PCM_MULAW;
    if (!o->rate) o->rate = 8000;
    if (!o->channels) o->channels = 1;
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVCodecParameters *apar = avcodec_parameters_alloc();
    ingest_segmenter *seg = NULL;
    storage *st = NULL;
    config cfg;
    config_pool pool = {.id = "main", .path = pooldir};
    int na = 0, ai = 0;
    AVPacket **audio = make_g711(o, &na);
    memset(&cfg, 0, sizeof(cfg));
    cfg.pools = &pool;
    cfg.npools = 1;
    assert_non_null(pkt);
    assert_non_null(apar);
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);
    assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(ic, NULL) >= 0);
    int vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    assert_true(vi >= 0);
    AVRational vtb = ic->streams[vi]->time_base;
    apar->codec_type = AVMEDIA_TYPE_AUDIO;
    apar->codec_id = o->codec;
    apar->sample_rate = o->rate;
    av_channel_layout_default(&apar->ch_layout, o->channels);

    ingest_segmenter_params sp = {.camera = "cam1", .segment_seconds = segment_seconds,
                                  .st = st, .idx = (index_db *)&fake_db};
    assert_int_equal(ingest_segmenter_open(&sp, &seg), 0);
    ingest_stream vs = stream_of(ic->streams[vi]->codecpar, vtb);
    ingest_stream as = stream_of(apar, (AVRational){1, o->rate});
    assert_int_equal(ingest_segmenter_start_run(seg, &vs, &as), 0);
    while (av_read_frame(ic, pkt) >= 0) {
        if (pkt->stream_index != vi) goto next;
        int64_t pts_us = av_rescale_q(pkt->pts, vtb, AV_TIME_BASE_Q);
        int64_t dts_us = av_rescale_q(pkt->dts, vtb, AV_TIME_BASE_Q);
        /* Audio that has been captured by the time this picture is sent. */
        while (ai < na && audio[ai]->pts * 1000000 / o->rate + 20000 <= dts_us + 40000) {
            int64_t a_us = audio[ai]->pts * 1000000 / o->rate;
            if (!(o->gap_us && a_us >= o->gap_at_us && a_us < o->gap_at_us + o->gap_us)) {
                ingest_frame af = {.audio = 1, .data = audio[ai]->data,
                                   .size = (size_t)audio[ai]->size,
                                   .pts = audio[ai]->pts, .recv_us = BASE_US + a_us + 40000};
                assert_int_equal(ingest_segmenter_write(seg, &af), 0);
            }
            ai++;
        }
        pkt->dts = AV_NOPTS_VALUE;
        ingest_frame f = {.audio = 0, .data = pkt->data, .size = (size_t)pkt->size,
                          .pts = pkt->pts, .key = !!(pkt->flags & AV_PKT_FLAG_KEY),
                          .recv_us = BASE_US + pts_us + 20000};
        assert_int_equal(ingest_segmenter_write(seg, &f), 0);
    next:
        av_packet_unref(pkt);
    }
    ingest_segmenter_close(&seg);
    for (int i = 0; i < na; i++) av_packet_free(&audio[i]);
    free(audio);
    avcodec_parameters_free(&apar);
    avformat_close_input(&ic);
    av_packet_free(&pkt);
    storage_close(&st);
}

/* The pts of a file's packets of one stream, in seconds, in file order. */
static int packet_pts(const char *file, const char *stream, double *pts, int max)
{
    char cmd[1200], line[256];
    int n = 0;
    snprintf(cmd, sizeof(cmd), "ffprobe -v error -select_streams %s -show_entries "
             "packet=pts_time -of csv=p=0 '%s' 2>&1", stream, file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p))
        if (n < max && sscanf(line, "%lf", &pts[n]) == 1) n++;
    assert_int_equal(pclose(p), 0);
    return n;
}

/* A stream's start time and duration (ffprobe; the track's own sample
 * durations, so a short last AAC frame counts as short). 0: no such stream. */
static int stream_span(const char *file, const char *stream, double *start, double *dur)
{
    char cmd[1200], out[1024];
    snprintf(cmd, sizeof(cmd), "ffprobe -v error -select_streams %s -show_entries "
             "stream=start_time,duration -of default=nw=1 '%s' 2>&1", stream, file);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    const char *a = strstr(out, "start_time="), *d = strstr(out, "duration=");
    if (!a || !d) return 0;
    *start = atof(a + 11);
    *dur = atof(d + 9);
    return 1;
}

/* Every file: AAC audio, as long as the video and in step with it, pts
 * strictly increasing. */
static void check_g711_segments(double *audio_total)
{
    enum { MAXP = 20000 };
    double *pts = malloc(MAXP * sizeof(double));
    char file[1024];
    assert_non_null(pts);
    *audio_total = 0;
    for (int i = 0; i < fake_db.nsegs; i++) {
        const index_segment *s = &fake_db.segs[i];
        double vs, vd, as, ad;
        snprintf(file, sizeof(file), "%s/%s", pooldir, s->path);
        assert_string_equal(s->audio_codec, "aac");
        assert_true(stream_span(file, "v:0", &vs, &vd));
        assert_true(stream_span(file, "a:0", &as, &ad));
        int na = packet_pts(file, "a:0", pts, MAXP);
        assert_true(na > 0);
        for (int k = 1; k < na; k++) assert_true(pts[k] > pts[k - 1]);
        fprintf(stderr, "segment %d: video %.3f..%.3f (%.3f s), audio %.3f..%.3f (%.3f s), "
                "%d AAC packets\n", i, vs, vs + vd, vd, as, as + ad, ad, na);
        assert_true(fabs(ad - vd) <= 0.1);
        assert_true(fabs((as + ad) - (vs + vd)) <= 0.1); /* ends together */
        *audio_total += ad;
    }
    free(pts);
}

static void t_g711_to_aac(void **state)
{
    (void)state;
    char path[400];
    double audio_total;
    snprintf(path, sizeof(path), "%s/v.mp4", tmpdir);
    make_sample(path, "libx264", 0, 13);
    g711_opts o = {.seconds = 13, .gap_at_us = 6000000, .gap_us = 300000};
    feed_g711(path, 4, &o);
    check_segments("h264", "avc1", 1);
    check_g711_segments(&audio_total);
    assert_true(fake_db.nsegs >= 3);
    assert_in_range((int64_t)(audio_total * 1000), 12500, 13100);
}

/* A-law, 16 kHz stereo: whatever the stream declares. */
static void t_g711_alaw_stereo(void **state)
{
    (void)state;
    char path[400], cmd[1200], out[1024];
    double audio_total;
    snprintf(path, sizeof(path), "%s/v.mp4", tmpdir);
    make_sample(path, "libx264", 0, 9);
    g711_opts o = {.seconds = 9, .codec = AV_CODEC_ID_PCM_ALAW, .rate = 16000, .channels = 2};
    feed_g711(path, 4, &o);
    check_segments("h264", "avc1", 1);
    check_g711_segments(&audio_total);
    snprintf(cmd, sizeof(cmd), "ffprobe -v error -select_streams a:0 -show_entries "
             "stream=sample_rate,channels -of csv=p=0 '%s/%s' 2>&1", pooldir, fake_db.segs[0].path);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    assert_string_equal(out, "16000,2\n");
}

/* Lost audio beyond a second: the AAC timeline restarts, files stay clean. */
static void t_g711_long_gap(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/v.mp4", tmpdir);
    make_sample(path, "libx264", 0, 10);
    g711_opts o = {.seconds = 10, .gap_at_us = 3000000, .gap_us = 2500000};
    feed_g711(path, 60, &o);
    check_segments("h264", "avc1", 1);
    assert_int_equal(fake_db.nsegs, 1);
    /* One file; the missing 2.5 s are not filled: the audio track lasts as
     * long as the video, its packets' pts jump over the gap. */
    const index_segment *s = &fake_db.segs[0];
    char file[1024];
    double *pts = malloc(4000 * sizeof(double)), as, ad, vs, vd;
    assert_non_null(pts);
    snprintf(file, sizeof(file), "%s/%s", pooldir, s->path);
    assert_true(stream_span(file, "v:0", &vs, &vd));
    assert_true(stream_span(file, "a:0", &as, &ad));
    int na = packet_pts(file, "a:0", pts, 4000);
    int jumps = 0;
    for (int k = 1; k < na; k++) {
        assert_true(pts[k] > pts[k - 1]);
        if (pts[k] - pts[k - 1] > 2.0) jumps++;
    }
    fprintf(stderr, "long gap: %d AAC packets, audio %.3f..%.3f, video %.3f..%.3f\n", na, as,
            as + ad, vs, vs + vd);
    assert_int_equal(jumps, 1);
    assert_true(na > 7 * 8000 / 1024 && na < 8 * 8000 / 1024 + 3);
    assert_true(fabs((as + ad) - (vs + vd)) <= 0.1);
    free(pts);
}

/* ---- high bitrate: fragments cut inside GOPs ----
 * A 720p noisy picture at ~9 Mbit/s with 1 s GOPs holds ~1.1 MB per GOP: the
 * segmenter cuts a fragment inside a GOP once it holds FRAG_BYTES (256 KiB) and
 * spans >= 0.4 s; the next keyframe always ends such a piece; segments still
 * rotate at keyframes (a bug once kept such streams in one segment forever). */

#define T_FRAG_BYTES (256 * 1024)

/* Video packets in a file (ffprobe -count_packets). */
static long count_video_packets(const char *file)
{
    char cmd[1200], out[256];
    snprintf(cmd, sizeof(cmd), "ffprobe -v error -count_packets -select_streams v:0 "
             "-show_entries stream=nb_read_packets -of csv=p=0 '%s' 2>&1", file);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    char *end = NULL;
    long n = strtol(out, &end, 10);
    if (end == out) fprintf(stderr, "%s: ffprobe said: %s\n", file, out);
    assert_true(end != out);
    return n;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Walks a segment file's top-level boxes: ftyp, moov, then moof+mdat pairs.
 * Each pair must be exactly one indexed fragment of segment id, in order. */
static int check_boxes(const char *file, int64_t id)
{
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    uint8_t *b = malloc((size_t)size);
    assert_non_null(b);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    int k = 0; /* next fragment of this segment in fake_db */
    int nmoof = 0;
    while (k < fake_db.nfrags && fake_db.frag_seg[k] != id) k++;
    uint64_t off = 0;
    char prev[5] = "";
    while (off < (uint64_t)size) {
        assert_true(off + 8 <= (uint64_t)size);
        uint64_t bsz = be(b + off, 4), hdr = 8;
        char type[5] = {(char)b[off + 4], (char)b[off + 5], (char)b[off + 6], (char)b[off + 7], 0};
        if (bsz == 1) {
            assert_true(off + 16 <= (uint64_t)size);
            bsz = be(b + off + 8, 8);
            hdr = 16;
        }
        assert_true(bsz >= hdr && off + bsz <= (uint64_t)size);
        if (off == 0) assert_string_equal(type, "ftyp");
        if (!strcmp(type, "moof")) {
            assert_true(!strcmp(prev, "moov") || !strcmp(prev, "mdat"));
            /* the index's fragment k: starts here, covers moof+mdat */
            assert_true(k < fake_db.nfrags);
            assert_int_equal(fake_db.frag_seg[k], id);
            assert_int_equal(fake_db.frags[k].offset, (int64_t)off);
            uint64_t o2 = off + bsz;
            assert_true(o2 + 8 <= (uint64_t)size);
            assert_memory_equal(b + o2 + 4, "mdat", 4);
            uint64_t msz = be(b + o2, 4);
            if (msz == 1) msz = be(b + o2 + 8, 8);
            assert_int_equal(fake_db.frags[k].size, (uint32_t)(bsz + msz));
            nmoof++;
            k++;
            while (k < fake_db.nfrags && fake_db.frag_seg[k] != id) k++;
        } else if (!strcmp(type, "mdat")) {
            assert_string_equal(prev, "moof");
        } else {
            assert_true(!strcmp(type, "ftyp") || !strcmp(type, "moov"));
        }
        memcpy(prev, type, 5);
        off += bsz;
    }
    assert_string_equal(prev, "mdat"); /* ends on a whole fragment */
    assert_true(k >= fake_db.nfrags); /* every indexed fragment is in the file */
    free(b);
    return nmoof;
}

/* Makes the 8 s high-bitrate clip (200 pictures, 8 GOPs, AAC) and feeds it in
 * 2 s segments; returns the input's picture count. */
static long high_bitrate_feed(void)
{
    char path[400], cmd[1200], out[4096];
    snprintf(path, sizeof(path), "%s/hb.mp4", tmpdir);
    /* ultrafast keeps this at ~2 s; b-adapt=0 forces the B-frames noise would avoid */
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi "
             "-i 'testsrc2=size=1280x720:rate=25,noise=alls=40:allf=t' "
             "-f lavfi -i sine=sample_rate=48000 -t 8 -c:v libx264 -preset ultrafast "
             "-b:v 9M -maxrate 9M -bufsize 9M -g 25 -bf 2 -x264-params b-adapt=0:scenecut=0 "
             "-pix_fmt yuv420p -c:a aac -ac 1 '%s' 2>&1", path);
    int rc = run(cmd, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "%s\n%s\n", cmd, out);
    assert_int_equal(rc, 0);
    long in_frames = count_video_packets(path);
    assert_int_equal(in_frames, 200);

    feed_opts o = {0};
    feed(path, 2, &o);
    return in_frames;
}

/*
 * A fragment cut inside a GOP by its size alone (FRAG_BYTES reached well after
 * MIN_CUT_US) lands on whatever picture crossed the size, a B-frame too. The
 * pictures after such a cut that display before the pictures before it must
 * keep their times: every picture's time unique, none moved, every segment
 * clean. 3 Mbit/s at 25 fps with 2 s GOPs reaches 256 KiB after ~0.7 s.
 */
static void cuts_inside_gop(const char *x264)
{
    char path[400], cmd[2048], out[4096], file[1024];
    snprintf(path, sizeof(path), "%s/mb.mp4", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi "
             "-i 'testsrc2=size=640x360:rate=25,noise=alls=30:allf=t' -t 8 -c:v libx264 "
             "-preset ultrafast -b:v 3M -maxrate 3M -bufsize 3M -g 50 -bf 3 -x264-params %s "
             "-pix_fmt yuv420p '%s' 2>&1", x264, path);
    int rc = run(cmd, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "%s\n%s\n", cmd, out);
    assert_int_equal(rc, 0);
    long in_frames = count_video_packets(path);
    feed_opts o = {0};
    feed(path, 2, &o);
    check_segments("h264", "avc1", 0);
    long total = 0;
    int mid = 0;
    for (int i = 0; i < fake_db.nsegs; i++) {
        snprintf(file, sizeof(file), "%s/%s", pooldir, fake_db.segs[i].path);
        total += count_video_packets(file);
        /* presentation times: each unique and a whole frame from its neighbours */
        snprintf(cmd, sizeof(cmd), "ffprobe -v error -select_streams v:0 -show_entries "
                 "packet=pts -of csv=p=0 '%s' | sort -n | uniq | awk 'NR > 1 && $1 - p != d "
                 "&& d {bad++} NR == 2 {d = $1 - p} {p = $1} END {print bad + 0}' 2>&1", file);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        if (atoi(out)) fprintf(stderr, "%s: %d pictures off the frame grid\n", file, atoi(out));
        assert_int_equal(atoi(out), 0);
    }
    for (int i = 1; i < fake_db.nfrags; i++)
        mid += fake_db.frag_seg[i] == fake_db.frag_seg[i - 1] && !(fake_db.frags[i].flags & 1);
    fprintf(stderr, "cut inside GOPs (%s): %ld pictures in, %ld out, %d segments, %d cuts inside\n",
            x264, in_frames, total, fake_db.nsegs, mid);
    assert_int_equal(total, in_frames);
    assert_true(mid >= 2);
}

static void t_cut_inside_gop_fixed_b(void **state)
{
    (void)state;
    cuts_inside_gop("b-adapt=0:scenecut=0");
}

static void t_cut_inside_gop_adaptive_b(void **state)
{
    (void)state;
    cuts_inside_gop("b-adapt=2:scenecut=0");
}

static void t_high_bitrate_cuts(void **state)
{
    (void)state;
    char file[1024];
    long in_frames = high_bitrate_feed();
    check_segments("h264", "avc1", 1);

    /* Rotation works at this bitrate: 8 s in 2 s segments. */
    fprintf(stderr, "high bitrate: %d segments, %d fragments\n", fake_db.nsegs, fake_db.nfrags);
    assert_true(fake_db.nsegs >= 3);

    long total = 0;
    int nmoof = 0;
    for (int i = 0; i < fake_db.nsegs; i++) {
        snprintf(file, sizeof(file), "%s/%s", pooldir, fake_db.segs[i].path);
        long n = count_video_packets(file);
        int m = check_boxes(file, fake_db.segs[i].id);
        fprintf(stderr, "segment %d: %ld pictures, %d fragments\n", i, n, m);
        total += n;
        nmoof += m;
    }
    /* Not a picture lost or doubled across the cuts and rotations. */
    assert_int_equal(total, in_frames);
    assert_int_equal(nmoof, fake_db.nfrags);

    /* Fragments: each segment's first starts with a keyframe; some start inside
     * a GOP; a piece that is ended by a cut inside a GOP held >= FRAG_BYTES. */
    int mid = 0, key = 0;
    for (int i = 0; i < fake_db.nfrags; i++) {
        const index_fragment *fr = &fake_db.frags[i];
        fprintf(stderr, "fragment %d: segment %lld, %s, %.3f..%.3f s, %u bytes\n", i,
                (long long)fake_db.frag_seg[i], fr->flags & 1 ? "key" : "mid",
                (double)(fr->start_us - BASE_US) / 1e6, (double)(fr->end_us - BASE_US) / 1e6,
                fr->size);
        bool first = i == 0 || fake_db.frag_seg[i] != fake_db.frag_seg[i - 1];
        if (first) assert_true(fr->flags & 1);
        if (fr->flags & 1) key++;
        else mid++;
        bool next_mid = i + 1 < fake_db.nfrags && fake_db.frag_seg[i + 1] == fake_db.frag_seg[i] &&
                        !(fake_db.frags[i + 1].flags & 1);
        if (next_mid) {
            if (fr->size < T_FRAG_BYTES || fr->end_us - fr->start_us < 300000)
                fprintf(stderr, "fragment %d: %u bytes, %lld us, cut inside a GOP\n", i, fr->size,
                        (long long)(fr->end_us - fr->start_us));
            assert_true(fr->size >= T_FRAG_BYTES);
            assert_true(fr->end_us - fr->start_us >= 300000); /* 0.4 s of pts, less reordering */
        }
    }
    fprintf(stderr, "high bitrate: %d key-started fragments, %d cut inside a GOP\n", key, mid);
    assert_true(mid >= 1);
    assert_true(fake_db.nfrags > 8); /* more fragments than the 8 GOPs */
}

/*
 * The first GOP of a segment after a rotation is cut at FRAG_BYTES like any
 * other (it once was not: maybe_cut() only cut inside a GOP while a segment was
 * open, and the next one opens at its first fragment). With this clip that was
 * one 1.1 MB, 1.0 s fragment at the start of each of segments 2..4. Only the
 * run's first fragment (clock settling) may be long.
 */
static void t_segment_first_gop_cut(void **state)
{
    (void)state;
    high_bitrate_feed();
    int bad = 0;
    for (int i = 1; i < fake_db.nfrags; i++) {
        const index_fragment *fr = &fake_db.frags[i];
        int64_t d = fr->end_us - fr->start_us;
        /* at ~9 Mbit/s a piece reaches FRAG_BYTES and 0.4 s together: cut by ~0.5 s */
        if (fr->size >= 2 * T_FRAG_BYTES && d >= 800000) {
            fprintf(stderr, "fragment %d (segment %lld, %s): %u bytes over %.3f s, not cut\n", i,
                    (long long)fake_db.frag_seg[i], fr->flags & 1 ? "key" : "mid", fr->size,
                    (double)d / 1e6);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/*
 * A camera whose timestamps never advance: every picture has the same pts.
 * No fragment can be cut by time, so the segmenter once queued all of it
 * (here 4000 pictures, ~140 MB) and a camera could exhaust memory. Now what
 * it holds stays under the cap (6 MiB, 1024 pictures), the run ends there
 * and a new one starts at the next keyframe, so the pictures still go to
 * disk, in files that start with a keyframe and play.
 */
static void t_stuck_timestamps(void **state)
{
    (void)state;
    char path[400], file[1024], cmd[1200], out[4096];
    snprintf(path, sizeof(path), "%s/stuck.mp4", tmpdir);
    /* noise: ~35 KB a picture, so the byte cap is reached in 7 s of pictures */
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y -f lavfi -i 'testsrc2=size=320x240:rate=25,"
             "noise=alls=30:allf=t' -t 8 -c:v libx264 -preset ultrafast -g 50 -bf 0 "
             "-pix_fmt yuv420p '%s' 2>&1", path);
    int rc = run(cmd, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "%s\n%s\n", cmd, out);
    assert_int_equal(rc, 0);
    feed_opts o = {.loops = 20, .stuck_pts = 1, .overflow_expected = 1};
    feed(path, 60, &o);
    fprintf(stderr, "stuck pts: held at most %llu bytes, %llu frames; %llu overflows, %d "
            "segments\n", (unsigned long long)o.max_queued_bytes,
            (unsigned long long)o.max_queued_frames, (unsigned long long)o.overflows,
            fake_db.nsegs);
    assert_true(o.overflows >= 2);
    assert_true(o.max_queued_frames <= T_QUEUE_MAX_VIDEO + 1);
    assert_true(o.max_queued_bytes <= T_QUEUE_MAX_BYTES + 256 * 1024);
    assert_true(fake_db.nsegs >= 2); /* a run ended, another started */
    long total = 0;
    for (int i = 0; i < fake_db.nsegs; i++) {
        snprintf(file, sizeof(file), "%s/%s", pooldir, fake_db.segs[i].path);
        snprintf(cmd, sizeof(cmd), "ffprobe -v error -select_streams v:0 -show_entries "
                 "packet=flags -of csv=p=0 '%s' | head -1", file);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_true(out[0] == 'K'); /* starts with a keyframe */
        total += count_video_packets(file);
    }
    assert_true(total >= T_QUEUE_MAX_VIDEO);
}

/*
 * Audio stamped an hour ahead of the video: no fragment's boundary ever
 * reaches it, so it was queued for good (at the end of the run dropped).
 * Now the oldest goes once the audio queue is full; the video is recorded
 * as always.
 */
static void t_audio_never_reached(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/ahead.mp4", tmpdir);
    make_sample(path, "libx264", 1, 10);
    feed_opts o = {.loops = 6, .audio_ahead_us = 3600LL * 1000000, .overflow_expected = 1};
    feed(path, 20, &o);
    fprintf(stderr, "audio ahead: held at most %llu bytes, %llu frames; %llu overflows\n",
            (unsigned long long)o.max_queued_bytes, (unsigned long long)o.max_queued_frames,
            (unsigned long long)o.overflows);
    assert_true(o.overflows >= 1);
    assert_true(o.max_queued_frames <= T_QUEUE_MAX_AUDIO + 64); /* + one GOP of pictures */
    check_segments("h264", "avc1", 1);
}

int main(void)
{
    vg_log_set_level(LOG_INFO);
    vg_log_capture_ffmpeg();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_h264_mp4, setup, teardown),
        cmocka_unit_test_setup_teardown(t_h264_ts_annexb, setup, teardown),
        cmocka_unit_test_setup_teardown(t_hevc, setup, teardown),
        cmocka_unit_test_setup_teardown(t_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(t_h264_split_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(t_hevc_split_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(t_audio_outlasts_video, setup, teardown),
        cmocka_unit_test_setup_teardown(t_g711_to_aac, setup, teardown),
        cmocka_unit_test_setup_teardown(t_g711_long_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(t_g711_alaw_stereo, setup, teardown),
        cmocka_unit_test_setup_teardown(t_high_bitrate_cuts, setup, teardown),
        cmocka_unit_test_setup_teardown(t_cut_inside_gop_fixed_b, setup, teardown),
        cmocka_unit_test_setup_teardown(t_cut_inside_gop_adaptive_b, setup, teardown),
        cmocka_unit_test_setup_teardown(t_segment_first_gop_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(t_stuck_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(t_audio_never_reached, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
