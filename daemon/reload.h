/*
 * reload: applying a new configuration to the running daemon (SIGHUP,
 * `systemctl reload`, POST /api/reload). Prefix: reload_.
 *
 * The new file is parsed and validated whole (config_load()); an invalid one
 * is refused — logged as "reload refused: FILE:LINE: message", evented
 * (config_reload_failed) and audited — and the daemon keeps running on the
 * old one. A valid one is diffed camera by camera (by id):
 *   added     -> started
 *   removed   -> stopped (its footage stays in the index and queryable)
 *   changed   -> stopped and started (config_camera_needs_restart())
 *   unchanged -> keeps its session: its recording continues without a gap
 *                (a name/district/site/retention change alone is unchanged)
 * then the HTTP layer and retention switch to the new config (tokens, camera
 * list, limits) and the old one is freed. Changing index:, listen: or the
 * pools' ids/paths needs a restart; such a reload is refused the same way,
 * and so is one that would serve a non-loopback listen: without auth:.
 *
 * Loop thread only: the supervisor, the HTTP layer and the cfg pointer are
 * all the loop's. Removed and changed cameras are stopped off the loop
 * (supervisor_retire(): their open segments are closed cleanly by a reaper
 * thread); a changed camera starts again once its old session has stopped.
 */
#ifndef VIGIL_RELOAD_H
#define VIGIL_RELOAD_H

#include <stddef.h>

#include "config/config.h"
#include "daemon/notify.h"
#include "daemon/supervisor.h"
#include "index/index.h"
#include "storage/storage.h"

/* What a reload changed. The id lists name the cameras of each kind (owned:
 * reload_summary_clear(); NULL, with the counts still right, when memory ran
 * out). sections names the other top-level settings whose values changed
 * (static strings: "auth", "http", "retention_days", ...). */
#define RELOAD_SECTIONS_MAX 16
typedef struct reload_summary {
    size_t added, removed, restarted, unchanged;
    char **added_ids, **removed_ids, **restarted_ids, **unchanged_ids;
    const char *sections[RELOAD_SECTIONS_MAX];
    size_t nsections;
} reload_summary;

/* What the reload touches; everything borrowed. cfg is the live config
 * pointer, replaced on success (the old config is freed). */
typedef struct reload_ctx {
    const char *path; /* the config file to re-read */
    config **cfg;
    supervisor *sup;
    index_db *idx;         /* events and audit rows */
    storage_retention *rt; /* may be NULL */
    storage_scrub *scrub;  /* may be NULL */
    notify *ntf;           /* may be NULL */
    /* Called with the new config once the cameras are switched (the HTTP
     * layer: serve_set_config()), before the old config is freed. May be NULL. */
    void (*set_config)(void *opaque, const config *cfg);
    void *set_config_opaque;
    /* While vigild runs on a stand-in for a lost or damaged index
     * (daemon/guard.c): the index: of the config file, and the file used in
     * its place (cfg's index_path). NULL otherwise. */
    const char *index_configured, *index_in_use;
    /* Counts the outcome (metrics). May be NULL. */
    void (*count)(void *opaque, int ok);
    void *count_opaque;
    /* The last reload's outcome as a JSON object (owned; NULL before the
     * first): {"ok","time","who","reason","cameras":{"added","changed",
     * "removed","unchanged"},"sections"}; cameras and sections are null when
     * the reload was refused. Kept for GET /api/reload whoever asked for the
     * reload (SIGHUP included). Free with reload_ctx_clear(). */
    char *last_json;
} reload_ctx;

/* Whether neu can replace old without a restart (same index, listen, pools):
 * 0, or -EINVAL with "FILE: message" in err; and whether neu may be served
 * on that listen: (config_listen_allowed(), the check vigild makes before it
 * listens): -EACCES with its reason in err when neu has no auth: section and
 * listen: is not a loopback address. */
int reload_check(const config *old, const config *neu, char *err, size_t errlen);

/* Switches sup to neu's cameras as described above; sup->cfg becomes neu.
 * Never fails as a whole: a camera that cannot start is logged and left
 * stopped (as at startup). out may be NULL. */
void reload_apply(supervisor *sup, const config *neu, reload_summary *out);

/* Which top-level settings other than cameras, listen:, index: and the
 * pools' places differ between old and neu, into s->sections. */
void reload_sections(const config *old, const config *neu, reload_summary *s);

void reload_summary_clear(reload_summary *s);

/* The outcome object described at reload_ctx.last_json (malloc'd text, or
 * NULL when out of memory). sum is ignored when !ok. */
char *reload_result_json(int64_t time_us, const char *who, int ok, const char *reason,
                         const reload_summary *sum);

void reload_ctx_clear(reload_ctx *c);

/* "added 1, removed 1, restarted 1, unchanged 5" */
void reload_summary_format(const reload_summary *s, char *buf, size_t len);

/* The whole reload: load + validate, check, apply, swap, event + audit (as
 * token `who`: "daemon" for SIGHUP, the token's name for the API), systemd
 * RELOADING=1 ... READY=1. 0, or negative with the reason in err (the daemon
 * then runs on unchanged). */
int reload_run(reload_ctx *c, const char *who, char *err, size_t errlen);

#endif
