/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-core reactors: one thread each, pinned, running an epoll loop.
 * Everything a connection does happens on its reactor's thread, so the
 * data path takes no locks. A reactor also owns:
 *   - an io_uring (liburing) for file I/O, its completions signalled
 *     through an eventfd in the same epoll set;
 *   - a buffer cache with power-of-two size classes, so steady-state I/O
 *     allocates nothing;
 *   - a message queue (mutex + eventfd) for work sent from other threads;
 *   - millisecond timers.
 */
#ifndef IDM_REACTOR_H
#define IDM_REACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idm_reactor;
struct io_uring_sqe;

typedef void (*idm_event_fn)(void *arg, uint32_t events);

/* An fd watched by a reactor. Embed it in the object that owns the fd. */
struct idm_event_handler {
	int fd;
	idm_event_fn fn;
	void *arg;
};

/* Create `n` reactors (threads not started yet). */
int idm_reactors_create(unsigned n, struct idm_reactor ***out);
/* Start each reactor on its own thread, pinned to CPU i % ncpus. */
int idm_reactors_start(struct idm_reactor **r, unsigned n);
/* Ask every reactor to stop and join the threads (idempotent). */
void idm_reactors_stop(struct idm_reactor **r, unsigned n);
/* Stop (if running), destroy every reactor and free the array. */
void idm_reactors_destroy(struct idm_reactor **r, unsigned n);

/* Single reactor, driven by the caller's thread (tests, idmio). */
struct idm_reactor *idm_reactor_create(unsigned index);
void idm_reactor_destroy(struct idm_reactor *r);
/* Run one iteration: wait up to `timeout_ms` (-1 forever), dispatch. */
int idm_reactor_poll(struct idm_reactor *r, int timeout_ms);
/* Run until idm_reactor_stop() is called from any thread. */
void idm_reactor_run(struct idm_reactor *r);
void idm_reactor_stop(struct idm_reactor *r);

/* The reactor running on the calling thread, or NULL. */
struct idm_reactor *idm_reactor_self(void);
unsigned idm_reactor_index(const struct idm_reactor *r);

/* epoll registration (EPOLLIN/EPOLLOUT/...); call on the reactor's thread. */
int idm_reactor_add(struct idm_reactor *r, struct idm_event_handler *h, uint32_t events);
int idm_reactor_mod(struct idm_reactor *r, struct idm_event_handler *h, uint32_t events);
int idm_reactor_del(struct idm_reactor *r, struct idm_event_handler *h);

/* Run fn(arg) on reactor `r`'s thread. Safe from any thread. */
int idm_reactor_send(struct idm_reactor *r, void (*fn)(void *arg), void *arg);

/* Work to do at the end of the current loop iteration (batched flushes). */
struct idm_deferred {
	void (*fn)(struct idm_deferred *d);
	struct idm_deferred *next;
	bool queued;
};
void idm_reactor_defer(struct idm_reactor *r, struct idm_deferred *d);

/* One-shot timers on the reactor's clock (CLOCK_MONOTONIC, ms). */
struct idm_timer {
	uint64_t deadline_ms;
	void (*fn)(struct idm_timer *t);
	struct idm_timer *next;
	bool armed;
};
uint64_t idm_now_ms(void);
void idm_timer_arm(struct idm_reactor *r, struct idm_timer *t, uint64_t delay_ms);
void idm_timer_cancel(struct idm_reactor *r, struct idm_timer *t);

/* io_uring: a request whose completion the reactor dispatches. */
struct idm_uring_req {
	void (*done)(struct idm_uring_req *req, int res);
};
/* An SQE with user_data set to `req`, or NULL if the ring is full even
 * after submitting what is queued. Submission is batched per iteration. */
struct io_uring_sqe *idm_reactor_sqe(struct idm_reactor *r, struct idm_uring_req *req);

/* Buffer cache: power-of-two classes from 4 KiB to 16 MiB, kept per
 * reactor; larger requests go to malloc. `*cap` gets the usable size. */
void *idm_buf_get(struct idm_reactor *r, size_t len, size_t *cap);
void idm_buf_put(struct idm_reactor *r, void *buf, size_t cap);

#endif
