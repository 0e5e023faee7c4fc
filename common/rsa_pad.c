#include "config.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/secret.h"
#include "common/rsa_pad.h"

#define SIZE_BITS (sizeof(size_t) * CHAR_BIT)
#define RSA_MAX_BYTES 512 /* 4096-bit moduli */

/* Masks for branch-free decoding: all ones for true, zero for false. Decryption
 * padding must not tell an attacker which check failed (Manger, Bleichenbacher), so
 * the decoders fold every check into one mask and branch once at the end. */
static size_t ct_is_zero(size_t x)
{
	return (size_t)0 - ((~x & (x - 1)) >> (SIZE_BITS - 1));
}

static size_t ct_eq(size_t a, size_t b)
{
	return ct_is_zero(a ^ b);
}

static size_t ct_lt(size_t a, size_t b)
{
	return (size_t)0 - ((a ^ ((a ^ b) | ((a - b) ^ b))) >> (SIZE_BITS - 1));
}

static size_t ct_select(size_t mask, size_t a, size_t b)
{
	return (mask & a) | (~mask & b);
}

static const uint8_t di_sha1[] = { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03,
				   0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 };
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

const uint8_t *rsa_pad_digestinfo_prefix(enum hash_alg h, size_t *len)
{
	switch (h) {
	case HASH_SHA1:
		*len = sizeof(di_sha1);
		return di_sha1;
	case HASH_SHA256:
		*len = sizeof(di_sha256);
		return di_sha256;
	case HASH_SHA384:
		*len = sizeof(di_sha384);
		return di_sha384;
	case HASH_SHA512:
		*len = sizeof(di_sha512);
		return di_sha512;
	default:
		*len = 0;
		return NULL;
	}
}

enum hash_alg rsa_pad_digestinfo_hash(const uint8_t *in, size_t len, const uint8_t **digest)
{
	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		size_t plen;
		const uint8_t *prefix = rsa_pad_digestinfo_prefix((enum hash_alg)h, &plen);

		if (len == plen + hash_size((enum hash_alg)h) && memcmp(in, prefix, plen) == 0) {
			if (digest)
				*digest = in + plen;
			return (enum hash_alg)h;
		}
	}
	return HASH_NONE;
}

CK_RV rsa_pad_pkcs1_sign(const uint8_t *in, size_t len, uint8_t *em, size_t k)
{
	if (k < 11 || len > k - 11)
		return CKR_DATA_LEN_RANGE;
	em[0] = 0x00;
	em[1] = 0x01;
	memset(em + 2, 0xff, k - len - 3);
	em[k - len - 1] = 0x00;
	memcpy(em + k - len, in, len);
	return CKR_OK;
}

CK_RV rsa_pad_mgf1_xor(enum hash_alg h, const uint8_t *seed, size_t seed_len, uint8_t *out,
		       size_t len)
{
	const EVP_MD *md = hash_md(h);
	size_t hlen = hash_size(h);
	uint8_t mask[HASH_MAX_SIZE];
	EVP_MD_CTX *ctx;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (!md)
		return CKR_MECHANISM_INVALID;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return CKR_HOST_MEMORY;
	for (uint32_t counter = 0; len > 0; counter++) {
		uint8_t c[4] = { (uint8_t)(counter >> 24), (uint8_t)(counter >> 16),
				 (uint8_t)(counter >> 8), (uint8_t)counter };
		size_t n = len < hlen ? len : hlen;

		if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
		    EVP_DigestUpdate(ctx, seed, seed_len) != 1 ||
		    EVP_DigestUpdate(ctx, c, sizeof(c)) != 1 ||
		    EVP_DigestFinal_ex(ctx, mask, NULL) != 1)
			goto out;
		for (size_t i = 0; i < n; i++)
			out[i] ^= mask[i];
		out += n;
		len -= n;
	}
	rv = CKR_OK;
out:
	secret_wipe(mask, sizeof(mask));
	EVP_MD_CTX_free(ctx);
	return rv;
}

CK_RV rsa_pad_pss_encode(enum hash_alg hash, enum hash_alg mgf_hash, size_t salt_len,
			 const uint8_t *mhash, size_t mhash_len, unsigned mod_bits,
			 uint8_t *em, size_t k)
{
	size_t hlen = hash_size(hash);
	size_t em_bits = mod_bits - 1;
	size_t em_len = (em_bits + 7) / 8;
	size_t db_len, ps_len;
	uint8_t salt[RSA_MAX_BYTES];
	uint8_t *db, *h;
	EVP_MD_CTX *ctx = NULL;
	static const uint8_t zeros[8];
	CK_RV rv;

	if (!hlen || !hash_md(mgf_hash))
		return CKR_MECHANISM_INVALID;
	if (mhash_len != hlen)
		return CKR_DATA_LEN_RANGE;
	if (mod_bits < 2 || em_len > k || k - em_len > 1 || k > RSA_MAX_BYTES)
		return CKR_GENERAL_ERROR;
	if (salt_len > sizeof(salt) || em_len < hlen + salt_len + 2)
		return CKR_DATA_LEN_RANGE;
	rv = ossl_random(salt, salt_len);
	if (rv != CKR_OK)
		return rv;

	/* em = [0x00 if k > em_len] || maskedDB || H || 0xbc */
	memset(em, 0, k);
	db = em + (k - em_len);
	db_len = em_len - hlen - 1;
	h = db + db_len;
	ps_len = db_len - salt_len - 1;

	rv = CKR_GENERAL_ERROR;
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (EVP_DigestInit_ex2(ctx, hash_md(hash), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, zeros, sizeof(zeros)) != 1 ||
	    EVP_DigestUpdate(ctx, mhash, hlen) != 1 ||
	    (salt_len && EVP_DigestUpdate(ctx, salt, salt_len) != 1) ||
	    EVP_DigestFinal_ex(ctx, h, NULL) != 1)
		goto out;
	db[ps_len] = 0x01;
	if (salt_len)
		memcpy(db + ps_len + 1, salt, salt_len);
	rv = rsa_pad_mgf1_xor(mgf_hash, h, hlen, db, db_len);
	if (rv != CKR_OK)
		goto out;
	db[0] &= (uint8_t)(0xff >> (8 * em_len - em_bits));
	em[k - 1] = 0xbc;
	rv = CKR_OK;
out:
	EVP_MD_CTX_free(ctx);
	secret_wipe(salt, sizeof(salt));
	return rv;
}

CK_RV rsa_pad_pss_verify(enum hash_alg hash, enum hash_alg mgf_hash, size_t salt_len,
			 const uint8_t *mhash, size_t mhash_len, unsigned mod_bits, uint8_t *em,
			 size_t k)
{
	uint8_t check[HASH_MAX_SIZE], prefix[8] = { 0 };
	size_t h_len = hash_size(hash), em_bits = mod_bits - 1, em_len = (em_bits + 7) / 8, db_len;
	uint8_t *db, *h, top_mask = (uint8_t)(0xff >> (8 * em_len - em_bits));
	EVP_MD_CTX *md = NULL;
	CK_RV rv;

	if (!h_len || mhash_len != h_len)
		return CKR_DATA_LEN_RANGE;
	if (em_len < k) {
		if (em[0])
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
	    EVP_DigestUpdate(md, prefix, sizeof(prefix)) != 1 || EVP_DigestUpdate(md, mhash, h_len) != 1 ||
	    EVP_DigestUpdate(md, db + db_len - salt_len, salt_len) != 1 ||
	    EVP_DigestFinal_ex(md, check, NULL) != 1)
		rv = CKR_HOST_MEMORY;
	else
		rv = memcmp(check, h, h_len) == 0 ? CKR_OK : CKR_SIGNATURE_INVALID;
	EVP_MD_CTX_free(md);
	return rv;
}

CK_RV rsa_pad_oaep_encode(enum hash_alg hash, enum hash_alg mgf_hash, const uint8_t *label,
			  size_t label_len, const uint8_t *msg, size_t len, uint8_t *em, size_t k)
{
	size_t h_len = hash_size(hash), db_len;
	uint8_t *seed = em + 1, *db;
	CK_RV rv;

	if (!h_len || k < 2 * h_len + 2 || len > k - 2 * h_len - 2)
		return CKR_DATA_LEN_RANGE;
	db_len = k - h_len - 1;
	db = em + 1 + h_len;
	memset(em, 0, k);
	rv = hash_digest(hash, label_len ? label : (const uint8_t *)"", label_len, db);
	if (rv != CKR_OK)
		return rv;
	db[db_len - len - 1] = 0x01;
	if (len)
		memcpy(db + db_len - len, msg, len);
	rv = ossl_random(seed, h_len);
	if (rv == CKR_OK)
		rv = rsa_pad_mgf1_xor(mgf_hash, seed, h_len, db, db_len);
	if (rv == CKR_OK)
		rv = rsa_pad_mgf1_xor(mgf_hash, db, db_len, seed, h_len);
	return rv;
}

CK_RV rsa_pad_pkcs1_encrypt_encode(const uint8_t *msg, size_t len, uint8_t *em, size_t k)
{
	size_t ps_len;
	CK_RV rv;

	if (k < 11 || len > k - 11)
		return CKR_DATA_LEN_RANGE;
	ps_len = k - len - 3;
	em[0] = 0x00;
	em[1] = 0x02;
	rv = ossl_random(em + 2, ps_len);
	for (size_t i = 0; rv == CKR_OK && i < ps_len; i++)
		while (rv == CKR_OK && em[2 + i] == 0)
			rv = ossl_random(&em[2 + i], 1);
	em[2 + ps_len] = 0x00;
	if (len)
		memcpy(em + 3 + ps_len, msg, len);
	return rv;
}

CK_RV rsa_pad_oaep_decode(enum hash_alg hash, enum hash_alg mgf_hash, const uint8_t *label,
			  size_t label_len, const uint8_t *em, size_t k, uint8_t *out,
			  size_t *out_len)
{
	size_t hlen = hash_size(hash);
	uint8_t lhash[HASH_MAX_SIZE];
	uint8_t buf[RSA_MAX_BYTES];
	uint8_t *seed = buf + 1, *db;
	size_t db_len, good, found = 0, bad = 0, index = 0, mlen;
	CK_RV rv;

	if (!hlen || !hash_md(mgf_hash))
		return CKR_MECHANISM_INVALID;
	if (k > sizeof(buf) || k < 2 * hlen + 2)
		return CKR_ENCRYPTED_DATA_INVALID;
	rv = hash_digest(hash, label_len ? label : (const uint8_t *)"", label_len, lhash);
	if (rv != CKR_OK)
		return rv;

	memcpy(buf, em, k);
	db = buf + 1 + hlen;
	db_len = k - hlen - 1;
	rv = rsa_pad_mgf1_xor(mgf_hash, db, db_len, seed, hlen);
	if (rv == CKR_OK)
		rv = rsa_pad_mgf1_xor(mgf_hash, seed, hlen, db, db_len);
	if (rv != CKR_OK)
		goto out;

	good = ct_is_zero(buf[0]);
	good &= ct_is_zero((size_t)secret_cmp(db, lhash, hlen));
	/* DB = lHash' || PS (zeros) || 0x01 || M: find the 0x01 without branching */
	for (size_t i = hlen; i < db_len; i++) {
		size_t is_zero = ct_is_zero(db[i]);
		size_t is_one = ct_eq(db[i], 1);

		index = ct_select(~found & is_one, i, index);
		bad |= ~found & ~is_zero & ~is_one;
		found |= is_one;
	}
	good &= found & ~bad;
	mlen = db_len - index - 1;
	if (!good) {
		rv = CKR_ENCRYPTED_DATA_INVALID;
		goto out;
	}
	if (*out_len < mlen) {
		*out_len = mlen;
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	if (mlen)
		memcpy(out, db + index + 1, mlen);
	*out_len = mlen;
	rv = CKR_OK;
out:
	secret_wipe(buf, sizeof(buf));
	return rv;
}

CK_RV rsa_pad_pkcs1_decrypt_decode(const uint8_t *em, size_t k, uint8_t *out, size_t *out_len)
{
	size_t good, found = 0, index = 0, mlen;

	if (k < 11)
		return CKR_ENCRYPTED_DATA_INVALID;
	good = ct_is_zero(em[0]) & ct_eq(em[1], 2);
	for (size_t i = 2; i < k; i++) {
		size_t is_zero = ct_is_zero(em[i]);

		index = ct_select(~found & is_zero, i, index);
		found |= is_zero;
	}
	/* at least 8 bytes of padding string */
	good &= found & ~ct_lt(index, 10);
	mlen = k - index - 1;
	if (!good)
		return CKR_ENCRYPTED_DATA_INVALID;
	if (*out_len < mlen) {
		*out_len = mlen;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (mlen)
		memcpy(out, em + index + 1, mlen);
	*out_len = mlen;
	return CKR_OK;
}
