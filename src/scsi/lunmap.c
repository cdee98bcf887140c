/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An I_T nexus's view of a LU set (struct scsi_lun_map): which LUs it
 * sees under which LUN numbers. Commands resolve their LUN through it,
 * REPORT LUNS lists it, EXTENDED COPY reaches only what it shows; unit
 * attentions, reservations and statistics stay with the LU itself.
 */
#include <errno.h>
#include <string.h>

#include "scsi_int.h"

void scsi_lun_map_init_all(struct scsi_lun_map *m)
{
	memset(m, 0, sizeof(*m));
	m->all = true;
}

void scsi_lun_map_init_none(struct scsi_lun_map *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < SCSI_MAX_LUNS; i++) {
		m->lu_of[i] = SCSI_LUN_UNMAPPED;
	}
}

int scsi_lun_map_set(struct scsi_lun_map *m, unsigned lun, unsigned lu)
{
	if (m->all || lun >= SCSI_MAX_LUNS || lu >= SCSI_MAX_LUNS) {
		return -EINVAL;
	}
	m->lu_of[lun] = (uint16_t)lu;
	return 0;
}

unsigned scsi_lun_map_lu(const struct scsi_lun_map *m, uint64_t lun)
{
	if (lun >= SCSI_MAX_LUNS) {
		return SCSI_MAX_LUNS;
	}
	if (!m || m->all) {
		return (unsigned)lun;
	}
	return m->lu_of[lun] == SCSI_LUN_UNMAPPED ? SCSI_MAX_LUNS : m->lu_of[lun];
}

bool scsi_lun_map_shows(const struct scsi_lun_map *m, unsigned lu)
{
	if (!m || m->all) {
		return lu < SCSI_MAX_LUNS;
	}
	for (unsigned i = 0; i < SCSI_MAX_LUNS; i++) {
		if (m->lu_of[i] == lu) {
			return true;
		}
	}
	return false;
}

bool scsi_lun_map_replace(struct scsi_lun_map *m, const struct scsi_lun_map *next)
{
	if (m->all == next->all &&
	    (m->all || memcmp(m->lu_of, next->lu_of, sizeof(m->lu_of)) == 0)) {
		return false;
	}
	m->all = next->all;
	memcpy(m->lu_of, next->lu_of, sizeof(m->lu_of));
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		if (scsi_lun_map_shows(m, l)) {
			m->changed[l / 32] |= 1u << (l % 32);
		}
	}
	return true;
}
