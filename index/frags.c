/*
 * The fragment table of a segment as stored in segment_fragments.frags.
 *
 * A table is one BLOB whose first byte says its form:
 *
 *   0x00  raw: then 32 bytes per fragment (index__pack_fragment()). The form
 *         of an open segment, because the writer appends each fragment with
 *         one blob concatenation in SQL, without reading the row back.
 *   0x01  packed: written once, when the segment is finished (the writer's
 *         finish op, and vigil-bench synth). Then
 *           varint n
 *           n times: a tag byte, then the fields the tag says follow
 *           4 bytes: FNV-1a 32 of every byte before it, little-endian
 *
 * Fragments of a file are written back to back, each starting where the
 * previous one's media ended, so most of a table is predictable: the packed
 * form stores each fragment against the one before it (starting from zeros)
 * and omits what matches. Tag bits:
 *   0x01  flags bit 0 (the fragment starts with a keyframe)
 *   0x02  zigzag varint: offset - (previous offset + previous size)
 *   0x04  zigzag varint: start_us - previous end_us
 *   0x08  varint: the whole flags word (only when it has other bits than 0x01)
 * and always two zigzag varints: size - previous size, and
 * (end_us - start_us) - the previous fragment's (end_us - start_us).
 * A one-minute segment of 60 fragments takes ~5-8 bytes a fragment instead
 * of 32. Differences are taken in wrapping 64-bit arithmetic, so any table
 * round-trips exactly, however odd its values.
 *
 * A finished segment's table is grouped before it is packed
 * (index__frags_group()): a GOP cut into several fragments (the segmenter
 * cuts at 256 KiB, so a 2 Mbit/s camera with 2 s GOPs writes two a GOP, a
 * 8 Mbit/s one eight) is stored as one entry from its keyframe fragment to
 * its last byte. What the index is for is random access, and a GOP is the
 * unit of it: a clip or a snapshot starts at a keyframe, and reads the moofs
 * inside an entry from the file when it needs them (media/clip.c walks them,
 * a snapshot decodes the GOP). Half to seven eighths of the entries go, at
 * the price of a clip's end being found inside the file instead of the index.
 * Open segments keep every fragment (appended raw, as written).
 *
 * The checksum is there because a fragment table steers clip assembly's reads
 * of the files: a flipped bit in a stored varint would otherwise decode to a
 * plausible but wrong offset. A blob that fails any check is rejected
 * (-EBADMSG), never half-decoded.
 *
 * Files of schema version 10 or older hold raw tables without the form byte
 * (index__frags_decode_legacy()). The v11 migration does not rewrite them:
 * converting every table in the migration's transaction took 16 s for 864 000
 * segments on the benchmark VM, ~11 minutes at 800 cameras x 30 days, during
 * which vigild records nothing (and systemd's start timeout kills it, which
 * rolls the migration back). It records instead the first segment id whose
 * table has the form byte (meta 'frags_legacy_below'); tables below it keep
 * the old form, are appended to in it while their segment is open, and go
 * with their segments when retention deletes them. A file migrated before
 * that mark existed had every table converted: no mark, nothing below.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TAG_KEY 0x01
#define TAG_OFFSET 0x02
#define TAG_START 0x04
#define TAG_FLAGS 0x08
#define TAG_KNOWN 0x0f

#define VARINT_MAX 10 /* bytes of a 64-bit varint */
#define CHECK_BYTES 4

static uint64_t zigzag(uint64_t v)
{
    return (v << 1) ^ (0 - (v >> 63));
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint at *pos of p[0, len). 0, or -EBADMSG (cut short, too long). */
static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= len) return -EBADMSG;
        uint8_t b = p[(*pos)++];
        if (shift == 63 && b > 1) return -EBADMSG; /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -EBADMSG;
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

size_t index__frags_group(index_fragment *f, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        index_fragment *g = k ? &f[k - 1] : NULL;
        if (g && !(f[i].flags & 1) && f[i].flags == (g->flags & ~1u) &&
            f[i].offset == g->offset + g->size && f[i].start_us == g->end_us &&
            f[i].end_us >= f[i].start_us && (uint64_t)g->size + f[i].size <= UINT32_MAX) {
            g->size += f[i].size;
            g->end_us = f[i].end_us;
            continue;
        }
        f[k++] = f[i];
    }
    return k;
}

size_t index__frags_packed_max(size_t n)
{
    /* tag + two offset/time varints + two delta varints (+ flags) each. */
    return 1 + VARINT_MAX + n * (1 + 5 * VARINT_MAX) + CHECK_BYTES;
}

int index__frags_encode(const index_fragment *f, size_t n, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (n > SIZE_MAX / (1 + 5 * VARINT_MAX) - 2) return -E2BIG;
    uint8_t *b = malloc(index__frags_packed_max(n));
    if (!b) return -ENOMEM;
    size_t k = 0;
    b[k++] = INDEX__FRAGS_PACKED;
    k += put_varint(b + k, n);
    uint64_t next_off = 0, prev_end = 0, prev_dur = 0;
    uint32_t prev_size = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t off_gap = f[i].offset - next_off;
        uint64_t start_gap = (uint64_t)f[i].start_us - prev_end;
        uint64_t dur = (uint64_t)f[i].end_us - (uint64_t)f[i].start_us;
        uint8_t tag = (uint8_t)(f[i].flags & TAG_KEY);
        if (off_gap) tag |= TAG_OFFSET;
        if (start_gap) tag |= TAG_START;
        if (f[i].flags & ~(uint32_t)TAG_KEY) tag |= TAG_FLAGS;
        b[k++] = tag;
        if (tag & TAG_OFFSET) k += put_varint(b + k, zigzag(off_gap));
        if (tag & TAG_START) k += put_varint(b + k, zigzag(start_gap));
        if (tag & TAG_FLAGS) k += put_varint(b + k, f[i].flags);
        k += put_varint(b + k, zigzag((uint64_t)((int64_t)f[i].size - (int64_t)prev_size)));
        k += put_varint(b + k, zigzag(dur - prev_dur));
        next_off = f[i].offset + f[i].size;
        prev_end = (uint64_t)f[i].end_us;
        prev_dur = dur;
        prev_size = f[i].size;
    }
    uint32_t h = fnv1a(b, k);
    for (int i = 0; i < CHECK_BYTES; i++)
        b[k++] = (uint8_t)(h >> (8 * i));
    *out = b;
    *len = k;
    return 0;
}

/* Raw records from p (len a multiple of INDEX__FRAG_BYTES) into a new array. */
static int decode_raw(const uint8_t *p, size_t len, index_fragment **out, size_t *n)
{
    if (len % INDEX__FRAG_BYTES) return -EBADMSG;
    size_t count = len / INDEX__FRAG_BYTES;
    if (!count) return 0;
    index_fragment *f = malloc(count * sizeof(*f));
    if (!f) return -ENOMEM;
    for (size_t i = 0; i < count; i++)
        index__unpack_fragment(p + i * INDEX__FRAG_BYTES, &f[i]);
    *out = f;
    *n = count;
    return 0;
}

static int decode_packed(const uint8_t *p, size_t len, index_fragment **out, size_t *n)
{
    int ret = 0;
    index_fragment *f = NULL;
    uint64_t count = 0, v = 0;
    size_t pos = 1;
    if (len < 1 + 1 + CHECK_BYTES) return -EBADMSG;
    uint32_t want = 0;
    for (int i = 0; i < CHECK_BYTES; i++)
        want |= (uint32_t)p[len - CHECK_BYTES + (size_t)i] << (8 * i);
    len -= CHECK_BYTES;
    if (fnv1a(p, len) != want) return -EBADMSG;
    if ((ret = get_varint(p, len, &pos, &count)) < 0) return ret;
    /* Every fragment takes at least three bytes: no allocation beyond that. */
    if (count > (len - pos) / 3) return -EBADMSG;
    if (count && !(f = malloc((size_t)count * sizeof(*f)))) return -ENOMEM;
    uint64_t next_off = 0, prev_end = 0, prev_dur = 0;
    uint32_t prev_size = 0;
    for (size_t i = 0; i < count; i++) {
        if (pos >= len) goto bad;
        uint8_t tag = p[pos++];
        uint64_t off_gap = 0, start_gap = 0, flags = tag & TAG_KEY;
        if (tag & ~TAG_KNOWN) goto bad;
        if ((tag & TAG_OFFSET) && (ret = get_varint(p, len, &pos, &off_gap)) < 0) goto out;
        if ((tag & TAG_START) && (ret = get_varint(p, len, &pos, &start_gap)) < 0) goto out;
        if (tag & TAG_FLAGS) {
            if ((ret = get_varint(p, len, &pos, &flags)) < 0) goto out;
            /* The encoder sets the flag only for other bits, and copies bit 0. */
            if (flags > UINT32_MAX || !(flags & ~(uint64_t)TAG_KEY) ||
                (flags & TAG_KEY) != (tag & TAG_KEY))
                goto bad;
        }
        if ((ret = get_varint(p, len, &pos, &v)) < 0) goto out;
        /* In wrapping arithmetic: a negative result comes out above 32 bits. */
        uint64_t size = (uint64_t)prev_size + unzigzag(v);
        if (size > UINT32_MAX) goto bad;
        if ((ret = get_varint(p, len, &pos, &v)) < 0) goto out;
        uint64_t dur = prev_dur + unzigzag(v);
        f[i].offset = next_off + unzigzag(off_gap);
        f[i].size = (uint32_t)size;
        f[i].flags = (uint32_t)flags;
        f[i].start_us = (int64_t)(prev_end + unzigzag(start_gap));
        f[i].end_us = (int64_t)((uint64_t)f[i].start_us + dur);
        next_off = f[i].offset + f[i].size;
        prev_end = (uint64_t)f[i].end_us;
        prev_dur = dur;
        prev_size = f[i].size;
    }
    if (pos != len) goto bad;
    *out = f;
    *n = (size_t)count;
    f = NULL;
    goto out;
bad:
    ret = -EBADMSG;
out:
    free(f);
    return ret;
}

int index__frags_decode(const uint8_t *blob, size_t len, index_fragment **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (len == 0) return -EBADMSG;
    switch (blob[0]) {
    case INDEX__FRAGS_RAW:
        return decode_raw(blob + 1, len - 1, out, n);
    case INDEX__FRAGS_PACKED:
        return decode_packed(blob, len, out, n);
    default:
        return -EBADMSG;
    }
}

int index__frags_decode_legacy(const uint8_t *blob, size_t len, index_fragment **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return decode_raw(blob, len, out, n);
}

/* ---- the v11 migration ---- */

int index__frags_mark_legacy(sqlite3 *db, const char *path)
{
    return index__exec(db, path,
                       "INSERT OR REPLACE INTO meta (key, value) SELECT '" INDEX__FRAGS_LEGACY_KEY
                       "', max(coalesce((SELECT max(id) FROM segments), 0), "
                       "coalesce((SELECT max(segment_id) FROM segment_fragments), 0)) + 1",
                       "marking the fragment tables of the older form");
}
