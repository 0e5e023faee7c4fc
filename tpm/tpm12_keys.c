/* TPM 1.2 keys: our blob format, the bounded parser of TSS key blobs, keeping keys
 * loaded (LRU), creating keys (non-migratable, or CMKs of a domain) and importing
 * software keys.
 *
 * Blob format, version 1 (big-endian):
 *
 *     0x12 || u8 kind || u8 parent || u32 len || TPM_KEY12 (kinds 1, 3)
 *                                  || u32 len || data      (kinds 2, 3)
 *
 *   kind 1 (key):          a key; no data part
 *   kind 2 (seal):         no key part; data = TPM_STORED_DATA12 sealed under the SRK
 *   kind 3 (domain seal):  key = a CMK bind key of the domain whose usage auth is the
 *                          PIN's; data = the secret bound to it (256 bytes)
 *   parent 0: the SRK; 1: the unit storage key D (what key_import_duplicate makes)
 *
 * Loaded keys stay loaded (as TCS key handles) between uses, so a signature is one
 * TPM_Sign; tcsd itself swaps them in and out of the TPM's few slots. Our LRU bounds
 * how many a process holds (max_loaded_keys, or twice the TPM's slots). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/pk.h"
#include "common/rsa_pad.h"
#include "common/secret.h"
#include "tpm/tpm12_int.h"

/* --- key structs and the LRU --- */

CK_RV tpm12_key_init(struct tpm_key *k, const uint8_t *blob, size_t len, enum tpm12_parent parent,
		     const uint8_t *auth)
{
	CK_RV rv;

	memset(k, 0, sizeof(*k));
	rv = tpm12_key_parse(blob, len, &k->info);
	if (rv != CKR_OK)
		return rv;
	k->blob = malloc(len);
	if (!k->blob)
		return CKR_HOST_MEMORY;
	memcpy(k->blob, blob, len);
	k->blob_len = len;
	k->parent = parent;
	if (auth)
		memcpy(k->auth, auth, TPM12_DIGEST);
	else
		k->no_auth = true;
	return CKR_OK;
}

void tpm12_key_clear(struct tpm_key *k)
{
	free(k->blob);
	secret_wipe(k, sizeof(*k));
}

static void lru_unlink(struct tpm12 *t, struct tpm_key *k)
{
	if (k->newer)
		k->newer->older = k->older;
	else if (t->lru_newest == k)
		t->lru_newest = k->older;
	if (k->older)
		k->older->newer = k->newer;
	else if (t->lru_oldest == k)
		t->lru_oldest = k->newer;
	k->newer = k->older = NULL;
	t->nloaded--;
}

static void lru_push(struct tpm12 *t, struct tpm_key *k)
{
	k->older = t->lru_newest;
	k->newer = NULL;
	if (t->lru_newest)
		t->lru_newest->newer = k;
	t->lru_newest = k;
	if (!t->lru_oldest)
		t->lru_oldest = k;
	t->nloaded++;
}

void tpm12_key_unload(struct tpm12 *t, struct tpm_key *k, bool send)
{
	if (!k->hkey)
		return;
	if (send && t->ctx && !t->broken && k->gen == t->gen) {
		Tspi_Key_UnloadKey(k->hkey); /* tcsd evicts it */
		Tspi_Context_CloseObject(t->ctx, k->hkey);
		if (k->policy)
			Tspi_Context_CloseObject(t->ctx, k->policy);
	}
	if (!k->pinned)
		lru_unlink(t, k);
	k->hkey = 0;
	k->policy = 0;
}

void tpm12_forget_handles(struct tpm12 *t)
{
	while (t->lru_newest)
		tpm12_key_unload(t, t->lru_newest, false);
	tpm12_key_unload(t, &t->unit_d, false);
	tpm12_key_unload(t, &t->unit_u, false);
}

static CK_RV key_load(struct tpm12 *t, struct tpm_key *k)
{
	TSS_HKEY parent, h = 0;
	TSS_HPOLICY pol = 0;
	TSS_RESULT r;
	CK_RV rv;

	if (k->parent == TPM12_PARENT_UNIT) {
		rv = tpm12_unit_ready(t);
		if (rv != CKR_OK)
			return rv;
		parent = t->unit_d.hkey;
	} else {
		parent = t->hsrk;
	}
	r = Tspi_Context_LoadKeyByBlob(t->ctx, parent, (UINT32)k->blob_len, k->blob, &h);
	if (r == TSS_SUCCESS)
		r = tpm12_policy(t, k->no_auth ? NULL : k->auth, &pol);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_AssignToObject(pol, h);
	if (r != TSS_SUCCESS) {
		uint32_t code = tpm12_tpm_code(r);

		if (h)
			Tspi_Context_CloseObject(t->ctx, h);
		if (pol)
			Tspi_Context_CloseObject(t->ctx, pol);
		if (code == TPM_E_DECRYPT_ERROR || code == TPM_E_INVALID_KEYUSAGE ||
		    code == TPM_E_BAD_PARAMETER || code == TPM_E_INVALID_STRUCTURE) {
			LOGE("the TPM refuses to load the key (%s): it was not made for this TPM's %s "
			     "(TPM cleared or replaced, or a blob from another unit)", Trspi_Error_String(r),
			     k->parent == TPM12_PARENT_UNIT ? "unit storage key" : "SRK");
			return CKR_DEVICE_ERROR;
		}
		return tpm12_rv(t, r, "loading a key into the TPM", 0);
	}
	k->hkey = h;
	k->policy = pol;
	k->gen = t->gen;
	return CKR_OK;
}

CK_RV tpm12_key_ready(struct tpm12 *t, struct tpm_key *k)
{
	CK_RV rv = tpm12_ready(t);

	if (rv != CKR_OK)
		return rv;
	if (k->hkey && k->gen == t->gen) {
		if (!k->pinned && t->lru_newest != k) {
			lru_unlink(t, k);
			lru_push(t, k);
		}
		return CKR_OK;
	}
	if (k->hkey) /* a handle of an old connection */
		tpm12_key_unload(t, k, false);
	if (!k->pinned)
		while (t->nloaded >= t->max_loaded && t->lru_oldest)
			tpm12_key_unload(t, t->lru_oldest, true);
	rv = key_load(t, k);
	if (rv == CKR_OK && !k->pinned)
		lru_push(t, k);
	return rv;
}

/* --- creating keys --- */

TSS_RESULT tpm12_pubkey_object(struct tpm12 *t, const uint8_t *pub, size_t len, TSS_HKEY *out)
{
	TSS_RESULT r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_RSAKEY,
						 TSS_KEY_SIZE_2048 | TSS_KEY_TYPE_LEGACY, out);

	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(*out, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_PUBLIC_KEY,
				       (UINT32)len, (BYTE *)pub);
	return r;
}

CK_RV tpm12_create_key(struct tpm12 *t, UINT32 flags, UINT32 sig_scheme, UINT32 enc_scheme,
		       const uint8_t *auth, const uint8_t *msa_digest, const uint8_t *msa_hmac,
		       TSS_HKEY parent, struct tpm_blob *blob_out)
{
	TSS_HKEY hk = 0;
	TSS_HPOLICY up = 0, mp = 0;
	BYTE *p = NULL;
	UINT32 n = 0;
	uint8_t mig[TPM12_DIGEST];
	TSS_RESULT r;
	CK_RV rv;

	r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_RSAKEY, flags, &hk);
	if (r == TSS_SUCCESS && sig_scheme)
		r = Tspi_SetAttribUint32(hk, TSS_TSPATTRIB_KEY_INFO, TSS_TSPATTRIB_KEYINFO_SIGSCHEME,
					 sig_scheme);
	if (r == TSS_SUCCESS && enc_scheme)
		r = Tspi_SetAttribUint32(hk, TSS_TSPATTRIB_KEY_INFO, TSS_TSPATTRIB_KEYINFO_ENCSCHEME,
					 enc_scheme);
	if (r == TSS_SUCCESS)
		r = tpm12_policy(t, auth, &up);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_AssignToObject(up, hk);
	if (r == TSS_SUCCESS && (flags & TSS_KEY_MIGRATABLE)) {
		/* trousers insists on a migration policy; a CMK's migration auth is the
		 * TPM's own (its value is ignored), a plain migratable key's is random and
		 * forgotten at once. */
		if (ossl_random(mig, sizeof(mig)) != CKR_OK) {
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_MIGRATION, &mp);
		if (r == TSS_SUCCESS)
			r = Tspi_Policy_SetSecret(mp, TSS_SECRET_MODE_SHA1, sizeof(mig), mig);
		if (r == TSS_SUCCESS)
			r = Tspi_Policy_AssignToObject(mp, hk);
		secret_wipe(mig, sizeof(mig));
	}
	if (r == TSS_SUCCESS && msa_digest) {
		r = Tspi_SetAttribData(hk, TSS_TSPATTRIB_KEY_CMKINFO, TSS_TSPATTRIB_KEYINFO_CMK_MA_APPROVAL,
				       TPM12_DIGEST, (BYTE *)msa_hmac);
		if (r == TSS_SUCCESS)
			r = Tspi_SetAttribData(hk, TSS_TSPATTRIB_KEY_CMKINFO,
					       TSS_TSPATTRIB_KEYINFO_CMK_MA_DIGEST, TPM12_DIGEST,
					       (BYTE *)msa_digest);
	}
	if (r != TSS_SUCCESS) {
		rv = tpm12_rv(t, r, "preparing a key object", 0);
		goto out;
	}
	r = Tspi_Key_CreateKey(hk, parent, 0);
	if (r != TSS_SUCCESS) {
		rv = tpm12_rv(t, r, msa_digest ? "creating a certifiable migratable key (TPM_CMK_CreateKey)"
					       : "creating a key in the TPM (TPM_CreateWrapKey)", 0);
		goto out;
	}
	r = Tspi_GetAttribData(hk, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_BLOB, &n, &p);
	if (r != TSS_SUCCESS) {
		rv = tpm12_rv(t, r, "reading the new key's blob", 0);
		goto out;
	}
	rv = tpm12_take_blob(t, p, n, blob_out);
out:
	if (hk)
		Tspi_Context_CloseObject(t->ctx, hk);
	if (up)
		Tspi_Context_CloseObject(t->ctx, up);
	if (mp)
		Tspi_Context_CloseObject(t->ctx, mp);
	return rv;
}

static CK_RV take_attrib(struct tpm12 *t, TSS_HOBJECT o, TSS_FLAG flag, TSS_FLAG sub, uint8_t *out,
			 size_t len)
{
	BYTE *p = NULL;
	UINT32 n = 0;
	size_t got = 0;
	TSS_RESULT r = Tspi_GetAttribData(o, flag, sub, &n, &p);

	if (r != TSS_SUCCESS)
		return tpm12_rv(t, r, "reading a TSPI attribute", 0);
	if (tpm12_take(t, p, n, out, len, &got) != CKR_OK || got != len)
		return CKR_DEVICE_ERROR;
	return CKR_OK;
}

CK_RV tpm12_approve_ma(struct tpm12 *t, const struct tpm_domain *d, uint8_t msa_digest[TPM12_DIGEST],
		       uint8_t msa_hmac[TPM12_DIGEST])
{
	uint8_t ma_digest[TPM12_DIGEST], got[TPM12_DIGEST];
	TSS_HMIGDATA m = 0;
	TSS_RESULT r;
	CK_RV rv;

	rv = tpm12_msa_digest(d, msa_digest, ma_digest);
	if (rv != CKR_OK)
		return rv;
	if (t->approval_known && t->approval_gen == t->gen &&
	    memcmp(t->approval_msa, msa_digest, TPM12_DIGEST) == 0) {
		memcpy(msa_hmac, t->approval_hmac, TPM12_DIGEST);
		return CKR_OK;
	}
	r = tpm12_migdata(t, &m);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_AUTHORITY_DATA, TSS_MIGATTRIB_AUTHORITY_MSALIST,
				       TPM12_DIGEST, ma_digest);
	if (r == TSS_SUCCESS)
		r = Tspi_TPM_CMKApproveMA(t->htpm, m);
	if (r != TSS_SUCCESS) {
		rv = tpm12_rv(t, r, "approving the domain's migration authority (TPM_CMK_ApproveMA)", 0);
		goto out;
	}
	rv = take_attrib(t, m, TSS_MIGATTRIB_AUTHORITY_DATA, TSS_MIGATTRIB_AUTHORITY_DIGEST, got,
			 sizeof(got));
	if (rv == CKR_OK && memcmp(got, msa_digest, TPM12_DIGEST) != 0) {
		LOGE("trousers computed another MSA list digest than the domain's");
		rv = CKR_GENERAL_ERROR;
	}
	if (rv == CKR_OK)
		rv = take_attrib(t, m, TSS_MIGATTRIB_AUTHORITY_DATA, TSS_MIGATTRIB_AUTHORITY_APPROVAL_HMAC,
				 msa_hmac, TPM12_DIGEST);
	if (rv == CKR_OK) {
		memcpy(t->approval_msa, msa_digest, TPM12_DIGEST);
		memcpy(t->approval_hmac, msa_hmac, TPM12_DIGEST);
		t->approval_gen = t->gen;
		t->approval_known = true;
	}
out:
	return rv;
}

static CK_RV spec_check(const struct tpm_key_spec *spec)
{
	if (spec->type == TPM_KEY_EC)
		return CKR_CURVE_NOT_SUPPORTED;
	if (spec->type != TPM_KEY_RSA)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (spec->rsa_bits != 2048)
		return CKR_KEY_SIZE_RANGE;
	if (spec->rsa_exponent != 0 && spec->rsa_exponent != 65537)
		return CKR_TEMPLATE_INCONSISTENT;
	return CKR_OK;
}

/* TSS key type and schemes for what the key is for (tpm12_int.h). */
static void spec_usage(const struct tpm_key_spec *spec, UINT32 *type, UINT32 *sig, UINT32 *enc)
{
	if (spec->tcpa_bind) {
		*type = TSS_KEY_TYPE_BIND;
		*sig = 0;
		*enc = TSS_ES_RSAESOAEP_SHA1_MGF1;
	} else if (spec->decrypt) {
		*type = TSS_KEY_TYPE_LEGACY;
		*sig = TSS_SS_RSASSAPKCS1V15_DER;
		*enc = TSS_ES_RSAESPKCSV15;
	} else {
		*type = TSS_KEY_TYPE_SIGNING;
		*sig = TSS_SS_RSASSAPKCS1V15_DER;
		*enc = 0;
	}
}

CK_RV tpm12_key_generate(struct tpm_backend *tb, const struct tpm_key_spec *spec,
			 const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub)
{
	struct tpm12 *t = tpm12_of(tb);
	struct tpm_blob key = { 0 };
	struct tpm12_keyinfo ki;
	uint8_t ad[TPM12_DIGEST], msa[TPM12_DIGEST], hmac[TPM12_DIGEST];
	UINT32 type, sig, enc, flags;
	CK_RV rv;

	if (!spec || !auth || !blob || !pub || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	rv = spec_check(spec);
	if (rv != CKR_OK)
		return rv;
	spec_usage(spec, &type, &sig, &enc);
	flags = type | TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12 | TSS_KEY_AUTHORIZATION;
	flags |= spec->domain ? TSS_KEY_MIGRATABLE | TSS_KEY_CERTIFIED_MIGRATABLE : TSS_KEY_NOT_MIGRATABLE;
	tpm12_auth_digest(auth, ad);

	tpm12_lock(t);
	rv = tpm12_ready(t);
	if (rv == CKR_OK && spec->domain)
		rv = tpm12_approve_ma(t, spec->domain, msa, hmac);
	if (rv == CKR_OK)
		rv = tpm12_create_key(t, flags, sig, enc, ad, spec->domain ? msa : NULL,
				      spec->domain ? hmac : NULL, t->hsrk, &key);
	tpm12_unlock(t);
	secret_wipe(ad, sizeof(ad));
	if (rv != CKR_OK)
		return rv;
	rv = tpm12_key_parse(key.data, key.len, &ki);
	if (rv != CKR_OK || ((ki.flags & TPM_MIGRATEAUTHORITY) != 0) != (spec->domain != NULL)) {
		LOGE("the TPM created a key other than the one asked for");
		rv = CKR_DEVICE_ERROR;
	}
	if (rv == CKR_OK)
		rv = tpm12_blob_encode(TPM12_KIND_KEY, TPM12_PARENT_SRK, key.data, key.len, NULL, 0, blob);
	if (rv == CKR_OK)
		tpm12_public_export(&ki, pub);
	tpm_blob_release(&key);
	return rv;
}

/* --- import --- */

/* SRK's TPM_PUBKEY, once: TPM_GetPubKey (SRK auth) where the TPM's readSRKPub is
 * set, else TPM_OwnerReadInternalPub with the owner's authorization. */
CK_RV tpm12_srk_public(struct tpm12 *t)
{
	BYTE *p = NULL;
	UINT32 n = 0;
	size_t got = 0;
	TSS_RESULT r;

	if (t->srk_known)
		return CKR_OK;
	r = Tspi_Key_GetPubKey(t->hsrk, &n, &p);
	if (r != TSS_SUCCESS && !tpm12_is_comm_error(r)) {
		LOGD("TPM_GetPubKey on the SRK: %s (readSRKPub is clear); asking as the owner",
		     Trspi_Error_String(r));
		r = Tspi_TPM_OwnerGetSRKPubKey(t->htpm, &n, &p);
	}
	if (r != TSS_SUCCESS)
		return tpm12_rv(t, r, "reading the SRK's public key (owner authorized)", 0);
	if (tpm12_take(t, p, n, t->srk_pub, sizeof(t->srk_pub), &got) != CKR_OK ||
	    got != sizeof(t->srk_pub)) {
		LOGE("the SRK is not an RSA-2048 key (%u bytes of public key)", n);
		return CKR_DEVICE_ERROR;
	}
	t->srk_known = true;
	return CKR_OK;
}

/* The private key as TPM_LoadKey2 takes it, made on the host: a TPM_KEY12 whose
 * encData is RSAES-OAEP(SHA-1, label "TCPA") to the SRK of the TPM_STORE_ASYMKEY
 *   payload TPM_PT_ASYM || usageAuth || migrationAuth || pubDataDigest ||
 *   u32 128 || the prime p
 * pubDataDigest = SHA-1 of the TPM_KEY12 without encSize/encData. (What
 * Tspi_Key_WrapKey does, but its RSA runs in OpenSSL's default context, where an
 * application's ENGINE would see the key: here everything runs in ours.) */
static CK_RV wrap_key(struct tpm12 *t, const struct tpm_key_spec *spec, const uint8_t *modulus,
		      const uint8_t *prime, const uint8_t *auth, struct tpm_blob *out)
{
	static const uint8_t e[3] = { 1, 0, 1 };
	static const uint8_t label[4] = { 'T', 'C', 'P', 'A' };
	struct buf pub = BUF_INIT, priv = BUF_INIT;
	uint8_t digest[TPM12_DIGEST], mig[TPM12_DIGEST], em[TPM12_MOD_SIZE], enc_data[TPM12_MOD_SIZE];
	uint8_t srk_mod[TPM12_MOD_SIZE];
	uint16_t usage, enc_s, sig_s, srk_enc, srk_sig;
	UINT32 type, sig, enc;
	CK_RV rv;

	priv.secret = true;
	spec_usage(spec, &type, &sig, &enc);
	usage = type == TSS_KEY_TYPE_BIND ? TPM_KEY_BIND : type == TSS_KEY_TYPE_LEGACY ? TPM_KEY_LEGACY
										 : TPM_KEY_SIGNING;
	enc_s = enc == TSS_ES_RSAESOAEP_SHA1_MGF1 ? TPM_ES_RSAESOAEP_SHA1_MGF1 :
		enc == TSS_ES_RSAESPKCSV15 ? TPM_ES_RSAESPKCSv15 : TPM_ES_NONE;
	sig_s = sig ? TPM_SS_RSASSAPKCS1v15_DER : TPM_SS_NONE;
	rv = tpm12_pubkey_parse(t->srk_pub, sizeof(t->srk_pub), &srk_enc, &srk_sig, srk_mod);
	if (rv != CKR_OK)
		return CKR_DEVICE_ERROR;

	buf_put_u16(&pub, TPM_TAG_KEY12);
	buf_put_u16(&pub, 0);
	buf_put_u16(&pub, usage);
	buf_put_u32(&pub, TPM_MIGRATABLE);
	buf_put_u8(&pub, TPM_AUTH_ALWAYS);
	buf_put_u32(&pub, TPM_ALG_RSA);
	buf_put_u16(&pub, enc_s);
	buf_put_u16(&pub, sig_s);
	buf_put_u32(&pub, 12);
	buf_put_u32(&pub, 2048);
	buf_put_u32(&pub, 2);
	buf_put_u32(&pub, 0);
	buf_put_u32(&pub, 0); /* PCRInfoSize */
	buf_put_u32(&pub, TPM12_MOD_SIZE);
	buf_put(&pub, modulus, TPM12_MOD_SIZE);
	if (pub.failed) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = hash_digest(HASH_SHA1, pub.data, pub.len, digest);
	if (rv == CKR_OK)
		rv = ossl_random(mig, sizeof(mig)); /* never known: the key cannot be migrated */
	if (rv != CKR_OK)
		goto out;
	buf_put_u8(&priv, TPM_PT_ASYM);
	buf_put(&priv, auth, TPM12_DIGEST);
	buf_put(&priv, mig, TPM12_DIGEST);
	buf_put(&priv, digest, TPM12_DIGEST);
	buf_put_u32(&priv, TPM12_MOD_SIZE / 2);
	buf_put(&priv, prime, TPM12_MOD_SIZE / 2);
	if (priv.failed) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = rsa_pad_oaep_encode(HASH_SHA1, HASH_SHA1, label, sizeof(label), priv.data, priv.len, em,
				 sizeof(em));
	if (rv == CKR_OK)
		rv = pk_rsa_public(srk_mod, sizeof(srk_mod), e, sizeof(e), em, sizeof(em), enc_data);
	if (rv != CKR_OK)
		goto out;
	buf_put_u32(&pub, sizeof(enc_data));
	buf_put(&pub, enc_data, sizeof(enc_data));
	out->data = buf_take(&pub, &out->len);
	rv = out->data ? CKR_OK : CKR_HOST_MEMORY;
out:
	buf_release(&pub);
	buf_release(&priv);
	secret_wipe(mig, sizeof(mig));
	secret_wipe(em, sizeof(em));
	return rv;
}

static bool bn_param(EVP_PKEY *pkey, const char *name, BIGNUM **bn)
{
	*bn = NULL;
	return EVP_PKEY_get_bn_param(pkey, name, bn) == 1 && *bn;
}

CK_RV tpm12_key_import(struct tpm_backend *tb, const struct tpm_key_spec *spec, EVP_PKEY *priv,
		       const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub)
{
	struct tpm12 *t = tpm12_of(tb);
	BIGNUM *n = NULL, *e = NULL, *p = NULL;
	uint8_t modulus[TPM12_MOD_SIZE], prime[TPM12_MOD_SIZE / 2], ad[TPM12_DIGEST];
	struct tpm_blob key = { 0 };
	struct tpm_key *k = NULL;
	struct tpm12_keyinfo ki;
	struct tpm_key_spec s;
	CK_RV rv;

	if (!spec || !priv || !auth || !blob || !pub || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	if (spec->type != TPM_KEY_RSA || !EVP_PKEY_is_a(priv, "RSA"))
		return spec->type == TPM_KEY_EC ? CKR_CURVE_NOT_SUPPORTED : CKR_KEY_TYPE_INCONSISTENT;
	if (spec->domain) {
		/* A CMK comes from TPM_CMK_CreateKey, or from TPM_CMK_ConvertMigration
		 * with an MA approval naming this unit and this very key: neither is
		 * possible for a key made outside the TPM without the MA at hand. */
		LOGE("a TPM 1.2 cannot import a software key into a migration domain: domain keys "
		     "must be generated in the TPM (certifiable migratable keys)");
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	if (!bn_param(priv, OSSL_PKEY_PARAM_RSA_N, &n) || !bn_param(priv, OSSL_PKEY_PARAM_RSA_E, &e)) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (!bn_param(priv, OSSL_PKEY_PARAM_RSA_FACTOR1, &p)) {
		LOGE("the RSA key to import has no prime factors");
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	s = *spec;
	s.rsa_bits = (unsigned)BN_num_bits(n);
	s.rsa_exponent = 65537;
	rv = spec_check(&s);
	if (rv == CKR_OK && !BN_is_word(e, 65537)) {
		LOGE("a TPM 1.2 key has the exponent 65537; this key's is another");
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	}
	if (rv != CKR_OK)
		goto out;
	if (BN_num_bits(p) != 1024 || BN_bn2binpad(n, modulus, sizeof(modulus)) < 0 ||
	    BN_bn2binpad(p, prime, sizeof(prime)) < 0) {
		rv = CKR_KEY_SIZE_RANGE;
		goto out;
	}
	tpm12_auth_digest(auth, ad);

	tpm12_lock(t);
	rv = tpm12_ready(t);
	if (rv == CKR_OK)
		rv = tpm12_srk_public(t);
	if (rv == CKR_OK)
		rv = wrap_key(t, &s, modulus, prime, ad, &key);
	tpm12_unlock(t);
	if (rv != CKR_OK)
		goto out;
	rv = tpm12_key_parse(key.data, key.len, &ki);
	if (rv != CKR_OK)
		goto out;
	/* Load it once: the TPM checks the wrapping and the private key now, not at
	 * the first signature. */
	k = calloc(1, sizeof(*k));
	if (!k) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = tpm12_key_init(k, key.data, key.len, TPM12_PARENT_SRK, ad);
	if (rv == CKR_OK) {
		tpm12_lock(t);
		rv = tpm12_key_ready(t, k);
		tpm12_key_unload(t, k, true);
		tpm12_unlock(t);
	}
	if (rv == CKR_OK)
		rv = tpm12_blob_encode(TPM12_KIND_KEY, TPM12_PARENT_SRK, key.data, key.len, NULL, 0, blob);
	if (rv == CKR_OK)
		tpm12_public_export(&ki, pub);
out:
	if (k) {
		tpm12_key_clear(k);
		free(k);
	}
	tpm_blob_release(&key);
	BN_free(n);
	BN_free(e);
	BN_clear_free(p);
	secret_wipe(prime, sizeof(prime));
	secret_wipe(ad, sizeof(ad));
	return rv;
}

/* --- opening keys --- */

CK_RV tpm12_key_public(struct tpm_backend *tb, const struct tpm_blob *blob, struct tpm_public *pub)
{
	struct tpm12_blob b;
	struct tpm12_keyinfo ki;
	CK_RV rv;

	(void)tb;
	if (!blob || !pub)
		return CKR_ARGUMENTS_BAD;
	rv = tpm12_blob_decode(blob->data, blob->len, &b);
	if (rv == CKR_OK && b.kind != TPM12_KIND_KEY)
		rv = CKR_DATA_INVALID;
	if (rv == CKR_OK)
		rv = tpm12_key_parse(b.key, b.key_len, &ki);
	if (rv != CKR_OK)
		return CKR_DATA_INVALID;
	tpm12_public_export(&ki, pub);
	return CKR_OK;
}

CK_RV tpm12_key_open(struct tpm_backend *tb, const struct tpm_blob *blob,
		     const struct tpm_auth *auth, struct tpm_key **out)
{
	struct tpm12_blob b;
	struct tpm_key *k;
	uint8_t ad[TPM12_DIGEST];
	CK_RV rv;

	(void)tb;
	if (!blob || !auth || !out || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	rv = tpm12_blob_decode(blob->data, blob->len, &b);
	if (rv != CKR_OK || b.kind != TPM12_KIND_KEY)
		return CKR_DATA_INVALID;
	k = malloc(sizeof(*k));
	if (!k)
		return CKR_HOST_MEMORY;
	tpm12_auth_digest(auth, ad);
	rv = tpm12_key_init(k, b.key, b.key_len, b.parent, ad);
	secret_wipe(ad, sizeof(ad));
	if (rv != CKR_OK) {
		tpm12_key_clear(k);
		free(k);
		return rv == CKR_HOST_MEMORY ? rv : CKR_DATA_INVALID;
	}
	*out = k;
	return CKR_OK;
}

void tpm12_key_abandon(struct tpm_key *key)
{
	if (!key)
		return;
	tpm12_key_clear(key);
	free(key);
}

void tpm12_key_close(struct tpm_backend *tb, struct tpm_key *key)
{
	struct tpm12 *t = tpm12_of(tb);

	if (!key)
		return;
	tpm12_lock(t);
	tpm12_key_unload(t, key, true);
	tpm12_unlock(t);
	tpm12_key_abandon(key);
}
