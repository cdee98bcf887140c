/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iSCSI target: portals, targets and their LUNs, sessions, login,
 * discovery, SCSI command flow, task management. idmd builds a
 * struct idm_target_conf (from its command line or a JSON file) and
 * runs one idm_server.
 */
#ifndef IDM_TARGET_H
#define IDM_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/auth.h"
#include "idm/keys.h"

#define IDM_MAX_PORTALS 16
#define IDM_MAX_TARGETS 64
#define IDM_MAX_LUNS_PER_TARGET 64
#define IDM_MAX_ACL 32          /* initiator names per target ACL */

struct idm_portal_conf {
	char addr[64];      /* "127.0.0.1", "::1", "0.0.0.0", "::" */
	uint16_t port;      /* 3260 by default */
	uint16_t tpgt;      /* portal group tag, 1 by default */
	uint8_t transports; /* IDM_OFFER_* bits; 0 = TCP, and iSER where RDMA is */
};

struct idm_lun_conf {
	uint32_t lun;
	char spec[512];     /* backing store spec: "mem:1G", "file:/p:1G", "null:1T" */
	uint32_t block_size; /* 512 by default */
	bool read_only;      /* write-protected: reads only (DATA PROTECT) */
	/* rbd stores: the cluster's config file, client id, keyring ("" for
	 * the rbd CLI's defaults). */
	char ceph_conf[256];
	char ceph_id[64];
	char ceph_keyring[256];
	/* rbd: a cluster that does not answer at start leaves the LUN
	 * offline (NOT READY) until it does, instead of failing idmd. */
	bool start_offline;
	/* Cache and identity (lun_ident.c); unset ones keep the defaults:
	 * WCE as the store says, vendor "IDM", product "idm disk", serial
	 * and NAA derived from the target name and LUN (scsi_lu_ident_derive). */
	bool write_cache_set;
	bool write_cache;   /* WCE; true on a write-through store is ignored */
	char vendor[9];     /* T10 vendor id: 1-8 printable ASCII, or "" */
	char product[17];   /* 1-16 printable ASCII, or "" */
	char serial[33];    /* VPD 0x80: 1-32 printable ASCII, no space, or "" */
	bool has_naa;
	uint8_t naa[16];    /* NAA 6 (IEEE Registered Extended) for VPD 0x83 */
};

/*
 * A LUN's identity options, "vendor", "product", "serial" or "naa" (32
 * hex digits starting with 6), checked and set from their text: 0,
 * -EINVAL with one line in `why` (never a silently cut value), or
 * -ENOENT when `key` is none of them. Config file and lun.add share it.
 */
int idm_lun_ident_set(struct idm_lun_conf *l, const char *key, const char *value, char *why,
                      size_t whylen);
/* The serial and NAA the LUN has: the set ones, else the derived ones. */
int idm_lun_ident_effective(const struct idm_lun_conf *l, const char *target_iqn,
                            char serial[33], uint8_t naa[16]);
struct scsi_lu;
/* Give a new LU what `l` sets of cache and identity, `serial` and `naa`
 * being idm_lun_ident_effective's. 0, or 1 when write_cache=true was
 * ignored because the store is write-through (WCE stays 0). */
int idm_lun_conf_apply(struct scsi_lu *lu, const struct idm_lun_conf *l, const char serial[33],
                       const uint8_t naa[16]);
/* The NAA as the 32 lowercase hex digits of "naa". */
void idm_naa_hex(const uint8_t naa[16], char out[33]);

struct idm_target_conf {
	char iqn[IDM_NAME_MAX];
	char alias[256];
	struct idm_lun_conf luns[IDM_MAX_LUNS_PER_TARGET];
	unsigned nluns;
	/* Initiators allowed to log in; none listed = any initiator. */
	char acl[IDM_MAX_ACL][IDM_NAME_MAX];
	unsigned nacl;
	/* An ACL entry's own CHAP account, used instead of `chap` for that
	 * initiator (when acl_chap[i].has). */
	struct idm_acl_chap {
		bool has;
		struct idm_chap_account chap;
	} acl_chap[IDM_MAX_ACL];
	/* An ACL entry's LUN map (when acl_map[i].has): that initiator sees
	 * only these LUNs, its LUN e[k].lun being the target's e[k].target_lun;
	 * without one it sees every LUN under its own number. */
	struct idm_lun_map {
		bool has;
		unsigned n;
		struct idm_lun_map_entry {
			uint8_t lun, target_lun;
		} e[IDM_MAX_LUNS_PER_TARGET];
	} acl_map[IDM_MAX_ACL];
	/* CHAP required when has_chap; mutual when chap.target_secret_len. */
	struct idm_chap_account chap;
	bool has_chap;
	/* The transports it is offered on (IDM_OFFER_*); 0 = every one. */
	uint8_t offered_on;
};

enum { IDM_OFFER_TCP = 1u << 0, IDM_OFFER_ISER = 1u << 1 };

/* Discovery sessions: their own CHAP account, and what SendTargets shows. */
struct idm_discovery_conf {
	struct idm_chap_account chap;
	bool has_chap;
	bool list_all;      /* "acl_filter": false -- list targets an ACL refuses too */
};

/* Target-side negotiation limits and timers. */
struct idm_target_tunables {
	uint32_t max_recv_dsl;        /* we receive; default 262144 */
	uint32_t max_burst_length;    /* default 1048576 */
	uint32_t first_burst_length;  /* default 262144 */
	uint32_t max_outstanding_r2t; /* default 16 */
	bool initial_r2t;             /* default false (we accept unsolicited) */
	bool immediate_data;          /* default true */
	uint32_t queue_depth;         /* CmdSN window per session; default 128 */
	uint32_t nop_interval_s;      /* NOP-In keepalive; 0 = off; default 30 */
	uint32_t nop_timeout_s;       /* no answer: drop the connection; default 15 */
	uint32_t login_timeout_s;     /* default 15 */
	uint32_t shutdown_grace_s;    /* on stop, initiators are asked to log out and
				       * get this long; 0 = close at once; default 5 */
	uint32_t iser_copy_threshold; /* iSER: RDMA transfers below this many bytes
				       * go through pre-registered buffers (a copy),
				       * larger ones register the task's memory;
				       * 1 = never copy; default 131072 (the most) */
	uint32_t tx_queue_max_bytes;  /* a connection's unsent bytes at which its
				       * input stops until half have left;
				       * default 48 MiB (idm.h: IDM_TX_*) */
	uint32_t tx_queue_max_pdus;   /* the same in PDUs; default 8192 */
	uint32_t tx_stall_timeout_s;  /* data waiting and nothing read by the peer
				       * for this long: drop it; default 30 */
	/* Limits (README "Limits"): over one, a connection is closed at
	 * accept, a login refused with 0x0302 (out of resources). */
	uint32_t max_connections;             /* in total; default 4096 */
	uint32_t max_connections_per_portal;  /* default 4096 */
	uint32_t max_connections_per_address; /* per initiator IP; default 1024 */
	uint32_t max_prelogin_connections;    /* login not complete; default 256 */
	uint32_t prelogin_timeout_s;          /* accept to first Login PDU; default 5 */
	uint32_t max_sessions_per_target;     /* default 1024 */
	uint32_t max_sessions_per_initiator;  /* per InitiatorName; default 1024 */
	uint32_t max_discovery_sessions;      /* default 64 */
	uint32_t dataout_timeout_s;           /* a WRITE whose data stops arriving this long:
	                                       * drop the connection; default 30 */
	uint32_t text_timeout_s;              /* a multi-PDU text exchange stalled this long:
	                                       * drop the connection; default 15 */
};

/*
 * A gateway group (gateway.c): several idmd, each one gateway, export the
 * same rbd images under the same target names; each image is one LU with
 * one ALUA target port group per gateway, the gateway holding the image's
 * exclusive lock active/optimized.
 */
#define IDM_GATEWAYS_MAX 16
struct idm_gateway_conf {
	uint16_t id;      /* this gateway: its target port group, relative port
	                   * and every portal's tpgt; 0 = not in a group */
	uint16_t group[IDM_GATEWAYS_MAX]; /* every gateway's id, this one too */
	unsigned ngroup;
	bool standby;     /* the gateways not holding the lock report standby
	                   * (explicit ALUA) instead of active/non-optimized */
};

/* The group lists this gateway, at most IDM_GATEWAYS_MAX: 0, or -EINVAL
 * with one line in `err`. */
int idm_gateway_conf_check(const struct idm_gateway_conf *g, char *err, size_t errlen);
/* A portal's tpgt: not given (0) is 1, or the gateway's id; in a gateway
 * group any other is refused. 0 or -EINVAL with one line in `err`. */
int idm_portal_tpgt_fix(struct idm_portal_conf *p, const struct idm_gateway_conf *g, char *err,
                        size_t errlen);

struct idm_target_conf_all {
	struct idm_portal_conf portals[IDM_MAX_PORTALS];
	unsigned nportals;
	struct idm_target_conf targets[IDM_MAX_TARGETS];
	unsigned ntargets;
	unsigned nreactors;           /* 0 = one per online CPU */
	char state_dir[256];          /* persistent LU state (APTPL reservations);
				       * default /var/lib/idm */
	struct idm_target_tunables tun;
	struct idm_discovery_conf discovery;
	/* CHAP_A values accepted, preferred first; none = every one we know. */
	uint8_t chap_algs[IDM_CHAP_ALGS_MAX];
	unsigned nchap_algs;
	/* operations (config.c conf_ops_key) */
	char control_socket[108];     /* JSON-RPC socket; default IDM_CONTROL_SOCKET */
	char log_level[8];            /* "error", "warn", "info" (default), "debug" */
	char metrics_listen[80];      /* "ADDR:PORT" serving /metrics, or "" (none) */
	struct idm_gateway_conf gateway;
};

#define IDM_CONTROL_SOCKET "/run/idm/idmd.sock"

/* Fill with defaults (no portals, no targets). */
void idm_target_conf_init(struct idm_target_conf_all *c);

/* Parse a JSON config file into `c` (src/target/config.c). Returns 0 or
 * -errno with one clear line in `err`. */
int idm_target_conf_load(const char *path, struct idm_target_conf_all *c, char *err,
			 size_t errlen);

struct idm_server;

/*
 * Open every store, start the reactors, bind every portal. Returns 0 or
 * -errno with one clear line in `err` (unusable portal, store, ...), in
 * which case nothing is left running.
 */
int idm_server_start(const struct idm_target_conf_all *conf, struct idm_server **out,
		     char *err, size_t errlen);

/* Close every session (logging out connections), flush every store, stop
 * the reactors and free everything. Safe to call from the main thread. */
void idm_server_stop(struct idm_server *srv);

/*
 * The control socket (src/target/ctl.c): JSON-RPC 2.0 on a Unix socket,
 * mode 0600. idm_ctl_open claims `path` before the server starts: it fails
 * (-EADDRINUSE) when a running idmd holds it and removes a stale one. With
 * a NULL path there is no socket; reload and /metrics still work. idm_ctl_serve
 * starts the control thread for `srv`; idm_ctl_close stops it and removes
 * the socket (before idm_server_stop).
 */
struct idm_ctl;
struct idm_ctl_opts {
	const char *version;     /* idmd's, for `idmadm version` */
	const char *config_path; /* the --config file (config save's default), or NULL */
	const char *metrics_listen; /* "ADDR:PORT" for GET /metrics, or NULL/"" */
};
int idm_ctl_open(const char *path, struct idm_ctl **out, char *err, size_t errlen);
int idm_ctl_serve(struct idm_ctl *ctl, struct idm_server *srv, const struct idm_ctl_opts *o,
		  char *err, size_t errlen);
/* SIGHUP: apply `next` (a config file read again) as the control socket's
 * live changes do, between two requests; 0 or -errno with one line. */
int idm_ctl_reload(struct idm_ctl *ctl, const struct idm_target_conf_all *next, char *err,
		   size_t errlen);
void idm_ctl_close(struct idm_ctl *ctl);

#endif
