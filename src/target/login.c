/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Target login (RFC 7143 sections 6 and 11.12-11.13): Login Requests
 * through the security and operational stages to the full feature phase.
 *
 * One struct tgt_login lives for the login's duration. Each request's
 * data is reassembled across C-bit continuations (bounded), its header
 * checked (login_check.c), its keys answered by the key engine; the
 * first complete request names the initiator, the session type and the
 * target, and says (with ISID/TSIH) whether this is a new session or a
 * reinstatement (session.c), and whether the target's ACL admits the
 * initiator. When the target (or discovery) has a CHAP account, the
 * security stage must run CHAP (auth.h) before the login may go on.
 * The session joins the table only with the final response, so a failed
 * login leaves nothing behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/auth.h"
#include "target/target_int.h"

struct tgt_login {
	int stage;                  /* CSG the next request must carry */
	bool started;               /* the first complete request was seen */
	bool failed;                /* refused: ignore anything more */
	uint32_t itt;
	uint8_t isid[6];
	uint16_t tsih;              /* as the initiator sent it */
	uint16_t cid;
	struct tgt_window win;      /* the session's window to be */
	enum idm_session_type type;
	struct tgt_target *target;
	char initiator_name[IDM_NAME_MAX];
	char *rx;                   /* reassembled request data */
	uint32_t rx_len;
	struct idm_params local;
	struct idm_params result;
	struct idm_nego nego;
	struct idm_textbuf resp;
	struct idm_chap *chap;      /* CHAP required: its exchange, else NULL */
};

/* Names from the first request, read before the engine sees the keys
 * (copied: the parser's strings live only during its callback). */
struct login_names {
	char initiator[IDM_NAME_MAX];
	char target[IDM_NAME_MAX];
	char session_type[16];
	bool has_initiator, has_target, has_type, too_long;
};

void tgt_login_free(struct tgt_conn *tc)
{
	struct tgt_login *l = tc->login;

	if (!l) {
		return;
	}
	if (tc->ic->exp_cmd_sn == &l->win.exp_cmd_sn) {
		tc->ic->exp_cmd_sn = NULL;
		tc->ic->max_cmd_sn = NULL;
	}
	idm_textbuf_free(&l->resp);
	if (l->chap) {
		idm_chap_clear(l->chap);
		free(l->chap);
	}
	free(l->rx);
	free(l);
	tc->login = NULL;
}

/* ---- responses ---- */

static struct idm_pdu *login_rsp_alloc(struct tgt_conn *tc, uint32_t len)
{
	struct tgt_login *l = tc->login;
	struct idm_pdu *pdu = idm_pdu_alloc(tc->ic, len);

	if (!pdu) {
		return NULL;
	}
	idm_bhs_init(pdu->bhs, ISCSI_OP_LOGIN_RSP, false);
	memcpy(pdu->bhs + LOGIN_ISID, l->isid, sizeof(l->isid));
	put_be32(pdu->bhs + BHS_ITT, l->itt);
	put_be32(pdu->bhs + LOGIN_CMDSN, tc->ic->stat_sn);
	put_be32(pdu->bhs + LOGIN_EXPSTATSN, l->win.exp_cmd_sn);
	put_be32(pdu->bhs + LOGIN_MAXCMDSN, l->win.max_cmd_sn);
	pdu->data_len = 0;
	return pdu;
}

static void login_failed_sent(struct idm_pdu *pdu, int status)
{
	struct idm_conn *c = pdu->conn;

	idm_conn_hold(c);
	idm_conn_event(c, IDM_CE_LOGIN_FAIL);
	idm_conn_close(c);
	idm_conn_release(c);
}

/* Refuse the login: one response with the status, then close. */
static void login_fail(struct tgt_conn *tc, uint16_t status, const char *why)
{
	struct idm_pdu *pdu = login_rsp_alloc(tc, 0);

	if (status == ISCSI_LOGIN_OUT_OF_RESOURCES) {
		/* a limit: one line a second for the whole server, however
		 * many connections ask (limits.c) */
		tgt_limit_log(tc->srv, why, "%s: login refused (0x%04x): %s", tc->ic->peer_name,
		              status, why);
	} else {
		IDM_LOG_CONN(tc->ic, "login refused (0x%04x): %s", status, why);
	}
	tc->login->failed = true;
	if (!pdu) {
		idm_conn_close(tc->ic);
		return;
	}
	pdu->bhs[BHS_FLAGS] = (uint8_t)(tc->login->stage << LOGIN_CSG_SHIFT);
	pdu->bhs[LOGIN_STATUS_CLASS] = (uint8_t)(status >> 8);
	pdu->bhs[LOGIN_STATUS_DETAIL] = (uint8_t)status;
	pdu->done = login_failed_sent;
	idm_pdu_tx(tc->ic, pdu);
}

static void login_send(struct tgt_conn *tc, uint8_t flags, uint16_t tsih, idm_pdu_done_fn done)
{
	struct tgt_login *l = tc->login;
	struct idm_pdu *pdu = login_rsp_alloc(tc, (uint32_t)l->resp.len);

	if (!pdu) {
		idm_conn_close(tc->ic);
		return;
	}
	pdu->bhs[BHS_FLAGS] = flags;
	put_be16(pdu->bhs + LOGIN_TSIH, tsih);
	if (l->resp.len) {
		memcpy(pdu->data, l->resp.buf, l->resp.len);
	}
	pdu->data_len = (uint32_t)l->resp.len;
	idm_bhs_set_dlength(pdu->bhs, pdu->data_len);
	pdu->done = done;
	idm_textbuf_reset(&l->resp);
	idm_pdu_tx(tc->ic, pdu);
}

/* ---- negotiation hooks ---- */

/* ---- authentication ---- */

/* The CHAP account a login must prove, if any (target or discovery). */
static const struct idm_chap_account *login_account(const struct tgt_conn *tc,
						     const struct tgt_login *l)
{
	if (l->type == IDM_SESSION_DISCOVERY) {
		return tc->srv->disc.has_chap ? &tc->srv->disc.chap : NULL;
	}
	return l->target ? tgt_acl_account(l->target, l->initiator_name) : NULL;
}

/* Whether the login must authenticate. A target's account and ACL may
 * change while idmd runs (live.c): they are read under srv->lock. */
static bool login_has_account(const struct tgt_conn *tc, const struct tgt_login *l)
{
	bool has;

	pthread_mutex_lock(&tc->srv->lock);
	has = login_account(tc, l) != NULL;
	pthread_mutex_unlock(&tc->srv->lock);
	return has;
}

static bool login_acl_admits(const struct tgt_conn *tc, const struct tgt_login *l)
{
	bool ok;

	pthread_mutex_lock(&tc->srv->lock);
	ok = tgt_acl_admits(l->target, l->initiator_name);
	pthread_mutex_unlock(&tc->srv->lock);
	return ok;
}

/* idm_chap lookup callback: the account of the login on this connection. */
static int chap_lookup(void *arg, const struct idm_params *who, struct idm_chap_account *out)
{
	struct tgt_conn *tc = arg;
	const struct idm_chap_account *a;
	int rc = -ENOENT;

	pthread_mutex_lock(&tc->srv->lock);
	a = tc->login ? login_account(tc, tc->login) : NULL;
	if (a) {
		*out = *a;
		rc = 0;
	}
	pthread_mutex_unlock(&tc->srv->lock);
	return rc;
}

/* Start the CHAP state when the login must authenticate; 0 or -errno. */
static int login_auth_init(struct tgt_conn *tc, struct tgt_login *l)
{
	struct idm_chap_config cfg = {.encoding = IDM_CHAP_HEX, .lookup = chap_lookup,
				      .lookup_arg = tc};
	struct idm_nego_hook hook;
	int rc;

	if (!login_has_account(tc, l)) {
		return 0;
	}
	l->chap = malloc(sizeof(*l->chap));
	if (!l->chap) {
		return -ENOMEM;
	}
	cfg.nalgs = (int)tc->srv->nchap_algs;
	memcpy(cfg.algs, tc->srv->chap_algs, sizeof(cfg.algs));
	rc = idm_chap_init(l->chap, IDM_ROLE_TARGET, &cfg);
	if (rc < 0) {
		return rc;
	}
	idm_chap_hook(l->chap, &hook);
	idm_nego_add_hook(&l->nego, &hook);
	return 0;
}

/* Does the comma list `list` hold `item`? */
static bool list_has(const char *list, const char *item)
{
	size_t len = strlen(item);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");

		if (n == len && strncmp(p, item, n) == 0) {
			return true;
		}
		p += n + (p[n] == ',');
	}
	return false;
}

/* The AuthMethod list of a request, if it has one. */
struct auth_offer {
	char list[128];
	bool present;
};

static int offer_cb(void *arg, const char *key, const char *value)
{
	struct auth_offer *o = arg;

	if (strcmp(key, "AuthMethod") == 0) {
		o->present = true;
		snprintf(o->list, sizeof(o->list), "%s", value);
	}
	return 0;
}

/*
 * An initiator that does not offer the one method we take cannot log in
 * (RFC 7143 section 12: AuthMethod Reject ends the login). Checked
 * before the engine answers; 0 or a login status.
 */
static uint16_t login_auth_offer(const struct tgt_login *l)
{
	struct auth_offer o = {0};

	if (idm_kv_parse(l->rx ? l->rx : "", l->rx_len, offer_cb, &o) < 0) {
		return ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (o.present && !list_has(o.list, l->local.auth_method)) {
		return ISCSI_LOGIN_AUTH_FAILED;
	}
	return ISCSI_LOGIN_OK;
}

/*
 * After the engine answered a security-stage request: run CHAP and decide
 * on the transit the initiator asked for. *transit is cleared while CHAP
 * is still under way (the target answers T=0 and the exchange goes on).
 * 0 or a login status; *why says why in words without secrets.
 */
static uint16_t login_auth_step(struct tgt_login *l, bool *transit, const char **why)
{
	if (l->chap && idm_chap_target_step(l->chap, &l->nego, &l->resp) < 0) {
		*why = l->chap->error;
		return l->nego.status ? l->nego.status : ISCSI_LOGIN_AUTH_FAILED;
	}
	if (!*transit || idm_auth_may_transit(l->chap, &l->nego)) {
		return ISCSI_LOGIN_OK;
	}
	if (l->chap && strcmp(l->result.auth_method, "CHAP") == 0 &&
	    l->chap->state != IDM_CHAP_FAILED) {
		*transit = false;
		return ISCSI_LOGIN_OK;
	}
	*why = "authentication required";
	return ISCSI_LOGIN_AUTH_FAILED;
}

/* What this target wants and supports, from the tunables. */
static void login_local_params(struct tgt_conn *tc, struct tgt_login *l)
{
	const struct idm_target_tunables *tun = &tc->srv->tun;
	struct idm_params *p = &l->local;
	const struct idm_transport_caps *caps = tc->ic->transport->caps;

	idm_params_init(p);
	p->header_digest = caps && caps->digests;
	p->data_digest = caps && caps->digests;
	p->max_recv_dsl = tun->max_recv_dsl;
	p->max_connections = 1;
	p->initial_r2t = tun->initial_r2t;
	p->immediate_data = tun->immediate_data;
	p->max_burst_length = tun->max_burst_length;
	p->first_burst_length = tun->first_burst_length;
	p->max_outstanding_r2t = tun->max_outstanding_r2t;
	p->error_recovery_level = 0;
	if (caps && caps->max_rx_data) {
		/* Every message lands in a pre-posted buffer (iSER): unsolicited
		 * data is immediate data that fits one; the rest is fetched. */
		p->initial_r2t = true;
		p->first_burst_length = idm_min_u32(p->first_burst_length, caps->max_rx_data);
		p->max_recv_dsl = idm_min_u32(p->max_recv_dsl, caps->max_rx_data);
	}
	p->session_type = l->type;
	p->target_portal_group_tag = tc->portal->conf.tpgt;
	/* One method: CHAP when an account is configured (never None then). */
	snprintf(p->auth_method, sizeof(p->auth_method), "%s",
		 login_has_account(tc, l) ? "CHAP" : "None");
	snprintf(p->initiator_name, sizeof(p->initiator_name), "%s", l->initiator_name);
	if (l->target) {
		snprintf(p->target_name, sizeof(p->target_name), "%s", l->target->iqn);
		snprintf(p->target_alias, sizeof(p->target_alias), "%s", l->target->alias);
	}
}

static int login_nego_init(struct tgt_conn *tc, struct tgt_login *l)
{
	login_local_params(tc, l);
	idm_nego_init(&l->nego, IDM_ROLE_TARGET, true, &l->local, &l->result);
	l->nego.iser = tc->ic->transport->caps && tc->ic->transport->caps->rdma;
	struct idm_nego_hook th;

	if (idm_conn_key_hook(tc->ic, &th)) {
		idm_nego_add_hook(&l->nego, &th);
	}
	return login_auth_init(tc, l);
}

/* ---- the first request: who, to whom, which session ---- */

static int names_cb(void *arg, const char *key, const char *value)
{
	struct login_names *n = arg;
	char *dst = NULL;
	size_t cap = 0;

	if (strcmp(key, "InitiatorName") == 0) {
		dst = n->initiator, cap = sizeof(n->initiator), n->has_initiator = true;
	} else if (strcmp(key, "TargetName") == 0) {
		dst = n->target, cap = sizeof(n->target), n->has_target = true;
	} else if (strcmp(key, "SessionType") == 0) {
		dst = n->session_type, cap = sizeof(n->session_type), n->has_type = true;
	}
	if (dst && (size_t)snprintf(dst, cap, "%s", value) >= cap) {
		n->too_long = true;
	}
	return 0;
}

/* Session type, initiator and target; 0 or a login status. */
static uint16_t login_identify(struct tgt_conn *tc, struct tgt_login *l)
{
	struct login_names n = {0};

	if (idm_kv_parse(l->rx ? l->rx : "", l->rx_len, names_cb, &n) < 0 || n.too_long) {
		return ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (!n.has_initiator || !n.initiator[0]) {
		return ISCSI_LOGIN_MISSING_PARAMETER;
	}
	snprintf(l->initiator_name, sizeof(l->initiator_name), "%s", n.initiator);
	l->type = IDM_SESSION_NORMAL;
	if (n.has_type && strcmp(n.session_type, "Discovery") == 0) {
		l->type = IDM_SESSION_DISCOVERY;
		return ISCSI_LOGIN_OK;
	}
	if (n.has_type && strcmp(n.session_type, "Normal") != 0) {
		return ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED;
	}
	if (!n.has_target) {
		return ISCSI_LOGIN_MISSING_PARAMETER;
	}
	l->target = tgt_target_find(tc->srv, n.target);
	return l->target ? ISCSI_LOGIN_OK : ISCSI_LOGIN_TARGET_NOT_FOUND;
}

static struct tgt_sess_key login_key(const struct tgt_login *l)
{
	return (struct tgt_sess_key){.isid = l->isid, .initiator_name = l->initiator_name,
				     .target = l->target, .tsih = l->tsih};
}

/* Apply the ISID/TSIH rules under the table lock; 0 or a status. On
 * success *old is a session to reinstate (with a reference) or NULL. */
static uint16_t login_session_rules(struct tgt_conn *tc, struct tgt_login *l,
				    struct tgt_session **old)
{
	struct idm_server *srv = tc->srv;
	struct tgt_sess_key key = login_key(l);
	uint16_t status = ISCSI_LOGIN_OK;
	enum tgt_sess_action act;

	*old = NULL;
	pthread_mutex_lock(&srv->lock);
	act = tgt_session_decide(&key, tgt_sessions_find_isid(srv->sessions, &key),
				 l->tsih ? tgt_sessions_find_tsih(srv->sessions, l->tsih) : NULL,
				 &status);
	if (act == TGT_SESS_REINSTATE) {
		*old = tgt_sessions_find_isid(srv->sessions, &key);
		(*old)->refcnt++;
	}
	pthread_mutex_unlock(&srv->lock);
	return act == TGT_SESS_REFUSE ? status : ISCSI_LOGIN_OK;
}

/* On the old session's reactor: close its connection (reinstatement). */
static void reinstate_close(void *arg)
{
	struct tgt_session *s = arg;
	struct idm_conn *ic = NULL;

	pthread_mutex_lock(&s->srv->lock);
	if (s->conn) {
		ic = s->conn->ic;
	}
	pthread_mutex_unlock(&s->srv->lock);
	if (ic) {
		idm_log("target", "session tsih %u reinstated: closing its connection", s->tsih);
		idm_conn_close(ic);
	}
	tgt_session_put(s);
}

/* ---- the final response ---- */

/* A new I_T nexus starts with no unit attention pending: it has not missed
 * the resets that happened before it existed. */
static void session_ua_baseline(struct tgt_session *s)
{
	const struct scsi_lu_set *luns;
	unsigned i;

	if (!s->target) {
		return; /* discovery */
	}
	luns = &s->target->luns;
	for (i = 0; i < SCSI_MAX_LUNS; i++) {
		if (luns->lu[i]) {
			s->ua_seen[i] = __atomic_load_n(&luns->lu[i]->ua_generation, __ATOMIC_ACQUIRE);
		}
	}
}

static struct tgt_session *session_new(struct tgt_conn *tc, struct tgt_login *l)
{
	struct tgt_session *s = calloc(1, sizeof(*s));

	if (!s) {
		return NULL;
	}
	s->magic = TGT_SESSION_MAGIC;
	s->refcnt = 1; /* the connection's */
	s->srv = tc->srv;
	s->target = l->target;
	s->type = l->type;
	memcpy(s->isid, l->isid, sizeof(s->isid));
	snprintf(s->initiator_name, sizeof(s->initiator_name), "%s", l->initiator_name);
	s->win = l->win;
	s->params = l->result;
	s->conn = tc;
	s->reactor = tc->ic->reactor;
	session_ua_baseline(s);
	scsi_lun_map_init_all(&s->map);
	if (s->target) {
		pthread_mutex_lock(&tc->srv->lock); /* live ACL changes write it */
		tgt_acl_lun_view(s->target, s->initiator_name, &s->map);
		pthread_mutex_unlock(&tc->srv->lock);
	}
	return s;
}

/* The session limit one more session of this login would pass, or NULL
 * (srv->lock held); `old` is a session it reinstates (not counted). */
static const char *session_limit_hit(const struct idm_server *srv, const struct tgt_login *l,
                                     const struct tgt_session *old)
{
	struct tgt_sess_counts n = {srv->nsessions, srv->nsessions, srv->nsessions};

	/* below every limit in total, no part can be at its own: no walk */
	if (!tgt_sess_limit_hit(&srv->tun, l->type, &n)) {
		return NULL;
	}
	tgt_sess_count(srv->sessions, l->target, l->initiator_name, old, &n);
	return tgt_sess_limit_hit(&srv->tun, l->type, &n);
}

/* Take the session's place in the table under srv->lock: 0 or a status
 * with *why. */
static uint16_t session_admit(struct idm_server *srv, const struct tgt_login *l,
                              struct tgt_session *s, struct tgt_session *old, const char **why)
{
	if (s->target && s->target->deleted) {
		*why = "target deleted"; /* while logging in (live.c) */
		return ISCSI_LOGIN_TARGET_REMOVED;
	}
	*why = session_limit_hit(srv, l, old && old->in_table ? old : NULL);
	if (*why) {
		return ISCSI_LOGIN_OUT_OF_RESOURCES;
	}
	if (old && old->in_table) {
		tgt_sessions_unlink(&srv->sessions, old);
		srv->nsessions--;
	}
	s->tsih = tgt_tsih_alloc(srv->sessions, &srv->next_tsih);
	if (s->tsih == 0) {
		*why = "every TSIH is taken";
		return ISCSI_LOGIN_OUT_OF_RESOURCES;
	}
	return ISCSI_LOGIN_OK;
}

/* Put the new session in the table (taking over a reinstated one). */
static uint16_t session_publish(struct tgt_conn *tc, struct tgt_session *s, const char **why)
{
	struct idm_server *srv = tc->srv;
	struct tgt_login *l = tc->login;
	struct tgt_session *old;
	uint16_t status = login_session_rules(tc, l, &old);

	if (status) {
		*why = "session rules";
		return status;
	}
	pthread_mutex_lock(&srv->lock);
	status = session_admit(srv, l, s, old, why);
	if (status) {
		pthread_mutex_unlock(&srv->lock);
		if (old) {
			tgt_session_put(old);
		}
		return status;
	}
	s->next = srv->sessions;
	srv->sessions = s;
	srv->nsessions++;
	s->in_table = true;
	pthread_mutex_unlock(&srv->lock);
	if (old && idm_reactor_send(old->reactor, reinstate_close, old) < 0) {
		tgt_session_put(old);
	}
	return ISCSI_LOGIN_OK;
}

static void login_final_sent(struct idm_pdu *pdu, int status)
{
	struct idm_conn *c = pdu->conn;
	struct tgt_conn *tc = tgt_conn_of(c);

	if (status < 0 || !tc || !tc->sess) {
		idm_conn_close(c);
		return;
	}
	tgt_login_free(tc);
	/* The core saw the final response queued and moved to LOGGED_IN,
	 * which enables the data mover (its job alone); a repeated notice
	 * is harmless. */
	if (c->state != IDM_CONN_LOGGED_IN) {
		idm_conn_event(c, IDM_CE_LOGIN_OK);
	}
}

static void login_complete(struct tgt_conn *tc, uint8_t flags)
{
	char auth[32] = ""; /* ", CHAP SHA3-256": what the initiator negotiated */
	struct tgt_login *l = tc->login;
	struct tgt_session *s = session_new(tc, l);
	const char *why = NULL;
	uint16_t status;

	if (!s) {
		login_fail(tc, ISCSI_LOGIN_OUT_OF_RESOURCES, "no memory for the session");
		return;
	}
	status = session_publish(tc, s, &why);
	if (status) {
		free(s);
		login_fail(tc, status, why);
		return;
	}
	tc->sess = s;
	__atomic_store_n(&tc->logged_in, true, __ATOMIC_RELAXED);
	/* The negotiated values hold from the PDU after this response; the
	 * data mover reads them when it is enabled, as the response leaves. */
	tc->ic->params = s->params;
	tc->ic->cid = l->cid;
	tc->ic->exp_cmd_sn = &s->win.exp_cmd_sn;
	tc->ic->max_cmd_sn = &s->win.max_cmd_sn;
	if (l->chap && l->chap->state == IDM_CHAP_DONE) {
		snprintf(auth, sizeof(auth), ", CHAP %s", idm_chap_alg_name(l->chap->alg));
	}
	idm_log("target", "%s: %s session tsih %u for %s%s", tc->ic->peer_name,
		s->type == IDM_SESSION_DISCOVERY ? "discovery" : "normal", s->tsih,
		s->initiator_name, auth);
	login_send(tc, flags, s->tsih, login_final_sent);
}

/* ---- requests ---- */

static struct tgt_login *login_start(struct tgt_conn *tc, const struct idm_pdu *pdu)
{
	struct tgt_login *l = calloc(1, sizeof(*l));

	if (!l) {
		return NULL;
	}
	l->stage = (pdu->bhs[BHS_FLAGS] & LOGIN_CSG_MASK) >> LOGIN_CSG_SHIFT;
	l->itt = idm_pdu_itt(pdu);
	memcpy(l->isid, pdu->bhs + LOGIN_ISID, sizeof(l->isid));
	l->tsih = get_be16(pdu->bhs + LOGIN_TSIH);
	l->cid = get_be16(pdu->bhs + LOGIN_CID);
	tgt_window_init(&l->win, get_be32(pdu->bhs + LOGIN_CMDSN), tc->srv->tun.queue_depth);
	idm_textbuf_init(&l->resp);
	tc->login = l;
	/* The first Login PDU ends the short pre-login timeout (conn.c). */
	idm_conn_set_login_timeout(tc->ic, tc->srv->tun.login_timeout_s);
	/* StatSN starts where the initiator expects it. */
	tc->ic->stat_sn = get_be32(pdu->bhs + LOGIN_EXPSTATSN);
	tc->ic->exp_cmd_sn = &l->win.exp_cmd_sn;
	tc->ic->max_cmd_sn = &l->win.max_cmd_sn;
	return l;
}

/* Later requests must carry the first one's ITT, ISID and TSIH. */
static bool login_same_task(const struct tgt_login *l, const struct idm_pdu *pdu)
{
	return idm_pdu_itt(pdu) == l->itt &&
	       memcmp(pdu->bhs + LOGIN_ISID, l->isid, sizeof(l->isid)) == 0 &&
	       get_be16(pdu->bhs + LOGIN_TSIH) == l->tsih;
}

static int login_append(struct tgt_login *l, const struct idm_pdu *pdu)
{
	char *nb;

	if (pdu->data_len == 0) {
		return 0;
	}
	if (pdu->data_len > TGT_TEXT_MAX - l->rx_len) {
		return -E2BIG;
	}
	nb = realloc(l->rx, l->rx_len + pdu->data_len);
	if (!nb) {
		return -ENOMEM;
	}
	memcpy(nb + l->rx_len, pdu->data, pdu->data_len);
	l->rx = nb;
	l->rx_len += pdu->data_len;
	return 0;
}

/* The first complete request: identify, check the ACL and the session
 * rules. *why says why a login is refused. */
static uint16_t login_first(struct tgt_conn *tc, struct tgt_login *l, int csg, const char **why)
{
	struct tgt_session *old;
	uint16_t status = login_identify(tc, l);

	if (status) {
		*why = status == ISCSI_LOGIN_TARGET_NOT_FOUND ? "no such target" : "first request";
		return status;
	}
	if (l->target && !tgt_offered_over(l->target, tc->ic->transport)) {
		*why = "target not offered over this transport";
		return ISCSI_LOGIN_TARGET_NOT_FOUND; /* not found at this address */
	}
	if (l->target && !login_acl_admits(tc, l)) {
		*why = "initiator not in the target's ACL";
		return ISCSI_LOGIN_AUTHORIZATION_FAILED;
	}
	if (csg != ISCSI_SECURITY_NEGOTIATION && login_has_account(tc, l)) {
		*why = "authentication required, security stage skipped";
		return ISCSI_LOGIN_AUTH_FAILED;
	}
	status = login_session_rules(tc, l, &old);
	if (!status) {
		/* refused early, before any negotiation; the final response
		 * checks again (session_admit) */
		pthread_mutex_lock(&tc->srv->lock);
		*why = session_limit_hit(tc->srv, l, old);
		pthread_mutex_unlock(&tc->srv->lock);
		status = *why ? ISCSI_LOGIN_OUT_OF_RESOURCES : ISCSI_LOGIN_OK;
	}
	if (old) {
		tgt_session_put(old); /* only checked here; acted on at the end */
	}
	if (status) {
		return status;
	}
	if (login_nego_init(tc, l) < 0) {
		*why = "cannot set up authentication";
		return ISCSI_LOGIN_OUT_OF_RESOURCES;
	}
	l->started = true;
	return ISCSI_LOGIN_OK;
}

/*
 * Answer the keys of one complete request; in the security stage also
 * the AuthMethod check and the CHAP step, which may withdraw the transit
 * asked for. 0 or a login status with *why.
 */
static uint16_t login_negotiate(struct tgt_login *l, enum idm_nego_stage stage, bool *transit,
				const char **why)
{
	uint16_t status = stage == IDM_NEGO_SECURITY ? login_auth_offer(l) : ISCSI_LOGIN_OK;

	if (status) {
		*why = "AuthMethod offer lacks the method required";
		return status;
	}
	if (idm_nego_respond(&l->nego, stage, l->rx ? l->rx : "", l->rx_len, &l->resp) < 0) {
		*why = l->nego.error;
		return l->nego.status ? l->nego.status : ISCSI_LOGIN_INITIATOR_ERROR;
	}
	free(l->rx);
	l->rx = NULL;
	l->rx_len = 0;
	return stage == IDM_NEGO_SECURITY ? login_auth_step(l, transit, why) : ISCSI_LOGIN_OK;
}

static void login_process(struct tgt_conn *tc, struct tgt_login *l, uint8_t req_flags)
{
	int csg = (req_flags & LOGIN_CSG_MASK) >> LOGIN_CSG_SHIFT;
	int nsg = req_flags & LOGIN_NSG_MASK;
	bool transit = req_flags & LOGIN_FLAG_TRANSIT;
	enum idm_nego_stage stage = csg == 0 ? IDM_NEGO_SECURITY : IDM_NEGO_OPERATIONAL;
	const char *why = "first request";
	uint16_t status = l->started ? ISCSI_LOGIN_OK : login_first(tc, l, csg, &why);
	uint8_t flags;

	if (!status) {
		status = login_negotiate(l, stage, &transit, &why);
	}
	if (status) {
		login_fail(tc, status, why);
		return;
	}
	if (transit && idm_nego_finish_stage(&l->nego, stage, &l->resp) < 0) {
		login_fail(tc, ISCSI_LOGIN_TARGET_ERROR, "cannot finish the stage");
		return;
	}
	if (l->resp.overflow || l->resp.len > TGT_LOGIN_DSL) {
		login_fail(tc, ISCSI_LOGIN_OUT_OF_RESOURCES, "login response too long");
		return;
	}
	flags = (uint8_t)(csg << LOGIN_CSG_SHIFT);
	if (!transit) {
		login_send(tc, flags, 0, NULL);
		return;
	}
	flags |= LOGIN_FLAG_TRANSIT | (uint8_t)nsg;
	if (nsg == ISCSI_FULL_FEATURE_PHASE) {
		login_complete(tc, flags);
		return;
	}
	l->stage = nsg;
	login_send(tc, flags, 0, NULL);
}

void tgt_login_rx(struct tgt_conn *tc, struct idm_pdu *pdu)
{
	struct tgt_login *l = tc->login;
	bool first = l == NULL;
	uint16_t status;

	if (idm_pdu_opcode(pdu) != ISCSI_OP_LOGIN_REQ || tc->sess) {
		return;
	}
	if (!l) {
		l = login_start(tc, pdu);
		if (!l) {
			idm_conn_close(tc->ic);
			return;
		}
	} else if (l->failed) {
		return;
	} else if (!login_same_task(l, pdu)) {
		login_fail(tc, ISCSI_LOGIN_INITIATOR_ERROR, "ITT/ISID/TSIH changed during login");
		return;
	}
	status = tgt_login_check(pdu->bhs, l->stage, first);
	if (status) {
		login_fail(tc, status, "bad login header");
		return;
	}
	if (login_append(l, pdu) < 0) {
		login_fail(tc, ISCSI_LOGIN_OUT_OF_RESOURCES, "login text too long");
		return;
	}
	if (pdu->bhs[BHS_FLAGS] & LOGIN_FLAG_CONTINUE) {
		/* More text follows: an empty response asks for it. */
		login_send(tc, (uint8_t)(l->stage << LOGIN_CSG_SHIFT), 0, NULL);
		return;
	}
	login_process(tc, l, pdu->bhs[BHS_FLAGS]);
}
