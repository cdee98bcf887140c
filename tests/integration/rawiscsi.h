/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rawiscsi: the raw-socket iSCSI initiator shared by the integration test
 * clients (hostile.c, aborter.c): PDU framing with optional CRC32C digests,
 * a Normal session login, READ(10)/WRITE(10) with immediate data, R2T and
 * Data-Out, and a well-behaved session that writes and verifies in a
 * thread. Every receive has a timeout (RECV_TIMEOUT_S): never a hang.
 */
#ifndef IDM_TESTS_RAWISCSI_H
#define IDM_TESTS_RAWISCSI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	bool want_hdigest; /* negotiated; in force once login completes */
	bool want_ddigest;
	uint32_t cmdsn;
	uint32_t expstatsn;
	uint32_t next_itt;
	uint16_t isid_qualifier;    /* unique per connection: no session reinstatement */
	uint32_t peer_max_recv_dsl; /* how much we may send in one PDU */
	uint32_t first_burst;
	bool immediate_data;
	uint8_t *rx; /* receive buffer for one data segment */
};

/* One received PDU: its BHS, and its data segment in conn->rx. */
struct pdu {
	uint8_t bhs[BHS_LEN];
	uint32_t dlen;
};

/* What a test program was told on its command line. */
struct options {
	const char *host;
	const char *port;
	const char *iqn;
	unsigned lun;
	bool good_digests;
	const char *mode;
	const char *iqn2; /* a second target, when the program uses one */
	const char *initiator; /* InitiatorName to log in with (NULL: the default) */
};

/* Results of the background well-behaved session. */
struct good_session {
	const struct options *o;
	atomic_bool stop;
	atomic_uint rounds;
	atomic_int error;
	uint32_t lba; /* where it writes (one session per process uses 0) */
	char why[160];
};

/* Number of checks reported as failed so far. */
extern int failures;

/* Print one check's result ("ok"/"FAIL" line) and count failures. */
void report(const char *check, bool ok, const char *why);

void put_be16(uint8_t *p, uint16_t v);
void put_be32(uint8_t *p, uint32_t v);
uint32_t get_be32(const uint8_t *p);
uint32_t get_be24(const uint8_t *p);

/* iSCSI digest (RFC 7143 13.1): CRC32C, and its wire form (LSB first). */
uint32_t crc32c(const void *buf, size_t len);
void put_digest(uint8_t *p, uint32_t crc);

/* Connect to the portal with send/receive timeouts; returns the fd or -errno.
 * A non-zero `rcvbuf` sets SO_RCVBUF before the connect. */
int dial(const struct options *o, int rcvbuf);
/* Send all of `len` bytes; 0 or -errno (a peer that closed gives -EPIPE). */
int send_all(int fd, const void *buf, size_t len);
/* Receive exactly `len` bytes; 0, -ECONNRESET on EOF, -ETIMEDOUT, or -errno. */
int recv_all(int fd, void *buf, size_t len);
/* Send a BHS and its data segment, with padding and digests as negotiated. */
int send_pdu(struct conn *c, uint8_t *bhs, const void *data, uint32_t dlen);
/* Receive one PDU (data segment into c->rx); 0 or -errno (-EBADMSG: bad digest). */
int recv_pdu(struct conn *c, struct pdu *p);

/* Open a connection (no login yet) with a fresh ISID; false on failure. */
bool conn_open(struct conn *c, const struct options *o);
/* The same with a receive buffer of `rcvbuf` bytes (0: the system's). */
bool conn_open_rcvbuf(struct conn *c, const struct options *o, int rcvbuf);
void conn_close(struct conn *c);
/* A Login Request BHS going from operational negotiation to full feature phase. */
void login_bhs(struct conn *c, uint8_t *bhs);
/* Log in (Normal session, optionally with digests), then settle; 0 or a negative error. */
int login(struct conn *c, const struct options *o, bool digests, char *why, size_t wl);
/* TEST UNIT READY until GOOD, consuming a first UNIT ATTENTION. */
int settle(struct conn *c, const struct options *o, char *why, size_t wl);

/* A SCSI Command BHS for a 10-byte CDB (CmdSN taken from the connection). */
void scsi_bhs(struct conn *c, const struct options *o, uint8_t *bhs, const uint8_t *cdb, bool write,
              uint32_t edtl, uint32_t itt);
void cdb10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks);
/* Answer a NOP-In that asks for a reply (TTT != 0xffffffff). */
int answer_nop_in(struct conn *c, const struct pdu *p);
/* Send Data-Out PDUs for [off, off+len) of `buf` answering an R2T with `ttt`. */
int send_data_out(struct conn *c, const struct options *o, uint32_t itt, uint32_t ttt,
                  const uint8_t *buf, uint32_t off, uint32_t len);
/* Handle one PDU of a running command; 1 when the command finished, 0 to go on, <0 error. */
int command_pdu(struct conn *c, const struct options *o, const struct pdu *p, uint32_t itt,
                uint8_t *buf, uint32_t len, char *why, size_t wl);
/* Run one command with a 10-byte CDB moving `len` bytes of `buf` (out when
 * `write`, in otherwise; immediate data as negotiated) to completion; 0 when GOOD. */
int scsi_cmd(struct conn *c, const struct options *o, const uint8_t *cdb, bool write, uint8_t *buf,
             uint32_t len, char *why, size_t wl);
/* Run one READ(10)/WRITE(10) of `len` bytes at `lba` (512-byte blocks) to completion. */
int scsi_io(struct conn *c, const struct options *o, bool write, uint32_t lba, uint8_t *buf,
            uint32_t len, char *why, size_t wl);

/* Fill `buf` with a pattern different for every call. */
void fill_pattern(uint8_t *buf, size_t len, uint32_t seed);
/* Write a fresh pattern at `lba`, read it back, compare; 0 or -1 with `why`. */
int write_read_verify(struct conn *c, const struct options *o, uint32_t lba, uint32_t len,
                      uint32_t seed, char *why, size_t wl);
/* Thread body: a correct session (struct good_session) writing and verifying
 * until told to stop. */
void *good_session_main(void *arg);
/* Stop the background session, join it and report how it went. */
void good_session_finish(struct good_session *g, pthread_t th);

/* Split "ADDR:PORT" or "[V6]:PORT" into host and port strings (in place). */
bool split_portal(char *portal, struct options *o);
/* Take one of the options every raw client has: -p ADDR:PORT, -t IQN, -l LUN;
 * false when `c` is another option or its value is bad. */
bool common_option(int c, char *arg, struct options *o);

#endif
