/* Records what storage/ingest queue into the index, for assertions. */
#include "fake_index.h"

#include <stdio.h>
#include <string.h>

fake_index fake_db;

void fake_index_reset(void)
{
    memset(&fake_db, 0, sizeof(fake_db));
    fake_db.next_id = 1;
}

int fake_index_count_events(const char *type)
{
    int n = 0;
    for (int i = 0; i < fake_db.nevents; i++) n += strcmp(fake_db.events[i].type, type) == 0;
    return n;
}

int64_t index_segment_begin(index_db *db, const index_segment *s)
{
    (void)db;
    if (fake_db.nsegs >= (int)(sizeof(fake_db.segs) / sizeof(fake_db.segs[0]))) return -1;
    int64_t id = fake_db.next_id++;
    fake_db.segs[fake_db.nsegs] = *s;
    fake_db.segs[fake_db.nsegs].id = id;
    fake_db.nsegs++;
    return id;
}

void index_segment_progress(index_db *db, int64_t id, int64_t end_us, int64_t bytes,
                            const index_fragment *frag)
{
    (void)db;
    index_segment *s = &fake_db.segs[id - 1];
    s->end_us = end_us;
    s->bytes = bytes;
    if (frag && fake_db.nfrags < FAKE_MAX) {
        fake_db.frags[fake_db.nfrags] = *frag;
        fake_db.frag_seg[fake_db.nfrags] = id;
        fake_db.nfrags++;
    }
}

void index_segment_finish(index_db *db, int64_t id, int64_t end_us, int64_t bytes,
                          const uint8_t sha256[32])
{
    (void)db;
    index_segment *s = &fake_db.segs[id - 1];
    s->end_us = end_us;
    s->bytes = bytes;
    s->open = 0;
    s->has_sha256 = 1;
    memcpy(s->sha256, sha256, 32);
    fake_db.nfinished++;
}

void index_segment_fsync_failed(index_db *db, int64_t id)
{
    (void)db;
    fake_db.segs[id - 1].fsync_failed = 1;
}

void index_segment_activity(index_db *db, int64_t id, const uint8_t *values, size_t n)
{
    (void)db;
    if (fake_db.nact >= 256) return;
    fake_db.act_seg[fake_db.nact] = id;
    fake_db.act_n[fake_db.nact] = n;
    memcpy(fake_db.act[fake_db.nact], values, n < 128 ? n : 128);
    fake_db.nact++;
}

void index_clock_run_update(index_db *db, const index_clock_run *c)
{
    (void)db;
    if (fake_db.nclock < (int)(sizeof(fake_db.clock) / sizeof(fake_db.clock[0])))
        fake_db.clock[fake_db.nclock++] = *c;
}

void index_event_add(index_db *db, int64_t time_us, const char *camera, const char *type,
                     const char *detail)
{
    (void)db;
    if (fake_db.nevents >= (int)(sizeof(fake_db.events) / sizeof(fake_db.events[0]))) return;
    index_event *e = &fake_db.events[fake_db.nevents++];
    memset(e, 0, sizeof(*e));
    e->time_us = time_us;
    snprintf(e->camera, sizeof(e->camera), "%s", camera ? camera : "");
    snprintf(e->type, sizeof(e->type), "%s", type);
    snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
}
