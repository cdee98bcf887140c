/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The results of EXTENDED COPY commands a LU holds (LIST ID USAGE 00b,
 * 01b), per initiator port and list identifier, and RECEIVE COPY
 * RESULTS (SPC-4 6.18): COPY STATUS (with the progress of a copy still
 * running), OPERATING PARAMETERS, FAILED SEGMENT DETAILS. The table
 * lives in the LU's shared state (struct scsi_pr) under its lock.
 */
#include <stdio.h>
#include <string.h>

#include "idm/wire.h"
#include "pr_int.h"

/* RECEIVE COPY RESULTS service actions. */
#define RCR_COPY_STATUS 0x00
#define RCR_OP_PARAMS 0x03
#define RCR_FAILED_SEGMENT 0x04
#define RCR_BUF_LEN (64 + XCOPY_SENSE_LEN) /* the longest response */

#define ASC_OPERATION_IN_PROGRESS 0x0016

/* COPY MANAGER STATUS of RECEIVE COPY STATUS (SPC-4 6.18.3). */
#define COPY_STATUS_IN_PROGRESS 0x00
#define COPY_STATUS_GOOD 0x01
#define COPY_STATUS_ERROR 0x02

/* ---- held results ---- */

/* Under pr->lock: the results of (initiator port, list id), or NULL. */
static struct xcopy_held *held_find(struct scsi_pr *pr, const char *iport, uint8_t list_id)
{
	for (unsigned i = 0; i < XCOPY_HELD_MAX; i++) {
		struct xcopy_held *h = &pr->held[i];

		if (h->used && h->list_id == list_id && strcmp(h->iport, iport) == 0) {
			return h;
		}
	}
	return NULL;
}

/* Under pr->lock: a slot for new results: a free one, else the next
 * one round robin that no copy in progress uses; NULL when all are. */
static struct xcopy_held *held_slot(struct scsi_pr *pr)
{
	for (unsigned i = 0; i < XCOPY_HELD_MAX; i++) {
		if (!pr->held[i].used) {
			return &pr->held[i];
		}
	}
	for (unsigned n = 0; n < XCOPY_HELD_MAX; n++) {
		struct xcopy_held *h = &pr->held[pr->held_next];

		pr->held_next = (pr->held_next + 1) % XCOPY_HELD_MAX;
		if (h->status != COPY_STATUS_IN_PROGRESS) {
			return h;
		}
	}
	return NULL;
}

static const char *cmd_iport(const struct scsi_cmd *cmd)
{
	return cmd->nexus ? cmd->nexus->initiator_port : "";
}

int xcopy_held_begin(struct scsi_cmd *cmd, uint8_t list_id, bool hold)
{
	struct scsi_pr *pr = cmd->lu->pr;
	struct xcopy_held *h;
	int rc = 0;

	pthread_mutex_lock(&pr->lock);
	h = held_find(pr, cmd_iport(cmd), list_id);
	if (h && h->status == COPY_STATUS_IN_PROGRESS) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_OPERATION_IN_PROGRESS);
		rc = 1;
	} else if (hold && (h || (h = held_slot(pr)) != NULL)) {
		memset(h, 0, sizeof(*h));
		h->used = true;
		h->list_id = list_id;
		h->status = COPY_STATUS_IN_PROGRESS;
		snprintf(h->iport, sizeof(h->iport), "%s", cmd_iport(cmd));
	}
	pthread_mutex_unlock(&pr->lock);
	return rc;
}

void xcopy_held_update(struct scsi_cmd *cmd, uint8_t list_id, uint16_t segments, uint64_t bytes,
                       bool end)
{
	struct scsi_pr *pr = cmd->lu->pr;
	struct xcopy_held *h;

	pthread_mutex_lock(&pr->lock);
	h = held_find(pr, cmd_iport(cmd), list_id);
	if (h) {
		h->segments = segments;
		h->units = bytes > UINT32_MAX ? 1 : 0;
		h->count = (uint32_t)(h->units ? bytes >> 10 : bytes);
	}
	if (h && end) {
		h->cmd_status = cmd->status;
		h->status = cmd->status == SCSI_STATUS_GOOD ? COPY_STATUS_GOOD : COPY_STATUS_ERROR;
		h->sense_len = cmd->sense_len < XCOPY_SENSE_LEN ? cmd->sense_len : XCOPY_SENSE_LEN;
		memcpy(h->sense, cmd->sense, h->sense_len);
	}
	pthread_mutex_unlock(&pr->lock);
}

/* ---- RECEIVE COPY RESULTS ---- */

/* The held results of (nexus, list id) copied out, or false. */
static bool find_held(struct scsi_cmd *cmd, uint8_t list_id, struct xcopy_held *out)
{
	struct scsi_pr *pr = cmd->lu->pr;
	const struct xcopy_held *h;

	pthread_mutex_lock(&pr->lock);
	h = held_find(pr, cmd_iport(cmd), list_id);
	if (h) {
		*out = *h;
	}
	pthread_mutex_unlock(&pr->lock);
	return h != NULL;
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
	if (h->status != COPY_STATUS_ERROR) {
		memset(buf, 0, 4); /* nothing failed (yet): no details */
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
