/* libFuzzer driver: the UDP reorder window of ingest/rtsp (rtp.c), which
 * holds copies of a camera's packets and releases them in sequence order.
 * Input: byte 0 the window (1..128), byte 1 the hole delay, then operations
 * (low 2 bits of an op byte): push an RTP packet built from a sequence number
 * and a payload, advance the clock, pop what is due (bit 2: flush), or push
 * raw bytes. Checked: every released packet is byte for byte the one pushed
 * with its sequence number, releases are in sequence order (until the window
 * resets for a restarted sender), *lost counts exactly the numbers skipped,
 * the window never holds more than its size, and a final flush empties it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

#define MAXPKT 272 /* 12 + 255: the largest packet the driver builds */

static uint8_t shadow[65536][MAXPKT]; /* the accepted packet of each sequence number */
static uint16_t shadow_len[65536];

typedef struct state {
    rtsp_rtp_reorder r;
    int have_last;
    uint16_t last; /* sequence number released last */
} state;

static void check_counts(const rtsp_rtp_reorder *r)
{
    int used = 0;
    for (int i = 0; i < RTSP_RTP_REORDER_MAX; i++) used += r->slot[i].used;
    if (used != r->count || r->count > r->window || r->count < 0) abort();
}

static void push(state *s, const uint8_t *pkt, size_t len, int64_t now)
{
    int before = s->r.count, started = s->r.started;
    uint16_t next = s->r.next;
    int r = rtsp_rtp_reorder_push(&s->r, pkt, len, now);
    if (r != 0 && r != -EBADMSG && r != -EALREADY && r != -E2BIG && r != -ENOBUFS) abort();
    /* Only a reset (a restarted sender) moves the next number on a push. */
    if (s->r.next != next && started) s->have_last = 0;
    if (s->r.count < before + (r == 0) && s->r.next == next) abort();
    if (r == 0) {
        uint16_t seq = (uint16_t)((pkt[2] << 8) | pkt[3]);
        if (len > MAXPKT) abort(); /* the driver never builds larger ones */
        memcpy(shadow[seq], pkt, len);
        shadow_len[seq] = (uint16_t)len;
    }
    check_counts(&s->r);
}

static void pop(state *s, int64_t now, int flush)
{
    const uint8_t *p;
    size_t len;
    int lost;
    for (int n = 0; n <= RTSP_RTP_REORDER_MAX; n++) {
        int r = rtsp_rtp_reorder_pop(&s->r, now, flush, &p, &len, &lost);
        if (r == 0) break;
        if (r != 1 || len < 12 || lost < 0) abort();
        uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
        if (len != shadow_len[seq] || memcmp(p, shadow[seq], len) != 0) abort();
        if (s->have_last) {
            uint16_t gap = (uint16_t)(seq - s->last);
            if (gap == 0 || gap >= 0x8000 || (int)gap - 1 != lost) abort();
        }
        s->have_last = 1;
        s->last = seq;
        check_counts(&s->r);
    }
    if (flush && s->r.count != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static state s;
    if (size < 2) return 0;
    memset(&s, 0, sizeof(s));
    rtsp_rtp_reorder_init(&s.r, 1 + data[0] % RTSP_RTP_REORDER_MAX, (int64_t)data[1] * 4000);
    int64_t now = 1000000;
    size_t i = 2;
    uint8_t pkt[MAXPKT];
    while (i < size) {
        uint8_t op = data[i++];
        switch (op & 3) {
        case 0: { /* push: seq16, payload length, payload */
            if (size - i < 3) goto out;
            size_t plen = data[i + 2];
            pkt[0] = 0x80;
            pkt[1] = 96 | (op & 0x80);
            pkt[2] = data[i];
            pkt[3] = data[i + 1];
            memset(pkt + 4, 0, 4);
            memcpy(pkt + 8, "\x12\x34\x56\x78", 4);
            i += 3;
            if (plen > size - i) plen = size - i;
            memcpy(pkt + 12, data + i, plen);
            i += plen;
            push(&s, pkt, 12 + plen, now);
            break;
        }
        case 1: /* the clock moves on */
            if (i < size) now += (int64_t)data[i++] * 1000;
            break;
        case 2:
            pop(&s, now, op & 4);
            break;
        case 3: { /* raw bytes, RTP or not */
            if (i >= size) goto out;
            size_t len = data[i++];
            if (len > size - i) len = size - i;
            memcpy(pkt, data + i, len);
            i += len;
            push(&s, pkt, len, now);
            break;
        }
        }
    }
out:
    pop(&s, now, 1);
    rtsp_rtp_reorder_free(&s.r);
    return 0;
}
