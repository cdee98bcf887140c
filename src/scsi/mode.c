/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MODE SENSE(6) and MODE SENSE(10) (SPC-4 6.11, 6.12): header, optional
 * block descriptor, and the mode pages from a table. Nothing is
 * changeable: MODE SELECT is not implemented yet, so the changeable
 * values are all zero and saved values are not supported.
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define MS_DBD 0x08
#define MS_LLBAA 0x10
#define MS_ALL_PAGES 0x3f
#define MS_ALL_SUBPAGES 0xff
#define MS_DPOFUA 0x10 /* device-specific parameter: DPO and FUA supported */
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

static void fill_caching(const struct scsi_lu *lu, enum mode_pc pc, uint8_t *page)
{
	if ((pc == PC_CURRENT && lu->write_cache) || pc == PC_DEFAULT) {
		page[2] |= 0x04; /* WCE */
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
	return scsi_cmd_data_in(cmd, is_mode_sense10(cmd) ? get_be16(cdb + 7) : cdb[4]);
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

	memset(buf, 0, hdr);
	if (!(cdb[1] & MS_DBD)) {
		bd = put_block_descriptor(cmd->lu, longlba, buf + hdr);
	}
	len = hdr + bd +
	      put_pages(cmd->lu, (enum mode_pc)(cdb[2] >> 6), cdb[2] & 0x3f, buf + hdr + bd);
	if (ms10) {
		put_be16(buf, (uint16_t)(len - 2));
		buf[3] = MS_DPOFUA;
		buf[4] = bd == 16 ? MS_LONGLBA : 0;
		put_be16(buf + 6, (uint16_t)bd);
	} else {
		buf[0] = (uint8_t)(len - 1);
		buf[2] = MS_DPOFUA;
		buf[3] = (uint8_t)bd;
	}
	scsi_cmd_put_data(cmd, buf, len);
	scsi_cmd_complete(cmd);
}
