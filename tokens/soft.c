#include "config.h"

#include <string.h>

#include <openssl/obj_mac.h>

#include "common/log.h"
#include "common/pk.h"
#include "common/secret.h"
#include "tokens/pubkey.h"
#include "tokens/soft.h"
#include "common/rsa_pad.h"

CK_RV soft_key_from_attrs(const struct attrs *a, CK_KEY_TYPE type, struct soft_key *k)
{
	memset(k, 0, sizeof(*k));
	k->type = type;
	if (type == CKK_RSA) {
		const CK_ATTRIBUTE *n = attrs_find(a, CKA_MODULUS), *e = attrs_find(a, CKA_PUBLIC_EXPONENT);
		const uint8_t *p, *q;
		size_t n_len, e_len;
		if (!n || !e)
			return CKR_TEMPLATE_INCOMPLETE;
		for (p = n->pValue, n_len = n->ulValueLen; n_len && !*p; p++, n_len--)
			;
		for (q = e->pValue, e_len = e->ulValueLen; e_len && !*q; q++, e_len--)
			;
		/* 1024..4096 bits, odd modulus, odd exponent above 1. */
		if (n_len < 128 || n_len > sizeof(k->n) || !(p[n_len - 1] & 1) || !e_len ||
		    e_len > sizeof(k->e) || !(q[e_len - 1] & 1) || (e_len == 1 && q[0] == 1))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		memcpy(k->n, p, n_len);
		memcpy(k->e, q, e_len);
		k->size = n_len;
		k->e_len = e_len;
		k->bits = (unsigned)n_len * 8;
		for (uint8_t top = p[0]; !(top & 0x80); top <<= 1)
			k->bits--;
		return CKR_OK;
	}
	if (type == CKK_EC) {
		const CK_ATTRIBUTE *params = attrs_find(a, CKA_EC_PARAMS), *point = attrs_find(a, CKA_EC_POINT);
		enum tpm_curve curve;
		uint8_t raw[1 + 2 * 66];
		size_t raw_len;
		CK_RV rv;
		if (!params || !point)
			return CKR_TEMPLATE_INCOMPLETE;
		curve = ec_params_curve(params->pValue, params->ulValueLen);
		if (curve == TPM_CURVE_NONE)
			return CKR_CURVE_NOT_SUPPORTED;
		rv = ec_point_decode(point->pValue, point->ulValueLen, curve, raw, &raw_len);
		if (rv != CKR_OK)
			return rv;
		k->curve = curve;
		k->size = ec_curve_bytes(curve);
		k->bits = (unsigned)k->size * 8;
		k->nid = curve == TPM_CURVE_P256 ? NID_X9_62_prime256v1 : NID_secp384r1;
		memcpy(k->x, raw + 1, k->size);
		memcpy(k->y, raw + 1 + k->size, k->size);
		return pk_ec_point_valid(k->nid, k->x, k->y, k->size) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	}
	return CKR_KEY_TYPE_INCONSISTENT;
}

/* The encoded message inside a signature (RSAVP1). */
static CK_RV rsa_open_signature(const struct soft_key *k, const uint8_t *sig, size_t sig_len, uint8_t *em)
{
	CK_RV rv;

	if (sig_len != k->size)
		return CKR_SIGNATURE_LEN_RANGE;
	rv = pk_rsa_public(k->n, k->size, k->e, k->e_len, sig, sig_len, em);
	return rv == CKR_DATA_LEN_RANGE ? CKR_SIGNATURE_INVALID : rv;
}

CK_RV soft_verify_pkcs1(const struct soft_key *k, const uint8_t *data, size_t len,
			const uint8_t *sig, size_t sig_len)
{
	uint8_t em[512], expect[512];
	CK_RV rv = rsa_open_signature(k, sig, sig_len, em);

	if (rv != CKR_OK)
		return rv;
	/* Encode and compare (RFC 8017 8.2.2): no parsing of what the signer sent. */
	rv = rsa_pad_pkcs1_sign(data, len, expect, k->size);
	if (rv != CKR_OK)
		return rv;
	return memcmp(em, expect, k->size) == 0 ? CKR_OK : CKR_SIGNATURE_INVALID;
}

CK_RV soft_verify_pss(const struct soft_key *k, enum hash_alg hash, enum hash_alg mgf_hash,
		      size_t salt_len, const uint8_t *digest, size_t digest_len,
		      const uint8_t *sig, size_t sig_len)
{
	uint8_t em[512];
	CK_RV rv = rsa_open_signature(k, sig, sig_len, em);

	if (rv != CKR_OK)
		return rv;
	return rsa_pad_pss_verify(hash, mgf_hash, salt_len, digest, digest_len, k->bits, em, k->size);
}

CK_RV soft_verify_ecdsa(const struct soft_key *k, const uint8_t *digest, size_t digest_len,
			const uint8_t *sig, size_t sig_len)
{
	if (sig_len != 2 * k->size)
		return CKR_SIGNATURE_LEN_RANGE;
	return pk_ecdsa_verify(k->nid, k->x, k->y, k->size, digest, digest_len, sig);
}

CK_RV soft_encrypt_pkcs1(const struct soft_key *k, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t em[512];
	CK_RV rv = rsa_pad_pkcs1_encrypt_encode(in, len, em, k->size);

	if (rv == CKR_OK)
		rv = pk_rsa_public(k->n, k->size, k->e, k->e_len, em, k->size, out);
	secret_wipe(em, sizeof(em));
	return rv;
}

CK_RV soft_encrypt_oaep(const struct soft_key *k, enum hash_alg hash, enum hash_alg mgf_hash,
			const uint8_t *label, size_t label_len, const uint8_t *in, size_t len,
			uint8_t *out)
{
	uint8_t em[512];
	CK_RV rv = rsa_pad_oaep_encode(hash, mgf_hash, label, label_len, in, len, em, k->size);

	if (rv == CKR_OK)
		rv = pk_rsa_public(k->n, k->size, k->e, k->e_len, em, k->size, out);
	secret_wipe(em, sizeof(em));
	return rv;
}

CK_RV soft_encrypt_tcpa(const struct soft_key *k, const uint8_t *in, size_t len, uint8_t *out)
{
	/* TPM 1.2 Part 2, TPM_BOUND_DATA: version 1.1, payload TPM_PT_BIND; the label is
	 * the four bytes "TCPA" (TPM 1.2 Part 1, 31.1.1). */
	static const uint8_t header[5] = { 1, 1, 0, 0, 2 };
	static const uint8_t label[4] = { 'T', 'C', 'P', 'A' };
	uint8_t m[512];
	CK_RV rv;

	if (len > sizeof(m) - sizeof(header))
		return CKR_DATA_LEN_RANGE;
	memcpy(m, header, sizeof(header));
	if (len)
		memcpy(m + sizeof(header), in, len);
	rv = soft_encrypt_oaep(k, HASH_SHA1, HASH_SHA1, label, sizeof(label), m, sizeof(header) + len, out);
	secret_wipe(m, sizeof(m));
	return rv;
}
