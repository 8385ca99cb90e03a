/*
 * serve/auth: who may call which route (issue 5). Prefix: serve_auth_.
 *
 * Tokens: the client presents "Authorization: Bearer TOKEN" or, where a
 * browser cannot set headers (<video src>, <img src>, <a download>), the
 * query parameter access_token=TOKEN. The SHA-256 of what was presented is
 * compared with every configured token_sha256 in constant time
 * (CRYPTO_memcmp, no early exit), so neither the response time nor the log
 * tells how close a guess was. The token itself is never stored, logged or
 * echoed; only its configured name is (audit, logs).
 *
 * Trade-off of access_token=: a token in a URL can end up in browser history,
 * in a proxy's access log or in a Referer header. vigil never logs query
 * strings, answers with "Referrer-Policy: no-referrer", and the console only
 * uses it for media elements; deployments that cannot accept the risk give
 * the console's users viewer tokens only (they cannot lock, export or read
 * the audit trail) and revoke them by config reload.
 *
 * Roles are ordered: viewer < investigator < admin, and every route needs
 * one minimum role, looked up in one table (serve_auth_route()):
 *   open         GET /healthz; the web console's static files (no footage)
 *   viewer       /api/cameras..., recordings, clip.mp4, snapshot.jpg
 *   investigator /api/events, /api/locks, /api/exports, /api/coverage (the
 *                incident query over an area), /api/cameras/{id}/export
 *   admin        /metrics, /api/audit, /api/reload, /api/config
 * integrator stands apart: another system's token (ANPR, an alarm panel)
 * that may POST /api/events and nothing else (a route's need carries
 * SERVE_AUTH_INTEGRATOR when integrators may use it); investigators and
 * admins post events too (an operator's note).
 * Unknown /api/ paths need viewer (so a scan without a token learns nothing,
 * 401) and then 404 in the router.
 *
 * Without an auth: section every request is treated as admin ("anonymous"):
 * the daemon then refuses to listen on anything but loopback
 * (config_listen_allowed(), the rule's home: vigilctl checks it too).
 */
#ifndef VIGIL_SERVE_AUTH_H
#define VIGIL_SERVE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

#define SERVE_AUTH_OPEN 0 /* minimum role of an open route */
/* Or'ed into a route's need: integrator tokens may use it as well. */
#define SERVE_AUTH_INTEGRATOR 0x100

/* The minimum role (config_role or SERVE_AUTH_OPEN, possibly with
 * SERVE_AUTH_INTEGRATOR) of method + path (path without the query string). */
int serve_auth_route(const char *method, size_t mlen, const char *path, size_t plen);

typedef struct serve_auth_result {
    int status;       /* 0: allowed; 401: no or unknown token; 403: role too low */
    const char *name; /* token name (borrowed from cfg), "anonymous" without auth:,
                       * "" when unauthenticated */
    config_role role; /* the caller's role (0 when unauthenticated) */
} serve_auth_result;

/* Decides a request. authz: the Authorization header value (may be NULL);
 * query: the query string without '?' (may be NULL). cfg borrowed. */
void serve_auth_check(const config *cfg, int need, const char *authz, size_t authz_len,
                      const char *query, size_t query_len, serve_auth_result *out);

/* Decides a request made as token t (NULL: nobody), e.g. the token a
 * console session stands for; the same rule as serve_auth_check(). */
void serve_auth_grant(int need, const config_token *t, serve_auth_result *out);

/* Finds the token whose SHA-256 matches token[0..len); NULL when none does.
 * Constant time in the number of tokens. */
const config_token *serve_auth_lookup(const config *cfg, const char *token, size_t len);

#endif
