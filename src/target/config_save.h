/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The running configuration as the JSON `idmd --config` reads
 * (config_save.c): `idmadm config save` writes it, and loading what it
 * wrote then saving again gives the same file.
 */
#ifndef IDM_TARGET_CONFIG_SAVE_H
#define IDM_TARGET_CONFIG_SAVE_H

#include <stddef.h>

#include <json-c/json.h>

#include "idm/target.h"

/* config.c: the tunables table, every entry by name. */
void idm_target_conf_tunables_json(const struct idm_target_tunables *tun, json_object *out);

/* An ACL entry's "lun_map" ({"LUN": TARGET_LUN, ...}) both ways: parsed
 * in LUN order (0 or -EINVAL with one line in why), written likewise. */
int idm_lun_map_from_json(json_object *o, struct idm_lun_map *m, char *why, size_t whylen);
json_object *idm_lun_map_json(const struct idm_lun_map *m);

/* The whole configuration; CHAP secrets in it too. */
json_object *idm_target_conf_json(const struct idm_target_conf_all *c);
/* Write it to `path` atomically (a temporary file in the same directory,
 * mode 0600, fsync, rename, fsync of the directory); 0 or -errno with
 * one line in err. */
int idm_target_conf_save(const struct idm_target_conf_all *c, const char *path, char *err,
                         size_t errlen);

#endif
