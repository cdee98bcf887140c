/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The initiator half of the datamover (after libiscsi's shape): an opaque
 * session context with its own error string, an asynchronous core driven
 * by a reactor, and thin synchronous wrappers that poll that reactor.
 *
 * One context is one session of one connection. Everything runs on the
 * thread that created the context (it owns a private reactor).
 */
#ifndef IDM_INITIATOR_H
#define IDM_INITIATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "idm/idm.h"
#include "idm/keys.h"

/* ---- URLs: iscsi://[user[%password]@]host[:port]/iqn/lun, iser://... ---- */

struct idm_url {
	bool iser; /* iser:// */
	char user[256];
	char password[256];
	/* "?target_user=..&target_password=..": mutual CHAP (libiscsi's keys) */
	char target_user[256];
	char target_password[256];
	char host[256];            /* without the IPv6 brackets */
	uint16_t port;             /* 3260 when absent */
	char target[IDM_NAME_MAX]; /* empty for a discovery URL */
	uint64_t lun;
	bool has_lun;
};

/* Parse `s`. Returns 0 or -EINVAL with the reason in err. */
int idm_url_parse(const char *s, struct idm_url *u, char *err, size_t errlen);

/* ---- context ---- */

struct idm_ini;

enum idm_ini_transport { IDM_INI_TP_TCP, IDM_INI_TP_ISER, IDM_INI_TP_AUTO };

/* A context for InitiatorName `iname` (NULL: a default IQN). */
struct idm_ini *idm_ini_create(const char *iname);
void idm_ini_destroy(struct idm_ini *s);
/* The last error of this context, human readable. */
const char *idm_ini_error(const struct idm_ini *s);
void idm_ini_set_transport(struct idm_ini *s, enum idm_ini_transport tp);
/* Command table size (queue depth); before connecting. Default 64. */
int idm_ini_set_queue_depth(struct idm_ini *s, uint32_t qd);
/*
 * Authentication by another module than the built-in CHAP (a URL with a
 * user logs in with CHAP by itself, see idm_ini_set_chap_algorithms): `hook`
 * sees every key the target sends and may answer it; `auth_methods` is
 * the AuthMethod offer ("CHAP,None"); `ready(hook->arg)` says when the
 * security stage may end (the Login Request then asks to transit to the
 * operational stage). Unset: AuthMethod=None, or CHAP when the URL
 * names a user.
 */
void idm_ini_set_auth_hook(struct idm_ini *s, const struct idm_nego_hook *hook,
                           const char *auth_methods, bool (*ready)(void *arg));
/* CHAP: the URL's user and secret (and target_user/target_password for
 * mutual CHAP) log in with CHAP; these are the CHAP_A values offered,
 * preferred first (default: SHA3-256, SHA-256, SHA-1, MD5). 0 or -EINVAL. */
int idm_ini_set_chap_algorithms(struct idm_ini *s, const uint8_t *algs, int n);
/* Offer CRC32C header / data digests (the target may still choose None). */
void idm_ini_set_digests(struct idm_ini *s, bool header, bool data);
/* Log a line for each notable event (transport fallback, ...). */
void idm_ini_set_verbose(struct idm_ini *s, bool on);

/* The negotiated parameters and the connection's counters (valid while
 * connected; the counters survive the logout). */
const struct idm_params *idm_ini_params(const struct idm_ini *s);
const struct idm_conn_stats *idm_ini_stats(const struct idm_ini *s);
const char *idm_ini_transport_name(const struct idm_ini *s);
struct idm_reactor *idm_ini_reactor(struct idm_ini *s);

/* ---- asynchronous core ---- */

typedef void (*idm_ini_cb)(struct idm_ini *s, int status, void *arg);

/* Connect to `url`'s portal and log in (discovery session when the URL
 * names no target). cb gets 0 or -errno (reason in idm_ini_error). */
int idm_ini_login_async(struct idm_ini *s, const struct idm_url *url, idm_ini_cb cb, void *arg);
int idm_ini_logout_async(struct idm_ini *s, idm_ini_cb cb, void *arg);

/* A target found by SendTargets. */
#define IDM_INI_MAX_ADDRS 8
struct idm_ini_target {
	char name[IDM_NAME_MAX];
	char addr[IDM_INI_MAX_ADDRS][128]; /* "host:port,tpgt" */
	unsigned naddr;
};
struct idm_ini_targets {
	struct idm_ini_target *t;
	unsigned n;
	unsigned cap;
};
void idm_ini_targets_free(struct idm_ini_targets *l);
/* Parse a SendTargets response ("TargetName=..\0TargetAddress=..\0"). */
int idm_ini_sendtargets_parse(const char *text, size_t len, struct idm_ini_targets *out);

/* SendTargets=All on a discovery session; `out` is filled before cb. */
int idm_ini_discover_async(struct idm_ini *s, struct idm_ini_targets *out, idm_ini_cb cb,
                           void *arg);

enum idm_ini_dir { IDM_INI_NONE, IDM_INI_READ, IDM_INI_WRITE };

/*
 * One SCSI command. The caller owns it (no allocation per I/O) and keeps
 * it and its buffer until `done` runs. Data-In lands directly at its
 * offset in `buf`; Data-Out is sent from `buf` without a copy.
 */
struct idm_ini_cmd {
	/* in */
	uint8_t cdb[16];
	uint8_t cdb_len;
	uint64_t lun;
	enum idm_ini_dir dir;
	uint8_t *buf;
	uint32_t len;
	void (*done)(struct idm_ini_cmd *cmd, int err); /* err: transport/protocol */
	void *arg;
	/* out */
	uint8_t status;   /* SAM status */
	uint8_t response; /* iSCSI response */
	uint8_t sense[96];
	uint16_t sense_len;
	uint32_t residual;
	bool underflow;
	bool overflow;
	uint32_t received; /* Data-In bytes placed */
	/* private */
	struct idm_ini_cmd *next;
	struct idm_task *task;
	uint32_t itt;
	uint32_t cmdsn;
};

/*
 * Memory for command buffers, page aligned. Over iSER it is registered
 * with the device once here, so commands using it need no registration
 * per I/O (other memory is registered for each command). Call when
 * logged in; free with idm_ini_buf_free (before or after the logout).
 * NULL when out of memory.
 */
void *idm_ini_buf_alloc(struct idm_ini *s, size_t len);
void idm_ini_buf_free(struct idm_ini *s, void *buf, size_t len);

/* Queue a command: sent now, or when the CmdSN window opens. */
int idm_ini_scsi_async(struct idm_ini *s, struct idm_ini_cmd *cmd);
/* Task management: ABORT TASK for `cmd` or LOGICAL UNIT RESET (cmd NULL). */
int idm_ini_tmf_async(struct idm_ini *s, uint8_t function, uint64_t lun, struct idm_ini_cmd *cmd,
                      idm_ini_cb cb, void *arg);
/* Commands in flight or waiting for the window. */
uint32_t idm_ini_inflight(const struct idm_ini *s);
/* Run the reactor once (up to timeout_ms). Returns <0 when the session died. */
int idm_ini_service(struct idm_ini *s, int timeout_ms);

/* ---- synchronous wrappers (return 0 or -errno; reason in idm_ini_error) ---- */

int idm_ini_login(struct idm_ini *s, const struct idm_url *url);
int idm_ini_logout(struct idm_ini *s);
int idm_ini_discover(struct idm_ini *s, struct idm_ini_targets *out);
/* Run one command to completion; -EIO with the status set when the
 * SCSI status is not GOOD. */
int idm_ini_scsi(struct idm_ini *s, struct idm_ini_cmd *cmd);
int idm_ini_tmf(struct idm_ini *s, uint8_t function, uint64_t lun, struct idm_ini_cmd *cmd);

#endif
