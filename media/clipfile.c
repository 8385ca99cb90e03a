/*
 * A clip written to a file descriptor, for `vigilctl clip` on the server:
 * media_clip_open() on a reader of our own, then media_clip_read() in 1 MiB
 * steps, each written whole. Segments are not pinned (no daemon here); a
 * segment that retention deletes meanwhile fails the read and the command,
 * which says so.
 */
#include "media/media.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static int pool_abspath(void *opaque, const char *pool, const char *rel, char *out, size_t len)
{
    const config_pool *p = config_find_pool(opaque, pool);
    if (!p) return -ENOENT;
    int n = snprintf(out, len, "%s/%s", p->path, rel);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int media_clipfile_write(const config *cfg, const char *camera, int64_t start_us, int64_t end_us,
                         int fd, media_clipfile_info *info)
{
    index_reader *r = NULL;
    media_clip *clip = NULL;
    uint8_t *buf = NULL;
    int ret = index_reader_open(cfg->index_path, &r);
    if (ret < 0) goto out;
    ret = media_clip_open(r, pool_abspath, (void *)cfg, NULL, camera, start_us, end_us, &clip);
    if (ret < 0) goto out;
    const media_clip_info *ci = media_clip_info_get(clip);
    if (!(buf = malloc(CHUNK))) {
        ret = -ENOMEM;
        goto out;
    }
    for (uint64_t pos = 0; pos < ci->length;) {
        size_t n = ci->length - pos < CHUNK ? (size_t)(ci->length - pos) : CHUNK;
        if ((ret = media_clip_read(clip, pos, buf, n)) < 0) goto out;
        if ((ret = vg_write_all(fd, buf, n)) < 0) goto out;
        pos += n;
    }
    if (info) {
        info->bytes = ci->length;
        info->start_us = ci->start_us;
        info->end_us = ci->end_us;
        info->truncated = ci->truncated;
    }
out:
    free(buf);
    media_clip_free(&clip);
    index_reader_close(&r);
    return ret;
}
