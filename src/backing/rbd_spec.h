/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The body of an rbd store spec, "POOL/IMAGE" or "POOL/NAMESPACE/IMAGE":
 * a pure parser, built with or without librbd.
 */
#ifndef IDM_BACKING_RBD_SPEC_H
#define IDM_BACKING_RBD_SPEC_H

#include <stddef.h>

#define IDM_RBD_NAME_MAX 128 /* bytes of one name, with its NUL */

struct idm_rbd_spec {
	char pool[IDM_RBD_NAME_MAX];
	char ns[IDM_RBD_NAME_MAX]; /* "" for the default namespace */
	char image[IDM_RBD_NAME_MAX];
};

/* 0, or -EINVAL / -ENAMETOOLONG with the reason in `why`. */
int idm_rbd_parse_spec(const char *body, struct idm_rbd_spec *out, char *why, size_t whylen);

#endif
