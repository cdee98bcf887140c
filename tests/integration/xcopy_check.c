/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xcopy_check: EXTENDED COPY seen from two sessions.
 *
 * With -R LUN: a copy between the LU and LUN, which the other session holds
 * under Exclusive Access, gets RESERVATION CONFLICT either way, and copies
 * once the reservation is cleared.
 *
 * Then: does a long EXTENDED COPY stall the other connections of the
 * target? Two sessions (libiscsi) to one LU: the reader sends 4 KiB
 * READ(10)s at queue depth 1 and times each; the copier sends EXTENDED
 * COPY (LID1) commands moving SEGMENTS x BLOCKS blocks from the first
 * half of the LU to the second, one at a time with pauses as long as a
 * copy in between. The p99 of the reads that overlapped a copy must
 * stay within RATIO times the p99 of the reads in the pauses (taken in
 * turns, so both see the same background load of the machine). While a
 * copy runs, RECEIVE COPY STATUS must show it in progress.
 *
 *   xcopy_check -p 127.0.0.1:3260 -t IQN [-l LUN] [-s SECONDS]
 *               [-n SEGMENTS] [-b BLOCKS] [-r RATIO] [-R LUN]
 * Prints one line per kind of read (count, p50, p99 in microseconds) and the
 * copy figures; exit 0 when every check holds, 3 when only the latency
 * bound was missed, 1 for anything else.
 */
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

#define READER_IQN "iqn.2026-11.org.idm:xcopy-reader"
#define COPIER_IQN "iqn.2026-11.org.idm:xcopy-copier"
#define READ_BYTES 4096
#define MAX_SAMPLES (1u << 22)
#define XCOPY_HDR 16
#define XCOPY_TGT 32
#define XCOPY_SEG 28
#define XCOPY_MAX_SEG 64
#define STATUS_POLL_NS 20000000ull /* RECEIVE COPY STATUS every 20 ms */
#define HOLDER_KEY 0x686f6c646572ull
#define EXIT_LATENCY 3 /* only the latency bound was missed */

struct options {
	const char *portal;
	const char *iqn;
	int lun;
	double seconds;
	unsigned segments;
	unsigned blocks;
	double ratio;
	int resv_lun; /* -R: the LUN for the reservation check, or -1 */
};

struct samples {
	uint64_t *ns;
	size_t n;
};

/* Everything the callbacks touch. */
struct bench {
	const struct options *o;
	struct iscsi_context *reader, *copier;
	uint32_t block_size;
	uint64_t half_blocks;        /* the copy moves [0, half) to [half, 2 half) */
	struct samples *idle, *busy; /* where read latencies go */
	bool reading;
	uint64_t read_start;
	unsigned read_epoch; /* copy_epoch when the read was sent */
	bool read_overlaps;  /* a copy ran when it was sent */
	unsigned copy_epoch; /* copies started + copies ended */
	bool read_busy;
	bool failed;
	unsigned copy_busy; /* EXTENDED COPYs outstanding (0 or 1) */
	unsigned copies_done;
	uint64_t copy_bytes; /* per copy */
	uint64_t copy_ns;    /* time spent copying */
	uint64_t copy_start;
	bool status_busy;
	unsigned status_seen_running; /* RECEIVE COPY STATUS said "in progress" */
	uint8_t list_id;
	unsigned char naa[16];
	unsigned char *param;
	size_t param_len;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct iscsi_context *login(const struct options *o, const char *initiator)
{
	struct iscsi_context *ctx = iscsi_create_context(initiator);

	if (!ctx) {
		return NULL;
	}
	iscsi_set_timeout(ctx, 30);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_targetname(ctx, o->iqn);
	if (iscsi_full_connect_sync(ctx, o->portal, o->lun) != 0) {
		fprintf(stderr, "login as %s: %s\n", initiator, iscsi_get_error(ctx));
		iscsi_destroy_context(ctx);
		return NULL;
	}
	return ctx;
}

/* The LU's NAA designator from VPD page 83h; false when it has none. */
static bool find_naa(struct iscsi_context *ctx, int lun, unsigned char naa[16])
{
	struct scsi_task *t = iscsi_inquiry_sync(ctx, lun, 1, 0x83, 1024);
	bool found = false;

	if (t && t->status == SCSI_STATUS_GOOD && t->datain.size >= 4) {
		const unsigned char *p = t->datain.data;
		size_t end = 4 + (size_t)(p[2] << 8 | p[3]), off = 4;

		if (end > (size_t)t->datain.size) {
			end = (size_t)t->datain.size;
		}
		while (!found && off + 4 <= end) {
			size_t len = p[off + 3];

			/* NAA (type 3), associated with the LU, 16 bytes. */
			if ((p[off + 1] & 0x3f) == 0x03 && len == 16 && off + 4 + len <= end) {
				memcpy(naa, p + off + 4, 16);
				found = true;
			}
			off += 4 + len;
		}
	}
	if (t) {
		scsi_free_scsi_task(t);
	}
	return found;
}

static bool read_capacity(struct bench *b)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(b->copier, b->o->lun);
	struct scsi_readcapacity16 *rc;
	bool ok = false;

	if (t && t->status == SCSI_STATUS_GOOD && (rc = scsi_datain_unmarshall(t)) != NULL) {
		b->block_size = rc->block_length;
		b->half_blocks = (rc->returned_lba + 1) / 2;
		ok = true;
	}
	if (t) {
		scsi_free_scsi_task(t);
	}
	return ok;
}

static void put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* An identification descriptor target descriptor naming an LU. */
static void put_target(unsigned char *d, const unsigned char naa[16], uint32_t block_size)
{
	d[0] = 0xe4;
	d[4] = 0x01; /* binary */
	d[5] = 0x03; /* NAA, LU */
	d[7] = 16;
	memcpy(d + 8, naa, 16);
	d[29] = (unsigned char)(block_size >> 16);
	put16(d + 30, block_size & 0xffff);
}

/* A block to block segment descriptor between target descriptors. */
static void put_segment(unsigned char *d, uint16_t src, uint16_t dst, uint16_t blocks,
                        uint64_t src_lba, uint64_t dst_lba)
{
	d[0] = 0x02;
	put16(d + 2, XCOPY_SEG - 4);
	put16(d + 4, src);
	put16(d + 6, dst);
	put16(d + 10, blocks);
	put64(d + 12, src_lba);
	put64(d + 20, dst_lba);
}

/* One target descriptor (the LU) and the segments. */
static void build_param_list(struct bench *b)
{
	const struct options *o = b->o;
	unsigned char *p;

	b->param_len = XCOPY_HDR + XCOPY_TGT + (size_t)o->segments * XCOPY_SEG;
	b->param = calloc(1, b->param_len);
	if (!b->param) {
		return;
	}
	p = b->param;
	put16(p + 2, XCOPY_TGT);
	put32(p + 8, o->segments * XCOPY_SEG);
	put_target(p + XCOPY_HDR, b->naa, b->block_size);
	for (unsigned i = 0; i < o->segments; i++) {
		uint64_t lba = (uint64_t)i * o->blocks;

		put_segment(p + XCOPY_HDR + XCOPY_TGT + (size_t)i * XCOPY_SEG, 0, 0,
		            (uint16_t)o->blocks, lba, b->half_blocks + lba);
	}
	b->copy_bytes = (uint64_t)o->segments * o->blocks * b->block_size;
}

/* ---- reservations on the LUs a copy names ---- */

/* EXTENDED COPY of 8 blocks from `src` to `dst`, sent to the copier's
 * LUN; its SCSI status, or -1 when it could not be sent. */
static int copy_between(struct bench *b, const unsigned char src[16], const unsigned char dst[16])
{
	unsigned char p[XCOPY_HDR + 2 * XCOPY_TGT + XCOPY_SEG] = {0};
	struct iscsi_data d = {.size = sizeof(p), .data = p};
	struct scsi_task *t;
	int status;

	put16(p + 2, 2 * XCOPY_TGT);
	put32(p + 8, XCOPY_SEG);
	put_target(p + XCOPY_HDR, src, b->block_size);
	put_target(p + XCOPY_HDR + XCOPY_TGT, dst, b->block_size);
	put_segment(p + XCOPY_HDR + 2 * XCOPY_TGT, 0, 1, 8, 0, 0);
	t = iscsi_extended_copy_sync(b->copier, b->o->lun, &d);
	if (!t) {
		return -1;
	}
	status = t->status;
	scsi_free_scsi_task(t);
	return status;
}

static int prout(struct iscsi_context *ctx, int lun, int sa, int type, uint64_t key,
                 uint64_t sa_key)
{
	struct scsi_persistent_reserve_out_basic p = {.reservation_key = key,
	                                              .service_action_reservation_key = sa_key};
	struct scsi_task *t = iscsi_persistent_reserve_out_sync(ctx, lun, sa, 0, type, &p);
	int status = t ? t->status : -1;

	if (t) {
		scsi_free_scsi_task(t);
	}
	return status;
}

static bool expect_status(const char *what, int got, int want)
{
	printf("%-4s %s: status 0x%02x\n", got == want ? "ok" : "FAIL", what, got & 0xff);
	return got == want;
}

/* The reader's session holds LUN `other` under Exclusive Access: the
 * copier's copies to and from it conflict, then run once it is cleared. */
static bool check_reservations(struct bench *b, int other)
{
	unsigned char naa_other[16];
	bool ok;

	if (!find_naa(b->copier, other, naa_other)) {
		fprintf(stderr, "VPD 83h of LUN %d failed\n", other);
		return false;
	}
	ok = expect_status(
	         "holder registers",
	         prout(b->reader, other, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, HOLDER_KEY),
	         SCSI_STATUS_GOOD) &&
	     expect_status("holder reserves (Exclusive Access)",
	                   prout(b->reader, other, SCSI_PERSISTENT_RESERVE_RESERVE,
	                         SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS, HOLDER_KEY, 0),
	                   SCSI_STATUS_GOOD);
	ok = ok &&
	     expect_status("copy into the reserved LU", copy_between(b, b->naa, naa_other),
	                   SCSI_STATUS_RESERVATION_CONFLICT) &&
	     expect_status("copy out of the reserved LU", copy_between(b, naa_other, b->naa),
	                   SCSI_STATUS_RESERVATION_CONFLICT);
	ok = ok &&
	     expect_status("holder clears",
	                   prout(b->reader, other, SCSI_PERSISTENT_RESERVE_CLEAR, 0, HOLDER_KEY, 0),
	                   SCSI_STATUS_GOOD) &&
	     expect_status("copy after the clear", copy_between(b, b->naa, naa_other),
	                   SCSI_STATUS_GOOD);
	return ok;
}

static void issue_read(struct bench *b);

static void read_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct bench *b = priv;
	struct scsi_task *t = data;
	uint64_t ns = now_ns() - b->read_start;

	(void)ctx;
	b->read_busy = false;
	if (status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "READ failed: status %d\n", status);
		b->failed = true;
	} else {
		/* A copy ran at some time during the read, or none did. */
		bool during = b->read_overlaps || b->read_epoch != b->copy_epoch;
		struct samples *s = during ? b->busy : b->idle;

		if (s->n < MAX_SAMPLES) {
			s->ns[s->n++] = ns;
		}
	}
	scsi_free_scsi_task(t);
	if (b->reading && !b->failed) {
		issue_read(b);
	}
}

static void issue_read(struct bench *b)
{
	uint32_t per = READ_BYTES / b->block_size;
	uint64_t span = b->half_blocks / per;
	uint32_t lba = (uint32_t)(((uint64_t)rand() % (span ? span : 1)) * per);

	if (span > UINT32_MAX / per) {
		lba = (uint32_t)(((uint64_t)rand() % (UINT32_MAX / per)) * per);
	}
	b->read_start = now_ns();
	b->read_busy = true;
	b->read_epoch = b->copy_epoch;
	b->read_overlaps = b->copy_busy;
	if (!iscsi_read10_task(b->reader, b->o->lun, lba, READ_BYTES, b->block_size, 0, 0, 0, 0, 0,
	                       read_cb, b)) {
		fprintf(stderr, "READ: %s\n", iscsi_get_error(b->reader));
		b->read_busy = false;
		b->failed = true;
	}
}

static void copy_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct bench *b = priv;

	(void)ctx;
	b->copy_busy = 0;
	b->copy_epoch++;
	b->copy_ns += now_ns() - b->copy_start;
	if (status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "EXTENDED COPY failed: status %d\n", status);
		b->failed = true;
	} else {
		b->copies_done++;
	}
	scsi_free_scsi_task(data);
}

static void issue_copy(struct bench *b)
{
	struct iscsi_data d = {.size = b->param_len, .data = b->param};

	b->param[0] = ++b->list_id;
	b->copy_start = now_ns();
	b->copy_busy = 1;
	b->copy_epoch++;
	if (!iscsi_extended_copy_task(b->copier, b->o->lun, &d, copy_cb, b)) {
		fprintf(stderr, "EXTENDED COPY: %s\n", iscsi_get_error(b->copier));
		b->copy_busy = 0;
		b->failed = true;
	}
}

/* RECEIVE COPY STATUS(LID1) of the running copy: 00h while in progress,
 * with a transfer count between 0 and the whole copy. */
static void status_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct bench *b = priv;
	struct scsi_task *t = data;

	(void)ctx;
	b->status_busy = false;
	if (status == SCSI_STATUS_GOOD && t->datain.size >= 12) {
		const unsigned char *p = t->datain.data;
		uint64_t count = (uint64_t)p[8] << 24 | p[9] << 16 | p[10] << 8 | p[11];

		if (p[7] == 1) {
			count <<= 10; /* KiB */
		}
		if (p[4] == 0x00 && count > 0 && count < b->copy_bytes) {
			b->status_seen_running++;
		}
	}
	scsi_free_scsi_task(t);
}

static void issue_status(struct bench *b)
{
	b->status_busy = true;
	if (!iscsi_receive_copy_results_task(b->copier, b->o->lun, 0x00, b->list_id, 64, status_cb,
	                                     b)) {
		b->status_busy = false;
	}
}

/* Serve both sessions once (up to 100 ms). */
static bool service(struct bench *b)
{
	struct pollfd pfd[2] = {
	    {.fd = iscsi_get_fd(b->reader), .events = (short)iscsi_which_events(b->reader)},
	    {.fd = iscsi_get_fd(b->copier), .events = (short)iscsi_which_events(b->copier)},
	};

	if (poll(pfd, 2, 100) < 0) {
		return false;
	}
	if (iscsi_service(b->reader, pfd[0].revents) < 0 ||
	    iscsi_service(b->copier, pfd[1].revents) < 0) {
		fprintf(stderr, "service: %s / %s\n", iscsi_get_error(b->reader),
		        iscsi_get_error(b->copier));
		return false;
	}
	return true;
}

/* Time reads for `seconds`: copies in turn with pauses as long as the
 * last copy took (at least 100 ms), reads all the time. */
static bool run_reads(struct bench *b)
{
	uint64_t end = now_ns() + (uint64_t)(b->o->seconds * 1e9), last_status = 0;
	uint64_t pause = 100000000ull, next_copy = now_ns() + pause;

	b->reading = true;
	issue_read(b);
	while (!b->failed && (now_ns() < end || b->copy_busy)) {
		if (!b->copy_busy && now_ns() >= next_copy && now_ns() < end) {
			issue_copy(b);
		}
		if (b->copy_busy && !b->status_busy && now_ns() - last_status > STATUS_POLL_NS) {
			last_status = now_ns();
			issue_status(b);
		}
		if (!service(b)) {
			return false;
		}
		if (!b->copy_busy && next_copy <= b->copy_start) {
			uint64_t took = now_ns() - b->copy_start;

			next_copy = now_ns() + (took > pause ? took : pause);
		}
	}
	b->reading = false;
	while ((b->read_busy || b->status_busy) && !b->failed) {
		if (!service(b)) {
			return false;
		}
	}
	return !b->failed;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_us(struct samples *s, double q)
{
	size_t i;

	if (s->n == 0) {
		return 0;
	}
	qsort(s->ns, s->n, sizeof(s->ns[0]), cmp_u64);
	i = (size_t)(q * (double)(s->n - 1));
	return (double)s->ns[i] / 1000.0;
}

static int usage(void)
{
	fprintf(stderr, "usage: xcopy_check -p PORTAL -t IQN [-l LUN] [-s SECONDS] "
	                "[-n SEGMENTS] [-b BLOCKS] [-r RATIO] [-R LUN]\n");
	return 2;
}

static bool parse_options(int argc, char **argv, struct options *o)
{
	int c;

	*o = (struct options){
	    .seconds = 6, .segments = 32, .blocks = 65535, .ratio = 3, .resv_lun = -1};
	while ((c = getopt(argc, argv, "p:t:l:s:n:b:r:R:")) != -1) {
		switch (c) {
		case 'p':
			o->portal = optarg;
			break;
		case 't':
			o->iqn = optarg;
			break;
		case 'l':
			o->lun = atoi(optarg);
			break;
		case 's':
			o->seconds = atof(optarg);
			break;
		case 'n':
			o->segments = (unsigned)atoi(optarg);
			break;
		case 'b':
			o->blocks = (unsigned)atoi(optarg);
			break;
		case 'r':
			o->ratio = atof(optarg);
			break;
		case 'R':
			o->resv_lun = atoi(optarg);
			break;
		default:
			return false;
		}
	}
	return o->portal && o->iqn && o->segments >= 1 && o->segments <= XCOPY_MAX_SEG &&
	       o->blocks >= 1 && o->blocks <= 65535 && o->seconds > 0 && o->ratio > 0;
}

static bool setup(struct bench *b)
{
	b->reader = login(b->o, READER_IQN);
	b->copier = login(b->o, COPIER_IQN);
	if (!b->reader || !b->copier) {
		return false;
	}
	if (!read_capacity(b) || !find_naa(b->copier, b->o->lun, b->naa)) {
		fprintf(stderr, "READ CAPACITY(16) or VPD 83h failed\n");
		return false;
	}
	if ((uint64_t)b->o->segments * b->o->blocks > b->half_blocks ||
	    b->block_size > READ_BYTES) {
		fprintf(stderr, "the LU is too small for the copy (or blocks > 4 KiB)\n");
		return false;
	}
	build_param_list(b);
	return b->param != NULL;
}

/* Measure and judge; 0, EXIT_LATENCY or 1. */
static int measure(struct bench *b, struct samples *idle, struct samples *busy)
{
	double idle_p50, idle_p99, busy_p50, busy_p99;
	bool ok;

	b->idle = idle;
	b->busy = busy;
	ok = run_reads(b);
	idle_p50 = percentile_us(idle, 0.50);
	idle_p99 = percentile_us(idle, 0.99);
	busy_p50 = percentile_us(busy, 0.50);
	busy_p99 = percentile_us(busy, 0.99);
	printf("pauses: %zu reads p50 %.0f us p99 %.0f us\n", idle->n, idle_p50, idle_p99);
	printf("copies: %zu reads p50 %.0f us p99 %.0f us (%.1fx idle p99)\n", busy->n, busy_p50,
	       busy_p99, idle_p99 > 0 ? busy_p99 / idle_p99 : 0);
	printf("copied: %u copies of %.0f MiB, %.0f MiB/s; status in progress seen %u times\n",
	       b->copies_done, (double)b->copy_bytes / 1048576.0,
	       b->copy_ns ? (double)b->copy_bytes * b->copies_done / 1048576.0 / (b->copy_ns / 1e9)
	                  : 0,
	       b->status_seen_running);
	if (!ok || b->copies_done == 0 || idle->n == 0 || busy->n == 0) {
		printf("FAIL: the measurement did not complete\n");
		return 1;
	}
	if (b->status_seen_running == 0) {
		printf("FAIL: RECEIVE COPY STATUS never showed a copy in progress\n");
		return 1;
	}
	if (busy_p99 > b->o->ratio * idle_p99) {
		printf("FAIL: read p99 during the copy above %.1fx its idle p99\n", b->o->ratio);
		return EXIT_LATENCY;
	}
	printf("ok\n");
	return 0;
}

static void logout(struct iscsi_context *ctx)
{
	if (ctx) {
		iscsi_logout_sync(ctx);
		iscsi_destroy_context(ctx);
	}
}

int main(int argc, char **argv)
{
	struct options o;
	struct bench b = {.o = &o};
	struct samples idle = {0}, busy = {0};
	int rc = 1;

	if (!parse_options(argc, argv, &o)) {
		return usage();
	}
	srand(1);
	idle.ns = calloc(MAX_SAMPLES, sizeof(uint64_t));
	busy.ns = calloc(MAX_SAMPLES, sizeof(uint64_t));
	if (idle.ns && busy.ns && setup(&b) &&
	    (o.resv_lun < 0 || check_reservations(&b, o.resv_lun))) {
		rc = measure(&b, &idle, &busy);
	}
	fflush(stdout);
	logout(b.reader);
	logout(b.copier);
	free(b.param);
	free(idle.ns);
	free(busy.ns);
	return rc;
}
