/*
 * Writing fragments: the moof + mdat header of each fragment the segmenter
 * appends (a GOP or a piece of one) and of each live-view chunk (one frame,
 * behind a prft). It runs once per fragment per camera, so it writes straight
 * into the caller's reused buffer, sized beforehand by media_frag_max_size():
 * no allocation, no copy of media bytes, and each trun's sample count and
 * data offset are filled in when its box and the moof close.
 */
#include "media/media_internal.h"

#include <assert.h>
#include <string.h>

static uint8_t *box_begin(uint8_t *p, const char *type)
{
    memcpy(p + 4, type, 4);
    return p + 8;
}

static void box_end(uint8_t *start, const uint8_t *end)
{
    media__wr32(start, (uint32_t)(end - start));
}

void media_frag_begin(media_frag_writer *w, uint8_t *buf, uint32_t seq)
{
    memset(w, 0, sizeof(*w));
    w->moof = buf;
    uint8_t *b = box_begin(buf, "moof"), *q = box_begin(b, "mfhd");
    media__wr32(q, 0);
    media__wr32(q + 4, seq);
    q += 8;
    box_end(b, q);
    w->p = q;
}

static void traf_close(media_frag_writer *w)
{
    if (!w->traf) return;
    media__wr32(w->trun + 12, w->count); /* trun sample_count */
    box_end(w->trun, w->p);
    box_end(w->traf, w->p);
    w->traf = w->trun = NULL;
}

void media_frag_traf(media_frag_writer *w, uint32_t track_id, uint64_t base_dt, int cto,
                     uint32_t mdat_off)
{
    assert(w->ntrafs < MEDIA_MAX_TRACKS);
    traf_close(w);
    uint8_t *traf = w->p, *q = box_begin(traf, "traf"), *b = q;
    q = box_begin(q, "tfhd");
    media__wr32(q, 0x020000); /* default-base-is-moof */
    media__wr32(q + 4, track_id);
    q += 8;
    box_end(b, q);
    b = q;
    q = box_begin(q, "tfdt");
    media__wr32(q, 0x01000000); /* version 1: 64-bit */
    media__wr64(q + 4, base_dt);
    q += 12;
    box_end(b, q);
    w->trun = q;
    q = box_begin(q, "trun");
    /* data offset, per-sample duration, size, flags (+ composition offset) */
    media__wr32(q, cto ? 0x000f01 : 0x000701);
    media__wr32(q + 4, 0); /* sample count: at close */
    w->data_off_at[w->ntrafs] = q + 8;
    w->mdat_off[w->ntrafs] = mdat_off;
    w->ntrafs++;
    w->traf = traf;
    w->cto = cto;
    w->count = 0;
    w->p = q + 12;
}

size_t media_frag_end(media_frag_writer *w, uint64_t payload)
{
    traf_close(w);
    box_end(w->moof, w->p);
    size_t moof_len = (size_t)(w->p - w->moof);
    for (int i = 0; i < w->ntrafs; i++)
        media__wr32(w->data_off_at[i], (uint32_t)(moof_len + 8 + w->mdat_off[i]));
    media__wr32(w->p, (uint32_t)(8 + payload));
    memcpy(w->p + 4, "mdat", 4);
    return moof_len + 8;
}

size_t media_prft_write(uint8_t *p, uint32_t reference_track, uint32_t flags, uint64_t ntp,
                        uint64_t media_time)
{
    media__wr32(p, MEDIA_PRFT_SIZE);
    memcpy(p + 4, "prft", 4);
    media__wr32(p + 8, (1u << 24) | (flags & 0xffffff)); /* version 1: 64-bit media_time */
    media__wr32(p + 12, reference_track);
    media__wr64(p + 16, ntp);
    media__wr64(p + 24, media_time);
    return MEDIA_PRFT_SIZE;
}

uint64_t media_ntp_from_us(int64_t unix_us)
{
    /* NTP counts from 1900-01-01: 70 years, 17 of them leap, before Unix's epoch. */
    const int64_t ntp_unix_s = INT64_C(2208988800);
    int64_t s = unix_us / 1000000, us = unix_us % 1000000;
    if (us < 0) s--, us += 1000000;
    uint64_t frac = ((uint64_t)us << 32) / 1000000;
    return ((uint64_t)(s + ntp_unix_s) << 32) | frac;
}
