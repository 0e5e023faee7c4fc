/* The migration commands through ESYS (see tpm2_migrate_esys.h). */
#include "config.h"

#include <string.h>

#include <tss2/tss2_tctildr.h>

#include "tests/tpm/tpm2_migrate_esys.h"

bool esys_open(const char *tcti, struct esys_unit *u)
{
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC in = { .size = 0 };
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcr = { .count = 0 };
	TPM2B_NAME *name = NULL;

	memset(u, 0, sizeof(*u));
	u->sk = ESYS_TR_NONE;
	tpm2_template_storage(&in.publicArea);
	if (Tss2_TctiLdr_Initialize(tcti, &u->tcti) != TSS2_RC_SUCCESS)
		return false;
	if (Esys_Initialize(&u->ctx, u->tcti, NULL) != TSS2_RC_SUCCESS ||
	    Esys_CreatePrimary(u->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       &sens, &in, &outside, &pcr, &u->sk, NULL, NULL, NULL, NULL) !=
		    TSS2_RC_SUCCESS ||
	    Esys_TR_GetName(u->ctx, u->sk, &name) != TSS2_RC_SUCCESS) {
		esys_close(u);
		return false;
	}
	u->sk_name = *name;
	Esys_Free(name);
	return true;
}

void esys_close(struct esys_unit *u)
{
	if (u->ctx) {
		if (u->sk != ESYS_TR_NONE)
			Esys_FlushContext(u->ctx, u->sk);
		Esys_Finalize(&u->ctx);
	}
	if (u->tcti)
		Tss2_TctiLdr_Finalize(&u->tcti);
	memset(u, 0, sizeof(*u));
}

static void flush(struct esys_unit *u, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE)
		Esys_FlushContext(u->ctx, *h);
	*h = ESYS_TR_NONE;
}

#define STEP(name, call) \
	do { \
		*failed = (name); \
		rc = (call); \
		if (rc != TSS2_RC_SUCCESS) \
			goto out; \
	} while (0)

/* PolicyAuthorize of approved (signed by the MA as sig) in the session */
static TSS2_RC authorize(struct esys_unit *u, ESYS_TR session, const TPM2B_PUBLIC *ma,
			 const TPMT_SIGNATURE *sig, const TPM2B_DIGEST *approved,
			 const TPM2B_NONCE *ref, const char **failed)
{
	ESYS_TR h = ESYS_TR_NONE;
	TPM2B_NAME *ma_name = NULL;
	TPMT_TK_VERIFIED *ticket = NULL;
	TPM2B_DIGEST ahash = { .size = 32 };
	uint8_t msg[64 + 64];
	TSS2_RC rc;

	memcpy(msg, approved->buffer, approved->size);
	memcpy(msg + approved->size, ref->buffer, ref->size);
	hash_digest(HASH_SHA256, msg, approved->size + ref->size, ahash.buffer);
	STEP("TPM2_LoadExternal(MA)", Esys_LoadExternal(u->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
							 NULL, ma, ESYS_TR_RH_OWNER, &h));
	STEP("Esys_TR_GetName", Esys_TR_GetName(u->ctx, h, &ma_name));
	STEP("TPM2_VerifySignature", Esys_VerifySignature(u->ctx, h, ESYS_TR_NONE, ESYS_TR_NONE,
							  ESYS_TR_NONE, &ahash, sig, &ticket));
	STEP("TPM2_PolicyAuthorize", Esys_PolicyAuthorize(u->ctx, session, ESYS_TR_NONE, ESYS_TR_NONE,
							  ESYS_TR_NONE, approved, ref, ma_name, ticket));
out:
	flush(u, &h);
	Esys_Free(ma_name);
	Esys_Free(ticket);
	return rc;
}

static TSS2_RC load_blob(struct esys_unit *u, const struct tpm_blob *blob, ESYS_TR *h,
			 TPM2B_NAME **name)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	TSS2_RC rc;

	if (tpm2_blob_decode(blob->data, blob->len, &pub, &priv) != CKR_OK)
		return TSS2_ESYS_RC_BAD_VALUE;
	rc = Esys_Load(u->ctx, u->sk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, h);
	if (rc == TSS2_RC_SUCCESS && name)
		rc = Esys_TR_GetName(u->ctx, *h, name);
	return rc;
}

TSS2_RC esys_duplicate(struct esys_unit *u, const struct esys_dup *d, struct tpm_blob *out,
		       const char **failed)
{
	TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	TPMT_SYM_DEF_OBJECT aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				    .mode.aes = TPM2_ALG_CFB };
	ESYS_TR session = ESYS_TR_NONE, key = ESYS_TR_NONE, dest = ESYS_TR_NONE;
	TPM2B_NAME *key_name = NULL;
	TPM2B_DATA no_key = { .size = 0 }, *inner = NULL;
	TPM2B_PRIVATE *dup = NULL;
	TPM2B_ENCRYPTED_SECRET *seed = NULL;
	TPM2B_DIGEST approved = { .size = 32 };
	TSS2_RC rc;

	STEP("TPM2_Load(key)", load_blob(u, d->key, &key, &key_name));
	STEP("TPM2_StartAuthSession", Esys_StartAuthSession(u->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
							    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
							    NULL, TPM2_SE_POLICY, &none,
							    TPM2_ALG_SHA256, &session));
	STEP("TPM2_PolicyDuplicationSelect",
	     Esys_PolicyDuplicationSelect(u->ctx, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					  key_name, d->select, TPM2_NO));
	if (d->approval) {
		tpm2_approved_policy(d->select, approved.buffer);
		rc = authorize(u, session, d->ma, d->approval, &approved, d->policy_ref, failed);
		if (rc != TSS2_RC_SUCCESS)
			goto out;
	}
	STEP("TPM2_PolicyCommandCode", Esys_PolicyCommandCode(u->ctx, session, ESYS_TR_NONE, ESYS_TR_NONE,
							      ESYS_TR_NONE, TPM2_CC_Duplicate));
	STEP("TPM2_LoadExternal(dest)", Esys_LoadExternal(u->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
							   ESYS_TR_NONE, NULL, d->dest, ESYS_TR_RH_NULL,
							   &dest));
	STEP("TPM2_Duplicate", Esys_Duplicate(u->ctx, key, dest, session, ESYS_TR_NONE, ESYS_TR_NONE,
					      &no_key, &aes, &inner, &dup, &seed));
	*failed = NULL;
	if (out) {
		TPM2B_PUBLIC pub;
		TPM2B_PRIVATE priv;
		uint8_t buf[1 + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE) +
			    sizeof(TPM2B_ENCRYPTED_SECRET) + sizeof(TPM2B_DATA)];
		size_t off = 0;

		tpm2_blob_decode(d->key->data, d->key->len, &pub, &priv);
		buf[off++] = TPM2_DUP_VERSION;
		Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off);
		Tss2_MU_TPM2B_PRIVATE_Marshal(dup, buf, sizeof(buf), &off);
		Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(seed, buf, sizeof(buf), &off);
		Tss2_MU_TPM2B_DATA_Marshal(inner, buf, sizeof(buf), &off);
		tpm_blob_copy(out, buf, off);
	}
out:
	flush(u, &session);
	flush(u, &key);
	flush(u, &dest);
	Esys_Free(key_name);
	Esys_Free(inner);
	Esys_Free(dup);
	Esys_Free(seed);
	return rc;
}

TSS2_RC esys_import(struct esys_unit *u, const struct tpm_blob *dup)
{
	TPMT_SYM_DEF_OBJECT aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				    .mode.aes = TPM2_ALG_CFB };
	TPM2B_PUBLIC pub = { .size = 0 }; /* the unmarshalers want empty targets */
	TPM2B_PRIVATE d = { .size = 0 }, *priv = NULL;
	TPM2B_ENCRYPTED_SECRET seed = { .size = 0 };
	TPM2B_DATA inner = { .size = 0 };
	ESYS_TR h = ESYS_TR_NONE;
	size_t off = 1;
	TSS2_RC rc;

	if (dup->len < 1 || dup->data[0] != TPM2_DUP_VERSION ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(dup->data, dup->len, &off, &pub) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(dup->data, dup->len, &off, &d) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(dup->data, dup->len, &off, &seed) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_DATA_Unmarshal(dup->data, dup->len, &off, &inner) != TSS2_RC_SUCCESS)
		return TSS2_ESYS_RC_BAD_VALUE;
	rc = Esys_Import(u->ctx, u->sk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &inner, &pub, &d,
			 &seed, &aes, &priv);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Load(u->ctx, u->sk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, &pub, &h);
	flush(u, &h);
	Esys_Free(priv);
	return rc;
}

TSS2_RC esys_sign_by_policy(struct esys_unit *u, const struct tpm_blob *key, const TPM2B_PUBLIC *ma,
			    const TPMT_SIGNATURE *sig, const TPM2B_NONCE *policy_ref,
			    const char **failed)
{
	TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	ESYS_TR session = ESYS_TR_NONE, h = ESYS_TR_NONE;
	TPM2B_DIGEST approved = { .size = 32 }, digest = { .size = 32 };
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *out = NULL;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	static const uint8_t cc[8] = { 0, 0, 0x01, 0x6c, 0, 0, 0x01, 0x5d }; /* PolicyCommandCode, Sign */
	uint8_t buf[32 + 8] = { 0 };
	TSS2_RC rc;

	/* approvedPolicy = H(0…0 || TPM_CC_PolicyCommandCode || TPM_CC_Sign) */
	memcpy(buf + 32, cc, sizeof(cc));
	hash_digest(HASH_SHA256, buf, sizeof(buf), approved.buffer);
	memset(digest.buffer, 0x42, digest.size);
	tpm2_blob_decode(key->data, key->len, &pub, &priv);
	if (pub.publicArea.type == TPM2_ALG_RSA) {
		scheme.scheme = TPM2_ALG_RSASSA;
		scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
	} else {
		scheme.scheme = TPM2_ALG_ECDSA;
		scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	}
	STEP("TPM2_Load(key)", load_blob(u, key, &h, NULL));
	STEP("TPM2_StartAuthSession", Esys_StartAuthSession(u->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
							    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
							    NULL, TPM2_SE_POLICY, &none,
							    TPM2_ALG_SHA256, &session));
	STEP("TPM2_PolicyCommandCode(Sign)",
	     Esys_PolicyCommandCode(u->ctx, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				    TPM2_CC_Sign));
	rc = authorize(u, session, ma, sig, &approved, policy_ref, failed);
	if (rc != TSS2_RC_SUCCESS)
		goto out;
	STEP("TPM2_Sign", Esys_Sign(u->ctx, h, session, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &scheme,
				    &check, &out));
	*failed = NULL;
out:
	flush(u, &session);
	flush(u, &h);
	Esys_Free(out);
	return rc;
}

TSS2_RC esys_rsa_storage(struct esys_unit *u, char tag, ESYS_TR *h, struct tpm_unit_identity *id)
{
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC in = { .size = 0 }, *out = NULL;
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcr = { .count = 0 };
	TPM2B_NAME *name = NULL;
	TPMT_PUBLIC *p = &in.publicArea;
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	TSS2_RC rc;

	/* our storage template, RSA-2048; tag in the unique field makes another key */
	tpm2_template_storage(p);
	memset(&p->parameters, 0, sizeof(p->parameters));
	p->type = TPM2_ALG_RSA;
	p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
	p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
	p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.rsaDetail.keyBits = 2048;
	p->unique.rsa.size = 1;
	p->unique.rsa.buffer[0] = (uint8_t)tag;
	rc = Esys_CreatePrimary(u->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				&sens, &in, &outside, &pcr, h, &out, NULL, NULL, NULL);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TR_GetName(u->ctx, *h, &name);
	if (rc == TSS2_RC_SUCCESS &&
	    Tss2_MU_TPM2B_PUBLIC_Marshal(out, buf, sizeof(buf), &off) == TSS2_RC_SUCCESS) {
		id->tpm_version = 20;
		tpm_blob_copy(&id->storage_public, buf, off);
		tpm_blob_copy(&id->name, name->name, name->size);
	}
	Esys_Free(out);
	Esys_Free(name);
	return rc;
}

TSS2_RC esys_unwrap(struct esys_unit *u, ESYS_TR parent, const struct tpm_blob *w, uint8_t *out,
		    size_t *out_len)
{
	TPMT_SYM_DEF_OBJECT none = { .algorithm = TPM2_ALG_NULL };
	TPM2B_PUBLIC pub = { .size = 0 };
	TPM2B_PRIVATE d = { .size = 0 }, *priv = NULL;
	TPM2B_ENCRYPTED_SECRET seed = { .size = 0 };
	TPM2B_DATA no_key = { .size = 0 };
	TPM2B_SENSITIVE_DATA *data = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	size_t off = 1;
	TSS2_RC rc;

	if (w->len < 1 || w->data[0] != TPM2_WRAP_VERSION ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(w->data, w->len, &off, &pub) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(w->data, w->len, &off, &d) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(w->data, w->len, &off, &seed) != TSS2_RC_SUCCESS)
		return TSS2_ESYS_RC_BAD_VALUE;
	rc = Esys_Import(u->ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &no_key, &pub, &d,
			 &seed, &none, &priv);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Load(u->ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, &pub, &h);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Unseal(u->ctx, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data);
	if (rc == TSS2_RC_SUCCESS && data->size <= *out_len) {
		memcpy(out, data->buffer, data->size);
		*out_len = data->size;
	}
	flush(u, &h);
	Esys_Free(priv);
	Esys_Free(data);
	return rc;
}
