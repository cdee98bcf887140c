/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idmd's control socket: JSON-RPC 2.0 over a Unix stream socket, served
 * by one control thread. A request is one line of JSON (newline-ended);
 * several may follow one another on a connection, and each gets one
 * response line. The thread never touches a reactor's state
 * itself: the methods reach reactors through their message queues.
 *
 * Hostile or broken clients are bounded: a request over CTL_MAX_REQUEST
 * bytes, or JSON that does not parse, gets an error response and the
 * connection is closed; a client that sends nothing for CTL_IDLE_MS is
 * closed; at most CTL_MAX_CLIENTS are connected; a peer that is neither
 * root nor idmd's own user is refused (the socket's mode 0600 already
 * keeps others out).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "idm/idm.h"
#include "idm/target.h"
#include "target/admin.h"
#include "target/ctl.h"
#include "target/metrics_http.h"

#define CTL_MAX_REQUEST (64 * 1024)
#define CTL_IDLE_MS 5000
#define CTL_MAX_CLIENTS 16
#define CTL_SEND_TIMEOUT_S 2
#define CTL_JSON_DEPTH 16

struct ctl_client {
	int fd;    /* -1: free */
	char *buf; /* CTL_MAX_REQUEST bytes: the line being received */
	size_t len;
	uint64_t deadline_ms; /* closed if nothing completes by then */
};

struct idm_ctl {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	bool bound; /* the path is ours to remove */
	int wake_fd;
	bool running;
	pthread_t thread;
	struct tgt_ctl_ctx ctx;
	struct tgt_metrics_http *metrics; /* "metrics_listen", or NULL */
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

/* ---- claiming the path ---- */

static int ctl_fail(char *err, size_t errlen, int rc, const char *what, const char *path)
{
	snprintf(err, errlen, "control socket %s: %s%s%s", path, what,
		 rc && rc != -EADDRINUSE ? ": " : "", rc && rc != -EADDRINUSE ? strerror(-rc) : "");
	return rc ? rc : -EINVAL;
}

/* A socket file at path: a live daemon answers (-EADDRINUSE), a stale
 * one is removed. Anything else there is left alone (-EEXIST). */
static int path_claim(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0) {
		return errno == ENOENT ? 0 : ctl_fail(err, errlen, -errno, "cannot stat", path);
	}
	if (!S_ISSOCK(st.st_mode)) {
		return ctl_fail(err, errlen, -EEXIST, "exists and is not a socket", path);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return ctl_fail(err, errlen, -errno, "socket", path);
	}
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	close(fd);
	if (rc == 0) {
		return ctl_fail(err, errlen, -EADDRINUSE, "held by a running idmd", path);
	}
	if (rc != -ECONNREFUSED) {
		return ctl_fail(err, errlen, rc, "cannot tell whether it is in use", path);
	}
	idm_log("ctl", "removing the stale control socket %s", path);
	if (unlink(path) != 0) {
		return ctl_fail(err, errlen, -errno, "cannot remove the stale socket", path);
	}
	return 0;
}

/* The directory of the socket (/run/idm) is made when missing. */
static void parent_make(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		(void)mkdir(dir, 0755);
	}
}

static int listen_open(struct idm_ctl *ctl, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl->path);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->listen_fd < 0) {
		return ctl_fail(err, errlen, -errno, "socket", ctl->path);
	}
	/* Created 0600 (no window in which others may connect). */
	old = umask(0177);
	rc = bind(ctl->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	umask(old);
	ctl->bound = rc == 0;
	if (rc == 0 && chmod(ctl->path, 0600) != 0) {
		rc = -errno;
	}
	if (rc == 0 && listen(ctl->listen_fd, 64) != 0) {
		rc = -errno;
	}
	if (rc < 0) {
		return ctl_fail(err, errlen, rc, "cannot listen", ctl->path);
	}
	return 0;
}

int idm_ctl_open(const char *path, struct idm_ctl **out, char *err, size_t errlen)
{
	struct idm_ctl *ctl;
	int rc;

	*out = NULL;
	if (path && (!path[0] || strlen(path) >= sizeof(ctl->path))) {
		return ctl_fail(err, errlen, -ENAMETOOLONG, "bad path", path);
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		return ctl_fail(err, errlen, -ENOMEM, "no memory", path ? path : "");
	}
	ctl->listen_fd = -1;
	ctl->wake_fd = -1;
	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
		ctl->clients[i].fd = -1;
	}
	pthread_mutex_init(&ctl->ctx.lock, NULL);
	rc = 0;
	if (path) {
		snprintf(ctl->path, sizeof(ctl->path), "%s", path);
		parent_make(path);
		rc = path_claim(path, err, errlen);
		if (rc == 0) {
			rc = listen_open(ctl, err, errlen);
		}
	}
	if (rc == 0) {
		ctl->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		rc = ctl->wake_fd < 0 ? ctl_fail(err, errlen, -errno, "eventfd", ctl->path) : 0;
	}
	if (rc < 0) {
		idm_ctl_close(ctl);
		return rc;
	}
	*out = ctl;
	return 0;
}

/* ---- clients ---- */

static void client_close(struct ctl_client *cl)
{
	if (cl->fd >= 0) {
		close(cl->fd);
	}
	free(cl->buf);
	cl->fd = -1;
	cl->buf = NULL;
	cl->len = 0;
}

/* Send one response line; false when the client is gone or stuck. */
static bool client_send(struct ctl_client *cl, json_object *resp)
{
	size_t len;
	const char *s = json_object_to_json_string_length(resp, JSON_C_TO_STRING_PLAIN, &len);

	while (len > 0) {
		ssize_t n = send(cl->fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		s += n;
		len -= (size_t)n;
	}
	return send(cl->fd, "\n", 1, MSG_NOSIGNAL) == 1;
}

/* An error response, then the connection goes. */
static void client_refuse(struct ctl_client *cl, int code, const char *msg)
{
	json_object *resp = rpc_error_response(NULL, code, msg);

	client_send(cl, resp);
	json_object_put(resp);
	client_close(cl);
}

/* Only root and idmd's own user may talk to it. */
static bool peer_allowed(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 &&
	       (uc.uid == 0 || uc.uid == geteuid());
}

static void client_accept(struct idm_ctl *ctl)
{
	struct timeval tv = {CTL_SEND_TIMEOUT_S, 0};
	struct ctl_client tmp = {.fd = -1};
	struct ctl_client *cl = &tmp;
	int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (ctl->clients[i].fd < 0) {
			cl = &ctl->clients[i];
			break;
		}
	}
	cl->fd = fd;
	if (cl == &tmp) {
		client_refuse(cl, RPC_FAILED, "too many control clients");
		return;
	}
	if (!peer_allowed(fd)) {
		client_refuse(cl, RPC_FAILED, "permission denied");
		return;
	}
	cl->buf = malloc(CTL_MAX_REQUEST);
	if (!cl->buf) {
		client_refuse(cl, RPC_INTERNAL_ERROR, "no memory");
		return;
	}
	cl->deadline_ms = idm_now_ms() + CTL_IDLE_MS;
}

static void request_run(struct idm_ctl *ctl, struct ctl_client *cl, json_object *req)
{
	json_object *resp;

	pthread_mutex_lock(&ctl->ctx.lock);
	resp = rpc_handle(tgt_ctl_methods, tgt_ctl_nmethods, &ctl->ctx, req);
	pthread_mutex_unlock(&ctl->ctx.lock);

	if (resp && !client_send(cl, resp)) {
		client_close(cl);
	}
	json_object_put(resp);
}

/* Parse one request line strictly (RFC 8259, nothing after the value);
 * NULL with *why on failure. */
static json_object *line_parse(const char *line, size_t len, const char **why)
{
	json_tokener *tok = json_tokener_new_ex(CTL_JSON_DEPTH);
	json_object *req = NULL;
	enum json_tokener_error jerr;

	if (!tok) {
		*why = "no memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	req = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		*why = "incomplete JSON";
	} else if (jerr != json_tokener_success) {
		*why = json_tokener_error_desc(jerr);
	} else if (strspn(line + json_tokener_get_parse_end(tok), " \t\r") !=
	           len - json_tokener_get_parse_end(tok)) {
		*why = "data after the request";
	} else {
		json_tokener_free(tok);
		return req;
	}
	json_object_put(req);
	json_tokener_free(tok);
	return NULL;
}

/* Run every complete line in the buffer; keep the rest. */
static void client_lines(struct idm_ctl *ctl, struct ctl_client *cl)
{
	char *nl;

	while (cl->fd >= 0 && (nl = memchr(cl->buf, '\n', cl->len)) != NULL) {
		size_t len = (size_t)(nl - cl->buf);
		const char *why = NULL;

		if (strspn(cl->buf, " \t\r") < len) {
			json_object *req = line_parse(cl->buf, len, &why);

			if (!req) {
				client_refuse(cl, RPC_PARSE_ERROR, why);
				return;
			}
			request_run(ctl, cl, req);
			json_object_put(req);
			if (cl->fd < 0) {
				return;
			}
		}
		memmove(cl->buf, nl + 1, cl->len - len - 1);
		cl->len -= len + 1;
		cl->deadline_ms = idm_now_ms() + CTL_IDLE_MS;
	}
}

static void client_input(struct idm_ctl *ctl, struct ctl_client *cl)
{
	ssize_t n = recv(cl->fd, cl->buf + cl->len, CTL_MAX_REQUEST - cl->len, MSG_DONTWAIT);

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			client_close(cl);
		}
		return;
	}
	cl->len += (size_t)n;
	client_lines(ctl, cl);
	if (cl->fd >= 0 && cl->len == CTL_MAX_REQUEST) {
		client_refuse(cl, RPC_INVALID_REQUEST, "request too large");
	}
}

/* ---- the control thread ---- */

static int next_timeout(const struct idm_ctl *ctl, uint64_t now)
{
	uint64_t first = UINT64_MAX;

	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (ctl->clients[i].fd >= 0 && ctl->clients[i].deadline_ms < first) {
			first = ctl->clients[i].deadline_ms;
		}
	}
	if (first == UINT64_MAX) {
		return -1;
	}
	return first <= now ? 0 : (int)(first - now);
}

static void *ctl_main(void *arg)
{
	struct idm_ctl *ctl = arg;
	struct pollfd pfd[2 + CTL_MAX_CLIENTS];
	struct ctl_client *who[2 + CTL_MAX_CLIENTS];

	for (;;) {
		uint64_t now = idm_now_ms();
		unsigned n = 2;

		pfd[0] = (struct pollfd){.fd = ctl->wake_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = ctl->listen_fd, .events = POLLIN};
		for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct ctl_client *cl = &ctl->clients[i];

			if (cl->fd >= 0 && cl->deadline_ms <= now) {
				client_close(cl); /* silent too long */
			} else if (cl->fd >= 0) {
				who[n] = cl;
				pfd[n++] = (struct pollfd){.fd = cl->fd, .events = POLLIN};
			}
		}
		if (poll(pfd, n, next_timeout(ctl, now)) < 0 && errno != EINTR) {
			break;
		}
		if (pfd[0].revents) {
			break;
		}
		if (pfd[1].revents & POLLIN) {
			client_accept(ctl);
		}
		for (unsigned i = 2; i < n; i++) {
			if (pfd[i].revents && who[i]->fd >= 0) {
				client_input(ctl, who[i]);
			}
		}
	}
	return NULL;
}

/* /metrics: the same text as `idmadm stats --prometheus`, taken between
 * two requests (live changes may not run meanwhile). */
static char *metrics_render(void *arg)
{
	struct idm_ctl *ctl = arg;
	char *text;

	pthread_mutex_lock(&ctl->ctx.lock);
	text = tgt_admin_metrics(ctl->ctx.srv);
	pthread_mutex_unlock(&ctl->ctx.lock);
	return text;
}

int idm_ctl_serve(struct idm_ctl *ctl, struct idm_server *srv, const struct idm_ctl_opts *o,
                  char *err, size_t errlen)
{
	int rc;

	if (o->metrics_listen && o->metrics_listen[0]) {
		ctl->ctx.srv = srv;
		rc = tgt_metrics_http_start(o->metrics_listen, metrics_render, ctl, &ctl->metrics,
		                            err, errlen);
		if (rc < 0) {
			return rc;
		}
	}

	ctl->ctx.srv = srv;
	ctl->ctx.version = o->version;
	ctl->ctx.config_path = o->config_path;
	rc = pthread_create(&ctl->thread, NULL, ctl_main, ctl);
	if (rc != 0) {
		return ctl_fail(err, errlen, -rc, "cannot start the control thread", ctl->path);
	}
	ctl->running = true;
	return 0;
}

void idm_ctl_close(struct idm_ctl *ctl)
{
	uint64_t one = 1;

	if (!ctl) {
		return;
	}
	if (ctl->running) {
		ssize_t w = write(ctl->wake_fd, &one, sizeof(one));

		(void)w;
		pthread_join(ctl->thread, NULL);
	}
	tgt_metrics_http_stop(ctl->metrics);
	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
		client_close(&ctl->clients[i]);
	}
	if (ctl->listen_fd >= 0) {
		close(ctl->listen_fd);
	}
	if (ctl->bound) {
		unlink(ctl->path);
	}
	if (ctl->wake_fd >= 0) {
		close(ctl->wake_fd);
	}
	pthread_mutex_destroy(&ctl->ctx.lock);
	free(ctl);
}

int idm_ctl_reload(struct idm_ctl *ctl, const struct idm_target_conf_all *next, char *err,
                   size_t errlen)
{
	int rc;

	pthread_mutex_lock(&ctl->ctx.lock);
	rc = tgt_live_reload(ctl->ctx.srv, next, err, errlen);
	pthread_mutex_unlock(&ctl->ctx.lock);
	return rc;
}
