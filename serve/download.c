/*
 * Clip downloads. A clip's length is known before its first byte, so the
 * HTTP side is plain: Range (one range), If-Range and If-None-Match against
 * its ETag, then exactly Content-Length bytes.
 *
 * The bytes stream through two buffers (DL_BUF each): while h2o writes one
 * to the socket, a worker preads the next, so the loop never waits on disk
 * and a download's memory is two buffers plus its plan, whatever its
 * length. A client that disconnects frees the download (and its pins) as
 * soon as any in-flight read returns.
 */
#include "serve/http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

#define DL_BUF (2u << 20)
#define DL_FIRST (128u << 10) /* the first read is small: time to first byte */

struct serve__download {
    h2o_generator_t super;
    serve_ctx *s;
    h2o_req_t *req;
    serve__anchor *anchor;
    serve__body body;    /* owned: a clip, an evidence bundle */
    uint64_t pos, end;   /* next byte to read, end exclusive */
    uint8_t *buf[2];
    size_t len[2];
    int filling, ready;  /* buffer index or -1 */
    int sending_buf;     /* the buffer h2o writes from while in_write */
    int fill_err;
    bool in_write;       /* h2o has a buffer of ours and has not proceeded yet */
    bool finished;       /* the final h2o_send was made */
    bool aborted;
    bool sent_any;       /* a first (small) buffer was read */
    serve__task task; /* the read in flight */
    bool slot;        /* holds who's download slot (serve/limits.c) */
    char who[64];
    serve__download *prev, *next;
};

typedef serve__download download;

static void dl_try_send(download *d);

static void dl_free(download *d)
{
    serve_ctx *s = d->s;
    if (d->prev)
        d->prev->next = d->next;
    else
        s->downloads = d->next;
    if (d->next) d->next->prev = d->prev;
    if (d->slot) serve__slots_give(s->slots, SERVE__SLOT_DOWNLOAD, d->who);
    if (d->body.free) d->body.free(d->body.opaque);
    free(d->buf[0]);
    free(d->buf[1]);
    free(d);
    s->ndownloads--;
    serve__maybe_finish_stop(s);
}

static void dl_fill_work(serve__task *t)
{
    download *d = vg_container_of(t, download, task);
    int b = d->filling;
    uint64_t n = d->end - d->pos, cap = d->sent_any ? DL_BUF : DL_FIRST;
    if (n > cap) n = cap;
    d->fill_err = d->body.read(d->body.opaque, d->pos, d->buf[b], (size_t)n);
    d->len[b] = (size_t)n;
}

static void dl_fill_done(serve__task *t)
{
    download *d = vg_container_of(t, download, task);
    int b = d->filling;
    d->filling = -1;
    d->s->njobs--;
    if (!d->req) {
        dl_free(d);
        return;
    }
    if (d->fill_err == 0) {
        d->pos += d->len[b];
        d->ready = b;
        d->sent_any = true;
    }
    dl_try_send(d);
}

static void dl_start_fill(download *d)
{
    if (d->filling >= 0 || d->ready >= 0 || d->pos >= d->end || d->fill_err || d->aborted) return;
    /* The buffer h2o is not writing from. */
    static const int other[2] = {1, 0};
    int b = d->in_write ? other[d->sending_buf] : 0;
    d->filling = b;
    d->s->njobs++;
    d->task.work = dl_fill_work;
    d->task.done = dl_fill_done;
    serve__workers_queue(d->s->workers, &d->task);
}

static void dl_try_send(download *d)
{
    if (d->in_write || d->finished || !d->req) return;
    if (d->fill_err || d->aborted) {
        if (d->fill_err)
            vg_log(LOG_WARNING, "serve: download failed at byte %" PRIu64 ": %s", d->pos,
                   strerror(-d->fill_err));
        if (d->filling >= 0) return; /* wait for the read in flight */
        d->finished = true;
        h2o_send(d->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (d->ready < 0) {
        dl_start_fill(d);
        return;
    }
    int b = d->ready;
    d->ready = -1;
    bool last = d->pos >= d->end;
    h2o_iovec_t iov = h2o_iovec_init(d->buf[b], d->len[b]);
    d->sending_buf = b;
    if (last) {
        d->finished = true;
    } else {
        d->in_write = true;
    }
    dl_start_fill(d); /* read the next buffer while this one is written */
    h2o_send(d->req, &iov, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void dl_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    download *d = (download *)g;
    d->in_write = false;
    dl_try_send(d);
}

static void dl_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    download *d = (download *)g;
    d->aborted = true;
    d->in_write = false;
    d->finished = true; /* h2o is done with the request: no more h2o_send */
}

/* h2o freed the request: free now, or when the read in flight returns. */
static void dl_gone(void *owner)
{
    download *d = owner;
    d->req = NULL;
    d->anchor = NULL;
    if (d->filling < 0) dl_free(d);
}

void serve__downloads_abort(serve_ctx *s)
{
    for (download *d = s->downloads; d; d = d->next) {
        d->aborted = true;
        dl_try_send(d);
    }
}

static bool etag_matches(const char *list, size_t len, const char *etag)
{
    size_t el = strlen(etag);
    for (size_t i = 0; i + el <= len; i++)
        if (memcmp(list + i, etag, el) == 0) return true;
    return len == 1 && list[0] == '*';
}

/* Every response is an access, whatever range it asks for: a player's ranges
 * of one clip make one run (serve/audit.c), keyed by the clip's covered
 * range and export. bytes: what this response sends. */
static void audit_download(serve_ctx *s, h2o_req_t *req, const char *who, const char *camera,
                           const media_clip_info *ci, const char *export_id, int status,
                           uint64_t first, uint64_t last)
{
    bool body = status != 304 && !serve__method_is(req, "HEAD");
    char what[96];
    snprintf(what, sizeof(what), "%" PRId64 "-%" PRId64 "%s%s", ci->start_us, ci->end_us,
             export_id[0] ? " export " : "", export_id);
    json_t *detail = json_pack("{s:I}", "clip_bytes", (json_int_t)ci->length);
    if (detail && status == 206)
        json_object_set_new(detail, "range", json_pack("[I,I]", (json_int_t)first, (json_int_t)last));
    if (detail && export_id[0])
        json_object_set_new(detail, "export", json_integer(strtoll(export_id, NULL, 10)));
    serve__audit_access(s, who, export_id[0] ? "export" : "clip", camera, what, ci->start_us,
                        ci->end_us, body ? last - first + 1 : 0, detail);
    json_decref(detail);
}

static int clip_read(void *opaque, uint64_t pos, uint8_t *buf, size_t len)
{
    return media_clip_read(opaque, pos, buf, len);
}

static void clip_free(void *opaque)
{
    media_clip *c = opaque;
    media_clip_free(&c);
}

void serve__download_start(serve_ctx *s, h2o_req_t *req, media_clip **clip, const char *camera,
                           const char *who, const char *export_id, bool *slot)
{
    const media_clip_info *ci = media_clip_info_get(*clip);
    uint64_t first = 0, last = ci->length - 1;
    int status = 200;
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1);
    if (hi >= 0) {
        bool use = true;
        ssize_t ii = h2o_find_header(&req->headers, H2O_TOKEN_IF_RANGE, -1);
        if (ii >= 0) {
            h2o_iovec_t v = req->headers.entries[ii].value;
            use = v.len == strlen(ci->etag) && memcmp(v.base, ci->etag, v.len) == 0;
        }
        h2o_iovec_t v = req->headers.entries[hi].value;
        int r = use ? serve__range_parse(v.base, v.len, ci->length, &first, &last) : 0;
        if (r < 0) {
            char cr[64];
            snprintf(cr, sizeof(cr), "bytes */%" PRIu64, ci->length);
            serve__add_header(req, H2O_TOKEN_CONTENT_RANGE, cr);
            serve__send_error(req, 416, "range not satisfiable");
            goto out;
        }
        if (r > 0) status = 206;
    }
    char b1[VG_TIME_LEN], b2[VG_TIME_LEN], hv[256];
    serve__add_header(req, H2O_TOKEN_ACCEPT_RANGES, "bytes");
    serve__add_header(req, H2O_TOKEN_ETAG, ci->etag);
    serve__add_header(req, H2O_TOKEN_CACHE_CONTROL, "private, max-age=60");
    serve__add_header_str(req, "x-clip-start", vg_time_format(ci->start_us, b1, sizeof(b1)));
    serve__add_header_str(req, "x-clip-end", vg_time_format(ci->end_us, b2, sizeof(b2)));
    if (ci->truncated) serve__add_header_str(req, "x-clip-truncated", ci->truncated);
    /* File name: camera_YYYYMMDDTHHMMSSZ_YYYYMMDDTHHMMSSZ.mp4 (UTC). */
    char n1[32], n2[32];
    time_t t1 = (time_t)(ci->start_us / 1000000), t2 = (time_t)((ci->end_us + 999999) / 1000000);
    struct tm tm;
    strftime(n1, sizeof(n1), "%Y%m%dT%H%M%SZ", gmtime_r(&t1, &tm));
    strftime(n2, sizeof(n2), "%Y%m%dT%H%M%SZ", gmtime_r(&t2, &tm));
    snprintf(hv, sizeof(hv), "inline; filename=\"%s_%s_%s.mp4\"", camera, n1, n2);
    serve__add_header(req, H2O_TOKEN_CONTENT_DISPOSITION, hv);
    serve__add_header(req, H2O_TOKEN_CONTENT_TYPE, "video/mp4");
    if (status == 206) {
        snprintf(hv, sizeof(hv), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, ci->length);
        serve__add_header(req, H2O_TOKEN_CONTENT_RANGE, hv);
    }
    ssize_t ni = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (ni >= 0 && status == 200 &&
        etag_matches(req->headers.entries[ni].value.base, req->headers.entries[ni].value.len,
                     ci->etag))
        status = 304;
    audit_download(s, req, who, camera, ci, export_id, status, first, last);
    if (status == 304) {
        req->res.status = 304;
        req->res.reason = serve__reason(304);
        h2o_send_inline(req, "", 0);
        goto out;
    }
    req->res.status = status;
    req->res.reason = serve__reason(status);
    req->res.content_length = (size_t)(last - first + 1);
    serve__body body = {.opaque = *clip, .read = clip_read, .free = clip_free};
    *clip = NULL;
    serve__stream_start(s, req, &body, first, last + 1, who, slot);
out:
    media_clip_free(clip); /* not handed to a download: the pins go with it */
}

void serve__stream_start(serve_ctx *s, h2o_req_t *req, serve__body *body, uint64_t first,
                         uint64_t end, const char *who, bool *slot)
{
    download *d = NULL;
    if (!(d = calloc(1, sizeof(*d))) || !(d->buf[0] = malloc(DL_BUF)) ||
        !(d->buf[1] = malloc(DL_BUF))) {
        if (d) free(d->buf[0]);
        free(d);
        if (body->free) body->free(body->opaque);
        *body = (serve__body){0};
        serve__send_error(req, 503, "out of memory");
        return;
    }
    d->super.proceed = dl_proceed;
    d->super.stop = dl_stop;
    d->s = s;
    d->req = req;
    d->body = *body, *body = (serve__body){0};
    d->slot = *slot, *slot = false;
    snprintf(d->who, sizeof(d->who), "%s", who);
    d->pos = first;
    d->end = end;
    d->filling = d->ready = -1;
    d->anchor = serve__anchor_new(req, dl_gone, d);
    d->next = s->downloads;
    if (d->next) d->next->prev = d;
    s->downloads = d;
    s->ndownloads++;
    h2o_start_response(req, &d->super);
    if (serve__method_is(req, "HEAD") || d->pos >= d->end) {
        d->finished = true;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    dl_start_fill(d);
}
