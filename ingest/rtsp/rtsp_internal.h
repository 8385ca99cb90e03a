/*
 * ingest/rtsp internals: the pure parsers of the native RTSP/RTP client —
 * RTSP messages and interleaved '$' frames, SDP, WWW-Authenticate and the
 * Basic/Digest answers, RTP/RTCP headers with a reorder window, and the
 * depacketizers for H.264 (RFC 6184), H.265 (RFC 7798), AAC (RFC 3640) and
 * G.711. None of them does I/O; all of them take untrusted bytes and enforce
 * the caps below (overflow drops the item and counts it, never grows past a
 * cap). Shared by rtsp_client.c, the unit tests and the fuzz drivers.
 *
 * Prefix: rtsp_ (rtsp_rtp_ / rtsp_rtcp_ / rtsp_sdp_ for the RTP and SDP helpers).
 * Errors: 0 OK, negative errno (-EBADMSG malformed, -E2BIG over a cap,
 * -EAGAIN need more bytes where stated).
 */
#ifndef VIGIL_RTSP_INTERNAL_H
#define VIGIL_RTSP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- caps ---- */
#define RTSP_MAX_LINE (8 * 1024)          /* one header / status line */
#define RTSP_MAX_HEADER_BYTES (64 * 1024) /* whole header block */
#define RTSP_MAX_HEADERS 64               /* header count */
#define RTSP_MAX_BODY (64 * 1024)         /* Content-Length (SDP) */
#define RTSP_MAX_SDP (64 * 1024)
#define RTSP_MAX_FRAME (8 * 1024 * 1024) /* one NAL / access unit / AAC frame */
#define RTSP_MAX_PARAM_SET 1024          /* one VPS/SPS/PPS */
#define RTSP_MAX_URL 1024
#define RTSP_SDP_MAX_MEDIA 8

/* ================= RTSP messages ================= */

typedef struct rtsp_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading/trailing blanks trimmed */
    size_t value_len;
} rtsp_header;

/* A parsed message; every pointer points into the caller's buffer. */
typedef struct rtsp_msg {
    int is_response;
    int status;         /* responses: 100..999 */
    const char *reason; /* responses */
    size_t reason_len;
    const char *method; /* requests from the server (ANNOUNCE, GET_PARAMETER...) */
    size_t method_len;
    const char *uri;
    size_t uri_len;
    rtsp_header headers[RTSP_MAX_HEADERS];
    int n_headers;
    const uint8_t *body;
    size_t body_len;
    int cseq; /* -1 when absent */
} rtsp_msg;

/* Parses one RTSP message (status or request line, headers, Content-Length
 * body) at the start of buf. Stateless: call again with more bytes.
 * Returns the message length (> 0) when complete, -EAGAIN when more bytes are
 * needed, -EBADMSG when malformed, -E2BIG when a cap is exceeded. */
int rtsp_msg_parse(const uint8_t *buf, size_t len, rtsp_msg *m);

/* First header named `name` (case-insensitive) or NULL. */
const rtsp_header *rtsp_msg_header(const rtsp_msg *m, const char *name);
/* Copies a header value NUL-terminated into out (truncates). 0 or -ENOENT. */
int rtsp_msg_header_str(const rtsp_msg *m, const char *name, char *out, size_t outlen);

/* What the next bytes of a (TCP) RTSP stream are. */
typedef enum {
    RTSP_ITEM_MESSAGE = 1,     /* an RTSP message, parsed into item->msg */
    RTSP_ITEM_INTERLEAVED = 2, /* '$' channel len16 payload */
    RTSP_ITEM_SKIP = 3,        /* garbage before a '$' or "RTSP/" resync point */
} rtsp_item_type;

typedef struct rtsp_item {
    rtsp_item_type type;
    int channel;
    const uint8_t *data; /* interleaved payload */
    size_t len;
    rtsp_msg msg;
} rtsp_item;

/* Demultiplexes the next item of a TCP stream at buf. Returns the bytes the
 * item takes (> 0), -EAGAIN if incomplete, or the negative error of
 * rtsp_msg_parse for a broken message (the connection should be dropped). */
int rtsp_demux_next(const uint8_t *buf, size_t len, rtsp_item *item);

/* Session header "ID;timeout=60": copies the id, sets *timeout_s (60 when absent). */
int rtsp_parse_session(const char *v, size_t len, char *id, size_t idlen, int *timeout_s);

/* Transport header (the server's answer to SETUP). */
typedef struct rtsp_transport {
    int tcp;            /* RTP/AVP/TCP */
    int interleaved[2]; /* -1 when absent */
    int client_port[2];
    int server_port[2];
    uint32_t ssrc;
    int has_ssrc;
    char source[64];
} rtsp_transport;
int rtsp_parse_transport(const char *v, size_t len, rtsp_transport *t);

/* RTP-Info: rtptime/seq for the entry whose url ends with `control` (or the
 * only entry). 0 or -ENOENT. */
int rtsp_parse_rtp_info(const char *v, size_t len, const char *control, uint32_t *rtptime,
                        int *has_rtptime, uint16_t *seq, int *has_seq);

/* Resolves a control attribute against a base URL: "*" or "" -> base,
 * absolute "rtsp://" -> itself, otherwise base + "/" + control.
 * 0 or -E2BIG. */
int rtsp_url_resolve(const char *base, const char *control, char *out, size_t outlen);

/* Splits rtsp://[user[:pass]@]host[:port]/path. Userinfo is percent-decoded.
 * out_url is the URL without userinfo (what goes on the request line). */
typedef struct rtsp_url {
    char user[128], pass[128];
    char host[256];
    int port; /* 554 when absent (rtsps: 322) */
    int tls;  /* rtsps:// */
    char url[RTSP_MAX_URL];
} rtsp_url;
int rtsp_url_parse(const char *s, rtsp_url *u);

/* ================= SDP ================= */

typedef enum {
    RTSP_CODEC_UNKNOWN = 0,
    RTSP_CODEC_H264,
    RTSP_CODEC_H265,
    RTSP_CODEC_AAC,
    RTSP_CODEC_PCMU,
    RTSP_CODEC_PCMA,
} rtsp_codec;
const char *rtsp_codec_name(rtsp_codec c);

typedef struct rtsp_sdp_media {
    char type[16]; /* "video", "audio", ... */
    int port;
    int payload_type;  /* first format of the m= line */
    char encoding[32]; /* rtpmap encoding name */
    uint32_t clock_rate;
    int channels;
    rtsp_codec codec;
    char control[RTSP_MAX_URL];
    /* H.264 / H.265 */
    int packetization_mode;
    uint8_t vps[RTSP_MAX_PARAM_SET], sps[RTSP_MAX_PARAM_SET], pps[RTSP_MAX_PARAM_SET];
    uint16_t vps_len, sps_len, pps_len;
    int sprop_max_don_diff;
    /* AAC (mpeg4-generic) */
    uint8_t config[64];
    uint16_t config_len;
    int sizelength, indexlength, indexdeltalength, constantduration;
    int aac_hbr; /* mode=AAC-hbr/AAC-lbr (others unsupported) */
} rtsp_sdp_media;

typedef struct rtsp_sdp_session {
    char control[RTSP_MAX_URL]; /* session-level a=control (aggregate) */
    int n_media;
    rtsp_sdp_media media[RTSP_SDP_MAX_MEDIA];
} rtsp_sdp_session;

/* Parses an SDP body (<= RTSP_MAX_SDP). Unknown lines are ignored; media past
 * RTSP_SDP_MAX_MEDIA are ignored. 0, -EBADMSG, -E2BIG. */
int rtsp_sdp_parse(const char *s, size_t len, rtsp_sdp_session *out);

/* Base64 decode (standard alphabet, padding optional, stops at ',' or end).
 * Returns decoded length or -EBADMSG / -E2BIG. */
int rtsp_base64_decode(const char *s, size_t len, uint8_t *out, size_t outlen);
/* Encodes into out (NUL-terminated). 0 or -E2BIG. */
int rtsp_base64_encode(const uint8_t *in, size_t len, char *out, size_t outlen);

/* ================= auth ================= */

typedef enum { RTSP_AUTH_NONE = 0, RTSP_AUTH_BASIC, RTSP_AUTH_DIGEST } rtsp_auth_scheme;

typedef struct rtsp_auth {
    rtsp_auth_scheme scheme;
    char realm[256];
    char nonce[256];
    char opaque[256];
    char algorithm[32]; /* "MD5" (default) or "MD5-sess" */
    int qop_auth;       /* server offered qop=auth */
    int stale;
    uint32_t nc; /* nonce count, incremented per request with qop */
} rtsp_auth;

/* Parses one WWW-Authenticate value. When `a` already holds a Digest
 * challenge a Basic one does not replace it (Digest is preferred).
 * 0, -EBADMSG, -ENOTSUP (unknown scheme or algorithm). */
int rtsp_auth_parse(const char *v, size_t len, rtsp_auth *a);

/* Formats the Authorization header value for one request. cnonce may be NULL
 * (a random one is made). 0 or -E2BIG / -EINVAL. */
int rtsp_auth_header(rtsp_auth *a, const char *user, const char *pass, const char *method,
                     const char *uri, const char *cnonce, char *out, size_t outlen);

/* MD5 of data as 32 lowercase hex characters + NUL. */
void rtsp_md5_hex(const void *data, size_t len, char out[33]);

/* ================= RTP / RTCP ================= */

typedef struct rtsp_rtp_hdr {
    int marker;
    int pt;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    const uint8_t *payload;
    size_t payload_len;
} rtsp_rtp_hdr;

/* Parses an RTP packet (CSRCs, extension and padding handled).
 * 0 or -EBADMSG. Pointers into buf. */
int rtsp_rtp_parse(const uint8_t *buf, size_t len, rtsp_rtp_hdr *h);

typedef struct rtsp_rtcp_sr {
    uint32_t ssrc;
    uint64_t ntp; /* 32.32 fixed point */
    uint32_t rtp_ts;
    uint32_t packets, octets;
} rtsp_rtcp_sr;
/* Finds a sender report in a compound RTCP packet. 0, -ENOENT, -EBADMSG. */
int rtsp_rtcp_parse_sr(const uint8_t *buf, size_t len, rtsp_rtcp_sr *sr);
/* Builds a receiver report (+SDES CNAME) for ssrc about media_ssrc. Returns length or -E2BIG. */
int rtsp_rtcp_build_rr(uint8_t *buf, size_t len, uint32_t ssrc, uint32_t media_ssrc, uint16_t max_seq,
                  uint32_t cycles, uint32_t lost, uint32_t lsr, uint32_t dlsr);

/* Sequence tracking (TCP): returns how many packets were lost before this one
 * (0 in order, 0 for duplicates/old ones which set *drop). */
typedef struct rtsp_rtp_seq {
    int started;
    uint16_t last;
    uint32_t cycles;
    uint64_t received, lost, dropped;
} rtsp_rtp_seq;
int rtsp_rtp_seq_update(rtsp_rtp_seq *s, uint16_t seq, int *drop);

/* Reorder window (UDP): holds up to `window` packets (copies) and releases
 * them in sequence order; a hole is given up on when the window is full or
 * the oldest held packet waited max_delay_us. */
#define RTSP_RTP_REORDER_MAX 128
typedef struct rtsp_rtp_reorder_slot {
    uint8_t *buf; /* malloc'd, reused */
    size_t cap, len;
    uint16_t seq;
    int used;
    int64_t arrival_us;
} rtsp_rtp_reorder_slot;
typedef struct rtsp_rtp_reorder {
    rtsp_rtp_reorder_slot slot[RTSP_RTP_REORDER_MAX];
    int window; /* <= RTSP_RTP_REORDER_MAX */
    int64_t max_delay_us;
    int started;
    uint16_t next; /* next sequence number to release */
    int count;
    int late_streak;
    uint64_t lost, late, dropped;
} rtsp_rtp_reorder;
void rtsp_rtp_reorder_init(rtsp_rtp_reorder *r, int window, int64_t max_delay_us);
void rtsp_rtp_reorder_free(rtsp_rtp_reorder *r);
/* Copies an RTP packet in. 0, -EBADMSG (not RTP), -EALREADY (late/duplicate,
 * dropped), -E2BIG (> 64 KiB). */
int rtsp_rtp_reorder_push(rtsp_rtp_reorder *r, const uint8_t *pkt, size_t len, int64_t now_us);
/* Releases the next packet if it is due: returns 1 with *pkt and *len (valid until
 * the next push/pop) and *lost (packets given up on before it), or 0. Pass
 * flush=1 to release everything held regardless of holes. */
int rtsp_rtp_reorder_pop(rtsp_rtp_reorder *r, int64_t now_us, int flush, const uint8_t **pkt, size_t *len,
                    int *lost);

/* ================= depacketizers ================= */

/* One access unit. For video: Annex-B (00 00 00 01 before each NAL) or
 * 4-byte length-prefixed NALs; for AAC a raw frame; for G.711 the samples.
 * data is borrowed for the duration of the call. */
typedef void (*rtsp_au_cb)(void *opaque, int track, const uint8_t *data, size_t len,
                           uint32_t rtp_ts, int keyframe);
/* Optional, video: the consumer's buffer to build units in (no copy when it
 * takes them). See rtsp_client_cbs.video_buffer. */
typedef uint8_t *(*rtsp_au_alloc_cb)(void *opaque, int track, size_t keep, size_t need);

typedef struct rtsp_depack_stats {
    uint64_t aus, keyframes, param_only_aus;
    uint64_t dropped_aus; /* damaged by loss or malformed */
    uint64_t overflows;   /* over RTSP_MAX_FRAME */
    uint64_t bad_packets; /* malformed payloads */
} rtsp_depack_stats;

typedef struct rtsp_depack {
    rtsp_codec codec;
    int track;
    rtsp_au_cb cb;
    void *opaque;
    int length_prefixed; /* video: 4-byte lengths instead of start codes */
    int insert_params;   /* video: put the known VPS/SPS/PPS before keyframes lacking them */
    size_t max_frame;    /* RTSP_MAX_FRAME unless lowered */
    rtsp_au_alloc_cb alloc; /* video: units built in the consumer's buffer when set */
    void *alloc_opaque;
    /* access unit being built */
    uint8_t *au;           /* room bytes for parameter sets, then the unit */
    size_t au_len, au_cap; /* au_len counts bytes after the room */
    size_t room;           /* RTSP__AU_ROOM in our buffer, 0 in the consumer's */
    int au_ext;            /* this unit is built in the consumer's buffer */
    uint8_t *own;          /* our buffer */
    size_t own_cap;
    uint32_t au_ts;
    int au_open, au_damaged, au_overflow, au_key, au_has_sps, au_has_pps, au_has_vps, au_sps_intra;
    int au_has_vcl; /* video: the unit holds a picture (not only parameter sets / SEI) */
    /* fragmented unit in progress (FU-A / FU / AAC fragment) */
    int frag_open;
    size_t frag_start; /* offset in au of the fragment's NAL (after the prefix) */
    /* latest parameter sets (from SDP, updated in-band) */
    uint8_t vps[RTSP_MAX_PARAM_SET], sps[RTSP_MAX_PARAM_SET], pps[RTSP_MAX_PARAM_SET];
    uint16_t vps_len, sps_len, pps_len;
    int params_changed; /* set when an in-band parameter set differs; caller clears */
    int donl;           /* H.265: sprop-max-don-diff > 0, DONL/DOND fields present */
    /* AAC */
    int sizelength, indexlength, indexdeltalength, constantduration;
    uint32_t aac_frag_ts;
    size_t aac_frag_size;
    rtsp_depack_stats st;
} rtsp_depack;

/* m may be NULL for defaults. 0 or -ENOTSUP (codec not handled). */
int rtsp_depack_init(rtsp_depack *d, const rtsp_sdp_media *m, int track, rtsp_au_cb cb, void *opaque);
/* One RTP packet; `lost` packets were lost just before it. */
void rtsp_depack_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost);
/* Emits a complete access unit still held (end of stream). */
void rtsp_depack_flush(rtsp_depack *d);
void rtsp_depack_free(rtsp_depack *d);

/* Per-codec entry points used by rtsp_depack_push (exposed for tests). */
void rtsp__h264_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost);
void rtsp__h265_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost);
void rtsp__aac_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost);
void rtsp__g711_push(rtsp_depack *d, const rtsp_rtp_hdr *h, int lost);
/* Shared by the depacketizers (depack.c). */
#define RTSP__AU_ROOM (3 * (4 + RTSP_MAX_PARAM_SET))
void rtsp__au_start(rtsp_depack *d, uint32_t ts);
void rtsp__au_begin_nal(rtsp_depack *d);
void rtsp__au_append(rtsp_depack *d, const uint8_t *p, size_t n);
/* Ends the NAL begun with rtsp__au_begin_nal: returns it (for inspection) or
 * NULL when the unit is damaged. */
const uint8_t *rtsp__au_end_nal(rtsp_depack *d, size_t *n);
const uint8_t *rtsp__au_add_nal(rtsp_depack *d, const uint8_t *nal, size_t n);
/* Discards a fragmented NAL in progress and marks the unit damaged. */
void rtsp__au_abort_nal(rtsp_depack *d);
void rtsp__au_emit(rtsp_depack *d);
void rtsp__store_param(uint8_t *dst, uint16_t *dst_len, const uint8_t *nal, size_t n, int *changed);

#endif
