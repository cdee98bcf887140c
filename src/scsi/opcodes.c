/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The opcode table: every command we implement, with its handlers, the
 * checks it needs and its CDB usage map; and REPORT SUPPORTED OPERATION
 * CODES (SPC-4 6.35), which reports exactly this table.
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

/* Control byte usage: we look at NACA and LINK (and reject both). */
#define CTL 0x05
/* Byte 1 of medium access CDBs: PROTECT (checked), DPO, FUA. */
#define PDF 0xf8
/* Byte 1 of VERIFY / WRITE AND VERIFY: PROTECT, DPO, BYTCHK. */
#define PDB 0xf6
#define LBA4 0xff, 0xff, 0xff, 0xff
#define LBA8 LBA4, LBA4

#define OP(nm, fl, su, ex, ...)                                                                    \
	{                                                                                          \
		.name = nm, .flags = fl, .setup = su, .exec = ex, .usage = { __VA_ARGS__ }         \
	}

/* Medium access flags. */
#define MEDIUM (SCSI_OPF_MEDIUM)
#define RW (SCSI_OPF_MEDIUM | SCSI_OPF_DIRECT)
/* Commands that change the medium: refused on a write-protected LU. */
#define WR (RW | SCSI_OPF_WRITES)
#define MEDIUM_WR (SCSI_OPF_MEDIUM | SCSI_OPF_WRITES)
#define LUN_ANY (SCSI_OPF_ANY_LUN | SCSI_OPF_NO_UA)

/* SERVICE ACTION IN(16), by service action. */
static const struct scsi_op service_action_in_ops[SCSI_SA_COUNT] = {
    [SCSI_SA_READ_CAPACITY16] =
        OP("READ CAPACITY(16)", 0, scsi_service_action_in_setup, scsi_read_capacity16_exec, 0,
           SCSI_SA_READ_CAPACITY16, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL),
    [SCSI_SA_GET_LBA_STATUS] =
        OP("GET LBA STATUS", 0, scsi_get_lba_status_setup, scsi_get_lba_status_exec, 0,
           SCSI_SA_GET_LBA_STATUS, LBA8, 0xff, 0xff, 0xff, 0xff, 0, CTL),
};

/* MAINTENANCE IN, by service action. */
static const struct scsi_op maintenance_in_ops[SCSI_SA_COUNT] = {
    [SCSI_SA_REPORT_OPCODES] = OP("REPORT SUPPORTED OPERATION CODES", LUN_ANY,
                                  scsi_report_opcodes_setup, scsi_report_opcodes_exec, 0,
                                  SCSI_SA_REPORT_OPCODES, 0x87, 0xff, 0xff, 0xff, LBA4, 0, CTL),
    [SCSI_SA_REPORT_TPGS] = OP("REPORT TARGET PORT GROUPS", 0, scsi_rtpg_setup, scsi_rtpg_exec, 0,
                               0xe0 | SCSI_SA_REPORT_TPGS, 0, 0, 0, 0, LBA4, 0, CTL),
};

/* MAINTENANCE OUT, by service action: explicit ALUA only. */
static const struct scsi_op maintenance_out_ops[SCSI_SA_COUNT] = {
    [SCSI_SA_SET_TPGS] = OP("SET TARGET PORT GROUPS", SCSI_OPF_EXPLICIT_ALUA, scsi_stpg_setup,
                            scsi_stpg_exec, 0, SCSI_SA_SET_TPGS, 0, 0, 0, 0, LBA4, 0, CTL),
};

/* EXTENDED COPY, by service action: only LID1. */
static const struct scsi_op xcopy_ops[SCSI_SA_COUNT] = {
    [SCSI_SA_XCOPY_LID1] = OP("EXTENDED COPY(LID1)", 0, scsi_xcopy_setup, scsi_xcopy_exec, 0,
                              SCSI_SA_XCOPY_LID1, 0, 0, 0, 0, 0, 0, 0, 0, LBA4, 0, CTL),
};

/* RECEIVE COPY RESULTS, by service action. */
#define RCR(nm, sa)                                                                                \
	OP(nm, 0, scsi_rcr_setup, scsi_rcr_exec, 0, sa, 0xff, 0, 0, 0, 0, 0, 0, 0, LBA4, 0, CTL)
static const struct scsi_op rcr_ops[SCSI_SA_COUNT] = {
    [SCSI_SA_RCR_COPY_STATUS] = RCR("RECEIVE COPY STATUS(LID1)", SCSI_SA_RCR_COPY_STATUS),
    [SCSI_SA_RCR_OP_PARAMS] = RCR("RECEIVE COPY OPERATING PARAMETERS", SCSI_SA_RCR_OP_PARAMS),
    [SCSI_SA_RCR_FAILED_SEGMENT] =
        RCR("RECEIVE COPY FAILURE DETAILS(LID1)", SCSI_SA_RCR_FAILED_SEGMENT),
};

const struct scsi_op scsi_op_table[256] = {
    [SCSI_OP_TEST_UNIT_READY] =
        OP("TEST UNIT READY", MEDIUM, scsi_no_data_setup, scsi_good_exec, 0, 0, 0, 0, 0, CTL),
    [SCSI_OP_REQUEST_SENSE] = OP("REQUEST SENSE", LUN_ANY, scsi_request_sense_setup,
                                 scsi_request_sense_exec, 0, 0x01, 0, 0, 0xff, CTL),
    [SCSI_OP_READ6] =
        OP("READ(6)", RW, scsi_rw_setup, scsi_rw_exec, 0, 0x1f, 0xff, 0xff, 0xff, CTL),
    [SCSI_OP_WRITE6] =
        OP("WRITE(6)", WR, scsi_rw_setup, scsi_rw_exec, 0, 0x1f, 0xff, 0xff, 0xff, CTL),
    [SCSI_OP_INQUIRY] = OP("INQUIRY", LUN_ANY, scsi_inquiry_setup, scsi_inquiry_exec, 0, 0x03, 0xff,
                           0xff, 0xff, CTL),
    [SCSI_OP_MODE_SELECT6] = OP("MODE SELECT(6)", 0, scsi_mode_select_setup, scsi_mode_select_exec,
                                0, 0x11, 0, 0, 0xff, CTL),
    [SCSI_OP_RESERVE6] = OP("RESERVE(6)", 0, scsi_reserve_setup, scsi_reserve_exec, 0, 0, 0, 0,
                            0, CTL),
    [SCSI_OP_RELEASE6] = OP("RELEASE(6)", 0, scsi_reserve_setup, scsi_reserve_exec, 0, 0, 0, 0,
                            0, CTL),
    [SCSI_OP_RESERVE10] = OP("RESERVE(10)", 0, scsi_reserve_setup, scsi_reserve_exec, 0, 0, 0, 0,
                             0, 0, 0, 0, 0, CTL),
    [SCSI_OP_RELEASE10] = OP("RELEASE(10)", 0, scsi_reserve_setup, scsi_reserve_exec, 0, 0, 0, 0,
                             0, 0, 0, 0, 0, CTL),
    [SCSI_OP_PR_IN] = OP("PERSISTENT RESERVE IN", 0, scsi_pr_in_setup, scsi_pr_in_exec, 0, 0x1f,
                         0, 0, 0, 0, 0, 0xff, 0xff, CTL),
    [SCSI_OP_PR_OUT] = OP("PERSISTENT RESERVE OUT", 0, scsi_pr_out_setup, scsi_pr_out_exec, 0,
                          0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, CTL),
    [SCSI_OP_MODE_SENSE6] = OP("MODE SENSE(6)", 0, scsi_mode_sense_setup, scsi_mode_sense_exec, 0,
                               0x08, 0xff, 0xff, 0xff, CTL),
    [SCSI_OP_START_STOP_UNIT] = OP("START STOP UNIT", 0, scsi_start_stop_setup,
                                   scsi_start_stop_exec, 0, 0, 0, 0, 0xf7, CTL),
    [SCSI_OP_PREVENT_ALLOW] = OP("PREVENT ALLOW MEDIUM REMOVAL", 0, scsi_prevent_allow_setup,
                                 scsi_good_exec, 0, 0, 0, 0, 0x03, CTL),
    [SCSI_OP_READ_CAPACITY10] = OP("READ CAPACITY(10)", 0, scsi_read_capacity10_setup,
                                   scsi_read_capacity10_exec, 0, 0, LBA4, 0, 0, 0x01, CTL),
    [SCSI_OP_READ10] =
        OP("READ(10)", RW, scsi_rw_setup, scsi_rw_exec, 0, PDF, LBA4, 0, 0xff, 0xff, CTL),
    [SCSI_OP_WRITE10] =
        OP("WRITE(10)", WR, scsi_rw_setup, scsi_rw_exec, 0, PDF, LBA4, 0, 0xff, 0xff, CTL),
    [SCSI_OP_WRITE_VERIFY10] = OP("WRITE AND VERIFY(10)", WR, scsi_write_verify_setup, scsi_rw_exec,
                                  0, PDB, LBA4, 0, 0xff, 0xff, CTL),
    [SCSI_OP_VERIFY10] = OP("VERIFY(10)", MEDIUM, scsi_verify_setup, scsi_verify_exec, 0, PDB, LBA4,
                            0, 0xff, 0xff, CTL),
    [SCSI_OP_PREFETCH10] = OP("PRE-FETCH(10)", MEDIUM, scsi_prefetch_setup, scsi_good_exec, 0, 0x02,
                              LBA4, 0, 0xff, 0xff, CTL),
    [SCSI_OP_SYNC_CACHE10] = OP("SYNCHRONIZE CACHE(10)", MEDIUM, scsi_sync_cache_setup,
                                scsi_sync_cache_exec, 0, 0, LBA4, 0, 0xff, 0xff, CTL),
    [SCSI_OP_READ_DEFECT10] = OP("READ DEFECT DATA(10)", 0, scsi_read_defect_setup,
                                 scsi_read_defect_exec, 0, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, CTL),
    [SCSI_OP_WRITE_SAME10] = OP("WRITE SAME(10)", MEDIUM_WR, scsi_write_same_setup,
                                scsi_write_same_exec, 0, 0xf8, LBA4, 0, 0xff, 0xff, CTL),
    [SCSI_OP_UNMAP] = OP("UNMAP", MEDIUM_WR, scsi_unmap_setup, scsi_unmap_exec, 0, 0x01, 0, 0, 0, 0, 0,
                         0xff, 0xff, CTL),
    [SCSI_OP_MODE_SELECT10] = OP("MODE SELECT(10)", 0, scsi_mode_select_setup,
                                 scsi_mode_select_exec, 0, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, CTL),
    [SCSI_OP_MODE_SENSE10] = OP("MODE SENSE(10)", 0, scsi_mode_sense_setup, scsi_mode_sense_exec, 0,
                                0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, CTL),
    [SCSI_OP_READ16] = OP("READ(16)", RW, scsi_rw_setup, scsi_rw_exec, 0, PDF, LBA8, LBA4, 0, CTL),
    [SCSI_OP_COMPARE_AND_WRITE] = OP("COMPARE AND WRITE", MEDIUM_WR, scsi_caw_setup, scsi_caw_exec, 0,
                                     PDF, LBA8, 0, 0, 0, 0xff, 0, CTL),
    [SCSI_OP_WRITE16] =
        OP("WRITE(16)", WR, scsi_rw_setup, scsi_rw_exec, 0, PDF, LBA8, LBA4, 0, CTL),
    [SCSI_OP_ORWRITE16] = OP("ORWRITE(16)", MEDIUM_WR, scsi_orwrite_setup, scsi_orwrite_exec, 0, PDF,
                             LBA8, LBA4, 0, CTL),
    [SCSI_OP_WRITE_VERIFY16] = OP("WRITE AND VERIFY(16)", WR, scsi_write_verify_setup, scsi_rw_exec,
                                  0, PDB, LBA8, LBA4, 0, CTL),
    [SCSI_OP_VERIFY16] =
        OP("VERIFY(16)", MEDIUM, scsi_verify_setup, scsi_verify_exec, 0, PDB, LBA8, LBA4, 0, CTL),
    [SCSI_OP_PREFETCH16] = OP("PRE-FETCH(16)", MEDIUM, scsi_prefetch_setup, scsi_good_exec, 0, 0x02,
                              LBA8, LBA4, 0, CTL),
    [SCSI_OP_SYNC_CACHE16] = OP("SYNCHRONIZE CACHE(16)", MEDIUM, scsi_sync_cache_setup,
                                scsi_sync_cache_exec, 0, 0, LBA8, LBA4, 0, CTL),
    [SCSI_OP_WRITE_SAME16] = OP("WRITE SAME(16)", MEDIUM_WR, scsi_write_same_setup,
                                scsi_write_same_exec, 0, 0xf9, LBA8, LBA4, 0, CTL),
    [SCSI_OP_SERVICE_ACTION_IN16] = {.name = "SERVICE ACTION IN(16)",
                                     .sa_ops = service_action_in_ops},
    [SCSI_OP_REPORT_LUNS] = OP("REPORT LUNS", LUN_ANY, scsi_report_luns_setup,
                               scsi_report_luns_exec, 0, 0, 0xff, 0, 0, 0, LBA4, 0, CTL),
    [SCSI_OP_EXTENDED_COPY] = {.name = "EXTENDED COPY", .sa_ops = xcopy_ops},
    [SCSI_OP_RECEIVE_COPY_RESULTS] = {.name = "RECEIVE COPY RESULTS", .sa_ops = rcr_ops},
    [SCSI_OP_MAINTENANCE_IN] = {.name = "MAINTENANCE IN", .sa_ops = maintenance_in_ops},
    [SCSI_OP_MAINTENANCE_OUT] = {.name = "MAINTENANCE OUT", .sa_ops = maintenance_out_ops},
    [SCSI_OP_READ12] = OP("READ(12)", RW, scsi_rw_setup, scsi_rw_exec, 0, PDF, LBA4, LBA4, 0, CTL),
    [SCSI_OP_WRITE12] =
        OP("WRITE(12)", WR, scsi_rw_setup, scsi_rw_exec, 0, PDF, LBA4, LBA4, 0, CTL),
    [SCSI_OP_WRITE_VERIFY12] = OP("WRITE AND VERIFY(12)", WR, scsi_write_verify_setup, scsi_rw_exec,
                                  0, PDB, LBA4, LBA4, 0, CTL),
    [SCSI_OP_VERIFY12] =
        OP("VERIFY(12)", MEDIUM, scsi_verify_setup, scsi_verify_exec, 0, PDB, LBA4, LBA4, 0, CTL),
    [SCSI_OP_READ_DEFECT12] = OP("READ DEFECT DATA(12)", 0, scsi_read_defect_setup,
                                 scsi_read_defect_exec, 0, 0x1f, 0, 0, 0, 0, LBA4, 0, CTL),
};

const struct scsi_op *scsi_op_lookup(const uint8_t *cdb)
{
	const struct scsi_op *op = &scsi_op_table[cdb[0]];

	if (op->sa_ops) {
		const struct scsi_op *sa = &op->sa_ops[cdb[1] & (SCSI_SA_COUNT - 1)];

		return sa->setup ? sa : op;
	}
	return op->setup ? op : NULL;
}

/* REPORT SUPPORTED OPERATION CODES: reporting options (CDB byte 2). */
enum rsoc_options {
	RSOC_ALL = 0,       /* every command */
	RSOC_OPCODE = 1,    /* one opcode without service actions */
	RSOC_OPCODE_SA = 2, /* one opcode and service action */
	RSOC_EITHER = 3,    /* one opcode, with its service action if it has them */
};

#define RSOC_RCTD 0x80
#define RSOC_OPTIONS 0x07
#define RSOC_DESC_LEN 8
#define RSOC_TIMEOUTS_LEN 12
#define RSOC_CTDP_ALL 0x02
#define RSOC_SERVACTV 0x01
#define RSOC_CTDP_ONE 0x80
#define RSOC_SUPPORTED 0x03
#define RSOC_NOT_SUPPORTED 0x01
/* Room for 96 commands with timeouts; we have about 45. report_all()
 * stops at the end rather than overflow should the table outgrow it. */
#define RSOC_MAX_DESC 96
#define RSOC_BUF_LEN (4 + RSOC_MAX_DESC * (RSOC_DESC_LEN + RSOC_TIMEOUTS_LEN))

int scsi_report_opcodes_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint8_t options = cdb[2] & RSOC_OPTIONS;

	if (options > RSOC_EITHER) {
		return scsi_cmd_bad_field(cmd, 2, 2);
	}
	if (cdb[2] & ~(RSOC_RCTD | RSOC_OPTIONS)) {
		return scsi_cmd_bad_field(cmd, 2, -1);
	}
	/* The requested opcode must agree with having service actions. */
	if (options == RSOC_OPCODE && scsi_op_table[cdb[3]].sa_ops) {
		return scsi_cmd_bad_field(cmd, 3, -1);
	}
	if (options == RSOC_OPCODE_SA && !scsi_op_table[cdb[3]].sa_ops &&
	    scsi_op_table[cdb[3]].setup) {
		return scsi_cmd_bad_field(cmd, 3, -1);
	}
	return scsi_cmd_data_in(cmd, get_be32(cdb + 6), RSOC_BUF_LEN);
}

/* Command timeouts descriptor: nominal and recommended unspecified. */
static uint32_t put_timeouts(uint8_t *p)
{
	memset(p, 0, RSOC_TIMEOUTS_LEN);
	put_be16(p, RSOC_TIMEOUTS_LEN - 2);
	return RSOC_TIMEOUTS_LEN;
}

/* One command descriptor of the "all commands" format. */
static uint32_t put_descriptor(uint8_t *p, uint8_t opcode, int sa, bool rctd)
{
	memset(p, 0, RSOC_DESC_LEN);
	p[0] = opcode;
	if (sa >= 0) {
		put_be16(p + 2, (uint16_t)sa);
		p[5] = RSOC_SERVACTV;
	}
	put_be16(p + 6, (uint16_t)scsi_cdb_length(opcode));
	if (!rctd) {
		return RSOC_DESC_LEN;
	}
	p[5] |= RSOC_CTDP_ALL;
	return RSOC_DESC_LEN + put_timeouts(p + RSOC_DESC_LEN);
}

/* A command of the table this LU offers: SET TARGET PORT GROUPS only
 * with a hook to make the change. */
static bool offered(const struct scsi_cmd *cmd, const struct scsi_op *o)
{
	return o->setup && (!(o->flags & SCSI_OPF_EXPLICIT_ALUA) || scsi_alua_explicit(cmd->lu));
}

bool scsi_op_offered(const struct scsi_cmd *cmd, const struct scsi_op *op)
{
	unsigned sa;

	if (!op->sa_ops) {
		return offered(cmd, op);
	}
	for (sa = 0; sa < SCSI_SA_COUNT; sa++) {
		if (offered(cmd, &op->sa_ops[sa])) {
			return true;
		}
	}
	return false;
}

static uint32_t report_all(const struct scsi_cmd *cmd, uint8_t *buf, bool rctd)
{
	uint32_t n = 4, count = 0;
	unsigned op, sa;

	for (op = 0; op < 256 && count < RSOC_MAX_DESC; op++) {
		const struct scsi_op *o = &scsi_op_table[op];

		if (offered(cmd, o)) {
			n += put_descriptor(buf + n, (uint8_t)op, -1, rctd);
			count++;
		}
		for (sa = 0; o->sa_ops && sa < SCSI_SA_COUNT && count < RSOC_MAX_DESC; sa++) {
			if (offered(cmd, &o->sa_ops[sa])) {
				n += put_descriptor(buf + n, (uint8_t)op, (int)sa, rctd);
				count++;
			}
		}
	}
	put_be32(buf, n - 4);
	return n;
}

/* The "one command" format for `op` (NULL: not supported). */
static uint32_t report_one(const struct scsi_cmd *cmd, uint8_t *buf, uint8_t opcode,
                           const struct scsi_op *op, bool rctd)
{
	unsigned len = scsi_cdb_length(opcode);
	uint32_t n = 4;

	memset(buf, 0, 4);
	if (!op || !offered(cmd, op) || len == 0) {
		buf[1] = RSOC_NOT_SUPPORTED;
		return 4;
	}
	buf[1] = RSOC_SUPPORTED | (rctd ? RSOC_CTDP_ONE : 0);
	put_be16(buf + 2, (uint16_t)len);
	memcpy(buf + n, op->usage, len);
	buf[n] = opcode;
	n += len;
	if (rctd) {
		n += put_timeouts(buf + n);
	}
	return n;
}

void scsi_report_opcodes_exec(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	const struct scsi_op *parent = &scsi_op_table[cdb[3]];
	const struct scsi_op *op = parent;
	bool rctd = cdb[2] & RSOC_RCTD;
	uint16_t sa = get_be16(cdb + 4);
	uint8_t buf[RSOC_BUF_LEN];
	uint32_t n;

	if ((cdb[2] & RSOC_OPTIONS) == RSOC_ALL) {
		n = report_all(cmd, buf, rctd);
	} else {
		if (parent->sa_ops) {
			op = sa < SCSI_SA_COUNT ? &parent->sa_ops[sa] : NULL;
		}
		n = report_one(cmd, buf, cdb[3], op, rctd);
	}
	scsi_cmd_put_data(cmd, buf, n);
	scsi_cmd_complete(cmd);
}
