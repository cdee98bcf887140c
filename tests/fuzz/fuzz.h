/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the libFuzzer harnesses of tests/fuzz: a cursor over the
 * input and a check that turns a broken invariant into a crash libFuzzer
 * reports (with the input that broke it).
 */
#ifndef IDM_FUZZ_H
#define IDM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The unread rest of the input. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* One byte, 0 once the input is used up. */
static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t b = 0;

	if (in->n) {
		b = *in->p++;
		in->n--;
	}
	return b;
}

/* Up to `want` bytes; *got says how many there were. */
static inline const uint8_t *fuzz_take(struct fuzz_in *in, size_t want, size_t *got)
{
	const uint8_t *at = in->p;

	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return at;
}

/* The next record up to (not including) a newline; false at the end. */
static inline bool fuzz_line(struct fuzz_in *in, const uint8_t **line, size_t *len)
{
	const uint8_t *nl;

	if (!in->n) {
		return false;
	}
	nl = memchr(in->p, '\n', in->n);
	*line = in->p;
	*len = nl ? (size_t)(nl - in->p) : in->n;
	in->p += *len + (nl ? 1 : 0);
	in->n -= *len + (nl ? 1 : 0);
	return true;
}

/* A heap copy of `len` bytes and a NUL: ASan sees any read past `len`. */
static inline char *fuzz_dup(const uint8_t *p, size_t len)
{
	char *s = malloc(len + 1);

	FUZZ_CHECK(s != NULL);
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* An exact heap copy (no NUL added): ASan sees any read past `len`. */
static inline uint8_t *fuzz_copy(const uint8_t *p, size_t len)
{
	uint8_t *s = malloc(len ? len : 1);

	FUZZ_CHECK(s != NULL);
	if (len) {
		memcpy(s, p, len);
	}
	return s;
}

/*
 * A record of the negotiation harnesses: a stage digit ('0' security,
 * '1' operational, '3' full feature phase) and the peer's text, which
 * `text` holds as an exact heap copy (free it).
 */
struct fuzz_nego_rec {
	enum idm_nego_stage stage;
	uint8_t *text;
	size_t len;
};

static inline bool fuzz_nego_next(struct fuzz_in *in, struct fuzz_nego_rec *r)
{
	static const enum idm_nego_stage stages[4] = {IDM_NEGO_SECURITY, IDM_NEGO_OPERATIONAL,
	                                              IDM_NEGO_FFP, IDM_NEGO_FFP};
	const uint8_t *line;
	size_t len;

	if (!fuzz_line(in, &line, &len)) {
		return false;
	}
	r->stage = stages[len ? line[0] & 3 : 0];
	r->len = len ? len - 1 : 0;
	r->text = fuzz_copy(line + (len ? 1 : 0), r->len);
	return true;
}

/*
 * One received text, as the login code handles it: the initiator first
 * offers its keys when it enters a stage (into `offer`), then processes
 * the answer; the target answers and finishes the stage. Both into `out`.
 */
static inline int fuzz_nego_step(struct idm_nego *n, int *offered, const struct fuzz_nego_rec *r,
                                 struct idm_textbuf *offer, struct idm_textbuf *out)
{
	int rc;

	idm_textbuf_reset(offer);
	idm_textbuf_reset(out);
	if (n->role == IDM_ROLE_INITIATOR) {
		if ((int)r->stage != *offered) {
			*offered = (int)r->stage;
			(void)idm_nego_offer(n, r->stage, offer);
		}
		return idm_nego_process(n, r->stage, (const char *)r->text, r->len, out);
	}
	rc = idm_nego_respond(n, r->stage, (const char *)r->text, r->len, out);
	return rc ? rc : idm_nego_finish_stage(n, r->stage, out);
}

#endif
