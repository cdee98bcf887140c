/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reactors: one epoll loop per thread. Each iteration of idm_reactor_poll:
 *   1. submits the io_uring SQEs queued since the last iteration;
 *   2. waits in epoll_wait, no longer than the nearest timer deadline
 *      (not at all when deferred work is pending);
 *   3. dispatches the ready handlers (level-triggered);
 *   4. reaps io_uring completions;
 *   5. runs expired timers;
 *   6. runs the deferred work queued so far (batched socket flushes).
 *
 * Other threads talk to a reactor only through idm_reactor_send and
 * idm_reactor_stop: a mutex-protected array of messages plus an eventfd
 * in the epoll set. Nothing else here takes a lock.
 *
 * Teardown (idm_reactor_destroy) is deterministic: io_uring requests in
 * flight are waited for and their `done` runs; messages still queued are
 * RUN (not dropped), on the destroying thread with idm_reactor_self()
 * returning the reactor, so their owners can release what they carry;
 * deferred work still queued runs too; armed timers are disarmed without
 * running.
 */
#include <errno.h>
#include <liburing.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "idm/reactor.h"
#include "idm/reactor_priv.h"

#define IDM_REACTOR_MAX_EVENTS 64
#define IDM_URING_ENTRIES 256
#define IDM_MSGQ_INITIAL 64

/* A message from another thread: fn(arg) to run on the reactor. */
struct idm_msg {
	void (*fn)(void *arg);
	void *arg;
};

/* A growable array of messages; grows by doubling, never shrinks. */
struct idm_msgq {
	struct idm_msg *items;
	size_t count;
	size_t cap;
};

struct idm_reactor {
	unsigned index;
	int epfd;
	/* Messages and stop requests from any thread. `incoming` is under
	 * `lock`; `running` belongs to the reactor thread (swapped in). */
	struct idm_event_handler wake;
	pthread_mutex_t lock;
	struct idm_msgq incoming;
	struct idm_msgq running;
	atomic_bool stop;
	/* The epoll batch being dispatched, so idm_reactor_del can void
	 * entries of a handler deleted (and maybe freed) mid-batch. */
	struct epoll_event events[IDM_REACTOR_MAX_EVENTS];
	int nevents;
	int cur;
	/* Deferred work, FIFO. */
	struct idm_deferred *defer_head;
	struct idm_deferred *defer_tail;
	/* Armed timers sorted by deadline; `due` holds expired ones while
	 * they run, so a timer fn can cancel another expired timer. */
	struct idm_timer *timers;
	struct idm_timer *due;
	/* io_uring, when the kernel lets us have one. */
	bool have_uring;
	unsigned uring_inflight;
	struct io_uring ring;
	struct idm_event_handler uring_ev;
	struct idm_bufcache bufs;
	/* The thread of idm_reactors_start. */
	pthread_t thread;
	bool started;
};

/* The reactor whose loop runs on this thread: the only global state. */
static __thread struct idm_reactor *tls_self;

struct idm_reactor *idm_reactor_self(void)
{
	return tls_self;
}

unsigned idm_reactor_index(const struct idm_reactor *r)
{
	return r->index;
}

struct idm_bufcache *idm_reactor_bufcache(struct idm_reactor *r)
{
	return &r->bufs;
}

uint64_t idm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- eventfd helpers ---- */

/* Make the reactor's epoll_wait return. Async-signal-safe. */
static void wake_reactor(struct idm_reactor *r)
{
	uint64_t one = 1;
	ssize_t n;

	do {
		n = write(r->wake.fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
}

/* Reset an eventfd counter (non-blocking; EAGAIN means already zero). */
static void eventfd_clear(int fd)
{
	uint64_t v;
	ssize_t n;

	do {
		n = read(fd, &v, sizeof(v));
	} while (n < 0 && errno == EINTR);
}

/* ---- messages ---- */

/* Preallocate a queue so that steady-state sends never allocate. */
static int msgq_init(struct idm_msgq *q)
{
	q->items = calloc(IDM_MSGQ_INITIAL, sizeof(*q->items));
	q->count = 0;
	q->cap = q->items ? IDM_MSGQ_INITIAL : 0;
	return q->items ? 0 : -ENOMEM;
}

/* Double a full queue (only under a burst bigger than any before). */
static int msgq_grow(struct idm_msgq *q)
{
	size_t cap = q->cap ? q->cap * 2 : IDM_MSGQ_INITIAL;
	struct idm_msg *items;

	if (cap > SIZE_MAX / sizeof(*items)) {
		return -ENOMEM;
	}
	items = realloc(q->items, cap * sizeof(*items));
	if (!items) {
		return -ENOMEM;
	}
	q->items = items;
	q->cap = cap;
	return 0;
}

int idm_reactor_send(struct idm_reactor *r, void (*fn)(void *arg), void *arg)
{
	bool was_empty;
	int rc = 0;

	if (!r || !fn) {
		return -EINVAL;
	}
	pthread_mutex_lock(&r->lock);
	if (r->incoming.count == r->incoming.cap) {
		rc = msgq_grow(&r->incoming);
	}
	if (rc == 0) {
		was_empty = r->incoming.count == 0;
		r->incoming.items[r->incoming.count++] = (struct idm_msg){fn, arg};
	}
	pthread_mutex_unlock(&r->lock);
	/* Only the first message of a batch needs a wakeup: the reactor
	 * clears the eventfd before it takes the batch, so later senders
	 * ride on that wakeup. */
	if (rc == 0 && was_empty) {
		wake_reactor(r);
	}
	return rc;
}

/* Take the whole incoming batch and run it. Messages sent while it runs
 * wait for the next iteration. Returns how many ran. */
static size_t run_messages(struct idm_reactor *r)
{
	struct idm_msgq batch;
	size_t i, n;

	pthread_mutex_lock(&r->lock);
	batch = r->incoming;
	r->incoming = r->running;
	pthread_mutex_unlock(&r->lock);

	for (i = 0; i < batch.count; i++) {
		batch.items[i].fn(batch.items[i].arg);
	}
	n = batch.count;
	batch.count = 0;
	r->running = batch;
	return n;
}

/* The wake eventfd fired: a message batch or a stop request. */
static void on_wake(void *arg, uint32_t events)
{
	struct idm_reactor *r = arg;

	/* Clear first: a sender that finds the queue empty after our swap
	 * writes again, so nothing sent is missed. */
	eventfd_clear(r->wake.fd);
	run_messages(r);
}

/* ---- deferred work ---- */

void idm_reactor_defer(struct idm_reactor *r, struct idm_deferred *d)
{
	if (d->queued) {
		return;
	}
	d->queued = true;
	d->next = NULL;
	if (r->defer_tail) {
		r->defer_tail->next = d;
	} else {
		r->defer_head = d;
	}
	r->defer_tail = d;
}

/* Run what is queued now; work queued meanwhile runs next iteration. */
static void run_deferred(struct idm_reactor *r)
{
	struct idm_deferred *d = r->defer_head;

	r->defer_head = NULL;
	r->defer_tail = NULL;
	while (d) {
		struct idm_deferred *next = d->next;

		d->next = NULL;
		d->queued = false;
		d->fn(d);
		d = next;
	}
}

/* ---- timers ---- */

/* Remove `t` from a singly linked list; true if it was there. */
static bool timer_unlink(struct idm_timer **list, struct idm_timer *t)
{
	struct idm_timer **pp;

	for (pp = list; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			t->next = NULL;
			return true;
		}
	}
	return false;
}

void idm_timer_cancel(struct idm_reactor *r, struct idm_timer *t)
{
	if (!t->armed) {
		return;
	}
	if (!timer_unlink(&r->timers, t)) {
		timer_unlink(&r->due, t);
	}
	t->armed = false;
}

void idm_timer_arm(struct idm_reactor *r, struct idm_timer *t, uint64_t delay_ms)
{
	struct idm_timer **pp;

	idm_timer_cancel(r, t);
	t->deadline_ms = idm_now_ms() + delay_ms;
	/* After every timer with the same deadline: equal deadlines fire in
	 * the order they were armed. */
	for (pp = &r->timers; *pp && (*pp)->deadline_ms <= t->deadline_ms; pp = &(*pp)->next) {
	}
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

/* Run every timer whose deadline has passed. Timers (re)armed by a timer
 * fn wait for the next iteration, even with a zero delay. */
static void run_timers(struct idm_reactor *r)
{
	uint64_t now;
	struct idm_timer **pp;
	struct idm_timer *t;

	if (!r->timers) {
		return;
	}
	now = idm_now_ms();
	for (pp = &r->timers; *pp && (*pp)->deadline_ms <= now; pp = &(*pp)->next) {
	}
	if (pp == &r->timers) {
		return;
	}
	r->due = r->timers;
	r->timers = *pp;
	*pp = NULL;
	while ((t = r->due)) {
		r->due = t->next;
		t->next = NULL;
		t->armed = false;
		t->fn(t);
	}
}

/* ---- io_uring ---- */

/* Set up the ring and its completion eventfd; on failure log once and go
 * on without: idm_reactor_sqe then returns NULL and stores fall back to
 * synchronous I/O. */
static void uring_setup(struct idm_reactor *r)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->uring_ev};
	const char *what = "io_uring_queue_init";
	int rc, efd;

	rc = io_uring_queue_init(IDM_URING_ENTRIES, &r->ring, 0);
	if (rc < 0) {
		goto fail;
	}
	what = "eventfd";
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rc = efd < 0 ? -errno : 0;
	if (rc == 0) {
		what = "io_uring_register_eventfd";
		rc = io_uring_register_eventfd(&r->ring, efd);
	}
	if (rc == 0) {
		what = "epoll_ctl";
		r->uring_ev.fd = efd;
		rc = epoll_ctl(r->epfd, EPOLL_CTL_ADD, efd, &ev) ? -errno : 0;
	}
	if (rc == 0) {
		r->have_uring = true;
		return;
	}
	if (efd >= 0) {
		close(efd);
	}
	r->uring_ev.fd = -1;
	io_uring_queue_exit(&r->ring);
fail:
	fprintf(stderr, "idm: reactor %u: %s: %s; file I/O will be synchronous\n", r->index, what,
	        strerror(-rc));
}

struct io_uring_sqe *idm_reactor_sqe(struct idm_reactor *r, struct idm_uring_req *req)
{
	struct io_uring_sqe *sqe;

	if (!r || !r->have_uring) {
		return NULL;
	}
	sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe) {
			return NULL;
		}
	}
	/* A NOP until the caller preps it: a stale opcode never runs. */
	memset(sqe, 0, sizeof(*sqe));
	io_uring_sqe_set_data(sqe, req);
	r->uring_inflight++;
	return sqe;
}

/* Submit what idm_reactor_sqe handed out. False if some is left over
 * (the kernel said busy): then the loop must not sleep long. */
static bool uring_submit(struct idm_reactor *r)
{
	if (!r->have_uring || io_uring_sq_ready(&r->ring) == 0) {
		return true;
	}
	io_uring_submit(&r->ring);
	return io_uring_sq_ready(&r->ring) == 0;
}

/* Call `done` for every completion in the CQ. */
static void uring_reap(struct idm_reactor *r)
{
	struct io_uring_cqe *cqe;

	if (!r->have_uring) {
		return;
	}
	while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
		struct idm_uring_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&r->ring, cqe);
		r->uring_inflight--;
		if (req && req->done) {
			req->done(req, res);
		}
	}
}

/* The ring's eventfd fired: completions are waiting. */
static void on_uring(void *arg, uint32_t events)
{
	struct idm_reactor *r = arg;

	eventfd_clear(r->uring_ev.fd);
	uring_reap(r);
}

/* Wait for every request in flight and complete it (teardown). */
static void uring_drain(struct idm_reactor *r)
{
	while (r->have_uring && r->uring_inflight > 0) {
		int rc = io_uring_submit_and_wait(&r->ring, 1);

		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "idm: reactor %u: %u io_uring requests lost: %s\n",
			        r->index, r->uring_inflight, strerror(-rc));
			return;
		}
		uring_reap(r);
	}
}

/* ---- epoll ---- */

int idm_reactor_add(struct idm_reactor *r, struct idm_event_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, h->fd, &ev) ? -errno : 0;
}

int idm_reactor_mod(struct idm_reactor *r, struct idm_event_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	return epoll_ctl(r->epfd, EPOLL_CTL_MOD, h->fd, &ev) ? -errno : 0;
}

int idm_reactor_del(struct idm_reactor *r, struct idm_event_handler *h)
{
	int rc = epoll_ctl(r->epfd, EPOLL_CTL_DEL, h->fd, NULL) ? -errno : 0;
	int i;

	/* Events of this batch not dispatched yet must not reach `h`. */
	for (i = r->cur + 1; i < r->nevents; i++) {
		if (r->events[i].data.ptr == h) {
			r->events[i].data.ptr = NULL;
		}
	}
	return rc;
}

/* How long epoll_wait may sleep: the caller's limit, cut short by the
 * nearest timer; zero when work is already waiting. */
static int wait_timeout(struct idm_reactor *r, int timeout_ms, bool sq_clear)
{
	uint64_t now, left;

	if (r->defer_head || atomic_load(&r->stop)) {
		return 0;
	}
	if (!sq_clear && (timeout_ms < 0 || timeout_ms > 1)) {
		timeout_ms = 1;
	}
	if (!r->timers) {
		return timeout_ms;
	}
	now = idm_now_ms();
	left = r->timers->deadline_ms > now ? r->timers->deadline_ms - now : 0;
	if (left > INT_MAX) {
		left = INT_MAX;
	}
	if (timeout_ms < 0 || (uint64_t)timeout_ms > left) {
		return (int)left;
	}
	return timeout_ms;
}

/* Call the handler of each ready fd (skipping ones deleted meanwhile). */
static void dispatch(struct idm_reactor *r, int n)
{
	r->nevents = n;
	for (r->cur = 0; r->cur < n; r->cur++) {
		struct idm_event_handler *h = r->events[r->cur].data.ptr;

		if (h) {
			h->fn(h->arg, r->events[r->cur].events);
		}
	}
	r->nevents = 0;
	r->cur = 0;
}

int idm_reactor_poll(struct idm_reactor *r, int timeout_ms)
{
	struct idm_reactor *prev = tls_self;
	bool sq_clear;
	int n, rc;

	tls_self = r;
	sq_clear = uring_submit(r);
	n = epoll_wait(r->epfd, r->events, IDM_REACTOR_MAX_EVENTS,
	               wait_timeout(r, timeout_ms, sq_clear));
	rc = n;
	if (n < 0) {
		rc = errno == EINTR ? 0 : -errno;
		n = 0;
	}
	dispatch(r, n);
	uring_reap(r);
	run_timers(r);
	run_deferred(r);
	tls_self = prev;
	return rc;
}

void idm_reactor_run(struct idm_reactor *r)
{
	struct idm_reactor *prev = tls_self;

	tls_self = r;
	while (!atomic_load(&r->stop)) {
		idm_reactor_poll(r, -1);
	}
	/* Consumed: the reactor can run again later. */
	atomic_store(&r->stop, false);
	tls_self = prev;
}

void idm_reactor_stop(struct idm_reactor *r)
{
	atomic_store(&r->stop, true);
	wake_reactor(r);
}

/* ---- single reactor lifetime ---- */

/* Close and free whatever exists of `r` (also a half-built one). */
static void reactor_free(struct idm_reactor *r)
{
	if (r->have_uring) {
		io_uring_queue_exit(&r->ring);
	}
	if (r->uring_ev.fd >= 0) {
		close(r->uring_ev.fd);
	}
	if (r->wake.fd >= 0) {
		close(r->wake.fd);
	}
	if (r->epfd >= 0) {
		close(r->epfd);
	}
	idm_bufcache_drain(&r->bufs);
	free(r->incoming.items);
	free(r->running.items);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct idm_reactor *idm_reactor_create(unsigned index)
{
	struct idm_reactor *r = calloc(1, sizeof(*r));

	if (!r) {
		return NULL;
	}
	r->index = index;
	r->epfd = -1;
	r->wake.fd = -1;
	r->uring_ev.fd = -1;
	pthread_mutex_init(&r->lock, NULL);
	atomic_init(&r->stop, false);
	if (msgq_init(&r->incoming) || msgq_init(&r->running)) {
		goto fail;
	}
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->epfd < 0 || r->wake.fd < 0) {
		goto fail;
	}
	r->wake.fn = on_wake;
	r->wake.arg = r;
	if (idm_reactor_add(r, &r->wake, EPOLLIN)) {
		goto fail;
	}
	r->uring_ev.fn = on_uring;
	r->uring_ev.arg = r;
	uring_setup(r);
	return r;
fail:
	reactor_free(r);
	return NULL;
}

void idm_reactor_destroy(struct idm_reactor *r)
{
	struct idm_reactor *prev = tls_self;
	struct idm_timer *t;

	if (!r) {
		return;
	}
	tls_self = r;
	uring_drain(r);
	/* Leftover messages and deferred work run; each may queue more. */
	while (r->incoming.count > 0 || r->defer_head) {
		run_messages(r);
		run_deferred(r);
	}
	while ((t = r->timers)) {
		r->timers = t->next;
		t->next = NULL;
		t->armed = false;
	}
	tls_self = prev;
	reactor_free(r);
}

/* ---- reactor threads ---- */

/* Body of a reactor thread: the loop, until idm_reactors_stop. */
static void *reactor_thread(void *arg)
{
	idm_reactor_run(arg);
	return NULL;
}

/* The CPU for reactor `index`: the (index % n)-th CPU this process may
 * run on, so a cpuset-restricted container still spreads evenly. */
static int pick_cpu(unsigned index)
{
	cpu_set_t allowed;
	int cpu, count, nth;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		return n > 0 ? (int)(index % (unsigned long)n) : 0;
	}
	count = CPU_COUNT(&allowed);
	nth = count > 0 ? (int)(index % (unsigned)count) : 0;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &allowed) && nth-- == 0) {
			return cpu;
		}
	}
	return 0;
}

/* Pin and name a started reactor thread; failures only cost speed. */
static void pin_and_name(struct idm_reactor *r)
{
	char name[16];
	cpu_set_t set;
	int cpu = pick_cpu(r->index);
	int rc;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_setaffinity_np(r->thread, sizeof(set), &set);
	if (rc != 0) {
		fprintf(stderr, "idm: reactor %u: cannot pin to CPU %d: %s\n", r->index, cpu,
		        strerror(rc));
	}
	snprintf(name, sizeof(name), "idm-r%u", r->index);
	pthread_setname_np(r->thread, name);
}

int idm_reactors_create(unsigned n, struct idm_reactor ***out)
{
	struct idm_reactor **r;
	unsigned i;

	if (n == 0 || !out) {
		return -EINVAL;
	}
	r = calloc(n, sizeof(*r));
	if (!r) {
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		r[i] = idm_reactor_create(i);
		if (!r[i]) {
			idm_reactors_destroy(r, i);
			return -ENOMEM;
		}
	}
	*out = r;
	return 0;
}

int idm_reactors_start(struct idm_reactor **r, unsigned n)
{
	unsigned i;
	int rc;

	for (i = 0; i < n; i++) {
		if (r[i]->started) {
			continue;
		}
		rc = pthread_create(&r[i]->thread, NULL, reactor_thread, r[i]);
		if (rc != 0) {
			idm_reactors_stop(r, i);
			return -rc;
		}
		r[i]->started = true;
		pin_and_name(r[i]);
	}
	return 0;
}

void idm_reactors_stop(struct idm_reactor **r, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (r[i]->started) {
			idm_reactor_stop(r[i]);
		}
	}
	for (i = 0; i < n; i++) {
		if (r[i]->started) {
			pthread_join(r[i]->thread, NULL);
			r[i]->started = false;
		}
	}
}

void idm_reactors_destroy(struct idm_reactor **r, unsigned n)
{
	unsigned i;

	if (!r) {
		return;
	}
	idm_reactors_stop(r, n);
	for (i = 0; i < n; i++) {
		idm_reactor_destroy(r[i]);
	}
	free(r);
}
