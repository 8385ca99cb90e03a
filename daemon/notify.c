/*
 * The systemd notify protocol for vigild (see notify.h).
 *
 * The watchdog ping comes from a timer on the same loop that serves HTTP and
 * supervises cameras, on purpose: if that loop stops turning, the pings stop,
 * and systemd (WatchdogSec=) kills and restarts the daemon. The interval is
 * half of what systemd asks for (sd_watchdog_enabled() reads WATCHDOG_USEC and
 * WATCHDOG_PID), which is what sd_watchdog_enabled(3) recommends.
 *
 * sd_notify() is a non-blocking datagram send to NOTIFY_SOCKET; without that
 * variable it returns 0 and does nothing, so vigild runs the same way outside
 * systemd. Failures are logged once at debug level: a missing systemd must
 * never stop recording.
 */
#include "daemon/notify.h"

#include "common/common.h"

#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static void send_state(const char *state)
{
    int r = sd_notify(0, state);
    if (r < 0) vg_log(LOG_DEBUG, "vigild: sd_notify(%s): %s", state, strerror(-r));
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    send_state("WATCHDOG=1");
}

static void on_status(uv_timer_t *t)
{
    notify_update_status(vg_container_of(t, notify, status));
}

int notify_start(notify *n, uv_loop_t *loop, notify_status_fn status_fn, void *opaque)
{
    memset(n, 0, sizeof(*n));
    n->status_fn = status_fn;
    n->opaque = opaque;
    int r = uv_timer_init(loop, &n->watchdog);
    if (r < 0) return r;
    r = uv_timer_init(loop, &n->status);
    if (r < 0) {
        uv_close((uv_handle_t *)&n->watchdog, NULL);
        return r;
    }
    n->started = 1;
    /* Neither timer may keep the loop alive on its own at shutdown. */
    uv_unref((uv_handle_t *)&n->watchdog);
    uv_unref((uv_handle_t *)&n->status);

    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        n->watchdog_usec = usec;
        uint64_t ms = usec / 2000;
        if (ms == 0) ms = 1;
        uv_timer_start(&n->watchdog, on_watchdog, ms, ms);
        vg_log(LOG_INFO, "vigild: systemd watchdog every %llu ms", (unsigned long long)ms);
        send_state("WATCHDOG=1");
    }
    if (status_fn) uv_timer_start(&n->status, on_status, NOTIFY_STATUS_MS, NOTIFY_STATUS_MS);
    return 0;
}

void notify_update_status(notify *n)
{
    char line[256], msg[sizeof(line) + 8];
    if (!n->status_fn) return;
    line[0] = 0;
    n->status_fn(n->opaque, line, sizeof(line));
    /* one line: the protocol is newline-separated */
    for (char *p = line; *p; p++)
        if (*p == '\n') *p = ' ';
    if (!strcmp(line, n->last_status)) return;
    snprintf(n->last_status, sizeof(n->last_status), "%s", line);
    snprintf(msg, sizeof(msg), "STATUS=%s", line);
    send_state(msg);
}

void notify_ready(notify *n)
{
    n->last_status[0] = 0; /* always repeat the status with READY */
    send_state("READY=1");
    notify_update_status(n);
}

void notify_reloading(notify *n)
{
    (void)n;
    /* MONOTONIC_USEC lets Type=notify-reload (systemd >= 253) match the reload. */
    char msg[96];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    send_state(msg);
}

void notify_extend_start(uint64_t usec, const char *status)
{
    char msg[512];
    /* status is one line of ours: the protocol is newline-separated */
    snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=%s", (unsigned long long)usec,
             status);
    send_state(msg);
}

void notify_stopping(notify *n)
{
    (void)n;
    send_state("STOPPING=1");
}

void notify_close(notify *n)
{
    if (!n->started) return;
    n->started = 0;
    uv_timer_stop(&n->watchdog);
    uv_timer_stop(&n->status);
    if (!uv_is_closing((uv_handle_t *)&n->watchdog)) uv_close((uv_handle_t *)&n->watchdog, NULL);
    if (!uv_is_closing((uv_handle_t *)&n->status)) uv_close((uv_handle_t *)&n->status, NULL);
}
