/*
 * The client session against a scripted server on the same libuv loop: the
 * paths real servers rarely take on demand — a redirect, a Digest challenge
 * without qop, an answer without CSeq, RTP interleaved in the same segment as
 * the PLAY answer with garbage between frames, a stall, a server that hangs
 * up, a 404, a hostile Content-Length, and a 461 answer to interleaved TCP;
 * and a camera at a numeric address while libuv's thread pool is busy.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "ingest/rtsp/rtsp_client.h"

typedef enum { SC_FULL, SC_STALL, SC_HANGUP, SC_404, SC_HUGE, SC_461 } scenario;

typedef struct srv {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_tcp_t conns[4]; /* one per connection: a redirect reconnects */
    int nconns;
    uv_tcp_t *cur; /* the connection being served */
    int port;
    scenario sc;
    uint8_t buf[65536];
    size_t len;
    char nonce[32];
    int authorized_describes, redirects, udp_setups;
    /* client side */
    rtsp_client *c;
    int tracks, frames, keyframes;
    rtsp_error err;
    int errors, closed;
    uv_timer_t stop;
} srv;

static const uint8_t SPS[] = {0x67, 0x42, 0xc0, 0x15, 0xda, 0x05, 0x07, 0xec};
static const uint8_t PPS[] = {0x68, 0xce, 0x3c, 0x80};

static void srv_write(srv *s, const void *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int r = uv_try_write((uv_stream_t *)s->cur, &b, 1);
    assert_int_equal(r, (int)n); /* small writes on loopback */
}

static void close_conn(srv *s, uv_tcp_t *t)
{
    if (!uv_is_closing((uv_handle_t *)t)) uv_close((uv_handle_t *)t, NULL);
    if (t == s->cur) s->cur = NULL;
}

static void hangup(srv *s)
{
    if (s->cur) close_conn(s, s->cur);
}

/* '$' 0 len + RTP(seq, ts, marker) + NAL */
static size_t frame(uint8_t *o, uint16_t seq, uint32_t ts, const uint8_t *nal, size_t n)
{
    size_t len = 12 + n;
    o[0] = '$';
    o[1] = 0;
    o[2] = (uint8_t)(len >> 8);
    o[3] = (uint8_t)len;
    uint8_t *r = o + 4;
    r[0] = 0x80;
    r[1] = 0x80 | 96;
    r[2] = (uint8_t)(seq >> 8);
    r[3] = (uint8_t)seq;
    r[4] = (uint8_t)(ts >> 24);
    r[5] = (uint8_t)(ts >> 16);
    r[6] = (uint8_t)(ts >> 8);
    r[7] = (uint8_t)ts;
    memset(r + 8, 0x42, 4);
    memcpy(r + 12, nal, n);
    return 4 + len;
}

static void respond(srv *s, const rtsp_msg *m)
{
    char uri[512], out[4096], method[32];
    snprintf(uri, sizeof(uri), "%.*s", (int)m->uri_len, m->uri);
    snprintf(method, sizeof(method), "%.*s", (int)m->method_len, m->method);
    int n;
    if (!strcmp(method, "OPTIONS")) {
        n = snprintf(out, sizeof(out),
                     "RTSP/1.0 200 OK\r\nCSeq: %d\r\nPublic: OPTIONS, "
                     "DESCRIBE, SETUP, PLAY, GET_PARAMETER\r\n\r\n",
                     m->cseq);
    } else if (!strcmp(method, "DESCRIBE")) {
        if (s->sc == SC_404) {
            n = snprintf(out, sizeof(out), "RTSP/1.0 404 Not Found\r\nCSeq: %d\r\n\r\n", m->cseq);
        } else if (s->sc == SC_HUGE) {
            n = snprintf(out, sizeof(out),
                         "RTSP/1.0 200 OK\r\nCSeq: %d\r\n"
                         "Content-Length: 100000000\r\n\r\nv=0\r\n",
                         m->cseq);
        } else if (strstr(uri, "/old")) {
            s->redirects++;
            n = snprintf(out, sizeof(out),
                         "RTSP/1.0 302 Moved\r\nCSeq: %d\r\nLocation: rtsp://127.0.0.1:%d/cam\r\n"
                         "\r\n",
                         m->cseq, s->port);
        } else {
            /* Digest without qop: response = MD5(HA1:nonce:HA2) */
            char ha1[33], ha2[33], want[33], tmp[1024], expect[64];
            rtsp_md5_hex("admin:cam:s3cret", 16, ha1);
            int k = snprintf(tmp, sizeof(tmp), "DESCRIBE:%s", uri);
            rtsp_md5_hex(tmp, (size_t)k, ha2);
            k = snprintf(tmp, sizeof(tmp), "%s:%s:%s", ha1, s->nonce, ha2);
            rtsp_md5_hex(tmp, (size_t)k, want);
            snprintf(expect, sizeof(expect), "response=\"%s\"", want);
            char authz[1024] = "";
            rtsp_msg_header_str(m, "Authorization", authz, sizeof(authz));
            if (!strstr(authz, expect)) {
                n = snprintf(out, sizeof(out),
                             "RTSP/1.0 401 Unauthorized\r\nCSeq: %d\r\n"
                             "WWW-Authenticate: Basic realm=\"cam\"\r\n"
                             "WWW-Authenticate: Digest realm=\"cam\", nonce=\"%s\"\r\n\r\n",
                             m->cseq, s->nonce);
            } else {
                s->authorized_describes++;
                char sps[64], pps[64], sdp[1024];
                rtsp_base64_encode(SPS, sizeof(SPS), sps, sizeof(sps));
                rtsp_base64_encode(PPS, sizeof(PPS), pps, sizeof(pps));
                int sl = snprintf(sdp, sizeof(sdp),
                                  "v=0\r\ns=x\r\nt=0 0\r\na=control:*\r\n"
                                  "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                                  "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=%s,%s\r\n"
                                  "a=control:trackID=0\r\n"
                                  "m=application 0 RTP/AVP 107\r\na=rtpmap:107 vnd.onvif.metadata/"
                                  "90000\r\na=control:trackID=1\r\n",
                                  sps, pps);
                n = snprintf(out, sizeof(out),
                             "RTSP/1.0 200 OK\r\nCSeq: %d\r\nContent-Base: %s/\r\n"
                             "Content-Length: %d\r\n\r\n%s",
                             m->cseq, uri, sl, sdp);
            }
        }
    } else if (!strcmp(method, "SETUP")) {
        assert_non_null(strstr(uri, "/cam/trackID=0"));
        char tr[256] = "";
        rtsp_msg_header_str(m, "Transport", tr, sizeof(tr));
        if (s->sc == SC_461 && strstr(tr, "interleaved")) {
            n = snprintf(out, sizeof(out), "RTSP/1.0 461 Unsupported Transport\r\nCSeq: %d\r\n\r\n",
                         m->cseq);
        } else if (s->sc == SC_461) {
            s->udp_setups++;
            assert_non_null(strstr(tr, "client_port="));
            n = snprintf(out, sizeof(out),
                         "RTSP/1.0 200 OK\r\nCSeq: %d\r\nSession: abc\r\n"
                         "Transport: RTP/AVP;unicast;client_port=1-2;"
                         "server_port=3-4\r\n\r\n",
                         m->cseq);
        } else /* the server picks other channels than asked for */
            n = snprintf(out, sizeof(out),
                         "RTSP/1.0 200 OK\r\nCSeq: %d\r\nSession: abc;timeout=30\r\n"
                         "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
                         m->cseq);
    } else if (!strcmp(method, "PLAY")) {
        char sess[64] = "";
        rtsp_msg_header_str(m, "Session", sess, sizeof(sess));
        assert_string_equal(sess, "abc");
        /* no CSeq, and media in the same segment */
        uint8_t b[2048];
        size_t o = (size_t)snprintf((char *)b, sizeof(b),
                                    "RTSP/1.0 200 OK\r\nSession: abc\r\n"
                                    "RTP-Info: url=trackID=0;rtptime=1000\r\n"
                                    "\r\n");
        if (s->sc == SC_FULL) {
            static const uint8_t idr[] = {0x65, 0x88, 0x84, 0x21};
            static const uint8_t p[] = {0x41, 0x9a, 0x22};
            o += frame(b + o, 1, 1000, idr, sizeof(idr));
            o += frame(b + o, 2, 4000, p, sizeof(p));
            memcpy(b + o, "garbage!", 8); /* resynchronized on */
            o += 8;
            o += frame(b + o, 3, 7000, p, sizeof(p));
            o += frame(b + o, 5, 10000, p,
                       sizeof(p)); /* 4 lost: this unit may miss its start: dropped */
            o += frame(b + o, 6, 13000, idr, sizeof(idr));
        }
        srv_write(s, b, o);
        if (s->sc == SC_HANGUP) hangup(s);
        return;
    } else {
        n = snprintf(out, sizeof(out), "RTSP/1.0 200 OK\r\nCSeq: %d\r\n\r\n", m->cseq);
    }
    srv_write(s, out, (size_t)n);
}

static void srv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    srv *s = h->data;
    *b = uv_buf_init((char *)s->buf + s->len, (unsigned)(sizeof(s->buf) - s->len));
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    srv *s = st->data;
    if (n < 0) {
        close_conn(s, (uv_tcp_t *)st);
        return;
    }
    s->len += (size_t)n;
    for (;;) {
        rtsp_msg m;
        int r = rtsp_msg_parse(s->buf, s->len, &m);
        if (r == -EAGAIN) break;
        assert_true(r > 0);
        respond(s, &m);
        if (s->cur != (uv_tcp_t *)st) return;
        memmove(s->buf, s->buf + r, s->len - (size_t)r);
        s->len -= (size_t)r;
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    srv *s = l->data;
    assert_int_equal(status, 0);
    assert_true(s->nconns < 4);
    if (s->cur) close_conn(s, s->cur);
    uv_tcp_t *t = &s->conns[s->nconns++];
    uv_tcp_init(&s->loop, t);
    t->data = s;
    assert_int_equal(uv_accept(l, (uv_stream_t *)t), 0);
    s->cur = t;
    s->len = 0;
    uv_read_start((uv_stream_t *)t, srv_alloc, srv_read);
}

/* ---------------- client side ---------------- */

static void on_tracks(void *o, const rtsp_track_info *t, int n)
{
    srv *s = o;
    s->tracks = n;
    assert_int_equal(t[0].codec, RTSP_CODEC_H264);
    assert_int_equal(t[0].sps_len, sizeof(SPS));
}

static void on_frame(void *o, const rtsp_frame *f)
{
    srv *s = o;
    if (s->frames == 0) {
        assert_int_equal(f->pts, 0); /* RTP-Info rtptime=1000 is the origin */
        assert_true(f->keyframe);
        /* SPS and PPS from the SDP put before the first keyframe */
        assert_int_equal(f->len, 4 + sizeof(SPS) + 4 + sizeof(PPS) + 4 + 4);
    }
    s->frames++;
    s->keyframes += f->keyframe;
}

static void on_client_closed(void *o)
{
    srv *s = o;
    s->closed = 1;
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->stop, NULL);
    hangup(s);
}

static void on_error(void *o, rtsp_error e, const char *detail)
{
    (void)detail;
    srv *s = o;
    s->err = e;
    s->errors++;
    rtsp_client_close(s->c, on_client_closed);
    s->c = NULL;
}

static void on_stop(uv_timer_t *t)
{
    srv *s = t->data;
    if (s->c) {
        rtsp_client_close(s->c, on_client_closed);
        s->c = NULL;
    }
}

static void run(srv *s, scenario sc, const char *path, int stop_ms)
{
    memset(s, 0, sizeof(*s));
    s->sc = sc;
    snprintf(s->nonce, sizeof(s->nonce), "n%lld", (long long)vg_mono_us());
    assert_int_equal(uv_loop_init(&s->loop), 0);
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 8, on_connection), 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);

    char url[128];
    snprintf(url, sizeof(url), "rtsp://admin:s3cret@127.0.0.1:%d%s", s->port, path);
    rtsp_client_opts o = {.url = url, .tick_ms = 20, .stall_ms = 400, .timeout_ms = 3000};
    rtsp_client_cbs cb = {.on_tracks = on_tracks, .on_frame = on_frame, .on_error = on_error};
    assert_int_equal(rtsp_client_start(&s->loop, &o, &cb, s, &s->c), 0);
    uv_timer_init(&s->loop, &s->stop);
    s->stop.data = s;
    uv_timer_start(&s->stop, on_stop, (uint64_t)stop_ms, 0);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_true(s->closed);
    assert_int_equal(uv_loop_close(&s->loop), 0);
}

static void test_full_session(void **state)
{
    (void)state;
    srv *s = calloc(1, sizeof(*s));
    run(s, SC_FULL, "/old", 300);
    assert_int_equal(s->errors, 0);
    assert_int_equal(s->redirects, 1);
    assert_int_equal(s->authorized_describes, 1);
    assert_int_equal(s->tracks, 1); /* the metadata track is skipped */
    assert_int_equal(s->frames, 4);
    assert_int_equal(s->keyframes, 2);
    free(s);
}

static void test_failures(void **state)
{
    (void)state;
    srv *s = calloc(1, sizeof(*s));
    run(s, SC_STALL, "/cam", 5000);
    assert_int_equal(s->err, RTSP_ERR_STALLED);
    run(s, SC_HANGUP, "/cam", 5000);
    assert_int_equal(s->err, RTSP_ERR_CLOSED);
    run(s, SC_404, "/cam", 5000);
    assert_int_equal(s->err, RTSP_ERR_NOT_FOUND);
    run(s, SC_HUGE, "/cam", 5000);
    assert_int_equal(s->err, RTSP_ERR_PROTOCOL);
    /* 461 to interleaved TCP: the client sets up UDP instead, then plays */
    run(s, SC_461, "/cam", 5000);
    assert_int_equal(s->udp_setups, 1);
    assert_int_equal(s->tracks, 1);
    assert_int_equal(s->err, RTSP_ERR_STALLED);
    free(s);
    assert_string_equal(rtsp_error_name(RTSP_ERR_AUTH_FAILED), "auth_failed");
}

static void test_bad_url(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    rtsp_client *c = NULL;
    rtsp_client_cbs cb = {0};
    rtsp_client_opts o = {.url = "http://x/"};
    assert_int_equal(rtsp_client_start(&loop, &o, &cb, NULL, &c), -EINVAL);
    assert_null(c);
    rtsp_client_close(NULL, NULL);
    uv_loop_close(&loop);
}

/* A camera URL with an IP literal needs no look-up: with every thread of
 * libuv's pool (one, set in main) held by work that waits until the session
 * is over, the session still connects and plays. A look-up would wait in the
 * pool's queue until the client's own connect timeout failed the session. */
static pthread_mutex_t busy_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t busy_cv = PTHREAD_COND_INITIALIZER;
static int busy_release;

static void busy_work(uv_work_t *w)
{
    (void)w;
    pthread_mutex_lock(&busy_mu);
    while (!busy_release) pthread_cond_wait(&busy_cv, &busy_mu);
    pthread_mutex_unlock(&busy_mu);
}

static void busy_done(uv_work_t *w, int status)
{
    (void)status;
    *(int *)w->data = 1;
}

static void test_numeric_host_busy_pool(void **state)
{
    (void)state;
    uv_loop_t other;
    uv_work_t w;
    int done = 0;
    assert_int_equal(uv_loop_init(&other), 0);
    w.data = &done;
    assert_int_equal(uv_queue_work(&other, &w, busy_work, busy_done), 0);
    srv *s = calloc(1, sizeof(*s));
    run(s, SC_FULL, "/old", 300); /* its redirect goes to 127.0.0.1 too */
    assert_int_equal(s->errors, 0);
    assert_int_equal(s->frames, 4);
    free(s);
    pthread_mutex_lock(&busy_mu);
    busy_release = 1;
    pthread_cond_signal(&busy_cv);
    pthread_mutex_unlock(&busy_mu);
    while (!done) uv_run(&other, UV_RUN_ONCE);
    assert_int_equal(uv_loop_close(&other), 0);
}

int main(void)
{
    /* Before the pool starts: one thread, so one busy job fills it. */
    setenv("UV_THREADPOOL_SIZE", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_host_busy_pool),
        cmocka_unit_test(test_full_session),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
