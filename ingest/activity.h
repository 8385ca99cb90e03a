/*
 * ingest activity: how much moved, second by second, read from the sizes of
 * the compressed pictures (nothing is decoded). Prefix: ingest_activity_.
 *
 * One per camera, fed by that camera's segmenter with every picture it writes
 * (decode order); what it yields per second is one byte in the index's
 * activity format (index/index.h: 0..INDEX_ACTIVITY_MAX, or NONE / HIDDEN),
 * taken per segment. Not thread-safe; no error path after creation.
 */
#ifndef VIGIL_INGEST_ACTIVITY_H
#define VIGIL_INGEST_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct ingest_activity ingest_activity;

/* One picture as the segmenter has it. */
typedef struct ingest_activity_pic {
    int64_t wall_us; /* its presentation time on the wall clock */
    size_t size;     /* bytes of the access unit */
    int key;         /* a keyframe (IDR/IRAP) */
    int reordered;   /* displays before a picture decoded earlier (a B-frame) */
    int ref;         /* other pictures may reference it (nal_ref_idc / not a _N type) */
} ingest_activity_pic;

/* 0 or -ENOMEM; *out owned by the caller (ingest_activity_free). */
int ingest_activity_new(ingest_activity **out);
/* Accepts NULL. */
void ingest_activity_free(ingest_activity **a);
/* The stream changed (codec, size, parameter sets): baselines are learned again. */
void ingest_activity_reset(ingest_activity *a);
void ingest_activity_picture(ingest_activity *a, const ingest_activity_pic *p);
/* The values of the wall-clock seconds floor(start_us) .. ceil(end_us) - 1 (a
 * segment's): *out malloc'd (caller frees), *n bytes; seconds still open are
 * given as they stand. Seconds before the last one are then forgotten. 0 or
 * -ENOMEM (*out NULL). */
int ingest_activity_take(ingest_activity *a, int64_t start_us, int64_t end_us, uint8_t **out,
                         size_t *n);

#endif
