/* Internals of the TPM 1.2 backend, shared by tpm/tpm12_*.c only.
 *
 * The backend talks to trousers' tcsd through TSPI (libtspi). One TSPI context per
 * backend, used under one fair lock (TSPI contexts are not meant to be shared by
 * threads at once). When tcsd goes away the context is dropped and a new one is
 * made at the next call; every key is then reloaded from its blob on demand.
 *
 * Choices (README/DESIGN.md "Migration on TPM 1.2"):
 *  - Keys are RSA-2048 under the SRK (or, once migrated here, under the unit storage
 *    key D). Key usage by what the key is for (struct tpm_key_spec):
 *      sign only                -> TPM_KEY_SIGNING, sigScheme RSASSA-PKCS1-v1_5-DER
 *      decrypt (and maybe sign) -> TPM_KEY_LEGACY, sigScheme DER, encScheme RSAES-PKCS1-v1_5
 *                                  (standard PKCS#1 v1.5 signatures and decryption)
 *      spec->tcpa_bind          -> TPM_KEY_BIND, encScheme RSAES-OAEP-SHA1 (TPM 1.2 bound
 *                                  data, OAEP label "TCPA"; no signing, no PKCS#1)
 *    A TPM 1.2 key has one encryption scheme, so no key decrypts both PKCS#1 v1.5 and
 *    TCPA-OAEP. Standard OAEP (empty label) never decrypts on TPM 1.2.
 *  - The 20-byte TPM auth of a key or seal is SHA-1 of the caller's auth value, of
 *    whatever length (all of its bits count; TSS_SECRET_MODE_SHA1).
 *  - Keys of a domain are certifiable migratable keys (CMK) whose MSA list is the
 *    domain's MA; keys without a domain are non-migratable. Imported keys (made in
 *    software) are migratable with a random migration auth that is wiped at once:
 *    TPM_CreateMigrationBlob can never move them.
 */
#ifndef TPMHA_TPM_TPM12_INT_H
#define TPMHA_TPM_TPM12_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>

#include <tss/tspi.h>
#include <tss/tcs_error.h>
#include <trousers/trousers.h>

#include "common/lock.h"
#include "conf/conf.h"
#include "tpm/backend.h"
#include "tpm/tpm12_domain.h"

/* First bytes of our formats (no TPM 2.0 blob starts with these). */
#define TPM12_BLOB_VERSION 0x12  /* key and seal blobs (tpm12_keys.c) */
#define TPM12_DUP_VERSION 0x92   /* key_export's duplicates (tpm12_migrate.c) */
#define TPM12_WRAP_VERSION 0xb2  /* secret_wrap's wrapped secrets */

/* What a blob holds. */
enum tpm12_kind {
	TPM12_KIND_KEY = 1,      /* a key: TPM_KEY12 */
	TPM12_KIND_SEAL = 2,     /* a PIN seal: TPM_STORED_DATA12 under the SRK */
	TPM12_KIND_DOMAIN_SEAL = 3, /* a PIN object of a domain: a CMK bind key whose
				   * usage auth is the PIN's, and the secret bound to it */
};

/* Who the key's parent is. */
enum tpm12_parent {
	TPM12_PARENT_SRK = 0,
	TPM12_PARENT_UNIT = 1,   /* the unit storage key D (keys migrated to this unit) */
};

#define TPM12_PUBKEY_SIZE 284    /* TPM_PUBKEY of an RSA-2048 key, default exponent */
#define TPM12_MOD_SIZE 256
#define TPM12_DIGEST 20
#define TPM12_BOUND_SIZE 256     /* an RSA-2048 ciphertext */
#define TPM12_IDENTITY_SIZE (2 * TPM12_PUBKEY_SIZE) /* D's and U's TPM_PUBKEYs */

/* A TPM_KEY12 read from untrusted bytes (every length bounded). */
struct tpm12_keyinfo {
	uint16_t usage;          /* TPM_KEY_SIGNING, _STORAGE, _BIND, _LEGACY */
	uint32_t flags;          /* TPM_KEY_FLAGS */
	uint8_t auth_usage;      /* TPM_AUTH_NEVER / _ALWAYS */
	uint16_t enc_scheme, sig_scheme; /* TPM_ES_*, TPM_SS_* (TPM values) */
	uint32_t exponent;       /* 65537 when the key says "default" */
	uint8_t modulus[TPM12_MOD_SIZE];
	uint8_t pubkey[TPM12_PUBKEY_SIZE]; /* its TPM_PUBKEY (algorithmParms || pubKey) */
	uint8_t pub_digest[TPM12_DIGEST];  /* SHA-1 of pubkey */
};

/* Parse a TSS key blob (TPM_KEY12; RSA-2048, default exponent, no PCRs); the whole
 * buffer must be the key. CKR_DATA_INVALID otherwise. */
CK_RV tpm12_key_parse(const uint8_t *blob, size_t len, struct tpm12_keyinfo *ki);
/* Parse a TPM_PUBKEY of an RSA-2048 key. */
CK_RV tpm12_pubkey_parse(const uint8_t *pub, size_t len, uint16_t *enc_scheme,
			 uint16_t *sig_scheme, uint8_t modulus[TPM12_MOD_SIZE]);

/* Our blob (TPM12_BLOB_VERSION), decoded; pointers into the caller's bytes. */
struct tpm12_blob {
	enum tpm12_kind kind;
	enum tpm12_parent parent;
	const uint8_t *key;      /* TPM_KEY12 (KEY, DOMAIN_SEAL) */
	size_t key_len;
	const uint8_t *data;     /* TPM_STORED_DATA12 (SEAL) or bound data (DOMAIN_SEAL) */
	size_t data_len;
};
CK_RV tpm12_blob_decode(const uint8_t *p, size_t len, struct tpm12_blob *out);
CK_RV tpm12_blob_encode(enum tpm12_kind kind, enum tpm12_parent parent, const uint8_t *key,
			size_t key_len, const uint8_t *data, size_t data_len, struct tpm_blob *out);

/* A loaded-on-demand key (backend.h's struct tpm_key). */
struct tpm_key {
	uint8_t *blob;           /* TPM_KEY12 */
	size_t blob_len;
	enum tpm12_parent parent;
	struct tpm12_keyinfo info;
	uint8_t auth[TPM12_DIGEST]; /* the TPM auth: SHA-1 of the caller's value */
	bool no_auth;            /* well-known secret (unit keys) */
	TSS_HKEY hkey;           /* 0 when not loaded */
	TSS_HPOLICY policy;
	unsigned gen;            /* connection generation hkey belongs to */
	bool pinned;             /* the unit's own keys: never in the LRU */
	struct tpm_key *newer, *older; /* LRU list of loaded keys */
};

struct tpm12 {
	struct tpm_backend base;
	struct lock *lock;
	sigset_t saved_mask;     /* while the lock is held (tpm12_lock) */
	bool pipe_pending;

	/* configuration, copied at open */
	char *host;
	unsigned port;
	char addr[300];          /* "host:port" for messages */
	struct config_secret owner_auth, srk_auth;
	char *store_dir;
	unsigned cfg_max_loaded;

	TSS_HCONTEXT ctx;        /* 0: not connected */
	TSS_HTPM htpm;
	TSS_HKEY hsrk;
	TSS_HHASH hhash;         /* reused by every signature (0: not made yet) */
	TSS_HENCDATA hbind;      /* reused by every decryption */
	TSS_HMIGDATA hmig;       /* reused by every CMK command: libtspi's MIGDATA objects
				  * leak their buffers when closed (migdata_free frees
				  * the struct only), while each setter frees the
				  * buffer it replaces */
	bool broken;             /* tcsd went away: reconnect at the next call */
	unsigned gen;            /* bumped at each (re)connection */

	struct tpm_info info;
	struct tpm_caps caps;
	uint32_t slots;          /* key slots the TPM reports */
	bool da_warned;          /* said once that TPM_CAP_DA_LOGIC does not answer */
	bool seen_locked;        /* the last PIN check met TPM_DEFEND_LOCK_RUNNING */

	unsigned max_loaded, nloaded;
	struct tpm_key *lru_newest, *lru_oldest;

	/* The SRK's TPM_PUBKEY (owner-read) and what it names. */
	bool srk_known;
	uint8_t srk_pub[TPM12_PUBKEY_SIZE];

	/* the unit's keys: D (storage, destination of migrations) and U (bind, for
	 * wrapped secrets); both non-migratable, kept in a file of the store */
	bool unit_known;
	struct tpm_key unit_d, unit_u;

	/* CMK_ApproveMA's answer for the last MSA list (cheap to keep) */
	bool approval_known;
	unsigned approval_gen;
	uint8_t approval_msa[TPM12_DIGEST], approval_hmac[TPM12_DIGEST];
};

static inline struct tpm12 *tpm12_of(struct tpm_backend *tb)
{
	return (struct tpm12 *)tb;
}

/* The caller's auth value as the TPM's 20 bytes. */
void tpm12_auth_digest(const struct tpm_auth *auth, uint8_t out[TPM12_DIGEST]);

/* --- tpm12_backend.c: connection and errors --- */
/* The fair lock around each operation. While it is held SIGPIPE is blocked in the
 * calling thread (and one raised meanwhile is consumed): libtspi writes to the tcsd
 * socket with plain send(), and a tcsd that went away would otherwise kill the
 * application with SIGPIPE at the next write. */
void tpm12_lock(struct tpm12 *t);
void tpm12_unlock(struct tpm12 *t);
/* Which authorization failures mean a wrong PIN (else they mean a configuration
 * whose owner_auth/srk_auth is not the TPM's). */
enum tpm12_pin { TPM12_PIN_NONE = 0, TPM12_PIN_AUTH1 = 1, TPM12_PIN_AUTH2 = 2 };
/* The one mapping of TSS/TPM results to CK_RV, logged with the decoded code and
 * layer. Communication failures mark the connection broken. */
CK_RV tpm12_rv(struct tpm12 *t, TSS_RESULT r, const char *what, unsigned pin);
bool tpm12_is_comm_error(TSS_RESULT r);
/* Remember what an operation checked against a PIN answered (lockout seen or not). */
void tpm12_note_auth(struct tpm12 *t, TSS_RESULT r);
/* TPM-layer error code (0 for TSS-layer results). */
uint32_t tpm12_tpm_code(TSS_RESULT r);
/* Connect if there is no usable context (reconnect after tcsd went away). */
CK_RV tpm12_ready(struct tpm12 *t);
/* Copy a buffer TSPI returned, then free it in the context at once (trousers trap
 * (2): some CMK calls free every buffer of the context on their error paths). */
CK_RV tpm12_take(struct tpm12 *t, BYTE *p, UINT32 len, uint8_t *out, size_t cap, size_t *out_len);
CK_RV tpm12_take_blob(struct tpm12 *t, BYTE *p, UINT32 len, struct tpm_blob *out);
/* The connection's MIGDATA object (made on first use). */
TSS_RESULT tpm12_migdata(struct tpm12 *t, TSS_HMIGDATA *out);
/* A policy object with this 20-byte secret (SHA-1 mode) or the well-known one. */
TSS_RESULT tpm12_policy(struct tpm12 *t, const uint8_t *secret, TSS_HPOLICY *out);
/* Owner-authorized commands: the TPM object's policy holds the owner secret. */
TSS_RESULT tpm12_owner_policy(struct tpm12 *t);

/* --- tpm12_keys.c --- */
/* Make sure key is loaded (its parent too); marks it most recently used. */
CK_RV tpm12_key_ready(struct tpm12 *t, struct tpm_key *key);
void tpm12_key_unload(struct tpm12 *t, struct tpm_key *key, bool send);
/* Forget every handle of the old connection. */
void tpm12_forget_handles(struct tpm12 *t);
/* A key struct from a TPM_KEY12 (copies the blob). */
CK_RV tpm12_key_init(struct tpm_key *k, const uint8_t *blob, size_t len, enum tpm12_parent parent,
		     const uint8_t *auth);
void tpm12_key_clear(struct tpm_key *k);
/* An RSA key object for a TPM_PUBKEY (to verify with, or to name a destination). */
TSS_RESULT tpm12_pubkey_object(struct tpm12 *t, const uint8_t *pub, size_t len, TSS_HKEY *out);
/* Create a key in the TPM under the SRK: flags TSS_KEY_*; cmk with the MA's
 * approval (msa digest and hmac) when not NULL. blob_out: the TPM_KEY12. */
CK_RV tpm12_create_key(struct tpm12 *t, UINT32 flags, UINT32 sig_scheme, UINT32 enc_scheme,
		       const uint8_t *auth, const uint8_t *msa_digest, const uint8_t *msa_hmac,
		       TSS_HKEY parent, struct tpm_blob *blob_out);
/* The SRK's TPM_PUBKEY into t->srk_pub (owner-authorized read, once). */
CK_RV tpm12_srk_public(struct tpm12 *t);
/* The approval of the domain's MA (TPM_CMK_ApproveMA, owner), cached. */
CK_RV tpm12_approve_ma(struct tpm12 *t, const struct tpm_domain *d, uint8_t msa_digest[TPM12_DIGEST],
		       uint8_t msa_hmac[TPM12_DIGEST]);
/* SHA-1 of the MSA list of one MA (TPM_MSA_COMPOSITE). */
CK_RV tpm12_msa_digest(const struct tpm_domain *d, uint8_t out[TPM12_DIGEST],
		       uint8_t ma_digest[TPM12_DIGEST]);

CK_RV tpm12_key_generate(struct tpm_backend *tb, const struct tpm_key_spec *spec,
			 const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub);
CK_RV tpm12_key_import(struct tpm_backend *tb, const struct tpm_key_spec *spec, EVP_PKEY *priv,
		       const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub);
CK_RV tpm12_key_public(struct tpm_backend *tb, const struct tpm_blob *blob, struct tpm_public *pub);
CK_RV tpm12_key_open(struct tpm_backend *tb, const struct tpm_blob *blob,
		     const struct tpm_auth *auth, struct tpm_key **out);
void tpm12_key_close(struct tpm_backend *tb, struct tpm_key *key);
void tpm12_key_abandon(struct tpm_key *key);
void tpm12_public_export(const struct tpm12_keyinfo *ki, struct tpm_public *out);

/* --- tpm12_crypto.c --- */
CK_RV tpm12_seal_create(struct tpm_backend *tb, const uint8_t *secret, size_t len,
			const struct tpm_auth *auth, const struct tpm_domain *domain,
			struct tpm_blob *sealed);
CK_RV tpm12_seal_open(struct tpm_backend *tb, const struct tpm_blob *sealed,
		      const struct tpm_auth *auth, uint8_t *secret, size_t *len);
CK_RV tpm12_rsa_sign_pkcs1(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *data,
			   size_t len, uint8_t *sig, size_t *sig_len);
CK_RV tpm12_rsa_sign_pss(struct tpm_backend *tb, struct tpm_key *key, enum hash_alg hash,
			 enum hash_alg mgf_hash, size_t salt_len, const uint8_t *digest,
			 size_t digest_len, uint8_t *sig, size_t *sig_len);
CK_RV tpm12_rsa_decrypt(struct tpm_backend *tb, struct tpm_key *key,
			const struct tpm_dec_params *params, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t *out_len);
CK_RV tpm12_ecdsa_sign(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *digest,
		       size_t len, uint8_t *sig, size_t *sig_len);
/* TPM_UnBind with a loaded key (lock held): out gets at most *out_len bytes. */
CK_RV tpm12_unbind(struct tpm12 *t, struct tpm_key *k, const uint8_t *in, size_t in_len,
		   uint8_t *out, size_t *out_len, unsigned pin, const char *what);
/* TPM 1.2 bound data made in software: RSAES-OAEP (SHA-1, label "TCPA") of
 * TPM_BOUND_DATA (01 01 00 00 02 || data) to an RSA-2048 modulus. */
CK_RV tpm12_bind_soft(const uint8_t modulus[TPM12_MOD_SIZE], const uint8_t *data, size_t len,
		      uint8_t out[TPM12_BOUND_SIZE]);

/* --- tpm12_migrate.c --- */
/* Load (or create, once) the unit's keys D and U. */
CK_RV tpm12_unit_ready(struct tpm12 *t);
CK_RV tpm12_storage_key_name(struct tpm_backend *tb, struct tpm_blob *name);
CK_RV tpm12_unit_identity(struct tpm_backend *tb, struct tpm_unit_identity *out);
CK_RV tpm12_key_export(struct tpm_backend *tb, const struct tpm_blob *blob, const struct tpm_domain *d,
		       const struct tpm_unit_identity *dest, const uint8_t *approval, size_t approval_len,
		       struct tpm_blob *out);
CK_RV tpm12_key_import_duplicate(struct tpm_backend *tb, const struct tpm_domain *d,
				 const struct tpm_blob *dup, struct tpm_blob *out);
CK_RV tpm12_secret_wrap(struct tpm_backend *tb, const struct tpm_unit_identity *dest,
			const uint8_t *secret, size_t len, struct tpm_blob *out);
CK_RV tpm12_secret_unwrap(struct tpm_backend *tb, const struct tpm_blob *wrapped, uint8_t *secret,
			  size_t *len);

/* --- tpm12_format.c: no TPM needed (also used by tpm/domain.c) --- */
void tpm12_hex8(const uint8_t *d, char out[17]);
/* A TPM 1.2 unit's identity: D's and U's public keys, the name matching D; the
 * digests of both and U's modulus (u_mod may be NULL). */
CK_RV tpm12_dest_parse(const struct tpm_unit_identity *u, uint8_t d_digest[TPM12_DIGEST],
		       uint8_t u_digest[TPM12_DIGEST], uint8_t u_mod[TPM12_MOD_SIZE]);

#endif
