/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the reactor: timers, messages, deferred work, fds,
 * io_uring, reactor threads. */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "idm/reactor.h"

/* Poll `r` until *flag is set or `ms` pass; true if it got set. */
static bool poll_until(struct idm_reactor *r, atomic_int *flag, int want, uint64_t ms)
{
	uint64_t end = idm_now_ms() + ms;

	while (atomic_load(flag) < want && idm_now_ms() < end) {
		assert_true(idm_reactor_poll(r, 10) >= 0);
	}
	return atomic_load(flag) >= want;
}

/* ---- timers ---- */

struct order_timer {
	struct idm_timer t;
	int id;
	int *log;
	int *nlog;
	uint64_t armed_at;
	uint64_t delay;
};

static void order_fired(struct idm_timer *t)
{
	struct order_timer *ot = (struct order_timer *)t;

	assert_true(idm_now_ms() >= ot->armed_at + ot->delay);
	ot->log[(*ot->nlog)++] = ot->id;
}

static void test_timers_fire_in_order(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	int log[3] = {0}, nlog = 0;
	uint64_t delays[3] = {30, 10, 20};
	struct order_timer ot[3];
	uint64_t end;
	int i;

	assert_non_null(r);
	for (i = 0; i < 3; i++) {
		ot[i] = (struct order_timer){.t.fn = order_fired,
		                             .id = i,
		                             .log = log,
		                             .nlog = &nlog,
		                             .armed_at = idm_now_ms(),
		                             .delay = delays[i]};
		idm_timer_arm(r, &ot[i].t, delays[i]);
		assert_true(ot[i].t.armed);
	}
	end = idm_now_ms() + 2000;
	while (nlog < 3 && idm_now_ms() < end) {
		idm_reactor_poll(r, -1); /* the timers bound the wait */
	}
	assert_int_equal(nlog, 3);
	assert_int_equal(log[0], 1);
	assert_int_equal(log[1], 2);
	assert_int_equal(log[2], 0);
	for (i = 0; i < 3; i++) {
		assert_false(ot[i].t.armed);
	}
	idm_reactor_destroy(r);
}

static int cancel_hits;

static void cancel_fired(struct idm_timer *t)
{
	cancel_hits++;
}

static void test_timer_cancel(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct idm_timer a = {.fn = cancel_fired}, b = {.fn = cancel_fired};
	uint64_t end;

	assert_non_null(r);
	cancel_hits = 0;
	idm_timer_cancel(r, &a); /* not armed: no-op */
	idm_timer_arm(r, &a, 5);
	idm_timer_arm(r, &b, 20);
	idm_timer_cancel(r, &a);
	assert_false(a.armed);
	idm_timer_cancel(r, &a); /* twice: still fine */
	end = idm_now_ms() + 60;
	while (idm_now_ms() < end) {
		idm_reactor_poll(r, 5);
	}
	assert_int_equal(cancel_hits, 1);
	assert_false(b.armed);
	/* Re-arming an armed timer moves it rather than queueing it twice. */
	idm_timer_arm(r, &a, 1000);
	idm_timer_arm(r, &a, 1);
	end = idm_now_ms() + 30;
	while (idm_now_ms() < end) {
		idm_reactor_poll(r, 5);
	}
	assert_int_equal(cancel_hits, 2);
	/* Armed at destroy: disarmed, never run. */
	idm_timer_arm(r, &b, 10000);
	idm_reactor_destroy(r);
	assert_false(b.armed);
	assert_int_equal(cancel_hits, 2);
}

struct rearm_timer {
	struct idm_timer t;
	struct idm_reactor *r;
	int runs;
};

static void rearm_fired(struct idm_timer *t)
{
	struct rearm_timer *rt = (struct rearm_timer *)t;

	if (++rt->runs < 3) {
		idm_timer_arm(rt->r, t, 0);
	}
}

static void test_timer_rearms_itself(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct rearm_timer rt = {.t.fn = rearm_fired, .r = r};

	assert_non_null(r);
	idm_timer_arm(r, &rt.t, 0);
	/* A zero-delay re-arm waits for the next iteration. */
	idm_reactor_poll(r, 0);
	assert_int_equal(rt.runs, 1);
	idm_reactor_poll(r, 0);
	assert_int_equal(rt.runs, 2);
	idm_reactor_poll(r, 0);
	idm_reactor_poll(r, 0);
	assert_int_equal(rt.runs, 3);
	assert_false(rt.t.armed);
	idm_reactor_destroy(r);
}

/* ---- messages ---- */

struct msg_probe {
	struct idm_reactor *expect_self;
	pthread_t ran_on;
	atomic_int ran;
	bool self_ok;
};

static void probe_msg(void *arg)
{
	struct msg_probe *p = arg;

	p->ran_on = pthread_self();
	p->self_ok = idm_reactor_self() == p->expect_self;
	atomic_fetch_add(&p->ran, 1);
}

struct sender {
	struct idm_reactor *r;
	void (*fn)(void *arg);
	void *arg;
	int count;
};

static void *sender_thread(void *arg)
{
	struct sender *s = arg;
	int i;

	for (i = 0; i < s->count; i++) {
		assert_int_equal(idm_reactor_send(s->r, s->fn, s->arg), 0);
	}
	return NULL;
}

static void test_send_runs_on_reactor_thread(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct msg_probe p = {.expect_self = r};
	struct sender s = {.r = r, .fn = probe_msg, .arg = &p, .count = 1};
	pthread_t th;

	assert_non_null(r);
	assert_int_equal(pthread_create(&th, NULL, sender_thread, &s), 0);
	assert_true(poll_until(r, &p.ran, 1, 2000));
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&p.ran), 1);
	assert_true(pthread_equal(p.ran_on, pthread_self()));
	assert_true(p.self_ok);
	assert_null(idm_reactor_self()); /* only inside the loop */
	idm_reactor_destroy(r);
}

/* Each message carries its own slot: every one must run exactly once. */
#define FLOOD 20000
static atomic_int flood_slots[2 * FLOOD];
static atomic_int flood_total;

static void flood_msg(void *arg)
{
	atomic_int *slot = arg;

	atomic_fetch_add(slot, 1);
	atomic_fetch_add(&flood_total, 1);
}

struct flood_sender {
	struct idm_reactor *r;
	int base;
};

static void *flood_thread(void *arg)
{
	struct flood_sender *fs = arg;
	int i;

	for (i = 0; i < FLOOD; i++) {
		assert_int_equal(idm_reactor_send(fs->r, flood_msg, &flood_slots[fs->base + i]), 0);
	}
	return NULL;
}

static void test_send_flood_exactly_once(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct flood_sender fs[2] = {{r, 0}, {r, FLOOD}};
	pthread_t th[2];
	int i;

	assert_non_null(r);
	atomic_store(&flood_total, 0);
	for (i = 0; i < 2 * FLOOD; i++) {
		atomic_store(&flood_slots[i], 0);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, flood_thread, &fs[i]), 0);
	}
	assert_true(poll_until(r, &flood_total, 2 * FLOOD, 10000));
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
	}
	idm_reactor_poll(r, 0);
	assert_int_equal(atomic_load(&flood_total), 2 * FLOOD);
	for (i = 0; i < 2 * FLOOD; i++) {
		assert_int_equal(atomic_load(&flood_slots[i]), 1);
	}
	idm_reactor_destroy(r);
}

static void test_destroy_runs_queued_messages(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct msg_probe p = {.expect_self = r};

	assert_non_null(r);
	assert_int_equal(idm_reactor_send(r, probe_msg, &p), 0);
	assert_int_equal(idm_reactor_send(r, probe_msg, &p), 0);
	assert_int_equal(idm_reactor_send(NULL, probe_msg, &p), -EINVAL);
	assert_int_equal(idm_reactor_send(r, NULL, &p), -EINVAL);
	idm_reactor_destroy(r);
	assert_int_equal(atomic_load(&p.ran), 2);
	assert_true(p.self_ok);
}

/* ---- deferred ---- */

struct defer_probe {
	struct idm_deferred d;
	struct idm_reactor *r;
	int runs;
	int requeue; /* re-queue itself this many times */
};

static void defer_fn(struct idm_deferred *d)
{
	struct defer_probe *p = (struct defer_probe *)d;

	p->runs++;
	assert_false(d->queued);
	if (p->requeue > 0) {
		p->requeue--;
		idm_reactor_defer(p->r, d);
	}
}

static void test_deferred_once_per_iteration(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct defer_probe p = {.d.fn = defer_fn, .r = r};
	uint64_t start;

	assert_non_null(r);
	idm_reactor_defer(r, &p.d);
	idm_reactor_defer(r, &p.d); /* already queued: still one run */
	assert_true(p.d.queued);
	idm_reactor_poll(r, 0);
	assert_int_equal(p.runs, 1);
	assert_false(p.d.queued);
	idm_reactor_poll(r, 0);
	assert_int_equal(p.runs, 1);

	/* Re-queued from its own fn: once per iteration, and pending work
	 * keeps epoll_wait from sleeping. */
	p.requeue = 2;
	idm_reactor_defer(r, &p.d);
	start = idm_now_ms();
	idm_reactor_poll(r, 5000);
	assert_int_equal(p.runs, 2);
	idm_reactor_poll(r, 5000);
	assert_int_equal(p.runs, 3);
	idm_reactor_poll(r, 5000);
	assert_int_equal(p.runs, 4);
	assert_true(idm_now_ms() - start < 1000);
	assert_false(p.d.queued);
	idm_reactor_destroy(r);
}

/* ---- file descriptors ---- */

struct pipe_probe {
	struct idm_event_handler h;
	struct idm_reactor *r;
	struct pipe_probe *victim; /* deleted by this handler, if set */
	int calls;
	uint32_t events;
};

static void pipe_ready(void *arg, uint32_t events)
{
	struct pipe_probe *p = arg;
	char c;

	p->calls++;
	p->events = events;
	if (p->victim) {
		assert_int_equal(idm_reactor_del(p->r, &p->victim->h), 0);
	} else {
		assert_int_equal(read(p->h.fd, &c, 1), 1);
	}
}

static void test_pipe_handler_gets_epollin(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct pipe_probe p = {.r = r};
	int fds[2];

	assert_non_null(r);
	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	p.h = (struct idm_event_handler){.fd = fds[0], .fn = pipe_ready, .arg = &p};
	assert_int_equal(idm_reactor_add(r, &p.h, EPOLLIN), 0);
	assert_int_equal(idm_reactor_add(r, &p.h, EPOLLIN), -EEXIST);
	idm_reactor_poll(r, 0);
	assert_int_equal(p.calls, 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(idm_reactor_poll(r, 1000), 1);
	assert_int_equal(p.calls, 1);
	assert_true(p.events & EPOLLIN);
	/* Level-triggered, drained: no more calls. */
	idm_reactor_poll(r, 0);
	assert_int_equal(p.calls, 1);
	/* Modified to want nothing: data waits. */
	assert_int_equal(idm_reactor_mod(r, &p.h, 0), 0);
	assert_int_equal(write(fds[1], "y", 1), 1);
	idm_reactor_poll(r, 0);
	assert_int_equal(p.calls, 1);
	assert_int_equal(idm_reactor_mod(r, &p.h, EPOLLIN), 0);
	idm_reactor_poll(r, 1000);
	assert_int_equal(p.calls, 2);
	assert_int_equal(idm_reactor_del(r, &p.h), 0);
	assert_int_equal(write(fds[1], "z", 1), 1);
	idm_reactor_poll(r, 0);
	assert_int_equal(p.calls, 2);
	close(fds[0]);
	close(fds[1]);
	idm_reactor_destroy(r);
}

static void test_del_voids_pending_event(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct pipe_probe p[2] = {{.r = r}, {.r = r}};
	int fds[2][2], i;

	assert_non_null(r);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pipe2(fds[i], O_NONBLOCK | O_CLOEXEC), 0);
		p[i].h =
		    (struct idm_event_handler){.fd = fds[i][0], .fn = pipe_ready, .arg = &p[i]};
		assert_int_equal(idm_reactor_add(r, &p[i].h, EPOLLIN), 0);
		assert_int_equal(write(fds[i][1], "x", 1), 1);
	}
	/* Whichever runs first deletes the other: exactly one call. */
	p[0].victim = &p[1];
	p[1].victim = &p[0];
	idm_reactor_poll(r, 1000);
	assert_int_equal(p[0].calls + p[1].calls, 1);
	for (i = 0; i < 2; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	idm_reactor_destroy(r);
}

/* ---- io_uring ---- */

struct read_req {
	struct idm_uring_req ureq;
	int res;
	atomic_int done;
};

static void read_done(struct idm_uring_req *req, int res)
{
	struct read_req *rr = (struct read_req *)req;

	rr->res = res;
	atomic_store(&rr->done, 1);
}

static void test_uring_read_file(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	char path[] = "/tmp/idm_reactor_ut_XXXXXX";
	struct read_req rr = {.ureq.done = read_done};
	struct io_uring_sqe *sqe;
	char data[8192], got[4096] = {0}; /* valgrind cannot see io_uring writes */
	int fd, i;

	assert_non_null(r);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	for (i = 0; i < (int)sizeof(data); i++) {
		data[i] = (char)(i * 7 + 3);
	}
	assert_int_equal(write(fd, data, sizeof(data)), sizeof(data));
	sqe = idm_reactor_sqe(r, &rr.ureq);
	if (!sqe) {
		close(fd);
		idm_reactor_destroy(r);
		skip(); /* io_uring unavailable here: the stores fall back */
	}
	assert_ptr_equal((void *)(uintptr_t)sqe->user_data, &rr.ureq);
	io_uring_prep_read(sqe, fd, got, sizeof(got), 4096);
	assert_true(poll_until(r, &rr.done, 1, 5000));
	assert_int_equal(rr.res, sizeof(got));
	assert_memory_equal(got, data + 4096, sizeof(got));

	/* Many more than the ring holds: the full SQ is submitted on the
	 * way, and a request still in flight at destroy completes. */
	{
		struct read_req many[600];

		for (i = 0; i < 600; i++) {
			many[i] = (struct read_req){.ureq.done = read_done, .res = -1};
			sqe = idm_reactor_sqe(r, &many[i].ureq);
			assert_non_null(sqe);
			io_uring_prep_read(sqe, fd, got, 512, (uint64_t)(i % 16) * 512);
		}
		idm_reactor_destroy(r);
		for (i = 0; i < 600; i++) {
			assert_int_equal(atomic_load(&many[i].done), 1);
			assert_int_equal(many[i].res, 512);
		}
	}
	close(fd);
	assert_null(idm_reactor_sqe(NULL, &rr.ureq));
}

/* ---- run / stop, reactor threads ---- */

static void *stopper_thread(void *arg)
{
	usleep(20000);
	idm_reactor_stop(arg);
	return NULL;
}

static void test_run_until_stopped(void **state)
{
	struct idm_reactor *r = idm_reactor_create(3);
	pthread_t th;

	assert_non_null(r);
	assert_int_equal(idm_reactor_index(r), 3);
	assert_int_equal(pthread_create(&th, NULL, stopper_thread, r), 0);
	idm_reactor_run(r); /* returns once the other thread stops it */
	pthread_join(th, NULL);
	/* A stop before run makes run return at once. */
	idm_reactor_stop(r);
	idm_reactor_run(r);
	idm_reactor_destroy(r);
}

struct thread_probe {
	struct idm_reactor *r;
	char name[16];
	bool self_ok;
	atomic_int ran;
};

static void thread_probe_msg(void *arg)
{
	struct thread_probe *tp = arg;

	pthread_getname_np(pthread_self(), tp->name, sizeof(tp->name));
	tp->self_ok = idm_reactor_self() == tp->r;
	atomic_store(&tp->ran, 1);
}

static void test_reactor_threads(void **state)
{
	struct idm_reactor **rs = NULL;
	struct thread_probe tp[2];
	char want[16];
	uint64_t end;
	int i;

	assert_int_equal(idm_reactors_create(0, &rs), -EINVAL);
	assert_int_equal(idm_reactors_create(2, &rs), 0);
	assert_int_equal(idm_reactors_start(rs, 2), 0);
	for (i = 0; i < 2; i++) {
		tp[i] = (struct thread_probe){.r = rs[i]};
		assert_int_equal(idm_reactor_send(rs[i], thread_probe_msg, &tp[i]), 0);
	}
	end = idm_now_ms() + 5000;
	while ((!atomic_load(&tp[0].ran) || !atomic_load(&tp[1].ran)) && idm_now_ms() < end) {
		usleep(1000);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(atomic_load(&tp[i].ran), 1);
		assert_true(tp[i].self_ok);
		snprintf(want, sizeof(want), "idm-r%d", i);
		assert_string_equal(tp[i].name, want);
		assert_int_equal(idm_reactor_index(rs[i]), i);
	}
	idm_reactors_stop(rs, 2);
	idm_reactors_stop(rs, 2); /* idempotent */
	idm_reactors_destroy(rs, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_fire_in_order),
	    cmocka_unit_test(test_timer_cancel),
	    cmocka_unit_test(test_timer_rearms_itself),
	    cmocka_unit_test(test_send_runs_on_reactor_thread),
	    cmocka_unit_test(test_send_flood_exactly_once),
	    cmocka_unit_test(test_destroy_runs_queued_messages),
	    cmocka_unit_test(test_deferred_once_per_iteration),
	    cmocka_unit_test(test_pipe_handler_gets_epollin),
	    cmocka_unit_test(test_del_voids_pending_event),
	    cmocka_unit_test(test_uring_read_file),
	    cmocka_unit_test(test_run_until_stopped),
	    cmocka_unit_test(test_reactor_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
