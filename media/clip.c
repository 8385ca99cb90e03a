/*
 * Clip assembly. A clip is a virtual file laid out as
 *
 *   [header: ftyp, moov (+mehd), sidx]
 *   [moof 1][mdat 1] ... [moof n-1][mdat n-1]     moofs patched in place
 *   [moof n'][mdat n' header][media ranges]        the last one cut at `end`
 *
 * media_clip_open() plans it from the index (segments, then their fragment
 * tables) and one pread of each chosen moof, so the exact length, the sidx and
 * the ETag are known before the first byte. The plan keeps ~32 bytes per
 * fragment and one path per segment; media_clip_read() regenerates each
 * patched moof from the file when it is read and preads media bytes straight
 * from the segment files, so memory does not grow with the clip's bytes.
 *
 * Timeline: within a segment the tracks keep their own decode times; each
 * segment is shifted so its video starts where the previous one's ended, and
 * its other tracks move by the same amount of time. The clip starts at 0.
 */
#include "media/media_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

#define MAX_SEGMENTS 100000
#define GAP_TOLERANCE_US 1000000 /* wall gap between segments still called continuous */
#define MOOF_READ 8192 /* a moof of a 2 s GOP with audio is ~1-2 KB */

typedef struct cseg {
    int64_t id;
    char *path;
    int64_t delta[MEDIA_MAX_TRACKS];
} cseg;

typedef struct cfrag {
    uint64_t moof_off; /* in its segment file */
    uint64_t clip_off; /* after the header */
    uint32_t moof_len;
    uint32_t mdat_len; /* whole mdat box */
    uint32_t seg;
    uint32_t pad;
} cfrag;

struct media_clip {
    media_clip_info info;
    media_pins pins;
    bool pinned; /* pins was given: unpin on free */
    int64_t *ids;
    uint8_t *head;
    size_t head_len;
    cseg *segs;
    size_t nsegs;
    cfrag *frags; /* all but the last */
    size_t nfrags;
    uint8_t *tail; /* last moof + mdat header */
    size_t tail_len;
    uint64_t tail_off; /* after the header */
    uint32_t tail_seg;
    uint64_t tail_moof_off;
    media__range tail_ranges[MEDIA__MAX_TRUNS];
    int ntail_ranges;
    media__init init;
    int fd;
    int64_t fd_seg;
    uint8_t *scratch;
    size_t scratch_cap;
    int64_t scratch_frag;
};

/* ---- planning ---- */

typedef struct seg_list {
    index_segment *v;
    size_t n, cap;
} seg_list;

static int collect_segment(const index_segment *s, void *arg)
{
    seg_list *l = arg;
    if (l->n == MAX_SEGMENTS) return 1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        index_segment *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv) return -ENOMEM;
        l->v = nv, l->cap = cap;
    }
    l->v[l->n++] = *s;
    return 0;
}

/* A chosen fragment before its moof is read. */
typedef struct pick {
    index_fragment f;
    uint32_t seg;
} pick;

typedef struct pick_list {
    pick *v;
    size_t n, cap;
} pick_list;

static int pick_add(pick_list *l, const index_fragment *f, uint32_t seg)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        pick *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv) return -ENOMEM;
        l->v = nv, l->cap = cap;
    }
    l->v[l->n].f = *f;
    l->v[l->n].seg = seg;
    l->n++;
    return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) return -EIO; /* the file is shorter than the index says */
        p += r, len -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

static int read_init(int fd, size_t len, uint8_t **buf, media__init *init)
{
    if (len < 16 || len > (16u << 20)) return -EINVAL;
    uint8_t *b = malloc(len);
    if (!b) return -ENOMEM;
    int ret = pread_full(fd, b, len, 0);
    if (ret == 0) ret = media__init_parse(b, len, init);
    if (ret < 0) {
        free(b);
        return ret;
    }
    *buf = b;
    return 0;
}

static int64_t floordiv(__int128 a, int64_t b)
{
    __int128 q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return (int64_t)q;
}

static int open_seg(media_clip *c, uint32_t seg)
{
    if (c->fd >= 0 && c->fd_seg == seg) return c->fd;
    if (c->fd >= 0) close(c->fd);
    c->fd = open(c->segs[seg].path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) {
        int ret = -errno;
        vg_log(LOG_WARNING, "media: clip: open %s: %s", c->segs[seg].path, strerror(errno));
        c->fd_seg = -1;
        return ret;
    }
    c->fd_seg = seg;
    return c->fd;
}

/* Reads the moof at off into c->scratch, and its mdat's header: the piece
 * (moof + mdat) must fit in the size bytes from off, which may hold more
 * pieces after it (a table entry spans a GOP's pieces, index__frags_group()). */
static int read_moof(media_clip *c, uint32_t seg, uint64_t off, uint32_t size, uint32_t *moof_len,
                     uint32_t *mdat_len)
{
    int fd = open_seg(c, seg);
    if (fd < 0) return fd;
    size_t want = size < MOOF_READ ? size : MOOF_READ;
    if (c->scratch_cap < want) {
        uint8_t *n = realloc(c->scratch, want);
        if (!n) return -ENOMEM;
        c->scratch = n, c->scratch_cap = want;
    }
    c->scratch_frag = -1;
    int ret = pread_full(fd, c->scratch, want, off);
    if (ret < 0) return ret;
    if (want < 16 || memcmp(c->scratch + 4, "moof", 4) != 0) return -EINVAL;
    uint32_t ml = ((uint32_t)c->scratch[0] << 24) | ((uint32_t)c->scratch[1] << 16) |
                  ((uint32_t)c->scratch[2] << 8) | c->scratch[3];
    if (ml < 16 || (uint64_t)ml + 8 > size) return -EINVAL;
    if (ml + 8 > want) {
        uint8_t *n = realloc(c->scratch, ml + 8);
        if (!n) return -ENOMEM;
        c->scratch = n, c->scratch_cap = ml + 8;
        if ((ret = pread_full(fd, c->scratch, ml + 8, off)) < 0) return ret;
    }
    const uint8_t *mh = c->scratch + ml;
    uint32_t dl = ((uint32_t)mh[0] << 24) | ((uint32_t)mh[1] << 16) | ((uint32_t)mh[2] << 8) | mh[3];
    if (memcmp(mh + 4, "mdat", 4) != 0 || dl < 8 || dl > size - ml) return -EINVAL;
    *moof_len = ml;
    *mdat_len = dl;
    return 0;
}

static bool run_continues(const index_segment *a, const index_segment *b, int64_t a_end_us,
                          int64_t b_start_us)
{
    if (a->run_start_us && b->run_start_us && a->run_start_us != b->run_start_us) return false;
    if (strcmp(a->codec, b->codec) != 0 || strcmp(a->audio_codec, b->audio_codec) != 0 ||
        a->width != b->width || a->height != b->height)
        return false;
    return b_start_us - a_end_us <= GAP_TOLERANCE_US;
}

int media_clip_open(index_reader *r, media_abspath_fn abspath, void *abspath_opaque,
                    const media_pins *pins, const char *camera, int64_t start_us, int64_t end_us,
                    media_clip **out)
{
    int ret = 0;
    seg_list segs = {0};
    pick_list picks = {0};
    index_fragment *frags = NULL;
    uint8_t *init_buf = NULL, *other_init = NULL;
    uint32_t *sizes = NULL, *durs = NULL;
    media_clip *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c) return -ENOMEM;
    c->fd = -1, c->fd_seg = -1, c->scratch_frag = -1;

    if ((ret = index_query_segments(r, camera, start_us, end_us, collect_segment, &segs)) < 0)
        goto out;
    if (segs.n == 0) {
        ret = -ENOENT;
        goto out;
    }
    c->segs = calloc(segs.n, sizeof(*c->segs));
    c->ids = calloc(segs.n, sizeof(*c->ids));
    if (!c->segs || !c->ids) {
        ret = -ENOMEM;
        goto out;
    }

    /* Choose the fragments: from the keyframe fragment at or before start,
     * through segments of the same run, to the first fragment at or after end. */
    const index_segment *prev = NULL;
    int64_t prev_end = 0;
    bool done = false;
    for (size_t i = 0; i < segs.n && !done; i++) {
        const index_segment *s = &segs.v[i];
        size_t n = 0;
        free(frags), frags = NULL;
        if ((ret = index_get_fragments(r, s->id, &frags, &n)) < 0) goto out;
        if (n == 0) continue;
        size_t first = 0;
        if (!prev) {
            ssize_t best = -1;
            for (size_t k = 0; k < n; k++)
                if ((frags[k].flags & 1) && frags[k].start_us <= start_us) best = (ssize_t)k;
            if (best < 0)
                for (size_t k = 0; k < n && best < 0; k++)
                    if ((frags[k].flags & 1) && frags[k].start_us < end_us &&
                        frags[k].end_us > start_us)
                        best = (ssize_t)k;
            if (best < 0) continue;
            first = (size_t)best;
        } else if (!run_continues(prev, s, prev_end, frags[0].start_us)) {
            c->info.truncated = "gap";
            break;
        }
        /* The segment file: its init must match the clip's moov. */
        char path[4096];
        if ((ret = abspath(abspath_opaque, s->pool, s->path, path, sizeof(path))) < 0) goto out;
        uint32_t si = (uint32_t)c->nsegs;
        c->segs[si].id = s->id;
        c->ids[si] = s->id;
        if (!(c->segs[si].path = strdup(path))) {
            ret = -ENOMEM;
            goto out;
        }
        c->nsegs++;
        /* Pin before the file is first opened: from here on retention waits.
         * Then re-read the row: retention may have checked the pin before we
         * took it; if the row is still there now, retention will see the pin
         * before it unlinks (storage/retention.c defers a pinned file); if it
         * is gone, the file may be too, and the segment is dropped. */
        if (pins) {
            pins->add(pins->opaque, &s->id, 1);
            c->pins = *pins;
            c->pinned = true;
            c->info.nsegments = c->nsegs;
            index_segment again;
            int gr = index_get_segment(r, s->id, &again);
            if (gr == -ENOENT) {
                pins->remove(pins->opaque, &s->id, 1);
                free(c->segs[si].path);
                c->segs[si].path = NULL;
                c->nsegs--;
                c->info.nsegments = c->nsegs;
                if (!prev) continue; /* deleted before the clip began: start later */
                c->info.truncated = "gap";
                break;
            }
            if (gr < 0) {
                ret = gr;
                goto out;
            }
        }
        int fd = open_seg(c, si);
        if (fd < 0) {
            ret = fd;
            goto out;
        }
        if (!prev) {
            if ((ret = read_init(fd, frags[0].offset, &init_buf, &c->init)) < 0) goto out;
        } else {
            media__init other = {0};
            if ((ret = read_init(fd, frags[0].offset, &other_init, &other)) < 0) goto out;
            free(other_init), other_init = NULL;
            if (other.sig != c->init.sig) {
                /* Not part of the clip after all: forget and unpin it. */
                close(c->fd);
                c->fd = -1, c->fd_seg = -1;
                if (c->pinned) c->pins.remove(c->pins.opaque, &s->id, 1);
                free(c->segs[si].path);
                c->segs[si].path = NULL;
                c->nsegs--;
                c->info.truncated = "codec_change";
                break;
            }
        }
        for (size_t k = first; k < n; k++) {
            if (frags[k].start_us >= end_us) {
                done = true;
                break;
            }
            if ((ret = pick_add(&picks, &frags[k], si)) < 0) goto out;
            prev_end = frags[k].end_us;
        }
        prev = s;
    }
    c->info.segment_ids = c->ids;
    if (picks.n == 0) {
        ret = -ENOENT;
        goto out;
    }
    /* Keep only segments that contributed (a codec change may end the list). */
    c->info.nsegments = c->nsegs;

    /* Read every moof of the chosen entries: sizes, durations, the timeline
     * shifts. An entry is a keyframe fragment and the pieces of its GOP after
     * it, back to back: they are walked here, where each moof is read anyway.
     * The end is found in the last entry, on the timeline of its first piece. */
    size_t np = 0, pcap = 0; /* pieces */
    const media__init *init = &c->init;
    int v = init->video;
    uint32_t vts = init->tracks[v].timescale;
    uint64_t pos = 0, total_dur = 0;
    int64_t vend = 0; /* video end of the previous fragment, new timeline */
    uint64_t etag = media__fnv1a(MEDIA__FNV_INIT, camera, strlen(camera));
    bool ended = false;
    for (size_t i = 0; i < picks.n && !ended; i++) {
        const pick *p = &picks.v[i];
        cseg *sg = &c->segs[p->seg];
        const bool last_pick = i + 1 == picks.n;
        const uint64_t gend = p->f.offset + p->f.size;
        uint64_t off = p->f.offset, tfdt0 = 0;
        uint64_t limit[MEDIA_MAX_TRACKS];
        for (int t = 0; t < MEDIA_MAX_TRACKS; t++) limit[t] = UINT64_MAX;
        for (bool first_piece = true; off < gend && !ended; first_piece = false) {
            uint32_t ml, dl;
            media__moof m;
            if ((ret = read_moof(c, p->seg, off, (uint32_t)(gend - off), &ml, &dl)) < 0) goto out;
            if ((ret = media__moof_parse(c->scratch, ml, init, &m)) < 0) goto out;
            if (np == pcap) {
                size_t cap = pcap ? pcap * 2 : 256;
                cfrag *nf = realloc(c->frags, cap * sizeof(*nf));
                if (nf) c->frags = nf;
                uint32_t *ns = nf ? realloc(sizes, cap * sizeof(*ns)) : NULL;
                if (ns) sizes = ns;
                uint32_t *nd = ns ? realloc(durs, cap * sizeof(*nd)) : NULL;
                if (!nd) {
                    ret = -ENOMEM;
                    goto out;
                }
                durs = nd, pcap = cap;
            }
            if (first_piece) {
                tfdt0 = m.tfdt[v];
                if (last_pick && end_us - p->f.start_us < INT64_MAX / 4) {
                    /* Decode time limit per track, on the entry's own timeline,
                     * from the wall time of its first frame. */
                    int64_t rel_us = end_us - p->f.start_us;
                    for (int t = 0; t < init->ntracks; t++) {
                        uint32_t ts = init->tracks[t].timescale;
                        __int128 l = (__int128)tfdt0 * ts / vts + ((__int128)rel_us * ts + 999999) / 1000000;
                        limit[t] = l < 0 ? 0 : (l > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)l);
                    }
                }
            }
            if (first_piece && (i == 0 || picks.v[i - 1].seg != p->seg)) {
                /* First fragment of a segment: where its tracks go. */
                if (i == 0) {
                    int mt = v;
                    for (int t = 0; t < init->ntracks; t++)
                        if (m.has[t] && (__int128)m.tfdt[t] * init->tracks[mt].timescale <
                                            (__int128)m.tfdt[mt] * init->tracks[t].timescale)
                            mt = t;
                    for (int t = 0; t < init->ntracks; t++)
                        sg->delta[t] = -floordiv((__int128)m.tfdt[mt] * init->tracks[t].timescale,
                                                 init->tracks[mt].timescale);
                } else {
                    int64_t shift_v = vend - (int64_t)m.tfdt[v];
                    for (int t = 0; t < init->ntracks; t++) {
                        int64_t d = floordiv((__int128)shift_v * init->tracks[t].timescale, vts);
                        if (m.has[t] && d < -(int64_t)m.tfdt[t]) d = -(int64_t)m.tfdt[t];
                        sg->delta[t] = d;
                    }
                }
            }
            etag = media__fnv1a(etag, &sg->id, sizeof(sg->id));
            etag = media__fnv1a(etag, &off, sizeof(off));
            uint32_t psize = ml + dl;
            etag = media__fnv1a(etag, &psize, sizeof(psize));
            const bool last_piece = off + psize >= gend;
            if (!last_pick || (!last_piece && m.tfdt[v] + m.dur[v] < limit[v])) {
                cfrag *f = &c->frags[np];
                f->moof_off = off;
                f->clip_off = pos;
                f->moof_len = ml;
                f->mdat_len = dl;
                f->seg = p->seg;
                sizes[np] = psize;
                durs[np] = (uint32_t)m.dur[v];
                np++;
                pos += psize;
                total_dur += m.dur[v];
                vend = (int64_t)m.tfdt[v] + sg->delta[v] + (int64_t)m.dur[v];
                /* A shift that does not fit must fail now, not mid-download. */
                for (int t = 0; t < init->ntracks; t++)
                    if (m.has[t] && sg->delta[t] < 0 && (uint64_t)-sg->delta[t] > m.tfdt[t]) {
                        ret = -ERANGE;
                        goto out;
                    }
                off += psize;
                continue;
            }
            /* The clip's last piece: cut at end. */
            uint64_t lim[MEDIA_MAX_TRACKS], kept[MEDIA_MAX_TRACKS];
            memcpy(lim, limit, sizeof(lim));
            if (lim[v] <= m.tfdt[v]) lim[v] = m.tfdt[v] + 1; /* at least the keyframe */
            ret = media__moof_cut(c->scratch, init, &m, lim, (uint32_t)(np + 1), sg->delta,
                                  &c->tail, &c->tail_len, c->tail_ranges, &c->ntail_ranges, kept);
            if (ret < 0) goto out;
            for (int k = 0; k < c->ntail_ranges; k++) c->tail_ranges[k].off += off;
            c->tail_off = pos;
            c->tail_seg = p->seg;
            c->tail_moof_off = off;
            uint64_t tl = c->tail_len;
            for (int k = 0; k < c->ntail_ranges; k++) tl += c->tail_ranges[k].len;
            sizes[np] = (uint32_t)tl;
            durs[np] = (uint32_t)kept[v];
            np++;
            total_dur += kept[v];
            pos += tl;
            etag = media__fnv1a(etag, lim, sizeof(lim));
            c->info.end_us =
                p->f.start_us + (int64_t)((m.tfdt[v] - tfdt0 + kept[v]) * 1000000 / vts);
            ended = true;
        }
        if (!ended && off != gend) {
            ret = -EINVAL; /* the entry does not end where its last piece does */
            goto out;
        }
    }
    if (!ended) {
        ret = -EINVAL;
        goto out;
    }
    c->nfrags = np - 1;
    if ((ret = media__header_build(init_buf, init, total_dur, sizes, durs, np, &c->head,
                                   &c->head_len)) < 0)
        goto out;
    c->info.length = c->head_len + pos;
    c->info.start_us = picks.v[0].f.start_us;
    etag = media__fnv1a(etag, c->head, c->head_len);
    snprintf(c->info.etag, sizeof(c->info.etag), "\"%016" PRIx64 "\"", etag);
    *out = c, c = NULL;
out:
    if (ret < 0 && ret != -ENOENT)
        vg_log_cam(LOG_WARNING, camera, "media: clip plan failed: %s", strerror(-ret));
    media_clip_free(&c);
    free(sizes);
    free(durs);
    free(init_buf);
    free(other_init);
    free(frags);
    free(picks.v);
    free(segs.v);
    return ret;
}

const media_clip_info *media_clip_info_get(const media_clip *c)
{
    return &c->info;
}

/* ---- reading ---- */

static size_t frag_find(const media_clip *c, uint64_t rel)
{
    size_t lo = 0, hi = c->nfrags; /* first with clip_off > rel, minus one */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->frags[mid].clip_off <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1; /* frags[0].clip_off == 0 <= rel */
}

int media_clip_read(media_clip *c, uint64_t pos, uint8_t *buf, size_t len)
{
    int ret;
    if (pos + len > c->info.length || pos + len < pos) return -EINVAL;
    while (len > 0) {
        size_t n;
        if (pos < c->head_len) {
            n = c->head_len - pos < len ? (size_t)(c->head_len - pos) : len;
            memcpy(buf, c->head + pos, n);
        } else if (pos - c->head_len >= c->tail_off) {
            uint64_t o = pos - c->head_len - c->tail_off;
            if (o < c->tail_len) {
                n = c->tail_len - o < len ? (size_t)(c->tail_len - o) : len;
                memcpy(buf, c->tail + o, n);
            } else {
                o -= c->tail_len;
                int k = 0;
                while (k < c->ntail_ranges && o >= c->tail_ranges[k].len) o -= c->tail_ranges[k++].len;
                if (k == c->ntail_ranges) return -EINVAL;
                n = c->tail_ranges[k].len - o < len ? (size_t)(c->tail_ranges[k].len - o) : len;
                int fd = open_seg(c, c->tail_seg);
                if (fd < 0) return fd;
                if ((ret = pread_full(fd, buf, n, c->tail_ranges[k].off + o)) < 0) return ret;
            }
        } else {
            uint64_t rel = pos - c->head_len;
            size_t i = frag_find(c, rel);
            const cfrag *f = &c->frags[i];
            uint64_t o = rel - f->clip_off;
            if (o < f->moof_len) {
                if (c->scratch_frag != (int64_t)i) {
                    uint32_t ml, dl;
                    media__moof m;
                    ret = read_moof(c, f->seg, f->moof_off, f->moof_len + f->mdat_len, &ml, &dl);
                    if (ret < 0) return ret;
                    if ((ret = media__moof_parse(c->scratch, ml, &c->init, &m)) < 0) return ret;
                    if (ml != f->moof_len || dl != f->mdat_len) return -EIO; /* the file changed */
                    ret = media__moof_patch(c->scratch, &m, (uint32_t)(i + 1), c->segs[f->seg].delta);
                    if (ret < 0) return ret;
                    c->scratch_frag = (int64_t)i;
                }
                n = f->moof_len - o < len ? (size_t)(f->moof_len - o) : len;
                memcpy(buf, c->scratch + o, n);
            } else {
                o -= f->moof_len;
                n = f->mdat_len - o < len ? (size_t)(f->mdat_len - o) : len;
                int fd = open_seg(c, f->seg);
                if (fd < 0) return fd;
                if ((ret = pread_full(fd, buf, n, f->moof_off + f->moof_len + o)) < 0) return ret;
            }
        }
        pos += n, buf += n, len -= n;
    }
    return 0;
}

void media_clip_free(media_clip **cp)
{
    media_clip *c = *cp;
    if (!c) return;
    if (c->pinned && c->nsegs) c->pins.remove(c->pins.opaque, c->ids, c->nsegs);
    if (c->fd >= 0) close(c->fd);
    for (size_t i = 0; i < c->nsegs; i++) free(c->segs[i].path);
    free(c->segs);
    free(c->ids);
    free(c->frags);
    free(c->head);
    free(c->tail);
    free(c->scratch);
    free(c);
    *cp = NULL;
}
