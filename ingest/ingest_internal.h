/*
 * ingest internals shared between the files of the module: the libavformat
 * source (source_ffmpeg.c) behind the ingest_camera_* dispatcher (camera.c).
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

#endif
