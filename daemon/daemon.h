/*
 * The daemon's state: what main wires together and hands to the HTTP server.
 */
#ifndef VIGIL_DAEMON_H
#define VIGIL_DAEMON_H

#include <uv.h>

#include "config/config.h"
#include "daemon/notify.h"
#include "daemon/reload.h"
#include "daemon/supervisor.h"
#include "index/index.h"
#include "storage/storage.h"

typedef struct vigil_daemon {
    uv_loop_t loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    config *cfg;       /* owned */
    index_db *idx;     /* owned */
    storage *st;       /* owned */
    supervisor sup;    /* the cameras */
    notify ntf;        /* systemd: READY, STATUS, WATCHDOG (issue 5) */
    reload_ctx rl;     /* SIGHUP / POST /api/reload (issue 5) */
    int stopping;
    int index_degraded; /* running on a stand-in index (daemon/guard.c) */
} vigil_daemon;

#endif
