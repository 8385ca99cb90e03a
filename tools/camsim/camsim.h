/*
 * camsim: a fleet of simulated RTSP cameras for vigil's tests and benchmarks,
 * built on GStreamer's rtsp-server library. Internal header shared by the files
 * of tools/camsim/ (prefix camsim_); nothing outside this folder includes it.
 *
 *   spec.c    mount specs ("NAME:codec=h265,audio=aac,...") and their parsing
 *   source.c  encoders: one live pipeline per distinct video variant and per
 *             audio codec, fanned out to every client ("feed") that reads it
 *   server.c  the RTSP server: mounts, per-mount auth, stall/drop/down/up
 *   main.c    command line, READY line, stdin control, signals
 *
 * Error convention: int return, 0 OK, negative errno-style; a message for the
 * user goes to *err (caller frees with g_free) where a function takes one.
 */
#ifndef VIGIL_CAMSIM_H
#define VIGIL_CAMSIM_H

#include <gst/gst.h>

#define camsim_log(...) g_printerr("camsim: " __VA_ARGS__)

/* ---- spec.c ---- */
typedef enum { CAMSIM_CODEC_H264, CAMSIM_CODEC_H265 } camsim_codec;
typedef enum { CAMSIM_AUDIO_NONE, CAMSIM_AUDIO_AAC, CAMSIM_AUDIO_PCMU } camsim_audio;
typedef enum { CAMSIM_AUTH_NONE, CAMSIM_AUTH_BASIC, CAMSIM_AUTH_DIGEST } camsim_auth;
/* Where the parameter sets (SPS/PPS, VPS) travel: in the SDP and in-band before
 * every IDR (the payloader's config-interval=-1), or in the SDP only. */
typedef enum { CAMSIM_PARAMS_INBAND, CAMSIM_PARAMS_SDP } camsim_params;
/* What the camera sees: a ball on a still background (compresses to little
 * whatever the bitrate) or noise (every frame as large as the bitrate allows:
 * a busy scene, GOPs of hundreds of KiB). */
typedef enum { CAMSIM_PATTERN_BALL, CAMSIM_PATTERN_SNOW } camsim_pattern;
/* Rate control: abr (the default: x264/x265 aim at the bitrate, a still scene
 * gets a finer quantizer until it fills it), vbr (what cameras call VBR:
 * constant quality, CRF 23 / 28, capped at the bitrate; frame sizes follow the
 * content) or cbr (strict CBR, x264 nal-hrd=cbr with filler data: every frame
 * padded to the same size, so sizes say nothing about motion). */
typedef enum { CAMSIM_RC_ABR, CAMSIM_RC_VBR, CAMSIM_RC_CBR } camsim_rc;

/* Scripted motion: [start, end) seconds within a cycle of cycle seconds of
 * the wall clock (UTC seconds modulo cycle), so a test can tell from any
 * wall time whether the scene moved. */
#define CAMSIM_MOTION_MAX 16
typedef struct camsim_window {
    double start, end;
} camsim_window;

typedef struct camsim_spec {
    char *name; /* NULL for a --default spec */
    camsim_codec codec;
    int bframes;     /* at most this many consecutive B-frames */
    int b_adapt;     /* 1: the encoder decides per GOP (x264/x265 b-adapt=2), 0: fixed */
    int slices;      /* slices per picture */
    camsim_params params;
    camsim_pattern pattern;
    camsim_rc rc;
    /* motion windows (nmotion > 0): a still scene (colour bars) where an object
     * moves only inside the windows and stands parked outside them */
    camsim_window motion[CAMSIM_MOTION_MAX];
    int nmotion;
    int cycle; /* seconds; 0 with no windows */
    camsim_audio audio;
    int fps, width, height;
    int bitrate; /* kbit/s */
    int gop;     /* frames */
    char *user, *password;
    camsim_auth auth;
    double drop_every;  /* seconds, 0 = never */
    double stall_after; /* seconds, 0 = never */
} camsim_spec;

/* Fills *out with the defaults. */
void camsim_spec_init(camsim_spec *out);
/* Parses "NAME[:k=v,...]" on top of what *out already holds (so a --default spec
 * can be applied first). The leading component is a name unless it contains '=';
 * need_name makes a missing name an error. 0 or -EINVAL with *err set. */
int camsim_spec_parse(const char *text, int need_name, camsim_spec *out, char **err);
/* Deep copy; dst is overwritten (not cleared first). */
void camsim_spec_copy(camsim_spec *dst, const camsim_spec *src);
void camsim_spec_clear(camsim_spec *s);
/* Keys of what is encoded: mounts with equal keys share one encoder. Caller frees. */
char *camsim_spec_video_key(const camsim_spec *s);
const char *camsim_audio_name(camsim_audio a);

/* ---- source.c ---- */
typedef struct camsim_source camsim_source;
typedef struct camsim_feed camsim_feed;

/* What a mount shares with its feeds, all atomics; outlives every feed. */
typedef struct camsim_mount_ctl {
    gint stalled;  /* media and RTCP stop; a resume restarts at the next keyframe */
    gint draining; /* each feed stops for good before its next keyframe */
    gint sessions; /* feeds that sent their first keyframe */
    gint drained;  /* feeds that stopped for the drain */
    gint frames;   /* video access units handed to the payloaders, every feed */
    gint latency_ms; /* capture to hand-off of the last video buffer (encoder delay) */
} camsim_mount_ctl;

/* Returns the shared encoder for s's video variant (or its audio codec), creating
 * and starting it on first use; NULL with *err on failure. Sources live until
 * camsim_sources_stop_all(). For audio=none camsim_source_audio returns NULL. */
camsim_source *camsim_source_video(const camsim_spec *s, char **err);
camsim_source *camsim_source_audio(camsim_audio a, char **err);
/* TRUE once every source has produced its first buffer (its caps are known). */
gboolean camsim_sources_ready(void);
/* Stops and frees every source (after the server stopped feeding clients). */
void camsim_sources_stop_all(void);

/* A feed is one client media: it receives the encoders' buffers from the next
 * video keyframe on, retimed into the media pipeline's clock, and pushes them into
 * the media's appsrc elements (vsrc borrowed+ref'd, asrc may be NULL).
 * ctl is the mount's (borrowed, must outlive the feed): its flags are read and its
 * counters updated atomically; stall_after > 0 silences the feed for good after
 * that many seconds of media. Returns a new reference. */
camsim_feed *camsim_feed_new(const char *mount, GstElement *vsrc, GstElement *asrc,
                             camsim_mount_ctl *ctl, double stall_after);
/* Start / stop receiving buffers. detach is idempotent and waits for no push. */
void camsim_feed_attach(camsim_feed *f, camsim_source *video, camsim_source *audio);
void camsim_feed_detach(camsim_feed *f);
/* TRUE while the feed must send nothing at all (mount stalled, stall_after hit,
 * drained):
 * RTCP is dropped too, so a client sees a silent but open connection. */
gboolean camsim_feed_silent(camsim_feed *f);
camsim_feed *camsim_feed_ref(camsim_feed *f);
void camsim_feed_unref(camsim_feed *f);

/* ---- server.c ---- */
typedef struct camsim_server camsim_server;

/* Takes ownership of the specs (the array and its items are left empty).
 * port 0 picks a free port. NULL with *err on failure. */
camsim_server *camsim_server_new(const char *address, int port, GArray *specs, char **err);
int camsim_server_port(camsim_server *s);
/* Runs one control command ("stall NAME", ...); returns the reply line without
 * newline (caller frees). Sets *quit for "quit". */
char *camsim_server_command(camsim_server *s, const char *line, gboolean *quit);
void camsim_server_free(camsim_server **s);

#endif
