/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the store tests (see backing_test.h). */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>

#include "backing_test.h"

static char dir[64];

int bt_make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/idm_backing_ut_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

int bt_remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

const char *bt_dir(void)
{
	return dir;
}

void probe_done(struct idm_backing_io *io, int status)
{
	struct probe *p = (struct probe *)io;

	p->status = status;
	p->calls++;
}

int run_io_ex(struct idm_backing *b, struct idm_reactor *r, enum idm_backing_op op, uint64_t off,
              uint32_t len, uint8_t *buf, bool fua, bool *inline_done)
{
	struct probe p = {
	    .io = {
	        .op = op, .offset = off, .len = len, .buf = buf, .fua = fua, .done = probe_done}};
	uint64_t end = idm_now_ms() + 5000;

	idm_backing_submit(b, &p.io, r);
	if (inline_done) {
		*inline_done = p.calls == 1;
	}
	while (r && p.calls == 0 && idm_now_ms() < end) {
		assert_true(idm_reactor_poll(r, 100) >= 0);
	}
	assert_int_equal(p.calls, 1);
	if (p.status == 0 && op != IDM_BACKING_FLUSH) {
		assert_int_equal(p.io.moved, len);
	}
	return p.status;
}

int run_io(struct idm_backing *b, struct idm_reactor *r, enum idm_backing_op op, uint64_t off,
           uint32_t len, uint8_t *buf)
{
	return run_io_ex(b, r, op, off, len, buf, false, NULL);
}

struct idm_backing *open_ok(const char *spec, uint32_t bs)
{
	struct idm_backing *b = NULL;
	char err[512] = "";

	if (idm_backing_open(spec, bs, &b, err, sizeof(err)) != 0) {
		fail_msg("%s", err);
	}
	return b;
}

static int nop_res = 1;

static void nop_done(struct idm_uring_req *req, int res)
{
	(void)req;
	nop_res = res;
}

bool have_uring(struct idm_reactor *r)
{
	struct idm_uring_req req = {.done = nop_done};

	nop_res = 1;
	if (!idm_reactor_sqe(r, &req)) {
		return false;
	}
	while (nop_res == 1) {
		idm_reactor_poll(r, 100);
	}
	return nop_res == 0;
}
