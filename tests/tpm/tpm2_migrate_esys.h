/* The migration commands straight through ESYS, bypassing tpmha (tests only):
 * proof that the TPM itself enforces the domain policy, and the floor the backend's
 * export and import are measured against. Plain password sessions, no parameter
 * encryption: the least any client can send. */
#ifndef TPMHA_TESTS_TPM_TPM2_MIGRATE_ESYS_H
#define TPMHA_TESTS_TPM_TPM2_MIGRATE_ESYS_H

#include <stdbool.h>

#include <tss2/tss2_esys.h>

#include "tpm/backend.h"
#include "tpm/tpm2_int.h"

/* One TPM through ESYS. swtpm serves one connection at a time: close the backend
 * on the same TPM first. */
struct esys_unit {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *ctx;
	ESYS_TR sk;              /* the unit storage key, re-derived from our template */
	TPM2B_NAME sk_name;
};

bool esys_open(const char *tcti, struct esys_unit *u);
void esys_close(struct esys_unit *u);

/* What the policy session is given (each may be wrong on purpose). */
struct esys_dup {
	const struct tpm_blob *key;     /* our key blob, loaded under the storage key */
	const TPM2B_PUBLIC *ma;         /* the MA's public area */
	const TPMT_SIGNATURE *approval; /* NULL: no PolicyAuthorize at all */
	const TPM2B_NAME *select;       /* PolicyDuplicationSelect's newParentName */
	const TPM2B_PUBLIC *dest;       /* TPM2_Duplicate's new parent */
	const TPM2B_NONCE *policy_ref;
};

/* LoadExternal(MA) → VerifySignature → PolicyDuplicationSelect → PolicyAuthorize →
 * PolicyCommandCode(Duplicate) → Load(key) → LoadExternal(dest) → Duplicate, every
 * handle flushed. The first failing command's code (and its name in *failed); the
 * duplicate in the backend's format when out is given. */
TSS2_RC esys_duplicate(struct esys_unit *u, const struct esys_dup *d, struct tpm_blob *out,
		       const char **failed);

/* Import + Load + flush of a duplicate in the backend's format. */
TSS2_RC esys_import(struct esys_unit *u, const struct tpm_blob *dup);

/* TPM2_Sign with the key through a policy session that PolicyAuthorize()s an
 * MA-signed policy for TPM2_Sign (sig over approvedPolicy || policyRef, where
 * approvedPolicy = PolicyCommandCode(TPM2_CC_Sign)): what the trailing
 * PolicyCommandCode(Duplicate) in the domain policy exists to refuse. */
TSS2_RC esys_sign_by_policy(struct esys_unit *u, const struct tpm_blob *key, const TPM2B_PUBLIC *ma,
			    const TPMT_SIGNATURE *sig, const TPM2B_NONCE *policy_ref,
			    const char **failed);

/* A storage key like a unit's but RSA-2048 (tag picks one of many), and its
 * identity: the RSA side of the software outer wrapper. */
TSS2_RC esys_rsa_storage(struct esys_unit *u, char tag, ESYS_TR *h, struct tpm_unit_identity *id);
/* Import + Load + Unseal of a wrapped secret (secret_wrap's format) under parent. */
TSS2_RC esys_unwrap(struct esys_unit *u, ESYS_TR parent, const struct tpm_blob *w, uint8_t *out,
		    size_t *out_len);

#endif
