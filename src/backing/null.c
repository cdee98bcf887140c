/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null: reads return zeros, writes vanish. For benchmarking everything
 * above the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing/backing_priv.h"

static void null_submit(struct idm_backing *b, struct idm_backing_io *io, struct idm_reactor *r)
{
	int rc = idm_backing_check_io(b, io);

	if (rc) {
		idm_backing_complete(io, rc);
		return;
	}
	if (io->op == IDM_BACKING_READ) {
		memset(io->buf, 0, io->len);
	}
	/* WRITE ZEROES and UNMAP: it reads as zeros already. */
	io->moved = io->op == IDM_BACKING_FLUSH ? 0 : io->len;
	idm_backing_complete(io, 0);
}

static void null_close(struct idm_backing *b)
{
	free(b);
}

static int null_resize(struct idm_backing *b, uint64_t size)
{
	b->size = size;
	return 0;
}

static const struct idm_backing_ops null_ops = {
    .kind = "null",
    .submit = null_submit,
    .map = NULL,
    .close = null_close,
    .resize = null_resize,
};

int idm_null_open(uint64_t size, struct idm_backing **out, char *why, size_t whylen)
{
	struct idm_backing *b = calloc(1, sizeof(*b));

	if (!b) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	b->ops = &null_ops;
	b->size = size;
	b->discards_writes = true;
	*out = b;
	return 0;
}
