/*
 * Shared body of the RTP depacketizer fuzz drivers. Input: one flags byte,
 * then packets as [u16 big-endian length][RTP packet]. Flags: bit 0 output
 * length-prefixed NALs built in a consumer's buffer (as vigild's native source
 * does; this one moves on every call, so a stale pointer is caught), bit 1 a 4 KiB frame cap (exercises overflow), bit 2
 * go through the UDP reorder window instead of TCP sequence tracking, bit 3
 * H.265 DONL fields, bits 4-7 pick AAC header bit lengths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static volatile uint8_t fuzz_sink;

static void fuzz_on_au(void *opaque, int track, const uint8_t *data, size_t len, uint32_t ts,
                       int key)
{
    (void)opaque;
    (void)track;
    (void)ts;
    uint8_t x = (uint8_t)key;
    for (size_t i = 0; i < len; i++) /* every byte must be readable */
        x ^= data[i];
    fuzz_sink = x;
    if (len > RTSP_MAX_FRAME + RTSP__AU_ROOM) abort();
}

static uint8_t *fuzz_ext_buf;
static size_t fuzz_ext_cap;

static uint8_t *fuzz_ext_alloc(void *opaque, int track, size_t keep, size_t need)
{
    (void)opaque;
    (void)track;
    if (keep > need || keep > fuzz_ext_cap || need > RTSP_MAX_FRAME + RTSP__AU_ROOM) abort();
    uint8_t *nb = malloc(need ? need : 1);
    if (!nb) return NULL;
    if (keep) memcpy(nb, fuzz_ext_buf, keep);
    free(fuzz_ext_buf);
    fuzz_ext_buf = nb;
    fuzz_ext_cap = need;
    return nb;
}

static void fuzz_rtp_run(rtsp_codec codec, const uint8_t *data, size_t size)
{
    if (size < 1) return;
    uint8_t flags = data[0];
    data++;
    size--;
    rtsp_sdp_media m;
    memset(&m, 0, sizeof(m));
    m.codec = codec;
    m.clock_rate = 90000;
    m.sprop_max_don_diff = (flags & 8) ? 1 : 0;
    static const int sl[4] = {13, 6, 16, 1}, il[4] = {3, 2, 0, 16};
    m.sizelength = sl[(flags >> 4) & 3];
    m.indexlength = il[(flags >> 6) & 3];
    m.indexdeltalength = il[(flags >> 6) & 3];
    m.aac_hbr = 1;
    rtsp_depack d;
    if (rtsp_depack_init(&d, &m, 0, fuzz_on_au, NULL) < 0) return;
    d.length_prefixed = flags & 1;
    if (flags & 1) d.alloc = fuzz_ext_alloc;
    if (flags & 2) d.max_frame = 4096;
    rtsp_rtp_reorder r;
    rtsp_rtp_reorder_init(&r, 16, 50000);
    rtsp_rtp_seq seq;
    memset(&seq, 0, sizeof(seq));
    int64_t now = 0;
    while (size >= 2) {
        size_t n = ((size_t)data[0] << 8) | data[1];
        data += 2;
        size -= 2;
        if (n > size) n = size;
        rtsp_rtp_hdr h;
        const uint8_t *pkt = data;
        data += n;
        size -= n;
        now += 10000;
        if (flags & 4) {
            if (rtsp_rtp_reorder_push(&r, pkt, n, now) < 0) continue;
            const uint8_t *p;
            size_t len;
            int lost;
            while (rtsp_rtp_reorder_pop(&r, now, 0, &p, &len, &lost) == 1)
                if (rtsp_rtp_parse(p, len, &h) == 0) rtsp_depack_push(&d, &h, lost);
        } else {
            if (rtsp_rtp_parse(pkt, n, &h) < 0) continue;
            int drop;
            int lost = rtsp_rtp_seq_update(&seq, h.seq, &drop);
            if (!drop) rtsp_depack_push(&d, &h, lost);
        }
    }
    if (flags & 4) {
        const uint8_t *p;
        size_t len;
        int lost;
        rtsp_rtp_hdr h;
        while (rtsp_rtp_reorder_pop(&r, now, 1, &p, &len, &lost) == 1)
            if (rtsp_rtp_parse(p, len, &h) == 0) rtsp_depack_push(&d, &h, lost);
    }
    rtsp_depack_flush(&d);
    rtsp_depack_free(&d);
    rtsp_rtp_reorder_free(&r);
    free(fuzz_ext_buf);
    fuzz_ext_buf = NULL;
    fuzz_ext_cap = 0;
}
