/* libFuzzer driver: the HTTP API's parsers of outside input (serve/http.c):
 * query parameters (serve__query_get, percent-decoding) and the times they
 * carry (vg_time_parse), the Range header (serve__range_parse) and the route
 * table lookup (serve_auth_route). Input: byte 0 selects how the rest is used
 * as a query string, a Range value (against a body length taken from bytes
 * 1..8) and a path; the results are checked against each function's contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "serve/auth.h"
#include "serve/serve_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"start", "end", "at", "camera", "district", "site",
                                        "export", "access_token", "all", "type", ""};
    if (size < 1) return 0;
    const char *q = (const char *)data + 1;
    size_t qlen = size - 1;
    /* query parameters, with small and large output buffers */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char out[128];
        size_t outlen = (data[0] & 1) ? sizeof(out) : 1 + data[0] % 16;
        int r = serve__query_get(q, qlen, names[i], out, outlen);
        if (r < -1 || r > 1) abort();
        if (r == 1) {
            if (strnlen(out, outlen) >= outlen) abort();
            int64_t t;
            vg_time_parse(out, &t);
        }
    }
    /* Range against a length from the input */
    uint64_t len = 0;
    for (size_t i = 1; i < 9 && i < size; i++) len = len << 8 | data[i];
    if (data[0] & 2) len %= 1u << 20;
    uint64_t first = 0, last = 0;
    int r = serve__range_parse(q, qlen, len, &first, &last);
    if (r < -1 || r > 1) abort();
    if (r == 1 && (first > last || last >= len)) abort();
    /* the route table: method is the first word, the rest the path */
    const char *sp = memchr(q, ' ', qlen);
    size_t mlen = sp ? (size_t)(sp - q) : 0;
    int need = serve_auth_route(q, mlen, sp ? sp + 1 : q, sp ? qlen - mlen - 1 : qlen);
    if (need < SERVE_AUTH_OPEN || need > CONFIG_ROLE_ADMIN) abort();
    return 0;
}
