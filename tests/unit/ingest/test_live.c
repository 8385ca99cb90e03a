/* ingest/live: chunk layout (prft + moof + mdat), the ring (wrap, byte cap,
 * newest keyframe), readers that fall behind, runs, wake-ups and refcounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ingest/live.h"

#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static ingest_live_chunk *sample(bool key, size_t size, int64_t wall_us)
{
    static uint8_t payload[1 << 16];
    static uint32_t seq;
    memset(payload, 0xab, sizeof(payload));
    seq++;
    ingest_live_sample s = {.track = 1, .seq = seq, .dts = 3600 * (uint64_t)seq, .duration = 3600,
                            .key = key, .wall_us = wall_us, .data = payload, .size = size};
    return ingest_live_chunk_build(&s);
}

static void t_chunk_layout(void **state)
{
    (void)state;
    uint8_t data[5] = {0, 0, 0, 1, 0x65};
    ingest_live_sample s = {.track = 1, .seq = 7, .dts = 123456789012ULL, .duration = 1024,
                            .cto = 3000, .key = true, .wall_us = 1796400000250000LL,
                            .data = data, .size = sizeof(data)};
    ingest_live_chunk *c = ingest_live_chunk_build(&s);
    assert_non_null(c);
    const uint8_t *p = c->data;
    assert_int_equal(c->len, 144 + sizeof(data));
    assert_memory_equal(p + 4, "prft", 4);
    assert_int_equal(rd32(p), 32);
    assert_int_equal(p[8], 1); /* version 1 */
    assert_int_equal(rd32(p + 12), 1);
    uint64_t ntp = rd64(p + 16);
    assert_int_equal(ntp >> 32, 1796400000ULL + 2208988800ULL);
    assert_true((ntp & 0xffffffffu) == (uint64_t)(0.25 * 4294967296.0));
    assert_int_equal(rd64(p + 24), s.dts);
    const uint8_t *moof = p + 32;
    assert_memory_equal(moof + 4, "moof", 4);
    uint32_t moof_len = rd32(moof);
    assert_memory_equal(moof + 12, "mfhd", 4);
    assert_int_equal(rd32(moof + 20), 7);
    const uint8_t *traf = moof + 24;
    assert_memory_equal(traf + 4, "traf", 4);
    assert_int_equal(rd32(traf), moof_len - 24);
    const uint8_t *tfhd = traf + 8;
    assert_int_equal(rd32(tfhd + 12), 1);
    const uint8_t *tfdt = tfhd + 16;
    assert_memory_equal(tfdt + 4, "tfdt", 4);
    assert_int_equal(rd64(tfdt + 12), s.dts);
    const uint8_t *trun = tfdt + 20;
    assert_memory_equal(trun + 4, "trun", 4);
    assert_int_equal(rd32(trun + 12), 1);
    uint32_t off = rd32(trun + 16);
    assert_int_equal(off, moof_len + 8); /* default-base-is-moof: the mdat payload */
    assert_int_equal(rd32(trun + 20), 1024);
    assert_int_equal(rd32(trun + 24), sizeof(data));
    assert_int_equal(rd32(trun + 32), 3000);
    const uint8_t *mdat = moof + moof_len;
    assert_memory_equal(mdat + 4, "mdat", 4);
    assert_int_equal(rd32(mdat), 8 + sizeof(data));
    assert_memory_equal(moof + off, data, sizeof(data));
    assert_int_equal(mdat + rd32(mdat) - c->data, c->len);
    assert_true(c->key);
    ingest_live_chunk_unref(&c);
    assert_null(c);
    /* audio: no composition offsets; never a place to start */
    s.track = 2;
    c = ingest_live_chunk_build(&s);
    assert_non_null(c);
    assert_int_equal(c->len, 140 + sizeof(data));
    assert_false(c->key);
    ingest_live_chunk_unref(&c);
}

static int wakes;
static void on_wake(void *arg)
{
    (void)arg;
    wakes++;
}

static void t_ring_and_readers(void **state)
{
    (void)state;
    ingest_live_hub *h = NULL;
    assert_int_equal(ingest_live_hub_new(&h), 0);
    ingest_live_hub_set_wake(h, on_wake, NULL);
    ingest_live *l = ingest_live_feed(h, "cam", "main");
    assert_ptr_equal(l, ingest_live_feed(h, "cam", "main"));
    assert_ptr_not_equal(l, ingest_live_feed(h, "cam", "sub"));
    assert_false(ingest_live_wanted(l));
    ingest_live_attach(l);
    assert_true(ingest_live_wanted(l));

    uint32_t run;
    uint64_t pos;
    ingest_live_chunk *init = NULL;
    assert_int_equal(ingest_live_join(l, &run, &init, &pos), 0); /* no run yet */
    static const uint8_t initb[] = "ftypmoov";
    assert_int_equal(ingest_live_run_begin(l, initb, sizeof(initb)), 0);
    wakes = 0;
    ingest_live_tick_end();
    ingest_live_tick_end(); /* nothing new: no second wake */
    assert_int_equal(wakes, 1);

    /* a GOP of 10: key + 9 */
    for (int i = 0; i < 10; i++) ingest_live_publish(l, sample(i == 0, 1000, 1000 + i));
    assert_int_equal(ingest_live_join(l, &run, &init, &pos), 1);
    assert_int_equal(init->len, sizeof(initb));
    ingest_live_chunk_unref(&init);
    bool need_key = true;
    uint64_t skipped = 0;
    ingest_live_chunk *out[64];
    ingest_live_read_opts o = {.max_chunks = 4, .max_bytes = 1 << 20, .backlog = 1 << 20};
    int n = ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped);
    assert_int_equal(n, 4);
    assert_true(out[0]->key);
    assert_int_equal(out[0]->wall_us, 1000);
    for (int i = 0; i < n; i++) ingest_live_chunk_unref(&out[i]);
    o.max_chunks = 64;
    n = ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped);
    assert_int_equal(n, 6);
    /* a chunk stays valid while a reader holds it, after the ring dropped it */
    ingest_live_chunk *held = out[5];
    for (int i = 0; i < 5; i++) ingest_live_chunk_unref(&out[i]);
    assert_int_equal(ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped), 0);
    assert_int_equal(skipped, 0);

    /* the reader stops; the producer wraps the ring several times */
    for (int i = 0; i < 3 * INGEST_LIVE_RING; i++)
        ingest_live_publish(l, sample(i % 50 == 0, 100, 2000 + i));
    assert_int_equal(held->wall_us, 1009);
    ingest_live_chunk_unref(&held);
    n = ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped);
    assert_true(n > 0);
    assert_true(out[0]->key); /* skipped to the newest keyframe */
    assert_int_equal(out[0]->wall_us, 2000 + (3 * INGEST_LIVE_RING - 1) / 50 * 50);
    assert_true(skipped > 0);
    for (int i = 0; i < n; i++) ingest_live_chunk_unref(&out[i]);
    while ((n = ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped)) > 0)
        for (int i = 0; i < n; i++) ingest_live_chunk_unref(&out[i]);

    /* too far behind in bytes: skip too */
    o.backlog = 5000;
    uint64_t before = skipped;
    for (int i = 0; i < 100; i++) ingest_live_publish(l, sample(i % 25 == 0, 100, 9000 + i));
    n = ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped);
    assert_true(n > 0);
    assert_int_equal(out[0]->wall_us, 9075);
    assert_int_equal(skipped - before, 75);
    for (int i = 0; i < n; i++) ingest_live_chunk_unref(&out[i]);

    /* the byte cap holds: big frames push the oldest out */
    for (int i = 0; i < 200; i++) ingest_live_publish(l, sample(i == 0, 60000, 1));

    /* the run ends: what is left is read, then END */
    ingest_live_run_end(l);
    o.backlog = 1 << 30;
    while ((n = ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped)) > 0)
        for (int i = 0; i < n; i++) ingest_live_chunk_unref(&out[i]);
    assert_int_equal(n, INGEST_LIVE_END);
    /* a newer run: a reader of the old one ends at once */
    assert_int_equal(ingest_live_run_begin(l, initb, sizeof(initb)), 0);
    assert_int_equal(ingest_live_read(l, run, &pos, &need_key, &o, out, &skipped),
                     INGEST_LIVE_END);
    ingest_live_detach(l);
    assert_false(ingest_live_wanted(l));
    ingest_live_hub_set_wake(h, NULL, NULL);
    ingest_live_hub_free(&h);
    assert_null(h);
}

static void count_stats(const ingest_live_stats *st, void *arg)
{
    size_t *n = arg;
    (*n)++;
    assert_non_null(st->camera);
}

static void t_stats(void **state)
{
    (void)state;
    ingest_live_hub *h = NULL;
    assert_int_equal(ingest_live_hub_new(&h), 0);
    ingest_live *l = ingest_live_feed(h, "a", "main");
    ingest_live_feed(h, "b", "sub");
    ingest_live_count(l, 1, 5, 1000);
    size_t n = 0;
    ingest_live_hub_foreach(h, count_stats, &n);
    assert_int_equal(n, 2);
    ingest_live_hub_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_chunk_layout),
        cmocka_unit_test(t_ring_and_readers),
        cmocka_unit_test(t_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
