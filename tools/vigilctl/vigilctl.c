/*
 * vigilctl: the command-line tool of vigil. It reads the configuration to find
 * the index and the pools, opens the index read-only (WAL lets it read while
 * vigild writes) and prints one JSON object per line, so its output pipes into
 * jq, grep or a script.
 *
 * Each subcommand is one function in the commands[] table with its own usage
 * text; to add one (status, cameras, lock, audit, config check, clip...), write
 * `static int cmd_x(vctl *v, int argc, char **argv)`, parse its options with
 * getopt_long (see cmd_segments), get the config and index through
 * vctl_config()/vctl_reader() and add a row to the table.
 *
 * Exit status: 0 OK, 1 runtime error (no index, unreadable config), 2 usage.
 */
#include "common/common.h"
#include "config/config.h"
#include "index/index.h"
#include "media/media.h"
#include "storage/storage.h"
#include "tools/vigilctl/vigilctl_format.h"
#include "tools/vigilctl/vigilctl_http.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define DEFAULT_CONFIG "/etc/vigil/vigil.yaml"

typedef struct vctl {
    const char *config_path;
    config *cfg;          /* loaded on first use */
    index_reader *reader; /* opened on first use */
} vctl;

typedef struct command {
    const char *name;
    const char *summary;
    const char *usage;                          /* printed by `vigilctl CMD --help` */
    int (*run)(vctl *v, int argc, char **argv); /* argv[0] is the command name */
} command;

static const command *find_command(const char *name);

/* ---- shared helpers for subcommands ---- */

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vigilctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vigilctl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}

/* The configuration, loaded once. 0 or an exit status (message printed). */
static int vctl_config(vctl *v, const config **out)
{
    if (!v->cfg) {
        char err[512] = "";
        /* An operator's shell has no $CREDENTIALS_DIRECTORY (only the unit
         * does), and no command here needs a camera's password. */
        int ret = config_load_flags(v->config_path, CONFIG_LOAD_NO_CREDENTIALS, &v->cfg, err,
                                    sizeof(err));
        if (ret < 0) {
            fprintf(stderr, "vigilctl: %s\n", err[0] ? err : strerror(-ret));
            return EXIT_FAILURE;
        }
        /* Lock changes are mirrored beside the footage, as the daemon's are
         * (index/mirror.c): the roots of the pools whose identity is right. */
        const char **dirs = calloc(v->cfg->npools ? v->cfg->npools : 1, sizeof(*dirs));
        size_t n = 0;
        for (size_t i = 0; dirs && i < v->cfg->npools; i++)
            if (storage_pool_identified(v->cfg->pools[i].path, v->cfg->pools[i].id))
                dirs[n++] = v->cfg->pools[i].path;
        if (!dirs || index_lock_mirror_set(dirs, n) < 0) {
            free(dirs);
            fprintf(stderr, "vigilctl: out of memory\n");
            return EXIT_FAILURE;
        }
        free(dirs);
    }
    *out = v->cfg;
    return 0;
}

/* The index, opened read-only once. 0 or an exit status (message printed). */
static int vctl_reader(vctl *v, index_reader **out)
{
    const config *cfg;
    int ret = vctl_config(v, &cfg);
    if (ret) return ret;
    if (!v->reader) {
        ret = index_reader_open(cfg->index_path, &v->reader);
        if (ret == -ENOENT) {
            fprintf(stderr, "vigilctl: no index at %s yet (vigild has not run with this config?)\n",
                    cfg->index_path);
            return EXIT_FAILURE;
        }
        if (ret < 0) {
            fprintf(stderr, "vigilctl: cannot read the index %s: %s\n", cfg->index_path,
                    ret == -EBADMSG ? "not a vigil index" : strerror(-ret));
            return EXIT_FAILURE;
        }
    }
    *out = v->reader;
    return 0;
}

/* Parses a --start/--end value. 0 or an exit status. */
static int parse_time_opt(const char *cmd, const char *opt, const char *s, int64_t *out)
{
    if (vg_time_parse(s, out) < 0)
        return usage_error(cmd,
                           "%s: '%s' is neither RFC 3339 (2026-11-23T07:00:00+07:00) nor "
                           "Unix seconds",
                           opt, s);
    return 0;
}

/* Prints one JSON line (and frees it). 0, or -ENOMEM. */
static int print_line(char *line)
{
    if (!line) {
        fprintf(stderr, "vigilctl: out of memory\n");
        return -ENOMEM;
    }
    fputs(line, stdout);
    fputc('\n', stdout);
    free(line);
    return 0;
}

/* Common end of a listing command: query result and stdout state to an exit status. */
static int finish_listing(int ret)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "vigilctl: writing the output: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    if (ret < 0) {
        if (ret != -ENOMEM) fprintf(stderr, "vigilctl: query failed: %s\n", strerror(-ret));
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

enum {
    OPT_START = 1000,
    OPT_END,
    OPT_CAMERA,
    OPT_REASON,
    OPT_UNTIL,
    OPT_ALL,
    OPT_LIMIT,
    OPT_URL,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_OFFLINE,
    OPT_PUBLIC_KEY,
    OPT_CHECK_FILES,
    OPT_TITLE,
    OPT_DISTRICT,
    OPT_SITE,
    OPT_Q,
    OPT_TYPE
};

static void audit_local(const config *cfg, const char *action, const char *camera,
                        int64_t start_us, int64_t end_us, const char *detail);

/* Shared getopt handling of --help and the errors getopt reports. Returns -1
 * to go on with c, or an exit status. */
static int common_opt(const char *cmd, int c, char **argv)
{
    if (c == 'h') {
        fputs(find_command(cmd)->usage, stdout);
        return EXIT_SUCCESS;
    }
    if (c == ':') return usage_error(cmd, "%s: missing value", argv[optind - 1]);
    if (c == '?') return usage_error(cmd, "%s: unknown option", argv[optind - 1]);
    return -1;
}

/* ---- segments ---- */

typedef struct seg_print {
    const config *cfg;
} seg_print;

static int print_segment(const index_segment *s, void *arg)
{
    seg_print *p = arg;
    const config_pool *pool = config_find_pool(p->cfg, s->pool);
    if (!pool) {
        static char warned[INDEX_ID_MAX];
        if (strcmp(warned, s->pool)) {
            fprintf(stderr, "vigilctl: pool '%s' is not in the config: paths printed as null\n",
                    s->pool);
            snprintf(warned, sizeof(warned), "%s", s->pool);
        }
    }
    return print_line(vigilctl_segment_json(s, pool ? pool->path : NULL));
}

static int cmd_segments(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"start", required_argument, NULL, OPT_START},
                                         {"end", required_argument, NULL, OPT_END},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "segments";
    int64_t start = INT64_MIN, end = INT64_MAX;
    int c, ret;
    optind = 0; /* glibc: full reset for a new argv */
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt("segments", c, argv)) >= 0) return ret;
        if (c == OPT_START && (ret = parse_time_opt(cmd, "--start", optarg, &start))) return ret;
        if (c == OPT_END && (ret = parse_time_opt(cmd, "--end", optarg, &end))) return ret;
    }
    if (optind != argc - 1)
        return usage_error(cmd, optind == argc ? "segments: CAMERA is required"
                                               : "segments: one CAMERA only");
    if (start >= end) return usage_error(cmd, "segments: --start must be before --end");
    const char *camera = argv[optind];
    if (strlen(camera) >= INDEX_ID_MAX)
        return usage_error(cmd, "segments: '%s' is not a camera id", camera);

    index_reader *r;
    seg_print p;
    if ((ret = vctl_reader(v, &r)) || (ret = vctl_config(v, &p.cfg))) return ret;
    if (!config_find_camera(p.cfg, camera))
        fprintf(stderr, "vigilctl: note: camera '%s' is not in the config\n", camera);
    return finish_listing(index_query_segments(r, camera, start, end, print_segment, &p));
}

/* ---- events ---- */

static int print_event(const index_event *e, void *arg)
{
    (void)arg;
    return print_line(vigilctl_event_json(e));
}

static int events_api(vctl *v, int argc, char **argv);

static int cmd_events(vctl *v, int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "search") || !strcmp(argv[1], "post")))
        return events_api(v, argc - 1, argv + 1);
    static const struct option opts[] = {{"camera", required_argument, NULL, OPT_CAMERA},
                                         {"start", required_argument, NULL, OPT_START},
                                         {"end", required_argument, NULL, OPT_END},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "events";
    const char *camera = NULL;
    int64_t start = INT64_MIN, end = INT64_MAX;
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt("events", c, argv)) >= 0) return ret;
        if (c == OPT_CAMERA) camera = optarg;
        if (c == OPT_START && (ret = parse_time_opt(cmd, "--start", optarg, &start))) return ret;
        if (c == OPT_END && (ret = parse_time_opt(cmd, "--end", optarg, &end))) return ret;
    }
    if (optind != argc) return usage_error(cmd, "events: unexpected argument '%s'", argv[optind]);
    if (start >= end) return usage_error(cmd, "events: --start must be before --end");

    index_reader *r;
    if ((ret = vctl_reader(v, &r))) return ret;
    return finish_listing(index_query_events(r, camera, start, end, print_event, NULL));
}

/* ---- evidence locks (issue 4) ---- */

static char *lock_json(const index_lock *l)
{
    char a[VG_TIME_LEN], b[VG_TIME_LEN], c[VG_TIME_LEN], u[VG_TIME_LEN], r[VG_TIME_LEN];
    json_t *o = json_pack("{sI ss ss ss ss ss ss so so so}", "id", (json_int_t)l->id, "camera",
                          l->camera, "start", vg_time_format(l->start_us, a, sizeof(a)), "end",
                          vg_time_format(l->end_us, b, sizeof(b)), "reason", l->reason,
                          "created_by", l->created_by, "created",
                          vg_time_format(l->created_us, c, sizeof(c)), "until",
                          l->until_us ? json_string(vg_time_format(l->until_us, u, sizeof(u)))
                                      : json_null(),
                          "released",
                          l->released_us
                              ? json_string(vg_time_format(l->released_us, r, sizeof(r)))
                              : json_null(),
                          "released_by",
                          l->released_us ? json_string(l->released_by) : json_null());
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return line;
}

static int print_lock(const index_lock *l, void *arg)
{
    (void)arg;
    return print_line(lock_json(l));
}

static int lock_failed(const char *what, const char *path, int ret)
{
    fprintf(stderr, "vigilctl: %s: %s\n", what,
            ret == -EPROTONOSUPPORT ? "the index predates locks (start vigild once)"
            : ret == -ENOENT        ? "no such lock"
            : ret == -EALREADY      ? "already released"
                                    : strerror(-ret));
    (void)path;
    return EXIT_FAILURE;
}

static int cmd_lock(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, OPT_REASON},
                                         {"until", required_argument, NULL, OPT_UNTIL},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "lock";
    const char *reason = NULL;
    index_lock l;
    int c, ret;
    memset(&l, 0, sizeof(l));
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
        if (c == OPT_REASON) reason = optarg;
        if (c == OPT_UNTIL && (ret = parse_time_opt(cmd, "--until", optarg, &l.until_us)))
            return ret;
    }
    if (argc - optind != 3) return usage_error(cmd, "lock: CAMERA START END are required");
    if (!reason || !*reason) return usage_error(cmd, "lock: --reason is required");
    if (strlen(argv[optind]) >= sizeof(l.camera) || strlen(reason) >= sizeof(l.reason))
        return usage_error(cmd, "lock: camera id or reason too long");
    snprintf(l.camera, sizeof(l.camera), "%s", argv[optind]);
    snprintf(l.reason, sizeof(l.reason), "%s", reason);
    if ((ret = parse_time_opt(cmd, "START", argv[optind + 1], &l.start_us)) ||
        (ret = parse_time_opt(cmd, "END", argv[optind + 2], &l.end_us)))
        return ret;
    if (l.start_us >= l.end_us) return usage_error(cmd, "lock: START must be before END");
    /* Run on the server by someone with the config: "local" (issue 5 names tokens). */
    snprintf(l.created_by, sizeof(l.created_by), "local");
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) return ret;
    if (!config_find_camera(cfg, l.camera))
        fprintf(stderr, "vigilctl: note: camera '%s' is not in the config\n", l.camera);
    if ((ret = index_lock_create(cfg->index_path, &l)) < 0)
        return lock_failed("lock", cfg->index_path, ret);
    char detail[64];
    snprintf(detail, sizeof(detail), "{\"lock\":%lld}", (long long)l.id);
    audit_local(cfg, "lock_create", l.camera, l.start_us, l.end_us, detail);
    return finish_listing(print_lock(&l, NULL));
}

static int cmd_unlock(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, OPT_REASON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "unlock";
    const char *reason = "";
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
        if (c == OPT_REASON) reason = optarg;
    }
    if (argc - optind != 1) return usage_error(cmd, "unlock: one lock ID is required");
    if (!*reason) return usage_error(cmd, "unlock: --reason is required");
    char *end;
    long long id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0) return usage_error(cmd, "unlock: '%s' is not a lock id", argv[optind]);
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) return ret;
    if ((ret = index_lock_release(cfg->index_path, id, "local", reason)) < 0)
        return lock_failed("unlock", cfg->index_path, ret);
    char detail[64];
    snprintf(detail, sizeof(detail), "{\"lock\":%lld}", id);
    audit_local(cfg, "lock_release", NULL, 0, 0, detail);
    return EXIT_SUCCESS;
}

static int cmd_locks(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"camera", required_argument, NULL, OPT_CAMERA},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "locks";
    const char *camera = NULL;
    int all = 0, c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
        if (c == OPT_CAMERA) camera = optarg;
        if (c == OPT_ALL) all = 1;
    }
    if (optind != argc) return usage_error(cmd, "locks: unexpected argument '%s'", argv[optind]);
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) return ret;
    ret = index_locks_list(cfg->index_path, camera, all, vg_now_us(), print_lock, NULL);
    if (ret < 0 && ret != -ENOMEM) return lock_failed("locks", cfg->index_path, ret);
    return finish_listing(ret);
}

/* ---- service commands (issue 5): config check, audit, status, cameras, clip ---- */

/* The audit row of something vigilctl did on the server (token "local"). A
 * failure is reported but does not fail the command: the action is done. */
static void audit_local(const config *cfg, const char *action, const char *camera, int64_t start_us,
                        int64_t end_us, const char *detail)
{
    index_audit a;
    index_audit_fill(&a, "local", action, camera, start_us, end_us, detail);
    int ret = index_audit_add_direct(cfg->index_path, &a);
    if (ret < 0)
        fprintf(stderr, "vigilctl: note: not audited (%s)\n",
                ret == -EPROTONOSUPPORT ? "the index predates the audit trail; start vigild once"
                                        : strerror(-ret));
}

static int cmd_config(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *cmd = "config";
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
    if (argc - optind != 1 || strcmp(argv[optind], "check") != 0)
        return usage_error(cmd, "config: the only action is 'check'");
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) return ret; /* prints FILE:LINE: message */
    char err[512];
    if (!config_listen_allowed(cfg, cfg->listen, err, sizeof(err))) {
        fprintf(stderr, "vigilctl: %s\n", err);
        return EXIT_FAILURE;
    }
    size_t enabled = 0;
    for (size_t i = 0; i < cfg->ncameras; i++)
        enabled += cfg->cameras[i].enabled;
    printf("%s: OK: %zu cameras (%zu enabled), %zu pools, %s\n", cfg->path, cfg->ncameras, enabled,
           cfg->npools, cfg->auth_enabled ? "auth on" : "no auth (loopback only)");
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    for (size_t i = 0; i < cfg->ncameras && (!creds || !*creds); i++)
        if (cfg->cameras[i].password_credential) {
            fprintf(stderr, "vigilctl: note: credentials not read (no $CREDENTIALS_DIRECTORY "
                    "outside the service); vigild reads them at start\n");
            break;
        }
    return finish_listing(0);
}

static char *audit_json(const index_audit *a)
{
    char t[VG_TIME_LEN], s[VG_TIME_LEN], e[VG_TIME_LEN];
    bool range = a->start_us || a->end_us;
    json_t *o =
        json_pack("{sI ss ss ss so so so ss}", "id", (json_int_t)a->id, "time",
                  vg_time_format(a->time_us, t, sizeof(t)), "token", a->token, "action", a->action,
                  "camera", a->camera[0] ? json_string(a->camera) : json_null(), "start",
                  range ? json_string(vg_time_format(a->start_us, s, sizeof(s))) : json_null(),
                  "end", range ? json_string(vg_time_format(a->end_us, e, sizeof(e))) : json_null(),
                  "detail", a->detail);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return line;
}

static int print_audit(const index_audit *a, void *arg)
{
    (void)arg;
    return print_line(audit_json(a));
}

/* `audit verify`: {"ok":true,"rows":N,"head":HEX}, or {"ok":false,"rows":N,
 * "broken_row":ID,"problem":TEXT} and exit 1 (the problem on stderr too). */
static int audit_verify(const config *cfg)
{
    index_audit_check c;
    int ret = index_audit_verify(cfg->index_path, &c);
    if (ret == -ENOENT || ret == -EPROTONOSUPPORT) {
        fprintf(stderr, "vigilctl: %s has no audit chain yet (start vigild once)\n",
                cfg->index_path);
        return EXIT_FAILURE;
    }
    if (ret < 0) return finish_listing(ret);
    json_t *o;
    if (c.broken_id) {
        fprintf(stderr, "vigilctl: audit trail broken: %s\n", c.problem);
        o = json_pack("{sb sI sI ss}", "ok", 0, "rows", (json_int_t)c.rows, "broken_row",
                      (json_int_t)c.broken_id, "problem", c.problem);
    } else {
        char hex[65];
        vg_hex(c.head, sizeof(c.head), hex);
        o = json_pack("{sb sI ss}", "ok", 1, "rows", (json_int_t)c.rows, "head", hex);
    }
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    ret = finish_listing(print_line(line));
    return ret == EXIT_SUCCESS && c.broken_id ? EXIT_FAILURE : ret;
}

static int cmd_audit(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"camera", required_argument, NULL, OPT_CAMERA},
                                         {"start", required_argument, NULL, OPT_START},
                                         {"end", required_argument, NULL, OPT_END},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "audit";
    const char *camera = NULL;
    int64_t start = INT64_MIN, end = INT64_MAX, limit = 0;
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
        if (c == OPT_CAMERA) camera = optarg;
        if (c == OPT_START && (ret = parse_time_opt(cmd, "--start", optarg, &start))) return ret;
        if (c == OPT_END && (ret = parse_time_opt(cmd, "--end", optarg, &end))) return ret;
        if (c == OPT_LIMIT) {
            char *e;
            limit = strtoll(optarg, &e, 10);
            if (*e || limit <= 0) return usage_error(cmd, "audit: --limit must be a count");
        }
    }
    bool verify = argc - optind == 1 && !strcmp(argv[optind], "verify");
    if (optind != argc && !verify)
        return usage_error(cmd, "audit: unexpected argument '%s'", argv[optind]);
    if (verify && (camera || start != INT64_MIN || end != INT64_MAX || limit))
        return usage_error(cmd, "audit verify: checks the whole trail (no options)");
    if (start >= end) return usage_error(cmd, "audit: --start must be before --end");
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) return ret;
    if (verify) return audit_verify(cfg);
    ret = index_audit_list(cfg->index_path, camera, start, end, limit, print_audit, NULL);
    if (ret == -ENOENT || ret == -EPROTONOSUPPORT) {
        fprintf(stderr, "vigilctl: %s has no audit trail yet (start vigild once)\n",
                cfg->index_path);
        return EXIT_FAILURE;
    }
    return finish_listing(ret);
}

/* --url / --token / --token-file shared by the commands that talk to vigild. */
typedef struct api_opts {
    const char *url;
    char *token; /* malloc'd */
    char base[160];
} api_opts;

static int api_opt(const char *cmd, int c, api_opts *a)
{
    if (c == OPT_URL) a->url = optarg;
    if (c == OPT_TOKEN) {
        free(a->token);
        a->token = strdup(optarg);
    }
    if (c == OPT_TOKEN_FILE) {
        free(a->token);
        a->token = NULL;
        if (vg_read_small_file(optarg, &a->token) < 0)
            return usage_error(cmd, "%s: --token-file: cannot read '%s'", cmd, optarg);
    }
    return 0;
}

static void api_resolve(api_opts *a, const config *cfg)
{
    const char *env_token = getenv("VIGIL_TOKEN");
    if (!a->token && env_token) a->token = strdup(env_token);
    if (a->url)
        snprintf(a->base, sizeof(a->base), "%s", a->url);
    else
        vigilctl_http_base(cfg->listen, a->base, sizeof(a->base));
    size_t n = strlen(a->base);
    while (n > 0 && a->base[n - 1] == '/')
        a->base[--n] = 0;
}

static void api_free(api_opts *a)
{
    if (a->token) vg_memzero(a->token, strlen(a->token));
    free(a->token);
    a->token = NULL;
}

/* Last recorded instant of camera per the index (0: nothing in the last 7 days). */
static int last_end_cb(const index_segment *s, void *arg)
{
    int64_t *end = arg;
    if (s->end_us > *end) *end = s->end_us;
    return 0;
}

static int64_t last_recorded(index_reader *r, const char *camera)
{
    int64_t end = 0;
    if (r)
        index_query_segments(r, camera, vg_now_us() - INT64_C(7) * 86400 * 1000000, INT64_MAX,
                             last_end_cb, &end);
    return end;
}

/* The cameras as the config and the index know them (no daemon needed). */
static json_t *cameras_offline(vctl *v, const config *cfg)
{
    index_reader *r = NULL;
    if (vctl_reader(v, &r)) r = NULL; /* no index yet: no last_recorded */
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < cfg->ncameras; i++) {
        const config_camera *cc = &cfg->cameras[i];
        const config_pool *p = config_camera_pool(cfg, cc);
        int64_t last = last_recorded(r, cc->id);
        char t[VG_TIME_LEN];
        json_array_append_new(
            arr, json_pack("{ss ss ss ss sb ss* so}", "id", cc->id, "name",
                           cc->name ? cc->name : cc->id, "district",
                           cc->district ? cc->district : "", "site", config_site_name(cc->site),
                           "enabled", cc->enabled, "pool", p ? p->id : NULL, "last_recorded",
                           last ? json_string(vg_time_format(last, t, sizeof(t))) : json_null()));
    }
    return arr;
}

/* GET path from vigild into a JSON value. Returns the HTTP status or negative. */
static int api_get_json(const api_opts *a, const char *path, json_t **out)
{
    char *body = NULL;
    size_t len = 0;
    *out = NULL;
    int st = vigilctl_http_get(a->base, path, a->token, -1, &body, &len, 10000);
    if (st == 200) {
        *out = json_loadb(body, len, 0, NULL);
        if (!*out) st = -EPROTO;
    }
    free(body);
    return st;
}

static int cmd_status(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "status";
    api_opts a = {0};
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) goto out;
        if ((ret = api_opt(cmd, c, &a))) goto out;
    }
    ret = optind != argc ? usage_error(cmd, "status: unexpected argument '%s'", argv[optind]) : 0;
    const config *cfg;
    if (ret || (ret = vctl_config(v, &cfg))) goto out;
    api_resolve(&a, cfg);

    json_t *health = NULL, *cams = NULL, *o = json_object();
    int hs = api_get_json(&a, "/healthz", &health);
    json_object_set_new(o, "url", json_string(a.base));
    json_object_set_new(o, "daemon", json_string(hs == 200 ? "running" : "unreachable"));
    size_t enabled = 0, recording = 0;
    for (size_t i = 0; i < cfg->ncameras; i++)
        enabled += cfg->cameras[i].enabled;
    json_object_set_new(o, "cameras", json_integer((json_int_t)cfg->ncameras));
    json_object_set_new(o, "enabled", json_integer((json_int_t)enabled));
    if (hs == 200) {
        json_object_set(o, "downloads", json_object_get(health, "downloads"));
        json_object_set(o, "pinned_segments", json_object_get(health, "pinned_segments"));
        int cs = api_get_json(&a, "/api/cameras", &cams);
        size_t i;
        json_t *cam;
        if (cs == 200) {
            json_array_foreach(cams, i, cam)
            {
                const char *s = json_string_value(json_object_get(cam, "status"));
                if (s && !strcmp(s, "recording")) recording++;
            }
            json_object_set_new(o, "recording", json_integer((json_int_t)recording));
        } else {
            json_object_set_new(o, "recording", json_null());
            json_object_set_new(o, "note",
                                json_string(cs == 401 || cs == 403
                                                ? "camera states need a viewer token"
                                                : "camera states unavailable"));
        }
    } else {
        json_object_set_new(o, "recording", json_integer(0));
    }
    ret = finish_listing(print_line(o ? json_dumps(o, JSON_COMPACT) : NULL));
    if (ret == 0 && hs != 200) ret = 3; /* as systemctl status: not running */
    json_decref(o);
    json_decref(health);
    json_decref(cams);
out:
    api_free(&a);
    return ret;
}

static int cmd_cameras(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
                                         {"offline", no_argument, NULL, OPT_OFFLINE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "cameras";
    api_opts a = {0};
    int c, ret, offline = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) goto out;
        if ((ret = api_opt(cmd, c, &a))) goto out;
        if (c == OPT_OFFLINE) offline = 1;
    }
    ret = optind != argc ? usage_error(cmd, "cameras: unexpected argument '%s'", argv[optind]) : 0;
    const config *cfg;
    if (ret || (ret = vctl_config(v, &cfg))) goto out;
    api_resolve(&a, cfg);
    json_t *arr = NULL;
    int st = offline ? 0 : api_get_json(&a, "/api/cameras", &arr);
    if (st == 401 || st == 403) {
        fprintf(stderr, "vigilctl: %s: %s; showing the config and the index\n", a.base,
                st == 401 ? "a viewer token is needed (--token-file, VIGIL_TOKEN)"
                          : "the token may not list cameras");
    } else if (st != 200 && !offline) {
        fprintf(stderr,
                "vigilctl: vigild is not reachable at %s; showing the config and the "
                "index\n",
                a.base);
    }
    if (st != 200) arr = cameras_offline(v, cfg);
    size_t i;
    json_t *cam;
    ret = arr ? 0 : -ENOMEM;
    json_array_foreach(arr, i, cam)
    {
        if ((ret = print_line(json_dumps(cam, JSON_COMPACT))) < 0) break;
    }
    json_decref(arr);
    ret = finish_listing(ret);
out:
    api_free(&a);
    return ret;
}

static int cmd_clip(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "clip";
    const char *output = NULL;
    api_opts a = {0};
    int64_t start, end;
    int c, ret, fd = -1;
    char tmp[4096] = "";
    optind = 0;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) goto out;
        if ((ret = api_opt(cmd, c, &a))) goto out;
        if (c == 'o') output = optarg;
    }
    ret = 0;
    if (argc - optind != 3)
        ret = usage_error(cmd, "clip: CAMERA START END are required");
    else if (!output)
        ret = usage_error(cmd, "clip: -o FILE is required");
    else if (strlen(argv[optind]) >= INDEX_ID_MAX)
        ret = usage_error(cmd, "clip: '%s' is not a camera id", argv[optind]);
    if (ret || (ret = parse_time_opt(cmd, "START", argv[optind + 1], &start)) ||
        (ret = parse_time_opt(cmd, "END", argv[optind + 2], &end)))
        goto out;
    if (start >= end) {
        ret = usage_error(cmd, "clip: START must be before END");
        goto out;
    }
    const char *camera = argv[optind];
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) goto out;
    /* Written next to the target and renamed at the end: no half clip under FILE. */
    snprintf(tmp, sizeof(tmp), "%s.part", output);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "vigilctl: %s: %s\n", tmp, strerror(errno));
        tmp[0] = 0;
        ret = EXIT_FAILURE;
        goto out;
    }
    media_clipfile_info info = {0};
    if (a.url || a.token) {
        char path[512];
        api_resolve(&a, cfg);
        snprintf(path, sizeof(path), "/api/cameras/%s/clip.mp4?start=%lld.%06lld&end=%lld.%06lld",
                 camera, (long long)(start / 1000000), (long long)(start % 1000000),
                 (long long)(end / 1000000), (long long)(end % 1000000));
        int st = vigilctl_http_get(a.base, path, a.token, fd, NULL, NULL, 30000);
        if (st != 200) {
            fprintf(stderr, "vigilctl: clip: %s: %s%s\n", a.base, st < 0 ? strerror(-st) : "HTTP ",
                    st == 401   ? "401 (token missing or unknown)"
                    : st == 403 ? "403 (the token's role may not fetch clips)"
                    : st == 404 ? "404 (no footage of that camera in the range)"
                    : st > 0    ? "error"
                                : "");
            ret = EXIT_FAILURE;
            goto out;
        }
    } else {
        /* On the server: straight from the index and the segment files. */
        ret = media_clipfile_write(cfg, camera, start, end, fd, &info);
        if (ret < 0) {
            fprintf(stderr, "vigilctl: clip: %s\n",
                    ret == -ENOENT ? "no footage of that camera in the range" : strerror(-ret));
            ret = EXIT_FAILURE;
            goto out;
        }
        char detail[128];
        snprintf(detail, sizeof(detail), "{\"bytes\":%llu,\"via\":\"vigilctl\"}",
                 (unsigned long long)info.bytes);
        audit_local(cfg, "clip", camera, start, end, detail);
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        fprintf(stderr, "vigilctl: %s: %s\n", tmp, strerror(errno));
        ret = EXIT_FAILURE;
        goto out;
    }
    fd = -1;
    if (rename(tmp, output) < 0) {
        fprintf(stderr, "vigilctl: %s: %s\n", output, strerror(errno));
        ret = EXIT_FAILURE;
        goto out;
    }
    tmp[0] = 0;
    if (!a.url && !a.token) {
        char s[VG_TIME_LEN], e[VG_TIME_LEN];
        fprintf(stderr, "vigilctl: %s: %llu bytes, %s .. %s%s%s\n", output,
                (unsigned long long)info.bytes, vg_time_format(info.start_us, s, sizeof(s)),
                vg_time_format(info.end_us, e, sizeof(e)), info.truncated ? ", truncated: " : "",
                info.truncated ? info.truncated : "");
    }
    ret = EXIT_SUCCESS;
out:
    if (fd >= 0) close(fd);
    if (tmp[0]) unlink(tmp);
    api_free(&a);
    return ret;
}

/* ---- export-verify: the signature of an evidence export (serve/evidence.c) ---- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f) return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* The public key: --public-key (base64), else derived from the key next to the index. */
static int export_public_key(vctl *v, const char *b64, uint8_t pk[VG_ED25519_PK])
{
    size_t n = 0;
    if (b64) {
        if (vg_unbase64(b64, strlen(b64), pk, VG_ED25519_PK, &n) < 0 || n != VG_ED25519_PK) {
            fprintf(stderr, "vigilctl: export-verify: --public-key is not a base64 Ed25519 key\n");
            return EXIT_USAGE;
        }
        return 0;
    }
    const config *cfg;
    int ret = vctl_config(v, &cfg);
    if (ret) return ret;
    char path[4096];
    uint8_t sk[VG_ED25519_SK];
    snprintf(path, sizeof(path), "%s.signing-key", cfg->index_path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, sk, sizeof(sk)) : -1;
    if (fd >= 0) close(fd);
    if (r != (ssize_t)sizeof(sk)) {
        fprintf(stderr, "vigilctl: export-verify: cannot read the signing key %s%s\n", path,
                fd < 0 ? " (use --public-key)" : "");
        return EXIT_FAILURE;
    }
    ret = vg_ed25519_public(sk, pk);
    vg_memzero(sk, sizeof(sk));
    if (ret < 0) {
        fprintf(stderr, "vigilctl: export-verify: %s is not an Ed25519 key\n", path);
        return EXIT_FAILURE;
    }
    return 0;
}

/* Each segment of the manifest against its file: size and SHA-256. Number of mismatches. */
static int export_check_files(const config *cfg, json_t *manifest)
{
    size_t i, k;
    json_t *cam, *seg;
    int bad = 0;
    json_array_foreach(json_object_get(manifest, "cameras"), i, cam) {
        json_array_foreach(json_object_get(cam, "segments"), k, seg) {
            const char *pool = json_string_value(json_object_get(seg, "pool"));
            const char *rel = json_string_value(json_object_get(seg, "path"));
            const char *want = json_string_value(json_object_get(seg, "sha256"));
            const config_pool *p = pool ? config_find_pool(cfg, pool) : NULL;
            char path[4096], hex[65] = "";
            uint8_t buf[65536], md[32];
            snprintf(path, sizeof(path), "%s/%s", p ? p->path : "?", rel ? rel : "?");
            FILE *f = p && rel ? fopen(path, "rb") : NULL;
            vg_sha256 *h = f ? vg_sha256_new() : NULL;
            if (h) {
                size_t r;
                while ((r = fread(buf, 1, sizeof(buf), f)) > 0) vg_sha256_update(h, buf, r);
                vg_sha256_final(h, md);
                vg_hex(md, sizeof(md), hex);
            }
            vg_sha256_free(&h);
            if (f) fclose(f);
            if (!f || !want || strcmp(hex, want) != 0) {
                fprintf(stderr, "vigilctl: export-verify: %s: %s\n", path,
                        !f ? "cannot read" : !want ? "no hash in the manifest" : "SHA-256 differs");
                bad++;
            }
        }
    }
    return bad;
}

static int cmd_export_verify(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"public-key", required_argument, NULL, OPT_PUBLIC_KEY},
                                         {"check-files", no_argument, NULL, OPT_CHECK_FILES},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "export-verify", *pk64 = NULL;
    bool check_files = false;
    char *text = NULL, *sig64 = NULL;
    json_t *manifest = NULL;
    size_t len = 0, n = 0;
    uint8_t pk[VG_ED25519_PK], sig[VG_ED25519_SIG];
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
        if (c == OPT_PUBLIC_KEY) pk64 = optarg;
        if (c == OPT_CHECK_FILES) check_files = true;
    }
    if (argc - optind != 1) return usage_error(cmd, "export-verify: one MANIFEST_FILE is required");
    if ((ret = export_public_key(v, pk64, pk))) return ret;
    ret = EXIT_FAILURE;
    if (!(text = read_all(argv[optind], &len))) {
        fprintf(stderr, "vigilctl: export-verify: cannot read %s: %s\n", argv[optind],
                strerror(errno));
        goto out;
    }
    /* The signed bytes: the value of "manifest", verbatim (serve/evidence.c). */
    static const char head[] = "{\"manifest\":", tail[] = ",\"signature\":\"";
    char *t = strstr(text, tail);
    for (char *nx; t && (nx = strstr(t + 1, tail)); t = nx)
        ;
    char *q = t ? strchr(t + sizeof(tail) - 1, '"') : NULL;
    if (strncmp(text, head, sizeof(head) - 1) != 0 || !t || !q) {
        fprintf(stderr, "vigilctl: export-verify: %s is not an export response "
                        "({\"manifest\":...,\"signature\":...})\n", argv[optind]);
        goto out;
    }
    const char *m = text + sizeof(head) - 1;
    size_t mlen = (size_t)(t - m);
    if (!(sig64 = strndup(t + sizeof(tail) - 1, (size_t)(q - (t + sizeof(tail) - 1))))) goto out;
    if (vg_unbase64(sig64, strlen(sig64), sig, sizeof(sig), &n) < 0 || n != sizeof(sig)) {
        fprintf(stderr, "vigilctl: export-verify: the signature is not base64 of 64 bytes\n");
        goto out;
    }
    if (vg_ed25519_verify(sig, m, mlen, pk) != 0) {
        printf("{\"valid\":false}\n");
        fprintf(stderr, "vigilctl: export-verify: INVALID signature (altered, or another key)\n");
        goto out;
    }
    json_error_t je;
    manifest = json_loadb(m, mlen, 0, &je);
    json_int_t id = json_integer_value(json_object_get(manifest, "export"));
    if (check_files) {
        const config *cfg;
        if ((ret = vctl_config(v, &cfg))) goto out;
        ret = EXIT_FAILURE;
        int bad = export_check_files(cfg, manifest);
        if (bad) {
            printf("{\"valid\":true,\"export\":%lld,\"files\":\"%d mismatched\"}\n", (long long)id,
                   bad);
            goto out;
        }
    }
    printf("{\"valid\":true,\"export\":%lld%s}\n", (long long)id,
           check_files ? ",\"files\":\"ok\"" : "");
    ret = EXIT_SUCCESS;
out:
    json_decref(manifest);
    free(sig64);
    free(text);
    return ret;
}

/* ---- the table ---- */

/* ---- case: investigations, through the daemon's API ---- */

/* Sends method path with body (a JSON object, taken; NULL: none) and prints
 * the answer: a JSON array one element per line, anything else on one line.
 * 0 on a 2xx answer, else 1 with the daemon's error on stderr. */
static int case_call(const api_opts *a, const char *method, const char *path, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *resp = NULL;
    size_t len = 0;
    int ret = EXIT_FAILURE;
    json_decref(body);
    if (body && !text) {
        fprintf(stderr, "vigilctl: out of memory\n");
        return EXIT_FAILURE;
    }
    int st = vigilctl_http_request(a->base, method, path, a->token, text, -1, &resp, &len, 30000);
    free(text);
    json_t *js = st > 0 && resp ? json_loadb(resp, len, 0, NULL) : NULL;
    if (st < 0) {
        fprintf(stderr, "vigilctl: %s: %s\n", a->base, strerror(-st));
    } else if (st < 200 || st > 299) {
        const char *err = json_string_value(json_object_get(js, "error"));
        fprintf(stderr, "vigilctl: %s %s: HTTP %d: %s\n", method, path, st,
                err ? err : st == 401 ? "a token is needed (--token-file, VIGIL_TOKEN)" : "failed");
    } else if (json_is_array(js)) {
        size_t i;
        json_t *o;
        ret = 0;
        json_array_foreach(js, i, o) {
            if (print_line(json_dumps(o, JSON_COMPACT)) < 0) ret = EXIT_FAILURE;
        }
        ret = ret ? ret : finish_listing(0);
    } else {
        ret = finish_listing(print_line(js ? json_dumps(js, JSON_COMPACT) : strdup(resp ? resp : "")));
    }
    json_decref(js);
    free(resp);
    return ret;
}

static int cmd_case(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
                                         {"title", required_argument, NULL, OPT_TITLE},
                                         {"reason", required_argument, NULL, OPT_REASON},
                                         {"start", required_argument, NULL, OPT_START},
                                         {"end", required_argument, NULL, OPT_END},
                                         {"camera", required_argument, NULL, OPT_CAMERA},
                                         {"district", required_argument, NULL, OPT_DISTRICT},
                                         {"site", required_argument, NULL, OPT_SITE},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "case";
    api_opts a = {0};
    json_t *body = json_object(), *cams = json_array();
    const char *title = NULL, *reason = NULL, *start = NULL, *end = NULL;
    const char *district = NULL, *site = NULL;
    int c, ret, all = 0;
    int64_t t;
    char path[128];
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) goto out;
        if ((ret = api_opt(cmd, c, &a))) goto out;
        if (c == OPT_TITLE) title = optarg;
        if (c == OPT_REASON) reason = optarg;
        if (c == OPT_START) start = optarg;
        if (c == OPT_END) end = optarg;
        if (c == OPT_DISTRICT) district = optarg;
        if (c == OPT_SITE) site = optarg;
        if (c == OPT_ALL) all = 1;
        if (c == OPT_CAMERA) json_array_append_new(cams, json_string(optarg));
    }
    /* Times are checked here so a typo is a usage error, and sent as given. */
    if ((start && (ret = parse_time_opt(cmd, "--start", start, &t))) ||
        (end && (ret = parse_time_opt(cmd, "--end", end, &t))))
        goto out;
    const char *action = optind < argc ? argv[optind++] : "";
    const char *id = NULL;
    long long n = 0;
    if (strcmp(action, "list") != 0 && strcmp(action, "create") != 0) {
        char *e;
        id = optind < argc ? argv[optind++] : "";
        n = strtoll(id, &e, 10);
        if (*e || n <= 0) {
            ret = usage_error(cmd, "case %s: a case ID is required", action);
            goto out;
        }
    }
    const char *text = NULL;
    if (!strcmp(action, "note")) text = optind < argc ? argv[optind++] : NULL;
    if (optind != argc) {
        ret = usage_error(cmd, "case: unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (title) json_object_set_new(body, "title", json_string(title));
    if (reason) json_object_set_new(body, "reason", json_string(reason));
    if (start) json_object_set_new(body, "start", json_string(start));
    if (end) json_object_set_new(body, "end", json_string(end));
    if (json_array_size(cams)) json_object_set(body, "cameras", cams);
    if (district) json_object_set_new(body, "district", json_string(district));
    if (site) json_object_set_new(body, "site", json_string(site));
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) goto out;
    api_resolve(&a, cfg);
    if (!strcmp(action, "list")) {
        ret = case_call(&a, "GET", all ? "/api/cases?all=1" : "/api/cases", NULL);
    } else if (!strcmp(action, "create")) {
        if (!title || !reason || !start || !end || (!json_array_size(cams) && !district)) {
            ret = usage_error(cmd, "case create: --title, --reason, --start, --end and "
                                   "--camera or --district are required");
            goto out;
        }
        ret = case_call(&a, "POST", "/api/cases", json_incref(body));
    } else if (!strcmp(action, "show")) {
        snprintf(path, sizeof(path), "/api/cases/%lld", n);
        ret = case_call(&a, "GET", path, NULL);
    } else if (!strcmp(action, "note")) {
        if (!text || !*text) {
            ret = usage_error(cmd, "case note: ID TEXT is required");
            goto out;
        }
        snprintf(path, sizeof(path), "/api/cases/%lld/notes", n);
        ret = case_call(&a, "POST", path, json_pack("{s:s}", "text", text));
    } else if (!strcmp(action, "close") || !strcmp(action, "export")) {
        if (!reason) {
            ret = usage_error(cmd, "case %s: --reason is required", action);
            goto out;
        }
        snprintf(path, sizeof(path), "/api/cases/%lld/%s", n,
                 !strcmp(action, "close") ? "close" : "exports");
        ret = case_call(&a, "POST", path, json_incref(body));
    } else {
        ret = usage_error(cmd, "case: unknown action '%s' (list, create, show, note, close, "
                               "export)", action);
    }
out:
    json_decref(body);
    json_decref(cams);
    api_free(&a);
    return ret;
}

/* ---- backup: an online copy of the index ---- */

static int cmd_backup(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *cmd = "backup";
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
    if (argc - optind != 1) return usage_error(cmd, "backup: one DEST file is required");
    const char *dest = argv[optind];
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) return ret;
    index_backup_info info;
    int64_t t0 = vg_now_us();
    ret = index_backup(cfg->index_path, dest, &info);
    if (ret < 0) {
        fprintf(stderr, "vigilctl: backup of %s to %s failed: %s\n", cfg->index_path, dest,
                strerror(-ret));
        return EXIT_FAILURE;
    }
    int64_t ms = (vg_now_us() - t0) / 1000;
    struct stat stt;
    json_int_t bytes = stat(dest, &stt) == 0 ? (json_int_t)stt.st_size : -1;
    char detail[256];
    snprintf(detail, sizeof(detail), "{\"bytes\":%lld}", (long long)bytes);
    audit_local(cfg, "index_backup", NULL, 0, 0, detail);
    json_t *out = json_pack("{s:s,s:s,s:I,s:i,s:i,s:I}", "index", cfg->index_path, "backup", dest,
                            "bytes", bytes, "pages", info.pages, "schema_version",
                            info.schema_version, "milliseconds", (json_int_t)ms);
    ret = finish_listing(print_line(json_dumps(out, JSON_COMPACT)));
    json_decref(out);
    return ret;
}

/* ---- verify: re-read segments and compare them with the index ---- */

typedef struct verify_acc {
    const config *cfg;
    index_reader *r;
    uint64_t ok, bad, gone;
    int64_t bytes;
    index_segment *v; /* the listing, checked after the query (no file I/O inside it) */
    size_t n, cap;
} verify_acc;

static int verify_collect(const index_segment *s, void *arg)
{
    verify_acc *a = arg;
    if (s->open) return 0; /* still being written: no hash yet */
    if (a->n == a->cap) {
        size_t ncap = a->cap ? 2 * a->cap : 256;
        index_segment *nv = realloc(a->v, ncap * sizeof(*nv));
        if (!nv) return -ENOMEM;
        a->v = nv;
        a->cap = ncap;
    }
    a->v[a->n++] = *s;
    return 0;
}

static void verify_one(verify_acc *a, const index_segment *s)
{
    const config_pool *p = config_find_pool(a->cfg, s->pool);
    char path[4096], why[256];
    if (!p) {
        fprintf(stderr, "vigilctl: verify: segment %lld is in pool '%s', not in the config\n",
                (long long)s->id, s->pool);
        a->bad++;
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", p->path, s->path);
    int r = storage_verify_file(path, s, NULL, why, sizeof(why));
    if (r == 0) {
        a->ok++;
        a->bytes += s->bytes;
        return;
    }
    if (r == -ENOENT) {
        index_segment now;
        int moved = storage_segment_relocated(a->r, s, &now);
        if (moved == -ENOENT) {
            a->gone++;
            return;
        }
        if (moved > 0) {
            verify_one(a, &now);
            return;
        }
    }
    a->bad++;
    printf("%s\n", path);
    fprintf(stderr, "vigilctl: verify: %s: %s\n", path, why);
}

static int cmd_verify(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"start", required_argument, NULL, OPT_START},
                                         {"end", required_argument, NULL, OPT_END},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "verify";
    int64_t start = INT64_MIN, end = INT64_MAX;
    int c, ret;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) return ret;
        if (c == OPT_START && (ret = parse_time_opt(cmd, "--start", optarg, &start))) return ret;
        if (c == OPT_END && (ret = parse_time_opt(cmd, "--end", optarg, &end))) return ret;
    }
    if (argc - optind > 1) return usage_error(cmd, "verify: at most one CAMERA");
    if (start >= end) return usage_error(cmd, "verify: --start must be before --end");
    const char *camera = optind < argc ? argv[optind] : NULL;
    if (camera && strlen(camera) >= INDEX_ID_MAX)
        return usage_error(cmd, "verify: '%s' is not a camera id", camera);
    index_reader *r;
    verify_acc a = {0};
    if ((ret = vctl_reader(v, &r)) || (ret = vctl_config(v, &a.cfg))) return ret;
    a.r = r;
    /* A batch at a time, in id order (a month of a province does not fit in
     * memory as one listing); the files are read between queries. */
    int64_t after = 0;
    do {
        a.n = 0;
        ret = index_query_closed_after(r, after, camera, start, end, 1024, verify_collect, &a);
        for (size_t i = 0; ret == 0 && i < a.n; i++) verify_one(&a, &a.v[i]);
        if (a.n) after = a.v[a.n - 1].id;
    } while (ret == 0 && a.n > 0);
    free(a.v);
    if (ret < 0) {
        fprintf(stderr, "vigilctl: verify: reading the index: %s\n", strerror(-ret));
        return EXIT_FAILURE;
    }
    char detail[128];
    snprintf(detail, sizeof(detail), "{\"verified\":%llu,\"damaged\":%llu}",
             (unsigned long long)a.ok, (unsigned long long)a.bad);
    audit_local(a.cfg, "verify", camera, start == INT64_MIN ? 0 : start,
                end == INT64_MAX ? 0 : end, detail);
    fprintf(stderr, "vigilctl: verify: %llu segments (%lld bytes) match the index, %llu do not\n",
            (unsigned long long)a.ok, (long long)a.bytes, (unsigned long long)a.bad);
    if (a.gone)
        fprintf(stderr, "vigilctl: verify: %llu deleted by retention while verifying\n",
                (unsigned long long)a.gone);
    if (fflush(stdout) != 0) return EXIT_FAILURE;
    return a.bad ? EXIT_FAILURE : 0;
}

/* ---- events search / post: the daemon's /api/events ---- */

/* Appends "&name=VALUE" (percent-encoded) to the query in buf. */
static void query_add(char *buf, size_t len, const char *name, const char *value)
{
    size_t n = strlen(buf);
    if (!value) return;
    n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s=", n ? "&" : "", name);
    for (const unsigned char *p = (const unsigned char *)value; *p && n + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~*", *p))
            buf[n++] = (char)*p;
        else
            n += (size_t)snprintf(buf + n, len - n, "%%%02X", *p);
    }
    buf[n < len ? n : len - 1] = 0;
}

/* Events per request and bytes of a request body the post sends at most (the
 * daemon takes 1000 events and 64 KiB). */
#define POST_CHUNK_EVENTS 1000
#define POST_CHUNK_BYTES 60000

/* Posts the events of text (a JSON object, a JSON array or NDJSON) in
 * requests of at most POST_CHUNK_*, printing each answer. Each request is
 * stored whole or not at all; the first refused one stops the post. */
static int events_post(const api_opts *a, const char *text, size_t len)
{
    json_error_t e;
    json_t *all = json_loadb(text, len, 0, &e), *chunk = NULL;
    int ret = EXIT_FAILURE;
    size_t bytes = 0, first = 0;
    if (json_is_object(all)) {
        json_t *arr = json_array();
        json_array_append_new(arr, all);
        all = arr;
    } else if (!json_is_array(all)) {
        json_decref(all); /* NDJSON: one object a line */
        all = json_array();
        for (const char *p = text, *end = text + len; all && p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
            const char *q = p;
            while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
            if (q < le) {
                json_t *o = json_loadb(q, (size_t)(le - q), 0, &e);
                if (!o) {
                    fprintf(stderr, "vigilctl: events post: event %zu: not JSON: %s\n",
                            json_array_size(all), e.text);
                    goto out;
                }
                json_array_append_new(all, o);
            }
            p = nl ? nl + 1 : end;
        }
    }
    if (!all || json_array_size(all) == 0) {
        fprintf(stderr, "vigilctl: events post: no events\n");
        goto out;
    }
    for (size_t i = 0; i <= json_array_size(all); i++) {
        json_t *o = json_array_get(all, i);
        char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
        size_t tl = t ? strlen(t) + 1 : 0;
        free(t);
        if (chunk && (!o || json_array_size(chunk) == POST_CHUNK_EVENTS ||
                      bytes + tl > POST_CHUNK_BYTES)) {
            if (case_call(a, "POST", "/api/events", chunk) != 0) {
                chunk = NULL;
                fprintf(stderr, "vigilctl: events post: events %zu.. not stored (the ones "
                                "before were)\n", first);
                goto out;
            }
            chunk = NULL;
        }
        if (!o) break;
        if (!chunk) {
            chunk = json_array();
            bytes = 2;
            first = i;
        }
        json_array_append(chunk, o);
        bytes += tl;
    }
    ret = EXIT_SUCCESS;
out:
    json_decref(chunk);
    json_decref(all);
    return ret;
}

static int events_api(vctl *v, int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
                                         {"q", required_argument, NULL, OPT_Q},
                                         {"camera", required_argument, NULL, OPT_CAMERA},
                                         {"district", required_argument, NULL, OPT_DISTRICT},
                                         {"site", required_argument, NULL, OPT_SITE},
                                         {"type", required_argument, NULL, OPT_TYPE},
                                         {"start", required_argument, NULL, OPT_START},
                                         {"end", required_argument, NULL, OPT_END},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "events";
    const char *action = argv[0];
    const char *q = NULL, *camera = NULL, *district = NULL, *site = NULL, *type = NULL;
    const char *start = NULL, *end = NULL, *limit = NULL;
    api_opts a = {0};
    char *text = NULL;
    int c, ret;
    int64_t t;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if ((ret = common_opt(cmd, c, argv)) >= 0) goto out;
        if ((ret = api_opt(cmd, c, &a))) goto out;
        if (c == OPT_Q) q = optarg;
        if (c == OPT_CAMERA) camera = optarg;
        if (c == OPT_DISTRICT) district = optarg;
        if (c == OPT_SITE) site = optarg;
        if (c == OPT_TYPE) type = optarg;
        if (c == OPT_START) start = optarg;
        if (c == OPT_END) end = optarg;
        if (c == OPT_LIMIT) limit = optarg;
    }
    if ((start && (ret = parse_time_opt(cmd, "--start", start, &t))) ||
        (end && (ret = parse_time_opt(cmd, "--end", end, &t))))
        goto out;
    const char *file = NULL;
    if (!strcmp(action, "post")) {
        file = optind < argc ? argv[optind++] : NULL;
        if (!file) {
            ret = usage_error(cmd, "events post: FILE (or - for stdin) is required");
            goto out;
        }
    }
    if (optind != argc) {
        ret = usage_error(cmd, "events %s: unexpected argument '%s'", action, argv[optind]);
        goto out;
    }
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) goto out;
    api_resolve(&a, cfg);
    if (file) {
        size_t len = 0;
        if (!(text = read_all(strcmp(file, "-") ? file : "/dev/stdin", &len))) {
            fprintf(stderr, "vigilctl: events post: cannot read '%s': %s\n", file,
                    strerror(errno));
            ret = EXIT_FAILURE;
            goto out;
        }
        ret = events_post(&a, text, len);
        goto out;
    }
    char path[2048] = "";
    query_add(path, sizeof(path), "q", q);
    query_add(path, sizeof(path), "camera", camera);
    query_add(path, sizeof(path), "district", district);
    query_add(path, sizeof(path), "site", site);
    query_add(path, sizeof(path), "type", type);
    query_add(path, sizeof(path), "start", start);
    query_add(path, sizeof(path), "end", end);
    query_add(path, sizeof(path), "limit", limit);
    char full[2100];
    snprintf(full, sizeof(full), "/api/events%s%s", path[0] ? "?" : "", path);
    ret = case_call(&a, "GET", full, NULL);
out:
    free(text);
    api_free(&a);
    return ret;
}

static const command commands[] = {
    {"segments", "list the recorded segments of a camera",
     "Usage: vigilctl [OPTIONS] segments CAMERA [--start T] [--end T]\n"
     "\n"
     "Prints the segments of CAMERA that overlap [start, end), oldest first, one JSON\n"
     "object per line: {\"camera\",\"start\",\"end\",\"path\",\"bytes\",\"sha256\"}.\n"
     "sha256 is null while a segment is being written.\n"
     "\n"
     "  --start T   from T (default: the beginning)\n"
     "  --end T     until T, exclusive (default: now and beyond)\n"
     "\n"
     "T is RFC 3339 (2026-11-23T07:00:00+07:00, 2026-11-23T00:00:00Z) or Unix seconds.\n",
     cmd_segments},
    {"events", "list events (camera online/offline, codec changes, recoveries...)",
     "Usage: vigilctl [OPTIONS] events [--camera C] [--start T] [--end T]\n"
     "       vigilctl [OPTIONS] events search [--q WORDS] [--camera C] [--district D]\n"
     "                [--site S] [--type T] [--start T] [--end T] [--limit N] [API]\n"
     "       vigilctl [OPTIONS] events post FILE|- [API]\n"
     "\n"
     "Prints the events in [start, end), oldest first, one JSON object per line:\n"
     "{\"time\",\"camera\",\"type\",\"detail\"} (camera is null for daemon-wide events).\n"
     "\n"
     "  --camera C  only events of camera C\n"
     "  --start T   from T (default: the beginning)\n"
     "  --end T     until T, exclusive (default: now and beyond)\n"
     "\n"
     "T is RFC 3339 (2026-11-23T07:00:00+07:00, 2026-11-23T00:00:00Z) or Unix seconds.\n"
     "\n"
     "search asks the running vigild (GET /api/events) and prints each event with its\n"
     "clip URL: --q WORDS is a full-text search (every word, diacritics ignored), the\n"
     "other options filter (default: the last 24 h). post sends FILE (a JSON event, an\n"
     "array of them or NDJSON) to POST /api/events in requests of up to 1000 events\n"
     "and ~60 KiB, printing each answer ({\"stored\",\"duplicates\",\"ids\"}); each\n"
     "request is stored whole or not at all, and the first refused one stops the post.\n"
     "API: --url URL (default: from listen:), --token-file F | --token T (or\n"
     "VIGIL_TOKEN): an investigator token to search, an integrator's (or higher) to post.\n",
     cmd_events},
    {"lock", "protect a camera's footage in [start, end) from retention",
     "Usage: vigilctl [OPTIONS] lock CAMERA START END --reason TEXT [--until T]\n"
     "\n"
     "Creates an evidence lock: retention deletes nothing of CAMERA that overlaps\n"
     "[START, END) until T (default: until `vigilctl unlock`). Prints the lock as JSON;\n"
     "the lock_created event records who (\"local\") and why.\n"
     "\n"
     "  --reason TEXT  why (case number...), required\n"
     "  --until T      the lock lapses at T\n"
     "\n"
     "T is RFC 3339 (2026-11-23T07:00:00+07:00, 2026-11-23T00:00:00Z) or Unix seconds.\n",
     cmd_lock},
    {"locks", "list evidence locks (in force, or --all)",
     "Usage: vigilctl [OPTIONS] locks [--camera C] [--all]\n"
     "\n"
     "Prints the locks in force (with --all: every lock ever made), one JSON object per\n"
     "line: {\"id\",\"camera\",\"start\",\"end\",\"reason\",\"created_by\",\"created\",\"until\",\n"
     "\"released\",\"released_by\"}.\n",
     cmd_locks},
    {"unlock", "release an evidence lock",
     "Usage: vigilctl [OPTIONS] unlock ID --reason TEXT\n"
     "\n"
     "Releases lock ID (see `vigilctl locks`); the lock_released event records who and why.\n",
     cmd_unlock},
    {"status", "is vigild running, how many cameras record",
     "Usage: vigilctl [OPTIONS] status [--url URL] [--token-file F | --token T]\n"
     "\n"
     "Asks the running vigild (GET /healthz, /api/cameras) and prints one JSON object:\n"
     "{\"url\",\"daemon\",\"cameras\",\"enabled\",\"recording\",\"downloads\",...}.\n"
     "Exit status 3 when vigild does not answer (as systemctl status).\n"
     "\n"
     "  --url URL         vigild's API (default: http:// + the config's listen:)\n"
     "  --token-file F    a viewer (or higher) token, read from F; or VIGIL_TOKEN=...\n"
     "  --token T         the same on the command line (visible in ps: prefer the others)\n",
     cmd_status},
    {"cameras", "list the cameras and their live state",
     "Usage: vigilctl [OPTIONS] cameras [--url URL] [--token-file F | --token T] [--offline]\n"
     "\n"
     "Prints one JSON object per camera line, as GET /api/cameras returns them (live\n"
     "state, codec, fps, bitrate). When vigild does not answer, or with --offline, from\n"
     "the config and the index: {\"id\",\"name\",\"district\",\"site\",\"enabled\",\"pool\",\n"
     "\"last_recorded\"}. Credentials are never printed.\n"
     "\n"
     "  --url, --token-file, --token   as for status\n",
     cmd_cameras},
    {"clip", "write the footage of a camera in [start, end) to an MP4 file",
     "Usage: vigilctl [OPTIONS] clip CAMERA START END -o FILE [--url URL] [--token-file F]\n"
     "\n"
     "Writes one MP4 of CAMERA from START to END (fragmented, plays everywhere) to FILE,\n"
     "via FILE.part renamed at the end. On the server (no --url/--token) it is assembled\n"
     "straight from the index and the segment files and audited as token \"local\";\n"
     "with --url or a token it is downloaded from vigild's API (audited there).\n"
     "The clip stops early at a gap or a codec change (printed on stderr).\n"
     "\n"
     "  -o, --output FILE  where to write (required)\n"
     "  --url, --token-file, --token   download through the HTTP API\n"
     "\n"
     "START, END: RFC 3339 (2026-11-23T07:00:00+07:00) or Unix seconds.\n",
     cmd_clip},
    {"audit", "print the audit trail (footage access, locks, config changes)",
     "Usage: vigilctl [OPTIONS] audit [--camera C] [--start T] [--end T] [--limit N]\n"
     "       vigilctl [OPTIONS] audit verify\n"
     "\n"
     "Prints the audit rows in [start, end), oldest first, one JSON object per line:\n"
     "{\"id\",\"time\",\"token\",\"action\",\"camera\",\"start\",\"end\",\"detail\"}.\n"
     "token is the name of the API token (\"local\": vigilctl on the server, \"daemon\":\n"
     "a SIGHUP reload); actions: clip, snapshot, live, export (a clip of an export),\n"
     "export_create, lock_create, lock_release, config_reload, config_reload_failed,\n"
     "auth_failed and auth_denied (detail: the source address and path). Repeated\n"
     "accesses to one resource (a player's ranges of one clip) and repeated failures\n"
     "from one address make one row at once and one \"coalesced\" row with their\n"
     "count and bytes when the run ends (a minute idle, ten minutes, or vigild stopping).\n"
     "\n"
     "  --camera C  only rows about camera C\n"
     "  --start T   from T;  --end T  until T, exclusive\n"
     "  --limit N   only the newest N rows\n"
     "\n"
     "verify: the trail is a hash chain (each row carries the hash of the one before);\n"
     "checks every row and prints {\"ok\":true,\"rows\":N,\"head\":HASH} (note HASH\n"
     "somewhere else: rows cut off the end show only against it), or the first row\n"
     "whose link does not hold, {\"ok\":false,\"rows\":N,\"broken_row\":ID,\"problem\"},\n"
     "and exits 1.\n",
     cmd_audit},
    {"config", "check a configuration file (config check)",
     "Usage: vigilctl [OPTIONS] config check\n"
     "\n"
     "Loads and validates the configuration given with --config (and its include:\n"
     "drop-ins) exactly as vigild does at start and on reload. Prints a summary and\n"
     "exits 0, or prints FILE:LINE: message and exits 1. ExecStartPre= runs it.\n",
     cmd_config},
    {"case", "investigations: create, list, show, note, close, export (through vigild)",
     "Usage: vigilctl [OPTIONS] case ACTION [ARGS] [--url U] [--token-file F]\n"
     "\n"
     "  case list [--all]                 open cases (--all: closed ones too)\n"
     "  case create --title T --reason R --start S --end E\n"
     "              (--camera C [--camera C2 ...] | --district D [--site S])\n"
     "                                    holds every camera's footage over [S, E)\n"
     "  case show ID                      cameras, coverage, locks, exports, notes\n"
     "                                    and the chain of custody\n"
     "  case note ID TEXT                 adds a note\n"
     "  case close ID --reason R          closes it and releases its locks (its\n"
     "                                    creator or an admin)\n"
     "  case export ID --reason R [--start S --end E] [--camera C ...]\n"
     "                                    a signed export of the case's footage\n"
     "\n"
     "Talks to the running vigild (an investigator's token: --token-file F,\n"
     "--token T or VIGIL_TOKEN; --url, default from the config's listen:) and\n"
     "prints its JSON answer, one object per line. Exit 0 on success, 1 when\n"
     "the daemon refused (its reason on stderr), 2 bad usage.\n",
     cmd_case},
    {"backup", "take a consistent copy of the index while vigild runs",
     "Usage: vigilctl [OPTIONS] backup DEST\n"
     "\n"
     "Copies the index of the config to DEST with SQLite's backup API: one read\n"
     "snapshot, so DEST is the index exactly as it was at one commit, taken while\n"
     "vigild keeps recording (it is never blocked). DEST is written beside as\n"
     "DEST.tmp, checked, synced and renamed. Prints {\"backup\",\"bytes\",\"pages\",...}.\n"
     "To restore: stop vigild, copy DEST over the config's index: path (and remove\n"
     "a stale index-wal/-shm beside it), start vigild; reconciliation indexes the\n"
     "segments recorded after the backup. The export signing key is not in the\n"
     "index (it is the file <index>.signing-key): back it up once, apart.\n",
     cmd_backup},
    {"verify", "re-read segments and check them against the index (exit 1 if one is damaged)",
     "Usage: vigilctl [OPTIONS] verify [CAMERA] [--start T] [--end T]\n"
     "\n"
     "Re-reads every closed segment (of CAMERA, or all; overlapping [start, end))\n"
     "and compares its size and SHA-256 with the index, as vigild's background\n"
     "verifier (scrub:) does. Prints the path of every segment that differs, is\n"
     "missing or cannot be read, one per line (the reason on stderr), and a summary\n"
     "on stderr. Exit 0 when every segment matches, 1 when one does not.\n",
     cmd_verify},
    {"export-verify", "verify the signature of an evidence export manifest",
     "Usage: vigilctl [OPTIONS] export-verify FILE [--public-key B64] [--check-files]\n"
     "\n"
     "FILE is the response of POST /api/exports or GET /api/exports/ID, as received:\n"
     "{\"manifest\":M,\"signature\":S}. Verifies the Ed25519 signature S (base64) over\n"
     "the bytes of M exactly as they appear in FILE (the manifest serialized compact\n"
     "with sorted keys, ASCII only). Prints {\"valid\":true|false,\"export\":ID};\n"
     "exit 0 only when valid.\n"
     "\n"
     "  --public-key B64  the key of GET /api/exports/public-key (default: derived\n"
     "                    from <index>.signing-key of the config, on the server)\n"
     "  --check-files     also compare every listed segment's SHA-256 with its file\n",
     cmd_export_verify},
    {NULL, NULL, NULL, NULL},
};

static const command *find_command(const char *name)
{
    for (const command *k = commands; k->name; k++)
        if (!strcmp(k->name, name)) return k;
    return NULL;
}

static void print_help(FILE *f)
{
    fprintf(f, "Usage: vigilctl [OPTIONS] COMMAND [ARGS...]\n"
               "\n"
               "Queries a vigil recorder's index (safe while vigild runs).\n"
               "\n"
               "  -c, --config FILE  the vigild configuration (default: " DEFAULT_CONFIG ")\n"
               "  -v, --verbose      also print the log lines of the modules (SQLite details)\n"
               "  -h, --help         this help; `vigilctl COMMAND --help` for a command\n"
               "\n"
               "Commands:\n");
    for (const command *k = commands; k->name; k++)
        fprintf(f, "  %-10s %s\n", k->name, k->summary);
    fprintf(f, "\nExit status: 0 OK, 1 error, 2 bad usage.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {NULL, 0, NULL, 0}};
    vctl v = {.config_path = DEFAULT_CONFIG};
    int c;
    /* vigilctl prints its own messages; --verbose adds the modules' log lines
     * (SQLite and libyaml details). */
    vg_log_set_level(LOG_CRIT);
    /* "+": stop at the command; its options are its own. */
    while ((c = getopt_long(argc, argv, "+:c:hv", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            v.config_path = optarg;
            break;
        case 'h':
            print_help(stdout);
            return EXIT_SUCCESS;
        case 'v':
            vg_log_set_level(LOG_DEBUG);
            break;
        case ':':
            return usage_error(NULL, "%s: missing value", argv[optind - 1]);
        default:
            return usage_error(NULL, "%s: unknown option", argv[optind - 1]);
        }
    }
    if (optind == argc) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    const command *cmd = find_command(name);
    if (!cmd) return usage_error(NULL, "unknown command '%s'", name);

    int ret = cmd->run(&v, argc - optind, argv + optind);
    index_reader_close(&v.reader);
    config_free(&v.cfg);
    return ret;
}
