/* Keys in the TPM: C_GetMechanismList/Info as this TPM answers them, C_GenerateKeyPair
 * for RSA 2048/3072 and EC P-256/P-384 with every template error we can think of,
 * and C_CreateObject importing RSA (with and without CRT components) and EC private
 * keys, each imported key checked by signing and verifying in OpenSSL with the
 * original. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "p11t.h"

static CK_SLOT_ID slot;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* Token objects only: the C_Logout in the middle of the bad-template cases rightly
 * destroys private session objects made earlier. */
static CK_ULONG object_count(CK_SESSION_HANDLE h)
{
	CK_OBJECT_HANDLE found[512];
	CK_ATTRIBUTE on_token = { CKA_TOKEN, (void *)&yes, sizeof(yes) };
	return p11t_find(h, &on_token, 1, found, 512);
}

static bool has_mech(const CK_MECHANISM_TYPE *list, CK_ULONG n, CK_MECHANISM_TYPE m)
{
	for (CK_ULONG i = 0; i < n; i++)
		if (list[i] == m)
			return true;
	return false;
}

/* What tpm2_getcap ecc-curves said before the module took the TPM (keys.sh). */
static bool tpm_has_curve(const char *name)
{
	const char *dir = getenv("ITEST_DIR");
	char path[4096], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ecc-curves.txt", dir ? dir : ".");
	f = fopen(path, "r");
	if (!f)
		return true; /* not known: assume the module is right */
	while (fgets(line, sizeof(line), f))
		found = found || strstr(line, name);
	fclose(f);
	return found;
}

static void test_mechanisms(void)
{
	static const CK_MECHANISM_TYPE expected[] = {
		CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN, CKM_RSA_PKCS, CKM_SHA1_RSA_PKCS,
		CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_RSA_PKCS_PSS,
		CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP, CKM_ECDSA, CKM_ECDSA_SHA256,
		CKM_ECDSA_SHA384, CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512,
	};
	CK_MECHANISM_TYPE list[128];
	CK_ULONG n = 0, n2;
	CK_MECHANISM_INFO mi;
	bool all_ok = true;

	t_rv(F->C_GetMechanismList(slot, NULL, &n), CKR_OK, "C_GetMechanismList(NULL list)");
	t_ok(n > 10 && n < 128, "%lu mechanisms", (unsigned long)n);
	n2 = 2;
	t_rv(F->C_GetMechanismList(slot, list, &n2), CKR_BUFFER_TOO_SMALL, "C_GetMechanismList into 2 places");
	t_eq(n2, n, "... says how many");
	n2 = 128;
	MUST(F->C_GetMechanismList(slot, list, &n2));
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (!t_ok(has_mech(list, n2, expected[i]), "mechanism 0x%lx is offered", (unsigned long)expected[i]))
			all_ok = false;
	for (CK_ULONG i = 0; i < n2; i++) {
		CK_RV rv = F->C_GetMechanismInfo(slot, list[i], &mi);
		if (rv != CKR_OK || !mi.flags || mi.ulMinKeySize > mi.ulMaxKeySize) {
			t_diag("mechanism 0x%lx: %s, flags 0x%lx, %lu..%lu", (unsigned long)list[i], ckr(rv),
			       (unsigned long)mi.flags, (unsigned long)mi.ulMinKeySize, (unsigned long)mi.ulMaxKeySize);
			all_ok = false;
		}
	}
	t_ok(all_ok, "C_GetMechanismInfo answers for every listed mechanism");

	MUST(F->C_GetMechanismInfo(slot, CKM_RSA_PKCS_KEY_PAIR_GEN, &mi));
	t_ok(mi.flags & CKF_GENERATE_KEY_PAIR, "RSA key pair generation: CKF_GENERATE_KEY_PAIR");
	t_ok(mi.flags & CKF_HW, "... CKF_HW");
	t_ok(mi.ulMinKeySize <= 2048 && mi.ulMaxKeySize >= 3072, "... sizes %lu..%lu bits cover 2048 and 3072",
	     (unsigned long)mi.ulMinKeySize, (unsigned long)mi.ulMaxKeySize);
	MUST(F->C_GetMechanismInfo(slot, CKM_EC_KEY_PAIR_GEN, &mi));
	t_ok((mi.flags & CKF_GENERATE_KEY_PAIR) && (mi.flags & CKF_EC_NAMEDCURVE), "EC key pair generation flags");
	t_eq(mi.ulMinKeySize, tpm_has_curve("NIST_P256") ? 256 : 384, "EC minimum: the smallest curve this TPM has");
	t_eq(mi.ulMaxKeySize, tpm_has_curve("NIST_P384") ? 384 : 256, "EC maximum: the largest curve this TPM has");
	MUST(F->C_GetMechanismInfo(slot, CKM_ECDSA, &mi));
	t_ok((mi.flags & (CKF_SIGN | CKF_VERIFY | CKF_HW)) == (CKF_SIGN | CKF_VERIFY | CKF_HW), "CKM_ECDSA: sign, verify, HW");
	MUST(F->C_GetMechanismInfo(slot, CKM_RSA_PKCS_OAEP, &mi));
	t_ok((mi.flags & (CKF_ENCRYPT | CKF_DECRYPT)) == (CKF_ENCRYPT | CKF_DECRYPT), "CKM_RSA_PKCS_OAEP: encrypt, decrypt");
	t_ok(!(mi.flags & CKF_SIGN), "... not sign");
	MUST(F->C_GetMechanismInfo(slot, CKM_SHA256, &mi));
	t_eq(mi.flags & (CKF_DIGEST | CKF_SIGN), CKF_DIGEST, "CKM_SHA256: digest only");
	t_rv(F->C_GetMechanismInfo(slot, CKM_SHA224_RSA_PKCS, &mi), CKR_MECHANISM_INVALID, "CKM_SHA224_RSA_PKCS is not offered");
	t_ok(!has_mech(list, n2, CKM_SHA224_RSA_PKCS), "... nor listed");
	t_rv(F->C_GetMechanismInfo(slot, CKM_AES_CBC, &mi), CKR_MECHANISM_INVALID, "CKM_AES_CBC is not offered");
	t_rv(F->C_GetMechanismInfo(slot, CKM_VENDOR_DEFINED | 0x7777, &mi), CKR_MECHANISM_INVALID, "an unknown vendor mechanism");
}

/* Sign a message and have OpenSSL verify it with the public key object. */
static bool signs(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub, CK_MECHANISM_TYPE mech)
{
	static const uint8_t msg[] = "key check";
	CK_MECHANISM m = { mech, NULL, 0 };
	uint8_t sig[512];
	CK_ULONG sig_len = sizeof(sig);
	EVP_PKEY *k = p11t_evp_public(h, pub);
	bool ok = k && p11t_sign(h, &m, priv, msg, sizeof(msg), sig, &sig_len) == CKR_OK &&
		  p11t_ossl_verify(k, mech, NULL, msg, sizeof(msg), sig, sig_len);

	EVP_PKEY_free(k);
	return ok;
}

static void check_pair(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv, const char *what,
		       CK_KEY_TYPE type, CK_ULONG size)
{
	CK_ULONG len = 0, id_len = 0, id2_len = 0, spki_len = 0;
	uint8_t *v, *id, *id2, *spki;
	EVP_PKEY *k = p11t_evp_public(h, pub);

	t_ok(k != NULL, "%s: the public key object makes an OpenSSL key", what);
	t_eq(p11t_attr_ulong(h, pub, CKA_CLASS), CKO_PUBLIC_KEY, "%s: public half CKO_PUBLIC_KEY", what);
	t_eq(p11t_attr_ulong(h, priv, CKA_CLASS), CKO_PRIVATE_KEY, "%s: private half CKO_PRIVATE_KEY", what);
	t_eq(p11t_attr_ulong(h, pub, CKA_KEY_TYPE), type, "%s: CKA_KEY_TYPE (public)", what);
	t_eq(p11t_attr_ulong(h, priv, CKA_KEY_TYPE), type, "%s: CKA_KEY_TYPE (private)", what);
	id = p11t_attr(h, pub, CKA_ID, &id_len);
	id2 = p11t_attr(h, priv, CKA_ID, &id2_len);
	t_ok(id && id2 && id_len && id_len == id2_len && memcmp(id, id2, id_len) == 0, "%s: both halves share CKA_ID", what);
	free(id);
	free(id2);
	if (type == CKK_RSA) {
		v = p11t_attr(h, pub, CKA_MODULUS, &len);
		t_eq(len, size / 8, "%s: CKA_MODULUS is %lu bytes", what, (unsigned long)(size / 8));
		free(v);
		t_eq(p11t_attr_ulong(h, pub, CKA_MODULUS_BITS), size, "%s: CKA_MODULUS_BITS", what);
		v = p11t_attr(h, pub, CKA_PUBLIC_EXPONENT, &len);
		t_ok(v && len == 3 && memcmp(v, "\x01\x00\x01", 3) == 0, "%s: CKA_PUBLIC_EXPONENT 65537", what);
		free(v);
		v = p11t_attr(h, priv, CKA_MODULUS, &len);
		t_eq(v ? len : 0, size / 8, "%s: the private key has CKA_MODULUS too", what);
		free(v);
	} else {
		v = p11t_attr(h, pub, CKA_EC_POINT, &len);
		t_eq(len, 2 + 1 + 2 * (size / 8), "%s: CKA_EC_POINT is a DER OCTET STRING of an uncompressed point", what);
		free(v);
	}
	t_eq(k ? (unsigned long)EVP_PKEY_get_bits(k) : 0, size, "%s: %lu bits", what, (unsigned long)size);
	spki = p11t_attr(h, pub, CKA_PUBLIC_KEY_INFO, &spki_len);
	if (k && spki) {
		uint8_t *der = NULL;
		int der_len = i2d_PUBKEY(k, &der);
		t_ok(der_len > 0 && (CK_ULONG)der_len == spki_len && memcmp(der, spki, spki_len) == 0,
		     "%s: CKA_PUBLIC_KEY_INFO is the key's SubjectPublicKeyInfo", what);
		OPENSSL_free(der);
	} else {
		t_ok(false, "%s: CKA_PUBLIC_KEY_INFO", what);
	}
	free(spki);
	t_ok(p11t_attr_bool(h, priv, CKA_SENSITIVE) && p11t_attr_bool(h, priv, CKA_PRIVATE) &&
		     !p11t_attr_bool(h, priv, CKA_EXTRACTABLE),
	     "%s: private half sensitive, private, not extractable", what);
	t_ok(p11t_attr_bool(h, priv, CKA_LOCAL) && p11t_attr_bool(h, pub, CKA_LOCAL), "%s: CKA_LOCAL on both", what);
	t_ok(signs(h, priv, pub, type == CKK_RSA ? CKM_SHA256_RSA_PKCS : CKM_ECDSA_SHA256),
	     "%s: signs, and OpenSSL verifies with the public key object", what);
	EVP_PKEY_free(k);
}

static void test_generate(CK_SESSION_HANDLE rw)
{
	CK_OBJECT_HANDLE pub, priv;

	t_rv(p11t_gen_rsa(rw, 2048, "rsa2048", &pub, &priv), CKR_OK, "C_GenerateKeyPair RSA 2048");
	check_pair(rw, pub, priv, "RSA 2048", CKK_RSA, 2048);
	t_rv(p11t_gen_rsa(rw, 3072, "rsa3072", &pub, &priv), CKR_OK, "C_GenerateKeyPair RSA 3072");
	check_pair(rw, pub, priv, "RSA 3072", CKK_RSA, 3072);
	t_rv(p11t_gen_ec(rw, p11t_p256, sizeof(p11t_p256), "p256", &pub, &priv), CKR_OK, "C_GenerateKeyPair EC P-256");
	check_pair(rw, pub, priv, "P-256", CKK_EC, 256);
	t_rv(p11t_gen_ec(rw, p11t_p384, sizeof(p11t_p384), "p384", &pub, &priv), CKR_OK, "C_GenerateKeyPair EC P-384");
	check_pair(rw, pub, priv, "P-384", CKK_EC, 384);

	/* no ID given: both halves still get the same one */
	{
		CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)p11t_p256, sizeof(p11t_p256) } };
		CK_ULONG a = 0, b = 0;
		uint8_t *ia, *ib;
		t_rv(F->C_GenerateKeyPair(rw, &m, pt, 1, NULL, 0, &pub, &priv), CKR_OK,
		     "C_GenerateKeyPair with minimal templates (a session key pair)");
		ia = p11t_attr(rw, pub, CKA_ID, &a);
		ib = p11t_attr(rw, priv, CKA_ID, &b);
		t_ok(ia && ib && a > 0 && a == b && memcmp(ia, ib, a) == 0, "... a CKA_ID is made for both halves");
		free(ia);
		free(ib);
		t_ok(!p11t_attr_bool(rw, priv, CKA_TOKEN), "... session objects by default");
		t_ok(signs(rw, priv, pub, CKM_ECDSA_SHA384), "... and it signs");
	}
}

struct bad_case {
	const char *what;
	CK_MECHANISM_TYPE mech;
	CK_ATTRIBUTE extra_pub, extra_priv; /* type 0: none */
	bool drop_size;                     /* no CKA_MODULUS_BITS / CKA_EC_PARAMS */
	CK_RV want;
};

static void test_generate_errors(CK_SESSION_HANDLE rw, CK_SESSION_HANDLE ro)
{
	static CK_ULONG bits1000 = 1000, bits2048 = 2048;
	static CK_OBJECT_CLASS data = CKO_DATA;
	static CK_KEY_TYPE ec = CKK_EC;
	static const uint8_t secp256k1[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };
	static const uint8_t p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
	static const struct bad_case cases[] = {
		{ "RSA without CKA_MODULUS_BITS", CKM_RSA_PKCS_KEY_PAIR_GEN, { 0 }, { 0 }, true, CKR_TEMPLATE_INCOMPLETE },
		{ "RSA 1000 bits", CKM_RSA_PKCS_KEY_PAIR_GEN, { CKA_MODULUS_BITS, &bits1000, sizeof(CK_ULONG) }, { 0 }, true,
		  CKR_ATTRIBUTE_VALUE_INVALID },
		{ "RSA exponent 3", CKM_RSA_PKCS_KEY_PAIR_GEN, { CKA_PUBLIC_EXPONENT, "\x03", 1 }, { 0 }, false,
		  CKR_ATTRIBUTE_VALUE_INVALID },
		{ "RSA with CKA_MODULUS given", CKM_RSA_PKCS_KEY_PAIR_GEN, { CKA_MODULUS, "\x01\x02", 2 }, { 0 }, false,
		  CKR_TEMPLATE_INCONSISTENT },
		{ "RSA with a CKO_DATA public template", CKM_RSA_PKCS_KEY_PAIR_GEN, { CKA_CLASS, &data, sizeof(data) }, { 0 },
		  false, CKR_TEMPLATE_INCONSISTENT },
		{ "RSA with CKK_EC in the private template", CKM_RSA_PKCS_KEY_PAIR_GEN, { 0 }, { CKA_KEY_TYPE, &ec, sizeof(ec) },
		  false, CKR_TEMPLATE_INCONSISTENT },
		{ "EC without CKA_EC_PARAMS", CKM_EC_KEY_PAIR_GEN, { 0 }, { 0 }, true, CKR_TEMPLATE_INCOMPLETE },
		{ "EC on secp256k1", CKM_EC_KEY_PAIR_GEN, { CKA_EC_PARAMS, (void *)secp256k1, sizeof(secp256k1) }, { 0 }, true,
		  CKR_CURVE_NOT_SUPPORTED },
		{ "EC on P-521", CKM_EC_KEY_PAIR_GEN, { CKA_EC_PARAMS, (void *)p521, sizeof(p521) }, { 0 }, true,
		  CKR_CURVE_NOT_SUPPORTED },
		{ "private key not sensitive", CKM_EC_KEY_PAIR_GEN, { 0 }, { CKA_SENSITIVE, (void *)&no, 1 }, false,
		  CKR_ATTRIBUTE_VALUE_INVALID },
		{ "private key extractable", CKM_EC_KEY_PAIR_GEN, { 0 }, { CKA_EXTRACTABLE, (void *)&yes, 1 }, false,
		  CKR_ATTRIBUTE_VALUE_INVALID },
		{ "private key not private", CKM_EC_KEY_PAIR_GEN, { 0 }, { CKA_PRIVATE, (void *)&no, 1 }, false,
		  CKR_ATTRIBUTE_VALUE_INVALID },
		{ "CKA_LOCAL given", CKM_EC_KEY_PAIR_GEN, { CKA_LOCAL, (void *)&yes, 1 }, { 0 }, false, CKR_ATTRIBUTE_READ_ONLY },
		{ "CKA_ALWAYS_SENSITIVE given", CKM_EC_KEY_PAIR_GEN, { 0 }, { CKA_ALWAYS_SENSITIVE, (void *)&yes, 1 }, false,
		  CKR_ATTRIBUTE_READ_ONLY },
		{ "CKA_VALUE in the private template", CKM_EC_KEY_PAIR_GEN, { 0 }, { CKA_VALUE, "\x01", 1 }, false,
		  CKR_ATTRIBUTE_READ_ONLY },
		{ "an unknown attribute", CKM_EC_KEY_PAIR_GEN, { 0x7fff1234, "x", 1 }, { 0 }, false, CKR_ATTRIBUTE_TYPE_INVALID },
		{ "a 2-byte CK_BBOOL", CKM_EC_KEY_PAIR_GEN, { 0 }, { CKA_SIGN, "\x01\x00", 2 }, false, CKR_ATTRIBUTE_VALUE_INVALID },
		{ "CKA_SIGN on the public key", CKM_EC_KEY_PAIR_GEN, { CKA_SIGN, (void *)&yes, 1 }, { 0 }, false,
		  CKR_ATTRIBUTE_TYPE_INVALID },
	};
	CK_ULONG before = object_count(rw);
	CK_OBJECT_HANDLE pub, priv;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		CK_MECHANISM m = { c->mech, NULL, 0 };
		CK_ATTRIBUTE pt[4], kt[4];
		CK_ULONG np = 0, nk = 0;
		pt[np++] = (CK_ATTRIBUTE){ CKA_TOKEN, (void *)&yes, 1 };
		kt[nk++] = (CK_ATTRIBUTE){ CKA_TOKEN, (void *)&yes, 1 };
		if (!c->drop_size) {
			if (c->mech == CKM_RSA_PKCS_KEY_PAIR_GEN)
				pt[np++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits2048, sizeof(bits2048) };
			else
				pt[np++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)p11t_p256, sizeof(p11t_p256) };
		}
		if (c->extra_pub.type || c->extra_pub.pValue)
			pt[np++] = c->extra_pub;
		if (c->extra_priv.type || c->extra_priv.pValue)
			kt[nk++] = c->extra_priv;
		t_rv(F->C_GenerateKeyPair(rw, &m, pt, np, kt, nk, &pub, &priv), c->want, "C_GenerateKeyPair: %s", c->what);
	}
	{
		CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		CK_MECHANISM bad = { CKM_ECDSA, NULL, 0 };
		CK_MECHANISM param = { CKM_EC_KEY_PAIR_GEN, "x", 1 };
		CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)p11t_p256, sizeof(p11t_p256) }, { CKA_TOKEN, (void *)&yes, 1 } };
		CK_ATTRIBUTE kt[] = { { CKA_TOKEN, (void *)&yes, 1 } };
		CK_ATTRIBUTE garbage[] = { { CKA_EC_PARAMS, "\x30\x03\x02\x01\x01", 5 } };
		CK_RV rv;
		t_rv(F->C_GenerateKeyPair(rw, NULL, pt, 2, kt, 1, &pub, &priv), CKR_ARGUMENTS_BAD, "C_GenerateKeyPair(NULL mechanism)");
		t_rv(F->C_GenerateKeyPair(rw, &m, pt, 2, kt, 1, NULL, &priv), CKR_ARGUMENTS_BAD, "C_GenerateKeyPair(NULL public handle)");
		t_rv(F->C_GenerateKeyPair(rw, &m, pt, 2, kt, 1, &pub, NULL), CKR_ARGUMENTS_BAD, "C_GenerateKeyPair(NULL private handle)");
		t_rv(F->C_GenerateKeyPair(rw, &m, NULL, 2, kt, 1, &pub, &priv), CKR_ARGUMENTS_BAD, "C_GenerateKeyPair(NULL template)");
		t_rv(F->C_GenerateKeyPair(rw, &bad, pt, 2, kt, 1, &pub, &priv), CKR_MECHANISM_INVALID, "C_GenerateKeyPair(CKM_ECDSA)");
		t_rv(F->C_GenerateKeyPair(rw, &param, pt, 2, kt, 1, &pub, &priv), CKR_MECHANISM_PARAM_INVALID,
		     "C_GenerateKeyPair with a mechanism parameter");
		rv = F->C_GenerateKeyPair(rw, &m, garbage, 1, NULL, 0, &pub, &priv);
		t_ok(rv == CKR_CURVE_NOT_SUPPORTED || rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID,
		     "C_GenerateKeyPair with CKA_EC_PARAMS that are not a curve: %s", ckr(rv));
		t_rv(F->C_GenerateKeyPair(ro, &m, pt, 2, kt, 1, &pub, &priv), CKR_SESSION_READ_ONLY,
		     "C_GenerateKeyPair(token keys) in a RO session");
		t_rv(F->C_GenerateKeyPair(ro, &m, pt, 1, NULL, 0, &pub, &priv), CKR_OK,
		     "C_GenerateKeyPair(session keys) in a RO session");
		MUST(F->C_DestroyObject(ro, pub));
		MUST(F->C_DestroyObject(ro, priv));
		MUST(F->C_Logout(rw));
		t_rv(F->C_GenerateKeyPair(rw, &m, pt, 2, kt, 1, &pub, &priv), CKR_USER_NOT_LOGGED_IN,
		     "C_GenerateKeyPair without login");
		p11t_login(rw, CKU_USER, USER_PIN);
	}
	t_eq(object_count(rw), before, "the failures left no object behind");
}

static void set_bn(CK_ATTRIBUTE *a, CK_ATTRIBUTE_TYPE type, EVP_PKEY *k, const char *name, uint8_t *buf)
{
	BIGNUM *bn = NULL;

	EVP_PKEY_get_bn_param(k, name, &bn);
	a->type = type;
	a->pValue = buf;
	a->ulValueLen = (CK_ULONG)BN_bn2bin(bn, buf);
	BN_clear_free(bn);
}

/* Sign in the token with the imported key; OpenSSL verifies with the original. */
static bool imported_signs(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, EVP_PKEY *orig, CK_MECHANISM_TYPE mech)
{
	static const uint8_t msg[] = "imported key";
	CK_MECHANISM m = { mech, NULL, 0 };
	uint8_t sig[512];
	CK_ULONG sig_len = sizeof(sig);

	return p11t_sign(h, &m, priv, msg, sizeof(msg), sig, &sig_len) == CKR_OK &&
	       p11t_ossl_verify(orig, mech, NULL, msg, sizeof(msg), sig, sig_len);
}

static void test_import_rsa(CK_SESSION_HANDLE rw, unsigned bits, bool crt)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	static uint8_t bufs[8][512];
	CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_ATTRIBUTE t[16];
	CK_ULONG n = 0, len = 0;
	CK_OBJECT_HANDLE o = 0;
	char what[64];
	uint8_t *mod;

	snprintf(what, sizeof(what), "RSA %u import%s", bits, crt ? " with CRT" : " without CRT");
	t[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &klass, sizeof(klass) };
	t[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, (void *)&yes, 1 };
	t[n++] = (CK_ATTRIBUTE){ CKA_SIGN, (void *)&yes, 1 };
	t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, what, strlen(what) };
	set_bn(&t[n++], CKA_MODULUS, k, OSSL_PKEY_PARAM_RSA_N, bufs[0]);
	set_bn(&t[n++], CKA_PUBLIC_EXPONENT, k, OSSL_PKEY_PARAM_RSA_E, bufs[1]);
	set_bn(&t[n++], CKA_PRIVATE_EXPONENT, k, OSSL_PKEY_PARAM_RSA_D, bufs[2]);
	set_bn(&t[n++], CKA_PRIME_1, k, OSSL_PKEY_PARAM_RSA_FACTOR1, bufs[3]);
	set_bn(&t[n++], CKA_PRIME_2, k, OSSL_PKEY_PARAM_RSA_FACTOR2, bufs[4]);
	if (crt) {
		set_bn(&t[n++], CKA_EXPONENT_1, k, OSSL_PKEY_PARAM_RSA_EXPONENT1, bufs[5]);
		set_bn(&t[n++], CKA_EXPONENT_2, k, OSSL_PKEY_PARAM_RSA_EXPONENT2, bufs[6]);
		set_bn(&t[n++], CKA_COEFFICIENT, k, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bufs[7]);
	}
	t_rv(F->C_CreateObject(rw, t, n, &o), CKR_OK, "C_CreateObject: %s", what);
	t_ok(imported_signs(rw, o, k, CKM_SHA256_RSA_PKCS), "%s: signs, OpenSSL verifies with the original key", what);
	mod = p11t_attr(rw, o, CKA_MODULUS, &len);
	t_ok(mod && len == t[5].ulValueLen && memcmp(mod, t[5].pValue, len) == 0, "%s: CKA_MODULUS", what);
	free(mod);
	{
		uint8_t d[512];
		CK_ATTRIBUTE a = { CKA_PRIVATE_EXPONENT, d, sizeof(d) };
		t_rv(F->C_GetAttributeValue(rw, o, &a, 1), CKR_ATTRIBUTE_SENSITIVE, "%s: CKA_PRIVATE_EXPONENT is sensitive", what);
	}
	t_ok(!p11t_attr_bool(rw, o, CKA_LOCAL) && !p11t_attr_bool(rw, o, CKA_ALWAYS_SENSITIVE) &&
		     !p11t_attr_bool(rw, o, CKA_NEVER_EXTRACTABLE),
	     "%s: not LOCAL, not ALWAYS_SENSITIVE, not NEVER_EXTRACTABLE", what);
	if (bits == 2048 && crt) {
		CK_OBJECT_HANDLE bad;
		/* without a prime */
		t[9] = t[8];
		t_rv(F->C_CreateObject(rw, t, 9, &bad), CKR_TEMPLATE_INCOMPLETE, "RSA import without CKA_PRIME_2");
		/* components of two different keys */
		{
			EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
			uint8_t pb[512];
			CK_ATTRIBUTE t2[16];
			memcpy(t2, t, sizeof(t2));
			set_bn(&t2[8], CKA_PRIME_1, other, OSSL_PKEY_PARAM_RSA_FACTOR1, pb);
			set_bn(&t2[9], CKA_PRIME_2, k, OSSL_PKEY_PARAM_RSA_FACTOR2, bufs[4]);
			/* Refused at creation: an object that cannot work must not be made. */
			bad = CK_INVALID_HANDLE;
			t_rv(F->C_CreateObject(rw, t2, n, &bad), CKR_ATTRIBUTE_VALUE_INVALID,
			     "RSA import with a prime of another key");
			if (bad != CK_INVALID_HANDLE) {
				CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
				uint8_t sig[512];
				CK_ULONG sig_len = sizeof(sig);
				t_diag("it was made (handle %lu); signing with it: %s", (unsigned long)bad,
				       ckr(p11t_sign(rw, &m, bad, (const uint8_t *)"x", 1, sig, &sig_len)));
				F->C_DestroyObject(rw, bad);
			}
			EVP_PKEY_free(other);
		}
		{
			CK_ATTRIBUTE t3[16];
			memcpy(t3, t, sizeof(t3));
			set_bn(&t3[9], CKA_PRIME_2, k, OSSL_PKEY_PARAM_RSA_FACTOR2, bufs[4]);
			t3[n] = (CK_ATTRIBUTE){ CKA_SENSITIVE, (void *)&no, 1 };
			t_rv(F->C_CreateObject(rw, t3, n + 1, &bad), CKR_ATTRIBUTE_VALUE_INVALID,
			     "RSA import with CKA_SENSITIVE FALSE");
			t3[n] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, (void *)&yes, 1 };
			t_rv(F->C_CreateObject(rw, t3, n + 1, &bad), CKR_ATTRIBUTE_VALUE_INVALID,
			     "RSA import with CKA_EXTRACTABLE TRUE");
		}
	}
	EVP_PKEY_free(k);
}

static void test_import_ec(CK_SESSION_HANDLE rw, const char *curve, const uint8_t *params, size_t params_len)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	uint8_t value[66], point[200];
	size_t point_len = 0;
	CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE t[7];
	CK_OBJECT_HANDLE o = 0;
	CK_ULONG len = 0;
	uint8_t *got;
	char what[64];

	snprintf(what, sizeof(what), "EC %s import", curve);
	t[0] = (CK_ATTRIBUTE){ CKA_CLASS, &klass, sizeof(klass) };
	t[1] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	t[2] = (CK_ATTRIBUTE){ CKA_TOKEN, (void *)&yes, 1 };
	t[3] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)params, params_len };
	set_bn(&t[4], CKA_VALUE, k, OSSL_PKEY_PARAM_PRIV_KEY, value);
	t[5] = (CK_ATTRIBUTE){ CKA_LABEL, what, strlen(what) };
	t[6] = (CK_ATTRIBUTE){ CKA_SIGN, (void *)&yes, 1 };
	t_rv(F->C_CreateObject(rw, t, 7, &o), CKR_OK, "C_CreateObject: %s", what);
	t_ok(imported_signs(rw, o, k, CKM_ECDSA_SHA256), "%s: signs, OpenSSL verifies with the original key", what);
	EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &point_len);
	got = p11t_attr(rw, o, CKA_EC_POINT, &len);
	t_ok(got && len == point_len + 2 && memcmp(got + 2, point, point_len) == 0,
	     "%s: CKA_EC_POINT is the original's public point", what);
	free(got);
	{
		uint8_t v[66];
		CK_ATTRIBUTE a = { CKA_VALUE, v, sizeof(v) };
		t_rv(F->C_GetAttributeValue(rw, o, &a, 1), CKR_ATTRIBUTE_SENSITIVE, "%s: CKA_VALUE is sensitive", what);
	}
	t_rv(F->C_CreateObject(rw, t, 4, &o), CKR_TEMPLATE_INCOMPLETE, "%s without CKA_VALUE", what);
	EVP_PKEY_free(k);
}

int main(void)
{
	CK_SESSION_HANDLE rw, ro;

	p11t_load();
	MUST(p11t_init());
	slot = p11t_new_token("keys", SO_PIN, USER_PIN);
	rw = p11t_open(slot, true);
	ro = p11t_open(slot, false);
	p11t_login(rw, CKU_USER, USER_PIN);
	test_mechanisms();
	test_generate(rw);
	test_generate_errors(rw, ro);
	test_import_rsa(rw, 2048, true);
	test_import_rsa(rw, 2048, false);
	test_import_rsa(rw, 3072, true);
	test_import_ec(rw, "P-256", p11t_p256, sizeof(p11t_p256));
	test_import_ec(rw, "P-384", p11t_p384, sizeof(p11t_p384));

	/* keys survive C_Finalize and still sign */
	MUST(F->C_Finalize(NULL));
	MUST(p11t_init());
	rw = p11t_open(slot, false);
	p11t_login(rw, CKU_USER, USER_PIN);
	{
		CK_OBJECT_HANDLE priv = p11t_find_label(rw, CKO_PRIVATE_KEY, "p384");
		CK_OBJECT_HANDLE pub = p11t_find_label(rw, CKO_PUBLIC_KEY, "p384");
		t_ok(priv && pub && signs(rw, priv, pub, CKM_ECDSA_SHA512), "after C_Finalize/C_Initialize the P-384 key signs");
		priv = p11t_find_label(rw, CKO_PRIVATE_KEY, "rsa3072");
		pub = p11t_find_label(rw, CKO_PUBLIC_KEY, "rsa3072");
		t_ok(priv && pub && signs(rw, priv, pub, CKM_SHA384_RSA_PKCS), "... and so does the RSA 3072 key");
	}
	MUST(F->C_Finalize(NULL));
	return t_done();
}
