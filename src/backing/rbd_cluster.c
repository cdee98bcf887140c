/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rbd: what the idmd gateways exporting one RBD image coordinate through
 * the Ceph cluster (struct idm_backing_cluster_ops).
 *
 * Lock model. librbd's exclusive-lock feature in its automatic
 * (cooperative) mode, as the data path already uses it: a gateway that
 * gets a write asks the holder for the lock, and librbd hands it over
 * once the holder's in-flight writes have finished, so two gateways
 * never write at once. A holder that died is found dead when its watch
 * on the image header times out (the OSDs' osd_client_watch_timeout,
 * 30 s by default); the next writer then breaks its lock and, with
 * rbd_blocklist_on_break_lock (the default), blocklists it. We never
 * call rbd_lock_acquire: it switches the handle to managed mode, in
 * which other clients' lock requests are refused.
 *
 * Gateway group. librbd names the lock holder by its client address
 * ("127.0.0.1:0/136170863": IP, port 0, the client instance's nonce,
 * what rados_getaddrs returns). Each gateway publishes its address as
 * the xattr "gw.<N>" of the RADOS object "idm.<image id>.gateways" in
 * the image's pool and namespace (a plain RADOS write: setting image
 * metadata would go through the exclusive lock), again after every new
 * client (a reconnect after blocklisting). The control thread then
 * follows the holder: rbd_is_exclusive_lock_owner for itself (no
 * cluster call), rbd_lock_get_owners and the published map for the
 * others. It asks at once whenever librbd notifies its peers through
 * the image header (lock acquired, released, requested: we watch the
 * header object too; librbd's update watch does not fire when the lock
 * moves), and every GW_POLL_MS anyway, for what a watch can miss. It
 * reports each change through on_owner; 0 when no gateway of the group
 * holds the lock (none, between a release and the next acquire, or
 * another client such as the rbd CLI), or while this store is offline.
 * Our header watch does not keep a dead holder's lock alive: librbd
 * finds a holder alive by a watch with the lock's own cookie.
 *
 * Explicit move (gateway_take): librbd takes the lock on a write, so we
 * write without changing anything: read the first block, then compare
 * and write it with itself (atomic in the OSD). A difference means
 * another gateway wrote it meanwhile: read again (a bounded number of
 * times). Nothing is ever written that was not compared just before.
 *
 * Records (persistent reservations): one RADOS object per image and key,
 * "idm.<image id>.record.<key>", holding the bytes; the version is its
 * xattr "idm.version" (decimal). A write is one RADOS operation, atomic
 * in the OSD: a guard, write_full, setxattr version + 1. The guard is
 * cmpxattr version == expected; version 0 is either no object (the
 * guard is then an exclusive create) or the empty object a watch made
 * (version "0", cmpxattr): tried in turn, each atomic. Then
 * rados_notify2 on the object: it returns once every watcher
 * acknowledged, and a watcher acknowledges only after its changed()
 * returned. A watcher that does not answer within RECORD_NOTIFY_MS (a
 * gateway that died and whose watch has not timed out yet) does not fail
 * the write, which is done: its watch breaks, and a watch registered
 * again calls changed() once, since a change may have been missed.
 * changed() runs on a librados thread, one at a time per client (not on
 * the control thread: two gateways' control threads, each waiting in a
 * record write for the other's acknowledgement, would stall each other
 * until the notify timeout). It may read records (a blocking RADOS read
 * from a watch callback is safe: its reply does not go through the
 * callback queue); it must not write one, nor wait for anything that
 * waits for a record write or for the store's control thread.
 *
 * The objects outlive the image (rbd rm leaves them): remove them with
 * `rados -p POOL rm idm.<image id>.*` after removing an image.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing/rbd_priv.h"
#include "idm/reactor.h"

/* How often a gateway asks who holds the lock: one small OSD read per
 * poll (about 0.3 ms) while another gateway holds it, none while this
 * one does. */
#define GW_POLL_MS 500u
/* A publish or watch that failed is tried again after this. */
#define GW_RETRY_MS 1000u
/* Compare-and-write rounds of an explicit move before it gives up. */
#define GW_TAKE_TRIES 8
/* Moves waiting for the control thread at once. */
#define GW_TAKE_QUEUE 4
/* Entries of the gateway map read when looking for a holder. */
#define GW_MAP_MAX 1024

#define RECORD_MAX (256u * 1024) /* a shared PR state: at most ~160 KiB */
#define RECORD_KEY_MAX 64
#define RECORD_WATCH_MAX 8
/* The records' watches and the image header's. */
#define WATCH_MAX (RECORD_WATCH_MAX + 1)
#define RECORD_NOTIFY_MS 3000u
#define RECORD_VERSION_XATTR "idm.version"

/* "idm." + id + ".record." + key */
#define OID_MAX (4 + 64 + 8 + RECORD_KEY_MAX + 1)

struct record_watch {
	struct rbd_store *s;
	char oid[OID_MAX];
	void (*changed)(void *arg);
	void *arg;
	uint64_t cookie;
	bool header;   /* the image header: librbd's lock notifications */
	bool watching; /* under watch_lock: registered on the current client */
	bool broken;   /* atomic: the watch reported an error */
};

struct gw_take {
	void (*done)(void *arg, int rc);
	void *arg;
	int rc;
};

struct rbd_cluster_state {
	/* The gateway group: set once under the store's lock (joined);
	 * joining: a join is under way or done. */
	bool joining, joined;
	uint16_t self;
	void (*on_owner)(void *arg, uint16_t owner);
	void *on_owner_arg;
	/* Under the store's lock. */
	bool publish_pending; /* say our address in the map */
	bool rewatch_pending; /* register the record watches again */
	bool poll_now;
	uint64_t retry_at_ms; /* pending work that failed: not before */
	struct gw_take takes[GW_TAKE_QUEUE];
	unsigned ntakes;
	/* Control thread only. */
	uint64_t next_poll_ms;
	int reported;         /* the owner on_owner was last given; -1: none yet */
	char owner_addr[128]; /* the last holder address found in the map */
	uint16_t owner_gw;
	/* Watches: entries fixed once added (nwatches, nrecords under
	 * watch_lock); registrations under watch_lock, which is taken
	 * before the store's lock, never after. */
	pthread_mutex_t watch_lock;
	struct record_watch watches[WATCH_MAX];
	unsigned nwatches, nrecords;
};

static struct rbd_store *store_of(struct idm_backing *b)
{
	return (struct rbd_store *)b;
}

/* The state, made on first use. */
static struct rbd_cluster_state *cluster_state(struct rbd_store *s)
{
	struct rbd_cluster_state *cl;

	pthread_mutex_lock(&s->lock);
	cl = s->cl;
	if (!cl) {
		cl = calloc(1, sizeof(*cl));
		if (cl) {
			cl->reported = -1;
			pthread_mutex_init(&cl->watch_lock, NULL);
			s->cl = cl;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return cl;
}

static void wake_ctl(struct rbd_store *s)
{
	pthread_cond_signal(&s->cond);
}

/* ---- medium id ---- */

static const char *rbd_medium_id(struct idm_backing *b)
{
	struct rbd_store *s = store_of(b);

	return __atomic_load_n(&s->image_id[0], __ATOMIC_ACQUIRE) ? s->image_id : NULL;
}

/* ---- the gateway map ---- */

static int gw_map_oid(struct rbd_store *s, char *oid, size_t cap)
{
	if (!rbd_medium_id(&s->b)) {
		return -ESHUTDOWN; /* never opened: started offline */
	}
	snprintf(oid, cap, "idm.%s.gateways", s->image_id);
	return 0;
}

static int record_watch_start(struct rbd_store *s, struct record_watch *w);

/* Publish "gw.<self>" = this client's address. Any thread. */
static int gw_publish(struct rbd_store *s, uint16_t self)
{
	char oid[OID_MAX], name[16];
	char *addr = NULL;
	int rc;

	if (!idm_rbd_image_enter(s)) {
		return -ESHUTDOWN;
	}
	rc = gw_map_oid(s, oid, sizeof(oid));
	if (rc == 0) {
		rc = rados_getaddrs(s->cluster, &addr);
	}
	if (rc == 0) {
		snprintf(name, sizeof(name), "gw.%u", self);
		rc = rados_setxattr(s->ioctx, oid, name, addr, strlen(addr));
		rados_buffer_free(addr);
	}
	idm_rbd_check_fenced(s, rc);
	idm_rbd_image_leave(s);
	return rc;
}

/* "gw.<N>" -> N, or 0. */
static uint16_t gw_name_number(const char *name)
{
	char *end;
	unsigned long n;

	if (strncmp(name, "gw.", 3) != 0 || name[3] < '1' || name[3] > '9') {
		return 0;
	}
	n = strtoul(name + 3, &end, 10);
	return *end == '\0' && n <= UINT16_MAX ? (uint16_t)n : 0;
}

/* Control thread, image entered: the gateway that published `addr`, 0
 * if none did. A hit is remembered: the map is read once per holder. */
static uint16_t gw_lookup(struct rbd_store *s, const char *addr)
{
	struct rbd_cluster_state *cl = s->cl;
	char oid[OID_MAX];
	rados_xattrs_iter_t it;
	const char *name, *val;
	size_t len, addr_len = strlen(addr);
	uint16_t found = 0;

	if (strcmp(addr, cl->owner_addr) == 0 && cl->owner_gw) {
		return cl->owner_gw;
	}
	if (gw_map_oid(s, oid, sizeof(oid)) || rados_getxattrs(s->ioctx, oid, &it) < 0) {
		return 0;
	}
	for (unsigned i = 0; i < GW_MAP_MAX && !found; i++) {
		if (rados_getxattrs_next(it, &name, &val, &len) < 0 || !name) {
			break;
		}
		if (len == addr_len && memcmp(val, addr, len) == 0) {
			found = gw_name_number(name);
		}
	}
	rados_getxattrs_end(it);
	if (found && addr_len < sizeof(cl->owner_addr)) {
		memcpy(cl->owner_addr, addr, addr_len + 1);
		cl->owner_gw = found;
	}
	return found;
}

/* Control thread: the gateway holding the lock now (0: none), or
 * -errno when the cluster did not say. */
static int gw_owner_now(struct rbd_store *s, uint16_t self)
{
	rbd_lock_mode_t mode;
	char *owners[4];
	size_t n = 4;
	int own = 0, rc;

	if (!idm_rbd_image_enter(s)) {
		return 0; /* offline: we cannot tell, and do not hold it */
	}
	rc = rbd_is_exclusive_lock_owner(s->image, &own);
	if (rc == 0 && own) {
		rc = self;
	} else if (rc == 0) {
		rc = rbd_lock_get_owners(s->image, &mode, owners, &n);
		if (rc == -ENOENT) {
			rc = 0;
		} else if (rc == 0) {
			rc = n ? gw_lookup(s, owners[0]) : 0;
			rbd_lock_get_owners_cleanup(owners, n);
		}
	}
	idm_rbd_check_fenced(s, rc);
	idm_rbd_image_leave(s);
	return rc;
}

/* "v2:127.0.0.1:0/123" and "127.0.0.1:0/123" name one client. */
static const char *addr_core(const char *a)
{
	return strncmp(a, "v1:", 3) == 0 || strncmp(a, "v2:", 3) == 0 ? a + 3 : a;
}

/* Gateway `id` is alive while the address it published watches the
 * image's header (librbd keeps a watch there for as long as the image
 * is open; the cluster drops it when the client dies or is fenced). */
static int rbd_gateway_live(struct idm_backing *b, uint16_t id)
{
	struct rbd_store *s = store_of(b);
	rbd_image_watcher_t watchers[64];
	size_t n = sizeof(watchers) / sizeof(watchers[0]);
	char oid[OID_MAX], name[16], addr[128];
	int rc, live = 0;

	if (!idm_rbd_image_enter(s)) {
		return -ESHUTDOWN;
	}
	snprintf(name, sizeof(name), "gw.%u", id);
	rc = gw_map_oid(s, oid, sizeof(oid));
	if (rc == 0) {
		rc = rados_getxattr(s->ioctx, oid, name, addr, sizeof(addr) - 1);
	}
	if (rc == -ENODATA || rc == -ENOENT) {
		rc = 0; /* never published: not a live gateway */
	} else if (rc >= 0) {
		addr[rc] = '\0';
		rc = rbd_watchers_list(s->image, watchers, &n);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			live = live || strcmp(addr_core(watchers[i].addr), addr_core(addr)) == 0;
		}
		if (rc == 0) {
			rbd_watchers_list_cleanup(watchers, n);
		}
	}
	idm_rbd_check_fenced(s, rc);
	idm_rbd_image_leave(s);
	return rc < 0 ? rc : live;
}

/* Control thread: ask, and tell on_owner of a change. */
static void gw_poll(struct rbd_store *s)
{
	struct rbd_cluster_state *cl = s->cl;
	int owner = gw_owner_now(s, cl->self);

	cl->next_poll_ms = idm_now_ms() + GW_POLL_MS;
	if (owner < 0 && cl->reported < 0) {
		owner = 0; /* the first report is due at once: none known */
	}
	if (owner < 0 || owner == cl->reported) {
		return;
	}
	cl->reported = owner;
	cl->on_owner(cl->on_owner_arg, (uint16_t)owner);
}

/* The group's model rests on the image's exclusive lock: without it two
 * gateways would write at once. -EOPNOTSUPP then; 0 when offline (not
 * known yet). */
static int check_exclusive_lock(struct rbd_store *s)
{
	uint64_t features = 0;
	int rc;

	if (!idm_rbd_image_enter(s)) {
		return 0;
	}
	rc = rbd_get_features(s->image, &features);
	idm_rbd_image_leave(s);
	if (rc == 0 && !(features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
		fprintf(stderr,
		        "idm: backing '%s': a gateway group needs the image's exclusive-lock "
		        "feature (rbd feature enable %s exclusive-lock)\n",
		        s->b.desc, s->name);
		return -EOPNOTSUPP;
	}
	return rc;
}

/* Watch the image header too (librbd's own notifications), so a lock
 * that moves is seen at once; the poll stays for what a watch can miss.
 * 0, or -errno: registered later by the control thread. */
static int watch_header(struct rbd_store *s, struct rbd_cluster_state *cl)
{
	struct record_watch *w;
	int rc;

	pthread_mutex_lock(&cl->watch_lock);
	w = &cl->watches[cl->nwatches++]; /* one slot is kept for it */
	*w = (struct record_watch){.s = s, .header = true};
	snprintf(w->oid, sizeof(w->oid), "rbd_header.%s", s->image_id);
	rc = record_watch_start(s, w);
	pthread_mutex_unlock(&cl->watch_lock);
	return rc;
}

static int rbd_gateway_join(struct idm_backing *b, uint16_t self,
                            void (*on_owner)(void *arg, uint16_t owner), void *arg)
{
	struct rbd_store *s = store_of(b);
	struct rbd_cluster_state *cl;
	int rc;

	if (self == 0 || !on_owner) {
		return -EINVAL;
	}
	cl = cluster_state(s);
	if (!cl) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	rc = cl->joining ? -EALREADY : 0;
	cl->joining = true; /* once: the header watch takes one slot */
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		return rc;
	}
	rc = check_exclusive_lock(s);
	/* Now, so that a refusal (a key without write access) is an error
	 * of the join; offline, the control thread publishes once online. */
	rc = rc ? rc : gw_publish(s, self);
	if (rc && rc != -ESHUTDOWN) {
		pthread_mutex_lock(&s->lock);
		cl->joining = false;
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	bool header_later = watch_header(s, cl) != 0;

	pthread_mutex_lock(&s->lock);
	cl->rewatch_pending |= header_later;
	cl->self = self;
	cl->on_owner = on_owner;
	cl->on_owner_arg = arg;
	cl->publish_pending = rc != 0;
	cl->poll_now = true;
	cl->joined = true;
	wake_ctl(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- explicit move ---- */

/* Control thread: one write that changes nothing, so librbd takes the
 * lock for it. 0 or -errno. */
static int gw_take_now(struct rbd_store *s)
{
	uint32_t bs = s->b.block_size;
	char *buf = malloc(2 * (size_t)bs);
	uint64_t mismatch;
	int own = 0, rc = -EILSEQ;
	ssize_t n;

	if (!buf) {
		return -ENOMEM;
	}
	for (int i = 0; i < GW_TAKE_TRIES && rc == -EILSEQ; i++) {
		if (!idm_rbd_image_enter(s)) {
			rc = -ESHUTDOWN;
			break;
		}
		n = rbd_read(s->image, 0, bs, buf);
		if (n == (ssize_t)bs) {
			memcpy(buf + bs, buf, bs);
			n = rbd_compare_and_write(s->image, 0, bs, buf, buf + bs, &mismatch, 0);
		}
		/* -EILSEQ: the block changed between our read and compare */
		rc = n == (ssize_t)bs ? 0 : n < 0 ? (int)n : -EIO;
		if (rc == 0 && rbd_is_exclusive_lock_owner(s->image, &own) == 0 && !own) {
			rc = -EAGAIN; /* another gateway's write took it back at once */
		}
		idm_rbd_check_fenced(s, rc);
		idm_rbd_image_leave(s);
	}
	free(buf);
	return rc == -EBLOCKLISTED ? -ESHUTDOWN : rc;
}

static void rbd_gateway_take(struct idm_backing *b, void (*done)(void *arg, int rc), void *arg)
{
	struct rbd_store *s = store_of(b);
	struct rbd_cluster_state *cl = cluster_state(s);
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!cl || !cl->joined) {
		rc = -EINVAL; /* not in a gateway group */
	} else if (cl->ntakes == GW_TAKE_QUEUE) {
		rc = -EBUSY;
	} else {
		cl->takes[cl->ntakes++] = (struct gw_take){done, arg, 0};
		wake_ctl(s);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		done(arg, rc);
	}
}

/* ---- records ---- */

/* Keys are names of our own ("pr"): letters, digits, '.', '_', '-'. */
static int record_oid(struct rbd_store *s, const char *key, char *oid, size_t cap)
{
	size_t n = strlen(key);

	if (n == 0 || n > RECORD_KEY_MAX ||
	    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	                "OPQRSTUVWXYZ0123456789._-") != n) {
		return -EINVAL;
	}
	if (!rbd_medium_id(&s->b)) {
		return -ESHUTDOWN;
	}
	snprintf(oid, cap, "idm.%s.record.%s", s->image_id, key);
	return 0;
}

/* The version xattr's value (not NUL-terminated) -> number. */
static int parse_version(const char *val, size_t len, uint64_t *version)
{
	uint64_t v = 0;

	if (len == 0 || len > 19) {
		return -EBADMSG;
	}
	for (size_t i = 0; i < len; i++) {
		if (val[i] < '0' || val[i] > '9') {
			return -EBADMSG;
		}
		v = v * 10 + (uint64_t)(val[i] - '0');
	}
	*version = v;
	return 0;
}

/* The version among an object's xattrs. */
static int find_version(rados_xattrs_iter_t it, uint64_t *version)
{
	const char *name, *val;
	size_t len;

	for (unsigned i = 0; i < GW_MAP_MAX; i++) {
		if (rados_getxattrs_next(it, &name, &val, &len) < 0 || !name) {
			break;
		}
		if (strcmp(name, RECORD_VERSION_XATTR) == 0) {
			return parse_version(val, len, version);
		}
	}
	return -EBADMSG; /* not an object of ours */
}

static int rbd_record_read(struct idm_backing *b, const char *key, char *buf, size_t cap,
                           size_t *len, uint64_t *version)
{
	struct rbd_store *s = store_of(b);
	char oid[OID_MAX];
	rados_read_op_t op;
	rados_xattrs_iter_t it;
	uint64_t size = 0;
	time_t mtime;
	size_t got = 0;
	int stat_rc = 0, read_rc = 0, xattr_rc = 0, rc;

	rc = record_oid(s, key, oid, sizeof(oid));
	if (rc) {
		return rc;
	}
	if (cap == 0 || !buf) {
		return -EINVAL; /* a read of length 0 would read the whole object */
	}
	cap = cap < RECORD_MAX ? cap : RECORD_MAX;
	if (!idm_rbd_image_enter(s)) {
		return -ESHUTDOWN;
	}
	op = rados_create_read_op();
	if (!op) {
		idm_rbd_image_leave(s);
		return -ENOMEM;
	}
	/* One operation: the bytes and the version are of one state. */
	rados_read_op_stat(op, &size, &mtime, &stat_rc);
	rados_read_op_read(op, 0, cap, buf, &got, &read_rc);
	rados_read_op_getxattrs(op, &it, &xattr_rc);
	rc = rados_read_op_operate(op, s->ioctx, oid, 0);
	if (rc == -ENOENT) {
		*len = 0;
		*version = 0;
		rc = 0;
	} else if (rc == 0) {
		rc = stat_rc ? stat_rc : read_rc ? read_rc : xattr_rc;
		if (rc == 0 && size > cap) {
			rc = -EOVERFLOW;
		}
		if (rc == 0) {
			rc = find_version(it, version);
			*len = got;
		}
	}
	rados_getxattrs_end(it);
	rados_release_read_op(op);
	idm_rbd_check_fenced(s, rc);
	idm_rbd_image_leave(s);
	return rc;
}

/* Image entered: tell the watchers and wait for their changed(). */
static void record_notify(struct rbd_store *s, const char *oid)
{
	char *reply = NULL;
	size_t reply_len = 0;
	int rc = rados_notify2(s->ioctx, oid, NULL, 0, RECORD_NOTIFY_MS, &reply, &reply_len);

	if (reply) {
		rados_buffer_free(reply);
	}
	if (rc < 0) {
		/* Written all the same; a watcher that missed it (a gateway
		 * just died, or its watch is being registered again) reads
		 * the record when its watch is back. */
		fprintf(stderr,
		        "idm: backing '%s': record %s written, but not every gateway "
		        "acknowledged within %u ms: %s\n",
		        s->b.desc, oid, RECORD_NOTIFY_MS, strerror(-rc));
	}
}

/* Image entered: one atomic operation, guarded by an exclusive create
 * or by the version xattr equal to `expect`. */
static int record_guarded_write(struct rbd_store *s, const char *oid, bool create,
                                const char *expect, const char *buf, size_t len, const char *next)
{
	rados_write_op_t op = rados_create_write_op();
	int rc;

	if (!op) {
		return -ENOMEM;
	}
	if (create) {
		rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	} else {
		rados_write_op_cmpxattr(op, RECORD_VERSION_XATTR, LIBRADOS_CMPXATTR_OP_EQ, expect,
		                        strlen(expect));
	}
	if (buf) {
		rados_write_op_write_full(op, buf, len);
	}
	rados_write_op_setxattr(op, RECORD_VERSION_XATTR, next, strlen(next));
	rc = rados_write_op_operate(op, s->ioctx, oid, NULL, 0);
	rados_release_write_op(op);
	return rc;
}

static int rbd_record_write(struct idm_backing *b, const char *key, const char *buf, size_t len,
                            uint64_t expect, uint64_t *version)
{
	struct rbd_store *s = store_of(b);
	char oid[OID_MAX], expect_str[24], next_str[24];
	int rc;

	rc = record_oid(s, key, oid, sizeof(oid));
	if (rc) {
		return rc;
	}
	if (len > RECORD_MAX || expect == UINT64_MAX) {
		return -EFBIG;
	}
	if (!idm_rbd_image_enter(s)) {
		return -ESHUTDOWN;
	}
	snprintf(expect_str, sizeof(expect_str), "%" PRIu64, expect);
	snprintf(next_str, sizeof(next_str), "%" PRIu64, expect + 1);
	/* Version 0 is two states: no object, or the empty one a watch
	 * made. Each has its own guard; between them, the state may change
	 * from the first to the second (a watch), never back. */
	bool create = false;

	for (int i = 0; i < 3; i++) {
		rc = record_guarded_write(s, oid, create, expect_str, buf, len, next_str);
		if (expect != 0 || (!create && rc != -ENOENT) || (create && rc != -EEXIST)) {
			break;
		}
		create = !create;
	}
	/* The guard failed: the version is another (or the object is gone,
	 * which we never do). */
	if (rc == -EEXIST || rc == -ENOENT || rc == -ECANCELED) {
		rc = -ECANCELED;
	}
	if (rc == 0) {
		*version = expect + 1;
		record_notify(s, oid);
	}
	idm_rbd_check_fenced(s, rc);
	idm_rbd_image_leave(s);
	return rc;
}

static void poll_soon(struct rbd_store *s)
{
	pthread_mutex_lock(&s->lock);
	s->cl->poll_now = true;
	wake_ctl(s);
	pthread_mutex_unlock(&s->lock);
}

/* librados's thread: a notification on a watched object.
 * - A record changed: acknowledge after changed(), so the writer's
 *   notify returns only once we acted on it.
 * - librbd told its peers something through the image header (the lock
 *   acquired, released, requested...): acknowledge at once (librbd
 *   waits for every watcher), then ask who holds the lock now rather
 *   than at the next poll.
 * The ioctx outlives the callback: a new client only comes after
 * rados_watch_flush (idm_rbd_cluster_detach). */
static void watch_notified(void *arg, uint64_t notify_id, uint64_t cookie, uint64_t notifier,
                           void *data, size_t data_len)
{
	struct record_watch *w = arg;

	if (!w->header) {
		w->changed(w->arg);
	}
	rados_notify_ack(w->s->ioctx, w->oid, notify_id, cookie, NULL, 0);
	if (w->header) {
		poll_soon(w->s);
	}
}

/* librados's thread: the watch broke (its OSD connection reset, a
 * timeout); notifications may have been missed. */
static void record_watch_error(void *arg, uint64_t cookie, int err)
{
	struct record_watch *w = arg;
	struct rbd_store *s = w->s;

	(void)cookie;
	(void)err;
	__atomic_store_n(&w->broken, true, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&s->lock);
	s->cl->rewatch_pending = true;
	wake_ctl(s);
	pthread_mutex_unlock(&s->lock);
}

/* watch_lock held: register w on the current client. */
static int record_watch_start(struct rbd_store *s, struct record_watch *w)
{
	int rc;

	if (!idm_rbd_image_enter(s)) {
		return -ESHUTDOWN;
	}
	/* An object to watch: the record, or an empty one at version 0. */
	rc = w->header ? 0 : record_guarded_write(s, w->oid, true, NULL, NULL, 0, "0");
	if (rc == 0 || rc == -EEXIST) {
		rc = rados_watch3(s->ioctx, w->oid, &w->cookie, watch_notified, record_watch_error,
		                  0, w);
	}
	idm_rbd_check_fenced(s, rc);
	idm_rbd_image_leave(s);
	if (rc == 0) {
		w->watching = true;
		__atomic_store_n(&w->broken, false, __ATOMIC_SEQ_CST);
	}
	return rc;
}

static int rbd_record_watch(struct idm_backing *b, const char *key, void (*changed)(void *arg),
                            void *arg)
{
	struct rbd_store *s = store_of(b);
	struct rbd_cluster_state *cl;
	struct record_watch *w;
	char oid[OID_MAX];
	int rc = record_oid(s, key, oid, sizeof(oid));

	if (rc || !changed) {
		return rc ? rc : -EINVAL;
	}
	cl = cluster_state(s);
	if (!cl) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&cl->watch_lock);
	if (cl->nrecords == RECORD_WATCH_MAX) {
		pthread_mutex_unlock(&cl->watch_lock);
		return -ENOSPC;
	}
	w = &cl->watches[cl->nwatches];
	*w = (struct record_watch){.s = s, .changed = changed, .arg = arg};
	memcpy(w->oid, oid, sizeof(oid));
	rc = record_watch_start(s, w);
	if (rc == 0 || rc == -ESHUTDOWN) {
		cl->nwatches++; /* offline: registered once online */
		cl->nrecords++;
	}
	pthread_mutex_unlock(&cl->watch_lock);
	if (rc == -ESHUTDOWN) {
		pthread_mutex_lock(&s->lock);
		cl->rewatch_pending = true;
		pthread_mutex_unlock(&s->lock);
		rc = 0;
	}
	return rc;
}

/* watch_lock held: drop w's registration, if any. Always, even offline
 * or fenced (the call then fails, which is fine): a registration we
 * forget stays in librados for the client's life. No image_enter: the
 * callers (the control thread, or open/close while it is not running)
 * are the only ones that replace s->ioctx. */
static bool record_unwatch(struct rbd_store *s, struct record_watch *w)
{
	if (!w->watching) {
		return false;
	}
	rados_unwatch2(s->ioctx, w->cookie);
	w->watching = false;
	return true;
}

/* Control thread: register the watches that are not (a new client, a
 * broken watch), then run their changed() once: a change may have come
 * while they were not watching. 0, or -errno if one failed. */
static int records_rewatch(struct rbd_store *s)
{
	struct rbd_cluster_state *cl = s->cl;
	bool again[WATCH_MAX] = {false};
	unsigned n;
	int rc = 0;

	pthread_mutex_lock(&cl->watch_lock);
	n = cl->nwatches;
	for (unsigned i = 0; i < n; i++) {
		struct record_watch *w = &cl->watches[i];

		if (w->watching && !__atomic_load_n(&w->broken, __ATOMIC_SEQ_CST)) {
			continue;
		}
		record_unwatch(s, w);
		int wrc = record_watch_start(s, w);

		again[i] = wrc == 0;
		rc = wrc ? wrc : rc;
	}
	pthread_mutex_unlock(&cl->watch_lock);
	for (unsigned i = 0; i < n; i++) {
		if (again[i] && cl->watches[i].header) {
			poll_soon(s);
		} else if (again[i]) {
			cl->watches[i].changed(cl->watches[i].arg);
		}
	}
	return rc;
}

/* ---- the control thread's part ---- */

uint64_t idm_rbd_cluster_due_ms(struct rbd_store *s)
{
	struct rbd_cluster_state *cl = s->cl;
	bool online = !__atomic_load_n(&s->b.offline, __ATOMIC_SEQ_CST);
	uint64_t at = UINT64_MAX;

	if (cl->ntakes || cl->poll_now) {
		return 0;
	}
	if (online && ((cl->joined && cl->publish_pending) || cl->rewatch_pending)) {
		at = cl->retry_at_ms;
	}
	if (cl->joined && cl->next_poll_ms < at) {
		at = cl->next_poll_ms;
	}
	return at;
}

void idm_rbd_cluster_work(struct rbd_store *s)
{
	struct rbd_cluster_state *cl = s->cl;
	struct gw_take takes[GW_TAKE_QUEUE];
	bool online = !__atomic_load_n(&s->b.offline, __ATOMIC_SEQ_CST);
	bool due, publish, rewatch, joined;
	unsigned ntakes;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	due = online && cl->retry_at_ms <= idm_now_ms();
	joined = cl->joined;
	publish = due && joined && cl->publish_pending;
	rewatch = due && cl->rewatch_pending;
	cl->publish_pending &= !publish;
	cl->rewatch_pending &= !rewatch;
	cl->poll_now = false;
	ntakes = cl->ntakes;
	memcpy(takes, cl->takes, ntakes * sizeof(takes[0]));
	cl->ntakes = 0;
	pthread_mutex_unlock(&s->lock);

	if (publish && (rc = gw_publish(s, cl->self)) != 0) {
		fprintf(stderr, "idm: backing '%s': cannot publish gateway %u: %s\n", s->b.desc,
		        cl->self, strerror(-rc));
	}
	int wrc = rewatch ? records_rewatch(s) : 0;

	if (rc || wrc) { /* try again later */
		pthread_mutex_lock(&s->lock);
		cl->publish_pending |= rc != 0;
		cl->rewatch_pending |= wrc != 0;
		cl->retry_at_ms = idm_now_ms() + GW_RETRY_MS;
		pthread_mutex_unlock(&s->lock);
	}
	for (unsigned i = 0; i < ntakes; i++) {
		takes[i].rc = gw_take_now(s);
	}
	if (joined) {
		gw_poll(s); /* before done: on_owner knows the holder first */
	}
	for (unsigned i = 0; i < ntakes; i++) {
		takes[i].done(takes[i].arg, takes[i].rc);
	}
}

void idm_rbd_cluster_reopened(struct rbd_store *s)
{
	struct rbd_cluster_state *cl = s->cl;

	if (!cl) {
		return;
	}
	cl->owner_addr[0] = '\0'; /* holders may have changed clients too */
	cl->owner_gw = 0;
	pthread_mutex_lock(&s->lock);
	cl->publish_pending = cl->joined; /* our address is new */
	cl->rewatch_pending = true;
	cl->poll_now = true;
	cl->retry_at_ms = 0;
	pthread_mutex_unlock(&s->lock);
}

void idm_rbd_cluster_detach(struct rbd_store *s)
{
	struct rbd_cluster_state *cl = s->cl;
	bool any = false;

	if (!cl || !s->ioctx) {
		return;
	}
	pthread_mutex_lock(&cl->watch_lock);
	for (unsigned i = 0; i < cl->nwatches; i++) {
		any |= record_unwatch(s, &cl->watches[i]);
	}
	pthread_mutex_unlock(&cl->watch_lock);
	if (any) {
		rados_watch_flush(s->cluster); /* no callback left on this ioctx */
	}
}

void idm_rbd_cluster_free(struct rbd_store *s)
{
	struct rbd_cluster_state *cl = s->cl;

	if (!cl) {
		return;
	}
	for (unsigned i = 0; i < cl->ntakes; i++) {
		cl->takes[i].done(cl->takes[i].arg, -ESHUTDOWN);
	}
	pthread_mutex_destroy(&cl->watch_lock);
	free(cl);
	s->cl = NULL;
}

const struct idm_backing_cluster_ops idm_rbd_cluster_ops = {
    .medium_id = rbd_medium_id,
    .gateway_join = rbd_gateway_join,
    .gateway_take = rbd_gateway_take,
    .record_read = rbd_record_read,
    .record_write = rbd_record_write,
    .record_watch = rbd_record_watch,
	.gateway_live = rbd_gateway_live,
};
