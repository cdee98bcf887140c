/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * GET /metrics over HTTP (libmicrohttpd), for "metrics_listen".
 */
#ifndef IDM_TARGET_METRICS_HTTP_H
#define IDM_TARGET_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

struct tgt_metrics_http;

/* "PORT" (loopback), "ADDR:PORT" or "[V6]:PORT"; 0 or -EINVAL. */
int tgt_metrics_addr(const char *s, struct sockaddr_storage *ss);
/* Serve render(arg) (malloc'ed text, or NULL) at /metrics on `listen`;
 * 0 or -errno with one line in err. */
int tgt_metrics_http_start(const char *listen, char *(*render)(void *arg), void *arg,
                           struct tgt_metrics_http **out, char *err, size_t errlen);
void tgt_metrics_http_stop(struct tgt_metrics_http *h);

#endif
