/*
 * The segment file scanner, for crash recovery (storage/reconcile.c) and the
 * fixture importer (tools/bench): it walks the top-level boxes with pread
 * (only the moov and each moof are read into memory, never the media), learns
 * the tracks from the moov and lists every whole moof+mdat pair with its video
 * tfdt, summed sample durations and whether it starts on a sync sample. The
 * last whole pair tells where a file killed mid-write must be cut. The moov
 * and moofs are read by the same parsers the clip code uses (parse.c), so a
 * fragment recovery indexes is one a clip can serve.
 */
#include "media/media_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_BOX_READ (16u << 20) /* moov / moof larger than this are not ours */

static int read_at(int fd, uint64_t off, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) return -EBADMSG;
        done += (size_t)n;
    }
    return 0;
}

static const char *codec_of(uint32_t format)
{
    switch (format) {
    case MEDIA__FOURCC('a', 'v', 'c', '1'):
    case MEDIA__FOURCC('a', 'v', 'c', '3'):
        return "h264";
    case MEDIA__FOURCC('h', 'v', 'c', '1'):
    case MEDIA__FOURCC('h', 'e', 'v', '1'):
        return "hevc";
    default:
        return "";
    }
}

void media_scan_free(media_scan *s)
{
    free(s->frags);
    memset(s, 0, sizeof(*s));
}

int media_scan_fd(int fd, uint64_t size, media_scan *out)
{
    int r = 0;
    uint8_t *buf = NULL;
    media__init init = {0};
    media__moof m = {0};
    uint64_t pos = 0, moof_at = 0, moof_size = 0;
    int have_moof = 0;
    size_t cap = 0;
    memset(out, 0, sizeof(*out));
    while (pos + 8 <= size) {
        uint8_t h[16];
        if ((r = read_at(fd, pos, h, 8)) < 0) goto out;
        uint64_t bsize = media__rd32(h);
        uint32_t type = media__rd32(h + 4);
        size_t hdr = 8;
        if (bsize == 1) {
            if (pos + 16 > size) break;
            if ((r = read_at(fd, pos + 8, h + 8, 8)) < 0) goto out;
            bsize = media__rd64(h + 8);
            hdr = 16;
        } else if (bsize == 0) {
            bsize = size - pos; /* to the end: only whole if the writer finished it */
        }
        if (bsize < hdr) {
            r = -EBADMSG;
            goto out;
        }
        /* partial box: the crash point (compared so that a 64-bit size
         * cannot wrap pos back to an earlier box: that looped for ever) */
        if (bsize > size - pos) break;
        if (type == MEDIA__FOURCC('m', 'o', 'o', 'v') || type == MEDIA__FOURCC('m', 'o', 'o', 'f')) {
            if (bsize > MAX_BOX_READ) {
                r = -EBADMSG;
                goto out;
            }
            uint8_t *nb = realloc(buf, (size_t)bsize);
            if (!nb) {
                r = -ENOMEM;
                goto out;
            }
            buf = nb;
            if ((r = read_at(fd, pos, buf, (size_t)bsize)) < 0) goto out;
        }
        if (type == MEDIA__FOURCC('m', 'o', 'o', 'v')) {
            if (out->init_end) {
                r = -EBADMSG; /* two inits: not ours */
                goto out;
            }
            if (media__moov_parse(buf, (size_t)bsize, &init) < 0) {
                r = -EBADMSG;
                goto out;
            }
            const media__track *v = &init.tracks[init.video];
            out->init_end = out->valid_end = pos + bsize;
            out->video_track = v->id;
            out->timescale = v->timescale;
            snprintf(out->codec, sizeof(out->codec), "%s", codec_of(v->format));
            out->width = v->width;
            out->height = v->height;
        } else if (type == MEDIA__FOURCC('m', 'o', 'o', 'f')) {
            if (!out->init_end) {
                r = -EBADMSG;
                goto out;
            }
            /* A moof we cannot parse, or one without video (the audio tail
             * of a file), is not a fragment the recorder indexes. */
            have_moof = media__moof_parse(buf, (size_t)bsize, &init, &m) == 0;
            moof_at = pos;
            moof_size = bsize;
        } else if (type == MEDIA__FOURCC('m', 'd', 'a', 't')) {
            if (have_moof && moof_at + moof_size == pos && moof_size + bsize <= UINT32_MAX) {
                if (out->nfrags == cap) {
                    size_t ncap = cap ? 2 * cap : 64;
                    media_scan_frag *nf = realloc(out->frags, ncap * sizeof(*nf));
                    if (!nf) {
                        r = -ENOMEM;
                        goto out;
                    }
                    out->frags = nf;
                    cap = ncap;
                }
                int v = init.video;
                out->frags[out->nfrags++] = (media_scan_frag){
                    .offset = moof_at, .size = (uint32_t)(moof_size + bsize), .key = m.key,
                    .base_dt = m.tfdt[v], .dur = m.dur[v]};
                out->valid_end = pos + bsize;
            }
            have_moof = 0;
        }
        pos += bsize;
    }
    if (!out->init_end) r = -EBADMSG;
out:
    free(buf);
    if (r < 0) media_scan_free(out);
    return r;
}
