/*
 * Access control of the HTTP API: the route -> role table, bearer-token
 * lookup by SHA-256 in constant time (the loopback-only rule without an
 * auth: section is config's: config_listen_allowed()). See auth.h for the
 * policy and the access_token= trade-off.
 *
 * The table is matched on path segments (empty segments skipped, so
 * "//metrics" and "/metrics/" need what "/metrics" needs); the router matches
 * the same normalized path, so a spelling the table does not know is not
 * served as an API route either. Everything here is pure (no I/O, no
 * allocation) so the 401/403 matrix is unit-tested without a server.
 */
#include "serve/auth.h"
#include "serve/serve_internal.h"

#include "common/common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A pattern is a '/'-separated list of segments: "*" matches one segment,
 * a trailing "**" any number (zero included). method NULL: any method. */
typedef struct route {
    const char *method;
    const char *pattern;
    int role;
} route;

static const route routes[] = {
    {"GET", "/healthz", SERVE_AUTH_OPEN},
    {"HEAD", "/healthz", SERVE_AUTH_OPEN},
    /* The console asks who it is before it has signed in. */
    {NULL, "/api/session", SERVE_AUTH_OPEN},
    {NULL, "/metrics/**", CONFIG_ROLE_ADMIN},
    {NULL, "/api/audit/**", CONFIG_ROLE_ADMIN},
    {NULL, "/api/reload/**", CONFIG_ROLE_ADMIN},
    {NULL, "/api/config/**", CONFIG_ROLE_ADMIN},
    {"POST", "/api/events", CONFIG_ROLE_INVESTIGATOR | SERVE_AUTH_INTEGRATOR},
    {NULL, "/api/events/**", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/locks/**", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/exports/**", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/coverage/**", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/cases/**", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/cameras/*/export/**", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/cameras/*/export.mp4", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/cameras/*/events/**", CONFIG_ROLE_INVESTIGATOR},
    {NULL, "/api/cameras/*/locks/**", CONFIG_ROLE_INVESTIGATOR},
    /* cameras, recordings, clip.mp4, snapshot.jpg, and unknown API paths */
    {NULL, "/api/**", CONFIG_ROLE_VIEWER},
    {NULL, "/api", CONFIG_ROLE_VIEWER},
};

/* Next non-empty segment of [*p, end): sets *s, *n and advances *p. false at the end. */
static bool next_seg(const char **p, const char *end, const char **s, size_t *n)
{
    while (*p < end && **p == '/')
        (*p)++;
    if (*p >= end) return false;
    *s = *p;
    while (*p < end && **p != '/' && **p != '?')
        (*p)++;
    *n = (size_t)(*p - *s);
    if (*p < end && **p == '?') *p = end; /* a query string ends the path */
    return *n > 0;
}

static bool match(const char *pattern, const char *path, size_t plen)
{
    const char *pp = pattern, *pend = pattern + strlen(pattern);
    const char *q = path, *qend = path + plen;
    const char *ps = NULL, *qs = NULL; /* set by next_seg(); -O2 cannot tell */
    size_t pn = 0, qn = 0;
    for (;;) {
        bool hp = next_seg(&pp, pend, &ps, &pn);
        if (hp && pn == 2 && !memcmp(ps, "**", 2)) return true;
        bool hq = next_seg(&q, qend, &qs, &qn);
        if (!hp || !hq) return hp == hq;
        if (pn == 1 && *ps == '*') continue;
        if (pn != qn || memcmp(ps, qs, pn) != 0) return false;
    }
}

int serve_auth_route(const char *method, size_t mlen, const char *path, size_t plen)
{
    for (size_t i = 0; i < VG_ARRAY_SIZE(routes); i++) {
        const route *r = &routes[i];
        if (r->method && (strlen(r->method) != mlen || memcmp(r->method, method, mlen) != 0))
            continue;
        if (match(r->pattern, path, plen)) return r->role;
    }
    /* Not the API: the web console's static files (no footage, no data). */
    return SERVE_AUTH_OPEN;
}

const config_token *serve_auth_lookup(const config *cfg, const char *token, size_t len)
{
    uint8_t h[32];
    const config_token *found = NULL;
    if (!cfg || !token || len == 0) return NULL;
    vg_sha256_digest(token, len, h);
    /* Every token is compared, whatever matched before. */
    for (size_t i = 0; i < cfg->ntokens; i++) {
        int eq = vg_ct_equal(h, cfg->tokens[i].sha256, sizeof(h));
        if (eq) found = &cfg->tokens[i];
    }
    vg_memzero(h, sizeof(h));
    return found;
}

/* The percent-decoded value of access_token in query, into out. Length, or
 * -1 when absent, malformed or too long (the query decoder of serve/http.c). */
static int query_token(const char *q, size_t qlen, char *out, size_t outlen)
{
    return serve__query_get(q, qlen, "access_token", out, outlen) == 1 ? (int)strlen(out) : -1;
}

void serve_auth_check(const config *cfg, int need, const char *authz, size_t authz_len,
                      const char *query, size_t query_len, serve_auth_result *out)
{
    char buf[512];
    const char *tok = NULL;
    size_t tlen = 0;
    out->status = 0;
    out->name = "";
    out->role = 0;
    if (!cfg->auth_enabled) {
        out->name = "anonymous";
        out->role = CONFIG_ROLE_ADMIN;
        return;
    }
    if (authz) {
        /* "Bearer" (any case), whitespace, token, optional trailing whitespace */
        if (authz_len > 7 && !strncasecmp(authz, "Bearer", 6) &&
            (authz[6] == ' ' || authz[6] == '\t')) {
            tok = authz + 7;
            tlen = authz_len - 7;
            while (tlen && (*tok == ' ' || *tok == '\t'))
                tok++, tlen--;
            while (tlen && (tok[tlen - 1] == ' ' || tok[tlen - 1] == '\t'))
                tlen--;
        }
    } else if (query) {
        int n = query_token(query, query_len, buf, sizeof(buf));
        if (n > 0) {
            tok = buf;
            tlen = (size_t)n;
        }
    }
    const config_token *t = tok ? serve_auth_lookup(cfg, tok, tlen) : NULL;
    vg_memzero(buf, sizeof(buf));
    serve_auth_grant(need, t, out);
}

void serve_auth_grant(int need, const config_token *t, serve_auth_result *out)
{
    out->status = 0;
    out->name = "";
    out->role = 0;
    if (t) {
        out->name = t->name;
        out->role = t->role;
    }
    if (need == SERVE_AUTH_OPEN) return;
    if (!t)
        out->status = 401;
    else if (!config_role_covers(t->role, (config_role)(need & ~SERVE_AUTH_INTEGRATOR)) &&
             !((need & SERVE_AUTH_INTEGRATOR) && t->role == CONFIG_ROLE_INTEGRATOR))
        out->status = 403;
}
