/* The TPM 2.0 session crypto and blob parsing, without a TPM:
 * - KDFa against the TCG reference implementation's self-test vectors and against
 *   OpenSSL's independent SP 800-108 KBKDF;
 * - KDFe against OpenSSL's SP 800-56A single-step KDF;
 * - AES-128-CFB against NIST SP 800-38A F.3.13;
 * - blobs: every truncation and many corruptions of a valid blob are refused
 *   cleanly (they are untrusted input);
 * - migration domains: MA encodings, the domain policy and approval messages
 *   recomputed from the TPM 2.0 Part 3 definitions. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "common/ossl.h"
#include "tpm/tpm2_int.h"

static int setup(void **state)
{
	(void)state;
	return tpm2_crypto_init() == CKR_OK ? 0 : -1;
}

/* TCG TPM 2.0 reference implementation, KdfTestData.h: KDFa self-test, 160 bits. */
static void test_kdfa_reference_vectors(void **state)
{
	static const uint8_t key[20] = { 0x27, 0x1F, 0xA0, 0x8B, 0xBD, 0xC5, 0x06, 0x0E, 0xC3, 0xDF,
					 0xA9, 0x28, 0xFF, 0x9B, 0x73, 0x12, 0x3A, 0x12, 0xDA, 0x0C };
	static const uint8_t u[8] = { 0xCE, 0x24, 0x4F, 0x39, 0x5D, 0xCA, 0x73, 0x91 };
	static const uint8_t v[8] = { 0xDA, 0x50, 0x40, 0x31, 0xDD, 0xF1, 0x2E, 0x83 };
	static const struct {
		enum hash_alg h;
		uint8_t out[20];
	} vec[] = {
		{ HASH_SHA1, { 0x55, 0xb5, 0xa7, 0x18, 0x4a, 0xa0, 0x74, 0x23, 0xc4, 0x7d,
			       0xae, 0x76, 0x6c, 0x26, 0xa2, 0x37, 0x7d, 0x7c, 0xf8, 0x51 } },
		{ HASH_SHA256, { 0xbb, 0x02, 0x59, 0xe1, 0xc8, 0xba, 0x60, 0x7e, 0x6a, 0x2c,
				 0xd7, 0x04, 0xb6, 0x9a, 0x90, 0x2e, 0x9a, 0xde, 0x84, 0xc4 } },
		{ HASH_SHA384, { 0x1d, 0xce, 0x70, 0xc9, 0x11, 0x3e, 0xb2, 0xdb, 0xa4, 0x7b,
				 0xd9, 0xcf, 0xc7, 0x2b, 0xf4, 0x6f, 0x45, 0xb0, 0x93, 0x12 } },
		{ HASH_SHA512, { 0x8b, 0xe2, 0xc1, 0xb8, 0x5b, 0x78, 0x56, 0x9b, 0x9f, 0xa7,
				 0x59, 0xf5, 0x85, 0x7c, 0x56, 0xd6, 0x84, 0x81, 0x0f, 0xd3 } },
	};
	uint8_t out[20];

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(tpm2_kdfa(vec[i].h, key, sizeof(key), "KDFSELFTESTLABEL", u, sizeof(u),
					   v, sizeof(v), 160, out), CKR_OK);
		assert_memory_equal(out, vec[i].out, sizeof(out));
	}
}

static void kbkdf(enum hash_alg h, const uint8_t *key, size_t key_len, const char *label,
		  const uint8_t *ctx, size_t ctx_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)hash_name(h), 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)ctx, ctx_len),
		OSSL_PARAM_construct_end(),
	};

	assert_non_null(kctx);
	assert_int_equal(EVP_KDF_derive(kctx, out, out_len, params), 1);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
}

static void test_kdfa_matches_sp800_108(void **state)
{
	uint8_t key[48], u[32], v[32], uv[64], a[200], b[200];
	static const size_t lens[] = { 16, 32, 33, 64, 100, 200 };

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 3);
	for (size_t i = 0; i < sizeof(u); i++) {
		u[i] = (uint8_t)(0x10 + i);
		v[i] = (uint8_t)(0x80 + i);
	}
	memcpy(uv, u, 32);
	memcpy(uv + 32, v, 32);
	for (int h = HASH_SHA1; h < HASH_COUNT; h++)
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			assert_int_equal(tpm2_kdfa((enum hash_alg)h, key, sizeof(key), "CFB", u, 32, v, 32,
						   8 * lens[j], a), CKR_OK);
			kbkdf((enum hash_alg)h, key, sizeof(key), "CFB", uv, 64, b, lens[j]);
			assert_memory_equal(a, b, lens[j]);
		}
	/* empty key (an unsalted session's) and empty contexts, which OpenSSL's KBKDF
	 * refuses: one block, HMAC(key, [1] || "ATH" || 0 || [256]) */
	{
		static const uint8_t fixed[] = { 0, 0, 0, 1, 'A', 'T', 'H', 0, 0, 0, 1, 0 };
		const void *fparts[1] = { fixed };
		size_t flens[1] = { sizeof(fixed) };

		assert_int_equal(tpm2_kdfa(HASH_SHA256, NULL, 0, "ATH", NULL, 0, NULL, 0, 256, a), CKR_OK);
		assert_int_equal(hash_hmac(HASH_SHA256, NULL, 0, fparts, flens, 1, b), CKR_OK);
		assert_memory_equal(a, b, 32);
	}
	/* a bit count that is not whole bytes keeps the low bits of the first byte */
	assert_int_equal(tpm2_kdfa(HASH_SHA256, key, 16, "X", u, 4, v, 4, 12, a), CKR_OK);
	assert_int_equal(a[0] & 0xf0, 0);
}

static void test_kdfe_matches_sp800_56a(void **state)
{
	uint8_t z[48], u[48], v[48], info[7 + 96], a[100], b[100];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(z); i++) {
		z[i] = (uint8_t)(0xf0 - i);
		u[i] = (uint8_t)i;
		v[i] = (uint8_t)(i ^ 0x55);
	}
	memcpy(info, "SECRET", 7); /* the NUL is part of the label */
	memcpy(info + 7, u, 48);
	memcpy(info + 7 + 48, v, 48);
	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
							 (char *)hash_name((enum hash_alg)h), 0),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, sizeof(z)),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info)),
			OSSL_PARAM_construct_end(),
		};

		assert_int_equal(tpm2_kdfe((enum hash_alg)h, z, sizeof(z), "SECRET", u, 48, v, 48,
					   8 * sizeof(a), a), CKR_OK);
		assert_int_equal(EVP_KDF_derive(kctx, b, sizeof(b), params), 1);
		assert_memory_equal(a, b, sizeof(a));
		EVP_KDF_CTX_free(kctx);
	}
	EVP_KDF_free(kdf);
}

/* NIST SP 800-38A F.3.13 CFB128-AES128.Encrypt */
static void test_aes128_cfb(void **state)
{
	static const uint8_t key[16] = { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
					 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c };
	static const uint8_t iv[16] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
					0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	static const uint8_t pt[32] = {
		0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a,
		0xae, 0x2d, 0x8a, 0x57, 0x1e, 0x03, 0xac, 0x9c, 0x9e, 0xb7, 0x6f, 0xac, 0x45, 0xaf, 0x8e, 0x51,
	};
	static const uint8_t ct[32] = {
		0x3b, 0x3f, 0xd9, 0x2e, 0xb7, 0x2d, 0xad, 0x20, 0x33, 0x34, 0x49, 0xf8, 0xe8, 0x3c, 0xfb, 0x4a,
		0xc8, 0xa6, 0x45, 0x37, 0xa0, 0xb3, 0xa9, 0x3f, 0xcd, 0xe3, 0xcd, 0xad, 0x9f, 0x1c, 0xe5, 0x8b,
	};
	uint8_t buf[32];

	(void)state;
	memcpy(buf, pt, sizeof(buf));
	assert_int_equal(tpm2_aes128_cfb(true, key, iv, buf, sizeof(buf)), CKR_OK);
	assert_memory_equal(buf, ct, sizeof(ct));
	assert_int_equal(tpm2_aes128_cfb(false, key, iv, buf, sizeof(buf)), CKR_OK);
	assert_memory_equal(buf, pt, sizeof(pt));
	/* CFB needs no padding: a partial block round-trips */
	memcpy(buf, pt, 21);
	assert_int_equal(tpm2_aes128_cfb(true, key, iv, buf, 21), CKR_OK);
	assert_memory_equal(buf, ct, 21);
}

static void test_auth_trim(void **state)
{
	static const uint8_t a[] = { 1, 0, 2, 0, 0 };

	(void)state;
	assert_int_equal(tpm2_auth_trim(a, sizeof(a)), 3);
	assert_int_equal(tpm2_auth_trim(a, 2), 1);
	assert_int_equal(tpm2_auth_trim((const uint8_t *)"\0\0", 2), 0);
}

static void make_blob(struct tpm_blob *blob, TPM2B_PUBLIC *pub)
{
	struct tpm_key_spec spec = { .type = TPM_KEY_RSA, .rsa_bits = 2048 };
	TPM2B_PRIVATE priv = { .size = 120 };

	memset(pub, 0, sizeof(*pub));
	assert_int_equal(tpm2_template_key(&spec, false, &pub->publicArea), CKR_OK);
	pub->publicArea.unique.rsa.size = 256;
	for (size_t i = 0; i < 256; i++)
		pub->publicArea.unique.rsa.buffer[i] = (uint8_t)(0x80 | i);
	for (size_t i = 0; i < priv.size; i++)
		priv.buffer[i] = (uint8_t)i;
	assert_int_equal(tpm2_blob_encode(pub, &priv, blob), CKR_OK);
}

static void test_blob_round_trip(void **state)
{
	struct tpm_blob blob = { 0 };
	TPM2B_PUBLIC pub, pub2;
	TPM2B_PRIVATE priv;
	TPM2B_NAME name;
	struct tpm_public tp;

	(void)state;
	make_blob(&blob, &pub);
	assert_int_equal(blob.data[0], TPM2_BLOB_VERSION);
	assert_int_equal(tpm2_blob_decode(blob.data, blob.len, &pub2, &priv), CKR_OK);
	assert_int_equal(tpm2_public_check(&pub2.publicArea, false), CKR_OK);
	assert_int_equal(tpm2_public_check(&pub2.publicArea, true), CKR_DATA_INVALID);
	assert_int_equal(tpm2_compute_name(&pub2.publicArea, &name), CKR_OK);
	assert_int_equal(name.size, 34);
	assert_int_equal(name.name[0], 0x00);
	assert_int_equal(name.name[1], 0x0b);
	tpm2_public_export(&pub2.publicArea, &tp);
	assert_int_equal(tp.type, TPM_KEY_RSA);
	assert_int_equal(tp.bits, 2048);
	assert_int_equal(tp.modulus_len, 256);
	assert_int_equal(tp.exponent, 65537);
	assert_memory_equal(tp.modulus, pub.publicArea.unique.rsa.buffer, 256);
	tpm_blob_release(&blob);
}

static void test_blob_malformed(void **state)
{
	struct tpm_blob blob = { 0 };
	TPM2B_PUBLIC pub, pub2;
	TPM2B_PRIVATE priv;
	uint8_t copy[2048];

	(void)state;
	make_blob(&blob, &pub);
	assert_true(blob.len <= sizeof(copy));
	/* every truncation */
	for (size_t n = 0; n < blob.len; n++)
		assert_int_equal(tpm2_blob_decode(blob.data, n, &pub2, &priv), CKR_DATA_INVALID);
	/* trailing bytes, another version */
	memcpy(copy, blob.data, blob.len);
	copy[blob.len] = 0;
	assert_int_equal(tpm2_blob_decode(copy, blob.len + 1, &pub2, &priv), CKR_DATA_INVALID);
	copy[0] = 2;
	assert_int_equal(tpm2_blob_decode(copy, blob.len, &pub2, &priv), CKR_DATA_INVALID);
	/* every single-byte corruption either fails to parse or to check, or parses
	 * into a well-formed area (a flipped modulus bit): never a crash */
	for (size_t i = 0; i < blob.len; i++) {
		memcpy(copy, blob.data, blob.len);
		copy[i] ^= 0xa5;
		if (tpm2_blob_decode(copy, blob.len, &pub2, &priv) == CKR_OK &&
		    tpm2_public_check(&pub2.publicArea, false) == CKR_OK) {
			struct tpm_public tp;
			tpm2_public_export(&pub2.publicArea, &tp);
			assert_true(tp.modulus_len <= sizeof(tp.modulus));
		}
	}
	/* the size fields at their largest */
	memcpy(copy, blob.data, blob.len);
	copy[1] = 0xff;
	copy[2] = 0xff;
	assert_int_equal(tpm2_blob_decode(copy, blob.len, &pub2, &priv), CKR_DATA_INVALID);
	tpm_blob_release(&blob);
}

static void test_templates(void **state)
{
	struct tpm_key_spec spec = { .type = TPM_KEY_EC, .curve = TPM_CURVE_P384 };
	TPMT_PUBLIC p;
	int dummy = 0;

	(void)state;
	assert_int_equal(tpm2_template_key(&spec, false, &p), CKR_OK);
	assert_int_equal(p.type, TPM2_ALG_ECC);
	assert_true(p.objectAttributes & TPMA_OBJECT_FIXEDTPM);
	assert_true(p.objectAttributes & TPMA_OBJECT_NODA);
	assert_int_equal(tpm2_template_key(&spec, true, &p), CKR_OK);
	assert_false(p.objectAttributes & (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					   TPMA_OBJECT_SENSITIVEDATAORIGIN));
	assert_int_equal(p.authPolicy.size, 0);
	(void)dummy;
	spec.type = TPM_KEY_RSA;
	spec.rsa_bits = 2000;
	assert_int_equal(tpm2_template_key(&spec, false, &p), CKR_KEY_SIZE_RANGE);
	spec.rsa_bits = 3072;
	spec.rsa_exponent = 3;
	assert_int_equal(tpm2_template_key(&spec, false, &p), CKR_TEMPLATE_INCONSISTENT);
	tpm2_template_seal(&p);
	assert_false(p.objectAttributes & TPMA_OBJECT_NODA); /* wrong PINs must count */
	tpm2_template_storage(&p);
	assert_true(p.objectAttributes & TPMA_OBJECT_RESTRICTED);
	assert_int_equal(p.unique.ecc.x.size, 0);
}

/* The P-256 base point: a valid MA public key for encoding tests. */
static const uint8_t gx[32] = { 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6,
				0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
				0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96 };
static const uint8_t gy[32] = { 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
				0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
				0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5 };

static void sha256_cat(uint8_t out[32], const void *a, size_t al, const void *b, size_t bl,
		       const void *c, size_t cl)
{
	uint8_t buf[256];

	assert_true(al + bl + cl <= sizeof(buf));
	memcpy(buf, a, al);
	if (bl)
		memcpy(buf + al, b, bl);
	if (cl)
		memcpy(buf + al + bl, c, cl);
	assert_int_equal(hash_digest(HASH_SHA256, buf, al + bl + cl, out), CKR_OK);
}

/* MA encodings, the domain policy recomputed step by step from Part 3's
 * definitions, and the domain templates. */
static void test_domain(void **state)
{
	struct tpm_domain d;
	struct tpm_key_spec spec = { .type = TPM_KEY_RSA, .rsa_bits = 2048 };
	uint8_t n[257], policy[32], want[32], name[34], tmp[32];
	static const uint8_t cc_auth[4] = { 0, 0, 0x01, 0x6a }, cc_cc[4] = { 0, 0, 0x01, 0x6c },
			     cc_dup[4] = { 0, 0, 0x01, 0x4b }, zero[32] = { 0 };
	TPMT_PUBLIC p, ma;
	TPM2B_NAME ma_name;
	size_t off = 0;

	(void)state;
	memset(&d, 0, sizeof(d));
	for (size_t i = 0; i < sizeof(d.policy_ref); i++)
		d.policy_ref[i] = (uint8_t)(0xa0 + i);
	/* RSA: 2048 bits (a leading zero byte allowed), 65537 only */
	n[0] = 0;
	memset(n + 1, 0xc3, 256);
	assert_int_equal(tpm_domain_encode_ma(n, 257, 3, TPM_CURVE_NONE, NULL, NULL, &d),
			 CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(tpm_domain_encode_ma(n + 2, 255, 65537, TPM_CURVE_NONE, NULL, NULL, &d),
			 CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(tpm_domain_encode_ma(n, 257, 65537, TPM_CURVE_NONE, NULL, NULL, &d), CKR_OK);
	assert_int_equal(d.ma_type, TPM_KEY_RSA);
	assert_int_equal(d.ma_tpm12.len, 284); /* and the TPM_PUBKEY TPM 1.2 units need */
	tpm_blob_release(&d.ma_tpm12);
	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Unmarshal(d.ma_tpm2.data, d.ma_tpm2.len, &off, &ma),
			 TSS2_RC_SUCCESS);
	assert_int_equal(off, d.ma_tpm2.len);
	assert_int_equal(ma.parameters.rsaDetail.exponent, 0); /* 65537 written as 0 */
	assert_int_equal(ma.parameters.rsaDetail.scheme.scheme, TPM2_ALG_RSASSA);
	assert_int_equal(ma.objectAttributes, TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH);
	assert_int_equal(tpm2_ma_parse(&d, &p, &ma_name), CKR_OK);

	/* policy = H(H(H(0 || CC_PolicyAuthorize || MA name) || policyRef) || CC_PolicyCommandCode || CC_Duplicate) */
	name[0] = 0x00;
	name[1] = 0x0b;
	assert_int_equal(hash_digest(HASH_SHA256, d.ma_tpm2.data, d.ma_tpm2.len, name + 2), CKR_OK);
	assert_int_equal(ma_name.size, 34);
	assert_memory_equal(ma_name.name, name, 34);
	sha256_cat(tmp, zero, 32, cc_auth, 4, name, 34);
	sha256_cat(tmp, tmp, 32, d.policy_ref, 16, NULL, 0);
	sha256_cat(want, tmp, 32, cc_cc, 4, cc_dup, 4);
	assert_int_equal(tpm2_domain_policy(&d, policy), CKR_OK);
	assert_memory_equal(policy, want, 32);

	/* the templates carry it, with the domain attributes */
	spec.domain = &d;
	assert_int_equal(tpm2_template_key(&spec, false, &p), CKR_OK);
	assert_int_equal(p.authPolicy.size, 32);
	assert_memory_equal(p.authPolicy.buffer, want, 32);
	assert_false(p.objectAttributes & (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT));
	assert_true(p.objectAttributes & TPMA_OBJECT_ENCRYPTEDDUPLICATION);
	assert_true(p.objectAttributes & TPMA_OBJECT_ADMINWITHPOLICY);
	assert_true(p.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
	assert_true(p.objectAttributes & TPMA_OBJECT_SENSITIVEDATAORIGIN);
	assert_true(p.objectAttributes & TPMA_OBJECT_NODA);
	assert_int_equal(tpm2_template_key(&spec, true, &p), CKR_OK);
	assert_false(p.objectAttributes & TPMA_OBJECT_SENSITIVEDATAORIGIN);
	assert_int_equal(tpm2_template_seal_domain(&d, &p), CKR_OK);
	assert_memory_equal(p.authPolicy.buffer, want, 32);
	assert_false(p.objectAttributes & TPMA_OBJECT_NODA); /* DA-protected like any PIN seal */
	assert_false(p.objectAttributes & TPMA_OBJECT_SENSITIVEDATAORIGIN);

	/* a tampered encoding is refused */
	d.ma_tpm2.data[d.ma_tpm2.len - 1] ^= 1;
	assert_int_equal(tpm2_ma_parse(&d, &p, &ma_name), CKR_OK); /* another modulus: fine */
	d.ma_tpm2.data[4] ^= 0x40; /* an attribute bit */
	assert_int_equal(tpm2_ma_parse(&d, &p, &ma_name), CKR_ARGUMENTS_BAD);
	assert_int_equal(tpm2_template_key(&spec, false, &p), CKR_ARGUMENTS_BAD);
	tpm_blob_release(&d.ma_tpm2);

	/* EC: P-256 points on the curve only */
	assert_int_equal(tpm_domain_encode_ma(NULL, 0, 0, TPM_CURVE_P256, gx, gx, &d),
			 CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(tpm_domain_encode_ma(NULL, 0, 0, TPM_CURVE_P384, gx, gy, &d),
			 CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(tpm_domain_encode_ma(NULL, 0, 0, TPM_CURVE_P256, gx, gy, &d), CKR_OK);
	assert_int_equal(d.ma_type, TPM_KEY_EC);
	assert_int_equal(tpm2_ma_parse(&d, &p, &ma_name), CKR_OK);
	assert_int_equal(p.parameters.eccDetail.scheme.scheme, TPM2_ALG_ECDSA);
	tpm_blob_release(&d.ma_tpm2);
}

/* The approval message: PolicyDuplicationSelect(newParent, includeObject NO) from
 * zeros, then policyRef. */
static void test_approval_message(void **state)
{
	struct tpm_domain d;
	struct tpm_unit_identity u = { .tpm_version = 20 };
	TPM2B_PUBLIC sk = { .size = 0 };
	TPM2B_NAME name;
	uint8_t buf[sizeof(TPM2B_PUBLIC)], msg[64], want[32];
	static const uint8_t cc_ds[4] = { 0, 0, 0x01, 0x88 }, zero[32] = { 0 }, no = 0;
	size_t off = 0, len;
	enum hash_alg h = HASH_NONE;

	(void)state;
	memset(&d, 0, sizeof(d));
	memset(d.policy_ref, 0x5a, sizeof(d.policy_ref));
	tpm2_template_storage(&sk.publicArea);
	sk.publicArea.unique.ecc.x.size = sk.publicArea.unique.ecc.y.size = 32;
	memcpy(sk.publicArea.unique.ecc.x.buffer, gx, 32);
	memcpy(sk.publicArea.unique.ecc.y.buffer, gy, 32);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&sk, buf, sizeof(buf), &off), TSS2_RC_SUCCESS);
	assert_int_equal(tpm2_compute_name(&sk.publicArea, &name), CKR_OK);
	u.storage_public.data = buf;
	u.storage_public.len = off;
	u.name.data = name.name;
	u.name.len = name.size;

	len = 10;
	assert_int_equal(tpm_approval_message(&d, &u, NULL, msg, &len, &h), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(len, 48);
	len = sizeof(msg);
	assert_int_equal(tpm_approval_message(&d, &u, NULL, msg, &len, &h), CKR_OK);
	assert_int_equal(len, 48);
	assert_int_equal(h, HASH_SHA256);
	{
		uint8_t cat[32 + 4 + 34 + 1];

		memcpy(cat, zero, 32);
		memcpy(cat + 32, cc_ds, 4);
		memcpy(cat + 36, name.name, 34);
		cat[70] = no;
		assert_int_equal(hash_digest(HASH_SHA256, cat, sizeof(cat), want), CKR_OK);
	}
	assert_memory_equal(msg, want, 32);
	assert_memory_equal(msg + 32, d.policy_ref, 16);

	/* a name that is not the public area's, a TPM 1.2 unit */
	name.name[5] ^= 1;
	assert_int_equal(tpm_approval_message(&d, &u, NULL, msg, &len, &h), CKR_DATA_INVALID);
	name.name[5] ^= 1;
	u.tpm_version = 12; /* a TPM 2.0 public area is no TPM 1.2 identity */
	assert_int_equal(tpm_approval_message(&d, &u, NULL, msg, &len, &h), CKR_DATA_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kdfa_reference_vectors),
		cmocka_unit_test(test_kdfa_matches_sp800_108),
		cmocka_unit_test(test_kdfe_matches_sp800_56a),
		cmocka_unit_test(test_aes128_cfb),
		cmocka_unit_test(test_auth_trim),
		cmocka_unit_test(test_blob_round_trip),
		cmocka_unit_test(test_blob_malformed),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_approval_message),
	};

	return cmocka_run_group_tests_name("tpm2_crypto", tests, setup, NULL);
}
