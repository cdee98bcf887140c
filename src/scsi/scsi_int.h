/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to src/scsi: the opcode table entry, the handlers each file
 * provides, and small helpers shared between them.
 */
#ifndef IDM_SCSI_INT_H
#define IDM_SCSI_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "idm/scsi.h"

/* Opcodes we implement (SPC-4, SBC-3). */
enum scsi_opcode {
	SCSI_OP_TEST_UNIT_READY = 0x00,
	SCSI_OP_REQUEST_SENSE = 0x03,
	SCSI_OP_READ6 = 0x08,
	SCSI_OP_WRITE6 = 0x0a,
	SCSI_OP_INQUIRY = 0x12,
	SCSI_OP_MODE_SENSE6 = 0x1a,
	SCSI_OP_START_STOP_UNIT = 0x1b,
	SCSI_OP_READ_CAPACITY10 = 0x25,
	SCSI_OP_READ10 = 0x28,
	SCSI_OP_WRITE10 = 0x2a,
	SCSI_OP_VERIFY10 = 0x2f,
	SCSI_OP_SYNC_CACHE10 = 0x35,
	SCSI_OP_MODE_SENSE10 = 0x5a,
	SCSI_OP_READ16 = 0x88,
	SCSI_OP_WRITE16 = 0x8a,
	SCSI_OP_VERIFY16 = 0x8f,
	SCSI_OP_SYNC_CACHE16 = 0x91,
	SCSI_OP_SERVICE_ACTION_IN16 = 0x9e,
	SCSI_OP_REPORT_LUNS = 0xa0,
	SCSI_OP_READ12 = 0xa8,
	SCSI_OP_WRITE12 = 0xaa,
	SCSI_OP_VERIFY12 = 0xaf,
};

#define SCSI_SA_READ_CAPACITY16 0x10

/* ASC/ASCQ values only this module uses. */
#define SCSI_ASC_LU_NOT_READY_INIT_REQUIRED 0x0402

/* Largest READ/WRITE we accept, also announced in the Block Limits VPD
 * page: the target allocates buffers of this size from its cache. */
#define SCSI_MAX_XFER_BYTES (16u << 20)
#define SCSI_OPT_XFER_BYTES (1u << 20)

/* What an opcode needs before its handler runs. */
enum scsi_op_flags {
	SCSI_OPF_ANY_LUN = 1 << 0, /* runs when the LUN has no LU */
	SCSI_OPF_NO_UA = 1 << 1,   /* neither reports nor clears a unit attention */
	SCSI_OPF_MEDIUM = 1 << 2,  /* needs a started unit */
	SCSI_OPF_DIRECT = 1 << 3,  /* READ/WRITE: may use the store's memory */
};

/*
 * One row of the opcode table. `setup` decodes and checks the CDB and
 * sets dir / xfer_len / lba / nblocks; it returns 0 or 1 like
 * scsi_cmd_setup(). `exec` runs the command and ends in
 * scsi_cmd_complete().
 */
struct scsi_op {
	const char *name;
	unsigned flags;
	int (*setup)(struct scsi_cmd *cmd);
	void (*exec)(struct scsi_cmd *cmd);
};

/* Finish a command: call its done callback. */
void scsi_cmd_complete(struct scsi_cmd *cmd);
/* Fail setup with ILLEGAL REQUEST / INVALID FIELD IN CDB at byte, bit
 * (bit < 0: the whole byte); returns 1 for setup to pass on. */
int scsi_cmd_bad_field(struct scsi_cmd *cmd, uint16_t byte, int bit);
/* Fail setup with the given sense; returns 1. */
int scsi_cmd_fail(struct scsi_cmd *cmd, uint8_t key, uint16_t asc);
/* Sense with the INFORMATION field set (VERIFY miscompare offset). */
void scsi_cmd_set_sense_info(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, uint32_t info);
/* Copy `len` bytes of parameter data to cmd->data, truncated to the
 * allocation length (xfer_len) and the buffer; sets data_len. */
void scsi_cmd_put_data(struct scsi_cmd *cmd, const uint8_t *buf, uint32_t len);
/* A READ-direction command whose allocation length is `alloc`. */
int scsi_cmd_data_in(struct scsi_cmd *cmd, uint32_t alloc);
/* The unit attention this nexus has not seen yet, or 0; marks it seen. */
uint16_t scsi_cmd_take_ua(struct scsi_cmd *cmd);

/* Handlers, by file. */
int scsi_inquiry_setup(struct scsi_cmd *cmd);
void scsi_inquiry_exec(struct scsi_cmd *cmd);

int scsi_mode_sense_setup(struct scsi_cmd *cmd);
void scsi_mode_sense_exec(struct scsi_cmd *cmd);

int scsi_rw_setup(struct scsi_cmd *cmd);
void scsi_rw_exec(struct scsi_cmd *cmd);
int scsi_verify_setup(struct scsi_cmd *cmd);
void scsi_verify_exec(struct scsi_cmd *cmd);
int scsi_sync_cache_setup(struct scsi_cmd *cmd);
void scsi_sync_cache_exec(struct scsi_cmd *cmd);

int scsi_read_capacity10_setup(struct scsi_cmd *cmd);
void scsi_read_capacity10_exec(struct scsi_cmd *cmd);
int scsi_service_action_in_setup(struct scsi_cmd *cmd);
void scsi_read_capacity16_exec(struct scsi_cmd *cmd);
int scsi_no_data_setup(struct scsi_cmd *cmd);
void scsi_good_exec(struct scsi_cmd *cmd);
int scsi_start_stop_setup(struct scsi_cmd *cmd);
void scsi_start_stop_exec(struct scsi_cmd *cmd);
int scsi_request_sense_setup(struct scsi_cmd *cmd);
void scsi_request_sense_exec(struct scsi_cmd *cmd);
int scsi_report_luns_setup(struct scsi_cmd *cmd);
void scsi_report_luns_exec(struct scsi_cmd *cmd);

/* Submit a FLUSH of the LU's store; completes the command when done. */
void scsi_submit_flush(struct scsi_cmd *cmd);

/* Copy `src` into a fixed-width SCSI ASCII field, padding with spaces. */
void scsi_put_ascii(uint8_t *dst, const char *src, size_t width);

#endif
