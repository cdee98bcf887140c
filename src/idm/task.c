/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tasks: a table per connection that grows on demand, in chunks (the first
 * of IDM_TASK_CHUNK_FIRST slots, each next as large as the table so far,
 * at most IDM_TASK_CHUNK), up to max_tasks, and stays grown until the
 * connection goes: an idle connection holds no task memory, one that ran a
 * command or two holds a few slots, and a busy one allocates nothing per
 * command once its table is as deep as its queue.
 * A task is found by ITT through a hash (resized as the table grows) and
 * by TTT through the slot index that the TTT encodes (slot | generation
 * << 16; the generation changes on every reuse, so a stale TTT never
 * matches the slot's next task).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/core_priv.h"

#define TASK_ALIGN 64
#define TASK_HASH_MIN 16 /* buckets of the first chunk's hash */

static struct idm_task *task_at(const struct idm_conn *c, uint32_t slot)
{
	return c->task_by_slot[slot];
}

/* Slots of the chunk that follows the first `have` slots. */
static uint32_t chunk_slots(uint32_t have, uint32_t max_tasks)
{
	uint32_t n = have < IDM_TASK_CHUNK_FIRST ? IDM_TASK_CHUNK_FIRST : have;

	if (n > IDM_TASK_CHUNK) {
		n = IDM_TASK_CHUNK;
	}
	return n < max_tasks - have ? n : max_tasks - have;
}

static void task_check(const struct idm_task *t)
{
	if (t == NULL || t->magic != IDM_TASK_MAGIC) {
		idm_log("task", "bad task %p", (const void *)t);
		abort();
	}
}

static uint32_t itt_bucket(const struct idm_conn *c, uint32_t itt)
{
	return (itt ^ (itt >> 16)) & c->task_hash_mask;
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Sizes only: no task memory until the first task (idm_task_alloc). */
int idm_task_table_init(struct idm_conn *c, uint32_t max_tasks, uint32_t client_size)
{
	size_t tp_off = sizeof(struct idm_task) + align_up(client_size, 16);
	size_t size = align_up(tp_off + c->transport->task_priv_size, TASK_ALIGN);

	if (max_tasks == 0 || max_tasks > IDM_MAX_TASKS_PER_CONN || size > UINT32_MAX) {
		return -EINVAL;
	}
	c->task_size = (uint32_t)size;
	c->task_tp_off = (uint32_t)tp_off;
	c->max_tasks = max_tasks;
	c->task_slots = 0;
	c->task_by_slot = NULL;
	c->task_hash = NULL;
	c->task_hash_mask = 0;
	c->task_free = NULL;
	return 0;
}

void idm_task_table_free(struct idm_conn *c)
{
	/* a chunk's memory starts with the task of its first slot */
	for (uint32_t s = 0; s < c->task_slots; s += chunk_slots(s, c->max_tasks)) {
		free(c->task_by_slot[s]);
	}
	free(c->task_by_slot);
	free(c->task_hash);
	c->task_by_slot = NULL;
	c->task_slots = 0;
	c->task_hash = NULL;
	c->task_hash_mask = 0;
	c->task_free = NULL;
}

static void task_hash_insert(struct idm_conn *c, struct idm_task *t)
{
	uint32_t b = itt_bucket(c, t->itt);

	t->hash_next = c->task_hash[b];
	c->task_hash[b] = t;
}

/* Room for `slots` tasks in the ITT hash (load at most 1/2): rehash the
 * tasks in use into a larger bucket array. */
static int task_hash_fit(struct idm_conn *c, uint32_t slots)
{
	uint32_t buckets = c->task_hash ? c->task_hash_mask + 1 : TASK_HASH_MIN;
	struct idm_task **hash;

	while (buckets < slots * 2) {
		buckets *= 2;
	}
	if (c->task_hash && buckets == c->task_hash_mask + 1) {
		return 0;
	}
	hash = calloc(buckets, sizeof(*hash));
	if (hash == NULL) {
		return -ENOMEM;
	}
	free(c->task_hash);
	c->task_hash = hash;
	c->task_hash_mask = buckets - 1;
	for (uint32_t i = 0; i < c->task_slots; i++) {
		struct idm_task *t = task_at(c, i);

		if (t->state != IDM_TASK_IDLE) {
			task_hash_insert(c, t);
		}
	}
	return 0;
}

/* The free list is empty: add a chunk of slots (-EBUSY at max_tasks). */
static int task_table_grow(struct idm_conn *c)
{
	uint32_t first = c->task_slots;
	uint32_t n = chunk_slots(first, c->max_tasks);
	struct idm_task **by_slot;
	uint8_t *chunk;

	if (n == 0) {
		return -EBUSY;
	}
	if (task_hash_fit(c, first + n) != 0) {
		return -ENOMEM;
	}
	by_slot = realloc(c->task_by_slot, (first + n) * sizeof(*by_slot));
	if (by_slot == NULL) {
		return -ENOMEM;
	}
	c->task_by_slot = by_slot;
	chunk = aligned_alloc(TASK_ALIGN, (size_t)c->task_size * n);
	if (chunk == NULL) {
		return -ENOMEM;
	}
	memset(chunk, 0, (size_t)c->task_size * n);
	for (uint32_t i = 0; i < n; i++) {
		by_slot[first + i] = (struct idm_task *)(chunk + (size_t)i * c->task_size);
	}
	c->task_slots = first + n;
	/* push in reverse so the lowest slot is handed out first */
	for (uint32_t i = c->task_slots; i-- > first;) {
		struct idm_task *t = task_at(c, i);

		t->magic = IDM_TASK_MAGIC;
		t->conn = c;
		t->state = IDM_TASK_IDLE;
		t->ttt = i; /* generation 0 */
		t->free_next = c->task_free;
		c->task_free = t;
	}
	return 0;
}

/* Slot index | (generation + 1) << 16: never 0xffffffff (slot < 0xfff0). */
static uint32_t next_ttt(uint32_t old)
{
	uint32_t gen = ((old >> 16) + 1) & 0xffff;

	return (old & 0xffff) | (gen << 16);
}

struct idm_task *idm_task_alloc(struct idm_conn *c, uint32_t itt, int *err)
{
	struct idm_task *t;
	uint32_t ttt;
	int dummy;

	if (err == NULL) {
		err = &dummy;
	}
	if (itt == IDM_RESERVED_TAG) {
		*err = -EINVAL;
		return NULL;
	}
	if (idm_task_find_itt(c, itt)) {
		*err = -EEXIST;
		return NULL;
	}
	if (c->task_free == NULL) {
		int rc = task_table_grow(c);

		if (rc != 0) {
			*err = rc;
			return NULL;
		}
	}
	t = c->task_free;
	c->task_free = t->free_next;
	ttt = next_ttt(t->ttt);
	memset(t, 0, sizeof(*t)); /* the client area is the client's to set */
	t->magic = IDM_TASK_MAGIC;
	t->conn = c;
	memset(idm_task_transport_area(t), 0, c->transport->task_priv_size);
	t->state = IDM_TASK_ACTIVE;
	t->refcnt = 1;
	t->itt = itt;
	t->ttt = ttt;
	task_hash_insert(c, t);
	c->active_tasks++;
	*err = 0;
	return t;
}

struct idm_task *idm_task_find_itt(struct idm_conn *c, uint32_t itt)
{
	if (c->task_hash == NULL) {
		return NULL;
	}
	for (struct idm_task *t = c->task_hash[itt_bucket(c, itt)]; t; t = t->hash_next) {
		if (t->itt == itt) {
			return t;
		}
	}
	return NULL;
}

struct idm_task *idm_task_find_ttt(struct idm_conn *c, uint32_t ttt)
{
	uint32_t slot = ttt & 0xffff;
	struct idm_task *t;

	if (ttt == IDM_RESERVED_TAG || slot >= c->task_slots) {
		return NULL;
	}
	t = task_at(c, slot);
	if (t->state == IDM_TASK_IDLE || t->ttt != ttt) {
		return NULL;
	}
	return t;
}

void idm_task_hold(struct idm_task *t)
{
	task_check(t);
	t->refcnt++;
}

static void task_unhash(struct idm_conn *c, struct idm_task *t)
{
	struct idm_task **pp = &c->task_hash[itt_bucket(c, t->itt)];

	while (*pp && *pp != t) {
		pp = &(*pp)->hash_next;
	}
	if (*pp) {
		*pp = t->hash_next;
	}
	t->hash_next = NULL;
}

void idm_task_release(struct idm_task *t)
{
	struct idm_conn *c;

	task_check(t);
	if (t->refcnt == 0 || t->state == IDM_TASK_IDLE) {
		idm_log("task", "ITT %#x: release of a free task", t->itt);
		abort();
	}
	if (--t->refcnt > 0) {
		return;
	}
	c = t->conn;
	if (c->client && c->client->task_free) {
		c->client->task_free(t);
	}
	task_unhash(c, t);
	t->state = IDM_TASK_IDLE;
	t->data = NULL;
	t->rx_done = NULL;
	t->tx_done = NULL;
	t->free_next = c->task_free;
	c->task_free = t;
	c->active_tasks--;
	if (c->active_tasks == 0 && c->state == IDM_CONN_CLEANUP) {
		idm_conn_event(c, IDM_CE_TASKS_DRAINED);
	}
}

void idm_task_foreach(struct idm_conn *c, void (*fn)(struct idm_task *t, void *arg), void *arg)
{
	/* by slot, so tasks released inside fn do not disturb the walk */
	for (uint32_t i = 0; i < c->task_slots; i++) {
		struct idm_task *t = task_at(c, i);

		if (t->state == IDM_TASK_IDLE) {
			continue;
		}
		idm_task_hold(t);
		fn(t, arg);
		idm_task_release(t);
	}
}

static void abort_one(struct idm_task *t, void *arg)
{
	struct idm_conn *c = t->conn;
	idm_task_fn done = t->rx_done;

	if (t->state == IDM_TASK_ABORTING && t->r2t_outstanding > 0 && done) {
		/* an aborted write waiting for the answers to its R2Ts
		 * (rx.c, rx_r2t_answered): none can come now */
		t->r2t_outstanding = 0;
		t->rx_done = NULL;
		done(t, -ECONNRESET);
		return;
	}
	if (t->state != IDM_TASK_ACTIVE) {
		return;
	}
	t->state = IDM_TASK_ABORTING;
	if (c->client && c->client->task_abort) {
		c->client->task_abort(t);
	}
}

void idm_task_abort_all(struct idm_conn *c)
{
	idm_task_foreach(c, abort_one, NULL);
}

/* ---- data movement ---- */

static int task_can_send(const struct idm_task *t)
{
	task_check(t);
	if (idm_conn_closing(t->conn)) {
		return -ENOTCONN;
	}
	if (t->state != IDM_TASK_ACTIVE) {
		return -ECANCELED;
	}
	return 0;
}

int idm_task_send_data(struct idm_task *t, uint32_t off, uint32_t len,
                       const struct idm_scsi_status *st)
{
	const struct idm_transport_ops *ops;
	int rc = task_can_send(t);

	if (rc != 0) {
		return rc;
	}
	if (len > 0 && (t->data == NULL || off > t->data_cap || len > t->data_cap - off)) {
		return -EINVAL;
	}
	if (len == 0) {
		/* nothing to move: the status alone, or the transmit is done */
		if (st) {
			return idm_task_send_status(t, st);
		}
		if (t->tx_done) {
			t->tx_done(t, 0);
		}
		return 0;
	}
	ops = t->conn->transport->ops;
	if (ops->buf_tx_to_ini == NULL) {
		return -ENOTSUP;
	}
	return ops->buf_tx_to_ini(t, off, len, st);
}

int idm_task_recv_data(struct idm_task *t, uint32_t len)
{
	const struct idm_transport_ops *ops;
	int rc = task_can_send(t);

	if (rc != 0) {
		return rc;
	}
	if (len > 0 && (t->data == NULL || len > t->data_cap)) {
		return -EINVAL;
	}
	if (len == 0 || t->received >= len) {
		/* unsolicited data already brought it all */
		if (t->rx_done) {
			t->rx_done(t, 0);
		}
		return 0;
	}
	ops = t->conn->transport->ops;
	if (ops->buf_rx_from_ini == NULL) {
		return -ENOTSUP;
	}
	return ops->buf_rx_from_ini(t, len);
}

/* The SCSI Response left (or was dropped): the task's transmit is done. */
static void status_sent(struct idm_pdu *pdu, int status)
{
	struct idm_task *t = pdu->private;

	if (t->tx_done) {
		t->tx_done(t, status);
	}
	idm_task_release(t);
}

/* ExpDataSN: the Data-In and R2T PDUs sent for the command (11.4.8). */
static uint32_t task_exp_data_sn(const struct idm_task *t)
{
	return (t->is_write ? 0 : t->data_sn) + t->r2tsn;
}

int idm_task_send_status(struct idm_task *t, const struct idm_scsi_status *st)
{
	uint32_t sense_len = st->sense ? st->sense_len : 0;
	struct idm_pdu *pdu;
	uint8_t *bhs;
	int rc = task_can_send(t);

	if (rc != 0) {
		return rc;
	}
	pdu = idm_pdu_alloc(t->conn, sense_len ? sense_len + 2 : 0);
	if (pdu == NULL) {
		return -ENOMEM;
	}
	bhs = pdu->bhs;
	idm_bhs_init(bhs, ISCSI_OP_SCSI_RSP, false);
	bhs[BHS_FLAGS] =
	    (uint8_t)(ISCSI_FLAG_FINAL |
	              (st->flags & (SCSI_RSP_FLAG_OVERFLOW | SCSI_RSP_FLAG_UNDERFLOW |
	                            SCSI_RSP_FLAG_BIDI_OVERFLOW | SCSI_RSP_FLAG_BIDI_UNDERFLOW)));
	bhs[SCSI_RSP_RESPONSE] = st->response;
	bhs[SCSI_RSP_STATUS] = st->status;
	put_be32(bhs + BHS_ITT, t->itt);
	put_be32(bhs + SCSI_RSP_EXPDATASN, task_exp_data_sn(t));
	if (st->flags & (SCSI_RSP_FLAG_OVERFLOW | SCSI_RSP_FLAG_UNDERFLOW)) {
		put_be32(bhs + SCSI_RSP_RESIDUAL, st->residual);
	}
	if (sense_len) {
		/* the data segment: 2-byte SenseLength, then the sense data */
		put_be16(pdu->data, (uint16_t)sense_len);
		memcpy(pdu->data + 2, st->sense, sense_len);
	}
	pdu->private = t;
	pdu->done = status_sent;
	idm_task_hold(t);
	idm_pdu_tx(t->conn, pdu);
	return 0;
}

void idm_task_r2t(struct idm_task *t, uint32_t off, uint32_t len, uint8_t *bhs)
{
	idm_bhs_init(bhs, ISCSI_OP_R2T, false);
	bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	memcpy(bhs + BHS_LUN, t->lun_field, 8);
	put_be32(bhs + BHS_ITT, t->itt);
	put_be32(bhs + R2T_TTT, t->ttt);
	put_be32(bhs + R2T_R2TSN, t->r2tsn++);
	put_be32(bhs + R2T_BUFFER_OFFSET, off);
	put_be32(bhs + R2T_DESIRED_LEN, len);
	if (off + len > t->r2t_next) {
		t->r2t_next = off + len;
	}
	t->r2t_outstanding++;
}

void idm_task_from_cmd(struct idm_task *t, const uint8_t *bhs)
{
	t->cmdsn = get_be32(bhs + SCSI_CMD_CMDSN);
	memcpy(t->lun_field, bhs + BHS_LUN, 8);
	t->edtl = get_be32(bhs + SCSI_CMD_EDTL);
	t->xfer_len = t->edtl;
	t->is_read = (bhs[BHS_FLAGS] & SCSI_CMD_FLAG_READ) != 0;
	t->is_write = (bhs[BHS_FLAGS] & SCSI_CMD_FLAG_WRITE) != 0;
}
