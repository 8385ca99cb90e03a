/* libFuzzer driver: the SDP parser, then a depacketizer set up from each
 * media section it found (what the client does after DESCRIBE). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtsp_internal.h"

static void on_au(void *o, int t, const uint8_t *d, size_t n, uint32_t ts, int k)
{
    (void)o, (void)t, (void)d, (void)n, (void)ts, (void)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rtsp_sdp_session s;
    if (rtsp_sdp_parse((const char *)data, size, &s) < 0) return 0;
    if (s.n_media < 0 || s.n_media > RTSP_SDP_MAX_MEDIA) abort();
    for (int i = 0; i < s.n_media; i++) {
        rtsp_sdp_media *m = &s.media[i];
        char url[RTSP_MAX_URL];
        if (strnlen(m->control, sizeof(m->control)) == sizeof(m->control) ||
            m->sps_len > RTSP_MAX_PARAM_SET || m->config_len > sizeof(m->config))
            abort();
        rtsp_url_resolve("rtsp://127.0.0.1:554/x/", m->control, url, sizeof(url));
        rtsp_depack d;
        if (rtsp_depack_init(&d, m, i, on_au, NULL) == 0) {
            /* one packet so the parameter-set insertion runs */
            uint8_t idr[2] = {m->codec == RTSP_CODEC_H265 ? 0x26 : 0x65, 0x01};
            rtsp_rtp_hdr h = {.marker = 1, .payload = idr, .payload_len = 2};
            rtsp_depack_push(&d, &h, 0);
            rtsp_depack_free(&d);
        }
    }
    return 0;
}
