/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live changes to a running server: targets created and deleted, LUNs
 * added, removed and resized, and the reload of a changed config file
 * (SIGHUP), which applies the difference through the same functions.
 *
 * They run on the control thread, one at a time (idm_ctl serializes
 * them). Reactors never wait for them: what a reactor reads is published
 * with release stores (a LU pointer, a target count, a deleted flag) and
 * what it owns is reached through its message queue (tgt_fanout). A LU is
 * freed only after it is unpublished and no task on any reactor still
 * points at it; a target's slot is never freed, only marked deleted, so a
 * late reader never finds freed memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "target/admin.h"

#define LIVE_DRAIN_S 30 /* I/O on a removed LU gets this long to finish */

static int live_fail(char *err, size_t errlen, int rc, const char *fmt, const char *a, unsigned n)
{
	snprintf(err, errlen, fmt, a, n);
	return rc;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- the running configuration (srv->conf) ---- */

static struct idm_target_conf *conf_target(struct idm_server *srv, const char *iqn)
{
	for (unsigned i = 0; i < srv->conf->ntargets; i++) {
		if (strcasecmp(srv->conf->targets[i].iqn, iqn) == 0) {
			return &srv->conf->targets[i];
		}
	}
	return NULL;
}

static struct idm_lun_conf *conf_lun(struct idm_target_conf *tc, uint32_t lun)
{
	for (unsigned i = 0; tc && i < tc->nluns; i++) {
		if (tc->luns[i].lun == lun) {
			return &tc->luns[i];
		}
	}
	return NULL;
}

/* ---- draining a LU ---- */

struct lu_drain {
	struct idm_server *srv;
	const struct scsi_lu *lu;
	unsigned busy; /* under srv->lock */
};

static void count_lu_task(struct idm_task *t, void *arg)
{
	struct lu_drain *d = arg;
	struct tgt_task *tt = tgt_task_of(t);

	if (t->client_priv == tt && !tt->is_tmf && tt->phase != TGT_PH_DONE &&
	    tt->cmd.lu == d->lu) {
		d->busy++;
	}
}

/* On a reactor: does any task of its connections still hold the LU? */
static void drain_here(void *arg, unsigned slot)
{
	struct lu_drain *d = arg;
	struct idm_reactor *self = idm_reactor_self();

	(void)slot;
	pthread_mutex_lock(&d->srv->lock);
	for (struct tgt_conn *tc = d->srv->conns; tc; tc = tc->next) {
		if (tc->ic->reactor == self) {
			idm_task_foreach(tc->ic, count_lu_task, d);
		}
	}
	pthread_mutex_unlock(&d->srv->lock);
}

/* Wait until no task points at `lu` (it is unpublished already). */
static bool lu_drain(struct idm_server *srv, const struct scsi_lu *lu)
{
	struct lu_drain d = {.srv = srv, .lu = lu};

	for (unsigned waited = 0; waited < LIVE_DRAIN_S * 100; waited++) {
		d.busy = 0;
		tgt_fanout(srv, drain_here, &d);
		if (d.busy == 0) {
			return true;
		}
		pause_ms(10);
	}
	return false;
}

/* Every other LU of t tells its initiators the inventory changed. */
static void luns_changed(struct tgt_target *t, unsigned except)
{
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		if (l != except && t->luns.lu[l]) {
			scsi_lu_raise_ua(t->luns.lu[l], SCSI_ASC_REPORTED_LUNS_CHANGED);
		}
	}
}

static struct tgt_target *live_target(struct idm_server *srv, const char *iqn, char *err,
                                      size_t errlen)
{
	struct tgt_target *t = tgt_target_find(srv, iqn);

	if (!t) {
		live_fail(err, errlen, -ENOENT, "no target %s%.0u", iqn, 0);
	}
	return t;
}

/* ---- LUNs ---- */

int tgt_live_lun_add(struct idm_server *srv, const char *iqn, const struct idm_lun_conf *lc,
                     char *err, size_t errlen)
{
	struct tgt_target *t = live_target(srv, iqn, err, errlen);
	struct idm_target_conf *tc = conf_target(srv, iqn);
	int rc;

	if (!t || !tc) {
		return -ENOENT;
	}
	if (lc->lun >= IDM_MAX_LUNS_PER_TARGET || tc->nluns >= IDM_MAX_LUNS_PER_TARGET) {
		return live_fail(err, errlen, -EINVAL, "%s: LUN %u out of range", iqn, lc->lun);
	}
	if (t->luns.lu[lc->lun]) {
		return live_fail(err, errlen, -EEXIST, "%s: LUN %u exists", iqn, lc->lun);
	}
	rc = tgt_lun_open(t, lc, srv->conf->state_dir, err, errlen);
	if (rc < 0) {
		tgt_lun_close(t, lc->lun); /* what lun_open left */
		return rc;
	}
	tc->luns[tc->nluns++] = *lc;
	luns_changed(t, lc->lun);
	idm_log("target", "%s: LUN %u added (%s)", iqn, lc->lun, lc->spec);
	return 0;
}

int tgt_live_lun_remove(struct idm_server *srv, const char *iqn, uint32_t lun, char *err,
                        size_t errlen)
{
	struct tgt_target *t = live_target(srv, iqn, err, errlen);
	struct idm_target_conf *tc = conf_target(srv, iqn);
	struct idm_lun_conf *lc = conf_lun(tc, lun);
	struct scsi_lu *lu;

	if (!t || !tc) {
		return -ENOENT;
	}
	if (lun >= SCSI_MAX_LUNS || !t->luns.lu[lun] || !lc) {
		return live_fail(err, errlen, -ENOENT, "%s: no LUN %u", iqn, lun);
	}
	lu = t->luns.lu[lun];
	/* No new command finds it; the ones that did finish first. */
	__atomic_store_n(&t->luns.lu[lun], NULL, __ATOMIC_RELEASE);
	if (!lu_drain(srv, lu)) {
		__atomic_store_n(&t->luns.lu[lun], lu, __ATOMIC_RELEASE);
		return live_fail(err, errlen, -EBUSY, "%s: LUN %u: I/O did not finish", iqn, lun);
	}
	tgt_lun_free(t, lun, lu);
	memmove(lc, lc + 1, (size_t)(tc->luns + tc->nluns - (lc + 1)) * sizeof(*lc));
	tc->nluns--;
	luns_changed(t, lun);
	idm_log("target", "%s: LUN %u removed", iqn, lun);
	return 0;
}

/* The spec with its new size: "mem:64M" -> "mem:134217728", and
 * "file:PATH:SIZE" likewise; "file:PATH" (the file's own size) stays. */
static void spec_resize(char *spec, size_t cap, uint64_t size)
{
	char *colon = strrchr(spec, ':');
	uint64_t old;
	char tail[32];

	if (!colon || (strncmp(spec, "file:", 5) == 0 && colon == spec + 4) ||
	    idm_parse_size(colon + 1, &old) != 0) {
		return;
	}
	snprintf(tail, sizeof(tail), "%llu", (unsigned long long)size);
	if ((size_t)(colon + 1 - spec) + strlen(tail) < cap) {
		strcpy(colon + 1, tail);
	}
}

int tgt_live_lun_resize(struct idm_server *srv, const char *iqn, uint32_t lun, uint64_t size,
                        bool force, char *err, size_t errlen)
{
	struct tgt_target *t = live_target(srv, iqn, err, errlen);
	struct idm_lun_conf *lc = conf_lun(conf_target(srv, iqn), lun);
	struct scsi_lu *lu;
	uint64_t blocks;
	int rc;

	if (!t) {
		return -ENOENT;
	}
	if (lun >= SCSI_MAX_LUNS || !(lu = t->luns.lu[lun]) || !lc) {
		return live_fail(err, errlen, -ENOENT, "%s: no LUN %u", iqn, lun);
	}
	if (size == 0 || size % lu->block_size) {
		snprintf(err, errlen,
		         "%s LUN %u: the size must be a multiple of the block size (%u)", iqn, lun,
		         lu->block_size);
		return -EINVAL;
	}
	blocks = size / lu->block_size;
	if (blocks < lu->num_blocks && !force) {
		return live_fail(err, errlen, -EPERM, "%s LUN %u: shrinking loses data (force it)",
		                 iqn, lun);
	}
	if (blocks < lu->num_blocks) {
		/* Commands past the new end fail from now; those in flight end first. */
		__atomic_store_n(&lu->num_blocks, blocks, __ATOMIC_RELEASE);
		if (!lu_drain(srv, lu)) {
			return live_fail(err, errlen, -EBUSY, "%s LUN %u: I/O did not finish", iqn,
			                 lun);
		}
	}
	rc = idm_backing_resize(lu->store, size);
	if (rc < 0) {
		__atomic_store_n(&lu->num_blocks, lu->store->size / lu->block_size,
		                 __ATOMIC_RELEASE);
		snprintf(err, errlen, "%s LUN %u: cannot resize the %s store: %s", iqn, lun,
		         lu->store->ops->kind, strerror(-rc));
		return rc;
	}
	__atomic_store_n(&lu->num_blocks, blocks, __ATOMIC_RELEASE);
	scsi_lu_raise_ua(lu, SCSI_ASC_CAPACITY_CHANGED);
	spec_resize(lc->spec, sizeof(lc->spec), size);
	idm_log("target", "%s: LUN %u resized to %llu bytes", iqn, lun, (unsigned long long)size);
	return 0;
}

int tgt_live_lun_read_only(struct idm_server *srv, const char *iqn, uint32_t lun, bool read_only,
                           char *err, size_t errlen)
{
	struct tgt_target *t = live_target(srv, iqn, err, errlen);
	struct idm_lun_conf *lc = conf_lun(conf_target(srv, iqn), lun);
	struct scsi_lu *lu;

	if (!t) {
		return -ENOENT;
	}
	if (lun >= SCSI_MAX_LUNS || !(lu = t->luns.lu[lun]) || !lc) {
		return live_fail(err, errlen, -ENOENT, "%s: no LUN %u", iqn, lun);
	}
	if (lc->read_only == read_only) {
		return 0;
	}
	/* Commands set up from now see it; WP is in the mode parameter
	 * header, so initiators are told to read it again (SPC-4 6.11). */
	__atomic_store_n(&lu->read_only, read_only, __ATOMIC_RELAXED);
	lc->read_only = read_only;
	scsi_lu_raise_ua(lu, SCSI_ASC_MODE_PARAMS_CHANGED);
	idm_log("target", "%s: LUN %u is %s", iqn, lun, read_only ? "read-only" : "read-write");
	return 0;
}

/* ---- targets ---- */

/* A free slot: a deleted one (readers skip it) or the next unused. */
static struct tgt_target *slot_free(struct idm_server *srv, bool *append)
{
	for (unsigned i = 0; i < srv->ntargets; i++) {
		if (srv->targets[i].deleted) {
			*append = false;
			return &srv->targets[i];
		}
	}
	*append = true;
	return srv->ntargets < IDM_MAX_TARGETS ? &srv->targets[srv->ntargets] : NULL;
}

static void barrier_here(void *arg, unsigned slot)
{
	(void)arg;
	(void)slot;
}

int tgt_live_target_create(struct idm_server *srv, const struct idm_target_conf *tc, char *err,
                           size_t errlen)
{
	struct tgt_target *t;
	bool append;
	int rc;

	if (tgt_target_find(srv, tc->iqn) || conf_target(srv, tc->iqn)) {
		return live_fail(err, errlen, -EEXIST, "target %s exists%.0u", tc->iqn, 0);
	}
	t = slot_free(srv, &append);
	if (!t || srv->conf->ntargets >= IDM_MAX_TARGETS) {
		return live_fail(err, errlen, -ENOSPC, "no room for target %s (at most %u)",
		                 tc->iqn, IDM_MAX_TARGETS);
	}
	if (!append) {
		/* Every reactor has left whatever it was doing with the old
		 * target before the slot is written over. */
		tgt_fanout(srv, barrier_here, NULL);
		memset(t, 0, sizeof(*t));
		t->deleted = true;
	}
	rc = tgt_target_open(t, srv, tc, err, errlen);
	if (rc < 0) {
		for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
			tgt_lun_close(t, l);
		}
		t->deleted = true;
		return rc;
	}
	__atomic_store_n(&t->deleted, false, __ATOMIC_RELEASE);
	if (append) {
		__atomic_store_n(&srv->ntargets, srv->ntargets + 1, __ATOMIC_RELEASE);
	}
	srv->conf->targets[srv->conf->ntargets++] = *tc;
	idm_log("target", "target %s created with %u LUN(s)", tc->iqn, tc->nluns);
	return 0;
}

/* ---- asking a target's (or a portal's) sessions to go ---- */

struct target_logout {
	struct idm_server *srv;
	const struct tgt_target *t; /* its sessions, or */
	const struct tgt_portal *p; /* the connections that came in there */
	bool close;
};

/* srv->lock held. */
static bool logout_picks(const struct target_logout *q, const struct tgt_conn *tc)
{
	return q->p ? tc->portal == q->p : tc->sess && tc->sess->target == q->t;
}

static void target_logout_here(void *arg, unsigned slot)
{
	struct target_logout *q = arg;
	struct idm_reactor *self = idm_reactor_self();

	(void)slot;
	for (;;) {
		struct tgt_conn *hit = NULL;

		pthread_mutex_lock(&q->srv->lock);
		for (struct tgt_conn *tc = q->srv->conns; tc; tc = tc->next) {
			if (tc->ic->reactor == self && logout_picks(q, tc) &&
			    (q->close ? !tc->close_sent : !tc->logout_asked)) {
				hit = tc;
				break;
			}
		}
		if (hit && q->close) {
			hit->close_sent = true;
		} else if (hit) {
			hit->logout_asked = true;
		}
		pthread_mutex_unlock(&q->srv->lock);
		if (!hit) {
			return;
		}
		/* Freed only on this reactor: hit stays while we run. */
		if (q->close) {
			idm_conn_close(hit->ic);
		} else if (hit->ic->state == IDM_CONN_LOGGED_IN && hit->sess) {
			tgt_async_logout_request(hit, (uint16_t)q->srv->tun.shutdown_grace_s);
		}
	}
}

static unsigned picked_conns(const struct target_logout *q)
{
	unsigned n = 0;

	pthread_mutex_lock(&q->srv->lock);
	for (struct tgt_conn *tc = q->srv->conns; tc; tc = tc->next) {
		n += logout_picks(q, tc);
	}
	pthread_mutex_unlock(&q->srv->lock);
	return n;
}

static unsigned target_sessions(struct idm_server *srv, const struct tgt_target *t)
{
	struct target_logout q = {.srv = srv, .t = t};

	return picked_conns(&q);
}

/* Logout requests, the grace period, then close what is left. */
static bool picked_end(struct target_logout *q)
{
	struct idm_server *srv = q->srv;
	unsigned waited;

	if (picked_conns(q) == 0) {
		return true;
	}
	tgt_fanout(srv, target_logout_here, q);
	for (waited = 0; waited < srv->tun.shutdown_grace_s * 100 && picked_conns(q); waited++) {
		pause_ms(10);
	}
	q->close = true;
	tgt_fanout(srv, target_logout_here, q);
	for (waited = 0; waited < LIVE_DRAIN_S * 100 && picked_conns(q); waited++) {
		pause_ms(10);
	}
	return picked_conns(q) == 0;
}

static bool target_sessions_end(struct idm_server *srv, const struct tgt_target *t)
{
	struct target_logout q = {.srv = srv, .t = t};

	return picked_end(&q);
}

/* ---- portals ---- */

static bool same_portal(const struct idm_portal_conf *a, const char *addr, uint16_t port)
{
	return strcasecmp(a->addr, addr) == 0 && a->port == port;
}

static struct tgt_portal *portal_find(struct idm_server *srv, const char *addr, uint16_t port)
{
	for (unsigned i = 0; i < srv->nportals; i++) {
		if (!srv->portals[i].removed && same_portal(&srv->portals[i].conf, addr, port)) {
			return &srv->portals[i];
		}
	}
	return NULL;
}

int tgt_live_portal_add(struct idm_server *srv, const struct idm_portal_conf *pc, char *err,
                        size_t errlen)
{
	struct tgt_portal *p = NULL;
	unsigned i;
	int rc;

	if (portal_find(srv, pc->addr, pc->port)) {
		return live_fail(err, errlen, -EEXIST, "portal %s port %u exists", pc->addr,
		                 pc->port);
	}
	for (i = 0; i < IDM_MAX_PORTALS && !p; i++) {
		if (i >= srv->nportals || srv->portals[i].removed) {
			p = &srv->portals[i];
		}
	}
	if (!p || srv->conf->nportals >= IDM_MAX_PORTALS) {
		return live_fail(err, errlen, -ENOSPC, "no room for portal %s (at most %u)",
		                 pc->addr, IDM_MAX_PORTALS);
	}
	memset(p, 0, sizeof(*p));
	p->conf = *pc;
	rc = tgt_portal_open(srv, p, err, errlen);
	if (rc < 0) {
		tgt_portal_close(p);
		p->removed = true;
		return rc;
	}
	if ((unsigned)(p - srv->portals) >= srv->nportals) {
		srv->nportals = (unsigned)(p - srv->portals) + 1;
	}
	srv->conf->portals[srv->conf->nportals++] = *pc;
	idm_log("target", "portal %s port %u tpgt %u added", pc->addr, pc->port, pc->tpgt);
	return 0;
}

int tgt_live_portal_remove(struct idm_server *srv, const char *addr, uint16_t port, char *err,
                           size_t errlen)
{
	struct tgt_portal *p = portal_find(srv, addr, port);
	struct target_logout q = {.srv = srv, .p = p};
	struct idm_target_conf_all *c = srv->conf;
	unsigned had;

	if (!p) {
		return live_fail(err, errlen, -ENOENT, "no portal %s port %u", addr, port);
	}
	/* No new connection comes in; those there log out, or are closed
	 * after the grace period. The slot stays until the last is gone. */
	tgt_portal_close(p);
	had = picked_conns(&q);
	if (!picked_end(&q)) {
		return live_fail(err, errlen, -EBUSY, "portal %s port %u: connections did not end",
		                 addr, port);
	}
	p->removed = true;
	for (unsigned i = 0; i < c->nportals; i++) {
		if (same_portal(&c->portals[i], addr, port)) {
			memmove(&c->portals[i], &c->portals[i + 1],
			        (c->nportals - i - 1) * sizeof(c->portals[0]));
			c->nportals--;
			break;
		}
	}
	idm_log("target", "portal %s port %u removed (%u connection(s) ended)", addr, port, had);
	return 0;
}

int tgt_live_target_delete(struct idm_server *srv, const char *iqn, char *err, size_t errlen)
{
	struct tgt_target *t = live_target(srv, iqn, err, errlen);
	unsigned had;

	if (!t) {
		return -ENOENT;
	}
	had = target_sessions(srv, t);
	pthread_mutex_lock(&srv->lock); /* a login publishing now sees it (login.c) */
	__atomic_store_n(&t->deleted, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&srv->lock);
	if (!target_sessions_end(srv, t)) {
		return live_fail(err, errlen, -EBUSY, "%s: sessions did not end%.0u", iqn, 0);
	}
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		if (t->luns.lu[l]) {
			struct scsi_lu *lu = t->luns.lu[l];

			__atomic_store_n(&t->luns.lu[l], NULL, __ATOMIC_RELEASE);
			lu_drain(srv, lu);
			tgt_lun_free(t, l, lu);
		}
	}
	for (unsigned i = 0; i < srv->conf->ntargets; i++) {
		struct idm_target_conf *tc = srv->conf->targets;

		if (strcasecmp(tc[i].iqn, iqn) == 0) {
			memmove(&tc[i], &tc[i + 1], (srv->conf->ntargets - i - 1) * sizeof(*tc));
			srv->conf->ntargets--;
			break;
		}
	}
	idm_log("target", "target %s deleted (%u session(s) ended)", t->iqn, had);
	return 0;
}

/* ---- access lists ---- */

/* A copy of target iqn's configuration to change, or NULL. */
static struct idm_target_conf *conf_copy(struct idm_server *srv, const char *iqn, char *err,
                                         size_t errlen)
{
	struct idm_target_conf *cur = conf_target(srv, iqn), *copy;

	if (!cur || !tgt_target_find(srv, iqn)) {
		snprintf(err, errlen, "no target %s", iqn);
		return NULL;
	}
	copy = malloc(sizeof(*copy));
	if (!copy) {
		snprintf(err, errlen, "no memory");
		return NULL;
	}
	*copy = *cur;
	return copy;
}

static int acl_index(const struct idm_target_conf *tc, const char *initiator)
{
	for (unsigned i = 0; i < tc->nacl; i++) {
		if (strcasecmp(tc->acl[i], initiator) == 0) {
			return (int)i;
		}
	}
	return -1;
}

int tgt_live_acl_add(struct idm_server *srv, const char *iqn, const char *initiator,
                     const struct idm_acl_chap *chap, const struct idm_lun_map *map, char *err,
                     size_t errlen)
{
	struct idm_target_conf *tc = conf_copy(srv, iqn, err, errlen);
	int i;

	if (!tc) {
		return -ENOENT;
	}
	i = acl_index(tc, initiator);
	if (i < 0 && tc->nacl >= IDM_MAX_ACL) {
		free(tc);
		return live_fail(err, errlen, -ENOSPC, "%s: the ACL is full (%u entries)", iqn,
		                 IDM_MAX_ACL);
	}
	if (i < 0) {
		i = (int)tc->nacl++;
		snprintf(tc->acl[i], sizeof(tc->acl[i]), "%s", initiator);
	}
	tc->acl_chap[i] = *chap;
	if (map) {
		tc->acl_map[i] = *map;
	}
	tgt_live_target_access(srv, tc);
	idm_chap_account_clear(&tc->acl_chap[i].chap);
	free(tc);
	idm_log("target", "%s: ACL admits %s%s%s", iqn, initiator,
	        chap->has ? " with its own CHAP account" : "",
	        map && map->has ? " and LUN map" : "");
	return 0;
}

int tgt_live_acl_remove(struct idm_server *srv, const char *iqn, const char *initiator, char *err,
                        size_t errlen)
{
	struct idm_target_conf *tc = conf_copy(srv, iqn, err, errlen);
	int i;

	if (!tc) {
		return -ENOENT;
	}
	i = acl_index(tc, initiator);
	if (i < 0) {
		free(tc);
		snprintf(err, errlen, "%s: %s is not in the ACL", iqn, initiator);
		return -ENOENT;
	}
	memmove(&tc->acl[i], &tc->acl[i + 1], (tc->nacl - (unsigned)i - 1) * sizeof(tc->acl[0]));
	memmove(&tc->acl_chap[i], &tc->acl_chap[i + 1],
	        (tc->nacl - (unsigned)i - 1) * sizeof(tc->acl_chap[0]));
	memmove(&tc->acl_map[i], &tc->acl_map[i + 1],
	        (tc->nacl - (unsigned)i - 1) * sizeof(tc->acl_map[0]));
	tc->nacl--;
	memset(&tc->acl[tc->nacl], 0, sizeof(tc->acl[0]));
	memset(&tc->acl_chap[tc->nacl], 0, sizeof(tc->acl_chap[0]));
	memset(&tc->acl_map[tc->nacl], 0, sizeof(tc->acl_map[0]));
	tgt_live_target_access(srv, tc);
	free(tc);
	idm_log("target", "%s: %s removed from the ACL", iqn, initiator);
	return 0;
}
