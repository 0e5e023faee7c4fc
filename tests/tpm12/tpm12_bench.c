/* Latency of the TPM 1.2 backend against the floor: the same TSPI calls made
 * directly (one context, the key loaded once, one hash / encdata object reused),
 * as a careful TSPI program would. Medians of N operations, after a warm-up. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/rsa_pad.h"
#include "tests/tpm/tpm2_test_util.h"
#include "tests/tpm12/tpm12_test.h"
#include "tpm/tpm12_int.h"

TSS_RESULT tpm12_pubkey_object_ctx(TSS_HCONTEXT ctx, const uint8_t *pub, size_t len, TSS_HKEY *out)
{
	TSS_RESULT r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_RSAKEY,
						 TSS_KEY_SIZE_2048 | TSS_KEY_TYPE_LEGACY, out);

	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(*out, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_PUBLIC_KEY,
				       (UINT32)len, (BYTE *)pub);
	return r;
}

struct direct {
	TSS_HCONTEXT ctx;
	TSS_HKEY srk, key;
	TSS_HHASH hash;
	TSS_HENCDATA enc;
};

static bool direct_open(struct direct *d, const struct tpm_blob *blob, const struct tpm_auth *auth)
{
	static const BYTE wk[20] = TSS_WELL_KNOWN_SECRET;
	TSS_UUID srk = TSS_UUID_SRK;
	TSS_HPOLICY sp, kp;
	struct tpm12_blob b;
	uint8_t ad[20];
	char port[16];
	TSS_RESULT r;

	memset(d, 0, sizeof(*d));
	if (tpm12_blob_decode(blob->data, blob->len, &b) != CKR_OK)
		return false;
	tpm12_auth_digest(auth, ad);
	snprintf(port, sizeof(port), "%u", opt.a);
	setenv("TSS_TCSD_PORT", port, 1);
	r = Tspi_Context_Create(&d->ctx);
	if (!r)
		r = Tspi_Context_Connect(d->ctx, NULL);
	if (!r)
		r = Tspi_Context_LoadKeyByUUID(d->ctx, TSS_PS_TYPE_SYSTEM, srk, &d->srk);
	if (!r)
		r = Tspi_Context_CreateObject(d->ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, &sp);
	if (!r)
		r = Tspi_Policy_SetSecret(sp, TSS_SECRET_MODE_SHA1, 20, (BYTE *)wk);
	if (!r)
		r = Tspi_Policy_AssignToObject(sp, d->srk);
	if (!r)
		r = Tspi_Context_LoadKeyByBlob(d->ctx, d->srk, (UINT32)b.key_len, (BYTE *)b.key, &d->key);
	if (!r)
		r = Tspi_Context_CreateObject(d->ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, &kp);
	if (!r)
		r = Tspi_Policy_SetSecret(kp, TSS_SECRET_MODE_SHA1, 20, ad);
	if (!r)
		r = Tspi_Policy_AssignToObject(kp, d->key);
	if (!r)
		r = Tspi_Context_CreateObject(d->ctx, TSS_OBJECT_TYPE_HASH, TSS_HASH_OTHER, &d->hash);
	if (!r)
		r = Tspi_Context_CreateObject(d->ctx, TSS_OBJECT_TYPE_ENCDATA, TSS_ENCDATA_BIND, &d->enc);
	if (r)
		diag("direct TSPI: %s", Trspi_Error_String(r));
	return r == TSS_SUCCESS;
}

static void direct_close(struct direct *d)
{
	if (d->ctx) {
		Tspi_Context_FreeMemory(d->ctx, NULL);
		Tspi_Context_Close(d->ctx);
	}
}

void bench(struct tpm_backend *a, int n)
{
	struct tpm_key_spec spec = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true, .decrypt = true };
	struct tpm_dec_params pkcs1 = { .scheme = TPM_DEC_PKCS1 };
	struct tpm_auth auth;
	struct tpm_blob blob = { 0 };
	struct tpm_public pub;
	struct tpm_key *k = NULL;
	struct direct d;
	EVP_PKEY *pk;
	double *t = calloc((size_t)n, sizeof(double));
	double sign_b, sign_d, dec_b, dec_d;
	uint8_t di[51], sig[256], ct[256], pt[256], msg[32];
	size_t di_len, sig_len, ct_len = sizeof(ct), pt_len;
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(HASH_SHA256, &di_len);
	bool ok = true;

	random_auth(&auth, false);
	memcpy(di, prefix, di_len);
	RAND_bytes(di + di_len, 32);
	di_len += 32;
	RAND_bytes(msg, sizeof(msg));
	if (!t || a->ops->key_generate(a, &spec, &auth, &blob, &pub) != CKR_OK ||
	    a->ops->key_open(a, &blob, &auth, &k) != CKR_OK || !direct_open(&d, &blob, &auth)) {
		check(false, "bench: set up");
		free(t);
		return;
	}
	pk = soft_public(&pub);
	encrypt_pkcs1(pk, msg, sizeof(msg), ct, &ct_len);

	for (int i = -3; i < n; i++) { /* backend: sign */
		double t0 = now_ms();

		sig_len = sizeof(sig);
		ok &= a->ops->rsa_sign_pkcs1(a, k, di, di_len, sig, &sig_len) == CKR_OK;
		if (i >= 0)
			t[i] = now_ms() - t0;
	}
	sign_b = median(t, (size_t)n);
	for (int i = -3; i < n; i++) { /* direct: sign */
		double t0 = now_ms();
		UINT32 len = 0;
		BYTE *p = NULL;

		ok &= Tspi_Hash_SetHashValue(d.hash, (UINT32)di_len, di) == TSS_SUCCESS &&
		      Tspi_Hash_Sign(d.hash, d.key, &len, &p) == TSS_SUCCESS;
		Tspi_Context_FreeMemory(d.ctx, p);
		if (i >= 0)
			t[i] = now_ms() - t0;
	}
	sign_d = median(t, (size_t)n);
	for (int i = -3; i < n; i++) { /* backend: decrypt */
		double t0 = now_ms();

		pt_len = sizeof(pt);
		ok &= a->ops->rsa_decrypt(a, k, &pkcs1, ct, ct_len, pt, &pt_len) == CKR_OK;
		if (i >= 0)
			t[i] = now_ms() - t0;
	}
	dec_b = median(t, (size_t)n);
	for (int i = -3; i < n; i++) { /* direct: decrypt */
		double t0 = now_ms();
		UINT32 len = 0;
		BYTE *p = NULL;

		ok &= Tspi_SetAttribData(d.enc, TSS_TSPATTRIB_ENCDATA_BLOB, TSS_TSPATTRIB_ENCDATABLOB_BLOB,
					 (UINT32)ct_len, ct) == TSS_SUCCESS &&
		      Tspi_Data_Unbind(d.enc, d.key, &len, &p) == TSS_SUCCESS;
		Tspi_Context_FreeMemory(d.ctx, p);
		if (i >= 0)
			t[i] = now_ms() - t0;
	}
	dec_d = median(t, (size_t)n);
	check(ok, "bench: %d signatures and decryptions each way", n);
	diag("RSA-2048 sign (PKCS#1 v1.5, SHA-256 DigestInfo), median of %d: backend %.3f ms, "
	     "TSPI directly %.3f ms, ratio %.3f", n, sign_b, sign_d, sign_b / sign_d);
	diag("RSA-2048 decrypt (PKCS#1 v1.5, LEGACY key), median of %d: backend %.3f ms, "
	     "TSPI directly %.3f ms, ratio %.3f", n, dec_b, dec_d, dec_b / dec_d);
	direct_close(&d);
	a->ops->key_close(a, k);
	EVP_PKEY_free(pk);
	tpm_blob_release(&blob);
	free(t);
}

/* --- fork() and threads --- */

struct worker {
	struct tpm_backend *tb;
	const struct tpm_blob *blob;
	const struct tpm_auth *auth;
	int ok;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct tpm_key *k = NULL;
	uint8_t di[51], sig[256];
	size_t di_len, sig_len;
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(HASH_SHA256, &di_len);

	memcpy(di, prefix, di_len);
	memset(di + di_len, 0x5c, 32);
	if (w->tb->ops->key_open(w->tb, w->blob, w->auth, &k) != CKR_OK)
		return NULL;
	for (int i = 0; i < 25; i++) {
		sig_len = sizeof(sig);
		if (w->tb->ops->rsa_sign_pkcs1(w->tb, k, di, di_len + 32, sig, &sig_len) == CKR_OK)
			w->ok++;
	}
	w->tb->ops->key_close(w->tb, k);
	return NULL;
}

void test_fork_threads(struct tpm_backend *a)
{
	struct tpm_key_spec spec = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true };
	struct tpm_auth auth;
	struct tpm_blob blob = { 0 };
	struct tpm_public pub;
	struct tpm_key *k = NULL;
	struct worker w[4];
	pthread_t th[4];
	uint8_t di[51], sig[256];
	size_t di_len, sig_len = sizeof(sig);
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(HASH_SHA256, &di_len);
	int status = -1, total = 0;
	pid_t pid;

	random_auth(&auth, false);
	memcpy(di, prefix, di_len);
	memset(di + di_len, 0x11, 32);
	if (!CHECK_RV(a->ops->key_generate(a, &spec, &auth, &blob, &pub), CKR_OK, "a key for fork/threads") ||
	    !CHECK_RV(a->ops->key_open(a, &blob, &auth, &k), CKR_OK, "key_open"))
		return;
	CHECK_RV(a->ops->rsa_sign_pkcs1(a, k, di, di_len + 32, sig, &sig_len), CKR_OK, "sign before fork()");
	pid = fork();
	if (pid == 0) {
		/* the child leaves the parent's tcsd context alone */
		a->ops->key_abandon(k);
		a->ops->abandon(a);
		_exit(0);
	}
	check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "a fork()ed child abandons the backend and exits");
	sig_len = sizeof(sig);
	CHECK_RV(a->ops->rsa_sign_pkcs1(a, k, di, di_len + 32, sig, &sig_len), CKR_OK,
		 "the parent still signs after the child abandoned its copy");
	a->ops->key_close(a, k);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .tb = a, .blob = &blob, .auth = &auth };
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ok;
	}
	check(total == 100, "4 threads x 25 signatures on one backend: %d succeed", total);
	tpm_blob_release(&blob);
}
