/* tokens/object.c: what a template may say for each class and origin, the defaults,
 * the TPM private-key rules, certificate fields from the DER, and which changes
 * C_SetAttributeValue and C_CopyObject may make. */
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
#include "tokens/object.h"
#include "unit.h"

#define NOHINT CK_UNAVAILABLE_INFORMATION

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

static void set_class(struct attrs *t, CK_OBJECT_CLASS c)
{
	assert_int_equal(attrs_set_ulong(t, CKA_CLASS, c), CKR_OK);
}

static void want_bool(const struct attrs *t, CK_ATTRIBUTE_TYPE type, bool value)
{
	bool v;
	if (!attrs_bool(t, type, &v))
		fail_msg("%s is missing", attr_name(type));
	if (v != value)
		fail_msg("%s is %s", attr_name(type), v ? "TRUE" : "FALSE");
}

static void want_bytes(const struct attrs *t, CK_ATTRIBUTE_TYPE type, const void *value, size_t len)
{
	const CK_ATTRIBUTE *at = attrs_find(t, type);
	if (!at)
		fail_msg("%s is missing", attr_name(type));
	assert_int_equal(at->ulValueLen, len);
	if (len)
		assert_memory_equal(at->pValue, value, len);
}

/* Complete a template made of (type, bool) pairs on top of a base. */
static CK_RV complete_with(struct attrs *t, enum object_origin origin, CK_OBJECT_CLASS ch,
			   CK_KEY_TYPE kh, bool so, CK_ATTRIBUTE_TYPE type, bool value)
{
	assert_int_equal(attrs_set_bool(t, type, value), CKR_OK);
	return object_template_complete(t, origin, ch, kh, so);
}

/* ---- data ---- */

static void test_data_defaults(void **state)
{
	struct attrs t = ATTRS_INIT;

	(void)state;
	set_class(&t, CKO_DATA);
	assert_int_equal(attrs_set(&t, CKA_VALUE, "v", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	want_bool(&t, CKA_TOKEN, false);
	want_bool(&t, CKA_PRIVATE, false);
	want_bool(&t, CKA_MODIFIABLE, true);
	want_bool(&t, CKA_COPYABLE, true);
	want_bool(&t, CKA_DESTROYABLE, true);
	want_bytes(&t, CKA_LABEL, "", 0);
	want_bytes(&t, CKA_APPLICATION, "", 0);
	want_bytes(&t, CKA_OBJECT_ID, "", 0);
	want_bytes(&t, CKA_VALUE, "v", 1);
	attrs_clear(&t);
}

static void test_class_rules(void **state)
{
	struct attrs t = ATTRS_INIT;

	(void)state;
	/* no class */
	assert_int_equal(attrs_set(&t, CKA_LABEL, "x", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_TEMPLATE_INCOMPLETE);
	/* the hint fills it */
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, CKO_DATA, NOHINT, false), CKR_OK);
	assert_int_equal(attrs_get_ulong(&t, CKA_CLASS, 0), CKO_DATA);
	attrs_clear(&t);
	/* and must agree with it */
	set_class(&t, CKO_DATA);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, false),
			 CKR_TEMPLATE_INCONSISTENT);
	attrs_clear(&t);
	/* classes we do not make */
	set_class(&t, CKO_SECRET_KEY);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	attrs_clear(&t);
	set_class(&t, CKO_HW_FEATURE);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	attrs_clear(&t);
	/* an attribute of another class */
	set_class(&t, CKO_DATA);
	assert_int_equal(attrs_set(&t, CKA_MODULUS, "\1", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	attrs_clear(&t);
	set_class(&t, CKO_DATA);
	assert_int_equal(attrs_set_bool(&t, CKA_SIGN, true), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	attrs_clear(&t);
}

/* ---- certificates ---- */

static void test_certificate(void **state)
{
	struct attrs t = ATTRS_INIT;
	EVP_PKEY *k = unit_ec_key("P-256");
	size_t der_len, spki_len;
	unsigned char *der = unit_cert(k, "tpmha unit", 0x1234, &der_len), *spki = unit_spki(k, &spki_len);
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)der_len);
	unsigned char *name = NULL, *serial = NULL;
	int name_len = i2d_X509_NAME(X509_get_subject_name(x), &name);
	int serial_len = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &serial);
	uint8_t sha1[20];

	(void)state;
	/* no certificate type */
	set_class(&t, CKO_CERTIFICATE);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_TEMPLATE_INCOMPLETE);
	/* not X.509 */
	assert_int_equal(attrs_set_ulong(&t, CKA_CERTIFICATE_TYPE, CKC_WTLS), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	/* X.509 without a value */
	assert_int_equal(attrs_set_ulong(&t, CKA_CERTIFICATE_TYPE, CKC_X_509), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_TEMPLATE_INCOMPLETE);
	/* the DER gives subject, issuer, serial, key and check value */
	assert_int_equal(attrs_set(&t, CKA_VALUE, der, der_len), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_LABEL, "cert", 4), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	want_bytes(&t, CKA_SUBJECT, name, (size_t)name_len);
	want_bytes(&t, CKA_ISSUER, name, (size_t)name_len);
	want_bytes(&t, CKA_SERIAL_NUMBER, serial, (size_t)serial_len);
	want_bytes(&t, CKA_PUBLIC_KEY_INFO, spki, spki_len);
	assert_int_equal(hash_digest(HASH_SHA1, der, der_len, sha1), CKR_OK);
	want_bytes(&t, CKA_CHECK_VALUE, sha1, 3);
	want_bool(&t, CKA_TRUSTED, false);
	want_bool(&t, CKA_PRIVATE, false);
	want_bool(&t, CKA_TOKEN, false);
	assert_int_equal(attrs_get_ulong(&t, CKA_CERTIFICATE_CATEGORY, 9), 0);
	assert_int_equal(attrs_get_ulong(&t, CKA_NAME_HASH_ALGORITHM, 0), CKM_SHA_1);
	want_bytes(&t, CKA_ID, "", 0);
	want_bytes(&t, CKA_LABEL, "cert", 4);
	attrs_clear(&t);

	/* what the template says wins over the DER */
	set_class(&t, CKO_CERTIFICATE);
	assert_int_equal(attrs_set_ulong(&t, CKA_CERTIFICATE_TYPE, CKC_X_509), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_VALUE, der, der_len), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_SUBJECT, "given", 5), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	want_bytes(&t, CKA_SUBJECT, "given", 5);
	want_bytes(&t, CKA_ISSUER, name, (size_t)name_len);
	attrs_clear(&t);

	/* a value that is not DER needs the subject given */
	set_class(&t, CKO_CERTIFICATE);
	assert_int_equal(attrs_set_ulong(&t, CKA_CERTIFICATE_TYPE, CKC_X_509), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_VALUE, der, der_len - 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(attrs_set(&t, CKA_SUBJECT, "s", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	attrs_clear(&t);

	/* CKA_TRUSTED = TRUE is for the SO only */
	set_class(&t, CKO_CERTIFICATE);
	assert_int_equal(attrs_set_ulong(&t, CKA_CERTIFICATE_TYPE, CKC_X_509), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_VALUE, der, der_len), CKR_OK);
	assert_int_equal(complete_with(&t, ORIGIN_CREATE, NOHINT, NOHINT, false, CKA_TRUSTED, true),
			 CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, true), CKR_OK);
	want_bool(&t, CKA_TRUSTED, true);
	attrs_clear(&t);
	set_class(&t, CKO_CERTIFICATE);
	assert_int_equal(attrs_set_ulong(&t, CKA_CERTIFICATE_TYPE, CKC_X_509), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_VALUE, der, der_len), CKR_OK);
	assert_int_equal(complete_with(&t, ORIGIN_CREATE, NOHINT, NOHINT, false, CKA_TRUSTED, false), CKR_OK);
	attrs_clear(&t);

	OPENSSL_free(name);
	OPENSSL_free(serial);
	OPENSSL_free(spki);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* ---- public keys ---- */

static void rsa_public_template(struct attrs *t, EVP_PKEY *k)
{
	size_t n_len, e_len;
	unsigned char *n = unit_key_bn(k, OSSL_PKEY_PARAM_RSA_N, &n_len);
	unsigned char *e = unit_key_bn(k, OSSL_PKEY_PARAM_RSA_E, &e_len);

	set_class(t, CKO_PUBLIC_KEY);
	assert_int_equal(attrs_set_ulong(t, CKA_KEY_TYPE, CKK_RSA), CKR_OK);
	assert_int_equal(attrs_set(t, CKA_MODULUS, n, n_len), CKR_OK);
	assert_int_equal(attrs_set(t, CKA_PUBLIC_EXPONENT, e, e_len), CKR_OK);
	free(n);
	free(e);
}

static void test_public_key_create(void **state)
{
	struct attrs t = ATTRS_INIT;
	EVP_PKEY *rsa = unit_rsa_key(2048), *ec = unit_ec_key("P-256");
	size_t spki_len, point_len;
	unsigned char *spki = unit_spki(rsa, &spki_len), *point = unit_ec_point(ec, &point_len);
	uint8_t der_point[2 + 65];

	(void)state;
	rsa_public_template(&t, rsa);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	assert_int_equal(attrs_get_ulong(&t, CKA_MODULUS_BITS, 0), 2048);
	want_bytes(&t, CKA_PUBLIC_KEY_INFO, spki, spki_len);
	want_bool(&t, CKA_ENCRYPT, true);
	want_bool(&t, CKA_VERIFY, true);
	want_bool(&t, CKA_VERIFY_RECOVER, false);
	want_bool(&t, CKA_WRAP, false);
	want_bool(&t, CKA_DERIVE, false);
	want_bool(&t, CKA_PRIVATE, false);
	want_bool(&t, CKA_TRUSTED, false);
	want_bool(&t, CKA_LOCAL, false);
	assert_int_equal(attrs_get_ulong(&t, CKA_KEY_GEN_MECHANISM, 0), CK_UNAVAILABLE_INFORMATION);
	want_bytes(&t, CKA_ID, "", 0);
	want_bytes(&t, CKA_SUBJECT, "", 0);
	attrs_clear(&t);

	/* computed attributes are the token's */
	rsa_public_template(&t, rsa);
	assert_int_equal(complete_with(&t, ORIGIN_CREATE, NOHINT, NOHINT, false, CKA_LOCAL, false),
			 CKR_ATTRIBUTE_READ_ONLY);
	attrs_clear(&t);
	rsa_public_template(&t, rsa);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_GEN_MECHANISM, CKM_RSA_PKCS_KEY_PAIR_GEN), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_READ_ONLY);
	attrs_clear(&t);
	/* a private-key attribute on a public key */
	rsa_public_template(&t, rsa);
	assert_int_equal(complete_with(&t, ORIGIN_CREATE, NOHINT, NOHINT, false, CKA_SIGN, true),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	attrs_clear(&t);
	/* key material missing */
	set_class(&t, CKO_PUBLIC_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_RSA), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_PUBLIC_EXPONENT, "\1\0\1", 3), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_TEMPLATE_INCOMPLETE);
	attrs_clear(&t);
	/* no key type, and one we do not do */
	set_class(&t, CKO_PUBLIC_KEY);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_DSA), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	attrs_clear(&t);

	/* EC: the point as DER OCTET STRING */
	der_point[0] = 0x04;
	der_point[1] = 65;
	assert_int_equal(point_len, 65);
	memcpy(der_point + 2, point, 65);
	set_class(&t, CKO_PUBLIC_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_EC_POINT, der_point, sizeof(der_point)), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	want_bool(&t, CKA_ENCRYPT, false);
	want_bool(&t, CKA_VERIFY, true);
	OPENSSL_free(spki);
	spki = unit_spki(ec, &spki_len);
	want_bytes(&t, CKA_PUBLIC_KEY_INFO, spki, spki_len);
	attrs_clear(&t);
	/* a point off the curve */
	der_point[40] ^= 1;
	set_class(&t, CKO_PUBLIC_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_EC_POINT, der_point, sizeof(der_point)), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	attrs_clear(&t);
	/* an unknown curve */
	der_point[40] ^= 1;
	set_class(&t, CKO_PUBLIC_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_EC_PARAMS, "\x06\x03\x2b\x65\x70", 5), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_EC_POINT, der_point, sizeof(der_point)), CKR_OK);
	{
		CK_RV rv = object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false);
		assert_true(rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_CURVE_NOT_SUPPORTED);
	}
	attrs_clear(&t);

	/* generation: the TPM makes the key material, the template may not */
	assert_int_equal(attrs_set_ulong(&t, CKA_MODULUS_BITS, 2048), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, false), CKR_OK);
	assert_int_equal(attrs_get_ulong(&t, CKA_KEY_TYPE, 0), CKK_RSA);
	assert_null(attrs_find(&t, CKA_LOCAL)); /* set by key generation itself */
	attrs_clear(&t);
	assert_int_equal(attrs_set(&t, CKA_MODULUS, "\1\2", 2), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, false),
			 CKR_TEMPLATE_INCONSISTENT);
	attrs_clear(&t);
	assert_int_equal(attrs_set(&t, CKA_EC_POINT, der_point, sizeof(der_point)), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PUBLIC_KEY, CKK_EC, false),
			 CKR_TEMPLATE_INCONSISTENT);
	attrs_clear(&t);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, false),
			 CKR_TEMPLATE_INCONSISTENT);
	attrs_clear(&t);

	free(point);
	OPENSSL_free(spki);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

/* ---- private keys ---- */

static void test_private_key_generate(void **state)
{
	struct attrs t = ATTRS_INIT;
	static const struct {
		CK_ATTRIBUTE_TYPE type;
		bool value;
		CK_RV rv;
	} rules[] = {
		{ CKA_PRIVATE, false, CKR_ATTRIBUTE_VALUE_INVALID },
		{ CKA_SENSITIVE, false, CKR_ATTRIBUTE_VALUE_INVALID },
		/* extractable or not is the token's to decide (a migration domain or not):
		 * tokens/create.c, tested through the module */
		{ CKA_EXTRACTABLE, true, CKR_OK },
		{ CKA_ALWAYS_AUTHENTICATE, true, CKR_ATTRIBUTE_VALUE_INVALID },
		{ CKA_ALWAYS_SENSITIVE, true, CKR_ATTRIBUTE_READ_ONLY },
		{ CKA_NEVER_EXTRACTABLE, true, CKR_ATTRIBUTE_READ_ONLY },
		{ CKA_LOCAL, true, CKR_ATTRIBUTE_READ_ONLY },
		{ CKA_ENCRYPT, true, CKR_ATTRIBUTE_TYPE_INVALID },
		{ CKA_PRIVATE, true, CKR_OK },
		{ CKA_SENSITIVE, true, CKR_OK },
		{ CKA_EXTRACTABLE, false, CKR_OK },
		{ CKA_SIGN, false, CKR_OK },
	};

	(void)state;
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PRIVATE_KEY, CKK_RSA, false), CKR_OK);
	assert_int_equal(attrs_get_ulong(&t, CKA_CLASS, 0), CKO_PRIVATE_KEY);
	want_bool(&t, CKA_PRIVATE, true);
	want_bool(&t, CKA_SENSITIVE, true);
	want_bool(&t, CKA_ALWAYS_SENSITIVE, true);
	want_bool(&t, CKA_EXTRACTABLE, false);
	want_bool(&t, CKA_NEVER_EXTRACTABLE, true);
	want_bool(&t, CKA_SIGN, true);
	want_bool(&t, CKA_DECRYPT, true);
	want_bool(&t, CKA_UNWRAP, false);
	want_bool(&t, CKA_SIGN_RECOVER, false);
	want_bool(&t, CKA_ALWAYS_AUTHENTICATE, false);
	want_bool(&t, CKA_TOKEN, false);
	attrs_clear(&t);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PRIVATE_KEY, CKK_EC, false), CKR_OK);
	want_bool(&t, CKA_DECRYPT, false);
	attrs_clear(&t);

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		CK_RV rv = complete_with(&t, ORIGIN_GENERATE, CKO_PRIVATE_KEY, CKK_RSA, false, rules[i].type,
					 rules[i].value);
		if (rv != rules[i].rv)
			fail_msg("%s = %d: 0x%lx, expected 0x%lx", attr_name(rules[i].type), rules[i].value,
				 rv, rules[i].rv);
		attrs_clear(&t);
	}
	/* key material cannot come with generation */
	assert_int_equal(attrs_set(&t, CKA_PRIVATE_EXPONENT, "\1", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PRIVATE_KEY, CKK_RSA, false),
			 CKR_ATTRIBUTE_READ_ONLY);
	attrs_clear(&t);
	assert_int_equal(attrs_set(&t, CKA_VALUE, "\1", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PRIVATE_KEY, CKK_EC, false),
			 CKR_ATTRIBUTE_READ_ONLY);
	attrs_clear(&t);
	assert_int_equal(attrs_set(&t, CKA_MODULUS, "\1", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_GENERATE, CKO_PRIVATE_KEY, CKK_RSA, false),
			 CKR_TEMPLATE_INCONSISTENT);
	attrs_clear(&t);
}

static void test_private_key_import(void **state)
{
	struct attrs t = ATTRS_INIT;

	(void)state;
	set_class(&t, CKO_PRIVATE_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_RSA), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_PRIVATE_EXPONENT, "\1", 1), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_PRIME_1, "\1", 1), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_COEFFICIENT, "\1", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	/* an imported key was not always sensitive, never local */
	want_bool(&t, CKA_ALWAYS_SENSITIVE, false);
	want_bool(&t, CKA_NEVER_EXTRACTABLE, false);
	want_bool(&t, CKA_LOCAL, false);
	want_bool(&t, CKA_SENSITIVE, true);
	want_bool(&t, CKA_PRIVATE, true);
	attrs_clear(&t);
	set_class(&t, CKO_PRIVATE_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_VALUE, "\1", 1), CKR_OK);
	assert_int_equal(complete_with(&t, ORIGIN_CREATE, NOHINT, NOHINT, false, CKA_SENSITIVE, false),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	attrs_clear(&t);
	set_class(&t, CKO_PRIVATE_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(complete_with(&t, ORIGIN_CREATE, NOHINT, NOHINT, false, CKA_EXTRACTABLE, true),
			 CKR_OK);
	attrs_clear(&t);
	/* RSA components on an EC key */
	set_class(&t, CKO_PRIVATE_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_PRIME_1, "\1", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	attrs_clear(&t);
	/* unwrapped keys (migration) may be extractable: the domain decides */
	assert_int_equal(complete_with(&t, ORIGIN_UNWRAP, CKO_PRIVATE_KEY, CKK_EC, false, CKA_EXTRACTABLE, true),
			 CKR_OK);
	attrs_clear(&t);
	/* a copy cannot bring key material either */
	set_class(&t, CKO_PRIVATE_KEY);
	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_VALUE, "\1", 1), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_COPY, NOHINT, NOHINT, false), CKR_ATTRIBUTE_READ_ONLY);
	attrs_clear(&t);
}

/* ---- reading and changing objects ---- */

static struct object *make_object(struct attrs *t)
{
	struct object *o = object_new();

	assert_non_null(o);
	assert_int_equal(o->refs, 1);
	o->attrs = *t;
	memset(t, 0, sizeof(*t));
	object_cache_flags(o);
	return o;
}

static struct object *private_key_object(bool extractable, bool copyable)
{
	struct attrs t = ATTRS_INIT;
	CK_MECHANISM_TYPE allowed[] = { CKM_ECDSA, CKM_ECDSA_SHA256 };

	assert_int_equal(attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_EC), CKR_OK);
	assert_int_equal(attrs_set_bool(&t, CKA_TOKEN, true), CKR_OK);
	assert_int_equal(attrs_set_bool(&t, CKA_COPYABLE, copyable), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)), CKR_OK);
	assert_int_equal(attrs_set(&t, CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)), CKR_OK);
	assert_int_equal(object_template_complete(&t, ORIGIN_UNWRAP, CKO_PRIVATE_KEY, CKK_EC, false), CKR_OK);
	assert_int_equal(attrs_set_bool(&t, CKA_EXTRACTABLE, extractable), CKR_OK);
	return make_object(&t);
}

static void test_object_flags_and_read(void **state)
{
	struct object *o = private_key_object(false, true);
	CK_ATTRIBUTE want;
	uint8_t buf[64];

	(void)state;
	assert_int_equal(o->klass, CKO_PRIVATE_KEY);
	assert_int_equal(o->key_type, CKK_EC);
	assert_true(o->on_token);
	assert_true(o->is_private);
	/* key material is sensitive even when absent */
	want = (CK_ATTRIBUTE){ CKA_VALUE, buf, sizeof(buf) };
	assert_int_equal(object_get_attribute(o, &want), CKR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(want.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	want = (CK_ATTRIBUTE){ CKA_MODULUS, buf, sizeof(buf) };
	assert_int_equal(object_get_attribute(o, &want), CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(want.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	want = (CK_ATTRIBUTE){ CKA_EC_PARAMS, buf, 3 };
	assert_int_equal(object_get_attribute(o, &want), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(want.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	want = (CK_ATTRIBUTE){ CKA_EC_PARAMS, NULL, 0 };
	assert_int_equal(object_get_attribute(o, &want), CKR_OK);
	assert_int_equal(want.ulValueLen, sizeof(oid_p256));
	assert_true(object_mechanism_allowed(o, CKM_ECDSA));
	assert_true(object_mechanism_allowed(o, CKM_ECDSA_SHA256));
	assert_false(object_mechanism_allowed(o, CKM_ECDSA_SHA384));
	assert_true(object_size(o) > 0);
	object_free(o);
	object_free(NULL);
}

static CK_RV change(const struct object *o, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG len, bool copy, bool so)
{
	struct attrs c = ATTRS_INIT;
	CK_RV rv;

	assert_int_equal(attrs_set(&c, type, v, len), CKR_OK);
	rv = object_check_changes(o, &c, copy, so);
	attrs_clear(&c);
	return rv;
}

static CK_RV change_bool(const struct object *o, CK_ATTRIBUTE_TYPE type, bool v, bool copy, bool so)
{
	CK_BBOOL b = v ? CK_TRUE : CK_FALSE;
	return change(o, type, &b, 1, copy, so);
}

static void test_check_changes_data(void **state)
{
	struct attrs t = ATTRS_INIT;
	struct object *o;
	CK_ULONG cert = CKO_CERTIFICATE, data = CKO_DATA;

	(void)state;
	set_class(&t, CKO_DATA);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	o = make_object(&t);
	assert_int_equal(change(o, CKA_LABEL, "new", 3, false, false), CKR_OK);
	assert_int_equal(change(o, CKA_VALUE, "new", 3, false, false), CKR_OK);
	assert_int_equal(change(o, CKA_APPLICATION, "app", 3, false, false), CKR_OK);
	assert_int_equal(change(o, CKA_CLASS, &cert, sizeof(cert), false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change(o, CKA_CLASS, &cert, sizeof(cert), true, false), CKR_ATTRIBUTE_READ_ONLY);
	/* restating the current value is no change */
	assert_int_equal(change(o, CKA_CLASS, &data, sizeof(data), false, false), CKR_OK);
	/* TOKEN, PRIVATE, MODIFIABLE, DESTROYABLE: by a copy only */
	assert_int_equal(change_bool(o, CKA_TOKEN, true, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_TOKEN, true, true, false), CKR_OK);
	assert_int_equal(change_bool(o, CKA_PRIVATE, true, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_PRIVATE, true, true, false), CKR_OK);
	assert_int_equal(change_bool(o, CKA_MODIFIABLE, false, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_MODIFIABLE, false, true, false), CKR_OK);
	assert_int_equal(change_bool(o, CKA_DESTROYABLE, false, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_DESTROYABLE, false, true, false), CKR_OK);
	/* COPYABLE only TRUE → FALSE */
	assert_int_equal(change_bool(o, CKA_COPYABLE, false, false, false), CKR_OK);
	/* an attribute data objects do not have */
	assert_int_equal(change_bool(o, CKA_SIGN, true, false, false), CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(change(o, CKA_MODULUS, "\1", 1, true, false), CKR_ATTRIBUTE_TYPE_INVALID);
	object_free(o);
}

static void test_check_changes_keys(void **state)
{
	struct object *o = private_key_object(false, false), *x = private_key_object(true, true);
	struct attrs t = ATTRS_INIT;
	EVP_PKEY *rsa = unit_rsa_key(2048);

	(void)state;
	/* SENSITIVE only FALSE → TRUE: it is TRUE here */
	assert_int_equal(change_bool(o, CKA_SENSITIVE, false, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_SENSITIVE, false, true, false), CKR_ATTRIBUTE_READ_ONLY);
	/* EXTRACTABLE only TRUE → FALSE */
	assert_int_equal(change_bool(o, CKA_EXTRACTABLE, true, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(x, CKA_EXTRACTABLE, false, false, false), CKR_OK);
	/* COPYABLE cannot come back */
	assert_int_equal(change_bool(o, CKA_COPYABLE, true, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_COPYABLE, true, true, false), CKR_ATTRIBUTE_READ_ONLY);
	/* WRAP_WITH_TRUSTED only FALSE → TRUE */
	assert_int_equal(change_bool(o, CKA_WRAP_WITH_TRUSTED, true, false, false), CKR_OK);
	/* usage flags may change */
	assert_int_equal(change_bool(o, CKA_SIGN, false, false, false), CKR_OK);
	assert_int_equal(change(o, CKA_ID, "id", 2, false, false), CKR_OK);
	assert_int_equal(change(o, CKA_SUBJECT, "s", 1, false, false), CKR_OK);
	/* derived and computed attributes may not */
	assert_int_equal(change(o, CKA_EC_PARAMS, "\6\1\1", 3, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_ALWAYS_SENSITIVE, false, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_LOCAL, true, true, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change(o, CKA_VALUE, "\1", 1, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_ALWAYS_AUTHENTICATE, true, false, false), CKR_ATTRIBUTE_READ_ONLY);
	/* a TPM key stays private, even in a copy */
	assert_int_equal(change_bool(o, CKA_PRIVATE, false, true, false), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(change_bool(o, CKA_TOKEN, false, true, false), CKR_OK);
	/* a public-key attribute on a private key */
	assert_int_equal(change_bool(o, CKA_VERIFY, true, false, false), CKR_ATTRIBUTE_TYPE_INVALID);
	object_free(o);
	object_free(x);

	/* public keys: CKA_TRUSTED is the SO's */
	rsa_public_template(&t, rsa);
	assert_int_equal(object_template_complete(&t, ORIGIN_CREATE, NOHINT, NOHINT, false), CKR_OK);
	o = make_object(&t);
	assert_int_equal(change_bool(o, CKA_TRUSTED, true, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_TRUSTED, true, true, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_TRUSTED, true, false, true), CKR_OK);
	assert_int_equal(change(o, CKA_MODULUS, "\1", 1, false, false), CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(change_bool(o, CKA_ENCRYPT, false, false, false), CKR_OK);
	assert_int_equal(change_bool(o, CKA_PRIVATE, true, true, false), CKR_OK);
	assert_int_equal(change_bool(o, CKA_SIGN, true, false, false), CKR_ATTRIBUTE_TYPE_INVALID);
	{
		/* several changes: the first bad one decides */
		struct attrs c = ATTRS_INIT;
		assert_int_equal(attrs_set(&c, CKA_LABEL, "ok", 2), CKR_OK);
		assert_int_equal(attrs_set(&c, CKA_MODULUS, "\1", 1), CKR_OK);
		assert_int_equal(object_check_changes(o, &c, false, false), CKR_ATTRIBUTE_READ_ONLY);
		attrs_clear(&c);
	}
	object_free(o);
	EVP_PKEY_free(rsa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_defaults),
		cmocka_unit_test(test_class_rules),
		cmocka_unit_test(test_certificate),
		cmocka_unit_test(test_public_key_create),
		cmocka_unit_test(test_private_key_generate),
		cmocka_unit_test(test_private_key_import),
		cmocka_unit_test(test_object_flags_and_read),
		cmocka_unit_test(test_check_changes_data),
		cmocka_unit_test(test_check_changes_keys),
	};

	unit_log_quiet();
	if (ossl_init() != CKR_OK)
		return 1;
	return cmocka_run_group_tests_name("object", tests, NULL, NULL);
}
