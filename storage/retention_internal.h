/* Internals of issue 4's storage files (reconcile.c, mp4scan.c); not a contract. */
#ifndef VIGIL_STORAGE_RETENTION_INTERNAL_H
#define VIGIL_STORAGE_RETENTION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* One whole moof+mdat pair of a segment file. */
typedef struct storage__mp4_frag {
    uint64_t offset; /* of the moof */
    uint32_t size;   /* moof + mdat */
    int key;         /* first video sample is a sync sample */
    uint64_t base_dt; /* video tfdt, in timescale units */
    uint64_t dur;     /* sum of the video sample durations */
} storage__mp4_frag;

typedef struct storage__mp4_scan {
    uint64_t init_end;  /* end of the moov; 0: no whole ftyp+moov */
    uint64_t valid_end; /* end of the last whole moof+mdat (init_end if none) */
    uint32_t timescale; /* of the video track */
    uint32_t video_track;
    char codec[16];     /* "h264", "hevc" or "" */
    int width, height;
    storage__mp4_frag *frags; /* malloc'd */
    size_t nfrags;
} storage__mp4_scan;

/* Walks the top-level boxes of the file (size bytes) and lists its whole
 * fragments; a trailing partial box is ignored. 0 or negative (-EBADMSG: not
 * an fMP4 we wrote). Free with storage__mp4_scan_free(). */
int storage__mp4_scan_fd(int fd, uint64_t size, storage__mp4_scan *out);
void storage__mp4_scan_free(storage__mp4_scan *s);

#endif
