/*
 * G.711 in, AAC-LC out (see g711_aac.h).
 *
 * G.711 is expanded to 16-bit linear here (the ITU-T G.711 tables, the same
 * ones libavcodec's pcm_mulaw / pcm_alaw decoders use), converted to float
 * planar into a FIFO and encoded with FFmpeg's native AAC encoder. Expanding
 * by hand instead of through a decoder context costs nothing per packet: no
 * packet or frame is allocated, only a scratch buffer that grows to the
 * largest packet seen.
 *
 * Positions are sample counts on the input's timeline. Lost packets leave a
 * gap: up to GAP_FILL_US it is filled with silence, beyond that the encoder
 * is drained and a new one starts at the new position. Encoding is lazy: the
 * caller asks for the frames that end before a fragment's boundary (a partial
 * frame waits for the next fragment), and at a segment's end for the rest up
 * to the boundary as a short last frame, so each file's audio ends where its
 * video does. The next segment gets a new encoder. Live view uses a second
 * transcoder of its own that encodes every whole frame at once
 * (ingest_g711_aac_encode_ready), so the recording's frames do not change.
 *
 * AAC priming: the encoder's first packet has pts = first sample - 1024
 * (initial_padding) and decodes to silence, so the first audible sample lands
 * on its input pts. The fragmented MP4 has no edit list, so the stream's
 * initial_padding is reported as 0 and the offset lives in the pts.
 */
#include "ingest/g711_aac.h"

#include "common/common.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <stdlib.h>
#include <string.h>

#define AAC_FRAME 1024          /* samples per AAC-LC frame */
#define AAC_BITRATE 32000       /* per channel, at most two channels' worth */
#define GAP_FILL_US 1000000     /* gaps up to this are filled with silence */
#define FIFO_MAX_US 30000000    /* unencoded audio kept while nothing is cut */
#define ASC_MAX 64

struct ingest_g711_aac {
    bool alaw;
    int rate, channels;
    const char *camera;
    ingest_g711_aac_emit_fn emit;
    void *opaque;
    AVCodecContext *enc;  /* open from a segment's first frame to its end */
    AVAudioFifo *fifo;    /* expanded samples (fltp) not yet encoded */
    AVFrame *eframe;      /* encoder input */
    AVPacket *pkt;
    float *scratch;       /* planar conversion buffer: channels * scratch_n */
    size_t scratch_n;
    int64_t fifo_pos;     /* position of the FIFO's first sample */
    int64_t in_next;      /* position after the last sample put in, INT64_MIN: none */
    bool enc_failed;      /* logged once per run */
    uint8_t asc[ASC_MAX]; /* the AAC stream's AudioSpecificConfig */
    size_t asc_len;
    int64_t bit_rate;
};

/* ITU-T G.711 expansion (as in libavcodec's pcm_tablegen.h). */
static int16_t alaw2linear(uint8_t a)
{
    int t, seg;
    a ^= 0x55;
    t = a & 0x0f;
    seg = (a & 0x70) >> 4;
    if (seg)
        t = (t + t + 1 + 32) << (seg + 2);
    else
        t = (t + t + 1) << 3;
    return (int16_t)((a & 0x80) ? t : -t);
}

static int16_t ulaw2linear(uint8_t u)
{
    int t;
    u = (uint8_t)~u;
    t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return (int16_t)((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

void ingest_g711_aac_free(ingest_g711_aac **xp)
{
    ingest_g711_aac *x = xp ? *xp : NULL;
    if (!x) return;
    avcodec_free_context(&x->enc);
    if (x->fifo) av_audio_fifo_free(x->fifo);
    av_frame_free(&x->eframe);
    av_packet_free(&x->pkt);
    free(x->scratch);
    free(x);
    *xp = NULL;
}

/* An AAC encoder for x's rate and channels, opened (caller frees). */
static int open_encoder(const ingest_g711_aac *x, AVCodecContext **out)
{
    int r = 0;
    AVCodecContext *enc = NULL;
    const AVCodec *codec = avcodec_find_encoder_by_name("aac");
    *out = NULL;
    if (!codec) {
        r = AVERROR_ENCODER_NOT_FOUND;
        goto out;
    }
    if (!(enc = avcodec_alloc_context3(codec))) {
        r = AVERROR(ENOMEM);
        goto out;
    }
    enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    enc->sample_rate = x->rate;
    av_channel_layout_default(&enc->ch_layout, x->channels);
    enc->bit_rate = (int64_t)AAC_BITRATE * (x->channels > 1 ? 2 : 1);
    enc->profile = FF_PROFILE_AAC_LOW;
    enc->time_base = (AVRational){1, x->rate};
    enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_BITEXACT;
    if ((r = avcodec_open2(enc, codec, NULL)) < 0) goto out;
    *out = enc;
    enc = NULL;
out:
    avcodec_free_context(&enc);
    return r;
}

int ingest_g711_aac_create(const ingest_g711_aac_params *p, ingest_g711_aac **out)
{
    int r = 0;
    ingest_g711_aac *x = NULL;
    AVCodecContext *enc = NULL;
    *out = NULL;
    if (p->codec != INGEST_CODEC_PCMU && p->codec != INGEST_CODEC_PCMA) return AVERROR(EINVAL);
    if (!(x = calloc(1, sizeof(*x)))) return AVERROR(ENOMEM);
    x->alaw = p->codec == INGEST_CODEC_PCMA;
    x->rate = p->sample_rate > 0 ? p->sample_rate : 8000;
    x->channels = p->channels > 0 ? p->channels : 1;
    x->camera = p->camera ? p->camera : "";
    x->emit = p->emit;
    x->opaque = p->opaque;
    x->in_next = INT64_MIN;
    if (!(x->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, x->channels, 4 * AAC_FRAME)) ||
        !(x->eframe = av_frame_alloc()) || !(x->pkt = av_packet_alloc())) {
        r = AVERROR(ENOMEM);
        goto out;
    }
    /* An encoder now, for the stream parameters (AudioSpecificConfig) and to
     * fail early; each segment opens its own. */
    if ((r = open_encoder(x, &enc)) < 0) goto out;
    if (enc->extradata_size <= 0 || (size_t)enc->extradata_size > sizeof(x->asc)) {
        r = AVERROR_BUG;
        goto out;
    }
    memcpy(x->asc, enc->extradata, (size_t)enc->extradata_size);
    x->asc_len = (size_t)enc->extradata_size;
    x->bit_rate = enc->bit_rate;
    *out = x;
    x = NULL;
out:
    avcodec_free_context(&enc);
    ingest_g711_aac_free(&x);
    return r;
}

void ingest_g711_aac_stream(const ingest_g711_aac *x, ingest_stream *out)
{
    *out = (ingest_stream){.codec = INGEST_CODEC_AAC,
                           .extradata = x->asc,
                           .extradata_len = x->asc_len,
                           .sample_rate = x->rate,
                           .channels = x->channels,
                           .frame_size = AAC_FRAME,
                           .bit_rate = x->bit_rate,
                           .tb_num = 1,
                           .tb_den = x->rate};
}

/* Hands the encoder's ready packets to the caller. */
static int receive(ingest_g711_aac *x)
{
    int r = 0;
    for (;;) {
        r = avcodec_receive_packet(x->enc, x->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) {
            r = 0;
            break;
        }
        if (r < 0) break;
        AVPacket *p = x->pkt;
        r = x->emit(x->opaque, p->data, (size_t)p->size, p->pts, p->duration);
        av_packet_unref(p);
        if (r < 0) break;
    }
    return r;
}

/* Encodes the FIFO's first n samples (n < AAC_FRAME only as the last frame). */
static int encode_frame(ingest_g711_aac *x, int n)
{
    AVFrame *f = x->eframe;
    int r = 0;
    if (!x->enc && (r = open_encoder(x, &x->enc)) < 0) goto out;
    av_frame_unref(f);
    f->format = AV_SAMPLE_FMT_FLTP;
    f->nb_samples = n;
    f->sample_rate = x->rate;
    if ((r = av_channel_layout_copy(&f->ch_layout, &x->enc->ch_layout)) < 0) goto out;
    if ((r = av_frame_get_buffer(f, 0)) < 0) goto out;
    if (av_audio_fifo_read(x->fifo, (void **)f->data, n) != n) {
        r = AVERROR_BUG;
        goto out;
    }
    f->pts = x->fifo_pos;
    x->fifo_pos += n;
    if ((r = avcodec_send_frame(x->enc, f)) < 0) goto out;
    r = receive(x);
out:
    av_frame_unref(f);
    return r;
}

/* Ends the current encoder: its last packets go out. */
static int drain(ingest_g711_aac *x)
{
    int r = 0;
    if (!x->enc) return 0;
    if ((r = avcodec_send_frame(x->enc, NULL)) >= 0) r = receive(x);
    avcodec_free_context(&x->enc);
    return r;
}

/* Logs a transcoding failure (once per run), drops the encoder and the FIFO's
 * samples; recording goes on, audio resumes with the next samples. */
static void fail(ingest_g711_aac *x, int r)
{
    if (!x->enc_failed)
        vg_log_cam(LOG_WARNING, x->camera, "segmenter: AAC encoding failed (%s); buffered "
                   "audio dropped, a new encoder takes the next samples", av_err2str(r));
    x->enc_failed = true;
    avcodec_free_context(&x->enc);
    x->fifo_pos += av_audio_fifo_size(x->fifo);
    av_audio_fifo_reset(x->fifo);
}

void ingest_g711_aac_encode_until(ingest_g711_aac *x, int64_t end_pos, bool finish)
{
    int r = 0;
    while (av_audio_fifo_size(x->fifo) >= AAC_FRAME && x->fifo_pos + AAC_FRAME <= end_pos)
        if ((r = encode_frame(x, AAC_FRAME)) < 0) goto out;
    if (finish) {
        int64_t n = end_pos - x->fifo_pos;
        if (n > av_audio_fifo_size(x->fifo)) n = av_audio_fifo_size(x->fifo);
        if (n > 0 && (r = encode_frame(x, (int)n)) < 0) goto out;
        r = drain(x);
    }
out:
    if (r < 0) fail(x, r);
}

void ingest_g711_aac_encode_ready(ingest_g711_aac *x)
{
    ingest_g711_aac_encode_until(x, x->fifo_pos + av_audio_fifo_size(x->fifo), false);
}

void ingest_g711_aac_discard_until(ingest_g711_aac *x, int64_t end_pos)
{
    int64_t n = end_pos - x->fifo_pos;
    if (n > av_audio_fifo_size(x->fifo)) n = av_audio_fifo_size(x->fifo);
    if (n > 0) {
        av_audio_fifo_drain(x->fifo, (int)n);
        x->fifo_pos += n;
    }
    avcodec_free_context(&x->enc);
}

void ingest_g711_aac_reset(ingest_g711_aac *x)
{
    if (!x) return;
    avcodec_free_context(&x->enc);
    av_audio_fifo_reset(x->fifo);
    x->in_next = INT64_MIN;
    x->fifo_pos = 0;
    x->enc_failed = false;
}

/* Appends n samples to the FIFO: the interleaved G.711 bytes from sample
 * skip on, or silence when data is NULL. */
static int fifo_put(ingest_g711_aac *x, const uint8_t *data, int skip, int n)
{
    size_t ch = (size_t)x->channels;
    if ((size_t)n > x->scratch_n) {
        float *s = realloc(x->scratch, ch * (size_t)n * sizeof(*s));
        if (!s) return AVERROR(ENOMEM);
        x->scratch = s;
        x->scratch_n = (size_t)n;
    }
    float *planes[8];
    for (size_t k = 0; k < ch; k++) {
        float *dst = planes[k] = x->scratch + k * x->scratch_n;
        if (!data) {
            memset(dst, 0, (size_t)n * sizeof(*dst));
            continue;
        }
        const uint8_t *src = data + (size_t)skip * ch + k;
        for (int i = 0; i < n; i++) {
            uint8_t b = src[(size_t)i * ch];
            dst[i] = (float)(x->alaw ? alaw2linear(b) : ulaw2linear(b)) / 32768.0f;
        }
    }
    if (av_audio_fifo_write(x->fifo, (void **)planes, n) != n) return AVERROR(ENOMEM);
    return 0;
}

int ingest_g711_aac_input(ingest_g711_aac *x, const uint8_t *data, size_t size, int64_t pos)
{
    int r = 0, skip = 0;
    int64_t n64 = (int64_t)(size / (size_t)x->channels);
    int64_t fill = (int64_t)GAP_FILL_US * x->rate / 1000000;
    if (x->channels > 8) {
        r = AVERROR_PATCHWELCOME;
        goto fail;
    }
    if (n64 <= 0 || n64 > INT32_MAX) {
        r = AVERROR_INVALIDDATA;
        goto fail;
    }
    int n = (int)n64;
    if (x->in_next != INT64_MIN) {
        int64_t gap = pos - x->in_next;
        if (gap > fill || gap < -fill) {
            /* A new timeline: what we have is encoded to its end first. */
            vg_log_cam(LOG_INFO, x->camera, "segmenter: audio gap of %.3f s; new AAC timeline",
                       (double)gap / x->rate);
            ingest_g711_aac_encode_until(x, x->in_next, true);
            x->in_next = INT64_MIN;
        } else if (gap > 0) {
            if ((r = fifo_put(x, NULL, 0, (int)gap)) < 0) goto fail;
            x->in_next += gap;
        } else if (gap < 0) {
            /* Overlaps what we have (or rounding): keep the timeline. */
            skip = (int)(-gap < n ? -gap : n);
        }
    }
    if (x->in_next == INT64_MIN) {
        av_audio_fifo_reset(x->fifo);
        x->fifo_pos = x->in_next = pos;
    }
    if (n - skip > 0) {
        if ((r = fifo_put(x, data, skip, n - skip)) < 0) goto fail;
        x->in_next += n - skip;
    }
    /* Video stopped while audio goes on: keep only the latest samples. */
    int64_t max = (int64_t)FIFO_MAX_US / 1000000 * x->rate;
    int fsize = av_audio_fifo_size(x->fifo);
    if (fsize > max) {
        avcodec_free_context(&x->enc);
        av_audio_fifo_drain(x->fifo, (int)(fsize - max));
        x->fifo_pos += fsize - max;
    }
    return 0;
fail:
    vg_log_cam(LOG_DEBUG, x->camera, "segmenter: G.711 packet dropped: %s", av_err2str(r));
    return r;
}
