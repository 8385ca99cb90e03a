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

#include "serve/serve_internal.h"
#include "serve/serve.h"

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
    /* Another investigator may not release it; nobody may without a reason. */
    serve__locks_release(f->path, f->db, id, "detective", false, "not mine", &rep);
    assert_int_equal(rep.status, 403);
    reply_free(&rep);
    serve__locks_release(f->path, f->db, id, "police", false, "", &rep);
    assert_int_equal(rep.status, 400);
    reply_free(&rep);
    serve__locks_release(f->path, f->db, id, "police", false, "closed", &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(json_string_value(json_object_get(rep.json, "released_by")), "police");
    reply_free(&rep);
    serve__locks_release(f->path, f->db, id, "police", false, "closed", &rep);
    assert_int_equal(rep.status, 409);
    reply_free(&rep);
    serve__locks_release(f->path, f->db, 4242, "police", false, "gone", &rep);
    assert_int_equal(rep.status, 404);
    reply_free(&rep);
    /* An admin may release another's lock (with a reason). */
    l.end_us = l.start_us + 60 * INT64_C(1000000);
    snprintf(l.camera, sizeof(l.camera), "cam2");
    serve__locks_create(f->path, f->db, &l, &rep);
    assert_int_equal(rep.status, 201);
    reply_free(&rep);
    serve__locks_release(f->path, f->db, l.id, "ops", true, "", &rep);
    assert_int_equal(rep.status, 400);
    reply_free(&rep);
    serve__locks_release(f->path, f->db, l.id, "ops", true, "case closed", &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(json_string_value(json_object_get(rep.json, "released_by")), "ops");
    reply_free(&rep);
    serve__events(f->r, "cam1", "lock_released", 0, INT64_MAX, &rep);
    assert_int_equal(rep.status, 200);
    assert_int_equal(json_array_size(rep.json), 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(rep.json, 0), "detail")),
                           "\"by\":\"police\""));
    reply_free(&rep);
}

/* A key file in the format every vigil has written (libsodium's secret key:
 * the 32-byte seed, then the public key) loads and signs as Ed25519 says it
 * must: RFC 8032 section 7.1, test 1 (empty message). A damaged public half
 * is refused. */
static void test_signing_key_compat(void **state)
{
    fx *f = *state;
    static const char seed_hex[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                      pk_hex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                      sig_hex[] = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                                  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    uint8_t file[64], want_pk[32], want_sig[64], sk[SERVE__SIGN_SK], pk[SERVE__SIGN_PK], sig[64];
    char keypath[160];
    assert_int_equal(vg_unhex(seed_hex, 64, file, 32), 0);
    assert_int_equal(vg_unhex(pk_hex, 64, file + 32, 32), 0);
    assert_int_equal(vg_unhex(pk_hex, 64, want_pk, 32), 0);
    assert_int_equal(vg_unhex(sig_hex, 128, want_sig, 64), 0);
    snprintf(keypath, sizeof(keypath), "%s.signing-key", f->path);
    FILE *fp = fopen(keypath, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(file, 1, sizeof(file), fp), sizeof(file));
    fclose(fp);
    chmod(keypath, 0600);
    assert_int_equal(serve__signing_key_load(f->path, sk, pk), 0);
    assert_memory_equal(pk, want_pk, 32);
    assert_memory_equal(sk, file, 64);
    assert_int_equal(vg_ed25519_sign(sig, "", 0, sk), 0);
    assert_memory_equal(sig, want_sig, 64);
    assert_int_equal(vg_ed25519_verify(sig, "", 0, pk), 0);
    sig[10] ^= 1;
    assert_int_equal(vg_ed25519_verify(sig, "", 0, pk), -EBADMSG);
    /* the stored public half no longer matches the seed */
    file[40] ^= 1;
    fp = fopen(keypath, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(file, 1, sizeof(file), fp), sizeof(file));
    fclose(fp);
    assert_int_equal(serve__signing_key_load(f->path, sk, pk), -EINVAL);
    /* base64 round trip, and what the decoder refuses */
    char *b64 = vg_base64(want_pk, 32);
    uint8_t back[32];
    size_t n = 0;
    assert_non_null(b64);
    assert_string_equal(b64, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    assert_int_equal(vg_unbase64(b64, strlen(b64), back, sizeof(back), &n), 0);
    assert_int_equal(n, 32);
    assert_memory_equal(back, want_pk, 32);
    assert_int_equal(vg_unbase64("11qY AYKx", 9, back, sizeof(back), &n), -EINVAL);
    assert_int_equal(vg_unbase64("QQ=A", 4, back, sizeof(back), &n), -EINVAL);
    assert_int_equal(vg_unbase64("QQ==", 4, back, sizeof(back), &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(back[0], 'A');
    free(b64);
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
    uint8_t sig[VG_ED25519_SIG];
    size_t n = 0;
    const char *s64 = t + strlen(tail);
    assert_int_equal(vg_unbase64(s64, strcspn(s64, "\""), sig, sizeof(sig), &n), 0);
    assert_int_equal(n, sizeof(sig));
    assert_int_equal(vg_ed25519_verify(sig, m, (size_t)(t - m), pk), 0);
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
    assert_int_equal(vg_ed25519_verify(sig, bad + strlen(head), (size_t)(t - m), pk), -EBADMSG);
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

static void read_file(const char *p, uint8_t *buf, size_t n)
{
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, n, fp), n);
    fclose(fp);
}

/* The key outlives its directory: a copy goes to every pool, a lost key is
 * restored from it (same bytes, same public key), and a copy that differs
 * from the key is never overwritten. */
static void test_signing_key_mirrored(void **state)
{
    fx *f = *state;
    char key[160], pool[160], copy[200];
    uint8_t sk[SERVE__SIGN_SK], pk[SERVE__SIGN_PK], sk2[SERVE__SIGN_SK], pk2[SERVE__SIGN_PK];
    uint8_t a[SERVE__SIGN_SK], b[SERVE__SIGN_SK];
    snprintf(key, sizeof(key), "%s/index.db.signing-key", f->dir);
    snprintf(pool, sizeof(pool), "%s/pool", f->dir);
    snprintf(copy, sizeof(copy), "%s/" SERVE_SIGNING_KEY_MIRROR, pool);
    assert_int_equal(mkdir(pool, 0755), 0);
    const char *dirs[] = {pool};
    assert_int_equal(serve__signing_key_load_mirrored(key, dirs, 1, sk, pk), 0);
    read_file(key, a, sizeof(a));
    read_file(copy, b, sizeof(b));
    assert_memory_equal(a, b, sizeof(a));
    struct stat sb;
    assert_int_equal(stat(copy, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);

    assert_int_equal(unlink(key), 0); /* the index's directory is lost */
    assert_int_equal(serve__signing_key_load_mirrored(key, dirs, 1, sk2, pk2), 0);
    assert_memory_equal(pk, pk2, sizeof(pk));
    read_file(key, b, sizeof(b));
    assert_memory_equal(a, b, sizeof(a));

    /* A key made anew elsewhere does not overwrite the pool's copy. */
    assert_int_equal(unlink(key), 0);
    assert_int_equal(serve__signing_key_load_mirrored(key, NULL, 0, sk2, pk2), 0);
    assert_memory_not_equal(pk, pk2, sizeof(pk));
    assert_int_equal(serve__signing_key_load_mirrored(key, dirs, 1, sk2, pk2), 0);
    read_file(copy, b, sizeof(b));
    assert_memory_equal(a, b, sizeof(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signing_key_mirrored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signing_key_compat, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
