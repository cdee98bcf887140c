/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Persistent reservations (and SPC-2 RESERVE/RELEASE) of a LU that
 * several idmd gateways export over one clustered store (rbd): the
 * truth is the store's shared record "pr" (the text of pr_state.c with
 * its shared lines), each gateway's lu->pr is a copy of it.
 *
 * Changes: PERSISTENT RESERVE OUT, RESERVE and RELEASE go to the store's
 * thread (ops->offload; a reactor never waits on the cluster), which
 * reads the record, parses it strictly into a scratch state, runs the
 * same service action code as a local LU on it, and writes it back only
 * while its version is still the one read (compare-and-swap; another
 * gateway writing first makes it read again, PR_SHARE_TRIES times, then
 * BUSY). The new state is installed here and the command completes on
 * its reactor with the status and sense a local LU gives.
 *
 * Reads: every command checks the copy (the data path is unchanged:
 * resv_active and pr_ua_pending). The copy is current: record_watch's
 * changed() reads and installs the record on every gateway before the
 * writer's record_write returns, so a change is everywhere once its
 * command completes. PERSISTENT RESERVE IN answers from the copy.
 *
 * Unit attentions: a service action queues its unit attentions (SPC-4
 * 5.12) on the scratch state as a local LU does; the record carries those
 * of its last PR_SHARE_UA_CHANGES changes, stamped with the change's
 * serial, and each gateway queues those newer than its copy for the
 * nexuses on its own target ports (learned from the PR commands that
 * reach it). Carrying them, rather than comparing the old and the new
 * registrations, keeps what no comparison can tell (who released an
 * all-registrants reservation, CLEAR against PREEMPT of everyone else).
 *
 * A record that does not parse is refused, never guessed at: the start
 * fails with its line, a PERSISTENT RESERVE OUT / RESERVE / RELEASE gets
 * HARDWARE ERROR, and PERSISTENT RESERVE IN too while the copy is stale
 * (`broken`, until a good record is read); other commands keep checking
 * the last good copy.
 *
 * PREEMPT AND ABORT: the writer aborts the preempted nexuses' tasks as
 * a local LU does (its status waits for them); the record marks those
 * unit attentions `a`, and every other gateway serving such a nexus
 * aborts its tasks there through the target's abort hook (learned from
 * the PR commands it serves) when it installs the change. Those aborts
 * do not hold the writer's status: another gateway's in-flight writes of
 * a preempted nexus may still land just after it (a known gap), though
 * every command they send after the change conflicts.
 *
 * Known gaps besides:
 * - After a gateway restarts, a nexus that has sent it no PR command yet
 *   gets no PR unit attention (nor abort) through it: its target port is
 *   not known as local yet (PR_LOCAL_PORTS at most); the restart's POWER
 *   ON RESET tells it to look.
 * - An SPC-2 reservation held through a gateway that died stays until a
 *   LOGICAL UNIT RESET through any gateway releases it.
 *
 * APTPL: the cluster holds the state whether APTPL is set or not, so a
 * gateway restart keeps it; a full restart of every gateway keeps it too.
 * A gateway cannot tell a restart of all gateways from a partition that
 * hides live ones, and dropping a fencing reservation that live
 * initiators rely on is worse than keeping one through a restart (the
 * medium itself never lost power). APTPL is kept and reported; clearing
 * is PERSISTENT RESERVE OUT CLEAR by a registrant, or removing the record.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/idm.h"
#include "pr_int.h"

#define PR_RECORD_KEY "pr"
#define PR_SHARE_TRIES 16

enum pr_job_kind {
	JOB_PROUT,        /* PERSISTENT RESERVE OUT */
	JOB_SPC2,         /* RESERVE or RELEASE */
	JOB_RELEASE_SPC2, /* a reset or a lost nexus ends an SPC-2 reservation */
};

/* One change of the record, from the reactor to the store's thread and
 * back. Owned by the job functions from pr_share_exec to job_done. */
struct pr_job {
	struct idm_backing_io io;
	struct scsi_lu *lu;
	struct scsi_cmd *cmd; /* NULL for JOB_RELEASE_SPC2 */
	enum pr_job_kind kind;
	bool any_port;       /* JOB_RELEASE_SPC2: whoever holds it */
	struct pr_port port; /* ... else only this nexus */
	enum prout_result r;
	struct pr_preempted *gone;   /* PREEMPT AND ABORT with an abort hook */
	void (*released)(void *arg); /* JOB_RELEASE_SPC2: the caller waits */
	void *released_arg;
	char text[PR_RECORD_MAX];
	struct scsi_pr next; /* the record parsed, then changed */
	struct pr_ua old[PR_MAX_UAS], fresh[PR_MAX_UAS];
};

unsigned pr_share_uas_due(const struct pr_ua *rec, uint64_t seen,
                          const char (*local)[SCSI_PORT_NAME_MAX], unsigned n_local,
                          struct pr_ua *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PR_MAX_UAS; i++) {
		if (!rec[i].used || rec[i].serial <= seen) {
			continue;
		}
		for (unsigned j = 0; j < n_local; j++) {
			if (strcmp(rec[i].port.tport, local[j]) == 0) {
				out[n++] = rec[i];
				break;
			}
		}
	}
	return n;
}

void pr_share_uas_merge(const struct pr_ua *fresh, const struct pr_ua *old, uint64_t serial,
                        struct pr_ua *out)
{
	unsigned n_fresh = 0, n = 0;

	for (unsigned i = 0; i < PR_MAX_UAS; i++) {
		n_fresh += fresh[i].used;
	}
	memset(out, 0, PR_MAX_UAS * sizeof(*out));
	/* Oldest first, so a gateway queueing them in order ends with the
	 * newest for a nexus. */
	for (unsigned i = 0; i < PR_MAX_UAS && n + n_fresh < PR_MAX_UAS; i++) {
		if (old[i].used && old[i].serial < serial &&
		    serial - old[i].serial < PR_SHARE_UA_CHANGES) {
			out[n++] = old[i];
		}
	}
	for (unsigned i = 0; i < PR_MAX_UAS; i++) {
		if (fresh[i].used) {
			out[n] = fresh[i];
			out[n++].serial = serial;
		}
	}
}

/* The state of a record never written. */
static void state_empty(struct scsi_pr *st)
{
	memset(st->regs, 0, sizeof(st->regs));
	memset(st->uas, 0, sizeof(st->uas));
	st->type = PR_TYPE_NONE;
	st->holder = -1;
	st->generation = 0;
	st->aptpl = false;
	st->r2_held = false;
	st->serial = 0;
}

/* Read the record into `text` (PR_RECORD_MAX) and parse it into `st`:
 * 0, or -errno with `why` saying what went wrong. */
static int record_fetch(struct scsi_lu *lu, char *text, struct scsi_pr *st, uint64_t *version,
                        char *why, size_t whylen)
{
	struct idm_backing *b = lu->store;
	size_t len = 0;
	int rc;

	*version = 0;
	rc = b->cluster->record_read(b, PR_RECORD_KEY, text, PR_RECORD_MAX, &len, version);
	if (rc) {
		snprintf(why, whylen, "record %s: %s", PR_RECORD_KEY, strerror(-rc));
		return rc;
	}
	if (len > PR_RECORD_MAX) {
		snprintf(why, whylen, "record %s: larger than any state", PR_RECORD_KEY);
		return -EINVAL;
	}
	if (*version == 0 && len == 0) {
		state_empty(st);
		return 0;
	}
	return pr_state_parse(text, len, "record " PR_RECORD_KEY, true, st, why, whylen);
}

/* The copy may be wrong from now on: say so once per failure. */
static void record_refused(struct scsi_lu *lu, const char *why)
{
	pthread_mutex_lock(&lu->pr->lock);
	lu->pr->broken = true;
	pthread_mutex_unlock(&lu->pr->lock);
	idm_log("scsi", "warning: LUN %llu: shared persistent reservations refused: %s",
	        (unsigned long long)lu->lun, why);
}

/* Make `st` (a record just read or written) the LU's copy, unless the
 * copy is already newer; queue this gateway's unit attentions of the
 * changes it has not seen. `restart`: take its serial as seen (the
 * start, or a record removed and begun again). The LU's APTPL file, if
 * it had one, is not used once shared: the record replaces it. */
static void install(struct scsi_lu *lu, const struct scsi_pr *st, bool restart)
{
	struct scsi_pr *pr = lu->pr;
	struct pr_ua due[PR_MAX_UAS];
	void (*abort_nexus)(void *, struct scsi_cmd *, struct scsi_lu *, const char *);
	void *abort_ctx;
	uint64_t own;
	unsigned n = 0;

	pthread_mutex_lock(&pr->lock);
	if (restart || pr->broken) {
		/* After a bad record the copy's serial means nothing: any good
		 * record is newer (one mended by hand may count from 1). */
		pr->serial = st->serial;
	}
	if (st->serial >= pr->serial) {
		n = pr_share_uas_due(st->uas, pr->serial,
		                     (const char(*)[SCSI_PORT_NAME_MAX])pr->local_tport,
		                     pr->n_local, due);
		memcpy(pr->regs, st->regs, sizeof(pr->regs));
		pr->generation = st->generation;
		pr->type = st->type;
		pr->holder = st->holder;
		pr->aptpl = st->aptpl;
		pr->r2_held = st->r2_held;
		pr->r2_port = st->r2_port;
		pr->serial = st->serial;
		pr->broken = false;
		for (unsigned i = 0; i < n; i++) {
			pr_ua_queue(pr, &due[i].port, due[i].asc);
		}
	}
	pr_publish(lu);
	abort_nexus = pr->abort_nexus;
	abort_ctx = pr->abort_ctx;
	own = pr->own_serial;
	pthread_mutex_unlock(&pr->lock);
	/* PREEMPT AND ABORT through another gateway: abort the preempted
	 * nexuses' tasks here too (outside the lock, as a local one does).
	 * The writer's own aborts wait for its command (pr_out_abort). */
	for (unsigned i = 0; abort_nexus && i < n; i++) {
		if (due[i].abort && due[i].serial != own) {
			abort_nexus(abort_ctx, NULL, lu, due[i].port.iport);
		}
	}
}

/* A PREEMPT AND ABORT's preempted nexuses (their REGISTRATIONS
 * PREEMPTED) lose their tasks on every gateway; not those of the
 * issuer's own initiator port, as pr_out_abort spares them. */
static void mark_aborts(struct scsi_pr *next, const struct scsi_nexus *by)
{
	for (unsigned i = 0; i < PR_MAX_UAS; i++) {
		struct pr_ua *u = &next->uas[i];

		u->abort = u->used && u->asc == SCSI_ASC_REGISTRATIONS_PREEMPTED &&
		           strcmp(u->port.iport, by->initiator_port) != 0;
	}
}

/* Run the job's change on the record just read; true when there is
 * something to write. */
static bool job_apply(struct pr_job *job)
{
	struct scsi_pr *next = &job->next;
	bool reserve;

	switch (job->kind) {
	case JOB_PROUT:
		if (job->gone) {
			job->gone->count = 0;
		}
		job->r = pr_out_apply(next, job->cmd, job->gone);
		if (job->r == PROUT_GOOD && (job->cmd->cdb[1] & 0x1f) == PROUT_PREEMPT_ABORT) {
			mark_aborts(next, job->cmd->nexus);
		}
		return job->r == PROUT_GOOD;
	case JOB_SPC2:
		reserve =
		    job->cmd->cdb[0] == SCSI_OP_RESERVE6 || job->cmd->cdb[0] == SCSI_OP_RESERVE10;
		job->r =
		    pr_spc2_apply(next, job->cmd->nexus, reserve) ? PROUT_CONFLICT : PROUT_GOOD;
		return job->r == PROUT_GOOD;
	default:
		job->r = PROUT_GOOD;
		if (!next->r2_held ||
		    (!job->any_port && (strcmp(next->r2_port.iport, job->port.iport) != 0 ||
		                        strcmp(next->r2_port.tport, job->port.tport) != 0))) {
			return false;
		}
		next->r2_held = false;
		return true;
	}
}

/* The change this gateway writes: its watch must not abort that
 * change's tasks without the command waiting for them. */
static void own_serial_set(struct scsi_pr *pr, uint64_t serial)
{
	pthread_mutex_lock(&pr->lock);
	pr->own_serial = serial;
	pthread_mutex_unlock(&pr->lock);
}

/* On the store's thread: read, change, write until no other gateway
 * wrote in between. */
static void job_work(struct idm_backing_io *io)
{
	struct pr_job *job = io->arg;
	struct scsi_lu *lu = job->lu;
	struct idm_backing *b = lu->store;
	struct scsi_pr *next = &job->next;
	uint64_t version, written;
	char why[512];
	size_t len;
	int rc;

	for (unsigned try = 0; try < PR_SHARE_TRIES; try++) {
		rc = record_fetch(lu, job->text, next, &version, why, sizeof(why));
		if (rc) {
			record_refused(lu, why);
			job->r = PROUT_FAILED;
			return;
		}
		memcpy(job->old, next->uas, sizeof(job->old));
		memset(next->uas, 0, sizeof(next->uas));
		next->can_persist = true; /* the cluster keeps it */
		if (!job_apply(job)) {
			memcpy(next->uas, job->old, sizeof(next->uas));
			install(lu, next, false);
			return;
		}
		memcpy(job->fresh, next->uas, sizeof(job->fresh));
		next->serial++;
		pr_share_uas_merge(job->fresh, job->old, next->serial, next->uas);
		rc = pr_state_format(next, true, job->text, PR_RECORD_MAX, &len);
		if (rc == 0) {
			own_serial_set(lu->pr, next->serial);
			rc = b->cluster->record_write(b, PR_RECORD_KEY, job->text, len, version,
			                              &written);
			if (rc == 0) {
				install(lu, next, false); /* if the watch has not yet */
			}
			own_serial_set(lu->pr, 0);
		}
		if (rc == -ECANCELED) {
			continue; /* another gateway wrote first */
		}
		if (rc) {
			snprintf(why, sizeof(why), "writing record %s: %s", PR_RECORD_KEY,
			         strerror(-rc));
			record_refused(lu, why);
			job->r = PROUT_FAILED;
		}
		return;
	}
	job->r = PROUT_BUSY; /* nothing written: tell the initiator to retry */
}

/* On the command's reactor (a release's caller's, if any). */
static void job_done(struct idm_backing_io *io, int status)
{
	struct pr_job *job = io->arg;
	struct scsi_cmd *cmd = job->cmd;

	(void)status;
	if (cmd) {
		if (job->r == PROUT_GOOD) {
			pr_out_abort(cmd, job->gone);
		}
		pr_out_status(cmd, job->r);
		scsi_cmd_complete(cmd);
	}
	if (job->released) {
		job->released(job->released_arg);
	}
	free(job->gone);
	free(job);
}

static struct pr_job *job_new(struct scsi_lu *lu, struct scsi_cmd *cmd, enum pr_job_kind kind)
{
	struct pr_job *job = malloc(sizeof(*job));

	if (!job) {
		return NULL;
	}
	memset(job, 0, offsetof(struct pr_job, text));
	job->lu = lu;
	job->cmd = cmd;
	job->kind = kind;
	job->io.arg = job;
	job->io.done = job_done;
	return job;
}

int pr_share_check(struct scsi_pr *pr, struct scsi_cmd *cmd)
{
	const char *tport = cmd->nexus ? cmd->nexus->target_port : NULL;

	if (cmd->luns && cmd->luns->abort_nexus) {
		pr->abort_nexus = cmd->luns->abort_nexus;
		pr->abort_ctx = cmd->luns->abort_ctx;
	}
	if (pr->broken && cmd->cdb[0] == SCSI_OP_PR_IN) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		return 1;
	}
	for (unsigned i = 0; tport && i < pr->n_local; i++) {
		if (strcmp(pr->local_tport[i], tport) == 0) {
			return 0;
		}
	}
	if (tport && pr->n_local < PR_LOCAL_PORTS) {
		snprintf(pr->local_tport[pr->n_local++], SCSI_PORT_NAME_MAX, "%s", tport);
	}
	return 0;
}

void pr_share_exec(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	struct idm_backing *b = lu->store;
	bool prout = cmd->cdb[0] == SCSI_OP_PR_OUT;
	struct pr_job *job;

	pthread_mutex_lock(&lu->pr->lock);
	(void)pr_share_check(lu->pr, cmd);
	pthread_mutex_unlock(&lu->pr->lock);
	job = job_new(lu, cmd, prout ? JOB_PROUT : JOB_SPC2);
	if (job && prout) {
		job->gone = pr_out_gone_new(cmd);
	}
	if (!job) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		scsi_cmd_complete(cmd);
		return;
	}
	b->ops->offload(b, &job->io, job_work, cmd->reactor);
}

bool pr_share_release_spc2_then(struct scsi_lu *lu, const struct scsi_nexus *n,
                                void (*released)(void *arg), void *arg)
{
	struct scsi_pr *pr = lu->pr;
	struct pr_job *job;
	bool held;

	pthread_mutex_lock(&pr->lock);
	held = pr->r2_held && (!n || pr_port_is(&pr->r2_port, n));
	pthread_mutex_unlock(&pr->lock);
	if (!held) {
		return false;
	}
	job = job_new(lu, NULL, JOB_RELEASE_SPC2);
	if (!job) {
		idm_log("scsi", "warning: LUN %llu: no memory to release an SPC-2 reservation",
		        (unsigned long long)lu->lun);
		return false;
	}
	job->any_port = n == NULL;
	if (n) {
		pr_port_of(&job->port, n);
	}
	job->released = released;
	job->released_arg = arg;
	/* Done back on the calling reactor: without one (a control thread,
	 * shutdown) a store may run the job right here, which is allowed
	 * off the reactors. */
	lu->store->ops->offload(lu->store, &job->io, job_work, idm_reactor_self());
	return released != NULL;
}

void pr_share_release_spc2(struct scsi_lu *lu, const struct scsi_nexus *n)
{
	pr_share_release_spc2_then(lu, n, NULL, NULL);
}

/* Another gateway (or this one) wrote the record: copy it. */
static void record_changed(void *arg)
{
	struct scsi_lu *lu = arg;
	struct scsi_pr *st = malloc(sizeof(*st));
	char *text = malloc(PR_RECORD_MAX);
	uint64_t version;
	char why[512];
	bool shared;

	pthread_mutex_lock(&lu->pr->lock);
	shared = lu->pr->shared;
	pthread_mutex_unlock(&lu->pr->lock);
	if (!shared) {
		/* Before scsi_lu_share_pr's first read, or after it failed. */
	} else if (!st || !text) {
		snprintf(why, sizeof(why), "no memory to read record %s", PR_RECORD_KEY);
		record_refused(lu, why);
	} else if (record_fetch(lu, text, st, &version, why, sizeof(why)) != 0) {
		record_refused(lu, why);
	} else {
		install(lu, st, version == 0);
	}
	free(text);
	free(st);
}

int scsi_lu_share_pr(struct scsi_lu *lu, char *why, size_t whylen)
{
	struct idm_backing *b = lu->store;
	const struct idm_backing_cluster_ops *c = b->cluster;
	struct scsi_pr *pr = lu->pr;
	struct scsi_pr *st = NULL;
	char *text = NULL;
	uint64_t version;
	char local_why[512];
	int rc;

	if (!c || !c->record_read || !c->record_write || !c->record_watch || !b->ops->offload) {
		snprintf(why, whylen, "LUN %llu: its store is not shared by gateways",
		         (unsigned long long)lu->lun);
		return -EOPNOTSUPP;
	}
	st = malloc(sizeof(*st));
	text = malloc(PR_RECORD_MAX);
	if (!st || !text) {
		snprintf(why, whylen, "LUN %llu: no memory", (unsigned long long)lu->lun);
		rc = -ENOMEM;
		goto out;
	}
	/* Watch before the first read: no change falls in between. */
	rc = c->record_watch(b, PR_RECORD_KEY, record_changed, lu);
	if (rc) {
		snprintf(why, whylen, "LUN %llu: watching record %s: %s",
		         (unsigned long long)lu->lun, PR_RECORD_KEY, strerror(-rc));
		goto out;
	}
	rc = record_fetch(lu, text, st, &version, local_why, sizeof(local_why));
	if (rc) {
		snprintf(why, whylen, "LUN %llu: %s", (unsigned long long)lu->lun, local_why);
		goto out;
	}
	pthread_mutex_lock(&pr->lock);
	pr->shared = true;
	pr->can_persist = true; /* the cluster keeps it: no state file */
	pr->path[0] = '\0';
	pthread_mutex_unlock(&pr->lock);
	install(lu, st, true);
out:
	free(text);
	free(st);
	return rc;
}
