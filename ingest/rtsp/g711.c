/*
 * G.711 (PCMU/PCMA, RFC 3551): every packet is a run of 8-bit samples and is
 * handed out as one access unit; a loss only leaves a gap in the timestamps.
 */
#include "ingest/rtsp/rtsp_internal.h"

void rtsp__g711_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost)
{
    (void)lost;
    if (h->payload_len == 0) return;
    if (h->payload_len > d->max_frame) {
        d->st.overflows++;
        return;
    }
    d->st.aus++;
    d->st.keyframes++;
    d->cb(d->opaque, d->track, h->payload, h->payload_len, h->ts, 1);
}
