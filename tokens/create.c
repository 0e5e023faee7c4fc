#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "tokens/create.h"
#include "tokens/migrate.h"
#include "tokens/token_int.h"
#include "tpmha/tpmha.h"
#include "tokens/mech.h"
#include "tokens/pubkey.h"
#include "tokens/token.h"

/* Rules every new object obeys, whatever made it. */
static CK_RV may_create(struct token *t, const struct create_ctx *ctx, const struct attrs *a)
{
	bool on_token = attrs_get_bool(a, CKA_TOKEN, false);
	bool is_private = attrs_get_bool(a, CKA_PRIVATE, false);
	enum login_state login = token_login_state(t);

	/* A key may be extractable only where the TPM can move it under a domain's rules. */
	if (attrs_get_ulong(a, CKA_CLASS, CKO_DATA) == CKO_PRIVATE_KEY &&
	    attrs_get_bool(a, CKA_EXTRACTABLE, false) && !token_in_domain(t)) {
		LOGW("CKA_EXTRACTABLE must be FALSE: keys of a token without a migration domain never "
		     "leave the TPM");
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}

	if (on_token && !ctx->rw) {
		LOGW("a token object needs a read/write session");
		return CKR_SESSION_READ_ONLY;
	}
	if (is_private && login != LOGIN_USER) {
		LOGW("a private object needs the user logged in");
		return CKR_USER_NOT_LOGGED_IN;
	}
	return CKR_OK;
}

static const CK_ATTRIBUTE_TYPE key_material[] = {
	CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1,
	CKA_EXPONENT_2, CKA_COEFFICIENT, CKA_VALUE,
};

static CK_RV tpm_spec_from_pkey(const struct tpm_caps *caps, CK_KEY_TYPE key_type, EVP_PKEY *pkey,
				const struct attrs *a, struct tpm_key_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->sign = attrs_get_bool(a, CKA_SIGN, true);
	spec->decrypt = attrs_get_bool(a, CKA_DECRYPT, false) || attrs_get_bool(a, CKA_UNWRAP, false);
	if (key_type == CKK_RSA) {
		int bits = EVP_PKEY_get_bits(pkey);
		unsigned size_bit = bits == 1024 ? TPM_RSA_1024 : bits == 2048 ? TPM_RSA_2048 :
				    bits == 3072 ? TPM_RSA_3072 : bits == 4096 ? TPM_RSA_4096 : 0;
		if (!caps->import_rsa || !(caps->rsa_sizes & size_bit)) {
			LOGW("this TPM cannot import a %d-bit RSA key", bits);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		if (attrs_get_bool(a, CKA_TPMHA_TCPA_BIND, false)) {
			LOGW("CKA_TPMHA_TCPA_BIND: a TPM makes bound-data keys itself; they are not imported");
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		spec->type = TPM_KEY_RSA;
		spec->rsa_bits = (unsigned)bits;
		return CKR_OK;
	}
	{
		const CK_ATTRIBUTE *params = attrs_find(a, CKA_EC_PARAMS);
		enum tpm_curve curve = ec_params_curve(params->pValue, params->ulValueLen);
		if (!caps->import_ec || !(caps->curves & (1u << curve))) {
			LOGW("this TPM cannot import a key on %s", ec_curve_name(curve));
			return CKR_CURVE_NOT_SUPPORTED;
		}
		spec->type = TPM_KEY_EC;
		spec->curve = curve;
	}
	return CKR_OK;
}

static CK_RV import_private_key(struct token *t, const struct create_ctx *ctx, struct attrs *a,
				CK_OBJECT_HANDLE *handle)
{
	struct tpm_backend *tb = token_backend(t);
	CK_KEY_TYPE key_type = attrs_get_ulong(a, CKA_KEY_TYPE, CK_UNAVAILABLE_INFORMATION);
	struct tpm_key_spec spec;
	struct tpm_public pub;
	struct tpm_blob blob = { 0 };
	struct tpm_auth auth = { 0 };
	struct domain_file domain = { 0 };
	bool in_domain = false;
	EVP_PKEY *pkey = NULL;
	CK_RV rv;

	rv = privkey_from_attrs(a, key_type, &pkey);
	if (rv != CKR_OK)
		goto out;
	rv = tpm_spec_from_pkey(tb->ops->get_caps(tb), key_type, pkey, a, &spec);
	if (rv == CKR_OK)
		rv = token_domain(t, &domain, &in_domain);
	if (rv != CKR_OK)
		goto out;
	if (in_domain && attrs_get_bool(a, CKA_EXTRACTABLE, false))
		spec.domain = &domain.tpm;
	rv = token_new_key_auth(t, &auth);
	if (rv != CKR_OK)
		goto out;
	rv = tb->ops->key_import(tb, &spec, pkey, &auth, &blob, &pub);
	if (rv != CKR_OK)
		goto out;
	/* From here the key material exists only inside the TPM's blob. */
	for (size_t i = 0; i < sizeof(key_material) / sizeof(key_material[0]); i++)
		attrs_remove(a, key_material[i]);
	rv = pubkey_attrs_from_tpm(&pub, a);
	if (rv == CKR_OK)
		rv = token_object_add(t, ctx->session, a, &blob, &auth, handle);
out:
	EVP_PKEY_free(pkey);
	secret_wipe(&auth, sizeof(auth));
	tpm_blob_release(&blob);
	domain_file_release(&domain);
	return rv;
}

CK_RV object_create(struct token *t, const struct create_ctx *ctx, const CK_ATTRIBUTE *tmpl,
		    CK_ULONG count, CK_OBJECT_HANDLE *handle)
{
	struct attrs a = ATTRS_INIT;
	CK_RV rv;

	rv = attrs_from_template(&a, tmpl, count);
	if (rv == CKR_OK && token_in_domain(t) &&
	    attrs_get_ulong(&a, CKA_CLASS, CKO_DATA) == CKO_PRIVATE_KEY)
		rv = attrs_default_bool(&a, CKA_EXTRACTABLE, true);
	if (rv == CKR_OK)
		rv = object_template_complete(&a, ORIGIN_CREATE, CK_UNAVAILABLE_INFORMATION,
					      CK_UNAVAILABLE_INFORMATION, token_login_state(t) == LOGIN_SO);
	if (rv == CKR_OK)
		rv = may_create(t, ctx, &a);
	if (rv != CKR_OK)
		goto out;
	if (attrs_get_ulong(&a, CKA_CLASS, CKO_DATA) == CKO_PRIVATE_KEY)
		rv = import_private_key(t, ctx, &a, handle);
	else
		rv = token_object_add(t, ctx->session, &a, NULL, NULL, handle);
out:
	attrs_clear(&a);
	return rv;
}

/* The key to make, from the two templates. */
static CK_RV keygen_spec(const struct tpm_caps *caps, CK_MECHANISM_TYPE mech, const struct attrs *pub,
			 const struct attrs *priv, struct tpm_key_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->sign = attrs_get_bool(priv, CKA_SIGN, true);
	spec->decrypt = attrs_get_bool(priv, CKA_DECRYPT, false) || attrs_get_bool(priv, CKA_UNWRAP, false);
	if (mech == CKM_RSA_PKCS_KEY_PAIR_GEN) {
		const CK_ATTRIBUTE *e = attrs_find(pub, CKA_PUBLIC_EXPONENT);
		CK_ULONG bits;
		unsigned size_bit;
		if (!attrs_ulong(pub, CKA_MODULUS_BITS, &bits) && !attrs_ulong(priv, CKA_MODULUS_BITS, &bits)) {
			LOGW("RSA key generation needs CKA_MODULUS_BITS");
			return CKR_TEMPLATE_INCOMPLETE;
		}
		size_bit = bits == 1024 ? TPM_RSA_1024 : bits == 2048 ? TPM_RSA_2048 :
			   bits == 3072 ? TPM_RSA_3072 : bits == 4096 ? TPM_RSA_4096 : 0;
		if (!(caps->rsa_sizes & size_bit)) {
			LOGW("this TPM does not make %lu-bit RSA keys", (unsigned long)bits);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		if (e) {
			const uint8_t *p = e->pValue;
			size_t n = e->ulValueLen;
			while (n && *p == 0) {
				p++;
				n--;
			}
			if (n != 3 || p[0] != 0x01 || p[1] != 0x00 || p[2] != 0x01) {
				LOGW("TPMs make RSA keys with public exponent 65537 only");
				return CKR_ATTRIBUTE_VALUE_INVALID;
			}
		}
		spec->type = TPM_KEY_RSA;
		spec->rsa_bits = (unsigned)bits;
		spec->rsa_exponent = 65537;
		spec->tcpa_bind = attrs_get_bool(priv, CKA_TPMHA_TCPA_BIND, false);
		if (spec->tcpa_bind && !caps->rsa_tcpa_oaep) {
			LOGW("CKA_TPMHA_TCPA_BIND: only a TPM 1.2 makes keys for TPM 1.2 bound data");
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		return CKR_OK;
	}
	{
		const CK_ATTRIBUTE *params = attrs_find(pub, CKA_EC_PARAMS);
		enum tpm_curve curve;
		if (!params)
			params = attrs_find(priv, CKA_EC_PARAMS);
		if (!params) {
			LOGW("EC key generation needs CKA_EC_PARAMS");
			return CKR_TEMPLATE_INCOMPLETE;
		}
		curve = ec_params_curve(params->pValue, params->ulValueLen);
		if (curve == TPM_CURVE_NONE || !(caps->curves & (1u << curve))) {
			LOGW("this TPM does not make keys on the curve CKA_EC_PARAMS names");
			return CKR_CURVE_NOT_SUPPORTED;
		}
		spec->type = TPM_KEY_EC;
		spec->curve = curve;
	}
	return CKR_OK;
}

/* What one half of the pair says and the other does not, both get: people set the
 * ID or label on one template and look keys up by it on the other. */
static CK_RV share_between(struct attrs *a, struct attrs *b, CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *in_a = attrs_find(a, type), *in_b = attrs_find(b, type);

	if (in_a && !in_b)
		return attrs_set(b, type, in_a->pValue, in_a->ulValueLen);
	if (in_b && !in_a)
		return attrs_set(a, type, in_b->pValue, in_b->ulValueLen);
	return CKR_OK;
}

CK_RV keypair_generate(struct token *t, const struct create_ctx *ctx, const CK_MECHANISM *mech,
		       const CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_count,
		       const CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count,
		       CK_OBJECT_HANDLE *pub_handle, CK_OBJECT_HANDLE *priv_handle)
{
	struct tpm_backend *tb = token_backend(t);
	const struct tpm_caps *caps = tb->ops->get_caps(tb);
	struct attrs pub = ATTRS_INIT, priv = ATTRS_INIT;
	CK_KEY_TYPE key_type;
	struct tpm_key_spec spec;
	struct tpm_public tpub;
	struct tpm_blob blob = { 0 };
	struct tpm_auth auth = { 0 };
	CK_MECHANISM_INFO info;
	struct domain_file domain = { 0 };
	bool in_domain = false;
	bool so = token_login_state(t) == LOGIN_SO;
	CK_RV rv;

	if (mech->mechanism != CKM_RSA_PKCS_KEY_PAIR_GEN && mech->mechanism != CKM_EC_KEY_PAIR_GEN) {
		LOGW("mechanism 0x%lx does not generate key pairs", (unsigned long)mech->mechanism);
		return CKR_MECHANISM_INVALID;
	}
	if (mech_info(caps, mech->mechanism, &info) != CKR_OK || !(info.flags & CKF_GENERATE_KEY_PAIR)) {
		LOGW("this TPM does not generate keys with mechanism 0x%lx", (unsigned long)mech->mechanism);
		return CKR_MECHANISM_INVALID;
	}
	if (mech->ulParameterLen) {
		LOGW("key pair generation takes no mechanism parameter");
		return CKR_MECHANISM_PARAM_INVALID;
	}
	key_type = mech->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN ? CKK_RSA : CKK_EC;
	if ((rv = attrs_from_template(&pub, pub_tmpl, pub_count)) != CKR_OK ||
	    (rv = attrs_from_template(&priv, priv_tmpl, priv_count)) != CKR_OK)
		goto out;
	if ((rv = share_between(&pub, &priv, CKA_ID)) != CKR_OK ||
	    (rv = share_between(&pub, &priv, CKA_LABEL)) != CKR_OK ||
	    (rv = share_between(&pub, &priv, CKA_SUBJECT)) != CKR_OK)
		goto out;
	/* The EC curve belongs to both halves; a private template may not restate RSA sizes. */
	if ((rv = share_between(&pub, &priv, CKA_EC_PARAMS)) != CKR_OK)
		goto out;
	rv = keygen_spec(caps, mech->mechanism, &pub, &priv, &spec);
	if (rv != CKR_OK)
		goto out;
	/* A TPM 1.2 bind key decrypts bound data and nothing else: it cannot sign. */
	if (spec.tcpa_bind) {
		if (attrs_get_bool(&priv, CKA_SIGN, false)) {
			LOGW("a CKA_TPMHA_TCPA_BIND key cannot sign");
			rv = CKR_TEMPLATE_INCONSISTENT;
			goto out;
		}
		if ((rv = attrs_default_bool(&priv, CKA_SIGN, false)) != CKR_OK ||
		    (rv = attrs_default_bool(&pub, CKA_VERIFY, false)) != CKR_OK)
			goto out;
	}
	/* In a migration domain keys are made to travel, unless the template says not. */
	if ((rv = token_domain(t, &domain, &in_domain)) != CKR_OK ||
	    (in_domain && (rv = attrs_default_bool(&priv, CKA_EXTRACTABLE, true)) != CKR_OK))
		goto out;
	if (in_domain && attrs_get_bool(&priv, CKA_EXTRACTABLE, false))
		spec.domain = &domain.tpm;
	attrs_remove(&priv, CKA_MODULUS_BITS);
	attrs_remove(&priv, CKA_PUBLIC_EXPONENT);
	attrs_remove(&pub, CKA_PUBLIC_EXPONENT);
	if ((rv = object_template_complete(&pub, ORIGIN_GENERATE, CKO_PUBLIC_KEY, key_type, so)) != CKR_OK ||
	    (rv = object_template_complete(&priv, ORIGIN_GENERATE, CKO_PRIVATE_KEY, key_type, so)) != CKR_OK ||
	    (rv = may_create(t, ctx, &pub)) != CKR_OK || (rv = may_create(t, ctx, &priv)) != CKR_OK)
		goto out;

	rv = token_new_key_auth(t, &auth);
	if (rv != CKR_OK)
		goto out;
	rv = tb->ops->key_generate(tb, &spec, &auth, &blob, &tpub);
	if (rv != CKR_OK)
		goto out;

	for (int half = 0; half < 2 && rv == CKR_OK; half++) {
		struct attrs *a = half ? &priv : &pub;
		rv = pubkey_attrs_from_tpm(&tpub, a);
		if (rv == CKR_OK)
			rv = attrs_set_bool(a, CKA_LOCAL, true);
		if (rv == CKR_OK)
			rv = attrs_set_ulong(a, CKA_KEY_GEN_MECHANISM, mech->mechanism);
	}
	if (rv != CKR_OK)
		goto out;
	if (!attrs_find(&pub, CKA_ID)->ulValueLen) {
		/* No ID given: the SHA-1 of the public key, as other tokens do, so that
		 * clients pairing keys and certificates by ID find them. */
		const CK_ATTRIBUTE *key = attrs_find(&pub, key_type == CKK_RSA ? CKA_MODULUS : CKA_EC_POINT);
		uint8_t id[20];
		rv = hash_digest(HASH_SHA1, key->pValue, key->ulValueLen, id);
		if (rv == CKR_OK)
			rv = attrs_set(&pub, CKA_ID, id, sizeof(id));
		if (rv == CKR_OK)
			rv = attrs_set(&priv, CKA_ID, id, sizeof(id));
		if (rv != CKR_OK)
			goto out;
	}
	rv = token_object_add(t, ctx->session, &pub, NULL, NULL, pub_handle);
	if (rv != CKR_OK)
		goto out;
	rv = token_object_add(t, ctx->session, &priv, &blob, &auth, priv_handle);
	if (rv != CKR_OK) {
		struct object *o = NULL;
		if (token_object(t, *pub_handle, &o) == CKR_OK)
			token_object_destroy(t, o, true);
		object_put(o);
	}
out:
	attrs_clear(&pub);
	attrs_clear(&priv);
	secret_wipe(&auth, sizeof(auth));
	tpm_blob_release(&blob);
	domain_file_release(&domain);
	return rv;
}
