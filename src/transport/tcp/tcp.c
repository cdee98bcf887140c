/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI over TCP: the transport ops vector, connection setup and
 * teardown, and the listener (IPv4 and IPv6).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/tcp/tcp_priv.h"

#define TCP_LISTEN_BACKLOG 128

/* ---- connections ---- */

static void tcp_name_peer(struct idm_conn *c, int fd);

void tcp_conn_fail(struct tcp_conn *tc, const char *why)
{
	struct idm_conn *c = tc->c;

	if (tc->dead) {
		return;
	}
	IDM_LOG_CONN(c, "%s", why);
	idm_conn_event(c, IDM_CE_TRANSPORT_FAIL);
}

/* Watch for input unless the core stopped it, for output while PDUs wait. */
static void tcp_update_events(struct tcp_conn *tc)
{
	uint32_t ev = (idm_conn_rx_allowed(tc->c) ? EPOLLIN : 0) | (tc->want_out ? EPOLLOUT : 0);

	if (tc->dead || tc->connecting || ev == tc->epoll_events) {
		return;
	}
	if (idm_reactor_mod(tc->c->reactor, &tc->ev, ev) == 0) {
		tc->epoll_events = ev;
	}
}

void tcp_want_out(struct tcp_conn *tc, bool on)
{
	tc->want_out = on;
	tcp_update_events(tc);
}

/* The core stops input while the transmit queue is over its bound: bytes
 * the peer sends stay in the socket (and its window closes) until then. */
static void tcp_rx_flow(struct idm_conn *c, bool on)
{
	struct tcp_conn *tc = tcp_conn_of(c);

	(void)on; /* idm_conn_rx_allowed() says the same */
	if (tc != NULL) {
		tcp_update_events(tc);
	}
}

/* Initiator: the nonblocking connect finished, one way or the other. */
static void tcp_connect_done(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(tc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		err = errno;
	}
	if (err == EINPROGRESS) {
		return;
	}
	tc->connecting = false;
	if (err != 0) {
		IDM_LOG_CONN(c, "connect: %s", strerror(err));
		idm_conn_event(c, IDM_CE_TRANSPORT_FAIL);
		return;
	}
	tcp_name_peer(c, tc->fd);
	tcp_want_out(tc, false);
	idm_conn_event(c, IDM_CE_CONNECT_DONE);
	if (!tc->dead) {
		tcp_flush(tc); /* what was queued while connecting */
	}
}

static void tcp_event(void *arg, uint32_t events)
{
	struct tcp_conn *tc = arg;
	struct idm_conn *c = tc->c;

	idm_conn_hold(c);
	if (tc->connecting) {
		tcp_connect_done(tc);
		idm_conn_release(c);
		return;
	}
	if (events & EPOLLERR) {
		tcp_conn_fail(tc, "socket error");
	}
	if (!tc->dead && (events & EPOLLHUP) && !idm_conn_rx_allowed(c)) {
		/* input is stopped, so nobody would read the end: fail now */
		tcp_conn_fail(tc, "connection closed by peer");
	}
	if (!tc->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))) {
		tcp_rx_ready(tc);
	}
	if (!tc->dead && (events & EPOLLOUT)) {
		tcp_flush(tc);
	}
	idm_conn_release(c);
}

static void tcp_name_peer(struct idm_conn *c, int fd)
{
	socklen_t len = sizeof(c->peer_addr);
	char host[64] = "?", port[16] = "?";

	if (getpeername(fd, (struct sockaddr *)&c->peer_addr, &len) == 0) {
		getnameinfo((struct sockaddr *)&c->peer_addr, len, host, sizeof(host), port,
		            sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	}
	len = sizeof(c->local_addr);
	getsockname(fd, (struct sockaddr *)&c->local_addr, &len);
	if (c->peer_addr.ss_family == AF_INET6) {
		snprintf(c->peer_name, sizeof(c->peer_name), "[%s]:%s", host, port);
	} else if (c->peer_addr.ss_family == AF_INET) {
		snprintf(c->peer_name, sizeof(c->peer_name), "%s:%s", host, port);
	} else {
		snprintf(c->peer_name, sizeof(c->peer_name), "fd%d", fd);
	}
}

/* Nonblocking, no Nagle: PDUs leave as soon as a flush writes them. */
static int tcp_socket_setup(int fd)
{
	int one = 1;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		return -errno;
	}
	/* fails harmlessly on a socketpair (tests) */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static struct tcp_conn *tcp_conn_new(struct idm_conn *c, int fd)
{
	struct tcp_conn *tc = calloc(1, sizeof(*tc));

	if (tc == NULL) {
		return NULL;
	}
	tc->c = c;
	tc->fd = fd;
	tc->ev = (struct idm_event_handler){.fd = fd, .fn = tcp_event, .arg = tc};
	tc->flush.fn = tcp_flush_deferred;
	tc->epoll_events = EPOLLIN;
	tcp_rx_reset(tc);
	return tc;
}

int idm_tcp_conn_adopt(struct idm_conn *c, int fd)
{
	struct tcp_conn *tc;
	int rc = tcp_socket_setup(fd);

	if (rc != 0) {
		return rc;
	}
	tc = tcp_conn_new(c, fd);
	if (tc == NULL) {
		return -ENOMEM;
	}
	rc = idm_reactor_add(c->reactor, &tc->ev, tc->epoll_events);
	if (rc != 0) {
		free(tc);
		return rc;
	}
	c->transport_priv = tc;
	tcp_name_peer(c, fd);
	return 0;
}

/* Initiator: a socket for `peer`; conn_connect starts the connect. */
static int tcp_ini_conn_create(struct idm_conn *c, const struct sockaddr *peer, socklen_t len)
{
	struct tcp_conn *tc;
	int fd;

	if (len > sizeof(c->peer_addr)) {
		return -EINVAL;
	}
	fd = socket(peer->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	tcp_socket_setup(fd);
	tc = tcp_conn_new(c, fd);
	if (tc == NULL) {
		close(fd);
		return -ENOMEM;
	}
	memcpy(&c->peer_addr, peer, len);
	tc->peer_len = len;
	c->transport_priv = tc;
	return 0;
}

static int tcp_conn_connect(struct idm_conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);
	int rc;

	if (tc == NULL) {
		return -ENOTCONN;
	}
	rc = connect(tc->fd, (struct sockaddr *)&c->peer_addr, tc->peer_len);
	if (rc < 0 && errno != EINPROGRESS) {
		return -errno;
	}
	tc->connecting = true;
	tc->epoll_events = EPOLLOUT;
	/* completion (even an immediate one) is seen as writability */
	return idm_reactor_add(c->reactor, &tc->ev, tc->epoll_events);
}

/* Stop all I/O: unwatch and close the socket, fail what is queued. */
static void tcp_conn_disconnect(struct idm_conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);

	if (tc == NULL || tc->dead) {
		return;
	}
	/* best effort: a Reject or final response already queued still leaves */
	tcp_flush(tc);
	tc->dead = true;
	idm_reactor_del(c->reactor, &tc->ev);
	close(tc->fd);
	tc->fd = -1;
	if (tc->rx.task) {
		idm_rx_abandon(&tc->rx);
	}
	tcp_tx_drop_all(tc, -ECONNRESET);
}

static void tcp_conn_destroy(struct idm_conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);

	if (tc == NULL) {
		return;
	}
	tcp_conn_disconnect(c);
	if (tc->rx_buf) {
		idm_buf_put(c->reactor, tc->rx_buf, tc->rx_buf_cap);
	}
	free(tc);
	c->transport_priv = NULL;
}

/* Login is over: digests as negotiated from the next PDU on. */
static int tcp_enable_datamover(struct idm_conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);

	if (tc == NULL) {
		return -ENOTCONN;
	}
	tc->hdigest = c->params.header_digest;
	tc->ddigest = c->params.data_digest;
	c->ffp = true;
	return 0;
}

/* ---- listener ---- */

/*
 * Out of descriptors (EMFILE, ENFILE) accept4 fails and leaves the
 * connection queued, so the listener stays readable: returning would spin
 * the reactor. The listener keeps one spare descriptor; at EMFILE it gives
 * the spare up, accepts the connection, closes it at once (the initiator
 * sees the close and may try another portal or later) and takes the spare
 * back. Without a spare (ENFILE: the whole system is out) it stops
 * listening for TCP_ACCEPT_PAUSE_MS. Either is logged rate limited.
 */
#define TCP_ACCEPT_PAUSE_MS 1000u

struct tcp_listener {
	struct idm_event_handler ev;
	struct idm_svc *svc;
	int fd;
	int spare_fd; /* /dev/null, or -1 */
	bool paused;  /* out of epoll until `resume` fires */
	struct idm_timer resume;
	uint64_t refused; /* connections closed for want of descriptors */
	struct idm_log_limit log_limit;
};

static int tcp_listen_socket(struct idm_svc *svc)
{
	struct sockaddr *sa = (struct sockaddr *)&svc->req.addr;
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, sa, svc->req.addrlen) < 0 || listen(fd, TCP_LISTEN_BACKLOG) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	/* with port 0 the kernel picked one: record it */
	svc->req.addrlen = sizeof(svc->req.addr);
	getsockname(fd, sa, &svc->req.addrlen);
	return fd;
}

static int tcp_adopt_cb(struct idm_conn *c, void *transport_conn)
{
	return idm_tcp_conn_adopt(c, (int)(intptr_t)transport_conn);
}

static void tcp_drop_cb(void *transport_conn)
{
	close((int)(intptr_t)transport_conn);
}

static void tcp_spare_take(struct tcp_listener *l)
{
	if (l->spare_fd < 0) {
		l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
}

static void tcp_accept_resume(struct idm_timer *t)
{
	struct tcp_listener *l =
	    (struct tcp_listener *)((char *)t - offsetof(struct tcp_listener, resume));

	tcp_spare_take(l);
	if (idm_reactor_add(l->svc->req.reactors[0], &l->ev, EPOLLIN) == 0) {
		l->paused = false;
		return;
	}
	idm_timer_arm(l->svc->req.reactors[0], t, TCP_ACCEPT_PAUSE_MS);
}

static void tcp_accept_pause(struct tcp_listener *l)
{
	idm_reactor_del(l->svc->req.reactors[0], &l->ev);
	l->paused = true;
	l->resume.fn = tcp_accept_resume;
	idm_timer_arm(l->svc->req.reactors[0], &l->resume, TCP_ACCEPT_PAUSE_MS);
}

/*
 * accept4 failed with EMFILE or ENFILE (`err`); Linux says so before it
 * looks at the queue, so there may be nothing waiting. True when a waiting
 * connection was taken off the queue and closed (look for more), false
 * when the queue is empty or the listener paused.
 */
static bool tcp_accept_starved(struct tcp_listener *l, int err)
{
	uint32_t summary;
	int fd = -1, fd_err = err;

	if (l->spare_fd >= 0) {
		close(l->spare_fd);
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		fd_err = errno;
		if (fd >= 0) {
			close(fd);
		}
		l->spare_fd = -1;
		tcp_spare_take(l);
	}
	if (fd < 0 && (fd_err == EAGAIN || fd_err == EWOULDBLOCK)) {
		return false; /* nothing was waiting */
	}
	if (fd < 0 && fd_err == ECONNABORTED) {
		return true; /* that one gave up; there may be more */
	}
	l->refused++;
	if (idm_log_limit_admit(&l->log_limit, idm_now_ms(), &summary)) {
		idm_log("tcp", "%s: accept: %s: %s (%llu so far)", l->svc->name, strerror(err),
		        fd >= 0 ? "connection closed at once" : "not listening for a second",
		        (unsigned long long)l->refused);
	}
	if (fd < 0) {
		tcp_accept_pause(l);
	}
	return fd >= 0;
}

static void tcp_accept_ready(void *arg, uint32_t events)
{
	struct tcp_listener *l = arg;

	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			if (err == EINTR || err == ECONNABORTED) {
				continue;
			}
			if ((err == EMFILE || err == ENFILE) && tcp_accept_starved(l, err)) {
				continue;
			}
			if (err != EAGAIN && err != EWOULDBLOCK && err != EMFILE && err != ENFILE) {
				idm_log("tcp", "%s: accept: %s", l->svc->name, strerror(err));
			}
			return;
		}
		idm_svc_dispatch(l->svc, (void *)(intptr_t)fd, tcp_adopt_cb, tcp_drop_cb);
	}
}

static int tcp_svc_create(struct idm_svc *svc)
{
	struct tcp_listener *l = calloc(1, sizeof(*l));
	int fd;

	if (l == NULL) {
		return -ENOMEM;
	}
	fd = tcp_listen_socket(svc);
	if (fd < 0) {
		free(l);
		return fd;
	}
	l->fd = fd;
	l->spare_fd = -1;
	tcp_spare_take(l);
	l->svc = svc;
	l->ev = (struct idm_event_handler){.fd = fd, .fn = tcp_accept_ready, .arg = l};
	svc->transport_priv = l;
	return 0;
}

static int tcp_svc_online(struct idm_svc *svc)
{
	struct tcp_listener *l = svc->transport_priv;

	return idm_reactor_add(svc->req.reactors[0], &l->ev, EPOLLIN);
}

static void tcp_svc_offline(struct idm_svc *svc)
{
	struct tcp_listener *l = svc->transport_priv;

	if (l->paused) {
		idm_timer_cancel(svc->req.reactors[0], &l->resume);
		l->paused = false;
		return;
	}
	idm_reactor_del(svc->req.reactors[0], &l->ev);
}

static void tcp_svc_destroy(struct idm_svc *svc)
{
	struct tcp_listener *l = svc->transport_priv;

	if (l) {
		close(l->fd);
		if (l->spare_fd >= 0) {
			close(l->spare_fd);
		}
		free(l);
		svc->transport_priv = NULL;
	}
}

static const struct idm_transport_ops tcp_ops = {
    .tx_pdu = tcp_tx_pdu,
    .buf_tx_to_ini = tcp_buf_tx_to_ini,
    .buf_rx_from_ini = tcp_buf_rx_from_ini,
    .data_out_placed = tcp_rx_progress,
    .enable_datamover = tcp_enable_datamover,
    .rx_flow = tcp_rx_flow,
    .svc_create = tcp_svc_create,
    .svc_online = tcp_svc_online,
    .svc_offline = tcp_svc_offline,
    .svc_destroy = tcp_svc_destroy,
    .ini_conn_create = tcp_ini_conn_create,
    .conn_connect = tcp_conn_connect,
    .conn_disconnect = tcp_conn_disconnect,
    .conn_destroy = tcp_conn_destroy,
};

static const struct idm_transport_caps tcp_caps = {
    .data_in_status = true,
    .digests = true,
    .rdma = false,
};

const struct idm_transport idm_tcp_transport = {
    .name = "tcp",
    .ops = &tcp_ops,
    .caps = &tcp_caps,
    .task_priv_size = sizeof(struct tcp_task),
};
