/*
 * common: the few helpers every vigil module shares — logging in the journald
 * format with secrets redacted, wall/monotonic clocks and RFC 3339 times,
 * directory creation and fsync, the layout of segment files. Prefix: vg_.
 *
 * Error convention for the whole tree: int return, 0 OK, negative errno-style
 * (FFmpeg's AVERROR values already are).
 */
#ifndef VIGIL_COMMON_H
#define VIGIL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

#define VG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define vg_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- logging ----
 * Lines go to stderr as "<N>message" (sd-daemon priority prefix, understood by
 * journald). A camera line always carries "camera=ID: ". Every string handed to
 * vg_log_add_secret() is replaced by "***" in every line, so credentials that
 * slip into a library message (an RTSP URL in an FFmpeg error) are never printed.
 * Thread-safe; each line is written with one write(2). */
void vg_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vg_log_cam(int prio, const char *camera, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vg_log_set_level(int max_prio);   /* default LOG_INFO */
void vg_log_add_secret(const char *s); /* copies s; empty/NULL ignored */
void vg_log_clear_secrets(void);
/* Writes s with every secret and every URL userinfo ("user:pass@") replaced. */
void vg_redact(const char *s, char *out, size_t outlen);
/* Route FFmpeg's av_log through vg_log (redacted). Safe to call more than once. */
void vg_log_capture_ffmpeg(void);

/* ---- time ---- all wall times are Unix microseconds UTC (int64). */
int64_t vg_now_us(void);  /* CLOCK_REALTIME */
int64_t vg_mono_us(void); /* CLOCK_MONOTONIC */
/* Parses RFC 3339 with any offset ("2026-11-23T07:00:00+07:00", fraction optional,
 * "Z" or "z") or Unix seconds (integer or fractional). Returns 0, -EINVAL, or
 * -ERANGE for a time outside [-VG_TIME_MAX_US, VG_TIME_MAX_US] (years 1..9999):
 * every parsed time is that small, so the difference of two never overflows. */
#define VG_TIME_MAX_US (253402300799LL * 1000000) /* 9999-12-31T23:59:59Z */
int vg_time_parse(const char *s, int64_t *out_us);
/* Formats as RFC 3339 UTC, "2026-11-23T00:34:48.123456Z"; the fraction is printed
 * only when non-zero (milliseconds when that is exact, else microseconds).
 * buf needs VG_TIME_LEN bytes. Returns buf. */
#define VG_TIME_LEN 40
char *vg_time_format(int64_t us, char *buf, size_t len);

/* ---- text ---- */
/* UTF-8 (common/utf8.c), the one place text is cut to a byte budget.
 * vg_utf8_cut: the longest prefix of s of at most n bytes that ends on a
 * character boundary (an invalid byte counts as a character).
 * vg_utf8_copy: copies src into dst (len bytes with the NUL), cut on a
 * character boundary, each byte of an invalid sequence replaced by '?', so dst
 * is always valid UTF-8. Returns the length written. */
size_t vg_utf8_cut(const char *s, size_t n);
size_t vg_utf8_copy(char *dst, size_t len, const char *src);
/* Whether s[0..n) is valid UTF-8 (what jansson accepts in a string). */
bool vg_utf8_valid(const char *s, size_t n);
/* Percent-decodes s[0..n) into out (NUL-terminated; '+' stays '+'). strict: a
 * '%' without two hex digits after it, or a decoded NUL, is -EINVAL; lenient:
 * such a '%' is kept as it is. Returns the decoded length, -EINVAL, or -E2BIG
 * when out is too small. */
int vg_percent_decode(const char *s, size_t n, char *out, size_t outlen, bool strict);
/* Exactly 2*outlen hex digits (either case) into out. 0 or -EINVAL. */
int vg_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t outlen);

/* ---- files ---- */
int vg_mkdir_p(const char *path, int mode); /* 0 or -errno */
int vg_fsync_dir(const char *dir);          /* 0 or -errno */
int vg_fsync_parent(const char *path);      /* fsync of path's directory */
/* Writes all n bytes (retrying short writes and EINTR). 0 or -errno. */
int vg_write_all(int fd, const void *buf, size_t n);
/* Reads a whole small file (<= 1 MiB) into a NUL-terminated malloc'd buffer; caller frees.
 * Trailing newlines are stripped. 0 or -errno. */
int vg_read_small_file(const char *path, char **out);

/* ---- segment layout (common/layout.c) ----
 * A segment file's path relative to its pool, from its camera and start (UTC):
 *   <camera>/<YYYY>/<MM>/<DD>/<HH>/<YYYYMMDD>T<HHMMSS>.<uuuuuu>Z.mp4
 * The one definition: storage/ names files with it and index/ derives the path
 * of a row that stores none from it. 0, -EINVAL (empty camera, or one with a
 * '/'), or -ENAMETOOLONG when out (len bytes) is too small. */
int vg_segment_relpath(const char *camera, int64_t start_us, char *out, size_t len);

/* ---- SHA-256 of footage ----
 * OpenSSL's EVP implementation: it uses the CPU's SHA extensions where there
 * are any (1.5 GB/s here against a portable C implementation's 180 MB/s,
 * which was over half of vigild's CPU at 800 cameras). */
typedef struct vg_sha256 vg_sha256;
vg_sha256 *vg_sha256_new(void);                              /* NULL on ENOMEM */
void vg_sha256_update(vg_sha256 *h, const void *p, size_t n);
void vg_sha256_final(vg_sha256 *h, uint8_t out[32]);         /* then reusable after _reset */
void vg_sha256_reset(vg_sha256 *h);
void vg_sha256_free(vg_sha256 **h);                          /* accepts NULL */

void vg_hex(const uint8_t *bin, size_t n, char *out /* 2n+1 */);

/* ---- crypto (common/crypto.c, all libcrypto) ---- */
void vg_memzero(void *p, size_t n);                      /* not optimized away; p may be NULL */
bool vg_ct_equal(const void *a, const void *b, size_t n); /* constant time in n */
int vg_sha256_digest(const void *p, size_t n, uint8_t out[32]); /* 0 or -EIO */
/* Standard base64 with padding; malloc'd, caller frees; NULL on ENOMEM. */
char *vg_base64(const uint8_t *b, size_t n);
/* Strict standard base64 (padding required, no whitespace) into out (at most
 * outmax bytes, *outlen set). 0, -EINVAL, -E2BIG or -ENOMEM. */
int vg_unbase64(const char *s, size_t len, uint8_t *out, size_t outmax, size_t *outlen);
/* Ed25519. A secret key is 64 bytes: the seed, then the public key. */
#define VG_ED25519_SK 64
#define VG_ED25519_PK 32
#define VG_ED25519_SIG 64
int vg_ed25519_keypair(uint8_t sk[VG_ED25519_SK], uint8_t pk[VG_ED25519_PK]); /* 0 or -EIO */
/* The public key of sk's seed (its second half is not trusted). 0 or -EINVAL. */
int vg_ed25519_public(const uint8_t sk[VG_ED25519_SK], uint8_t pk[VG_ED25519_PK]);
int vg_ed25519_sign(uint8_t sig[VG_ED25519_SIG], const void *msg, size_t len,
                    const uint8_t sk[VG_ED25519_SK]); /* 0 or -EIO */
/* 0 when sig is pk's signature of msg, -EBADMSG when not, -EINVAL for a bad key. */
int vg_ed25519_verify(const uint8_t sig[VG_ED25519_SIG], const void *msg, size_t len,
                      const uint8_t pk[VG_ED25519_PK]);

#endif
