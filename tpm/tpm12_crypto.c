/* TPM 1.2: PIN seals, signing, decryption, bound data made in software.
 *
 * What a TPM 1.2 key does (DESIGN.md "Migration on TPM 1.2", checked on swtpm):
 *  - TPM_Sign with sigScheme RSASSA-PKCS1-v1_5-DER pads whatever it is given (a
 *    DigestInfo, or any bytes up to k-11: CKM_RSA_PKCS) as an EMSA-PKCS1-v1_5 block:
 *    standard PKCS#1 v1.5 signatures for every hash.
 *  - TPM_UnBind on a LEGACY key with encScheme RSAES-PKCS1-v1_5 decrypts standard
 *    PKCS#1 v1.5 ciphertexts; on a BIND key with encScheme OAEP it decrypts TPM 1.2
 *    bound data: RSAES-OAEP (SHA-1, label "TCPA") of TPM_BOUND_DATA = 01 01 00 00 02
 *    || data, and returns data. Standard OAEP (empty label) decrypts on neither.
 *  - No PSS, no EC: never emulated on the host with the key outside the TPM.
 *
 * PIN seals: TPM_Seal under the SRK with the PIN's auth as the data's auth: a wrong
 * PIN is TPM_AUTH2FAIL (the SRK authorizes the first session), counted by the TPM's
 * dictionary-attack logic. A PIN object of a domain must be able to migrate, which
 * sealed data cannot on TPM 1.2: it is a CMK bind key of the domain whose usage auth
 * is the PIN's, and the secret bound to it (in software); opening it is TPM_UnBind
 * with the PIN (TPM_AUTHFAIL when wrong, counted the same). */
#include "config.h"

#include <stdlib.h>
#include <string.h>


#include "common/log.h"
#include "common/pk.h"
#include "common/rsa_pad.h"
#include "common/secret.h"
#include "tpm/tpm12_int.h"


/* Copy a big-endian value into out[0..n), left-padded with zeros. */
static bool put_padded(uint8_t *out, size_t n, const uint8_t *v, size_t len)
{
	while (len > n && *v == 0) {
		v++;
		len--;
	}
	if (len > n)
		return false;
	memset(out, 0, n - len);
	memcpy(out + n - len, v, len);
	return true;
}

CK_RV tpm12_unbind(struct tpm12 *t, struct tpm_key *k, const uint8_t *in, size_t in_len,
		   uint8_t *out, size_t *out_len, unsigned pin, const char *what)
{
	BYTE *p = NULL;
	UINT32 n = 0;
	TSS_RESULT r = TSS_SUCCESS;
	CK_RV rv;

	rv = tpm12_key_ready(t, k);
	if (rv != CKR_OK)
		return rv;
	if (!t->hbind)
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_ENCDATA, TSS_ENCDATA_BIND, &t->hbind);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(t->hbind, TSS_TSPATTRIB_ENCDATA_BLOB, TSS_TSPATTRIB_ENCDATABLOB_BLOB,
				       (UINT32)in_len, (BYTE *)in);
	if (r == TSS_SUCCESS)
		r = Tspi_Data_Unbind(t->hbind, k->hkey, &n, &p);
	if (r != TSS_SUCCESS)
		return tpm12_rv(t, r, what, pin);
	tpm12_rv(t, TSS_SUCCESS, what, pin); /* no lockout, then */
	if (n > *out_len) {
		secret_wipe(p, n);
		Tspi_Context_FreeMemory(t->ctx, p);
		*out_len = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	return tpm12_take(t, p, n, out, *out_len, out_len);
}

/* --- PIN seals --- */

static CK_RV seal_plain(struct tpm12 *t, const uint8_t *secret, size_t len, const uint8_t *ad,
			struct tpm_blob *sealed)
{
	TSS_HENCDATA h = 0;
	TSS_HPOLICY pol = 0;
	BYTE *p = NULL;
	UINT32 n = 0;
	struct tpm_blob data = { 0 };
	TSS_RESULT r;
	CK_RV rv;

	rv = tpm12_ready(t);
	if (rv != CKR_OK)
		return rv;
	r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_ENCDATA, TSS_ENCDATA_SEAL, &h);
	if (r == TSS_SUCCESS)
		r = tpm12_policy(t, ad, &pol);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_AssignToObject(pol, h);
	if (r == TSS_SUCCESS)
		r = Tspi_Data_Seal(h, t->hsrk, (UINT32)len, (BYTE *)secret, 0);
	if (r == TSS_SUCCESS)
		r = Tspi_GetAttribData(h, TSS_TSPATTRIB_ENCDATA_BLOB, TSS_TSPATTRIB_ENCDATABLOB_BLOB, &n, &p);
	if (r != TSS_SUCCESS)
		rv = tpm12_rv(t, r, "sealing a secret in the TPM (TPM_Seal)", 0);
	else
		rv = tpm12_take_blob(t, p, n, &data);
	if (h)
		Tspi_Context_CloseObject(t->ctx, h);
	if (pol)
		Tspi_Context_CloseObject(t->ctx, pol);
	if (rv == CKR_OK)
		rv = tpm12_blob_encode(TPM12_KIND_SEAL, TPM12_PARENT_SRK, NULL, 0, data.data, data.len,
				       sealed);
	tpm_blob_release(&data);
	return rv;
}

static CK_RV seal_domain(struct tpm12 *t, const uint8_t *secret, size_t len, const uint8_t *ad,
			 const struct tpm_domain *d, struct tpm_blob *sealed)
{
	uint8_t msa[TPM12_DIGEST], hmac[TPM12_DIGEST], bound[TPM12_BOUND_SIZE];
	struct tpm_blob key = { 0 };
	struct tpm12_keyinfo ki;
	CK_RV rv;

	rv = tpm12_ready(t);
	if (rv == CKR_OK)
		rv = tpm12_approve_ma(t, d, msa, hmac);
	if (rv == CKR_OK)
		rv = tpm12_create_key(t, TSS_KEY_TYPE_BIND | TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12 |
					      TSS_KEY_AUTHORIZATION | TSS_KEY_MIGRATABLE |
					      TSS_KEY_CERTIFIED_MIGRATABLE,
				      0, TSS_ES_RSAESOAEP_SHA1_MGF1, ad, msa, hmac, t->hsrk, &key);
	if (rv != CKR_OK)
		return rv;
	rv = tpm12_key_parse(key.data, key.len, &ki);
	if (rv != CKR_OK || ki.usage != TPM_KEY_BIND || !(ki.flags & TPM_MIGRATEAUTHORITY)) {
		LOGE("the TPM created a key other than the one asked for");
		rv = CKR_DEVICE_ERROR;
	}
	if (rv == CKR_OK)
		rv = tpm12_bind_soft(ki.modulus, secret, len, bound);
	if (rv == CKR_OK)
		rv = tpm12_blob_encode(TPM12_KIND_DOMAIN_SEAL, TPM12_PARENT_SRK, key.data, key.len, bound,
				       sizeof(bound), sealed);
	tpm_blob_release(&key);
	return rv;
}

CK_RV tpm12_seal_create(struct tpm_backend *tb, const uint8_t *secret, size_t len,
			const struct tpm_auth *auth, const struct tpm_domain *domain,
			struct tpm_blob *sealed)
{
	struct tpm12 *t = tpm12_of(tb);
	uint8_t ad[TPM12_DIGEST];
	CK_RV rv;

	if (!secret || !auth || !sealed || len == 0 || len > 64 || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	tpm12_auth_digest(auth, ad);
	tpm12_lock(t);
	if (domain)
		rv = seal_domain(t, secret, len, ad, domain, sealed);
	else
		rv = seal_plain(t, secret, len, ad, sealed);
	tpm12_unlock(t);
	secret_wipe(ad, sizeof(ad));
	return rv;
}

CK_RV tpm12_seal_open(struct tpm_backend *tb, const struct tpm_blob *sealed,
		      const struct tpm_auth *auth, uint8_t *secret, size_t *len)
{
	struct tpm12 *t = tpm12_of(tb);
	struct tpm12_blob b;
	struct tpm_key k;
	uint8_t ad[TPM12_DIGEST], buf[TPM12_MOD_SIZE];
	size_t n = sizeof(buf);
	CK_RV rv;

	if (!sealed || !auth || !secret || !len || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	rv = tpm12_blob_decode(sealed->data, sealed->len, &b);
	if (rv != CKR_OK || b.kind == TPM12_KIND_KEY)
		return CKR_DATA_INVALID;
	tpm12_auth_digest(auth, ad);
	memset(&k, 0, sizeof(k));
	if (b.kind == TPM12_KIND_DOMAIN_SEAL) {
		rv = tpm12_key_init(&k, b.key, b.key_len, b.parent, ad);
		if (rv != CKR_OK) {
			rv = rv == CKR_HOST_MEMORY ? rv : CKR_DATA_INVALID;
			goto out;
		}
		if (k.info.usage != TPM_KEY_BIND || k.info.enc_scheme != TPM_ES_RSAESOAEP_SHA1_MGF1) {
			rv = CKR_DATA_INVALID;
			goto out;
		}
		tpm12_lock(t);
		/* a wrong PIN: TPM_AUTHFAIL on the key's (only) authorization */
		rv = tpm12_unbind(t, &k, b.data, b.data_len, buf, &n, TPM12_PIN_AUTH1,
				  "opening the PIN object (TPM_UnBind)");
		tpm12_key_unload(t, &k, true);
		tpm12_unlock(t);
	} else {
		TSS_HENCDATA h = 0;
		TSS_HPOLICY pol = 0;
		BYTE *p = NULL;
		UINT32 pn = 0;
		TSS_RESULT r;

		tpm12_lock(t);
		rv = tpm12_ready(t);
		if (rv == CKR_OK) {
			r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_ENCDATA, TSS_ENCDATA_SEAL, &h);
			if (r == TSS_SUCCESS)
				r = Tspi_SetAttribData(h, TSS_TSPATTRIB_ENCDATA_BLOB,
						       TSS_TSPATTRIB_ENCDATABLOB_BLOB, (UINT32)b.data_len,
						       (BYTE *)b.data);
			if (r == TSS_SUCCESS)
				r = tpm12_policy(t, ad, &pol);
			if (r == TSS_SUCCESS)
				r = Tspi_Policy_AssignToObject(pol, h);
			if (r == TSS_SUCCESS)
				r = Tspi_Data_Unseal(h, t->hsrk, &pn, &p);
			rv = tpm12_rv(t, r, "unsealing the PIN object (TPM_Unseal)", TPM12_PIN_AUTH2);
			if (rv == CKR_OK)
				rv = tpm12_take(t, p, pn, buf, sizeof(buf), &n);
			if (h)
				Tspi_Context_CloseObject(t->ctx, h);
			if (pol)
				Tspi_Context_CloseObject(t->ctx, pol);
		}
		tpm12_unlock(t);
	}
	if (rv != CKR_OK)
		goto out;
	if (n > *len) {
		*len = n;
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	memcpy(secret, buf, n);
	*len = n;
out:
	tpm12_key_clear(&k);
	secret_wipe(buf, sizeof(buf));
	secret_wipe(ad, sizeof(ad));
	return rv;
}

/* --- signing and decryption --- */

CK_RV tpm12_rsa_sign_pkcs1(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *data,
			   size_t len, uint8_t *sig, size_t *sig_len)
{
	struct tpm12 *t = tpm12_of(tb);
	BYTE *p = NULL;
	UINT32 n = 0;
	TSS_RESULT r = TSS_SUCCESS;
	CK_RV rv;

	if (!key || !sig || !sig_len || (!data && len))
		return CKR_ARGUMENTS_BAD;
	if (*sig_len < TPM12_MOD_SIZE)
		return CKR_GENERAL_ERROR;
	if ((key->info.usage != TPM_KEY_SIGNING && key->info.usage != TPM_KEY_LEGACY) ||
	    key->info.sig_scheme != TPM_SS_RSASSAPKCS1v15_DER)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (len > TPM12_MOD_SIZE - 11)
		return CKR_DATA_LEN_RANGE;
	tpm12_lock(t);
	rv = tpm12_key_ready(t, key);
	if (rv != CKR_OK)
		goto out;
	if (!t->hhash)
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_HASH, TSS_HASH_OTHER, &t->hhash);
	if (r == TSS_SUCCESS)
		r = Tspi_Hash_SetHashValue(t->hhash, (UINT32)len, (BYTE *)data);
	if (r == TSS_SUCCESS)
		r = Tspi_Hash_Sign(t->hhash, key->hkey, &n, &p);
	rv = tpm12_rv(t, r, "signing with a TPM key (TPM_Sign)", TPM12_PIN_AUTH1);
	if (rv != CKR_OK)
		goto out;
	if (!p || !put_padded(sig, TPM12_MOD_SIZE, p, n))
		rv = CKR_DEVICE_ERROR;
	if (p)
		Tspi_Context_FreeMemory(t->ctx, p);
	if (rv == CKR_OK)
		*sig_len = TPM12_MOD_SIZE;
out:
	tpm12_unlock(t);
	return rv;
}

CK_RV tpm12_rsa_sign_pss(struct tpm_backend *tb, struct tpm_key *key, enum hash_alg hash,
			 enum hash_alg mgf_hash, size_t salt_len, const uint8_t *digest,
			 size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	(void)tb, (void)key, (void)hash, (void)mgf_hash, (void)salt_len, (void)digest;
	(void)digest_len, (void)sig, (void)sig_len;
	return CKR_MECHANISM_INVALID; /* no TPM 1.2 signature scheme does PSS */
}

CK_RV tpm12_ecdsa_sign(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *digest,
		       size_t len, uint8_t *sig, size_t *sig_len)
{
	(void)tb, (void)key, (void)digest, (void)len, (void)sig, (void)sig_len;
	return CKR_MECHANISM_INVALID; /* TPM 1.2 has no EC keys */
}

CK_RV tpm12_rsa_decrypt(struct tpm_backend *tb, struct tpm_key *key,
			const struct tpm_dec_params *params, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t *out_len)
{
	struct tpm12 *t = tpm12_of(tb);
	uint8_t buf[TPM12_MOD_SIZE];
	size_t n = sizeof(buf);
	CK_RV rv;

	if (!key || !params || !out_len || (!in && in_len))
		return CKR_ARGUMENTS_BAD;
	switch (params->scheme) {
	case TPM_DEC_PKCS1:
		if (key->info.usage != TPM_KEY_LEGACY || key->info.enc_scheme != TPM_ES_RSAESPKCSv15) {
			LOGD("PKCS#1 v1.5 decryption needs a LEGACY key with that scheme");
			return CKR_MECHANISM_INVALID;
		}
		break;
	case TPM_DEC_TCPA_OAEP:
		if ((key->info.usage != TPM_KEY_BIND && key->info.usage != TPM_KEY_LEGACY) ||
		    key->info.enc_scheme != TPM_ES_RSAESOAEP_SHA1_MGF1) {
			LOGD("TPM 1.2 bound data needs a key with encScheme RSAES-OAEP-SHA1");
			return CKR_MECHANISM_INVALID;
		}
		break;
	default:
		return CKR_MECHANISM_INVALID; /* standard OAEP never decrypts on TPM 1.2 */
	}
	if (in_len != TPM12_MOD_SIZE)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	tpm12_lock(t);
	rv = tpm12_unbind(t, key, in, in_len, buf, &n, TPM12_PIN_AUTH1,
			  "decrypting with a TPM key (TPM_UnBind)");
	tpm12_unlock(t);
	if (rv == CKR_OK) {
		if (n > *out_len) {
			*out_len = n;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (n)
				memcpy(out, buf, n);
			*out_len = n;
		}
	}
	secret_wipe(buf, sizeof(buf));
	return rv;
}
