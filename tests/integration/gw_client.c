/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gw_client: the iSCSI side of the gateway group test (t_gateways.sh),
 * through libiscsi. One check per subcommand:
 *
 *   gw_client alua URL
 *       prints what the answering gateway reports of the LU: "TPGS n"
 *       (standard INQUIRY), "LU naa=HEX serial=S" (VPD 0x83 and 0x80),
 *       "PORT rel=N tpg=N" (VPD 0x83 port designators) and one line per
 *       REPORT TARGET PORT GROUPS descriptor: "GROUP id STATE ports=N,..".
 *   gw_client pr-cross URL_A URL_B
 *       initiator A (through gateway A) registers and reserves with each
 *       reservation type; a registered initiator B and an unregistered C,
 *       both through gateway B, must get RESERVATION CONFLICT exactly as
 *       the type demands (SPC-4 table 47); then B PREEMPTs A's hold and A
 *       is left unregistered (REGISTRATIONS PREEMPTED) without access.
 *   gw_client pr-hold URL KEY
 *       registers KEY and reserves Write Exclusive (APTPL=0).
 *   gw_client pr-show URL
 *       prints "RESERVATION key=HEX type=N" or "RESERVATION none", and
 *       "KEYS HEX,..." (PERSISTENT RESERVE IN).
 *   gw_client pr-clear URL KEY
 *       CLEAR by the registrant KEY (registers it first if needed).
 *   gw_client write URL LBA
 *       one WRITE(10) of a block; prints the status.
 *   gw_client coherent URL_A URL_B
 *       both gateways report WCE=0 (no cache of their own); after a
 *       SYNCHRONIZE CACHE through each (which ends librbd's write-through
 *       until the first flush), rounds of: read a range through one
 *       gateway, write it through the other, read it back through the
 *       first: every read after a completed write returns that write.
 * Exit 0 when the check passed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define INI_A "iqn.2026-12.org.idm:gw-a"
#define INI_B "iqn.2026-12.org.idm:gw-b"
#define INI_C "iqn.2026-12.org.idm:gw-c"

struct path {
	struct iscsi_context *ctx;
	int lun;
	const char *name;
};

static bool login(struct path *p, const char *url_text, const char *initiator, const char *name)
{
	struct iscsi_url *url;

	p->name = name;
	p->ctx = iscsi_create_context(initiator);
	if (!p->ctx) {
		return false;
	}
	url = iscsi_parse_full_url(p->ctx, url_text);
	if (!url) {
		fprintf(stderr, "bad URL %s: %s\n", url_text, iscsi_get_error(p->ctx));
		return false;
	}
	iscsi_set_targetname(p->ctx, url->target);
	iscsi_set_session_type(p->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(p->ctx, ISCSI_HEADER_DIGEST_NONE);
	p->lun = url->lun;
	if (iscsi_connect_sync(p->ctx, url->portal) != 0 || iscsi_login_sync(p->ctx) != 0) {
		fprintf(stderr, "login to %s failed: %s\n", url_text, iscsi_get_error(p->ctx));
		iscsi_destroy_url(url);
		return false;
	}
	iscsi_destroy_url(url);
	return true;
}

static void logout(struct path *p)
{
	if (p->ctx) {
		iscsi_logout_sync(p->ctx);
		iscsi_destroy_context(p->ctx);
		p->ctx = NULL;
	}
}

/* A command with its status; unit attentions are answered by sending it
 * again (up to 8), as an initiator's midlayer does. NULL: no answer. */
static struct scsi_task *command(struct path *p, const uint8_t *cdb, int cdb_len, int dir, int xfer,
                                 unsigned char *out, uint16_t *ua)
{
	for (int i = 0; i < 8; i++) {
		struct scsi_task *t = scsi_create_task(cdb_len, (unsigned char *)cdb, dir, xfer);
		struct iscsi_data d = {.data = out, .size = out ? (size_t)xfer : 0};

		if (!t) {
			return NULL;
		}
		if (!iscsi_scsi_command_sync(p->ctx, p->lun, t, out ? &d : NULL)) {
			fprintf(stderr, "%s: no answer: %s\n", p->name, iscsi_get_error(p->ctx));
			return NULL;
		}
		if (t->status == SCSI_STATUS_CHECK_CONDITION &&
		    t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
			if (ua && *ua != 0x2a05) { /* REGISTRATIONS PREEMPTED stays */
				*ua = (uint16_t)t->sense.ascq;
			}
			scsi_free_scsi_task(t);
			continue;
		}
		return t;
	}
	return NULL;
}

static struct scsi_task *data_in(struct path *p, const uint8_t *cdb, int cdb_len, int len)
{
	struct scsi_task *t = command(p, cdb, cdb_len, SCSI_XFER_READ, len, NULL, NULL);

	if (t && t->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "%s: opcode %02x: status %d sense %x/%04x\n", p->name, cdb[0],
		        t->status, t->sense.key, t->sense.ascq);
		scsi_free_scsi_task(t);
		return NULL;
	}
	return t;
}

/* The status of a command's answer (-1: none), the task freed. */
static int status_of(struct scsi_task *t)
{
	int status = t ? t->status : -1;

	if (t) {
		scsi_free_scsi_task(t);
	}
	return status;
}

/* READ(10) or WRITE(10) of `blocks` 512-byte blocks at `lba`. */
static struct scsi_task *rw10(struct path *p, bool write, uint32_t lba, uint8_t blocks,
                              unsigned char *buf, uint16_t *ua)
{
	const uint8_t cdb[10] = {write ? 0x2a : 0x28, 0, (uint8_t)(lba >> 24), (uint8_t)(lba >> 16),
	                         (uint8_t)(lba >> 8), (uint8_t)lba, 0, 0, blocks, 0};

	return command(p, cdb, 10, write ? SCSI_XFER_WRITE : SCSI_XFER_READ, blocks * 512,
	               write ? buf : NULL, ua);
}

static const char *state_name(unsigned s)
{
	static const char *names[] = {"active/optimized", "active/non-optimized", "standby",
	                              "unavailable"};

	return s < 4 ? names[s] : s == 0xf ? "transitioning" : "reserved";
}

static void print_designators(const uint8_t *d, int len)
{
	for (int i = 4; i + 4 <= len;) {
		int dlen = d[i + 3], type = d[i + 1] & 0xf, assoc = (d[i + 1] >> 4) & 3;
		const uint8_t *v = d + i + 4;

		if (i + 4 + dlen > len) {
			break;
		}
		if (assoc == 0 && type == 3) {
			printf("LU naa=");
			for (int k = 0; k < dlen; k++) {
				printf("%02x", v[k]);
			}
			printf("\n");
		} else if (assoc == 1 && type == 4 && dlen == 4) {
			printf("PORT rel=%u\n", (unsigned)(v[2] << 8 | v[3]));
		} else if (assoc == 1 && type == 5 && dlen == 4) {
			printf("PORT tpg=%u\n", (unsigned)(v[2] << 8 | v[3]));
		}
		i += 4 + dlen;
	}
}

static int alua(const char *url)
{
	const uint8_t inq[6] = {0x12, 0, 0, 0, 96, 0};
	const uint8_t vpd83[6] = {0x12, 1, 0x83, 0x04, 0, 0};
	const uint8_t vpd80[6] = {0x12, 1, 0x80, 0, 96, 0};
	const uint8_t rtpg[12] = {0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0};
	struct scsi_task *t;
	struct path p = {0};
	int rc = 1;

	if (!login(&p, url, INI_A, "A")) {
		return 1;
	}
	if ((t = data_in(&p, inq, 6, 96))) {
		printf("TPGS %u\n", (t->datain.data[5] >> 4) & 3);
		scsi_free_scsi_task(t);
	}
	if ((t = data_in(&p, vpd80, 6, 96))) {
		printf("SERIAL %.*s\n", t->datain.data[3], t->datain.data + 4);
		scsi_free_scsi_task(t);
	}
	if ((t = data_in(&p, vpd83, 6, 1024))) {
		print_designators(t->datain.data, t->datain.size);
		scsi_free_scsi_task(t);
	}
	if ((t = data_in(&p, rtpg, 12, 1024))) {
		const uint8_t *b = t->datain.data;
		int len = t->datain.size;

		for (int i = 4; i + 8 <= len;) {
			int nports = b[i + 7];

			printf("GROUP %u %s ports=", (unsigned)(b[i + 2] << 8 | b[i + 3]),
			       state_name(b[i] & 0xf));
			for (int k = 0; k < nports && i + 8 + 4 * k + 4 <= len; k++) {
				const uint8_t *port = b + i + 8 + 4 * k;

				printf("%s%u", k ? "," : "", (unsigned)(port[2] << 8 | port[3]));
			}
			printf("\n");
			i += 8 + 4 * nports;
		}
		scsi_free_scsi_task(t);
		rc = 0;
	}
	logout(&p);
	return rc;
}

/* ---- persistent reservations ---- */

static int prout(struct path *p, int sa, int type, uint64_t key, uint64_t sa_key)
{
	uint8_t cdb[10] = {0x5f, (uint8_t)sa, (uint8_t)type, 0, 0, 0, 0, 0, 24, 0};
	uint8_t param[24] = {0};

	for (int i = 0; i < 8; i++) {
		param[i] = (uint8_t)(key >> (56 - 8 * i));
		param[8 + i] = (uint8_t)(sa_key >> (56 - 8 * i));
	}
	return status_of(command(p, cdb, 10, SCSI_XFER_WRITE, 24, param, NULL));
}

enum {
	SA_REGISTER = 0,
	SA_RESERVE = 1,
	SA_RELEASE = 2,
	SA_CLEAR = 3,
	SA_PREEMPT = 4,
	SA_REGISTER_IGNORE = 6
};

/* READ(10) or WRITE(10) of block 0: the SCSI status, -1 on no answer. */
static int access_status(struct path *p, bool write, uint16_t *ua)
{
	unsigned char block[512] = {0};

	if (write) {
		memcpy(block, "idm gateway pr check", 20);
	}
	return status_of(rw10(p, write, 0, 1, block, ua));
}

static bool expect(struct path *p, bool write, bool conflict, int type)
{
	int st = access_status(p, write, NULL);
	int want = conflict ? SCSI_STATUS_RESERVATION_CONFLICT : SCSI_STATUS_GOOD;

	if (st != want) {
		printf("type %d: %s's %s got status %d, want %d\n", type, p->name,
		       write ? "WRITE" : "READ", st, want);
		return false;
	}
	return true;
}

static int pr_cross(const char *url_a, const char *url_b)
{
	/* type: {read conflicts, write conflicts} for registered B, then
	 * unregistered C (SPC-4 5.13.1 table: WE, EA, WERO, EARO, WEAR, EAAR) */
	static const struct {
		int type;
		bool b_read, b_write, c_read, c_write;
	} types[] = {{1, false, true, false, true},  {3, true, true, true, true},
	             {5, false, false, false, true}, {6, false, false, true, true},
	             {7, false, false, false, true}, {8, false, false, true, true}};
	struct path a = {0}, b = {0}, c = {0};
	bool ok = true;
	uint16_t ua = 0;

	if (!login(&a, url_a, INI_A, "A (gateway A)") ||
	    !login(&b, url_b, INI_B, "B (gateway B)") ||
	    !login(&c, url_b, INI_C, "C (gateway B, unregistered)")) {
		return 1;
	}
	for (size_t i = 0; ok && i < sizeof(types) / sizeof(types[0]); i++) {
		int ty = types[i].type;

		ok = prout(&a, SA_REGISTER_IGNORE, 0, 0, 0xa) == 0 &&
		     prout(&b, SA_REGISTER_IGNORE, 0, 0, 0xb) == 0 &&
		     prout(&a, SA_RESERVE, ty, 0xa, 0) == 0;
		if (!ok) {
			printf("type %d: register or reserve through A failed\n", ty);
			break;
		}
		ok = expect(&a, true, false, ty) && expect(&b, false, types[i].b_read, ty) &&
		     expect(&b, true, types[i].b_write, ty) &&
		     expect(&c, false, types[i].c_read, ty) &&
		     expect(&c, true, types[i].c_write, ty);
		/* CLEAR through B: every registration and the hold go. */
		if (prout(&b, SA_CLEAR, 0, 0xb, 0) != 0) {
			printf("type %d: CLEAR through B failed\n", ty);
			ok = false;
		}
		if (ok) {
			printf("type %d: ok across gateways\n", ty);
		}
	}
	/* PREEMPT through B releases A's hold and unregisters A. */
	if (ok) {
		ok = prout(&a, SA_REGISTER_IGNORE, 0, 0, 0xa) == 0 &&
		     prout(&b, SA_REGISTER_IGNORE, 0, 0, 0xb) == 0 &&
		     prout(&a, SA_RESERVE, 1, 0xa, 0) == 0 && expect(&b, true, true, 1) &&
		     prout(&b, SA_PREEMPT, 1, 0xb, 0xa) == 0 && expect(&b, true, false, 1);
		if (ok) {
			int st = access_status(&a, true, &ua);

			ok = st == SCSI_STATUS_RESERVATION_CONFLICT && ua == 0x2a05;
			printf("preempt through B: A's WRITE status %d after unit attention %04x "
			       "(want 24 after 2a05)\n",
			       st, ua);
		}
		prout(&b, SA_CLEAR, 0, 0xb, 0);
	}
	logout(&a);
	logout(&b);
	logout(&c);
	printf("pr-cross: %s\n", ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}

/* Register KEY through URL, then one more PERSISTENT RESERVE OUT by it:
 * RESERVE Write Exclusive (pr-hold) or CLEAR (pr-clear). */
static int pr_as_registrant(const char *url, uint64_t key, int sa)
{
	struct path p = {0};
	int rc;

	if (!login(&p, url, INI_A, "A")) {
		return 1;
	}
	rc = prout(&p, SA_REGISTER_IGNORE, 0, 0, key) == 0 &&
	             prout(&p, sa, sa == SA_RESERVE ? 1 : 0, key, 0) == 0
	         ? 0
	         : 1;
	logout(&p);
	return rc;
}

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		v = v << 8 | b[i];
	}
	return v;
}

static int pr_show(const char *url)
{
	const uint8_t keys[10] = {0x5e, 0, 0, 0, 0, 0, 0, 4, 0, 0};
	const uint8_t resv[10] = {0x5e, 1, 0, 0, 0, 0, 0, 1, 0, 0};
	struct scsi_task *t;
	struct path p = {0};
	int rc = 1;

	if (!login(&p, url, INI_C, "C")) {
		return 1;
	}
	if ((t = data_in(&p, resv, 10, 256))) {
		if (t->datain.size >= 24 && t->datain.data[7] >= 16) {
			printf("RESERVATION key=%llx type=%u\n",
			       (unsigned long long)be64(t->datain.data + 8),
			       t->datain.data[21] & 0xf);
		} else {
			printf("RESERVATION none\n");
		}
		scsi_free_scsi_task(t);
		rc = 0;
	}
	if ((t = data_in(&p, keys, 10, 1024))) {
		int n = t->datain.size >= 8
		            ? (int)((t->datain.data[4] << 24 | t->datain.data[5] << 16 |
		                     t->datain.data[6] << 8 | t->datain.data[7]) /
		                    8)
		            : 0;

		printf("KEYS");
		for (int i = 0; i < n && 8 + 8 * i + 8 <= t->datain.size; i++) {
			printf("%s%llx", i ? "," : " ",
			       (unsigned long long)be64(t->datain.data + 8 + 8 * i));
		}
		printf("\n");
		scsi_free_scsi_task(t);
	}
	logout(&p);
	return rc;
}

static int write_one(const char *url, uint32_t lba)
{
	unsigned char block[512];
	struct path p = {0};
	int st;

	memset(block, 0x5a, sizeof(block));
	if (!login(&p, url, INI_B, "B")) {
		return 1;
	}
	st = status_of(rw10(&p, true, lba, 1, block, NULL));
	printf("WRITE status %d\n", st);
	logout(&p);
	return st == 0 ? 0 : 1;
}

/* ---- one LU's data through two gateways ---- */

enum { COHERENT_ROUNDS = 48, COHERENT_BLOCKS = 8, COHERENT_LBA = 8192 };

/* The WCE bit of the caching mode page (MODE SENSE(6), current), or -1. */
static int wce_of(struct path *p)
{
	const uint8_t cdb[6] = {0x1a, 0x08, 0x08, 0, 64, 0};
	struct scsi_task *t = data_in(p, cdb, 6, 64);
	int wce = -1;

	if (t && t->datain.size >= 4 + 3 && (t->datain.data[4] & 0x3f) == 0x08) {
		wce = (t->datain.data[4 + 2] >> 2) & 1;
	}
	if (t) {
		scsi_free_scsi_task(t);
	}
	return wce;
}

static bool synchronize_cache(struct path *p)
{
	const uint8_t cdb[10] = {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0};

	return status_of(command(p, cdb, 10, SCSI_XFER_NONE, 0, NULL, NULL)) == SCSI_STATUS_GOOD;
}

/* One round: `reader` reads the range (a cache would keep it), `writer`
 * writes it with the round's pattern, `reader` reads it again. */
static bool coherent_round(struct path *writer, struct path *reader, int round)
{
	uint32_t lba = COHERENT_LBA + (uint32_t)(round % 4) * COHERENT_BLOCKS;
	unsigned char buf[COHERENT_BLOCKS * 512];
	struct scsi_task *t;
	bool ok;

	status_of(rw10(reader, false, lba, COHERENT_BLOCKS, NULL, NULL));
	memset(buf, 0x40 + round, sizeof(buf));
	snprintf((char *)buf, 64, "round %d written through %s", round, writer->name);
	if (status_of(rw10(writer, true, lba, COHERENT_BLOCKS, buf, NULL)) != SCSI_STATUS_GOOD) {
		printf("round %d: WRITE through %s failed\n", round, writer->name);
		return false;
	}
	t = rw10(reader, false, lba, COHERENT_BLOCKS, NULL, NULL);
	ok = t && t->status == SCSI_STATUS_GOOD && t->datain.size == (int)sizeof(buf) &&
	     memcmp(t->datain.data, buf, sizeof(buf)) == 0;
	if (!ok) {
		printf("round %d: %s read %s of LBA %u after the WRITE through %s completed\n",
		       round, reader->name, t && t->status == SCSI_STATUS_GOOD ? "stale data" : "nothing",
		       lba, writer->name);
	}
	if (t) {
		scsi_free_scsi_task(t);
	}
	return ok;
}

static int coherent(const char *url_a, const char *url_b)
{
	struct path a = {0}, b = {0};
	int wce_a, wce_b, stale = 0;
	bool synced;

	if (!login(&a, url_a, INI_A, "gateway A") || !login(&b, url_b, INI_B, "gateway B")) {
		return 1;
	}
	wce_a = wce_of(&a);
	wce_b = wce_of(&b);
	printf("WCE through gateway A %d, through gateway B %d (want 0)\n", wce_a, wce_b);
	synced = synchronize_cache(&a) && synchronize_cache(&b);
	if (!synced) {
		printf("SYNCHRONIZE CACHE failed\n");
	}
	for (int r = 0; synced && r < COHERENT_ROUNDS; r++) {
		stale += !(r % 2 ? coherent_round(&b, &a, r) : coherent_round(&a, &b, r));
	}
	logout(&a);
	logout(&b);
	if (synced) {
		printf("coherent: %d rounds across gateways, %d reads missed a completed write\n",
		       COHERENT_ROUNDS, stale);
	}
	return wce_a == 0 && wce_b == 0 && synced && stale == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "alua") == 0) {
		return alua(argv[2]);
	}
	if (argc == 4 && strcmp(argv[1], "pr-cross") == 0) {
		return pr_cross(argv[2], argv[3]);
	}
	if (argc == 4 && strcmp(argv[1], "pr-hold") == 0) {
		return pr_as_registrant(argv[2], strtoull(argv[3], NULL, 0), SA_RESERVE);
	}
	if (argc == 4 && strcmp(argv[1], "pr-clear") == 0) {
		return pr_as_registrant(argv[2], strtoull(argv[3], NULL, 0), SA_CLEAR);
	}
	if (argc == 3 && strcmp(argv[1], "pr-show") == 0) {
		return pr_show(argv[2]);
	}
	if (argc == 4 && strcmp(argv[1], "write") == 0) {
		return write_one(argv[2], (uint32_t)strtoul(argv[3], NULL, 0));
	}
	if (argc == 4 && strcmp(argv[1], "coherent") == 0) {
		return coherent(argv[2], argv[3]);
	}
	fprintf(stderr, "usage: gw_client alua URL | pr-cross URL_A URL_B | pr-hold URL KEY |\n"
	                "       pr-show URL | pr-clear URL KEY | write URL LBA |\n"
	                "       coherent URL_A URL_B\n");
	return 2;
}
