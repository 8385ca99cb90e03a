/*
 * The few cryptographic primitives vigil needs, all from OpenSSL's libcrypto
 * (which the SHA-256 of footage and RTSP Digest already use), so there is one
 * crypto library: wiping secrets, constant-time comparison, one-shot SHA-256,
 * hex and base64, and Ed25519 for signed evidence exports.
 *
 * Ed25519 keys keep the on-disk shape they have always had: 64 bytes, the
 * 32-byte seed followed by the 32-byte public key (what libsodium calls a
 * secret key). OpenSSL's raw private key is the seed alone, so a key file
 * written by any earlier vigil loads unchanged, and since Ed25519 signatures
 * are deterministic the same key signs the same bytes identically.
 */
#include "common/common.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

void vg_memzero(void *p, size_t n)
{
    if (p && n) OPENSSL_cleanse(p, n);
}

bool vg_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int vg_sha256_digest(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

char *vg_base64(const uint8_t *b, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    if (s) EVP_EncodeBlock((unsigned char *)s, b, (int)n);
    return s;
}

int vg_unbase64(const char *s, size_t len, uint8_t *out, size_t outmax, size_t *outlen)
{
    /* Standard alphabet with padding, nothing else: EVP_DecodeBlock would
     * skip surrounding whitespace and count the padding as zero bytes. */
    if (len % 4 != 0) return -EINVAL;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
        if (c == '=' && i + 2 >= len && (i + 1 == len || s[i + 1] == '=')) {
            pad++;
            continue;
        }
        if (!ok || pad) return -EINVAL;
    }
    size_t n = len / 4 * 3 - pad;
    if (n > outmax) return -E2BIG;
    if (len == 0) {
        *outlen = 0;
        return 0;
    }
    uint8_t *tmp = malloc(len / 4 * 3);
    if (!tmp) return -ENOMEM;
    int r = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
    if (r < 0 || (size_t)r != len / 4 * 3) {
        free(tmp);
        return -EINVAL;
    }
    memcpy(out, tmp, n);
    vg_memzero(tmp, len / 4 * 3);
    free(tmp);
    *outlen = n;
    return 0;
}

/* ---- Ed25519 ---- */

int vg_ed25519_public(const uint8_t sk[VG_ED25519_SK], uint8_t pk[VG_ED25519_PK])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
    size_t n = VG_ED25519_PK;
    int ret = k && EVP_PKEY_get_raw_public_key(k, pk, &n) == 1 && n == VG_ED25519_PK ? 0 : -EINVAL;
    EVP_PKEY_free(k);
    return ret;
}

int vg_ed25519_keypair(uint8_t sk[VG_ED25519_SK], uint8_t pk[VG_ED25519_PK])
{
    if (RAND_priv_bytes(sk, 32) != 1) return -EIO;
    int ret = vg_ed25519_public(sk, pk);
    if (ret < 0) {
        vg_memzero(sk, VG_ED25519_SK);
        return ret;
    }
    memcpy(sk + 32, pk, VG_ED25519_PK);
    return 0;
}

int vg_ed25519_sign(uint8_t sig[VG_ED25519_SIG], const void *msg, size_t len,
                    const uint8_t sk[VG_ED25519_SK])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = VG_ED25519_SIG;
    int ret = k && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
                      EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == VG_ED25519_SIG
                  ? 0
                  : -EIO;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ret;
}

int vg_ed25519_verify(const uint8_t sig[VG_ED25519_SIG], const void *msg, size_t len,
                      const uint8_t pk[VG_ED25519_PK])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, VG_ED25519_PK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ret = -ENOMEM;
    if (k && ctx) {
        ret = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
                      EVP_DigestVerify(ctx, sig, VG_ED25519_SIG, msg, len) == 1
                  ? 0
                  : -EBADMSG;
    } else if (!k) {
        ret = -EINVAL;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ret;
}
