/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idmio: an iSCSI initiator command line on the idm datamover.
 *
 *   idmio discover URL
 *   idmio login URL [--idle SECONDS]
 *   idmio inquiry URL
 *   idmio readcap URL
 *   idmio read URL --lba N --count N [--out FILE]
 *   idmio write URL --lba N --count N (--in FILE | --pattern X)
 *   idmio copy FILE URL | copy URL FILE
 *   idmio bench URL --rw randread|randwrite|read|write --bs 4k --qd 32 --time 10
 *   idmio reset URL   (ABORT TASK on a READ in flight, then LOGICAL UNIT RESET)
 *   idmio abort URL [--lba N] --bs 512k --qd 8   (ABORT TASK, then LOGICAL UNIT
 *         RESET, each while QD WRITEs of BS bytes are in flight; the medium must
 *         hold no part of an aborted WRITE beside the old data, and not change
 *         after the TMF response)
 *
 * Common options: --transport tcp|iser|auto, --initiator-name IQN,
 * --digest (offer CRC32C header and data digests).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "idm/auth.h"
#include "idm/initiator.h"

#define CHUNK_BYTES (1024u * 1024)
/* Over iSER: what targets commonly take in one command (Linux ib_iser's
 * default transfer, tgt's RDMA buffer); a larger one is refused. */
#define CHUNK_BYTES_ISER (512u * 1024)
#define HIST_US 1000000u /* latency histogram: 1 us buckets up to 1 s */

struct opts {
	const char *cmd;
	const char *args[2];
	int nargs;
	enum idm_ini_transport tp;
	const char *iname;
	uint64_t lba;
	uint64_t count;
	bool have_lba, have_count;
	const char *out, *in;
	int pattern; /* -1: none */
	const char *rw;
	uint32_t bs;
	uint32_t qd;
	uint32_t seconds;
	uint32_t idle; /* login: stay logged in this long (answers NOP-In pings) */
	bool digest;   /* offer CRC32C header and data digests */
	uint8_t chap_algs[IDM_CHAP_ALGS_MAX]; /* --chap-alg, preferred first */
	int nchap_algs;
};

struct lun {
	struct idm_ini *s;
	struct idm_url url;
	uint64_t blocks;
	uint32_t block_size;
};

static void usage(void)
{
	fprintf(
	    stderr,
	        "usage: idmio [--transport tcp|iser|auto] [--initiator-name IQN] [--digest] "
	        "COMMAND ...\n"
	        "  discover URL\n  login URL\n  inquiry URL\n  readcap URL\n"
	        "  read URL --lba N --count N [--out FILE]\n"
	        "  write URL --lba N --count N (--in FILE | --pattern X)\n"
	        "  copy FILE URL | copy URL FILE\n"
	        "  bench URL --rw randread|randwrite|read|write --bs 4k --qd 32 --time 10\n"
	        "  reset URL (ABORT TASK on a READ in flight, then LOGICAL UNIT RESET)\n"
	        "  abort URL [--lba N] --bs 512k --qd 8 (ABORT TASK, LOGICAL UNIT RESET\n"
	        "    during QD WRITEs of BS bytes; checks the medium after each)\n"
	    "URL: iscsi://[user[%%password]@]host[:port]/target-iqn/lun (or iser://)\n"
	    "  CHAP with user%%password; mutual CHAP adds ?target_user=U&target_password=P;\n"
	    "  --chap-alg MD5,SHA-1,SHA-256,SHA3-256 picks and orders the algorithms offered\n");
}

static int die(const char *what, const struct idm_ini *s)
{
	fprintf(stderr, "idmio: %s: %s\n", what, s ? idm_ini_error(s) : strerror(errno));
	return 1;
}

/* "4k", "1m", "512": bytes. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s) {
		return false;
	}
	if (*end == 'k' || *end == 'K') {
		v <<= 10, end++;
	} else if (*end == 'm' || *end == 'M') {
		v <<= 20, end++;
	}
	if (*end != '\0') {
		return false;
	}
	*out = v;
	return true;
}

static bool parse_transport(const char *s, enum idm_ini_transport *tp)
{
	if (strcmp(s, "tcp") == 0) {
		*tp = IDM_INI_TP_TCP;
	} else if (strcmp(s, "iser") == 0) {
		*tp = IDM_INI_TP_ISER;
	} else if (strcmp(s, "auto") == 0) {
		*tp = IDM_INI_TP_AUTO;
	} else {
		return false;
	}
	return true;
}

/* "MD5,SHA-256": the CHAP_A values to offer, in that order. */
static bool parse_chap_algs(const char *arg, struct opts *o)
{
	o->nchap_algs = 0;
	while (*arg) {
		size_t n = strcspn(arg, ",");

		if (o->nchap_algs == IDM_CHAP_ALGS_MAX ||
		    idm_chap_alg_parse(arg, n, &o->chap_algs[o->nchap_algs]) != 0) {
			return false;
		}
		o->nchap_algs++;
		arg += n + (arg[n] == ',');
	}
	return o->nchap_algs > 0;
}

static bool parse_opt(struct opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 't':
		return parse_transport(arg, &o->tp);
	case 'n':
		o->iname = arg;
		return true;
	case 'l':
		o->have_lba = true;
		return parse_size(arg, &o->lba);
	case 'c':
		o->have_count = true;
		return parse_size(arg, &o->count) && o->count > 0;
	case 'o':
		o->out = arg;
		return true;
	case 'i':
		o->in = arg;
		return true;
	case 'p':
		if (!parse_size(arg, &v) || v > 255) {
			return false;
		}
		o->pattern = (int)v;
		return true;
	case 'r':
		o->rw = arg;
		return true;
	case 'b':
		return parse_size(arg, &v) && v >= 512 && v <= 16 * 1024 * 1024 &&
		       (o->bs = (uint32_t)v) != 0;
	case 'q':
		return parse_size(arg, &v) && v >= 1 && v <= 1024 && (o->qd = (uint32_t)v) != 0;
	case 'T':
		return parse_size(arg, &v) && v >= 1 && v <= 3600 &&
		       (o->seconds = (uint32_t)v) != 0;
	case 'D':
		o->digest = true;
		return true;
	case 'A':
		return parse_chap_algs(arg, o);
	case 'I':
		return parse_size(arg, &v) && v <= 3600 && ((o->idle = (uint32_t)v) || true);
	default:
		return false;
	}
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {{"transport", required_argument, NULL, 't'},
	                                         {"initiator-name", required_argument, NULL, 'n'},
	                                         {"lba", required_argument, NULL, 'l'},
	                                         {"count", required_argument, NULL, 'c'},
	                                         {"out", required_argument, NULL, 'o'},
	                                         {"in", required_argument, NULL, 'i'},
	                                         {"pattern", required_argument, NULL, 'p'},
	                                         {"rw", required_argument, NULL, 'r'},
	                                         {"bs", required_argument, NULL, 'b'},
	                                         {"qd", required_argument, NULL, 'q'},
	                                         {"time", required_argument, NULL, 'T'},
	                                         {"idle", required_argument, NULL, 'I'},
	                                         {"digest", no_argument, NULL, 'D'},
	                                         {"chap-alg", required_argument, NULL, 'A'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	int c;

	*o = (struct opts){.tp = IDM_INI_TP_TCP,
	                   .pattern = -1,
	                   .bs = 4096,
	                   .qd = 32,
	                   .seconds = 10,
	                   .rw = "randread"};
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1 || optind < argc) {
		if (c == -1) {
			/* a positional argument; options may follow it */
			if (o->cmd == NULL) {
				o->cmd = argv[optind];
			} else if (o->nargs < 2) {
				o->args[o->nargs++] = argv[optind];
			} else {
				fprintf(stderr, "idmio: too many arguments\n");
				return -1;
			}
			optind++;
			continue;
		}
		if (c == 'h' || c == '?' || !parse_opt(o, c, optarg)) {
			if (c != 'h' && c != '?') {
				fprintf(stderr, "idmio: bad value for an option: %s\n", optarg);
			}
			return -1;
		}
	}
	return o->cmd ? 0 : -1;
}

/* ---- SCSI helpers ---- */

static void cmd_init(struct idm_ini_cmd *cmd, enum idm_ini_dir dir, uint8_t *buf, uint32_t len,
                     uint64_t lun)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->dir = dir;
	cmd->buf = buf;
	cmd->len = len;
	cmd->lun = lun;
}

static void cdb_rw16(struct idm_ini_cmd *cmd, bool write, uint64_t lba, uint32_t blocks)
{
	cmd->cdb_len = 16;
	memset(cmd->cdb, 0, 16);
	cmd->cdb[0] = write ? 0x8a : 0x88;
	put_be64(cmd->cdb + 2, lba);
	put_be32(cmd->cdb + 10, blocks);
}

static int scsi_rw(struct lun *l, bool write, uint64_t lba, uint32_t blocks, uint8_t *buf)
{
	struct idm_ini_cmd cmd;

	cmd_init(&cmd, write ? IDM_INI_WRITE : IDM_INI_READ, buf, blocks * l->block_size,
	         l->url.lun);
	cdb_rw16(&cmd, write, lba, blocks);
	return idm_ini_scsi(l->s, &cmd);
}

/* Run `cmd`; again (up to 3 times) while it meets a UNIT ATTENTION, as the
 * first command of a session or the first after a reset does. */
static int scsi_past_ua(struct lun *l, struct idm_ini_cmd *cmd)
{
	int rc = -EIO;

	for (int i = 0; i < 3; i++) {
		rc = idm_ini_scsi(l->s, cmd);
		if (rc == 0 || cmd->sense_len < 3 || (cmd->sense[2] & 0x0f) != 0x6) {
			break;
		}
	}
	return rc;
}

static int read_capacity(struct lun *l)
{
	uint8_t buf[32];
	struct idm_ini_cmd cmd;
	int rc;

	cmd_init(&cmd, IDM_INI_READ, buf, sizeof(buf), l->url.lun);
	cmd.cdb_len = 16;
	cmd.cdb[0] = 0x9e; /* SERVICE ACTION IN (16) */
	cmd.cdb[1] = 0x10; /* READ CAPACITY (16) */
	put_be32(cmd.cdb + 10, sizeof(buf));
	rc = scsi_past_ua(l, &cmd);
	if (rc == 0) {
		l->blocks = get_be64(buf) + 1;
		l->block_size = get_be32(buf + 8);
	} else {
		cmd_init(&cmd, IDM_INI_READ, buf, 8, l->url.lun);
		cmd.cdb_len = 10;
		cmd.cdb[0] = 0x25;
		rc = idm_ini_scsi(l->s, &cmd);
		l->blocks = (uint64_t)get_be32(buf) + 1;
		l->block_size = get_be32(buf + 4);
	}
	if (rc == 0 && (l->block_size < 512 || l->block_size > 65536)) {
		fprintf(stderr, "idmio: odd block size %u\n", l->block_size);
		return -EIO;
	}
	return rc;
}

/* ---- sessions ---- */

static int open_session(const struct opts *o, const char *url, struct lun *l, bool need_lun)
{
	char err[128];

	memset(l, 0, sizeof(*l));
	if (idm_url_parse(url, &l->url, err, sizeof(err)) != 0) {
		fprintf(stderr, "idmio: %s\n", err);
		return -EINVAL;
	}
	if (need_lun && !l->url.has_lun) {
		fprintf(stderr, "idmio: the URL must name a target and a LUN\n");
		return -EINVAL;
	}
	l->s = idm_ini_create(o->iname);
	if (l->s == NULL) {
		fprintf(stderr, "idmio: out of memory\n");
		return -ENOMEM;
	}
	idm_ini_set_transport(l->s, o->tp);
	idm_ini_set_digests(l->s, o->digest, o->digest);
	idm_ini_set_chap_algorithms(l->s, o->chap_algs, o->nchap_algs);
	if (o->qd > 0 && idm_ini_set_queue_depth(l->s, o->qd) != 0) {
		fprintf(stderr, "idmio: bad queue depth\n");
	}
	if (idm_ini_login(l->s, &l->url) != 0) {
		die("login", l->s);
		idm_ini_destroy(l->s);
		l->s = NULL;
		return -EIO;
	}
	return 0;
}

static void close_session(struct lun *l)
{
	if (l->s) {
		idm_ini_logout(l->s);
		idm_ini_destroy(l->s);
		l->s = NULL;
	}
}

/* Open and size the LUN (read capacity). */
static int open_lun(const struct opts *o, const char *url, struct lun *l)
{
	int rc = open_session(o, url, l, true);

	if (rc == 0 && read_capacity(l) != 0) {
		die("read capacity", l->s);
		close_session(l);
		return -EIO;
	}
	return rc;
}

/* ---- commands ---- */

static int cmd_discover(const struct opts *o)
{
	struct idm_ini_targets list;
	struct lun l;
	char url[600];
	struct idm_url u;
	int rc;

	if (idm_url_parse(o->args[0], &u, url, sizeof(url)) != 0) {
		fprintf(stderr, "idmio: %s\n", url);
		return 1;
	}
	/* a discovery session: portal only */
	snprintf(url, sizeof(url), "%s://%s%s%s:%u/", u.iser ? "iser" : "iscsi",
	         strchr(u.host, ':') ? "[" : "", u.host, strchr(u.host, ':') ? "]" : "", u.port);
	if (open_session(o, url, &l, false) != 0) {
		return 1;
	}
	rc = idm_ini_discover(l.s, &list);
	if (rc != 0) {
		die("discover", l.s);
		close_session(&l);
		return 1;
	}
	for (unsigned i = 0; i < list.n; i++) {
		printf("%s\n", list.t[i].name);
		for (unsigned j = 0; j < list.t[i].naddr; j++) {
			printf("  %s\n", list.t[i].addr[j]);
		}
	}
	idm_ini_targets_free(&list);
	close_session(&l);
	return 0;
}

/* Keep the session up (the reactor answers the target's NOP-In pings). */
static int idle_session(struct lun *l, uint32_t seconds)
{
	uint64_t end = idm_now_ms() + (uint64_t)seconds * 1000;

	while (idm_now_ms() < end) {
		if (idm_ini_service(l->s, 100) < 0) {
			return -ECONNRESET;
		}
	}
	return 0;
}

static int cmd_login(const struct opts *o)
{
	struct lun l;
	const struct idm_params *p;

	if (open_session(o, o->args[0], &l, false) != 0) {
		return 1;
	}
	p = idm_ini_params(l.s);
	printf("transport: %s\n", idm_ini_transport_name(l.s));
	printf("TargetName=%s\nSessionType=%s\n", p->target_name,
	       p->session_type == IDM_SESSION_DISCOVERY ? "Discovery" : "Normal");
	printf("AuthMethod=%s\n", p->auth_method[0] ? p->auth_method : "None");
	printf("HeaderDigest=%s\nDataDigest=%s\n", p->header_digest ? "CRC32C" : "None",
	       p->data_digest ? "CRC32C" : "None");
	printf("MaxRecvDataSegmentLength(initiator)=%u\nMaxRecvDataSegmentLength(target)=%u\n",
	       p->max_recv_dsl, p->max_xmit_dsl);
	printf("InitialR2T=%s\nImmediateData=%s\n", p->initial_r2t ? "Yes" : "No",
	       p->immediate_data ? "Yes" : "No");
	printf("MaxBurstLength=%u\nFirstBurstLength=%u\nMaxOutstandingR2T=%u\n",
	       p->max_burst_length, p->first_burst_length, p->max_outstanding_r2t);
	printf("ErrorRecoveryLevel=%u\nTargetPortalGroupTag=%u\n", p->error_recovery_level,
	       p->target_portal_group_tag);
	fflush(stdout);
	if (o->idle && idle_session(&l, o->idle) != 0) {
		die("idle session", l.s);
		close_session(&l);
		return 1;
	}
	if (o->idle) {
		const struct idm_conn_stats *st = idm_ini_stats(l.s);

		printf("idle %u s: pdus_rx %llu pdus_tx %llu\n", o->idle,
		       (unsigned long long)st->pdus_rx, (unsigned long long)st->pdus_tx);
	}
	if (idm_ini_logout(l.s) != 0) {
		die("logout", l.s);
		idm_ini_destroy(l.s);
		return 1;
	}
	idm_ini_destroy(l.s);
	return 0;
}

static int cmd_inquiry(const struct opts *o)
{
	uint8_t buf[96] = {0};
	struct idm_ini_cmd cmd;
	struct lun l;

	if (open_session(o, o->args[0], &l, true) != 0) {
		return 1;
	}
	cmd_init(&cmd, IDM_INI_READ, buf, sizeof(buf), l.url.lun);
	cmd.cdb_len = 6;
	cmd.cdb[0] = 0x12;
	put_be16(cmd.cdb + 3, sizeof(buf));
	if (idm_ini_scsi(l.s, &cmd) != 0) {
		die("inquiry", l.s);
		close_session(&l);
		return 1;
	}
	printf("peripheral type: %#x\nvendor: %.8s\nproduct: %.16s\nrevision: %.4s\n",
	       buf[0] & 0x1f, buf + 8, buf + 16, buf + 32);
	close_session(&l);
	return 0;
}

static int cmd_readcap(const struct opts *o)
{
	struct lun l;

	if (open_lun(o, o->args[0], &l) != 0) {
		return 1;
	}
	printf("blocks: %llu\nblock size: %u\nbytes: %llu\n", (unsigned long long)l.blocks,
	       l.block_size, (unsigned long long)(l.blocks * l.block_size));
	close_session(&l);
	return 0;
}

static bool range_ok(const struct lun *l, uint64_t lba, uint64_t count)
{
	if (lba >= l->blocks || count > l->blocks - lba) {
		fprintf(stderr, "idmio: LBA range %llu+%llu beyond the LUN (%llu blocks)\n",
		        (unsigned long long)lba, (unsigned long long)count,
		        (unsigned long long)l->blocks);
		return false;
	}
	return true;
}

/* ---- progress ---- */

struct progress {
	uint64_t total, done;
	uint64_t start_ms, last_ms;
	bool tty;
};

static void progress_show(struct progress *p, bool final)
{
	uint64_t now = idm_now_ms();
	double secs = (double)(now - p->start_ms) / 1000.0;
	double mib = (double)p->done / (1024.0 * 1024.0);
	unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;

	if (!final && now - p->last_ms < (p->tty ? 100u : 1000u)) {
		return;
	}
	p->last_ms = now;
	if (p->tty) {
		char bar[41];
		unsigned fill = pct * 40 / 100;

		memset(bar, '#', fill);
		memset(bar + fill, '.', 40 - fill);
		bar[40] = '\0';
		fprintf(stderr, "\r[%s] %3u%% %.1f MiB %.1f MiB/s%s", bar, pct, mib,
		        secs > 0 ? mib / secs : 0.0, final ? "\n" : "");
	} else {
		fprintf(stderr, "progress: %u%% %.1f MiB %.1f MiB/s\n", pct, mib,
		        secs > 0 ? mib / secs : 0.0);
	}
}

/* ---- transfers between a file descriptor and the LUN ---- */

static int full_read(int fd, uint8_t *buf, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, buf + *got, len - *got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		if (n == 0) {
			break;
		}
		*got += (size_t)n;
	}
	return 0;
}

static int full_write(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Bytes one READ or WRITE of a copy moves. */
static uint32_t chunk_bytes(const struct lun *l)
{
	return strcmp(idm_ini_transport_name(l->s), "iser") == 0 ? CHUNK_BYTES_ISER : CHUNK_BYTES;
}

/* LUN [lba, lba+count) to fd, in chunks. */
static int lun_to_fd(struct lun *l, uint64_t lba, uint64_t count, int fd, struct progress *p)
{
	uint32_t per = chunk_bytes(l) / l->block_size;
	size_t cap = (size_t)per * l->block_size;
	uint8_t *buf = idm_ini_buf_alloc(l->s, cap); /* registered once over iSER */
	int rc = buf ? 0 : -ENOMEM;

	while (rc == 0 && count > 0) {
		uint32_t n = count < per ? (uint32_t)count : per;

		rc = scsi_rw(l, false, lba, n, buf);
		if (rc == 0) {
			rc = full_write(fd, buf, (size_t)n * l->block_size);
		}
		lba += n;
		count -= n;
		if (p) {
			p->done += (uint64_t)n * l->block_size;
			progress_show(p, false);
		}
	}
	idm_ini_buf_free(l->s, buf, cap);
	return rc;
}

/* fd (or a pattern) to LUN [lba, lba+count); a short file is zero padded. */
static int fd_to_lun(struct lun *l, uint64_t lba, uint64_t count, int fd, int pattern,
                     struct progress *p)
{
	uint32_t per = chunk_bytes(l) / l->block_size;
	size_t cap = (size_t)per * l->block_size;
	uint8_t *buf = idm_ini_buf_alloc(l->s, cap); /* registered once over iSER */
	int rc = buf ? 0 : -ENOMEM;

	while (rc == 0 && count > 0) {
		uint32_t n = count < per ? (uint32_t)count : per;
		size_t want = (size_t)n * l->block_size, got = want;

		if (fd >= 0) {
			memset(buf, 0, want);
			rc = full_read(fd, buf, want, &got);
		} else {
			memset(buf, pattern, want);
		}
		if (rc == 0 && got > 0) {
			rc = scsi_rw(l, true, lba, n, buf);
		}
		if (got < want) {
			count = n; /* end of input */
		}
		lba += n;
		count -= n;
		if (p) {
			p->done += got;
			progress_show(p, false);
		}
	}
	idm_ini_buf_free(l->s, buf, cap);
	return rc;
}

static int need_range(const struct opts *o)
{
	if (!o->have_lba || !o->have_count) {
		fprintf(stderr, "idmio: --lba and --count are required\n");
		return -1;
	}
	return 0;
}

static int cmd_read(const struct opts *o)
{
	struct lun l;
	int fd = STDOUT_FILENO, rc;

	if (need_range(o) != 0 || open_lun(o, o->args[0], &l) != 0) {
		return 1;
	}
	if (!range_ok(&l, o->lba, o->count)) {
		close_session(&l);
		return 1;
	}
	if (o->out && (fd = open(o->out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
		fprintf(stderr, "idmio: %s: %s\n", o->out, strerror(errno));
		close_session(&l);
		return 1;
	}
	rc = lun_to_fd(&l, o->lba, o->count, fd, NULL);
	if (rc != 0) {
		die("read", l.s);
	}
	if (o->out) {
		close(fd);
	}
	close_session(&l);
	return rc ? 1 : 0;
}

static int cmd_write(const struct opts *o)
{
	struct lun l;
	int fd = -1, rc;

	if (need_range(o) != 0) {
		return 1;
	}
	if ((o->in == NULL) == (o->pattern < 0)) {
		fprintf(stderr, "idmio: write needs --in FILE or --pattern X\n");
		return 1;
	}
	if (o->in && (fd = open(o->in, O_RDONLY)) < 0) {
		fprintf(stderr, "idmio: %s: %s\n", o->in, strerror(errno));
		return 1;
	}
	if (open_lun(o, o->args[0], &l) != 0) {
		if (fd >= 0) {
			close(fd);
		}
		return 1;
	}
	rc = range_ok(&l, o->lba, o->count) ? fd_to_lun(&l, o->lba, o->count, fd, o->pattern, NULL)
	                                    : -EINVAL;
	if (rc != 0 && rc != -EINVAL) {
		die("write", l.s);
	}
	if (fd >= 0) {
		close(fd);
	}
	close_session(&l);
	return rc ? 1 : 0;
}

static int copy_to_lun(const struct opts *o, const char *file, const char *url)
{
	struct progress p = {.start_ms = idm_now_ms(), .tty = isatty(STDERR_FILENO)};
	struct stat st;
	struct lun l;
	uint64_t blocks;
	int fd = open(file, O_RDONLY), rc;

	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "idmio: %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (open_lun(o, url, &l) != 0) {
		close(fd);
		return 1;
	}
	blocks = ((uint64_t)st.st_size + l.block_size - 1) / l.block_size;
	p.total = (uint64_t)st.st_size;
	rc = range_ok(&l, 0, blocks) ? fd_to_lun(&l, 0, blocks, fd, 0, &p) : -EINVAL;
	progress_show(&p, true);
	if (rc != 0 && rc != -EINVAL) {
		die("copy", l.s);
	}
	close(fd);
	close_session(&l);
	return rc ? 1 : 0;
}

static int copy_from_lun(const struct opts *o, const char *url, const char *file)
{
	struct progress p = {.start_ms = idm_now_ms(), .tty = isatty(STDERR_FILENO)};
	struct lun l;
	int fd, rc;

	if (open_lun(o, url, &l) != 0) {
		return 1;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "idmio: %s: %s\n", file, strerror(errno));
		close_session(&l);
		return 1;
	}
	p.total = l.blocks * l.block_size;
	rc = lun_to_fd(&l, 0, l.blocks, fd, &p);
	progress_show(&p, true);
	if (rc != 0) {
		die("copy", l.s);
	}
	close(fd);
	close_session(&l);
	return rc ? 1 : 0;
}

static int cmd_copy(const struct opts *o)
{
	bool src_url = strstr(o->args[0], "://") != NULL;
	bool dst_url = strstr(o->args[1], "://") != NULL;

	if (src_url == dst_url) {
		fprintf(stderr, "idmio: copy takes one FILE and one URL\n");
		return 1;
	}
	return src_url ? copy_from_lun(o, o->args[0], o->args[1])
	               : copy_to_lun(o, o->args[0], o->args[1]);
}

/* ---- bench ---- */

struct bench;

struct bench_io {
	struct idm_ini_cmd cmd;
	struct bench *b;
	uint64_t start_us;
	uint8_t *buf;
};

struct bench {
	struct lun *l;
	bool write, random;
	uint32_t blocks_per_io;
	uint64_t next_lba;
	uint64_t ios, errors;
	bool stopping;
	uint32_t *hist; /* by microsecond */
	uint64_t over;  /* slower than the histogram */
	uint64_t rng;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t bench_rand(struct bench *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

static uint64_t bench_lba(struct bench *b)
{
	uint64_t slots = b->l->blocks / b->blocks_per_io;
	uint64_t lba;

	if (b->random) {
		return (bench_rand(b) % slots) * b->blocks_per_io;
	}
	lba = b->next_lba;
	b->next_lba += b->blocks_per_io;
	if (b->next_lba + b->blocks_per_io > b->l->blocks) {
		b->next_lba = 0;
	}
	return lba;
}

static void bench_issue(struct bench_io *io);

static void bench_done(struct idm_ini_cmd *cmd, int err)
{
	struct bench_io *io = cmd->arg;
	struct bench *b = io->b;
	uint64_t lat = now_us() - io->start_us;

	if (err != 0 || cmd->status != 0) {
		b->errors++;
		b->stopping = true;
		return;
	}
	b->ios++;
	if (lat < HIST_US) {
		b->hist[lat]++;
	} else {
		b->over++;
	}
	if (!b->stopping) {
		bench_issue(io);
	}
}

static void bench_issue(struct bench_io *io)
{
	struct bench *b = io->b;
	struct lun *l = b->l;

	cmd_init(&io->cmd, b->write ? IDM_INI_WRITE : IDM_INI_READ, io->buf,
	         b->blocks_per_io * l->block_size, l->url.lun);
	cdb_rw16(&io->cmd, b->write, bench_lba(b), b->blocks_per_io);
	io->cmd.done = bench_done;
	io->cmd.arg = io;
	io->start_us = now_us();
	if (idm_ini_scsi_async(l->s, &io->cmd) != 0) {
		b->errors++;
		b->stopping = true;
	}
}

static double bench_pct(const struct bench *b, double q)
{
	uint64_t want = (uint64_t)((double)b->ios * q), seen = 0;

	for (uint32_t us = 0; us < HIST_US; us++) {
		seen += b->hist[us];
		if (seen > want) {
			return us;
		}
	}
	return HIST_US;
}

static void bench_report(const struct bench *b, const struct lun *l, double secs)
{
	const struct idm_conn_stats *st = idm_ini_stats(l->s);
	double iops = (double)b->ios / secs;

	printf("ios: %llu errors: %llu time: %.2f s\n", (unsigned long long)b->ios,
	       (unsigned long long)b->errors, secs);
	printf("IOPS: %.0f\nMiB/s: %.1f\n", iops,
	       iops * b->blocks_per_io * l->block_size / (1024.0 * 1024.0));
	printf("latency us: p50 %.0f p99 %.0f p99.9 %.0f\n", bench_pct(b, 0.5), bench_pct(b, 0.99),
	       bench_pct(b, 0.999));
	printf("conn: pdus_tx %llu pdus_rx %llu bytes_tx %llu bytes_rx %llu bytes_copied %llu "
	       "tx_syscalls %llu\n",
	       (unsigned long long)st->pdus_tx, (unsigned long long)st->pdus_rx,
	       (unsigned long long)st->bytes_tx, (unsigned long long)st->bytes_rx,
	       (unsigned long long)st->bytes_copied, (unsigned long long)st->tx_syscalls);
	printf("conn: registrations %llu work_requests %llu (%.2f per I/O)\n",
	       (unsigned long long)st->registrations, (unsigned long long)st->work_requests,
	       b->ios ? (double)st->work_requests / (double)b->ios : 0.0);
}

static int bench_setup(const struct opts *o, struct bench *b, struct lun *l)
{
	if (strcmp(o->rw, "randread") && strcmp(o->rw, "randwrite") && strcmp(o->rw, "read") &&
	    strcmp(o->rw, "write")) {
		fprintf(stderr, "idmio: --rw must be randread, randwrite, read or write\n");
		return -1;
	}
	if (o->bs % l->block_size != 0 || o->bs / l->block_size > l->blocks) {
		fprintf(stderr, "idmio: --bs must be a multiple of the block size (%u)\n",
		        l->block_size);
		return -1;
	}
	b->l = l;
	b->write = strstr(o->rw, "write") != NULL;
	b->random = strncmp(o->rw, "rand", 4) == 0;
	b->blocks_per_io = o->bs / l->block_size;
	b->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	b->hist = calloc(HIST_US, sizeof(*b->hist));
	return b->hist ? 0 : -1;
}

static int bench_run(const struct opts *o, struct bench *b, struct bench_io *ios)
{
	uint64_t start = now_us(), end = start + (uint64_t)o->seconds * 1000000u;

	for (uint32_t i = 0; i < o->qd; i++) {
		ios[i].b = b;
		memset(ios[i].buf, 0xa5, o->bs);
		bench_issue(&ios[i]);
	}
	while (idm_ini_inflight(b->l->s) > 0) {
		if (now_us() >= end) {
			b->stopping = true;
		}
		if (idm_ini_service(b->l->s, 100) < 0) {
			break;
		}
	}
	bench_report(b, b->l, (double)(now_us() - start) / 1e6);
	return b->errors || b->ios == 0 ? -1 : 0;
}

static int cmd_bench(const struct opts *o)
{
	struct bench b = {0};
	struct bench_io *ios = NULL;
	uint8_t *mem = NULL;
	struct lun l;
	int rc = -1;

	if (open_lun(o, o->args[0], &l) != 0) {
		return 1;
	}
	if (bench_setup(o, &b, &l) == 0) {
		ios = calloc(o->qd, sizeof(*ios));
		/* one region for every I/O, registered once over iSER */
		mem = idm_ini_buf_alloc(l.s, (size_t)o->qd * ((o->bs + 4095) & ~4095u));
	}
	if (ios && mem) {
		for (uint32_t i = 0; i < o->qd; i++) {
			ios[i].buf = mem + (size_t)i * ((o->bs + 4095) & ~4095u);
		}
		rc = bench_run(o, &b, ios);
		if (rc != 0) {
			die("bench", l.s);
		}
	}
	idm_ini_buf_free(l.s, mem, (size_t)o->qd * ((o->bs + 4095) & ~4095u));
	free(ios);
	free(b.hist);
	close_session(&l);
	return rc ? 1 : 0;
}

/* ---- task management ---- */

static void reset_read_done(struct idm_ini_cmd *cmd, int err)
{
	int *state = cmd->arg;

	*state = err == -ECANCELED ? 2 : 1; /* 2: the abort ended it */
}

static int cmd_reset(const struct opts *o)
{
	static uint8_t buf[65536];
	struct idm_ini_cmd cmd;
	struct lun l;
	int read_state = 0, rc;

	if (open_lun(o, o->args[0], &l) != 0) {
		return 1;
	}
	cmd_init(&cmd, IDM_INI_READ, buf, sizeof(buf), l.url.lun);
	cdb_rw16(&cmd, false, 0, sizeof(buf) / l.block_size);
	cmd.done = reset_read_done;
	cmd.arg = &read_state;
	rc = idm_ini_scsi_async(l.s, &cmd);
	if (rc == 0) {
		rc = idm_ini_tmf(l.s, ISCSI_TMF_ABORT_TASK, l.url.lun, &cmd);
	}
	while (rc == 0 && read_state == 0 && idm_ini_service(l.s, 100) == 0) {
	}
	if (rc != 0 || read_state == 0) {
		die("abort task", l.s);
		close_session(&l);
		return 1;
	}
	printf("abort task: %s\n", read_state == 2 ? "aborted" : "the read had completed");
	if (idm_ini_tmf(l.s, ISCSI_TMF_LOGICAL_UNIT_RESET, l.url.lun, NULL) != 0) {
		die("LUN reset", l.s);
		close_session(&l);
		return 1;
	}
	printf("lun reset: done\n");
	close_session(&l);
	return 0;
}

/* ---- aborting writes in flight ---- */

#define ABORT_WAIT_MS 30000 /* the TMF and every WRITE must end within this */

/* One round of `idmio abort`: QD writes of BS bytes in flight, then a TMF. */
struct abort_round {
	struct lun *l;
	const char *name;
	uint8_t function; /* ABORT TASK (of the last write) or LOGICAL UNIT RESET */
	uint64_t lba;     /* where write 0 starts; write i follows write i-1 */
	uint32_t blocks;  /* per write */
	uint32_t qd;
	uint8_t *mem; /* qd buffers of `bytes` each, registered over iSER */
	size_t bytes;
	uint8_t old; /* the byte on the medium before the round */
	struct idm_ini_cmd *cmds;
	int *ends;   /* per write: 1 while in flight, then its error (0, -ECANCELED) */
	int tmf_end; /* 1 while the TMF waits for its response */
};

static void abort_write_done(struct idm_ini_cmd *cmd, int err)
{
	*(int *)cmd->arg = err;
}

static void abort_tmf_done(struct idm_ini *s, int status, void *arg)
{
	(void)s;
	*(int *)arg = status;
}

/* Write `byte` over the whole range of the round, through the session. */
static int abort_fill(struct abort_round *r, uint8_t byte)
{
	memset(r->mem, byte, r->bytes);
	for (uint32_t i = 0; i < r->qd; i++) {
		struct idm_ini_cmd cmd;

		cmd_init(&cmd, IDM_INI_WRITE, r->mem, (uint32_t)r->bytes, r->l->url.lun);
		cdb_rw16(&cmd, true, r->lba + (uint64_t)i * r->blocks, r->blocks);
		if (scsi_past_ua(r->l, &cmd) != 0) {
			return -EIO;
		}
	}
	return 0;
}

/* QD WRITEs of a byte of their own (0xa0 + i), then at once the TMF; wait
 * until the TMF and every WRITE have ended. */
static int abort_in_flight(struct abort_round *r)
{
	uint64_t deadline = now_us() + ABORT_WAIT_MS * 1000ull;
	bool busy = true;
	int rc = 0;

	r->tmf_end = 1;
	for (uint32_t i = 0; i < r->qd && rc == 0; i++) {
		uint8_t *buf = r->mem + (size_t)i * r->bytes;

		memset(buf, 0xa0 + (int)i, r->bytes);
		cmd_init(&r->cmds[i], IDM_INI_WRITE, buf, (uint32_t)r->bytes, r->l->url.lun);
		cdb_rw16(&r->cmds[i], true, r->lba + (uint64_t)i * r->blocks, r->blocks);
		r->cmds[i].done = abort_write_done;
		r->cmds[i].arg = &r->ends[i];
		r->ends[i] = 1;
		rc = idm_ini_scsi_async(r->l->s, &r->cmds[i]);
	}
	if (rc == 0) {
		struct idm_ini_cmd *victim =
		    r->function == ISCSI_TMF_ABORT_TASK ? &r->cmds[r->qd - 1] : NULL;

		rc = idm_ini_tmf_async(r->l->s, r->function, r->l->url.lun, victim, abort_tmf_done,
		                       &r->tmf_end);
	}
	if (rc != 0) {
		r->tmf_end = rc; /* not sent: wait for the writes alone */
	}
	/* the writes own their buffers until they end, whatever happened */
	while (busy) {
		busy = r->tmf_end == 1 || idm_ini_inflight(r->l->s) > 0;
		if (busy && (now_us() > deadline || idm_ini_service(r->l->s, 100) < 0)) {
			return -ETIMEDOUT;
		}
	}
	return rc != 0 ? rc : r->tmf_end;
}

/* Read the round's range into `buf` (past the reset's UNIT ATTENTION). */
static int abort_read(struct abort_round *r, uint8_t *buf)
{
	for (uint32_t i = 0; i < r->qd; i++) {
		struct idm_ini_cmd cmd;

		cmd_init(&cmd, IDM_INI_READ, buf + (size_t)i * r->bytes, (uint32_t)r->bytes,
		         r->l->url.lun);
		cdb_rw16(&cmd, false, r->lba + (uint64_t)i * r->blocks, r->blocks);
		if (scsi_past_ua(r->l, &cmd) != 0) {
			return -EIO;
		}
	}
	return 0;
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t byte)
{
	return len == 0 || (p[0] == byte && memcmp(p, p + 1, len - 1) == 0);
}

/* A WRITE that ended GOOD holds its byte; an aborted one holds its byte or
 * the old one, never a mix (bytes of it landing after the abort). */
static int abort_verdict(const struct abort_round *r, const uint8_t *got)
{
	uint32_t good = 0, aborted = 0, bad = 0;

	for (uint32_t i = 0; i < r->qd; i++) {
		const uint8_t *p = got + (size_t)i * r->bytes;
		bool mine = all_bytes(p, r->bytes, (uint8_t)(0xa0 + i));
		bool ok = r->ends[i] == 0            ? mine
		          : r->ends[i] == -ECANCELED ? mine || all_bytes(p, r->bytes, r->old)
		                                     : false;

		good += r->ends[i] == 0;
		aborted += r->ends[i] == -ECANCELED;
		if (!ok) {
			fprintf(stderr,
			        "idmio: %s: write %u (%s) at LBA %llu: the medium holds %s\n",
			        r->name, i, r->ends[i] == 0 ? "GOOD" : strerror(-r->ends[i]),
			        (unsigned long long)(r->lba + (uint64_t)i * r->blocks),
			        mine ? "its data" : "neither it nor the old data");
			bad++;
		}
	}
	printf("%s: %u writes of %zu KiB in flight: %u GOOD, %u aborted, %u wrong on the medium\n",
	       r->name, r->qd, r->bytes / 1024, good, aborted, bad);
	return bad ? -EIO : 0;
}

/* One round: fill with the old byte, WRITEs + TMF, read back twice a second
 * apart (SAM-5: nothing of an aborted task lands after the TMF response). */
static int abort_round_run(struct abort_round *r, uint8_t *got, uint8_t *again)
{
	const struct timespec second = {.tv_sec = 1};
	size_t total = (size_t)r->qd * r->bytes;
	int rc = abort_fill(r, r->old);

	if (rc != 0) {
		return die("write before the round", r->l->s), rc;
	}
	rc = abort_in_flight(r);
	if (rc != 0) {
		return die(r->name, r->l->s), rc;
	}
	if (abort_read(r, got) != 0) {
		return die("read back", r->l->s), -EIO;
	}
	nanosleep(&second, NULL);
	if (abort_read(r, again) != 0) {
		return die("read back again", r->l->s), -EIO;
	}
	if (memcmp(got, again, total) != 0) {
		fprintf(stderr, "idmio: %s: the medium changed after the TMF response\n", r->name);
		return -EIO;
	}
	return abort_verdict(r, got);
}

static int cmd_abort(const struct opts *o)
{
	struct lun l;
	struct abort_round r = {.l = &l, .qd = o->qd};
	uint8_t *got = NULL, *again = NULL;
	int rc = -ENOMEM;

	if (open_lun(o, o->args[0], &l) != 0) {
		return 1;
	}
	r.blocks = o->bs / l.block_size;
	r.bytes = (size_t)r.blocks * l.block_size;
	if (r.blocks == 0 || !range_ok(&l, o->lba, (uint64_t)r.blocks * r.qd)) {
		close_session(&l);
		return 1;
	}
	r.lba = o->lba;
	r.mem = idm_ini_buf_alloc(l.s, (size_t)r.qd * r.bytes);
	r.cmds = calloc(r.qd, sizeof(*r.cmds));
	r.ends = calloc(r.qd, sizeof(*r.ends));
	got = malloc((size_t)r.qd * r.bytes);
	again = malloc((size_t)r.qd * r.bytes);
	if (r.mem && r.cmds && r.ends && got && again) {
		r.name = "abort task", r.function = ISCSI_TMF_ABORT_TASK, r.old = 0x51;
		rc = abort_round_run(&r, got, again);
		r.name = "lun reset", r.function = ISCSI_TMF_LOGICAL_UNIT_RESET, r.old = 0x52;
		rc = rc ? rc : abort_round_run(&r, got, again);
	}
	idm_ini_buf_free(l.s, r.mem, (size_t)r.qd * r.bytes);
	free(r.cmds);
	free(r.ends);
	free(got);
	free(again);
	close_session(&l);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(const struct opts *o);
	} cmds[] = {
	    {"discover", 1, cmd_discover}, {"login", 1, cmd_login}, {"inquiry", 1, cmd_inquiry},
	    {"readcap", 1, cmd_readcap},   {"read", 1, cmd_read},   {"write", 1, cmd_write},
	    {"copy", 2, cmd_copy},         {"bench", 1, cmd_bench}, {"reset", 1, cmd_reset},
	    {"abort", 1, cmd_abort},
	};
	struct opts o;

	if (parse_args(argc, argv, &o) != 0) {
		usage();
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(o.cmd, cmds[i].name) == 0) {
			if (o.nargs != cmds[i].nargs) {
				usage();
				return 2;
			}
			return cmds[i].fn(&o);
		}
	}
	fprintf(stderr, "idmio: unknown command '%s'\n", o.cmd);
	usage();
	return 2;
}
