/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Initiator bookkeeping without I/O: the CmdSN window, ExpStatSN, task
 * tags and the split of write data into immediate, unsolicited and
 * solicited Data-Out PDUs.
 */
#include "initiator/ini_priv.h"

void ini_sn_init(struct ini_sn *sn, uint32_t first_cmd_sn)
{
	sn->cmd_sn = first_cmd_sn;
	sn->exp_cmd_sn = first_cmd_sn;
	sn->max_cmd_sn = first_cmd_sn;
	sn->exp_stat_sn = 0;
}

/*
 * RFC 7143 4.2.2.1: a MaxCmdSN below ExpCmdSN - 1 is invalid and the
 * pair is ignored; otherwise each only moves forward (PDUs may arrive
 * out of order on other connections or carry stale values).
 */
void ini_sn_window(struct ini_sn *sn, uint32_t exp, uint32_t max)
{
	if (sna_lt(max, exp - 1)) {
		return;
	}
	if (sna_gt(exp, sn->exp_cmd_sn)) {
		sn->exp_cmd_sn = exp;
	}
	if (sna_gt(max, sn->max_cmd_sn)) {
		sn->max_cmd_sn = max;
	}
}

bool ini_sn_can_send(const struct ini_sn *sn)
{
	return !sna_gt(sn->cmd_sn, sn->max_cmd_sn);
}

void ini_sn_stat(struct ini_sn *sn, uint32_t stat_sn)
{
	if (!sna_lt(stat_sn + 1, sn->exp_stat_sn)) {
		sn->exp_stat_sn = stat_sn + 1;
	}
}

uint32_t ini_itt_next(uint32_t *counter, bool mgmt)
{
	uint32_t itt;

	*counter = (*counter + 1) & ~INI_ITT_MGMT;
	itt = *counter | (mgmt ? INI_ITT_MGMT : 0);
	if (itt == IDM_RESERVED_TAG) {
		return ini_itt_next(counter, mgmt);
	}
	return itt;
}

void ini_burst_init(struct ini_burst *b, uint32_t off, uint32_t len, uint32_t ttt)
{
	b->off = off;
	b->end = off + len;
	b->data_sn = 0;
	b->ttt = ttt;
}

bool ini_burst_next(struct ini_burst *b, uint32_t max_dsl, struct ini_dataout *out)
{
	uint32_t left = b->end - b->off;

	if (b->off >= b->end || max_dsl == 0) {
		return false;
	}
	out->off = b->off;
	out->len = left < max_dsl ? left : max_dsl;
	out->data_sn = b->data_sn++;
	b->off += out->len;
	out->final = b->off == b->end;
	return true;
}

void ini_unsol_plan(const struct idm_params *p, uint32_t len, struct ini_unsol *u)
{
	uint32_t first = idm_min_u32(len, p->first_burst_length);

	u->immediate = p->immediate_data ? idm_min_u32(first, p->max_xmit_dsl) : 0;
	u->end = p->initial_r2t ? u->immediate : first;
}
