/*
 * Event and audit details are JSON objects built with jansson by whoever
 * records them (a quote in a camera name or a path cannot break them), and
 * stored as text in a column of bounded size. This file is the one place
 * that turns such an object into that text: compact, keys in the order they
 * were added, and when it would not fit, its longest strings shortened on
 * UTF-8 character boundaries (marked with "…"), then its longest arrays, until
 * it does, so a stored detail is always a whole JSON document.
 */
#include "index/index.h"

#include "common/common.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cuts the longest string member of o (top level) to about half its length,
 * on a character boundary, or else halves its longest array. false when
 * there is nothing left to cut. */
static bool shorten_longest(json_t *o)
{
    const char *key, *best = NULL;
    json_t *v;
    size_t best_len = 8; /* not worth cutting below this */
    json_object_foreach(o, key, v) {
        if (json_is_string(v) && json_string_length(v) > best_len) {
            best = key;
            best_len = json_string_length(v);
        }
    }
    if (!best) {
        /* No string left to cut: halve the longest array. */
        size_t alen = 1;
        json_object_foreach(o, key, v) {
            if (json_is_array(v) && json_array_size(v) > alen) {
                best = key;
                alen = json_array_size(v);
            }
        }
        if (!best) return false;
        json_t *arr = json_object_get(o, best);
        while (json_array_size(arr) > alen / 2) json_array_remove(arr, json_array_size(arr) - 1);
        return true;
    }
    const char *s = json_string_value(json_object_get(o, best));
    size_t cut = vg_utf8_cut(s, best_len / 2);
    char *t = malloc(cut + sizeof("\xe2\x80\xa6"));
    if (!t) return false;
    memcpy(t, s, cut);
    memcpy(t + cut, "\xe2\x80\xa6", sizeof("\xe2\x80\xa6"));
    json_object_set_new(o, best, json_string(t));
    free(t);
    return true;
}

int index_detail_format(const json_t *detail, char *out, size_t len)
{
    json_t *copy = NULL;
    int ret = -ENOMEM;
    if (!detail) {
        snprintf(out, len, "{}");
        return -ENOMEM;
    }
    for (;;) {
        char *s = json_dumps(copy ? copy : detail, JSON_COMPACT);
        if (!s) break;
        size_t n = strlen(s);
        if (n < len) {
            memcpy(out, s, n + 1);
            free(s);
            ret = 0;
            break;
        }
        free(s);
        if (!copy && !(copy = json_deep_copy(detail))) break;
        if (!json_is_object(copy) || !shorten_longest(copy)) {
            ret = -E2BIG;
            break;
        }
    }
    if (ret < 0) snprintf(out, len, "{}");
    json_decref(copy);
    return ret;
}

void index_event_add_json(index_db *db, int64_t time_us, const char *camera, const char *type,
                          json_t *detail)
{
    char text[INDEX_DETAIL_MAX];
    index_detail_format(detail, text, sizeof(text));
    json_decref(detail);
    index_event_add(db, time_us, camera, type, text);
}
