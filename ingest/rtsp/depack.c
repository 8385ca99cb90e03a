/*
 * Depacketizer core: the access-unit buffer shared by the H.264 and H.265
 * depacketizers and the dispatch from an RTP packet to its codec.
 *
 * A video access unit is assembled NAL by NAL in one growing buffer, each NAL
 * behind a 4-byte prefix (start code or length) so the unit is handed out
 * without another copy. The buffer starts with RTSP__AU_ROOM spare bytes: when
 * a keyframe arrives without in-band parameter sets, the latest VPS/SPS/PPS
 * are written just before it and the unit is still handed out in one piece.
 * With an alloc callback, video units are built in the consumer's buffer
 * instead (vigild's segmenter: the unit is then already where it is kept
 * until written); there is no room there, so parameter sets are not
 * inserted (MP4 keeps them in the sample entry).
 *
 * A unit ends on the RTP marker bit or when the timestamp changes (a lost
 * marker). Any loss inside a unit, a fragment without its start or end, or a
 * unit over max_frame marks it damaged: it is dropped and counted, never
 * handed out half-built.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static int is_video(const rtsp_depack *d)
{
    return d->codec == RTSP_CODEC_H264 || d->codec == RTSP_CODEC_H265;
}

int rtsp_depack_init(rtsp_depack *d, const rtsp_sdp_media *m, int track, rtsp_au_cb cb, void *opaque)
{
    memset(d, 0, sizeof(*d));
    d->codec = m ? m->codec : RTSP_CODEC_UNKNOWN;
    d->track = track;
    d->cb = cb;
    d->opaque = opaque;
    d->insert_params = 1;
    d->max_frame = RTSP_MAX_FRAME;
    d->room = RTSP__AU_ROOM;
    switch (d->codec) {
    case RTSP_CODEC_H264:
    case RTSP_CODEC_H265:
        memcpy(d->vps, m->vps, m->vps_len);
        d->vps_len = m->vps_len;
        memcpy(d->sps, m->sps, m->sps_len);
        d->sps_len = m->sps_len;
        memcpy(d->pps, m->pps, m->pps_len);
        d->pps_len = m->pps_len;
        d->donl = d->codec == RTSP_CODEC_H265 && m->sprop_max_don_diff > 0;
        return 0;
    case RTSP_CODEC_AAC:
        d->sizelength = m->sizelength;
        d->indexlength = m->indexlength;
        d->indexdeltalength = m->indexdeltalength;
        d->constantduration = m->constantduration > 0 ? m->constantduration : 1024;
        if (d->sizelength <= 0 || d->sizelength > 16 || d->indexlength < 0 || d->indexlength > 16 ||
            d->indexdeltalength < 0 || d->indexdeltalength > 16)
            return -ENOTSUP;
        return 0;
    case RTSP_CODEC_PCMU:
    case RTSP_CODEC_PCMA:
        return 0;
    default:
        return -ENOTSUP;
    }
}

void rtsp_depack_free(rtsp_depack *d)
{
    free(d->own);
    d->own = d->au = NULL;
    d->own_cap = d->au_cap = d->au_len = 0;
    d->au_ext = 0;
}

/* Makes room for n more bytes after the unit; 0 or -E2BIG/-ENOMEM (unit damaged). */
static int reserve(rtsp_depack *d, size_t n)
{
    if (d->au_damaged) return -EINVAL;
    if (d->au_len + n > d->max_frame) {
        d->au_damaged = 1;
        if (!d->au_overflow) d->st.overflows++;
        d->au_overflow = 1;
        return -E2BIG;
    }
    size_t need = d->room + d->au_len + n;
    if (need <= d->au_cap) return 0;
    size_t cap = d->au_cap ? d->au_cap : 64 * 1024;
    while (cap < need)
        cap *= 2;
    if (cap > d->room + d->max_frame) cap = d->room + d->max_frame;
    uint8_t *nb;
    if (d->au_ext) {
        /* the consumer keeps the unit so far (au_len bytes) where it was */
        nb = d->alloc(d->alloc_opaque, d->track, d->au_len, cap);
    } else {
        nb = realloc(d->own, cap);
        if (nb) {
            d->own = nb;
            d->own_cap = cap;
        }
    }
    if (!nb) {
        d->au_damaged = 1;
        return -ENOMEM;
    }
    d->au = nb;
    d->au_cap = cap;
    return 0;
}

static uint8_t *au_data(rtsp_depack *d)
{
    return d->au + d->room;
}

void rtsp__au_start(rtsp_depack *d, uint32_t ts)
{
    if (d->au_open) rtsp__au_emit(d);
    d->au_open = 1;
    d->au_ts = ts;
    d->au_len = 0;
    /* where this unit is built: the consumer's buffer if it gives one */
    size_t first = d->max_frame < 64 * 1024 ? d->max_frame : 64 * 1024;
    uint8_t *ext = d->alloc && is_video(d) ? d->alloc(d->alloc_opaque, d->track, 0, first) : NULL;
    if (ext) {
        d->au_ext = 1;
        d->au = ext;
        d->au_cap = first;
        d->room = 0;
    } else {
        d->au_ext = 0;
        d->au = d->own;
        d->au_cap = d->own_cap;
        d->room = RTSP__AU_ROOM;
    }
    d->au_damaged = d->au_overflow = d->au_key = 0;
    d->au_has_sps = d->au_has_pps = d->au_has_vps = d->au_sps_intra = d->au_has_vcl = 0;
    d->frag_open = 0;
}

void rtsp__au_begin_nal(rtsp_depack *d)
{
    if (d->frag_open) rtsp__au_abort_nal(d);
    if (reserve(d, 4) < 0) return;
    d->au_len += 4;
    d->frag_start = d->au_len;
    d->frag_open = 1;
}

void rtsp__au_append(rtsp_depack *d, const uint8_t *p, size_t n)
{
    if (!d->frag_open || reserve(d, n) < 0) return;
    memcpy(au_data(d) + d->au_len, p, n);
    d->au_len += n;
}

void rtsp__au_abort_nal(rtsp_depack *d)
{
    if (d->frag_open && d->frag_start >= 4 && d->frag_start <= d->au_len)
        d->au_len = d->frag_start - 4;
    d->frag_open = 0;
    d->au_damaged = 1;
}

const uint8_t *rtsp__au_end_nal(rtsp_depack *d, size_t *n)
{
    if (!d->frag_open || d->au_damaged) {
        d->frag_open = 0;
        return NULL;
    }
    d->frag_open = 0;
    size_t len = d->au_len - d->frag_start;
    if (len == 0) { /* an empty NAL: drop the prefix */
        d->au_len -= 4;
        return NULL;
    }
    uint8_t *pre = au_data(d) + d->frag_start - 4;
    if (d->length_prefixed) {
        pre[0] = (uint8_t)(len >> 24);
        pre[1] = (uint8_t)(len >> 16);
        pre[2] = (uint8_t)(len >> 8);
        pre[3] = (uint8_t)len;
    } else {
        pre[0] = pre[1] = pre[2] = 0;
        pre[3] = 1;
    }
    *n = len;
    return pre + 4;
}

const uint8_t *rtsp__au_add_nal(rtsp_depack *d, const uint8_t *nal, size_t n)
{
    rtsp__au_begin_nal(d);
    rtsp__au_append(d, nal, n);
    return rtsp__au_end_nal(d, &n);
}

void rtsp__store_param(uint8_t *dst, uint16_t *dst_len, const uint8_t *nal, size_t n, int *changed)
{
    if (n == 0 || n > RTSP_MAX_PARAM_SET) return;
    if (*dst_len == n && memcmp(dst, nal, n) == 0) return;
    memcpy(dst, nal, n);
    *dst_len = (uint16_t)n;
    *changed = 1;
}

/* Writes prefix + param just before *start; returns 0 or -1 if it does not fit. */
static int prepend(rtsp_depack *d, uint8_t **start, const uint8_t *p, size_t n)
{
    if (n == 0) return 0;
    if ((size_t)(*start - d->au) < n + 4) return -1;
    *start -= n + 4;
    uint8_t *q = *start;
    if (d->length_prefixed) {
        q[0] = (uint8_t)(n >> 24);
        q[1] = (uint8_t)(n >> 16);
        q[2] = (uint8_t)(n >> 8);
        q[3] = (uint8_t)n;
    } else {
        q[0] = q[1] = q[2] = 0;
        q[3] = 1;
    }
    memcpy(q + 4, p, n);
    return 0;
}

void rtsp__au_emit(rtsp_depack *d)
{
    if (!d->au_open) return;
    if (d->frag_open) rtsp__au_abort_nal(d);
    d->au_open = 0;
    if (d->au_damaged) {
        d->st.dropped_aus++;
        return;
    }
    if (d->au_len == 0) return;
    if (is_video(d) && !d->au_has_vcl) {
        /* Parameter sets / SEI alone: some servers stamp them with the previous
         * picture's time. They are not a frame; the stored sets go in front of
         * the next keyframe. */
        d->st.param_only_aus++;
        return;
    }
    uint8_t *start = au_data(d);
    int key = d->au_key || d->au_sps_intra;
    if (is_video(d) && key && d->insert_params && !d->au_has_sps) {
        /* written back to front: PPS, SPS, VPS */
        if (!d->au_has_pps) prepend(d, &start, d->pps, d->pps_len);
        prepend(d, &start, d->sps, d->sps_len);
        if (d->codec == RTSP_CODEC_H265 && !d->au_has_vps) prepend(d, &start, d->vps, d->vps_len);
    }
    d->st.aus++;
    if (key) d->st.keyframes++;
    d->cb(d->opaque, d->track, start, (size_t)(au_data(d) + d->au_len - start), d->au_ts, key);
}

void rtsp_depack_flush(rtsp_depack *d)
{
    if (is_video(d) || d->codec == RTSP_CODEC_AAC) rtsp__au_emit(d);
}

void rtsp_depack_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost)
{
    switch (d->codec) {
    case RTSP_CODEC_H264:
    case RTSP_CODEC_H265:
        break;
    case RTSP_CODEC_AAC:
        rtsp__aac_push(d, h, lost);
        return;
    case RTSP_CODEC_PCMU:
    case RTSP_CODEC_PCMA:
        rtsp__g711_push(d, h, lost);
        return;
    default:
        return;
    }
    if (lost && d->au_open) d->au_damaged = 1;
    if (d->au_open && h->ts != d->au_ts) rtsp__au_emit(d);
    if (!d->au_open) {
        rtsp__au_start(d, h->ts);
        if (lost) d->au_damaged = 1;
    }
    if (d->codec == RTSP_CODEC_H264)
        rtsp__h264_push(d, h, lost);
    else
        rtsp__h265_push(d, h, lost);
    if (h->marker) rtsp__au_emit(d);
}
