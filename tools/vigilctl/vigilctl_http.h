/*
 * vigilctl's HTTP client: one request to the running daemon's API (libcurl),
 * for status, cameras, clip downloads and cases. Prefix: vigilctl_http_.
 */
#ifndef VIGIL_VIGILCTL_HTTP_H
#define VIGIL_VIGILCTL_HTTP_H

#include <stddef.h>

/* The base URL for a listen: address: "http://HOST:PORT", with a wildcard host
 * (0.0.0.0, ::, empty) replaced by loopback. out needs 128 bytes. */
void vigilctl_http_base(const char *listen, char *out, size_t len);

/* GET base + path (path starts with '/') with "Authorization: Bearer token"
 * when token is non-NULL. The body goes to fd when fd >= 0, else into *body
 * (malloc'd, NUL-terminated, caller frees; *len its length). Returns the HTTP
 * status (> 0) or negative errno-style (-ECONNREFUSED: nothing listens,
 * -EINVAL: not an http:// URL, -EPROTO: not an HTTP response). timeout_ms
 * bounds each connect/read/write. */
int vigilctl_http_get(const char *base, const char *path, const char *token, int fd, char **body,
                      size_t *len, int timeout_ms);
/* The same with any method; json (NUL-terminated, may be NULL) is sent as an
 * application/json body. */
int vigilctl_http_request(const char *base, const char *method, const char *path,
                          const char *token, const char *json, int fd, char **body, size_t *len,
                          int timeout_ms);

#endif
