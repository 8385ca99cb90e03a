/*
 * The ISO BMFF boxes a clip is made of. Segment files are fragmented MP4 as
 * the mov muxer writes them (ftyp+moov with mvex, then one moof+mdat per GOP,
 * default-base-is-moof, every trun with a data offset). A clip reuses the
 * first segment's ftyp+moov, adds an mehd and a sidx, and rewrites each moof:
 * the sequence number and the tfdt change in place (same size), and the last
 * moof is rebuilt with fewer samples. Only the moof is ever parsed; media
 * bytes are never looked at.
 *
 * Every parser here checks each box size against its parent before reading.
 */
#include "serve/serve_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOURCC(a, b, c, d) \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
    return ((uint64_t)rd32(p) << 32) | rd32(p + 4);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, v >> 32), wr32(p + 4, (uint32_t)v);
}

uint64_t serve__fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* One box header within [p, end): type, total size and header size. */
typedef struct box {
    uint32_t type;
    size_t size, hdr;
} box;

static int box_read(const uint8_t *p, const uint8_t *end, box *b)
{
    if (end - p < 8) return -EINVAL;
    uint64_t size = rd32(p);
    b->type = rd32(p + 4);
    b->hdr = 8;
    if (size == 1) {
        if (end - p < 16) return -EINVAL;
        size = rd64(p + 8);
        b->hdr = 16;
    } else if (size == 0) {
        size = (size_t)(end - p);
    }
    if (size < b->hdr || size > (uint64_t)(end - p)) return -EINVAL;
    b->size = (size_t)size;
    return 0;
}

/* Finds the first child of type t in [p, end). */
static const uint8_t *box_find(const uint8_t *p, const uint8_t *end, uint32_t t, box *out)
{
    while (p < end) {
        if (box_read(p, end, out) < 0) return NULL;
        if (out->type == t) return p;
        p += out->size;
    }
    return NULL;
}

static int parse_trak(const uint8_t *p, size_t len, serve__track *t, uint64_t *sig)
{
    const uint8_t *end = p + len;
    box b, mb;
    const uint8_t *tkhd = box_find(p, end, FOURCC('t', 'k', 'h', 'd'), &b);
    if (!tkhd || b.size < b.hdr + 24) return -EINVAL;
    t->id = rd32(tkhd + b.hdr + (tkhd[b.hdr] == 1 ? 20 : 12));
    const uint8_t *mdia = box_find(p, end, FOURCC('m', 'd', 'i', 'a'), &mb);
    if (!mdia) return -EINVAL;
    const uint8_t *mp = mdia + mb.hdr, *mend = mdia + mb.size;
    const uint8_t *mdhd = box_find(mp, mend, FOURCC('m', 'd', 'h', 'd'), &b);
    if (!mdhd || b.size < b.hdr + 24) return -EINVAL;
    t->timescale = rd32(mdhd + b.hdr + (mdhd[b.hdr] == 1 ? 20 : 12));
    const uint8_t *hdlr = box_find(mp, mend, FOURCC('h', 'd', 'l', 'r'), &b);
    if (!hdlr || b.size < b.hdr + 12) return -EINVAL;
    t->handler = rd32(hdlr + b.hdr + 8);
    if (t->timescale == 0) return -EINVAL;
    /* minf/stbl/stsd: what the decoder is told; two segments with different
     * sample descriptions cannot share one moov. */
    const uint8_t *minf = box_find(mp, mend, FOURCC('m', 'i', 'n', 'f'), &b);
    if (minf) {
        const uint8_t *stbl = box_find(minf + b.hdr, minf + b.size, FOURCC('s', 't', 'b', 'l'), &mb);
        if (stbl) {
            const uint8_t *stsd = box_find(stbl + mb.hdr, stbl + mb.size, FOURCC('s', 't', 's', 'd'), &b);
            if (stsd) *sig = serve__fnv1a(*sig, stsd, b.size);
        }
    }
    *sig = serve__fnv1a(*sig, t, sizeof(t->id) + sizeof(t->timescale) + sizeof(t->handler));
    return 0;
}

int serve__init_parse(const uint8_t *buf, size_t len, serve__init *out)
{
    memset(out, 0, sizeof(*out));
    out->video = -1;
    const uint8_t *p = buf, *end = buf + len;
    box b;
    bool have_ftyp = false, have_moov = false;
    while (p < end && !have_moov) {
        if (box_read(p, end, &b) < 0) return -EINVAL;
        if (b.type == FOURCC('f', 't', 'y', 'p')) {
            out->ftyp_off = (size_t)(p - buf), out->ftyp_len = b.size, have_ftyp = true;
        } else if (b.type == FOURCC('m', 'o', 'o', 'v')) {
            out->moov_off = (size_t)(p - buf), out->moov_len = b.size, have_moov = true;
        }
        p += b.size;
    }
    if (!have_ftyp || !have_moov) return -EINVAL;
    uint64_t sig = SERVE__FNV_INIT;
    const uint8_t *mp = buf + out->moov_off + 8, *mend = buf + out->moov_off + out->moov_len;
    const uint8_t *mvex = NULL;
    size_t mvex_len = 0;
    for (p = mp; p < mend; p += b.size) {
        if (box_read(p, mend, &b) < 0) return -EINVAL;
        if (b.type == FOURCC('m', 'v', 'h', 'd')) {
            if (b.size < b.hdr + 24) return -EINVAL;
            out->movie_timescale = rd32(p + b.hdr + (p[b.hdr] == 1 ? 20 : 12));
        } else if (b.type == FOURCC('t', 'r', 'a', 'k')) {
            if (out->ntracks == SERVE__MAX_TRACKS) return -ENOTSUP;
            serve__track *t = &out->tracks[out->ntracks];
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
        if (box_read(p, mvex + mvex_len, &b) < 0) return -EINVAL;
        if (b.type != FOURCC('t', 'r', 'e', 'x') || b.size < b.hdr + 24) continue;
        uint32_t id = rd32(p + b.hdr + 4);
        for (int i = 0; i < out->ntracks; i++) {
            if (out->tracks[i].id != id) continue;
            out->tracks[i].def_duration = rd32(p + b.hdr + 12);
            out->tracks[i].def_size = rd32(p + b.hdr + 16);
            out->tracks[i].def_flags = rd32(p + b.hdr + 20);
            sig = serve__fnv1a(sig, p + b.hdr, 24);
        }
    }
    out->sig = sig;
    return 0;
}

static int track_index(const serve__init *init, uint32_t id)
{
    for (int i = 0; i < init->ntracks; i++)
        if (init->tracks[i].id == id) return i;
    return -1;
}

static int trun_entry_size(uint32_t flags)
{
    return 4 * (!!(flags & 0x100) + !!(flags & 0x200) + !!(flags & 0x400) + !!(flags & 0x800));
}

/* Per-traf defaults for walking a trun's samples. */
typedef struct traf_defaults {
    uint32_t dur, size;
} traf_defaults;

static int parse_traf(const uint8_t *moof, const uint8_t *p, const uint8_t *end,
                      const serve__init *init, serve__moof *m)
{
    box b;
    int t = -1;
    traf_defaults d = {0, 0};
    for (const uint8_t *q = p; q < end; q += b.size) {
        if (box_read(q, end, &b) < 0) return -EINVAL;
        const uint8_t *c = q + b.hdr;
        size_t clen = b.size - b.hdr;
        if (b.type == FOURCC('t', 'f', 'h', 'd')) {
            if (clen < 8) return -EINVAL;
            uint32_t fl = rd32(c) & 0xffffff;
            t = track_index(init, rd32(c + 4));
            if (t < 0) return -EINVAL;
            if (m->has[t]) return -ENOTSUP; /* two trafs of one track */
            m->has[t] = true;
            if (fl & 0x01) return -ENOTSUP; /* explicit base data offset */
            size_t o = 8;
            if (fl & 0x02) o += 4;
            d.dur = init->tracks[t].def_duration, d.size = init->tracks[t].def_size;
            if (fl & 0x08) {
                if (clen < o + 4) return -EINVAL;
                d.dur = rd32(c + o), o += 4;
            }
            if (fl & 0x10) {
                if (clen < o + 4) return -EINVAL;
                d.size = rd32(c + o), o += 4;
            }
            if (fl & 0x20) o += 4;
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
            if (m->ntruns == SERVE__MAX_TRUNS) return -ENOTSUP;
            serve__trun *r = &m->truns[m->ntruns++];
            r->box_off = (uint32_t)(q - moof);
            r->flags = rd32(c) & 0xffffff;
            r->count = rd32(c + 4);
            r->track = t;
            if (!(r->flags & 0x01)) return -ENOTSUP;
            size_t o = 8;
            if (clen < o + 4) return -EINVAL;
            r->data_offset = (int32_t)rd32(c + o), o += 4;
            if (r->flags & 0x04) o += 4;
            int es = trun_entry_size(r->flags);
            if ((uint64_t)clen < o + (uint64_t)es * r->count) return -EINVAL;
            const uint8_t *e = c + o;
            for (uint32_t i = 0; i < r->count; i++, e += es) {
                const uint8_t *f = e;
                uint32_t dur = d.dur, size = d.size;
                if (r->flags & 0x100) dur = rd32(f), f += 4;
                if (r->flags & 0x200) size = rd32(f);
                m->dur[t] += dur;
                m->bytes[t] += size;
            }
        }
    }
    if (t < 0) return -EINVAL;
    return 0;
}

int serve__moof_parse(const uint8_t *buf, size_t len, const serve__init *init, serve__moof *m)
{
    memset(m, 0, sizeof(*m));
    box b;
    if (box_read(buf, buf + len, &b) < 0 || b.type != FOURCC('m', 'o', 'o', 'f') || b.hdr != 8)
        return -EINVAL;
    m->size = (uint32_t)b.size;
    const uint8_t *end = buf + b.size;
    bool have_mfhd = false;
    for (const uint8_t *p = buf + 8; p < end; p += b.size) {
        if (box_read(p, end, &b) < 0) return -EINVAL;
        if (b.type == FOURCC('m', 'f', 'h', 'd')) {
            if (b.size < b.hdr + 8) return -EINVAL;
            m->seq_off = (uint32_t)(p + b.hdr + 4 - buf);
            have_mfhd = true;
        } else if (b.type == FOURCC('t', 'r', 'a', 'f')) {
            int ret = parse_traf(buf, p + b.hdr, p + b.size, init, m);
            if (ret < 0) return ret;
        }
    }
    if (!have_mfhd) return -EINVAL;
    if (!m->has[init->video]) return -ENODATA; /* e.g. the audio tail of a file */
    for (int t = 0; t < init->ntracks; t++)
        if (m->has[t] && m->tfdt_off[t] == 0) return -ENOTSUP; /* no tfdt: cannot rebase */
    return 0;
}

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

int serve__moof_patch(uint8_t *b, const serve__moof *m, uint32_t seq, const int64_t *delta)
{
    wr32(b + m->seq_off, seq);
    for (int t = 0; t < SERVE__MAX_TRACKS; t++) {
        if (!m->has[t]) continue;
        int ret = tfdt_write(b, m->tfdt_off[t], m->tfdt_v[t], m->tfdt[t], delta[t]);
        if (ret < 0) return ret;
    }
    return 0;
}

/* Growable output buffer for the few boxes we build. */
typedef struct obuf {
    uint8_t *p;
    size_t len, cap;
    int err;
} obuf;

static uint8_t *ob_reserve(obuf *o, size_t n)
{
    if (o->err) return NULL;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->len + n) cap *= 2;
        uint8_t *np = realloc(o->p, cap);
        if (!np) {
            o->err = -ENOMEM;
            return NULL;
        }
        o->p = np, o->cap = cap;
    }
    uint8_t *r = o->p + o->len;
    o->len += n;
    return r;
}

static void ob_put(obuf *o, const void *src, size_t n)
{
    uint8_t *d = ob_reserve(o, n);
    if (d) memcpy(d, src, n);
}

static void ob_put32(obuf *o, uint32_t v)
{
    uint8_t *d = ob_reserve(o, 4);
    if (d) wr32(d, v);
}

static void ob_put64(obuf *o, uint64_t v)
{
    uint8_t *d = ob_reserve(o, 8);
    if (d) wr64(d, v);
}

/* Starts a box; returns its offset for box_end(). */
static size_t box_begin(obuf *o, uint32_t type)
{
    size_t at = o->len;
    ob_put32(o, 0);
    ob_put32(o, type);
    return at;
}

static void box_end(obuf *o, size_t at)
{
    if (!o->err) wr32(o->p + at, (uint32_t)(o->len - at));
}

int serve__moof_cut(const uint8_t *b, const serve__init *init, const serve__moof *m,
                    const uint64_t *limit, uint32_t seq, const int64_t *delta, uint8_t **out,
                    size_t *out_len, serve__range *ranges, int *nranges, uint64_t *kept_dur)
{
    obuf o = {0};
    int ret = 0;
    uint32_t keep[SERVE__MAX_TRUNS] = {0};
    uint64_t keep_bytes[SERVE__MAX_TRUNS] = {0};
    size_t dofs_at[SERVE__MAX_TRUNS] = {0};
    uint64_t keep_track[SERVE__MAX_TRACKS] = {0};
    memset(kept_dur, 0, sizeof(uint64_t) * SERVE__MAX_TRACKS);
    *out = NULL, *nranges = 0;

    /* First pass: how many samples of each trun are kept. */
    uint64_t dts[SERVE__MAX_TRACKS];
    traf_defaults defs[SERVE__MAX_TRACKS];
    for (int t = 0; t < SERVE__MAX_TRACKS; t++) dts[t] = m->tfdt[t];
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
        int t = track_index(init, rd32(c + 4));
        if (t < 0) return -EINVAL;
        size_t off = 8 + ((fl & 0x02) ? 4 : 0);
        defs[t].dur = init->tracks[t].def_duration, defs[t].size = init->tracks[t].def_size;
        if (fl & 0x08) defs[t].dur = rd32(c + off), off += 4;
        if (fl & 0x10) defs[t].size = rd32(c + off);
    }
    for (int i = 0; i < m->ntruns; i++) {
        const serve__trun *r = &m->truns[i];
        const uint8_t *c = b + r->box_off + 8;
        const uint8_t *e = c + 12 + ((r->flags & 0x04) ? 4 : 0);
        int es = trun_entry_size(r->flags);
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
        int t = track_index(init, rd32(tfhd + tb.hdr + 4));
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
            const serve__trun *r = &m->truns[i];
            if (r->track != t || keep[i] == 0) continue;
            const uint8_t *c = b + r->box_off + 8;
            at = box_begin(&o, FOURCC('t', 'r', 'u', 'n'));
            ob_put32(&o, rd32(c));
            ob_put32(&o, keep[i]);
            dofs_at[i] = o.len;
            ob_put32(&o, 0);
            size_t fixed = (r->flags & 0x04) ? 4 : 0;
            ob_put(&o, c + 12, fixed + (size_t)trun_entry_size(r->flags) * keep[i]);
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

int serve__header_build(const uint8_t *init_buf, const serve__init *init, uint64_t duration_video,
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

int serve__scan_file(const char *path, int64_t start_us, index_fragment **out, size_t *n,
                     size_t *init_len)
{
    int ret = 0, fd = -1;
    uint8_t *buf = NULL;
    index_fragment *frags = NULL;
    size_t nfrags = 0, cap = 0;
    serve__init init;
    *out = NULL, *n = 0, *init_len = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ret = -errno;
        goto out;
    }
    size_t len = (size_t)st.st_size;
    buf = malloc(len ? len : 1);
    if (!buf) {
        ret = -ENOMEM;
        goto out;
    }
    if (pread(fd, buf, len, 0) != (ssize_t)len) {
        ret = -EIO;
        goto out;
    }
    if ((ret = serve__init_parse(buf, len, &init)) < 0) goto out;
    size_t pos = init.moov_off + init.moov_len;
    *init_len = pos;
    uint32_t vts = init.tracks[init.video].timescale;
    while (pos + 8 <= len) {
        box b;
        if (box_read(buf + pos, buf + len, &b) < 0) break; /* a torn tail */
        if (b.type == FOURCC('m', 'o', 'o', 'f')) {
            serve__moof m;
            box mb;
            size_t after = pos + b.size;
            if (box_read(buf + after, buf + len, &mb) < 0 || mb.type != FOURCC('m', 'd', 'a', 't'))
                break;
            ret = serve__moof_parse(buf + pos, b.size, &init, &m);
            if (ret == -ENODATA) { /* no video: not a fragment the recorder indexes */
                ret = 0;
                pos = after + mb.size;
                continue;
            }
            if (ret < 0) goto out;
            if (nfrags == cap) {
                cap = cap ? cap * 2 : 64;
                index_fragment *nf = realloc(frags, cap * sizeof(*nf));
                if (!nf) {
                    ret = -ENOMEM;
                    goto out;
                }
                frags = nf;
            }
            index_fragment *f = &frags[nfrags++];
            int v = init.video;
            f->offset = pos;
            f->size = (uint32_t)(b.size + mb.size);
            /* first sample flags: sample_is_non_sync_sample is bit 16 */
            const serve__trun *r = NULL;
            for (int i = 0; i < m.ntruns; i++)
                if (m.truns[i].track == v) {
                    r = &m.truns[i];
                    break;
                }
            uint32_t sflags = init.tracks[v].def_flags;
            if (r && (r->flags & 0x04)) {
                sflags = rd32(buf + pos + r->box_off + 20);
            } else if (r && (r->flags & 0x400) && r->count > 0) {
                sflags = rd32(buf + pos + r->box_off + 20 + ((r->flags & 0x100) ? 4 : 0) +
                              ((r->flags & 0x200) ? 4 : 0));
            }
            f->flags = (sflags & 0x10000) ? 0 : 1;
            f->start_us = start_us + (int64_t)(m.tfdt[v] * 1000000 / vts);
            f->end_us = start_us + (int64_t)((m.tfdt[v] + m.dur[v]) * 1000000 / vts);
            pos = after + mb.size;
        } else {
            pos += b.size;
        }
    }
    *out = frags, frags = NULL;
    *n = nfrags;
out:
    free(frags);
    free(buf);
    if (fd >= 0) close(fd);
    return ret;
}
