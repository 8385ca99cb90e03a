/*
 * media: the fragmented-MP4 (ISO BMFF) boxes vigil reads and writes. Prefix:
 * media_. Errors: 0 or a negative errno (FFmpeg's AVERROR values are too).
 *
 * Segment files are fragmented MP4 as the segmenter writes them: ftyp+moov
 * (from libavformat's mov muxer, with mvex/trex and no samples), then one
 * moof+mdat per fragment, default-base-is-moof, every trun carrying a data
 * offset. This module owns every place where those bytes are built or parsed:
 *   - the init segment (init.c, through libavformat's mov muxer) and each
 *     fragment's moof + mdat header (fmp4_write.c), for the segmenter and
 *     live view;
 *   - the scanner (scan.c): a segment file's whole fragments, for startup
 *     reconciliation and the fixture importer;
 *   - clips (clip.c, clipfile.c): an MP4 of any time range computed from the
 *     index and the segment files (moofs patched or cut, a new header), for
 *     GET .../clip.mp4 and `vigilctl clip`.
 * The box code (box.c, parse.c, rewrite.c, scan.c, fmp4_write.c) knows
 * nothing of the index; only the clip planner reads it. Dependencies: common,
 * config, index, libavformat (init.c only).
 */
#ifndef VIGIL_MEDIA_H
#define VIGIL_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "index/index.h"

#define MEDIA_MAX_TRACKS 4 /* tracks of a segment file we handle */

/* ---- scan.c: the whole fragments of a segment file ---- */

/* One whole moof+mdat pair of a segment file (pairs without a video track
 * fragment are not listed). */
typedef struct media_scan_frag {
    uint64_t offset;  /* of the moof */
    uint32_t size;    /* moof + mdat */
    int key;          /* first video sample is a sync sample */
    uint64_t base_dt; /* video tfdt, in timescale units */
    uint64_t dur;     /* sum of the video sample durations */
} media_scan_frag;

typedef struct media_scan {
    uint64_t init_end;  /* end of the moov (the init segment's length) */
    uint64_t valid_end; /* end of the last whole listed moof+mdat (init_end if none) */
    uint32_t timescale; /* of the video track */
    uint32_t video_track;
    char codec[16];     /* "h264", "hevc" or "" */
    int width, height;
    media_scan_frag *frags; /* malloc'd */
    size_t nfrags;
} media_scan;

/* Walks the top-level boxes of fd (size bytes) with pread, reading only the
 * moov and each moof (never the media), and lists its whole fragments; a
 * trailing partial box (a crash mid-write) is ignored, so valid_end is where
 * such a file must be cut. 0 or negative (-EBADMSG: not an fMP4 of ours).
 * Free with media_scan_free() (also after a failure). */
int media_scan_fd(int fd, uint64_t size, media_scan *out);
void media_scan_free(media_scan *s);

/* ---- fmp4_write.c: fragments (moof + mdat header) and prft ----
 *
 * The writer builds a fragment's header into the caller's buffer (the
 * segmenter reuses one per camera; nothing is allocated here): moof (mfhd, a
 * traf per track: tfhd with default-base-is-moof, a 64-bit tfdt, one trun with
 * per-sample duration, size, flags and, for video, composition offset), then
 * the mdat header. The caller writes the media bytes after it (one pwritev),
 * laid out as it declared with each traf's mdat_off. A fragment may hold a
 * whole GOP or a single frame (live view). Usage:
 *   media_frag_writer w;
 *   media_frag_begin(&w, buf, seq);             buf: media_frag_max_size() bytes
 *   media_frag_traf(&w, 1, tfdt, true, 0);      then media_frag_sample() per sample
 *   media_frag_traf(&w, 2, atfdt, false, vbytes); ...
 *   len = media_frag_end(&w, vbytes + abytes);  moof + mdat header, data offsets set */

#define MEDIA_SAMPLE_SYNC 0x02000000u     /* sample_depends_on = 2 (no other) */
#define MEDIA_SAMPLE_NON_SYNC 0x01010000u /* depends on others, non-sync */

typedef struct media_frag_writer {
    uint8_t *moof, *p;    /* the moof's start, the write position */
    uint8_t *traf, *trun; /* the open traf and its trun (NULL: none) */
    uint32_t count;       /* samples in the open trun */
    int cto;              /* the open trun carries composition offsets */
    int ntrafs;
    uint8_t *data_off_at[MEDIA_MAX_TRACKS]; /* where each trun's data offset goes */
    uint32_t mdat_off[MEDIA_MAX_TRACKS];    /* its samples' offset in the mdat payload */
} media_frag_writer;

/* Bytes a fragment header (moof + mdat header) of ntrafs trafs and nsamples
 * samples in all needs at most. */
static inline size_t media_frag_max_size(int ntrafs, size_t nsamples)
{
    return 8 + 16 + (size_t)ntrafs * (8 + 16 + 20 + 20) + nsamples * 16 + 8;
}

/* Starts a moof at buf with mfhd sequence number seq. */
void media_frag_begin(media_frag_writer *w, uint8_t *buf, uint32_t seq);
/* Starts the traf of track_id (at most MEDIA_MAX_TRACKS per fragment): its
 * tfdt is base_dt; cto: the samples carry composition offsets (video);
 * mdat_off: where its samples' bytes start in the mdat payload. */
void media_frag_traf(media_frag_writer *w, uint32_t track_id, uint64_t base_dt, int cto,
                     uint32_t mdat_off);
/* Adds a sample to the open traf (flags: MEDIA_SAMPLE_SYNC/NON_SYNC). Inline:
 * it runs for every frame written. */
static inline void media_frag_put32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v); /* big-endian, as one store */
#endif
    memcpy(p, &v, 4);
}

static inline void media_frag_sample(media_frag_writer *w, uint32_t dur, uint32_t size,
                                     uint32_t flags, uint32_t cto)
{
    uint8_t *q = w->p;
    int with_cto = w->cto;
    media_frag_put32(q, dur);
    media_frag_put32(q + 4, size);
    media_frag_put32(q + 8, flags);
    if (with_cto) media_frag_put32(q + 12, cto);
    w->p = q + (with_cto ? 16 : 12);
    w->count++;
}

/* Closes the moof, writes the mdat header for payload bytes and the data
 * offsets; returns the bytes written at buf (moof + 8). */
size_t media_frag_end(media_frag_writer *w, uint64_t payload);

#define MEDIA_PRFT_SIZE 32
/* Writes a ProducerReferenceTimeBox (ISO/IEC 14496-12 8.16.5), version 1, at
 * p (MEDIA_PRFT_SIZE bytes): ntp is the wall time (64-bit NTP format, see
 * media_ntp_from_us()) of the sample of reference_track whose decode time is
 * media_time; flags says which instant that is (0: input to the encoder; see
 * the standard). It goes right before the moof it describes. Returns 32. */
size_t media_prft_write(uint8_t *p, uint32_t reference_track, uint32_t flags, uint64_t ntp,
                        uint64_t media_time);
/* Unix microseconds -> 64-bit NTP timestamp (seconds since 1900 . fraction). */
uint64_t media_ntp_from_us(int64_t unix_us);

/* ---- init.c: the init segment (ftyp + moov), by libavformat's mov muxer ---- */

struct AVCodecParameters;

typedef struct media_init_track {
    const struct AVCodecParameters *par; /* borrowed: codec, size, extradata, rate */
    int tb_num, tb_den;                  /* time base of the timestamps fed for it */
    int file_tb_num, file_tb_den;        /* out: its time base in the file (1/timescale) */
} media_init_track;

/* Builds a fragmented-MP4 init segment (empty_moov, mvex/trex, no samples,
 * bit-exact: no encoder string) with video as track 1 and audio (may be
 * NULL) as track 2, which the fragments from media_frag_* then match. *out
 * is malloc'd (caller frees). 0 or a negative AVERROR. */
int media_init_build(media_init_track *video, media_init_track *audio, uint8_t **out,
                     size_t *len);

/* ---- clip.c: a clip of [start, end) computed from the index ----
 *
 * A clip is a virtual file: a generated header (ftyp, moov with mehd, sidx),
 * the chosen fragments with their moofs patched, the last one cut at end.
 * Its exact length and ETag are known before the first byte; memory per clip
 * is ~32 bytes per fragment, whatever its length. */

/* Absolute path of a segment file from its pool and relative path. */
typedef int (*media_abspath_fn)(void *opaque, const char *pool, const char *relpath, char *out,
                                size_t len);

/* Pins segments while a clip uses them (retention skips pinned segments).
 * add/remove are called from the thread running the clip functions. */
typedef struct media_pins {
    void (*add)(void *opaque, const int64_t *ids, size_t n);
    void (*remove)(void *opaque, const int64_t *ids, size_t n);
    void *opaque;
} media_pins;

typedef struct media_clip media_clip;

typedef struct media_clip_info {
    uint64_t length;
    int64_t start_us, end_us;   /* wall range actually covered */
    const char *truncated;      /* NULL, "gap" or "codec_change" (static strings) */
    char etag[24];              /* "\"...\"" */
    const int64_t *segment_ids; /* pinned while the clip lives */
    size_t nsegments;
} media_clip_info;

/* Plans the clip of camera over [start_us, end_us). r is borrowed for this
 * call only; pins (may be NULL) is copied and its segments stay pinned until
 * media_clip_free(). -ENOENT: no footage; -EIO/-EAGAIN...: the index or a
 * file failed (details logged). Blocks on disk: run it on a worker thread.
 * *out freed with media_clip_free(). */
int media_clip_open(index_reader *r, media_abspath_fn abspath, void *abspath_opaque,
                    const media_pins *pins, const char *camera, int64_t start_us, int64_t end_us,
                    media_clip **out);
/* Borrowed, valid until media_clip_free(). */
const media_clip_info *media_clip_info_get(const media_clip *c);
/* Reads len bytes of the clip at pos (pread; page cache or disk). 0 or negative. */
int media_clip_read(media_clip *c, uint64_t pos, uint8_t *buf, size_t len);
/* Unpins and frees. Accepts NULL and *c == NULL. */
void media_clip_free(media_clip **c);

/* ---- clipfile.c: a clip written to a file, without a running daemon ---- */

typedef struct media_clipfile_info {
    uint64_t bytes;
    int64_t start_us, end_us; /* wall range actually covered */
    const char *truncated;    /* NULL, "gap" or "codec_change" (static strings) */
} media_clipfile_info;

/* Writes the clip of camera over [start_us, end_us) to fd (from its current
 * position), read straight from the index and the pools of cfg (borrowed).
 * Segments are not pinned. 0, -ENOENT (no footage in the range), or negative
 * (index, file or write error; logged). info may be NULL. */
int media_clipfile_write(const config *cfg, const char *camera, int64_t start_us, int64_t end_us,
                         int fd, media_clipfile_info *info);

#endif
