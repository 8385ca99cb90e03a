/*
 * ingest internals shared between the files of the module: the libavformat
 * source (source_ffmpeg.c) and the native one (source_native.c, over the
 * protocol library in ingest/rtsp) behind the ingest_camera_* dispatcher
 * (camera.c). Prefix: ingest__.
 */
#ifndef VIGIL_INGEST_INTERNAL_H
#define VIGIL_INGEST_INTERNAL_H

#include "ingest/ingest.h"

typedef struct ingest_ffmpeg ingest_ffmpeg;

/* The libavformat source: a thread per camera. Same contract as ingest_camera_*. */
int ingest__ffmpeg_start(const ingest_params *p, ingest_ffmpeg **out);
void ingest__ffmpeg_request_stop(ingest_ffmpeg *c);
void ingest__ffmpeg_stop(ingest_ffmpeg **c);
void ingest__ffmpeg_get_stats(ingest_ffmpeg *c, ingest_stats *out);

typedef struct ingest_native ingest_native;

/* The native RTSP client's source: sessions on a few shared libuv loop threads
 * (one per core, at most 4). Same contract as ingest_camera_*; stop must not
 * be called from one of those loop threads. */
int ingest__native_start(const ingest_params *p, ingest_native **out);
void ingest__native_request_stop(ingest_native *c);
void ingest__native_stop(ingest_native **c);
void ingest__native_get_stats(ingest_native *c, ingest_stats *out);

#endif
