/*
 * Caps on concurrent footage work: downloads (clips and exports) and
 * snapshots, counted in all and per token. A download holds its slot from
 * the request until its response is freed, a snapshot until it is answered,
 * so a client cannot queue more work than its share by opening connections.
 * Past a token's cap the answer is 429 (that token should wait), past the
 * global cap 503 (the server is busy for everyone), both with Retry-After.
 *
 * Everything runs on the loop thread: no lock. The caps are read from the
 * config at each request, so a reload changes them for the next request; the
 * counts held by requests in flight stay as they are and drain.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

typedef struct holder {
    char who[64];
    unsigned n[SERVE__SLOT_KINDS];
} holder;

struct serve__slots {
    unsigned total[SERVE__SLOT_KINDS];
    holder *h; /* tokens holding at least one slot */
    size_t nh, cap;
};

int serve__slots_new(serve__slots **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void serve__slots_free(serve__slots **sl)
{
    if (!sl || !*sl) return;
    free((*sl)->h);
    free(*sl);
    *sl = NULL;
}

static holder *find(serve__slots *sl, const char *who)
{
    for (size_t i = 0; i < sl->nh; i++)
        if (strcmp(sl->h[i].who, who) == 0) return &sl->h[i];
    return NULL;
}

int serve__slots_take(serve__slots *sl, serve__slot_kind kind, const char *who, int max,
                      int per_token)
{
    holder *h = find(sl, who);
    if (h && per_token > 0 && h->n[kind] >= (unsigned)per_token) return -EBUSY;
    if (max > 0 && sl->total[kind] >= (unsigned)max) return -EAGAIN;
    if (!h) {
        if (sl->nh == sl->cap) {
            size_t cap = sl->cap ? 2 * sl->cap : 8;
            holder *n = realloc(sl->h, cap * sizeof(*n));
            if (!n) return -ENOMEM;
            sl->h = n, sl->cap = cap;
        }
        h = &sl->h[sl->nh++];
        memset(h, 0, sizeof(*h));
        snprintf(h->who, sizeof(h->who), "%s", who);
    }
    h->n[kind]++;
    sl->total[kind]++;
    return 0;
}

void serve__slots_give(serve__slots *sl, serve__slot_kind kind, const char *who)
{
    holder *h = find(sl, who);
    assert(h && h->n[kind] > 0 && sl->total[kind] > 0);
    if (!h || h->n[kind] == 0) return;
    h->n[kind]--;
    sl->total[kind]--;
    for (int k = 0; k < SERVE__SLOT_KINDS; k++)
        if (h->n[k]) return;
    *h = sl->h[--sl->nh]; /* holds nothing: forget the token */
}

unsigned serve__slots_in_use(const serve__slots *sl, serve__slot_kind kind)
{
    return sl->total[kind];
}

void serve__slots_refuse(h2o_req_t *req, serve__slot_kind kind, int err)
{
    static const char *const what[SERVE__SLOT_KINDS] = {"downloads", "snapshots",
                                                         "event posts"};
    /* A download lasts seconds to minutes, a snapshot a fraction of one, an
     * event post a commit of the index. */
    static const char *const retry[SERVE__SLOT_KINDS] = {"10", "2", "1"};
    char msg[96];
    serve__add_header(req, H2O_TOKEN_RETRY_AFTER, retry[kind]);
    if (err == -EBUSY) {
        snprintf(msg, sizeof(msg), "too many %s in progress for this token", what[kind]);
        serve__send_error(req, 429, msg);
    } else if (err == -EAGAIN) {
        snprintf(msg, sizeof(msg), "too many %s in progress", what[kind]);
        serve__send_error(req, 503, msg);
    } else {
        serve__send_error(req, 503, "out of memory");
    }
}
