/* Every operation of the TPM 2.0 backend against a real (emulated) TPM, checked
 * with OpenSSL in software. Emits TAP. Run by tests/tpm/tpm2-backend.sh:
 *
 *   tpm2_backend_test --main TCTI [--restart CMD] [--lockout TCTI] [--rm TCTI]
 *
 * --main: a swtpm reached directly (3 object slots, no resource manager);
 * --restart: a command that kills and restarts that swtpm on the same port;
 * --lockout: a fresh swtpm of its own, driven into dictionary-attack lockout;
 * --rm: a TPM behind a resource manager (tpm2-abrmd). */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/log.h"
#include "common/ossl.h"
#include "conf/conf.h"
#include "tpm/backend.h"
#include "common/rsa_pad.h"
#include "tpm/tpm2_int.h"
#include "tests/tpm/tpm2_test_util.h"

static const struct tpm_backend_ops *ops = &tpm2_backend_ops;

/* --- one key under test --- */

struct tkey {
	const char *name;
	struct tpm_blob blob;
	struct tpm_public pub;
	struct tpm_auth auth;
	struct tpm_key *key;
	EVP_PKEY *soft;
};

static bool tkey_generate(struct tpm_backend *tb, struct tkey *k, const char *name,
			  enum tpm_key_type type, unsigned bits, enum tpm_curve curve, bool zeros)
{
	struct tpm_key_spec spec = { .type = type, .rsa_bits = bits, .curve = curve, .sign = true,
				     .decrypt = type == TPM_KEY_RSA };
	struct tpm_public again;
	bool ok;

	k->name = name;
	random_auth(&k->auth, zeros);
	if (!CHECK_RV(ops->key_generate(tb, &spec, &k->auth, &k->blob, &k->pub), CKR_OK,
		      "generate %s", name))
		return false;
	ok = ops->key_public(tb, &k->blob, &again) == CKR_OK &&
	     memcmp(&again, &k->pub, sizeof(again)) == 0;
	check(ok, "%s: key_public() of the blob is the generated public key", name);
	k->soft = soft_public(&k->pub);
	check(k->soft != NULL, "%s: public key usable by OpenSSL", name);
	return CHECK_RV(ops->key_open(tb, &k->blob, &k->auth, &k->key), CKR_OK, "%s: key_open", name) &&
	       k->soft;
}

static void tkey_free(struct tpm_backend *tb, struct tkey *k)
{
	if (k->key)
		ops->key_close(tb, k->key);
	k->key = NULL;
	tpm_blob_release(&k->blob);
	EVP_PKEY_free(k->soft);
	k->soft = NULL;
}

static void rsa_tests(struct tpm_backend *tb, struct tkey *k)
{
	size_t n = k->pub.modulus_len, sig_len, out_len, ct_len;
	uint8_t di[128], sig[512], ct[512], out[512], msg[64], digest[64];
	static const uint8_t lbl_nul[] = "tpm label"; /* with its NUL: the TPM's own OAEP */
	static const char lbl[] = "label";            /* without: decoded on the host */
	struct tpm_dec_params dp;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i + 1);

	/* PKCS#1 v1.5 on a DigestInfo, every SHA */
	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		size_t plen;
		const uint8_t *prefix = rsa_pad_digestinfo_prefix((enum hash_alg)h, &plen);

		memcpy(di, prefix, plen);
		hash_digest((enum hash_alg)h, "to be signed", 12, di + plen);
		sig_len = sizeof(sig);
		if (CHECK_RV(ops->rsa_sign_pkcs1(tb, k->key, di, plen + hash_size((enum hash_alg)h), sig,
						 &sig_len), CKR_OK, "%s: PKCS#1 sign %s DigestInfo",
			     k->name, hash_name((enum hash_alg)h)))
			check(sig_len == n && verify_pkcs1(k->soft, (enum hash_alg)h, di + plen, sig, sig_len),
			      "%s: OpenSSL verifies the %s PKCS#1 signature", k->name,
			      hash_name((enum hash_alg)h));
	}
	/* raw PKCS#1 data: 36-byte MD5+SHA-1, and the longest input */
	sig_len = sizeof(sig);
	if (CHECK_RV(ops->rsa_sign_pkcs1(tb, k->key, msg, 36, sig, &sig_len), CKR_OK,
		     "%s: PKCS#1 sign 36 raw bytes (TLS MD5+SHA-1)", k->name))
		check(recover_pkcs1(k->soft, sig, sig_len, msg, 36), "%s: OpenSSL recovers the 36 bytes",
		      k->name);
	{
		uint8_t big[512];

		memset(big, 0x42, sizeof(big));
		sig_len = sizeof(sig);
		if (CHECK_RV(ops->rsa_sign_pkcs1(tb, k->key, big, n - 11, sig, &sig_len), CKR_OK,
			     "%s: PKCS#1 sign k-11 bytes", k->name))
			check(recover_pkcs1(k->soft, sig, sig_len, big, n - 11),
			      "%s: OpenSSL recovers the k-11 bytes", k->name);
		sig_len = sizeof(sig);
		CHECK_RV(ops->rsa_sign_pkcs1(tb, k->key, big, n - 10, sig, &sig_len), CKR_DATA_LEN_RANGE,
			 "%s: PKCS#1 sign of k-10 bytes is CKR_DATA_LEN_RANGE", k->name);
	}

	/* PSS: the TPM's salt (hash length), another salt, mixed hashes */
	{
		static const struct { enum hash_alg h, mgf; int salt; } pss[] = {
			{ HASH_SHA256, HASH_SHA256, 32 }, { HASH_SHA256, HASH_SHA256, 32 },
			{ HASH_SHA256, HASH_SHA256, 20 }, { HASH_SHA384, HASH_SHA384, 48 },
			{ HASH_SHA1, HASH_SHA1, 20 }, { HASH_SHA512, HASH_SHA1, 0 },
			{ HASH_SHA256, HASH_SHA256, 64 },
		};

		for (size_t i = 0; i < sizeof(pss) / sizeof(pss[0]); i++) {
			hash_digest(pss[i].h, msg, sizeof(msg), digest);
			sig_len = sizeof(sig);
			if (CHECK_RV(ops->rsa_sign_pss(tb, k->key, pss[i].h, pss[i].mgf, (size_t)pss[i].salt,
						       digest, hash_size(pss[i].h), sig, &sig_len), CKR_OK,
				     "%s: PSS sign %s/MGF1-%s salt %d", k->name, hash_name(pss[i].h),
				     hash_name(pss[i].mgf), pss[i].salt))
				check(verify_pss(k->soft, pss[i].h, pss[i].mgf, pss[i].salt, digest, sig,
						 sig_len),
				      "%s: OpenSSL verifies PSS %s salt %d", k->name, hash_name(pss[i].h),
				      pss[i].salt);
		}
		hash_digest(HASH_SHA256, msg, sizeof(msg), digest);
		sig_len = sizeof(sig);
		CHECK_RV(ops->rsa_sign_pss(tb, k->key, HASH_SHA256, HASH_SHA256, n - 32 - 1, digest, 32, sig,
					   &sig_len), CKR_MECHANISM_PARAM_INVALID,
			 "%s: PSS salt too long for the key: CKR_MECHANISM_PARAM_INVALID", k->name);
		sig_len = sizeof(sig);
		CHECK_RV(ops->rsa_sign_pss(tb, k->key, HASH_SHA256, HASH_SHA256, 32, digest, 31, sig,
					   &sig_len), CKR_DATA_LEN_RANGE,
			 "%s: PSS over a digest of the wrong size: CKR_DATA_LEN_RANGE", k->name);
	}

	/* OAEP made by OpenSSL */
	{
		static const struct { enum hash_alg h, mgf; const void *label; size_t llen; } oaep[] = {
			{ HASH_SHA1, HASH_SHA1, NULL, 0 },
			{ HASH_SHA256, HASH_SHA256, NULL, 0 },
			{ HASH_SHA1, HASH_SHA1, lbl, sizeof(lbl) - 1 },
			{ HASH_SHA256, HASH_SHA256, lbl, sizeof(lbl) - 1 },
			{ HASH_SHA256, HASH_SHA256, lbl_nul, sizeof(lbl_nul) },
			{ HASH_SHA256, HASH_SHA1, NULL, 0 },
			{ HASH_SHA384, HASH_SHA384, NULL, 0 },
		};

		for (size_t i = 0; i < sizeof(oaep) / sizeof(oaep[0]); i++) {
			ct_len = sizeof(ct);
			if (!check(encrypt_oaep(k->soft, oaep[i].h, oaep[i].mgf, oaep[i].label, oaep[i].llen,
						msg, 48, ct, &ct_len), "OpenSSL OAEP encrypt"))
				continue;
			dp = (struct tpm_dec_params){ .scheme = TPM_DEC_OAEP, .hash = oaep[i].h,
						      .mgf_hash = oaep[i].mgf, .label = oaep[i].label,
						      .label_len = oaep[i].llen };
			out_len = sizeof(out);
			if (CHECK_RV(ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len, out, &out_len), CKR_OK,
				     "%s: OAEP %s/MGF1-%s decrypt, label of %zu bytes", k->name,
				     hash_name(oaep[i].h), hash_name(oaep[i].mgf), oaep[i].llen))
				check(out_len == 48 && memcmp(out, msg, 48) == 0, "%s: OAEP plaintext right",
				      k->name);
		}
		/* a wrong label and a damaged ciphertext, on both paths */
		for (int nul = 0; nul < 2; nul++) {
			ct_len = sizeof(ct);
			encrypt_oaep(k->soft, HASH_SHA256, HASH_SHA256, nul ? lbl_nul : (const void *)lbl,
				     nul ? sizeof(lbl_nul) : sizeof(lbl) - 1, msg, 16, ct, &ct_len);
			dp = (struct tpm_dec_params){ .scheme = TPM_DEC_OAEP, .hash = HASH_SHA256,
						      .mgf_hash = HASH_SHA256,
						      .label = (const uint8_t *)(nul ? "other\0" : "other"),
						      .label_len = nul ? 6 : 5 };
			out_len = sizeof(out);
			CHECK_RV(ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len, out, &out_len),
				 CKR_ENCRYPTED_DATA_INVALID, "%s: OAEP with the wrong label (%s path)",
				 k->name, nul ? "TPM" : "host");
		}
		ct_len = sizeof(ct);
		encrypt_oaep(k->soft, HASH_SHA256, HASH_SHA256, NULL, 0, msg, 16, ct, &ct_len);
		ct[ct_len / 2] ^= 1;
		dp = (struct tpm_dec_params){ .scheme = TPM_DEC_OAEP, .hash = HASH_SHA256,
					      .mgf_hash = HASH_SHA256 };
		out_len = sizeof(out);
		CHECK_RV(ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len, out, &out_len),
			 CKR_ENCRYPTED_DATA_INVALID, "%s: damaged OAEP ciphertext", k->name);
		out_len = sizeof(out);
		CHECK_RV(ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len - 1, out, &out_len),
			 CKR_ENCRYPTED_DATA_LEN_RANGE, "%s: short ciphertext", k->name);
		dp.scheme = TPM_DEC_TCPA_OAEP;
		CHECK_RV(ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len, out, &out_len), CKR_MECHANISM_INVALID,
			 "%s: TPM 1.2 TCPA OAEP is not for TPM 2.0", k->name);
	}

	/* PKCS#1 v1.5 encryption */
	ct_len = sizeof(ct);
	if (check(encrypt_pkcs1(k->soft, msg, 48, ct, &ct_len), "OpenSSL PKCS#1 v1.5 encrypt")) {
		dp = (struct tpm_dec_params){ .scheme = TPM_DEC_PKCS1 };
		out_len = 10;
		CHECK_RV(ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len, out, &out_len), CKR_BUFFER_TOO_SMALL,
			 "%s: PKCS#1 decrypt into a short buffer", k->name);
		out_len = sizeof(out);
		if (CHECK_RV(ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len, out, &out_len), CKR_OK,
			     "%s: PKCS#1 v1.5 decrypt", k->name))
			check(out_len == 48 && memcmp(out, msg, 48) == 0, "%s: PKCS#1 plaintext right",
			      k->name);
		/* a ciphertext that decrypts to a bad block: the TPM's padding check */
		ct[ct_len / 2] ^= 1;
		out_len = sizeof(out);
		{
			/* (a TPM doing implicit rejection returns a made-up message instead) */
			CK_RV rv = ops->rsa_decrypt(tb, k->key, &dp, ct, ct_len, out, &out_len);

			check(rv == CKR_ENCRYPTED_DATA_INVALID ||
			      (rv == CKR_OK && (out_len != 48 || memcmp(out, msg, 48) != 0)),
			      "%s: damaged PKCS#1 ciphertext refused (0x%lx)", k->name, rv);
		}
	}
}

static void ec_tests(struct tpm_backend *tb, struct tkey *k)
{
	uint8_t digest[64], sig[132];
	size_t sig_len;

	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		hash_digest((enum hash_alg)h, "ecdsa", 5, digest);
		sig_len = sizeof(sig);
		if (CHECK_RV(ops->ecdsa_sign(tb, k->key, digest, hash_size((enum hash_alg)h), sig, &sig_len),
			     CKR_OK, "%s: ECDSA sign a %s digest", k->name, hash_name((enum hash_alg)h)))
			check(sig_len == 2 * k->pub.coord_len &&
			      verify_ecdsa(k->soft, digest, hash_size((enum hash_alg)h), sig, sig_len),
			      "%s: OpenSSL verifies ECDSA over %s", k->name, hash_name((enum hash_alg)h));
	}
}

/* --- groups of tests --- */

static void test_basics(struct tpm_backend *tb)
{
	struct tpm_info info;
	const struct tpm_caps *caps = ops->get_caps(tb);
	struct tpm_da_state da;
	uint8_t r1[100], r2[100], zero[100] = { 0 };

	if (CHECK_RV(ops->get_info(tb, &info), CKR_OK, "get_info"))
		check(info.version == 20 && info.manufacturer[0] && strncmp(info.spec, "2.0", 3) == 0,
		      "info: version 20, manufacturer \"%s\", vendor \"%s\", spec \"%s\", fw %u.%u",
		      info.manufacturer, info.vendor, info.spec, info.fw_major, info.fw_minor);
	check((caps->rsa_sizes & (TPM_RSA_2048 | TPM_RSA_3072)) == (TPM_RSA_2048 | TPM_RSA_3072) &&
	      (caps->curves & (1u << TPM_CURVE_P256)) && (caps->curves & (1u << TPM_CURVE_P384)),
	      "caps: RSA 2048/3072, P-256/P-384 (rsa sizes 0x%x, curves 0x%x)", caps->rsa_sizes,
	      caps->curves);
	check((caps->hashes & TPM_HASH_BIT(HASH_SHA256)) && caps->rsa_pkcs1_sign &&
	      caps->rsa_pkcs1_sign_any && caps->rsa_pss_sign && caps->rsa_pkcs1_decrypt &&
	      (caps->oaep_hashes & TPM_HASH_BIT(HASH_SHA1)) && !caps->rsa_tcpa_oaep && caps->ecdsa &&
	      caps->import_rsa && caps->import_ec && caps->migration && caps->max_random > 0,
	      "caps: hashes 0x%x, every mechanism of this issue", caps->hashes);
	if (CHECK_RV(ops->get_da_state(tb, &da), CKR_OK, "get_da_state"))
		check(da.max_tries > 0 && !da.locked, "DA state: %u of %u failures, %u s recovery",
		      da.failed_tries, da.max_tries, da.recovery_seconds);
	CHECK_RV(ops->random(tb, r1, sizeof(r1)), CKR_OK, "random: 100 bytes (chunked)");
	CHECK_RV(ops->random(tb, r2, sizeof(r2)), CKR_OK, "random: 100 more");
	check(memcmp(r1, r2, sizeof(r1)) != 0 && memcmp(r1, zero, sizeof(r1)) != 0,
	      "random bytes differ and are not zero");
	CHECK_RV(ops->random(tb, r1, 1), CKR_OK, "random: 1 byte");
	CHECK_RV(ops->random(tb, r1, 0), CKR_OK, "random: 0 bytes");
	{
		uint8_t big[300];

		memset(big, 7, sizeof(big));
		CHECK_RV(ops->stir_random(tb, big, sizeof(big)), CKR_OK, "stir_random: 300 bytes");
	}
}

static void test_seal(struct tpm_backend *tb)
{
	static const uint8_t secret[] = "the token's wrapping key, 32 B!";
	struct tpm_auth right, wrong, zeros;
	struct tpm_blob sealed = { 0 }, sealed2 = { 0 };
	struct tpm_da_state before, after;
	uint8_t out[64];
	size_t len;

	random_auth(&right, false);
	random_auth(&wrong, false);
	random_auth(&zeros, true);
	if (!CHECK_RV(ops->seal_create(tb, secret, sizeof(secret), &right, NULL, &sealed), CKR_OK,
		      "seal_create"))
		return;
	len = sizeof(out);
	if (CHECK_RV(ops->seal_open(tb, &sealed, &right, out, &len), CKR_OK, "seal_open, right auth"))
		check(len == sizeof(secret) && memcmp(out, secret, len) == 0, "unsealed the secret");
	len = 4;
	CHECK_RV(ops->seal_open(tb, &sealed, &right, out, &len), CKR_BUFFER_TOO_SMALL,
		 "seal_open into a short buffer");
	ops->get_da_state(tb, &before);
	len = sizeof(out);
	CHECK_RV(ops->seal_open(tb, &sealed, &wrong, out, &len), CKR_PIN_INCORRECT,
		 "seal_open, wrong auth: CKR_PIN_INCORRECT");
	ops->get_da_state(tb, &after);
	check(after.failed_tries == before.failed_tries + 1,
	      "the wrong auth counted by the TPM's lockout (%u -> %u)", before.failed_tries,
	      after.failed_tries);
	len = sizeof(out);
	CHECK_RV(ops->seal_open(tb, &sealed, &right, out, &len), CKR_OK,
		 "seal_open, right auth again (session survived the failure)");
	/* an auth ending in zero bytes: the HMAC key drops them, as the TPM does */
	if (CHECK_RV(ops->seal_create(tb, secret, 5, &zeros, NULL, &sealed2), CKR_OK,
		     "seal_create with an auth ending in zeros")) {
		len = sizeof(out);
		CHECK_RV(ops->seal_open(tb, &sealed2, &zeros, out, &len), CKR_OK,
			 "seal_open with an auth ending in zeros");
		zeros.len -= 2;
		len = sizeof(out);
		CHECK_RV(ops->seal_open(tb, &sealed2, &zeros, out, &len), CKR_OK,
			 "... and with those zeros left off (same auth to the TPM)");
	}
	{
		struct tpm_blob bad = { .data = sealed.data, .len = sealed.len - 1 };
		struct tpm_public pub;

		len = sizeof(out);
		CHECK_RV(ops->seal_open(tb, &bad, &right, out, &len), CKR_DATA_INVALID,
			 "seal_open of a truncated blob: CKR_DATA_INVALID");
		CHECK_RV(ops->key_public(tb, &sealed, &pub), CKR_DATA_INVALID,
			 "key_public of a seal blob: CKR_DATA_INVALID");
	}
	tpm_blob_release(&sealed);
	tpm_blob_release(&sealed2);
}

static EVP_PKEY *soft_keygen(const char *type, const char *arg, size_t bits)
{
	if (strcmp(type, "RSA") == 0)
		return EVP_PKEY_Q_keygen(ossl_libctx(), NULL, "RSA", bits);
	return EVP_PKEY_Q_keygen(ossl_libctx(), NULL, "EC", arg);
}

static bool same_public(EVP_PKEY *priv, const struct tpm_public *pub)
{
	uint8_t buf[600];
	size_t len = 0;
	BIGNUM *n = NULL;
	bool ok = false;

	if (pub->type == TPM_KEY_RSA) {
		if (EVP_PKEY_get_bn_param(priv, OSSL_PKEY_PARAM_RSA_N, &n) == 1) {
			len = (size_t)BN_bn2bin(n, buf);
			ok = len == pub->modulus_len && memcmp(buf, pub->modulus, len) == 0;
		}
		BN_free(n);
		return ok;
	}
	if (EVP_PKEY_get_octet_string_param(priv, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len) != 1)
		return false;
	return len == 1 + 2 * pub->coord_len && buf[0] == 4 &&
	       memcmp(buf + 1, pub->x, pub->coord_len) == 0 &&
	       memcmp(buf + 1 + pub->coord_len, pub->y, pub->coord_len) == 0;
}

static bool tkey_import(struct tpm_backend *tb, struct tkey *k, const char *name, EVP_PKEY *priv,
			enum tpm_key_type type)
{
	struct tpm_key_spec spec = { .type = type, .sign = true, .decrypt = type == TPM_KEY_RSA };

	k->name = name;
	random_auth(&k->auth, false);
	if (!CHECK_RV(ops->key_import(tb, &spec, priv, &k->auth, &k->blob, &k->pub), CKR_OK,
		      "import %s", name))
		return false;
	k->soft = soft_public(&k->pub);
	/* the imported public key is the software key's */
	check(k->soft && same_public(priv, &k->pub), "%s: TPM public key = software key", name);
	{
		TPM2B_PUBLIC pub;
		TPM2B_PRIVATE priv2;
		TPMA_OBJECT a;

		tpm2_blob_decode(k->blob.data, k->blob.len, &pub, &priv2);
		a = pub.publicArea.objectAttributes;
		check(!(a & (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			     TPMA_OBJECT_SENSITIVEDATAORIGIN)) &&
		      pub.publicArea.authPolicy.size == 0,
		      "%s: not fixedTPM/fixedParent/sensitiveDataOrigin, empty authPolicy", name);
	}
	return CHECK_RV(ops->key_open(tb, &k->blob, &k->auth, &k->key), CKR_OK, "%s: key_open", name);
}

static void test_bad_blobs(struct tpm_backend *tb, const struct tkey *k)
{
	struct tpm_public pub;
	struct tpm_key *key = NULL;
	uint8_t junk[600];
	struct tpm_blob b = { .data = junk };

	memcpy(junk, k->blob.data, k->blob.len);
	b.len = k->blob.len - 3;
	CHECK_RV(ops->key_public(tb, &b, &pub), CKR_DATA_INVALID, "key_public: truncated blob");
	junk[0] = 9;
	b.len = k->blob.len;
	CHECK_RV(ops->key_public(tb, &b, &pub), CKR_DATA_INVALID, "key_public: unknown version");
	junk[0] = TPM2_BLOB_VERSION;
	junk[k->blob.len] = 0;
	b.len = k->blob.len + 1;
	CHECK_RV(ops->key_open(tb, &b, &k->auth, &key), CKR_DATA_INVALID, "key_open: trailing byte");
	RAND_bytes(junk, sizeof(junk));
	b.len = sizeof(junk);
	CHECK_RV(ops->key_public(tb, &b, &pub), CKR_DATA_INVALID, "key_public: random bytes");
	b.len = 0;
	CHECK_RV(ops->key_public(tb, &b, &pub), CKR_DATA_INVALID, "key_public: empty blob");
}

static void test_wrong_key_auth(struct tpm_backend *tb, const struct tkey *k)
{
	struct tpm_auth wrong;
	struct tpm_key *key = NULL;
	struct tpm_da_state before, after;
	uint8_t digest[32] = { 1 }, sig[132];
	size_t sig_len = sizeof(sig);

	random_auth(&wrong, false);
	ops->get_da_state(tb, &before);
	if (CHECK_RV(ops->key_open(tb, &k->blob, &wrong, &key), CKR_OK, "key_open with a wrong auth")) {
		CHECK_RV(ops->ecdsa_sign(tb, key, digest, 32, sig, &sig_len), CKR_PIN_INCORRECT,
			 "signing with a wrong key auth: CKR_PIN_INCORRECT");
		ops->key_close(tb, key);
	}
	ops->get_da_state(tb, &after);
	check(after.failed_tries == before.failed_tries, "keys are noDA: lockout counter unchanged");
}

static void test_rotation(struct tpm_backend *tb, struct tkey *keys, size_t nkeys)
{
	struct tpm2 *t = tpm2_of(tb);
	uint8_t digest[64], sig[512];
	size_t sig_len;
	bool ok = true, bounded = true;

	diag("rotating %zu keys; the TPM had %u free object slots, we keep up to %u keys loaded",
	     nkeys, t->transient_avail, t->max_loaded);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < nkeys; i++) {
			struct tkey *k = &keys[i];
			CK_RV rv;

			hash_digest(HASH_SHA256, &round, sizeof(round), digest);
			sig_len = sizeof(sig);
			if (k->pub.type == TPM_KEY_EC) {
				rv = ops->ecdsa_sign(tb, k->key, digest, 32, sig, &sig_len);
				ok &= rv == CKR_OK && verify_ecdsa(k->soft, digest, 32, sig, sig_len);
			} else {
				uint8_t di[51];
				size_t plen;
				const uint8_t *p = rsa_pad_digestinfo_prefix(HASH_SHA256, &plen);

				memcpy(di, p, plen);
				memcpy(di + plen, digest, 32);
				rv = ops->rsa_sign_pkcs1(tb, k->key, di, plen + 32, sig, &sig_len);
				ok &= rv == CKR_OK && verify_pkcs1(k->soft, HASH_SHA256, digest, sig, sig_len);
			}
			if (rv != CKR_OK)
				diag("  %s: 0x%lx", k->name, rv);
			bounded &= t->nloaded <= t->max_loaded;
		}
	check(ok, "%zu keys signed in rotation, 3 rounds, all verified", nkeys);
	check(bounded, "never more than %u keys loaded at once", t->max_loaded);
}

struct worker {
	struct tpm_backend *tb;
	struct tkey *key;
	int signed_ok;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t digest[32], sig[132];

	for (int i = 0; i < 20; i++) {
		size_t sig_len = sizeof(sig);

		memset(digest, i, sizeof(digest));
		digest[0] = (uint8_t)(uintptr_t)w;
		if (ops->ecdsa_sign(w->tb, w->key->key, digest, 32, sig, &sig_len) == CKR_OK &&
		    verify_ecdsa(w->key->soft, digest, 32, sig, sig_len))
			w->signed_ok++;
	}
	return NULL;
}

/* Threads share the backend; its lock serializes their TPM traffic. */
static void test_threads(struct tpm_backend *tb, struct tkey *keys, size_t nkeys)
{
	struct worker w[4];
	pthread_t th[4];
	struct tkey *ec[6];
	size_t nec = 0;
	int total = 0, n = 0;

	/* the EC keys, round robin: some share a key, and together they need more
	 * slots than the TPM has */
	for (size_t i = 0; i < nkeys && nec < 6; i++)
		if (keys[i].pub.type == TPM_KEY_EC)
			ec[nec++] = &keys[i];
	for (size_t i = 0; i < 4 && nec; i++) {
		w[i] = (struct worker){ .tb = tb, .key = ec[i % nec] };
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) == 0)
			n++;
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		total += w[i].signed_ok;
	}
	check(n == 4 && total == 80, "4 threads, 20 ECDSA signatures each, all verified (%d)", total);
}

/* A fork()ed child drops the backend without a word to the TPM; the parent's
 * connection and session carry on. */
static void test_fork(struct tpm_backend *tb, struct tkey *k)
{
	uint8_t digest[32] = { 3 }, sig[132];
	size_t sig_len = sizeof(sig);
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		ops->key_abandon(k->key);
		ops->abandon(tb);
		_exit(0);
	}
	check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "fork: the child abandons the backend and its key");
	if (CHECK_RV(ops->ecdsa_sign(tb, k->key, digest, 32, sig, &sig_len), CKR_OK,
		     "fork: the parent signs on, same session"))
		check(verify_ecdsa(k->soft, digest, 32, sig, sig_len), "fork: signature verifies");
}

/* Lose the connection under the backend, then carry on. */
static void test_reconnect(struct tpm_backend *tb, struct tkey *k, const char *restart)
{
	struct tpm2 *t = tpm2_of(tb);
	uint8_t digest[32] = { 9 }, sig[132];
	size_t sig_len = sizeof(sig);
	struct tpm_blob name1 = { 0 }, name2 = { 0 };
	CK_RV rv = CKR_OK;

	ops->storage_key_name(tb, &name1);
	t->broken = true; /* as after a TCTI I/O error */
	if (CHECK_RV(ops->ecdsa_sign(tb, k->key, digest, 32, sig, &sig_len), CKR_OK,
		     "after a lost connection: reconnect, new session, key reloaded"))
		check(verify_ecdsa(k->soft, digest, 32, sig, sig_len), "... and the signature verifies");
	if (!restart)
		return;
	diag("restarting the swtpm: %s", restart);
	if (!check(system(restart) == 0, "swtpm killed and restarted on the same port"))
		return;
	for (int i = 0; i < 3; i++) {
		sig_len = sizeof(sig);
		rv = ops->ecdsa_sign(tb, k->key, digest, 32, sig, &sig_len);
		if (rv == CKR_OK)
			break;
		diag("  attempt %d after the restart: 0x%lx", i + 1, rv);
	}
	if (CHECK_RV(rv, CKR_OK, "signing works again after the TPM restarted"))
		check(verify_ecdsa(k->soft, digest, 32, sig, sig_len), "... and the signature verifies");
	if (CHECK_RV(ops->storage_key_name(tb, &name2), CKR_OK, "storage key after the restart"))
		check(name1.len == name2.len && memcmp(name1.data, name2.data, name1.len) == 0,
		      "the storage key re-derived with the same name");
	tpm_blob_release(&name1);
	tpm_blob_release(&name2);
}

/* max_loaded_keys above what the TPM holds: TPM_RC_OBJECT_MEMORY makes room. */
static void test_overcommitted(const char *tcti, struct tkey *keys, size_t nkeys)
{
	struct tpmha_config cfg;
	struct tpm_backend *tb = NULL;
	size_t opened = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tpm_version = 20;
	cfg.tcti = (char *)tcti;
	cfg.max_loaded_keys = 8;
	if (!CHECK_RV(ops->open(&cfg, &tb), CKR_OK, "open with max_loaded_keys = 8 (the TPM has 3 slots)"))
		return;
	for (size_t i = 0; i < nkeys; i++)
		opened += ops->key_open(tb, &keys[i].blob, &keys[i].auth, &keys[i].key) == CKR_OK;
	check(opened == nkeys, "keys opened again from their blobs");
	test_rotation(tb, keys, nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		ops->key_close(tb, keys[i].key);
		keys[i].key = NULL;
	}
	ops->close(tb);
}

static void run_main(const char *tcti, const char *restart)
{
	struct tpm_backend *tb = NULL;
	struct tpm_blob name1 = { 0 }, name2 = { 0 };
	struct tkey keys[6];
	EVP_PKEY *soft_rsa, *soft_ec;
	int nkeys = 0;

	memset(keys, 0, sizeof(keys));
	diag("TPM 2.0 backend against %s", tcti);
	{
		struct tpm_backend *none = NULL;
		CHECK_RV(open_tpm("swtpm:host=127.0.0.1,port=1", &none), CKR_DEVICE_ERROR,
			 "open through a TCTI with no TPM behind it: CKR_DEVICE_ERROR");
	}
	if (!CHECK_RV(open_tpm(tcti, &tb), CKR_OK, "open"))
		return;
	if (CHECK_RV(ops->storage_key_name(tb, &name1), CKR_OK, "storage_key_name"))
		check(name1.len == 34 && name1.data[0] == 0 && name1.data[1] == 0x0b,
		      "the name is SHA-256 nameAlg || digest");
	ops->close(tb);
	if (!CHECK_RV(open_tpm(tcti, &tb), CKR_OK, "open again"))
		return;
	if (CHECK_RV(ops->storage_key_name(tb, &name2), CKR_OK, "storage_key_name again"))
		check(name1.len == name2.len && memcmp(name1.data, name2.data, name1.len) == 0,
		      "the storage key name is the same across opens");
	tpm_blob_release(&name1);
	tpm_blob_release(&name2);

	test_basics(tb);
	test_seal(tb);

	if (tkey_generate(tb, &keys[nkeys], "RSA-2048", TPM_KEY_RSA, 2048, TPM_CURVE_NONE, true))
		nkeys++;
	if (tkey_generate(tb, &keys[nkeys], "RSA-3072", TPM_KEY_RSA, 3072, TPM_CURVE_NONE, false))
		nkeys++;
	if (tkey_generate(tb, &keys[nkeys], "P-256", TPM_KEY_EC, 0, TPM_CURVE_P256, false))
		nkeys++;
	if (tkey_generate(tb, &keys[nkeys], "P-384", TPM_KEY_EC, 0, TPM_CURVE_P384, true))
		nkeys++;
	soft_rsa = soft_keygen("RSA", NULL, 2048);
	soft_ec = soft_keygen("EC", "P-256", 0);
	if (soft_rsa && tkey_import(tb, &keys[nkeys], "imported RSA-2048", soft_rsa, TPM_KEY_RSA))
		nkeys++;
	if (soft_ec && tkey_import(tb, &keys[nkeys], "imported P-256", soft_ec, TPM_KEY_EC))
		nkeys++;
	{
		struct tpm_key_spec spec = { .type = TPM_KEY_EC, .curve = TPM_CURVE_P256 };
		struct tpm_blob b = { 0 };
		struct tpm_public p;

		CHECK_RV(ops->key_import(tb, &spec, soft_rsa, &keys[0].auth, &b, &p),
			 CKR_KEY_TYPE_INCONSISTENT, "import of an RSA key as EC is refused");
	}
	EVP_PKEY_free(soft_rsa);
	EVP_PKEY_free(soft_ec);

	for (int i = 0; i < nkeys; i++) {
		if (keys[i].pub.type == TPM_KEY_RSA)
			rsa_tests(tb, &keys[i]);
		else
			ec_tests(tb, &keys[i]);
	}
	if (nkeys)
		test_bad_blobs(tb, &keys[0]);
	if (nkeys > 2)
		test_wrong_key_auth(tb, &keys[2]);
	test_rotation(tb, keys, (size_t)nkeys);
	if (nkeys > 3) {
		test_threads(tb, keys, (size_t)nkeys);
		test_fork(tb, &keys[3]);
	}
	if (nkeys > 2)
		test_reconnect(tb, &keys[2], restart);
	for (int i = 0; i < nkeys; i++) {
		ops->key_close(tb, keys[i].key);
		keys[i].key = NULL;
	}
	check(tpm2_of(tb)->nloaded == 0, "every key flushed once closed");
	ops->close(tb);
	test_overcommitted(tcti, keys, (size_t)nkeys);
	for (int i = 0; i < nkeys; i++)
		tkey_free(NULL, &keys[i]);
}

/* An owner hierarchy with an auth value: the storage key is made through a
 * one-command HMAC session (the owner auth never goes in the clear). Closes tb. */
static void test_owner_auth(const char *tcti, struct tpm_backend *tb)
{
	struct tpm2 *t = tpm2_of(tb);
	TSS2L_SYS_AUTH_COMMAND pw = { .count = 1, .auths = { { .sessionHandle = TPM2_RS_PW } } };
	TPM2B_AUTH owner = { .size = 12 };
	struct tpmha_config cfg;
	struct tpm_blob name1 = { 0 }, name2 = { 0 };
	struct tpm_backend *tb2 = NULL;

	memcpy(owner.buffer, "owner secret", 12);
	ops->storage_key_name(tb, &name1);
	check(Tss2_Sys_HierarchyChangeAuth(t->sys, TPM2_RH_OWNER, &pw, &owner, NULL) == TSS2_RC_SUCCESS,
	      "owner auth set (tpm2_changeauth -c owner)");
	ops->close(tb);

	memset(&cfg, 0, sizeof(cfg));
	cfg.tpm_version = 20;
	cfg.tcti = (char *)tcti;
	cfg.owner_auth.len = 12;
	cfg.owner_auth.set = true;
	memcpy(cfg.owner_auth.value, "owner secret", 12);
	if (CHECK_RV(ops->open(&cfg, &tb2), CKR_OK, "open with owner_auth") &&
	    CHECK_RV(ops->storage_key_name(tb2, &name2), CKR_OK, "storage key under an owner auth"))
		check(name1.len == name2.len && memcmp(name1.data, name2.data, name1.len) == 0,
		      "same storage key name with the owner auth set");
	ops->close(tb2);
	tb2 = NULL;
	cfg.owner_auth.value[0] ^= 1;
	if (CHECK_RV(ops->open(&cfg, &tb2), CKR_OK, "open with a wrong owner_auth")) {
		struct tpm_blob n = { 0 };

		CHECK_RV(ops->storage_key_name(tb2, &n), CKR_DEVICE_ERROR,
			 "a wrong owner auth: the storage key cannot be made (not a PIN error)");
		ops->close(tb2);
	}
	tpm_blob_release(&name1);
	tpm_blob_release(&name2);
}

/* A fresh TPM: wrong auths until lockout. */
static void run_lockout(const char *tcti)
{
	struct tpm_backend *tb = NULL;
	struct tpm_auth right, wrong;
	struct tpm_blob sealed = { 0 };
	struct tpm_da_state da;
	uint8_t out[64];
	size_t len;
	uint32_t max;

	diag("dictionary-attack lockout against %s", tcti);
	if (!CHECK_RV(open_tpm(tcti, &tb), CKR_OK, "open (lockout TPM)"))
		return;
	random_auth(&right, false);
	random_auth(&wrong, false);
	if (!CHECK_RV(ops->seal_create(tb, (const uint8_t *)"pin", 3, &right, NULL, &sealed), CKR_OK,
		      "seal_create") ||
	    !CHECK_RV(ops->get_da_state(tb, &da), CKR_OK, "get_da_state")) {
		ops->close(tb);
		return;
	}
	max = da.max_tries;
	check(da.failed_tries == 0 && max > 0 && max < 50, "fresh TPM: 0 of %u failures", max);
	for (uint32_t i = 1; i <= max && max < 50; i++) {
		len = sizeof(out);
		CHECK_RV(ops->seal_open(tb, &sealed, &wrong, out, &len), CKR_PIN_INCORRECT,
			 "wrong PIN %u of %u: CKR_PIN_INCORRECT", i, max);
		ops->get_da_state(tb, &da);
		check(da.failed_tries == i, "lockout counter %u", da.failed_tries);
	}
	check(da.locked, "the TPM reports lockout");
	len = sizeof(out);
	CHECK_RV(ops->seal_open(tb, &sealed, &wrong, out, &len), CKR_PIN_LOCKED,
		 "wrong PIN in lockout: CKR_PIN_LOCKED");
	len = sizeof(out);
	CHECK_RV(ops->seal_open(tb, &sealed, &right, out, &len), CKR_PIN_LOCKED,
		 "even the right PIN in lockout: CKR_PIN_LOCKED");
	tpm_blob_release(&sealed);
	test_owner_auth(tcti, tb);
}

/* Behind a resource manager: the same code, virtualized handles. */
static void run_rm(const char *tcti)
{
	struct tpm_backend *tb = NULL;
	struct tkey keys[4];
	int nkeys = 0;

	memset(keys, 0, sizeof(keys));
	diag("TPM 2.0 backend behind a resource manager: %s", tcti);
	if (!CHECK_RV(open_tpm(tcti, &tb), CKR_OK, "open through the resource manager"))
		return;
	for (int i = 0; i < 4; i++)
		if (tkey_generate(tb, &keys[nkeys], "P-256 (RM)", TPM_KEY_EC, 0, TPM_CURVE_P256, false))
			nkeys++;
	test_seal(tb);
	test_rotation(tb, keys, (size_t)nkeys);
	for (int i = 0; i < nkeys; i++)
		tkey_free(tb, &keys[i]);
	ops->close(tb);
}

int main(int argc, char **argv)
{
	const char *main_tcti = NULL, *restart = NULL, *lockout = NULL, *rm = NULL;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--main") == 0)
			main_tcti = argv[i + 1];
		else if (strcmp(argv[i], "--restart") == 0)
			restart = argv[i + 1];
		else if (strcmp(argv[i], "--lockout") == 0)
			lockout = argv[i + 1];
		else if (strcmp(argv[i], "--rm") == 0)
			rm = argv[i + 1];
	}
	if (!main_tcti) {
		fprintf(stderr, "usage: %s --main TCTI [--restart CMD] [--lockout TCTI] [--rm TCTI]\n",
			argv[0]);
		return 2;
	}
	log_set_target("stderr");
	log_set_level(getenv("TPMHA_LOG_LEVEL") ? (enum log_level)log_level_parse(getenv("TPMHA_LOG_LEVEL"))
						: LOG_LEVEL_WARN);
	if (ossl_init() != CKR_OK)
		return 1;
	run_main(main_tcti, restart);
	if (lockout)
		run_lockout(lockout);
	if (rm)
		run_rm(rm);
	printf("1..%d\n", n_tests);
	if (n_failed)
		diag("%d of %d failed", n_failed, n_tests);
	return 0;
}
