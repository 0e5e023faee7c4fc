/* Key attributes ↔ key material: EC curve identifiers, public keys as PKCS#11
 * attributes and as OpenSSL keys (in our private library context). */
#ifndef TPMHA_TOKENS_PUBKEY_H
#define TPMHA_TOKENS_PUBKEY_H

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "tokens/attr.h"
#include "tpm/backend.h"

/* CKA_EC_PARAMS (DER namedCurve OID) → curve; TPM_CURVE_NONE if not one we know. */
enum tpm_curve ec_params_curve(const uint8_t *der, size_t len);
const uint8_t *ec_curve_params(enum tpm_curve curve, size_t *len);
size_t ec_curve_bytes(enum tpm_curve curve); /* 32, 48 */
const char *ec_curve_name(enum tpm_curve curve); /* "P-256" */

/* CKA_EC_POINT as DER OCTET STRING (or, leniently, a bare point) → 04||X||Y. */
CK_RV ec_point_decode(const uint8_t *p, size_t len, enum tpm_curve curve, uint8_t *raw, size_t *raw_len);

/* The public attributes of a TPM key: CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT
 * or CKA_EC_PARAMS, CKA_EC_POINT, and CKA_PUBLIC_KEY_INFO. */
CK_RV pubkey_attrs_from_tpm(const struct tpm_public *pub, struct attrs *a);

/* A software public key from an object's attributes (CKA_KEY_TYPE given). */
CK_RV pubkey_from_attrs(const struct attrs *a, CK_KEY_TYPE key_type, EVP_PKEY **out);
/* DER SubjectPublicKeyInfo. */
CK_RV pubkey_spki(EVP_PKEY *pkey, uint8_t **der, size_t *len);

/* A software private key from an import template (RSA: modulus, exponents and both
 * primes; EC: params and value), for the TPM to import. */
CK_RV privkey_from_attrs(const struct attrs *a, CK_KEY_TYPE key_type, EVP_PKEY **out);

/* RSA modulus bytes / EC order bytes of a key given by its public attributes. */
size_t key_size_bytes(const struct attrs *a, CK_KEY_TYPE key_type);

#endif
