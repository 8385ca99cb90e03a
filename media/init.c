/*
 * The init segment (ftyp + moov) of a segment file, from libavformat's mov
 * muxer: it knows every codec configuration box (avcC, hvcC, esds) and the
 * brands players expect, and an init segment is built once per recording run,
 * so its cost does not matter. The muxer writes to a dynamic buffer and is
 * freed at once; the fragments are then written by fmp4_write.c to match it:
 * track 1 video, track 2 audio, empty_moov with mvex/trex, default-base-is-moof.
 */
#include "media/media.h"

#include <errno.h>
#include <libavformat/avformat.h>
#include <stdlib.h>
#include <string.h>

static int add_stream(AVFormatContext *oc, const media_init_track *t, bool video)
{
    AVStream *st = avformat_new_stream(oc, NULL);
    if (!st) return AVERROR(ENOMEM);
    int r = avcodec_parameters_copy(st->codecpar, t->par);
    if (r < 0) return r;
    st->codecpar->codec_tag =
        video && t->par->codec_id == AV_CODEC_ID_HEVC ? MKTAG('h', 'v', 'c', '1') : 0;
    st->time_base = (AVRational){t->tb_num, t->tb_den};
    return 0;
}

int media_init_build(media_init_track *video, media_init_track *audio, uint8_t **out,
                     size_t *len)
{
    int r = 0;
    AVDictionary *opts = NULL;
    AVFormatContext *oc = NULL;
    uint8_t *buf = NULL;
    *out = NULL, *len = 0;
    r = avformat_alloc_output_context2(&oc, NULL, "mp4", NULL);
    if (r < 0) goto out;
    if ((r = avio_open_dyn_buf(&oc->pb)) < 0) goto out; /* written to memory */
    oc->flags |= AVFMT_FLAG_BITEXACT; /* no encoder string that changes with the build */
    if ((r = add_stream(oc, video, true)) < 0) goto out;
    if (audio && (r = add_stream(oc, audio, false)) < 0) goto out;
    av_dict_set(&opts, "movflags", "+frag_custom+empty_moov+default_base_moof+skip_trailer", 0);
    if ((r = avformat_write_header(oc, &opts)) < 0) goto out;
    video->file_tb_num = oc->streams[0]->time_base.num;
    video->file_tb_den = oc->streams[0]->time_base.den;
    if (audio) {
        audio->file_tb_num = oc->streams[1]->time_base.num;
        audio->file_tb_den = oc->streams[1]->time_base.den;
    }
    int n = avio_close_dyn_buf(oc->pb, &buf); /* the buffer holds the init segment */
    oc->pb = NULL;
    if (n <= 0 || !buf || !(*out = malloc((size_t)n))) {
        r = AVERROR(ENOMEM);
        goto out;
    }
    memcpy(*out, buf, (size_t)n);
    *len = (size_t)n;
out:
    if (oc && oc->pb) { /* failed before the header was taken */
        uint8_t *junk = NULL;
        avio_close_dyn_buf(oc->pb, &junk);
        av_free(junk);
        oc->pb = NULL;
    }
    av_free(buf);
    avformat_free_context(oc);
    av_dict_free(&opts);
    return r;
}
