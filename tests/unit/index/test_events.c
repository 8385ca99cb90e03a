/*
 * Unit tests of index/events.c on a real SQLite file: posting events from
 * other systems (one and many, all or none, source_id stored once), and the
 * search over every event: full text with Vietnamese diacritics folded (đ
 * included), punctuation in plate numbers, prefixes, each filter, the area
 * filter reaching the system events of an area's cameras, the limit.
 */
#include "index/index.h"
#include "index/index_internal.h"

#include "common/common.h"
#include "tests/unit/index/index_files.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define S (INT64_C(1000000))
#define T0 (INT64_C(1763881200) * S) /* 2025-11-23T07:00:00Z */

typedef struct fixture {
    char dir[64];
    char path[128];
    index_db *db;
    index_reader *r;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-test-events-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/index.db", f->dir);
    assert_int_equal(index_open(f->path, &f->db), 0);
    assert_int_equal(index_reader_open(f->path, &f->r), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    index_reader_close(&f->r);
    index_close(&f->db);
    index_files_remove(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

typedef struct found {
    size_t n;
    int64_t ids[64];
    char types[64][32];
    char texts[64][128];
} found;

static int collect(const index_event_row *e, void *arg)
{
    found *c = arg;
    if (c->n >= 64) return 1;
    c->ids[c->n] = e->id;
    snprintf(c->types[c->n], sizeof(c->types[0]), "%s", e->type);
    snprintf(c->texts[c->n], sizeof(c->texts[0]), "%s", e->text);
    c->n++;
    return 0;
}

static index_event_query all_time(void)
{
    index_event_query q = {.start_us = INT64_MIN, .end_us = INT64_MAX, .limit = 1000};
    return q;
}

static size_t search_q(fixture *f, const char *words, found *c)
{
    index_event_query q = all_time();
    q.q = words;
    memset(c, 0, sizeof(*c));
    assert_int_equal(index_events_search(f->r, &q, collect, c), 0);
    return c->n;
}

/* A small world: ANPR on a traffic camera, an alarm of an area, a note, and
 * system events of the cameras. */
static void populate(fixture *f)
{
    index_event_in ev[] = {
        {.time_us = T0, .camera = "lucnam-tl-001", .district = "Lục Nam", .site = "traffic",
         .type = "anpr", .text = "Biển số 98A-123.45 đi qua ngã tư Đồi Ngô",
         .attributes = "{\"plate\":\"98A-123.45\",\"color\":\"trắng\"}", .source_id = "anpr-1",
         .posted_by = "anpr"},
        {.time_us = T0 + 60 * S, .end_us = T0 + 120 * S, .district = "Lục Nam",
         .site = "security", .type = "alarm", .text = "Báo động cửa kho xã Đồng Phú, huyện Lục Nam",
         .source_id = "panel-7", .posted_by = "panel"},
        {.time_us = T0 + 180 * S, .district = "Yên Dũng", .type = "call_113",
         .text = "Tin báo 113: va chạm giao thông", .attributes = "{\"caller\":\"ẩn danh\"}",
         .posted_by = "113"},
    };
    uint8_t dup[3];
    int64_t ids[3];
    assert_int_equal(index_events_post(f->db, ev, 3, dup, ids), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dup[i], 0);
        assert_true(ids[i] > 0);
    }
    index_event_add(f->db, T0 + 30 * S, "lucnam-cs-001", "offline", "{\"reason\":\"stall\"}");
    index_event_add(f->db, T0 + 240 * S, "yendung-cs-002", "online", "{}");
    assert_int_equal(index_flush(f->db), 0);
}

static void test_vietnamese(void **state)
{
    fixture *f = *state;
    found c;
    populate(f);
    /* Marks folded by the tokenizer, đ/Đ by vigil. */
    assert_int_equal(search_q(f, "Luc Nam", &c), 1);
    assert_string_equal(c.types[0], "alarm");
    assert_int_equal(search_q(f, "lục nam", &c), 1);
    assert_int_equal(search_q(f, "Dong Phu", &c), 1);
    assert_string_equal(c.types[0], "alarm");
    assert_int_equal(search_q(f, "dong", &c), 1);
    assert_int_equal(search_q(f, "Đồng", &c), 1);
    assert_int_equal(search_q(f, "đồng phú", &c), 1);
    assert_int_equal(search_q(f, "DOI NGO", &c), 1);
    assert_string_equal(c.types[0], "anpr");
    assert_int_equal(search_q(f, "bien so", &c), 1);
    /* Every word is required. */
    assert_int_equal(search_q(f, "dong ngo", &c), 0);
    /* Attributes are searched: keys and values. */
    assert_int_equal(search_q(f, "trang", &c), 1);
    assert_int_equal(search_q(f, "an danh", &c), 1);
    assert_string_equal(c.types[0], "call_113");
}

static void test_plates_prefix_system(void **state)
{
    fixture *f = *state;
    found c;
    populate(f);
    /* A plate with punctuation is a phrase of its tokens, not a syntax error. */
    assert_int_equal(search_q(f, "98A-123.45", &c), 1);
    assert_string_equal(c.types[0], "anpr");
    assert_int_equal(search_q(f, "98a-123", &c), 1);
    assert_int_equal(search_q(f, "98A-999.45", &c), 0);
    assert_int_equal(search_q(f, "98A-12*", &c), 1);
    assert_int_equal(search_q(f, "va cham", &c), 1);
    assert_int_equal(search_q(f, "cham*", &c), 1);
    /* Quotes and FTS5 operators in q are words, not syntax. */
    assert_int_equal(search_q(f, "\"kho OR NOT (", &c), 0);
    assert_int_equal(search_q(f, "kho \"", &c), 1);
    /* A system event's detail is indexed as well. */
    assert_int_equal(search_q(f, "stall", &c), 1);
    assert_string_equal(c.types[0], "offline");
    /* Nothing to search for. */
    index_event_query q = all_time();
    q.q = " -- * ";
    assert_int_equal(index_events_search(f->r, &q, collect, &c), -EINVAL);
}

static int count_ev(const index_event *e, void *arg)
{
    (void)e;
    (*(size_t *)arg)++;
    return 0;
}

static void test_filters(void **state)
{
    fixture *f = *state;
    found c;
    populate(f);
    index_event_query q = all_time();
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 5); /* both kinds, oldest first */
    assert_string_equal(c.types[0], "anpr");
    assert_string_equal(c.types[1], "offline");
    assert_string_equal(c.types[2], "alarm");
    assert_string_equal(c.types[4], "online");

    q.type = "alarm";
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 1);

    q = all_time();
    q.camera = "lucnam-tl-001";
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 1);

    /* An area: its own events and the system events of its cameras. */
    q = all_time();
    q.district = "Lục Nam";
    q.area_cameras = "[\"lucnam-cs-001\",\"lucnam-tl-001\"]";
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.types[1], "offline");
    q.site = "security";
    q.area_cameras = "[\"lucnam-cs-001\"]";
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.types[0], "offline");
    assert_string_equal(c.types[1], "alarm");
    /* An area with no cameras configured still finds its own events. */
    q = all_time();
    q.district = "Yên Dũng";
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.types[0], "call_113");

    /* Text and filters together, time range [start, end), limit. */
    q = all_time();
    q.q = "ngo";
    q.district = "Yên Dũng";
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 0);
    q = all_time();
    q.start_us = T0 + 30 * S;
    q.end_us = T0 + 180 * S;
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 2);
    q = all_time();
    q.limit = 2;
    memset(&c, 0, sizeof(c));
    assert_int_equal(index_events_search(f->r, &q, collect, &c), 0);
    assert_int_equal(c.n, 2);
    /* The system events' query sees posted events too. */
    size_t n = 0;
    assert_int_equal(index_query_events(f->r, NULL, INT64_MIN, INT64_MAX, count_ev, &n), 0);
    assert_int_equal(n, 5);
}

static void test_duplicates_and_checks(void **state)
{
    fixture *f = *state;
    found c;
    index_event_in a = {.time_us = T0, .camera = "cam1", .type = "anpr", .text = "một",
                        .source_id = "x-1", .posted_by = "anpr"};
    uint8_t dup[3] = {9, 9, 9};
    int64_t ids[3];
    assert_int_equal(index_events_post(f->db, &a, 1, dup, ids), 0);
    assert_int_equal(dup[0], 0);
    int64_t first = ids[0];
    /* The same source_id again, alone and within a batch (also twice in it). */
    index_event_in b[3] = {a, a, a};
    b[1].source_id = "x-2";
    b[1].text = "hai";
    b[2].source_id = "x-2";
    assert_int_equal(index_events_post(f->db, b, 3, dup, ids), 0);
    assert_int_equal(dup[0], 1);
    assert_int_equal(ids[0], 0);
    assert_int_equal(dup[1], 0);
    assert_true(ids[1] > first);
    assert_int_equal(dup[2], 1);
    /* Without a source_id nothing is a duplicate. */
    a.source_id = NULL;
    assert_int_equal(index_events_post(f->db, &a, 1, dup, NULL), 0);
    assert_int_equal(index_events_post(f->db, &a, 1, dup, NULL), 0);
    assert_int_equal(dup[0], 0);
    assert_int_equal(search_q(f, "mot", &c), 3);
    assert_int_equal(search_q(f, "hai", &c), 1);

    /* An incomplete event anywhere refuses the whole post. */
    index_event_in bad[2] = {a, a};
    bad[0].source_id = "x-3";
    bad[1].type = "";
    assert_int_equal(index_events_post(f->db, bad, 2, NULL, NULL), -EINVAL);
    bad[1] = a;
    bad[1].camera = NULL;
    assert_int_equal(index_events_post(f->db, bad, 2, NULL, NULL), -EINVAL);
    bad[1] = a;
    bad[1].end_us = a.time_us - 1;
    assert_int_equal(index_events_post(f->db, bad, 2, NULL, NULL), -EINVAL);
    assert_int_equal(search_q(f, "mot", &c), 3);
    /* And the stored x-3 would be new. */
    assert_int_equal(index_events_post(f->db, bad, 1, dup, NULL), 0);
    assert_int_equal(dup[0], 0);
}

/* An index from before posted events (schema 5) with events in it: opening
 * it migrates, and its old events are found by a full-text search. */
static void test_migration_indexes_old_events(void **state)
{
    fixture *f = *state;
    found c;
    index_reader_close(&f->r);
    index_close(&f->db);
    unlink(f->path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(index__migrate_to(db, f->path, 5), 0);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO events (time_us, camera, type, detail) VALUES "
                                  "(1, 'cam1', 'lock_created', "
                                  "'{\"reason\":\"vụ án Đồng Phú\"}'), "
                                  "(2, 'cam1', 'offline', '{\"reason\":\"stall\"}')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(index_open(f->path, &f->db), 0);
    assert_int_equal(index_reader_open(f->path, &f->r), 0);
    assert_int_equal(search_q(f, "vu an dong phu", &c), 1);
    assert_string_equal(c.types[0], "lock_created");
    assert_int_equal(search_q(f, "stall", &c), 1);
    /* and new ones are indexed as they come */
    index_event_add(f->db, 3, "cam1", "online", "{\"note\":\"đã kết nối\"}");
    assert_int_equal(index_flush(f->db), 0);
    assert_int_equal(search_q(f, "da ket noi", &c), 1);
}

/* index_events_expire(): a small limit walks past the kept rows (the cursor
 * never looks at them again), a lock keeps its camera's events and the area
 * events it overlaps only, and the full-text index stays whole. */
static void test_expire(void **state)
{
    fixture *f = *state;
    found c;
    populate(f); /* T0 .. T0 + 240 s */
    index_lock l = {.start_us = T0 + 50 * S, .end_us = T0 + 70 * S};
    snprintf(l.camera, sizeof(l.camera), "some-other-cam");
    snprintf(l.reason, sizeof(l.reason), "case 9");
    assert_int_equal(index_lock_create(f->path, &l), 0);
    /* the alarm (T0 + 60 s, an area) is under it; nothing of lucnam-tl-001 is */
    index_event_expiry x = {.before_us = T0 + 200 * S, .now_us = T0, .limit = 2,
                            .after_time_us = INT64_MIN};
    size_t deleted = 0, kept = 0, calls = 0;
    do {
        assert_int_equal(index_events_expire(f->db, &x), 0);
        deleted += x.deleted;
        kept += x.kept;
        calls++;
    } while (x.scanned == (size_t)x.limit);
    assert_int_equal(deleted, 3); /* anpr, offline, call_113 */
    assert_int_equal(kept, 1);
    assert_int_equal(calls, 3); /* 2 + 2 + 0 rows */
    assert_int_equal(search_q(f, "98A-123.45", &c), 0);
    assert_int_equal(search_q(f, "stall", &c), 0);
    assert_int_equal(search_q(f, "113", &c), 0);
    assert_int_equal(search_q(f, "Dong Phu", &c), 1);
    assert_string_equal(c.types[0], "alarm");
    /* Nothing older is left: one more call finds nothing. */
    x.after_time_us = INT64_MIN;
    x.after_id = 0;
    assert_int_equal(index_events_expire(f->db, &x), 0);
    assert_int_equal(x.deleted, 0);
    assert_int_equal(x.kept, 1);
    x.limit = 0;
    assert_int_equal(index_events_expire(f->db, &x), -EINVAL);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO events_fts (events_fts) VALUES "
                                      "('integrity-check')", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

int main(void)
{
    vg_log_set_level(LOG_CRIT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vietnamese, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plates_prefix_system, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_and_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_indexes_old_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
