/*
 * The layout of segment files in a pool. It lives here rather than in
 * storage/ because the index needs it too: a segment row whose file sits at
 * the layout's path stores no path at all and the index derives it on read,
 * and the index must not depend on storage/ to do that.
 */
#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int vg_segment_relpath(const char *camera, int64_t start_us, char *out, size_t len)
{
    int64_t sec = start_us / 1000000, frac = start_us % 1000000;
    if (frac < 0) frac += 1000000, sec -= 1;
    time_t t = (time_t)sec;
    struct tm tm;
    if (!camera || !*camera || strchr(camera, '/')) return -EINVAL;
    if (!gmtime_r(&t, &tm)) return -EINVAL;
    int n = snprintf(out, len, "%s/%04d/%02d/%02d/%02d/%04d%02d%02dT%02d%02d%02d.%06dZ.mp4", camera,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    if (n < 0 || (size_t)n >= len) return -ENAMETOOLONG;
    return 0;
}
