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
	uint16_t optimized;                /* atomic: record "alua", 0 none */
	uint64_t resets;                   /* atomic: record "lu": resets seen */
	bool joined;                       /* atomic: on_owner ran once */
};

/* Records the gateways share (besides "pr"): one line each. */
#define REC_ALUA "alua" /* "optimized N": the group's optimized gateway */
#define REC_LU "lu"     /* "resets N": LOGICAL UNIT RESETs so far */
#define REC_TRIES 8     /* compare-and-swap rounds before giving up */

/* Pure: the number after `word` in a one-line record; 0 when the record
 * is empty (never written) or says something else. */
uint64_t tgt_gateway_record_value(const char *buf, size_t len, const char *word)
{
	char line[64];
	size_t wl = strlen(word);
	unsigned long long v;
	char *end;

	if (len == 0 || len >= sizeof(line)) {
		return 0;
	}
	memcpy(line, buf, len);
	line[len] = '\0';
	if (strncmp(line, word, wl) != 0 || line[wl] != ' ' || line[wl + 1] < '0' ||
	    line[wl + 1] > '9') {
		return 0;
	}
	v = strtoull(line + wl + 1, &end, 10);
	if (*end == '\n') {
		end++; /* one line, nothing after it */
	}
	return *end == '\0' ? (uint64_t)v : 0;
}

/* Read a one-line record's value and version. 0 or -errno. */
static int rec_get(struct idm_backing *store, const char *key, const char *word, uint64_t *value,
                   uint64_t *version)
{
	char buf[64];
	size_t len = 0;
	int rc = store->cluster->record_read(store, key, buf, sizeof(buf), &len, version);

	*value = rc == 0 ? tgt_gateway_record_value(buf, len, word) : 0;
	return rc;
}

static int rec_put(struct idm_backing *store, const char *key, const char *word, uint64_t value,
                   uint64_t expect)
{
	char buf[64];
	uint64_t version;
	int n = snprintf(buf, sizeof(buf), "%s %llu\n", word, (unsigned long long)value);

	return store->cluster->record_write(store, key, buf, (size_t)n, expect, &version);
}

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

/* The LU's ALUA states: the group's optimized gateway (record "alua") is
 * active/optimized. It is not simply the lock holder: librbd hands the
 * lock to any gateway that writes and back, and an initiator writing
 * through two paths would see the states (and a unit attention) change
 * with every write. The optimized gateway changes only when it is moved
 * (idmadm gateway move, SET TARGET PORT GROUPS), when it died (another
 * holds the lock and it no longer watches the image), or when none was
 * chosen yet and one takes the lock. */
static void gw_apply(struct tgt_gw_lun *g, uint16_t optimized)
{
	uint16_t was = __atomic_exchange_n(&g->optimized, optimized, __ATOMIC_ACQ_REL);
	struct scsi_alua a;

	tgt_gateway_states(g->gw, optimized, &a);
	scsi_lu_set_alua(g->lu, &a);
	if (was != optimized || !__atomic_load_n(&g->joined, __ATOMIC_ACQUIRE)) {
		idm_log("gateway", "%s LUN %llu: %s (gateway %u)", g->t->iqn,
		        (unsigned long long)g->lu->lun,
		        optimized == 0           ? "no gateway is optimized yet"
		        : optimized == g->gw->id ? "this gateway is optimized"
		                                 : "another gateway is optimized",
		        optimized);
	}
}

/* Control thread: make this gateway the optimized one in the record;
 * `force` (a move) whatever it said, else only when it named none or a
 * gateway that is no longer alive. */
static void gw_claim(struct tgt_gw_lun *g, bool force)
{
	struct idm_backing *store = g->lu->store;
	uint64_t cur, version;
	int rc = -ECANCELED;

	for (int i = 0; i < REC_TRIES && rc == -ECANCELED; i++) {
		rc = rec_get(store, REC_ALUA, "optimized", &cur, &version);
		if (rc < 0 || cur == g->gw->id ||
		    (!force && cur != 0 &&
		     store->cluster->gateway_live(store, (uint16_t)cur) != 0)) {
			break;
		}
		rc = rec_put(store, REC_ALUA, "optimized", g->gw->id, version);
	}
	if (rc < 0) {
		idm_log("gateway", "WARN %s LUN %llu: cannot record the optimized gateway: %s",
		        g->t->iqn, (unsigned long long)g->lu->lun, strerror(-rc));
	}
}

/* The store's control thread: the lock holder is `owner` now. */
static void gw_on_owner(void *arg, uint16_t owner)
{
	struct tgt_gw_lun *g = arg;

	__atomic_store_n(&g->owner, owner, __ATOMIC_RELEASE);
	if (owner == g->gw->id) {
		gw_claim(g, false);
	}
	if (!__atomic_load_n(&g->joined, __ATOMIC_ACQUIRE)) {
		gw_apply(g, __atomic_load_n(&g->optimized, __ATOMIC_ACQUIRE));
		__atomic_store_n(&g->joined, true, __ATOMIC_RELEASE);
	}
}

/* A gateway wrote record "alua" (store thread; reads only). */
static void gw_alua_changed(void *arg)
{
	struct tgt_gw_lun *g = arg;
	struct idm_backing *store = g->lu->store;
	uint64_t optimized, version;

	if (rec_get(store, REC_ALUA, "optimized", &optimized, &version) == 0 &&
	    optimized <= UINT16_MAX) {
		gw_apply(g, (uint16_t)optimized);
	}
}

/* A gateway wrote record "lu" (store thread; reads only): a LOGICAL UNIT
 * RESET through another gateway is a unit attention for our nexuses too;
 * its effects on shared state (the SPC-2 reservation) are done already. */
static void gw_lu_changed(void *arg)
{
	struct tgt_gw_lun *g = arg;
	uint64_t resets, version;

	if (rec_get(g->lu->store, REC_LU, "resets", &resets, &version) == 0 &&
	    resets > __atomic_load_n(&g->resets, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&g->resets, resets, __ATOMIC_RELEASE);
		scsi_lu_raise_ua_only(g->lu, SCSI_ASC_BUS_DEVICE_RESET);
	}
}

static void gw_take_done(void *arg, int rc)
{
	struct tgt_gw_lun *g = arg;

	if (rc < 0) {
		idm_log("gateway", "WARN %s LUN %llu: cannot take the image's lock: %s", g->t->iqn,
		        (unsigned long long)g->lu->lun, strerror(-rc));
		return;
	}
	gw_claim(g, true);
}

/* Make this gateway the optimized path: take the image's lock, then say
 * so in the record (gw_take_done, on the store's control thread). */
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

bool tgt_gateway_member(const struct idm_server *srv)
{
	return srv->conf && srv->conf->gateway.id;
}

bool tgt_gateway_shares(const struct idm_server *srv, const struct idm_backing *store)
{
	return tgt_gateway_member(srv) && store->cluster;
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
	rc = store->cluster->record_watch(store, REC_ALUA, gw_alua_changed, g);
	if (rc == 0) {
		rc = store->cluster->record_watch(store, REC_LU, gw_lu_changed, g);
	}
	if (rc < 0) {
		snprintf(why, whylen, "cannot watch the group's records: %s", strerror(-rc));
		return rc;
	}
	/* what was recorded before we watched: the optimized gateway, and
	 * resets already counted (not ours to report) */
	gw_alua_changed(g);
	{
		uint64_t n = 0, version;

		rec_get(store, REC_LU, "resets", &n, &version);
		__atomic_store_n(&g->resets, n, __ATOMIC_RELEASE);
	}
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

uint16_t tgt_gateway_owner(const struct tgt_target *t, unsigned l, bool *shared,
                           uint16_t *optimized)
{
	const struct tgt_gw_lun *g = t->gw[l];

	*shared = g != NULL;
	*optimized = g ? __atomic_load_n(&g->optimized, __ATOMIC_ACQUIRE) : 0;
	return g ? __atomic_load_n(&g->owner, __ATOMIC_ACQUIRE) : 0;
}

/* ---- LOGICAL UNIT RESET through this gateway ---- */

struct gw_reset {
	struct idm_backing_io io; /* first: the store's offload carries it */
	struct tgt_gw_lun *g;
	void (*done)(void *arg);
	void *arg;
};

/* Control thread: count the reset in record "lu"; every other gateway's
 * watch raises the unit attention before the write returns. */
static void gw_reset_announce(struct idm_backing_io *io)
{
	struct gw_reset *r = (struct gw_reset *)io;
	struct tgt_gw_lun *g = r->g;
	uint64_t n, version;
	int rc = -ECANCELED;

	for (int i = 0; i < REC_TRIES && rc == -ECANCELED; i++) {
		rc = rec_get(g->lu->store, REC_LU, "resets", &n, &version);
		if (rc == 0) {
			/* our own watch must not raise it a second time here */
			__atomic_store_n(&g->resets, n + 1, __ATOMIC_RELEASE);
			rc = rec_put(g->lu->store, REC_LU, "resets", n + 1, version);
		}
	}
	if (rc < 0) {
		idm_log("gateway", "WARN %s LUN %llu: other gateways were not told of a reset: %s",
		        g->t->iqn, (unsigned long long)g->lu->lun, strerror(-rc));
	}
}

static void gw_reset_done(struct idm_backing_io *io, int status)
{
	struct gw_reset *r = (struct gw_reset *)io;

	(void)status;
	r->done(r->arg);
	free(r);
}

bool tgt_gateway_lu_reset(struct tgt_target *t, unsigned l, struct idm_reactor *home,
                          void (*done)(void *arg), void *arg)
{
	struct tgt_gw_lun *g = t->gw[l];
	struct gw_reset *r;

	if (!g || !(r = calloc(1, sizeof(*r)))) {
		return false;
	}
	r->g = g;
	r->done = done;
	r->arg = arg;
	r->io.done = gw_reset_done;
	g->lu->store->ops->offload(g->lu->store, &r->io, gw_reset_announce, home);
	return true;
}

int tgt_gateway_move_here(struct tgt_target *t, unsigned l)
{
	struct tgt_gw_lun *g = t->gw[l];

	return g ? gw_take(g) : -ENOENT;
}
