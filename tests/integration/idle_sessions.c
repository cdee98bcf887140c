/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idle_sessions: log in N Normal sessions (one connection each) and keep
 * them idle, for measuring what an idle session costs the target (issue 8).
 *
 *   idle_sessions -p ADDR:PORT -t IQN [-n N] [-i PREFIX]
 *
 * Each session logs in with InitiatorName PREFIX:N (its own name, so a
 * per-initiator session limit does not apply), runs one TEST UNIT READY
 * (the login helper settles the unit attention), then stays idle. Once all
 * N are in, prints "logged-in N" on stdout and waits until stdin reaches
 * end of file (or SIGTERM/SIGINT), then closes every connection.
 * Exit 0 when all N logged in; else 1, with the first failure on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rawiscsi.h"

#define DEFAULT_SESSIONS 1000
#define FD_MARGIN 16 /* stdio and the like */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Room for n sockets: the soft open-file limit raised as far as needed. */
static int raise_fd_limit(unsigned n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return -errno;
	}
	if (rl.rlim_cur >= n + FD_MARGIN) {
		return 0;
	}
	if (rl.rlim_max < n + FD_MARGIN) {
		return -EMFILE;
	}
	rl.rlim_cur = n + FD_MARGIN;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : -errno;
}

/* Log in conns[0..n); the count that did. */
static unsigned login_all(struct conn *conns, unsigned n, struct options *o, const char *prefix)
{
	char name[224], why[200];
	unsigned i;

	for (i = 0; i < n && !stop; i++) {
		snprintf(name, sizeof(name), "%s:%u", prefix, i);
		o->initiator = name;
		if (!conn_open(&conns[i], o)) {
			int err = conns[i].fd < 0 ? -conns[i].fd : ENOMEM;

			fprintf(stderr, "session %u: connect: %s\n", i, strerror(err));
			conn_close(&conns[i]);
			break;
		}
		if (login(&conns[i], o, false, why, sizeof(why)) != 0) {
			fprintf(stderr, "session %u: %s\n", i, why);
			conn_close(&conns[i]);
			break;
		}
		/* the receive buffer is not needed while idle */
		free(conns[i].rx);
		conns[i].rx = NULL;
	}
	o->initiator = NULL;
	return i;
}

static void wait_for_eof(void)
{
	char buf[64];

	while (!stop) {
		ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

		if (r == 0 || (r < 0 && errno != EINTR)) {
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct options o = {.host = NULL};
	const char *prefix = "iqn.2026-11.org.idm:idle";
	unsigned n = DEFAULT_SESSIONS, done;
	struct sigaction sa = {.sa_handler = on_signal};
	struct conn *conns;
	int opt, rc;

	while ((opt = getopt(argc, argv, "p:t:n:i:")) != -1) {
		if (opt == 'n') {
			n = (unsigned)strtoul(optarg, NULL, 10);
		} else if (opt == 'i') {
			prefix = optarg;
		} else if (!common_option(opt, optarg, &o)) {
			fprintf(stderr, "usage: %s -p ADDR:PORT -t IQN [-n N] [-i PREFIX]\n",
			        argv[0]);
			return 2;
		}
	}
	if (o.host == NULL || o.iqn == NULL || n == 0) {
		fprintf(stderr, "%s: -p, -t and N > 0 are needed\n", argv[0]);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = raise_fd_limit(n);
	if (rc != 0) {
		fprintf(stderr, "cannot open %u sockets: %s\n", n, strerror(-rc));
		return 1;
	}
	conns = calloc(n, sizeof(*conns));
	if (conns == NULL) {
		return 1;
	}
	done = login_all(conns, n, &o, prefix);
	if (done == n) {
		printf("logged-in %u\n", n);
		fflush(stdout);
		wait_for_eof();
	}
	for (unsigned i = 0; i < done; i++) {
		conn_close(&conns[i]);
	}
	free(conns);
	return done == n ? 0 : 1;
}
