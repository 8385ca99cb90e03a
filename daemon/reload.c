/*
 * Configuration reload (see reload.h for the rules).
 *
 * The camera diff keeps the ingest sessions of unchanged cameras: the new
 * supervisor table takes over their ingest_camera pointers, so their threads
 * never notice the reload and their segments continue without a gap. An
 * ingest session copies its config_camera at start, so the old config can be
 * freed once every borrower (supervisor table, HTTP layer, retention) points
 * at the new one.
 *
 * Cameras to stop (removed and changed) are retired to the supervisor: all
 * asked to stop at once and joined by a reaper thread, so the loop goes on
 * serving HTTP meanwhile and n restarts cost one stop time rather than n. A
 * changed camera's new session starts when its old one has stopped (never
 * two sessions of one camera writing at once).
 */
#include "daemon/reload.h"

#include "common/common.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int reload_check(const config *old, const config *neu, char *err, size_t errlen)
{
    const char *what = NULL;
    if (strcmp(old->index_path, neu->index_path) != 0)
        what = "index:";
    else if (strcmp(old->listen, neu->listen) != 0)
        what = "listen:";
    else if (old->npools != neu->npools)
        what = "storage.pools";
    for (size_t i = 0; !what && i < old->npools; i++)
        if (strcmp(old->pools[i].id, neu->pools[i].id) != 0 ||
            strcmp(old->pools[i].path, neu->pools[i].path) != 0 ||
            strcmp(old->pools[i].move_to ? old->pools[i].move_to : "",
                   neu->pools[i].move_to ? neu->pools[i].move_to : "") != 0 ||
            old->pools[i].move_after_us != neu->pools[i].move_after_us ||
            old->pools[i].move_rate != neu->pools[i].move_rate)
            what = "storage.pools";
    if (what) {
        snprintf(err, errlen, "%s: a change of %s needs a restart of vigild", neu->path, what);
        return -EINVAL;
    }
    /* The rule vigild checked before it listened holds for the config it
     * runs on, whenever it got it: a reload that drops auth: on an address
     * other hosts can reach would make every one of them an admin. listen:
     * is unchanged here, so neu's is the address being served. */
    if (!config_listen_allowed(neu, neu->listen, err, errlen)) return -EACCES;
    return 0;
}

static const config_camera *find_old(const supervisor *sv, const char *id, size_t *idx)
{
    for (size_t i = 0; i < sv->ncams; i++)
        if (!strcmp(sv->cams[i].cfg->id, id)) {
            *idx = i;
            return sv->cams[i].cfg;
        }
    return NULL;
}

/* A NULL-terminated list of up to cap ids (the strings copied). */
static char **ids_new(size_t cap)
{
    return calloc(cap + 1, sizeof(char *));
}

static void ids_push(char **ids, size_t *n, const char *id)
{
    if (!ids) return;
    char *c = strdup(id);
    if (c) ids[(*n)++] = c;
}

static void ids_free(char ***ids)
{
    if (!*ids) return;
    for (char **p = *ids; *p; p++)
        free(*p);
    free(*ids);
    *ids = NULL;
}

void reload_summary_clear(reload_summary *s)
{
    ids_free(&s->added_ids);
    ids_free(&s->removed_ids);
    ids_free(&s->restarted_ids);
    ids_free(&s->unchanged_ids);
    memset(s, 0, sizeof(*s));
}

static bool str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

static bool auth_differs(const config *a, const config *b)
{
    if (a->auth_enabled != b->auth_enabled || a->ntokens != b->ntokens) return true;
    for (size_t i = 0; i < a->ntokens; i++)
        if (strcmp(a->tokens[i].name, b->tokens[i].name) != 0 ||
            a->tokens[i].role != b->tokens[i].role ||
            memcmp(a->tokens[i].sha256, b->tokens[i].sha256, sizeof(a->tokens[i].sha256)) != 0)
            return true;
    return false;
}

/* The pools' limits (their ids, places and tiers need a restart: reload_check()). */
static bool pool_limits_differ(const config *a, const config *b)
{
    for (size_t i = 0; i < a->npools && i < b->npools; i++) {
        const config_pool *p = &a->pools[i], *q = &b->pools[i];
        if (p->max_bytes != q->max_bytes || p->min_free_bytes != q->min_free_bytes ||
            p->min_free_pct != q->min_free_pct || p->buffered != q->buffered ||
            p->sync_ms != q->sync_ms)
            return true;
    }
    return false;
}

void reload_sections(const config *old, const config *neu, reload_summary *s)
{
    const struct {
        const char *name;
        bool differs;
    } all[] = {
        {"auth", auth_differs(old, neu)},
        {"http", memcmp(&old->http, &neu->http, sizeof(old->http)) != 0},
        {"segment_seconds", old->segment_seconds != neu->segment_seconds},
        {"retention_days", old->retention_days != neu->retention_days},
        {"storage.pools", pool_limits_differ(old, neu)},
        {"events", old->event_pre_roll_us != neu->event_pre_roll_us ||
                       old->event_post_roll_us != neu->event_post_roll_us ||
                       old->event_retention_days != neu->event_retention_days},
        {"scrub", old->scrub_period_us != neu->scrub_period_us ||
                      old->scrub_max_rate != neu->scrub_max_rate},
        {"console", str_differs(old->console_timezone, neu->console_timezone)},
        {"web", str_differs(old->web_root, neu->web_root)},
        {"include", str_differs(old->include, neu->include)},
    };
    s->nsections = 0;
    for (size_t i = 0; i < VG_ARRAY_SIZE(all) && s->nsections < RELOAD_SECTIONS_MAX; i++)
        if (all[i].differs) s->sections[s->nsections++] = all[i].name;
}

static json_t *ids_json(char *const *ids)
{
    json_t *a = json_array();
    for (size_t i = 0; a && ids && ids[i]; i++)
        json_array_append_new(a, json_string(ids[i]));
    return a;
}

char *reload_result_json(int64_t time_us, const char *who, int ok, const char *reason,
                         const reload_summary *sum)
{
    char when[VG_TIME_LEN];
    json_t *o = json_pack("{s:b,s:s,s:s?,s:s?}", "ok", ok, "time",
                          vg_time_format(time_us, when, sizeof(when)), "who", who, "reason",
                          ok ? NULL : reason);
    if (!o) return NULL;
    json_t *cams = json_null(), *sections = json_null();
    if (ok) {
        cams = json_pack("{s:o,s:o,s:o,s:o}", "added", ids_json(sum->added_ids), "changed",
                         ids_json(sum->restarted_ids), "removed", ids_json(sum->removed_ids),
                         "unchanged", ids_json(sum->unchanged_ids));
        sections = json_array();
        for (size_t i = 0; sections && i < sum->nsections; i++)
            json_array_append_new(sections, json_string(sum->sections[i]));
    }
    json_object_set_new(o, "cameras", cams ? cams : json_null());
    json_object_set_new(o, "sections", sections ? sections : json_null());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

void reload_ctx_clear(reload_ctx *c)
{
    free(c->last_json);
    c->last_json = NULL;
}

static void keep_result(reload_ctx *c, const char *who, int ok, const char *reason,
                        const reload_summary *sum)
{
    char *j = reload_result_json(vg_now_us(), who, ok, reason, sum);
    if (!j) {
        vg_log(LOG_WARNING, "vigild: reload: out of memory keeping its outcome");
        return;
    }
    free(c->last_json);
    c->last_json = j;
}

void reload_apply(supervisor *sv, const config *neu, reload_summary *out)
{
    reload_summary sum;
    size_t nadd = 0, nrem = 0, nres = 0, nunch = 0;
    memset(&sum, 0, sizeof(sum));
    sum.added_ids = ids_new(neu->ncameras);
    sum.restarted_ids = ids_new(neu->ncameras);
    sum.unchanged_ids = ids_new(neu->ncameras);
    sum.removed_ids = ids_new(sv->ncams);
    supervisor_cam *cams = calloc(neu->ncameras ? neu->ncameras : 1, sizeof(*cams));
    /* 0: keep (moved to the new table), 1: stop */
    unsigned char *stop = calloc(sv->ncams ? sv->ncams : 1, 1);
    unsigned char *start = calloc(neu->ncameras ? neu->ncameras : 1, 1);
    ingest_camera **retire = calloc(sv->ncams ? sv->ncams : 1, sizeof(*retire));
    const char **retire_ids = calloc(sv->ncams ? sv->ncams : 1, sizeof(*retire_ids));
    size_t nretire = 0;
    if (!cams || !stop || !start || !retire || !retire_ids) {
        /* Out of memory: keep everything as it is rather than half-apply. */
        vg_log(LOG_ERR, "vigild: reload: out of memory; cameras unchanged");
        goto out;
    }
    for (size_t i = 0; i < sv->ncams; i++)
        stop[i] = 1;
    for (size_t i = 0; i < neu->ncameras; i++) {
        const config_camera *nc = &neu->cameras[i];
        size_t oi = 0;
        const config_camera *oc = find_old(sv, nc->id, &oi);
        cams[i].cfg = nc;
        if (!oc) {
            sum.added++;
            ids_push(sum.added_ids, &nadd, nc->id);
            start[i] = 1;
            vg_log_cam(LOG_NOTICE, nc->id, "reload: added");
        } else if (config_camera_needs_restart(oc, nc)) {
            sum.restarted++;
            ids_push(sum.restarted_ids, &nres, nc->id);
            start[i] = 1;
            vg_log_cam(LOG_NOTICE, nc->id, "reload: changed; restarting");
        } else {
            sum.unchanged++;
            ids_push(sum.unchanged_ids, &nunch, nc->id);
            cams[i].cam = sv->cams[oi].cam; /* the session carries on */
            cams[i].start_pending = sv->cams[oi].start_pending;
            sv->cams[oi].cam = NULL;
            stop[oi] = 0;
        }
    }
    for (size_t i = 0; i < sv->ncams; i++) {
        if (!stop[i]) continue;
        if (!config_find_camera(neu, sv->cams[i].cfg->id)) {
            sum.removed++;
            ids_push(sum.removed_ids, &nrem, sv->cams[i].cfg->id);
            vg_log_cam(LOG_NOTICE, sv->cams[i].cfg->id, "reload: removed; stopping");
        }
        if (!sv->cams[i].cam) continue;
        retire[nretire] = sv->cams[i].cam;
        retire_ids[nretire++] = sv->cams[i].cfg->id;
        sv->cams[i].cam = NULL;
    }
    /* Stopped off the loop; a changed camera's new session waits for its old one. */
    supervisor_retire(sv, retire, retire_ids, nretire);
    free(sv->cams);
    sv->cams = cams;
    cams = NULL;
    sv->ncams = neu->ncameras;
    sv->cfg = neu;
    sv->nrunning = 0;
    for (size_t i = 0; i < neu->ncameras; i++) {
        if (sv->cams[i].cam) sv->nrunning++;
        if (start[i]) supervisor_start_camera(sv, i);
    }
out:
    free(cams);
    free(stop);
    free(start);
    free(retire);
    free(retire_ids);
    if (out)
        *out = sum;
    else
        reload_summary_clear(&sum);
}

void reload_summary_format(const reload_summary *s, char *buf, size_t len)
{
    snprintf(buf, len, "added %zu, removed %zu, restarted %zu, unchanged %zu", s->added, s->removed,
             s->restarted, s->unchanged);
}

/* "; LABEL: a, b" after buf's text when list has ids; cut with "..." where it
 * would not fit (the audit row's detail has a bound): false then. */
static bool append_list(char *buf, size_t len, const char *label, const char *const *ids,
                        size_t n)
{
    size_t at = strlen(buf);
    for (size_t i = 0; i < n && ids[i]; i++) {
        int w = snprintf(buf + at, len - at, "%s%s", i ? ", " : label, ids[i]);
        if (w < 0 || (size_t)w >= len - at) {
            buf[at] = 0;
            if (len - at > 4) snprintf(buf + at, len - at, "...");
            return false;
        }
        at += (size_t)w;
    }
    return true;
}

/* The counts, then which cameras and settings: the audit row keeps what the
 * reload did after GET /api/reload has forgotten it (a restart). */
static void describe(const reload_summary *s, char *buf, size_t len)
{
    reload_summary_format(s, buf, len);
    const struct {
        const char *label;
        char **ids;
    } lists[] = {{"; added: ", s->added_ids},
                 {"; changed: ", s->restarted_ids},
                 {"; removed: ", s->removed_ids}};
    for (size_t i = 0; i < VG_ARRAY_SIZE(lists); i++) {
        size_t n = 0;
        while (lists[i].ids && lists[i].ids[n])
            n++;
        if (!append_list(buf, len, lists[i].label, (const char *const *)lists[i].ids, n)) return;
    }
    append_list(buf, len, "; settings: ", s->sections, s->nsections);
}

static void audit(reload_ctx *c, const char *who, const char *action, const char *detail)
{
    index_audit a;
    index_audit_fill(&a, who, action, NULL, 0, 0, detail);
    index_audit_add(c->idx, &a);
}

int reload_run(reload_ctx *c, const char *who, char *err, size_t errlen)
{
    config *neu = NULL;
    char detail[INDEX_DETAIL_MAX];
    reload_summary sum;
    int ret;
    err[0] = 0;
    if (c->ntf) notify_reloading(c->ntf);
    vg_log(LOG_NOTICE, "vigild: reloading %s (%s)", c->path, who);
    ret = config_load(c->path, &neu, err, errlen);
    if (ret == 0 && c->index_in_use && strcmp(neu->index_path, c->index_configured) == 0) {
        /* Running on a stand-in index (daemon/guard.c): the same index:
         * still means the file in use. */
        char *p = strdup(c->index_in_use);
        if (p) {
            free(neu->index_path);
            neu->index_path = p;
        } else {
            ret = -ENOMEM;
        }
    }
    if (ret == 0) ret = reload_check(*c->cfg, neu, err, errlen);
    if (ret < 0) {
        if (!err[0]) snprintf(err, errlen, "%s: %s", c->path, strerror(-ret));
        vg_log(LOG_ERR, "reload refused: %s", err);
        index_event_add(c->idx, vg_now_us(), NULL, "config_reload_failed", err);
        audit(c, who, "config_reload_failed", err);
        if (c->count) c->count(c->count_opaque, 0);
        keep_result(c, who, 0, err, NULL);
        config_free(&neu);
        if (c->ntf) notify_ready(c->ntf);
        return ret;
    }
    /* who may live in the config about to be freed */
    char by[64];
    snprintf(by, sizeof(by), "%s", who);
    who = by;
    reload_apply(c->sup, neu, &sum);
    reload_sections(*c->cfg, neu, &sum);
    if (c->set_config) c->set_config(c->set_config_opaque, neu);
    if (c->scrub) storage_scrub_set_config(c->scrub, neu);
    if (c->rt) {
        int r = storage_retention_set_config(c->rt, neu);
        if (r < 0) vg_log(LOG_WARNING, "vigild: reload: retention limits: %s", strerror(-r));
    }
    config_free(c->cfg);
    *c->cfg = neu;
    describe(&sum, detail, sizeof(detail));
    vg_log(LOG_NOTICE, "vigild: config reloaded: %s", detail);
    index_event_add(c->idx, vg_now_us(), NULL, "config_reloaded", detail);
    audit(c, who, "config_reload", detail);
    if (c->count) c->count(c->count_opaque, 1);
    keep_result(c, who, 1, NULL, &sum);
    reload_summary_clear(&sum);
    if (c->ntf) notify_ready(c->ntf);
    return 0;
}
