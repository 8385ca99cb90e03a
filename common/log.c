/*
 * Logging. One line = one write(2) to stderr, prefixed with the sd-daemon
 * priority "<N>" so journald files it at the right level. Secrets (camera
 * passwords, tokens) are registered once and scrubbed from every line, and any
 * URL userinfo is scrubbed too, because libraries (FFmpeg's RTSP client) print
 * URLs in their own messages.
 */
#include "common/common.h"

#include <libavutil/log.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t nsecrets;
static int log_level = LOG_INFO;

void vg_log_set_level(int max_prio)
{
    log_level = max_prio;
}

void vg_log_add_secret(const char *s)
{
    if (!s || !*s) return;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], s) == 0) goto out;
    char **n = realloc(secrets, (nsecrets + 1) * sizeof(*n));
    if (n) {
        secrets = n;
        secrets[nsecrets] = strdup(s);
        if (secrets[nsecrets]) nsecrets++;
    }
out:
    pthread_mutex_unlock(&secrets_lock);
}

void vg_log_clear_secrets(void)
{
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++) free(secrets[i]);
    free(secrets);
    secrets = NULL;
    nsecrets = 0;
    pthread_mutex_unlock(&secrets_lock);
}

/* Replaces the userinfo of "scheme://user:pass@host" with "***". */
static void scrub_userinfo(char *s)
{
    char *p = s;
    while ((p = strstr(p, "://")) != NULL) {
        char *start = p + 3;
        char *end = start + strcspn(start, "/ \t\n\"'@");
        if (*end == '@' && end > start) {
            memmove(start + 3, end, strlen(end) + 1);
            memcpy(start, "***", 3);
            p = start + 4;
        } else {
            p = start;
        }
    }
}

void vg_redact(const char *s, char *out, size_t outlen)
{
    if (!outlen) return;
    snprintf(out, outlen, "%s", s);
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        size_t sl = strlen(secrets[i]);
        char *p;
        while ((p = strstr(out, secrets[i])) != NULL) {
            memmove(p + 3, p + sl, strlen(p + sl) + 1);
            memcpy(p, "***", 3);
        }
    }
    pthread_mutex_unlock(&secrets_lock);
    scrub_userinfo(out);
}

static void vlog_line(int prio, const char *camera, const char *fmt, va_list ap)
{
    if (prio > log_level) return;
    char msg[2048], clean[2048], line[2100];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t ml = strlen(msg);
    while (ml && (msg[ml - 1] == '\n' || msg[ml - 1] == '\r')) msg[--ml] = 0;
    vg_redact(msg, clean, sizeof(clean));
    int n = camera ? snprintf(line, sizeof(line), "<%d>camera=%s: %s\n", prio, camera, clean)
                   : snprintf(line, sizeof(line), "<%d>%s\n", prio, clean);
    if (n < 0) return;
    if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void vg_log(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_line(prio, NULL, fmt, ap);
    va_end(ap);
}

void vg_log_cam(int prio, const char *camera, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_line(prio, camera, fmt, ap);
    va_end(ap);
}

/* FFmpeg messages arrive in pieces; they are logged as they come, at most one
 * line each, at the mapped priority. The camera id travels in the AVClass
 * context's opaque when the caller set it (ingest does), else it is omitted. */
static void ffmpeg_cb(void *avcl, int level, const char *fmt, va_list ap)
{
    if (level > av_log_get_level()) return;
    int prio = level <= AV_LOG_ERROR ? LOG_ERR : level <= AV_LOG_WARNING ? LOG_WARNING
             : level <= AV_LOG_INFO ? LOG_INFO : LOG_DEBUG;
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (!buf[0] || strcmp(buf, "\n") == 0) return;
    const char *cls = "ffmpeg";
    if (avcl && *(AVClass **)avcl) cls = (*(AVClass **)avcl)->item_name(avcl);
    vg_log(prio, "ffmpeg[%s]: %s", cls, buf);
}

void vg_log_capture_ffmpeg(void)
{
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(ffmpeg_cb);
}
