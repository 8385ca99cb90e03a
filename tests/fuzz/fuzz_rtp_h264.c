/* libFuzzer driver: the H264 RTP depacketizer (see fuzz_rtp_common.h). */
#include "fuzz_rtp_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_rtp_run(RTSP_CODEC_H264, data, size);
    return 0;
}
