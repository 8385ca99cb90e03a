/*
 * Unit tests for config/: every test writes its YAML fixtures into a fresh
 * mkdtemp directory and chdirs there, so messages read "vigil.yaml:3: ..." and
 * can be compared whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/common.h"
#include "config/config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];
static char olddir[PATH_MAX];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/vigil-config-XXXXXX", base);
    if (!mkdtemp(tmpdir)) return -1;
    if (!getcwd(olddir, sizeof(olddir))) return -1;
    if (chdir(tmpdir) != 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (chdir(olddir) != 0) return -1;
    nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    vg_log_clear_secrets();
    return 0;
}

static void write_file(const char *path, const char *text)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        assert_int_equal(vg_mkdir_p(dir, 0755), 0);
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define HEAD                                                                                       \
    "index: idx.db\n"                                                                              \
    "storage:\n"                                                                                   \
    "  pools:\n"                                                                                   \
    "    - {id: main, path: pool0}\n"

/* Loads text as vigil.yaml; expects failure with exactly want. */
static void expect_error_at(const char *text, const char *want, int line_for_msg)
{
    config *cfg = NULL;
    char err[1024] = "";
    write_file("vigil.yaml", text);
    int ret = config_load("vigil.yaml", &cfg, err, sizeof(err));
    if (ret == 0 || strcmp(err, want) != 0)
        print_error("case at test line %d:\n  want: %s\n  got:  %s (ret %d)\n", line_for_msg, want,
                    err, ret);
    assert_true(ret < 0);
    assert_null(cfg);
    assert_string_equal(err, want);
}
#define expect_error(text, want) expect_error_at(text, want, __LINE__)

static config *load_ok(const char *path)
{
    config *cfg = NULL;
    char err[1024] = "";
    int ret = config_load(path, &cfg, err, sizeof(err));
    if (ret != 0) print_error("unexpected error: %s\n", err);
    assert_int_equal(ret, 0);
    assert_non_null(cfg);
    return cfg;
}

static char *abs_path(const char *rel)
{
    static char buf[PATH_MAX * 2];
    char real[PATH_MAX];
    assert_non_null(realpath(tmpdir, real));
    snprintf(buf, sizeof(buf), "%s/%s", real, rel);
    return buf;
}

/* ---- valid configs ---- */

static void test_full_config(void **state)
{
    (void)state;
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = 0;
    char text[4096];
    snprintf(text, sizeof(text),
             "# vigil main config\n"
             "listen: \"0.0.0.0:9090\"\n"
             "index: \"data/index.db\"\n"
             "segment_seconds: 120\n"
             "retention_days: 14\n"
             "web: /usr/share/vigil/web\n"
             "storage:\n"
             "  pools:\n"
             "    - {id: main, path: pool0, max_bytes: \"2TiB\", min_free: \"5%%\"}\n"
             "    - id: spare\n"
             "      path: /srv/pool1\n"
             "      max_bytes: 500GB\n"
             "      min_free: 4MB\n"
             "auth:\n"
             "  tokens:\n"
             "    - {name: ioc-desk-1, role: viewer, token_sha256: \"%s\"}\n"
             "    - {name: admin, role: admin, token_file: secrets/admin.token}\n"
             "    - {name: police, role: investigator, token_sha256: \"%.63sb\"}\n"
             "cameras:\n"
             "  - id: lucnam-cs-001\n"
             "    name: \"Ngã tư Đồi Ngô\"\n"
             "    district: \"Lục Nam\"\n"
             "    site: security\n"
             "    url: \"rtsp://10.1.2.3:554/Streaming/Channels/101\"\n"
             "    username: viewer\n"
             "    password: \"s3cr3t-pw\"\n"
             "    transport: udp\n"
             "    enabled: false\n"
             "    pool: spare\n"
             "    retention_days: 7\n"
             "    source: native\n"
             "  - id: cam_2\n"
             "    url: rtsps://cam2.local/live\n"
             "    site: one-stop-shop\n",
             sha, sha);
    write_file("vigil.yaml", text);
    write_file("secrets/admin.token", "tok-admin-123\n");

    config *cfg = load_ok("vigil.yaml");
    assert_string_equal(cfg->path, "vigil.yaml");
    assert_string_equal(cfg->listen, "0.0.0.0:9090");
    assert_string_equal(cfg->index_path, abs_path("data/index.db"));
    assert_int_equal(cfg->segment_seconds, 120);
    assert_int_equal(cfg->retention_days, 14);
    assert_string_equal(cfg->web_root, "/usr/share/vigil/web");
    assert_null(cfg->include);

    assert_int_equal(cfg->npools, 2);
    assert_string_equal(cfg->pools[0].id, "main");
    assert_string_equal(cfg->pools[0].path, abs_path("pool0"));
    assert_true(cfg->pools[0].max_bytes == 2ull << 40);
    assert_true(cfg->pools[0].min_free_pct == 5.0);
    assert_true(cfg->pools[0].min_free_bytes == 0);
    assert_string_equal(cfg->pools[0].file, "vigil.yaml");
    assert_int_equal(cfg->pools[0].line, 9);
    assert_string_equal(cfg->pools[1].path, "/srv/pool1");
    assert_true(cfg->pools[1].max_bytes == 500000000000ull);
    assert_true(cfg->pools[1].min_free_bytes == 4000000ull);
    assert_true(cfg->pools[1].min_free_pct == 0);

    assert_true(cfg->auth_enabled);
    assert_int_equal(cfg->ntokens, 3);
    assert_string_equal(cfg->tokens[0].name, "ioc-desk-1");
    assert_int_equal(cfg->tokens[0].role, CONFIG_ROLE_VIEWER);
    for (int i = 0; i < 32; i++) assert_int_equal(cfg->tokens[0].sha256[i], 0xaa);
    uint8_t want[32];
    vg_sha256_digest("tok-admin-123", 13, want);
    assert_memory_equal(cfg->tokens[1].sha256, want, 32);
    assert_int_equal(cfg->tokens[1].role, CONFIG_ROLE_ADMIN);
    assert_int_equal(cfg->tokens[2].role, CONFIG_ROLE_INVESTIGATOR);
    assert_int_equal(cfg->tokens[2].sha256[31], 0xab);

    assert_int_equal(cfg->ncameras, 2);
    const config_camera *c = &cfg->cameras[0];
    assert_string_equal(c->id, "lucnam-cs-001");
    assert_string_equal(c->name, "Ngã tư Đồi Ngô");
    assert_string_equal(c->district, "Lục Nam");
    assert_int_equal(c->site, CONFIG_SITE_SECURITY);
    assert_string_equal(c->url, "rtsp://10.1.2.3:554/Streaming/Channels/101");
    assert_string_equal(c->username, "viewer");
    assert_string_equal(c->password, "s3cr3t-pw");
    assert_null(c->password_file);
    assert_false(c->tcp);
    assert_false(c->enabled);
    assert_string_equal(c->pool, "spare");
    assert_int_equal(c->retention_days, 7);
    assert_int_equal(c->source, CONFIG_SOURCE_NATIVE);
    assert_string_equal(c->file, "vigil.yaml");
    assert_int_equal(c->line, 20);
    assert_ptr_equal(config_camera_pool(cfg, c), &cfg->pools[1]);

    c = config_find_camera(cfg, "cam_2");
    assert_ptr_equal(c, &cfg->cameras[1]);
    assert_int_equal(c->site, CONFIG_SITE_ONE_STOP_SHOP);
    assert_int_equal(c->retention_days, 14); /* inherits the top level */
    assert_ptr_equal(config_camera_pool(cfg, c), &cfg->pools[0]);
    assert_null(config_find_camera(cfg, "nope"));
    assert_ptr_equal(config_find_pool(cfg, "spare"), &cfg->pools[1]);
    assert_null(config_find_pool(cfg, "nope"));

    /* the password is registered as a log secret */
    char red[256];
    vg_redact("auth failed with s3cr3t-pw", red, sizeof(red));
    assert_string_equal(red, "auth failed with ***");
    vg_redact("token tok-admin-123", red, sizeof(red));
    assert_null(strstr(red, "tok-admin-123"));
    config_free(&cfg);
    assert_null(cfg);
    config_free(&cfg); /* NULL is fine */
    config_free(NULL);
}

static void test_defaults(void **state)
{
    (void)state;
    write_file("vigil.yaml", HEAD "cameras:\n  - id: c1\n    url: rtsp://h/s\n");
    config *cfg = load_ok("vigil.yaml");
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    assert_int_equal(cfg->segment_seconds, 60);
    assert_int_equal(cfg->retention_days, 30);
    assert_null(cfg->web_root);
    assert_null(cfg->include);
    assert_false(cfg->auth_enabled);
    assert_int_equal(cfg->ntokens, 0);
    assert_true(cfg->pools[0].max_bytes == 0 && cfg->pools[0].min_free_bytes == 0 &&
                cfg->pools[0].min_free_pct == 0);
    const config_camera *c = &cfg->cameras[0];
    assert_string_equal(c->name, "c1");
    assert_string_equal(c->district, "");
    assert_int_equal(c->site, CONFIG_SITE_OTHER);
    assert_null(c->username);
    assert_null(c->password);
    assert_true(c->tcp);
    assert_true(c->enabled);
    assert_string_equal(c->pool, "main");
    assert_int_equal(c->retention_days, 30);
    assert_int_equal(c->source, CONFIG_SOURCE_NATIVE); /* ffmpeg is opt-in */
    assert_int_equal(c->line, 6);
    config_free(&cfg);

    /* retention_days after cameras still sets their default; no cameras is fine */
    write_file("vigil.yaml", HEAD "cameras:\n  - id: c1\n    url: rtsp://h/s\nretention_days: 0\n");
    cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->cameras[0].retention_days, 0);
    config_free(&cfg);
    write_file("vigil.yaml", HEAD "cameras:\n");
    cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->ncameras, 0);
    config_free(&cfg);
}

/* Port 0: the kernel picks a free port (tests run daemons side by side). */
static void test_listen_port_zero(void **state)
{
    (void)state;
    write_file("vigil.yaml", "listen: \"127.0.0.1:0\"\n" HEAD "cameras: []\n");
    config *cfg = load_ok("vigil.yaml");
    assert_string_equal(cfg->listen, "127.0.0.1:0");
    config_free(&cfg);
}

static void test_paths_absolute(void **state)
{
    (void)state;
    write_file("etc/vigil.yaml", "index: ../var/index.db\nweb: web\ninclude: cams.d/*.yaml\n"
                                 "storage: {pools: [{id: p, path: /abs/pool}]}\n");
    write_file("etc/cams.d/x.yaml", "cameras:\n  - {id: x, url: rtsp://h/x}\n");
    char main[PATH_MAX * 2];
    snprintf(main, sizeof(main), "%s/etc/vigil.yaml", tmpdir);
    assert_int_equal(chdir("/"), 0);
    config *cfg = load_ok(main);
    assert_string_equal(cfg->index_path, abs_path("etc/../var/index.db"));
    assert_string_equal(cfg->web_root, abs_path("etc/web"));
    assert_string_equal(cfg->include, abs_path("etc/cams.d/*.yaml"));
    assert_string_equal(cfg->pools[0].path, "/abs/pool");
    assert_int_equal(cfg->ncameras, 1);
    char want[PATH_MAX * 2];
    snprintf(want, sizeof(want), "%s/etc/cams.d/x.yaml", tmpdir);
    assert_string_equal(cfg->cameras[0].file, want);
    config_free(&cfg);
    assert_int_equal(chdir(tmpdir), 0);
}

/* ---- includes ---- */

static void test_includes(void **state)
{
    (void)state;
    write_file("vigil.yaml", HEAD "include: \"cams.d/*.yaml\"\n"
                                  "cameras:\n  - {id: main-1, url: rtsp://h/1}\n");
    write_file("cams.d/b.yaml", "cameras:\n  - {id: b-1, url: rtsp://h/b1}\n"
                                "  - {id: b-2, url: rtsp://h/b2, pool: main}\n");
    write_file("cams.d/a.yaml", "# drop-in\ncameras:\n  - id: a-1\n    url: rtsp://h/a1\n");
    write_file("cams.d/empty.yaml", "");
    write_file("cams.d/nothing.yaml", "cameras:\n");
    write_file("cams.d/ignored.txt", "not yaml: [");
    config *cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->ncameras, 4);
    assert_string_equal(cfg->cameras[0].id, "main-1");
    assert_string_equal(cfg->cameras[1].id, "a-1"); /* drop-ins in sorted order */
    assert_string_equal(cfg->cameras[1].file, "cams.d/a.yaml");
    assert_int_equal(cfg->cameras[1].line, 3);
    assert_string_equal(cfg->cameras[2].id, "b-1");
    assert_string_equal(cfg->cameras[3].id, "b-2");
    assert_string_equal(cfg->cameras[3].file, "cams.d/b.yaml");
    assert_int_equal(cfg->cameras[3].line, 3);
    assert_string_equal(cfg->include, abs_path("cams.d/*.yaml"));
    config_free(&cfg);

    /* a glob matching nothing is fine; a glob matching the main file skips it */
    write_file("vigil.yaml", HEAD "include: none.d/*.yaml\n");
    cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->ncameras, 0);
    config_free(&cfg);
    write_file("vigil.yaml", HEAD "include: \"*.yaml\"\n");
    write_file("more.yaml", "cameras: [{id: m, url: \"rtsp://h/m\"}]\n");
    cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->ncameras, 1);
    assert_string_equal(cfg->cameras[0].file, "more.yaml");
    config_free(&cfg);
}

static void test_include_errors(void **state)
{
    (void)state;
    write_file("cams.d/a.yaml", "cameras:\n  - id: cam1\n    url: rtsp://h/1\n");
    write_file("cams.d/b.yaml", "cameras:\n  - {id: cam2, url: rtsp://h/2}\n"
                                "  - {id: cam1, url: rtsp://h/3}\n");
    expect_error(HEAD "include: cams.d/*.yaml\n",
                 "cams.d/b.yaml:3: duplicate camera id 'cam1' (first defined at cams.d/a.yaml:2)");
    /* main file first, then the drop-ins */
    expect_error(HEAD "include: cams.d/a.yaml\ncameras:\n  - {id: cam1, url: rtsp://x/1}\n",
                 "cams.d/a.yaml:2: duplicate camera id 'cam1' (first defined at vigil.yaml:7)");
    expect_error(HEAD "cameras:\n  - {id: cam1, url: rtsp://x/1}\n"
                      "  - {id: cam1, url: rtsp://x/2}\n",
                 "vigil.yaml:7: duplicate camera id 'cam1' (first defined at vigil.yaml:6)");

    write_file("cams.d/a.yaml", "cameras: []\nlisten: \"1.2.3.4:80\"\n");
    expect_error(HEAD "include: cams.d/a.yaml\n",
                 "cams.d/a.yaml:2: unknown key 'listen' (an included file may only hold cameras:)");
    write_file("cams.d/a.yaml", "cameras:\n  - id: c\n    urll: rtsp://h/1\n");
    expect_error(HEAD "include: cams.d/a.yaml\n",
                 "cams.d/a.yaml:3: unknown key 'urll' in camera 'c'");
    write_file("cams.d/a.yaml", "cameras:\n  - id: c\n    url: [\n");
    expect_error(HEAD "include: cams.d/a.yaml\n",
                 "cams.d/a.yaml:4: YAML syntax error: did not find expected node content "
                 "while parsing a flow node (line 4)");
    write_file("cams.d/a.yaml", "- just a list\n");
    expect_error(HEAD "include: cams.d/a.yaml\n",
                 "cams.d/a.yaml:1: the top level must be a mapping");
    assert_int_equal(mkdir("cams.d/dir.yaml", 0755), 0);
    write_file("cams.d/a.yaml", "cameras: []\n");
    expect_error(HEAD "include: cams.d/*.yaml\n", "cams.d/dir.yaml:1: cannot read: is a directory");
}

/* ---- errors ---- */

static void test_errors_top_level(void **state)
{
    (void)state;
    expect_error("listen: x\n" HEAD, "vigil.yaml:1: listen must be HOST:PORT (e.g. 127.0.0.1:8080)");
    expect_error("listen: \"h:65536\"\n" HEAD,
                 "vigil.yaml:1: listen must be HOST:PORT (e.g. 127.0.0.1:8080)");
    expect_error(HEAD "segment_seconds: 0\n", "vigil.yaml:5: segment_seconds must be an integer 1..3600");
    expect_error(HEAD "\nsegment_seconds: 3601\n",
                 "vigil.yaml:6: segment_seconds must be an integer 1..3600");
    expect_error(HEAD "segment_seconds: sixty\n",
                 "vigil.yaml:5: segment_seconds must be an integer 1..3600");
    expect_error(HEAD "retention_days: -1\n", "vigil.yaml:5: retention_days must be an integer >= 0");
    expect_error(HEAD "bogus: 1\n", "vigil.yaml:5: unknown key 'bogus'");
    expect_error(HEAD "index: again.db\n", "vigil.yaml:5: duplicate key 'index' (first at line 1)");
    expect_error("storage: {pools: [{id: p, path: x}]}\n", "vigil.yaml:1: index is required");
    expect_error("index: i.db\n", "vigil.yaml:1: storage.pools is required");
    expect_error("index: i.db\nstorage:\n  pools: []\n",
                 "vigil.yaml:3: storage.pools must list at least one pool");
    expect_error("index: i.db\nstorage:\n  pool: []\n", "vigil.yaml:3: unknown key 'pool' in storage");
    expect_error("index: [a]\n" "storage: {pools: [{id: p, path: x}]}\n",
                 "vigil.yaml:1: index must be a string");
    expect_error("", "vigil.yaml:1: empty configuration (index and storage are required)");
    expect_error("- a\n- b\n", "vigil.yaml:1: the top level must be a mapping");
    expect_error(HEAD "---\nindex: x\n", "vigil.yaml:6: only one YAML document is allowed per file");
    expect_error(HEAD "web:\n", "vigil.yaml:5: web must be a non-empty string");
    expect_error(HEAD "cameras: {id: x}\n", "vigil.yaml:5: cameras must be a list");
}

static void test_errors_yaml_syntax(void **state)
{
    (void)state;
    expect_error("index: x\nstorage:\n  pools: [\n    {id: a, path: b}\n  oops\n",
                 "vigil.yaml:5: YAML syntax error: did not find expected ',' or ']' "
                 "while parsing a flow sequence (line 3)");
    expect_error("index: x\n  bad: indent\n",
                 "vigil.yaml:2: YAML syntax error: mapping values are not allowed in this context");
    expect_error("index: \"x\n",
                 "vigil.yaml:2: YAML syntax error: found unexpected end of stream "
                 "while scanning a quoted scalar (line 1)");
    expect_error("index: x\nweb: \"\xff\xfe\"\n",
                 "vigil.yaml:2: YAML syntax error: invalid leading UTF-8 octet");

    config *cfg = NULL;
    char err[256];
    assert_int_equal(config_load("missing.yaml", &cfg, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "missing.yaml:1: cannot read: No such file or directory");
    assert_null(cfg);
}

static void test_errors_pools(void **state)
{
    (void)state;
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x}\n    - {path: y}\n",
                 "vigil.yaml:5: pool #2 has no id (only a single pool may leave it out)");
    expect_error("index: i\nstorage:\n  pools:\n    - {path: x}\n    - {id: b, path: y}\n",
                 "vigil.yaml:4: pool #1 has no id (only a single pool may leave it out)");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: Main, path: x}\n",
                 "vigil.yaml:4: pool id 'Main' must match [a-z0-9_-]{1,64}");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a}\n",
                 "vigil.yaml:4: pool 'a': path is required");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x, size: 3}\n",
                 "vigil.yaml:4: unknown key 'size' in pool 'a'");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x}\n    - {id: a, path: y}\n",
                 "vigil.yaml:5: duplicate pool id 'a' (first defined at vigil.yaml:4)");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x}\n    - {id: b, path: x}\n",
                 "vigil.yaml:5: pool 'b' has the same path as pool 'a'");
    expect_error("index: i\nstorage:\n  pools:\n    - id: a\n      path: x\n      max_bytes: 2XB\n",
                 "vigil.yaml:6: pool 'a': max_bytes must be a size (bytes, or e.g. 500GB, 2TiB)");
    expect_error("index: i\nstorage:\n  pools:\n    - id: a\n      path: x\n      min_free: 100%\n",
                 "vigil.yaml:6: pool 'a': min_free must be a percentage below 100% or a size");
    expect_error("index: i\nstorage:\n  pools:\n    - id: a\n      path: x\n      min_free: -4MB\n",
                 "vigil.yaml:6: pool 'a': min_free must be a percentage (5%) or a size (4GB)");
    expect_error("index: i\nstorage:\n  pools:\n    - a\n",
                 "vigil.yaml:4: storage.pools entries must be mappings");
}

/* direct_io: a pool is written with O_DIRECT unless it says direct_io: false. */
/* The shortest config: one pool without an id is "main", and cameras record there. */
static void test_single_pool_without_id(void **state)
{
    (void)state;
    write_file("vigil.yaml", "index: i.db\nstorage:\n  pools:\n    - path: pa\n"
                             "cameras:\n  - id: c1\n    url: rtsp://h/s\n");
    config *cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->npools, 1);
    assert_string_equal(cfg->pools[0].id, "main");
    assert_string_equal(cfg->pools[0].path, abs_path("pa"));
    assert_int_equal(cfg->pools[0].line, 4);
    assert_non_null(config_find_pool(cfg, "main"));
    assert_string_equal(cfg->cameras[0].pool, "main");
    config_free(&cfg);
    /* a camera naming another pool is still refused */
    expect_error("index: i\nstorage:\n  pools:\n    - {path: x}\n"
                 "cameras:\n  - {id: c1, url: rtsp://h/s, pool: other}\n",
                 "vigil.yaml:6: camera 'c1': pool 'other' is not defined in storage.pools");
}

/* listen: is parsed once, here; serve and vigilctl take host and port from it. */
static void test_listen_parse(void **state)
{
    (void)state;
    config_listen l;
    assert_int_equal(config_listen_parse("127.0.0.1:8080", &l), 0);
    assert_string_equal(l.host, "127.0.0.1");
    assert_int_equal(l.port, 8080);
    assert_false(l.bracketed);
    assert_int_equal(config_listen_parse("[::1]:0", &l), 0);
    assert_string_equal(l.host, "::1");
    assert_int_equal(l.port, 0);
    assert_true(l.bracketed);
    assert_int_equal(config_listen_parse("localhost:65535", &l), 0);
    assert_string_equal(l.host, "localhost");
    const char *bad[] = {"8080", ":8080", "h:", "h:65536", "h:-1", "h:80x", "[]:80", "[::1:80",
                         "a b:80", "h/x:80", "h]:80", NULL};
    for (int i = 0; bad[i]; i++) {
        l.port = 4242;
        if (config_listen_parse(bad[i], &l) == 0) print_error("accepted '%s'\n", bad[i]);
        assert_int_equal(config_listen_parse(bad[i], &l), -EINVAL);
        assert_int_equal(l.port, 4242); /* untouched */
    }
    assert_int_equal(config_listen_parse(NULL, &l), -EINVAL);
    /* the loaded config carries it parsed, default included */
    write_file("vigil.yaml", HEAD "cameras:\n");
    config *cfg = load_ok("vigil.yaml");
    assert_string_equal(cfg->listen_at.host, "127.0.0.1");
    assert_int_equal(cfg->listen_at.port, 8080);
    config_free(&cfg);
    write_file("vigil.yaml", "listen: \"[::1]:9090\"\n" HEAD "cameras:\n");
    cfg = load_ok("vigil.yaml");
    assert_string_equal(cfg->listen_at.host, "::1");
    assert_int_equal(cfg->listen_at.port, 9090);
    config_free(&cfg);
}

/* Without auth: only loopback; with it, anywhere. */
static void test_listen_allowed(void **state)
{
    (void)state;
    config open = {.path = "vigil.yaml", .auth_enabled = false};
    config authed = {.path = "vigil.yaml", .auth_enabled = true};
    char err[256];
    assert_true(config_listen_allowed(&open, "127.0.0.1:8080", err, sizeof(err)));
    assert_true(config_listen_allowed(&open, "127.3.2.1:0", err, sizeof(err)));
    assert_true(config_listen_allowed(&open, "[::1]:8080", err, sizeof(err)));
    assert_true(config_listen_allowed(&open, "localhost:8080", err, sizeof(err)));
    assert_true(config_listen_allowed(&open, "[::ffff:127.0.0.2]:8080", err, sizeof(err)));
    assert_false(config_listen_allowed(&open, "0.0.0.0:8080", err, sizeof(err)));
    assert_non_null(strstr(err, "loopback"));
    assert_non_null(strstr(err, "vigil.yaml"));
    assert_false(config_listen_allowed(&open, "10.1.2.3:8080", err, sizeof(err)));
    assert_false(config_listen_allowed(&open, "[::]:8080", err, sizeof(err)));
    assert_false(config_listen_allowed(&open, "128.0.0.1:8080", err, sizeof(err)));
    assert_false(config_listen_allowed(&open, "not an address", err, sizeof(err)));
    assert_true(config_listen_allowed(&authed, "0.0.0.0:8080", err, sizeof(err)));
}

static void test_pool_direct_io(void **state)
{
    (void)state;
    write_file("vigil.yaml", "index: i.db\nstorage:\n  pools:\n"
                             "    - {id: a, path: pa}\n"
                             "    - {id: b, path: pb, direct_io: false}\n"
                             "    - {id: c, path: pc, direct_io: true}\n"
                             "    - id: d\n      path: pd\n      direct_io: no\n"
                             "    - id: e\n      path: pe\n      direct_io: On\n");
    config *cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->npools, 5);
    assert_string_equal(cfg->pools[0].id, "a");
    assert_false(cfg->pools[0].buffered); /* absent: direct */
    assert_string_equal(cfg->pools[1].id, "b");
    assert_true(cfg->pools[1].buffered);
    assert_false(cfg->pools[2].buffered);
    assert_true(cfg->pools[3].buffered);
    assert_false(cfg->pools[4].buffered);
    config_free(&cfg);

    expect_error("index: i\nstorage:\n  pools:\n    - id: a\n      path: x\n"
                 "      direct_io: maybe\n",
                 "vigil.yaml:6: pool 'a': direct_io must be true or false");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x, direct_io: 0}\n",
                 "vigil.yaml:4: pool 'a': direct_io must be true or false");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x, direct_io: []}\n",
                 "vigil.yaml:4: pool 'a': direct_io must be true or false");
    expect_error("index: i\nstorage:\n  pools:\n    - id: a\n      path: x\n"
                 "      direct_io: false\n      direct_io: true\n",
                 "vigil.yaml:7: duplicate key 'direct_io' in pool 'a' (first at line 6)");
}

/* sync_ms: how often open segments are fdatasync'ed; 1000 unless said, 0: at close only. */
static void test_pool_sync_ms(void **state)
{
    (void)state;
    write_file("vigil.yaml", "index: i.db\nstorage:\n  pools:\n"
                             "    - {id: a, path: pa}\n"
                             "    - {id: b, path: pb, sync_ms: 0}\n"
                             "    - {id: c, path: pc, sync_ms: 250}\n");
    config *cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->pools[0].sync_ms, 1000);
    assert_int_equal(cfg->pools[1].sync_ms, 0);
    assert_int_equal(cfg->pools[2].sync_ms, 250);
    config_free(&cfg);
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x, sync_ms: -1}\n",
                 "vigil.yaml:4: pool 'a': sync_ms must be an integer 0..3600000");
    expect_error("index: i\nstorage:\n  pools:\n    - {id: a, path: x, sync_ms: soon}\n",
                 "vigil.yaml:4: pool 'a': sync_ms must be an integer 0..3600000");
}

/* tls_verify / tls_ca_file: per camera, checked by default; a change restarts it. */
static void test_camera_tls(void **state)
{
    (void)state;
    write_file("vigil.yaml", HEAD "cameras:\n"
                             "  - {id: a, url: rtsps://h/1, tls_ca_file: certs/ca.pem}\n"
                             "  - {id: b, url: rtsps://h/2, source: ffmpeg, tls_verify: false}\n"
                             "  - {id: c, url: rtsp://h/3}\n");
    config *cfg = load_ok("vigil.yaml");
    assert_false(cfg->cameras[0].tls_no_verify);
    assert_non_null(cfg->cameras[0].tls_ca_file);
    assert_non_null(strstr(cfg->cameras[0].tls_ca_file, "certs/ca.pem"));
    assert_true(cfg->cameras[1].tls_no_verify);
    assert_null(cfg->cameras[2].tls_ca_file);
    assert_false(cfg->cameras[2].tls_no_verify);
    config_camera x = cfg->cameras[0];
    x.tls_ca_file = "/elsewhere.pem";
    assert_true(config_camera_needs_restart(&cfg->cameras[0], &x));
    x = cfg->cameras[0];
    x.tls_no_verify = true;
    assert_true(config_camera_needs_restart(&cfg->cameras[0], &x));
    assert_false(config_camera_needs_restart(&cfg->cameras[0], &cfg->cameras[0]));
    config_free(&cfg);
}

static void test_errors_cameras(void **state)
{
    (void)state;
#define CAM HEAD "cameras:\n  - id: c1\n"
    expect_error(CAM "    urll: rtsp://h/1\n", "vigil.yaml:7: unknown key 'urll' in camera 'c1'");
    expect_error(CAM, "vigil.yaml:6: camera 'c1': url is required");
    /* FFmpeg's RTSP client cannot check a certificate: refused unless said */
    expect_error(CAM "    url: rtsps://h/1\n    source: ffmpeg\n",
                 "vigil.yaml:6: camera 'c1': rtsps:// with source: ffmpeg cannot verify the "
                 "camera's certificate (use source: native, or tls_verify: false)");
    expect_error(CAM "    url: rtsps://h/1\n    tls_verify: sometimes\n",
                 "vigil.yaml:8: camera 'c1': tls_verify must be true or false");
    expect_error(HEAD "cameras:\n  - url: rtsp://h/1\n", "vigil.yaml:6: camera #1 has no id");
    expect_error(HEAD "cameras:\n  - {id: ok, url: rtsp://h/1}\n  - {id: Cam, url: rtsp://h/1}\n",
                 "vigil.yaml:7: camera id 'Cam' must match [a-z0-9_-]{1,64}");
    expect_error(HEAD "cameras:\n  - {id: \"a b\", url: rtsp://h/1}\n",
                 "vigil.yaml:6: camera id 'a b' must match [a-z0-9_-]{1,64}");
    expect_error(HEAD "cameras:\n  - id: "
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "vigil.yaml:6: camera id "
                 "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' must "
                 "match [a-z0-9_-]{1,64}");
    expect_error(CAM "    url: http://h/1\n",
                 "vigil.yaml:7: camera 'c1': url must start with rtsp:// or rtsps://");
    expect_error(CAM "    url: \"rtsp://admin:hunter2@10.0.0.1/s\"\n",
                 "vigil.yaml:7: camera 'c1': url must not contain credentials (use "
                 "username/password)");
    expect_error(CAM "    url: rtsp:///s\n", "vigil.yaml:7: camera 'c1': url has no host");
    expect_error(CAM "    url: rtsp://h/1\n    sub_url: \"rtsp://u:p@h/2\"\n",
                 "vigil.yaml:8: camera 'c1': url must not contain credentials (use "
                 "username/password)");
    expect_error(CAM "    url: rtsp://h/1\n    sub_url: http://h/2\n",
                 "vigil.yaml:8: camera 'c1': url must start with rtsp:// or rtsps://");
    expect_error(CAM "    url: rtsp://h/1\n    record_sub: true\n",
                 "vigil.yaml:8: camera 'c1': record_sub needs a sub_url");
    expect_error(CAM "    url: rtsp://h/1\n    sub_url: rtsp://h/2\n    record_sub: 2\n",
                 "vigil.yaml:9: camera 'c1': record_sub must be true or false");
    expect_error(CAM "    url: rtsp://h/1\n    site: school\n",
                 "vigil.yaml:8: camera 'c1': site must be security, one-stop-shop, traffic, "
                 "forest or other");
    expect_error(CAM "    url: rtsp://h/1\n    transport: http\n",
                 "vigil.yaml:8: camera 'c1': transport must be tcp or udp");
    expect_error(CAM "    url: rtsp://h/1\n    source: gstreamer\n",
                 "vigil.yaml:8: camera 'c1': source must be ffmpeg or native");
    expect_error(CAM "    url: rtsp://h/1\n    enabled: maybe\n",
                 "vigil.yaml:8: camera 'c1': enabled must be true or false");
    expect_error(CAM "    url: rtsp://h/1\n    pool: other\n",
                 "vigil.yaml:8: camera 'c1': pool 'other' is not defined in storage.pools");
    expect_error(CAM "    url: rtsp://h/1\n    retention_days: 1.5\n",
                 "vigil.yaml:8: camera 'c1': retention_days must be an integer >= 0");
    expect_error(CAM "    url: rtsp://h/1\n    name: \"\"\n",
                 "vigil.yaml:8: camera 'c1': name must be a non-empty string");
    expect_error(CAM "    url: rtsp://h/1\n    password: pw\n",
                 "vigil.yaml:8: camera 'c1': password needs a username");
    expect_error(CAM "    url: rtsp://h/1\n    url: rtsp://h/2\n",
                 "vigil.yaml:8: duplicate key 'url' in camera 'c1' (first at line 7)");
    expect_error(HEAD "cameras:\n  - rtsp://h/1\n", "vigil.yaml:6: cameras entries must be mappings");
#undef CAM
}

static void test_errors_auth(void **state)
{
    (void)state;
    char sha[65];
    memset(sha, '0', 64);
    sha[64] = 0;
    char text[1024], want[256];
    expect_error(HEAD "auth:\n  tokens: []\n", "vigil.yaml:6: auth.tokens must list at least one token");
    expect_error(HEAD "auth:\n  users: []\n", "vigil.yaml:6: unknown key 'users' in auth");
    expect_error(HEAD "auth:\n  tokens:\n    - {role: viewer}\n", "vigil.yaml:7: token #1 has no name");
    expect_error(HEAD "auth:\n  tokens:\n    - {name: t, role: boss, token_sha256: x}\n",
                 "vigil.yaml:7: token 't': role must be viewer, investigator, admin or integrator");
    expect_error(HEAD "auth:\n  tokens:\n    - {name: t, role: admin, token_sha256: abc}\n",
                 "vigil.yaml:7: token 't': token_sha256 must be 64 hex digits");
    expect_error(HEAD "auth:\n  tokens:\n    - {name: t, role: admin}\n",
                 "vigil.yaml:7: token 't': token_sha256, token_file or token_credential is "
                 "required");
    expect_error(HEAD "auth:\n  tokens:\n    - {name: t, role: admin, token: abc}\n",
                 "vigil.yaml:7: unknown key 'token' in token 't'");
    expect_error(HEAD "auth:\n  tokens:\n    - {name: t, role: admin, token_file: nope.tok}\n",
                 "vigil.yaml:7: cannot read token_file 'nope.tok': No such file or directory");
    snprintf(text, sizeof(text),
             HEAD "auth:\n  tokens:\n    - {name: t, role: admin, token_sha256: \"%s\"}\n"
                  "    - {name: t, role: admin, token_sha256: \"%s\"}\n",
             sha, sha);
    expect_error(text, "vigil.yaml:8: duplicate token name 't'");
    snprintf(text, sizeof(text),
             HEAD "auth:\n  tokens:\n    - {name: t, role: admin, token_sha256: \"%s\"}\n"
                  "    - {name: u, role: viewer,\n       token_sha256: \"%s\"}\n",
             sha, sha);
    snprintf(want, sizeof(want), "vigil.yaml:9: token 'u' has the same token as token 't'");
    expect_error(text, want);
}

static void test_secrets_not_in_errors(void **state)
{
    (void)state;
#define CAMU HEAD "cameras:\n  - id: c1\n    url: rtsp://h/1\n    username: u\n"
    config *cfg = NULL;
    char err[1024];
    const char *cases[] = {
        CAMU "    password: [hunter2]\n",
        CAMU "    password: {hunter2: 1}\n",
        CAMU "    password: \"hun\\0ter2\"\n",
        CAMU "    password: hunter2\n    password: hunter2\n",
        CAMU "    password: hunter2\n    password_file: pw.txt\n",
        HEAD "cameras:\n  - {id: c1, url: \"rtsp://u:hunter2@h/1\"}\n",
        HEAD "cameras:\n  - {id: c1, url: \"http://u:hunter2@h/1\"}\n",
        HEAD "cameras:\n  - {id: c1, url: \"rtsp://h/hunter2 x\"}\n",
        CAMU "    password_file: pw.txt\n    passwd: 1\n",
        CAMU "    password: hunter2\n    pool: nope\n",
    };
    write_file("pw.txt", "hunter2\n");
    for (size_t i = 0; i < VG_ARRAY_SIZE(cases); i++) {
        write_file("vigil.yaml", cases[i]);
        assert_true(config_load("vigil.yaml", &cfg, err, sizeof(err)) < 0);
        assert_null(cfg);
        if (strstr(err, "hunter2")) print_error("case %zu leaked: %s\n", i, err);
        assert_null(strstr(err, "hunter2"));
    }
    /* nothing is registered on failure */
    char red[64];
    vg_redact("hunter2", red, sizeof(red));
    assert_string_equal(red, "hunter2");

    expect_error(CAMU "    password: [hunter2]\n", "vigil.yaml:9: camera 'c1': password must be a string");
    expect_error(CAMU "    password: \"\"\n", "vigil.yaml:9: camera 'c1': password must not be empty");
#undef CAMU
}

static void test_password_file(void **state)
{
    (void)state;
#define CAMU HEAD "cameras:\n  - id: c1\n    url: rtsp://h/1\n    username: u\n"
    write_file("secrets/c1.pw", "file-pw-XYZ\r\n\n");
    write_file("vigil.yaml", CAMU "    password_file: secrets/c1.pw\n");
    config *cfg = load_ok("vigil.yaml");
    assert_string_equal(cfg->cameras[0].password, "file-pw-XYZ");
    assert_string_equal(cfg->cameras[0].password_file, abs_path("secrets/c1.pw"));
    char red[64];
    vg_redact("x file-pw-XYZ y", red, sizeof(red));
    assert_string_equal(red, "x *** y");
    config_free(&cfg);

    expect_error(CAMU "    password_file: secrets/none\n",
                 "vigil.yaml:9: cannot read password_file 'secrets/none': No such file or directory");
    write_file("secrets/empty", "\n");
    expect_error(CAMU "    password_file: secrets/empty\n",
                 "vigil.yaml:9: password_file 'secrets/empty' is empty");
    expect_error(CAMU "    password_file: secrets\n",
                 "vigil.yaml:9: cannot read password_file 'secrets': is a directory");
    assert_int_equal(mkfifo("secrets/fifo", 0600), 0);
    expect_error(CAMU "    password_file: secrets/fifo\n",
                 "vigil.yaml:9: cannot read password_file 'secrets/fifo': not a regular file");
    expect_error(CAMU "    password: a\n    password_file: secrets/c1.pw\n",
                 "vigil.yaml:10: camera 'c1': password and password_file are exclusive");
    expect_error(HEAD "cameras:\n  - id: c1\n    url: rtsp://h/1\n    password_file: secrets/c1.pw\n",
                 "vigil.yaml:8: camera 'c1': password needs a username");
#undef CAMU
}

/* Secrets from systemd's LoadCredential=: $CREDENTIALS_DIRECTORY/<name>, or
 * vigil_<name> (the unit loads /etc/vigil/credentials as "vigil"). */
static void test_password_credential(void **state)
{
    (void)state;
#define CAMU HEAD "cameras:\n  - id: c1\n    url: rtsp://h/1\n    username: u\n"
    write_file("creds/cam12", "cred-pw-ABC\n");
    write_file("creds/vigil_cam13", "dir-pw-DEF");
    write_file("creds/vigil_admin", "admin-token-GHI\n");
    unsetenv("CREDENTIALS_DIRECTORY");
    expect_error(CAMU "    password_credential: cam12\n",
                 "vigil.yaml:9: password_credential 'cam12': no $CREDENTIALS_DIRECTORY (systemd "
                 "sets it for a unit with LoadCredential=)");
    /* vigilctl outside the unit: the names are checked, nothing is read. */
    write_file("vigil.yaml", CAMU "    password_credential: cam12\n"
                             "auth:\n  tokens:\n    - {name: a, role: admin, token_credential: admin}\n"
                             "    - {name: b, role: admin, token_credential: other}\n");
    config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(config_load_flags("vigil.yaml", CONFIG_LOAD_NO_CREDENTIALS, &cfg, err,
                                       sizeof(err)), 0);
    assert_null(cfg->cameras[0].password);
    assert_string_equal(cfg->cameras[0].password_credential, "cam12");
    config_free(&cfg);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", abs_path("creds"), 1), 0);
    write_file("vigil.yaml", CAMU "    password_credential: cam12\n"
                             "  - id: c2\n    url: rtsp://h/2\n    username: u\n"
                             "    password_credential: cam13\n"
                             "auth:\n  tokens:\n    - {name: a, role: admin, token_credential: admin}\n");
    cfg = load_ok("vigil.yaml");
    assert_string_equal(cfg->cameras[0].password, "cred-pw-ABC");
    assert_string_equal(cfg->cameras[0].password_credential, "cam12");
    assert_string_equal(cfg->cameras[1].password, "dir-pw-DEF");
    uint8_t sha[32];
    vg_sha256_digest("admin-token-GHI", strlen("admin-token-GHI"), sha);
    assert_memory_equal(cfg->tokens[0].sha256, sha, 32);
    char red[64];
    vg_redact("x cred-pw-ABC y", red, sizeof(red));
    assert_string_equal(red, "x *** y");
    config_free(&cfg);

    expect_error(CAMU "    password_credential: cam99\n",
                 "vigil.yaml:9: password_credential 'cam99' is not among the service's "
                 "credentials (put it in /etc/vigil/credentials/cam99, or add "
                 "LoadCredential=cam99:FILE to the unit)");
    expect_error(CAMU "    password_credential: ../creds/cam12\n",
                 "vigil.yaml:9: password_credential '../creds/cam12' is not a credential name "
                 "(no '/', not . or ..)");
    expect_error(CAMU "    password: a\n    password_credential: cam12\n",
                 "vigil.yaml:10: camera 'c1': password_credential and password are exclusive");
    expect_error(HEAD "cameras:\n  - id: c1\n    url: rtsp://h/1\n    password_credential: cam12\n",
                 "vigil.yaml:8: camera 'c1': password needs a username");
    write_file("creds/empty", "\n");
    expect_error(CAMU "    password_credential: empty\n",
                 "vigil.yaml:9: password_credential 'empty' is empty");
    expect_error(HEAD "auth:\n  tokens:\n    - {name: t, role: admin, token_file: x, "
                      "token_credential: admin}\n",
                 "vigil.yaml:7: token 't': token_sha256, token_file and token_credential are "
                 "exclusive");
    unsetenv("CREDENTIALS_DIRECTORY");
#undef CAMU
}

/* ---- helpers ---- */

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},
        {"12345", 12345},
        {"10B", 10},
        {"4KB", 4000},
        {"4MB", 4000000},
        {"3GB", 3000000000ull},
        {"2TB", 2000000000000ull},
        {"4KiB", 4096},
        {"500MiB", 500ull << 20},
        {"3GiB", 3ull << 30},
        {"2TiB", 2ull << 40},
        {"4K", 4096},
        {"16M", 16ull << 20},
        {"1G", 1ull << 30},
        {"1T", 1ull << 40},
        {"2 TiB", 2ull << 40},
        {"2tib", 2ull << 40},
        {"18446744073709551615", UINT64_MAX},
        {"16777215T", 16777215ull << 40},
    };
    static const char *const bad[] = {
        "", "x", "-1", "+1", " 1", "1 ", "1.5GB", "1XB", "1PB", "1 KB ", "KB",
        "18446744073709551616", "16777216T", "1e9", "5%", "0x10",
    };
    for (size_t i = 0; i < VG_ARRAY_SIZE(ok); i++) {
        uint64_t v = 7;
        if (config_parse_size(ok[i].s, &v) != 0) print_error("rejected '%s'\n", ok[i].s);
        assert_int_equal(config_parse_size(ok[i].s, &v), 0);
        assert_true(v == ok[i].v);
    }
    for (size_t i = 0; i < VG_ARRAY_SIZE(bad); i++) {
        uint64_t v = 7;
        if (config_parse_size(bad[i], &v) != -EINVAL) print_error("accepted '%s'\n", bad[i]);
        assert_int_equal(config_parse_size(bad[i], &v), -EINVAL);
    }
    uint64_t v;
    assert_int_equal(config_parse_size(NULL, &v), -EINVAL);

    write_file("vigil.yaml", "index: i\nstorage:\n  pools:\n"
                             "    - {id: a, path: x, max_bytes: 1048576, min_free: \"2.5%\"}\n");
    config *cfg = load_ok("vigil.yaml");
    assert_true(cfg->pools[0].max_bytes == 1048576);
    assert_true(cfg->pools[0].min_free_pct == 2.5);
    config_free(&cfg);
}

static void test_needs_restart(void **state)
{
    (void)state;
    write_file("vigil.yaml", "index: i\nstorage:\n  pools:\n    - {id: a, path: x}\n"
                             "    - {id: b, path: y}\n"
                             "cameras:\n"
                             "  - {id: c, url: rtsp://h/1, username: u, password: p}\n");
    config *a = load_ok("vigil.yaml");
    const char *changes[] = {
        "name: N",          "district: D",        "site: traffic",       "retention_days: 3",
        "url: rtsp://h/2",  "username: v",        "password: q",         "transport: udp",
        "pool: b",          "source: ffmpeg",     "enabled: false",
    };
    const bool restart[] = {false, false, false, false, true, true, true, true, true, true, true};
    for (size_t i = 0; i < VG_ARRAY_SIZE(changes); i++) {
        char text[512];
        /* later keys of a flow mapping cannot repeat, so rebuild the camera */
        char cam[256] = "id: c";
        const char *base[] = {"url: rtsp://h/1", "username: u", "password: p"};
        for (size_t j = 0; j < 3; j++) {
            size_t kl = strcspn(base[j], ":");
            if (strncmp(changes[i], base[j], kl + 1) != 0) {
                strcat(cam, ", ");
                strcat(cam, base[j]);
            }
        }
        strcat(cam, ", ");
        strcat(cam, changes[i]);
        snprintf(text, sizeof(text),
                 "index: i\nstorage:\n  pools:\n    - {id: a, path: x}\n    - {id: b, path: y}\n"
                 "cameras:\n  - {%s}\n",
                 cam);
        write_file("vigil.yaml", text);
        config *b = load_ok("vigil.yaml");
        if (config_camera_needs_restart(&a->cameras[0], &b->cameras[0]) != restart[i])
            print_error("change '%s'\n", changes[i]);
        assert_int_equal(config_camera_needs_restart(&a->cameras[0], &b->cameras[0]), restart[i]);
        assert_int_equal(config_camera_needs_restart(&b->cameras[0], &a->cameras[0]), restart[i]);
        config_free(&b);
    }
    assert_false(config_camera_needs_restart(&a->cameras[0], &a->cameras[0]));
    config_free(&a);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(config_site_name(CONFIG_SITE_SECURITY), "security");
    assert_string_equal(config_site_name(CONFIG_SITE_ONE_STOP_SHOP), "one-stop-shop");
    assert_string_equal(config_site_name(CONFIG_SITE_TRAFFIC), "traffic");
    assert_string_equal(config_site_name(CONFIG_SITE_FOREST), "forest");
    assert_string_equal(config_site_name(CONFIG_SITE_OTHER), "other");
    assert_string_equal(config_role_name(CONFIG_ROLE_VIEWER), "viewer");
    assert_string_equal(config_role_name(CONFIG_ROLE_INVESTIGATOR), "investigator");
    assert_string_equal(config_role_name(CONFIG_ROLE_ADMIN), "admin");
    assert_null(config_find_camera(NULL, "x"));
    assert_null(config_camera_pool(NULL, NULL));
}

/* events: {pre_roll, post_roll, retention_days} and the integrator role. */
static void test_events_config(void **state)
{
    (void)state;
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = 0;
    write_file("vigil.yaml", HEAD);
    config *cfg = load_ok("vigil.yaml");
    assert_true(cfg->event_pre_roll_us == 10000000);
    assert_true(cfg->event_post_roll_us == 20000000);
    assert_int_equal(cfg->event_retention_days, 90);
    config_free(&cfg);
    char text[512];
    snprintf(text, sizeof(text),
             HEAD "events: {pre_roll: 30s, post_roll: 2m}\n"
                  "auth:\n  tokens:\n    - {name: anpr, role: integrator, token_sha256: \"%s\"}\n",
             sha);
    write_file("vigil.yaml", text);
    cfg = load_ok("vigil.yaml");
    assert_true(cfg->event_pre_roll_us == 30000000);
    assert_true(cfg->event_post_roll_us == 120000000);
    assert_int_equal(cfg->tokens[0].role, CONFIG_ROLE_INTEGRATOR);
    assert_string_equal(config_role_name(cfg->tokens[0].role), "integrator");
    config_free(&cfg);
    write_file("vigil.yaml", HEAD "events:\n  pre_roll: 0\n  post_roll: 45\n");
    cfg = load_ok("vigil.yaml");
    assert_true(cfg->event_pre_roll_us == 0);
    assert_true(cfg->event_post_roll_us == 45000000);
    assert_int_equal(cfg->event_retention_days, 90); /* absent in the section: the default */
    config_free(&cfg);
    write_file("vigil.yaml", HEAD "events:\n  retention_days: 365\n");
    cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->event_retention_days, 365);
    config_free(&cfg);
    write_file("vigil.yaml", HEAD "events:\n  retention_days: 0\n");
    cfg = load_ok("vigil.yaml");
    assert_int_equal(cfg->event_retention_days, 90); /* 0: the default */
    config_free(&cfg);
    expect_error(HEAD "events:\n  pre_roll: 5\n  retention_days: -1\n",
                 "vigil.yaml:7: events.retention_days must be an integer 0..100000");
    expect_error(HEAD "events: {retention_days: 100001}\n",
                 "vigil.yaml:5: events.retention_days must be an integer 0..100000");
    expect_error(HEAD "events: {retention_days: ninety}\n",
                 "vigil.yaml:5: events.retention_days must be an integer 0..100000");
    expect_error(HEAD "events: {pre_roll: 61m}\n",
                 "vigil.yaml:5: events.pre_roll must be a duration of 0..3600 s (\"30s\", \"2m\")");
    expect_error(HEAD "events: {post_roll: -1s}\n",
                 "vigil.yaml:5: events.post_roll must be a duration of 0..3600 s (\"30s\", \"2m\")");
    expect_error(HEAD "events: {post_roll: s}\n",
                 "vigil.yaml:5: events.post_roll must be a duration of 0..3600 s (\"30s\", \"2m\")");
    expect_error(HEAD "events: {preroll: 1}\n", "vigil.yaml:5: unknown key 'preroll' in events");
    expect_error(HEAD "events: 5\n", "vigil.yaml:5: events must be a mapping");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_port_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths_absolute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_includes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_top_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_yaml_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_pool_without_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_parse, setup, teardown),
        cmocka_unit_test(test_listen_allowed),
        cmocka_unit_test_setup_teardown(test_pool_direct_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_sync_ms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_camera_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_cameras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_not_in_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_credential, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_needs_restart, setup, teardown),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
