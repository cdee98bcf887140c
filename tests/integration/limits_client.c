/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * limits_client: many sessions and connections against idmd's limits
 * (t_limits.sh, t_churn.sh), with libiscsi as the initiator.
 *
 *   limits_client -p ADDR:PORT -t IQN [-i INITIATOR [-I]] [-d] [-c USER:SECRET] MODE -n N
 *   (-I: every session its own initiator name, INITIATOR:k)
 *   MODE:
 *     limit   log in N sessions (all must succeed), then one more, which must be
 *             refused with Out of resources; then every held session writes and
 *             reads back a block. -d: discovery sessions (no I/O).
 *     hold    log in N sessions, 32 logins in flight at a time; print "held N";
 *             wait for stdin to close (the caller measures idmd meanwhile); do I/O
 *             on the first and last; log 16 out and drop the others' connections;
 *             print "closed".
 *     cycles  N login/logout cycles, one after the other; -d: discovery sessions
 *             (with a SendTargets each), -c: CHAP. Prints the rate.
 *     conns   open N TCP connections from ADDR (-b, default any) without a login,
 *             print how many idmd kept open and how many it closed at once; wait
 *             for stdin to close before closing them.
 * Exit 0 when everything went as the mode expects; one line per failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define DEFAULT_INITIATOR "iqn.2026-11.org.idm:limits"
#define SYNC_TIMEOUT_S 30
#define BLOCK 512
#define HOLD_WINDOW 32 /* logins in flight at once (mode hold) */

struct options {
	const char *portal;
	const char *iqn;
	const char *initiator;
	const char *chap_user;
	const char *chap_secret;
	const char *bind_addr;
	bool discovery;
	bool many_initiators; /* -I: session k is INITIATOR:k */
	unsigned n;
};

static unsigned isid_seq;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A context with a fresh ISID (no two sessions of this process share one:
 * that would be a reinstatement). */
static struct iscsi_context *new_context(const struct options *o)
{
	char name[300];
	struct iscsi_context *ctx;

	if (o->many_initiators) {
		snprintf(name, sizeof(name), "%s:%u", o->initiator, isid_seq);
	} else {
		snprintf(name, sizeof(name), "%s", o->initiator);
	}
	ctx = iscsi_create_context(name);

	if (!ctx) {
		return NULL;
	}
	iscsi_set_timeout(ctx, SYNC_TIMEOUT_S);
	iscsi_set_noautoreconnect(ctx, 1);
	isid_seq++;
	iscsi_set_isid_random(ctx, ((unsigned)getpid() & 0xff) << 16 | (isid_seq >> 16),
	                      isid_seq & 0xffff);
	iscsi_set_session_type(ctx, o->discovery ? ISCSI_SESSION_DISCOVERY : ISCSI_SESSION_NORMAL);
	if (!o->discovery) {
		iscsi_set_targetname(ctx, o->iqn);
	}
	if (o->chap_user) {
		iscsi_set_initiator_username_pwd(ctx, o->chap_user, o->chap_secret);
	}
	return ctx;
}

/* Log a session in; NULL with the reason in `why` on failure. */
static struct iscsi_context *session_open(const struct options *o, char *why, size_t wl)
{
	struct iscsi_context *ctx = new_context(o);
	int rc;

	if (!ctx) {
		snprintf(why, wl, "no context");
		return NULL;
	}
	rc = o->discovery ? iscsi_connect_sync(ctx, o->portal)
	                  : iscsi_full_connect_sync(ctx, o->portal, 0);
	if (rc == 0 && o->discovery) {
		rc = iscsi_login_sync(ctx);
	}
	if (rc != 0) {
		snprintf(why, wl, "%s", iscsi_get_error(ctx));
		iscsi_destroy_context(ctx);
		return NULL;
	}
	return ctx;
}

static void session_close(struct iscsi_context *ctx)
{
	iscsi_logout_sync(ctx);
	iscsi_disconnect(ctx);
	iscsi_destroy_context(ctx);
}

/* Write a block at `lba` and read it back; 0 or -1 with a line printed. */
static int session_io(struct iscsi_context *ctx, uint32_t lba, unsigned seed)
{
	unsigned char out[BLOCK];
	struct scsi_task *t;
	int ok;

	for (unsigned i = 0; i < BLOCK; i++) {
		out[i] = (unsigned char)(seed * 31u + i);
	}
	t = iscsi_write10_sync(ctx, 0, lba, out, BLOCK, BLOCK, 0, 0, 0, 0, 0);
	ok = t && t->status == SCSI_STATUS_GOOD;
	if (t) {
		scsi_free_scsi_task(t);
	}
	if (!ok) {
		printf("FAIL write at %u: %s\n", lba, iscsi_get_error(ctx));
		return -1;
	}
	t = iscsi_read10_sync(ctx, 0, lba, BLOCK, BLOCK, 0, 0, 0, 0, 0);
	ok = t && t->status == SCSI_STATUS_GOOD && t->datain.size == BLOCK &&
	     memcmp(t->datain.data, out, BLOCK) == 0;
	if (t) {
		scsi_free_scsi_task(t);
	}
	if (!ok) {
		printf("FAIL read back at %u: %s\n", lba, iscsi_get_error(ctx));
		return -1;
	}
	return 0;
}

static void wait_stdin_closed(void)
{
	char buf[64];

	while (read(0, buf, sizeof(buf)) > 0) {
	}
}

static struct iscsi_context **sessions_open(const struct options *o, unsigned n, char *why,
                                            size_t wl, unsigned *opened)
{
	struct iscsi_context **s = calloc(n + 1, sizeof(*s));

	*opened = 0;
	for (unsigned i = 0; s && i < n; i++) {
		s[i] = session_open(o, why, wl);
		if (!s[i]) {
			break;
		}
		(*opened)++;
	}
	return s;
}

static void sessions_close(struct iscsi_context **s, unsigned n)
{
	for (unsigned i = 0; s && i < n; i++) {
		session_close(s[i]);
	}
	free(s);
}

static int mode_limit(const struct options *o)
{
	char why[512] = "";
	unsigned opened, failed = 0;
	struct iscsi_context **s = sessions_open(o, o->n, why, sizeof(why), &opened);
	struct iscsi_context *extra;

	if (opened < o->n) {
		printf("FAIL only %u of %u sessions below the limit: %s\n", opened, o->n, why);
		sessions_close(s, opened);
		return 1;
	}
	extra = session_open(o, why, sizeof(why));
	if (extra) {
		printf("FAIL session %u past the limit was admitted\n", o->n + 1);
		session_close(extra);
		failed++;
	} else {
		/* libiscsi names the status: 0x0302 is "Out of resources" */
		printf("refused: %s\n", why);
		if (!strstr(why, "Out of resources") && !strstr(why, "out of resources") &&
		    !strstr(why, "(770)") && !strstr(why, "0x0302")) {
			printf("FAIL refused, but not with Out of resources\n");
			failed++;
		}
	}
	for (unsigned i = 0; !o->discovery && i < opened; i++) {
		failed += session_io(s[i], i, i + 1) != 0;
	}
	printf("held %u sessions, %s\n", opened, o->discovery ? "discovery" : "I/O ok on each");
	sessions_close(s, opened);
	return failed ? 1 : 0;
}

/* One login in flight (mode hold): its context and how it ended. */
struct pending_login {
	struct iscsi_context *ctx;
	int status; /* 1 while in flight, then 0 or the libiscsi status */
};

static void login_done(struct iscsi_context *ctx, int status, void *data, void *arg)
{
	((struct pending_login *)arg)->status = status;
}

/* Poll every login in flight once (up to 1 s); false on a poll error. */
static bool logins_service(struct pending_login *p, unsigned n)
{
	struct pollfd pfd[HOLD_WINDOW];
	unsigned k = 0, idx[HOLD_WINDOW];

	for (unsigned i = 0; i < n; i++) {
		if (p[i].status == 1) {
			pfd[k] = (struct pollfd){.fd = iscsi_get_fd(p[i].ctx),
			                         .events = (short)iscsi_which_events(p[i].ctx)};
			idx[k++] = i;
		}
	}
	if (k == 0) {
		return true;
	}
	if (poll(pfd, k, 1000) < 0) {
		return false;
	}
	for (unsigned j = 0; j < k; j++) {
		if (pfd[j].revents && iscsi_service(p[idx[j]].ctx, pfd[j].revents) < 0) {
			p[idx[j]].status = -1;
		}
	}
	return true;
}

/*
 * Log in `n` sessions, HOLD_WINDOW at a time (one after the other would
 * wait a round trip per PDU: minutes for thousands on a loaded machine).
 * Returns the array (n entries, NULL where a login failed).
 */
static struct iscsi_context **sessions_open_many(const struct options *o, unsigned n, char *why,
                                                 size_t wl, unsigned *opened)
{
	struct iscsi_context **s = calloc(n + 1, sizeof(*s));
	struct pending_login p[HOLD_WINDOW];
	unsigned next = 0;

	*opened = 0;
	while (s && next < n) {
		unsigned batch = n - next < HOLD_WINDOW ? n - next : HOLD_WINDOW, busy = batch;

		for (unsigned i = 0; i < batch; i++) {
			p[i] = (struct pending_login){.ctx = new_context(o), .status = 1};
			if (!p[i].ctx || iscsi_full_connect_async(p[i].ctx, o->portal, 0,
			                                          login_done, &p[i]) != 0) {
				p[i].status = -1;
			}
		}
		for (double t0 = now_s(); busy && now_s() - t0 < SYNC_TIMEOUT_S;) {
			if (!logins_service(p, batch)) {
				break;
			}
			busy = 0;
			for (unsigned i = 0; i < batch; i++) {
				busy += p[i].status == 1;
			}
		}
		for (unsigned i = 0; i < batch; i++) {
			if (p[i].status == 0) {
				s[(*opened)++] = p[i].ctx;
				continue;
			}
			if (p[i].ctx) {
				snprintf(why, wl, "%s", iscsi_get_error(p[i].ctx));
				iscsi_destroy_context(p[i].ctx);
			}
		}
		next += batch;
	}
	return s;
}

static int mode_hold(const struct options *o)
{
	char why[512] = "";
	unsigned opened;
	double t0 = now_s();
	struct iscsi_context **s = sessions_open_many(o, o->n, why, sizeof(why), &opened);
	int rc = 0;

	if (opened < o->n) {
		printf("FAIL only %u of %u sessions: %s\n", opened, o->n, why);
		rc = 1;
	}
	printf("held %u in %.1f s\n", opened, now_s() - t0);
	fflush(stdout);
	wait_stdin_closed();
	if (!o->discovery && opened > 0) {
		rc |= session_io(s[0], 0, 7) != 0;
		rc |= session_io(s[opened - 1], 1, 8) != 0;
	}
	/* the first ones log out, the rest just drop their connections: both
	 * ends of a session, without a round trip each for thousands */
	for (unsigned i = 0; i < opened; i++) {
		if (i < 16) {
			iscsi_logout_sync(s[i]);
		}
		iscsi_destroy_context(s[i]);
	}
	free(s);
	printf("closed\n");
	return rc;
}

static int discovery_once(struct iscsi_context *ctx)
{
	struct iscsi_discovery_address *d = iscsi_discovery_sync(ctx);

	if (!d) {
		printf("FAIL SendTargets: %s\n", iscsi_get_error(ctx));
		return -1;
	}
	iscsi_free_discovery_data(ctx, d);
	return 0;
}

static int mode_cycles(const struct options *o)
{
	char why[512];
	double t0 = now_s();

	for (unsigned i = 0; i < o->n; i++) {
		struct iscsi_context *ctx = session_open(o, why, sizeof(why));

		if (!ctx) {
			printf("FAIL cycle %u: %s\n", i, why);
			return 1;
		}
		if (o->discovery && discovery_once(ctx) < 0) {
			session_close(ctx);
			return 1;
		}
		session_close(ctx);
	}
	printf("%u %s%s cycles in %.1f s\n", o->n, o->discovery ? "discovery" : "normal",
	       o->chap_user ? " CHAP" : "", now_s() - t0);
	return 0;
}

static int dial_from(const struct options *o, const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in from = {.sin_family = AF_INET};

	if (fd < 0) {
		return -1;
	}
	if (o->bind_addr && (inet_pton(AF_INET, o->bind_addr, &from.sin_addr) != 1 ||
	                     bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0)) {
		close(fd);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Closed by the peer: readable with EOF (or reset). */
static bool peer_closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, 0) <= 0) {
		return false;
	}
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static int mode_conns(const struct options *o)
{
	char host[64];
	const char *colon = strrchr(o->portal, ':');
	struct sockaddr_in to = {.sin_family = AF_INET};
	int *fds = calloc(o->n, sizeof(*fds));
	unsigned dialed = 0, open_n = 0, closed = 0;

	if (!fds || !colon || (size_t)(colon - o->portal) >= sizeof(host)) {
		printf("FAIL bad portal %s\n", o->portal);
		return 1;
	}
	memcpy(host, o->portal, (size_t)(colon - o->portal));
	host[colon - o->portal] = '\0';
	to.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
		printf("FAIL bad portal %s\n", o->portal);
		return 1;
	}
	for (unsigned i = 0; i < o->n; i++) {
		fds[i] = dial_from(o, &to);
		dialed += fds[i] >= 0;
	}
	usleep(500 * 1000); /* idmd closes a refused connection at once */
	for (unsigned i = 0; i < o->n; i++) {
		if (fds[i] >= 0 && peer_closed(fds[i])) {
			closed++;
		} else if (fds[i] >= 0) {
			open_n++;
		}
	}
	printf("dialed %u open %u closed %u\n", dialed, open_n, closed);
	fflush(stdout);
	wait_stdin_closed();
	for (unsigned i = 0; i < o->n; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
	free(fds);
	return dialed == o->n ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: limits_client -p ADDR:PORT -t IQN [-i INITIATOR] [-d] "
	                "[-c USER:SECRET] [-b SRCADDR] -n N limit|hold|cycles|conns\n");
}

int main(int argc, char **argv)
{
	struct options o = {.initiator = DEFAULT_INITIATOR};
	static char chap[512];
	int c;

	while ((c = getopt(argc, argv, "p:t:i:Idc:b:n:")) != -1) {
		switch (c) {
		case 'p':
			o.portal = optarg;
			break;
		case 't':
			o.iqn = optarg;
			break;
		case 'i':
			o.initiator = optarg;
			break;
		case 'I':
			o.many_initiators = true;
			break;
		case 'd':
			o.discovery = true;
			break;
		case 'b':
			o.bind_addr = optarg;
			break;
		case 'n':
			o.n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			snprintf(chap, sizeof(chap), "%s", optarg);
			o.chap_secret = strchr(chap, ':');
			if (!o.chap_secret) {
				usage();
				return 2;
			}
			*(char *)o.chap_secret++ = '\0';
			o.chap_user = chap;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc - 1 || !o.portal ||
	    (!o.iqn && !o.discovery && strcmp(argv[optind], "conns"))) {
		usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[optind], "limit") == 0) {
		return mode_limit(&o);
	}
	if (strcmp(argv[optind], "hold") == 0) {
		return mode_hold(&o);
	}
	if (strcmp(argv[optind], "cycles") == 0) {
		return mode_cycles(&o);
	}
	if (strcmp(argv[optind], "conns") == 0) {
		return mode_conns(&o);
	}
	usage();
	return 2;
}
