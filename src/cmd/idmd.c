/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idmd: the idm iSCSI target daemon.
 *
 *   idmd --portal 127.0.0.1:3260 --target IQN --lun mem:1G --lun file:PATH:SIZE
 *        [--acl INITIATOR_IQN ...] [--chap USER:SECRET [--mutual-chap USER:SECRET]]
 *   idmd --config FILE.json
 *   either with [--control-socket PATH] [--log-level LEVEL]
 *
 * Logs to stderr (or the journal/syslog, see idm_log_open). SIGHUP reads
 * the config file again and applies what changed (targets, LUNs, ACLs,
 * CHAP accounts). SIGTERM or SIGINT closes every session, flushes every
 * store and exits 0. A configuration that cannot be served gets one error
 * line and exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifdef IDM_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "idm/auth.h"
#include "idm/idm.h"
#include "idm/target.h"

/* Tell systemd (Type=notify) where idmd is; nothing outside systemd. */
#ifdef IDM_HAVE_SYSTEMD
#define NOTIFY(...) sd_notifyf(0, __VA_ARGS__)
#else
#define NOTIFY(...) ((void)0)
#endif

#define IDMD_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: idmd --portal ADDR[:PORT] --target IQN --lun SPEC [--lun SPEC ...]\n"
		"            [--alias NAME] [--reactors N] [--state-dir DIR]\n"
	        "            [--acl INITIATOR_IQN ...] [--chap USER:SECRET [--mutual-chap "
	        "USER:SECRET]]\n"
		"       idmd --config FILE.json\n"
	        "  both: [--control-socket PATH] (default " IDM_CONTROL_SOCKET ")\n"
	        "        [--log-level error|warn|info|debug]\n"
		"SPEC: mem:SIZE | null:SIZE | file:PATH:SIZE | file:PATH (LUNs numbered from 0)\n"
		"ADDR: IPv4 address, or IPv6 in brackets ([::1]:3260); PORT defaults to 3260\n"
		"--acl: initiators allowed to log in (default: any); --chap: the initiator's\n"
		"CHAP credentials; --mutual-chap: the target's, for mutual CHAP\n");
}

/* "127.0.0.1:3260", "[::1]:3260", "::1", "127.0.0.1" -> addr + port. */
static int parse_portal(const char *s, struct idm_portal_conf *p)
{
	const char *colon, *host = s;
	size_t hostlen;
	char *end;
	long port = 3260;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close) {
			return -EINVAL;
		}
		host = s + 1;
		hostlen = (size_t)(close - host);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != '\0' && !colon) {
			return -EINVAL;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon) {
			colon = NULL; /* bare IPv6 address without a port */
		}
		hostlen = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (colon) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end != '\0' || port < 1 || port > 65535) {
			return -EINVAL;
		}
	}
	if (hostlen == 0 || hostlen >= sizeof(p->addr)) {
		return -EINVAL;
	}
	memcpy(p->addr, host, hostlen);
	p->addr[hostlen] = '\0';
	p->port = (uint16_t)port;
	p->tpgt = 1;
	return 0;
}

static int add_lun(struct idm_target_conf *t, const char *spec)
{
	struct idm_lun_conf *l;

	if (t->nluns >= IDM_MAX_LUNS_PER_TARGET || strlen(spec) >= sizeof(l->spec)) {
		return -EINVAL;
	}
	l = &t->luns[t->nluns];
	l->lun = t->nluns;
	l->block_size = 512;
	snprintf(l->spec, sizeof(l->spec), "%s", spec);
	t->nluns++;
	return 0;
}

enum {
	OPT_ALIAS = 256,
	OPT_STATE_DIR,
	OPT_ACL,
	OPT_CHAP,
	OPT_MUTUAL_CHAP,
	OPT_CONTROL_SOCKET,
	OPT_LOG_LEVEL
};

/* The --config file, read again on SIGHUP. */
static const char *config_path;
/* A control socket was named (config or --control-socket), not defaulted. */
static bool control_socket_given;

/* Options for either mode; they override the config file's keys. */
struct ops_opts {
	const char *control_socket;
	const char *log_level;
};

/* The quick-mode CHAP options, applied once all are read. */
struct quick_chap {
	const char *chap;   /* "USER:SECRET" */
	const char *mutual; /* "USER:SECRET" */
};

static int add_acl(struct idm_target_conf *t, const char *iqn)
{
	if (t->nacl >= IDM_MAX_ACL || strlen(iqn) == 0 || strlen(iqn) >= sizeof(t->acl[0])) {
		return -EINVAL;
	}
	snprintf(t->acl[t->nacl++], sizeof(t->acl[0]), "%s", iqn);
	return 0;
}

/* Split "USER:SECRET" at the first colon (a secret may hold colons). */
static int split_cred(const char *arg, char *user, size_t cap, const char **secret)
{
	const char *colon = strchr(arg, ':');

	if (!colon || colon == arg || (size_t)(colon - arg) >= cap || colon[1] == '\0') {
		return -EINVAL;
	}
	memcpy(user, arg, (size_t)(colon - arg));
	user[colon - arg] = '\0';
	*secret = colon + 1;
	return 0;
}

/* --chap / --mutual-chap into the target's account; 0, or 1 after printing
 * why (never the secret). */
static int apply_chap(struct idm_target_conf *t, const struct quick_chap *q)
{
	char user[IDM_CHAP_USER_MAX], tuser[IDM_CHAP_USER_MAX];
	const char *secret, *tsecret = NULL;

	if (!q->chap) {
		if (q->mutual) {
			fprintf(stderr, "idmd: --mutual-chap needs --chap\n");
			return 1;
		}
		return 0;
	}
	if (split_cred(q->chap, user, sizeof(user), &secret) != 0 ||
	    (q->mutual && split_cred(q->mutual, tuser, sizeof(tuser), &tsecret) != 0)) {
		fprintf(stderr, "idmd: --chap and --mutual-chap take USER:SECRET\n");
		return 1;
	}
	if (idm_chap_account_set(&t->chap, user, secret, q->mutual ? tuser : NULL, tsecret) != 0) {
		fprintf(stderr, "idmd: bad CHAP credentials (secrets 1-255 bytes, and the target's "
				"must differ from the initiator's)\n");
		return 1;
	}
	t->has_chap = true;
	return 0;
}

static void warn_weak(const char *what, const char *name, const struct idm_chap_account *a)
{
	if (idm_chap_account_weak(a)) {
		idm_log("idmd", "warning: %s%s%s: a CHAP secret is shorter than %d bytes (weak)",
			what, name ? " " : "", name ? name : "", IDM_CHAP_SECRET_MIN_GOOD);
	}
}

/* RFC 7143 section 12.1.3 asks for secrets of 12 bytes or more. */
static void warn_weak_secrets(const struct idm_target_conf_all *conf)
{
	for (unsigned i = 0; i < conf->ntargets; i++) {
		if (conf->targets[i].has_chap) {
			warn_weak("target", conf->targets[i].iqn, &conf->targets[i].chap);
		}
	}
	if (conf->discovery.has_chap) {
		warn_weak("discovery", NULL, &conf->discovery.chap);
	}
}

/* --control-socket / --log-level over the config's values; 0 or 1. */
static int apply_ops(struct idm_target_conf_all *conf, const struct ops_opts *o)
{
	enum idm_log_level level;

	if (o->control_socket) {
		if (strlen(o->control_socket) >= sizeof(conf->control_socket)) {
			fprintf(stderr, "idmd: control socket path too long\n");
			return 1;
		}
		snprintf(conf->control_socket, sizeof(conf->control_socket), "%s",
		         o->control_socket);
	}
	if (o->log_level) {
		if (idm_log_level_parse(o->log_level, &level) != 0) {
			fprintf(stderr, "idmd: bad log level \"%s\" (error, warn, info, debug)\n",
			        o->log_level);
			return 1;
		}
		snprintf(conf->log_level, sizeof(conf->log_level), "%s", o->log_level);
	}
	control_socket_given = conf->control_socket[0] != '\0';
	if (!conf->control_socket[0]) {
		snprintf(conf->control_socket, sizeof(conf->control_socket), "%s",
		         IDM_CONTROL_SOCKET);
	}
	if (conf->log_level[0] && idm_log_level_parse(conf->log_level, &level) == 0) {
		idm_log_set_level(level);
	}
	return 0;
}

/* Apply one command-line option to the configuration; 0, or 1 after printing why. */
static int apply_option(int opt, const char *arg, struct idm_target_conf_all *conf,
                        const char **config, struct quick_chap *q, struct ops_opts *o)
{
	struct idm_target_conf *t = &conf->targets[0];
	char *end;

	switch (opt) {
	case OPT_CONTROL_SOCKET:
		o->control_socket = arg;
		return 0;
	case OPT_LOG_LEVEL:
		o->log_level = arg;
		return 0;
	case 'p':
		if (conf->nportals >= IDM_MAX_PORTALS ||
		    parse_portal(arg, &conf->portals[conf->nportals]) != 0) {
			fprintf(stderr, "idmd: bad portal \"%s\" (ADDR[:PORT])\n", arg);
			return 1;
		}
		conf->nportals++;
		return 0;
	case 't':
		if (strlen(arg) == 0 || strlen(arg) >= sizeof(t->iqn)) {
			fprintf(stderr, "idmd: bad target name \"%s\"\n", arg);
			return 1;
		}
		snprintf(t->iqn, sizeof(t->iqn), "%s", arg);
		return 0;
	case OPT_ALIAS:
		snprintf(t->alias, sizeof(t->alias), "%s", arg);
		return 0;
	case 'l':
		if (add_lun(t, arg) != 0) {
			fprintf(stderr, "idmd: cannot add LUN \"%s\"\n", arg);
			return 1;
		}
		return 0;
	case 'c':
		*config = arg;
		config_path = arg;
		return 0;
	case OPT_ACL:
		if (add_acl(t, arg) != 0) {
			fprintf(stderr, "idmd: bad or too many --acl \"%s\" (at most %d)\n", arg,
				IDM_MAX_ACL);
			return 1;
		}
		return 0;
	case OPT_CHAP:
		q->chap = arg;
		return 0;
	case OPT_MUTUAL_CHAP:
		q->mutual = arg;
		return 0;
	case OPT_STATE_DIR:
		if (strlen(arg) == 0 || strlen(arg) >= sizeof(conf->state_dir)) {
			fprintf(stderr, "idmd: bad state directory \"%s\"\n", arg);
			return 1;
		}
		snprintf(conf->state_dir, sizeof(conf->state_dir), "%s", arg);
		return 0;
	case 'r':
		conf->nreactors = (unsigned)strtoul(arg, &end, 10);
		if (*end != '\0' || conf->nreactors > 256) {
			fprintf(stderr, "idmd: bad reactor count \"%s\"\n", arg);
			return 1;
		}
		return 0;
	case 'h':
		usage(stdout);
		exit(0);
	case 'V':
		printf("idmd %s\n", IDMD_VERSION);
		exit(0);
	default:
		usage(stderr);
		return 1;
	}
}

/* The configuration is complete: from --config, or from the quick options. */
static int finish_config(struct idm_target_conf_all *conf, const char *config,
			 const struct quick_chap *q)
{
	struct idm_target_conf *t = &conf->targets[0];
	char err[512];

	if (config) {
		if (conf->nportals || t->iqn[0] || t->nluns || t->nacl || q->chap || q->mutual) {
			fprintf(stderr, "idmd: --config excludes --portal, --target, --lun, --acl "
					"and --chap\n");
			return 1;
		}
		if (idm_target_conf_load(config, conf, err, sizeof(err)) != 0) {
			fprintf(stderr, "idmd: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (conf->nportals == 0 || t->iqn[0] == '\0' || t->nluns == 0) {
		fprintf(stderr,
		        "idmd: need --portal, --target and at least one --lun (or --config)\n");
		usage(stderr);
		return 1;
	}
	conf->ntargets = 1;
	return apply_chap(t, q);
}

/* Build the configuration from the command line; 0, or 1 after printing why. */
static int parse_args(int argc, char **argv, struct idm_target_conf_all *conf)
{
	static const struct option opts[] = {
	    {"portal", required_argument, NULL, 'p'},
	    {"target", required_argument, NULL, 't'},
	    {"lun", required_argument, NULL, 'l'},
	    {"config", required_argument, NULL, 'c'},
	    {"reactors", required_argument, NULL, 'r'},
	    {"alias", required_argument, NULL, OPT_ALIAS},
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"acl", required_argument, NULL, OPT_ACL},
		{"chap", required_argument, NULL, OPT_CHAP},
		{"mutual-chap", required_argument, NULL, OPT_MUTUAL_CHAP},
	    {"control-socket", required_argument, NULL, OPT_CONTROL_SOCKET},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	struct quick_chap q = {NULL, NULL};
	struct ops_opts o = {NULL, NULL};
	int opt;

	while ((opt = getopt_long(argc, argv, "p:t:l:c:r:hV", opts, NULL)) != -1) {
		if (apply_option(opt, optarg, conf, &config, &q, &o) != 0) {
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "idmd: unexpected argument \"%s\"\n", argv[optind]);
		return 1;
	}
	if (finish_config(conf, config, &q) != 0) {
		return 1;
	}
	return apply_ops(conf, &o);
}

/* Block the stop signals in every thread; the main thread waits for them. */
static void block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Free the configuration, wiping the CHAP secrets it holds. */
static void conf_free(struct idm_target_conf_all *conf)
{
	idm_chap_account_clear(&conf->discovery.chap);
	for (unsigned i = 0; i < IDM_MAX_TARGETS; i++) {
		idm_chap_account_clear(&conf->targets[i].chap);
		for (unsigned a = 0; a < IDM_MAX_ACL; a++) {
			idm_chap_account_clear(&conf->targets[i].acl_chap[a].chap);
		}
	}
	free(conf);
}

/*
 * The control socket. One named in the config or on the command line must
 * be served; the default one may be out of reach (a non-root `make run`):
 * idmd then runs without it, saying so. A running idmd on it stops us.
 */
static int open_control(const struct idm_target_conf_all *conf, struct idm_ctl **ctl)
{
	char err[512];
	int rc = idm_ctl_open(conf->control_socket, ctl, err, sizeof(err));

	if (rc == 0) {
		return 0;
	}
	if (control_socket_given || rc == -EADDRINUSE ||
	    idm_ctl_open(NULL, ctl, err, sizeof(err)) != 0) {
		fprintf(stderr, "idmd: %s\n", err);
		return 1;
	}
	idm_log("idmd", "warning: no control socket (%s): idmadm cannot reach this idmd", err);
	return 0;
}

/* SIGHUP: the config file again, its difference applied; a file that
 * does not load changes nothing. */
static void reload(struct idm_ctl *ctl)
{
	struct idm_target_conf_all *next;
	enum idm_log_level level;
	char err[512];

	if (!config_path) {
		idm_log("idmd", "SIGHUP: started without --config, nothing to reload");
		return;
	}
	NOTIFY("RELOADING=1");
	next = calloc(1, sizeof(*next));
	if (!next) {
		idm_log_at(IDM_LOG_ERROR, "idmd", "reload: out of memory; nothing changed");
		return;
	}
	idm_target_conf_init(next);
	if (idm_target_conf_load(config_path, next, err, sizeof(err)) != 0) {
		idm_log_at(IDM_LOG_ERROR, "idmd", "reload: %s; nothing changed", err);
	} else if (idm_ctl_reload(ctl, next, err, sizeof(err)) != 0) {
		idm_log_at(IDM_LOG_ERROR, "idmd", "reload: %s", err);
	} else {
		if (next->log_level[0] && idm_log_level_parse(next->log_level, &level) == 0) {
			idm_log_set_level(level);
		}
		idm_log("idmd", "reloaded %s", config_path);
	}
	conf_free(next);
	NOTIFY("READY=1");
}

/* Descriptors idmd holds besides its connections: listeners, epoll and
 * event descriptors of the reactors, stores, io_uring rings, control and
 * metrics sockets. */
#define IDMD_FDS_RESERVED 128

/* The kernel's ceiling for RLIMIT_NOFILE (fs.nr_open), or 0. */
static rlim_t nr_open(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1) {
			v = 0;
		}
		fclose(f);
	}
	return (rlim_t)v;
}

/*
 * One descriptor per connection: the usual soft limit of 1024 would stop
 * idmd near 1,000 connections while the hard limit allows far more. Raise
 * the soft limit to the hard one (what that holds is said once idmd
 * serves: a refusal to start stays one line).
 */
static void raise_fd_limit(struct rlimit *out)
{
	struct rlimit rl, raised;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		idm_log("idmd", "warning: getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;

		if (want == RLIM_INFINITY && nr_open() > 0) {
			want = nr_open(); /* an infinite soft limit is refused */
		}
		raised = (struct rlimit){.rlim_cur = want, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
			rl.rlim_cur = want;
		} else {
			idm_log("idmd", "warning: cannot raise the open file limit to %llu: %s",
			        (unsigned long long)want, strerror(errno));
		}
	}
	*out = rl;
}

/* How many connections the open file limit holds, against max_connections. */
static void say_fd_room(const struct rlimit *rl, const struct idm_target_tunables *tun)
{
	unsigned long long room;

	if (rl->rlim_cur == 0) {
		return; /* unknown: getrlimit failed, said already */
	}
	room = rl->rlim_cur > IDMD_FDS_RESERVED ? (unsigned long long)rl->rlim_cur - IDMD_FDS_RESERVED
	                                        : 0;
	idm_log("idmd",
	        "open file limit %llu: room for about %llu connections (max_connections %u)",
	        (unsigned long long)rl->rlim_cur, room, tun->max_connections);
	if (room < tun->max_connections) {
		idm_log("idmd",
		        "warning: max_connections %u is above what the open file limit holds: "
		        "connections past about %llu are refused at accept",
		        tun->max_connections, room);
	}
}

int main(int argc, char **argv)
{
	struct idm_target_conf_all *conf;
	struct idm_server *srv;
	struct idm_ctl *ctl;
	struct rlimit fd_limit = {0};
	sigset_t stop;
	char err[512];
	int sig = 0;

	conf = calloc(1, sizeof(*conf));
	if (!conf) {
		fprintf(stderr, "idmd: out of memory\n");
		return 1;
	}
	idm_target_conf_init(conf);
	if (parse_args(argc, argv, conf) != 0) {
		conf_free(conf);
		return 1;
	}
	idm_log_open("idmd");
	raise_fd_limit(&fd_limit);
	warn_weak_secrets(conf);
	block_stop_signals(&stop);
	if (open_control(conf, &ctl) != 0) {
		conf_free(conf);
		return 1;
	}
	if (idm_server_start(conf, &srv, err, sizeof(err)) != 0 ||
	    idm_ctl_serve(ctl, srv, &(struct idm_ctl_opts){IDMD_VERSION, config_path, conf->metrics_listen}, err,
	                  sizeof(err)) != 0) {
		fprintf(stderr, "idmd: %s\n", err);
		idm_ctl_close(ctl);
		idm_server_stop(srv);
		conf_free(conf);
		return 1;
	}
	say_fd_room(&fd_limit, &conf->tun);
	idm_log("idmd", "serving %u target(s) on %u portal(s)", conf->ntargets, conf->nportals);
	NOTIFY("READY=1\nSTATUS=serving %u target(s) on %u portal(s)", conf->ntargets,
	       conf->nportals);
	while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) {
		reload(ctl);
	}
	idm_log("idmd", "%s: closing sessions and flushing stores", strsignal(sig));
	NOTIFY("STOPPING=1");
	idm_ctl_close(ctl);
	idm_server_stop(srv);
	conf_free(conf);
	idm_log("idmd", "stopped");
	return 0;
}
