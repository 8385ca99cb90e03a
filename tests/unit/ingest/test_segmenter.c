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

#include <libavformat/avformat.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_US 1795000000000000LL

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

typedef struct feed_opts {
    int skip_first;         /* start feeding at this packet (possibly not a keyframe) */
    int64_t jump_at_us;     /* from this stream time on, pts jump by jump_by_us (0 = none) */
    int64_t jump_by_us;
} feed_opts;

/* Demuxes path and feeds its packets (pts only) through a segmenter. */
static void feed(const char *path, int segment_seconds, const feed_opts *o)
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
    assert_int_equal(ingest_segmenter_start_run(seg, ic->streams[vi]->codecpar,
                                                ic->streams[vi]->time_base,
                                                ai >= 0 ? ic->streams[ai]->codecpar : NULL, atb),
                     0);
    int n = 0;
    while (av_read_frame(ic, pkt) >= 0) {
        if (pkt->stream_index != vi && pkt->stream_index != ai) goto next;
        if (n++ < o->skip_first) goto next;
        AVRational tb = ic->streams[pkt->stream_index]->time_base;
        int64_t pts_us = av_rescale_q(pkt->pts, tb, AV_TIME_BASE_Q);
        int64_t recv = BASE_US + pts_us + 20000;
        int64_t pts = pkt->pts;
        if (o->jump_by_us && pts_us >= o->jump_at_us)
            pts += av_rescale_q(o->jump_by_us, AV_TIME_BASE_Q, tb);
        pkt->dts = AV_NOPTS_VALUE; /* RTP gives pts only */
        ingest_frame f = {.audio = pkt->stream_index == ai, .data = pkt->data,
                          .size = (size_t)pkt->size, .pkt = pkt, .pts = pts,
                          .key = !!(pkt->flags & AV_PKT_FLAG_KEY), .recv_us = recv};
        assert_int_equal(ingest_segmenter_write(seg, &f), 0);
    next:
        av_packet_unref(pkt);
    }
    ingest_segmenter_stats stats;
    ingest_segmenter_get_stats(seg, &stats);
    assert_true(stats.frames_written > 0);
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

/* A pts jump ends the run: a new segment with a new run start. */
static void t_jump(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/in.mp4", tmpdir);
    make_sample(path, "libx264", 1, 10);
    feed_opts o = {.jump_at_us = 5000000, .jump_by_us = 100000000};
    feed(path, 60, &o);
    check_segments("h264", "avc1", 1);
    assert_int_equal(fake_db.nsegs, 2);
    assert_true(fake_db.segs[1].run_start_us != fake_db.segs[0].run_start_us);
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

int main(void)
{
    vg_log_set_level(LOG_INFO);
    vg_log_capture_ffmpeg();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_h264_mp4, setup, teardown),
        cmocka_unit_test_setup_teardown(t_h264_ts_annexb, setup, teardown),
        cmocka_unit_test_setup_teardown(t_hevc, setup, teardown),
        cmocka_unit_test_setup_teardown(t_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(t_audio_outlasts_video, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
