/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER engine tests, initiator role, over the in-process loopback of the
 * verbs (iser_fake.h). First the test plays the target: it answers the
 * initiator's Sends and moves data by reaching the memory the initiator
 * advertised (as the target's RDMA Write / Read would). Then an initiator
 * engine and a target engine run against each other, both over the fake.
 */
#include "idm/core_priv.h"
#include "iser_fake.h"

#define MAX_TASKS 32

/* ---- the fake initiator client ---- */

struct ini_rec {
	int rx_pdus, aborted, tasks_freed, freed;
	uint8_t last_bhs[48];
};

static struct ini_rec irec;
static struct idm_reactor *reactor;
static struct idm_conn *ini_conn;
static struct fake_qp *iq;

/* A final Login Response to the full feature phase ends the login. */
static void i_rx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	irec.rx_pdus++;
	memcpy(irec.last_bhs, pdu->bhs, 48);
	if (idm_pdu_opcode(pdu) == ISCSI_OP_LOGIN_RSP &&
	    (pdu->bhs[BHS_FLAGS] & LOGIN_FLAG_TRANSIT) &&
	    (pdu->bhs[BHS_FLAGS] & LOGIN_NSG_MASK) == ISCSI_FULL_FEATURE_PHASE) {
		idm_conn_event(c, IDM_CE_LOGIN_OK);
	}
}

static void i_conn_free(struct idm_conn *c)
{
	irec.freed++;
	if (ini_conn == c) {
		ini_conn = NULL;
	}
}

/* As the initiator library: the command ends, its reference goes. */
static void i_task_abort(struct idm_task *t)
{
	irec.aborted++;
	idm_task_release(t);
}

static void i_task_free(struct idm_task *t)
{
	(void)t;
	irec.tasks_freed++;
}

static const struct idm_client_ops ini_client = {
    .rx_pdu = i_rx_pdu,
    .conn_free = i_conn_free,
    .task_abort = i_task_abort,
    .task_free = i_task_free,
};

/* owner_connect: the QP exists at once; the test says when it is established. */
static int fake_connect(void *owner, struct iser_conn *ic)
{
	struct iser_link link = fake_link(owner, 0);

	return iser_conn_start(ic, &link, ic->c->max_tasks);
}

/* An initiator connection over `q`, connecting (CONNECT_REQ) but not yet established. */
static struct idm_conn *make_ini(struct fake_qp *q)
{
	struct idm_conn *c = idm_conn_create(reactor, IDM_ROLE_INITIATOR, &idm_iser_transport,
	                                     &ini_client, 0, MAX_TASKS);
	struct iser_conn *ic = iser_conn_alloc(IDM_ROLE_INITIATOR);

	assert_non_null(c);
	assert_non_null(ic);
	assert_int_equal(iser_conn_bind(c, ic), 0);
	ic->owner = q;
	ic->owner_connect = fake_connect;
	ic->owner_free = fake_owner_free;
	idm_conn_event(c, IDM_CE_CONNECT_REQ);
	assert_int_equal(c->state, IDM_CONN_XPT_WAIT);
	assert_int_equal(q->rq_count, iser_conn_nrx(MAX_TASKS)); /* posted before connecting */
	return c;
}

static int setup(void **state)
{
	(void)state;
	memset(&irec, 0, sizeof(irec));
	reactor = idm_reactor_create(0);
	assert_non_null(reactor);
	iq = calloc(1, sizeof(*iq));
	ini_conn = make_ini(iq);
	return 0;
}

static void drain_reactor(void)
{
	for (int i = 0; i < 4; i++) {
		idm_reactor_poll(reactor, 0);
	}
}

static int teardown(void **state)
{
	(void)state;
	if (ini_conn) {
		idm_conn_close(ini_conn);
	}
	fake_poll(iq);
	drain_reactor();
	assert_null(ini_conn);
	assert_int_equal(iq->regs, 0); /* every registration dropped */
	free(iq);
	idm_reactor_destroy(reactor);
	return 0;
}

/* ---- messages ---- */

/* The test, as the target, Sends a PDU to the initiator. */
static void target_sends(const uint8_t *bhs, const void *data, uint32_t len)
{
	static uint8_t msg[ISER_CTRL_HDRS + 8192];

	fake_deliver(iq, msg, ctrl_msg(msg, NULL, bhs, data, len));
}

/* The n-th message the initiator sent: its iSER header and BHS. */
static const uint8_t *ini_sent(unsigned n, struct iser_hdr *h)
{
	assert_true(n < iq->nout);
	assert_int_equal(iser_msg_opcode(iq->out[n], iq->out_len[n]), ISER_OP_CONTROL);
	assert_int_equal(iser_hdr_decode(iq->out[n], iq->out_len[n], h), 0);
	return iq->out[n] + ISER_HDR_LEN;
}

static void login_rsp_bhs(uint8_t *bhs, uint32_t itt)
{
	idm_bhs_init(bhs, ISCSI_OP_LOGIN_RSP, false);
	bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | ISCSI_FULL_FEATURE_PHASE;
	put_be32(bhs + BHS_ITT, itt);
}

static void login_req(struct idm_conn *c, uint32_t itt)
{
	struct idm_pdu *pdu = idm_pdu_alloc(c, 32);

	idm_bhs_init(pdu->bhs, ISCSI_OP_LOGIN_REQ, true);
	pdu->bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | ISCSI_FULL_FEATURE_PHASE;
	put_be32(pdu->bhs + BHS_ITT, itt);
	memcpy(pdu->data, "RDMAExtensions=Yes", 19);
	pdu->data_len = 19;
	idm_pdu_tx(c, pdu);
}

/* The target's answer to the iSER keys, as the key engine hands it over. */
static void ini_sees_rdma_ext(struct idm_conn *c)
{
	char ans[64] = "";

	(void)idm_iser_transport.ops->negotiate_key(c, "RDMAExtensions", "Yes", ans, sizeof(ans));
	/* a refusal of a length key is one the RFC 7145 default survives */
	assert_int_equal(idm_iser_transport.ops->negotiate_key(c, "TargetRecvDataSegmentLength",
	                                                       "NotUnderstood", ans, sizeof(ans)),
	                 IDM_HOOK_NOTED);
}

static void ini_login(void)
{
	struct iser_hdr h;
	uint8_t bhs[48];

	login_req(ini_conn, 1);
	assert_int_equal(iq->nout, 0); /* not established: the Login Request waits */
	iser_conn_established(iser_conn_of(ini_conn));
	assert_int_equal(ini_conn->state, IDM_CONN_XPT_UP);
	idm_conn_event(ini_conn, IDM_CE_LOGIN_RX); /* as the initiator library does */
	assert_int_equal(iq->nout, 1);
	assert_int_equal(ini_sent(0, &h)[0] & 0x3f, ISCSI_OP_LOGIN_REQ);
	assert_int_equal(h.flags, 0); /* no STag on a Login Request */
	assert_memory_equal(iq->out[0] + ISER_CTRL_HDRS, "RDMAExtensions=Yes", 19);
	fake_poll(iq); /* the Send completes */
	ini_sees_rdma_ext(ini_conn);
	login_rsp_bhs(bhs, 1);
	target_sends(bhs, "RDMAExtensions=Yes", 19);
	drain_reactor();
	assert_int_equal(irec.rx_pdus, 1);
	assert_int_equal(ini_conn->state, IDM_CONN_LOGGED_IN);
	assert_true(ini_conn->ffp);
	assert_true(ini_conn->params.rdma_extensions);
	iq->nout = 0;
}

/* A SCSI command of the initiator on `mem`: its task, and the PDU sent. */
static struct idm_task *ini_cmd(struct idm_conn *c, uint32_t itt, uint8_t *mem, uint32_t len,
                                bool is_read)
{
	int err = 0;
	struct idm_task *t = idm_task_alloc(c, itt, &err);
	struct idm_pdu *pdu = idm_pdu_alloc(c, 0);

	assert_non_null(t);
	assert_non_null(pdu);
	t->data = mem;
	t->data_cap = len;
	t->edtl = len;
	t->is_read = is_read;
	t->is_write = !is_read;
	idm_bhs_init(pdu->bhs, ISCSI_OP_SCSI_CMD, false);
	pdu->bhs[BHS_FLAGS] =
	    ISCSI_FLAG_FINAL | (is_read ? SCSI_CMD_FLAG_READ : SCSI_CMD_FLAG_WRITE);
	put_be32(pdu->bhs + BHS_ITT, itt);
	put_be32(pdu->bhs + SCSI_CMD_EDTL, len);
	idm_pdu_tx(c, pdu);
	return t;
}

static void scsi_rsp_bhs(uint8_t *bhs, uint32_t itt)
{
	idm_bhs_init(bhs, ISCSI_OP_SCSI_RSP, false);
	bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(bhs + BHS_ITT, itt);
}

/* ---- initiator alone, the test as the target ---- */

static void test_ini_login(void **state)
{
	(void)state;
	ini_login();
	assert_int_equal(ini_conn->stats.pdus_tx, 1);
	assert_int_equal(ini_conn->stats.work_requests, 1);
}

/*
 * A READ: the command advertises the buffer (read STag and VA), the
 * target RDMA-Writes the data there, then its SCSI Response arrives. A
 * buffer the transport did not allocate is registered for the command
 * and the registration goes with the response; one from buf_alloc stays.
 */
static void do_ini_read(uint8_t *mem, uint32_t len, uint32_t itt, bool one_off)
{
	int regs_before = iq->regs;
	struct iser_hdr h;
	uint8_t bhs[48];
	uint8_t *at;
	struct idm_task *t = ini_cmd(ini_conn, itt, mem, len, true);

	assert_int_equal(iq->regs, regs_before + (one_off ? 1 : 0));
	assert_int_equal(ini_sent(iq->nout - 1, &h)[0] & 0x3f, ISCSI_OP_SCSI_CMD);
	assert_int_equal(h.flags, ISER_RSV);
	assert_int_equal(h.read_va, (uintptr_t)mem);
	/* the target's RDMA Write: a one-off STag names exactly the command's buffer */
	if (one_off) {
		assert_null(f_remote(iq, h.read_va, h.read_stag, len + 1));
	}
	at = f_remote(iq, h.read_va, h.read_stag, len);
	assert_ptr_equal(at, mem);
	fill(at, len);
	fake_poll(iq);
	scsi_rsp_bhs(bhs, itt);
	target_sends(bhs, NULL, 0);
	assert_int_equal(irec.last_bhs[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	check(mem, len);
	assert_int_equal(iq->regs, regs_before); /* a one-off registration went */
	idm_task_release(t);
}

static void test_ini_read(void **state)
{
	uint8_t *mine = malloc(65536);
	uint8_t *owned;

	(void)state;
	ini_login();
	do_ini_read(mine, 65536, 0x10, true);
	owned = idm_conn_buf_alloc(ini_conn, 256 * 1024);
	assert_non_null(owned);
	do_ini_read(owned, 256 * 1024, 0x11, false);
	do_ini_read(owned + 4096, 8192, 0x12, false);      /* inside the registered buffer */
	assert_int_equal(ini_conn->stats.bytes_copied, 0); /* data never crossed in a Send */
	assert_true(idm_conn_buf_free(ini_conn, owned, 256 * 1024));
	free(mine);
}

/* A WRITE: the command advertises the write STag; the target RDMA-Reads the data. */
static void test_ini_write(void **state)
{
	const uint32_t len = 128 * 1024;
	uint8_t *buf;
	struct iser_hdr h;
	uint8_t bhs[48];
	uint8_t *at;
	struct idm_task *t;

	(void)state;
	ini_login();
	buf = idm_conn_buf_alloc(ini_conn, len);
	fill(buf, len);
	t = ini_cmd(ini_conn, 0x20, buf, len, false);
	assert_int_equal(ini_sent(iq->nout - 1, &h)[0] & 0x3f, ISCSI_OP_SCSI_CMD);
	assert_int_equal(h.flags, ISER_WSV);
	assert_int_equal(h.write_va, (uintptr_t)buf); /* no unsolicited data: its start */
	at = f_remote(iq, h.write_va, h.write_stag, len);
	assert_non_null(at);
	check(at, len);
	/* a command's Send carries the header only: no data PDU crosses */
	assert_int_equal(iq->out_len[iq->nout - 1], ISER_CTRL_HDRS);
	fake_poll(iq);
	scsi_rsp_bhs(bhs, 0x20);
	target_sends(bhs, NULL, 0);
	assert_int_equal(irec.last_bhs[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	idm_task_release(t);
	assert_true(idm_conn_buf_free(ini_conn, buf, len));
}

/* NOP-Out out, NOP-In in: control PDUs with data, no STag. */
static void test_ini_nop(void **state)
{
	struct idm_pdu *pdu;
	struct iser_hdr h;
	uint8_t bhs[48];

	(void)state;
	ini_login();
	pdu = idm_pdu_alloc(ini_conn, 8);
	idm_bhs_init(pdu->bhs, ISCSI_OP_NOP_OUT, true);
	pdu->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(pdu->bhs + BHS_ITT, 0x30);
	put_be32(pdu->bhs + BHS_TTT, IDM_RESERVED_TAG);
	memcpy(pdu->data, "ping!!!", 8);
	pdu->data_len = 8;
	idm_pdu_tx(ini_conn, pdu);
	assert_int_equal(ini_sent(0, &h)[0] & 0x3f, ISCSI_OP_NOP_OUT);
	assert_int_equal(h.flags, 0);
	assert_memory_equal(iq->out[0] + ISER_CTRL_HDRS, "ping!!!", 8);
	fake_poll(iq);
	idm_bhs_init(bhs, ISCSI_OP_NOP_IN, false);
	bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(bhs + BHS_ITT, 0x30);
	put_be32(bhs + BHS_TTT, IDM_RESERVED_TAG);
	target_sends(bhs, "ping!!!", 8);
	assert_int_equal(irec.last_bhs[0] & 0x3f, ISCSI_OP_NOP_IN);
	assert_int_equal(get_be32(irec.last_bhs + BHS_ITT), 0x30);
}

/* A message the initiator must not get (a Hello) closes the connection. */
static void test_ini_refuses_hello(void **state)
{
	struct iser_hello hello = {.max_ver = 1, .min_ver = 1};
	uint8_t msg[ISER_HELLO_LEN];

	(void)state;
	ini_login();
	assert_int_equal(iser_hello_encode(msg, &hello), 0);
	fake_deliver(iq, msg, sizeof(msg));
	drain_reactor();
	fake_poll(iq);
	drain_reactor();
	assert_null(ini_conn);
}

/*
 * The connection is lost with two commands outstanding: every posted
 * receive flushes, the commands are aborted to the client, the one-off
 * registration and the connection go, and nothing completes twice.
 */
static void test_ini_flush_with_tasks(void **state)
{
	uint8_t *a = malloc(4096), *b;

	(void)state;
	ini_login();
	b = idm_conn_buf_alloc(ini_conn, 8192);
	/* the client keeps its references: task_abort drops them */
	(void)ini_cmd(ini_conn, 0x40, a, 4096, true);
	(void)ini_cmd(ini_conn, 0x41, b, 8192, false);
	assert_int_equal(ini_conn->active_tasks, 2);
	f_disconnect(iq); /* the target went away: the QP is in error */
	fake_poll(iq);
	drain_reactor();
	fake_poll(iq);
	drain_reactor();
	assert_int_equal(irec.aborted, 2);
	assert_int_equal(irec.tasks_freed, 2);
	assert_null(ini_conn);
	assert_int_equal(irec.freed, 1);
	assert_int_equal(iq->regs, 0);
	free(a);
	free(b); /* the registration went with the connection; the memory is ours */
}

/* Before the connection is established a close drops what waits, leaks nothing. */
static void test_ini_close_while_connecting(void **state)
{
	(void)state;
	login_req(ini_conn, 1);
	idm_conn_close(ini_conn);
	fake_poll(iq);
	drain_reactor();
	assert_null(ini_conn);
	assert_int_equal(iq->nout, 0);
}

/* ---- an initiator engine and a target engine against each other ---- */

struct tgt_rec {
	int cmds, rx_done, tx_done, aborted;
	struct idm_task *last_task;
	uint8_t *buf;
};

static struct tgt_rec trec;
static struct idm_conn *tgt_conn;
static struct fake_qp *tq;

static int t_cmd_header(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	(void)c;
	(void)pdu;
	t->data = trec.buf;
	t->data_cap = 1u << 20;
	return 0;
}

static void t_cmd(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	(void)c;
	(void)pdu;
	trec.cmds++;
	trec.last_task = t;
}

/* The target side answers the Login Request with a final Login Response. */
static void t_rx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	struct idm_pdu *rsp;

	if (idm_pdu_opcode(pdu) != ISCSI_OP_LOGIN_REQ) {
		return;
	}
	rsp = idm_pdu_alloc(c, 0);
	login_rsp_bhs(rsp->bhs, idm_pdu_itt(pdu));
	idm_pdu_tx(c, rsp);
}

static void t_conn_free(struct idm_conn *c)
{
	if (tgt_conn == c) {
		tgt_conn = NULL;
	}
}

static void t_task_abort(struct idm_task *t)
{
	trec.aborted++;
	idm_task_release(t);
}

static const struct idm_client_ops tgt_client = {
    .scsi_cmd_header = t_cmd_header,
    .scsi_cmd = t_cmd,
    .rx_pdu = t_rx_pdu,
    .conn_free = t_conn_free,
    .task_abort = t_task_abort,
};

static void t_rx_done(struct idm_task *t, int status)
{
	(void)t;
	assert_int_equal(status, 0);
	trec.rx_done++;
}

static void t_tx_done(struct idm_task *t, int status)
{
	(void)t;
	assert_int_equal(status, 0);
	trec.tx_done++;
}

static int setup_pair(void **state)
{
	struct iser_link link;
	struct iser_conn *ic;

	setup(state);
	memset(&trec, 0, sizeof(trec));
	trec.buf = calloc(1, 1u << 20);
	tq = calloc(1, sizeof(*tq));
	fake_pair(iq, tq);
	link = fake_link(tq, 16);
	tgt_conn = idm_conn_create(reactor, IDM_ROLE_TARGET, &idm_iser_transport, &tgt_client, 0,
	                           MAX_TASKS);
	assert_non_null(tgt_conn);
	assert_int_equal(iser_conn_create(&link, MAX_TASKS, &ic), 0);
	assert_int_equal(iser_conn_bind(tgt_conn, ic), 0);
	ic->owner = tq;
	ic->owner_free = fake_owner_free;
	idm_conn_event(tgt_conn, IDM_CE_ACCEPTED);
	return 0;
}

static int teardown_pair(void **state)
{
	if (tgt_conn) {
		idm_conn_close(tgt_conn);
	}
	fake_poll_pair(iq, tq);
	drain_reactor();
	assert_null(tgt_conn);
	assert_int_equal(tq->regs, 0);
	free(tq);
	free(trec.buf);
	return teardown(state);
}

static void pair_run(void)
{
	for (int i = 0; i < 4; i++) {
		fake_poll_pair(iq, tq);
		drain_reactor();
	}
}

static void pair_login(void)
{
	login_req(ini_conn, 1);
	iser_conn_established(iser_conn_of(ini_conn));
	idm_conn_event(ini_conn, IDM_CE_LOGIN_RX);
	ini_sees_rdma_ext(ini_conn);
	assert_int_equal(idm_iser_transport.ops->negotiate_key(tgt_conn, "RDMAExtensions", "Yes",
	                                                       (char[16]){0}, 16),
	                 IDM_HOOK_ANSWERED);
	pair_run();
	assert_int_equal(tgt_conn->state, IDM_CONN_LOGGED_IN);
	assert_int_equal(ini_conn->state, IDM_CONN_LOGGED_IN);
}

static const struct idm_scsi_status good = {.response = ISCSI_RESPONSE_COMPLETED};

/* The target's read data lands in the initiator's buffer by RDMA Write. */
static void pair_read(uint8_t *ini_buf, uint32_t len, uint32_t itt)
{
	struct idm_task *it = ini_cmd(ini_conn, itt, ini_buf, len, true);
	struct idm_task *tt;

	memset(ini_buf, 0, len);
	pair_run();
	assert_int_equal(trec.cmds, 1);
	tt = trec.last_task;
	tt->tx_done = t_tx_done;
	fill(trec.buf, len);
	assert_int_equal(idm_task_send_data(tt, 0, len, &good), 0);
	pair_run();
	assert_int_equal(trec.tx_done, 1);
	assert_int_equal(irec.last_bhs[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	assert_int_equal(get_be32(irec.last_bhs + BHS_ITT), itt);
	check(ini_buf, len);
	idm_task_release(tt);
	idm_task_release(it);
	trec.cmds = trec.tx_done = 0;
}

/* The initiator's write data reaches the target's buffer by RDMA Read. */
static void pair_write(uint8_t *ini_buf, uint32_t len, uint32_t itt)
{
	struct idm_task *it;
	struct idm_task *tt;

	fill(ini_buf, len);
	memset(trec.buf, 0, len);
	it = ini_cmd(ini_conn, itt, ini_buf, len, false);
	pair_run();
	assert_int_equal(trec.cmds, 1);
	tt = trec.last_task;
	tt->rx_done = t_rx_done;
	assert_int_equal(idm_task_recv_data(tt, len), 0);
	pair_run();
	assert_int_equal(trec.rx_done, 1);
	check(trec.buf, len);
	assert_int_equal(idm_task_send_status(tt, &good), 0);
	pair_run();
	assert_int_equal(irec.last_bhs[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	assert_int_equal(get_be32(irec.last_bhs + BHS_ITT), itt);
	idm_task_release(tt);
	idm_task_release(it);
	trec.cmds = trec.rx_done = 0;
}

static void test_pair_io(void **state)
{
	uint8_t *owned;
	uint8_t *mine = malloc(16384);

	(void)state;
	pair_login();
	owned = idm_conn_buf_alloc(ini_conn, 512 * 1024);
	assert_non_null(owned);
	pair_read(owned, 4096, 0x50);       /* target: copied through its pool */
	pair_read(owned, 512 * 1024, 0x51); /* target: registers its buffer */
	pair_write(owned, 16384, 0x52);
	pair_write(owned, 512 * 1024, 0x53);
	pair_read(mine, 16384, 0x54); /* initiator: a one-off registration */
	pair_write(mine, 16384, 0x55);
	assert_int_equal(ini_conn->stats.bytes_copied, 0);
	assert_int_equal(tgt_conn->stats.registrations, 2);
	assert_true(idm_conn_buf_free(ini_conn, owned, 512 * 1024));
	assert_int_equal(iq->regs, 1); /* the rings' region only */
	free(mine);
}

/* The target closes with a write's RDMA Read done and its response unsent: both ends go. */
static void test_pair_target_closes(void **state)
{
	uint8_t *buf;

	(void)state;
	pair_login();
	buf = idm_conn_buf_alloc(ini_conn, 8192);
	(void)ini_cmd(ini_conn, 0x60, buf, 8192, false); /* task_abort drops it */
	pair_run();
	assert_int_equal(trec.cmds, 1);
	idm_conn_close(tgt_conn); /* its disconnect flushes the initiator too */
	f_disconnect(iq);
	pair_run();
	assert_null(tgt_conn);
	assert_int_equal(trec.aborted, 1);
	assert_null(ini_conn);
	assert_int_equal(irec.aborted, 1);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ini_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_nop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_refuses_hello, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_flush_with_tasks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_close_while_connecting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pair_io, setup_pair, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_pair_target_closes, setup_pair, teardown_pair),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
