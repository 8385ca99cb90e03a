/*
 * The writer side of the index: one thread owns the only write connection and
 * commits what the rest of the daemon queues, in batches.
 *
 * Callers (the segmenter of every camera, storage, the supervisor) must never
 * wait for the disk, so index_segment_begin() and friends only append an
 * operation to a mutex-protected FIFO and return. The writer thread takes the
 * whole queue when it is 250 ms old, holds 256 operations, or someone waits
 * (index_flush(), index_segments_delete()), applies it in one transaction and
 * commits: with WAL and synchronous=NORMAL a commit is an append to the WAL
 * without fsync, so 800 cameras cost a few commits per second, not hundreds.
 *
 * Repeated progress reports of one segment that are still queued are merged
 * into the first one (last end/size wins, fragments are concatenated in order);
 * this matters when the disk is slow and the queue grows. A segment's fragment
 * table grows raw (one concatenation per progress) and is packed once, in the
 * transaction of its finish (index/frags.c).
 *
 * Waiting callers queue an operation carrying a waiter on their own stack; the
 * writer fills in the result after the commit of the batch that held it and
 * broadcasts done_cv. Because the queue is FIFO, that commit covers everything
 * queued before.
 *
 * A failed statement is logged and skipped (the rest of the batch commits); a
 * failed BEGIN/COMMIT is retried a few times and then the batch is dropped and
 * logged. Either way the failure is reported to the next index_flush() and
 * counted; startup reconciliation in storage/ repairs what the index missed.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_US 250000
#define BATCH_OPS 256
#define COMMIT_ATTEMPTS 3
#define PEND_SLOTS 1024 /* power of two */

const char index__sql_event_insert[] =
    "INSERT INTO events (time_us, camera, type, detail) VALUES (?1, ?2, ?3, ?4)";

typedef enum { OP_BEGIN, OP_PROGRESS, OP_FINISH, OP_EVENT, OP_DELETE, OP_FLUSH, OP_AUDIT,
               OP_EVENTS, OP_FSYNC_FAILED, OP_CLOCK, OP_ACTIVITY, OP_EXPIRE } op_kind;

typedef struct waiter {
    int done;
    int err;
} waiter;

typedef struct op {
    struct op *next;
    op_kind kind;
    waiter *w; /* borrowed from the waiting caller, or NULL */
    int64_t id, end_us, bytes;
    union {
        index_segment seg; /* OP_BEGIN */
        struct {           /* OP_PROGRESS: packed fragments to append */
            uint8_t *frags;
            size_t len, cap;
        } prog;
        struct { /* OP_FINISH */
            int has_sha256;
            uint8_t sha256[32];
        } fin;
        index_event ev; /* OP_EVENT */
        index_audit au; /* OP_AUDIT */
        index__events_batch evs; /* OP_EVENTS (the caller waits) */
        index_clock_run clk; /* OP_CLOCK */
        struct {        /* OP_ACTIVITY */
            uint8_t *values;
            size_t n;
        } act;
        struct {        /* OP_DELETE */
            int64_t *ids;
            size_t n;
            uint8_t *kept; /* borrowed (the caller waits); NULL: delete regardless of locks */
            int64_t now_us;
        } del;
        struct { /* OP_EXPIRE */
            index_event_expiry *x; /* borrowed (the caller waits) */
            int64_t after_time_us, after_id; /* the cursor as called (a retried batch restarts) */
        } exp;
    } u;
} op;

/* Slot of the table of queued progress operations, by segment id. op == NULL
 * means "seen, do not merge" (the segment was finished since). */
typedef struct pend_slot {
    int64_t id; /* 0 = free */
    op *op;
} pend_slot;

struct index_db {
    char *path;
    sqlite3 *db; /* used by the writer thread only (after open) */
    pthread_t thread;
    int thread_started;
    _Atomic int64_t next_id;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* wakes the writer */
    pthread_cond_t done_cv; /* wakes waiters */
    op *head, *tail;
    size_t n;
    int64_t first_us; /* monotonic time the oldest queued op was queued */
    int urgent;       /* someone waits: commit now */
    int stop;
    int busy; /* the writer holds a batch */
    pend_slot pend[PEND_SLOTS];
    size_t npend;
    int64_t last_commit_us, max_commit_us;
    uint64_t failures;
    int last_err;
    _Atomic uint64_t audit_dropped; /* audit rows never stored */

    /* writer thread only */
    int64_t max_segment_us;
    int64_t frags_legacy_below; /* tables of lower ids have the old form (frags.c) */
    sqlite3_stmt *st_insert, *st_progress, *st_append, *st_finish, *st_event, *st_del_seg,
        *st_del_unlocked, *st_del_frag, *st_max, *st_audit, *st_audit_last, *st_post,
        *st_fsync_failed, *st_clock, *st_activity, *st_frags_get, *st_frags_put, *st_exp_scan,
        *st_exp_del;
};

static void op_free(op *o)
{
    if (!o) return;
    if (o->kind == OP_PROGRESS) free(o->u.prog.frags);
    if (o->kind == OP_DELETE) free(o->u.del.ids);
    if (o->kind == OP_ACTIVITY) free(o->u.act.values);
    free(o);
}

/* ---- the queue (callers' side) ---- */

static pend_slot *pend_find(index_db *db, int64_t id, int insert)
{
    size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull >> 54) & (PEND_SLOTS - 1);
    for (size_t k = 0; k < PEND_SLOTS; k++, i = (i + 1) & (PEND_SLOTS - 1)) {
        if (db->pend[i].id == id) return &db->pend[i];
        if (db->pend[i].id == 0) {
            if (!insert || db->npend >= PEND_SLOTS / 2) return NULL;
            db->pend[i].id = id;
            db->pend[i].op = NULL;
            db->npend++;
            return &db->pend[i];
        }
    }
    return NULL;
}

static void pend_clear(index_db *db)
{
    if (db->npend) memset(db->pend, 0, sizeof(db->pend));
    db->npend = 0;
}

/* Appends o; called with mu held. Takes ownership of o. */
static void enqueue_locked(index_db *db, op *o)
{
    o->next = NULL;
    if (db->tail)
        db->tail->next = o;
    else
        db->head = o;
    db->tail = o;
    if (db->n++ == 0) db->first_us = vg_mono_us();
    if (o->w) db->urgent = 1;
    if (db->n == 1 || db->n >= BATCH_OPS || db->urgent) pthread_cond_signal(&db->cv);
}

static void enqueue(index_db *db, op *o)
{
    pthread_mutex_lock(&db->mu);
    enqueue_locked(db, o);
    pthread_mutex_unlock(&db->mu);
}

/* Queues o (which carries w) and waits for the commit of its batch. Returns the
 * result for o, or the error of any batch that failed meanwhile. */
static int enqueue_wait(index_db *db, op *o, waiter *w)
{
    w->done = 0;
    w->err = 0;
    o->w = w;
    pthread_mutex_lock(&db->mu);
    uint64_t failures = db->failures;
    /* Progress queued after a delete must stay after it (not be merged into
     * a report queued before). */
    if (o->kind == OP_DELETE) pend_clear(db);
    enqueue_locked(db, o);
    while (!w->done)
        pthread_cond_wait(&db->done_cv, &db->mu);
    int ret = w->err;
    if (ret == 0 && db->failures != failures) ret = db->last_err;
    pthread_mutex_unlock(&db->mu);
    return ret;
}

static op *op_new(op_kind kind)
{
    op *o = calloc(1, sizeof(*o));
    if (!o) vg_log(LOG_ERR, "index: out of memory queueing an operation");
    if (o) o->kind = kind;
    return o;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

int64_t index_segment_begin(index_db *db, const index_segment *s)
{
    op *o = op_new(OP_BEGIN);
    if (!o) return -ENOMEM;
    o->u.seg = *s;
    int64_t id = atomic_fetch_add(&db->next_id, 1);
    o->id = o->u.seg.id = id;
    o->u.seg.open = 1;
    enqueue(db, o); /* o belongs to the writer now */
    return id;
}

void index_segment_progress(index_db *db, int64_t id, int64_t end_us, int64_t bytes,
                            const index_fragment *frag)
{
    uint8_t packed[INDEX__FRAG_BYTES];
    if (frag) index__pack_fragment(frag, packed);
    pthread_mutex_lock(&db->mu);
    pend_slot *p = pend_find(db, id, 1);
    op *o = p ? p->op : NULL;
    if (!o) {
        o = op_new(OP_PROGRESS);
        if (!o) goto out;
        o->id = id;
        enqueue_locked(db, o);
        if (p) p->op = o;
    }
    o->end_us = end_us;
    o->bytes = bytes;
    if (frag) {
        if (o->u.prog.len + INDEX__FRAG_BYTES > o->u.prog.cap) {
            size_t cap = o->u.prog.cap ? 2 * o->u.prog.cap : 4 * INDEX__FRAG_BYTES;
            uint8_t *n = realloc(o->u.prog.frags, cap);
            if (!n) {
                vg_log(LOG_ERR, "index: out of memory queueing a fragment of segment %lld",
                       (long long)id);
                goto out;
            }
            o->u.prog.frags = n;
            o->u.prog.cap = cap;
        }
        memcpy(o->u.prog.frags + o->u.prog.len, packed, INDEX__FRAG_BYTES);
        o->u.prog.len += INDEX__FRAG_BYTES;
    }
out:
    pthread_mutex_unlock(&db->mu);
}

void index_segment_finish(index_db *db, int64_t id, int64_t end_us, int64_t bytes,
                          const uint8_t sha256[32])
{
    op *o = op_new(OP_FINISH);
    if (!o) return;
    o->id = id;
    o->end_us = end_us;
    o->bytes = bytes;
    if (sha256) {
        o->u.fin.has_sha256 = 1;
        memcpy(o->u.fin.sha256, sha256, 32);
    }
    pthread_mutex_lock(&db->mu);
    pend_slot *p = pend_find(db, id, 0);
    if (p) p->op = NULL; /* later progress must not be merged before the finish */
    enqueue_locked(db, o);
    pthread_mutex_unlock(&db->mu);
}

void index_segment_activity(index_db *db, int64_t id, const uint8_t *values, size_t n)
{
    if (!n || n > INT32_MAX) return;
    op *o = op_new(OP_ACTIVITY);
    if (!o) return;
    o->id = id;
    o->u.act.values = malloc(n);
    if (!o->u.act.values) {
        vg_log(LOG_ERR, "index: out of memory queueing the activity of segment %lld",
               (long long)id);
        op_free(o);
        return;
    }
    memcpy(o->u.act.values, values, n);
    o->u.act.n = n;
    enqueue(db, o);
}

void index_event_add(index_db *db, int64_t time_us, const char *camera, const char *type,
                     const char *detail)
{
    op *o = op_new(OP_EVENT);
    if (!o) return;
    o->u.ev.time_us = time_us;
    copy_str(o->u.ev.camera, sizeof(o->u.ev.camera), camera);
    copy_str(o->u.ev.type, sizeof(o->u.ev.type), type);
    copy_str(o->u.ev.detail, sizeof(o->u.ev.detail), detail);
    enqueue(db, o);
}

void index_segment_fsync_failed(index_db *db, int64_t id)
{
    op *o = op_new(OP_FSYNC_FAILED);
    if (!o) return;
    o->id = id;
    enqueue(db, o);
}

void index_clock_run_update(index_db *db, const index_clock_run *c)
{
    op *o = op_new(OP_CLOCK);
    if (!o) return;
    o->u.clk = *c;
    enqueue(db, o);
}

void index_audit_add(index_db *db, const index_audit *a)
{
    op *o = op_new(OP_AUDIT);
    if (!o) {
        atomic_fetch_add(&db->audit_dropped, 1);
        return;
    }
    o->u.au = *a;
    enqueue(db, o);
}

int index_events_post(index_db *db, const index_event_in *ev, size_t n, uint8_t *dup,
                      int64_t *ids)
{
    waiter w;
    index__events_batch b = {.ev = ev, .n = n, .dup = dup, .ids = ids};
    int ret = index__events_check(&b);
    if (ret < 0 || n == 0) return ret;
    op *o = op_new(OP_EVENTS);
    if (!o) return -ENOMEM;
    o->u.evs = b;
    return enqueue_wait(db, o, &w);
}

uint64_t index_audit_dropped(index_db *db)
{
    return atomic_load(&db->audit_dropped);
}

int index_flush(index_db *db)
{
    waiter w;
    op *o = op_new(OP_FLUSH);
    if (!o) return -ENOMEM;
    return enqueue_wait(db, o, &w);
}

static int segments_delete(index_db *db, const int64_t *ids, size_t n, int64_t now_us,
                           uint8_t *kept)
{
    waiter w;
    if (n == 0) return 0;
    op *o = op_new(OP_DELETE);
    if (!o) return -ENOMEM;
    o->u.del.ids = malloc(n * sizeof(*ids));
    if (!o->u.del.ids) {
        op_free(o);
        return -ENOMEM;
    }
    memcpy(o->u.del.ids, ids, n * sizeof(*ids));
    o->u.del.n = n;
    o->u.del.kept = kept;
    o->u.del.now_us = now_us;
    return enqueue_wait(db, o, &w);
}

int index_segments_delete(index_db *db, const int64_t *ids, size_t n)
{
    return segments_delete(db, ids, n, 0, NULL);
}

int index_segments_delete_unlocked(index_db *db, const int64_t *ids, size_t n, int64_t now_us,
                                   uint8_t *kept)
{
    memset(kept, 0, n);
    return segments_delete(db, ids, n, now_us, kept);
}

int index_events_expire(index_db *db, index_event_expiry *x)
{
    waiter w;
    x->scanned = x->deleted = x->kept = 0;
    if (x->limit <= 0) return -EINVAL;
    op *o = op_new(OP_EXPIRE);
    if (!o) return -ENOMEM;
    o->u.exp.x = x;
    o->u.exp.after_time_us = x->after_time_us;
    o->u.exp.after_id = x->after_id;
    return enqueue_wait(db, o, &w);
}

void index_writer_stats(index_db *db, size_t *queue_depth, int64_t *last_commit_us)
{
    pthread_mutex_lock(&db->mu);
    if (queue_depth) *queue_depth = db->n;
    if (last_commit_us) *last_commit_us = db->last_commit_us;
    pthread_mutex_unlock(&db->mu);
}

int64_t index_writer_max_commit_us(index_db *db)
{
    pthread_mutex_lock(&db->mu);
    int64_t v = db->max_commit_us;
    pthread_mutex_unlock(&db->mu);
    return v;
}

uint64_t index_writer_failures(index_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t n = db->failures;
    pthread_mutex_unlock(&db->mu);
    return n;
}

/* ---- the writer thread ---- */

/* Steps st to the end and readies it for its next use. With col0 (for an
 * UPDATE ... RETURNING), each row's first column is stored there and *found
 * tells whether there was a row. */
static int step_rows(index_db *db, sqlite3_stmt *st, int64_t *col0, int *found, const char *what)
{
    int rc;
    if (found) *found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (col0) *col0 = sqlite3_column_int64(st, 0);
        if (found) *found = 1;
    }
    int ret = rc == SQLITE_DONE ? 0 : index__fail(db->db, rc, db->path, what);
    index__stmt_done(st);
    return ret;
}

static int step_done(index_db *db, sqlite3_stmt *st, const char *what)
{
    return step_rows(db, st, NULL, NULL, what);
}

/* Raises meta.max_segment_us (in the current transaction) if dur exceeds it. */
static int bump_max(index_db *db, int64_t dur)
{
    if (dur <= db->max_segment_us) return 0;
    sqlite3_bind_int64(db->st_max, 1, dur);
    int ret = step_done(db, db->st_max, "updating max_segment_us");
    if (ret == 0) db->max_segment_us = dur;
    return ret;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Rewrites a finished segment's fragment table in the packed form, in the
 * transaction of its finish. A table that is already packed, or has no row,
 * is left alone; one that cannot be decoded is logged and left raw (the
 * reader rejects it as before). Tables from before the v11 migration stay as
 * they are. */
static int pack_fragments(index_db *db, int64_t id)
{
    index_fragment *f = NULL;
    uint8_t *packed = NULL;
    size_t n = 0, len = 0;
    int ret = 0, rc, dec = -ENOENT;
    if (id < db->frags_legacy_below) return 0; /* readers take it as the old form */
    sqlite3_bind_int64(db->st_frags_get, 1, id);
    rc = sqlite3_step(db->st_frags_get);
    if (rc == SQLITE_ROW) {
        const uint8_t *blob = sqlite3_column_blob(db->st_frags_get, 0);
        size_t blen = (size_t)sqlite3_column_bytes(db->st_frags_get, 0);
        if (blen && blob[0] == INDEX__FRAGS_RAW) dec = index__frags_decode(blob, blen, &f, &n);
        if (dec == -EBADMSG)
            vg_log(LOG_WARNING, "index: %s: fragment table of segment %lld is malformed (%zu "
                   "bytes), left as it is", db->path, (long long)id, blen);
    } else if (rc != SQLITE_DONE) {
        ret = index__fail(db->db, rc, db->path, "reading a fragment table to pack");
    }
    index__stmt_done(db->st_frags_get);
    if (ret < 0 || dec < 0) goto out; /* nothing to pack (or out of memory: stays raw) */
    n = index__frags_group(f, n);
    if ((ret = index__frags_encode(f, n, &packed, &len)) < 0) goto out;
    sqlite3_bind_int64(db->st_frags_put, 1, id);
    sqlite3_bind_blob(db->st_frags_put, 2, packed, (int)len, SQLITE_STATIC);
    ret = step_done(db, db->st_frags_put, "storing a packed fragment table");
out:
    if (ret == -ENOMEM) ret = 0; /* the raw table is still right */
    free(packed);
    free(f);
    return ret;
}

/* One call of index_events_expire(): the rows are read first and deleted
 * after (no delete under a running scan of the same table). */
static int expire_events(index_db *db, op *o)
{
    index_event_expiry *x = o->u.exp.x;
    sqlite3_stmt *st = db->st_exp_scan;
    int64_t *ids = malloc((size_t)x->limit * sizeof(*ids));
    int rc, ret = 0;
    size_t n = 0;
    x->scanned = x->deleted = x->kept = 0;
    x->after_time_us = o->u.exp.after_time_us;
    x->after_id = o->u.exp.after_id;
    if (!ids) return -ENOMEM;
    sqlite3_bind_int64(st, 1, x->before_us);
    sqlite3_bind_int64(st, 2, x->now_us);
    sqlite3_bind_int64(st, 3, x->after_time_us);
    sqlite3_bind_int64(st, 4, x->after_id);
    sqlite3_bind_int(st, 5, x->limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        x->scanned++;
        x->after_id = sqlite3_column_int64(st, 0);
        x->after_time_us = sqlite3_column_int64(st, 1);
        if (sqlite3_column_int(st, 2))
            x->kept++;
        else
            ids[n++] = x->after_id;
    }
    if (rc != SQLITE_DONE) ret = index__fail(db->db, rc, db->path, "reading expired events");
    sqlite3_reset(st);
    for (size_t i = 0; i < n && ret == 0; i++) {
        sqlite3_bind_int64(db->st_exp_del, 1, ids[i]);
        ret = step_done(db, db->st_exp_del, "deleting an expired event");
        if (ret == 0) x->deleted++;
    }
    free(ids);
    return ret;
}

static int apply_op(index_db *db, op *o)
{
    int ret = 0, found = 0;
    int64_t start_us = 0;
    switch (o->kind) {
    case OP_BEGIN: {
        const index_segment *s = &o->u.seg;
        sqlite3_stmt *st = db->st_insert;
        sqlite3_bind_int64(st, 1, s->id);
        bind_text(st, 2, s->camera);
        sqlite3_bind_int64(st, 3, s->start_us);
        sqlite3_bind_int64(st, 4, s->end_us);
        sqlite3_bind_int64(st, 5, s->run_start_us);
        bind_text(st, 6, s->pool);
        bind_text(st, 7, index__segment_path_stored(s->camera, s->start_us, s->path));
        sqlite3_bind_int64(st, 8, s->bytes);
        bind_text(st, 9, s->codec);
        bind_text(st, 10, s->audio_codec);
        sqlite3_bind_int(st, 11, s->width);
        sqlite3_bind_int(st, 12, s->height);
        ret = step_done(db, st, "inserting a segment");
        if (ret == 0) ret = bump_max(db, s->end_us - s->start_us);
        break;
    }
    case OP_PROGRESS:
    case OP_FINISH: {
        sqlite3_stmt *st = o->kind == OP_PROGRESS ? db->st_progress : db->st_finish;
        sqlite3_bind_int64(st, 1, o->id);
        sqlite3_bind_int64(st, 2, o->end_us);
        sqlite3_bind_int64(st, 3, o->bytes);
        if (o->kind == OP_FINISH && o->u.fin.has_sha256)
            sqlite3_bind_blob(st, 4, o->u.fin.sha256, 32, SQLITE_STATIC);
        ret = step_rows(db, st, &start_us, &found, "updating a segment"); /* RETURNING start_us */
        if (ret < 0) break;
        if (!found) {
            vg_log(LOG_WARNING, "index: %s: %s of unknown segment %lld ignored", db->path,
                   o->kind == OP_PROGRESS ? "progress" : "finish", (long long)o->id);
            break;
        }
        ret = bump_max(db, o->end_us - start_us);
        if (ret == 0 && o->kind == OP_FINISH) ret = pack_fragments(db, o->id);
        if (ret == 0 && o->kind == OP_PROGRESS && o->u.prog.len) {
            sqlite3_bind_int64(db->st_append, 1, o->id);
            sqlite3_bind_blob(db->st_append, 2, o->u.prog.frags, (int)o->u.prog.len, SQLITE_STATIC);
            sqlite3_bind_int64(db->st_append, 3, db->frags_legacy_below);
            ret = step_done(db, db->st_append, "appending fragments");
        }
        break;
    }
    case OP_EVENT:
        sqlite3_bind_int64(db->st_event, 1, o->u.ev.time_us);
        bind_text(db->st_event, 2, o->u.ev.camera);
        bind_text(db->st_event, 3, o->u.ev.type);
        bind_text(db->st_event, 4, o->u.ev.detail);
        ret = step_done(db, db->st_event, "inserting an event");
        break;
    case OP_DELETE:
        for (size_t i = 0; i < o->u.del.n && ret == 0; i++) {
            sqlite3_stmt *st = o->u.del.kept ? db->st_del_unlocked : db->st_del_seg;
            sqlite3_bind_int64(st, 1, o->u.del.ids[i]);
            if (o->u.del.kept) sqlite3_bind_int64(st, 2, o->u.del.now_us);
            ret = step_done(db, st, "deleting a segment");
            if (ret < 0) break;
            if (o->u.del.kept && sqlite3_changes(db->db) == 0) {
                o->u.del.kept[i] = 1; /* a lock covers it now (or it is gone) */
                continue;
            }
            sqlite3_bind_int64(db->st_del_frag, 1, o->u.del.ids[i]);
            ret = step_done(db, db->st_del_frag, "deleting a fragment table");
        }
        break;
    case OP_AUDIT:
        ret = index__audit_append(db->db, db->path, db->st_audit_last, db->st_audit, &o->u.au);
        break;
    case OP_EVENTS:
        ret = index__events_apply(db->db, db->path, db->st_post, &o->u.evs);
        break;
    case OP_FSYNC_FAILED:
        sqlite3_bind_int64(db->st_fsync_failed, 1, o->id);
        ret = step_done(db, db->st_fsync_failed, "marking a segment's fsync failure");
        break;
    case OP_CLOCK:
        index__clock_bind(db->st_clock, &o->u.clk);
        ret = step_done(db, db->st_clock, "storing a run's clock figures");
        break;
    case OP_ACTIVITY:
        sqlite3_bind_int64(db->st_activity, 1, o->id);
        sqlite3_bind_blob(db->st_activity, 2, o->u.act.values, (int)o->u.act.n, SQLITE_STATIC);
        ret = step_done(db, db->st_activity, "storing a segment's activity");
        break;
    case OP_EXPIRE:
        ret = expire_events(db, o);
        break;
    case OP_FLUSH:
        break;
    }
    return ret;
}

/* Applies and commits a batch, retrying a failed transaction. Per-operation
 * errors go to the operation's waiter and *op_err. Returns the transaction's
 * error (the batch was dropped) or 0. */
static int apply_batch(index_db *db, op *batch, size_t n, int *op_err, int64_t *commit_us)
{
    int64_t saved_max = db->max_segment_us;
    int err = 0;
    for (int attempt = 1;; attempt++) {
        int64_t t0 = vg_mono_us();
        uint64_t audit_skipped = 0; /* audit rows whose insert failed (lost) */
        *op_err = 0;
        err = index__exec(db->db, db->path, "BEGIN IMMEDIATE", NULL);
        for (op *o = batch; o && err == 0; o = o->next) {
            if (o->w) o->w->err = 0;
            int r = apply_op(db, o);
            if (r == 0) continue;
            if (sqlite3_get_autocommit(db->db)) {
                err = r; /* SQLite rolled the whole transaction back */
                break;
            }
            *op_err = r;
            if (o->w) o->w->err = r;
            audit_skipped += o->kind == OP_AUDIT;
        }
        if (err == 0) err = index__exec(db->db, db->path, "COMMIT", NULL);
        if (err == 0) {
            atomic_fetch_add(&db->audit_dropped, audit_skipped);
            *commit_us = vg_mono_us() - t0;
            return 0;
        }
        if (!sqlite3_get_autocommit(db->db)) sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
        db->max_segment_us = saved_max;
        if (attempt >= COMMIT_ATTEMPTS) {
            uint64_t audit = 0; /* the whole batch is lost, its audit rows with it */
            for (op *o = batch; o; o = o->next) audit += o->kind == OP_AUDIT;
            atomic_fetch_add(&db->audit_dropped, audit);
            vg_log(LOG_ERR,
                   "index: %s: dropping a batch of %zu operations after %d failed "
                   "attempts",
                   db->path, n, attempt);
            return err;
        }
        usleep(100000 * attempt);
    }
}

static void *writer_main(void *arg)
{
    index_db *db = arg;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        while (!db->head && !db->stop)
            pthread_cond_wait(&db->cv, &db->mu);
        if (!db->head) break; /* stopping, and everything is committed */
        while (!db->stop && !db->urgent && db->n < BATCH_OPS) {
            int64_t deadline = db->first_us + BATCH_US;
            if (vg_mono_us() >= deadline) break;
            struct timespec ts = {.tv_sec = deadline / 1000000,
                                  .tv_nsec = (long)(deadline % 1000000) * 1000};
            pthread_cond_timedwait(&db->cv, &db->mu, &ts);
        }
        op *batch = db->head;
        size_t n = db->n;
        db->head = db->tail = NULL;
        db->n = 0;
        db->urgent = 0;
        pend_clear(db);
        pthread_mutex_unlock(&db->mu);

        int op_err = 0;
        int64_t commit_us = 0;
        int err = apply_batch(db, batch, n, &op_err, &commit_us);

        pthread_mutex_lock(&db->mu);
        if (err == 0) db->last_commit_us = commit_us;
        if (err == 0 && commit_us > db->max_commit_us) db->max_commit_us = commit_us;
        if (err < 0 || op_err < 0) {
            db->failures++;
            db->last_err = err < 0 ? err : op_err;
        }
        for (op *o = batch; o; o = o->next) {
            if (!o->w) continue;
            if (err < 0) o->w->err = err;
            o->w->done = 1; /* the waiter may return at once: forget it */
            o->w = NULL;
        }
        pthread_cond_broadcast(&db->done_cv);
        pthread_mutex_unlock(&db->mu);
        while (batch) {
            op *next = batch->next;
            op_free(batch);
            batch = next;
        }
        pthread_mutex_lock(&db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

/* ---- open / close ---- */

static int prepare(index_db *db, sqlite3_stmt **st, const char *sql)
{
    int rc = sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? 0 : index__fail(db->db, rc, db->path, sql);
}

static int query_int64(index_db *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int ret = prepare(db, &st, sql);
    if (ret < 0) return ret;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        ret = index__fail(db->db, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, db->path, sql);
    sqlite3_finalize(st);
    return ret;
}

int index_open(const char *path, index_db **out)
{
    int ret = 0;
    index_db *db = NULL;
    pthread_condattr_t ca;
    *out = NULL;

    db = calloc(1, sizeof(*db));
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return -ENOMEM;
    }
    pthread_mutex_init(&db->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* vg_mono_us() deadlines */
    pthread_cond_init(&db->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&db->done_cv, NULL);

    /* One connection, used by this thread until the writer starts, then by the
     * writer only: no SQLite mutex needed. */
    int rc = sqlite3_open_v2(
        path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ret = index__fail(db->db, rc, path, "opening");
        goto out;
    }
    sqlite3_extended_result_codes(db->db, 1);
    sqlite3_busy_timeout(db->db, INDEX__BUSY_MS);
    int64_t ignored;
    /* The first read of the file: a file that is not a database fails here. */
    if ((ret = query_int64(db, "PRAGMA user_version", &ignored)) < 0) goto out;
    if ((ret = index__exec(db->db, db->path, "PRAGMA journal_mode = WAL", NULL)) < 0) goto out;
    if ((ret = index__exec(db->db, db->path, "PRAGMA synchronous = NORMAL", NULL)) < 0) goto out;
    if ((ret = index__migrate(db->db, path)) < 0) goto out;

    int64_t next_id = 1;
    /* Past any fragment table too: a table left without its row must never
     * become a new segment's (and v11's mark of the old form counts both). */
    if ((ret = query_int64(db,
                           "SELECT max(coalesce((SELECT max(id) FROM segments), 0), "
                           "coalesce((SELECT max(segment_id) FROM segment_fragments), 0)) + 1",
                           &next_id)) < 0)
        goto out;
    atomic_store(&db->next_id, next_id);
    if ((ret = query_int64(db, "SELECT value FROM meta WHERE key = 'max_segment_us'",
                           &db->max_segment_us)) < 0)
        goto out;
    if ((ret = query_int64(db, "SELECT " INDEX__FRAGS_LEGACY_SQL, &db->frags_legacy_below)) < 0)
        goto out;

    if ((ret = prepare(db, &db->st_insert,
                       "INSERT INTO segments (id, camera, start_us, end_us, run_start_us, pool, "
                       "path, bytes, open, codec, audio_codec, width, height) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12)")) < 0 ||
        (ret = prepare(db, &db->st_progress,
                       "UPDATE segments SET end_us = ?2, bytes = ?3 WHERE id = ?1 "
                       "RETURNING start_us")) < 0 ||
        (ret = prepare(db, &db->st_finish,
                       "UPDATE segments SET end_us = ?2, bytes = ?3, sha256 = ?4, open = 0 "
                       "WHERE id = ?1 RETURNING start_us")) < 0 ||
        /* The raw form (a form byte, then records) grows by concatenation;
         * a table packed at the finish is never appended to. A segment from
         * before the v11 migration (?3: frags_legacy_below) that is still
         * open keeps the old form, without the form byte. */
        (ret = prepare(db, &db->st_append,
                       "INSERT INTO segment_fragments (segment_id, frags) "
                       "VALUES (?1, CASE WHEN ?1 < ?3 THEN ?2 ELSE CAST(X'00' || ?2 AS BLOB) END) "
                       "ON CONFLICT (segment_id) DO UPDATE "
                       "SET frags = CAST(frags || ?2 AS BLOB) "
                       "WHERE ?1 < ?3 OR substr(frags, 1, 1) = X'00'")) < 0 ||
        (ret = prepare(db, &db->st_frags_get,
                       "SELECT frags FROM segment_fragments WHERE segment_id = ?1")) < 0 ||
        (ret = prepare(db, &db->st_frags_put,
                       "UPDATE segment_fragments SET frags = ?2 WHERE segment_id = ?1")) < 0 ||
        (ret = prepare(db, &db->st_event,
                       index__sql_event_insert)) < 0 ||
        (ret = prepare(db, &db->st_del_seg, "DELETE FROM segments WHERE id = ?1")) < 0 ||
        /* Retention's delete: the locks are checked in the same transaction
         * as the delete, so a lock created after retention chose its victims
         * still keeps them (index_lock_covers() in SQL). */
        (ret = prepare(db, &db->st_del_unlocked,
                       "DELETE FROM segments WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM locks l "
                       "WHERE l.camera = segments.camera AND (l.released_us IS NULL OR "
                       "l.released_us = 0) AND (l.until_us IS NULL OR l.until_us = 0 OR "
                       "l.until_us > ?2) AND l.start_us < segments.end_us AND "
                       "l.end_us > segments.start_us)")) < 0 ||
        (ret = prepare(db, &db->st_del_frag,
                       "DELETE FROM segment_fragments WHERE segment_id = ?1")) < 0 ||
        (ret = prepare(db, &db->st_max,
                       "UPDATE meta SET value = ?1 WHERE key = 'max_segment_us'")) < 0 ||
        (ret = prepare(db, &db->st_audit, index__sql_audit_insert)) < 0 ||
        (ret = prepare(db, &db->st_audit_last, index__sql_audit_last)) < 0 ||
        (ret = prepare(db, &db->st_post, index__sql_event_post)) < 0 ||
        (ret = prepare(db, &db->st_fsync_failed,
                       "UPDATE segments SET fsync_failed = 1 WHERE id = ?1")) < 0 ||
        (ret = prepare(db, &db->st_clock, index__sql_clock_upsert)) < 0 ||
        (ret = prepare(db, &db->st_activity,
                       "UPDATE segments SET activity = ?2 WHERE id = ?1")) < 0 ||
        /* Event retention: the lock test is st_del_unlocked's, over the
         * event's span, and any camera's lock for an event without one. */
        (ret = prepare(db, &db->st_exp_scan,
                       "SELECT e.id, e.time_us, EXISTS (SELECT 1 FROM locks l "
                       "WHERE (l.camera = e.camera OR e.camera = '') AND (l.released_us IS NULL "
                       "OR l.released_us = 0) AND (l.until_us IS NULL OR l.until_us = 0 OR "
                       "l.until_us > ?2) AND l.start_us <= max(e.time_us, "
                       "coalesce(e.end_us, e.time_us)) AND l.end_us > e.time_us) "
                       "FROM events e INDEXED BY events_time WHERE e.time_us < ?1 AND e.time_us >= ?3 "
                       "AND (e.time_us > ?3 OR (e.time_us = ?3 AND e.id > ?4)) "
                       "ORDER BY e.time_us, e.id LIMIT ?5")) < 0 ||
        (ret = prepare(db, &db->st_exp_del, "DELETE FROM events WHERE id = ?1")) < 0)
        goto out;

    rc = pthread_create(&db->thread, NULL, writer_main, db);
    if (rc != 0) {
        vg_log(LOG_ERR, "index: %s: cannot start the writer thread: %s", path, strerror(rc));
        ret = -rc;
        goto out;
    }
    db->thread_started = 1;
    *out = db;
    db = NULL;
out:
    index_close(&db);
    return ret;
}

void index_close(index_db **pdb)
{
    index_db *db = pdb ? *pdb : NULL;
    if (!db) return;
    if (db->thread_started) {
        pthread_mutex_lock(&db->mu);
        db->stop = 1;
        pthread_cond_signal(&db->cv);
        pthread_mutex_unlock(&db->mu);
        pthread_join(db->thread, NULL);
    }
    assert(!db->head);
    sqlite3_finalize(db->st_insert);
    sqlite3_finalize(db->st_progress);
    sqlite3_finalize(db->st_finish);
    sqlite3_finalize(db->st_append);
    sqlite3_finalize(db->st_event);
    sqlite3_finalize(db->st_del_seg);
    sqlite3_finalize(db->st_del_unlocked);
    sqlite3_finalize(db->st_del_frag);
    sqlite3_finalize(db->st_max);
    sqlite3_finalize(db->st_audit);
    sqlite3_finalize(db->st_audit_last);
    sqlite3_finalize(db->st_post);
    sqlite3_finalize(db->st_fsync_failed);
    sqlite3_finalize(db->st_clock);
    sqlite3_finalize(db->st_activity);
    sqlite3_finalize(db->st_frags_get);
    sqlite3_finalize(db->st_frags_put);
    sqlite3_finalize(db->st_exp_scan);
    sqlite3_finalize(db->st_exp_del);
    if (db->db) {
        int rc = sqlite3_close(db->db);
        if (rc != SQLITE_OK) index__fail(db->db, rc, db->path, "closing");
    }
    pthread_cond_destroy(&db->done_cv);
    pthread_cond_destroy(&db->cv);
    pthread_mutex_destroy(&db->mu);
    free(db->path);
    free(db);
    *pdb = NULL;
}
