/*
 * Camera sessions: ingest_camera_* picks the source a camera is configured
 * with. `source: ffmpeg` (the default) runs libavformat's RTSP demuxer in a
 * thread of its own; `source: native` runs the event-driven RTSP/RTP client of
 * ingest/rtsp on a few shared libuv loop threads. Both feed the same
 * segmenter, so nothing past this file knows which one produced the frames.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <stdlib.h>

#include "common/common.h"
#include "ingest/ingest_internal.h"

struct ingest_camera {
    ingest_ffmpeg *ff;          /* exactly one of the two is set */
    ingest_native *native;
};

const char *ingest_state_name(ingest_state s)
{
    switch (s) {
    case INGEST_CONNECTING: return "connecting";
    case INGEST_RECORDING: return "recording";
    case INGEST_OFFLINE: return "offline";
    case INGEST_DISABLED: return "disabled";
    }
    return "unknown";
}

int ingest_camera_start(const ingest_params *p, ingest_camera **out)
{
    int r;
    ingest_camera *c = NULL;
    *out = NULL;
    if (!p->camera) return -EINVAL;
    if (!(c = calloc(1, sizeof(*c)))) return -ENOMEM;
    if (p->camera->source == CONFIG_SOURCE_NATIVE)
        r = ingest__native_start(p, &c->native);
    else
        r = ingest__ffmpeg_start(p, &c->ff);
    if (r < 0) {
        free(c);
        return r;
    }
    *out = c;
    return 0;
}

void ingest_camera_request_stop(ingest_camera *c)
{
    if (!c) return;
    if (c->native) ingest__native_request_stop(c->native);
    if (c->ff) ingest__ffmpeg_request_stop(c->ff);
}

void ingest_camera_stop(ingest_camera **cp)
{
    if (!cp || !*cp) return;
    ingest_camera *c = *cp;
    ingest__native_stop(&c->native);
    ingest__ffmpeg_stop(&c->ff);
    free(c);
    *cp = NULL;
}

void ingest_camera_get_stats(ingest_camera *c, ingest_stats *out)
{
    if (c->native) ingest__native_get_stats(c->native, out);
    else ingest__ffmpeg_get_stats(c->ff, out);
}
