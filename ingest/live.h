/*
 * ingest live: fan-out of a camera's frames to live viewers. Prefix:
 * ingest_live_. Errors: 0 or negative errno.
 *
 * A feed is one stream of one camera ("main" or "sub"). Its producer (the
 * camera's segmenter, on the camera's ingest thread) wraps each frame once,
 * as prft + moof + mdat, in a refcounted chunk and publishes it into the
 * feed's ring (LIVE_RING slots, at most INGEST_LIVE_RING_BYTES); viewers (the
 * HTTP loop) keep a position in the ring and take references to the chunks
 * they write. A chunk is built once per camera, never per viewer, and only
 * while the feed has viewers. The producer only ever takes the feed's mutex
 * for a few pointer moves: it never waits for, allocates for, or blocks on
 * a viewer. A viewer that falls out of the ring (or too far behind) skips to
 * the newest keyframe; what it skipped is counted.
 *
 * A run (ingest/segmenter.h) is the unit of a response: its init segment
 * (ftyp+moov) starts it, and when the run ends (reconnect, codec change,
 * timestamp jump) the viewer's response ends and the client reconnects.
 *
 * Feeds live as long as their hub (one per daemon): a camera that is
 * restarted by a reload finds its feed again and viewers are not invalidated.
 * The hub wakes the HTTP loop through one callback, called at most once per
 * ingest tick per thread (ingest_live_tick_end()).
 */
#ifndef VIGIL_INGEST_LIVE_H
#define VIGIL_INGEST_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INGEST_LIVE_RING 512                 /* chunks per feed (~8 s at 25 fps + audio) */
#define INGEST_LIVE_RING_BYTES (6u << 20)    /* bytes per feed, while it has viewers */

typedef struct ingest_live_hub ingest_live_hub;
typedef struct ingest_live ingest_live;

/* A chunk: bytes ready to write to a viewer. Immutable once published. */
typedef struct ingest_live_chunk {
    atomic_uint refs;
    bool key;          /* starts with a video keyframe (a viewer may start here) */
    bool video;
    uint32_t run;      /* the feed's run it belongs to */
    uint64_t cum;      /* bytes published in the run before this chunk */
    int64_t wall_us;   /* wall-clock time of its first frame (what prft says) */
    size_t len;
    uint8_t data[];
} ingest_live_chunk;

/* ---- hub (any thread) ---- */

int ingest_live_hub_new(ingest_live_hub **out);
/* Frees the hub and every feed. No producer or viewer may be left. Accepts NULL. */
void ingest_live_hub_free(ingest_live_hub **h);
/* The function that wakes the consumer (the HTTP loop): called from ingest
 * threads, at most once per tick of each. NULL to unset (then returns only
 * once no call is in progress). */
void ingest_live_hub_set_wake(ingest_live_hub *h, void (*wake)(void *), void *arg);
/* The feed of camera/stream ("main", "sub"), created on first use; borrowed
 * (lives as long as the hub). NULL on ENOMEM or a NULL hub. */
ingest_live *ingest_live_feed(ingest_live_hub *h, const char *camera, const char *stream);

typedef struct ingest_live_stats {
    const char *camera, *stream; /* borrowed from the feed */
    unsigned viewers;
    uint64_t sessions, frames_skipped, bytes_sent, chunks_published;
} ingest_live_stats;
/* Calls fn for every feed (under the hub's lock: fn must not call back). */
void ingest_live_hub_foreach(ingest_live_hub *h, void (*fn)(const ingest_live_stats *, void *),
                             void *arg);

/* ---- producer (the camera's ingest thread) ---- */

/* Does the feed have viewers (chunks are wanted)? Cheap: one atomic load. */
bool ingest_live_wanted(const ingest_live *l);
/* A new run starts with this init segment (copied). The ring is emptied. */
int ingest_live_run_begin(ingest_live *l, const uint8_t *init, size_t len);
/* The run ends: viewers finish what they have and end their responses. */
void ingest_live_run_end(ingest_live *l);
/* Empties the ring (the producer stops building chunks: no viewers). */
void ingest_live_clear(ingest_live *l);
/* A chunk of len bytes to fill (refs = 1, owned by the caller until
 * published). NULL on ENOMEM. */
ingest_live_chunk *ingest_live_chunk_new(size_t len);
/* Publishes c (takes ownership) into the ring of the current run. */
void ingest_live_publish(ingest_live *l, ingest_live_chunk *c);
/* End of an ingest tick on this thread: wakes the consumer once if this
 * thread published anything since its last call. */
void ingest_live_tick_end(void);

/* ---- consumer (one thread: the HTTP loop) ---- */

void ingest_live_chunk_unref(ingest_live_chunk **c);

/* A viewer attaches (the producer starts building chunks) / detaches. */
void ingest_live_attach(ingest_live *l);
void ingest_live_detach(ingest_live *l);

/* The current run: 1 with *run, a reference to its init segment (*init, as a
 * chunk) and *pos where a viewer starts (the newest keyframe in the ring, or
 * the next chunk: then the viewer skips to the next keyframe); 0 when no run
 * is open. */
int ingest_live_join(ingest_live *l, uint32_t *run, ingest_live_chunk **init, uint64_t *pos);

typedef struct ingest_live_read_opts {
    size_t max_chunks;  /* at most this many chunks */
    size_t max_bytes;   /* ... and about this many bytes (at least one chunk) */
    size_t backlog;     /* more bytes than this behind: skip to the newest keyframe */
} ingest_live_read_opts;

enum { INGEST_LIVE_END = -1 };
/* Takes references to the chunks of run from *pos on (out[0..n)) and moves
 * *pos past them; a viewer that fell out of the ring or more than backlog
 * behind skips to the newest keyframe first (*skipped += frames skipped;
 * *need_key: wait for a keyframe before sending anything). Returns n (0:
 * nothing new yet) or INGEST_LIVE_END (the run is over and fully read). */
int ingest_live_read(ingest_live *l, uint32_t run, uint64_t *pos, bool *need_key,
                     const ingest_live_read_opts *o, ingest_live_chunk **out,
                     uint64_t *skipped);
/* Counters kept with the feed for /metrics (consumer side). */
void ingest_live_count(ingest_live *l, uint64_t sessions, uint64_t skipped, uint64_t bytes);

/* ---- chunk building (the producer): one sample as prft + moof + mdat ---- */

typedef struct ingest_live_sample {
    uint32_t track;      /* 1 video, 2 audio (the init segment's track ids) */
    uint32_t seq;        /* mfhd sequence number */
    uint64_t dts;        /* tfdt: decode time in the track's timescale */
    uint32_t duration;
    int32_t cto;         /* composition offset (video) */
    bool key;
    int64_t wall_us;     /* prft: wall clock of this sample */
    const uint8_t *data; /* MP4 sample bytes (length-prefixed NAL units / raw AAC) */
    size_t size;
} ingest_live_sample;

/* Builds the chunk of one sample; NULL on ENOMEM. */
ingest_live_chunk *ingest_live_chunk_build(const ingest_live_sample *s);

#endif
