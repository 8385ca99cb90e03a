/*
 * A minimal blocking HTTP/1.0 GET (see vigilctl_http.h). HTTP/1.0 with
 * Connection: close makes the server end the body by closing the connection,
 * so neither chunked encoding nor keep-alive has to be handled here. The token
 * goes in the Authorization header only, never in the URL (it would show up
 * in logs otherwise).
 */
#include "tools/vigilctl/vigilctl_http.h"

#include <errno.h>

#include "common/common.h"
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

void vigilctl_http_base(const char *listen, char *out, size_t len)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon) {
        snprintf(out, len, "http://127.0.0.1:8080");
        return;
    }
    size_t hl = (size_t)(colon - listen);
    const char *port = colon + 1;
    if (hl == 0 || (hl == 7 && !memcmp(listen, "0.0.0.0", 7)))
        snprintf(out, len, "http://127.0.0.1:%s", port);
    else if (hl == 4 && !memcmp(listen, "[::]", 4))
        snprintf(out, len, "http://[::1]:%s", port);
    else
        snprintf(out, len, "http://%.*s:%s", (int)hl, listen, port);
}

/* Splits "http://HOST[:PORT][/prefix]" into host, port, prefix. */
static int parse_base(const char *base, char *host, size_t hlen, char *port, size_t plen,
                      const char **prefix)
{
    if (strncmp(base, "http://", 7) != 0) return -EINVAL;
    const char *h = base + 7, *end = strchr(h, '/');
    if (!end) end = h + strlen(h);
    *prefix = end;
    const char *hend, *p = NULL;
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        if (!hend) return -EINVAL;
        h++;
        if (hend + 1 < end && hend[1] == ':') p = hend + 2;
    } else {
        const char *c = memchr(h, ':', (size_t)(end - h));
        hend = c ? c : end;
        if (c) p = c + 1;
    }
    if (hend <= h || (size_t)(hend - h) >= hlen) return -EINVAL;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = 0;
    if (p) {
        if ((size_t)(end - p) >= plen || end == p) return -EINVAL;
        memcpy(port, p, (size_t)(end - p));
        port[end - p] = 0;
    } else {
        snprintf(port, plen, "80");
    }
    return 0;
}

static int connect_to(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int ret = -ECONNREFUSED;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -EHOSTUNREACH;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* also bounds connect */
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ret = fd;
            break;
        }
        ret = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    return ret;
}

int vigilctl_http_get(const char *base, const char *path, const char *token, int fd, char **body,
                      size_t *len, int timeout_ms)
{
    char host[256], port[16], req[4096];
    const char *prefix;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int sock = -1, ret;
    if (body) *body = NULL;
    if (len) *len = 0;
    if ((ret = parse_base(base, host, sizeof(host), port, sizeof(port), &prefix)) < 0) return ret;
    int rl = snprintf(req, sizeof(req),
                      "GET %s%s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: vigilctl\r\n"
                      "Connection: close\r\n%s%s%s\r\n",
                      prefix, path, host, port, token ? "Authorization: Bearer " : "",
                      token ? token : "", token ? "\r\n" : "");
    if (rl < 0 || (size_t)rl >= sizeof(req)) return -E2BIG;
    if ((sock = connect_to(host, port, timeout_ms)) < 0) return sock;
    ret = vg_write_all(sock, req, (size_t)rl);
    memset(req, 0, sizeof(req)); /* the token */
    if (ret < 0) goto out;

    /* Read until the end of the headers (kept in buf), then the body. */
    int status = 0;
    size_t hdr_end = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 65536 * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                ret = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(sock, buf + n, 65536);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
            goto out;
        }
        n += (size_t)r;
        buf[n] = 0;
        if (!hdr_end) {
            char *e = strstr(buf, "\r\n\r\n");
            if (e) {
                hdr_end = (size_t)(e - buf) + 4;
                if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || status < 100) {
                    ret = -EPROTO;
                    goto out;
                }
            } else if (r == 0 || n > 65536) {
                ret = -EPROTO;
                goto out;
            }
        }
        if (hdr_end && fd >= 0 && n > hdr_end) {
            /* stream the body out, keep only the headers */
            if ((ret = vg_write_all(fd, buf + hdr_end, n - hdr_end)) < 0) goto out;
            n = hdr_end;
        }
        if (r == 0) break;
    }
    if (body) {
        memmove(buf, buf + hdr_end, n - hdr_end);
        buf[n - hdr_end] = 0;
        *body = buf;
        buf = NULL;
    }
    if (len) *len = n - hdr_end;
    ret = status;
out:
    free(buf);
    if (sock >= 0) close(sock);
    return ret;
}
