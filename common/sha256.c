/*
 * SHA-256 of segment files as they are written, through OpenSSL's EVP so the
 * CPU's SHA extensions do the work (see common.h for the measurement).
 */
#include "common/common.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct vg_sha256 {
    EVP_MD_CTX *ctx;
};

vg_sha256 *vg_sha256_new(void)
{
    vg_sha256 *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    if (!(h->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        vg_sha256_free(&h);
        return NULL;
    }
    return h;
}

void vg_sha256_update(vg_sha256 *h, const void *p, size_t n)
{
    if (n) EVP_DigestUpdate(h->ctx, p, n);
}

void vg_sha256_final(vg_sha256 *h, uint8_t out[32])
{
    unsigned int len = 32;
    EVP_DigestFinal_ex(h->ctx, out, &len);
}

void vg_sha256_reset(vg_sha256 *h)
{
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void vg_sha256_free(vg_sha256 **hp)
{
    if (!hp || !*hp) return;
    EVP_MD_CTX_free((*hp)->ctx);
    free(*hp);
    *hp = NULL;
}
