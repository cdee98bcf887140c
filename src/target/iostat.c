/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data path's statistics: each answered SCSI command is counted on
 * its connection and in its LU's slot for the running reactor. Both are
 * written by that reactor only, so no lock and no atomic is taken; the
 * control thread reads them through messages to the reactors (admin.c).
 */
#include <time.h>

#include "target/target_int.h"

uint64_t tgt_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void tgt_iostat_account(struct tgt_task *tt, uint32_t bytes)
{
	struct idm_conn *c = tt->t->conn;
	struct tgt_conn *tc = tgt_conn_of(c);
	struct scsi_cmd *cmd = &tt->cmd;
	enum tgt_op op = tgt_op_of_opcode(tt->cdb[0]);
	bool error = cmd->status != SCSI_STATUS_GOOD;
	uint64_t now = tgt_now_us();
	uint64_t us = now > tt->start_us ? now - tt->start_us : 0;
	struct tgt_io_stats *slots;
	unsigned slot;

	if (!tc) {
		return;
	}
	tgt_io_stats_add(&tc->io, op, bytes, error, us);
	if (!cmd->lu || !tc->sess || !tc->sess->target || cmd->lu->lun >= SCSI_MAX_LUNS) {
		return;
	}
	slots = tc->sess->target->lun_stats[cmd->lu->lun];
	slot = idm_reactor_index(c->reactor);
	if (slots && slot < tc->srv->nslots) {
		tgt_io_stats_add(&slots[slot], op, bytes, error, us);
	}
}
