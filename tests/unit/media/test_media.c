/*
 * Unit tests of media/: the box parsers and the clip rewriter on a
 * hand-built fragmented MP4 (init + moofs of two tracks), and the scanner on
 * files made of them, whole and torn; the fragment and prft writers read
 * back by the same parsers. Clips end to end are exercised by
 * tests/integration/test_http_*.py and `vigilctl clip`; files the segmenter
 * writes by tests/unit/ingest/test_segmenter.c and the reconcile tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "media/media_internal.h"

#include <libavcodec/avcodec.h>

/* ---- a tiny box writer ---- */

typedef struct bw {
    uint8_t b[4096];
    size_t n;
} bw;

static void u8(bw *w, uint8_t v) { w->b[w->n++] = v; }
static void u32(bw *w, uint32_t v)
{
    u8(w, v >> 24), u8(w, v >> 16), u8(w, v >> 8), u8(w, v);
}
static void u64(bw *w, uint64_t v) { u32(w, v >> 32), u32(w, (uint32_t)v); }
static size_t open_box(bw *w, const char *t)
{
    size_t at = w->n;
    u32(w, 0);
    memcpy(w->b + w->n, t, 4);
    w->n += 4;
    return at;
}
static void close_box(bw *w, size_t at)
{
    uint32_t s = (uint32_t)(w->n - at);
    w->b[at] = s >> 24, w->b[at + 1] = s >> 16, w->b[at + 2] = s >> 8, w->b[at + 3] = s;
}
static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void trak(bw *w, uint32_t id, uint32_t ts, const char *handler)
{
    size_t t = open_box(w, "trak");
    size_t b = open_box(w, "tkhd");
    u32(w, 3), u32(w, 0), u32(w, 0), u32(w, id);
    for (int i = 0; i < 16; i++) u32(w, 0);
    close_box(w, b);
    size_t m = open_box(w, "mdia");
    b = open_box(w, "mdhd");
    u32(w, 0), u32(w, 0), u32(w, 0), u32(w, ts), u32(w, 0), u32(w, 0);
    close_box(w, b);
    b = open_box(w, "hdlr");
    u32(w, 0), u32(w, 0);
    memcpy(w->b + w->n, handler, 4), w->n += 4;
    u32(w, 0), u32(w, 0), u32(w, 0), u8(w, 0);
    close_box(w, b);
    size_t mi = open_box(w, "minf");
    size_t st = open_box(w, "stbl");
    b = open_box(w, "stsd");
    u32(w, 0), u32(w, 0);
    close_box(w, b);
    close_box(w, st);
    close_box(w, mi);
    close_box(w, m);
    close_box(w, t);
}

static void trex(bw *w, uint32_t id)
{
    size_t b = open_box(w, "trex");
    u32(w, 0), u32(w, id), u32(w, 1), u32(w, 0), u32(w, 0), u32(w, 0x10000);
    close_box(w, b);
}

/* ftyp + moov: video (id 1, 12800 Hz) and audio (id 2, 48000 Hz). */
static void make_init(bw *w)
{
    size_t b = open_box(w, "ftyp");
    memcpy(w->b + w->n, "isom", 4), w->n += 4;
    u32(w, 512);
    close_box(w, b);
    size_t moov = open_box(w, "moov");
    b = open_box(w, "mvhd");
    u32(w, 0), u32(w, 0), u32(w, 0), u32(w, 1000), u32(w, 0);
    for (int i = 0; i < 20; i++) u32(w, 0);
    close_box(w, b);
    trak(w, 1, 12800, "vide");
    trak(w, 2, 48000, "soun");
    size_t mvex = open_box(w, "mvex");
    trex(w, 1);
    trex(w, 2);
    close_box(w, mvex);
    close_box(w, moov);
}

/* One moof: video 4 samples (100,10,10,10 bytes, 512 ticks each, tfdt 1000),
 * audio 3 samples (20 bytes, 1024 ticks, tfdt 2000); then its mdat. */
static size_t make_moof(bw *w, uint32_t *vdofs_at, uint32_t *adofs_at)
{
    size_t moof = open_box(w, "moof");
    size_t b = open_box(w, "mfhd");
    u32(w, 0), u32(w, 7);
    close_box(w, b);
    size_t traf = open_box(w, "traf");
    b = open_box(w, "tfhd");
    u32(w, 0x020008), u32(w, 1), u32(w, 512);
    close_box(w, b);
    b = open_box(w, "tfdt");
    u32(w, 1u << 24), u64(w, 1000);
    close_box(w, b);
    b = open_box(w, "trun");
    u32(w, 0x205), u32(w, 4);
    *vdofs_at = (uint32_t)(w->n - moof);
    u32(w, 0), u32(w, 0); /* data offset, first sample flags */
    u32(w, 100), u32(w, 10), u32(w, 10), u32(w, 10);
    close_box(w, b);
    close_box(w, traf);
    traf = open_box(w, "traf");
    b = open_box(w, "tfhd");
    u32(w, 0x020008), u32(w, 2), u32(w, 1024);
    close_box(w, b);
    b = open_box(w, "tfdt");
    u32(w, 1u << 24), u64(w, 2000);
    close_box(w, b);
    b = open_box(w, "trun");
    u32(w, 0x201), u32(w, 3);
    *adofs_at = (uint32_t)(w->n - moof);
    u32(w, 0);
    u32(w, 20), u32(w, 20), u32(w, 20);
    close_box(w, b);
    close_box(w, traf);
    close_box(w, moof);
    size_t moof_len = w->n - moof;
    /* data offsets: video right after the mdat header, then audio */
    uint32_t v = (uint32_t)moof_len + 8, a = v + 130;
    uint8_t *p = w->b + moof + *vdofs_at;
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
    p = w->b + moof + *adofs_at;
    p[0] = a >> 24, p[1] = a >> 16, p[2] = a >> 8, p[3] = a;
    size_t mdat = open_box(w, "mdat");
    for (int i = 0; i < 190; i++) u8(w, (uint8_t)i);
    close_box(w, mdat);
    return moof;
}

static void test_init_and_moof(void **state)
{
    (void)state;
    bw w = {.n = 0};
    make_init(&w);
    media__init init;
    assert_int_equal(media__init_parse(w.b, w.n, &init), 0);
    assert_int_equal(init.ntracks, 2);
    assert_int_equal(init.video, 0);
    assert_int_equal(init.tracks[0].timescale, 12800);
    assert_int_equal(init.tracks[1].timescale, 48000);
    assert_int_equal(init.movie_timescale, 1000);

    uint32_t va, aa;
    size_t moof = make_moof(&w, &va, &aa);
    media__moof m;
    assert_int_equal(media__moof_parse(w.b + moof, w.n - moof, &init, &m), 0);
    assert_int_equal(m.ntruns, 2);
    assert_int_equal(m.dur[0], 2048);
    assert_int_equal(m.bytes[0], 130);
    assert_int_equal(m.dur[1], 3072);
    assert_int_equal(m.bytes[1], 60);
    assert_int_equal(m.tfdt[0], 1000);
    assert_int_equal(m.tfdt[1], 2000);

    /* Patch in place: sequence and tfdt shifts, size unchanged. */
    uint8_t copy[4096];
    memcpy(copy, w.b + moof, m.size);
    int64_t delta[MEDIA_MAX_TRACKS] = {-1000, 500};
    assert_int_equal(media__moof_patch(copy, &m, 42, delta), 0);
    media__moof m2;
    assert_int_equal(media__moof_parse(copy, m.size, &init, &m2), 0);
    assert_int_equal(m2.tfdt[0], 0);
    assert_int_equal(m2.tfdt[1], 2500);
    assert_int_equal(rd32(copy + m.seq_off), 42);
    int64_t bad[MEDIA_MAX_TRACKS] = {-1001, 0};
    assert_int_equal(media__moof_patch(copy, &m, 1, bad), -ERANGE);

    /* Cut: keep 2 video frames (dts < 2024) and 2 audio frames (dts < 4048). */
    uint64_t limit[MEDIA_MAX_TRACKS] = {2024, 4048, UINT64_MAX, UINT64_MAX};
    uint8_t *out = NULL;
    size_t out_len = 0;
    media__range r[MEDIA__MAX_TRUNS];
    int nr = 0;
    uint64_t kept[MEDIA_MAX_TRACKS];
    assert_int_equal(media__moof_cut(w.b + moof, &init, &m, limit, 3, delta, &out, &out_len, r, &nr,
                                     kept),
                     0);
    assert_int_equal(kept[0], 1024);
    assert_int_equal(kept[1], 2048);
    assert_int_equal(nr, 2);
    uint32_t ml = rd32(out);
    assert_int_equal(out_len, ml + 8);
    assert_memory_equal(out + ml + 4, "mdat", 4);
    assert_int_equal(rd32(out + ml), 8 + 110 + 40);
    assert_int_equal(r[0].off, m.truns[0].data_offset);
    assert_int_equal(r[0].len, 110);
    assert_int_equal(r[1].off, m.truns[1].data_offset);
    assert_int_equal(r[1].len, 40);
    media__moof mc;
    assert_int_equal(media__moof_parse(out, ml, &init, &mc), 0);
    assert_int_equal(mc.truns[0].count, 2);
    assert_int_equal(mc.truns[1].count, 2);
    assert_int_equal(mc.truns[0].data_offset, ml + 8);
    assert_int_equal(mc.truns[1].data_offset, ml + 8 + 110);
    assert_int_equal(mc.tfdt[0], 0);
    assert_int_equal(mc.tfdt[1], 2500);
    assert_int_equal(rd32(out + mc.seq_off), 3);
    free(out);

    /* Cutting every video sample away is refused (a fragment keeps its keyframe). */
    uint64_t none[MEDIA_MAX_TRACKS] = {1000, UINT64_MAX, UINT64_MAX, UINT64_MAX};
    assert_int_equal(media__moof_cut(w.b + moof, &init, &m, none, 3, delta, &out, &out_len, r, &nr,
                                     kept),
                     -EINVAL);

    /* The clip header: ftyp, moov with an mehd, a sidx of 2 fragments. */
    uint32_t sizes[2] = {1000, 2000}, durs[2] = {2048, 1024};
    uint8_t *head = NULL;
    size_t hl = 0;
    assert_int_equal(media__header_build(w.b, &init, 3072, sizes, durs, 2, &head, &hl), 0);
    media__init hi;
    assert_int_equal(media__init_parse(head, hl, &hi), 0);
    assert_int_equal(hi.sig, init.sig);
    assert_non_null(memmem(head, hl, "mehd", 4));
    uint8_t *sidx = memmem(head, hl, "sidx", 4);
    assert_non_null(sidx);
    assert_int_equal(rd32(sidx - 4), 12 + 4 + 4 + 8 + 8 + 4 + 2 * 12);
    assert_int_equal((size_t)(sidx - 4 - head) + rd32(sidx - 4), hl); /* sidx is last */
    free(head);
}

static void test_truncated_input(void **state)
{
    (void)state;
    bw w = {.n = 0};
    make_init(&w);
    media__init init;
    for (size_t n = 0; n < w.n; n += 7) assert_true(media__init_parse(w.b, n, &init) < 0);
    assert_int_equal(media__init_parse(w.b, w.n, &init), 0);
    uint32_t va, aa;
    size_t moof = make_moof(&w, &va, &aa);
    uint32_t ml = rd32(w.b + moof);
    media__moof m;
    for (size_t n = 0; n < ml; n += 5) assert_true(media__moof_parse(w.b + moof, n, &init, &m) < 0);
}

/* Writes buf to a temp file and scans it. */
static int scan_bytes(const uint8_t *buf, size_t len, media_scan *sc)
{
    char path[] = "/tmp/vigil-test-media-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    int r = media_scan_fd(fd, len, sc);
    close(fd);
    return r;
}

static void test_scan(void **state)
{
    (void)state;
    bw w = {.n = 0};
    make_init(&w);
    size_t init_end = w.n;
    uint32_t va, aa;
    size_t m1 = make_moof(&w, &va, &aa);
    size_t m2 = make_moof(&w, &va, &aa);
    size_t whole = w.n;
    media_scan sc;
    assert_int_equal(scan_bytes(w.b, w.n, &sc), 0);
    assert_int_equal(sc.init_end, init_end);
    assert_int_equal(sc.valid_end, whole);
    assert_int_equal(sc.timescale, 12800);
    assert_int_equal(sc.video_track, 1);
    assert_int_equal(sc.nfrags, 2);
    assert_int_equal(sc.frags[0].offset, m1);
    assert_int_equal(sc.frags[0].size, m2 - m1);
    assert_int_equal(sc.frags[1].offset, m2);
    assert_true(sc.frags[0].key); /* first-sample-flags 0: a sync sample */
    assert_int_equal(sc.frags[0].base_dt, 1000);
    assert_int_equal(sc.frags[0].dur, 2048);
    media_scan_free(&sc);

    /* Every torn tail is cut back to the last whole fragment. */
    size_t m3 = make_moof(&w, &va, &aa);
    for (size_t n = m3; n < w.n; n += 3) {
        assert_int_equal(scan_bytes(w.b, n, &sc), 0);
        assert_int_equal(sc.nfrags, 2);
        assert_int_equal(sc.valid_end, whole);
        media_scan_free(&sc);
    }
    assert_int_equal(scan_bytes(w.b, w.n, &sc), 0);
    assert_int_equal(sc.nfrags, 3);
    media_scan_free(&sc);

    /* A non-sync first sample (first-sample-flags: sample_is_non_sync_sample). */
    uint8_t *ff = w.b + m3 + va + 4;
    ff[1] = 0x01;
    assert_int_equal(scan_bytes(w.b, w.n, &sc), 0);
    assert_false(sc.frags[2].key);
    media_scan_free(&sc);

    /* Not ours: no moov, a moof before the moov, garbage. */
    assert_int_equal(scan_bytes(w.b + m1, w.n - m1, &sc), -EBADMSG);
    assert_int_equal(scan_bytes((const uint8_t *)"not an mp4 at all", 17, &sc), -EBADMSG);
    assert_int_equal(sc.nfrags, 0);
    assert_null(sc.frags);
}

/* The fragment writer (what the segmenter and live view write) read back by
 * the parser and the scanner: video with composition offsets, audio behind it. */
static void test_frag_writer(void **state)
{
    (void)state;
    bw w = {.n = 0};
    make_init(&w);
    media__init init;
    assert_int_equal(media__init_parse(w.b, w.n, &init), 0);
    size_t at = w.n;
    uint8_t *buf = w.b + at;
    assert_true(media_frag_max_size(2, 5) <= sizeof(w.b) - at);
    media_frag_writer fw;
    media_frag_begin(&fw, buf, 9);
    media_frag_traf(&fw, 1, 5000, 1, 0);
    media_frag_sample(&fw, 512, 100, MEDIA_SAMPLE_SYNC, 1024);
    media_frag_sample(&fw, 512, 10, MEDIA_SAMPLE_NON_SYNC, 0);
    media_frag_sample(&fw, 512, 10, MEDIA_SAMPLE_NON_SYNC, 512);
    media_frag_traf(&fw, 2, 7000, 0, 120);
    media_frag_sample(&fw, 1024, 20, MEDIA_SAMPLE_SYNC, 0);
    media_frag_sample(&fw, 1024, 20, MEDIA_SAMPLE_SYNC, 0);
    size_t hl = media_frag_end(&fw, 160);
    assert_true(hl <= media_frag_max_size(2, 5));
    uint32_t ml = rd32(buf);
    assert_int_equal(hl, ml + 8);
    assert_memory_equal(buf + ml + 4, "mdat", 4);
    assert_int_equal(rd32(buf + ml), 8 + 160);
    media__moof m;
    assert_int_equal(media__moof_parse(buf, ml, &init, &m), 0);
    assert_int_equal(rd32(buf + m.seq_off), 9);
    assert_int_equal(m.ntruns, 2);
    assert_true(m.key);
    assert_int_equal(m.tfdt[0], 5000);
    assert_int_equal(m.dur[0], 1536);
    assert_int_equal(m.bytes[0], 120);
    assert_int_equal(m.truns[0].count, 3);
    assert_int_equal(m.truns[0].data_offset, ml + 8);
    assert_int_equal(m.tfdt[1], 7000);
    assert_int_equal(m.dur[1], 2048);
    assert_int_equal(m.bytes[1], 40);
    assert_int_equal(m.truns[1].count, 2);
    assert_int_equal(m.truns[1].data_offset, ml + 8 + 120);
    /* composition offsets of the video trun, in order */
    const uint8_t *e = buf + m.truns[0].box_off + 20;
    assert_int_equal(rd32(e + 12), 1024);
    assert_int_equal(rd32(e + 16 + 12), 0);
    assert_int_equal(rd32(e + 32 + 12), 512);
    assert_int_equal(rd32(e + 16 + 8), MEDIA_SAMPLE_NON_SYNC);

    /* A single non-key frame of video only, as live view sends it. */
    media_frag_begin(&fw, buf, 10);
    media_frag_traf(&fw, 1, 6536, 1, 0);
    media_frag_sample(&fw, 512, 10, MEDIA_SAMPLE_NON_SYNC, 0);
    hl = media_frag_end(&fw, 10);
    assert_int_equal(media__moof_parse(buf, hl - 8, &init, &m), 0);
    assert_false(m.key);
    assert_int_equal(m.truns[0].count, 1);
    assert_false(m.has[1]);

    /* As a file: init, the fragment, its payload; the scanner lists it. */
    memset(buf + hl, 0, 10);
    w.n = at + hl + 10;
    media_scan sc;
    assert_int_equal(scan_bytes(w.b, w.n, &sc), 0);
    assert_int_equal(sc.nfrags, 1);
    assert_false(sc.frags[0].key);
    assert_int_equal(sc.frags[0].base_dt, 6536);
    assert_int_equal(sc.valid_end, w.n);
    media_scan_free(&sc);
}

static void test_prft(void **state)
{
    (void)state;
    assert_int_equal(media_ntp_from_us(0), UINT64_C(2208988800) << 32);
    assert_int_equal(media_ntp_from_us(1500000), ((UINT64_C(2208988801)) << 32) | 0x80000000u);
    assert_int_equal(media_ntp_from_us(-500000), ((UINT64_C(2208988799)) << 32) | 0x80000000u);
    uint8_t p[MEDIA_PRFT_SIZE + 4];
    memset(p, 0xee, sizeof(p));
    uint64_t ntp = media_ntp_from_us(1795000000123456);
    assert_int_equal(media_prft_write(p, 1, 0, ntp, UINT64_C(0x123456789a)), MEDIA_PRFT_SIZE);
    assert_int_equal(rd32(p), MEDIA_PRFT_SIZE);
    assert_memory_equal(p + 4, "prft", 4);
    assert_int_equal(rd32(p + 8), 1u << 24); /* version 1, flags 0 */
    assert_int_equal(rd32(p + 12), 1);
    assert_int_equal(((uint64_t)rd32(p + 16) << 32) | rd32(p + 20), ntp);
    assert_int_equal(((uint64_t)rd32(p + 24) << 32) | rd32(p + 28), UINT64_C(0x123456789a));
    assert_int_equal(p[MEDIA_PRFT_SIZE], 0xee); /* nothing past the box */
}

/* The init segment from libavformat (H.264 320x240, an avcC as the sources
 * give it) with a fragment from the writer: a file the scanner reads back
 * with the codec, size and timescale the init was built with. */
static void test_init_build(void **state)
{
    (void)state;
    static const uint8_t avcc[] = {
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9,
        0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03,
        0x20, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
        0xfd, 0xf8, 0xf8, 0x00};
    AVCodecParameters *par = avcodec_parameters_alloc();
    assert_non_null(par);
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = 320, par->height = 240;
    par->extradata = av_mallocz(sizeof(avcc) + AV_INPUT_BUFFER_PADDING_SIZE);
    assert_non_null(par->extradata);
    memcpy(par->extradata, avcc, sizeof(avcc));
    par->extradata_size = (int)sizeof(avcc);
    media_init_track v = {.par = par, .tb_num = 1, .tb_den = 90000};
    uint8_t *init = NULL;
    size_t init_len = 0;
    assert_int_equal(media_init_build(&v, NULL, &init, &init_len), 0);
    avcodec_parameters_free(&par);
    assert_int_equal(v.file_tb_num, 1);
    assert_true(v.file_tb_den > 0);
    media__init in;
    assert_int_equal(media__init_parse(init, init_len, &in), 0);
    assert_int_equal(in.ntracks, 1);
    assert_int_equal(in.tracks[0].id, 1);
    assert_int_equal(in.tracks[0].timescale, (uint32_t)v.file_tb_den);

    static uint8_t file[8192];
    assert_true(init_len < sizeof(file) / 2);
    memcpy(file, init, init_len);
    free(init);
    media_frag_writer fw;
    media_frag_begin(&fw, file + init_len, 1);
    media_frag_traf(&fw, 1, 0, 1, 0);
    media_frag_sample(&fw, 3000, 16, MEDIA_SAMPLE_SYNC, 0);
    media_frag_sample(&fw, 3000, 16, MEDIA_SAMPLE_NON_SYNC, 0);
    size_t hl = media_frag_end(&fw, 32);
    size_t len = init_len + hl + 32;
    media_scan sc;
    assert_int_equal(scan_bytes(file, len, &sc), 0);
    assert_string_equal(sc.codec, "h264");
    assert_int_equal(sc.width, 320);
    assert_int_equal(sc.height, 240);
    assert_int_equal(sc.timescale, (uint32_t)v.file_tb_den);
    assert_int_equal(sc.init_end, init_len);
    assert_int_equal(sc.nfrags, 1);
    assert_true(sc.frags[0].key);
    assert_int_equal(sc.frags[0].dur, 6000);
    assert_int_equal(sc.valid_end, len);
    media_scan_free(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_moof),
        cmocka_unit_test(test_truncated_input),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_frag_writer),
        cmocka_unit_test(test_prft),
        cmocka_unit_test(test_init_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
