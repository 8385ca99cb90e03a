/*
 * libFuzzer driver for config/: the input becomes vigil.yaml in a private temp
 * directory and goes through config_load()/config_free(). The directory also
 * holds a password file, a token file and a cameras.d drop-in, so inputs that
 * name them (see corpus/config/) reach the include and secret-file paths.
 * Secrets registered by a successful load are cleared after every run so the
 * redaction list does not grow across iterations.
 */
#include "common/common.h"
#include "config/config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];
static char main_path[PATH_MAX + 16];

static void put(const char *name, const char *text)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof(dir), "%s/fuzz-config-XXXXXX", tmp);
    if (!mkdtemp(dir)) abort();
    snprintf(main_path, sizeof(main_path), "%s/vigil.yaml", dir);
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof(sub), "%s/cameras.d", dir);
    mkdir(sub, 0700);
    put("cam.pw", "camera-password\n");
    put("admin.token", "admin-token\n");
    put("cameras.d/a.yaml", "cameras:\n  - {id: inc-1, url: \"rtsp://10.0.0.9/s\"}\n");
    vg_log_set_level(LOG_EMERG);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(main_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);

    config *cfg = NULL;
    char err[512];
    int ret = config_load(main_path, &cfg, err, sizeof(err));
    if ((ret == 0) != (cfg != NULL)) abort();
    if (ret < 0 && !memchr(err, 0, sizeof(err))) abort();
    if (cfg) {
        for (size_t i = 0; i < cfg->ncameras; i++) {
            const config_camera *c = &cfg->cameras[i];
            if (config_find_camera(cfg, c->id) != c) abort();
            if (!config_camera_pool(cfg, c)) abort();
            if (config_camera_needs_restart(c, c)) abort();
        }
    }
    config_free(&cfg);
    vg_log_clear_secrets();
    return 0;
}
