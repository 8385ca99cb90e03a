/*
 * Unit tests of the fragment table's stored forms (index/frags.c): the packed
 * form round-trips any table exactly, malformed blobs are rejected whole, the
 * writer packs a table at the segment's finish (and never appends to it
 * after), and the tables of a file from before v11 keep their form.
 */
#include "index/index.h"
#include "index/index_internal.h"

#include "common/common.h"
#include "tests/unit/index/index_files.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define S (INT64_C(1000000))
#define T0 (INT64_C(1763881200) * S)

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-test-frags-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/index.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    index_files_remove(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A recorder's table: fragments back to back after the init segment, GOPs
 * of 2 s cut in two, durations and sizes wobbling a little. */
static size_t make_table(index_fragment *fr, size_t n, uint64_t seed)
{
    uint64_t off = 1187;
    int64_t t = T0 + (int64_t)(seed % 1000);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        fr[i].offset = off;
        fr[i].size = 200000 + (uint32_t)(seed >> 48);
        fr[i].flags = i % 2 == 0;
        fr[i].start_us = t;
        fr[i].end_us = t + 1000000 + (int64_t)((seed >> 20) % 80) - 40;
        off += fr[i].size;
        t = fr[i].end_us;
    }
    return n;
}

static void assert_same(const index_fragment *a, const index_fragment *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(a[i].offset == b[i].offset);
        assert_int_equal(a[i].size, b[i].size);
        assert_int_equal(a[i].flags, b[i].flags);
        assert_true(a[i].start_us == b[i].start_us);
        assert_true(a[i].end_us == b[i].end_us);
    }
}

static void round_trip(const index_fragment *fr, size_t n, size_t *packed_len)
{
    uint8_t *b = NULL;
    size_t len = 0, m = 99;
    index_fragment *got = NULL;
    assert_int_equal(index__frags_encode(fr, n, &b, &len), 0);
    assert_non_null(b);
    assert_int_equal(b[0], INDEX__FRAGS_PACKED);
    assert_true(len <= index__frags_packed_max(n));
    assert_int_equal(index__frags_decode(b, len, &got, &m), 0);
    assert_int_equal(m, n);
    if (n == 0) assert_null(got);
    assert_same(got, fr, n);
    free(got);
    free(b);
    if (packed_len) *packed_len = len;
}

static void test_round_trip(void **state)
{
    (void)state;
    index_fragment fr[64];
    size_t len = 0;
    memset(fr, 0, sizeof(fr));
    round_trip(fr, 0, NULL);
    round_trip(fr, make_table(fr, 1, 1), NULL);
    round_trip(fr, make_table(fr, 60, 2), &len);
    assert_true(len < 60 * 10); /* the point of it: a third of the raw 32 bytes or less */

    /* Whatever the values: gaps, overlaps, backwards times, extremes. */
    index_fragment odd[] = {
        {UINT64_MAX, UINT32_MAX, UINT32_MAX, INT64_MAX, INT64_MIN},
        {0, 0, 0, INT64_MIN, INT64_MAX},
        {(uint64_t)1 << 40, 50000, 0x80000001u, -5, -10},
        {((uint64_t)1 << 40) + 49999, 50001, 1, 0, 0}, /* overlaps the one before */
        {12, 1, 2, T0, T0 + 2 * S},
        {UINT64_MAX - 1, 7, 1, T0 - 3600 * S, T0 + 3600 * S},
    };
    round_trip(odd, VG_ARRAY_SIZE(odd), NULL);
    for (uint64_t seed = 1; seed < 200; seed++) {
        uint64_t x = seed * 0x9E3779B97F4A7C15ull;
        size_t n = 1 + (size_t)(seed % 64);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            fr[i].offset = x;
            fr[i].size = (uint32_t)(x >> 17);
            fr[i].flags = (uint32_t)(x >> 3) & (seed % 3 ? 1u : 0xffu);
            fr[i].start_us = (int64_t)(x * 31);
            fr[i].end_us = (int64_t)(x >> (seed % 64));
        }
        round_trip(fr, n, NULL);
    }

    /* The raw form of an open segment: a form byte, then 32-byte records. */
    make_table(fr, 3, 3);
    uint8_t raw[1 + 3 * INDEX__FRAG_BYTES];
    raw[0] = INDEX__FRAGS_RAW;
    for (int i = 0; i < 3; i++)
        index__pack_fragment(&fr[i], raw + 1 + i * INDEX__FRAG_BYTES);
    index_fragment *got = NULL;
    size_t n = 0;
    assert_int_equal(index__frags_decode(raw, sizeof(raw), &got, &n), 0);
    assert_int_equal(n, 3);
    assert_same(got, fr, 3);
    free(got);
    assert_int_equal(index__frags_decode(raw, 1, &got, &n), 0); /* none yet */
    assert_int_equal(n, 0);
    assert_null(got);
    assert_int_equal(index__frags_decode_legacy(raw + 1, sizeof(raw) - 1, &got, &n), 0);
    assert_int_equal(n, 3);
    assert_same(got, fr, 3);
    free(got);
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Rewrites b's trailing checksum after a deliberate change. */
static void reseal(uint8_t *b, size_t len)
{
    uint32_t h = fnv(b, len - 4);
    for (int i = 0; i < 4; i++) b[len - 4 + (size_t)i] = (uint8_t)(h >> (8 * i));
}

static void expect_bad(const uint8_t *b, size_t len)
{
    index_fragment *got = (index_fragment *)&got;
    size_t n = 99;
    assert_int_equal(index__frags_decode(b, len, &got, &n), -EBADMSG);
    assert_null(got);
    assert_int_equal(n, 0);
}

static void test_corrupt(void **state)
{
    (void)state;
    index_fragment fr[60];
    uint8_t *b = NULL, *c = NULL;
    size_t len = 0;
    make_table(fr, 60, 9);
    assert_int_equal(index__frags_encode(fr, 60, &b, &len), 0);
    c = malloc(len + 16);
    assert_non_null(c);

    expect_bad(b, 0);
    /* Cut anywhere. */
    for (size_t k = 1; k < len; k++) expect_bad(b, k);
    /* Any bit flipped anywhere after the form byte. */
    for (size_t k = 1; k < len; k++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(c, b, len);
            c[k] ^= (uint8_t)(1 << bit);
            expect_bad(c, len);
        }
    /* Unknown forms. */
    memcpy(c, b, len);
    for (int form = 2; form < 256; form++) {
        c[0] = (uint8_t)form;
        expect_bad(c, len);
    }
    /* A byte more, even with a matching checksum. */
    memcpy(c, b, len - 4);
    c[len - 4] = 0;
    reseal(c, len + 1);
    expect_bad(c, len + 1);
    /* A count beyond what the bytes can hold (no allocation of it). */
    uint8_t huge[] = {INDEX__FRAGS_PACKED, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 0, 0};
    reseal(huge, sizeof(huge));
    expect_bad(huge, sizeof(huge));
    /* An unknown tag bit, and a flags word that repeats only bit 0. */
    uint8_t tag[] = {INDEX__FRAGS_PACKED, 1, 0x10, 0, 0, 0, 0, 0, 0};
    reseal(tag, sizeof(tag));
    expect_bad(tag, sizeof(tag));
    uint8_t flags[] = {INDEX__FRAGS_PACKED, 1, 0x09, 1, 0, 0, 0, 0, 0, 0};
    reseal(flags, sizeof(flags));
    expect_bad(flags, sizeof(flags));
    /* A size that leaves 32 bits. */
    uint8_t size[] = {INDEX__FRAGS_PACKED, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x20, 0, 0, 0, 0, 0};
    reseal(size, sizeof(size));
    expect_bad(size, sizeof(size));
    /* A size delta far beyond 32 bits (INT64_MAX, zigzagged). */
    uint8_t over[18] = {INDEX__FRAGS_PACKED, 1, 0};
    {
        size_t k = 3;
        uint64_t z = UINT64_MAX - 1; /* zigzag(INT64_MAX) */
        while (z >= 0x80) over[k++] = (uint8_t)(z | 0x80), z >>= 7;
        over[k++] = (uint8_t)z;
        over[k++] = 0; /* duration delta */
        assert_int_equal(k + 4, sizeof(over));
    }
    reseal(over, sizeof(over));
    expect_bad(over, sizeof(over));
    /* A varint of more than 64 bits. */
    uint8_t wide[] = {INDEX__FRAGS_PACKED, 1, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                      0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0};
    reseal(wide, sizeof(wide));
    expect_bad(wide, sizeof(wide));
    /* Raw records that are not whole. */
    memset(c, 0, 1 + 33);
    expect_bad(c, 1 + 33);
    free(c);
    free(b);
}

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The form byte of segment id's table (-1: no row). */
static int form_of(const char *path, int64_t id)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT CASE substr(frags, 1, 1) WHEN X'00' THEN 0 "
             "WHEN X'01' THEN 1 ELSE 99 END FROM segment_fragments WHERE segment_id = %lld), -1)",
             (long long)id);
    return (int)sql_int(path, sql);
}

static void get_frags(index_reader *r, int64_t id, const index_fragment *want, size_t n)
{
    index_fragment *got = NULL;
    size_t m = 0;
    assert_int_equal(index_get_fragments(r, id, &got, &m), 0);
    assert_int_equal(m, n);
    assert_same(got, want, n);
    free(got);
}

/* A finished segment's table: what was written, one entry a GOP. */
static void get_grouped(index_reader *r, int64_t id, const index_fragment *written, size_t n)
{
    index_fragment *want = malloc((n ? n : 1) * sizeof(*want));
    assert_non_null(want);
    memcpy(want, written, n * sizeof(*want));
    size_t m = index__frags_group(want, n);
    assert_true(m < n || n < 2);
    get_frags(r, id, want, m);
    free(want);
}

static index_segment make_seg(const char *camera, int64_t start_us)
{
    index_segment s;
    memset(&s, 0, sizeof(s));
    snprintf(s.camera, sizeof(s.camera), "%s", camera);
    s.start_us = s.end_us = s.run_start_us = start_us;
    snprintf(s.pool, sizeof(s.pool), "main");
    snprintf(s.path, sizeof(s.path), "%s/%lld.mp4", camera, (long long)start_us);
    snprintf(s.codec, sizeof(s.codec), "h264");
    return s;
}

/* The writer keeps an open segment's table raw and packs it at the finish. */
static void test_writer_packs_at_finish(void **state)
{
    fixture *f = *state;
    index_db *db = NULL;
    index_reader *r = NULL;
    index_fragment fr[30];
    make_table(fr, 30, 5);
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);
    index_segment s = make_seg("cam1", T0);
    int64_t id = index_segment_begin(db, &s);
    for (int i = 0; i < 20; i++)
        index_segment_progress(db, id, fr[i].end_us, (int64_t)(fr[i].offset + fr[i].size), &fr[i]);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(form_of(f->path, id), INDEX__FRAGS_RAW);
    get_frags(r, id, fr, 20);
    /* The rest in the same batch as the finish. */
    for (int i = 20; i < 30; i++)
        index_segment_progress(db, id, fr[i].end_us, (int64_t)(fr[i].offset + fr[i].size), &fr[i]);
    index_segment_finish(db, id, fr[29].end_us, (int64_t)(fr[29].offset + fr[29].size), NULL);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(form_of(f->path, id), INDEX__FRAGS_PACKED);
    get_grouped(r, id, fr, 30);
    /* A late report never corrupts the packed table. */
    index_segment_progress(db, id, fr[29].end_us, 1, &fr[0]);
    assert_int_equal(index_flush(db), 0);
    get_grouped(r, id, fr, 30);

    /* A segment finished without fragments has no table. */
    s = make_seg("cam1", T0 + 60 * S);
    int64_t empty = index_segment_begin(db, &s);
    index_segment_finish(db, empty, T0 + 61 * S, 0, NULL);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(form_of(f->path, empty), -1);
    get_frags(r, empty, fr, 0);
    index_reader_close(&r);
    index_close(&db);
}

/* A file of schema version 10 (raw tables without a form byte) is read as it
 * is, before and after index_open()'s migration, which rewrites none of it. */
static void test_migration(void **state)
{
    fixture *f = *state;
    sqlite3 *c = NULL;
    index_fragment closed[40], open[7];
    make_table(closed, 40, 11);
    make_table(open, 7, 12);
    uint8_t raw_closed[40 * INDEX__FRAG_BYTES], raw_open[7 * INDEX__FRAG_BYTES], bad[33] = {0};
    for (int i = 0; i < 40; i++) index__pack_fragment(&closed[i], raw_closed + i * INDEX__FRAG_BYTES);
    for (int i = 0; i < 7; i++) index__pack_fragment(&open[i], raw_open + i * INDEX__FRAG_BYTES);

    assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
    assert_int_equal(index__migrate_to(c, f->path, INDEX__FRAGS_VERSION - 1), 0);
    sqlite3_stmt *seg = NULL, *fs = NULL;
    assert_int_equal(sqlite3_prepare_v2(c,
                                        "INSERT INTO segments (id, camera, start_us, end_us, "
                                        "run_start_us, pool, path, open) VALUES (?1, 'cam1', ?2, "
                                        "?2, ?2, 'main', 'p', ?3)",
                                        -1, &seg, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c, "INSERT INTO segment_fragments VALUES (?1, ?2)", -1,
                                        &fs, NULL),
                     SQLITE_OK);
    /* 1..600 closed, 601 open, 602 closed but malformed, 603 open without a
     * fragment yet, 700 a table without its segment row. */
    assert_int_equal(sqlite3_exec(c, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int64_t id = 1; id <= 603; id++) {
        sqlite3_bind_int64(seg, 1, id);
        sqlite3_bind_int64(seg, 2, T0 + id * 60 * S);
        sqlite3_bind_int(seg, 3, id == 601 || id == 603);
        assert_int_equal(sqlite3_step(seg), SQLITE_DONE);
        sqlite3_reset(seg);
    }
    for (int64_t id = 1; id <= 700; id++) {
        if (id > 602 && id < 700) continue;
        sqlite3_bind_int64(fs, 1, id);
        if (id == 601)
            sqlite3_bind_blob(fs, 2, raw_open, sizeof(raw_open), SQLITE_STATIC);
        else if (id == 602)
            sqlite3_bind_blob(fs, 2, bad, sizeof(bad), SQLITE_STATIC);
        else
            sqlite3_bind_blob(fs, 2, raw_closed, sizeof(raw_closed), SQLITE_STATIC);
        assert_int_equal(sqlite3_step(fs), SQLITE_DONE);
        sqlite3_reset(fs);
    }
    assert_int_equal(sqlite3_exec(c, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_finalize(seg);
    sqlite3_finalize(fs);
    sqlite3_close(c);

    /* Before the migration: a reader (vigilctl on an old file) reads both. */
    index_reader *r = NULL;
    assert_int_equal(index_reader_open(f->path, &r), 0);
    get_frags(r, 1, closed, 40);
    get_frags(r, 601, open, 7);
    index_reader_close(&r);

    /* The migration rewrites no table: it marks where the new form starts. */
    index_db *db = NULL;
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), index__schema_version());
    assert_int_equal(sql_int(f->path, "SELECT value FROM meta WHERE key = '"
                                      INDEX__FRAGS_LEGACY_KEY "'"),
                     701);
    assert_int_equal(sql_int(f->path, "SELECT length(frags) FROM segment_fragments WHERE "
                                      "segment_id = 1"),
                     sizeof(raw_closed));

    assert_int_equal(index_reader_open(f->path, &r), 0);
    for (int64_t id = 1; id <= 600; id += 97) get_frags(r, id, closed, 40);
    get_frags(r, 600, closed, 40);
    get_frags(r, 700, closed, 40);
    get_frags(r, 601, open, 7);
    index_fragment *got = NULL;
    size_t n = 0;
    assert_int_equal(index_get_fragments(r, 602, &got, &n), -EBADMSG);

    /* The open segment of the old form goes on growing in it, and keeps it
     * when finished. */
    index_fragment more[8];
    memcpy(more, open, sizeof(open));
    more[7] = open[6];
    more[7].offset = open[6].offset + open[6].size;
    more[7].start_us = open[6].end_us;
    more[7].end_us = open[6].end_us + S;
    index_segment_progress(db, 601, more[7].end_us, 1, &more[7]);
    index_segment_finish(db, 601, more[7].end_us, 1, NULL);
    /* A segment of the old era that had no table yet gets one of the old form. */
    index_segment_progress(db, 603, more[7].end_us, 1, &more[7]);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(sql_int(f->path, "SELECT length(frags) FROM segment_fragments WHERE "
                                      "segment_id = 601"),
                     sizeof(raw_open) + INDEX__FRAG_BYTES);
    get_frags(r, 601, more, 8);
    assert_int_equal(sql_int(f->path, "SELECT length(frags) FROM segment_fragments WHERE "
                                      "segment_id = 603"),
                     INDEX__FRAG_BYTES);
    get_frags(r, 603, &more[7], 1);

    /* New segments have the new form: packed at their finish. */
    index_segment s = make_seg("cam1", T0 + 1000 * 60 * S);
    int64_t id = index_segment_begin(db, &s);
    assert_true(id > 700);
    for (int i = 0; i < 7; i++)
        index_segment_progress(db, id, open[i].end_us, 1, &open[i]);
    index_segment_finish(db, id, open[6].end_us, 1, NULL);
    assert_int_equal(index_flush(db), 0);
    assert_int_equal(form_of(f->path, id), INDEX__FRAGS_PACKED);
    get_grouped(r, id, open, 7);
    index_reader_close(&r);
    index_close(&db);

    /* Reopening changes nothing; and a file whose tables were all converted
     * by an earlier build of v11 (no mark) reads every table as the new form. */
    assert_int_equal(index_open(f->path, &db), 0);
    assert_int_equal(index_reader_open(f->path, &r), 0);
    get_frags(r, 1, closed, 40);
    get_grouped(r, id, open, 7);
    index_reader_close(&r);
    index_close(&db);
    assert_int_equal(sqlite3_open(f->path, &c), SQLITE_OK);
    assert_int_equal(sqlite3_exec(c, "DELETE FROM meta WHERE key = '" INDEX__FRAGS_LEGACY_KEY
                                     "'; DELETE FROM segment_fragments WHERE segment_id <= 700",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(c);
    assert_int_equal(index_reader_open(f->path, &r), 0);
    get_grouped(r, id, open, 7);
    index_reader_close(&r);
}

/* One entry a GOP: a keyframe fragment takes in the pieces that continue it,
 * and nothing else. */
static void test_group(void **state)
{
    (void)state;
    index_fragment fr[16], g[16];
    size_t n = make_table(fr, 8, 21); /* GOPs of two pieces */
    memcpy(g, fr, sizeof(fr));
    assert_int_equal(index__frags_group(g, n), 4);
    for (int i = 0; i < 4; i++) {
        assert_true(g[i].offset == fr[2 * i].offset);
        assert_int_equal(g[i].size, fr[2 * i].size + fr[2 * i + 1].size);
        assert_int_equal(g[i].flags, 1);
        assert_true(g[i].start_us == fr[2 * i].start_us);
        assert_true(g[i].end_us == fr[2 * i + 1].end_us);
    }
    /* A long GOP in many pieces is one entry. */
    make_table(fr, 8, 22);
    for (int i = 1; i < 8; i++) fr[i].flags = 0;
    memcpy(g, fr, sizeof(fr));
    assert_int_equal(index__frags_group(g, 8), 1);
    assert_true(g[0].end_us == fr[7].end_us);
    assert_true(g[0].offset + g[0].size == fr[7].offset + fr[7].size);
    /* What does not continue is kept apart: leading pieces without a
     * keyframe (one entry of their own), a hole in the file, a hole in time,
     * other flag bits, and an entry that would pass 4 GiB. */
    static const uint32_t flags[12] = {0, 0, 1, 0, 0, 0, 0, 0, 4, 4, 1, 0};
    uint64_t off = 1000;
    int64_t t = T0;
    for (int i = 0; i < 12; i++) {
        if (i == 4) off += 1;     /* a hole in the file before 4 */
        if (i == 6) t += 1;       /* a hole in time before 6 */
        fr[i] = (index_fragment){.offset = off, .size = i == 10 ? UINT32_MAX - 100 : 1000,
                                 .flags = flags[i], .start_us = t, .end_us = t + S};
        off += fr[i].size;
        t += S;
    }
    memcpy(g, fr, sizeof(fr));
    assert_int_equal(index__frags_group(g, 12), 7);
    static const int first[7] = {0, 2, 4, 6, 8, 10, 11}, last[7] = {1, 3, 5, 7, 9, 10, 11};
    for (int k = 0; k < 7; k++) {
        assert_true(g[k].offset == fr[first[k]].offset);
        assert_true(g[k].offset + g[k].size == fr[last[k]].offset + fr[last[k]].size);
        assert_int_equal(g[k].flags, fr[first[k]].flags);
        assert_true(g[k].start_us == fr[first[k]].start_us);
        assert_true(g[k].end_us == fr[last[k]].end_us);
    }
    /* Nothing and one are themselves. */
    assert_int_equal(index__frags_group(g, 0), 0);
    assert_int_equal(index__frags_group(fr, 1), 1);
}

int main(void)
{
    vg_log_set_level(LOG_CRIT); /* malformed tables are logged on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_group),
        cmocka_unit_test_setup_teardown(test_writer_packs_at_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
