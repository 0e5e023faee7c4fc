/* common/rsa_pad.c against OpenSSL: our encodings, pushed through a raw RSA private
 * operation of a software key, must verify with OpenSSL's own PKCS#1/PSS code;
 * OpenSSL's OAEP/PKCS#1 ciphertexts, raw-decrypted, must decode to the message. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/ossl.h"
#include "common/rsa_pad.h"

struct keys {
	EVP_PKEY *rsa2048;
	EVP_PKEY *rsa1025; /* mod_bits - 1 a multiple of 8: PSS's leading zero byte */
};

static int setup(void **state)
{
	static struct keys k;

	if (ossl_init() != CKR_OK)
		return -1;
	k.rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	k.rsa1025 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1025);
	if (!k.rsa2048 || !k.rsa1025)
		return -1;
	*state = &k;
	return 0;
}

static int teardown(void **state)
{
	struct keys *k = *state;

	EVP_PKEY_free(k->rsa2048);
	EVP_PKEY_free(k->rsa1025);
	return 0;
}

static size_t mod_len(EVP_PKEY *key)
{
	return (size_t)EVP_PKEY_get_size(key);
}

/* m^d mod n, all k bytes, as the TPM's RSA_Decrypt with scheme NULL does. */
static void raw_private(EVP_PKEY *key, const uint8_t *in, uint8_t *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	size_t k = mod_len(key), out_len = k;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING), 1);
	assert_int_equal(EVP_PKEY_decrypt(ctx, out, &out_len, in, k), 1);
	assert_int_equal(out_len, k);
	EVP_PKEY_CTX_free(ctx);
}

static void digestinfo(enum hash_alg h, const uint8_t *msg, size_t len, uint8_t *out, size_t *out_len)
{
	size_t plen;
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(h, &plen);

	assert_non_null(prefix);
	memcpy(out, prefix, plen);
	assert_int_equal(hash_digest(h, msg, len, out + plen), CKR_OK);
	*out_len = plen + hash_size(h);
}

static void test_digestinfo_detect(void **state)
{
	uint8_t di[128];
	size_t len;
	const uint8_t *digest;

	(void)state;
	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		digestinfo((enum hash_alg)h, (const uint8_t *)"abc", 3, di, &len);
		assert_int_equal(rsa_pad_digestinfo_hash(di, len, &digest), h);
		assert_ptr_equal(digest, di + len - hash_size((enum hash_alg)h));
		assert_int_equal(rsa_pad_digestinfo_hash(di, len - 1, NULL), HASH_NONE);
		di[3] ^= 1;
		assert_int_equal(rsa_pad_digestinfo_hash(di, len, NULL), HASH_NONE);
	}
	/* 36-byte TLS MD5+SHA-1 is no DigestInfo */
	memset(di, 0x5a, 36);
	assert_int_equal(rsa_pad_digestinfo_hash(di, 36, NULL), HASH_NONE);
}

static void test_pkcs1_sign_digestinfo(void **state)
{
	struct keys *k = *state;
	size_t n = mod_len(k->rsa2048), len;
	uint8_t di[128], em[512], sig[512];

	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->rsa2048, NULL);
		const uint8_t *digest;

		digestinfo((enum hash_alg)h, (const uint8_t *)"message", 7, di, &len);
		assert_int_equal(rsa_pad_pkcs1_sign(di, len, em, n), CKR_OK);
		raw_private(k->rsa2048, em, sig);
		rsa_pad_digestinfo_hash(di, len, &digest);
		assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, hash_md((enum hash_alg)h)), 1);
		assert_int_equal(EVP_PKEY_verify(ctx, sig, n, digest, hash_size((enum hash_alg)h)), 1);
		EVP_PKEY_CTX_free(ctx);
	}
}

static void test_pkcs1_sign_raw(void **state)
{
	struct keys *k = *state;
	size_t n = mod_len(k->rsa2048), got_len = 512;
	uint8_t data[512], em[512], sig[512], got[512];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->rsa2048, NULL);

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	/* TLS 1.0 MD5+SHA-1, then the longest input there is */
	assert_int_equal(rsa_pad_pkcs1_sign(data, 36, em, n), CKR_OK);
	raw_private(k->rsa2048, em, sig);
	assert_int_equal(EVP_PKEY_verify_recover_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_verify_recover(ctx, got, &got_len, sig, n), 1);
	assert_int_equal(got_len, 36);
	assert_memory_equal(got, data, 36);

	assert_int_equal(rsa_pad_pkcs1_sign(data, n - 11, em, n), CKR_OK);
	raw_private(k->rsa2048, em, sig);
	got_len = sizeof(got);
	assert_int_equal(EVP_PKEY_verify_recover(ctx, got, &got_len, sig, n), 1);
	assert_int_equal(got_len, n - 11);
	assert_memory_equal(got, data, n - 11);

	assert_int_equal(rsa_pad_pkcs1_sign(data, n - 10, em, n), CKR_DATA_LEN_RANGE);
	EVP_PKEY_CTX_free(ctx);
}

static void pss_case(EVP_PKEY *key, enum hash_alg h, enum hash_alg mgf, size_t salt)
{
	size_t n = mod_len(key);
	uint8_t mhash[64], em[512], sig[512];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);

	assert_int_equal(hash_digest(h, "pss", 3, mhash), CKR_OK);
	assert_int_equal(rsa_pad_pss_encode(h, mgf, salt, mhash, hash_size(h),
					    (unsigned)EVP_PKEY_get_bits(key), em, n), CKR_OK);
	raw_private(key, em, sig);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, hash_md(h)), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, hash_md(mgf)), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)salt), 1);
	assert_int_equal(EVP_PKEY_verify(ctx, sig, n, mhash, hash_size(h)), 1);
	/* and a wrong salt length must not verify */
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, hash_md(h)), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, hash_md(mgf)), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)salt + 1), 1);
	assert_int_not_equal(EVP_PKEY_verify(ctx, sig, n, mhash, hash_size(h)), 1);
	EVP_PKEY_CTX_free(ctx);
}

static void test_pss(void **state)
{
	struct keys *k = *state;

	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		pss_case(k->rsa2048, (enum hash_alg)h, (enum hash_alg)h, hash_size((enum hash_alg)h));
		pss_case(k->rsa2048, (enum hash_alg)h, HASH_SHA1, 0);
		pss_case(k->rsa2048, (enum hash_alg)h, HASH_SHA256, 20);
	}
	/* the longest salt: emLen - hLen - 2 */
	pss_case(k->rsa2048, HASH_SHA256, HASH_SHA256, 256 - 32 - 2);
	pss_case(k->rsa1025, HASH_SHA256, HASH_SHA256, 32);
	pss_case(k->rsa1025, HASH_SHA1, HASH_SHA512, 10);
}

static void test_pss_limits(void **state)
{
	struct keys *k = *state;
	uint8_t mhash[64] = { 0 }, em[512];

	assert_int_equal(rsa_pad_pss_encode(HASH_SHA256, HASH_SHA256, 256 - 32 - 1, mhash, 32, 2048,
					    em, 256), CKR_DATA_LEN_RANGE);
	assert_int_equal(rsa_pad_pss_encode(HASH_SHA256, HASH_SHA256, 32, mhash, 20, 2048, em, 256),
			 CKR_DATA_LEN_RANGE);
	(void)k;
}

/* OpenSSL encrypts; we raw-decrypt and decode. */
static void oaep_case(EVP_PKEY *key, enum hash_alg h, enum hash_alg mgf, const uint8_t *label,
		      size_t label_len, size_t msg_len)
{
	size_t n = mod_len(key), ct_len = 512, out_len;
	uint8_t msg[512], ct[512], em[512], out[512];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);

	for (size_t i = 0; i < msg_len; i++)
		msg[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, hash_md(h)), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, hash_md(mgf)), 1);
	if (label_len) {
		void *l = OPENSSL_memdup(label, label_len);
		assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)label_len), 1);
	}
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ct_len, msg, msg_len), 1);
	assert_int_equal(ct_len, n);
	raw_private(key, ct, em);

	out_len = sizeof(out);
	assert_int_equal(rsa_pad_oaep_decode(h, mgf, label, label_len, em, n, out, &out_len), CKR_OK);
	assert_int_equal(out_len, msg_len);
	assert_memory_equal(out, msg, msg_len);

	/* too small a buffer says how much is needed */
	if (msg_len) {
		out_len = msg_len - 1;
		assert_int_equal(rsa_pad_oaep_decode(h, mgf, label, label_len, em, n, out, &out_len),
				 CKR_BUFFER_TOO_SMALL);
		assert_int_equal(out_len, msg_len);
	}
	/* wrong label, wrong hash, damaged block: all the same error */
	out_len = sizeof(out);
	assert_int_equal(rsa_pad_oaep_decode(h, mgf, (const uint8_t *)"x", 1, em, n, out, &out_len),
			 CKR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(rsa_pad_oaep_decode(h == HASH_SHA1 ? HASH_SHA256 : HASH_SHA1, mgf, label,
					     label_len, em, n, out, &out_len),
			 CKR_ENCRYPTED_DATA_INVALID);
	em[0] = 1;
	assert_int_equal(rsa_pad_oaep_decode(h, mgf, label, label_len, em, n, out, &out_len),
			 CKR_ENCRYPTED_DATA_INVALID);
	em[0] = 0;
	em[n - 1] ^= 0x40;
	assert_int_equal(rsa_pad_oaep_decode(h, mgf, label, label_len, em, n, out, &out_len),
			 CKR_ENCRYPTED_DATA_INVALID);
	EVP_PKEY_CTX_free(ctx);
}

static void test_oaep(void **state)
{
	struct keys *k = *state;
	static const uint8_t label[] = "a label";

	oaep_case(k->rsa2048, HASH_SHA1, HASH_SHA1, NULL, 0, 32);
	oaep_case(k->rsa2048, HASH_SHA256, HASH_SHA256, NULL, 0, 32);
	oaep_case(k->rsa2048, HASH_SHA256, HASH_SHA256, label, sizeof(label) - 1, 100);
	oaep_case(k->rsa2048, HASH_SHA256, HASH_SHA1, label, sizeof(label), 1);
	oaep_case(k->rsa2048, HASH_SHA512, HASH_SHA384, NULL, 0, 0);
	/* the longest message: k - 2 hLen - 2 */
	oaep_case(k->rsa2048, HASH_SHA256, HASH_SHA256, NULL, 0, 256 - 64 - 2);
	oaep_case(k->rsa1025, HASH_SHA1, HASH_SHA1, label, 3, 10);
}

static void test_pkcs1_decrypt(void **state)
{
	struct keys *k = *state;
	size_t n = mod_len(k->rsa2048), ct_len = 512, out_len;
	uint8_t ct[512], em[512], out[512];
	static const uint8_t msg[] = "pre-master secret, 48 bytes of it, more or less.";
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->rsa2048, NULL);

	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ct_len, msg, sizeof(msg)), 1);
	raw_private(k->rsa2048, ct, em);
	out_len = sizeof(out);
	assert_int_equal(rsa_pad_pkcs1_decrypt_decode(em, n, out, &out_len), CKR_OK);
	assert_int_equal(out_len, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	out_len = 3;
	assert_int_equal(rsa_pad_pkcs1_decrypt_decode(em, n, out, &out_len), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(out_len, sizeof(msg));

	/* 00 02, seven non-zero bytes, 00: the padding string is too short */
	memset(em, 0x33, n);
	em[0] = 0;
	em[1] = 2;
	em[9] = 0;
	out_len = sizeof(out);
	assert_int_equal(rsa_pad_pkcs1_decrypt_decode(em, n, out, &out_len), CKR_ENCRYPTED_DATA_INVALID);
	em[9] = 0x33;
	em[10] = 0; /* eight: fine */
	assert_int_equal(rsa_pad_pkcs1_decrypt_decode(em, n, out, &out_len), CKR_OK);
	assert_int_equal(out_len, n - 11);
	em[10] = 0x33; /* no separator at all */
	out_len = sizeof(out);
	assert_int_equal(rsa_pad_pkcs1_decrypt_decode(em, n, out, &out_len), CKR_ENCRYPTED_DATA_INVALID);
	em[1] = 1; /* a signature block is no encryption block */
	em[20] = 0;
	assert_int_equal(rsa_pad_pkcs1_decrypt_decode(em, n, out, &out_len), CKR_ENCRYPTED_DATA_INVALID);
	EVP_PKEY_CTX_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digestinfo_detect),
		cmocka_unit_test(test_pkcs1_sign_digestinfo),
		cmocka_unit_test(test_pkcs1_sign_raw),
		cmocka_unit_test(test_pss),
		cmocka_unit_test(test_pss_limits),
		cmocka_unit_test(test_oaep),
		cmocka_unit_test(test_pkcs1_decrypt),
	};

	return cmocka_run_group_tests_name("rsa_pad", tests, setup, teardown);
}
