#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/pk.h"
#include "common/secret.h"
#include "tokens/pubkey.h"
#include "tokens/soft.h"

/* Key types named by OID: OpenSSL 3.0 hands an EVP_PKEY_CTX made from the name "RSA"
 * or "EC" to an application's default ENGINE, whatever the library context; names
 * it cannot map to a legacy type go straight to our context's providers (see
 * common/pk.h). These contexts only build keys (fromdata); operations never use one. */
#define KEYMGMT_RSA "1.2.840.113549.1.1.1"
#define KEYMGMT_EC "1.2.840.10045.2.1"

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

static const struct {
	enum tpm_curve curve;
	const uint8_t *oid;
	size_t oid_len;
	size_t bytes;
	const char *ossl_name;
	const char *name;
	int nid;
} curves[] = {
	{ TPM_CURVE_P256, oid_p256, sizeof(oid_p256), 32, "prime256v1", "P-256", NID_X9_62_prime256v1 },
	{ TPM_CURVE_P384, oid_p384, sizeof(oid_p384), 48, "secp384r1", "P-384", NID_secp384r1 },
};

#define FOR_CURVES(i) for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)

enum tpm_curve ec_params_curve(const uint8_t *der, size_t len)
{
	FOR_CURVES(i)
	if (der && len == curves[i].oid_len && memcmp(der, curves[i].oid, len) == 0)
		return curves[i].curve;
	return TPM_CURVE_NONE;
}

const uint8_t *ec_curve_params(enum tpm_curve curve, size_t *len)
{
	FOR_CURVES(i)
	if (curves[i].curve == curve) {
		*len = curves[i].oid_len;
		return curves[i].oid;
	}
	*len = 0;
	return NULL;
}

size_t ec_curve_bytes(enum tpm_curve curve)
{
	FOR_CURVES(i)
	if (curves[i].curve == curve)
		return curves[i].bytes;
	return 0;
}

const char *ec_curve_name(enum tpm_curve curve)
{
	FOR_CURVES(i)
	if (curves[i].curve == curve)
		return curves[i].name;
	return "unknown curve";
}

static const char *curve_ossl_name(enum tpm_curve curve)
{
	FOR_CURVES(i)
	if (curves[i].curve == curve)
		return curves[i].ossl_name;
	return NULL;
}

CK_RV ec_point_decode(const uint8_t *p, size_t len, enum tpm_curve curve, uint8_t *raw, size_t *raw_len)
{
	size_t coord = ec_curve_bytes(curve), want = 1 + 2 * coord;

	if (!coord || !p)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	/* DER OCTET STRING: 04 len 04 X Y (len < 128 for our curves) */
	if (len == want + 2 && p[0] == 0x04 && p[1] == want && p[2] == 0x04) {
		p += 2;
		len -= 2;
	}
	if (len != want || p[0] != 0x04)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(raw, p, len);
	*raw_len = len;
	return CKR_OK;
}

static CK_RV rsa_pkey(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);
	CK_RV rv = CKR_HOST_MEMORY;

	*out = NULL;
	if (!bld || !bn_n || !bn_e)
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(ossl_libctx(), KEYMGMT_RSA, NULL);
	if (!params || !ctx)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	rv = CKR_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return rv;
}

static CK_RV ec_pkey(enum tpm_curve curve, const uint8_t *point, size_t point_len, EVP_PKEY **out)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	const char *name = curve_ossl_name(curve);
	CK_RV rv = CKR_ATTRIBUTE_VALUE_INVALID;

	*out = NULL;
	if (!name)
		return rv;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, point_len);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(ossl_libctx(), KEYMGMT_EC, NULL);
	if (!ctx)
		return CKR_HOST_MEMORY;
	if (EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1)
		rv = CKR_OK;
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

CK_RV pubkey_spki(EVP_PKEY *pkey, uint8_t **der, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(pkey, &p);

	if (n <= 0)
		return CKR_GENERAL_ERROR;
	*der = p;
	*len = (size_t)n;
	return CKR_OK;
}

static CK_RV set_spki(EVP_PKEY *pkey, struct attrs *a)
{
	uint8_t *der = NULL;
	size_t len = 0;
	CK_RV rv = pubkey_spki(pkey, &der, &len);

	if (rv == CKR_OK)
		rv = attrs_set(a, CKA_PUBLIC_KEY_INFO, der, len);
	OPENSSL_free(der);
	return rv;
}

CK_RV pubkey_attrs_from_tpm(const struct tpm_public *pub, struct attrs *a)
{
	EVP_PKEY *pkey = NULL;
	CK_RV rv;

	if (pub->type == TPM_KEY_RSA) {
		uint8_t e[4] = { (uint8_t)(pub->exponent >> 24), (uint8_t)(pub->exponent >> 16),
				 (uint8_t)(pub->exponent >> 8), (uint8_t)pub->exponent };
		size_t skip = 0;
		while (skip < 3 && e[skip] == 0)
			skip++;
		if ((rv = attrs_set(a, CKA_MODULUS, pub->modulus, pub->modulus_len)) != CKR_OK ||
		    (rv = attrs_set(a, CKA_PUBLIC_EXPONENT, e + skip, sizeof(e) - skip)) != CKR_OK ||
		    (rv = attrs_set_ulong(a, CKA_MODULUS_BITS, pub->bits)) != CKR_OK)
			return rv;
		rv = rsa_pkey(pub->modulus, pub->modulus_len, e + skip, sizeof(e) - skip, &pkey);
	} else {
		size_t params_len, coord = pub->coord_len;
		const uint8_t *params = ec_curve_params(pub->curve, &params_len);
		uint8_t point[2 + 1 + 2 * 66];
		if (!params || coord != ec_curve_bytes(pub->curve))
			return CKR_GENERAL_ERROR;
		point[0] = 0x04;
		point[1] = (uint8_t)(1 + 2 * coord);
		point[2] = 0x04;
		memcpy(point + 3, pub->x, coord);
		memcpy(point + 3 + coord, pub->y, coord);
		if ((rv = attrs_set(a, CKA_EC_PARAMS, params, params_len)) != CKR_OK ||
		    (rv = attrs_set(a, CKA_EC_POINT, point, 3 + 2 * coord)) != CKR_OK)
			return rv;
		rv = ec_pkey(pub->curve, point + 2, 1 + 2 * coord, &pkey);
	}
	if (rv == CKR_OK)
		rv = set_spki(pkey, a);
	EVP_PKEY_free(pkey);
	return rv;
}

CK_RV pubkey_from_attrs(const struct attrs *a, CK_KEY_TYPE key_type, EVP_PKEY **out)
{
	struct soft_key k;
	uint8_t point[1 + 2 * 66];
	CK_RV rv = soft_key_from_attrs(a, key_type, &k);

	if (rv != CKR_OK)
		return rv;
	if (key_type == CKK_RSA)
		return rsa_pkey(k.n, k.size, k.e, k.e_len, out);
	point[0] = 0x04;
	memcpy(point + 1, k.x, k.size);
	memcpy(point + 1 + k.size, k.y, k.size);
	return ec_pkey(k.curve, point, 1 + 2 * k.size, out);
}

static int push_bn(OSSL_PARAM_BLD *bld, const char *name, const CK_ATTRIBUTE *at, BIGNUM **keep)
{
	*keep = BN_secure_new();
	if (!*keep || !BN_bin2bn(at->pValue, (int)at->ulValueLen, *keep))
		return 0;
	return OSSL_PARAM_BLD_push_BN(bld, name, *keep);
}

/* n = p·q, and d inverts e modulo p-1 and q-1. */
static CK_RV rsa_components_consistent(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d,
				       const BIGNUM *p, const BIGNUM *q)
{
	BN_CTX *ctx = BN_CTX_secure_new_ex(ossl_libctx());
	BIGNUM *t, *m;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!ctx)
		return rv;
	BN_CTX_start(ctx);
	t = BN_CTX_get(ctx);
	m = BN_CTX_get(ctx);
	if (!m || !BN_mul(t, p, q, ctx))
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (BN_cmp(t, n) != 0) {
		LOGW("CKA_PRIME_1 times CKA_PRIME_2 is not CKA_MODULUS");
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		if (!BN_sub(m, i ? q : p, BN_value_one()) || !BN_mod_mul(t, e, d, m, ctx)) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		if (!BN_is_one(t)) {
			LOGW("CKA_PRIVATE_EXPONENT does not invert CKA_PUBLIC_EXPONENT for these primes");
			goto out;
		}
	}
	rv = CKR_OK;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return rv;
}

CK_RV privkey_from_attrs(const struct attrs *a, CK_KEY_TYPE key_type, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bns[8] = { 0 };
	uint8_t point[1 + 2 * 66]; /* EC: the builder keeps a pointer to it until to_param */
	CK_RV rv = CKR_HOST_MEMORY;

	*out = NULL;
	if (!bld)
		goto out;
	if (key_type == CKK_RSA) {
		static const struct {
			CK_ATTRIBUTE_TYPE type;
			const char *param;
			bool required;
		} parts[] = {
			{ CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N, true },
			{ CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E, true },
			{ CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D, true },
			{ CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1, true },
			{ CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2, true },
			{ CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1, false },
			{ CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2, false },
			{ CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, false },
		};
		bool crt = attrs_find(a, CKA_EXPONENT_1) && attrs_find(a, CKA_EXPONENT_2) &&
			   attrs_find(a, CKA_COEFFICIENT);
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			const CK_ATTRIBUTE *at = attrs_find(a, parts[i].type);
			if (!at || !at->ulValueLen) {
				if (parts[i].required) {
					LOGW("RSA private key import needs %s", attr_name(parts[i].type));
					rv = CKR_TEMPLATE_INCOMPLETE;
					goto out;
				}
				continue;
			}
			if (!parts[i].required && !crt)
				continue;
			if (!push_bn(bld, parts[i].param, at, &bns[i]))
				goto out;
		}
		/* bns: n, e, d, p, q. The TPM only finds out at load time that the halves
		 * do not belong together; refuse such a key here, with the reason. */
		rv = rsa_components_consistent(bns[0], bns[1], bns[2], bns[3], bns[4]);
		if (rv != CKR_OK)
			goto out;
		rv = CKR_HOST_MEMORY;
		ctx = EVP_PKEY_CTX_new_from_name(ossl_libctx(), KEYMGMT_RSA, NULL);
	} else if (key_type == CKK_EC) {
		const CK_ATTRIBUTE *ec = attrs_find(a, CKA_EC_PARAMS), *value = attrs_find(a, CKA_VALUE);
		enum tpm_curve curve;
		if (!ec || !value || !value->ulValueLen) {
			LOGW("EC private key import needs CKA_EC_PARAMS and CKA_VALUE");
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
		curve = ec_params_curve(ec->pValue, ec->ulValueLen);
		if (curve == TPM_CURVE_NONE) {
			rv = CKR_CURVE_NOT_SUPPORTED;
			goto out;
		}
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						     curve_ossl_name(curve), 0) ||
		    !push_bn(bld, OSSL_PKEY_PARAM_PRIV_KEY, value, &bns[0]))
			goto out;
		{
			/* OpenSSL 3.0's fromdata does not derive the public point, and the
			 * TPM's public area needs it. */
			size_t coord = ec_curve_bytes(curve);
			int nid = 0;
			FOR_CURVES(i)
			if (curves[i].curve == curve)
				nid = curves[i].nid;
			point[0] = 0x04;
			rv = pk_ec_public_from_private(nid, value->pValue, value->ulValueLen, point + 1,
						       point + 1 + coord, coord);
			if (rv != CKR_OK)
				goto out;
			rv = CKR_HOST_MEMORY;
			if (!OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord))
				goto out;
		}
		ctx = EVP_PKEY_CTX_new_from_name(ossl_libctx(), KEYMGMT_EC, NULL);
	} else {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!params || !ctx)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) != 1) {
		LOGW("the private key components do not make a valid key");
		goto out;
	}
	rv = CKR_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	/* The BIGNUMs were BN_secure_new(): the builder put their copies in the secure
	 * block, which OSSL_PARAM_free() clears before freeing. */
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	for (size_t i = 0; i < sizeof(bns) / sizeof(bns[0]); i++)
		BN_clear_free(bns[i]);
	return rv;
}

size_t key_size_bytes(const struct attrs *a, CK_KEY_TYPE key_type)
{
	if (key_type == CKK_RSA) {
		const CK_ATTRIBUTE *n = attrs_find(a, CKA_MODULUS);
		const uint8_t *p;
		size_t len;
		if (!n)
			return 0;
		p = n->pValue;
		len = n->ulValueLen;
		while (len && *p == 0) {
			p++;
			len--;
		}
		return len;
	}
	if (key_type == CKK_EC) {
		const CK_ATTRIBUTE *ec = attrs_find(a, CKA_EC_PARAMS);
		return ec ? ec_curve_bytes(ec_params_curve(ec->pValue, ec->ulValueLen)) : 0;
	}
	return 0;
}
