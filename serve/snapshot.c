/*
 * Snapshots: the frame nearest a wall time, as a full-resolution JPEG.
 *
 * The keyframe fragment at or before `at` and the fragments after it up to
 * the one holding `at` (for a finished segment: the fragment table's entry
 * holding `at`, a whole GOP) are read, behind the segment's init segment, into one
 * small in-memory MP4 (a GOP, a few MB at most); libavformat demuxes it from
 * memory, libavcodec decodes from the keyframe, the frame whose wall time is
 * nearest `at` is converted to YUVJ420P by swscale and encoded with mjpeg.
 * Runs on a worker thread.
 *
 * A frame's size comes from the camera (its SPS), and decoding plus scaling
 * plus encoding holds several copies of it: a stream whose parameter sets
 * claim more pixels than http.snapshot_max_pixels is refused before a decoder
 * is opened, and so is a decoded frame past it (parameter sets can change
 * inside the GOP).
 */
#include "serve/serve_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "common/common.h"

#define WINDOW_US 2000000      /* how far from any footage `at` may be */
#define MAX_GOP_BYTES (64u << 20)

typedef struct cand {
    index_segment seg;
    index_fragment *frags;
    size_t n;
} cand;

typedef struct cand_list {
    cand v[8];
    size_t n;
} cand_list;

static int on_seg(const index_segment *s, void *arg)
{
    cand_list *l = arg;
    if (l->n == VG_ARRAY_SIZE(l->v)) return 1;
    l->v[l->n].seg = *s;
    l->v[l->n].frags = NULL;
    l->v[l->n].n = 0;
    l->n++;
    return 0;
}

typedef struct membuf {
    const uint8_t *p;
    size_t len, pos;
} membuf;

static int mem_read(void *opaque, uint8_t *buf, int size)
{
    membuf *m = opaque;
    size_t n = m->len - m->pos;
    if (n == 0) return AVERROR_EOF;
    if (n > (size_t)size) n = (size_t)size;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t off, int whence)
{
    membuf *m = opaque;
    if (whence == AVSEEK_SIZE) return (int64_t)m->len;
    whence &= ~AVSEEK_FORCE;
    int64_t base = whence == SEEK_CUR ? (int64_t)m->pos : whence == SEEK_END ? (int64_t)m->len : 0;
    if (base + off < 0 || base + off > (int64_t)m->len) return AVERROR(EINVAL);
    m->pos = (size_t)(base + off);
    return (int64_t)m->pos;
}

static int encode_jpeg(const AVFrame *src, uint8_t **jpeg, size_t *len)
{
    int ret = 0;
    const AVCodec *enc = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *ec = NULL;
    AVFrame *f = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    if (!enc) return -ENOSYS;
    if (!(ec = avcodec_alloc_context3(enc)) || !(f = av_frame_alloc()) || !(pkt = av_packet_alloc())) {
        ret = -ENOMEM;
        goto out;
    }
    ec->width = src->width;
    ec->height = src->height;
    ec->pix_fmt = AV_PIX_FMT_YUVJ420P;
    ec->time_base = (AVRational){1, 25};
    ec->flags |= AV_CODEC_FLAG_QSCALE;
    ec->color_range = AVCOL_RANGE_JPEG;
    if ((ret = avcodec_open2(ec, enc, NULL)) < 0) goto out;
    f->format = AV_PIX_FMT_YUVJ420P;
    f->width = src->width;
    f->height = src->height;
    if ((ret = av_frame_get_buffer(f, 0)) < 0) goto out;
    sws = sws_getContext(src->width, src->height, src->format, f->width, f->height,
                         AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws) {
        ret = -EINVAL;
        goto out;
    }
    sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, f->data, f->linesize);
    f->quality = FF_QP2LAMBDA * 3;
    f->pts = 0;
    if ((ret = avcodec_send_frame(ec, f)) < 0 || (ret = avcodec_send_frame(ec, NULL)) < 0) goto out;
    if ((ret = avcodec_receive_packet(ec, pkt)) < 0) goto out;
    if (!(*jpeg = malloc((size_t)pkt->size))) {
        ret = -ENOMEM;
        goto out;
    }
    memcpy(*jpeg, pkt->data, (size_t)pkt->size);
    *len = (size_t)pkt->size;
out:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&ec);
    return ret;
}

/* Decodes the in-memory MP4 and keeps the frame nearest at_us (wall time of
 * the first packet: t0_us). */
static bool too_big(int w, int h, int64_t max_pixels, int *width, int *height)
{
    if ((int64_t)w * (int64_t)h <= max_pixels) return false;
    *width = w, *height = h;
    return true;
}

static int decode_nearest(const uint8_t *buf, size_t len, int64_t t0_us, int64_t at_us,
                          int64_t max_pixels, int *width, int *height, uint8_t **jpeg,
                          size_t *jlen, int64_t *frame_us)
{
    int ret = 0;
    membuf mb = {buf, len, 0};
    AVFormatContext *fc = NULL;
    AVIOContext *io = NULL;
    AVCodecContext *dc = NULL;
    AVPacket *pkt = NULL;
    AVFrame *fr = NULL, *best = NULL;
    uint8_t *iobuf = av_malloc(65536);
    int64_t best_d = INT64_MAX, first_pts = AV_NOPTS_VALUE;
    if (!iobuf || !(io = avio_alloc_context(iobuf, 65536, 0, &mb, mem_read, NULL, mem_seek))) {
        av_free(iobuf);
        return -ENOMEM;
    }
    if (!(fc = avformat_alloc_context())) {
        ret = -ENOMEM;
        goto out;
    }
    fc->pb = io;
    if ((ret = avformat_open_input(&fc, NULL, av_find_input_format("mp4"), NULL)) < 0) goto out;
    int vi = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vi < 0) {
        ret = -ENOENT;
        goto out;
    }
    AVStream *st = fc->streams[vi];
    if (too_big(st->codecpar->width, st->codecpar->height, max_pixels, width, height)) {
        ret = -E2BIG;
        goto out;
    }
    const AVCodec *dec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!dec) {
        ret = -ENOSYS;
        goto out;
    }
    if (!(dc = avcodec_alloc_context3(dec)) || !(pkt = av_packet_alloc()) || !(fr = av_frame_alloc()) ||
        !(best = av_frame_alloc())) {
        ret = -ENOMEM;
        goto out;
    }
    if ((ret = avcodec_parameters_to_context(dc, st->codecpar)) < 0) goto out;
    dc->thread_count = 1;
    if ((ret = avcodec_open2(dc, dec, NULL)) < 0) goto out;
    bool eof = false, past = false;
    while (!past) {
        if (!eof) {
            ret = av_read_frame(fc, pkt);
            if (ret == AVERROR_EOF) {
                eof = true;
                avcodec_send_packet(dc, NULL);
            } else if (ret < 0) {
                goto out;
            } else {
                if (pkt->stream_index == vi) {
                    if (first_pts == AV_NOPTS_VALUE) first_pts = pkt->pts;
                    avcodec_send_packet(dc, pkt); /* a corrupt packet is skipped */
                }
                av_packet_unref(pkt);
            }
        }
        for (;;) {
            ret = avcodec_receive_frame(dc, fr);
            if (ret == AVERROR(EAGAIN)) break;
            if (ret < 0) {
                past = true; /* AVERROR_EOF: drained */
                break;
            }
            if (too_big(fr->width, fr->height, max_pixels, width, height)) {
                ret = -E2BIG;
                goto out;
            }
            int64_t pts = fr->best_effort_timestamp;
            if (pts == AV_NOPTS_VALUE || first_pts == AV_NOPTS_VALUE) pts = first_pts = 0;
            int64_t t = t0_us + av_rescale_q(pts - first_pts, st->time_base, (AVRational){1, 1000000});
            int64_t d = t > at_us ? t - at_us : at_us - t;
            if (d < best_d) {
                best_d = d;
                *frame_us = t;
                av_frame_unref(best);
                av_frame_move_ref(best, fr);
            } else if (t > at_us) {
                past = true; /* frames come in presentation order */
            }
            av_frame_unref(fr);
            if (past) break;
        }
    }
    ret = best_d == INT64_MAX ? -ENOENT : encode_jpeg(best, jpeg, jlen);
out:
    av_frame_free(&best);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&dc);
    avformat_close_input(&fc);
    if (io) {
        av_freep(&io->buffer);
        avio_context_free(&io);
    }
    return ret;
}

int serve__snapshot(index_reader *r, serve__abspath_fn abspath, void *abspath_opaque,
                    const char *camera, int64_t at_us, int64_t max_pixels, int *width,
                    int *height, uint8_t **jpeg, size_t *len, int64_t *frame_us)
{
    int ret, fd = -1;
    cand_list cl = {.n = 0};
    uint8_t *buf = NULL;
    *jpeg = NULL, *len = 0;
    if ((ret = index_query_segments(r, camera, at_us - WINDOW_US, at_us + WINDOW_US, on_seg, &cl)) < 0)
        return ret;
    /* The keyframe fragment at or before at (else the first one after it). */
    ssize_t bs = -1, bf = -1, as = -1, af = -1;
    for (size_t i = 0; i < cl.n; i++) {
        if ((ret = index_get_fragments(r, cl.v[i].seg.id, &cl.v[i].frags, &cl.v[i].n)) < 0) goto out;
        for (size_t k = 0; k < cl.v[i].n; k++) {
            const index_fragment *f = &cl.v[i].frags[k];
            if (!(f->flags & 1)) continue;
            if (f->start_us <= at_us &&
                (bs < 0 || f->start_us >= cl.v[bs].frags[bf].start_us))
                bs = (ssize_t)i, bf = (ssize_t)k;
            if (f->start_us > at_us && as < 0) as = (ssize_t)i, af = (ssize_t)k;
        }
    }
    if (bs >= 0 && at_us - cl.v[bs].frags[bf].end_us > WINDOW_US) bs = -1; /* in a gap */
    if (bs < 0) {
        bs = as, bf = af;
        if (bs < 0 || cl.v[bs].frags[bf].start_us - at_us > WINDOW_US) {
            ret = -ENOENT;
            goto out;
        }
    }
    cand *c = &cl.v[bs];
    /* Fragments from the keyframe to the one holding at (same segment). */
    size_t last = (size_t)bf;
    while (last + 1 < c->n && c->frags[last + 1].start_us <= at_us) last++;
    uint64_t init_len = c->frags[0].offset;
    uint64_t span = c->frags[last].offset + c->frags[last].size - c->frags[bf].offset;
    if (init_len > (16u << 20) || span > MAX_GOP_BYTES) {
        ret = -EINVAL;
        goto out;
    }
    char path[4096];
    if ((ret = abspath(abspath_opaque, c->seg.pool, c->seg.path, path, sizeof(path))) < 0) goto out;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        ret = errno == ENOENT ? -ENOENT : -errno;
        goto out;
    }
    if (!(buf = malloc(init_len + span))) {
        ret = -ENOMEM;
        goto out;
    }
    if (pread(fd, buf, init_len, 0) != (ssize_t)init_len ||
        pread(fd, buf + init_len, span, (off_t)c->frags[bf].offset) != (ssize_t)span) {
        ret = -EIO;
        goto out;
    }
    ret = decode_nearest(buf, init_len + span, c->frags[bf].start_us, at_us, max_pixels, width,
                         height, jpeg, len, frame_us);
    if (ret < 0 && ret != -ENOENT && ret != -E2BIG)
        vg_log_cam(LOG_WARNING, camera, "serve: snapshot at %lld failed: %s", (long long)at_us,
                   av_err2str(ret));
out:
    if (fd >= 0) close(fd);
    free(buf);
    for (size_t i = 0; i < cl.n; i++) free(cl.v[i].frags);
    return ret;
}
