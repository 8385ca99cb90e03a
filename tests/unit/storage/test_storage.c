/* storage/: path layout, pool identity handling, segment write/hash/close, O_EXCL,
 * direct I/O (O_DIRECT) and buffered writes. */
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
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
    vg_sha256_digest(buf, n, want);
    assert_memory_equal(want, fake_db.segs[0].sha256, 32);
    free(buf);

    char rel[256], abs2[PATH_MAX];
    assert_int_equal(vg_segment_relpath("cam1", t0, rel, sizeof(rel)), 0);
    assert_int_equal(storage_abspath(st, "main", rel, abs2, sizeof(abs2)), 0);
    assert_string_equal(abs, abs2);
    assert_int_equal(storage_abspath(st, "zzz", rel, abs2, sizeof(abs2)), -ENOENT);
    assert_int_equal(storage_segment_close(&seg, 0), 0); /* accepts NULL */
    storage_close(&st);
}

/* ---- direct I/O (O_DIRECT through an aligned staging buffer) ----
 * Random chunks, 1 byte .. 300 KB, through storage_segment_append and _appendv
 * with several iovecs, into two segments open at once (interleaved on one
 * thread: one staging buffer, two tails); after every append the file's first
 * storage_segment_bytes() bytes must be what was written; after close the size,
 * the content and the SHA-256 the index got must match. On a disk filesystem
 * (a tmpfs may refuse O_DIRECT; t_direct_io_tmpfs runs the same on /dev/shm,
 * whichever path it takes). Random, seeded from the clock unless VIGIL_SEED is
 * set; the seed is printed. */

#define DIO_BLOCK 4096
#define DIO_MAXCHUNK (300 * 1000)

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void rng_seed(void)
{
    const char *e = getenv("VIGIL_SEED");
    static uint64_t calls;
    uint64_t z = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    z += 0x9E3779B97F4A7C15ULL * ++calls;
    if (e) z = strtoull(e, NULL, 0);
    fprintf(stderr, "direct I/O test: VIGIL_SEED=%llu\n", (unsigned long long)z);
    /* splitmix64 of the seed: close seeds give unrelated streams */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    rng_state = z ^ (z >> 31);
    if (!rng_state) rng_state = 1;
}

/* A chunk length: log-uniform 1 .. DIO_MAXCHUNK, with block-related edge cases. */
static size_t rand_len(size_t written)
{
    switch (rng() % 16) {
    case 0: return 1;
    case 1: return DIO_MAXCHUNK;
    case 2: return DIO_BLOCK;
    case 3: /* ends the file exactly on a block boundary */
        return DIO_BLOCK - written % DIO_BLOCK;
    case 4: return DIO_BLOCK - written % DIO_BLOCK + DIO_BLOCK * (1 + rng() % 20);
    case 5: return DIO_BLOCK - 1 + rng() % 3;
    default: { /* about log-uniform */
        size_t e = (size_t)(rng() % 19), n = ((size_t)1 << e) + (size_t)(rng() % ((size_t)1 << e));
        return n > DIO_MAXCHUNK ? DIO_MAXCHUNK : n;
    }
    }
}

/* Makes a fresh directory on a disk filesystem: /var/tmp, /tmp, else the
 * build dir (or the working directory). */
static int setup_disk(void **state)
{
    (void)state;
    char cwd[PATH_MAX];
    fake_index_reset();
    const char *bases[4] = {"/var/tmp", "/tmp", getenv("VIGIL_BUILD"), getcwd(cwd, sizeof(cwd))};
    tmpdir[0] = 0;
    for (int i = 0; i < 4 && !tmpdir[0]; i++) {
        struct statfs sf;
        if (!bases[i] || strlen(bases[i]) > 200 || statfs(bases[i], &sf) != 0 ||
            sf.f_type == TMPFS_MAGIC)
            continue;
        snprintf(tmpdir, sizeof(tmpdir), "%.200s/vigil-test-dio-XXXXXX", bases[i]);
        if (!mkdtemp(tmpdir)) tmpdir[0] = 0;
    }
    if (!tmpdir[0]) return -1; /* nothing but tmpfs around */
    struct statfs sf;
    if (statfs(tmpdir, &sf) != 0) return -1;
    fprintf(stderr, "direct I/O test dir %s (f_type 0x%lx)\n", tmpdir, (unsigned long)sf.f_type);
    return 0;
}

/* The open-file flags (/proc/self/fdinfo) of the fd this process has on path, -1 if none. */
static long fd_flags_of(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long flags = -1;
    assert_non_null(d);
    while ((e = readdir(d)) && flags < 0) {
        char l[300], target[PATH_MAX];
        if (e->d_name[0] == '.') continue;
        snprintf(l, sizeof(l), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(l, target, sizeof(target) - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strcmp(target, path) != 0) continue;
        snprintf(l, sizeof(l), "/proc/self/fdinfo/%s", e->d_name);
        FILE *f = fopen(l, "r");
        char line[128];
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "flags: %lo", &flags) == 1) break;
        if (f) fclose(f);
    }
    closedir(d);
    return flags;
}

typedef struct dio_seg {
    storage_segment *seg;
    int64_t id;
    char path[PATH_MAX];
    uint8_t *want; /* everything appended so far */
    size_t n, cap;
    int rfd;       /* read-only fd for pread */
    int nfrags;
    int appends;
} dio_seg;

/* The file holds want[0..n) at its start; while open, at most a block more. */
static uint8_t *rbuf;
static size_t rcap;

static void rbuf_need(size_t n)
{
    if (n <= rcap) return;
    rcap = n * 2;
    free(rbuf);
    rbuf = malloc(rcap);
    assert_non_null(rbuf);
}

static void dio_check_open(dio_seg *d, bool direct)
{
    struct stat sb;
    assert_int_equal(storage_segment_bytes(d->seg), (int64_t)d->n);
    assert_int_equal(fstat(d->rfd, &sb), 0);
    if (direct) {
        /* padded to the block, never short */
        assert_true((size_t)sb.st_size >= d->n);
        assert_true((size_t)sb.st_size < d->n + DIO_BLOCK);
        assert_int_equal(sb.st_size % DIO_BLOCK, 0);
    } else {
        assert_int_equal(sb.st_size, (off_t)d->n);
    }
    rbuf_need((size_t)sb.st_size);
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t r = pread(d->rfd, rbuf + got, (size_t)sb.st_size - got, (off_t)got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    if (memcmp(rbuf, d->want, d->n) != 0) {
        size_t i = 0;
        while (rbuf[i] == d->want[i]) i++;
        fail_msg("%s: after %d appends (%zu bytes) first difference at byte %zu", d->path,
                 d->appends, d->n, i);
    }
    for (size_t i = d->n; i < (size_t)sb.st_size; i++) assert_int_equal(rbuf[i], 0);
}

static void dio_append(dio_seg *d, bool direct, int64_t t0)
{
    size_t len = rand_len(d->n);
    if (d->n + len > d->cap) {
        d->cap = (d->n + len) * 2;
        d->want = realloc(d->want, d->cap);
        assert_non_null(d->want);
    }
    uint8_t *p = d->want + d->n;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng();
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
    /* Every other append is a fragment (the index is told), the rest init-like. */
    bool is_frag = rng() % 2;
    index_fragment fr = {.flags = 1, .start_us = t0 + d->appends * 1000,
                         .end_us = t0 + (d->appends + 1) * 1000};
    int r;
    if (rng() % 2) {
        r = storage_segment_append(d->seg, p, len, is_frag ? &fr : NULL, fr.end_us);
    } else {
        /* split into 1..STORAGE_IOV_MAX pieces, some empty */
        struct iovec iov[STORAGE_IOV_MAX];
        int cnt = 1 + (int)(rng() % (rng() % 4 ? 6 : STORAGE_IOV_MAX));
        size_t o = 0;
        for (int i = 0; i < cnt; i++) {
            size_t left = len - o;
            size_t k = i == cnt - 1 ? left : (left ? rng() % (left + 1) : 0);
            if (i < cnt - 1 && rng() % 4 == 0) k = 0;
            iov[i].iov_base = p + o;
            iov[i].iov_len = k;
            o += k;
        }
        r = storage_segment_appendv(d->seg, iov, cnt, is_frag ? &fr : NULL, fr.end_us);
    }
    assert_int_equal(r, 0);
    if (is_frag) {
        assert_int_equal(fr.offset, (int64_t)d->n);
        assert_int_equal(fr.size, (uint32_t)len);
        d->nfrags++;
    }
    d->n += len;
    d->appends++;
    dio_check_open(d, direct);
}

static void dio_run(bool buffered, int nappends)
{
    char paths[1][PATH_MAX];
    config cfg;
    config_pool pools[1];
    storage *st = NULL;
    dio_seg ds[2];
    memset(ds, 0, sizeof(ds));
    rng_seed();
    snprintf(paths[0], PATH_MAX, "%s/p", tmpdir);
    make_cfg(&cfg, pools, paths, 1);
    pools[0].buffered = buffered;
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);

    int64_t t0;
    assert_int_equal(vg_time_parse("2026-11-23T10:00:00Z", &t0), 0);
    struct statfs sf;
    assert_int_equal(statfs(tmpdir, &sf), 0);
    bool disk = sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC ||
                sf.f_type == BTRFS_SUPER_MAGIC;
    bool direct = false;
    for (int k = 0; k < 2; k++) {
        storage_segment_info info = {.camera = k ? "cam2" : "cam1", .start_us = t0,
                                     .run_start_us = t0, .codec = "h264"};
        assert_int_equal(storage_segment_create(st, &info, &ds[k].seg), 0);
        ds[k].id = storage_segment_id(ds[k].seg);
        snprintf(ds[k].path, sizeof(ds[k].path), "%s", storage_segment_path(ds[k].seg));
        ds[k].rfd = open(ds[k].path, O_RDONLY | O_CLOEXEC);
        assert_true(ds[k].rfd >= 0);
        long fl = fd_flags_of(ds[k].path);
        assert_true(fl >= 0);
        /* Which path is taken: O_DIRECT unless buffered (a disk fs must take it). */
        bool d = (fl & O_DIRECT) != 0;
        if (buffered) assert_false(d);
        else if (disk) assert_true(d);
        else if (!d) fprintf(stderr, "note: f_type 0x%lx does not take O_DIRECT\n",
                              (unsigned long)sf.f_type);
        if (k == 0) direct = d;
        else assert_int_equal(d, direct);
    }
    for (int i = 0; i < nappends; i++) dio_append(&ds[rng() % 2], direct, t0);
    assert_int_equal(fake_db.nfrags, ds[0].nfrags + ds[1].nfrags);

    for (int k = 0; k < 2; k++) {
        dio_seg *d = &ds[k];
        assert_int_equal(storage_segment_close(&d->seg, t0 + 3600000000LL), 0);
        const index_segment *row = &fake_db.segs[d->id - 1];
        assert_int_equal(row->open, 0);
        assert_int_equal(row->bytes, (int64_t)d->n);
        assert_true(row->has_sha256);
        struct stat sb;
        assert_int_equal(stat(d->path, &sb), 0);
        assert_int_equal(sb.st_size, (off_t)d->n); /* close cut the padding */
        rbuf_need(d->n);
        size_t got = 0;
        while (got < d->n) {
            ssize_t r = pread(d->rfd, rbuf + got, d->n - got, (off_t)got);
            assert_true(r > 0);
            got += (size_t)r;
        }
        assert_memory_equal(rbuf, d->want, d->n);
        uint8_t file_sha[32], want_sha[32];
        vg_sha256_digest(rbuf, d->n, file_sha);
        vg_sha256_digest(d->want, d->n, want_sha);
        assert_memory_equal(file_sha, want_sha, 32);
        assert_memory_equal(row->sha256, want_sha, 32);
        fprintf(stderr, "%s: %d appends, %zu bytes, %d fragments, %s\n", d->path, d->appends,
                d->n, d->nfrags, direct ? "O_DIRECT" : "buffered");
        close(d->rfd);
        free(d->want);
    }
    free(rbuf);
    rbuf = NULL;
    rcap = 0;
    storage_close(&st);
}

static void t_direct_io(void **state)
{
    (void)state;
    dio_run(false, 400);
}

static void t_buffered_io(void **state)
{
    (void)state;
    dio_run(true, 300);
}

/* A tmpfs: O_DIRECT taken or refused (then buffered, logged once), the content is right. */
static int setup_shm(void **state)
{
    (void)state;
    fake_index_reset();
    snprintf(tmpdir, sizeof(tmpdir), "/dev/shm/vigil-test-dio-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-test-dio-XXXXXX");
        if (!mkdtemp(tmpdir)) return -1;
    }
    return 0;
}

static void t_direct_io_tmpfs(void **state)
{
    (void)state;
    dio_run(false, 120);
}

/* Waits (up to 20 s, polling) until the segment's synced bytes reach want;
 * the marker never passes what was written. */
static uint64_t wait_synced(const storage_segment *seg, uint64_t want)
{
    uint64_t got = 0;
    for (int i = 0; i < 2000 && (got = storage_segment_synced_bytes(seg)) < want; i++) {
        assert_true(got <= (uint64_t)storage_segment_bytes(seg));
        usleep(10000);
    }
    return got;
}

/*
 * The syncer: an open segment of a pool with sync_ms is fdatasync'ed while
 * it is written (its synced-bytes marker follows what was written, never
 * ahead of it, and the pool counts the syncs), on a real disk, O_DIRECT and
 * buffered; a pool with sync_ms 0 is only synced when a segment closes.
 * Once gave 0 forever: nothing was synced before the close.
 */
static void t_sync_open_segments(void **state)
{
    (void)state;
    char paths[3][PATH_MAX];
    config cfg;
    config_pool pools[3];
    storage *st = NULL;
    storage_segment *seg[3] = {NULL};
    static uint8_t frag[64 * 1024];
    for (int i = 0; i < 3; i++) snprintf(paths[i], PATH_MAX, "%s/pool%d", tmpdir, i);
    make_cfg(&cfg, pools, paths, 3);
    pools[0].sync_ms = 50;  /* O_DIRECT */
    pools[1].sync_ms = 50;  /* buffered */
    pools[1].buffered = true;
    pools[2].sync_ms = 0;   /* at close only */
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);
    for (int i = 0; i < 3; i++) {
        storage_segment_info info = {.camera = "cam1", .pool = pools[i].id,
                                     .start_us = 1795000000000000LL + i, .codec = "h264"};
        assert_int_equal(storage_segment_create(st, &info, &seg[i]), 0);
    }
    for (int round = 0; round < 3; round++) {
        memset(frag, 'a' + round, sizeof(frag));
        for (int i = 0; i < 3; i++) {
            index_fragment f = {.start_us = round, .end_us = round + 1};
            assert_int_equal(storage_segment_append(seg[i], frag, sizeof(frag) - 1000 * round,
                                                    &f, round + 1), 0);
        }
        for (int i = 0; i < 2; i++) {
            uint64_t want = (uint64_t)storage_segment_bytes(seg[i]);
            assert_int_equal(wait_synced(seg[i], want), want);
        }
    }
    /* the rounds that synced pools 0 and 1 passed pool 2 by */
    assert_int_equal(storage_segment_synced_bytes(seg[2]), 0);
    storage_sync_stats ys;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(storage_pool_sync_stats(st, pools[i].id, &ys), 0);
        fprintf(stderr, "pool %s: sync_ms %d, %llu syncs, %llu errors, %.6f s\n", pools[i].id,
                ys.sync_ms, (unsigned long long)ys.syncs, (unsigned long long)ys.errors,
                ys.seconds);
        assert_int_equal(ys.sync_ms, pools[i].sync_ms);
        assert_int_equal(ys.errors, 0);
        if (i < 2) assert_true(ys.syncs >= 3);
        else assert_int_equal(ys.syncs, 0);
    }
    assert_int_equal(storage_pool_sync_stats(st, "nope", &ys), -ENOENT);
    for (int i = 0; i < 3; i++) assert_int_equal(storage_segment_close(&seg[i], 4), 0);
    for (int i = 0; i < fake_db.nsegs; i++) assert_int_equal(fake_db.segs[i].fsync_failed, 0);
    storage_close(&st);
}

int main(void)
{
    vg_log_set_level(LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(t_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(t_direct_io, setup_disk, teardown),
        cmocka_unit_test_setup_teardown(t_buffered_io, setup_disk, teardown),
        cmocka_unit_test_setup_teardown(t_direct_io_tmpfs, setup_shm, teardown),
        cmocka_unit_test_setup_teardown(t_sync_open_segments, setup_disk, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
