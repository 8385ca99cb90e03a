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
    GString *motion = g_string_new("");
    if (s->slices > 1) g_snprintf(slices, sizeof(slices), ",slices=%d", s->slices);
    for (int i = 0; i < s->nmotion; i++)
        g_string_append_printf(motion, "%s%g-%g", i ? "+" : ",motion=", s->motion[i].start,
                               s->motion[i].end);
    if (s->nmotion) g_string_append_printf(motion, "/%d", s->cycle);
    char *key = g_strdup_printf("%s,bframes=%d%s%s,%dx%d@%d,%dkbps%s,gop=%d%s%s",
                                s->codec == CAMSIM_CODEC_H265 ? "h265" : "h264", s->bframes,
                                s->b_adapt && s->bframes ? ",b_adapt" : "", slices, s->width,
                                s->height, s->fps, s->bitrate,
                                s->rc == CAMSIM_RC_CBR   ? ",cbr"
                                : s->rc == CAMSIM_RC_VBR ? ",vbr"
                                                         : "", s->gop,
                                s->pattern == CAMSIM_PATTERN_SNOW ? ",snow" : "", motion->str);
    g_string_free(motion, TRUE);
    return key;
}

/* "10-16,30-34" was split on ',' with the spec: each window is one item,
 * "A-B" with A < B; a window after motion= is an item without '='. */
static int parse_window(const char *v, camsim_spec *s)
{
    double a = 0, b = 0;
    const char *dash = strchr(v, '-');
    if (!dash || s->nmotion >= CAMSIM_MOTION_MAX) return -EINVAL;
    char *av = g_strndup(v, (gsize)(dash - v));
    char *end = NULL;
    a = g_ascii_strtod(av, &end);
    int bad = end == av || *end;
    g_free(av);
    if (bad) return -EINVAL;
    b = g_ascii_strtod(dash + 1, &end);
    if (end == dash + 1 || *end || !(a >= 0) || !(b > a) || b > 86400) return -EINVAL;
    s->motion[s->nmotion++] = (camsim_window){a, b};
    return 0;
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
    } else if (!strcmp(k, "motion")) {
        s->nmotion = 0;
        rc = parse_window(v, s);
    } else if (!strcmp(k, "cycle")) {
        rc = parse_int(v, 1, 86400, &s->cycle);
    } else if (!strcmp(k, "rc")) {
        if (!strcmp(v, "abr"))
            s->rc = CAMSIM_RC_ABR;
        else if (!strcmp(v, "vbr"))
            s->rc = CAMSIM_RC_VBR;
        else if (!strcmp(v, "cbr"))
            s->rc = CAMSIM_RC_CBR;
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
    const char *last_key = "";
    for (gchar **it = items; *it; it++) {
        if (!**it) continue;
        char *eq = strchr(*it, '=');
        if (!eq && !strcmp(last_key, "motion")) { /* motion=10-16,30-34 */
            if ((rc = parse_window(*it, out))) {
                *err = g_strdup_printf("bad motion window '%s'", *it);
                goto out;
            }
            continue;
        }
        if (!eq) {
            *err = g_strdup_printf("'%s' is not key=value", *it);
            rc = -EINVAL;
            goto out;
        }
        *eq = '\0';
        last_key = *it;
        if ((rc = apply_kv(out, *it, eq + 1, err))) goto out;
    }
    if (out->rc == CAMSIM_RC_CBR && out->codec != CAMSIM_CODEC_H264) {
        *err = g_strdup("rc=cbr (filler data) needs codec=h264");
        rc = -EINVAL;
        goto out;
    }
    if (out->nmotion) {
        if (!out->cycle) {
            /* the shortest whole minute fraction that holds every window */
            double last = 0;
            for (int i = 0; i < out->nmotion; i++)
                if (out->motion[i].end > last) last = out->motion[i].end;
            out->cycle = last <= 60 ? 60 : (int)last + 1;
        }
        for (int i = 0; i < out->nmotion; i++) {
            if (out->motion[i].end > out->cycle) {
                *err = g_strdup_printf("motion window %g-%g ends after the cycle (%d s)",
                                       out->motion[i].start, out->motion[i].end, out->cycle);
                rc = -EINVAL;
                goto out;
            }
        }
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
