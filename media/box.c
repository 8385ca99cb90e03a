/*
 * The few primitives every box reader and writer of media/ shares: one box
 * header reader (32- and 64-bit sizes, size 0 = to the end, checked against
 * the parent), a child lookup, and a growable buffer for the boxes built
 * with malloc (clip headers and cut moofs; the segmenter's per-fragment
 * writer in fmp4_write.c writes into its caller's arena instead).
 */
#include "media/media_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int media__box_read(const uint8_t *p, const uint8_t *end, media__box *b)
{
    if (p > end || end - p < 8) return -EINVAL;
    uint64_t size = media__rd32(p);
    b->type = media__rd32(p + 4);
    b->hdr = 8;
    if (size == 1) {
        if (end - p < 16) return -EINVAL;
        size = media__rd64(p + 8);
        b->hdr = 16;
    } else if (size == 0) {
        size = (size_t)(end - p);
    }
    if (size < b->hdr || size > (uint64_t)(end - p)) return -EINVAL;
    b->size = (size_t)size;
    return 0;
}

const uint8_t *media__box_find(const uint8_t *p, const uint8_t *end, uint32_t t, media__box *out)
{
    while (p < end) {
        if (media__box_read(p, end, out) < 0) return NULL;
        if (out->type == t) return p;
        p += out->size;
    }
    return NULL;
}

uint8_t *media__ob_reserve(media__obuf *o, size_t n)
{
    if (o->err) return NULL;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->len + n) cap *= 2;
        uint8_t *np = realloc(o->p, cap);
        if (!np) {
            o->err = -ENOMEM;
            return NULL;
        }
        o->p = np, o->cap = cap;
    }
    uint8_t *r = o->p + o->len;
    o->len += n;
    return r;
}

void media__ob_put(media__obuf *o, const void *src, size_t n)
{
    uint8_t *d = media__ob_reserve(o, n);
    if (d && n) memcpy(d, src, n);
}

void media__ob_put32(media__obuf *o, uint32_t v)
{
    uint8_t *d = media__ob_reserve(o, 4);
    if (d) media__wr32(d, v);
}

void media__ob_put64(media__obuf *o, uint64_t v)
{
    uint8_t *d = media__ob_reserve(o, 8);
    if (d) media__wr64(d, v);
}

size_t media__ob_box_begin(media__obuf *o, uint32_t type)
{
    size_t at = o->len;
    media__ob_put32(o, 0);
    media__ob_put32(o, type);
    return at;
}

void media__ob_box_end(media__obuf *o, size_t at)
{
    if (!o->err) media__wr32(o->p + at, (uint32_t)(o->len - at));
}

uint64_t media__fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
