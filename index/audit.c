/*
 * The audit trail: who looked at or changed what, and when.
 *
 * Every footage access (clip, snapshot, export), every evidence-lock change and
 * every configuration reload is one row of the audit table (schema v3): time,
 * the name of the token that made the request ("local" for vigilctl on the
 * server, "daemon" for a SIGHUP), the action, the camera and the time range
 * involved, and a short detail. Never a secret: the token's name, not the
 * token; no URLs (they could carry credentials).
 *
 * The daemon's rows go through the writer thread's queue (index_audit_add(),
 * see writer.c), so the HTTP loop never waits for the disk: audit rows commit
 * in the same batches as segment progress. vigilctl runs in another process
 * without a writer thread, so index_audit_add_direct() writes its row in a
 * connection of its own, durable when it returns (like index/locks.c).
 * Listing opens a read-only connection per call: audit queries are rare
 * (an administrator's), and that keeps them off the readers' hot statements.
 *
 * The trail is a hash chain, so whoever can write the SQLite file cannot
 * change or remove a row unseen (index_audit_verify(), `vigilctl audit
 * verify`). Each row stores prev_hash, the hash of the row before it (32 zero
 * bytes for the first), and hash = SHA-256 of the canonical encoding below.
 * Appending reads the head (the row with the highest id) inside the write
 * transaction, so the daemon's writer and vigilctl can both append: SQLite's
 * write lock orders them. The id is the head's + 1 and is part of the hash,
 * so a renumbered row shows as well.
 *
 * Canonical encoding (all integers big-endian; text is its UTF-8 bytes as
 * stored, preceded by its length as u32):
 *   text "vigil-audit-1"  prev_hash (32 bytes)  id (i64)  time_us (i64)
 *   text token  text action  text camera
 *   u8 1 + start_us (i64) + end_us (i64), or u8 0 when the row has no range
 *   text detail
 * What the chain cannot show: rows cut off the end (the head is then just an
 * older row). `vigilctl audit verify` prints the head's hash so it can be
 * noted elsewhere and compared later.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char index__sql_audit_last[] = "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1";

const char index__sql_audit_insert[] =
    "INSERT INTO audit (id, time_us, token, action, camera, start_us, end_us, detail, prev_hash, "
    "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/* The columns of a row as the chain sees them: exactly what is stored. */
typedef struct chain_text {
    const char *p;
    size_t n;
} chain_text;

typedef struct chain_row {
    int64_t id, time_us;
    chain_text token, action, camera, detail;
    int has_range;
    int64_t start_us, end_us;
} chain_row;

static void put_u64(vg_sha256 *h, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    vg_sha256_update(h, b, (size_t)n);
}

static void put_text(vg_sha256 *h, chain_text t)
{
    put_u64(h, (uint64_t)t.n, 4);
    if (t.n) vg_sha256_update(h, t.p, t.n);
}

/* The row's hash (see the top of the file). h is reset first. */
static void row_hash(vg_sha256 *h, const uint8_t prev[32], const chain_row *r, uint8_t out[32])
{
    static const char tag[] = "vigil-audit-1";
    vg_sha256_reset(h);
    put_text(h, (chain_text){tag, sizeof(tag) - 1});
    vg_sha256_update(h, prev, 32);
    put_u64(h, (uint64_t)r->id, 8);
    put_u64(h, (uint64_t)r->time_us, 8);
    put_text(h, r->token);
    put_text(h, r->action);
    put_text(h, r->camera);
    put_u64(h, r->has_range ? 1 : 0, 1);
    if (r->has_range) {
        put_u64(h, (uint64_t)r->start_us, 8);
        put_u64(h, (uint64_t)r->end_us, 8);
    }
    put_text(h, r->detail);
    vg_sha256_final(h, out);
}

static chain_text text_of(const char *s)
{
    return (chain_text){s, strlen(s)};
}

static chain_text col_text(sqlite3_stmt *st, int i)
{
    const char *p = (const char *)sqlite3_column_text(st, i);
    return (chain_text){p ? p : "", p ? (size_t)sqlite3_column_bytes(st, i) : 0};
}

/* Columns of the chain queries, in the order row_from() reads them. */
#define CHAIN_COLS "id, time_us, token, action, camera, start_us, end_us, detail, prev_hash, hash"

/* The row of st (CHAIN_COLS), valid until st steps again. */
static void row_from(sqlite3_stmt *st, chain_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->time_us = sqlite3_column_int64(st, 1);
    r->token = col_text(st, 2);
    r->action = col_text(st, 3);
    r->camera = col_text(st, 4);
    r->has_range =
        sqlite3_column_type(st, 5) != SQLITE_NULL || sqlite3_column_type(st, 6) != SQLITE_NULL;
    r->start_us = sqlite3_column_int64(st, 5);
    r->end_us = sqlite3_column_int64(st, 6);
    r->detail = col_text(st, 7);
}

/* A 32-byte hash column into out; false when NULL or of another size. */
static bool col_hash(sqlite3_stmt *st, int i, uint8_t out[32])
{
    const void *p = sqlite3_column_blob(st, i);
    if (!p || sqlite3_column_bytes(st, i) != 32) return false;
    memcpy(out, p, 32);
    return true;
}

int index__audit_append(sqlite3 *db, const char *path, sqlite3_stmt *last, sqlite3_stmt *ins,
                        const index_audit *a)
{
    uint8_t prev[32], hash[32];
    int64_t id = 1;
    vg_sha256 *h = vg_sha256_new();
    int ret = 0;
    memset(prev, 0, sizeof(prev));
    if (!h) return -ENOMEM;
    int rc = sqlite3_step(last);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(last, 0) + 1;
        /* A head without a hash cannot be extended honestly; chaining on
         * from zeros leaves that row for verify to name. */
        if (!col_hash(last, 1, prev)) memset(prev, 0, sizeof(prev));
        rc = SQLITE_DONE;
    }
    index__stmt_done(last);
    if (rc != SQLITE_DONE) {
        ret = index__fail(db, rc, path, "reading the head of the audit trail");
        goto out;
    }
    bool range = a->start_us || a->end_us;
    chain_row r = {.id = id,
                   .time_us = a->time_us,
                   .token = text_of(a->token),
                   .action = text_of(a->action),
                   .camera = text_of(a->camera),
                   .detail = text_of(a->detail),
                   .has_range = range,
                   .start_us = range ? a->start_us : 0,
                   .end_us = range ? a->end_us : 0};
    row_hash(h, prev, &r, hash);
    sqlite3_bind_int64(ins, 1, id);
    sqlite3_bind_int64(ins, 2, a->time_us);
    sqlite3_bind_text(ins, 3, a->token, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, a->action, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, a->camera, -1, SQLITE_STATIC);
    if (range) {
        sqlite3_bind_int64(ins, 6, a->start_us);
        sqlite3_bind_int64(ins, 7, a->end_us);
    } else {
        sqlite3_bind_null(ins, 6);
        sqlite3_bind_null(ins, 7);
    }
    sqlite3_bind_text(ins, 8, a->detail, -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 9, prev, 32, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 10, hash, 32, SQLITE_STATIC);
    rc = sqlite3_step(ins);
    index__stmt_done(ins);
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "inserting an audit row");
out:
    vg_sha256_free(&h);
    return ret;
}

int index__audit_chain_all(sqlite3 *db, const char *path)
{
    sqlite3_stmt *head = NULL, *next = NULL, *upd = NULL;
    uint8_t prev[32], hash[32];
    int64_t after = 0, n = 0;
    vg_sha256 *h = vg_sha256_new();
    int ret = 0, rc;
    memset(prev, 0, sizeof(prev));
    if (!h) return -ENOMEM;
    /* Continue from the last chained row, if any (none on a first migration). */
    rc = sqlite3_prepare_v2(db, "SELECT id, hash FROM audit WHERE hash IS NOT NULL "
                                "ORDER BY id DESC LIMIT 1", -1, &head, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(head);
    if (rc == SQLITE_ROW) {
        after = sqlite3_column_int64(head, 0);
        col_hash(head, 1, prev);
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE) goto fail;
    /* One row at a time by id: the rows are updated as they are read. */
    rc = sqlite3_prepare_v2(db, "SELECT " CHAIN_COLS " FROM audit WHERE id > ?1 ORDER BY id LIMIT 1",
                            -1, &next, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "UPDATE audit SET prev_hash = ?2, hash = ?3 WHERE id = ?1", -1,
                                &upd, NULL);
    if (rc != SQLITE_OK) goto fail;
    for (;;) {
        sqlite3_bind_int64(next, 1, after);
        rc = sqlite3_step(next);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) goto fail;
        chain_row r;
        row_from(next, &r);
        row_hash(h, prev, &r, hash);
        after = r.id;
        index__stmt_done(next);
        sqlite3_bind_int64(upd, 1, after);
        sqlite3_bind_blob(upd, 2, prev, 32, SQLITE_STATIC);
        sqlite3_bind_blob(upd, 3, hash, 32, SQLITE_STATIC);
        rc = sqlite3_step(upd);
        index__stmt_done(upd);
        if (rc != SQLITE_DONE) goto fail;
        memcpy(prev, hash, 32);
        n++;
    }
    if (n) vg_log(LOG_INFO, "index: %s: %lld audit rows chained", path, (long long)n);
    goto out;
fail:
    ret = index__fail(db, rc, path, "chaining the audit trail");
out:
    sqlite3_finalize(head);
    sqlite3_finalize(next);
    sqlite3_finalize(upd);
    vg_sha256_free(&h);
    return ret;
}

void index_audit_fill(index_audit *a, const char *token, const char *action, const char *camera,
                      int64_t start_us, int64_t end_us, const char *detail)
{
    memset(a, 0, sizeof(*a));
    a->time_us = vg_now_us();
    vg_utf8_copy(a->token, sizeof(a->token), token ? token : "");
    vg_utf8_copy(a->action, sizeof(a->action), action ? action : "");
    vg_utf8_copy(a->camera, sizeof(a->camera), camera ? camera : "");
    a->start_us = start_us;
    a->end_us = end_us;
    vg_utf8_copy(a->detail, sizeof(a->detail), detail ? detail : "");
}

/* The audit trail came with schema version 3, its chain with
 * INDEX__AUDIT_CHAIN_VERSION: appending needs the chain, listing does not. */
#define AUDIT_VERSION 3

static int append_direct(sqlite3 *db, const char *path, void *arg)
{
    sqlite3_stmt *last = NULL, *ins = NULL;
    int rc = sqlite3_prepare_v2(db, index__sql_audit_last, -1, &last, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, index__sql_audit_insert, -1, &ins, NULL);
    int ret = rc == SQLITE_OK ? index__audit_append(db, path, last, ins, arg)
                              : index__fail(db, rc, path, "inserting an audit row");
    sqlite3_finalize(last);
    sqlite3_finalize(ins);
    return ret;
}

int index_audit_add_direct(const char *path, const index_audit *a)
{
    index_audit copy = *a; /* the body's argument is not const */
    return index__write_txn(path, INDEX__AUDIT_CHAIN_VERSION, "audit trail", append_direct, &copy);
}

int index_audit_verify(const char *path, index_audit_check *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint8_t expect[32], prev[32], hash[32], calc[32];
    int64_t prev_id = 0;
    vg_sha256 *h = NULL;
    memset(out, 0, sizeof(*out));
    memset(expect, 0, sizeof(expect));
    int ret = index__open_for(path, 0, INDEX__AUDIT_CHAIN_VERSION, "audit chain", &db);
    if (ret < 0) return ret;
    if (!(h = vg_sha256_new())) {
        ret = -ENOMEM;
        goto out;
    }
    /* One statement: one read snapshot of the whole trail. */
    int rc = sqlite3_prepare_v2(db, "SELECT " CHAIN_COLS " FROM audit ORDER BY id", -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
        chain_row r;
        row_from(st, &r);
        out->rows++;
        if (!col_hash(st, 9, hash) || !col_hash(st, 8, prev)) {
            snprintf(out->problem, sizeof(out->problem),
                     "row %lld has no hash: it was not written through the chain",
                     (long long)r.id);
        } else if (memcmp(prev, expect, 32) != 0) {
            if (prev_id)
                snprintf(out->problem, sizeof(out->problem),
                         "row %lld does not follow row %lld: a row between them was removed, "
                         "or row %lld was rewritten",
                         (long long)r.id, (long long)prev_id, (long long)prev_id);
            else
                snprintf(out->problem, sizeof(out->problem),
                         "row %lld is not the start of the chain: rows before it were removed",
                         (long long)r.id);
        } else {
            row_hash(h, prev, &r, calc);
            if (memcmp(calc, hash, 32) != 0)
                snprintf(out->problem, sizeof(out->problem),
                         "row %lld does not match its hash: it was changed after it was written",
                         (long long)r.id);
        }
        if (out->problem[0]) {
            out->broken_id = r.id;
            rc = SQLITE_DONE;
            break;
        }
        memcpy(expect, hash, 32);
        prev_id = r.id;
    }
    if (rc != SQLITE_DONE) {
        ret = index__fail(db, rc, path, "verifying the audit trail");
        goto out;
    }
    if (!out->broken_id) memcpy(out->head, expect, 32);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    vg_sha256_free(&h);
    return ret;
}

int index_audit_list(const char *path, const char *camera, int64_t start_us, int64_t end_us,
                     int64_t limit, index_audit_cb cb, void *arg)
{
    index_audit_filter f = {.camera = camera, .start_us = start_us, .end_us = end_us,
                            .limit = limit};
    return index_audit_query(path, &f, cb, arg);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s && s[0]) sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

int index_audit_query(const char *path, const index_audit_filter *f, index_audit_cb cb, void *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    index_audit a;
    int ret = index__open_for(path, 0, AUDIT_VERSION, "audit trail", &db);
    if (ret < 0) return ret;
    /* Newest last; with a limit, the newest `limit` rows (still oldest first). */
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT * FROM (SELECT id, time_us, token, action, camera, start_us, end_us, detail "
        "FROM audit WHERE time_us >= ?1 AND time_us < ?2 AND (?3 IS NULL OR camera = ?3) "
        "AND (?5 IS NULL OR token = ?5) AND (?6 IS NULL OR action = ?6) AND (?7 IS NULL OR id < ?7) "
        "ORDER BY time_us DESC, id DESC LIMIT ?4) ORDER BY time_us, id",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, "listing the audit trail");
        goto out;
    }
    sqlite3_bind_int64(st, 1, f->start_us);
    sqlite3_bind_int64(st, 2, f->end_us);
    bind_opt_text(st, 3, f->camera);
    sqlite3_bind_int64(st, 4, f->limit > 0 ? f->limit : -1);
    bind_opt_text(st, 5, f->token);
    bind_opt_text(st, 6, f->action);
    if (f->before_id > 0) sqlite3_bind_int64(st, 7, f->before_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&a, 0, sizeof(a));
        a.id = sqlite3_column_int64(st, 0);
        a.time_us = sqlite3_column_int64(st, 1);
        index__col_str(st, 2, a.token, sizeof(a.token));
        index__col_str(st, 3, a.action, sizeof(a.action));
        index__col_str(st, 4, a.camera, sizeof(a.camera));
        a.start_us = sqlite3_column_int64(st, 5); /* NULL reads as 0 */
        a.end_us = sqlite3_column_int64(st, 6);
        index__col_str(st, 7, a.detail, sizeof(a.detail));
        if ((ret = cb(&a, arg)) != 0) goto out;
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "listing the audit trail");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}
