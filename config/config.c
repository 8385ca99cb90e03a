/*
 * config: loads vigil's YAML configuration into a validated `config`.
 *
 * The file is parsed with libyaml's document API, so every node keeps the line
 * it came from, and the schema is then walked by hand. Walking by hand (rather
 * than a generic table-driven binder) keeps each check next to its message,
 * and every message is "FILE:LINE: text" with the line of the offending key or
 * value. The loader either builds the whole config or fails on the first error
 * and frees everything; the running daemon keeps its old config in that case.
 *
 * Order of work: the main file's top-level scalars, storage and auth first
 * (cameras refer to pools and inherit retention_days, wherever those keys sit
 * in the file), then its cameras, then the `include:` drop-ins in glob order.
 * Relative paths resolve against the main file's directory and are stored
 * absolute; file names in messages are shown as the user wrote them.
 *
 * Secrets: password values and token contents are never formatted into a
 * message; a camera URL is never echoed either (it may carry userinfo). All
 * camera passwords (and token_file tokens) are handed to vg_log_add_secret()
 * once the load has succeeded. Files named by the config (password_file,
 * token_file, includes) must be regular files, so a FIFO or a device cannot
 * block or flood the loader. password_credential / token_credential name a
 * systemd credential instead (LoadCredential=, $CREDENTIALS_DIRECTORY): the
 * secret then lives in a root-only file that systemd copies into a
 * non-swappable, service-private directory, so vigil's user never needs read
 * access to /etc/vigil/credentials.
 */
#include "config/config.h"

#include "common/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG__MAX_FILE (8u << 20)     /* a config or drop-in file */
#define CONFIG__MAX_SECRET (64u << 10)  /* a password_file / token_file */
#define CONFIG__MAX_INCLUDES 4096
#define CONFIG__MAX_ID 64

typedef struct loader {
    char *err;
    size_t errlen;
    bool failed;
    config *cfg;
    const char *file;    /* display name of the file being walked */
    yaml_document_t *doc;
    char *basedir;       /* absolute directory of the main file */
    char *dispdir;       /* the main path's directory as given, "" if none */
    dev_t main_dev;
    ino_t main_ino;
    int include_line;
    char **secrets; /* token_file contents, registered on success */
    size_t nsecrets;
    unsigned flags; /* CONFIG_LOAD_* */
} loader;

/* ---- small helpers ---- */

/* Records the first error as FILE:LINE: message; fail() is always -EINVAL. A
 * macro so that the value is visible where it is returned (the static analyzer
 * does not follow variadic calls and would assume any result). */
static void fail_msg(loader *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define fail(L, line, ...) (fail_msg((L), (line), __VA_ARGS__), -EINVAL)
static void fail_msg(loader *L, int line, const char *fmt, ...)
{
    if (L->failed) return;
    L->failed = true;
    if (L->err && L->errlen) {
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(L->err, L->errlen, "%s:%d: %s", L->file ? L->file : "?", line < 1 ? 1 : line,
                 msg);
    }
}

/* A user-provided name made safe to print: at most 64 bytes, no control characters. */
static const char *printable(const char *s, char *buf, size_t n)
{
    size_t i = 0, max = n - 1 < 64 ? n - 1 : 64;
    for (; s[i] && i < max; i++) buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = 0;
    if (s[i] && n > max + 3) strcpy(buf + i, "...");
    return buf;
}

static int line_of(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 1;
}

static yaml_node_t *node_at(loader *L, int idx)
{
    return yaml_document_get_node(L->doc, idx);
}

static bool is_null(const yaml_node_t *n)
{
    if (!n) return true;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar without embedded NUL bytes (a double-quoted "\0" would cut the C string). */
static const char *clean_scalar(const yaml_node_t *n)
{
    const char *s = scalar(n);
    if (s && strlen(s) != n->data.scalar.length) return NULL;
    return s;
}

static char *join_path(const char *dir, const char *rel)
{
    char *p = NULL;
    if (rel[0] == '/' || !dir[0]) return strdup(rel);
    size_t dl = strlen(dir);
    if (asprintf(&p, "%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", rel) < 0) return NULL;
    return p;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CONFIG__MAX_ID) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool parse_ll(const char *s, long long *out)
{
    if (!s || !*s) return false;
    const char *p = s;
    if (*p == '-') p++;
    if (!*p || strlen(p) > 18) return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

/* Reads a whole regular file (at most max bytes). Caller frees *out. 0 or -errno. */
static int read_regular(const char *path, size_t max, char **out, size_t *outlen)
{
    int fd = -1, ret = 0;
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        ret = -errno;
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ret = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        ret = -EFBIG;
        goto out;
    }
    buf = malloc(max + 1);
    if (!buf) {
        ret = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, max + 1 - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            ret = -errno;
            goto out;
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len > max) {
            ret = -EFBIG;
            goto out;
        }
    }
    buf[len] = 0;
    *out = buf;
    buf = NULL;
    if (outlen) *outlen = len;
out:
    if (buf) {
        vg_memzero(buf, max + 1);
        free(buf);
    }
    if (fd >= 0) close(fd);
    return ret;
}

static const char *read_error(int ret)
{
    switch (ret) {
    case -EINVAL: return "not a regular file";
    case -EISDIR: return "is a directory";
    case -EFBIG: return "file too large";
    default: return strerror(-ret);
    }
}

/* Reads a secret file (password_file, token_file): trailing CR/LF stripped, non-empty,
 * no NUL bytes. On error writes a message (never the contents) at line. */
static int read_secret(loader *L, int line, const char *what, const char *path,
                       const char *shown, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    char pb[80];
    int ret = read_regular(path, CONFIG__MAX_SECRET, &buf, &len);
    if (ret < 0) {
        fail_msg(L, line, "cannot read %s '%s': %s", what, printable(shown, pb, sizeof(pb)),
             read_error(ret));
        return ret;
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = 0;
    if (!len || strlen(buf) != len) {
        vg_memzero(buf, len);
        free(buf);
        return fail(L, line, "%s '%s' %s", what, printable(shown, pb, sizeof(pb)),
                    !len ? "is empty" : "contains a NUL byte");
    }
    *out = buf;
    return 0;
}

static void free_secret(char *s)
{
    if (!s) return;
    vg_memzero(s, strlen(s));
    free(s);
}

/* ---- typed values ---- */

/* A string value; allow_empty also takes an empty (null) plain scalar as "". */
static int get_str(loader *L, yaml_node_t *v, const char *what, bool allow_empty, char **out)
{
    const char *s = clean_scalar(v);
    if (!s) return fail(L, line_of(v), "%s must be a string", what);
    if (is_null(v)) s = "";
    if (!*s && !allow_empty) return fail(L, line_of(v), "%s must be a non-empty string", what);
    char *d = strdup(s);
    if (!d) return -ENOMEM;
    free(*out);
    *out = d;
    return 0;
}

static int get_path(loader *L, yaml_node_t *v, const char *what, char **out)
{
    char *s = NULL;
    int ret = get_str(L, v, what, false, &s);
    if (ret < 0) return ret;
    char *p = join_path(L->basedir, s);
    free(s);
    if (!p) return -ENOMEM;
    free(*out);
    *out = p;
    return 0;
}

/* A systemd credential (LoadCredential=): the secret named v, read from
 * $CREDENTIALS_DIRECTORY. The name is looked up as given, then as
 * "vigil_<name>", which is what the unit's
 * LoadCredential=vigil:/etc/vigil/credentials makes of the file
 * /etc/vigil/credentials/<name>. what names the key in messages. Returns 1
 * (nothing read, *out untouched) without $CREDENTIALS_DIRECTORY under
 * CONFIG_LOAD_NO_CREDENTIALS. */
static int read_credential(loader *L, yaml_node_t *v, const char *what, char **out)
{
    const char *name = clean_scalar(v);
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char path[PATH_MAX], nb[80];
    if (!name || v->type != YAML_SCALAR_NODE || !*name)
        return fail(L, line_of(v), "%s must be a credential name", what);
    printable(name, nb, sizeof(nb));
    if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > 255)
        return fail(L, line_of(v), "%s '%s' is not a credential name (no '/', not . or ..)",
                    what, nb);
    if ((!dir || !*dir) && (L->flags & CONFIG_LOAD_NO_CREDENTIALS)) return 1;
    if (!dir || !*dir)
        return fail(L, line_of(v), "%s '%s': no $CREDENTIALS_DIRECTORY (systemd sets it for a "
                    "unit with LoadCredential=)", what, nb);
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return fail(L, line_of(v), "%s '%s': path too long", what, nb);
    if (access(path, F_OK) != 0 &&
        snprintf(path, sizeof(path), "%s/vigil_%s", dir, name) < (int)sizeof(path) &&
        access(path, F_OK) != 0)
        return fail(L, line_of(v), "%s '%s' is not among the service's credentials (put it in "
                    "/etc/vigil/credentials/%s, or add LoadCredential=%s:FILE to the unit)",
                    what, nb, nb, nb);
    return read_secret(L, line_of(v), what, path, name, out);
}

static int get_int(loader *L, yaml_node_t *v, const char *what, long long lo, long long hi,
                   int *out)
{
    long long x;
    if (!parse_ll(clean_scalar(v), &x) || x < lo || x > hi) {
        if (hi == INT_MAX) return fail(L, line_of(v), "%s must be an integer >= %lld", what, lo);
        return fail(L, line_of(v), "%s must be an integer %lld..%lld", what, lo, hi);
    }
    *out = (int)x;
    return 0;
}

static int get_bool(loader *L, yaml_node_t *v, const char *what, bool *out)
{
    static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};
    const char *s = clean_scalar(v);
    for (size_t i = 0; s && i < 3; i++) {
        if (!strcasecmp(s, t[i])) return *out = true, 0;
        if (!strcasecmp(s, f[i])) return *out = false, 0;
    }
    return fail(L, line_of(v), "%s must be true or false", what);
}

/* Looks s up in names[]; returns the index or -1. */
static int lookup(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) return (int)i;
    return -1;
}

/* ---- mappings ---- */

/* Checks that m is a mapping whose keys are strings, known, and not repeated.
 * ctx is appended to messages (" in camera 'x'"). */
static int check_keys(loader *L, yaml_node_t *m, const char *const *allowed, size_t nallowed,
                      const char *ctx)
{
    char kb[80];
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(L, p->key);
        const char *ks = clean_scalar(k);
        if (!ks) return fail(L, line_of(k), "keys must be strings%s", ctx);
        if (lookup(ks, allowed, nallowed) < 0)
            return fail(L, line_of(k), "unknown key '%s'%s", printable(ks, kb, sizeof(kb)), ctx);
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            const char *qs = scalar(node_at(L, q->key));
            if (qs && !strcmp(qs, ks))
                return fail(L, line_of(k), "duplicate key '%s'%s (first at line %d)",
                            printable(ks, kb, sizeof(kb)), ctx, line_of(node_at(L, q->key)));
        }
    }
    return 0;
}

static yaml_node_t *map_get(loader *L, yaml_node_t *m, const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *ks = scalar(node_at(L, p->key));
        if (ks && !strcmp(ks, key)) return node_at(L, p->value);
    }
    return NULL;
}

#define FOR_PAIRS(L, m, kvar, vvar)                                                                \
    for (yaml_node_pair_t *pp_ = (m)->data.mapping.pairs.start;                                    \
         pp_ < (m)->data.mapping.pairs.top &&                                                      \
         ((kvar) = scalar(node_at((L), pp_->key)), (vvar) = node_at((L), pp_->value), 1);          \
         pp_++)

/* ---- sizes ---- */

int config_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1000ull},
        {"mb", 1000ull * 1000},
        {"gb", 1000ull * 1000 * 1000},
        {"tb", 1000ull * 1000 * 1000 * 1000},
        {"k", 1ull << 10},
        {"m", 1ull << 20},
        {"g", 1ull << 30},
        {"t", 1ull << 40},
        {"kib", 1ull << 10},
        {"mib", 1ull << 20},
        {"gib", 1ull << 30},
        {"tib", 1ull << 40},
    };
    if (!s || !out || !isdigit((unsigned char)*s)) return -EINVAL;
    uint64_t n = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10) return -EINVAL;
        n = n * 10 + d;
    }
    if (*p == ' ') p++;
    if (p[-1] == ' ' && !*p) return -EINVAL;
    for (size_t i = 0; i < VG_ARRAY_SIZE(units); i++) {
        if (strcasecmp(p, units[i].suffix) != 0) continue;
        if (n && units[i].mult > UINT64_MAX / n) return -EINVAL;
        *out = n * units[i].mult;
        return 0;
    }
    return -EINVAL;
}

/* "5%", "2.5%": 0 <= pct < 100, at most 6 decimals. */
static int parse_pct(const char *s, double *out)
{
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != '%') return -EINVAL;
    uint64_t ip = 0, fp = 0, scale = 1;
    const char *p = s;
    if (!isdigit((unsigned char)*p)) return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        ip = ip * 10 + (uint64_t)(*p - '0');
        if (ip >= 100) return -EINVAL;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
            if (scale >= 1000000) return -EINVAL;
            fp = fp * 10 + (uint64_t)(*p - '0');
            scale *= 10;
        }
    }
    if (p != s + n - 1) return -EINVAL;
    *out = (double)ip + (double)fp / (double)scale;
    return 0;
}

/* ---- sections ---- */

int config_listen_parse(const char *s, config_listen *out)
{
    const char *c = s ? strrchr(s, ':') : NULL, *h = s, *hend = c;
    long long port;
    /* Port 0 asks the kernel for a free port (tests, several daemons on one
     * host); vigild logs the port it got. */
    if (!c || c == s || !parse_ll(c + 1, &port) || port < 0 || port > 65535 || c[1] == '-' ||
        strpbrk(s, " \t/"))
        return -EINVAL;
    bool br = s[0] == '[';
    if (br) {
        if (c[-1] != ']' || c - s <= 2) return -EINVAL;
        h = s + 1, hend = c - 1;
    } else if (memchr(s, ']', (size_t)(c - s))) {
        return -EINVAL;
    }
    if ((size_t)(hend - h) >= sizeof(out->host)) return -EINVAL;
    memcpy(out->host, h, (size_t)(hend - h));
    out->host[hend - h] = 0;
    out->port = (int)port;
    out->bracketed = br;
    return 0;
}

static bool host_is_loopback(const char *h)
{
    if (!strcasecmp(h, "localhost")) return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, h, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
        if (IN6_IS_ADDR_V4MAPPED(&a6)) return a6.s6_addr[12] == 127;
    }
    return false;
}

bool config_listen_allowed(const config *cfg, const char *listen, char *err, size_t errlen)
{
    if (cfg->auth_enabled) return true;
    config_listen la;
    if (config_listen_parse(listen, &la) == 0 && host_is_loopback(la.host)) return true;
    snprintf(err, errlen,
             "%s: listen: %s is not a loopback address and there is no auth: section; "
             "add auth.tokens or listen on 127.0.0.1",
             cfg->path ? cfg->path : "config", listen ? listen : "(none)");
    return false;
}

static int parse_listen(loader *L, yaml_node_t *v)
{
    int ret = get_str(L, v, "listen", false, &L->cfg->listen);
    if (ret < 0) return ret;
    if (config_listen_parse(L->cfg->listen, &L->cfg->listen_at) < 0)
        return fail(L, line_of(v), "listen must be HOST:PORT (e.g. 127.0.0.1:8080)");
    return 0;
}

/* npools: how many entries storage.pools has (a lone pool may leave out its id). */
static int get_period(loader *L, yaml_node_t *v, const char *what, int64_t *out_us);

static int parse_pool(loader *L, yaml_node_t *m, size_t idx, size_t npools)
{
    static const char *const keys[] = {"id",      "path",       "max_bytes", "min_free",
                                       "direct_io", "move_to", "move_after", "move_rate",
                                       "sync_ms"};
    config *cfg = L->cfg;
    char ctx[120], ib[80];
    const char *k;
    yaml_node_t *v;
    int ret;

    if (m->type != YAML_MAPPING_NODE)
        return fail(L, line_of(m), "storage.pools entries must be mappings");
    yaml_node_t *idn = map_get(L, m, "id");
    if (!idn && npools > 1)
        return fail(L, line_of(m), "pool #%zu has no id (only a single pool may leave it out)",
                    idx + 1);
    /* The shortest config has one pool and no id: it is "main". */
    const char *id = idn ? clean_scalar(idn) : "main";
    if (!id || !valid_id(id))
        return fail(L, line_of(idn), "pool id '%s' must match [a-z0-9_-]{1,64}",
                    id ? printable(id, ib, sizeof(ib)) : "");
    snprintf(ctx, sizeof(ctx), " in pool '%s'", id);
    if ((ret = check_keys(L, m, keys, VG_ARRAY_SIZE(keys), ctx)) < 0) return ret;
    for (size_t i = 0; i < cfg->npools; i++)
        if (!strcmp(cfg->pools[i].id, id))
            return fail(L, line_of(idn), "duplicate pool id '%s' (first defined at %s:%d)", id,
                        cfg->pools[i].file, cfg->pools[i].line);

    config_pool *np = realloc(cfg->pools, (cfg->npools + 1) * sizeof(*np));
    if (!np) return -ENOMEM;
    cfg->pools = np;
    config_pool *p = &cfg->pools[cfg->npools++];
    memset(p, 0, sizeof(*p));
    p->line = line_of(idn ? idn : m);
    p->sync_ms = 1000;
    if (!(p->id = strdup(id)) || !(p->file = strdup(L->file))) return -ENOMEM;

    FOR_PAIRS(L, m, k, v)
    {
        char what[140];
        if (!k) continue; /* check_keys() made sure keys are strings */
        snprintf(what, sizeof(what), "pool '%s': %s", id, k);
        if (!strcmp(k, "path")) {
            ret = get_path(L, v, what, &p->path);
        } else if (!strcmp(k, "max_bytes")) {
            if (config_parse_size(clean_scalar(v), &p->max_bytes) < 0)
                ret = fail(L, line_of(v), "%s must be a size (bytes, or e.g. 500GB, 2TiB)", what);
        } else if (!strcmp(k, "min_free")) {
            const char *s = clean_scalar(v);
            if (s && strchr(s, '%')) {
                if (parse_pct(s, &p->min_free_pct) < 0)
                    ret = fail(L, line_of(v), "%s must be a percentage below 100%% or a size",
                               what);
            } else if (config_parse_size(s, &p->min_free_bytes) < 0) {
                ret = fail(L, line_of(v), "%s must be a percentage (5%%) or a size (4GB)", what);
            }
        } else if (!strcmp(k, "direct_io")) {
            bool direct = true;
            ret = get_bool(L, v, what, &direct);
            p->buffered = !direct;
        } else if (!strcmp(k, "move_to")) {
            const char *to = clean_scalar(v);
            if (!to || !valid_id(to)) ret = fail(L, line_of(v), "%s must be a pool id", what);
            else if (!(p->move_to = strdup(to))) ret = -ENOMEM;
            p->move_line = line_of(v);
        } else if (!strcmp(k, "move_after")) {
            ret = get_period(L, v, what, &p->move_after_us);
        } else if (!strcmp(k, "move_rate")) {
            if (config_parse_size(clean_scalar(v), &p->move_rate) < 0 || p->move_rate < 4096)
                ret = fail(L, line_of(v), "%s must be a size per second of at least 4 KiB "
                                          "(\"64MiB\")", what);
        } else if (!strcmp(k, "sync_ms")) {
            ret = get_int(L, v, what, 0, 3600000, &p->sync_ms);
        }
        if (ret < 0) return ret;
    }
    if (!p->path) return fail(L, line_of(m), "pool '%s': path is required", id);
    for (size_t i = 0; i + 1 < cfg->npools; i++)
        if (!strcmp(cfg->pools[i].path, p->path))
            return fail(L, p->line, "pool '%s' has the same path as pool '%s'", id,
                        cfg->pools[i].id);
    return 0;
}

static int parse_storage(loader *L, yaml_node_t *m)
{
    static const char *const keys[] = {"pools"};
    int ret;
    if (m->type != YAML_MAPPING_NODE) return fail(L, line_of(m), "storage must be a mapping");
    if ((ret = check_keys(L, m, keys, 1, " in storage")) < 0) return ret;
    yaml_node_t *pools = map_get(L, m, "pools");
    if (!pools || pools->type != YAML_SEQUENCE_NODE ||
        pools->data.sequence.items.top == pools->data.sequence.items.start)
        return fail(L, line_of(pools ? pools : m), "storage.pools must list at least one pool");
    size_t i = 0;
    for (yaml_node_item_t *it = pools->data.sequence.items.start;
         it < pools->data.sequence.items.top; it++, i++)
        if ((ret = parse_pool(L, node_at(L, *it), i,
                              (size_t)(pools->data.sequence.items.top -
                                       pools->data.sequence.items.start))) < 0)
            return ret;
    /* Tiers: a pool moves its footage to another pool, which keeps it. */
    for (size_t k = 0; k < L->cfg->npools; k++) {
        config_pool *p = &L->cfg->pools[k];
        if (!p->move_to) {
            if (p->move_after_us) return fail(L, p->line, "pool '%s': move_after needs move_to", p->id);
            continue;
        }
        const config_pool *to = config_find_pool(L->cfg, p->move_to);
        if (!to || to == p)
            return fail(L, p->move_line, "pool '%s': move_to '%s' is not another pool", p->id,
                        p->move_to);
        if (to->move_to)
            return fail(L, p->move_line, "pool '%s': move_to '%s' moves its footage on too "
                        "(one hop: a recording pool and its archive)", p->id, to->id);
        if (!p->move_after_us)
            return fail(L, p->move_line, "pool '%s': move_to needs move_after (\"6h\")", p->id);
        if (!p->move_rate) p->move_rate = 64ull << 20;
    }
    return 0;
}

static int parse_token(loader *L, yaml_node_t *m, size_t idx)
{
    static const char *const keys[] = {"name", "role", "token_sha256", "token_file",
                                       "token_credential"};
    static const char *const roles[] = {"viewer", "investigator", "admin", "integrator"};
    config *cfg = L->cfg;
    char ctx[120], nb[80];
    int ret = 0;

    if (m->type != YAML_MAPPING_NODE)
        return fail(L, line_of(m), "auth.tokens entries must be mappings");
    yaml_node_t *nn = map_get(L, m, "name");
    const char *name = clean_scalar(nn);
    if (!nn) return fail(L, line_of(m), "token #%zu has no name", idx + 1);
    if (!name || is_null(nn)) return fail(L, line_of(nn), "token name must be a non-empty string");
    printable(name, nb, sizeof(nb));
    snprintf(ctx, sizeof(ctx), " in token '%s'", nb);
    if ((ret = check_keys(L, m, keys, VG_ARRAY_SIZE(keys), ctx)) < 0) return ret;
    for (size_t i = 0; i < cfg->ntokens; i++)
        if (!strcmp(cfg->tokens[i].name, name))
            return fail(L, line_of(nn), "duplicate token name '%s'", nb);

    config_token *nt = realloc(cfg->tokens, (cfg->ntokens + 1) * sizeof(*nt));
    if (!nt) return -ENOMEM;
    cfg->tokens = nt;
    config_token *t = &cfg->tokens[cfg->ntokens++];
    memset(t, 0, sizeof(*t));
    if (!(t->name = strdup(name))) return -ENOMEM;

    yaml_node_t *hash = map_get(L, m, "token_sha256"), *file = map_get(L, m, "token_file");
    yaml_node_t *role = map_get(L, m, "role");
    if (!role) return fail(L, line_of(m), "token '%s': role is required", nb);
    int r = lookup(clean_scalar(role), roles, VG_ARRAY_SIZE(roles));
    if (r < 0)
        return fail(L, line_of(role), "token '%s': role must be viewer, investigator, admin or integrator",
                    nb);
    t->role = (config_role)(r + 1);
    yaml_node_t *cred = map_get(L, m, "token_credential");
    if (!!hash + !!file + !!cred > 1)
        return fail(L, line_of(cred ? cred : file), "token '%s': token_sha256, token_file and "
                    "token_credential are exclusive", nb);
    if (!hash && !file && !cred)
        return fail(L, line_of(m), "token '%s': token_sha256, token_file or token_credential is "
                    "required", nb);
    if (hash) {
        const char *h = clean_scalar(hash);
        if (!h || strlen(h) != 64 ||
            vg_unhex(h, 64, t->sha256, sizeof(t->sha256)) < 0)
            return fail(L, line_of(hash), "token '%s': token_sha256 must be 64 hex digits", nb);
    } else {
        char *path = NULL, *tok = NULL;
        char what[140];
        if (cred) {
            ret = read_credential(L, cred, "token_credential", &tok);
            if (ret == 1) return 0; /* not read (vigilctl outside the unit): no hash */
        } else {
            snprintf(what, sizeof(what), "token '%s': token_file", nb);
            if ((ret = get_path(L, file, what, &path)) < 0) return ret;
            ret = read_secret(L, line_of(file), "token_file", path, clean_scalar(file), &tok);
            free(path);
        }
        if (ret < 0) return ret;
        vg_sha256_digest(tok, strlen(tok), t->sha256);
        /* registered as a log secret with the passwords once the load succeeds */
        char **ns = realloc(L->secrets, (L->nsecrets + 1) * sizeof(*ns));
        if (!ns) {
            vg_memzero(tok, strlen(tok));
            free(tok);
            return -ENOMEM;
        }
        L->secrets = ns;
        L->secrets[L->nsecrets++] = tok;
    }
    for (size_t i = 0; i + 1 < cfg->ntokens; i++)
        if (vg_ct_equal(cfg->tokens[i].sha256, t->sha256, 32))
            return fail(L, line_of(hash ? hash : file ? file : cred),
                        "token '%s' has the same token as token '%s'", nb, cfg->tokens[i].name);
    return 0;
}

static int parse_auth(loader *L, yaml_node_t *m)
{
    static const char *const keys[] = {"tokens"};
    int ret;
    L->cfg->auth_enabled = true;
    if (m->type != YAML_MAPPING_NODE) return fail(L, line_of(m), "auth must be a mapping");
    if ((ret = check_keys(L, m, keys, 1, " in auth")) < 0) return ret;
    yaml_node_t *toks = map_get(L, m, "tokens");
    if (!toks || toks->type != YAML_SEQUENCE_NODE ||
        toks->data.sequence.items.top == toks->data.sequence.items.start)
        return fail(L, line_of(toks ? toks : m), "auth.tokens must list at least one token");
    size_t i = 0;
    for (yaml_node_item_t *it = toks->data.sequence.items.start;
         it < toks->data.sequence.items.top; it++, i++)
        if ((ret = parse_token(L, node_at(L, *it), i)) < 0) return ret;
    return 0;
}

/* A duration of 0..3600 s: "30s", "2m", or plain seconds. */
static int get_seconds(loader *L, yaml_node_t *v, const char *what, int64_t *out_us)
{
    const char *s = clean_scalar(v);
    char num[32];
    size_t n = s ? strlen(s) : 0;
    long long mult = 1, x;
    if (n && (s[n - 1] == 's' || s[n - 1] == 'm')) {
        mult = s[n - 1] == 'm' ? 60 : 1;
        n--;
    }
    if (!s || n == 0 || n >= sizeof(num)) goto bad;
    memcpy(num, s, n);
    num[n] = 0;
    if (!parse_ll(num, &x) || x < 0 || x > 3600 || x * mult > 3600) goto bad;
    *out_us = x * mult * 1000000;
    return 0;
bad:
    return fail(L, line_of(v), "%s must be a duration of 0..3600 s (\"30s\", \"2m\")", what);
}

static int parse_events(loader *L, yaml_node_t *m)
{
    static const char *const keys[] = {"pre_roll", "post_roll", "retention_days"};
    const char *k;
    yaml_node_t *v;
    int ret = 0;
    if (m->type != YAML_MAPPING_NODE) return fail(L, line_of(m), "events must be a mapping");
    if ((ret = check_keys(L, m, keys, VG_ARRAY_SIZE(keys), " in events")) < 0) return ret;
    FOR_PAIRS(L, m, k, v)
    {
        if (!k) continue;
        if (!strcmp(k, "pre_roll"))
            ret = get_seconds(L, v, "events.pre_roll", &L->cfg->event_pre_roll_us);
        else if (!strcmp(k, "post_roll"))
            ret = get_seconds(L, v, "events.post_roll", &L->cfg->event_post_roll_us);
        else if (!strcmp(k, "retention_days"))
            ret = get_int(L, v, "events.retention_days", 0, CONFIG_EVENT_RETENTION_MAX,
                          &L->cfg->event_retention_days);
        if (ret < 0) return ret;
        /* 0 is "not set" (the default), like an absent key. */
        if (L->cfg->event_retention_days == 0)
            L->cfg->event_retention_days = CONFIG_EVENT_RETENTION_DAYS;
    }
    return 0;
}

/* console: {timezone: Area/City}: the zone the web console shows times in
 * (the API stays UTC). Only checked for the characters of an IANA name: the
 * browser resolves it, and falls back to UTC for a name it does not know. */
static int parse_console(loader *L, yaml_node_t *m)
{
    static const char *const keys[] = {"timezone"};
    const char *k;
    yaml_node_t *v;
    int ret = 0;
    if (m->type != YAML_MAPPING_NODE) return fail(L, line_of(m), "console must be a mapping");
    if ((ret = check_keys(L, m, keys, VG_ARRAY_SIZE(keys), " in console")) < 0) return ret;
    FOR_PAIRS(L, m, k, v)
    {
        if (!k) continue;
        if (!strcmp(k, "timezone")) {
            char *tz = NULL;
            if ((ret = get_str(L, v, "console.timezone", false, &tz)) < 0) return ret;
            size_t n = strlen(tz);
            bool ok = n > 0 && n < 64;
            for (size_t i = 0; ok && i < n; i++)
                ok = isalnum((unsigned char)tz[i]) || strchr("/_+-", tz[i]);
            if (!ok) {
                free(tz);
                return fail(L, line_of(v), "console.timezone must be an IANA zone name such as "
                                           "Asia/Ho_Chi_Minh");
            }
            free(L->cfg->console_timezone);
            L->cfg->console_timezone = tz;
        }
    }
    return 0;
}

static int parse_http(loader *L, yaml_node_t *m)
{
    static const char *const keys[] = {"workers",       "max_downloads",
                                       "max_downloads_per_token", "max_snapshots",
                                       "max_snapshots_per_token", "snapshot_max_pixels"};
    config_http *h = &L->cfg->http;
    const char *k;
    yaml_node_t *v;
    int ret = 0;
    if (m->type != YAML_MAPPING_NODE) return fail(L, line_of(m), "http must be a mapping");
    if ((ret = check_keys(L, m, keys, VG_ARRAY_SIZE(keys), " in http")) < 0) return ret;
    FOR_PAIRS(L, m, k, v)
    {
        if (!k) continue;
        if (!strcmp(k, "workers")) ret = get_int(L, v, "http.workers", 1, 256, &h->workers);
        else if (!strcmp(k, "max_downloads"))
            ret = get_int(L, v, "http.max_downloads", 1, 100000, &h->max_downloads);
        else if (!strcmp(k, "max_downloads_per_token"))
            ret = get_int(L, v, "http.max_downloads_per_token", 1, 100000,
                          &h->max_downloads_per_token);
        else if (!strcmp(k, "max_snapshots"))
            ret = get_int(L, v, "http.max_snapshots", 1, 100000, &h->max_snapshots);
        else if (!strcmp(k, "max_snapshots_per_token"))
            ret = get_int(L, v, "http.max_snapshots_per_token", 1, 100000,
                          &h->max_snapshots_per_token);
        else if (!strcmp(k, "snapshot_max_pixels"))
            ret = get_int(L, v, "http.snapshot_max_pixels", 1, INT_MAX, &h->snapshot_max_pixels);
        if (ret < 0) return ret;
    }
    return 0;
}

/* A period of 0..366 days: "7d", "12h", "90m", "3600s" or plain seconds. */
static int get_period(loader *L, yaml_node_t *v, const char *what, int64_t *out_us)
{
    const char *s = clean_scalar(v);
    char num[32];
    size_t n = s ? strlen(s) : 0;
    long long mult = 1, x;
    if (n) {
        switch (s[n - 1]) {
        case 'd': mult = 86400, n--; break;
        case 'h': mult = 3600, n--; break;
        case 'm': mult = 60, n--; break;
        case 's': n--; break;
        default: break;
        }
    }
    if (!s || n == 0 || n >= sizeof(num)) goto bad;
    memcpy(num, s, n);
    num[n] = 0;
    if (!parse_ll(num, &x) || x < 0 || x > 366LL * 86400 || x * mult > 366LL * 86400) goto bad;
    *out_us = x * mult * 1000000;
    return 0;
bad:
    return fail(L, line_of(v), "%s must be a period of 0..366 days (\"7d\", \"12h\", \"90m\")",
                what);
}

static int parse_scrub(loader *L, yaml_node_t *m)
{
    static const char *const keys[] = {"period", "max_rate"};
    const char *k;
    yaml_node_t *v;
    int ret = 0;
    if (m->type != YAML_MAPPING_NODE) return fail(L, line_of(m), "scrub must be a mapping");
    if ((ret = check_keys(L, m, keys, VG_ARRAY_SIZE(keys), " in scrub")) < 0) return ret;
    FOR_PAIRS(L, m, k, v)
    {
        if (!k) continue;
        if (!strcmp(k, "period")) {
            ret = get_period(L, v, "scrub.period", &L->cfg->scrub_period_us);
        } else if (!strcmp(k, "max_rate")) {
            uint64_t r = 0;
            if (config_parse_size(clean_scalar(v), &r) < 0 || r < 4096)
                ret = fail(L, line_of(v), "scrub.max_rate must be a size per second of at "
                                          "least 4 KiB (\"20MiB\")");
            else
                L->cfg->scrub_max_rate = r;
        }
        if (ret < 0) return ret;
    }
    return 0;
}

/* rtsp://[host][:port][/path], no userinfo, no whitespace. Never echoes the URL. */
static int check_url(loader *L, yaml_node_t *v, const char *id, const char *url)
{
    const char *rest = NULL;
    if (!strncasecmp(url, "rtsp://", 7)) rest = url + 7;
    else if (!strncasecmp(url, "rtsps://", 8)) rest = url + 8;
    if (!rest) return fail(L, line_of(v), "camera '%s': url must start with rtsp:// or rtsps://", id);
    size_t alen = strcspn(rest, "/?#");
    if (memchr(rest, '@', alen))
        return fail(L, line_of(v),
                    "camera '%s': url must not contain credentials (use username/password)", id);
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return fail(L, line_of(v), "camera '%s': url must not contain spaces or control "
                                       "characters", id);
    if (alen == 0 || rest[0] == ':')
        return fail(L, line_of(v), "camera '%s': url has no host", id);
    return 0;
}

static int parse_camera(loader *L, yaml_node_t *m, size_t idx)
{
    static const char *const keys[] = {"id",       "name",     "district",      "site",
                                       "url",      "username", "password",      "password_file",
                                       "transport", "enabled", "pool",          "retention_days",
                                       "source", "sub_url", "record_sub", "password_credential",
                                       "tls_verify", "tls_ca_file"};
    static const char *const sites[] = {"security", "one-stop-shop", "traffic", "forest", "other"};
    static const char *const sources[] = {"ffmpeg", "native"};
    config *cfg = L->cfg;
    char ctx[120], ib[80];
    const char *k;
    yaml_node_t *v;
    int ret = 0;

    if (m->type != YAML_MAPPING_NODE) return fail(L, line_of(m), "cameras entries must be mappings");
    yaml_node_t *idn = map_get(L, m, "id");
    if (!idn) return fail(L, line_of(m), "camera #%zu has no id", idx + 1);
    const char *id = clean_scalar(idn);
    if (!id || !valid_id(id))
        return fail(L, line_of(idn), "camera id '%s' must match [a-z0-9_-]{1,64}",
                    id ? printable(id, ib, sizeof(ib)) : "");
    snprintf(ctx, sizeof(ctx), " in camera '%s'", id);
    if ((ret = check_keys(L, m, keys, VG_ARRAY_SIZE(keys), ctx)) < 0) return ret;
    const config_camera *dup = config_find_camera(cfg, id);
    if (dup)
        return fail(L, line_of(idn), "duplicate camera id '%s' (first defined at %s:%d)", id,
                    dup->file, dup->line);

    config_camera *nc = realloc(cfg->cameras, (cfg->ncameras + 1) * sizeof(*nc));
    if (!nc) return -ENOMEM;
    cfg->cameras = nc;
    config_camera *c = &cfg->cameras[cfg->ncameras++];
    memset(c, 0, sizeof(*c));
    c->line = line_of(idn);
    c->site = CONFIG_SITE_OTHER;
    c->tcp = true;
    c->enabled = true;
    c->retention_days = cfg->retention_days;
    c->source = CONFIG_SOURCE_NATIVE; /* ffmpeg: opt-in per camera */
    if (!(c->id = strdup(id)) || !(c->file = strdup(L->file))) return -ENOMEM;

    yaml_node_t *pwn = NULL, *pwfn = NULL, *pwcn = NULL, *rsn = NULL;
    FOR_PAIRS(L, m, k, v)
    {
        char what[140];
        if (!k) continue; /* check_keys() made sure keys are strings */
        snprintf(what, sizeof(what), "camera '%s': %s", id, k);
        if (!strcmp(k, "name")) {
            ret = get_str(L, v, what, false, &c->name);
        } else if (!strcmp(k, "district")) {
            ret = get_str(L, v, what, true, &c->district);
        } else if (!strcmp(k, "site")) {
            int s = lookup(clean_scalar(v), sites, VG_ARRAY_SIZE(sites));
            if (s < 0)
                ret = fail(L, line_of(v), "%s must be security, one-stop-shop, traffic, forest "
                                          "or other", what);
            else c->site = (config_site)s;
        } else if (!strcmp(k, "url")) {
            if ((ret = get_str(L, v, what, false, &c->url)) == 0)
                ret = check_url(L, v, id, c->url);
        } else if (!strcmp(k, "sub_url")) {
            if ((ret = get_str(L, v, what, false, &c->sub_url)) == 0)
                ret = check_url(L, v, id, c->sub_url);
        } else if (!strcmp(k, "record_sub")) {
            rsn = v;
            ret = get_bool(L, v, what, &c->record_sub);
        } else if (!strcmp(k, "username")) {
            ret = get_str(L, v, what, false, &c->username);
        } else if (!strcmp(k, "password")) {
            /* never echo the value, whatever is wrong with it */
            pwn = v;
            const char *s = clean_scalar(v);
            if (!s || v->type != YAML_SCALAR_NODE)
                ret = fail(L, line_of(v), "%s must be a string", what);
            else if (!*s || is_null(v))
                ret = fail(L, line_of(v), "%s must not be empty", what);
            else if (!(c->password = strdup(s)))
                ret = -ENOMEM;
        } else if (!strcmp(k, "password_file")) {
            pwfn = v;
            ret = get_path(L, v, what, &c->password_file);
        } else if (!strcmp(k, "password_credential")) {
            pwcn = v;
            ret = get_str(L, v, what, false, &c->password_credential);
        } else if (!strcmp(k, "transport")) {
            const char *s = clean_scalar(v);
            if (s && !strcmp(s, "tcp")) c->tcp = true;
            else if (s && !strcmp(s, "udp")) c->tcp = false;
            else ret = fail(L, line_of(v), "%s must be tcp or udp", what);
        } else if (!strcmp(k, "enabled")) {
            ret = get_bool(L, v, what, &c->enabled);
        } else if (!strcmp(k, "tls_verify")) {
            bool verify = true;
            ret = get_bool(L, v, what, &verify);
            c->tls_no_verify = !verify;
        } else if (!strcmp(k, "tls_ca_file")) {
            ret = get_path(L, v, what, &c->tls_ca_file);
        } else if (!strcmp(k, "pool")) {
            if ((ret = get_str(L, v, what, false, &c->pool)) == 0 && !config_find_pool(cfg, c->pool)) {
                char pb[80];
                ret = fail(L, line_of(v), "camera '%s': pool '%s' is not defined in storage.pools",
                           id, printable(c->pool, pb, sizeof(pb)));
            }
        } else if (!strcmp(k, "retention_days")) {
            ret = get_int(L, v, what, 0, INT_MAX, &c->retention_days);
        } else if (!strcmp(k, "source")) {
            int s = lookup(clean_scalar(v), sources, VG_ARRAY_SIZE(sources));
            if (s < 0) ret = fail(L, line_of(v), "%s must be ffmpeg or native", what);
            else c->source = (config_source)s;
        }
        if (ret < 0) return ret;
    }
    if (!c->url) return fail(L, line_of(m), "camera '%s': url is required", id);
    /* libavformat's RTSP client opens TLS without options: it could not check
     * the camera's certificate, and a camera's password must not go to
     * whoever answers. */
    if (c->source == CONFIG_SOURCE_FFMPEG && !c->tls_no_verify &&
        (!strncasecmp(c->url, "rtsps://", 8) || (c->sub_url && !strncasecmp(c->sub_url, "rtsps://", 8))))
        return fail(L, line_of(m), "camera '%s': rtsps:// with source: ffmpeg cannot verify the "
                                   "camera's certificate (use source: native, or tls_verify: false)",
                    id);
    if (c->record_sub && !c->sub_url)
        return fail(L, line_of(rsn), "camera '%s': record_sub needs a sub_url", id);
    if (c->record_sub && strlen(id) + strlen(CONFIG_SUB_SUFFIX) > CONFIG__MAX_ID)
        return fail(L, line_of(rsn), "camera '%s': record_sub needs an id of at most %d "
                                     "characters", id, CONFIG__MAX_ID - (int)strlen(CONFIG_SUB_SUFFIX));
    if (pwn && pwfn)
        return fail(L, line_of(pwfn), "camera '%s': password and password_file are exclusive", id);
    if ((pwn || pwfn) && pwcn)
        return fail(L, line_of(pwcn), "camera '%s': password_credential and %s are exclusive",
                    id, pwn ? "password" : "password_file");
    if ((pwn || pwfn || pwcn) && !c->username)
        return fail(L, line_of(pwn ? pwn : pwfn ? pwfn : pwcn),
                    "camera '%s': password needs a username", id);
    if (pwfn && (ret = read_secret(L, line_of(pwfn), "password_file", c->password_file,
                                   clean_scalar(pwfn), &c->password)) < 0)
        return ret;
    if (pwcn && (ret = read_credential(L, pwcn, "password_credential", &c->password)) < 0)
        return ret;
    if (!c->name && !(c->name = strdup(id))) return -ENOMEM;
    if (!c->district && !(c->district = strdup(""))) return -ENOMEM;
    if (!c->pool && !(c->pool = strdup(cfg->pools[0].id))) return -ENOMEM;
    return 0;
}

static int parse_cameras(loader *L, yaml_node_t *seq)
{
    int ret;
    if (is_null(seq)) return 0;
    if (seq->type != YAML_SEQUENCE_NODE) return fail(L, line_of(seq), "cameras must be a list");
    size_t i = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++, i++)
        if ((ret = parse_camera(L, node_at(L, *it), i)) < 0) return ret;
    return 0;
}

/* ---- files ---- */

/* Parses L->file into doc (one YAML document). 0, -EINVAL with a message, or -errno. */
static int load_yaml(loader *L, yaml_document_t *doc, bool *loaded)
{
    char *buf = NULL;
    size_t len = 0;
    yaml_parser_t parser;
    int ret = 0;
    bool have_parser = false;

    *loaded = false;
    ret = read_regular(L->file, CONFIG__MAX_FILE, &buf, &len);
    if (ret < 0) {
        fail_msg(L, 1, "cannot read: %s", read_error(ret));
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        ret = -ENOMEM;
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, doc)) goto yaml_error;
    *loaded = true;
    if (yaml_document_get_root_node(doc)) {
        /* Anything after the first document is a mistake (or a second config). */
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) goto yaml_error;
        bool more = yaml_document_get_root_node(&extra) != NULL;
        int eline = more ? line_of(yaml_document_get_root_node(&extra)) : 0;
        yaml_document_delete(&extra);
        if (more) {
            ret = fail(L, eline, "only one YAML document is allowed per file");
            goto out;
        }
    }
    goto out;

yaml_error: {
    int line = (int)parser.problem_mark.line + 1;
    if (parser.error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < parser.problem_offset && i < len; i++) line += buf[i] == '\n';
    } else if (parser.error == YAML_MEMORY_ERROR) {
        ret = -ENOMEM;
        goto out;
    }
    if (parser.context && parser.error != YAML_READER_ERROR)
        fail_msg(L, line, "YAML syntax error: %s %s (line %d)",
             parser.problem ? parser.problem : "error", parser.context,
             (int)parser.context_mark.line + 1);
    else
        fail_msg(L, line, "YAML syntax error: %s", parser.problem ? parser.problem : "error");
    ret = -EINVAL;
}
out:
    if (have_parser) yaml_parser_delete(&parser);
    if (buf) free(buf);
    return ret;
}

static int parse_main(loader *L, yaml_node_t *root)
{
    static const char *const keys[] = {"listen",  "index", "segment_seconds", "retention_days",
                                       "web",     "storage", "include",       "auth",
                                       "cameras", "events", "http",
                                       "scrub", "console"};
    config *cfg = L->cfg;
    const char *k;
    yaml_node_t *v;
    int ret = 0;

    if (!root) return fail(L, 1, "empty configuration (index and storage are required)");
    if (root->type != YAML_MAPPING_NODE)
        return fail(L, line_of(root), "the top level must be a mapping");
    if ((ret = check_keys(L, root, keys, VG_ARRAY_SIZE(keys), "")) < 0) return ret;

    FOR_PAIRS(L, root, k, v)
    {
        if (!k) continue;
        if (!strcmp(k, "listen")) ret = parse_listen(L, v);
        else if (!strcmp(k, "index")) ret = get_path(L, v, "index", &cfg->index_path);
        else if (!strcmp(k, "segment_seconds"))
            ret = get_int(L, v, "segment_seconds", 1, 3600, &cfg->segment_seconds);
        else if (!strcmp(k, "retention_days"))
            ret = get_int(L, v, "retention_days", 0, INT_MAX, &cfg->retention_days);
        else if (!strcmp(k, "web")) ret = get_path(L, v, "web", &cfg->web_root);
        else if (!strcmp(k, "storage")) ret = parse_storage(L, v);
        else if (!strcmp(k, "include")) ret = get_path(L, v, "include", &cfg->include);
        else if (!strcmp(k, "auth")) ret = parse_auth(L, v);
        else if (!strcmp(k, "events")) ret = parse_events(L, v);
        else if (!strcmp(k, "http")) ret = parse_http(L, v);
        else if (!strcmp(k, "scrub")) ret = parse_scrub(L, v);
        else if (!strcmp(k, "console")) ret = parse_console(L, v);
        if (ret < 0) return ret;
    }
    if (!cfg->index_path) return fail(L, 1, "index is required");
    if (!cfg->npools) return fail(L, 1, "storage.pools is required");
    if ((v = map_get(L, root, "cameras")) && (ret = parse_cameras(L, v)) < 0) return ret;
    return 0;
}

static int parse_include_file(loader *L)
{
    static const char *const keys[] = {"cameras"};
    yaml_document_t doc;
    bool loaded = false;
    int ret = load_yaml(L, &doc, &loaded);
    if (ret < 0) goto out;
    L->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) goto out; /* an empty drop-in is fine */
    if (root->type != YAML_MAPPING_NODE) {
        ret = fail(L, line_of(root), "the top level must be a mapping");
        goto out;
    }
    if ((ret = check_keys(L, root, keys, 1, " (an included file may only hold cameras:)")) < 0)
        goto out;
    yaml_node_t *cams = map_get(L, root, "cameras");
    if (cams) ret = parse_cameras(L, cams);
out:
    L->doc = NULL;
    if (loaded) yaml_document_delete(&doc);
    return ret;
}

static int parse_includes(loader *L, const char *pattern_as_written)
{
    glob_t g;
    char *pat = join_path(L->dispdir, pattern_as_written);
    int ret = 0;
    if (!pat) return -ENOMEM;
    memset(&g, 0, sizeof(g));
    int gr = glob(pat, 0, NULL, &g);
    free(pat);
    if (gr == GLOB_NOMATCH) goto out;
    if (gr == GLOB_NOSPACE) {
        ret = -ENOMEM;
        goto out;
    }
    if (gr != 0) {
        ret = fail(L, L->include_line, "cannot expand include: read error");
        goto out;
    }
    if (g.gl_pathc > CONFIG__MAX_INCLUDES) {
        ret = fail(L, L->include_line, "include matches more than %d files",
                   CONFIG__MAX_INCLUDES);
        goto out;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0 && st.st_dev == L->main_dev &&
            st.st_ino == L->main_ino)
            continue; /* a glob like *.yaml next to the main file matches the main file */
        L->file = g.gl_pathv[i];
        ret = parse_include_file(L);
        L->file = NULL;
        if (ret < 0) goto out;
    }
out:
    globfree(&g);
    return ret;
}

int config_load(const char *path, config **out, char *err, size_t errlen)
{
    return config_load_flags(path, 0, out, err, errlen);
}

int config_load_flags(const char *path, unsigned flags, config **out, char *err, size_t errlen)
{
    loader L = {.err = err, .errlen = errlen, .flags = flags};
    config *cfg = NULL;
    yaml_document_t doc;
    bool loaded = false;
    char *include_written = NULL;
    int ret = 0;

    if (err && errlen) err[0] = 0;
    *out = NULL;
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return -ENOMEM;
    L.cfg = cfg;
    L.file = path;
    cfg->segment_seconds = 60;
    cfg->retention_days = 30;
    cfg->event_pre_roll_us = 10 * INT64_C(1000000);
    cfg->event_post_roll_us = 20 * INT64_C(1000000);
    cfg->event_retention_days = CONFIG_EVENT_RETENTION_DAYS;
    cfg->http = (config_http){.workers = CONFIG_HTTP_WORKERS,
                              .max_downloads = CONFIG_HTTP_MAX_DOWNLOADS,
                              .max_downloads_per_token = CONFIG_HTTP_MAX_DOWNLOADS_PER_TOKEN,
                              .max_snapshots = CONFIG_HTTP_MAX_SNAPSHOTS,
                              .max_snapshots_per_token = CONFIG_HTTP_MAX_SNAPSHOTS_PER_TOKEN,
                              .snapshot_max_pixels = CONFIG_HTTP_SNAPSHOT_MAX_PIXELS};
    cfg->scrub_period_us = 30 * 86400 * INT64_C(1000000);
    cfg->scrub_max_rate = 32ull << 20;
    config_listen_parse("127.0.0.1:8080", &cfg->listen_at);
    if (!(cfg->path = strdup(path)) || !(cfg->listen = strdup("127.0.0.1:8080"))) {
        ret = -ENOMEM;
        goto out;
    }

    /* The main file's directory, as written (for messages) and absolute (for paths). */
    const char *slash = strrchr(path, '/');
    L.dispdir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup("");
    if (!L.dispdir) {
        ret = -ENOMEM;
        goto out;
    }
    L.basedir = realpath(L.dispdir[0] ? L.dispdir : ".", NULL);
    if (!L.basedir) {
        ret = -errno;
        fail_msg(&L, 1, "cannot resolve the directory: %s", strerror(errno));
        goto out;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        L.main_dev = st.st_dev;
        L.main_ino = st.st_ino;
    }

    if ((ret = load_yaml(&L, &doc, &loaded)) < 0) goto out;
    L.doc = &doc;
    ret = parse_main(&L, yaml_document_get_root_node(&doc));
    if (ret < 0) goto out;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *inc = map_get(&L, root, "include");
    if (inc) {
        L.include_line = line_of(inc);
        if (!(include_written = strdup(scalar(inc)))) {
            ret = -ENOMEM;
            goto out;
        }
    }
    L.doc = NULL;
    yaml_document_delete(&doc);
    loaded = false;

    if (include_written && (ret = parse_includes(&L, include_written)) < 0) goto out;

    for (size_t i = 0; i < cfg->ncameras; i++) vg_log_add_secret(cfg->cameras[i].password);
    for (size_t i = 0; i < L.nsecrets; i++) vg_log_add_secret(L.secrets[i]);
    *out = cfg;
    cfg = NULL;
out:
    if (loaded) yaml_document_delete(&doc);
    if (ret < 0 && !L.failed && err && errlen)
        snprintf(err, errlen, "%s:1: %s", path, strerror(-ret));
    for (size_t i = 0; i < L.nsecrets; i++) free_secret(L.secrets[i]);
    free(L.secrets);
    free(include_written);
    free(L.dispdir);
    free(L.basedir);
    config_free(&cfg);
    return ret;
}

void config_free(config **pcfg)
{
    if (!pcfg || !*pcfg) return;
    config *cfg = *pcfg;
    for (size_t i = 0; i < cfg->npools; i++) {
        free(cfg->pools[i].id);
        free(cfg->pools[i].path);
        free(cfg->pools[i].file);
        free(cfg->pools[i].move_to);
    }
    free(cfg->pools);
    for (size_t i = 0; i < cfg->ncameras; i++) {
        config_camera *c = &cfg->cameras[i];
        free(c->id);
        free(c->name);
        free(c->district);
        free(c->url);
        free(c->sub_url);
        free(c->username);
        free_secret(c->password);
        free(c->password_file);
        free(c->tls_ca_file);
        free(c->password_credential);
        free(c->pool);
        free(c->file);
    }
    free(cfg->cameras);
    for (size_t i = 0; i < cfg->ntokens; i++) free(cfg->tokens[i].name);
    if (cfg->tokens) vg_memzero(cfg->tokens, cfg->ntokens * sizeof(*cfg->tokens));
    free(cfg->tokens);
    free(cfg->path);
    free(cfg->listen);
    free(cfg->index_path);
    free(cfg->include);
    free(cfg->web_root);
    free(cfg->console_timezone);
    free(cfg);
    *pcfg = NULL;
}

/* ---- lookups ---- */

const config_camera *config_find_camera(const config *cfg, const char *id)
{
    for (size_t i = 0; cfg && id && i < cfg->ncameras; i++)
        if (!strcmp(cfg->cameras[i].id, id)) return &cfg->cameras[i];
    return NULL;
}

const config_pool *config_find_pool(const config *cfg, const char *id)
{
    for (size_t i = 0; cfg && id && i < cfg->npools; i++)
        if (!strcmp(cfg->pools[i].id, id)) return &cfg->pools[i];
    return NULL;
}

const config_pool *config_camera_pool(const config *cfg, const config_camera *cam)
{
    if (!cfg || !cfg->npools) return NULL;
    if (cam && cam->pool) return config_find_pool(cfg, cam->pool);
    return &cfg->pools[0];
}

static bool str_differs(const char *a, const char *b)
{
    if (!a || !b) return a != b;
    return strcmp(a, b) != 0;
}

bool config_camera_needs_restart(const config_camera *a, const config_camera *b)
{
    if (!a || !b) return a != b;
    return str_differs(a->url, b->url) || str_differs(a->sub_url, b->sub_url) ||
           a->record_sub != b->record_sub ||
           str_differs(a->username, b->username) ||
           str_differs(a->password, b->password) || a->tcp != b->tcp ||
           a->tls_no_verify != b->tls_no_verify || str_differs(a->tls_ca_file, b->tls_ca_file) ||
           str_differs(a->pool, b->pool) || a->source != b->source || a->enabled != b->enabled;
}

int config_sub_key(const char *camera, char *out, size_t len)
{
    int n = snprintf(out, len, "%s%s", camera, CONFIG_SUB_SUFFIX);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const char *config_site_name(config_site s)
{
    switch (s) {
    case CONFIG_SITE_SECURITY: return "security";
    case CONFIG_SITE_ONE_STOP_SHOP: return "one-stop-shop";
    case CONFIG_SITE_TRAFFIC: return "traffic";
    case CONFIG_SITE_FOREST: return "forest";
    case CONFIG_SITE_OTHER: return "other";
    }
    return "other";
}

const char *config_role_name(config_role r)
{
    switch (r) {
    case CONFIG_ROLE_VIEWER: return "viewer";
    case CONFIG_ROLE_INVESTIGATOR: return "investigator";
    case CONFIG_ROLE_ADMIN: return "admin";
    case CONFIG_ROLE_INTEGRATOR: return "integrator";
    }
    return "unknown";
}

bool config_role_covers(config_role have, config_role need)
{
    if (have == CONFIG_ROLE_INTEGRATOR || need == CONFIG_ROLE_INTEGRATOR) return have == need;
    return have >= need;
}
