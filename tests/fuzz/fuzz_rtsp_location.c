/* libFuzzer driver: where a camera's redirect sends the client. The input is
 * the Location of a 3xx answer: it goes through the answer's parser
 * (rtsp_msg_parse, rtsp_msg_header_str) and the URL parser the client then
 * connects with (rtsp_url_parse), and is used as a base for control URLs
 * (rtsp_url_resolve). Checked: strings stay terminated inside their buffers,
 * a parsed URL has a host and a port in 1..65535, the request-line URL never
 * carries the userinfo (credentials would go on the wire), and it parses
 * again to the same host and port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static void check_url(const char *s)
{
    static rtsp_url u, again;
    memset(&u, 0x5a, sizeof(u));
    if (rtsp_url_parse(s, &u) < 0) return;
    if (strnlen(u.host, sizeof(u.host)) >= sizeof(u.host) ||
        strnlen(u.user, sizeof(u.user)) >= sizeof(u.user) ||
        strnlen(u.pass, sizeof(u.pass)) >= sizeof(u.pass) ||
        strnlen(u.url, sizeof(u.url)) >= sizeof(u.url))
        abort();
    if (!u.host[0] || u.port < 1 || u.port > 65535) abort();
    /* rtsp:// or, for a TLS camera, rtsps:// */
    size_t pre = !strncmp(u.url, "rtsp://", 7) ? 7 : !strncmp(u.url, "rtsps://", 8) ? 8 : 0;
    if (!pre) abort();
    size_t alen = strcspn(u.url + pre, "/");
    if (memchr(u.url + pre, '@', alen)) abort(); /* userinfo on the request line */
    if (rtsp_url_parse(u.url, &again) < 0) abort();
    if (strcmp(again.host, u.host) != 0 || again.port != u.port || again.user[0]) abort();
    char out[RTSP_MAX_URL];
    if (rtsp_url_resolve(u.url, "trackID=1", out, sizeof(out)) == 0 &&
        strnlen(out, sizeof(out)) >= sizeof(out))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[RTSP_MAX_URL + 64];
    static uint8_t msg[RTSP_MAX_URL + 256];
    static rtsp_msg m;
    if (size >= sizeof(s)) return 0;
    /* As a string: what rtsp_msg_header_str hands on, control bytes and all. */
    memcpy(s, data, size);
    s[size] = 0;
    check_url(s);
    char out[64];
    if (rtsp_url_resolve(s, "stream=0", out, sizeof(out)) == 0 && strnlen(out, sizeof(out)) >= sizeof(out))
        abort();
    /* As the header of a redirect answer. */
    static const char head[] = "RTSP/1.0 302 Moved Temporarily\r\nCSeq: 3\r\nLocation: ";
    size_t n = sizeof(head) - 1;
    memcpy(msg, head, n);
    memcpy(msg + n, data, size);
    n += size;
    memcpy(msg + n, "\r\n\r\n", 4);
    n += 4;
    if (rtsp_msg_parse(msg, n, &m) > 0) {
        char loc[RTSP_MAX_URL];
        if (rtsp_msg_header_str(&m, "Location", loc, sizeof(loc)) == 0) {
            if (strnlen(loc, sizeof(loc)) >= sizeof(loc)) abort();
            check_url(loc);
        }
    }
    return 0;
}
