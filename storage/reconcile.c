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
 */
#include "storage/storage.h"

#include "common/common.h"
#include "media/media.h"

#include <dirent.h>
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

typedef struct rc_ctx {
    storage *st;
    index_db *idx;
    index_reader *r;
    storage_reconcile_report *rep;
} rc_ctx;

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
    if (storage_segment_relpath(camera, *start_us, check, sizeof(check)) < 0 ||
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

static void walk_camera(rc_ctx *c, const char *pool, const char *camera)
{
    char p[PATH_MAX], rel[INDEX_PATH_MAX];
    int ys[512], ms[16], ds[40], hs[32];
    const char *base = storage_pool_path(c->st, pool);
    snprintf(p, sizeof(p), "%s/%s", base, camera);
    size_t ny = list_num_dirs(p, ys, VG_ARRAY_SIZE(ys));
    for (size_t a = 0; a < ny; a++) {
        snprintf(p, sizeof(p), "%s/%s/%04d", base, camera, ys[a]);
        size_t nm = list_num_dirs(p, ms, VG_ARRAY_SIZE(ms));
        for (size_t b = 0; b < nm; b++) {
            snprintf(p, sizeof(p), "%s/%s/%04d/%02d", base, camera, ys[a], ms[b]);
            size_t nd = list_num_dirs(p, ds, VG_ARRAY_SIZE(ds));
            for (size_t e = 0; e < nd; e++) {
                snprintf(p, sizeof(p), "%s/%s/%04d/%02d/%02d", base, camera, ys[a], ms[b], ds[e]);
                size_t nh = list_num_dirs(p, hs, VG_ARRAY_SIZE(hs));
                for (size_t h = 0; h < nh; h++) {
                    struct tm tm = {.tm_year = ys[a] - 1900, .tm_mon = ms[b] - 1,
                                    .tm_mday = ds[e], .tm_hour = hs[h]};
                    int64_t hour = (int64_t)timegm(&tm) * 1000000;
                    snprintf(rel, sizeof(rel), "%s/%04d/%02d/%02d/%02d", camera, ys[a], ms[b],
                             ds[e], hs[h]);
                    walk_hour(c, pool, camera, rel, hour);
                }
            }
        }
    }
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

int storage_reconcile(storage *st, index_db *idx, const config *cfg,
                      storage_reconcile_report *out)
{
    storage_reconcile_report rep;
    rc_ctx c = {.st = st, .idx = idx, .rep = &rep};
    index_segment *open_rows = calloc(1, sizeof(*open_rows));
    int r = 0;
    int64_t t0 = vg_mono_us();
    memset(&rep, 0, sizeof(rep));
    if (!open_rows) return -ENOMEM;
    if ((r = index_flush(idx)) < 0) goto out;
    if ((r = index_reader_open(cfg->index_path, &c.r)) < 0) goto out;
    /* Collect first: the repairs go through the writer, not this statement. */
    if ((r = index_query_open_segments(c.r, open_cb, &open_rows)) < 0) goto out;
    for (size_t i = 0; open_rows[i].id; i++) recover_open(&c, &open_rows[i]);
    if ((r = index_flush(idx)) < 0) goto out;
    for (size_t i = 0; i < cfg->npools; i++) {
        const char *pool = cfg->pools[i].id;
        if (storage_pool_usable(st, pool) != 1) continue;
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
            walk_camera(&c, pool, cams[k]);
            free(cams[k]);
        }
        free(cams);
    }
    r = index_flush(idx);
out:
    vg_log(LOG_INFO,
           "storage: reconciled in %lld ms: %u recovered, %u missing, %u indexed, %u quarantined, "
           "%u empty removed, %lld bytes cut",
           (long long)((vg_mono_us() - t0) / 1000), rep.recovered, rep.missing, rep.indexed,
           rep.quarantined, rep.removed_empty, (long long)rep.truncated_bytes);
    index_reader_close(&c.r);
    free(open_rows);
    if (out) *out = rep;
    return r;
}
