/*
 * Unit tests of the native RTSP client's parsers: RTSP messages and the
 * interleaved demux, header values, URLs, SDP (samples captured from
 * GStreamer's rtsp-server and FFmpeg's RTP muxer, in data/), authentication
 * (RFC 2617's own example), RTP/RTCP, sequence tracking and the reorder window.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/rtsp/rtsp_internal.h"

static char *read_data(const char *name, size_t *len)
{
    const char *src = getenv("VIGIL_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/unit/ingest/rtsp/data/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(128 * 1024);
    assert_non_null(buf);
    *len = fread(buf, 1, 128 * 1024 - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* ---------------- RTSP messages ---------------- */

static void test_msg_response(void **state)
{
    (void)state;
    size_t len;
    char *buf = read_data("gst_describe_response.txt", &len);
    rtsp_msg m;
    int r = rtsp_msg_parse((const uint8_t *)buf, len, &m);
    assert_int_equal(r, (int)len);
    assert_true(m.is_response);
    assert_int_equal(m.status, 200);
    assert_int_equal(m.cseq, 2);
    assert_int_equal(m.body_len, 834);
    char base[256];
    assert_int_equal(rtsp_msg_header_str(&m, "content-base", base, sizeof(base)), 0);
    assert_string_equal(base, "rtsp://127.0.0.1:18601/h264aac/");
    assert_int_equal(rtsp_msg_header_str(&m, "X-None", base, sizeof(base)), -ENOENT);
    /* every prefix is incomplete, never an error */
    for (size_t i = 0; i < len; i++)
        assert_int_equal(rtsp_msg_parse((const uint8_t *)buf, i, &m), -EAGAIN);
    free(buf);
}

static void test_msg_request_and_folding(void **state)
{
    (void)state;
    const char *s = "GET_PARAMETER rtsp://h/x RTSP/1.0\r\nCSeq: 7\r\nX-A: one\r\n  two\r\n\r\n";
    rtsp_msg m;
    assert_int_equal(rtsp_msg_parse((const uint8_t *)s, strlen(s), &m), (int)strlen(s));
    assert_false(m.is_response);
    assert_int_equal(m.method_len, 13);
    assert_int_equal(m.cseq, 7);
    const rtsp_header *h = rtsp_msg_header(&m, "x-a");
    assert_non_null(h);
    assert_true(h->value_len > 3 && memcmp(h->value + h->value_len - 3, "two", 3) == 0);
    /* bare LF line ends are accepted */
    const char *lf = "RTSP/1.0 404 Not Found\nCSeq: 3\n\n";
    assert_int_equal(rtsp_msg_parse((const uint8_t *)lf, strlen(lf), &m), (int)strlen(lf));
    assert_int_equal(m.status, 404);
}

static void test_msg_caps_and_errors(void **state)
{
    (void)state;
    rtsp_msg m;
    size_t n = 200 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    /* a header line over 8 KiB */
    int o = sprintf(big, "RTSP/1.0 200 OK\r\nX: ");
    memset(big + o, 'a', RTSP_MAX_LINE + 10);
    assert_int_equal(rtsp_msg_parse((uint8_t *)big, (size_t)o + RTSP_MAX_LINE + 10, &m), -E2BIG);
    /* a header block over 64 KiB made of short lines */
    o = sprintf(big, "RTSP/1.0 200 OK\r\n");
    while ((size_t)o < RTSP_MAX_HEADER_BYTES + 1000)
        o += sprintf(big + o, "X-Pad: 0123456789\r\n");
    assert_int_equal(rtsp_msg_parse((uint8_t *)big, (size_t)o, &m), -E2BIG);
    free(big);
    const char *cl = "RTSP/1.0 200 OK\r\nContent-Length: 999999999\r\n\r\n";
    assert_int_equal(rtsp_msg_parse((const uint8_t *)cl, strlen(cl), &m), -E2BIG);
    const char *bad = "RTSP/1.0 2x0 OK\r\n\r\n";
    assert_int_equal(rtsp_msg_parse((const uint8_t *)bad, strlen(bad), &m), -EBADMSG);
    const char *nocolon = "RTSP/1.0 200 OK\r\nBroken\r\n\r\n";
    assert_int_equal(rtsp_msg_parse((const uint8_t *)nocolon, strlen(nocolon), &m), -EBADMSG);
    const char *badcl = "RTSP/1.0 200 OK\r\nContent-Length: -5\r\n\r\n";
    assert_int_equal(rtsp_msg_parse((const uint8_t *)badcl, strlen(badcl), &m), -EBADMSG);
}

static void test_demux(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = 0;
    const char *resp = "RTSP/1.0 200 OK\r\nCSeq: 4\r\n\r\n";
    buf[n++] = 'x'; /* garbage */
    buf[n++] = 'y';
    buf[n++] = '$';
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = 3;
    buf[n++] = 1;
    buf[n++] = 2;
    buf[n++] = 3;
    memcpy(buf + n, resp, strlen(resp));
    n += strlen(resp);
    buf[n++] = '$';
    buf[n++] = 1;
    buf[n++] = 0;
    buf[n++] = 0;

    rtsp_item it;
    size_t off = 0;
    int r = rtsp_demux_next(buf, n, &it);
    assert_int_equal(r, 2);
    assert_int_equal(it.type, RTSP_ITEM_SKIP);
    off += (size_t)r;
    /* a partial '$' frame waits */
    assert_int_equal(rtsp_demux_next(buf + off, 5, &it), -EAGAIN);
    r = rtsp_demux_next(buf + off, n - off, &it);
    assert_int_equal(r, 7);
    assert_int_equal(it.type, RTSP_ITEM_INTERLEAVED);
    assert_int_equal(it.channel, 0);
    assert_int_equal(it.len, 3);
    off += (size_t)r;
    assert_int_equal(rtsp_demux_next(buf + off, 3, &it), -EAGAIN); /* "RTS" */
    r = rtsp_demux_next(buf + off, n - off, &it);
    assert_int_equal(r, (int)strlen(resp));
    assert_int_equal(it.type, RTSP_ITEM_MESSAGE);
    assert_int_equal(it.msg.cseq, 4);
    off += (size_t)r;
    r = rtsp_demux_next(buf + off, n - off, &it);
    assert_int_equal(r, 4);
    assert_int_equal(it.channel, 1);
    assert_int_equal(it.len, 0);
}

static void test_header_values(void **state)
{
    (void)state;
    char id[64];
    int to = 0;
    const char *s = "66334873;timeout=30";
    assert_int_equal(rtsp_parse_session(s, strlen(s), id, sizeof(id), &to), 0);
    assert_string_equal(id, "66334873");
    assert_int_equal(to, 30);
    s = "abc";
    assert_int_equal(rtsp_parse_session(s, strlen(s), id, sizeof(id), &to), 0);
    assert_int_equal(to, 60);

    rtsp_transport t;
    s = "RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=1A2B3C4D;mode=\"PLAY\"";
    assert_int_equal(rtsp_parse_transport(s, strlen(s), &t), 0);
    assert_true(t.tcp);
    assert_int_equal(t.interleaved[0], 2);
    assert_int_equal(t.interleaved[1], 3);
    assert_true(t.has_ssrc);
    assert_int_equal(t.ssrc, 0x1A2B3C4D);
    s = "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;source=10.0.0.1";
    assert_int_equal(rtsp_parse_transport(s, strlen(s), &t), 0);
    assert_false(t.tcp);
    assert_int_equal(t.client_port[0], 5000);
    assert_int_equal(t.server_port[1], 6971);
    assert_string_equal(t.source, "10.0.0.1");
    s = "RTP/AVP/TCP;interleaved=300-301";
    assert_int_equal(rtsp_parse_transport(s, strlen(s), &t), -EBADMSG);

    uint32_t rt = 0;
    uint16_t seq = 0;
    int hr, hs;
    s = "url=rtsp://h/x/stream=0;seq=100;rtptime=123456,url=rtsp://h/x/stream=1;seq=7;rtptime=99";
    assert_int_equal(rtsp_parse_rtp_info(s, strlen(s), "stream=1", &rt, &hr, &seq, &hs), 0);
    assert_true(hr && hs);
    assert_int_equal(rt, 99);
    assert_int_equal(seq, 7);
    assert_int_equal(rtsp_parse_rtp_info(s, strlen(s), "stream=0", &rt, &hr, &seq, &hs), 0);
    assert_int_equal(rt, 123456);
    assert_int_equal(rtsp_parse_rtp_info(s, strlen(s), "stream=9", &rt, &hr, &seq, &hs), -ENOENT);
}

static void test_urls(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(rtsp_url_resolve("rtsp://h/x/", "stream=0", out, sizeof(out)), 0);
    assert_string_equal(out, "rtsp://h/x/stream=0");
    assert_int_equal(rtsp_url_resolve("rtsp://h/x", "trackID=1", out, sizeof(out)), 0);
    assert_string_equal(out, "rtsp://h/x/trackID=1");
    assert_int_equal(rtsp_url_resolve("rtsp://h/x", "*", out, sizeof(out)), 0);
    assert_string_equal(out, "rtsp://h/x");
    assert_int_equal(rtsp_url_resolve("rtsp://h/x/", "rtsp://o:1/t", out, sizeof(out)), 0);
    assert_string_equal(out, "rtsp://o:1/t");
    assert_int_equal(rtsp_url_resolve("rtsp://h/x", "", out, 5), -E2BIG);

    rtsp_url u;
    assert_int_equal(rtsp_url_parse("rtsp://admin:p%40ss:w@cam.local:8554/live/ch1?a=b", &u), 0);
    assert_string_equal(u.user, "admin");
    assert_string_equal(u.pass, "p@ss:w");
    assert_string_equal(u.host, "cam.local");
    assert_int_equal(u.port, 8554);
    assert_string_equal(u.url, "rtsp://cam.local:8554/live/ch1?a=b");
    assert_int_equal(rtsp_url_parse("rtsp://[::1]/x", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 554);
    assert_int_equal(rtsp_url_parse("http://h/x", &u), -EINVAL);
    assert_int_equal(rtsp_url_parse("rtsp://h:99999/x", &u), -EINVAL);
    assert_int_equal(rtsp_url_parse("rtsp:///x", &u), -EINVAL);
    assert_int_equal(u.tls, 0);
    /* rtsps: TLS, port 322 unless given */
    assert_int_equal(rtsp_url_parse("RTSPS://u:p@cam.local/x", &u), 0);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 322);
    assert_string_equal(u.url, "rtsps://cam.local/x");
    assert_int_equal(rtsp_url_parse("rtsps://10.0.0.1:8322/x", &u), 0);
    assert_int_equal(u.port, 8322);
    assert_int_equal(rtsp_url_parse("rtspx://h/x", &u), -EINVAL);
}

/* ---------------- SDP ---------------- */

static rtsp_sdp_session *parse_sdp_file(const char *name)
{
    size_t len;
    char *s = read_data(name, &len);
    rtsp_sdp_session *sdp = calloc(1, sizeof(*sdp));
    assert_non_null(sdp);
    assert_int_equal(rtsp_sdp_parse(s, len, sdp), 0);
    free(s);
    return sdp;
}

static void test_sdp_gst_h264_aac(void **state)
{
    (void)state;
    rtsp_sdp_session *s = parse_sdp_file("gst_h264aac.sdp");
    assert_string_equal(s->control, "*");
    assert_int_equal(s->n_media, 2);
    rtsp_sdp_media *v = &s->media[0], *a = &s->media[1];
    assert_int_equal(v->codec, RTSP_CODEC_H264);
    assert_int_equal(v->clock_rate, 90000);
    assert_int_equal(v->payload_type, 96);
    assert_int_equal(v->packetization_mode, 1);
    assert_string_equal(v->control, "stream=0");
    assert_true(v->sps_len > 4);
    assert_int_equal(v->sps[0] & 0x1f, 7);
    assert_int_equal(v->pps_len, 4);
    assert_int_equal(v->pps[0] & 0x1f, 8);
    assert_int_equal(a->codec, RTSP_CODEC_AAC);
    assert_int_equal(a->clock_rate, 16000);
    assert_int_equal(a->channels, 1);
    assert_int_equal(a->sizelength, 13);
    assert_int_equal(a->indexlength, 3);
    assert_int_equal(a->indexdeltalength, 3);
    assert_int_equal(a->config_len, 5);
    assert_int_equal(a->config[0], 0x14);
    assert_string_equal(a->control, "stream=1");
    free(s);
}

static void test_sdp_gst_h265(void **state)
{
    (void)state;
    rtsp_sdp_session *s = parse_sdp_file("gst_h265aac.sdp");
    rtsp_sdp_media *v = &s->media[0];
    assert_int_equal(v->codec, RTSP_CODEC_H265);
    assert_int_equal((v->vps[0] >> 1) & 0x3f, 32);
    assert_int_equal((v->sps[0] >> 1) & 0x3f, 33);
    assert_int_equal((v->pps[0] >> 1) & 0x3f, 34);
    free(s);
    s = parse_sdp_file("gst_h264pcmu.sdp");
    assert_int_equal(s->media[1].codec, RTSP_CODEC_PCMU);
    assert_int_equal(s->media[1].clock_rate, 8000);
    free(s);
}

static void test_sdp_ffmpeg(void **state)
{
    (void)state;
    rtsp_sdp_session *s = parse_sdp_file("ff_h264aac.sdp");
    assert_int_equal(s->n_media, 2);
    assert_int_equal(s->media[0].codec, RTSP_CODEC_H264);
    assert_true(s->media[0].sps_len > 0);
    assert_true(s->media[0].pps_len > 0);
    assert_int_equal(s->media[0].port, 19000);
    assert_int_equal(s->media[1].codec, RTSP_CODEC_AAC);
    assert_int_equal(s->media[1].config_len, 5); /* "; config=140856E500" */
    assert_string_equal(s->media[0].control, "");
    free(s);
    s = parse_sdp_file("ff_h265pcma.sdp");
    assert_int_equal(s->media[0].codec, RTSP_CODEC_H265);
    assert_true(s->media[0].vps_len > 0);
    /* static payload type 8 without rtpmap */
    assert_int_equal(s->media[1].codec, RTSP_CODEC_PCMA);
    assert_int_equal(s->media[1].clock_rate, 8000);
    free(s);
}

static void test_sdp_edge(void **state)
{
    (void)state;
    rtsp_sdp_session *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    char *big = calloc(1, RTSP_MAX_SDP + 2);
    assert_non_null(big);
    memset(big, 'a', RTSP_MAX_SDP + 1);
    assert_int_equal(rtsp_sdp_parse(big, RTSP_MAX_SDP + 1, s), -E2BIG);
    free(big);
    /* too many media sections, an AAC without sizelength, garbage base64 */
    char buf[4096];
    int o = 0;
    for (int i = 0; i < RTSP_SDP_MAX_MEDIA + 3; i++)
        o += sprintf(buf + o, "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                              "a=fmtp:96 sprop-parameter-sets=!!!,@@\r\n");
    o += sprintf(buf + o, "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 mpeg4-generic/48000/2\r\n");
    assert_int_equal(rtsp_sdp_parse(buf, (size_t)o, s), 0);
    assert_int_equal(s->n_media, RTSP_SDP_MAX_MEDIA);
    assert_int_equal(s->media[0].sps_len, 0);
    const char *aac = "m=audio 0 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/48000/2\n"
                      "a=fmtp:97 mode=AAC-hbr\n";
    assert_int_equal(rtsp_sdp_parse(aac, strlen(aac), s), 0);
    assert_int_equal(s->media[0].codec, RTSP_CODEC_UNKNOWN); /* no sizelength */
    free(s);
}

static void test_base64(void **state)
{
    (void)state;
    uint8_t out[16];
    char enc[32];
    assert_int_equal(rtsp_base64_decode("aM48gA==", 8, out, sizeof(out)), 4);
    assert_int_equal(out[0], 0x68);
    assert_int_equal(rtsp_base64_encode(out, 4, enc, sizeof(enc)), 0);
    assert_string_equal(enc, "aM48gA==");
    assert_int_equal(rtsp_base64_decode("AAAAAAAAAAAAAAAAAAAAAAAA", 24, out, 4), -E2BIG);
    assert_int_equal(rtsp_base64_encode(out, 4, enc, 8), -E2BIG);
}

/* ---------------- auth ---------------- */

static void test_digest_rfc2617(void **state)
{
    (void)state;
    const char *ch = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                     "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                     "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    rtsp_auth a;
    memset(&a, 0, sizeof(a));
    assert_int_equal(rtsp_auth_parse(ch, strlen(ch), &a), 0);
    assert_int_equal(a.scheme, RTSP_AUTH_DIGEST);
    assert_true(a.qop_auth);
    char out[1024];
    assert_int_equal(rtsp_auth_header(&a, "Mufasa", "Circle Of Life", "GET", "/dir/index.html",
                                      "0a4f113b", out, sizeof(out)),
                     0);
    assert_non_null(strstr(out, "response=\"6629fae49393a05397450978507c4ef1\""));
    assert_non_null(strstr(out, "nc=00000001"));
    assert_non_null(strstr(out, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    /* the nonce count goes up */
    assert_int_equal(rtsp_auth_header(&a, "Mufasa", "Circle Of Life", "GET", "/dir/index.html",
                                      NULL, out, sizeof(out)),
                     0);
    assert_non_null(strstr(out, "nc=00000002"));
    assert_int_equal(rtsp_auth_header(&a, "u", "p", "GET", "/", "c", out, 20), -E2BIG);
}

static void test_digest_no_qop_and_basic(void **state)
{
    (void)state;
    rtsp_auth a;
    memset(&a, 0, sizeof(a));
    const char *d = "Digest realm=\"IP Camera(C1234)\", nonce=\"abc\", stale=FALSE";
    const char *b = "Basic realm=\"IP Camera\"";
    assert_int_equal(rtsp_auth_parse(d, strlen(d), &a), 0);
    assert_int_equal(rtsp_auth_parse(b, strlen(b), &a), 0); /* Digest kept */
    assert_int_equal(a.scheme, RTSP_AUTH_DIGEST);
    assert_string_equal(a.realm, "IP Camera(C1234)");
    char out[512], expect[33], ha1[33], ha2[33], buf[256];
    assert_int_equal(
        rtsp_auth_header(&a, "admin", "12345", "DESCRIBE", "rtsp://h/x", NULL, out, sizeof(out)),
        0);
    rtsp_md5_hex("admin:IP Camera(C1234):12345", 28, ha1);
    rtsp_md5_hex("DESCRIBE:rtsp://h/x", 19, ha2);
    int n = snprintf(buf, sizeof(buf), "%s:abc:%s", ha1, ha2);
    rtsp_md5_hex(buf, (size_t)n, expect);
    assert_non_null(strstr(out, expect));
    assert_null(strstr(out, "qop"));

    memset(&a, 0, sizeof(a));
    assert_int_equal(rtsp_auth_parse(b, strlen(b), &a), 0);
    assert_int_equal(
        rtsp_auth_header(&a, "Aladdin", "open sesame", "DESCRIBE", "x", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    /* a Digest challenge replaces a Basic one */
    assert_int_equal(rtsp_auth_parse(d, strlen(d), &a), 0);
    assert_int_equal(a.scheme, RTSP_AUTH_DIGEST);

    const char *sha = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256";
    assert_int_equal(rtsp_auth_parse(sha, strlen(sha), &a), -ENOTSUP);
    const char *nononce = "Digest realm=\"r\"";
    assert_int_equal(rtsp_auth_parse(nononce, strlen(nononce), &a), -EBADMSG);
    assert_int_equal(rtsp_auth_parse("NTLM", 4, &a), -ENOTSUP);
}

/* ---------------- RTP / RTCP ---------------- */

static size_t mk_rtp(uint8_t *b, uint16_t seq, uint32_t ts, int marker, const uint8_t *pl, size_t n)
{
    b[0] = 0x80;
    b[1] = (uint8_t)((marker ? 0x80 : 0) | 96);
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24);
    b[5] = (uint8_t)(ts >> 16);
    b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    memset(b + 8, 0x11, 4);
    memcpy(b + 12, pl, n);
    return 12 + n;
}

static void test_rtp_parse(void **state)
{
    (void)state;
    /* CSRC count 1, extension of 1 word, 2 bytes of padding */
    uint8_t p[] = {0xB1, 0xE0, 0x12, 0x34, 0, 0, 0, 9, 1, 2, 3, 4, /* header */
                   9,    9,    9,    9,                            /* CSRC */
                   0xBE, 0xDE, 0,    1,    5, 5, 5, 5,             /* extension */
                   0xAA, 0xBB, 0xCC, 0,    2};
    rtsp_rtp_hdr h;
    assert_int_equal(rtsp_rtp_parse(p, sizeof(p), &h), 0);
    assert_int_equal(h.marker, 1);
    assert_int_equal(h.pt, 96);
    assert_int_equal(h.seq, 0x1234);
    assert_int_equal(h.ts, 9);
    assert_int_equal(h.payload_len, 3);
    assert_int_equal(h.payload[0], 0xAA);
    p[sizeof(p) - 1] = 200; /* padding longer than the payload */
    assert_int_equal(rtsp_rtp_parse(p, sizeof(p), &h), -EBADMSG);
    p[0] = 0x40;
    assert_int_equal(rtsp_rtp_parse(p, sizeof(p), &h), -EBADMSG);
    assert_int_equal(rtsp_rtp_parse(p, 5, &h), -EBADMSG);
}

static void test_rtcp(void **state)
{
    (void)state;
    uint8_t rr[64];
    int n = rtsp_rtcp_build_rr(rr, sizeof(rr), 1, 2, 100, 0, 0, 0, 0);
    assert_int_equal(n, 48);
    rtsp_rtcp_sr sr;
    assert_int_equal(rtsp_rtcp_parse_sr(rr, (size_t)n, &sr), -ENOENT);
    uint8_t c[28 + 48] = {0x80, 200, 0, 6, 0,    0, 0, 7, 0xE0, 0, 0, 1, 0x80, 0,
                          0,    0,   0, 0, 0x10, 0, 0, 0, 0,    5, 0, 0, 1,    0};
    memcpy(c + 28, rr, 48);
    assert_int_equal(rtsp_rtcp_parse_sr(c, sizeof(c), &sr), 0);
    assert_int_equal(sr.ssrc, 7);
    assert_true(sr.ntp == ((uint64_t)0xE0000001 << 32 | 0x80000000u));
    assert_int_equal(sr.rtp_ts, 0x1000);
    assert_int_equal(sr.packets, 5);
    c[3] = 50; /* length past the end */
    assert_int_equal(rtsp_rtcp_parse_sr(c, sizeof(c), &sr), -EBADMSG);
}

static void test_seq(void **state)
{
    (void)state;
    rtsp_rtp_seq s;
    memset(&s, 0, sizeof(s));
    int drop;
    assert_int_equal(rtsp_rtp_seq_update(&s, 65534, &drop), 0);
    assert_int_equal(rtsp_rtp_seq_update(&s, 65535, &drop), 0);
    assert_int_equal(rtsp_rtp_seq_update(&s, 2, &drop), 2); /* 0 and 1 lost, wrapped */
    assert_int_equal(s.cycles, 1);
    assert_int_equal(rtsp_rtp_seq_update(&s, 1, &drop), 0);
    assert_true(drop);
    assert_int_equal(rtsp_rtp_seq_update(&s, 30000, &drop), 29997);
}

static void test_reorder(void **state)
{
    (void)state;
    rtsp_rtp_reorder r;
    rtsp_rtp_reorder_init(&r, 8, 100000);
    uint8_t b[64], pl[4] = {1, 2, 3, 4};
    const uint8_t *pkt;
    size_t len;
    int lost;
    uint16_t order[] = {10, 12, 11, 13};
    uint16_t got[8];
    int ngot = 0;
    for (int i = 0; i < 4; i++) {
        size_t n = mk_rtp(b, order[i], 0, 0, pl, 4);
        assert_int_equal(rtsp_rtp_reorder_push(&r, b, n, 1000), 0);
        while (rtsp_rtp_reorder_pop(&r, 1000, 0, &pkt, &len, &lost) == 1) {
            assert_int_equal(lost, 0);
            got[ngot++] = (uint16_t)((pkt[2] << 8) | pkt[3]);
        }
    }
    assert_int_equal(ngot, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got[i], 10 + i);
    /* duplicate / late */
    size_t n = mk_rtp(b, 12, 0, 0, pl, 4);
    assert_int_equal(rtsp_rtp_reorder_push(&r, b, n, 1000), -EALREADY);
    /* a hole at 14: held until the delay runs out */
    n = mk_rtp(b, 15, 0, 0, pl, 4);
    assert_int_equal(rtsp_rtp_reorder_push(&r, b, n, 2000), 0);
    assert_int_equal(rtsp_rtp_reorder_pop(&r, 50000, 0, &pkt, &len, &lost), 0);
    assert_int_equal(rtsp_rtp_reorder_pop(&r, 2000 + 100000, 0, &pkt, &len, &lost), 1);
    assert_int_equal(lost, 1);
    assert_int_equal(pkt[3], 15);
    /* a full window gives up on a hole at once */
    for (uint16_t s = 17; s < 17 + 8; s++) {
        n = mk_rtp(b, s, 0, 0, pl, 4);
        assert_int_equal(rtsp_rtp_reorder_push(&r, b, n, 3000), 0);
    }
    assert_int_equal(rtsp_rtp_reorder_pop(&r, 3000, 0, &pkt, &len, &lost), 1);
    assert_int_equal(lost, 1);
    assert_int_equal(pkt[3], 17);
    int rest = 0;
    while (rtsp_rtp_reorder_pop(&r, 3000, 0, &pkt, &len, &lost) == 1)
        rest++;
    assert_int_equal(rest, 7);
    assert_int_equal(r.lost, 2);
    /* a sender restart far behind: after a window of late packets it resyncs */
    int ok = 0;
    for (int i = 0; i < 12; i++) {
        n = mk_rtp(b, (uint16_t)(1000 + i + 40000), 0, 0, pl, 4);
        if (rtsp_rtp_reorder_push(&r, b, n, 4000) == 0) ok++;
        while (rtsp_rtp_reorder_pop(&r, 4000, 0, &pkt, &len, &lost) == 1)
            ;
    }
    assert_true(ok >= 2);
    assert_int_equal(rtsp_rtp_reorder_push(&r, b, 3, 0), -EBADMSG);
    rtsp_rtp_reorder_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_response),
        cmocka_unit_test(test_msg_request_and_folding),
        cmocka_unit_test(test_msg_caps_and_errors),
        cmocka_unit_test(test_demux),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_sdp_gst_h264_aac),
        cmocka_unit_test(test_sdp_gst_h265),
        cmocka_unit_test(test_sdp_ffmpeg),
        cmocka_unit_test(test_sdp_edge),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_digest_rfc2617),
        cmocka_unit_test(test_digest_no_qop_and_basic),
        cmocka_unit_test(test_rtp_parse),
        cmocka_unit_test(test_rtcp),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_reorder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
