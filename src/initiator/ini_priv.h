/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private parts of the initiator: the context and the pure bookkeeping
 * helpers (sequence numbers, tags, Data-Out planning) the unit tests use.
 */
#ifndef IDM_INI_PRIV_H
#define IDM_INI_PRIV_H

#include "idm/initiator.h"

/* ---- CmdSN window and ExpStatSN (RFC 7143 sections 4.2.2.1, 4.2.2.2) ---- */

struct ini_sn {
	uint32_t cmd_sn;     /* next CmdSN to use */
	uint32_t exp_cmd_sn; /* from the target */
	uint32_t max_cmd_sn;
	uint32_t exp_stat_sn; /* next StatSN we expect */
};

void ini_sn_init(struct ini_sn *sn, uint32_t first_cmd_sn);
/* Take ExpCmdSN / MaxCmdSN from a target PDU; stale or bogus ones ignored. */
void ini_sn_window(struct ini_sn *sn, uint32_t exp, uint32_t max);
/* May a non-immediate command be sent now? */
bool ini_sn_can_send(const struct ini_sn *sn);
/* Note a StatSN from a response that consumes one. */
void ini_sn_stat(struct ini_sn *sn, uint32_t stat_sn);

/* ---- tags ---- */

/* SCSI commands use ITTs below this bit, other PDUs above it. */
#define INI_ITT_MGMT 0x80000000u

/* Next ITT from a rolling counter, never the reserved tag. */
uint32_t ini_itt_next(uint32_t *counter, bool mgmt);

/* ---- Data-Out planning ---- */

/* One sequence of Data-Out PDUs: [off, end), PDUs of at most max_dsl. */
struct ini_burst {
	uint32_t off;
	uint32_t end;
	uint32_t data_sn;
	uint32_t ttt;
};

struct ini_dataout {
	uint32_t off;
	uint32_t len;
	uint32_t data_sn;
	bool final;
};

void ini_burst_init(struct ini_burst *b, uint32_t off, uint32_t len, uint32_t ttt);
/* The next PDU of the burst; false when the burst is done. */
bool ini_burst_next(struct ini_burst *b, uint32_t max_dsl, struct ini_dataout *out);

/* How much of a write travels unsolicited (RFC 7143 section 13.13). */
struct ini_unsol {
	uint32_t immediate; /* in the SCSI Command PDU */
	uint32_t end;       /* unsolicited Data-Out covers [immediate, end) */
};
void ini_unsol_plan(const struct idm_params *p, uint32_t len, struct ini_unsol *u);

/* ---- the context ---- */

enum ini_phase { INI_IDLE, INI_CONNECTING, INI_LOGIN, INI_FFP, INI_LOGOUT, INI_CLOSED };

struct idm_ini {
	struct idm_reactor *r;
	struct idm_conn *c;
	enum idm_ini_transport tp_choice;
	struct idm_ini_xport xport; /* the core's choice: transport of s->c */
	enum ini_phase phase;
	bool verbose;
	bool xpt_was_up; /* the current connection got as far as the login */
	bool want_hdigest;
	bool want_ddigest;
	uint32_t qd;
	char err[256];
	char iname[IDM_NAME_MAX];
	struct idm_url url;
	/* login */
	struct idm_nego nego;
	struct idm_params local;
	struct idm_textbuf text;
	uint8_t csg; /* wire stage of the current login PDU */
	uint8_t isid[6];
	uint16_t tsih;
	struct idm_nego_hook auth_hook;
	bool has_auth_hook;
	bool (*auth_ready)(void *arg);
	char auth_methods[16]; /* AuthMethod offer, as struct idm_params keeps it */
	struct idm_chap *chap; /* CHAP from the URL's user (session.c), or NULL */
	uint8_t chap_algs[8];  /* CHAP_A offered; none: the library's order */
	int nchap_algs;
	struct ini_sn sn;
	uint32_t itt_counter;
	/* the one login / logout / text exchange in progress */
	idm_ini_cb op_cb;
	void *op_arg;
	uint32_t op_itt;
	char *rx_text; /* reassembled C-bit text */
	size_t rx_text_len;
	size_t rx_text_cap;
	struct idm_ini_targets *targets;
	/* task management */
	idm_ini_cb tmf_cb;
	void *tmf_arg;
	uint32_t tmf_itt;
	uint8_t tmf_function;
	uint64_t tmf_lun;
	struct idm_ini_cmd *tmf_cmd;
	/* SCSI commands */
	struct idm_ini_cmd *wait_head, *wait_tail; /* CmdSN window closed */
	struct idm_ini_cmd *aborted;               /* completed after cleanup */
	struct idm_deferred abort_flush;
	uint32_t inflight;
	struct idm_conn_stats stats; /* kept after the conn goes */
};

/* session.c */
void ini_fail(struct idm_ini *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ini_op_finish(struct idm_ini *s, int status);
/* Pick a transport, connect and start the login; cb when logged in. */
int ini_connect(struct idm_ini *s, const struct sockaddr *peer, socklen_t len, idm_ini_cb cb,
                void *arg);
/*
 * After a failed login: with --transport auto, when an RDMA transport was
 * picked but its connection never came up, note it (logged) so the next
 * attempt takes the next transport. True when a retry makes sense.
 */
bool ini_fall_back_from_rdma(struct idm_ini *s);

/* scsi.c: PDUs for commands, and connection teardown */
void ini_scsi_pump(struct idm_ini *s);
void ini_rx_scsi_rsp(struct idm_ini *s, struct idm_pdu *pdu);
void ini_rx_data_in(struct idm_ini *s, struct idm_pdu *pdu);
void ini_rx_r2t(struct idm_ini *s, struct idm_pdu *pdu);
void ini_rx_tmf_rsp(struct idm_ini *s, struct idm_pdu *pdu);
void ini_task_abort(struct idm_task *t);
void ini_fail_waiting(struct idm_ini *s, int err);

#endif
