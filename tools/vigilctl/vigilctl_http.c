/*
 * vigilctl's HTTP client (see vigilctl_http.h), on libcurl: one blocking
 * request per call, the body streamed to a file descriptor or collected in memory.
 * The token goes in the Authorization header only, never in the URL (it
 * would show up in logs otherwise), and the header buffer is wiped after.
 */
#include "tools/vigilctl/vigilctl_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "config/config.h"

void vigilctl_http_base(const char *listen, char *out, size_t len)
{
    config_listen la;
    if (config_listen_parse(listen, &la) < 0) {
        snprintf(out, len, "http://127.0.0.1:8080");
        return;
    }
    bool v6 = la.bracketed || strchr(la.host, ':');
    if (!la.host[0] || !strcmp(la.host, "0.0.0.0"))
        snprintf(out, len, "http://127.0.0.1:%d", la.port);
    else if (!strcmp(la.host, "::"))
        snprintf(out, len, "http://[::1]:%d", la.port);
    else
        snprintf(out, len, v6 ? "http://[%s]:%d" : "http://%s:%d", la.host, la.port);
}

typedef struct sink {
    int fd;          /* >= 0: the body goes there */
    char *buf;       /* else collected here */
    size_t n, cap;
    int err;         /* a failed write or allocation, negative errno */
} sink;

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    sink *k = arg;
    size_t len = size * nmemb;
    if (k->fd >= 0) {
        if ((k->err = vg_write_all(k->fd, p, len)) < 0) return 0;
        return len;
    }
    if (k->n + len + 1 > k->cap) {
        size_t ncap = k->cap ? k->cap : 65536;
        while (ncap < k->n + len + 1) ncap *= 2;
        char *nb = realloc(k->buf, ncap);
        if (!nb) {
            k->err = -ENOMEM;
            return 0;
        }
        k->buf = nb;
        k->cap = ncap;
    }
    memcpy(k->buf + k->n, p, len);
    k->n += len;
    k->buf[k->n] = 0;
    return len;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* libcurl's result as the negative errno-style codes of vigilctl_http_get(). */
static int curl_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return -EINVAL;
    case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_GOT_NOTHING:
    default: return -EIO;
    }
}

int vigilctl_http_get(const char *base, const char *path, const char *token, int fd, char **body,
                      size_t *len, int timeout_ms)
{
    return vigilctl_http_request(base, "GET", path, token, NULL, fd, body, len, timeout_ms);
}

int vigilctl_http_request(const char *base, const char *method, const char *path,
                          const char *token, const char *json, int fd, char **body, size_t *len,
                          int timeout_ms)
{
    char url[4096], auth[1024];
    sink k = {.fd = fd};
    struct curl_slist *hdrs = NULL;
    CURL *c = NULL;
    long status = 0;
    int ret;
    if (body) *body = NULL;
    if (len) *len = 0;
    if (strncmp(base, "http://", 7) != 0) return -EINVAL;
    if (snprintf(url, sizeof(url), "%s%s", base, path) >= (int)sizeof(url)) return -E2BIG;
    if (token && snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >= (int)sizeof(auth))
        return -E2BIG;
    pthread_once(&curl_once, curl_init_once);
    if (!(c = curl_easy_init()) || (token && !(hdrs = curl_slist_append(NULL, auth)))) {
        ret = -ENOMEM;
        goto out;
    }
    if (json) {
        struct curl_slist *h = curl_slist_append(hdrs, "Content-Type: application/json");
        if (!h) {
            ret = -ENOMEM;
            goto out;
        }
        hdrs = h;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    }
    if (strcmp(method, json ? "POST" : "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vigilctl");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the daemon is reached directly */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    /* timeout_ms bounds the connect and any stall, not a long download */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)((timeout_ms + 999) / 1000));
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        ret = k.err < 0 ? k.err : curl_errno(rc);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 100) {
        ret = -EPROTO;
        goto out;
    }
    if (body) {
        if (!k.buf && !(k.buf = calloc(1, 1))) {
            ret = -ENOMEM;
            goto out;
        }
        *body = k.buf;
        k.buf = NULL;
    }
    if (len) *len = k.n;
    ret = (int)status;
out:
    vg_memzero(auth, sizeof(auth)); /* the token */
    curl_slist_free_all(hdrs);
    if (c) curl_easy_cleanup(c);
    free(k.buf);
    return ret;
}
