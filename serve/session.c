/*
 * The console's sign-in: POST /api/session {token} checks the token once and
 * answers with a cookie (HttpOnly, SameSite=Strict, Path=/) naming a random
 * session id; the browser then sends it with every request, <video> and
 * <img> included, so no token ever sits in a URL a user can copy. Sessions
 * live in memory (a restart signs everyone out) and stand for the token's
 * configured name: a reload that removes the token ends its sessions too.
 * GET says who the console talks as and the zone it shows times in; DELETE
 * signs out. Sign-ins and refused tokens are audited like tokens are.
 */
#include "serve/auth.h"
#include "serve/http_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/common.h"

#define COOKIE "vigil_session"

static const config_token *token_named(const config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->ntokens; i++)
        if (!strcmp(cfg->tokens[i].name, name)) return &cfg->tokens[i];
    return NULL;
}

/* The session id of the Cookie header into id (65 bytes); false when none. */
static bool cookie_id(h2o_req_t *req, char id[65])
{
    ssize_t hi = -1;
    while ((hi = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, hi)) >= 0) {
        const char *p = req->headers.entries[hi].value.base;
        const char *end = p + req->headers.entries[hi].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *e = memchr(p, ';', (size_t)(end - p));
            if (!e) e = end;
            size_t n = (size_t)(e - p), k = sizeof(COOKIE) - 1;
            if (n == k + 1 + 64 && !memcmp(p, COOKIE "=", k + 1)) {
                memcpy(id, p + k + 1, 64);
                id[64] = '\0';
                return true;
            }
            p = e;
        }
    }
    return false;
}

static serve__session *find(serve_ctx *s, h2o_req_t *req)
{
    char id[65];
    if (!cookie_id(req, id)) return NULL;
    int64_t now = vg_mono_us();
    serve__session *found = NULL;
    for (size_t i = 0; i < SERVE__SESSIONS; i++) {
        serve__session *x = &s->sessions[i];
        if (!x->id[0]) continue;
        if (x->expires_us <= now) {
            memset(x, 0, sizeof(*x));
            continue;
        }
        if (vg_ct_equal(x->id, id, 64)) found = x;
    }
    return found;
}

const char *serve__session_user(serve_ctx *s, h2o_req_t *req)
{
    serve__session *x = find(s, req);
    return x && token_named(s->cfg, x->name) ? x->name : NULL;
}

static void send_cookie(h2o_req_t *req, const char *id, bool clear)
{
    char v[200];
    snprintf(v, sizeof(v), "%s=%s; HttpOnly; SameSite=Strict; Path=/%s", COOKIE, id,
             clear ? "; Max-Age=0" : "");
    serve__add_header_str(req, "set-cookie", v);
}

static int sign_in(serve_ctx *s, h2o_req_t *req)
{
    json_t *body = NULL;
    char tok[512];
    int r = serve__body_object(req, &body);
    if (r < 0) return 0;
    if (r == 0 || !serve__member_str(body, "token", tok, sizeof(tok))) {
        json_decref(body);
        serve__send_error(req, 400, "a JSON object with the token is required");
        return 0;
    }
    json_decref(body);
    const config_token *t = serve_auth_lookup(s->cfg, tok, strlen(tok));
    vg_memzero(tok, sizeof(tok));
    if (!t) {
        serve__audit_auth_failure(s, req, 401, "");
        serve__send_error(req, 401, "unknown token");
        return 0;
    }
    uint8_t raw[32];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        serve__send_error(req, 503, "no randomness for a session id");
        return 0;
    }
    /* A free slot, else the one closest to expiry. */
    serve__session *slot = &s->sessions[0];
    for (size_t i = 0; i < SERVE__SESSIONS; i++) {
        serve__session *x = &s->sessions[i];
        if (!x->id[0]) {
            slot = x;
            break;
        }
        if (x->expires_us < slot->expires_us) slot = x;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(slot->id + 2 * i, 3, "%02x", raw[i]);
    vg_memzero(raw, sizeof(raw));
    snprintf(slot->name, sizeof(slot->name), "%s", t->name);
    slot->expires_us = vg_mono_us() + SERVE__SESSION_TTL_US;
    send_cookie(req, slot->id, false);
    serve__audit(s, t->name, "session_start", NULL, 0, 0, NULL);
    serve__send_json(req, 200, json_pack("{s:s,s:s}", "user", t->name, "role",
                                         config_role_name(t->role)));
    return 0;
}

static int route_session(serve_ctx *s, h2o_req_t *req, const char *who, const char *rest,
                         size_t rlen)
{
    (void)rest;
    if (rlen) return serve__api_unknown(req);
    if (serve__method_is(req, "POST")) return sign_in(s, req);
    if (serve__method_is(req, "DELETE")) {
        serve__session *x = find(s, req);
        if (x) {
            serve__audit(s, x->name, "session_end", NULL, 0, 0, NULL);
            memset(x, 0, sizeof(*x));
        }
        send_cookie(req, "", true);
        serve__send_json(req, 200, json_pack("{s:b}", "ok", 1));
        return 0;
    }
    if (!serve__method_is(req, "GET") && !serve__method_is(req, "HEAD")) {
        serve__send_405(req, "GET, HEAD, POST, DELETE");
        return 0;
    }
    const config_token *t = NULL;
    const char *role = NULL;
    if (s->cfg && !s->cfg->auth_enabled) role = config_role_name(CONFIG_ROLE_ADMIN);
    else if (who && who[0] && (t = token_named(s->cfg, who))) role = config_role_name(t->role);
    json_t *o = json_object();
    json_object_set_new(o, "user", role ? json_string(who) : json_null());
    json_object_set_new(o, "role", role ? json_string(role) : json_null());
    /* Whether the console must ask for a token before anything else. */
    json_object_set_new(o, "auth", json_boolean(s->cfg && s->cfg->auth_enabled));
    json_object_set_new(
        o, "timezone",
        json_string(s->cfg && s->cfg->console_timezone ? s->cfg->console_timezone : "UTC"));
    serve__send_json(req, 200, o);
    return 0;
}

void serve__routes_session(serve_ctx *s, h2o_hostconf_t *host)
{
    serve__route_add(s, host, "/api/session", route_session);
}
