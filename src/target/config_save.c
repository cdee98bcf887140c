/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Serializing a configuration to the JSON of config.c, every value
 * explicit (defaults too), keys in one fixed order: a saved file loads
 * into the same configuration and saves to the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/config_save.h"

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static json_object *chap_json(const struct idm_chap_account *a)
{
	json_object *o = json_object_new_object();

	add_str(o, "user", a->user);
	json_object_object_add(
	    o, "secret", json_object_new_string_len((const char *)a->secret, (int)a->secret_len));
	if (a->target_secret_len) {
		add_str(o, "target_user", a->target_user);
		json_object_object_add(o, "target_secret",
		                       json_object_new_string_len((const char *)a->target_secret,
		                                                  (int)a->target_secret_len));
	}
	return o;
}

/* IDM_OFFER_* bits as ["tcp", "iser"]. */
static json_object *transports_json(uint8_t bits)
{
	json_object *tp = json_object_new_array();

	if (bits & IDM_OFFER_TCP) {
		json_object_array_add(tp, json_object_new_string("tcp"));
	}
	if (bits & IDM_OFFER_ISER) {
		json_object_array_add(tp, json_object_new_string("iser"));
	}
	return tp;
}

static json_object *portal_json(const struct idm_portal_conf *p)
{
	json_object *o = json_object_new_object();

	add_str(o, "addr", p->addr);
	add_int(o, "port", p->port);
	add_int(o, "tpgt", p->tpgt);
	if (p->transports) {
		json_object_object_add(o, "transports", transports_json(p->transports));
	}
	return o;
}

/*
 * Serial and NAA are written even when the LUN derives them (from the
 * IQN and LUN number): they name the disk to its initiators (multipath,
 * /dev/disk/by-id, cluster file systems), so a saved LUN keeps its name
 * when the admin later renumbers it or moves it to another target, as
 * the data on it did not change. Vendor, product and write_cache only
 * when set: their defaults are not a name.
 */
/* In a gateway group an rbd LUN's derived identity is the image's
 * (gateway.c), which only the running store knows: only a set serial
 * or NAA is written then, so a reload derives the same again. */
static json_object *lun_json(const struct idm_lun_conf *l, const char *iqn, bool gateway)
{
	json_object *o = json_object_new_object();
	char serial[33], naa_hex[33];
	uint8_t naa[16];

	add_int(o, "lun", l->lun);
	add_str(o, "spec", l->spec);
	add_int(o, "block_size", l->block_size ? l->block_size : 512);
	if (l->read_only) {
		json_object_object_add(o, "read_only", json_object_new_boolean(true));
	}
	if (l->ceph_conf[0]) {
		add_str(o, "ceph_conf", l->ceph_conf);
	}
	if (l->ceph_id[0]) {
		add_str(o, "ceph_id", l->ceph_id);
	}
	if (l->ceph_keyring[0]) {
		add_str(o, "ceph_keyring", l->ceph_keyring);
	}
	if (l->start_offline) {
		json_object_object_add(o, "start_offline", json_object_new_boolean(true));
	}
	if (l->write_cache_set) {
		json_object_object_add(o, "write_cache", json_object_new_boolean(l->write_cache));
	}
	if (l->vendor[0]) {
		add_str(o, "vendor", l->vendor);
	}
	if (l->product[0]) {
		add_str(o, "product", l->product);
	}
	if (gateway && strncmp(l->spec, "rbd:", 4) == 0) {
		if (l->serial[0]) {
			add_str(o, "serial", l->serial);
		}
		if (l->has_naa) {
			idm_naa_hex(l->naa, naa_hex);
			add_str(o, "naa", naa_hex);
		}
	} else if (idm_lun_ident_effective(l, iqn, serial, naa) == 0) {
		idm_naa_hex(naa, naa_hex);
		add_str(o, "serial", serial);
		add_str(o, "naa", naa_hex);
	}
	return o;
}

json_object *idm_lun_map_json(const struct idm_lun_map *m)
{
	json_object *o = json_object_new_object();

	for (unsigned k = 0; k < m->n && k < IDM_MAX_LUNS_PER_TARGET; k++) {
		char key[8];

		snprintf(key, sizeof(key), "%u", m->e[k].lun);
		add_int(o, key, m->e[k].target_lun);
	}
	return o;
}

static json_object *target_json(const struct idm_target_conf *t, bool gateway)
{
	json_object *o = json_object_new_object(), *luns = json_object_new_array();

	add_str(o, "iqn", t->iqn);
	if (t->alias[0]) {
		add_str(o, "alias", t->alias);
	}
	for (unsigned l = 0; l < t->nluns; l++) {
		json_object_array_add(luns, lun_json(&t->luns[l], t->iqn, gateway));
	}
	json_object_object_add(o, "luns", luns);
	if (t->nacl) {
		json_object *acl = json_object_new_array();

		for (unsigned i = 0; i < t->nacl; i++) {
			json_object *e = json_object_new_string(t->acl[i]);

			if (t->acl_chap[i].has || t->acl_map[i].has) {
				json_object *entry = json_object_new_object();

				json_object_object_add(entry, "initiator", e);
				if (t->acl_chap[i].has) {
					json_object_object_add(entry, "chap",
					                       chap_json(&t->acl_chap[i].chap));
				}
				if (t->acl_map[i].has) {
					json_object_object_add(entry, "lun_map",
					                       idm_lun_map_json(&t->acl_map[i]));
				}
				e = entry;
			}
			json_object_array_add(acl, e);
		}
		json_object_object_add(o, "acl", acl);
	}
	if (t->has_chap) {
		json_object_object_add(o, "chap", chap_json(&t->chap));
	}
	if (t->offered_on) {
		json_object_object_add(o, "transports", transports_json(t->offered_on));
	}
	return o;
}

json_object *idm_target_conf_json(const struct idm_target_conf_all *c)
{
	json_object *o = json_object_new_object(), *arr, *d, *tun;

	add_int(o, "reactors", c->nreactors);
	add_str(o, "state_dir", c->state_dir);
	if (c->control_socket[0]) {
		add_str(o, "control_socket", c->control_socket);
	}
	if (c->log_level[0]) {
		add_str(o, "log_level", c->log_level);
	}
	if (c->metrics_listen[0]) {
		add_str(o, "metrics_listen", c->metrics_listen);
	}
	arr = json_object_new_array();
	for (unsigned i = 0; i < c->nportals; i++) {
		json_object_array_add(arr, portal_json(&c->portals[i]));
	}
	json_object_object_add(o, "portals", arr);
	arr = json_object_new_array();
	for (unsigned i = 0; i < c->ntargets; i++) {
		json_object_array_add(arr, target_json(&c->targets[i], c->gateway.id != 0));
	}
	json_object_object_add(o, "targets", arr);
	d = json_object_new_object();
	if (c->discovery.has_chap) {
		json_object_object_add(d, "chap", chap_json(&c->discovery.chap));
	}
	json_object_object_add(d, "acl_filter", json_object_new_boolean(!c->discovery.list_all));
	json_object_object_add(o, "discovery", d);
	if (c->nchap_algs) {
		arr = json_object_new_array();
		for (unsigned i = 0; i < c->nchap_algs; i++) {
			json_object_array_add(
			    arr, json_object_new_string(idm_chap_alg_name(c->chap_algs[i])));
		}
		json_object_object_add(o, "chap_algorithms", arr);
	}
	if (c->gateway.id) {
		d = json_object_new_object();
		add_int(d, "id", c->gateway.id);
		arr = json_object_new_array();
		for (unsigned i = 0; i < c->gateway.ngroup; i++) {
			json_object_array_add(arr, json_object_new_int(c->gateway.group[i]));
		}
		json_object_object_add(d, "group", arr);
		json_object_object_add(d, "standby", json_object_new_boolean(c->gateway.standby));
		json_object_object_add(o, "gateway", d);
	}
	tun = json_object_new_object();
	idm_target_conf_tunables_json(&c->tun, tun);
	json_object_object_add(o, "tunables", tun);
	return o;
}

static int save_fail(char *err, size_t errlen, const char *what, const char *path, int e)
{
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
	return -e;
}

int idm_target_conf_save(const struct idm_target_conf_all *c, const char *path, char *err,
                         size_t errlen)
{
	json_object *o = idm_target_conf_json(c);
	const char *text = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE | JSON_C_TO_STRING_SPACED);
	size_t len = strlen(text), done = 0;
	char tmp[4096], dir[4096];
	int fd, dfd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		json_object_put(o);
		return save_fail(err, errlen, "path too long:", path, ENAMETOOLONG);
	}
	fd = mkstemp(tmp); /* mode 0600: the file holds secrets */
	if (fd < 0) {
		json_object_put(o);
		return save_fail(err, errlen, "cannot create a file beside", path, errno);
	}
	while (rc == 0 && done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno != EINTR) {
			rc = errno;
		}
		done += n > 0 ? (size_t)n : 0;
	}
	if (rc == 0 && (write(fd, "\n", 1) != 1 || fsync(fd) != 0)) {
		rc = errno ? errno : EIO;
	}
	json_object_put(o);
	if (close(fd) != 0 && rc == 0) {
		rc = errno;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		return save_fail(err, errlen, "cannot write", path, rc);
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd); /* the rename itself is durable */
		close(dfd);
	}
	return 0;
}
