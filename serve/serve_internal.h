/*
 * Internals shared by the files of serve/ (and its unit tests). Prefix: serve__.
 */
#ifndef VIGIL_SERVE_INTERNAL_H
#define VIGIL_SERVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "index/index.h"

/* ---- mp4.c: the few ISO BMFF boxes a clip needs ---- */

#define SERVE__MAX_TRACKS 4
#define SERVE__MAX_TRUNS 16 /* per moof, all trafs together */

typedef struct serve__track {
    uint32_t id;
    uint32_t timescale;
    uint32_t handler; /* 'vide', 'soun', ... */
    uint32_t def_duration, def_size, def_flags; /* from trex */
} serve__track;

/* An init segment (ftyp + moov) as the mov muxer writes it for fragmented MP4. */
typedef struct serve__init {
    size_t ftyp_off, ftyp_len;
    size_t moov_off, moov_len;
    uint32_t movie_timescale;
    int ntracks;
    int video; /* index into tracks of the (first) video track */
    serve__track tracks[SERVE__MAX_TRACKS];
    uint64_t sig; /* hash of what must match for two segments to be concatenated */
} serve__init;

/* Parses ftyp+moov at the start of b. 0, -EINVAL (not an fMP4 init segment) or
 * -ENOTSUP (more tracks than we handle, no video track). */
int serve__init_parse(const uint8_t *b, size_t len, serve__init *out);

typedef struct serve__trun {
    uint32_t box_off;     /* of the trun box within the moof */
    uint32_t flags, count;
    int32_t data_offset;  /* relative to the moof start */
    int track;            /* index into init->tracks */
} serve__trun;

typedef struct serve__moof {
    uint32_t size;
    uint32_t seq_off;                   /* offset of mfhd's sequence_number */
    int ntruns;
    serve__trun truns[SERVE__MAX_TRUNS];
    bool has[SERVE__MAX_TRACKS];        /* the track has a traf here */
    uint32_t tfdt_off[SERVE__MAX_TRACKS]; /* offset of tfdt's value (0: no tfdt) */
    int tfdt_v[SERVE__MAX_TRACKS];
    uint64_t tfdt[SERVE__MAX_TRACKS];
    uint64_t dur[SERVE__MAX_TRACKS];    /* sum of the sample durations */
    uint64_t bytes[SERVE__MAX_TRACKS];  /* sum of the sample sizes */
} serve__moof;

/* Parses a moof box (b starts at its header, len >= its size). Requires each
 * trun to carry a data offset and each traf to use default-base-is-moof.
 * 0, -EINVAL, -ENOTSUP, or -ENODATA when it has no video track fragment. */
int serve__moof_parse(const uint8_t *b, size_t len, const serve__init *init, serve__moof *m);
/* Rewrites in place: sequence number and, per track t, tfdt += delta[t].
 * -ERANGE if a new tfdt does not fit its field. */
int serve__moof_patch(uint8_t *b, const serve__moof *m, uint32_t seq, const int64_t *delta);

typedef struct serve__range {
    uint64_t off; /* relative to the moof start in the source file */
    uint64_t len;
} serve__range;

/* Builds the moof + mdat header of a fragment cut at limit[t] (decode time in
 * the track's timescale, original timeline: samples with dts >= limit are
 * dropped), with seq and tfdt += delta[t]. *out is malloc'd (caller frees);
 * ranges (at most SERVE__MAX_TRUNS) are the media bytes that follow, in order.
 * kept_dur[t] receives the duration kept per track. 0 or negative. */
int serve__moof_cut(const uint8_t *b, const serve__init *init, const serve__moof *m,
                    const uint64_t *limit, uint32_t seq, const int64_t *delta, uint8_t **out,
                    size_t *out_len, serve__range *ranges, int *nranges, uint64_t *kept_dur);

/* Writes the clip header: ftyp, moov (mvex gets an mehd with duration_movie),
 * then a sidx of the video track when nrefs > 0 (sizes[i], durs[i] per fragment,
 * in the video timescale). *out malloc'd. 0 or negative. */
int serve__header_build(const uint8_t *init_buf, const serve__init *init, uint64_t duration_video,
                        const uint32_t *sizes, const uint32_t *durs, size_t nrefs, uint8_t **out,
                        size_t *out_len);

/* Scans a segment file box by box into a fragment table (as the recorder
 * would have indexed it): offsets, sizes, keyframe flag, and wall times from
 * the video tfdt with start_us as the time of decode time 0. *out malloc'd.
 * *init_len receives the length of the init segment. 0 or negative. */
int serve__scan_file(const char *path, int64_t start_us, index_fragment **out, size_t *n,
                     size_t *init_len);

uint64_t serve__fnv1a(uint64_t h, const void *p, size_t n);
#define SERVE__FNV_INIT 0xcbf29ce484222325ULL

/* ---- clip.c ---- */

typedef int (*serve__abspath_fn)(void *opaque, const char *pool, const char *relpath, char *out,
                                 size_t len);

typedef struct serve__clip serve__clip;
typedef struct serve__pins serve__pins;

typedef struct serve__clip_info {
    uint64_t length;
    int64_t start_us, end_us;   /* wall range actually covered */
    const char *truncated;      /* NULL, "gap" or "codec_change" */
    char etag[24];              /* "\"...\"" */
    const int64_t *segment_ids; /* pinned while the clip lives */
    size_t nsegments;
} serve__clip_info;

/* Plans the clip of camera over [start_us, end_us); its segments are pinned
 * in pins (may be NULL) until serve__clip_free(). -ENOENT: no footage,
 * -EIO/-EAGAIN...: the index or a file failed (details logged). Runs on a
 * worker thread. *out freed with serve__clip_free(). */
int serve__clip_open(index_reader *r, serve__abspath_fn abspath, void *abspath_opaque,
                     serve__pins *pins, const char *camera, int64_t start_us, int64_t end_us, serve__clip **out);
const serve__clip_info *serve__clip_info_get(const serve__clip *c);
/* Reads len bytes of the clip at pos (pread; page cache or disk). 0 or negative. */
int serve__clip_read(serve__clip *c, uint64_t pos, uint8_t *buf, size_t len);
void serve__clip_free(serve__clip **c);

/* ---- snapshot.c ---- */

/* Decodes the frame nearest at_us and encodes it as JPEG (*jpeg malloc'd).
 * -ENOENT: no footage there. Runs on a worker thread. */
int serve__snapshot(index_reader *r, serve__abspath_fn abspath, void *abspath_opaque,
                    const char *camera, int64_t at_us, uint8_t **jpeg, size_t *len,
                    int64_t *frame_us);

/* ---- pin.c ---- */

int serve__pins_new(serve__pins **out);
void serve__pins_free(serve__pins **p);
void serve__pins_add(serve__pins *p, const int64_t *ids, size_t n);
void serve__pins_remove(serve__pins *p, const int64_t *ids, size_t n);
bool serve__pins_has(serve__pins *p, int64_t id);
uint64_t serve__pins_count(serve__pins *p);

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

#define SERVE__SIGN_SK 64 /* crypto_sign_SECRETKEYBYTES */
#define SERVE__SIGN_PK 32 /* crypto_sign_PUBLICKEYBYTES */

/* The lock as the API shows it (new reference). */
json_t *serve__lock_json(const index_lock *l);
/* l->created_by names the caller. Writes the lock_created event (index) and a
 * lock_create audit row (idx, may be NULL). */
void serve__locks_create(const char *index_path, index_db *idx, index_lock *l, serve__reply *out);
void serve__locks_list(const char *index_path, const char *camera, int all, serve__reply *out);
void serve__locks_release(const char *index_path, index_db *idx, int64_t id, const char *who,
                          const char *why, serve__reply *out);
/* Events in [start, end) of camera (NULL: all) of type (NULL: all), oldest first. */
void serve__events(index_reader *r, const char *camera, const char *type, int64_t start_us,
                   int64_t end_us, serve__reply *out);
/* Per camera: its recorded runs in [start, end) and the seconds covered. */
void serve__coverage(index_reader *r, const serve__area_cam *cams, size_t n, int64_t start_us,
                     int64_t end_us, serve__reply *out);

/* Loads the export signing key <index_path>.signing-key (64 raw bytes, libsodium's
 * Ed25519 secret key, mode 0600), creating it on first use. 0 or negative. */
int serve__signing_key_load(const char *index_path, uint8_t sk[SERVE__SIGN_SK],
                            uint8_t pk[SERVE__SIGN_PK]);

/* b[0..n) in standard base64 with padding (malloc'd; NULL on ENOMEM). */
char *serve__base64(const uint8_t *b, size_t n);

typedef struct serve__export_req {
    const char *index_path;
    index_db *idx;        /* audit rows; may be NULL */
    const uint8_t *sk;    /* SERVE__SIGN_SK bytes */
    const uint8_t *pk;
    const char *who, *reason;
    int64_t start_us, end_us, until_us;
    const serve__area_cam *cams;
    size_t ncams;
} serve__export_req;

/* Locks the range on every camera, builds and signs the manifest, stores it.
 * Reply 201, text {"manifest":M,"signature":S} (see serve.h). */
void serve__export_create(index_reader *r, const serve__export_req *q, serve__reply *out);
/* Reply 200 with the stored export, or 404. */
void serve__export_get(const char *index_path, int64_t id, serve__reply *out);

/* ---- http.c helpers (pure, unit-tested) ---- */

/* Parses a Range header against a body of length len. Returns 1 with
 * [*first, *last] for one satisfiable range, 0 when the header should be
 * ignored (absent, malformed, several ranges), -1 when unsatisfiable (416). */
int serve__range_parse(const char *v, size_t vlen, uint64_t len, uint64_t *first, uint64_t *last);
/* Finds query parameter name; percent-decodes into out ('+' stays '+', so
 * unencoded RFC 3339 offsets work). 1 found, 0 absent, -1 malformed/too long. */
int serve__query_get(const char *q, size_t qlen, const char *name, char *out, size_t outlen);

#endif
