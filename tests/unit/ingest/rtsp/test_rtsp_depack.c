/*
 * Unit tests of the RTP depacketizers with hand-built packets: every H.264
 * and H.265 packetization (single, aggregate, fragment), access-unit ends on
 * the marker and on a timestamp change, parameter-set insertion before
 * keyframes, loss in the middle of a fragment (the unit is dropped, nothing
 * half-built comes out), the frame-size cap, AAC with several AUs per packet
 * and fragmented AUs, and G.711.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/rtsp/rtsp_internal.h"

typedef struct out_au {
    uint8_t data[4096];
    size_t len;
    uint32_t ts;
    int key, track;
} out_au;

typedef struct sink {
    out_au au[16];
    int n;
} sink;

static void on_au(void *opaque, int track, const uint8_t *data, size_t len, uint32_t ts, int key)
{
    sink *s = opaque;
    assert_true(s->n < 16);
    out_au *a = &s->au[s->n++];
    assert_true(len <= sizeof(a->data));
    memcpy(a->data, data, len);
    a->len = len;
    a->ts = ts;
    a->key = key;
    a->track = track;
}

static void push(rtsp_depack *d, uint32_t ts, int marker, const uint8_t *pl, size_t n, int lost)
{
    rtsp_rtp_hdr h = {.marker = marker, .pt = 96, .seq = 0, .ts = ts, .payload = pl, .payload_len = n};
    rtsp_depack_push(d, &h, lost);
}

static const uint8_t SC[4] = {0, 0, 0, 1};
static const uint8_t SPS264[] = {0x67, 0x42, 0xc0, 0x15, 0xda};
static const uint8_t PPS264[] = {0x68, 0xce, 0x3c, 0x80};
static const uint8_t IDR264[] = {0x65, 0x88, 0x84, 0x00, 0x33};
static const uint8_t P264[] = {0x41, 0x9a, 0x02, 0x03};

static void h264_init(rtsp_depack *d, sink *s, int with_sdp)
{
    rtsp_sdp_media m;
    memset(&m, 0, sizeof(m));
    m.codec = RTSP_CODEC_H264;
    m.clock_rate = 90000;
    if (with_sdp) {
        memcpy(m.sps, SPS264, sizeof(SPS264));
        m.sps_len = sizeof(SPS264);
        memcpy(m.pps, PPS264, sizeof(PPS264));
        m.pps_len = sizeof(PPS264);
    }
    memset(s, 0, sizeof(*s));
    assert_int_equal(rtsp_depack_init(d, &m, 0, on_au, s), 0);
}

/* Checks an Annex-B unit is exactly the given NALs. */
static void expect_nals(const out_au *a, const uint8_t *const *nals, const size_t *lens, int n)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        assert_true(off + 4 + lens[i] <= a->len);
        assert_memory_equal(a->data + off, SC, 4);
        assert_memory_equal(a->data + off + 4, nals[i], lens[i]);
        off += 4 + lens[i];
    }
    assert_int_equal(off, a->len);
}

static void test_h264_single_and_param_insertion(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    h264_init(&d, &s, 1);
    push(&d, 1000, 1, IDR264, sizeof(IDR264), 0);
    push(&d, 4000, 1, P264, sizeof(P264), 0);
    assert_int_equal(s.n, 2);
    const uint8_t *n0[] = {SPS264, PPS264, IDR264};
    size_t l0[] = {sizeof(SPS264), sizeof(PPS264), sizeof(IDR264)};
    expect_nals(&s.au[0], n0, l0, 3);
    assert_true(s.au[0].key);
    assert_int_equal(s.au[0].ts, 1000);
    const uint8_t *n1[] = {P264};
    size_t l1[] = {sizeof(P264)};
    expect_nals(&s.au[1], n1, l1, 1);
    assert_false(s.au[1].key);
    /* a marker lost: the timestamp change ends the unit */
    push(&d, 7000, 0, P264, sizeof(P264), 0);
    push(&d, 10000, 1, P264, sizeof(P264), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.au[2].ts, 7000);
    assert_int_equal(d.st.aus, 4);
    rtsp_depack_free(&d);
}

static void test_h264_stap_a(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    h264_init(&d, &s, 0);
    uint8_t p[64];
    size_t o = 0;
    p[o++] = 24 | 0x60;
    const uint8_t *nals[] = {SPS264, PPS264, IDR264};
    size_t lens[] = {sizeof(SPS264), sizeof(PPS264), sizeof(IDR264)};
    for (int i = 0; i < 3; i++) {
        p[o++] = 0;
        p[o++] = (uint8_t)lens[i];
        memcpy(p + o, nals[i], lens[i]);
        o += lens[i];
    }
    push(&d, 5, 1, p, o, 0);
    assert_int_equal(s.n, 1);
    expect_nals(&s.au[0], nals, lens, 3);
    assert_true(s.au[0].key);
    assert_int_equal(d.sps_len, sizeof(SPS264)); /* learnt in-band */
    assert_true(d.params_changed);
    /* a truncated aggregate damages the unit */
    p[2] = 200;
    push(&d, 6, 1, p, o, 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(d.st.dropped_aus, 1);
    rtsp_depack_free(&d);
}

static size_t fu_a(uint8_t *p, uint8_t nalhdr, int start, int end, const uint8_t *data, size_t n)
{
    p[0] = (uint8_t)((nalhdr & 0xe0) | 28);
    p[1] = (uint8_t)((start ? 0x80 : 0) | (end ? 0x40 : 0) | (nalhdr & 0x1f));
    memcpy(p + 2, data, n);
    return n + 2;
}

static void test_h264_fu_a_and_loss(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    h264_init(&d, &s, 1);
    uint8_t body[300], p[400];
    for (int i = 0; i < 300; i++)
        body[i] = (uint8_t)(i * 7 + 1);
    /* IDR in three fragments */
    push(&d, 100, 0, p, fu_a(p, 0x65, 1, 0, body, 100), 0);
    push(&d, 100, 0, p, fu_a(p, 0x65, 0, 0, body + 100, 100), 0);
    push(&d, 100, 1, p, fu_a(p, 0x65, 0, 1, body + 200, 100), 0);
    assert_int_equal(s.n, 1);
    uint8_t idr[301];
    idr[0] = 0x65;
    memcpy(idr + 1, body, 300);
    const uint8_t *n0[] = {SPS264, PPS264, idr};
    size_t l0[] = {sizeof(SPS264), sizeof(PPS264), 301};
    expect_nals(&s.au[0], n0, l0, 3);
    assert_true(s.au[0].key);

    /* loss of the middle fragment: the frame is dropped, the next one is fine */
    push(&d, 200, 0, p, fu_a(p, 0x41, 1, 0, body, 100), 0);
    push(&d, 200, 1, p, fu_a(p, 0x41, 0, 1, body + 200, 100), 1);
    push(&d, 300, 1, P264, sizeof(P264), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.au[1].ts, 300);
    assert_int_equal(d.st.dropped_aus, 1);

    /* a fragment without its start, then one whose end never comes */
    push(&d, 400, 1, p, fu_a(p, 0x41, 0, 1, body, 10), 0);
    push(&d, 500, 0, p, fu_a(p, 0x41, 1, 0, body, 10), 0);
    push(&d, 500, 1, P264, sizeof(P264), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(d.st.dropped_aus, 3);
    rtsp_depack_flush(&d);
    rtsp_depack_free(&d);
}

static void test_h264_overflow_and_length_prefix(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    h264_init(&d, &s, 0);
    d.max_frame = 150;
    uint8_t body[100], p[200];
    memset(body, 0x55, sizeof(body));
    push(&d, 1, 0, p, fu_a(p, 0x41, 1, 0, body, 100), 0);
    push(&d, 1, 1, p, fu_a(p, 0x41, 0, 1, body, 100), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(d.st.overflows, 1);
    assert_int_equal(d.st.dropped_aus, 1);
    d.length_prefixed = 1;
    push(&d, 2, 1, P264, sizeof(P264), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.au[0].len, 4 + sizeof(P264));
    assert_int_equal(s.au[0].data[3], sizeof(P264));
    assert_int_equal(s.au[0].data[0], 0);
    rtsp_depack_free(&d);
}

/* The consumer's buffer (rtsp_client_cbs.video_buffer): a unit is built in
 * it, handed out from it (no copy), and survives the buffer moving on every
 * grow (the old one is poisoned and freed: a stale pointer shows, under ASan
 * too). No parameter sets are inserted there (no room). */
typedef struct ext_sink {
    uint8_t *buf;
    size_t cap;
    int allocs, grows, units;
    size_t last_len;
    int last_in_place, last_key;
    uint8_t expect[200 * 1000 + 16];
    size_t expect_len;
} ext_sink;

static uint8_t *ext_alloc(void *opaque, int track, size_t keep, size_t need)
{
    ext_sink *e = opaque;
    assert_int_equal(track, 0);
    assert_true(keep <= need);
    uint8_t *nb = malloc(need);
    assert_non_null(nb);
    if (keep) {
        assert_true(keep <= e->cap);
        memcpy(nb, e->buf, keep);
        e->grows++;
    }
    if (e->buf) {
        memset(e->buf, 0xEE, e->cap);
        free(e->buf);
    }
    e->buf = nb;
    e->cap = need;
    e->allocs++;
    return nb;
}

static void ext_au(void *opaque, int track, const uint8_t *data, size_t len, uint32_t ts, int key)
{
    ext_sink *e = opaque;
    (void)track;
    (void)ts;
    e->units++;
    e->last_len = len;
    e->last_key = key;
    e->last_in_place = data == e->buf;
    assert_int_equal(len, e->expect_len);
    assert_memory_equal(data, e->expect, len);
}

static void test_h264_consumer_buffer(void **state)
{
    (void)state;
    rtsp_depack d;
    static ext_sink e;
    memset(&e, 0, sizeof(e));
    rtsp_sdp_media m;
    memset(&m, 0, sizeof(m));
    m.codec = RTSP_CODEC_H264;
    m.clock_rate = 90000;
    memcpy(m.sps, SPS264, sizeof(SPS264));
    m.sps_len = sizeof(SPS264);
    memcpy(m.pps, PPS264, sizeof(PPS264));
    m.pps_len = sizeof(PPS264);
    assert_int_equal(rtsp_depack_init(&d, &m, 0, ext_au, &e), 0);
    d.length_prefixed = 1;
    d.alloc = ext_alloc;
    d.alloc_opaque = &e;
    /* a 200 kB IDR in 1000-byte FU-A fragments: the buffer grows (and moves) */
    static uint8_t body[200 * 1000];
    for (size_t i = 0; i < sizeof(body); i++) body[i] = (uint8_t)(i * 13 + 5);
    size_t nal = 1 + sizeof(body);
    e.expect[0] = (uint8_t)(nal >> 24);
    e.expect[1] = (uint8_t)(nal >> 16);
    e.expect[2] = (uint8_t)(nal >> 8);
    e.expect[3] = (uint8_t)nal;
    e.expect[4] = 0x65;
    memcpy(e.expect + 5, body, sizeof(body));
    e.expect_len = 4 + nal;
    uint8_t p[1100];
    for (size_t o = 0; o < sizeof(body); o += 1000)
        push(&d, 100, o + 1000 >= sizeof(body), p,
             fu_a(p, 0x65, o == 0, o + 1000 >= sizeof(body), body + o, 1000), 0);
    assert_int_equal(e.units, 1);
    assert_true(e.last_in_place);
    assert_true(e.last_key);
    assert_true(e.grows >= 2);
    /* a unit dropped by loss leaves nothing behind; the next is fine */
    push(&d, 200, 0, p, fu_a(p, 0x41, 1, 0, body, 500), 0);
    push(&d, 200, 1, p, fu_a(p, 0x41, 0, 1, body + 500, 500), 1);
    assert_int_equal(e.units, 1);
    e.expect[0] = e.expect[1] = e.expect[2] = 0;
    e.expect[3] = sizeof(P264);
    memcpy(e.expect + 4, P264, sizeof(P264));
    e.expect_len = 4 + sizeof(P264);
    push(&d, 300, 1, P264, sizeof(P264), 0);
    assert_int_equal(e.units, 2);
    assert_true(e.last_in_place);
    /* the consumer declines (NULL at a unit's start): our own buffer, same bytes */
    d.alloc = NULL;
    push(&d, 400, 1, P264, sizeof(P264), 0);
    assert_int_equal(e.units, 3);
    assert_false(e.last_in_place);
    rtsp_depack_free(&d);
    free(e.buf);
}

static void test_h264_open_gop_i_slice(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    h264_init(&d, &s, 0);
    /* non-IDR slice: first_mb=0 (1), slice_type=7 (I, 0001000) => bits 1 0001000 */
    const uint8_t islice[] = {0x41, 0x88, 0x00, 0x10};
    uint8_t p[64];
    size_t o = 0;
    p[o++] = 24;
    p[o++] = 0;
    p[o++] = sizeof(SPS264);
    memcpy(p + o, SPS264, sizeof(SPS264));
    o += sizeof(SPS264);
    p[o++] = 0;
    p[o++] = sizeof(islice);
    memcpy(p + o, islice, sizeof(islice));
    o += sizeof(islice);
    push(&d, 1, 1, p, o, 0);
    assert_int_equal(s.n, 1);
    assert_true(s.au[0].key);
    rtsp_depack_free(&d);
}

/* ---------------- H.265 ---------------- */

static const uint8_t VPS265[] = {0x40, 0x01, 0x0c, 0x01};
static const uint8_t SPS265[] = {0x42, 0x01, 0x01, 0x04};
static const uint8_t PPS265[] = {0x44, 0x01, 0xc0, 0x70};
static const uint8_t IDR265[] = {0x26, 0x01, 0xaf, 0x01, 0x02}; /* IDR_W_RADL (19) */
static const uint8_t TRAIL265[] = {0x02, 0x01, 0xd0, 0x01};     /* TRAIL_R (1) */

static void h265_init(rtsp_depack *d, sink *s, int donl)
{
    rtsp_sdp_media m;
    memset(&m, 0, sizeof(m));
    m.codec = RTSP_CODEC_H265;
    memcpy(m.vps, VPS265, sizeof(VPS265));
    m.vps_len = sizeof(VPS265);
    memcpy(m.sps, SPS265, sizeof(SPS265));
    m.sps_len = sizeof(SPS265);
    memcpy(m.pps, PPS265, sizeof(PPS265));
    m.pps_len = sizeof(PPS265);
    m.sprop_max_don_diff = donl;
    memset(s, 0, sizeof(*s));
    assert_int_equal(rtsp_depack_init(d, &m, 1, on_au, s), 0);
}

static void test_h265_single_ap_fu(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    h265_init(&d, &s, 0);
    /* single IDR: parameter sets inserted from the SDP */
    push(&d, 10, 1, IDR265, sizeof(IDR265), 0);
    assert_int_equal(s.n, 1);
    const uint8_t *n0[] = {VPS265, SPS265, PPS265, IDR265};
    size_t l0[] = {4, 4, 4, sizeof(IDR265)};
    expect_nals(&s.au[0], n0, l0, 4);
    assert_true(s.au[0].key);
    assert_int_equal(s.au[0].track, 1);

    /* AP with VPS+SPS+PPS, then the IDR in an FU of two fragments */
    uint8_t p[128];
    size_t o = 0;
    p[o++] = 48 << 1;
    p[o++] = 1;
    const uint8_t *ps[] = {VPS265, SPS265, PPS265};
    for (int i = 0; i < 3; i++) {
        p[o++] = 0;
        p[o++] = 4;
        memcpy(p + o, ps[i], 4);
        o += 4;
    }
    push(&d, 20, 0, p, o, 0);
    uint8_t f[16] = {49 << 1, 1, 0x80 | 19, 0xaf, 0x01};
    push(&d, 20, 0, f, 5, 0);
    uint8_t f2[16] = {49 << 1, 1, 0x40 | 19, 0x02};
    push(&d, 20, 1, f2, 4, 0);
    assert_int_equal(s.n, 2);
    const uint8_t *n1[] = {VPS265, SPS265, PPS265, IDR265};
    expect_nals(&s.au[1], n1, l0, 4);
    assert_true(s.au[1].key);

    /* a trailing picture is not a keyframe; loss inside an FU drops it */
    push(&d, 30, 1, TRAIL265, sizeof(TRAIL265), 0);
    assert_int_equal(s.n, 3);
    assert_false(s.au[2].key);
    uint8_t g[8] = {49 << 1, 1, 0x80 | 1, 0xd0};
    push(&d, 40, 0, g, 4, 0);
    uint8_t g2[8] = {49 << 1, 1, 0x40 | 1, 0x01};
    push(&d, 40, 1, g2, 4, 2);
    assert_int_equal(s.n, 3);
    assert_int_equal(d.st.dropped_aus, 1);
    /* PACI and short packets are bad */
    uint8_t paci[4] = {50 << 1, 1, 0, 0};
    push(&d, 50, 1, paci, 4, 0);
    push(&d, 60, 1, paci, 1, 0);
    assert_int_equal(d.st.bad_packets, 2);
    rtsp_depack_free(&d);
}

static void test_h265_donl(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    h265_init(&d, &s, 2);
    uint8_t p[16] = {0x02, 0x01, 0x00, 0x05, 0xd0, 0x01}; /* TRAIL with DONL 5 */
    push(&d, 1, 1, p, 6, 0);
    assert_int_equal(s.n, 1);
    const uint8_t *n0[] = {TRAIL265};
    size_t l0[] = {sizeof(TRAIL265)};
    expect_nals(&s.au[0], n0, l0, 1);
    uint8_t f[16] = {49 << 1, 1, 0xC0 | 1, 0, 6, 0xd0, 0x01}; /* S+E FU with DONL */
    push(&d, 2, 1, f, 7, 0);
    assert_int_equal(s.n, 2);
    expect_nals(&s.au[1], n0, l0, 1);
    rtsp_depack_free(&d);
}

/* ---------------- AAC / G.711 ---------------- */

static void aac_init(rtsp_depack *d, sink *s)
{
    rtsp_sdp_media m;
    memset(&m, 0, sizeof(m));
    m.codec = RTSP_CODEC_AAC;
    m.clock_rate = 16000;
    m.sizelength = 13;
    m.indexlength = 3;
    m.indexdeltalength = 3;
    m.aac_hbr = 1;
    memset(s, 0, sizeof(*s));
    assert_int_equal(rtsp_depack_init(d, &m, 2, on_au, s), 0);
}

static void test_aac(void **state)
{
    (void)state;
    rtsp_depack d;
    sink s;
    aac_init(&d, &s);
    /* two AUs of 3 and 2 bytes: headers (13-bit size << 3) */
    uint8_t p[32] = {0, 32, 3 >> 5, (3 << 3) & 0xff, 0, 2 << 3, 0xA1, 0xA2, 0xA3, 0xB1, 0xB2};
    push(&d, 1000, 1, p, 11, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.au[0].len, 3);
    assert_int_equal(s.au[0].data[0], 0xA1);
    assert_int_equal(s.au[0].ts, 1000);
    assert_int_equal(s.au[1].len, 2);
    assert_int_equal(s.au[1].ts, 2024);
    assert_int_equal(s.au[1].track, 2);

    /* one AU of 6 bytes in two fragments */
    uint8_t f1[16] = {0, 16, 0, 6 << 3, 1, 2, 3};
    uint8_t f2[16] = {0, 16, 0, 6 << 3, 4, 5, 6};
    push(&d, 5000, 0, f1, 7, 0);
    assert_int_equal(s.n, 2);
    push(&d, 5000, 1, f2, 7, 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.au[2].len, 6);
    assert_memory_equal(s.au[2].data, "\x01\x02\x03\x04\x05\x06", 6);
    /* a lost second fragment: nothing comes out, the next AU does */
    push(&d, 6000, 0, f1, 7, 0);
    push(&d, 7000, 1, p, 11, 1);
    assert_int_equal(s.n, 5);
    assert_int_equal(d.st.dropped_aus, 1);
    /* headers longer than the packet, sizes past the data */
    uint8_t bad[4] = {0xff, 0xff, 0, 0};
    push(&d, 8000, 1, bad, 4, 0);
    uint8_t bad2[8] = {0, 16, 0xff, 0xf8, 1};
    push(&d, 9000, 1, bad2, 5, 0); /* 8191 bytes announced: starts a fragment */
    push(&d, 9001, 1, p, 11, 0);   /* new timestamp: the fragment is dropped */
    assert_int_equal(s.n, 7);
    assert_true(d.st.bad_packets >= 1);
    rtsp_depack_free(&d);
}

static void test_g711(void **state)
{
    (void)state;
    rtsp_sdp_media m;
    memset(&m, 0, sizeof(m));
    m.codec = RTSP_CODEC_PCMA;
    m.clock_rate = 8000;
    rtsp_depack d;
    sink s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(rtsp_depack_init(&d, &m, 3, on_au, &s), 0);
    uint8_t pl[160];
    memset(pl, 0xd5, sizeof(pl));
    push(&d, 160, 0, pl, sizeof(pl), 0);
    push(&d, 320, 0, pl, sizeof(pl), 3);
    push(&d, 480, 0, pl, 0, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.au[1].ts, 320);
    assert_int_equal(s.au[1].len, 160);
    rtsp_depack_free(&d);

    m.codec = RTSP_CODEC_UNKNOWN;
    assert_int_equal(rtsp_depack_init(&d, &m, 0, on_au, &s), -ENOTSUP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_single_and_param_insertion),
        cmocka_unit_test(test_h264_stap_a),
        cmocka_unit_test(test_h264_fu_a_and_loss),
        cmocka_unit_test(test_h264_overflow_and_length_prefix),
        cmocka_unit_test(test_h264_open_gop_i_slice),
        cmocka_unit_test(test_h264_consumer_buffer),
        cmocka_unit_test(test_h265_single_ap_fu),
        cmocka_unit_test(test_h265_donl),
        cmocka_unit_test(test_aac),
        cmocka_unit_test(test_g711),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
