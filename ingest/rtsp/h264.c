/*
 * H.264 RTP depacketizer (RFC 6184): single NAL unit packets, STAP-A/STAP-B
 * aggregates and FU-A/FU-B fragments, in non-interleaved order (MTAP and the
 * interleaved mode are not used by cameras and are counted as bad packets).
 *
 * Each NAL is inspected as it is completed: SPS and PPS update the latest
 * parameter sets (and flag a change for the caller), an IDR slice marks the
 * unit as a keyframe, and so does an I slice in a unit that carries an SPS
 * (cameras that use open GOPs without IDR pictures).
 */
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

/* Reads an unsigned Exp-Golomb value; -1 when the bits run out. */
static long read_ue(const uint8_t *p, size_t n, size_t *bit)
{
    int zeros = 0;
    for (;;) {
        if (*bit >= n * 8 || zeros > 31) return -1;
        int b = (p[*bit / 8] >> (7 - *bit % 8)) & 1;
        (*bit)++;
        if (b) break;
        zeros++;
    }
    long v = 0;
    for (int i = 0; i < zeros; i++) {
        if (*bit >= n * 8) return -1;
        v = (v << 1) | ((p[*bit / 8] >> (7 - *bit % 8)) & 1);
        (*bit)++;
    }
    return v + (1L << zeros) - 1;
}

static void inspect(rtsp_depack *d, const uint8_t *nal, size_t n)
{
    if (!nal || n == 0) return;
    int type = nal[0] & 0x1f;
    if (type >= 1 && type <= 5) d->au_has_vcl = 1;
    switch (type) {
    case 5:
        d->au_key = 1;
        break;
    case 7:
        d->au_has_sps = 1;
        rtsp__store_param(d->sps, &d->sps_len, nal, n, &d->params_changed);
        break;
    case 8:
        d->au_has_pps = 1;
        rtsp__store_param(d->pps, &d->pps_len, nal, n, &d->params_changed);
        break;
    case 1:
        if (d->au_has_sps) {
            size_t bit = 0;
            if (read_ue(nal + 1, n - 1, &bit) >= 0) { /* first_mb_in_slice */
                long st = read_ue(nal + 1, n - 1, &bit);
                if (st >= 0 && (st % 5 == 2 || st % 5 == 4)) d->au_sps_intra = 1;
            }
        }
        break;
    default:
        break;
    }
}

static void single(rtsp_depack *d, const uint8_t *nal, size_t n)
{
    if (n == 0) return;
    if (d->frag_open) /* a fragment lost its end */
        rtsp__au_abort_nal(d);
    inspect(d, rtsp__au_add_nal(d, nal, n), n);
}

void rtsp__h264_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost)
{
    (void)lost;
    const uint8_t *p = h->payload;
    size_t n = h->payload_len;
    if (n < 1) {
        d->st.bad_packets++;
        return;
    }
    int type = p[0] & 0x1f;
    if (type >= 1 && type <= 23) {
        single(d, p, n);
        return;
    }
    switch (type) {
    case 24:   /* STAP-A */
    case 25: { /* STAP-B: a 16-bit DON first */
        size_t off = type == 25 ? 3 : 1;
        if (off > n) {
            d->st.bad_packets++;
            d->au_damaged = 1;
            return;
        }
        while (off + 2 <= n) {
            size_t sz = ((size_t)p[off] << 8) | p[off + 1];
            off += 2;
            if (sz == 0 || off + sz > n) {
                d->st.bad_packets++;
                d->au_damaged = 1;
                return;
            }
            single(d, p + off, sz);
            off += sz;
        }
        return;
    }
    case 28:   /* FU-A */
    case 29: { /* FU-B: a 16-bit DON after the FU header (start fragment only) */
        if (n < 2) {
            d->st.bad_packets++;
            d->au_damaged = 1;
            return;
        }
        int s = p[1] & 0x80, e = p[1] & 0x40;
        size_t off = 2;
        if (s) {
            if (type == 29) off += 2;
            if (off > n) {
                d->st.bad_packets++;
                d->au_damaged = 1;
                return;
            }
            uint8_t hdr = (uint8_t)((p[0] & 0xe0) | (p[1] & 0x1f));
            rtsp__au_begin_nal(d);
            rtsp__au_append(d, &hdr, 1);
        } else if (!d->frag_open) {
            d->au_damaged = 1; /* its start was lost */
            return;
        }
        rtsp__au_append(d, p + off, n - off);
        if (e) {
            size_t len = 0;
            const uint8_t *nal = rtsp__au_end_nal(d, &len);
            inspect(d, nal, len);
        }
        return;
    }
    default: /* 0, MTAP16/24 (26, 27), reserved */
        d->st.bad_packets++;
        d->au_damaged = 1;
        return;
    }
}
