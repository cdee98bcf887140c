/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rbd store's cluster ops (the gateway group) over a real Ceph
 * cluster: one image opened as two stores, each with its own client, as
 * two gateways would (t_rbd_cluster.sh).
 *
 *   rbd_cluster_check CONF ID KEYRING POOL/IMAGE check
 *       lock owner reports, cooperative moves, data intact, shared records
 *       (CAS, watch before the writer returns), medium id
 *   rbd_cluster_check CONF ID KEYRING POOL/IMAGE failover
 *       a child gateway takes the lock and is SIGKILLed: how long until
 *       gateway 1's write goes through and both report gateway 1
 *   rbd_cluster_check CONF ID KEYRING POOL/IMAGE nolock
 *       an image without the exclusive-lock feature: join refused
 *   rbd_cluster_check CONF ID KEYRING POOL/IMAGE hold   (the child)
 *
 * Prints one line per check, "FAIL ..." on a failure; exits 1 if any.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rados/librados.h>

#include "idm/backing.h"

#define BS 512u
#define WAIT_MS 10000u

extern char **environ;

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&t, NULL);
}

/* One gateway: its store and what its callbacks saw. */
struct gateway {
	struct idm_backing *b;
	uint16_t id;
	int owner;     /* atomic: the last on_owner, -1 before the first */
	int reports;   /* atomic */
	int changed;   /* atomic: changed() calls */
	uint64_t seen; /* atomic: the version changed() read */
};

static void on_owner(void *arg, uint16_t owner)
{
	struct gateway *g = arg;

	__atomic_store_n(&g->owner, owner, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&g->reports, 1, __ATOMIC_SEQ_CST);
}

/* As the PR code will: read the record again when told it changed. */
static void changed(void *arg)
{
	struct gateway *g = arg;
	char buf[256];
	size_t len;
	uint64_t v;

	if (g->b->cluster->record_read(g->b, "pr", buf, sizeof(buf), &len, &v) == 0) {
		__atomic_store_n(&g->seen, v, __ATOMIC_SEQ_CST);
	}
	__atomic_add_fetch(&g->changed, 1, __ATOMIC_SEQ_CST);
}

static int open_store(char **argv, struct idm_backing **b)
{
	struct idm_backing_options o = {
	    .ceph_conf = argv[1], .ceph_id = argv[2], .ceph_keyring = argv[3]};
	char spec[512], err[512];
	int rc;

	snprintf(spec, sizeof(spec), "rbd:%s", argv[4]);
	rc = idm_backing_open_opts(spec, BS, &o, b, err, sizeof(err));
	if (rc) {
		printf("FAIL open %s: %s\n", spec, err);
	}
	return rc;
}

static void io_done(struct idm_backing_io *io, int status)
{
	*(int *)io->arg = status;
}

/* A synchronous request (no reactor): its status. */
static int block_io(struct idm_backing *b, enum idm_backing_op op, uint64_t lba, uint8_t *buf)
{
	int status = -EINPROGRESS;
	struct idm_backing_io io = {
	    .op = op, .offset = lba * BS, .len = BS, .buf = buf, .done = io_done, .arg = &status};

	idm_backing_submit(b, &io, NULL);
	return status;
}

/* Wait until every gateway reports `owner`; the ms it took, or -1. */
static long wait_owner(struct gateway *g, int n, int owner)
{
	uint64_t start = now_ms();

	while (now_ms() - start < WAIT_MS) {
		int same = 0;

		for (int i = 0; i < n; i++) {
			same += __atomic_load_n(&g[i].owner, __ATOMIC_SEQ_CST) == owner;
		}
		if (same == n) {
			return (long)(now_ms() - start);
		}
		sleep_ms(10);
	}
	return -1;
}

struct take_wait {
	int rc; /* atomic; 1 until done */
};

static void take_done(void *arg, int rc)
{
	__atomic_store_n(&((struct take_wait *)arg)->rc, rc, __ATOMIC_SEQ_CST);
}

static int join_both(struct gateway *g)
{
	for (int i = 0; i < 2; i++) {
		int rc = g[i].b->cluster->gateway_join(g[i].b, g[i].id, on_owner, &g[i]);

		CHECK(rc == 0, "gateway_join %u: %d", g[i].id, rc);
		if (rc) {
			return rc;
		}
	}
	CHECK(g[0].b->cluster->gateway_join(g[0].b, 1, on_owner, &g[0]) == -EALREADY,
	      "a second join is refused");
	return 0;
}

/* The lock follows the writes; an explicit move loses nothing. */
static void check_lock(struct gateway *g)
{
	uint8_t a[BS], b[BS], r[BS];
	struct take_wait tw = {1};
	long ms;
	int rc;

	ms = wait_owner(g, 2, 0);
	CHECK(ms >= 0, "fresh image: both report no holder (got %d, %d)", g[0].owner, g[1].owner);
	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	rc = block_io(g[0].b, IDM_BACKING_WRITE, 0, a);
	CHECK(rc == 0, "write through gateway 1: %d", rc);
	ms = wait_owner(g, 2, 1);
	CHECK(ms >= 0, "after its write both report gateway 1 (got %d, %d)", g[0].owner,
	      g[1].owner);
	printf("write through gateway 1: both report holder 1 after %ld ms\n", ms);

	uint64_t t0 = now_ms();

	g[1].b->cluster->gateway_take(g[1].b, take_done, &tw);
	while (__atomic_load_n(&tw.rc, __ATOMIC_SEQ_CST) == 1 && now_ms() - t0 < WAIT_MS) {
		sleep_ms(1);
	}
	uint64_t take_ms = now_ms() - t0;

	CHECK(tw.rc == 0, "gateway_take on gateway 2: %d", tw.rc);
	/* done runs after on_owner: gateway 2 already knows */
	CHECK(g[1].owner == 2, "gateway 2 reports itself holder when take is done (%d)",
	      g[1].owner);
	ms = wait_owner(g, 2, 2);
	CHECK(ms >= 0, "after the move both report gateway 2 (got %d, %d)", g[0].owner, g[1].owner);
	printf("gateway_take on gateway 2: done %d after %llu ms, gateway 1 reports holder 2 %ld "
	       "ms later\n",
	       tw.rc, (unsigned long long)take_ms, ms);
	rc = block_io(g[1].b, IDM_BACKING_READ, 0, r);
	CHECK(rc == 0 && memcmp(r, a, BS) == 0, "block 0 intact after the move (%d)", rc);

	/* Cooperative: gateway 1's next write asks for the lock back. */
	rc = block_io(g[0].b, IDM_BACKING_WRITE, 8, b);
	CHECK(rc == 0, "gateway 1 writes while gateway 2 holds the lock: %d", rc);
	ms = wait_owner(g, 2, 1);
	CHECK(ms >= 0, "the write moved the lock back to 1 (got %d, %d)", g[0].owner, g[1].owner);
	rc = block_io(g[1].b, IDM_BACKING_READ, 0, r);
	CHECK(rc == 0 && memcmp(r, a, BS) == 0, "block 0 intact (%d)", rc);
	rc = block_io(g[1].b, IDM_BACKING_READ, 8, r);
	CHECK(rc == 0 && memcmp(r, b, BS) == 0, "block 8 as gateway 1 wrote it (%d)", rc);
	printf("cooperative: gateway 1's write went through, holder 1 again after %ld ms\n", ms);
}

struct racer {
	struct gateway *g;
	pthread_barrier_t *go;
	uint64_t expect, version;
	int rc;
};

static void *race_write(void *arg)
{
	struct racer *r = arg;
	char buf[32];

	snprintf(buf, sizeof(buf), "writer %u", r->g->id);
	pthread_barrier_wait(r->go);
	r->rc =
	    r->g->b->cluster->record_write(r->g->b, "pr", buf, strlen(buf), r->expect, &r->version);
	return NULL;
}

/* Two writers with the same expected version: one wins. */
static void check_record_race(struct gateway *g, uint64_t *version, int rounds)
{
	const struct idm_backing_cluster_ops *c = g[0].b->cluster;
	int wins[2] = {0, 0};

	for (int i = 0; i < rounds; i++) {
		pthread_barrier_t go;
		struct racer r[2] = {{&g[0], &go, *version, 0, 0}, {&g[1], &go, *version, 0, 0}};
		pthread_t t[2];
		char buf[64] = "";
		size_t len = 0;
		uint64_t v = 0;
		int rc;

		pthread_barrier_init(&go, NULL, 2);
		for (int k = 0; k < 2; k++) {
			pthread_create(&t[k], NULL, race_write, &r[k]);
		}
		for (int k = 0; k < 2; k++) {
			pthread_join(t[k], NULL);
		}
		pthread_barrier_destroy(&go);
		int w = r[0].rc == 0 ? 0 : 1;

		CHECK((r[0].rc == 0 && r[1].rc == -ECANCELED) ||
		          (r[1].rc == 0 && r[0].rc == -ECANCELED),
		      "round %d: exactly one writer wins (%d, %d)", i, r[0].rc, r[1].rc);
		rc = c->record_read(g[0].b, "pr", buf, sizeof(buf) - 1, &len, &v);
		buf[len] = '\0';
		CHECK(rc == 0 && v == *version + 1 && r[w].version == v &&
		          strcmp(buf + 7, w ? "2" : "1") == 0,
		      "round %d: the winner's record, version %llu (%d, '%s', %llu)", i,
		      (unsigned long long)(*version + 1), rc, buf, (unsigned long long)v);
		wins[w]++;
		*version = v;
	}
	printf("record CAS race: %d rounds, gateway 1 won %d, gateway 2 won %d, the other got "
	       "-ECANCELED each time\n",
	       rounds, wins[0], wins[1]);
}

static void check_records(struct gateway *g)
{
	const struct idm_backing_cluster_ops *c = g[0].b->cluster;
	char buf[128], small[2];
	size_t len = 99;
	uint64_t v = 99, v2;
	int rc;

	rc = c->record_read(g[0].b, "pr", buf, sizeof(buf), &len, &v);
	CHECK(rc == 0 && len == 0 && v == 0, "a record never written: empty, version 0 (%d)", rc);
	for (int i = 0; i < 2; i++) {
		rc = c->record_watch(g[i].b, "pr", changed, &g[i]);
		CHECK(rc == 0, "record_watch on gateway %u: %d", g[i].id, rc);
	}
	rc = c->record_write(g[0].b, "pr", "first", 5, 0, &v);
	/* No waiting: the other gateway acted before the write returned. */
	int seen = __atomic_load_n(&g[1].changed, __ATOMIC_SEQ_CST);
	uint64_t seen_v = __atomic_load_n(&g[1].seen, __ATOMIC_SEQ_CST);

	CHECK(rc == 0 && v == 1, "first write: version 1 (%d, %llu)", rc, (unsigned long long)v);
	CHECK(seen == 1 && seen_v == 1,
	      "gateway 2's changed() ran and read version 1 before the write returned (%d, %llu)",
	      seen, (unsigned long long)seen_v);
	CHECK(g[0].changed == 1, "the writer's own watch ran too (%d)", g[0].changed);
	rc = c->record_write(g[1].b, "pr", "second", 6, 1, &v);
	CHECK(rc == 0 && v == 2 && g[0].seen == 2,
	      "gateway 2 writes version 2, gateway 1 read it before that returned (%d, %llu)", rc,
	      (unsigned long long)g[0].seen);
	rc = c->record_write(g[0].b, "pr", "stale", 5, 0, &v2);
	CHECK(rc == -ECANCELED, "expect 0 on an existing record: -ECANCELED (%d)", rc);
	rc = c->record_write(g[0].b, "pr", "stale", 5, 1, &v2);
	CHECK(rc == -ECANCELED, "an old version: -ECANCELED (%d)", rc);
	rc = c->record_read(g[1].b, "pr", buf, sizeof(buf), &len, &v2);
	CHECK(rc == 0 && v2 == 2 && len == 6 && memcmp(buf, "second", 6) == 0,
	      "refused writes changed nothing (%d, %llu)", rc, (unsigned long long)v2);
	rc = c->record_read(g[1].b, "pr", small, sizeof(small), &len, &v2);
	CHECK(rc == -EOVERFLOW, "a buffer too small: -EOVERFLOW (%d)", rc);
	rc = c->record_write(g[0].b, "../x", "x", 1, 0, &v2);
	CHECK(rc == -EINVAL, "a key with '/': -EINVAL (%d)", rc);
	char *big = calloc(1, 256 * 1024 + 1);

	rc = big ? c->record_write(g[0].b, "pr", big, 256 * 1024 + 1, 2, &v2) : -ENOMEM;
	CHECK(rc == -EFBIG, "a record over 256 KiB: -EFBIG (%d)", rc);
	free(big);
	int before = g[1].changed;

	check_record_race(g, &v, 20);
	CHECK(g[1].changed - before >= 20, "gateway 2 told of every winning write (%d)",
	      g[1].changed - before);
}

/* A record no one watches: the first write creates it. */
static void check_record_create(struct gateway *g)
{
	const struct idm_backing_cluster_ops *c = g[0].b->cluster;
	uint64_t v = 0;
	int rc1 = c->record_write(g[0].b, "solo", "a", 1, 0, &v);
	int rc2 = c->record_write(g[1].b, "solo", "b", 1, 0, &v);

	CHECK(rc1 == 0 && rc2 == -ECANCELED && v == 1,
	      "an unwatched record: created by the first write, the second refused (%d, %d)", rc1,
	      rc2);
}

/* A second client of ours, as an administrator would use: reads the
 * gateway map, blocklists. */
struct admin {
	rados_t cluster;
	rados_ioctx_t ioctx;
	char map_oid[128];
};

static int admin_open(struct admin *a, char **argv, const char *medium)
{
	char pool[128];

	snprintf(pool, sizeof(pool), "%s", argv[4]);
	*strchrnul(pool, '/') = '\0';
	snprintf(a->map_oid, sizeof(a->map_oid), "idm.%s.gateways", medium);
	if (rados_create(&a->cluster, argv[2]) || rados_conf_read_file(a->cluster, argv[1]) ||
	    rados_conf_set(a->cluster, "keyring", argv[3]) || rados_connect(a->cluster) ||
	    rados_ioctx_create(a->cluster, pool, &a->ioctx)) {
		printf("FAIL the admin client cannot connect\n");
		return -1;
	}
	return 0;
}

static void admin_gateway_addr(struct admin *a, unsigned gw, char *addr, size_t cap)
{
	char name[16];
	int n;

	snprintf(name, sizeof(name), "gw.%u", gw);
	n = rados_getxattr(a->ioctx, a->map_oid, name, addr, cap - 1);
	addr[n > 0 ? n : 0] = '\0';
}

static int admin_blocklist(struct admin *a, const char *op, const char *addr)
{
	char cmd[256];
	const char *cmds[1] = {cmd};

	snprintf(cmd, sizeof(cmd),
	         "{\"prefix\": \"osd blocklist\", \"blocklistop\": \"%s\", \"addr\": \"%s\"}", op,
	         addr);
	return rados_mon_command(a->cluster, cmds, 1, NULL, 0, NULL, NULL, NULL, NULL);
}

/* Gateway 1's client is fenced off (blocklisted): its store opens the
 * image with a new client, publishes its new address and watches again,
 * so the others still know it and it still hears of record writes. */
static void check_blocklist(struct gateway *g, char **argv)
{
	struct admin a;
	char old_addr[128], new_addr[128] = "";
	uint8_t buf[BS];
	uint64_t t0, v, ver;
	char rec[64];
	size_t len;
	int rc = -1;

	if (admin_open(&a, argv, g[0].b->cluster->medium_id(g[0].b))) {
		failures++;
		return;
	}
	admin_gateway_addr(&a, 1, old_addr, sizeof(old_addr));
	CHECK(old_addr[0], "gateway 1 published its address");
	rc = admin_blocklist(&a, "add", old_addr);
	CHECK(rc == 0, "blocklist %s: %d", old_addr, rc);
	/* Writes fail (NOT READY) once the store knows of the blocklist
	 * (or land in librbd's cache, lost with the fenced client), until
	 * it has opened the image with a new client, which publishes its
	 * address. */
	memset(buf, 0xe5, sizeof(buf));
	int failed = 0;

	for (t0 = now_ms(); now_ms() - t0 < 60000; sleep_ms(50)) {
		rc = block_io(g[0].b, IDM_BACKING_WRITE, 32, buf);
		failed += rc != 0;
		admin_gateway_addr(&a, 1, new_addr, sizeof(new_addr));
		if (rc == 0 && new_addr[0] && strcmp(new_addr, old_addr) != 0) {
			break;
		}
	}
	CHECK(rc == 0, "gateway 1 writes again: %d (%d failed)", rc, failed);
	CHECK(new_addr[0] && strcmp(new_addr, old_addr) != 0,
	      "gateway 1 published its new address (%s)", new_addr);
	printf("blocklisted %s: %d writes failed, gateway 1 wrote again as %s after %llu ms\n",
	       old_addr, failed, new_addr, (unsigned long long)(now_ms() - t0));
	long ms = wait_owner(g, 2, 1);

	CHECK(ms >= 0, "both report gateway 1 with its new client (%d, %d)", g[0].owner,
	      g[1].owner);
	rc = g[1].b->cluster->record_read(g[1].b, "pr", rec, sizeof(rec), &len, &ver);
	int before = __atomic_load_n(&g[0].changed, __ATOMIC_SEQ_CST);

	rc = rc ? rc : g[1].b->cluster->record_write(g[1].b, "pr", "after", 5, ver, &v);
	CHECK(rc == 0 && __atomic_load_n(&g[0].changed, __ATOMIC_SEQ_CST) > before &&
	          __atomic_load_n(&g[0].seen, __ATOMIC_SEQ_CST) == v,
	      "gateway 1 watches again: read the new record before the write returned (%d)", rc);
	printf("after the blocklist: holder 1 on both, gateway 1's record watch back\n");
	admin_blocklist(&a, "rm", old_addr);
	rados_ioctx_destroy(a.ioctx);
	rados_shutdown(a.cluster);
}

static int run_check(char **argv)
{
	struct gateway g[2] = {{.id = 1, .owner = -1}, {.id = 2, .owner = -1}};
	const char *id1, *id2;

	if (open_store(argv, &g[0].b) || open_store(argv, &g[1].b)) {
		return 1;
	}
	CHECK(g[0].b->cluster && g[1].b->cluster, "an rbd store has cluster ops");
	id1 = g[0].b->cluster->medium_id(g[0].b);
	id2 = g[1].b->cluster->medium_id(g[1].b);
	CHECK(id1 && id2 && strcmp(id1, id2) == 0 && strlen(id1) >= 8,
	      "medium_id equal on both (%s, %s)", id1 ? id1 : "NULL", id2 ? id2 : "NULL");
	printf("medium id %s on both stores\n", id1 ? id1 : "NULL");
	if (join_both(g) == 0) {
		check_lock(g);
	}
	check_records(g);
	check_record_create(g);
	check_blocklist(g, argv);
	idm_backing_close(g[0].b);
	idm_backing_close(g[1].b);
	return failures ? 1 : 0;
}

/* An image without the exclusive-lock feature cannot have gateways. */
static int run_nolock(char **argv)
{
	struct gateway g = {.id = 1, .owner = -1};
	int rc;

	if (open_store(argv, &g.b)) {
		return 1;
	}
	rc = g.b->cluster->gateway_join(g.b, g.id, on_owner, &g);
	CHECK(rc == -EOPNOTSUPP, "join without exclusive-lock: -EOPNOTSUPP (%d)", rc);
	printf("an image without exclusive-lock: join refused (%d)\n", rc);
	idm_backing_close(g.b);
	return failures ? 1 : 0;
}

/* The child: gateway 3 takes the lock, says so, and waits to be killed. */
static int run_hold(char **argv)
{
	struct gateway g = {.id = 3, .owner = -1};
	uint8_t buf[BS];

	memset(buf, 0xc3, sizeof(buf));
	if (open_store(argv, &g.b) || g.b->cluster->gateway_join(g.b, g.id, on_owner, &g) != 0 ||
	    block_io(g.b, IDM_BACKING_WRITE, 16, buf) != 0) {
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	pause();
	return 0;
}

static int run_failover(char **argv)
{
	struct gateway g[2] = {{.id = 1, .owner = -1}, {.id = 2, .owner = -1}};
	char *child_argv[] = {argv[0], argv[1], argv[2], argv[3], argv[4], "hold", NULL};
	posix_spawn_file_actions_t fa;
	uint8_t buf[BS];
	char line[16] = "";
	int fds[2], rc, status;
	pid_t pid;
	FILE *from_child;
	uint64_t t0;

	if (open_store(argv, &g[0].b) || open_store(argv, &g[1].b) || join_both(g)) {
		return 1;
	}
	if (pipe(fds) != 0) {
		return 1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, child_argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc) {
		printf("FAIL spawn: %s\n", strerror(rc));
		return 1;
	}
	from_child = fdopen(fds[0], "r");
	if (!from_child || !fgets(line, sizeof(line), from_child) || strcmp(line, "held\n") != 0) {
		printf("FAIL the child did not take the lock\n");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return 1;
	}
	long ms = wait_owner(g, 2, 3);

	CHECK(ms >= 0, "both report gateway 3 (%d, %d)", g[0].owner, g[1].owner);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fclose(from_child);
	t0 = now_ms();
	memset(buf, 0xd4, sizeof(buf));
	rc = block_io(g[0].b, IDM_BACKING_WRITE, 24, buf);
	uint64_t write_ms = now_ms() - t0;

	CHECK(rc == 0, "gateway 1's write after the holder died: %d", rc);
	ms = wait_owner(g, 2, 1);
	CHECK(ms >= 0, "both report gateway 1 (%d, %d)", g[0].owner, g[1].owner);
	printf("failover: holder SIGKILLed; gateway 1's write completed after %llu ms, both "
	       "report holder 1 %ld ms later\n",
	       (unsigned long long)write_ms, ms);
	idm_backing_close(g[0].b);
	idm_backing_close(g[1].b);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 6) {
		fprintf(stderr, "usage: %s CONF ID KEYRING POOL/IMAGE check|failover|nolock|hold\n",
		        argv[0]);
		return 2;
	}
	if (strcmp(argv[5], "check") == 0) {
		return run_check(argv);
	}
	if (strcmp(argv[5], "failover") == 0) {
		return run_failover(argv);
	}
	if (strcmp(argv[5], "nolock") == 0) {
		return run_nolock(argv);
	}
	if (strcmp(argv[5], "hold") == 0) {
		return run_hold(argv);
	}
	return 2;
}
