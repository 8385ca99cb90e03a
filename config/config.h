/*
 * config: the YAML configuration (libyaml), validated whole. Prefix: config_.
 *
 * config_load() parses the main file and every file its `include:` glob names,
 * and either returns a complete, valid config or fails with "FILE:LINE: message"
 * in err. Unknown keys, duplicate camera ids, bad ids ([a-z0-9_-]), bad enums,
 * bad sizes and unreadable password files are errors. Secrets (camera
 * passwords, password_file contents) live only in config_camera.password and
 * are registered with vg_log_add_secret() so no log line can carry them.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CONFIG_SITE_SECURITY,
    CONFIG_SITE_ONE_STOP_SHOP,
    CONFIG_SITE_TRAFFIC,
    CONFIG_SITE_FOREST,
    CONFIG_SITE_OTHER,
} config_site;

/* viewer < investigator < admin are ordered (each may do what the one before
 * may); integrator stands apart: another system's token that may post events
 * and nothing else. Compare roles with config_role_covers() only. */
typedef enum {
    CONFIG_ROLE_VIEWER = 1,
    CONFIG_ROLE_INVESTIGATOR = 2,
    CONFIG_ROLE_ADMIN = 3,
    CONFIG_ROLE_INTEGRATOR = 4,
} config_role;
typedef enum { CONFIG_SOURCE_FFMPEG, CONFIG_SOURCE_NATIVE } config_source;

typedef struct config_pool {
    char *id;
    char *path;
    uint64_t max_bytes;       /* 0 = no quota. "2TiB", "16MB", "500MiB", plain bytes */
    uint64_t min_free_bytes;  /* 0 = none. "4MB" */
    double min_free_pct;      /* 0 = none. "5%" */
    bool buffered;            /* direct_io: false -- write through the page cache */
    /* Tiers: move_to names the pool (an archive, which moves nothing on)
     * that closed segments move to once they ended move_after ago, copied at
     * most move_rate bytes/s (default 64 MiB). NULL: footage stays here. */
    char *move_to;
    int64_t move_after_us;
    uint64_t move_rate;
    int move_line;
    int sync_ms;              /* sync_ms: fdatasync open segments this often (default
                               * 1000); 0: only when a segment closes */
    char *file;               /* where it was defined */
    int line;
} config_pool;

typedef struct config_camera {
    char *id;          /* [a-z0-9_-]{1,64}, unique */
    char *name;        /* default: id */
    char *district;    /* default: "" */
    config_site site;  /* default: other */
    char *url;         /* rtsp://host[:port]/path, without credentials */
    char *sub_url;     /* sub_url: the camera's low-resolution stream (same credentials,
                        * transport and source), served to live tiles with
                        * live.mp4?stream=sub; NULL if none */
    bool record_sub;   /* record_sub: the sub stream is recorded too (default false; needs
                        * sub_url), under the camera key config_sub_key() */
    char *username;    /* NULL if none */
    char *password;    /* NULL if none; from password:, password_file: or
                        * password_credential: */
    char *password_file;
    char *password_credential; /* a systemd credential's name ($CREDENTIALS_DIRECTORY) */
    bool tcp;          /* transport: tcp (default) | udp */
    bool tls_no_verify; /* tls_verify: false -- an rtsps:// camera's certificate is not
                         * checked (explicit, logged); default: checked */
    char *tls_ca_file; /* tls_ca_file: the CAs an rtsps:// camera's certificate must chain
                        * to (PEM); NULL: the system's */
    bool enabled;      /* default true */
    char *pool;        /* pool id; default: the first pool */
    int retention_days;   /* default: the top-level retention_days */
    config_source source; /* source: native (default) | ffmpeg */
    char *file;        /* where it was defined */
    int line;
} config_camera;

/* The sub stream of a camera recorded with record_sub is stored and indexed as
 * its own camera key, "<id>.sub": the segments table's camera column carries
 * the stream, so every query of the main stream stays as it was (same rows,
 * same covering index) and the key can never be a configured id ('.' is not
 * allowed in one). Files live under <pool>/<id>.sub/YYYY/MM/DD/HH/. */
#define CONFIG_SUB_SUFFIX ".sub"
/* "<camera>.sub" into out. 0 or -ENAMETOOLONG. */
int config_sub_key(const char *camera, char *out, size_t len);

typedef struct config_token {
    char *name;
    config_role role;
    uint8_t sha256[32]; /* token_sha256 (hex in YAML) or sha256 of token_file contents */
} config_token;

/* listen: parsed once, here: "HOST:PORT", "[IPV6]:PORT". */
typedef struct config_listen {
    char host[256]; /* as written, without brackets ("localhost", "0.0.0.0", "::1") */
    int port;       /* 0..65535; 0 asks the kernel for a free port */
    bool bracketed; /* written as [IPV6] */
} config_listen;

/* Parses a listen address. 0 or -EINVAL (no host, no port, port out of
 * range, blanks or '/'). out is untouched on failure. */
int config_listen_parse(const char *s, config_listen *out);

/* http: the HTTP side's limits. A download or snapshot past a per-token cap
 * is answered 429, past a global cap 503, both with Retry-After. workers
 * takes effect at start only; the caps on every reload. */
#define CONFIG_HTTP_WORKERS 4
/* A console playing four cameras in step holds four clip downloads, and a
 * browser's <video> opens a second range request before it lets go of the
 * first (on a seek, at the start), while the next clip's HEAD is planned:
 * three per tile at worst. */
#define CONFIG_HTTP_MAX_DOWNLOADS 48
#define CONFIG_HTTP_MAX_DOWNLOADS_PER_TOKEN 12
#define CONFIG_HTTP_MAX_SNAPSHOTS 4
#define CONFIG_HTTP_MAX_SNAPSHOTS_PER_TOKEN 2
#define CONFIG_HTTP_SNAPSHOT_MAX_PIXELS (7680 * 4320) /* 8K UHD */
/* events.retention_days: the default, and the largest accepted (~270 years;
 * days in microseconds stay far inside int64). */
#define CONFIG_EVENT_RETENTION_DAYS 90
#define CONFIG_EVENT_RETENTION_MAX 100000

typedef struct config_http {
    int workers;                 /* threads for request work (queries, clip reads, snapshots) */
    int max_downloads;           /* clip and export downloads at once, all tokens */
    int max_downloads_per_token; /* ... of one token */
    int max_snapshots;           /* snapshots being made at once, all tokens */
    int max_snapshots_per_token; /* ... of one token */
    int snapshot_max_pixels;     /* a larger frame is refused (400), never decoded */
} config_http;

typedef struct config {
    char *path;            /* the main file */
    char *listen;          /* "127.0.0.1:8080" (default) */
    config_listen listen_at; /* listen, parsed */
    char *index_path;      /* index: */
    int segment_seconds;   /* default 60, 1..3600 */
    int retention_days;    /* default 30 (0 = keep until space runs out) */
    char *include;         /* glob or NULL */
    char *web_root;        /* web: directory of the console, optional */
    char *console_timezone; /* console.timezone: IANA zone of the console's times, NULL: UTC */
    config_pool *pools;    /* at least one */
    size_t npools;
    config_camera *cameras;
    size_t ncameras;
    config_http http;      /* http: (defaults CONFIG_HTTP_*) */
    bool auth_enabled;     /* an auth: section was present */
    config_token *tokens;
    size_t ntokens;
    /* events: {pre_roll, post_roll}: the clip offered with each event starts
     * pre_roll before it and ends post_roll after its end (default 10 s and
     * 20 s; "30s", "2m", or plain seconds, 0..3600 s). retention_days: events
     * older than that are deleted by retention (default 90; 0 keeps the
     * default), except those an active evidence lock covers. */
    int64_t event_pre_roll_us, event_post_roll_us;
    int event_retention_days;
    /* scrub: {period, max_rate}: every closed segment is re-read and checked
     * against its indexed SHA-256 at least once per period (default 30 days;
     * 0 turns the verifier off), reading at most max_rate bytes per second
     * (default 32 MiB). */
    int64_t scrub_period_us;
    uint64_t scrub_max_rate;
} config;

/* Loads and validates. On failure returns negative errno-style and writes
 * "FILE:LINE: message" into err. On success *out is owned by the caller. */
int config_load(const char *path, config **out, char *err, size_t errlen);
/* config_load() with CONFIG_LOAD_* flags. CONFIG_LOAD_NO_CREDENTIALS: outside
 * the service (no $CREDENTIALS_DIRECTORY) password_credential and
 * token_credential are checked as names but not read (the password stays NULL,
 * the token matches nothing): for vigilctl, which needs no camera's secret. */
#define CONFIG_LOAD_NO_CREDENTIALS 1u
int config_load_flags(const char *path, unsigned flags, config **out, char *err, size_t errlen);
void config_free(config **cfg);

/* The rule for listening without an auth: section (every request is then
 * treated as admin): only on a loopback address (127.0.0.0/8, ::1,
 * ::ffff:127.x, localhost); with auth: anywhere. Whether cfg may listen on
 * listen ("HOST:PORT"); on false, err says why. Used by vigild before it
 * listens and by `vigilctl config check`. */
bool config_listen_allowed(const config *cfg, const char *listen, char *err, size_t errlen);

const config_camera *config_find_camera(const config *cfg, const char *id);
const config_pool *config_find_pool(const config *cfg, const char *id);
/* The pool a camera records to (its pool: or the first). */
const config_pool *config_camera_pool(const config *cfg, const config_camera *cam);
/* true when a and b would NOT record the same way, i.e. they differ in url,
 * credentials (username, password), transport, pool, source or enabled; changes
 * of name/district/site/retention_days alone do not need a restart. */
bool config_camera_needs_restart(const config_camera *a, const config_camera *b);
const char *config_site_name(config_site s);
const char *config_role_name(config_role r);
/* Whether a token of role have may do what need requires (need one of the
 * ordered roles): the one home of the role order. integrator covers none. */
bool config_role_covers(config_role have, config_role need);
/* "2TiB" -> bytes; "5%" handled by caller. 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);

#endif
