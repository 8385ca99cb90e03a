/*
 * Startup reconciliation: make the index and the pools agree again after a
 * crash, before anything records.
 *
 * A segment row is queued before its first byte is written and every whole
 * fragment is one write, so after kill -9 (or power loss) three things can be
 * out of step, and each is repaired here:
 *   - an open row: the file ends with some whole fragments and maybe part of
 *     one. It is cut back (ftruncate) to the end of its last whole moof+mdat,
 *     fsynced, re-hashed by reading it (recovery may re-read), and closed with
 *     the end time of its last fragment: from the index's fragment table, or,
 *     for fragments written after the last index commit, the previous end plus
 *     the fragment's sample durations. A file with no whole fragment is
 *     removed with its row (it holds nothing playable). Event segment_recovered.
 *   - a row whose file is gone (open rows, and closed rows in the hour
 *     directories walked below): the row is deleted. Event segment_missing.
 *   - a file no row names (the begin was queued but never committed): it is
 *     scanned, cut back like an open one and indexed with its start from its
 *     name (event segment_indexed), or moved to <pool>/quarantine/ when it is
 *     not an fMP4 we can read (event segment_quarantined).
 * The walk compares each <pool>/<camera>/YYYY/MM/DD/HH directory with the rows
 * of that camera starting in that hour: one query per hour directory.
 * If the index lists fragments past the file's end (the file lost data the
 * index kept: power loss), the row is replaced by a fresh one built from the
 * file, so no fragment table ever points past a file's end.
 *
 * What is walked. A province's pools hold ~576 000 hour directories (800
 * cameras x 30 days), far too many to walk before systemd's start timeout, and
 * almost all of them cannot hold anything the index does not know:
 *   - After a clean stop nothing can: every segment was closed and its row
 *     committed. storage_mark_clean() then leaves a random token both in the
 *     index (meta 'clean_token', written durably) and in each pool
 *     (.vigil-clean); a pool whose token matches the index's is not walked at
 *     all. The tokens are taken (deleted) at the next start, before anything
 *     records, so a crash later in that run is never mistaken for a clean stop;
 *     and an index restored from a backup, or another machine's, carries
 *     another token, so its pools are walked.
 *   - After a crash, a file no row names is one whose begin was queued but not
 *     committed: it was created after the last commit. The index keeps a
 *     checkpoint (meta 'reconciled_before_us'): every file starting before it
 *     is indexed. It is set when reconciliation ends and moved forward every
 *     few minutes while vigild runs (storage_checkpoint(): the index is
 *     flushed, so every file made before the flush has its row), less
 *     RECONCILE_MARGIN_US for the seconds between a frame's time and its
 *     file's creation and a small step of the wall clock. After a crash every
 *     camera directory is walked from the checkpoint's hour on: two or three
 *     hour directories per camera. A batch the writer had to drop freezes the
 *     checkpoint for the rest of the run (and a clean stop is then not
 *     recorded), so the dropped rows' files are walked at the next start.
 *     An index without a checkpoint (from an older vigild) is bounded by each
 *     camera's latest row (the writer commits in queue order), or for a camera
 *     without one the latest row of any pool. Open rows are always recovered
 *     (one indexed query).
 * What a bounded walk does not see: a file deleted or copied by hand in an
 * older hour, or a retention delete cut between its row and its unlink by a
 * crash (the file stays, unindexed). opts.full walks everything (vigild
 * --rebuild-index).
 */
#include "storage/storage.h"

#include "common/common.h"
#include "media/media.h"

#include <dirent.h>
#include <sys/random.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HOUR_US (INT64_C(3600) * 1000000)
/* How far before a camera's latest row an unknown file may start. */
#define RECONCILE_MARGIN_US HOUR_US
/* The pool's clean-stop marker, and the index key that must match it. */
#define CLEAN_FILE ".vigil-clean"
#define CLEAN_KEY "clean_token"
/* Every segment file starting before this time (Unix us) is in the index. */
#define CHECKPOINT_KEY "reconciled_before_us"
/* Progress is reported at most this often (and once when work starts). */
#define PROGRESS_US (INT64_C(1000000))

typedef struct rc_ctx {
    storage *st;
    index_db *idx;
    index_reader *r;
    storage_reconcile_report *rep;
    const storage_reconcile_opts *opts;
    int64_t t0, last_progress;
} rc_ctx;

static void progress(rc_ctx *c, int force)
{
    if (!c->opts || !c->opts->progress) return;
    int64_t now = vg_mono_us();
    if (!force && now - c->last_progress < PROGRESS_US) return;
    c->last_progress = now;
    c->rep->elapsed_ms = (now - c->t0) / 1000;
    c->opts->progress(c->opts->opaque, c->rep);
}

/* Logs and records an event; d is a JSON object (built with jansson; the
 * reference is taken). */
static void event(rc_ctx *c, const char *camera, const char *type, json_t *d)
{
    char detail[INDEX_DETAIL_MAX];
    index_detail_format(d, detail, sizeof(detail));
    vg_log_cam(LOG_NOTICE, camera, "storage: %s %s", type, detail);
    index_event_add_json(c->idx, vg_now_us(), camera, type, d);
}

/* SHA-256 of the first len bytes of fd. */
static int hash_file(int fd, uint64_t len, uint8_t out[32])
{
    int r = 0;
    vg_sha256 *sha = vg_sha256_new();
    uint8_t buf[1 << 16];
    uint64_t off = 0;
    if (!sha) return -ENOMEM;
    while (off < len) {
        size_t want = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            goto out;
        }
        vg_sha256_update(sha, buf, (size_t)n);
        off += (size_t)n;
    }
    vg_sha256_final(sha, out);
out:
    vg_sha256_free(&sha);
    return r;
}

/* Cuts fd to end (if longer) and makes it durable. */
static int cut_file(int fd, uint64_t size, uint64_t end)
{
    if (size > end && ftruncate(fd, (off_t)end) != 0) return -errno;
    if (fsync(fd) != 0) return -errno;
    return 0;
}

static int64_t frag_us(const media_scan *sc, const media_scan_frag *f)
{
    return sc->timescale ? (int64_t)((double)f->dur * 1e6 / sc->timescale) : 0;
}

/* "<camera>/YYYY/MM/DD/HH/YYYYMMDDTHHMMSS.uuuuuuZ.mp4" -> camera, start. */
static int parse_relpath(const char *rel, char *camera, size_t clen, int64_t *start_us)
{
    const char *slash = strchr(rel, '/');
    const char *name = strrchr(rel, '/');
    if (!slash || !name || (size_t)(slash - rel) >= clen) return -EINVAL;
    memcpy(camera, rel, (size_t)(slash - rel));
    camera[slash - rel] = 0;
    struct tm tm;
    int us = 0, n = 0;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(name + 1, "%4d%2d%2dT%2d%2d%2d.%6dZ.mp4%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us, &n) != 7 || n == 0 || name[1 + n])
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *start_us = (int64_t)timegm(&tm) * 1000000 + us;
    char check[INDEX_PATH_MAX];
    if (vg_segment_relpath(camera, *start_us, check, sizeof(check)) < 0 ||
        strcmp(check, rel) != 0)
        return -EINVAL;
    return 0;
}

static void quarantine(rc_ctx *c, const char *pool, const char *abs, const char *rel,
                       const char *camera, const char *why)
{
    char dir[PATH_MAX], dst[PATH_MAX + 600], flat[INDEX_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/quarantine", storage_pool_path(c->st, pool));
    snprintf(flat, sizeof(flat), "%s", rel);
    for (char *p = flat; *p; p++)
        if (*p == '/') *p = '_';
    snprintf(dst, sizeof(dst), "%s/%s", dir, flat);
    if (vg_mkdir_p(dir, 0755) < 0 || rename(abs, dst) != 0) {
        vg_log(LOG_ERR, "storage: cannot move %s to %s: %m", abs, dst);
        return;
    }
    vg_fsync_dir(dir);
    c->rep->quarantined++;
    event(c, camera, "segment_quarantined",
          json_pack("{s:s,s:s,s:s}", "pool", pool, "path", rel, "why", why));
}

/* Indexes a file no row names: begin, one progress per fragment, finish. */
static int index_file(rc_ctx *c, const char *pool, const char *rel, const char *why_event)
{
    char abs[PATH_MAX], camera[INDEX_ID_MAX];
    int64_t start_us = 0;
    media_scan sc;
    uint8_t sha[32];
    int r = 0, fd = -1;
    struct stat sb;
    memset(&sc, 0, sizeof(sc));
    if (storage_abspath(c->st, pool, rel, abs, sizeof(abs)) < 0) return -ENAMETOOLONG;
    if (parse_relpath(rel, camera, sizeof(camera), &start_us) < 0) {
        quarantine(c, pool, abs, rel, "", "unexpected name");
        return 0;
    }
    fd = open(abs, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        r = -errno;
        goto out;
    }
    r = media_scan_fd(fd, (uint64_t)sb.st_size, &sc);
    if (r < 0 || sc.nfrags == 0) {
        close(fd);
        fd = -1;
        quarantine(c, pool, abs, rel, camera, r < 0 ? "not a readable fragmented MP4"
                                                     : "no whole fragment");
        r = 0;
        goto out;
    }
    uint64_t cut = (uint64_t)sb.st_size - sc.valid_end;
    if ((r = cut_file(fd, (uint64_t)sb.st_size, sc.valid_end)) < 0 ||
        (r = hash_file(fd, sc.valid_end, sha)) < 0)
        goto out;
    index_segment row;
    memset(&row, 0, sizeof(row));
    snprintf(row.camera, sizeof(row.camera), "%s", camera);
    row.start_us = row.end_us = row.run_start_us = start_us;
    snprintf(row.pool, sizeof(row.pool), "%s", pool);
    snprintf(row.path, sizeof(row.path), "%s", rel);
    snprintf(row.codec, sizeof(row.codec), "%s", sc.codec);
    row.width = sc.width;
    row.height = sc.height;
    row.open = 1;
    int64_t id = index_segment_begin(c->idx, &row);
    if (id <= 0) {
        r = id < 0 ? (int)id : -EIO;
        goto out;
    }
    int64_t t = start_us;
    for (size_t i = 0; i < sc.nfrags; i++) {
        index_fragment f = {.offset = sc.frags[i].offset, .size = sc.frags[i].size,
                            .flags = sc.frags[i].key ? 1u : 0u, .start_us = t};
        t += frag_us(&sc, &sc.frags[i]);
        f.end_us = t;
        index_segment_progress(c->idx, id, t, (int64_t)(f.offset + f.size), &f);
    }
    index_segment_finish(c->idx, id, t, (int64_t)sc.valid_end, sha);
    c->rep->indexed++;
    c->rep->truncated_bytes += (int64_t)cut;
    event(c, camera, why_event,
          json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:I}", "id", (json_int_t)id, "pool", pool, "path",
                    rel, "bytes", (json_int_t)sc.valid_end, "cut_bytes", (json_int_t)cut,
                    "fragments", (json_int_t)sc.nfrags, "duration_ms",
                    (json_int_t)((t - start_us) / 1000)));
out:
    if (r < 0) vg_log(LOG_ERR, "storage: cannot index %s: %s", abs, strerror(-r));
    if (fd >= 0) close(fd);
    media_scan_free(&sc);
    return r;
}

static void delete_row(rc_ctx *c, const index_segment *s, const char *why)
{
    if (index_segments_delete(c->idx, &s->id, 1) < 0) return;
    c->rep->missing++;
    event(c, s->camera, "segment_missing",
          json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)s->id, "pool", s->pool, "path",
                    s->path, "why", why));
}

/* Closes one open row (see the top of the file). */
static void recover_open(rc_ctx *c, const index_segment *s)
{
    char abs[PATH_MAX];
    media_scan sc;
    index_fragment *frags = NULL;
    size_t nidx = 0;
    uint8_t sha[32];
    struct stat sb;
    int fd = -1, r = 0;
    memset(&sc, 0, sizeof(sc));
    if (storage_pool_usable(c->st, s->pool) != 1) {
        vg_log_cam(LOG_WARNING, s->camera, "storage: segment %lld is on pool %s, which is not "
                   "usable: left open until it is", (long long)s->id, s->pool);
        return;
    }
    if (storage_abspath(c->st, s->pool, s->path, abs, sizeof(abs)) < 0) return;
    fd = open(abs, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) delete_row(c, s, "file gone (open segment)");
        else vg_log_cam(LOG_ERR, s->camera, "storage: cannot open %s: %m", abs);
        return;
    }
    if (fstat(fd, &sb) != 0) goto out;
    r = media_scan_fd(fd, (uint64_t)sb.st_size, &sc);
    if (r == 0) r = index_get_fragments(c->r, s->id, &frags, &nidx);
    if (r < 0 || sc.nfrags == 0) {
        /* Nothing playable: the row and the file go (the camera lost < 1 fragment). */
        close(fd);
        fd = -1;
        if (index_segments_delete(c->idx, &s->id, 1) == 0) {
            unlink(abs);
            c->rep->removed_empty++;
            event(c, s->camera, "segment_recovered",
                  json_pack("{s:I,s:s,s:s,s:I}", "id", (json_int_t)s->id, "path", s->path,
                            "removed", r < 0 ? "unreadable" : "no whole fragment", "bytes",
                            (json_int_t)sb.st_size));
        }
        goto out;
    }
    int consistent = nidx <= sc.nfrags;
    for (size_t i = 0; consistent && i < nidx; i++)
        if (frags[i].offset != sc.frags[i].offset || frags[i].size != sc.frags[i].size)
            consistent = 0;
    if (!consistent) {
        /* The index knows fragments the file lost: rebuild the row from the file. */
        close(fd);
        fd = -1;
        if (index_segments_delete(c->idx, &s->id, 1) == 0) {
            c->rep->recovered++;
            index_file(c, s->pool, s->path, "segment_recovered");
        }
        goto out;
    }
    uint64_t cut = (uint64_t)sb.st_size - sc.valid_end;
    if ((r = cut_file(fd, (uint64_t)sb.st_size, sc.valid_end)) < 0 ||
        (r = hash_file(fd, sc.valid_end, sha)) < 0) {
        vg_log_cam(LOG_ERR, s->camera, "storage: cannot recover %s: %s", abs, strerror(-r));
        goto out;
    }
    int64_t t = nidx ? frags[nidx - 1].end_us : s->start_us;
    for (size_t i = nidx; i < sc.nfrags; i++) {
        index_fragment f = {.offset = sc.frags[i].offset, .size = sc.frags[i].size,
                            .flags = sc.frags[i].key ? 1u : 0u, .start_us = t};
        t += frag_us(&sc, &sc.frags[i]);
        f.end_us = t;
        index_segment_progress(c->idx, s->id, t, (int64_t)(f.offset + f.size), &f);
    }
    index_segment_finish(c->idx, s->id, t, (int64_t)sc.valid_end, sha);
    c->rep->recovered++;
    c->rep->truncated_bytes += (int64_t)cut;
    char e[VG_TIME_LEN];
    event(c, s->camera, "segment_recovered",
          json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:s}", "id", (json_int_t)s->id, "path", s->path,
                    "bytes", (json_int_t)sc.valid_end, "cut_bytes", (json_int_t)cut, "fragments",
                    (json_int_t)sc.nfrags, "fragments_not_indexed", (json_int_t)(sc.nfrags - nidx),
                    "end", vg_time_format(t, e, sizeof(e))));
out:
    if (fd >= 0) close(fd);
    free(frags);
    media_scan_free(&sc);
}

/* ---- the walk ---- */

typedef struct known {
    char **names; /* basenames of rows starting in the hour, in this pool */
    index_segment *rows;
    size_t n, cap;
    const char *pool;
    int64_t hour;
    int err;
} known;

static int known_cb(const index_segment *s, void *arg)
{
    known *k = arg;
    if (strcmp(s->pool, k->pool) != 0 || s->start_us < k->hour || s->start_us >= k->hour + HOUR_US)
        return 0;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        index_segment *nr = realloc(k->rows, cap * sizeof(*nr));
        if (!nr) {
            k->err = -ENOMEM;
            return 1;
        }
        k->rows = nr;
        k->cap = cap;
    }
    k->rows[k->n++] = *s;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One hour directory: rel is "<camera>/YYYY/MM/DD/HH". */
static void walk_hour(rc_ctx *c, const char *pool, const char *camera, const char *rel,
                      int64_t hour)
{
    char abs[PATH_MAX];
    known k = {.pool = pool, .hour = hour};
    char **files = NULL;
    size_t nfiles = 0, fcap = 0;
    if (storage_abspath(c->st, pool, rel, abs, sizeof(abs)) < 0) return;
    DIR *d = opendir(abs);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (nfiles == fcap) {
            size_t cap = fcap ? 2 * fcap : 64;
            char **nf = realloc(files, cap * sizeof(*nf));
            if (!nf) break;
            files = nf;
            fcap = cap;
        }
        if (!(files[nfiles] = strdup(e->d_name))) break;
        nfiles++;
    }
    closedir(d);
    if (files) qsort(files, nfiles, sizeof(*files), cmp_str);
    if (index_query_segments(c->r, camera, hour, hour + HOUR_US, known_cb, &k) < 0 || k.err)
        goto out;
    /* Rows without a file (closed ones; open ones were handled already). */
    for (size_t i = 0; i < k.n; i++) {
        const char *base = strrchr(k.rows[i].path, '/');
        base = base ? base + 1 : k.rows[i].path;
        if (k.rows[i].open) continue;
        if (!files || !bsearch(&base, files, nfiles, sizeof(*files), cmp_str))
            delete_row(c, &k.rows[i], "file gone");
    }
    /* Files without a row. */
    for (size_t i = 0; i < nfiles; i++) {
        int found = 0;
        for (size_t j = 0; j < k.n && !found; j++) {
            const char *base = strrchr(k.rows[j].path, '/');
            found = strcmp(base ? base + 1 : k.rows[j].path, files[i]) == 0;
        }
        if (found) continue;
        char frel[INDEX_PATH_MAX];
        if (snprintf(frel, sizeof(frel), "%s/%s", rel, files[i]) >= (int)sizeof(frel)) continue;
        index_file(c, pool, frel, "segment_indexed");
    }
out:
    for (size_t i = 0; i < nfiles; i++) free(files[i]);
    free(files);
    free(k.rows);
}

/* Lists the numeric subdirectories of dir (sorted). */
static size_t list_num_dirs(const char *dir, int *out, size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end) continue;
        out[n++] = (int)v;
    }
    closedir(d);
    return n;
}

/* Start of the year/month/day/hour given (month 1-12; day and hour may run
 * past their field: timegm normalises), Unix microseconds. */
static int64_t utc_us(int y, int mon, int d, int h)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h};
    return (int64_t)timegm(&tm) * 1000000;
}

/* Walks the hour directories of camera in pool whose hour ends after from_us
 * (INT64_MIN: all of them); a year, month or day directory that ends before
 * it is not even listed. */
static void walk_camera(rc_ctx *c, const char *pool, const char *camera, int64_t from_us)
{
    char p[PATH_MAX], rel[INDEX_PATH_MAX];
    int ys[512], ms[16], ds[40], hs[32];
    const char *base = storage_pool_path(c->st, pool);
    snprintf(p, sizeof(p), "%s/%s", base, camera);
    size_t ny = list_num_dirs(p, ys, VG_ARRAY_SIZE(ys));
    for (size_t a = 0; a < ny; a++) {
        if (utc_us(ys[a] + 1, 1, 1, 0) <= from_us) continue;
        snprintf(p, sizeof(p), "%s/%s/%04d", base, camera, ys[a]);
        size_t nm = list_num_dirs(p, ms, VG_ARRAY_SIZE(ms));
        for (size_t b = 0; b < nm; b++) {
            if (utc_us(ys[a], ms[b] + 1, 1, 0) <= from_us) continue;
            snprintf(p, sizeof(p), "%s/%s/%04d/%02d", base, camera, ys[a], ms[b]);
            size_t nd = list_num_dirs(p, ds, VG_ARRAY_SIZE(ds));
            for (size_t e = 0; e < nd; e++) {
                if (utc_us(ys[a], ms[b], ds[e] + 1, 0) <= from_us) continue;
                snprintf(p, sizeof(p), "%s/%s/%04d/%02d/%02d", base, camera, ys[a], ms[b], ds[e]);
                size_t nh = list_num_dirs(p, hs, VG_ARRAY_SIZE(hs));
                for (size_t h = 0; h < nh; h++) {
                    int64_t hour = utc_us(ys[a], ms[b], ds[e], hs[h]);
                    if (hour + HOUR_US <= from_us) continue;
                    snprintf(rel, sizeof(rel), "%s/%04d/%02d/%02d/%02d", camera, ys[a], ms[b],
                             ds[e], hs[h]);
                    walk_hour(c, pool, camera, rel, hour);
                    c->rep->hour_dirs++;
                    progress(c, 0);
                }
            }
        }
    }
}

/* Where the walk of a camera directory starts after a crash when the index
 * holds no checkpoint (see the top of the file): the camera's latest row, or
 * without one the latest row of any pool (its files were created after that
 * commit too), or now; less the margin. */
static int64_t camera_from(rc_ctx *c, const char *camera, int64_t any_last, int64_t now_us)
{
    int64_t last = any_last;
    if (index_camera_last_start(c->r, camera, &last) < 0) last = any_last;
    if (last > now_us) last = now_us;
    return last - RECONCILE_MARGIN_US;
}

static void clean_path(rc_ctx *c, const char *pool, char *out, size_t len)
{
    snprintf(out, len, "%s/" CLEAN_FILE, storage_pool_path(c->st, pool));
}

/* Reads and removes the clean-stop tokens (index first, then each usable
 * pool's file); clean[i] says whether pool i's matched the index's. A token
 * that cannot be removed from the index is not trusted. */
static void take_clean_tokens(rc_ctx *c, const config *cfg, uint8_t *clean)
{
    int64_t tok = 0;
    int r = index_meta_get(cfg->index_path, CLEAN_KEY, &tok);
    if (r == 0 && (r = index_meta_delete(cfg->index_path, CLEAN_KEY)) < 0) {
        vg_log(LOG_WARNING, "storage: cannot clear the clean-stop token in %s (%s): walking "
               "every pool", cfg->index_path, strerror(-r));
        tok = 0;
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        const char *pool = cfg->pools[i].id;
        char path[PATH_MAX];
        long long ptok = 0;
        clean[i] = 0;
        if (storage_pool_usable(c->st, pool) != 1) continue;
        clean_path(c, pool, path, sizeof(path));
        FILE *f = fopen(path, "re");
        if (!f) continue;
        int n = fscanf(f, "vigil-clean %lld", &ptok);
        fclose(f);
        clean[i] = tok != 0 && n == 1 && ptok == tok;
        if (unlink(path) != 0 && errno != ENOENT) {
            vg_log(LOG_WARNING, "storage: cannot remove %s: %m", path);
            continue;
        }
        vg_fsync_dir(storage_pool_path(c->st, pool));
    }
}

int storage_checkpoint(index_db *idx, const char *index_path, uint64_t failures)
{
    /* A write the index dropped may be a row of a file made before now: the
     * checkpoint stays where it was, so the next start walks from there. */
    if (index_writer_failures(idx) != failures) return -EIO;
    int64_t now = vg_now_us();
    int r = index_flush(idx);
    if (r < 0) return r;
    if (index_writer_failures(idx) != failures) return -EIO;
    return index_meta_set(index_path, CHECKPOINT_KEY, now - RECONCILE_MARGIN_US);
}

int storage_mark_clean(storage *st, index_db *idx, const config *cfg)
{
    int64_t tok = 0;
    int r = 0;
    unsigned marked = 0;
    if (index_writer_failures(idx) != 0) {
        /* A dropped batch may have lost a row: the next start must look. */
        vg_log(LOG_WARNING, "storage: the index missed writes during this run: the next start "
               "reconciles after all");
        return -EIO;
    }
    if ((r = index_flush(idx)) < 0) return r;
    while (tok <= 0) {
        if (getrandom(&tok, sizeof(tok), 0) != (ssize_t)sizeof(tok)) return -errno;
        tok &= INT64_MAX;
    }
    /* The pools first, the index last: a stop cut short leaves tokens that
     * do not match, which is a walk, never a wrong "clean". */
    for (size_t i = 0; i < cfg->npools; i++) {
        const char *pool = cfg->pools[i].id;
        char path[PATH_MAX], line[64];
        if (storage_pool_usable(st, pool) != 1) continue;
        snprintf(path, sizeof(path), "%s/" CLEAN_FILE, storage_pool_path(st, pool));
        int n = snprintf(line, sizeof(line), "vigil-clean %lld\n", (long long)tok);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
            vg_log(LOG_WARNING, "storage: cannot write %s: %m", path);
            if (fd >= 0) close(fd);
            continue;
        }
        close(fd);
        vg_fsync_dir(storage_pool_path(st, pool));
        marked++;
    }
    if ((r = index_meta_set(cfg->index_path, CLEAN_KEY, tok)) < 0) return r;
    vg_log(LOG_INFO, "storage: clean stop recorded in %u pools", marked);
    return 0;
}

static int open_cb(const index_segment *s, void *arg)
{
    index_segment **v = arg;
    size_t n = 0;
    while ((*v)[n].id) n++;
    index_segment *nv = realloc(*v, (n + 2) * sizeof(**v));
    if (!nv) return -ENOMEM;
    nv[n] = *s;
    memset(&nv[n + 1], 0, sizeof(nv[n + 1]));
    *v = nv;
    return 0;
}

int storage_reconcile_opts_run(storage *st, index_db *idx, const config *cfg,
                               const storage_reconcile_opts *opts, storage_reconcile_report *out)
{
    storage_reconcile_report rep;
    rc_ctx c = {.st = st, .idx = idx, .rep = &rep, .opts = opts};
    index_segment *open_rows = calloc(1, sizeof(*open_rows));
    uint8_t *clean = calloc(cfg->npools ? cfg->npools : 1, 1);
    int r = 0;
    int full = opts && opts->full;
    int64_t now = vg_now_us(), cp = 0, any_last = now;
    c.t0 = vg_mono_us();
    memset(&rep, 0, sizeof(rep));
    if (!open_rows || !clean) {
        r = -ENOMEM;
        goto out;
    }
    /* Always taken, even for a full walk: the tokens must not outlive a start. */
    take_clean_tokens(&c, cfg, clean);
    int have_cp = index_meta_get(cfg->index_path, CHECKPOINT_KEY, &cp) == 0;
    if (have_cp && cp > now - RECONCILE_MARGIN_US) cp = now - RECONCILE_MARGIN_US;
    if ((r = index_flush(idx)) < 0) goto out;
    if ((r = index_reader_open(cfg->index_path, &c.r)) < 0) goto out;
    if (!have_cp) {
        /* An index from before checkpoints: the latest row of any pool bounds
         * the cameras without a row of their own. */
        int have_last = 0;
        for (size_t i = 0; i < cfg->npools; i++) {
            int64_t t;
            if (index_pool_last_start(c.r, cfg->pools[i].id, &t) == 0 && (!have_last || t > any_last)) {
                any_last = t;
                have_last = 1;
            }
        }
    }
    progress(&c, 1);
    /* Collect first: the repairs go through the writer, not this statement. */
    if ((r = index_query_open_segments(c.r, open_cb, &open_rows)) < 0) goto out;
    for (size_t i = 0; open_rows[i].id; i++) {
        recover_open(&c, &open_rows[i]);
        progress(&c, 0);
    }
    if ((r = index_flush(idx)) < 0) goto out;
    for (size_t i = 0; i < cfg->npools; i++) {
        const char *pool = cfg->pools[i].id;
        if (storage_pool_usable(st, pool) != 1) continue;
        if (clean[i] && !full) {
            rep.pools_clean++;
            continue;
        }
        DIR *d = opendir(storage_pool_path(st, pool));
        if (!d) continue;
        struct dirent *e;
        char **cams = NULL;
        size_t ncams = 0;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || strcmp(e->d_name, "quarantine") == 0) continue;
            if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
            char **nc = realloc(cams, (ncams + 1) * sizeof(*nc));
            if (!nc) break;
            cams = nc;
            if ((cams[ncams] = strdup(e->d_name))) ncams++;
        }
        closedir(d);
        for (size_t k = 0; k < ncams; k++) {
            int64_t from = full      ? INT64_MIN
                           : have_cp ? cp
                                     : camera_from(&c, cams[k], any_last, now);
            walk_camera(&c, pool, cams[k], from);
            free(cams[k]);
        }
        free(cams);
    }
    if ((r = index_flush(idx)) < 0) goto out;
    /* Everything on disk is known now; files made from here on start later. */
    if ((r = index_meta_set(cfg->index_path, CHECKPOINT_KEY, now - RECONCILE_MARGIN_US)) < 0)
        goto out;
out:
    rep.elapsed_ms = (vg_mono_us() - c.t0) / 1000;
    vg_log(LOG_INFO,
           "storage: reconciled in %lld ms: %u of %zu pools clean, %u hour directories walked, "
           "%u recovered, %u missing, %u indexed, %u quarantined, %u empty removed, "
           "%lld bytes cut",
           (long long)rep.elapsed_ms, rep.pools_clean, cfg->npools, rep.hour_dirs,
           rep.recovered, rep.missing, rep.indexed, rep.quarantined, rep.removed_empty,
           (long long)rep.truncated_bytes);
    index_reader_close(&c.r);
    free(open_rows);
    free(clean);
    if (out) *out = rep;
    return r;
}

int storage_reconcile(storage *st, index_db *idx, const config *cfg,
                      storage_reconcile_report *out)
{
    return storage_reconcile_opts_run(st, idx, cfg, NULL, out);
}
