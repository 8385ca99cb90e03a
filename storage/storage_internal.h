/* storage internals shared between storage/ files (and the issue-4 purge). */
#ifndef VIGIL_STORAGE_INTERNAL_H
#define VIGIL_STORAGE_INTERNAL_H

#include "storage/storage.h"

/* Called when a write hits ENOSPC. Returns 0 when space was freed (the write is
 * retried once), else -ENOSPC. The emergency purge of issue 4 goes here. */
int storage__on_enospc(storage *st, const char *pool_path);

/* The purge storage__on_enospc() runs (set by storage/retention.c, so storage.c
 * does not depend on retention and the index queries it needs). Called on the
 * writing thread; returns 0 when space was freed. NULL: none. */
typedef int (*storage__enospc_fn)(void *opaque, const char *pool_path);
void storage__set_enospc_handler(storage *st, storage__enospc_fn fn, void *opaque);
/* Adds delta to the running byte count of pool (appends add, retention
 * subtracts, startup sets it from the index); returns the new count or -ENOENT. */
int64_t storage__pool_used_add(storage *st, const char *pool, int64_t delta);

#endif
