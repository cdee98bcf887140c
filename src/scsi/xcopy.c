/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * EXTENDED COPY (LID1, SPC-4 6.4) between LUs of the same target, named
 * by identification descriptor target descriptors (E4h, NAA), with
 * block-to-block segment descriptors (02h); and RECEIVE COPY RESULTS
 * (SPC-4 6.18): COPY STATUS, OPERATING PARAMETERS, FAILED SEGMENT
 * DETAILS.
 *
 * The copy runs synchronously inside the command in bounded chunks,
 * off the normal READ/WRITE path: it is a rare, bulk operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "pr_int.h"

#define XCOPY_HDR_LEN 16
#define XCOPY_TGT_LEN 32 /* identification descriptor target descriptor */
#define XCOPY_B2B_LEN 28 /* block to block segment descriptor */
#define XCOPY_TGT_IDENT 0xe4
#define XCOPY_SEG_B2B 0x02
#define XCOPY_MAX_TGT 2 /* a source and a destination */
#define XCOPY_MAX_SEG 64
#define XCOPY_MAX_DESC_LIST 4096
#define XCOPY_MAX_SEG_BLOCKS 0xffffu /* the descriptor's 16-bit count */
#define XCOPY_CHUNK (1u << 20)       /* bytes read then written per step */
#define XCOPY_USAGE_HOLD_MAX 1       /* LIST ID USAGE 00b, 01b: hold results */
#define XCOPY_SEG_DC 0x02

/* RECEIVE COPY RESULTS service actions. */
#define RCR_COPY_STATUS 0x00
#define RCR_OP_PARAMS 0x03
#define RCR_FAILED_SEGMENT 0x04
#define RCR_BUF_LEN (64 + XCOPY_SENSE_LEN) /* the longest response */

/* Sense codes only EXTENDED COPY uses. */
#define SENSE_COPY_ABORTED 0x0a
#define ASC_TOO_MANY_TGT 0x2606
#define ASC_UNSUPP_TGT 0x2607
#define ASC_TOO_MANY_SEG 0x2608
#define ASC_UNSUPP_SEG 0x2609
#define ASC_TGT_NOT_REACHABLE 0x0d02

#define COPY_STATUS_GOOD 0x01
#define COPY_STATUS_ERROR 0x02

/* One parsed EXTENDED COPY parameter list. */
struct xcopy {
	uint8_t list_id;
	uint8_t usage;
	const uint8_t *tgt; /* target descriptors */
	unsigned ntgt;
	const uint8_t *seg; /* segment descriptors */
	unsigned nseg;
	/* progress, for COPY STATUS */
	uint16_t done_segs;
	uint64_t done_bytes;
};

int scsi_xcopy_setup(struct scsi_cmd *cmd)
{
	uint32_t len = get_be32(cmd->cdb + 10);

	if (len == 0) {
		return 0; /* nothing to copy: GOOD */
	}
	if (len > XCOPY_HDR_LEN + XCOPY_MAX_DESC_LIST) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                     SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	cmd->dir = SCSI_DIR_WRITE;
	cmd->xfer_len = len;
	return 0;
}

/* Count and check the target descriptors; 0 or an ASC (sense set). */
static int parse_targets(struct scsi_cmd *cmd, struct xcopy *x, uint32_t len)
{
	for (uint32_t off = 0; off < len; off += XCOPY_TGT_LEN) {
		if (x->ntgt == XCOPY_MAX_TGT) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_TOO_MANY_TGT);
			return -1;
		}
		if (x->tgt[off] != XCOPY_TGT_IDENT) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_UNSUPP_TGT);
			return -1;
		}
		if (len - off < XCOPY_TGT_LEN) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
			                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
			return -1;
		}
		x->ntgt++;
	}
	return 0;
}

static int parse_segments(struct scsi_cmd *cmd, struct xcopy *x, uint32_t len)
{
	for (uint32_t off = 0; off < len; off += XCOPY_B2B_LEN) {
		const uint8_t *d = x->seg + off;

		if (x->nseg == XCOPY_MAX_SEG) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_TOO_MANY_SEG);
			return -1;
		}
		if (d[0] != XCOPY_SEG_B2B) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_UNSUPP_SEG);
			return -1;
		}
		if (len - off < XCOPY_B2B_LEN) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
			                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
			return -1;
		}
		if (get_be16(d + 2) != XCOPY_B2B_LEN - 4) {
			scsi_cmd_bad_param(cmd, (uint16_t)(XCOPY_HDR_LEN + off + 2), -1);
			return -1;
		}
		x->nseg++;
	}
	return 0;
}

/* The parameter list header and descriptor lists; 0 or -1 (sense set). */
static int xcopy_parse(struct scsi_cmd *cmd, struct xcopy *x)
{
	const uint8_t *p = cmd->data;
	uint32_t len = cmd->xfer_len;
	uint32_t tgt_len, seg_len, inline_len;

	if (len < XCOPY_HDR_LEN) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return -1;
	}
	memset(x, 0, sizeof(*x));
	x->list_id = p[0];
	x->usage = (p[1] >> 3) & 0x03;
	tgt_len = get_be16(p + 2);
	seg_len = get_be32(p + 8);
	inline_len = get_be32(p + 12);
	if (inline_len) {
		scsi_cmd_bad_param(cmd, 12, -1); /* no inline data support */
		return -1;
	}
	if ((uint64_t)tgt_len + seg_len > XCOPY_MAX_DESC_LIST ||
	    XCOPY_HDR_LEN + tgt_len + seg_len > len) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return -1;
	}
	x->tgt = p + XCOPY_HDR_LEN;
	x->seg = x->tgt + tgt_len;
	if (parse_targets(cmd, x, tgt_len) || parse_segments(cmd, x, seg_len)) {
		return -1;
	}
	return 0;
}

/* The LU of the target named by descriptor `i`, or NULL. */
static struct scsi_lu *xcopy_target(const struct scsi_cmd *cmd, const struct xcopy *x, uint16_t i)
{
	const uint8_t *d;
	const uint8_t *desig;

	if (i >= x->ntgt || !cmd->luns) {
		return NULL;
	}
	d = x->tgt + (size_t)i * XCOPY_TGT_LEN;
	desig = d + 4;
	/* Peripheral device type 0 (block), an NAA designator of the LU. */
	if ((d[1] & 0x1f) != 0 || (desig[1] & 0x0f) != 0x03 || (desig[1] & 0x30) != 0 ||
	    desig[3] != 16) {
		return NULL;
	}
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		struct scsi_lu *lu = cmd->luns->lu[l];

		if (lu && memcmp(lu->naa, desig + 4, 16) == 0 &&
		    get_be24(d + 29) == lu->block_size) {
			return lu;
		}
	}
	return NULL;
}

/*
 * Every LU the copy names is checked as a READ of each source and a
 * WRITE of each destination addressed to it would be, not only the LU
 * the command was sent to: another nexus' reservation, a stopped unit
 * and (with take_ua) this nexus' unit attention stop the copy. 0, or 1
 * with status and sense set. A target that names no LU fails later, as
 * COPY ABORTED, when its segment runs.
 */
static int xcopy_check_lus(struct scsi_cmd *cmd, const struct xcopy *x, bool take_ua)
{
	for (unsigned i = 0; i < x->nseg; i++) {
		const uint8_t *d = x->seg + (size_t)i * XCOPY_B2B_LEN;
		struct scsi_lu *src = xcopy_target(cmd, x, get_be16(d + 4));
		struct scsi_lu *dst = xcopy_target(cmd, x, get_be16(d + 6));

		if ((src && scsi_cmd_check_lu(cmd, src, false, take_ua)) ||
		    (dst && scsi_cmd_check_lu(cmd, dst, true, take_ua))) {
			return 1;
		}
	}
	return 0;
}

/* Copy [src_lba, +nblocks) to dst_lba in chunks; 0 or -errno. */
static int copy_blocks(struct scsi_lu *src, uint64_t src_lba, struct scsi_lu *dst, uint64_t dst_lba,
                       uint32_t nblocks, uint8_t *buf, struct xcopy *x)
{
	uint32_t step = XCOPY_CHUNK / src->block_size;

	while (nblocks) {
		uint32_t n = nblocks < step ? nblocks : step;
		int rc = scsi_store_sync(src, IDM_BACKING_READ, src_lba, n, buf);

		if (rc == 0) {
			scsi_wait_for_rmw(dst);
			rc = scsi_store_sync(dst, IDM_BACKING_WRITE, dst_lba, n, buf);
		}
		if (rc) {
			return rc;
		}
		src_lba += n;
		dst_lba += n;
		nblocks -= n;
		x->done_bytes += (uint64_t)n * src->block_size;
	}
	return 0;
}

static bool range_ok(const struct scsi_lu *lu, uint64_t lba, uint32_t n)
{
	return lba <= lu->num_blocks && n <= lu->num_blocks - lba;
}

/* Run segment `i`; 0, or -1 with COPY ABORTED sense set. */
static int run_segment(struct scsi_cmd *cmd, struct xcopy *x, unsigned i, uint8_t *buf)
{
	const uint8_t *d = x->seg + (size_t)i * XCOPY_B2B_LEN;
	struct scsi_lu *src = xcopy_target(cmd, x, get_be16(d + 4));
	struct scsi_lu *dst = xcopy_target(cmd, x, get_be16(d + 6));
	uint32_t nblocks = get_be16(d + 10);
	uint64_t src_lba = get_be64(d + 12), dst_lba = get_be64(d + 20);

	if (!src || !dst) {
		scsi_cmd_set_sense(cmd, SENSE_COPY_ABORTED, ASC_TGT_NOT_REACHABLE);
		return -1;
	}
	/* Same block size on both sides (checked): DC changes nothing. */
	if (src->block_size != dst->block_size || !range_ok(src, src_lba, nblocks) ||
	    !range_ok(dst, dst_lba, nblocks)) {
		scsi_cmd_set_sense(cmd, SENSE_COPY_ABORTED, SCSI_ASC_NONE);
		return -1;
	}
	if (copy_blocks(src, src_lba, dst, dst_lba, nblocks, buf, x) != 0) {
		scsi_cmd_set_sense(cmd, SENSE_COPY_ABORTED, SCSI_ASC_NONE);
		return -1;
	}
	return 0;
}

/* Keep the outcome for RECEIVE COPY RESULTS (LIST ID USAGE 00b/01b). */
static void hold_results(struct scsi_cmd *cmd, const struct xcopy *x)
{
	struct scsi_pr *pr = cmd->lu->pr;
	const char *iport = cmd->nexus ? cmd->nexus->initiator_port : "";
	struct xcopy_held *h = NULL;

	pthread_mutex_lock(&pr->lock);
	for (unsigned i = 0; i < XCOPY_HELD_MAX && !h; i++) {
		struct xcopy_held *c = &pr->held[i];

		if (c->used && c->list_id == x->list_id && strcmp(c->iport, iport) == 0) {
			h = c;
		}
	}
	if (!h) {
		h = &pr->held[pr->held_next];
		pr->held_next = (pr->held_next + 1) % XCOPY_HELD_MAX;
	}
	memset(h, 0, sizeof(*h));
	h->used = true;
	h->list_id = x->list_id;
	h->cmd_status = cmd->status;
	h->status = cmd->status == SCSI_STATUS_GOOD ? COPY_STATUS_GOOD : COPY_STATUS_ERROR;
	h->segments = x->done_segs;
	h->units = x->done_bytes > UINT32_MAX ? 1 : 0;
	h->count = (uint32_t)(h->units ? x->done_bytes >> 10 : x->done_bytes);
	h->sense_len = cmd->sense_len < XCOPY_SENSE_LEN ? cmd->sense_len : XCOPY_SENSE_LEN;
	memcpy(h->sense, cmd->sense, h->sense_len);
	snprintf(h->iport, sizeof(h->iport), "%s", iport);
	pthread_mutex_unlock(&pr->lock);
}

void scsi_xcopy_exec(struct scsi_cmd *cmd)
{
	struct xcopy x;
	uint8_t *buf;

	if (cmd->xfer_len == 0) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (scsi_buffer_short(cmd) || xcopy_parse(cmd, &x) < 0 || xcopy_check_lus(cmd, &x, true)) {
		scsi_cmd_complete(cmd);
		return;
	}
	buf = malloc(XCOPY_CHUNK);
	if (!buf) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		scsi_cmd_complete(cmd);
		return;
	}
	for (unsigned i = 0; i < x.nseg; i++) {
		if (run_segment(cmd, &x, i, buf) < 0) {
			break;
		}
		x.done_segs++;
	}
	free(buf);
	if (x.usage <= XCOPY_USAGE_HOLD_MAX) {
		hold_results(cmd, &x);
	}
	scsi_cmd_complete(cmd);
}

/* ---- RECEIVE COPY RESULTS ---- */

/* The held results of (nexus, list id) copied out, or false. */
static bool find_held(struct scsi_cmd *cmd, uint8_t list_id, struct xcopy_held *out)
{
	struct scsi_pr *pr = cmd->lu->pr;
	const char *iport = cmd->nexus ? cmd->nexus->initiator_port : "";
	bool found = false;

	pthread_mutex_lock(&pr->lock);
	for (unsigned i = 0; i < XCOPY_HELD_MAX && !found; i++) {
		const struct xcopy_held *h = &pr->held[i];

		if (h->used && h->list_id == list_id && strcmp(h->iport, iport) == 0) {
			*out = *h;
			found = true;
		}
	}
	pthread_mutex_unlock(&pr->lock);
	return found;
}

int scsi_rcr_setup(struct scsi_cmd *cmd)
{
	struct xcopy_held h;
	uint8_t sa = cmd->cdb[1] & 0x1f;

	if (sa != RCR_OP_PARAMS && !find_held(cmd, cmd->cdb[2], &h)) {
		return scsi_cmd_bad_field(cmd, 2, -1);
	}
	return scsi_cmd_data_in(cmd, get_be32(cmd->cdb + 10), RCR_BUF_LEN);
}

static uint32_t rcr_op_params(uint8_t *buf)
{
	static const uint8_t codes[] = {XCOPY_SEG_B2B, XCOPY_TGT_IDENT};
	uint32_t n = 44 + sizeof(codes);

	memset(buf, 0, n);
	put_be32(buf, n - 4);
	buf[4] = 0; /* SNLID: no LID4 */
	put_be16(buf + 8, XCOPY_MAX_TGT);
	put_be16(buf + 10, XCOPY_MAX_SEG);
	put_be32(buf + 12, XCOPY_MAX_DESC_LIST);
	put_be32(buf + 16, XCOPY_MAX_SEG_BLOCKS * 512u); /* bytes, at 512 per block */
	put_be32(buf + 20, 0);                           /* no inline data */
	put_be32(buf + 24, 0);                           /* no held data */
	put_be16(buf + 34, 1);                           /* one copy at a time per command */
	buf[36] = 1;
	buf[37] = 9; /* data segment granularity 2^9 */
	buf[43] = sizeof(codes);
	memcpy(buf + 44, codes, sizeof(codes));
	return n;
}

static uint32_t rcr_copy_status(const struct xcopy_held *h, uint8_t *buf)
{
	memset(buf, 0, 12);
	put_be32(buf, 8);
	buf[4] = h->status;
	put_be16(buf + 5, h->segments);
	buf[7] = h->units;
	put_be32(buf + 8, h->count);
	return 12;
}

static uint32_t rcr_failed_segment(const struct xcopy_held *h, uint8_t *buf)
{
	if (h->status == COPY_STATUS_GOOD) {
		memset(buf, 0, 4); /* nothing failed: no details */
		return 4;
	}
	memset(buf, 0, 60 + XCOPY_SENSE_LEN);
	put_be32(buf, 56 + h->sense_len);
	buf[56] = h->cmd_status;
	put_be16(buf + 58, h->sense_len);
	memcpy(buf + 60, h->sense, h->sense_len);
	return 60u + h->sense_len;
}

void scsi_rcr_exec(struct scsi_cmd *cmd)
{
	uint8_t buf[RCR_BUF_LEN];
	struct xcopy_held h;
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint32_t n;

	if (sa == RCR_OP_PARAMS) {
		n = rcr_op_params(buf);
	} else if (!find_held(cmd, cmd->cdb[2], &h)) {
		/* Dropped since setup (another copy took the slot). */
		scsi_cmd_set_sense_field(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                         SCSI_ASC_INVALID_FIELD_IN_CDB, true, 2, -1);
		scsi_cmd_complete(cmd);
		return;
	} else if (sa == RCR_COPY_STATUS) {
		n = rcr_copy_status(&h, buf);
	} else {
		n = rcr_failed_segment(&h, buf);
	}
	scsi_cmd_put_data(cmd, buf, n);
	scsi_cmd_complete(cmd);
}
