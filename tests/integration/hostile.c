/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hostile: a raw-socket iSCSI initiator (no libiscsi) that misbehaves on
 * purpose, and a well-behaved one that must not notice.
 *
 *   hostile -p ADDR:PORT -t IQN [-l LUN] [-d] -m hostile|digest
 *   hostile -p ADDR:PORT -t IQN -m flood-prelogin|flood-ffp -s SECONDS -T STALL_S
 *
 * -m hostile: while a well-behaved session (a thread) keeps writing and
 *   reading back verified data, other connections send a malformed BHS, an
 *   unknown opcode, a data segment over the negotiated maximum, garbage login
 *   text (no '=', binary junk, 64 KiB) and cut a connection in the middle of a
 *   Data-Out. Each must get a Reject, a failed Login Response, or a closed
 *   connection -- never a hang (every receive has a timeout).
 * -m digest: log in with HeaderDigest=CRC32C and DataDigest=CRC32C (CRC32C by
 *   ISA-L), WRITE(10) with immediate data + R2T/Data-Out, READ(10), compare;
 *   then a PDU with a wrong data digest must not be executed.
 * -d: the well-behaved session of -m hostile uses digests too.
 * -m flood-prelogin / flood-ffp: a peer with a small receive buffer that
 *   never reads floods the target for up to -s seconds, before login with
 *   reserved-opcode headers, after login with those, NOP-Out pings (1 KiB of
 *   data each) and TEST UNIT READYs. The target must drop it: before login at
 *   once or after its stall timeout (-T), after login after the stall timeout
 *   (not sooner).
 * Exit 0 when every check passed; one "ok"/"FAIL" line per check.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "rawiscsi.h"

/*
 * After a hostile PDU the target may answer with a Reject, a failed Login
 * Response, or close the connection. Wait for one of those; a timeout is a
 * hang, and anything else (a success) is wrong.
 */
static void expect_refusal(struct conn *c, const char *check)
{
	struct pdu p;
	char why[96];
	int rc, i;

	for (i = 0; i < 16; i++) {
		rc = recv_pdu(c, &p);
		if (rc == -ETIMEDOUT)
			return report(check, false, "no answer and connection still open (hang)");
		if (rc)
			return report(check, true, "connection closed");
		switch (p.bhs[0] & OP_MASK) {
		case OP_REJECT:
			snprintf(why, sizeof(why), "Reject reason 0x%02x", p.bhs[2]);
			return report(check, true, why);
		case OP_LOGIN_RSP:
			snprintf(why, sizeof(why), "Login Response status 0x%02x%02x", p.bhs[36],
				 p.bhs[37]);
			return report(check, p.bhs[36] != 0, why);
		case OP_NOP_IN:
			answer_nop_in(c, &p);
			continue;
		default:
			snprintf(why, sizeof(why), "unexpected answer opcode 0x%02x", p.bhs[0]);
			return report(check, false, why);
		}
	}
	report(check, false, "only NOP-Ins");
}

/* Open and log in a connection for a hostile case; false (reported) on failure. */
static bool hostile_login(struct conn *c, const struct options *o, const char *check)
{
	char why[160] = "";

	if (!conn_open(c, o) || login(c, o, false, why, sizeof(why)) != 0) {
		report(check, false, why[0] ? why : "cannot connect");
		conn_close(c);
		return false;
	}
	return true;
}

/*
 * A BHS with a reserved opcode and absurd lengths: the whole (junk) AHS it
 * announces follows, so the target has every header byte; the 16 MiB data
 * segment, far over the negotiated maximum, never comes.
 */
static void case_malformed_bhs(const struct options *o)
{
	uint8_t bhs[BHS_LEN], ahs[255 * 4];
	struct conn c;
	size_t i;

	if (!hostile_login(&c, o, "malformed-bhs"))
		return;
	for (i = 0; i < BHS_LEN; i++)
		bhs[i] = (uint8_t)(0xa5 ^ (i * 37));
	bhs[0] = 0x0f;          /* reserved initiator opcode */
	bhs[4] = 0xff;          /* TotalAHSLength: 1020 bytes, sent (junk) */
	bhs[5] = bhs[6] = bhs[7] = 0xff; /* DataSegmentLength 16 MiB - 1: never sent */
	memset(ahs, 0xa5, sizeof(ahs));
	if (send_all(c.fd, bhs, BHS_LEN) == 0)
		send_all(c.fd, ahs, sizeof(ahs));
	expect_refusal(&c, "malformed-bhs");
	conn_close(&c);
}

/* A well-formed BHS with an opcode no initiator may send; then a NOP ping. */
static void case_unknown_opcode(const struct options *o)
{
	uint8_t bhs[BHS_LEN] = {0};
	struct conn c;

	if (!hostile_login(&c, o, "unknown-opcode"))
		return;
	bhs[0] = 0x0b | OP_IMMEDIATE;
	bhs[1] = 0x80;
	put_be32(bhs + 16, c.next_itt++);
	put_be32(bhs + 24, c.cmdsn);
	put_be32(bhs + 28, c.expstatsn);
	send_pdu(&c, bhs, NULL, 0);
	expect_refusal(&c, "unknown-opcode");
	conn_close(&c);
}

/* A NOP-Out whose data segment is twice what the target declared it receives. */
static void case_oversized_segment(const struct options *o)
{
	uint8_t bhs[BHS_LEN] = {0}, *junk;
	uint32_t len;
	struct conn c;

	if (!hostile_login(&c, o, "oversized-segment"))
		return;
	len = 2 * c.peer_max_recv_dsl;
	junk = calloc(1, len);
	if (junk) {
		bhs[0] = OP_NOP_OUT | OP_IMMEDIATE;
		bhs[1] = 0x80;
		put_be32(bhs + 16, c.next_itt++);
		put_be32(bhs + 20, 0xffffffffu);
		put_be32(bhs + 24, c.cmdsn);
		put_be32(bhs + 28, c.expstatsn);
		send_pdu(&c, bhs, junk, len);
		expect_refusal(&c, "oversized-segment");
	} else {
		report("oversized-segment", false, "out of memory");
	}
	free(junk);
	conn_close(&c);
}

/* A first Login Request carrying `text`; it must fail or be cut. */
static void case_login_text(const struct options *o, const char *check, const void *text,
			    uint32_t len)
{
	uint8_t bhs[BHS_LEN];
	struct conn c;

	if (!conn_open(&c, o)) {
		report(check, false, "cannot connect");
		conn_close(&c);
		return;
	}
	login_bhs(&c, bhs);
	send_pdu(&c, bhs, text, len);
	expect_refusal(&c, check);
	conn_close(&c);
}

/* Login text without '=', binary junk, and 64 KiB of text. */
static void case_login_garbage(const struct options *o)
{
	static const char no_equals[] = "InitiatorName=iqn.2026-11.org.idm:hostile\0"
					"SessionType=Normal\0ThisKeyHasNoValue\0";
	uint32_t big = 64 * 1024, i;
	uint8_t *buf = malloc(big);

	case_login_text(o, "login-no-equals", no_equals, sizeof(no_equals));
	if (!buf) {
		report("login-garbage", false, "out of memory");
		return;
	}
	fill_pattern(buf, 4096, 7);
	case_login_text(o, "login-binary-junk", buf, 4096);
	for (i = 0; i < big; i++)
		buf[i] = (uint8_t)((i % 64 == 63) ? 0 : 'a' + i % 26);
	memcpy(buf, "X-idm-big=", 10);
	buf[big - 1] = 0;
	case_login_text(o, "login-64KiB-text", buf, big);
	free(buf);
}

/* A WRITE whose Data-Out is cut off mid-segment by closing the connection. */
static void case_cut_data_out(const struct options *o)
{
	uint8_t bhs[BHS_LEN], cdb[10], data[1000] = {0};
	uint32_t itt, len = IO_BYTES;
	struct conn c;
	struct pdu p;
	int rc;

	if (!hostile_login(&c, o, "cut-data-out"))
		return;
	itt = c.next_itt++;
	cdb10(cdb, 0x2a, 4096, (uint16_t)(len / 512));
	scsi_bhs(&c, o, bhs, cdb, true, len, itt);
	rc = send_pdu(&c, bhs, NULL, 0);
	do {
		rc = rc ? rc : recv_pdu(&c, &p);
	} while (!rc && (p.bhs[0] & OP_MASK) == OP_NOP_IN);
	if (rc || (p.bhs[0] & OP_MASK) != OP_R2T) {
		report("cut-data-out", false, rc ? strerror(-rc) : "no R2T for the write");
		conn_close(&c);
		return;
	}
	memset(bhs, 0, BHS_LEN);
	bhs[0] = OP_DATA_OUT;
	bhs[9] = (uint8_t)o->lun;
	put_be32(bhs + 16, itt);
	memcpy(bhs + 20, p.bhs + 20, 4);
	put_be32(bhs + 28, c.expstatsn);
	bhs[6] = 0x40; /* DataSegmentLength 16 KiB, of which only 1000 bytes follow */
	send_all(c.fd, bhs, BHS_LEN);
	send_all(c.fd, data, sizeof(data));
	conn_close(&c);
	report("cut-data-out", true, "connection cut after 1000 of 16384 bytes");
}

/* Every hostile case while a good session runs; its I/O must stay correct. */
static void run_hostile(const struct options *o)
{
	struct good_session g = {.o = o};
	struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
	pthread_t th;
	int i;

	if (pthread_create(&th, NULL, good_session_main, &g) != 0) {
		report("good-session", false, "no thread");
		return;
	}
	/* let the good session log in and complete a round before the attacks */
	for (i = 0; i < 1000 && !atomic_load(&g.rounds) && !atomic_load(&g.error); i++)
		nanosleep(&tick, NULL);
	case_malformed_bhs(o);
	case_unknown_opcode(o);
	case_oversized_segment(o);
	case_login_garbage(o);
	case_cut_data_out(o);
	case_malformed_bhs(o);
	good_session_finish(&g, th);
}

/* A WRITE(10) with immediate data and a wrong data digest must not succeed. */
static void case_bad_data_digest(struct conn *c, const struct options *o)
{
	uint8_t bhs[BHS_LEN], cdb[10], data[4096] = {0};
	uint8_t trailer[4] = {0xde, 0xad, 0xbe, 0xef};
	uint8_t dig[4];
	struct pdu p;
	int rc;

	cdb10(cdb, 0x2a, 8192, sizeof(data) / 512);
	scsi_bhs(c, o, bhs, cdb, true, sizeof(data), c->next_itt++);
	bhs[5] = 0;
	bhs[6] = sizeof(data) >> 8;
	bhs[7] = 0;
	put_digest(dig, crc32c(bhs, BHS_LEN));
	rc = send_all(c->fd, bhs, BHS_LEN);
	rc = rc ? rc : send_all(c->fd, dig, 4);
	rc = rc ? rc : send_all(c->fd, data, sizeof(data));
	rc = rc ? rc : send_all(c->fd, trailer, 4);
	if (rc)
		return report("bad-data-digest", true, "connection closed");
	rc = recv_pdu(c, &p);
	if (rc == -ETIMEDOUT)
		return report("bad-data-digest", false, "no answer (hang)");
	if (rc)
		return report("bad-data-digest", true, "connection closed");
	if ((p.bhs[0] & OP_MASK) == OP_REJECT)
		return report("bad-data-digest", true, "Reject");
	if ((p.bhs[0] & OP_MASK) == OP_SCSI_RSP && (p.bhs[2] || p.bhs[3]))
		return report("bad-data-digest", true, "SCSI Response with an error");
	report("bad-data-digest", false, "the command with a bad data digest succeeded");
}

/* One verified write+read of `len` bytes, reported as `check`. */
static void check_write_read(struct conn *c, const struct options *o, const char *check,
			     uint32_t len)
{
	char why[160] = "";
	bool ok = write_read_verify(c, o, 0, len, len, why, sizeof(why)) == 0;

	report(check, ok, ok ? NULL : why);
}

/* Digest mode: CRC32C login, verified write+read, then a bad data digest. */
static void run_digest(const struct options *o)
{
	char why[160] = "";
	struct conn c;

	if (!conn_open(&c, o) || login(&c, o, true, why, sizeof(why)) != 0) {
		report("digest-login", false, why[0] ? why : "cannot connect");
		conn_close(&c);
		return;
	}
	report("digest-login", c.hdigest && c.ddigest,
	       c.hdigest && c.ddigest ? NULL : "target did not accept CRC32C digests");
	if (c.hdigest && c.ddigest) {
		printf("     target MaxRecvDataSegmentLength=%u ImmediateData=%s\n",
		       c.peer_max_recv_dsl, c.immediate_data ? "Yes" : "No");
		check_write_read(&c, o, "digest-write-read-64KiB", 64 * 1024);
		check_write_read(&c, o, "digest-write-read-256KiB", IO_BYTES);
		check_write_read(&c, o, "digest-write-read-1MiB-r2t", 1024 * 1024);
		case_bad_data_digest(&c, o);
	}
	conn_close(&c);
}

/* ---- a peer that never reads ---- */

#define FLOOD_RCVBUF 4096
#define FLOOD_PING_BYTES 1024u
#define FLOOD_BATCH 16384u
#define FLOOD_SLACK_MS 4000 /* stall tick (1 s) + scheduling, ASan, a loaded CI */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The i-th PDU of the flood: reserved opcodes only before login. */
static size_t flood_pdu(struct conn *c, const struct options *o, bool ffp, unsigned i,
			uint8_t *pdu)
{
	uint8_t *bhs = pdu, cdb[10] = {0};
	uint32_t dlen = 0;

	memset(bhs, 0, BHS_LEN);
	put_be32(bhs + 24, c->cmdsn); /* immediate PDUs: CmdSN does not advance */
	put_be32(bhs + 28, c->expstatsn);
	switch (ffp ? i % 4 : 0) {
	case 0: /* an opcode no initiator may send: a Reject, or the end */
		bhs[0] = (uint8_t)(OP_IMMEDIATE | (0x07 + i % 9));
		bhs[1] = 0x80;
		put_be32(bhs + 16, c->next_itt++);
		break;
	case 1:
	case 3: /* a ping the target answers with a NOP-In echoing the data */
		bhs[0] = OP_NOP_OUT | OP_IMMEDIATE;
		bhs[1] = 0x80;
		put_be32(bhs + 16, c->next_itt++);
		put_be32(bhs + 20, 0xffffffffu);
		dlen = FLOOD_PING_BYTES;
		memset(bhs + BHS_LEN, 0x5a, dlen);
		break;
	case 2: /* a command: its response queues too, until the window closes */
		scsi_bhs(c, o, bhs, cdb, false, 0, c->next_itt++);
		bhs[1] = 0x80 | 1;
		break;
	}
	bhs[5] = (uint8_t)(dlen >> 16);
	bhs[6] = (uint8_t)(dlen >> 8);
	bhs[7] = (uint8_t)dlen;
	return BHS_LEN + dlen;
}

/* What a flood saw, in milliseconds from its start. */
struct flood_result {
	unsigned long pdus; /* PDUs sent (the last one maybe in part) */
	long last_accepted; /* the last send() that took bytes */
	long dropped;       /* send() failed: the target closed; -1: still open */
};

/*
 * Send PDUs and never read, for up to `secs` seconds or until the target
 * closes the connection. Once the target stops reading, the sockets' buffers
 * fill and send() takes nothing more: `last_accepted` approximates that.
 */
static void flood(struct conn *c, const struct options *o, bool ffp, unsigned secs,
		  struct flood_result *r)
{
	struct timeval tv = {.tv_usec = 100 * 1000};
	uint8_t batch[FLOOD_BATCH + BHS_LEN + FLOOD_PING_BYTES];
	uint64_t start = now_ms();
	unsigned long i = 0;

	r->dropped = -1;
	/* a short send timeout, so a target that stopped reading is noticed */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (now_ms() - start < secs * 1000ull && r->dropped < 0) {
		size_t len = 0, off = 0;

		/* many PDUs per send(), so the flood is as fast as the target reads */
		while (len < FLOOD_BATCH)
			len += flood_pdu(c, o, ffp, (unsigned)i++, batch + len);
		while (off < len && now_ms() - start < secs * 1000ull) {
			ssize_t n = send(c->fd, batch + off, len - off, MSG_NOSIGNAL);

			if (n > 0) {
				off += (size_t)n;
				r->last_accepted = (long)(now_ms() - start);
			} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR) {
				r->dropped = (long)(now_ms() - start);
				break;
			}
		}
	}
	r->pdus = i;
}

/*
 * The target must close a flooder: after login not before the stall timeout
 * (the flooder did read the login), and never later than the stall timeout
 * after the flooder's bytes stopped being taken (the target's queue stopped
 * draining no later than that).
 */
static bool flood_dropped_in_time(const struct flood_result *r, bool ffp, long stall_ms)
{
	if (r->dropped < 0 || r->dropped - r->last_accepted > stall_ms + FLOOD_SLACK_MS)
		return false;
	return !ffp || r->dropped >= stall_ms - 500;
}

/* A flooding peer that never reads, for up to `secs` seconds; see the top. */
static void run_flood(const struct options *o, bool ffp, unsigned secs, unsigned stall_s)
{
	const char *check = ffp ? "flood-ffp" : "flood-prelogin";
	long stall_ms = (long)stall_s * 1000;
	int rcvbuf = FLOOD_RCVBUF;
	struct flood_result r = {0};
	char why[160] = "";
	struct conn c;

	if (!conn_open(&c, o)) {
		report(check, false, "cannot connect");
		conn_close(&c);
		return;
	}
	/* connected already: the window stays at what the handshake offered */
	setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (ffp && login(&c, o, false, why, sizeof(why)) != 0) {
		report(check, false, why);
	} else {
		flood(&c, o, ffp, secs, &r);
		snprintf(why, sizeof(why),
			 "%lu PDUs sent, the last bytes taken at %ld ms, %s at %ld ms "
			 "(stall timeout %ld ms)",
			 r.pdus, r.last_accepted, r.dropped < 0 ? "still open" : "dropped",
			 r.dropped, stall_ms);
		report(check, flood_dropped_in_time(&r, ffp, stall_ms), why);
	}
	conn_close(&c);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s -p ADDR:PORT -t IQN [-l LUN] [-d] -m hostile|digest\n"
		"       %s -p ADDR:PORT -t IQN -m flood-prelogin|flood-ffp -s SECONDS -T STALL_S\n",
		prog, prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct options o = {.mode = "hostile"};
	unsigned flood_s = 0, stall_s = 0;
	int c;

	while ((c = getopt(argc, argv, "p:t:l:dm:s:T:")) != -1) {
		if (common_option(c, optarg, &o))
			continue;
		if (c == 'd')
			o.good_digests = true;
		else if (c == 'm')
			o.mode = optarg;
		else if (c == 's')
			flood_s = (unsigned)atoi(optarg);
		else if (c == 'T')
			stall_s = (unsigned)atoi(optarg);
		else
			usage(argv[0]);
	}
	if (!o.host || !o.iqn || o.lun > 255)
		usage(argv[0]);
	if (strcmp(o.mode, "hostile") == 0)
		run_hostile(&o);
	else if (strcmp(o.mode, "digest") == 0)
		run_digest(&o);
	else if ((strcmp(o.mode, "flood-prelogin") == 0 || strcmp(o.mode, "flood-ffp") == 0) &&
		 flood_s && stall_s)
		run_flood(&o, strcmp(o.mode, "flood-ffp") == 0, flood_s, stall_s);
	else
		usage(argv[0]);
	printf("%s\n", failures ? "FAILED" : "ALL OK");
	return failures ? 1 : 0;
}
