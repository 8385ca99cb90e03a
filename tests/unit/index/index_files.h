/* Test helper: remove an index file and SQLite's companions beside it
 * (WAL, shared memory, rollback journal), so a test's directory can go. */
#ifndef VIGIL_TEST_INDEX_FILES_H
#define VIGIL_TEST_INDEX_FILES_H

#include <stdio.h>
#include <unistd.h>

#include "common/common.h"

static inline void index_files_remove(const char *path)
{
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < VG_ARRAY_SIZE(suffixes); i++) {
        char p[320];
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

#endif
