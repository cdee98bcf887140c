/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iscsi_extra: protocol checks the libiscsi command-line tools do not make.
 * Against one target (loopback portal, IQN, expected LUN count) it checks:
 * SendTargets discovery, REPORT LUNS content, a NOP-Out/NOP-In ping round
 * trip with echoed data, a 1 MiB WRITE(10) + READ(10) compare, logout, and a
 * fresh login that reads the same data back.
 *
 *   iscsi_extra -p 127.0.0.1:3260 -t IQN [-n NLUNS] [-l LUN] [-d]
 *     -d  ask for CRC32C header digests
 * Exit 0 when every check passed; one "ok"/"FAIL" line per check.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define INITIATOR_IQN "iqn.2026-11.org.idm:extra"
#define IO_BYTES (1u << 20)
#define SYNC_TIMEOUT_S 30
#define NOP_TIMEOUT_MS 10000

struct options {
	const char *portal;
	const char *iqn;
	int nluns;
	int lun;
	bool header_digest;
};

/* What the NOP-In callback reports back to the waiting loop. */
struct nop_wait {
	bool done;
	int status;
	unsigned char echo[64];
	size_t echo_len;
};

/* Print one check's result; returns 0 for ok, -1 for a failure. */
static int report(const char *check, bool ok, const char *why)
{
	printf("%-4s %s%s%s\n", ok ? "ok" : "FAIL", check, why ? ": " : "", why ? why : "");
	return ok ? 0 : -1;
}

/* Create a context with our initiator name, timeouts and digest choice. */
static struct iscsi_context *new_context(const struct options *o, enum iscsi_session_type type)
{
	struct iscsi_context *ctx = iscsi_create_context(INITIATOR_IQN);

	if (!ctx)
		return NULL;
	iscsi_set_timeout(ctx, SYNC_TIMEOUT_S);
	iscsi_set_session_type(ctx, type);
	iscsi_set_header_digest(ctx, o->header_digest ? ISCSI_HEADER_DIGEST_CRC32C
						      : ISCSI_HEADER_DIGEST_NONE);
	if (type == ISCSI_SESSION_NORMAL)
		iscsi_set_targetname(ctx, o->iqn);
	return ctx;
}

/* Log in to the target's normal session; NULL (with a message) on failure. */
static struct iscsi_context *login_normal(const struct options *o)
{
	struct iscsi_context *ctx = new_context(o, ISCSI_SESSION_NORMAL);

	if (!ctx)
		return NULL;
	if (iscsi_full_connect_sync(ctx, o->portal, o->lun) != 0) {
		report("login", false, iscsi_get_error(ctx));
		iscsi_destroy_context(ctx);
		return NULL;
	}
	return ctx;
}

/* True when a portal string "ADDR:PORT,TPGT" names the portal we logged in to. */
static bool portal_matches(const char *listed, const char *wanted)
{
	size_t n = strlen(wanted);

	return strncmp(listed, wanted, n) == 0 && (listed[n] == ',' || listed[n] == '\0');
}

/* SendTargets=All over a discovery session lists our target at our portal. */
static int check_discovery(const struct options *o)
{
	struct iscsi_context *ctx = new_context(o, ISCSI_SESSION_DISCOVERY);
	struct iscsi_discovery_address *list, *a;
	struct iscsi_target_portal *p;
	bool target = false, portal = false;

	if (!ctx)
		return report("discovery", false, "no context");
	if (iscsi_connect_sync(ctx, o->portal) != 0 || iscsi_login_sync(ctx) != 0) {
		report("discovery", false, iscsi_get_error(ctx));
		iscsi_destroy_context(ctx);
		return -1;
	}
	list = iscsi_discovery_sync(ctx);
	for (a = list; a; a = a->next) {
		printf("     TargetName=%s\n", a->target_name);
		if (strcmp(a->target_name, o->iqn) != 0)
			continue;
		target = true;
		for (p = a->portals; p; p = p->next) {
			printf("     TargetAddress=%s\n", p->portal);
			portal |= portal_matches(p->portal, o->portal);
		}
	}
	if (list)
		iscsi_free_discovery_data(ctx, list);
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	if (!list)
		return report("discovery", false, "SendTargets returned nothing");
	if (!target)
		return report("discovery", false, "target not listed");
	return report("discovery", portal, portal ? NULL : "our portal not listed");
}

/* REPORT LUNS lists exactly LUNs 0 .. nluns-1. */
static int check_report_luns(struct iscsi_context *ctx, const struct options *o)
{
	struct scsi_task *task = iscsi_reportluns_sync(ctx, 0, 16384);
	struct scsi_reportluns_list *list;
	uint64_t seen = 0;
	char why[128] = "";
	uint32_t i;

	if (!task || task->status != SCSI_STATUS_GOOD) {
		snprintf(why, sizeof(why), "%s", iscsi_get_error(ctx));
		goto out;
	}
	list = scsi_datain_unmarshall(task);
	if (!list) {
		snprintf(why, sizeof(why), "cannot parse the LUN list");
		goto out;
	}
	if (list->num != (uint32_t)o->nluns)
		snprintf(why, sizeof(why), "%u LUNs listed, expected %d", list->num, o->nluns);
	for (i = 0; i < list->num && !why[0]; i++) {
		if (list->luns[i] >= 64 || list->luns[i] >= o->nluns || (seen >> list->luns[i]) & 1)
			snprintf(why, sizeof(why), "unexpected LUN %u", list->luns[i]);
		else
			seen |= 1ull << list->luns[i];
	}
out:
	if (task)
		scsi_free_scsi_task(task);
	return report("report-luns", !why[0], why[0] ? why : NULL);
}

/* libiscsi callback for the NOP-In that answers our NOP-Out. */
static void nop_done(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct nop_wait *w = priv;
	struct iscsi_data *in = data;

	w->done = true;
	w->status = status;
	if (status == SCSI_STATUS_GOOD && in && in->data) {
		w->echo_len = in->size < sizeof(w->echo) ? in->size : sizeof(w->echo);
		memcpy(w->echo, in->data, w->echo_len);
	}
}

/* Drive libiscsi's event loop until *done or the deadline; 0 or -ETIMEDOUT/-EIO. */
static int wait_for(struct iscsi_context *ctx, const bool *done, int timeout_ms)
{
	struct pollfd pfd;

	while (!*done && timeout_ms > 0) {
		pfd.fd = iscsi_get_fd(ctx);
		pfd.events = iscsi_which_events(ctx);
		if (poll(&pfd, 1, 100) < 0)
			return -errno;
		if (iscsi_service(ctx, pfd.revents) < 0)
			return -EIO;
		timeout_ms -= 100;
	}
	return *done ? 0 : -ETIMEDOUT;
}

/* A NOP-Out with a ping payload comes back as a NOP-In echoing it. */
static int check_nop(struct iscsi_context *ctx)
{
	unsigned char ping[] = "idm-ping-0123456789";
	struct nop_wait w = {0};
	int rc;

	if (iscsi_nop_out_async(ctx, nop_done, ping, sizeof(ping), &w) != 0)
		return report("nop", false, iscsi_get_error(ctx));
	rc = wait_for(ctx, &w.done, NOP_TIMEOUT_MS);
	if (rc)
		return report("nop", false, rc == -ETIMEDOUT ? "no NOP-In" : iscsi_get_error(ctx));
	if (w.status != SCSI_STATUS_GOOD)
		return report("nop", false, "NOP-Out failed");
	if (w.echo_len != sizeof(ping) || memcmp(w.echo, ping, sizeof(ping)) != 0)
		return report("nop", false, "NOP-In did not echo the ping data");
	return report("nop", true, NULL);
}

/* Block size of the LUN from READ CAPACITY(16); 0 on failure. */
static uint32_t block_size(struct iscsi_context *ctx, int lun)
{
	struct scsi_task *task = iscsi_readcapacity16_sync(ctx, lun);
	struct scsi_readcapacity16 *rc16;
	uint32_t bs = 0;

	if (task && task->status == SCSI_STATUS_GOOD) {
		rc16 = scsi_datain_unmarshall(task);
		if (rc16)
			bs = rc16->block_length;
	}
	if (task)
		scsi_free_scsi_task(task);
	return bs;
}

/* Fill `buf` with a pattern that differs per run and per offset. */
static void fill_pattern(unsigned char *buf, size_t len)
{
	uint32_t x = (uint32_t)time(NULL) ^ 0x9e3779b9u;
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(x >> 24);
	}
}

/* READ(10) of IO_BYTES at LBA 0 returns exactly `expect`. */
static int read_compare(struct iscsi_context *ctx, const struct options *o, uint32_t bs,
			const unsigned char *expect, const char *check)
{
	struct scsi_task *task = iscsi_read10_sync(ctx, o->lun, 0, IO_BYTES, bs, 0, 0, 0, 0, 0);
	const char *why = NULL;

	if (!task || task->status != SCSI_STATUS_GOOD)
		why = iscsi_get_error(ctx);
	else if ((size_t)task->datain.size != IO_BYTES)
		why = "short read";
	else if (memcmp(task->datain.data, expect, IO_BYTES) != 0)
		why = "data read back differs";
	if (task)
		scsi_free_scsi_task(task);
	return report(check, !why, why);
}

/* WRITE(10) of 1 MiB at LBA 0, then READ(10) compares it. */
static int check_write_read(struct iscsi_context *ctx, const struct options *o,
			    unsigned char *data, uint32_t bs)
{
	struct scsi_task *task;
	const char *why = NULL;

	task = iscsi_write10_sync(ctx, o->lun, 0, data, IO_BYTES, bs, 0, 0, 0, 0, 0);
	if (!task || task->status != SCSI_STATUS_GOOD)
		why = iscsi_get_error(ctx);
	if (task)
		scsi_free_scsi_task(task);
	if (why)
		return report("write-1MiB", false, why);
	report("write-1MiB", true, NULL);
	return read_compare(ctx, o, bs, data, "read-1MiB-compare");
}

/* Logout must succeed; a new session then sees the data written before. */
static int check_relogin(struct iscsi_context *ctx, const struct options *o,
			 const unsigned char *data, uint32_t bs)
{
	int rc = iscsi_logout_sync(ctx);

	report("logout", rc == 0, rc ? iscsi_get_error(ctx) : NULL);
	iscsi_destroy_context(ctx);
	if (rc)
		return -1;
	ctx = login_normal(o);
	if (!ctx)
		return report("relogin", false, "login after logout failed");
	report("relogin", true, NULL);
	rc = read_compare(ctx, o, bs, data, "read-after-relogin");
	rc |= check_nop(ctx);
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	return rc;
}

/* The normal-session checks, in order; returns 0 if all passed. */
static int check_session(const struct options *o)
{
	struct iscsi_context *ctx = login_normal(o);
	unsigned char *data;
	uint32_t bs;
	int rc = 0;

	if (!ctx)
		return -1;
	report("login", true, NULL);
	rc |= check_report_luns(ctx, o);
	rc |= check_nop(ctx);
	bs = block_size(ctx, o->lun);
	data = malloc(IO_BYTES);
	if (!bs || !data) {
		free(data);
		iscsi_destroy_context(ctx);
		return report("read-capacity", false, "no block size");
	}
	fill_pattern(data, IO_BYTES);
	if (check_write_read(ctx, o, data, bs) != 0) {
		iscsi_destroy_context(ctx);
		free(data);
		return -1;
	}
	rc |= check_relogin(ctx, o, data, bs);
	free(data);
	return rc;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s -p ADDR:PORT -t IQN [-n NLUNS] [-l LUN] [-d]\n", prog);
	exit(2);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	int c;

	*o = (struct options){.nluns = 1};
	while ((c = getopt(argc, argv, "p:t:n:l:d")) != -1) {
		switch (c) {
		case 'p': o->portal = optarg; break;
		case 't': o->iqn = optarg; break;
		case 'n': o->nluns = atoi(optarg); break;
		case 'l': o->lun = atoi(optarg); break;
		case 'd': o->header_digest = true; break;
		default: usage(argv[0]);
		}
	}
	if (!o->portal || !o->iqn || o->nluns < 1 || o->nluns > 64 || o->lun < 0)
		usage(argv[0]);
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = 0;

	parse_args(argc, argv, &o);
	rc |= check_discovery(&o);
	rc |= check_session(&o);
	printf("%s\n", rc ? "FAILED" : "ALL OK");
	return rc ? 1 : 0;
}
