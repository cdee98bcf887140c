/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of src/rdma that need no RDMA device: the no-device path,
 * argument checks, and completion dispatch from fabricated completions.
 * Real traffic is tested in the Soft-RoCE VM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "rdma/idm_rdma.h"

/* True when the host has no RDMA CM device node at all (our build machines). */
static bool no_rdma_cm(void)
{
	return access("/dev/infiniband/rdma_cm", F_OK) != 0;
}

/* Without a device the probe says so once, in the words the log expects. */
static void test_available(void **state)
{
	char reason[128];
	bool ok;

	(void)state;
	memset(reason, 'x', sizeof(reason));
	ok = idm_rdma_available(reason, sizeof(reason));
	if (ok) {
		assert_string_equal(reason, "");
		return;
	}
	assert_int_equal(strncmp(reason, "iSER disabled: ", 15), 0);
	if (no_rdma_cm()) {
		assert_string_equal(reason, "iSER disabled: no RDMA device");
	}
	assert_int_equal(idm_rdma_available(NULL, 0), ok);
	assert_int_equal(idm_rdma_available(reason, 8), ok); /* truncated, terminated */
	assert_int_equal(strlen(reason), 7);
}

/* Opening the CM fails cleanly without a device; closed handles are refused. */
static void test_cm_without_device(void **state)
{
	struct idm_rdma_cm cm = {0};
	struct idm_rdma_cm_event ev;
	struct rdma_cm_id *id = NULL;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int rc;

	(void)state;
	assert_int_equal(idm_rdma_cm_open(NULL), -EINVAL);
	rc = idm_rdma_cm_open(&cm);
	if (rc == 0) {
		assert_true(idm_rdma_cm_fd(&cm) >= 0);
		assert_int_equal(idm_rdma_cm_next(&cm, &ev), -EAGAIN);
		idm_rdma_cm_close(&cm);
	} else if (no_rdma_cm()) {
		assert_int_equal(rc, -ENODEV);
	}
	assert_null(cm.ch);
	assert_int_equal(idm_rdma_cm_fd(&cm), -EINVAL);
	assert_int_equal(idm_rdma_cm_next(&cm, &ev), -EINVAL);
	assert_int_equal(idm_rdma_listen(&cm, (struct sockaddr *)&sin, 16, NULL, &id), -EINVAL);
	assert_int_equal(idm_rdma_resolve(&cm, (struct sockaddr *)&sin, 1000, NULL, &id), -EINVAL);
	assert_null(id);
	assert_int_equal(idm_rdma_resolve_route(NULL, 1000), -EINVAL);
	assert_int_equal(idm_rdma_reject(NULL, NULL, 0), -EINVAL);
	idm_rdma_id_destroy(NULL);
	idm_rdma_cm_close(&cm);
}

static void noop_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	(void)wr;
	(void)status;
	(void)byte_len;
}

/* Posts check their arguments, then that a QP exists. */
static void test_post_validation(void **state)
{
	struct idm_rdma_conn c = {0};
	struct idm_rdma_wr wr = {.done = noop_done};
	char buf[64];
	struct idm_rdma_sge sge = {.addr = buf, .len = sizeof(buf), .lkey = 1};
	struct idm_rdma_sge empty = {.addr = buf, .len = 0};
	struct idm_rdma_sge five[5] = {sge, sge, sge, sge, sge};

	(void)state;
	assert_int_equal(idm_rdma_post_recv(&c, &wr, &sge), -ENOTCONN);
	assert_int_equal(idm_rdma_post_send(&c, &wr, &sge, 1, true), -ENOTCONN);
	assert_int_equal(idm_rdma_post_write(&c, &wr, &sge, 0x1000, 7, false), -ENOTCONN);
	assert_int_equal(idm_rdma_post_read(&c, &wr, &sge, 0x1000, 7), -ENOTCONN);
	assert_int_equal(idm_rdma_post_recv(NULL, &wr, &sge), -EINVAL);
	assert_int_equal(idm_rdma_post_recv(&c, NULL, &sge), -EINVAL);
	assert_int_equal(idm_rdma_post_recv(&c, &wr, &empty), -EINVAL);
	assert_int_equal(idm_rdma_post_send(&c, &wr, &sge, 0, true), -EINVAL);
	assert_int_equal(idm_rdma_post_send(&c, &wr, five, 5, true), -EINVAL);
	assert_int_equal(idm_rdma_post_read(&c, &wr, NULL, 0x1000, 7), -EINVAL);
	wr.done = NULL;
	assert_int_equal(idm_rdma_post_write(&c, &wr, &sge, 0x1000, 7, true), -EINVAL);
}

/* Connection set-up refuses missing pieces and bad queue sizes before any verbs call. */
static void test_conn_validation(void **state)
{
	struct idm_rdma_conn c = {0};
	struct idm_rdma_qp_caps caps = {.send_wr = 64, .recv_wr = 64, .send_sge = 2};
	struct idm_rdma_qp_caps bad = caps;
	struct idm_rdma_conn_param p = {0};
	struct idm_rdma_dev dev = {0};
	struct ibv_mr *mr = NULL;
	char buf[16];

	(void)state;
	assert_int_equal(idm_rdma_conn_create(&c, NULL, NULL, &caps), -EINVAL);
	bad.send_sge = IDM_RDMA_MAX_SGE + 1;
	assert_int_equal(idm_rdma_conn_create(&c, NULL, NULL, &bad), -EINVAL);
	assert_int_equal(idm_rdma_accept(&c, &p), -EINVAL);
	assert_int_equal(idm_rdma_connect(&c, &p), -EINVAL);
	assert_int_equal(idm_rdma_disconnect(&c), -EINVAL);
	assert_int_equal(idm_rdma_poll(&c, 16), -EINVAL);
	assert_int_equal(idm_rdma_cq_event(&c), -EINVAL);
	assert_int_equal(idm_rdma_cq_fd(&c), -EINVAL);
	idm_rdma_conn_destroy(&c);
	idm_rdma_conn_destroy(NULL);
	assert_int_equal(idm_rdma_dev_open(&dev, NULL), -EINVAL);
	idm_rdma_dev_close(&dev);
	assert_int_equal(idm_rdma_reg(NULL, buf, sizeof(buf), false, &mr), -EINVAL);
	assert_null(mr);
	idm_rdma_dereg(NULL);
}

/* What the completion callback saw. */
struct seen {
	struct idm_rdma_wr wr;
	int calls;
	int status;
	uint32_t len;
	enum idm_rdma_op op;
};

static void record_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	struct seen *s = (struct seen *)wr; /* wr is the first member */

	s->calls++;
	s->status = status;
	s->len = byte_len;
	s->op = wr->op;
}

/* A completion reaches its request; an error carries the stored type. */
static void test_complete_dispatch(void **state)
{
	struct seen s = {.wr = {.op = IDM_RDMA_READ, .done = record_done}};
	struct ibv_wc wc;

	(void)state;
	memset(&wc, 0, sizeof(wc));
	wc.wr_id = (uintptr_t)&s.wr;
	wc.status = IBV_WC_SUCCESS;
	wc.opcode = IBV_WC_RDMA_READ;
	wc.byte_len = 4096;
	idm_rdma_complete(&wc);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, 0);
	assert_int_equal(s.len, 4096);

	wc.status = IBV_WC_WR_FLUSH_ERR;
	wc.opcode = IBV_WC_SEND; /* garbage in an error completion */
	idm_rdma_complete(&wc);
	assert_int_equal(s.status, -ECANCELED);
	assert_int_equal(s.op, IDM_RDMA_READ);
	assert_int_equal(s.len, 0);

	wc.status = IBV_WC_REM_ACCESS_ERR;
	idm_rdma_complete(&wc);
	assert_int_equal(s.status, -EACCES);
	wc.status = IBV_WC_RETRY_EXC_ERR;
	idm_rdma_complete(&wc);
	assert_int_equal(s.status, -EIO);
	assert_int_equal(s.calls, 4);

	wc.wr_id = 0; /* no owner: ignored, no crash */
	idm_rdma_complete(&wc);
	assert_int_equal(s.calls, 4);
}

static void test_op_names(void **state)
{
	(void)state;
	assert_string_equal(idm_rdma_op_name(IDM_RDMA_RECV), "recv");
	assert_string_equal(idm_rdma_op_name(IDM_RDMA_SEND), "send");
	assert_string_equal(idm_rdma_op_name(IDM_RDMA_WRITE), "rdma-write");
	assert_string_equal(idm_rdma_op_name(IDM_RDMA_READ), "rdma-read");
	assert_string_equal(idm_rdma_op_name((enum idm_rdma_op)99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_available),         cmocka_unit_test(test_cm_without_device),
	    cmocka_unit_test(test_post_validation),   cmocka_unit_test(test_conn_validation),
	    cmocka_unit_test(test_complete_dispatch), cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
