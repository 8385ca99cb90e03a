/* ingest/clock: synthetic receive/pts sequences (steady, jitter, drift, jumps, wrap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ingest/clock.h"

#include <stdlib.h>

#define FRAME 40000 /* 25 fps */
#define BASE 1795000000000000LL

static uint32_t rng = 12345;
static int64_t jitter_us(int64_t max)
{
    rng = rng * 1103515245u + 12345u;
    return (int64_t)((rng >> 8) % (uint32_t)max);
}

static void t_steady(void **state)
{
    (void)state;
    ingest_clock c;
    ingest_clock_init(&c);
    for (int i = 0; i < 25 * 600; i++) {
        int64_t pts = 5000000 + (int64_t)i * FRAME, recv = BASE + (int64_t)i * FRAME + 20000, wall;
        int r = ingest_clock_update(&c, pts, recv, &wall);
        assert_int_equal(r, i == 0 ? INGEST_CLOCK_NEW_RUN : 0);
        assert_int_equal(wall, recv);
        if (i == 10) ingest_clock_lock(&c);
    }
    assert_int_equal(c.slewed_us, 0);
}

/* The first frame is the most delayed; later ones arrive with 20..100 ms delay. */
static void run_jitter(int lock_at_once)
{
    ingest_clock c;
    ingest_clock_init(&c);
    int64_t prev_wall = 0;
    for (int i = 0; i < 25 * 300; i++) {
        int64_t cap = BASE + (int64_t)i * FRAME;
        int64_t delay = i == 0 ? 150000 : 20000 + jitter_us(80000);
        int64_t pts = (int64_t)i * FRAME, wall;
        int r = ingest_clock_update(&c, pts, cap + delay, &wall);
        if (i == 0) {
            assert_int_equal(r, INGEST_CLOCK_NEW_RUN);
            if (lock_at_once) ingest_clock_lock(&c);
        } else {
            assert_false(r & INGEST_CLOCK_NEW_RUN);
            /* Smooth: consecutive walls are one frame apart within the slew. */
            if (!(r & INGEST_CLOCK_STEPPED)) assert_in_range(wall - prev_wall, FRAME - 1000, FRAME + 1000);
        }
        if (!lock_at_once && i == 50) ingest_clock_lock(&c);
        prev_wall = wall;
        /* Never later than the receive time by more than the anchor's excess delay. */
        assert_true(wall <= cap + delay + 150000);
    }
    /* Converged on capture + the minimum delay (20 ms), within a few ms. */
    int64_t cap_end = BASE + (int64_t)(25 * 300 - 1) * FRAME;
    int64_t err = prev_wall - (cap_end + 20000);
    assert_in_range(err + 10000, 0, 20000);
}

static void t_jitter_step(void **state)
{
    (void)state;
    run_jitter(0);
}

static void t_jitter_slew(void **state)
{
    (void)state;
    run_jitter(1);
}

/* Camera clock runs fast by ppm: pts advances (1 + ppm/1e6) per real second. */
static int64_t run_drift(int ppm, int seconds)
{
    ingest_clock c;
    ingest_clock_init(&c);
    int64_t first_new_run_at = -1;
    for (int i = 0; i < 25 * seconds; i++) {
        int64_t real = (int64_t)i * FRAME;
        int64_t pts = real + real * ppm / 1000000, wall;
        int r = ingest_clock_update(&c, pts, BASE + real + 20000, &wall);
        if (i == 0) {
            ingest_clock_lock(&c);
            continue;
        }
        if (r & INGEST_CLOCK_NEW_RUN) {
            assert_string_equal(ingest_clock_cause_name(c.cause), "drift");
            if (first_new_run_at < 0) first_new_run_at = real;
            ingest_clock_lock(&c);
        } else if (first_new_run_at < 0) {
            /* Accumulated error stays below the 0.5 s limit (+ one window) while in the run. */
            assert_in_range(wall - (BASE + real + 20000) + 510000, 0, 1020000);
        }
        if (abs(ppm) <= 500 && i == 25 * seconds - 1) {
            /* Slewed: the error stays within ~ppm x window. */
            int64_t e = wall - (BASE + real + 20000);
            assert_in_range(e + 5000, 0, 10000);
            /* the evidence: a slew against the camera's drift, and the last
             * window's residual, what the drift adds in one window (2 s) */
            assert_true(ppm > 0 ? c.slewed_us < 0 : c.slewed_us > 0);
            assert_true(c.has_err);
            assert_in_range(c.last_err_us + 1000, 0, 2000);
        }
    }
    return first_new_run_at;
}

static void t_drift_300ppm(void **state)
{
    (void)state;
    assert_int_equal(run_drift(300, 3600), -1);
    assert_int_equal(run_drift(-300, 3600), -1);
}

static void t_drift_2000ppm(void **state)
{
    (void)state;
    /* Net 1500 ppm after the slew: 0.5 s after ~333 s. */
    int64_t at = run_drift(2000, 600);
    assert_in_range(at, 300000000, 360000000);
    at = run_drift(-2000, 600);
    assert_in_range(at, 300000000, 360000000);
}

static void t_jump(void **state)
{
    (void)state;
    ingest_clock c;
    ingest_clock_init(&c);
    int64_t pts = 0, recv = BASE;
    ingest_clock_update(&c, pts, recv, NULL);
    assert_int_equal(c.cause, INGEST_CLOCK_CAUSE_FIRST);
    assert_string_equal(ingest_clock_cause_name(c.cause), "start");
    ingest_clock_lock(&c);
    /* Decode order with B-frames: I0 P3 B1 B2 P6 B4 B5 -> no new run. */
    static const int order[] = {3, 1, 2, 6, 4, 5, 9, 7, 8};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        recv += FRAME;
        assert_int_equal(ingest_clock_update(&c, order[i] * FRAME, recv, NULL), 0);
    }
    /* Forward 10 s while receive time moves one frame. */
    recv += FRAME;
    int64_t wall;
    assert_int_equal(ingest_clock_update(&c, 10 * FRAME + 10000000, recv, &wall),
                     INGEST_CLOCK_NEW_RUN);
    assert_int_equal(wall, recv);
    assert_string_equal(ingest_clock_cause_name(c.cause), "jump_forward");
    ingest_clock_lock(&c);
    recv += FRAME;
    assert_int_equal(ingest_clock_update(&c, 11 * FRAME + 10000000, recv, NULL), 0);
    /* A gap in the stream matched by a gap in receive time (a network pause) is fine. */
    recv += 8000000;
    assert_int_equal(ingest_clock_update(&c, 11 * FRAME + 18000000, recv, NULL), 0);
    /* Backwards by 5 s: the camera restarted its clock. */
    recv += FRAME;
    assert_int_equal(ingest_clock_update(&c, 11 * FRAME + 13000000, recv, &wall),
                     INGEST_CLOCK_NEW_RUN);
    assert_int_equal(wall, recv);
    assert_string_equal(ingest_clock_cause_name(c.cause), "jump_back");
}

static void t_wrap(void **state)
{
    (void)state;
    int64_t ext = INT64_MIN;
    uint32_t ts = 0xFFFFFFFFu - 3600u * 50u; /* 2 s before the wrap at 90 kHz */
    ingest_clock c;
    ingest_clock_init(&c);
    int64_t prev = 0;
    for (int i = 0; i < 250; i++, ts += 3600u) {
        int64_t e = ingest_clock_unwrap32(&ext, ts);
        if (i) assert_int_equal(e - prev, 3600);
        prev = e;
        int r = ingest_clock_update(&c, e * 1000000 / 90000, BASE + (int64_t)i * FRAME, NULL);
        assert_int_equal(r, i == 0 ? INGEST_CLOCK_NEW_RUN : 0);
        if (i == 0) ingest_clock_lock(&c);
    }
    assert_true(prev > (int64_t)UINT32_MAX);
    /* Small reordering backwards across the wrap stays unwrapped correctly. */
    int64_t e = ingest_clock_unwrap32(&ext, ts - 3 * 3600u);
    assert_int_equal(e, prev - 2 * 3600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_steady),       cmocka_unit_test(t_jitter_step),
        cmocka_unit_test(t_jitter_slew),  cmocka_unit_test(t_drift_300ppm),
        cmocka_unit_test(t_drift_2000ppm), cmocka_unit_test(t_jump),
        cmocka_unit_test(t_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
