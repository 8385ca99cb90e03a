/*
 * source_native: a recording camera fed by the native RTSP client
 * (`source: native`). Prefix: rtsp_native_.
 *
 * The same contract as ingest.h's ingest_camera_* (which dispatches here for
 * cameras configured with source: native): connect, authenticate, play,
 * reconnect with exponential backoff (1 s -> 30 s, +-20 % jitter), report
 * stalls, and hand access units with receive times to the segmenter
 * (ingest/segmenter.h). Sessions run on a few shared libuv loop threads
 * (one per core, at most 4), not a thread per camera.
 */
#ifndef VIGIL_RTSP_SOURCE_NATIVE_H
#define VIGIL_RTSP_SOURCE_NATIVE_H

#include "ingest/ingest.h"

typedef struct rtsp_native_camera rtsp_native_camera;

/* Starts recording one camera. 0 or negative; *out owned by caller. */
int rtsp_native_camera_start(const ingest_params *p, rtsp_native_camera **out);
/* Asks the camera to stop without waiting. */
void rtsp_native_camera_request_stop(rtsp_native_camera *c);
/* Stops (if not yet), closes the open segment cleanly, frees. Accepts NULL.
 * Must not be called from a loop thread of this module. */
void rtsp_native_camera_stop(rtsp_native_camera **c);
void rtsp_native_camera_get_stats(rtsp_native_camera *c, ingest_stats *out);

#endif
