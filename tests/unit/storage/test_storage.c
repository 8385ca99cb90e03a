/* storage/: path layout, pool identity handling, segment write/hash/close, O_EXCL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "fake_index.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    fake_index_reset();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-test-storage-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void t_relpath(void **state)
{
    (void)state;
    char p[256];
    int64_t t;
    assert_int_equal(vg_time_parse("2026-11-23T00:34:48.123456Z", &t), 0);
    assert_int_equal(storage_segment_relpath("cam1", t, p, sizeof(p)), 0);
    assert_string_equal(p, "cam1/2026/11/23/00/20261123T003448.123456Z.mp4");
    /* Last microsecond of a year, and the first of the next. */
    assert_int_equal(vg_time_parse("2025-12-31T23:59:59.999999Z", &t), 0);
    assert_int_equal(storage_segment_relpath("c", t, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2025/12/31/23/20251231T235959.999999Z.mp4");
    assert_int_equal(storage_segment_relpath("c", t + 1, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2026/01/01/00/20260101T000000.000000Z.mp4");
    /* Hour boundary; offsets are converted to UTC. */
    assert_int_equal(vg_time_parse("2026-03-01T07:59:59+07:00", &t), 0);
    assert_int_equal(storage_segment_relpath("c", t, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2026/03/01/00/20260301T005959.000000Z.mp4");
    assert_int_equal(storage_segment_relpath("c", t + 1000000, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2026/03/01/01/20260301T010000.000000Z.mp4");
    /* Leap day. */
    assert_int_equal(vg_time_parse("2028-02-29T12:00:00Z", &t), 0);
    assert_int_equal(storage_segment_relpath("c", t, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2028/02/29/12/20280229T120000.000000Z.mp4");
    assert_int_equal(storage_segment_relpath("c", 0, p, 8), -ENAMETOOLONG);
    assert_int_equal(storage_segment_relpath("a/b", 0, p, sizeof(p)), -EINVAL);
}

static void make_cfg(config *cfg, config_pool *pools, char paths[][PATH_MAX], int n)
{
    static char *ids[] = {"main", "second", "third"};
    memset(cfg, 0, sizeof(*cfg));
    memset(pools, 0, sizeof(*pools) * (size_t)n);
    for (int i = 0; i < n; i++) {
        pools[i].id = ids[i];
        pools[i].path = paths[i];
    }
    cfg->pools = pools;
    cfg->npools = (size_t)n;
}

static void t_pools(void **state)
{
    (void)state;
    char paths[3][PATH_MAX];
    config cfg;
    config_pool pools[3];
    storage *st = NULL;
    /* New (missing) dir; existing empty dir; non-empty dir without identity. */
    snprintf(paths[0], PATH_MAX, "%s/new/pool", tmpdir);
    snprintf(paths[1], PATH_MAX, "%s/wrongid", tmpdir);
    snprintf(paths[2], PATH_MAX, "%s/nonempty", tmpdir);
    char f[PATH_MAX + 32];
    mkdir(paths[1], 0755);
    snprintf(f, sizeof(f), "%s/.vigil-pool", paths[1]);
    FILE *fp = fopen(f, "w");
    fputs("vigil-pool other\n", fp);
    fclose(fp);
    mkdir(paths[2], 0755);
    snprintf(f, sizeof(f), "%s/somefile", paths[2]);
    fp = fopen(f, "w");
    fclose(fp);

    make_cfg(&cfg, pools, paths, 3);
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);
    assert_int_equal(storage_pool_usable(st, "main"), 1);
    assert_int_equal(storage_pool_usable(st, "second"), 0);
    assert_int_equal(storage_pool_usable(st, "third"), 0);
    assert_int_equal(storage_pool_usable(st, "nope"), -ENOENT);
    size_t usable = 0;
    assert_int_equal(storage_pool_count(st, &usable), 3);
    assert_int_equal(usable, 1);
    assert_int_equal(fake_index_count_events("pool_unavailable"), 2);

    char *id = NULL;
    snprintf(f, sizeof(f), "%s/.vigil-pool", paths[0]);
    assert_int_equal(vg_read_small_file(f, &id), 0);
    assert_string_equal(id, "vigil-pool main");
    free(id);

    /* Writing to an unusable pool is refused. */
    storage_segment *seg = NULL;
    storage_segment_info info = {.camera = "cam", .pool = "second", .start_us = 1000000};
    assert_int_equal(storage_segment_create(st, &info, &seg), -ENODEV);
    assert_null(seg);
    storage_close(&st);
    assert_null(st);

    /* Reopen: the identity now matches; no new events. */
    fake_index_reset();
    make_cfg(&cfg, pools, paths, 1);
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);
    assert_int_equal(storage_pool_usable(st, "main"), 1);
    assert_int_equal(fake_db.nevents, 0);
    storage_close(&st);
    storage_close(&st); /* accepts NULL */
}

static void t_segment(void **state)
{
    (void)state;
    char paths[1][PATH_MAX];
    config cfg;
    config_pool pools[1];
    storage *st = NULL;
    storage_segment *seg = NULL, *seg2 = NULL;
    snprintf(paths[0], PATH_MAX, "%s/p", tmpdir);
    make_cfg(&cfg, pools, paths, 1);
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);

    int64_t t0;
    assert_int_equal(vg_time_parse("2026-11-23T23:59:59.5Z", &t0), 0);
    storage_segment_info info = {.camera = "cam1", .pool = NULL, .start_us = t0,
                                 .run_start_us = t0 - 5000000, .codec = "h264",
                                 .audio_codec = "aac", .width = 640, .height = 360};
    assert_int_equal(storage_segment_create(st, &info, &seg), 0);
    assert_non_null(seg);
    int64_t id = storage_segment_id(seg);
    assert_true(id > 0);
    assert_int_equal(fake_db.nsegs, 1);
    assert_string_equal(fake_db.segs[0].path, "cam1/2026/11/23/23/20261123T235959.500000Z.mp4");
    assert_string_equal(fake_db.segs[0].pool, "main");
    assert_int_equal(fake_db.segs[0].open, 1);
    assert_int_equal(fake_db.segs[0].run_start_us, t0 - 5000000);
    assert_string_equal(fake_db.segs[0].codec, "h264");

    /* O_EXCL: the same start cannot be created twice. */
    assert_int_equal(storage_segment_create(st, &info, &seg2), -EEXIST);
    assert_null(seg2);

    uint8_t init[100], frag1[70000], frag2[3];
    for (size_t i = 0; i < sizeof(init); i++) init[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof(frag1); i++) frag1[i] = (uint8_t)(i * 7);
    memcpy(frag2, "xyz", 3);
    assert_int_equal(storage_segment_append(seg, init, sizeof(init), NULL, 0), 0);
    index_fragment fr = {.flags = 1, .start_us = t0, .end_us = t0 + 2000000};
    assert_int_equal(storage_segment_append(seg, frag1, sizeof(frag1), &fr, t0 + 2000000), 0);
    assert_int_equal(fr.offset, 100);
    assert_int_equal(fr.size, sizeof(frag1));
    index_fragment fr2 = {.flags = 0, .start_us = t0 + 2000000, .end_us = t0 + 2500000};
    assert_int_equal(storage_segment_append(seg, frag2, sizeof(frag2), &fr2, t0 + 2500000), 0);
    assert_int_equal(fr2.offset, 100 + sizeof(frag1));
    assert_int_equal(fake_db.nfrags, 2);
    assert_int_equal(fake_db.segs[0].end_us, t0 + 2500000);
    assert_int_equal(storage_segment_bytes(seg), 100 + sizeof(frag1) + 3);

    char abs[PATH_MAX];
    snprintf(abs, sizeof(abs), "%s", storage_segment_path(seg));
    assert_int_equal(storage_segment_close(&seg, t0 + 2600000), 0);
    assert_null(seg);
    assert_int_equal(fake_db.nfinished, 1);
    assert_int_equal(fake_db.segs[0].open, 0);
    assert_int_equal(fake_db.segs[0].end_us, t0 + 2600000);
    assert_int_equal(fake_db.segs[0].bytes, 100 + sizeof(frag1) + 3);

    /* The SHA-256 in the index is the SHA-256 of the file. */
    char *buf = malloc(sizeof(init) + sizeof(frag1) + sizeof(frag2) + 1);
    FILE *fp = fopen(abs, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(init) + sizeof(frag1) + sizeof(frag2) + 1, fp);
    fclose(fp);
    assert_int_equal(n, sizeof(init) + sizeof(frag1) + sizeof(frag2));
    uint8_t want[32];
    crypto_hash_sha256(want, (const unsigned char *)buf, n);
    assert_memory_equal(want, fake_db.segs[0].sha256, 32);
    free(buf);

    char rel[256], abs2[PATH_MAX];
    assert_int_equal(storage_segment_relpath("cam1", t0, rel, sizeof(rel)), 0);
    assert_int_equal(storage_abspath(st, "main", rel, abs2, sizeof(abs2)), 0);
    assert_string_equal(abs, abs2);
    assert_int_equal(storage_abspath(st, "zzz", rel, abs2, sizeof(abs2)), -ENOENT);
    assert_int_equal(storage_segment_close(&seg, 0), 0); /* accepts NULL */
    storage_close(&st);
}

int main(void)
{
    vg_log_set_level(LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_relpath),
        cmocka_unit_test_setup_teardown(t_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(t_segment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
