/* The one interface both TPM versions implement.
 *
 * Everything above tpm/ speaks PKCS#11 semantics ("sign this DigestInfo with PKCS#1
 * v1.5 padding", "decrypt this OAEP ciphertext") and never asks which TPM it runs on;
 * each backend decides how its TPM does the job, or says CKR_MECHANISM_INVALID.
 *
 * Threading: a backend serializes its own TPM traffic (one fair lock around each
 * operation). Callers may call any function from any thread.
 *
 * Blobs are the backend's own byte formats (stored, and later carried in migration
 * bundles); the layers above treat them as opaque, versioned by the backend.
 */
#ifndef TPMHA_TPM_BACKEND_H
#define TPMHA_TPM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <p11-kit/pkcs11.h>

#include "common/ossl.h"

struct tpmha_config;

enum tpm_key_type {
	TPM_KEY_RSA = 1,
	TPM_KEY_EC = 2,
};

enum tpm_curve {
	TPM_CURVE_NONE = 0,
	TPM_CURVE_P256 = 1,
	TPM_CURVE_P384 = 2,
};

/* An authorization value (PIN-derived, or a key's random auth). Wiped by its owner. */
#define TPM_AUTH_MAX 64
struct tpm_auth {
	size_t len;
	uint8_t value[TPM_AUTH_MAX];
};

/* Opaque backend bytes owned by the holder: free with tpm_blob_release(). */
struct tpm_blob {
	uint8_t *data;
	size_t len;
};
void tpm_blob_release(struct tpm_blob *b); /* frees data, zeroes the struct; NULL data fine */
CK_RV tpm_blob_copy(struct tpm_blob *dst, const void *data, size_t len);

struct tpm_info {
	int version;             /* 20 or 12 */
	char manufacturer[5];    /* "IBM", "INTC", "STM " ... NUL-terminated */
	char vendor[17];         /* vendor strings, NUL-terminated */
	uint16_t fw_major, fw_minor;
	char spec[24];           /* "2.0 rev 1.59" / "1.2 rev 116" */
};

/* Dictionary-attack state: what CKF_USER_PIN_COUNT_LOW/FINAL_TRY/LOCKED report. */
struct tpm_da_state {
	uint32_t failed_tries;   /* current failure count */
	uint32_t max_tries;      /* lockout at this count */
	uint32_t recovery_seconds; /* one failure forgotten per this many seconds */
	bool locked;
};

enum tpm_rsa_size {
	TPM_RSA_1024 = 1u << 0,
	TPM_RSA_2048 = 1u << 1,
	TPM_RSA_3072 = 1u << 2,
	TPM_RSA_4096 = 1u << 3,
};

#define TPM_HASH_BIT(h) (1u << (h))

/* What this TPM can do, asked from the TPM at open (never a fixed list). */
struct tpm_caps {
	unsigned rsa_sizes;      /* enum tpm_rsa_size bits the TPM creates keys of */
	unsigned curves;         /* 1u << enum tpm_curve */
	unsigned hashes;         /* TPM_HASH_BIT(enum hash_alg): hashes signing schemes accept */
	bool rsa_pkcs1_sign;     /* rsa_sign_pkcs1() for DigestInfo input */
	bool rsa_pkcs1_sign_any; /* ... and for any input up to k-11 bytes (CKM_RSA_PKCS) */
	bool rsa_pss_sign;       /* rsa_sign_pss() */
	bool rsa_pkcs1_decrypt;  /* rsa_decrypt(TPM_DEC_PKCS1) */
	unsigned oaep_hashes;    /* rsa_decrypt(TPM_DEC_OAEP) with these hashes (label allowed) */
	bool rsa_tcpa_oaep;      /* TPM 1.2 bound-data OAEP (label "TCPA") */
	bool ecdsa;              /* ecdsa_sign() */
	bool import_rsa;         /* key_import() of RSA private keys */
	bool import_ec;          /* key_import() of EC private keys */
	bool migration;          /* keys of a domain can be duplicated to other units */
	size_t max_random;       /* random() request size the backend chunks by, for info only */
};

/* A migration domain as the TPM needs it (migration/ reads it from the domain file).
 * Keys of a domain may be duplicated only to units the migration authority (MA) has
 * approved. The MA key is pinned in each TPM version's own encoding: its name (TPM 2.0)
 * or digest (TPM 1.2) is part of every key's policy. */
struct tpm_domain {
	uint8_t id[16];
	uint8_t policy_ref[16];      /* TPM 2.0 PolicyAuthorize policyRef: the domain id */
	enum tpm_key_type ma_type;   /* RSA (RSASSA-PKCS1-v1_5) or EC (ECDSA), SHA-256 */
	struct tpm_blob ma_tpm2;     /* the MA key as a marshaled TPMT_PUBLIC */
	struct tpm_blob ma_tpm12;    /* the MA key as a TPM_PUBKEY (RSA-2048 only), or empty */
};

/* What other units need to send keys to this one: its unit storage key. */
struct tpm_unit_identity {
	int tpm_version;             /* 20 or 12 */
	struct tpm_blob storage_public; /* TPM 2.0: marshaled TPM2B_PUBLIC; 1.2: the storage
					 * key's TPM_PUBKEY, then the unit bind key's (wrapped
					 * secrets), 284 bytes each */
	struct tpm_blob name;        /* TPM 2.0: its name; 1.2: SHA-1 of the storage key's TPM_PUBKEY */
};
void tpm_unit_identity_release(struct tpm_unit_identity *u);

/* The MA's public key in every TPM version's encoding, for the domain file; no TPM
 * needed. CKR_KEY_TYPE_INCONSISTENT for a key no TPM version can use as an MA. */
CK_RV tpm_domain_encode_ma(const uint8_t *rsa_n, size_t n_len, uint32_t rsa_e,
			   enum tpm_curve curve, const uint8_t *ec_x, const uint8_t *ec_y,
			   struct tpm_domain *d);

/* What the MA signs to approve a destination (TPM 2.0: approvedPolicy || policyRef,
 * signed with SHA-256; one approval per destination unit). key_public is the key to
 * move where the destination's TPM version needs approvals per key (TPM 1.2), NULL
 * otherwise. No TPM needed. */
CK_RV tpm_approval_message(const struct tpm_domain *d, const struct tpm_unit_identity *dest,
			   const struct tpm_blob *key_public, uint8_t *msg, size_t *msg_len,
			   enum hash_alg *hash);

/* What an approval of one key names, from the key's (or PIN object's) blob: TPM 1.2,
 * its TPM_PUBKEY; TPM 2.0 approvals name no key: empty (len 0). No TPM needed. */
CK_RV tpm_key_approval_public(const struct tpm_blob *blob, struct tpm_blob *out);

struct tpm_key_spec {
	enum tpm_key_type type;
	unsigned rsa_bits;       /* 2048, 3072 */
	uint32_t rsa_exponent;   /* 0 or 65537 (TPMs take no other) */
	enum tpm_curve curve;
	bool sign;               /* CKA_SIGN */
	bool decrypt;            /* CKA_DECRYPT or CKA_UNWRAP */
	const struct tpm_domain *domain;
	/* TPM 1.2 only: a BIND key that decrypts TPM 1.2 bound data (TPM_DEC_TCPA_OAEP)
	 * instead of a LEGACY key that signs and decrypts PKCS#1 v1.5 (a TPM 1.2 key has
	 * one encryption scheme). Ignored by TPM 2.0. */
	bool tcpa_bind;
};

/* The public half as the TPM reports it. */
struct tpm_public {
	enum tpm_key_type type;
	unsigned bits;           /* RSA modulus bits, or EC field bits */
	uint8_t modulus[512];    /* big-endian, no leading zero byte */
	size_t modulus_len;
	uint32_t exponent;       /* 65537 when the TPM said 0 */
	enum tpm_curve curve;
	uint8_t x[66], y[66];    /* big-endian, each coord_len bytes */
	size_t coord_len;
};

enum tpm_dec_scheme {
	TPM_DEC_PKCS1 = 1,       /* RSAES-PKCS1-v1_5 */
	TPM_DEC_OAEP,            /* RSAES-OAEP with hash, mgf1 hash and label */
	TPM_DEC_TCPA_OAEP,       /* TPM 1.2 bound data */
};

struct tpm_dec_params {
	enum tpm_dec_scheme scheme;
	enum hash_alg hash;      /* OAEP */
	enum hash_alg mgf_hash;  /* OAEP */
	const uint8_t *label;    /* OAEP, may be NULL */
	size_t label_len;
};

struct tpm_backend;
struct tpm_key; /* a key blob + its auth value; loaded into the TPM on demand */

struct tpm_backend_ops {
	const char *name; /* "tpm2", "tpm12" */

	CK_RV (*open)(const struct tpmha_config *cfg, struct tpm_backend **out);
	/* Flush what we loaded, close the connection, free. NULL fine. */
	void (*close)(struct tpm_backend *tb);
	/* In a fork()ed child: free memory only. Nothing may be sent to the TPM or the
	 * connection shut down, since the parent still uses both. NULL fine. */
	void (*abandon)(struct tpm_backend *tb);

	CK_RV (*get_info)(struct tpm_backend *tb, struct tpm_info *out);
	const struct tpm_caps *(*get_caps)(struct tpm_backend *tb);
	CK_RV (*get_da_state)(struct tpm_backend *tb, struct tpm_da_state *out);

	CK_RV (*random)(struct tpm_backend *tb, uint8_t *out, size_t len);
	CK_RV (*stir_random)(struct tpm_backend *tb, const uint8_t *in, size_t len);

	/* The name of the unit storage key all our objects are children of (created or
	 * re-derived on demand). Tokens pin it; a change means the TPM was cleared or
	 * replaced. */
	CK_RV (*storage_key_name)(struct tpm_backend *tb, struct tpm_blob *name);

	/* PIN objects: secret sealed in the TPM under an auth value the TPM checks with
	 * dictionary-attack protection. Wrong auth → CKR_PIN_INCORRECT; TPM in lockout →
	 * CKR_PIN_LOCKED. secret at most 64 bytes. */
	CK_RV (*seal_create)(struct tpm_backend *tb, const uint8_t *secret, size_t len,
			     const struct tpm_auth *auth, const struct tpm_domain *domain,
			     struct tpm_blob *sealed);
	CK_RV (*seal_open)(struct tpm_backend *tb, const struct tpm_blob *sealed,
			   const struct tpm_auth *auth, uint8_t *secret, size_t *len);

	/* Keys: generated in the TPM or imported into it; the blob is what the store keeps. */
	CK_RV (*key_generate)(struct tpm_backend *tb, const struct tpm_key_spec *spec,
			      const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub);
	CK_RV (*key_import)(struct tpm_backend *tb, const struct tpm_key_spec *spec, EVP_PKEY *priv,
			    const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub);
	/* The public half written in a blob, without the TPM. CKR_DATA_INVALID if malformed. */
	CK_RV (*key_public)(struct tpm_backend *tb, const struct tpm_blob *blob, struct tpm_public *pub);

	/* A usable key: copies blob and auth. The TPM is touched only when it is used. */
	CK_RV (*key_open)(struct tpm_backend *tb, const struct tpm_blob *blob,
			  const struct tpm_auth *auth, struct tpm_key **out);
	void (*key_close)(struct tpm_backend *tb, struct tpm_key *key); /* NULL fine */
	/* In a fork()ed child: free a key's memory (its auth value wiped) without
	 * touching the TPM or the backend, which abandon() may already have freed.
	 * NULL fine. */
	void (*key_abandon)(struct tpm_key *key);

	/* *sig_len in: buffer size; out: bytes written. Callers size buffers from the
	 * public key, so a short buffer here is CKR_GENERAL_ERROR. */
	CK_RV (*rsa_sign_pkcs1)(struct tpm_backend *tb, struct tpm_key *key,
				const uint8_t *data, size_t len, uint8_t *sig, size_t *sig_len);
	CK_RV (*rsa_sign_pss)(struct tpm_backend *tb, struct tpm_key *key, enum hash_alg hash,
			      enum hash_alg mgf_hash, size_t salt_len, const uint8_t *digest,
			      size_t digest_len, uint8_t *sig, size_t *sig_len);
	CK_RV (*rsa_decrypt)(struct tpm_backend *tb, struct tpm_key *key,
			     const struct tpm_dec_params *params, const uint8_t *in, size_t in_len,
			     uint8_t *out, size_t *out_len);
	/* Raw ECDSA over a digest of any length (truncated/extended as ECDSA defines);
	 * output r || s, each the curve's size. */
	CK_RV (*ecdsa_sign)(struct tpm_backend *tb, struct tpm_key *key,
			    const uint8_t *digest, size_t len, uint8_t *sig, size_t *sig_len);

	/* ---- migration ---- */

	/* This unit's identity (its storage key, created or re-derived). */
	CK_RV (*unit_identity)(struct tpm_backend *tb, struct tpm_unit_identity *out);

	/* Duplicate a key or seal blob of domain d to dest, with the MA's approval
	 * (signature over tpm_approval_message()). The TPM enforces the domain policy:
	 * no valid approval, no duplicate (CKR_KEY_NOT_WRAPPABLE with a log line saying
	 * the TPM refused). A blob made without a domain: CKR_KEY_UNEXTRACTABLE. out is
	 * the backend's duplicate format; only dest's TPM can import it. */
	CK_RV (*key_export)(struct tpm_backend *tb, const struct tpm_blob *blob,
			    const struct tpm_domain *d, const struct tpm_unit_identity *dest,
			    const uint8_t *approval, size_t approval_len, struct tpm_blob *out);

	/* Import a duplicate made by key_export() for this unit: the object's policy and
	 * attributes are checked against domain d before the TPM sees it, then the TPM
	 * imports it under the unit storage key. out: a blob for the store, usable with
	 * key_open/seal_open like any other. Untrusted input: malformed → CKR_WRAPPED_KEY_INVALID;
	 * made for another unit → CKR_WRAPPED_KEY_INVALID with a log line saying so. */
	CK_RV (*key_import_duplicate)(struct tpm_backend *tb, const struct tpm_domain *d,
				      const struct tpm_blob *dup, struct tpm_blob *out);

	/* A short secret (≤ 32 bytes) wrapped in software so that only dest's TPM can
	 * recover it (the key that authenticates a migration bundle). No TPM needed here. */
	CK_RV (*secret_wrap)(struct tpm_backend *tb, const struct tpm_unit_identity *dest,
			     const uint8_t *secret, size_t len, struct tpm_blob *out);
	/* Recover it with this unit's TPM. CKR_WRAPPED_KEY_INVALID if it was not made for us. */
	CK_RV (*secret_unwrap)(struct tpm_backend *tb, const struct tpm_blob *wrapped,
			       uint8_t *secret, size_t *len);
};

struct tpm_backend {
	const struct tpm_backend_ops *ops;
};

/* Choose by cfg->tpm_version and open. */
CK_RV tpm_backend_open(const struct tpmha_config *cfg, struct tpm_backend **out);

extern const struct tpm_backend_ops tpm2_backend_ops;
extern const struct tpm_backend_ops tpm12_backend_ops;

#endif
