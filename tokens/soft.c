#include "config.h"

#include <string.h>

#include <openssl/obj_mac.h>

#include "common/log.h"
#include "common/pk.h"
#include "common/secret.h"
#include "tokens/pubkey.h"
#include "tokens/soft.h"
#include "tpm/rsa_pad.h"

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

/* EMSA-PSS-VERIFY, RFC 8017 9.1.2. */
CK_RV soft_verify_pss(const struct soft_key *k, enum hash_alg hash, enum hash_alg mgf_hash,
		      size_t salt_len, const uint8_t *digest, size_t digest_len,
		      const uint8_t *sig, size_t sig_len)
{
	uint8_t block[512], check[HASH_MAX_SIZE], prefix[8] = { 0 };
	size_t h_len = hash_size(hash), em_bits = k->bits - 1, em_len = (em_bits + 7) / 8, db_len;
	uint8_t *em = block, *db, *h, top_mask = (uint8_t)(0xff >> (8 * em_len - em_bits));
	EVP_MD_CTX *md = NULL;
	CK_RV rv = rsa_open_signature(k, sig, sig_len, block);

	if (rv != CKR_OK)
		return rv;
	if (digest_len != h_len)
		return CKR_DATA_LEN_RANGE;
	if (em_len < k->size) {
		if (block[0])
			return CKR_SIGNATURE_INVALID;
		em++;
	}
	if (em_len < h_len + salt_len + 2 || em[em_len - 1] != 0xbc || (em[0] & ~top_mask))
		return CKR_SIGNATURE_INVALID;
	db_len = em_len - h_len - 1;
	db = em;
	h = em + db_len;
	rv = rsa_pad_mgf1_xor(mgf_hash, h, h_len, db, db_len);
	if (rv != CKR_OK)
		return rv;
	db[0] &= top_mask;
	for (size_t i = 0; i < db_len - salt_len - 1; i++)
		if (db[i])
			return CKR_SIGNATURE_INVALID;
	if (db[db_len - salt_len - 1] != 0x01)
		return CKR_SIGNATURE_INVALID;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, hash_md(hash), NULL) != 1 ||
	    EVP_DigestUpdate(md, prefix, sizeof(prefix)) != 1 || EVP_DigestUpdate(md, digest, h_len) != 1 ||
	    EVP_DigestUpdate(md, db + db_len - salt_len, salt_len) != 1 ||
	    EVP_DigestFinal_ex(md, check, NULL) != 1) {
		rv = CKR_HOST_MEMORY;
	} else {
		rv = memcmp(check, h, h_len) == 0 ? CKR_OK : CKR_SIGNATURE_INVALID;
	}
	EVP_MD_CTX_free(md);
	return rv;
}

CK_RV soft_verify_ecdsa(const struct soft_key *k, const uint8_t *digest, size_t digest_len,
			const uint8_t *sig, size_t sig_len)
{
	if (sig_len != 2 * k->size)
		return CKR_SIGNATURE_LEN_RANGE;
	return pk_ecdsa_verify(k->nid, k->x, k->y, k->size, digest, digest_len, sig);
}

/* Random bytes none of which is zero (the PS of RSAES-PKCS1-v1_5). */
static CK_RV nonzero_random(uint8_t *out, size_t len)
{
	CK_RV rv = ossl_random(out, len);

	for (size_t i = 0; rv == CKR_OK && i < len; i++)
		while (rv == CKR_OK && out[i] == 0)
			rv = ossl_random(&out[i], 1);
	return rv;
}

CK_RV soft_encrypt_pkcs1(const struct soft_key *k, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t em[512];
	size_t ps_len;
	CK_RV rv;

	if (len + 11 > k->size)
		return CKR_DATA_LEN_RANGE;
	ps_len = k->size - len - 3;
	em[0] = 0x00;
	em[1] = 0x02;
	rv = nonzero_random(em + 2, ps_len);
	if (rv == CKR_OK) {
		em[2 + ps_len] = 0x00;
		memcpy(em + 3 + ps_len, in, len);
		rv = pk_rsa_public(k->n, k->size, k->e, k->e_len, em, k->size, out);
	}
	secret_wipe(em, sizeof(em));
	return rv;
}

/* RSAES-OAEP-ENCRYPT, RFC 8017 7.1.1. */
CK_RV soft_encrypt_oaep(const struct soft_key *k, enum hash_alg hash, enum hash_alg mgf_hash,
			const uint8_t *label, size_t label_len, const uint8_t *in, size_t len,
			uint8_t *out)
{
	uint8_t em[512];
	size_t h_len = hash_size(hash), db_len;
	uint8_t *seed = em + 1, *db;
	CK_RV rv;

	if (!h_len || k->size < 2 * h_len + 2 || len > k->size - 2 * h_len - 2)
		return CKR_DATA_LEN_RANGE;
	db_len = k->size - h_len - 1;
	db = em + 1 + h_len;
	memset(em, 0, sizeof(em));
	rv = hash_digest(hash, label_len ? label : (const uint8_t *)"", label_len, db);
	if (rv != CKR_OK)
		goto out;
	db[db_len - len - 1] = 0x01;
	memcpy(db + db_len - len, in, len);
	rv = ossl_random(seed, h_len);
	if (rv == CKR_OK)
		rv = rsa_pad_mgf1_xor(mgf_hash, seed, h_len, db, db_len);
	if (rv == CKR_OK)
		rv = rsa_pad_mgf1_xor(mgf_hash, db, db_len, seed, h_len);
	if (rv == CKR_OK)
		rv = pk_rsa_public(k->n, k->size, k->e, k->e_len, em, k->size, out);
out:
	secret_wipe(em, sizeof(em));
	return rv;
}
