/*
 * vigilctl's JSON lines, apart from the CLI so unit tests can call them.
 * Prefix: vigilctl_.
 */
#ifndef VIGIL_VIGILCTL_FORMAT_H
#define VIGIL_VIGILCTL_FORMAT_H

#include "index/index.h"

/* {"camera","start","end","path","bytes","sha256"} on one line, no newline.
 * Times RFC 3339 UTC; path is pool_path + "/" + s->path, or null when the
 * segment's pool is unknown (pool_path NULL); sha256 lowercase hex, null while
 * the segment is open. Caller frees; NULL when out of memory. */
char *vigilctl_segment_json(const index_segment *s, const char *pool_path);
/* {"time","camera","type","detail"}; camera null for daemon-wide events.
 * Caller frees; NULL when out of memory. */
char *vigilctl_event_json(const index_event *e);

#endif
