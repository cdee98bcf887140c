/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MODE SENSE(6) and MODE SENSE(10) (SPC-4 6.11, 6.12): header, optional
 * block descriptor, and the mode pages from a table. MODE SELECT(6) and
 * (10) (SPC-4 6.9, 6.10) change the one changeable bit, WCE in the
 * caching page; every other field must keep its current value. Saved
 * values are not supported.
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define MS_DBD 0x08
#define MS_LLBAA 0x10
#define MS_ALL_PAGES 0x3f
#define MS_ALL_SUBPAGES 0xff
#define MS_DPOFUA 0x10 /* device-specific parameter: DPO and FUA supported */
#define MS_WP 0x80     /* device-specific parameter: write-protected medium */
#define MS_LONGLBA 0x01
#define MS_BUF_LEN 256

enum mode_pc {
	PC_CURRENT = 0,
	PC_CHANGEABLE = 1,
	PC_DEFAULT = 2,
	PC_SAVED = 3,
};

struct mode_page {
	uint8_t code;
	uint8_t len; /* whole page, header included */
	/* Fills the page body (bytes 2..len-1, zeroed) for `pc`. */
	void (*fill)(const struct scsi_lu *lu, enum mode_pc pc, uint8_t *page);
};

#define CACHING_WCE 0x04

static void fill_caching(const struct scsi_lu *lu, enum mode_pc pc, uint8_t *page)
{
	/* CHANGEABLE reports WCE as the one bit MODE SELECT may change. */
	if ((pc == PC_CURRENT && __atomic_load_n(&lu->write_cache, __ATOMIC_RELAXED)) ||
	    pc != PC_CURRENT) {
		page[2] |= CACHING_WCE;
	}
}

static void fill_control(const struct scsi_lu *lu, enum mode_pc pc, uint8_t *page)
{
	if (pc != PC_CHANGEABLE) {
		page[3] = 0x10;             /* unrestricted reordering allowed */
		put_be16(page + 8, 0xffff); /* busy timeout: unlimited */
	}
}

static void fill_exceptions(const struct scsi_lu *lu, enum mode_pc pc, uint8_t *page)
{
	if (pc != PC_CHANGEABLE) {
		page[2] = 0x08; /* DEXCPT: no informational exceptions */
	}
}

/* Ascending page code, the order "all pages" returns them in. */
static const struct mode_page mode_pages[] = {
    {0x08, 20, fill_caching},
    {0x0a, 12, fill_control},
    {0x1c, 12, fill_exceptions},
};
#define MODE_PAGE_COUNT (sizeof(mode_pages) / sizeof(mode_pages[0]))

static bool is_mode_sense10(const struct scsi_cmd *cmd)
{
	return cmd->cdb[0] == SCSI_OP_MODE_SENSE10;
}

static bool page_known(uint8_t code)
{
	size_t i;

	if (code == MS_ALL_PAGES) {
		return true;
	}
	for (i = 0; i < MODE_PAGE_COUNT; i++) {
		if (mode_pages[i].code == code) {
			return true;
		}
	}
	return false;
}

int scsi_mode_sense_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint8_t code = cdb[2] & 0x3f;
	uint8_t subpage = cdb[3];

	if ((cdb[2] >> 6) == PC_SAVED) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                     SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED);
	}
	if (!page_known(code)) {
		return scsi_cmd_bad_field(cmd, 2, 5);
	}
	if (subpage != 0 && !(code == MS_ALL_PAGES && subpage == MS_ALL_SUBPAGES)) {
		return scsi_cmd_bad_field(cmd, 3, -1);
	}
	return scsi_cmd_data_in(cmd, is_mode_sense10(cmd) ? get_be16(cdb + 7) : cdb[4], MS_BUF_LEN);
}

/* Block descriptor (SBC-3 6.4.2); returns its length. */
static uint32_t put_block_descriptor(const struct scsi_lu *lu, bool longlba, uint8_t *p)
{
	uint64_t blocks = lu->num_blocks;

	if (longlba) {
		memset(p, 0, 16);
		put_be64(p, blocks);
		put_be32(p + 12, lu->block_size);
		return 16;
	}
	memset(p, 0, 8);
	put_be32(p, blocks > 0xffffffffu ? 0xffffffffu : (uint32_t)blocks);
	put_be24(p + 5, lu->block_size);
	return 8;
}

static uint32_t put_pages(const struct scsi_lu *lu, enum mode_pc pc, uint8_t code, uint8_t *p)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < MODE_PAGE_COUNT; i++) {
		const struct mode_page *mp = &mode_pages[i];

		if (code != MS_ALL_PAGES && code != mp->code) {
			continue;
		}
		memset(p + n, 0, mp->len);
		p[n] = mp->code;
		p[n + 1] = (uint8_t)(mp->len - 2);
		mp->fill(lu, pc, p + n);
		n += mp->len;
	}
	return n;
}

void scsi_mode_sense_exec(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ms10 = is_mode_sense10(cmd);
	bool longlba = ms10 && (cdb[1] & MS_LLBAA);
	uint32_t hdr = ms10 ? 8 : 4;
	uint32_t bd = 0, len;
	uint8_t buf[MS_BUF_LEN];
	uint8_t dsp = MS_DPOFUA;

	if (__atomic_load_n(&cmd->lu->read_only, __ATOMIC_RELAXED)) {
		dsp |= MS_WP;
	}
	memset(buf, 0, hdr);
	if (!(cdb[1] & MS_DBD)) {
		bd = put_block_descriptor(cmd->lu, longlba, buf + hdr);
	}
	len = hdr + bd +
	      put_pages(cmd->lu, (enum mode_pc)(cdb[2] >> 6), cdb[2] & 0x3f, buf + hdr + bd);
	if (ms10) {
		put_be16(buf, (uint16_t)(len - 2));
		buf[3] = dsp;
		buf[4] = bd == 16 ? MS_LONGLBA : 0;
		put_be16(buf + 6, (uint16_t)bd);
	} else {
		buf[0] = (uint8_t)(len - 1);
		buf[2] = dsp;
		buf[3] = (uint8_t)bd;
	}
	scsi_cmd_put_data(cmd, buf, len);
	scsi_cmd_complete(cmd);
}

#define MSEL_PF 0x10
#define MSEL_SP 0x01
#define MSEL_SPF 0x40 /* page byte 0: subpage format */

int scsi_mode_select_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ms10 = cdb[0] == SCSI_OP_MODE_SELECT10;
	uint32_t len = ms10 ? get_be16(cdb + 7) : cdb[4];

	if (cdb[1] & MSEL_SP) {
		return scsi_cmd_bad_field(cmd, 1, 0);
	}
	/* Only the page format (PF=1) is defined for a disk. */
	if (len && !(cdb[1] & MSEL_PF)) {
		return scsi_cmd_bad_field(cmd, 1, 4);
	}
	cmd->dir = len ? SCSI_DIR_WRITE : SCSI_DIR_NONE;
	cmd->xfer_len = len;
	return 0;
}

static const struct mode_page *find_page(uint8_t code)
{
	size_t i;

	for (i = 0; i < MODE_PAGE_COUNT; i++) {
		if (mode_pages[i].code == code) {
			return &mode_pages[i];
		}
	}
	return NULL;
}

/* Block descriptors may restate the capacity and block size, not change
 * them. Returns 0 or 1 (sense set). */
static int check_block_descriptors(struct scsi_cmd *cmd, uint32_t off, uint32_t bdlen, bool longlba)
{
	uint32_t size = longlba ? 16 : 8;
	const uint8_t *p;

	if (bdlen % size) {
		scsi_cmd_bad_param(cmd, (uint16_t)(cmd->cdb[0] == SCSI_OP_MODE_SELECT10 ? 6 : 3),
		                   -1);
		return 1;
	}
	for (; bdlen; bdlen -= size, off += size) {
		p = cmd->data + off;
		if (longlba ? get_be32(p + 12) != cmd->lu->block_size
		            : get_be24(p + 5) != cmd->lu->block_size) {
			scsi_cmd_bad_param(cmd, (uint16_t)(off + (longlba ? 12 : 5)), -1);
			return 1;
		}
	}
	return 0;
}

/* Check one mode page at `off` against the current values and what is
 * changeable; the new WCE goes to *wce. Returns the page length, or 0
 * with sense set. */
static uint32_t check_page(struct scsi_cmd *cmd, uint32_t off, uint32_t end, bool *wce)
{
	const uint8_t *p = cmd->data + off;
	uint8_t cur[MS_BUF_LEN], mask[MS_BUF_LEN];
	const struct mode_page *mp;
	uint32_t i;

	if (end - off < 2 || end - off < (uint32_t)p[1] + 2) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return 0;
	}
	mp = find_page(p[0] & 0x3f);
	if (!mp || (p[0] & MSEL_SPF)) {
		scsi_cmd_bad_param(cmd, (uint16_t)off, -1);
		return 0;
	}
	if ((uint32_t)p[1] + 2 != mp->len) {
		scsi_cmd_bad_param(cmd, (uint16_t)(off + 1), -1);
		return 0;
	}
	put_pages(cmd->lu, PC_CURRENT, mp->code, cur);
	put_pages(cmd->lu, PC_CHANGEABLE, mp->code, mask);
	for (i = 2; i < mp->len; i++) {
		if ((p[i] ^ cur[i]) & ~mask[i]) {
			scsi_cmd_bad_param(cmd, (uint16_t)(off + i), -1);
			return 0;
		}
	}
	if (mp->code == 0x08) {
		*wce = p[2] & CACHING_WCE;
	}
	return mp->len;
}

/* Validate the whole list first, then apply: a bad page changes nothing. */
void scsi_mode_select_exec(struct scsi_cmd *cmd)
{
	bool ms10 = cmd->cdb[0] == SCSI_OP_MODE_SELECT10;
	uint32_t hdr = ms10 ? 8 : 4;
	uint32_t len = cmd->xfer_len, off, bdlen, n;
	bool wce = __atomic_load_n(&cmd->lu->write_cache, __ATOMIC_RELAXED);

	if (len == 0 || scsi_buffer_short(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (len < hdr) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		scsi_cmd_complete(cmd);
		return;
	}
	bdlen = ms10 ? get_be16(cmd->data + 6) : cmd->data[3];
	if (bdlen > len - hdr) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		scsi_cmd_complete(cmd);
		return;
	}
	if (check_block_descriptors(cmd, hdr, bdlen, ms10 && (cmd->data[4] & MS_LONGLBA))) {
		scsi_cmd_complete(cmd);
		return;
	}
	for (off = hdr + bdlen; off < len; off += n) {
		n = check_page(cmd, off, len, &wce);
		if (n == 0) {
			scsi_cmd_complete(cmd);
			return;
		}
	}
	__atomic_store_n(&cmd->lu->write_cache, wce, __ATOMIC_RELAXED);
	scsi_cmd_complete(cmd);
}
