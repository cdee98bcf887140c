/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * INQUIRY (SPC-4 6.6): standard data and the vital product data pages,
 * each page built by one small function listed in a table.
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define INQ_EVPD 0x01
#define INQ_CMDDT 0x02
#define INQ_STD_LEN 96
#define INQ_BUF_LEN 512

#define PQ_NOT_CONNECTED 0x7f /* qualifier 011b, device type 1Fh */
#define DEVTYPE_DISK 0x00
#define VERSION_SPC4 0x06
#define FLAG_HISUP 0x10
#define RDF_SPC 0x02
#define FLAG_CMDQUE 0x02

/* Version descriptors (SPC-4 table 30): SAM-5, iSCSI, SPC-4, SBC-3. */
static const uint16_t version_descriptors[] = {0x00a0, 0x0960, 0x0460, 0x04c0};

/* Designator header fields (SPC-4 7.8.6). */
#define CODESET_BINARY 0x1
#define CODESET_ASCII 0x2
#define CODESET_UTF8 0x3
#define PROTO_ISCSI 0x5
#define PIV 0x80
#define ASSOC_LU 0x00
#define ASSOC_TARGET 0x20
#define DESIG_T10 0x1
#define DESIG_NAA 0x3
#define DESIG_SCSI_NAME 0x8
#define DESIG_REL_PORT 0x4
#define DESIG_TPG 0x5
#define ASSOC_PORT 0x10

/* Extended INQUIRY Data page bits, bytes 5 and 6. */
#define EXT_SIMPSUP 0x01
#define EXT_V_SUP 0x01
/* Third-party Copy page descriptor type. */
#define TPC_SUPPORTED_COMMANDS 0x0001
/* Standard data byte 5, TPGS: 01b implicit asymmetric access only,
 * 11b implicit and explicit (SET TARGET PORT GROUPS). */
#define FLAG_TPGS_IMPLICIT 0x10
#define FLAG_TPGS_BOTH 0x30

/* Logical Block Provisioning page, byte 5 and 6. */
#define VPD_LBPU 0x80
#define VPD_LBPWS 0x40
#define VPD_LBPWS10 0x20
#define VPD_LBPRZ 0x04
#define VPD_PROVISIONING_THIN 0x02

struct vpd_page {
	uint8_t code;
	/* Writes the page after its 4-byte header into `p` (room for
	 * INQ_BUF_LEN - 4 bytes); returns the page length. */
	uint16_t (*build)(const struct scsi_cmd *cmd, uint8_t *p);
};

static uint16_t vpd_supported(const struct scsi_cmd *cmd, uint8_t *p);
static uint16_t vpd_serial(const struct scsi_cmd *cmd, uint8_t *p);
static uint16_t vpd_devid(const struct scsi_cmd *cmd, uint8_t *p);
static uint16_t vpd_block_limits(const struct scsi_cmd *cmd, uint8_t *p);
static uint16_t vpd_block_chars(const struct scsi_cmd *cmd, uint8_t *p);
static uint16_t vpd_provisioning(const struct scsi_cmd *cmd, uint8_t *p);
static uint16_t vpd_extended(const struct scsi_cmd *cmd, uint8_t *p);
static uint16_t vpd_third_party_copy(const struct scsi_cmd *cmd, uint8_t *p);

/* In ascending page code order, as the supported pages list must be. */
static const struct vpd_page vpd_pages[] = {
    {0x00, vpd_supported},    {0x80, vpd_serial},      {0x83, vpd_devid},
    {0x86, vpd_extended},     {0x8f, vpd_third_party_copy},
    {0xb0, vpd_block_limits}, {0xb1, vpd_block_chars}, {0xb2, vpd_provisioning},
};
#define VPD_PAGE_COUNT (sizeof(vpd_pages) / sizeof(vpd_pages[0]))

static uint16_t vpd_supported(const struct scsi_cmd *cmd, uint8_t *p)
{
	size_t i;

	for (i = 0; i < VPD_PAGE_COUNT; i++) {
		p[i] = vpd_pages[i].code;
	}
	return VPD_PAGE_COUNT;
}

static uint16_t vpd_serial(const struct scsi_cmd *cmd, uint8_t *p)
{
	const struct scsi_lu *lu = cmd->lu;
	size_t n = strnlen(lu->serial, sizeof(lu->serial));

	memcpy(p, lu->serial, n);
	return (uint16_t)n;
}

/* One designation descriptor; returns its total length. */
static uint16_t put_designator(uint8_t *p, uint8_t b0, uint8_t b1, const void *id, size_t len)
{
	p[0] = b0;
	p[1] = b1;
	p[2] = 0;
	p[3] = (uint8_t)len;
	memcpy(p + 4, id, len);
	return (uint16_t)(4 + len);
}

/* The target's iSCSI name as a SCSI name string: NUL terminated and
 * padded with NULs to a multiple of 4 bytes (SPC-4 7.8.6.11). */
static uint16_t put_scsi_name(uint8_t *p, const char *name)
{
	size_t n = strnlen(name, 223);
	size_t padded = (n + 4) & ~(size_t)3;

	p[0] = (PROTO_ISCSI << 4) | CODESET_UTF8;
	p[1] = PIV | ASSOC_TARGET | DESIG_SCSI_NAME;
	p[2] = 0;
	p[3] = (uint8_t)padded;
	memset(p + 4, 0, padded);
	memcpy(p + 4, name, n);
	return (uint16_t)(4 + padded);
}

/* Relative target port (type 4) or target port group (type 5): a
 * 4-byte designator whose last two bytes are the number. */
static uint16_t put_port_number(uint8_t *p, uint8_t type, uint16_t number)
{
	uint8_t id[4] = {0, 0, (uint8_t)(number >> 8), (uint8_t)number};

	return put_designator(p, (PROTO_ISCSI << 4) | CODESET_BINARY, PIV | ASSOC_PORT | type, id,
	                      sizeof(id));
}

/* The designators of the target port the command came through. */
static uint16_t put_port_designators(const struct scsi_nexus *n, uint8_t *p)
{
	uint16_t len = 0;

	len += put_port_number(p + len, DESIG_REL_PORT, n->rel_port_id);
	len += put_port_number(p + len, DESIG_TPG, n->tpgt);
	return len;
}

static uint16_t vpd_devid(const struct scsi_cmd *cmd, uint8_t *p)
{
	const struct scsi_lu *lu = cmd->lu;
	uint8_t t10[8 + 32];
	size_t serial_len = strnlen(lu->serial, sizeof(lu->serial));
	uint16_t n = 0;

	n += put_designator(p + n, CODESET_BINARY, ASSOC_LU | DESIG_NAA, lu->naa, sizeof(lu->naa));
	scsi_put_ascii(t10, lu->vendor, 8);
	memcpy(t10 + 8, lu->serial, serial_len);
	n += put_designator(p + n, CODESET_ASCII, ASSOC_LU | DESIG_T10, t10, 8 + serial_len);
	if (lu->target_name[0]) {
		n += put_scsi_name(p + n, lu->target_name);
	}
	if (cmd->nexus) {
		n += put_port_designators(cmd->nexus, p + n);
	}
	return n;
}

/* Extended INQUIRY Data (SPC-4 7.8.7): simple task attribute only, a
 * volatile cache (SYNCHRONIZE CACHE matters), no protection. */
static uint16_t vpd_extended(const struct scsi_cmd *cmd, uint8_t *p)
{
	(void)cmd;
	memset(p, 0, 0x3c);
	p[1] = EXT_SIMPSUP;
	p[2] = EXT_V_SUP;
	return 0x3c;
}

/* Third-party Copy (SPC-4 7.8.17): the Supported Commands descriptor
 * lists EXTENDED COPY (LID1) and RECEIVE COPY RESULTS. */
static uint16_t vpd_third_party_copy(const struct scsi_cmd *cmd, uint8_t *p)
{
	static const uint8_t cmds[] = {0x83, 1, 0x00, 0x84, 3, 0x00, 0x03, 0x04};
	uint16_t len = (uint16_t)((4 + 1 + sizeof(cmds) + 3) & ~3u);

	(void)cmd;
	memset(p, 0, len);
	put_be16(p, TPC_SUPPORTED_COMMANDS);
	put_be16(p + 2, (uint16_t)(len - 4));
	p[4] = sizeof(cmds);
	memcpy(p + 5, cmds, sizeof(cmds));
	return len;
}

static uint16_t vpd_block_limits(const struct scsi_cmd *cmd, uint8_t *p)
{
	const struct scsi_lu *lu = cmd->lu;

	memset(p, 0, 0x3c);
	put_be16(p + 2, 1); /* optimal transfer length granularity */
	put_be32(p + 4, SCSI_MAX_XFER_BYTES / lu->block_size);
	put_be32(p + 8, SCSI_OPT_XFER_BYTES / lu->block_size);
	p[1] = (uint8_t)scsi_max_caw(lu); /* maximum COMPARE AND WRITE length */
	put_be32(p + 16, SCSI_MAX_UNMAP_BLOCKS);
	put_be32(p + 20, SCSI_MAX_UNMAP_DESCRIPTORS);
	/* Unmap granularity 1, alignment 0 (UGAVALID clear): any block. */
	put_be32(p + 24, 1);
	put_be64(p + 32, scsi_max_write_same(lu));
	return 0x3c;
}

static uint16_t vpd_block_chars(const struct scsi_cmd *cmd, uint8_t *p)
{
	(void)cmd;
	memset(p, 0, 0x3c);
	put_be16(p, 0x0001); /* medium rotation rate: non-rotating */
	return 0x3c;
}

/* Logical Block Provisioning (SBC-3 6.6.4): thin, with UNMAP and WRITE
 * SAME 10/16 with UNMAP; unmapped blocks read as zeros (LBPRZ); no
 * anchored blocks (ANC_SUP=0); no provisioning group descriptor. */
static uint16_t vpd_provisioning(const struct scsi_cmd *cmd, uint8_t *p)
{
	(void)cmd;
	memset(p, 0, 4);
	p[1] = VPD_LBPU | VPD_LBPWS | VPD_LBPWS10 | VPD_LBPRZ;
	p[2] = VPD_PROVISIONING_THIN;
	return 4;
}

static void inquiry_standard(struct scsi_cmd *cmd, uint8_t *buf)
{
	const struct scsi_lu *lu = cmd->lu;
	size_t i;

	memset(buf, 0, INQ_STD_LEN);
	buf[0] = lu ? DEVTYPE_DISK : PQ_NOT_CONNECTED;
	buf[2] = VERSION_SPC4;
	buf[3] = FLAG_HISUP | RDF_SPC;
	buf[4] = INQ_STD_LEN - 5;
	/* REPORT TARGET PORT GROUPS works; SET TARGET PORT GROUPS with a
	 * hook that can move the optimized path. */
	buf[5] = scsi_alua_explicit(cmd->lu) ? FLAG_TPGS_BOTH : FLAG_TPGS_IMPLICIT;
	buf[7] = FLAG_CMDQUE;
	scsi_put_ascii(buf + 8, "IDM", 8);
	scsi_put_ascii(buf + 16, "idm disk", 16);
	scsi_put_ascii(buf + 32, "0001", 4);
	if (lu) {
		scsi_put_ascii(buf + 8, lu->vendor, 8);
		scsi_put_ascii(buf + 16, lu->product, 16);
		scsi_put_ascii(buf + 32, lu->revision, 4);
	}
	for (i = 0; i < sizeof(version_descriptors) / sizeof(version_descriptors[0]); i++) {
		put_be16(buf + 58 + 2 * i, version_descriptors[i]);
	}
	scsi_cmd_put_data(cmd, buf, INQ_STD_LEN);
}

static const struct vpd_page *find_vpd_page(uint8_t code)
{
	size_t i;

	for (i = 0; i < VPD_PAGE_COUNT; i++) {
		if (vpd_pages[i].code == code) {
			return &vpd_pages[i];
		}
	}
	return NULL;
}

int scsi_inquiry_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;

	if (cdb[1] & INQ_CMDDT) {
		return scsi_cmd_bad_field(cmd, 1, 1);
	}
	if (cdb[1] & INQ_EVPD) {
		if (!cmd->lu) {
			return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
			                     SCSI_ASC_LU_NOT_SUPPORTED);
		}
		if (!find_vpd_page(cdb[2])) {
			return scsi_cmd_bad_field(cmd, 2, -1);
		}
	} else if (cdb[2] != 0) {
		return scsi_cmd_bad_field(cmd, 2, -1);
	}
	return scsi_cmd_data_in(cmd, get_be16(cdb + 3), INQ_BUF_LEN);
}

void scsi_inquiry_exec(struct scsi_cmd *cmd)
{
	uint8_t buf[INQ_BUF_LEN];
	const struct vpd_page *page;
	uint16_t len;

	if (!(cmd->cdb[1] & INQ_EVPD)) {
		inquiry_standard(cmd, buf);
		scsi_cmd_complete(cmd);
		return;
	}
	page = find_vpd_page(cmd->cdb[2]);
	len = page->build(cmd, buf + 4);
	buf[0] = DEVTYPE_DISK;
	buf[1] = page->code;
	put_be16(buf + 2, len);
	scsi_cmd_put_data(cmd, buf, 4u + len);
	scsi_cmd_complete(cmd);
}

/* ---- REPORT TARGET PORT GROUPS (SPC-4 6.36) ---- */

#define RTPG_FORMAT_EXTENDED 0x20 /* CDB byte 1 bits 7:5 = 001b */
#define RTPG_FORMAT_MASK 0xe0
#define RTPG_EXT_HEADER 0x10
#define RTPG_PREF 0x80
/* Supported states, descriptor byte 1: transitioning, unavailable,
 * standby, active/non-optimized and active/optimized, the ones the
 * access checks of alua.c know (not offline nor LBA dependent). */
#define RTPG_T_SUP 0x80
#define RTPG_U_SUP 0x08
#define RTPG_S_SUP 0x04
#define RTPG_AN_SUP 0x02
#define RTPG_AO_SUP 0x01
#define RTPG_ALL_SUP (RTPG_T_SUP | RTPG_U_SUP | RTPG_S_SUP | RTPG_AN_SUP | RTPG_AO_SUP)
#define RTPG_DESC_LEN 12 /* one group with one port */
#define RTPG_BUF_LEN (8 + RTPG_DESC_LEN * SCSI_ALUA_GROUPS_MAX)
/* Extended header: how long an implicit transition (the cluster lock
 * changing hands) may take, in seconds, for initiators to wait on a
 * transitioning group before they give up on it. */
#define RTPG_IMPLICIT_TRANSITION_SECS 30

int scsi_rtpg_setup(struct scsi_cmd *cmd)
{
	uint8_t format = cmd->cdb[1] & RTPG_FORMAT_MASK;

	if (format != 0 && format != RTPG_FORMAT_EXTENDED) {
		return scsi_cmd_bad_field(cmd, 1, 7);
	}
	return scsi_cmd_data_in(cmd, get_be32(cmd->cdb + 6), RTPG_BUF_LEN);
}

/* One target port group descriptor with its one target port. */
static uint32_t put_group(uint8_t *d, uint8_t first, uint8_t sup, uint16_t group, uint8_t status,
                          uint16_t port)
{
	memset(d, 0, RTPG_DESC_LEN);
	d[0] = first; /* PREF and the asymmetric access state */
	d[1] = sup;
	put_be16(d + 2, group);
	d[5] = status;
	d[7] = 1; /* target port count */
	put_be16(d + 10, port);
	return RTPG_DESC_LEN;
}

/* Every group of the LU; without groups one, the portal group of the
 * nexus, through which every LU is active/optimized (and preferred). */
void scsi_rtpg_exec(struct scsi_cmd *cmd)
{
	bool ext = (cmd->cdb[1] & RTPG_FORMAT_MASK) == RTPG_FORMAT_EXTENDED;
	uint8_t status[SCSI_ALUA_GROUPS_MAX];
	uint8_t buf[RTPG_BUF_LEN];
	struct scsi_alua a;
	uint32_t n = ext ? 8u : 4u;
	unsigned i;

	memset(buf, 0, 8);
	scsi_alua_snapshot(cmd->lu, &a, status);
	for (i = 0; i < a.n; i++) {
		const struct scsi_alua_group *g = &a.group[i];

		n += put_group(buf + n, g->state & 0x0f, RTPG_ALL_SUP, g->id, status[i], g->id);
	}
	if (a.n == 0) {
		n += put_group(buf + n, RTPG_PREF | SCSI_ALUA_ACTIVE_OPTIMIZED, RTPG_AO_SUP,
		               cmd->nexus ? cmd->nexus->tpgt : 1, 0,
		               cmd->nexus ? cmd->nexus->rel_port_id : 1);
	}
	/* RETURN DATA LENGTH: the bytes after it, in both formats. */
	put_be32(buf, n - 4);
	if (ext) {
		buf[4] = RTPG_EXT_HEADER;
		buf[5] = a.n ? RTPG_IMPLICIT_TRANSITION_SECS : 0;
	}
	scsi_cmd_put_data(cmd, buf, n);
	scsi_cmd_complete(cmd);
}
