/*
 * JSON lines of vigilctl (jansson). Strings from the index are normally UTF-8;
 * one that is not (a camera's error text copied into an event) is printed with
 * its non-ASCII bytes replaced by '?' rather than dropping the line.
 */
#include "tools/vigilctl/vigilctl_format.h"

#include "common/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string of s, never NULL unless out of memory. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j) return j;
    char *copy = strdup(s);
    if (!copy) return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *jtime(int64_t us)
{
    char buf[VG_TIME_LEN];
    return jstr(vg_time_format(us, buf, sizeof(buf)));
}

/* Sets key to value (taking the reference); a NULL value (out of memory)
 * marks *ok false. */
static void set(json_t *o, const char *key, json_t *value, int *ok)
{
    if (!value || json_object_set_new(o, key, value) < 0) *ok = 0;
}

static char *dump(json_t *o, int ok)
{
    char *s = ok ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *vigilctl_segment_json(const index_segment *s, const char *pool_path)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int ok = 1;
    set(o, "camera", jstr(s->camera), &ok);
    set(o, "start", jtime(s->start_us), &ok);
    set(o, "end", jtime(s->end_us), &ok);
    if (pool_path) {
        size_t len = strlen(pool_path);
        int slash = len > 0 && pool_path[len - 1] == '/';
        char *path = NULL;
        if (asprintf(&path, "%s%s%s", pool_path, slash ? "" : "/", s->path) < 0) path = NULL;
        set(o, "path", path ? jstr(path) : NULL, &ok);
        free(path);
    } else {
        set(o, "path", json_null(), &ok);
    }
    set(o, "bytes", json_integer(s->bytes), &ok);
    if (!s->open && s->has_sha256) {
        char hex[65];
        vg_hex(s->sha256, 32, hex);
        set(o, "sha256", jstr(hex), &ok);
    } else {
        set(o, "sha256", json_null(), &ok);
    }
    return dump(o, ok);
}

char *vigilctl_event_json(const index_event *e)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int ok = 1;
    set(o, "time", jtime(e->time_us), &ok);
    set(o, "camera", e->camera[0] ? jstr(e->camera) : json_null(), &ok);
    set(o, "type", jstr(e->type), &ok);
    set(o, "detail", jstr(e->detail), &ok);
    return dump(o, ok);
}
