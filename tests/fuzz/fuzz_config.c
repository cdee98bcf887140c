/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The JSON configuration loader (src/target/config.c). The input is the
 * file's content; it reaches idm_target_conf_load through a memfd, as a
 * file would. A refused file has an error text; an accepted one
 * has its counts within the limits, its strings terminated and its CHAP
 * accounts valid.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "idm/target.h"

static struct idm_target_conf_all conf;
static int fd = -1;
static char path[64];

#define TERMINATED(s) (memchr((s), '\0', sizeof(s)) != NULL)

static void check_target(const struct idm_target_conf *t)
{
	FUZZ_CHECK(TERMINATED(t->iqn) && TERMINATED(t->alias));
	FUZZ_CHECK(t->nluns <= IDM_MAX_LUNS_PER_TARGET && t->nacl <= IDM_MAX_ACL);
	for (unsigned l = 0; l < t->nluns; l++) {
		FUZZ_CHECK(TERMINATED(t->luns[l].spec));
	}
	for (unsigned a = 0; a < t->nacl; a++) {
		FUZZ_CHECK(TERMINATED(t->acl[a]));
	}
	if (t->has_chap) {
		FUZZ_CHECK(idm_chap_account_check(&t->chap) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	int rc;

	if (fd < 0) {
		fd = memfd_create("fuzz_config", MFD_CLOEXEC);
		FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	idm_target_conf_init(&conf);
	err[0] = '\0';
	rc = idm_target_conf_load(path, &conf, err, sizeof(err));
	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK(TERMINATED(err));
	if (rc) {
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(conf.nportals >= 1 && conf.nportals <= IDM_MAX_PORTALS);
	FUZZ_CHECK(conf.ntargets >= 1 && conf.ntargets <= IDM_MAX_TARGETS);
	FUZZ_CHECK(conf.nchap_algs <= IDM_CHAP_ALGS_MAX && TERMINATED(conf.state_dir));
	for (unsigned p = 0; p < conf.nportals; p++) {
		FUZZ_CHECK(TERMINATED(conf.portals[p].addr));
	}
	for (unsigned t = 0; t < conf.ntargets; t++) {
		check_target(&conf.targets[t]);
	}
	if (conf.discovery.has_chap) {
		FUZZ_CHECK(idm_chap_account_check(&conf.discovery.chap) == 0);
	}
	return 0;
}
