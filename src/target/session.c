/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sessions: the CmdSN window, the ISID/TSIH rules of a leading login
 * (RFC 7143 sections 4.2.2.1, 5.3.1 and 6.3.5) and the session table.
 * Everything here is pure or works on a list the caller has locked, so it
 * is unit tested without a network.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "target/target_int.h"

void tgt_window_init(struct tgt_window *w, uint32_t cmd_sn, uint32_t depth)
{
	if (depth == 0) {
		depth = 1;
	}
	w->exp_cmd_sn = cmd_sn;
	w->max_cmd_sn = cmd_sn + depth - 1;
}

bool tgt_window_in(const struct tgt_window *w, uint32_t cmd_sn)
{
	return !sna_lt(cmd_sn, w->exp_cmd_sn) && !sna_gt(cmd_sn, w->max_cmd_sn);
}

int tgt_window_accept(struct tgt_window *w, uint32_t cmd_sn, bool immediate)
{
	if (immediate) {
		return 0;
	}
	if (!tgt_window_in(w, cmd_sn)) {
		return -ERANGE;
	}
	/* One connection delivers in order; a CmdSN past ExpCmdSN (a gap the
	 * initiator left) is accepted and the window closes behind it. */
	w->exp_cmd_sn = cmd_sn + 1;
	return 0;
}

void tgt_window_credit(struct tgt_window *w)
{
	w->max_cmd_sn++;
}

static bool same_nexus(const struct tgt_session *s, const struct tgt_sess_key *key)
{
	return memcmp(s->isid, key->isid, sizeof(s->isid)) == 0 &&
	       strcmp(s->initiator_name, key->initiator_name) == 0 && s->target == key->target;
}

enum tgt_sess_action tgt_session_decide(const struct tgt_sess_key *key,
					const struct tgt_session *same_isid,
					const struct tgt_session *by_tsih, uint16_t *status)
{
	if (key->tsih == 0) {
		return same_isid ? TGT_SESS_REINSTATE : TGT_SESS_NEW;
	}
	/* A non-zero TSIH adds a connection to an existing session. */
	if (!by_tsih || !same_nexus(by_tsih, key)) {
		*status = ISCSI_LOGIN_SESSION_DOES_NOT_EXIST;
		return TGT_SESS_REFUSE;
	}
	/* MaxConnections is 1: the session already has its connection. */
	*status = ISCSI_LOGIN_TOO_MANY_CONNECTIONS;
	return TGT_SESS_REFUSE;
}

struct tgt_session *tgt_sessions_find_isid(struct tgt_session *head,
					   const struct tgt_sess_key *key)
{
	for (struct tgt_session *s = head; s; s = s->next) {
		if (same_nexus(s, key)) {
			return s;
		}
	}
	return NULL;
}

struct tgt_session *tgt_sessions_find_tsih(struct tgt_session *head, uint16_t tsih)
{
	for (struct tgt_session *s = head; s; s = s->next) {
		if (s->tsih == tsih) {
			return s;
		}
	}
	return NULL;
}

uint16_t tgt_tsih_pick(uint16_t *next, unsigned tries, bool (*taken)(void *arg, uint16_t tsih),
                       void *arg)
{
	while (tries > 0) {
		uint16_t tsih = (*next)++;

		if (tsih == 0) {
			continue; /* reserved: "a new session" */
		}
		tries--;
		if (!taken(arg, tsih)) {
			return tsih;
		}
	}
	return 0;
}

static bool tsih_in_table(void *arg, uint16_t tsih)
{
	return tgt_sessions_find_tsih(arg, tsih) != NULL;
}

uint16_t tgt_tsih_alloc(struct tgt_session *head, uint16_t *next)
{
	unsigned n = 0;

	for (const struct tgt_session *s = head; s; s = s->next) {
		n++;
	}
	/* Among n + 1 distinct non-zero values one is free, unless all
	 * 65535 are taken: the search ends either way. */
	return n >= 0xffff ? 0 : tgt_tsih_pick(next, n + 1, tsih_in_table, head);
}

void tgt_sessions_unlink(struct tgt_session **head, struct tgt_session *s)
{
	for (struct tgt_session **pp = head; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			s->next = NULL;
			s->in_table = false;
			return;
		}
	}
}

struct tgt_target *tgt_target_find(struct idm_server *srv, const char *iqn)
{
	/* Acquire: a target created live is whole once counted (live.c). */
	unsigned n = __atomic_load_n(&srv->ntargets, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++) {
		/* iSCSI names are case-insensitive (RFC 3722 stringprep
		 * folds them to lower case). */
		if (!__atomic_load_n(&srv->targets[i].deleted, __ATOMIC_ACQUIRE) &&
		    strcasecmp(srv->targets[i].iqn, iqn) == 0) {
			return &srv->targets[i];
		}
	}
	return NULL;
}

void tgt_session_get(struct tgt_session *s)
{
	pthread_mutex_lock(&s->srv->lock);
	s->refcnt++;
	pthread_mutex_unlock(&s->srv->lock);
}

/* The I_T nexus ends with its session: its SPC-2 reservations go. */
static void session_nexus_gone(struct tgt_session *s)
{
	if (!s->target || !s->nexus.initiator_port[0]) {
		return;
	}
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		if (s->target->luns.lu[l]) {
			scsi_lu_nexus_gone(s->target->luns.lu[l], &s->nexus);
		}
	}
}

void tgt_session_put(struct tgt_session *s)
{
	uint32_t left;

	pthread_mutex_lock(&s->srv->lock);
	left = --s->refcnt;
	pthread_mutex_unlock(&s->srv->lock);
	if (left == 0) {
		session_nexus_gone(s);
		s->magic = 0;
		free(s);
	}
}
