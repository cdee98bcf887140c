/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backing store specs ("mem:1G", "null:512M", "file:/path:10G",
 * "file:/dev/sdb") and the helpers every store shares.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backing/backing_priv.h"
#include "idm/backing.h"

/* Multiplier of a size suffix letter, or 0 if it is none. */
static uint64_t suffix_multiplier(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 1ull << 10;
	case 'm':
	case 'M':
		return 1ull << 20;
	case 'g':
	case 'G':
		return 1ull << 30;
	case 't':
	case 'T':
		return 1ull << 40;
	default:
		return 0;
	}
}

int idm_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!s || *s < '0' || *s > '9') {
		return -EINVAL; /* also rejects "", " 1", "-1", "+1" */
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10) {
			return -EINVAL;
		}
		v = v * 10 + d;
	}
	if (*p) {
		mult = suffix_multiplier(*p);
		if (mult == 0 || p[1] != '\0') {
			return -EINVAL;
		}
	}
	if (v == 0 || v > UINT64_MAX / mult) {
		return -EINVAL;
	}
	*out = v * mult;
	return 0;
}

int idm_backing_check_io(const struct idm_backing *b, const struct idm_backing_io *io)
{
	switch (io->op) {
	case IDM_BACKING_FLUSH:
		return 0;
	case IDM_BACKING_WRITE_SAME:
	case IDM_BACKING_COMPARE_AND_WRITE:
		if (!idm_backing_has_op(b, io->op)) {
			return -EOPNOTSUPP;
		}
		if (io->op == IDM_BACKING_WRITE_SAME && io->len % b->block_size) {
			return -EINVAL; /* whole blocks only */
		}
		/* fall through */
	case IDM_BACKING_READ:
	case IDM_BACKING_WRITE:
		if (io->len > 0 && !io->buf) {
			return -EINVAL;
		}
		break;
	case IDM_BACKING_WRITE_ZEROES:
	case IDM_BACKING_UNMAP:
		break;
	default:
		return -EINVAL;
	}
	if (io->offset > b->size || io->len > b->size - io->offset) {
		return -ERANGE;
	}
	return 0;
}

bool idm_backing_done_early(const struct idm_backing *b, struct idm_backing_io *io)
{
	int rc = idm_backing_check_io(b, io);

	if (rc) {
		idm_backing_complete(io, rc);
		return true;
	}
	if (io->op != IDM_BACKING_FLUSH && io->len == 0) {
		idm_backing_complete(io, 0);
		return true;
	}
	return false;
}

/* Write "backing 'SPEC': REASON" into err (if any); return rc. */
__attribute__((format(printf, 5, 6))) static int spec_error(char *err, size_t errlen, int rc,
                                                            const char *spec, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		snprintf(err, errlen, "backing '%s': %s", spec, why);
	}
	return rc;
}

static bool block_size_ok(uint32_t bs)
{
	return bs >= 512 && bs <= 4096 && (bs & (bs - 1)) == 0;
}

/* Parse "SIZE" of a mem/null spec, or the SIZE of file:PATH:SIZE. */
static int parse_store_size(const char *text, uint32_t bs, uint64_t *size, char *why, size_t whylen)
{
	if (idm_parse_size(text, size)) {
		snprintf(
		    why, whylen,
		    "bad size '%s' (want a positive number with an optional K, M, G or T suffix)",
		    text);
		return -EINVAL;
	}
	if (*size % bs) {
		snprintf(why, whylen, "size %llu is not a multiple of the block size %u",
		         (unsigned long long)*size, bs);
		return -EINVAL;
	}
	return 0;
}

/*
 * "file:" spec body: PATH[:SIZE]. PATH may itself contain ':'; SIZE is
 * whatever follows the last ':' when it parses as a size.
 */
static int open_file_spec(const char *body, uint32_t bs, struct idm_backing **out, char *why,
                          size_t whylen)
{
	char path[4096];
	const char *colon = strrchr(body, ':');
	size_t plen = strlen(body);
	uint64_t size = 0;
	int rc;

	if (colon && idm_parse_size(colon + 1, &size) == 0) {
		plen = (size_t)(colon - body);
		rc = parse_store_size(colon + 1, bs, &size, why, whylen);
		if (rc) {
			return rc;
		}
	}
	if (plen == 0) {
		snprintf(why, whylen, "missing path (want file:PATH or file:PATH:SIZE)");
		return -EINVAL;
	}
	if (plen >= sizeof(path)) {
		snprintf(why, whylen, "path is too long");
		return -ENAMETOOLONG;
	}
	memcpy(path, body, plen);
	path[plen] = '\0';
	rc = idm_file_open(path, size, bs, out, why, whylen);
	/* "file:/x:1Q": say that the tail may have been meant as a size. */
	if (rc == -ENOENT && size == 0 && colon && colon[1] >= '0' && colon[1] <= '9') {
		size_t n = strlen(why);

		snprintf(why + n, whylen - n, " (and '%s' is not a valid size)", colon + 1);
	}
	return rc;
}

int idm_backing_open(const char *spec, uint32_t block_size, struct idm_backing **out, char *err,
                     size_t errlen)
{
	return idm_backing_open_opts(spec, block_size, NULL, out, err, errlen);
}

/* "rbd:" spec: a store only when idm was built with librbd. */
static int open_rbd_spec(const char *body, uint32_t bs, const struct idm_backing_options *opts,
                         struct idm_backing **out, char *why, size_t whylen)
{
#ifdef IDM_HAVE_RBD
	return idm_rbd_open(body, bs, opts, out, why, whylen);
#else
	snprintf(why, whylen, "this idmd was built without librbd (install librbd-dev, rebuild)");
	return -EOPNOTSUPP;
#endif
}

int idm_backing_open_opts(const char *spec, uint32_t block_size,
                          const struct idm_backing_options *opts, struct idm_backing **out,
                          char *err, size_t errlen)
{
	char why[512] = "";
	const char *colon;
	const char *body;
	uint64_t size;
	int rc;

	if (!out) {
		return spec_error(err, errlen, -EINVAL, spec ? spec : "", "no place for the store");
	}
	*out = NULL;
	if (!spec || !*spec) {
		return spec_error(err, errlen, -EINVAL, "", "empty spec");
	}
	if (!block_size_ok(block_size)) {
		return spec_error(err, errlen, -EINVAL, spec,
		                  "block size %u is not 512, 1024, 2048 or 4096", block_size);
	}
	colon = strchr(spec, ':');
	if (!colon) {
		return spec_error(err, errlen, -EINVAL, spec,
		                  "want KIND:..., one of mem:SIZE, null:SIZE, file:PATH[:SIZE], "
		                  "rbd:POOL/IMAGE");
	}
	body = colon + 1;
	if (colon - spec == 3 && strncmp(spec, "mem", 3) == 0) {
		rc = parse_store_size(body, block_size, &size, why, sizeof(why));
		if (rc == 0) {
			rc = idm_mem_open(size, out, why, sizeof(why));
		}
	} else if (colon - spec == 4 && strncmp(spec, "null", 4) == 0) {
		rc = parse_store_size(body, block_size, &size, why, sizeof(why));
		if (rc == 0) {
			rc = idm_null_open(size, out, why, sizeof(why));
		}
	} else if (colon - spec == 4 && strncmp(spec, "file", 4) == 0) {
		rc = open_file_spec(body, block_size, out, why, sizeof(why));
	} else if (colon - spec == 3 && strncmp(spec, "rbd", 3) == 0) {
		rc = open_rbd_spec(body, block_size, opts, out, why, sizeof(why));
	} else {
		return spec_error(err, errlen, -EINVAL, spec,
		                  "unknown kind '%.*s' (want mem, null, file or rbd)",
		                  (int)(colon - spec), spec);
	}
	if (rc) {
		*out = NULL;
		return spec_error(err, errlen, rc, spec, "%s", why);
	}
	(*out)->block_size = block_size;
	snprintf((*out)->desc, sizeof((*out)->desc), "%s", spec);
	return 0;
}

void idm_backing_close(struct idm_backing *b)
{
	if (b) {
		b->ops->close(b);
	}
}
