/*
 * storage: pools and segment files. Prefix: storage_.
 *
 * A pool is a directory (normally a mount point) holding an identity file
 * (.vigil-pool, contents "vigil-pool <id>\n"); a pool whose identity is missing
 * or wrong is not written to. Segment files live at
 *   <pool>/<camera>/<YYYY>/<MM>/<DD>/<HH>/<YYYYMMDD>T<HHMMSS>.<uuuuuu>Z.mp4
 * (UTC of the segment's start). Write order, after Moonfire: create with O_EXCL
 * and queue the open row in the index; append whole fragments, each with one
 * write; at close fsync the file, then its directory, then mark the row closed
 * with size and SHA-256 (hashed as written, never re-read).
 */
#ifndef VIGIL_STORAGE_H
#define VIGIL_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "index/index.h"

typedef struct storage storage;
typedef struct storage_segment storage_segment;

/* Opens every pool of cfg (creating the identity file of an empty new pool
 * directory; refusing a non-empty directory with a wrong or missing identity).
 * idx is borrowed and must outlive the storage. Never fails because one pool is
 * bad: that pool is marked unusable, logged and evented. */
int storage_open(const config *cfg, index_db *idx, storage **out);
void storage_close(storage **st);

/* Relative path of a segment file for camera/start (see above). */
int storage_segment_relpath(const char *camera, int64_t start_us, char *out, size_t len);
/* Absolute path of a pool-relative path; -ENOENT for an unknown pool. */
int storage_abspath(const storage *st, const char *pool, const char *relpath, char *out,
                    size_t len);

/* Properties of a new segment, from the segmenter. */
typedef struct storage_segment_info {
    const char *camera;
    const char *pool;       /* NULL: the first usable pool */
    int64_t start_us;
    int64_t run_start_us;
    const char *codec, *audio_codec; /* "h264"/"hevc", "aac"/"pcm_mulaw"/"pcm_alaw"/"" */
    int width, height;
} storage_segment_info;

/* Creates the file (O_EXCL) and queues its open row. 0 or negative. */
int storage_segment_create(storage *st, const storage_segment_info *info,
                           storage_segment **out);
/* Appends bytes (the init segment, or one whole fragment) with one write;
 * hashes them. When frag is non-NULL the bytes are that fragment (its offset is
 * filled in here) and the index is told (progress: end so far, bytes, fragment).
 * On ENOSPC the storage purges (issue 4) and retries once. 0 or negative. */
int storage_segment_append(storage_segment *seg, const uint8_t *buf, size_t len,
                           index_fragment *frag, int64_t end_us);
/* fsync file, fsync dir, queue the close (end, size, sha256), free. Accepts NULL. */
int storage_segment_close(storage_segment **seg, int64_t end_us);
int64_t storage_segment_id(const storage_segment *seg);
int64_t storage_segment_bytes(const storage_segment *seg);
/* Absolute path of the segment's file (borrowed, valid until close). */
const char *storage_segment_path(const storage_segment *seg);

/* 1 if the pool is usable, 0 if not (wrong/missing identity), -ENOENT if unknown. */
int storage_pool_usable(const storage *st, const char *pool);
/* Directory of a pool (borrowed), NULL if unknown. */
const char *storage_pool_path(const storage *st, const char *pool);
/* Number of pools; *usable (may be NULL) gets how many are usable. */
size_t storage_pool_count(const storage *st, size_t *usable);

#endif
