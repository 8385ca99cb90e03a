/* Unit tests of common/: RFC 3339 parsing and formatting, secret redaction,
 * mkdir_p, the segment layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

static void test_parse_rfc3339(void **state)
{
    (void)state;
    int64_t us;
    assert_int_equal(vg_time_parse("2026-11-23T00:00:00Z", &us), 0);
    assert_true(us == INT64_C(1795392000) * 1000000);
    /* +07:00 is seven hours ahead of UTC: the same instant. */
    int64_t us2;
    assert_int_equal(vg_time_parse("2026-11-23T07:00:00+07:00", &us2), 0);
    assert_true(us == us2);
    assert_int_equal(vg_time_parse("2026-11-22T19:30:00-04:30", &us2), 0);
    assert_true(us == us2);
    assert_int_equal(vg_time_parse("2026-11-23T00:00:00.25Z", &us2), 0);
    assert_true(us2 - us == 250000);
    assert_int_equal(vg_time_parse("2026-11-23t00:00:00.000001z", &us2), 0);
    assert_true(us2 - us == 1);
}

static void test_parse_unix(void **state)
{
    (void)state;
    int64_t us;
    assert_int_equal(vg_time_parse("1795392000", &us), 0);
    assert_true(us == INT64_C(1795392000) * 1000000);
    assert_int_equal(vg_time_parse("1795392000.5", &us), 0);
    assert_true(us == INT64_C(1795392000) * 1000000 + 500000);
    assert_int_equal(vg_time_parse("0", &us), 0);
    assert_true(us == 0);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    int64_t us;
    const char *bad[] = {"", "yesterday", "2026-11-23", "2026-11-23T00:00:00",
                         "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-23T25:00:00Z",
                         "2026-11-23T00:00:00+7", "2026-11-23T00:00:00Zjunk", "12abc",
                         "2026-11-23T00:00:00.Z", "1.", NULL};
    for (int i = 0; bad[i]; i++) {
        if (vg_time_parse(bad[i], &us) != -EINVAL) fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(vg_time_parse(NULL, &us), -EINVAL);
}

/* Seconds whose microseconds do not fit, or that name no year in 1..9999,
 * are refused rather than wrapped; the edges themselves still parse. */
static void test_parse_range(void **state)
{
    (void)state;
    int64_t us;
    const char *huge[] = {"9000000000000", "-9000000000000", "9223372036855", "-9223372036855",
                          "99999999999999999999", "9223372036854775807", "9223372036854.9",
                          "253402300800", "-253402300800", NULL};
    for (int i = 0; huge[i]; i++) {
        if (vg_time_parse(huge[i], &us) != -ERANGE) fail_msg("accepted '%s'", huge[i]);
    }
    assert_int_equal(vg_time_parse("253402300799", &us), 0);
    assert_true(us == VG_TIME_MAX_US);
    assert_int_equal(vg_time_parse("9999-12-31T23:59:59Z", &us), 0);
    assert_true(us == VG_TIME_MAX_US);
    assert_int_equal(vg_time_parse("9999-12-31T23:59:59-01:00", &us), -ERANGE);
    assert_int_equal(vg_time_parse("-253402300799", &us), 0);
    assert_true(us == -VG_TIME_MAX_US);
    assert_int_equal(vg_time_parse("-0.5", &us), 0);
    assert_true(us == -500000);
}

static void test_format(void **state)
{
    (void)state;
    char b[VG_TIME_LEN];
    int64_t base = INT64_C(1795392000) * 1000000;
    assert_string_equal(vg_time_format(base, b, sizeof(b)), "2026-11-23T00:00:00Z");
    assert_string_equal(vg_time_format(base + 123000, b, sizeof(b)),
                        "2026-11-23T00:00:00.123Z");
    assert_string_equal(vg_time_format(base + 123456, b, sizeof(b)),
                        "2026-11-23T00:00:00.123456Z");
    assert_string_equal(vg_time_format(-1, b, sizeof(b)), "1969-12-31T23:59:59.999999Z");
    /* Leap days, the ends of the range, and a year strftime() still spells. */
    assert_string_equal(vg_time_format(INT64_C(951782400) * 1000000, b, sizeof(b)),
                        "2000-02-29T00:00:00Z");
    assert_string_equal(vg_time_format(INT64_C(4107542399) * 1000000, b, sizeof(b)),
                        "2100-02-28T23:59:59Z");
    assert_string_equal(vg_time_format(VG_TIME_MAX_US + 999999, b, sizeof(b)),
                        "9999-12-31T23:59:59.999999Z");
    assert_string_equal(vg_time_format(INT64_C(-30610224000) * 1000000, b, sizeof(b)),
                        "1000-01-01T00:00:00Z");
    assert_string_equal(vg_time_format(INT64_C(-30610224001) * 1000000, b, sizeof(b)),
                        "999-12-31T23:59:59Z");
    /* Cut like snprintf() when buf is short. */
    assert_string_equal(vg_time_format(base, b, 5), "2026");
    /* round trip */
    int64_t back;
    assert_int_equal(vg_time_parse(vg_time_format(base + 7, b, sizeof(b)), &back), 0);
    assert_true(back == base + 7);
}

static void test_redact(void **state)
{
    (void)state;
    char out[256];
    vg_log_clear_secrets();
    vg_redact("open rtsp://admin:hunter2@10.0.0.1/x failed", out, sizeof(out));
    assert_string_equal(out, "open rtsp://***@10.0.0.1/x failed");
    vg_log_add_secret("hunter2");
    vg_redact("password hunter2 and again hunter2.", out, sizeof(out));
    assert_string_equal(out, "password *** and again ***.");
    vg_redact("rtsp://10.0.0.1:554/path no userinfo", out, sizeof(out));
    assert_string_equal(out, "rtsp://10.0.0.1:554/path no userinfo");
    vg_log_clear_secrets();
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/vg-common-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char p[512];
    snprintf(p, sizeof(p), "%s/a/b/c", tmpl);
    assert_int_equal(vg_mkdir_p(p, 0755), 0);
    assert_int_equal(vg_mkdir_p(p, 0755), 0); /* exists: fine */
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(vg_fsync_parent(p), 0);
    char f[600];
    snprintf(f, sizeof(f), "%s/file", p);
    FILE *fp = fopen(f, "w");
    assert_non_null(fp);
    fputs("token\n\n", fp);
    fclose(fp);
    char *s = NULL;
    assert_int_equal(vg_read_small_file(f, &s), 0);
    assert_string_equal(s, "token");
    free(s);
    char under[700];
    snprintf(under, sizeof(under), "%s/sub", f);
    assert_int_equal(vg_mkdir_p(under, 0755), -ENOTDIR);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
}

static void test_percent_decode(void **state)
{
    (void)state;
    char o[16];
    assert_int_equal(vg_percent_decode("a%2Bb+c%3a", 10, o, sizeof(o), true), 6);
    assert_string_equal(o, "a+b+c:");
    /* strict: stray '%', a truncated escape, a decoded NUL */
    assert_int_equal(vg_percent_decode("50%", 3, o, sizeof(o), true), -EINVAL);
    assert_int_equal(vg_percent_decode("%4", 2, o, sizeof(o), true), -EINVAL);
    assert_int_equal(vg_percent_decode("%zz", 3, o, sizeof(o), true), -EINVAL);
    assert_int_equal(vg_percent_decode("a%00", 4, o, sizeof(o), true), -EINVAL);
    /* lenient (URL userinfo): such a '%' stays */
    assert_int_equal(vg_percent_decode("p%zz%41%", 8, o, sizeof(o), false), 6);
    assert_string_equal(o, "p%zzA%");
    /* out too small, and exactly big enough */
    assert_int_equal(vg_percent_decode("abcd", 4, o, 4, true), -E2BIG);
    assert_int_equal(vg_percent_decode("abc", 3, o, 4, true), 3);
    assert_int_equal(vg_percent_decode("", 0, o, sizeof(o), true), 0);
    assert_string_equal(o, "");
}

static void test_sha256(void **state)
{
    (void)state;
    uint8_t d[32];
    char hex[65];
    vg_sha256 *h = vg_sha256_new();
    assert_non_null(h);
    /* FIPS 180-2 example, fed in two pieces. */
    vg_sha256_update(h, "a", 1);
    vg_sha256_update(h, "bc", 2);
    vg_sha256_final(h, d);
    vg_hex(d, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    vg_sha256_reset(h);
    vg_sha256_update(h, "", 0);
    vg_sha256_final(h, d);
    vg_hex(d, 32, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    vg_sha256_free(&h);
    assert_null(h);
    vg_sha256_free(&h);
}

/* Cuts land between characters; invalid bytes become '?' one for one. */
static void test_utf8(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9\xe1\xbb\xa5\xf0\x9f\x93\xb7"; /* a é ụ 📷: 1+2+3+4 bytes */
    size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10};
    for (size_t n = 0; n < VG_ARRAY_SIZE(want); n++) assert_int_equal(vg_utf8_cut(s, n), want[n]);
    char out[8];
    assert_int_equal(vg_utf8_copy(out, sizeof(out), s), 6);
    assert_string_equal(out, "a\xc3\xa9\xe1\xbb\xa5");
    assert_int_equal(vg_utf8_copy(out, sizeof(out), "x\xff\xc3z\xed\xa0\x80"), 7);
    assert_string_equal(out, "x?" "?z?" "??"); /* a surrogate is invalid */
    assert_int_equal(vg_utf8_copy(out, 3, "\xe1\xbb\xa5"), 0);
    assert_string_equal(out, "");
    assert_int_equal(vg_utf8_cut("\xc0\x80z", 2), 2); /* overlong: two invalid bytes */
}

static void test_segment_relpath(void **state)
{
    (void)state;
    char p[256];
    int64_t t;
    assert_int_equal(vg_time_parse("2026-11-23T00:34:48.123456Z", &t), 0);
    assert_int_equal(vg_segment_relpath("cam1", t, p, sizeof(p)), 0);
    assert_string_equal(p, "cam1/2026/11/23/00/20261123T003448.123456Z.mp4");
    /* Last microsecond of a year, and the first of the next. */
    assert_int_equal(vg_time_parse("2025-12-31T23:59:59.999999Z", &t), 0);
    assert_int_equal(vg_segment_relpath("c", t, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2025/12/31/23/20251231T235959.999999Z.mp4");
    assert_int_equal(vg_segment_relpath("c", t + 1, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2026/01/01/00/20260101T000000.000000Z.mp4");
    /* Hour boundary; offsets are converted to UTC. */
    assert_int_equal(vg_time_parse("2026-03-01T07:59:59+07:00", &t), 0);
    assert_int_equal(vg_segment_relpath("c", t, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2026/03/01/00/20260301T005959.000000Z.mp4");
    assert_int_equal(vg_segment_relpath("c", t + 1000000, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2026/03/01/01/20260301T010000.000000Z.mp4");
    /* Leap day. */
    assert_int_equal(vg_time_parse("2028-02-29T12:00:00Z", &t), 0);
    assert_int_equal(vg_segment_relpath("c", t, p, sizeof(p)), 0);
    assert_string_equal(p, "c/2028/02/29/12/20280229T120000.000000Z.mp4");
    assert_int_equal(vg_segment_relpath("c", 0, p, 8), -ENAMETOOLONG);
    assert_int_equal(vg_segment_relpath("a/b", 0, p, sizeof(p)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rfc3339), cmocka_unit_test(test_parse_unix),
        cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_parse_range),
        cmocka_unit_test(test_format), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_redact),        cmocka_unit_test(test_mkdir_p),
        cmocka_unit_test(test_sha256), cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_segment_relpath),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
