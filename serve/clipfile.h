/*
 * serve/clipfile: a clip written to a file, for `vigilctl clip` on the server.
 * Prefix: serve_clipfile_.
 *
 * The same assembly as GET /api/cameras/{id}/clip.mp4 (serve/clip.c: header
 * computed from the index, media bytes copied from the segment files), read
 * straight from the index and the pools of cfg, without a running daemon.
 */
#ifndef VIGIL_SERVE_CLIPFILE_H
#define VIGIL_SERVE_CLIPFILE_H

#include <stdint.h>

#include "config/config.h"

typedef struct serve_clipfile_info {
    uint64_t bytes;
    int64_t start_us, end_us; /* wall range actually covered */
    const char *truncated;    /* NULL, "gap" or "codec_change" (static strings) */
} serve_clipfile_info;

/* Writes the clip of camera over [start_us, end_us) to fd (from its current
 * position). 0, -ENOENT (no footage in the range), or negative (index, file
 * or write error; logged). info may be NULL. */
int serve_clipfile_write(const config *cfg, const char *camera, int64_t start_us, int64_t end_us,
                         int fd, serve_clipfile_info *info);

#endif
