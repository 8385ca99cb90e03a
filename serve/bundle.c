/*
 * The evidence bundle (GET /api/exports/{id}/bundle.zip): everything a court
 * needs to check an export without vigil, in one ZIP under export-ID/:
 *
 *   clips/CAMERA-N.mp4   each clip the manifest lists, the bytes clip.mp4 serves
 *   manifest.json        the signed manifest, exactly the bytes signed
 *   manifest.sig         its Ed25519 signature, raw (64 bytes)
 *   export.json          {"manifest":…,"signature":…} as the API returns it
 *   public_key.pem       the export signing key's public half (SubjectPublicKeyInfo)
 *   SHA256SUMS           `sha256sum -c` lines: every clip and manifest.json
 *   SHA256SUMS.sig       its Ed25519 signature, raw
 *   VERIFY.txt           the steps, with sha256sum and openssl only
 *
 * The clips' hashes come from the signed manifest (computed at export time
 * over the bytes served), so SHA256SUMS holds nothing the manifest does not
 * vouch for; it is signed as well so that `sha256sum -c` plus one openssl
 * verification ties every clip to the key without reading JSON by hand. Both
 * the list and Ed25519 are deterministic: a bundle downloaded twice is the
 * same bytes. A clip that no longer assembles to the size its manifest states
 * (its footage gone) fails the request (409) rather than ship a file that
 * will not verify; the check of its bytes is the recipient's sha256sum.
 */
#include "serve/serve_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

struct serve__bundle {
    serve__zip *zip;
    media_clip **clips;
    size_t nclips;
};

/* A growing text buffer. */
typedef struct text {
    char *s;
    size_t len, cap;
    int err;
} text;

static void tputs(text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->err) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->err = -ENOMEM;
            return;
        }
        t->s = p, t->cap = cap;
    }
    memcpy(t->s + t->len, s, n + 1);
    t->len += n;
}

static void tprintf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(text *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    tputs(t, buf);
}

/* The public key as PEM: the DER SubjectPublicKeyInfo of an Ed25519 key is a
 * fixed 12-byte prefix (RFC 8410) and the 32 key bytes. */
static char *public_pem(const uint8_t pk[SERVE__SIGN_PK], char fpr[65])
{
    static const uint8_t prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    uint8_t der[12 + SERVE__SIGN_PK], d[32];
    memcpy(der, prefix, 12);
    memcpy(der + 12, pk, SERVE__SIGN_PK);
    if (vg_sha256_digest(der, sizeof(der), d) < 0) return NULL;
    vg_hex(d, 32, fpr);
    char *b64 = vg_base64(der, sizeof(der)), *pem = NULL;
    if (!b64) return NULL;
    text t = {0};
    tprintf(&t, "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64);
    free(b64);
    pem = t.err ? NULL : t.s;
    if (!pem) free(t.s);
    return pem;
}

static int clip_read(void *opaque, uint64_t pos, uint8_t *buf, size_t len)
{
    return media_clip_read(opaque, pos, buf, len);
}

static int signed_member(serve__zip *z, const char *dir, const char *name, const char *body,
                         const uint8_t *sk)
{
    uint8_t sig[VG_ED25519_SIG];
    char path[160];
    int ret = vg_ed25519_sign(sig, body, strlen(body), sk);
    if (ret < 0) return ret;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((ret = serve__zip_add_mem(z, path, body, strlen(body))) < 0) return ret;
    snprintf(path, sizeof(path), "%s/%s.sig", dir, name);
    return serve__zip_add_mem(z, path, sig, sizeof(sig));
}

static void verify_note(text *t, int64_t id, const char *fpr, size_t nclips)
{
    tprintf(t,
            "Evidence export %" PRId64 " from vigil: how to check it with standard tools\n"
            "==================================================================\n\n"
            "Needs only sha256sum (GNU coreutils) and openssl (OpenSSL 3.0 or newer).\n"
            "Run each command below in this folder (export-%" PRId64 "). Each exits 0 when\n"
            "the check passes and non-zero when it fails.\n\n",
            id, id);
    tprintf(t,
            "1. The public key. Compare its fingerprint with the one the recorder's\n"
            "   operator publishes for its export signing key (vigil serves the key at\n"
            "   GET /api/exports/public-key). The fingerprint of this key is\n"
            "   %s\n"
            "$ openssl pkey -pubin -in public_key.pem -outform DER | sha256sum\n\n",
            fpr);
    tputs(t,
          "2. The manifest (what was exported, by whom, why, each clip's SHA-256 and\n"
          "   size, the source segments and each camera's clock evidence) was signed\n"
          "   with that key:\n"
          "$ openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json "
          "-sigfile manifest.sig\n\n"
          "3. The list of checksums was signed with that key. It holds the SHA-256 of\n"
          "   every clip as the manifest states it, and of manifest.json:\n"
          "$ openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in SHA256SUMS "
          "-sigfile SHA256SUMS.sig\n\n"
          "4. Every clip, and the manifest, are the bytes that were signed:\n"
          "$ sha256sum --strict -c SHA256SUMS\n\n");
    tprintf(t,
            "The bundle holds %zu clip(s) under clips/. A clip is an MP4 (H.264 or H.265,\n"
            "not re-encoded) that any player opens. Times in the manifest are UTC (RFC\n"
            "3339). export.json is the manifest and its signature as vigil's API returns\n"
            "them (for `vigilctl export-verify`).\n",
            nclips);
}

int serve__bundle_open(index_reader *r, const serve__bundle_req *q, serve__bundle **out,
                       uint64_t *len, index_export *ex)
{
    serve__bundle *b = calloc(1, sizeof(*b));
    char *manifest = NULL, *sig64 = NULL, *pem = NULL, *api = NULL;
    uint8_t sig[VG_ED25519_SIG];
    size_t siglen = 0;
    json_t *m = NULL;
    text sums = {0}, note = {0};
    char dir[48], path[256], fpr[65];
    int ret = 0;
    *out = NULL;
    if (!b) return -ENOMEM;
    if ((ret = index_export_get(q->index_path, q->export_id, ex, &manifest, &sig64)) < 0) goto out;
    if (!(m = json_loads(manifest, 0, NULL)) ||
        vg_unbase64(sig64, strlen(sig64), sig, sizeof(sig), &siglen) < 0 ||
        siglen != VG_ED25519_SIG) {
        ret = -EBADMSG;
        goto out;
    }
    if ((ret = serve__zip_new(ex->created_us, 0, &b->zip)) < 0) goto out;
    snprintf(dir, sizeof(dir), "export-%" PRId64, q->export_id);

    /* Count the clips first: the array of plans is sized once. */
    size_t n = 0, ci, ki;
    json_t *cam, *clip;
    json_array_foreach(json_object_get(m, "cameras"), ci, cam) n +=
        json_array_size(json_object_get(cam, "clips"));
    if (!(b->clips = calloc(n ? n : 1, sizeof(*b->clips)))) {
        ret = -ENOMEM;
        goto out;
    }
    json_array_foreach(json_object_get(m, "cameras"), ci, cam) {
        const char *id = json_string_value(json_object_get(cam, "id"));
        json_array_foreach(json_object_get(cam, "clips"), ki, clip) {
            const char *hex = json_string_value(json_object_get(clip, "sha256"));
            json_t *jb = json_object_get(clip, "bytes");
            int64_t s_us, e_us;
            if (!id || !hex || !json_is_integer(jb)) {
                ret = -ENOTSUP; /* made before clips were hashed */
                goto out;
            }
            if (vg_time_parse(json_string_value(json_object_get(clip, "start")), &s_us) < 0 ||
                vg_time_parse(json_string_value(json_object_get(clip, "end")), &e_us) < 0) {
                ret = -EBADMSG;
                goto out;
            }
            media_clip **c = &b->clips[b->nclips];
            ret = media_clip_open(r, q->abspath, q->abspath_opaque, q->pins, id, s_us, e_us, c);
            if (ret == -ENOENT) ret = -ESTALE;
            if (ret < 0) goto out;
            b->nclips++;
            uint64_t clen = media_clip_info_get(*c)->length;
            if (clen != (uint64_t)json_integer_value(jb)) {
                vg_log_cam(LOG_WARNING, id, "serve: export %" PRId64 ": clip %zu is now %" PRIu64
                           " bytes, its manifest says %" PRId64, q->export_id, ki + 1, clen,
                           (int64_t)json_integer_value(jb));
                ret = -ESTALE;
                goto out;
            }
            snprintf(path, sizeof(path), "clips/%s-%zu.mp4", id, ki + 1);
            tprintf(&sums, "%s  %s\n", hex, path);
            char full[320];
            snprintf(full, sizeof(full), "%s/%s", dir, path);
            if ((ret = serve__zip_add_stream(b->zip, full, clen, clip_read, *c)) < 0) goto out;
        }
    }
    uint8_t md[32];
    char mhex[65];
    if ((ret = vg_sha256_digest(manifest, strlen(manifest), md)) < 0) goto out;
    vg_hex(md, 32, mhex);
    tprintf(&sums, "%s  manifest.json\n", mhex);
    if (!(pem = public_pem(q->pk, fpr))) {
        ret = -ENOMEM;
        goto out;
    }
    verify_note(&note, q->export_id, fpr, b->nclips);
    size_t alen = strlen(manifest) + strlen(sig64) + 32;
    if (sums.err || note.err || !(api = malloc(alen))) {
        ret = -ENOMEM;
        goto out;
    }
    snprintf(api, alen, "{\"manifest\":%s,\"signature\":\"%s\"}", manifest, sig64);
#define MEM(name, p, l)                                                                            \
    do {                                                                                           \
        snprintf(path, sizeof(path), "%s/%s", dir, name);                                          \
        if ((ret = serve__zip_add_mem(b->zip, path, p, l)) < 0) goto out;                          \
    } while (0)
    MEM("VERIFY.txt", note.s, note.len);
    MEM("manifest.json", manifest, strlen(manifest));
    MEM("manifest.sig", sig, siglen);
    MEM("export.json", api, strlen(api));
    MEM("public_key.pem", pem, strlen(pem));
#undef MEM
    if ((ret = signed_member(b->zip, dir, "SHA256SUMS", sums.s, q->sk)) < 0) goto out;
    if ((ret = serve__zip_finish(b->zip, len)) < 0) goto out;
    *out = b, b = NULL;
out:
    serve__bundle_free(&b);
    json_decref(m);
    free(manifest);
    free(sig64);
    free(pem);
    free(api);
    free(sums.s);
    free(note.s);
    return ret;
}

int serve__bundle_read(serve__bundle *b, uint64_t pos, uint8_t *buf, size_t len)
{
    return serve__zip_read(b->zip, pos, buf, len);
}

void serve__bundle_free(serve__bundle **bp)
{
    serve__bundle *b = bp ? *bp : NULL;
    if (!b) return;
    serve__zip_free(&b->zip);
    for (size_t i = 0; i < b->nclips; i++) media_clip_free(&b->clips[i]);
    free(b->clips);
    free(b);
    *bp = NULL;
}
