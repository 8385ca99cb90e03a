/*
 * A ZIP archive streamed without holding its members: the evidence bundle
 * (GET /api/exports/{id}/bundle.zip) carries clips of up to a day each, so
 * neither the archive nor a clip may be buffered, and its exact length must
 * be known before the first byte (Content-Length, like every download).
 *
 * Every member is STORED (video does not compress, and a stored member's
 * size is known in advance). Small members (manifest, signatures, key, the
 * note) are copied in and carry their CRC-32 in their local header. Streamed
 * members (clips) set general-purpose bit 3: their CRC-32 (zlib's crc32,
 * computed as the bytes pass) follows them in a data descriptor, and the
 * central directory, generated when it is reached, repeats it. So the
 * archive must be read front to back, once (serve__zip_read() refuses
 * anything else), which is how a download reads it.
 *
 * ZIP64 (APPNOTE 4.5.3) is used for a member whose size or offset reaches
 * zip64_at (0xFFFFFFFF in use; lower in the unit test), and the ZIP64 end
 * records when the directory's offset or size does: a day of 8 Mbit/s video
 * is 86 GB. Python's zipfile, Info-ZIP's unzip and 7-Zip read such archives.
 *
 * libzip (Debian's libzip4) was the kept-library candidate; it writes an
 * archive into a seekable file and rewrites its headers on close, so it
 * cannot stream to a socket without a temporary copy of every clip. This is
 * ~300 lines with zlib for the CRC.
 */
#include "serve/serve_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define Z_MAX 0xFFFFFFFFu

typedef struct zentry {
    char *name;
    uint8_t *data; /* a copied member, or NULL: streamed */
    serve__zip_read_fn read;
    void *opaque;
    uint64_t size, offset; /* offset of its local header */
    uint32_t crc;          /* streamed: when its bytes have passed */
    bool z64;
} zentry;

/* The archive as parts laid end to end; generated parts are built when reached. */
typedef enum { P_BYTES, P_DATA, P_DESC, P_CD } part_kind;

typedef struct zpart {
    part_kind kind;
    size_t entry;
    uint64_t len;
    uint8_t *bytes; /* P_BYTES: owned; P_DESC/P_CD: built when reached */
} zpart;

struct serve__zip {
    uint64_t zip64_at;
    uint16_t dos_time, dos_date;
    zentry *e;
    size_t n, cap;
    zpart *p;
    size_t np;
    uint64_t total, next; /* length; the next position read */
    size_t cur;           /* part of next */
    uint64_t cur_off;     /* offset of next in that part */
    uint64_t cd_off, cd_len;
    bool laid_out;
};

static uint8_t *le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

int serve__zip_new(int64_t mtime_us, uint64_t zip64_at, serve__zip **out)
{
    serve__zip *z = calloc(1, sizeof(*z));
    *out = NULL;
    if (!z) return -ENOMEM;
    z->zip64_at = zip64_at ? zip64_at : Z_MAX;
    time_t t = (time_t)(mtime_us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (tm.tm_year < 80) tm = (struct tm){.tm_year = 80, .tm_mday = 1};
    z->dos_time = (uint16_t)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
    z->dos_date = (uint16_t)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
    *out = z;
    return 0;
}

void serve__zip_free(serve__zip **zp)
{
    serve__zip *z = zp ? *zp : NULL;
    if (!z) return;
    for (size_t i = 0; i < z->n; i++) {
        free(z->e[i].name);
        free(z->e[i].data);
    }
    for (size_t i = 0; i < z->np; i++) free(z->p[i].bytes);
    free(z->e);
    free(z->p);
    free(z);
    *zp = NULL;
}

static zentry *add(serve__zip *z, const char *name)
{
    if (z->laid_out || strlen(name) > 0xFFFF) return NULL;
    if (z->n == z->cap) {
        size_t cap = z->cap ? 2 * z->cap : 16;
        zentry *e = realloc(z->e, cap * sizeof(*e));
        if (!e) return NULL;
        z->e = e, z->cap = cap;
    }
    zentry *e = &z->e[z->n];
    memset(e, 0, sizeof(*e));
    if (!(e->name = strdup(name))) return NULL;
    z->n++;
    return e;
}

int serve__zip_add_mem(serve__zip *z, const char *name, const void *data, size_t len)
{
    zentry *e = add(z, name);
    if (!e) return -ENOMEM;
    if (!(e->data = malloc(len ? len : 1))) return -ENOMEM;
    memcpy(e->data, data, len);
    e->size = len;
    e->crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), e->data, (uInt)len);
    return 0;
}

int serve__zip_add_stream(serve__zip *z, const char *name, uint64_t len, serve__zip_read_fn read,
                          void *opaque)
{
    zentry *e = add(z, name);
    if (!e) return -ENOMEM;
    e->read = read, e->opaque = opaque, e->size = len;
    e->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    return 0;
}

static int part_add(serve__zip *z, part_kind kind, size_t entry, uint64_t len, uint8_t *bytes)
{
    zpart *p = realloc(z->p, (z->np + 1) * sizeof(*p));
    if (!p) return -ENOMEM;
    z->p = p;
    z->p[z->np++] = (zpart){.kind = kind, .entry = entry, .len = len, .bytes = bytes};
    z->total += len;
    return 0;
}

/* Local header of e (30 bytes + name + the ZIP64 extra when e->z64). */
static uint8_t *local_header(const serve__zip *z, const zentry *e, size_t *len)
{
    size_t nl = strlen(e->name), xl = e->z64 ? 20 : 0;
    uint8_t *h = malloc(30 + nl + xl), *p = h;
    bool stream = !e->data;
    if (!h) return NULL;
    p = le(p, 0x04034b50, 4);
    p = le(p, e->z64 ? 45 : 20, 2);
    p = le(p, (stream ? 1u << 3 : 0) | 1u << 11, 2); /* data descriptor; UTF-8 names */
    p = le(p, 0, 2);                                 /* stored */
    p = le(p, z->dos_time, 2);
    p = le(p, z->dos_date, 2);
    p = le(p, stream ? 0 : e->crc, 4);
    uint64_t sz = stream ? 0 : e->size;
    p = le(p, e->z64 ? Z_MAX : sz, 4);
    p = le(p, e->z64 ? Z_MAX : sz, 4);
    p = le(p, nl, 2);
    p = le(p, xl, 2);
    memcpy(p, e->name, nl), p += nl;
    if (e->z64) {
        p = le(p, 0x0001, 2);
        p = le(p, 16, 2);
        p = le(p, sz, 8);
        p = le(p, sz, 8);
    }
    *len = (size_t)(p - h);
    return h;
}

static uint64_t desc_len(const zentry *e)
{
    return e->z64 ? 24 : 16;
}

static uint64_t cd_entry_len(const zentry *e)
{
    return 46 + strlen(e->name) + (e->z64 ? 28 : 0);
}

int serve__zip_finish(serve__zip *z, uint64_t *total)
{
    if (z->laid_out) return -EINVAL;
    uint64_t off = 0;
    for (size_t i = 0; i < z->n; i++) {
        zentry *e = &z->e[i];
        size_t hl;
        e->offset = off;
        e->z64 = e->size >= z->zip64_at || off >= z->zip64_at;
        uint8_t *h = local_header(z, e, &hl);
        if (!h || part_add(z, P_BYTES, i, hl, h) < 0) {
            free(h);
            return -ENOMEM;
        }
        if (e->size && part_add(z, P_DATA, i, e->size, NULL) < 0) return -ENOMEM;
        if (!e->data && part_add(z, P_DESC, i, desc_len(e), NULL) < 0) return -ENOMEM;
        off = z->total;
    }
    z->cd_off = off;
    z->cd_len = 0;
    for (size_t i = 0; i < z->n; i++) z->cd_len += cd_entry_len(&z->e[i]);
    bool end64 = z->cd_off >= z->zip64_at || z->cd_len >= z->zip64_at || z->n >= 0xFFFF;
    for (size_t i = 0; i < z->n && !end64; i++) end64 = z->e[i].z64;
    uint64_t tail = 22 + (end64 ? 56 + 20 : 0);
    if (part_add(z, P_CD, 0, z->cd_len + tail, NULL) < 0) return -ENOMEM;
    z->laid_out = true;
    *total = z->total;
    return 0;
}

static uint8_t *build_desc(const zentry *e)
{
    uint8_t *d = malloc(desc_len(e)), *p = d;
    if (!d) return NULL;
    p = le(p, 0x08074b50, 4);
    p = le(p, e->crc, 4);
    p = le(p, e->size, e->z64 ? 8 : 4);
    le(p, e->size, e->z64 ? 8 : 4);
    return d;
}

static uint8_t *build_cd(const serve__zip *z, uint64_t len)
{
    uint8_t *d = malloc(len), *p = d;
    if (!d) return NULL;
    for (size_t i = 0; i < z->n; i++) {
        const zentry *e = &z->e[i];
        size_t nl = strlen(e->name);
        p = le(p, 0x02014b50, 4);
        p = le(p, 3u << 8 | (e->z64 ? 45 : 20), 2); /* made by: Unix */
        p = le(p, e->z64 ? 45 : 20, 2);
        p = le(p, (e->data ? 0 : 1u << 3) | 1u << 11, 2);
        p = le(p, 0, 2);
        p = le(p, z->dos_time, 2);
        p = le(p, z->dos_date, 2);
        p = le(p, e->crc, 4);
        p = le(p, e->z64 ? Z_MAX : e->size, 4);
        p = le(p, e->z64 ? Z_MAX : e->size, 4);
        p = le(p, nl, 2);
        p = le(p, e->z64 ? 28 : 0, 2);
        p = le(p, 0, 2); /* comment */
        p = le(p, 0, 2); /* disk */
        p = le(p, 0, 2); /* internal attributes */
        p = le(p, (uint64_t)0100444 << 16, 4); /* a regular file, read-only */
        p = le(p, e->z64 ? Z_MAX : e->offset, 4);
        memcpy(p, e->name, nl), p += nl;
        if (e->z64) {
            p = le(p, 0x0001, 2);
            p = le(p, 24, 2);
            p = le(p, e->size, 8);
            p = le(p, e->size, 8);
            p = le(p, e->offset, 8);
        }
    }
    bool end64 = len > z->cd_len + 22;
    uint64_t n = z->n;
    if (end64) {
        uint64_t rec = z->cd_off + z->cd_len;
        p = le(p, 0x06064b50, 4);
        p = le(p, 44, 8);
        p = le(p, 3u << 8 | 45, 2);
        p = le(p, 45, 2);
        p = le(p, 0, 4);
        p = le(p, 0, 4);
        p = le(p, n, 8);
        p = le(p, n, 8);
        p = le(p, z->cd_len, 8);
        p = le(p, z->cd_off, 8);
        p = le(p, 0x07064b50, 4); /* locator */
        p = le(p, 0, 4);
        p = le(p, rec, 8);
        p = le(p, 1, 4);
    }
    p = le(p, 0x06054b50, 4);
    p = le(p, 0, 2);
    p = le(p, 0, 2);
    p = le(p, end64 ? 0xFFFF : n, 2);
    p = le(p, end64 ? 0xFFFF : n, 2);
    p = le(p, end64 ? Z_MAX : z->cd_len, 4);
    p = le(p, end64 ? Z_MAX : z->cd_off, 4);
    le(p, 0, 2);
    return d;
}

int serve__zip_read(serve__zip *z, uint64_t pos, uint8_t *buf, size_t len)
{
    if (!z->laid_out || pos != z->next || len > z->total - pos) return -EINVAL;
    while (len > 0) {
        zpart *p = &z->p[z->cur];
        zentry *e = &z->e[p->entry];
        uint64_t left = p->len - z->cur_off;
        size_t n = left < len ? (size_t)left : len;
        int ret = 0;
        switch (p->kind) {
        case P_DATA:
            if (e->data) {
                memcpy(buf, e->data + z->cur_off, n);
            } else {
                if ((ret = e->read(e->opaque, z->cur_off, buf, n)) < 0) return ret;
                e->crc = (uint32_t)crc32(e->crc, buf, (uInt)n);
            }
            break;
        case P_DESC:
        case P_CD:
            if (!p->bytes && !(p->bytes = p->kind == P_DESC ? build_desc(e) : build_cd(z, p->len)))
                return -ENOMEM;
            /* fall through */
        case P_BYTES:
            memcpy(buf, p->bytes + z->cur_off, n);
            break;
        }
        buf += n, len -= n, z->next += n, z->cur_off += n;
        if (z->cur_off == p->len && z->cur + 1 < z->np) {
            if (p->kind != P_CD) free(p->bytes), p->bytes = NULL;
            z->cur++, z->cur_off = 0;
        }
    }
    return 0;
}
