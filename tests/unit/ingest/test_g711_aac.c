/*
 * ingest/g711_aac: G.711 in, AAC-LC out, checked by ear's stand-in. A sine
 * is encoded to G.711 by libavcodec's own pcm_mulaw / pcm_alaw encoders, fed
 * through the transcoder in RTP-sized packets (with a lost packet, filled
 * with silence), and the AAC that comes out is decoded by libavcodec's AAC
 * decoder: it must match what libavcodec's G.711 decoder makes of the same
 * bytes (the transcoder expands G.711 by its own tables), sample-aligned
 * through the priming offset the transcoder puts in the pts. Live view's
 * eager encoding must give the recording's frames, only sooner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ingest/g711_aac.h"

#include <libavcodec/avcodec.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RATE 8000
#define SECONDS 2
#define NS (RATE * SECONDS)
#define PKT 160 /* 20 ms, as cameras send it */

typedef struct sink {
    AVCodecContext *dec;
    float *out; /* decoded AAC, mono */
    size_t n, cap;
    int64_t first_pts;
    int npkts;
} sink;

static void take_frame(sink *k, const AVFrame *f)
{
    if (k->n + (size_t)f->nb_samples > k->cap) {
        k->cap = (k->n + (size_t)f->nb_samples) * 2;
        k->out = realloc(k->out, k->cap * sizeof(float));
        assert_non_null(k->out);
    }
    assert_int_equal(f->format, AV_SAMPLE_FMT_FLTP);
    memcpy(k->out + k->n, f->extended_data[0], (size_t)f->nb_samples * sizeof(float));
    k->n += (size_t)f->nb_samples;
}

static int emit(void *opaque, const uint8_t *data, size_t size, int64_t pts, int64_t dur)
{
    sink *k = opaque;
    AVPacket *p = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    (void)dur;
    if (k->npkts++ == 0) k->first_pts = pts;
    assert_int_equal(av_new_packet(p, (int)size), 0);
    memcpy(p->data, data, size);
    assert_int_equal(avcodec_send_packet(k->dec, p), 0);
    while (avcodec_receive_frame(k->dec, f) == 0) {
        take_frame(k, f);
        av_frame_unref(f);
    }
    av_frame_free(&f);
    av_packet_free(&p);
    return 0;
}

/* G.711 bytes of a 440 Hz sine, and what libavcodec decodes them to. */
static void make_g711(enum AVCodecID id, uint8_t *g711, float *ref)
{
    const AVCodec *ec = avcodec_find_encoder(id), *dc = avcodec_find_decoder(id);
    AVCodecContext *enc = avcodec_alloc_context3(ec), *dec = avcodec_alloc_context3(dc);
    AVFrame *f = av_frame_alloc();
    AVPacket *p = av_packet_alloc();
    assert_non_null(enc);
    assert_non_null(dec);
    enc->sample_fmt = AV_SAMPLE_FMT_S16;
    enc->sample_rate = dec->sample_rate = RATE;
    av_channel_layout_default(&enc->ch_layout, 1);
    av_channel_layout_default(&dec->ch_layout, 1);
    enc->time_base = (AVRational){1, RATE};
    assert_int_equal(avcodec_open2(enc, ec, NULL), 0);
    assert_int_equal(avcodec_open2(dec, dc, NULL), 0);
    f->format = AV_SAMPLE_FMT_S16;
    f->nb_samples = NS;
    f->sample_rate = RATE;
    av_channel_layout_default(&f->ch_layout, 1);
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    int16_t *s = (int16_t *)f->data[0];
    for (int i = 0; i < NS; i++) s[i] = (int16_t)(12000.0 * sin(2 * M_PI * 440.0 * i / RATE));
    assert_int_equal(avcodec_send_frame(enc, f), 0);
    assert_int_equal(avcodec_receive_packet(enc, p), 0);
    assert_int_equal(p->size, NS);
    memcpy(g711, p->data, NS);
    av_frame_unref(f);
    assert_int_equal(avcodec_send_packet(dec, p), 0);
    assert_int_equal(avcodec_receive_frame(dec, f), 0);
    assert_int_equal(f->nb_samples, NS);
    for (int i = 0; i < NS; i++) ref[i] = (float)((const int16_t *)f->data[0])[i] / 32768.0f;
    av_frame_free(&f);
    av_packet_free(&p);
    avcodec_free_context(&enc);
    avcodec_free_context(&dec);
}

static void run(ingest_codec codec, enum AVCodecID id)
{
    uint8_t *g711 = malloc(NS);
    float *ref = malloc(NS * sizeof(float));
    sink k = {0};
    ingest_g711_aac *x = NULL;
    ingest_stream as;
    const int lost = 20; /* this packet never arrives: silence instead */
    assert_non_null(g711);
    assert_non_null(ref);
    make_g711(id, g711, ref);
    for (int i = lost * PKT; i < (lost + 1) * PKT; i++) ref[i] = 0;

    ingest_g711_aac_params p = {.codec = codec, .sample_rate = RATE, .channels = 1,
                                .camera = "cam1", .emit = emit, .opaque = &k};
    assert_int_equal(ingest_g711_aac_create(&p, &x), 0);
    ingest_g711_aac_stream(x, &as);
    assert_int_equal(as.codec, INGEST_CODEC_AAC);
    assert_int_equal(as.sample_rate, RATE);
    assert_int_equal(as.tb_den, RATE);
    assert_true(as.extradata_len >= 2);

    const AVCodec *ac = avcodec_find_decoder(AV_CODEC_ID_AAC);
    k.dec = avcodec_alloc_context3(ac);
    k.dec->extradata = av_mallocz(as.extradata_len + AV_INPUT_BUFFER_PADDING_SIZE);
    memcpy(k.dec->extradata, as.extradata, as.extradata_len);
    k.dec->extradata_size = (int)as.extradata_len;
    k.dec->sample_rate = RATE;
    av_channel_layout_default(&k.dec->ch_layout, 1);
    assert_int_equal(avcodec_open2(k.dec, ac, NULL), 0);

    for (int i = 0; i < NS / PKT; i++) {
        if (i == lost) continue;
        assert_int_equal(ingest_g711_aac_input(x, g711 + i * PKT, PKT, (int64_t)i * PKT), 0);
        /* a fragment cut every 0.5 s: whole frames before it are encoded */
        if (i % 25 == 24) ingest_g711_aac_encode_until(x, (int64_t)(i + 1) * PKT, false);
    }
    ingest_g711_aac_encode_until(x, NS, true); /* the segment's end */
    assert_int_equal(avcodec_send_packet(k.dec, NULL), 0);
    AVFrame *f = av_frame_alloc();
    while (avcodec_receive_frame(k.dec, f) == 0) {
        take_frame(&k, f);
        av_frame_unref(f);
    }
    av_frame_free(&f);

    /* Output sample j is input position j + first_pts (the priming frame). */
    assert_true(k.npkts > 0);
    assert_true(k.first_pts <= 0);
    size_t off = (size_t)-k.first_pts;
    assert_true(k.n >= off + NS - 1024);
    double xy = 0, xx = 0, yy = 0, err = 0;
    for (size_t j = 1024; j < NS - 1024; j++) { /* away from the edges */
        double a = ref[j], b = k.out[off + j];
        xy += a * b;
        xx += a * a;
        yy += b * b;
        err += (a - b) * (a - b);
    }
    double corr = xy / sqrt(xx * yy), snr = 10 * log10(xx / err);
    print_message("%s: %d AAC packets, correlation %.4f, SNR %.1f dB\n",
                  codec == INGEST_CODEC_PCMU ? "mu-law" : "A-law", k.npkts, corr, snr);
    assert_true(corr > 0.98);
    assert_true(snr > 15.0);
    /* the lost packet is silence, not a shifted timeline */
    double lost_energy = 0;
    for (size_t j = (size_t)(lost * PKT + 64); j < (size_t)((lost + 1) * PKT - 64); j++)
        lost_energy += k.out[off + j] * k.out[off + j];
    assert_true(lost_energy < 0.01 * xx / (NS - 2048) * (PKT - 128));

    ingest_g711_aac_free(&x);
    assert_null(x);
    avcodec_free_context(&k.dec);
    free(k.out);
    free(ref);
    free(g711);
}

/* AAC packets as they come out, and how many had come by each input packet. */
typedef struct rec {
    uint8_t *data[NS / 1024 + 4];
    size_t size[NS / 1024 + 4];
    int64_t pts[NS / 1024 + 4];
    int n;
} rec;

static int rec_emit(void *opaque, const uint8_t *data, size_t size, int64_t pts, int64_t dur)
{
    rec *r = opaque;
    assert_true(r->n < (int)(sizeof(r->data) / sizeof(r->data[0])));
    assert_int_equal(dur, 1024);
    r->data[r->n] = malloc(size);
    assert_non_null(r->data[r->n]);
    memcpy(r->data[r->n], data, size);
    r->size[r->n] = size;
    r->pts[r->n++] = pts;
    return 0;
}

/* Live view's transcoder encodes each whole frame as soon as its samples are
 * in (encode_ready after every packet) and makes the very frames the
 * recording's does at its fragment cuts; silence given as NULL data is the
 * silence a lost packet leaves. */
static void t_eager(void **state)
{
    (void)state;
    uint8_t *g711 = malloc(NS);
    float *ref = malloc(NS * sizeof(float));
    rec lazy = {0}, eager = {0}, lead = {0};
    ingest_g711_aac *xl = NULL, *xe = NULL, *xs = NULL;
    assert_non_null(g711);
    assert_non_null(ref);
    make_g711(AV_CODEC_ID_PCM_MULAW, g711, ref);
    memset(g711, 0xff, 5 * PKT); /* mu-law silence, as the lead-in's */
    ingest_g711_aac_params p = {.codec = INGEST_CODEC_PCMU, .sample_rate = RATE,
                                .channels = 1, .camera = "cam1", .emit = rec_emit};
    p.opaque = &lazy;
    assert_int_equal(ingest_g711_aac_create(&p, &xl), 0);
    p.opaque = &eager;
    assert_int_equal(ingest_g711_aac_create(&p, &xe), 0);
    p.opaque = &lead;
    assert_int_equal(ingest_g711_aac_create(&p, &xs), 0);
    assert_int_equal(ingest_g711_aac_input(xs, NULL, 5 * PKT, 0), 0);
    ingest_g711_aac_encode_ready(xs);
    for (int i = 0; i < NS / PKT; i++) {
        int64_t pos = (int64_t)i * PKT;
        assert_int_equal(ingest_g711_aac_input(xl, g711 + pos, PKT, pos), 0);
        if (i % 25 == 24) ingest_g711_aac_encode_until(xl, pos + PKT, false);
        assert_int_equal(ingest_g711_aac_input(xe, g711 + pos, PKT, pos), 0);
        ingest_g711_aac_encode_ready(xe);
        /* every whole frame is in the encoder, which holds back one */
        int whole = (int)((pos + PKT) / 1024);
        assert_true(eager.n >= whole - 1);
        if (i >= 5) {
            assert_int_equal(ingest_g711_aac_input(xs, g711 + pos, PKT, pos), 0);
            ingest_g711_aac_encode_ready(xs);
        }
    }
    ingest_g711_aac_encode_until(xl, NS, false);
    print_message("eager: %d AAC packets, lazy %d\n", eager.n, lazy.n);
    assert_true(eager.n >= NS / 1024 - 1);
    assert_int_equal(eager.n, lazy.n);
    assert_int_equal(lead.n, lazy.n);
    for (int i = 0; i < eager.n; i++) {
        assert_int_equal(eager.pts[i], lazy.pts[i]);
        assert_int_equal(eager.size[i], lazy.size[i]);
        assert_memory_equal(eager.data[i], lazy.data[i], eager.size[i]);
        assert_int_equal(lead.pts[i], lazy.pts[i]);
        assert_int_equal(lead.size[i], lazy.size[i]);
        assert_memory_equal(lead.data[i], lazy.data[i], lead.size[i]);
    }
    for (int i = 0; i < eager.n; i++) {
        free(eager.data[i]);
        free(lazy.data[i]);
        free(lead.data[i]);
    }
    ingest_g711_aac_free(&xl);
    ingest_g711_aac_free(&xe);
    ingest_g711_aac_free(&xs);
    free(ref);
    free(g711);
}

static void t_mulaw(void **state)
{
    (void)state;
    run(INGEST_CODEC_PCMU, AV_CODEC_ID_PCM_MULAW);
}

static void t_alaw(void **state)
{
    (void)state;
    run(INGEST_CODEC_PCMA, AV_CODEC_ID_PCM_ALAW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_mulaw),
        cmocka_unit_test(t_alaw),
        cmocka_unit_test(t_eager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
