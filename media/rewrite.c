/*
 * Rewriting the boxes of a clip. A clip reuses the first segment's ftyp+moov,
 * adds an mehd and a sidx (media__header_build), and rewrites each moof: the
 * sequence number and the tfdt change in place (same size, media__moof_patch),
 * and the last moof is rebuilt with fewer samples (media__moof_cut). Only the
 * moof is ever rewritten; media bytes are copied by the caller from the
 * ranges these functions give.
 */
#include "media/media_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FOURCC MEDIA__FOURCC
#define rd32 media__rd32
#define wr32 media__wr32
#define wr64 media__wr64
#define box media__box
#define box_read media__box_read
#define box_find media__box_find
#define obuf media__obuf
#define ob_put media__ob_put
#define ob_put32 media__ob_put32
#define ob_put64 media__ob_put64
#define box_begin media__ob_box_begin
#define box_end media__ob_box_end

typedef struct traf_defaults {
    uint32_t dur, size;
} traf_defaults;

static int tfdt_write(uint8_t *b, uint32_t off, int v, uint64_t old, int64_t delta)
{
    if (delta < 0 && (uint64_t)-delta > old) return -ERANGE;
    uint64_t nv = old + (uint64_t)delta;
    if (v == 1) {
        wr64(b + off, nv);
    } else {
        if (nv > UINT32_MAX) return -ERANGE;
        wr32(b + off, (uint32_t)nv);
    }
    return 0;
}

int media__moof_patch(uint8_t *b, const media__moof *m, uint32_t seq, const int64_t *delta)
{
    wr32(b + m->seq_off, seq);
    for (int t = 0; t < MEDIA_MAX_TRACKS; t++) {
        if (!m->has[t]) continue;
        int ret = tfdt_write(b, m->tfdt_off[t], m->tfdt_v[t], m->tfdt[t], delta[t]);
        if (ret < 0) return ret;
    }
    return 0;
}

/* Growable output buffer for the few boxes we build. */
int media__moof_cut(const uint8_t *b, const media__init *init, const media__moof *m,
                    const uint64_t *limit, uint32_t seq, const int64_t *delta, uint8_t **out,
                    size_t *out_len, media__range *ranges, int *nranges, uint64_t *kept_dur)
{
    obuf o = {0};
    int ret = 0;
    uint32_t keep[MEDIA__MAX_TRUNS] = {0};
    uint64_t keep_bytes[MEDIA__MAX_TRUNS] = {0};
    size_t dofs_at[MEDIA__MAX_TRUNS] = {0};
    uint64_t keep_track[MEDIA_MAX_TRACKS] = {0};
    memset(kept_dur, 0, sizeof(uint64_t) * MEDIA_MAX_TRACKS);
    *out = NULL, *nranges = 0;

    /* First pass: how many samples of each trun are kept. */
    uint64_t dts[MEDIA_MAX_TRACKS];
    traf_defaults defs[MEDIA_MAX_TRACKS];
    for (int t = 0; t < MEDIA_MAX_TRACKS; t++) dts[t] = m->tfdt[t];
    /* Walk the trafs again for their tfhd defaults. */
    box bx;
    const uint8_t *end = b + m->size;
    for (const uint8_t *p = b + 8; p < end; p += bx.size) {
        if (box_read(p, end, &bx) < 0) return -EINVAL;
        if (bx.type != FOURCC('t', 'r', 'a', 'f')) continue;
        box tb;
        const uint8_t *tfhd = box_find(p + bx.hdr, p + bx.size, FOURCC('t', 'f', 'h', 'd'), &tb);
        if (!tfhd) return -EINVAL;
        const uint8_t *c = tfhd + tb.hdr;
        uint32_t fl = rd32(c) & 0xffffff;
        int t = media__track_index(init, rd32(c + 4));
        if (t < 0) return -EINVAL;
        size_t off = 8 + ((fl & 0x02) ? 4 : 0);
        defs[t].dur = init->tracks[t].def_duration, defs[t].size = init->tracks[t].def_size;
        if (fl & 0x08) defs[t].dur = rd32(c + off), off += 4;
        if (fl & 0x10) defs[t].size = rd32(c + off);
    }
    for (int i = 0; i < m->ntruns; i++) {
        const media__trun *r = &m->truns[i];
        const uint8_t *c = b + r->box_off + 8;
        const uint8_t *e = c + 12 + ((r->flags & 0x04) ? 4 : 0);
        int es = media__trun_entry_size(r->flags);
        for (uint32_t k = 0; k < r->count; k++, e += es) {
            const uint8_t *f = e;
            uint32_t dur = defs[r->track].dur, size = defs[r->track].size;
            if (r->flags & 0x100) dur = rd32(f), f += 4;
            if (r->flags & 0x200) size = rd32(f);
            if (dts[r->track] >= limit[r->track]) break;
            dts[r->track] += dur;
            kept_dur[r->track] += dur;
            keep[i]++;
            keep_bytes[i] += size;
        }
        keep_track[r->track] += keep[i];
    }
    if (keep_track[init->video] == 0) return -EINVAL;

    /* Second pass: the new moof. */
    size_t moof_at = box_begin(&o, FOURCC('m', 'o', 'o', 'f'));
    size_t at = box_begin(&o, FOURCC('m', 'f', 'h', 'd'));
    ob_put32(&o, 0);
    ob_put32(&o, seq);
    box_end(&o, at);
    for (const uint8_t *p = b + 8; p < end; p += bx.size) {
        if (box_read(p, end, &bx) < 0) return -EINVAL;
        if (bx.type != FOURCC('t', 'r', 'a', 'f')) continue;
        const uint8_t *te = p + bx.size;
        box tb;
        const uint8_t *tfhd = box_find(p + bx.hdr, te, FOURCC('t', 'f', 'h', 'd'), &tb);
        int t = media__track_index(init, rd32(tfhd + tb.hdr + 4));
        if (keep_track[t] == 0) continue;
        size_t traf_at = box_begin(&o, FOURCC('t', 'r', 'a', 'f'));
        ob_put(&o, tfhd, tb.size);
        at = box_begin(&o, FOURCC('t', 'f', 'd', 't'));
        size_t val_at = o.len + 4;
        ob_put32(&o, (uint32_t)m->tfdt_v[t] << 24);
        if (m->tfdt_v[t] == 1)
            ob_put64(&o, 0);
        else
            ob_put32(&o, 0);
        box_end(&o, at);
        if (!o.err && (ret = tfdt_write(o.p, (uint32_t)val_at, m->tfdt_v[t], m->tfdt[t], delta[t])) < 0)
            goto out;
        for (int i = 0; i < m->ntruns; i++) {
            const media__trun *r = &m->truns[i];
            if (r->track != t || keep[i] == 0) continue;
            const uint8_t *c = b + r->box_off + 8;
            at = box_begin(&o, FOURCC('t', 'r', 'u', 'n'));
            ob_put32(&o, rd32(c));
            ob_put32(&o, keep[i]);
            dofs_at[i] = o.len;
            ob_put32(&o, 0);
            size_t fixed = (r->flags & 0x04) ? 4 : 0;
            ob_put(&o, c + 12, fixed + (size_t)media__trun_entry_size(r->flags) * keep[i]);
            box_end(&o, at);
        }
        box_end(&o, traf_at);
    }
    box_end(&o, moof_at);
    /* mdat header, then the data offsets now that the moof size is known. */
    uint64_t total = 0;
    for (int i = 0; i < m->ntruns; i++) total += keep_bytes[i];
    if (total + 8 > UINT32_MAX) {
        ret = -ERANGE;
        goto out;
    }
    size_t moof_len = o.len;
    ob_put32(&o, (uint32_t)(8 + total));
    ob_put32(&o, FOURCC('m', 'd', 'a', 't'));
    if (o.err) {
        ret = o.err;
        goto out;
    }
    uint64_t pos = moof_len + 8;
    for (int i = 0; i < m->ntruns; i++) {
        if (keep[i] == 0) continue;
        wr32(o.p + dofs_at[i], (uint32_t)pos);
        pos += keep_bytes[i];
        uint64_t src = (uint64_t)(int64_t)m->truns[i].data_offset;
        if (*nranges > 0 && ranges[*nranges - 1].off + ranges[*nranges - 1].len == src) {
            ranges[*nranges - 1].len += keep_bytes[i];
        } else {
            ranges[*nranges].off = src;
            ranges[*nranges].len = keep_bytes[i];
            (*nranges)++;
        }
    }
    *out = o.p, o.p = NULL;
    *out_len = o.len;
out:
    free(o.p);
    return ret;
}

int media__header_build(const uint8_t *init_buf, const media__init *init, uint64_t duration_video,
                        const uint32_t *sizes, const uint32_t *durs, size_t nrefs, uint8_t **out,
                        size_t *out_len)
{
    obuf o = {0};
    ob_put(&o, init_buf + init->ftyp_off, init->ftyp_len);
    const uint8_t *mp = init_buf + init->moov_off, *mend = mp + init->moov_len;
    uint64_t dur_movie = 0;
    uint32_t vts = init->tracks[init->video].timescale;
    if (vts) dur_movie = duration_video * init->movie_timescale / vts;
    size_t moov_at = box_begin(&o, FOURCC('m', 'o', 'o', 'v'));
    box b;
    for (const uint8_t *p = mp + 8; p < mend; p += b.size) {
        if (box_read(p, mend, &b) < 0) {
            free(o.p);
            return -EINVAL;
        }
        if (b.type != FOURCC('m', 'v', 'e', 'x')) {
            ob_put(&o, p, b.size);
            continue;
        }
        size_t mvex_at = box_begin(&o, FOURCC('m', 'v', 'e', 'x'));
        size_t at = box_begin(&o, FOURCC('m', 'e', 'h', 'd'));
        ob_put32(&o, 1u << 24);
        ob_put64(&o, dur_movie);
        box_end(&o, at);
        box c;
        for (const uint8_t *q = p + b.hdr; q < p + b.size; q += c.size) {
            if (box_read(q, p + b.size, &c) < 0) {
                free(o.p);
                return -EINVAL;
            }
            if (c.type != FOURCC('m', 'e', 'h', 'd')) ob_put(&o, q, c.size);
        }
        box_end(&o, mvex_at);
    }
    box_end(&o, moov_at);
    if (nrefs > 0 && nrefs <= 65535) {
        size_t at = box_begin(&o, FOURCC('s', 'i', 'd', 'x'));
        ob_put32(&o, 1u << 24);
        ob_put32(&o, init->tracks[init->video].id);
        ob_put32(&o, vts);
        ob_put64(&o, 0); /* earliest presentation time */
        ob_put64(&o, 0); /* first offset: the first moof follows */
        ob_put32(&o, (uint32_t)nrefs); /* reserved(16)=0, reference_count(16) */
        for (size_t i = 0; i < nrefs; i++) {
            ob_put32(&o, sizes[i] & 0x7fffffff);
            ob_put32(&o, durs[i]);
            ob_put32(&o, 0x90000000u); /* starts with SAP, type 1 */
        }
        box_end(&o, at);
    }
    if (o.err) {
        free(o.p);
        return o.err;
    }
    *out = o.p;
    *out_len = o.len;
    return 0;
}

