/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the configuration unit tests (see config_test.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_test.h"

int conf_load_json(const char *json, struct idm_target_conf_all *c, char *err, size_t errlen)
{
	char path[] = "/tmp/idm_config_ut_XXXXXX";
	int fd = mkstemp(path);
	int rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	rc = idm_target_conf_load(path, c, err, errlen);
	unlink(path);
	return rc;
}

int conf_setup(void **state)
{
	*state = calloc(1, sizeof(struct idm_target_conf_all));
	return *state ? 0 : -1;
}

int conf_teardown(void **state)
{
	free(*state);
	return 0;
}
