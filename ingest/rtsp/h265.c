/*
 * H.265 RTP depacketizer (RFC 7798): single NAL unit packets, aggregation
 * packets (AP, type 48) and fragmentation units (FU, type 49), with the
 * DONL/DOND fields present when the SDP has sprop-max-don-diff > 0 (the
 * decoding order is then assumed to equal transmission order, as with every
 * camera; PACI packets are counted as bad). VPS/SPS/PPS update the latest
 * parameter sets; an IRAP picture (NAL types 16..23: BLA, IDR, CRA) marks the
 * unit as a keyframe.
 */
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static void inspect(rtsp_depack *d, const uint8_t *nal, size_t n)
{
    if (!nal || n < 2) return;
    int type = (nal[0] >> 1) & 0x3f;
    if (type < 32) d->au_has_vcl = 1;
    if (type >= 16 && type <= 23)
        d->au_key = 1;
    else if (type == 32) {
        d->au_has_vps = 1;
        rtsp__store_param(d->vps, &d->vps_len, nal, n, &d->params_changed);
    } else if (type == 33) {
        d->au_has_sps = 1;
        rtsp__store_param(d->sps, &d->sps_len, nal, n, &d->params_changed);
    } else if (type == 34) {
        d->au_has_pps = 1;
        rtsp__store_param(d->pps, &d->pps_len, nal, n, &d->params_changed);
    }
}

static void bad(rtsp_depack *d)
{
    d->st.bad_packets++;
    d->au_damaged = 1;
}

static void single(rtsp_depack *d, const uint8_t *nal, size_t n)
{
    if (n < 2) return;
    if (d->frag_open) rtsp__au_abort_nal(d);
    inspect(d, rtsp__au_add_nal(d, nal, n), n);
}

void rtsp__h265_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost)
{
    (void)lost;
    const uint8_t *p = h->payload;
    size_t n = h->payload_len;
    if (n < 2) {
        bad(d);
        return;
    }
    int type = (p[0] >> 1) & 0x3f;
    if (type < 48) {
        if (d->donl) { /* header, DONL, then the rest of the NAL */
            if (n < 4) {
                bad(d);
                return;
            }
            if (d->frag_open) rtsp__au_abort_nal(d);
            rtsp__au_begin_nal(d);
            rtsp__au_append(d, p, 2);
            rtsp__au_append(d, p + 4, n - 4);
            size_t len = 0;
            const uint8_t *nal = rtsp__au_end_nal(d, &len);
            inspect(d, nal, len);
        } else {
            single(d, p, n);
        }
        return;
    }
    if (type == 48) { /* AP: [DONL] size NAL, then [DOND] size NAL ... */
        size_t off = 2;
        int first = 1;
        while (off < n) {
            if (d->donl) off += first ? 2 : 1;
            first = 0;
            if (off + 2 > n) {
                bad(d);
                return;
            }
            size_t sz = ((size_t)p[off] << 8) | p[off + 1];
            off += 2;
            if (sz < 2 || off + sz > n) {
                bad(d);
                return;
            }
            single(d, p + off, sz);
            off += sz;
        }
        return;
    }
    if (type == 49) { /* FU: PayloadHdr(2) FUHeader(1) [DONL(2) on start] data */
        if (n < 3) {
            bad(d);
            return;
        }
        int s = p[2] & 0x80, e = p[2] & 0x40, ftype = p[2] & 0x3f;
        size_t off = 3;
        if (s) {
            if (d->donl) off += 2;
            if (off > n) {
                bad(d);
                return;
            }
            uint8_t hdr[2] = {(uint8_t)((p[0] & 0x81) | (ftype << 1)), p[1]};
            rtsp__au_begin_nal(d);
            rtsp__au_append(d, hdr, 2);
        } else if (!d->frag_open) {
            d->au_damaged = 1;
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
    bad(d); /* PACI (50) and reserved types */
}
