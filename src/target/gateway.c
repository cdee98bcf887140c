/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Gateway groups: several idmd, each one gateway, export the same rbd
 * images under the same target names, so an initiator sees one LU per
 * image behind one path per gateway.
 *
 * - Identity: the LU's serial and NAA derive from the image id (the
 *   store's medium_id), equal on every gateway with no coordination.
 * - Ports: gateway N is target port group N with relative target port N;
 *   its portals' tpgt is N, so its I_T nexuses differ from another
 *   gateway's, as SPC-4 wants of two target ports.
 * - ALUA (implicit): the gateway whose cluster client holds the image's
 *   exclusive lock is active/optimized, the others active/non-optimized
 *   (or standby with "standby": true). The store tells us the holder,
 *   read from the cluster (on_owner), and we hand the LU the states of
 *   every group. librbd moves the lock to a gateway that writes, after
 *   the holder's writes in flight finish, so two gateways never write at
 *   once; a holder that died loses the lock when the cluster finds its
 *   client dead, and is blocklisted. While nobody holds it, every group
 *   is active/non-optimized: any path may write and so take the lock.
 * - Explicit ALUA: SET TARGET PORT GROUPS for this gateway's group (and
 *   idmadm gateway move) make this gateway take the lock.
 * - Persistent reservations live in the cluster (scsi_lu_share_pr).
 *
 * A LUN whose store is not shared (mem, file) stays a plain LU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/gateway.h"

struct tgt_gw_lun {
	struct tgt_target *t;
	struct scsi_lu *lu;
	const struct idm_gateway_conf *gw; /* the server's, lives as long */
	uint16_t owner;                    /* atomic: lock holder, 0 none */
	bool joined;                       /* on_owner ran at least once */
};

int idm_gateway_conf_check(const struct idm_gateway_conf *g, char *err, size_t errlen)
{
	bool listed = false;

	if (g->id == 0) {
		snprintf(err, errlen, "gateway: \"id\" (1-65535) is required");
		return -EINVAL;
	}
	for (unsigned i = 0; i < g->ngroup && i < IDM_GATEWAYS_MAX; i++) {
		listed = listed || g->group[i] == g->id;
	}
	if (!listed) {
		snprintf(err, errlen, "gateway: \"group\" must list this gateway's id %u", g->id);
		return -EINVAL;
	}
	return 0;
}

int idm_portal_tpgt_fix(struct idm_portal_conf *p, const struct idm_gateway_conf *g, char *err,
                        size_t errlen)
{
	if (p->tpgt == 0) {
		p->tpgt = g->id ? g->id : 1;
	}
	if (g->id && p->tpgt != g->id) {
		snprintf(err, errlen,
		         "portal %s: tpgt %u, but a gateway's portals are its target port group %u",
		         p->addr, p->tpgt, g->id);
		return -EINVAL;
	}
	return 0;
}

void tgt_gateway_states(const struct idm_gateway_conf *gw, uint16_t owner, struct scsi_alua *out)
{
	uint8_t other = gw->standby ? SCSI_ALUA_STANDBY : SCSI_ALUA_ACTIVE_NON_OPTIMIZED;

	out->n = gw->ngroup < SCSI_ALUA_GROUPS_MAX ? gw->ngroup : SCSI_ALUA_GROUPS_MAX;
	for (unsigned i = 0; i < out->n; i++) {
		out->group[i].id = gw->group[i];
		if (owner == 0) {
			out->group[i].state = SCSI_ALUA_ACTIVE_NON_OPTIMIZED;
		} else {
			out->group[i].state =
			    gw->group[i] == owner ? SCSI_ALUA_ACTIVE_OPTIMIZED : other;
		}
	}
}

/* The store's control thread: the lock holder is `owner` now. */
static void gw_on_owner(void *arg, uint16_t owner)
{
	struct tgt_gw_lun *g = arg;
	uint16_t was = __atomic_exchange_n(&g->owner, owner, __ATOMIC_ACQ_REL);
	struct scsi_alua a;

	tgt_gateway_states(g->gw, owner, &a);
	scsi_lu_set_alua(g->lu, &a);
	if (was != owner || !g->joined) {
		idm_log("gateway", "%s LUN %llu: %s", g->t->iqn, (unsigned long long)g->lu->lun,
		        owner == 0           ? "no gateway holds the image's lock"
		        : owner == g->gw->id ? "this gateway holds the image's lock (optimized)"
		                             : "another gateway holds the image's lock");
	}
	g->joined = true;
}

static void gw_take_done(void *arg, int rc)
{
	struct tgt_gw_lun *g = arg;

	if (rc < 0) {
		idm_log("gateway", "WARN %s LUN %llu: cannot take the image's lock: %s", g->t->iqn,
		        (unsigned long long)g->lu->lun, strerror(-rc));
	}
}

/* Make this gateway the optimized path: take the image's lock. */
static int gw_take(struct tgt_gw_lun *g)
{
	struct idm_backing *store = g->lu->store;

	store->cluster->gateway_take(store, gw_take_done, g);
	return 0;
}

/* SET TARGET PORT GROUPS: only this gateway can make itself optimized
 * (it takes the lock); asking for another group is refused. */
static int gw_alua_request(void *arg, struct scsi_lu *lu, uint16_t group)
{
	struct tgt_gw_lun *g = arg;

	(void)lu;
	return group == g->gw->id ? gw_take(g) : -EOPNOTSUPP;
}

bool tgt_gateway_shares(const struct idm_server *srv, const struct idm_backing *store)
{
	return srv->conf && srv->conf->gateway.id && store->cluster;
}

int tgt_gateway_ident(const struct idm_lun_conf *lc, struct idm_backing *store, char serial[33],
                      uint8_t naa[16])
{
	const char *id = store->cluster->medium_id(store);
	char medium[160], dserial[33];
	uint8_t dnaa[16];
	int rc;

	if (lc->serial[0] && lc->has_naa) {
		memcpy(serial, lc->serial, sizeof(lc->serial));
		memcpy(naa, lc->naa, sizeof(lc->naa));
		return 0;
	}
	/* A store that started offline does not know its image yet: the
	 * identity must not be a guess that differs between gateways. */
	if (!id || !id[0]) {
		return -ENOTCONN;
	}
	snprintf(medium, sizeof(medium), "rbd-image:%s", id);
	rc = scsi_lu_ident_derive(medium, 0, dserial, dnaa);
	if (rc < 0) {
		return rc;
	}
	if (!lc->serial[0]) {
		memcpy(serial, dserial, sizeof(dserial));
	}
	if (!lc->has_naa) {
		memcpy(naa, dnaa, sizeof(dnaa));
	}
	return 0;
}

int tgt_gateway_lun_join(struct tgt_target *t, unsigned l, struct scsi_lu *lu, char *why,
                         size_t whylen)
{
	const struct idm_gateway_conf *gw = &t->srv->conf->gateway;
	struct idm_backing *store = lu->store;
	struct tgt_gw_lun *g;
	struct scsi_alua a;
	int rc;

	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(why, whylen, "no memory");
		return -ENOMEM;
	}
	g->t = t;
	g->lu = lu;
	g->gw = gw;
	t->gw[l] = g;
	tgt_gateway_states(gw, 0, &a);
	scsi_lu_set_alua(lu, &a);
	rc = scsi_lu_share_pr(lu, why, whylen);
	if (rc < 0) {
		return rc;
	}
	scsi_lu_set_alua_request(lu, gw_alua_request, g);
	rc = store->cluster->gateway_join(store, gw->id, gw_on_owner, g);
	if (rc < 0) {
		snprintf(why, whylen, "cannot join the gateway group: %s", strerror(-rc));
	}
	return rc;
}

/* After the LU and its store are gone: no callback can run any more. */
void tgt_gateway_lun_free(struct tgt_target *t, unsigned l)
{
	free(t->gw[l]);
	t->gw[l] = NULL;
}

uint16_t tgt_gateway_owner(const struct tgt_target *t, unsigned l, bool *shared)
{
	const struct tgt_gw_lun *g = t->gw[l];

	*shared = g != NULL;
	return g ? __atomic_load_n(&g->owner, __ATOMIC_ACQUIRE) : 0;
}

int tgt_gateway_move_here(struct tgt_target *t, unsigned l)
{
	struct tgt_gw_lun *g = t->gw[l];

	return g ? gw_take(g) : -ENOENT;
}
