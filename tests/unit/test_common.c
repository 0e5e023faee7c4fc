/* common/: byte buffers and bounded readers, hashes and HMAC in our own OpenSSL
 * context, the secretbox that seals private objects, secret helpers. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "unit.h"

/* ---- buf ---- */

static void test_buf_put(void **state)
{
	struct buf b = BUF_INIT;
	uint8_t *data;
	size_t len = 0;
	static const uint8_t want[] = {
		0xab,
		0x12, 0x34,
		0xde, 0xad, 0xbe, 0xef,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c',
		0x00, 0x00, 0x00, 0x00,
		'x', 'y',
	};

	(void)state;
	buf_put_u8(&b, 0xab);
	buf_put_u16(&b, 0x1234);
	buf_put_u32(&b, 0xdeadbeef);
	buf_put_u64(&b, 0x0102030405060708ull);
	buf_put_lv(&b, "abc", 3);
	buf_put_lv(&b, NULL, 0);
	buf_put(&b, "xy", 2);
	buf_put(&b, NULL, 0);
	assert_false(b.failed);
	data = buf_take(&b, &len);
	assert_non_null(data);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(data, want, sizeof(want));
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(data);

	/* empty: a valid pointer of length 0 */
	data = buf_take(&b, &len);
	assert_non_null(data);
	assert_int_equal(len, 0);
	free(data);

	/* growth over many puts, secret or not */
	for (int secret = 0; secret < 2; secret++) {
		b.secret = secret;
		for (int i = 0; i < 10000; i++)
			buf_put_u8(&b, (uint8_t)i);
		assert_int_equal(b.len, 10000);
		for (int i = 0; i < 10000; i++)
			assert_int_equal(b.data[i], (uint8_t)i);
		buf_release(&b);
		assert_null(b.data);
	}

	/* a length that does not fit u32 fails the buffer, and every later put is a no-op */
	b.secret = false;
	buf_put_u8(&b, 1);
	buf_put_lv(&b, "", (size_t)UINT32_MAX + 1);
	assert_true(b.failed);
	buf_put_u8(&b, 2);
	assert_null(buf_take(&b, &len));
	assert_false(b.failed); /* reset by take */
	buf_release(&b);
}

static void test_reader(void **state)
{
	static const uint8_t in[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03,
				      0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x02, 'h', 'i' };
	struct reader r = reader_init(in, sizeof(in));
	uint8_t two[2];
	size_t n = 99;
	const uint8_t *p;

	(void)state;
	assert_int_equal(read_u8(&r), 0xab);
	assert_int_equal(read_u16(&r), 0x1234);
	assert_int_equal(read_u32(&r), 0xdeadbeef);
	assert_true(read_u64(&r) == 0x0102030405060708ull);
	p = read_lv(&r, &n, 16);
	assert_non_null(p);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "hi", 2);
	assert_int_equal(r.left, 0);
	assert_false(r.failed);
	/* past the end: zero, and failed sticks */
	assert_int_equal(read_u8(&r), 0);
	assert_true(r.failed);
	assert_null(read_view(&r, 0));

	/* reads never go past the end */
	r = reader_init(in, 3);
	assert_int_equal(read_u32(&r), 0);
	assert_true(r.failed);
	r = reader_init(in, 3);
	assert_false(read_bytes(&r, two, 4));
	r = reader_init(in, 3);
	assert_true(read_bytes(&r, two, 2));
	assert_memory_equal(two, in, 2);
	assert_int_equal(r.left, 1);
	assert_true(read_u64(&r) == 0);

	/* a length beyond the data, beyond max */
	r = reader_init(in + 15, 5); /* 00 00 00 02 'h' */
	assert_null(read_lv(&r, &n, 16));
	assert_int_equal(n, 0);
	assert_true(r.failed);
	r = reader_init(in + 15, 6);
	assert_null(read_lv(&r, &n, 1));
	assert_true(r.failed);
	r = reader_init(in + 15, 6);
	assert_non_null(read_lv(&r, &n, 2));
	/* a huge length */
	{
		static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
		r = reader_init(huge, sizeof(huge));
		assert_null(read_lv(&r, &n, SIZE_MAX));
		assert_true(r.failed);
	}
}

/* ---- hashes ---- */

static void test_hash_tables(void **state)
{
	(void)state;
	assert_int_equal(hash_size(HASH_SHA1), 20);
	assert_int_equal(hash_size(HASH_SHA256), 32);
	assert_int_equal(hash_size(HASH_SHA384), 48);
	assert_int_equal(hash_size(HASH_SHA512), 64);
	assert_int_equal(hash_size(HASH_NONE), 0);
	assert_int_equal(hash_size(HASH_COUNT), 0);
	assert_string_equal(hash_name(HASH_SHA384), "SHA384");
	assert_int_equal(hash_from_ckm(CKM_SHA_1), HASH_SHA1);
	assert_int_equal(hash_from_ckm(CKM_SHA512), HASH_SHA512);
	assert_int_equal(hash_from_ckm(CKM_MD5), HASH_NONE);
	assert_int_equal(hash_from_ckm(CKM_SHA224), HASH_NONE);
	assert_int_equal(hash_from_mgf(CKG_MGF1_SHA256), HASH_SHA256);
	assert_int_equal(hash_from_mgf(CKG_MGF1_SHA224), HASH_NONE);
	assert_int_equal(hash_to_ckm(HASH_SHA384), CKM_SHA384);
	assert_int_equal(hash_to_ckm(HASH_NONE), CKM_VENDOR_DEFINED);
	assert_int_equal(hash_from_size(20), HASH_SHA1);
	assert_int_equal(hash_from_size(48), HASH_SHA384);
	assert_int_equal(hash_from_size(28), HASH_NONE);
	assert_non_null(hash_md(HASH_SHA256));
	assert_null(hash_md(HASH_NONE));
}

static void test_digest_and_hmac(void **state)
{
	/* FIPS 180-2 "abc" and RFC 4231 test case 2 */
	static const uint8_t sha256_abc[] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	static const uint8_t sha1_abc[] = { 0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
					    0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d };
	static const uint8_t hmac_jefe[] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
		0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	const void *parts[] = { "what do ya want ", "for nothing?" };
	const size_t lens[] = { 16, 12 };
	uint8_t out[HASH_MAX_SIZE];

	(void)state;
	assert_int_equal(hash_digest(HASH_SHA256, "abc", 3, out), CKR_OK);
	assert_memory_equal(out, sha256_abc, 32);
	assert_int_equal(hash_digest(HASH_SHA1, "abc", 3, out), CKR_OK);
	assert_memory_equal(out, sha1_abc, 20);
	assert_int_equal(hash_digest(HASH_NONE, "abc", 3, out), CKR_MECHANISM_INVALID);
	assert_int_equal(hash_hmac(HASH_SHA256, "Jefe", 4, parts, lens, 2, out), CKR_OK);
	assert_memory_equal(out, hmac_jefe, 32);
	/* an empty key is legal (TPM sessions use one) */
	assert_int_equal(hash_hmac(HASH_SHA256, NULL, 0, parts, lens, 2, out), CKR_OK);
	assert_int_equal(hash_hmac(HASH_NONE, "k", 1, parts, lens, 2, out), CKR_MECHANISM_INVALID);
}

/* ---- secretbox ---- */

static void test_secretbox(void **state)
{
	uint8_t key[32], other[32];
	static const char plain[] = "the token secret, 32 bytes long!";
	size_t plen = sizeof(plain) - 1, blen = plen + SECRETBOX_OVERHEAD;
	uint8_t *box = malloc(blen), *box2 = malloc(blen), *out = malloc(plen);

	(void)state;
	for (int i = 0; i < 32; i++) {
		key[i] = (uint8_t)i;
		other[i] = (uint8_t)(i + 1);
	}
	assert_int_equal(secretbox_seal(key, "aad", 3, plain, plen, box), CKR_OK);
	assert_int_equal(secretbox_seal(key, "aad", 3, plain, plen, box2), CKR_OK);
	assert_memory_not_equal(box, box2, 12); /* fresh nonce each time */
	assert_memory_not_equal(box + 12, plain, plen);
	assert_int_equal(secretbox_open(key, "aad", 3, box, blen, out), CKR_OK);
	assert_memory_equal(out, plain, plen);

	assert_int_equal(secretbox_open(other, "aad", 3, box, blen, out), CKR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(secretbox_open(key, "aae", 3, box, blen, out), CKR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(secretbox_open(key, "aad", 2, box, blen, out), CKR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(secretbox_open(key, NULL, 0, box, blen, out), CKR_ENCRYPTED_DATA_INVALID);
	/* every bit of nonce, ciphertext and tag is covered */
	for (size_t i = 0; i < blen; i++)
		for (int bit = 0; bit < 8; bit++) {
			box[i] ^= (uint8_t)(1u << bit);
			if (secretbox_open(key, "aad", 3, box, blen, out) != CKR_ENCRYPTED_DATA_INVALID)
				fail_msg("a flip of bit %d of byte %zu went unnoticed", bit, i);
			box[i] ^= (uint8_t)(1u << bit);
		}
	/* truncations, down to less than the overhead */
	for (size_t n = 0; n < blen; n++)
		assert_int_equal(secretbox_open(key, "aad", 3, box, n, out), CKR_ENCRYPTED_DATA_INVALID);
	/* an empty plaintext still authenticates */
	assert_int_equal(secretbox_seal(key, NULL, 0, "", 0, box2), CKR_OK);
	assert_int_equal(secretbox_open(key, NULL, 0, box2, SECRETBOX_OVERHEAD, out), CKR_OK);
	box2[SECRETBOX_OVERHEAD - 1] ^= 1;
	assert_int_equal(secretbox_open(key, NULL, 0, box2, SECRETBOX_OVERHEAD, out), CKR_ENCRYPTED_DATA_INVALID);
	free(box);
	free(box2);
	free(out);
}

static void test_secrets(void **state)
{
	uint8_t a[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, b[8];
	uint8_t *d;

	(void)state;
	memcpy(b, a, 8);
	assert_int_equal(secret_cmp(a, b, 8), 0);
	b[7] ^= 0x80;
	assert_int_not_equal(secret_cmp(a, b, 8), 0);
	assert_int_equal(secret_cmp(a, b, 7), 0);
	secret_wipe(b, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(b[i], 0);
	secret_wipe(NULL, 8);
	d = secret_dup(a, 8);
	assert_non_null(d);
	assert_memory_equal(d, a, 8);
	secret_free(d, 8);
	secret_free(NULL, 8);
	assert_int_equal(ossl_random(b, 8), CKR_OK);
	assert_int_equal(ossl_random(a, 8), CKR_OK);
	assert_memory_not_equal(a, b, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_put),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_hash_tables),
		cmocka_unit_test(test_digest_and_hmac),
		cmocka_unit_test(test_secretbox),
		cmocka_unit_test(test_secrets),
	};

	unit_log_quiet();
	if (ossl_init() != CKR_OK)
		return 1;
	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
