/*
 * ingest transports: how a camera's bytes arrive, behind the one camera-session
 * supervisor (camera.c). Internal to ingest/. Prefix: ingest__.
 *
 * The supervisor owns everything a camera session means, once for every
 * transport: the state, the reconnect backoff with jitter, stall detection,
 * the statistics, the online/offline events and the segmenter. A transport
 * only connects, sets up the streams, hands out frames and reports each step
 * through the ingest__session_* calls below. When an attempt fails it
 * reports the reason and waits the delay the supervisor returns before the
 * next attempt, in whatever way suits its threading (a condition variable in
 * the FFmpeg transport's thread per camera, a libuv timer on the native
 * transport's shared loops).
 *
 * Threading: a transport calls the ingest__session_* functions of a camera
 * from one thread at a time (its thread, or its loop), never concurrently;
 * ingest__session_stalled() may be called from any thread.
 */
#ifndef VIGIL_INGEST_TRANSPORT_H
#define VIGIL_INGEST_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"
#include "ingest/segmenter.h"

/* Why an attempt failed; the offline event's detail is the name. */
typedef enum {
    INGEST_REASON_UNREACHABLE, /* no connection, it dropped, or nothing came while connecting */
    INGEST_REASON_AUTH_FAILED,
    INGEST_REASON_NOT_FOUND,
    INGEST_REASON_STALLED,     /* playing, but no video for INGEST_STALL_US */
    INGEST_REASON_ERROR,       /* anything else: "error: <detail>" */
} ingest_reason;

/* No video for this long while connected is a stall. */
#define INGEST_STALL_US 10000000

typedef struct ingest_transport {
    const char *name; /* "ffmpeg", "native": in log lines and the online event */
    /* Starts connecting p->camera for the supervisor's camera cam (borrowed;
     * outlives the transport). 0 with *out, or negative: then no callback ran. */
    int (*start)(ingest_camera *cam, const ingest_params *p, void **out);
    /* Asks the transport to stop without waiting. Any thread. */
    void (*request_stop)(void *t);
    /* Stops (if not yet), waits until no callback runs any more, frees. A
     * transport that got to connect calls ingest__session_ended() (from its
     * own thread) before this returns. */
    void (*stop)(void *t);
} ingest_transport;

extern const ingest_transport ingest__transport_ffmpeg;
extern const ingest_transport ingest__transport_native;

/* The camera's id (for log lines). */
const char *ingest__session_id(const ingest_camera *c);

/* An attempt begins: state connecting; the stall clock starts. */
void ingest__session_connecting(ingest_camera *c);

/* The streams are known: starts a segmenter run with them (copied). The first
 * run of an attempt makes the camera online (state, stats, the online event);
 * a later one (new parameter sets in band) only restarts the run (the
 * segmenter reports a codec change). fps: nominal, 0 unknown. 0 or negative. */
int ingest__session_run(ingest_camera *c, const ingest_stream *video, const ingest_stream *audio,
                        double fps);
/* Ends the current run (its segment is closed); frames are dropped until the
 * next ingest__session_run(). */
void ingest__session_end_run(ingest_camera *c);
/* Is a run open? */
bool ingest__session_running(const ingest_camera *c);

/* One received frame: recorded when a run is open (else counted dropped),
 * counted, and its video keeps the stall clock from running out. This is the
 * one place every frame of every transport passes. */
void ingest__session_frame(ingest_camera *c, const ingest_frame *f);
/* Zero-copy video input (see ingest_segmenter_video_buffer). */
uint8_t *ingest__session_video_buffer(ingest_camera *c, size_t keep, size_t need);

/* No video (nor a new attempt / run) for INGEST_STALL_US? Any thread. */
bool ingest__session_stalled(const ingest_camera *c);
/* Microseconds since the last video frame (or the attempt / run start). */
int64_t ingest__session_idle_us(const ingest_camera *c);

/* The attempt failed: the run ends, the camera is offline (one event per
 * outage; detail, may be NULL, is logged and completes "error: "). Returns
 * how long to wait before the next attempt, in microseconds. */
int64_t ingest__session_failed(ingest_camera *c, ingest_reason r, const char *detail);

/* The transport stops for good: the run ends (segment closed, fsync,
 * indexed) on the transport's own thread, so many cameras close in parallel. */
void ingest__session_ended(ingest_camera *c);

#endif
