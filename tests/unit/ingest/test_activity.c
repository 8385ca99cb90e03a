/* ingest/activity: synthetic picture-size sequences (GOP shapes, B-frames, a
 * burned-in clock, motion, bitrate steps, strict CBR) and the bytes they give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "index/index.h"
#include "ingest/activity.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FPS 25
#define T0 1795000000000000LL /* a whole second */
#define BUSY 40               /* what the search calls activity (serve's default) */

static uint32_t rng = 4242;
static double noise(void) /* uniform in [-1, 1) */
{
    rng = rng * 1103515245u + 12345u;
    return (double)(rng >> 8) / (double)(1u << 23) - 1.0;
}

typedef struct scene {
    int gop;           /* pictures per GOP */
    int bframes;       /* B-frames between references (the middle one referenced if 3) */
    double p_size;     /* quiet P-frame bytes */
    double jitter;     /* +- share of size noise */
    double motion;     /* size factor inside motion windows */
    double step;       /* size factor from step_at on (every picture) */
    int step_at;       /* seconds */
    const int (*windows)[2];
    int nwin;
    int cbr;           /* every picture the same size (padded) */
} scene;

static bool in_window(const scene *sc, int sec)
{
    for (int i = 0; i < sc->nwin; i++)
        if (sec >= sc->windows[i][0] && sec < sc->windows[i][1]) return true;
    return false;
}

/* Feeds seconds [0, seconds) and returns the bytes of every second (caller frees). */
static uint8_t *run(ingest_activity *a, const scene *sc, int seconds)
{
    int64_t frame_us = 1000000 / FPS;
    int n = seconds * FPS;
    for (int i = 0; i < n; i++) {
        int pos = i % sc->gop, sec = i / FPS;
        /* decode order: P then its B-frames (displayed before it) */
        int group = sc->bframes + 1, in_group = pos == 0 ? 0 : (pos - 1) % group;
        bool key = pos == 0, b = !key && in_group > 0;
        double size = sc->p_size;
        if (key) size *= 20;
        else if (b) size *= in_group == 2 && sc->bframes == 3 ? 0.4 : 0.1;
        if (!key && pos < 12) size *= 3;                    /* the GOP's first pictures */
        if (!key && i % FPS == 3) size *= 6;                /* the clock's digits change */
        if (in_window(sc, sec) && !key) size *= sc->motion;
        if (sc->step_at && sec >= sc->step_at) size *= sc->step;
        size *= 1 + sc->jitter * noise();
        if (sc->cbr) size = key ? sc->p_size * 1.4 : sc->p_size * (1 + 0.01 * noise());
        /* a B-frame displays one picture before the reference decoded before it */
        int64_t shown = (int64_t)i * frame_us - (b ? frame_us * group : 0);
        ingest_activity_pic p = {.wall_us = T0 + 80000 + shown, .size = (size_t)size,
                                 .key = key, .reordered = b,
                                 .ref = !b || (sc->bframes == 3 && in_group == 2)};
        ingest_activity_picture(a, &p);
    }
    uint8_t *v = NULL;
    size_t len = 0;
    assert_int_equal(ingest_activity_take(a, T0, T0 + (int64_t)seconds * 1000000, &v, &len), 0);
    assert_int_equal(len, (size_t)seconds);
    return v;
}

static const int WINDOWS[][2] = {{40, 46}, {70, 74}, {100, 110}};

static void check_windows(const scene *sc, const uint8_t *v, int from, int to)
{
    for (int s = from; s < to; s++) {
        if (in_window(sc, s)) {
            /* the window's first second may hold the pictures of its last one */
            assert_in_range(v[s], BUSY, INDEX_ACTIVITY_MAX);
        } else if (!in_window(sc, s - 1)) {
            assert_in_range(v[s], 0, BUSY - 1);
        }
    }
}

static void t_motion_p_only(void **state)
{
    (void)state;
    ingest_activity *a = NULL;
    assert_int_equal(ingest_activity_new(&a), 0);
    scene sc = {.gop = 50, .p_size = 800, .jitter = 0.3, .motion = 3,
                .windows = WINDOWS, .nwin = 3};
    uint8_t *v = run(a, &sc, 130);
    check_windows(&sc, v, 25, 130); /* after the GOP's shape is learned */
    free(v);
    ingest_activity_free(&a);
    assert_null(a);
}

static void t_motion_bframes(void **state)
{
    (void)state;
    for (int bf = 2; bf <= 3; bf++) {
        ingest_activity *a = NULL;
        assert_int_equal(ingest_activity_new(&a), 0);
        scene sc = {.gop = 48, .bframes = bf, .p_size = 1500, .jitter = 0.3, .motion = 3,
                    .windows = WINDOWS, .nwin = 3};
        uint8_t *v = run(a, &sc, 130);
        check_windows(&sc, v, 25, 130);
        free(v);
        ingest_activity_free(&a);
    }
}

/* A lasting rise of every size (a new bitrate) reads as activity only until the
 * baselines follow it; a fall never does. */
static void t_bitrate_steps(void **state)
{
    (void)state;
    for (int up = 0; up <= 1; up++) {
        ingest_activity *a = NULL;
        assert_int_equal(ingest_activity_new(&a), 0);
        scene sc = {.gop = 50, .p_size = 800, .jitter = 0.2, .step = up ? 4 : 0.25, .step_at = 60};
        uint8_t *v = run(a, &sc, 200);
        int busy = 0;
        for (int s = 30; s < 200; s++) busy += v[s] >= BUSY;
        if (up) {
            assert_in_range(busy, 1, 40);
            for (int s = 120; s < 200; s++) assert_in_range(v[s], 0, BUSY - 1);
        } else {
            assert_int_equal(busy, 0);
        }
        free(v);
        ingest_activity_free(&a);
    }
}

static void t_cbr_hidden(void **state)
{
    (void)state;
    ingest_activity *a = NULL;
    assert_int_equal(ingest_activity_new(&a), 0);
    scene sc = {.gop = 50, .p_size = 5000, .cbr = 1, .motion = 3, .windows = WINDOWS, .nwin = 3};
    uint8_t *v = run(a, &sc, 60);
    for (int s = 15; s < 60; s++) assert_int_equal(v[s], INDEX_ACTIVITY_HIDDEN);
    free(v);
    ingest_activity_free(&a);

    /* A still VBR scene is as flat, but its pictures are tiny next to a keyframe. */
    assert_int_equal(ingest_activity_new(&a), 0);
    scene still = {.gop = 50, .p_size = 43};
    v = run(a, &still, 60);
    for (int s = 0; s < 60; s++) assert_in_range(v[s], 0, BUSY - 1);
    free(v);
    ingest_activity_free(&a);
}

/* Segments take their seconds; the boundary second is in both; a second with
 * nothing to measure says so. */
static void t_take(void **state)
{
    (void)state;
    ingest_activity *a = NULL;
    assert_int_equal(ingest_activity_new(&a), 0);
    int64_t t = T0 + 500000;
    for (int i = 0; i < 10 * FPS; i++, t += 40000) {
        ingest_activity_pic p = {.wall_us = t, .size = i % 50 ? 300 + (size_t)(i * 37 % 200) : 9000,
                                 .key = i % 50 == 0, .ref = 1};
        ingest_activity_picture(a, &p);
    }
    uint8_t *v = NULL;
    size_t n = 0;
    /* [T0 + 0.5 s, T0 + 4.2 s): seconds 0..4 */
    assert_int_equal(ingest_activity_take(a, T0 + 500000, T0 + 4200000, &v, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) assert_in_range(v[i], 0, BUSY - 1);
    free(v);
    /* the next segment starts in second 4, which is still there */
    assert_int_equal(ingest_activity_take(a, T0 + 4200000, T0 + 10000000, &v, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) assert_in_range(v[i], 0, BUSY - 1);
    free(v);
    /* seconds nothing was seen in */
    assert_int_equal(ingest_activity_take(a, T0 + 20000000, T0 + 22000000, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], INDEX_ACTIVITY_NONE);
    assert_int_equal(v[1], INDEX_ACTIVITY_NONE);
    free(v);
    /* an empty range */
    assert_int_equal(ingest_activity_take(a, T0, T0, &v, &n), 0);
    assert_int_equal(n, 0);
    assert_null(v);
    ingest_activity_free(&a);
    ingest_activity_free(&a); /* NULL is fine */

    /* keyframes only: nothing to measure */
    assert_int_equal(ingest_activity_new(&a), 0);
    for (int i = 0; i < 10; i++) {
        ingest_activity_pic p = {.wall_us = T0 + i * 1000000LL, .size = 9000, .key = 1, .ref = 1};
        ingest_activity_picture(a, &p);
    }
    assert_int_equal(ingest_activity_take(a, T0, T0 + 10000000, &v, &n), 0);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) assert_int_equal(v[i], INDEX_ACTIVITY_NONE);
    free(v);
    ingest_activity_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_motion_p_only), cmocka_unit_test(t_motion_bframes),
        cmocka_unit_test(t_bitrate_steps), cmocka_unit_test(t_cbr_hidden),
        cmocka_unit_test(t_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
