/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * APTPL: the registrations and the reservation of a LU survive a restart
 * in a small text file, one per LU, in the state directory:
 *
 *   idm-pr 1
 *   generation <n>
 *   reservation <type> <index of the holder's reg line, or -1>
 *   reg <key hex> <relative port> <initiator port> <target port>
 *
 * The port names come from the network: every byte outside '!'..'~',
 * and '%', is written as %XX, so a name cannot end its line or field.
 * Loading is strict: a line that does not parse, a bad escape, a
 * duplicate registration or an impossible reservation refuses the whole
 * file with an error naming the file and the line (a daemon must not
 * come up having silently dropped a reservation).
 *
 * Written to a temporary file, fsynced, renamed over the old one and the
 * directory fsynced, so a crash leaves the old or the new state whole.
 *
 * The record the gateways of a shared store keep in the cluster
 * (pr_share.c) is the same text through the same strict parser, with
 * these lines too (each at most once but `ua`, anywhere after the magic):
 *
 *   aptpl <0|1>
 *   serial <n>          changes made to the record so far (< 2^63: it
 *                       only grows, and never wraps)
 *   spc2 <initiator port> <target port>      the SPC-2 reservation holder
 *   ua <serial> <asc hex> <a|-> <initiator port> <target port>
 *
 * A `ua` line is a unit attention change <serial> raised for a nexus
 * (REGISTRATIONS PREEMPTED, RESERVATIONS PREEMPTED or RELEASED): the
 * gateway serving that nexus queues it, and with `a` (a PREEMPT AND
 * ABORT preempted it) aborts its tasks.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pr_int.h"

#define PR_STATE_MAGIC "idm-pr 1"
/* PR_STATE_LINE_MAX (pr_int.h): a reg or ua line is a keyword, two
 * numbers and two names of up to 255 bytes, each byte escaped to at
 * most 3 characters. */
#define PR_STATE_FIELDS_MAX 6

/* Keep the name portable: letters, digits, '.', '-'; the rest '_'. */
static void sanitize(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < cap; i++) {
		char c = src[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '-';

		dst[i] = ok ? c : '_';
	}
	dst[i] = '\0';
}

/* Can APTPL state be written under `dir`? It exists and is writable, or
 * it does not exist yet and its parent is (the first save creates it,
 * so a daemon that never sees APTPL leaves no directory behind). */
static bool dir_usable(const char *dir)
{
	char parent[PATH_MAX];
	char *slash;

	if (access(dir, W_OK | X_OK) == 0) {
		return true;
	}
	if (errno != ENOENT) {
		return false;
	}
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (!slash) {
		return access(".", W_OK | X_OK) == 0;
	}
	*slash = '\0';
	return access(parent[0] ? parent : "/", W_OK | X_OK) == 0;
}

/* Create the directory of `path` if it is missing (one level). */
static int make_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		return 0;
	}
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

int scsi_lu_set_state_dir(struct scsi_lu *lu, const char *dir, char *why, size_t whylen)
{
	struct scsi_pr *pr = lu->pr;
	char name[sizeof(lu->target_name)];
	int n, rc;

	if (!dir || !dir[0]) {
		return 0;
	}
	sanitize(name, sizeof(name), lu->target_name);
	pthread_mutex_lock(&pr->lock);
	n = snprintf(pr->path, sizeof(pr->path), "%s/pr-%s-lun%llu.state", dir, name,
	             (unsigned long long)lu->lun);
	if (n < 0 || (size_t)n >= sizeof(pr->path)) {
		pr->path[0] = '\0';
		pthread_mutex_unlock(&pr->lock);
		if (why && whylen) {
			snprintf(why, whylen, "%s: state file name too long", dir);
		}
		return -ENAMETOOLONG;
	}
	pr->can_persist = dir_usable(dir);
	rc = pr_state_load(pr, why, whylen);
	pr_publish(lu);
	pthread_mutex_unlock(&pr->lock);
	return rc == -ENOENT ? 0 : rc;
}

/* The text being formatted: bounded, `full` once it did not fit. */
struct text_out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void out_printf(struct text_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(struct text_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* A name as one field: %XX for every byte outside '!'..'~' and for '%'. */
static void out_name(struct text_out *o, const char *name)
{
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		if (*c <= ' ' || *c > '~' || *c == '%') {
			out_printf(o, "%%%02X", *c);
		} else {
			out_printf(o, "%c", *c);
		}
	}
}

static void out_port(struct text_out *o, const struct pr_port *p)
{
	out_name(o, p->iport);
	out_printf(o, " ");
	out_name(o, p->tport);
	out_printf(o, "\n");
}

/* The lines only the shared record has. */
static void format_shared(struct text_out *o, const struct scsi_pr *pr)
{
	out_printf(o, "aptpl %d\nserial %" PRIu64 "\n", pr->aptpl ? 1 : 0, pr->serial);
	if (pr->r2_held) {
		out_printf(o, "spc2 ");
		out_port(o, &pr->r2_port);
	}
	for (int i = 0; i < PR_MAX_UAS; i++) {
		const struct pr_ua *u = &pr->uas[i];

		if (u->used) {
			out_printf(o, "ua %" PRIu64 " %04x %c ", u->serial, u->asc,
			           u->abort ? 'a' : '-');
			out_port(o, &u->port);
		}
	}
}

int pr_state_format(const struct scsi_pr *pr, bool shared, char *buf, size_t cap, size_t *len)
{
	struct text_out o = {.buf = buf, .cap = cap};
	int holder_line = -1, line = 0;

	out_printf(&o, "%s\ngeneration %" PRIu32 "\n", PR_STATE_MAGIC, pr->generation);
	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (pr->regs[i].used && i == pr->holder) {
			holder_line = line;
		}
		line += pr->regs[i].used;
	}
	out_printf(&o, "reservation %u %d\n", pr->type, holder_line);
	for (int i = 0; i < PR_MAX_REGS; i++) {
		const struct pr_reg *r = &pr->regs[i];

		if (r->used) {
			out_printf(&o, "reg %016" PRIx64 " %u ", r->key, r->rel_port);
			out_port(&o, &r->port);
		}
	}
	if (shared) {
		format_shared(&o, pr);
	}
	if (o.full) {
		return -ENOSPC;
	}
	*len = o.len;
	return 0;
}

static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash) {
		return;
	}
	*slash = '\0';
	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int pr_state_save(struct scsi_pr *pr)
{
	char tmp[PATH_MAX + 8];
	size_t len;
	char *text;
	FILE *f;
	int rc;

	rc = make_dir_of(pr->path);
	if (rc) {
		return rc;
	}
	text = malloc(PR_RECORD_MAX);
	if (!text) {
		return -ENOMEM;
	}
	rc = pr_state_format(pr, false, text, PR_RECORD_MAX, &len);
	if (rc) {
		free(text);
		return rc;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", pr->path);
	f = fopen(tmp, "w");
	if (!f) {
		rc = -errno;
		free(text);
		return rc;
	}
	rc = fwrite(text, 1, len, f) == len ? 0 : -EIO;
	free(text);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = -errno;
	}
	if (fclose(f) != 0 && rc == 0) {
		rc = -EIO;
	}
	if (rc == 0 && rename(tmp, pr->path) != 0) {
		rc = -errno;
	}
	if (rc) {
		unlink(tmp);
		return rc;
	}
	sync_dir(pr->path);
	return 0;
}

void pr_state_remove(struct scsi_pr *pr)
{
	if (unlink(pr->path) == 0) {
		sync_dir(pr->path);
	}
}

/* Where the parser is, for its error messages. */
struct state_reader {
	const char *path;
	unsigned line;
	char *why;
	size_t whylen;
};

/* Say what is wrong with the current line; returns -EINVAL. */
static int bad_line(const struct state_reader *rd, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rd->why && rd->whylen) {
		snprintf(rd->why, rd->whylen, "%s:%u: %s", rd->path, rd->line, what);
	}
	return -EINVAL;
}

/* Split `line` at single spaces into at most `max` fields; the count,
 * or -1 for an empty field or too many. */
static int split_fields(char *line, char **field, int max)
{
	int n = 0;

	for (char *p = line;; p++) {
		char *sp = strchr(p, ' ');

		if (n == max || *p == '\0' || *p == ' ') {
			return -1;
		}
		field[n++] = p;
		if (!sp) {
			return n;
		}
		*sp = '\0';
		p = sp;
	}
}

/* An unsigned number in `base` with nothing around it, at most `max`. */
static bool parse_number(const char *s, int base, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!((*s >= '0' && *s <= '9') || (base == 16 && strchr("abcdefABCDEF", *s)))) {
		return false;
	}
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end != '\0' || v > max) {
		return false;
	}
	*out = v;
	return true;
}

/* Undo put_name() into dst (cap bytes); false when malformed. */
static bool parse_name(const char *s, char *dst, size_t cap)
{
	size_t n = 0;

	for (; *s; s++) {
		int c = (unsigned char)*s;

		if (c == '%') {
			char hex[3] = {s[1], s[1] ? s[2] : '\0', '\0'};

			if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1])) {
				return false;
			}
			c = (int)strtoul(hex, NULL, 16);
			if (c == 0) {
				return false; /* a NUL would cut the name */
			}
			s += 2;
		} else if (c <= ' ' || c > '~') {
			return false;
		}
		if (n + 1 >= cap) {
			return false;
		}
		dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return n > 0;
}

/* What the text says, before it is accepted. */
struct state_file {
	bool shared; /* the cluster record: its own lines are allowed */
	bool has_generation, has_reservation, has_aptpl, has_serial;
	unsigned reservation_line;
	uint64_t generation, type, aptpl, serial;
	int64_t holder;
	int count;
	struct pr_reg regs[PR_MAX_REGS];
	bool r2_held;
	struct pr_port r2_port;
	int ua_count;
	struct pr_ua uas[PR_MAX_UAS];
};

static int load_reg(const struct state_reader *rd, struct state_file *st, char **f, int n)
{
	struct pr_reg *r;
	uint64_t port;

	if (n != 5) {
		return bad_line(rd, "a reg line has 4 fields");
	}
	if (st->count == PR_MAX_REGS) {
		return bad_line(rd, "more than %d registrations", PR_MAX_REGS);
	}
	r = &st->regs[st->count];
	if (strlen(f[1]) > 16 || !parse_number(f[1], 16, UINT64_MAX, &r->key)) {
		return bad_line(rd, "bad reservation key '%.20s'", f[1]);
	}
	if (!parse_number(f[2], 10, 0xffff, &port)) {
		return bad_line(rd, "bad relative port '%.20s'", f[2]);
	}
	r->rel_port = (uint16_t)port;
	if (!parse_name(f[3], r->port.iport, sizeof(r->port.iport)) ||
	    !parse_name(f[4], r->port.tport, sizeof(r->port.tport))) {
		return bad_line(rd, "bad port name");
	}
	for (int i = 0; i < st->count; i++) {
		if (strcmp(st->regs[i].port.iport, r->port.iport) == 0 &&
		    strcmp(st->regs[i].port.tport, r->port.tport) == 0) {
			return bad_line(rd, "the nexus of line %d is registered twice",
			                i + 1); /* reg lines counted from 1 */
		}
	}
	r->used = true;
	st->count++;
	return 0;
}

static bool parse_port(char *iport, char *tport, struct pr_port *p)
{
	return parse_name(iport, p->iport, sizeof(p->iport)) &&
	       parse_name(tport, p->tport, sizeof(p->tport));
}

static bool ua_known(uint64_t asc)
{
	return asc == SCSI_ASC_REGISTRATIONS_PREEMPTED || asc == SCSI_ASC_RESERVATIONS_PREEMPTED ||
	       asc == SCSI_ASC_RESERVATIONS_RELEASED;
}

static int load_ua(const struct state_reader *rd, struct state_file *st, char **f, int n)
{
	struct pr_ua *u;
	uint64_t asc;

	if (n != 6) {
		return bad_line(rd, "a ua line has 5 fields");
	}
	if (st->ua_count == PR_MAX_UAS) {
		return bad_line(rd, "more than %d unit attentions", PR_MAX_UAS);
	}
	u = &st->uas[st->ua_count];
	if (!parse_number(f[1], 10, INT64_MAX, &u->serial)) {
		return bad_line(rd, "bad serial '%.20s'", f[1]);
	}
	if (strlen(f[2]) != 4 || !parse_number(f[2], 16, 0xffff, &asc) || !ua_known(asc)) {
		return bad_line(rd, "bad unit attention '%.20s'", f[2]);
	}
	u->asc = (uint16_t)asc;
	if (strcmp(f[3], "a") != 0 && strcmp(f[3], "-") != 0) {
		return bad_line(rd, "bad abort flag '%.20s'", f[3]);
	}
	u->abort = f[3][0] == 'a';
	if (u->abort && asc != SCSI_ASC_REGISTRATIONS_PREEMPTED) {
		return bad_line(rd, "an abort without a preemption");
	}
	if (!parse_port(f[4], f[5], &u->port)) {
		return bad_line(rd, "bad port name");
	}
	u->used = true;
	st->ua_count++;
	return 0;
}

/* The lines only the cluster record has. */
static int parse_shared_line(const struct state_reader *rd, struct state_file *st, char **f, int n)
{
	if (strcmp(f[0], "aptpl") == 0) {
		if (n != 2 || st->has_aptpl || !parse_number(f[1], 10, 1, &st->aptpl)) {
			return bad_line(rd, "bad aptpl line");
		}
		st->has_aptpl = true;
		return 0;
	}
	if (strcmp(f[0], "serial") == 0) {
		if (n != 2 || st->has_serial || !parse_number(f[1], 10, INT64_MAX, &st->serial)) {
			return bad_line(rd, "bad serial line");
		}
		st->has_serial = true;
		return 0;
	}
	if (strcmp(f[0], "spc2") == 0) {
		if (n != 3 || st->r2_held || !parse_port(f[1], f[2], &st->r2_port)) {
			return bad_line(rd, "bad spc2 line");
		}
		st->r2_held = true;
		return 0;
	}
	if (strcmp(f[0], "ua") == 0) {
		return load_ua(rd, st, f, n);
	}
	return bad_line(rd, "unknown line '%.20s'", f[0]);
}

/* One line after the magic, its newline removed. */
static int parse_line(const struct state_reader *rd, struct state_file *st, char *line)
{
	char *f[PR_STATE_FIELDS_MAX];
	int n = split_fields(line, f, PR_STATE_FIELDS_MAX);
	uint64_t holder;

	if (n < 0) {
		return bad_line(rd, "not a state line");
	}
	if (strcmp(f[0], "generation") == 0) {
		if (n != 2 || st->has_generation ||
		    !parse_number(f[1], 10, UINT32_MAX, &st->generation)) {
			return bad_line(rd, "bad generation line");
		}
		st->has_generation = true;
		return 0;
	}
	if (strcmp(f[0], "reservation") == 0) {
		if (n != 3 || st->has_reservation || !parse_number(f[1], 10, 15, &st->type)) {
			return bad_line(rd, "bad reservation line");
		}
		if (strcmp(f[2], "-1") == 0) {
			st->holder = -1;
		} else if (parse_number(f[2], 10, PR_MAX_REGS, &holder)) {
			st->holder = (int64_t)holder;
		} else {
			return bad_line(rd, "bad reservation holder '%.20s'", f[2]);
		}
		st->has_reservation = true;
		st->reservation_line = rd->line;
		return 0;
	}
	if (strcmp(f[0], "reg") == 0) {
		return load_reg(rd, st, f, n);
	}
	if (st->shared) {
		return parse_shared_line(rd, st, f, n);
	}
	return bad_line(rd, "unknown line '%.20s'", f[0]);
}

static bool type_known(uint64_t type)
{
	return type == PR_TYPE_NONE || type == PR_TYPE_WE || type == PR_TYPE_EA ||
	       type == PR_TYPE_WE_RO || type == PR_TYPE_EA_RO || type == PR_TYPE_WE_AR ||
	       type == PR_TYPE_EA_AR;
}

/* The reservation must be one the type allows and name a registration. */
static int check_reservation(struct state_reader *rd, const struct state_file *st)
{
	bool all = st->type == PR_TYPE_WE_AR || st->type == PR_TYPE_EA_AR;

	rd->line = st->reservation_line;
	if (!type_known(st->type)) {
		return bad_line(rd, "unknown reservation type %u", (unsigned)st->type);
	}
	if (st->type == PR_TYPE_NONE || all) {
		if (st->holder != -1 || (all && st->count == 0)) {
			return bad_line(rd, "reservation type %u with holder %d",
			                (unsigned)st->type, (int)st->holder);
		}
		return 0;
	}
	if (st->holder < 0 || st->holder >= st->count) {
		return bad_line(rd, "the holder (%d) is not one of the %d registrations",
		                (int)st->holder, st->count);
	}
	return 0;
}

/* What only the cluster record must get right: an SPC-2 reservation
 * never stands beside registrations (SPC-4 5.13.3), and no unit
 * attention is from a change the record has not made. */
static int check_shared(struct state_reader *rd, const struct state_file *st)
{
	if (!st->has_aptpl || !st->has_serial) {
		return bad_line(rd, "the aptpl or serial line is missing");
	}
	if (st->r2_held && (st->count > 0 || st->type != PR_TYPE_NONE)) {
		return bad_line(rd, "an SPC-2 reservation beside persistent ones");
	}
	for (int i = 0; i < st->ua_count; i++) {
		if (st->uas[i].serial > st->serial) {
			return bad_line(rd, "a unit attention from change %" PRIu64 " of %" PRIu64,
			                st->uas[i].serial, st->serial);
		}
	}
	return 0;
}

static int parse(struct state_reader *rd, const char *text, size_t len, struct state_file *st)
{
	char line[PR_STATE_LINE_MAX];
	size_t off = 0;
	int rc;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

		rd->line++;
		if (!nl || n >= sizeof(line)) {
			return bad_line(rd, "line too long or not ended");
		}
		if (memchr(text + off, '\0', n)) {
			return bad_line(rd, "a NUL byte in the line");
		}
		memcpy(line, text + off, n);
		line[n] = '\0';
		off += n + 1;
		if (rd->line == 1) {
			if (strcmp(line, PR_STATE_MAGIC) != 0) {
				return bad_line(rd, "not an idm-pr 1 state file");
			}
			continue;
		}
		rc = parse_line(rd, st, line);
		if (rc) {
			return rc;
		}
	}
	if (rd->line == 0) {
		rd->line = 1;
		return bad_line(rd, "empty file");
	}
	rc = st->has_reservation ? check_reservation(rd, st) : 0;
	if (rc == 0 && st->shared) {
		rc = check_shared(rd, st);
	}
	return rc;
}

int pr_state_parse(const char *text, size_t len, const char *name, bool shared, struct scsi_pr *out,
                   char *why, size_t whylen)
{
	struct state_reader rd = {.path = name, .why = why, .whylen = whylen};
	struct state_file *st = calloc(1, sizeof(*st));
	int rc;

	if (!st) {
		return -ENOMEM;
	}
	st->holder = -1;
	st->shared = shared;
	rc = parse(&rd, text, len, st);
	/* All or nothing: a damaged text leaves the state clean, and the
	 * caller refuses it with the error. */
	memset(out->regs, 0, sizeof(out->regs));
	out->type = PR_TYPE_NONE;
	out->holder = -1;
	out->generation = 0;
	out->aptpl = false;
	if (shared) {
		out->r2_held = false;
		out->serial = 0;
		memset(out->uas, 0, sizeof(out->uas));
	}
	if (rc == 0) {
		memcpy(out->regs, st->regs, sizeof(st->regs));
		out->generation = (uint32_t)st->generation;
		out->type = (uint8_t)st->type;
		out->holder = (int)st->holder;
		out->aptpl = shared ? st->aptpl != 0 : true; /* a file exists for APTPL */
	}
	if (rc == 0 && shared) {
		out->r2_held = st->r2_held;
		out->r2_port = st->r2_port;
		out->serial = st->serial;
		memcpy(out->uas, st->uas, sizeof(st->uas));
	}
	free(st);
	return rc;
}

int pr_state_load(struct scsi_pr *pr, char *why, size_t whylen)
{
	FILE *f = fopen(pr->path, "r");
	char *text;
	size_t len;
	int rc;

	if (!f) {
		rc = -errno;
		if (rc != -ENOENT && why && whylen) {
			snprintf(why, whylen, "%s: %s", pr->path, strerror(-rc));
		}
		return rc;
	}
	text = malloc(PR_RECORD_MAX + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, PR_RECORD_MAX + 1, f);
	rc = ferror(f) ? -EIO : len > PR_RECORD_MAX ? -EFBIG : 0;
	fclose(f);
	if (rc) {
		if (why && whylen) {
			snprintf(why, whylen, "%s: %s", pr->path,
			         rc == -EIO ? "read error" : "larger than any state");
		}
		(void)pr_state_parse("", 0, pr->path, false, pr, NULL, 0); /* clean */
		free(text);
		return -EINVAL;
	}
	rc = pr_state_parse(text, len, pr->path, false, pr, why, whylen);
	free(text);
	return rc;
}
