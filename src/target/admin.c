/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reports and operations on a running server for the control socket (see
 * admin.h). Targets, LUNs and portals are read on the control thread;
 * sessions and connections belong to their reactors and are read there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "target/admin.h"
#include "target/config_save.h"
#include "target/gateway.h"

/* ---- fan-out to every reactor ---- */

struct fanout {
	void (*fn)(void *arg, unsigned slot);
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;
};

static void fanout_here(void *p)
{
	struct fanout *f = p;

	f->fn(f->arg, idm_reactor_index(idm_reactor_self()));
	pthread_mutex_lock(&f->lock);
	f->pending--;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void tgt_fanout(struct idm_server *srv, void (*fn)(void *arg, unsigned slot), void *arg)
{
	struct fanout f = {.fn = fn, .arg = arg};

	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	f.pending = srv->nreactors;
	for (unsigned i = 0; i < srv->nreactors; i++) {
		if (idm_reactor_send(srv->reactors[i], fanout_here, &f) < 0) {
			pthread_mutex_lock(&f.lock);
			f.pending--;
			pthread_mutex_unlock(&f.lock);
		}
	}
	pthread_mutex_lock(&f.lock);
	while (f.pending > 0) {
		pthread_cond_wait(&f.cond, &f.lock);
	}
	pthread_mutex_unlock(&f.lock);
	pthread_cond_destroy(&f.cond);
	pthread_mutex_destroy(&f.lock);
}

/* ---- small JSON helpers ---- */

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
}

static void add_bool(json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

/* ---- portals, targets, LUNs ---- */

static json_object *portal_json(const struct tgt_portal *p)
{
	json_object *o = json_object_new_object(), *tp = json_object_new_array();

	add_str(o, "addr", p->conf.addr);
	add_u64(o, "port", p->conf.port);
	add_u64(o, "tpgt", p->conf.tpgt);
	for (unsigned i = 0; i < p->idm.nsvc; i++) {
		json_object_array_add(tp, json_object_new_string(p->idm.svc[i]->transport->name));
	}
	json_object_object_add(o, "transports", tp);
	return o;
}

json_object *tgt_admin_portals(struct idm_server *srv)
{
	json_object *arr = json_object_new_array();

	for (unsigned i = 0; i < srv->nportals; i++) {
		if (!srv->portals[i].removed) {
			json_object_array_add(arr, portal_json(&srv->portals[i]));
		}
	}
	return arr;
}

static const char *chap_mode(const struct tgt_target *t)
{
	if (!t->has_chap) {
		return "none";
	}
	return t->chap.target_secret_len ? "mutual" : "one-way";
}

/* Sessions of target t (NULL: discovery), counted in the session table. */
static unsigned sessions_of(struct idm_server *srv, const struct tgt_target *t)
{
	unsigned n = 0;

	pthread_mutex_lock(&srv->lock);
	for (struct tgt_session *s = srv->sessions; s; s = s->next) {
		n += s->target == t;
	}
	pthread_mutex_unlock(&srv->lock);
	return n;
}

static json_object *target_json(struct idm_server *srv, const struct tgt_target *t)
{
	json_object *o = json_object_new_object(), *tp = json_object_new_array();
	json_object *acl = json_object_new_array();

	add_str(o, "iqn", t->iqn);
	add_str(o, "alias", t->alias);
	add_u64(o, "luns", t->luns.count);
	add_u64(o, "sessions", sessions_of(srv, t));
	add_str(o, "chap", chap_mode(t));
	for (unsigned i = 0; i < t->nacl; i++) {
		json_object_array_add(acl, json_object_new_string(t->acl[i]));
	}
	json_object_object_add(o, "acl", acl);
	if (!t->offered_on || (t->offered_on & IDM_OFFER_TCP)) {
		json_object_array_add(tp, json_object_new_string("tcp"));
	}
	if (!t->offered_on || (t->offered_on & IDM_OFFER_ISER)) {
		json_object_array_add(tp, json_object_new_string("iser"));
	}
	json_object_object_add(o, "transports", tp);
	return o;
}

json_object *tgt_admin_targets(struct idm_server *srv)
{
	json_object *arr = json_object_new_array();

	for (unsigned i = 0; i < srv->ntargets; i++) {
		if (!srv->targets[i].deleted) {
			json_object_array_add(arr, target_json(srv, &srv->targets[i]));
		}
	}
	return arr;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	}
}

/* Trailing blanks of a space-padded INQUIRY string go. */
static json_object *padded_string(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == ' ') {
		n--;
	}
	return json_object_new_string_len(s, (int)n);
}

/* The spec as configured (a resize rewrites its size), else the store's. */
static const char *lun_spec(const struct idm_server *srv, const struct tgt_target *t,
                            const struct scsi_lu *lu)
{
	for (unsigned i = 0; i < srv->conf->ntargets; i++) {
		const struct idm_target_conf *tc = &srv->conf->targets[i];

		for (unsigned l = 0; strcasecmp(tc->iqn, t->iqn) == 0 && l < tc->nluns; l++) {
			if (tc->luns[l].lun == lu->lun) {
				return tc->luns[l].spec;
			}
		}
	}
	return lu->store->desc;
}

static json_object *lun_json(const struct idm_server *srv, const struct tgt_target *t,
                             const struct scsi_lu *lu)
{
	json_object *o = json_object_new_object();
	char naa[2 * sizeof(lu->naa) + 1];

	hex(lu->naa, sizeof(lu->naa), naa);
	add_str(o, "target", t->iqn);
	add_u64(o, "lun", lu->lun);
	add_str(o, "spec", lun_spec(srv, t, lu));
	add_str(o, "kind", lu->store->ops->kind);
	add_u64(o, "size", lu->num_blocks * lu->block_size);
	add_u64(o, "block_size", lu->block_size);
	add_u64(o, "blocks", lu->num_blocks);
	add_bool(o, "write_cache", lu->write_cache);
	add_bool(o, "read_only", __atomic_load_n(&lu->read_only, __ATOMIC_RELAXED));
	json_object_object_add(o, "vendor", padded_string(lu->vendor));
	json_object_object_add(o, "product", padded_string(lu->product));
	add_str(o, "serial", lu->serial);
	add_str(o, "naa", naa);
	return o;
}

json_object *tgt_admin_luns(struct idm_server *srv, const char *iqn, char *err, size_t errlen)
{
	json_object *arr;
	const struct tgt_target *only = NULL;

	if (iqn && !(only = tgt_target_find(srv, iqn))) {
		snprintf(err, errlen, "no target %s", iqn);
		return NULL;
	}
	arr = json_object_new_array();
	for (unsigned i = 0; i < srv->ntargets; i++) {
		const struct tgt_target *t = &srv->targets[i];

		if ((only && t != only) || t->deleted) {
			continue;
		}
		for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
			if (t->luns.lu[l]) {
				json_object_array_add(arr, lun_json(srv, t, t->luns.lu[l]));
			}
		}
	}
	return arr;
}

json_object *tgt_admin_status(struct idm_server *srv)
{
	json_object *o = json_object_new_object();
	unsigned luns = 0, sessions = 0, conns, targets = 0;

	for (unsigned i = 0; i < srv->ntargets; i++) {
		if (!srv->targets[i].deleted) {
			luns += srv->targets[i].luns.count;
			targets++;
		}
	}
	pthread_mutex_lock(&srv->lock);
	for (struct tgt_session *s = srv->sessions; s; s = s->next) {
		sessions++;
	}
	conns = srv->nconns;
	pthread_mutex_unlock(&srv->lock);
	add_u64(o, "uptime_s", (idm_now_ms() - srv->started_ms) / 1000);
	add_u64(o, "reactors", srv->nreactors);
	add_u64(o, "targets", targets);
	add_u64(o, "luns", luns);
	add_u64(o, "sessions", sessions);
	add_u64(o, "connections", conns);
	json_object_object_add(o, "portals", tgt_admin_portals(srv));
	return o;
}

/* ---- sessions ---- */

struct sessions_walk {
	struct idm_server *srv;
	pthread_mutex_t lock; /* arr is shared by the reactors */
	json_object *arr;
};

static const char *yes_no(bool b)
{
	return b ? "Yes" : "No";
}

/* The negotiated keys, as RFC 7143 names them. */
static json_object *params_json(const struct idm_params *p)
{
	json_object *o = json_object_new_object();

	add_str(o, "HeaderDigest", p->header_digest ? "CRC32C" : "None");
	add_str(o, "DataDigest", p->data_digest ? "CRC32C" : "None");
	add_u64(o, "MaxRecvDataSegmentLength", p->max_recv_dsl);
	add_u64(o, "MaxXmitDataSegmentLength", p->max_xmit_dsl);
	add_str(o, "InitialR2T", yes_no(p->initial_r2t));
	add_str(o, "ImmediateData", yes_no(p->immediate_data));
	add_u64(o, "MaxBurstLength", p->max_burst_length);
	add_u64(o, "FirstBurstLength", p->first_burst_length);
	add_u64(o, "MaxOutstandingR2T", p->max_outstanding_r2t);
	add_u64(o, "MaxConnections", p->max_connections);
	add_u64(o, "ErrorRecoveryLevel", p->error_recovery_level);
	add_u64(o, "DefaultTime2Wait", p->default_time2wait);
	add_u64(o, "DefaultTime2Retain", p->default_time2retain);
	if (p->rdma_extensions) {
		add_str(o, "RDMAExtensions", "Yes");
	}
	return o;
}

static json_object *counters_json(const struct idm_conn_stats *cs, const struct tgt_io_stats *io)
{
	json_object *o = json_object_new_object();

	add_u64(o, "pdus_rx", cs->pdus_rx);
	add_u64(o, "pdus_tx", cs->pdus_tx);
	add_u64(o, "bytes_rx", cs->bytes_rx);
	add_u64(o, "bytes_tx", cs->bytes_tx);
	add_u64(o, "commands",
	        io->cmds[TGT_OP_READ] + io->cmds[TGT_OP_WRITE] + io->cmds[TGT_OP_OTHER]);
	add_u64(o, "reads", io->cmds[TGT_OP_READ]);
	add_u64(o, "writes", io->cmds[TGT_OP_WRITE]);
	add_u64(o, "errors", io->errors);
	add_u64(o, "digest_errors", cs->digest_errors);
	add_u64(o, "rejects_tx", cs->rejects_tx);
	return o;
}

static void isid_hex(const uint8_t isid[6], char out[13])
{
	hex(isid, 6, out);
}

/* One logged-in connection and its session (on its reactor). */
static json_object *session_json(const struct tgt_conn *tc)
{
	const struct tgt_session *s = tc->sess;
	const struct idm_conn *c = tc->ic;
	json_object *o = json_object_new_object();
	char isid[13], portal[80];

	isid_hex(s->isid, isid);
	snprintf(portal, sizeof(portal), "%s:%u", tc->portal->conf.addr, tc->portal->conf.port);
	add_str(o, "initiator", s->initiator_name);
	add_str(o, "target", s->target ? s->target->iqn : "");
	add_str(o, "type", s->type == IDM_SESSION_DISCOVERY ? "discovery" : "normal");
	add_str(o, "isid", isid);
	add_u64(o, "tsih", s->tsih);
	add_u64(o, "cid", c->cid);
	add_str(o, "portal", portal);
	add_u64(o, "tpgt", tc->portal->conf.tpgt);
	add_str(o, "peer", c->peer_name);
	add_str(o, "transport", c->transport->caps->rdma ? "iser" : "tcp");
	json_object_object_add(o, "keys", params_json(&c->params));
	json_object_object_add(o, "counters", counters_json(&c->stats, &tc->io));
	return o;
}

static void sessions_here(void *arg, unsigned slot)
{
	struct sessions_walk *w = arg;
	struct idm_reactor *self = idm_reactor_self();
	struct idm_server *srv = w->srv;

	(void)slot;
	pthread_mutex_lock(&srv->lock);
	for (struct tgt_conn *tc = srv->conns; tc; tc = tc->next) {
		if (tc->ic->reactor != self || !tc->sess || tc->ic->state != IDM_CONN_LOGGED_IN) {
			continue;
		}
		json_object *o = session_json(tc);

		pthread_mutex_lock(&w->lock);
		json_object_array_add(w->arr, o);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_unlock(&srv->lock);
}

static int by_tsih(const void *a, const void *b)
{
	json_object *ta, *tb;

	json_object_object_get_ex(*(json_object *const *)a, "tsih", &ta);
	json_object_object_get_ex(*(json_object *const *)b, "tsih", &tb);
	return (int)(json_object_get_int64(ta) - json_object_get_int64(tb));
}

json_object *tgt_admin_sessions(struct idm_server *srv)
{
	struct sessions_walk w = {.srv = srv, .arr = json_object_new_array()};

	pthread_mutex_init(&w.lock, NULL);
	tgt_fanout(srv, sessions_here, &w);
	pthread_mutex_destroy(&w.lock);
	json_object_array_sort(w.arr, by_tsih);
	return w.arr;
}

/* ---- session logout ---- */

struct logout_req {
	struct idm_server *srv;
	uint16_t tsih;
	bool close;     /* false: ask to log out; true: close */
	unsigned found; /* under srv->lock */
};

static void logout_here(void *arg, unsigned slot)
{
	struct logout_req *q = arg;
	struct idm_reactor *self = idm_reactor_self();
	struct tgt_conn *hit = NULL;

	(void)slot;
	pthread_mutex_lock(&q->srv->lock);
	for (struct tgt_conn *tc = q->srv->conns; tc; tc = tc->next) {
		if (tc->ic->reactor == self && tc->sess && tc->sess->tsih == q->tsih &&
		    tc->ic->state == IDM_CONN_LOGGED_IN) {
			hit = tc;
			q->found++;
			break;
		}
	}
	pthread_mutex_unlock(&q->srv->lock);
	/* Connections are freed only on their own reactor: hit stays. */
	if (hit && q->close) {
		idm_conn_close(hit->ic);
	} else if (hit && !hit->logout_asked) {
		hit->logout_asked = true;
		tgt_async_logout_request(hit, (uint16_t)q->srv->tun.shutdown_grace_s);
	}
}

static bool session_live(struct idm_server *srv, uint16_t tsih)
{
	bool live;

	pthread_mutex_lock(&srv->lock);
	live = tgt_sessions_find_tsih(srv->sessions, tsih) != NULL;
	pthread_mutex_unlock(&srv->lock);
	return live;
}

/* Wait until session tsih is gone or `ms` pass; true when gone. */
static bool session_wait_gone(struct idm_server *srv, uint16_t tsih, uint64_t ms)
{
	uint64_t deadline = idm_now_ms() + ms;
	struct timespec pause = {0, 20 * 1000 * 1000};

	while (session_live(srv, tsih)) {
		if (idm_now_ms() >= deadline) {
			return false;
		}
		nanosleep(&pause, NULL);
	}
	return true;
}

int tgt_admin_session_logout(struct idm_server *srv, uint16_t tsih, bool *closed)
{
	struct logout_req q = {.srv = srv, .tsih = tsih};

	*closed = false;
	if (tsih == 0 || !session_live(srv, tsih)) {
		return -ENOENT;
	}
	if (srv->tun.shutdown_grace_s) {
		tgt_fanout(srv, logout_here, &q);
		if (q.found == 0) {
			return -ENOENT;
		}
		if (session_wait_gone(srv, tsih, srv->tun.shutdown_grace_s * 1000ull)) {
			return 0;
		}
	}
	q.close = true;
	q.found = 0;
	tgt_fanout(srv, logout_here, &q);
	*closed = q.found > 0;
	session_wait_gone(srv, tsih, 5000);
	return 0;
}

json_object *tgt_admin_acl(struct idm_server *srv, const char *iqn, char *err, size_t errlen)
{
	const struct tgt_target *t = tgt_target_find(srv, iqn);
	json_object *arr;

	if (!t) {
		snprintf(err, errlen, "no target %s", iqn);
		return NULL;
	}
	arr = json_object_new_array();
	pthread_mutex_lock(&srv->lock); /* the login path reads them too */
	for (unsigned i = 0; i < t->nacl; i++) {
		json_object *o = json_object_new_object();
		const struct idm_acl_chap *ac = &t->acl_chap[i];

		add_str(o, "initiator", t->acl[i]);
		add_str(o, "chap",
		        !ac->has                     ? "target"
		        : ac->chap.target_secret_len ? "mutual"
		                                     : "one-way");
		if (ac->has) {
			add_str(o, "user", ac->chap.user);
		}
		if (t->acl_map[i].has) {
			json_object_object_add(o, "lun_map", idm_lun_map_json(&t->acl_map[i]));
		}
		json_object_array_add(arr, o);
	}
	pthread_mutex_unlock(&srv->lock);
	return arr;
}

static const char *alua_state_name(uint8_t state)
{
	switch (state) {
	case SCSI_ALUA_ACTIVE_OPTIMIZED:
		return "active/optimized";
	case SCSI_ALUA_ACTIVE_NON_OPTIMIZED:
		return "active/non-optimized";
	case SCSI_ALUA_STANDBY:
		return "standby";
	case SCSI_ALUA_UNAVAILABLE:
		return "unavailable";
	default:
		return "transitioning";
	}
}

/* One shared LU: the gateway holding its lock and every group's state. */
static json_object *gateway_lun_json(const struct idm_gateway_conf *gw, const struct tgt_target *t,
                                     unsigned l, uint16_t owner, uint16_t optimized)
{
	json_object *o = json_object_new_object(), *groups = json_object_new_array();
	struct scsi_alua a;

	tgt_gateway_states(gw, optimized, &a);
	add_str(o, "target", t->iqn);
	add_u64(o, "lun", l);
	add_u64(o, "lock_owner", owner);
	add_u64(o, "optimized", optimized);
	for (unsigned i = 0; i < a.n; i++) {
		json_object *g = json_object_new_object();

		add_u64(g, "gateway", a.group[i].id);
		add_str(g, "state", alua_state_name(a.group[i].state));
		json_object_array_add(groups, g);
	}
	json_object_object_add(o, "groups", groups);
	return o;
}

json_object *tgt_admin_gateway(struct idm_server *srv)
{
	const struct idm_gateway_conf *gw = &srv->conf->gateway;
	json_object *o = json_object_new_object(), *group = json_object_new_array();
	json_object *luns = json_object_new_array();

	add_u64(o, "id", gw->id);
	for (unsigned i = 0; i < gw->ngroup; i++) {
		json_object_array_add(group, json_object_new_int64(gw->group[i]));
	}
	json_object_object_add(o, "group", group);
	add_str(o, "non_holders", gw->standby ? "standby" : "active/non-optimized");
	for (unsigned i = 0; i < srv->ntargets; i++) {
		const struct tgt_target *t = &srv->targets[i];

		for (unsigned l = 0; l < SCSI_MAX_LUNS && !t->deleted; l++) {
			bool shared;
			uint16_t optimized;
			uint16_t owner = tgt_gateway_owner(t, l, &shared, &optimized);

			if (t->luns.lu[l] && shared) {
				json_object_array_add(luns,
				                      gateway_lun_json(gw, t, l, owner, optimized));
			}
		}
	}
	json_object_object_add(o, "luns", luns);
	return o;
}

int tgt_admin_gateway_move(struct idm_server *srv, const char *iqn, uint32_t lun, char *err,
                           size_t errlen)
{
	struct tgt_target *t = tgt_target_find(srv, iqn);

	if (!t || lun >= SCSI_MAX_LUNS || !t->luns.lu[lun]) {
		snprintf(err, errlen, "no LUN %u of target %s", lun, iqn);
		return -ENOENT;
	}
	if (tgt_gateway_move_here(t, lun) < 0) {
		snprintf(err, errlen, "%s LUN %u is not in a gateway group", iqn, lun);
		return -EINVAL;
	}
	return 0;
}
