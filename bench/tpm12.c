/* tpmha-bench-tpm12: RSA-2048 on a TPM 1.2 token, through the module against the
 * same TPM operations through TSPI directly (the floor), on the same TPM and tcsd.
 *
 *   module       C_SignInit+C_Sign CKM_RSA_PKCS over a SHA-256 DigestInfo, and
 *                C_DecryptInit+C_Decrypt CKM_RSA_PKCS of an OpenSSL PKCS#1 v1.5
 *                ciphertext, on the token's key pair (one session per thread, one
 *                login); with --cmk-token also on a key of a domain token (a
 *                certifiable migratable key, what HA tokens hold)
 *   tspi         Tspi_Hash_SetHashValue+Tspi_Hash_Sign and Tspi_SetAttribData+
 *                Tspi_Data_Unbind with a key of the module's shape (TPM_KEY12 LEGACY,
 *                2048 bits, RSASSA-PKCS1-v1_5-DER, RSAES-PKCS1-v1_5, usage auth,
 *                non-migratable, under the SRK), made and loaded once per thread's
 *                own context, as a careful TSPI program would
 *
 * Each result is checked in software once before the clock starts. The timing is
 * bench/run.c's (warm-up, a barrier, each operation timed alone). bench/run-tpm12.sh
 * makes the TPM 1.2 unit and tokens and runs this; see bench/RESULTS.md. */
#include "config.h"

#include <dlfcn.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <p11-kit/pkcs11.h>
#include <tss/tspi.h>
#include <trousers/trousers.h>

#include "bench/bench.h"

struct opts {
	const char *module, *token, *cmk_token, *pin, *tcsd, *label;
	unsigned threads[4];
	size_t warmup, iters;
};

/* --- the module ---------------------------------------------------------------------- */

struct mod {
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE key;
	EVP_PKEY *pub;
	uint8_t di[51];
	uint8_t msg[32], ct[256];
	size_t ct_len;
};

struct mod_thread {
	struct mod *m;
	CK_SESSION_HANDLE s;
	uint8_t out[512];
};

static int ck(char *err, size_t len, const char *what, CK_RV rv)
{
	bench_errf(err, len, "%s: CKR 0x%lx", what, (unsigned long)rv);
	return -1;
}

static void *mod_open(void *arg, unsigned idx, char *err, size_t errlen)
{
	struct mod *m = arg;
	struct mod_thread *t = calloc(1, sizeof(*t));
	CK_RV rv;

	(void)idx;
	if (!t) {
		bench_errf(err, errlen, "out of memory");
		return NULL;
	}
	t->m = m;
	rv = m->f->C_OpenSession(m->slot, CKF_SERIAL_SESSION, NULL, NULL, &t->s);
	if (rv != CKR_OK) {
		ck(err, errlen, "C_OpenSession", rv);
		free(t);
		return NULL;
	}
	return t;
}

static void mod_close(void *tctx)
{
	struct mod_thread *t = tctx;

	t->m->f->C_CloseSession(t->s);
	free(t);
}

static int mod_sign(void *tctx, char *err, size_t errlen)
{
	struct mod_thread *t = tctx;
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	CK_ULONG len = sizeof(t->out);
	CK_RV rv = t->m->f->C_SignInit(t->s, &mech, t->m->key);

	if (rv == CKR_OK)
		rv = t->m->f->C_Sign(t->s, t->m->di, sizeof(t->m->di), t->out, &len);
	if (rv != CKR_OK)
		return ck(err, errlen, "C_SignInit/C_Sign(CKM_RSA_PKCS)", rv);
	if (len != 256) {
		bench_errf(err, errlen, "C_Sign: %lu bytes", (unsigned long)len);
		return -1;
	}
	return 0;
}

static int mod_decrypt(void *tctx, char *err, size_t errlen)
{
	struct mod_thread *t = tctx;
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	CK_ULONG len = sizeof(t->out);
	CK_RV rv = t->m->f->C_DecryptInit(t->s, &mech, t->m->key);

	if (rv == CKR_OK)
		rv = t->m->f->C_Decrypt(t->s, t->m->ct, t->m->ct_len, t->out, &len);
	if (rv != CKR_OK)
		return ck(err, errlen, "C_DecryptInit/C_Decrypt(CKM_RSA_PKCS)", rv);
	if (len != sizeof(t->m->msg) || memcmp(t->out, t->m->msg, len) != 0) {
		bench_errf(err, errlen, "C_Decrypt: the wrong plaintext");
		return -1;
	}
	return 0;
}

static bool pkcs1_encrypt(EVP_PKEY *pub, const uint8_t *msg, size_t len, uint8_t *out, size_t *out_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
	bool ok = c && EVP_PKEY_encrypt_init(c) == 1 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
		  EVP_PKEY_encrypt(c, out, out_len, msg, len) == 1;

	EVP_PKEY_CTX_free(c);
	return ok;
}

/* The inputs: a DigestInfo to sign (checked once in software) and a ciphertext. */
static bool inputs(struct mod *m, char *err, size_t errlen)
{
	uint8_t digest[32];

	RAND_bytes(digest, sizeof(digest));
	memcpy(m->di, sw_sha256_digestinfo_prefix, 19);
	memcpy(m->di + 19, digest, 32);
	RAND_bytes(m->msg, sizeof(m->msg));
	m->ct_len = sizeof(m->ct);
	if (!pkcs1_encrypt(m->pub, m->msg, sizeof(m->msg), m->ct, &m->ct_len)) {
		bench_errf(err, errlen, "OpenSSL cannot encrypt to the key");
		return false;
	}
	return true;
}

static CK_SLOT_ID find_slot(CK_FUNCTION_LIST_PTR f, const char *label, char *err, size_t errlen, bool *found)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32;
	CK_TOKEN_INFO ti;
	char want[32];
	size_t l = strlen(label);

	memset(want, ' ', sizeof(want));
	memcpy(want, label, l < 32 ? l : 32);
	*found = false;
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return 0;
	for (CK_ULONG i = 0; i < n; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && !memcmp(ti.label, want, 32)) {
			*found = true;
			return slots[i];
		}
	bench_errf(err, errlen, "no token \"%s\"", label);
	return 0;
}

/* The key pair by label (generated if missing), its public key, one checked signature. */
static bool mod_key(struct mod *m, CK_SESSION_HANDLE s, const char *label, char *err, size_t errlen)
{
	CK_FUNCTION_LIST_PTR f = m->f;
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, pubc = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE find[] = { { CKA_CLASS, &priv, sizeof(priv) }, { CKA_LABEL, (void *)label, strlen(label) } };
	CK_ATTRIBUTE findp[] = { { CKA_CLASS, &pubc, sizeof(pubc) }, { CKA_LABEL, (void *)label, strlen(label) } };
	uint8_t n[512], e[8], sig[256];
	CK_ATTRIBUTE get[] = { { CKA_MODULUS, n, sizeof(n) }, { CKA_PUBLIC_EXPONENT, e, sizeof(e) } };
	CK_OBJECT_HANDLE pub = 0;
	CK_ULONG cnt = 0, len = sizeof(sig);
	CK_RV rv;

	if (f->C_FindObjectsInit(s, find, 2) == CKR_OK) {
		f->C_FindObjects(s, &m->key, 1, &cnt);
		f->C_FindObjectsFinal(s);
	}
	if (!cnt) {
		CK_MECHANISM gen = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
		CK_ULONG bits = 2048;
		CK_BYTE exp[] = { 1, 0, 1 }, yes = CK_TRUE;
		CK_ATTRIBUTE pt[] = { { CKA_TOKEN, &yes, 1 }, { CKA_MODULUS_BITS, &bits, sizeof(bits) },
				      { CKA_PUBLIC_EXPONENT, exp, 3 }, { CKA_LABEL, (void *)label, strlen(label) },
				      { CKA_VERIFY, &yes, 1 }, { CKA_ENCRYPT, &yes, 1 } };
		CK_ATTRIBUTE kt[] = { { CKA_TOKEN, &yes, 1 }, { CKA_LABEL, (void *)label, strlen(label) },
				      { CKA_SIGN, &yes, 1 }, { CKA_DECRYPT, &yes, 1 }, { CKA_PRIVATE, &yes, 1 },
				      { CKA_SENSITIVE, &yes, 1 } };

		rv = f->C_GenerateKeyPair(s, &gen, pt, 6, kt, 6, &pub, &m->key);
		if (rv != CKR_OK)
			return ck(err, errlen, "C_GenerateKeyPair(RSA-2048)", rv) == 0;
	} else {
		if (f->C_FindObjectsInit(s, findp, 2) == CKR_OK) {
			f->C_FindObjects(s, &pub, 1, &cnt);
			f->C_FindObjectsFinal(s);
		}
	}
	rv = f->C_GetAttributeValue(s, pub, get, 2);
	if (rv != CKR_OK)
		return ck(err, errlen, "C_GetAttributeValue(public key)", rv) == 0;
	m->pub = sw_rsa_public(n, get[0].ulValueLen, e, get[1].ulValueLen);
	if (!m->pub || !inputs(m, err, errlen))
		return false;
	rv = f->C_SignInit(s, &(CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 }, m->key);
	if (rv == CKR_OK)
		rv = f->C_Sign(s, m->di, sizeof(m->di), sig, &len);
	if (rv != CKR_OK || !sw_rsa_pkcs1_verify(m->pub, m->di + 19, sig, len)) {
		bench_errf(err, errlen, "the module's signature does not verify (CKR 0x%lx)", (unsigned long)rv);
		return false;
	}
	return true;
}

static void run_job(struct bench_results *rs, const struct opts *o, const char *name, const char *impl,
		    const char *what, unsigned threads, void *(*init)(void *, unsigned, char *, size_t),
		    bench_op_fn op, void (*fini)(void *), void *arg)
{
	struct bench_job job = { .name = name, .impl = impl, .what = what, .threads = threads,
				 .warmup = o->warmup, .iters = o->iters, .thread_init = init, .op = op,
				 .thread_fini = fini, .arg = arg };
	struct bench_result *r = bench_result_new(rs, name, impl, threads);

	if (!r)
		return;
	fprintf(stderr, "tpmha-bench-tpm12: %s/%s, %u thread%s...\n", name, impl, threads, threads > 1 ? "s" : "");
	bench_run_threads(&job, r);
	if (!r->ok)
		fprintf(stderr, "tpmha-bench-tpm12: %s/%s failed: %s\n", name, impl, r->err);
}

static int bench_module12(const struct opts *o, struct bench_results *rs)
{
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_RV (*gfl)(CK_FUNCTION_LIST_PTR_PTR);
	struct mod m[2] = { { 0 } };
	const char *tokens[2] = { o->token, o->cmk_token };
	const char *impls[2] = { "module", "module-cmk" };
	CK_SESSION_HANDLE s[2] = { 0 };
	char err[BENCH_ERR_MAX] = "";
	void *lib = dlopen(o->module, RTLD_NOW | RTLD_LOCAL);
	CK_FUNCTION_LIST_PTR f = NULL;
	int status = 0;

	if (!lib || !(gfl = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(lib, "C_GetFunctionList")) ||
	    gfl(&f) != CKR_OK || f->C_Initialize(&ia) != CKR_OK) {
		fprintf(stderr, "tpmha-bench-tpm12: cannot load and initialize %s: %s\n", o->module,
			lib ? "C_Initialize failed" : dlerror());
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		bool found;

		if (!tokens[i])
			continue;
		m[i].f = f;
		m[i].slot = find_slot(f, tokens[i], err, sizeof(err), &found);
		if (!found || f->C_OpenSession(m[i].slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s[i]) != CKR_OK ||
		    f->C_Login(s[i], CKU_USER, (CK_UTF8CHAR_PTR)o->pin, strlen(o->pin)) != CKR_OK ||
		    !mod_key(&m[i], s[i], o->label, err, sizeof(err))) {
			fprintf(stderr, "tpmha-bench-tpm12: token \"%s\": %s\n", tokens[i], err[0] ? err : "cannot log in");
			status = 1;
			tokens[i] = NULL;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (!tokens[i])
			continue;
		for (int t = 0; o->threads[t]; t++) {
			run_job(rs, o, "rsa-sign", impls[i], "C_Sign CKM_RSA_PKCS, SHA-256 DigestInfo", o->threads[t],
				mod_open, mod_sign, mod_close, &m[i]);
			run_job(rs, o, "rsa-pkcs1-decrypt", impls[i], "C_Decrypt CKM_RSA_PKCS", o->threads[t],
				mod_open, mod_decrypt, mod_close, &m[i]);
		}
	}
	f->C_Finalize(NULL);
	for (int i = 0; i < 2; i++)
		EVP_PKEY_free(m[i].pub);
	return status;
}

/* --- the floor: TSPI directly ------------------------------------------------------------- */

struct floor {
	const char *tcsd;
	uint8_t auth[20];        /* the key's usage auth (its SHA-1 form) */
	BYTE *blob;
	UINT32 blob_len;
	struct mod io;           /* inputs and the public key, as for the module */
};

struct floor_thread {
	struct floor *fl;
	TSS_HCONTEXT ctx;
	TSS_HKEY srk, key;
	TSS_HHASH hash;
	TSS_HENCDATA enc;
};

static const BYTE well_known[20] = TSS_WELL_KNOWN_SECRET;

static TSS_RESULT secret(TSS_HCONTEXT ctx, TSS_HOBJECT obj, const BYTE *s)
{
	TSS_HPOLICY p;
	TSS_RESULT r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, &p);

	if (r == TSS_SUCCESS)
		r = Tspi_Policy_SetSecret(p, TSS_SECRET_MODE_SHA1, 20, (BYTE *)s);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_AssignToObject(p, obj);
	return r;
}

/* A context connected to the tcsd, with the SRK loaded (well-known secret). */
static TSS_RESULT connect_srk(const char *tcsd, TSS_HCONTEXT *ctx, TSS_HKEY *srk)
{
	static pthread_mutex_t env = PTHREAD_MUTEX_INITIALIZER;
	TSS_UUID uuid = TSS_UUID_SRK;
	TSS_RESULT r = Tspi_Context_Create(ctx);

	/* Tspi_Context_Connect reads TSS_TCSD_PORT (trousers trap 3) */
	pthread_mutex_lock(&env);
	setenv("TSS_TCSD_PORT", tcsd, 1);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_Connect(*ctx, NULL);
	pthread_mutex_unlock(&env);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_LoadKeyByUUID(*ctx, TSS_PS_TYPE_SYSTEM, uuid, srk);
	if (r == TSS_SUCCESS)
		r = secret(*ctx, *srk, well_known);
	return r;
}

static void floor_close(void *tctx)
{
	struct floor_thread *t = tctx;

	if (t->ctx) {
		Tspi_Context_FreeMemory(t->ctx, NULL);
		Tspi_Context_Close(t->ctx);
	}
	free(t);
}

static void *floor_open(void *arg, unsigned idx, char *err, size_t errlen)
{
	struct floor *fl = arg;
	struct floor_thread *t = calloc(1, sizeof(*t));
	TSS_RESULT r;

	(void)idx;
	if (!t) {
		bench_errf(err, errlen, "out of memory");
		return NULL;
	}
	t->fl = fl;
	r = connect_srk(fl->tcsd, &t->ctx, &t->srk);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_LoadKeyByBlob(t->ctx, t->srk, fl->blob_len, fl->blob, &t->key);
	if (r == TSS_SUCCESS)
		r = secret(t->ctx, t->key, fl->auth);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_HASH, TSS_HASH_OTHER, &t->hash);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_ENCDATA, TSS_ENCDATA_BIND, &t->enc);
	if (r != TSS_SUCCESS) {
		bench_errf(err, errlen, "TSPI set-up: %s", Trspi_Error_String(r));
		floor_close(t);
		return NULL;
	}
	return t;
}

static int floor_sign(void *tctx, char *err, size_t errlen)
{
	struct floor_thread *t = tctx;
	UINT32 len = 0;
	BYTE *p = NULL;
	TSS_RESULT r = Tspi_Hash_SetHashValue(t->hash, sizeof(t->fl->io.di), t->fl->io.di);

	if (r == TSS_SUCCESS)
		r = Tspi_Hash_Sign(t->hash, t->key, &len, &p);
	if (r == TSS_SUCCESS)
		Tspi_Context_FreeMemory(t->ctx, p);
	if (r != TSS_SUCCESS || len != 256) {
		bench_errf(err, errlen, "Tspi_Hash_Sign: %s, %u bytes", Trspi_Error_String(r), len);
		return -1;
	}
	return 0;
}

static int floor_decrypt(void *tctx, char *err, size_t errlen)
{
	struct floor_thread *t = tctx;
	UINT32 len = 0;
	BYTE *p = NULL;
	TSS_RESULT r = Tspi_SetAttribData(t->enc, TSS_TSPATTRIB_ENCDATA_BLOB, TSS_TSPATTRIB_ENCDATABLOB_BLOB,
					  (UINT32)t->fl->io.ct_len, t->fl->io.ct);
	bool same;

	if (r == TSS_SUCCESS)
		r = Tspi_Data_Unbind(t->enc, t->key, &len, &p);
	if (r != TSS_SUCCESS) {
		bench_errf(err, errlen, "Tspi_Data_Unbind: %s", Trspi_Error_String(r));
		return -1;
	}
	same = len == sizeof(t->fl->io.msg) && memcmp(p, t->fl->io.msg, len) == 0;
	Tspi_Context_FreeMemory(t->ctx, p);
	if (!same) {
		bench_errf(err, errlen, "Tspi_Data_Unbind: the wrong plaintext");
		return -1;
	}
	return 0;
}

/* The floor's key: the module's shape, made by the TPM under the SRK. */
static bool floor_key(struct floor *fl, char *err, size_t errlen)
{
	TSS_HCONTEXT ctx = 0;
	TSS_HKEY srk, k;
	BYTE *p = NULL, *mod = NULL;
	UINT32 n = 0, mlen = 0;
	uint8_t e[3] = { 1, 0, 1 };
	TSS_RESULT r;
	struct floor_thread *t;
	bool ok;

	RAND_bytes(fl->auth, sizeof(fl->auth));
	r = connect_srk(fl->tcsd, &ctx, &srk);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_RSAKEY,
					      TSS_KEY_TYPE_LEGACY | TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12 |
						      TSS_KEY_AUTHORIZATION | TSS_KEY_NOT_MIGRATABLE,
					      &k);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribUint32(k, TSS_TSPATTRIB_KEY_INFO, TSS_TSPATTRIB_KEYINFO_SIGSCHEME,
					 TSS_SS_RSASSAPKCS1V15_DER);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribUint32(k, TSS_TSPATTRIB_KEY_INFO, TSS_TSPATTRIB_KEYINFO_ENCSCHEME,
					 TSS_ES_RSAESPKCSV15);
	if (r == TSS_SUCCESS)
		r = secret(ctx, k, fl->auth);
	if (r == TSS_SUCCESS)
		r = Tspi_Key_CreateKey(k, srk, 0);
	if (r == TSS_SUCCESS)
		r = Tspi_GetAttribData(k, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_BLOB, &n, &p);
	if (r == TSS_SUCCESS && (fl->blob = malloc(n))) {
		memcpy(fl->blob, p, n);
		fl->blob_len = n;
	}
	if (r == TSS_SUCCESS)
		r = Tspi_GetAttribData(k, TSS_TSPATTRIB_RSAKEY_INFO, TSS_TSPATTRIB_KEYINFO_RSA_MODULUS, &mlen, &mod);
	if (r == TSS_SUCCESS)
		fl->io.pub = sw_rsa_public(mod, mlen, e, sizeof(e));
	if (ctx) {
		Tspi_Context_FreeMemory(ctx, NULL);
		Tspi_Context_Close(ctx);
	}
	if (r != TSS_SUCCESS || !fl->blob || !fl->io.pub) {
		bench_errf(err, errlen, "creating the floor's key: %s", r ? Trspi_Error_String(r) : "out of memory");
		return false;
	}
	if (!inputs(&fl->io, err, errlen))
		return false;
	/* one signature and one decryption checked before the clock starts */
	if (!(t = floor_open(fl, 0, err, errlen)))
		return false;
	ok = floor_decrypt(t, err, errlen) == 0;
	if (ok) {
		UINT32 len = 0;
		BYTE *sig = NULL;

		ok = Tspi_Hash_SetHashValue(t->hash, sizeof(fl->io.di), fl->io.di) == TSS_SUCCESS &&
		     Tspi_Hash_Sign(t->hash, t->key, &len, &sig) == TSS_SUCCESS &&
		     sw_rsa_pkcs1_verify(fl->io.pub, fl->io.di + 19, sig, len);
		if (!ok)
			bench_errf(err, errlen, "the floor's signature does not verify");
	}
	floor_close(t);
	return ok;
}

static int bench_tspi(const struct opts *o, struct bench_results *rs)
{
	struct floor fl = { .tcsd = o->tcsd };
	char err[BENCH_ERR_MAX] = "";

	if (!floor_key(&fl, err, sizeof(err))) {
		fprintf(stderr, "tpmha-bench-tpm12: the TSPI floor: %s\n", err);
		return 1;
	}
	for (int t = 0; o->threads[t]; t++) {
		run_job(rs, o, "rsa-sign", "tspi", "Tspi_Hash_Sign, SHA-256 DigestInfo", o->threads[t], floor_open,
			floor_sign, floor_close, &fl);
		run_job(rs, o, "rsa-pkcs1-decrypt", "tspi", "Tspi_Data_Unbind PKCS#1 v1.5", o->threads[t],
			floor_open, floor_decrypt, floor_close, &fl);
	}
	free(fl.blob);
	EVP_PKEY_free(fl.io.pub);
	return 0;
}

/* --- the report ---------------------------------------------------------------------------- */

static int rank(const char *s, const char *const *list)
{
	int i = 0;

	while (list[i] && strcmp(s, list[i]))
		i++;
	return i;
}

static int cmp_result(const void *a, const void *b)
{
	static const char *const impls[] = { "module", "module-cmk", "tspi", NULL };
	static const char *const names[] = { "rsa-sign", "rsa-pkcs1-decrypt", NULL };
	const struct bench_result *x = a, *y = b;
	int d = rank(x->name, names) - rank(y->name, names);

	if (!d)
		d = rank(x->impl, impls) - rank(y->impl, impls);
	if (!d)
		d = (int)x->threads - (int)y->threads;
	return d;
}

static void report(struct bench_results *rs)
{
	static const char *const names[] = { "rsa-sign", "rsa-pkcs1-decrypt" };
	static const char *const impls[] = { "module", "module-cmk" };

	qsort(rs->r, rs->n, sizeof(rs->r[0]), cmp_result);
	printf("machine: %s\n\n", rs->machine);
	printf("%-18s %-11s %3s %6s %9s %8s %8s %8s %8s %10s\n", "benchmark", "impl", "thr", "ops", "ops/s",
	       "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu us/op");
	for (size_t i = 0; i < rs->n; i++) {
		const struct bench_result *r = &rs->r[i];

		if (!r->ok)
			printf("%-18s %-11s %3u FAILED: %s\n", r->name, r->impl, r->threads, r->err);
		else
			printf("%-18s %-11s %3u %6zu %9.1f %8.3f %8.3f %8.3f %8.3f %10.1f\n", r->name, r->impl,
			       r->threads, r->ops, r->ops_per_s, r->p50_ms, r->p90_ms, r->p99_ms, r->max_ms,
			       r->cpu_us_per_op);
	}
	printf("\n%-58s %9s %7s  %s\n", "target (issue 4: within 1.2x of TSPI directly)", "measured", "goal", "result");
	for (int n = 0; n < 2; n++)
		for (int i = 0; i < 2; i++)
			for (int th = 1; th <= 4; th += 3) {
				const struct bench_result *m = bench_result_find(rs, names[n], impls[i], (unsigned)th);
				const struct bench_result *f = bench_result_find(rs, names[n], "tspi", (unsigned)th);
				char what[80];

				if (!m || !f || !m->ok || !f->ok)
					continue;
				snprintf(what, sizeof(what), "%s: %s p50 / tspi p50, %d thr", names[n], impls[i], th);
				printf("%-58s %8.2fx %6.1fx  %s\n", what, m->p50_ms / f->p50_ms, 1.2,
				       m->p50_ms / f->p50_ms <= 1.2 ? "met" : "MISSED");
				snprintf(what, sizeof(what), "%s: tspi ops/s / %s ops/s, %d thr", names[n], impls[i], th);
				printf("%-58s %8.2fx %6.1fx  %s\n", what, f->ops_per_s / m->ops_per_s, 1.2,
				       f->ops_per_s / m->ops_per_s <= 1.2 ? "met" : "MISSED");
			}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tpmha-bench-tpm12 --module PATH --token LABEL [--cmk-token LABEL] --tcsd PORT\n"
		   "         [--pin PIN] [--label L] [--threads 1,4] [--warmup N] [--iterations N]\n"
		   "         [--no-floor] [--no-module]\n"
		   "  --token/--cmk-token  a token without a domain / a domain token (CMKs) on the TPM 1.2\n"
		   "  --tcsd PORT          the same TPM's tcsd, for the TSPI floor\n"
		   "  --label L            the key pair's label in each token (made if missing; default bench-rsa)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "module", required_argument, NULL, 'm' }, { "token", required_argument, NULL, 't' },
		{ "cmk-token", required_argument, NULL, 'c' }, { "pin", required_argument, NULL, 'p' },
		{ "tcsd", required_argument, NULL, 'd' }, { "label", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 'T' }, { "warmup", required_argument, NULL, 'w' },
		{ "iterations", required_argument, NULL, 'i' }, { "no-floor", no_argument, NULL, 'F' },
		{ "no-module", no_argument, NULL, 'M' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bench_results rs;
	struct opts o = { .pin = "userpin1234", .label = "bench-rsa", .threads = { 1, 4, 0 }, .warmup = 20,
			  .iters = 500 };
	bool no_floor = false, no_module = false;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o.module = optarg; break;
		case 't': o.token = optarg; break;
		case 'c': o.cmk_token = optarg; break;
		case 'p': o.pin = optarg; break;
		case 'd': o.tcsd = optarg; break;
		case 'l': o.label = optarg; break;
		case 'T': {
			unsigned n = 0;
			char *s = optarg, *end;

			while (*s && n < 3) {
				unsigned long v = strtoul(s, &end, 10);

				if (end == s || v < 1 || v > 16) {
					usage(stderr);
					return 2;
				}
				o.threads[n++] = (unsigned)v;
				s = *end == ',' ? end + 1 : end;
			}
			o.threads[n] = 0;
			break;
		}
		case 'w': o.warmup = strtoul(optarg, NULL, 10); break;
		case 'i': o.iters = strtoul(optarg, NULL, 10); break;
		case 'F': no_floor = true; break;
		case 'M': no_module = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !o.iters || (!no_module && (!o.module || (!o.token && !o.cmk_token))) ||
	    (!no_floor && !o.tcsd)) {
		usage(stderr);
		return 2;
	}
	bench_machine(rs.machine, sizeof(rs.machine));
	if (!no_module && bench_module12(&o, &rs) != 0)
		status = 1;
	if (!no_floor && bench_tspi(&o, &rs) != 0)
		status = 1;
	for (size_t i = 0; i < rs.n; i++)
		if (!rs.r[i].ok)
			status = 1;
	report(&rs);
	return status;
}
