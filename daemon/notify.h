/*
 * notify: vigild's side of the systemd service protocol (sd_notify(3)).
 * Prefix: notify_.
 *
 *   READY=1         once the cameras are started (notify_ready())
 *   STATUS=...      "recording N/M cameras", refreshed every few seconds when it changes
 *   WATCHDOG=1      from a libuv timer at half of WatchdogSec= (sd_watchdog_enabled()),
 *                   so a wedged loop stops the pings and systemd restarts the service
 *   RELOADING=1     at the start of a reload (with MONOTONIC_USEC=), READY=1 after it
 *   STOPPING=1      at shutdown
 *   EXTEND_TIMEOUT_USEC=  while start-up work (reconciliation) runs, so a long
 *                   but progressing start is not killed by TimeoutStartSec=
 *
 * Without NOTIFY_SOCKET (not under systemd, the tests) every call is a no-op
 * apart from the timers. Loop thread only. The struct is embedded by the
 * caller; notify_close() closes the timers (call before the final uv_run()).
 */
#ifndef VIGIL_NOTIFY_H
#define VIGIL_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Writes the current status line (without "STATUS=") into buf. */
typedef void (*notify_status_fn)(void *opaque, char *buf, size_t len);

typedef struct notify {
    uv_timer_t watchdog;
    uv_timer_t status;
    int started;
    uint64_t watchdog_usec; /* 0: no watchdog asked for */
    notify_status_fn status_fn;
    void *opaque;
    char last_status[256];
} notify;

#define NOTIFY_STATUS_MS 5000

/* Starts the watchdog timer (when systemd asked for one) and the status timer.
 * status_fn may be NULL. 0 or negative (uv error). */
int notify_start(notify *n, uv_loop_t *loop, notify_status_fn status_fn, void *opaque);
void notify_ready(notify *n);     /* READY=1 + STATUS= */
void notify_reloading(notify *n); /* RELOADING=1 */
void notify_stopping(notify *n);  /* STOPPING=1 */
/* Before READY (no loop needed): asks systemd for usec more from now to become
 * ready, with a STATUS= line saying what is being done. */
void notify_extend_start(uint64_t usec, const char *status);
/* Sends STATUS= now if it changed (also called by the timer). */
void notify_update_status(notify *n);
/* Stops and closes the timers (uv_close); n must stay valid until the loop ran. */
void notify_close(notify *n);

#endif
