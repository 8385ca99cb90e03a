/*
 * G.711 -> AAC-LC transcoder, for the segmenter. Prefix: ingest_g711_aac_.
 * Errors: 0 OK, negative AVERROR (errno-style).
 *
 * MP4 (in FFmpeg 5.1's muxer) and browsers do not take G.711, which many
 * cameras send; the segmenter stores it as AAC-LC made here. Input is placed
 * on a timeline of sample positions (the input's pts in 1/sample rate), so
 * the AAC follows the camera's clock however the G.711 was packetised; the
 * caller decides when samples are encoded (a fragment cut, a segment end) and
 * gets the AAC frames through its emit callback, in order.
 *
 * Not thread-safe: owned and used by one segmenter.
 */
#ifndef VIGIL_INGEST_G711_AAC_H
#define VIGIL_INGEST_G711_AAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/segmenter.h"

typedef struct ingest_g711_aac ingest_g711_aac;

/* One AAC frame out: data borrowed for the call; pts and dur in 1/sample rate.
 * A negative return stops the encoding in progress (it is logged). */
typedef int (*ingest_g711_aac_emit_fn)(void *opaque, const uint8_t *data, size_t size,
                                       int64_t pts, int64_t dur);

typedef struct ingest_g711_aac_params {
    ingest_codec codec;     /* INGEST_CODEC_PCMU or INGEST_CODEC_PCMA */
    int sample_rate;        /* 8000 when 0 */
    int channels;           /* 1 when 0 */
    const char *camera;     /* for log lines; borrowed, outlives the transcoder */
    ingest_g711_aac_emit_fn emit;
    void *opaque;
} ingest_g711_aac_params;

/* A transcoder; an AAC encoder is opened once at once to fail early and to
 * learn the AAC stream's parameters. 0 with *out (caller frees) or negative. */
int ingest_g711_aac_create(const ingest_g711_aac_params *p, ingest_g711_aac **out);
/* Accepts NULL. */
void ingest_g711_aac_free(ingest_g711_aac **x);

/* The AAC stream it produces (AudioSpecificConfig borrowed from x; time base
 * 1/sample rate, the unit of every position below). */
void ingest_g711_aac_stream(const ingest_g711_aac *x, ingest_stream *out);

/* One G.711 packet (interleaved 8-bit samples) whose first sample is at pos;
 * data NULL: size bytes' worth of silence (live view's lead-in).
 * Gaps up to 1 s are filled with silence, longer ones start a new timeline.
 * Negative: the packet was dropped (logged); -ENOMEM is the only fatal one. */
int ingest_g711_aac_input(ingest_g711_aac *x, const uint8_t *data, size_t size, int64_t pos);

/* Encodes the whole frames that end before end_pos; with finish also the
 * rest before end_pos as a short last frame, and drains the encoder (the
 * next samples get a new one: a segment ends there). Failures are logged and
 * drop the buffered samples. */
void ingest_g711_aac_encode_until(ingest_g711_aac *x, int64_t end_pos, bool finish);

/* Encodes every whole frame buffered (live view: as soon as it can be). */
void ingest_g711_aac_encode_ready(ingest_g711_aac *x);

/* Drops the samples before end_pos and the encoder (they could not be
 * written). */
void ingest_g711_aac_discard_until(ingest_g711_aac *x, int64_t end_pos);

/* Forgets the timeline and what is buffered (end of a run). Accepts NULL. */
void ingest_g711_aac_reset(ingest_g711_aac *x);

#endif
