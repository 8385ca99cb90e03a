/*
 * The native RTSP client session (see rtsp_client.h for the contract).
 *
 * Shape: a small state machine driven by responses — OPTIONS, DESCRIBE,
 * SETUP per track, PLAY — with one request outstanding at a time, so a 401
 * can be answered by re-sending the same request with credentials, and a 3xx
 * by reconnecting to the Location. Until PLAY the TCP socket is read with
 * uv_read_start (answers are small and latency matters for setup); once
 * playing, reading stops and a repeating tick timer drains the socket with
 * recv(MSG_DONTWAIT) into the per-session buffer, and UDP sockets with
 * recvmmsg, then everything received is parsed in place: the '$' frames and
 * RTSP answers are demultiplexed, RTP goes straight to the depacketizers
 * (through a reorder window for UDP) and access units come out as callbacks.
 *
 * rtsps:// runs the same session through TLS (OpenSSL with memory BIOs, so
 * libuv keeps owning the socket and the tick still drains it in one recv):
 * ciphertext read from the socket goes into the rbio, SSL_read decrypts into
 * the session's buffer and everything else is unchanged; a request is
 * SSL_write'n and the wbio's records are sent. The camera's certificate must
 * chain to the configured CAs (tls_ca_file, else the system's) and name the
 * host of the URL (DNS name or IP address), unless the camera says
 * tls_verify: false. A redirect from rtsps:// to rtsp:// is refused.
 *
 * Lifetime: the struct owns a TCP handle and two timers; it is freed in the
 * last close callback (and never while a getaddrinfo request is still
 * pending), so callbacks may call rtsp_client_close() safely; after each user
 * callback the parsing loop checks whether the session was closed or failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/common.h"
#include "ingest/rtsp/rtsp_client.h"

#define RBUF_INIT (64 * 1024)
#define RBUF_MAX (RTSP_MAX_HEADER_BYTES + RTSP_MAX_BODY + 4096)
#define MAX_REDIRECTS 5
#define UDP_BATCH 16
#define UDP_PKT 4096
#define RR_INTERVAL_US 5000000
#define MAX_READS_PER_TICK 64 /* x the buffer: 4 MiB per session per tick */

typedef enum {
    ST_RESOLVE,
    ST_CONNECT,
    ST_OPTIONS,
    ST_DESCRIBE,
    ST_SETUP,
    ST_PLAY,
    ST_PLAYING,
    ST_DEAD,
} state;

typedef struct track {
    rtsp_client *c;
    int index;
    rtsp_sdp_media *m;
    char url[RTSP_MAX_URL];
    rtsp_depack dp;
    rtsp_rtp_seq seq;
    rtsp_rtp_reorder ro;
    int ro_init;
    int ch_rtp, ch_rtcp;
    int fd_rtp, fd_rtcp;
    int server_port[2];
    /* timestamps */
    int ts_started;
    uint32_t ts_last;
    int64_t ts_ext;
    int have_sr;
    uint64_t sr_ntp;
    uint32_t sr_rtp;
    uint32_t media_ssrc;
    int64_t last_rr_us;
    int64_t sr_recv_us;
} track;

struct rtsp_client {
    uv_loop_t *loop;
    rtsp_client_cbs cb;
    void *opaque;
    rtsp_client_opts o;
    char *camera;
    rtsp_url u;
    char user[128], pass[128];
    char base[RTSP_MAX_URL];
    char aggregate[RTSP_MAX_URL];
    state st;

    uv_getaddrinfo_t gai;
    uv_connect_t conn;
    uv_tcp_t tcp;
    uv_timer_t timer; /* request timeout, then keep-alive */
    uv_timer_t tick;  /* batch reads once playing */
    int tcp_open;     /* tcp initialized and not yet closing */
    int handles;      /* handles not yet closed */
    int gai_pending;
    int closing;
    void (*closed_cb)(void *);
    struct sockaddr_storage peer;

    uint8_t *rbuf;
    size_t rlen, rcap;
    int discard; /* drop the buffer after this parse (redirected) */
    rtsp_item item;

    int cseq, pending_cseq;
    char req_method[16];
    char req_uri[RTSP_MAX_URL];
    char req_extra[512];
    rtsp_auth auth;
    int auth_tries;
    char session[256];
    int session_timeout;
    int use_get_parameter;
    int redirects;
    int no_redirect; /* started on a given socket: nowhere else to go */
    int creds_dropped; /* redirected to another host: the credentials stayed behind */
    char *ca_file;     /* o->tls_ca_file, copied */
    SSL_CTX *ssl_ctx;  /* rtsps: this connection's TLS, else NULL */
    SSL *ssl;
    BIO *rbio, *wbio;  /* owned by ssl */
    int tls_up;        /* handshake done */
    uint8_t *tbuf;     /* ciphertext as read (TLS_RBUF) */

    rtsp_sdp_session *sdp;
    track tracks[RTSP_SDP_MAX_MEDIA];
    int ntracks, setup_idx;
    uint32_t our_ssrc;

    int64_t last_rtp_mono;
    int64_t now_us;
    rtsp_client_stats stats;
};

const char *rtsp_error_name(rtsp_error e)
{
    switch (e) {
    case RTSP_ERR_NONE:
        return "";
    case RTSP_ERR_UNREACHABLE:
        return "unreachable";
    case RTSP_ERR_AUTH_FAILED:
        return "auth_failed";
    case RTSP_ERR_NOT_FOUND:
        return "not_found";
    case RTSP_ERR_STALLED:
        return "stalled";
    case RTSP_ERR_CLOSED:
        return "closed";
    default:
        return "error";
    }
}

static const char *cam(const rtsp_client *c)
{
    return c->camera ? c->camera : "-";
}

#define TLS_RBUF (17 * 1024) /* a TLS record and then some */

static void tls_free(rtsp_client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ssl_ctx);
    c->ssl = NULL;
    c->ssl_ctx = NULL;
    c->rbio = c->wbio = NULL;
    c->tls_up = 0;
}

static void finalize(rtsp_client *c)
{
    if (c->handles > 0 || c->gai_pending) return;
    tls_free(c);
    free(c->tbuf);
    free(c->ca_file);
    void (*cb)(void *) = c->closed_cb;
    void *opaque = c->opaque;
    for (int i = 0; i < c->ntracks; i++) {
        rtsp_depack_free(&c->tracks[i].dp);
        if (c->tracks[i].ro_init) rtsp_rtp_reorder_free(&c->tracks[i].ro);
    }
    free(c->sdp);
    free(c->rbuf);
    free(c->camera);
    free(c);
    if (cb) cb(opaque);
}

static void on_handle_closed(uv_handle_t *h)
{
    rtsp_client *c = h->data;
    c->handles--;
    finalize(c);
}

static void close_udp(rtsp_client *c)
{
    for (int i = 0; i < c->ntracks; i++) {
        track *t = &c->tracks[i];
        if (t->fd_rtp >= 0) close(t->fd_rtp);
        if (t->fd_rtcp >= 0) close(t->fd_rtcp);
        t->fd_rtp = t->fd_rtcp = -1;
    }
}

static void close_tcp(rtsp_client *c, uv_close_cb cb)
{
    if (!c->tcp_open) return;
    c->tcp_open = 0;
    uv_close((uv_handle_t *)&c->tcp, cb);
}

/* Terminal failure: reported once, network closed; the struct lives until
 * rtsp_client_close(). */
static void fail(rtsp_client *c, rtsp_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(rtsp_client *c, rtsp_error e, const char *fmt, ...)
{
    if (c->st == ST_DEAD || c->closing) return;
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    c->st = ST_DEAD;
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->tick);
    close_tcp(c, on_handle_closed);
    close_udp(c);
    vg_log_cam(LOG_INFO, cam(c), "rtsp: %s: %s", rtsp_error_name(e), detail);
    if (c->cb.on_error) c->cb.on_error(c->opaque, e, detail);
}

static int dead(const rtsp_client *c)
{
    return c->closing || c->st == ST_DEAD;
}

/* ---------------- writing requests ---------------- */

typedef struct wreq {
    uv_write_t w;
    char data[];
} wreq;

static void on_written(uv_write_t *w, int status)
{
    wreq *r = vg_container_of(w, wreq, w);
    rtsp_client *c = w->handle->data;
    free(r);
    if (status < 0 && status != UV_ECANCELED && !dead(c))
        fail(c, RTSP_ERR_UNREACHABLE, "write: %s", uv_strerror(status));
}

static int sock_write(rtsp_client *c, const char *s, size_t n)
{
    if (!c->tcp_open) return -ENOTCONN;
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)n);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r == (int)n) return 0;
    if (r < 0 && r != UV_EAGAIN) return r;
    size_t done = r > 0 ? (size_t)r : 0;
    wreq *w = malloc(sizeof(*w) + n - done);
    if (!w) return -ENOMEM;
    memcpy(w->data, s + done, n - done);
    b = uv_buf_init(w->data, (unsigned)(n - done));
    r = uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (r < 0) free(w);
    return r;
}

/* Sends what TLS has put in the wbio (records, handshake messages). */
static int tls_flush(rtsp_client *c)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0) {
        int r = sock_write(c, buf, (size_t)n);
        if (r < 0) return r;
    }
    return 0;
}

/* Bytes of the RTSP conversation, through TLS for rtsps://. */
static int write_raw(rtsp_client *c, const char *s, size_t n)
{
    if (!c->ssl) return sock_write(c, s, n);
    if (!c->tls_up) return -ENOTCONN;
    if (n && SSL_write(c->ssl, s, (int)n) <= 0) return -EIO; /* a memory BIO takes it all */
    return tls_flush(c);
}

static void on_timeout(uv_timer_t *t);

/* Sends METHOD uri with the session, credentials and extra headers; the
 * request is remembered so a 401 can re-send it. */
static void send_request(rtsp_client *c, const char *method, const char *uri, const char *extra)
{
    if (method != c->req_method) snprintf(c->req_method, sizeof(c->req_method), "%s", method);
    if (uri != c->req_uri) snprintf(c->req_uri, sizeof(c->req_uri), "%s", uri);
    if (extra != c->req_extra)
        snprintf(c->req_extra, sizeof(c->req_extra), "%s", extra ? extra : "");
    char authz[1024] = "";
    if (c->auth.scheme != RTSP_AUTH_NONE) {
        char v[900];
        if (rtsp_auth_header(&c->auth, c->user, c->pass, method, uri, NULL, v, sizeof(v)) == 0)
            snprintf(authz, sizeof(authz), "Authorization: %s\r\n", v);
    }
    char sess[300] = "";
    if (c->session[0]) snprintf(sess, sizeof(sess), "Session: %s\r\n", c->session);
    char buf[4096];
    c->pending_cseq = ++c->cseq;
    int n =
        snprintf(buf, sizeof(buf), "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: vigil\r\n%s%s%s\r\n",
                 method, uri, c->cseq, authz, sess, c->req_extra);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        fail(c, RTSP_ERR_PROTOCOL, "request too long");
        return;
    }
    int r = write_raw(c, buf, (size_t)n);
    if (r < 0) {
        fail(c, RTSP_ERR_UNREACHABLE, "write: %s", uv_strerror(r));
        return;
    }
    if (c->st != ST_PLAYING) uv_timer_start(&c->timer, on_timeout, (uint64_t)c->o.timeout_ms, 0);
}

/* ---------------- UDP ---------------- */

static int open_udp_pair(track *t)
{
    unsigned seed = (unsigned)vg_mono_us() ^ ((unsigned)getpid() << 16);
    for (int attempt = 0; attempt < 64; attempt++) {
        int port = 20000 + 2 * (int)((unsigned)rand_r(&seed) % 20000u);
        int fds[2] = {-1, -1};
        int ok = 1;
        for (int k = 0; k < 2 && ok; k++) {
            fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fds[k] < 0) return -errno;
            int sz = 1 << 20;
            setsockopt(fds[k], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(port + k))};
            a.sin_addr.s_addr = htonl(INADDR_ANY);
            ok = bind(fds[k], (struct sockaddr *)&a, sizeof(a)) == 0;
        }
        if (ok) {
            t->fd_rtp = fds[0];
            t->fd_rtcp = fds[1];
            return port;
        }
        for (int k = 0; k < 2; k++)
            if (fds[k] >= 0) close(fds[k]);
    }
    return -EADDRINUSE;
}

static int sockaddr_port(rtsp_client *c, int port, struct sockaddr_storage *out)
{
    *out = c->peer;
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
    else if (out->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
    else
        return -EAFNOSUPPORT;
    return 0;
}

/* ---------------- media ---------------- */

static void on_au(void *opaque, int index, const uint8_t *data, size_t len, uint32_t ts, int key)
{
    rtsp_client *c = opaque;
    if (dead(c)) return;
    track *t = &c->tracks[index];
    if (!t->ts_started) {
        t->ts_started = 1;
        t->ts_last = ts;
        t->ts_ext = 0;
    }
    int64_t pts = t->ts_ext + (int32_t)(ts - t->ts_last);
    t->ts_last = ts;
    t->ts_ext = pts;
    rtsp_frame f = {
        .track = index,
        .codec = t->dp.codec,
        .data = data,
        .len = len,
        .keyframe = key,
        .rtp_ts = ts,
        .clock_rate = t->m->clock_rate,
        .pts = pts,
        .recv_us = c->now_us,
    };
    if (t->have_sr && t->m->clock_rate) {
        int64_t ntp_s = (int64_t)(t->sr_ntp >> 32) - 2208988800LL;
        int64_t ntp_us = ntp_s * 1000000 + (int64_t)(((t->sr_ntp & 0xffffffffu) * 1000000) >> 32);
        f.ntp_us =
            ntp_us + (int64_t)(int32_t)(ts - t->sr_rtp) * 1000000 / (int64_t)t->m->clock_rate;
    }
    c->stats.frames++;
    if (c->cb.on_frame) c->cb.on_frame(c->opaque, &f);
}

static void fill_info(const track *t, rtsp_track_info *ti)
{
    memset(ti, 0, sizeof(*ti));
    ti->index = t->index;
    ti->codec = t->dp.codec;
    ti->clock_rate = t->m->clock_rate;
    ti->channels = t->m->channels;
    ti->vps = t->dp.vps;
    ti->vps_len = t->dp.vps_len;
    ti->sps = t->dp.sps;
    ti->sps_len = t->dp.sps_len;
    ti->pps = t->dp.pps;
    ti->pps_len = t->dp.pps_len;
    ti->config = t->m->config;
    ti->config_len = t->m->config_len;
}

static void depack_one(rtsp_client *c, track *t, const rtsp_rtp_hdr *h, int lost)
{
    uint64_t dropped = t->dp.st.dropped_aus;
    rtsp_depack_push(&t->dp, h, lost);
    c->stats.frames_dropped += t->dp.st.dropped_aus - dropped;
    if (t->dp.params_changed && !dead(c)) {
        t->dp.params_changed = 0;
        if (c->cb.on_params) {
            rtsp_track_info ti;
            fill_info(t, &ti);
            c->cb.on_params(c->opaque, &ti);
        }
    }
}

static void handle_rtp(rtsp_client *c, track *t, const uint8_t *p, size_t n, int udp)
{
    rtsp_rtp_hdr h;
    c->stats.rtp_packets++;
    c->last_rtp_mono = vg_mono_us();
    if (udp) {
        int r = rtsp_rtp_reorder_push(&t->ro, p, n, c->last_rtp_mono);
        if (r < 0) return;
        const uint8_t *q;
        size_t ql;
        int lost;
        while (!dead(c) && rtsp_rtp_reorder_pop(&t->ro, c->last_rtp_mono, 0, &q, &ql, &lost) == 1) {
            c->stats.rtp_lost += (uint64_t)lost;
            if (rtsp_rtp_parse(q, ql, &h) == 0) {
                t->media_ssrc = h.ssrc;
                depack_one(c, t, &h, lost);
            }
        }
        return;
    }
    if (rtsp_rtp_parse(p, n, &h) < 0) {
        c->stats.bad_packets++;
        return;
    }
    int drop;
    int lost = rtsp_rtp_seq_update(&t->seq, h.seq, &drop);
    if (drop) return;
    c->stats.rtp_lost += (uint64_t)lost;
    t->media_ssrc = h.ssrc;
    depack_one(c, t, &h, lost);
}

static void handle_rtcp(rtsp_client *c, track *t, const uint8_t *p, size_t n)
{
    rtsp_rtcp_sr sr;
    c->stats.rtcp_packets++;
    if (rtsp_rtcp_parse_sr(p, n, &sr) == 0) {
        t->have_sr = 1;
        t->sr_ntp = sr.ntp;
        t->sr_rtp = sr.rtp_ts;
        t->sr_recv_us = vg_mono_us();
    }
}

static void send_rr(rtsp_client *c, track *t, int64_t mono)
{
    if (t->fd_rtcp < 0 || !t->seq.started || t->server_port[1] <= 0) return;
    if (mono - t->last_rr_us < RR_INTERVAL_US) return;
    t->last_rr_us = mono;
    uint8_t rr[64];
    uint32_t lsr = t->have_sr ? (uint32_t)(t->sr_ntp >> 16) : 0;
    uint32_t dlsr = t->have_sr ? (uint32_t)((mono - t->sr_recv_us) * 65536 / 1000000) : 0;
    int n = rtsp_rtcp_build_rr(rr, sizeof(rr), c->our_ssrc, t->media_ssrc, t->ro.next, 0,
                          (uint32_t)t->ro.lost, lsr, dlsr);
    struct sockaddr_storage a;
    if (n > 0 && sockaddr_port(c, t->server_port[1], &a) == 0)
        (void)!sendto(t->fd_rtcp, rr, (size_t)n, 0, (struct sockaddr *)&a,
                      a.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6));
}

/* UDP ports are open to anyone: only the camera's address may feed them. */
static int from_peer(const rtsp_client *c, const struct sockaddr_storage *a)
{
    if (a->ss_family != c->peer.ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&c->peer)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)&c->peer)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return 0;
}

static void drain_udp(rtsp_client *c)
{
    static __thread uint8_t bufs[UDP_BATCH][UDP_PKT];
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct sockaddr_storage from[UDP_BATCH];
    for (int i = 0; i < c->ntracks && !dead(c); i++) {
        track *t = &c->tracks[i];
        for (int k = 0; k < 2; k++) {
            int fd = k == 0 ? t->fd_rtp : t->fd_rtcp;
            for (;;) {
                if (fd < 0 || dead(c)) break;
                for (int j = 0; j < UDP_BATCH; j++) {
                    iov[j].iov_base = bufs[j];
                    iov[j].iov_len = UDP_PKT;
                    memset(&msgs[j].msg_hdr, 0, sizeof(msgs[j].msg_hdr));
                    msgs[j].msg_hdr.msg_name = &from[j];
                    msgs[j].msg_hdr.msg_namelen = sizeof(from[j]);
                    msgs[j].msg_hdr.msg_iov = &iov[j];
                    msgs[j].msg_hdr.msg_iovlen = 1;
                }
                int n = recvmmsg(fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
                if (n <= 0) break;
                c->stats.reads++;
                for (int j = 0; j < n && !dead(c); j++) {
                    c->stats.bytes += msgs[j].msg_len;
                    if ((msgs[j].msg_hdr.msg_flags & MSG_TRUNC) || !from_peer(c, &from[j])) {
                        c->stats.bad_packets++;
                        continue;
                    }
                    if (k == 0)
                        handle_rtp(c, t, bufs[j], msgs[j].msg_len, 1);
                    else
                        handle_rtcp(c, t, bufs[j], msgs[j].msg_len);
                }
                if (n < UDP_BATCH) break;
            }
        }
        /* holes that waited long enough */
        const uint8_t *q;
        size_t ql;
        int lost;
        rtsp_rtp_hdr h;
        int64_t mono = vg_mono_us();
        while (!dead(c) && t->ro_init && rtsp_rtp_reorder_pop(&t->ro, mono, 0, &q, &ql, &lost) == 1) {
            c->stats.rtp_lost += (uint64_t)lost;
            if (rtsp_rtp_parse(q, ql, &h) == 0) depack_one(c, t, &h, lost);
        }
        if (!dead(c)) send_rr(c, t, mono);
    }
}

/* ---------------- state machine ---------------- */

static void start_connect(rtsp_client *c);
static void connected(rtsp_client *c);
static void send_setup(rtsp_client *c);

static void on_tcp_closed_redirect(uv_handle_t *h)
{
    rtsp_client *c = h->data;
    c->handles--;
    if (c->closing) {
        finalize(c);
        return;
    }
    start_connect(c);
}

static void handle_redirect(rtsp_client *c, const rtsp_msg *m)
{
    char loc[RTSP_MAX_URL];
    if (c->no_redirect || ++c->redirects > MAX_REDIRECTS) {
        fail(c, RTSP_ERR_PROTOCOL, "too many redirects");
        return;
    }
    if (rtsp_msg_header_str(m, "Location", loc, sizeof(loc)) < 0) {
        fail(c, RTSP_ERR_PROTOCOL, "redirect %d without Location", m->status);
        return;
    }
    rtsp_url nu;
    if (rtsp_url_parse(loc, &nu) < 0) {
        fail(c, RTSP_ERR_PROTOCOL, "bad redirect Location");
        return;
    }
    if (c->u.tls && !nu.tls) {
        fail(c, RTSP_ERR_PROTOCOL, "redirect from rtsps:// to rtsp:// refused");
        return;
    }
    if (nu.user[0]) {
        snprintf(c->user, sizeof(c->user), "%s", nu.user);
        snprintf(c->pass, sizeof(c->pass), "%s", nu.pass);
        vg_log_add_secret(c->pass);
    } else if (strcasecmp(nu.host, c->u.host) != 0 && c->user[0]) {
        /* The camera's credentials are for the camera: a Location elsewhere
         * (a compromised or misconfigured camera, a spoofed answer) would
         * collect them. The other host gets none; should it ask, that is an
         * auth failure naming the redirect. */
        vg_log_cam(LOG_WARNING, cam(c), "rtsp: redirected from %s to another host, %s: its "
                   "credentials are not sent there", c->u.host, nu.host);
        c->user[0] = c->pass[0] = 0;
        c->creds_dropped = 1;
    }
    c->u = nu;
    vg_log_cam(LOG_INFO, cam(c), "rtsp: redirected to %s", c->u.url);
    c->auth.scheme = RTSP_AUTH_NONE;
    c->auth_tries = 0;
    c->session[0] = 0;
    c->discard = 1; /* what is left of the old connection's bytes */
    uv_timer_stop(&c->timer);
    c->st = ST_RESOLVE;
    c->tcp_open = 0;
    tls_free(c); /* the next connection has its own */
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed_redirect);
}

static void handle_describe(rtsp_client *c, const rtsp_msg *m)
{
    if (m->status == 404 || m->status == 410) {
        fail(c, RTSP_ERR_NOT_FOUND, "DESCRIBE: %d", m->status);
        return;
    }
    if (m->status == 403) {
        fail(c, RTSP_ERR_AUTH_FAILED, "DESCRIBE: 403");
        return;
    }
    if (m->status != 200) {
        fail(c, RTSP_ERR_PROTOCOL, "DESCRIBE: %d", m->status);
        return;
    }
    if (rtsp_msg_header_str(m, "Content-Base", c->base, sizeof(c->base)) < 0 &&
        rtsp_msg_header_str(m, "Content-Location", c->base, sizeof(c->base)) < 0)
        snprintf(c->base, sizeof(c->base), "%s", c->u.url);
    if (!c->sdp && !(c->sdp = calloc(1, sizeof(*c->sdp)))) {
        fail(c, RTSP_ERR_PROTOCOL, "out of memory");
        return;
    }
    int r = rtsp_sdp_parse((const char *)m->body, m->body_len, c->sdp);
    if (r < 0) {
        fail(c, RTSP_ERR_PROTOCOL, "bad SDP: %s", strerror(-r));
        return;
    }
    if (rtsp_url_resolve(c->base, c->sdp->control, c->aggregate, sizeof(c->aggregate)) < 0) {
        fail(c, RTSP_ERR_PROTOCOL, "aggregate URL too long");
        return;
    }
    c->ntracks = 0;
    for (int i = 0; i < c->sdp->n_media; i++) {
        rtsp_sdp_media *sm = &c->sdp->media[i];
        if (sm->codec == RTSP_CODEC_UNKNOWN) {
            vg_log_cam(LOG_INFO, cam(c), "rtsp: skipping %s track %s", sm->type, sm->encoding);
            continue;
        }
        track *t = &c->tracks[c->ntracks];
        memset(t, 0, sizeof(*t));
        t->c = c;
        t->index = c->ntracks;
        t->m = sm;
        t->fd_rtp = t->fd_rtcp = -1;
        if (rtsp_url_resolve(c->base, sm->control, t->url, sizeof(t->url)) < 0 ||
            rtsp_depack_init(&t->dp, sm, t->index, on_au, c) < 0)
            continue;
        t->dp.length_prefixed = c->o.length_prefixed;
        t->dp.alloc = c->cb.video_buffer; /* used for video tracks only */
        t->dp.alloc_opaque = c->opaque;
        c->ntracks++;
    }
    if (c->ntracks == 0) {
        fail(c, RTSP_ERR_NOT_FOUND, "no supported media in SDP");
        return;
    }
    c->st = ST_SETUP;
    c->setup_idx = 0;
    send_setup(c);
}

static void send_setup(rtsp_client *c)
{
    track *t = &c->tracks[c->setup_idx];
    char tr[256];
    if (c->o.transport == RTSP_TRANSPORT_UDP) {
        int port = open_udp_pair(t);
        if (port < 0) {
            fail(c, RTSP_ERR_PROTOCOL, "UDP ports: %s", strerror(-port));
            return;
        }
        rtsp_rtp_reorder_init(&t->ro, c->o.reorder_window, (int64_t)c->o.reorder_delay_ms * 1000);
        t->ro_init = 1;
        snprintf(tr, sizeof(tr), "Transport: RTP/AVP;unicast;client_port=%d-%d\r\n", port,
                 port + 1);
    } else {
        t->ch_rtp = 2 * c->setup_idx;
        t->ch_rtcp = t->ch_rtp + 1;
        snprintf(tr, sizeof(tr), "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n", t->ch_rtp,
                 t->ch_rtcp);
    }
    send_request(c, "SETUP", t->url, tr);
}

static void handle_setup(rtsp_client *c, const rtsp_msg *m)
{
    track *t = &c->tracks[c->setup_idx];
    if (m->status == 404) {
        fail(c, RTSP_ERR_NOT_FOUND, "SETUP %s: 404", t->url);
        return;
    }
    if (m->status == 461 && c->o.transport == RTSP_TRANSPORT_TCP && c->setup_idx == 0) {
        /* Unsupported Transport: this camera does not interleave; use UDP */
        vg_log_cam(LOG_INFO, cam(c), "rtsp: no interleaved TCP (461), using UDP");
        c->o.transport = RTSP_TRANSPORT_UDP;
        send_setup(c);
        return;
    }
    if (m->status != 200) {
        fail(c, RTSP_ERR_PROTOCOL, "SETUP %s: %d", t->url, m->status);
        return;
    }
    const rtsp_header *h = rtsp_msg_header(m, "Session");
    if (h) {
        int to = 60;
        if (rtsp_parse_session(h->value, h->value_len, c->session, sizeof(c->session), &to) == 0)
            c->session_timeout = to;
    }
    h = rtsp_msg_header(m, "Transport");
    rtsp_transport tr;
    if (!h || rtsp_parse_transport(h->value, h->value_len, &tr) < 0) {
        fail(c, RTSP_ERR_PROTOCOL, "SETUP: no usable Transport");
        return;
    }
    if (c->o.transport == RTSP_TRANSPORT_TCP) {
        if (!tr.tcp) {
            fail(c, RTSP_ERR_PROTOCOL, "SETUP: server refused interleaved TCP");
            return;
        }
        if (tr.interleaved[0] >= 0) {
            t->ch_rtp = tr.interleaved[0];
            t->ch_rtcp = tr.interleaved[1];
        }
    } else {
        t->server_port[0] = tr.server_port[0];
        t->server_port[1] = tr.server_port[1];
    }
    if (++c->setup_idx < c->ntracks) {
        send_setup(c);
        return;
    }
    c->st = ST_PLAY;
    send_request(c, "PLAY", c->aggregate, "Range: npt=0.000-\r\n");
}

static void on_keepalive(uv_timer_t *tm);
static void on_tick(uv_timer_t *tm);

static void handle_play(rtsp_client *c, const rtsp_msg *m)
{
    if (m->status != 200) {
        fail(c, m->status == 404 ? RTSP_ERR_NOT_FOUND : RTSP_ERR_PROTOCOL, "PLAY: %d", m->status);
        return;
    }
    const rtsp_header *h = rtsp_msg_header(m, "RTP-Info");
    for (int i = 0; h && i < c->ntracks; i++) {
        track *t = &c->tracks[i];
        uint32_t rt;
        uint16_t seq;
        int hr, hs;
        const char *ctl = t->m->control[0] ? t->m->control : NULL;
        if (rtsp_parse_rtp_info(h->value, h->value_len, ctl, &rt, &hr, &seq, &hs) == 0 && hr) {
            t->ts_started = 1;
            t->ts_last = rt;
            t->ts_ext = 0;
        }
    }
    c->st = ST_PLAYING;
    c->last_rtp_mono = vg_mono_us();
    uv_timer_stop(&c->timer);
    uint64_t ka = (uint64_t)(c->session_timeout > 2 ? c->session_timeout : 60) * 1000 / 2;
    uv_timer_start(&c->timer, on_keepalive, ka, ka);
    /* from now on the socket is drained on the tick */
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* Ticks fall on multiples of tick_ms of the loop's clock, so every session
     * of a loop is read in the same loop iteration: one wake-up per tick for
     * hundreds of cameras rather than one each (libuv re-arms timers that fire
     * together from the same loop time, so they stay together). */
    uint64_t tick = (uint64_t)c->o.tick_ms;
    uv_timer_start(&c->tick, on_tick, tick - uv_now(c->loop) % tick, tick);
    vg_log_cam(LOG_INFO, cam(c), "rtsp: playing %d track(s) over %s", c->ntracks,
               c->o.transport == RTSP_TRANSPORT_UDP ? "udp" : "tcp");
    if (c->cb.on_tracks) {
        rtsp_track_info ti[RTSP_SDP_MAX_MEDIA];
        for (int i = 0; i < c->ntracks; i++)
            fill_info(&c->tracks[i], &ti[i]);
        c->cb.on_tracks(c->opaque, ti, c->ntracks);
    }
}

static void handle_response(rtsp_client *c, const rtsp_msg *m)
{
    /* late keep-alive answers and the like are ignored; a missing CSeq (seen
     * on cheap cameras) answers the request outstanding */
    if (c->pending_cseq == 0 || (m->cseq >= 0 && m->cseq != c->pending_cseq)) return;
    c->pending_cseq = 0;
    if (c->st != ST_PLAYING) uv_timer_stop(&c->timer);
    if (m->status == 401) {
        int stale = 0;
        rtsp_auth a = c->auth;
        a.scheme = RTSP_AUTH_NONE;
        for (int i = 0; i < m->n_headers; i++) {
            const rtsp_header *h = &m->headers[i];
            if (h->name_len == 16 && strncasecmp(h->name, "WWW-Authenticate", 16) == 0)
                rtsp_auth_parse(h->value, h->value_len, &a);
        }
        stale = a.stale;
        if (a.scheme == RTSP_AUTH_NONE) {
            fail(c, RTSP_ERR_AUTH_FAILED, "%s: 401 without a usable challenge", c->req_method);
            return;
        }
        if (!c->user[0]) {
            fail(c, RTSP_ERR_AUTH_FAILED, "%s: 401 and no credentials%s", c->req_method,
                 c->creds_dropped ? " (not sent to the host redirected to)" : "");
            return;
        }
        /* rtsp_auth_parse() keeps Digest when both are offered; Basic sends
         * the password in the clear, so say so, once per camera. */
        if (a.scheme == RTSP_AUTH_BASIC && !c->tls_up &&
            !(c->o.basic_logged && *c->o.basic_logged)) {
            vg_log_cam(LOG_WARNING, cam(c), "rtsp: the camera offers only Basic authentication: "
                       "its password crosses the network in the clear");
            if (c->o.basic_logged) *c->o.basic_logged = 1;
        }
        if (c->auth_tries >= (stale ? 3 : 1) + (c->st == ST_PLAYING)) {
            fail(c, RTSP_ERR_AUTH_FAILED, "%s: credentials refused", c->req_method);
            return;
        }
        c->auth_tries++;
        c->auth = a;
        send_request(c, c->req_method, c->req_uri, c->req_extra);
        return;
    }
    c->auth_tries = 0;
    switch (c->st) {
    case ST_OPTIONS: {
        char pub[512];
        if (rtsp_msg_header_str(m, "Public", pub, sizeof(pub)) == 0)
            c->use_get_parameter = strstr(pub, "GET_PARAMETER") != NULL;
        c->st = ST_DESCRIBE;
        send_request(c, "DESCRIBE", c->u.url, "Accept: application/sdp\r\n");
        break;
    }
    case ST_DESCRIBE:
        if (m->status == 301 || m->status == 302 || m->status == 303 || m->status == 305 ||
            m->status == 307)
            handle_redirect(c, m);
        else
            handle_describe(c, m);
        break;
    case ST_SETUP:
        handle_setup(c, m);
        break;
    case ST_PLAY:
        handle_play(c, m);
        break;
    case ST_PLAYING:
        if (m->status == 454) fail(c, RTSP_ERR_CLOSED, "session gone (454)");
        break;
    default:
        break;
    }
}

/* A request from the server (GET_PARAMETER/OPTIONS pings, ANNOUNCE...). */
static void handle_server_request(rtsp_client *c, const rtsp_msg *m)
{
    int ok = (m->method_len == 7 && memcmp(m->method, "OPTIONS", 7) == 0) ||
             (m->method_len == 13 && memcmp(m->method, "GET_PARAMETER", 13) == 0) ||
             (m->method_len == 13 && memcmp(m->method, "SET_PARAMETER", 13) == 0);
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "RTSP/1.0 %s\r\nCSeq: %d\r\n\r\n",
                     ok ? "200 OK" : "501 Not Implemented", m->cseq < 0 ? 0 : m->cseq);
    write_raw(c, buf, (size_t)n);
}

/* Parses everything complete in the buffer, in place. */
static void process(rtsp_client *c)
{
    size_t off = 0;
    while (off < c->rlen && !dead(c) && !c->discard) {
        int r = rtsp_demux_next(c->rbuf + off, c->rlen - off, &c->item);
        if (r == -EAGAIN) break;
        if (r < 0) {
            fail(c, RTSP_ERR_PROTOCOL, "%s",
                 r == -E2BIG ? "RTSP message over the size caps" : "malformed RTSP message");
            return;
        }
        rtsp_item *it = &c->item;
        if (it->type == RTSP_ITEM_MESSAGE) {
            if (it->msg.is_response)
                handle_response(c, &it->msg);
            else
                handle_server_request(c, &it->msg);
        } else if (it->type == RTSP_ITEM_INTERLEAVED) {
            for (int i = 0; i < c->ntracks; i++) {
                track *t = &c->tracks[i];
                if (it->channel == t->ch_rtp) {
                    handle_rtp(c, t, it->data, it->len, 0);
                    break;
                }
                if (it->channel == t->ch_rtcp) {
                    handle_rtcp(c, t, it->data, it->len);
                    break;
                }
            }
        }
        off += (size_t)r;
    }
    if (dead(c)) return;
    if (c->discard) {
        c->discard = 0;
        c->rlen = 0;
        return;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->rlen == c->rcap) { /* one item larger than the buffer */
        if (c->rcap >= RBUF_MAX) {
            fail(c, RTSP_ERR_PROTOCOL, "RTSP message over %d bytes", RBUF_MAX);
            return;
        }
        size_t nc = c->rcap ? c->rcap * 2 : RBUF_INIT;
        if (nc > RBUF_MAX) nc = RBUF_MAX;
        uint8_t *nb = realloc(c->rbuf, nc);
        if (!nb) {
            fail(c, RTSP_ERR_PROTOCOL, "out of memory");
            return;
        }
        c->rbuf = nb;
        c->rcap = nc;
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    rtsp_client *c = h->data;
    if (c->ssl)
        *b = uv_buf_init((char *)c->tbuf, TLS_RBUF);
    else
        *b = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void tls_handshake(rtsp_client *c);

/* n bytes of ciphertext in tbuf: decrypted into the session's buffer and
 * parsed like plain bytes. */
static void tls_input(rtsp_client *c, size_t n)
{
    c->stats.bytes += (uint64_t)n;
    c->stats.reads++;
    c->now_us = vg_now_us();
    if (BIO_write(c->rbio, c->tbuf, (int)n) != (int)n) {
        fail(c, RTSP_ERR_PROTOCOL, "TLS: out of memory");
        return;
    }
    if (!c->tls_up) {
        tls_handshake(c);
        if (dead(c) || !c->tls_up) return;
    }
    for (;;) {
        if (c->rlen == c->rcap) {
            process(c);
            if (dead(c) || c->rlen == c->rcap) return;
        }
        int k = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(c->rcap - c->rlen));
        if (k <= 0) {
            int e = SSL_get_error(c->ssl, k);
            if (e == SSL_ERROR_WANT_READ) break;
            if (e == SSL_ERROR_ZERO_RETURN) {
                fail(c, RTSP_ERR_CLOSED, "TLS: the camera closed the session");
            } else {
                unsigned long err = ERR_get_error();
                fail(c, RTSP_ERR_PROTOCOL, "TLS: %s", err ? ERR_reason_error_string(err) : "error");
            }
            return;
        }
        c->rlen += (size_t)k;
    }
    process(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    rtsp_client *c = s->data;
    if (dead(c)) return;
    if (n < 0) {
        fail(c, n == UV_EOF ? RTSP_ERR_CLOSED : RTSP_ERR_UNREACHABLE, "read: %s",
             uv_strerror((int)n));
        return;
    }
    if (c->ssl) {
        tls_input(c, (size_t)n);
        return;
    }
    c->now_us = vg_now_us();
    c->rlen += (size_t)n;
    c->stats.bytes += (uint64_t)n;
    c->stats.reads++;
    process(c);
}

static void on_tick(uv_timer_t *tm)
{
    rtsp_client *c = tm->data;
    if (dead(c)) return;
    uv_os_fd_t fd;
    if (c->tcp_open && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        /* bounded, so one flooding camera cannot starve the others on this loop */
        for (int reads = 0; c->ssl && reads < MAX_READS_PER_TICK; reads++) {
            ssize_t n = recv(fd, c->tbuf, TLS_RBUF, MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (n <= 0) {
                fail(c, n == 0 ? RTSP_ERR_CLOSED : RTSP_ERR_UNREACHABLE, "recv: %s",
                     n == 0 ? "end of stream" : strerror(errno));
                return;
            }
            tls_input(c, (size_t)n);
            if (dead(c)) return;
            if ((size_t)n < TLS_RBUF) break; /* drained */
        }
        for (int reads = 0; !c->ssl && reads < MAX_READS_PER_TICK; reads++) {
            if (c->rlen == c->rcap) {
                process(c);
                if (dead(c) || c->rlen == c->rcap) return;
            }
            size_t room = c->rcap - c->rlen;
            ssize_t n = recv(fd, c->rbuf + c->rlen, room, MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (n <= 0) {
                fail(c, n == 0 ? RTSP_ERR_CLOSED : RTSP_ERR_UNREACHABLE, "recv: %s",
                     n == 0 ? "end of stream" : strerror(errno));
                return;
            }
            c->stats.reads++;
            c->stats.bytes += (uint64_t)n;
            c->now_us = vg_now_us();
            c->rlen += (size_t)n;
            process(c);
            if (dead(c)) return;
            if ((size_t)n < room) break; /* drained */
        }
    }
    if (c->o.transport == RTSP_TRANSPORT_UDP) {
        c->now_us = vg_now_us();
        drain_udp(c);
    }
    if (!dead(c) && vg_mono_us() - c->last_rtp_mono > (int64_t)c->o.stall_ms * 1000)
        fail(c, RTSP_ERR_STALLED, "no RTP for %d ms", c->o.stall_ms);
}

static void on_keepalive(uv_timer_t *tm)
{
    rtsp_client *c = tm->data;
    if (dead(c)) return;
    send_request(c, c->use_get_parameter ? "GET_PARAMETER" : "OPTIONS",
                 c->use_get_parameter ? c->aggregate : c->u.url, "");
}

static void on_timeout(uv_timer_t *tm)
{
    rtsp_client *c = tm->data;
    if (dead(c)) return;
    if (c->st <= ST_CONNECT)
        fail(c, RTSP_ERR_UNREACHABLE, "connect timed out");
    else
        fail(c, RTSP_ERR_PROTOCOL, "%s timed out", c->req_method);
}

static void on_connect(uv_connect_t *req, int status)
{
    rtsp_client *c = req->data;
    if (status == UV_ECANCELED || dead(c)) return;
    if (status < 0) {
        fail(c, RTSP_ERR_UNREACHABLE, "connect %s:%d: %s", c->u.host, c->u.port,
             uv_strerror(status));
        return;
    }
    connected(c);
}

static bool numeric_host(const rtsp_client *c, struct sockaddr_storage *ss);

/* Drives the handshake with what the rbio holds; once done, OPTIONS. */
static void tls_handshake(rtsp_client *c)
{
    int r = SSL_do_handshake(c->ssl);
    int fr = tls_flush(c);
    if (fr < 0) {
        fail(c, RTSP_ERR_UNREACHABLE, "TLS: write: %s", uv_strerror(fr));
        return;
    }
    if (r == 1) {
        c->tls_up = 1;
        vg_log_cam(LOG_INFO, cam(c), "rtsp: %s with %s, %s", SSL_get_version(c->ssl), c->u.host,
                   c->o.tls_no_verify ? "its certificate NOT verified (tls_verify: false)"
                                      : "its certificate verified");
        c->st = ST_OPTIONS;
        send_request(c, "OPTIONS", c->u.url, "");
        return;
    }
    if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) return;
    long v = SSL_get_verify_result(c->ssl);
    unsigned long err = ERR_get_error();
    if (v != X509_V_OK)
        fail(c, RTSP_ERR_PROTOCOL, "TLS: %s's certificate: %s", c->u.host,
             X509_verify_cert_error_string(v));
    else
        fail(c, RTSP_ERR_PROTOCOL, "TLS handshake with %s: %s", c->u.host,
             err ? ERR_reason_error_string(err) : "failed");
}

/* rtsps://: a TLS client on memory BIOs, checking the certificate (see top). */
static void tls_start(rtsp_client *c)
{
    struct sockaddr_storage ss;
    const char *why = "out of memory";
    if (!c->tbuf && !(c->tbuf = malloc(TLS_RBUF))) goto fail;
    if (!(c->ssl_ctx = SSL_CTX_new(TLS_client_method()))) goto fail;
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    if (!c->o.tls_no_verify) {
        SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
        if (c->ca_file ? SSL_CTX_load_verify_locations(c->ssl_ctx, c->ca_file, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1) {
            why = c->ca_file ? "cannot read tls_ca_file" : "no system CAs";
            goto fail;
        }
    }
    if (!(c->ssl = SSL_new(c->ssl_ctx))) goto fail;
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        goto fail;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    bool ip = numeric_host(c, &ss);
    if (!ip) SSL_set_tlsext_host_name(c->ssl, c->u.host);
    if (!c->o.tls_no_verify) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->u.host)
                    : SSL_set1_host(c->ssl, c->u.host);
        if (ok != 1) {
            why = "cannot check the host name";
            goto fail;
        }
    }
    c->st = ST_CONNECT; /* until the handshake is done */
    tls_handshake(c);
    return;
fail:
    fail(c, RTSP_ERR_PROTOCOL, "TLS: %s", why);
}

/* The TCP connection is up: read answers as they come, start with OPTIONS. */
static void connected(rtsp_client *c)
{
    int len = sizeof(c->peer);
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len);
    uv_tcp_nodelay(&c->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        fail(c, RTSP_ERR_UNREACHABLE, "read: %s", uv_strerror(r));
        return;
    }
    if (c->u.tls) {
        tls_start(c);
        return;
    }
    c->st = ST_OPTIONS;
    send_request(c, "OPTIONS", c->u.url, "");
}

/* Opens the TCP handle and connects to sa (copied by libuv). */
static void connect_to(rtsp_client *c, const struct sockaddr *sa)
{
    int r = uv_tcp_init(c->loop, &c->tcp);
    if (r == 0) {
        c->tcp.data = c;
        c->tcp_open = 1;
        c->handles++;
        c->conn.data = c;
        c->st = ST_CONNECT;
        r = uv_tcp_connect(&c->conn, &c->tcp, sa, on_connect);
    }
    if (r < 0) fail(c, RTSP_ERR_UNREACHABLE, "connect %s: %s", c->u.host, uv_strerror(r));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    rtsp_client *c = req->data;
    c->gai_pending = 0;
    if (c->closing) {
        uv_freeaddrinfo(res);
        finalize(c);
        return;
    }
    if (dead(c)) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        fail(c, RTSP_ERR_UNREACHABLE, "resolve %s: %s", c->u.host, uv_strerror(status));
        return;
    }
    connect_to(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* An IPv4 or IPv6 literal (the usual camera URL) is its own address: no
 * look-up, so a camera at a numeric address never waits for a thread of
 * libuv's pool, whatever else (other cameras' DNS) occupies it. */
static bool numeric_host(const rtsp_client *c, struct sockaddr_storage *ss)
{
    return uv_ip4_addr(c->u.host, c->u.port, (struct sockaddr_in *)ss) == 0 ||
           uv_ip6_addr(c->u.host, c->u.port, (struct sockaddr_in6 *)ss) == 0;
}

static void start_connect(rtsp_client *c)
{
    char port[16];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    c->st = ST_RESOLVE;
    if (numeric_host(c, &ss)) {
        uv_timer_start(&c->timer, on_timeout, (uint64_t)c->o.timeout_ms, 0);
        connect_to(c, (const struct sockaddr *)&ss);
        return;
    }
    snprintf(port, sizeof(port), "%d", c->u.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    int r = uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->u.host, port, &hints);
    if (r < 0) {
        fail(c, RTSP_ERR_UNREACHABLE, "resolve %s: %s", c->u.host, uv_strerror(r));
        return;
    }
    c->gai_pending = 1;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)c->o.timeout_ms, 0);
}

static int client_new(uv_loop_t *loop, const rtsp_client_opts *o, const rtsp_client_cbs *cb,
                      void *opaque, rtsp_client **out)
{
    if (!loop || !o || !o->url || !cb || !out) return -EINVAL;
    rtsp_client *c = calloc(1, sizeof(*c));
    if (!c) return -ENOMEM;
    int r = rtsp_url_parse(o->url, &c->u);
    if (r < 0) {
        free(c);
        return -EINVAL;
    }
    c->loop = loop;
    c->cb = *cb;
    c->opaque = opaque;
    c->o = *o;
    c->o.url = c->o.user = c->o.pass = c->o.camera = c->o.tls_ca_file = NULL;
    if (!c->o.tick_ms) c->o.tick_ms = 50;
    if (!c->o.stall_ms) c->o.stall_ms = 10000;
    if (!c->o.timeout_ms) c->o.timeout_ms = 10000;
    if (!c->o.reorder_window) c->o.reorder_window = 64;
    if (!c->o.reorder_delay_ms) c->o.reorder_delay_ms = 100;
    snprintf(c->user, sizeof(c->user), "%s", o->user ? o->user : c->u.user);
    snprintf(c->pass, sizeof(c->pass), "%s", o->pass ? o->pass : c->u.pass);
    vg_log_add_secret(c->pass);
    c->camera = o->camera ? strdup(o->camera) : NULL;
    c->ca_file = o->tls_ca_file ? strdup(o->tls_ca_file) : NULL;
    c->rcap = RBUF_INIT;
    c->rbuf = malloc(c->rcap);
    if (!c->rbuf || (o->camera && !c->camera) || (o->tls_ca_file && !c->ca_file)) {
        free(c->rbuf);
        free(c->camera);
        free(c->ca_file);
        free(c);
        return -ENOMEM;
    }
    c->session_timeout = 60;
    c->our_ssrc = (uint32_t)vg_mono_us() ^ (uint32_t)(uintptr_t)c;
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->tick);
    c->timer.data = c->tick.data = c;
    c->handles = 2;
    *out = c;
    return 0;
}

int rtsp_client_start(uv_loop_t *loop, const rtsp_client_opts *o, const rtsp_client_cbs *cb,
                      void *opaque, rtsp_client **out)
{
    int r = client_new(loop, o, cb, opaque, out);
    if (r == 0) start_connect(*out);
    return r;
}

int rtsp_client__start_fd(uv_loop_t *loop, int fd, const rtsp_client_opts *o,
                          const rtsp_client_cbs *cb, void *opaque, rtsp_client **out)
{
    int r = client_new(loop, o, cb, opaque, out);
    if (r < 0) return r;
    rtsp_client *c = *out;
    c->no_redirect = 1;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->tcp_open = 1;
    c->handles++;
    if ((r = uv_tcp_open(&c->tcp, fd)) < 0) {
        rtsp_client_close(c, NULL);
        *out = NULL;
        return r;
    }
    connected(c);
    return 0;
}

void rtsp_client_set_tick(rtsp_client *c, int tick_ms)
{
    if (tick_ms <= 0 || tick_ms == c->o.tick_ms) return;
    c->o.tick_ms = tick_ms;
    if (c->st != ST_PLAYING) return;
    /* on the multiples of the new period, like every session of the loop */
    uint64_t tick = (uint64_t)tick_ms;
    uv_timer_start(&c->tick, on_tick, tick - uv_now(c->loop) % tick, tick);
}

void rtsp_client_close(rtsp_client *c, void (*closed_cb)(void *opaque))
{
    if (!c || c->closing) return;
    if (c->st == ST_PLAYING && c->tcp_open) {
        /* best effort, not waited for */
        char buf[RTSP_MAX_URL + 512];
        char authz[1024] = "";
        if (c->auth.scheme != RTSP_AUTH_NONE) {
            char v[900];
            if (rtsp_auth_header(&c->auth, c->user, c->pass, "TEARDOWN", c->aggregate, NULL, v,
                                 sizeof(v)) == 0)
                snprintf(authz, sizeof(authz), "Authorization: %s\r\n", v);
        }
        int n = snprintf(buf, sizeof(buf),
                         "TEARDOWN %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: vigil\r\n%sSession: "
                         "%s\r\n\r\n",
                         c->aggregate, ++c->cseq, authz, c->session);
        if (n > 0 && (size_t)n < sizeof(buf)) {
            if (c->ssl) {
                (void)write_raw(c, buf, (size_t)n); /* best effort, like the plain one */
            } else {
                uv_buf_t b = uv_buf_init(buf, (unsigned)n);
                uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
            }
        }
    }
    c->closing = 1;
    c->closed_cb = closed_cb;
    if (c->gai_pending) uv_cancel((uv_req_t *)&c->gai);
    close_udp(c);
    close_tcp(c, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tick, on_handle_closed);
}

void rtsp_client_get_stats(const rtsp_client *c, rtsp_client_stats *out)
{
    *out = c->stats;
    for (int i = 0; i < c->ntracks; i++) {
        out->overflows += c->tracks[i].dp.st.overflows;
        out->bad_packets += c->tracks[i].dp.st.bad_packets;
    }
}
