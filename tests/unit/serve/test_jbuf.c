/*
 * serve/jbuf.c: the JSON text it writes is what jansson's json_dumps
 * (JSON_COMPACT) writes for the same values, so answers built either way have
 * the same bytes: every byte value alone and inside text, multi-byte UTF-8,
 * strings jansson refuses (invalid UTF-8), integers at their limits, times,
 * and values (a real, a nested object) dumped through it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "serve/serve_internal.h"

#include <stdlib.h>
#include <string.h>

/* jansson's text of v (taken), or NULL when v is NULL. */
static char *jansson_text(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    return s;
}

static void check_str(const char *s)
{
    serve__jbuf b = {0};
    char *want = jansson_text(json_string(s));
    bool ok = serve__jbuf_str(&b, s);
    char *got = serve__jbuf_take(&b);
    if (!want) {
        assert_false(ok);
        assert_string_equal(got, "");
    } else {
        assert_true(ok);
        assert_string_equal(got, want);
    }
    free(want);
    free(got);
}

static void t_strings(void **state)
{
    (void)state;
    char s[8];
    for (int c = 1; c < 256; c++) {
        s[0] = (char)c, s[1] = 0;
        check_str(s);
        snprintf(s, sizeof(s), "a%cb", c);
        check_str(s);
    }
    check_str("");
    check_str("Biển số 51F-123.45 Đường");
    check_str("\xe2\x80\xa8 \xf0\x9f\x98\x80 / \"q\" \\ \x7f");
    check_str("\xc0\xaf");         /* overlong */
    check_str("\xed\xa0\x80");     /* surrogate */
    check_str("\xf4\x90\x80\x80"); /* past U+10FFFF */
    check_str("cut \xe1\xbb");
}

static void t_values(void **state)
{
    (void)state;
    serve__jbuf b = {0};
    const int64_t ints[] = {0, -1, 42, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        serve__jbuf_int(&b, ints[i]);
        char *got = serve__jbuf_take(&b), *want = jansson_text(json_integer(ints[i]));
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    const int64_t times[] = {0, 1795392000123456, 1795392000123000, -1};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char t[VG_TIME_LEN];
        serve__jbuf_time(&b, times[i]);
        char *got = serve__jbuf_take(&b);
        char *want = jansson_text(json_string(vg_time_format(times[i], t, sizeof(t))));
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    const double reals[] = {0, 3600, 1234.5, 0.1, 1e-7, 86400.000001};
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_t *v = json_real(reals[i]);
        serve__jbuf_json(&b, v);
        char *got = serve__jbuf_take(&b), *want = jansson_text(v);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    json_t *v = json_loads("{\"plate\":\"51F\",\"n\":[1,2.5,null,true,{}],\"u\":\"\\u0001\xc3\xa9\"}",
                           0, NULL);
    assert_non_null(v);
    serve__jbuf_json(&b, v);
    char *got = serve__jbuf_take(&b), *want = jansson_text(v);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_strings),
        cmocka_unit_test(t_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
