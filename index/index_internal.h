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
/* Reads PRAGMA user_version and refuses files that carry no vigil schema or a
 * newer one than this build knows. 0 or negative (logged). */
int index__check_version(sqlite3 *db, const char *path, int *version);

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

/* ---- rows (reader.c) ---- */

/* Columns of every segment query, in the order index__segment_from_row() reads them. */
#define INDEX__SEG_COLS                                                                            \
    "id, camera, start_us, end_us, run_start_us, pool, path, bytes, open, sha256, codec, "         \
    "audio_codec, width, height"

/* Copies text column i of st's current row into dst (NULL reads as ""),
 * truncated to len. */
void index__col_str(sqlite3_stmt *st, int i, char *dst, size_t len);
/* Decodes the INDEX__SEG_COLS of st's current row, found from column
 * first_col on, into *s (zeroed first). */
void index__segment_from_row(sqlite3_stmt *st, int first_col, index_segment *s);
/* Resets a kept statement and clears its bindings for its next use. */
void index__stmt_done(sqlite3_stmt *st);
/* Steps st (INDEX__SEG_COLS from column 0) to the end, handing each row to cb
 * as a segment, then index__stmt_done(st). Returns cb's first non-zero result,
 * or a step error (logged as "PATH: WHAT: ..."), or 0. db and path borrowed. */
int index__each_segment(sqlite3 *db, const char *path, sqlite3_stmt *st, index_segment_cb cb,
                        void *arg, const char *what);

/* The overlap query of index_query_segments() (for the query-plan test). */
extern const char index__sql_overlap[];

/* Busy timeout of every connection, in milliseconds. */
#define INDEX__BUSY_MS 5000

/* audit.c: the audit row INSERT (?1..?7) and its binding, shared with the writer. */
extern const char index__sql_audit_insert[];
void index__audit_bind(sqlite3_stmt *st, const index_audit *a);

#endif
