/* Helpers of the TPM backend integration test: TAP output and the software
 * (OpenSSL) side of every check. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "conf/conf.h"
#include "tests/tpm/tpm2_test_util.h"

int n_tests, n_failed;

bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		n_failed++;
	return ok;
}

void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

bool check_rv(CK_RV got, CK_RV want, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", got == want ? "ok" : "not ok", ++n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (got != want) {
		n_failed++;
		printf("#   got 0x%lx, wanted 0x%lx\n", got, want);
	}
	fflush(stdout);
	return got == want;
}

CK_RV open_tpm(const char *tcti, struct tpm_backend **tb)
{
	struct tpmha_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tpm_version = 20;
	cfg.tcti = (char *)tcti;
	return tpm2_backend_ops.open(&cfg, tb);
}

void random_auth(struct tpm_auth *a, bool trailing_zeros)
{
	a->len = 32;
	RAND_bytes(a->value, 32);
	a->value[0] |= 1;
	if (trailing_zeros)
		a->value[30] = a->value[31] = 0;
}

/* --- software verification --- */

EVP_PKEY *soft_public(const struct tpm_public *pub)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t point[1 + 2 * 66];

	if (pub->type == TPM_KEY_RSA) {
		n = BN_bin2bn(pub->modulus, (int)pub->modulus_len, NULL);
		e = BN_new();
		BN_set_word(e, pub->exponent);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		point[0] = 4;
		memcpy(point + 1, pub->x, pub->coord_len);
		memcpy(point + 1 + pub->coord_len, pub->y, pub->coord_len);
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						pub->curve == TPM_CURVE_P256 ? "P-256" : "P-384", 0);
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
						 1 + 2 * pub->coord_len);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

bool verify_pkcs1(EVP_PKEY *pk, enum hash_alg h, const uint8_t *digest, const uint8_t *sig,
			 size_t sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		  EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(hash_name(h))) == 1 &&
		  EVP_PKEY_verify(ctx, sig, sig_len, digest, hash_size(h)) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

bool recover_pkcs1(EVP_PKEY *pk, const uint8_t *sig, size_t sig_len, const uint8_t *data,
			  size_t len)
{
	uint8_t out[512];
	size_t out_len = sizeof(out);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	bool ok = ctx && EVP_PKEY_verify_recover_init(ctx) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		  EVP_PKEY_verify_recover(ctx, out, &out_len, sig, sig_len) == 1 && out_len == len &&
		  memcmp(out, data, len) == 0;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

bool verify_pss(EVP_PKEY *pk, enum hash_alg h, enum hash_alg mgf, int salt,
		       const uint8_t *digest, const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		  EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(hash_name(h))) == 1 &&
		  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(hash_name(mgf))) == 1 &&
		  EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) == 1 &&
		  EVP_PKEY_verify(ctx, sig, sig_len, digest, hash_size(h)) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

bool encrypt_oaep(EVP_PKEY *pk, enum hash_alg h, enum hash_alg mgf, const void *label,
			 size_t label_len, const uint8_t *msg, size_t len, uint8_t *ct, size_t *ct_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	bool ok = ctx && EVP_PKEY_encrypt_init(ctx) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
		  EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_get_digestbyname(hash_name(h))) == 1 &&
		  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(hash_name(mgf))) == 1;

	if (ok && label_len)
		ok = EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup(label, label_len),
						      (int)label_len) == 1;
	ok = ok && EVP_PKEY_encrypt(ctx, ct, ct_len, msg, len) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

bool encrypt_pkcs1(EVP_PKEY *pk, const uint8_t *msg, size_t len, uint8_t *ct, size_t *ct_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	bool ok = ctx && EVP_PKEY_encrypt_init(ctx) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		  EVP_PKEY_encrypt(ctx, ct, ct_len, msg, len) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

bool verify_ecdsa(EVP_PKEY *pk, const uint8_t *digest, size_t len, const uint8_t *sig,
			 size_t sig_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(sig_len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + sig_len / 2, (int)(sig_len / 2), NULL);
	unsigned char *der = NULL;
	int der_len;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	bool ok;

	ECDSA_SIG_set0(es, r, s);
	der_len = i2d_ECDSA_SIG(es, &der);
	ok = der_len > 0 && ctx && EVP_PKEY_verify_init(ctx) == 1 &&
	     EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, len) == 1;
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}
