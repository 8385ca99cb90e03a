/*
 * fleetsim: a cheap camera fleet for scale benchmarks. One H.264 source is read
 * and packetized into RTP once (source.c); an RTSP 1.0 server on a single libuv
 * loop (server.c) serves it on N mounts and replays the packet list to every
 * session at real time, rewriting only the 16 header bytes per packet.
 * Prefix: fs_.
 */
#ifndef VIGIL_FLEETSIM_H
#define VIGIL_FLEETSIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

/* Bytes in front of each payload: 4 of RTSP interleaved framing ('$', channel,
 * length) and the 12-byte RTP header; both are written per session. */
#define FS_FRAMING 4
#define FS_RTP_HDR 12
#define FS_HDR (FS_FRAMING + FS_RTP_HDR)

/* One prepared RTP packet. The payload (NAL unit or FU-A fragment) lives in the
 * source's arena; ts is in 90 kHz units from the start of the source. */
typedef struct fs_packet {
    uint32_t off;    /* payload offset in fs_source.arena */
    uint16_t len;    /* payload length */
    uint8_t marker;  /* last packet of an access unit */
    uint8_t idr;     /* first packet of an access unit that starts with an IDR */
    int64_t ts;      /* RTP timestamp (90 kHz, the pts) from source start */
    int64_t due;     /* send time (90 kHz) from source start: access units are sent
                        in decode order at the frame rate */
} fs_packet;

/* The source, read and packetized once, read-only afterwards. */
typedef struct fs_source {
    uint8_t *arena; /* all payloads back to back */
    size_t arena_len;
    fs_packet *pkts;
    size_t npkts;
    size_t nframes;       /* access units per loop */
    size_t *idr_index;    /* packet indexes of IDR access units */
    size_t nidr;
    int64_t duration;     /* one loop, 90 kHz (last ts + one frame) */
    int width, height;
    double fps;
    uint8_t *sps, *pps;   /* first SPS/PPS (without start codes) */
    size_t sps_len, pps_len;
    char sprop[1024];     /* "base64(sps),base64(pps)" */
    char profile_level_id[7];
    int64_t bitrate;      /* bits per second over one loop, RTP payload */
} fs_source;

/* Reads an H.264 stream from path (any container libavformat reads, or a raw
 * Annex B .h264 file), packetizes it with payload MTU mtu (RFC 6184 single NAL
 * units and FU-A; SPS+PPS in-band before every IDR). Fills *src; 0 or a
 * negative AVERROR/errno. fs_source_free releases it (NULL-safe). */
int fs_source_load(fs_source *src, const char *path, int mtu);
void fs_source_free(fs_source *src);

typedef struct fs_server fs_server;

typedef struct fs_server_opts {
    const char *address; /* "127.0.0.1" */
    int port;            /* 0: ephemeral */
    int cameras;         /* mounts /cam1../camN */
    const char *prefix;  /* "cam" */
    int tick_ms;         /* send period per session */
    const fs_source *src; /* borrowed, must outlive the server */
} fs_server_opts;

/* Creates and binds the server on loop. *out owns it; fs_server_close frees it
 * once its handles are closed. 0 or negative errno. */
int fs_server_start(uv_loop_t *loop, const fs_server_opts *opts, fs_server **out);
int fs_server_port(const fs_server *s);
/* Stops sending on every session at its next IDR (so the last GOP each client got
 * is whole); connections stay open. */
void fs_server_drain(fs_server *s);
/* One JSON object per line and camera ({"camera","frames_sent","bytes_sent",
 * "frames_skipped","sessions","clients","behind_ms_max"}), or one object for the
 * whole fleet when per_camera is 0 (the same sums, the largest behind_ms_max and
 * "late_ms_max"). behind_ms_max: the worst backlog of a session beyond one tick (a
 * reader too slow to take the stream, or the simulator late); late_ms_max: the
 * worst lateness of the send timer itself (the simulator starved of CPU). */
void fs_server_write_stats(const fs_server *s, FILE *f, int per_camera);
void fs_server_close(fs_server *s);

#endif
