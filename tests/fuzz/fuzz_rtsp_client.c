/*
 * libFuzzer driver: a whole client session fed by a hostile server. The input
 * is everything the "server" sends, written at once into a socketpair whose
 * far end is then shut (EOF). The client answers go unread. Answers without
 * CSeq count as the answer to the request outstanding, so an input can walk
 * the whole state machine: OPTIONS, DESCRIBE (SDP), SETUP per track, PLAY,
 * then interleaved RTP/RTCP into the depacketizers. Redirects are refused
 * (no DNS while fuzzing). Each run must end with the session closed and
 * freed (LeakSanitizer checks the rest).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "ingest/rtsp/rtsp_client.h"

typedef struct run {
    rtsp_client *c;
    int closed;
    uint64_t bytes;
} run;

static void on_frame(void *o, const rtsp_frame *f)
{
    run *r = o;
    for (size_t i = 0; i < f->len; i++)
        r->bytes += f->data[i];
}

static void on_closed(void *o)
{
    run *r = o;
    r->closed = 1;
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "frame byte sum %llu\n", (unsigned long long)r->bytes);
}

static void on_error(void *o, rtsp_error e, const char *detail)
{
    (void)e;
    (void)detail;
    run *r = o;
    rtsp_client_close(r->c, on_closed);
    r->c = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (!getenv("FUZZ_VERBOSE")) vg_log_set_level(LOG_ERR); /* quiet */
        init = 1;
    }
    if (size > 150000) return 0; /* must fit the socket buffer in one write */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) abort();
    int sz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(sv[1], data + off, size - off);
        if (n <= 0) break;
        off += (size_t)n;
    }
    shutdown(sv[1], SHUT_WR);

    uv_loop_t loop;
    uv_loop_init(&loop);
    run r = {0};
    rtsp_client_opts o = {.url = "rtsp://user:fuzzpass@127.0.0.1:554/cam",
                          .tick_ms = 1,
                          .stall_ms = 60000,
                          .timeout_ms = 60000};
    rtsp_client_cbs cb = {.on_frame = on_frame, .on_error = on_error};
    if (rtsp_client__start_fd(&loop, sv[0], &o, &cb, &r, &r.c) < 0) abort();
    /* EOF ends every session; the bound only guards against a hang */
    for (int i = 0; i < 10000 && !r.closed; i++)
        uv_run(&loop, UV_RUN_ONCE);
    if (!r.closed) abort();
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) abort();
    close(sv[1]);
    return 0;
}
