/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * How a SCSI command's data moves over iSCSI, and its residuals
 * (RFC 7143 section 11.4.5). The initiator's Expected Data Transfer
 * Length and READ/WRITE flags may disagree with the CDB; the target then
 * moves no more than both allow and reports the difference:
 *   - EDTL shorter than the CDB: overflow; a read sends EDTL bytes, a
 *     write writes only the whole blocks EDTL covers;
 *   - EDTL longer: underflow; only what the CDB asks moves;
 *   - a flag for the other direction: that direction's EDTL is 0; write
 *     data the CDB has no use for is taken and dropped.
 * Pure functions: unit tested in tests/target.
 */
#include "target/target_int.h"

void tgt_residual(uint32_t expected, uint32_t moved, uint8_t *flags, uint32_t *residual)
{
	*flags = 0;
	*residual = 0;
	if (moved > expected) {
		*flags = SCSI_RSP_FLAG_OVERFLOW;
		*residual = moved - expected;
	} else if (moved < expected) {
		*flags = SCSI_RSP_FLAG_UNDERFLOW;
		*residual = expected - moved;
	}
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* A write the CDB asks for: fetch min(EDTL, xfer_len), trim to blocks. */
static void plan_write(const struct tgt_xfer_in *in, struct tgt_xfer *out)
{
	uint32_t edtl = in->w ? in->edtl : 0;

	out->rx_len = idm_min_u32(edtl, in->xfer_len);
	out->unsol_limit = in->w ? idm_min_u32(in->unsol_limit, edtl) : 0;
	out->buf_len = max_u32(in->xfer_len, out->unsol_limit);
	out->nblocks = in->nblocks;
	if (edtl < in->xfer_len) {
		if (in->nblocks && in->block_size) {
			out->nblocks = edtl / in->block_size;
			out->skip_exec = out->nblocks == 0;
		}
	}
	/* Write data never lands in the store's memory directly: it arrives
	 * before the command runs, and a task aborted meanwhile (SAM-5) must
	 * leave the medium as it was. The store takes it at execution. */
	out->direct_ok = false;
}

/* Anything else: a read, or no data; write data is only discarded. */
static void plan_other(const struct tgt_xfer_in *in, struct tgt_xfer *out)
{
	out->nblocks = in->nblocks;
	out->buf_len = in->dir == SCSI_DIR_READ ? in->xfer_len : 0;
	if (in->w) {
		out->discard = true;
		out->rx_len = idm_min_u32(in->edtl, TGT_DISCARD_MAX);
		out->unsol_limit = idm_min_u32(in->unsol_limit, out->rx_len);
		out->buf_len = max_u32(out->buf_len, max_u32(out->rx_len, out->unsol_limit));
		return;
	}
	out->direct_ok = in->dir == SCSI_DIR_READ && in->r && in->edtl >= in->xfer_len;
}

void tgt_xfer_plan(const struct tgt_xfer_in *in, struct tgt_xfer *out)
{
	*out = (struct tgt_xfer){0};
	if (in->dir == SCSI_DIR_WRITE) {
		plan_write(in, out);
	} else {
		plan_other(in, out);
	}
}
