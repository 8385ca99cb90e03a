/*
 * serve/live: GET /api/cameras/{id}/live.mp4, the live view (internal to
 * serve/; prefix serve__live_). Errors: 0 or negative errno.
 *
 * Viewers read the cameras' shared live chunks (ingest/live.h) on the HTTP
 * loop; see serve/live.c for the policies (backlog, skips, stalls).
 */
#ifndef VIGIL_SERVE_LIVE_H
#define VIGIL_SERVE_LIVE_H

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "index/index.h"
#include "ingest/live.h"

typedef struct serve__live serve__live;

/* Starts the live side on loop: hub (borrowed, may be NULL: every request
 * answers 503) gets our wake-up; idx (borrowed, may be NULL) the audit rows;
 * req_fd(opaque, req) gives a request's socket (-1: unknown), whose send
 * buffer is made small and which is shut down under h2o when the viewer does
 * not read. *out is released with serve__live_stop(). */
int serve__live_new(uv_loop_t *loop, ingest_live_hub *hub, index_db *idx,
                    int (*req_fd)(void *opaque, h2o_req_t *req), void *opaque,
                    serve__live **out);
/* Ends every live response (cleanly, or as soon as its write completes),
 * unhooks from the hub, and frees once the last viewer's request is gone.
 * Takes ownership; accepts NULL. */
void serve__live_stop(serve__live **L);
/* Serves one live.mp4 request (GET or HEAD; access already checked): who is
 * the token's name, stream "main" or "sub". true when a viewer started (its
 * session's audit row comes when it ends; the caller audits the start), false
 * when answered otherwise (HEAD, 503). req may be gone on return. */
bool serve__live_handle(serve__live *L, h2o_req_t *req, const char *who, const char *camera,
                        const char *stream);
size_t serve__live_viewers(const serve__live *L);
/* The live series of /metrics (vigil_live_viewers, vigil_live_sessions_total,
 * vigil_live_frames_skipped_total, vigil_live_bytes_sent_total, labelled
 * camera and stream): *out malloc'd. 0 or -ENOMEM. L may be NULL. */
int serve__live_metrics(const serve__live *L, char **out, size_t *len);

#endif
