/* Mechanisms: which ones this TPM gives (asked from the backend's capabilities, never a
 * fixed list), and the cryptographic operations behind C_Sign/Verify/Encrypt/Decrypt/
 * Digest: private-key work in the TPM, public-key work and hashing in software. */
#ifndef TPMHA_TOKENS_MECH_H
#define TPMHA_TOKENS_MECH_H

#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "tpm/backend.h"

struct token;

/* C_GetMechanismList semantics on the caller's buffer. */
CK_RV mech_list(const struct tpm_caps *caps, CK_MECHANISM_TYPE *list, CK_ULONG *count);
/* CKR_MECHANISM_INVALID for one this TPM does not give. */
CK_RV mech_info(const struct tpm_caps *caps, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info);

enum op_kind {
	OP_SIGN = 0,
	OP_VERIFY,
	OP_ENCRYPT,
	OP_DECRYPT,
	OP_DIGEST,
	OP_KINDS
};

struct crypto_op;

/* Check mechanism, parameters, key and key usage; take references. key_handle is
 * ignored for OP_DIGEST. */
CK_RV op_init(enum op_kind kind, struct token *t, const CK_MECHANISM *mech,
	      CK_OBJECT_HANDLE key_handle, struct crypto_op **out);
void op_free(struct crypto_op *op); /* NULL fine */

/* May C_*Update be used with this mechanism? */
CK_RV op_update(struct crypto_op *op, const uint8_t *data, size_t len);
/* Bytes the output can take (exact for signatures and digests, an upper bound for
 * decryption). */
size_t op_output_len(const struct crypto_op *op);
/* Do the work. *out_len in: buffer size (≥ op_output_len() or the exact length of a
 * result computed earlier); out: bytes written. CKR_BUFFER_TOO_SMALL leaves the
 * operation usable (a decrypted result is kept, wiped at op_free). */
CK_RV op_final(struct crypto_op *op, uint8_t *out, size_t *out_len);
/* A decryption result computed earlier is waiting (after CKR_BUFFER_TOO_SMALL). */
bool op_has_result(const struct crypto_op *op);
/* Verify: CKR_OK or CKR_SIGNATURE_INVALID / CKR_SIGNATURE_LEN_RANGE. */
CK_RV op_verify_final(struct crypto_op *op, const uint8_t *sig, size_t sig_len);

#endif
