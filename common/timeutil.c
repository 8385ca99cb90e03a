/*
 * Clocks and RFC 3339. Wall times are Unix microseconds UTC everywhere in vigil;
 * these are the only conversions to and from text.
 */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t vg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t vg_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* sec * 1e6 + frac, checked: Unix seconds are outside input, and a wrapped
 * product would turn an absurd range into a plausible one. */
static int to_us(int64_t sec, int64_t frac, int64_t *out_us)
{
    int64_t us;
    if (__builtin_mul_overflow(sec, (int64_t)1000000, &us) || __builtin_add_overflow(us, frac, &us) ||
        us < -VG_TIME_MAX_US || us > VG_TIME_MAX_US)
        return -ERANGE;
    *out_us = us;
    return 0;
}

int vg_time_parse(const char *s, int64_t *out_us)
{
    if (!s || !*s) return -EINVAL;
    /* Unix seconds, optionally fractional. */
    const char *p = s;
    if (*p == '-' || isdigit((unsigned char)*p)) {
        char *end;
        errno = 0;
        long long sec = strtoll(s, &end, 10);
        if (errno == ERANGE) return -ERANGE;
        if (*end == 0 && errno == 0 && end != s) return to_us(sec, 0, out_us);
        if (*end == '.' && errno == 0 && end != s) {
            const char *f = end + 1;
            int64_t frac = 0, scale = 100000;
            int nd = 0;
            while (isdigit((unsigned char)*f)) {
                if (scale) frac += (*f - '0') * scale, scale /= 10;
                f++, nd++;
            }
            if (*f == 0 && nd > 0) return to_us(sec, s[0] == '-' ? -frac : frac, out_us);
        }
    }
    /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm) */
    int Y, M, D, h, m, sec;
    size_t len = strlen(s);
    if (len < 20) return -EINVAL;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return -EINVAL;
    p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int64_t scale = 100000;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (scale) frac += (*p - '0') * scale, scale /= 10;
            p++, nd++;
        }
        if (!nd) return -EINVAL;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p) return -EINVAL;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* Reject dates timegm normalised (Feb 30th). */
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != D && sec != 60) return -EINVAL;
    return to_us((int64_t)t - off, frac, out_us);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;                                 /* [0, 146096] */
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          /* [0, 365] */
    const int64_t mp = (5 * doy + 2) / 153;                               /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *p, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
    return p + n;
}

char *vg_time_format(int64_t us, char *buf, size_t len)
{
    int64_t sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) frac += 1000000, sec -= 1;
    /* By arithmetic: every answer of the HTTP API formats times, often
     * thousands, and gmtime_r() takes glibc's time zone lock each call
     * (contended between serve's workers and the loop). The years outside
     * 1000..9999 (never recorded) keep strftime()'s spelling. */
    int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400), y;
    int64_t sod = sec - days * 86400;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    if (y >= 1000 && y <= 9999 && len > 0) {
        char t[VG_TIME_LEN], *p = t;
        p = put_digits(p, y, 4);
        *p++ = '-';
        p = put_digits(p, mo, 2);
        *p++ = '-';
        p = put_digits(p, d, 2);
        *p++ = 'T';
        p = put_digits(p, sod / 3600, 2);
        *p++ = ':';
        p = put_digits(p, sod / 60 % 60, 2);
        *p++ = ':';
        p = put_digits(p, sod % 60, 2);
        if (frac != 0) {
            *p++ = '.';
            p = frac % 1000 == 0 ? put_digits(p, frac / 1000, 3) : put_digits(p, frac, 6);
        }
        *p++ = 'Z';
        size_t n = (size_t)(p - t) < len ? (size_t)(p - t) : len - 1; /* snprintf's cut */
        memcpy(buf, t, n);
        buf[n] = 0;
        return buf;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac == 0)
        snprintf(buf, len, "%sZ", base);
    else if (frac % 1000 == 0)
        snprintf(buf, len, "%s.%03dZ", base, (int)(frac / 1000));
    else
        snprintf(buf, len, "%s.%06dZ", base, (int)frac);
    return buf;
}
