/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small fakes of the core, key engine, reactor and SCSI layer, so the
 * target's PDU handling (src/target) runs in a unit test: PDUs sent are
 * recorded, tasks live in a little table, store I/O completes when the
 * test says so. Only what src/target calls is here.
 */
#ifndef TARGET_FAKES_H
#define TARGET_FAKES_H

#include <stdint.h>

#include "target/target_int.h"

#define FAKE_MAX_SENT 32
#define FAKE_MAX_TASKS 16

struct fake_sent {
	uint8_t bhs[IDM_BHS_LEN];
	uint8_t data[8192];
	uint32_t data_len;
	/* Data-In / SCSI Response by the task helpers */
	bool is_task;
	uint32_t itt;
	uint32_t tx_len;
	struct idm_scsi_status st;
};

struct fake_state {
	struct fake_sent sent[FAKE_MAX_SENT];
	unsigned nsent;
	uint8_t reject_reason;
	unsigned nrejects;
	enum idm_conn_event events[32];
	unsigned nevents;
	unsigned enable_datamover;
	struct idm_task *tasks[FAKE_MAX_TASKS];
	uint32_t recv_len;            /* last idm_task_recv_data */
	struct idm_task *recv_task;
	uint32_t login_timeout_s;     /* last idm_conn_set_login_timeout */
	int bufs_out;                 /* idm_buf_get minus idm_buf_put */
	bool exec_async;              /* hold scsi_cmd_exec completions */
	bool hold_tx;                 /* hold tx_done of Data-In/status */
	struct idm_task *tx_pending;
	struct scsi_cmd *exec_pending;
	struct scsi_cmd *exec_more[4];  /* held behind exec_pending, oldest first */
	unsigned nexec_more;
	uint32_t written_blocks;      /* last WRITE's nblocks at exec */
	unsigned ua_raised;
	uint64_t now_ms;
	struct idm_timer *last_armed; /* the timer idm_timer_arm saw last */
	char log[8192];               /* idm_log lines, newline separated */
};

extern struct fake_state fk;

void fake_reset(void);
/* A server with `n` targets (their IQNs are the caller's), one portal
 * (TPGT 1) with `svc` on it, and small tunables; fake_server_fini undoes it. */
void fake_server_init(struct idm_server *srv, struct tgt_target *targets, unsigned n,
		      struct idm_svc *svc);
void fake_server_fini(struct idm_server *srv);
/* A connection from 127.0.0.1:3260 over `tp`, accepted on `svc`; and its end. */
struct idm_conn *fake_conn_new(struct idm_svc *svc, const struct idm_transport *tp);
void fake_conn_gone(struct idm_conn *c);
unsigned fake_events(enum idm_conn_event ev);
void fake_tasks_free(void);
/* Complete the store I/O held by exec_async. */
void fake_exec_finish(void);
/* Complete the newest store I/O held behind exec_pending. */
void fake_exec_finish_last(void);
/* Complete the transmit held by hold_tx. */
void fake_tx_finish(void);

#endif
