/* Every mechanism of C_GetMechanismList at work (PKCS#11 v2.40 §5.8-5.12 and the
 * mechanism sections of the Current Mechanisms spec): signatures made in the TPM and
 * verified by the token and by OpenSSL, single- and multi-part; PSS salt lengths;
 * OAEP and PKCS#1 v1.5 ciphertexts made by OpenSSL decrypted in the TPM; digests;
 * the output buffer convention; and the unhappy paths of every crypto function. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "p11t.h"

static CK_SESSION_HANDLE h;
static CK_SLOT_ID slot;
static const CK_BBOOL no = CK_FALSE;

struct pair {
	const char *label;
	CK_OBJECT_HANDLE pub, priv;
	EVP_PKEY *evp;
	size_t sig_len;
};

static struct pair rsa2048 = { "rsa2048" }, rsa3072 = { "rsa3072" }, p256 = { "p256" }, p384 = { "p384" };

static const uint8_t msg[] = "The quick brown fox jumps over the lazy dog, many times over, for PKCS#11.";

static void gen_pairs(void)
{
	MUST(p11t_gen_rsa(h, 2048, rsa2048.label, &rsa2048.pub, &rsa2048.priv));
	MUST(p11t_gen_rsa(h, 3072, rsa3072.label, &rsa3072.pub, &rsa3072.priv));
	MUST(p11t_gen_ec(h, p11t_p256, sizeof(p11t_p256), p256.label, &p256.pub, &p256.priv));
	MUST(p11t_gen_ec(h, p11t_p384, sizeof(p11t_p384), p384.label, &p384.pub, &p384.priv));
	rsa2048.evp = p11t_evp_public(h, rsa2048.pub);
	rsa3072.evp = p11t_evp_public(h, rsa3072.pub);
	p256.evp = p11t_evp_public(h, p256.pub);
	p384.evp = p11t_evp_public(h, p384.pub);
	if (!rsa2048.evp || !rsa3072.evp || !p256.evp || !p384.evp)
		t_bail("public key objects do not make OpenSSL keys");
	rsa2048.sig_len = 256;
	rsa3072.sig_len = 384;
	p256.sig_len = 64;
	p384.sig_len = 96;
}

/* Sign in one part and in three; verify in the token both ways and in OpenSSL. */
static void sign_verify(struct pair *k, CK_MECHANISM *m, const uint8_t *data, size_t len, const char *what,
			bool deterministic)
{
	uint8_t sig1[512], sig2[512];
	CK_ULONG l1 = sizeof(sig1), l2 = sizeof(sig2);
	const CK_RSA_PKCS_PSS_PARAMS *pss = m->ulParameterLen == sizeof(CK_RSA_PKCS_PSS_PARAMS) ? m->pParameter : NULL;
	bool multi = m->mechanism != CKM_RSA_PKCS && m->mechanism != CKM_RSA_PKCS_PSS && m->mechanism != CKM_ECDSA;
	CK_RV rv;

	rv = p11t_sign(h, m, k->priv, data, len, sig1, &l1);
	if (!t_rv(rv, CKR_OK, "%s: C_Sign", what))
		return;
	t_eq(l1, k->sig_len, "%s: signature length", what);
	t_ok(p11t_ossl_verify(k->evp, m->mechanism, pss, data, len, sig1, l1), "%s: OpenSSL verifies", what);
	MUST(F->C_VerifyInit(h, m, k->pub));
	t_rv(F->C_Verify(h, (CK_BYTE_PTR)data, len, sig1, l1), CKR_OK, "%s: C_Verify", what);
	if (!multi)
		return;
	MUST(F->C_SignInit(h, m, k->priv));
	MUST(F->C_SignUpdate(h, (CK_BYTE_PTR)data, len / 3));
	MUST(F->C_SignUpdate(h, (CK_BYTE_PTR)data + len / 3, 0));
	MUST(F->C_SignUpdate(h, (CK_BYTE_PTR)data + len / 3, len - len / 3));
	t_rv(F->C_SignFinal(h, sig2, &l2), CKR_OK, "%s: C_SignUpdate x3, C_SignFinal", what);
	if (deterministic)
		t_ok(l1 == l2 && memcmp(sig1, sig2, l1) == 0, "%s: multi-part gives the same signature", what);
	else
		t_ok(p11t_ossl_verify(k->evp, m->mechanism, pss, data, len, sig2, l2), "%s: multi-part verifies in OpenSSL",
		     what);
	MUST(F->C_VerifyInit(h, m, k->pub));
	MUST(F->C_VerifyUpdate(h, (CK_BYTE_PTR)data, 5));
	MUST(F->C_VerifyUpdate(h, (CK_BYTE_PTR)data + 5, len - 5));
	t_rv(F->C_VerifyFinal(h, sig2, l2), CKR_OK, "%s: C_VerifyUpdate x2, C_VerifyFinal", what);
}

static void test_rsa_pkcs1(void)
{
	static const CK_MECHANISM_TYPE hashed[] = { CKM_SHA1_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS,
						     CKM_SHA512_RSA_PKCS };
	static const uint8_t sha256_prefix[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
						 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
	CK_MECHANISM raw = { CKM_RSA_PKCS, NULL, 0 };
	uint8_t info[19 + 32], big[246], sig[512];
	CK_ULONG sig_len;
	char what[64];

	for (size_t i = 0; i < 4; i++) {
		CK_MECHANISM m = { hashed[i], NULL, 0 };
		snprintf(what, sizeof(what), "RSA 2048 mechanism 0x%lx", (unsigned long)hashed[i]);
		sign_verify(&rsa2048, &m, msg, sizeof(msg), what, true);
	}
	{
		CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
		sign_verify(&rsa3072, &m, msg, sizeof(msg), "RSA 3072 CKM_SHA256_RSA_PKCS", true);
	}

	/* CKM_RSA_PKCS over a DigestInfo is a standard PKCS#1 v1.5 signature */
	memcpy(info, sha256_prefix, sizeof(sha256_prefix));
	EVP_Digest(msg, sizeof(msg), info + 19, NULL, EVP_sha256(), NULL);
	sign_verify(&rsa2048, &raw, info, sizeof(info), "CKM_RSA_PKCS of a SHA-256 DigestInfo", true);
	sig_len = sizeof(sig);
	MUST(p11t_sign(h, &raw, rsa2048.priv, info, sizeof(info), sig, &sig_len));
	t_ok(p11t_ossl_verify(rsa2048.evp, CKM_SHA256_RSA_PKCS, NULL, msg, sizeof(msg), sig, sig_len),
	     "... which OpenSSL verifies as sha256WithRSAEncryption of the message");
	/* raw data of any length up to k - 11 */
	memset(big, 0x5a, sizeof(big));
	sign_verify(&rsa2048, &raw, big, 1, "CKM_RSA_PKCS of 1 byte", true);
	sign_verify(&rsa2048, &raw, big, 100, "CKM_RSA_PKCS of 100 bytes", true);
	sign_verify(&rsa2048, &raw, big, 245, "CKM_RSA_PKCS of 245 bytes (k - 11)", true);
	sig_len = sizeof(sig);
	t_rv(p11t_sign(h, &raw, rsa2048.priv, big, 246, sig, &sig_len), CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS of 246 bytes");
	t_rv(F->C_Sign(h, big, 10, sig, &sig_len), CKR_OPERATION_NOT_INITIALIZED, "... that ended the operation");
}

static void pss(CK_MECHANISM_TYPE mech, CK_MECHANISM_TYPE hash, CK_RSA_PKCS_MGF_TYPE mgf, CK_ULONG salt,
		struct pair *k, const char *what)
{
	CK_RSA_PKCS_PSS_PARAMS p = { hash, mgf, salt };
	CK_MECHANISM m = { mech, &p, sizeof(p) };
	uint8_t digest[64];
	unsigned dlen = 0;
	const EVP_MD *md = p11t_md(hash);

	if (mech == CKM_RSA_PKCS_PSS) {
		EVP_Digest(msg, sizeof(msg), digest, &dlen, md, NULL);
		sign_verify(k, &m, digest, dlen, what, false);
	} else {
		sign_verify(k, &m, msg, sizeof(msg), what, false);
	}
}

static void test_rsa_pss(void)
{
	static const struct {
		CK_MECHANISM_TYPE mech, hash;
		CK_RSA_PKCS_MGF_TYPE mgf;
	} hashed[] = {
		{ CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1 },
		{ CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256 },
		{ CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384 },
		{ CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512 },
	};
	char what[96];

	for (size_t i = 0; i < 4; i++) {
		size_t hlen = (size_t)EVP_MD_get_size(p11t_md(hashed[i].hash));
		snprintf(what, sizeof(what), "PSS mechanism 0x%lx, sLen = hash length", (unsigned long)hashed[i].mech);
		pss(hashed[i].mech, hashed[i].hash, hashed[i].mgf, hlen, &rsa2048, what);
		snprintf(what, sizeof(what), "CKM_RSA_PKCS_PSS with hash 0x%lx, sLen = hash length",
			 (unsigned long)hashed[i].hash);
		pss(CKM_RSA_PKCS_PSS, hashed[i].hash, hashed[i].mgf, hlen, &rsa2048, what);
	}
	pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 0, &rsa2048, "PSS SHA-256, sLen 0");
	pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 20, &rsa2048, "PSS SHA-256, sLen 20");
	pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 256 - 32 - 2, &rsa2048, "PSS SHA-256, sLen 222 (the most)");
	pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA1, 32, &rsa2048, "PSS SHA-256 with MGF1-SHA1");
	pss(CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48, &rsa3072, "RSA 3072 PSS SHA-384");

	/* parameters */
	{
		CK_RSA_PKCS_PSS_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
		CK_MECHANISM m = { CKM_RSA_PKCS_PSS, &p, sizeof(p) };
		CK_MECHANISM none = { CKM_RSA_PKCS_PSS, NULL, 0 };
		CK_MECHANISM short_len = { CKM_RSA_PKCS_PSS, &p, sizeof(p) - 1 };
		uint8_t digest[64] = { 1 }, sig[256];
		CK_ULONG sig_len = sizeof(sig);

		t_rv(F->C_SignInit(h, &none, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "PSS without parameters");
		t_rv(F->C_SignInit(h, &short_len, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "PSS with a short parameter");
		p.sLen = 256 - 32 - 1;
		t_rv(F->C_SignInit(h, &m, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "PSS with sLen 223 (too long)");
		p.sLen = 32;
		p.mgf = 0x77;
		t_rv(F->C_SignInit(h, &m, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "PSS with an unknown MGF");
		p.mgf = CKG_MGF1_SHA256;
		p.hashAlg = CKM_MD5;
		t_rv(F->C_SignInit(h, &m, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "PSS with MD5");
		p.hashAlg = CKM_SHA_1;
		m.mechanism = CKM_SHA256_RSA_PKCS_PSS;
		t_rv(F->C_SignInit(h, &m, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID,
		     "CKM_SHA256_RSA_PKCS_PSS with hashAlg SHA-1");
		m.mechanism = CKM_RSA_PKCS_PSS;
		p.hashAlg = CKM_SHA256;
		MUST(F->C_SignInit(h, &m, rsa2048.priv));
		t_rv(F->C_Sign(h, digest, 31, sig, &sig_len), CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS_PSS of 31 bytes with SHA-256");
		MUST(F->C_SignInit(h, &m, rsa2048.priv));
		t_rv(F->C_Sign(h, digest, 33, sig, &sig_len), CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS_PSS of 33 bytes with SHA-256");
		MUST(F->C_VerifyInit(h, &m, rsa2048.pub));
		t_rv(F->C_Verify(h, digest, 31, sig, 256), CKR_DATA_LEN_RANGE, "C_Verify PSS of 31 bytes");
	}
}

static void test_ecdsa(void)
{
	static const CK_MECHANISM_TYPE hashed[] = { CKM_ECDSA_SHA1, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512 };
	static const size_t lengths[] = { 1, 16, 20, 28, 31, 32, 33, 48, 64, 100 };
	CK_MECHANISM raw = { CKM_ECDSA, NULL, 0 };
	struct pair *keys[] = { &p256, &p384 };
	uint8_t digest[100], sig[96];
	CK_ULONG sig_len;
	char what[96];

	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(0xc3 ^ i * 17);
	for (size_t k = 0; k < 2; k++) {
		for (size_t i = 0; i < 4; i++) {
			CK_MECHANISM m = { hashed[i], NULL, 0 };
			snprintf(what, sizeof(what), "%s mechanism 0x%lx", keys[k]->label, (unsigned long)hashed[i]);
			sign_verify(keys[k], &m, msg, sizeof(msg), what, false);
		}
		for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
			snprintf(what, sizeof(what), "%s CKM_ECDSA of a %zu-byte digest", keys[k]->label, lengths[i]);
			sign_verify(keys[k], &raw, digest, lengths[i], what, false);
		}
	}
	sig_len = sizeof(sig);
	t_rv(p11t_sign(h, &raw, p256.priv, digest, 0, sig, &sig_len), CKR_DATA_LEN_RANGE, "CKM_ECDSA of nothing");
}

static void test_sign_errors(void)
{
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 }, rsa = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_MECHANISM digest = { CKM_SHA256, NULL, 0 }, oaep = { CKM_RSA_PKCS_OAEP, NULL, 0 };
	CK_MECHANISM unknown = { CKM_VENDOR_DEFINED | 0x4242, NULL, 0 }, param = { CKM_ECDSA, "x", 1 };
	uint8_t sig[512], d32[32] = { 7 };
	CK_ULONG sig_len = sizeof(sig);
	CK_OBJECT_HANDLE data_obj, nosign_pub, nosign_priv;

	t_rv(F->C_SignInit(h, NULL, p256.priv), CKR_ARGUMENTS_BAD, "C_SignInit(NULL mechanism)");
	t_rv(F->C_SignInit(h, &unknown, p256.priv), CKR_MECHANISM_INVALID, "C_SignInit(unknown mechanism)");
	t_rv(F->C_SignInit(h, &digest, p256.priv), CKR_MECHANISM_INVALID, "C_SignInit(CKM_SHA256)");
	t_rv(F->C_SignInit(h, &oaep, rsa2048.priv), CKR_MECHANISM_INVALID, "C_SignInit(CKM_RSA_PKCS_OAEP)");
	t_rv(F->C_SignInit(h, &param, p256.priv), CKR_MECHANISM_PARAM_INVALID, "C_SignInit(CKM_ECDSA with a parameter)");
	t_rv(F->C_SignInit(h, &ecdsa, rsa2048.priv), CKR_KEY_TYPE_INCONSISTENT, "C_SignInit(CKM_ECDSA, RSA key)");
	t_rv(F->C_SignInit(h, &rsa, p256.priv), CKR_KEY_TYPE_INCONSISTENT, "C_SignInit(RSA mechanism, EC key)");
	{
		CK_RV rv = F->C_SignInit(h, &ecdsa, p256.pub);
		t_ok(rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_KEY_FUNCTION_NOT_PERMITTED,
		     "C_SignInit with a public key: %s", ckr(rv));
	}
	MUST(p11t_data(h, "not a key", false, false, &data_obj));
	{
		CK_RV rv = F->C_SignInit(h, &ecdsa, data_obj);
		t_ok(rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_KEY_HANDLE_INVALID, "C_SignInit with a data object: %s",
		     ckr(rv));
	}
	t_rv(F->C_SignInit(h, &ecdsa, 0x7ffffff0), CKR_KEY_HANDLE_INVALID, "C_SignInit(unknown key handle)");
	t_rv(F->C_SignInit(h, &ecdsa, CK_INVALID_HANDLE), CKR_KEY_HANDLE_INVALID, "C_SignInit(handle 0)");

	/* a key that may not sign */
	{
		CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)p11t_p256, sizeof(p11t_p256) }, { CKA_VERIFY, (void *)&no, 1 } };
		CK_ATTRIBUTE kt[] = { { CKA_SIGN, (void *)&no, 1 } };
		MUST(F->C_GenerateKeyPair(h, &m, pt, 2, kt, 1, &nosign_pub, &nosign_priv));
		t_rv(F->C_SignInit(h, &ecdsa, nosign_priv), CKR_KEY_FUNCTION_NOT_PERMITTED, "C_SignInit, key with CKA_SIGN FALSE");
		t_rv(F->C_VerifyInit(h, &ecdsa, nosign_pub), CKR_KEY_FUNCTION_NOT_PERMITTED,
		     "C_VerifyInit, key with CKA_VERIFY FALSE");
	}
	/* CKA_ALLOWED_MECHANISMS */
	{
		CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		CK_MECHANISM_TYPE only[] = { CKM_ECDSA };
		CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)p11t_p256, sizeof(p11t_p256) } };
		CK_ATTRIBUTE kt[] = { { CKA_ALLOWED_MECHANISMS, only, sizeof(only) } };
		CK_OBJECT_HANDLE pub, priv;
		CK_MECHANISM sha = { CKM_ECDSA_SHA256, NULL, 0 };
		MUST(F->C_GenerateKeyPair(h, &m, pt, 1, kt, 1, &pub, &priv));
		t_rv(F->C_SignInit(h, &sha, priv), CKR_MECHANISM_INVALID, "CKA_ALLOWED_MECHANISMS {CKM_ECDSA}: CKM_ECDSA_SHA256 refused");
		t_rv(F->C_SignInit(h, &ecdsa, priv), CKR_OK, "... CKM_ECDSA allowed");
		MUST(F->C_Sign(h, d32, 32, sig, &sig_len));
	}

	/* state */
	t_rv(F->C_Sign(h, d32, 32, sig, &sig_len), CKR_OPERATION_NOT_INITIALIZED, "C_Sign without C_SignInit");
	t_rv(F->C_SignUpdate(h, d32, 32), CKR_OPERATION_NOT_INITIALIZED, "C_SignUpdate without C_SignInit");
	t_rv(F->C_SignFinal(h, sig, &sig_len), CKR_OPERATION_NOT_INITIALIZED, "C_SignFinal without C_SignInit");
	MUST(F->C_SignInit(h, &ecdsa, p256.priv));
	t_rv(F->C_SignInit(h, &ecdsa, p256.priv), CKR_OPERATION_ACTIVE, "C_SignInit while signing");
	t_rv(F->C_SignInit(h, &rsa, rsa2048.priv), CKR_OPERATION_ACTIVE, "... with another key too");
	t_rv(F->C_Sign(h, d32, 32, sig, NULL), CKR_ARGUMENTS_BAD, "C_Sign(NULL length)");
	MUST(F->C_SignInit(h, &ecdsa, p256.priv));
	sig_len = sizeof(sig);
	t_rv(F->C_Sign(h, d32, 32, sig, &sig_len), CKR_OK, "the first operation still works after those");

	/* not logged in: the private key is not there */
	MUST(F->C_Logout(h));
	{
		CK_RV rv = F->C_SignInit(h, &ecdsa, p256.priv);
		t_ok(rv == CKR_KEY_HANDLE_INVALID || rv == CKR_USER_NOT_LOGGED_IN, "C_SignInit when logged out: %s", ckr(rv));
	}
	p11t_login(h, CKU_USER, USER_PIN);
	/* v2.40 §5.6: handles to private objects stay invalid after C_Logout; look them up again */
	p256.priv = p11t_find_label(h, CKO_PRIVATE_KEY, p256.label);
	rsa2048.priv = p11t_find_label(h, CKO_PRIVATE_KEY, rsa2048.label);
	rsa3072.priv = p11t_find_label(h, CKO_PRIVATE_KEY, rsa3072.label);
	p384.priv = p11t_find_label(h, CKO_PRIVATE_KEY, p384.label);
}

/* NULL buffer → length; short buffer → CKR_BUFFER_TOO_SMALL and the operation
 * stays; a good buffer → the result and the end of the operation. */
static void test_buffers(void)
{
	CK_MECHANISM ecdsa = { CKM_ECDSA_SHA256, NULL, 0 }, rsa = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_MECHANISM sha = { CKM_SHA384, NULL, 0 };
	uint8_t sig[512], sig2[512], md[64];
	CK_ULONG len = 0;

	MUST(F->C_SignInit(h, &rsa, rsa2048.priv));
	t_rv(F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &len), CKR_OK, "C_Sign(NULL buffer)");
	t_eq(len, 256, "... gives the length");
	len = 255;
	t_rv(F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len), CKR_BUFFER_TOO_SMALL, "C_Sign into 255 bytes");
	t_eq(len, 256, "... gives the length");
	len = sizeof(sig);
	t_rv(F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len), CKR_OK, "C_Sign still active: signs");
	t_ok(len == 256 && p11t_ossl_verify(rsa2048.evp, CKM_SHA256_RSA_PKCS, NULL, msg, sizeof(msg), sig, len),
	     "... a good signature");
	t_rv(F->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len), CKR_OPERATION_NOT_INITIALIZED, "... and that ended it");

	MUST(F->C_SignInit(h, &ecdsa, p256.priv));
	MUST(F->C_SignUpdate(h, (CK_BYTE_PTR)msg, sizeof(msg)));
	len = 0;
	t_rv(F->C_SignFinal(h, NULL, &len), CKR_OK, "C_SignFinal(NULL buffer)");
	t_eq(len, 64, "... 64 bytes for P-256");
	len = 10;
	t_rv(F->C_SignFinal(h, sig2, &len), CKR_BUFFER_TOO_SMALL, "C_SignFinal into 10 bytes");
	t_eq(len, 64, "... gives the length");
	len = sizeof(sig2);
	t_rv(F->C_SignFinal(h, sig2, &len), CKR_OK, "C_SignFinal still active");
	t_ok(p11t_ossl_verify(p256.evp, CKM_ECDSA_SHA256, NULL, msg, sizeof(msg), sig2, len), "... a good signature");

	MUST(F->C_DigestInit(h, &sha));
	len = 0;
	t_rv(F->C_Digest(h, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &len), CKR_OK, "C_Digest(NULL buffer)");
	t_eq(len, 48, "... 48 bytes for SHA-384");
	len = 47;
	t_rv(F->C_Digest(h, (CK_BYTE_PTR)msg, sizeof(msg), md, &len), CKR_BUFFER_TOO_SMALL, "C_Digest into 47 bytes");
	len = sizeof(md);
	t_rv(F->C_Digest(h, (CK_BYTE_PTR)msg, sizeof(msg), md, &len), CKR_OK, "C_Digest still active");
	{
		uint8_t want[64];
		EVP_Digest(msg, sizeof(msg), want, NULL, EVP_sha384(), NULL);
		t_ok(len == 48 && memcmp(md, want, 48) == 0, "... the SHA-384 of the data");
	}
}

static void test_verify(void)
{
	CK_MECHANISM m = { CKM_ECDSA_SHA384, NULL, 0 }, r = { CKM_SHA512_RSA_PKCS, NULL, 0 };
	uint8_t sig[512], data[sizeof(msg)];
	CK_ULONG len = sizeof(sig);

	MUST(p11t_sign(h, &m, p384.priv, msg, sizeof(msg), sig, &len));
	memcpy(data, msg, sizeof(msg));
	MUST(F->C_VerifyInit(h, &m, p384.pub));
	t_rv(F->C_VerifyInit(h, &m, p384.pub), CKR_OPERATION_ACTIVE, "C_VerifyInit while verifying");
	sig[3] ^= 0x10;
	t_rv(F->C_Verify(h, data, sizeof(data), sig, len), CKR_SIGNATURE_INVALID, "C_Verify of a damaged signature");
	t_rv(F->C_Verify(h, data, sizeof(data), sig, len), CKR_OPERATION_NOT_INITIALIZED, "... which ended the operation");
	sig[3] ^= 0x10;
	data[0] ^= 1;
	MUST(F->C_VerifyInit(h, &m, p384.pub));
	t_rv(F->C_Verify(h, data, sizeof(data), sig, len), CKR_SIGNATURE_INVALID, "C_Verify of other data");
	data[0] ^= 1;
	MUST(F->C_VerifyInit(h, &m, p384.pub));
	t_rv(F->C_Verify(h, data, sizeof(data), sig, len - 1), CKR_SIGNATURE_LEN_RANGE, "C_Verify, signature one byte short");
	MUST(F->C_VerifyInit(h, &m, p384.pub));
	t_rv(F->C_Verify(h, data, sizeof(data), NULL, len), CKR_ARGUMENTS_BAD, "C_Verify(NULL signature)");
	MUST(F->C_VerifyInit(h, &m, p384.pub));
	t_rv(F->C_Verify(h, data, sizeof(data), sig, len), CKR_OK, "C_Verify after those");
	t_rv(F->C_VerifyInit(h, &m, p384.priv), CKR_KEY_TYPE_INCONSISTENT, "C_VerifyInit with the private key");
	t_rv(F->C_VerifyInit(h, &r, p384.pub), CKR_KEY_TYPE_INCONSISTENT, "C_VerifyInit(RSA mechanism, EC key)");
	t_rv(F->C_VerifyFinal(h, sig, len), CKR_OPERATION_NOT_INITIALIZED, "C_VerifyFinal without C_VerifyInit");
	t_rv(F->C_VerifyUpdate(h, data, 4), CKR_OPERATION_NOT_INITIALIZED, "C_VerifyUpdate without C_VerifyInit");
	len = sizeof(sig);
	MUST(p11t_sign(h, &r, rsa2048.priv, msg, sizeof(msg), sig, &len));
	sig[255] ^= 1;
	MUST(F->C_VerifyInit(h, &r, rsa2048.pub));
	t_rv(F->C_Verify(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, len), CKR_SIGNATURE_INVALID, "RSA: C_Verify of a damaged signature");
	MUST(F->C_VerifyInit(h, &r, rsa2048.pub));
	t_rv(F->C_Verify(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, 300), CKR_SIGNATURE_LEN_RANGE, "RSA: a 300-byte signature");
}

/* ---- encryption ---- */

static size_t ossl_encrypt(EVP_PKEY *k, int padding, const EVP_MD *md, const char *label, const uint8_t *in,
			   size_t len, uint8_t *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	size_t out_len = 512;

	EVP_PKEY_encrypt_init(ctx);
	EVP_PKEY_CTX_set_rsa_padding(ctx, padding);
	if (md) {
		EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md);
		EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md);
	}
	if (label)
		EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_strdup(label), (int)strlen(label));
	if (EVP_PKEY_encrypt(ctx, out, &out_len, in, len) != 1)
		out_len = 0;
	EVP_PKEY_CTX_free(ctx);
	return out_len;
}

static CK_RV decrypt(CK_MECHANISM *m, CK_OBJECT_HANDLE key, const uint8_t *in, size_t len, uint8_t *out, CK_ULONG *out_len)
{
	CK_RV rv = F->C_DecryptInit(h, m, key);
	return rv != CKR_OK ? rv : F->C_Decrypt(h, (CK_BYTE_PTR)in, len, out, out_len);
}

static void oaep_case(CK_MECHANISM_TYPE hash, CK_RSA_PKCS_MGF_TYPE mgf, const char *label, const char *what)
{
	CK_RSA_PKCS_OAEP_PARAMS p = { hash, mgf, CKZ_DATA_SPECIFIED, (void *)label, label ? strlen(label) : 0 };
	CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };
	uint8_t ct[512], pt[512];
	size_t ct_len = ossl_encrypt(rsa2048.evp, RSA_PKCS1_OAEP_PADDING, p11t_md(hash), label, msg, 40, ct);
	CK_ULONG pt_len = sizeof(pt);

	t_rv(decrypt(&m, rsa2048.priv, ct, ct_len, pt, &pt_len), CKR_OK, "%s: C_Decrypt of OpenSSL's ciphertext", what);
	t_ok(pt_len == 40 && memcmp(pt, msg, 40) == 0, "%s: the plaintext", what);
	/* and the token's own encryption */
	MUST(F->C_EncryptInit(h, &m, rsa2048.pub));
	pt_len = sizeof(ct);
	t_rv(F->C_Encrypt(h, (CK_BYTE_PTR)msg, 20, ct, &pt_len), CKR_OK, "%s: C_Encrypt", what);
	ct_len = pt_len;
	pt_len = sizeof(pt);
	t_ok(decrypt(&m, rsa2048.priv, ct, ct_len, pt, &pt_len) == CKR_OK && pt_len == 20 && memcmp(pt, msg, 20) == 0,
	     "%s: C_Decrypt of C_Encrypt's ciphertext", what);
	/* another label, a damaged ciphertext */
	{
		CK_RSA_PKCS_OAEP_PARAMS q = p;
		CK_MECHANISM mq = { CKM_RSA_PKCS_OAEP, &q, sizeof(q) };
		q.pSourceData = "another label";
		q.ulSourceDataLen = 13;
		pt_len = sizeof(pt);
		t_rv(decrypt(&mq, rsa2048.priv, ct, ct_len, pt, &pt_len), CKR_ENCRYPTED_DATA_INVALID, "%s: with another label", what);
		ct[100] ^= 4;
		pt_len = sizeof(pt);
		t_rv(decrypt(&m, rsa2048.priv, ct, ct_len, pt, &pt_len), CKR_ENCRYPTED_DATA_INVALID, "%s: damaged", what);
	}
}

static void test_encryption(void)
{
	CK_MECHANISM pkcs = { CKM_RSA_PKCS, NULL, 0 };
	uint8_t ct[512], pt[512], big[300];
	size_t ct_len;
	CK_ULONG len;

	oaep_case(CKM_SHA_1, CKG_MGF1_SHA1, NULL, "OAEP SHA-1");
	oaep_case(CKM_SHA_1, CKG_MGF1_SHA1, "a label", "OAEP SHA-1 with a label");
	oaep_case(CKM_SHA256, CKG_MGF1_SHA256, NULL, "OAEP SHA-256");
	oaep_case(CKM_SHA256, CKG_MGF1_SHA256, "label for SHA-256", "OAEP SHA-256 with a label");

	ct_len = ossl_encrypt(rsa2048.evp, RSA_PKCS1_PADDING, NULL, NULL, msg, sizeof(msg), ct);
	len = sizeof(pt);
	t_rv(decrypt(&pkcs, rsa2048.priv, ct, ct_len, pt, &len), CKR_OK, "PKCS#1 v1.5: C_Decrypt of OpenSSL's ciphertext");
	t_ok(len == sizeof(msg) && memcmp(pt, msg, len) == 0, "PKCS#1 v1.5: the plaintext");
	ct_len = ossl_encrypt(rsa3072.evp, RSA_PKCS1_PADDING, NULL, NULL, msg, 1, ct);
	len = sizeof(pt);
	t_ok(decrypt(&pkcs, rsa3072.priv, ct, ct_len, pt, &len) == CKR_OK && len == 1 && pt[0] == msg[0],
	     "PKCS#1 v1.5, RSA 3072, one byte");

	/* decryption output convention: NULL → a length that will do */
	ct_len = ossl_encrypt(rsa2048.evp, RSA_PKCS1_PADDING, NULL, NULL, msg, 30, ct);
	MUST(F->C_DecryptInit(h, &pkcs, rsa2048.priv));
	len = 0;
	t_rv(F->C_Decrypt(h, ct, ct_len, NULL, &len), CKR_OK, "C_Decrypt(NULL buffer)");
	t_ok(len >= 30, "... a length that holds the plaintext (%lu)", (unsigned long)len);
	len = 29;
	t_rv(F->C_Decrypt(h, ct, ct_len, pt, &len), CKR_BUFFER_TOO_SMALL, "C_Decrypt into 29 bytes");
	t_ok(len >= 30, "... with a length that holds it");
	len = 30;
	t_rv(F->C_Decrypt(h, ct, ct_len, pt, &len), CKR_OK, "C_Decrypt still active");
	t_ok(len == 30 && memcmp(pt, msg, 30) == 0, "... the plaintext");

	/* errors */
	MUST(F->C_DecryptInit(h, &pkcs, rsa2048.priv));
	len = sizeof(pt);
	t_rv(F->C_Decrypt(h, ct, 255, pt, &len), CKR_ENCRYPTED_DATA_LEN_RANGE, "C_Decrypt of 255 bytes with RSA 2048");
	memset(big, 0x11, sizeof(big));
	len = sizeof(pt);
	t_rv(decrypt(&pkcs, rsa2048.priv, big, 256, pt, &len), CKR_ENCRYPTED_DATA_INVALID, "C_Decrypt of bytes that are no ciphertext");
	t_rv(F->C_DecryptInit(h, &pkcs, p256.priv), CKR_KEY_TYPE_INCONSISTENT, "C_DecryptInit with an EC key");
	t_rv(F->C_DecryptInit(h, &pkcs, rsa2048.pub), CKR_KEY_TYPE_INCONSISTENT, "C_DecryptInit with a public key");
	t_rv(F->C_EncryptInit(h, &pkcs, rsa2048.priv), CKR_KEY_TYPE_INCONSISTENT, "C_EncryptInit with a private key");
	{
		CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
		t_rv(F->C_DecryptInit(h, &ecdsa, p256.priv), CKR_MECHANISM_INVALID, "C_DecryptInit(CKM_ECDSA)");
	}
	MUST(F->C_EncryptInit(h, &pkcs, rsa2048.pub));
	len = sizeof(ct);
	t_rv(F->C_Encrypt(h, big, 246, ct, &len), CKR_DATA_LEN_RANGE, "C_Encrypt PKCS#1 v1.5 of 246 bytes");
	MUST(F->C_EncryptInit(h, &pkcs, rsa2048.pub));
	len = 0;
	t_rv(F->C_Encrypt(h, big, 245, NULL, &len), CKR_OK, "C_Encrypt(NULL buffer)");
	t_eq(len, 256, "... 256 bytes");
	t_rv(F->C_EncryptInit(h, &pkcs, rsa2048.pub), CKR_OPERATION_ACTIVE, "C_EncryptInit while encrypting");
	len = sizeof(ct);
	t_rv(F->C_Encrypt(h, big, 245, ct, &len), CKR_OK, "C_Encrypt of 245 bytes");
	{
		CK_RSA_PKCS_OAEP_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
		CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };
		CK_MECHANISM none = { CKM_RSA_PKCS_OAEP, NULL, 0 };
		MUST(F->C_EncryptInit(h, &m, rsa2048.pub));
		len = sizeof(ct);
		t_rv(F->C_Encrypt(h, big, 256 - 2 * 32 - 1, ct, &len), CKR_DATA_LEN_RANGE, "C_Encrypt OAEP SHA-256 of 191 bytes");
		t_rv(F->C_DecryptInit(h, &none, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "OAEP without parameters");
		p.source = 0x55;
		t_rv(F->C_DecryptInit(h, &m, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "OAEP with an unknown source");
		p.source = CKZ_DATA_SPECIFIED;
		p.ulSourceDataLen = 4;
		t_rv(F->C_DecryptInit(h, &m, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "OAEP with a NULL label of 4 bytes");
		p.ulSourceDataLen = 0;
		p.hashAlg = CKM_MD5;
		t_rv(F->C_DecryptInit(h, &m, rsa2048.priv), CKR_MECHANISM_PARAM_INVALID, "OAEP with MD5");
	}
	/* a key that may not decrypt */
	{
		CK_MECHANISM gen = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
		CK_ULONG bits = 2048;
		CK_ATTRIBUTE pt_[] = { { CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_ENCRYPT, (void *)&no, 1 } };
		CK_ATTRIBUTE kt[] = { { CKA_DECRYPT, (void *)&no, 1 } };
		CK_OBJECT_HANDLE pub, priv;
		MUST(F->C_GenerateKeyPair(h, &gen, pt_, 2, kt, 1, &pub, &priv));
		t_rv(F->C_DecryptInit(h, &pkcs, priv), CKR_KEY_FUNCTION_NOT_PERMITTED, "C_DecryptInit, CKA_DECRYPT FALSE");
		t_rv(F->C_EncryptInit(h, &pkcs, pub), CKR_KEY_FUNCTION_NOT_PERMITTED, "C_EncryptInit, CKA_ENCRYPT FALSE");
	}
	t_rv(F->C_Decrypt(h, ct, 256, pt, &len), CKR_OPERATION_NOT_INITIALIZED, "C_Decrypt without C_DecryptInit");
	t_rv(F->C_Encrypt(h, ct, 16, pt, &len), CKR_OPERATION_NOT_INITIALIZED, "C_Encrypt without C_EncryptInit");
}

static void test_digest(void)
{
	static const CK_MECHANISM_TYPE mechs[] = { CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512 };
	CK_SESSION_HANDLE pub_session = p11t_open(p11t_slot_by_label("crypto"), false);

	for (size_t i = 0; i < 4; i++) {
		CK_MECHANISM m = { mechs[i], NULL, 0 };
		uint8_t want[64], got[64];
		unsigned want_len = 0;
		CK_ULONG len = sizeof(got);
		EVP_Digest(msg, sizeof(msg), want, &want_len, p11t_md(mechs[i]), NULL);
		MUST(F->C_DigestInit(pub_session, &m));
		t_rv(F->C_Digest(pub_session, (CK_BYTE_PTR)msg, sizeof(msg), got, &len), CKR_OK, "C_Digest 0x%lx",
		     (unsigned long)mechs[i]);
		t_ok(len == want_len && memcmp(got, want, len) == 0, "... equals OpenSSL's");
		MUST(F->C_DigestInit(pub_session, &m));
		MUST(F->C_DigestUpdate(pub_session, (CK_BYTE_PTR)msg, 10));
		MUST(F->C_DigestUpdate(pub_session, (CK_BYTE_PTR)msg + 10, sizeof(msg) - 10));
		len = sizeof(got);
		t_ok(F->C_DigestFinal(pub_session, got, &len) == CKR_OK && len == want_len && memcmp(got, want, len) == 0,
		     "... multi-part too");
	}
	{
		CK_MECHANISM m = { CKM_SHA256, NULL, 0 }, bad = { CKM_RSA_PKCS, NULL, 0 }, md5 = { CKM_MD5, NULL, 0 };
		uint8_t out[64];
		CK_ULONG len = sizeof(out);
		t_rv(F->C_DigestInit(pub_session, &bad), CKR_MECHANISM_INVALID, "C_DigestInit(CKM_RSA_PKCS)");
		t_rv(F->C_DigestInit(pub_session, &md5), CKR_MECHANISM_INVALID, "C_DigestInit(CKM_MD5)");
		t_rv(F->C_DigestInit(pub_session, NULL), CKR_ARGUMENTS_BAD, "C_DigestInit(NULL)");
		t_rv(F->C_Digest(pub_session, out, 1, out, &len), CKR_OPERATION_NOT_INITIALIZED, "C_Digest without C_DigestInit");
		t_rv(F->C_DigestFinal(pub_session, out, &len), CKR_OPERATION_NOT_INITIALIZED, "C_DigestFinal without C_DigestInit");
		MUST(F->C_DigestInit(pub_session, &m));
		t_rv(F->C_DigestInit(pub_session, &m), CKR_OPERATION_ACTIVE, "C_DigestInit while digesting");
		{
			CK_RV rv = F->C_DigestKey(pub_session, rsa2048.pub);
			t_ok(rv == CKR_KEY_INDIGESTIBLE || rv == CKR_KEY_HANDLE_INVALID, "C_DigestKey of an RSA key: %s", ckr(rv));
		}
		t_rv(F->C_Digest(pub_session, NULL, 4, out, &len), CKR_OPERATION_NOT_INITIALIZED,
		     "... which ended the digest (as failures do)");
		MUST(F->C_DigestInit(pub_session, &m));
		len = sizeof(out);
		t_rv(F->C_Digest(pub_session, NULL, 4, out, &len), CKR_ARGUMENTS_BAD, "C_Digest(NULL data, 4 bytes)");
		MUST(F->C_DigestInit(pub_session, &m));
		len = sizeof(out);
		t_rv(F->C_Digest(pub_session, NULL, 0, out, &len), CKR_OK, "C_Digest of nothing");
	}
	MUST(F->C_CloseSession(pub_session));
}

/* NULL where the spec wants a pointer, and key handles that are not there. */
static void test_null_and_handles(void)
{
	CK_MECHANISM pkcs = { CKM_RSA_PKCS, NULL, 0 }, sha = { CKM_SHA256, NULL, 0 };
	CK_MECHANISM ecdsa = { CKM_ECDSA_SHA256, NULL, 0 };
	uint8_t buf[512];
	CK_ULONG len = sizeof(buf);

	t_rv(F->C_EncryptInit(h, NULL, rsa2048.pub), CKR_ARGUMENTS_BAD, "C_EncryptInit(NULL mechanism)");
	t_rv(F->C_DecryptInit(h, NULL, rsa2048.priv), CKR_ARGUMENTS_BAD, "C_DecryptInit(NULL mechanism)");
	t_rv(F->C_VerifyInit(h, NULL, rsa2048.pub), CKR_ARGUMENTS_BAD, "C_VerifyInit(NULL mechanism)");
	t_rv(F->C_EncryptInit(h, &pkcs, 0x7ffffff0), CKR_KEY_HANDLE_INVALID, "C_EncryptInit(unknown key)");
	t_rv(F->C_DecryptInit(h, &pkcs, 0x7ffffff0), CKR_KEY_HANDLE_INVALID, "C_DecryptInit(unknown key)");
	t_rv(F->C_VerifyInit(h, &ecdsa, 0x7ffffff0), CKR_KEY_HANDLE_INVALID, "C_VerifyInit(unknown key)");
	t_rv(F->C_VerifyInit(h, &ecdsa, CK_INVALID_HANDLE), CKR_KEY_HANDLE_INVALID, "C_VerifyInit(handle 0)");

	/* v2.40 §5.8-5.12: an error other than CKR_BUFFER_TOO_SMALL ends the operation,
	 * so the next C_*Init must not find it active. Each case in a session of its own. */
#define ENDS(init, call, what)                                                              \
	do {                                                                                \
		CK_SESSION_HANDLE x = p11t_open(slot, false);                               \
		MUST(F->init);                                                              \
		t_rv(F->call, CKR_ARGUMENTS_BAD, "%s", what);                               \
		t_rv(F->init, CKR_OK, "... and that ended the operation");                  \
		MUST(F->C_CloseSession(x));                                                 \
	} while (0)
	ENDS(C_EncryptInit(x, &pkcs, rsa2048.pub), C_Encrypt(x, buf, 16, buf, NULL), "C_Encrypt(NULL length)");
	ENDS(C_EncryptInit(x, &pkcs, rsa2048.pub), C_Encrypt(x, NULL, 16, buf, &len), "C_Encrypt(NULL data, 16 bytes)");
	ENDS(C_EncryptInit(x, &pkcs, rsa2048.pub), C_EncryptUpdate(x, buf, 16, buf, NULL), "C_EncryptUpdate(NULL length)");
	ENDS(C_EncryptInit(x, &pkcs, rsa2048.pub), C_EncryptFinal(x, buf, NULL), "C_EncryptFinal(NULL length)");
	ENDS(C_DecryptInit(x, &pkcs, rsa2048.priv), C_Decrypt(x, buf, 256, buf, NULL), "C_Decrypt(NULL length)");
	ENDS(C_DecryptInit(x, &pkcs, rsa2048.priv), C_DecryptUpdate(x, buf, 16, buf, NULL), "C_DecryptUpdate(NULL length)");
	ENDS(C_SignInit(x, &ecdsa, p256.priv), C_SignUpdate(x, NULL, 4), "C_SignUpdate(NULL data, 4 bytes)");
	ENDS(C_SignInit(x, &ecdsa, p256.priv), C_SignFinal(x, buf, NULL), "C_SignFinal(NULL length)");
	ENDS(C_VerifyInit(x, &ecdsa, p256.pub), C_VerifyUpdate(x, NULL, 4), "C_VerifyUpdate(NULL data, 4 bytes)");
	ENDS(C_VerifyInit(x, &ecdsa, p256.pub), C_VerifyFinal(x, NULL, 64), "C_VerifyFinal(NULL signature)");
	ENDS(C_DigestInit(x, &sha), C_DigestUpdate(x, NULL, 4), "C_DigestUpdate(NULL data, 4 bytes)");
	ENDS(C_DigestInit(x, &sha), C_DigestFinal(x, buf, NULL), "C_DigestFinal(NULL length)");
#undef ENDS
	/* whatever those did to the operations, new ones start */
	len = sizeof(buf);
	t_rv(p11t_sign(h, &ecdsa, p256.priv, buf, 10, buf + 100, &len), CKR_OK, "signing works after all of that");
}

static void test_random_and_unsupported(void)
{
	uint8_t a[4096], b[4096], buf[64];
	CK_ULONG len = sizeof(buf);
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 }, aes = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_HANDLE o;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	t_rv(F->C_GenerateRandom(h, a, sizeof(a)), CKR_OK, "C_GenerateRandom(4096 bytes)");
	t_rv(F->C_GenerateRandom(h, b, sizeof(b)), CKR_OK, "C_GenerateRandom again");
	t_ok(memcmp(a, b, sizeof(a)) != 0, "... different bytes");
	{
		int zeros = 0;
		for (size_t i = 0; i < sizeof(a); i++)
			zeros += a[i] == 0;
		t_ok(zeros < 64, "... not mostly zeros (%d)", zeros);
	}
	t_rv(F->C_GenerateRandom(h, a, 0), CKR_OK, "C_GenerateRandom(0 bytes)");
	t_rv(F->C_GenerateRandom(h, NULL, 16), CKR_ARGUMENTS_BAD, "C_GenerateRandom(NULL, 16)");
	{
		CK_RV rv = F->C_SeedRandom(h, (CK_BYTE_PTR)"seed", 4);
		t_ok(rv == CKR_OK || rv == CKR_RANDOM_SEED_NOT_SUPPORTED, "C_SeedRandom: %s", ckr(rv));
	}
	t_rv(F->C_SeedRandom(h, NULL, 4), CKR_ARGUMENTS_BAD, "C_SeedRandom(NULL, 4)");

	t_rv(F->C_SignRecoverInit(h, &m, rsa2048.priv), CKR_MECHANISM_INVALID, "C_SignRecoverInit(CKM_RSA_PKCS)");
	t_rv(F->C_VerifyRecoverInit(h, &m, rsa2048.pub), CKR_MECHANISM_INVALID, "C_VerifyRecoverInit(CKM_RSA_PKCS)");
	t_rv(F->C_SignRecover(h, buf, 10, buf, &len), CKR_OPERATION_NOT_INITIALIZED, "C_SignRecover");
	t_rv(F->C_GenerateKey(h, &aes, NULL, 0, &o), CKR_MECHANISM_INVALID, "C_GenerateKey(CKM_AES_KEY_GEN)");
	t_rv(F->C_GenerateKey(h, NULL, NULL, 0, &o), CKR_ARGUMENTS_BAD, "C_GenerateKey(NULL mechanism)");
	t_rv(F->C_WrapKey(h, &m, rsa2048.pub, p256.priv, buf, &len), CKR_MECHANISM_INVALID, "C_WrapKey(CKM_RSA_PKCS)");
	t_rv(F->C_UnwrapKey(h, &m, rsa2048.priv, buf, 16, NULL, 0, &o), CKR_MECHANISM_INVALID, "C_UnwrapKey(CKM_RSA_PKCS)");
	t_rv(F->C_DeriveKey(h, &m, p256.priv, NULL, 0, &o), CKR_MECHANISM_INVALID, "C_DeriveKey(CKM_RSA_PKCS)");
	{
		CK_RV rv = F->C_DigestEncryptUpdate(h, buf, 16, buf, &len);
		t_ok(rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_OPERATION_NOT_INITIALIZED,
		     "C_DigestEncryptUpdate with nothing started: %s", ckr(rv));
	}
}

int main(void)
{
	p11t_load();
	MUST(p11t_init());
	slot = p11t_new_token("crypto", SO_PIN, USER_PIN);
	h = p11t_open(slot, true);
	p11t_login(h, CKU_USER, USER_PIN);
	gen_pairs();
	test_rsa_pkcs1();
	test_rsa_pss();
	test_ecdsa();
	test_sign_errors();
	test_buffers();
	test_verify();
	test_encryption();
	test_digest();
	test_null_and_handles();
	test_random_and_unsupported();
	MUST(F->C_Finalize(NULL));
	EVP_PKEY_free(rsa2048.evp);
	EVP_PKEY_free(rsa3072.evp);
	EVP_PKEY_free(p256.evp);
	EVP_PKEY_free(p384.evp);
	return t_done();
}
