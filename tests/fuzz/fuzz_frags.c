/* libFuzzer driver: a stored fragment table (index/frags.c), which steers
 * clip assembly's reads of the segment files. An index file can be damaged
 * or edited, so whatever the bytes, decoding either fails whole (-EBADMSG)
 * or yields a table; and any table, packed, decodes to itself. Byte 0 picks
 * the direction: even, the rest is a stored BLOB to decode (and the table
 * it yields is packed and decoded again); odd, the rest is a table of raw
 * 32-byte records to pack and decode. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_internal.h"

static void same(const index_fragment *a, const index_fragment *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].offset != b[i].offset || a[i].size != b[i].size || a[i].flags != b[i].flags ||
            a[i].start_us != b[i].start_us || a[i].end_us != b[i].end_us)
            abort();
}

/* Packs f[0, n) and checks that it decodes to the same table. */
static void round_trip(const index_fragment *f, size_t n)
{
    uint8_t *b = NULL;
    size_t len = 0, m = 0;
    index_fragment *g = NULL;
    if (index__frags_encode(f, n, &b, &len) < 0) return; /* out of memory */
    if (len > index__frags_packed_max(n)) abort();
    int r = index__frags_decode(b, len, &g, &m);
    if (r == -ENOMEM) goto out;
    if (r != 0 || m != n) abort();
    same(f, g, n);
out:
    free(g);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    index_fragment *f = NULL;
    size_t n = 0;
    if (data[0] % 2 == 0) {
        int r = index__frags_decode(p, len, &f, &n);
        if (r != 0 && r != -EBADMSG && r != -ENOMEM) abort();
        if (r != 0 && (f || n)) abort();
        if (r == 0) round_trip(f, n);
    } else {
        n = len / INDEX__FRAG_BYTES;
        f = n ? malloc(n * sizeof(*f)) : NULL;
        if (n && !f) return 0;
        for (size_t i = 0; i < n; i++) index__unpack_fragment(p + i * INDEX__FRAG_BYTES, &f[i]);
        round_trip(f, n);
    }
    free(f);
    return 0;
}
