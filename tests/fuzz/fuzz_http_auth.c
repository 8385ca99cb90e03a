/* libFuzzer driver: serve/auth.c, which reads the token of every request
 * before anything else does: the Authorization header ("Bearer", blanks, the
 * token) or access_token= in the query string (percent-decoded), looked up
 * against the configured hashes, and the route table that says which role a
 * path needs. Input: byte 0 picks the needed role and whether the header is
 * present; the rest is split at the first NUL into header value and query
 * string, and is also used as a method and path. Checked: the status is 0,
 * 401 or 403 and agrees with the caller's role and the need; an allowed
 * caller is a configured token (or "anonymous" without auth:), and a known
 * secret presented either way is always recognised. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "serve/auth.h"

static const char *const secrets[] = {"s3cret-viewer", "s3cret-investigator", "s3cret-admin",
                                      "s3cret-integrator"};
static const config_role roles[] = {CONFIG_ROLE_VIEWER, CONFIG_ROLE_INVESTIGATOR,
                                    CONFIG_ROLE_ADMIN, CONFIG_ROLE_INTEGRATOR};
static const char *const names[] = {"v", "i", "a", "g"};

static config cfg, noauth;
static config_token tokens[4];

static void setup(void)
{
    for (int i = 0; i < 4; i++) {
        tokens[i].name = (char *)names[i];
        tokens[i].role = roles[i];
        vg_sha256_digest(secrets[i], strlen(secrets[i]), tokens[i].sha256);
    }
    cfg.auth_enabled = true;
    cfg.tokens = tokens;
    cfg.ntokens = 4;
}

static void check(const config *c, int need, const char *authz, size_t alen, const char *q,
                  size_t qlen)
{
    serve_auth_result r;
    serve_auth_check(c, need, authz, alen, q, qlen, &r);
    if (!r.name) abort();
    if (!c->auth_enabled) {
        if (r.status != 0 || r.role != CONFIG_ROLE_ADMIN || strcmp(r.name, "anonymous")) abort();
        return;
    }
    if (r.status != 0 && r.status != 401 && r.status != 403) abort();
    int known = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(r.name, names[i])) known = i;
    if (r.name[0] && (known < 0 || r.role != roles[known])) abort();
    if (!r.name[0] && r.role != 0) abort();
    if (need == SERVE_AUTH_OPEN) {
        if (r.status != 0) abort();
    } else if (known < 0) {
        if (r.status != 401) abort();
    } else {
        bool ok = config_role_covers(r.role, (config_role)(need & ~SERVE_AUTH_INTEGRATOR)) ||
                  ((need & SERVE_AUTH_INTEGRATOR) && r.role == CONFIG_ROLE_INTEGRATOR);
        if ((r.status == 0) != ok || (!ok && r.status != 403)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int needs[] = {SERVE_AUTH_OPEN, CONFIG_ROLE_VIEWER, CONFIG_ROLE_INVESTIGATOR,
                                CONFIG_ROLE_ADMIN,
                                CONFIG_ROLE_INVESTIGATOR | SERVE_AUTH_INTEGRATOR};
    if (!cfg.ntokens) setup();
    if (size < 1) return 0;
    int need = needs[data[0] % 5];
    const char *rest = (const char *)data + 1;
    size_t rlen = size - 1;
    const char *nul = memchr(rest, 0, rlen);
    size_t alen = nul ? (size_t)(nul - rest) : rlen;
    const char *q = nul ? nul + 1 : "";
    size_t qlen = nul ? rlen - alen - 1 : 0;
    /* The header when present wins; without it, the query. */
    check(&cfg, need, (data[0] & 8) ? rest : NULL, alen, q, qlen);
    check(&cfg, need, NULL, 0, rest, rlen);
    check(&cfg, need, rest, rlen, NULL, 0);
    check(&noauth, need, rest, alen, q, qlen);
    /* A known secret after this input's blanks is always recognised. */
    for (int i = 0; i < 4; i++) {
        char h[256];
        size_t blanks = 0;
        while (blanks < rlen && blanks <= 32 && (rest[blanks] == ' ' || rest[blanks] == '\t'))
            blanks++;
        if (blanks > 32 || blanks >= rlen) blanks = 0;
        int n = snprintf(h, sizeof(h), "%s%.*s%s", (data[0] & 16) ? "bearer" : "Bearer",
                         (int)(blanks ? blanks : 1), blanks ? rest : " ", secrets[i]);
        serve_auth_result r;
        serve_auth_check(&cfg, CONFIG_ROLE_VIEWER, h, (size_t)n, NULL, 0, &r);
        if (strcmp(r.name, names[i]) != 0) abort();
        n = snprintf(h, sizeof(h), "start=1&access_token=%s&end=2", secrets[i]);
        serve_auth_check(&cfg, CONFIG_ROLE_VIEWER, NULL, 0, h, (size_t)n, &r);
        if (strcmp(r.name, names[i]) != 0) abort();
    }
    /* The route table on the same bytes as a method and a path. */
    size_t mlen = alen < 8 ? alen : 8;
    int role = serve_auth_route(rest, mlen, rest, rlen) & ~SERVE_AUTH_INTEGRATOR;
    if (role < SERVE_AUTH_OPEN || role > CONFIG_ROLE_ADMIN) abort();
    return 0;
}
