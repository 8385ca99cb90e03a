/*
 * ingest segmenter: access units in, fragmented-MP4 segment files out.
 * Prefix: ingest_segmenter_.
 *
 * Both camera sources (libavformat's RTSP demuxer and the native RTSP client)
 * feed this interface, so it takes what RTP gives: codec parameters and frames
 * in decode order with a presentation time only. It derives decode times,
 * assigns wall-clock times (ingest/clock.h), cuts a fragment per GOP and a
 * segment at the first keyframe after segment_seconds, and writes through
 * storage/ (one write per fragment) with the index told as it goes.
 *
 * Not thread-safe: one segmenter per camera, used by that camera's thread.
 */
#ifndef VIGIL_INGEST_SEGMENTER_H
#define VIGIL_INGEST_SEGMENTER_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"
#include "ingest/live.h"
#include "storage/storage.h"

typedef struct ingest_segmenter ingest_segmenter;

/* The codecs a camera's streams may have. */
typedef enum ingest_codec {
    INGEST_CODEC_NONE = 0,
    INGEST_CODEC_H264,
    INGEST_CODEC_H265,
    INGEST_CODEC_AAC,
    INGEST_CODEC_PCMU,  /* G.711 mu-law */
    INGEST_CODEC_PCMA,  /* G.711 A-law */
    INGEST_CODEC_OTHER, /* not recordable; ingest_stream.name says which */
} ingest_codec;

/* "h264", "hevc", "aac", "pcm_mulaw", "pcm_alaw" (FFmpeg's names, which the
 * index and the API have always shown), "" for NONE / OTHER. */
const char *ingest_codec_name(ingest_codec c);

/* One stream of a run, in the source's own terms. Everything is copied by
 * ingest_segmenter_start_run(); nothing is kept. */
typedef struct ingest_stream {
    ingest_codec codec;
    const char *name;         /* INGEST_CODEC_OTHER: the codec, for the log; may be NULL */
    /* Video: parameter sets in Annex B (start codes), or avcC/hvcC (samples are
     * then length-prefixed like it); empty: taken from the first keyframe.
     * AAC: the AudioSpecificConfig. */
    const uint8_t *extradata;
    size_t extradata_len;
    int width, height;        /* video; 0: unknown */
    int sample_rate, channels; /* audio */
    int frame_size;           /* audio: samples per frame (AAC: 1024); 0: unknown */
    int64_t bit_rate;         /* audio: nominal (written into esds); 0: unknown */
    int tb_num, tb_den;       /* time base of the frames' pts (RTP: 1/clock rate) */
} ingest_stream;

typedef struct ingest_segmenter_params {
    const char *camera;   /* copied */
    const char *pool;     /* copied; NULL: the first usable pool */
    int segment_seconds;  /* rotation period; the first rotation is staggered per camera */
    storage *st;          /* borrowed; NULL: nothing is recorded (a live-only stream) */
    index_db *idx;        /* borrowed; may be NULL (no events) */
    ingest_live *live;    /* borrowed; may be NULL: frames are also published to live
                           * viewers while the feed has any (ingest/live.h) */
} ingest_segmenter_params;

/* One access unit. Video: H.264/H.265, one whole picture, in Annex B (start
 * codes) unless the run's extradata is avcC/hvcC (then length-prefixed like
 * it) or length_prefixed is set (4-byte lengths: MP4's sample format, copied
 * as is). Audio: one AAC frame (raw, no ADTS) or a run of G.711 samples (pts:
 * of its first sample). The bytes are copied; nothing is kept after the call. */
typedef struct ingest_frame {
    int audio;             /* 0: video, 1: audio */
    const uint8_t *data;   /* borrowed (copied) */
    size_t size;
    int length_prefixed;   /* video: NAL units behind 4-byte big-endian lengths */
    int64_t pts;           /* presentation time in the stream's time base */
    int key;               /* video: a keyframe (IDR/IRAP) */
    int64_t recv_us;       /* wall clock when it was received */
    int64_t ntp_us;        /* the camera's own clock for it (RTCP sender reports), 0:
                            * unknown; kept as clock evidence, never used for times */
} ingest_frame;

typedef struct ingest_segmenter_stats {
    uint64_t frames_written, frames_dropped, segments, fragments;
    int64_t last_wall_us;  /* wall time of the last frame written, 0 = none */
    /* What the camera makes the segmenter hold now (frames not yet written),
     * and how often that reached its cap (6 MiB, 1024 pictures or 2048 audio
     * frames): a fragment was then cut early, or, when the pictures' times do
     * not advance, the run ended (a new one starts at the next keyframe). */
    uint64_t queued_bytes, queued_frames, queue_overflows;
} ingest_segmenter_stats;

int ingest_segmenter_open(const ingest_segmenter_params *p, ingest_segmenter **out);
/* Ends the run (if any) and frees. Accepts NULL. */
void ingest_segmenter_close(ingest_segmenter **s);

/* Starts a run with these streams (copied). video: H.264 or H.265 (required);
 * audio: AAC (stored as is), G.711 (PCMU / PCMA, any rate and channel count:
 * converted to AAC-LC by ingest/g711_aac, the index says "aac"), else NULL
 * (other codecs are logged once and left out). Ends the previous run first;
 * when the codec, size or extradata differ from the previous run's, queues a
 * codec_change event. 0 or negative. */
int ingest_segmenter_start_run(ingest_segmenter *s, const ingest_stream *video,
                               const ingest_stream *audio);
/* Feeds one frame. Frames before the run's first keyframe are dropped. Storage
 * failures are logged and the frames dropped (recording resumes at the next
 * keyframe), so the return is negative only for programming errors / ENOMEM.
 * Whatever the frames' times, flags and sizes, what is held stays under the
 * caps in ingest_segmenter_stats. */
int ingest_segmenter_write(ingest_segmenter *s, const ingest_frame *f);
/* Writes what is buffered and closes the open segment (fsync, indexed). The
 * next frame needs a new start_run. */
void ingest_segmenter_end_run(ingest_segmenter *s);
void ingest_segmenter_get_stats(const ingest_segmenter *s, ingest_segmenter_stats *out);

/* Zero-copy video input: a place in the segmenter's own buffer where a source
 * builds the next access unit (length-prefixed), which ingest_segmenter_write()
 * then takes where it is. keep == 0 starts a unit; keep > 0 asks for more room
 * with the unit's first keep bytes kept (the buffer may move: use the returned
 * pointer). Valid until the unit is written or the next one starts; writing
 * any other video frame in between is not allowed. NULL on ENOMEM. */
uint8_t *ingest_segmenter_video_buffer(ingest_segmenter *s, size_t keep, size_t need);

/* The first segment's length factor for a camera, in [0.5, 1.5): spreads the
 * rotations of many cameras started together. */
double ingest_segmenter_stagger(const char *camera);

#endif
