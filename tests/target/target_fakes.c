/* SPDX-License-Identifier: BSD-3-Clause */
/* Fakes for tests/target/target_flow_ut.c (see target_fakes.h). */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_fakes.h"
#include "target/gateway.h"

struct fake_state fk;

void fake_reset(void)
{
	fake_tasks_free();
	memset(&fk, 0, sizeof(fk));
	fk.now_ms = 1000;
}

void fake_server_init(struct idm_server *srv, struct tgt_target *targets, unsigned n,
		      struct idm_svc *svc)
{
	memset(srv, 0, sizeof(*srv));
	memset(targets, 0, n * sizeof(*targets));
	srv->magic = TGT_SERVER_MAGIC;
	srv->tun.queue_depth = 8;
	srv->tun.max_recv_dsl = 262144;
	srv->tun.max_burst_length = 1048576;
	srv->tun.first_burst_length = 262144;
	srv->tun.max_outstanding_r2t = 1;
	srv->tun.immediate_data = true;
	srv->tun.max_connections = srv->tun.max_connections_per_portal = 64;
	srv->tun.max_connections_per_address = srv->tun.max_prelogin_connections = 64;
	srv->tun.max_sessions_per_target = srv->tun.max_sessions_per_initiator = 64;
	srv->tun.max_discovery_sessions = 64;
	srv->tun.prelogin_timeout_s = 5;
	srv->tun.dataout_timeout_s = 30;
	srv->tun.text_timeout_s = 15;
	srv->next_tsih = 1;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	for (unsigned i = 0; i < n; i++) {
		targets[i].srv = srv;
	}
	srv->targets = targets;
	srv->ntargets = n;
	srv->portals[0].srv = srv;
	srv->portals[0].conf.tpgt = 1;
	srv->nportals = 1;
	memset(svc, 0, sizeof(*svc));
	svc->req.client_arg = &srv->portals[0];
}

void fake_server_fini(struct idm_server *srv)
{
	fake_tasks_free();
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->cond);
}

static char fake_reactor; /* only compared, never used */

struct idm_conn *fake_conn_new(struct idm_svc *svc, const struct idm_transport *tp)
{
	struct idm_conn *c = calloc(1, sizeof(*c));
	struct sockaddr_in *in = (struct sockaddr_in *)&c->local_addr;

	if (!c) {
		abort();
	}
	c->transport = tp;
	c->client = &tgt_client_ops;
	c->reactor = (struct idm_reactor *)(void *)&fake_reactor;
	in->sin_family = AF_INET;
	in->sin_port = htons(3260);
	inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
	memcpy(&c->peer_addr, &c->local_addr, sizeof(c->peer_addr)); /* same host */
	tgt_accepted(svc, c);
	return c;
}

void fake_conn_gone(struct idm_conn *c)
{
	tgt_client_ops.conn_free(c);
	free(c);
}

unsigned fake_events(enum idm_conn_event ev)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fk.nevents; i++) {
		n += fk.events[i] == ev;
	}
	return n;
}

/* ---- PDUs ---- */

void idm_bhs_init(uint8_t *bhs, uint8_t opcode, bool immediate)
{
	memset(bhs, 0, IDM_BHS_LEN);
	bhs[0] = opcode | (immediate ? ISCSI_FLAG_IMMEDIATE : 0);
}

void idm_bhs_set_dlength(uint8_t *bhs, uint32_t len)
{
	put_be24(bhs + BHS_DATA_SEG_LEN, len);
}

uint64_t idm_lun_decode(const uint8_t *field)
{
	return ((uint64_t)(field[0] & 0x3f) << 8) | field[1];
}

const char *idm_opcode_name(uint8_t opcode)
{
	return "opcode";
}

struct idm_pdu *idm_pdu_alloc(struct idm_conn *c, uint32_t data_len)
{
	struct idm_pdu *p = calloc(1, sizeof(*p));

	p->conn = c;
	p->data = calloc(1, data_len ? data_len : 1);
	p->data_cap = data_len;
	p->data_len = data_len;
	return p;
}

void idm_pdu_free(struct idm_pdu *pdu)
{
	free(pdu->data);
	free(pdu);
}

void idm_pdu_tx(struct idm_conn *c, struct idm_pdu *pdu)
{
	if (fk.nsent < FAKE_MAX_SENT) {
		struct fake_sent *s = &fk.sent[fk.nsent++];

		memcpy(s->bhs, pdu->bhs, IDM_BHS_LEN);
		s->data_len = pdu->data_len < sizeof(s->data) ? pdu->data_len : sizeof(s->data);
		memcpy(s->data, pdu->data, s->data_len);
	}
	if (pdu->done) {
		pdu->done(pdu, 0);
	}
	idm_pdu_free(pdu);
}

void idm_pdu_reject(struct idm_conn *c, const uint8_t *bad_bhs, uint8_t reason)
{
	fk.nrejects++;
	fk.reject_reason = reason;
}

/* ---- connections ---- */

void idm_conn_event(struct idm_conn *c, enum idm_conn_event ev)
{
	if (fk.nevents < 32) {
		fk.events[fk.nevents++] = ev;
	}
}

void idm_conn_hold(struct idm_conn *c)
{
}

static enum idm_hook_result fake_key_hook(void *arg, const char *key, const char *value,
					  char *answer, size_t cap)
{
	struct idm_conn *c = arg;

	return c->transport->ops->negotiate_key(c, key, value, answer, cap);
}

/* As the core: the transport's key hook, when it has one. */
bool idm_conn_key_hook(struct idm_conn *c, struct idm_nego_hook *hook)
{
	if (c->transport->ops == NULL || c->transport->ops->negotiate_key == NULL) {
		return false;
	}
	*hook = (struct idm_nego_hook){.key = fake_key_hook, .arg = c};
	return true;
}

void idm_conn_set_login_timeout(struct idm_conn *c, uint32_t seconds)
{
	fk.login_timeout_s = seconds;
}

void idm_conn_release(struct idm_conn *c)
{
}

/* Log lines are kept (bounded) so tests can check what was said. */
void idm_log(const char *component, const char *fmt, ...)
{
	size_t used = strlen(fk.log);
	va_list ap;

	if (used + 2 >= sizeof(fk.log)) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(fk.log + used, sizeof(fk.log) - used - 1, fmt, ap);
	va_end(ap);
	strcat(fk.log, "\n");
}

/* Connection lines as the core prints them: "PEER: text", unlimited here. */
void idm_log_conn(const struct idm_conn *c, const char *fmt, ...)
{
	size_t used = strlen(fk.log);
	int n;
	va_list ap;

	n = snprintf(fk.log + used, sizeof(fk.log) - used, "%s: ", c->peer_name);
	if (n < 0 || used + (size_t)n + 2 >= sizeof(fk.log)) {
		fk.log[used] = '\0';
		return;
	}
	used += (size_t)n;
	va_start(ap, fmt);
	vsnprintf(fk.log + used, sizeof(fk.log) - used - 1, fmt, ap);
	va_end(ap);
	strcat(fk.log, "\n");
}

void idm_conn_set_tx_limits(struct idm_conn *c, const struct idm_tx_limits *lim)
{
	c->txq.lim = *lim;
}

/* ---- tasks ---- */

struct idm_task *idm_task_alloc(struct idm_conn *c, uint32_t itt, int *err)
{
	for (int i = 0; i < FAKE_MAX_TASKS; i++) {
		if (fk.tasks[i] && fk.tasks[i]->conn == c && fk.tasks[i]->itt == itt) {
			*err = -EEXIST;
			return NULL;
		}
	}
	for (int i = 0; i < FAKE_MAX_TASKS; i++) {
		if (!fk.tasks[i]) {
			struct idm_task *t = calloc(1, sizeof(*t) + sizeof(struct tgt_task));

			t->conn = c;
			t->itt = itt;
			t->refcnt = 1;
			t->state = IDM_TASK_ACTIVE;
			fk.tasks[i] = t;
			return t;
		}
	}
	*err = -EBUSY;
	return NULL;
}

struct idm_task *idm_task_find_itt(struct idm_conn *c, uint32_t itt)
{
	for (int i = 0; i < FAKE_MAX_TASKS; i++) {
		if (fk.tasks[i] && fk.tasks[i]->conn == c && fk.tasks[i]->itt == itt) {
			return fk.tasks[i];
		}
	}
	return NULL;
}

/* As the core: the client's task_free runs when the last reference goes. */
static void fake_task_free(struct idm_task *t)
{
	if (t->conn && t->conn->client && t->conn->client->task_free) {
		t->conn->client->task_free(t);
	}
}

void idm_task_hold(struct idm_task *t)
{
	t->refcnt++;
}

void idm_task_release(struct idm_task *t)
{
	if (--t->refcnt > 0) {
		return;
	}
	fake_task_free(t);
	for (int i = 0; i < FAKE_MAX_TASKS; i++) {
		if (fk.tasks[i] == t) {
			fk.tasks[i] = NULL;
		}
	}
	free(t);
}

void fake_tasks_free(void)
{
	for (int i = 0; i < FAKE_MAX_TASKS; i++) {
		if (fk.tasks[i]) {
			fake_task_free(fk.tasks[i]);
		}
		free(fk.tasks[i]);
		fk.tasks[i] = NULL;
	}
}

void idm_task_foreach(struct idm_conn *c, void (*fn)(struct idm_task *t, void *arg), void *arg)
{
	struct idm_task *snap[FAKE_MAX_TASKS];

	memcpy(snap, fk.tasks, sizeof(snap));
	for (int i = 0; i < FAKE_MAX_TASKS; i++) {
		if (snap[i] && snap[i]->conn == c) {
			fn(snap[i], arg);
		}
	}
}

static int task_sent(struct idm_task *t, uint32_t len, const struct idm_scsi_status *st)
{
	struct fake_sent *s = &fk.sent[fk.nsent++];

	memset(s, 0, sizeof(*s));
	s->is_task = true;
	s->itt = t->itt;
	s->tx_len = len;
	s->st = *st;
	if (fk.hold_tx) {
		fk.tx_pending = t;
		return 0;
	}
	t->tx_done(t, 0);
	return 0;
}

void fake_tx_finish(void)
{
	struct idm_task *t = fk.tx_pending;

	fk.tx_pending = NULL;
	fk.hold_tx = false;
	t->tx_done(t, 0);
}

int idm_task_send_data(struct idm_task *t, uint32_t off, uint32_t len,
		       const struct idm_scsi_status *st)
{
	return task_sent(t, len, st);
}

int idm_task_send_status(struct idm_task *t, const struct idm_scsi_status *st)
{
	return task_sent(t, 0, st);
}

int idm_task_recv_data(struct idm_task *t, uint32_t len)
{
	fk.recv_len = len;
	fk.recv_task = t;
	return 0;
}

/* ---- reactor ---- */

uint64_t idm_now_ms(void)
{
	return fk.now_ms;
}

void idm_timer_arm(struct idm_reactor *r, struct idm_timer *t, uint64_t delay_ms)
{
	t->armed = true;
	t->deadline_ms = fk.now_ms + delay_ms;
	fk.last_armed = t;
}

void idm_timer_cancel(struct idm_reactor *r, struct idm_timer *t)
{
	t->armed = false;
}

unsigned idm_reactor_index(const struct idm_reactor *r)
{
	return 0; /* one reactor: statistics slot 0 */
}

int idm_reactor_send(struct idm_reactor *r, void (*fn)(void *arg), void *arg)
{
	fn(arg);
	return 0;
}

void *idm_buf_get(struct idm_reactor *r, size_t len, size_t *cap)
{
	*cap = len;
	fk.bufs_out++;
	return malloc(len);
}

void idm_buf_put(struct idm_reactor *r, void *buf, size_t cap)
{
	fk.bufs_out--;
	free(buf);
}

/* ---- keys ---- */

/* FAKE_REAL_KEYS: the test links the real key engine (src/idm) instead. */
#ifndef FAKE_REAL_KEYS

void idm_params_init(struct idm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	p->max_connections = 1;
	p->initial_r2t = true;
	p->immediate_data = true;
	p->max_burst_length = 262144;
	p->first_burst_length = 65536;
	snprintf(p->auth_method, sizeof(p->auth_method), "None");
}

void idm_textbuf_init(struct idm_textbuf *t)
{
	memset(t, 0, sizeof(*t));
}

void idm_textbuf_free(struct idm_textbuf *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

void idm_textbuf_reset(struct idm_textbuf *t)
{
	t->len = 0;
}

int idm_textbuf_add(struct idm_textbuf *t, const char *key, const char *value)
{
	size_t need = strlen(key) + strlen(value) + 2;

	if (t->len + need > t->cap) {
		t->cap = (t->len + need) * 2;
		t->buf = realloc(t->buf, t->cap);
	}
	t->len += (size_t)sprintf(t->buf + t->len, "%s=%s", key, value) + 1;
	return 0;
}

int idm_textbuf_addf(struct idm_textbuf *t, const char *key, const char *fmt, ...)
{
	char value[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	return idm_textbuf_add(t, key, value);
}

int idm_kv_parse(const char *text, size_t len, idm_kv_fn fn, void *arg)
{
	size_t off = 0;

	while (off < len) {
		char pair[512], *eq;
		size_t n = strnlen(text + off, len - off);
		int rc;

		if (n == 0) {
			off++;
			continue;
		}
		if (n >= sizeof(pair)) {
			return -EINVAL;
		}
		memcpy(pair, text + off, n);
		pair[n] = '\0';
		eq = strchr(pair, '=');
		if (!eq) {
			return -EINVAL;
		}
		*eq = '\0';
		rc = fn(arg, pair, eq + 1);
		if (rc) {
			return rc;
		}
		off += n + 1;
	}
	return 0;
}

void idm_nego_init(struct idm_nego *n, enum idm_role role, bool leading,
		   const struct idm_params *local, struct idm_params *result)
{
	memset(n, 0, sizeof(*n));
	n->role = role;
	n->local = *local;
	n->result = result;
	idm_params_init(result);
}

void idm_nego_add_hook(struct idm_nego *n, const struct idm_nego_hook *hook)
{
	n->hooks[n->nhooks++] = *hook;
}

struct fake_nego_ctx {
	struct idm_nego *n;
	struct idm_textbuf *resp;
};

/* Hooks first; then a couple of keys the way the engine would. */
static int fake_nego_key(void *arg, const char *key, const char *value)
{
	struct fake_nego_ctx *cx = arg;
	char answer[64];

	for (int i = 0; i < cx->n->nhooks; i++) {
		enum idm_hook_result r = cx->n->hooks[i].key(cx->n->hooks[i].arg, key, value,
							      answer, sizeof(answer));
		if (r == IDM_HOOK_ANSWERED) {
			return idm_textbuf_add(cx->resp, key, answer);
		}
		if (r == IDM_HOOK_FAIL) {
			cx->n->status = ISCSI_LOGIN_AUTH_FAILED;
			return -EINVAL;
		}
		if (r == IDM_HOOK_NOTED) {
			return 0;
		}
	}
	if (strcmp(key, "AuthMethod") == 0) {
		/* the target supports one method: take it if offered */
		const char *m = cx->n->local.auth_method;
		const char *hit = strstr(value, m);
		size_t len = strlen(m);

		if (hit && (hit == value || hit[-1] == ',') && (hit[len] == ',' || !hit[len])) {
			snprintf(cx->n->result->auth_method, sizeof(cx->n->result->auth_method), "%s", m);
			return idm_textbuf_add(cx->resp, key, m);
		}
		return idm_textbuf_add(cx->resp, key, "Reject");
	}
	if (strcmp(key, "MaxRecvDataSegmentLength") == 0) {
		cx->n->result->max_xmit_dsl = (uint32_t)atoi(value);
	} else if (strcmp(key, "X-Unknown") == 0) {
		return idm_textbuf_add(cx->resp, key, "NotUnderstood");
	}
	return 0;
}

int idm_nego_respond(struct idm_nego *n, enum idm_nego_stage stage, const char *req,
		     size_t len, struct idm_textbuf *resp)
{
	struct fake_nego_ctx cx = {.n = n, .resp = resp};

	return idm_kv_parse(req, len, fake_nego_key, &cx);
}

int idm_nego_finish_stage(struct idm_nego *n, enum idm_nego_stage stage,
			  struct idm_textbuf *resp)
{
	if (stage == IDM_NEGO_OPERATIONAL) {
		return idm_textbuf_add(resp, "TargetPortalGroupTag", "1");
	}
	return 0;
}
#endif /* FAKE_REAL_KEYS */

/* ---- SCSI ---- */

int scsi_cmd_setup(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lun < SCSI_MAX_LUNS ? cmd->luns->lu[cmd->lun] : NULL;

	cmd->lu = lu;
	if (!lu) {
		cmd->status = SCSI_STATUS_CHECK_CONDITION;
		cmd->sense_len = 18;
		return 1;
	}
	switch (cmd->cdb[0]) {
	case 0x28: /* READ(10) */
	case 0x2a: /* WRITE(10) */
		cmd->lba = get_be32(cmd->cdb + 2);
		cmd->nblocks = get_be16(cmd->cdb + 7);
		cmd->xfer_len = cmd->nblocks * lu->block_size;
		cmd->dir = cmd->cdb[0] == 0x28 ? SCSI_DIR_READ : SCSI_DIR_WRITE;
		return 0;
	case 0x00: /* TEST UNIT READY */
		cmd->dir = SCSI_DIR_NONE;
		cmd->xfer_len = 0;
		return 0;
	default:
		cmd->status = SCSI_STATUS_CHECK_CONDITION;
		cmd->sense_len = 18;
		return 1;
	}
}

uint8_t *scsi_cmd_direct_buffer(struct scsi_cmd *cmd)
{
	return NULL;
}

static void exec_complete(struct scsi_cmd *cmd)
{
	cmd->status = SCSI_STATUS_GOOD;
	if (cmd->dir == SCSI_DIR_READ) {
		memset(cmd->data, 0xab, cmd->xfer_len);
		cmd->data_len = cmd->xfer_len;
	} else if (cmd->dir == SCSI_DIR_WRITE) {
		fk.written_blocks = cmd->nblocks;
	}
	cmd->done(cmd);
}

void scsi_cmd_exec(struct scsi_cmd *cmd)
{
	if (fk.exec_async) {
		if (fk.exec_pending == NULL) {
			fk.exec_pending = cmd;
		} else {
			assert(fk.nexec_more < 4);
			fk.exec_more[fk.nexec_more++] = cmd;
		}
		return;
	}
	exec_complete(cmd);
}

void fake_exec_finish_last(void)
{
	assert(fk.nexec_more > 0);
	exec_complete(fk.exec_more[--fk.nexec_more]);
}

void fake_exec_finish(void)
{
	struct scsi_cmd *cmd = fk.exec_pending;

	fk.exec_pending = NULL;
	if (fk.nexec_more > 0) {
		/* the next oldest moves up */
		fk.exec_pending = fk.exec_more[0];
		memmove(fk.exec_more, fk.exec_more + 1, --fk.nexec_more * sizeof(fk.exec_more[0]));
	}
	exec_complete(cmd);
}

void scsi_lu_raise_ua(struct scsi_lu *lu, uint16_t asc)
{
	fk.ua_raised++;
	lu->ua_asc = asc;
}

/* No gateway group here: a reset has no other gateway to tell. */
bool tgt_gateway_lu_reset(struct tgt_target *t, unsigned l, struct idm_reactor *home,
                          void (*done)(void *arg), void *arg)
{
	(void)t;
	(void)l;
	(void)home;
	(void)done;
	(void)arg;
	return false;
}

void scsi_nexus_init(struct scsi_nexus *n, const char *initiator_name, const uint8_t isid[6],
		     const char *target_name, uint16_t tpgt, uint32_t id)
{
	snprintf(n->initiator_port, sizeof(n->initiator_port), "%.200s,i,0x%02x%02x%02x%02x%02x%02x",
		 initiator_name, isid[0], isid[1], isid[2], isid[3], isid[4], isid[5]);
	snprintf(n->target_port, sizeof(n->target_port), "%.200s,t", target_name);
	n->rel_port_id = tpgt;
	n->tpgt = tpgt;
	n->id = id;
}

void scsi_lu_nexus_gone(struct scsi_lu *lu, const struct scsi_nexus *n)
{
	(void)lu;
	(void)n;
}

/* No shared reservations here: a logout has nothing to wait for. */
bool scsi_lu_nexus_leaving(struct scsi_lu *lu, const struct scsi_nexus *n,
                           void (*released)(void *arg), void *arg)
{
	(void)lu;
	(void)n;
	(void)released;
	(void)arg;
	return false;
}
