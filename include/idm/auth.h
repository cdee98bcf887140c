/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI CHAP authentication (RFC 7143 section 12.1, RFC 1994), both roles.
 *
 * The exchange, one row per Login PDU of the security stage:
 *   I -> T  AuthMethod=CHAP,None             (the key engine answers it)
 *   I -> T  CHAP_A=<list>
 *   T -> I  CHAP_A=<a> CHAP_I=<id> CHAP_C=<challenge>
 *   I -> T  CHAP_N=<user> CHAP_R=<response> [CHAP_I=<id> CHAP_C=<challenge>]
 *   T -> I  [CHAP_N=<target user> CHAP_R=<response>]        (mutual only)
 * with response = H(id || secret || challenge), H chosen by CHAP_A.
 *
 * How it plugs into the key engine (keys.h): the engine offers every
 * received key to its hooks first, but a hook can answer only one value
 * for the key it was given, while CHAP answers several keys at once. So
 * the hook (idm_chap_hook) only records the CHAP_* values it is given
 * and always returns IDM_HOOK_NOTED; it never fails a key, which also
 * keeps values out of the engine's error text. The login code then runs
 * the state machine once per received PDU, after the engine:
 *
 *   target:    idm_nego_respond(n, SEC, req, len, resp);
 *              idm_chap_target_step(chap, n, resp);
 *              if T=1 was asked: allow it only if idm_auth_may_transit()
 *   initiator: idm_nego_process(n, SEC, rsp, len, out);
 *              idm_chap_initiator_step(chap, n, out);
 *              set T=1 once idm_auth_may_ask_transit() says so; accept
 *              the target's transit only if idm_auth_may_transit()
 *
 * A step appends our CHAP keys to the text buffer. On failure it returns
 * a negative errno and sets n->status (ISCSI_LOGIN_AUTH_FAILED, or
 * ISCSI_LOGIN_OUT_OF_RESOURCES) and n->error to a reason that never
 * contains a secret, a challenge or a response. Nothing here logs.
 */
#ifndef IDM_AUTH_H
#define IDM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/keys.h"

/* CHAP_A values: the PPP authentication algorithm numbers (IANA). */
enum idm_chap_alg {
	IDM_CHAP_MD5 = 5,
	IDM_CHAP_SHA1 = 6,
	IDM_CHAP_SHA256 = 7,
	IDM_CHAP_SHA3_256 = 8,
};

/* How we write binary values (CHAP_C, CHAP_R); we read both. */
enum idm_chap_encoding {
	IDM_CHAP_HEX,    /* "0x" followed by hex digits */
	IDM_CHAP_BASE64, /* "0b" followed by RFC 4648 base64 with padding */
};

#define IDM_CHAP_USER_MAX 256       /* a CHAP name, NUL included */
#define IDM_CHAP_SECRET_MAX 255     /* bytes */
#define IDM_CHAP_SECRET_MIN_GOOD 12 /* shorter secrets work but are weak */
#define IDM_CHAP_DIGEST_MAX 32      /* SHA-256 and SHA3-256 */
#define IDM_CHAP_CHALLENGE_MAX 1024 /* longest challenge we accept */
#define IDM_CHAP_ALGS_MAX 4

/*
 * One set of credentials. user/secret authenticate the initiator;
 * target_user/target_secret authenticate the target (mutual CHAP) and
 * are unused when target_secret_len is 0. Secrets are bytes, not strings.
 */
struct idm_chap_account {
	char user[IDM_CHAP_USER_MAX];
	uint8_t secret[IDM_CHAP_SECRET_MAX];
	size_t secret_len;
	char target_user[IDM_CHAP_USER_MAX];
	uint8_t target_secret[IDM_CHAP_SECRET_MAX];
	size_t target_secret_len;
};

/*
 * Fill an account from strings (target_user/target_secret may be NULL for
 * one-way CHAP). Returns 0, or -EINVAL when a name is empty or too long or
 * a secret's length is outside 1..255, or when both directions share one
 * secret (RFC 7143 section 12.1.3 forbids it).
 */
int idm_chap_account_set(struct idm_chap_account *a, const char *user, const char *secret,
                         const char *target_user, const char *target_secret);
/* The same checks on an account filled by hand. */
int idm_chap_account_check(const struct idm_chap_account *a);
/* True when a secret is shorter than the 12 bytes RFC 7143 asks for: warn. */
bool idm_chap_account_weak(const struct idm_chap_account *a);
/* Wipe an account (secrets included). */
void idm_chap_account_clear(struct idm_chap_account *a);

/*
 * Target: find the account for a login. `who` is the negotiation result
 * so far (session_type, target_name, initiator_name), so the callback can
 * keep per-target accounts and a discovery account. Returns 0 with `out`
 * filled, or -ENOENT.
 */
typedef int (*idm_chap_lookup_fn)(void *arg, const struct idm_params *who,
                                  struct idm_chap_account *out);

struct idm_chap_config {
	/*
	 * Algorithms: the target accepts these (it picks the first of the
	 * initiator's list that is here); the initiator offers them in this
	 * order. Empty (nalgs 0) means SHA3-256, SHA-256, SHA-1, MD5.
	 */
	uint8_t algs[IDM_CHAP_ALGS_MAX];
	int nalgs;
	enum idm_chap_encoding encoding;
	/* target */
	idm_chap_lookup_fn lookup;
	void *lookup_arg;
	/* initiator: our credentials; mutual asks the target to prove itself */
	const struct idm_chap_account *account;
	bool mutual;
};

enum idm_chap_state {
	IDM_CHAP_START,      /* nothing exchanged yet */
	IDM_CHAP_ALG_SENT,   /* initiator: CHAP_A list sent */
	IDM_CHAP_CHALLENGED, /* target: CHAP_A/I/C sent */
	IDM_CHAP_RESPONDED,  /* initiator: CHAP_N/R (+I/C) sent, awaiting the target's */
	IDM_CHAP_DONE,       /* authenticated (the initiator: as far as it can tell) */
	IDM_CHAP_FAILED,
};

enum idm_chap_key {
	IDM_CHAP_KEY_A,
	IDM_CHAP_KEY_I,
	IDM_CHAP_KEY_C,
	IDM_CHAP_KEY_N,
	IDM_CHAP_KEY_R,
	IDM_CHAP_NKEYS
};

/* Longest encoded value kept per key; anything longer is malformed. */
#define IDM_CHAP_VALUE_MAX (2 + 2 * IDM_CHAP_CHALLENGE_MAX)

/* The CHAP keys of the PDU being processed, as the hook recorded them. */
struct idm_chap_rx {
	uint8_t present;  /* bitmap by enum idm_chap_key */
	uint8_t toolong;  /* the value did not fit */
	uint8_t repeated; /* seen again before the step consumed it */
	char value[IDM_CHAP_NKEYS][IDM_CHAP_VALUE_MAX + 1];
};

/*
 * CHAP state of one connection's login (about 11 KiB: keep it with the
 * login, not per connection for life). Treat as opaque.
 */
struct idm_chap {
	enum idm_role role;
	enum idm_chap_state state;
	struct idm_chap_config cfg;
	struct idm_chap_account account;        /* target: looked up; initiator: a copy */
	uint8_t alg;                            /* the CHAP_A settled on */
	uint8_t id;                             /* the CHAP_I we sent */
	uint8_t challenge[IDM_CHAP_DIGEST_MAX]; /* the CHAP_C we sent */
	size_t challenge_len;
	struct idm_chap_rx rx;
	char error[128]; /* last failure reason; never holds a secret or value */
};

/*
 * Start a CHAP state for one login. The initiator needs cfg->account; the
 * target needs cfg->lookup. Returns 0 or -EINVAL (bad configuration).
 */
int idm_chap_init(struct idm_chap *c, enum idm_role role, const struct idm_chap_config *cfg);
/* Wipe the state (secrets, challenges); call when the login ends. */
void idm_chap_clear(struct idm_chap *c);

/* A key engine hook recording CHAP_* keys into `c` (see the top comment). */
void idm_chap_hook(struct idm_chap *c, struct idm_nego_hook *hook);
/* The hook function itself, exposed for tests. */
enum idm_hook_result idm_chap_hook_key(void *arg, const char *key, const char *value, char *answer,
                                       size_t answer_cap);

/*
 * Run the state machine on the CHAP keys of the PDU just processed and
 * append our CHAP keys to `out`. Call it for every security-stage PDU,
 * also those without CHAP keys (the initiator's step sends CHAP_A once
 * AuthMethod=CHAP is settled). Returns 0, -EACCES (authentication
 * failed: n->status = ISCSI_LOGIN_AUTH_FAILED) or -ENOMEM
 * (ISCSI_LOGIN_OUT_OF_RESOURCES); n->error and c->error say why. After
 * a failure every further step fails too.
 */
int idm_chap_target_step(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out);
int idm_chap_initiator_step(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out);

/*
 * May the login leave the security stage? For the target: the negotiated
 * AuthMethod is CHAP and the initiator proved itself (and we answered
 * its mutual challenge), or it is None and None is in n->local's list.
 * For the initiator: CHAP finished (the target proved itself when we
 * asked for mutual), or None was settled and we did not ask for mutual.
 * `c` may be NULL when no CHAP state exists (then only None passes).
 */
bool idm_auth_may_transit(const struct idm_chap *c, const struct idm_nego *n);

/*
 * Initiator: may the next Login Request set T=1? Already on the PDU that
 * carries our CHAP_R (and our mutual challenge), as deployed initiators
 * do; the target's T=1 answer is then accepted only if
 * idm_auth_may_transit() holds after that answer was processed.
 */
bool idm_auth_may_ask_transit(const struct idm_chap *c, const struct idm_nego *n);

/* ---- building blocks, public for tests and other users ------------- */

/* Digest length of a CHAP_A algorithm, 0 when unsupported. */
size_t idm_chap_digest_len(uint8_t alg);
/* A CHAP_A algorithm's name ("MD5", "SHA-1", "SHA-256", "SHA3-256"; "?"
 * when unknown), and back from the `len` bytes of `name` (also "SHA1",
 * "SHA256", any case); 0 or -EINVAL. */
const char *idm_chap_alg_name(uint8_t alg);
int idm_chap_alg_parse(const char *name, size_t len, uint8_t *alg);
/*
 * response = H(id || secret || challenge). `out` holds IDM_CHAP_DIGEST_MAX
 * bytes; *out_len gets the digest length. Returns 0, -ENOTSUP, -EIO.
 */
int idm_chap_response(uint8_t alg, uint8_t id, const uint8_t *secret, size_t secret_len,
                      const uint8_t *challenge, size_t challenge_len, uint8_t *out,
                      size_t *out_len);
/*
 * Decode a binary value: "0x"/"0X" hex (an odd digit count implies a
 * leading zero) or "0b"/"0B" base64 with padding. Returns 0, -EINVAL
 * (malformed, empty) or -E2BIG (more than `cap` bytes).
 */
int idm_chap_decode(const char *s, uint8_t *out, size_t cap, size_t *out_len);
/* Encode `len` bytes with a prefix and a NUL. Returns 0 or -ENOSPC. */
int idm_chap_encode(enum idm_chap_encoding enc, const uint8_t *in, size_t len, char *out,
                    size_t cap);

#endif
