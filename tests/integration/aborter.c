/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * aborter: a raw-socket iSCSI initiator that aborts WRITEs whose data is
 * half received, as a hostile or slow initiator would (issue 7).
 *
 *   aborter -p ADDR:PORT -t IQN [-l LUN] -T IQN2 [-k FILTER]
 *
 * For every task management function that aborts -- ABORT TASK and ABORT
 * TASK SET from the writing session; CLEAR TASK SET, LOGICAL UNIT RESET,
 * TARGET WARM RESET and PERSISTENT RESERVE OUT PREEMPT AND ABORT from
 * another session of the same target -- and for every phase of a WRITE's
 * data (immediate data, unsolicited Data-Out, solicited Data-Out after an
 * R2T), session B sends a 256 KiB WRITE(10) of a fresh pattern up to a cut:
 *   - from its own session, the TMF follows whole PDUs only (one TCP
 *     stream): the command and the first 64 KiB of data, nothing more;
 *   - from another session, B stops where the receiver writes into the
 *     task's buffer: after the command's header when the data is immediate
 *     (issue 7's case), else 16 KiB into the second Data-Out's data.
 * Then the TMF; once its response arrives (or after TMF_GRACE_MS: RFC 7143
 * 4.2.3.3 makes a target hold a multi-task abort until the answers to its
 * R2Ts are in, so B's own ABORT TASK SET must wait for them), B either sends
 * the rest of its bytes ("late") or closes its connection ("close").
 * Afterwards a fresh session reads the LBAs back: they must hold the pattern
 * written before the case, not one block of the aborted WRITE (only a target
 * that held its TMF response until the rest arrived may have executed the
 * whole WRITE first), and its own 256 KiB write+read must verify. Meanwhile
 * a well-behaved session on target IQN2 writes and verifies all the time.
 * -k FILTER runs the cases whose name contains FILTER.
 * Exit 0 when every check passed; one "ok"/"FAIL" line per check.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rawiscsi.h"

#define WRITE_BYTES (256u * 1024u)
#define PDU_BYTES (64u * 1024u)  /* data segment of each PDU of the WRITE */
#define PART_BYTES (16u * 1024u) /* bytes of the cut Data-Out sent before the TMF */
#define BLOCK 512u
#define CASE_LBA0 2048u           /* the cases' LBA ranges start at 1 MiB */
#define TMF_GRACE_MS 500          /* wait for the TMF response before sending the rest */
#define RESPONSE_TIMEOUT_MS 10000 /* a TMF response or a ping answer later than this: hang */
#define OP_TMF_REQ 0x02
#define OP_TMF_RSP 0x22
#define NO_TAG 0xffffffffu

enum tmf_kind {
	ABORT_TASK = 1, /* values: the TMF function codes (RFC 7143 11.5.1) */
	ABORT_TASK_SET = 2,
	CLEAR_TASK_SET = 4,
	LU_RESET = 5,
	TARGET_WARM_RESET = 6,
	PREEMPT_AND_ABORT = 0x100, /* a PERSISTENT RESERVE OUT, not a TMF */
};

enum data_phase { PH_IMMEDIATE, PH_UNSOLICITED, PH_SOLICITED };
enum ending { END_LATE, END_CLOSE };

static const struct {
	enum tmf_kind kind;
	const char *name;
} kinds[] = {
    {ABORT_TASK, "abort-task"},         {ABORT_TASK_SET, "abort-task-set"},
    {CLEAR_TASK_SET, "clear-task-set"}, {LU_RESET, "lu-reset"},
    {TARGET_WARM_RESET, "warm-reset"},  {PREEMPT_AND_ABORT, "preempt-abort"},
};
static const char *const phase_names[] = {"immediate", "unsolicited", "solicited"};
static const char *const ending_names[] = {"late", "close"};

/* One case: which abort, when, and what B does afterwards. */
struct abort_case {
	unsigned index;
	enum tmf_kind kind;
	enum data_phase phase;
	enum ending ending;
	char name[64];
	uint32_t lba;
};

/* The bytes B sends for its WRITE after the command (solicited) or from the
 * command on, and where it stops before the TMF. */
struct write_stream {
	uint8_t *bytes;
	size_t len;
	size_t cut;
};

/* What happened during a case, for the verdict. */
struct case_run {
	uint32_t write_itt;
	uint32_t write_cmdsn;
	bool response_seen;       /* "function complete" (or GOOD for PREEMPT AND ABORT) */
	bool response_after_rest; /* the target held it until the rest of the data came */
	int write_status;         /* status byte of a SCSI Response for the WRITE (0x100 |
	                             the iSCSI response when that is not 0), or -1 */
	bool write_status_late;   /* ... and it came after the TMF response */
	long response_ms;
	char note[96];
};

static bool same_session(enum tmf_kind k)
{
	return k == ABORT_TASK || k == ABORT_TASK_SET;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* recv_pdu, but -ETIMEDOUT when nothing starts arriving within `ms`. */
static int recv_pdu_within(struct conn *c, struct pdu *p, int ms)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	int n = poll(&pfd, 1, ms);

	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : recv_pdu(c, p);
}

/* Open a connection and log in; false with the reason in `why`. */
static bool session_open(struct conn *c, const struct options *o, char *why, size_t wl)
{
	if (conn_open(c, o) && login(c, o, false, why, wl) == 0)
		return true;
	if (!why[0])
		snprintf(why, wl, "cannot connect (idmd gone?)");
	conn_close(c);
	return false;
}

enum { PR_REGISTER = 0, PR_PREEMPT_AND_ABORT = 5 };

/* A PERSISTENT RESERVE OUT CDB (SPC-4 6.16) and its basic 24-byte parameter list. */
static void pr_out_build(uint8_t *cdb, uint8_t *param, uint8_t service_action, uint64_t key,
                         uint64_t sa_key)
{
	memset(cdb, 0, 10);
	memset(param, 0, 24);
	cdb[0] = 0x5f;
	cdb[1] = service_action;
	put_be32(cdb + 5, 24);
	put_be32(param, (uint32_t)(key >> 32));
	put_be32(param + 4, (uint32_t)key);
	put_be32(param + 8, (uint32_t)(sa_key >> 32));
	put_be32(param + 12, (uint32_t)sa_key);
}

static int pr_out(struct conn *c, const struct options *o, uint8_t service_action, uint64_t key,
                  uint64_t sa_key, char *why, size_t wl)
{
	uint8_t cdb[10], param[24];

	pr_out_build(cdb, param, service_action, key, sa_key);
	return scsi_cmd(c, o, cdb, true, param, sizeof(param), why, wl);
}

static void set_dlen(uint8_t *bhs, uint32_t dlen)
{
	bhs[5] = (uint8_t)(dlen >> 16);
	bhs[6] = (uint8_t)(dlen >> 8);
	bhs[7] = (uint8_t)dlen;
}

/* Note a SCSI Response for the aborted WRITE (`p` is one). */
static void note_write_status(struct case_run *r, const struct pdu *p)
{
	if (get_be32(p->bhs + 16) != r->write_itt)
		return;
	r->write_status = p->bhs[2] ? 0x100 | p->bhs[2] : p->bhs[3];
	r->write_status_late = r->response_seen;
}

/* A Data-Out BHS of the WRITE (RFC 7143 11.7). */
static void data_out_bhs(uint8_t *bhs, const struct options *o, uint32_t itt, uint32_t ttt,
                         uint32_t data_sn, uint32_t offset, bool final, uint32_t expstatsn)
{
	memset(bhs, 0, BHS_LEN);
	bhs[0] = OP_DATA_OUT;
	bhs[1] = final ? 0x80 : 0;
	set_dlen(bhs, PDU_BYTES);
	bhs[9] = (uint8_t)o->lun;
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, ttt);
	put_be32(bhs + 28, expstatsn);
	put_be32(bhs + 36, data_sn);
	put_be32(bhs + 40, offset);
}

/* Append PDUs for data [from, WRITE_BYTES) to the stream: Data-Outs of PDU_BYTES. */
static void stream_data_outs(struct write_stream *s, const struct options *o, struct conn *c,
                             uint32_t itt, uint32_t ttt, const uint8_t *data, uint32_t from)
{
	uint32_t sn = 0, off;

	for (off = from; off < WRITE_BYTES; off += PDU_BYTES) {
		data_out_bhs(s->bytes + s->len, o, itt, ttt, sn++, off,
		             off + PDU_BYTES == WRITE_BYTES, c->expstatsn);
		s->len += BHS_LEN;
		memcpy(s->bytes + s->len, data + off, PDU_BYTES);
		s->len += PDU_BYTES;
	}
}

/*
 * Start B's WRITE(10) of `data` and send its bytes up to the cut; the rest
 * stays in `s`. Immediate: 64 KiB in the command, F=0, unsolicited Data-Outs
 * for the rest. Unsolicited: no data in the command, F=0, four Data-Outs.
 * Solicited: F=1, no data; the Data-Outs answer the R2T.
 */
static int start_write(struct conn *b, const struct options *o, const struct abort_case *ac,
                       const uint8_t *data, struct write_stream *s, struct case_run *r, char *why,
                       size_t wl)
{
	uint8_t cdb[10];
	uint32_t ttt = NO_TAG, first = 0;
	bool cross = !same_session(ac->kind);
	uint8_t *bhs = s->bytes;

	r->write_itt = b->next_itt++;
	cdb10(cdb, 0x2a, ac->lba, WRITE_BYTES / BLOCK);
	scsi_bhs(b, o, bhs, cdb, true, WRITE_BYTES, r->write_itt);
	r->write_cmdsn = b->cmdsn - 1;
	s->len = BHS_LEN;
	if (ac->phase == PH_IMMEDIATE) {
		bhs[1] &= (uint8_t)~0x80; /* unsolicited Data-Out follows */
		set_dlen(bhs, PDU_BYTES);
		memcpy(s->bytes + s->len, data, PDU_BYTES);
		s->len += PDU_BYTES;
		first = PDU_BYTES;
		/* issue 7's case: only the header, all of the data late */
		s->cut = cross ? BHS_LEN : s->len;
	} else if (ac->phase == PH_UNSOLICITED) {
		bhs[1] &= (uint8_t)~0x80;
	} else {
		int rc = send_all(b->fd, bhs, BHS_LEN);
		struct pdu p;

		while (!rc) {
			rc = recv_pdu_within(b, &p, RESPONSE_TIMEOUT_MS);
			if (rc || (p.bhs[0] & OP_MASK) == OP_R2T)
				break;
			if ((p.bhs[0] & OP_MASK) == OP_NOP_IN)
				answer_nop_in(b, &p);
		}
		if (rc || get_be32(p.bhs + 16) != r->write_itt || get_be32(p.bhs + 40) != 0 ||
		    get_be32(p.bhs + 44) != WRITE_BYTES)
			return snprintf(why, wl, "no R2T for the whole WRITE: %s",
			                rc ? strerror(-rc) : "other PDU"),
			       -EPROTO;
		ttt = get_be32(p.bhs + 20);
		s->len = 0;
	}
	if (ac->phase != PH_IMMEDIATE) {
		size_t first_pdu_end = s->len + BHS_LEN + PDU_BYTES;

		s->cut = cross ? first_pdu_end + BHS_LEN + PART_BYTES : first_pdu_end;
	}
	stream_data_outs(s, o, b, r->write_itt, ttt, data, first);
	return send_all(b->fd, s->bytes, s->cut);
}

/* A Task Management Function Request (RFC 7143 11.5), immediate; returns its ITT. */
static uint32_t send_tmf(struct conn *c, const struct options *o, enum tmf_kind fn,
                         const struct case_run *r)
{
	uint8_t bhs[BHS_LEN] = {0};
	uint32_t itt = c->next_itt++;

	bhs[0] = OP_TMF_REQ | OP_IMMEDIATE;
	bhs[1] = 0x80 | (uint8_t)fn;
	bhs[9] = (uint8_t)o->lun;
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, fn == ABORT_TASK ? r->write_itt : NO_TAG);
	put_be32(bhs + 24, c->cmdsn);
	put_be32(bhs + 28, c->expstatsn);
	put_be32(bhs + 32, fn == ABORT_TASK ? r->write_cmdsn : c->cmdsn);
	return send_pdu(c, bhs, NULL, 0) ? 0 : itt;
}

/* PREEMPT AND ABORT of `victim_key` by `key`, sent without waiting; returns its ITT. */
static uint32_t send_preempt_and_abort(struct conn *c, const struct options *o, uint64_t key,
                                       uint64_t victim_key)
{
	uint8_t cdb[10], param[24], bhs[BHS_LEN];
	uint32_t itt = c->next_itt++;

	pr_out_build(cdb, param, PR_PREEMPT_AND_ABORT, key, victim_key);
	scsi_bhs(c, o, bhs, cdb, true, sizeof(param), itt);
	return send_pdu(c, bhs, param, sizeof(param)) ? 0 : itt;
}

/*
 * Wait up to `ms` for the answer with `itt` (a TMF Response, or the SCSI
 * Response of PREEMPT AND ABORT): 1 when it says done, 0 on timeout, <0 when
 * it refused or the connection failed (reason in r->note). A status for the
 * aborted WRITE on the way is noted when `c` is B's connection.
 */
static int await_answer(struct conn *c, bool on_b, uint32_t itt, int ms, struct case_run *r)
{
	long deadline = now_ms() + ms;
	struct pdu p;
	int rc;

	for (;;) {
		long left = deadline - now_ms();

		rc = recv_pdu_within(c, &p, left > 0 ? (int)left : 0);
		if (rc == -ETIMEDOUT)
			return 0;
		if (rc)
			return snprintf(r->note, sizeof(r->note), "%s", strerror(-rc)), rc;
		switch (p.bhs[0] & OP_MASK) {
		case OP_NOP_IN:
			answer_nop_in(c, &p);
			continue;
		case OP_TMF_RSP:
		case OP_SCSI_RSP:
			c->expstatsn = get_be32(p.bhs + 24) + 1;
			if ((p.bhs[0] & OP_MASK) == OP_SCSI_RSP && on_b)
				note_write_status(r, &p);
			if (get_be32(p.bhs + 16) != itt)
				continue;
			if (p.bhs[2] == 0 && ((p.bhs[0] & OP_MASK) == OP_TMF_RSP || p.bhs[3] == 0))
				return 1;
			snprintf(r->note, sizeof(r->note), "answer: response 0x%02x status 0x%02x",
			         p.bhs[2], p.bhs[3]);
			return -EPROTO;
		case OP_REJECT:
			snprintf(r->note, sizeof(r->note), "Reject reason 0x%02x", p.bhs[2]);
			return -EPROTO;
		default:
			continue; /* an R2T of the aborted WRITE, an Async Message */
		}
	}
}

/* After the late bytes: a NOP-Out ping on B must be answered or B closed. */
static int ping_after(struct conn *b, struct case_run *r)
{
	uint8_t bhs[BHS_LEN] = {0};
	uint32_t itt = b->next_itt++;
	long deadline = now_ms() + RESPONSE_TIMEOUT_MS;
	struct pdu p;
	int rc;

	bhs[0] = OP_NOP_OUT | OP_IMMEDIATE;
	bhs[1] = 0x80;
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, NO_TAG);
	put_be32(bhs + 24, b->cmdsn);
	put_be32(bhs + 28, b->expstatsn);
	if (send_pdu(b, bhs, NULL, 0))
		return 0; /* the target closed B: fine */
	for (;;) {
		long left = deadline - now_ms();

		rc = recv_pdu_within(b, &p, left > 0 ? (int)left : 0);
		if (rc == -ETIMEDOUT)
			return rc;
		if (rc)
			return 0;
		if ((p.bhs[0] & OP_MASK) == OP_SCSI_RSP)
			note_write_status(r, &p);
		if ((p.bhs[0] & OP_MASK) == OP_NOP_IN && get_be32(p.bhs + 16) == itt)
			return 1;
	}
}

/* RFC 7143 4.2.3.3: ABORT TASK SET and CLEAR TASK SET wait for the answers to
 * outstanding R2Ts; every other abort must be answered with B's bytes missing. */
static bool may_wait_for_rest(const struct abort_case *ac)
{
	return (ac->kind == ABORT_TASK_SET || ac->kind == CLEAR_TASK_SET) &&
	       ac->phase == PH_SOLICITED;
}

/* Append a reason to a case's verdict. */
static void add_why(char *why, size_t wl, const char *what)
{
	size_t n = strlen(why);

	snprintf(why + n, wl - n, "%s%s", n ? "; " : "", what);
}

/* SAM-5 TAS: another nexus's TMF may end B's WRITE with TASK ABORTED; B's
 * own TMF leaves no status after its response (RFC 7143 11.5.1); GOOD means
 * the aborted WRITE ran. */
static void judge_write_status(const struct abort_case *ac, struct case_run *r, char *why,
                               size_t wl)
{
	size_t n = strlen(r->note);

	if (r->write_status < 0)
		return;
	if (r->write_status == 0 && !r->response_after_rest)
		add_why(why, wl, "the aborted WRITE ended with GOOD status");
	else if (same_session(ac->kind) && r->write_status_late)
		add_why(why, wl, "a status for the aborted WRITE after the TMF response");
	snprintf(r->note + n, sizeof(r->note) - n, "%sB's WRITE status 0x%02x", n ? "; " : "",
	         r->write_status);
}

/*
 * The TMF (or PREEMPT AND ABORT) while B's WRITE is cut; then B's ending.
 * The answer must come while B's bytes are missing, within
 * RESPONSE_TIMEOUT_MS, except where RFC 7143 4.2.3.3 lets the target wait
 * for the answers to its R2Ts: then B goes on after TMF_GRACE_MS.
 */
static void abort_and_end(struct conn *a, struct conn *b, const struct options *o,
                          const struct abort_case *ac, const struct write_stream *s, uint64_t key_a,
                          uint64_t key_b, struct case_run *r, char *why, size_t wl)
{
	struct conn *tc = same_session(ac->kind) ? b : a;
	uint32_t itt = ac->kind == PREEMPT_AND_ABORT ? send_preempt_and_abort(a, o, key_a, key_b)
	                                             : send_tmf(tc, o, ac->kind, r);
	bool may_wait = may_wait_for_rest(ac);
	long t0 = now_ms();
	int rc =
	    itt ? await_answer(tc, tc == b, itt, may_wait ? TMF_GRACE_MS : RESPONSE_TIMEOUT_MS, r)
	        : -EIO;

	r->response_seen = rc == 1;
	if (rc < 0)
		return add_why(why, wl, r->note[0] ? r->note : "cannot send the TMF");
	if (r->response_seen && ac->kind == ABORT_TASK_SET && ac->phase == PH_SOLICITED)
		add_why(why, wl, "ABORT TASK SET answered before its R2T was answered (RFC 7143 4.2.3.3)");
	if (!r->response_seen && !may_wait)
		add_why(why, wl, "no answer to the abort while the WRITE was cut (hang)");
	if (ac->ending == END_LATE) {
		if (send_all(b->fd, s->bytes + s->cut, s->len - s->cut))
			snprintf(r->note, sizeof(r->note),
			         "B closed by the target before the rest");
		if (!r->response_seen)
			r->response_seen = r->response_after_rest =
			    await_answer(tc, tc == b, itt, RESPONSE_TIMEOUT_MS, r) == 1;
		if (ping_after(b, r) == -ETIMEDOUT)
			add_why(why, wl, "B hangs after the late data (no NOP-In, not closed)");
	} else {
		conn_close(b);
		if (!r->response_seen && tc == a)
			r->response_seen = await_answer(a, false, itt, RESPONSE_TIMEOUT_MS, r) == 1;
	}
	r->response_ms = now_ms() - t0;
	if (!r->response_seen && may_wait && (ac->ending == END_LATE || tc == a))
		add_why(why, wl, "no answer to the abort after B's rest or close (hang)");
	judge_write_status(ac, r, why, wl);
}

/* Sessions A (other ISID, for cross-session aborts) and B, and the abort. */
static void abort_in_flight(const struct options *o, const struct abort_case *ac,
                            const uint8_t *data, struct write_stream *s, struct case_run *r,
                            char *why, size_t wl)
{
	uint64_t key_a = 0xa5a5000000000000ull | ac->index;
	uint64_t key_b = 0xb5b5000000000000ull | ac->index;
	char err[160] = "";
	struct conn a = {.fd = -1}, b = {.fd = -1};

	if (!session_open(&b, o, err, sizeof(err)) ||
	    (!same_session(ac->kind) && !session_open(&a, o, err, sizeof(err))))
		goto out;
	if (ac->kind == PREEMPT_AND_ABORT &&
	    (pr_out(&a, o, PR_REGISTER, 0, key_a, err, sizeof(err)) ||
	     pr_out(&b, o, PR_REGISTER, 0, key_b, err, sizeof(err))))
		goto out;
	if (start_write(&b, o, ac, data, s, r, err, sizeof(err)))
		goto out;
	abort_and_end(&a, &b, o, ac, s, key_a, key_b, r, why, wl);
	if (ac->kind == PREEMPT_AND_ABORT) /* unregister A: the next case starts clean */
		pr_out(&a, o, PR_REGISTER, key_a, 0, err, sizeof(err));
	err[0] = 0;
out:
	if (err[0])
		add_why(why, wl, err);
	conn_close(&a);
	conn_close(&b);
}

/* Write `old` at the case's LBAs through a fresh session; false when idmd is gone. */
static bool write_before(const struct options *o, const struct abort_case *ac, uint8_t *old,
                         char *why, size_t wl)
{
	struct conn c = {.fd = -1};
	bool ok = session_open(&c, o, why, wl) &&
	          scsi_io(&c, o, true, ac->lba, old, WRITE_BYTES, why, wl) == 0;

	conn_close(&c);
	return ok;
}

/* Count the 512-byte blocks of `got` equal to `old` and to `aborted`. */
static void count_blocks(const uint8_t *got, const uint8_t *old, const uint8_t *aborted,
                         unsigned *n_old, unsigned *n_aborted)
{
	*n_old = *n_aborted = 0;
	for (uint32_t off = 0; off < WRITE_BYTES; off += BLOCK) {
		if (memcmp(got + off, old + off, BLOCK) == 0)
			++*n_old;
		else if (memcmp(got + off, aborted + off, BLOCK) == 0)
			++*n_aborted;
	}
}

/* Read the case's LBAs back through a fresh session, then write+verify
 * `scratch_lba`; false when idmd is gone. */
static bool check_after(const struct options *o, const struct abort_case *ac, const uint8_t *old,
                        const uint8_t *aborted, uint32_t scratch_lba, const struct case_run *r,
                        char *why, size_t wl)
{
	const unsigned blocks = WRITE_BYTES / BLOCK;
	uint8_t *got = calloc(1, WRITE_BYTES);
	struct conn c = {.fd = -1};
	char err[160] = "";
	unsigned n_old, n_aborted;
	bool alive = got && session_open(&c, o, err, sizeof(err));

	if (alive && scsi_io(&c, o, false, ac->lba, got, WRITE_BYTES, err, sizeof(err)) == 0) {
		count_blocks(got, old, aborted, &n_old, &n_aborted);
		if (n_old != blocks && !(n_aborted == blocks && r->response_after_rest)) {
			snprintf(err, sizeof(err),
			         "medium: %u of %u blocks hold the aborted WRITE, %u neither",
			         n_aborted, blocks, blocks - n_old - n_aborted);
		}
	}
	if (err[0])
		add_why(why, wl, err);
	err[0] = 0;
	if (alive &&
	    write_read_verify(&c, o, scratch_lba, WRITE_BYTES, ac->index, err, sizeof(err))) {
		char what[200];

		snprintf(what, sizeof(what), "a write+read after the case: %s", err);
		add_why(why, wl, what);
	}
	if (!alive)
		add_why(why, wl, "idmd no longer accepts sessions");
	conn_close(&c);
	free(got);
	return alive;
}

/* One case, reported on one line; false when idmd is gone. */
static bool run_case(const struct options *o, const struct abort_case *ac, uint32_t scratch_lba)
{
	uint8_t *old = malloc(WRITE_BYTES), *aborted = malloc(WRITE_BYTES);
	struct write_stream s = {.bytes = malloc(5 * BHS_LEN + WRITE_BYTES)};
	struct case_run r = {.write_status = -1};
	char why[512] = "", line[640];
	bool alive = false;

	if (!old || !aborted || !s.bytes) {
		report(ac->name, false, "out of memory");
		goto out;
	}
	fill_pattern(old, WRITE_BYTES, 2 * ac->index + 1);
	fill_pattern(aborted, WRITE_BYTES, 2 * ac->index + 2);
	if (!write_before(o, ac, old, why, sizeof(why))) {
		report(ac->name, false, why);
		goto out;
	}
	abort_in_flight(o, ac, aborted, &s, &r, why, sizeof(why));
	alive = check_after(o, ac, old, aborted, scratch_lba, &r, why, sizeof(why));
	snprintf(line, sizeof(line), "%s%sTMF answer %s, %ld ms%s%s%s", why, why[0] ? " (" : "",
	         !r.response_seen        ? "none"
	         : r.response_after_rest ? "after the rest"
	                                 : "before the rest",
	         r.response_ms, r.note[0] ? "; " : "", r.note, why[0] ? ")" : "");
	report(ac->name, !why[0], line);
out:
	free(old);
	free(aborted);
	free(s.bytes);
	return alive;
}

/* Every kind x phase x ending whose name contains `filter` (NULL: all). */
static unsigned make_cases(struct abort_case *cases, unsigned cap, const char *filter)
{
	unsigned n = 0, all = 0;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (unsigned ph = PH_IMMEDIATE; ph <= PH_SOLICITED; ph++) {
			for (unsigned e = END_LATE; e <= END_CLOSE && n < cap; e++, all++) {
				struct abort_case *ac = &cases[n];

				*ac = (struct abort_case){
				    .index = all, .kind = kinds[k].kind, .phase = ph, .ending = e};
				snprintf(ac->name, sizeof(ac->name), "%s/%s/%s", kinds[k].name,
				         phase_names[ph], ending_names[e]);
				ac->lba = CASE_LBA0 + all * (WRITE_BYTES / BLOCK);
				if (!filter || strstr(ac->name, filter))
					n++;
			}
		}
	}
	return n;
}

/* The negotiated parameters the cases' PDU layout relies on. */
static bool check_negotiation(const struct options *o)
{
	struct conn c = {.fd = -1};
	char why[160] = "";
	bool ok = session_open(&c, o, why, sizeof(why));

	if (ok &&
	    (!c.immediate_data || c.first_burst < WRITE_BYTES || c.peer_max_recv_dsl < PDU_BYTES)) {
		snprintf(
		    why, sizeof(why),
		    "needs ImmediateData=Yes, FirstBurstLength >= %u, MaxRecvDataSegmentLength "
		    ">= %u (got %s, %u, %u)",
		    WRITE_BYTES, PDU_BYTES, c.immediate_data ? "Yes" : "No", c.first_burst,
		    c.peer_max_recv_dsl);
		ok = false;
	}
	report("negotiation", ok, ok ? NULL : why);
	conn_close(&c);
	return ok;
}

/* All cases while a well-behaved session on the second target writes and verifies. */
static void run_all(const struct options *o, const char *filter)
{
	static struct abort_case cases[64];
	struct options bystander_opts = *o;
	struct good_session g = {.o = &bystander_opts};
	unsigned n = make_cases(cases, 64, filter), i;
	uint32_t scratch_lba = CASE_LBA0 + 64 * (WRITE_BYTES / BLOCK);
	pthread_t th;

	bystander_opts.iqn = o->iqn2;
	bystander_opts.lun = 0;
	if (!check_negotiation(o))
		return;
	if (pthread_create(&th, NULL, good_session_main, &g) != 0) {
		report("good-session", false, "no thread");
		return;
	}
	for (i = 0; i < n; i++) {
		if (!run_case(o, &cases[i], scratch_lba)) {
			report("idmd-alive", false, "gave up: no more sessions after this case");
			break;
		}
	}
	good_session_finish(&g, th);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s -p ADDR:PORT -t IQN [-l LUN] -T IQN2 [-k FILTER]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct options o = {.mode = "abort"};
	const char *filter = NULL;
	int c;

	while ((c = getopt(argc, argv, "p:t:l:T:k:")) != -1) {
		if (common_option(c, optarg, &o))
			continue;
		if (c == 'T')
			o.iqn2 = optarg;
		else if (c == 'k')
			filter = optarg;
		else
			usage(argv[0]);
	}
	if (!o.host || !o.iqn || !o.iqn2 || o.lun > 255)
		usage(argv[0]);
	run_all(&o, filter);
	printf("%s\n", failures ? "FAILED" : "ALL OK");
	return failures ? 1 : 0;
}
