/*
 * RTSP message parsing over an untrusted byte stream. The parser is stateless
 * and works in place: it is handed the bytes received so far and either says
 * "need more" or returns a message whose header names, values and body point
 * into those bytes, plus how many bytes it took. Re-parsing from the start on
 * more data is cheap because messages are small and every size is capped
 * (line 8 KiB, header block 64 KiB, body 64 KiB); a stream that exceeds a cap
 * is an error, never an allocation.
 *
 * rtsp_demux_next() splits a TCP stream shared by RTSP messages and
 * interleaved '$' RTP/RTCP frames (RFC 2326 10.12), resynchronizing on
 * garbage. The small header-value parsers (Session, Transport, RTP-Info,
 * URLs) live here too.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "ingest/rtsp/rtsp_internal.h"

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finds the end of the line starting at off. 0 with *eol (end of content) and
 * *next (start of the following line), -EAGAIN, or -E2BIG. */
static int find_line(const uint8_t *b, size_t len, size_t off, size_t *eol, size_t *next)
{
    size_t lim = len - off > RTSP_MAX_LINE + 1 ? off + RTSP_MAX_LINE + 1 : len;
    const uint8_t *nl = memchr(b + off, '\n', lim - off);
    if (!nl) return lim == len ? -EAGAIN : -E2BIG;
    size_t e = (size_t)(nl - b);
    *next = e + 1;
    if (e > off && b[e - 1] == '\r') e--;
    *eol = e;
    return 0;
}

static int parse_uint(const char *s, size_t n, long max, long *out)
{
    long v = 0;
    size_t i = 0;
    while (i < n && is_blank((unsigned char)s[i]))
        i++;
    if (i == n || !isdigit((unsigned char)s[i])) return -EBADMSG;
    for (; i < n && isdigit((unsigned char)s[i]); i++) {
        v = v * 10 + (s[i] - '0');
        if (v > max) return -E2BIG;
    }
    while (i < n && is_blank((unsigned char)s[i]))
        i++;
    if (i != n) return -EBADMSG;
    *out = v;
    return 0;
}

static int parse_first_line(const char *s, size_t n, rtsp_msg *m)
{
    if (n >= 5 && memcmp(s, "RTSP/", 5) == 0) {
        /* RTSP/1.0 SP 3DIGIT [SP reason] */
        size_t i = 5;
        while (i < n && s[i] != ' ')
            i++;
        while (i < n && s[i] == ' ')
            i++;
        if (i + 3 > n || !isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[i + 1]) ||
            !isdigit((unsigned char)s[i + 2]) || (i + 3 < n && s[i + 3] != ' '))
            return -EBADMSG;
        m->is_response = 1;
        m->status = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
        if (m->status < 100) return -EBADMSG;
        i += 3;
        while (i < n && s[i] == ' ')
            i++;
        m->reason = s + i;
        m->reason_len = n - i;
        return 0;
    }
    /* METHOD SP URI SP RTSP/1.0 */
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s) return -EBADMSG;
    for (const char *p = s; p < sp1; p++)
        if (!isupper((unsigned char)*p) && *p != '_' && *p != '-') return -EBADMSG;
    const char *u = sp1 + 1;
    const char *sp2 = memchr(u, ' ', (size_t)(s + n - u));
    if (!sp2 || (size_t)(s + n - (sp2 + 1)) < 5 || memcmp(sp2 + 1, "RTSP/", 5) != 0)
        return -EBADMSG;
    m->method = s;
    m->method_len = (size_t)(sp1 - s);
    m->uri = u;
    m->uri_len = (size_t)(sp2 - u);
    return 0;
}

int rtsp_msg_parse(const uint8_t *buf, size_t len, rtsp_msg *m)
{
    size_t off = 0, eol, next;
    int r;
    memset(m, 0, sizeof(*m));
    m->cseq = -1;

    if ((r = find_line(buf, len, 0, &eol, &next)) < 0) return r;
    if ((r = parse_first_line((const char *)buf, eol, m)) < 0) return r;
    off = next;

    long clen = 0;
    for (;;) {
        if (off > RTSP_MAX_HEADER_BYTES) return -E2BIG;
        if ((r = find_line(buf, len, off, &eol, &next)) < 0)
            return (r == -EAGAIN && len > RTSP_MAX_HEADER_BYTES) ? -E2BIG : r;
        const char *s = (const char *)buf + off;
        size_t n = eol - off;
        off = next;
        if (n == 0) break;
        if (s[0] == ' ' || s[0] == '\t') {
            /* obsolete line folding: the value runs on to this line's end */
            if (m->n_headers > 0) {
                rtsp_header *h = &m->headers[m->n_headers - 1];
                h->value_len = (size_t)(s + n - h->value);
            }
            continue;
        }
        const char *colon = memchr(s, ':', n);
        if (!colon || colon == s) return -EBADMSG;
        if (m->n_headers == RTSP_MAX_HEADERS)
            continue; /* more are ignored; the byte cap still holds */
        rtsp_header *h = &m->headers[m->n_headers++];
        h->name = s;
        h->name_len = (size_t)(colon - s);
        while (h->name_len && is_blank((unsigned char)s[h->name_len - 1]))
            h->name_len--;
        const char *v = colon + 1, *ve = s + n;
        while (v < ve && is_blank((unsigned char)*v))
            v++;
        while (ve > v && is_blank((unsigned char)ve[-1]))
            ve--;
        h->value = v;
        h->value_len = (size_t)(ve - v);
        if (h->name_len == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
            if ((r = parse_uint(v, h->value_len, RTSP_MAX_BODY, &clen)) < 0) return r;
        } else if (h->name_len == 4 && strncasecmp(s, "CSeq", 4) == 0) {
            long cs;
            if (parse_uint(v, h->value_len, 0x7fffffff, &cs) == 0) m->cseq = (int)cs;
        }
    }
    if (len - off < (size_t)clen) return -EAGAIN;
    m->body = buf + off;
    m->body_len = (size_t)clen;
    return (int)(off + (size_t)clen);
}

const rtsp_header *rtsp_msg_header(const rtsp_msg *m, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < m->n_headers; i++)
        if (m->headers[i].name_len == n && strncasecmp(m->headers[i].name, name, n) == 0)
            return &m->headers[i];
    return NULL;
}

static void copy_str(char *out, size_t outlen, const char *s, size_t n)
{
    if (!outlen) return;
    if (n >= outlen) n = outlen - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

int rtsp_msg_header_str(const rtsp_msg *m, const char *name, char *out, size_t outlen)
{
    const rtsp_header *h = rtsp_msg_header(m, name);
    if (!h) {
        if (outlen) out[0] = 0;
        return -ENOENT;
    }
    copy_str(out, outlen, h->value, h->value_len);
    return 0;
}

/* Whether buf could start an RTSP message: 1 yes, 0 no, -EAGAIN too short to say. */
static int looks_like_msg(const uint8_t *b, size_t len)
{
    static const char rtsp[] = "RTSP/";
    size_t n = len < 5 ? len : 5;
    if (memcmp(b, rtsp, n) == 0) return n == 5 ? 1 : -EAGAIN;
    for (size_t i = 0; i < len && i <= 24; i++) {
        if (b[i] == ' ') return i > 0;
        if (!isupper(b[i]) && b[i] != '_' && b[i] != '-') return 0;
    }
    return len <= 24 ? -EAGAIN : 0;
}

int rtsp_demux_next(const uint8_t *buf, size_t len, rtsp_item *item)
{
    if (len == 0) return -EAGAIN;
    if (buf[0] == '$') {
        if (len < 4) return -EAGAIN;
        size_t n = ((size_t)buf[2] << 8) | buf[3];
        if (len < 4 + n) return -EAGAIN;
        item->type = RTSP_ITEM_INTERLEAVED;
        item->channel = buf[1];
        item->data = buf + 4;
        item->len = n;
        return (int)(4 + n);
    }
    int lm = looks_like_msg(buf, len);
    if (lm < 0) return lm;
    if (lm == 1) {
        int r = rtsp_msg_parse(buf, len, &item->msg);
        if (r > 0) {
            item->type = RTSP_ITEM_MESSAGE;
            item->data = buf;
            item->len = (size_t)r;
        }
        return r;
    }
    /* garbage: skip to the next '$' or "RTSP/" */
    size_t i = 1;
    for (; i < len; i++) {
        if (buf[i] == '$') break;
        if (buf[i] == 'R' && (len - i < 5 || memcmp(buf + i, "RTSP/", 5) == 0)) break;
    }
    item->type = RTSP_ITEM_SKIP;
    item->data = buf;
    item->len = i;
    return (int)i;
}

/* Iterates "a;b=c;d" parameters: returns 1 with key/val spans, 0 at the end. */
static int next_param(const char **p, const char *end, char sep, const char **k, size_t *kl,
                      const char **v, size_t *vl)
{
    const char *s = *p;
    while (s < end && (is_blank((unsigned char)*s) || *s == sep))
        s++;
    if (s >= end) return 0;
    const char *e = memchr(s, sep, (size_t)(end - s));
    if (!e) e = end;
    *p = e;
    const char *eq = memchr(s, '=', (size_t)(e - s));
    const char *ke = eq ? eq : e;
    while (ke > s && is_blank((unsigned char)ke[-1]))
        ke--;
    *k = s;
    *kl = (size_t)(ke - s);
    if (eq) {
        const char *vs = eq + 1, *ve = e;
        while (vs < ve && is_blank((unsigned char)*vs))
            vs++;
        while (ve > vs && is_blank((unsigned char)ve[-1]))
            ve--;
        *v = vs;
        *vl = (size_t)(ve - vs);
    } else {
        *v = e;
        *vl = 0;
    }
    return 1;
}

static int key_is(const char *k, size_t kl, const char *name)
{
    return strlen(name) == kl && strncasecmp(k, name, kl) == 0;
}

int rtsp_parse_session(const char *v, size_t len, char *id, size_t idlen, int *timeout_s)
{
    const char *semi = memchr(v, ';', len);
    size_t n = semi ? (size_t)(semi - v) : len;
    while (n && is_blank((unsigned char)v[n - 1]))
        n--;
    if (n == 0) return -EBADMSG;
    copy_str(id, idlen, v, n);
    *timeout_s = 60;
    if (semi) {
        const char *p = semi, *end = v + len, *k, *val;
        size_t kl, vl;
        while (next_param(&p, end, ';', &k, &kl, &val, &vl)) {
            long t;
            if (key_is(k, kl, "timeout") && parse_uint(val, vl, 86400, &t) == 0 && t > 0)
                *timeout_s = (int)t;
        }
    }
    return 0;
}

static int parse_pair(const char *v, size_t vl, int out[2])
{
    long a, b;
    const char *dash = memchr(v, '-', vl);
    if (!dash) {
        if (parse_uint(v, vl, 65535, &a) < 0) return -EBADMSG;
        out[0] = (int)a;
        out[1] = (int)a + 1;
        return 0;
    }
    if (parse_uint(v, (size_t)(dash - v), 65535, &a) < 0 ||
        parse_uint(dash + 1, (size_t)(v + vl - dash - 1), 65535, &b) < 0)
        return -EBADMSG;
    out[0] = (int)a;
    out[1] = (int)b;
    return 0;
}

int rtsp_parse_transport(const char *v, size_t len, rtsp_transport *t)
{
    memset(t, 0, sizeof(*t));
    t->interleaved[0] = t->interleaved[1] = -1;
    t->client_port[0] = t->client_port[1] = -1;
    t->server_port[0] = t->server_port[1] = -1;
    const char *comma = memchr(v, ',', len); /* only the first transport counts */
    const char *p = v, *end = comma ? comma : v + len, *k, *val;
    size_t kl, vl;
    int n = 0;
    while (next_param(&p, end, ';', &k, &kl, &val, &vl)) {
        if (n++ == 0) {
            if (kl >= 7 && strncasecmp(k, "RTP/AVP", 7) == 0)
                t->tcp = kl == 11 && strncasecmp(k + 7, "/TCP", 4) == 0;
            else
                return -EBADMSG;
        } else if (key_is(k, kl, "interleaved")) {
            if (parse_pair(val, vl, t->interleaved) < 0 || t->interleaved[0] > 255 ||
                t->interleaved[1] > 255)
                return -EBADMSG;
        } else if (key_is(k, kl, "client_port")) {
            if (parse_pair(val, vl, t->client_port) < 0) return -EBADMSG;
        } else if (key_is(k, kl, "server_port")) {
            if (parse_pair(val, vl, t->server_port) < 0) return -EBADMSG;
        } else if (key_is(k, kl, "ssrc") && vl > 0 && vl <= 8) {
            char tmp[9];
            copy_str(tmp, sizeof(tmp), val, vl);
            char *e;
            unsigned long s = strtoul(tmp, &e, 16);
            if (*e == 0) {
                t->ssrc = (uint32_t)s;
                t->has_ssrc = 1;
            }
        } else if (key_is(k, kl, "source")) {
            copy_str(t->source, sizeof(t->source), val, vl);
        }
    }
    return n ? 0 : -EBADMSG;
}

int rtsp_parse_rtp_info(const char *v, size_t len, const char *control, uint32_t *rtptime,
                        int *has_rtptime, uint16_t *seq, int *has_seq)
{
    size_t cl = control ? strlen(control) : 0;
    const char *p = v, *end = v + len, *entry, *ev;
    size_t el, evl;
    int entries = 0, found = 0;
    *has_rtptime = *has_seq = 0;
    /* count entries first: a single one matches whatever its url */
    for (const char *q = v; q < end; q++)
        entries += *q == ',';
    entries++;
    while (next_param(&p, end, ',', &entry, &el, &ev, &evl)) {
        const char *ee = p, *q = entry, *k, *val;
        size_t kl, vl;
        int match = entries == 1 || cl == 0;
        uint32_t rt = 0;
        long sq = -1;
        int has_rt = 0;
        while (next_param(&q, ee, ';', &k, &kl, &val, &vl)) {
            if (key_is(k, kl, "url")) {
                if (cl && vl >= cl && memcmp(val + vl - cl, control, cl) == 0) match = 1;
            } else if (key_is(k, kl, "seq")) {
                long s;
                if (parse_uint(val, vl, 65535, &s) == 0) sq = s;
            } else if (key_is(k, kl, "rtptime")) {
                long r;
                if (parse_uint(val, vl, 0xffffffffL, &r) == 0) {
                    rt = (uint32_t)r;
                    has_rt = 1;
                }
            }
        }
        if (match) {
            found = 1;
            if (has_rt) {
                *rtptime = rt;
                *has_rtptime = 1;
            }
            if (sq >= 0) {
                *seq = (uint16_t)sq;
                *has_seq = 1;
            }
            break;
        }
    }
    return found ? 0 : -ENOENT;
}

int rtsp_url_resolve(const char *base, const char *control, char *out, size_t outlen)
{
    int n;
    if (!control || !*control || strcmp(control, "*") == 0)
        n = snprintf(out, outlen, "%s", base);
    else if (strncasecmp(control, "rtsp://", 7) == 0 || strncasecmp(control, "rtsps://", 8) == 0)
        n = snprintf(out, outlen, "%s", control);
    else {
        size_t bl = strlen(base);
        int slash = bl > 0 && base[bl - 1] == '/';
        if (control[0] == '/' && slash) control++;
        n = snprintf(out, outlen, "%s%s%s", base, (slash || control[0] == '/') ? "" : "/", control);
    }
    return (n < 0 || (size_t)n >= outlen) ? -E2BIG : 0;
}

/* Userinfo: a '%' that starts no escape is kept (a password typed as is). */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    return vg_percent_decode(s, n, out, outlen, false) < 0 ? -E2BIG : 0;
}

int rtsp_url_parse(const char *s, rtsp_url *u)
{
    memset(u, 0, sizeof(*u));
    const char *a;
    if (strncasecmp(s, "rtsp://", 7) == 0) {
        a = s + 7;
    } else if (strncasecmp(s, "rtsps://", 8) == 0) {
        a = s + 8;
        u->tls = 1;
    } else {
        return -EINVAL;
    }
    const char *slash = strchr(a, '/');
    const char *aend = slash ? slash : a + strlen(a);
    /* userinfo ends at the last '@' of the authority */
    const char *at = NULL;
    for (const char *p = a; p < aend; p++)
        if (*p == '@') at = p;
    if (at) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        if (pct_decode(a, (size_t)((colon ? colon : at) - a), u->user, sizeof(u->user)) < 0)
            return -E2BIG;
        if (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), u->pass, sizeof(u->pass)) < 0)
            return -E2BIG;
        a = at + 1;
    }
    const char *hend;
    const char *portp = NULL;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(aend - a));
        if (!rb) return -EINVAL;
        copy_str(u->host, sizeof(u->host), a + 1, (size_t)(rb - a - 1));
        hend = rb + 1;
        if (hend < aend && *hend == ':') portp = hend + 1;
    } else {
        const char *colon = memchr(a, ':', (size_t)(aend - a));
        hend = colon ? colon : aend;
        if ((size_t)(hend - a) >= sizeof(u->host)) return -E2BIG;
        copy_str(u->host, sizeof(u->host), a, (size_t)(hend - a));
        if (colon) portp = colon + 1;
    }
    if (!u->host[0]) return -EINVAL;
    u->port = u->tls ? 322 : 554;
    if (portp && portp < aend) {
        long port;
        if (parse_uint(portp, (size_t)(aend - portp), 65535, &port) < 0 || port == 0)
            return -EINVAL;
        u->port = (int)port;
    }
    int n =
        snprintf(u->url, sizeof(u->url), "%s://%.*s%s", u->tls ? "rtsps" : "rtsp", (int)(aend - a),
                 a, slash ? slash : "");
    if (n < 0 || (size_t)n >= sizeof(u->url)) return -E2BIG;
    return 0;
}
