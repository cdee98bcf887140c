/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER initiator: the pure parts (login proposal, the SCSI Command's
 * iSER header, the connect request's private data). No state, no device.
 */
#include <string.h>

#include "transport/iser/iser_ini.h"

void iser_ini_params(struct idm_params *p, uint32_t rdsl)
{
	p->rdma_extensions = true;
	p->initiator_rdsl = rdsl;
	p->target_rdsl = rdsl;
	p->max_outstanding_unexpected_pdus = 0; /* no limit */
	p->header_digest = false;
	p->data_digest = false;
	/* a Send carries no more than a receive buffer holds */
	p->max_recv_dsl = rdsl;
	p->immediate_data = false;
	p->initial_r2t = true;
}

void iser_ini_cmd_hdr(struct iser_hdr *h, bool is_read, bool is_write, uint32_t stag, uint64_t va)
{
	memset(h, 0, sizeof(*h));
	if (is_read) {
		h->flags |= ISER_RSV;
		h->read_stag = stag;
		h->read_va = va;
	}
	if (is_write) {
		/* no unsolicited data: the Write Base Offset is the buffer's start */
		h->flags |= ISER_WSV;
		h->write_stag = stag;
		h->write_va = va;
	}
}

void iser_ini_cm_priv(uint8_t out[ISER_CM_PRIV_LEN])
{
	struct iser_cm_priv p = {.zbva_unsupported = true, .send_inv_unsupported = true};

	iser_cm_priv_encode(out, &p);
}

bool iser_ini_answer_ignorable(const char *key, const char *value)
{
	static const char *const keys[] = {"TargetRecvDataSegmentLength",
	                                   "InitiatorRecvDataSegmentLength",
	                                   "MaxOutstandingUnexpectedPDUs"};

	if (strcmp(value, "NotUnderstood") != 0 && strcmp(value, "Irrelevant") != 0) {
		return false;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i]) == 0) {
			return true;
		}
	}
	return false;
}
