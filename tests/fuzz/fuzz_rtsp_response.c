/* libFuzzer driver: the RTSP stream demux (messages and '$' frames) and the
 * header-value parsers the client applies to a response: Session, Transport,
 * RTP-Info, WWW-Authenticate (and the answer built from it), Content-Base. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static void headers(const rtsp_msg *m)
{
    for (int i = 0; i < m->n_headers; i++) {
        const rtsp_header *h = &m->headers[i];
        char id[128];
        int to;
        rtsp_transport t;
        uint32_t rt;
        uint16_t seq;
        int hr, hs;
        rtsp_auth a;
        memset(&a, 0, sizeof(a));
        rtsp_parse_session(h->value, h->value_len, id, sizeof(id), &to);
        rtsp_parse_transport(h->value, h->value_len, &t);
        rtsp_parse_rtp_info(h->value, h->value_len, "stream=1", &rt, &hr, &seq, &hs);
        if (rtsp_auth_parse(h->value, h->value_len, &a) == 0) {
            char out[2048];
            rtsp_auth_header(&a, "user", "pass", "DESCRIBE", "rtsp://h/x", "0a4f113b", out,
                             sizeof(out));
        }
    }
    char base[RTSP_MAX_URL], url[RTSP_MAX_URL];
    if (rtsp_msg_header_str(m, "Content-Base", base, sizeof(base)) == 0) {
        rtsp_url u;
        rtsp_url_parse(base, &u);
        rtsp_url_resolve(base, "trackID=1", url, sizeof(url));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rtsp_item it;
    size_t off = 0;
    while (off < size) {
        int r = rtsp_demux_next(data + off, size - off, &it);
        if (r <= 0) break;
        if ((size_t)r > size - off) abort();
        if (it.type == RTSP_ITEM_MESSAGE) {
            if (it.msg.body_len > RTSP_MAX_BODY) abort();
            headers(&it.msg);
        }
        off += (size_t)r;
    }
    return 0;
}
