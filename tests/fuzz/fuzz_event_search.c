/* libFuzzer driver: the words of an event search (GET /api/events?q=), which
 * index/events.c turns into an FTS5 query. Contract checked on a real index
 * holding a few events: whatever the words (quotes, FTS5 operators, column
 * filters, invalid UTF-8, NULs cut them), the search either runs (0) or says
 * there is nothing to search for (-EINVAL); an FTS5 syntax error would be a
 * 503 to the investigator. Byte 0 selects the other filters. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "index/index.h"

static index_db *db;
static index_reader *reader;
static char dir[] = "/tmp/vigil-fuzz-events-XXXXXX";

/* The temp index goes when the fuzzer exits. */
static void cleanup(void)
{
    static const char *const files[] = {"index.db", "index.db-wal", "index.db-shm"};
    char p[96];
    index_reader_close(&reader);
    index_close(&db);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int count(const index_event_row *e, void *arg)
{
    (void)e;
    (*(size_t *)arg)++;
    return 0;
}

static void setup(void)
{
    char path[96];
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
    snprintf(path, sizeof(path), "%s/index.db", dir);
    vg_log_set_level(LOG_CRIT);
    if (index_open(path, &db) < 0) abort();
    index_event_in ev[] = {
        {.time_us = 1000000, .camera = "cam1", .district = "Lục Nam", .site = "traffic",
         .type = "anpr", .text = "Xe 98A-123.45 qua ngã tư Đồi Ngô",
         .attributes = "{\"plate\":\"98A-123.45\"}", .source_id = "a", .posted_by = "fuzz"},
        {.time_us = 2000000, .district = "Lục Nam", .type = "alarm",
         .text = "Báo động kho xã Đồng Phú", .posted_by = "fuzz"},
    };
    if (index_events_post(db, ev, 2, NULL, NULL) < 0) abort();
    index_event_add(db, 3000000, "cam1", "offline", "{\"reason\":\"stall\"}");
    if (index_flush(db) < 0 || index_reader_open(path, &reader) < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reader) setup();
    if (size < 1 || size > 600) return 0;
    char *q = malloc(size);
    if (!q) return 0;
    memcpy(q, data + 1, size - 1);
    q[size - 1] = 0;
    index_event_query query = {.q = q, .start_us = INT64_MIN, .end_us = INT64_MAX, .limit = 10};
    if (data[0] & 1) query.camera = "cam1";
    if (data[0] & 2) query.type = "anpr";
    if (data[0] & 4) query.district = "Lục Nam";
    if (data[0] & 8) query.area_cameras = "[\"cam1\"]";
    size_t n = 0;
    int r = index_events_search(reader, &query, count, &n);
    if (r != 0 && r != -EINVAL) abort();
    if (n > 3) abort();
    free(q);
    return 0;
}
