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
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#include <isa-l/crc.h>

#define BHS_LEN 48
#define RECV_TIMEOUT_S 10
#define OUR_MAX_RECV_DSL 262144u
#define IO_BYTES (256u * 1024u)
#define GOOD_SESSION_MIN_ROUNDS 3

enum {
	OP_NOP_OUT = 0x00,
	OP_SCSI_CMD = 0x01,
	OP_LOGIN_REQ = 0x03,
	OP_DATA_OUT = 0x05,
	OP_LOGOUT_REQ = 0x06,
	OP_NOP_IN = 0x20,
	OP_SCSI_RSP = 0x21,
	OP_LOGIN_RSP = 0x23,
	OP_DATA_IN = 0x25,
	OP_LOGOUT_RSP = 0x26,
	OP_R2T = 0x31,
	OP_REJECT = 0x3f,
	OP_IMMEDIATE = 0x40,
	OP_MASK = 0x3f,
};

/* One TCP connection with its negotiated parameters and sequence numbers. */
struct conn {
	int fd;
	bool hdigest;
	bool ddigest;
	bool want_hdigest;          /* negotiated; in force once login completes */
	bool want_ddigest;
	uint32_t cmdsn;
	uint32_t expstatsn;
	uint32_t next_itt;
	uint16_t isid_qualifier;    /* unique per connection: no session reinstatement */
	uint32_t peer_max_recv_dsl; /* how much we may send in one PDU */
	uint32_t first_burst;
	bool immediate_data;
	uint8_t *rx;                /* receive buffer for one data segment */
};

/* One received PDU: its BHS, and its data segment in conn->rx. */
struct pdu {
	uint8_t bhs[BHS_LEN];
	uint32_t dlen;
};

struct options {
	const char *host;
	const char *port;
	const char *iqn;
	unsigned lun;
	bool good_digests;
	const char *mode;
};

/* Results of the background well-behaved session. */
struct good_session {
	const struct options *o;
	atomic_bool stop;
	atomic_uint rounds;
	atomic_int error;
	char why[160];
};

static int failures;
static atomic_uint isid_seq; /* source of unique ISID qualifiers */

/* Print one check's result and count failures. */
static void report(const char *check, bool ok, const char *why)
{
	printf("%-4s %s%s%s\n", ok ? "ok" : "FAIL", check, why ? ": " : "", why ? why : "");
	fflush(stdout);
	if (!ok)
		failures++;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* iSCSI digest (RFC 7143 13.1): CRC32C, sent least significant byte first. */
static uint32_t crc32c(const void *buf, size_t len)
{
	return crc32_iscsi((unsigned char *)buf, (int)len, 0xffffffffu) ^ 0xffffffffu;
}

static void put_digest(uint8_t *p, uint32_t crc)
{
	p[0] = (uint8_t)crc;
	p[1] = (uint8_t)(crc >> 8);
	p[2] = (uint8_t)(crc >> 16);
	p[3] = (uint8_t)(crc >> 24);
}

static uint32_t get_digest(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Connect to the portal with send/receive timeouts; returns the fd or -errno. */
static int dial(const struct options *o)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
	int fd, one = 1, rc;

	rc = getaddrinfo(o->host, o->port, &hints, &ai);
	if (rc)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Send all of `len` bytes; 0 or -errno (a peer that closed gives -EPIPE). */
static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receive exactly `len` bytes; 0, -ECONNRESET on EOF, -ETIMEDOUT, or -errno. */
static int recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send a BHS and its data segment, with padding and digests as negotiated. */
static int send_pdu(struct conn *c, uint8_t *bhs, const void *data, uint32_t dlen)
{
	static const uint8_t zeros[4];
	uint8_t dig[4];
	uint32_t pad = (4 - (dlen & 3)) & 3, crc;
	int rc;

	bhs[5] = (uint8_t)(dlen >> 16);
	bhs[6] = (uint8_t)(dlen >> 8);
	bhs[7] = (uint8_t)dlen;
	rc = send_all(c->fd, bhs, BHS_LEN);
	if (!rc && c->hdigest) {
		put_digest(dig, crc32c(bhs, BHS_LEN));
		rc = send_all(c->fd, dig, 4);
	}
	if (rc || !dlen)
		return rc;
	rc = send_all(c->fd, data, dlen);
	if (!rc && pad)
		rc = send_all(c->fd, zeros, pad);
	if (!rc && c->ddigest) {
		crc = crc32_iscsi((unsigned char *)data, (int)dlen, 0xffffffffu);
		crc = crc32_iscsi((unsigned char *)zeros, (int)pad, crc) ^ 0xffffffffu;
		put_digest(dig, crc);
		rc = send_all(c->fd, dig, 4);
	}
	return rc;
}

/* Receive the AHS and header digest of a PDU whose BHS is in p->bhs. */
static int recv_header_rest(struct conn *c, struct pdu *p)
{
	uint8_t ahs[256 * 4], dig[4];
	uint32_t ahslen = (uint32_t)p->bhs[4] * 4, crc;
	int rc = ahslen ? recv_all(c->fd, ahs, ahslen) : 0;

	if (rc || !c->hdigest)
		return rc;
	rc = recv_all(c->fd, dig, 4);
	if (rc)
		return rc;
	/* the header digest covers the BHS and the AHS */
	crc = crc32_iscsi(p->bhs, BHS_LEN, 0xffffffffu);
	crc = crc32_iscsi(ahs, (int)ahslen, crc) ^ 0xffffffffu;
	return crc == get_digest(dig) ? 0 : -EBADMSG;
}

/* Receive one PDU (data segment into c->rx); 0 or -errno (-EBADMSG: bad digest). */
static int recv_pdu(struct conn *c, struct pdu *p)
{
	uint8_t dig[4];
	uint32_t padded;
	int rc = recv_all(c->fd, p->bhs, BHS_LEN);

	if (!rc)
		rc = recv_header_rest(c, p);
	if (rc)
		return rc;
	p->dlen = get_be24(p->bhs + 5);
	if (p->dlen > OUR_MAX_RECV_DSL)
		return -EMSGSIZE;
	padded = (p->dlen + 3) & ~3u;
	rc = padded ? recv_all(c->fd, c->rx, padded) : 0;
	if (rc || !c->ddigest || !p->dlen)
		return rc;
	rc = recv_all(c->fd, dig, 4);
	if (rc)
		return rc;
	return crc32c(c->rx, padded) == get_digest(dig) ? 0 : -EBADMSG;
}

/* Append "key=value\0" to a login text buffer. */
static size_t add_key(char *buf, size_t off, size_t cap, const char *key, const char *val)
{
	int n = snprintf(buf + off, cap - off, "%s=%s", key, val);

	return n < 0 || (size_t)n >= cap - off ? off : off + (size_t)n + 1;
}

/* The operational keys of a Normal session login. */
static size_t login_text(const struct options *o, bool digests, char *buf, size_t cap)
{
	const char *dg = digests ? "CRC32C" : "None";
	char mrdsl[16];
	size_t n = 0;

	snprintf(mrdsl, sizeof(mrdsl), "%u", OUR_MAX_RECV_DSL);
	n = add_key(buf, n, cap, "InitiatorName", "iqn.2026-11.org.idm:hostile");
	n = add_key(buf, n, cap, "TargetName", o->iqn);
	n = add_key(buf, n, cap, "SessionType", "Normal");
	n = add_key(buf, n, cap, "HeaderDigest", dg);
	n = add_key(buf, n, cap, "DataDigest", dg);
	n = add_key(buf, n, cap, "MaxRecvDataSegmentLength", mrdsl);
	n = add_key(buf, n, cap, "InitialR2T", "No");
	n = add_key(buf, n, cap, "ImmediateData", "Yes");
	n = add_key(buf, n, cap, "MaxBurstLength", "1048576");
	n = add_key(buf, n, cap, "FirstBurstLength", "262144");
	n = add_key(buf, n, cap, "MaxOutstandingR2T", "1");
	n = add_key(buf, n, cap, "DefaultTime2Wait", "0");
	n = add_key(buf, n, cap, "DefaultTime2Retain", "0");
	n = add_key(buf, n, cap, "DataPDUInOrder", "Yes");
	n = add_key(buf, n, cap, "DataSequenceInOrder", "Yes");
	n = add_key(buf, n, cap, "ErrorRecoveryLevel", "0");
	n = add_key(buf, n, cap, "MaxConnections", "1");
	return n;
}

/* A Login Request BHS going from operational negotiation to full feature phase. */
static void login_bhs(struct conn *c, uint8_t *bhs)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = OP_LOGIN_REQ | OP_IMMEDIATE;
	bhs[1] = 0x80 | (1 << 2) | 3; /* T=1, CSG=1 (operational), NSG=3 (full feature) */
	bhs[8] = 0x80;                /* ISID: random type */
	bhs[9] = 0x23;
	bhs[10] = (uint8_t)getpid();
	bhs[11] = (uint8_t)(getpid() >> 8);
	put_be16(bhs + 12, c->isid_qualifier);
	put_be32(bhs + 16, c->next_itt++);
	put_be32(bhs + 24, c->cmdsn);
	put_be32(bhs + 28, c->expstatsn);
}

/* Value of `key` in a key=value\0... text, or NULL. */
static const char *find_key(const char *text, uint32_t len, const char *key)
{
	size_t klen = strlen(key);
	uint32_t off = 0;

	while (off < len) {
		const char *kv = text + off;
		size_t n = strnlen(kv, len - off);

		if (n > klen && strncmp(kv, key, klen) == 0 && kv[klen] == '=')
			return kv + klen + 1;
		off += (uint32_t)n + 1;
	}
	return NULL;
}

/* Take the target's answers (in c->rx) into the connection's parameters. */
static void apply_answers(struct conn *c, uint32_t dlen)
{
	const char *t = (const char *)c->rx, *v;

	c->rx[dlen < OUR_MAX_RECV_DSL ? dlen : OUR_MAX_RECV_DSL - 1] = 0;
	if ((v = find_key(t, dlen, "MaxRecvDataSegmentLength")))
		c->peer_max_recv_dsl = (uint32_t)strtoul(v, NULL, 10);
	if ((v = find_key(t, dlen, "FirstBurstLength")))
		c->first_burst = (uint32_t)strtoul(v, NULL, 10);
	if ((v = find_key(t, dlen, "ImmediateData")))
		c->immediate_data = strcmp(v, "Yes") == 0;
	if ((v = find_key(t, dlen, "HeaderDigest")))
		c->want_hdigest = strcmp(v, "CRC32C") == 0;
	if ((v = find_key(t, dlen, "DataDigest")))
		c->want_ddigest = strcmp(v, "CRC32C") == 0;
}

/* Open a connection (no login yet); false with errno in *err on failure. */
static bool conn_open(struct conn *c, const struct options *o)
{
	*c = (struct conn){.fd = -1, .next_itt = 1, .peer_max_recv_dsl = 8192,
			   .first_burst = 65536};
	c->isid_qualifier = (uint16_t)atomic_fetch_add(&isid_seq, 1);
	c->rx = malloc(OUR_MAX_RECV_DSL + 4);
	if (!c->rx)
		return false;
	c->fd = dial(o);
	return c->fd >= 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->rx);
	c->fd = -1;
	c->rx = NULL;
}

static int settle(struct conn *c, const struct options *o, char *why, size_t wl);

/* Log in (Normal session, optionally with digests), then settle; 0 or a negative error. */
static int login(struct conn *c, const struct options *o, bool digests, char *why, size_t wl)
{
	char text[2048];
	uint8_t bhs[BHS_LEN];
	struct pdu p;
	size_t len = login_text(o, digests, text, sizeof(text));
	int rc, round;

	for (round = 0; round < 4; round++) {
		login_bhs(c, bhs);
		rc = send_pdu(c, bhs, text, (uint32_t)len);
		if (!rc)
			rc = recv_pdu(c, &p);
		if (rc) {
			snprintf(why, wl, "login: %s", strerror(-rc));
			return rc;
		}
		if ((p.bhs[0] & OP_MASK) != OP_LOGIN_RSP || p.bhs[36] != 0) {
			snprintf(why, wl, "login refused: opcode 0x%02x status 0x%02x%02x",
				 p.bhs[0], p.bhs[36], p.bhs[37]);
			return -EACCES;
		}
		c->expstatsn = get_be32(p.bhs + 24) + 1;
		apply_answers(c, p.dlen);
		if ((p.bhs[1] & 0x80) && (p.bhs[1] & 3) == 3) {
			c->hdigest = c->want_hdigest;
			c->ddigest = c->want_ddigest;
			return settle(c, o, why, wl);
		}
		len = 0; /* the target wants another round: nothing more to offer */
	}
	snprintf(why, wl, "login never reached full feature phase");
	return -EPROTO;
}

/* A SCSI Command BHS for a 10-byte CDB. */
static void scsi_bhs(struct conn *c, const struct options *o, uint8_t *bhs, const uint8_t *cdb,
		     bool write, uint32_t edtl, uint32_t itt)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = OP_SCSI_CMD;
	bhs[1] = 0x80 | (write ? 0x20 : 0x40) | 1; /* F, W or R, simple task */
	bhs[9] = (uint8_t)o->lun;
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, edtl);
	put_be32(bhs + 24, c->cmdsn++);
	put_be32(bhs + 28, c->expstatsn);
	memcpy(bhs + 32, cdb, 10);
}

static void cdb10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, blocks);
}

/* Answer a NOP-In that asks for a reply (TTT != 0xffffffff). */
static int answer_nop_in(struct conn *c, const struct pdu *p)
{
	uint8_t bhs[BHS_LEN] = {0};

	if (get_be32(p->bhs + 20) == 0xffffffffu)
		return 0;
	bhs[0] = OP_NOP_OUT | OP_IMMEDIATE;
	bhs[1] = 0x80;
	memcpy(bhs + 8, p->bhs + 8, 8);
	put_be32(bhs + 16, 0xffffffffu);
	memcpy(bhs + 20, p->bhs + 20, 4);
	put_be32(bhs + 24, c->cmdsn);
	put_be32(bhs + 28, c->expstatsn);
	return send_pdu(c, bhs, NULL, 0);
}

/* Send Data-Out PDUs for [off, off+len) of `buf` answering an R2T with `ttt`. */
static int send_data_out(struct conn *c, const struct options *o, uint32_t itt, uint32_t ttt,
			 const uint8_t *buf, uint32_t off, uint32_t len)
{
	uint8_t bhs[BHS_LEN];
	uint32_t sn = 0, n;
	int rc = 0;

	while (len && !rc) {
		n = len < c->peer_max_recv_dsl ? len : c->peer_max_recv_dsl;
		memset(bhs, 0, BHS_LEN);
		bhs[0] = OP_DATA_OUT;
		bhs[1] = n == len ? 0x80 : 0;
		bhs[9] = (uint8_t)o->lun;
		put_be32(bhs + 16, itt);
		put_be32(bhs + 20, ttt);
		put_be32(bhs + 28, c->expstatsn);
		put_be32(bhs + 36, sn++);
		put_be32(bhs + 40, off);
		rc = send_pdu(c, bhs, buf + off, n);
		off += n;
		len -= n;
	}
	return rc;
}

/* Handle one PDU of a running command; 1 when the command finished, 0 to go on, <0 error. */
static int command_pdu(struct conn *c, const struct options *o, const struct pdu *p,
		       uint32_t itt, uint8_t *buf, uint32_t len, char *why, size_t wl)
{
	uint32_t off, n;

	switch (p->bhs[0] & OP_MASK) {
	case OP_NOP_IN:
		return answer_nop_in(c, p);
	case OP_R2T:
		off = get_be32(p->bhs + 40);
		n = get_be32(p->bhs + 44);
		if (off > len || n > len - off)
			return snprintf(why, wl, "R2T outside the buffer"), -EPROTO;
		return send_data_out(c, o, itt, get_be32(p->bhs + 20), buf, off, n);
	case OP_DATA_IN:
		off = get_be32(p->bhs + 40);
		if (off > len || p->dlen > len - off)
			return snprintf(why, wl, "Data-In outside the buffer"), -EPROTO;
		memcpy(buf + off, c->rx, p->dlen);
		if (!(p->bhs[1] & 0x01))
			return 0;
		c->expstatsn = get_be32(p->bhs + 24) + 1;
		return p->bhs[3] == 0 ? 1 : (snprintf(why, wl, "status 0x%02x", p->bhs[3]), -EIO);
	case OP_SCSI_RSP:
		c->expstatsn = get_be32(p->bhs + 24) + 1;
		if (p->bhs[2] || p->bhs[3])
			return snprintf(why, wl, "response 0x%02x status 0x%02x", p->bhs[2],
					p->bhs[3]), -EIO;
		return 1;
	default:
		snprintf(why, wl, "unexpected PDU opcode 0x%02x", p->bhs[0]);
		return -EPROTO;
	}
}

/* Run one READ(10)/WRITE(10) of `len` bytes at `lba` (512-byte blocks) to completion. */
static int scsi_io(struct conn *c, const struct options *o, bool write, uint32_t lba,
		   uint8_t *buf, uint32_t len, char *why, size_t wl)
{
	uint8_t bhs[BHS_LEN], cdb[10];
	uint32_t itt = c->next_itt++, imm = 0;
	struct pdu p;
	int rc;

	cdb10(cdb, write ? 0x2a : 0x28, lba, (uint16_t)(len / 512));
	scsi_bhs(c, o, bhs, cdb, write, len, itt);
	if (write && c->immediate_data) {
		imm = len < c->first_burst ? len : c->first_burst;
		imm = imm < c->peer_max_recv_dsl ? imm : c->peer_max_recv_dsl;
	}
	rc = send_pdu(c, bhs, buf, imm);
	while (!rc) {
		rc = recv_pdu(c, &p);
		if (rc) {
			snprintf(why, wl, "%s", strerror(-rc));
			break;
		}
		rc = command_pdu(c, o, &p, itt, buf, len, why, wl);
	}
	if (rc < 0 && !why[0])
		snprintf(why, wl, "%s %u bytes at LBA %u: %s", write ? "WRITE" : "READ", len, lba,
			 strerror(-rc));
	return rc == 1 ? 0 : rc;
}

/*
 * TEST UNIT READY until GOOD: a new session may first get a UNIT ATTENTION
 * (power on, reset) as its first command's status; consume it.
 */
static int settle(struct conn *c, const struct options *o, char *why, size_t wl)
{
	uint8_t bhs[BHS_LEN], cdb[10] = {0};
	uint32_t itt;
	struct pdu p;
	int rc = -EIO, i;

	for (i = 0; i < 4 && rc; i++) {
		itt = c->next_itt++;
		scsi_bhs(c, o, bhs, cdb, false, 0, itt);
		bhs[1] = 0x80 | 1; /* F, no data, simple task */
		rc = send_pdu(c, bhs, NULL, 0);
		while (!rc) {
			rc = recv_pdu(c, &p);
			if (rc)
				return snprintf(why, wl, "TEST UNIT READY: %s", strerror(-rc)), rc;
			rc = command_pdu(c, o, &p, itt, NULL, 0, why, wl);
		}
		rc = rc == 1 ? 0 : rc;
	}
	return rc;
}

/* Fill `buf` with a pattern different for every call. */
static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + (uint32_t)time(NULL);
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (uint8_t)(x >> 24);
	}
}

/* Write a fresh pattern at `lba`, read it back, compare; 0 or -1 with `why`. */
static int write_read_verify(struct conn *c, const struct options *o, uint32_t lba,
			     uint32_t len, uint32_t seed, char *why, size_t wl)
{
	uint8_t *out = malloc(len), *in = malloc(len);
	int rc = -1;

	if (!out || !in) {
		snprintf(why, wl, "out of memory");
		goto out;
	}
	fill_pattern(out, len, seed);
	memset(in, 0, len);
	if (scsi_io(c, o, true, lba, out, len, why, wl) || scsi_io(c, o, false, lba, in, len, why,
								     wl))
		goto out;
	rc = memcmp(out, in, len) ? -1 : 0;
	if (rc)
		snprintf(why, wl, "data read back differs");
out:
	free(out);
	free(in);
	return rc;
}

/* Background thread: a correct session writing and verifying until told to stop. */
static void *good_session_main(void *arg)
{
	struct good_session *g = arg;
	struct conn c;

	if (!conn_open(&c, g->o) ||
	    login(&c, g->o, g->o->good_digests, g->why, sizeof(g->why)) != 0) {
		if (!g->why[0])
			snprintf(g->why, sizeof(g->why), "cannot connect");
		g->error = -1;
		conn_close(&c);
		return NULL;
	}
	while (!atomic_load(&g->stop) || g->rounds < GOOD_SESSION_MIN_ROUNDS) {
		if (write_read_verify(&c, g->o, 0, IO_BYTES, g->rounds, g->why, sizeof(g->why))) {
			g->error = -1;
			break;
		}
		g->rounds++;
	}
	conn_close(&c);
	return NULL;
}

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
	atomic_store(&g.stop, true);
	pthread_join(th, NULL);
	printf("     good session: %u verified write+read rounds of %u KiB\n", g.rounds,
	       IO_BYTES / 1024);
	report("good-session", !g.error && g.rounds >= GOOD_SESSION_MIN_ROUNDS,
	       g.error ? g.why : NULL);
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

/* Split "ADDR:PORT" or "[V6]:PORT" into host and port strings (in place). */
static bool split_portal(char *portal, struct options *o)
{
	char *colon = strrchr(portal, ':');

	if (!colon)
		return false;
	*colon = 0;
	o->port = colon + 1;
	o->host = portal;
	if (portal[0] == '[' && colon[-1] == ']') {
		colon[-1] = 0;
		o->host = portal + 1;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct options o = {.mode = "hostile"};
	unsigned flood_s = 0, stall_s = 0;
	int c;

	while ((c = getopt(argc, argv, "p:t:l:dm:s:T:")) != -1) {
		if (c == 'p' && !split_portal(optarg, &o))
			usage(argv[0]);
		else if (c == 't')
			o.iqn = optarg;
		else if (c == 'l')
			o.lun = (unsigned)atoi(optarg);
		else if (c == 'd')
			o.good_digests = true;
		else if (c == 'm')
			o.mode = optarg;
		else if (c == 's')
			flood_s = (unsigned)atoi(optarg);
		else if (c == 'T')
			stall_s = (unsigned)atoi(optarg);
		else if (c != 'p')
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
