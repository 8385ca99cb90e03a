/*
 * The RTSP side of camsim, on GStreamer's rtsp-server. Every mount is a media
 * factory whose pipeline is just "appsrc ! payloader" per track; the encoded
 * buffers come from the shared encoders in source.c through a feed created when
 * the factory constructs a media (one per client: factories are not shared, so
 * each client starts at its own keyframe with its own timestamps).
 *
 * Misbehaviour is what tests need from a simulator, so each mount can:
 *   - demand credentials, Basic or Digest per mount (a GstRTSPAuth subclass:
 *     the stock one has one method set and one password per user for the whole
 *     server);
 *   - stall (media and RTCP stop, the TCP connection stays open), on command or
 *     after stall_after seconds of each session;
 *   - drop every client connection, on command or every drop_every seconds;
 *   - go down (DESCRIBE gets 404) and come up again.
 *
 * Clients are served by a thread each (thread pool max-threads=-1): a DESCRIBE
 * blocks its thread until the next keyframe prerolls the media, and with the
 * default single thread twenty cameras connecting at once would be served one
 * GOP after another.
 */
#include "tools/camsim/camsim.h"

#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <errno.h>
#include <string.h>

#define REALM "camsim"

typedef struct camsim_mount {
    camsim_spec spec;
    char *path; /* "/NAME" */
    GstRTSPMediaFactory *factory;
    camsim_source *video, *audio;
    camsim_mount_ctl ctl;
    gboolean up;
    guint drop_timer;
    camsim_server *server;
} camsim_mount;

struct camsim_server {
    GstRTSPServer *rtsp;
    GstRTSPMountPoints *mounts;
    GstRTSPAuth *auth;
    guint source_id;
    guint cleanup_timer;
    GHashTable *by_name; /* name -> camsim_mount* (owned) */
};

/* ---- per-mount authentication ---- */

typedef struct {
    GstRTSPAuth parent;
    GMutex lock;
    GHashTable *nonces; /* nonce -> gint64 creation time (monotonic us) */
} CamsimAuth;
typedef struct {
    GstRTSPAuthClass parent_class;
} CamsimAuthClass;

GType camsim_auth_get_type(void);
G_DEFINE_TYPE(CamsimAuth, camsim_auth, GST_TYPE_RTSP_AUTH)

static camsim_mount *ctx_mount(GstRTSPContext *ctx)
{
    return ctx->factory ? g_object_get_data(G_OBJECT(ctx->factory), "camsim-mount") : NULL;
}

static const char *param(GstRTSPAuthParam **params, const char *name)
{
    for (; params && *params; params++)
        if (!g_ascii_strcasecmp((*params)->name, name)) return (*params)->value;
    return NULL;
}

static gboolean digest_ok(CamsimAuth *a, camsim_mount *m, GstRTSPContext *ctx,
                          GstRTSPAuthParam **params)
{
    const char *user = param(params, "username"), *realm = param(params, "realm");
    const char *nonce = param(params, "nonce"), *uri = param(params, "uri");
    const char *response = param(params, "response");
    if (!user || !realm || !nonce || !uri || !response) return FALSE;
    if (strcmp(user, m->spec.user)) return FALSE;
    g_mutex_lock(&a->lock);
    gboolean known = g_hash_table_contains(a->nonces, nonce);
    g_mutex_unlock(&a->lock);
    if (!known) return FALSE;
    gchar *want = gst_rtsp_generate_digest_auth_response(
        NULL, gst_rtsp_method_as_text(ctx->method), realm, user, m->spec.password, uri, nonce);
    gboolean ok = want && !g_ascii_strcasecmp(want, response);
    g_free(want);
    return ok;
}

static gboolean credentials_ok(CamsimAuth *a, camsim_mount *m, GstRTSPContext *ctx)
{
    gboolean ok = FALSE;
    GstRTSPAuthCredential **creds =
        gst_rtsp_message_parse_auth_credentials(ctx->request, GST_RTSP_HDR_AUTHORIZATION);
    for (GstRTSPAuthCredential **c = creds; c && *c && !ok; c++) {
        if ((*c)->scheme == GST_RTSP_AUTH_BASIC && m->spec.auth == CAMSIM_AUTH_BASIC &&
            (*c)->authorization) {
            gchar *want = gst_rtsp_auth_make_basic(m->spec.user, m->spec.password);
            ok = !strcmp(want, (*c)->authorization);
            g_free(want);
        } else if ((*c)->scheme == GST_RTSP_AUTH_DIGEST && m->spec.auth == CAMSIM_AUTH_DIGEST) {
            ok = digest_ok(a, m, ctx, (*c)->params);
        }
    }
    if (creds) gst_rtsp_auth_credentials_free(creds);
    return ok;
}

static void send_unauthorized(CamsimAuth *a, camsim_mount *m, GstRTSPContext *ctx)
{
    gchar *hdr;
    gst_rtsp_message_init_response(ctx->response, GST_RTSP_STS_UNAUTHORIZED,
                                   gst_rtsp_status_as_text(GST_RTSP_STS_UNAUTHORIZED),
                                   ctx->request);
    if (m->spec.auth == CAMSIM_AUTH_BASIC) {
        hdr = g_strdup("Basic realm=\"" REALM "\"");
    } else {
        gchar *nonce = g_strdup_printf("%08x%08x", g_random_int(), g_random_int());
        gint64 now = g_get_monotonic_time();
        hdr = g_strdup_printf("Digest realm=\"" REALM "\", nonce=\"%s\"", nonce);
        g_mutex_lock(&a->lock);
        /* Forget nonces after ten minutes; a session re-authenticates on each
         * request with the nonce it was given, so they must outlive DESCRIBE. */
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, a->nonces);
        while (g_hash_table_iter_next(&it, &k, &v))
            if (now - *(gint64 *)v > 600 * G_USEC_PER_SEC) g_hash_table_iter_remove(&it);
        g_hash_table_insert(a->nonces, nonce, g_memdup2(&now, sizeof(now)));
        g_mutex_unlock(&a->lock);
    }
    gst_rtsp_message_add_header(ctx->response, GST_RTSP_HDR_WWW_AUTHENTICATE, hdr);
    g_free(hdr);
    gst_rtsp_client_send_message(ctx->client, ctx->session, ctx->response);
}

static gboolean camsim_auth_check(GstRTSPAuth *auth, GstRTSPContext *ctx, const gchar *check)
{
    CamsimAuth *a = (CamsimAuth *)auth;
    /* Same answers as a server without auth, except for the media factories. */
    if (g_str_equal(check, GST_RTSP_AUTH_CHECK_TRANSPORT_CLIENT_SETTINGS)) return FALSE;
    if (!g_str_has_prefix(check, "auth.check.media.factory.")) return TRUE;
    camsim_mount *m = ctx_mount(ctx);
    if (!m || m->spec.auth == CAMSIM_AUTH_NONE) return TRUE;
    if (credentials_ok(a, m, ctx)) return TRUE;
    send_unauthorized(a, m, ctx);
    return FALSE;
}

static void camsim_auth_finalize(GObject *obj)
{
    CamsimAuth *a = (CamsimAuth *)obj;
    g_hash_table_destroy(a->nonces);
    g_mutex_clear(&a->lock);
    G_OBJECT_CLASS(camsim_auth_parent_class)->finalize(obj);
}

static void camsim_auth_class_init(CamsimAuthClass *klass)
{
    GST_RTSP_AUTH_CLASS(klass)->check = camsim_auth_check;
    G_OBJECT_CLASS(klass)->finalize = camsim_auth_finalize;
}

static void camsim_auth_init(CamsimAuth *a)
{
    g_mutex_init(&a->lock);
    a->nonces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

/* ---- media: one per client ---- */

static void feed_unref_cb(gpointer p)
{
    camsim_feed_unref(p);
}

static GstPadProbeReturn rtcp_probe(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
    (void)pad;
    (void)info;
    return camsim_feed_silent(data) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

/* A stalled camera sends nothing, not even sender reports: clients that count
 * RTCP as life would otherwise never notice the stall. */
static void on_media_prepared(GstRTSPMedia *media, gpointer data)
{
    camsim_feed *f = g_object_get_data(G_OBJECT(media), "camsim-feed");
    GstElement *bin = gst_rtsp_media_get_element(media);
    GstObject *pipeline = gst_object_get_parent(GST_OBJECT(bin));
    (void)data;
    if (!f || !pipeline) goto out;
    GstIterator *it = gst_bin_iterate_recurse(GST_BIN(pipeline));
    GValue v = G_VALUE_INIT;
    while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
        GstElement *e = g_value_get_object(&v);
        GstElementFactory *fac = gst_element_get_factory(e);
        if (fac && !strcmp(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(fac)), "rtpbin")) {
            for (GList *l = GST_ELEMENT(e)->srcpads; l; l = l->next) {
                GstPad *pad = l->data;
                if (!g_str_has_prefix(GST_PAD_NAME(pad), "send_rtcp_src")) continue;
                gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                                  rtcp_probe, camsim_feed_ref(f), feed_unref_cb);
            }
        }
        g_value_reset(&v);
    }
    g_value_unset(&v);
    gst_iterator_free(it);
out:
    gst_clear_object(&pipeline);
    gst_object_unref(bin);
}

static void on_media_unprepared(GstRTSPMedia *media, gpointer data)
{
    camsim_feed *f = g_object_get_data(G_OBJECT(media), "camsim-feed");
    (void)data;
    if (f) camsim_feed_detach(f);
}

static void feed_destroy(gpointer p)
{
    camsim_feed_detach(p);
    camsim_feed_unref(p);
}

static void setup_appsrc(GstElement *src)
{
    if (!src) return;
    /* Live, timestamped by us; up to 3 s queued while a client sits between
     * DESCRIBE and PLAY, older buffers dropped beyond that. */
    g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", FALSE,
                 "max-bytes", (guint64)0, "max-buffers", (guint64)0, "max-time",
                 (guint64)(3 * GST_SECOND), "leaky-type", GST_APP_LEAKY_TYPE_DOWNSTREAM,
                 "min-latency", (gint64)0, NULL);
}

static void on_media_configure(GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer data)
{
    camsim_mount *m = data;
    (void)factory;
    GstElement *bin = gst_rtsp_media_get_element(media);
    GstElement *vsrc = gst_bin_get_by_name(GST_BIN(bin), "vsrc");
    GstElement *asrc = gst_bin_get_by_name(GST_BIN(bin), "asrc");
    g_assert(vsrc);
    setup_appsrc(vsrc);
    setup_appsrc(asrc);
    camsim_feed *f = camsim_feed_new(m->spec.name, vsrc, asrc, &m->ctl, m->spec.stall_after);
    camsim_feed_attach(f, m->video, m->audio);
    g_object_set_data_full(G_OBJECT(media), "camsim-feed", f, feed_destroy);
    g_signal_connect(media, "prepared", G_CALLBACK(on_media_prepared), NULL);
    g_signal_connect(media, "unprepared", G_CALLBACK(on_media_unprepared), NULL);
    gst_clear_object(&asrc);
    gst_object_unref(vsrc);
    gst_object_unref(bin);
}

/* ---- clients ---- */

/* Remembers which mount a client reads, so that "drop NAME" finds it. The value
 * is a camsim_mount*, which lives as long as the server. */
static void on_request(GstRTSPClient *client, GstRTSPContext *ctx, gpointer data)
{
    camsim_server *s = data;
    if (!ctx->uri || !ctx->uri->abspath) return;
    const char *p = ctx->uri->abspath;
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "/?");
    char *name = g_strndup(p, n);
    camsim_mount *m = g_hash_table_lookup(s->by_name, name);
    g_free(name);
    if (m) g_object_set_data(G_OBJECT(client), "camsim-mount", m);
}

static void on_client_connected(GstRTSPServer *rtsp, GstRTSPClient *client, gpointer data)
{
    (void)rtsp;
    g_signal_connect(client, "describe-request", G_CALLBACK(on_request), data);
    g_signal_connect(client, "setup-request", G_CALLBACK(on_request), data);
}

typedef struct {
    camsim_mount *m;
    gboolean remove;
    int count;
} client_match;

static GstRTSPFilterResult client_filter(GstRTSPServer *rtsp, GstRTSPClient *client,
                                         gpointer data)
{
    client_match *cm = data;
    (void)rtsp;
    if (g_object_get_data(G_OBJECT(client), "camsim-mount") != cm->m) return GST_RTSP_FILTER_KEEP;
    cm->count++;
    return cm->remove ? GST_RTSP_FILTER_REMOVE : GST_RTSP_FILTER_KEEP;
}

/* Closes every client connection of m; returns how many there were. */
static int mount_drop(camsim_server *s, camsim_mount *m)
{
    client_match cm = {m, TRUE, 0};
    gst_rtsp_server_client_filter(s->rtsp, client_filter, &cm);
    return cm.count;
}

static int mount_clients(camsim_server *s, camsim_mount *m)
{
    client_match cm = {m, FALSE, 0};
    gst_rtsp_server_client_filter(s->rtsp, client_filter, &cm);
    return cm.count;
}

static gboolean on_drop_timer(gpointer data)
{
    camsim_mount *m = data;
    int n = mount_drop(m->server, m);
    if (n) camsim_log("%s: drop_every: closed %d client(s)\n", m->spec.name, n);
    return G_SOURCE_CONTINUE;
}

static gboolean on_cleanup_timer(gpointer data)
{
    camsim_server *s = data;
    GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(s->rtsp);
    gst_rtsp_session_pool_cleanup(pool);
    g_object_unref(pool);
    return G_SOURCE_CONTINUE;
}

/* ---- mounts ---- */

static void mount_set_up(camsim_server *s, camsim_mount *m, gboolean up)
{
    if (up == m->up) return;
    if (up)
        gst_rtsp_mount_points_add_factory(s->mounts, m->path, g_object_ref(m->factory));
    else
        gst_rtsp_mount_points_remove_factory(s->mounts, m->path);
    m->up = up;
}

static void mount_free(gpointer p)
{
    camsim_mount *m = p;
    if (m->drop_timer) g_source_remove(m->drop_timer);
    g_clear_object(&m->factory);
    g_free(m->path);
    camsim_spec_clear(&m->spec);
    g_free(m);
}

static int mount_add(camsim_server *s, camsim_spec *spec, char **err)
{
    camsim_mount *m = g_new0(camsim_mount, 1);
    m->spec = *spec; /* takes the strings */
    memset(spec, 0, sizeof(*spec));
    m->server = s;
    m->path = g_strdup_printf("/%s", m->spec.name);
    if (g_hash_table_contains(s->by_name, m->spec.name)) {
        *err = g_strdup_printf("mount %s given twice", m->spec.name);
        mount_free(m);
        return -EEXIST;
    }
    g_hash_table_insert(s->by_name, m->spec.name, m);

    if (!(m->video = camsim_source_video(&m->spec, err))) return -EINVAL;
    if (m->spec.audio != CAMSIM_AUDIO_NONE && !(m->audio = camsim_source_audio(m->spec.audio, err)))
        return -EINVAL;

    const char *vpay = m->spec.codec == CAMSIM_CODEC_H265 ? "rtph265pay" : "rtph264pay";
    const char *apay = m->spec.audio == CAMSIM_AUDIO_AAC    ? "rtpmp4gpay name=pay1 pt=97"
                       : m->spec.audio == CAMSIM_AUDIO_PCMU ? "rtppcmupay name=pay1 pt=0"
                                                            : NULL;
    /* The encoders give the parameter sets in the caps only (source.c): the
     * payloader puts them in the SDP, and with config-interval=-1 also in-band
     * before every IDR, so a client joining at any keyframe has them there.
     * rtph264pay repeats SPS/PPS before each slice of an IDR, not once per
     * picture: that is what such cameras send. */
    gchar *launch = g_strdup_printf("( appsrc name=vsrc ! %s name=pay0 pt=96 config-interval=%d "
                                    "%s%s )",
                                    vpay, m->spec.params == CAMSIM_PARAMS_SDP ? 0 : -1,
                                    apay ? "appsrc name=asrc ! " : "", apay ? apay : "");
    m->factory = gst_rtsp_media_factory_new();
    gst_rtsp_media_factory_set_launch(m->factory, launch);
    gst_rtsp_media_factory_set_shared(m->factory, FALSE);
    g_object_set_data(G_OBJECT(m->factory), "camsim-mount", m);
    g_signal_connect(m->factory, "media-configure", G_CALLBACK(on_media_configure), m);
    g_free(launch);

    mount_set_up(s, m, TRUE);
    if (m->spec.drop_every > 0)
        m->drop_timer = g_timeout_add((guint)(m->spec.drop_every * 1000), on_drop_timer, m);
    gchar *vkey = camsim_spec_video_key(&m->spec);
    camsim_log("mount %s: %s params=%s audio=%s%s%s%s\n", m->path, vkey,
               m->spec.params == CAMSIM_PARAMS_SDP ? "sdp" : "inband",
               camsim_audio_name(m->spec.audio),
               m->spec.auth == CAMSIM_AUTH_BASIC    ? " auth=basic"
               : m->spec.auth == CAMSIM_AUTH_DIGEST ? " auth=digest"
                                                    : "",
               m->spec.drop_every > 0 ? " drop_every" : "",
               m->spec.stall_after > 0 ? " stall_after" : "");
    g_free(vkey);
    return 0;
}

camsim_server *camsim_server_new(const char *address, int port, GArray *specs, char **err)
{
    camsim_server *s = g_new0(camsim_server, 1);
    s->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, mount_free);
    s->rtsp = gst_rtsp_server_new();
    gchar *service = g_strdup_printf("%d", port);
    gst_rtsp_server_set_address(s->rtsp, address);
    gst_rtsp_server_set_service(s->rtsp, service);
    gst_rtsp_server_set_backlog(s->rtsp, 256);
    g_free(service);

    GstRTSPThreadPool *pool = gst_rtsp_server_get_thread_pool(s->rtsp);
    gst_rtsp_thread_pool_set_max_threads(pool, -1);
    g_object_unref(pool);

    s->auth = g_object_new(camsim_auth_get_type(), NULL);
    gst_rtsp_server_set_auth(s->rtsp, s->auth);
    s->mounts = gst_rtsp_server_get_mount_points(s->rtsp);
    g_signal_connect(s->rtsp, "client-connected", G_CALLBACK(on_client_connected), s);

    for (guint i = 0; i < specs->len; i++)
        if (mount_add(s, &g_array_index(specs, camsim_spec, i), err)) goto fail;

    s->source_id = gst_rtsp_server_attach(s->rtsp, NULL);
    if (!s->source_id) {
        *err = g_strdup_printf("cannot listen on %s:%d", address, port);
        goto fail;
    }
    s->cleanup_timer = g_timeout_add_seconds(2, on_cleanup_timer, s);
    return s;
fail:
    camsim_server_free(&s);
    return NULL;
}

int camsim_server_port(camsim_server *s)
{
    return gst_rtsp_server_get_bound_port(s->rtsp);
}

char *camsim_server_command(camsim_server *s, const char *line, gboolean *quit)
{
    gchar **argv = NULL;
    gchar *reply = NULL;
    gchar *text = g_strstrip(g_strdup(line));
    *quit = FALSE;
    if (!*text) {
        reply = g_strdup("ERR empty command");
        goto out;
    }
    argv = g_strsplit_set(text, " \t", -1);
    /* Collapse runs of blanks. */
    int argc = 0;
    for (int i = 0; argv[i]; i++)
        if (*argv[i]) argv[argc++] = argv[i];
        else g_free(argv[i]);
    argv[argc] = NULL;
    if (!argc) { /* not after the strip above; said for the analyzer */
        reply = g_strdup("ERR empty command");
        goto out;
    }

    const char *cmd = argv[0];
    if (!strcmp(cmd, "quit")) {
        *quit = TRUE;
        reply = g_strdup("OK quit");
        goto out;
    }
    static const char *const with_mount[] = {"stall", "resume", "drop",  "down",
                                             "up",    "clients", "drain", "stats"};
    gboolean known = FALSE;
    for (size_t i = 0; i < G_N_ELEMENTS(with_mount); i++)
        known |= !strcmp(cmd, with_mount[i]);
    if (!known) {
        reply = g_strdup_printf("ERR unknown command %s", cmd);
        goto out;
    }
    if (argc != 2) {
        reply = g_strdup_printf("ERR usage: %s NAME", cmd);
        goto out;
    }
    camsim_mount *m = g_hash_table_lookup(s->by_name, argv[1]);
    if (!m) {
        reply = g_strdup_printf("ERR no mount %s", argv[1]);
        goto out;
    }
    if (!strcmp(cmd, "stall")) {
        g_atomic_int_set(&m->ctl.stalled, 1);
        reply = g_strdup_printf("OK stall %s", m->spec.name);
    } else if (!strcmp(cmd, "resume")) {
        g_atomic_int_set(&m->ctl.stalled, 0);
        reply = g_strdup_printf("OK resume %s", m->spec.name);
    } else if (!strcmp(cmd, "drop")) {
        int n = mount_drop(s, m);
        reply = g_strdup_printf("OK drop %s %d", m->spec.name, n);
    } else if (!strcmp(cmd, "down")) {
        mount_set_up(s, m, FALSE);
        int n = mount_drop(s, m);
        reply = g_strdup_printf("OK down %s %d", m->spec.name, n);
    } else if (!strcmp(cmd, "up")) {
        mount_set_up(s, m, TRUE);
        reply = g_strdup_printf("OK up %s", m->spec.name);
    } else if (!strcmp(cmd, "drain")) {
        g_atomic_int_set(&m->ctl.draining, 1);
        reply = g_strdup_printf("OK drain %s", m->spec.name);
    } else if (!strcmp(cmd, "stats")) {
        reply = g_strdup_printf("OK stats %s sessions=%d frames=%d drained=%d latency_ms=%d",
                                m->spec.name, g_atomic_int_get(&m->ctl.sessions),
                                g_atomic_int_get(&m->ctl.frames),
                                g_atomic_int_get(&m->ctl.drained),
                                g_atomic_int_get(&m->ctl.latency_ms));
    } else {
        reply = g_strdup_printf("OK clients %s %d", m->spec.name, mount_clients(s, m));
    }
    camsim_log("control: %s -> %s\n", text, reply);
out:
    g_strfreev(argv);
    g_free(text);
    return reply;
}

void camsim_server_free(camsim_server **sp)
{
    camsim_server *s = *sp;
    if (!s) return;
    if (s->cleanup_timer) g_source_remove(s->cleanup_timer);
    if (s->source_id) {
        /* Close every client first so no media keeps reading the encoders. */
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, s->by_name);
        while (g_hash_table_iter_next(&it, &k, &v))
            mount_drop(s, v);
        g_source_remove(s->source_id);
    }
    g_clear_object(&s->mounts);
    g_clear_object(&s->rtsp);
    g_clear_object(&s->auth);
    g_hash_table_destroy(s->by_name);
    g_free(s);
    *sp = NULL;
}
