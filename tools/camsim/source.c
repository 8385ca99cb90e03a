/*
 * Encoders and fan-out. Encoding is what costs CPU, so it happens once per
 * distinct variant: one always-running live pipeline per video variant
 * (videotestsrc with a moving ball and the wall clock burned in ->
 * x264/x265 -> appsink) and one per audio codec (audiotestsrc ticks ->
 * AAC or G.711 mu-law -> appsink). Twenty mounts of one variant cost one encoder.
 *
 * Each RTSP client media owns a "feed": the appsink callbacks hand every encoded
 * buffer to all attached feeds, and a feed pushes a shallow copy (the memory is
 * shared, only the metadata is copied) into its media's appsrc. A feed starts at
 * the next video keyframe and retimes buffers into its own
 * pipeline's clock: the capture time of that keyframe becomes the media's "now",
 * and every later buffer, audio or video, keeps its capture-time distance from it. Encoders and media pipelines
 * run on the same system clock, so there is no drift, audio and video stay in
 * sync, and a client that joins late sees timestamps that start near zero and
 * advance in real time, exactly like a freshly opened camera session.
 *
 * The encoders never repeat parameter sets themselves: their output is avcC/hvcC
 * (stream-format avc/hvc1, the sets in the caps' codec_data), so each client's
 * payloader decides whether they also go in-band before every IDR (params=inband)
 * or travel in the SDP only (params=sdp), and mounts of both kinds share one
 * encoder. x264 AUDs and the x265 info SEI are off.
 *
 * A drain stops each feed for good just before its next video keyframe: what a
 * client got is then whole GOPs, and the mount's counters say how many access
 * units that was, so a test can compare frames sent with frames recorded.
 *
 * Locking: a source's lock protects its feed list and is held while pushing, so
 * after camsim_feed_detach() returns no encoder thread touches the feed. A feed's
 * own lock protects its timing state (video and audio arrive on two threads).
 */
#include "tools/camsim/camsim.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <math.h>
#include <string.h>

struct camsim_source {
    char *key;
    gboolean is_video;
    GstElement *pipeline;
    GstElement *sink;
    guint bus_watch;
    GMutex lock;
    GPtrArray *feeds; /* camsim_feed*, one reference each */
    gint got_first;   /* atomic */
    camsim_window motion[CAMSIM_MOTION_MAX]; /* the scripted scene (nmotion > 0) */
    int nmotion, cycle;
};

struct camsim_feed {
    char *mount;
    GstElement *vsrc, *asrc; /* refs */
    camsim_mount_ctl *ctl;   /* the mount's flags and counters, borrowed */
    gint64 stall_after_ns;   /* 0 = never */
    gint expired;            /* atomic: stall_after reached, silent for good */
    gint drained;            /* atomic: stopped by a drain, silent for good */

    GMutex lock;
    camsim_source *video, *audio; /* set while attached */
    gboolean started;             /* delta is valid */
    gboolean flowing;             /* video is being sent (not waiting for a keyframe) */
    gint64 delta;                 /* media time = capture time - delta */
    gint64 start_abs;             /* capture time of the first keyframe sent */
    GstCaps *vcaps, *acaps;       /* caps last set on the appsrcs */
};

static GHashTable *sources; /* key -> camsim_source*, main thread only */

/* ---- feeds ---- */

static void feed_free(gpointer p)
{
    camsim_feed *f = p;
    g_free(f->mount);
    gst_clear_object(&f->vsrc);
    gst_clear_object(&f->asrc);
    gst_clear_caps(&f->vcaps);
    gst_clear_caps(&f->acaps);
    g_mutex_clear(&f->lock);
}

camsim_feed *camsim_feed_new(const char *mount, GstElement *vsrc, GstElement *asrc,
                             camsim_mount_ctl *ctl, double stall_after)
{
    camsim_feed *f = g_atomic_rc_box_new0(camsim_feed);
    f->mount = g_strdup(mount);
    f->vsrc = gst_object_ref(vsrc);
    f->asrc = asrc ? gst_object_ref(asrc) : NULL;
    f->ctl = ctl;
    f->stall_after_ns = (gint64)(stall_after * GST_SECOND);
    g_mutex_init(&f->lock);
    return f;
}

camsim_feed *camsim_feed_ref(camsim_feed *f)
{
    return g_atomic_rc_box_acquire(f);
}

void camsim_feed_unref(camsim_feed *f)
{
    if (f) g_atomic_rc_box_release_full(f, feed_free);
}

gboolean camsim_feed_silent(camsim_feed *f)
{
    return g_atomic_int_get(&f->ctl->stalled) || g_atomic_int_get(&f->expired) ||
           g_atomic_int_get(&f->drained);
}

static void source_add_feed(camsim_source *s, camsim_feed *f)
{
    g_mutex_lock(&s->lock);
    g_ptr_array_add(s->feeds, camsim_feed_ref(f));
    g_mutex_unlock(&s->lock);
}

static void source_remove_feed(camsim_source *s, camsim_feed *f)
{
    g_mutex_lock(&s->lock);
    gboolean found = g_ptr_array_remove_fast(s->feeds, f);
    g_mutex_unlock(&s->lock);
    if (found) camsim_feed_unref(f);
}

void camsim_feed_attach(camsim_feed *f, camsim_source *video, camsim_source *audio)
{
    g_mutex_lock(&f->lock);
    f->video = video;
    f->audio = f->asrc ? audio : NULL;
    g_mutex_unlock(&f->lock);
    source_add_feed(video, f);
    if (f->asrc && audio) source_add_feed(audio, f);
}

void camsim_feed_detach(camsim_feed *f)
{
    g_mutex_lock(&f->lock);
    camsim_source *v = f->video, *a = f->audio;
    f->video = f->audio = NULL;
    g_mutex_unlock(&f->lock);
    if (v) source_remove_feed(v, f);
    if (a) source_remove_feed(a, f);
}

/* Running time of the media pipeline that src belongs to, 0 before it runs. */
static gint64 media_now(GstElement *src)
{
    GstClock *clock = gst_element_get_clock(src);
    if (!clock) return 0;
    GstClockTime now = gst_clock_get_time(clock);
    GstClockTime base = gst_element_get_base_time(src);
    gst_object_unref(clock);
    return now > base ? (gint64)(now - base) : 0;
}

static void set_caps_if_new(GstElement *appsrc, GstCaps **last, GstCaps *caps)
{
    if (*last == caps || !caps) return;
    gst_caps_replace(last, caps);
    gst_app_src_set_caps(GST_APP_SRC(appsrc), caps);
}

/* Called with the source lock held. pts/dts are capture times on the system clock
 * (absolute, ns); dts < 0 when the buffer has none. */
static void feed_push(camsim_feed *f, gboolean video, GstBuffer *buf, GstCaps *caps, gint64 pts,
                      gint64 dts)
{
    g_mutex_lock(&f->lock);
    gint64 ts = dts >= 0 ? dts : pts;

    if (video && f->started && f->stall_after_ns > 0 && !g_atomic_int_get(&f->expired) &&
        ts - f->start_abs >= f->stall_after_ns) {
        camsim_log("%s: stall_after reached for one client, going silent\n", f->mount);
        g_atomic_int_set(&f->expired, 1);
    }
    if (video && !g_atomic_int_get(&f->drained) && g_atomic_int_get(&f->ctl->draining) &&
        !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)) {
        /* A client that joins after the drain gets nothing either. */
        g_atomic_int_set(&f->drained, 1);
        if (f->started) {
            camsim_log("%s: drained one client before a keyframe\n", f->mount);
            g_atomic_int_inc(&f->ctl->drained);
        }
    }
    if (camsim_feed_silent(f)) {
        f->flowing = FALSE; /* resume at the next keyframe */
        goto out;
    }
    if (video) {
        if (!f->flowing && GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)) goto out;
    } else if (!f->flowing) {
        goto out; /* audio follows video */
    }

    gboolean first = !f->started;
    gint64 delta = first ? ts - media_now(f->vsrc) : f->delta;
    gint64 mpts = pts - delta, mdts = dts >= 0 ? dts - delta : -1;
    if (mpts < 0) goto out; /* audio captured before the first keyframe */

    GstBuffer *out = gst_buffer_copy(buf);
    GST_BUFFER_PTS(out) = (GstClockTime)mpts;
    GST_BUFFER_DTS(out) = mdts >= 0 ? (GstClockTime)mdts : GST_CLOCK_TIME_NONE;
    GstElement *appsrc = video ? f->vsrc : f->asrc;
    set_caps_if_new(appsrc, video ? &f->vcaps : &f->acaps, caps);
    GstFlowReturn ret = gst_app_src_push_buffer(GST_APP_SRC(appsrc), out);
    if (ret == GST_FLOW_OK && video) {
        if (first) {
            f->started = TRUE;
            f->delta = delta;
            f->start_abs = ts;
            g_atomic_int_inc(&f->ctl->sessions);
        }
        f->flowing = TRUE;
        g_atomic_int_inc(&f->ctl->frames);
        GstClock *clock = gst_element_get_clock(f->vsrc);
        if (clock) { /* the system clock, like pts */
            gint64 lat = (gint64)gst_clock_get_time(clock) - pts;
            g_atomic_int_set(&f->ctl->latency_ms, (gint)(lat > 0 ? lat / 1000000 : 0));
            gst_object_unref(clock);
        }
    }
out:
    g_mutex_unlock(&f->lock);
}

/* ---- sources ---- */

static gint64 to_abs(const GstSegment *seg, GstClockTime t, GstClockTime base)
{
    guint64 rt = 0;
    if (!GST_CLOCK_TIME_IS_VALID(t)) return -1;
    int sign = gst_segment_to_running_time_full(seg, GST_FORMAT_TIME, t, &rt);
    if (sign > 0) return (gint64)(base + rt);
    if (sign < 0) return (gint64)base - (gint64)rt;
    return -1;
}

static GstFlowReturn on_new_sample(GstAppSink *sink, gpointer data)
{
    camsim_source *s = data;
    GstSample *sample = gst_app_sink_pull_sample(sink);
    if (!sample) return GST_FLOW_FLUSHING;

    GstBuffer *buf = gst_sample_get_buffer(sample);
    GstCaps *caps = gst_sample_get_caps(sample);
    const GstSegment *seg = gst_sample_get_segment(sample);
    GstClockTime base = gst_element_get_base_time(GST_ELEMENT(sink));
    gint64 pts = to_abs(seg, GST_BUFFER_PTS(buf), base);
    gint64 dts = to_abs(seg, GST_BUFFER_DTS(buf), base);
    if (pts < 0 && dts >= 0) pts = dts;

    if (!g_atomic_int_get(&s->got_first)) {
        gchar *c = caps ? gst_caps_to_string(caps) : g_strdup("(none)");
        camsim_log("encoder %s: first buffer, caps %s\n", s->key, c);
        g_free(c);
        g_atomic_int_set(&s->got_first, 1);
    }
    if (pts >= 0 && buf) {
        g_mutex_lock(&s->lock);
        for (guint i = 0; i < s->feeds->len; i++)
            feed_push(g_ptr_array_index(s->feeds, i), s->is_video, buf, caps, pts, dts);
        g_mutex_unlock(&s->lock);
    }
    gst_sample_unref(sample);
    return GST_FLOW_OK;
}

static gboolean on_bus(GstBus *bus, GstMessage *msg, gpointer data)
{
    camsim_source *s = data;
    (void)bus;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
        GError *e = NULL;
        gchar *dbg = NULL;
        if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) gst_message_parse_error(msg, &e, &dbg);
        camsim_log("encoder %s failed: %s (%s)\n", s->key, e ? e->message : "end of stream",
                   dbg ? dbg : "");
        g_clear_error(&e);
        g_free(dbg);
        /* A dead encoder makes a fleet of silent cameras that nobody asked for. */
        exit(1);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean have_element(const char *name)
{
    GstElementFactory *f = gst_element_factory_find(name);
    if (!f) return FALSE;
    gst_object_unref(f);
    return TRUE;
}

/* ---- the scripted scene ----
 *
 * motion= windows: colour bars that never change (besides the clock), and a
 * textured square drawn into each raw frame before it is encoded. Inside a
 * window the square travels to and fro across the picture; outside it stands
 * parked where every window starts, so a still camera sees a still scene.
 * The wall clock at the time the frame is drawn (live sources draw at
 * capture) decides, so a test knows when the scene moved from the script.
 */

/* Seconds into the current window, or -1 outside every window. */
static double motion_phase(const camsim_source *s, gint64 wall_us)
{
    double t = fmod((double)wall_us / 1e6, (double)s->cycle);
    for (int i = 0; i < s->nmotion; i++)
        if (t >= s->motion[i].start && t < s->motion[i].end) return t - s->motion[i].start;
    return -1;
}

static GstPadProbeReturn draw_object(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
    camsim_source *s = data;
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    GstCaps *caps = gst_pad_get_current_caps(pad);
    GstVideoInfo vi;
    GstVideoFrame fr;
    if (!buf || !caps || !gst_video_info_from_caps(&vi, caps)) goto out;
    buf = gst_buffer_make_writable(buf);
    GST_PAD_PROBE_INFO_DATA(info) = buf;
    if (!gst_video_frame_map(&fr, &vi, buf, GST_MAP_WRITE)) goto out;
    int w = GST_VIDEO_INFO_WIDTH(&vi), h = GST_VIDEO_INFO_HEIGHT(&vi);
    int side = (h / 4) & ~1, span = w - side;
    double phase = motion_phase(s, g_get_real_time());
    /* 0.37 of the width per second, back and forth: never a whole pixel step */
    double pos = phase < 0 ? 0 : fmod(phase * 0.37 * w, 2.0 * span);
    int x0 = (int)(pos > span ? 2 * span - pos : pos) & ~1, y0 = (h / 2) & ~1;
    /* Rings whose phase turns while it moves: like a walking person, the
     * object changes its look from frame to frame, which motion compensation
     * alone cannot predict (a rigid shape sliding by costs next to nothing). */
    double turn = phase < 0 ? 0 : phase * 7.0;
    guint8 *py = GST_VIDEO_FRAME_PLANE_DATA(&fr, 0);
    int sy = GST_VIDEO_FRAME_PLANE_STRIDE(&fr, 0);
    for (int y = 0; y < side && y0 + y < h; y++) {
        for (int x = 0; x < side && x0 + x < w; x++) {
            double dx = x - side / 2.0, dy = y - side / 2.0;
            py[(y0 + y) * sy + x0 + x] = (guint8)(128 + 90 * sin(sqrt(dx * dx + dy * dy) / 3.0 - turn));
        }
    }
    for (int p = 1; p <= 2; p++) { /* chroma: a reddish square */
        guint8 *pc = GST_VIDEO_FRAME_PLANE_DATA(&fr, p);
        int sc = GST_VIDEO_FRAME_PLANE_STRIDE(&fr, p);
        for (int y = 0; y < side / 2; y++)
            for (int x = 0; x < side / 2 && (x0 / 2 + x) < w / 2; x++)
                pc[(y0 / 2 + y) * sc + x0 / 2 + x] = p == 1 ? 90 : 200;
    }
    gst_video_frame_unmap(&fr);
out:
    if (caps) gst_caps_unref(caps);
    return GST_PAD_PROBE_OK;
}

static camsim_source *source_start(const char *key, gboolean is_video, const char *launch,
                                   const camsim_spec *sp, char **err)
{
    GError *gerr = NULL;
    GstElement *pipeline = gst_parse_launch(launch, &gerr);
    if (!pipeline || gerr) {
        *err = g_strdup_printf("encoder %s: %s", key, gerr ? gerr->message : "parse failed");
        g_clear_error(&gerr);
        gst_clear_object(&pipeline);
        return NULL;
    }
    camsim_source *s = g_new0(camsim_source, 1);
    s->key = g_strdup(key);
    s->is_video = is_video;
    s->pipeline = pipeline;
    s->sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    g_mutex_init(&s->lock);
    s->feeds = g_ptr_array_new();
    g_assert(s->sink);
    if (sp && sp->nmotion) {
        memcpy(s->motion, sp->motion, sizeof(s->motion));
        s->nmotion = sp->nmotion;
        s->cycle = sp->cycle;
        GstElement *scene = gst_bin_get_by_name(GST_BIN(pipeline), "scene");
        GstPad *pad = scene ? gst_element_get_static_pad(scene, "src") : NULL;
        g_assert(pad);
        gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, draw_object, s, NULL);
        gst_object_unref(pad);
        gst_object_unref(scene);
    }

    GstAppSinkCallbacks cb = {0};
    cb.new_sample = on_new_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(s->sink), &cb, s, NULL);
    g_object_set(s->sink, "sync", FALSE, "max-buffers", 8, "drop", FALSE, NULL);

    GstBus *bus = gst_element_get_bus(pipeline);
    s->bus_watch = gst_bus_add_watch(bus, on_bus, s);
    gst_object_unref(bus);

    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        *err = g_strdup_printf("encoder %s: cannot start pipeline", key);
        /* left in the table: stop_all frees it */
    }
    camsim_log("encoder %s: %s\n", key, launch);
    g_hash_table_insert(sources, s->key, s);
    return *err ? NULL : s;
}

static void ensure_table(void)
{
    if (!sources) sources = g_hash_table_new(g_str_hash, g_str_equal);
}

camsim_source *camsim_source_video(const camsim_spec *sp, char **err)
{
    ensure_table();
    char *key = camsim_spec_video_key(sp);
    camsim_source *s = g_hash_table_lookup(sources, key);
    if (s) {
        g_free(key);
        return s;
    }
    /* A moving ball (or noise) and the wall clock: every frame differs and a human looking at
     * a recording can tell when it was captured. (A per-frame running-time overlay
     * would cost a quarter of the variant's CPU in text rendering.) I420 straight
     * from the source so the encoder needs no conversion. */
    /* Adaptive B-frames: the trellis decision (b-adapt=2) varies the number of
     * consecutive B-frames from GOP to GOP even on this simple picture, the fast
     * one hardly does. Slices: x264/x265 cut each picture into that many, as
     * sliced-threads encoders do, without the threads. */
    int b_adapt = sp->b_adapt && sp->bframes ? 2 : 0;
    /* Strict CBR: the HRD buffer of 200 ms is kept full with filler NAL
     * units, so every picture arrives at about the same size. */
    gboolean cbr = sp->rc == CAMSIM_RC_CBR;
    /* VBR: constant quality (x264 CRF 23 through pass=qual, x265 CRF 28)
     * under a cap of the bitrate with a one-second buffer. */
    char vbr[96] = "";
    if (sp->rc == CAMSIM_RC_VBR)
        g_snprintf(vbr, sizeof(vbr), "%s:vbv-maxrate=%d:vbv-bufsize=%d",
                   sp->codec == CAMSIM_CODEC_H265 ? ":crf=28" : "", sp->bitrate, sp->bitrate);
    char *enc;
    if (sp->codec == CAMSIM_CODEC_H265) {
        /* x265enc only writes Annex B; h265parse moves the parameter sets of the
         * first IDR into hvcC. */
        enc = g_strdup_printf(
            "x265enc speed-preset=ultrafast log-level=error bitrate=%d key-int-max=%d "
            "option-string=\"bframes=%d:b-adapt=%d:open-gop=0:scenecut=0:frame-threads=1:"
            "pools=1:rc-lookahead=%d:slices=%d:repeat-headers=0:aud=0:info=0%s\" ! "
            "h265parse ! video/x-h265,stream-format=hvc1,alignment=au",
            sp->bitrate, sp->gop, sp->bframes, b_adapt,
            b_adapt ? sp->bframes + 8 : sp->bframes + 1, sp->slices, vbr);
    } else {
        enc = g_strdup_printf(
            "x264enc speed-preset=ultrafast bitrate=%d key-int-max=%d bframes=%d b-adapt=%s "
            "aud=false threads=1%s option-string=\"scenecut=0:bframes=%d:b-adapt=%d:slices=%d:"
            "repeat-headers=0%s\" ! video/x-h264,stream-format=avc,alignment=au",
            sp->bitrate, sp->gop, sp->bframes, b_adapt ? "true" : "false",
            cbr ? " vbv-buf-capacity=200" : sp->rc == CAMSIM_RC_VBR ? " pass=qual quantizer=23" : "",
            sp->bframes, b_adapt, sp->slices, cbr ? ":nal-hrd=cbr:filler=1" : vbr);
    }
    int font = sp->height >= 720 ? 24 : sp->height >= 360 ? 16 : 10;
    char *launch = g_strdup_printf(
        "videotestsrc is-live=true pattern=%s name=scene ! "
        "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "
        "clockoverlay text=\"camsim %s\" time-format=\"%%Y-%%m-%%d %%H:%%M:%%S\" "
        "halignment=left valignment=top shaded-background=true font-desc=\"Sans %d\" ! "
        "%s ! appsink name=sink",
        sp->nmotion ? "smpte75" : sp->pattern == CAMSIM_PATTERN_SNOW ? "snow" : "ball", sp->width,
        sp->height, sp->fps, key, font, enc);
    s = source_start(key, TRUE, launch, sp, err);
    g_free(launch);
    g_free(enc);
    g_free(key);
    return s;
}

camsim_source *camsim_source_audio(camsim_audio a, char **err)
{
    ensure_table();
    if (a == CAMSIM_AUDIO_NONE) return NULL;
    const char *key = a == CAMSIM_AUDIO_AAC ? "audio=aac" : "audio=pcmu";
    camsim_source *s = g_hash_table_lookup(sources, key);
    if (s) return s;
    char *launch;
    if (a == CAMSIM_AUDIO_AAC) {
        /* 16 kHz mono AAC-LC at 32 kbit/s, the usual camera microphone. */
        const char *enc = have_element("avenc_aac") ? "avenc_aac bitrate=32000"
                                                    : "voaacenc bitrate=32000";
        launch = g_strdup_printf(
            "audiotestsrc is-live=true wave=ticks samplesperbuffer=1024 ! "
            "audio/x-raw,rate=16000,channels=1 ! audioconvert ! %s ! aacparse ! "
            "audio/mpeg,mpegversion=4,stream-format=raw ! appsink name=sink",
            enc);
    } else {
        /* G.711 mu-law, 8 kHz mono, 20 ms per buffer. */
        launch = g_strdup("audiotestsrc is-live=true wave=ticks samplesperbuffer=160 ! "
                          "audio/x-raw,format=S16LE,rate=8000,channels=1 ! mulawenc ! "
                          "appsink name=sink");
    }
    s = source_start(key, FALSE, launch, NULL, err);
    g_free(launch);
    return s;
}

gboolean camsim_sources_ready(void)
{
    GHashTableIter it;
    gpointer k, v;
    if (!sources) return TRUE;
    g_hash_table_iter_init(&it, sources);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (!g_atomic_int_get(&((camsim_source *)v)->got_first)) return FALSE;
    return TRUE;
}

void camsim_sources_stop_all(void)
{
    GHashTableIter it;
    gpointer k, v;
    if (!sources) return;
    g_hash_table_iter_init(&it, sources);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        camsim_source *s = v;
        gst_element_set_state(s->pipeline, GST_STATE_NULL);
        g_source_remove(s->bus_watch);
        g_mutex_lock(&s->lock);
        for (guint i = 0; i < s->feeds->len; i++)
            camsim_feed_unref(g_ptr_array_index(s->feeds, i));
        g_ptr_array_set_size(s->feeds, 0);
        g_mutex_unlock(&s->lock);
        g_ptr_array_free(s->feeds, TRUE);
        gst_object_unref(s->sink);
        gst_object_unref(s->pipeline);
        g_mutex_clear(&s->lock);
        g_free(s->key);
        g_free(s);
    }
    g_hash_table_destroy(sources);
    sources = NULL;
}
