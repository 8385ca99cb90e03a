/*
 * ingest: camera sessions. Prefix: ingest_.
 *
 * A camera session connects to its RTSP source, authenticates, plays,
 * reconnects with exponential backoff (1 s -> 30 s, +-20 % jitter), detects a
 * stall (connected, no video for 10 s) and hands access units with wall-clock
 * times to the segmenter (ingest/segmenter.h), which writes fragmented MP4
 * through storage/. One supervisor (camera.c) does all of that over two
 * transports (ingest/transport.h): libavformat's RTSP demuxer in a thread per
 * camera (source: ffmpeg, source_ffmpeg.c) and the event-driven libuv client
 * (source: native, source_native.c over the protocol library ingest/rtsp/).
 *
 * Every state change is an index event (online, offline with reason
 * unreachable / auth_failed / not_found / stalled / error, codec_change).
 */
#ifndef VIGIL_INGEST_H
#define VIGIL_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "index/index.h"
#include "ingest/live.h"
#include "storage/storage.h"

typedef struct ingest_camera ingest_camera;

typedef enum {
    INGEST_CONNECTING,
    INGEST_RECORDING,
    INGEST_OFFLINE,
    INGEST_DISABLED,
} ingest_state;

typedef struct ingest_stats {
    ingest_state state;
    char codec[16];          /* "h264" / "hevc" / "" */
    char audio_codec[16];
    int width, height;
    double fps;              /* measured over the last few seconds */
    int64_t bitrate_bps;     /* measured over the last few seconds */
    int64_t last_frame_us;   /* wall time, 0 = never */
    uint64_t frames_received, frames_written, frames_dropped, reconnects;
    uint64_t queued_bytes;    /* frames the segmenter holds for the camera now */
    uint64_t queue_overflows; /* that reached its cap (segmenter.h) */
    char last_error[128];    /* reason of the last offline, "" if none */
} ingest_stats;

typedef struct ingest_params {
    const config_camera *camera; /* copied; not retained */
    const char *pool;            /* pool id to record to */
    int segment_seconds;
    storage *st;                 /* borrowed, outlives the camera */
    index_db *idx;               /* borrowed, outlives the camera */
    ingest_live_hub *live;       /* borrowed, may be NULL: no live view */
    bool sub;                    /* internal: this is a camera's sub stream (st and idx
                                  * NULL: live only; else recorded under config_sub_key()) */
} ingest_params;

/* Starts recording one camera. 0 or negative; *out owned by caller. */
int ingest_camera_start(const ingest_params *p, ingest_camera **out);
/* Asks the camera to stop without waiting (so many can stop in parallel). */
void ingest_camera_request_stop(ingest_camera *c);
/* Stops (if not yet), closes the open segment cleanly (fsync, indexed), frees.
 * Accepts NULL. */
void ingest_camera_stop(ingest_camera **c);
void ingest_camera_get_stats(ingest_camera *c, ingest_stats *out);
const char *ingest_state_name(ingest_state s);

#endif
