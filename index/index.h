/*
 * index: the SQLite index of segments and events. Prefix: index_.
 *
 * One writer thread owns the only write connection (WAL mode) and commits the
 * queued changes in batches (every ~250 ms or 256 items). Writers never block
 * on disk: index_segment_begin() and friends queue and return. Readers open
 * their own read-only connections (index_reader), one per thread.
 * The schema is versioned (PRAGMA user_version) and migrated on open.
 *
 * Segment ids are assigned at index_segment_begin() from an in-memory counter
 * (max(id)+1 at open), so the caller can refer to a segment before its row is
 * committed.
 *
 * The boundary (for a second backend, e.g. PostgreSQL for several recorder
 * nodes: ../shared/architecture.md, "Beyond one machine"). What the rest of
 * vigil uses is three groups, and no SQLite type crosses this header:
 *   open       index_open()/index_close(), index_reader_open()/_close(),
 *              index_retention_open()/_close();
 *   write      the queued, batched writer (index_segment_begin/progress/
 *              finish/activity/fsync_failed, index_event_add, index_audit_add,
 *              index_clock_run_update) plus the synchronous index_flush(),
 *              index_segments_delete*() and index_events_post();
 *   queries    the index_query_*()/index_get_*() of a reader, the retention
 *              scans, and the small-table calls (locks, exports, cases,
 *              moves, audit, meta) that open a connection of their own.
 * Errors are negative errno values and rows are plain structs, so callers do
 * not see the engine. What would have to change for a second backend:
 *   - the index is named by a file path everywhere: index_open(), readers and
 *     every small-table call take `const char *path` and open their own
 *     connection per call. A backend needs a handle (or a DSN) instead; the
 *     cheapest step is an index_conf { kind, path_or_dsn } passed where the
 *     path is now;
 *   - calls that are SQLite file operations by nature: index_probe() (reads
 *     the file header), index_backup() (the online backup API to a file) and
 *     daemon/guard.c, which moves a damaged file aside and opens it with
 *     sqlite3 directly to count audit rows. For PostgreSQL these become
 *     "is the server reachable and at our schema", pg_dump, and nothing;
 *   - segment ids from an in-memory max(id)+1 assume one writer per index;
 *     several nodes need the database's sequence (the id is then known at
 *     commit, or ids are reserved in blocks per node);
 *   - the fragment table BLOB (index/frags.c) and the activity BLOB are
 *     byte formats of ours and move as bytea unchanged; the full-text search
 *     is FTS5 behind a query language of ours (words, a trailing '*'), so it
 *     maps to tsvector + unaccent with the same folding (đ -> d) unseen by
 *     callers;
 *   - meta.max_segment_us bounding the overlap scan is a portable trick, and
 *     the covering index (camera, start_us, end_us, open, bytes) maps to a
 *     PostgreSQL index with INCLUDE for index-only scans.
 */
#ifndef VIGIL_INDEX_H
#define VIGIL_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct index_db index_db;
struct json_t;

/* Size of an event's or audit row's detail text (NUL included). */
#define INDEX_DETAIL_MAX 512
typedef struct index_reader index_reader;

#define INDEX_ID_MAX 65
#define INDEX_PATH_MAX 512

typedef struct index_segment {
    int64_t id;
    char camera[INDEX_ID_MAX];
    int64_t start_us;
    int64_t end_us;         /* end so far while open */
    int64_t run_start_us;   /* start of the continuous run this segment belongs to */
    char pool[INDEX_ID_MAX];
    char path[INDEX_PATH_MAX]; /* relative to the pool's path */
    int64_t bytes;
    int open;               /* 1 while being written */
    int has_sha256;
    uint8_t sha256[32];
    char codec[16];         /* "h264", "hevc"; audio in audio_codec ("aac", "pcm_mulaw", "") */
    char audio_codec[16];
    int width, height;
    int fsync_failed;       /* an fsync of the file or its directories failed */
} index_segment;

/* One fragment (moof+mdat) of a segment file, or in a finished segment's
 * table one GOP's fragments together (see index_get_fragments()). Fragment tables are kept apart
 * from the hot segment rows (segment_fragments table, one BLOB per segment,
 * delta-packed once the segment is finished). */
typedef struct index_fragment {
    uint64_t offset;   /* of the moof in the file */
    uint32_t size;     /* moof + mdat */
    uint32_t flags;    /* bit 0: starts with a keyframe */
    int64_t start_us;  /* wall time of its first video frame */
    int64_t end_us;
} index_fragment;

typedef struct index_event {
    int64_t id;
    int64_t time_us;
    char camera[INDEX_ID_MAX]; /* "" for daemon-wide events */
    char type[32];  /* online, offline, codec_change, segment_recovered, ... */
    char detail[INDEX_DETAIL_MAX];
} index_event;

/* Looks at the index file at path without changing it (read-only), before
 * index_open() would create or migrate it: 0 (an index this build can open),
 * -ENOENT (no file, or an empty one), -EBADMSG (not an SQLite database,
 * truncated, or damaged where it was read), -EPROTONOSUPPORT (written by a
 * newer vigil), or another negative errno (unreadable). why (len bytes) says
 * it in words. Reads the header and a few small tables, not the whole file. */
int index_probe(const char *path, char *why, size_t len);

/* ---- the writer ---- */

/* Opens (creating and migrating) the index and starts the writer thread.
 * 0 or negative errno-style; *out owned by caller, free with index_close(). */
int index_open(const char *path, index_db **out);
/* Commits everything queued, stops the writer thread, frees. Accepts NULL. */
void index_close(index_db **db);

/* Queues the row of a newly created segment (open=1). s->id is ignored; the
 * assigned id is returned (> 0). */
int64_t index_segment_begin(index_db *db, const index_segment *s);
/* Queues a progress update of an open segment (its end so far and bytes),
 * plus the fragment just written (may be NULL). */
void index_segment_progress(index_db *db, int64_t id, int64_t end_us, int64_t bytes,
                            const index_fragment *frag);
/* Queues the close: final end, size, SHA-256; open=0. */
void index_segment_finish(index_db *db, int64_t id, int64_t end_us, int64_t bytes,
                          const uint8_t sha256[32]);
/* Queues the mark of a segment whose file (or directory) fsync failed: its
 * bytes may not all be on the disk (kept until the row goes). */
void index_segment_fsync_failed(index_db *db, int64_t id);
/* Activity: one byte per wall-clock second, kept with the segment row (a BLOB
 * beside the fragment table's; NULL until the segment is closed). Byte i is
 * the second floor(start_us / 1 s) + i, up to the one holding end_us: 0 ..
 * INDEX_ACTIVITY_MAX how much bigger than the camera's quiet pictures its
 * pictures were (mean log2 excess x 32: 32 is twice the size on average),
 * INDEX_ACTIVITY_NONE no picture to measure in that second,
 * INDEX_ACTIVITY_HIDDEN the encoder keeps every picture the same size (strict
 * CBR), so motion cannot be read from them. Computed by ingest/activity. */
#define INDEX_ACTIVITY_MAX 250
#define INDEX_ACTIVITY_NONE 254
#define INDEX_ACTIVITY_HIDDEN 255
/* Queues the activity of segment id (n bytes, copied). */
void index_segment_activity(index_db *db, int64_t id, const uint8_t *values, size_t n);
/* Queues an event. camera may be NULL. */
void index_event_add(index_db *db, int64_t time_us, const char *camera, const char *type,
                     const char *detail);
/* The same with a JSON object as detail (built with jansson; takes the
 * reference, NULL is stored as {}), serialized by index_detail_format(). */
void index_event_add_json(index_db *db, int64_t time_us, const char *camera, const char *type,
                          struct json_t *detail);
/* detail (borrowed) as compact JSON text in out (len bytes, at most
 * INDEX_DETAIL_MAX is stored): when too long, its longest strings are cut on
 * UTF-8 character boundaries until it fits. 0, or negative with "{}" in out. */
int index_detail_format(const struct json_t *detail, char *out, size_t len);
/* Blocks until everything queued before the call is committed. 0 or negative. */
int index_flush(index_db *db);
/* Removes segment rows (and their fragment tables) synchronously, in one
 * transaction; the caller deletes the files afterwards. 0 or negative. */
int index_segments_delete(index_db *db, const int64_t *ids, size_t n);
/* The same for retention, except rows an active lock covers at commit time
 * (now_us for until): those stay, and kept[i] (n bytes, caller's) is set to 1
 * for each, so their files must stay too. 0 or negative. */
int index_segments_delete_unlocked(index_db *db, const int64_t *ids, size_t n, int64_t now_us,
                                   uint8_t *kept);
/* Queue depth and last commit latency, for metrics. */
void index_writer_stats(index_db *db, size_t *queue_depth, int64_t *last_commit_us);
/* The longest commit since index_open(), in microseconds: SQLite runs its
 * automatic WAL checkpoints inside commits, so this is also the longest
 * checkpoint stall of the writer (what a sampled last latency misses). */
int64_t index_writer_max_commit_us(index_db *db);
/* Failed batches and statements since index_open() (each one may have lost a
 * row that startup reconciliation must then find on disk). */
uint64_t index_writer_failures(index_db *db);

/* ---- readers (one per thread) ---- */

int index_reader_open(const char *path, index_reader **out);
void index_reader_close(index_reader **r);

/* Callbacks return 0 to continue, non-zero to stop (the query then returns it). */
typedef int (*index_segment_cb)(const index_segment *s, void *arg);
typedef int (*index_event_cb)(const index_event *e, void *arg);

/* Segments of camera overlapping [start_us, end_us) (start_us < end && end_us > start),
 * ordered by start. Pass INT64_MIN/INT64_MAX for open bounds. */
int index_query_segments(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                         index_segment_cb cb, void *arg);
/* The times alone of the same segments (what a timeline needs), read from
 * the covering index only: no row of the table is visited, so a day of a
 * camera costs a few index pages, not a page per segment (a camera's rows are
 * spread among every other camera's in the table). */
typedef struct index_span {
    int64_t start_us;
    int64_t end_us;
    int open;
} index_span;
typedef int (*index_span_cb)(const index_span *s, void *arg);
int index_query_spans(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                      index_span_cb cb, void *arg);
/* One segment by id. 0, -ENOENT, or negative. */
int index_get_segment(index_reader *r, int64_t id, index_segment *out);
/* Fragment table of a segment (for an open one: the fragments committed so far),
 * in file order; *out malloc'd (caller frees), *n entries (0 is possible).
 * A finished segment's entries are its GOPs: an entry may span several
 * moof+mdat pairs back to back, the first with the keyframe (index/frags.c). */
int index_get_fragments(index_reader *r, int64_t segment_id, index_fragment **out, size_t *n);
/* Events in [start_us, end_us), camera NULL for all, ordered by time. */
int index_query_events(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                       index_event_cb cb, void *arg);
/* Closed segments with id > after_id (camera NULL: all) overlapping
 * [start_us, end_us), by id, at most limit: a walk over everything recorded
 * that resumes where it stopped (the verifier's). */
int index_query_closed_after(index_reader *r, int64_t after_id, const char *camera,
                             int64_t start_us, int64_t end_us, int limit, index_segment_cb cb,
                             void *arg);
/* Segments of camera overlapping [start_us, end_us) that have an activity
 * BLOB, ordered by start; values borrowed for the call (n bytes, see
 * INDEX_ACTIVITY_MAX). */
typedef int (*index_activity_cb)(const index_segment *s, const uint8_t *values, size_t n,
                                 void *arg);
int index_query_activity(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                         index_activity_cb cb, void *arg);
/* Segments still marked open (for crash reconciliation at start). */
int index_query_open_segments(index_reader *r, index_segment_cb cb, void *arg);
/* The latest start of any segment row of camera (open or closed, any pool).
 * 0, -ENOENT when the camera has no row, or negative. */
int index_camera_last_start(index_reader *r, const char *camera, int64_t *start_us);
/* The same over the rows of a pool (any camera). */
int index_pool_last_start(index_reader *r, const char *pool, int64_t *start_us);

/* ---- small durable settings (index/meta.c) ----
 * Integer values by key in the meta table, read and written on a connection of
 * their own, each write durable (synchronous=FULL) when the call returns:
 * what must survive power loss without waiting for the writer's batches
 * (storage/'s clean-shutdown token). Keys are the caller's; 'max_segment_us'
 * belongs to the writer. 0, -ENOENT (get: no such key), or negative. */
int index_meta_get(const char *path, const char *key, int64_t *value);
int index_meta_set(const char *path, const char *key, int64_t value);
int index_meta_delete(const char *path, const char *key);

/* ---- events from other systems, and searching every event (index/events.c) ----
 * Other systems (ANPR, alarm panels, the emergency line, an operator's note)
 * post events about a camera or an area (district and/or site). They live in
 * the events table with the system's own events, so one search finds both;
 * text and attributes (and a system event's detail) are full-text indexed
 * (FTS5, diacritics folded, so "Luc Nam" finds "Lục Nam" and "Dong" finds
 * "Đồng"). A non-NULL source_id is stored once: posting it again is a
 * duplicate, not an error. */
typedef struct index_event_in {
    int64_t time_us;
    int64_t end_us;         /* 0: none */
    const char *camera;     /* NULL or "": an area event */
    const char *district;   /* NULL reads as "" */
    const char *site;       /* NULL reads as "" */
    const char *type;       /* required */
    const char *text;       /* may be NULL */
    const char *attributes; /* a JSON object's text, or NULL */
    const char *source_id;  /* NULL: none (never a duplicate) */
    const char *posted_by;  /* token name */
} index_event_in;

/* Stores ev[0..n) in one transaction of the writer thread (all or none),
 * waiting for its commit; everything borrowed. For each i, dup[i] (n bytes,
 * caller's, may be NULL) is set to 1 when its source_id was already stored
 * (or came earlier in ev), and ids[i] (may be NULL) to the new row's id (0
 * for a duplicate). 0, -EINVAL (no type, no time, neither camera nor
 * district/site), or negative. */
int index_events_post(index_db *db, const index_event_in *ev, size_t n, uint8_t *dup,
                      int64_t *ids);

/* A search: every non-NULL member narrows it. */
typedef struct index_event_query {
    const char *q;           /* words, each to be found (a trailing '*': a prefix) */
    const char *camera;
    const char *type;
    /* An area: rows whose own district/site match (NULL: any), or whose camera
     * is one of area_cameras (a JSON array of ids: the area's cameras, so
     * system events of those cameras are found too). Both NULL: no area. */
    const char *district, *site;
    const char *area_cameras;
    int64_t start_us, end_us; /* events whose time is in [start, end) */
    int64_t limit;            /* > 0 */
} index_event_query;

/* A row of a search; strings borrowed for the callback's duration, never NULL
 * ("" when absent). */
typedef struct index_event_row {
    int64_t id, time_us, end_us; /* end_us 0: none */
    const char *camera, *district, *site, *type, *detail;
    const char *text, *attributes, *source_id, *posted_by;
} index_event_row;
typedef int (*index_event_row_cb)(const index_event_row *e, void *arg);

/* Events matching q, oldest first (then by id), at most q->limit. 0, -EINVAL
 * (q->q holds no word to search for), a callback's non-zero, or negative. */
int index_events_search(index_reader *r, const index_event_query *q, index_event_row_cb cb,
                        void *arg);

/* Event retention: deletes, through the writer thread in one transaction
 * per call (waiting for its commit), the events of the next `limit` rows
 * (by time, then id, after the cursor) whose time is before before_us,
 * except those an evidence lock in force at now_us covers: a lock of the
 * event's camera, or of any camera for an event without one (an area or
 * daemon-wide event), whose range overlaps [time_us, end_us or time_us].
 * Cases hold footage through their locks, so an open case's events stay.
 * The full-text index follows by the events table's delete trigger. Start
 * with after_time_us = INT64_MIN, after_id = 0; each call advances them past
 * what it looked at (kept rows are not looked at again), and scanned < limit
 * means nothing older is left. 0 or negative. */
typedef struct index_event_expiry {
    int64_t before_us, now_us;
    int limit;                     /* > 0 */
    int64_t after_time_us, after_id; /* cursor, in and out */
    size_t scanned, deleted, kept; /* out, this call */
} index_event_expiry;
int index_events_expire(index_db *db, index_event_expiry *x);

/* ---- evidence locks and retention queries (index/locks.c) ----
 * A lock keeps [start_us, end_us) of a camera from retention until until_us
 * (0: until released) or its release. Lock changes are rare and also made by
 * vigilctl in another process, so each call opens its own connection to path;
 * the change and its event (lock_created / lock_released, detail naming who
 * and why) commit in one transaction. */
typedef struct index_lock {
    int64_t id;
    char camera[INDEX_ID_MAX];
    int64_t start_us, end_us;
    char reason[256];
    char created_by[64];
    int64_t created_us;
    int64_t until_us;    /* 0: until released */
    int64_t released_us; /* 0: not released */
    char released_by[64];
} index_lock;

/* Inserts l (id is assigned and written back; created_us 0 means now).
 * -EINVAL for an empty camera/reason or end <= start. */
int index_lock_create(const char *path, index_lock *l);
/* Releases lock id, why required (the reason goes into its event). 0, -EINVAL
 * (no reason), -ENOENT (unknown), -EALREADY (already released).
 * index_lock_release: on behalf of an admin or the host's operator.
 * index_lock_release_own: only if who created the lock, else -EPERM. */
int index_lock_release(const char *path, int64_t id, const char *who, const char *why);
int index_lock_release_own(const char *path, int64_t id, const char *who, const char *why);
typedef int (*index_lock_cb)(const index_lock *l, void *arg);
/* Locks of camera (NULL: all) by id; all = 0 lists only those in force at now_us. */
int index_locks_list(const char *path, const char *camera, int all, int64_t now_us,
                     index_lock_cb cb, void *arg);
/* 1 if lock l protects [start_us, end_us) of camera at now_us, else 0. */
int index_lock_covers(const index_lock *l, const char *camera, int64_t start_us, int64_t end_us,
                      int64_t now_us);

/* ---- the lock mirror (index/mirror.c) ----
 * Every lock (released ones too) is also kept beside the footage, in
 * <dir>/.vigil-locks of each directory given here (the roots of the pools
 * whose identity is right), rewritten atomically inside each lock change's
 * transaction; a change no mirror could take is refused (rolled back). So the
 * locks survive the loss of the index file, and a rebuild brings them back. */
#define INDEX_LOCK_MIRROR ".vigil-locks"
typedef struct index_mirror_info {
    int64_t written_us;    /* when the mirror was last written */
    int64_t audit_last_id; /* the audit trail's last row id then */
    int64_t exports;       /* exports the index held then */
} index_mirror_info;
/* Sets the directories (copied) this process's lock changes mirror into;
 * n = 0: none (no mirror). Thread-safe. 0 or -ENOMEM. */
int index_lock_mirror_set(const char *const *dirs, size_t n);
/* Rewrites the mirrors from the locks of the index at path (at start: the
 * pools then hold what the index holds). 0 or negative. */
int index_lock_mirror_sync(const char *path);
/* Reads <dir>/.vigil-locks: *out malloc'd (caller frees), *n locks, *info.
 * 0, -ENOENT (no mirror), -EBADMSG (damaged; logged), or negative. */
int index_lock_mirror_read(const char *dir, index_lock **out, size_t *n, index_mirror_info *info);
/* Inserts the locks (with their ids, released or not) the index at path does
 * not have yet, an event lock_restored (detail names from) for each, and
 * rewrites the mirrors. The number restored, or negative. */
int index_locks_restore(const char *path, const index_lock *locks, size_t n, const char *from);
/* Finished exports are mirrored too (<dir>/.vigil-exports/<id>.json, by
 * index_export_finish()). Inserts those of dir the index at path lacks (same
 * id, manifest and signature). The number restored, or negative; *damaged
 * (may be NULL) counts files that could not be read (logged). */
int index_exports_restore(const char *path, const char *dir, int *damaged);

/* Retention's own read-only connection (one thread). */
typedef struct index_retention index_retention;
int index_retention_open(const char *path, index_retention **out);
void index_retention_close(index_retention **r);
/* Sum of the bytes of every segment of pool (open ones: so far). */
int index_retention_pool_bytes(index_retention *r, const char *pool, int64_t *bytes);
/* Closed segments of pool after (after_start_us, after_id), oldest first, at most limit. */
int index_retention_oldest(index_retention *r, const char *pool, int64_t after_start_us,
                           int64_t after_id, int limit, index_segment_cb cb, void *arg);
/* Closed segments of camera that ended before before_us, after (after_start_us,
 * after_id), oldest first, at most limit. */
int index_retention_expired(index_retention *r, const char *camera, int64_t before_us,
                            int64_t after_start_us, int64_t after_id, int limit,
                            index_segment_cb cb, void *arg);
/* Locks in force at now_us; *out malloc'd (caller frees), *n entries. */
int index_retention_locks(index_retention *r, int64_t now_us, index_lock **out, size_t *n);

/* ---- the audit trail (index/audit.c) ----
 * Every footage access (clip, snapshot, export), lock change and config
 * reload, as a hash chain: each row carries the hash of the one before. token is the token's name ("local": vigilctl on the server,
 * "daemon": a SIGHUP), never a secret; start_us/end_us 0 when not applicable. */
typedef struct index_audit {
    int64_t id;
    int64_t time_us;
    char token[64];
    char action[32];           /* clip, snapshot, live, export, lock_create, lock_release,
                                * config_reload, config_reload_failed, auth_failed,
                                * auth_denied, ... */
    char camera[INDEX_ID_MAX]; /* "" when not about one camera */
    int64_t start_us, end_us;
    char detail[INDEX_DETAIL_MAX];
} index_audit;

/* Fills a (time: now); NULL strings read as "". */
void index_audit_fill(index_audit *a, const char *token, const char *action, const char *camera,
                      int64_t start_us, int64_t end_us, const char *detail);
/* Queues a row through the writer thread (the daemon; never blocks). a is copied. */
void index_audit_add(index_db *db, const index_audit *a);
/* Writes a row in a connection of its own (vigilctl), committed on return.
 * 0 or negative (-EPROTONOSUPPORT: the index predates the audit chain). */
int index_audit_add_direct(const char *path, const index_audit *a);
/* Rows the writer could not store (out of memory, a failed insert, a dropped
 * batch), since index_open(). Any thread. */
uint64_t index_audit_dropped(index_db *db);
/* The trail is a hash chain (index/audit.c has the encoding). Checks every
 * row in id order, read-only: rows is how many were read, broken_id the
 * first row whose link does not hold (0: none) with problem saying how; head
 * is the last row's hash when the chain holds (zeros for an empty trail).
 * 0 when the check ran (whatever it found), or negative (-EPROTONOSUPPORT:
 * the index predates the chain; start vigild once). */
typedef struct index_audit_check {
    int64_t rows;
    int64_t broken_id;
    char problem[200];
    uint8_t head[32];
} index_audit_check;
int index_audit_verify(const char *path, index_audit_check *out);
typedef int (*index_audit_cb)(const index_audit *a, void *arg);
/* Rows in [start_us, end_us) (camera NULL: all), oldest first; limit > 0 keeps
 * the newest limit rows. Opens its own read-only connection. */
int index_audit_list(const char *path, const char *camera, int64_t start_us, int64_t end_us,
                     int64_t limit, index_audit_cb cb, void *arg);
/* index_audit_list() with more filters: NULL (or "") strings match any row;
 * token and action match exactly; before_id > 0 keeps rows with a smaller id
 * (the next page back: the first id of the page shown). */
typedef struct index_audit_filter {
    const char *camera, *token, *action;
    int64_t start_us, end_us; /* [start, end) */
    int64_t before_id;
    int64_t limit; /* > 0: the newest limit rows */
} index_audit_filter;
int index_audit_query(const char *path, const index_audit_filter *f, index_audit_cb cb, void *arg);

/* ---- clock evidence per run (index/clock.c) ----
 * How the wall times of a camera's run were made (ingest/clock.h), so an
 * investigator can defend a timeline across cameras. Offsets are in
 * microseconds; the run is keyed by (camera, run_start_us) like its segments. */
typedef struct index_clock_run {
    char camera[INDEX_ID_MAX];
    int64_t run_start_us;
    int64_t updated_us;       /* wall time the figures below hold up to */
    char cause[16];           /* why the run began: "start" (connect, reconnect, new
                               * streams), "jump_back", "jump_forward", "drift" */
    int64_t slew_us;          /* total slew applied to the mapping since the run began */
    int64_t step_us;          /* total step applied before the mapping was locked */
    int has_recv_offset;
    int64_t recv_offset_us;   /* latest window minimum of receive time - mapped time */
    int64_t ntp_samples;      /* frames that carried camera time; 0: no sender report */
    int64_t ntp_offset_us;    /* latest camera time (RTCP SR) - mapped time */
    int64_t ntp_offset_min_us, ntp_offset_max_us;
} index_clock_run;

/* Queues c (copied) as the current figures of its run (insert or replace). */
void index_clock_run_update(index_db *db, const index_clock_run *c);
typedef int (*index_clock_run_cb)(const index_clock_run *c, void *arg);
/* The runs of camera that cover [start_us, end_us): the last one that began
 * at or before start_us, then every one that began before end_us, by start. */
int index_query_clock_runs(index_reader *r, const char *camera, int64_t start_us, int64_t end_us,
                           index_clock_run_cb cb, void *arg);

/* ---- evidence exports (index/exports.c) ----
 * An export is a signed manifest of footage handed to someone outside (police).
 * Like locks, each call opens its own connection (rare, durable on return). */
typedef struct index_export {
    int64_t id;
    int64_t created_us;
    char created_by[64];
    char reason[256];
    int64_t start_us, end_us;
} index_export;

/* Inserts the row of a new export with an empty manifest (e->id written back;
 * created_us 0 means now). 0 or negative. */
int index_export_create(const char *path, index_export *e);
/* Stores the manifest (the exact bytes signed) and its signature. 0, -ENOENT. */
int index_export_finish(const char *path, int64_t id, const char *manifest, const char *signature);
/* Removes the row of an export that could not be built. 0 or negative. */
int index_export_delete(const char *path, int64_t id);
/* Reads export id; *manifest and *signature malloc'd (caller frees). 0,
 * -ENOENT (unknown or not finished), or negative. e may be NULL. */
int index_export_get(const char *path, int64_t id, index_export *e, char **manifest,
                     char **signature);

/* ---- cases (index/cases.c) ----
 * A case is an investigation: a title, a reason, a time range and the cameras
 * it holds. Its footage is held by ordinary locks (one per camera, created by
 * the caller and recorded here), its exports are ordinary exports (linked
 * here), and its notes are kept here. Like locks, each call opens its own
 * connection and is durable on return. */
#define INDEX_NOTE_MAX 2048

typedef struct index_case {
    int64_t id;
    char title[256];
    char reason[256];
    int64_t start_us, end_us;
    char created_by[64];
    int64_t created_us;
    int64_t closed_us; /* 0: open */
    char closed_by[64];
    char close_reason[256];
    int ncameras; /* filled by index_cases_list() and index_case_get() */
} index_case;

typedef struct index_case_note {
    int64_t id, case_id;
    int64_t time_us;
    char author[64];
    char text[INDEX_NOTE_MAX];
} index_case_note;

/* Inserts c (id written back; created_us 0 means now) and its n cameras
 * (without locks yet), in one transaction. -EINVAL for an empty title/reason,
 * end <= start or no camera. */
int index_case_create(const char *path, index_case *c, const char *const *cameras, size_t n);
/* Removes a case that could not be completed (its row, cameras, links). */
int index_case_delete(const char *path, int64_t id);
/* Records lock_id as the lock holding camera's footage for case id. */
int index_case_set_lock(const char *path, int64_t id, const char *camera, int64_t lock_id);
/* Links export_id to case id. */
int index_case_add_export(const char *path, int64_t id, int64_t export_id);
/* 0, -ENOENT or negative. */
int index_case_get(const char *path, int64_t id, index_case *c);
typedef int (*index_case_cb)(const index_case *c, void *arg);
/* Cases by id, newest first; all = 0 lists only open ones. */
int index_cases_list(const char *path, int all, index_case_cb cb, void *arg);
typedef int (*index_case_camera_cb)(const char *camera, int64_t lock_id, void *arg);
int index_case_cameras(const char *path, int64_t id, index_case_camera_cb cb, void *arg);
typedef int (*index_case_id_cb)(int64_t id, void *arg);
int index_case_exports(const char *path, int64_t id, index_case_id_cb cb, void *arg);
/* Adds a note (n->id and n->time_us written back). -ENOENT (no such case),
 * -EALREADY (closed), -EINVAL (empty text). */
int index_case_note_add(const char *path, index_case_note *n);
typedef int (*index_case_note_cb)(const index_case_note *n, void *arg);
int index_case_notes(const char *path, int64_t id, index_case_note_cb cb, void *arg);
/* Closes case id on behalf of who, why required. own_only: only its creator
 * may (-EPERM otherwise). -ENOENT, -EALREADY, -EINVAL (no reason). The
 * caller releases the case's locks afterwards. */
int index_case_close(const char *path, int64_t id, const char *who, const char *why,
                     int own_only);
/* The case's chain of custody: audit rows about its footage (one of its
 * cameras, a time range overlapping the case's) and rows whose detail names
 * the case ("case": id), oldest first, at most limit (> 0). */
int index_case_custody(const char *path, const index_case *c, int64_t limit, index_audit_cb cb,
                       void *arg);

/* ---- moves between pools (index/moves.c) ----
 * The journal of the mover (storage/mover.c); each call is its own durable
 * transaction on a connection of its own. */
typedef struct index_move {
    int64_t segment_id;
    char from[INDEX_ID_MAX], to[INDEX_ID_MAX];
    char path[INDEX_PATH_MAX]; /* the segment's pool-relative path */
    int64_t started_us;
} index_move;
typedef int (*index_move_cb)(const index_move *m, void *arg);
/* Journals the move of segment id (at pool-relative rel) from pool from to
 * pool to. 0 or negative. */
int index_move_begin(const char *path, int64_t id, const char *from, const char *to,
                     const char *rel);
/* Points the segment's row at pool to if it is still in pool from: 1 done, 0
 * the row is gone or elsewhere, or negative. */
int index_move_switch(const char *path, int64_t id, const char *from, const char *to);
/* Removes the journal row. 0 or negative. */
int index_move_end(const char *path, int64_t id);
/* Journal rows left (moves a stop or crash interrupted), by segment id. */
int index_moves_pending(const char *path, index_move_cb cb, void *arg);

/* ---- backup (index/backup.c) ---- */
typedef struct index_backup_info {
    int pages;          /* of the copy */
    int schema_version;
} index_backup_info;
/* A consistent copy of the index at path, taken while it is in use, written
 * to dest (replaced atomically; a standalone file, no WAL). info may be NULL.
 * 0 or negative (logged). */
int index_backup(const char *path, const char *dest, index_backup_info *info);

#endif
