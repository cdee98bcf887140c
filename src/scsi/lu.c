/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logical units: creation over a backing store, identity (serial number
 * and NAA designator derived from the target name and LUN, so they stay
 * the same across restarts), and unit attentions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "idm/wire.h"
#include "pr_int.h"

/*
 * IEEE company ID in the NAA 6 designator. idm has no IEEE assignment;
 * this value has the "X" bit (0x02 of the first octet) set, which marks
 * a CID rather than an OUI, and is otherwise arbitrary.
 */
#define IDM_NAA_COMPANY_ID 0x0a1d3du

static bool valid_block_size(uint32_t bs)
{
	return bs >= 512 && bs <= 65536 && (bs & (bs - 1)) == 0;
}

/* SHA-256 over "target-name/LUN": the source of serial and NAA. */
static int lu_digest(const char *target_name, uint64_t lun, uint8_t md[32])
{
	char key[300];
	unsigned mdlen = 0;
	int n = snprintf(key, sizeof(key), "%s/%llu", target_name, (unsigned long long)lun);

	if (n < 0 || (size_t)n >= sizeof(key)) {
		return -EINVAL;
	}
	if (!EVP_Digest(key, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		return -EIO;
	}
	return 0;
}

/* NAA 6 (IEEE Registered Extended): 4-bit NAA, 24-bit company ID,
 * then 100 bits vendor specific, taken from the digest. */
static void lu_set_naa(uint8_t naa[16], const uint8_t md[32])
{
	uint32_t cid = IDM_NAA_COMPANY_ID;

	memcpy(naa, md, 16);
	naa[0] = (uint8_t)(0x60 | (cid >> 20));
	naa[1] = (uint8_t)(cid >> 12);
	naa[2] = (uint8_t)(cid >> 4);
	naa[3] = (uint8_t)((cid << 4) | (md[3] & 0x0f));
}

static void lu_set_serial(char serial[33], const uint8_t md[32])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 16; i++) {
		serial[2 * i] = hex[md[16 + i] >> 4];
		serial[2 * i + 1] = hex[md[16 + i] & 0x0f];
	}
	serial[32] = '\0';
}

int scsi_lu_ident_derive(const char *target_name, uint64_t lun, char serial[33], uint8_t naa[16])
{
	uint8_t md[32];
	int rc = lu_digest(target_name ? target_name : "", lun, md);

	if (rc == 0) {
		lu_set_serial(serial, md);
		lu_set_naa(naa, md);
	}
	return rc;
}

/* The store's thread (rbd's watch): the medium changed size behind our
 * back. Commands see the new capacity, initiators a unit attention. */
static void lu_store_resized(void *arg, uint64_t new_size)
{
	struct scsi_lu *lu = arg;

	__atomic_store_n(&lu->num_blocks, new_size / lu->block_size, __ATOMIC_RELAXED);
	scsi_lu_raise_ua(lu, SCSI_ASC_CAPACITY_CHANGED);
}

int scsi_lu_create(uint64_t lun, struct idm_backing *store, const char *target_name,
                   struct scsi_lu **out)
{
	struct scsi_lu *lu;
	uint8_t md[32];
	int rc;

	if (!store || !out || lun >= SCSI_MAX_LUNS || !valid_block_size(store->block_size) ||
	    store->size < store->block_size) {
		return -EINVAL;
	}
	if (!target_name) {
		target_name = "";
	}
	if (strlen(target_name) >= sizeof(lu->target_name)) {
		return -ENAMETOOLONG;
	}
	rc = lu_digest(target_name, lun, md);
	if (rc) {
		return rc;
	}
	lu = calloc(1, sizeof(*lu));
	if (!lu) {
		return -ENOMEM;
	}
	rc = pthread_mutex_init(&lu->rmw_lock, NULL);
	if (rc) {
		free(lu);
		return -rc;
	}
	rc = scsi_pr_create(lu);
	if (rc) {
		pthread_mutex_destroy(&lu->rmw_lock);
		free(lu);
		return rc;
	}
	lu->lun = lun;
	lu->store = store;
	lu->block_size = store->block_size;
	/* Writes may sit in a volatile cache (page cache, RAM, librbd's)
	 * until a SYNCHRONIZE CACHE, so say so: initiators then send
	 * flushes. A write-through store says WCE=0, truthfully. */
	lu->write_cache = !store->write_through;
	store->on_resize_arg = lu;
	__atomic_store_n(&store->on_resize, lu_store_resized, __ATOMIC_SEQ_CST);
	/* After on_resize is set: a store that changes size meanwhile (an
	 * offline one coming online) either is read here or calls it. */
	lu->num_blocks = __atomic_load_n(&store->size, __ATOMIC_SEQ_CST) / store->block_size;
	snprintf(lu->vendor, sizeof(lu->vendor), "%-8s", "IDM");
	snprintf(lu->product, sizeof(lu->product), "%-16s", "idm disk");
	snprintf(lu->revision, sizeof(lu->revision), "%-4s", "0001");
	snprintf(lu->target_name, sizeof(lu->target_name), "%s", target_name);
	lu_set_serial(lu->serial, md);
	lu_set_naa(lu->naa, md);
	*out = lu;
	return 0;
}

void scsi_lu_free(struct scsi_lu *lu)
{
	if (!lu) {
		return;
	}
	/* Same as idm_backing_close(), without tying this module's unit
	 * tests to the store implementations. */
	if (lu->store && lu->store->ops && lu->store->ops->close) {
		lu->store->ops->close(lu->store);
	}
	pthread_mutex_destroy(&lu->rmw_lock);
	scsi_pr_free(lu);
	free(lu);
}

void scsi_lu_raise_ua_only(struct scsi_lu *lu, uint16_t asc)
{
	/* ASC 0 would read as "no unit attention": use the generic reset. */
	lu->ua_asc = asc ? asc : SCSI_ASC_POWER_ON_RESET;
	/* Release: whoever sees the new generation sees ua_asc too. */
	__atomic_add_fetch(&lu->ua_generation, 1, __ATOMIC_RELEASE);
}

void scsi_lu_raise_ua(struct scsi_lu *lu, uint16_t asc)
{
	/* Every reset (ASC 29h) ends an SPC-2 reservation (SPC-2 5.5.1). */
	if (((asc ? asc : SCSI_ASC_POWER_ON_RESET) >> 8) == (SCSI_ASC_POWER_ON_RESET >> 8)) {
		scsi_reserve_reset(lu);
	}
	scsi_lu_raise_ua_only(lu, asc);
}
