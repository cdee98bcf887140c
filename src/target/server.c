/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The server: targets and their LUs, reactors, portals; start and stop.
 * Every failure in idm_server_start undoes what was done and leaves one
 * line in `err`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "idm/backing.h"
#include "target/gateway.h"
#include "target/target_int.h"

#define TGT_STOP_WAIT_S 30 /* connections get this long to wind down */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- targets and LUs ---- */

void tgt_lun_free(struct tgt_target *t, unsigned l, struct scsi_lu *lu)
{
	if (lu) {
		t->luns.count--;
		scsi_lu_free(lu); /* flushes and closes the store */
	}
	tgt_gateway_lun_free(t, l);
	free(t->lun_stats[l]);
	t->lun_stats[l] = NULL;
}

void tgt_lun_close(struct tgt_target *t, unsigned l)
{
	struct scsi_lu *lu = t->luns.lu[l];

	__atomic_store_n(&t->luns.lu[l], NULL, __ATOMIC_RELEASE);
	tgt_lun_free(t, l, lu);
}

static void targets_close(struct idm_server *srv)
{
	for (unsigned i = 0; i < srv->ntargets; i++) {
		for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
			tgt_lun_close(&srv->targets[i], l);
		}
	}
	if (srv->targets) {
		OPENSSL_cleanse(srv->targets, IDM_MAX_TARGETS * sizeof(*srv->targets)); /* secrets */
	}
	free(srv->targets);
	srv->targets = NULL;
	srv->ntargets = 0;
}

/* The LU of target `t` whose NAA designator is `naa`, if any. */
static const struct scsi_lu *lu_with_naa(const struct tgt_target *t, const uint8_t naa[16])
{
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		const struct scsi_lu *lu = t->luns.lu[l];

		if (lu && memcmp(lu->naa, naa, sizeof(lu->naa)) == 0) {
			return lu;
		}
	}
	return NULL;
}

/* Two LUs under one name would be one disk to multipath (and to
 * EXTENDED COPY, which finds its LUs by NAA): refuse a configured NAA
 * that another LU of this idmd already has. */
static int naa_unique(const struct tgt_target *t, const uint8_t naa[16], char *err,
		      size_t errlen, uint32_t lun)
{
	const struct idm_server *srv = t->srv;

	for (unsigned i = 0; i <= srv->ntargets; i++) {
		const struct tgt_target *o = i < srv->ntargets ? &srv->targets[i] : t;
		const struct scsi_lu *lu = lu_with_naa(o, naa);

		if (lu) {
			return fail(err, errlen, -EEXIST,
				    "%s LUN %u: its NAA is already that of %s LUN %llu", t->iqn,
				    lun, o->iqn, (unsigned long long)lu->lun);
		}
	}
	return 0;
}

int tgt_lun_open(struct tgt_target *t, const struct idm_lun_conf *lc, const char *state_dir,
		 char *err, size_t errlen)
{
	const struct idm_backing_options opts = {
		.ceph_conf = lc->ceph_conf[0] ? lc->ceph_conf : NULL,
		.ceph_id = lc->ceph_id[0] ? lc->ceph_id : NULL,
		.ceph_keyring = lc->ceph_keyring[0] ? lc->ceph_keyring : NULL,
		.start_offline = lc->start_offline,
		.shared = tgt_gateway_member(t->srv),
	};
	struct idm_backing *store;
	struct scsi_lu *lu;
	char why[512] = "";
	char serial[33];
	uint8_t naa[16];
	int rc;

	if (lc->lun >= SCSI_MAX_LUNS) {
		return fail(err, errlen, -EINVAL, "%s: LUN %u is out of range (0-%u)", t->iqn,
			    lc->lun, SCSI_MAX_LUNS - 1);
	}
	if (t->luns.lu[lc->lun]) {
		return fail(err, errlen, -EEXIST, "%s: LUN %u is configured twice", t->iqn,
			    lc->lun);
	}
	rc = idm_lun_ident_effective(lc, t->iqn, serial, naa);
	if (rc < 0) {
		return fail(err, errlen, rc, "%s LUN %u: no identity: %s", t->iqn, lc->lun,
			    strerror(-rc));
	}
	rc = naa_unique(t, naa, err, errlen, lc->lun);
	if (rc < 0) {
		return rc;
	}
	rc = idm_backing_open_opts(lc->spec, lc->block_size ? lc->block_size : 512, &opts, &store,
				   why, sizeof(why));
	if (rc < 0) {
		return fail(err, errlen, rc, "%s LUN %u: %s", t->iqn, lc->lun, why);
	}
	if (tgt_gateway_shares(t->srv, store)) {
		rc = tgt_gateway_ident(lc, store, serial, naa);
		if (rc == 0) {
			rc = naa_unique(t, naa, err, errlen, lc->lun);
		}
		if (rc < 0) {
			idm_backing_close(store);
			return rc == -EEXIST ? rc
			       : rc == -ENOTCONN
			           ? fail(err, errlen, rc,
			                  "%s LUN %u: a gateway derives the LU's identity from the "
			                  "image id, and the cluster is not reachable: set serial "
			                  "and naa to start offline",
			                  t->iqn, lc->lun)
			           : fail(err, errlen, rc, "%s LUN %u: no identity: %s", t->iqn,
			                  lc->lun, strerror(-rc));
		}
	}
	rc = scsi_lu_create(lc->lun, store, t->iqn, &lu);
	if (rc < 0) {
		idm_backing_close(store);
		return fail(err, errlen, rc, "%s LUN %u: cannot create the logical unit: %s",
			    t->iqn, lc->lun, strerror(-rc));
	}
	lu->read_only = lc->read_only;
	if (idm_lun_conf_apply(lu, lc, serial, naa) == 1) {
		/* The store decides (rbd without its cache): WCE=1 would make
		 * initiators flush a cache that is not there. */
		idm_log("target", "%s LUN %u: write_cache ignored, the store is write-through "
			"(WCE=0)", t->iqn, lc->lun);
	}
	t->lun_stats[lc->lun] = calloc(t->srv->nslots, sizeof(struct tgt_io_stats));
	if (!t->lun_stats[lc->lun]) {
		scsi_lu_free(lu);
		return fail(err, errlen, -ENOMEM, "%s LUN %u: no memory", t->iqn, lc->lun);
	}
	/* Published last: a reactor that finds it finds it whole. */
	__atomic_store_n(&t->luns.lu[lc->lun], lu, __ATOMIC_RELEASE);
	t->luns.count++;
	/* APTPL reservations a previous run saved come back now. */
	if (tgt_gateway_shares(t->srv, store)) {
		/* Its reservations are the group's, in the cluster. */
		rc = tgt_gateway_lun_join(t, lc->lun, lu, why, sizeof(why));
		if (rc < 0) {
			return fail(err, errlen, rc, "%s LUN %u: %s", t->iqn, lc->lun, why);
		}
		return 0;
	}
	rc = scsi_lu_set_state_dir(lu, state_dir, why, sizeof(why));
	if (rc < 0) {
		return fail(err, errlen, rc, "%s LUN %u: cannot load its reservations: %s",
			    t->iqn, lc->lun, why[0] ? why : strerror(-rc));
	}
	return 0;
}

/* Who may log in to a target and how it authenticates (login.c). */
static void target_access_copy(struct tgt_target *t, const struct idm_target_conf *tc)
{
	t->nacl = tc->nacl < IDM_MAX_ACL ? tc->nacl : IDM_MAX_ACL;
	memcpy(t->acl, tc->acl, sizeof(t->acl));
	memcpy(t->acl_chap, tc->acl_chap, sizeof(t->acl_chap));
	memcpy(t->acl_map, tc->acl_map, sizeof(t->acl_map));
	t->chap = tc->chap;
	t->has_chap = tc->has_chap;
	t->offered_on = tc->offered_on;
}

/* The server-wide authentication settings: discovery, CHAP algorithms. */
static void server_auth_copy(struct idm_server *srv, const struct idm_target_conf_all *conf)
{
	srv->disc = conf->discovery;
	srv->nchap_algs = conf->nchap_algs < IDM_CHAP_ALGS_MAX ? conf->nchap_algs : IDM_CHAP_ALGS_MAX;
	memcpy(srv->chap_algs, conf->chap_algs, sizeof(srv->chap_algs));
}

int tgt_target_open(struct tgt_target *t, struct idm_server *srv, const struct idm_target_conf *tc,
		    char *err, size_t errlen)
{
	t->srv = srv;
	t->luns.abort_nexus = tgt_abort_nexus;
	t->luns.abort_ctx = t;
	snprintf(t->iqn, sizeof(t->iqn), "%s", tc->iqn);
	snprintf(t->alias, sizeof(t->alias), "%s", tc->alias);
	target_access_copy(t, tc);
	for (unsigned l = 0; l < tc->nluns && l < IDM_MAX_LUNS_PER_TARGET; l++) {
		int rc = tgt_lun_open(t, &tc->luns[l], srv->conf->state_dir, err, errlen);

		if (rc < 0) {
			return rc;
		}
	}
	return 0;
}

static int targets_open(struct idm_server *srv, const struct idm_target_conf_all *conf,
			char *err, size_t errlen)
{
	/* Every slot now: targets created live take free ones. */
	srv->targets = calloc(IDM_MAX_TARGETS, sizeof(*srv->targets));
	srv->conf = malloc(sizeof(*srv->conf));
	if (!srv->targets || !srv->conf) {
		return fail(err, errlen, -ENOMEM, "no memory for %u targets", conf->ntargets);
	}
	*srv->conf = *conf;
	srv->ntargets = conf->ntargets;
	for (unsigned i = 0; i < conf->ntargets; i++) {
		int rc = tgt_target_open(&srv->targets[i], srv, &conf->targets[i], err, errlen);

		if (rc < 0) {
			return rc;
		}
		if (tgt_target_find(srv, srv->targets[i].iqn) != &srv->targets[i]) {
			return fail(err, errlen, -EEXIST, "target %s is configured twice",
				    srv->targets[i].iqn);
		}
	}
	return 0;
}

/* ---- portals ---- */

static int portal_addr(const struct idm_portal_conf *pc, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, pc->addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(pc->port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, pc->addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(pc->port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static uint32_t task_slots(const struct idm_target_tunables *tun)
{
	return (tun->queue_depth ? tun->queue_depth : 1) + TGT_TASK_SLACK;
}

/*
 * Open portal `p` (its address, port and transports in p->conf): the core
 * opens a service for each transport it has that the portal offers (TCP,
 * and iSER where an RDMA device serves it). The admin code opens and
 * closes portals with these too.
 */
int tgt_portal_open(struct idm_server *srv, struct tgt_portal *p, char *err, size_t errlen)
{
	uint8_t offer = p->conf.transports ? p->conf.transports : IDM_OFFER_TCP | IDM_OFFER_ISER;
	struct idm_svc_req req = {
		.reactors = srv->reactors,
		.nreactors = srv->nreactors,
		.client = &tgt_client_ops,
		.client_arg = p,
		.client_task_size = sizeof(struct tgt_task),
		.max_tasks = task_slots(&srv->tun),
		.accepted = tgt_accepted,
		.opts = {.rdma_copy_threshold = srv->tun.iser_copy_threshold},
		.portal_skip = (offer & IDM_OFFER_TCP ? 0 : IDM_PORTAL_SKIP_TCP) |
			       (offer & IDM_OFFER_ISER ? 0 : IDM_PORTAL_SKIP_RDMA),
	};
	char why[200] = "";
	int rc;

	p->srv = srv;
	if (portal_addr(&p->conf, &req.addr, &req.addrlen) < 0) {
		return fail(err, errlen, -EINVAL, "portal %s: not an IPv4 or IPv6 address",
			    p->conf.addr);
	}
	rc = idm_portal_open(&p->idm, &req, why, sizeof(why));
	if (rc < 0) {
		return fail(err, errlen, rc, "portal %s port %u: %s", p->conf.addr, p->conf.port,
			    why);
	}
	return 0;
}

void tgt_portal_close(struct tgt_portal *p)
{
	idm_portal_close(&p->idm);
}

static int portals_open(struct idm_server *srv, const struct idm_target_conf_all *conf,
			char *err, size_t errlen)
{
	for (unsigned i = 0; i < conf->nportals && i < IDM_MAX_PORTALS; i++) {
		int rc;

		srv->portals[i].conf = conf->portals[i];
		srv->nportals = i + 1;
		rc = tgt_portal_open(srv, &srv->portals[i], err, errlen);
		if (rc < 0) {
			return rc;
		}
	}
	return 0;
}

static void portals_close(struct idm_server *srv)
{
	for (unsigned i = 0; i < srv->nportals; i++) {
		tgt_portal_close(&srv->portals[i]);
	}
	srv->nportals = 0;
}

/* ---- reactors ---- */

/* The configured reactor count, or one per online CPU. */
static unsigned reactor_count(unsigned n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return n ? n : (cpus > 0 ? (unsigned)cpus : 1);
}

static int reactors_open(struct idm_server *srv, unsigned n, char *err, size_t errlen)
{
	int rc;

	rc = idm_reactors_create(n, &srv->reactors);
	if (rc < 0) {
		return fail(err, errlen, rc, "cannot create %u reactors: %s", n, strerror(-rc));
	}
	srv->nreactors = n;
	rc = idm_reactors_start(srv->reactors, n);
	if (rc < 0) {
		return fail(err, errlen, rc, "cannot start %u reactors: %s", n, strerror(-rc));
	}
	srv->reactors_running = true;
	return 0;
}

static void reactors_close(struct idm_server *srv)
{
	if (!srv->reactors) {
		return;
	}
	if (srv->reactors_running) {
		idm_reactors_stop(srv->reactors, srv->nreactors);
		srv->reactors_running = false;
	}
	idm_reactors_destroy(srv->reactors, srv->nreactors);
	srv->reactors = NULL;
	srv->nreactors = 0;
}

/* ---- stop ---- */

/* On reactor r: close every connection it owns. Connections are freed
 * only on their own reactor, so none vanishes while this runs. */
static void close_conns_here(void *arg)
{
	struct idm_server *srv = arg;
	struct idm_reactor *self = idm_reactor_self();

	for (;;) {
		struct idm_conn *ic = NULL;

		pthread_mutex_lock(&srv->lock);
		for (struct tgt_conn *tc = srv->conns; tc; tc = tc->next) {
			if (tc->ic->reactor == self && !tc->close_sent) {
				tc->close_sent = true;
				ic = tc->ic;
				break;
			}
		}
		pthread_mutex_unlock(&srv->lock);
		if (!ic) {
			return;
		}
		idm_conn_close(ic);
	}
}

/* On reactor r: ask every initiator in full feature phase there to log
 * out (the shutdown grace period). */
static void ask_logouts_here(void *arg)
{
	struct idm_server *srv = arg;
	struct idm_reactor *self = idm_reactor_self();

	for (;;) {
		struct tgt_conn *found = NULL;

		pthread_mutex_lock(&srv->lock);
		for (struct tgt_conn *tc = srv->conns; tc; tc = tc->next) {
			if (tc->ic->reactor == self && !tc->logout_asked && tc->sess &&
			    tc->ic->state == IDM_CONN_LOGGED_IN) {
				tc->logout_asked = true;
				found = tc;
				break;
			}
		}
		pthread_mutex_unlock(&srv->lock);
		if (!found) {
			return;
		}
		tgt_async_logout_request(found, (uint16_t)srv->tun.shutdown_grace_s);
	}
}

/* Wait until every connection is gone or `seconds` pass; true when none is left. */
static bool conns_wait_gone(struct idm_server *srv, uint32_t seconds)
{
	struct timespec deadline;
	bool gone;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds;
	pthread_mutex_lock(&srv->lock);
	while (srv->nconns > 0 &&
	       pthread_cond_timedwait(&srv->cond, &srv->lock, &deadline) != ETIMEDOUT) {
	}
	gone = srv->nconns == 0;
	pthread_mutex_unlock(&srv->lock);
	return gone;
}

/* Shutdown, first step: initiators log out on their own within the grace
 * period, so no I/O is cut off in the middle. */
static void conns_ask_logout(struct idm_server *srv)
{
	unsigned before;

	pthread_mutex_lock(&srv->lock);
	before = srv->nconns;
	pthread_mutex_unlock(&srv->lock);
	if (srv->tun.shutdown_grace_s == 0 || before == 0) {
		return;
	}
	for (unsigned i = 0; i < srv->nreactors; i++) {
		idm_reactor_send(srv->reactors[i], ask_logouts_here, srv);
	}
	if (conns_wait_gone(srv, srv->tun.shutdown_grace_s)) {
		idm_log("target", "every initiator logged out on request (%u connection(s))", before);
	} else {
		idm_log("target", "%u of %u connection(s) still open after the %u s grace period",
			srv->nconns, before, srv->tun.shutdown_grace_s);
	}
}

static void conns_close_all(struct idm_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	conns_ask_logout(srv);
	for (unsigned i = 0; i < srv->nreactors; i++) {
		idm_reactor_send(srv->reactors[i], close_conns_here, srv);
	}
	if (!conns_wait_gone(srv, TGT_STOP_WAIT_S)) {
		idm_log("target", "%u connections still open after %d s", srv->nconns,
			TGT_STOP_WAIT_S);
	}
}

static void server_free(struct idm_server *srv)
{
	portals_close(srv);
	if (srv->reactors_running) {
		conns_close_all(srv);
	}
	reactors_close(srv);
	targets_close(srv);
	OPENSSL_cleanse(&srv->disc, sizeof(srv->disc));
	if (srv->conf) {
		OPENSSL_cleanse(srv->conf, sizeof(*srv->conf));
		free(srv->conf);
	}
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	srv->magic = 0;
	free(srv);
}

void idm_server_stop(struct idm_server *srv)
{
	if (srv && srv->magic == TGT_SERVER_MAGIC) {
		server_free(srv);
	}
}

int idm_server_start(const struct idm_target_conf_all *conf, struct idm_server **out,
		     char *err, size_t errlen)
{
	struct idm_server *srv = calloc(1, sizeof(*srv));
	int rc;

	*out = NULL;
	if (!srv) {
		return fail(err, errlen, -ENOMEM, "no memory for the server");
	}
	srv->magic = TGT_SERVER_MAGIC;
	srv->tun = conf->tun;
	srv->next_tsih = 1;
	srv->nslots = reactor_count(conf->nreactors);
	srv->started_ms = idm_now_ms();
	server_auth_copy(srv, conf);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	if (conf->nportals == 0) {
		rc = fail(err, errlen, -EINVAL, "no portal configured");
	} else if (conf->ntargets > IDM_MAX_TARGETS || conf->nportals > IDM_MAX_PORTALS) {
		rc = fail(err, errlen, -EINVAL, "too many targets or portals");
	} else {
		rc = targets_open(srv, conf, err, errlen);
	}
	if (rc == 0) {
		rc = reactors_open(srv, srv->nslots, err, errlen);
	}
	if (rc == 0) {
		rc = portals_open(srv, conf, err, errlen);
	}
	if (rc < 0) {
		server_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}
