/*
 * SDP (RFC 4566) for RTSP DESCRIBE answers: only what a recorder needs —
 * media sections, the first payload type of each, rtpmap, fmtp parameters
 * of H.264 (sprop-parameter-sets, packetization-mode), H.265 (sprop-vps/
 * sps/pps) and AAC mpeg4-generic (config, sizelength, indexlength,
 * indexdeltalength, mode), and the control URLs (session-level aggregate and
 * per media). Everything is copied into fixed-size fields of rtsp_sdp_session, so
 * the input can be freed and an oversized value is truncated or refused,
 * never allocated. Unknown lines are ignored, as RFC 4566 asks.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest/rtsp/rtsp_internal.h"

const char *rtsp_codec_name(rtsp_codec c)
{
    switch (c) {
    case RTSP_CODEC_H264:
        return "h264";
    case RTSP_CODEC_H265:
        return "hevc";
    case RTSP_CODEC_AAC:
        return "aac";
    case RTSP_CODEC_PCMU:
        return "pcm_mulaw";
    case RTSP_CODEC_PCMA:
        return "pcm_alaw";
    default:
        return "";
    }
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int rtsp_base64_decode(const char *s, size_t len, uint8_t *out, size_t outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == ',' || c == ';') break;
        if (c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        int v = b64val(c);
        if (v < 0) return -EBADMSG;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen) return -E2BIG;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)o;
}

int rtsp_base64_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = (len + 2) / 3 * 4 + 1, o = 0;
    if (need > outlen) return -E2BIG;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = 0;
    return 0;
}

static void copy_span(char *out, size_t outlen, const char *s, size_t n)
{
    if (n >= outlen) n = outlen - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

static int span_int(const char *s, size_t n, int *out)
{
    char tmp[16];
    if (n == 0 || n >= sizeof(tmp)) return -EBADMSG;
    copy_span(tmp, sizeof(tmp), s, n);
    char *e;
    long v = strtol(tmp, &e, 10);
    if (*e || v < -1000000000L || v > 1000000000L) return -EBADMSG;
    *out = (int)v;
    return 0;
}

/* The first parameter set of a comma-separated base64 list goes into dst;
 * for sprop-parameter-sets the SPS and PPS are told apart by NAL type. */
static void decode_one(const char *v, size_t vl, uint8_t *dst, uint16_t *dst_len)
{
    uint8_t tmp[RTSP_MAX_PARAM_SET];
    int n = rtsp_base64_decode(v, vl, tmp, sizeof(tmp));
    if (n > 0) {
        memcpy(dst, tmp, (size_t)n);
        *dst_len = (uint16_t)n;
    }
}

static void h264_sprops(rtsp_sdp_media *m, const char *v, size_t vl)
{
    const char *p = v, *end = v + vl;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        uint8_t tmp[RTSP_MAX_PARAM_SET];
        int n = rtsp_base64_decode(p, (size_t)(e - p), tmp, sizeof(tmp));
        if (n > 0) {
            int type = tmp[0] & 0x1f;
            if (type == 7 && !m->sps_len) {
                memcpy(m->sps, tmp, (size_t)n);
                m->sps_len = (uint16_t)n;
            } else if (type == 8 && !m->pps_len) {
                memcpy(m->pps, tmp, (size_t)n);
                m->pps_len = (uint16_t)n;
            }
        }
        p = c ? c + 1 : end;
    }
}

static int hexnib(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static int hex_decode(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    if (n % 2 || n / 2 > outlen) return -EBADMSG;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexnib((unsigned char)s[i]), lo = hexnib((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0) return -EBADMSG;
        out[i / 2] = (uint8_t)(hi * 16 + lo);
    }
    return (int)(n / 2);
}

static int kis(const char *k, size_t kl, const char *name)
{
    return strlen(name) == kl && strncasecmp(k, name, kl) == 0;
}

static void parse_fmtp(rtsp_sdp_media *m, const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ';' || *p == '\t'))
            p++;
        if (p >= end) break;
        const char *e = memchr(p, ';', (size_t)(end - p));
        if (!e) e = end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq) {
            const char *k = p, *v = eq + 1;
            size_t kl = (size_t)(eq - p), vl = (size_t)(e - v);
            while (kl && k[kl - 1] == ' ')
                kl--;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            int iv;
            if (kis(k, kl, "packetization-mode") && span_int(v, vl, &iv) == 0)
                m->packetization_mode = iv;
            else if (kis(k, kl, "sprop-parameter-sets"))
                h264_sprops(m, v, vl);
            else if (kis(k, kl, "sprop-vps"))
                decode_one(v, vl, m->vps, &m->vps_len);
            else if (kis(k, kl, "sprop-sps"))
                decode_one(v, vl, m->sps, &m->sps_len);
            else if (kis(k, kl, "sprop-pps"))
                decode_one(v, vl, m->pps, &m->pps_len);
            else if (kis(k, kl, "sprop-max-don-diff") && span_int(v, vl, &iv) == 0)
                m->sprop_max_don_diff = iv;
            else if (kis(k, kl, "config")) {
                int r = hex_decode(v, vl, m->config, sizeof(m->config));
                m->config_len = r > 0 ? (uint16_t)r : 0;
            } else if (kis(k, kl, "sizelength") && span_int(v, vl, &iv) == 0)
                m->sizelength = iv;
            else if (kis(k, kl, "indexlength") && span_int(v, vl, &iv) == 0)
                m->indexlength = iv;
            else if (kis(k, kl, "indexdeltalength") && span_int(v, vl, &iv) == 0)
                m->indexdeltalength = iv;
            else if (kis(k, kl, "constantduration") && span_int(v, vl, &iv) == 0)
                m->constantduration = iv;
            else if (kis(k, kl, "mode"))
                m->aac_hbr = (vl == 7 && (strncasecmp(v, "AAC-hbr", 7) == 0 ||
                                          strncasecmp(v, "AAC-lbr", 7) == 0));
        }
        p = e;
    }
}

static void set_codec(rtsp_sdp_media *m)
{
    const char *e = m->encoding;
    if (strcasecmp(e, "H264") == 0)
        m->codec = RTSP_CODEC_H264;
    else if (strcasecmp(e, "H265") == 0 || strcasecmp(e, "HEVC") == 0)
        m->codec = RTSP_CODEC_H265;
    else if (strcasecmp(e, "MPEG4-GENERIC") == 0 && strcasecmp(m->type, "audio") == 0)
        m->codec = RTSP_CODEC_AAC;
    else if (strcasecmp(e, "PCMU") == 0)
        m->codec = RTSP_CODEC_PCMU;
    else if (strcasecmp(e, "PCMA") == 0)
        m->codec = RTSP_CODEC_PCMA;
    else
        m->codec = RTSP_CODEC_UNKNOWN;
}

/* "a=rtpmap:96 H264/90000[/2]" (after "a=rtpmap:") */
static void parse_rtpmap(rtsp_sdp_media *m, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    int pt;
    if (span_int(s, i, &pt) < 0 || pt != m->payload_type) return;
    while (i < n && s[i] == ' ')
        i++;
    const char *enc = s + i;
    const char *sl = memchr(enc, '/', (size_t)(s + n - enc));
    if (!sl) return;
    copy_span(m->encoding, sizeof(m->encoding), enc, (size_t)(sl - enc));
    const char *r = sl + 1;
    const char *sl2 = memchr(r, '/', (size_t)(s + n - r));
    int rate = 0, ch = 1;
    if (span_int(r, (size_t)((sl2 ? sl2 : s + n) - r), &rate) < 0 || rate <= 0) rate = 0;
    if (sl2 && (span_int(sl2 + 1, (size_t)(s + n - sl2 - 1), &ch) < 0 || ch < 1 || ch > 8)) ch = 1;
    m->clock_rate = (uint32_t)rate;
    m->channels = ch;
    set_codec(m);
}

/* "m=video 0 RTP/AVP 96 97" (after "m=") */
static int parse_m(rtsp_sdp_media *m, const char *s, size_t n)
{
    memset(m, 0, sizeof(*m));
    m->payload_type = -1;
    m->channels = 1;
    const char *f[4];
    size_t fl[4];
    int nf = 0;
    const char *p = s, *end = s + n;
    while (p < end && nf < 4) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end) break;
        const char *e = memchr(p, ' ', (size_t)(end - p));
        if (!e) e = end;
        f[nf] = p;
        fl[nf++] = (size_t)(e - p);
        p = e;
    }
    if (nf < 4) return -EBADMSG;
    copy_span(m->type, sizeof(m->type), f[0], fl[0]);
    const char *slash = memchr(f[1], '/', fl[1]);
    if (span_int(f[1], slash ? (size_t)(slash - f[1]) : fl[1], &m->port) < 0) m->port = 0;
    int pt;
    if (span_int(f[3], fl[3], &pt) == 0 && pt >= 0 && pt < 128) m->payload_type = pt;
    /* static payload types (RFC 3551) when there is no rtpmap */
    if (pt == 0 || pt == 8) {
        strcpy(m->encoding, pt == 0 ? "PCMU" : "PCMA");
        m->clock_rate = 8000;
        set_codec(m);
    }
    return 0;
}

int rtsp_sdp_parse(const char *s, size_t len, rtsp_sdp_session *out)
{
    memset(out, 0, sizeof(*out));
    if (len > RTSP_MAX_SDP) return -E2BIG;
    const char *p = s, *end = s + len;
    rtsp_sdp_media *cur = NULL;
    int skipping = 0; /* inside a media section past RTSP_SDP_MAX_MEDIA */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *ln = p;
        p = nl ? nl + 1 : end;
        if (le > ln && le[-1] == '\r') le--;
        size_t n = (size_t)(le - ln);
        if (n < 2 || ln[1] != '=') continue;
        const char *v = ln + 2;
        size_t vl = n - 2;
        if (ln[0] == 'm') {
            if (out->n_media == RTSP_SDP_MAX_MEDIA) {
                skipping = 1;
                cur = NULL;
                continue;
            }
            cur = &out->media[out->n_media];
            if (parse_m(cur, v, vl) < 0) {
                skipping = 1;
                cur = NULL;
                continue;
            }
            skipping = 0;
            out->n_media++;
            continue;
        }
        if (ln[0] != 'a' || skipping) continue;
        if (vl >= 8 && strncasecmp(v, "control:", 8) == 0) {
            if (cur)
                copy_span(cur->control, sizeof(cur->control), v + 8, vl - 8);
            else
                copy_span(out->control, sizeof(out->control), v + 8, vl - 8);
        } else if (cur && vl >= 7 && strncasecmp(v, "rtpmap:", 7) == 0) {
            parse_rtpmap(cur, v + 7, vl - 7);
        } else if (cur && vl >= 5 && strncasecmp(v, "fmtp:", 5) == 0) {
            size_t i = 5;
            while (i < vl && isdigit((unsigned char)v[i]))
                i++;
            int pt;
            if (span_int(v + 5, i - 5, &pt) == 0 && pt == cur->payload_type)
                parse_fmtp(cur, v + i, vl - i);
        }
    }
    /* defaults */
    for (int i = 0; i < out->n_media; i++) {
        rtsp_sdp_media *m = &out->media[i];
        if (m->codec == RTSP_CODEC_AAC) {
            if (!m->aac_hbr || m->sizelength <= 0 || m->sizelength > 16 || m->indexlength < 0 ||
                m->indexlength > 16 || m->indexdeltalength < 0 || m->indexdeltalength > 16)
                m->codec = RTSP_CODEC_UNKNOWN; /* only AAC-hbr/lbr are supported */
        }
        if ((m->codec == RTSP_CODEC_H264 || m->codec == RTSP_CODEC_H265) && !m->clock_rate)
            m->clock_rate = 90000;
        if (m->codec != RTSP_CODEC_UNKNOWN && !m->clock_rate) m->codec = RTSP_CODEC_UNKNOWN;
    }
    return 0;
}
