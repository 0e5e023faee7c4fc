/* Internals of the TPM 2.0 backend, shared by tpm/tpm2_*.c only.
 *
 * The backend talks to the TPM through SAPI (libtss2-sys) and does the session
 * cryptography itself, in our private OpenSSL context: one salted HMAC session per
 * connection protects every command that carries an auth value or a secret. */
#ifndef TPMHA_TPM_TPM2_INT_H
#define TPMHA_TPM_TPM2_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_sys.h>

#include "common/lock.h"
#include "conf/conf.h"
#include "tpm/backend.h"

/* Blob layout: version byte, TPM2B_PUBLIC, TPM2B_PRIVATE (keys and seals alike). */
#define TPM2_BLOB_VERSION 1
/* key_export's duplicates and secret_wrap's wrapped secrets: a first byte no blob
 * has, then the format (tpm2_migrate.c). */
#define TPM2_DUP_VERSION 0x81
#define TPM2_WRAP_VERSION 0xa1

/* All our objects and sessions use SHA-256. */
#define TPM2_NAME_ALG TPM2_ALG_SHA256
#define TPM2_DIGEST_SIZE 32
#define TPM2_NONCE_SIZE 32

/* Bytes one TPM2_GetRandom returns at most (a TPMU_HA). */
#define TPM2_RANDOM_CHUNK 64

/* A loaded-on-demand key (backend.h's struct tpm_key). */
struct tpm_key {
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	TPM2B_NAME name;
	struct tpm_auth auth;
	size_t mod_len;          /* RSA: modulus bytes */
	size_t coord_len;        /* EC: order/coordinate bytes */
	TPM2_HANDLE handle;      /* 0 when not loaded */
	unsigned gen;            /* connection generation the handle belongs to */
	struct tpm_key *newer, *older; /* LRU list of loaded keys */
};

struct tpm2_session {
	TPMI_SH_AUTH_SESSION handle; /* 0: none */
	uint8_t key[TPM2_DIGEST_SIZE]; /* sessionKey */
	size_t key_len;          /* 0 for an unsalted, unbound session */
	TPM2B_NONCE nonce_tpm;
};

struct tpm2 {
	struct tpm_backend base;
	struct lock *lock;

	/* configuration, copied at open */
	char *tcti_conf;
	struct config_secret owner_auth;
	unsigned cfg_max_loaded;

	TSS2_TCTI_CONTEXT *tcti;
	TSS2_SYS_CONTEXT *sys;
	bool broken;             /* the connection failed: reconnect at the next call */
	unsigned gen;            /* bumped at each (re)connection */

	struct tpm_info info;
	struct tpm_caps caps;
	bool alg_rsassa, alg_rsapss, alg_rsaes, alg_oaep; /* schemes the TPM does itself */
	bool alg_keyedhash;      /* sealed data objects */
	uint32_t transient_avail;
	unsigned max_loaded;     /* keys we keep loaded at once */

	/* unit storage key */
	bool sk_known;           /* created once on this connection: pub, name, ctx valid */
	TPM2_HANDLE sk_handle;   /* 0 when evicted */
	TPM2B_PUBLIC sk_pub;
	TPM2B_NAME sk_name;
	TPMS_CONTEXT sk_ctx;

	struct tpm2_session sess;
	/* the last response's parameter area inside the SAPI buffer, to wipe once a
	 * secret (unsealed data, plaintext, random bytes) has been copied out */
	const uint8_t *rp;
	size_t rp_len;

	/* loaded keys, most recently used first */
	struct tpm_key *lru_newest, *lru_oldest;
	unsigned nloaded;

	/* Does this TPM's RSAPSS use a salt as long as the hash? 0 not yet known,
	 * 1 yes (checked on a real signature), -1 no. */
	int pss_hash_salt;

	/* Objects and sessions a migration command sequence holds for a moment:
	 * ours, never flushed as another connection's leftovers. */
	TPM2_HANDLE tmp[4];
	unsigned ntmp;
};

/* What the session does for one command (see tpm2_session_exec). */
struct tpm2_cmd {
	TPM2_CC cc;
	const TPM2B_NAME *names[2]; /* names of the command's handles, in order */
	unsigned nnames;
	bool authorize;          /* the session authorizes the first handle ... */
	const uint8_t *auth;     /* ... with this auth value */
	size_t auth_len;
	bool decrypt;            /* encrypt the first command parameter */
	bool encrypt;            /* have the TPM encrypt the first response parameter */
	bool end_session;        /* clear continueSession */
	/* A policy session that authorizes the first handle, in front of ours (which
	 * then authorizes nothing: it only encrypts, decrypts and checks the response).
	 * Its continueSession is clear: it ends with the command. */
	TPMI_SH_AUTH_SESSION policy;
};

static inline struct tpm2 *tpm2_of(struct tpm_backend *tb)
{
	return (struct tpm2 *)tb;
}

/* --- tpm2_crypto.c: session cryptography in our OpenSSL context --- */
CK_RV tpm2_crypto_init(void);
/* KDFa (TPM 2.0 Part 1 §11.4.10.2): SP 800-108 counter mode with HMAC. */
CK_RV tpm2_kdfa(enum hash_alg h, const uint8_t *key, size_t key_len, const char *label,
		const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len, size_t bits,
		uint8_t *out);
/* KDFe (Part 1 §11.4.10.3): SP 800-56A concatenation KDF. */
CK_RV tpm2_kdfe(enum hash_alg h, const uint8_t *z, size_t z_len, const char *label,
		const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len, size_t bits,
		uint8_t *out);
/* AES-128-CFB in place. */
CK_RV tpm2_aes128_cfb(bool encrypt, const uint8_t key[16], const uint8_t iv[16], uint8_t *data,
		      size_t len);
/* ECDH with an ephemeral key on curve (TPM2_ECC_NIST_P256/P384) against the peer point:
 * the ephemeral public point and Z (the shared x coordinate), each coord_len bytes. */
CK_RV tpm2_ecdh_ephemeral(TPM2_ECC_CURVE curve, const TPMS_ECC_POINT *peer,
			  TPMS_ECC_POINT *eph, uint8_t *z, size_t *z_len);
/* nameAlg || H(marshaled public area) */
CK_RV tpm2_compute_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name);
TPM2_ALG_ID tpm2_hash_alg(enum hash_alg h);
enum hash_alg tpm2_hash_from_alg(TPM2_ALG_ID alg);
/* Length of auth once trailing zeros are dropped (Part 1 §19.6.5: HMAC keys). */
size_t tpm2_auth_trim(const uint8_t *auth, size_t len);

/* --- tpm2_session.c --- */
/* Start the salted HMAC session (storage key must be loaded). */
CK_RV tpm2_session_start(struct tpm2 *t);
/* Forget the session without telling the TPM (wipes the key). */
void tpm2_session_forget(struct tpm2_session *s);
/* Between a Tss2_Sys_*_Prepare and *_Complete: encrypt the first parameter, add the
 * command HMAC, execute, verify the response HMAC and decrypt the first response
 * parameter. A TPM error leaves the session as it was. A response that fails
 * verification returns TSS2_SYS_RC_MALFORMED_RESPONSE and drops the session. */
TSS2_RC tpm2_session_exec(struct tpm2 *t, struct tpm2_session *s, const struct tpm2_cmd *c);
/* Wipe the last response's parameters from the SAPI buffer (after *_Complete). */
void tpm2_wipe_response(struct tpm2 *t);
/* Start an unsalted, unbound HMAC session (for the owner authorization the salted
 * session cannot exist yet for). */
CK_RV tpm2_session_start_unsalted(struct tpm2 *t, struct tpm2_session *s);

/* --- tpm2_cmd.c: connection, errors, retries, plain commands --- */
CK_RV tpm2_connect(struct tpm2 *t);
void tpm2_disconnect(struct tpm2 *t, bool send);
/* Reconnect if the connection was marked broken. */
CK_RV tpm2_conn_ready(struct tpm2 *t);
/* Reconnect if the connection was marked broken; then make sure the storage key and
 * the session exist. */
CK_RV tpm2_ready(struct tpm2 *t);
/* Map a TSS2_RC to a CK_RV and log it with what was being done. */
CK_RV tpm2_rv(struct tpm2 *t, TSS2_RC rc, const char *what);
/* The TPM-layer code without parameter/handle/session numbers (or rc unchanged). */
TSS2_RC tpm2_rc_base(TSS2_RC rc);
/* After a failed command: true if the caller should try again (after evicting an
 * object for TPM_RC_OBJECT_MEMORY, forgetting a lost session or handle, waiting for
 * TPM_RC_RETRY...). busy: the key the command uses (not evicted); storage: whether
 * the command needs the storage key loaded. Marks the connection broken on I/O
 * errors. */
struct tpm2_retry {
	unsigned attempts;
};
bool tpm2_retry(struct tpm2 *t, struct tpm2_retry *r, TSS2_RC rc, struct tpm_key *busy,
		bool storage);
TSS2_RC tpm2_flush(struct tpm2 *t, TPM2_HANDLE h);
/* Flush handles of first's type that are not ours; true if any went. */
bool tpm2_flush_strangers(struct tpm2 *t, TPM2_HANDLE first);
TSS2_RC tpm2_get_props(struct tpm2 *t, uint32_t first, uint32_t count, TPML_TAGGED_TPM_PROPERTY *out);
CK_RV tpm2_query_caps(struct tpm2 *t);
CK_RV tpm2_query_info(struct tpm2 *t);

/* --- tpm2_templates.c: the public areas of everything we create --- */
void tpm2_template_storage(TPMT_PUBLIC *pub);
/* imported: the attributes TPM2_Import requires (no fixedTPM/fixedParent/
 * sensitiveDataOrigin). */
CK_RV tpm2_template_key(const struct tpm_key_spec *spec, bool imported, TPMT_PUBLIC *pub);
void tpm2_template_seal(TPMT_PUBLIC *pub);
/* Is this public area one we could have made (untrusted blobs)? seal: KEYEDHASH
 * sealed data; else an RSA or EC key. CKR_DATA_INVALID if not. */
CK_RV tpm2_public_check(const TPMT_PUBLIC *pub, bool seal);
/* struct tpm_public from a checked key public area. */
void tpm2_public_export(const TPMT_PUBLIC *pub, struct tpm_public *out);
TPM2_ECC_CURVE tpm2_curve_id(enum tpm_curve c);
enum tpm_curve tpm2_curve_from_id(TPM2_ECC_CURVE id);
size_t tpm2_curve_bytes(TPM2_ECC_CURVE id);

/* Domain seals, wrapped secrets, and the strict check of a domain object. */
CK_RV tpm2_template_seal_domain(const struct tpm_domain *d, TPMT_PUBLIC *pub);
void tpm2_template_wrapped_secret(TPMT_PUBLIC *pub);
bool tpm2_public_is_wrapped_secret(const TPMT_PUBLIC *pub);
/* Is this an object of domain d exactly as our templates make them (a key or a
 * seal)? CKR_OK; CKR_KEY_UNEXTRACTABLE for one without a domain;
 * CKR_KEY_NOT_WRAPPABLE for another domain's; CKR_DATA_INVALID for a shape we never
 * make; CKR_ARGUMENTS_BAD for a malformed domain. */
CK_RV tpm2_domain_object_check(const TPMT_PUBLIC *pub, const struct tpm_domain *d);

/* --- tpm2_policy.c: domains, policies, approvals (no TPM) --- */
CK_RV tpm2_domain_encode_ma(const uint8_t *rsa_n, size_t n_len, uint32_t rsa_e, enum tpm_curve curve,
			    const uint8_t *ec_x, const uint8_t *ec_y, struct tpm_domain *d);
/* The MA's public area and name from d->ma_tpm2 (CKR_ARGUMENTS_BAD if it is not
 * what tpm2_domain_encode_ma makes). */
CK_RV tpm2_ma_parse(const struct tpm_domain *d, TPMT_PUBLIC *pub, TPM2B_NAME *name);
/* authPolicy of the domain's keys and seals. */
CK_RV tpm2_domain_policy(const struct tpm_domain *d, uint8_t policy[TPM2_DIGEST_SIZE]);
/* approvedPolicy of an approval for the destination storage key of this name. */
CK_RV tpm2_approved_policy(const TPM2B_NAME *dest, uint8_t policy[TPM2_DIGEST_SIZE]);
/* A TPM 2.0 unit's storage key public area and name, checked against each other;
 * CKR_WRAPPING_KEY_TYPE_INCONSISTENT when it is not one we can send to. */
CK_RV tpm2_dest_parse(const struct tpm_unit_identity *u, TPM2B_PUBLIC *pub, TPM2B_NAME *name);
CK_RV tpm2_approval_message(const struct tpm_domain *d, const struct tpm_unit_identity *dest,
			    uint8_t *msg, size_t *msg_len, enum hash_alg *hash);

/* --- tpm2_wrap.c: duplication blobs made in software --- */
/* sens wrapped for TPM2_Import under parent: with an inner wrapper when inner_key
 * (16 bytes, AES-128-CFB) is given, with an outer wrapper (a seed for parent in
 * in_sym_seed) when parent is. parent: ECC or RSA, SHA-256 names, AES-128-CFB. */
CK_RV tpm2_dup_wrap(const TPMT_PUBLIC *parent, const TPMT_SENSITIVE *sens, const TPM2B_NAME *name,
		    const uint8_t *inner_key, TPM2B_PRIVATE *dup, TPM2B_ENCRYPTED_SECRET *in_sym_seed);

/* --- tpm2_migrate.c --- */
CK_RV tpm2_unit_identity(struct tpm_backend *tb, struct tpm_unit_identity *out);
CK_RV tpm2_key_export(struct tpm_backend *tb, const struct tpm_blob *blob, const struct tpm_domain *d,
		      const struct tpm_unit_identity *dest, const uint8_t *approval, size_t approval_len,
		      struct tpm_blob *out);
CK_RV tpm2_key_import_duplicate(struct tpm_backend *tb, const struct tpm_domain *d,
				const struct tpm_blob *dup, struct tpm_blob *out);
CK_RV tpm2_secret_wrap(struct tpm_backend *tb, const struct tpm_unit_identity *dest,
		       const uint8_t *secret, size_t len, struct tpm_blob *out);
CK_RV tpm2_secret_unwrap(struct tpm_backend *tb, const struct tpm_blob *wrapped, uint8_t *secret,
			 size_t *len);

/* --- tpm2_keys.c: blobs, storage key, loading --- */
CK_RV tpm2_blob_encode(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv, struct tpm_blob *out);
CK_RV tpm2_blob_decode(const uint8_t *data, size_t len, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv);
/* Make sure the storage key is loaded (creating or restoring it). */
CK_RV tpm2_storage_ready(struct tpm2 *t);
/* Evict the least recently used key other than keep; false if there is none. */
bool tpm2_evict_one(struct tpm2 *t, struct tpm_key *keep);
/* Load an object under the storage key (respecting the LRU bound; busy is not
 * evicted). */
CK_RV tpm2_load(struct tpm2 *t, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		const TPM2B_NAME *name, struct tpm_key *busy, TPM2_HANDLE *out);
/* Make sure key is loaded; marks it most recently used. */
CK_RV tpm2_key_ready(struct tpm2 *t, struct tpm_key *key);
/* Forget every handle of the old connection (keys, storage key, session). */
void tpm2_forget_handles(struct tpm2 *t, TPM2_HANDLE *old, size_t *nold, size_t max);
void tpm2_key_unlink(struct tpm2 *t, struct tpm_key *key);

CK_RV tpm2_key_generate(struct tpm_backend *tb, const struct tpm_key_spec *spec,
			const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub);
CK_RV tpm2_key_import(struct tpm_backend *tb, const struct tpm_key_spec *spec, EVP_PKEY *priv,
		      const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub);
CK_RV tpm2_key_public(struct tpm_backend *tb, const struct tpm_blob *blob, struct tpm_public *pub);
CK_RV tpm2_key_open(struct tpm_backend *tb, const struct tpm_blob *blob,
		    const struct tpm_auth *auth, struct tpm_key **out);
void tpm2_key_close(struct tpm_backend *tb, struct tpm_key *key);
void tpm2_key_abandon(struct tpm_key *key);
CK_RV tpm2_seal_create(struct tpm_backend *tb, const uint8_t *secret, size_t len,
		       const struct tpm_auth *auth, const struct tpm_domain *domain,
		       struct tpm_blob *sealed);
CK_RV tpm2_seal_open(struct tpm_backend *tb, const struct tpm_blob *sealed,
		     const struct tpm_auth *auth, uint8_t *secret, size_t *len);
CK_RV tpm2_storage_key_name(struct tpm_backend *tb, struct tpm_blob *name);

/* --- tpm2_rsa.c: signing and decryption --- */
CK_RV tpm2_rsa_sign_pkcs1(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *data,
			  size_t len, uint8_t *sig, size_t *sig_len);
CK_RV tpm2_rsa_sign_pss(struct tpm_backend *tb, struct tpm_key *key, enum hash_alg hash,
			enum hash_alg mgf_hash, size_t salt_len, const uint8_t *digest,
			size_t digest_len, uint8_t *sig, size_t *sig_len);
CK_RV tpm2_rsa_decrypt(struct tpm_backend *tb, struct tpm_key *key,
		       const struct tpm_dec_params *params, const uint8_t *in, size_t in_len,
		       uint8_t *out, size_t *out_len);
CK_RV tpm2_ecdsa_sign(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *digest,
		      size_t len, uint8_t *sig, size_t *sig_len);

#endif
