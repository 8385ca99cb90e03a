/*
 * AAC RTP depacketizer (RFC 3640, mpeg4-generic in AAC-hbr or AAC-lbr mode):
 * an AU-headers section (16-bit length in bits, then one header of
 * sizelength + index(delta)length bits per access unit), then the access
 * units back to back. Several AUs in one packet get timestamps rtp_ts +
 * i * constantduration (1024 unless the SDP says otherwise). An AU bigger
 * than a packet is fragmented over packets with the same timestamp, each
 * carrying the full AU size; it is handed out when all its bytes arrived and
 * dropped on loss or a size mismatch. Frames are raw (no ADTS header): the
 * AudioSpecificConfig from the SDP describes them.
 */
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static unsigned read_bits(const uint8_t *p, size_t nbytes, size_t *bit, int n, int *ok)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (*bit >= nbytes * 8) {
            *ok = 0;
            return 0;
        }
        v = (v << 1) | ((p[*bit / 8] >> (7 - *bit % 8)) & 1u);
        (*bit)++;
    }
    return v;
}

static void drop_fragment(rtsp_depack *d)
{
    if (d->au_open) {
        d->au_damaged = 1;
        rtsp__au_emit(d); /* counts the drop */
    }
}

void rtsp__aac_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost)
{
    const uint8_t *p = h->payload;
    size_t n = h->payload_len;
    if (lost || (d->au_open && h->ts != d->au_ts)) drop_fragment(d);
    if (n < 2) {
        d->st.bad_packets++;
        return;
    }
    size_t hbits = ((size_t)p[0] << 8) | p[1];
    size_t hbytes = (hbits + 7) / 8;
    if (2 + hbytes > n) {
        d->st.bad_packets++;
        drop_fragment(d);
        return;
    }
    const uint8_t *hp = p + 2;
    const uint8_t *data = p + 2 + hbytes;
    size_t left = n - 2 - hbytes;
    size_t bit = 0;
    int ok = 1, i = 0;
    unsigned sizes[64];
    int count = 0;
    while (bit < hbits && count < 64) {
        unsigned sz = read_bits(hp, hbytes, &bit, d->sizelength, &ok);
        read_bits(hp, hbytes, &bit, i == 0 ? d->indexlength : d->indexdeltalength, &ok);
        if (!ok || bit > hbits) break;
        sizes[count++] = sz;
        i++;
    }
    if (!ok || count == 0 || bit > hbits) {
        d->st.bad_packets++;
        drop_fragment(d);
        return;
    }

    if (count == 1 && (sizes[0] > left || d->au_open)) {
        /* a fragment of one AU */
        size_t total = sizes[0];
        if (total > d->max_frame) {
            d->st.overflows++;
            drop_fragment(d);
            return;
        }
        if (!d->au_open) {
            rtsp__au_start(d, h->ts);
            d->aac_frag_size = total;
            rtsp__au_begin_nal(d); /* reuses the NAL machinery: prefix ignored */
        } else if (d->aac_frag_size != total) {
            d->st.bad_packets++;
            drop_fragment(d);
            return;
        }
        rtsp__au_append(d, data, left);
        if (d->au_len - d->frag_start > total) {
            d->st.bad_packets++;
            drop_fragment(d);
            return;
        }
        if (d->au_len - d->frag_start == total) {
            d->frag_open = 0;
            size_t len = total;
            const uint8_t *frame = d->au + d->room + d->frag_start;
            d->au_open = 0;
            if (!d->au_damaged) {
                d->st.aus++;
                d->st.keyframes++;
                d->cb(d->opaque, d->track, frame, len, d->au_ts, 1);
            } else {
                d->st.dropped_aus++;
            }
        } else if (h->marker) {
            d->st.bad_packets++;
            drop_fragment(d);
        }
        return;
    }

    for (int k = 0; k < count; k++) {
        if (sizes[k] > left) {
            d->st.bad_packets++;
            return;
        }
        if (sizes[k] > 0) {
            d->st.aus++;
            d->st.keyframes++;
            d->cb(d->opaque, d->track, data, sizes[k],
                  h->ts + (uint32_t)k * (uint32_t)d->constantduration, 1);
        }
        data += sizes[k];
        left -= sizes[k];
    }
}
