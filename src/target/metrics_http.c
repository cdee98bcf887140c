/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The optional /metrics endpoint ("metrics_listen"): the Prometheus text
 * format over HTTP, served by libmicrohttpd's own thread. The text comes
 * from the control socket's renderer (ctl.c), which serializes it with
 * every other request; nothing here touches a reactor.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/metrics_http.h"

#ifdef IDM_HAVE_MICROHTTPD
#include <microhttpd.h>

struct tgt_metrics_http {
	struct MHD_Daemon *mhd;
	char *(*render)(void *arg);
	void *arg;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct tgt_metrics_http *h = cls;
	static char not_found[] = "not found: try /metrics\n";
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;
	enum MHD_Result rc;
	char *text = NULL;

	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0 || *upload_size) {
		status = MHD_HTTP_NOT_FOUND;
	} else {
		text = h->render(h->arg);
	}
	if (text) {
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	} else {
		if (status == MHD_HTTP_OK) {
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		}
		resp = MHD_create_response_from_buffer(strlen(not_found), not_found,
		                                       MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		return MHD_NO;
	}
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}
#else
struct tgt_metrics_http {
	int unused;
};
#endif

/* "9100", "127.0.0.1:9100", "[::1]:9100" -> an address (loopback when
 * only a port is given). */
int tgt_metrics_addr(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *colon = strrchr(s, ':');
	char host[64] = "127.0.0.1";
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (colon) {
		size_t n = (size_t)(colon - s);

		if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
			s++;
			n -= 2;
		}
		if (n == 0 || n >= sizeof(host)) {
			return -EINVAL;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		s = colon + 1;
	}
	port = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || port < 1 || port > 65535) {
		return -EINVAL;
	}
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

int tgt_metrics_http_start(const char *listen, char *(*render)(void *arg), void *arg,
                           struct tgt_metrics_http **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;

	*out = NULL;
	if (tgt_metrics_addr(listen, &ss) != 0) {
		snprintf(err, errlen, "metrics_listen \"%s\": not ADDR:PORT", listen);
		return -EINVAL;
	}
#ifdef IDM_HAVE_MICROHTTPD
	struct tgt_metrics_http *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(err, errlen, "metrics_listen: no memory");
		return -ENOMEM;
	}
	h->render = render;
	h->arg = arg;
	h->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
	    NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_LIMIT, 16u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!h->mhd) {
		free(h);
		snprintf(err, errlen, "metrics_listen %s: cannot listen", listen);
		return -EADDRINUSE;
	}
	*out = h;
	return 0;
#else
	(void)render;
	(void)arg;
	snprintf(err, errlen, "metrics_listen: idmd was built without libmicrohttpd");
	return -ENOTSUP;
#endif
}

void tgt_metrics_http_stop(struct tgt_metrics_http *h)
{
	if (!h) {
		return;
	}
#ifdef IDM_HAVE_MICROHTTPD
	MHD_stop_daemon(h->mhd);
#endif
	free(h);
}
