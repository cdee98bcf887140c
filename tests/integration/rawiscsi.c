/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rawiscsi: the raw-socket iSCSI initiator shared by the integration test
 * clients; see rawiscsi.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/crc.h>

#include "rawiscsi.h"

int failures;
static atomic_uint isid_seq; /* source of unique ISID qualifiers */

/* Print one check's result and count failures. */
void report(const char *check, bool ok, const char *why)
{
	printf("%-4s %s%s%s\n", ok ? "ok" : "FAIL", check, why ? ": " : "", why ? why : "");
	fflush(stdout);
	if (!ok)
		failures++;
}

void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* iSCSI digest (RFC 7143 13.1): CRC32C, sent least significant byte first. */
uint32_t crc32c(const void *buf, size_t len)
{
	return crc32_iscsi((unsigned char *)buf, (int)len, 0xffffffffu) ^ 0xffffffffu;
}

void put_digest(uint8_t *p, uint32_t crc)
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

/*
 * Connect to the portal with send/receive timeouts; returns the fd or
 * -errno. A non-zero `rcvbuf` sets SO_RCVBUF before the connect, so the
 * window announced is small from the start.
 */
int dial(const struct options *o, int rcvbuf)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
	int fd, one = 1, rc;

	rc = getaddrinfo(o->host, o->port, &hints, &ai);
	if (rc)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
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
int send_all(int fd, const void *buf, size_t len)
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
int recv_all(int fd, void *buf, size_t len)
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
int send_pdu(struct conn *c, uint8_t *bhs, const void *data, uint32_t dlen)
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
int recv_pdu(struct conn *c, struct pdu *p)
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
	n = add_key(buf, n, cap, "InitiatorName",
	            o->initiator ? o->initiator : "iqn.2026-11.org.idm:hostile");
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
void login_bhs(struct conn *c, uint8_t *bhs)
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

/* Open a connection (no login yet) with a receive buffer of `rcvbuf` bytes
 * (0: the system's); false on failure. */
bool conn_open_rcvbuf(struct conn *c, const struct options *o, int rcvbuf)
{
	*c =
	    (struct conn){.fd = -1, .next_itt = 1, .peer_max_recv_dsl = 8192, .first_burst = 65536};
	c->isid_qualifier = (uint16_t)atomic_fetch_add(&isid_seq, 1);
	c->rx = malloc(OUR_MAX_RECV_DSL + 4);
	if (!c->rx)
		return false;
	c->fd = dial(o, rcvbuf);
	return c->fd >= 0;
}

bool conn_open(struct conn *c, const struct options *o)
{
	return conn_open_rcvbuf(c, o, 0);
}

void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->rx);
	c->fd = -1;
	c->rx = NULL;
}

/* Log in (Normal session, optionally with digests), then settle; 0 or a negative error. */
int login(struct conn *c, const struct options *o, bool digests, char *why, size_t wl)
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
void scsi_bhs(struct conn *c, const struct options *o, uint8_t *bhs, const uint8_t *cdb, bool write,
              uint32_t edtl, uint32_t itt)
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

void cdb10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, blocks);
}

/* Answer a NOP-In that asks for a reply (TTT != 0xffffffff). */
int answer_nop_in(struct conn *c, const struct pdu *p)
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
int send_data_out(struct conn *c, const struct options *o, uint32_t itt, uint32_t ttt,
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
int command_pdu(struct conn *c, const struct options *o, const struct pdu *p, uint32_t itt,
                uint8_t *buf, uint32_t len, char *why, size_t wl)
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
			                p->bhs[3]),
			       -EIO;
		return 1;
	default:
		snprintf(why, wl, "unexpected PDU opcode 0x%02x", p->bhs[0]);
		return -EPROTO;
	}
}

/* Run one READ(10)/WRITE(10) of `len` bytes at `lba` (512-byte blocks) to completion. */
int scsi_cmd(struct conn *c, const struct options *o, const uint8_t *cdb, bool write, uint8_t *buf,
             uint32_t len, char *why, size_t wl)
{
	uint8_t bhs[BHS_LEN];
	uint32_t itt = c->next_itt++, imm = 0;
	struct pdu p;
	int rc;

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
	return rc == 1 ? 0 : rc;
}

int scsi_io(struct conn *c, const struct options *o, bool write, uint32_t lba, uint8_t *buf,
            uint32_t len, char *why, size_t wl)
{
	uint8_t cdb[10];
	int rc;

	cdb10(cdb, write ? 0x2a : 0x28, lba, (uint16_t)(len / 512));
	rc = scsi_cmd(c, o, cdb, write, buf, len, why, wl);
	if (rc < 0 && !why[0])
		snprintf(why, wl, "%s %u bytes at LBA %u: %s", write ? "WRITE" : "READ", len, lba,
		         strerror(-rc));
	return rc;
}

/*
 * TEST UNIT READY until GOOD: a new session may first get a UNIT ATTENTION
 * (power on, reset) as its first command's status; consume it.
 */
int settle(struct conn *c, const struct options *o, char *why, size_t wl)
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
void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + (uint32_t)time(NULL);
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (uint8_t)(x >> 24);
	}
}

/* Write a fresh pattern at `lba`, read it back, compare; 0 or -1 with `why`. */
int write_read_verify(struct conn *c, const struct options *o, uint32_t lba, uint32_t len,
                      uint32_t seed, char *why, size_t wl)
{
	uint8_t *out = malloc(len), *in = malloc(len);
	int rc = -1;

	if (!out || !in) {
		snprintf(why, wl, "out of memory");
		goto out;
	}
	fill_pattern(out, len, seed);
	memset(in, 0, len);
	if (scsi_io(c, o, true, lba, out, len, why, wl) ||
	    scsi_io(c, o, false, lba, in, len, why, wl))
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
void *good_session_main(void *arg)
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
		if (write_read_verify(&c, g->o, g->lba, IO_BYTES, g->rounds, g->why,
		                      sizeof(g->why))) {
			g->error = -1;
			break;
		}
		g->rounds++;
	}
	conn_close(&c);
	return NULL;
}

void good_session_finish(struct good_session *g, pthread_t th)
{
	atomic_store(&g->stop, true);
	pthread_join(th, NULL);
	printf("     good session: %u verified write+read rounds of %u KiB\n", g->rounds,
	       IO_BYTES / 1024);
	report("good-session", !g->error && g->rounds >= GOOD_SESSION_MIN_ROUNDS,
	       g->error ? g->why : NULL);
}

/* Split "ADDR:PORT" or "[V6]:PORT" into host and port strings (in place). */
bool split_portal(char *portal, struct options *o)
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

bool common_option(int c, char *arg, struct options *o)
{
	if (c == 'p')
		return split_portal(arg, o);
	if (c == 't')
		o->iqn = arg;
	else if (c == 'l')
		o->lun = (unsigned)atoi(arg);
	return c == 't' || c == 'l';
}
