/* What tpm/domain.c needs of the TPM 1.2 backend: its encodings of a migration
 * domain and of approvals, in software (tpm12_format.c; no TPM, no TSPI). */
#ifndef TPMHA_TPM_TPM12_DOMAIN_H
#define TPMHA_TPM_TPM12_DOMAIN_H

#include "tpm/backend.h"

/* d->ma_tpm12: the MA's TPM_PUBKEY (RSA-2048, encScheme NONE, sigScheme
 * RSASSA-PKCS1-v1_5-SHA1). Leaves it empty (and returns CKR_OK) for an MA no TPM 1.2
 * can use (EC, or RSA other than 2048 bits / e 65537). */
CK_RV tpm12_encode_ma(const uint8_t *rsa_n, size_t n_len, uint32_t rsa_e, struct tpm_domain *d);

/* The 60-byte TPM_CMK_AUTH = SHA1(MA pub) || SHA1(dest D pub) || SHA1(key pub),
 * signed with SHA-1 (RSASSA-PKCS1-v1_5). key_public: the key to move, as a tpm12
 * key blob or its TPM_PUBKEY (required: TPM 1.2 approvals are per key). */
CK_RV tpm12_approval_message(const struct tpm_domain *d, const struct tpm_unit_identity *dest,
			     const struct tpm_blob *key_public, uint8_t *msg, size_t *msg_len,
			     enum hash_alg *hash);

/* The key's TPM_PUBKEY out of a tpm12 key blob (a key, or a domain PIN object's bind
 * key): what a TPM 1.2 approval names. CKR_DATA_INVALID for anything else. */
CK_RV tpm12_key_pubkey(const struct tpm_blob *blob, struct tpm_blob *out);

#endif
