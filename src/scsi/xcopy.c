/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * EXTENDED COPY (LID1, SPC-4 6.4) between LUs of the same target, named
 * by identification descriptor target descriptors (E4h, NAA), with
 * block-to-block segment descriptors (02h).
 *
 * The copy runs asynchronously through the stores' own I/O path, one
 * chunk of at most 256 KiB at a time, yielding its reactor between chunks
 * (struct xcopy_run); its progress and outcome go to the LU's held
 * results (copy_results.c) for RECEIVE COPY RESULTS.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "pr_int.h"

#define XCOPY_HDR_LEN 16
#define XCOPY_TGT_LEN 32 /* identification descriptor target descriptor */
#define XCOPY_B2B_LEN 28 /* block to block segment descriptor */
#define XCOPY_CHUNK                                                                                \
	(256u << 10)         /* bytes read then written per step: a memory                         \
	                      * store's chunk holds its reactor ~25 us */
#define XCOPY_BURST_CHUNKS 2 /* chunks a copy moves in a row (~50 us) */
#define XCOPY_PACE_MS 1      /* ... before it sleeps this long */
#define XCOPY_SEG_DC 0x02

/* Sense codes only EXTENDED COPY uses. */
#define SENSE_COPY_ABORTED 0x0a
#define ASC_TOO_MANY_TGT 0x2606
#define ASC_UNSUPP_TGT 0x2607
#define ASC_TOO_MANY_SEG 0x2608
#define ASC_UNSUPP_SEG 0x2609
#define ASC_TGT_NOT_REACHABLE 0x0d02

/* One parsed EXTENDED COPY parameter list. */
struct xcopy {
	uint8_t list_id;
	uint8_t usage;
	const uint8_t *tgt; /* target descriptors */
	unsigned ntgt;
	const uint8_t *seg; /* segment descriptors */
	unsigned nseg;
	/* progress, for RECEIVE COPY STATUS */
	uint16_t done_segs;
	uint64_t done_bytes;
};

int scsi_xcopy_setup(struct scsi_cmd *cmd)
{
	uint32_t len = get_be32(cmd->cdb + 10);

	if (len == 0) {
		return 0; /* nothing to copy: GOOD */
	}
	if (len > XCOPY_HDR_LEN + XCOPY_MAX_DESC_LIST) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                     SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	cmd->dir = SCSI_DIR_WRITE;
	cmd->xfer_len = len;
	return 0;
}

/* Count and check the target descriptors; 0 or an ASC (sense set). */
static int parse_targets(struct scsi_cmd *cmd, struct xcopy *x, uint32_t len)
{
	for (uint32_t off = 0; off < len; off += XCOPY_TGT_LEN) {
		if (x->ntgt == XCOPY_MAX_TGT) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_TOO_MANY_TGT);
			return -1;
		}
		/* Every target descriptor type is 32 bytes long (those we
		 * do not support too): a shorter rest is cut short. */
		if (len - off < XCOPY_TGT_LEN) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
			                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
			return -1;
		}
		if (x->tgt[off] != XCOPY_TGT_IDENT) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_UNSUPP_TGT);
			return -1;
		}
		x->ntgt++;
	}
	return 0;
}

static int parse_segments(struct scsi_cmd *cmd, struct xcopy *x, uint32_t len)
{
	for (uint32_t off = 0; off < len; off += XCOPY_B2B_LEN) {
		const uint8_t *d = x->seg + off;

		if (x->nseg == XCOPY_MAX_SEG) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_TOO_MANY_SEG);
			return -1;
		}
		if (d[0] != XCOPY_SEG_B2B) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_UNSUPP_SEG);
			return -1;
		}
		if (len - off < XCOPY_B2B_LEN) {
			scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
			                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
			return -1;
		}
		if (get_be16(d + 2) != XCOPY_B2B_LEN - 4) {
			/* The field's offset in the whole parameter list. */
			scsi_cmd_bad_param(cmd, (uint16_t)(d + 2 - cmd->data), -1);
			return -1;
		}
		x->nseg++;
	}
	return 0;
}

/* The parameter list header and descriptor lists; 0 or -1 (sense set). */
static int xcopy_parse(struct scsi_cmd *cmd, struct xcopy *x)
{
	const uint8_t *p = cmd->data;
	uint32_t len = cmd->xfer_len;
	uint32_t tgt_len, seg_len, inline_len;

	if (len < XCOPY_HDR_LEN) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return -1;
	}
	memset(x, 0, sizeof(*x));
	x->list_id = p[0];
	x->usage = (p[1] >> 3) & 0x03;
	tgt_len = get_be16(p + 2);
	seg_len = get_be32(p + 8);
	inline_len = get_be32(p + 12);
	if (inline_len) {
		scsi_cmd_bad_param(cmd, 12, -1); /* no inline data support */
		return -1;
	}
	if ((uint64_t)tgt_len + seg_len > XCOPY_MAX_DESC_LIST ||
	    XCOPY_HDR_LEN + tgt_len + seg_len > len) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return -1;
	}
	x->tgt = p + XCOPY_HDR_LEN;
	x->seg = x->tgt + tgt_len;
	if (parse_targets(cmd, x, tgt_len) || parse_segments(cmd, x, seg_len)) {
		return -1;
	}
	return 0;
}

/* The LU of the target named by descriptor `i`, or NULL. */
static struct scsi_lu *xcopy_target(const struct scsi_cmd *cmd, const struct xcopy *x, uint16_t i)
{
	const uint8_t *d;
	const uint8_t *desig;

	if (i >= x->ntgt || !cmd->luns) {
		return NULL;
	}
	d = x->tgt + (size_t)i * XCOPY_TGT_LEN;
	desig = d + 4;
	/* Peripheral device type 0 (block), an NAA designator of the LU. */
	if ((d[1] & 0x1f) != 0 || (desig[1] & 0x0f) != 0x03 || (desig[1] & 0x30) != 0 ||
	    desig[3] != 16) {
		return NULL;
	}
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		struct scsi_lu *lu = cmd->luns->lu[l];

		/* Only an LU this nexus sees (its LUN map) can be named. */
		if (lu && memcmp(lu->naa, desig + 4, 16) == 0 &&
		    get_be24(d + 29) == lu->block_size && scsi_lun_map_shows(cmd->map, l)) {
			return lu;
		}
	}
	return NULL;
}

/*
 * Every LU the copy names is checked as a READ of each source and a
 * WRITE of each destination addressed to it would be, not only the LU
 * the command was sent to: another nexus' reservation, a stopped unit
 * and (with take_ua) this nexus' unit attention stop the copy. 0, or 1
 * with status and sense set. A target that names no LU fails later, as
 * COPY ABORTED, when its segment runs.
 */
static int xcopy_check_lus(struct scsi_cmd *cmd, const struct xcopy *x, bool take_ua)
{
	for (unsigned i = 0; i < x->nseg; i++) {
		const uint8_t *d = x->seg + (size_t)i * XCOPY_B2B_LEN;
		struct scsi_lu *src = xcopy_target(cmd, x, get_be16(d + 4));
		struct scsi_lu *dst = xcopy_target(cmd, x, get_be16(d + 6));

		if ((src && scsi_cmd_check_lu(cmd, src, false, take_ua)) ||
		    (dst && scsi_cmd_check_lu(cmd, dst, true, take_ua))) {
			return 1;
		}
	}
	return 0;
}

static bool range_ok(const struct scsi_lu *lu, uint64_t lba, uint32_t n)
{
	return lba <= lu->num_blocks && n <= lu->num_blocks - lba;
}

/* ---- the copy ---- */

/*
 * One EXTENDED COPY in progress. It moves one chunk (at most
 * XCOPY_CHUNK bytes) at a time through the stores' own asynchronous
 * I/O: a READ of the source into `buf`, then a WRITE of it to the
 * destination. On a reactor the next chunk never starts inside the
 * last one's completion, so a long copy holds the reactor for at most
 * one chunk:
 *   - after a chunk the stores moved on their own (io_uring), the next
 *     starts from the reactor's deferred work, after the connections
 *     ready in the same iteration;
 *   - chunks the reactor's own CPU moves (stores that complete inside
 *     submit: mem, null) go the same way for XCOPY_BURST_CHUNKS, then the
 *     next starts from a timer XCOPY_PACE_MS later: the copy takes about
 *     a twentieth of the reactor's CPU (some 500 MB/s on a memory
 *     store), so the reactor still wakes at once for its connections on
 *     a busy machine, where one that never sleeps waits for the CPU
 *     behind every other runnable task, and a command arriving during a
 *     burst waits ~50 us, not the millisecond a time-based burst took.
 */
struct xcopy_run {
	struct scsi_cmd *cmd;
	struct xcopy x;
	bool hold; /* results are held for RECEIVE COPY RESULTS */
	struct idm_backing_io io;
	struct idm_deferred resume;
	struct idm_timer pace;
	unsigned burst_chunks; /* chunks moved since the reactor last woke for it */
	uint8_t *buf;
	size_t buf_cap;
	unsigned next_seg; /* next segment descriptor to start */
	struct scsi_lu *src, *dst;
	uint64_t src_lba, dst_lba;
	uint32_t left;  /* blocks of the current segment still to copy */
	uint32_t chunk; /* blocks of the chunk in flight */
	bool in_segment;
	bool in_submit; /* inside idm_backing_submit */
	bool cpu_chunk; /* both requests of the chunk completed inside it */
	bool busy;      /* inside run_step's loop (no reactor) */
	bool again;     /* a chunk completed inside that loop */
};

/* Start segment `i`; false with COPY ABORTED sense set when it cannot
 * run (a target that is no LU of ours, a range past the end). */
static bool segment_start(struct xcopy_run *run, unsigned i)
{
	struct scsi_cmd *cmd = run->cmd;
	const uint8_t *d = run->x.seg + (size_t)i * XCOPY_B2B_LEN;

	run->src = xcopy_target(cmd, &run->x, get_be16(d + 4));
	run->dst = xcopy_target(cmd, &run->x, get_be16(d + 6));
	run->left = get_be16(d + 10);
	run->src_lba = get_be64(d + 12);
	run->dst_lba = get_be64(d + 20);
	if (!run->src || !run->dst) {
		scsi_cmd_set_sense(cmd, SENSE_COPY_ABORTED, ASC_TGT_NOT_REACHABLE);
		return false;
	}
	/* Same block size on both sides (checked): DC changes nothing. */
	if (run->src->block_size != run->dst->block_size ||
	    !range_ok(run->src, run->src_lba, run->left) ||
	    !range_ok(run->dst, run->dst_lba, run->left)) {
		scsi_cmd_set_sense(cmd, SENSE_COPY_ABORTED, SCSI_ASC_NONE);
		return false;
	}
	run->in_segment = true;
	return true;
}

/* Pick the next chunk; false when the copy is over (done or failed). */
static bool next_chunk(struct xcopy_run *run)
{
	struct scsi_cmd *cmd = run->cmd;
	uint32_t max;

	if (cmd->abort_requested && cmd->status == SCSI_STATUS_GOOD) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ABORTED_COMMAND, SCSI_ASC_NONE);
	}
	while (cmd->status == SCSI_STATUS_GOOD && run->left == 0) {
		if (run->in_segment) {
			run->in_segment = false;
			run->x.done_segs++;
		}
		if (run->next_seg == run->x.nseg || !segment_start(run, run->next_seg++)) {
			return false;
		}
	}
	/* A reservation taken or a unit stopped while the copy runs stops
	 * it before its next chunk, as it would the next READ or WRITE. */
	if (cmd->status != SCSI_STATUS_GOOD || scsi_cmd_check_lu(cmd, run->src, false, false) ||
	    scsi_cmd_check_lu(cmd, run->dst, true, false)) {
		return false;
	}
	max = XCOPY_CHUNK / run->src->block_size;
	run->chunk = run->left < max ? run->left : max;
	return true;
}

static void chunk_io(struct xcopy_run *run, struct scsi_lu *lu, enum idm_backing_op op,
                     uint64_t lba, void (*done)(struct idm_backing_io *io, int status))
{
	struct idm_backing_io *io = &run->io;

	io->op = op;
	io->offset = lba * lu->block_size;
	io->len = run->chunk * lu->block_size;
	io->buf = run->buf;
	io->fua = false;
	io->done = done;
	io->arg = run;
	run->in_submit = true;
	idm_backing_submit(lu->store, io, run->cmd->reactor);
	run->in_submit = false;
}

static void run_step(struct xcopy_run *run);

static void resume_deferred(struct idm_deferred *d)
{
	run_step((struct xcopy_run *)((char *)d - offsetof(struct xcopy_run, resume)));
}

static void resume_paced(struct idm_timer *t)
{
	struct xcopy_run *run = (struct xcopy_run *)((char *)t - offsetof(struct xcopy_run, pace));

	run->burst_chunks = 0;
	run_step(run);
}

/* A chunk is over (moved or failed): on to the next one. */
static void chunk_done(struct xcopy_run *run)
{
	if (run->cmd->reactor && run->cpu_chunk && ++run->burst_chunks >= XCOPY_BURST_CHUNKS) {
		idm_timer_arm(run->cmd->reactor, &run->pace, XCOPY_PACE_MS);
	} else if (run->cmd->reactor) {
		idm_reactor_defer(run->cmd->reactor, &run->resume);
	} else if (run->busy) {
		run->again = true;
	} else {
		run_step(run);
	}
}

static void write_done(struct idm_backing_io *io, int status)
{
	struct xcopy_run *run = io->arg;

	run->cpu_chunk = run->cpu_chunk && run->in_submit;
	if (status < 0) {
		scsi_cmd_set_sense(run->cmd, SENSE_COPY_ABORTED, SCSI_ASC_WRITE_ERROR);
	} else {
		run->src_lba += run->chunk;
		run->dst_lba += run->chunk;
		run->left -= run->chunk;
		run->x.done_bytes += (uint64_t)run->chunk * run->src->block_size;
		if (run->hold) {
			xcopy_held_update(run->cmd, run->x.list_id, run->x.done_segs,
			                  run->x.done_bytes, false);
		}
	}
	chunk_done(run);
}

static void read_done(struct idm_backing_io *io, int status)
{
	struct xcopy_run *run = io->arg;

	run->cpu_chunk = run->in_submit;
	if (status < 0) {
		scsi_cmd_set_sense(run->cmd, SENSE_COPY_ABORTED, SCSI_ASC_READ_ERROR);
		chunk_done(run);
		return;
	}
	scsi_wait_for_rmw(run->dst);
	chunk_io(run, run->dst, IDM_BACKING_WRITE, run->dst_lba, write_done);
}

static void run_finish(struct xcopy_run *run)
{
	struct scsi_cmd *cmd = run->cmd;

	if (run->hold) {
		xcopy_held_update(cmd, run->x.list_id, run->x.done_segs, run->x.done_bytes, true);
	}
	idm_buf_put(cmd->reactor, run->buf, run->buf_cap);
	free(run);
	scsi_cmd_complete(cmd);
}

/* Start chunks until one is in flight or the copy is over. A loop, not
 * recursion, when stores complete inside submit and no reactor runs. */
static void run_step(struct xcopy_run *run)
{
	run->busy = true;
	do {
		run->again = false;
		if (!next_chunk(run)) {
			run->busy = false;
			run_finish(run);
			return;
		}
		chunk_io(run, run->src, IDM_BACKING_READ, run->src_lba, read_done);
	} while (run->again);
	run->busy = false;
}

/* A checked copy: its state and chunk buffer, or NULL (sense set). */
static struct xcopy_run *run_new(struct scsi_cmd *cmd, const struct xcopy *x)
{
	struct xcopy_run *run = calloc(1, sizeof(*run));

	if (run) {
		run->buf = idm_buf_get(cmd->reactor, XCOPY_CHUNK, &run->buf_cap);
	}
	if (!run || !run->buf) {
		free(run);
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		return NULL;
	}
	run->cmd = cmd;
	run->x = *x;
	run->hold = x->usage <= XCOPY_USAGE_HOLD_MAX;
	run->resume.fn = resume_deferred;
	run->pace.fn = resume_paced;
	return run;
}

void scsi_xcopy_exec(struct scsi_cmd *cmd)
{
	struct xcopy_run *run;
	struct xcopy x;

	if (cmd->xfer_len == 0 || scsi_buffer_short(cmd) || xcopy_parse(cmd, &x) < 0 ||
	    xcopy_check_lus(cmd, &x, true)) {
		scsi_cmd_complete(cmd);
		return;
	}
	run = run_new(cmd, &x);
	if (!run) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (xcopy_held_begin(cmd, x.list_id, run->hold)) {
		run->hold = false;
		run_finish(run);
		return;
	}
	run_step(run);
}
