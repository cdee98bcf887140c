/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the configuration unit tests (config_ut.c, config_auth_ut.c):
 * load a JSON string through the real loader, and heap fixtures for the
 * large configuration struct.
 */
#ifndef IDM_TESTS_CONFIG_TEST_H
#define IDM_TESTS_CONFIG_TEST_H

#include <stddef.h>

#include "idm/target.h"

/* Write `json` to a temporary file and load it; returns the loader's rc. */
int conf_load_json(const char *json, struct idm_target_conf_all *c, char *err, size_t errlen);

/* The configuration is megabytes: each test keeps its copy on the heap. */
int conf_setup(void **state);
int conf_teardown(void **state);

#endif
