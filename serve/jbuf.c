/*
 * JSON text written straight into a growing buffer, for answers of many rows
 * (the event search): a jansson object per row, dumped and then freed, costs
 * an allocation per member, a second pass to dump and a third to free. The
 * text written here is what json_dumps(JSON_COMPACT) makes of the same
 * values (its string escapes, its integer form), so an answer keeps its
 * bytes whichever way it is built.
 */
#include "serve/serve_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

bool serve__jbuf_reserve(serve__jbuf *b, size_t n)
{
    if (b->failed) return false;
    if (b->cap - b->len > n) return true; /* room for a NUL too */
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p, b->cap = cap;
    return true;
}

void serve__jbuf_put(serve__jbuf *b, const void *s, size_t n)
{
    if (!serve__jbuf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void serve__jbuf_puts(serve__jbuf *b, const char *s)
{
    serve__jbuf_put(b, s, strlen(s));
}

bool serve__jbuf_str(serve__jbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (!vg_utf8_valid(s, n)) return false;
    /* Six bytes for the longest escape of a byte, two quotes. */
    if (!serve__jbuf_reserve(b, 6 * n + 2)) return true;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default: /* jansson's form: \u and four upper-case hex digits */
            *o++ = 'u', *o++ = '0', *o++ = '0';
            *o++ = "0123456789ABCDEF"[c >> 4];
            *o++ = "0123456789ABCDEF"[c & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    return true;
}

void serve__jbuf_int(serve__jbuf *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRId64, v);
    serve__jbuf_put(b, t, (size_t)n);
}

void serve__jbuf_time(serve__jbuf *b, int64_t us)
{
    char t[VG_TIME_LEN + 2];
    vg_time_format(us, t + 1, VG_TIME_LEN);
    size_t n = strlen(t + 1);
    t[0] = '"';
    t[n + 1] = '"';
    serve__jbuf_put(b, t, n + 2);
}

static int dump_cb(const char *s, size_t n, void *arg)
{
    serve__jbuf *b = arg;
    serve__jbuf_put(b, s, n);
    return b->failed ? -1 : 0;
}

void serve__jbuf_json(serve__jbuf *b, const json_t *v)
{
    if (json_dump_callback(v, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) < 0) b->failed = true;
}

char *serve__jbuf_take(serve__jbuf *b)
{
    char *p = NULL;
    if (serve__jbuf_reserve(b, 0)) {
        b->p[b->len] = 0;
        p = b->p;
        b->p = NULL;
    }
    serve__jbuf_free(b);
    return p;
}

void serve__jbuf_free(serve__jbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
