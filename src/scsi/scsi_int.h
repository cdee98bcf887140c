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
	SCSI_OP_MODE_SELECT6 = 0x15,
	SCSI_OP_PREVENT_ALLOW = 0x1e,
	SCSI_OP_WRITE_VERIFY10 = 0x2e,
	SCSI_OP_PREFETCH10 = 0x34,
	SCSI_OP_READ_DEFECT10 = 0x37,
	SCSI_OP_WRITE_SAME10 = 0x41,
	SCSI_OP_UNMAP = 0x42,
	SCSI_OP_MODE_SELECT10 = 0x55,
	SCSI_OP_COMPARE_AND_WRITE = 0x89,
	SCSI_OP_ORWRITE16 = 0x8b,
	SCSI_OP_WRITE_VERIFY16 = 0x8e,
	SCSI_OP_PREFETCH16 = 0x90,
	SCSI_OP_WRITE_SAME16 = 0x93,
	SCSI_OP_MAINTENANCE_IN = 0xa3,
	SCSI_OP_MAINTENANCE_OUT = 0xa4,
	SCSI_OP_WRITE_VERIFY12 = 0xae,
	SCSI_OP_READ_DEFECT12 = 0xb7,
	SCSI_OP_RESERVE6 = 0x16,
	SCSI_OP_RELEASE6 = 0x17,
	SCSI_OP_RESERVE10 = 0x56,
	SCSI_OP_RELEASE10 = 0x57,
	SCSI_OP_PR_IN = 0x5e,
	SCSI_OP_PR_OUT = 0x5f,
	SCSI_OP_EXTENDED_COPY = 0x83,
	SCSI_OP_RECEIVE_COPY_RESULTS = 0x84,
};

#define SCSI_SA_READ_CAPACITY16 0x10
#define SCSI_SA_GET_LBA_STATUS 0x12
#define SCSI_SA_REPORT_OPCODES 0x0c
#define SCSI_SA_REPORT_TPGS 0x0a
#define SCSI_SA_SET_TPGS 0x0a /* MAINTENANCE OUT */
#define SCSI_SA_XCOPY_LID1 0x00
#define SCSI_SA_RCR_COPY_STATUS 0x00
#define SCSI_SA_RCR_OP_PARAMS 0x03
#define SCSI_SA_RCR_FAILED_SEGMENT 0x04
#define SCSI_SA_COUNT 32 /* service actions are 5 bits wide */

/* Limits announced in the Block Limits VPD page. */
#define SCSI_MAX_UNMAP_BLOCKS 0xffffffffu /* per UNMAP */
#define SCSI_MAX_UNMAP_DESCRIPTORS 256u
#define SCSI_MAX_CAW_BLOCKS 255u /* the CDB's NUMBER OF LOGICAL BLOCKS is 8 bits */

/* ASC/ASCQ values only this module uses. */
#define SCSI_ASC_LU_NOT_READY 0x0400 /* cause not reportable */
#define SCSI_ASC_LU_NOT_READY_INIT_REQUIRED 0x0402
#define SCSI_ASC_LU_NOT_ACCESSIBLE_TRANSITION 0x040a
#define SCSI_ASC_LU_NOT_ACCESSIBLE_STANDBY 0x040b
#define SCSI_ASC_LU_NOT_ACCESSIBLE_UNAVAILABLE 0x040c
#define SCSI_ASC_SET_TPGS_FAILED 0x670a

/* Largest READ/WRITE we accept, also announced in the Block Limits VPD
 * page: the target allocates buffers of this size from its cache. */
#define SCSI_MAX_XFER_BYTES (16u << 20)
#define SCSI_OPT_XFER_BYTES (1u << 20)

/* What an opcode needs before its handler runs. */
enum scsi_op_flags {
	SCSI_OPF_ANY_LUN = 1 << 0,       /* runs when the LUN has no LU */
	SCSI_OPF_NO_UA = 1 << 1,         /* neither reports nor clears a unit attention */
	SCSI_OPF_MEDIUM = 1 << 2,        /* needs a started unit */
	SCSI_OPF_DIRECT = 1 << 3,        /* READ/WRITE: may use the store's memory */
	SCSI_OPF_WRITES = 1 << 4,        /* changes the medium: refused when write-protected */
	SCSI_OPF_EXPLICIT_ALUA = 1 << 5, /* offered only with an ALUA request hook */
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
	/* For an opcode with service actions: its commands, indexed by the
	 * service action (CDB byte 1, bits 4:0), SCSI_SA_COUNT entries. */
	const struct scsi_op *sa_ops;
	/* CDB usage map (REPORT SUPPORTED OPERATION CODES): byte 0 is
	 * replaced by the opcode; for a service action, byte 1 holds it. */
	uint8_t usage[16];
};

/* The opcode table (opcodes.c), indexed by opcode; an entry without
 * setup is an unsupported opcode. The one list of what we implement. */
extern const struct scsi_op scsi_op_table[256];

/* The command `cdb` names: NULL for an unsupported opcode; for one
 * with service actions, the entry of its service action, or the
 * parent (which has sa_ops) when that service action is unsupported. */
const struct scsi_op *scsi_op_lookup(const uint8_t *cdb);
/* Does the LU of `cmd` offer `op` (for a parent with service actions:
 * any of them)? An opcode it does not offer is an unsupported one. */
bool scsi_op_offered(const struct scsi_cmd *cmd, const struct scsi_op *op);

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
/* A READ-direction command whose allocation length is `alloc` and whose
 * whole response is at most `max` bytes: the buffer the target provides
 * (xfer_len) is the smaller of the two, never what the network asks. */
int scsi_cmd_data_in(struct scsi_cmd *cmd, uint32_t alloc, uint32_t max);
/* The unit attention this nexus has not seen yet, or 0; marks it seen. */
uint16_t scsi_cmd_take_ua(struct scsi_cmd *cmd);
/* Check `lu` for this command as a READ (write false) or a WRITE
 * addressed to it would be: its unit attention (when take_ua),
 * reservations, a stopped unit. 0, or 1 with status and sense set. For
 * commands that reach other LUs than their own (EXTENDED COPY). */
int scsi_cmd_check_lu(struct scsi_cmd *cmd, struct scsi_lu *lu, bool write, bool take_ua);

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

int scsi_report_opcodes_setup(struct scsi_cmd *cmd);
void scsi_report_opcodes_exec(struct scsi_cmd *cmd);

int scsi_write_same_setup(struct scsi_cmd *cmd);
void scsi_write_same_exec(struct scsi_cmd *cmd);
int scsi_unmap_setup(struct scsi_cmd *cmd);
void scsi_unmap_exec(struct scsi_cmd *cmd);
int scsi_get_lba_status_setup(struct scsi_cmd *cmd);
void scsi_get_lba_status_exec(struct scsi_cmd *cmd);

int scsi_caw_setup(struct scsi_cmd *cmd);
void scsi_caw_exec(struct scsi_cmd *cmd);
int scsi_orwrite_setup(struct scsi_cmd *cmd);
void scsi_orwrite_exec(struct scsi_cmd *cmd);
int scsi_write_verify_setup(struct scsi_cmd *cmd);

int scsi_pr_in_setup(struct scsi_cmd *cmd);
void scsi_pr_in_exec(struct scsi_cmd *cmd);
int scsi_pr_out_setup(struct scsi_cmd *cmd);
void scsi_pr_out_exec(struct scsi_cmd *cmd);
int scsi_reserve_setup(struct scsi_cmd *cmd);
void scsi_reserve_exec(struct scsi_cmd *cmd);
/* A reset releases the SPC-2 reservation (reserve.c). */
void scsi_reserve_reset(struct scsi_lu *lu);

int scsi_xcopy_setup(struct scsi_cmd *cmd);
void scsi_xcopy_exec(struct scsi_cmd *cmd);
int scsi_rcr_setup(struct scsi_cmd *cmd);
void scsi_rcr_exec(struct scsi_cmd *cmd);
int scsi_rtpg_setup(struct scsi_cmd *cmd);
void scsi_rtpg_exec(struct scsi_cmd *cmd);

/* ALUA (alua.c). The access state of the group `n` belongs to: active/
 * optimized without a nexus, without groups or when no group is its. */
uint8_t scsi_alua_state_of(struct scsi_lu *lu, const struct scsi_nexus *n);
/* SPC-4 5.16.2.4: may `cdb` run through a port in access state `state`?
 * 0 when it may, else the NOT READY ASC/ASCQ that refuses it. Pure. */
uint16_t scsi_alua_refusal(uint8_t state, const uint8_t *cdb);
/* The access state check of setup: 1 with NOT READY set, else 0. */
int scsi_alua_check(struct scsi_cmd *cmd);
/* A consistent copy of the groups and their RTPG status codes. */
void scsi_alua_snapshot(struct scsi_lu *lu, struct scsi_alua *a,
                        uint8_t status[SCSI_ALUA_GROUPS_MAX]);
/* Has the LU an explicit ALUA request hook (SET TARGET PORT GROUPS)? */
bool scsi_alua_explicit(struct scsi_lu *lu);
/* SET TARGET PORT GROUPS parameter data of `len` bytes, the groups
 * `groups` known: 0 with *group the one asked to become active/
 * optimized, or -1 when none is; -EINVAL with *bad the offending byte. */
int scsi_stpg_parse(const uint8_t *p, uint32_t len, const struct scsi_alua *groups, int *group,
                    uint16_t *bad);
int scsi_stpg_setup(struct scsi_cmd *cmd);
void scsi_stpg_exec(struct scsi_cmd *cmd);

int scsi_prefetch_setup(struct scsi_cmd *cmd);
int scsi_read_defect_setup(struct scsi_cmd *cmd);
void scsi_read_defect_exec(struct scsi_cmd *cmd);
int scsi_prevent_allow_setup(struct scsi_cmd *cmd);
int scsi_mode_select_setup(struct scsi_cmd *cmd);
void scsi_mode_select_exec(struct scsi_cmd *cmd);

/* LBA and transfer length of a medium-access CDB (6/10/12/16 bytes). */
struct scsi_lba_range {
	uint64_t lba;
	uint32_t nblocks;
	uint16_t len_field; /* byte offset of the length, for sense */
};
void scsi_decode_range(const uint8_t *cdb, struct scsi_lba_range *r);
/* LBA OUT OF RANGE (returns 1) unless the range lies within the LU. */
int scsi_check_range(struct scsi_cmd *cmd, const struct scsi_lba_range *r);
/* Range and size checks, then record the transfer in cmd (0 or 1). */
int scsi_set_transfer(struct scsi_cmd *cmd, const struct scsi_lba_range *r, enum scsi_dir dir);
/* The caller's data buffer is smaller than xfer_len: sets sense and
 * returns true (a target bug, reported as an internal failure). */
bool scsi_buffer_short(struct scsi_cmd *cmd);
/* Fail a parameter list: ILLEGAL REQUEST with a field pointer into it. */
void scsi_cmd_bad_param(struct scsi_cmd *cmd, uint16_t byte, int bit);

/* The LU's store cannot reach its medium for now (a cluster store
 * offline): sets NOT READY and returns true. */
bool scsi_lu_offline(struct scsi_cmd *cmd);

/* Wait for a COMPARE AND WRITE / ORWRITE in progress on the LU, if
 * any, before writing (lock-free when there is none). */
void scsi_wait_for_rmw(struct scsi_lu *lu);
/* The same for a command on a reactor: true when it was queued behind
 * the read-modify-write on the store's thread and `again` will run it
 * on its reactor; false when it may write now. */
bool scsi_rmw_defer(struct scsi_cmd *cmd, void (*again)(struct scsi_cmd *cmd));

/* Synchronous store I/O for the commands that read, change and write
 * blocks under the LU's lock (COMPARE AND WRITE, ORWRITE). 0 or -errno. */
int scsi_store_sync(struct scsi_lu *lu, enum idm_backing_op op, uint64_t lba, uint32_t nblocks,
                    uint8_t *buf);

/*
 * Run cmd->io.op (WRITE from cmd->io.buf, WRITE ZEROES, UNMAP) over
 * [cmd->lba, +cmd->nblocks) in requests of cmd->step_blocks, then over
 * each further range scsi_unmap_next() gives (UNMAP); frees io.buf and
 * completes the command at the end or on the first error.
 */
void scsi_range_run(struct scsi_cmd *cmd);
/* UNMAP: load the next block descriptor into cmd->lba / nblocks;
 * false when there is none left. */
bool scsi_unmap_next(struct scsi_cmd *cmd);

/* Most blocks one COMPARE AND WRITE may name: its data-out holds twice
 * as many, and no more than one WRITE's worth (64 KiB blocks: 128). */
static inline uint32_t scsi_max_caw(const struct scsi_lu *lu)
{
	uint32_t n = SCSI_MAX_XFER_BYTES / (2 * lu->block_size);

	return n < SCSI_MAX_CAW_BLOCKS ? n : SCSI_MAX_CAW_BLOCKS;
}

/* Most blocks one WRITE SAME may write: as many bytes as one WRITE
 * (initiators such as libiscsi's tests fill the range with a WRITE). */
static inline uint32_t scsi_max_write_same(const struct scsi_lu *lu)
{
	return SCSI_MAX_XFER_BYTES / lu->block_size;
}

/* Sense for a failed store request: NOT READY when the store lost its
 * cluster (-ETIMEDOUT, -ESHUTDOWN, -ENOTCONN), else MEDIUM ERROR with
 * `asc` (READ or WRITE ERROR). */
void scsi_cmd_set_store_error(struct scsi_cmd *cmd, int status, uint16_t asc);

/* Submit a FLUSH of the LU's store; completes the command when done. */
void scsi_submit_flush(struct scsi_cmd *cmd);

/* Copy `src` into a fixed-width SCSI ASCII field, padding with spaces. */
void scsi_put_ascii(uint8_t *dst, const char *src, size_t width);

#endif
