/*
 * The segmenter: frames with pts only, in decode order, become fragmented-MP4
 * segment files.
 *
 * Frames are buffered until the next keyframe (a GOP), because RTP carries no
 * decode times: at a GOP boundary the buffered pictures' pts are sorted and
 * shifted by the largest reorder delay seen in the run, which gives decode
 * times that increase strictly and never pass the pts (B-frames), and stay
 * continuous across GOPs and segments.
 *
 * A picture is one sample: units that continue the picture before them (a
 * slice that is not its first, as libavformat's parser cuts pictures whose
 * slices each follow repeated parameter sets) are appended to it, and
 * parameter sets left between slices are dropped (see continues_picture).
 *
 * Frames are copied once, into a per-camera arena that is reused GOP after
 * GOP (Annex B start codes become the 4-byte lengths MP4 samples carry on the
 * way in; length-prefixed input is copied as is). A fragment is then a small
 * moof + mdat header (media/'s fragment writer, into a reused buffer) and the
 * frames' bytes straight from the arena, handed to storage as one pwritev, so
 * a file always ends on a whole fragment and nothing is allocated per frame.
 * The init segment (ftyp+moov: avcC/hvcC, esds) comes from media/ (through
 * libavformat's mov muxer), once per run, and is reused by every segment of
 * the run. Audio is queued and written into the fragment whose video covers
 * it; G.711, which MP4 (in FFmpeg 5.1) and
 * browsers do not take, is converted to AAC-LC on the way (ingest/g711_aac).
 *
 * Wall times come from ingest/clock: the first fragment of a run is held
 * until 2 s of receive time have passed (a burst of buffered frames at connect
 * is then over and the clock is locked), and consecutive fragments and segments share their
 * boundaries exactly: a segment's end is the wall time of the keyframe that
 * starts the next one. Every file starts with a keyframe; each file's
 * timestamps start at 0 (video decode time).
 */
#include "ingest/segmenter.h"

#include "common/common.h"
#include "ingest/activity.h"
#include "ingest/clock.h"
#include "media/media.h"
#include "ingest/g711_aac.h"

#include <assert.h>
#include <errno.h>
#include <libavformat/avformat.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/mathematics.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTLE_US 2000000      /* receive time before the first fragment of a run */
#define FRAG_CAP_US 3000000    /* a GOP longer than this is cut (not for a segment's first) */
#define REORDER_LOOKAHEAD 6    /* pictures after a cut point needed to derive decode times */
#define MIN_FRAG_US 900000     /* shorter GOPs are merged into one fragment */
#define FRAG_BYTES (256 * 1024) /* a GOP with more bytes is cut inside (memory per camera) */
#define MIN_CUT_US 400000      /* ... but not into pieces shorter than this */
#define ARENA_ROUND (64 * 1024)
#define ARENA_SLACK (256 * 1024)  /* an arena this much larger than needed shrinks */
#define ARENA_CHECK_DROPS 32      /* fragments between shrink checks (and one at the 4th) */
#define VIDEO_TRACK_ID 1       /* the mov muxer numbers tracks from 1 in stream order */
#define AUDIO_TRACK_ID 2
#define LIVE_LEAD_MAX_US 10000000 /* G.711 live: silence before the first packet, at most */
/* What one camera may make the segmenter hold, whatever it sends (see
 * enforce_caps): far above what a sane stream queues (a fragment is cut at
 * 256 KiB; the first of a run waits ~2 s for the clock, or one long GOP). */
#define QUEUE_MAX_BYTES (6 * 1024 * 1024)
#define QUEUE_MAX_VIDEO 1024   /* pictures (40 s at 25 fps) */
#define QUEUE_MAX_AUDIO 2048   /* audio frames (43 s of 48 kHz AAC) */

/* A queued frame: its bytes are at off in the queue's arena (MP4 sample
 * format: NAL units behind 4-byte lengths, or a raw AAC frame). */
typedef struct qframe {
    size_t off;
    size_t size;
    int64_t pts;    /* the stream's time base (video: may be repaired at the cut) */
    int64_t pts_us; /* pts in microseconds of stream time */
    int64_t dur;    /* audio from our encoder: exact duration, else 0 */
    bool key;
} qframe;

typedef struct fqueue {
    qframe *v;
    size_t n, cap;
    uint8_t *buf; /* arena: the frames' bytes in order, reused */
    size_t len, bcap;
    size_t peak;  /* largest len since the last shrink check */
    unsigned drops;
    bool lent;       /* [lent_off, bcap) is a unit being built by the source */
    size_t lent_off; /* (>= len; it becomes a frame in place, see video_buffer) */
} fqueue;

struct ingest_segmenter {
    char camera[INDEX_ID_MAX];
    char *pool;
    int segment_seconds;
    storage *st;
    index_db *idx;
    double stagger;
    bool first_rotation_done;

    /* streams of the current run */
    AVCodecParameters *vpar, *apar; /* apar: what the file holds (AAC), NULL none */
    AVRational vtb, atb;            /* atb: the audio frames' time base */
    AVRational aqtb;                /* time base of the queued audio packets (aq) */
    ingest_g711_aac *xc;            /* G.711 input: converted to AAC, else NULL */
    ingest_g711_aac_params xparams; /* what xc was created with (emit aside) */
    bool in_run;
    bool warned_audio;
    bool capped;       /* the queue reached its cap in this run (logged) */
    uint64_t stuck_runs; /* runs ended because the pictures' times stood still */

    ingest_clock clock;
    /* clock evidence of the run (index_clock_run), reported at its segments'
     * boundaries: why it began, and its frames' camera time (RTCP SR) against
     * the mapping */
    const char *run_cause;
    int64_t ntp_n, ntp_last, ntp_min, ntp_max;
    bool waiting_key;
    bool clock_locked;
    int64_t run_start_us;
    int64_t shift;     /* reorder delay, video time base */
    int64_t last_vdts; /* video time base, INT64_MIN: none yet in this run */
    int64_t next_vdts; /* where the last fragment declared its end (its last dts +
                        * duration); INT64_MIN: none */
    int64_t last_vdur;
    int64_t pts_floor; /* largest pts among the pictures already given decode times */
    int64_t max_pts; /* largest pts given to the muxer in this run */
    int64_t run_first_recv_us, last_recv_us; /* receive times: first of the run, latest */
    fqueue vq, aq;
    bool annexb;       /* the run's video arrives with start codes (else lengths) */

    /* the run's init segment (ftyp+moov), built once per run */
    uint8_t *init;
    size_t init_len;
    AVRational vftb, aftb; /* track timescales in the file */

    /* the open segment */
    storage_segment *seg;
    uint32_t frag_seq;           /* mfhd sequence number of the last fragment */
    int64_t seg_start_us;
    int64_t seg_origin_vdts;     /* video dts at the segment's first frame */
    int64_t seg_last_adts;       /* audio dts written last (file time base), INT64_MIN none */
    int64_t next_frag_start_us;  /* end of the last fragment */
    int64_t carry_start_us;      /* after a rotation: the next segment's start, else INT64_MIN */
    bool create_failing;
    uint8_t *hdr;                /* the fragment's moof + mdat header, reused */
    size_t hdr_cap;

    ingest_segmenter_stats stats;

    /* activity per second from the pictures' sizes (recording cameras only) */
    ingest_activity *act;
    int64_t act_max_pts; /* largest video pts given to it in this run; INT64_MIN none */

    /* live viewers (see "live fan-out") */
    ingest_live *live;
    bool live_run;               /* a live run is open on the feed */
    uint8_t *live_init;          /* video-only init: G.711 that live cannot convert */
    ingest_g711_aac *live_xc;    /* G.711: live view's own transcoder during a run, else NULL */
    bool live_xc_fed;            /* live_xc has had its first packet (and lead-in) */
    size_t live_init_len;
    int64_t live_origin;         /* video pts (stream time base) at the live timeline's 0 */
    int64_t live_last_vdts, live_last_adts; /* file time bases, INT64_MIN none */
    int64_t live_prev_pts;       /* video pts of the previous live frame, INT64_MIN none */
    bool live_pending;           /* the newest queued picture is not published yet */
    uint32_t live_seq;
};

/* ---- small helpers ---- */

/* Finds the next start code (00 00 01) in [p, end); end if none. */
static const uint8_t *find_start_code(const uint8_t *p, const uint8_t *end)
{
    if (end - p < 3) return end;
    const uint8_t *q = p + 2;
    while (q < end) {
        q = memchr(q, 1, (size_t)(end - q));
        if (!q) return end;
        if (q[-1] == 0 && q[-2] == 0) return q - 2;
        q++;
    }
    return end;
}

/* Walks the NAL units of an access unit, Annex B or 4-byte length-prefixed. */
typedef struct nal_iter {
    const uint8_t *p, *end;
    bool annexb;
} nal_iter;

static bool nal_next(nal_iter *it, const uint8_t **nal, size_t *len)
{
    if (!it->annexb) {
        if (it->end - it->p < 4) return false;
        size_t n = AV_RB32(it->p);
        if (n > (size_t)(it->end - it->p) - 4) return false;
        *nal = it->p + 4;
        *len = n;
        it->p += 4 + n;
        return true;
    }
    for (;;) {
        const uint8_t *sc = find_start_code(it->p, it->end);
        if (sc == it->end) return false;
        const uint8_t *start = sc + 3;
        const uint8_t *next = find_start_code(start, it->end);
        const uint8_t *e = next;
        while (e > start && e[-1] == 0) e--; /* trailing zeros / a 4-byte start code */
        it->p = next;
        if (e > start) {
            *nal = start;
            *len = (size_t)(e - start);
            return true;
        }
    }
}

static bool is_annexb(const uint8_t *d, size_t n)
{
    return (n >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 1) ||
           (n >= 3 && d[0] == 0 && d[1] == 0 && d[2] == 1);
}

/* Makes the arena at least need bytes. */
static int fq_grow(fqueue *q, size_t need)
{
    if (need <= q->bcap) return 0;
    size_t nc = q->bcap ? q->bcap : 64 * 1024;
    while (nc < need) nc *= 2;
    uint8_t *nb = realloc(q->buf, nc);
    if (!nb) return AVERROR(ENOMEM);
    q->buf = nb;
    q->bcap = nc;
    return 0;
}

/* Appends a frame to q; video from Annex B is converted to 4-byte lengths. A
 * frame the source built in the arena (video_buffer) is taken where it is. */
static int fq_push(fqueue *q, const uint8_t *data, size_t size, bool annexb, int64_t pts,
                   int64_t pts_us, int64_t dur, bool key)
{
    int r;
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 64;
        qframe *nv = realloc(q->v, nc * sizeof(*nv));
        if (!nv) return AVERROR(ENOMEM);
        q->v = nv;
        q->cap = nc;
    }
    if (q->lent && q->buf && data >= q->buf + q->lent_off && data <= q->buf + q->bcap &&
        size <= (size_t)(q->buf + q->bcap - data)) {
        /* in place; only after a run ended under it (len went back) does it move */
        q->lent = false;
        if (data != q->buf + q->len) memmove(q->buf + q->len, data, size);
        q->v[q->n++] = (qframe){.off = q->len, .size = size, .pts = pts, .pts_us = pts_us,
                                .dur = dur, .key = key};
        q->len += size;
        if (q->len > q->peak) q->peak = q->len;
        return 0;
    }
    /* Annex B grows by at most one byte per 3-byte start code. */
    size_t need = q->len + size + (annexb ? size / 3 + 4 : 0);
    if (q->lent && need > q->lent_off) q->lent = false; /* overwritten: no longer lent */
    if ((r = fq_grow(q, need)) < 0) return r;
    uint8_t *dst = q->buf + q->len;
    size_t out = 0;
    if (annexb) {
        nal_iter it = {.p = data, .end = data + size, .annexb = true};
        const uint8_t *nal;
        size_t n;
        while (nal_next(&it, &nal, &n)) {
            AV_WB32(dst + out, (uint32_t)n);
            memcpy(dst + out + 4, nal, n);
            out += 4 + n;
        }
    } else if (size) {
        memcpy(dst, data, size);
        out = size;
    }
    q->v[q->n++] = (qframe){.off = q->len, .size = out, .pts = pts, .pts_us = pts_us,
                            .dur = dur, .key = key};
    q->len += out;
    if (q->len > q->peak) q->peak = q->len;
    return 0;
}

/* Forgets the first n frames; the rest move to the front of the arena. */
static void fq_drop(fqueue *q, size_t n)
{
    if (n > q->n) n = q->n;
    if (!n) return; /* also: q->v may be NULL (nothing queued yet) */
    size_t cut = n < q->n ? q->v[n].off : q->len;
    if (cut < q->len) memmove(q->buf, q->buf + cut, q->len - cut);
    q->len -= cut;
    memmove(q->v, q->v + n, (q->n - n) * sizeof(*q->v));
    q->n -= n;
    for (size_t i = 0; i < q->n; i++) q->v[i].off -= cut;
    /* Now and then the arena shrinks to what the last fragments needed: the
     * first fragment of a run waits for the clock to settle and makes it grow. */
    q->drops++;
    if (q->lent) {
        /* a unit is being built in the arena: it must not move */
    } else if (q->drops == 1) {
        q->peak = q->len; /* the run's first fragment: forget the settle peak */
    } else if (q->drops == 4 || q->drops % ARENA_CHECK_DROPS == 0) {
        size_t want = (q->peak + q->peak / 4 + ARENA_ROUND - 1) / ARENA_ROUND * ARENA_ROUND;
        if (want < q->len) want = q->len;
        if (q->bcap > want + ARENA_SLACK) {
            uint8_t *nb = realloc(q->buf, want);
            if (nb || want == 0) {
                q->buf = nb;
                q->bcap = want;
            }
        }
        q->peak = q->len;
    }
}

static void fq_free(fqueue *q)
{
    free(q->v);
    free(q->buf);
    *q = (fqueue){0};
}

typedef struct pts_ref {
    int64_t pts;
    size_t idx; /* decode order */
} pts_ref;

static int cmp_pts_ref(const void *a, const void *b)
{
    const pts_ref *x = a, *y = b;
    if (x->pts != y->pts) return x->pts < y->pts ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

double ingest_segmenter_stagger(const char *camera)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = camera; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return 0.5 + (double)(h % 1000) / 1000.0;
}

static const char *codec_name(const AVCodecParameters *par)
{
    return par ? avcodec_get_name(par->codec_id) : "";
}

/* ---- the init segment: media/ (libavformat's mov muxer), once per run ---- */

static void init_free(ingest_segmenter *s)
{
    free(s->init);
    s->init = NULL;
    s->init_len = 0;
    av_freep(&s->live_init);
    s->live_init_len = 0;
}

/*
 * Builds the run's ftyp+moov (empty_moov, fragmented: mvex/trex, no samples)
 * and keeps it with the track timescales the muxer chose. The fragments
 * written by write_fragment() match it: track 1 video, track 2 audio, every
 * trun self-contained.
 */
static int init_build(ingest_segmenter *s)
{
    media_init_track v = {.par = s->vpar, .tb_num = s->vtb.num, .tb_den = s->vtb.den};
    media_init_track a = {.par = s->apar, .tb_num = s->aqtb.num, .tb_den = s->aqtb.den};
    init_free(s);
    int r = media_init_build(&v, s->apar ? &a : NULL, &s->init, &s->init_len);
    if (r < 0) {
        vg_log_cam(LOG_ERR, s->camera, "segmenter: cannot build the MP4 init segment: %s",
                   av_err2str(r));
        return r;
    }
    s->vftb = (AVRational){v.file_tb_num, v.file_tb_den};
    s->aftb = s->apar ? (AVRational){a.file_tb_num, a.file_tb_den} : (AVRational){1, 1};
    return 0;
}

/* ---- fragments: moof + mdat header (media/), then the arenas' bytes ---- */

/* One track's samples in a fragment. */
typedef struct traf_in {
    uint32_t track;
    uint64_t base_dts;        /* tfdt, file time base */
    const qframe *f;          /* the samples (those with skip[i] set are not written) */
    const bool *skip;         /* NULL: none skipped */
    size_t n;
    const int64_t *dts;       /* video: n + 1 decode times, file time base; audio: NULL */
    const int64_t *cto;       /* video: composition offsets; audio: NULL */
    const int64_t *dur;       /* audio: durations, file time base */
} traf_in;

static size_t traf_count(const traf_in *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) k += !(t->skip && t->skip[i]);
    return k;
}

/* Writes a traf's samples (its bytes start at mdat_off in the mdat payload). */
static void traf_write(media_frag_writer *w, const traf_in *t, bool video, uint32_t mdat_off)
{
    media_frag_traf(w, t->track, t->base_dts, video, mdat_off);
    for (size_t i = 0; i < t->n; i++) {
        if (t->skip && t->skip[i]) continue;
        int64_t d = video ? t->dts[i + 1] - t->dts[i] : t->dur[i];
        int64_t c = video ? t->cto[i] : 0;
        media_frag_sample(w, (uint32_t)(d > 0 ? d : 0), (uint32_t)t->f[i].size,
                          !video || t->f[i].key ? MEDIA_SAMPLE_SYNC : MEDIA_SAMPLE_NON_SYNC,
                          (uint32_t)(c > 0 ? c : 0));
    }
}

/*
 * Writes one fragment: moof (mfhd, a traf per track with samples) and mdat
 * with the video then the audio samples, straight from the arenas, as one
 * pwritev. 0, or negative (storage failed: logged there).
 */
static int write_fragment(ingest_segmenter *s, const traf_in *v, const traf_in *a,
                          index_fragment *frag, int64_t end_us)
{
    size_t nv = v->n, na = a ? traf_count(a) : 0;
    size_t need = media_frag_max_size(2, nv + na);
    if (need > s->hdr_cap) {
        size_t nc = s->hdr_cap ? s->hdr_cap : 2048;
        while (nc < need) nc *= 2;
        uint8_t *nb = realloc(s->hdr, nc);
        if (!nb) return AVERROR(ENOMEM);
        s->hdr = nb;
        s->hdr_cap = nc;
    }

    /* mdat: video bytes (contiguous in the arena), then the audio runs */
    struct iovec iov[STORAGE_IOV_MAX];
    int ni = 1;
    size_t vbytes = nv ? v->f[nv - 1].off + v->f[nv - 1].size - v->f[0].off : 0;
    size_t abytes = 0;
    if (vbytes) iov[ni++] = (struct iovec){.iov_base = s->vq.buf + v->f[0].off, .iov_len = vbytes};
    for (size_t i = 0; na && i < a->n; i++) {
        if (a->skip && a->skip[i]) continue;
        const qframe *f = &a->f[i];
        struct iovec *last = &iov[ni - 1];
        if (ni > 2 && (uint8_t *)last->iov_base + last->iov_len == s->aq.buf + f->off) {
            last->iov_len += f->size; /* contiguous with the previous audio run */
        } else {
            if (ni == STORAGE_IOV_MAX) return AVERROR(E2BIG);
            iov[ni++] = (struct iovec){.iov_base = s->aq.buf + f->off, .iov_len = f->size};
        }
        abytes += f->size;
    }
    media_frag_writer w;
    media_frag_begin(&w, s->hdr, ++s->frag_seq);
    traf_write(&w, v, true, 0);
    if (na) traf_write(&w, a, false, (uint32_t)vbytes);
    iov[0] = (struct iovec){.iov_base = s->hdr, .iov_len = media_frag_end(&w, vbytes + abytes)};
    return storage_segment_appendv(s->seg, iov, ni, frag, end_us);
}

/* ---- segments ---- */

/* The activity of the segment being closed, stored with its row. */
static void segment_activity(ingest_segmenter *s, int64_t end_us)
{
    uint8_t *v = NULL;
    size_t n = 0;
    if (!s->act || !s->idx || end_us <= s->seg_start_us) return;
    if (ingest_activity_take(s->act, s->seg_start_us, end_us, &v, &n) == 0 && n)
        index_segment_activity(s->idx, storage_segment_id(s->seg), v, n);
    free(v);
}

/* Stores the run's clock evidence as of as_of_us (clk: the run's mapping). */
static void clock_report(ingest_segmenter *s, const ingest_clock *clk, int64_t as_of_us)
{
    if (!s->idx || s->run_start_us == INT64_MIN) return;
    index_clock_run c;
    memset(&c, 0, sizeof(c));
    snprintf(c.camera, sizeof(c.camera), "%s", s->camera);
    snprintf(c.cause, sizeof(c.cause), "%s", s->run_cause ? s->run_cause : "start");
    c.run_start_us = s->run_start_us;
    c.updated_us = as_of_us;
    c.slew_us = clk->slewed_us;
    c.step_us = clk->stepped_us;
    c.has_recv_offset = clk->has_err;
    c.recv_offset_us = clk->last_err_us;
    c.ntp_samples = s->ntp_n;
    c.ntp_offset_us = s->ntp_last;
    c.ntp_offset_min_us = s->ntp_min;
    c.ntp_offset_max_us = s->ntp_max;
    index_clock_run_update(s->idx, &c);
}

static void segment_close(ingest_segmenter *s, int64_t end_us, const ingest_clock *clk)
{
    if (!s->seg) return;
    segment_activity(s, end_us);
    int64_t bytes = storage_segment_bytes(s->seg);
    storage_segment_close(&s->seg, end_us);
    clock_report(s, clk, end_us);
    vg_log_cam(LOG_DEBUG, s->camera, "segmenter: closed segment of %.3f s, %lld bytes",
               (double)(end_us - s->seg_start_us) / 1e6, (long long)bytes);
}

/* Opens the file of a new segment starting at start_us (init segment first). */
static int segment_open(ingest_segmenter *s, int64_t start_us, int64_t origin_vdts,
                        const ingest_clock *clk)
{
    int r = 0;
    if (!s->init && (r = init_build(s)) < 0) goto out;
    storage_segment_info info = {
        .camera = s->camera, .pool = s->pool, .start_us = start_us,
        .run_start_us = s->run_start_us, .codec = codec_name(s->vpar),
        .audio_codec = s->apar ? codec_name(s->apar) : "",
        .width = s->vpar->width, .height = s->vpar->height,
    };
    r = storage_segment_create(s->st, &info, &s->seg);
    if (r == -EEXIST) { /* same start microsecond as an existing file: take the next one */
        info.start_us++;
        r = storage_segment_create(s->st, &info, &s->seg);
    }
    if (r < 0) goto out;
    r = storage_segment_append(s->seg, s->init, s->init_len, NULL, 0);
    if (r < 0) goto out;
    s->seg_start_us = info.start_us;
    s->seg_origin_vdts = origin_vdts;
    s->seg_last_adts = INT64_MIN;
    s->next_frag_start_us = info.start_us;
    s->frag_seq = 0;
    s->stats.segments++;
    clock_report(s, clk, start_us);
    if (s->create_failing)
        vg_log_cam(LOG_NOTICE, s->camera, "segmenter: writing again");
    s->create_failing = false;
out:
    if (r < 0) {
        if (s->seg) storage_segment_close(&s->seg, start_us);
        if (!s->create_failing)
            vg_log_cam(LOG_ERR, s->camera, "segmenter: cannot open a segment (%s); dropping "
                       "frames until it works", av_err2str(r));
        s->create_failing = true;
    }
    return r;
}

/* ---- G.711 audio: converted to AAC-LC by ingest/g711_aac ----
 *
 * FFmpeg 5.1's mp4 muxer refuses pcm_mulaw/pcm_alaw (and browsers would not
 * play them); the transcoder's AAC frames go through the audio queue like a
 * camera's own AAC, with their exact durations. Its positions are samples
 * (1/sample rate), the audio queue's time base for such a run. */

static int xc_emit(void *opaque, const uint8_t *data, size_t size, int64_t pts, int64_t dur)
{
    ingest_segmenter *s = opaque;
    return fq_push(&s->aq, data, size, false, pts, av_rescale_q(pts, s->aqtb, AV_TIME_BASE_Q),
                   dur, false);
}

/* May other pictures reference this one? H.264: nal_ref_idc of its first
 * slice; H.265: not a sub-layer non-reference type (TRAIL_N, RASL_N, ...).
 * The sample is in the arena, behind 4-byte lengths. */
static bool picture_is_ref(enum AVCodecID id, const uint8_t *d, size_t n)
{
    nal_iter it = {.p = d, .end = d + n, .annexb = false};
    const uint8_t *nal;
    size_t len;
    while (nal_next(&it, &nal, &len)) {
        if (id == AV_CODEC_ID_HEVC) {
            int type = (nal[0] >> 1) & 0x3f;
            if (type < 32) return !(type <= 14 && (type & 1) == 0);
        } else {
            int type = nal[0] & 0x1f;
            if (type >= 1 && type <= 5) return (nal[0] >> 5) != 0;
        }
    }
    return true;
}

/* Hands the first n queued pictures (decode order) to the activity index,
 * at their wall times under clk. */
static void activity_feed(ingest_segmenter *s, size_t n, const ingest_clock *clk)
{
    for (size_t k = 0; k < n; k++) {
        const qframe *f = &s->vq.v[k];
        ingest_activity_pic p = {
            .wall_us = ingest_clock_wall(clk, f->pts_us),
            .size = f->size,
            .key = f->key,
            .reordered = s->act_max_pts != INT64_MIN && f->pts < s->act_max_pts,
            .ref = f->key || picture_is_ref(s->vpar->codec_id, s->vq.buf + f->off, f->size),
        };
        if (f->pts > s->act_max_pts) s->act_max_pts = f->pts;
        ingest_activity_picture(s->act, &p);
    }
}

/*
 * Writes the first n buffered pictures (and the audio before the boundary) as
 * one fragment. With final set, n must be all of them and the fragment ends
 * one frame after the last picture. seg_end: the segment ends with this
 * fragment (final implies it). clk is the mapping their wall times use.
 */
static int flush_fragment(ingest_segmenter *s, size_t n, bool final, bool seg_end,
                          const ingest_clock *clk)
{
    int r = 0;
    fqueue *vq = &s->vq, *aq = &s->aq;
    size_t m = vq->n;
    int64_t *sorted = NULL, *dts = NULL;
    pts_ref *order = NULL;
    int64_t *fdts = NULL, *cto = NULL, *adur = NULL;
    bool *askip = NULL;
    size_t na = 0; /* audio frames consumed */
    assert(n <= m && n > 0);
    assert(!final || n == m);

    sorted = malloc(m * sizeof(*sorted));
    dts = malloc((n + 1) * sizeof(*dts));
    if (!sorted || !dts) {
        r = AVERROR(ENOMEM);
        goto out;
    }
    /* Presentation times must be unique (a decoder outputs frames by pts): sort
     * the buffered pictures by (pts, decode order) and move a duplicate one tick
     * after its predecessor. Sources sometimes stamp two pictures alike. */
    order = malloc(m * sizeof(*order));
    if (!order) {
        r = AVERROR(ENOMEM);
        goto out;
    }
    /* A repaired time moves by one frame duration, not one tick: players and
     * ffmpeg round times to the frame rate, so pictures a tick apart collide. */
    int64_t step = s->last_vdur > 0 ? s->last_vdur : av_rescale_q(40000, AV_TIME_BASE_Q, s->vtb);
    /* A keyframe displays after every picture decoded before it; some sources
     * stamp an IDR with the previous picture's time. */
    int64_t run_max = s->max_pts;
    for (size_t i = 0; i < m; i++) {
        qframe *pk = &vq->v[i];
        if (pk->key && run_max != INT64_MIN && pk->pts <= run_max) {
            vg_log_cam(LOG_DEBUG, s->camera, "segmenter: keyframe pts moved by %lld ticks",
                       (long long)(run_max + step - pk->pts));
            pk->pts = run_max + step;
        }
        if (pk->pts > run_max) run_max = pk->pts;
        if (i < n && pk->pts > s->max_pts) s->max_pts = pk->pts;
    }
    for (size_t i = 0; i < m; i++) order[i] = (pts_ref){vq->v[i].pts, i};
    qsort(order, m, sizeof(*order), cmp_pts_ref);
    int64_t floor = s->pts_floor;
    for (size_t i = 0; i < m; i++) {
        int64_t p = order[i].pts;
        if (floor != INT64_MIN && p <= floor) {
            p = floor + step;
            vq->v[order[i].idx].pts = p;
            vg_log_cam(LOG_DEBUG, s->camera, "segmenter: duplicate pts moved by %lld ticks",
                       (long long)(p - order[i].pts));
        }
        sorted[i] = floor = p;
    }
    /* Decode times: the k-th smallest pts, shifted by the reorder delay. */
    for (size_t k = 0; k < n; k++)
        if (sorted[k] - vq->v[k].pts > s->shift) s->shift = sorted[k] - vq->v[k].pts;
    int64_t prev = s->last_vdts;
    for (size_t k = 0; k <= n && k < m; k++) {
        int64_t d = sorted[k] - s->shift;
        if (prev != INT64_MIN && d <= prev) d = prev + 1;
        /* Within a segment a fragment starts where the previous one declared
         * its end (its tfdt = the previous tfdt + durations), so the decode
         * timeline has no holes; pts are untouched (a larger composition
         * offset absorbs the difference). */
        if (k == 0 && s->seg && s->next_vdts != INT64_MIN) d = s->next_vdts;
        dts[k] = prev = d;
    }
    int64_t frame_dur = s->last_vdur > 0 ? s->last_vdur : av_rescale_q(40000, AV_TIME_BASE_Q, s->vtb);
    if (n >= 2) frame_dur = (dts[n - 1] - dts[0]) / (int64_t)(n - 1);
    if (frame_dur <= 0) frame_dur = 1;
    if (n == m) dts[n] = dts[n - 1] + frame_dur;

    /* Fragment bounds in stream time: [sorted[0], boundary). */
    int64_t boundary_pts = n < m ? sorted[n] : sorted[m - 1] + frame_dur;
    int64_t boundary_us = av_rescale_q(boundary_pts, s->vtb, AV_TIME_BASE_Q);
    int64_t end_us = ingest_clock_wall(clk, boundary_us);
    int64_t boundary_apos = s->xc ? av_rescale_q(boundary_pts, s->vtb, s->aqtb) : 0;

    if (s->act) activity_feed(s, n, clk);

    if (!s->seg && !s->st) { /* live only: the fragment goes nowhere */
        if (s->xc) ingest_g711_aac_discard_until(s->xc, boundary_apos);
        na = aq->n;
        if (!final)
            for (na = 0; na < aq->n && aq->v[na].pts_us < boundary_us;) na++;
        goto done;
    }
    if (!s->seg) {
        int64_t start_us = s->carry_start_us != INT64_MIN
                               ? s->carry_start_us
                               : ingest_clock_wall(clk, av_rescale_q(sorted[0], s->vtb,
                                                                     AV_TIME_BASE_Q));
        s->carry_start_us = INT64_MIN;
        if (s->run_start_us == INT64_MIN) s->run_start_us = start_us;
        if (segment_open(s, start_us, dts[0], clk) < 0) {
            s->stats.frames_dropped += n;
            if (s->xc) ingest_g711_aac_discard_until(s->xc, boundary_apos);
            na = aq->n;
            if (!final)
                for (na = 0; na < aq->n && aq->v[na].pts_us < boundary_us;) na++;
            goto done; /* dropped; the next keyframe tries again */
        }
    }
    int64_t vorigin = s->seg_origin_vdts;
    fdts = malloc((n + 1) * sizeof(*fdts));
    cto = malloc(n * sizeof(*cto));
    if (!fdts || !cto) {
        r = AVERROR(ENOMEM);
        goto out;
    }
    for (size_t k = 0; k <= n; k++) fdts[k] = av_rescale_q(dts[k] - vorigin, s->vtb, s->vftb);
    for (size_t k = 0; k < n; k++) {
        int64_t pts = vq->v[k].pts;
        if (pts < dts[k]) pts = dts[k]; /* only after a clamp; keeps pts >= dts */
        cto[k] = av_rescale_q(pts - vorigin, s->vtb, s->vftb) - fdts[k];
    }
    /* G.711: encode what lies before the boundary (all of it at a segment's end). */
    if (s->xc) ingest_g711_aac_encode_until(s->xc, boundary_apos, seg_end || final);
    /* Audio up to the boundary, strictly increasing, not before the file's start. */
    size_t a_first = 0, a_written = 0;
    int64_t a_base = 0;
    bool a_any = false;
    while (na < aq->n && aq->v[na].pts_us < boundary_us) na++;
    if (s->apar && na) {
        askip = calloc(na, sizeof(*askip));
        adur = malloc(na * sizeof(*adur));
        if (!askip || !adur) {
            r = AVERROR(ENOMEM);
            goto out;
        }
        int64_t aorigin = av_rescale_q(vorigin, s->vtb, s->aqtb);
        int64_t dflt = s->apar->frame_size > 0 ? s->apar->frame_size : 1024;
        for (size_t i = 0; i < na; i++) {
            const qframe *f = &aq->v[i];
            int64_t t = f->pts - aorigin;
            int64_t dur = i + 1 < aq->n ? aq->v[i + 1].pts - f->pts : dflt;
            if (s->xc && f->dur > 0) dur = f->dur; /* ours: exact */
            if (dur <= 0 || dur > 4 * dflt) dur = dflt;
            if (t >= 0 && (s->seg_last_adts == INT64_MIN || t > s->seg_last_adts) && f->size) {
                int64_t ft = av_rescale_q(t, s->aqtb, s->aftb);
                adur[i] = av_rescale_q(t + dur, s->aqtb, s->aftb) - ft;
                if (!a_any) {
                    a_first = i;
                    a_base = ft;
                }
                a_any = true;
                s->seg_last_adts = t;
                a_written++;
            } else {
                askip[i] = true;
                s->stats.frames_dropped++;
            }
        }
    }
    size_t na_frag = na; /* audio frames this fragment covers */
    /* At the end of a run, audio past the last picture is dropped: the file
     * then lasts what the index says. */
    if (final) {
        s->stats.frames_dropped += aq->n - na;
        na = aq->n;
    }
    /* The fragment, with one write. */
    {
        traf_in vt = {.track = VIDEO_TRACK_ID, .base_dts = (uint64_t)fdts[0], .f = vq->v, .n = n,
                      .dts = fdts, .cto = cto};
        traf_in at = {.track = AUDIO_TRACK_ID, .base_dts = (uint64_t)a_base,
                      .f = a_any ? aq->v + a_first : NULL, .skip = a_any ? askip + a_first : NULL,
                      .n = a_any ? na_frag - a_first : 0,
                      .dur = a_any ? adur + a_first : NULL};
        index_fragment frag = {
            .flags = vq->v[0].key ? 1 : 0,
            .start_us = s->next_frag_start_us,
            .end_us = end_us,
        };
        int wr = write_fragment(s, &vt, a_any ? &at : NULL, &frag, end_us);
        if (wr < 0) {
            if (wr != AVERROR(ENOMEM) && wr != AVERROR(E2BIG)) {
                /* Logged by storage; the file still ends on a whole fragment. Close it. */
            } else {
                vg_log_cam(LOG_ERR, s->camera, "segmenter: cannot build a fragment: %s",
                           av_err2str(wr));
            }
            s->stats.frames_dropped += n + a_written;
            segment_close(s, s->next_frag_start_us, clk);
        } else {
            s->stats.frames_written += n + a_written;
            s->next_frag_start_us = end_us;
            s->stats.fragments++;
            s->stats.last_wall_us = end_us;
        }
    }
done:
    s->last_vdts = dts[n - 1];
    s->next_vdts = dts[n];
    s->last_vdur = frame_dur;
    s->pts_floor = sorted[n - 1];
    fq_drop(vq, n);
    fq_drop(aq, na);
out:
    free(fdts);
    free(cto);
    free(adur);
    free(askip);
    free(order);
    free(sorted);
    free(dts);
    return r;
}

static void live_end(ingest_segmenter *s);

/* Writes everything buffered and closes the segment (end of run). */
static void finish_run(ingest_segmenter *s, const ingest_clock *clk)
{
    live_end(s);
    if (s->vq.n) flush_fragment(s, s->vq.n, true, true, clk);
    if (s->seg) segment_close(s, s->next_frag_start_us, clk);
    fq_drop(&s->vq, s->vq.n);
    fq_drop(&s->aq, s->aq.n);
    ingest_g711_aac_reset(s->xc);
    s->waiting_key = true;
}

static void reset_run_state(ingest_segmenter *s)
{
    s->vq.drops = s->aq.drops = 0;
    ingest_clock_init(&s->clock);
    s->waiting_key = true;
    s->clock_locked = false;
    s->shift = 0;
    s->last_vdts = INT64_MIN;
    s->next_vdts = INT64_MIN;
    s->last_vdur = 0;
    s->pts_floor = INT64_MIN;
    s->max_pts = INT64_MIN;
    s->run_start_us = INT64_MIN;
    s->carry_start_us = INT64_MIN;
    s->run_cause = "start";
    s->ntp_n = s->ntp_last = s->ntp_min = s->ntp_max = 0;
    s->capped = false;
    s->act_max_pts = INT64_MIN;
}

/* ---- live fan-out ----
 *
 * While the camera's feed has viewers (ingest/live.h), every picture and
 * audio frame is also published as a chunk of its own the moment it is
 * queued, from its bytes in the arena (one copy per camera, none per
 * viewer). A live run starts at the newest keyframe still queued (so a new
 * viewer sees a picture at once) or at the next one, with the run's init
 * segment. A picture is published when the next one starts: its slices may
 * arrive as separate units (they are appended to it), and its duration is
 * then known; that costs one frame interval of latency. RTP gives no decode
 * times and the fragment cut that derives them waits for the next GOP, so
 * live decode times are the pts less the run's reorder delay learned so far,
 * kept strictly increasing. The recording's G.711 transcoder encodes only
 * at fragment cuts (its frames and timing are the file's and stay so), so a
 * live run of a G.711 camera has a second transcoder of its own, fed the
 * same packets, that encodes each whole AAC frame at once (1024 samples,
 * 128 ms at 8 kHz) and publishes it; its AudioSpecificConfig is the
 * recording's (same encoder settings), so the run's init segment serves.
 * Its timeline starts at the run's keyframe with silence up to the first
 * packet, so the audio track covers what the video does (a Media Source
 * player plays only where both are buffered). Should it not open, the run
 * is video only (a video-only init segment: a browser would wait forever
 * for a track that never comes). Nothing is built while the feed has no
 * viewers.
 */

static void live_end(ingest_segmenter *s)
{
    if (!s->live_run) return;
    ingest_live_run_end(s->live);
    s->live_run = false;
    s->live_pending = false;
    ingest_g711_aac_free(&s->live_xc);
}

/* Publishes picture f; next: the picture after it (its duration). */
static void live_video(ingest_segmenter *s, const qframe *f, const qframe *next)
{
    int64_t dts = av_rescale_q(f->pts - s->shift - s->live_origin, s->vtb, s->vftb);
    if (s->live_last_vdts != INT64_MIN && dts <= s->live_last_vdts) dts = s->live_last_vdts + 1;
    int64_t pts = av_rescale_q(f->pts - s->live_origin, s->vtb, s->vftb);
    int64_t dur = next->pts > f->pts ? next->pts - f->pts
                  : s->live_prev_pts != INT64_MIN && f->pts > s->live_prev_pts
                      ? f->pts - s->live_prev_pts
                      : s->last_vdur > 0 ? s->last_vdur
                                         : av_rescale_q(40000, AV_TIME_BASE_Q, s->vtb);
    ingest_live_sample smp = {
        .track = VIDEO_TRACK_ID, .seq = ++s->live_seq, .dts = (uint64_t)dts,
        .duration = (uint32_t)av_rescale_q(dur, s->vtb, s->vftb),
        .cto = (int32_t)(pts - dts), .key = f->key,
        .wall_us = ingest_clock_wall(&s->clock, f->pts_us),
        .data = s->vq.buf + f->off, .size = f->size,
    };
    s->live_last_vdts = dts;
    s->live_prev_pts = f->pts;
    ingest_live_chunk *c = ingest_live_chunk_build(&smp);
    if (c) ingest_live_publish(s->live, c);
}

/* Publishes one AAC frame at pts (audio queue time base); dur: its exact
 * duration there, 0 when the stream's frame size gives it. Frames before the
 * run's start or not after the last one are left out. */
static void live_audio_publish(ingest_segmenter *s, const uint8_t *data, size_t size,
                               int64_t pts, int64_t pts_us, int64_t dur)
{
    int64_t origin_us = av_rescale_q(s->live_origin, s->vtb, AV_TIME_BASE_Q);
    int64_t dts = av_rescale_q(pts, s->aqtb, s->aftb) -
                  av_rescale_q(origin_us, AV_TIME_BASE_Q, s->aftb);
    if (dts < 0 || (s->live_last_adts != INT64_MIN && dts <= s->live_last_adts)) return;
    int64_t fs = s->apar->frame_size > 0 ? s->apar->frame_size : 1024;
    int64_t duration =
        dur > 0 ? av_rescale_q(dur, s->aqtb, s->aftb)
                : av_rescale_q(fs, (AVRational){1, s->apar->sample_rate > 0 ? s->apar->sample_rate : 48000}, s->aftb);
    ingest_live_sample smp = {
        .track = AUDIO_TRACK_ID, .seq = ++s->live_seq, .dts = (uint64_t)dts,
        .duration = (uint32_t)duration,
        .key = true, .wall_us = ingest_clock_wall(&s->clock, pts_us),
        .data = data, .size = size,
    };
    s->live_last_adts = dts;
    ingest_live_chunk *c = ingest_live_chunk_build(&smp);
    if (c) ingest_live_publish(s->live, c);
}

/* A queued frame of the camera's own AAC (the recording's G.711 conversion
 * goes live through live_xc instead). */
static void live_audio(ingest_segmenter *s, const qframe *f)
{
    if (s->xc || !s->apar) return;
    live_audio_publish(s, s->aq.buf + f->off, f->size, f->pts, f->pts_us, 0);
}

/* live_xc's AAC frames: pts and dur in 1/sample rate, the audio queue's time
 * base for a G.711 run. */
static int live_xc_emit(void *opaque, const uint8_t *data, size_t size, int64_t pts, int64_t dur)
{
    ingest_segmenter *s = opaque;
    if (s->live_run)
        live_audio_publish(s, data, size, pts, av_rescale_q(pts, s->aqtb, AV_TIME_BASE_Q), dur);
    return 0;
}

/* Opens live view's G.711 transcoder for a run; false when it cannot be
 * used (the run is then video only). */
static bool live_xc_open(ingest_segmenter *s)
{
    ingest_g711_aac_params xp = s->xparams;
    xp.emit = live_xc_emit;
    xp.opaque = s;
    int r = ingest_g711_aac_create(&xp, &s->live_xc);
    if (r < 0) {
        vg_log_cam(LOG_WARNING, s->camera, "segmenter: live view without audio: cannot open "
                   "an AAC encoder (%s)", av_err2str(r));
        return false;
    }
    ingest_stream ls, rs;
    ingest_g711_aac_stream(s->live_xc, &ls);
    ingest_g711_aac_stream(s->xc, &rs);
    if (ls.extradata_len != rs.extradata_len ||
        memcmp(ls.extradata, rs.extradata, ls.extradata_len)) {
        /* Cannot happen with one encoder and one set of settings; were it
         * to, the init segment would describe another stream. */
        vg_log_cam(LOG_WARNING, s->camera, "segmenter: live view without audio: its AAC "
                   "encoder differs from the recording's");
        ingest_g711_aac_free(&s->live_xc);
        return false;
    }
    s->live_xc_fed = false;
    return true;
}

/* A G.711 packet at pos (audio queue time base) for live viewers: encoded
 * at once by the run's own transcoder. The first one is preceded by silence
 * from the run's keyframe on. */
static void live_g711(ingest_segmenter *s, const uint8_t *data, size_t size, int64_t pos)
{
    if (!s->live_xc) return;
    if (!s->live_xc_fed) {
        int64_t origin = av_rescale_q(av_rescale_q(s->live_origin, s->vtb, AV_TIME_BASE_Q),
                                      AV_TIME_BASE_Q, s->aqtb);
        int64_t lead = pos - origin;
        int ch = s->xparams.channels > 0 ? s->xparams.channels : 1;
        /* up to a long GOP's worth; anything longer is not the same timeline */
        if (lead > 0 && lead <= av_rescale_q(LIVE_LEAD_MAX_US, AV_TIME_BASE_Q, s->aqtb))
            ingest_g711_aac_input(s->live_xc, NULL, (size_t)lead * (size_t)ch, origin);
        s->live_xc_fed = true;
    }
    if (ingest_g711_aac_input(s->live_xc, data, size, pos) == AVERROR(ENOMEM)) {
        ingest_g711_aac_free(&s->live_xc); /* live goes on without audio */
        return;
    }
    ingest_g711_aac_encode_ready(s->live_xc);
}

/* Opens the live run: init segment, then what is queued from the newest
 * keyframe on. false when there is no keyframe to start from yet. */
static bool live_begin(ingest_segmenter *s)
{
    fqueue *vq = &s->vq;
    size_t k = vq->n;
    while (k > 0 && !vq->v[k - 1].key) k--;
    if (k == 0) return false;
    k--;
    if (!s->init && init_build(s) < 0) return false;
    const uint8_t *init = s->init;
    size_t init_len = s->init_len;
    if (s->xc && !live_xc_open(s)) { /* video only: see above */
        if (!s->live_init) {
            uint8_t *file_init = s->init;
            size_t file_len = s->init_len;
            AVCodecParameters *apar = s->apar;
            AVRational aftb = s->aftb;
            s->init = NULL;
            s->apar = NULL;
            int r = init_build(s);
            s->live_init = s->init;
            s->live_init_len = s->init_len;
            s->init = file_init;
            s->init_len = file_len;
            s->apar = apar;
            s->aftb = aftb;
            if (r < 0) return false;
        }
        init = s->live_init;
        init_len = s->live_init_len;
    }
    if (ingest_live_run_begin(s->live, init, init_len) < 0) {
        ingest_g711_aac_free(&s->live_xc);
        return false;
    }
    s->live_run = true;
    s->live_origin = vq->v[k].pts;
    s->live_last_vdts = s->live_last_adts = INT64_MIN;
    s->live_prev_pts = INT64_MIN;
    int64_t key_us = vq->v[k].pts_us;
    size_t a = 0;
    while (a < s->aq.n && s->aq.v[a].pts_us < key_us) a++;
    for (size_t i = k; i + 1 < vq->n; i++) { /* the newest waits for the next */
        /* audio in time order with the pictures */
        for (; a < s->aq.n && s->aq.v[a].pts_us <= vq->v[i].pts_us; a++) live_audio(s, &s->aq.v[a]);
        live_video(s, &vq->v[i], &vq->v[i + 1]);
    }
    for (; a < s->aq.n; a++) live_audio(s, &s->aq.v[a]);
    s->live_pending = true;
    return true;
}

/* After a frame was queued (a new picture, not a part of the last): publishes
 * it, or for video the picture before it, to live viewers, opening or
 * closing the live run as viewers come and go. */
static void live_frame(ingest_segmenter *s, bool audio)
{
    if (!s->live) return;
    if (!ingest_live_wanted(s->live)) {
        if (s->live_run) {
            live_end(s);
            ingest_live_clear(s->live);
        }
        return;
    }
    if (!s->live_run) {
        if (!audio) live_begin(s);
        return;
    }
    if (audio) {
        live_audio(s, &s->aq.v[s->aq.n - 1]);
        return;
    }
    fqueue *vq = &s->vq;
    if (s->live_pending && vq->n >= 2) live_video(s, &vq->v[vq->n - 2], &vq->v[vq->n - 1]);
    s->live_pending = true;
}

/* ---- public ---- */

int ingest_segmenter_open(const ingest_segmenter_params *p, ingest_segmenter **out)
{
    int r = 0;
    ingest_segmenter *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s) return -ENOMEM;
    snprintf(s->camera, sizeof(s->camera), "%s", p->camera);
    if (p->pool && !(s->pool = strdup(p->pool))) {
        r = -ENOMEM;
        goto out;
    }
    s->segment_seconds = p->segment_seconds > 0 ? p->segment_seconds : 60;
    s->st = p->st;
    s->idx = p->idx;
    s->live = p->live;
    s->stagger = ingest_segmenter_stagger(p->camera);
    if (s->st && (r = ingest_activity_new(&s->act)) < 0) goto out;
    reset_run_state(s);
    *out = s;
    s = NULL;
out:
    ingest_segmenter_close(&s);
    return r;
}

void ingest_segmenter_end_run(ingest_segmenter *s)
{
    if (!s->in_run) return;
    finish_run(s, &s->clock);
    s->in_run = false;
}

void ingest_segmenter_close(ingest_segmenter **sp)
{
    if (!sp || !*sp) return;
    ingest_segmenter *s = *sp;
    ingest_segmenter_end_run(s);
    init_free(s);
    fq_free(&s->vq);
    fq_free(&s->aq);
    free(s->hdr);
    avcodec_parameters_free(&s->vpar);
    avcodec_parameters_free(&s->apar);
    ingest_g711_aac_free(&s->xc);
    ingest_activity_free(&s->act);
    free(s->pool);
    free(s);
    *sp = NULL;
}

static bool params_differ(const AVCodecParameters *a, const AVCodecParameters *b)
{
    return a->codec_id != b->codec_id || a->width != b->width || a->height != b->height ||
           a->extradata_size != b->extradata_size ||
           (a->extradata_size && memcmp(a->extradata, b->extradata, (size_t)a->extradata_size));
}

const char *ingest_codec_name(ingest_codec c)
{
    switch (c) {
    case INGEST_CODEC_H264: return "h264";
    case INGEST_CODEC_H265: return "hevc";
    case INGEST_CODEC_AAC: return "aac";
    case INGEST_CODEC_PCMU: return "pcm_mulaw";
    case INGEST_CODEC_PCMA: return "pcm_alaw";
    case INGEST_CODEC_NONE:
    case INGEST_CODEC_OTHER: break;
    }
    return "";
}

static const char *stream_name(const ingest_stream *st)
{
    if (st->codec == INGEST_CODEC_OTHER) return st->name ? st->name : "unknown";
    return ingest_codec_name(st->codec);
}

/* The mov muxer's view of a stream (the init segment is built from it). */
static int stream_params(const ingest_stream *in, AVCodecParameters **out)
{
    int r = 0;
    AVCodecParameters *p = avcodec_parameters_alloc();
    *out = NULL;
    if (!p) return AVERROR(ENOMEM);
    switch (in->codec) {
    case INGEST_CODEC_H264: p->codec_id = AV_CODEC_ID_H264; break;
    case INGEST_CODEC_H265: p->codec_id = AV_CODEC_ID_HEVC; break;
    case INGEST_CODEC_AAC: p->codec_id = AV_CODEC_ID_AAC; break;
    default: r = AVERROR(EINVAL); goto out;
    }
    bool video = in->codec != INGEST_CODEC_AAC;
    p->codec_type = video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO;
    if (video) {
        p->width = in->width;
        p->height = in->height;
    } else {
        p->sample_rate = in->sample_rate;
        p->frame_size = in->frame_size;
        p->bit_rate = in->bit_rate;
        av_channel_layout_default(&p->ch_layout, in->channels > 0 ? in->channels : 1);
    }
    if (in->extradata_len) {
        if (in->extradata_len > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE) {
            r = AVERROR(EINVAL);
            goto out;
        }
        if (!(p->extradata = av_mallocz(in->extradata_len + AV_INPUT_BUFFER_PADDING_SIZE))) {
            r = AVERROR(ENOMEM);
            goto out;
        }
        memcpy(p->extradata, in->extradata, in->extradata_len);
        p->extradata_size = (int)in->extradata_len;
    }
    *out = p;
    p = NULL;
out:
    avcodec_parameters_free(&p);
    return r;
}

static bool tb_valid(const ingest_stream *st)
{
    return st->tb_num > 0 && st->tb_den > 0;
}

int ingest_segmenter_start_run(ingest_segmenter *s, const ingest_stream *video,
                               const ingest_stream *audio)
{
    int r = 0;
    AVCodecParameters *v = NULL, *a = NULL;
    ingest_g711_aac *xc = NULL;
    AVRational aqtb = {1, 1};
    if (!video || (video->codec != INGEST_CODEC_H264 && video->codec != INGEST_CODEC_H265) ||
        !tb_valid(video))
        return AVERROR(EINVAL);
    if (audio && audio->codec != INGEST_CODEC_NONE && !tb_valid(audio)) return AVERROR(EINVAL);
    ingest_segmenter_end_run(s);
    if ((r = stream_params(video, &v)) < 0) goto out;
    if (audio && audio->codec == INGEST_CODEC_AAC) {
        if ((r = stream_params(audio, &a)) < 0) goto out;
        aqtb = (AVRational){audio->tb_num, audio->tb_den};
    } else if (audio && (audio->codec == INGEST_CODEC_PCMU || audio->codec == INGEST_CODEC_PCMA)) {
        /* Not storable in MP4 by FFmpeg 5.1, nor playable there by browsers. */
        ingest_g711_aac_params xp = {.codec = audio->codec, .sample_rate = audio->sample_rate,
                                     .channels = audio->channels, .camera = s->camera,
                                     .emit = xc_emit, .opaque = s};
        s->xparams = xp;
        int xr = ingest_g711_aac_create(&xp, &xc);
        if (xr == AVERROR(ENOMEM)) {
            r = xr;
            goto out;
        }
        if (xr < 0) {
            if (!s->warned_audio)
                vg_log_cam(LOG_WARNING, s->camera, "segmenter: cannot convert %s audio (%d Hz, "
                           "%d ch) to AAC (%s); recording video only",
                           stream_name(audio), audio->sample_rate, audio->channels,
                           av_err2str(xr));
        } else {
            ingest_stream as;
            ingest_g711_aac_stream(xc, &as);
            if ((r = stream_params(&as, &a)) < 0) goto out;
            aqtb = (AVRational){as.tb_num, as.tb_den};
            if (!s->warned_audio)
                vg_log_cam(LOG_NOTICE, s->camera, "segmenter: storing %s audio as AAC",
                           stream_name(audio));
        }
        s->warned_audio = true;
    } else if (audio && audio->codec != INGEST_CODEC_NONE && !s->warned_audio) {
        vg_log_cam(LOG_NOTICE, s->camera,
                   "segmenter: %s audio cannot be stored in MP4; recording video only",
                   stream_name(audio));
        s->warned_audio = true;
    }
    if (s->vpar && params_differ(s->vpar, v)) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s %dx%d -> %s %dx%d%s", codec_name(s->vpar),
                 s->vpar->width, s->vpar->height, codec_name(v), v->width, v->height,
                 s->vpar->codec_id == v->codec_id && s->vpar->width == v->width &&
                         s->vpar->height == v->height
                     ? " (parameter sets)"
                     : "");
        vg_log_cam(LOG_NOTICE, s->camera, "segmenter: codec change: %s", detail);
        if (s->idx) index_event_add(s->idx, vg_now_us(), s->camera, "codec_change", detail);
        /* New picture sizes (a new bitrate often comes with new parameter sets) */
        if (s->act) ingest_activity_reset(s->act);
    }
    avcodec_parameters_free(&s->vpar);
    avcodec_parameters_free(&s->apar);
    ingest_g711_aac_free(&s->xc);
    s->vpar = v;
    s->apar = a;
    s->xc = xc;
    v = a = NULL;
    xc = NULL;
    s->vtb = (AVRational){video->tb_num, video->tb_den};
    s->atb = audio && tb_valid(audio) ? (AVRational){audio->tb_num, audio->tb_den}
                                      : (AVRational){1, 1};
    init_free(s); /* built again for these streams at the run's first segment */
    /* avcC/hvcC extradata means length-prefixed samples (as the mov muxer reads them) */
    s->annexb = s->vpar->extradata_size == 0 ||
                is_annexb(s->vpar->extradata, (size_t)s->vpar->extradata_size);
    s->aqtb = aqtb;
    reset_run_state(s);
    s->in_run = true;
out:
    avcodec_parameters_free(&v);
    avcodec_parameters_free(&a);
    ingest_g711_aac_free(&xc);
    return r;
}

/* Builds Annex B extradata from the parameter sets of a keyframe, for a
 * source that gave none (no sprop-parameter-sets in the SDP). */
static void extradata_from_keyframe(ingest_segmenter *s, const uint8_t *d, size_t n, bool annexb)
{
    bool hevc = s->vpar->codec_id == AV_CODEC_ID_HEVC;
    uint8_t *ed = av_mallocz(n + n / 3 + 4 + AV_INPUT_BUFFER_PADDING_SIZE);
    size_t len = 0;
    if (!ed) return;
    nal_iter it = {.p = d, .end = d + n, .annexb = annexb};
    const uint8_t *nal;
    size_t nl;
    while (nal_next(&it, &nal, &nl)) {
        int type = hevc ? (nal[0] >> 1) & 0x3f : nal[0] & 0x1f;
        bool ps = hevc ? (type >= 32 && type <= 34) : (type == 7 || type == 8);
        if (ps) {
            memcpy(ed + len, "\0\0\0\1", 4);
            memcpy(ed + len + 4, nal, nl);
            len += 4 + nl;
        }
    }
    if (len) {
        av_freep(&s->vpar->extradata);
        s->vpar->extradata = ed;
        s->vpar->extradata_size = (int)len;
        vg_log_cam(LOG_INFO, s->camera, "segmenter: parameter sets taken from the first keyframe");
    } else {
        av_free(ed);
    }
}

/*
 * May a fragment be cut inside a GOP before picture j? Only where no picture
 * from j on displays before one ahead of it: right before a reference picture,
 * never between it and the B-frames that display before it. Decode times are
 * the sorted presentation times, so a picture on the wrong side of the cut
 * would get a time already given (a collision every player sees). A cut due
 * by size alone could land on any picture; the next safe one is at most a
 * B-frame run later.
 */
static bool cut_keeps_order(const fqueue *q, size_t j)
{
    int64_t before = INT64_MIN, after = INT64_MAX;
    for (size_t i = 0; i < j; i++)
        if (q->v[i].pts > before) before = q->v[i].pts;
    for (size_t i = j; i < q->n; i++)
        if (q->v[i].pts < after) after = q->v[i].pts;
    return after > before;
}

/*
 * Called after each picture is queued. A keyframe becomes a fragment boundary
 * once REORDER_LOOKAHEAD pictures after it have arrived (an open GOP's leading
 * pictures follow it in decode order with earlier pts, and decode times need
 * them). Short GOPs are merged up to MIN_FRAG_US; the first fragment of a run
 * waits for the clock to settle; a GOP longer than FRAG_CAP_US, or holding
 * more than FRAG_BYTES (what a camera's arena must hold), is cut inside
 * (never a segment's first fragment, so every file starts with a keyframe),
 * where the display order allows it (cut_keeps_order).
 */
static int maybe_cut(ingest_segmenter *s)
{
    fqueue *vq = &s->vq;
    if (vq->n <= REORDER_LOOKAHEAD + 1) return 0;
    size_t j = vq->n - 1 - REORDER_LOOKAHEAD;
    int64_t span = vq->v[j].pts_us - vq->v[0].pts_us;
    if (vq->v[j].key) {
        /* short GOPs merge; a piece cut inside a GOP always ends at the next keyframe */
        if (span < MIN_FRAG_US && vq->v[0].key) return 0;
        if (!s->clock_locked) {
            /* Receive time, not stream time: a burst of buffered frames at connect
             * (the server's GOP cache, FFmpeg's probe) must be over first. */
            if (s->last_recv_us - s->run_first_recv_us < SETTLE_US) return 0;
            ingest_clock_lock(&s->clock);
            s->clock_locked = true;
        }
        int64_t kf_wall = ingest_clock_wall(&s->clock, vq->v[j].pts_us);
        int64_t target = (int64_t)s->segment_seconds * 1000000;
        if (!s->first_rotation_done) target = (int64_t)((double)target * s->stagger);
        bool rotate = s->seg && kf_wall - s->seg_start_us >= target;
        int r = flush_fragment(s, j, false, rotate, &s->clock);
        if (rotate && s->seg) {
            s->carry_start_us = s->next_frag_start_us;
            segment_close(s, s->next_frag_start_us, &s->clock);
            s->first_rotation_done = true;
        }
        return r;
    }
    /* Inside a GOP: once the clock is settled (a new segment then opens with
     * the keyframe at vq->v[0]; after a rotation s->seg is NULL until then). */
    bool may_cut = s->seg || (s->clock_locked && vq->v[0].key);
    if (may_cut && (span > FRAG_CAP_US || (vq->v[j].off >= FRAG_BYTES && span >= MIN_CUT_US)) &&
        (cut_keeps_order(vq, j) || span > 2 * FRAG_CAP_US))
        return flush_fragment(s, j, false, false, &s->clock);
    return 0;
}

/* Does an access unit hold a picture (a VCL NAL unit)? Servers that stamp
 * their parameter sets with the previous picture's time make RTP
 * depacketizers (libavformat's parser too) hand out SPS/PPS alone as a "frame"
 * with a duplicate time; that is not a frame. */
static bool has_picture(enum AVCodecID id, const uint8_t *d, size_t n, bool annexb)
{
    nal_iter it = {.p = d, .end = d + n, .annexb = annexb};
    const uint8_t *nal;
    size_t len;
    while (nal_next(&it, &nal, &len)) {
        uint8_t h = nal[0];
        if (id == AV_CODEC_ID_HEVC ? ((h >> 1) & 0x3f) < 32 : ((h & 0x1f) >= 1 && (h & 0x1f) <= 5))
            return true;
    }
    /* Length-prefixed data that does not parse as 4-byte lengths (an avcC with
     * shorter lengths): keep it, nothing is dropped that may be a picture. */
    return !annexb && it.p != it.end;
}

/* Does an access unit continue the picture before it (its first slice is not
 * the picture's first)? RTP packetizers that repeat the parameter sets before
 * every slice of an IDR (GStreamer's rtph264pay with config-interval=-1 does)
 * make libavformat's H.264 parser end the access unit at each repeated SPS, so
 * a picture of several slices arrives as several "frames" with one timestamp
 * (or an invented one). H.264: first_mb_in_slice (ue(v), its first bit is 1
 * for 0); H.265: first_slice_segment_in_pic_flag. */
static bool continues_picture(enum AVCodecID id, const uint8_t *d, size_t n, bool annexb)
{
    nal_iter it = {.p = d, .end = d + n, .annexb = annexb};
    const uint8_t *nal;
    size_t len;
    while (nal_next(&it, &nal, &len)) {
        if (id == AV_CODEC_ID_HEVC) {
            if (((nal[0] >> 1) & 0x3f) < 32) return len >= 3 && !(nal[2] & 0x80);
        } else {
            int type = nal[0] & 0x1f;
            if (type == 1 || type == 2 || type == 5) return len >= 2 && !(nal[1] & 0x80);
            if (type == 3 || type == 4) return true; /* data partitions B/C */
        }
    }
    return false;
}

/*
 * Drops the parameter sets, AUDs and prefix SEIs that follow a slice in the
 * newest queued picture: those belong before a picture's first slice, and a
 * camera that repeats them before every slice of an IDR (or a picture put back
 * together from such pieces) would leave them between slices, where decoders
 * reject them (FFmpeg's HEVC decoder: "PPS changed between slices"). The
 * picture is the arena's last bytes, so it shrinks in place.
 */
static bool inner_set(enum AVCodecID id, uint8_t h, bool *vcl_seen)
{
    bool hevc = id == AV_CODEC_ID_HEVC;
    int type = hevc ? (h >> 1) & 0x3f : h & 0x1f;
    bool vcl = hevc ? type < 32 : type >= 1 && type <= 5;
    bool before_vcl = hevc ? (type >= 32 && type <= 35) || type == 39 : type >= 6 && type <= 9;
    *vcl_seen = *vcl_seen || vcl;
    return *vcl_seen && before_vcl;
}

static void strip_inner_sets(fqueue *q, enum AVCodecID id)
{
    qframe *f = &q->v[q->n - 1];
    uint8_t *p = q->buf + f->off, *end = p + f->size, *out = p;
    bool vcl_seen = false, any = false;
    if (f->off + f->size != q->len) return;
    /* First a check: 4-byte lengths throughout (else left as it is), and
     * something to drop. */
    for (uint8_t *n = p; n < end;) {
        size_t len = end - n >= 5 ? AV_RB32(n) : 0;
        if (len == 0 || len > (size_t)(end - n) - 4) return;
        any = inner_set(id, n[4], &vcl_seen) || any;
        n += 4 + len;
    }
    if (!any) return;
    vcl_seen = false;
    for (uint8_t *n = p; n < end;) {
        size_t len = AV_RB32(n);
        if (!inner_set(id, n[4], &vcl_seen)) {
            if (out != n) memmove(out, n, 4 + len);
            out += 4 + len;
        }
        n += 4 + len;
    }
    q->len -= (size_t)(end - out);
    f->size -= (size_t)(end - out);
}

static int enforce_caps(ingest_segmenter *s);

int ingest_segmenter_write(ingest_segmenter *s, const ingest_frame *f)
{
    int r = 0;
    if (!s->in_run) return AVERROR(EINVAL);
    if (f->audio && !s->apar) return 0; /* not recorded */
    bool annexb = !f->audio && s->annexb && !f->length_prefixed;
    if (!f->audio && !has_picture(s->vpar->codec_id, f->data, f->size, annexb)) return 0;
    if (f->size > QUEUE_MAX_BYTES) { /* no camera's picture; not worth holding */
        s->stats.frames_dropped++;
        return 0;
    }
    AVRational tb = f->audio ? s->atb : s->vtb;
    int64_t pts_us = av_rescale_q(f->pts, tb, AV_TIME_BASE_Q);

    if (f->audio) {
        if (s->waiting_key) {
            s->stats.frames_dropped++;
            return 0;
        }
        if (s->xc) {
            int64_t pos = av_rescale_q(f->pts, s->atb, s->aqtb);
            r = ingest_g711_aac_input(s->xc, f->data, f->size, pos);
            if (r < 0) s->stats.frames_dropped++; /* like a packet lost on the network */
            if (r == AVERROR(ENOMEM)) return r;
            live_g711(s, f->data, f->size, pos);
            return enforce_caps(s); /* a full FIFO is encoded into the queue */
        }
        if ((r = fq_push(&s->aq, f->data, f->size, false, f->pts, pts_us, 0, false)) < 0) return r;
        live_frame(s, true);
        return enforce_caps(s);
    }
    if (continues_picture(s->vpar->codec_id, f->data, f->size, annexb)) {
        /* One picture is one sample: appended to the unit before it, whose
         * time it has (a parser may have invented one for this part). The
         * previous unit is always still queued (maybe_cut keeps the newest
         * pictures), unless it was dropped or the run ended under it. */
        fqueue *q = &s->vq;
        if (s->waiting_key || !q->n) {
            s->stats.frames_dropped++;
            return 0;
        }
        if ((r = fq_push(q, f->data, f->size, annexb, q->v[q->n - 1].pts, 0, 0, f->key)) < 0)
            return r;
        qframe *prev = &q->v[q->n - 2], *part = &q->v[q->n - 1];
        assert(prev->off + prev->size == part->off);
        prev->size += part->size;
        prev->key = prev->key || part->key;
        q->n--;
        strip_inner_sets(q, s->vpar->codec_id);
        return enforce_caps(s);
    }
    ingest_clock before = s->clock;
    int cr = ingest_clock_update(&s->clock, pts_us, f->recv_us, NULL);
    s->last_recv_us = f->recv_us;
    if ((cr & INGEST_CLOCK_NEW_RUN) && !s->waiting_key) {
        /* Jump or drift: close what we have under the old mapping; new run. */
        vg_log_cam(LOG_NOTICE, s->camera, "segmenter: timestamp discontinuity; new run");
        finish_run(s, &before);
        ingest_clock tmp = s->clock;
        reset_run_state(s);
        s->clock = tmp;
        s->run_cause = ingest_clock_cause_name(tmp.cause);
    }
    if (s->waiting_key) {
        if (!f->key) {
            s->stats.frames_dropped++;
            return 0;
        }
        s->waiting_key = false;
        s->run_first_recv_us = f->recv_us;
        if (s->vpar->extradata_size == 0) {
            extradata_from_keyframe(s, f->data, f->size, annexb);
            init_free(s);
        }
    }
    if (f->ntp_us) {
        /* the camera's clock against ours, for this frame (evidence only) */
        int64_t off = f->ntp_us - ingest_clock_wall(&s->clock, pts_us);
        if (!s->ntp_n || off < s->ntp_min) s->ntp_min = off;
        if (!s->ntp_n || off > s->ntp_max) s->ntp_max = off;
        s->ntp_last = off;
        s->ntp_n++;
    }
    if ((r = fq_push(&s->vq, f->data, f->size, annexb, f->pts, pts_us, 0, f->key)) < 0) return r;
    strip_inner_sets(&s->vq, s->vpar->codec_id);
    live_frame(s, false);
    if ((r = maybe_cut(s)) < 0) return r;
    return enforce_caps(s);
}

/* The video part of enforce_caps (see there). */
static int cap_video(ingest_segmenter *s)
{
    fqueue *vq = &s->vq, *aq = &s->aq;
    s->stats.queue_overflows++;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < vq->n; i++) {
        if (vq->v[i].pts_us < lo) lo = vq->v[i].pts_us;
        if (vq->v[i].pts_us > hi) hi = vq->v[i].pts_us;
    }
    bool starts_file = s->seg || !s->st || (vq->n && vq->v[0].key);
    if (vq->n >= 2 && starts_file && hi - lo >= MIN_CUT_US) {
        size_t j = vq->n - 1;
        for (size_t k = vq->n - 1; k >= 1; k--)
            if (cut_keeps_order(vq, k)) {
                j = k;
                break;
            }
        if (!s->capped)
            vg_log_cam(LOG_WARNING, s->camera, "segmenter: %zu pictures (%zu bytes) queued; "
                       "cutting a fragment early", vq->n, vq->len + aq->len);
        s->capped = true;
        if (!s->clock_locked) {
            ingest_clock_lock(&s->clock);
            s->clock_locked = true;
        }
        return flush_fragment(s, j, false, false, &s->clock);
    }
    /* once, then at every power of two: a stuck camera does this all day */
    s->stuck_runs++;
    if ((s->stuck_runs & (s->stuck_runs - 1)) == 0)
        vg_log_cam(LOG_WARNING, s->camera, "segmenter: %zu pictures (%zu bytes) queued over "
                   "%.3f s of their own time: timestamps not advancing; new run (%llu so far)",
                   vq->n, vq->len + aq->len, vq->n ? (double)(hi - lo) / 1e6 : 0.0,
                   (unsigned long long)s->stuck_runs);
    if (starts_file) {
        finish_run(s, &s->clock);
    } else { /* no file open to end, and a new one cannot start here */
        s->stats.frames_dropped += vq->n + aq->n;
        live_end(s);
        fq_drop(vq, vq->n);
        fq_drop(aq, aq->n);
    }
    reset_run_state(s);
    s->run_cause = "stuck_timestamps";
    return 0;
}

/*
 * Keeps what one camera makes the segmenter hold under the caps, whatever it
 * sends: a picture is only cut into a fragment when the pictures' times
 * advance (or a keyframe comes after enough of them), so a camera whose
 * timestamps stand still, or that never sends a keyframe after a long run of
 * pictures, would otherwise be queued forever. Over the cap with pictures
 * spanning a sane time (a long GOP at a high bitrate while the clock
 * settles), a fragment is cut early where the display order allows, and
 * nothing is lost. With times that do not advance (less than a cut's
 * minimum across the whole queue) no cut can give them sane decode times:
 * the run ends (its frames written as they are) and a new one starts at the
 * next keyframe, in a new segment. Audio no picture reaches (stamped far
 * ahead) is dropped, oldest first. Logged once per run (a stuck camera's
 * new runs less often).
 */
static int enforce_caps(ingest_segmenter *s)
{
    int r = 0;
    fqueue *vq = &s->vq, *aq = &s->aq;
    if (vq->n > QUEUE_MAX_VIDEO || vq->len + aq->len > QUEUE_MAX_BYTES) r = cap_video(s);
    /* after the video: a cut may have brought more (G.711 is encoded at cuts) */
    if (aq->n > QUEUE_MAX_AUDIO || aq->len > QUEUE_MAX_BYTES / 4) {
        size_t k = aq->n / 2 ? aq->n / 2 : aq->n;
        if (!s->capped)
            vg_log_cam(LOG_WARNING, s->camera, "segmenter: %zu audio frames (%zu bytes) queued "
                       "that no picture reaches; dropping the oldest %zu", aq->n, aq->len, k);
        s->capped = true;
        s->stats.queue_overflows++;
        s->stats.frames_dropped += k;
        fq_drop(aq, k);
    }
    return r;
}

uint8_t *ingest_segmenter_video_buffer(ingest_segmenter *s, size_t keep, size_t need)
{
    fqueue *q = &s->vq;
    if (keep == 0) {
        q->lent = true;
        q->lent_off = q->len;
    } else if (!q->lent) {
        return NULL;
    }
    if (fq_grow(q, q->lent_off + need) < 0) return NULL;
    return q->buf + q->lent_off;
}

void ingest_segmenter_get_stats(const ingest_segmenter *s, ingest_segmenter_stats *out)
{
    *out = s->stats;
    out->queued_bytes = s->vq.len + s->aq.len;
    out->queued_frames = s->vq.n + s->aq.n;
}
