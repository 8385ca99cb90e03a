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
#include "tools/vigilctl/vigilctl_format.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        int ret = config_load(v->config_path, &v->cfg, err, sizeof(err));
        if (ret < 0) {
            fprintf(stderr, "vigilctl: %s\n", err[0] ? err : strerror(-ret));
            return EXIT_FAILURE;
        }
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

enum { OPT_START = 1000, OPT_END, OPT_CAMERA, OPT_REASON, OPT_UNTIL, OPT_ALL };

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

static int cmd_events(vctl *v, int argc, char **argv)
{
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
    char *end;
    long long id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0) return usage_error(cmd, "unlock: '%s' is not a lock id", argv[optind]);
    const config *cfg;
    if ((ret = vctl_config(v, &cfg))) return ret;
    if ((ret = index_lock_release(cfg->index_path, id, "local", reason)) < 0)
        return lock_failed("unlock", cfg->index_path, ret);
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

/* ---- the table ---- */

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
     "\n"
     "Prints the events in [start, end), oldest first, one JSON object per line:\n"
     "{\"time\",\"camera\",\"type\",\"detail\"} (camera is null for daemon-wide events).\n"
     "\n"
     "  --camera C  only events of camera C\n"
     "  --start T   from T (default: the beginning)\n"
     "  --end T     until T, exclusive (default: now and beyond)\n"
     "\n"
     "T is RFC 3339 (2026-11-23T07:00:00+07:00, 2026-11-23T00:00:00Z) or Unix seconds.\n",
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
     "Usage: vigilctl [OPTIONS] unlock ID [--reason TEXT]\n"
     "\n"
     "Releases lock ID (see `vigilctl locks`); the lock_released event records who and why.\n",
     cmd_unlock},
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
