/*
 * vigilctl: its JSON lines (vigilctl_format) and the real binary run on an
 * index written through index/ while the writer is still open, as it is while
 * vigild runs.
 */
#include "common/common.h"
#include "index/index.h"
#include "tools/vigilctl/vigilctl_format.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define S (INT64_C(1000000))
#define T0 (INT64_C(1763881200) * S) /* 2025-11-23T07:00:00Z */

static index_segment make_seg(int64_t start_us, int64_t end_us)
{
    index_segment s;
    memset(&s, 0, sizeof(s));
    snprintf(s.camera, sizeof(s.camera), "cam1");
    s.start_us = start_us;
    s.end_us = end_us;
    snprintf(s.pool, sizeof(s.pool), "main");
    snprintf(s.path, sizeof(s.path), "cam1/2025/11/23/07/%lld.mp4", (long long)start_us);
    s.bytes = 123456;
    return s;
}

static void test_segment_json(void **state)
{
    (void)state;
    index_segment s = make_seg(T0, T0 + 60 * S + 500000);
    s.open = 1;
    char *j = vigilctl_segment_json(&s, "/srv/pool");
    assert_string_equal(j, "{\"camera\":\"cam1\",\"start\":\"2025-11-23T07:00:00Z\","
                           "\"end\":\"2025-11-23T07:01:00.500Z\","
                           "\"path\":\"/srv/pool/cam1/2025/11/23/07/1763881200000000.mp4\","
                           "\"bytes\":123456,\"sha256\":null}");
    free(j);

    s.open = 0;
    s.has_sha256 = 1;
    for (int i = 0; i < 32; i++)
        s.sha256[i] = (uint8_t)(0xa0 + i);
    j = vigilctl_segment_json(&s, "/srv/pool/"); /* no double slash */
    assert_non_null(strstr(j, "\"path\":\"/srv/pool/cam1/"));
    assert_non_null(strstr(
        j, "\"sha256\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\"}"));
    free(j);

    j = vigilctl_segment_json(&s, NULL); /* pool not in the config */
    assert_non_null(strstr(j, "\"path\":null"));
    free(j);
}

static void test_event_json(void **state)
{
    (void)state;
    index_event e;
    memset(&e, 0, sizeof(e));
    e.time_us = T0 + 1;
    snprintf(e.camera, sizeof(e.camera), "cam1");
    snprintf(e.type, sizeof(e.type), "offline");
    snprintf(e.detail, sizeof(e.detail), "say \"hi\"\n\tback\\slash");
    char *j = vigilctl_event_json(&e);
    assert_string_equal(j,
                        "{\"time\":\"2025-11-23T07:00:00.000001Z\",\"camera\":\"cam1\","
                        "\"type\":\"offline\",\"detail\":\"say \\\"hi\\\"\\n\\tback\\\\slash\"}");
    free(j);

    e.camera[0] = 0; /* daemon-wide */
    snprintf(e.detail, sizeof(e.detail), "bad \xff\xfe utf-8, good \xc3\xa9");
    j = vigilctl_event_json(&e);
    assert_non_null(strstr(j, "\"camera\":null"));
    assert_non_null(strstr(j, "\"detail\":\"bad ?? utf-8, good ??\""));
    free(j);
}

/* ---- the binary ---- */

typedef struct env {
    char dir[64];
    char config[128];
    char index[128];
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    snprintf(e->dir, sizeof(e->dir), "/tmp/vigil-test-vigilctl-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->config, sizeof(e->config), "%s/vigil.yaml", e->dir);
    snprintf(e->index, sizeof(e->index), "%s/index.db", e->dir);
    FILE *f = fopen(e->config, "w");
    assert_non_null(f);
    fprintf(f,
            "index: %s\n"
            "storage:\n"
            "  pools:\n"
            "    - id: main\n"
            "      path: %s/pool\n"
            "cameras:\n"
            "  - id: cam1\n"
            "    url: rtsp://127.0.0.1:8554/cam1\n",
            e->index, e->dir);
    fclose(f);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
    return 0;
}

/* Runs vigilctl with args (shell words), stdout into out; returns the exit status. */
static int run(const env *e, const char *args, char *out, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' --config '%s' %s 2>/dev/null", VIGILCTL_BIN, e->config, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = 0;
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_vigilctl_binary(void **state)
{
    env *e = *state;
    char out[8192], want[2048];

    assert_int_equal(run(e, "segments cam1", out, sizeof(out)), 1); /* no index yet */
    assert_string_equal(out, "");
    assert_int_equal(run(e, "segments", out, sizeof(out)), 2);
    assert_int_equal(run(e, "segments cam1 --start nonsense", out, sizeof(out)), 2);
    assert_int_equal(run(e, "frobnicate", out, sizeof(out)), 2);
    assert_int_equal(run(e, "events --help", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "Usage: vigilctl"));

    index_db *db = NULL;
    assert_int_equal(index_open(e->index, &db), 0);
    index_segment s = make_seg(T0, T0);
    int64_t a = index_segment_begin(db, &s);
    uint8_t sha[32];
    memset(sha, 0xab, sizeof(sha));
    index_segment_finish(db, a, T0 + 60 * S, 1000, sha);
    s = make_seg(T0 + 60 * S, T0 + 60 * S);
    int64_t b = index_segment_begin(db, &s);
    index_segment_progress(db, b, T0 + 62 * S, 500, NULL);
    index_event_add(db, T0, "cam1", "online", "");
    index_event_add(db, T0 + S, NULL, "startup", "vigild");
    assert_int_equal(index_flush(db), 0);

    /* Read while the writer is open. */
    assert_int_equal(run(e, "segments cam1", out, sizeof(out)), 0);
    snprintf(
        want, sizeof(want),
        "{\"camera\":\"cam1\",\"start\":\"2025-11-23T07:00:00Z\",\"end\":\"2025-11-23T07:01:00Z\","
        "\"path\":\"%s/pool/cam1/2025/11/23/07/1763881200000000.mp4\",\"bytes\":1000,"
        "\"sha256\":\"abababababababababababababababababababababababababababababababab\"}\n"
        "{\"camera\":\"cam1\",\"start\":\"2025-11-23T07:01:00Z\",\"end\":\"2025-11-23T07:01:02Z\","
        "\"path\":\"%s/pool/cam1/2025/11/23/07/1763881260000000.mp4\",\"bytes\":500,"
        "\"sha256\":null}\n",
        e->dir, e->dir);
    assert_string_equal(out, want);

    /* Bounds: RFC 3339 with an offset, Unix seconds. */
    assert_int_equal(run(e, "segments cam1 --start 2025-11-23T14:01:00+07:00", out, sizeof(out)),
                     0);
    assert_null(strstr(out, "\"bytes\":1000"));
    assert_non_null(strstr(out, "\"bytes\":500"));
    assert_int_equal(run(e, "segments --end 1763881260 cam1", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"bytes\":1000"));
    assert_null(strstr(out, "\"bytes\":500"));
    assert_int_equal(run(e, "segments cam1 --start 1763881260 --end 1763881200", out, sizeof(out)),
                     2);
    assert_int_equal(run(e, "segments cam2", out, sizeof(out)), 0);
    assert_string_equal(out, "");

    assert_int_equal(run(e, "events", out, sizeof(out)), 0);
    assert_string_equal(out, "{\"time\":\"2025-11-23T07:00:00Z\",\"camera\":\"cam1\","
                             "\"type\":\"online\",\"detail\":\"\"}\n"
                             "{\"time\":\"2025-11-23T07:00:01Z\",\"camera\":null,"
                             "\"type\":\"startup\",\"detail\":\"vigild\"}\n");
    assert_int_equal(run(e, "events --camera cam1 --end 1763881201", out, sizeof(out)), 0);
    assert_string_equal(out, "{\"time\":\"2025-11-23T07:00:00Z\",\"camera\":\"cam1\","
                             "\"type\":\"online\",\"detail\":\"\"}\n");
    assert_int_equal(run(e, "events extra", out, sizeof(out)), 2);
    index_close(&db);

    /* After the writer is gone (WAL checkpointed and removed). */
    assert_int_equal(run(e, "events --camera cam1", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"type\":\"online\""));

    /* Not a database. */
    FILE *f = fopen(e->index, "w");
    assert_non_null(f);
    fputs("this is not an index\n", f);
    fclose(f);
    assert_int_equal(run(e, "events", out, sizeof(out)), 1);
}

int main(void)
{
    vg_log_set_level(LOG_CRIT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_json),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test_setup_teardown(test_vigilctl_binary, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
