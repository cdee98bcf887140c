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
/* A reg line: keyword, 16 hex digits, a port number and two names of
 * up to 255 bytes, each byte escaped to at most 3 characters. */
#define PR_STATE_LINE_MAX (32 + 2 * 3 * SCSI_PORT_NAME_MAX)
#define PR_STATE_FIELDS_MAX 5

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

/* A name as one field: %XX for every byte outside '!'..'~' and for '%'. */
static void put_name(FILE *f, const char *name)
{
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		if (*c <= ' ' || *c > '~' || *c == '%') {
			fprintf(f, "%%%02X", *c);
		} else {
			fputc(*c, f);
		}
	}
}

static int write_all(FILE *f, const struct scsi_pr *pr)
{
	int holder_line = -1, line = 0;

	fprintf(f, "%s\ngeneration %" PRIu32 "\n", PR_STATE_MAGIC, pr->generation);
	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (pr->regs[i].used && i == pr->holder) {
			holder_line = line;
		}
		line += pr->regs[i].used;
	}
	fprintf(f, "reservation %u %d\n", pr->type, holder_line);
	for (int i = 0; i < PR_MAX_REGS; i++) {
		const struct pr_reg *r = &pr->regs[i];

		if (r->used) {
			fprintf(f, "reg %016" PRIx64 " %u ", r->key, r->rel_port);
			put_name(f, r->port.iport);
			fputc(' ', f);
			put_name(f, r->port.tport);
			fputc('\n', f);
		}
	}
	return ferror(f) ? -EIO : 0;
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
	FILE *f;
	int rc;

	rc = make_dir_of(pr->path);
	if (rc) {
		return rc;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", pr->path);
	f = fopen(tmp, "w");
	if (!f) {
		return -errno;
	}
	rc = write_all(f, pr);
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

/* What the file says, before it is accepted. */
struct state_file {
	bool has_generation, has_reservation;
	unsigned reservation_line;
	uint64_t generation, type;
	int64_t holder;
	int count;
	struct pr_reg regs[PR_MAX_REGS];
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

static int parse(struct state_reader *rd, FILE *f, struct state_file *st)
{
	char line[PR_STATE_LINE_MAX];
	size_t len;
	int rc;

	while (fgets(line, sizeof(line), f)) {
		rd->line++;
		len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			return bad_line(rd, "line too long or not ended");
		}
		line[len - 1] = '\0';
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
	if (ferror(f)) {
		return bad_line(rd, "read error");
	}
	if (rd->line == 0) {
		rd->line = 1;
		return bad_line(rd, "empty file");
	}
	return st->has_reservation ? check_reservation(rd, st) : 0;
}

int pr_state_load(struct scsi_pr *pr, char *why, size_t whylen)
{
	struct state_reader rd = {.path = pr->path, .why = why, .whylen = whylen};
	struct state_file *st;
	FILE *f = fopen(pr->path, "r");
	int rc;

	if (!f) {
		rc = -errno;
		if (rc != -ENOENT && why && whylen) {
			snprintf(why, whylen, "%s: %s", pr->path, strerror(-rc));
		}
		return rc;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		fclose(f);
		return -ENOMEM;
	}
	st->holder = -1;
	rc = parse(&rd, f, st);
	fclose(f);
	/* All or nothing: a damaged file leaves the LU clean, and the
	 * caller refuses to start with the error. */
	memset(pr->regs, 0, sizeof(pr->regs));
	pr->type = PR_TYPE_NONE;
	pr->holder = -1;
	pr->generation = 0;
	pr->aptpl = false;
	if (rc == 0) {
		memcpy(pr->regs, st->regs, sizeof(st->regs));
		pr->generation = (uint32_t)st->generation;
		pr->type = (uint8_t)st->type;
		pr->holder = (int)st->holder;
		pr->aptpl = true;
	}
	free(st);
	return rc;
}
