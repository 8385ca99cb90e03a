/*
 * guard: which index vigild opens, and what it does when the configured one
 * is lost or damaged. Prefix: guard_. Functions return 0 or negative errno
 * unless said otherwise.
 *
 * A healthy index (or none at all on a first start: no pool holds anything of
 * an earlier run) is opened as always, and the locks mirrored beside the
 * footage are merged into it. A missing index while the pools hold footage, a
 * damaged one, or one that cannot be opened is never replaced silently:
 * vigild records on a stand-in index (.vigil-index.degraded at the root of
 * the first pool, or <index>.degraded), leaves the configured file as it is,
 * says what is wrong and what fixes it (log, /healthz, systemd status, an
 * event), restores the mirrored locks into the stand-in, and holds retention
 * back: nothing is deleted for age, and nothing at all while the locks are
 * not known. The fix is explicit: `vigild --rebuild-index`.
 */
#ifndef VIGIL_GUARD_H
#define VIGIL_GUARD_H

#include <limits.h>

#include "config/config.h"
#include "index/index.h"
#include "storage/storage.h"

typedef struct guard {
    int degraded;            /* 1: recording on the stand-in index */
    int locks_known;         /* the locks came from a readable mirror (or the index) */
    int mirror_ok;           /* no lock mirror is damaged: they may be rewritten */
    char configured[PATH_MAX]; /* the config's index: */
    char in_use[PATH_MAX];     /* the file vigild writes (cfg->index_path) */
    char problem[3 * PATH_MAX]; /* what is wrong ("" when healthy) */
    char fix[2 * PATH_MAX];     /* what fixes it */
} guard;

/* Opens the index vigild is to use (see above), *idx owned by the caller.
 * In degraded mode cfg->index_path is replaced by the stand-in's path (the
 * configured one stays in g->configured). Fails only when no index at all
 * can be opened. cfg_path names the config file in the fix. */
int guard_open(guard *g, config *cfg, const char *cfg_path, index_db **idx);
/* After storage and retention are up: the lock mirrors of the usable pools
 * (a pool storage_open() initialised included), and when degraded the event
 * and the retention hold. Everything borrowed; rt may be NULL. */
void guard_started(const guard *g, const config *cfg, const storage *st, index_db *idx,
                   storage_retention *rt);
/* `vigild --rebuild-index`: moves a damaged index (and a stand-in) aside,
 * builds a new one at the configured path from the footage, the mirrored
 * locks and the signing key kept beside the footage, and logs what could not
 * be brought back. Returns the process exit code (0: rebuilt, or nothing to
 * rebuild). */
int guard_rebuild(config *cfg, const char *cfg_path);

#endif
