/* storage internals shared between storage/ files (and the issue-4 purge). */
#ifndef VIGIL_STORAGE_INTERNAL_H
#define VIGIL_STORAGE_INTERNAL_H

#include "storage/storage.h"

/* Called when a write hits ENOSPC. Returns 0 when space was freed (the write is
 * retried once), else -ENOSPC. The emergency purge of issue 4 goes here. */
int storage__on_enospc(storage *st, const char *pool_path);

#endif
