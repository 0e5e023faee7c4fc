/* Objects (PKCS#11 v2.40 §4 and §5.7): C_CreateObject for data, certificates and
 * public keys; C_GetAttributeValue's rules; C_SetAttributeValue, C_CopyObject and
 * C_DestroyObject where the spec allows and refuses; C_GetObjectSize; C_FindObjects
 * with templates and in chunks; private objects invisible without login; session
 * objects shared by the application's sessions and gone with their session. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "p11t.h"

static CK_SLOT_ID slot;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static CK_ULONG count_all(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_OBJECT_HANDLE found[256];
	return p11t_find(h, t, n, found, 256);
}

static uint8_t *make_cert(EVP_PKEY *k, const char *cn, long serial, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint8_t *der = NULL;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	*len = (size_t)i2d_X509(x, &der);
	X509_NAME_free(name);
	X509_free(x);
	return der;
}

static bool attr_is(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, const void *v, size_t len)
{
	CK_ULONG got_len = 0;
	uint8_t *got = p11t_attr(h, o, type, &got_len);
	bool same = got && got_len == len && (!len || memcmp(got, v, len) == 0);

	free(got);
	return same;
}

static void test_create_errors(CK_SESSION_HANDLE rw, CK_SESSION_HANDLE ro)
{
	CK_OBJECT_CLASS data = CKO_DATA, secret = CKO_SECRET_KEY;
	CK_BYTE two[2] = { 1, 0 };
	CK_OBJECT_HANDLE o;
	CK_ATTRIBUTE no_class[] = { { CKA_LABEL, "x", 1 } };
	CK_ATTRIBUTE unknown[] = { { CKA_CLASS, &data, sizeof(data) }, { 0x7fff1234, "x", 1 } };
	CK_ATTRIBUTE badbool[] = { { CKA_CLASS, &data, sizeof(data) }, { CKA_TOKEN, two, 2 } };
	CK_ATTRIBUTE badclass[] = { { CKA_CLASS, &data, 3 } };
	CK_ATTRIBUTE sec[] = { { CKA_CLASS, &secret, sizeof(secret) } };
	CK_ATTRIBUTE foreign[] = { { CKA_CLASS, &data, sizeof(data) }, { CKA_MODULUS, "\1", 1 } };
	CK_ATTRIBUTE token_obj[] = { { CKA_CLASS, &data, sizeof(data) }, { CKA_TOKEN, (void *)&yes, 1 } };
	CK_ATTRIBUTE session_obj[] = { { CKA_CLASS, &data, sizeof(data) }, { CKA_TOKEN, (void *)&no, 1 } };
	CK_ATTRIBUTE conflicting[] = { { CKA_CLASS, &data, sizeof(data) }, { CKA_TOKEN, (void *)&yes, 1 },
				       { CKA_TOKEN, (void *)&no, 1 } };

	t_rv(F->C_CreateObject(rw, NULL, 1, &o), CKR_ARGUMENTS_BAD, "C_CreateObject(NULL template)");
	t_rv(F->C_CreateObject(rw, session_obj, 2, NULL), CKR_ARGUMENTS_BAD, "C_CreateObject(NULL handle)");
	t_rv(F->C_CreateObject(rw, no_class, 1, &o), CKR_TEMPLATE_INCOMPLETE, "C_CreateObject without CKA_CLASS");
	t_rv(F->C_CreateObject(rw, unknown, 2, &o), CKR_ATTRIBUTE_TYPE_INVALID, "C_CreateObject(unknown attribute)");
	t_rv(F->C_CreateObject(rw, badbool, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID, "C_CreateObject(2-byte CK_BBOOL)");
	t_rv(F->C_CreateObject(rw, badclass, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID, "C_CreateObject(3-byte CKA_CLASS)");
	t_rv(F->C_CreateObject(rw, conflicting, 3, &o), CKR_TEMPLATE_INCONSISTENT,
	     "C_CreateObject(CKA_TOKEN twice, differently)");
	t_rv(F->C_CreateObject(rw, foreign, 2, &o), CKR_ATTRIBUTE_TYPE_INVALID, "C_CreateObject(data with CKA_MODULUS)");
	{
		CK_RV rv = F->C_CreateObject(rw, sec, 1, &o);
		t_ok(rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT,
		     "C_CreateObject(CKO_SECRET_KEY) refused: %s", ckr(rv));
	}
	t_rv(F->C_CreateObject(ro, token_obj, 2, &o), CKR_SESSION_READ_ONLY, "C_CreateObject(token object, RO session)");
	t_rv(F->C_CreateObject(ro, session_obj, 2, &o), CKR_OK, "C_CreateObject(session object, RO session)");
	MUST(F->C_DestroyObject(ro, o));
}

static void test_data_objects(CK_SESSION_HANDLE rw)
{
	CK_OBJECT_CLASS klass = CKO_DATA;
	CK_OBJECT_HANDLE o;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) }, { CKA_TOKEN, (void *)&yes, 1 },
		{ CKA_LABEL, "a data object", 13 }, { CKA_APPLICATION, "tpmha tests", 11 },
		{ CKA_OBJECT_ID, "\x06\x03\x2a\x03\x04", 5 }, { CKA_VALUE, "payload", 7 },
	};

	t_rv(F->C_CreateObject(rw, t, 6, &o), CKR_OK, "C_CreateObject(data)");
	t_ok(attr_is(rw, o, CKA_VALUE, "payload", 7), "CKA_VALUE reads back");
	t_ok(attr_is(rw, o, CKA_APPLICATION, "tpmha tests", 11), "CKA_APPLICATION reads back");
	t_ok(attr_is(rw, o, CKA_OBJECT_ID, "\x06\x03\x2a\x03\x04", 5), "CKA_OBJECT_ID reads back");
	t_ok(p11t_attr_bool(rw, o, CKA_TOKEN), "CKA_TOKEN TRUE");
	t_ok(!p11t_attr_bool(rw, o, CKA_PRIVATE), "CKA_PRIVATE defaults to FALSE for data");
	t_ok(p11t_attr_bool(rw, o, CKA_MODIFIABLE), "CKA_MODIFIABLE defaults to TRUE");
	t_ok(p11t_attr_bool(rw, o, CKA_DESTROYABLE), "CKA_DESTROYABLE defaults to TRUE");
	t_eq(p11t_attr_ulong(rw, o, CKA_CLASS), CKO_DATA, "CKA_CLASS");
}

static void test_get_attribute(CK_SESSION_HANDLE rw, CK_OBJECT_HANDLE data, CK_OBJECT_HANDLE priv)
{
	CK_OBJECT_CLASS klass = 0;
	char label[64], value[4];
	CK_BYTE key[128];
	CK_ATTRIBUTE t[3];

	t_rv(F->C_GetAttributeValue(rw, data, NULL, 1), CKR_ARGUMENTS_BAD, "C_GetAttributeValue(NULL template)");
	t[0] = (CK_ATTRIBUTE){ CKA_CLASS, &klass, sizeof(klass) };
	t_rv(F->C_GetAttributeValue(rw, 0x7ffffff0, t, 1), CKR_OBJECT_HANDLE_INVALID, "C_GetAttributeValue(bad handle)");
	t_rv(F->C_GetAttributeValue(rw, CK_INVALID_HANDLE, t, 1), CKR_OBJECT_HANDLE_INVALID,
	     "C_GetAttributeValue(handle 0)");
	t_rv(F->C_GetAttributeValue(rw, data, t, 0), CKR_OK, "C_GetAttributeValue with no attributes");

	/* lengths with NULL buffers */
	t[0] = (CK_ATTRIBUTE){ CKA_LABEL, NULL, 0 };
	t[1] = (CK_ATTRIBUTE){ CKA_VALUE, NULL, 12345 };
	t_rv(F->C_GetAttributeValue(rw, data, t, 2), CKR_OK, "C_GetAttributeValue(NULL buffers)");
	t_eq(t[0].ulValueLen, 13, "... CKA_LABEL length");
	t_eq(t[1].ulValueLen, 7, "... CKA_VALUE length");

	/* a short buffer: CKR_BUFFER_TOO_SMALL, CK_UNAVAILABLE_INFORMATION (v2.40 §5.7 rule 6), the rest filled */
	t[0] = (CK_ATTRIBUTE){ CKA_LABEL, label, sizeof(label) };
	t[1] = (CK_ATTRIBUTE){ CKA_VALUE, value, sizeof(value) };
	t[2] = (CK_ATTRIBUTE){ CKA_CLASS, &klass, sizeof(klass) };
	t_rv(F->C_GetAttributeValue(rw, data, t, 3), CKR_BUFFER_TOO_SMALL, "C_GetAttributeValue(short buffer)");
	t_eq(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION, "... its length is CK_UNAVAILABLE_INFORMATION");
	t_ok(t[0].ulValueLen == 13 && memcmp(label, "a data object", 13) == 0, "... the label before it is filled");
	t_ok(t[2].ulValueLen == sizeof(klass) && klass == CKO_DATA, "... the class after it is filled");

	/* an attribute the object does not have */
	klass = 0;
	t[0] = (CK_ATTRIBUTE){ CKA_LABEL, label, sizeof(label) };
	t[1] = (CK_ATTRIBUTE){ CKA_MODULUS, key, sizeof(key) };
	t[2] = (CK_ATTRIBUTE){ CKA_CLASS, &klass, sizeof(klass) };
	t_rv(F->C_GetAttributeValue(rw, data, t, 3), CKR_ATTRIBUTE_TYPE_INVALID, "C_GetAttributeValue(CKA_MODULUS of data)");
	t_eq(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION, "... its length is CK_UNAVAILABLE_INFORMATION");
	t_ok(t[0].ulValueLen == 13 && t[2].ulValueLen == sizeof(klass) && klass == CKO_DATA,
	     "... the others are filled");
	t[1] = (CK_ATTRIBUTE){ 0x7fff1234, key, sizeof(key) };
	t_rv(F->C_GetAttributeValue(rw, data, t, 3), CKR_ATTRIBUTE_TYPE_INVALID, "C_GetAttributeValue(unknown type)");
	t_eq(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION, "... length CK_UNAVAILABLE_INFORMATION");

	/* sensitive */
	klass = 0;
	t[0] = (CK_ATTRIBUTE){ CKA_VALUE, key, sizeof(key) };
	t[1] = (CK_ATTRIBUTE){ CKA_CLASS, &klass, sizeof(klass) };
	t_rv(F->C_GetAttributeValue(rw, priv, t, 2), CKR_ATTRIBUTE_SENSITIVE, "C_GetAttributeValue(EC CKA_VALUE)");
	t_eq(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION, "... length CK_UNAVAILABLE_INFORMATION");
	t_ok(klass == CKO_PRIVATE_KEY, "... the class is filled");
	t[0] = (CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 };
	t_rv(F->C_GetAttributeValue(rw, priv, t, 1), CKR_ATTRIBUTE_SENSITIVE, "... also when asking the length only");
	t_eq(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION, "... length CK_UNAVAILABLE_INFORMATION");
	t_ok(p11t_attr_bool(rw, priv, CKA_SENSITIVE), "the private key is CKA_SENSITIVE");
	t_ok(!p11t_attr_bool(rw, priv, CKA_EXTRACTABLE), "and not CKA_EXTRACTABLE");
	t_ok(p11t_attr_bool(rw, priv, CKA_ALWAYS_SENSITIVE), "CKA_ALWAYS_SENSITIVE");
	t_ok(p11t_attr_bool(rw, priv, CKA_NEVER_EXTRACTABLE), "CKA_NEVER_EXTRACTABLE");
	t_ok(p11t_attr_bool(rw, priv, CKA_LOCAL), "CKA_LOCAL");
	t_eq(p11t_attr_ulong(rw, priv, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN, "CKA_KEY_GEN_MECHANISM");
}

static void test_certificate(CK_SESSION_HANDLE rw, CK_SESSION_HANDLE so_h)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	size_t der_len;
	uint8_t *der = make_cert(k, "tpmha object test", 4242, &der_len);
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)der_len);
	unsigned char *subj = NULL, *serial = NULL;
	int subj_len = i2d_X509_NAME(X509_get_subject_name(x), &subj);
	int serial_len = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &serial);
	CK_OBJECT_CLASS klass = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_OBJECT_HANDLE o, o2;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) }, { CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
		{ CKA_TOKEN, (void *)&yes, 1 }, { CKA_LABEL, "cert", 4 }, { CKA_ID, "\x01\x02", 2 },
		{ CKA_VALUE, der, der_len }, { CKA_TRUSTED, (void *)&yes, 1 },
	};

	t_rv(F->C_CreateObject(rw, t, 6, &o), CKR_OK, "C_CreateObject(X.509 certificate)");
	t_ok(attr_is(rw, o, CKA_SUBJECT, subj, (size_t)subj_len), "CKA_SUBJECT from the DER");
	t_ok(attr_is(rw, o, CKA_ISSUER, subj, (size_t)subj_len), "CKA_ISSUER from the DER");
	t_ok(attr_is(rw, o, CKA_SERIAL_NUMBER, serial, (size_t)serial_len), "CKA_SERIAL_NUMBER from the DER");
	t_ok(attr_is(rw, o, CKA_VALUE, der, der_len), "CKA_VALUE");
	t_eq(p11t_attr_ulong(rw, o, CKA_CERTIFICATE_TYPE), CKC_X_509, "CKA_CERTIFICATE_TYPE");
	t_ok(!p11t_attr_bool(rw, o, CKA_TRUSTED), "CKA_TRUSTED FALSE");
	t_rv(F->C_CreateObject(rw, t, 7, &o2), CKR_ATTRIBUTE_READ_ONLY, "C_CreateObject(CKA_TRUSTED TRUE) by the user");
	{
		CK_ATTRIBUTE trust[] = { { CKA_TRUSTED, (void *)&yes, 1 } };
		CK_ATTRIBUTE value[] = { { CKA_VALUE, der, der_len - 1 } };
		t_rv(F->C_SetAttributeValue(rw, o, trust, 1), CKR_ATTRIBUTE_READ_ONLY, "the user cannot set CKA_TRUSTED");
		t_rv(F->C_SetAttributeValue(rw, o, value, 1), CKR_ATTRIBUTE_READ_ONLY, "a certificate's CKA_VALUE is fixed");
		if (so_h != CK_INVALID_HANDLE) {
			t_rv(F->C_SetAttributeValue(so_h, o, trust, 1), CKR_OK, "the SO sets CKA_TRUSTED");
			t_ok(p11t_attr_bool(so_h, o, CKA_TRUSTED), "... and it reads back");
		}
	}
	{
		CK_ATTRIBUTE no_value[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) } };
		CK_CERTIFICATE_TYPE wtls = CKC_WTLS;
		CK_ATTRIBUTE other[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_CERTIFICATE_TYPE, &wtls, sizeof(wtls) },
					 { CKA_VALUE, der, der_len } };
		t_rv(F->C_CreateObject(rw, no_value, 2, &o2), CKR_TEMPLATE_INCOMPLETE, "C_CreateObject(certificate without CKA_VALUE)");
		t_rv(F->C_CreateObject(rw, other, 3, &o2), CKR_ATTRIBUTE_VALUE_INVALID, "C_CreateObject(WTLS certificate)");
		t_rv(F->C_CreateObject(rw, t, 2, &o2), CKR_TEMPLATE_INCOMPLETE, "C_CreateObject(certificate, no value)");
	}
	OPENSSL_free(subj);
	OPENSSL_free(serial);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* A public key given by value verifies what OpenSSL signed. */
static void test_public_key_import(CK_SESSION_HANDLE rw)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	BIGNUM *n = NULL, *e = NULL;
	uint8_t nb[256], eb[8], msg[] = "signed in software", sig[256];
	size_t sig_len = sizeof(sig);
	CK_OBJECT_CLASS klass = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_OBJECT_HANDLE o;
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int e_len;

	EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
	EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
	BN_bn2binpad(n, nb, 256);
	e_len = BN_bn2bin(e, eb);
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &klass, sizeof(klass) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_MODULUS, nb, 256 }, { CKA_PUBLIC_EXPONENT, eb, (CK_ULONG)e_len },
			{ CKA_LABEL, "imported pub", 12 }, { CKA_VERIFY, (void *)&yes, 1 },
		};
		t_rv(F->C_CreateObject(rw, t, 6, &o), CKR_OK, "C_CreateObject(RSA public key)");
	}
	t_eq(p11t_attr_ulong(rw, o, CKA_MODULUS_BITS), 2048, "CKA_MODULUS_BITS computed");
	t_ok(!p11t_attr_bool(rw, o, CKA_LOCAL), "CKA_LOCAL FALSE");
	EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k);
	EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg));
	MUST(F->C_VerifyInit(rw, &m, o));
	t_rv(F->C_Verify(rw, msg, sizeof(msg), sig, sig_len), CKR_OK, "C_Verify of an OpenSSL signature");
	sig[10] ^= 1;
	MUST(F->C_VerifyInit(rw, &m, o));
	t_rv(F->C_Verify(rw, msg, sizeof(msg), sig, sig_len), CKR_SIGNATURE_INVALID, "C_Verify of a damaged one");
	{
		CK_BBOOL t_local = CK_TRUE;
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &klass, sizeof(klass) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_MODULUS, nb, 256 }, { CKA_PUBLIC_EXPONENT, eb, (CK_ULONG)e_len },
			{ CKA_LOCAL, &t_local, 1 },
		};
		t_rv(F->C_CreateObject(rw, t, 5, &o), CKR_ATTRIBUTE_READ_ONLY, "C_CreateObject(CKA_LOCAL given)");
		t_rv(F->C_CreateObject(rw, t, 3, &o), CKR_TEMPLATE_INCOMPLETE, "C_CreateObject(RSA public key, no exponent)");
	}
	EVP_MD_CTX_free(md);
	BN_free(n);
	BN_free(e);
	EVP_PKEY_free(k);
}

static void test_set_attribute(CK_SESSION_HANDLE rw, CK_SESSION_HANDLE ro, CK_OBJECT_HANDLE data, CK_OBJECT_HANDLE priv)
{
	CK_OBJECT_CLASS cert = CKO_CERTIFICATE;
	CK_ATTRIBUTE label[] = { { CKA_LABEL, "renamed", 7 } };
	CK_ATTRIBUTE klass[] = { { CKA_CLASS, &cert, sizeof(cert) } };
	CK_ATTRIBUTE token[] = { { CKA_TOKEN, (void *)&no, 1 } };
	CK_ATTRIBUTE unknown[] = { { 0x7fff1234, "x", 1 } };
	CK_BYTE two = 2;
	CK_ATTRIBUTE badbool[] = { { CKA_PRIVATE, &two, 1 } };
	CK_ATTRIBUTE insensitive[] = { { CKA_SENSITIVE, (void *)&no, 1 } };
	CK_ATTRIBUTE extractable[] = { { CKA_EXTRACTABLE, (void *)&yes, 1 } };
	CK_ATTRIBUTE no_sign[] = { { CKA_SIGN, (void *)&no, 1 } };
	CK_ATTRIBUTE sign[] = { { CKA_SIGN, (void *)&yes, 1 } };
	CK_OBJECT_HANDLE fixed, sess;

	t_rv(F->C_SetAttributeValue(rw, data, NULL, 1), CKR_ARGUMENTS_BAD, "C_SetAttributeValue(NULL template)");
	t_rv(F->C_SetAttributeValue(rw, 0x7ffffff0, label, 1), CKR_OBJECT_HANDLE_INVALID, "C_SetAttributeValue(bad handle)");
	t_rv(F->C_SetAttributeValue(rw, data, label, 1), CKR_OK, "C_SetAttributeValue(CKA_LABEL)");
	t_ok(attr_is(rw, data, CKA_LABEL, "renamed", 7), "... reads back");
	t_rv(F->C_SetAttributeValue(rw, data, klass, 1), CKR_ATTRIBUTE_READ_ONLY, "C_SetAttributeValue(CKA_CLASS)");
	t_rv(F->C_SetAttributeValue(rw, data, token, 1), CKR_ATTRIBUTE_READ_ONLY, "C_SetAttributeValue(CKA_TOKEN)");
	t_rv(F->C_SetAttributeValue(rw, data, unknown, 1), CKR_ATTRIBUTE_TYPE_INVALID, "C_SetAttributeValue(unknown type)");
	t_rv(F->C_SetAttributeValue(rw, data, badbool, 1), CKR_ATTRIBUTE_VALUE_INVALID, "C_SetAttributeValue(CK_BBOOL 2)");
	t_rv(F->C_SetAttributeValue(ro, data, label, 1), CKR_SESSION_READ_ONLY, "C_SetAttributeValue(token object, RO session)");
	t_rv(F->C_SetAttributeValue(rw, priv, insensitive, 1), CKR_ATTRIBUTE_READ_ONLY, "CKA_SENSITIVE cannot go back to FALSE");
	t_rv(F->C_SetAttributeValue(rw, priv, extractable, 1), CKR_ATTRIBUTE_READ_ONLY, "CKA_EXTRACTABLE cannot become TRUE");
	t_rv(F->C_SetAttributeValue(rw, priv, no_sign, 1), CKR_OK, "CKA_SIGN may change");
	{
		CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
		t_rv(F->C_SignInit(rw, &m, priv), CKR_KEY_FUNCTION_NOT_PERMITTED, "and then the key does not sign");
	}
	MUST(F->C_SetAttributeValue(rw, priv, sign, 1));

	/* not modifiable */
	{
		CK_OBJECT_CLASS d = CKO_DATA;
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &d, sizeof(d) }, { CKA_MODIFIABLE, (void *)&no, 1 },
				     { CKA_TOKEN, (void *)&yes, 1 } };
		MUST(F->C_CreateObject(rw, t, 3, &fixed));
		t_rv(F->C_SetAttributeValue(rw, fixed, label, 1), CKR_ACTION_PROHIBITED,
		     "C_SetAttributeValue on CKA_MODIFIABLE FALSE");
		t[2].pValue = (void *)&no;
		t[1].pValue = (void *)&yes;
		MUST(F->C_CreateObject(ro, t, 3, &sess));
		t_rv(F->C_SetAttributeValue(ro, sess, label, 1), CKR_OK, "C_SetAttributeValue(session object, RO session)");
		MUST(F->C_DestroyObject(ro, sess));
	}
}

static void test_copy_destroy(CK_SESSION_HANDLE rw, CK_SESSION_HANDLE ro, CK_OBJECT_HANDLE data, CK_OBJECT_HANDLE priv)
{
	CK_OBJECT_CLASS cert = CKO_CERTIFICATE, d = CKO_DATA;
	CK_ATTRIBUTE newlabel[] = { { CKA_LABEL, "a copy", 6 } };
	CK_ATTRIBUTE to_session[] = { { CKA_TOKEN, (void *)&no, 1 }, { CKA_LABEL, "session copy", 12 } };
	CK_ATTRIBUTE to_token[] = { { CKA_TOKEN, (void *)&yes, 1 } };
	CK_ATTRIBUTE klass[] = { { CKA_CLASS, &cert, sizeof(cert) } };
	CK_OBJECT_HANDLE c1, c2, c3, kc, tmp;
	CK_ULONG size = 0;

	t_rv(F->C_CopyObject(rw, data, newlabel, 1, NULL), CKR_ARGUMENTS_BAD, "C_CopyObject(NULL handle)");
	t_rv(F->C_CopyObject(rw, 0x7ffffff0, newlabel, 1, &c1), CKR_OBJECT_HANDLE_INVALID, "C_CopyObject(bad handle)");
	t_rv(F->C_CopyObject(rw, data, newlabel, 1, &c1), CKR_OK, "C_CopyObject with a new label");
	t_ok(c1 != data && attr_is(rw, c1, CKA_LABEL, "a copy", 6) && attr_is(rw, data, CKA_LABEL, "renamed", 7),
	     "... a second object, the original unchanged");
	t_ok(attr_is(rw, c1, CKA_VALUE, "payload", 7), "... with the original's value");
	t_rv(F->C_CopyObject(rw, data, klass, 1, &tmp), CKR_ATTRIBUTE_READ_ONLY, "C_CopyObject changing CKA_CLASS");
	t_rv(F->C_CopyObject(ro, data, to_session, 2, &c2), CKR_OK, "C_CopyObject to a session object in a RO session");
	t_ok(!p11t_attr_bool(ro, c2, CKA_TOKEN), "... CKA_TOKEN FALSE");
	t_rv(F->C_CopyObject(ro, c2, to_token, 1, &tmp), CKR_SESSION_READ_ONLY, "C_CopyObject to a token object in a RO session");
	t_rv(F->C_CopyObject(rw, c2, to_token, 1, &c3), CKR_OK, "C_CopyObject of a session object to the token");
	t_ok(p11t_attr_bool(rw, c3, CKA_TOKEN), "... CKA_TOKEN TRUE");

	/* a copy of a TPM key is a key too */
	t_rv(F->C_CopyObject(rw, priv, newlabel, 1, &kc), CKR_OK, "C_CopyObject of a private key");
	{
		CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
		uint8_t digest[32] = { 9 }, sig[64];
		CK_ULONG sig_len = sizeof(sig);
		t_rv(p11t_sign(rw, &m, kc, digest, 32, sig, &sig_len), CKR_OK, "the copy signs");
	}
	{
		CK_ATTRIBUTE unlock[] = { { CKA_SENSITIVE, (void *)&no, 1 } };
		t_rv(F->C_CopyObject(rw, priv, unlock, 1, &tmp), CKR_ATTRIBUTE_READ_ONLY, "a copy cannot undo CKA_SENSITIVE");
	}
	/* CKA_COPYABLE FALSE */
	{
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &d, sizeof(d) }, { CKA_COPYABLE, (void *)&no, 1 },
				     { CKA_DESTROYABLE, (void *)&no, 1 } };
		CK_OBJECT_HANDLE fixed;
		MUST(F->C_CreateObject(rw, t, 3, &fixed));
		t_rv(F->C_CopyObject(rw, fixed, newlabel, 1, &tmp), CKR_ACTION_PROHIBITED, "C_CopyObject of CKA_COPYABLE FALSE");
		t_rv(F->C_DestroyObject(rw, fixed), CKR_ACTION_PROHIBITED, "C_DestroyObject of CKA_DESTROYABLE FALSE");
	}

	t_rv(F->C_GetObjectSize(rw, c1, NULL), CKR_ARGUMENTS_BAD, "C_GetObjectSize(NULL)");
	t_rv(F->C_GetObjectSize(rw, 0x7ffffff0, &size), CKR_OBJECT_HANDLE_INVALID, "C_GetObjectSize(bad handle)");
	t_rv(F->C_GetObjectSize(rw, c1, &size), CKR_OK, "C_GetObjectSize");
	t_ok(size > 0 && size != CK_UNAVAILABLE_INFORMATION, "... a size (%lu)", (unsigned long)size);

	t_rv(F->C_DestroyObject(ro, c3), CKR_SESSION_READ_ONLY, "C_DestroyObject(token object, RO session)");
	t_rv(F->C_DestroyObject(ro, c2), CKR_OK, "C_DestroyObject(session object, RO session)");
	t_rv(F->C_DestroyObject(rw, c3), CKR_OK, "C_DestroyObject(token object)");
	t_rv(F->C_DestroyObject(rw, c3), CKR_OBJECT_HANDLE_INVALID, "C_DestroyObject twice");
	t_rv(F->C_GetAttributeValue(rw, c3, newlabel, 1), CKR_OBJECT_HANDLE_INVALID, "the destroyed object is gone");
	t_rv(F->C_DestroyObject(rw, kc), CKR_OK, "C_DestroyObject of the key copy");
	t_ok(p11t_attr_bool(rw, priv, CKA_SIGN), "the original key is still there");
	MUST(F->C_DestroyObject(rw, c1));
}

static void test_find(CK_SESSION_HANDLE rw)
{
	CK_OBJECT_CLASS d = CKO_DATA, cert = CKO_CERTIFICATE, pub = CKO_PUBLIC_KEY;
	CK_OBJECT_HANDLE made[10], got[64], one;
	CK_ULONG n = 0, total = 0;
	char label[16];
	bool unique = true, all_made = true;

	for (int i = 0; i < 10; i++) {
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &d, sizeof(d) }, { CKA_LABEL, label, 0 },
				     { CKA_APPLICATION, i % 2 ? "odd" : "even", i % 2 ? 3 : 4 } };
		t[1].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "find-%d", i);
		MUST(F->C_CreateObject(rw, t, 3, &made[i]));
	}
	{
		CK_ATTRIBUTE by_class[] = { { CKA_CLASS, &d, sizeof(d) } };
		CK_ATTRIBUTE by_app[] = { { CKA_APPLICATION, "odd", 3 } };
		CK_ATTRIBUTE both[] = { { CKA_APPLICATION, "odd", 3 }, { CKA_LABEL, "find-3", 6 } };
		CK_ATTRIBUTE mismatch[] = { { CKA_APPLICATION, "odd", 3 }, { CKA_LABEL, "find-4", 6 } };
		CK_ATTRIBUTE by_label[] = { { CKA_LABEL, "find-7", 6 } };
		CK_ATTRIBUTE prefix[] = { { CKA_LABEL, "find-", 5 } };
		CK_ATTRIBUTE certs[] = { { CKA_CLASS, &cert, sizeof(cert) } };
		CK_ATTRIBUTE by_id[] = { { CKA_CLASS, &pub, sizeof(pub) }, { CKA_ID, "objkey", 6 } };
		CK_ATTRIBUTE id_only[] = { { CKA_ID, "objkey", 6 } };
		CK_ULONG data_count = count_all(rw, by_class, 1);
		t_ok(data_count >= 10, "find by CKA_CLASS: %lu data objects", (unsigned long)data_count);
		t_eq(count_all(rw, by_app, 1), 5, "find by CKA_APPLICATION");
		t_eq(count_all(rw, both, 2), 1, "find by two attributes");
		t_eq(count_all(rw, mismatch, 2), 0, "find by two attributes no object has together");
		t_eq(count_all(rw, by_label, 1), 1, "find by CKA_LABEL");
		t_eq(count_all(rw, prefix, 1), 0, "a prefix of a label matches nothing");
		t_eq(count_all(rw, certs, 1), 1, "find certificates");
		t_eq(count_all(rw, by_id, 2), 1, "find the public key by CKA_CLASS and CKA_ID");
		t_eq(count_all(rw, id_only, 1), 2, "CKA_ID alone: the public and the private key");
		t_ok(count_all(rw, NULL, 0) > data_count, "an empty template finds everything");
	}
	{
		CK_ATTRIBUTE unknown[] = { { 0x7fff1234, "x", 1 } };
		CK_RV rv = F->C_FindObjectsInit(rw, unknown, 1);
		if (rv == CKR_OK) {
			MUST(F->C_FindObjects(rw, got, 16, &n));
			MUST(F->C_FindObjectsFinal(rw));
			t_eq(n, 0, "an unknown attribute type matches nothing");
		} else {
			t_rv(rv, CKR_ATTRIBUTE_TYPE_INVALID, "an unknown attribute type in a find template");
		}
	}

	/* in chunks of 3 */
	{
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &d, sizeof(d) } };
		MUST(F->C_FindObjectsInit(rw, t, 1));
		do {
			MUST(F->C_FindObjects(rw, got + total, 3, &n));
			if (n > 3)
				unique = false;
			total += n;
		} while (n == 3 && total + 3 <= 60);
		MUST(F->C_FindObjects(rw, got + total, 3, &n));
		t_eq(n, 0, "after the last chunk, nothing more");
		MUST(F->C_FindObjectsFinal(rw));
	}
	for (CK_ULONG i = 0; i < total; i++)
		for (CK_ULONG j = i + 1; j < total; j++)
			if (got[i] == got[j])
				unique = false;
	for (int i = 0; i < 10; i++) {
		bool seen = false;
		for (CK_ULONG j = 0; j < total; j++)
			seen = seen || got[j] == made[i];
		all_made = all_made && seen;
	}
	t_ok(unique && all_made, "chunks of 3: every data object once (%lu)", (unsigned long)total);

	t_rv(F->C_FindObjects(rw, got, 1, &n), CKR_OPERATION_NOT_INITIALIZED, "C_FindObjects without C_FindObjectsInit");
	t_rv(F->C_FindObjectsFinal(rw), CKR_OPERATION_NOT_INITIALIZED, "C_FindObjectsFinal without C_FindObjectsInit");
	t_rv(F->C_FindObjectsInit(rw, NULL, 1), CKR_ARGUMENTS_BAD, "C_FindObjectsInit(NULL template, count 1)");
	MUST(F->C_FindObjectsInit(rw, NULL, 0));
	t_rv(F->C_FindObjectsInit(rw, NULL, 0), CKR_OPERATION_ACTIVE, "C_FindObjectsInit twice");
	t_rv(F->C_FindObjects(rw, got, 1, NULL), CKR_ARGUMENTS_BAD, "C_FindObjects(NULL count)");
	t_rv(F->C_FindObjects(rw, NULL, 1, &n), CKR_ARGUMENTS_BAD, "C_FindObjects(NULL handles)");
	t_rv(F->C_FindObjects(rw, &one, 1, &n), CKR_OK, "C_FindObjects still works after those");
	t_eq(n, 1, "... one object");
	MUST(F->C_FindObjectsFinal(rw));
	for (int i = 0; i < 10; i++)
		MUST(F->C_DestroyObject(rw, made[i]));
}

static void test_visibility(CK_SESSION_HANDLE rw)
{
	CK_SESSION_HANDLE other = p11t_open(slot, false), third;
	CK_OBJECT_HANDLE priv_tok, priv_sess, pub_sess, shared;
	CK_ATTRIBUTE lab[] = { { CKA_LABEL, NULL, 0 } };
	CK_OBJECT_CLASS d = CKO_DATA;
	CK_ATTRIBUTE priv_only[] = { { CKA_CLASS, &d, sizeof(d) }, { CKA_PRIVATE, (void *)&yes, 1 } };

	MUST(p11t_data(rw, "private token data", true, true, &priv_tok));
	MUST(p11t_data(rw, "private session data", false, true, &priv_sess));
	MUST(p11t_data(rw, "public session data", false, false, &pub_sess));
	t_eq(count_all(other, priv_only, 2), 2, "logged in: private objects are found");
	t_ok(p11t_find_label(other, CKO_DATA, "public session data") == pub_sess,
	     "a session object is seen from another session of the application");
	t_rv(F->C_GetAttributeValue(other, pub_sess, lab, 1), CKR_OK, "... and read there");
	MUST(F->C_Logout(rw));
	t_eq(count_all(other, priv_only, 2), 0, "logged out: no private object is found");
	t_rv(F->C_GetAttributeValue(other, priv_tok, lab, 1), CKR_OBJECT_HANDLE_INVALID, "... nor usable by handle (token)");
	t_rv(F->C_GetAttributeValue(other, priv_sess, lab, 1), CKR_OBJECT_HANDLE_INVALID, "... nor usable by handle (session)");
	t_rv(F->C_DestroyObject(rw, priv_tok), CKR_OBJECT_HANDLE_INVALID, "... nor destroyed");
	{
		CK_OBJECT_HANDLE o;
		t_rv(p11t_data(rw, "x", true, true, &o), CKR_USER_NOT_LOGGED_IN, "C_CreateObject(private) when logged out");
		t_rv(p11t_data(rw, "x", false, true, &o), CKR_USER_NOT_LOGGED_IN, "C_CreateObject(private session object) when logged out");
	}
	t_rv(F->C_GetAttributeValue(other, pub_sess, lab, 1), CKR_OK, "public session objects stay");
	p11t_login(rw, CKU_USER, USER_PIN);
	/* v2.40 §5.6 C_Logout: "all private session objects from sessions belonging to the
	 * application are destroyed", and handles to private objects "remain invalid" even
	 * after the user logs in again. */
	t_eq(count_all(other, priv_only, 2), 1, "logged in again: the private token object is back, "
						"the private session object was destroyed by C_Logout");
	t_ok(p11t_find_label(other, CKO_DATA, "private session data") == CK_INVALID_HANDLE,
	     "... the private session object is not found");
	t_rv(F->C_GetAttributeValue(other, priv_sess, lab, 1), CKR_OBJECT_HANDLE_INVALID,
	     "... nor usable by its old handle");
	t_rv(F->C_GetAttributeValue(other, priv_tok, lab, 1), CKR_OBJECT_HANDLE_INVALID,
	     "the private token object's handle from before C_Logout stays invalid");
	priv_tok = p11t_find_label(other, CKO_DATA, "private token data");
	t_ok(priv_tok != CK_INVALID_HANDLE, "... it is found again (under a new handle)");
	t_rv(F->C_GetAttributeValue(other, priv_tok, lab, 1), CKR_OK, "... and read through that one");

	/* session objects go with the session that made them */
	third = p11t_open(slot, true);
	MUST(p11t_data(third, "made by the third session", false, false, &shared));
	t_rv(F->C_GetAttributeValue(other, shared, lab, 1), CKR_OK, "seen from another session");
	MUST(F->C_CloseSession(third));
	t_rv(F->C_GetAttributeValue(other, shared, lab, 1), CKR_OBJECT_HANDLE_INVALID, "gone with the session that made it");
	t_ok(p11t_find_label(other, CKO_DATA, "made by the third session") == CK_INVALID_HANDLE, "... not found either");
	MUST(F->C_DestroyObject(rw, priv_tok));
	MUST(F->C_CloseSession(other));
}

int main(void)
{
	CK_SESSION_HANDLE rw, ro, so_h = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE data, pub, priv;

	p11t_load();
	MUST(p11t_init());
	slot = p11t_new_token("objects", SO_PIN, USER_PIN);
	rw = p11t_open(slot, true);
	ro = p11t_open(slot, false);
	p11t_login(rw, CKU_USER, USER_PIN);
	MUST(p11t_gen_ec(rw, p11t_p256, sizeof(p11t_p256), "objkey", &pub, &priv));

	test_create_errors(rw, ro);
	test_data_objects(rw);
	data = p11t_find_label(rw, CKO_DATA, "a data object");
	test_get_attribute(rw, data, priv);
	test_certificate(rw, CK_INVALID_HANDLE);
	test_public_key_import(rw);
	test_set_attribute(rw, ro, data, priv);
	test_copy_destroy(rw, ro, data, priv);
	test_find(rw);
	test_visibility(rw);

	/* token objects persist; session objects do not */
	MUST(p11t_data(rw, "session only", false, false, &pub));
	MUST(F->C_Finalize(NULL));
	MUST(p11t_init());
	rw = p11t_open(slot, true);
	t_ok(p11t_find_label(rw, CKO_DATA, "renamed") != CK_INVALID_HANDLE, "after C_Finalize: the token object is there");
	t_ok(p11t_find_label(rw, CKO_DATA, "session only") == CK_INVALID_HANDLE, "... the session object is not");
	t_ok(p11t_find_label(rw, CKO_PRIVATE_KEY, "objkey") == CK_INVALID_HANDLE, "... the private key is not visible");
	p11t_login(rw, CKU_USER, USER_PIN);
	t_ok(p11t_find_label(rw, CKO_PRIVATE_KEY, "objkey") != CK_INVALID_HANDLE, "... until the user logs in");

	/* the SO and CKA_TRUSTED: the SO session needs no RO sessions around */
	MUST(F->C_CloseAllSessions(slot));
	so_h = p11t_open(slot, true);
	p11t_login(so_h, CKU_SO, SO_PIN);
	{
		CK_OBJECT_HANDLE cert = p11t_find_label(so_h, CKO_CERTIFICATE, "cert");
		CK_ATTRIBUTE trust[] = { { CKA_TRUSTED, (void *)&yes, 1 } };
		t_rv(F->C_SetAttributeValue(so_h, cert, trust, 1), CKR_OK, "the SO sets CKA_TRUSTED on a certificate");
		t_ok(p11t_attr_bool(so_h, cert, CKA_TRUSTED), "... and it reads back");
	}
	MUST(F->C_Finalize(NULL));
	return t_done();
}
