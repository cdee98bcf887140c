/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An in-process loopback of the iSER verbs for the engine's unit tests,
 * either role. A QP alone: the test plays the peer (its Sends land in the
 * posted receives through fake_deliver, the engine's Sends are captured
 * in out[], RDMA Write / Read are memcpy into / out of memory the "peer"
 * advertised with fake_peer_region). Two QPs joined by fake_pair: each
 * one's Sends land in the other's receives, and RDMA Write / Read reach
 * the memory the other registered for remote access (adv_mem). Work
 * completes at once and the completions queue up until fake_poll, as a
 * CQ event would deliver them.
 */
#ifndef ISER_FAKE_H
#define ISER_FAKE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/iser/iser_priv.h"

#define MAXQ 1024
#define MAXMSG 16
#define MAXREGIONS 16

struct fake_cqe {
	struct idm_rdma_wr *wr;
	int status;
	uint32_t len;
};

/* Memory the peer may reach: by rkey, VA and length. */
struct fake_region {
	uint8_t *addr;
	size_t len;
	uint32_t rkey;
	bool used;
};

struct fake_qp {
	struct fake_cqe cq[MAXQ];
	unsigned cq_head, cq_count;
	struct idm_rdma_wr *rq[MAXQ]; /* posted receives, in order */
	struct idm_rdma_sge rq_sge[MAXQ];
	unsigned rq_head, rq_count;
	uint8_t out[MAXMSG][ISER_CTRL_HDRS + 8192]; /* what the engine sent (alone) */
	uint32_t out_len[MAXMSG];
	unsigned nout;
	struct fake_region regions[MAXREGIONS]; /* memory this side lets the peer reach */
	struct fake_qp *peer;                   /* fake_pair: the other end */
	int write_status;                       /* injected completion status of RDMA Writes */
	bool disconnected;
	int regs; /* registrations alive */
	uint32_t next_key;
};

static inline void f_disconnect(void *qp);

/* An error completion puts the QP in the error state: the rest flushes. */
static inline void cq_push(struct fake_qp *q, struct idm_rdma_wr *wr, int status, uint32_t len)
{
	assert_true(q->cq_count < MAXQ);
	q->cq[(q->cq_head + q->cq_count++) % MAXQ] = (struct fake_cqe){wr, status, len};
	if (status != 0 && !q->disconnected) {
		f_disconnect(q);
	}
}

static inline int f_post_recv(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *sge)
{
	struct fake_qp *q = qp;
	unsigned i = (q->rq_head + q->rq_count) % MAXQ;

	assert_int_equal(wr->op, IDM_RDMA_RECV);
	if (q->disconnected) {
		cq_push(q, wr, -ECANCELED, 0);
		return 0;
	}
	assert_true(q->rq_count < MAXQ);
	q->rq[i] = wr;
	q->rq_sge[i] = *sge;
	q->rq_count++;
	return 0;
}

/* `len` bytes land in the oldest receive posted on `q`; its completion queues. */
static inline void fake_land(struct fake_qp *q, const void *msg, uint32_t len)
{
	struct idm_rdma_wr *wr;
	struct idm_rdma_sge *sge;

	assert_true(q->rq_count > 0); /* else: receiver not ready */
	wr = q->rq[q->rq_head];
	sge = &q->rq_sge[q->rq_head];
	q->rq_head = (q->rq_head + 1) % MAXQ;
	q->rq_count--;
	assert_true(len <= sge->len);
	memcpy(sge->addr, msg, len);
	cq_push(q, wr, 0, len);
}

static inline int f_post_send(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *sge,
                              unsigned nsge)
{
	struct fake_qp *q = qp;

	assert_int_equal(nsge, 1);
	if (q->disconnected) {
		cq_push(q, wr, -ECANCELED, 0);
		return 0;
	}
	if (q->peer) {
		fake_land(q->peer, sge->addr, sge->len);
	} else {
		assert_true(q->nout < MAXMSG);
		assert_true(sge->len <= sizeof(q->out[0]));
		memcpy(q->out[q->nout], sge->addr, sge->len);
		q->out_len[q->nout++] = sge->len;
	}
	cq_push(q, wr, 0, sge->len);
	return 0;
}

/* The memory an rkey + VA + length names in `regions`, or NULL (access error). */
static uint8_t *f_remote(struct fake_qp *owner, uint64_t va, uint32_t rkey, uint32_t len)
{
	for (unsigned i = 0; i < MAXREGIONS; i++) {
		struct fake_region *r = &owner->regions[i];
		uint64_t base = (uint64_t)(uintptr_t)r->addr;

		if (r->used && r->rkey == rkey && va >= base && va - base <= r->len &&
		    len <= r->len - (va - base)) {
			return (uint8_t *)(uintptr_t)va;
		}
	}
	return NULL;
}

/* Whose memory an RDMA operation on `q` reaches: the peer's, or the test's. */
static struct fake_qp *f_far(struct fake_qp *q)
{
	return q->peer ? q->peer : q;
}

static inline int f_post_write(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *l,
                               uint64_t va, uint32_t rkey)
{
	struct fake_qp *q = qp;
	uint8_t *dst = f_remote(f_far(q), va, rkey, l->len);

	assert_int_equal(wr->op, IDM_RDMA_WRITE);
	if (q->disconnected || q->write_status) {
		cq_push(q, wr, q->disconnected ? -ECANCELED : q->write_status, 0);
		return 0;
	}
	if (dst == NULL) {
		cq_push(q, wr, -EACCES, 0);
		return 0;
	}
	memcpy(dst, l->addr, l->len);
	cq_push(q, wr, 0, l->len);
	return 0;
}

static inline int f_post_read(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *l,
                              uint64_t va, uint32_t rkey)
{
	struct fake_qp *q = qp;
	uint8_t *src = f_remote(f_far(q), va, rkey, l->len);

	assert_int_equal(wr->op, IDM_RDMA_READ);
	if (q->disconnected || src == NULL) {
		cq_push(q, wr, q->disconnected ? -ECANCELED : -EACCES, 0);
		return 0;
	}
	memcpy(l->addr, src, l->len);
	cq_push(q, wr, 0, l->len);
	return 0;
}

/* The QP goes to error: posted receives flush. */
static inline void f_disconnect(void *qp)
{
	struct fake_qp *q = qp;

	q->disconnected = true;
	while (q->rq_count) {
		cq_push(q, q->rq[q->rq_head], -ECANCELED, 0);
		q->rq_head = (q->rq_head + 1) % MAXQ;
		q->rq_count--;
	}
}

static const struct iser_verbs fake_verbs = {
    .post_recv = f_post_recv,
    .post_send = f_post_send,
    .post_write = f_post_write,
    .post_read = f_post_read,
    .disconnect = f_disconnect,
};

/* Memory "registration": a token per region; keys are counters. */
static inline void *m_alloc(void *ctx, size_t len)
{
	(void)ctx;
	return calloc(1, len);
}

static inline void m_free(void *ctx, void *mem, size_t len)
{
	(void)ctx;
	(void)len;
	free(mem);
}

static inline int m_reg(void *ctx, void *mem, size_t len, void **handle, uint32_t *lkey,
                        uint32_t *rkey)
{
	struct fake_qp *q = ctx;
	static const int token;

	(void)mem;
	(void)len;
	q->regs++;
	*handle = (void *)&token;
	*lkey = *rkey = 0x100u + ++q->next_key;
	return 0;
}

static inline void m_dereg(void *ctx, void *handle)
{
	struct fake_qp *q = ctx;

	assert_non_null(handle);
	q->regs--;
}

/* The peer (or the test) may reach [addr, addr+len) under `rkey`. */
static struct fake_region *fake_peer_region(struct fake_qp *q, void *addr, size_t len,
                                            uint32_t rkey)
{
	for (unsigned i = 0; i < MAXREGIONS; i++) {
		if (!q->regions[i].used) {
			q->regions[i] = (struct fake_region){addr, len, rkey, true};
			return &q->regions[i];
		}
	}
	fail_msg("out of fake regions");
	return NULL;
}

/* Registration with remote access: the peer's RDMA operations reach it. */
static inline int m_reg_remote(void *ctx, void *mem, size_t len, void **handle, uint32_t *lkey,
                               uint32_t *rkey)
{
	struct fake_qp *q = ctx;

	q->regs++;
	*lkey = *rkey = 0x800u + ++q->next_key;
	*handle = fake_peer_region(q, mem, len, *rkey);
	return 0;
}

static inline void m_dereg_remote(void *ctx, void *handle)
{
	struct fake_qp *q = ctx;
	struct fake_region *r = handle;

	assert_true(r->used);
	r->used = false;
	q->regs--;
}

/* A link over `q`: local registrations for the rings, remote for advertised buffers. */
static inline struct iser_link fake_link(struct fake_qp *q, uint8_t ord)
{
	struct iser_link link = {.verbs = &fake_verbs, .qp = q, .ord = ord};

	link.mem = (struct iser_mem_ops){m_alloc, m_free, m_reg, m_dereg, q};
	link.adv_mem = (struct iser_mem_ops){m_alloc, m_free, m_reg_remote, m_dereg_remote, q};
	return link;
}

/* Deliver every queued completion (more may queue while doing so). */
static inline void fake_poll(struct fake_qp *q)
{
	while (q->cq_count) {
		struct fake_cqe e = q->cq[q->cq_head];

		q->cq_head = (q->cq_head + 1) % MAXQ;
		q->cq_count--;
		e.wr->done(e.wr, e.status, e.len);
	}
}

/* Two QPs, one connection: run both until neither has a completion left. */
static inline void fake_pair(struct fake_qp *a, struct fake_qp *b)
{
	a->peer = b;
	b->peer = a;
}

static inline void fake_poll_pair(struct fake_qp *a, struct fake_qp *b)
{
	while (a->cq_count || b->cq_count) {
		fake_poll(a);
		fake_poll(b);
	}
}

/* The test, as the peer, Sends `len` bytes to the engine on `q`. */
static inline void fake_deliver(struct fake_qp *q, const void *msg, uint32_t len)
{
	fake_land(q, msg, len);
	fake_poll(q);
}

/* QP destroyed: nothing queued can complete any more; then the buffers go. */
static inline void fake_owner_free(void *owner, struct iser_conn *ic)
{
	struct fake_qp *q = owner;

	q->cq_count = 0;
	q->rq_count = 0;
	iser_conn_free(ic);
}

/* ---- test data and messages ---- */

static inline uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i * 31 + (i >> 8));
}

static inline void fill(uint8_t *b, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		b[i] = pattern(i);
	}
}

static inline void check(const uint8_t *b, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		if (b[i] != pattern(i)) {
			fail_msg("byte %u: %#x", i, b[i]);
		}
	}
}

/* A control-type message: iSER header (none if NULL), BHS, `len` bytes of data. */
static inline uint32_t ctrl_msg(uint8_t *out, const struct iser_hdr *h, const uint8_t *bhs,
                                const void *data, uint32_t len)
{
	struct iser_hdr none = {0};

	iser_hdr_encode(out, h ? h : &none);
	memcpy(out + ISER_HDR_LEN, bhs, 48);
	put_be24(out + ISER_HDR_LEN + BHS_DATA_SEG_LEN, len);
	if (len) {
		memcpy(out + ISER_CTRL_HDRS, data, len);
	}
	return ISER_CTRL_HDRS + len;
}

#endif
