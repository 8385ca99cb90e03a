/*
 * Internals shared by the files of serve/ (and its unit tests). Prefix: serve__.
 */
#ifndef VIGIL_SERVE_INTERNAL_H
#define VIGIL_SERVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/common.h"
#include "index/index.h"
#include "media/media.h"

/* Absolute path of a segment file (the same contract as media_abspath_fn). */
typedef int (*serve__abspath_fn)(void *opaque, const char *pool, const char *relpath, char *out,
                                 size_t len);

typedef struct serve__pins serve__pins;

/* ---- snapshot.c ---- */

/* Decodes the frame nearest at_us and encodes it as JPEG (*jpeg malloc'd).
 * -ENOENT: no footage there; -E2BIG: the stream's frames have more than
 * max_pixels pixels (*width, *height say how many; nothing was decoded).
 * Runs on a worker thread. */
int serve__snapshot(index_reader *r, serve__abspath_fn abspath, void *abspath_opaque,
                    const char *camera, int64_t at_us, int64_t max_pixels, int *width,
                    int *height, uint8_t **jpeg, size_t *len, int64_t *frame_us);

/* ---- pin.c ---- */

int serve__pins_new(serve__pins **out);
void serve__pins_free(serve__pins **p);
void serve__pins_add(serve__pins *p, const int64_t *ids, size_t n);
void serve__pins_remove(serve__pins *p, const int64_t *ids, size_t n);
bool serve__pins_has(serve__pins *p, int64_t id);
uint64_t serve__pins_count(serve__pins *p);
/* The registry as media/'s clip pins (p borrowed: must outlive the clip). */
media_pins serve__pins_media(serve__pins *p);

/* ---- jbuf.c: JSON text written into a growing buffer ----
 * What json_dumps(JSON_COMPACT) would write for the same values. A write that
 * runs out of memory sets failed and every later one does nothing; take()
 * then returns NULL. */

typedef struct serve__jbuf {
    char *p;
    size_t len, cap;
    bool failed;
} serve__jbuf;

/* Room for n more bytes (and a NUL); false when failed. */
bool serve__jbuf_reserve(serve__jbuf *b, size_t n);
void serve__jbuf_put(serve__jbuf *b, const void *s, size_t n);
void serve__jbuf_puts(serve__jbuf *b, const char *s);
/* s as a JSON string; false, with nothing written, when s is not valid
 * UTF-8 (jansson refuses such a string: json_string() returns NULL). */
bool serve__jbuf_str(serve__jbuf *b, const char *s);
void serve__jbuf_int(serve__jbuf *b, int64_t v);
/* us as an RFC 3339 JSON string (serve__json_time()'s text). */
void serve__jbuf_time(serve__jbuf *b, int64_t us);
/* A jansson value (any: a real too), dumped JSON_COMPACT. */
void serve__jbuf_json(serve__jbuf *b, const json_t *v);
/* The text, NUL-terminated and the caller's to free (NULL if a write
 * failed); b is left empty. */
char *serve__jbuf_take(serve__jbuf *b);
void serve__jbuf_free(serve__jbuf *b);

/* ---- evidence.c: locks, events, coverage, exports (worker-thread halves) ----
 * Each fills a reply: status (200, 201, 4xx, 5xx) and either json (an object
 * or array; errors {"error": ...}) or text (a JSON document already
 * serialized: the signed export responses). The caller owns and frees both. */
typedef struct serve__reply {
    int status;
    json_t *json;
    char *text;
} serve__reply;

/* A camera of an area query, copied from the config on the loop thread so
 * workers never read a config that a reload may free. */
typedef struct serve__area_cam {
    char id[INDEX_ID_MAX];
    char name[128];
    char district[128];
    char site[64];
} serve__area_cam;

#define SERVE__SIGN_SK VG_ED25519_SK /* seed, then public key */
#define SERVE__SIGN_PK VG_ED25519_PK

/* The lock as the API shows it (new reference). */
json_t *serve__lock_json(const index_lock *l);
/* routes_admin.c: an audit row as the API shows it. */
json_t *serve__audit_json(const index_audit *a);
/* Appends o (owned, may be NULL) to arr. A NULL row (jansson refused its text)
 * is logged and left out, so one bad row never fails a listing: 0, or -ENOMEM. */
int serve__append_row(json_t *arr, json_t *o, const char *what, int64_t id);
/* l->created_by names the caller. Writes the lock_created event (index) and a
 * lock_create audit row (idx, may be NULL). */
void serve__locks_create(const char *index_path, index_db *idx, index_lock *l, serve__reply *out);
void serve__locks_list(const char *index_path, const char *camera, int all, serve__reply *out);
/* Releases lock id for who, why required; admin may release any lock, anyone
 * else only their own (403). Audited with who and why. */
void serve__locks_release(const char *index_path, index_db *idx, int64_t id, const char *who,
                          bool admin, const char *why, serve__reply *out);
/* Events in [start, end) of camera (NULL: all) of type (NULL: all), oldest first. */
void serve__events(index_reader *r, const char *camera, const char *type, int64_t start_us,
                   int64_t end_us, serve__reply *out);
/* Per camera: its recorded runs in [start, end) and the seconds covered; as
 * the answer's text (out->text) with text, else as out->json. */
void serve__coverage(index_reader *r, const serve__area_cam *cams, size_t n, int64_t start_us,
                     int64_t end_us, bool text, serve__reply *out);

/* Loads the export signing key <index_path>.signing-key (64 raw bytes: the Ed25519 seed
 * then the public key, mode 0600), creating it on first use. 0 or negative. */
int serve__signing_key_load(const char *index_path, uint8_t sk[SERVE__SIGN_SK],
                            uint8_t pk[SERVE__SIGN_PK]);
/* The same for the key file at path, with a copy (SERVE_SIGNING_KEY_MIRROR)
 * in each of dirs (borrowed): a missing key is restored from the first good
 * copy, a new one is made only when no copy exists, and dirs without a copy
 * get one. 0 or negative (logged). */
int serve__signing_key_load_mirrored(const char *path, const char *const *dirs, size_t ndirs,
                                     uint8_t sk[SERVE__SIGN_SK], uint8_t pk[SERVE__SIGN_PK]);

typedef struct serve__export_req {
    const char *index_path;
    index_db *idx;        /* audit rows; may be NULL */
    const uint8_t *sk;    /* SERVE__SIGN_SK bytes */
    const uint8_t *pk;
    const char *who, *reason;
    int64_t start_us, end_us, until_us;
    const serve__area_cam *cams;
    size_t ncams;
    serve__abspath_fn abspath; /* segment files, to hash what is served */
    void *abspath_opaque;
    const media_pins *pins;    /* may be NULL */
} serve__export_req;

/* Locks the range on every camera, builds and signs the manifest, stores it.
 * Reply 201, text {"manifest":M,"signature":S} (see serve.h). */
void serve__export_create(index_reader *r, const serve__export_req *q, serve__reply *out);
/* Reply 200 with the stored export, or 404. */
void serve__export_get(const char *index_path, int64_t id, serve__reply *out);

/* ---- cases.c: investigations (worker-thread halves, replies as evidence.c's) ---- */

/* Creates case c over cams (one lock per camera, linked to the case). 201. */
void serve__case_create(const char *index_path, index_db *idx, index_case *c,
                        const serve__area_cam *cams, size_t n, serve__reply *out);
/* 200 with the cases, newest first (all: closed ones too). */
void serve__cases_list(const char *index_path, int all, serve__reply *out);
/* 200 with the whole case: cameras with their recorded runs (names from
 * known, the config's cameras), locks, exports, notes, chain of custody. */
void serve__case_get(index_reader *r, const char *index_path, index_db *idx, const char *who,
                     int64_t id, const serve__area_cam *known, size_t nknown, serve__reply *out);
/* Adds a note to an open case. 201. */
void serve__case_note(const char *index_path, index_db *idx, index_case_note *n,
                      serve__reply *out);
/* Closes a case (its creator, or an admin), releasing its locks. 200. */
void serve__case_close(const char *index_path, index_db *idx, int64_t id, const char *who,
                       bool admin, const char *why, serve__reply *out);
/* Exports footage of an open case: q's cameras must be the case's (q->cams
 * NULL: all of them, named from known), its range inside the case's (0: the
 * case's). The export is linked to the case. 201 as serve__export_create(). */
void serve__case_export(index_reader *r, serve__export_req *q, int64_t id,
                        const serve__area_cam *known, size_t nknown, serve__reply *out);

/* ---- zip.c: a ZIP archive streamed front to back (STORED members) ---- */

typedef struct serve__zip serve__zip;
/* Fills len bytes of a streamed member at pos (called in order). 0 or negative. */
typedef int (*serve__zip_read_fn)(void *opaque, uint64_t pos, uint8_t *buf, size_t len);
/* mtime_us: the members' time; zip64_at: sizes/offsets from which ZIP64 is
 * used (0: 0xFFFFFFFF, the format's limit). *out freed with serve__zip_free(). */
int serve__zip_new(int64_t mtime_us, uint64_t zip64_at, serve__zip **out);
void serve__zip_free(serve__zip **z); /* accepts NULL */
/* A member from memory (copied), or streamed: len bytes from read (borrowed
 * opaque, which must outlive the archive). Members go in the order added. */
int serve__zip_add_mem(serve__zip *z, const char *name, const void *data, size_t len);
int serve__zip_add_stream(serve__zip *z, const char *name, uint64_t len, serve__zip_read_fn read,
                          void *opaque);
/* Lays the archive out after the last member; *total is its exact length. */
int serve__zip_finish(serve__zip *z, uint64_t *total);
/* The next len bytes at pos, which must be where the previous read ended
 * (-EINVAL otherwise): streamed members' CRCs are computed as they pass. */
int serve__zip_read(serve__zip *z, uint64_t pos, uint8_t *buf, size_t len);

/* ---- bundle.c: an export as a ZIP a court verifies with standard tools ---- */

typedef struct serve__bundle serve__bundle;
typedef struct serve__bundle_req {
    const char *index_path;
    int64_t export_id;
    const uint8_t *sk, *pk; /* the export signing key */
    serve__abspath_fn abspath;
    void *abspath_opaque;
    const media_pins *pins; /* the clips stay pinned while the bundle lives; may be NULL */
} serve__bundle_req;
/* Plans export q->export_id's bundle (worker thread): its clips as the
 * manifest lists them, the signed manifest, its signature, the public key,
 * SHA256SUMS (signed too) and the VERIFY note. *len: the archive's length.
 * 0; -ENOENT (no such export), -ESTALE (a clip no longer assembles to the
 * bytes its manifest states), -ENOTSUP (an export whose manifest predates clip
 * hashes), or negative. *out freed with serve__bundle_free(). */
int serve__bundle_open(index_reader *r, const serve__bundle_req *q, serve__bundle **out,
                       uint64_t *len, index_export *ex);
/* serve__zip_read() of the bundle. */
int serve__bundle_read(serve__bundle *b, uint64_t pos, uint8_t *buf, size_t len);
void serve__bundle_free(serve__bundle **b); /* accepts NULL */

/* ---- http.c helpers (pure, unit-tested) ---- */

/* Parses a Range header against a body of length len. Returns 1 with
 * [*first, *last] for one satisfiable range, 0 when the header should be
 * ignored (absent, malformed, several ranges), -1 when unsatisfiable (416). */
int serve__range_parse(const char *v, size_t vlen, uint64_t len, uint64_t *first, uint64_t *last);
/* True when start < end and end - start <= max_us, the subtraction checked:
 * the one place a requested time range is measured against its cap. */
bool serve__range_ok(int64_t start, int64_t end, int64_t max_us);
/* Finds query parameter name; percent-decodes into out ('+' stays '+', so
 * unencoded RFC 3339 offsets work). 1 found, 0 absent, -1 malformed/too long. */
int serve__query_get(const char *q, size_t qlen, const char *name, char *out, size_t outlen);

#endif
