/*
 * Events from other systems and the search over every event.
 *
 * Posted events go through the writer thread like the daemon's own (one
 * writer, no second connection fighting it for the write lock, and a burst
 * of posts shares the writer's commits). A post is one operation of the
 * writer's batch applied under a savepoint, so a post of many events is
 * stored whole or not at all while the rest of the batch (segments of every
 * camera) commits regardless. The unique index on source_id makes a repeated
 * post a no-op the caller is told about (INSERT ... ON CONFLICT DO NOTHING
 * RETURNING id: no row means a duplicate).
 *
 * The full-text index is kept by triggers (schema.c), so this file never
 * writes it. A search is one statement assembled from fixed fragments (every
 * value bound, never spliced into SQL): the time range always, then each
 * filter that was asked for. The words of q are quoted one by one for FTS5
 * (so punctuation in a plate number, "98A-123.45", is a phrase of its
 * tokens rather than a syntax error) and folded like the indexed text.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char index__sql_event_post[] =
    "INSERT INTO events (time_us, end_us, camera, district, site, type, detail, text, "
    "attributes, source_id, posted_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7, ?8, ?9, ?10) "
    "ON CONFLICT (source_id) WHERE source_id IS NOT NULL DO NOTHING RETURNING id";

static bool empty(const char *s)
{
    return !s || !s[0];
}

int index__events_check(const index__events_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const index_event_in *e = &b->ev[i];
        if (empty(e->type) || e->time_us == 0 ||
            (empty(e->camera) && empty(e->district) && empty(e->site)) ||
            (e->end_us != 0 && e->end_us < e->time_us)) {
            vg_log(LOG_DEBUG, "index: posted event %zu is incomplete", i);
            return -EINVAL;
        }
    }
    return 0;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int index__events_apply(sqlite3 *db, const char *path, sqlite3_stmt *st,
                        const index__events_batch *b)
{
    int ret = index__exec(db, path, "SAVEPOINT events_post", NULL);
    if (ret < 0) return ret;
    for (size_t i = 0; i < b->n; i++) {
        const index_event_in *e = &b->ev[i];
        sqlite3_bind_int64(st, 1, e->time_us);
        if (e->end_us)
            sqlite3_bind_int64(st, 2, e->end_us);
        else
            sqlite3_bind_null(st, 2);
        sqlite3_bind_text(st, 3, e->camera ? e->camera : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, e->district ? e->district : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, e->site ? e->site : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, e->type, -1, SQLITE_STATIC);
        bind_opt(st, 7, e->text);
        bind_opt(st, 8, e->attributes);
        bind_opt(st, 9, empty(e->source_id) ? NULL : e->source_id);
        bind_opt(st, 10, e->posted_by);
        int64_t id = 0;
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "inserting a posted event");
        index__stmt_done(st);
        if (ret < 0) break;
        if (b->dup) b->dup[i] = id == 0;
        if (b->ids) b->ids[i] = id;
    }
    /* SQLite may have rolled the whole transaction back by itself (a full
     * disk); then there is no savepoint left to undo. */
    if (sqlite3_get_autocommit(db)) return ret;
    if (ret < 0) sqlite3_exec(db, "ROLLBACK TO events_post", NULL, NULL, NULL);
    int r = index__exec(db, path, "RELEASE events_post", NULL);
    return ret < 0 ? ret : r;
}

/* ---- search ---- */

/* Whether a word has anything the tokenizer keeps (a letter or digit; every
 * non-ASCII character counts as one, as unicode61 mostly does). */
static bool has_token(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
            return true;
    }
    return false;
}

/* The FTS5 query for the words of q: each word a quoted string ('"'
 * doubled), a trailing '*' kept as a prefix search, all of them required.
 * *out malloc'd. 0, -EINVAL (no word), -ENOMEM. */
static int fts_query(const char *q, char **out)
{
    size_t len = strlen(q);
    char *buf = malloc(3 * len + 8), *p = buf;
    int words = 0;
    *out = NULL;
    if (!buf) return -ENOMEM;
    for (const char *s = q; *s;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        const char *w = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            s++;
        size_t n = (size_t)(s - w);
        bool prefix = false;
        while (n && w[n - 1] == '*') {
            prefix = true;
            n--;
        }
        if (!has_token(w, n)) continue;
        if (words++) *p++ = ' ';
        *p++ = '"';
        for (size_t i = 0; i < n; i++) {
            if (w[i] == '"') *p++ = '"';
            *p++ = w[i];
        }
        *p++ = '"';
        if (prefix) *p++ = '*';
    }
    *p = 0;
    if (!words) {
        free(buf);
        return -EINVAL;
    }
    *out = buf;
    return 0;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

int index_events_search(index_reader *r, const index_event_query *q, index_event_row_cb cb,
                        void *arg)
{
    char sql[1024];
    char *match = NULL;
    sqlite3 *db = index__reader_db(r);
    const char *path = index__reader_path(r);
    int ret = 0, rc;
    bool area = q->district || q->site || q->area_cameras;

    if (q->q && (ret = fts_query(q->q, &match)) < 0) return ret;
    /* Sixteen shapes of statement, each prepared once per reader and kept:
     * parsing and planning it cost more than running it on a day's rows. */
    unsigned shape = (q->camera ? 1U : 0) | (q->type ? 2U : 0) | (area ? 4U : 0) |
                     (match ? 8U : 0);
    sqlite3_stmt **slot = index__reader_slot(r, shape), *st = *slot;
    if (st) goto bind;
    snprintf(sql, sizeof(sql),
             "SELECT id, time_us, end_us, camera, district, site, type, detail, text, "
             "attributes, source_id, posted_by FROM events "
             "WHERE time_us >= ?1 AND time_us < ?2%s%s%s%s ORDER BY time_us, id LIMIT ?9",
             q->camera ? " AND camera = ?3" : "", q->type ? " AND type = ?4" : "",
             area ? " AND (((?5 IS NOT NULL OR ?6 IS NOT NULL) AND (?5 IS NULL OR district = ?5)"
                    " AND (?6 IS NULL OR site = ?6))"
                    " OR camera IN (SELECT value FROM json_each(coalesce(?7, '[]'))))"
                  : "",
             match ? " AND id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH " INDEX__FOLD_SQL(
                         "?8") ")"
                   : "");
    rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db, rc, path, "preparing an event search");
        free(match);
        return ret;
    }
    st = *slot;
bind:
    sqlite3_bind_int64(st, 1, q->start_us);
    sqlite3_bind_int64(st, 2, q->end_us);
    bind_opt(st, 3, q->camera);
    bind_opt(st, 4, q->type);
    bind_opt(st, 5, q->district);
    bind_opt(st, 6, q->site);
    bind_opt(st, 7, q->area_cameras);
    bind_opt(st, 8, match);
    sqlite3_bind_int64(st, 9, q->limit > 0 ? q->limit : 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        index_event_row e = {
            .id = sqlite3_column_int64(st, 0),
            .time_us = sqlite3_column_int64(st, 1),
            .end_us = sqlite3_column_int64(st, 2),
            .camera = col(st, 3),
            .district = col(st, 4),
            .site = col(st, 5),
            .type = col(st, 6),
            .detail = col(st, 7),
            .text = col(st, 8),
            .attributes = col(st, 9),
            .source_id = col(st, 10),
            .posted_by = col(st, 11),
        };
        if ((ret = cb(&e, arg)) != 0) goto out;
    }
    if (rc != SQLITE_DONE) ret = index__fail(db, rc, path, "searching events");
out:
    index__stmt_done(st); /* match is bound SQLITE_STATIC: unbound before it is freed */
    free(match);
    return ret;
}
