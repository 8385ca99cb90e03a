/*
 * Unit tests of serve/auth.c: the route table, the 401/403 matrix over every
 * route x role (header and access_token=), malformed Authorization headers,
 * auth disabled, and the loopback-only rule.
 */
#include "serve/auth.h"

#include "common/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static config_token toks[4];
static config cfg;

static void add_token(int i, const char *name, config_role role, const char *secret)
{
    toks[i].name = (char *)name;
    toks[i].role = role;
    vg_sha256_digest(secret, strlen(secret), toks[i].sha256);
}

static int setup(void **state)
{
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    add_token(0, "ioc-viewer", CONFIG_ROLE_VIEWER, "v-secret");
    add_token(1, "police", CONFIG_ROLE_INVESTIGATOR, "i-secret");
    add_token(2, "ops", CONFIG_ROLE_ADMIN, "a-secret");
    add_token(3, "anpr", CONFIG_ROLE_INTEGRATOR, "n-secret");
    cfg.path = "/etc/vigil/vigil.yaml";
    cfg.auth_enabled = true;
    cfg.tokens = toks;
    cfg.ntokens = 4;
    return 0;
}

static int need(const char *method, const char *path)
{
    const char *q = strchr(path, '?');
    return serve_auth_route(method, strlen(method), path, q ? (size_t)(q - path) : strlen(path));
}

static void test_route_table(void **state)
{
    (void)state;
    assert_int_equal(need("GET", "/healthz"), SERVE_AUTH_OPEN);
    assert_int_equal(need("POST", "/healthz"), SERVE_AUTH_OPEN); /* static: router 404/405 */
    assert_int_equal(need("GET", "/"), SERVE_AUTH_OPEN);
    assert_int_equal(need("GET", "/app.js"), SERVE_AUTH_OPEN);
    assert_int_equal(need("GET", "/api/cameras"), CONFIG_ROLE_VIEWER);
    assert_int_equal(need("GET", "/api/cameras/c1/recordings"), CONFIG_ROLE_VIEWER);
    assert_int_equal(need("GET", "/api/cameras/c1/clip.mp4"), CONFIG_ROLE_VIEWER);
    assert_int_equal(need("GET", "/api/cameras/c1/snapshot.jpg"), CONFIG_ROLE_VIEWER);
    assert_int_equal(need("GET", "/api/nonexistent"), CONFIG_ROLE_VIEWER);
    assert_int_equal(need("GET", "/api"), CONFIG_ROLE_VIEWER);
    assert_int_equal(need("GET", "/api/events"), CONFIG_ROLE_INVESTIGATOR);
    assert_int_equal(need("POST", "/api/events"), CONFIG_ROLE_INVESTIGATOR | SERVE_AUTH_INTEGRATOR);
    assert_int_equal(need("POST", "/api/events/"), CONFIG_ROLE_INVESTIGATOR | SERVE_AUTH_INTEGRATOR);
    assert_int_equal(need("POST", "/api/events/3"), CONFIG_ROLE_INVESTIGATOR);
    assert_int_equal(need("POST", "/api/locks"), CONFIG_ROLE_INVESTIGATOR);
    assert_int_equal(need("DELETE", "/api/locks/4"), CONFIG_ROLE_INVESTIGATOR);
    assert_int_equal(need("GET", "/api/cameras/c1/export.mp4"), CONFIG_ROLE_INVESTIGATOR);
    assert_int_equal(need("POST", "/api/exports"), CONFIG_ROLE_INVESTIGATOR);
    assert_int_equal(need("GET", "/metrics"), CONFIG_ROLE_ADMIN);
    assert_int_equal(need("GET", "//metrics/"), CONFIG_ROLE_ADMIN);
    assert_int_equal(need("GET", "/api/audit?limit=3"), CONFIG_ROLE_ADMIN);
    assert_int_equal(need("GET", "/api//audit"), CONFIG_ROLE_ADMIN);
    assert_int_equal(need("POST", "/api/reload"), CONFIG_ROLE_ADMIN);
}

typedef struct req {
    const char *method, *path;
    int role;
} req;

static const req matrix[] = {
    {"GET", "/api/cameras", CONFIG_ROLE_VIEWER},
    {"GET", "/api/cameras/c1/recordings", CONFIG_ROLE_VIEWER},
    {"GET", "/api/cameras/c1/clip.mp4", CONFIG_ROLE_VIEWER},
    {"GET", "/api/cameras/c1/snapshot.jpg", CONFIG_ROLE_VIEWER},
    {"GET", "/api/events", CONFIG_ROLE_INVESTIGATOR},
    {"GET", "/api/locks", CONFIG_ROLE_INVESTIGATOR},
    {"POST", "/api/locks", CONFIG_ROLE_INVESTIGATOR},
    {"GET", "/metrics", CONFIG_ROLE_ADMIN},
    {"GET", "/api/audit", CONFIG_ROLE_ADMIN},
    {"POST", "/api/reload", CONFIG_ROLE_ADMIN},
};

static int status_of(const req *r, const char *authz, const char *query)
{
    serve_auth_result res;
    serve_auth_check(&cfg, need(r->method, r->path), authz, authz ? strlen(authz) : 0, query,
                     query ? strlen(query) : 0, &res);
    return res.status;
}

static void test_matrix(void **state)
{
    (void)state;
    static const char *const secrets[] = {"v-secret", "i-secret", "a-secret"};
    for (size_t i = 0; i < VG_ARRAY_SIZE(matrix); i++) {
        const req *r = &matrix[i];
        assert_int_equal(status_of(r, NULL, NULL), 401);
        assert_int_equal(status_of(r, "Bearer nope", NULL), 401);
        assert_int_equal(status_of(r, NULL, "access_token=nope"), 401);
        for (int role = CONFIG_ROLE_VIEWER; role <= CONFIG_ROLE_ADMIN; role++) {
            char h[64], q[64];
            snprintf(h, sizeof(h), "Bearer %s", secrets[role - 1]);
            snprintf(q, sizeof(q), "start=1&access_token=%s&end=2", secrets[role - 1]);
            int want = role >= r->role ? 0 : 403;
            assert_int_equal(status_of(r, h, NULL), want);
            assert_int_equal(status_of(r, NULL, q), want);
        }
    }
    /* /healthz is open to everyone, and names the caller when it can */
    serve_auth_result res;
    serve_auth_check(&cfg, need("GET", "/healthz"), NULL, 0, NULL, 0, &res);
    assert_int_equal(res.status, 0);
    serve_auth_check(&cfg, CONFIG_ROLE_VIEWER, "Bearer i-secret", 15, NULL, 0, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.name, "police");
    assert_int_equal(res.role, CONFIG_ROLE_INVESTIGATOR);
}

/* An integrator token posts events and does nothing else; the others post
 * events from investigator up. */
static void test_integrator(void **state)
{
    (void)state;
    const req post = {"POST", "/api/events", 0};
    assert_int_equal(status_of(&post, "Bearer n-secret", NULL), 0);
    assert_int_equal(status_of(&post, NULL, "access_token=n-secret"), 0);
    assert_int_equal(status_of(&post, "Bearer i-secret", NULL), 0);
    assert_int_equal(status_of(&post, "Bearer a-secret", NULL), 0);
    assert_int_equal(status_of(&post, "Bearer v-secret", NULL), 403);
    assert_int_equal(status_of(&post, NULL, NULL), 401);
    for (size_t i = 0; i < VG_ARRAY_SIZE(matrix); i++)
        assert_int_equal(status_of(&matrix[i], "Bearer n-secret", NULL), 403);
    const req others[] = {{"GET", "/api/nonexistent", 0}, {"DELETE", "/api/events", 0},
                          {"POST", "/api/events/1", 0}, {"POST", "/api/exports", 0}};
    for (size_t i = 0; i < VG_ARRAY_SIZE(others); i++)
        assert_int_equal(status_of(&others[i], "Bearer n-secret", NULL), 403);
    serve_auth_result res;
    serve_auth_check(&cfg, need("GET", "/healthz"), "Bearer n-secret", 15, NULL, 0, &res);
    assert_int_equal(res.status, 0);
    assert_true(config_role_covers(CONFIG_ROLE_ADMIN, CONFIG_ROLE_VIEWER));
    assert_false(config_role_covers(CONFIG_ROLE_INTEGRATOR, CONFIG_ROLE_VIEWER));
    assert_false(config_role_covers(CONFIG_ROLE_ADMIN, CONFIG_ROLE_INTEGRATOR));
}

static void test_header_forms(void **state)
{
    (void)state;
    const req *r = &matrix[0];
    assert_int_equal(status_of(r, "bearer v-secret", NULL), 0);
    assert_int_equal(status_of(r, "Bearer   v-secret  ", NULL), 0);
    assert_int_equal(status_of(r, "Bearer", NULL), 401);
    assert_int_equal(status_of(r, "Bearer ", NULL), 401);
    assert_int_equal(status_of(r, "Basic dXNlcjpwYXNz", NULL), 401);
    assert_int_equal(status_of(r, "Bearerv-secret", NULL), 401);
    assert_int_equal(status_of(r, "Bearer v-secre", NULL), 401);
    assert_int_equal(status_of(r, "Bearer v-secrett", NULL), 401);
    /* a header, even a bad one, wins over the query */
    assert_int_equal(status_of(r, "Bearer nope", "access_token=v-secret"), 401);
    /* percent-encoded query tokens */
    assert_int_equal(status_of(r, NULL, "access_token=v%2Dsecret"), 0);
    assert_int_equal(status_of(r, NULL, "access_token=v%2"), 401);
    assert_int_equal(status_of(r, NULL, "xaccess_token=v-secret"), 401);
    assert_int_equal(status_of(r, NULL, "access_token="), 401);
}

static void test_no_auth(void **state)
{
    (void)state;
    config open = cfg;
    open.auth_enabled = false;
    open.ntokens = 0;
    serve_auth_result res;
    serve_auth_check(&open, CONFIG_ROLE_ADMIN, NULL, 0, NULL, 0, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.name, "anonymous");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_route_table, setup),
        cmocka_unit_test_setup(test_matrix, setup),
        cmocka_unit_test_setup(test_integrator, setup),
        cmocka_unit_test_setup(test_header_forms, setup),
        cmocka_unit_test_setup(test_no_auth, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
