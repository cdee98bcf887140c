/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Initiator session: the context, the connection's client callbacks,
 * login (security then operational stage, keys from the key engine),
 * SendTargets, logout, NOP-In answers and sequence number bookkeeping.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "idm/auth.h"
#include "initiator/ini_priv.h"

#define INI_DEFAULT_QD 64
#define INI_MAX_RECV_DSL (256u * 1024)
#define INI_MAX_BURST (1024u * 1024)
#define INI_FIRST_BURST (256u * 1024)
#define INI_MAX_TEXT (64u * 1024) /* a SendTargets answer larger than this is refused */

void ini_fail(struct idm_ini *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	(void)err;
}

/* The pending login / logout / text exchange is over. */
void ini_op_finish(struct idm_ini *s, int status)
{
	idm_ini_cb cb = s->op_cb;

	s->op_cb = NULL;
	s->op_itt = IDM_RESERVED_TAG;
	if (cb) {
		cb(s, status, s->op_arg);
	}
}

/* ---- context ---- */

struct idm_ini *idm_ini_create(const char *iname)
{
	struct idm_ini *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		return NULL;
	}
	s->r = idm_reactor_create(0);
	if (s->r == NULL) {
		free(s);
		return NULL;
	}
	snprintf(s->iname, sizeof(s->iname), "%s", iname ? iname : "iqn.2024-01.org.idm:idmio");
	s->qd = INI_DEFAULT_QD;
	s->tp_choice = IDM_INI_TP_TCP;
	s->op_itt = IDM_RESERVED_TAG;
	s->tmf_itt = IDM_RESERVED_TAG;
	snprintf(s->auth_methods, sizeof(s->auth_methods), "None");
	idm_textbuf_init(&s->text);
	return s;
}

/* Close the connection (if any) and run the reactor until it is gone. */
static void ini_drop_conn(struct idm_ini *s)
{
	for (int i = 0; s->c != NULL && i < 1000; i++) {
		if (s->c->state != IDM_CONN_CLEANUP && s->c->state != IDM_CONN_COMPLETE) {
			idm_conn_close(s->c);
		}
		if (s->c) {
			idm_reactor_poll(s->r, 10);
		}
	}
}

void idm_ini_destroy(struct idm_ini *s)
{
	if (s == NULL) {
		return;
	}
	ini_drop_conn(s);
	idm_reactor_poll(s->r, 0);
	idm_reactor_destroy(s->r);
	if (s->chap) {
		idm_chap_clear(s->chap);
		free(s->chap);
	}
	idm_textbuf_free(&s->text);
	free(s->rx_text);
	free(s);
}

int idm_ini_set_chap_algorithms(struct idm_ini *s, const uint8_t *algs, int n)
{
	if (n < 0 || n > IDM_CHAP_ALGS_MAX || (size_t)n > sizeof(s->chap_algs)) {
		return -EINVAL;
	}
	memcpy(s->chap_algs, algs, (size_t)n);
	s->nchap_algs = n;
	return 0;
}

const char *idm_ini_error(const struct idm_ini *s)
{
	return s->err[0] ? s->err : "no error";
}

void idm_ini_set_transport(struct idm_ini *s, enum idm_ini_transport tp)
{
	s->tp_choice = tp;
	s->xport.rdma_failed = false;
}

int idm_ini_set_queue_depth(struct idm_ini *s, uint32_t qd)
{
	if (qd == 0 || qd > 4096 || s->c) {
		return -EINVAL;
	}
	s->qd = qd;
	return 0;
}

void idm_ini_set_auth_hook(struct idm_ini *s, const struct idm_nego_hook *hook,
                           const char *auth_methods, bool (*ready)(void *arg))
{
	s->has_auth_hook = hook != NULL;
	s->auth_ready = ready;
	if (hook) {
		s->auth_hook = *hook;
	}
	snprintf(s->auth_methods, sizeof(s->auth_methods), "%s",
	         auth_methods ? auth_methods : "None");
}

void idm_ini_set_digests(struct idm_ini *s, bool header, bool data)
{
	s->want_hdigest = header;
	s->want_ddigest = data;
}

void idm_ini_set_verbose(struct idm_ini *s, bool on)
{
	s->verbose = on;
}

const struct idm_params *idm_ini_params(const struct idm_ini *s)
{
	return s->c ? &s->c->params : &s->local;
}

const struct idm_conn_stats *idm_ini_stats(const struct idm_ini *s)
{
	return s->c ? &s->c->stats : &s->stats;
}

const char *idm_ini_transport_name(const struct idm_ini *s)
{
	return s->xport.tp ? s->xport.tp->name : "none";
}

struct idm_reactor *idm_ini_reactor(struct idm_ini *s)
{
	return s->r;
}

/* ---- sending ---- */

/* A PDU carrying a copy of `len` bytes of text (login, text, NOP). */
static struct idm_pdu *ini_pdu(struct idm_ini *s, uint8_t op, bool immediate, const void *data,
                               uint32_t len)
{
	struct idm_pdu *pdu = idm_pdu_alloc(s->c, len);

	if (pdu == NULL) {
		return NULL;
	}
	idm_bhs_init(pdu->bhs, op, immediate);
	if (len) {
		memcpy(pdu->data, data, len);
	}
	return pdu;
}

static int login_send(struct idm_ini *s, bool transit, uint8_t nsg)
{
	struct idm_pdu *pdu;

	if (s->text.overflow) {
		return -ENOMEM;
	}
	pdu = ini_pdu(s, ISCSI_OP_LOGIN_REQ, true, s->text.buf, (uint32_t)s->text.len);
	if (pdu == NULL) {
		return -ENOMEM;
	}
	pdu->bhs[BHS_FLAGS] = (uint8_t)((transit ? LOGIN_FLAG_TRANSIT : 0) |
	                                (s->csg << LOGIN_CSG_SHIFT) | (transit ? nsg : 0));
	memcpy(pdu->bhs + LOGIN_ISID, s->isid, 6);
	put_be16(pdu->bhs + LOGIN_TSIH, s->tsih);
	put_be32(pdu->bhs + BHS_ITT, s->op_itt);
	put_be16(pdu->bhs + LOGIN_CID, 0);
	put_be32(pdu->bhs + LOGIN_CMDSN, s->sn.cmd_sn);
	idm_pdu_tx(s->c, pdu);
	return 0;
}

/* Random ISID, type "random" (RFC 7143 section 11.12.5: T = 10b). */
static void ini_make_isid(uint8_t *isid)
{
	if (getrandom(isid, 6, 0) != 6) {
		uint32_t v = (uint32_t)getpid();

		memcpy(isid, &v, 4);
	}
	isid[0] = (uint8_t)(0x80 | (isid[0] & 0x3f));
}

static void ini_local_params(struct idm_ini *s)
{
	struct idm_params *p = &s->local;

	idm_params_init(p);
	snprintf(p->initiator_name, sizeof(p->initiator_name), "%s", s->iname);
	snprintf(p->target_name, sizeof(p->target_name), "%s", s->url.target);
	p->session_type = s->url.target[0] ? IDM_SESSION_NORMAL : IDM_SESSION_DISCOVERY;
	p->header_digest = s->want_hdigest;
	p->data_digest = s->want_ddigest;
	p->max_recv_dsl = INI_MAX_RECV_DSL;
	p->immediate_data = true;
	p->initial_r2t = false;
	p->max_burst_length = INI_MAX_BURST;
	p->first_burst_length = INI_FIRST_BURST;
	p->max_outstanding_r2t = 1;
	memcpy(p->auth_method, s->auth_methods, sizeof(p->auth_method));
	/* iSER: RDMAExtensions, its receive lengths, no digests */
	idm_conn_ini_propose(s->c, p);
}

/* May the security stage end with this Login Request? */
static bool security_done(const struct idm_ini *s)
{
	if (s->chap) {
		return idm_auth_may_ask_transit(s->chap, &s->nego);
	}
	if (!s->has_auth_hook) {
		return true; /* AuthMethod=None: one exchange */
	}
	return s->auth_ready ? s->auth_ready(s->auth_hook.arg) : idm_nego_complete(&s->nego);
}

/*
 * CHAP from the URL: "user%secret@", and for mutual CHAP the target's
 * credentials in "?target_user=..&target_password=..". A fresh state per
 * login (a relogin starts over); 0 or -errno.
 */
static int chap_start(struct idm_ini *s)
{
	struct idm_chap_account acct;
	struct idm_chap_config cfg = {.encoding = IDM_CHAP_HEX, .account = &acct};
	int rc;

	if (!s->url.user[0] || s->has_auth_hook) {
		return 0;
	}
	if (!s->chap && !(s->chap = calloc(1, sizeof(*s->chap)))) {
		return -ENOMEM;
	}
	idm_chap_clear(s->chap);
	rc = idm_chap_account_set(&acct, s->url.user, s->url.password,
	                          s->url.target_user[0] ? s->url.target_user : NULL,
	                          s->url.target_user[0] ? s->url.target_password : NULL);
	if (rc == 0) {
		cfg.mutual = s->url.target_user[0] != '\0';
		cfg.nalgs = s->nchap_algs;
		memcpy(cfg.algs, s->chap_algs, (size_t)s->nchap_algs);
		rc = idm_chap_init(s->chap, IDM_ROLE_INITIATOR, &cfg);
	}
	idm_chap_account_clear(&acct);
	snprintf(s->auth_methods, sizeof(s->auth_methods), "CHAP");
	return rc;
}

/* Transport up: the first Login Request, in the security stage. */
static void login_start(struct idm_ini *s)
{
	struct idm_nego_hook th;
	int rc;

	rc = chap_start(s);
	if (rc != 0) {
		ini_fail(s, rc, "login: bad CHAP credentials in the URL");
		idm_conn_close(s->c);
		return;
	}
	s->phase = INI_LOGIN;
	s->xpt_was_up = true;
	ini_local_params(s);
	ini_make_isid(s->isid);
	s->tsih = 0;
	ini_sn_init(&s->sn, 1);
	s->op_itt = ini_itt_next(&s->itt_counter, true);
	idm_nego_init(&s->nego, IDM_ROLE_INITIATOR, true, &s->local, &s->c->params);
	/* the transport sees every key first (iSER owns its keys) */
	if (idm_conn_key_hook(s->c, &th)) {
		idm_nego_add_hook(&s->nego, &th);
	}
	if (s->has_auth_hook) {
		idm_nego_add_hook(&s->nego, &s->auth_hook);
	}
	if (s->chap) {
		struct idm_nego_hook ch;

		idm_chap_hook(s->chap, &ch);
		idm_nego_add_hook(&s->nego, &ch);
	}
	idm_textbuf_reset(&s->text);
	s->csg = ISCSI_SECURITY_NEGOTIATION;
	rc = idm_nego_offer(&s->nego, IDM_NEGO_SECURITY, &s->text);
	idm_conn_event(s->c, IDM_CE_LOGIN_RX);
	/* with an authentication module, it decides when to leave the stage */
	if (rc == 0) {
		rc = login_send(s, security_done(s), ISCSI_OP_PARMS_NEGOTIATION);
	}
	if (rc != 0) {
		ini_fail(s, rc, "login: cannot build the first request (%d)", rc);
		idm_conn_close(s->c);
	}
}

/* ---- receiving: login ---- */

static const char *login_status_text(uint16_t st)
{
	switch (st) {
	case ISCSI_LOGIN_TARGET_MOVED_TEMP:
	case ISCSI_LOGIN_TARGET_MOVED_PERM:
		return "target moved (redirection is not followed)";
	case ISCSI_LOGIN_AUTH_FAILED:
		return "authentication failed";
	case ISCSI_LOGIN_AUTHORIZATION_FAILED:
		return "initiator not authorized";
	case ISCSI_LOGIN_TARGET_NOT_FOUND:
		return "target not found";
	case ISCSI_LOGIN_TARGET_REMOVED:
		return "target removed";
	case ISCSI_LOGIN_MISSING_PARAMETER:
		return "missing parameter";
	case ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED:
		return "session type not supported";
	case ISCSI_LOGIN_SERVICE_UNAVAILABLE:
		return "service unavailable";
	case ISCSI_LOGIN_OUT_OF_RESOURCES:
		return "target out of resources";
	default:
		return st >= 0x0300 ? "target error" : "initiator error";
	}
}

static enum idm_nego_stage nego_stage(uint8_t csg)
{
	return csg == ISCSI_SECURITY_NEGOTIATION ? IDM_NEGO_SECURITY : IDM_NEGO_OPERATIONAL;
}

/* Append a (possibly continued) text segment; -E2BIG past INI_MAX_TEXT. */
static int text_append(struct idm_ini *s, const uint8_t *data, uint32_t len)
{
	if (s->rx_text_len + len > INI_MAX_TEXT) {
		return -E2BIG;
	}
	if (s->rx_text_len + len > s->rx_text_cap) {
		size_t cap = s->rx_text_len + len + 1024;
		char *nb = realloc(s->rx_text, cap);

		if (nb == NULL) {
			return -ENOMEM;
		}
		s->rx_text = nb;
		s->rx_text_cap = cap;
	}
	if (len) {
		memcpy(s->rx_text + s->rx_text_len, data, len);
	}
	s->rx_text_len += len;
	return 0;
}

static void login_done(struct idm_ini *s)
{
	s->phase = INI_FFP;
	idm_conn_event(s->c, IDM_CE_LOGIN_OK);
	ini_op_finish(s, s->c && s->c->state == IDM_CONN_LOGGED_IN ? 0 : -EPROTO);
}

/* Login Response keys are in s->rx_text: process, then answer or move on. */
static int login_step(struct idm_ini *s, const uint8_t *bhs)
{
	bool transit = bhs[BHS_FLAGS] & LOGIN_FLAG_TRANSIT;
	uint8_t nsg = bhs[BHS_FLAGS] & LOGIN_NSG_MASK;
	int rc;

	idm_textbuf_reset(&s->text);
	rc = idm_nego_process(&s->nego, nego_stage(s->csg), s->rx_text, s->rx_text_len, &s->text);
	s->rx_text_len = 0;
	if (rc != 0) {
		ini_fail(s, rc, "login: negotiation failed: %s", s->nego.error);
		return rc;
	}
	if (s->chap && s->csg == ISCSI_SECURITY_NEGOTIATION) {
		rc = idm_chap_initiator_step(s->chap, &s->nego, &s->text);
		if (rc == 0 && transit && !idm_auth_may_transit(s->chap, &s->nego)) {
			rc = -EACCES; /* leaving the stage before CHAP (or mutual) is done */
		}
		if (rc != 0) {
			ini_fail(s, rc, "%s",
			         s->chap->error[0] ? s->chap->error
			                           : "CHAP: the target left too early");
			return rc;
		}
	}
	if (transit && nsg == ISCSI_FULL_FEATURE_PHASE) {
		login_done(s);
		return 0;
	}
	if (transit) {
		s->csg = nsg;
	}
	if (s->csg == ISCSI_OP_PARMS_NEGOTIATION) {
		rc = idm_nego_offer(&s->nego, IDM_NEGO_OPERATIONAL, &s->text);
	}
	if (rc == 0) {
		rc = login_send(s, s->csg == ISCSI_OP_PARMS_NEGOTIATION || security_done(s),
		                s->csg == ISCSI_OP_PARMS_NEGOTIATION ? ISCSI_FULL_FEATURE_PHASE
		                                                     : ISCSI_OP_PARMS_NEGOTIATION);
	}
	return rc;
}

/* An empty request asks the target for the rest of a C-bit response. */
static int login_continue(struct idm_ini *s)
{
	idm_textbuf_reset(&s->text);
	return login_send(s, false, 0);
}

static void rx_login_rsp(struct idm_ini *s, struct idm_pdu *pdu)
{
	const uint8_t *bhs = pdu->bhs;
	uint16_t st = get_be16(bhs + LOGIN_STATUS_CLASS);
	int rc;

	if (s->phase != INI_LOGIN || idm_pdu_itt(pdu) != s->op_itt) {
		ini_fail(s, -EPROTO, "login: unexpected Login Response");
		idm_conn_event(s->c, IDM_CE_PROTOCOL_ERROR);
		return;
	}
	if (st != ISCSI_LOGIN_OK) {
		ini_fail(s, -EACCES, "login refused: %s (status %#06x)", login_status_text(st), st);
		idm_conn_event(s->c, IDM_CE_LOGIN_FAIL);
		return;
	}
	s->tsih = get_be16(bhs + LOGIN_TSIH);
	rc = text_append(s, pdu->data, pdu->data_len);
	if (rc == 0 && (bhs[BHS_FLAGS] & LOGIN_FLAG_CONTINUE)) {
		rc = login_continue(s); /* more keys follow */
	} else if (rc == 0) {
		rc = login_step(s, bhs);
	}
	if (rc != 0) {
		if (s->err[0] == '\0') {
			ini_fail(s, rc, "login failed (%d)", rc);
		}
		idm_conn_event(s->c, IDM_CE_LOGIN_FAIL);
	}
}

/* ---- receiving: text, logout, NOP, reject, async ---- */

static int text_send(struct idm_ini *s, uint32_t ttt, const char *text, uint32_t len)
{
	struct idm_pdu *pdu = ini_pdu(s, ISCSI_OP_TEXT_REQ, true, text, len);

	if (pdu == NULL) {
		return -ENOMEM;
	}
	pdu->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(pdu->bhs + BHS_ITT, s->op_itt);
	put_be32(pdu->bhs + TEXT_TTT, ttt);
	put_be32(pdu->bhs + TEXT_CMDSN, s->sn.cmd_sn);
	idm_pdu_tx(s->c, pdu);
	return 0;
}

static void rx_text_rsp(struct idm_ini *s, struct idm_pdu *pdu)
{
	int rc;

	if (idm_pdu_itt(pdu) != s->op_itt || s->targets == NULL) {
		IDM_LOG_CONN(s->c, "unexpected Text Response ignored");
		return;
	}
	rc = text_append(s, pdu->data, pdu->data_len);
	if (rc == 0 && (pdu->bhs[BHS_FLAGS] & TEXT_FLAG_CONTINUE)) {
		rc = text_send(s, get_be32(pdu->bhs + TEXT_TTT), NULL, 0);
		if (rc == 0) {
			return;
		}
	}
	if (rc == 0) {
		rc = idm_ini_sendtargets_parse(s->rx_text, s->rx_text_len, s->targets);
		if (rc != 0) {
			ini_fail(s, rc, "discovery: malformed SendTargets response");
		}
	} else {
		ini_fail(s, rc, "discovery: response too large or out of memory");
	}
	s->rx_text_len = 0;
	s->targets = NULL;
	ini_op_finish(s, rc);
}

static void rx_logout_rsp(struct idm_ini *s, struct idm_pdu *pdu)
{
	uint8_t resp = pdu->bhs[LOGOUT_RSP_RESPONSE];

	if (resp != ISCSI_LOGOUT_RSP_OK) {
		ini_fail(s, -EIO, "logout refused (response %u)", resp);
	}
	s->phase = INI_CLOSED;
	ini_op_finish(s, resp == ISCSI_LOGOUT_RSP_OK ? 0 : -EIO);
	if (s->c) {
		idm_conn_event(s->c, IDM_CE_LOGOUT_DONE);
	}
}

/* A NOP-In with a TTT is a ping from the target: answer it. */
static void rx_nop_in(struct idm_ini *s, struct idm_pdu *pdu)
{
	uint32_t ttt = get_be32(pdu->bhs + NOP_TTT);
	uint32_t len = pdu->data_len;
	struct idm_pdu *out;

	if (ttt == IDM_RESERVED_TAG) {
		return; /* the answer to a ping of ours, or a StatSN update */
	}
	if (len > s->c->params.max_xmit_dsl) {
		len = s->c->params.max_xmit_dsl;
	}
	out = ini_pdu(s, ISCSI_OP_NOP_OUT, true, pdu->data, len);
	if (out == NULL) {
		return;
	}
	out->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	memcpy(out->bhs + BHS_LUN, pdu->bhs + BHS_LUN, 8);
	put_be32(out->bhs + BHS_ITT, IDM_RESERVED_TAG);
	put_be32(out->bhs + NOP_TTT, ttt);
	put_be32(out->bhs + NOP_CMDSN, s->sn.cmd_sn);
	idm_pdu_tx(s->c, out);
}

static void rx_reject(struct idm_ini *s, struct idm_pdu *pdu)
{
	uint32_t itt = pdu->data_len >= IDM_BHS_LEN ? get_be32(pdu->data + BHS_ITT) : 0;

	IDM_LOG_CONN(s->c, "target rejected a PDU (reason %#x)", pdu->bhs[REJECT_REASON]);
	if (s->op_cb && itt == s->op_itt) {
		ini_fail(s, -EPROTO, "target rejected the request (reason %#x)",
		         pdu->bhs[REJECT_REASON]);
		ini_op_finish(s, -EPROTO);
	}
}

static void rx_async(struct idm_ini *s, struct idm_pdu *pdu)
{
	uint8_t ev = pdu->bhs[ASYNC_EVENT];

	IDM_LOG_CONN(s->c, "asynchronous message, event %u", ev);
	if (ev == ISCSI_ASYNC_LOGOUT_REQUEST && s->phase == INI_FFP && s->op_cb == NULL) {
		/* the target wants the session gone: comply (RFC 7143 11.9.1) */
		ini_fail(s, -ECONNRESET, "the target asked for a logout");
		idm_ini_logout_async(s, NULL, NULL);
		return;
	}
	if (ev == ISCSI_ASYNC_CONN_DROP || ev == ISCSI_ASYNC_SESSION_DROP) {
		ini_fail(s, -ECONNRESET, "target dropped the connection (async event %u)", ev);
	}
}

/* Sequence numbers every target PDU carries. */
static void rx_sequence(struct idm_ini *s, struct idm_pdu *pdu)
{
	if (idm_bhs_advances_statsn(pdu->bhs)) {
		ini_sn_stat(&s->sn, get_be32(pdu->bhs + BHS_CMDSN));
		s->c->exp_stat_sn = s->sn.exp_stat_sn;
	}
	if (idm_pdu_opcode(pdu) != ISCSI_OP_LOGIN_RSP ||
	    get_be16(pdu->bhs + LOGIN_STATUS_CLASS) == 0) {
		ini_sn_window(&s->sn, get_be32(pdu->bhs + BHS_EXPSTATSN),
		              get_be32(pdu->bhs + BHS_MAXCMDSN));
	}
}

static void ini_rx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	struct idm_ini *s = c->client_priv;

	rx_sequence(s, pdu);
	switch (idm_pdu_opcode(pdu)) {
	case ISCSI_OP_LOGIN_RSP:
		rx_login_rsp(s, pdu);
		break;
	case ISCSI_OP_TEXT_RSP:
		rx_text_rsp(s, pdu);
		break;
	case ISCSI_OP_LOGOUT_RSP:
		rx_logout_rsp(s, pdu);
		break;
	case ISCSI_OP_NOP_IN:
		rx_nop_in(s, pdu);
		break;
	case ISCSI_OP_SCSI_RSP:
		ini_rx_scsi_rsp(s, pdu);
		break;
	case ISCSI_OP_SCSI_DATA_IN:
		ini_rx_data_in(s, pdu);
		break;
	case ISCSI_OP_R2T:
		ini_rx_r2t(s, pdu);
		break;
	case ISCSI_OP_TMF_RSP:
		ini_rx_tmf_rsp(s, pdu);
		break;
	case ISCSI_OP_REJECT:
		rx_reject(s, pdu);
		break;
	case ISCSI_OP_ASYNC_MSG:
		rx_async(s, pdu);
		break;
	default:
		break;
	}
	if (s->c && s->phase == INI_FFP) {
		ini_scsi_pump(s);
	}
}

static void ini_state_change(struct idm_conn *c, enum idm_conn_state from, enum idm_conn_state to)
{
	struct idm_ini *s = c->client_priv;

	if (to == IDM_CONN_XPT_UP && from == IDM_CONN_XPT_WAIT) {
		login_start(s);
	} else if (to == IDM_CONN_CLEANUP) {
		if (from == IDM_CONN_XPT_WAIT && s->err[0] == '\0') {
			ini_fail(s, -ECONNREFUSED, "cannot connect to %s port %u", s->url.host,
			         s->url.port);
		}
		if (s->phase == INI_FFP || s->phase == INI_LOGOUT) {
			ini_fail(s, -ECONNRESET, "connection to %s lost", c->peer_name);
		} else if (s->err[0] == '\0' && s->phase != INI_CLOSED) {
			ini_fail(s, -ECONNRESET, "connection to %s closed", c->peer_name);
		}
		s->phase = INI_CLOSED;
		ini_fail_waiting(s, -ECONNRESET);
		if (s->op_cb) {
			ini_op_finish(s, -ECONNRESET);
		}
	}
}

static void ini_conn_free(struct idm_conn *c)
{
	struct idm_ini *s = c->client_priv;

	s->stats = c->stats;
	s->local = c->params;
	s->c = NULL;
	s->phase = INI_CLOSED;
}

static const struct idm_client_ops ini_client_ops = {
    .rx_pdu = ini_rx_pdu,
    .state_change = ini_state_change,
    .conn_free = ini_conn_free,
    .task_abort = ini_task_abort,
};

/* ---- transports ---- */

static enum idm_transport_choice ini_choice(const struct idm_ini *s)
{
	if (s->url.iser) {
		return IDM_TRANSPORT_ISER; /* iser:// */
	}
	switch (s->tp_choice) {
	case IDM_INI_TP_ISER:
		return IDM_TRANSPORT_ISER;
	case IDM_INI_TP_AUTO:
		return IDM_TRANSPORT_AUTO;
	default:
		return IDM_TRANSPORT_TCP;
	}
}

bool ini_fall_back_from_rdma(struct idm_ini *s)
{
	return idm_ini_conn_fall_back(&s->xport, s->xpt_was_up, s->err);
}

/* ---- asynchronous entry points ---- */

int ini_connect(struct idm_ini *s, const struct sockaddr *peer, socklen_t len, idm_ini_cb cb,
                void *arg)
{
	enum ini_phase was;
	char why[sizeof(s->err)];
	int rc;

	if (s->c) {
		ini_fail(s, -EISCONN, "already connected");
		return -EISCONN;
	}
	s->err[0] = '\0';
	s->xpt_was_up = false;
	s->xport.choice = ini_choice(s);
	memset(&s->stats, 0, sizeof(s->stats));
	s->abort_flush.fn = NULL;
	was = s->phase;
	s->op_cb = cb;
	s->op_arg = arg;
	s->phase = INI_CONNECTING;
	/* s->c is set before the connect starts: callbacks may run inside */
	rc = idm_ini_conn_create(&s->xport,
	                         &(struct idm_ini_conn_req){
	                             .reactor = s->r,
	                             .peer = peer,
	                             .peer_len = len,
	                             .client = &ini_client_ops,
	                             .client_priv = s,
	                             .max_tasks = s->qd + 8,
	                         },
	                         &s->c, why, sizeof(why));
	if (rc != 0) {
		s->op_cb = NULL;
		s->op_arg = NULL;
		s->phase = was;
		ini_fail(s, rc, "%s", why);
		return rc;
	}
	return 0;
}

int idm_ini_logout_async(struct idm_ini *s, idm_ini_cb cb, void *arg)
{
	struct idm_pdu *pdu;

	if (s->c == NULL || s->phase != INI_FFP || s->op_cb) {
		ini_fail(s, -ENOTCONN, "logout: not logged in");
		return -ENOTCONN;
	}
	pdu = ini_pdu(s, ISCSI_OP_LOGOUT_REQ, true, NULL, 0);
	if (pdu == NULL) {
		return -ENOMEM;
	}
	s->op_itt = ini_itt_next(&s->itt_counter, true);
	s->op_cb = cb;
	s->op_arg = arg;
	s->phase = INI_LOGOUT;
	pdu->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL | ISCSI_LOGOUT_CLOSE_SESSION;
	put_be32(pdu->bhs + BHS_ITT, s->op_itt);
	put_be16(pdu->bhs + LOGOUT_CID, 0);
	put_be32(pdu->bhs + LOGOUT_CMDSN, s->sn.cmd_sn);
	idm_conn_event(s->c, IDM_CE_LOGOUT_RX);
	idm_pdu_tx(s->c, pdu);
	return 0;
}

int idm_ini_discover_async(struct idm_ini *s, struct idm_ini_targets *out, idm_ini_cb cb, void *arg)
{
	static const char req[] = "SendTargets=All";
	int rc;

	if (s->c == NULL || s->phase != INI_FFP || s->op_cb) {
		ini_fail(s, -ENOTCONN, "discovery: not logged in");
		return -ENOTCONN;
	}
	memset(out, 0, sizeof(*out));
	s->targets = out;
	s->rx_text_len = 0;
	s->op_itt = ini_itt_next(&s->itt_counter, true);
	s->op_cb = cb;
	s->op_arg = arg;
	rc = text_send(s, IDM_RESERVED_TAG, req, sizeof(req));
	if (rc != 0) {
		s->op_cb = NULL;
		s->targets = NULL;
	}
	return rc;
}

void *idm_ini_buf_alloc(struct idm_ini *s, size_t len)
{
	void *buf = NULL;

	if (len == 0) {
		return NULL;
	}
	if (s->c) {
		buf = idm_conn_buf_alloc(s->c, len);
	}
	/* TCP, or no registration possible: plain memory */
	return buf ? buf : aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
}

void idm_ini_buf_free(struct idm_ini *s, void *buf, size_t len)
{
	if (buf == NULL) {
		return;
	}
	if (s->c && idm_conn_buf_free(s->c, buf, len)) {
		return;
	}
	free(buf); /* the transport already dropped its registrations */
}

uint32_t idm_ini_inflight(const struct idm_ini *s)
{
	return s->inflight;
}

int idm_ini_service(struct idm_ini *s, int timeout_ms)
{
	int rc = idm_reactor_poll(s->r, timeout_ms);

	if (rc < 0) {
		return rc;
	}
	return s->c ? 0 : -ENOTCONN;
}
