/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the store tests (store_ut.c, thin_ut.c): a scratch directory
 * for file stores, a request probe, running one request to completion,
 * and opening a store that must open.
 */
#ifndef IDM_TESTS_BACKING_TEST_H
#define IDM_TESTS_BACKING_TEST_H

#include <stdbool.h>
#include <stdint.h>

#include "idm/backing.h"
#include "idm/reactor.h"

#define KiB 1024u
#define MiB (1024u * KiB)

/* A request and what became of it. */
struct probe {
	struct idm_backing_io io;
	int status;
	int calls;
};

/* cmocka group fixtures: make and remove the scratch directory. */
int bt_make_dir(void **state);
int bt_remove_dir(void **state);
/* The scratch directory's path (valid between the two fixtures). */
const char *bt_dir(void);

/* Completion callback of a struct probe: records status and calls. */
void probe_done(struct idm_backing_io *io, int status);

/* Run one request to completion, through reactor `r` (polled here) or
 * synchronously (r == NULL). Reports whether it completed inside submit
 * when `inline_done` is not NULL. */
int run_io_ex(struct idm_backing *b, struct idm_reactor *r, enum idm_backing_op op, uint64_t off,
              uint32_t len, uint8_t *buf, bool fua, bool *inline_done);
/* The same without FUA, when completing inline does not matter. */
int run_io(struct idm_backing *b, struct idm_reactor *r, enum idm_backing_op op, uint64_t off,
           uint32_t len, uint8_t *buf);

/* Does reactor `r` have a working io_uring? (A NOP through it completes.) */
bool have_uring(struct idm_reactor *r);

/* Open `spec` with block size `bs`, failing the test with the error text. */
struct idm_backing *open_ok(const char *spec, uint32_t bs);

#endif
