/* Per-operation latency of the TPM 2.0 backend (every command through the salted
 * HMAC session with parameter encryption) against the floor: raw ESYS with a plain
 * password session, same TPM, same key templates. And, for scale, ESYS with an
 * HMAC session doing parameter encryption.
 *
 *   tpm2_bench TCTI N      (e.g. TPMHA_TPM2_BENCH=200 make check, or by hand)
 *
 * Prints the median of N operations of each kind, in microseconds. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "common/log.h"
#include "common/ossl.h"
#include "conf/conf.h"
#include "tpm/backend.h"
#include "common/rsa_pad.h"
#include "tpm/tpm2_int.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct result {
	double ours_rsa, ours_oaep, ours_ecdsa;
	double cpu_rsa, cpu_oaep, cpu_ecdsa; /* client CPU per operation, mean */
	double ecpu_rsa, ecpu_ecdsa, ecpu_hmac_rsa;
	double esys_rsa, esys_oaep, esys_ecdsa;
	double esys_hmac_rsa, esys_hmac_ecdsa;
};

/* Time N runs of stmt into samples; cpu gets the mean client CPU per run. */
#define TIME(N, samples, cpu, stmt) \
	do { \
		double c0_ = cpu_us(); \
		for (int i_ = 0; i_ < (N); i_++) { \
			double t0_ = now_us(); \
			stmt; \
			(samples)[i_] = now_us() - t0_; \
		} \
		(cpu) = (cpu_us() - c0_) / (N); \
	} while (0)

static int bench_ours(const char *tcti, int n, double *samples, struct result *res)
{
	const struct tpm_backend_ops *ops = &tpm2_backend_ops;
	struct tpmha_config cfg = { .tpm_version = 20, .tcti = (char *)tcti };
	struct tpm_backend *tb = NULL;
	struct tpm_key_spec rsa = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true, .decrypt = true };
	struct tpm_key_spec ec = { .type = TPM_KEY_EC, .curve = TPM_CURVE_P256, .sign = true };
	struct tpm_auth auth = { .len = 32 };
	struct tpm_blob rblob = { 0 }, eblob = { 0 };
	struct tpm_public rpub, epub;
	struct tpm_key *rk = NULL, *ek = NULL;
	uint8_t di[51], sig[512], out[512], ct[256];
	size_t len, plen;
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(HASH_SHA256, &plen);
	struct tpm_dec_params oaep = { .scheme = TPM_DEC_OAEP, .hash = HASH_SHA256,
				       .mgf_hash = HASH_SHA256 };
	int bad = 0;

	RAND_bytes(auth.value, 32);
	memcpy(di, prefix, plen);
	memset(di + plen, 0x5c, 32);
	if (ops->open(&cfg, &tb) != CKR_OK || ops->key_generate(tb, &rsa, &auth, &rblob, &rpub) != CKR_OK ||
	    ops->key_generate(tb, &ec, &auth, &eblob, &epub) != CKR_OK ||
	    ops->key_open(tb, &rblob, &auth, &rk) != CKR_OK || ops->key_open(tb, &eblob, &auth, &ek) != CKR_OK) {
		fprintf(stderr, "tpm2_bench: cannot set up the backend\n");
		return -1;
	}
	/* an OAEP ciphertext for the key, made by OpenSSL */
	{
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		BIGNUM *bn_n = BN_bin2bn(rpub.modulus, (int)rpub.modulus_len, NULL), *bn_e = BN_new();
		OSSL_PARAM *params;
		EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL), *ectx = NULL;
		EVP_PKEY *pk = NULL;
		size_t ct_len = sizeof(ct);
		int ok;

		BN_set_word(bn_e, rpub.exponent);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
		params = OSSL_PARAM_BLD_to_param(bld);
		ok = pctx && params && EVP_PKEY_fromdata_init(pctx) == 1 &&
		     EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_PUBLIC_KEY, params) == 1 &&
		     (ectx = EVP_PKEY_CTX_new(pk, NULL)) && EVP_PKEY_encrypt_init(ectx) == 1 &&
		     EVP_PKEY_CTX_set_rsa_padding(ectx, RSA_PKCS1_OAEP_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_oaep_md(ectx, EVP_sha256()) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ectx, EVP_sha256()) == 1 &&
		     EVP_PKEY_encrypt(ectx, ct, &ct_len, (const uint8_t *)"0123456789abcdef", 16) == 1;
		EVP_PKEY_CTX_free(ectx);
		EVP_PKEY_CTX_free(pctx);
		EVP_PKEY_free(pk);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		BN_free(bn_n);
		BN_free(bn_e);
		if (!ok)
			return -1;
	}
	/* warm up: keys loaded, session started */
	len = sizeof(sig);
	bad |= ops->rsa_sign_pkcs1(tb, rk, di, plen + 32, sig, &len) != CKR_OK;
	len = sizeof(sig);
	bad |= ops->ecdsa_sign(tb, ek, di + plen, 32, sig, &len) != CKR_OK;

	TIME(n, samples, res->cpu_rsa, len = sizeof(sig);
	     bad |= ops->rsa_sign_pkcs1(tb, rk, di, plen + 32, sig, &len) != CKR_OK);
	res->ours_rsa = median(samples, n);
	TIME(n, samples, res->cpu_oaep, len = sizeof(out);
	     bad |= ops->rsa_decrypt(tb, rk, &oaep, ct, 256, out, &len) != CKR_OK);
	res->ours_oaep = median(samples, n);
	TIME(n, samples, res->cpu_ecdsa, len = sizeof(sig);
	     bad |= ops->ecdsa_sign(tb, ek, di + plen, 32, sig, &len) != CKR_OK);
	res->ours_ecdsa = median(samples, n);

	ops->key_close(tb, rk);
	ops->key_close(tb, ek);
	ops->close(tb);
	tpm_blob_release(&rblob);
	tpm_blob_release(&eblob);
	return bad ? -1 : 0;
}

static int esys_key(ESYS_CONTEXT *ctx, ESYS_TR parent, const struct tpm_key_spec *spec,
		    const TPM2B_AUTH *auth, ESYS_TR *key)
{
	TPM2B_SENSITIVE_CREATE sens = { .sensitive.userAuth = *auth };
	TPM2B_PUBLIC in = { .size = 0 };
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcr = { .count = 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TSS2_RC rc;

	tpm2_template_key(spec, false, &in.publicArea);
	rc = Esys_Create(ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &in, &outside,
			 &pcr, &priv, &pub, NULL, NULL, NULL);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Load(ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, key);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TR_SetAuth(ctx, *key, auth);
	Esys_Free(priv);
	Esys_Free(pub);
	return rc == TSS2_RC_SUCCESS ? 0 : -1;
}

static int bench_esys(const char *tcti_conf, int n, double *samples, struct result *res)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *ctx = NULL;
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC sk_in = { .size = 0 };
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcr = { .count = 0 };
	ESYS_TR sk = ESYS_TR_NONE, rk = ESYS_TR_NONE, ek = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TPM2B_AUTH auth = { .size = 32 };
	struct tpm_key_spec rsa = { .type = TPM_KEY_RSA, .rsa_bits = 2048 };
	struct tpm_key_spec ec = { .type = TPM_KEY_EC, .curve = TPM_CURVE_P256 };
	TPM2B_DIGEST digest = { .size = 32 };
	TPMT_SIG_SCHEME rsassa = { .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256 };
	TPMT_SIG_SCHEME ecdsa = { .scheme = TPM2_ALG_ECDSA, .details.ecdsa.hashAlg = TPM2_ALG_SHA256 };
	TPMT_RSA_DECRYPT oaep = { .scheme = TPM2_ALG_OAEP, .details.oaep.hashAlg = TPM2_ALG_SHA256 };
	TPM2B_DATA label = { .size = 0 };
	TPMT_TK_HASHCHECK val = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPM2B_PUBLIC_KEY_RSA msg = { .size = 16 }, *ct = NULL;
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
	TPMT_SIGNATURE *sig;
	TPM2B_PUBLIC_KEY_RSA *pt;
	double cpu; /* measured, not reported */
	int bad = 0;

	RAND_bytes(auth.buffer, 32);
	memset(digest.buffer, 0x5c, 32);
	memcpy(msg.buffer, "0123456789abcdef", 16);
	tpm2_template_storage(&sk_in.publicArea);
	if (Tss2_TctiLdr_Initialize(tcti_conf, &tcti) != TSS2_RC_SUCCESS ||
	    Esys_Initialize(&ctx, tcti, NULL) != TSS2_RC_SUCCESS ||
	    Esys_CreatePrimary(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
			       &sk_in, &outside, &pcr, &sk, NULL, NULL, NULL, NULL) != TSS2_RC_SUCCESS ||
	    esys_key(ctx, sk, &rsa, &auth, &rk) || esys_key(ctx, sk, &ec, &auth, &ek) ||
	    Esys_RSA_Encrypt(ctx, rk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &msg, &oaep, &label,
			     &ct) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "tpm2_bench: cannot set up ESYS\n");
		return -1;
	}
	TIME(n, samples, res->ecpu_rsa,
	     bad |= Esys_Sign(ctx, rk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &rsassa,
			      &val, &sig) != TSS2_RC_SUCCESS;
	     Esys_Free(sig));
	res->esys_rsa = median(samples, n);
	TIME(n, samples, cpu,
	     bad |= Esys_RSA_Decrypt(ctx, rk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, ct, &oaep,
				     &label, &pt) != TSS2_RC_SUCCESS;
	     Esys_Free(pt));
	res->esys_oaep = median(samples, n);
	TIME(n, samples, res->ecpu_ecdsa,
	     bad |= Esys_Sign(ctx, ek, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &ecdsa,
			      &val, &sig) != TSS2_RC_SUCCESS;
	     Esys_Free(sig));
	res->esys_ecdsa = median(samples, n);

	/* ESYS with a salted HMAC session and parameter encryption, for scale */
	if (Esys_StartAuthSession(ctx, sk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
				  TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &sess) == TSS2_RC_SUCCESS &&
	    Esys_TRSess_SetAttributes(ctx, sess,
				      TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT |
					      TPMA_SESSION_ENCRYPT, 0xff) == TSS2_RC_SUCCESS) {
		TIME(n, samples, res->ecpu_hmac_rsa,
		     bad |= Esys_Sign(ctx, rk, sess, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &rsassa, &val,
				      &sig) != TSS2_RC_SUCCESS;
		     Esys_Free(sig));
		res->esys_hmac_rsa = median(samples, n);
		TIME(n, samples, cpu,
		     bad |= Esys_Sign(ctx, ek, sess, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &ecdsa, &val,
				      &sig) != TSS2_RC_SUCCESS;
		     Esys_Free(sig));
		res->esys_hmac_ecdsa = median(samples, n);
		Esys_FlushContext(ctx, sess);
	}
	(void)cpu;
	Esys_Free(ct);
	Esys_FlushContext(ctx, rk);
	Esys_FlushContext(ctx, ek);
	Esys_FlushContext(ctx, sk);
	Esys_Finalize(&ctx);
	Tss2_TctiLdr_Finalize(&tcti);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct result r = { 0 };
	double *samples;
	int n;

	if (argc != 3 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s TCTI N\n", argv[0]);
		return 2;
	}
	log_set_target("stderr");
	log_set_level(LOG_LEVEL_WARN);
	samples = calloc((size_t)n, sizeof(*samples));
	if (!samples || ossl_init() != CKR_OK)
		return 1;
	if (bench_ours(argv[1], n, samples, &r) || bench_esys(argv[1], n, samples, &r)) {
		free(samples);
		return 1;
	}
	printf("median of %d operations, microseconds (TCTI %s)\n", n, argv[1]);
	printf("%-24s %10s %10s %8s %16s\n", "operation", "tpmha", "ESYS pw", "ratio", "ESYS HMAC+enc");
	printf("%-24s %10.0f %10.0f %8.3f %16.0f\n", "RSA-2048 PKCS#1 sign", r.ours_rsa, r.esys_rsa,
	       r.ours_rsa / r.esys_rsa, r.esys_hmac_rsa);
	printf("%-24s %10.0f %10.0f %8.3f %16s\n", "RSA-2048 OAEP decrypt", r.ours_oaep, r.esys_oaep,
	       r.ours_oaep / r.esys_oaep, "-");
	printf("%-24s %10.0f %10.0f %8.3f %16.0f\n", "ECDSA P-256 sign", r.ours_ecdsa, r.esys_ecdsa,
	       r.ours_ecdsa / r.esys_ecdsa, r.esys_hmac_ecdsa);
	printf("client CPU per operation, mean, microseconds (includes the TCTI's socket I/O):\n");
	printf("  tpmha: RSA sign %.0f, OAEP decrypt %.0f, ECDSA sign %.0f\n", r.cpu_rsa, r.cpu_oaep,
	       r.cpu_ecdsa);
	printf("  ESYS password session: RSA sign %.0f, ECDSA sign %.0f; ESYS HMAC+enc session: "
	       "RSA sign %.0f\n", r.ecpu_rsa, r.ecpu_ecdsa, r.ecpu_hmac_rsa);
	free(samples);
	return 0;
}
