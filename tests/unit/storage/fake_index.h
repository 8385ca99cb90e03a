/* A recording stand-in for index/ so storage and ingest can be tested alone. */
#ifndef VIGIL_FAKE_INDEX_H
#define VIGIL_FAKE_INDEX_H

#include "index/index.h"

#define FAKE_MAX 4096

typedef struct fake_index {
    int64_t next_id;
    index_segment segs[256]; /* by id - 1 */
    int nsegs;
    index_fragment frags[FAKE_MAX];
    int64_t frag_seg[FAKE_MAX];
    int nfrags;
    int nfinished;
    index_event events[64];
    int nevents;
    int64_t act_seg[256]; /* activity stored, in order: segment id, its bytes */
    uint8_t act[256][128];
    size_t act_n[256];
    int nact;
    index_clock_run clock[256]; /* every clock report, in order */
    int nclock;
} fake_index;

/* The fake is a global; (index_db *)&fake_db passes as the handle. */
extern fake_index fake_db;
void fake_index_reset(void);
int fake_index_count_events(const char *type);

#endif
