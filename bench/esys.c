/* The floor: the same TPM operations straight through tpm2-tss ESYS, on the
 * same TPM, with keys of the module's shapes (tpm/tpm2_templates.c): an ECC
 * P-256 storage primary in the owner hierarchy, an RSA-2048 sign+decrypt key
 * (scheme NULL) and an ECC P-256 signing key under it, each with a 32-byte auth
 * value, loaded once. swtpm has three transient slots; these are the three.
 *
 * Two ways to authorize each command:
 *   esys-pw    ESYS_TR_PASSWORD: the auth value in the clear, no HMAC, no
 *              parameter encryption (the cheapest thing the TPM accepts);
 *   esys-hmac  a salted (by the primary) HMAC session, SHA-256, AES-128-CFB
 *              parameter encryption of the command's digest/ciphertext and,
 *              for RSA_Decrypt, of the returned plaintext: what the module
 *              does on every such command. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <openssl/evp.h>

#include "bench/bench.h"

#define KEY_ATTRS \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA)
#define STORAGE_ATTRS (KEY_ATTRS | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

struct floor {
	const struct bench_opts *o;
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *ctx;
	ESYS_TR primary, rsa, ec, hmac;
	EVP_PKEY *rsa_pub, *ec_pub;
	TPM2B_DIGEST digest;
	TPM2B_PUBLIC_KEY_RSA ct;
	uint8_t msg[32];
	uint8_t last_sig[256];   /* the last signature, kept to check one */
	size_t last_sig_len;
};

struct floor_op {
	struct floor *f;
	ESYS_TR session;         /* ESYS_TR_PASSWORD or the HMAC session */
};

static int tss_fail(char *err, size_t len, const char *what, TSS2_RC rc)
{
	bench_errf(err, len, "%s: 0x%x %s", what, rc, Tss2_RC_Decode(rc));
	return -1;
}

static void put_be(uint8_t *out, size_t n, const uint8_t *v, size_t len)
{
	memset(out, 0, n - len);
	memcpy(out + n - len, v, len);
}

static int op_rsa_sign(void *tctx, char *err, size_t errlen)
{
	struct floor_op *op = tctx;
	struct floor *f = op->f;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_RSASSA,
				   .details.rsassa.hashAlg = TPM2_ALG_SHA256 };
	TPMT_TK_HASHCHECK validation = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *sig = NULL;
	TSS2_RC rc;

	rc = Esys_Sign(f->ctx, f->rsa, op->session, ESYS_TR_NONE, ESYS_TR_NONE, &f->digest, &scheme,
		       &validation, &sig);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(err, errlen, "Esys_Sign(RSASSA)", rc);
	f->last_sig_len = sig->signature.rsassa.sig.size;
	if (f->last_sig_len > sizeof(f->last_sig))
		f->last_sig_len = sizeof(f->last_sig);
	memcpy(f->last_sig, sig->signature.rsassa.sig.buffer, f->last_sig_len);
	Esys_Free(sig);
	return 0;
}

static int op_rsa_decrypt(void *tctx, char *err, size_t errlen)
{
	struct floor_op *op = tctx;
	struct floor *f = op->f;
	TPMT_RSA_DECRYPT scheme = { .scheme = TPM2_ALG_OAEP,
				    .details.oaep.hashAlg = TPM2_ALG_SHA256 };
	TPM2B_DATA label = { .size = 0 };
	TPM2B_PUBLIC_KEY_RSA *msg = NULL;
	TSS2_RC rc;
	int ok;

	rc = Esys_RSA_Decrypt(f->ctx, f->rsa, op->session, ESYS_TR_NONE, ESYS_TR_NONE, &f->ct,
			      &scheme, &label, &msg);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(err, errlen, "Esys_RSA_Decrypt(OAEP)", rc);
	ok = msg->size == sizeof(f->msg) && memcmp(msg->buffer, f->msg, sizeof(f->msg)) == 0;
	Esys_Free(msg);
	if (!ok) {
		bench_errf(err, errlen, "Esys_RSA_Decrypt(OAEP): wrong plaintext");
		return -1;
	}
	return 0;
}

static int op_ecdsa(void *tctx, char *err, size_t errlen)
{
	struct floor_op *op = tctx;
	struct floor *f = op->f;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_ECDSA,
				   .details.ecdsa.hashAlg = TPM2_ALG_SHA256 };
	TPMT_TK_HASHCHECK validation = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *sig = NULL;
	const TPMS_SIGNATURE_ECC *e;
	TSS2_RC rc;

	rc = Esys_Sign(f->ctx, f->ec, op->session, ESYS_TR_NONE, ESYS_TR_NONE, &f->digest, &scheme,
		       &validation, &sig);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(err, errlen, "Esys_Sign(ECDSA)", rc);
	e = &sig->signature.ecdsa;
	if (e->signatureR.size <= 32 && e->signatureS.size <= 32) {
		put_be(f->last_sig, 32, e->signatureR.buffer, e->signatureR.size);
		put_be(f->last_sig + 32, 32, e->signatureS.buffer, e->signatureS.size);
		f->last_sig_len = 64;
	}
	Esys_Free(sig);
	return 0;
}

/* --- set-up --- */

static void template_storage(TPMT_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = STORAGE_ATTRS;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	p->parameters.eccDetail.symmetric.keyBits.aes = 128;
	p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

static void template_key(TPMT_PUBLIC *p, bool rsa)
{
	memset(p, 0, sizeof(*p));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = KEY_ATTRS | TPMA_OBJECT_SIGN_ENCRYPT;
	if (rsa) {
		p->type = TPM2_ALG_RSA;
		p->objectAttributes |= TPMA_OBJECT_DECRYPT;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0;
	} else {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

/* Create a key under the primary, load it, give ESYS its auth value. */
static int make_key(struct floor *f, bool rsa, ESYS_TR *out, char *err, size_t errlen)
{
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC in = { .size = 0 };
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcrs = { .count = 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_AUTH auth = { .size = 32 };
	TSS2_RC rc;
	int ret = -1;

	for (size_t i = 0; i < 32; i++)
		auth.buffer[i] = (uint8_t)(0x80 | (i * 11 + (rsa ? 1 : 2)));
	sens.sensitive.userAuth = auth;
	template_key(&in.publicArea, rsa);
	fprintf(stderr, "tpmha-bench: floor: creating an %s key with ESYS\n",
		rsa ? "RSA-2048" : "ECC P-256");
	rc = Esys_Create(f->ctx, f->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
			 &in, &outside, &pcrs, &priv, &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		tss_fail(err, errlen, "Esys_Create", rc);
		goto out;
	}
	rc = Esys_Load(f->ctx, f->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub,
		       out);
	if (rc != TSS2_RC_SUCCESS) {
		tss_fail(err, errlen, "Esys_Load", rc);
		goto out;
	}
	rc = Esys_TR_SetAuth(f->ctx, *out, &auth);
	if (rc != TSS2_RC_SUCCESS) {
		tss_fail(err, errlen, "Esys_TR_SetAuth", rc);
		goto out;
	}
	if (rsa) {
		static const uint8_t e[] = { 0x01, 0x00, 0x01 };
		const TPM2B_PUBLIC_KEY_RSA *n = &pub->publicArea.unique.rsa;

		f->rsa_pub = sw_rsa_public(n->buffer, n->size, e, sizeof(e));
		ret = f->rsa_pub ? 0 : -1;
	} else {
		const TPMS_ECC_POINT *q = &pub->publicArea.unique.ecc;
		uint8_t point[65] = { 0x04 };

		if (q->x.size <= 32 && q->y.size <= 32) {
			put_be(point + 1, 32, q->x.buffer, q->x.size);
			put_be(point + 33, 32, q->y.buffer, q->y.size);
			f->ec_pub = sw_ec_p256_public(point, sizeof(point));
		}
		ret = f->ec_pub ? 0 : -1;
	}
	if (ret != 0)
		bench_errf(err, errlen, "cannot read the public key ESYS returned");
out:
	Esys_Free(priv);
	Esys_Free(pub);
	return ret;
}

static int setup(struct floor *f, char *err, size_t errlen)
{
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC in = { .size = 0 };
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcrs = { .count = 0 };
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
			     .mode.aes = TPM2_ALG_CFB };
	size_t ct_len = sizeof(f->ct.buffer);
	TSS2_RC rc;

	rc = Tss2_TctiLdr_Initialize(f->o->tcti, &f->tcti);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(err, errlen, "Tss2_TctiLdr_Initialize", rc);
	rc = Esys_Initialize(&f->ctx, f->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(err, errlen, "Esys_Initialize", rc);
	template_storage(&in.publicArea);
	rc = Esys_CreatePrimary(f->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &in, &outside, &pcrs, &f->primary, NULL, NULL,
				NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(err, errlen, "Esys_CreatePrimary(owner)", rc);
	if (make_key(f, true, &f->rsa, err, errlen) != 0 ||
	    make_key(f, false, &f->ec, err, errlen) != 0)
		return -1;
	/* salted by the primary (ECDH), not bound: the key's auth goes in the HMAC */
	rc = Esys_StartAuthSession(f->ctx, f->primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256,
				   &f->hmac);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(err, errlen, "Esys_StartAuthSession(salted HMAC)", rc);

	f->digest.size = 32;
	for (size_t i = 0; i < 32; i++) {
		f->digest.buffer[i] = (uint8_t)(0x5a ^ (i * 7));
		f->msg[i] = (uint8_t)(0xa5 ^ (i * 13));
	}
	if (sw_oaep_sha256_encrypt(f->rsa_pub, f->msg, sizeof(f->msg), f->ct.buffer, &ct_len) != 0) {
		bench_errf(err, errlen, "OAEP encryption in software failed");
		return -1;
	}
	f->ct.size = (UINT16)ct_len;
	return 0;
}

/* One of each with each kind of session, checked in software. */
static int check_outputs(struct floor *f, char *err, size_t errlen)
{
	ESYS_TR sessions[2] = { ESYS_TR_PASSWORD, f->hmac };

	for (size_t i = 0; i < 2; i++) {
		struct floor_op op = { .f = f, .session = sessions[i] };

		if (sessions[i] != ESYS_TR_PASSWORD)
			Esys_TRSess_SetAttributes(f->ctx, f->hmac,
						  TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT,
						  0xff);
		if (op_rsa_sign(&op, err, errlen) != 0)
			return -1;
		if (!sw_rsa_pkcs1_verify(f->rsa_pub, f->digest.buffer, f->last_sig, f->last_sig_len)) {
			bench_errf(err, errlen, "the ESYS RSA signature does not verify");
			return -1;
		}
		if (op_ecdsa(&op, err, errlen) != 0)
			return -1;
		if (!sw_ecdsa_verify(f->ec_pub, f->digest.buffer, f->last_sig, f->last_sig_len)) {
			bench_errf(err, errlen, "the ESYS ECDSA signature does not verify");
			return -1;
		}
		if (sessions[i] != ESYS_TR_PASSWORD)
			Esys_TRSess_SetAttributes(f->ctx, f->hmac,
						  TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT |
							  TPMA_SESSION_ENCRYPT,
						  0xff);
		if (op_rsa_decrypt(&op, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static void teardown(struct floor *f)
{
	if (f->ctx) {
		ESYS_TR h[4] = { f->hmac, f->ec, f->rsa, f->primary };

		for (size_t i = 0; i < 4; i++)
			if (h[i] != ESYS_TR_NONE)
				Esys_FlushContext(f->ctx, h[i]);
		Esys_Finalize(&f->ctx);
	}
	Tss2_TctiLdr_Finalize(&f->tcti);
	EVP_PKEY_free(f->rsa_pub);
	EVP_PKEY_free(f->ec_pub);
}

static void run(struct floor *f, struct bench_results *rs, const char *name, bool hmac,
		const char *what, bench_op_fn fn, TPMA_SESSION attrs)
{
	const char *impl = hmac ? "esys-hmac" : "esys-pw";
	struct floor_op op = { .f = f, .session = hmac ? f->hmac : ESYS_TR_PASSWORD };
	struct bench_job job = {
		.name = name, .impl = impl, .what = what, .threads = 1,
		.warmup = f->o->warmup, .iters = f->o->iters, .op = fn, .arg = &op,
	};
	struct bench_result *r;

	if (!bench_selected(f->o, name, impl))
		return;
	r = bench_result_new(rs, name, impl, 1);
	if (!r)
		return;
	if (hmac)
		Esys_TRSess_SetAttributes(f->ctx, f->hmac, attrs, 0xff);
	fprintf(stderr, "tpmha-bench: floor %s %s...\n", impl, name);
	bench_run_threads(&job, r);
}

int bench_esys(const struct bench_opts *o, struct bench_results *rs)
{
	struct floor f = { .o = o, .primary = ESYS_TR_NONE, .rsa = ESYS_TR_NONE,
			   .ec = ESYS_TR_NONE, .hmac = ESYS_TR_NONE };
	const TPMA_SESSION dec = TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT;
	const TPMA_SESSION both = dec | TPMA_SESSION_ENCRYPT;
	char err[BENCH_ERR_MAX] = "";
	int rc = -1;

	if (setup(&f, err, sizeof(err)) != 0 || check_outputs(&f, err, sizeof(err)) != 0) {
		fprintf(stderr, "tpmha-bench: floor set-up: %s\n", err);
		goto out;
	}
	for (int hmac = 0; hmac < 2; hmac++) {
		const char *how = hmac ? "salted HMAC session, AES-CFB param encryption"
				       : "ESYS_TR_PASSWORD";
		char what[96];

		snprintf(what, sizeof(what), "Esys_Sign RSASSA SHA-256, %s", how);
		run(&f, rs, "rsa-sign", hmac, what, op_rsa_sign, dec);
		snprintf(what, sizeof(what), "Esys_RSA_Decrypt OAEP SHA-256, %s", how);
		run(&f, rs, "rsa-oaep-decrypt", hmac, what, op_rsa_decrypt, both);
		snprintf(what, sizeof(what), "Esys_Sign ECDSA SHA-256, %s", how);
		run(&f, rs, "ecdsa-sign", hmac, what, op_ecdsa, dec);
	}
	rc = 0;
out:
	teardown(&f);
	return rc;
}
