/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER engine tests, target role, over an in-process loopback of the
 * verbs (iser_fake.h): the test plays the initiator. Its Sends land in
 * the target's posted receives, the target's Sends are captured, RDMA
 * Write / Read are memcpy into / out of memory the "initiator" registered
 * under an rkey. Two connections run side by side so a failure can be
 * shown to end only its own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "idm/core_priv.h"
#include "iser_fake.h"

#define BUFSZ (1u << 20)

/* ---- the fake client ---- */

struct rec {
	int rx_pdus, cmds, rx_done, tx_done, tx_status, freed, aborted, tasks_freed;
	uint8_t last_bhs[48];
	struct idm_task *last_task;
	uint32_t unsol_limit;
	uint8_t *buf;
};

static struct rec rec;
static struct idm_reactor *reactor;
static struct idm_conn *conns[2];
static struct fake_qp *qps[2];

static int c_cmd_header(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	(void)c;
	(void)pdu;
	t->data = rec.buf;
	t->data_cap = BUFSZ;
	t->unsol_limit = rec.unsol_limit;
	return 0;
}

static void c_cmd(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	(void)c;
	(void)pdu;
	rec.cmds++;
	rec.last_task = t;
}

static void c_rx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	(void)c;
	rec.rx_pdus++;
	memcpy(rec.last_bhs, pdu->bhs, 48);
}

static void c_conn_free(struct idm_conn *c)
{
	rec.freed++;
	for (int i = 0; i < 2; i++) {
		if (conns[i] == c) {
			conns[i] = NULL;
		}
	}
}

static void c_task_abort(struct idm_task *t)
{
	rec.aborted++;
	idm_task_release(t);
}

/* The task's last reference went: its buffer could be recycled now. */
static void c_task_free(struct idm_task *t)
{
	(void)t;
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
	(void)t;
	assert_int_equal(status, 0);
	rec.rx_done++;
}

static void on_tx_done(struct idm_task *t, int status)
{
	(void)t;
	rec.tx_done++;
	rec.tx_status = status;
}

/* ---- setup ---- */

static struct idm_conn *make_conn(struct fake_qp *q)
{
	struct iser_link link = fake_link(q, 4);
	struct idm_conn *c;
	struct iser_conn *ic;

	c = idm_conn_create(reactor, IDM_ROLE_TARGET, &idm_iser_transport, &client, 64, 32);
	assert_non_null(c);
	assert_int_equal(iser_conn_create(&link, c->max_tasks, &ic), 0);
	/* posted before any accept: what login needs, in one registration, no pool */
	assert_int_equal(q->rq_count, ISER_LOGIN_RX);
	assert_int_equal(q->regs, 1);
	assert_int_equal(iser_conn_bind(c, ic), 0);
	ic->owner = q;
	ic->owner_free = fake_owner_free;
	idm_conn_event(c, IDM_CE_ACCEPTED);
	return c;
}

static int setup(void **state)
{
	(void)state;
	memset(&rec, 0, sizeof(rec));
	rec.buf = calloc(1, BUFSZ);
	rec.unsol_limit = 0;
	reactor = idm_reactor_create(0);
	assert_non_null(reactor);
	for (int i = 0; i < 2; i++) {
		qps[i] = calloc(1, sizeof(*qps[i]));
		conns[i] = make_conn(qps[i]);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		if (conns[i]) {
			idm_conn_close(conns[i]);
		}
		fake_poll(qps[i]);
	}
	for (int i = 0; i < 4; i++) {
		idm_reactor_poll(reactor, 0);
	}
	assert_null(conns[0]);
	assert_null(conns[1]);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(qps[i]->regs, 0); /* every registration dropped */
		free(qps[i]);
	}
	idm_reactor_destroy(reactor);
	free(rec.buf);
	return 0;
}

/* ---- the initiator's messages ---- */

static void send_ctrl(struct fake_qp *q, const struct iser_hdr *h, const uint8_t *bhs,
                      const void *data, uint32_t len)
{
	static uint8_t msg[ISER_CTRL_HDRS + 8192];

	fake_deliver(q, msg, ctrl_msg(msg, h, bhs, data, len));
}

/* The BHS of the n-th message the target sent (checking its iSER header). */
static const uint8_t *sent_bhs(struct fake_qp *q, unsigned n)
{
	struct iser_hdr h;

	assert_true(n < q->nout);
	assert_int_equal(iser_msg_opcode(q->out[n], q->out_len[n]), ISER_OP_CONTROL);
	assert_int_equal(iser_hdr_decode(q->out[n], q->out_len[n], &h), 0);
	assert_int_equal(h.flags, 0); /* the target advertises no STags */
	return q->out[n] + ISER_HDR_LEN;
}

static void go_ffp(int i)
{
	struct idm_conn *c = conns[i];
	struct fake_qp *q = qps[i];
	uint8_t bhs[48];
	struct idm_pdu *rsp;

	idm_bhs_init(bhs, ISCSI_OP_LOGIN_REQ, true);
	bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | 3;
	put_be32(bhs + BHS_ITT, 1);
	send_ctrl(q, NULL, bhs, "RDMAExtensions=Yes", 19);
	assert_int_equal(c->state, IDM_CONN_IN_LOGIN);
	rsp = idm_pdu_alloc(c, 4);
	idm_bhs_init(rsp->bhs, ISCSI_OP_LOGIN_RSP, false);
	rsp->bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | 3;
	put_be32(rsp->bhs + BHS_ITT, 1);
	memcpy(rsp->data, "a=b", 4);
	rsp->data_len = 4;
	idm_pdu_tx(c, rsp);
	fake_poll(q);
	assert_int_equal(c->state, IDM_CONN_LOGGED_IN);
	assert_true(c->ffp);
	/* logged in: every receive posted, the rest of the rings and the pool registered */
	assert_int_equal(q->rq_count, iser_conn_nrx(32));
	assert_int_equal(q->regs, iser_conn_of(c)->link.copy_threshold > 1 ? 3 : 2);
	assert_int_equal(sent_bhs(q, q->nout - 1)[0] & 0x3f, ISCSI_OP_LOGIN_RSP);
	assert_memory_equal(q->out[q->nout - 1] + ISER_CTRL_HDRS, "a=b", 4);
	q->nout = 0;
	rec.rx_pdus = 0;
}

/* A discovery session carries no SCSI command: it keeps the login rings, gets no pool. */
static void test_discovery_keeps_login_rings(void **state)
{
	struct idm_conn *c = conns[0];
	struct fake_qp *q = qps[0];
	uint8_t bhs[48];
	struct idm_pdu *rsp;

	(void)state;
	idm_bhs_init(bhs, ISCSI_OP_LOGIN_REQ, true);
	bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | 3;
	send_ctrl(q, NULL, bhs, "SessionType=Discovery", 22);
	c->params.session_type = IDM_SESSION_DISCOVERY; /* as the target's login sets it */
	rsp = idm_pdu_alloc(c, 0);
	idm_bhs_init(rsp->bhs, ISCSI_OP_LOGIN_RSP, false);
	rsp->bhs[BHS_FLAGS] = LOGIN_FLAG_TRANSIT | (1 << 2) | 3;
	idm_pdu_tx(c, rsp);
	fake_poll(q);
	assert_int_equal(c->state, IDM_CONN_LOGGED_IN);
	assert_int_equal(q->rq_count, ISER_LOGIN_RX);
	assert_int_equal(q->regs, 1);
}

static void scsi_cmd_bhs(uint8_t *bhs, uint32_t itt, uint8_t flags, uint32_t edtl)
{
	idm_bhs_init(bhs, ISCSI_OP_SCSI_CMD, false);
	bhs[BHS_FLAGS] = flags;
	put_be32(bhs + BHS_ITT, itt);
	put_be32(bhs + SCSI_CMD_EDTL, edtl);
	put_be32(bhs + SCSI_CMD_CMDSN, 1);
}

/* The initiator's buffer, advertised under `rkey`. */
static void ini_region(struct fake_qp *q, uint8_t *mem, size_t len, uint32_t rkey)
{
	(void)fake_peer_region(q, mem, len, rkey);
}

static const struct idm_scsi_status good = {.response = ISCSI_RESPONSE_COMPLETED};

/* ---- tests ---- */

static void test_login_and_keys(void **state)
{
	char ans[64];

	(void)state;
	assert_int_equal(idm_iser_transport.ops->negotiate_key(conns[0], "RDMAExtensions", "Yes",
	                                                       ans, sizeof(ans)),
	                 IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "Yes");
	assert_int_equal(idm_iser_transport.ops->negotiate_key(conns[0], "HeaderDigest",
	                                                       "CRC32C,None", ans, sizeof(ans)),
	                 IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "None");
	go_ffp(0);
	assert_true(conns[0]->params.rdma_extensions);
	assert_int_equal(conns[0]->stats.pdus_rx, 1);
	assert_true(idm_iser_transport.caps->rdma);
	/* the other connection is untouched */
	assert_int_equal(conns[1]->state, IDM_CONN_XPT_UP);
}

static void test_hello(void **state)
{
	struct iser_hello h = {.max_ver = 1, .min_ver = 1, .ird = 8};
	struct iser_hello_reply r;
	uint8_t msg[ISER_HELLO_LEN];
	struct fake_qp *q = qps[0];

	(void)state;
	assert_int_equal(iser_hello_encode(msg, &h), 0);
	fake_deliver(q, msg, sizeof(msg));
	assert_int_equal(q->nout, 1);
	assert_int_equal(iser_msg_opcode(q->out[0], q->out_len[0]), ISER_OP_HELLO_REPLY);
	assert_int_equal(iser_hello_reply_decode(q->out[0], q->out_len[0], &r), 0);
	assert_false(r.reject);
	assert_int_equal(r.cur_ver, 1);
	assert_int_equal(r.ord, 4);
	fake_poll(q);
	assert_int_equal(q->rq_count, ISER_LOGIN_RX); /* the receive went back */
	assert_int_equal(conns[0]->state, IDM_CONN_XPT_UP);
}

/* A read: RDMA Write of the data, then the SCSI Response as a Send. */
static void do_read(uint32_t len, uint64_t *copied, uint64_t *wrs, uint64_t *regs)
{
	struct idm_conn *c = conns[0];
	struct fake_qp *q = qps[0];
	uint8_t *ini = calloc(1, len);
	struct iser_hdr h = {.flags = ISER_RSV, .read_stag = 0x77, .read_va = (uintptr_t)ini};
	struct idm_conn_stats before;
	uint8_t bhs[48];
	struct idm_task *t;

	go_ffp(0);
	ini_region(q, ini, len, 0x77);
	scsi_cmd_bhs(bhs, 5, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, len);
	send_ctrl(q, &h, bhs, NULL, 0);
	assert_int_equal(rec.cmds, 1);
	t = rec.last_task;
	t->tx_done = on_tx_done;
	fill(rec.buf, len);
	before = c->stats;
	assert_int_equal(idm_task_send_data(t, 0, len, &good), 0);
	fake_poll(q);
	check(ini, len);
	assert_int_equal(rec.tx_done, 1);
	assert_int_equal(rec.tx_status, 0);
	assert_int_equal(q->nout, 1);
	assert_int_equal(sent_bhs(q, 0)[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	*copied = c->stats.bytes_copied - before.bytes_copied;
	*wrs = c->stats.work_requests - before.work_requests;
	*regs = c->stats.registrations - before.registrations;
	/* rings (+ pool): the task's own MR is gone */
	assert_int_equal(q->regs, iser_conn_of(c)->pool_ok ? 3 : 2);
	idm_task_release(t);
	free(ini);
}

static void test_read_4k(void **state)
{
	uint64_t copied, wrs, regs;

	(void)state;
	do_read(4096, &copied, &wrs, &regs);
	assert_int_equal(wrs, 2); /* RDMA Write + Send */
	assert_int_equal(copied, 4096);
	assert_int_equal(regs, 0);
}

/* A copy threshold of 1 copies nothing: no pool is made, a 4 KiB read registers. */
static void test_never_copy_has_no_pool(void **state)
{
	uint64_t copied, wrs, regs;

	(void)state;
	iser_conn_of(conns[0])->link.copy_threshold = 1;
	do_read(4096, &copied, &wrs, &regs);
	assert_false(iser_conn_of(conns[0])->pool_ok);
	assert_int_equal(copied, 0);
	assert_int_equal(regs, 1);
}

static void test_read_above_threshold(void **state)
{
	uint64_t copied, wrs, regs;

	(void)state;
	do_read(512 * 1024, &copied, &wrs, &regs);
	assert_int_equal(wrs, 2);
	assert_int_equal(copied, 0);
	assert_int_equal(regs, 1);
}

/* A write: immediate data in the command, the rest by RDMA Read. */
static void do_write(uint32_t len, uint32_t imm)
{
	struct idm_conn *c = conns[0];
	struct fake_qp *q = qps[0];
	uint8_t *ini = malloc(len);
	/* the Write Base Offset addresses the first byte after the unsolicited data */
	struct iser_hdr h = {
	    .flags = ISER_WSV, .write_stag = 0x99, .write_va = (uintptr_t)ini + imm};
	uint8_t bhs[48];
	struct idm_task *t;

	go_ffp(0);
	fill(ini, len);
	ini_region(q, ini, len, 0x99);
	rec.unsol_limit = imm;
	scsi_cmd_bhs(bhs, 6, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_WRITE, len);
	send_ctrl(q, &h, bhs, ini, imm);
	assert_int_equal(rec.cmds, 1);
	t = rec.last_task;
	assert_int_equal(t->received, imm);
	t->rx_done = on_rx_done;
	t->tx_done = on_tx_done;
	assert_int_equal(idm_task_recv_data(t, len), 0);
	assert_int_equal(rec.rx_done, 0); /* the Read has not completed yet */
	fake_poll(q);
	assert_int_equal(rec.rx_done, 1);
	check(rec.buf, len);
	assert_int_equal(idm_task_send_status(t, &good), 0);
	fake_poll(q);
	assert_int_equal(rec.tx_done, 1);
	assert_int_equal(sent_bhs(q, q->nout - 1)[0] & 0x3f, ISCSI_OP_SCSI_RSP);
	assert_int_equal(c->stats.registrations, len - imm >= ISER_COPY_THRESHOLD_DEFAULT ? 1 : 0);
	idm_task_release(t);
	free(ini);
}

/*
 * ABORT TASK while the write's RDMA Read is outstanding: the target
 * marks the task aborted and drops its reference. The Read's completion
 * then finds the buffer still the task's (the Read holds it), copies
 * nothing into it, ends no receive, and only then lets the task go.
 */
static void do_abort_during_read(uint32_t len)
{
	struct fake_qp *q = qps[0];
	uint8_t *ini = malloc(len);
	struct iser_hdr h = {.flags = ISER_WSV, .write_stag = 0x99, .write_va = (uintptr_t)ini};
	int regs_before;
	uint8_t bhs[48];
	struct idm_task *t;

	go_ffp(0);
	fill(ini, len);
	ini_region(q, ini, len, 0x99);
	rec.unsol_limit = 0;
	scsi_cmd_bhs(bhs, 8, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_WRITE, len);
	regs_before = q->regs;
	send_ctrl(q, &h, bhs, NULL, 0);
	t = rec.last_task;
	t->rx_done = on_rx_done;
	memset(rec.buf, 0x5a, len);
	assert_int_equal(idm_task_recv_data(t, len), 0); /* the Read is posted */
	/* the ABORT TASK, as the target does it */
	t->state = IDM_TASK_ABORTING;
	idm_task_release(t);
	assert_int_equal(rec.tasks_freed, 0); /* the Read still holds it */
	assert_ptr_equal(t->data, rec.buf);
	fake_poll(q);
	assert_int_equal(rec.rx_done, 0);
	assert_int_equal(rec.tasks_freed, 1);
	assert_int_equal(q->regs, regs_before); /* a registration went with the Read */
	if (len < ISER_COPY_THRESHOLD_DEFAULT) {
		/* the copy path copied nothing into the aborted task's buffer */
		for (uint32_t i = 0; i < len; i++) {
			assert_int_equal(rec.buf[i], 0x5a);
		}
	}
	assert_int_equal(conns[0]->active_tasks, 0);
	free(ini);
}

static void test_abort_during_read_copied(void **state)
{
	(void)state;
	do_abort_during_read(16384);
}

static void test_abort_during_read_registered(void **state)
{
	(void)state;
	do_abort_during_read(512 * 1024);
}

static void test_write_small(void **state)
{
	(void)state;
	do_write(65536, 4096);
	assert_int_equal(conns[0]->stats.bytes_copied, 65536); /* imm + pool copy */
}

static void test_write_large(void **state)
{
	(void)state;
	do_write(512 * 1024, 8192);
	assert_int_equal(conns[0]->stats.bytes_copied, 8192); /* only the immediate data */
}

/* Unsolicited Data-Out as a Send fills the front while the Read fetches the rest. */
static void test_write_unsolicited(void **state)
{
	struct fake_qp *q = qps[0];
	uint8_t *ini = malloc(16384);
	struct iser_hdr h = {
	    .flags = ISER_WSV, .write_stag = 0x99, .write_va = (uintptr_t)ini + 8192};
	uint8_t bhs[48];
	struct idm_task *t;

	(void)state;
	go_ffp(0);
	fill(ini, 16384);
	ini_region(q, ini, 16384, 0x99);
	rec.unsol_limit = 8192;
	scsi_cmd_bhs(bhs, 7, SCSI_CMD_FLAG_WRITE, 16384); /* no F: Data-Out follows */
	send_ctrl(q, &h, bhs, ini, 4096);
	t = rec.last_task;
	t->rx_done = on_rx_done;
	assert_int_equal(idm_task_recv_data(t, 16384), 0);
	fake_poll(q);
	assert_int_equal(rec.rx_done, 0);                   /* waiting for the unsolicited data */
	assert_int_equal(conns[0]->stats.work_requests, 1); /* no Read yet: only the login Send */
	idm_bhs_init(bhs, ISCSI_OP_SCSI_DATA_OUT, false);
	bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(bhs + BHS_ITT, 7);
	put_be32(bhs + DATA_TTT, IDM_RESERVED_TAG);
	put_be32(bhs + DATA_BUFFER_OFFSET, 4096);
	send_ctrl(q, NULL, bhs, ini + 4096, 4096);
	assert_int_equal(rec.rx_done, 1); /* F ended it: the Read went and completed */
	assert_int_equal(conns[0]->stats.work_requests, 2);
	check(rec.buf, 16384);
	idm_task_release(t);
	free(ini);
}

/* All data unsolicited: no WSV (as Linux sends it), the receive waits for the Data-Out. */
static void test_write_all_unsolicited(void **state)
{
	struct fake_qp *q = qps[0];
	uint8_t *ini = malloc(8192);
	uint8_t bhs[48];
	struct idm_task *t;

	(void)state;
	go_ffp(0);
	fill(ini, 8192);
	rec.unsol_limit = 8192;
	scsi_cmd_bhs(bhs, 8, SCSI_CMD_FLAG_WRITE, 8192);
	send_ctrl(q, NULL, bhs, ini, 4096);
	t = rec.last_task;
	t->rx_done = on_rx_done;
	assert_int_equal(idm_task_recv_data(t, 8192), 0);
	assert_int_equal(rec.rx_done, 0);
	idm_bhs_init(bhs, ISCSI_OP_SCSI_DATA_OUT, false);
	bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(bhs + BHS_ITT, 8);
	put_be32(bhs + DATA_TTT, IDM_RESERVED_TAG);
	put_be32(bhs + DATA_BUFFER_OFFSET, 4096);
	send_ctrl(q, NULL, bhs, ini + 4096, 4096);
	assert_int_equal(rec.rx_done, 1);
	assert_int_equal(conns[0]->stats.work_requests, 1); /* no RDMA Read at all */
	check(rec.buf, 8192);
	idm_task_release(t);
	free(ini);
}

/* Unsolicited data ended short and no write STag: a protocol error, no hang. */
static void test_write_short_without_stag(void **state)
{
	struct fake_qp *q = qps[0];
	uint8_t data[4096] = {0};
	uint8_t bhs[48];

	(void)state;
	go_ffp(0);
	rec.unsol_limit = 4096;
	scsi_cmd_bhs(bhs, 9, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_WRITE, 8192);
	send_ctrl(q, NULL, bhs, data, 4096);
	assert_int_equal(idm_task_recv_data(rec.last_task, 8192), 0);
	fake_poll(q);
	assert_int_equal(rec.rx_done, 0);
	assert_int_equal(rec.aborted, 1);
	assert_null(conns[0]);
}

/*
 * libiscsi's writes: no immediate data (ImmediateData=No), F set, the
 * Write Base Offset at the start of its buffer: one Read fetches it all.
 */
static void test_write_no_immediate(void **state)
{
	(void)state;
	do_write(4096, 0);
	assert_int_equal(conns[0]->stats.bytes_copied, 4096); /* the pool copy only */
}

/* An initiator that answers no RDMA Read (ORD 0): the write fails, it does not hang. */
static void test_write_without_read_credit(void **state)
{
	struct fake_qp *q = qps[0];
	uint8_t ini[4096] = {0};
	struct iser_hdr h = {.flags = ISER_WSV, .write_stag = 0x99, .write_va = (uintptr_t)ini};
	uint8_t bhs[48];

	(void)state;
	iser_conn_of(conns[0])->link.ord = 0;
	go_ffp(0);
	ini_region(q, ini, sizeof(ini), 0x99);
	scsi_cmd_bhs(bhs, 10, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_WRITE, sizeof(ini));
	send_ctrl(q, &h, bhs, NULL, 0);
	assert_int_equal(idm_task_recv_data(rec.last_task, sizeof(ini)), 0);
	fake_poll(q);
	assert_int_equal(rec.rx_done, 0);
	assert_int_equal(rec.aborted, 1);
	assert_null(conns[0]);
}

/*
 * The depths in a connect request are the local view (the CM swaps the
 * peer's): libiscsi asks for initiator_depth 0 and responder_resources 4,
 * which arrive as responder_resources 0 and initiator_depth 4. Our ORD is
 * the 4, never the 0 (that stalled every RDMA Read).
 */
static void test_read_depths_from_request(void **state)
{
	struct idm_rdma_cm_event ev = {.initiator_depth = 4, .responder_resources = 0};
	uint8_t ord = 99, ird = 99;

	(void)state;
	iser_cm_read_depths(&ev, &ord, &ird);
	assert_int_equal(ord, 4);
	assert_int_equal(ird, 0);
	/* Linux ib_iser: responder resources = device maximum, initiator depth 1 */
	ev = (struct idm_rdma_cm_event){.initiator_depth = 128, .responder_resources = 1};
	iser_cm_read_depths(&ev, &ord, &ird);
	assert_int_equal(ord, 16); /* our own cap */
	assert_int_equal(ird, 1);
}

/* A remote access error on one connection ends it alone; its task is aborted. */
static void test_error_ends_one_conn(void **state)
{
	struct fake_qp *q = qps[0];
	uint8_t *ini = calloc(1, 4096);
	struct iser_hdr h = {.flags = ISER_RSV, .read_stag = 0x77, .read_va = (uintptr_t)ini};
	uint8_t bhs[48];
	struct idm_task *t;

	(void)state;
	go_ffp(0);
	go_ffp(1);
	ini_region(q, ini, 4096, 0x77);
	scsi_cmd_bhs(bhs, 5, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 4096);
	send_ctrl(q, &h, bhs, NULL, 0);
	t = rec.last_task;
	t->tx_done = on_tx_done;
	q->write_status = -EACCES;
	assert_int_equal(idm_task_send_data(t, 0, 4096, &good), 0);
	fake_poll(q); /* Write fails, the Send after it flushes */
	assert_int_equal(rec.aborted, 1);
	assert_int_equal(rec.tx_done, 1);
	assert_true(rec.tx_status < 0); /* task_abort dropped the client's reference */
	fake_poll(q);
	assert_null(conns[0]);
	assert_int_equal(rec.freed, 1);
	assert_non_null(conns[1]);
	assert_int_equal(conns[1]->state, IDM_CONN_LOGGED_IN);
	free(ini);
}

/* A bad STag in the command: the Write's access error closes the connection. */
static void test_bad_stag_closes(void **state)
{
	struct fake_qp *q = qps[0];
	struct iser_hdr h = {.flags = ISER_RSV, .read_stag = 0x55, .read_va = 0x1000};
	uint8_t bhs[48];
	struct idm_task *t;

	(void)state;
	go_ffp(0);
	scsi_cmd_bhs(bhs, 5, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 4096);
	send_ctrl(q, &h, bhs, NULL, 0);
	t = rec.last_task;
	assert_int_equal(idm_task_send_data(t, 0, 4096, NULL), 0);
	fake_poll(q);
	assert_int_equal(rec.aborted, 1);
	fake_poll(q);
	assert_null(conns[0]);
	assert_non_null(conns[1]);
}

/* Read data for a command that advertised no read STag: refused, no crash. */
static void test_read_without_stag(void **state)
{
	struct fake_qp *q = qps[0];
	uint8_t bhs[48];

	(void)state;
	go_ffp(0);
	scsi_cmd_bhs(bhs, 5, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 4096);
	send_ctrl(q, NULL, bhs, NULL, 0);
	assert_int_equal(idm_task_send_data(rec.last_task, 0, 4096, NULL), -EINVAL);
	idm_task_release(rec.last_task);
}

/* Garbage and truncated messages close the connection, never crash. */
static void test_malformed_messages(void **state)
{
	uint8_t msg[ISER_CTRL_HDRS + 16] = {0};
	uint8_t bhs[48];

	(void)state;
	msg[0] = 0xf0; /* unknown iSER opcode */
	fake_deliver(qps[0], msg, sizeof(msg));
	assert_null(conns[0]);
	/* a BHS that claims more data than arrived */
	idm_bhs_init(bhs, ISCSI_OP_LOGIN_REQ, true);
	ctrl_msg(msg, NULL, bhs, NULL, 0);
	put_be24(msg + ISER_HDR_LEN + BHS_DATA_SEG_LEN, 4000);
	fake_deliver(qps[1], msg, ISER_CTRL_HDRS);
	fake_poll(qps[1]);
	assert_null(conns[1]);
}

/* A local close flushes the posted receives; the connection ends cleanly. */
static void test_disconnect_flush(void **state)
{
	(void)state;
	go_ffp(0);
	idm_conn_close(conns[0]);
	fake_poll(qps[0]);
	assert_null(conns[0]);
	assert_int_equal(rec.freed, 1);
}

/* The initiator Sends a message and its receive completes at once, while
 * the target's own Send completions still wait in the CQ. */
static void deliver_now(struct fake_qp *q, const uint8_t *bhs)
{
	static uint8_t msg[ISER_CTRL_HDRS];
	struct idm_rdma_wr *wr = q->rq[q->rq_head];
	uint32_t len = ctrl_msg(msg, NULL, bhs, NULL, 0);

	assert_true(q->rq_count > 0);
	memcpy(q->rq_sge[q->rq_head].addr, msg, len);
	q->rq_head = (q->rq_head + 1) % MAXQ;
	q->rq_count--;
	wr->done(wr, 0, len);
}

/*
 * While the target's transmit queue is over its bound, received messages
 * wait unhandled and their buffers are not posted again (the initiator's
 * Sends then wait); once the queue drains they are handled in order.
 */
static void test_input_stops_over_tx_bound(void **state)
{
	struct idm_tx_limits lim = {.max_bytes = 1u << 20, .max_pdus = 2, .stall_timeout_s = 30};
	struct idm_conn *c = conns[0];
	struct fake_qp *q = qps[0];
	unsigned posted;
	uint8_t bhs[48];

	(void)state;
	go_ffp(0);
	idm_conn_set_tx_limits(c, &lim);
	for (int i = 0; i < 2; i++) { /* two Sends whose completions wait */
		struct idm_pdu *pdu = idm_pdu_alloc(c, 0);

		idm_bhs_init(pdu->bhs, ISCSI_OP_NOP_IN, false);
		put_be32(pdu->bhs + BHS_ITT, IDM_RESERVED_TAG);
		idm_pdu_tx(c, pdu);
	}
	assert_false(idm_conn_rx_allowed(c));
	posted = q->rq_count;
	for (uint32_t itt = 10; itt < 13; itt++) {
		idm_bhs_init(bhs, ISCSI_OP_NOP_OUT, true);
		bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
		put_be32(bhs + BHS_ITT, itt);
		put_be32(bhs + BHS_TTT, IDM_RESERVED_TAG);
		deliver_now(q, bhs);
	}
	assert_int_equal(rec.rx_pdus, 0);
	assert_int_equal(q->rq_count, posted - 3);
	fake_poll(q); /* the two Sends complete: the queue is empty */
	assert_true(idm_conn_rx_allowed(c));
	assert_int_equal(rec.rx_pdus, 0); /* handled from a deferred call */
	idm_reactor_poll(reactor, 0);
	assert_int_equal(rec.rx_pdus, 3);
	assert_int_equal(get_be32(rec.last_bhs + BHS_ITT), 12);
	assert_int_equal(q->rq_count, posted);
	assert_non_null(conns[0]);
}

/* Without an RDMA device the service is refused with -ENODEV (TCP goes on). */
static void test_no_device(void **state)
{
	struct idm_svc_req req = {.nreactors = 1, .client = &client, .max_tasks = 8};
	struct sockaddr_in *sin = (struct sockaddr_in *)&req.addr;
	struct idm_svc *svc = NULL;
	char reason[128], err[160];

	(void)state;
	if (idm_rdma_available(reason, sizeof(reason))) {
		skip(); /* a host with a device: the VM test covers it */
	}
	assert_string_equal(reason, "iSER disabled: no RDMA device");
	req.reactors = &reactor;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	req.addrlen = sizeof(*sin);
	assert_int_equal(idm_svc_create(&idm_iser_transport, &req, &svc, err, sizeof(err)),
	                 -ENODEV);
	assert_null(svc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_login_and_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_discovery_keeps_login_rings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_4k, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_above_threshold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_never_copy_has_no_pool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_small, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_during_read_copied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_during_read_registered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_unsolicited, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_all_unsolicited, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_short_without_stag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_no_immediate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_without_read_credit, setup, teardown),
	    cmocka_unit_test(test_read_depths_from_request),
	    cmocka_unit_test_setup_teardown(test_error_ends_one_conn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_stag_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_without_stag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_messages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_stops_over_tx_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_device, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
