/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stall_write: a WRITE whose data never comes (t_limits.sh). One session
 * sends a WRITE(10) of 128 KiB with no data and then nothing but answers
 * to NOP-Ins; idmd must drop the connection after dataout_timeout_s (-T),
 * not earlier, while a well-behaved session on the same target writes and
 * verifies throughout.
 *
 *   stall_write -p ADDR:PORT -t IQN -T SECONDS
 * Exit 0 when the connection was closed within [T - 0.5 s, T + 3 s] and
 * the good session saw no error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rawiscsi.h"

#define STALL_BYTES (128u * 1024u)
#define GOOD_LBA 8192

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Send the WRITE and wait for the close; the milliseconds it took, or -1. */
static long stall_until_closed(const struct options *o, long limit_ms, char *why, size_t wl)
{
	uint8_t bhs[BHS_LEN], cdb[10];
	struct conn c;
	struct pdu p;
	long start;
	int rc;

	if (!conn_open(&c, o) || login(&c, o, false, why, wl) != 0) {
		conn_close(&c);
		return -1;
	}
	cdb10(cdb, 0x2a, 0, STALL_BYTES / 512);
	scsi_bhs(&c, o, bhs, cdb, true, STALL_BYTES, c.next_itt++);
	if (send_pdu(&c, bhs, NULL, 0) != 0) {
		snprintf(why, wl, "cannot send the WRITE");
		conn_close(&c);
		return -1;
	}
	start = now_ms();
	/* R2Ts and NOP-Ins until idmd closes; a receive times out after
	 * RECV_TIMEOUT_S, so loop until well past the limit */
	while (now_ms() - start < limit_ms + 5000) {
		rc = recv_pdu(&c, &p);
		if (rc == -ECONNRESET || rc == -EPIPE) {
			conn_close(&c);
			return now_ms() - start;
		}
		if (rc == 0 && (p.bhs[0] & OP_MASK) == OP_NOP_IN) {
			answer_nop_in(&c, &p);
		}
	}
	snprintf(why, wl, "still open %ld ms after the WRITE", now_ms() - start);
	conn_close(&c);
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	struct good_session g = {.o = &o, .lba = GOOD_LBA};
	long limit_ms = 0, took;
	char why[256] = "";
	pthread_t th;
	int c;

	while ((c = getopt(argc, argv, "p:t:T:")) != -1) {
		if (common_option(c, optarg, &o))
			continue;
		if (c == 'T')
			limit_ms = atol(optarg) * 1000L;
		else
			return fprintf(stderr,
			               "usage: stall_write -p ADDR:PORT -t IQN -T SECONDS\n"),
			       2;
	}
	if (!o.host || !o.iqn || limit_ms <= 0)
		return fprintf(stderr, "usage: stall_write -p ADDR:PORT -t IQN -T SECONDS\n"), 2;
	if (pthread_create(&th, NULL, good_session_main, &g) != 0)
		return fprintf(stderr, "no thread\n"), 1;
	took = stall_until_closed(&o, limit_ms, why, sizeof(why));
	if (took >= 0)
		printf(
		    "     stalled WRITE: connection closed after %ld ms (dataout_timeout_s %ld)\n",
		    took, limit_ms / 1000);
	report("stalled-write-closed", took >= limit_ms - 500 && took <= limit_ms + 3000,
	       took < 0 ? why : "closed outside [T - 0.5 s, T + 3 s]");
	good_session_finish(&g, th);
	printf("%s\n", failures ? "FAILED" : "ALL OK");
	return failures ? 1 : 0;
}
