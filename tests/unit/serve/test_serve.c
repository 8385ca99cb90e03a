/*
 * Unit tests of serve/: Range and query parsing, the pin registry. The MP4
 * box code is tested in tests/unit/media; the HTTP server itself is exercised
 * end to end by tests/integration/test_http_*.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serve/serve_internal.h"

static void test_range(void **state)
{
    (void)state;
    uint64_t a, b;
#define R(s, len) serve__range_parse(s, strlen(s), len, &a, &b)
    assert_int_equal(R("bytes=0-99", 1000), 1);
    assert_true(a == 0 && b == 99);
    assert_int_equal(R("bytes=500-", 1000), 1);
    assert_true(a == 500 && b == 999);
    assert_int_equal(R("bytes=-100", 1000), 1);
    assert_true(a == 900 && b == 999);
    assert_int_equal(R("bytes=-5000", 1000), 1);
    assert_true(a == 0 && b == 999);
    assert_int_equal(R("bytes=990-5000", 1000), 1);
    assert_true(a == 990 && b == 999);
    assert_int_equal(R("bytes=1000-", 1000), -1);
    assert_int_equal(R("bytes=-0", 1000), -1);
    assert_int_equal(R("bytes=5-1", 1000), 0);
    assert_int_equal(R("bytes=0-1,5-6", 1000), 0);
    assert_int_equal(R("items=0-1", 1000), 0);
    assert_int_equal(R("bytes=x-1", 1000), 0);
    assert_int_equal(R("bytes=99999999999999999999999-", 1000), 0);
#undef R
}

static void test_query(void **state)
{
    (void)state;
    char v[64];
    const char *q = "start=2026-11-23T07:00:00+07:00&end=1795392000&site=one%2Dstop&x&district=L%E1%BB%A5c%20Nam";
    size_t ql = strlen(q);
    assert_int_equal(serve__query_get(q, ql, "start", v, sizeof(v)), 1);
    assert_string_equal(v, "2026-11-23T07:00:00+07:00");
    assert_int_equal(serve__query_get(q, ql, "end", v, sizeof(v)), 1);
    assert_string_equal(v, "1795392000");
    assert_int_equal(serve__query_get(q, ql, "site", v, sizeof(v)), 1);
    assert_string_equal(v, "one-stop");
    assert_int_equal(serve__query_get(q, ql, "district", v, sizeof(v)), 1);
    assert_string_equal(v, "L\xe1\xbb\xa5" "c Nam");
    assert_int_equal(serve__query_get(q, ql, "x", v, sizeof(v)), 1);
    assert_string_equal(v, "");
    assert_int_equal(serve__query_get(q, ql, "en", v, sizeof(v)), 0);
    assert_int_equal(serve__query_get("a=%zz", 5, "a", v, sizeof(v)), -1);
    assert_int_equal(serve__query_get("a=%00", 5, "a", v, sizeof(v)), -1);
    assert_int_equal(serve__query_get("a=%4", 4, "a", v, sizeof(v)), -1);
    assert_int_equal(serve__query_get(q, ql, "start", v, 5), -1); /* too long */
}

static void test_pins(void **state)
{
    (void)state;
    serve__pins *p = NULL;
    assert_int_equal(serve__pins_new(&p), 0);
    int64_t a[] = {1, 2, 3}, b[] = {3, 4, 1025};
    serve__pins_add(p, a, 3);
    serve__pins_add(p, b, 3);
    assert_int_equal(serve__pins_count(p), 5);
    assert_true(serve__pins_has(p, 3) && serve__pins_has(p, 1025));
    assert_false(serve__pins_has(p, 5));
    serve__pins_remove(p, a, 3);
    assert_false(serve__pins_has(p, 1));
    assert_true(serve__pins_has(p, 3)); /* still used by b */
    serve__pins_remove(p, b, 3);
    assert_int_equal(serve__pins_count(p), 0);
    serve__pins_remove(p, b, 3); /* unknown ids: no effect */
    serve__pins_add(p, a, 1);
    serve__pins_free(&p); /* frees what is still pinned */
    assert_null(p);
    serve__pins_free(&p);
}

/* Range caps: a range whose length does not fit in int64 is refused, never
 * wrapped into a short (or negative) one that slips under the cap. */
static void test_range_cap(void **state)
{
    (void)state;
    const int64_t day = INT64_C(86400) * 1000000;
    assert_true(serve__range_ok(0, day, day));
    assert_false(serve__range_ok(0, day + 1, day));
    assert_false(serve__range_ok(day, day, day));
    assert_false(serve__range_ok(day, 0, day));
    assert_false(serve__range_ok(INT64_C(-9000000000000) * 1000000, INT64_C(9000000000000) * 1000000, day));
    assert_false(serve__range_ok(INT64_MIN, INT64_MAX, day));
    assert_false(serve__range_ok(INT64_MIN, 1, day));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_range_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
