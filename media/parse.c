/*
 * Reading the boxes of a segment file: the init segment (ftyp + moov: tracks,
 * timescales, sample entry formats, trex defaults) and each moof (per track:
 * tfdt, summed durations and sizes, where the trun data lives, whether the
 * first video sample is a sync sample). The clip planner, the scanner and the
 * clip rewriter all read through these two parsers, so a file is understood
 * the same way by recovery and by downloads. Only moov and moof are parsed;
 * media bytes are never looked at.
 */
#include "media/media_internal.h"

#include <errno.h>
#include <string.h>

#define FOURCC MEDIA__FOURCC
#define rd32 media__rd32
#define rd64 media__rd64

static int parse_trak(const uint8_t *p, size_t len, media__track *t, uint64_t *sig)
{
    const uint8_t *end = p + len;
    media__box b, mb;
    const uint8_t *tkhd = media__box_find(p, end, FOURCC('t', 'k', 'h', 'd'), &b);
    if (!tkhd || b.size < b.hdr + 24) return -EINVAL;
    t->id = rd32(tkhd + b.hdr + (tkhd[b.hdr] == 1 ? 20 : 12));
    if (b.size - b.hdr >= 84) { /* width, height: the last two 16.16 fields */
        t->width = (int)(rd32(tkhd + b.size - 8) >> 16);
        t->height = (int)(rd32(tkhd + b.size - 4) >> 16);
    }
    const uint8_t *mdia = media__box_find(p, end, FOURCC('m', 'd', 'i', 'a'), &mb);
    if (!mdia) return -EINVAL;
    const uint8_t *mp = mdia + mb.hdr, *mend = mdia + mb.size;
    const uint8_t *mdhd = media__box_find(mp, mend, FOURCC('m', 'd', 'h', 'd'), &b);
    if (!mdhd || b.size < b.hdr + 24) return -EINVAL;
    t->timescale = rd32(mdhd + b.hdr + (mdhd[b.hdr] == 1 ? 20 : 12));
    const uint8_t *hdlr = media__box_find(mp, mend, FOURCC('h', 'd', 'l', 'r'), &b);
    if (!hdlr || b.size < b.hdr + 12) return -EINVAL;
    t->handler = rd32(hdlr + b.hdr + 8);
    if (t->timescale == 0) return -EINVAL;
    /* minf/stbl/stsd: what the decoder is told; two segments with different
     * sample descriptions cannot share one moov. */
    const uint8_t *minf = media__box_find(mp, mend, FOURCC('m', 'i', 'n', 'f'), &b);
    if (minf) {
        const uint8_t *stbl =
            media__box_find(minf + b.hdr, minf + b.size, FOURCC('s', 't', 'b', 'l'), &mb);
        if (stbl) {
            const uint8_t *stsd =
                media__box_find(stbl + mb.hdr, stbl + mb.size, FOURCC('s', 't', 's', 'd'), &b);
            if (stsd) {
                *sig = media__fnv1a(*sig, stsd, b.size);
                if (b.size - b.hdr >= 16) t->format = rd32(stsd + b.hdr + 12);
            }
        }
    }
    *sig = media__fnv1a(*sig, t, sizeof(t->id) + sizeof(t->timescale) + sizeof(t->handler));
    return 0;
}

int media__moov_parse(const uint8_t *buf, size_t len, media__init *out)
{
    memset(out, 0, sizeof(*out));
    out->video = -1;
    media__box b;
    if (media__box_read(buf, buf + len, &b) < 0 || b.type != FOURCC('m', 'o', 'o', 'v'))
        return -EINVAL;
    out->moov_len = b.size;
    uint64_t sig = MEDIA__FNV_INIT;
    const uint8_t *p, *mp = buf + b.hdr, *mend = buf + b.size;
    const uint8_t *mvex = NULL;
    size_t mvex_len = 0;
    for (p = mp; p < mend; p += b.size) {
        if (media__box_read(p, mend, &b) < 0) return -EINVAL;
        if (b.type == FOURCC('m', 'v', 'h', 'd')) {
            if (b.size < b.hdr + 24) return -EINVAL;
            out->movie_timescale = rd32(p + b.hdr + (p[b.hdr] == 1 ? 20 : 12));
        } else if (b.type == FOURCC('t', 'r', 'a', 'k')) {
            if (out->ntracks == MEDIA_MAX_TRACKS) return -ENOTSUP;
            media__track *t = &out->tracks[out->ntracks];
            int ret = parse_trak(p + b.hdr, b.size - b.hdr, t, &sig);
            if (ret < 0) return ret;
            if (t->handler == FOURCC('v', 'i', 'd', 'e') && out->video < 0) out->video = out->ntracks;
            out->ntracks++;
        } else if (b.type == FOURCC('m', 'v', 'e', 'x')) {
            mvex = p + b.hdr, mvex_len = b.size - b.hdr;
        }
    }
    if (!mvex || out->video < 0 || out->movie_timescale == 0) return out->video < 0 ? -ENOTSUP : -EINVAL;
    for (p = mvex; p < mvex + mvex_len; p += b.size) {
        if (media__box_read(p, mvex + mvex_len, &b) < 0) return -EINVAL;
        if (b.type != FOURCC('t', 'r', 'e', 'x') || b.size < b.hdr + 24) continue;
        uint32_t id = rd32(p + b.hdr + 4);
        for (int i = 0; i < out->ntracks; i++) {
            if (out->tracks[i].id != id) continue;
            out->tracks[i].def_duration = rd32(p + b.hdr + 12);
            out->tracks[i].def_size = rd32(p + b.hdr + 16);
            out->tracks[i].def_flags = rd32(p + b.hdr + 20);
            sig = media__fnv1a(sig, p + b.hdr, 24);
        }
    }
    out->sig = sig;
    return 0;
}

int media__init_parse(const uint8_t *buf, size_t len, media__init *out)
{
    const uint8_t *p = buf, *end = buf + len;
    media__box b;
    size_t ftyp_off = 0, ftyp_len = 0, moov_off = 0;
    bool have_ftyp = false, have_moov = false;
    memset(out, 0, sizeof(*out));
    while (p < end && !have_moov) {
        if (media__box_read(p, end, &b) < 0) return -EINVAL;
        if (b.type == FOURCC('f', 't', 'y', 'p')) {
            ftyp_off = (size_t)(p - buf), ftyp_len = b.size, have_ftyp = true;
        } else if (b.type == FOURCC('m', 'o', 'o', 'v')) {
            moov_off = (size_t)(p - buf), have_moov = true;
        }
        p += b.size;
    }
    if (!have_ftyp || !have_moov) return -EINVAL;
    int ret = media__moov_parse(buf + moov_off, len - moov_off, out);
    if (ret < 0) return ret;
    out->ftyp_off = ftyp_off, out->ftyp_len = ftyp_len, out->moov_off = moov_off;
    return 0;
}

/* Per-traf defaults for walking a trun's samples. */
typedef struct traf_defaults {
    uint32_t dur, size, flags;
} traf_defaults;

static int parse_traf(const uint8_t *moof, const uint8_t *p, const uint8_t *end,
                      const media__init *init, media__moof *m, bool *first_seen)
{
    media__box b;
    int t = -1;
    traf_defaults d = {0, 0, 0};
    for (const uint8_t *q = p; q < end; q += b.size) {
        if (media__box_read(q, end, &b) < 0) return -EINVAL;
        const uint8_t *c = q + b.hdr;
        size_t clen = b.size - b.hdr;
        if (b.type == FOURCC('t', 'f', 'h', 'd')) {
            if (clen < 8) return -EINVAL;
            uint32_t fl = rd32(c) & 0xffffff;
            t = media__track_index(init, rd32(c + 4));
            if (t < 0) return -EINVAL;
            if (m->has[t]) return -ENOTSUP; /* two trafs of one track */
            m->has[t] = true;
            if (fl & 0x01) return -ENOTSUP; /* explicit base data offset */
            size_t o = 8;
            if (fl & 0x02) o += 4;
            d.dur = init->tracks[t].def_duration, d.size = init->tracks[t].def_size;
            d.flags = init->tracks[t].def_flags;
            if (fl & 0x08) {
                if (clen < o + 4) return -EINVAL;
                d.dur = rd32(c + o), o += 4;
            }
            if (fl & 0x10) {
                if (clen < o + 4) return -EINVAL;
                d.size = rd32(c + o), o += 4;
            }
            if (fl & 0x20) {
                if (clen < o + 4) return -EINVAL;
                d.flags = rd32(c + o), o += 4;
            }
            if (clen < o) return -EINVAL;
        } else if (b.type == FOURCC('t', 'f', 'd', 't')) {
            if (t < 0 || clen < 8) return -EINVAL;
            m->tfdt_v[t] = c[0];
            m->tfdt_off[t] = (uint32_t)(c + 4 - moof);
            if (c[0] == 1) {
                if (clen < 12) return -EINVAL;
                m->tfdt[t] = rd64(c + 4);
            } else {
                m->tfdt[t] = rd32(c + 4);
            }
        } else if (b.type == FOURCC('t', 'r', 'u', 'n')) {
            if (t < 0 || clen < 8) return -EINVAL;
            if (m->ntruns == MEDIA__MAX_TRUNS) return -ENOTSUP;
            media__trun *r = &m->truns[m->ntruns++];
            r->box_off = (uint32_t)(q - moof);
            r->flags = rd32(c) & 0xffffff;
            r->count = rd32(c + 4);
            r->track = t;
            if (!(r->flags & 0x01)) return -ENOTSUP;
            if (r->count > MEDIA__MAX_TRUN_SAMPLES) return -ENOTSUP; /* bounds every walk */
            size_t o = 8;
            if (clen < o + 4) return -EINVAL;
            r->data_offset = (int32_t)rd32(c + o), o += 4;
            uint32_t first_flags = d.flags;
            bool have_first = false;
            if (r->flags & 0x04) {
                if (clen < o + 4) return -EINVAL;
                first_flags = rd32(c + o), o += 4;
                have_first = true;
            }
            int es = media__trun_entry_size(r->flags);
            if ((uint64_t)clen < o + (uint64_t)es * r->count) return -EINVAL;
            const uint8_t *e = c + o;
            for (uint32_t i = 0; i < r->count; i++, e += es) {
                const uint8_t *f = e;
                uint32_t dur = d.dur, size = d.size, sflags = d.flags;
                if (r->flags & 0x100) dur = rd32(f), f += 4;
                if (r->flags & 0x200) size = rd32(f), f += 4;
                if (r->flags & 0x400) sflags = rd32(f);
                if (i == 0 && t == init->video && !*first_seen) {
                    /* sample_is_non_sync_sample is bit 16 of the sample flags */
                    m->key = !((have_first ? first_flags : sflags) & 0x10000);
                    *first_seen = true;
                }
                m->dur[t] += dur;
                m->bytes[t] += size;
            }
        }
    }
    if (t < 0) return -EINVAL;
    return 0;
}

int media__moof_parse(const uint8_t *buf, size_t len, const media__init *init, media__moof *m)
{
    memset(m, 0, sizeof(*m));
    media__box b;
    bool first_seen = false;
    if (media__box_read(buf, buf + len, &b) < 0 || b.type != FOURCC('m', 'o', 'o', 'f') ||
        b.hdr != 8)
        return -EINVAL;
    m->size = (uint32_t)b.size;
    const uint8_t *end = buf + b.size;
    bool have_mfhd = false;
    for (const uint8_t *p = buf + 8; p < end; p += b.size) {
        if (media__box_read(p, end, &b) < 0) return -EINVAL;
        if (b.type == FOURCC('m', 'f', 'h', 'd')) {
            if (b.size < b.hdr + 8) return -EINVAL;
            m->seq_off = (uint32_t)(p + b.hdr + 4 - buf);
            have_mfhd = true;
        } else if (b.type == FOURCC('t', 'r', 'a', 'f')) {
            int ret = parse_traf(buf, p + b.hdr, p + b.size, init, m, &first_seen);
            if (ret < 0) return ret;
        }
    }
    if (!have_mfhd) return -EINVAL;
    if (!m->has[init->video]) return -ENODATA; /* e.g. the audio tail of a file */
    for (int t = 0; t < init->ntracks; t++)
        if (m->has[t] && m->tfdt_off[t] == 0) return -ENOTSUP; /* no tfdt: cannot rebase */
    return 0;
}
