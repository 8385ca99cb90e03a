/*
 * Mount specs. A spec is "NAME[:key=value,key=value...]" and says what one
 * simulated camera sends (scene, codec, B-frames fixed or adaptive, slices per picture,
 * where the parameter sets travel, audio, size, rate, bitrate, GOP) and how it
 * misbehaves (credentials, periodic drops, stalls). The encoding keys form the
 * variant key: every mount with the same key shares one encoder, which is what
 * lets one process simulate hundreds of cameras. params= is not part of it: the
 * payloader, one per client, decides that.
 */
#include "tools/camsim/camsim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void camsim_spec_init(camsim_spec *out)
{
    memset(out, 0, sizeof(*out));
    out->codec = CAMSIM_CODEC_H264;
    out->audio = CAMSIM_AUDIO_NONE;
    out->fps = 25;
    out->width = 640;
    out->height = 360;
    out->bitrate = 1000;
    out->gop = 50;
    out->slices = 1;
    out->params = CAMSIM_PARAMS_INBAND;
    out->auth = CAMSIM_AUTH_NONE;
}

void camsim_spec_copy(camsim_spec *dst, const camsim_spec *src)
{
    *dst = *src;
    dst->name = g_strdup(src->name);
    dst->user = g_strdup(src->user);
    dst->password = g_strdup(src->password);
}

void camsim_spec_clear(camsim_spec *s)
{
    g_free(s->name);
    g_free(s->user);
    g_free(s->password);
    s->name = s->user = s->password = NULL;
}

const char *camsim_audio_name(camsim_audio a)
{
    switch (a) {
    case CAMSIM_AUDIO_AAC:
        return "aac";
    case CAMSIM_AUDIO_PCMU:
        return "pcmu";
    default:
        return "none";
    }
}

char *camsim_spec_video_key(const camsim_spec *s)
{
    char slices[32] = "";
    if (s->slices > 1) g_snprintf(slices, sizeof(slices), ",slices=%d", s->slices);
    return g_strdup_printf("%s,bframes=%d%s%s,%dx%d@%d,%dkbps,gop=%d%s",
                           s->codec == CAMSIM_CODEC_H265 ? "h265" : "h264", s->bframes,
                           s->b_adapt && s->bframes ? ",b_adapt" : "", slices, s->width,
                           s->height, s->fps, s->bitrate, s->gop,
                           s->pattern == CAMSIM_PATTERN_SNOW ? ",snow" : "");
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) return -EINVAL;
    *out = (int)n;
    return 0;
}

static int parse_seconds(const char *v, double *out)
{
    char *end = NULL;
    errno = 0;
    double d = g_ascii_strtod(v, &end);
    if (errno || end == v || *end || !(d >= 0) || d > 1e6) return -EINVAL;
    *out = d;
    return 0;
}

static gboolean valid_name(const char *n)
{
    if (!*n) return FALSE;
    for (const char *p = n; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("_-.", *p)) return FALSE;
    return TRUE;
}

static int apply_kv(camsim_spec *s, const char *k, const char *v, char **err)
{
    int rc = 0;
    if (!strcmp(k, "codec")) {
        if (!strcmp(v, "h264"))
            s->codec = CAMSIM_CODEC_H264;
        else if (!strcmp(v, "h265") || !strcmp(v, "hevc"))
            s->codec = CAMSIM_CODEC_H265;
        else
            rc = -EINVAL;
    } else if (!strcmp(k, "bframes")) {
        rc = parse_int(v, 0, 16, &s->bframes);
    } else if (!strcmp(k, "b_adapt")) {
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "adaptive"))
            s->b_adapt = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "fixed"))
            s->b_adapt = 0;
        else
            rc = -EINVAL;
    } else if (!strcmp(k, "slices")) {
        rc = parse_int(v, 1, 16, &s->slices);
    } else if (!strcmp(k, "pattern")) {
        if (!strcmp(v, "ball"))
            s->pattern = CAMSIM_PATTERN_BALL;
        else if (!strcmp(v, "snow"))
            s->pattern = CAMSIM_PATTERN_SNOW;
        else
            rc = -EINVAL;
    } else if (!strcmp(k, "params")) {
        if (!strcmp(v, "inband"))
            s->params = CAMSIM_PARAMS_INBAND;
        else if (!strcmp(v, "sdp"))
            s->params = CAMSIM_PARAMS_SDP;
        else
            rc = -EINVAL;
    } else if (!strcmp(k, "audio")) {
        if (!strcmp(v, "none"))
            s->audio = CAMSIM_AUDIO_NONE;
        else if (!strcmp(v, "aac"))
            s->audio = CAMSIM_AUDIO_AAC;
        else if (!strcmp(v, "pcmu"))
            s->audio = CAMSIM_AUDIO_PCMU;
        else
            rc = -EINVAL;
    } else if (!strcmp(k, "fps")) {
        rc = parse_int(v, 1, 120, &s->fps);
    } else if (!strcmp(k, "size")) {
        int w = 0, h = 0;
        char *x = strchr(v, 'x');
        if (!x) {
            rc = -EINVAL;
        } else {
            char *wv = g_strndup(v, (gsize)(x - v));
            rc = parse_int(wv, 16, 7680, &w);
            g_free(wv);
            if (!rc) rc = parse_int(x + 1, 16, 4320, &h);
            /* 4:2:0 encoders want even dimensions. */
            if (!rc && ((w | h) & 1)) rc = -EINVAL;
            if (!rc) {
                s->width = w;
                s->height = h;
            }
        }
    } else if (!strcmp(k, "bitrate")) {
        rc = parse_int(v, 16, 200000, &s->bitrate);
    } else if (!strcmp(k, "gop")) {
        rc = parse_int(v, 1, 10000, &s->gop);
    } else if (!strcmp(k, "user")) {
        g_free(s->user);
        s->user = g_strdup(v);
        rc = *v && !strchr(v, ':') ? 0 : -EINVAL;
    } else if (!strcmp(k, "password")) {
        g_free(s->password);
        s->password = g_strdup(v);
    } else if (!strcmp(k, "auth")) {
        if (!strcmp(v, "basic"))
            s->auth = CAMSIM_AUTH_BASIC;
        else if (!strcmp(v, "digest"))
            s->auth = CAMSIM_AUTH_DIGEST;
        else
            rc = -EINVAL;
    } else if (!strcmp(k, "drop_every")) {
        rc = parse_seconds(v, &s->drop_every);
    } else if (!strcmp(k, "stall_after")) {
        rc = parse_seconds(v, &s->stall_after);
    } else {
        *err = g_strdup_printf("unknown key '%s'", k);
        return -EINVAL;
    }
    if (rc) *err = g_strdup_printf("bad value '%s' for %s", v, k);
    return rc;
}

int camsim_spec_parse(const char *text, int need_name, camsim_spec *out, char **err)
{
    int rc = 0;
    const char *rest = text;
    const char *colon = strchr(text, ':');
    size_t head_len = colon ? (size_t)(colon - text) : strlen(text);
    gchar **items = NULL;

    /* The leading component is a name unless it is already a key=value. */
    if (!memchr(text, '=', head_len)) {
        char *name = g_strndup(text, head_len);
        if (!valid_name(name)) {
            *err = g_strdup_printf("bad mount name '%s' (use letters, digits, _ - .)", name);
            g_free(name);
            rc = -EINVAL;
            goto out;
        }
        g_free(out->name);
        out->name = name;
        rest = colon ? colon + 1 : "";
    } else if (need_name) {
        *err = g_strdup_printf("mount spec '%s' has no name", text);
        rc = -EINVAL;
        goto out;
    }

    items = g_strsplit(rest, ",", -1);
    for (gchar **it = items; *it; it++) {
        if (!**it) continue;
        char *eq = strchr(*it, '=');
        if (!eq) {
            *err = g_strdup_printf("'%s' is not key=value", *it);
            rc = -EINVAL;
            goto out;
        }
        *eq = '\0';
        if ((rc = apply_kv(out, *it, eq + 1, err))) goto out;
    }
    if (out->user && !out->password) out->password = g_strdup("");
    if (out->user && out->auth == CAMSIM_AUTH_NONE) out->auth = CAMSIM_AUTH_DIGEST;
    if (!out->user && out->auth != CAMSIM_AUTH_NONE) {
        *err = g_strdup("auth= needs user=");
        rc = -EINVAL;
        goto out;
    }
    if (need_name && !out->name) {
        *err = g_strdup_printf("mount spec '%s' has no name", text);
        rc = -EINVAL;
    }
out:
    g_strfreev(items);
    return rc;
}
