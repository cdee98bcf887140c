/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mode_wce: the WCE bit of a LUN's caching mode page as an initiator sees
 * it (MODE SENSE(6), current values), and changed with MODE SELECT(6);
 * sg3-utils cannot reach an iSCSI LUN without the kernel's initiator.
 *
 *   mode_wce [-i INITIATOR] iscsi://HOST:PORT/IQN/LUN [0|1]
 * Prints "WCE=0" or "WCE=1" (after the MODE SELECT when a value is
 * given, read back); exit 0, or 1 with one error line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

static struct scsi_task *sense_caching(struct iscsi_context *iscsi, int lun)
{
	struct scsi_task *task = iscsi_modesense6_sync(iscsi, lun, 1, SCSI_MODESENSE_PC_CURRENT,
	                                               SCSI_MODEPAGE_CACHING, 0, 255);

	if (!task || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "mode_wce: MODE SENSE: %s\n", iscsi_get_error(iscsi));
		if (task) {
			scsi_free_scsi_task(task);
		}
		return NULL;
	}
	return task;
}

static struct scsi_mode_page *caching_page(struct scsi_task *task)
{
	struct scsi_mode_sense *ms = scsi_datain_unmarshall(task);
	struct scsi_mode_page *mp =
	    ms ? scsi_modesense_get_page(ms, SCSI_MODEPAGE_CACHING, 0) : NULL;

	if (!mp) {
		fprintf(stderr, "mode_wce: no caching mode page\n");
	}
	return mp;
}

static int run(struct iscsi_context *iscsi, int lun, const char *set)
{
	struct scsi_task *task = sense_caching(iscsi, lun), *sel;
	struct scsi_mode_page *mp = task ? caching_page(task) : NULL;
	int rc = 1;

	if (mp && set) {
		mp->caching.wce = strcmp(set, "1") == 0;
		mp->ps = 0; /* reserved in MODE SELECT */
		sel = iscsi_modeselect6_sync(iscsi, lun, 1, 0, mp);
		if (!sel || sel->status != SCSI_STATUS_GOOD) {
			fprintf(stderr, "mode_wce: MODE SELECT: %s\n", iscsi_get_error(iscsi));
			mp = NULL;
		}
		if (sel) {
			scsi_free_scsi_task(sel);
		}
		scsi_free_scsi_task(task);
		task = mp ? sense_caching(iscsi, lun) : NULL;
		mp = task ? caching_page(task) : NULL;
	}
	if (mp) {
		printf("WCE=%d\n", mp->caching.wce ? 1 : 0);
		rc = 0;
	}
	if (task) {
		scsi_free_scsi_task(task);
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *initiator = "iqn.2026-11.org.idm:mode-wce";
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	int argi = 1, rc;

	if (argc > 2 && strcmp(argv[1], "-i") == 0) {
		initiator = argv[2];
		argi = 3;
	}
	if (argc - argi < 1 || argc - argi > 2 ||
	    (argc - argi == 2 && strcmp(argv[argi + 1], "0") != 0 &&
	     strcmp(argv[argi + 1], "1") != 0)) {
		fprintf(stderr, "usage: mode_wce [-i INITIATOR] iscsi://HOST:PORT/IQN/LUN [0|1]\n");
		return 1;
	}
	iscsi = iscsi_create_context(initiator);
	url = iscsi ? iscsi_parse_full_url(iscsi, argv[argi]) : NULL;
	if (!url) {
		fprintf(stderr, "mode_wce: bad URL %s\n", argv[argi]);
		return 1;
	}
	iscsi_set_targetname(iscsi, url->target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "mode_wce: login: %s\n", iscsi_get_error(iscsi));
		rc = 1;
	} else {
		rc = run(iscsi, url->lun, argc - argi == 2 ? argv[argi + 1] : NULL);
		iscsi_logout_sync(iscsi);
	}
	iscsi_destroy_url(url);
	iscsi_destroy_context(iscsi);
	return rc;
}
