/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reload (SIGHUP): the config file read again is compared with the
 * running configuration and the difference applied through live.c's
 * functions, the same the control socket calls: targets deleted and
 * created, LUNs removed, added or resized, a target's alias, ACL and CHAP
 * account and LUN maps replaced (new logins use them; sessions already in
 * go on, seeing their new LUN map), portals added and removed. Reactors,
 * tunables and discovery settings need a restart: a change to them is
 * named in the log and left alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "target/admin.h"

static const struct idm_target_conf *find_target(const struct idm_target_conf_all *c,
                                                 const char *iqn)
{
	for (unsigned i = 0; i < c->ntargets; i++) {
		if (strcasecmp(c->targets[i].iqn, iqn) == 0) {
			return &c->targets[i];
		}
	}
	return NULL;
}

static const struct idm_lun_conf *find_lun(const struct idm_target_conf *t, uint32_t lun)
{
	for (unsigned i = 0; i < t->nluns; i++) {
		if (t->luns[i].lun == lun) {
			return &t->luns[i];
		}
	}
	return NULL;
}

/* "file:/a.img:1G" and "file:/a.img:2G" name one store at two sizes:
 * true with the new size in *size. */
static bool same_store_resized(const struct idm_lun_conf *a, const struct idm_lun_conf *b,
                               uint64_t *size)
{
	const char *ca = strrchr(a->spec, ':'), *cb = strrchr(b->spec, ':');

	if (!ca || !cb || a->block_size != b->block_size || ca - a->spec != cb - b->spec ||
	    strncmp(a->spec, b->spec, (size_t)(ca - a->spec)) != 0) {
		return false;
	}
	return idm_parse_size(cb + 1, size) == 0;
}

/* Same cache setting and identity. A LUN whose identity changes is
 * another disk to its initiators: it is removed and added again. */
static bool same_ident(const struct idm_lun_conf *a, const struct idm_lun_conf *b, const char *iqn)
{
	char sa[33], sb[33];
	uint8_t na[16], nb[16];

	if (a->write_cache_set != b->write_cache_set ||
	    (a->write_cache_set && a->write_cache != b->write_cache) ||
	    strcmp(a->vendor, b->vendor) != 0 || strcmp(a->product, b->product) != 0 ||
	    idm_lun_ident_effective(a, iqn, sa, na) < 0 ||
	    idm_lun_ident_effective(b, iqn, sb, nb) < 0) {
		return false;
	}
	return strcmp(sa, sb) == 0 && memcmp(na, nb, sizeof(na)) == 0;
}

/* On a reactor: its sessions of target `t` whose initiator the ACL lists
 * take their entry's LUN map; a changed one is a REPORTED LUNS DATA HAS
 * CHANGED for that nexus. Sessions of initiators the ACL no longer lists
 * go on as they were (as their CHAP login did). */
struct remap {
	struct idm_server *srv;
	const struct tgt_target *t;
	unsigned changed; /* under srv->lock */
};

static void remap_here(void *arg, unsigned slot)
{
	struct remap *r = arg;
	struct idm_reactor *self = idm_reactor_self();
	struct scsi_lun_map *view = malloc(sizeof(*view));

	(void)slot;
	if (!view) {
		return;
	}
	pthread_mutex_lock(&r->srv->lock);
	for (struct tgt_conn *tc = r->srv->conns; tc; tc = tc->next) {
		struct tgt_session *s = tc->sess;

		if (tc->ic->reactor != self || !s || s->target != r->t ||
		    (r->t->nacl && !tgt_acl_lists(r->t, s->initiator_name))) {
			continue;
		}
		/* The session belongs to this reactor: its commands read the
		 * map here, between two of them. */
		tgt_acl_lun_view(r->t, s->initiator_name, view);
		r->changed += scsi_lun_map_replace(&s->map, view);
	}
	pthread_mutex_unlock(&r->srv->lock);
	free(view);
}

void tgt_live_target_access(struct idm_server *srv, const struct idm_target_conf *next)
{
	struct remap r = {.srv = srv};
	struct tgt_target *t = tgt_target_find(srv, next->iqn);
	struct idm_target_conf *tc = NULL;

	for (unsigned i = 0; i < srv->conf->ntargets; i++) {
		if (strcasecmp(srv->conf->targets[i].iqn, next->iqn) == 0) {
			tc = &srv->conf->targets[i];
		}
	}
	if (!t || !tc) {
		return;
	}
	/* Logins read these under srv->lock (login.c, text.c). */
	pthread_mutex_lock(&srv->lock);
	t->nacl = next->nacl;
	memcpy(t->acl, next->acl, sizeof(t->acl));
	memcpy(t->acl_chap, next->acl_chap, sizeof(t->acl_chap));
	memcpy(t->acl_map, next->acl_map, sizeof(t->acl_map));
	t->chap = next->chap;
	t->has_chap = next->has_chap;
	pthread_mutex_unlock(&srv->lock);
	r.t = t;
	tgt_fanout(srv, remap_here, &r);
	if (r.changed) {
		idm_log("target", "%s: %u session(s) see other LUNs now", t->iqn, r.changed);
	}
	snprintf(t->alias, sizeof(t->alias), "%s", next->alias);
	tc->nacl = next->nacl;
	memcpy(tc->acl, next->acl, sizeof(tc->acl));
	memcpy(tc->acl_chap, next->acl_chap, sizeof(tc->acl_chap));
	memcpy(tc->acl_map, next->acl_map, sizeof(tc->acl_map));
	tc->chap = next->chap;
	tc->has_chap = next->has_chap;
	snprintf(tc->alias, sizeof(tc->alias), "%s", next->alias);
}

static bool access_differs(const struct idm_target_conf *a, const struct idm_target_conf *b)
{
	return a->nacl != b->nacl || memcmp(a->acl, b->acl, sizeof(a->acl)) != 0 ||
	       memcmp(a->acl_chap, b->acl_chap, sizeof(a->acl_chap)) != 0 ||
	       memcmp(a->acl_map, b->acl_map, sizeof(a->acl_map)) != 0 ||
	       a->has_chap != b->has_chap || memcmp(&a->chap, &b->chap, sizeof(a->chap)) != 0 ||
	       strcmp(a->alias, b->alias) != 0;
}

/* The LUNs of one target that stays. */
static int reload_luns(struct idm_server *srv, const struct idm_target_conf *next, char *err,
                       size_t errlen)
{
	const struct idm_target_conf *cur = find_target(srv->conf, next->iqn);
	uint64_t size;
	int rc = 0;

	/* Walk a copy: removing shifts the running list. */
	for (unsigned i = cur->nluns; rc == 0 && i-- > 0;) {
		struct idm_lun_conf old = cur->luns[i];
		const struct idm_lun_conf *now = find_lun(next, old.lun);

		if (now && !same_ident(&old, now, next->iqn)) {
			now = NULL; /* removed here, added back below */
		}
		if (now && strcmp(now->spec, old.spec) == 0 && now->block_size == old.block_size) {
			rc = tgt_live_lun_read_only(srv, next->iqn, old.lun, now->read_only, err,
			                            errlen);
			continue;
		}
		if (now && same_store_resized(&old, now, &size)) {
			rc = tgt_live_lun_resize(srv, next->iqn, old.lun, size, true, err, errlen);
			if (rc == 0) {
				rc = tgt_live_lun_read_only(srv, next->iqn, old.lun, now->read_only,
				                            err, errlen);
			}
		} else {
			rc = tgt_live_lun_remove(srv, next->iqn, old.lun, err, errlen);
		}
	}
	for (unsigned i = 0; rc == 0 && i < next->nluns; i++) {
		if (!find_lun(find_target(srv->conf, next->iqn), next->luns[i].lun)) {
			rc = tgt_live_lun_add(srv, next->iqn, &next->luns[i], err, errlen);
		}
	}
	return rc;
}

static const struct idm_portal_conf *find_portal(const struct idm_target_conf_all *c,
                                                 const struct idm_portal_conf *p)
{
	for (unsigned i = 0; i < c->nportals; i++) {
		if (strcasecmp(c->portals[i].addr, p->addr) == 0 && c->portals[i].port == p->port) {
			return &c->portals[i];
		}
	}
	return NULL;
}

/* Portals gone or changed (tpgt, transports) are removed, new ones added. */
static int reload_portals(struct idm_server *srv, const struct idm_target_conf_all *next, char *err,
                          size_t errlen)
{
	int rc = 0;

	for (unsigned i = srv->conf->nportals; rc == 0 && i-- > 0;) {
		struct idm_portal_conf old = srv->conf->portals[i];
		const struct idm_portal_conf *now = find_portal(next, &old);

		if (!now || now->tpgt != old.tpgt || now->transports != old.transports) {
			rc = tgt_live_portal_remove(srv, old.addr, old.port, err, errlen);
		}
	}
	for (unsigned i = 0; rc == 0 && i < next->nportals; i++) {
		if (!find_portal(srv->conf, &next->portals[i])) {
			rc = tgt_live_portal_add(srv, &next->portals[i], err, errlen);
		}
	}
	return rc;
}

/* Say what a reload leaves alone. */
static void restart_only(const struct idm_target_conf_all *cur,
                         const struct idm_target_conf_all *next)
{
	if (memcmp(&cur->tun, &next->tun, sizeof(cur->tun)) != 0 ||
	    cur->nreactors != next->nreactors) {
		idm_log("target", "reload: tunables or reactors changed: they need a restart");
	}
	if (memcmp(&cur->gateway, &next->gateway, sizeof(cur->gateway)) != 0) {
		idm_log("target", "reload: the gateway group changed: it needs a restart");
	}
}

int tgt_live_reload(struct idm_server *srv, const struct idm_target_conf_all *next, char *err,
                    size_t errlen)
{
	int rc;

	restart_only(srv->conf, next);
	rc = reload_portals(srv, next, err, errlen);
	for (unsigned i = srv->conf->ntargets; rc == 0 && i-- > 0;) {
		char iqn[IDM_NAME_MAX];

		snprintf(iqn, sizeof(iqn), "%s", srv->conf->targets[i].iqn);
		if (!find_target(next, iqn)) {
			rc = tgt_live_target_delete(srv, iqn, err, errlen);
		}
	}
	for (unsigned i = 0; rc == 0 && i < next->ntargets; i++) {
		const struct idm_target_conf *nt = &next->targets[i];
		const struct idm_target_conf *cur = find_target(srv->conf, nt->iqn);

		if (!cur) {
			rc = tgt_live_target_create(srv, nt, err, errlen);
			continue;
		}
		if (access_differs(cur, nt)) {
			tgt_live_target_access(srv, nt);
		}
		rc = reload_luns(srv, nt, err, errlen);
	}
	return rc;
}
