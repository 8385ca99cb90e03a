/*
 * libFuzzer driver: the segmenter's input, a camera's frames with whatever
 * times, flags and sizes it sends (ingest/segmenter.h). A camera decides
 * all of them, so none may crash the segmenter or make it hold more than
 * its caps (6 MiB of frames, 1024 pictures and 2048 audio frames, plus the
 * frame being added), whatever the order.
 *
 * Input: one byte of run flags (bit 0 H.265, else H.264; bit 1 AAC audio;
 * bit 2 avcC-style extradata, so samples are length-prefixed; bit 3 G.711
 * audio instead of AAC), then records:
 *   [flags u8][pts delta i16 BE][receive delta u16 BE, 100 us][repeat u8][len u16 BE][len bytes]
 * Record flags: bit 0 audio, bit 1 keyframe, bit 2 length-prefixed, bit 3
 * start a new run first, bit 4 end the run. The frame is fed repeat + 1
 * times (pts and receive time advancing by their deltas each time), so a
 * small input can stand for a camera that floods. Nothing is recorded (no
 * storage): the fragments are cut, timed and dropped.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/segmenter.h"

#define CAP_BYTES (6 * 1024 * 1024)
#define CAP_FRAMES (1024 + 2048)

static int start(ingest_segmenter *s, uint8_t rf)
{
    static const uint8_t avcc[] = {1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0};
    static const uint8_t asc[] = {0x12, 0x10}; /* AAC-LC 44.1 kHz mono */
    ingest_stream v = {.codec = rf & 1 ? INGEST_CODEC_H265 : INGEST_CODEC_H264,
                       .width = 320, .height = 240, .tb_num = 1, .tb_den = 90000};
    if (rf & 4) {
        v.extradata = avcc;
        v.extradata_len = sizeof(avcc);
    }
    ingest_stream a = {.codec = INGEST_CODEC_AAC, .extradata = asc, .extradata_len = sizeof(asc),
                       .sample_rate = 44100, .channels = 1, .frame_size = 1024,
                       .tb_num = 1, .tb_den = 44100};
    if (rf & 8) {
        a = (ingest_stream){.codec = INGEST_CODEC_PCMU, .sample_rate = 8000, .channels = 1,
                            .tb_num = 1, .tb_den = 8000};
    }
    return ingest_segmenter_start_run(s, &v, rf & 10 ? &a : NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ingest_segmenter *s = NULL;
    ingest_segmenter_params p = {.camera = "fuzz", .segment_seconds = 2};
    if (size < 1) return 0;
    if (ingest_segmenter_open(&p, &s) < 0) abort();
    uint8_t rf = data[0];
    const uint8_t *q = data + 1, *end = data + size;
    int64_t pts = 0, recv = 1795000000000000LL;
    bool in_run = start(s, rf) == 0;
    while (end - q >= 8) {
        uint8_t ff = q[0];
        int16_t dp = (int16_t)(uint16_t)(q[1] << 8 | q[2]);
        int64_t dr = (int64_t)(q[3] << 8 | q[4]) * 100;
        unsigned rep = q[5];
        size_t len = (size_t)(q[6] << 8 | q[7]);
        q += 8;
        if (len > (size_t)(end - q)) len = (size_t)(end - q);
        if (ff & 8) in_run = start(s, rf) == 0;
        for (unsigned i = 0; in_run && i <= rep; i++) {
            pts += dp;
            recv += dr;
            ingest_frame f = {.audio = ff & 1, .data = q, .size = len,
                              .length_prefixed = !!(ff & 4), .pts = pts, .key = !!(ff & 2),
                              .recv_us = recv};
            int r = ingest_segmenter_write(s, &f);
            if (r < 0 && r != -12 /* ENOMEM */) abort();
            ingest_segmenter_stats st;
            ingest_segmenter_get_stats(s, &st);
            if (st.queued_bytes > CAP_BYTES + len || st.queued_frames > CAP_FRAMES + 1) {
                fprintf(stderr, "over the cap: %llu bytes, %llu frames\n",
                        (unsigned long long)st.queued_bytes, (unsigned long long)st.queued_frames);
                abort();
            }
        }
        if (ff & 16) {
            ingest_segmenter_end_run(s);
            in_run = false;
        }
        q += len;
    }
    ingest_segmenter_close(&s);
    return 0;
}
