/*
 * serve/zip.c: the streamed ZIP of evidence bundles, read back by an
 * independent reader (Python's zipfile: central directory, local headers,
 * data descriptors, every member's CRC-32), with and without ZIP64 (forced
 * here by a low threshold, as a day of video would need it), read in uneven
 * pieces the way a download does; reads out of order are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "serve/serve_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 (INT64_C(1795395600) * 1000000)

/* A streamed member: bytes generated from a seed (xorshift), so the test
 * knows them without holding them. */
typedef struct gen {
    uint64_t seed;
    uint64_t size;
    uint64_t next; /* the position the archive must ask for next */
    int out_of_order;
} gen;

static uint8_t gen_byte(uint64_t seed, uint64_t pos)
{
    uint64_t x = seed ^ (pos / 8 + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return (uint8_t)(x >> (8 * (pos % 8)));
}

static int gen_read(void *opaque, uint64_t pos, uint8_t *buf, size_t len)
{
    gen *g = opaque;
    if (pos != g->next || pos + len > g->size) g->out_of_order++;
    for (size_t i = 0; i < len; i++) buf[i] = gen_byte(g->seed, pos + i);
    g->next = pos + len;
    return 0;
}

static int have_python(void)
{
    return system("python3 -c 'import zipfile' >/dev/null 2>&1") == 0;
}

/* Writes the archive to path, in reads of varying size. */
static void write_out(serve__zip *z, uint64_t total, const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t sizes[] = {1, 7, 4096, 65536 + 3, 1 << 20};
    uint64_t pos = 0;
    for (unsigned k = 0; pos < total; k++) {
        size_t n = sizes[k % 5];
        if (n > total - pos) n = (size_t)(total - pos);
        assert_int_equal(serve__zip_read(z, pos, buf, n), 0);
        assert_int_equal(fwrite(buf, 1, n, f), n);
        pos += n;
    }
    free(buf);
    fclose(f);
}

static void check_archive(uint64_t zip64_at)
{
    char dir[] = "/tmp/vigil-test-zip-XXXXXX", path[64], script[4096];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.zip", dir);
    serve__zip *z = NULL;
    assert_int_equal(serve__zip_new(T0, zip64_at, &z), 0);
    static const char note[] = "Kiểm tra: sha256sum -c SHA256SUMS\n";
    gen g1 = {.seed = 1, .size = 3000000}, g2 = {.seed = 2, .size = 0}, g3 = {.seed = 3,
                                                                               .size = 1234567};
    assert_int_equal(serve__zip_add_mem(z, "export-7/VERIFY.txt", note, strlen(note)), 0);
    assert_int_equal(serve__zip_add_stream(z, "export-7/clips/a-1.mp4", g1.size, gen_read, &g1), 0);
    assert_int_equal(serve__zip_add_stream(z, "export-7/clips/empty.mp4", 0, gen_read, &g2), 0);
    assert_int_equal(serve__zip_add_mem(z, "export-7/empty.txt", "", 0), 0);
    assert_int_equal(serve__zip_add_stream(z, "export-7/clips/b-1.mp4", g3.size, gen_read, &g3), 0);
    uint64_t total = 0;
    assert_int_equal(serve__zip_finish(z, &total), 0);
    assert_int_equal(serve__zip_add_mem(z, "late", "x", 1), -ENOMEM); /* laid out: closed */
    uint8_t b[16];
    assert_int_equal(serve__zip_read(z, 5, b, sizeof(b)), -EINVAL); /* not from the start */
    write_out(z, total, path);
    assert_int_equal(g1.out_of_order + g3.out_of_order, 0);
    assert_true(g1.next == g1.size && g3.next == g3.size);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    assert_true((uint64_t)ftell(f) == total);
    fclose(f);
    serve__zip_free(&z);
    serve__zip_free(&z);

    if (!have_python()) {
        fprintf(stderr, "python3 missing: archive not read back\n");
    } else {
        /* The reader regenerates the streamed members' bytes the same way. */
        snprintf(script, sizeof(script),
                 "python3 - <<'PY'\n"
                 "import zipfile, sys\n"
                 "def gen(seed, size):\n"
                 "    out = bytearray()\n"
                 "    M = (1 << 64) - 1\n"
                 "    for w in range((size + 7) // 8):\n"
                 "        x = seed ^ (((w + 1) * 0x9E3779B97F4A7C15) & M)\n"
                 "        x ^= (x << 13) & M; x ^= x >> 7; x ^= (x << 17) & M\n"
                 "        out += x.to_bytes(8, 'little')\n"
                 "    return bytes(out[:size])\n"
                 "z = zipfile.ZipFile('%s')\n"
                 "assert z.testzip() is None\n"
                 "names = [i.filename for i in z.infolist()]\n"
                 "assert names == ['export-7/VERIFY.txt', 'export-7/clips/a-1.mp4',\n"
                 "    'export-7/clips/empty.mp4', 'export-7/empty.txt', 'export-7/clips/b-1.mp4'], names\n"
                 "assert z.read('export-7/VERIFY.txt').decode() == 'Kiểm tra: sha256sum -c SHA256SUMS\\n'\n"
                 "assert z.read('export-7/clips/a-1.mp4') == gen(1, 3000000)\n"
                 "assert z.read('export-7/clips/b-1.mp4') == gen(3, 1234567)\n"
                 "assert z.read('export-7/clips/empty.mp4') == b'' == z.read('export-7/empty.txt')\n"
                 "assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())\n"
                 "assert z.infolist()[0].date_time == (2026, 11, 23, 1, 0, 0), z.infolist()[0].date_time\n"
                 "PY",
                 path);
        assert_int_equal(system(script), 0);
    }
    unlink(path);
    rmdir(dir);
}

static void t_zip(void **state)
{
    (void)state;
    check_archive(0);
}

static void t_zip64(void **state)
{
    (void)state;
    /* Every member at or past 1000 bytes (size or offset) and the directory
     * go ZIP64, as members past 4 GiB do in use. */
    check_archive(1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_zip),
        cmocka_unit_test(t_zip64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
