/*
 * fleetsim server: RTSP 1.0 on one libuv loop, mounts /<prefix>1../<prefix>N,
 * RTP over TCP interleaved ('$' framing). Every mount serves the same prepared
 * packet list (source.c); a session differs only in SSRC, sequence numbers and
 * timestamps, so per packet we write 16 header bytes and point the kernel at
 * the shared payload.
 *
 * The cost we care about is per camera, so sending is batched: a timer fires
 * every tick_ms / FS_BUCKETS and serves one bucket of sessions; a session is
 * therefore visited every tick_ms and writes every packet that has become due
 * with one writev (uv_try_write; what the socket does not take goes out with
 * uv_write and the session sends nothing more until it completes). A session
 * that falls more than FS_MAX_LAG behind real time (a slow reader) skips to the
 * next IDR, counting the frames it skipped, as a camera dropping frames would.
 *
 * Each session starts at an IDR (a different one per mount, so GOPs are not
 * aligned across the fleet) and loops the list forever; timestamps grow by the
 * list's duration on every loop, so a client sees one continuous stream.
 */
#include "tools/fleetsim/fleetsim.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

#define FS_BUCKETS 4
#define FS_MAX_BATCH 480             /* packets per writev (2 iovecs each, < IOV_MAX) */
#define FS_MAX_LAG (3 * 90000)       /* 90 kHz */
#define FS_MAX_REQUEST (64 * 1024)

typedef struct fs_mount {
    uint64_t frames_sent, bytes_sent, frames_skipped;
    uint64_t sessions; /* PLAYs so far */
    int64_t behind_max; /* worst backlog of a session, 90 kHz: a slow reader (TCP full)
                           or the simulator itself late */
    uint32_t clients;  /* playing now */
} fs_mount;

typedef struct conn conn;
struct conn {
    uv_tcp_t tcp;
    fs_server *srv;
    conn *prev, *next;             /* all connections */
    conn *bprev, *bnext;           /* playing sessions of one bucket */
    char *rbuf;
    size_t rlen, rcap;
    int mount;                     /* -1 until DESCRIBE/SETUP named one */
    int setup, playing, drained, closing;
    uint8_t channel;
    uint32_t session_id, ssrc, ts_base;
    uint16_t seq;
    unsigned bucket;
    /* replay cursor */
    size_t cur;
    int64_t loop_base;             /* added to packet times: loops * duration */
    int64_t start_due;             /* due of the first packet sent */
    int64_t start_us;              /* monotonic time of PLAY */
    /* send buffers: headers for up to FS_MAX_BATCH packets, 2 bufs per packet */
    uint8_t *hdrs;
    uv_buf_t *bufs;
    uv_write_t wreq;
    int in_flight;
    uint64_t pend_frames, pend_bytes;
};

struct fs_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t timer;
    fs_server_opts o;
    const fs_source *src;
    fs_mount *mounts;
    conn *conns;
    conn *buckets[FS_BUCKETS];
    uint64_t tick_no;
    int64_t last_tick_us;  /* when the timer fired last (monotonic) */
    int64_t tick_late_max; /* worst timer lateness, us: the simulator starved of CPU */
    uint32_t next_session;
    int playing; /* sessions playing now */
    int handles; /* open uv handles: listener, timer, connections */
    int closing, draining;
    int port;
};

typedef struct reply_req {
    uv_write_t req;
    int close_after;
    char data[];
} reply_req;

static void server_unref(fs_server *s)
{
    if (--s->handles == 0) {
        free(s->mounts);
        free(s);
    }
}

/* ---- session list per bucket ---- */

static void bucket_add(conn *c)
{
    fs_server *s = c->srv;
    conn **head = &s->buckets[c->bucket];
    c->bprev = NULL;
    c->bnext = *head;
    if (*head) (*head)->bprev = c;
    *head = c;
}

static void bucket_remove(conn *c)
{
    fs_server *s = c->srv;
    if (c->bprev)
        c->bprev->bnext = c->bnext;
    else if (s->buckets[c->bucket] == c)
        s->buckets[c->bucket] = c->bnext;
    else
        return; /* not in the list */
    if (c->bnext) c->bnext->bprev = c->bprev;
    c->bprev = c->bnext = NULL;
}

static void stop_playing(conn *c)
{
    if (!c->playing) return;
    c->playing = 0;
    c->srv->playing--;
    bucket_remove(c);
    if (c->mount >= 0) c->srv->mounts[c->mount].clients--;
}

/* ---- connection lifetime ---- */

static void on_conn_closed(uv_handle_t *h)
{
    conn *c = vg_container_of(h, conn, tcp);
    fs_server *s = c->srv;
    free(c->rbuf);
    free(c->hdrs);
    free(c->bufs);
    free(c);
    server_unref(s);
}

static void conn_close(conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    stop_playing(c);
    fs_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- sending media ---- */

static int64_t mono_us(void)
{
    return (int64_t)(uv_hrtime() / 1000);
}

static inline int64_t pkt_pos(const conn *c, const fs_packet *p)
{
    return c->loop_base + p->due - c->start_due;
}

static void advance(conn *c)
{
    const fs_source *src = c->srv->src;
    if (++c->cur == src->npkts) {
        c->cur = 0;
        c->loop_base += src->duration;
    }
}

static void account(conn *c, uint64_t frames, uint64_t bytes)
{
    if (c->mount < 0) return;
    fs_mount *m = &c->srv->mounts[c->mount];
    m->frames_sent += frames;
    m->bytes_sent += bytes;
}

static void on_media_written(uv_write_t *req, int status)
{
    conn *c = vg_container_of(req, conn, wreq);
    c->in_flight = 0;
    if (status < 0) {
        if (status != UV_ECANCELED) conn_close(c);
        return;
    }
    account(c, c->pend_frames, c->pend_bytes);
}

/* Skips a session that fell behind to the next IDR that is not yet late. */
static void catch_up(conn *c, int64_t now90)
{
    const fs_source *src = c->srv->src;
    uint64_t skipped = 0;
    size_t guard = 0;
    while (guard++ < 4 * src->npkts) {
        const fs_packet *p = &src->pkts[c->cur];
        if (p->idr && now90 - pkt_pos(c, p) < FS_MAX_LAG / 3) break;
        if (p->marker) skipped++;
        advance(c);
    }
    if (c->mount >= 0) c->srv->mounts[c->mount].frames_skipped += skipped;
}

static void pump(conn *c, int64_t now_us)
{
    fs_server *s = c->srv;
    const fs_source *src = s->src;
    if (c->in_flight || c->closing || c->drained) return;
    int64_t now90 = (now_us - c->start_us) * 9 / 100;
    int64_t late = now90 - pkt_pos(c, &src->pkts[c->cur]);
    if (late > FS_MAX_LAG) catch_up(c, now90);

    size_t n = 0, nb = 0;
    uint64_t frames = 0, bytes = 0;
    while (n < FS_MAX_BATCH) {
        const fs_packet *p = &src->pkts[c->cur];
        if (pkt_pos(c, p) > now90) break;
        if (s->draining && p->idr) {
            c->drained = 1;
            bucket_remove(c);
            break;
        }
        uint8_t *h = c->hdrs + n * FS_HDR;
        size_t rtp_len = FS_RTP_HDR + p->len;
        uint32_t ts = c->ts_base + (uint32_t)(c->loop_base + p->ts);
        h[0] = '$';
        h[1] = c->channel;
        h[2] = (uint8_t)(rtp_len >> 8);
        h[3] = (uint8_t)rtp_len;
        h[4] = 0x80;
        h[5] = (uint8_t)((p->marker ? 0x80 : 0) | 96);
        h[6] = (uint8_t)(c->seq >> 8);
        h[7] = (uint8_t)c->seq;
        h[8] = (uint8_t)(ts >> 24);
        h[9] = (uint8_t)(ts >> 16);
        h[10] = (uint8_t)(ts >> 8);
        h[11] = (uint8_t)ts;
        h[12] = (uint8_t)(c->ssrc >> 24);
        h[13] = (uint8_t)(c->ssrc >> 16);
        h[14] = (uint8_t)(c->ssrc >> 8);
        h[15] = (uint8_t)c->ssrc;
        c->seq++;
        c->bufs[nb++] = uv_buf_init((char *)h, FS_HDR);
        c->bufs[nb++] = uv_buf_init((char *)src->arena + p->off, p->len);
        bytes += FS_HDR + p->len;
        if (p->marker) frames++;
        n++;
        advance(c);
    }
    if (!n) return;
    /* Backlog of the batch's first packet beyond one tick. */
    late -= (int64_t)s->o.tick_ms * 90;
    if (c->mount >= 0 && late > s->mounts[c->mount].behind_max)
        s->mounts[c->mount].behind_max = late;

    uv_stream_t *st = (uv_stream_t *)&c->tcp;
    int r = uv_try_write(st, c->bufs, (unsigned)nb);
    if (r == UV_EAGAIN || r == UV_ENOSYS) r = 0;
    if (r < 0) {
        conn_close(c);
        return;
    }
    if ((uint64_t)r == bytes) {
        account(c, frames, bytes);
        return;
    }
    /* The socket took part of the batch: queue the rest, send nothing more until
     * it is out. Headers stay valid: they are ours until the callback. */
    size_t done = (size_t)r, i = 0;
    while (done >= c->bufs[i].len) done -= c->bufs[i++].len;
    c->bufs[i].base += done;
    c->bufs[i].len -= done;
    c->pend_frames = frames;
    c->pend_bytes = bytes;
    c->in_flight = 1;
    r = uv_write(&c->wreq, st, c->bufs + i, (unsigned)(nb - i), on_media_written);
    if (r < 0) {
        c->in_flight = 0;
        conn_close(c);
    }
}

static void on_tick(uv_timer_t *t)
{
    fs_server *s = vg_container_of(t, fs_server, timer);
    unsigned b = (unsigned)(s->tick_no++ % FS_BUCKETS);
    int64_t now = mono_us();
    int64_t period = (int64_t)(s->o.tick_ms / FS_BUCKETS) * 1000;
    /* A gap between two ticks beyond the period: the loop did not run (starved or
     * blocked). Counted only while sessions play (not while idle or draining). */
    if (s->last_tick_us && s->playing && !s->draining) {
        int64_t late = now - s->last_tick_us - period;
        if (late > s->tick_late_max) s->tick_late_max = late;
    }
    s->last_tick_us = now;
    conn *next;
    for (conn *c = s->buckets[b]; c; c = next) {
        next = c->bnext; /* pump may close c */
        pump(c, now);
    }
}

/* ---- RTSP ---- */

static void on_reply_written(uv_write_t *req, int status)
{
    reply_req *rr = vg_container_of(req, reply_req, req);
    conn *c = req->data;
    if ((status < 0 && status != UV_ECANCELED) || rr->close_after) conn_close(c);
    free(rr);
}

/* Queues an RTSP response; extra holds header lines, each ending in CRLF. */
static void reply(conn *c, int code, const char *reason, const char *cseq, const char *extra,
                  const char *body, int close_after)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 256 + strlen(reason) + strlen(cseq) + (extra ? strlen(extra) : 0) + blen;
    reply_req *rr = malloc(sizeof(*rr) + cap);
    if (!rr) {
        conn_close(c);
        return;
    }
    int n = snprintf(rr->data, cap, "RTSP/1.0 %d %s\r\nCSeq: %s\r\nServer: vigil-fleetsim\r\n%s",
                     code, reason, cseq, extra ? extra : "");
    if (blen) n += snprintf(rr->data + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
    n += snprintf(rr->data + n, cap - (size_t)n, "\r\n%s", body ? body : "");
    assert((size_t)n < cap);
    rr->close_after = close_after;
    rr->req.data = c;
    uv_buf_t b = uv_buf_init(rr->data, (unsigned)n);
    if (uv_write(&rr->req, (uv_stream_t *)&c->tcp, &b, 1, on_reply_written) < 0) {
        free(rr);
        conn_close(c);
    }
}

/* Copies the value of header name (case-insensitive) into out; 1 if found. */
static int header(const char *req, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = strstr(req, "\r\n");
    while (p && p[2] != '\r' && p[2] != '\0') {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (!eol) break;
        if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t n = (size_t)(eol - v);
            if (n >= outlen) n = outlen - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
        p = eol;
    }
    return 0;
}

/* Maps "rtsp://host:port/cam12/trackID=0" to mount 11; -1 if none. */
static int mount_of(const fs_server *s, const char *url)
{
    const char *p = url;
    if (!strncasecmp(p, "rtsp://", 7)) {
        p = strchr(p + 7, '/');
        if (!p) return -1;
    }
    while (*p == '/') p++;
    size_t pl = strlen(s->o.prefix);
    if (strncmp(p, s->o.prefix, pl)) return -1;
    p += pl;
    if (*p < '1' || *p > '9') return -1;
    long v = 0;
    while (*p >= '0' && *p <= '9' && v <= s->o.cameras) v = v * 10 + (*p++ - '0');
    if (*p && *p != '/' && *p != '?') return -1;
    if (v < 1 || v > s->o.cameras) return -1;
    return (int)v - 1;
}

static void describe(conn *c, const char *url, const char *cseq, int m)
{
    const fs_source *src = c->srv->src;
    char sdp[2048], hdr[1200];
    snprintf(sdp, sizeof(sdp),
             "v=0\r\n"
             "o=- %u 1 IN IP4 127.0.0.1\r\n"
             "s=fleetsim %s%d\r\n"
             "c=IN IP4 0.0.0.0\r\n"
             "t=0 0\r\n"
             "a=control:*\r\n"
             "a=range:npt=0-\r\n"
             "m=video 0 RTP/AVP 96\r\n"
             "b=AS:%lld\r\n"
             "a=rtpmap:96 H264/90000\r\n"
             "a=fmtp:96 packetization-mode=1;profile-level-id=%s;sprop-parameter-sets=%s\r\n"
             "a=framerate:%.3g\r\n"
             "a=cliprect:0,0,%d,%d\r\n"
             "a=control:trackID=0\r\n",
             (unsigned)m + 1, c->srv->o.prefix, m + 1, (long long)(src->bitrate / 1000),
             src->profile_level_id, src->sprop, src->fps, src->height, src->width);
    size_t ul = strlen(url);
    while (ul && url[ul - 1] == '/') ul--;
    if (ul > 1000) ul = 1000;
    snprintf(hdr, sizeof(hdr), "Content-Type: application/sdp\r\nContent-Base: %.*s/\r\n",
             (int)ul, url);
    reply(c, 200, "OK", cseq, hdr, sdp, 0);
}

static void setup(conn *c, const char *req, const char *cseq, int m)
{
    char tr[256], hdr[400];
    if (!header(req, "Transport", tr, sizeof(tr)) || !strstr(tr, "RTP/AVP/TCP")) {
        /* UDP is not offered: clients (FFmpeg, vigild) fall back to TCP. */
        reply(c, 461, "Unsupported Transport", cseq, NULL, NULL, 0);
        return;
    }
    unsigned a = 0, b = 1;
    const char *il = strstr(tr, "interleaved=");
    if (il && sscanf(il + 12, "%u-%u", &a, &b) < 1) a = 0;
    if (a > 254) a = 0;
    if (c->playing) stop_playing(c);
    c->mount = m;
    c->channel = (uint8_t)a;
    c->setup = 1;
    snprintf(hdr, sizeof(hdr),
             "Transport: RTP/AVP/TCP;unicast;interleaved=%u-%u;ssrc=%08X\r\n"
             "Session: %08X;timeout=60\r\n",
             a, a + 1, c->ssrc, c->session_id);
    reply(c, 200, "OK", cseq, hdr, NULL, 0);
}

static void play(conn *c, const char *url, const char *cseq)
{
    fs_server *s = c->srv;
    const fs_source *src = s->src;
    char hdr[1400];
    if (!c->setup || c->mount < 0) {
        reply(c, 455, "Method Not Valid in This State", cseq, NULL, NULL, 0);
        return;
    }
    if (!c->playing) {
        fs_mount *m = &s->mounts[c->mount];
        /* Start at an IDR; spread mounts (and successive sessions) over the IDRs. */
        c->cur = src->idr_index[((size_t)c->mount * 7 + m->sessions) % src->nidr];
        c->loop_base = 0;
        c->start_due = src->pkts[c->cur].due;
        c->start_us = mono_us();
        c->drained = 0;
        c->playing = 1;
        s->playing++;
        c->bucket = (unsigned)(s->next_session % FS_BUCKETS);
        m->sessions++;
        m->clients++;
        bucket_add(c);
    }
    size_t ul = strlen(url);
    while (ul && url[ul - 1] == '/') ul--;
    if (ul > 1000) ul = 1000;
    snprintf(hdr, sizeof(hdr),
             "Session: %08X;timeout=60\r\nRange: npt=0.000-\r\n"
             "RTP-Info: url=%.*s/trackID=0;seq=%u;rtptime=%u\r\n",
             c->session_id, (int)ul, url, (unsigned)c->seq,
             (unsigned)(c->ts_base + (uint32_t)src->pkts[c->cur].ts));
    reply(c, 200, "OK", cseq, hdr, NULL, 0);
}

static void handle_request(conn *c, char *req)
{
    char method[32], url[1024], cseq[32] = "0", sess[64];
    if (sscanf(req, "%31s %1023s", method, url) != 2) {
        reply(c, 400, "Bad Request", cseq, NULL, NULL, 1);
        return;
    }
    header(req, "CSeq", cseq, sizeof(cseq));
    for (char *p = cseq; *p; p++)
        if (*p < '0' || *p > '9') *p = '\0';
    snprintf(sess, sizeof(sess), "Session: %08X\r\n", c->session_id);
    if (!strcmp(method, "OPTIONS")) {
        reply(c, 200, "OK", cseq,
              "Public: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, "
              "SET_PARAMETER\r\n",
              NULL, 0);
    } else if (!strcmp(method, "DESCRIBE") || !strcmp(method, "SETUP")) {
        int m = mount_of(c->srv, url);
        if (m < 0 || (c->mount >= 0 && c->setup && m != c->mount)) {
            reply(c, 404, "Not Found", cseq, NULL, NULL, 0);
        } else if (method[0] == 'D') {
            describe(c, url, cseq, m);
        } else {
            setup(c, req, cseq, m);
        }
    } else if (!strcmp(method, "PLAY")) {
        play(c, url, cseq);
    } else if (!strcmp(method, "PAUSE")) {
        stop_playing(c);
        reply(c, 200, "OK", cseq, sess, NULL, 0);
    } else if (!strcmp(method, "GET_PARAMETER") || !strcmp(method, "SET_PARAMETER")) {
        reply(c, 200, "OK", cseq, sess, NULL, 0);
    } else if (!strcmp(method, "TEARDOWN")) {
        stop_playing(c);
        reply(c, 200, "OK", cseq, sess, NULL, 1);
    } else {
        reply(c, 501, "Not Implemented", cseq, NULL, NULL, 0);
    }
}

/* Consumes whole requests and interleaved frames (RTCP from the client) from rbuf. */
static void parse_input(conn *c)
{
    size_t off = 0;
    while (!c->closing && off < c->rlen) {
        char *p = c->rbuf + off;
        size_t left = c->rlen - off;
        if (p[0] == '$') {
            if (left < 4) break;
            size_t n = 4 + ((size_t)(uint8_t)p[2] << 8 | (uint8_t)p[3]);
            if (left < n) break;
            off += n;
            continue;
        }
        if (p[0] == '\r' || p[0] == '\n') {
            off++;
            continue;
        }
        /* rbuf always keeps one spare byte, so the request can be NUL-terminated. */
        char save = p[left];
        p[left] = '\0';
        char *end = strstr(p, "\r\n\r\n");
        p[left] = save;
        if (!end) break;
        size_t hlen = (size_t)(end - p) + 4;
        char cl[32];
        size_t body = 0;
        save = p[hlen];
        p[hlen] = '\0';
        if (header(p, "Content-Length", cl, sizeof(cl))) body = strtoul(cl, NULL, 10);
        if (body > FS_MAX_REQUEST || left < hlen + body) {
            p[hlen] = save;
            if (body > FS_MAX_REQUEST) conn_close(c);
            break;
        }
        handle_request(c, p);
        p[hlen] = save;
        off += hlen + body;
    }
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->rlen + 1 >= FS_MAX_REQUEST) conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn *c = vg_container_of(h, conn, tcp);
    (void)hint;
    if (c->rcap - c->rlen < 2048 && c->rcap < FS_MAX_REQUEST) {
        size_t n = c->rcap ? c->rcap * 2 : 4096;
        char *q = realloc(c->rbuf, n);
        if (q) {
            c->rbuf = q;
            c->rcap = n;
        }
    }
    /* Keep one byte spare for parse_input's terminator. */
    size_t room = c->rcap > c->rlen + 1 ? c->rcap - c->rlen - 1 : 0;
    *buf = uv_buf_init(room ? c->rbuf + c->rlen : NULL, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn *c = vg_container_of(st, conn, tcp);
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->rlen += (size_t)n;
    parse_input(c);
}

static void on_connection(uv_stream_t *l, int status)
{
    fs_server *s = vg_container_of(l, fs_server, listener);
    if (status < 0 || s->closing) return;
    conn *c = calloc(1, sizeof(*c));
    if (!c) return;
    c->hdrs = malloc(FS_MAX_BATCH * FS_HDR);
    c->bufs = malloc(2 * FS_MAX_BATCH * sizeof(uv_buf_t));
    if (!c->hdrs || !c->bufs || uv_tcp_init(s->loop, &c->tcp) < 0) {
        free(c->hdrs);
        free(c->bufs);
        free(c);
        return;
    }
    c->srv = s;
    c->mount = -1;
    s->handles++;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    uint32_t r = ++s->next_session;
    /* Per-session identities: distinct and not sequential (a hash of the counter). */
    uint32_t h = r * 2654435761u;
    c->session_id = h ^ 0x5a5a0000u;
    c->ssrc = h ^ 0x13572468u;
    c->ts_base = h * 2246822519u;
    c->seq = (uint16_t)(h >> 7);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) conn_close(c);
}

/* ---- server ---- */

static void on_server_handle_closed(uv_handle_t *h)
{
    server_unref(h->data);
}

int fs_server_start(uv_loop_t *loop, const fs_server_opts *opts, fs_server **out)
{
    struct sockaddr_in addr;
    fs_server *s = NULL;
    int r;
    *out = NULL;
    if (opts->cameras < 1 || !opts->src || !opts->src->npkts || opts->tick_ms < FS_BUCKETS)
        return -EINVAL;
    if ((r = uv_ip4_addr(opts->address, opts->port, &addr)) < 0) return r;
    if (!(s = calloc(1, sizeof(*s)))) return -ENOMEM;
    if (!(s->mounts = calloc((size_t)opts->cameras, sizeof(fs_mount)))) {
        free(s);
        return -ENOMEM;
    }
    s->loop = loop;
    s->o = *opts;
    s->src = opts->src;
    uv_tcp_init(loop, &s->listener);
    uv_timer_init(loop, &s->timer);
    s->listener.data = s->timer.data = s;
    s->handles = 2;
    if ((r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0)) < 0 ||
        (r = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) < 0) {
        fs_server_close(s);
        return r;
    }
    struct sockaddr_storage sa;
    int len = sizeof(sa);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&sa, &len);
    s->port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
    uint64_t period = (uint64_t)(opts->tick_ms / FS_BUCKETS);
    uv_timer_start(&s->timer, on_tick, period, period);
    *out = s;
    return 0;
}

int fs_server_port(const fs_server *s)
{
    return s->port;
}

void fs_server_drain(fs_server *s)
{
    s->draining = 1;
}

void fs_server_write_stats(const fs_server *s, FILE *f, int per_camera)
{
    uint64_t fr = 0, by = 0, sk = 0, se = 0, cl = 0;
    int64_t behind = 0;
    for (int i = 0; i < s->o.cameras; i++) {
        const fs_mount *m = &s->mounts[i];
        if (per_camera)
            fprintf(f,
                    "{\"camera\":\"%s%d\",\"frames_sent\":%llu,\"bytes_sent\":%llu,"
                    "\"frames_skipped\":%llu,\"sessions\":%llu,\"clients\":%u,"
                    "\"behind_ms_max\":%lld}\n",
                    s->o.prefix, i + 1, (unsigned long long)m->frames_sent,
                    (unsigned long long)m->bytes_sent, (unsigned long long)m->frames_skipped,
                    (unsigned long long)m->sessions, m->clients, (long long)(m->behind_max / 90));
        if (m->behind_max > behind) behind = m->behind_max;
        fr += m->frames_sent;
        by += m->bytes_sent;
        sk += m->frames_skipped;
        se += m->sessions;
        cl += m->clients;
    }
    if (!per_camera)
        fprintf(f,
                "{\"cameras\":%d,\"frames_sent\":%llu,\"bytes_sent\":%llu,\"frames_skipped\":%llu,"
                "\"sessions\":%llu,\"clients\":%llu,\"behind_ms_max\":%lld,"
                "\"late_ms_max\":%lld,\"draining\":%s}\n",
                s->o.cameras, (unsigned long long)fr, (unsigned long long)by,
                (unsigned long long)sk, (unsigned long long)se, (unsigned long long)cl,
                (long long)(behind / 90), (long long)(s->tick_late_max / 1000),
                s->draining ? "true" : "false");
}

void fs_server_close(fs_server *s)
{
    if (!s || s->closing) return;
    s->closing = 1;
    while (s->conns) conn_close(s->conns);
    uv_close((uv_handle_t *)&s->timer, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
}
