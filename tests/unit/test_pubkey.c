/* tokens/pubkey.c: EC parameters and point encodings, public keys between the TPM's
 * form, PKCS#11 attributes and OpenSSL, SubjectPublicKeyInfo, private keys for import. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ossl.h"
#include "keys.h"
#include "tokens/pubkey.h"
#include "unit.h"

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };

static void test_curves(void **state)
{
	size_t len;
	const uint8_t *p;

	(void)state;
	assert_int_equal(ec_params_curve(oid_p256, sizeof(oid_p256)), TPM_CURVE_P256);
	assert_int_equal(ec_params_curve(oid_p384, sizeof(oid_p384)), TPM_CURVE_P384);
	assert_int_equal(ec_params_curve(oid_p521, sizeof(oid_p521)), TPM_CURVE_NONE);
	assert_int_equal(ec_params_curve(oid_p256, sizeof(oid_p256) - 1), TPM_CURVE_NONE);
	assert_int_equal(ec_params_curve(NULL, 0), TPM_CURVE_NONE);
	/* a named curve as printable string is not the OID */
	assert_int_equal(ec_params_curve((const uint8_t *)"\x13\x0aprime256v1", 12), TPM_CURVE_NONE);
	p = ec_curve_params(TPM_CURVE_P384, &len);
	assert_int_equal(len, sizeof(oid_p384));
	assert_memory_equal(p, oid_p384, len);
	assert_null(ec_curve_params(TPM_CURVE_NONE, &len));
	assert_int_equal(len, 0);
	assert_int_equal(ec_curve_bytes(TPM_CURVE_P256), 32);
	assert_int_equal(ec_curve_bytes(TPM_CURVE_P384), 48);
	assert_int_equal(ec_curve_bytes(TPM_CURVE_NONE), 0);
	assert_string_equal(ec_curve_name(TPM_CURVE_P256), "P-256");
}

static void test_point_decode(void **state)
{
	uint8_t der[2 + 97], raw[1 + 2 * 66];
	size_t raw_len = 0;

	(void)state;
	der[0] = 0x04;
	der[1] = 65;
	der[2] = 0x04;
	for (int i = 3; i < 67; i++)
		der[i] = (uint8_t)i;
	assert_int_equal(ec_point_decode(der, 67, TPM_CURVE_P256, raw, &raw_len), CKR_OK);
	assert_int_equal(raw_len, 65);
	assert_memory_equal(raw, der + 2, 65);
	/* leniently, the bare point */
	assert_int_equal(ec_point_decode(der + 2, 65, TPM_CURVE_P256, raw, &raw_len), CKR_OK);
	assert_int_equal(raw_len, 65);
	/* wrong sizes, compressed points, the wrong curve */
	assert_int_equal(ec_point_decode(der, 66, TPM_CURVE_P256, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(ec_point_decode(der + 2, 64, TPM_CURVE_P256, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(ec_point_decode(der, 67, TPM_CURVE_P384, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(ec_point_decode(der, 67, TPM_CURVE_NONE, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(ec_point_decode(NULL, 0, TPM_CURVE_P256, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	der[2] = 0x02;
	assert_int_equal(ec_point_decode(der, 67, TPM_CURVE_P256, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(ec_point_decode(der + 2, 33, TPM_CURVE_P256, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	der[2] = 0x04;
	der[1] = 64; /* the OCTET STRING length is wrong: not DER, not a bare point */
	assert_int_equal(ec_point_decode(der, 67, TPM_CURVE_P256, raw, &raw_len), CKR_ATTRIBUTE_VALUE_INVALID);
	/* P-384 */
	der[1] = 97;
	assert_int_equal(ec_point_decode(der, 99, TPM_CURVE_P384, raw, &raw_len), CKR_OK);
	assert_int_equal(raw_len, 97);
}

static void want_bytes(const struct attrs *a, CK_ATTRIBUTE_TYPE type, const void *v, size_t len)
{
	const CK_ATTRIBUTE *at = attrs_find(a, type);
	if (!at)
		fail_msg("%s missing", attr_name(type));
	assert_int_equal(at->ulValueLen, len);
	assert_memory_equal(at->pValue, v, len);
}

static void tpm_public_rsa(EVP_PKEY *k, struct tpm_public *pub)
{
	size_t n_len;
	unsigned char *n = unit_key_bn(k, OSSL_PKEY_PARAM_RSA_N, &n_len);

	memset(pub, 0, sizeof(*pub));
	pub->type = TPM_KEY_RSA;
	pub->bits = (unsigned)EVP_PKEY_get_bits(k);
	memcpy(pub->modulus, n, n_len);
	pub->modulus_len = n_len;
	pub->exponent = 65537;
	free(n);
}

static void tpm_public_ec(EVP_PKEY *k, enum tpm_curve curve, struct tpm_public *pub)
{
	size_t len;
	unsigned char *point = unit_ec_point(k, &len);

	memset(pub, 0, sizeof(*pub));
	pub->type = TPM_KEY_EC;
	pub->curve = curve;
	pub->coord_len = (len - 1) / 2;
	pub->bits = (unsigned)(pub->coord_len * 8);
	memcpy(pub->x, point + 1, pub->coord_len);
	memcpy(pub->y, point + 1 + pub->coord_len, pub->coord_len);
	free(point);
}

static void test_rsa_from_tpm(void **state)
{
	EVP_PKEY *k = unit_rsa_key(2048), *back = NULL;
	struct tpm_public pub;
	struct attrs a = ATTRS_INIT;
	size_t n_len, spki_len, der_len;
	unsigned char *n = unit_key_bn(k, OSSL_PKEY_PARAM_RSA_N, &n_len), *spki = unit_spki(k, &spki_len);
	uint8_t *der = NULL;

	(void)state;
	tpm_public_rsa(k, &pub);
	assert_int_equal(pubkey_attrs_from_tpm(&pub, &a), CKR_OK);
	want_bytes(&a, CKA_MODULUS, n, n_len);
	want_bytes(&a, CKA_PUBLIC_EXPONENT, "\x01\x00\x01", 3);
	assert_int_equal(attrs_get_ulong(&a, CKA_MODULUS_BITS, 0), 2048);
	want_bytes(&a, CKA_PUBLIC_KEY_INFO, spki, spki_len);
	assert_int_equal(key_size_bytes(&a, CKK_RSA), 256);

	assert_int_equal(pubkey_from_attrs(&a, CKK_RSA, &back), CKR_OK);
	assert_int_equal(EVP_PKEY_eq(back, k), 1);
	assert_int_equal(pubkey_spki(back, &der, &der_len), CKR_OK);
	assert_int_equal(der_len, spki_len);
	assert_memory_equal(der, spki, spki_len);
	OPENSSL_free(der);
	EVP_PKEY_free(back);
	back = NULL;

	/* wrong or missing parts */
	assert_int_equal(pubkey_from_attrs(&a, CKK_EC, &back), CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(pubkey_from_attrs(&a, CKK_DSA, &back), CKR_KEY_TYPE_INCONSISTENT);
	attrs_remove(&a, CKA_PUBLIC_EXPONENT);
	assert_int_equal(pubkey_from_attrs(&a, CKK_RSA, &back), CKR_TEMPLATE_INCOMPLETE);
	/* present but empty: a value, and not a valid one */
	assert_int_equal(attrs_set(&a, CKA_PUBLIC_EXPONENT, "", 0), CKR_OK);
	assert_int_equal(pubkey_from_attrs(&a, CKK_RSA, &back), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_null(back);
	/* a modulus with a leading zero byte counts its real size */
	{
		uint8_t *padded = calloc(1, n_len + 1);
		memcpy(padded + 1, n, n_len);
		assert_int_equal(attrs_set(&a, CKA_MODULUS, padded, n_len + 1), CKR_OK);
		assert_int_equal(key_size_bytes(&a, CKK_RSA), 256);
		free(padded);
	}
	/* an exponent the TPM reported as 3 */
	pub.exponent = 3;
	attrs_clear(&a);
	assert_int_equal(pubkey_attrs_from_tpm(&pub, &a), CKR_OK);
	want_bytes(&a, CKA_PUBLIC_EXPONENT, "\x03", 1);
	attrs_clear(&a);
	free(n);
	OPENSSL_free(spki);
	EVP_PKEY_free(k);
}

static void test_ec_from_tpm(void **state)
{
	static const struct {
		const char *name;
		enum tpm_curve curve;
		const uint8_t *oid;
		size_t oid_len;
	} curves[] = {
		{ "P-256", TPM_CURVE_P256, oid_p256, sizeof(oid_p256) },
		{ "P-384", TPM_CURVE_P384, oid_p384, sizeof(oid_p384) },
	};

	(void)state;
	for (size_t c = 0; c < 2; c++) {
		EVP_PKEY *k = unit_ec_key(curves[c].name), *back = NULL;
		struct tpm_public pub;
		struct attrs a = ATTRS_INIT;
		size_t point_len, spki_len;
		unsigned char *point = unit_ec_point(k, &point_len), *spki = unit_spki(k, &spki_len);
		uint8_t der[2 + 97];

		tpm_public_ec(k, curves[c].curve, &pub);
		assert_int_equal(pubkey_attrs_from_tpm(&pub, &a), CKR_OK);
		want_bytes(&a, CKA_EC_PARAMS, curves[c].oid, curves[c].oid_len);
		der[0] = 0x04;
		der[1] = (uint8_t)point_len;
		memcpy(der + 2, point, point_len);
		want_bytes(&a, CKA_EC_POINT, der, point_len + 2);
		want_bytes(&a, CKA_PUBLIC_KEY_INFO, spki, spki_len);
		assert_int_equal(key_size_bytes(&a, CKK_EC), pub.coord_len);
		assert_int_equal(pubkey_from_attrs(&a, CKK_EC, &back), CKR_OK);
		assert_int_equal(EVP_PKEY_eq(back, k), 1);
		EVP_PKEY_free(back);
		back = NULL;
		/* unknown curve, point not on it, no point */
		assert_int_equal(attrs_set(&a, CKA_EC_PARAMS, oid_p521, sizeof(oid_p521)), CKR_OK);
		assert_int_equal(pubkey_from_attrs(&a, CKK_EC, &back), CKR_CURVE_NOT_SUPPORTED);
		assert_int_equal(key_size_bytes(&a, CKK_EC), 0);
		assert_int_equal(attrs_set(&a, CKA_EC_PARAMS, curves[c].oid, curves[c].oid_len), CKR_OK);
		der[10] ^= 0x40;
		assert_int_equal(attrs_set(&a, CKA_EC_POINT, der, point_len + 2), CKR_OK);
		assert_int_equal(pubkey_from_attrs(&a, CKK_EC, &back), CKR_ATTRIBUTE_VALUE_INVALID);
		attrs_remove(&a, CKA_EC_POINT);
		assert_int_equal(pubkey_from_attrs(&a, CKK_EC, &back), CKR_TEMPLATE_INCOMPLETE);
		assert_null(back);
		/* a TPM public area that does not fit its curve */
		pub.coord_len = 31;
		attrs_clear(&a);
		assert_int_not_equal(pubkey_attrs_from_tpm(&pub, &a), CKR_OK);
		attrs_clear(&a);
		free(point);
		OPENSSL_free(spki);
		EVP_PKEY_free(k);
	}
}

static void set_bn(struct attrs *a, CK_ATTRIBUTE_TYPE type, EVP_PKEY *k, const char *param)
{
	size_t len;
	unsigned char *v = unit_key_bn(k, param, &len);

	assert_int_equal(attrs_set(a, type, v, len), CKR_OK);
	free(v);
}

static void test_rsa_private(void **state)
{
	EVP_PKEY *k = unit_rsa_key(2048), *back = NULL;
	struct attrs a = ATTRS_INIT;

	(void)state;
	set_bn(&a, CKA_MODULUS, k, OSSL_PKEY_PARAM_RSA_N);
	set_bn(&a, CKA_PUBLIC_EXPONENT, k, OSSL_PKEY_PARAM_RSA_E);
	set_bn(&a, CKA_PRIVATE_EXPONENT, k, OSSL_PKEY_PARAM_RSA_D);
	set_bn(&a, CKA_PRIME_1, k, OSSL_PKEY_PARAM_RSA_FACTOR1);
	set_bn(&a, CKA_PRIME_2, k, OSSL_PKEY_PARAM_RSA_FACTOR2);
	/* without the CRT components */
	assert_int_equal(privkey_from_attrs(&a, CKK_RSA, &back), CKR_OK);
	assert_int_equal(EVP_PKEY_eq(back, k), 1);
	EVP_PKEY_free(back);
	back = NULL;
	/* with them */
	set_bn(&a, CKA_EXPONENT_1, k, OSSL_PKEY_PARAM_RSA_EXPONENT1);
	set_bn(&a, CKA_EXPONENT_2, k, OSSL_PKEY_PARAM_RSA_EXPONENT2);
	set_bn(&a, CKA_COEFFICIENT, k, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
	assert_int_equal(privkey_from_attrs(&a, CKK_RSA, &back), CKR_OK);
	assert_int_equal(EVP_PKEY_eq(back, k), 1);
	{
		/* the private half works: sign with it, verify with the original */
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(back, NULL);
		uint8_t md[32] = { 1 }, sig[256];
		size_t sig_len = sizeof(sig);
		assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
		assert_int_equal(EVP_PKEY_sign(ctx, sig, &sig_len, md, sizeof(md)), 1);
		EVP_PKEY_CTX_free(ctx);
		ctx = EVP_PKEY_CTX_new(k, NULL);
		assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
		assert_int_equal(EVP_PKEY_verify(ctx, sig, sig_len, md, sizeof(md)), 1);
		EVP_PKEY_CTX_free(ctx);
	}
	EVP_PKEY_free(back);
	back = NULL;
	/* a part missing */
	attrs_remove(&a, CKA_PRIME_2);
	assert_int_equal(privkey_from_attrs(&a, CKK_RSA, &back), CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(privkey_from_attrs(&a, CKK_DSA, &back), CKR_KEY_TYPE_INCONSISTENT);
	assert_null(back);
	attrs_clear(&a);
	EVP_PKEY_free(k);
}

static void test_ec_private(void **state)
{
	EVP_PKEY *k = unit_ec_key("P-256"), *back = NULL;
	struct attrs a = ATTRS_INIT;
	static const uint8_t order_p256[] = {
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
	};

	(void)state;
	assert_int_equal(attrs_set(&a, CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)), CKR_OK);
	assert_int_equal(privkey_from_attrs(&a, CKK_EC, &back), CKR_TEMPLATE_INCOMPLETE);
	set_bn(&a, CKA_VALUE, k, OSSL_PKEY_PARAM_PRIV_KEY);
	/* the public point is derived from the scalar */
	assert_int_equal(privkey_from_attrs(&a, CKK_EC, &back), CKR_OK);
	assert_int_equal(EVP_PKEY_eq(back, k), 1);
	EVP_PKEY_free(back);
	back = NULL;
	/* scalars out of range */
	assert_int_equal(attrs_set(&a, CKA_VALUE, "\0", 1), CKR_OK);
	assert_int_equal(privkey_from_attrs(&a, CKK_EC, &back), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_VALUE, order_p256, sizeof(order_p256)), CKR_OK);
	assert_int_equal(privkey_from_attrs(&a, CKK_EC, &back), CKR_ATTRIBUTE_VALUE_INVALID);
	/* a curve we do not know */
	assert_int_equal(attrs_set(&a, CKA_VALUE, "\1", 1), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_EC_PARAMS, oid_p521, sizeof(oid_p521)), CKR_OK);
	assert_int_equal(privkey_from_attrs(&a, CKK_EC, &back), CKR_CURVE_NOT_SUPPORTED);
	assert_null(back);
	attrs_clear(&a);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_curves),
		cmocka_unit_test(test_point_decode),
		cmocka_unit_test(test_rsa_from_tpm),
		cmocka_unit_test(test_ec_from_tpm),
		cmocka_unit_test(test_rsa_private),
		cmocka_unit_test(test_ec_private),
	};

	unit_log_quiet();
	if (ossl_init() != CKR_OK)
		return 1;
	return cmocka_run_group_tests_name("pubkey", tests, NULL, NULL);
}
