/* The public-key half of the mechanisms, done in software from an object's
 * attributes: verification and encryption. Built on common/pk.h (no EVP_PKEY_CTX, so
 * no application ENGINE in the way) and the paddings of common/rsa_pad.h. */
#ifndef TPMHA_TOKENS_SOFT_H
#define TPMHA_TOKENS_SOFT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/ossl.h"
#include "tokens/attr.h"
#include "tpm/backend.h"

struct soft_key {
	CK_KEY_TYPE type;
	unsigned bits;            /* RSA modulus bits / EC order bits */
	size_t size;              /* RSA modulus bytes / EC coordinate bytes */
	uint8_t n[512];
	uint8_t e[8];
	size_t e_len;
	enum tpm_curve curve;     /* EC */
	int nid;                  /* EC curve, as OpenSSL names it */
	uint8_t x[66], y[66];
};

/* From CKA_MODULUS/CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS/CKA_EC_POINT, checked:
 * CKR_TEMPLATE_INCOMPLETE if missing, CKR_ATTRIBUTE_VALUE_INVALID if not a key,
 * CKR_CURVE_NOT_SUPPORTED for another curve. */
CK_RV soft_key_from_attrs(const struct attrs *a, CK_KEY_TYPE type, struct soft_key *k);

/* CKR_OK, CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE. */
CK_RV soft_verify_pkcs1(const struct soft_key *k, const uint8_t *data, size_t len,
			const uint8_t *sig, size_t sig_len);
CK_RV soft_verify_pss(const struct soft_key *k, enum hash_alg hash, enum hash_alg mgf_hash,
		      size_t salt_len, const uint8_t *digest, size_t digest_len,
		      const uint8_t *sig, size_t sig_len);
CK_RV soft_verify_ecdsa(const struct soft_key *k, const uint8_t *digest, size_t digest_len,
			const uint8_t *sig, size_t sig_len);

/* out holds k->size bytes. CKR_DATA_LEN_RANGE when the message does not fit. */
CK_RV soft_encrypt_pkcs1(const struct soft_key *k, const uint8_t *in, size_t len, uint8_t *out);
CK_RV soft_encrypt_oaep(const struct soft_key *k, enum hash_alg hash, enum hash_alg mgf_hash,
			const uint8_t *label, size_t label_len, const uint8_t *in, size_t len,
			uint8_t *out);

/* TPM 1.2 bound data: RSAES-OAEP(SHA-1, label "TCPA") of 01 01 00 00 02 || in. */
CK_RV soft_encrypt_tcpa(const struct soft_key *k, const uint8_t *in, size_t len, uint8_t *out);

#endif
