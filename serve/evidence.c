/*
 * The investigator's side of the API (issues 3 and 4): evidence locks, the
 * event log, the incident coverage query and signed evidence exports. These
 * are the worker-thread halves: http.c parses and authorizes the request on
 * the loop thread, copies what it needs from the config (camera lists), and
 * queues one of these on libuv's thread pool, since every one of them touches
 * SQLite (locks and exports open connections of their own, index/locks.c and
 * index/exports.c; the rest use the caller's reader).
 *
 * Every lock change is an event (written by index_lock_*() in the same
 * transaction as the change, naming who and why) and an audit row
 * (lock_create / lock_release, queued through the index writer).
 *
 * Exports. An export locks [start, end) on every camera it names (so
 * retention cannot delete the footage; the locks are released like any other)
 * and describes the footage in a manifest: per camera its lock, one clip URL
 * per continuous run (what clip.mp4 would serve without truncation; the URLs
 * carry export=ID so downloads are audited as "export") and the source
 * segments with their pool-relative path, size and SHA-256 as recorded. The
 * manifest is signed with Ed25519 (libcrypto, common/crypto.c) by a key made
 * on first use and kept next to the index (<index>.signing-key, 0600: the
 * 32-byte seed then the 32-byte public key, as libsodium wrote it before),
 * with a copy at the root of every usable pool (.vigil-signing-key, 0600), so
 * the key outlives the loss of the index's directory: a missing key is
 * restored from a copy, and a new one is made only when there is no copy
 * anywhere. A copy that differs from the key is never overwritten (it may be
 * the key earlier exports were signed with); that is logged with the fix.
 *
 * The signed bytes: the manifest object serialized by jansson with
 * JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII (no whitespace, keys
 * sorted at every level, non-ASCII as \uXXXX escapes; the manifest holds
 * only strings, integers, null and arrays/objects of them, never reals). The
 * response is the text {"manifest":M,"signature":S} where M is exactly those
 * bytes and S the base64 (RFC 4648, padded) of the 64-byte signature; so a
 * verifier takes the bytes between the leading {"manifest": and the final
 * ,"signature":, or re-serializes the parsed object the same way. The stored
 * copy (exports.manifest) is the same bytes, and GET /api/exports/{id}
 * answers with the same text.
 */
#include "serve/serve_internal.h"
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

#define MAX_EVENTS 10000
#define RUN_TOLERANCE_US 1000000 /* as media/clip.c: a gap this small does not break a run */
#define MAX_CAM_SEGMENTS 100000

static json_t *jtime(int64_t us)
{
    char b[VG_TIME_LEN];
    return json_string(vg_time_format(us, b, sizeof(b)));
}

static void reply_error(serve__reply *out, int status, const char *msg)
{
    out->status = status;
    out->json = json_pack("{s:s}", "error", msg);
}

static void reply_errno(serve__reply *out, int err, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-err));
    reply_error(out, 503, msg);
}

/* An audit row; d is its detail object (the reference is taken). */
static void audit(index_db *idx, const char *who, const char *action, const char *camera,
                  int64_t start_us, int64_t end_us, json_t *d)
{
    char detail[INDEX_DETAIL_MAX];
    if (idx) {
        index_audit a;
        index_detail_format(d, detail, sizeof(detail));
        index_audit_fill(&a, who, action, camera, start_us, end_us, detail);
        index_audit_add(idx, &a);
    }
    json_decref(d);
}

/* ---- locks ---- */

json_t *serve__lock_json(const index_lock *l)
{
    return json_pack("{s:I,s:s,s:o,s:o,s:s,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)l->id,
                     "camera", l->camera, "start", jtime(l->start_us), "end", jtime(l->end_us),
                     "reason", l->reason, "created_by", l->created_by, "created",
                     jtime(l->created_us), "until",
                     l->until_us ? jtime(l->until_us) : json_null(), "released",
                     l->released_us ? jtime(l->released_us) : json_null(), "released_by",
                     l->released_us ? json_string(l->released_by) : json_null());
}

void serve__locks_create(const char *index_path, index_db *idx, index_lock *l, serve__reply *out)
{
    int ret = index_lock_create(index_path, l);
    if (ret == -EINVAL) {
        reply_error(out, 400, "camera, reason and end after start are required");
        return;
    }
    if (ret < 0) {
        reply_errno(out, ret, "cannot create the lock");
        return;
    }
    audit(idx, l->created_by, "lock_create", l->camera, l->start_us, l->end_us,
          json_pack("{s:I,s:s}", "lock", (json_int_t)l->id, "reason", l->reason));
    out->status = 201;
    out->json = serve__lock_json(l);
}

/* A row that cannot be a JSON object (jansson refuses text that is not
 * UTF-8) is left out and logged: one bad row never fails a whole listing. */
int serve__append_row(json_t *arr, json_t *o, const char *what, int64_t id)
{
    if (!o) {
        vg_log(LOG_WARNING, "serve: %s %lld left out of a listing: not valid as JSON", what,
               (long long)id);
        return 0;
    }
    return json_array_append_new(arr, o) == 0 ? 0 : -ENOMEM;
}

static int on_lock(const index_lock *l, void *arg)
{
    return serve__append_row(arg, serve__lock_json(l), "lock", l->id);
}

void serve__locks_list(const char *index_path, const char *camera, int all, serve__reply *out)
{
    json_t *arr = json_array();
    int ret = arr ? index_locks_list(index_path, camera, all, vg_now_us(), on_lock, arr) : -ENOMEM;
    if (ret < 0) {
        json_decref(arr);
        reply_errno(out, ret, "cannot list locks");
        return;
    }
    out->status = 200;
    out->json = arr;
}

typedef struct find_lock {
    int64_t id;
    index_lock l;
    bool found;
} find_lock;

static int on_find_lock(const index_lock *l, void *arg)
{
    find_lock *f = arg;
    if (l->id != f->id) return 0;
    f->l = *l;
    f->found = true;
    return 1;
}

void serve__locks_release(const char *index_path, index_db *idx, int64_t id, const char *who,
                          bool admin, const char *why, serve__reply *out)
{
    int ret = admin ? index_lock_release(index_path, id, who, why)
                    : index_lock_release_own(index_path, id, who, why);
    if (ret == -EINVAL) {
        reply_error(out, 400, "a reason is required to release a lock");
        return;
    }
    if (ret == -EPERM) {
        audit(idx, who, "lock_release_refused", NULL, 0, 0,
              json_pack("{s:I,s:s}", "lock", (json_int_t)id, "reason", why ? why : ""));
        reply_error(out, 403, "only the lock's creator or an admin may release it");
        return;
    }
    if (ret == -ENOENT) {
        reply_error(out, 404, "no such lock");
        return;
    }
    if (ret == -EALREADY) {
        reply_error(out, 409, "the lock is already released");
        return;
    }
    if (ret < 0) {
        reply_errno(out, ret, "cannot release the lock");
        return;
    }
    find_lock f = {.id = id};
    /* The release is done; if the lock cannot be listed again the audit and the
     * reply carry only its id. */
    (void)index_locks_list(index_path, NULL, 1, vg_now_us(), on_find_lock, &f);
    audit(idx, who, "lock_release", f.found ? f.l.camera : NULL, f.found ? f.l.start_us : 0,
          f.found ? f.l.end_us : 0,
          json_pack("{s:I,s:s}", "lock", (json_int_t)id, "reason", why ? why : ""));
    out->status = 200;
    out->json = f.found ? serve__lock_json(&f.l) : json_pack("{s:I}", "id", (json_int_t)id);
}

/* ---- events ---- */

typedef struct ev_acc {
    json_t *arr;
    const char *type;
    size_t n;
} ev_acc;

static int on_event(const index_event *e, void *arg)
{
    ev_acc *a = arg;
    if (a->type && strcmp(a->type, e->type) != 0) return 0;
    if (a->n++ >= MAX_EVENTS) return 1;
    json_t *o = json_pack("{s:I,s:o,s:o,s:s,s:s}", "id", (json_int_t)e->id, "time",
                          jtime(e->time_us), "camera",
                          e->camera[0] ? json_string(e->camera) : json_null(), "type", e->type,
                          "detail", e->detail);
    return serve__append_row(a->arr, o, "event", e->id);
}

void serve__events(index_reader *r, const char *camera, const char *type, int64_t start_us,
                   int64_t end_us, serve__reply *out)
{
    ev_acc a = {.arr = json_array(), .type = type};
    int ret = a.arr ? index_query_events(r, camera, start_us, end_us, on_event, &a) : -ENOMEM;
    if (ret < 0) {
        json_decref(a.arr);
        reply_errno(out, ret, "cannot read events");
        return;
    }
    out->status = 200;
    out->json = a.arr;
}

/* ---- runs of recorded footage ---- */

typedef struct run_acc {
    int64_t start, end;     /* the query range */
    json_t *runs;           /* [{start, end}] */
    serve__jbuf *text;      /* instead of runs: the coverage answer's text */
    size_t nruns;           /* written to text */
    json_t *segments;       /* export: the segment rows; NULL for coverage */
    int64_t covered_us;
    int64_t run_start, run_end;
    index_segment last;     /* previous segment (export: run breaks as media/clip.c's) */
    bool have;
    size_t nseg;
    const char *camera;
    int64_t export_id;
    const serve__export_req *q; /* export: to hash open segments */
    int64_t *bounds;            /* export: [start, end) of each run, in order */
    size_t nbounds, capbounds;
} run_acc;

static int run_flush(run_acc *a)
{
    if (a->text) {
        serve__jbuf *b = a->text;
        serve__jbuf_puts(b, a->nruns++ ? ",{\"start\":" : "{\"start\":");
        serve__jbuf_time(b, a->run_start);
        serve__jbuf_puts(b, ",\"end\":");
        serve__jbuf_time(b, a->run_end);
        serve__jbuf_puts(b, "}");
        return b->failed ? -ENOMEM : 0;
    }
    json_t *r = json_pack("{s:o,s:o}", "start", jtime(a->run_start), "end", jtime(a->run_end));
    if (r && a->export_id) {
        if (a->nbounds + 2 > a->capbounds) {
            size_t cap = a->capbounds ? 2 * a->capbounds : 16;
            int64_t *b = realloc(a->bounds, cap * sizeof(*b));
            if (!b) {
                json_decref(r);
                return -ENOMEM;
            }
            a->bounds = b, a->capbounds = cap;
        }
        a->bounds[a->nbounds++] = a->run_start;
        a->bounds[a->nbounds++] = a->run_end;
        char b1[VG_TIME_LEN], b2[VG_TIME_LEN], url[512];
        snprintf(url, sizeof(url), "/api/cameras/%s/clip.mp4?start=%s&end=%s&export=%" PRId64,
                 a->camera, vg_time_format(a->run_start, b1, sizeof(b1)),
                 vg_time_format(a->run_end, b2, sizeof(b2)), a->export_id);
        json_object_set_new(r, "url", json_string(url));
    }
    return json_array_append_new(a->runs, r) == 0 ? 0 : -ENOMEM;
}

#define HASH_BUF (1u << 20)

/* SHA-256 of the first n bytes of the file at path. */
static int hash_prefix(const char *path, int64_t n, uint8_t out[32])
{
    int ret = 0;
    vg_sha256 *h = vg_sha256_new();
    uint8_t *buf = malloc(HASH_BUF);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (!h || !buf) {
        ret = -ENOMEM;
        goto out;
    }
    if (fd < 0) {
        ret = -errno;
        goto out;
    }
    for (int64_t done = 0; done < n;) {
        size_t want = n - done < (int64_t)HASH_BUF ? (size_t)(n - done) : HASH_BUF;
        ssize_t got = pread(fd, buf, want, (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            ret = got < 0 ? -errno : -EIO; /* shorter than what the index committed */
            goto out;
        }
        vg_sha256_update(h, buf, (size_t)got);
        done += got;
    }
    vg_sha256_final(h, out);
out:
    if (fd >= 0) close(fd);
    free(buf);
    vg_sha256_free(&h);
    return ret;
}

/*
 * A source segment as the manifest lists it. A closed segment carries the
 * SHA-256 recorded at close (of the whole file). A segment still being
 * written is hashed here, up to what the index has committed of it (the end
 * of its last whole fragment, "bytes"): those bytes never change again, so
 * the newest footage goes out signed too ("sha256_of": "committed_prefix";
 * `head -c BYTES FILE | sha256sum` checks it). A segment whose fsync failed
 * says so: its hash is of the bytes written, which may not all have reached
 * the disk.
 */
static json_t *segment_json(const serve__export_req *q, const index_segment *seg)
{
    char hex[65] = "", path[4096];
    uint8_t prefix[32];
    const uint8_t *digest = seg->has_sha256 ? seg->sha256 : NULL;
    int err = 0;
    if (seg->open && q) {
        err = q->abspath(q->abspath_opaque, seg->pool, seg->path, path, sizeof(path));
        if (err == 0) err = hash_prefix(path, seg->bytes, prefix);
        if (err == 0) digest = prefix;
        if (err < 0)
            vg_log_cam(LOG_WARNING, seg->camera, "serve: export: cannot hash the open segment "
                       "%s: %s", seg->path, strerror(-err));
    }
    if (digest) vg_hex(digest, 32, hex);
    json_t *o = json_pack("{s:I,s:s,s:s,s:I,s:o,s:o,s:o,s:b,s:s,s:b}", "id", (json_int_t)seg->id,
                          "pool", seg->pool, "path", seg->path, "bytes", (json_int_t)seg->bytes,
                          "sha256", digest ? json_string(hex) : json_null(), "start",
                          jtime(seg->start_us), "end", jtime(seg->end_us), "open", seg->open,
                          "sha256_of", seg->open ? "committed_prefix" : "file", "fsync_failed",
                          seg->fsync_failed != 0);
    if (o && err < 0) json_object_set_new(o, "hash_error", json_string(strerror(-err)));
    return o;
}

/* SHA-256 and length of the clip of camera over [start, end) exactly as
 * clip.mp4 serves it: the same planner (media/clip.c) over the same index
 * rows gives the same bytes, so hashing it now is hashing what is served. */
static int clip_digest(index_reader *r, const serve__export_req *q, const char *camera,
                       int64_t start_us, int64_t end_us, uint8_t out[32], uint64_t *len)
{
    media_clip *c = NULL;
    vg_sha256 *h = vg_sha256_new();
    uint8_t *buf = malloc(HASH_BUF);
    int ret = h && buf ? 0 : -ENOMEM;
    if (ret == 0)
        ret = media_clip_open(r, q->abspath, q->abspath_opaque, q->pins, camera, start_us, end_us,
                              &c);
    if (ret < 0) goto out;
    uint64_t total = media_clip_info_get(c)->length;
    for (uint64_t pos = 0; pos < total;) {
        size_t n = total - pos < HASH_BUF ? (size_t)(total - pos) : HASH_BUF;
        if ((ret = media_clip_read(c, pos, buf, n)) < 0) goto out;
        vg_sha256_update(h, buf, n);
        pos += n;
    }
    vg_sha256_final(h, out);
    *len = total;
out:
    media_clip_free(&c);
    free(buf);
    vg_sha256_free(&h);
    return ret;
}

/* Adds sha256 and bytes to each of a's clips (the export's runs). */
static int clips_digest(index_reader *r, const serve__export_req *q, run_acc *a)
{
    for (size_t i = 0; i < json_array_size(a->runs) && 2 * i + 1 < a->nbounds; i++) {
        uint8_t d[32];
        char hex[65];
        uint64_t len = 0;
        int ret = clip_digest(r, q, a->camera, a->bounds[2 * i], a->bounds[2 * i + 1], d, &len);
        if (ret < 0) {
            vg_log_cam(LOG_ERR, a->camera, "serve: export: clip %zu cannot be assembled: %s", i,
                       strerror(-ret));
            return ret;
        }
        json_t *clip = json_array_get(a->runs, i);
        vg_hex(d, 32, hex);
        if (json_object_set_new(clip, "sha256", json_string(hex)) < 0 ||
            json_object_set_new(clip, "bytes", json_integer((json_int_t)len)) < 0)
            return -ENOMEM;
    }
    return 0;
}

/*
 * A camera's clock evidence over [start, end): how each run's wall times were
 * made (ingest/clock.h: a run is anchored on the receive clock at its first
 * frame, then slewed at most 500 ppm toward the least-delayed frame). Per run:
 * why it began, the slew and steps applied, the last measured minimum of
 * receive time minus mapped time (network delay plus residual error), and the
 * camera's own clock from its RTCP sender reports minus vigild's time for the
 * same frames (last, min, max; null without sender reports). Every run that
 * begins inside the range is a discontinuity of the timeline.
 */
typedef struct clock_acc {
    json_t *runs, *disc;
    int64_t start, end;
} clock_acc;

static int on_clock_run(const index_clock_run *c, void *arg)
{
    clock_acc *a = arg;
    json_t *cam = json_null();
    if (c->ntp_samples > 0)
        cam = json_pack("{s:s,s:I,s:I,s:I,s:I}", "source", "rtcp_sender_reports", "offset_us",
                        (json_int_t)c->ntp_offset_us, "min_offset_us",
                        (json_int_t)c->ntp_offset_min_us, "max_offset_us",
                        (json_int_t)c->ntp_offset_max_us, "frames", (json_int_t)c->ntp_samples);
    json_t *o = json_pack("{s:o,s:s,s:o,s:I,s:I,s:o,s:o}", "start", jtime(c->run_start_us),
                          "cause", c->cause, "as_of", jtime(c->updated_us), "slew_us",
                          (json_int_t)c->slew_us, "step_us", (json_int_t)c->step_us,
                          "receive_offset_us",
                          c->has_recv_offset ? json_integer(c->recv_offset_us) : json_null(),
                          "camera_clock", cam);
    if (json_array_append_new(a->runs, o) < 0) return -ENOMEM;
    if (c->run_start_us > a->start && c->run_start_us < a->end &&
        json_array_append_new(a->disc, json_pack("{s:o,s:s}", "time", jtime(c->run_start_us),
                                                 "cause", c->cause)) < 0)
        return -ENOMEM;
    return 0;
}

static json_t *clock_evidence(index_reader *r, const char *camera, int64_t start, int64_t end,
                              int *err)
{
    clock_acc a = {.runs = json_array(), .disc = json_array(), .start = start, .end = end};
    *err = a.runs && a.disc ? index_query_clock_runs(r, camera, start, end, on_clock_run, &a)
                            : -ENOMEM;
    if (*err < 0) {
        json_decref(a.runs);
        json_decref(a.disc);
        return NULL;
    }
    return json_pack("{s:s,s:i,s:o,s:o}", "model",
                     "wall = receive time of a run's first frame + stream time since, slewed "
                     "toward the least-delayed frame",
                     "max_slew_ppm", 500, "runs", a.runs, "discontinuities", a.disc);
}

/* Whether b continues a's run the way clip assembly sees it (media/clip.c). */
static bool same_run(const index_segment *a, const index_segment *b)
{
    if (a->run_start_us && b->run_start_us && a->run_start_us != b->run_start_us) return false;
    return strcmp(a->codec, b->codec) == 0 && strcmp(a->audio_codec, b->audio_codec) == 0 &&
           a->width == b->width && a->height == b->height;
}

/* Adds [start_us, end_us) to a's runs; seg is the whole row (export) or
 * NULL (coverage: times only). */
static int run_add(run_acc *a, int64_t start_us, int64_t end_us, const index_segment *seg)
{
    int64_t s = start_us < a->start ? a->start : start_us;
    int64_t e = end_us > a->end ? a->end : end_us;
    if (e <= s) return 0;
    if (++a->nseg > MAX_CAM_SEGMENTS) return -E2BIG;
    a->covered_us += e - s;
    const bool rows = a->segments && seg;
    if (rows && json_array_append_new(a->segments, segment_json(a->q, seg)) < 0) return -ENOMEM;
    bool cont = a->have && s <= a->run_end + RUN_TOLERANCE_US && (!rows || same_run(&a->last, seg));
    if (rows) a->last = *seg;
    if (cont) {
        if (e > a->run_end) a->run_end = e;
        return 0;
    }
    if (a->have && run_flush(a) < 0) return -ENOMEM;
    a->have = true;
    a->run_start = s, a->run_end = e;
    return 0;
}

static int on_run_segment(const index_segment *seg, void *arg)
{
    return run_add(arg, seg->start_us, seg->end_us, seg);
}

static int on_run_span(const index_span *sp, void *arg)
{
    return run_add(arg, sp->start_us, sp->end_us, NULL);
}

/* Fills a->runs (and a->segments) for one camera. Coverage needs the times
 * alone, which the index answers without reading the segment rows. */
static int camera_runs(index_reader *r, const char *camera, run_acc *a)
{
    a->camera = camera;
    int ret = a->segments ? index_query_segments(r, camera, a->start, a->end, on_run_segment, a)
                          : index_query_spans(r, camera, a->start, a->end, on_run_span, a);
    if (ret == 0 && a->have) ret = run_flush(a);
    return ret;
}

/* serve__coverage() as text: the same members in the same order as the
 * objects below would be dumped, without an object per camera and run. */
static void coverage_text(index_reader *r, const serve__area_cam *cams, size_t n,
                          int64_t start_us, int64_t end_us, serve__reply *out)
{
    serve__jbuf b = {0};
    int ret = 0;
    serve__jbuf_puts(&b, "{\"start\":");
    serve__jbuf_time(&b, start_us);
    serve__jbuf_puts(&b, ",\"end\":");
    serve__jbuf_time(&b, end_us);
    serve__jbuf_puts(&b, ",\"cameras\":[");
    for (size_t i = 0; ret == 0 && i < n; i++) {
        run_acc a = {.start = start_us, .end = end_us, .text = &b};
        serve__jbuf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        /* A string jansson refuses made json_pack() fail: the same error. */
        bool ok = serve__jbuf_str(&b, cams[i].id);
        if (ok) serve__jbuf_puts(&b, ",\"name\":");
        ok = ok && serve__jbuf_str(&b, cams[i].name);
        if (ok) serve__jbuf_puts(&b, ",\"district\":");
        ok = ok && serve__jbuf_str(&b, cams[i].district);
        if (ok) serve__jbuf_puts(&b, ",\"site\":");
        ok = ok && serve__jbuf_str(&b, cams[i].site);
        if (ok) serve__jbuf_puts(&b, ",\"runs\":[");
        if (!ok || (ret = camera_runs(r, cams[i].id, &a)) < 0) {
            if (!ret) ret = -ENOMEM;
            break;
        }
        serve__jbuf_puts(&b, "],\"covered_seconds\":");
        json_t *cs = json_real((double)a.covered_us / 1e6); /* jansson's form of a real */
        if (cs) serve__jbuf_json(&b, cs);
        json_decref(cs);
        serve__jbuf_puts(&b, "}");
        if (!cs || b.failed) ret = -ENOMEM;
    }
    serve__jbuf_puts(&b, "]}");
    char *text = serve__jbuf_take(&b);
    if (ret == 0 && !text) ret = -ENOMEM;
    if (ret < 0) {
        free(text);
        reply_errno(out, ret, "cannot read the index");
        return;
    }
    out->status = 200;
    out->text = text;
}

void serve__coverage(index_reader *r, const serve__area_cam *cams, size_t n, int64_t start_us,
                     int64_t end_us, bool text, serve__reply *out)
{
    if (text) {
        coverage_text(r, cams, n, start_us, end_us, out);
        return;
    }
    json_t *arr = json_array();
    int ret = arr ? 0 : -ENOMEM;
    for (size_t i = 0; ret == 0 && i < n; i++) {
        run_acc a = {.start = start_us, .end = end_us, .runs = json_array()};
        if (!a.runs || (ret = camera_runs(r, cams[i].id, &a)) < 0) {
            json_decref(a.runs);
            if (!ret) ret = -ENOMEM;
            break;
        }
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:f}", "id", cams[i].id, "name", cams[i].name,
                              "district", cams[i].district, "site", cams[i].site, "runs", a.runs,
                              "covered_seconds", (double)a.covered_us / 1e6);
        if (json_array_append_new(arr, o) < 0) ret = -ENOMEM;
    }
    if (ret < 0) {
        json_decref(arr);
        reply_errno(out, ret, "cannot read the index");
        return;
    }
    out->status = 200;
    out->json = json_pack("{s:o,s:o,s:o}", "start", jtime(start_us), "end", jtime(end_us),
                          "cameras", arr);
}

/* ---- signing key ---- */

static int read_key(const char *path, uint8_t sk[SERVE__SIGN_SK])
{
    int ret = 0;
    struct stat stt;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, sk, SERVE__SIGN_SK);
    if (n != SERVE__SIGN_SK) {
        vg_log(LOG_ERR, "serve: %s is not an Ed25519 key (%zd bytes)", path, n);
        ret = -EINVAL;
    } else if (fstat(fd, &stt) == 0 && (stt.st_mode & 077)) {
        vg_log(LOG_WARNING, "serve: %s is readable by others (mode %03o); it should be 0600",
               path, (unsigned)(stt.st_mode & 0777));
    }
    close(fd);
    return ret;
}

/* 0 if sk's public half matches its seed, else -EINVAL (logged). */
static int check_key(const char *path, const uint8_t sk[SERVE__SIGN_SK], uint8_t pk[SERVE__SIGN_PK])
{
    /* The public key is derived from the seed; the stored copy must agree
     * (a file cut or edited by hand is not a key to sign evidence with). */
    if (vg_ed25519_public(sk, pk) < 0 || !vg_ct_equal(pk, sk + 32, SERVE__SIGN_PK)) {
        vg_log(LOG_ERR, "serve: export signing key %s is damaged (its public half does not "
               "match its seed)", path);
        return -EINVAL;
    }
    return 0;
}

/* Writes sk to path: with excl, only if no file is there (O_EXCL); else
 * through a temporary file renamed over it. fsynced. 0 or negative errno. */
static int write_key(const char *path, const uint8_t sk[SERVE__SIGN_SK], bool excl)
{
    char tmp[4096 + 8];
    int ret = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) return -ENAMETOOLONG;
    const char *target = excl ? path : tmp;
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0600);
    if (fd < 0) return -errno;
    if ((ret = vg_write_all(fd, sk, SERVE__SIGN_SK)) == 0 && fsync(fd) != 0) ret = -errno;
    close(fd);
    if (ret == 0 && !excl && rename(tmp, path) != 0) ret = -errno;
    if (ret == 0) ret = vg_fsync_parent(path);
    if (ret < 0) unlink(target);
    return ret;
}

/* The copy of the key in a mirror directory. */
static int mirror_path(const char *dir, char *out, size_t len)
{
    return snprintf(out, len, "%s/" SERVE_SIGNING_KEY_MIRROR, dir) >= (int)len ? -ENAMETOOLONG
                                                                               : 0;
}

/* Looks for a good copy of the key in dirs (the first one wins; copies that
 * disagree are logged). 0 with sk filled, or -ENOENT. */
static int key_from_mirrors(const char *const *dirs, size_t ndirs, uint8_t sk[SERVE__SIGN_SK],
                            char *from, size_t fromlen)
{
    uint8_t cand[SERVE__SIGN_SK], pk[SERVE__SIGN_PK];
    char p[4096];
    int found = 0;
    for (size_t i = 0; i < ndirs; i++) {
        if (mirror_path(dirs[i], p, sizeof(p)) < 0 || read_key(p, cand) < 0 ||
            check_key(p, cand, pk) < 0)
            continue;
        if (!found) {
            memcpy(sk, cand, SERVE__SIGN_SK);
            snprintf(from, fromlen, "%s", p);
            found = 1;
        } else if (!vg_ct_equal(sk, cand, SERVE__SIGN_SK)) {
            vg_log(LOG_ERR, "serve: the export signing key copies %s and %s differ; using the "
                   "first", from, p);
        }
    }
    vg_memzero(cand, sizeof(cand));
    return found ? 0 : -ENOENT;
}

/* Puts a copy of sk in every dir that has none; a different key already
 * there is left alone (it may be the one the exports were signed with). */
static void key_to_mirrors(const char *path, const char *const *dirs, size_t ndirs,
                           const uint8_t sk[SERVE__SIGN_SK])
{
    uint8_t have[SERVE__SIGN_SK];
    char p[4096];
    for (size_t i = 0; i < ndirs; i++) {
        if (mirror_path(dirs[i], p, sizeof(p)) < 0) continue;
        int r = read_key(p, have);
        if (r == 0 && vg_ct_equal(have, sk, SERVE__SIGN_SK)) continue;
        if (r == 0) {
            vg_log(LOG_ERR, "serve: the export signing key %s differs from its copy %s; the copy "
                   "is left as it is (if %s was made anew after a loss, restore the copy: stop "
                   "vigild, cp -p %s %s)", path, p, path, p, path);
            continue;
        }
        if (r == -ENOENT || r == -EINVAL) r = write_key(p, sk, false);
        if (r < 0)
            vg_log(LOG_ERR, "serve: cannot copy the export signing key to %s: %s", p,
                   strerror(-r));
    }
    vg_memzero(have, sizeof(have));
}

int serve__signing_key_load_mirrored(const char *path, const char *const *dirs, size_t ndirs,
                                     uint8_t sk[SERVE__SIGN_SK], uint8_t pk[SERVE__SIGN_PK])
{
    char from[4096];
    int ret = read_key(path, sk);
    if (ret == 0) ret = check_key(path, sk, pk);
    if (ret == -ENOENT && key_from_mirrors(dirs, ndirs, sk, from, sizeof(from)) == 0) {
        /* The index's directory lost the key; the pools kept it. */
        int w = write_key(path, sk, true);
        if (w < 0 && w != -EEXIST)
            vg_log(LOG_WARNING, "serve: cannot put the export signing key back at %s: %s; "
                   "signing with the copy %s", path, strerror(-w), from);
        vg_log(LOG_NOTICE, "serve: restored the export signing key %s from its copy %s", path,
               from);
        ret = w == -EEXIST ? read_key(path, sk) : 0;
        if (ret == 0) ret = check_key(path, sk, pk);
    } else if (ret == -ENOENT) {
        /* First use: make one. O_EXCL so two processes cannot both write one. */
        uint8_t pub[SERVE__SIGN_PK];
        if ((ret = vg_ed25519_keypair(sk, pub)) == 0) ret = write_key(path, sk, true);
        if (ret == -EEXIST) ret = read_key(path, sk);
        else if (ret == 0)
            vg_log(LOG_NOTICE, "serve: created the export signing key %s (no copy of an earlier "
                   "one was found beside the footage)", path);
        if (ret == 0) ret = check_key(path, sk, pk);
    }
    if (ret < 0) {
        vg_log(LOG_ERR, "serve: export signing key %s: %s", path, strerror(-ret));
        vg_memzero(sk, SERVE__SIGN_SK);
        return ret;
    }
    key_to_mirrors(path, dirs, ndirs, sk);
    return 0;
}

int serve__signing_key_load(const char *index_path, uint8_t sk[SERVE__SIGN_SK],
                            uint8_t pk[SERVE__SIGN_PK])
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s.signing-key", index_path) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    return serve__signing_key_load_mirrored(path, NULL, 0, sk, pk);
}

/* {"manifest":M,"signature":"S"} (malloc'd). Spliced, not built with jansson:
 * M must appear as exactly the bytes that were signed (a verifier cuts them
 * out), and M is jansson's output while S is base64, so neither needs escaping. */
static char *export_text(const char *manifest, const char *sig)
{
    size_t len = strlen(manifest) + strlen(sig) + 32;
    char *t = malloc(len);
    if (t) snprintf(t, len, "{\"manifest\":%s,\"signature\":\"%s\"}", manifest, sig);
    return t;
}

/* ---- exports ---- */

void serve__export_create(index_reader *r, const serve__export_req *q, serve__reply *out)
{
    index_export ex;
    json_t *cams = NULL, *manifest = NULL, *lock_ids = NULL;
    char *canon = NULL, *sig64 = NULL, *pk64 = NULL;
    int64_t *locks = calloc(q->ncams ? q->ncams : 1, sizeof(*locks));
    size_t nlocks = 0;
    int ret = 0;
    bool created = false;
    memset(&ex, 0, sizeof(ex));
    snprintf(ex.created_by, sizeof(ex.created_by), "%s", q->who);
    snprintf(ex.reason, sizeof(ex.reason), "%s", q->reason);
    ex.start_us = q->start_us, ex.end_us = q->end_us;
    if (!locks || !(cams = json_array()) || !(lock_ids = json_array())) {
        ret = -ENOMEM;
        goto out;
    }
    if ((ret = index_export_create(q->index_path, &ex)) < 0) goto out;
    created = true;
    for (size_t i = 0; i < q->ncams; i++) {
        const serve__area_cam *c = &q->cams[i];
        index_lock l;
        memset(&l, 0, sizeof(l));
        snprintf(l.camera, sizeof(l.camera), "%s", c->id);
        snprintf(l.reason, sizeof(l.reason), "export %" PRId64 ": %s", ex.id, q->reason);
        snprintf(l.created_by, sizeof(l.created_by), "%s", q->who);
        l.start_us = q->start_us, l.end_us = q->end_us, l.until_us = q->until_us;
        l.created_us = ex.created_us;
        if ((ret = index_lock_create(q->index_path, &l)) < 0) goto out;
        locks[nlocks++] = l.id;
        json_array_append_new(lock_ids, json_integer(l.id));
        audit(q->idx, q->who, "lock_create", l.camera, l.start_us, l.end_us,
              json_pack("{s:I,s:I}", "lock", (json_int_t)l.id, "export", (json_int_t)ex.id));

        run_acc a = {.start = q->start_us, .end = q->end_us, .runs = json_array(),
                     .segments = json_array(), .export_id = ex.id, .q = q};
        if (!a.runs || !a.segments || (ret = camera_runs(r, c->id, &a)) < 0 ||
            (ret = clips_digest(r, q, &a)) < 0) {
            json_decref(a.runs);
            json_decref(a.segments);
            free(a.bounds);
            if (!ret) ret = -ENOMEM;
            goto out;
        }
        free(a.bounds);
        json_t *clk = clock_evidence(r, c->id, q->start_us, q->end_us, &ret);
        if (!clk) {
            json_decref(a.runs);
            json_decref(a.segments);
            if (!ret) ret = -ENOMEM;
            goto out;
        }
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:[I],s:o,s:o,s:I,s:o}", "id", c->id, "name",
                              c->name, "district", c->district, "site", c->site, "locks",
                              (json_int_t)l.id, "clips", a.runs, "segments", a.segments,
                              "covered_ms", (json_int_t)(a.covered_us / 1000), "clock", clk);
        if (!o || json_array_append_new(cams, o) < 0) {
            ret = -ENOMEM;
            goto out;
        }
    }
    if (!(pk64 = vg_base64(q->pk, SERVE__SIGN_PK))) {
        ret = -ENOMEM;
        goto out;
    }
    manifest = json_pack("{s:i,s:I,s:o,s:s,s:s,s:o,s:o,s:o,s:O,s:s,s:s,s:s}", "version", 1,
                         "export", (json_int_t)ex.id, "created", jtime(ex.created_us),
                         "created_by", q->who, "reason", q->reason, "start", jtime(q->start_us),
                         "end", jtime(q->end_us), "until",
                         q->until_us ? jtime(q->until_us) : json_null(), "cameras", cams,
                         "signature_alg", "Ed25519", "public_key", pk64, "canonical_form",
                         "jansson JSON_COMPACT|JSON_SORT_KEYS|JSON_ENSURE_ASCII");
    if (!manifest ||
        !(canon = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII))) {
        ret = -ENOMEM;
        goto out;
    }
    uint8_t sig[VG_ED25519_SIG];
    if ((ret = vg_ed25519_sign(sig, canon, strlen(canon), q->sk)) < 0) goto out;
    if (!(sig64 = vg_base64(sig, sizeof(sig)))) {
        ret = -ENOMEM;
        goto out;
    }
    if ((ret = index_export_finish(q->index_path, ex.id, canon, sig64)) < 0) goto out;
    audit(q->idx, q->who, "export_create", q->ncams == 1 ? q->cams[0].id : NULL, q->start_us,
          q->end_us,
          json_pack("{s:I,s:I,s:O}", "export", (json_int_t)ex.id, "cameras", (json_int_t)q->ncams,
                    "locks", lock_ids));
    if (!(out->text = export_text(canon, sig64))) {
        ret = -ENOMEM;
        goto out;
    }
    out->status = 201;
out:
    if (ret < 0) {
        /* Undo: the footage stays only as locked as before the request. */
        for (size_t i = 0; i < nlocks; i++)
            index_lock_release(q->index_path, locks[i], q->who, "export failed");
        if (created) index_export_delete(q->index_path, ex.id);
        reply_errno(out, ret, "cannot create the export");
    }
    json_decref(manifest);
    json_decref(cams);
    json_decref(lock_ids);
    free(canon);
    free(sig64);
    free(pk64);
    free(locks);
}

void serve__export_get(const char *index_path, int64_t id, serve__reply *out)
{
    char *m = NULL, *sig = NULL;
    int ret = index_export_get(index_path, id, NULL, &m, &sig);
    if (ret == -ENOENT) {
        reply_error(out, 404, "no such export");
    } else if (ret < 0) {
        reply_errno(out, ret, "cannot read the export");
    } else if (!(out->text = export_text(m, sig))) {
        reply_error(out, 503, "out of memory");
    } else {
        out->status = 200;
    }
    free(m);
    free(sig);
}
