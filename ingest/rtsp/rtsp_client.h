/*
 * rtsp_client: the native, event-driven RTSP 1.0 client (issue #6). Prefix: rtsp_client_.
 *
 * One session speaks OPTIONS, DESCRIBE (Basic/Digest auth retry on 401,
 * redirects on 3xx), SETUP per supported track (RTP over the RTSP TCP
 * connection by default, or UDP port pairs with a reorder window), PLAY,
 * keep-alive (GET_PARAMETER, or OPTIONS when the server does not list it, at
 * half the session timeout) and TEARDOWN on close. Many sessions share one
 * libuv loop: once a session plays, its socket is not read on every
 * readiness event but drained on a tick (50 ms by default) with large
 * recv()s into a per-session buffer, and RTP is parsed in place
 * (architecture.md: 0.065 % instead of 0.18 % of a core per camera).
 *
 * Output: the track list with codec parameters once playing, access units
 * (Annex-B H.264/H.265, raw AAC, G.711) with RTP and unwrapped timestamps,
 * parameter-set changes, and one terminal error with a reason. Reconnecting
 * with backoff is the caller's job (a session is single-shot).
 *
 * Threading: every function must be called on the loop's thread, and every
 * callback runs there. Not thread-safe across loops.
 */
#ifndef VIGIL_RTSP_CLIENT_H
#define VIGIL_RTSP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ingest/rtsp/rtsp_internal.h"

typedef struct rtsp_client rtsp_client;

typedef enum {
    RTSP_ERR_NONE = 0,
    RTSP_ERR_UNREACHABLE, /* resolve/connect failed, or the connection dropped */
    RTSP_ERR_AUTH_FAILED, /* 401 with our credentials, or none given */
    RTSP_ERR_NOT_FOUND,   /* 404, or no media this client can record */
    RTSP_ERR_STALLED,     /* playing, but no RTP for stall_ms */
    RTSP_ERR_PROTOCOL,    /* malformed or unexpected answers, timeouts, too many redirects */
    RTSP_ERR_CLOSED,      /* the server ended the stream */
} rtsp_error;

/* "unreachable", "auth_failed", "not_found", "stalled", "error", "closed". */
const char *rtsp_error_name(rtsp_error e);

typedef enum { RTSP_TRANSPORT_TCP = 0, RTSP_TRANSPORT_UDP = 1 } rtsp_transport_kind;

typedef struct rtsp_track_info {
    int index; /* track number passed with each frame */
    rtsp_codec codec;
    uint32_t clock_rate;
    int channels;
    const uint8_t *vps, *sps, *pps; /* H.264/H.265 parameter sets (NAL units, no prefix) */
    size_t vps_len, sps_len, pps_len;
    const uint8_t *config; /* AAC AudioSpecificConfig */
    size_t config_len;
} rtsp_track_info;

typedef struct rtsp_frame {
    int track;
    rtsp_codec codec;
    const uint8_t *data; /* borrowed for the duration of the callback */
    size_t len;
    int keyframe;
    uint32_t rtp_ts;
    uint32_t clock_rate;
    /* RTP time unwrapped to 64 bits, relative to the PLAY answer's RTP-Info
     * rtptime (so tracks line up) or to the track's first packet without it. */
    int64_t pts;
    int64_t recv_us; /* vg_now_us() when the bytes were read */
    int64_t ntp_us;  /* sender wall time from RTCP SR, 0 until one arrived */
} rtsp_frame;

typedef struct rtsp_client_cbs {
    /* Playing: the tracks that will produce frames. Arrays valid during the call. */
    void (*on_tracks)(void *opaque, const rtsp_track_info *tracks, int n);
    void (*on_frame)(void *opaque, const rtsp_frame *f);
    /* In-band parameter sets of a track changed (may be NULL). */
    void (*on_params)(void *opaque, const rtsp_track_info *track);
    /* The session failed or ended; nothing else but the close callback follows.
     * The caller still calls rtsp_client_close() (it may do so from here). */
    void (*on_error)(void *opaque, rtsp_error err, const char *detail);
    /* Optional, video tracks: a buffer of the consumer's to build access units
     * in, so on_frame's data is already where the consumer keeps it. keep == 0
     * starts a unit (need bytes from a place of the consumer's choosing); keep
     * > 0 asks for need bytes with the first keep bytes of the unit still in
     * them (the buffer may move). NULL at keep == 0: this unit is built in the
     * client's own buffer; NULL later: the unit is dropped. The buffer must
     * stay put between calls until the unit is handed out or the next starts. */
    uint8_t *(*video_buffer)(void *opaque, int track, size_t keep, size_t need);
} rtsp_client_cbs;

typedef struct rtsp_client_opts {
    const char *url;         /* rtsp[s]://[user:pass@]host[:port]/path; copied */
    const char *user, *pass; /* override the URL's userinfo when non-NULL; copied */
    rtsp_transport_kind transport;
    int tick_ms;          /* batch-read period once playing; 50 when 0 */
    int stall_ms;         /* 10000 when 0 */
    int timeout_ms;       /* connect and per-request timeout; 10000 when 0 */
    int reorder_window;   /* UDP: packets held; 64 when 0 */
    int reorder_delay_ms; /* UDP: how long a hole is waited for; 100 when 0 */
    int length_prefixed;  /* video NALs with 4-byte lengths instead of start codes */
    const char *camera;   /* for log lines; copied; may be NULL */
    /* The caller's, kept across its sessions (used on the loop thread): set
     * once "the camera offers only Basic authentication" was logged, so it is
     * logged once per camera, not at every reconnect. NULL: every session. */
    int *basic_logged;
    /* rtsps:// (TLS): the CA file (PEM) the camera's certificate must chain
     * to, copied; NULL: the system's CAs. tls_no_verify: no check at all
     * (the caller logs that choice). */
    const char *tls_ca_file;
    int tls_no_verify;
} rtsp_client_opts;

typedef struct rtsp_client_stats {
    uint64_t bytes, rtp_packets, rtp_lost, rtcp_packets, frames, frames_dropped, overflows,
        bad_packets, reads;
} rtsp_client_stats;

/* Starts a session on `loop`. 0 with *out (caller closes it with
 * rtsp_client_close) or negative errno (-EINVAL bad URL/options, -ENOMEM);
 * a failed call runs no callback. */
int rtsp_client_start(uv_loop_t *loop, const rtsp_client_opts *o, const rtsp_client_cbs *cb,
                      void *opaque, rtsp_client **out);

/* Sends TEARDOWN when playing (best effort), closes everything and frees the
 * session; closed_cb(opaque) runs once the memory is gone (may be NULL).
 * No other callback runs after this call. Accepts NULL. */
void rtsp_client_close(rtsp_client *c, void (*closed_cb)(void *opaque));
/* Changes the batch-read period (ms > 0), from the next tick on; loop thread. */
void rtsp_client_set_tick(rtsp_client *c, int tick_ms);

void rtsp_client_get_stats(const rtsp_client *c, rtsp_client_stats *out);

/* Tests and fuzzing: a session on an already connected stream socket (taken
 * over; a socketpair works), starting at OPTIONS; redirects are refused. */
int rtsp_client__start_fd(uv_loop_t *loop, int fd, const rtsp_client_opts *o,
                          const rtsp_client_cbs *cb, void *opaque, rtsp_client **out);

#endif
