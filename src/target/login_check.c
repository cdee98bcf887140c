/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks of a Login Request's header against the login stage
 * (RFC 7143 sections 6.3 and 11.12): version range, T/C bits, CSG/NSG;
 * and whether a target's ACL admits an initiator.
 * Pure: unit tested in tests/target.
 */
#include <strings.h>

#include "target/target_int.h"

/* The only protocol version there is (RFC 7143 section 11.12.4). */
#define TGT_VERSION 0x00

static uint16_t check_version(const uint8_t *bhs)
{
	uint8_t vmax = bhs[LOGIN_VERSION_MAX];
	uint8_t vmin = bhs[LOGIN_VERSION_MIN];

	if (vmin > vmax || vmin > TGT_VERSION) {
		return ISCSI_LOGIN_UNSUPPORTED_VERSION;
	}
	return ISCSI_LOGIN_OK;
}

static uint16_t check_stages(const uint8_t *bhs, int cur_stage, bool first)
{
	uint8_t flags = bhs[BHS_FLAGS];
	int csg = (flags & LOGIN_CSG_MASK) >> LOGIN_CSG_SHIFT;
	int nsg = flags & LOGIN_NSG_MASK;
	bool transit = flags & LOGIN_FLAG_TRANSIT;

	if (transit && (flags & LOGIN_FLAG_CONTINUE)) {
		return ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (csg != ISCSI_SECURITY_NEGOTIATION && csg != ISCSI_OP_PARMS_NEGOTIATION) {
		return ISCSI_LOGIN_INITIATOR_ERROR;
	}
	/* The first request may skip the security stage; later ones must be
	 * in the stage the last response put us in. */
	if (!first && csg != cur_stage) {
		return ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (transit && (nsg <= csg || nsg == 2)) {
		return ISCSI_LOGIN_INITIATOR_ERROR;
	}
	return ISCSI_LOGIN_OK;
}

uint16_t tgt_login_check(const uint8_t *bhs, int cur_stage, bool first)
{
	uint16_t st = ISCSI_LOGIN_OK;

	if (first) {
		st = check_version(bhs);
	}
	if (st == ISCSI_LOGIN_OK) {
		st = check_stages(bhs, cur_stage, first);
	}
	return st;
}

/* A transport moving data by RDMA is iSER; any other is TCP. */
bool tgt_offered_over(const struct tgt_target *t, const struct idm_transport *tp)
{
	uint8_t bit = tp && tp->caps->rdma ? IDM_OFFER_ISER : IDM_OFFER_TCP;

	return t->offered_on == 0 || (t->offered_on & bit) != 0;
}

/*
 * iSCSI names compare in their normalized (lower case, RFC 3722) form;
 * an initiator sending upper case ASCII is the same initiator.
 */
bool tgt_acl_admits(const struct tgt_target *t, const char *initiator)
{
	return t->nacl == 0 || tgt_acl_lists(t, initiator);
}

const struct idm_chap_account *tgt_acl_account(const struct tgt_target *t, const char *initiator)
{
	for (unsigned i = 0; initiator && i < t->nacl && i < IDM_MAX_ACL; i++) {
		if (t->acl_chap[i].has && strcasecmp(t->acl[i], initiator) == 0) {
			return &t->acl_chap[i].chap;
		}
	}
	return t->has_chap ? &t->chap : NULL;
}

bool tgt_acl_lists(const struct tgt_target *t, const char *initiator)
{
	for (unsigned i = 0; initiator && i < t->nacl && i < IDM_MAX_ACL; i++) {
		if (strcasecmp(t->acl[i], initiator) == 0) {
			return true;
		}
	}
	return false;
}

void tgt_acl_lun_view(const struct tgt_target *t, const char *initiator, struct scsi_lun_map *out)
{
	for (unsigned i = 0; initiator && i < t->nacl && i < IDM_MAX_ACL; i++) {
		const struct idm_lun_map *m = &t->acl_map[i];

		if (!m->has || strcasecmp(t->acl[i], initiator) != 0) {
			continue;
		}
		scsi_lun_map_init_none(out);
		for (unsigned k = 0; k < m->n && k < IDM_MAX_LUNS_PER_TARGET; k++) {
			scsi_lun_map_set(out, m->e[k].lun, m->e[k].target_lun);
		}
		return;
	}
	scsi_lun_map_init_all(out);
}
