/*
 * camsim: a simulated camera fleet for vigil's tests.
 *
 *   camsim --port P [--address 127.0.0.1] [--mount SPEC]...
 *          [--cameras N --prefix cam --default SPEC]
 *
 * Prints "READY port=P" on stdout once it listens and every encoder has produced
 * its first frame, then takes one command per line on stdin (stall, resume, drop,
 * down, up, clients, drain, stats, quit), answering "OK ..." or "ERR ..." on stdout. End of
 * stdin is not a reason to exit (tests close it); "quit", SIGTERM, SIGINT and the
 * death of the parent process are. Logs go to stderr.
 */
#include "tools/camsim/camsim.h"

#include <getopt.h>
#include <signal.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    GMainLoop *loop;
    camsim_server *server;
    GString *line; /* partial stdin line */
    guint ready_timer;
    gint64 ready_deadline;
    pid_t parent;
    int exit_code;
} app;

static void reply(const char *text)
{
    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void run_line(app *a, const char *text)
{
    gboolean quit = FALSE;
    char *r = camsim_server_command(a->server, text, &quit);
    reply(r);
    g_free(r);
    if (quit) g_main_loop_quit(a->loop);
}

/* Reads stdin with read(2) rather than buffered GIOChannel lines, so a command is
 * handled as soon as its newline arrives. */
static gboolean on_stdin(gint fd, GIOCondition cond, gpointer data)
{
    app *a = data;
    char buf[4096];
    (void)cond;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) return G_SOURCE_CONTINUE; /* EINTR/EAGAIN */
    if (n == 0) {
        if (a->line->len) run_line(a, a->line->str);
        g_string_truncate(a->line, 0);
        camsim_log("stdin closed; still running (quit or a signal stops camsim)\n");
        return G_SOURCE_REMOVE;
    }
    g_string_append_len(a->line, buf, n);
    char *nl;
    while ((nl = memchr(a->line->str, '\n', a->line->len))) {
        *nl = '\0';
        char *cmd = g_strdup(a->line->str);
        g_string_erase(a->line, 0, nl - a->line->str + 1);
        g_strchomp(cmd);
        if (*cmd) run_line(a, cmd);
        g_free(cmd);
    }
    if (a->line->len > 65536) g_string_truncate(a->line, 0);
    return G_SOURCE_CONTINUE;
}

/* The test harness starts camsim in a session of its own, so when a test runner
 * is killed (a CTest timeout) nothing signals camsim, and end of stdin is no exit
 * by contract. An orphan would then encode forever on a shared machine; instead
 * camsim stops once its parent process is gone (reparented). CAMSIM_ORPHAN_OK=1
 * keeps it running, for `camsim ... &` from a shell that exits. */
static gboolean on_parent_check(gpointer data)
{
    app *a = data;
    if (getppid() == a->parent) return G_SOURCE_CONTINUE;
    camsim_log("parent process %d is gone, stopping\n", (int)a->parent);
    g_main_loop_quit(a->loop);
    return G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer data)
{
    app *a = data;
    camsim_log("signal received, stopping\n");
    g_main_loop_quit(a->loop);
    return G_SOURCE_CONTINUE;
}

/* READY is printed once every encoder has its caps, so the first DESCRIBE does
 * not wait for encoders to start (x265 takes a moment). */
static gboolean on_ready_poll(gpointer data)
{
    app *a = data;
    if (!camsim_sources_ready() && g_get_monotonic_time() < a->ready_deadline)
        return G_SOURCE_CONTINUE;
    if (!camsim_sources_ready()) camsim_log("some encoders have not started yet; READY anyway\n");
    printf("READY port=%d\n", camsim_server_port(a->server));
    fflush(stdout);
    a->ready_timer = 0;
    return G_SOURCE_REMOVE;
}

static void usage(FILE *f)
{
    fputs("usage: camsim --port P [--address 127.0.0.1] [--mount SPEC]...\n"
          "              [--cameras N --prefix cam --default SPEC]\n"
          "SPEC = NAME[:key=value,...]; keys: codec=h264|h265 bframes=N b_adapt=0|1\n"
          "  slices=1 params=inband|sdp pattern=ball|snow audio=none|aac|pcmu fps=25\n"
          "  size=640x360 bitrate=1000 (kbit/s) gop=50 (frames) user=U password=P\n"
          "  auth=basic|digest"
          " drop_every=S stall_after=S\n"
          "  motion=A-B[,C-D...] cycle=S (still scene, an object moving in those seconds of\n"
          "  each S-second wall-clock cycle)  rc=vbr|cbr (cbr: strict, with filler; h264)\n"
          "stdin commands: stall|resume|drop|down|up|clients|drain|stats NAME, quit\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},    {"address", required_argument, NULL, 'a'},
        {"mount", required_argument, NULL, 'm'},   {"cameras", required_argument, NULL, 'n'},
        {"prefix", required_argument, NULL, 'x'},  {"default", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int port = -1, cameras = 0, c;
    const char *address = "127.0.0.1", *prefix = "cam", *def = NULL;
    GPtrArray *mount_args = g_ptr_array_new();
    GArray *specs = g_array_new(FALSE, TRUE, sizeof(camsim_spec));
    char *err = NULL;
    app a = {0};

    a.parent = getppid(); /* first thing: the parent may not live long */
    signal(SIGPIPE, SIG_IGN); /* a test that closed our stdout must not kill us */
    gst_init(&argc, &argv);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'a':
            address = optarg;
            break;
        case 'm':
            g_ptr_array_add(mount_args, optarg);
            break;
        case 'n':
            cameras = atoi(optarg);
            break;
        case 'x':
            prefix = optarg;
            break;
        case 'd':
            def = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || port < 0 || port > 65535 || cameras < 0 || cameras > 10000) {
        usage(stderr);
        return 2;
    }

    for (guint i = 0; i < mount_args->len; i++) {
        camsim_spec s;
        camsim_spec_init(&s);
        if (camsim_spec_parse(g_ptr_array_index(mount_args, i), TRUE, &s, &err)) goto bad_spec;
        g_array_append_val(specs, s);
    }
    if (cameras > 0) {
        camsim_spec d;
        camsim_spec_init(&d);
        if (def && camsim_spec_parse(def, FALSE, &d, &err)) {
            camsim_spec_clear(&d);
            goto bad_spec;
        }
        for (int i = 1; i <= cameras; i++) {
            camsim_spec s;
            camsim_spec_copy(&s, &d);
            g_free(s.name);
            s.name = g_strdup_printf("%s%d", prefix, i);
            g_array_append_val(specs, s);
        }
        camsim_spec_clear(&d);
    }
    if (!specs->len) {
        fputs("camsim: no mounts (use --mount or --cameras)\n", stderr);
        return 2;
    }

    a.loop = g_main_loop_new(NULL, FALSE);
    a.line = g_string_new(NULL);
    a.server = camsim_server_new(address, port, specs, &err);
    if (!a.server) {
        camsim_log("%s\n", err ? err : "cannot start");
        return 1;
    }
    a.ready_deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    a.ready_timer = g_timeout_add(20, on_ready_poll, &a);
    g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &a);
    const char *orphan_ok = g_getenv("CAMSIM_ORPHAN_OK");
    if (a.parent > 1 && !(orphan_ok && *orphan_ok && strcmp(orphan_ok, "0")))
        g_timeout_add_seconds(1, on_parent_check, &a);
    g_unix_signal_add(SIGTERM, on_signal, &a);
    g_unix_signal_add(SIGINT, on_signal, &a);

    g_main_loop_run(a.loop);

    /* Close clients, stop encoders, then leave without tearing down the client
     * threads one by one: nothing of value is left in memory. */
    camsim_server_free(&a.server);
    camsim_sources_stop_all();
    fflush(stdout);
    fflush(stderr);
    _exit(a.exit_code);

bad_spec:
    camsim_log("%s\n", err);
    g_free(err);
    return 2;
}
