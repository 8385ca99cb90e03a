/*
 * Internals shared by the files of media/ (and its unit tests and fuzz
 * drivers). Prefix: media__. Errors: 0 or a negative errno.
 *
 * Every reader here checks each box size against its parent before reading:
 * the input is a file a crash may have left in any state, or a file that is
 * not ours at all.
 */
#ifndef VIGIL_MEDIA_INTERNAL_H
#define VIGIL_MEDIA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/media.h"

#define MEDIA__FOURCC(a, b, c, d) \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static inline uint32_t media__rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t media__rd64(const uint8_t *p)
{
    return ((uint64_t)media__rd32(p) << 32) | media__rd32(p + 4);
}

static inline void media__wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static inline void media__wr64(uint8_t *p, uint64_t v)
{
    media__wr32(p, (uint32_t)(v >> 32)), media__wr32(p + 4, (uint32_t)v);
}

/* ---- box.c: reading box headers, a growable output buffer, a hash ---- */

/* One box header within [p, end): type, total size and header size. */
typedef struct media__box {
    uint32_t type;
    size_t size, hdr;
} media__box;

/* Reads the box header at p (size 0: to end). -EINVAL when it does not fit. */
int media__box_read(const uint8_t *p, const uint8_t *end, media__box *b);
/* Finds the first child of type t in [p, end); NULL when none or malformed. */
const uint8_t *media__box_find(const uint8_t *p, const uint8_t *end, uint32_t t, media__box *out);

/* Growable output buffer for the few boxes built with malloc (clip headers,
 * cut moofs); the first failure sticks in err and later writes do nothing. */
typedef struct media__obuf {
    uint8_t *p;
    size_t len, cap;
    int err;
} media__obuf;

uint8_t *media__ob_reserve(media__obuf *o, size_t n);
void media__ob_put(media__obuf *o, const void *src, size_t n);
void media__ob_put32(media__obuf *o, uint32_t v);
void media__ob_put64(media__obuf *o, uint64_t v);
/* Starts a box; returns its offset for media__ob_box_end(). */
size_t media__ob_box_begin(media__obuf *o, uint32_t type);
void media__ob_box_end(media__obuf *o, size_t at);

uint64_t media__fnv1a(uint64_t h, const void *p, size_t n);
#define MEDIA__FNV_INIT 0xcbf29ce484222325ULL

/* ---- parse.c: the init segment and moof boxes ---- */

#define MEDIA__MAX_TRUNS 16 /* per moof, all trafs together */
#define MEDIA__MAX_TRUN_SAMPLES 65536 /* ours hold a GOP piece: a few hundred at most */

typedef struct media__track {
    uint32_t id;
    uint32_t timescale;
    uint32_t handler; /* 'vide', 'soun', ... */
    uint32_t format;  /* the first sample entry's: 'avc1', 'hvc1', 'mp4a', ... (0: none) */
    int width, height; /* from tkhd (video) */
    uint32_t def_duration, def_size, def_flags; /* from trex */
} media__track;

/* An init segment (ftyp + moov) as the mov muxer writes it for fragmented MP4. */
typedef struct media__init {
    size_t ftyp_off, ftyp_len;
    size_t moov_off, moov_len;
    uint32_t movie_timescale;
    int ntracks;
    int video; /* index into tracks of the (first) video track */
    media__track tracks[MEDIA_MAX_TRACKS];
    uint64_t sig; /* hash of what must match for two segments to be concatenated */
} media__init;

/* Index into init->tracks of the track with this id, or -1. */
static inline int media__track_index(const media__init *init, uint32_t id)
{
    for (int i = 0; i < init->ntracks; i++)
        if (init->tracks[i].id == id) return i;
    return -1;
}

/* Bytes per sample entry of a trun with these flags (duration, size, flags,
 * composition offset: 4 bytes each when present). */
static inline int media__trun_entry_size(uint32_t flags)
{
    return 4 * (!!(flags & 0x100) + !!(flags & 0x200) + !!(flags & 0x400) + !!(flags & 0x800));
}

/* Parses ftyp+moov at the start of b. 0, -EINVAL (not an fMP4 init segment) or
 * -ENOTSUP (more tracks than we handle, no video track). */
int media__init_parse(const uint8_t *b, size_t len, media__init *out);
/* Parses a moov box alone (b starts at its header; len >= its size): what
 * media__init_parse() does after finding it. ftyp_* and moov_off stay 0. */
int media__moov_parse(const uint8_t *b, size_t len, media__init *out);

typedef struct media__trun {
    uint32_t box_off;     /* of the trun box within the moof */
    uint32_t flags, count;
    int32_t data_offset;  /* relative to the moof start */
    int track;            /* index into init->tracks */
} media__trun;

typedef struct media__moof {
    uint32_t size;
    uint32_t seq_off;                   /* offset of mfhd's sequence_number */
    int ntruns;
    media__trun truns[MEDIA__MAX_TRUNS];
    bool has[MEDIA_MAX_TRACKS];         /* the track has a traf here */
    uint32_t tfdt_off[MEDIA_MAX_TRACKS]; /* offset of tfdt's value (0: no tfdt) */
    int tfdt_v[MEDIA_MAX_TRACKS];
    uint64_t tfdt[MEDIA_MAX_TRACKS];
    uint64_t dur[MEDIA_MAX_TRACKS];     /* sum of the sample durations */
    uint64_t bytes[MEDIA_MAX_TRACKS];   /* sum of the sample sizes */
    bool key;                           /* the first video sample is a sync sample */
} media__moof;

/* Parses a moof box (b starts at its header, len >= its size). Requires each
 * trun to carry a data offset and each traf to use default-base-is-moof.
 * 0, -EINVAL, -ENOTSUP, or -ENODATA when it has no video track fragment. */
int media__moof_parse(const uint8_t *b, size_t len, const media__init *init, media__moof *m);

/* ---- rewrite.c: moofs and the header of a clip ---- */

/* Rewrites in place: sequence number and, per track t, tfdt += delta[t].
 * -ERANGE if a new tfdt does not fit its field. */
int media__moof_patch(uint8_t *b, const media__moof *m, uint32_t seq, const int64_t *delta);

typedef struct media__range {
    uint64_t off; /* relative to the moof start in the source file */
    uint64_t len;
} media__range;

/* Builds the moof + mdat header of a fragment cut at limit[t] (decode time in
 * the track's timescale, original timeline: samples with dts >= limit are
 * dropped), with seq and tfdt += delta[t]. *out is malloc'd (caller frees);
 * ranges (at most MEDIA__MAX_TRUNS) are the media bytes that follow, in order.
 * kept_dur[t] receives the duration kept per track. 0 or negative. */
int media__moof_cut(const uint8_t *b, const media__init *init, const media__moof *m,
                    const uint64_t *limit, uint32_t seq, const int64_t *delta, uint8_t **out,
                    size_t *out_len, media__range *ranges, int *nranges, uint64_t *kept_dur);

/* Writes the clip header: ftyp, moov (mvex gets an mehd with duration_movie),
 * then a sidx of the video track when nrefs > 0 (sizes[i], durs[i] per fragment,
 * in the video timescale). *out malloc'd. 0 or negative. */
int media__header_build(const uint8_t *init_buf, const media__init *init, uint64_t duration_video,
                        const uint32_t *sizes, const uint32_t *durs, size_t nrefs, uint8_t **out,
                        size_t *out_len);

#endif
