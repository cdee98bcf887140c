/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to src/backing: the store constructors called by the spec
 * parser, and helpers every store shares.
 */
#ifndef IDM_BACKING_PRIV_H
#define IDM_BACKING_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/backing.h"

/*
 * Store constructors. `size` is in bytes and already a multiple of
 * `block_size`; for the file store 0 means "the size of the existing
 * file or device". On failure they return -errno and write the reason
 * (without the spec, which the caller prefixes) into `why`.
 */
int idm_mem_open(uint64_t size, struct idm_backing **out, char *why, size_t whylen);
int idm_null_open(uint64_t size, struct idm_backing **out, char *why, size_t whylen);
int idm_file_open(const char *path, uint64_t size, uint32_t block_size, struct idm_backing **out,
                  char *why, size_t whylen);
/* rbd: body of "rbd:POOL[/NAMESPACE]/IMAGE" (rbd.c, built with librbd). */
int idm_rbd_open(const char *body, uint32_t block_size, const struct idm_backing_options *opts,
                 struct idm_backing **out, char *why, size_t whylen);

/* 0 if `io` is a well-formed request inside the store; -EINVAL for a bad
 * op or missing buffer, -ERANGE for bytes beyond the end. */
int idm_backing_check_io(const struct idm_backing *b, const struct idm_backing_io *io);

/* The start of every store's submit: a malformed request completes
 * with its error, one that moves nothing (len 0, not a FLUSH) with 0;
 * returns true when `io` was completed so. */
bool idm_backing_done_early(const struct idm_backing *b, struct idm_backing_io *io);

/* Finish `io` with `status`. The caller must not touch `io` after. */
static inline void idm_backing_complete(struct idm_backing_io *io, int status)
{
	io->done(io, status);
}

#endif
