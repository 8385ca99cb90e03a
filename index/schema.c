/*
 * The schema of the index and its migrations, plus the helpers every file of
 * the module shares (SQLite error translation, opening a connection of one's
 * own and running a write transaction in it, the fragment BLOB layout).
 *
 * The schema version is PRAGMA user_version: the number of migrations applied.
 * A migration is one SQL script appended to migrations[]; index__migrate() runs
 * the missing ones in order inside one write transaction, so a file is either
 * at the old version or at the new one. Never edit a released migration; add
 * the next one.
 *
 * Hot and bulky data are kept apart. segments holds one small row per segment
 * and the covering index segments_camera_start (camera, start_us, end_us, open,
 * bytes) answers "what overlaps [a, b) on camera X" from the index alone; only
 * the rows that match are read from the table. The fragment table of a segment
 * (what clip assembly needs) lives in segment_fragments, one BLOB per segment,
 * packed once the segment is finished (index/frags.c). segments.path is ''
 * for a file at the layout's path of its camera and start (common/layout.c),
 * which is nearly every row: the reader derives it, and a row is a third
 * smaller. Only a file under another name stores its path.
 *
 * The overlap query is start_us < :end AND end_us > :start; on its own the
 * second term is not a range on the index, so the scan would start at the first
 * segment of the camera. It is bounded with start_us >= :start - max_segment_us,
 * where meta.max_segment_us is the longest duration (end - start) any segment
 * row has ever had. The writer raises it in the same transaction as the row
 * change that exceeds it (begin, progress, finish), and readers read it inside
 * the overlap statement itself, so a reader's snapshot always carries a bound
 * that holds for every row it can see. A measured value rather than a constant
 * (segment_seconds is at most 3600, plus the wait for a keyframe) keeps the
 * scan tight with one-minute segments and stays correct if a segment ever runs
 * long (a camera without keyframes, a recovered file).
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char v1_sql[] =
    "CREATE TABLE meta (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO meta (key, value) VALUES ('max_segment_us', 0);\n"
    "CREATE TABLE segments (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  camera TEXT NOT NULL,\n"
    "  start_us INTEGER NOT NULL,\n"
    "  end_us INTEGER NOT NULL,\n"
    "  run_start_us INTEGER NOT NULL,\n"
    "  pool TEXT NOT NULL,\n"
    "  path TEXT NOT NULL,\n"
    "  bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  open INTEGER NOT NULL DEFAULT 1,\n"
    "  sha256 BLOB,\n"
    "  codec TEXT NOT NULL DEFAULT '',\n"
    "  audio_codec TEXT NOT NULL DEFAULT '',\n"
    "  width INTEGER NOT NULL DEFAULT 0,\n"
    "  height INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX segments_camera_start ON segments (camera, start_us, end_us, open, bytes);\n"
    /* Tiny: only the segments being written (one per camera) are in it. */
    "CREATE INDEX segments_open ON segments (id) WHERE open = 1;\n"
    "CREATE TABLE segment_fragments (\n"
    "  segment_id INTEGER PRIMARY KEY,\n"
    "  frags BLOB NOT NULL\n"
    ");\n"
    "CREATE TABLE events (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  time_us INTEGER NOT NULL,\n"
    "  camera TEXT NOT NULL DEFAULT '',\n"
    "  type TEXT NOT NULL,\n"
    "  detail TEXT NOT NULL DEFAULT ''\n"
    ");\n"
    "CREATE INDEX events_time ON events (time_us);\n"
    "CREATE INDEX events_camera_time ON events (camera, time_us);\n";

/* Issue 4 (storage/retention.c, index/locks.c): evidence locks, and the
 * per-pool order retention deletes in (oldest first across a pool's cameras),
 * covering so the pool's byte count and the victim scan read the index only. */
static const char v2_sql[] =
    "CREATE TABLE locks (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  camera TEXT NOT NULL,\n"
    "  start_us INTEGER NOT NULL,\n"
    "  end_us INTEGER NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_us INTEGER NOT NULL,\n"
    "  until_us INTEGER,\n"    /* NULL: until released */
    "  released_us INTEGER,\n" /* NULL: active */
    "  released_by TEXT\n"
    ");\n"
    "CREATE INDEX locks_active ON locks (camera, start_us) WHERE released_us IS NULL;\n"
    "CREATE INDEX segments_pool_start ON segments (pool, start_us, open, bytes);\n";

/* Issue 5 (index/audit.c): the audit trail of footage access, lock and config
 * changes; start_us/end_us NULL when the action has no time range. */
static const char v3_sql[] =
    "CREATE TABLE audit (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  time_us INTEGER NOT NULL,\n"
    "  token TEXT NOT NULL,\n"
    "  action TEXT NOT NULL,\n"
    "  camera TEXT NOT NULL DEFAULT '',\n"
    "  start_us INTEGER,\n"
    "  end_us INTEGER,\n"
    "  detail TEXT NOT NULL DEFAULT ''\n"
    ");\n"
    "CREATE INDEX audit_time ON audit (time_us);\n";

/* Evidence exports (index/exports.c, serve's POST /api/exports): the signed
 * manifest as served (the exact bytes that were signed) and its signature. */
static const char v4_sql[] =
    "CREATE TABLE exports (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  created_us INTEGER NOT NULL,\n"
    "  created_by TEXT NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  start_us INTEGER NOT NULL,\n"
    "  end_us INTEGER NOT NULL,\n"
    "  manifest TEXT NOT NULL DEFAULT '',\n" /* '' while the export is being built */
    "  signature TEXT NOT NULL DEFAULT ''\n"
    ");\n";

/* Cases (index/cases.c): an investigation holding footage of several cameras
 * over one range. Its locks and exports keep their own tables; the case only
 * names them, so retention and export code need not know about cases.
 * audit_camera_range serves a case's chain of custody (the accesses to its
 * cameras over its range). */
static const char v5_sql[] =
    "CREATE TABLE cases (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  title TEXT NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  start_us INTEGER NOT NULL,\n"
    "  end_us INTEGER NOT NULL,\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_us INTEGER NOT NULL,\n"
    "  closed_us INTEGER,\n" /* NULL: open */
    "  closed_by TEXT,\n"
    "  close_reason TEXT\n"
    ");\n"
    "CREATE TABLE case_cameras (\n"
    "  case_id INTEGER NOT NULL,\n"
    "  camera TEXT NOT NULL,\n"
    "  lock_id INTEGER,\n"
    "  PRIMARY KEY (case_id, camera)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE case_exports (\n"
    "  case_id INTEGER NOT NULL,\n"
    "  export_id INTEGER NOT NULL,\n"
    "  PRIMARY KEY (case_id, export_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE case_notes (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  case_id INTEGER NOT NULL,\n"
    "  time_us INTEGER NOT NULL,\n"
    "  author TEXT NOT NULL,\n"
    "  text TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX case_notes_case ON case_notes (case_id, id);\n"
    "CREATE INDEX audit_camera_range ON audit (camera, start_us) WHERE start_us IS NOT NULL;\n";

/* Events from other systems (index/events.c): an optional end, the area of
 * an event not tied to one camera, free text and attributes (JSON), the
 * sender's id (stored once) and the token that posted it; and the full-text
 * index over every event, kept by triggers so whatever inserts an event
 * (the writer thread, a lock change in its own connection) indexes it.
 * events_fts is contentless (the text is in events already); its rows are
 * removed with FTS5's 'delete' command, which needs the indexed body again. */
static const char v6_sql[] =
    "ALTER TABLE events ADD COLUMN end_us INTEGER;\n"
    "ALTER TABLE events ADD COLUMN district TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE events ADD COLUMN site TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE events ADD COLUMN text TEXT;\n"
    "ALTER TABLE events ADD COLUMN attributes TEXT;\n"
    "ALTER TABLE events ADD COLUMN source_id TEXT;\n"
    "ALTER TABLE events ADD COLUMN posted_by TEXT;\n"
    "CREATE UNIQUE INDEX events_source_id ON events (source_id) WHERE source_id IS NOT NULL;\n"
    "CREATE INDEX events_district_time ON events (district, time_us) WHERE district <> '';\n"
    "CREATE INDEX events_type_time ON events (type, time_us);\n"
    "CREATE VIRTUAL TABLE events_fts USING fts5 (body, content = '',\n"
    "  tokenize = 'unicode61 remove_diacritics 2');\n"
    "INSERT INTO events_fts (rowid, body) SELECT id, " INDEX__EVENT_FTS_BODY("events") " FROM events;\n"
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN\n"
    "  INSERT INTO events_fts (rowid, body) VALUES (new.id, " INDEX__EVENT_FTS_BODY("new") ");\n"
    "END;\n"
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN\n"
    "  INSERT INTO events_fts (events_fts, rowid, body) VALUES ('delete', old.id, "
    INDEX__EVENT_FTS_BODY("old") ");\n"
    "END;\n";

/* INDEX__AUDIT_CHAIN_VERSION: the audit trail made tamper-evident
 * (index/audit.c): each row carries the hash of the row before it and its own
 * hash over both. The rows already there are chained in id order by the
 * migration itself (index__migrate()). */
static const char v7_sql[] =
    "ALTER TABLE audit ADD COLUMN prev_hash BLOB;\n"
    "ALTER TABLE audit ADD COLUMN hash BLOB;\n";

/* Evidence a court can weigh. segments.fsync_failed: the writer saw an fsync of
 * the file (or of its directories) fail, so its bytes may not all be on the
 * disk even though its row says closed. clock_runs: per continuous run of a
 * camera (the run_start_us of its segments), how its wall times were made —
 * why the run began, the slew and steps applied to the stream-to-wall mapping,
 * the receive-clock residual, and the camera's own clock (RTCP sender reports)
 * against the mapping; rewritten as the run goes (index/clock.c). */
static const char v8_sql[] =
    "ALTER TABLE segments ADD COLUMN fsync_failed INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE TABLE clock_runs (\n"
    "  camera TEXT NOT NULL,\n"
    "  run_start_us INTEGER NOT NULL,\n"
    "  updated_us INTEGER NOT NULL,\n"
    "  cause TEXT NOT NULL,\n"
    "  slew_us INTEGER NOT NULL DEFAULT 0,\n"
    "  step_us INTEGER NOT NULL DEFAULT 0,\n"
    "  recv_offset_us INTEGER,\n"    /* NULL: no window measured yet */
    "  ntp_samples INTEGER NOT NULL DEFAULT 0,\n"
    "  ntp_offset_us INTEGER,\n"     /* NULL: no sender report */
    "  ntp_offset_min_us INTEGER,\n"
    "  ntp_offset_max_us INTEGER,\n"
    "  PRIMARY KEY (camera, run_start_us)\n"
    ") WITHOUT ROWID;\n";

/* Tiers (storage/mover.c): the journal of segment moves between pools. A row
 * exists from before the copy starts until the source is gone, so start-up
 * can finish or undo a move a crash interrupted (one valid copy indexed). */
static const char v9_sql[] =
    "CREATE TABLE moves (\n"
    "  segment_id INTEGER PRIMARY KEY,\n"
    "  from_pool TEXT NOT NULL,\n"
    "  to_pool TEXT NOT NULL,\n"
    "  path TEXT NOT NULL,\n"
    "  started_us INTEGER NOT NULL\n"
    ");\n";

/* Activity per second of a segment (ingest/activity, index.h's byte format),
 * written at its close. On the row itself: 60 bytes a minute, read together
 * with the row by the timeline and search queries. */
static const char v10_sql[] = "ALTER TABLE segments ADD COLUMN activity BLOB;\n";

/* INDEX__FRAGS_VERSION: fragment tables carry their form in their first byte
 * and finished segments keep theirs packed (index/frags.c); 32 bytes a
 * fragment were ~90 % of a month's index. The tables already there keep
 * their form (index__frags_mark_legacy() records where the new one starts). */
static const char v11_sql[] = "-- segment_fragments.frags: a form byte, packed when finished\n";

/* migrations[i] takes a file from version i to version i + 1. Append only. */
static const char *const migrations[] = {
    v1_sql,
    v2_sql,
    v3_sql,
    v4_sql,
    v5_sql,
    v6_sql,
    v7_sql,
    v8_sql,
    v9_sql,
    v10_sql,
    v11_sql,
};

int index__schema_version(void)
{
    return (int)VG_ARRAY_SIZE(migrations);
}

int index__errno(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CANTOPEN: {
        int e = db ? sqlite3_system_errno(db) : 0;
        return e > 0 ? -e : -ENOENT;
    }
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return -EBADMSG;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_INTERRUPT:
        return -EINTR;
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int index__fail(sqlite3 *db, int rc, const char *path, const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_NOTADB)
        vg_log(LOG_ERR, "index: %s: %s: not an SQLite database (%s)", path, what, msg);
    else
        vg_log(LOG_ERR, "index: %s: %s: %s (sqlite %d)", path, what, msg, rc);
    return index__errno(db, rc);
}

int index__check_version(sqlite3 *db, const char *path, int *version)
{
    sqlite3_stmt *st = NULL;
    int ret = 0;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ret = index__fail(db, rc, path, "reading the schema version");
        goto out;
    }
    int v = sqlite3_column_int(st, 0);
    if (v > index__schema_version()) {
        vg_log(LOG_ERR, "index: %s: schema version %d is newer than this build knows (%d)",
               path, v, index__schema_version());
        ret = -EPROTONOSUPPORT;
        goto out;
    }
    *version = v;
out:
    sqlite3_finalize(st);
    return ret;
}

int index__open_conn(const char *path, int writable, sqlite3 **out, int *version)
{
    sqlite3 *db = NULL;
    int flags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    int ret = 0;
    *out = NULL;
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, writable ? "opening" : "opening read-only");
        goto out;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, INDEX__BUSY_MS);
    if ((ret = index__check_version(db, path, version)) < 0) goto out;
    *out = db;
    db = NULL;
out:
    sqlite3_close(db);
    return ret;
}

/* The first column of sql's single row into *v. 0, or the SQLite code. */
static int probe_int(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_CORRUPT;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The database size the header of the file at path states (page size times
 * the in-header page count), when the header says that count is valid.
 * 0 with *bytes, or -1. */
static int header_size(const char *path, int64_t *bytes)
{
    uint8_t h[100];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = pread(fd, h, sizeof(h), 0);
    close(fd);
    if (n != (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0) return -1;
    uint32_t page = (uint32_t)h[16] << 8 | h[17];
    if (page == 1) page = 65536;
    uint32_t pages = (uint32_t)h[28] << 24 | (uint32_t)h[29] << 16 | (uint32_t)h[30] << 8 | h[31];
    /* Valid only if "version-valid-for" matches the change counter. */
    if (pages == 0 || memcmp(h + 24, h + 92, 4) != 0) return -1;
    *bytes = (int64_t)page * pages;
    return 0;
}

int index_probe(const char *path, char *why, size_t len)
{
    struct stat sb, wal;
    sqlite3 *db = NULL;
    char walpath[4096];
    int64_t v = 0, promised = 0;
    int ret = 0, rc;
    snprintf(why, len, "healthy");
    if (stat(path, &sb) != 0) {
        ret = -errno;
        snprintf(why, len, "%s", errno == ENOENT ? "the file does not exist" : strerror(errno));
        return ret;
    }
    if (sb.st_size == 0) {
        snprintf(why, len, "the file is empty");
        return -ENOENT;
    }
    /* A file cut short keeps its header, which promises more pages than
     * are there (unless the write-ahead log holds the rest). */
    snprintf(walpath, sizeof(walpath), "%s-wal", path);
    if (header_size(path, &promised) == 0 && promised > (int64_t)sb.st_size &&
        (stat(walpath, &wal) != 0 || wal.st_size == 0)) {
        snprintf(why, len, "it is truncated (%lld of the %lld bytes its header promises)",
                 (long long)sb.st_size, (long long)promised);
        ret = -EBADMSG;
        goto out;
    }
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) rc = probe_int(db, "PRAGMA user_version", &v);
    if (rc != SQLITE_OK) goto fail;
    if (v > index__schema_version()) {
        snprintf(why, len, "its schema version %lld is newer than this vigild knows (%d)",
                 (long long)v, index__schema_version());
        ret = -EPROTONOSUPPORT;
        goto out;
    }
    /* What opening it reads, and the small tables whose loss matters most.
     * (A full integrity check reads the whole file: too slow at start.) */
    int64_t version = v;
    if (version >= 1 &&
        (rc = probe_int(db, "SELECT coalesce(max(id), 0) FROM segments", &v)) != SQLITE_OK)
        goto fail;
    if (version >= 2 && (rc = probe_int(db, "SELECT count(*) FROM locks", &v)) != SQLITE_OK)
        goto fail;
    goto out;
fail:
    ret = index__errno(db, rc);
    if ((rc & 0xff) == SQLITE_NOTADB)
        snprintf(why, len, "it is not an SQLite database");
    else if ((rc & 0xff) == SQLITE_CORRUPT)
        snprintf(why, len, "it is damaged (%s)", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    else
        snprintf(why, len, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if (ret == 0) ret = -EBADMSG;
out:
    sqlite3_close(db);
    return ret;
}

int index__open_for(const char *path, int writable, int min_version, const char *feature,
                    sqlite3 **out)
{
    sqlite3 *db = NULL;
    int version = 0;
    int ret = index__open_conn(path, writable, &db, &version);
    *out = NULL;
    if (ret < 0) return ret;
    if (version < min_version) {
        /* The daemon migrates at start. */
        vg_log(LOG_ERR, "index: %s: schema version %d has no %s (start vigild once)", path,
               version, feature);
        sqlite3_close(db);
        return -EPROTONOSUPPORT;
    }
    *out = db;
    return 0;
}

int index__exec(sqlite3 *db, const char *path, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : index__fail(db, rc, path, what ? what : sql);
}

int index__write_txn(const char *path, int min_version, const char *feature, index__txn_body body,
                     void *arg)
{
    sqlite3 *db = NULL;
    int ret = index__open_for(path, 1, min_version, feature, &db);
    if (ret < 0) return ret;
    if ((ret = index__exec(db, path, "BEGIN IMMEDIATE", NULL)) < 0) goto out;
    if ((ret = body(db, path, arg)) < 0) goto out;
    ret = index__exec(db, path, "COMMIT", NULL);
out:
    if (ret < 0 && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return ret;
}

int index__migrate(sqlite3 *db, const char *path)
{
    return index__migrate_to(db, path, index__schema_version());
}

int index__migrate_to(sqlite3 *db, const char *path, int target)
{
    int ret = index__exec(db, path, "BEGIN IMMEDIATE", "starting the migration");
    if (ret < 0) return ret;
    int v = 0;
    ret = index__check_version(db, path, &v);
    if (ret < 0) goto out;
    if (target > index__schema_version()) target = index__schema_version();
    for (int i = v; i < target; i++) {
        char what[64];
        snprintf(what, sizeof(what), "migrating to schema version %d", i + 1);
        ret = index__exec(db, path, migrations[i], what);
        if (ret < 0) goto out;
        /* Rows written before the chain existed join it here, in the same
         * transaction: the file is never at the new version unchained. */
        if (i + 1 == INDEX__AUDIT_CHAIN_VERSION && (ret = index__audit_chain_all(db, path)) < 0)
            goto out;
        if (i + 1 == INDEX__FRAGS_VERSION && (ret = index__frags_mark_legacy(db, path)) < 0)
            goto out;
    }
    if (v < target) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", target);
        ret = index__exec(db, path, sql, "setting the schema version");
        if (ret < 0) goto out;
        vg_log(LOG_INFO, "index: %s: schema migrated from version %d to %d", path, v, target);
    }
    ret = index__exec(db, path, "COMMIT", "committing the migration");
out:
    if (ret < 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void index__pack_fragment(const index_fragment *f, uint8_t out[INDEX__FRAG_BYTES])
{
    put_le(out, f->offset, 8);
    put_le(out + 8, f->size, 4);
    put_le(out + 12, f->flags, 4);
    put_le(out + 16, (uint64_t)f->start_us, 8);
    put_le(out + 24, (uint64_t)f->end_us, 8);
}

void index__unpack_fragment(const uint8_t in[INDEX__FRAG_BYTES], index_fragment *f)
{
    f->offset = get_le(in, 8);
    f->size = (uint32_t)get_le(in + 8, 4);
    f->flags = (uint32_t)get_le(in + 12, 4);
    f->start_us = (int64_t)get_le(in + 16, 8);
    f->end_us = (int64_t)get_le(in + 24, 8);
}
