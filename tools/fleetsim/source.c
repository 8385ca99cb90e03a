/*
 * fleetsim source: reads one H.264 stream with libavformat and turns it, once,
 * into the list of RTP payloads every session replays (RFC 6184 packetization
 * mode 1: a NAL unit that fits is sent alone, a larger one as FU-A fragments;
 * the marker bit is set on the last packet of each access unit). SPS and PPS
 * are put in-band in front of every IDR that does not already carry them, as
 * cameras do, so a recorder can start at any IDR and the loop point is clean.
 * Access units before the first IDR are dropped so the list starts at an IDR.
 *
 * Payloads are copied into one arena; packets refer to it by offset. After
 * fs_source_load returns, nothing here is written again, so any number of
 * sessions share it.
 */
#include "tools/fleetsim/fleetsim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/base64.h>

#include "common/common.h"

typedef struct builder {
    fs_source *src;
    size_t arena_cap, pkts_cap, idr_cap;
    int max_payload;
    int64_t frame90; /* one frame in 90 kHz units */
} builder;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Appends one packet whose payload is hdr (hlen bytes, may be 0) then data. */
static int add_packet(builder *b, const uint8_t *hdr, size_t hlen, const uint8_t *data,
                      size_t dlen, int64_t ts)
{
    fs_source *s = b->src;
    int r;
    if ((r = grow((void **)&s->arena, &b->arena_cap, s->arena_len + hlen + dlen, 1)) < 0)
        return r;
    if ((r = grow((void **)&s->pkts, &b->pkts_cap, s->npkts + 1, sizeof(fs_packet))) < 0)
        return r;
    fs_packet *p = &s->pkts[s->npkts++];
    p->off = (uint32_t)s->arena_len;
    p->len = (uint16_t)(hlen + dlen);
    p->marker = 0;
    p->idr = 0;
    p->ts = ts;
    p->due = (int64_t)s->nframes * b->frame90;
    if (hlen) memcpy(s->arena + s->arena_len, hdr, hlen);
    memcpy(s->arena + s->arena_len + hlen, data, dlen);
    s->arena_len += hlen + dlen;
    return 0;
}

static int add_nal(builder *b, const uint8_t *nal, size_t len, int64_t ts)
{
    if (len == 0) return 0;
    if (len <= (size_t)b->max_payload) return add_packet(b, NULL, 0, nal, len, ts);
    /* FU-A: indicator (F, NRI of the NAL, type 28), header (S, E, NAL type). */
    uint8_t fu[2] = {(uint8_t)((nal[0] & 0xe0) | 28), (uint8_t)(nal[0] & 0x1f)};
    size_t chunk = (size_t)b->max_payload - 2;
    const uint8_t *p = nal + 1;
    size_t left = len - 1;
    int first = 1;
    while (left) {
        size_t n = left < chunk ? left : chunk;
        fu[1] = (uint8_t)((nal[0] & 0x1f) | (first ? 0x80 : 0) | (n == left ? 0x40 : 0));
        int r = add_packet(b, fu, 2, p, n, ts);
        if (r < 0) return r;
        p += n;
        left -= n;
        first = 0;
    }
    return 0;
}

/* NAL units of one access unit, as (pointer, length) pairs. */
typedef struct nal_list {
    const uint8_t *p[256];
    size_t len[256];
    int n;
} nal_list;

static void split_annexb(const uint8_t *d, size_t n, nal_list *out)
{
    size_t i = 0, start = SIZE_MAX;
    out->n = 0;
    while (i + 3 <= n) {
        if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
            if (start != SIZE_MAX && out->n < 256) {
                size_t end = i;
                while (end > start && d[end - 1] == 0) end--; /* 4-byte code, trailing zeros */
                out->p[out->n] = d + start;
                out->len[out->n++] = end - start;
            }
            i += 3;
            start = i;
        } else {
            i++;
        }
    }
    if (start != SIZE_MAX && start < n && out->n < 256) {
        out->p[out->n] = d + start;
        out->len[out->n++] = n - start;
    }
}

static int split_avcc(const uint8_t *d, size_t n, int lensize, nal_list *out)
{
    size_t i = 0;
    out->n = 0;
    while (i + (size_t)lensize <= n) {
        size_t len = 0;
        for (int k = 0; k < lensize; k++) len = (len << 8) | d[i + k];
        i += (size_t)lensize;
        if (len > n - i) return AVERROR_INVALIDDATA;
        if (out->n < 256) {
            out->p[out->n] = d + i;
            out->len[out->n++] = len;
        }
        i += len;
    }
    return 0;
}

static int keep_param(uint8_t **dst, size_t *dlen, const uint8_t *nal, size_t len)
{
    if (*dst) return 0;
    *dst = malloc(len);
    if (!*dst) return -ENOMEM;
    memcpy(*dst, nal, len);
    *dlen = len;
    return 0;
}

/* avcC: version, profile, compat, level, 0xfc|lensize-1, 0xe0|nsps, {u16 len, sps}...,
 * npps, {u16 len, pps}... */
static int parse_avcc(fs_source *s, const uint8_t *d, size_t n, int *lensize)
{
    if (n < 7 || d[0] != 1) return AVERROR_INVALIDDATA;
    *lensize = (d[4] & 3) + 1;
    size_t i = 5;
    for (int pass = 0; pass < 2; pass++) {
        if (i >= n) return AVERROR_INVALIDDATA;
        int count = pass == 0 ? (d[i] & 0x1f) : d[i];
        i++;
        for (int k = 0; k < count; k++) {
            if (i + 2 > n) return AVERROR_INVALIDDATA;
            size_t len = (size_t)d[i] << 8 | d[i + 1];
            i += 2;
            if (len == 0 || len > n - i) return AVERROR_INVALIDDATA;
            int r = pass == 0 ? keep_param(&s->sps, &s->sps_len, d + i, len)
                              : keep_param(&s->pps, &s->pps_len, d + i, len);
            if (r < 0) return r;
            i += len;
        }
    }
    return 0;
}

static int add_access_unit(builder *b, const nal_list *nals, int64_t ts, int *started)
{
    fs_source *s = b->src;
    int idr = 0, has_sps = 0, r;
    for (int i = 0; i < nals->n; i++) {
        int t = nals->p[i][0] & 0x1f;
        if (t == 5) idr = 1;
        if (t == 7) {
            has_sps = 1;
            if ((r = keep_param(&s->sps, &s->sps_len, nals->p[i], nals->len[i])) < 0) return r;
        }
        if (t == 8 && (r = keep_param(&s->pps, &s->pps_len, nals->p[i], nals->len[i])) < 0)
            return r;
    }
    if (!*started && !idr) return 0;
    *started = 1;
    size_t first = s->npkts;
    if (idr && !has_sps) {
        if (!s->sps || !s->pps) return AVERROR_INVALIDDATA;
        if ((r = add_nal(b, s->sps, s->sps_len, ts)) < 0) return r;
        if ((r = add_nal(b, s->pps, s->pps_len, ts)) < 0) return r;
    }
    for (int i = 0; i < nals->n; i++) {
        int t = nals->p[i][0] & 0x1f;
        if (t == 9) continue; /* access unit delimiters: not needed over RTP */
        if ((r = add_nal(b, nals->p[i], nals->len[i], ts)) < 0) return r;
    }
    if (s->npkts == first) return 0;
    s->pkts[s->npkts - 1].marker = 1;
    s->nframes++;
    if (idr) {
        s->pkts[first].idr = 1;
        if ((r = grow((void **)&s->idr_index, &b->idr_cap, s->nidr + 1, sizeof(size_t))) < 0)
            return r;
        s->idr_index[s->nidr++] = first;
    }
    return 0;
}

int fs_source_load(fs_source *src, const char *path, int mtu)
{
    AVFormatContext *fmt = NULL;
    AVPacket *pkt = NULL;
    builder b = {.src = src, .max_payload = mtu - FS_RTP_HDR};
    int r, lensize = 0, started = 0;
    int64_t first_ts = AV_NOPTS_VALUE, last_ts = 0, count = 0;
    static nal_list nals; /* 4 KiB; load runs once, on the main thread */

    memset(src, 0, sizeof(*src));
    if (b.max_payload < 64) return -EINVAL;
    if ((r = avformat_open_input(&fmt, path, NULL, NULL)) < 0) goto out;
    if ((r = avformat_find_stream_info(fmt, NULL)) < 0) goto out;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0 || fmt->streams[si]->codecpar->codec_id != AV_CODEC_ID_H264) {
        vg_log(LOG_ERR, "fleetsim: %s: no H.264 video stream", path);
        r = AVERROR_INVALIDDATA;
        goto out;
    }
    AVStream *st = fmt->streams[si];
    src->width = st->codecpar->width;
    src->height = st->codecpar->height;
    AVRational fr = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    src->fps = fr.num && fr.den ? av_q2d(fr) : 25.0;
    const uint8_t *ex = st->codecpar->extradata;
    size_t exn = (size_t)st->codecpar->extradata_size;
    if (exn && ex[0] == 1) {
        if ((r = parse_avcc(src, ex, exn, &lensize)) < 0) goto out;
    } else if (exn) {
        split_annexb(ex, exn, &nals);
        for (int i = 0; i < nals.n; i++) {
            int t = nals.p[i][0] & 0x1f;
            if (t == 7 && (r = keep_param(&src->sps, &src->sps_len, nals.p[i], nals.len[i])) < 0)
                goto out;
            if (t == 8 && (r = keep_param(&src->pps, &src->pps_len, nals.p[i], nals.len[i])) < 0)
                goto out;
        }
    }
    int64_t frame90 = (int64_t)(90000.0 / src->fps + 0.5);
    b.frame90 = frame90;
    if (!(pkt = av_packet_alloc())) {
        r = -ENOMEM;
        goto out;
    }
    while ((r = av_read_frame(fmt, pkt)) >= 0) {
        if (pkt->stream_index != si) {
            av_packet_unref(pkt);
            continue;
        }
        /* Send order is file (decode) order; the RTP timestamp is the pts. */
        int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        int64_t ts = t != AV_NOPTS_VALUE ? av_rescale_q(t, st->time_base, (AVRational){1, 90000})
                                         : count * frame90;
        count++;
        if (lensize)
            r = split_avcc(pkt->data, (size_t)pkt->size, lensize, &nals);
        else
            split_annexb(pkt->data, (size_t)pkt->size, &nals), r = 0;
        size_t before = src->nframes;
        if (r >= 0) r = add_access_unit(&b, &nals, ts, &started); /* nals point into pkt */
        av_packet_unref(pkt);
        if (r < 0) goto out;
        if (src->nframes > before) {
            if (first_ts == AV_NOPTS_VALUE) first_ts = ts;
            if (ts > last_ts) last_ts = ts;
        }
    }
    if (r != AVERROR_EOF) goto out;
    r = 0;
    if (!src->nidr || !src->sps || !src->pps || src->sps_len < 4) {
        vg_log(LOG_ERR, "fleetsim: %s: no IDR or no SPS/PPS", path);
        r = AVERROR_INVALIDDATA;
        goto out;
    }
    /* Make timestamps start at 0. A B-frame stream's first pts may exceed later ones;
     * clamp at 0 (the RTP timestamp only has to be consistent, not minimal). */
    for (size_t i = 0; i < src->npkts; i++) {
        src->pkts[i].ts -= first_ts;
        if (src->pkts[i].ts < 0) src->pkts[i].ts = 0;
    }
    src->duration = last_ts - first_ts + frame90;
    if (src->duration < (int64_t)src->nframes * frame90)
        src->duration = (int64_t)src->nframes * frame90;
    src->bitrate = (int64_t)((double)src->arena_len * 8 * 90000 / (double)src->duration);
    char a[512], p[512];
    if (!av_base64_encode(a, sizeof(a), src->sps, (int)src->sps_len) ||
        !av_base64_encode(p, sizeof(p), src->pps, (int)src->pps_len)) {
        r = AVERROR_INVALIDDATA;
        goto out;
    }
    snprintf(src->sprop, sizeof(src->sprop), "%s,%s", a, p);
    snprintf(src->profile_level_id, sizeof(src->profile_level_id), "%02x%02x%02x", src->sps[1],
             src->sps[2], src->sps[3]);
out:
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    if (r < 0) fs_source_free(src);
    return r;
}

void fs_source_free(fs_source *src)
{
    if (!src) return;
    free(src->arena);
    free(src->pkts);
    free(src->idr_index);
    free(src->sps);
    free(src->pps);
    memset(src, 0, sizeof(*src));
}
