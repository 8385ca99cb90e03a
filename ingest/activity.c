/*
 * Activity from the compressed stream. Under VBR (what cameras call it:
 * constant quality under a cap) a still scene costs little per predicted
 * picture and motion costs more, so the size of each non-key picture against
 * what that camera's pictures of the same kind cost when nothing happens says
 * how much moved, without decoding a pixel.
 *
 * Kinds are kept apart because their sizes live on different scales: a
 * P-frame (shown in decode order) carries far more than a B-frame (shown
 * before a picture decoded earlier), and a picture no other one references
 * (H.264 nal_ref_idc 0, H.265 *_N types: B-frames, temporal-SVC layers) less
 * than a referenced one. Keyframes are left out (their size is the scene's
 * detail, not its motion; their rhythm is the GOP's).
 *
 * The GOP has a shape of its own too (the pictures after a keyframe often
 * cost more as the encoder rebuilds quality, a burned-in clock changes its
 * digits at the same place in every GOP), so each kind keeps a baseline per
 * position after the keyframe, one sample per GOP, seeded from the kind's
 * own. A baseline (log2 bytes) follows the camera's quiet pictures: after a
 * short warm-up it is a quantile tracker that rises at most 0.05 and falls
 * 0.25 per second (it settles near the 17th percentile, and no odd picture
 * drags it far), so motion lasting seconds barely moves it while a lasting
 * change (a new bitrate, rain, a busy hour) is absorbed; after a minute of
 * continuous "activity" it rises ten times faster. A picture's excess is
 * how far above its baseline it is (log2, never negative); a second's level
 * is the mean excess of its pictures, times 32, so one picture in a second
 * that stands out hardly counts and 32 means "twice the quiet size on
 * average".
 *
 * Strict CBR (filler data up to a constant size per picture) hides motion:
 * the sizes stop varying. A second whose non-key sizes have an interquartile
 * range under 12 % of their median, while that median is at least a fifth of
 * a keyframe's size, is "flat" (a still VBR scene is also flat, but its
 * predicted pictures are tiny next to its keyframes); once most recent
 * seconds are flat the camera's seconds are INDEX_ACTIVITY_HIDDEN, which the
 * API reports as "activity unavailable" rather than as a quiet scene.
 *
 * Seconds are wall-clock seconds (the pictures' presentation times as
 * ingest/clock maps them); the last few stay open for pictures shown out of
 * order, then are closed into one byte each and kept until their segment
 * takes them. The cost per picture is one log2 and a few comparisons.
 */
#include "ingest/activity.h"

#include "index/index.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KINDS 4           /* (reordered, unreferenced) */
#define POS_MAX 128       /* positions after a keyframe told apart (later ones share the last) */
#define OPEN_SECS 4       /* seconds kept open (power of two) */
#define SIZES_MAX 64      /* non-key sizes kept per open second (flatness) */
#define WARMUP 50         /* pictures of a kind before its baseline tracks a quantile */
#define WARM_RATE 0.15    /* baseline gain per picture while warming up */
#define POS_WARMUP 8      /* GOPs before a position's baseline tracks a quantile */
#define POS_WARM_RATE 0.3
#define UP_PER_S 0.05     /* log2 per second a baseline rises ... */
#define DOWN_PER_S 0.25   /* ... and falls: it settles near the 17th percentile */
#define LASTING_S 60      /* busy seconds in a row before the rise speeds up */
#define LASTING_BOOST 10.0
#define BUSY_LEVEL 24     /* a second at least this high counts as busy */
#define SCALE 32.0        /* level units per log2 of mean excess */
#define FLAT_IQR 0.12     /* flat: interquartile range under this share of the median */
#define FLAT_KEY_SHARE 0.2 /* ... with the median at least this share of a keyframe */
#define FLAT_GAIN 0.1     /* smoothing of the flat score over seconds */
#define FLAT_ON 0.7       /* hidden above this score, visible again below FLAT_OFF */
#define FLAT_OFF 0.3

/* A baseline: log2 bytes, and how many samples shaped it (saturating). */
typedef struct track {
    float b;
    uint8_t n;
} track;

typedef struct sec_bin {
    int64_t sec;
    bool used;
    double sum; /* excess of its non-key pictures, log2 */
    uint32_t n;
    uint32_t nsz;
    uint32_t sizes[SIZES_MAX];
} sec_bin;

struct ingest_activity {
    track kind[KINDS];         /* per kind: seeds the positions' baselines */
    track pos[KINDS][POS_MAX]; /* per kind and position after the keyframe */
    unsigned since_key;        /* pictures since the last keyframe (decode order) */
    int64_t last_key_us;       /* wall time of the last keyframe, INT64_MIN none */
    double gop_s;              /* seconds between the last two keyframes */
    double key_log; /* log2 of a keyframe's size, smoothed; 0: none yet */
    int64_t last_wall_us;
    double flat_score;
    bool hidden;
    int busy_run; /* closed seconds in a row at BUSY_LEVEL or more */
    sec_bin open[OPEN_SECS];
    /* closed seconds: vals[i] is second vals_base + i */
    uint8_t *vals;
    size_t nvals, cap;
    int64_t vals_base;
};

int ingest_activity_new(ingest_activity **out)
{
    ingest_activity *a = calloc(1, sizeof(*a));
    *out = a;
    if (!a) return -ENOMEM;
    ingest_activity_reset(a);
    return 0;
}

void ingest_activity_free(ingest_activity **a)
{
    if (!a || !*a) return;
    free((*a)->vals);
    free(*a);
    *a = NULL;
}

void ingest_activity_reset(ingest_activity *a)
{
    memset(a->kind, 0, sizeof(a->kind));
    memset(a->pos, 0, sizeof(a->pos));
    a->since_key = 0;
    a->last_key_us = INT64_MIN;
    a->gop_s = 1.0;
    a->key_log = 0;
    a->flat_score = 0.5; /* undecided: a few flat seconds decide */
    a->hidden = false;
    a->busy_run = 0;
    a->last_wall_us = INT64_MIN;
}

static int64_t floor_sec(int64_t us)
{
    return us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* The byte of an open second as it stands (no state changes). */
static uint8_t bin_level(const ingest_activity *a, const sec_bin *b)
{
    if (a->hidden) return INDEX_ACTIVITY_HIDDEN;
    if (!b->n) return INDEX_ACTIVITY_NONE;
    double v = SCALE * b->sum / b->n + 0.5;
    return v >= INDEX_ACTIVITY_MAX ? INDEX_ACTIVITY_MAX : (uint8_t)v;
}

/* Does a second look like strict CBR? (sorts the bin's sizes) */
static bool bin_flat(const ingest_activity *a, sec_bin *b)
{
    if (b->nsz < 4 || a->key_log <= 0) return false;
    qsort(b->sizes, b->nsz, sizeof(b->sizes[0]), cmp_u32);
    size_t i1 = b->nsz / 4, im = b->nsz / 2, i3 = (3 * b->nsz) / 4;
    double q1 = b->sizes[i1], med = b->sizes[im], q3 = b->sizes[i3];
    return med > 0 && q3 - q1 <= FLAT_IQR * med && log2(med) >= a->key_log + log2(FLAT_KEY_SHARE);
}

static int vals_put(ingest_activity *a, int64_t sec, uint8_t v)
{
    if (!a->nvals) a->vals_base = sec;
    if (sec < a->vals_base) return 0; /* already taken by its segment */
    size_t i = (size_t)(sec - a->vals_base);
    if (i > 1u << 20) return 0; /* a wall-clock jump: never a buffer that size */
    if (i >= a->cap) {
        size_t nc = a->cap ? a->cap : 128;
        while (nc <= i) nc *= 2;
        uint8_t *nv = realloc(a->vals, nc);
        if (!nv) return -ENOMEM;
        a->vals = nv;
        a->cap = nc;
    }
    for (size_t k = a->nvals; k < i; k++) a->vals[k] = INDEX_ACTIVITY_NONE;
    a->vals[i] = v;
    if (i >= a->nvals) a->nvals = i + 1;
    return 0;
}

/* Closes an open second: the flat score, the busy run, its byte. */
static void bin_close(ingest_activity *a, sec_bin *b)
{
    if (b->nsz >= 4) {
        a->flat_score += FLAT_GAIN * ((bin_flat(a, b) ? 1.0 : 0.0) - a->flat_score);
        if (!a->hidden && a->flat_score > FLAT_ON) a->hidden = true;
        if (a->hidden && a->flat_score < FLAT_OFF) a->hidden = false;
    }
    uint8_t v = bin_level(a, b);
    a->busy_run = v >= BUSY_LEVEL && v <= INDEX_ACTIVITY_MAX ? a->busy_run + 1 : 0;
    vals_put(a, b->sec, v); /* out of memory: the second reads as not measured */
    b->used = false;
}

/* Moves a baseline towards x: while young by a share of the gap, then by at
 * most UP_PER_S / DOWN_PER_S per second of dt (a quantile tracker, which one
 * odd picture cannot drag far), faster up after a lasting change. */
static void track_update(const ingest_activity *a, track *t, double x, double dt, int warmup,
                         double warm_rate)
{
    if (t->n < warmup) {
        t->b = t->n ? (float)(t->b + warm_rate * (x - t->b)) : (float)x;
        t->n++;
        return;
    }
    double e = x - t->b;
    if (e > 0) {
        double up = UP_PER_S * dt * (a->busy_run >= LASTING_S ? LASTING_BOOST : 1.0);
        t->b += (float)(e < up ? e : up);
    } else {
        double down = DOWN_PER_S * dt;
        t->b -= (float)(-e < down ? -e : down);
    }
}

void ingest_activity_picture(ingest_activity *a, const ingest_activity_pic *p)
{
    int64_t sec = floor_sec(p->wall_us);
    sec_bin *b = &a->open[sec & (OPEN_SECS - 1)];
    if (b->used && b->sec != sec) {
        if (b->sec > sec) return; /* later than every open second allows */
        bin_close(a, b);
    }
    if (!b->used) {
        memset(b, 0, offsetof(sec_bin, sizes));
        b->sec = sec;
        b->used = true;
    }
    double dt = a->last_wall_us == INT64_MIN ? 0.04 : (double)(p->wall_us - a->last_wall_us) / 1e6;
    if (dt < 0) dt = 0;
    if (dt > 0.5) dt = 0.5;
    if (p->wall_us > a->last_wall_us) a->last_wall_us = p->wall_us;
    double x = log2((double)(p->size ? p->size : 1));
    if (p->key) {
        a->key_log = a->key_log > 0 ? a->key_log + 0.3 * (x - a->key_log) : x;
        if (a->last_key_us != INT64_MIN && p->wall_us > a->last_key_us) {
            a->gop_s = (double)(p->wall_us - a->last_key_us) / 1e6;
            if (a->gop_s > 10) a->gop_s = 10;
        }
        a->last_key_us = p->wall_us;
        a->since_key = 0;
        return;
    }
    if (a->since_key < POS_MAX - 1) a->since_key++;
    int kind = (p->reordered ? 2 : 0) + (p->ref ? 0 : 1);
    track *kt = &a->kind[kind], *pt = &a->pos[kind][a->since_key];
    /* A position's baseline starts from its kind's: the first GOPs are read
     * against the kind while the GOP's own shape is being learned. */
    if (!pt->n && kt->n) {
        pt->b = kt->b;
        pt->n = 1;
    }
    if (pt->n) {
        double e = x - pt->b;
        b->sum += e > 0 ? e : 0;
        b->n++;
    }
    if (b->nsz < SIZES_MAX) b->sizes[b->nsz++] = (uint32_t)(p->size > UINT32_MAX ? UINT32_MAX : p->size);
    track_update(a, kt, x, dt, WARMUP, WARM_RATE);
    /* One sample per GOP: its rates are per second of GOP. */
    track_update(a, pt, x, a->since_key == POS_MAX - 1 ? dt : a->gop_s, POS_WARMUP,
                 POS_WARM_RATE);
}

int ingest_activity_take(ingest_activity *a, int64_t start_us, int64_t end_us, uint8_t **out,
                         size_t *n)
{
    int64_t first = floor_sec(start_us), last = floor_sec(end_us - 1);
    *out = NULL;
    *n = 0;
    if (last < first) return 0;
    /* Seconds well behind the newest picture are over: close them first. */
    int64_t newest = floor_sec(a->last_wall_us);
    for (int i = 0; i < OPEN_SECS; i++)
        if (a->open[i].used && a->open[i].sec < newest - 1) bin_close(a, &a->open[i]);
    size_t len = (size_t)(last - first + 1);
    uint8_t *v = malloc(len);
    if (!v) return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int64_t s = first + (int64_t)i;
        const sec_bin *b = &a->open[s & (OPEN_SECS - 1)];
        if (b->used && b->sec == s)
            v[i] = bin_level(a, b);
        else if (a->nvals && s >= a->vals_base && s < a->vals_base + (int64_t)a->nvals)
            v[i] = a->vals[s - a->vals_base];
        else
            v[i] = INDEX_ACTIVITY_NONE;
    }
    /* Forget what is before the segment's last second (the next segment
     * shares that one). */
    if (a->nvals && last > a->vals_base) {
        size_t drop = (size_t)(last - a->vals_base);
        if (drop >= a->nvals) {
            a->nvals = 0;
        } else {
            memmove(a->vals, a->vals + drop, a->nvals - drop);
            a->nvals -= drop;
            a->vals_base = last;
        }
    }
    *out = v;
    *n = len;
    return 0;
}
