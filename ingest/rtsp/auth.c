/*
 * RTSP authentication: parsing of WWW-Authenticate challenges and the
 * Authorization answers for Basic (RFC 7617) and Digest (RFC 2617, MD5 and
 * MD5-sess, with or without qop=auth — cameras use every variant). MD5 comes
 * from libcrypto's EVP interface (libsodium has none). A Digest challenge is
 * preferred over a Basic one so a password is never sent in the clear when
 * the camera offers better.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ingest/rtsp/rtsp_internal.h"

void rtsp_md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16) {
        memset(out, '0', 32); /* cannot happen with the default provider */
        out[32] = 0;
        return;
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = 0;
}

static int is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies a token or quoted string starting at *p into out (truncating);
 * advances *p past it. */
static void take_value(const char **p, const char *end, char *out, size_t outlen)
{
    const char *s = *p;
    size_t o = 0;
    if (s < end && *s == '"') {
        s++;
        while (s < end && *s != '"') {
            if (*s == '\\' && s + 1 < end) s++;
            if (o + 1 < outlen) out[o++] = *s;
            s++;
        }
        if (s < end) s++;
    } else {
        while (s < end && *s != ',' && !is_ws((unsigned char)*s)) {
            if (o + 1 < outlen) out[o++] = *s;
            s++;
        }
    }
    if (outlen) out[o] = 0;
    *p = s;
}

int rtsp_auth_parse(const char *v, size_t len, rtsp_auth *a)
{
    const char *p = v, *end = v + len;
    while (p < end && is_ws((unsigned char)*p))
        p++;
    const char *sch = p;
    while (p < end && !is_ws((unsigned char)*p))
        p++;
    size_t sl = (size_t)(p - sch);
    rtsp_auth_scheme scheme;
    if (sl == 5 && strncasecmp(sch, "Basic", 5) == 0)
        scheme = RTSP_AUTH_BASIC;
    else if (sl == 6 && strncasecmp(sch, "Digest", 6) == 0)
        scheme = RTSP_AUTH_DIGEST;
    else
        return -ENOTSUP;
    if (scheme == RTSP_AUTH_BASIC && a->scheme == RTSP_AUTH_DIGEST)
        return 0; /* keep the better one */

    rtsp_auth n;
    memset(&n, 0, sizeof(n));
    n.scheme = scheme;
    while (p < end) {
        while (p < end && (is_ws((unsigned char)*p) || *p == ','))
            p++;
        if (p >= end) break;
        const char *k = p;
        while (p < end && *p != '=' && *p != ',' && !is_ws((unsigned char)*p))
            p++;
        size_t kl = (size_t)(p - k);
        while (p < end && is_ws((unsigned char)*p))
            p++;
        if (p >= end || *p != '=') {
            if (p < end && *p != ',') return -EBADMSG;
            continue;
        }
        p++;
        while (p < end && is_ws((unsigned char)*p))
            p++;
        char val[256];
        take_value(&p, end, val, sizeof(val));
#define KEY(s) (kl == sizeof(s) - 1 && strncasecmp(k, s, kl) == 0)
        if (KEY("realm"))
            snprintf(n.realm, sizeof(n.realm), "%s", val);
        else if (KEY("nonce"))
            snprintf(n.nonce, sizeof(n.nonce), "%s", val);
        else if (KEY("opaque"))
            snprintf(n.opaque, sizeof(n.opaque), "%s", val);
        else if (KEY("algorithm")) {
            if (strlen(val) >= sizeof(n.algorithm)) return -ENOTSUP;
            memcpy(n.algorithm, val, strlen(val) + 1);
        } else if (KEY("stale"))
            n.stale = strcasecmp(val, "true") == 0;
        else if (KEY("qop")) {
            /* a list such as "auth,auth-int" */
            const char *q = val;
            while (*q) {
                while (*q == ' ' || *q == ',')
                    q++;
                size_t ql = strcspn(q, ", ");
                if (ql == 4 && strncasecmp(q, "auth", 4) == 0) n.qop_auth = 1;
                q += ql;
            }
        }
#undef KEY
    }
    if (scheme == RTSP_AUTH_DIGEST) {
        if (!n.nonce[0]) return -EBADMSG;
        if (n.algorithm[0] && strcasecmp(n.algorithm, "MD5") != 0 &&
            strcasecmp(n.algorithm, "MD5-sess") != 0)
            return -ENOTSUP;
    }
    *a = n;
    return 0;
}

/* Appends a quoted string with '"' and '\' escaped. */
static int put_quoted(char *out, size_t outlen, size_t *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            if (*o + 1 >= outlen) return -E2BIG;
            out[(*o)++] = '\\';
        }
        if (*o + 1 >= outlen) return -E2BIG;
        out[(*o)++] = *s;
    }
    out[*o] = 0;
    return 0;
}

static int put(char *out, size_t outlen, size_t *o, const char *fmt, const char *a)
{
    int n = snprintf(out + *o, outlen - *o, fmt, a);
    if (n < 0 || (size_t)n >= outlen - *o) return -E2BIG;
    *o += (size_t)n;
    return 0;
}

int rtsp_auth_header(rtsp_auth *a, const char *user, const char *pass, const char *method,
                     const char *uri, const char *cnonce, char *out, size_t outlen)
{
    char buf[1024];
    int n;
    if (!outlen) return -E2BIG;
    if (a->scheme == RTSP_AUTH_BASIC) {
        n = snprintf(buf, sizeof(buf), "%s:%s", user, pass);
        if (n < 0 || (size_t)n >= sizeof(buf) || outlen < 7) return -E2BIG;
        memcpy(out, "Basic ", 6);
        return rtsp_base64_encode((const uint8_t *)buf, (size_t)n, out + 6, outlen - 6);
    }
    if (a->scheme != RTSP_AUTH_DIGEST) return -EINVAL;

    char ha1[33], ha2[33], resp[33], cn[17], nc[9];
    if (!cnonce) {
        uint8_t r[8];
        if (RAND_bytes(r, sizeof(r)) != 1) return -EIO;
        for (int i = 0; i < 8; i++)
            snprintf(cn + 2 * i, 3, "%02x", r[i]);
        cnonce = cn;
    }
    n = snprintf(buf, sizeof(buf), "%s:%s:%s", user, a->realm, pass);
    if (n < 0 || (size_t)n >= sizeof(buf)) return -E2BIG;
    rtsp_md5_hex(buf, (size_t)n, ha1);
    if (strcasecmp(a->algorithm, "MD5-sess") == 0) {
        n = snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, a->nonce, cnonce);
        if (n < 0 || (size_t)n >= sizeof(buf)) return -E2BIG;
        rtsp_md5_hex(buf, (size_t)n, ha1);
    }
    n = snprintf(buf, sizeof(buf), "%s:%s", method, uri);
    if (n < 0 || (size_t)n >= sizeof(buf)) return -E2BIG;
    rtsp_md5_hex(buf, (size_t)n, ha2);
    if (a->qop_auth) {
        a->nc++;
        snprintf(nc, sizeof(nc), "%08x", a->nc);
        n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1, a->nonce, nc, cnonce, ha2);
    } else {
        n = snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, a->nonce, ha2);
    }
    if (n < 0 || (size_t)n >= sizeof(buf)) return -E2BIG;
    rtsp_md5_hex(buf, (size_t)n, resp);

    size_t o = 0;
    int r = 0;
    out[0] = 0;
    if ((r = put(out, outlen, &o, "%s", "Digest username=\"")) < 0 ||
        (r = put_quoted(out, outlen, &o, user)) < 0 ||
        (r = put(out, outlen, &o, "%s", "\", realm=\"")) < 0 ||
        (r = put_quoted(out, outlen, &o, a->realm)) < 0 ||
        (r = put(out, outlen, &o, "%s", "\", nonce=\"")) < 0 ||
        (r = put_quoted(out, outlen, &o, a->nonce)) < 0 ||
        (r = put(out, outlen, &o, "\", uri=\"%s", uri)) < 0 ||
        (r = put(out, outlen, &o, "\", response=\"%s\"", resp)) < 0)
        return r;
    if (a->algorithm[0] && (r = put(out, outlen, &o, ", algorithm=%s", a->algorithm)) < 0) return r;
    if (a->opaque[0] && ((r = put(out, outlen, &o, "%s", ", opaque=\"")) < 0 ||
                         (r = put_quoted(out, outlen, &o, a->opaque)) < 0 ||
                         (r = put(out, outlen, &o, "%s", "\"")) < 0))
        return r;
    if (a->qop_auth && ((r = put(out, outlen, &o, ", qop=auth, nc=%s", nc)) < 0 ||
                        (r = put(out, outlen, &o, ", cnonce=\"%s\"", cnonce)) < 0))
        return r;
    return 0;
}
