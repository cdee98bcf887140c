/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Statistics of a running server: a snapshot taken on every reactor (each
 * adds its own LU slots and connections), then told as JSON for idmadm or
 * as the Prometheus text format for `idmadm stats --prometheus` and the
 * /metrics endpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/admin.h"

struct snap_conn {
	char target[IDM_NAME_MAX];
	char initiator[IDM_NAME_MAX];
	char isid[13];
	char portal[80];
	uint16_t tsih;
	uint16_t cid;
	struct tgt_io_stats io;
};

struct stats_snap {
	struct idm_server *srv;
	pthread_mutex_t lock;                      /* the reactors add concurrently */
	struct tgt_io_stats *lun[IDM_MAX_TARGETS]; /* SCSI_MAX_LUNS each, or NULL */
	struct snap_conn *conns;
	unsigned nconns, cap;
	bool nomem;
};

static void snap_add_conn(struct stats_snap *sn, const struct tgt_conn *tc)
{
	const struct tgt_session *s = tc->sess;
	struct snap_conn *sc;

	if (sn->nconns == sn->cap) {
		unsigned cap = sn->cap ? 2 * sn->cap : 16;
		struct snap_conn *n = realloc(sn->conns, cap * sizeof(*n));

		if (!n) {
			sn->nomem = true;
			return;
		}
		sn->conns = n;
		sn->cap = cap;
	}
	sc = &sn->conns[sn->nconns++];
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->target, sizeof(sc->target), "%s", s->target ? s->target->iqn : "");
	snprintf(sc->initiator, sizeof(sc->initiator), "%s", s->initiator_name);
	for (unsigned i = 0; i < 6; i++) {
		snprintf(sc->isid + 2 * i, 3, "%02x", s->isid[i]);
	}
	snprintf(sc->portal, sizeof(sc->portal), "%s:%u", tc->portal->conf.addr,
	         tc->portal->conf.port);
	sc->tsih = s->tsih;
	sc->cid = tc->ic->cid;
	sc->io = tc->io;
}

static void snap_here(void *arg, unsigned slot)
{
	struct stats_snap *sn = arg;
	struct idm_server *srv = sn->srv;
	struct idm_reactor *self = idm_reactor_self();

	pthread_mutex_lock(&sn->lock);
	for (unsigned t = 0; t < srv->ntargets && slot < srv->nslots; t++) {
		for (unsigned l = 0; sn->lun[t] && l < SCSI_MAX_LUNS; l++) {
			if (srv->targets[t].lun_stats[l]) {
				tgt_io_stats_merge(&sn->lun[t][l],
				                   &srv->targets[t].lun_stats[l][slot]);
			}
		}
	}
	pthread_mutex_unlock(&sn->lock);
	pthread_mutex_lock(&srv->lock);
	for (struct tgt_conn *tc = srv->conns; tc; tc = tc->next) {
		if (tc->ic->reactor == self && tc->sess && tc->sess->type == IDM_SESSION_NORMAL) {
			pthread_mutex_lock(&sn->lock);
			snap_add_conn(sn, tc);
			pthread_mutex_unlock(&sn->lock);
		}
	}
	pthread_mutex_unlock(&srv->lock);
}

static void snap_free(struct stats_snap *sn)
{
	for (unsigned t = 0; t < IDM_MAX_TARGETS; t++) {
		free(sn->lun[t]);
	}
	free(sn->conns);
	pthread_mutex_destroy(&sn->lock);
	free(sn);
}

static struct stats_snap *snap_take(struct idm_server *srv)
{
	struct stats_snap *sn = calloc(1, sizeof(*sn));

	if (!sn) {
		return NULL;
	}
	sn->srv = srv;
	pthread_mutex_init(&sn->lock, NULL);
	for (unsigned t = 0; t < srv->ntargets; t++) {
		sn->lun[t] = calloc(SCSI_MAX_LUNS, sizeof(struct tgt_io_stats));
		if (!sn->lun[t]) {
			snap_free(sn);
			return NULL;
		}
	}
	tgt_fanout(srv, snap_here, sn);
	if (sn->nomem) {
		snap_free(sn);
		return NULL;
	}
	return sn;
}

/* ---- JSON ---- */

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
}

static json_object *hist_json(const struct tgt_hist *h)
{
	json_object *o = json_object_new_object(), *b = json_object_new_array();

	add_u64(o, "count", h->count);
	add_u64(o, "sum_us", h->sum_us);
	add_u64(o, "p50_us", tgt_hist_quantile_us(h, 0.5));
	add_u64(o, "p99_us", tgt_hist_quantile_us(h, 0.99));
	add_u64(o, "p999_us", tgt_hist_quantile_us(h, 0.999));
	for (unsigned i = 0; i < TGT_HIST_BUCKETS; i++) {
		json_object_array_add(b, json_object_new_int64((int64_t)h->bucket[i]));
	}
	json_object_object_add(o, "buckets", b); /* bucket i: <= 2^i us */
	return o;
}

static json_object *io_json(json_object *o, const struct tgt_io_stats *io)
{
	json_object *lat = json_object_new_object();

	add_u64(o, "commands", io->cmds[0] + io->cmds[1] + io->cmds[2]);
	for (unsigned op = 0; op < TGT_OP_COUNT; op++) {
		char key[32];

		snprintf(key, sizeof(key), "%s_commands", tgt_op_name(op));
		add_u64(o, key, io->cmds[op]);
	}
	add_u64(o, "read_bytes", io->bytes[TGT_OP_READ]);
	add_u64(o, "write_bytes", io->bytes[TGT_OP_WRITE]);
	add_u64(o, "errors", io->errors);
	json_object_object_add(lat, "read", hist_json(&io->lat[TGT_OP_READ]));
	json_object_object_add(lat, "write", hist_json(&io->lat[TGT_OP_WRITE]));
	json_object_object_add(o, "latency", lat);
	return o;
}

json_object *tgt_admin_stats(struct idm_server *srv)
{
	struct stats_snap *sn = snap_take(srv);
	json_object *o, *targets, *conns;

	if (!sn) {
		return NULL;
	}
	o = json_object_new_object();
	targets = json_object_new_array();
	conns = json_object_new_array();
	for (unsigned t = 0; t < srv->ntargets; t++) {
		json_object *to, *luns;
		struct tgt_io_stats total = {0};

		if (srv->targets[t].deleted) {
			continue;
		}
		to = json_object_new_object();
		luns = json_object_new_array();
		json_object_object_add(to, "iqn", json_object_new_string(srv->targets[t].iqn));
		for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
			json_object *lo;

			if (!srv->targets[t].luns.lu[l]) {
				continue;
			}
			lo = json_object_new_object();
			add_u64(lo, "lun", l);
			json_object_array_add(luns, io_json(lo, &sn->lun[t][l]));
			tgt_io_stats_merge(&total, &sn->lun[t][l]);
		}
		io_json(to, &total);
		json_object_object_add(to, "luns", luns);
		json_object_array_add(targets, to);
	}
	for (unsigned i = 0; i < sn->nconns; i++) {
		const struct snap_conn *sc = &sn->conns[i];
		json_object *co = json_object_new_object();

		json_object_object_add(co, "target", json_object_new_string(sc->target));
		json_object_object_add(co, "initiator", json_object_new_string(sc->initiator));
		json_object_object_add(co, "isid", json_object_new_string(sc->isid));
		add_u64(co, "tsih", sc->tsih);
		add_u64(co, "cid", sc->cid);
		json_object_object_add(co, "portal", json_object_new_string(sc->portal));
		json_object_array_add(conns, io_json(co, &sc->io));
	}
	json_object_object_add(o, "targets", targets);
	json_object_object_add(o, "connections", conns);
	snap_free(sn);
	return o;
}

/* ---- Prometheus text format ---- */

/* A label value: backslash, double quote and newline escaped (names
 * come from initiators: hostile). */
static void label(FILE *f, const char *name, const char *v, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"') {
			fprintf(f, "\\%c", *v);
		} else if (*v == '\n') {
			fputs("\\n", f);
		} else {
			fputc(*v, f);
		}
	}
	fputc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels of one LU ({target=..,lun=..}) or of a target (lun < 0). */
struct lu_labels {
	const char *target;
	int lun;
};

static void lu_label(FILE *f, const struct lu_labels *ll)
{
	label(f, "target", ll->target, true);
	if (ll->lun >= 0) {
		fprintf(f, ",lun=\"%d\"", ll->lun);
	}
}

/* The series of one family (commands, bytes, ...) for one LU or target. */
enum family { F_CMDS, F_BYTES, F_ERRORS, F_LAT, F_COUNT };

static void series(FILE *f, const char *prefix, enum family fam, const struct lu_labels *ll,
                   const struct tgt_io_stats *io)
{
	for (unsigned op = 0; op < TGT_OP_COUNT; op++) {
		if (fam == F_CMDS) {
			fprintf(f, "%s_commands_total{", prefix);
			lu_label(f, ll);
			fprintf(f, ",op=\"%s\"} %llu\n", tgt_op_name(op),
			        (unsigned long long)io->cmds[op]);
		} else if (fam == F_BYTES && op != TGT_OP_OTHER) {
			fprintf(f, "%s_bytes_total{", prefix);
			lu_label(f, ll);
			fprintf(f, ",op=\"%s\"} %llu\n", tgt_op_name(op),
			        (unsigned long long)io->bytes[op]);
		} else if (fam == F_LAT && op != TGT_OP_OTHER) {
			const struct tgt_hist *h = &io->lat[op];
			uint64_t cum = 0;

			for (unsigned b = 0; b + 1 < TGT_HIST_BUCKETS; b++) {
				cum += h->bucket[b];
				fprintf(f, "%s_latency_seconds_bucket{", prefix);
				lu_label(f, ll);
				fprintf(f, ",op=\"%s\",le=\"%.6f\"} %llu\n", tgt_op_name(op),
				        (double)tgt_hist_bucket_le_us(b) / 1e6,
				        (unsigned long long)cum);
			}
			fprintf(f, "%s_latency_seconds_bucket{", prefix);
			lu_label(f, ll);
			fprintf(f, ",op=\"%s\",le=\"+Inf\"} %llu\n", tgt_op_name(op),
			        (unsigned long long)h->count);
			fprintf(f, "%s_latency_seconds_sum{", prefix);
			lu_label(f, ll);
			fprintf(f, ",op=\"%s\"} %.6f\n", tgt_op_name(op), (double)h->sum_us / 1e6);
			fprintf(f, "%s_latency_seconds_count{", prefix);
			lu_label(f, ll);
			fprintf(f, ",op=\"%s\"} %llu\n", tgt_op_name(op),
			        (unsigned long long)h->count);
		}
	}
	if (fam == F_ERRORS) {
		fprintf(f, "%s_errors_total{", prefix);
		lu_label(f, ll);
		fprintf(f, "} %llu\n", (unsigned long long)io->errors);
	}
}

static const struct {
	const char *suffix, *type, *help;
} families[F_COUNT] = {
    [F_CMDS] = {"commands_total", "counter", "SCSI commands answered, by kind."},
    [F_BYTES] = {"bytes_total", "counter", "Data bytes read or written."},
    [F_ERRORS] = {"errors_total", "counter", "Commands answered with a status other than GOOD."},
    [F_LAT] = {"latency_seconds", "histogram", "Time from command to response."},
};

static void lun_families(FILE *f, struct idm_server *srv, const struct stats_snap *sn)
{
	char name[64];

	for (unsigned fam = 0; fam < F_COUNT; fam++) {
		snprintf(name, sizeof(name), "idm_lun_%s", families[fam].suffix);
		head(f, name, families[fam].type, families[fam].help);
		for (unsigned t = 0; t < srv->ntargets; t++) {
			for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
				struct lu_labels ll = {srv->targets[t].iqn, (int)l};

				if (srv->targets[t].luns.lu[l]) {
					series(f, "idm_lun", fam, &ll, &sn->lun[t][l]);
				}
			}
		}
	}
}

static void target_families(FILE *f, struct idm_server *srv, const struct stats_snap *sn)
{
	char name[64];

	for (unsigned fam = 0; fam < F_COUNT; fam++) {
		snprintf(name, sizeof(name), "idm_target_%s", families[fam].suffix);
		head(f, name, families[fam].type, families[fam].help);
		for (unsigned t = 0; t < srv->ntargets; t++) {
			struct lu_labels ll = {srv->targets[t].iqn, -1};
			struct tgt_io_stats total = {0};

			if (srv->targets[t].deleted) {
				continue;
			}
			for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
				if (srv->targets[t].luns.lu[l]) {
					tgt_io_stats_merge(&total, &sn->lun[t][l]);
				}
			}
			series(f, "idm_target", fam, &ll, &total);
		}
	}
}

static void conn_labels(FILE *f, const struct snap_conn *sc)
{
	label(f, "target", sc->target, true);
	label(f, "initiator", sc->initiator, false);
	fprintf(f, ",isid=\"%s\",tsih=\"%u\",cid=\"%u\"", sc->isid, sc->tsih, sc->cid);
}

static void conn_families(FILE *f, const struct stats_snap *sn)
{
	head(f, "idm_connection_commands_total", "counter", "SCSI commands answered, by kind.");
	for (unsigned i = 0; i < sn->nconns; i++) {
		for (unsigned op = 0; op < TGT_OP_COUNT; op++) {
			fputs("idm_connection_commands_total{", f);
			conn_labels(f, &sn->conns[i]);
			fprintf(f, ",op=\"%s\"} %llu\n", tgt_op_name(op),
			        (unsigned long long)sn->conns[i].io.cmds[op]);
		}
	}
	head(f, "idm_connection_bytes_total", "counter", "Data bytes read or written.");
	for (unsigned i = 0; i < sn->nconns; i++) {
		for (unsigned op = 0; op < 2; op++) {
			fputs("idm_connection_bytes_total{", f);
			conn_labels(f, &sn->conns[i]);
			fprintf(f, ",op=\"%s\"} %llu\n", tgt_op_name(op),
			        (unsigned long long)sn->conns[i].io.bytes[op]);
		}
	}
	head(f, "idm_connection_errors_total", "counter",
	     "Commands answered with a status other than GOOD.");
	for (unsigned i = 0; i < sn->nconns; i++) {
		fputs("idm_connection_errors_total{", f);
		conn_labels(f, &sn->conns[i]);
		fprintf(f, "} %llu\n", (unsigned long long)sn->conns[i].io.errors);
	}
}

char *tgt_admin_metrics(struct idm_server *srv)
{
	struct stats_snap *sn = snap_take(srv);
	unsigned sessions = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!sn) {
		return NULL;
	}
	f = open_memstream(&text, &len);
	if (!f) {
		snap_free(sn);
		return NULL;
	}
	pthread_mutex_lock(&srv->lock);
	for (struct tgt_session *s = srv->sessions; s; s = s->next) {
		sessions++;
	}
	pthread_mutex_unlock(&srv->lock);
	head(f, "idm_uptime_seconds", "gauge", "Seconds since idmd started.");
	fprintf(f, "idm_uptime_seconds %llu\n",
	        (unsigned long long)((idm_now_ms() - srv->started_ms) / 1000));
	head(f, "idm_sessions", "gauge", "iSCSI sessions, discovery ones included.");
	fprintf(f, "idm_sessions %u\n", sessions);
	target_families(f, srv, sn);
	lun_families(f, srv, sn);
	conn_families(f, sn);
	fclose(f);
	snap_free(sn);
	return text;
}
