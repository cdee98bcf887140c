/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iscsi_rwbench: a small libiscsi load generator for bench/compare.sh, since
 * libiscsi's iscsi-perf only reads. Keeps QD READ(16) or WRITE(16) commands
 * of one size in flight for a fixed time and prints the rates.
 *
 *   iscsi_rwbench [-w] [-r] [-b BYTES] [-q QD] [-t SECONDS] iscsi://HOST:PORT/IQN/LUN
 *     -w write (default read)   -r random LBAs (default sequential)
 * Output (one line): "ops N secs S iops I mibs M errors E".
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

struct bench {
	struct iscsi_context *ctx;
	int lun;
	bool write;
	bool random;
	uint32_t bytes;
	uint32_t qd;
	uint32_t block_size;
	uint64_t nblocks;
	uint64_t next_lba;
	unsigned char *buf;
	double deadline;
	uint64_t done;
	uint64_t errors;
	uint32_t in_flight;
	uint64_t rng;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The LBA of the next command: sequential with wrap, or uniformly random, aligned. */
static uint64_t pick_lba(struct bench *b)
{
	uint64_t per_io = b->bytes / b->block_size, slots = b->nblocks / per_io, lba;

	if (b->random) {
		b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
		return (b->rng >> 17) % slots * per_io;
	}
	lba = b->next_lba;
	b->next_lba = lba + per_io + per_io > b->nblocks ? 0 : lba + per_io;
	return lba;
}

static int submit(struct bench *b);

/* Completion of one command: count it and keep the queue full until the deadline. */
static void completed(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct bench *b = priv;
	struct scsi_task *task = data;

	b->in_flight--;
	if (status == SCSI_STATUS_GOOD)
		b->done++;
	else
		b->errors++;
	if (task)
		scsi_free_scsi_task(task);
	if (now() < b->deadline && b->errors < 100)
		submit(b);
}

/* Queue one READ(16)/WRITE(16); 0 or -EIO. */
static int submit(struct bench *b)
{
	uint64_t lba = pick_lba(b);
	struct scsi_task *t;

	if (b->write)
		t = iscsi_write16_task(b->ctx, b->lun, lba, b->buf, b->bytes, (int)b->block_size, 0,
				       0, 0, 0, 0, completed, b);
	else
		t = iscsi_read16_task(b->ctx, b->lun, lba, b->bytes, (int)b->block_size, 0, 0, 0,
				      0, 0, completed, b);
	if (!t)
		return -EIO;
	b->in_flight++;
	return 0;
}

/* Log in to the URL and learn the LUN geometry; 0 or -1 with a message. */
static int open_lun(struct bench *b, const char *url)
{
	struct iscsi_url *u;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;

	b->ctx = iscsi_create_context("iqn.2026-11.org.idm:rwbench");
	u = b->ctx ? iscsi_parse_full_url(b->ctx, url) : NULL;
	if (!u)
		return fprintf(stderr, "bad URL %s\n", url), -1;
	iscsi_set_targetname(b->ctx, u->target);
	iscsi_set_session_type(b->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(b->ctx, ISCSI_HEADER_DIGEST_NONE);
	b->lun = u->lun;
	if (iscsi_full_connect_sync(b->ctx, u->portal, u->lun) != 0) {
		fprintf(stderr, "login failed: %s\n", iscsi_get_error(b->ctx));
		iscsi_destroy_url(u);
		return -1;
	}
	iscsi_destroy_url(u);
	task = iscsi_readcapacity16_sync(b->ctx, b->lun);
	rc16 = task && task->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(task) : NULL;
	if (rc16) {
		b->block_size = rc16->block_length;
		b->nblocks = rc16->returned_lba + 1;
	}
	if (task)
		scsi_free_scsi_task(task);
	if (!b->block_size || b->bytes % b->block_size || b->nblocks * b->block_size < b->bytes)
		return fprintf(stderr, "unusable LUN geometry\n"), -1;
	return 0;
}

/* Drive the event loop until every command has completed. */
static int run(struct bench *b)
{
	struct pollfd pfd;
	uint32_t i;

	for (i = 0; i < b->qd; i++)
		if (submit(b))
			return -1;
	while (b->in_flight) {
		pfd.fd = iscsi_get_fd(b->ctx);
		pfd.events = iscsi_which_events(b->ctx);
		if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			return -1;
		if (iscsi_service(b->ctx, pfd.revents) < 0) {
			fprintf(stderr, "iscsi_service: %s\n", iscsi_get_error(b->ctx));
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = {.bytes = 4096, .qd = 32, .rng = 0x2545f4914f6cdd1dull};
	double secs = 10, t0;
	int c;

	while ((c = getopt(argc, argv, "wrb:q:t:")) != -1) {
		if (c == 'w')
			b.write = true;
		else if (c == 'r')
			b.random = true;
		else if (c == 'b')
			b.bytes = (uint32_t)strtoul(optarg, NULL, 0);
		else if (c == 'q')
			b.qd = (uint32_t)strtoul(optarg, NULL, 0);
		else if (c == 't')
			secs = atof(optarg);
		else
			return fprintf(stderr, "usage: %s [-w] [-r] [-b BYTES] [-q QD] [-t SECS] URL\n",
				       argv[0]), 2;
	}
	if (optind != argc - 1 || !b.bytes || !b.qd || secs <= 0)
		return fprintf(stderr, "usage: %s [-w] [-r] [-b BYTES] [-q QD] [-t SECS] URL\n",
			       argv[0]), 2;
	b.buf = calloc(1, b.bytes);
	if (!b.buf || open_lun(&b, argv[optind]))
		return 1;
	memset(b.buf, 0x5a, b.bytes);
	t0 = now();
	b.deadline = t0 + secs;
	if (run(&b))
		return 1;
	secs = now() - t0;
	printf("ops %llu secs %.2f iops %.0f mibs %.1f errors %llu\n", (unsigned long long)b.done,
	       secs, (double)b.done / secs, (double)b.done * b.bytes / secs / 1048576.0,
	       (unsigned long long)b.errors);
	iscsi_logout_sync(b.ctx);
	iscsi_destroy_context(b.ctx);
	free(b.buf);
	return b.errors ? 1 : 0;
}
