/*
 * Reading requests and answering them: query parameters (percent-decoded
 * by common's one decoder), JSON bodies, the Range header, and the JSON
 * and error responses every route sends. Pure helpers over h2o_req_t, so
 * each route file reads like its endpoint and nothing else; the parsers of
 * outside input here (query, Range) are unit-tested and fuzzed.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

int serve__query_get(const char *q, size_t qlen, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = q, *end = q + qlen;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *k_end = eq ? eq : e;
        if ((size_t)(k_end - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : e;
            return vg_percent_decode(v, (size_t)(e - v), out, outlen, true) < 0 ? -1 : 1;
        }
        p = e + 1;
    }
    return 0;
}

static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s == end || *s < '0' || *s > '9') return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

int serve__range_parse(const char *v, size_t vlen, uint64_t len, uint64_t *first, uint64_t *last)
{
    const char *p = v, *end = v + vlen;
    while (p < end && *p == ' ') p++;
    if ((size_t)(end - p) < 6 || strncasecmp(p, "bytes=", 6) != 0) return 0;
    p += 6;
    while (p < end && *p == ' ') p++;
    while (end > p && end[-1] == ' ') end--;
    if (memchr(p, ',', (size_t)(end - p))) return 0; /* several ranges: send it all */
    uint64_t a, b;
    if (p < end && *p == '-') {
        p++;
        if (!parse_u64(&p, end, &b) || p != end) return 0;
        if (b == 0 || len == 0) return -1;
        *first = b >= len ? 0 : len - b;
        *last = len - 1;
        return 1;
    }
    if (!parse_u64(&p, end, &a) || p == end || *p != '-') return 0;
    p++;
    if (p == end) {
        b = UINT64_MAX;
    } else if (!parse_u64(&p, end, &b) || p != end || b < a) {
        return 0;
    }
    if (a >= len) return -1;
    *first = a;
    *last = b >= len ? len - 1 : b;
    return 1;
}

/* ---- responses ---- */

const char *serve__reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 422: return "Unprocessable Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

void serve__add_header(h2o_req_t *req, const h2o_token_t *tok, const char *v)
{
    h2o_iovec_t s = h2o_strdup(&req->pool, v, strlen(v));
    h2o_add_header(&req->pool, &req->res.headers, tok, NULL, s.base, s.len);
}

void serve__add_header_str(h2o_req_t *req, const char *name, const char *v)
{
    h2o_iovec_t s = h2o_strdup(&req->pool, v, strlen(v));
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, s.base,
                          s.len);
}

void serve__send_body(h2o_req_t *req, int status, const char *ctype, const void *body, size_t len)
{
    req->res.status = status;
    req->res.reason = serve__reason(status);
    req->res.content_length = len;
    serve__add_header(req, H2O_TOKEN_CONTENT_TYPE, ctype);
    serve__add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    h2o_send_inline(req, body, len);
}

void serve__send_json(h2o_req_t *req, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) {
        serve__send_body(req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
        return;
    }
    serve__send_body(req, status, "application/json", s, strlen(s));
    free(s);
}

void serve__send_error(h2o_req_t *req, int status, const char *msg)
{
    serve__send_json(req, status, json_pack("{s:s}", "error", msg));
}

void serve__send_errno(h2o_req_t *req, int err, const char *what)
{
    char msg[256];
    switch (err) {
    case -ENOENT:
        snprintf(msg, sizeof(msg), "no footage %s", what);
        serve__send_error(req, 404, msg);
        return;
    case -EINVAL:
    case -ENOTSUP:
    case -ERANGE:
    case -EIO:
        snprintf(msg, sizeof(msg), "cannot read the recording: %s", strerror(-err));
        serve__send_error(req, 500, msg);
        return;
    default:
        snprintf(msg, sizeof(msg), "index unavailable: %s", strerror(-err));
        serve__send_error(req, 503, msg);
        return;
    }
}

void serve__send_405(h2o_req_t *req, const char *allow)
{
    serve__add_header(req, H2O_TOKEN_ALLOW, allow);
    serve__send_error(req, 405, "method not allowed");
}

json_t *serve__json_time(int64_t us)
{
    char b[VG_TIME_LEN];
    return json_string(vg_time_format(us, b, sizeof(b)));
}

bool serve__method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* ---- query and body ---- */

int serve__query_string(h2o_req_t *req, const char *name, char *out, size_t outlen)
{
    if (req->query_at == SIZE_MAX) return 0;
    return serve__query_get(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
                            name, out, outlen);
}

bool serve__range_ok(int64_t start, int64_t end, int64_t max_us)
{
    int64_t len;
    return end > start && !__builtin_sub_overflow(end, start, &len) && len <= max_us;
}

int serve__query_time(h2o_req_t *req, const char *name, int64_t *out, bool *present)
{
    char v[128];
    *present = false;
    int r = serve__query_string(req, name, v, sizeof(v));
    if (r < 0) return -EINVAL;
    if (r == 0) return 0;
    /* A '+' offset sent unencoded by a form encoder arrives as a space. */
    size_t l = strlen(v);
    if (l > 6 && v[l - 6] == ' ') v[l - 6] = '+';
    if (vg_time_parse(v, out) < 0) return -EINVAL;
    *present = true;
    return 0;
}

int serve__body_object(h2o_req_t *req, json_t **out)
{
    json_error_t e;
    *out = NULL;
    if (!req->entity.base || req->entity.len == 0) return 0;
    json_t *j = json_loadb(req->entity.base, req->entity.len, 0, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        serve__send_error(req, 400, "the body must be a JSON object");
        return -1;
    }
    *out = j;
    return 1;
}

int serve__member_time(json_t *o, const char *key, int64_t *out, bool *present)
{
    json_t *v = json_object_get(o, key);
    *present = false;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        json_int_t t = json_integer_value(v);
        if (t < 0 || t > VG_TIME_MAX_US / 1000000) return -1;
        *out = (int64_t)t * 1000000;
    } else if (!json_is_string(v) || vg_time_parse(json_string_value(v), out) < 0) {
        return -1;
    }
    *present = true;
    return 0;
}

bool serve__member_str(json_t *o, const char *key, char *out, size_t len)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) >= len) return false;
    snprintf(out, len, "%s", json_string_value(v));
    return strlen(out) == json_string_length(v); /* no embedded NUL */
}
