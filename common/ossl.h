/* Our own OpenSSL library context. Every software crypto operation of tpmha runs
 * in it, so an ENGINE the application loaded (libp11's pkcs11 engine, say) is never
 * asked to do tpmha's hashing, HMACs or key agreement — which would recurse into a
 * PKCS#11 module, maybe this one. Algorithms are fetched once and reused: OpenSSL 3
 * name lookups are slow enough to show up on every TPM command otherwise. */
#ifndef TPMHA_COMMON_OSSL_H
#define TPMHA_COMMON_OSSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/types.h>
#include <p11-kit/pkcs11.h>

enum hash_alg {
	HASH_NONE = 0,
	HASH_SHA1,
	HASH_SHA256,
	HASH_SHA384,
	HASH_SHA512,
	HASH_COUNT
};

#define HASH_MAX_SIZE 64

/* Set up the context and fetch the algorithms; CKR_OK or CKR_HOST_MEMORY/CKR_GENERAL_ERROR. */
CK_RV ossl_init(void);
OSSL_LIB_CTX *ossl_libctx(void);

size_t hash_size(enum hash_alg h);
const char *hash_name(enum hash_alg h);   /* "SHA256" */
const EVP_MD *hash_md(enum hash_alg h);   /* prefetched in our context */
/* Mechanism ↔ hash: CKM_SHA256 → HASH_SHA256; CKG_MGF1_SHA256 → HASH_SHA256. */
enum hash_alg hash_from_ckm(CK_MECHANISM_TYPE m);
enum hash_alg hash_from_mgf(CK_RSA_PKCS_MGF_TYPE mgf);
CK_MECHANISM_TYPE hash_to_ckm(enum hash_alg h);
/* A digest length names at most one SHA hash; HASH_NONE otherwise. */
enum hash_alg hash_from_size(size_t n);

CK_RV hash_digest(enum hash_alg h, const void *data, size_t len, uint8_t *out);
/* HMAC with the hash; out must hold hash_size(h) bytes. */
CK_RV hash_hmac(enum hash_alg h, const void *key, size_t key_len,
		const void *const *parts, const size_t *part_lens, size_t nparts, uint8_t *out);

/* Bytes from our context's DRBG. */
CK_RV ossl_random(void *out, size_t len);

/* Authenticated encryption of small secrets with a 32-byte key:
 * output = 12-byte nonce || ciphertext || 16-byte tag. */
#define SECRETBOX_OVERHEAD (12 + 16)
CK_RV secretbox_seal(const uint8_t key[32], const void *aad, size_t aad_len,
		     const void *plain, size_t plain_len, uint8_t *out /* plain_len + overhead */);
/* CKR_ENCRYPTED_DATA_INVALID when the tag does not verify. */
CK_RV secretbox_open(const uint8_t key[32], const void *aad, size_t aad_len,
		     const void *boxed, size_t boxed_len, uint8_t *out /* boxed_len - overhead */);

#endif
