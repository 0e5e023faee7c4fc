/* The version-blind parts of migration: what needs no TPM and no open backend (a
 * domain is created and destinations approved away from the units), dispatched to
 * each TPM version's encoding. Kept apart from backend.c so that tests can replace
 * the backend without losing these. */
#include "config.h"

#include <string.h>

#include "common/log.h"
#include "tpm/backend.h"
#include "tpm/tpm12_domain.h"
#include "tpm/tpm2_int.h"

void tpm_unit_identity_release(struct tpm_unit_identity *u)
{
	if (!u)
		return;
	tpm_blob_release(&u->storage_public);
	tpm_blob_release(&u->name);
}

/* Both encodings are written over whatever d held (not released): callers pass a
 * zeroed struct. id and policy_ref are the caller's and left alone. */
CK_RV tpm_domain_encode_ma(const uint8_t *rsa_n, size_t n_len, uint32_t rsa_e,
			   enum tpm_curve curve, const uint8_t *ec_x, const uint8_t *ec_y,
			   struct tpm_domain *d)
{
	CK_RV rv;

	if (!d || (!rsa_n && (!ec_x || !ec_y)))
		return CKR_ARGUMENTS_BAD;
	d->ma_tpm2.data = NULL;
	d->ma_tpm2.len = 0;
	d->ma_tpm12.data = NULL;
	d->ma_tpm12.len = 0;
	rv = tpm2_domain_encode_ma(rsa_n, n_len, rsa_e, curve, ec_x, ec_y, d);
	/* TPM 1.2 (RSA-2048 MA keys only): d->ma_tpm12 = the MA's TPM_PUBKEY; left
	 * empty for other MA keys, and a domain without it has no TPM 1.2 units. */
	if (rv == CKR_OK)
		rv = tpm12_encode_ma(rsa_n, n_len, rsa_e, d);
	if (rv != CKR_OK)
		tpm_blob_release(&d->ma_tpm2);
	return rv;
}

CK_RV tpm_approval_message(const struct tpm_domain *d, const struct tpm_unit_identity *dest,
			   const struct tpm_blob *key_public, uint8_t *msg, size_t *msg_len,
			   enum hash_alg *hash)
{
	if (!d || !dest || !msg_len)
		return CKR_ARGUMENTS_BAD;
	switch (dest->tpm_version) {
	case 20:
		(void)key_public; /* TPM 2.0 approvals name the destination only */
		return tpm2_approval_message(d, dest, msg, msg_len, hash);
	case 12:
		/* the 60-byte TPM_CMK_AUTH over the MA, destination and key (DESIGN.md),
		 * signed with SHA-1: one approval per key */
		return tpm12_approval_message(d, dest, key_public, msg, msg_len, hash);
	default:
		LOGE("approvals for TPM %d.%d units are not supported by this build",
		     dest->tpm_version / 10, dest->tpm_version % 10);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
}

CK_RV tpm_key_approval_public(const struct tpm_blob *blob, struct tpm_blob *out)
{
	memset(out, 0, sizeof(*out));
	if (!blob || !blob->data || !blob->len)
		return CKR_ARGUMENTS_BAD;
	/* Our TPM 1.2 blobs begin 0x12; a TPM 2.0 approval names no key. */
	if (blob->data[0] == 0x12)
		return tpm12_key_pubkey(blob, out);
	return CKR_OK;
}
