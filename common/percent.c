/*
 * Percent-decoding (RFC 3986), the one copy for every place that reads
 * outside text with %XX escapes: HTTP query parameters (serve), the
 * access_token= query parameter (serve/auth) and RTSP URL userinfo (ingest).
 * Query strings and userinfo differ only in how a stray '%' is treated, so
 * that is a flag rather than a second decoder. '+' is never turned into a
 * space: vigil's clients send RFC 3339 offsets ("+07:00") unencoded.
 */
#include "common/common.h"

#include <errno.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int vg_percent_decode(const char *s, size_t n, char *out, size_t outlen, bool strict)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = n - i >= 3 ? hexval(s[i + 1]) : -1, l = n - i >= 3 ? hexval(s[i + 2]) : -1;
            if (h >= 0 && l >= 0) {
                c = h * 16 + l;
                i += 2;
            } else if (strict) {
                return -EINVAL;
            }
        }
        if (c == 0 && strict) return -EINVAL;
        if (o + 1 >= outlen) return -E2BIG;
        out[o++] = (char)c;
    }
    if (outlen == 0) return -E2BIG;
    out[o] = 0;
    return (int)o;
}

/* Hex digits to bytes (token hashes in the config, test vectors). */
int vg_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t outlen)
{
    if (hexlen != 2 * outlen) return -EINVAL;
    for (size_t i = 0; i < outlen; i++) {
        int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
        if (h < 0 || l < 0) return -EINVAL;
        out[i] = (uint8_t)(h * 16 + l);
    }
    return 0;
}
