/*
 * Clock evidence per run: how the wall times of a camera's recordings were
 * made. A court comparing two cameras' footage asks how far each one's times
 * can be trusted; the answer is in ingest/clock (the stream-to-wall mapping,
 * its slew and steps, its residual against the receive clock) and in the
 * camera's own clock as its RTCP sender reports state it. The segmenter
 * rewrites its run's row as the run goes (at each segment boundary), through
 * the writer's queue like everything else it reports; exports read the rows of
 * the runs they cover.
 *
 * One row per run, keyed like the segments' run_start_us, so a run's row and
 * its segments meet without a join table; INSERT OR REPLACE because a run's
 * figures only ever grow more complete.
 */
#include "index/index_internal.h"

#include <string.h>

const char index__sql_clock_upsert[] =
    "INSERT OR REPLACE INTO clock_runs (camera, run_start_us, updated_us, cause, slew_us, "
    "step_us, recv_offset_us, ntp_samples, ntp_offset_us, ntp_offset_min_us, "
    "ntp_offset_max_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/* The last run that began at or before ?2, then every run that began before ?3. */
const char index__sql_clock_query[] =
    "SELECT camera, run_start_us, updated_us, cause, slew_us, step_us, recv_offset_us, "
    "ntp_samples, ntp_offset_us, ntp_offset_min_us, ntp_offset_max_us FROM clock_runs "
    "WHERE camera = ?1 AND run_start_us < ?3 AND run_start_us >= coalesce((SELECT "
    "max(run_start_us) FROM clock_runs WHERE camera = ?1 AND run_start_us <= ?2), ?2) "
    "ORDER BY run_start_us";

void index__clock_bind(sqlite3_stmt *st, const index_clock_run *c)
{
    sqlite3_bind_text(st, 1, c->camera, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, c->run_start_us);
    sqlite3_bind_int64(st, 3, c->updated_us);
    sqlite3_bind_text(st, 4, c->cause, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, c->slew_us);
    sqlite3_bind_int64(st, 6, c->step_us);
    if (c->has_recv_offset)
        sqlite3_bind_int64(st, 7, c->recv_offset_us);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_int64(st, 8, c->ntp_samples);
    if (c->ntp_samples > 0) {
        sqlite3_bind_int64(st, 9, c->ntp_offset_us);
        sqlite3_bind_int64(st, 10, c->ntp_offset_min_us);
        sqlite3_bind_int64(st, 11, c->ntp_offset_max_us);
    } else {
        sqlite3_bind_null(st, 9);
        sqlite3_bind_null(st, 10);
        sqlite3_bind_null(st, 11);
    }
}

void index__clock_from_row(sqlite3_stmt *st, index_clock_run *c)
{
    memset(c, 0, sizeof(*c));
    index__col_str(st, 0, c->camera, sizeof(c->camera));
    c->run_start_us = sqlite3_column_int64(st, 1);
    c->updated_us = sqlite3_column_int64(st, 2);
    index__col_str(st, 3, c->cause, sizeof(c->cause));
    c->slew_us = sqlite3_column_int64(st, 4);
    c->step_us = sqlite3_column_int64(st, 5);
    c->has_recv_offset = sqlite3_column_type(st, 6) != SQLITE_NULL;
    c->recv_offset_us = sqlite3_column_int64(st, 6);
    c->ntp_samples = sqlite3_column_int64(st, 7);
    if (sqlite3_column_type(st, 8) == SQLITE_NULL) c->ntp_samples = 0;
    c->ntp_offset_us = sqlite3_column_int64(st, 8);
    c->ntp_offset_min_us = sqlite3_column_int64(st, 9);
    c->ntp_offset_max_us = sqlite3_column_int64(st, 10);
}
