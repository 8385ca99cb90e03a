/*
 * UTF-8 for text that is stored in bounded buffers and later served as JSON:
 * lock reasons, camera ids, event and audit details. jansson refuses a string
 * that is not valid UTF-8, so one byte cut from the middle of a character (or
 * one bad byte written by an older vigilctl) would make a whole listing fail.
 * Every cut to a byte budget and every copy of stored text into a fixed
 * buffer goes through here: cuts fall on character boundaries, and invalid
 * bytes become '?' (one byte for one, so the result never grows).
 */
#include "common/common.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

size_t vg_utf8_cut(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, len = strlen(s);
    if (n > len) n = len;
    while (i < n) {
        size_t l = seq_len(u + i, len - i);
        if (!l) l = 1; /* an invalid byte is a character of its own */
        if (i + l > n) break;
        i += l;
    }
    return i;
}

size_t vg_utf8_copy(char *dst, size_t len, const char *src)
{
    const unsigned char *u = (const unsigned char *)src;
    size_t i = 0, o = 0, n = strlen(src);
    if (!len) return 0;
    while (i < n) {
        size_t l = seq_len(u + i, n - i);
        if (o + (l ? l : 1) >= len) break;
        if (l) {
            memcpy(dst + o, src + i, l);
            o += l, i += l;
        } else {
            dst[o++] = '?', i++;
        }
    }
    dst[o] = 0;
    return o;
}

bool vg_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = seq_len(u + i, n - i);
        if (!l) return false;
        i += l;
    }
    return true;
}
