/*
 * Unit tests of serve/metrics.c: every required series is present, each
 * family has one HELP/TYPE pair before its samples, labels are escaped, and
 * every sample line parses as Prometheus text.
 */
#include "serve/metrics.h"

#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S (INT64_C(1000000))

static void test_render(void **state)
{
    (void)state;
    serve_metrics *m = NULL;
    assert_int_equal(serve_metrics_new(&m), 0);
    serve_metrics_count_request(m, 200);
    serve_metrics_count_request(m, 200);
    serve_metrics_count_request(m, 401);
    serve_metrics_count_request(m, 42);
    serve_metrics_count_reload(m, 1);
    serve_metrics_count_events(m, 200, 3, 0);
    serve_metrics_count_events(m, 1, 0, 5);

    serve_metrics_camera cams[2];
    memset(cams, 0, sizeof(cams));
    cams[0].id = "cam1";
    cams[0].running = 1;
    cams[0].st.state = INGEST_RECORDING;
    cams[0].st.fps = 25;
    cams[0].st.bitrate_bps = 2000000;
    cams[0].st.frames_received = 1000;
    cams[0].st.frames_written = 998;
    cams[0].st.frames_dropped = 2;
    cams[0].st.reconnects = 3;
    cams[0].st.last_frame_us = 999 * S;
    cams[1].id = "we\"ird\\";
    serve_metrics_pool pools[1];
    memset(pools, 0, sizeof(pools));
    pools[0].id = "main";
    pools[0].have_usage = 1;
    pools[0].u.usable = 1;
    pools[0].u.used_bytes = 12345;
    pools[0].u.free_bytes = 99999;
    pools[0].u.deleted_segments = 7;
    serve_metrics_input in = {.now_us = 1000 * S,
                              .uptime_us = 5 * S,
                              .cameras = cams,
                              .ncameras = 2,
                              .pools = pools,
                              .npools = 1,
                              .have_index = 1,
                              .index_queue_depth = 4,
                              .index_last_commit_us = 1500,
                              .index_max_commit_us = 250000,
                              .have_loop = 1,
                              .loop_stall_max_us = 42000,
                              .audit_dropped = 3,
                              .have_retention = 1,
                              .events_expired = 1203};
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(serve_metrics_render(m, &in, &text, &len), 0);
    assert_int_equal(strlen(text), len);

    static const char *const want[] = {
        "vigil_camera_recording{camera=\"cam1\"} 1\n",
        "vigil_camera_bitrate_bps{camera=\"cam1\"} 2000000\n",
        "vigil_camera_fps{camera=\"cam1\"} 25\n",
        "vigil_camera_frames_received_total{camera=\"cam1\"} 1000\n",
        "vigil_camera_frames_written_total{camera=\"cam1\"} 998\n",
        "vigil_camera_frames_dropped_total{camera=\"cam1\"} 2\n",
        "vigil_camera_reconnects_total{camera=\"cam1\"} 3\n",
        "vigil_camera_seconds_since_last_frame{camera=\"cam1\"} 1\n",
        "vigil_camera_seconds_since_last_frame{camera=\"we\\\"ird\\\\\"} NaN\n",
        "vigil_camera_state{camera=\"cam1\",state=\"recording\"} 1\n",
        "vigil_camera_state{camera=\"cam1\",state=\"offline\"} 0\n",
        "vigil_pool_used_bytes{pool=\"main\"} 12345\n",
        "vigil_pool_free_bytes{pool=\"main\"} 99999\n",
        "vigil_pool_segments_deleted_total{pool=\"main\"} 7\n",
        "vigil_index_write_queue_depth 4\n",
        "vigil_index_commit_latency_seconds 0.001500\n",
        "vigil_index_commit_latency_max_seconds 0.250000\n",
        "vigil_loop_stall_max_seconds 0.042000\n",
        "vigil_audit_rows_dropped_total 3\n",
        "# TYPE vigil_audit_rows_dropped_total counter\n",
        "vigil_http_requests_total{code=\"200\"} 2\n",
        "vigil_http_requests_total{code=\"401\"} 1\n",
        "vigil_http_requests_total{code=\"other\"} 1\n",
        "vigil_config_reloads_total{result=\"ok\"} 1\n",
        "vigil_events_posted_total{result=\"stored\"} 201\n",
        "vigil_events_posted_total{result=\"duplicate\"} 3\n",
        "vigil_events_posted_total{result=\"refused\"} 5\n",
        "vigil_events_expired_total 1203\n",
        "# TYPE vigil_events_expired_total counter\n",
        "# TYPE vigil_camera_frames_received_total counter\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(text, want[i])) fail_msg("missing: %s\nin:\n%s", want[i], text);
    }

    /* every line: a comment or name{labels} value */
    regex_t rx;
    assert_int_equal(
        regcomp(&rx,
                "^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\\{([a-z_]+=\"([^\"\\\\]|\\\\.)*\",?)+\\})? "
                "(-?[0-9.e+-]+|NaN|[+-]Inf))$",
                REG_EXTENDED | REG_NOSUB),
        0);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (regexec(&rx, line, 0, NULL, 0) != 0) fail_msg("bad line: %s", line);
    regfree(&rx);
    free(text);
    serve_metrics_free(&m);
    serve_metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
