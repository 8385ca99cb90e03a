/*
 * End to end through `source: native`: GStreamer's rtsp-server
 * (tests/integration/rtsp_native/gst_server.py) -> the native client on the
 * shared loop threads -> the segmenter -> fMP4 files in a temp pool (fake
 * index). Checks the camera records, the online event, that a segment file
 * decodes with ffmpeg, and that a camera pointing at a closed port goes
 * offline as unreachable and keeps retrying. Fails when python3-gi with
 * GstRtspServer is missing (install-deps.sh installs them).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "fake_index.h"
#include "ingest/ingest.h"

static char tmpdir[256], pooldir[300];
static pid_t server = -1;
static int port;

static int start_server(void)
{
    const char *src = getenv("VIGIL_SRC");
    char script[1024];
    snprintf(script, sizeof(script), "%s/tests/integration/rtsp_native/gst_server.py",
             src ? src : ".");
    int fds[2];
    if (pipe(fds) < 0) return -1;
    server = fork();
    if (server == 0) {
        /* dies with the test, and keeps no ctest pipe open */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        if (devnull >= 0) dup2(devnull, 2);
        close(fds[0]);
        /* port 0: the server takes a free port and prints it */
        execl("/usr/bin/python3", "python3", script, "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[256];
    int ok = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "READY port=%d", &port) == 1 && port > 0) {
            ok = 1;
            break;
        }
    if (f) fclose(f);
    return ok ? 0 : -1;
}

/* A loopback port that refuses connections while *fd stays open: bound, never
 * listening, so no other process can take it during the test. */
static int closed_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0) return -1;
    if (bind(*fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(*fd, (struct sockaddr *)&a, &len) < 0) {
        close(*fd);
        *fd = -1;
        return -1;
    }
    return ntohs(a.sin_port);
}

static int setup(void **state)
{
    (void)state;
    /* python3-gi and the GstRtspServer typelib are declared dependencies
     * (scripts/install-deps.sh): without them the machine is broken, which is a
     * failure, not a reason to skip. */
    if (system("/usr/bin/python3 -c \"import gi; gi.require_version('GstRtspServer', '1.0')\" "
               ">/dev/null 2>&1") != 0) {
        fprintf(stderr, "python3-gi with the GstRtspServer typelib is missing "
                        "(scripts/install-deps.sh installs them)\n");
        return -1;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-test-native-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(pooldir, sizeof(pooldir), "%s/pool", tmpdir);
    return start_server();
}

static int teardown(void **state)
{
    (void)state;
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    if (tmpdir[0] && !getenv("VIGIL_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
    }
    return 0;
}

static void wait_for(ingest_camera *c, int64_t us, int (*done)(const ingest_stats *))
{
    int64_t end = vg_mono_us() + us;
    ingest_stats s;
    while (vg_mono_us() < end) {
        ingest_camera_get_stats(c, &s);
        if (done(&s)) return;
        usleep(100000);
    }
}

static int enough_frames(const ingest_stats *s)
{
    return s->frames_written >= 60;
}
static int reconnected(const ingest_stats *s)
{
    return s->reconnects >= 2;
}

static void test_records(void **state)
{
    (void)state;
    assert_true(server > 0);
    fake_index_reset();
    config cfg;
    config_pool pool = {.id = "main", .path = pooldir};
    memset(&cfg, 0, sizeof(cfg));
    cfg.pools = &pool;
    cfg.npools = 1;
    storage *st = NULL;
    assert_int_equal(storage_open(&cfg, (index_db *)&fake_db, &st), 0);

    char url[128];
    snprintf(url, sizeof(url), "rtsp://127.0.0.1:%d/h264aac", port);
    config_camera cam = {
        .id = "cam1", .url = url, .tcp = true, .source = CONFIG_SOURCE_NATIVE, .enabled = true};
    ingest_params p = {.camera = &cam, .segment_seconds = 2, .st = st, .idx = (index_db *)&fake_db};
    ingest_camera *c = NULL;
    assert_int_equal(ingest_camera_start(&p, &c), 0);

    /* a second camera on a closed port: offline, retried with backoff */
    char bad[128];
    int held = -1, closed = closed_port(&held);
    assert_true(closed > 0);
    snprintf(bad, sizeof(bad), "rtsp://127.0.0.1:%d/x", closed);
    config_camera cam2 = {.id = "cam2", .url = bad, .tcp = true, .source = CONFIG_SOURCE_NATIVE};
    ingest_params p2 = p;
    p2.camera = &cam2;
    ingest_camera *c2 = NULL;
    assert_int_equal(ingest_camera_start(&p2, &c2), 0);

    wait_for(c, 20000000, enough_frames);
    ingest_stats s;
    ingest_camera_get_stats(c, &s);
    assert_true(s.frames_written >= 60);
    assert_int_equal(s.state, INGEST_RECORDING);
    assert_string_equal(s.codec, "h264");
    assert_string_equal(s.audio_codec, "aac");
    assert_int_equal(s.width, 320);
    assert_int_equal(s.height, 240);

    wait_for(c2, 10000000, reconnected);
    ingest_stats s2;
    ingest_camera_get_stats(c2, &s2);
    assert_int_equal(s2.state, INGEST_OFFLINE);
    assert_string_equal(s2.last_error, "unreachable");
    assert_true(s2.reconnects >= 2);

    ingest_camera_stop(&c);
    ingest_camera_stop(&c2);
    close(held);
    assert_null(c);
    storage_close(&st);
    assert_true(fake_index_count_events("online") >= 1);
    assert_true(fake_index_count_events("offline") == 1); /* once per outage */

    /* every segment decodes */
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "n=0; for f in $(find '%s' -name '*.mp4'); do n=$((n+1)); "
             "ffmpeg -v error -i \"$f\" -f null - 2>&1 || echo BAD; done; echo files=$n",
             pooldir);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    size_t n = fread(out, 1, sizeof(out) - 1, pp);
    out[n] = 0;
    pclose(pp);
    fprintf(stderr, "%s", out);
    assert_null(strstr(out, "BAD"));
    assert_null(strstr(out, "files=0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
