/*
 * RTP and RTCP (RFC 3550) pieces the client needs: header parsing (CSRCs,
 * extension and padding checked against the packet length), sequence
 * tracking for TCP where packets cannot reorder but a server may drop some,
 * a reorder window for UDP, sender-report parsing for the NTP <-> RTP time
 * mapping and a minimal receiver report (some cameras stop sending over UDP
 * without one).
 *
 * The reorder window keeps copies of at most `window` packets in a small
 * array sorted by sequence distance, releases them in order, and gives up on
 * a hole when the window is full or the oldest held packet has waited
 * max_delay_us; the depacketizer is told how many packets were given up on so
 * it can drop the damaged access unit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int rtsp_rtp_parse(const uint8_t *buf, size_t len, rtsp_rtp_hdr *h)
{
    if (len < 12 || (buf[0] >> 6) != 2) return -EBADMSG;
    size_t off = 12 + 4 * (size_t)(buf[0] & 0x0f);
    if (off > len) return -EBADMSG;
    if (buf[0] & 0x10) {
        if (off + 4 > len) return -EBADMSG;
        off += 4 + 4 * (size_t)rd16(buf + off + 2);
        if (off > len) return -EBADMSG;
    }
    size_t end = len;
    if (buf[0] & 0x20) {
        size_t pad = buf[len - 1];
        if (pad == 0 || pad > end - off) return -EBADMSG;
        end -= pad;
    }
    h->marker = buf[1] >> 7;
    h->pt = buf[1] & 0x7f;
    h->seq = rd16(buf + 2);
    h->ts = rd32(buf + 4);
    h->ssrc = rd32(buf + 8);
    h->payload = buf + off;
    h->payload_len = end - off;
    return 0;
}

int rtsp_rtcp_parse_sr(const uint8_t *buf, size_t len, rtsp_rtcp_sr *sr)
{
    size_t off = 0;
    while (off + 4 <= len) {
        const uint8_t *p = buf + off;
        if ((p[0] >> 6) != 2) return -EBADMSG;
        size_t plen = 4 * ((size_t)rd16(p + 2) + 1);
        if (off + plen > len) return -EBADMSG;
        if (p[1] == 200) {
            if (plen < 28) return -EBADMSG;
            sr->ssrc = rd32(p + 4);
            sr->ntp = ((uint64_t)rd32(p + 8) << 32) | rd32(p + 12);
            sr->rtp_ts = rd32(p + 16);
            sr->packets = rd32(p + 20);
            sr->octets = rd32(p + 24);
            return 0;
        }
        off += plen;
    }
    return off == len ? -ENOENT : -EBADMSG;
}

int rtsp_rtcp_build_rr(uint8_t *buf, size_t len, uint32_t ssrc, uint32_t media_ssrc, uint16_t max_seq,
                  uint32_t cycles, uint32_t lost, uint32_t lsr, uint32_t dlsr)
{
    static const char cname[] = "vigil";
    if (len < 48) return -E2BIG;
    memset(buf, 0, 48);
    buf[0] = 0x81; /* V=2, RC=1 */
    buf[1] = 201;
    wr16(buf + 2, 7);
    wr32(buf + 4, ssrc);
    wr32(buf + 8, media_ssrc);
    wr32(buf + 12, lost > 0x7fffff ? 0x7fffff : lost); /* fraction 0 */
    wr32(buf + 16, (cycles << 16) | max_seq);
    wr32(buf + 20, 0); /* jitter */
    wr32(buf + 24, lsr);
    wr32(buf + 28, dlsr);
    uint8_t *s = buf + 32;
    s[0] = 0x81; /* V=2, SC=1 */
    s[1] = 202;
    wr16(s + 2, 3);
    wr32(s + 4, ssrc);
    s[8] = 1; /* CNAME */
    s[9] = sizeof(cname) - 1;
    memcpy(s + 10, cname, sizeof(cname) - 1); /* + one zero byte ends the chunk */
    return 48;
}

int rtsp_rtp_seq_update(rtsp_rtp_seq *s, uint16_t seq, int *drop)
{
    *drop = 0;
    if (!s->started) {
        s->started = 1;
        s->last = seq;
        s->received++;
        return 0;
    }
    int d = (int16_t)(uint16_t)(seq - s->last);
    if (d > 0) {
        if (seq < s->last) s->cycles++;
        s->last = seq;
        s->received++;
        s->lost += (uint64_t)(d - 1);
        return d - 1;
    }
    if (d < -100) { /* the sender restarted its numbering: resync */
        s->last = seq;
        s->received++;
        return 1;
    }
    *drop = 1;
    s->dropped++;
    return 0;
}

void rtsp_rtp_reorder_init(rtsp_rtp_reorder *r, int window, int64_t max_delay_us)
{
    memset(r, 0, sizeof(*r));
    if (window < 1) window = 1;
    if (window > RTSP_RTP_REORDER_MAX) window = RTSP_RTP_REORDER_MAX;
    r->window = window;
    r->max_delay_us = max_delay_us;
}

void rtsp_rtp_reorder_free(rtsp_rtp_reorder *r)
{
    for (int i = 0; i < RTSP_RTP_REORDER_MAX; i++) {
        free(r->slot[i].buf);
        r->slot[i].buf = NULL;
    }
}

/* Held packets are the used slots; order by distance from r->next. */
static int dist(const rtsp_rtp_reorder *r, uint16_t seq)
{
    return (int16_t)(uint16_t)(seq - r->next);
}

int rtsp_rtp_reorder_push(rtsp_rtp_reorder *r, const uint8_t *pkt, size_t len, int64_t now_us)
{
    if (len < 12 || (pkt[0] >> 6) != 2) return -EBADMSG;
    if (len > 65536) return -E2BIG;
    uint16_t seq = rd16(pkt + 2);
    if (!r->started) {
        r->started = 1;
        r->next = seq;
    }
    int d = dist(r, seq);
    if (d < 0 || d > 3000) {
        /* late, duplicate, or a jump: several in a row mean the sender restarted */
        if (++r->late_streak > r->window) {
            for (int i = 0; i < RTSP_RTP_REORDER_MAX; i++)
                r->slot[i].used = 0;
            r->count = 0;
            r->next = seq;
            r->late_streak = 0;
        } else {
            r->late++;
            return -EALREADY;
        }
    }
    r->late_streak = 0;
    int freeslot = -1;
    for (int i = 0; i < RTSP_RTP_REORDER_MAX; i++) {
        if (r->slot[i].used) {
            if (r->slot[i].seq == seq) {
                r->late++;
                return -EALREADY;
            }
        } else if (freeslot < 0) {
            freeslot = i;
        }
    }
    if (freeslot < 0 || r->count >= r->window) {
        r->dropped++;
        return -ENOBUFS;
    }
    rtsp_rtp_reorder_slot *s = &r->slot[freeslot];
    if (s->cap < len) {
        uint8_t *nb = realloc(s->buf, len);
        if (!nb) return -ENOMEM;
        s->buf = nb;
        s->cap = len;
    }
    memcpy(s->buf, pkt, len);
    s->len = len;
    s->seq = seq;
    s->used = 1;
    s->arrival_us = now_us;
    r->count++;
    return 0;
}

int rtsp_rtp_reorder_pop(rtsp_rtp_reorder *r, int64_t now_us, int flush, const uint8_t **pkt, size_t *len,
                    int *lost)
{
    if (r->count == 0) return 0;
    int best = -1, bestd = 0;
    int64_t oldest = INT64_MAX;
    for (int i = 0; i < RTSP_RTP_REORDER_MAX; i++) {
        if (!r->slot[i].used) continue;
        int d = dist(r, r->slot[i].seq);
        if (best < 0 || d < bestd) {
            best = i;
            bestd = d;
        }
        if (r->slot[i].arrival_us < oldest) oldest = r->slot[i].arrival_us;
    }
    if (bestd > 0 && !flush && r->count < r->window && now_us - oldest < r->max_delay_us)
        return 0; /* wait for the hole to fill */
    rtsp_rtp_reorder_slot *s = &r->slot[best];
    *lost = bestd > 0 ? bestd : 0;
    r->lost += (uint64_t)*lost;
    s->used = 0;
    r->count--;
    r->next = (uint16_t)(s->seq + 1);
    *pkt = s->buf;
    *len = s->len;
    return 1;
}
