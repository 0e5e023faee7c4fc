/* Making objects under the unit storage key: TPM-generated keys (TPM2_Create),
 * imported keys (TPM2_Import with an inner wrapper, and an outer one for keys of a
 * migration domain) and PIN seals. */
#include "config.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

/* TPM2_Create under the storage key; the sensitive part (auth, sealed data) goes
 * encrypted by the session. */
static CK_RV create(struct tpm2 *t, const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *in,
		    TPM2B_PUBLIC *out_pub, TPM2B_PRIVATE *out_priv, const char *what)
{
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcr = { .count = 0 };
	TPM2B_CREATION_DATA cdata = { .size = 0 };
	TPM2B_DIGEST chash = { .size = 0 };
	TPMT_TK_CREATION ticket = { .tag = 0 };
	struct tpm2_retry r = { 0 };
	TSS2_RC rc;
	CK_RV rv;

	do {
		struct tpm2_cmd cmd = {
			.cc = TPM2_CC_Create, .names = { &t->sk_name }, .nnames = 1,
			.authorize = true, .decrypt = true,
		};

		rv = tpm2_ready(t);
		if (rv == CKR_OK)
			rv = tpm2_storage_ready(t);
		if (rv != CKR_OK)
			return rv;
		rc = Tss2_Sys_Create_Prepare(t->sys, t->sk_handle, sens, in, &outside, &pcr);
		if (rc == TSS2_RC_SUCCESS)
			rc = tpm2_session_exec(t, &t->sess, &cmd);
		if (rc == TSS2_RC_SUCCESS)
			rc = Tss2_Sys_Create_Complete(t->sys, out_priv, out_pub, &cdata, &chash, &ticket);
	} while (tpm2_retry(t, &r, rc, NULL, true));
	return tpm2_rv(t, rc, what);
}

/* The TPM must have made what the template asked for. */
static bool same_shape(const TPMT_PUBLIC *want, const TPMT_PUBLIC *got)
{
	if (want->type != got->type || want->nameAlg != got->nameAlg ||
	    want->objectAttributes != got->objectAttributes ||
	    want->authPolicy.size != got->authPolicy.size)
		return false;
	if (want->type == TPM2_ALG_RSA)
		return want->parameters.rsaDetail.keyBits == got->parameters.rsaDetail.keyBits &&
		       want->parameters.rsaDetail.exponent == got->parameters.rsaDetail.exponent;
	if (want->type == TPM2_ALG_ECC)
		return want->parameters.eccDetail.curveID == got->parameters.eccDetail.curveID;
	return true;
}

static CK_RV spec_supported(struct tpm2 *t, const struct tpm_key_spec *spec, unsigned bits,
			    enum tpm_curve curve)
{
	if (spec->type == TPM_KEY_RSA) {
		unsigned flag = bits == 1024 ? TPM_RSA_1024 : bits == 2048 ? TPM_RSA_2048 :
				bits == 3072 ? TPM_RSA_3072 : bits == 4096 ? TPM_RSA_4096 : 0;

		if (!flag || !(t->caps.rsa_sizes & flag))
			return CKR_KEY_SIZE_RANGE;
	} else if (spec->type == TPM_KEY_EC) {
		if (curve == TPM_CURVE_NONE || !(t->caps.curves & (1u << curve)))
			return CKR_CURVE_NOT_SUPPORTED;
	} else {
		return CKR_KEY_TYPE_INCONSISTENT;
	}
	return CKR_OK;
}

CK_RV tpm2_key_generate(struct tpm_backend *tb, const struct tpm_key_spec *spec,
			const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub)
{
	struct tpm2 *t = tpm2_of(tb);
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC in = { .size = 0 }, out_pub = { .size = 0 };
	TPM2B_PRIVATE out_priv = { .size = 0 };
	CK_RV rv;

	if (!spec || !auth || !blob || !pub || auth->len > sizeof(sens.sensitive.userAuth.buffer))
		return CKR_ARGUMENTS_BAD;
	memset(&sens, 0, sizeof(sens));
	rv = tpm2_template_key(spec, false, &in.publicArea);
	if (rv == CKR_OK)
		rv = spec_supported(t, spec, spec->rsa_bits, spec->curve);
	if (rv != CKR_OK)
		return rv;
	sens.sensitive.userAuth.size = (UINT16)auth->len;
	memcpy(sens.sensitive.userAuth.buffer, auth->value, auth->len);

	lock_acquire(t->lock);
	rv = create(t, &sens, &in, &out_pub, &out_priv, "creating a key in the TPM");
	lock_release(t->lock);
	secret_wipe(&sens, sizeof(sens));
	if (rv != CKR_OK)
		return rv;
	if (!same_shape(&in.publicArea, &out_pub.publicArea) ||
	    tpm2_public_check(&out_pub.publicArea, false) != CKR_OK) {
		LOGE("the TPM created a key other than the template asked for");
		return CKR_DEVICE_ERROR;
	}
	rv = tpm2_blob_encode(&out_pub, &out_priv, blob);
	if (rv == CKR_OK)
		tpm2_public_export(&out_pub.publicArea, pub);
	return rv;
}

CK_RV tpm2_seal_create(struct tpm_backend *tb, const uint8_t *secret, size_t len,
		       const struct tpm_auth *auth, const struct tpm_domain *domain,
		       struct tpm_blob *sealed)
{
	struct tpm2 *t = tpm2_of(tb);
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC in = { .size = 0 }, out_pub = { .size = 0 };
	TPM2B_PRIVATE out_priv = { .size = 0 };
	CK_RV rv;

	if (!secret || !auth || !sealed || len == 0 || len > 64 ||
	    auth->len > sizeof(sens.sensitive.userAuth.buffer))
		return CKR_ARGUMENTS_BAD;
	if (!t->alg_keyedhash)
		return CKR_FUNCTION_NOT_SUPPORTED;
	memset(&sens, 0, sizeof(sens));
	if (domain) {
		/* duplicable to the domain's approved units, with the same auth value */
		rv = tpm2_template_seal_domain(domain, &in.publicArea);
		if (rv != CKR_OK)
			return rv;
	} else {
		tpm2_template_seal(&in.publicArea);
	}
	sens.sensitive.userAuth.size = (UINT16)auth->len;
	memcpy(sens.sensitive.userAuth.buffer, auth->value, auth->len);
	sens.sensitive.data.size = (UINT16)len;
	memcpy(sens.sensitive.data.buffer, secret, len);

	lock_acquire(t->lock);
	rv = create(t, &sens, &in, &out_pub, &out_priv, "sealing a secret in the TPM");
	lock_release(t->lock);
	secret_wipe(&sens, sizeof(sens));
	if (rv != CKR_OK)
		return rv;
	if (!same_shape(&in.publicArea, &out_pub.publicArea)) {
		LOGE("the TPM created a seal other than the template asked for");
		return CKR_DEVICE_ERROR;
	}
	return tpm2_blob_encode(&out_pub, &out_priv, sealed);
}

CK_RV tpm2_seal_open(struct tpm_backend *tb, const struct tpm_blob *sealed,
		     const struct tpm_auth *auth, uint8_t *secret, size_t *len)
{
	struct tpm2 *t = tpm2_of(tb);
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	TPM2B_NAME name;
	TPM2B_SENSITIVE_DATA data = { .size = 0 };
	TPM2_HANDLE h = 0;
	struct tpm2_retry r = { 0 };
	TSS2_RC rc = TSS2_RC_SUCCESS;
	CK_RV rv;

	if (!sealed || !auth || !secret || !len || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	rv = tpm2_blob_decode(sealed->data, sealed->len, &pub, &priv);
	if (rv == CKR_OK)
		rv = tpm2_public_check(&pub.publicArea, true);
	if (rv == CKR_OK)
		rv = tpm2_compute_name(&pub.publicArea, &name);
	if (rv != CKR_OK)
		return CKR_DATA_INVALID;

	lock_acquire(t->lock);
	rv = tpm2_load(t, &pub, &priv, &name, NULL, &h);
	if (rv != CKR_OK)
		goto out;
	do {
		/* Through the session: the auth value only keys the HMAC (the TPM counts
		 * a wrong one against its lockout), and the secret comes back encrypted. */
		struct tpm2_cmd cmd = {
			.cc = TPM2_CC_Unseal, .names = { &name }, .nnames = 1, .authorize = true,
			.auth = auth->value, .auth_len = auth->len, .encrypt = true,
		};

		rv = tpm2_ready(t);
		if (rv != CKR_OK)
			break;
		rc = Tss2_Sys_Unseal_Prepare(t->sys, h);
		if (rc == TSS2_RC_SUCCESS)
			rc = tpm2_session_exec(t, &t->sess, &cmd);
		if (rc == TSS2_RC_SUCCESS)
			rc = Tss2_Sys_Unseal_Complete(t->sys, &data);
		tpm2_wipe_response(t);
		/* Only transient conditions are retried: a wrong PIN is not tried twice. */
	} while (tpm2_rc_base(rc) != TPM2_RC_AUTH_FAIL && tpm2_rc_base(rc) != TPM2_RC_LOCKOUT &&
		 tpm2_rc_base(rc) != TPM2_RC_BAD_AUTH && tpm2_retry(t, &r, rc, NULL, false));
	if (!t->broken)
		tpm2_flush(t, h);
	if (rv == CKR_OK && rc != TSS2_RC_SUCCESS)
		rv = tpm2_rv(t, rc, "unsealing the PIN object");
	if (rv != CKR_OK)
		goto out;
	if (data.size > *len) {
		*len = data.size;
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	memcpy(secret, data.buffer, data.size);
	*len = data.size;
out:
	lock_release(t->lock);
	secret_wipe(&data, sizeof(data));
	return rv;
}

/* --- import --- */

static bool bn_param(EVP_PKEY *pkey, const char *name, BIGNUM **bn)
{
	*bn = NULL;
	return EVP_PKEY_get_bn_param(pkey, name, bn) == 1 && *bn;
}

/* Public area unique field and sensitive part from an OpenSSL RSA key. */
static CK_RV import_rsa(EVP_PKEY *pkey, struct tpm_key_spec *spec, TPMT_PUBLIC *pub,
			TPMT_SENSITIVE *sens)
{
	BIGNUM *n = NULL, *e = NULL, *p = NULL;
	unsigned bits;
	CK_RV rv = CKR_KEY_TYPE_INCONSISTENT;

	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) || !bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (!bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &p)) {
		LOGE("the RSA key to import has no prime factors");
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	bits = (unsigned)BN_num_bits(n);
	spec->rsa_bits = bits;
	spec->rsa_exponent = 0;
	rv = tpm2_template_key(spec, true, pub);
	if (rv != CKR_OK)
		goto out;
	if (!BN_is_word(e, 65537)) {
		/* TPMs take other odd exponents in principle; most refuse them. */
		if (BN_num_bits(e) > 32 || !BN_is_odd(e)) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			goto out;
		}
		pub->parameters.rsaDetail.exponent = (UINT32)BN_get_word(e);
	}
	pub->unique.rsa.size = (UINT16)(bits / 8);
	sens->sensitive.rsa.size = (UINT16)(bits / 16);
	if (BN_bn2binpad(n, pub->unique.rsa.buffer, bits / 8) < 0 ||
	    BN_bn2binpad(p, sens->sensitive.rsa.buffer, (int)(bits / 16)) < 0) {
		rv = CKR_KEY_SIZE_RANGE;
		goto out;
	}
	rv = CKR_OK;
out:
	BN_free(n);
	BN_free(e);
	BN_clear_free(p);
	return rv;
}

static CK_RV import_ec(EVP_PKEY *pkey, struct tpm_key_spec *spec, TPMT_PUBLIC *pub,
		       TPMT_SENSITIVE *sens)
{
	char group[64];
	size_t n;
	BIGNUM *x = NULL, *y = NULL, *d = NULL;
	CK_RV rv;

	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) != 1)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ||
	    strcmp(group, "secp256r1") == 0)
		spec->curve = TPM_CURVE_P256;
	else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		spec->curve = TPM_CURVE_P384;
	else
		return CKR_CURVE_NOT_SUPPORTED;
	rv = tpm2_template_key(spec, true, pub);
	if (rv != CKR_OK)
		return rv;
	n = tpm2_curve_bytes(pub->parameters.eccDetail.curveID);
	rv = CKR_KEY_TYPE_INCONSISTENT;
	if (!bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) || !bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
		goto out;
	if (!bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d)) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	pub->unique.ecc.x.size = pub->unique.ecc.y.size = (UINT16)n;
	sens->sensitive.ecc.size = (UINT16)n;
	if (BN_bn2binpad(x, pub->unique.ecc.x.buffer, (int)n) < 0 ||
	    BN_bn2binpad(y, pub->unique.ecc.y.buffer, (int)n) < 0 ||
	    BN_bn2binpad(d, sens->sensitive.ecc.buffer, (int)n) < 0)
		goto out;
	rv = CKR_OK;
out:
	BN_free(x);
	BN_free(y);
	BN_clear_free(d);
	return rv;
}

CK_RV tpm2_key_import(struct tpm_backend *tb, const struct tpm_key_spec *spec, EVP_PKEY *priv,
		      const struct tpm_auth *auth, struct tpm_blob *blob, struct tpm_public *pub)
{
	struct tpm2 *t = tpm2_of(tb);
	struct tpm_key_spec s;
	TPM2B_PUBLIC in = { .size = 0 };
	TPMT_SENSITIVE sens;
	TPM2B_NAME name;
	TPM2B_PRIVATE dup = { .size = 0 }, out_priv = { .size = 0 };
	TPM2B_DATA enc_key = { .size = 16 };
	TPM2B_ENCRYPTED_SECRET seed = { .size = 0 };
	TPMT_SYM_DEF_OBJECT sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				    .mode.aes = TPM2_ALG_CFB };
	struct tpm2_retry r = { 0 };
	TSS2_RC rc;
	CK_RV rv;

	if (!spec || !priv || !auth || !blob || !pub || auth->len > sizeof(sens.authValue.buffer))
		return CKR_ARGUMENTS_BAD;
	memset(&sens, 0, sizeof(sens));
	s = *spec;
	if (s.type == TPM_KEY_RSA)
		rv = import_rsa(priv, &s, &in.publicArea, &sens);
	else if (s.type == TPM_KEY_EC)
		rv = import_ec(priv, &s, &in.publicArea, &sens);
	else
		rv = CKR_KEY_TYPE_INCONSISTENT;
	if (rv == CKR_OK)
		rv = spec_supported(t, &s, s.rsa_bits, s.curve);
	if (rv != CKR_OK)
		goto out;
	sens.sensitiveType = in.publicArea.type;
	sens.authValue.size = (UINT16)auth->len;
	memcpy(sens.authValue.buffer, auth->value, auth->len);
	/* seedValue stays empty: an unrestricted key has no child protection seed */

	rv = tpm2_compute_name(&in.publicArea, &name);
	if (rv == CKR_OK)
		rv = ossl_random(enc_key.buffer, enc_key.size);
	if (rv != CKR_OK)
		goto out;

	lock_acquire(t->lock);
	if (s.domain) {
		/* encryptedDuplication: TPM2_Import wants an outer wrapper too, made for
		 * our storage key, whose public area we need for it. */
		rv = tpm2_conn_ready(t);
		if (rv == CKR_OK && !t->sk_known)
			rv = tpm2_storage_ready(t);
		if (rv == CKR_OK)
			rv = tpm2_dup_wrap(&t->sk_pub.publicArea, &sens, &name, enc_key.buffer, &dup, &seed);
	} else {
		rv = tpm2_dup_wrap(NULL, &sens, &name, enc_key.buffer, &dup, &seed);
	}
	if (rv != CKR_OK) {
		lock_release(t->lock);
		goto out;
	}
	do {
		/* encryptionKey is the first parameter: the session encrypts it. */
		struct tpm2_cmd cmd = {
			.cc = TPM2_CC_Import, .names = { &t->sk_name }, .nnames = 1,
			.authorize = true, .decrypt = true,
		};

		rv = tpm2_ready(t);
		if (rv == CKR_OK)
			rv = tpm2_storage_ready(t);
		if (rv != CKR_OK)
			break;
		rc = Tss2_Sys_Import_Prepare(t->sys, t->sk_handle, &enc_key, &in, &dup, &seed, &sym);
		if (rc == TSS2_RC_SUCCESS)
			rc = tpm2_session_exec(t, &t->sess, &cmd);
		if (rc == TSS2_RC_SUCCESS)
			rc = Tss2_Sys_Import_Complete(t->sys, &out_priv);
	} while (tpm2_retry(t, &r, rc, NULL, true));
	if (rv == CKR_OK)
		rv = tpm2_rv(t, rc, "importing a key into the TPM");
	lock_release(t->lock);
	if (rv != CKR_OK)
		goto out;
	rv = tpm2_blob_encode(&in, &out_priv, blob);
	if (rv == CKR_OK)
		tpm2_public_export(&in.publicArea, pub);
out:
	secret_wipe(&sens, sizeof(sens));
	secret_wipe(&dup, sizeof(dup));
	secret_wipe(&enc_key, sizeof(enc_key));
	return rv;
}
