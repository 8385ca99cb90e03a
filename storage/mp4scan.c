/*
 * A small reader of the fragmented MP4 files the segmenter writes, for crash
 * recovery: it walks the top-level boxes with pread (only moov and each moof
 * are read into memory, never the media), learns the video track (track id,
 * timescale, codec, size, trex defaults) from the moov, and lists every whole
 * moof+mdat pair with the video tfdt, summed sample durations and whether it
 * starts on a sync sample. The last whole pair tells where a file killed
 * mid-write must be cut. Everything is bounds-checked: the input is a file a
 * crash may have left in any state.
 */
#include "storage/retention_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BOX_READ (16u << 20) /* moov / moof larger than this are not ours */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

/* Iterates the child boxes in [p, end): returns 1 with type, body and body length
 * -EBADMSG on a malformed box. */
static int next_box(const uint8_t **p, const uint8_t *end, uint32_t *type, const uint8_t **body,
                    size_t *blen)
{
    if (*p >= end) return 0;
    if ((size_t)(end - *p) < 8) return -EBADMSG;
    uint64_t size = rd32(*p);
    size_t hdr = 8;
    *type = rd32(*p + 4);
    if (size == 1) {
        if ((size_t)(end - *p) < 16) return -EBADMSG;
        size = rd64(*p + 8);
        hdr = 16;
    } else if (size == 0) {
        size = (uint64_t)(end - *p);
    }
    if (size < hdr || size > (uint64_t)(end - *p)) return -EBADMSG;
    *body = *p + hdr;
    *blen = (size_t)size - hdr;
    *p += size;
    return 1;
}

#define FOURCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

typedef struct trex {
    uint32_t track, dur, flags;
} trex;

typedef struct moov_info {
    uint32_t video_track, timescale;
    char codec[16];
    int width, height;
    trex tx[8];
    int ntx;
} moov_info;

static void parse_trak(const uint8_t *p, const uint8_t *end, moov_info *m)
{
    uint32_t type, track = 0, timescale = 0, handler = 0;
    const uint8_t *b;
    size_t n;
    char codec[16] = "";
    int w = 0, h = 0;
    while (next_box(&p, end, &type, &b, &n) == 1) {
        if (type == FOURCC('t', 'k', 'h', 'd') && n >= 84) {
            int v1 = b[0] == 1;
            track = rd32(b + (v1 ? 20 : 12));
            w = (int)(rd32(b + n - 8) >> 16);
            h = (int)(rd32(b + n - 4) >> 16);
        } else if (type == FOURCC('m', 'd', 'i', 'a')) {
            const uint8_t *q = b, *qe = b + n, *c;
            size_t cn;
            uint32_t ct;
            while (next_box(&q, qe, &ct, &c, &cn) == 1) {
                if (ct == FOURCC('m', 'd', 'h', 'd') && cn >= 24)
                    timescale = rd32(c + (c[0] == 1 ? 20 : 12));
                else if (ct == FOURCC('h', 'd', 'l', 'r') && cn >= 12)
                    handler = rd32(c + 8);
                else if (ct == FOURCC('m', 'i', 'n', 'f')) {
                    /* minf/stbl/stsd: the first sample entry's format. */
                    const uint8_t *r = c, *re = c + cn, *d;
                    size_t dn;
                    uint32_t dt;
                    while (next_box(&r, re, &dt, &d, &dn) == 1) {
                        if (dt != FOURCC('s', 't', 'b', 'l')) continue;
                        const uint8_t *s = d, *se = d + dn, *e;
                        size_t en;
                        uint32_t et;
                        while (next_box(&s, se, &et, &e, &en) == 1) {
                            if (et != FOURCC('s', 't', 's', 'd') || en < 16) continue;
                            uint32_t fmt = rd32(e + 12);
                            if (fmt == FOURCC('a', 'v', 'c', '1') || fmt == FOURCC('a', 'v', 'c', '3'))
                                strcpy(codec, "h264");
                            else if (fmt == FOURCC('h', 'v', 'c', '1') ||
                                     fmt == FOURCC('h', 'e', 'v', '1'))
                                strcpy(codec, "hevc");
                        }
                    }
                }
            }
        }
    }
    if (handler == FOURCC('v', 'i', 'd', 'e') && !m->video_track) {
        m->video_track = track;
        m->timescale = timescale;
        memcpy(m->codec, codec, sizeof(codec));
        m->width = w;
        m->height = h;
    }
}

static int parse_moov(const uint8_t *p, const uint8_t *end, moov_info *m)
{
    uint32_t type;
    const uint8_t *b;
    size_t n;
    int r;
    while ((r = next_box(&p, end, &type, &b, &n)) == 1) {
        if (type == FOURCC('t', 'r', 'a', 'k')) {
            parse_trak(b, b + n, m);
        } else if (type == FOURCC('m', 'v', 'e', 'x')) {
            const uint8_t *q = b, *qe = b + n, *c;
            size_t cn;
            uint32_t ct;
            while (next_box(&q, qe, &ct, &c, &cn) == 1)
                if (ct == FOURCC('t', 'r', 'e', 'x') && cn >= 24 && m->ntx < 8) {
                    m->tx[m->ntx].track = rd32(c + 4);
                    m->tx[m->ntx].dur = rd32(c + 12);
                    m->tx[m->ntx].flags = rd32(c + 20);
                    m->ntx++;
                }
        }
    }
    if (r < 0) return r;
    return m->video_track && m->timescale ? 0 : -EBADMSG;
}

/* The video traf of a moof: tfdt, summed durations, first sample's sync flag. */
static int parse_moof(const uint8_t *p, const uint8_t *end, const moov_info *m,
                      storage__mp4_frag *f)
{
    uint32_t type;
    const uint8_t *b;
    size_t n;
    int found = 0;
    uint32_t dflt_dur = 0, dflt_flags = 0;
    for (int i = 0; i < m->ntx; i++)
        if (m->tx[i].track == m->video_track) {
            dflt_dur = m->tx[i].dur;
            dflt_flags = m->tx[i].flags;
        }
    while (next_box(&p, end, &type, &b, &n) == 1) {
        if (type != FOURCC('t', 'r', 'a', 'f')) continue;
        const uint8_t *q = b, *qe = b + n, *c;
        size_t cn;
        uint32_t ct;
        int video = 0, first = 1;
        uint32_t dur = dflt_dur, sflags = dflt_flags;
        while (next_box(&q, qe, &ct, &c, &cn) == 1) {
            if (ct == FOURCC('t', 'f', 'h', 'd') && cn >= 8) {
                uint32_t fl = rd32(c) & 0xffffff;
                video = rd32(c + 4) == m->video_track;
                size_t off = 8;
                if (fl & 0x1) off += 8;
                if (fl & 0x2) off += 4;
                if (fl & 0x8) {
                    if (cn < off + 4) return -EBADMSG;
                    dur = rd32(c + off);
                    off += 4;
                }
                if (fl & 0x10) off += 4;
                if (fl & 0x20) {
                    if (cn < off + 4) return -EBADMSG;
                    sflags = rd32(c + off);
                }
            } else if (!video) {
                continue;
            } else if (ct == FOURCC('t', 'f', 'd', 't') && cn >= 8) {
                f->base_dt = c[0] == 1 && cn >= 12 ? rd64(c + 4) : rd32(c + 4);
                found = 1;
            } else if (ct == FOURCC('t', 'r', 'u', 'n') && cn >= 8) {
                uint32_t fl = rd32(c) & 0xffffff, count = rd32(c + 4);
                size_t off = 8, es = 0;
                uint32_t first_flags = sflags;
                int has_first = 0;
                if (fl & 0x1) off += 4;
                if (fl & 0x4) {
                    if (cn < off + 4) return -EBADMSG;
                    first_flags = rd32(c + off);
                    has_first = 1;
                    off += 4;
                }
                es = 4u * (size_t)(!!(fl & 0x100) + !!(fl & 0x200) + !!(fl & 0x400) +
                                   !!(fl & 0x800));
                if ((uint64_t)count * es > cn - off) return -EBADMSG;
                for (uint32_t i = 0; i < count; i++) {
                    const uint8_t *e = c + off + (size_t)i * es;
                    uint32_t d = dur, sf = sflags;
                    size_t k = 0;
                    if (fl & 0x100) d = rd32(e + 4 * k++);
                    if (fl & 0x200) k++;
                    if (fl & 0x400) sf = rd32(e + 4 * k++);
                    if (first && i == 0) {
                        if (has_first) sf = first_flags;
                        f->key = !(sf & 0x10000);
                    }
                    f->dur += d;
                }
                if (count) first = 0;
                found = 1;
            }
        }
    }
    return found ? 0 : -EBADMSG;
}

static int read_at(int fd, uint64_t off, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) return -EBADMSG;
        done += (size_t)n;
    }
    return 0;
}

void storage__mp4_scan_free(storage__mp4_scan *s)
{
    free(s->frags);
    memset(s, 0, sizeof(*s));
}

int storage__mp4_scan_fd(int fd, uint64_t size, storage__mp4_scan *out)
{
    int r = 0;
    uint8_t *buf = NULL;
    moov_info m;
    uint64_t pos = 0, moof_at = 0, moof_size = 0;
    storage__mp4_frag pending;
    int have_moof = 0;
    size_t cap = 0;
    memset(out, 0, sizeof(*out));
    memset(&m, 0, sizeof(m));
    memset(&pending, 0, sizeof(pending));
    while (pos + 8 <= size) {
        uint8_t h[16];
        if ((r = read_at(fd, pos, h, 8)) < 0) goto out;
        uint64_t bsize = rd32(h);
        uint32_t type = rd32(h + 4);
        size_t hdr = 8;
        if (bsize == 1) {
            if (pos + 16 > size) break;
            if ((r = read_at(fd, pos + 8, h + 8, 8)) < 0) goto out;
            bsize = rd64(h + 8);
            hdr = 16;
        } else if (bsize == 0) {
            bsize = size - pos; /* to the end: only whole if the writer finished it */
        }
        if (bsize < hdr) {
            r = -EBADMSG;
            goto out;
        }
        if (pos + bsize > size) break; /* partial box: the crash point */
        if (type == FOURCC('m', 'o', 'o', 'v') || type == FOURCC('m', 'o', 'o', 'f')) {
            if (bsize > MAX_BOX_READ) {
                r = -EBADMSG;
                goto out;
            }
            uint8_t *nb = realloc(buf, (size_t)bsize);
            if (!nb) {
                r = -ENOMEM;
                goto out;
            }
            buf = nb;
            if ((r = read_at(fd, pos, buf, (size_t)bsize)) < 0) goto out;
        }
        if (type == FOURCC('m', 'o', 'o', 'v')) {
            if (out->init_end) {
                r = -EBADMSG; /* two inits: not ours */
                goto out;
            }
            if ((r = parse_moov(buf + hdr, buf + bsize, &m)) < 0) goto out;
            out->init_end = out->valid_end = pos + bsize;
            out->video_track = m.video_track;
            out->timescale = m.timescale;
            memcpy(out->codec, m.codec, sizeof(out->codec));
            out->width = m.width;
            out->height = m.height;
        } else if (type == FOURCC('m', 'o', 'o', 'f')) {
            if (!out->init_end) {
                r = -EBADMSG;
                goto out;
            }
            memset(&pending, 0, sizeof(pending));
            have_moof = parse_moof(buf + hdr, buf + bsize, &m, &pending) == 0;
            moof_at = pos;
            moof_size = bsize;
        } else if (type == FOURCC('m', 'd', 'a', 't')) {
            if (have_moof && moof_at + moof_size == pos && moof_size + bsize <= UINT32_MAX) {
                if (out->nfrags == cap) {
                    size_t ncap = cap ? 2 * cap : 64;
                    storage__mp4_frag *nf = realloc(out->frags, ncap * sizeof(*nf));
                    if (!nf) {
                        r = -ENOMEM;
                        goto out;
                    }
                    out->frags = nf;
                    cap = ncap;
                }
                pending.offset = moof_at;
                pending.size = (uint32_t)(moof_size + bsize);
                out->frags[out->nfrags++] = pending;
                out->valid_end = pos + bsize;
            }
            have_moof = 0;
        }
        pos += bsize;
    }
    if (!out->init_end) r = -EBADMSG;
out:
    free(buf);
    if (r < 0) storage__mp4_scan_free(out);
    return r;
}
