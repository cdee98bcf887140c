/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Text Request / Response in the full feature phase (RFC 7143 sections
 * 11.10-11.11): SendTargets (discovery.c builds the answer) and any other
 * key through the key engine. Requests spanning PDUs (C bit) are
 * reassembled; answers longer than the initiator's MaxRecvDataSegmentLength
 * go out in pieces, each asked for by an empty request carrying our TTT.
 * Both directions are bounded by TGT_TEXT_MAX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target_int.h"

struct tgt_text {
	uint32_t itt;
	uint32_t ttt;             /* of the pending answer, or reserved */
	char *rx;                 /* reassembled request */
	uint32_t rx_len;
	char *tx;                 /* answer being sent */
	uint32_t tx_len;
	uint32_t tx_off;
	uint32_t next_ttt;
	/* a request or an answer in pieces holds up to TGT_TEXT_MAX: an
	 * exchange that stops mid-way for text_timeout_s drops the connection */
	struct idm_timer stall_timer;
	struct tgt_conn *tc;
};

void tgt_text_free(struct tgt_conn *tc)
{
	if (tc->text) {
		if (tc->text->stall_timer.fn) {
			idm_timer_cancel(tc->ic->reactor, &tc->text->stall_timer);
		}
		free(tc->text->rx);
		free(tc->text->tx);
		free(tc->text);
		tc->text = NULL;
	}
}

static void text_reset(struct tgt_text *x, uint32_t itt)
{
	free(x->rx);
	free(x->tx);
	x->rx = x->tx = NULL;
	x->rx_len = x->tx_len = x->tx_off = 0;
	x->itt = itt;
	x->ttt = IDM_RESERVED_TAG;
}

/* ---- responses ---- */

static void text_send(struct tgt_conn *tc, const struct idm_pdu *req, uint8_t flags,
		      uint32_t ttt, const char *data, uint32_t len)
{
	struct idm_pdu *pdu = idm_pdu_alloc(tc->ic, len);

	if (!pdu) {
		idm_conn_close(tc->ic);
		return;
	}
	idm_bhs_init(pdu->bhs, ISCSI_OP_TEXT_RSP, false);
	pdu->bhs[BHS_FLAGS] = flags;
	memcpy(pdu->bhs + BHS_LUN, req->bhs + BHS_LUN, 8);
	put_be32(pdu->bhs + BHS_ITT, idm_pdu_itt(req));
	put_be32(pdu->bhs + TEXT_TTT, ttt);
	if (len) {
		memcpy(pdu->data, data, len);
	}
	pdu->data_len = len;
	idm_bhs_set_dlength(pdu->bhs, len);
	idm_pdu_tx(tc->ic, pdu);
}

/* Send the next piece of the pending answer. */
static void text_send_next(struct tgt_conn *tc, const struct idm_pdu *req)
{
	struct tgt_text *x = tc->text;
	uint32_t max = tc->ic->params.max_xmit_dsl;
	uint32_t left = x->tx_len - x->tx_off;
	uint32_t n = left;

	if (max < 512) {
		max = 512;
	}
	if (n > max) {
		n = max;
	}
	if (n < left) {
		x->ttt = ++x->next_ttt & 0x7fffffffu;
		text_send(tc, req, TEXT_FLAG_CONTINUE, x->ttt, x->tx + x->tx_off, n);
		x->tx_off += n;
		return;
	}
	text_send(tc, req, ISCSI_FLAG_FINAL, IDM_RESERVED_TAG, x->tx + x->tx_off, n);
	text_reset(x, IDM_RESERVED_TAG);
}

/* ---- building the answer ---- */

struct text_split {
	bool send_targets;             /* SendTargets was asked */
	char value[IDM_NAME_MAX];      /* its value (copied from the parser) */
	struct idm_textbuf others;     /* every other key, for the engine */
};

static int split_cb(void *arg, const char *key, const char *value)
{
	struct text_split *sp = arg;

	if (strcmp(key, "SendTargets") == 0) {
		sp->send_targets = true;
		if ((size_t)snprintf(sp->value, sizeof(sp->value), "%s", value) >= sizeof(sp->value)) {
			sp->value[0] = '\0'; /* no such name: answers nothing */
			sp->send_targets = false;
		}
		return 0;
	}
	return idm_textbuf_add(&sp->others, key, value);
}

static int answer_send_targets(struct tgt_conn *tc, const char *value, char *out, size_t cap)
{
	struct tgt_session *s = tc->sess;
	char addr[80];
	int n;

	if (tgt_format_addr(&tc->ic->local_addr, addr, sizeof(addr)) < 0) {
		return -EINVAL;
	}
	/* A normal session sees only its own target, which admitted it.
	 * ACLs may change live (live.c): read under srv->lock. */
	pthread_mutex_lock(&tc->srv->lock);
	n = tgt_sendtargets_build_for(tc->srv->targets,
					 __atomic_load_n(&tc->srv->ntargets, __ATOMIC_ACQUIRE),
					 s->type == IDM_SESSION_DISCOVERY ? NULL : s->target,
					 tc->srv->disc.list_all ? NULL : s->initiator_name,
					 tc->ic->transport, value, addr, tc->portal->conf.tpgt, out,
					 cap);
	pthread_mutex_unlock(&tc->srv->lock);
	return n;
}

/* Other keys: the engine answers them (operational keys are Irrelevant
 * or re-declared in the full feature phase). */
static int answer_others(struct tgt_conn *tc, struct idm_textbuf *in, struct idm_textbuf *out)
{
	struct idm_params local = tc->sess->params;
	struct idm_params scratch;
	struct idm_nego n;

	idm_nego_init(&n, IDM_ROLE_TARGET, true, &local, &scratch);
	return idm_nego_respond(&n, IDM_NEGO_FFP, in->buf, in->len, out);
}

static int text_answer(struct tgt_conn *tc, struct tgt_text *x)
{
	struct text_split sp = {0};
	struct idm_textbuf eng;
	int rc, n = 0;

	idm_textbuf_init(&sp.others);
	idm_textbuf_init(&eng);
	x->tx = malloc(TGT_TEXT_MAX);
	rc = x->tx ? idm_kv_parse(x->rx ? x->rx : "", x->rx_len, split_cb, &sp) : -ENOMEM;
	if (rc == 0 && sp.send_targets) {
		n = answer_send_targets(tc, sp.value, x->tx, TGT_TEXT_MAX);
		rc = n < 0 ? n : 0;
	}
	if (rc == 0 && sp.others.len) {
		rc = answer_others(tc, &sp.others, &eng);
		if (rc == 0 && eng.len > TGT_TEXT_MAX - (size_t)n) {
			rc = -ENOSPC;
		} else if (rc == 0 && eng.len) { /* declarations answer nothing: no buffer */
			memcpy(x->tx + n, eng.buf, eng.len);
			n += (int)eng.len;
		}
	}
	x->tx_len = rc == 0 ? (uint32_t)n : 0;
	x->tx_off = 0;
	idm_textbuf_free(&sp.others);
	idm_textbuf_free(&eng);
	return rc;
}

/* ---- requests ---- */

static int text_append(struct tgt_text *x, const struct idm_pdu *pdu)
{
	char *nb;

	if (pdu->data_len == 0) {
		return 0;
	}
	if (pdu->data_len > TGT_TEXT_MAX - x->rx_len) {
		return -E2BIG;
	}
	nb = realloc(x->rx, x->rx_len + pdu->data_len);
	if (!nb) {
		return -ENOMEM;
	}
	memcpy(nb + x->rx_len, pdu->data, pdu->data_len);
	x->rx = nb;
	x->rx_len += pdu->data_len;
	return 0;
}

static struct tgt_text *text_state(struct tgt_conn *tc)
{
	if (!tc->text) {
		tc->text = calloc(1, sizeof(*tc->text));
		if (tc->text) {
			tc->text->tc = tc;
			text_reset(tc->text, IDM_RESERVED_TAG);
		}
	}
	return tc->text;
}

static void text_stalled(struct idm_timer *t)
{
	struct tgt_text *x =
	    (struct tgt_text *)((char *)t - offsetof(struct tgt_text, stall_timer));

	IDM_LOG_CONN(x->tc->ic, "text exchange itt 0x%08x stalled for %u s: closing", x->itt,
	             x->tc->srv->tun.text_timeout_s);
	idm_conn_close(x->tc->ic);
}

/* Mid-exchange (more of the request or of our answer to come): the
 * initiator has text_timeout_s for its next piece. */
static void text_watch(struct tgt_conn *tc)
{
	struct tgt_text *x = tc->text;

	if (!x) {
		return;
	}
	if (x->stall_timer.fn) {
		idm_timer_cancel(tc->ic->reactor, &x->stall_timer);
	}
	if (x->rx || x->tx) {
		x->stall_timer.fn = text_stalled;
		idm_timer_arm(tc->ic->reactor, &x->stall_timer,
		              tc->srv->tun.text_timeout_s * 1000ull);
	}
}

static void text_rx(struct tgt_conn *tc, struct idm_pdu *pdu);

void tgt_text_rx(struct tgt_conn *tc, struct idm_pdu *pdu)
{
	text_rx(tc, pdu);
	text_watch(tc);
}

static void text_rx(struct tgt_conn *tc, struct idm_pdu *pdu)
{
	struct tgt_text *x;
	uint32_t ttt = get_be32(pdu->bhs + TEXT_TTT);
	uint32_t itt = idm_pdu_itt(pdu);

	if (tgt_conn_cmdsn(tc, pdu) < 0) {
		return; /* outside the CmdSN window: dropped */
	}
	x = text_state(tc);
	if (!x || itt == IDM_RESERVED_TAG) {
		idm_pdu_reject(tc->ic, pdu->bhs, x ? ISCSI_REJECT_INVALID_PDU_FIELD
						   : ISCSI_REJECT_LONG_OP_REJECT);
		return;
	}
	if (ttt != IDM_RESERVED_TAG) {
		/* Our TTT: the rest of our answer, or more of the request. */
		if (ttt != x->ttt || itt != x->itt) {
			idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_INVALID_PDU_FIELD);
			return;
		}
		if (x->tx) {
			text_send_next(tc, pdu);
			return;
		}
	} else if (itt != x->itt) {
		text_reset(x, itt); /* a new exchange replaces the old one */
	}
	if (text_append(x, pdu) < 0) {
		text_reset(x, IDM_RESERVED_TAG);
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_LONG_OP_REJECT);
		return;
	}
	if (pdu->bhs[BHS_FLAGS] & TEXT_FLAG_CONTINUE) {
		x->ttt = ++x->next_ttt & 0x7fffffffu;
		text_send(tc, pdu, 0, x->ttt, NULL, 0);
		return;
	}
	if (text_answer(tc, x) < 0) {
		text_reset(x, IDM_RESERVED_TAG);
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return;
	}
	free(x->rx);
	x->rx = NULL;
	x->rx_len = 0;
	text_send_next(tc, pdu);
}
