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
 * Written to a temporary file, fsynced, renamed over the old one and the
 * directory fsynced, so a crash leaves the old or the new state whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pr_int.h"

#define PR_STATE_MAGIC "idm-pr 1"

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

int scsi_lu_set_state_dir(struct scsi_lu *lu, const char *dir)
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
		return -ENAMETOOLONG;
	}
	pr->can_persist = dir_usable(dir);
	rc = pr_state_load(pr);
	pr_publish(lu);
	pthread_mutex_unlock(&pr->lock);
	return rc == -ENOENT ? 0 : rc;
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
			fprintf(f, "reg %016" PRIx64 " %u %s %s\n", r->key, r->rel_port,
			        r->port.iport, r->port.tport);
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

/* One "reg" line into the next free registration; 0 or -EINVAL. */
static int load_reg(struct scsi_pr *pr, const char *line, int *count)
{
	struct pr_reg *r;
	uint64_t key;
	unsigned port;
	char ip[SCSI_PORT_NAME_MAX], tp[SCSI_PORT_NAME_MAX];

	if (*count >= PR_MAX_REGS ||
	    sscanf(line, "reg %" SCNx64 " %u %255s %255s", &key, &port, ip, tp) != 4 ||
	    port > 0xffff) {
		return -EINVAL;
	}
	r = &pr->regs[(*count)++];
	r->used = true;
	r->key = key;
	r->rel_port = (uint16_t)port;
	snprintf(r->port.iport, sizeof(r->port.iport), "%s", ip);
	snprintf(r->port.tport, sizeof(r->port.tport), "%s", tp);
	return 0;
}

static int parse(struct scsi_pr *pr, FILE *f)
{
	char line[3 * SCSI_PORT_NAME_MAX];
	unsigned type = 0;
	int holder = -1, count = 0;

	if (!fgets(line, sizeof(line), f) || strncmp(line, PR_STATE_MAGIC, 8) != 0) {
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "generation ", 11) == 0) {
			if (sscanf(line, "generation %" SCNu32, &pr->generation) != 1) {
				return -EINVAL;
			}
		} else if (strncmp(line, "reservation ", 12) == 0) {
			if (sscanf(line, "reservation %u %d", &type, &holder) != 2) {
				return -EINVAL;
			}
		} else if (load_reg(pr, line, &count) < 0) {
			return -EINVAL;
		}
	}
	if (type > 15 || holder >= count || (type && holder < 0 && type != 7 && type != 8)) {
		return -EINVAL;
	}
	pr->type = (uint8_t)type;
	pr->holder = type ? holder : -1;
	pr->aptpl = true;
	return 0;
}

int pr_state_load(struct scsi_pr *pr)
{
	FILE *f = fopen(pr->path, "r");
	int rc;

	if (!f) {
		return -errno;
	}
	rc = parse(pr, f);
	fclose(f);
	if (rc) {
		/* A damaged file: start clean rather than half loaded. */
		memset(pr->regs, 0, sizeof(pr->regs));
		pr->type = PR_TYPE_NONE;
		pr->holder = -1;
		pr->generation = 0;
		pr->aptpl = false;
	}
	return rc;
}
