/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RC queue pairs: creation with a CQ on a completion channel, posting
 * receives, Sends, RDMA Writes and RDMA Reads, and completion dispatch.
 * A work request is identified by the caller's struct idm_rdma_wr,
 * whose address rides in wr_id, so no lookup table is needed.
 */
#include "rdma/idm_rdma.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* Send-queue requests one doorbell carries at most. */
#define IDM_RDMA_BATCH 32

/*
 * Send-queue requests held back while a completion pass runs: the RDMA
 * Write and the Send of a read (and those of every command the pass
 * answers) then reach the device with one ibv_post_send, one doorbell.
 */
struct idm_rdma_batch {
	struct ibv_send_wr wr[IDM_RDMA_BATCH];
	struct ibv_sge sge[IDM_RDMA_BATCH][IDM_RDMA_MAX_SGE];
	unsigned n;
	bool open;
};

#define CQ_ACK_BATCH 64 /* acknowledge CQ events in batches (the ack takes a lock) */

/* Make a fd non-blocking so the reactor never sleeps in the library. */
static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		return -errno;
	}
	return 0;
}

/* Validate queue sizes before the device sees them. */
static bool caps_ok(const struct idm_rdma_qp_caps *caps)
{
	return caps && caps->send_wr && caps->recv_wr && caps->send_sge &&
	       caps->send_sge <= IDM_RDMA_MAX_SGE && caps->send_wr <= INT32_MAX / 2 &&
	       caps->recv_wr <= INT32_MAX / 2 && caps->cq_size <= INT32_MAX;
}

/* The completion channel and the CQ, armed for the first event. */
static int create_cq(struct idm_rdma_conn *c, const struct idm_rdma_qp_caps *caps)
{
	int n = (int)(caps->cq_size ? caps->cq_size : caps->send_wr + caps->recv_wr);
	int rc;

	c->cc = ibv_create_comp_channel(c->id->verbs);
	if (!c->cc) {
		return errno ? -errno : -ENOMEM;
	}
	rc = set_nonblock(c->cc->fd);
	if (rc != 0) {
		return rc;
	}
	c->cq = ibv_create_cq(c->id->verbs, n, c, c->cc, 0);
	if (!c->cq) {
		return errno ? -errno : -ENOMEM;
	}
	rc = ibv_req_notify_cq(c->cq, 0);
	return rc ? -rc : 0;
}

/* The RC QP on the id; both queues complete on the one CQ. */
static int create_qp(struct idm_rdma_conn *c, const struct idm_rdma_qp_caps *caps)
{
	struct ibv_qp_init_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.qp_context = c;
	attr.send_cq = c->cq;
	attr.recv_cq = c->cq;
	attr.qp_type = IBV_QPT_RC;
	attr.sq_sig_all = 0; /* signal only where asked; errors always complete */
	attr.cap.max_send_wr = caps->send_wr;
	attr.cap.max_recv_wr = caps->recv_wr;
	attr.cap.max_send_sge = caps->send_sge;
	attr.cap.max_recv_sge = 1;
	if (rdma_create_qp(c->id, c->pd, &attr) != 0) {
		return errno ? -errno : -ENOMEM;
	}
	c->qp = c->id->qp;
	return 0;
}

int idm_rdma_conn_create(struct idm_rdma_conn *c, struct rdma_cm_id *id, struct ibv_pd *pd,
                         const struct idm_rdma_qp_caps *caps)
{
	int rc;

	if (!c || !id || !id->verbs || !pd || !caps_ok(caps)) {
		return -EINVAL;
	}
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->pd = pd;
	c->batch = calloc(1, sizeof(*c->batch)); /* once per connection */
	rc = c->batch ? create_cq(c, caps) : -ENOMEM;
	if (rc == 0) {
		rc = create_qp(c, caps);
	}
	if (rc != 0) {
		c->id = NULL; /* the caller still owns the id on failure */
		idm_rdma_conn_destroy(c);
		return rc;
	}
	return 0;
}

void idm_rdma_conn_destroy(struct idm_rdma_conn *c)
{
	if (!c) {
		return;
	}
	if (c->qp && c->id) {
		rdma_destroy_qp(c->id);
	}
	if (c->cq) {
		ibv_ack_cq_events(c->cq, c->unacked_events);
		ibv_destroy_cq(c->cq);
	}
	if (c->cc) {
		ibv_destroy_comp_channel(c->cc);
	}
	if (c->id) {
		rdma_destroy_id(c->id);
	}
	free(c->batch);
	memset(c, 0, sizeof(*c));
}

/* Common checks of every post: a live QP, a request, one usable buffer. */
static int post_check(const struct idm_rdma_conn *c, const struct idm_rdma_wr *wr,
                      const struct idm_rdma_sge *sge)
{
	if (!c || !wr || !wr->done || !sge || !sge->addr || sge->len == 0) {
		return -EINVAL;
	}
	return c->qp ? 0 : -ENOTCONN;
}

static void to_ibv_sge(struct ibv_sge *out, const struct idm_rdma_sge *in)
{
	out->addr = (uintptr_t)in->addr;
	out->length = in->len;
	out->lkey = in->lkey;
}

int idm_rdma_post_recv(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                       const struct idm_rdma_sge *sge)
{
	struct ibv_recv_wr rwr, *bad;
	struct ibv_sge s;
	int rc = post_check(c, wr, sge);

	if (rc != 0) {
		return rc;
	}
	wr->op = IDM_RDMA_RECV;
	to_ibv_sge(&s, sge);
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = (uintptr_t)wr;
	rwr.sg_list = &s;
	rwr.num_sge = 1;
	rc = ibv_post_recv(c->qp, &rwr, &bad);
	return rc ? -rc : 0;
}

/* Post the held requests. Those the device refused (from `bad` on) will
 * never complete: their owners hear it now, as a failed request. */
static void batch_flush(struct idm_rdma_conn *c)
{
	struct idm_rdma_batch *b = c->batch;
	struct ibv_send_wr *bad = NULL;
	bool open = b->open;

	if (b->n == 0) {
		return;
	}
	b->n = 0;
	if (ibv_post_send(c->qp, &b->wr[0], &bad) == 0) {
		return;
	}
	b->open = false; /* what the callbacks post goes straight out */
	for (struct ibv_send_wr *w = bad; w; w = w->next) {
		struct idm_rdma_wr *wr = (struct idm_rdma_wr *)(uintptr_t)w->wr_id;

		if (wr && wr->done) {
			wr->done(wr, -EIO, 0);
		}
	}
	b->open = open;
}

/* Hold one request in the open batch (its SGEs copied: the caller's are
 * on its stack). */
static void batch_add(struct idm_rdma_conn *c, const struct ibv_send_wr *swr)
{
	struct idm_rdma_batch *b = c->batch;
	struct ibv_send_wr *w;

	if (b->n == IDM_RDMA_BATCH) {
		batch_flush(c);
	}
	w = &b->wr[b->n];
	*w = *swr;
	memcpy(b->sge[b->n], swr->sg_list, (size_t)swr->num_sge * sizeof(*swr->sg_list));
	w->sg_list = b->sge[b->n];
	w->next = NULL;
	if (b->n > 0) {
		b->wr[b->n - 1].next = w;
	}
	b->n++;
}

/* Post one send-queue request, or hold it while a batch is open (the
 * verbs call returns a positive errno). */
static int post_sq(struct idm_rdma_conn *c, struct ibv_send_wr *swr)
{
	struct ibv_send_wr *bad;
	int rc;

	if (c->batch && c->batch->open) {
		batch_add(c, swr);
		return 0;
	}
	rc = ibv_post_send(c->qp, swr, &bad);
	return rc ? -rc : 0;
}

void idm_rdma_batch_begin(struct idm_rdma_conn *c)
{
	if (c->batch) {
		c->batch->open = true;
	}
}

void idm_rdma_batch_end(struct idm_rdma_conn *c)
{
	if (c->batch) {
		batch_flush(c);
		c->batch->open = false;
	}
}

int idm_rdma_post_send(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                       const struct idm_rdma_sge *sge, unsigned nsge, bool signaled)
{
	struct ibv_sge s[IDM_RDMA_MAX_SGE];
	struct ibv_send_wr swr;
	int rc;

	if (nsge == 0 || nsge > IDM_RDMA_MAX_SGE) {
		return -EINVAL;
	}
	rc = post_check(c, wr, sge);
	if (rc != 0) {
		return rc;
	}
	for (unsigned i = 0; i < nsge; i++) {
		if (!sge[i].addr || sge[i].len == 0) {
			return -EINVAL;
		}
		to_ibv_sge(&s[i], &sge[i]);
	}
	wr->op = IDM_RDMA_SEND;
	memset(&swr, 0, sizeof(swr));
	swr.wr_id = (uintptr_t)wr;
	swr.sg_list = s;
	swr.num_sge = (int)nsge;
	swr.opcode = IBV_WR_SEND;
	swr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
	return post_sq(c, &swr);
}

/* RDMA Write or Read of one local buffer against the peer's STag/VA. */
static int post_rdma(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                     const struct idm_rdma_sge *local, uint64_t remote_va, uint32_t rkey,
                     enum idm_rdma_op op, bool signaled)
{
	struct ibv_send_wr swr;
	struct ibv_sge s;
	int rc = post_check(c, wr, local);

	if (rc != 0) {
		return rc;
	}
	wr->op = op;
	to_ibv_sge(&s, local);
	memset(&swr, 0, sizeof(swr));
	swr.wr_id = (uintptr_t)wr;
	swr.sg_list = &s;
	swr.num_sge = 1;
	swr.opcode = op == IDM_RDMA_READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
	swr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
	swr.wr.rdma.remote_addr = remote_va;
	swr.wr.rdma.rkey = rkey;
	return post_sq(c, &swr);
}

int idm_rdma_post_write(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                        const struct idm_rdma_sge *local, uint64_t remote_va, uint32_t rkey,
                        bool signaled)
{
	return post_rdma(c, wr, local, remote_va, rkey, IDM_RDMA_WRITE, signaled);
}

/* Always signaled: Send-after-Read is not ordered, the caller must wait. */
int idm_rdma_post_read(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                       const struct idm_rdma_sge *local, uint64_t remote_va, uint32_t rkey)
{
	return post_rdma(c, wr, local, remote_va, rkey, IDM_RDMA_READ, true);
}

/* What a completion status means to the owner of the request. */
static int wc_errno(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_SUCCESS:
		return 0;
	case IBV_WC_WR_FLUSH_ERR:
		return -ECANCELED;
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
		return -EACCES;
	default:
		return -EIO;
	}
}

/*
 * Dispatch one completion. Only wr_id, status and byte_len are read: the
 * opcode of an error completion is undefined, so the request's own
 * stored type is what tells its owner what failed.
 */
void idm_rdma_complete(const struct ibv_wc *wc)
{
	struct idm_rdma_wr *wr = (struct idm_rdma_wr *)(uintptr_t)wc->wr_id;

	if (wr && wr->done) {
		wr->done(wr, wc_errno(wc->status), wc->status == IBV_WC_SUCCESS ? wc->byte_len : 0);
	}
}

int idm_rdma_poll(struct idm_rdma_conn *c, int budget)
{
	struct ibv_wc wc[16];
	int total = 0;

	if (!c || !c->cq || budget <= 0) {
		return -EINVAL;
	}
	while (total < budget) {
		int want = budget - total < 16 ? budget - total : 16;
		int n = ibv_poll_cq(c->cq, want, wc);

		if (n < 0) {
			return -EIO;
		}
		for (int i = 0; i < n; i++) {
			idm_rdma_complete(&wc[i]);
		}
		total += n;
		if (n < want) {
			break;
		}
	}
	return total;
}

/*
 * The completion channel fired: take the event, re-arm before draining
 * (so a completion that lands in between raises a new event), then
 * complete everything queued.
 */
int idm_rdma_cq_event(struct idm_rdma_conn *c)
{
	struct ibv_cq *cq;
	void *ctx;
	int rc;

	if (!c || !c->cc || !c->cq) {
		return -EINVAL;
	}
	if (ibv_get_cq_event(c->cc, &cq, &ctx) != 0) {
		return errno == EAGAIN ? 0 : -EIO;
	}
	if (++c->unacked_events >= CQ_ACK_BATCH) {
		ibv_ack_cq_events(c->cq, c->unacked_events);
		c->unacked_events = 0;
	}
	rc = ibv_req_notify_cq(c->cq, 0);
	if (rc != 0) {
		return -rc;
	}
	idm_rdma_batch_begin(c);
	while ((rc = idm_rdma_poll(c, 64)) == 64) {
	}
	idm_rdma_batch_end(c);
	return rc < 0 ? rc : 0;
}

int idm_rdma_drain(struct idm_rdma_conn *c)
{
	int rc;

	if (!c || !c->cq) {
		return -EINVAL;
	}
	idm_rdma_batch_begin(c);
	while ((rc = idm_rdma_poll(c, 64)) == 64) {
	}
	idm_rdma_batch_end(c);
	return rc < 0 ? rc : 0;
}

int idm_rdma_cq_fd(const struct idm_rdma_conn *c)
{
	return c && c->cc ? c->cc->fd : -EINVAL;
}

const char *idm_rdma_op_name(enum idm_rdma_op op)
{
	switch (op) {
	case IDM_RDMA_RECV:
		return "recv";
	case IDM_RDMA_SEND:
		return "send";
	case IDM_RDMA_WRITE:
		return "rdma-write";
	case IDM_RDMA_READ:
		return "rdma-read";
	}
	return "?";
}
