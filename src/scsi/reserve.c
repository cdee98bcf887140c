/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPC-2 reservations: RESERVE(6)/(10) and RELEASE(6)/(10) of the whole
 * LU by one I_T nexus, released by RELEASE, by a reset and by the loss of
 * the nexus. With persistent reservations (SPC-4 5.13.3, CRH = 0): any
 * registration or persistent reservation makes RESERVE and RELEASE
 * conflict, and an SPC-2 reservation makes PERSISTENT RESERVE conflict.
 */
#include <string.h>

#include "pr_int.h"

#define RESERVE10_3RDPTY 0x10
#define RESERVE10_LONGID 0x02

static bool pr_in_use(const struct scsi_pr *pr)
{
	if (pr->type != PR_TYPE_NONE) {
		return true;
	}
	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (pr->regs[i].used) {
			return true;
		}
	}
	return false;
}

int scsi_reserve_setup(struct scsi_cmd *cmd)
{
	uint8_t op = cmd->cdb[0];

	/* Third-party and extent reservations are not supported. */
	if ((op == SCSI_OP_RESERVE10 || op == SCSI_OP_RELEASE10) &&
	    (cmd->cdb[1] & (RESERVE10_3RDPTY | RESERVE10_LONGID))) {
		return scsi_cmd_bad_field(cmd, 1, -1);
	}
	if ((op == SCSI_OP_RESERVE6 || op == SCSI_OP_RELEASE6) && (cmd->cdb[1] & 0x1f)) {
		return scsi_cmd_bad_field(cmd, 1, -1);
	}
	return 0;
}

int pr_spc2_apply(struct scsi_pr *pr, const struct scsi_nexus *n, bool reserve)
{
	bool mine = pr->r2_held && pr_port_is(&pr->r2_port, n);

	if (pr_in_use(pr)) {
		return 1;
	}
	if (!reserve) {
		/* RELEASE by another nexus, or with nothing reserved: GOOD. */
		if (mine) {
			pr->r2_held = false;
		}
		return 0;
	}
	if (pr->r2_held && !mine) {
		return 1;
	}
	pr->r2_held = true;
	pr_port_of(&pr->r2_port, n);
	return 0;
}

void scsi_reserve_exec(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	uint8_t op = cmd->cdb[0];
	bool reserve = op == SCSI_OP_RESERVE6 || op == SCSI_OP_RESERVE10;
	int conflict = 1;

	if (cmd->nexus && lu->pr->shared) {
		pr_share_exec(cmd);
		return;
	}
	if (cmd->nexus) {
		pthread_mutex_lock(&lu->pr->lock);
		conflict = pr_spc2_apply(lu->pr, cmd->nexus, reserve);
		pr_publish(lu);
		pthread_mutex_unlock(&lu->pr->lock);
	}
	if (conflict) {
		scsi_cmd_conflict(cmd);
	}
	scsi_cmd_complete(cmd);
}

/* A reset ends the SPC-2 reservation (called from scsi_lu_raise_ua). */
void scsi_reserve_reset(struct scsi_lu *lu)
{
	if (!lu->pr) {
		return;
	}
	if (lu->pr->shared) {
		pr_share_release_spc2(lu, NULL);
		return;
	}
	pthread_mutex_lock(&lu->pr->lock);
	lu->pr->r2_held = false;
	pr_publish(lu);
	pthread_mutex_unlock(&lu->pr->lock);
}

bool scsi_lu_nexus_leaving(struct scsi_lu *lu, const struct scsi_nexus *n,
                           void (*released)(void *arg), void *arg)
{
	struct scsi_pr *pr = lu ? lu->pr : NULL;
	bool shared;

	if (!pr || !n || !n->initiator_port[0]) {
		return false;
	}
	pthread_mutex_lock(&pr->lock);
	shared = pr->shared;
	pthread_mutex_unlock(&pr->lock);
	return shared && pr_share_release_spc2_then(lu, n, released, arg);
}

void scsi_lu_nexus_gone(struct scsi_lu *lu, const struct scsi_nexus *n)
{
	struct scsi_pr *pr = lu ? lu->pr : NULL;

	if (!pr || !n || !n->initiator_port[0]) {
		return;
	}
	pthread_mutex_lock(&pr->lock);
	if (pr->r2_held && pr_port_is(&pr->r2_port, n) && pr->shared) {
		pthread_mutex_unlock(&pr->lock);
		pr_share_release_spc2(lu, n);
		return;
	}
	if (pr->r2_held && pr_port_is(&pr->r2_port, n)) {
		pr->r2_held = false;
	}
	pr_publish(lu);
	pthread_mutex_unlock(&pr->lock);
}
