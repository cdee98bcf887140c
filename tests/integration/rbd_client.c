/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rbd_client: the iSCSI side of the rbd store's integration tests
 * (t_rbd.sh), through libiscsi. One check per subcommand:
 *
 *   rbd_client caw-race URL1 URL2 ROUNDS LBA
 *       two sessions (two initiators; the URLs may name two idmd
 *       processes on one image) send COMPARE AND WRITE of the same
 *       block at once, each round: exactly one must win, the other get
 *       MISCOMPARE with INFORMATION at the winner's first changed byte.
 *   rbd_client durability URL SECONDS fua|sync|plain
 *       writes sequence-numbered blocks (LBA = sequence) and prints
 *       "ACK N" once block N is acknowledged as durable: after its FUA
 *       WRITE, after the SYNCHRONIZE CACHE that follows every 8 plain
 *       writes, or (plain, for WCE=0) after the WRITE itself; runs until
 *       SECONDS pass or the target goes away (then "END").
 *   rbd_client resize URL NEW_BYTES COMMAND
 *       with a session open runs COMMAND (rbd resize), then expects a
 *       unit attention CAPACITY DATA HAS CHANGED and the new capacity.
 *   rbd_client wce URL
 *       prints "WCE 0" or "WCE 1" from the caching mode page.
 *   rbd_client fault URL SECONDS [STOP_FILE]
 *       one session writes (and verifies) blocks while another sends a
 *       NOP-Out every 200 ms, for SECONDS or until STOP_FILE exists;
 *       reports the slowest NOP answer and whether
 *       when the last write succeeded (the test stops an OSD meanwhile):
 *       reactors must never block on the cluster. A write may fail with
 *       NOT READY (the store's timeout); any other failure counts.
 *   rbd_client caw-cross URL LBA
 *       COMPARE AND WRITE of the two blocks from LBA (chosen across an
 *       RBD object boundary, which librbd cannot compare atomically):
 *       a match writes, a mismatch in the second block reports its
 *       offset and writes nothing.
 *   rbd_client ready URL SECONDS
 *       TEST UNIT READY every 250 ms until GOOD (unit attentions are
 *       skipped); prints the first answer ("first GOOD" or "first NOT
 *       READY"), then "ready after N ms, B blocks". Exit 0 once GOOD.
 * Exit 0 when the check passed.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define SENSE_MISCOMPARE 0x0e
#define ASC_MISCOMPARE 0x1d00
#define ASC_CAPACITY_CHANGED 0x2a09
#define SEQ_MAGIC "IDMSEQ01"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Log in; with probe_lun, as libiscsi's full connect, which also sends
 * TEST UNIT READY to the LUN and fails unless it is ready. */
static struct iscsi_context *login_to(const char *url_text, const char *initiator, int *lun,
                                      bool probe_lun)
{
	struct iscsi_context *ctx = iscsi_create_context(initiator);
	struct iscsi_url *url;

	if (!ctx) {
		return NULL;
	}
	url = iscsi_parse_full_url(ctx, url_text);
	if (!url) {
		fprintf(stderr, "bad URL %s: %s\n", url_text, iscsi_get_error(ctx));
		iscsi_destroy_context(ctx);
		return NULL;
	}
	iscsi_set_targetname(ctx, url->target);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
	/* A target that goes away (SIGKILL) ends the check, no retries. */
	iscsi_set_noautoreconnect(ctx, 1);
	*lun = url->lun;
	if (probe_lun ? iscsi_full_connect_sync(ctx, url->portal, url->lun) != 0
	              : iscsi_connect_sync(ctx, url->portal) != 0 || iscsi_login_sync(ctx) != 0) {
		fprintf(stderr, "login to %s failed: %s\n", url_text, iscsi_get_error(ctx));
		iscsi_destroy_url(url);
		iscsi_destroy_context(ctx);
		return NULL;
	}
	iscsi_destroy_url(url);
	return ctx;
}

static struct iscsi_context *login(const char *url_text, const char *initiator, int *lun)
{
	return login_to(url_text, initiator, lun, true);
}

/* TEST UNIT READY until GOOD: the unit attentions of a new nexus go. */
static int settle(struct iscsi_context *ctx, int lun)
{
	int i;

	for (i = 0; i < 10; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(ctx, lun);
		bool good = t && t->status == SCSI_STATUS_GOOD;

		if (t) {
			scsi_free_scsi_task(t);
		}
		if (good) {
			return 0;
		}
	}
	return -1;
}

/* Capacity in blocks and the block size. */
static int capacity(struct iscsi_context *ctx, int lun, uint64_t *blocks, uint32_t *bs)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(ctx, lun);
	struct scsi_readcapacity16 *rc16;

	if (!t || t->status != SCSI_STATUS_GOOD || !(rc16 = scsi_datain_unmarshall(t))) {
		if (t) {
			scsi_free_scsi_task(t);
		}
		return -1;
	}
	*blocks = rc16->returned_lba + 1;
	*bs = rc16->block_length;
	scsi_free_scsi_task(t);
	return 0;
}

/* INFORMATION of fixed-format sense (libiscsi keeps the raw sense, after
 * its 2-byte length, in datain); -1 when not valid. */
static long sense_information(const struct scsi_task *t)
{
	const unsigned char *s = t->datain.data;

	if (!s || t->datain.size < 2 + 7) {
		return -1;
	}
	s += 2;
	if ((s[0] & 0x7f) != 0x70 || !(s[0] & 0x80)) {
		return -1;
	}
	return (long)((uint32_t)s[3] << 24 | (uint32_t)s[4] << 16 | (uint32_t)s[5] << 8 | s[6]);
}

/* ---- caw-race ---- */

struct caw_slot {
	struct iscsi_context *ctx;
	int lun;
	bool done;
	int status;
	int key;
	int ascq;
	long info;
};

static void caw_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct caw_slot *s = priv;
	struct scsi_task *t = data;

	s->done = true;
	s->status = status;
	s->key = t ? (int)t->sense.key : -1;
	s->ascq = t ? t->sense.ascq : -1;
	s->info = t ? sense_information(t) : -1;
	if (t) {
		scsi_free_scsi_task(t);
	}
}

/* Serve both sessions until both commands completed (or 30 s). */
static int serve_two(struct caw_slot *a, struct caw_slot *b)
{
	uint64_t end = now_ms() + 30000;

	while ((!a->done || !b->done) && now_ms() < end) {
		struct pollfd p[2] = {{iscsi_get_fd(a->ctx), (short)iscsi_which_events(a->ctx), 0},
		                      {iscsi_get_fd(b->ctx), (short)iscsi_which_events(b->ctx), 0}};

		if (poll(p, 2, 100) < 0) {
			return -1;
		}
		if ((p[0].revents && iscsi_service(a->ctx, p[0].revents) < 0) ||
		    (p[1].revents && iscsi_service(b->ctx, p[1].revents) < 0)) {
			return -1;
		}
	}
	return a->done && b->done ? 0 : -1;
}

/* `old` with 8 bytes from `at` changed. */
static void changed_copy(unsigned char *dst, const unsigned char *old, uint32_t bs, uint32_t at)
{
	uint32_t i;

	memcpy(dst, old, bs);
	for (i = at; i < at + 8 && i < bs; i++) {
		dst[i] = (unsigned char)(old[i] ^ 0x5a);
	}
}

static int caw_race(const char *url1, const char *url2, int rounds, uint64_t lba)
{
	struct caw_slot s[2] = {{0}};
	unsigned char *old, *data[2];
	uint32_t bs = 0, at[2];
	uint64_t blocks;
	int wins[2] = {0, 0}, r, i, bad = 0;

	s[0].ctx = login(url1, "iqn.2026-11.org.idm:caw-a", &s[0].lun);
	s[1].ctx = login(url2, "iqn.2026-11.org.idm:caw-b", &s[1].lun);
	if (!s[0].ctx || !s[1].ctx || settle(s[0].ctx, s[0].lun) || settle(s[1].ctx, s[1].lun) ||
	    capacity(s[0].ctx, s[0].lun, &blocks, &bs)) {
		fprintf(stderr, "caw-race: setup failed\n");
		return 1;
	}
	old = malloc(bs);
	data[0] = malloc(2 * bs);
	data[1] = malloc(2 * bs);
	for (r = 0; r < rounds && !bad; r++) {
		struct scsi_task *t =
		    iscsi_read16_sync(s[0].ctx, s[0].lun, lba, bs, bs, 0, 0, 0, 0, 0);

		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != (int)bs) {
			fprintf(stderr, "round %d: READ failed\n", r);
			return 1;
		}
		memcpy(old, t->datain.data, bs);
		scsi_free_scsi_task(t);
		at[0] = (uint32_t)(r * 37) % (bs - 32);
		at[1] = at[0] + 16;
		for (i = 0; i < 2; i++) {
			memcpy(data[i], old, bs);
			changed_copy(data[i] + bs, old, bs, at[i]);
			s[i].done = false;
			if (!iscsi_compareandwrite_task(s[i].ctx, s[i].lun, lba, data[i], 2 * bs,
			                                bs, 0, 0, 0, 0, 0, caw_cb, &s[i])) {
				fprintf(stderr, "round %d: cannot send CAW\n", r);
				return 1;
			}
		}
		if (serve_two(&s[0], &s[1])) {
			fprintf(stderr, "round %d: no answer\n", r);
			return 1;
		}
		for (i = 0; i < 2; i++) {
			struct caw_slot *lose = &s[1 - i];

			if (s[i].status != SCSI_STATUS_GOOD) {
				continue;
			}
			wins[i]++;
			if (lose->status != SCSI_STATUS_CHECK_CONDITION ||
			    lose->key != SENSE_MISCOMPARE || lose->ascq != ASC_MISCOMPARE ||
			    lose->info != (long)at[i]) {
				fprintf(stderr,
				        "round %d: %c won, the other got status %d key %#x asc %#x "
				        "info %ld (want MISCOMPARE at %u)\n",
				        r, 'A' + i, lose->status, lose->key, lose->ascq, lose->info,
				        at[i]);
				bad = 1;
			}
		}
		if (s[0].status == SCSI_STATUS_GOOD && s[1].status == SCSI_STATUS_GOOD) {
			fprintf(stderr, "round %d: both won\n", r);
			bad = 1;
		} else if (s[0].status != SCSI_STATUS_GOOD && s[1].status != SCSI_STATUS_GOOD) {
			fprintf(stderr, "round %d: none won (status %d %d key %#x %#x)\n", r,
			        s[0].status, s[1].status, s[0].key, s[1].key);
			bad = 1;
		}
	}
	printf("caw-race: %d rounds, A won %d, B won %d%s\n", r, wins[0], wins[1],
	       bad ? ", FAILED" : "");
	free(old);
	free(data[0]);
	free(data[1]);
	iscsi_logout_sync(s[0].ctx);
	iscsi_logout_sync(s[1].ctx);
	iscsi_destroy_context(s[0].ctx);
	iscsi_destroy_context(s[1].ctx);
	return bad;
}

/* ---- durability ---- */

static void seq_block(unsigned char *b, uint32_t bs, uint64_t seq)
{
	uint32_t i;

	memcpy(b, SEQ_MAGIC, 8);
	for (i = 0; i < 8; i++) {
		b[8 + i] = (unsigned char)(seq >> (8 * i));
	}
	for (i = 16; i < bs; i++) {
		b[i] = (unsigned char)(seq * 131 + i);
	}
}

static bool task_good(struct scsi_task *t)
{
	bool good = t && t->status == SCSI_STATUS_GOOD;

	if (t) {
		scsi_free_scsi_task(t);
	}
	return good;
}

static int durability(const char *url, int seconds, const char *mode)
{
	bool fua = strcmp(mode, "fua") == 0, sync = strcmp(mode, "sync") == 0;
	uint64_t end = now_ms() + (uint64_t)seconds * 1000, seq, blocks, synced = 0;
	unsigned char *b;
	uint32_t bs;
	int lun;
	struct iscsi_context *ctx = login(url, "iqn.2026-11.org.idm:durability", &lun);

	if (!ctx || settle(ctx, lun) || capacity(ctx, lun, &blocks, &bs)) {
		fprintf(stderr, "durability: setup failed\n");
		if (ctx) {
			iscsi_destroy_context(ctx);
		}
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	b = malloc(bs);
	for (seq = 0; seq < blocks && now_ms() < end; seq++) {
		seq_block(b, bs, seq);
		if (!task_good(iscsi_write16_sync(ctx, lun, seq, b, bs, bs, 0, 0, fua, 0, 0))) {
			break;
		}
		if (!sync) {
			printf("ACK %llu\n", (unsigned long long)seq);
			continue;
		}
		if (seq % 8 == 7) {
			if (!task_good(iscsi_synchronizecache10_sync(ctx, lun, 0, 0, 0, 0))) {
				break;
			}
			for (; synced <= seq; synced++) {
				printf("ACK %llu\n", (unsigned long long)synced);
			}
		}
	}
	printf("END %llu\n", (unsigned long long)seq);
	free(b);
	iscsi_destroy_context(ctx);
	return 0;
}

/* ---- resize ---- */

static int resize(const char *url, uint64_t new_bytes, const char *command)
{
	uint64_t blocks, end;
	uint32_t bs;
	int lun, rc;
	struct iscsi_context *ctx = login(url, "iqn.2026-11.org.idm:resize", &lun);

	if (!ctx || settle(ctx, lun) || capacity(ctx, lun, &blocks, &bs)) {
		fprintf(stderr, "resize: setup failed\n");
		return 1;
	}
	printf("resize: capacity before %llu bytes\n", (unsigned long long)(blocks * bs));
	rc = system(command);
	if (rc != 0) {
		fprintf(stderr, "resize: '%s' failed (%d)\n", command, rc);
		return 1;
	}
	for (end = now_ms() + 30000; now_ms() < end;) {
		struct scsi_task *t = iscsi_testunitready_sync(ctx, lun);
		bool ua = t && t->status == SCSI_STATUS_CHECK_CONDITION &&
		          t->sense.key == SCSI_SENSE_UNIT_ATTENTION &&
		          t->sense.ascq == ASC_CAPACITY_CHANGED;

		if (t) {
			scsi_free_scsi_task(t);
		}
		if (ua) {
			printf("resize: unit attention CAPACITY DATA HAS CHANGED\n");
			break;
		}
		struct timespec pause = {0, 100000000};
		nanosleep(&pause, NULL);
	}
	if (capacity(ctx, lun, &blocks, &bs) || blocks * bs != new_bytes) {
		fprintf(stderr, "resize: capacity after is %llu bytes, want %llu\n",
		        (unsigned long long)(blocks * bs), (unsigned long long)new_bytes);
		return 1;
	}
	printf("resize: capacity after %llu bytes\n", (unsigned long long)(blocks * bs));
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	return now_ms() < end ? 0 : 1;
}

/* ---- fault ---- */

struct fault_state {
	struct iscsi_context *io, *ping;
	int lun;
	uint32_t bs;
	unsigned char *blocks;  /* what each LBA 0..NBLK-1 should hold */
	unsigned char *sending; /* the write in flight */
	uint64_t sending_lba;
	bool *unsure; /* a write there failed: either content */
	uint64_t next, writes_ok, writes_bad, last_ok_ms, longest_write_ms;
	uint64_t write_sent_ms, nop_sent_ms, nop_worst_ms;
	unsigned nops;
	bool write_busy, nop_busy;
};

#define FAULT_NBLK 256

static void fault_write_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct fault_state *f = priv;
	uint64_t took = now_ms() - f->write_sent_ms;

	if (status == SCSI_STATUS_GOOD) {
		f->writes_ok++;
		f->last_ok_ms = now_ms();
		memcpy(f->blocks + f->sending_lba * f->bs, f->sending, f->bs);
	} else {
		struct scsi_task *t = data;
		bool not_ready = t && t->status == SCSI_STATUS_CHECK_CONDITION &&
		                 t->sense.key == SCSI_SENSE_NOT_READY;

		/* NOT READY: the store gave up waiting for the cluster, as it
		 * should after its timeout; anything else is a failure. */
		if (!not_ready) {
			f->writes_bad++;
		}
		f->unsure[f->sending_lba] = true;
		fprintf(stderr, "fault: WRITE of block %llu failed (status %d%s)\n",
		        (unsigned long long)f->sending_lba, status, not_ready ? ", NOT READY" : "");
	}
	if (took > f->longest_write_ms) {
		f->longest_write_ms = took;
	}
	f->write_busy = false;
	if (data) {
		scsi_free_scsi_task(data);
	}
}

static void fault_nop_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct fault_state *f = priv;
	uint64_t took = now_ms() - f->nop_sent_ms;

	if (took > f->nop_worst_ms) {
		f->nop_worst_ms = took;
	}
	f->nops++;
	f->nop_busy = false;
}

static int fault_send(struct fault_state *f, uint64_t now)
{
	if (!f->write_busy) {
		uint64_t lba = f->next++ % FAULT_NBLK;

		seq_block(f->sending, f->bs, f->next);
		f->sending_lba = lba;
		f->write_busy = true;
		f->write_sent_ms = now;
		if (!iscsi_write16_task(f->io, f->lun, lba, f->sending, f->bs, f->bs, 0, 0, 0, 0, 0,
		                        fault_write_cb, f)) {
			return -1;
		}
	}
	if (!f->nop_busy && now - f->nop_sent_ms >= 200) {
		f->nop_busy = true;
		f->nop_sent_ms = now;
		if (iscsi_nop_out_async(f->ping, fault_nop_cb, NULL, 0, f) != 0) {
			return -1;
		}
	}
	return 0;
}

static int fault(const char *url, int seconds, const char *stop_file)
{
	struct fault_state f = {0};
	uint64_t blocks, start = now_ms(), end = start + (uint64_t)seconds * 1000, lba;
	int plun, bad = 0;

	f.io = login(url, "iqn.2026-11.org.idm:fault-io", &f.lun);
	f.ping = login(url, "iqn.2026-11.org.idm:fault-ping", &plun);
	if (!f.io || !f.ping || settle(f.io, f.lun) || capacity(f.io, f.lun, &blocks, &f.bs)) {
		fprintf(stderr, "fault: setup failed\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	f.blocks = calloc(FAULT_NBLK, f.bs);
	f.sending = malloc(f.bs);
	f.unsure = calloc(FAULT_NBLK, sizeof(bool));
	while (now_ms() < end || f.write_busy || f.nop_busy) {
		struct pollfd p[2] = {{iscsi_get_fd(f.io), (short)iscsi_which_events(f.io), 0},
		                      {iscsi_get_fd(f.ping), (short)iscsi_which_events(f.ping), 0}};

		if (stop_file && now_ms() < end && access(stop_file, F_OK) == 0) {
			end = now_ms(); /* told to stop: finish what is in flight */
		}
		if (now_ms() < end && fault_send(&f, now_ms()) != 0) {
			fprintf(stderr, "fault: cannot send\n");
			return 1;
		}
		if (now_ms() > end + 60000) {
			fprintf(stderr, "fault: commands still pending 60 s after the end\n");
			return 1;
		}
		if (poll(p, 2, 50) < 0 || (p[0].revents && iscsi_service(f.io, p[0].revents) < 0) ||
		    (p[1].revents && iscsi_service(f.ping, p[1].revents) < 0)) {
			fprintf(stderr, "fault: connection lost: %s\n", iscsi_get_error(f.io));
			return 1;
		}
	}
	printf("fault: %llu writes ok, %llu failed, longest write %llu ms, %u NOPs, slowest NOP "
	       "%llu ms, last good write at %llu s of %d\n",
	       (unsigned long long)f.writes_ok, (unsigned long long)f.writes_bad,
	       (unsigned long long)f.longest_write_ms, f.nops, (unsigned long long)f.nop_worst_ms,
	       (unsigned long long)((f.last_ok_ms - start) / 1000), (int)((end - start) / 1000));
	/* Every block holds what was last written to it. */
	for (lba = 0; lba < FAULT_NBLK && lba < f.next; lba++) {
		if (f.unsure[lba]) {
			continue;
		}
		struct scsi_task *t =
		    iscsi_read16_sync(f.io, f.lun, lba, f.bs, f.bs, 0, 0, 0, 0, 0);

		if (!t || t->status != SCSI_STATUS_GOOD ||
		    memcmp(t->datain.data, f.blocks + lba * f.bs, f.bs) != 0) {
			fprintf(stderr, "fault: block %llu does not hold its last write\n",
			        (unsigned long long)lba);
			bad = 1;
		}
		if (t) {
			scsi_free_scsi_task(t);
		}
	}
	free(f.blocks);
	free(f.sending);
	free(f.unsure);
	iscsi_logout_sync(f.io);
	iscsi_logout_sync(f.ping);
	iscsi_destroy_context(f.io);
	iscsi_destroy_context(f.ping);
	return bad;
}

/* ---- caw-cross ---- */

/* A task's status, freeing it: 0 GOOD, else the sense key (or -1). */
static int task_key(struct scsi_task *t, long *info)
{
	int key = !t ? -1 : t->status == SCSI_STATUS_GOOD ? 0 : (int)t->sense.key;

	if (info) {
		*info = t ? sense_information(t) : -1;
	}
	if (t) {
		scsi_free_scsi_task(t);
	}
	return key;
}

/* The two blocks at lba hold `want`. */
static bool blocks_hold(struct iscsi_context *ctx, int lun, uint64_t lba, uint32_t bs,
                        const unsigned char *want)
{
	struct scsi_task *t = iscsi_read16_sync(ctx, lun, lba, 2 * bs, bs, 0, 0, 0, 0, 0);
	bool same = t && t->status == SCSI_STATUS_GOOD && t->datain.size == (int)(2 * bs) &&
	            memcmp(t->datain.data, want, 2 * bs) == 0;

	task_key(t, NULL);
	return same;
}

static int caw_cross(const char *url, uint64_t lba)
{
	int lun, bad = 0, key;
	struct iscsi_context *ctx = login(url, "iqn.2026-11.org.idm:caw-cross", &lun);
	unsigned char *old, *data;
	uint64_t blocks;
	uint32_t bs = 0;
	long info;

	if (!ctx || settle(ctx, lun) || capacity(ctx, lun, &blocks, &bs) || lba + 2 > blocks) {
		fprintf(stderr, "caw-cross: setup failed\n");
		return 1;
	}
	old = malloc(2 * bs);
	data = malloc(4 * bs);
	memset(old, 0x11, 2 * bs);
	if (task_key(iscsi_write16_sync(ctx, lun, lba, old, 2 * bs, bs, 0, 0, 0, 0, 0), NULL)) {
		fprintf(stderr, "caw-cross: WRITE failed\n");
		return 1;
	}
	memcpy(data, old, 2 * bs);
	memset(data + 2 * bs, 0x22, 2 * bs);
	key = task_key(iscsi_compareandwrite_sync(ctx, lun, lba, data, 4 * bs, bs, 0, 0, 0, 0, 0),
	               NULL);
	if (key != 0 || !blocks_hold(ctx, lun, lba, bs, data + 2 * bs)) {
		fprintf(stderr, "caw-cross: a matching COMPARE AND WRITE did not write (key %d)\n",
		        key);
		bad = 1;
	}
	/* The medium now holds 0x22s: compare against them but for byte
	 * bs + 10, in the second object. */
	memset(data, 0x22, 2 * bs);
	data[bs + 10] = 0x23;
	memset(data + 2 * bs, 0x33, 2 * bs);
	key = task_key(iscsi_compareandwrite_sync(ctx, lun, lba, data, 4 * bs, bs, 0, 0, 0, 0, 0),
	               &info);
	memset(data, 0x22, 2 * bs);
	if (key != SENSE_MISCOMPARE || info != (long)bs + 10 ||
	    !blocks_hold(ctx, lun, lba, bs, data)) {
		fprintf(stderr,
		        "caw-cross: a mismatch at byte %u gave key %#x info %ld, or was written\n",
		        bs + 10, key, info);
		bad = 1;
	}
	printf("caw-cross at LBA %llu: %s\n", (unsigned long long)lba, bad ? "FAILED" : "ok");
	free(old);
	free(data);
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	return bad;
}

/* ---- ready ---- */

static int ready(const char *url, int seconds)
{
	int lun, n = 0;
	struct iscsi_context *ctx = login_to(url, "iqn.2026-11.org.idm:ready", &lun, false);
	uint64_t start = now_ms(), blocks = 0;
	uint32_t bs = 0;

	if (!ctx) {
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (now_ms() < start + (uint64_t)seconds * 1000) {
		struct scsi_task *t = iscsi_testunitready_sync(ctx, lun);
		int key = !t ? -1 : t->status == SCSI_STATUS_GOOD ? 0 : (int)t->sense.key;

		if (t) {
			scsi_free_scsi_task(t);
		}
		if (key == -1) {
			fprintf(stderr, "ready: no answer: %s\n", iscsi_get_error(ctx));
			return 1;
		}
		if (key != SCSI_SENSE_UNIT_ATTENTION && n++ == 0) {
			printf("first %s\n", key == 0                      ? "GOOD"
			                     : key == SCSI_SENSE_NOT_READY ? "NOT READY"
			                                                   : "other");
		}
		if (key == 0) {
			settle(ctx, lun);
			capacity(ctx, lun, &blocks, &bs);
			printf("ready after %llu ms, %llu blocks\n",
			       (unsigned long long)(now_ms() - start), (unsigned long long)blocks);
			break;
		}
		usleep(250000);
	}
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	return blocks ? 0 : 1;
}

/* ---- wce ---- */

static int wce(const char *url)
{
	int lun, rc = 1;
	struct iscsi_context *ctx = login(url, "iqn.2026-11.org.idm:wce", &lun);
	struct scsi_task *t;

	if (!ctx || settle(ctx, lun)) {
		return 1;
	}
	t = iscsi_modesense6_sync(ctx, lun, 1, SCSI_MODESENSE_PC_CURRENT, 0x08, 0, 255);
	if (t && t->status == SCSI_STATUS_GOOD && t->datain.size >= 4) {
		int page = 4 + t->datain.data[3];

		if (t->datain.size > page + 2 && (t->datain.data[page] & 0x3f) == 0x08) {
			printf("WCE %d\n", (t->datain.data[page + 2] >> 2) & 1);
			rc = 0;
		}
	}
	if (t) {
		scsi_free_scsi_task(t);
	}
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: rbd_client caw-race URL1 URL2 ROUNDS LBA | durability URL SECONDS "
	                "fua|sync|plain | resize URL NEW_BYTES COMMAND | wce URL | fault URL "
	                "SECONDS [STOP_FILE] | caw-cross URL LBA | ready URL SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "caw-race") == 0) {
		return caw_race(argv[2], argv[3], atoi(argv[4]), strtoull(argv[5], NULL, 0));
	}
	if (argc == 5 && strcmp(argv[1], "durability") == 0) {
		return durability(argv[2], atoi(argv[3]), argv[4]);
	}
	if (argc == 5 && strcmp(argv[1], "resize") == 0) {
		return resize(argv[2], strtoull(argv[3], NULL, 0), argv[4]);
	}
	if (argc == 3 && strcmp(argv[1], "wce") == 0) {
		return wce(argv[2]);
	}
	if (argc == 4 && strcmp(argv[1], "caw-cross") == 0) {
		return caw_cross(argv[2], strtoull(argv[3], NULL, 0));
	}
	if (argc == 4 && strcmp(argv[1], "ready") == 0) {
		return ready(argv[2], atoi(argv[3]));
	}
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "fault") == 0) {
		return fault(argv[2], atoi(argv[3]), argc == 5 ? argv[4] : NULL);
	}
	usage();
	return 2;
}
