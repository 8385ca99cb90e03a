/*
 * Unit tests of serve/evidence.c against a real index in a temp directory:
 * lock create/list/release replies (status, created_by, events), the signing
 * key (created 0600 on first use, the same key on the next load), and an
 * export whose signature verifies over exactly the bytes embedded in the
 * response, and fails when one byte changes; GET returns the same bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "serve/serve_internal.h"

typedef struct fx {
    char dir[64], path[128];
    index_db *db;
    index_reader *r;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-evidence-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/index.db", f->dir);
    assert_int_equal(index_open(f->path, &f->db), 0);
    assert_int_equal(index_reader_open(f->path, &f->r), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[160];
    index_reader_close(&f->r);
    index_close(&f->db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void reply_free(serve__reply *r)
{
    json_decref(r->json);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

static void test_locks(void **state)
{
    fx *f = *state;
    serve__reply rep = {0};
    index_lock l = {0};
    snprintf(l.camera, sizeof(l.camera), "cam1");
    snprintf(l.reason, sizeof(l.reason), "case 1");
    snprintf(l.created_by, sizeof(l.created_by), "police");
    l.start_us = 1000000, l.end_us = 2000000;
    serve__locks_create(f->path, f->db, &l, &rep);
    assert_int_equal(rep.status, 201);
    assert_string_equal(json_string_value(json_object_get(rep.json, "created_by")), "police");
    int64_t id = json_integer_value(json_object_get(rep.json, "id"));
    reply_free(&rep);
    l.end_us = l.start_us; /* invalid */
    serve__locks_create(f->path, f->db, &l, &rep);
    assert_int_equal(rep.status, 400);
    reply_free(&rep);
    serve__locks_list(f->path, NULL, 0, &rep);
    assert_int_equal(json_array_size(rep.json), 1);
    reply_free(&rep);
    serve__locks_release(f->path, f->db, id, "police", "closed", &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(json_string_value(json_object_get(rep.json, "released_by")), "police");
    reply_free(&rep);
    serve__locks_release(f->path, f->db, id, "police", "closed", &rep);
    assert_int_equal(rep.status, 409);
    reply_free(&rep);
    serve__locks_release(f->path, f->db, 4242, "police", "", &rep);
    assert_int_equal(rep.status, 404);
    reply_free(&rep);
    serve__events(f->r, "cam1", "lock_released", 0, INT64_MAX, &rep);
    assert_int_equal(rep.status, 200);
    assert_int_equal(json_array_size(rep.json), 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(rep.json, 0), "detail")),
                           "\"by\":\"police\""));
    reply_free(&rep);
}

static void test_export_signature(void **state)
{
    fx *f = *state;
    uint8_t sk[SERVE__SIGN_SK], pk[SERVE__SIGN_PK], sk2[SERVE__SIGN_SK], pk2[SERVE__SIGN_PK];
    char keypath[160];
    struct stat st;
    assert_int_equal(serve__signing_key_load(f->path, sk, pk), 0);
    snprintf(keypath, sizeof(keypath), "%s.signing-key", f->path);
    assert_int_equal(stat(keypath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(serve__signing_key_load(f->path, sk2, pk2), 0);
    assert_memory_equal(pk, pk2, sizeof(pk));

    serve__area_cam cams[2] = {{.id = "cam1", .name = "One", .district = "North", .site = "other"},
                               {.id = "cam2", .name = "T\xc3\xa9", .district = "North", .site = "other"}};
    serve__export_req q = {.index_path = f->path, .idx = f->db, .sk = sk, .pk = pk,
                           .who = "police", .reason = "incident \"7\"", .start_us = 1000000,
                           .end_us = 5000000, .cams = cams, .ncams = 2};
    serve__reply rep = {0};
    serve__export_create(f->r, &q, &rep);
    assert_int_equal(rep.status, 201);
    assert_non_null(rep.text);
    const char *head = "{\"manifest\":", *tail = ",\"signature\":\"";
    assert_int_equal(strncmp(rep.text, head, strlen(head)), 0);
    const char *m = rep.text + strlen(head), *t = strstr(rep.text, tail);
    assert_non_null(t);
    uint8_t sig[crypto_sign_BYTES];
    size_t n = 0;
    const char *s64 = t + strlen(tail);
    assert_int_equal(sodium_base642bin(sig, sizeof(sig), s64, strcspn(s64, "\""), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(n, sizeof(sig));
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)m, (size_t)(t - m), pk), 0);
    /* ASCII only, and the manifest parses; both cameras got a lock */
    for (const char *p = m; p < t; p++) assert_true((unsigned char)*p < 0x80);
    json_t *j = json_loadb(m, (size_t)(t - m), 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "cameras")), 2);
    int64_t eid = json_integer_value(json_object_get(j, "export"));
    json_decref(j);
    /* one byte changed: invalid */
    char *bad = strdup(rep.text);
    bad[m - rep.text + 5] ^= 1;
    assert_int_not_equal(
        crypto_sign_verify_detached(sig, (const uint8_t *)bad + strlen(head), (size_t)(t - m), pk), 0);
    free(bad);
    serve__reply again = {0};
    serve__export_get(f->path, eid, &again);
    assert_int_equal(again.status, 200);
    assert_string_equal(again.text, rep.text);
    reply_free(&again);
    serve__export_get(f->path, eid + 100, &again);
    assert_int_equal(again.status, 404);
    reply_free(&again);
    reply_free(&rep);
    serve__locks_list(f->path, NULL, 0, &rep);
    assert_int_equal(json_array_size(rep.json), 2);
    reply_free(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_signature, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
