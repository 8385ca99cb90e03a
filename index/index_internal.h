/*
 * Internals shared by the files of the index module (writer.c, reader.c,
 * schema.c, locks.c, audit.c, exports.c). Not part of the contract; other
 * modules include index/index.h only.
 */
#ifndef VIGIL_INDEX_INTERNAL_H
#define VIGIL_INDEX_INTERNAL_H

#include "index/index.h"

#include <sqlite3.h>

/* Current schema version: the number of entries of the migrations array. */
int index__schema_version(void);
/* Brings the schema of a write connection up to date, in one transaction.
 * 0 or negative errno-style (logged). */
int index__migrate(sqlite3 *db, const char *path);
/* The same up to version target only (tests build files of older versions). */
int index__migrate_to(sqlite3 *db, const char *path, int target);
/* Reads PRAGMA user_version and refuses files that carry no vigil schema or a
 * newer one than this build knows. 0 or negative (logged). */
int index__check_version(sqlite3 *db, const char *path, int *version);

/* ---- connections (schema.c) ---- */

/* Opens the existing index at path read-write or read-only (no create), with
 * extended result codes and the busy timeout, and reads its schema version
 * into *version (index__check_version()). 0 or negative (logged); *out is the
 * caller's on success (sqlite3_close()), NULL on failure. */
int index__open_conn(const char *path, int writable, sqlite3 **out, int *version);
/* index__open_conn() for a file whose tables came with a migration (locks 2,
 * audit 3, exports 4): an index older than min_version is refused with
 * -EPROTONOSUPPORT, logged "schema version N has no FEATURE (start vigild once)". */
int index__open_for(const char *path, int writable, int min_version, const char *feature,
                    sqlite3 **out);
/* sqlite3_exec() of sql. 0 or negative, logged "PATH: WHAT: ..." (what NULL:
 * the sql itself). */
int index__exec(sqlite3 *db, const char *path, const char *sql, const char *what);
/* The body of a write transaction: 0 or negative errno-style (logged). db and
 * path are borrowed. */
typedef int (*index__txn_body)(sqlite3 *db, const char *path, void *arg);
/* Runs body in one BEGIN IMMEDIATE ... COMMIT on a write connection of its own
 * (index__open_for()), durable on return; rolled back if body or the COMMIT
 * fails. Returns the first error, or 0. */
int index__write_txn(const char *path, int min_version, const char *feature, index__txn_body body,
                     void *arg);

/* Translates an SQLite result code to negative errno-style. For
 * SQLITE_CANTOPEN the OS errno of db (if any) is used. */
int index__errno(sqlite3 *db, int rc);
/* Logs "index: PATH: WHAT: sqlite message" and returns index__errno(). */
int index__fail(sqlite3 *db, int rc, const char *path, const char *what);

/* A fragment in the segment_fragments.frags BLOB: 32 bytes little-endian,
 * offset u64, size u32, flags u32, start_us i64, end_us i64. */
#define INDEX__FRAG_BYTES 32
void index__pack_fragment(const index_fragment *f, uint8_t out[INDEX__FRAG_BYTES]);
void index__unpack_fragment(const uint8_t in[INDEX__FRAG_BYTES], index_fragment *f);

/* frags.c: a segment_fragments.frags BLOB starts with its form (from schema
 * version INDEX__FRAGS_VERSION on, for segment ids from meta
 * INDEX__FRAGS_LEGACY_KEY on): INDEX__FRAGS_RAW, then 32-byte records (an
 * open segment, appended to), or INDEX__FRAGS_PACKED (a finished one,
 * delta-coded varints and a checksum; the layout is in frags.c). Tables of
 * lower ids are raw records without the form byte, as before version 11. */
#define INDEX__FRAGS_VERSION 11
#define INDEX__FRAGS_LEGACY_KEY "frags_legacy_below"
/* The id below which tables have the old form, in SQL (0 when unmarked). */
#define INDEX__FRAGS_LEGACY_SQL                                                                    \
    "coalesce((SELECT value FROM meta WHERE key = '" INDEX__FRAGS_LEGACY_KEY "'), 0)"
#define INDEX__FRAGS_RAW 0x00
#define INDEX__FRAGS_PACKED 0x01
/* Merges f[0, n) in place into random-access entries: each keyframe
 * fragment takes in the fragments after it that continue it (no keyframe,
 * back to back in the file and in time, the same flags), so an entry spans a
 * GOP's pieces. Returns the new count. */
size_t index__frags_group(index_fragment *f, size_t n);
/* The most bytes index__frags_encode() writes for n fragments. */
size_t index__frags_packed_max(size_t n);
/* Packs f[0, n) into a new packed BLOB (*out, *len; caller frees).
 * 0, -ENOMEM or -E2BIG. */
int index__frags_encode(const index_fragment *f, size_t n, uint8_t **out, size_t *len);
/* Decodes a BLOB of either form into a new array (*out, NULL when *n is 0;
 * caller frees). 0, -ENOMEM, or -EBADMSG for anything malformed: an unknown
 * form byte, a cut or padded blob, a checksum that does not match. */
int index__frags_decode(const uint8_t *blob, size_t len, index_fragment **out, size_t *n);
/* The same for a file older than INDEX__FRAGS_VERSION (raw records only). */
int index__frags_decode_legacy(const uint8_t *blob, size_t len, index_fragment **out, size_t *n);
/* The INDEX__FRAGS_VERSION migration's step: records the first segment id
 * whose table will have the form byte (every id in the file is below it).
 * O(1), inside the migration's transaction. 0 or negative (logged). */
int index__frags_mark_legacy(sqlite3 *db, const char *path);

/* ---- rows (reader.c) ---- */

/* Columns of every segment query, in the order index__segment_from_row() reads them. */
#define INDEX__SEG_COLS                                                                            \
    "id, camera, start_us, end_us, run_start_us, pool, path, bytes, open, sha256, codec, "         \
    "audio_codec, width, height, fsync_failed"
#define INDEX__SEG_NCOLS 15 /* how many INDEX__SEG_COLS names */

/* segments.path as stored: "" when path is the layout's path for (camera,
 * start_us) (vg_segment_relpath(), nearly every row: it is derived again on
 * read and a month of rows is ~48 bytes a row smaller), else path itself (a
 * file under another name). Returns path or a static "". Borrowed. */
const char *index__segment_path_stored(const char *camera, int64_t start_us, const char *path);

/* Copies text column i of st's current row into dst (NULL reads as ""),
 * truncated to len. */
void index__col_str(sqlite3_stmt *st, int i, char *dst, size_t len);
/* Decodes the INDEX__SEG_COLS of st's current row, found from column
 * first_col on, into *s (zeroed first); a stored "" path comes back as the
 * layout's path (see index__segment_path_stored()). */
void index__segment_from_row(sqlite3_stmt *st, int first_col, index_segment *s);
/* Resets a kept statement and clears its bindings for its next use. */
void index__stmt_done(sqlite3_stmt *st);
/* Steps st (INDEX__SEG_COLS from column 0) to the end, handing each row to cb
 * as a segment, then index__stmt_done(st). Returns cb's first non-zero result,
 * or a step error (logged as "PATH: WHAT: ..."), or 0. db and path borrowed. */
int index__each_segment(sqlite3 *db, const char *path, sqlite3_stmt *st, index_segment_cb cb,
                        void *arg, const char *what);

/* A reader's connection and file (borrowed), for queries kept in other
 * files of the module (events.c). */
sqlite3 *index__reader_db(index_reader *r);
const char *index__reader_path(index_reader *r);
/* Statement i of the reader's spare slots (NULL until a caller prepares one
 * into it), for a query assembled from a few fixed shapes: the event search,
 * one slot per combination of its filters. Finalized when the reader closes. */
#define INDEX__READER_SLOTS 16
sqlite3_stmt **index__reader_slot(index_reader *r, unsigned i);

/* The overlap queries of index_query_segments() and index_query_spans()
 * (for the query-plan test). */
extern const char index__sql_overlap[];
extern const char index__sql_spans[];

/* Busy timeout of every connection, in milliseconds. */
#define INDEX__BUSY_MS 5000

/* writer.c: the event row INSERT (?1 time_us, ?2 camera, ?3 type, ?4 detail),
 * shared with the lock changes of locks.c. */
extern const char index__sql_event_insert[];

/* locks.c: the columns of every lock query, in the order
 * index__lock_from_row() reads them (from column 0). */
#define INDEX__LOCK_COLS                                                                           \
    "id, camera, start_us, end_us, reason, created_by, created_us, until_us, released_us, "        \
    "released_by"
void index__lock_from_row(sqlite3_stmt *st, index_lock *l);
/* mirror.c: rewrites the lock mirror in every directory of
 * index_lock_mirror_set() from db's locks (call inside the write transaction
 * of the change). 0 when no directory is set or at least one was written,
 * else the first error (logged). */
int index__lock_mirror_write(sqlite3 *db, const char *path);
/* mirror.c: writes a finished export (its row, manifest and signature) to
 * <dir>/.vigil-exports/<id>.json in every mirror directory. 0 when no
 * directory is set or at least one was written, else the first error (logged). */
int index__export_mirror_write(const index_export *e, const char *manifest,
                               const char *signature);

/* The one folding of text for full-text search, as SQL around the
 * expression x: FTS5's unicode61 tokenizer (remove_diacritics 2) strips
 * marks ("Lục" -> "luc") but keeps đ/Đ, a letter of its own, so it is
 * mapped to d/D first. The v5 migration's triggers fold what is indexed with
 * it and the search folds its query the same way; changing it needs a
 * migration that rebuilds events_fts. */
#define INDEX__FOLD_SQL(x) "replace(replace(" x ", 'đ', 'd'), 'Đ', 'D')"
/* What events_fts indexes of an events row r (new/old in a trigger). */
#define INDEX__EVENT_FTS_BODY(r)                                                                  \
    INDEX__FOLD_SQL("coalesce(" r ".text, '') || ' ' || coalesce(" r ".attributes, " r           \
                    ".detail, '')")

/* writer.c -> events.c: one OP_EVENTS of the writer thread, applied inside
 * its transaction under a savepoint (all or none). */
typedef struct index__events_batch {
    const index_event_in *ev; /* borrowed from the waiting caller */
    size_t n;
    uint8_t *dup;   /* borrowed, may be NULL */
    int64_t *ids;   /* borrowed, may be NULL */
} index__events_batch;
/* The INSERT of a posted event (?1..?10, RETURNING id; no row for a
 * duplicate source_id), prepared by the writer. */
extern const char index__sql_event_post[];
/* Validates b's events. 0 or -EINVAL (logged at debug). */
int index__events_check(const index__events_batch *b);
/* Applies b with st (index__sql_event_post) on db, under a savepoint. */
int index__events_apply(sqlite3 *db, const char *path, sqlite3_stmt *st,
                        const index__events_batch *b);

/* The schema version that made the audit trail a hash chain (schema.c). */
#define INDEX__AUDIT_CHAIN_VERSION 7

/* audit.c: appending a row to the hash-chained audit trail, shared with the
 * writer. last is index__sql_audit_last and ins index__sql_audit_insert,
 * prepared on db (kept statements: reset here). Must run inside a write
 * transaction (the chain's head is read, then extended). 0 or negative
 * (logged). a->id is ignored: the row gets the id after the head's. */
extern const char index__sql_audit_last[];
extern const char index__sql_audit_insert[];
int index__audit_append(sqlite3 *db, const char *path, sqlite3_stmt *last, sqlite3_stmt *ins,
                        const index_audit *a);
/* The schema migration that brings the chain: hashes every row that has
 * none, in id order, continuing from the last chained one. Inside the
 * migration's transaction. 0 or negative (logged). */
int index__audit_chain_all(sqlite3 *db, const char *path);

/* clock.c: the clock_runs upsert (?1..?11) and its binding, for the writer;
 * the covering-runs query (?1 camera, ?2 start, ?3 end) and its row decoder,
 * for readers. */
extern const char index__sql_clock_upsert[];
extern const char index__sql_clock_query[];
void index__clock_bind(sqlite3_stmt *st, const index_clock_run *c);
void index__clock_from_row(sqlite3_stmt *st, index_clock_run *c);

#endif
