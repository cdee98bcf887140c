/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP transport tests over a socketpair with a real reactor, polled from
 * the test thread. The test plays the initiator with raw bytes; a fake
 * client records what the core hands up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "idm/core_priv.h"
#include "transport/tcp/tcp_priv.h"

#define BUFSZ (1u << 20)

/* ---- the fake client ---- */

struct rec {
	int rx_pdus;
	uint8_t last_bhs[48];
	uint8_t last_data[1024];
	uint32_t last_len;
	int headers, cmds;
	struct idm_task *last_task;
	uint32_t unsol_limit;
	uint8_t *buf;
	int rx_done, tx_done, tx_status;
	int freed, accepted, tasks_freed;
	struct idm_task *hdr_task;
	uint8_t ahs[64];
	uint32_t ahs_len;
};

static struct rec rec;
static struct idm_reactor *reactor;
static struct idm_conn *conn;
static int peer = -1;
static bool peer_hd, peer_dd; /* digests the peer uses */

static int c_cmd_header(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	rec.headers++;
	rec.hdr_task = t;
	rec.ahs_len = pdu->ahs_len;
	if (pdu->ahs && pdu->ahs_len <= sizeof(rec.ahs)) {
		memcpy(rec.ahs, pdu->ahs, pdu->ahs_len);
	}
	t->data = rec.buf;
	t->data_cap = BUFSZ;
	t->unsol_limit = rec.unsol_limit;
	return 0;
}

static void c_cmd(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	rec.cmds++;
	rec.last_task = t;
}

static void c_rx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	rec.rx_pdus++;
	memcpy(rec.last_bhs, pdu->bhs, 48);
	rec.last_len = pdu->data_len;
	if (pdu->data_len <= sizeof(rec.last_data) && pdu->data_len) {
		memcpy(rec.last_data, pdu->data, pdu->data_len);
	}
}

static void c_conn_free(struct idm_conn *c)
{
	rec.freed++;
	if (c == conn) {
		conn = NULL;
	}
}

static void c_task_abort(struct idm_task *t)
{
	idm_task_release(t);
}

static void c_task_free(struct idm_task *t)
{
	rec.tasks_freed++;
}

static const struct idm_client_ops client = {
    .scsi_cmd_header = c_cmd_header,
    .scsi_cmd = c_cmd,
    .rx_pdu = c_rx_pdu,
    .conn_free = c_conn_free,
    .task_abort = c_task_abort,
    .task_free = c_task_free,
};

static void on_rx_done(struct idm_task *t, int status)
{
	rec.rx_done++;
}

static void on_tx_done(struct idm_task *t, int status)
{
	rec.tx_done++;
	rec.tx_status = status;
}

/* ---- raw initiator side ---- */

static void pump(void)
{
	for (int i = 0; i < 4; i++) {
		idm_reactor_poll(reactor, 0);
	}
}

static void send_raw(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(peer, p, len);

		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			pump();
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Build a whole PDU on the wire (with the peer's digests) into out. */
static size_t wire_pdu(uint8_t *out, const uint8_t *bhs, const void *data, uint32_t len)
{
	size_t n = 48;

	memcpy(out, bhs, 48);
	put_be24(out + BHS_DATA_SEG_LEN, len);
	if (peer_hd) {
		idm_digest_put(out + n, idm_digest(out, 48));
		n += 4;
	}
	if (len) {
		memcpy(out + n, data, len);
		memset(out + n + len, 0, idm_pad4(len));
		if (peer_dd) {
			idm_digest_put(out + n + len + idm_pad4(len),
			               idm_digest(out + n, len + idm_pad4(len)));
		}
		n += len + idm_pad4(len) + (peer_dd ? 4 : 0);
	}
	return n;
}

static void send_pdu(const uint8_t *bhs, const void *data, uint32_t len)
{
	uint8_t *w = malloc(len + 64);
	size_t n = wire_pdu(w, bhs, data, len);

	send_raw(w, n);
	free(w);
	pump();
}

/* Read exactly len bytes from the peer, running the reactor meanwhile. */
static int read_exact(void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t start = idm_now_ms();

	while (len > 0) {
		ssize_t n = read(peer, p, len);

		if (n == 0) {
			return -1; /* EOF */
		}
		if (n < 0) {
			if (errno != EAGAIN || idm_now_ms() - start > 2000) {
				return -1;
			}
			idm_reactor_poll(reactor, 5);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct rx {
	uint8_t bhs[48];
	uint8_t data[65536];
	uint32_t len;
};

static int read_pdu(struct rx *r)
{
	uint8_t tmp[8];

	if (read_exact(r->bhs, 48) != 0) {
		return -1;
	}
	if (peer_hd) {
		assert_int_equal(read_exact(tmp, 4), 0);
		assert_int_equal(idm_digest_get(tmp), idm_digest(r->bhs, 48));
	}
	r->len = get_be24(r->bhs + BHS_DATA_SEG_LEN);
	assert_true(r->len <= sizeof(r->data));
	if (r->len) {
		uint32_t pad = idm_pad4(r->len);

		assert_int_equal(read_exact(r->data, r->len + pad), 0);
		if (peer_dd) {
			assert_int_equal(read_exact(tmp, 4), 0);
			assert_int_equal(idm_digest_get(tmp), idm_digest(r->data, r->len + pad));
		}
	}
	return 0;
}

/* True when the target closed its end. */
static bool peer_sees_eof(void)
{
	uint8_t b;
	uint64_t start = idm_now_ms();

	for (;;) {
		ssize_t n = read(peer, &b, 1);

		if (n == 0) {
			return true;
		}
		if (n > 0 || errno != EAGAIN || idm_now_ms() - start > 2000) {
			return false;
		}
		idm_reactor_poll(reactor, 5);
	}
}

/* ---- setup ---- */

static int setup(void **state)
{
	int sv[2];

	memset(&rec, 0, sizeof(rec));
	rec.buf = calloc(1, BUFSZ);
	rec.unsol_limit = 65536;
	peer_hd = peer_dd = false;
	reactor = idm_reactor_create(0);
	assert_non_null(reactor);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	peer = sv[1];
	fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
	conn = idm_conn_create(reactor, IDM_ROLE_TARGET, &idm_tcp_transport, &client, 64, 32);
	assert_non_null(conn);
	assert_int_equal(idm_tcp_conn_adopt(conn, sv[0]), 0);
	idm_conn_event(conn, IDM_CE_ACCEPTED);
	return 0;
}

static int teardown(void **state)
{
	if (conn) {
		idm_conn_close(conn);
	}
	pump();
	assert_null(conn);
	close(peer);
	idm_reactor_destroy(reactor);
	free(rec.buf);
	return 0;
}

static void login_bhs(uint8_t *bhs, uint8_t flags)
{
	idm_bhs_init(bhs, ISCSI_OP_LOGIN_REQ, true);
	bhs[BHS_FLAGS] = flags;
	put_be32(bhs + BHS_ITT, 1);
}

/* Login in one round trip; afterwards the digests in conn->params apply. */
static void go_ffp(void)
{
	uint8_t bhs[48];
	struct idm_pdu *rsp;
	struct rx r;
	bool hd = conn->params.header_digest, dd = conn->params.data_digest;

	login_bhs(bhs, LOGIN_FLAG_TRANSIT | (1 << 2) | 3);
	send_pdu(bhs, "a=b", 4);
	assert_int_equal(rec.rx_pdus, 1);
	assert_int_equal(conn->state, IDM_CONN_IN_LOGIN);
	rsp = idm_pdu_alloc(conn, 0);
	idm_bhs_init(rsp->bhs, ISCSI_OP_LOGIN_RSP, false);
	rsp->bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | 3;
	put_be32(rsp->bhs + BHS_ITT, 1);
	idm_pdu_tx(conn, rsp);
	assert_int_equal(conn->state, IDM_CONN_LOGGED_IN);
	assert_true(conn->ffp);
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_LOGIN_RSP);
	peer_hd = hd;
	peer_dd = dd;
	rec.rx_pdus = 0;
}

static void nop_out_bhs(uint8_t *bhs, uint32_t itt)
{
	idm_bhs_init(bhs, ISCSI_OP_NOP_OUT, true);
	bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(bhs + BHS_ITT, itt);
	put_be32(bhs + NOP_TTT, IDM_RESERVED_TAG);
}

static void scsi_cmd_bhs(uint8_t *bhs, uint32_t itt, uint8_t flags, uint32_t edtl)
{
	idm_bhs_init(bhs, ISCSI_OP_SCSI_CMD, false);
	bhs[BHS_FLAGS] = flags;
	put_be32(bhs + BHS_ITT, itt);
	put_be32(bhs + SCSI_CMD_EDTL, edtl);
	put_be32(bhs + SCSI_CMD_CMDSN, 1);
	bhs[SCSI_CMD_CDB] = 0x2a;
}

static void data_out_bhs(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t off,
                         bool final)
{
	idm_bhs_init(bhs, ISCSI_OP_SCSI_DATA_OUT, false);
	bhs[BHS_FLAGS] = final ? ISCSI_FLAG_FINAL : 0;
	put_be32(bhs + BHS_ITT, itt);
	put_be32(bhs + DATA_TTT, ttt);
	put_be32(bhs + DATA_DATASN, datasn);
	put_be32(bhs + DATA_BUFFER_OFFSET, off);
}

static uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i * 31 + (i >> 8));
}

static uint8_t *pattern_buf(uint32_t off, uint32_t len)
{
	static uint8_t b[65536];

	for (uint32_t i = 0; i < len; i++) {
		b[i] = pattern(off + i);
	}
	return b;
}

/* ---- tests ---- */

static void test_login_rx(void **state)
{
	uint8_t bhs[48];
	static const char text[] = "InitiatorName=iqn.2026-11.test:x";

	login_bhs(bhs, 0);
	send_pdu(bhs, text, sizeof(text));
	assert_int_equal(rec.rx_pdus, 1);
	assert_int_equal(rec.last_bhs[0] & 0x3f, ISCSI_OP_LOGIN_REQ);
	assert_int_equal(rec.last_len, sizeof(text));
	assert_memory_equal(rec.last_data, text, sizeof(text));
	assert_int_equal(conn->state, IDM_CONN_IN_LOGIN);
	assert_int_equal(conn->stats.pdus_rx, 1);
}

static void test_login_oversize_rejected(void **state)
{
	uint8_t bhs[48];
	struct rx r;

	login_bhs(bhs, 0);
	put_be24(bhs + BHS_DATA_SEG_LEN, 9000); /* over 8192 during login */
	send_raw(bhs, 48);
	pump();
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_int_equal(r.bhs[REJECT_REASON], ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(r.len, 48);
	assert_memory_equal(r.data, bhs, 48);
	assert_true(peer_sees_eof());
	assert_int_equal(rec.freed, 1);
	assert_int_equal(rec.rx_pdus, 0);
}

/* TotalAHSLength 1020 on a reserved opcode: refused at once, not awaited. */
static void test_malformed_bhs_closes(void **state)
{
	uint8_t bhs[48];
	struct rx r;

	go_ffp();
	for (int i = 0; i < 48; i++) {
		bhs[i] = (uint8_t)(0xa5 ^ (i * 37));
	}
	bhs[0] = 0x0f;
	bhs[4] = 0xff;
	bhs[5] = bhs[6] = bhs[7] = 0xff;
	send_raw(bhs, 48);
	pump();
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_true(peer_sees_eof());
	assert_int_equal(rec.freed, 1);
}

static void test_ahs_on_nop_closes(void **state)
{
	uint8_t bhs[48];
	struct rx r;

	go_ffp();
	nop_out_bhs(bhs, 2);
	bhs[BHS_TOTAL_AHS_LEN] = 1;
	send_raw(bhs, 48);
	pump();
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_true(peer_sees_eof());
}

static void test_non_login_before_login_closes(void **state)
{
	uint8_t bhs[48];

	nop_out_bhs(bhs, 1);
	send_pdu(bhs, NULL, 0);
	assert_true(peer_sees_eof());
	assert_int_equal(rec.freed, 1);
}

static void test_bad_opcode_rejected(void **state)
{
	uint8_t bhs[48];
	struct rx r;

	go_ffp();
	idm_bhs_init(bhs, ISCSI_OP_NOP_IN, false); /* a target opcode from the initiator */
	send_pdu(bhs, "xyz", 3);
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_int_equal(r.bhs[REJECT_REASON], ISCSI_REJECT_CMD_NOT_SUPPORTED);
	/* framing survived: the next PDU is fine */
	nop_out_bhs(bhs, 7);
	send_pdu(bhs, "ping", 4);
	assert_int_equal(rec.rx_pdus, 1);
	assert_int_equal(rec.last_len, 4);
	assert_memory_equal(rec.last_data, "ping", 4);
	assert_int_equal(conn->state, IDM_CONN_LOGGED_IN);
}

/*
 * A peer that sends and does not read: once the target's transmit queue
 * holds max_pdus Rejects, the target stops reading (EPOLLIN off) and the
 * queue stops growing; when the peer reads, every PDU it sent is answered.
 */
static void test_input_stops_while_peer_does_not_read(void **state)
{
	struct idm_tx_limits lim = {.max_bytes = 1u << 20, .max_pdus = 8, .stall_timeout_s = 30};
	struct tcp_conn *tc = tcp_conn_of(conn);
	int sndbuf = 4096, rejects = 0;
	uint8_t bhs[48], *w = malloc(300 * 48);
	uint32_t queued;
	struct rx r;

	go_ffp();
	idm_conn_set_tx_limits(conn, &lim);
	setsockopt(tc->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	idm_bhs_init(bhs, ISCSI_OP_NOP_IN, false); /* a target opcode: a Reject each */
	for (int i = 0; i < 300; i++) {
		wire_pdu(w + i * 48, bhs, NULL, 0);
	}
	send_raw(w, 300 * 48);
	free(w);
	for (int i = 0; i < 20; i++) {
		idm_reactor_poll(reactor, 1);
	}
	assert_false(idm_conn_rx_allowed(conn));
	assert_false(tc->epoll_events & EPOLLIN);
	assert_true(conn->stats.rejects_tx < 300);
	queued = conn->txq.pdus;
	assert_true(queued >= 8 && queued < 8 + 64);
	pump();
	assert_int_equal(conn->txq.pdus, queued); /* nothing read, nothing added */
	while (rejects < 300 && read_pdu(&r) == 0) {
		assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
		rejects++;
	}
	assert_int_equal(rejects, 300);
	assert_true(idm_conn_rx_allowed(conn));
	assert_true(tc->epoll_events & EPOLLIN);
	assert_true(conn->txq.pauses >= 1);
	assert_int_equal(conn->state, IDM_CONN_LOGGED_IN);
}

static void test_scsi_cmd_immediate(void **state)
{
	uint8_t bhs[48];
	struct rx r;
	struct idm_task *t;

	conn->params.max_recv_dsl = 16384;
	go_ffp();
	uint64_t rx0 = conn->stats.bytes_rx;
	scsi_cmd_bhs(bhs, 0x10, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_WRITE, 4096);
	send_pdu(bhs, pattern_buf(0, 4096), 4096);
	assert_int_equal(rec.cmds, 1);
	t = rec.last_task;
	assert_int_equal(t->itt, 0x10);
	assert_int_equal(t->edtl, 4096);
	assert_true(t->is_write);
	assert_int_equal(t->received, 4096);
	assert_true(t->unsol_done);
	assert_ptr_equal(t->data, rec.buf);
	assert_memory_equal(rec.buf, pattern_buf(0, 4096), 4096);
	assert_int_equal(conn->stats.bytes_rx - rx0, 4096);
	/* the same ITT again while the task lives */
	send_pdu(bhs, pattern_buf(0, 4096), 4096);
	assert_int_equal(rec.cmds, 1);
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_int_equal(r.bhs[REJECT_REASON], ISCSI_REJECT_TASK_IN_PROGRESS);
	/* everything already in: rx_done at once */
	t->rx_done = on_rx_done;
	assert_int_equal(idm_task_recv_data(t, 4096), 0);
	assert_int_equal(rec.rx_done, 1);
	idm_task_release(t);
}

/* An extended CDB AHS reaches scsi_cmd_header with the command. */
static void test_scsi_cmd_ahs(void **state)
{
	uint8_t w[48 + 20 + 8], ahs[20] = {0, 17, 1, 0};

	go_ffp();
	for (int i = 4; i < 20; i++) {
		ahs[i] = (uint8_t)(0xc0 + i);
	}
	scsi_cmd_bhs(w, 0x50, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 512);
	w[BHS_TOTAL_AHS_LEN] = 5;
	memcpy(w + 48, ahs, 20);
	send_raw(w, 68);
	pump();
	assert_int_equal(rec.cmds, 1);
	assert_int_equal(rec.ahs_len, 20);
	assert_memory_equal(rec.ahs, ahs, 20);
	idm_task_release(rec.last_task);
}

static void expect_r2t(struct idm_task *t, uint32_t r2tsn, uint32_t off, uint32_t len)
{
	struct rx r;

	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_R2T);
	assert_int_equal(r.bhs[BHS_FLAGS], 0x80);
	assert_int_equal(get_be32(r.bhs + BHS_ITT), t->itt);
	assert_int_equal(get_be32(r.bhs + R2T_TTT), t->ttt);
	assert_int_equal(get_be32(r.bhs + R2T_R2TSN), r2tsn);
	assert_int_equal(get_be32(r.bhs + R2T_BUFFER_OFFSET), off);
	assert_int_equal(get_be32(r.bhs + R2T_DESIRED_LEN), len);
	assert_int_equal(get_be32(r.bhs + R2T_STATSN), conn->stat_sn);
}

static void send_data_out(struct idm_task *t, uint32_t ttt, uint32_t off, uint32_t len,
                          uint32_t pdu_len)
{
	uint8_t bhs[48];
	uint32_t sn = 0;

	for (uint32_t o = off; o < off + len; o += pdu_len, sn++) {
		uint32_t n = off + len - o < pdu_len ? off + len - o : pdu_len;

		data_out_bhs(bhs, t->itt, ttt, sn, o, o + n == off + len);
		send_pdu(bhs, pattern_buf(o, n), n);
	}
}

static void test_write_r2t(void **state)
{
	uint8_t bhs[48];
	struct idm_task *t;
	struct pollfd pfd = {.fd = -1};

	conn->params.max_recv_dsl = 8192;
	conn->params.max_burst_length = 16384;
	conn->params.max_outstanding_r2t = 2;
	rec.unsol_limit = 16384; /* FirstBurstLength */
	go_ffp();
	scsi_cmd_bhs(bhs, 0x20, SCSI_CMD_FLAG_WRITE, 65536); /* F=0: Data-Out follows */
	send_pdu(bhs, pattern_buf(0, 8192), 8192);
	t = rec.last_task;
	assert_int_equal(t->received, 8192);
	assert_false(t->unsol_done);
	t->rx_done = on_rx_done;
	assert_int_equal(idm_task_recv_data(t, 65536), 0);
	pump();
	/* no R2T while unsolicited data is still expected */
	pfd.fd = peer;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 0);
	send_data_out(t, IDM_RESERVED_TAG, 8192, 8192, 8192);
	assert_true(t->unsol_done);
	assert_int_equal(t->received, 16384);
	expect_r2t(t, 0, 16384, 16384);
	expect_r2t(t, 1, 32768, 16384);
	assert_int_equal(poll(&pfd, 1, 0), 0); /* MaxOutstandingR2T = 2 */
	send_data_out(t, t->ttt, 16384, 16384, 8192);
	expect_r2t(t, 2, 49152, 16384);
	send_data_out(t, t->ttt, 32768, 16384, 8192);
	assert_int_equal(rec.rx_done, 0);
	send_data_out(t, t->ttt, 49152, 16384, 4096);
	assert_int_equal(rec.rx_done, 1);
	assert_int_equal(t->received, 65536);
	for (uint32_t o = 0; o < 65536; o += 4096) {
		assert_memory_equal(rec.buf + o, pattern_buf(o, 4096), 4096);
	}
	assert_int_equal(conn->stats.bytes_copied, 0);
	idm_task_release(t);
}

static void test_data_out_out_of_range(void **state)
{
	uint8_t bhs[48];
	struct rx r;
	struct idm_task *t;

	conn->params.max_recv_dsl = 8192;
	rec.unsol_limit = 8192;
	go_ffp();
	scsi_cmd_bhs(bhs, 0x21, SCSI_CMD_FLAG_WRITE, 65536);
	send_pdu(bhs, NULL, 0);
	t = rec.last_task;
	/* unsolicited beyond FirstBurstLength */
	data_out_bhs(bhs, t->itt, IDM_RESERVED_TAG, 0, 4096, false);
	send_pdu(bhs, pattern_buf(0, 8192), 8192);
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_int_equal(t->received, 0);
	/* data for a task that does not exist is dropped quietly */
	data_out_bhs(bhs, 0x999, 0x12345, 0, 0, true);
	send_pdu(bhs, pattern_buf(0, 100), 100);
	nop_out_bhs(bhs, 8);
	send_pdu(bhs, NULL, 0);
	assert_int_equal(rec.rx_pdus, 1);
	assert_int_equal(conn->state, IDM_CONN_LOGGED_IN);
	idm_task_release(t);
}

static void test_read_datain(void **state)
{
	uint8_t bhs[48];
	struct rx r;
	struct idm_task *t;
	struct idm_scsi_status st = {
	    .status = 0, .flags = SCSI_RSP_FLAG_UNDERFLOW, .residual = 480};
	static const uint32_t sizes[] = {4096, 4096, 4096, 4096, 3616};
	static const uint8_t flags[] = {0, 0x80, 0, 0x80, 0x80 | 0x01 | 0x02};
	uint64_t sys;

	conn->params.max_xmit_dsl = 4096;
	conn->params.max_burst_length = 8192;
	go_ffp();
	scsi_cmd_bhs(bhs, 0x30, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 20480);
	send_pdu(bhs, NULL, 0);
	t = rec.last_task;
	assert_true(t->is_read);
	memcpy(rec.buf, pattern_buf(0, 20000), 20000);
	t->tx_done = on_tx_done;
	sys = conn->stats.tx_syscalls;
	uint32_t statsn = conn->stat_sn;
	assert_int_equal(idm_task_send_data(t, 0, 20000, &st), 0);
	for (uint32_t i = 0, off = 0; i < 5; off += sizes[i], i++) {
		assert_int_equal(read_pdu(&r), 0);
		assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_SCSI_DATA_IN);
		assert_int_equal(r.len, sizes[i]);
		assert_int_equal(r.bhs[BHS_FLAGS], flags[i]);
		assert_int_equal(get_be32(r.bhs + DATA_DATASN), i);
		assert_int_equal(get_be32(r.bhs + DATA_BUFFER_OFFSET), off);
		assert_int_equal(get_be32(r.bhs + DATA_TTT), 0xffffffff);
		assert_memory_equal(r.data, pattern_buf(off, sizes[i]), sizes[i]);
		if (i == 4) {
			assert_int_equal(get_be32(r.bhs + DATA_STATSN), statsn);
			assert_int_equal(get_be32(r.bhs + DATA_RESIDUAL), 480);
			assert_int_equal(r.bhs[DATA_STATUS], 0);
		}
	}
	assert_int_equal(rec.tx_done, 1);
	assert_int_equal(rec.tx_status, 0);
	assert_int_equal(conn->stat_sn, statsn + 1);
	assert_true(conn->stats.tx_syscalls - sys <= 2); /* one batch */
	assert_int_equal(conn->stats.bytes_copied, 0);
	idm_task_release(t);
}

/* 1 MiB in 8 KiB Data-In: several batches, F every 256 KiB, S at the end. */
static void test_read_large(void **state)
{
	uint8_t bhs[48];
	static struct rx r;
	struct idm_task *t;
	struct idm_scsi_status st = {.status = 0};
	uint32_t off = 0, nf = 0, sn = 0;

	conn->params.max_xmit_dsl = 8192;
	conn->params.max_burst_length = 262144;
	go_ffp();
	scsi_cmd_bhs(bhs, 0x32, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 1u << 20);
	send_pdu(bhs, NULL, 0);
	t = rec.last_task;
	for (uint32_t o = 0; o < (1u << 20); o += 65536) {
		memcpy(rec.buf + o, pattern_buf(o, 65536), 65536);
	}
	t->tx_done = on_tx_done;
	assert_int_equal(idm_task_send_data(t, 0, 1u << 20, &st), 0);
	while (off < (1u << 20)) {
		assert_int_equal(read_pdu(&r), 0);
		assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_SCSI_DATA_IN);
		assert_int_equal(r.len, 8192);
		assert_int_equal(get_be32(r.bhs + DATA_BUFFER_OFFSET), off);
		assert_int_equal(get_be32(r.bhs + DATA_DATASN), sn++);
		assert_memory_equal(r.data, pattern_buf(off, 8192), 8192);
		off += 8192;
		if (r.bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) {
			nf++;
			assert_int_equal(off % 262144, 0);
		}
		assert_int_equal((r.bhs[BHS_FLAGS] & DATA_FLAG_STATUS) != 0, off == (1u << 20));
	}
	assert_int_equal(nf, 4);
	assert_int_equal(sn, 128);
	assert_int_equal(rec.tx_done, 1);
	idm_task_release(t);
}

/* Teardown with Data-In queued and a write waiting for data. */
static void test_close_with_io_pending(void **state)
{
	uint8_t bhs[48];
	struct idm_task *rd, *wr;
	struct idm_scsi_status st = {.status = 0};

	conn->params.max_xmit_dsl = 8192;
	rec.unsol_limit = 0;
	go_ffp();
	scsi_cmd_bhs(bhs, 0x40, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 1u << 20);
	send_pdu(bhs, NULL, 0);
	rd = rec.last_task;
	scsi_cmd_bhs(bhs, 0x41, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_WRITE, 65536);
	send_pdu(bhs, NULL, 0);
	wr = rec.last_task;
	rd->tx_done = on_tx_done;
	wr->rx_done = on_rx_done;
	assert_int_equal(idm_task_send_data(rd, 0, 1u << 20, &st), 0);
	assert_int_equal(idm_task_recv_data(wr, 65536), 0);
	idm_conn_close(conn); /* the fake client's task_abort releases both */
	pump();
	assert_int_equal(rec.tx_done, 1);
	assert_true(rec.tx_status < 0);
	assert_int_equal(rec.rx_done, 0);
	assert_int_equal(rec.freed, 1);
}

static void test_read_with_sense(void **state)
{
	uint8_t bhs[48];
	struct rx r;
	struct idm_task *t;
	static const uint8_t sense[18] = {0x70, 0, 3};
	struct idm_scsi_status st = {.status = 2, .sense = sense, .sense_len = 18};

	go_ffp();
	scsi_cmd_bhs(bhs, 0x31, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 512);
	send_pdu(bhs, NULL, 0);
	t = rec.last_task;
	t->tx_done = on_tx_done;
	assert_int_equal(idm_task_send_data(t, 0, 512, &st), 0);
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_SCSI_DATA_IN);
	assert_int_equal(r.bhs[BHS_FLAGS], 0x80); /* no S: sense needs a response */
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	assert_int_equal(r.bhs[SCSI_RSP_STATUS], 2);
	assert_int_equal(get_be32(r.bhs + SCSI_RSP_EXPDATASN), 1);
	assert_int_equal(r.len, 20);
	assert_int_equal(get_be16(r.data), 18);
	assert_int_equal(rec.tx_done, 1);
	idm_task_release(t);
}

static void test_header_digest_error_closes(void **state)
{
	uint8_t bhs[48], w[128];
	size_t n;

	conn->params.header_digest = true;
	go_ffp();
	nop_out_bhs(bhs, 3);
	send_pdu(bhs, NULL, 0);
	assert_int_equal(rec.rx_pdus, 1);
	n = wire_pdu(w, bhs, NULL, 0);
	w[48] ^= 1; /* corrupt the header digest */
	send_raw(w, n);
	pump();
	assert_int_equal(rec.rx_pdus, 1);
	assert_true(peer_sees_eof());
	assert_int_equal(rec.freed, 1);
}

static void test_data_digest_error_rejects(void **state)
{
	uint8_t bhs[48], w[128];
	size_t n;
	struct rx r;

	conn->params.data_digest = true;
	go_ffp();
	nop_out_bhs(bhs, 4);
	n = wire_pdu(w, bhs, "hello", 5);
	w[n - 1] ^= 0x80; /* corrupt the data digest */
	send_raw(w, n);
	pump();
	assert_int_equal(rec.rx_pdus, 0);
	assert_int_equal(read_pdu(&r), 0);
	assert_int_equal(r.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_int_equal(r.bhs[REJECT_REASON], ISCSI_REJECT_DATA_DIGEST);
	assert_int_equal(conn->stats.digest_errors, 1);
	send_pdu(bhs, "hello", 5);
	assert_int_equal(rec.rx_pdus, 1);
	assert_int_equal(conn->state, IDM_CONN_LOGGED_IN);
}

static void test_trickle(void **state)
{
	uint8_t bhs[48], w[128];
	size_t n;

	conn->params.header_digest = true;
	conn->params.data_digest = true;
	go_ffp();
	nop_out_bhs(bhs, 9);
	n = wire_pdu(w, bhs, "tricky", 6);
	assert_int_equal(n, 48 + 4 + 8 + 4);
	for (size_t i = 0; i < n; i++) {
		send_raw(w + i, 1);
		idm_reactor_poll(reactor, 0);
		assert_int_equal(rec.rx_pdus, i + 1 == n ? 1 : 0);
	}
	assert_int_equal(rec.last_len, 6);
	assert_memory_equal(rec.last_data, "tricky", 6);
	assert_int_equal(get_be32(rec.last_bhs + BHS_ITT), 9);
}

/*
 * A WRITE aborted while its immediate data is on the wire (the target
 * drops its reference, as for an LU RESET from another session): the
 * late bytes are read into the buffer the task still owns, nothing is
 * dispatched, the task goes with the receiver's reference, and the
 * stream stays framed.
 */
static void test_abort_during_immediate_data(void **state)
{
	static uint8_t w[48 + 8192];
	uint8_t bhs[48];
	struct idm_task *t;
	size_t n;

	conn->params.max_recv_dsl = 16384;
	go_ffp();
	scsi_cmd_bhs(bhs, 0x30, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_WRITE, 8192);
	n = wire_pdu(w, bhs, pattern_buf(0, 8192), 8192);
	send_raw(w, 48 + 4096);
	pump();
	assert_int_equal(rec.headers, 1);
	t = rec.hdr_task;
	assert_int_equal(t->refcnt, 2); /* the client's and the receiver's */
	t->state = IDM_TASK_ABORTING;
	idm_task_release(t);
	assert_int_equal(rec.tasks_freed, 0);
	send_raw(w + 48 + 4096, n - 48 - 4096);
	pump();
	assert_int_equal(rec.cmds, 0);
	assert_int_equal(rec.tasks_freed, 1);
	assert_int_equal(conn->active_tasks, 0);
	assert_memory_equal(rec.buf, pattern_buf(0, 8192), 8192); /* its own buffer */
	nop_out_bhs(bhs, 0x31);
	send_pdu(bhs, "ping", 4);
	assert_int_equal(rec.rx_pdus, 1);
	assert_int_equal(conn->state, IDM_CONN_LOGGED_IN);
}

static void test_peer_close(void **state)
{
	go_ffp();
	shutdown(peer, SHUT_WR);
	pump();
	assert_int_equal(rec.freed, 1);
}

/* ---- listener ---- */

static struct idm_conn *accepted_conn;

static void svc_accepted(struct idm_svc *svc, struct idm_conn *c)
{
	rec.accepted++;
	accepted_conn = c;
}

static struct idm_svc *listen_loopback(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	struct idm_svc_req req = {0};
	struct idm_svc *svc = NULL;
	char err[128];

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(&req.addr, &sin, sizeof(sin));
	req.addrlen = sizeof(sin);
	req.reactors = &reactor;
	req.nreactors = 1;
	req.client = &client;
	req.max_tasks = 16;
	req.accepted = svc_accepted;
	assert_int_equal(idm_svc_create(&idm_tcp_transport, &req, &svc, err, sizeof(err)), 0);
	pump(); /* the listener goes online on the reactor */
	return svc;
}

/* Two reactors polled from this thread: connections alternate between them. */
static void test_svc_round_robin(void **state)
{
	struct idm_reactor *rs[2] = {reactor, idm_reactor_create(1)};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	struct idm_svc_req req = {0};
	struct idm_svc *svc = NULL;
	struct idm_conn *got[2];
	char err[128];
	int fd[2];

	assert_non_null(rs[1]);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(&req.addr, &sin, sizeof(sin));
	req.addrlen = sizeof(sin);
	req.reactors = rs;
	req.nreactors = 2;
	req.client = &client;
	req.max_tasks = 16;
	req.accepted = svc_accepted;
	assert_int_equal(idm_svc_create(&idm_tcp_transport, &req, &svc, err, sizeof(err)), 0);
	pump();
	for (int k = 0; k < 2; k++) {
		fd[k] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(
		    connect(fd[k], (struct sockaddr *)&svc->req.addr, svc->req.addrlen), 0);
		for (int i = 0; i < 100 && rec.accepted == k; i++) {
			idm_reactor_poll(rs[0], 10);
			idm_reactor_poll(rs[1], 0);
		}
		assert_int_equal(rec.accepted, k + 1);
		got[k] = accepted_conn;
		assert_ptr_equal(got[k]->reactor, rs[k]);
		assert_ptr_equal(got[k]->svc, svc);
		assert_int_equal(got[k]->state, IDM_CONN_XPT_UP);
	}
	close(fd[0]);
	close(fd[1]);
	for (int i = 0; i < 100 && rec.freed < 2; i++) {
		idm_reactor_poll(rs[0], 10);
		idm_reactor_poll(rs[1], 0);
	}
	assert_int_equal(rec.freed, 2);
	idm_svc_destroy(svc);
	pump();
	idm_reactor_destroy(rs[1]);
}

static void test_svc_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct idm_svc_req req = {0};
	struct idm_svc *svc = NULL;
	char err[128];
	int fd;

	memcpy(&req.addr, &sin6, sizeof(sin6));
	req.addrlen = sizeof(sin6);
	req.reactors = &reactor;
	req.nreactors = 1;
	req.client = &client;
	req.max_tasks = 16;
	req.accepted = svc_accepted;
	if (idm_svc_create(&idm_tcp_transport, &req, &svc, err, sizeof(err)) != 0) {
		skip(); /* no IPv6 loopback here */
	}
	assert_true(strncmp(svc->name, "[::1]:", 6) == 0);
	pump();
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&svc->req.addr, svc->req.addrlen), 0);
	for (int i = 0; i < 100 && rec.accepted == 0; i++) {
		idm_reactor_poll(reactor, 10);
	}
	assert_int_equal(rec.accepted, 1);
	assert_true(strncmp(accepted_conn->peer_name, "[::1]:", 6) == 0);
	close(fd);
	for (int i = 0; i < 100 && rec.freed == 0; i++) {
		idm_reactor_poll(reactor, 10);
	}
	idm_svc_destroy(svc);
	pump();
}

/* The transport from the initiator side: connect, send a Login, get a response. */
static void test_initiator_connect(void **state)
{
	struct idm_svc *svc = listen_loopback();
	struct idm_conn *ini;
	struct idm_pdu *p;

	ini = idm_conn_create(reactor, IDM_ROLE_INITIATOR, &idm_tcp_transport, &client, 0, 4);
	assert_non_null(ini);
	assert_int_equal(idm_tcp_transport.ops->ini_conn_create(
	                     ini, (struct sockaddr *)&svc->req.addr, svc->req.addrlen),
	                 0);
	idm_conn_event(ini, IDM_CE_CONNECT_REQ);
	/* queued while connecting: leaves once connected */
	p = idm_pdu_alloc(ini, 4);
	idm_bhs_init(p->bhs, ISCSI_OP_LOGIN_REQ, true);
	p->bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | 3;
	put_be32(p->bhs + BHS_ITT, 0x77);
	memcpy(p->data, "k=v", 4);
	ini->exp_stat_sn = 5;
	idm_pdu_tx(ini, p);
	for (int i = 0; i < 100 && (rec.accepted == 0 || rec.rx_pdus == 0); i++) {
		idm_reactor_poll(reactor, 10);
	}
	assert_int_equal(ini->state, IDM_CONN_XPT_UP);
	assert_int_equal(rec.accepted, 1);
	assert_int_equal(rec.rx_pdus, 1);
	assert_int_equal(rec.last_bhs[0] & 0x3f, ISCSI_OP_LOGIN_REQ);
	assert_int_equal(get_be32(rec.last_bhs + LOGIN_EXPSTATSN), 5);
	assert_memory_equal(rec.last_data, "k=v", 4);
	assert_int_equal(accepted_conn->state, IDM_CONN_IN_LOGIN);
	/* the answer reaches the initiator's client */
	p = idm_pdu_alloc(accepted_conn, 0);
	idm_bhs_init(p->bhs, ISCSI_OP_LOGIN_RSP, false);
	p->bhs[LOGIN_STATUS_CLASS] = 2;
	put_be32(p->bhs + BHS_ITT, 0x77);
	idm_pdu_tx(accepted_conn, p);
	for (int i = 0; i < 100 && rec.rx_pdus < 2; i++) {
		idm_reactor_poll(reactor, 10);
	}
	assert_int_equal(rec.rx_pdus, 2);
	assert_int_equal(rec.last_bhs[0] & 0x3f, ISCSI_OP_LOGIN_RSP);
	/* the refused login closes the target's side; then the initiator sees it */
	for (int i = 0; i < 100 && rec.freed < 2; i++) {
		idm_reactor_poll(reactor, 10);
	}
	assert_int_equal(rec.freed, 2);
	idm_svc_destroy(svc);
	pump();
}

static void test_initiator_connect_refused(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1)};
	struct idm_conn *ini;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ini = idm_conn_create(reactor, IDM_ROLE_INITIATOR, &idm_tcp_transport, &client, 0, 4);
	assert_int_equal(
	    idm_tcp_transport.ops->ini_conn_create(ini, (struct sockaddr *)&sin, sizeof(sin)), 0);
	idm_conn_event(ini, IDM_CE_CONNECT_REQ);
	for (int i = 0; i < 100 && rec.freed == 0; i++) {
		idm_reactor_poll(reactor, 10);
	}
	assert_int_equal(rec.freed, 1);
}

static void test_svc_accept(void **state)
{
	struct idm_svc *svc = listen_loopback();
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&svc->req.addr, svc->req.addrlen), 0);
	for (int i = 0; i < 50 && rec.accepted == 0; i++) {
		idm_reactor_poll(reactor, 10);
	}
	assert_int_equal(rec.accepted, 1);
	close(fd);
	for (int i = 0; i < 50 && rec.freed == 0; i++) {
		idm_reactor_poll(reactor, 10);
	}
	assert_int_equal(rec.freed, 1);
	idm_svc_destroy(svc);
	pump();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_login_rx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_oversize_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_non_login_before_login_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_bhs_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ahs_on_nop_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_opcode_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scsi_cmd_immediate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scsi_cmd_ahs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_r2t, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_out_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_datain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_stops_while_peer_does_not_read, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read_with_sense, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_with_io_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_digest_error_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_digest_error_rejects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trickle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_during_immediate_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_svc_accept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_svc_round_robin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_svc_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_initiator_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_initiator_connect_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
