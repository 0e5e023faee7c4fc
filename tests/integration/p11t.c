#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "common/ckr.h"
#include "p11t.h"

CK_FUNCTION_LIST_PTR F;

/* ---- TAP ---- */

static pthread_mutex_t tap_lock = PTHREAD_MUTEX_INITIALIZER;
static int tap_n, tap_failed;

static bool tap_result(bool cond, const char *diag, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&tap_lock);
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	if (!cond && diag)
		printf("# %s\n", diag);
	fflush(stdout);
	pthread_mutex_unlock(&tap_lock);
	return cond;
}

bool t_ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = tap_result(cond, NULL, fmt, ap);
	va_end(ap);
	return r;
}

bool t_rv(CK_RV got, CK_RV want, const char *fmt, ...)
{
	char diag[160];
	va_list ap;
	bool r;

	snprintf(diag, sizeof(diag), "got %s, expected %s", ckr(got), ckr(want));
	va_start(ap, fmt);
	r = tap_result(got == want, diag, fmt, ap);
	va_end(ap);
	return r;
}

bool t_eq(unsigned long got, unsigned long want, const char *fmt, ...)
{
	char diag[160];
	va_list ap;
	bool r;

	snprintf(diag, sizeof(diag), "got %lu (0x%lx), expected %lu (0x%lx)", got, got, want, want);
	va_start(ap, fmt);
	r = tap_result(got == want, diag, fmt, ap);
	va_end(ap);
	return r;
}

void t_skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&tap_lock);
	tap_n++;
	printf("ok %d - ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
	fflush(stdout);
	pthread_mutex_unlock(&tap_lock);
}

void t_diag(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&tap_lock);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&tap_lock);
}

void t_bail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&tap_lock);
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

int t_done(void)
{
	pthread_mutex_lock(&tap_lock);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	printf("1..%d\n", tap_n);
	fflush(stdout);
	pthread_mutex_unlock(&tap_lock);
	return 0;
}

int t_failures(void)
{
	return tap_failed;
}

void t_reset(void)
{
	tap_n = tap_failed = 0;
}

int t_relay(FILE *in, const char *prefix)
{
	char line[1024];
	int seen = 0, planned = -1, failed = 0;

	while (fgets(line, sizeof(line), in)) {
		char *nl = strchr(line, '\n'), *desc;
		bool ok;
		if (nl)
			*nl = '\0';
		if (strncmp(line, "1..", 3) == 0) {
			planned = atoi(line + 3);
			continue;
		}
		if (line[0] == '#') {
			t_diag("%s%s", prefix, line + 1);
			continue;
		}
		if (strncmp(line, "Bail out!", 9) == 0) {
			t_ok(false, "%s%s", prefix, line);
			failed++;
			continue;
		}
		ok = strncmp(line, "ok ", 3) == 0;
		if (!ok && strncmp(line, "not ok ", 7) != 0)
			continue;
		desc = strstr(line, " - ");
		seen++;
		if (!ok)
			failed++;
		t_ok(ok, "%s%s", prefix, desc ? desc + 3 : line);
	}
	if (planned != seen) {
		t_ok(false, "%sran %d checks, planned %d (died early?)", prefix, seen, planned);
		failed++;
	}
	return failed;
}

const char *ckr(CK_RV rv)
{
	return ckr_name(rv);
}

/* ---- the module ---- */

void p11t_load(void)
{
	const char *path = getenv("TPMHA_MODULE");
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	void *lib;

	/* Unbuffered TAP: a crash must not eat what was already said. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!path || !*path)
		t_bail("TPMHA_MODULE is not set");
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		t_bail("dlopen %s: %s", path, dlerror());
	get = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(lib, "C_GetFunctionList");
	if (!get)
		t_bail("%s has no C_GetFunctionList", path);
	if (get(&F) != CKR_OK || !F)
		t_bail("C_GetFunctionList failed");
}

CK_RV p11t_init(void)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	return F->C_Initialize(&args);
}

void p11t_label(CK_UTF8CHAR out[32], const char *label)
{
	size_t n = strlen(label);

	memset(out, ' ', 32);
	memcpy(out, label, n < 32 ? n : 32);
}

CK_SLOT_ID p11t_free_slot(void)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO info;

	MUST(F->C_GetSlotList(CK_TRUE, slots, &n));
	for (CK_ULONG i = 0; i < n; i++)
		if (F->C_GetTokenInfo(slots[i], &info) == CKR_OK && !(info.flags & CKF_TOKEN_INITIALIZED))
			return slots[i];
	t_bail("no slot with an uninitialized token");
}

CK_SLOT_ID p11t_slot_by_label(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO info;
	CK_UTF8CHAR want[32];

	p11t_label(want, label);
	MUST(F->C_GetSlotList(CK_TRUE, slots, &n));
	for (CK_ULONG i = 0; i < n; i++)
		if (F->C_GetTokenInfo(slots[i], &info) == CKR_OK && (info.flags & CKF_TOKEN_INITIALIZED) &&
		    memcmp(info.label, want, 32) == 0)
			return slots[i];
	t_bail("no token labelled '%s'", label);
}

CK_SLOT_ID p11t_new_token(const char *label, const char *so_pin, const char *user_pin)
{
	CK_UTF8CHAR l[32];
	CK_SLOT_ID slot = p11t_free_slot();
	CK_SESSION_HANDLE h;

	p11t_label(l, label);
	MUST(F->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), l));
	slot = p11t_slot_by_label(label);
	h = p11t_open(slot, true);
	p11t_login(h, CKU_SO, so_pin);
	MUST(F->C_InitPIN(h, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin)));
	MUST(F->C_Logout(h));
	MUST(F->C_CloseSession(h));
	return slot;
}

CK_SESSION_HANDLE p11t_open(CK_SLOT_ID slot, bool rw)
{
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;

	MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, &h));
	return h;
}

void p11t_login(CK_SESSION_HANDLE h, CK_USER_TYPE who, const char *pin)
{
	MUST(F->C_Login(h, who, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
}

CK_ULONG p11t_find(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_ULONG count = 0;

	MUST(F->C_FindObjectsInit(h, tmpl, n));
	MUST(F->C_FindObjects(h, out, max, &count));
	MUST(F->C_FindObjectsFinal(h));
	return count;
}

CK_OBJECT_HANDLE p11t_find_label(CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const char *label)
{
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_LABEL, (void *)label, strlen(label) } };
	CK_OBJECT_HANDLE found[2];

	return p11t_find(h, t, 2, found, 2) == 1 ? found[0] : CK_INVALID_HANDLE;
}

CK_RV p11t_data(CK_SESSION_HANDLE h, const char *label, bool token, bool priv, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS klass = CKO_DATA;
	CK_BBOOL tok = token, pr = priv;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) }, { CKA_TOKEN, &tok, 1 }, { CKA_PRIVATE, &pr, 1 },
		{ CKA_LABEL, (void *)label, strlen(label) }, { CKA_VALUE, "data value", 10 },
	};
	return F->C_CreateObject(h, t, 5, out);
}

static const CK_BBOOL yes = CK_TRUE;

CK_RV p11t_gen_rsa(CK_SESSION_HANDLE h, CK_ULONG bits, const char *label, CK_OBJECT_HANDLE *pub,
		   CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE e[] = { 1, 0, 1 };
	CK_ATTRIBUTE pt[] = {
		{ CKA_TOKEN, (void *)&yes, 1 }, { CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, e, 3 }, { CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)label, strlen(label) }, { CKA_VERIFY, (void *)&yes, 1 },
		{ CKA_ENCRYPT, (void *)&yes, 1 },
	};
	CK_ATTRIBUTE kt[] = {
		{ CKA_TOKEN, (void *)&yes, 1 }, { CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)label, strlen(label) }, { CKA_SIGN, (void *)&yes, 1 },
		{ CKA_DECRYPT, (void *)&yes, 1 },
	};
	return F->C_GenerateKeyPair(h, &m, pt, 7, kt, 5, pub, priv);
}

const uint8_t p11t_p256[10] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
const uint8_t p11t_p384[7] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

CK_RV p11t_gen_ec(CK_SESSION_HANDLE h, const uint8_t *params, size_t params_len, const char *label,
		  CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pt[] = {
		{ CKA_TOKEN, (void *)&yes, 1 }, { CKA_EC_PARAMS, (void *)params, params_len },
		{ CKA_LABEL, (void *)label, strlen(label) }, { CKA_ID, (void *)label, strlen(label) },
		{ CKA_VERIFY, (void *)&yes, 1 },
	};
	CK_ATTRIBUTE kt[] = {
		{ CKA_TOKEN, (void *)&yes, 1 }, { CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)label, strlen(label) }, { CKA_SIGN, (void *)&yes, 1 },
	};
	return F->C_GenerateKeyPair(h, &m, pt, 5, kt, 4, pub, priv);
}

uint8_t *p11t_attr(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	uint8_t *v;

	if (F->C_GetAttributeValue(h, o, &a, 1) != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return NULL;
	v = malloc(a.ulValueLen ? a.ulValueLen : 1);
	a.pValue = v;
	if (F->C_GetAttributeValue(h, o, &a, 1) != CKR_OK) {
		free(v);
		return NULL;
	}
	*len = a.ulValueLen;
	return v;
}

bool p11t_attr_bool(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { type, &b, 1 };

	return F->C_GetAttributeValue(h, o, &a, 1) == CKR_OK && b == CK_TRUE;
}

CK_ULONG p11t_attr_ulong(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = CK_UNAVAILABLE_INFORMATION;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	if (F->C_GetAttributeValue(h, o, &a, 1) != CKR_OK)
		return CK_UNAVAILABLE_INFORMATION;
	return v;
}

/* ---- software checks ---- */

EVP_PKEY *p11t_evp_public(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub)
{
	CK_ULONG type = p11t_attr_ulong(h, pub, CKA_KEY_TYPE), a_len = 0, b_len = 0;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t *a = NULL, *b = NULL;

	if (type == CKK_RSA) {
		a = p11t_attr(h, pub, CKA_MODULUS, &a_len);
		b = p11t_attr(h, pub, CKA_PUBLIC_EXPONENT, &b_len);
		if (!a || !b)
			goto out;
		n = BN_bin2bn(a, (int)a_len, NULL);
		e = BN_bin2bn(b, (int)b_len, NULL);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (type == CKK_EC) {
		const char *group = NULL;
		const uint8_t *point;
		size_t point_len;
		a = p11t_attr(h, pub, CKA_EC_PARAMS, &a_len);
		b = p11t_attr(h, pub, CKA_EC_POINT, &b_len);
		if (!a || !b)
			goto out;
		if (a_len == sizeof(p11t_p256) && memcmp(a, p11t_p256, a_len) == 0)
			group = "P-256";
		else if (a_len == sizeof(p11t_p384) && memcmp(a, p11t_p384, a_len) == 0)
			group = "P-384";
		if (!group || b_len < 3 || b[0] != 0x04 || b[1] != b_len - 2)
			goto out; /* CKA_EC_POINT must be a DER OCTET STRING */
		point = b + 2;
		point_len = b_len - 2;
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	free(a);
	free(b);
	return key;
}

CK_RV p11t_sign(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE key, const uint8_t *data,
		size_t len, uint8_t *sig, CK_ULONG *sig_len)
{
	CK_RV rv = F->C_SignInit(h, m, key);

	if (rv != CKR_OK)
		return rv;
	return F->C_Sign(h, (CK_BYTE_PTR)data, len, sig, sig_len);
}

const EVP_MD *p11t_md(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_SHA_1:
	case CKM_SHA1_RSA_PKCS:
	case CKM_SHA1_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA1:
		return EVP_sha1();
	case CKM_SHA256:
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA256:
		return EVP_sha256();
	case CKM_SHA384:
	case CKM_SHA384_RSA_PKCS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA384:
		return EVP_sha384();
	case CKM_SHA512:
	case CKM_SHA512_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static const EVP_MD *mgf_md(CK_RSA_PKCS_MGF_TYPE mgf)
{
	switch (mgf) {
	case CKG_MGF1_SHA1:
		return EVP_sha1();
	case CKG_MGF1_SHA256:
		return EVP_sha256();
	case CKG_MGF1_SHA384:
		return EVP_sha384();
	case CKG_MGF1_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* r || s → DER */
static uint8_t *ecdsa_der(const uint8_t *sig, size_t len, int *der_len)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	uint8_t *der = NULL;

	ECDSA_SIG_set0(s, BN_bin2bn(sig, (int)len / 2, NULL), BN_bin2bn(sig + len / 2, (int)len / 2, NULL));
	*der_len = i2d_ECDSA_SIG(s, &der);
	ECDSA_SIG_free(s);
	return der;
}

bool p11t_ossl_verify(EVP_PKEY *key, CK_MECHANISM_TYPE mech, const CK_RSA_PKCS_PSS_PARAMS *pss,
		      const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len)
{
	const EVP_MD *md = p11t_md(mech);
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	uint8_t *der = NULL;
	int der_len = 0, ok = 0;
	bool is_ec = EVP_PKEY_is_a(key, "EC");

	if (is_ec) {
		if (sig_len % 2)
			return false;
		der = ecdsa_der(sig, sig_len, &der_len);
		sig = der;
		sig_len = (size_t)der_len;
	}
	if (md) {
		mctx = EVP_MD_CTX_new();
		if (EVP_DigestVerifyInit_ex(mctx, &pctx, EVP_MD_get0_name(md), NULL, NULL, key, NULL) != 1)
			goto out;
	} else {
		pctx = EVP_PKEY_CTX_new(key, NULL);
		/* CKM_RSA_PKCS: with no digest set, OpenSSL compares the data under the
		 * PKCS#1 v1.5 padding with what it is given, whatever its length. */
		if (EVP_PKEY_verify_init(pctx) != 1)
			goto out;
	}
	if (pss) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mgf_md(pss->mgf)) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)pss->sLen) != 1)
			goto out;
		if (!md && EVP_PKEY_CTX_set_signature_md(pctx, p11t_md(pss->hashAlg)) != 1)
			goto out;
	} else if (!is_ec && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		goto out;
	}
	if (md)
		ok = EVP_DigestVerify(mctx, sig, sig_len, data, len) == 1;
	else
		ok = EVP_PKEY_verify(pctx, sig, sig_len, data, len) == 1;
out:
	if (!md)
		EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	return ok;
}

int p11t_system(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(stdout);
	st = system(cmd);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Every function that takes a session, expecting want. */
void p11t_session_calls(const char *when, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_RV want)
{
	CK_ULONG n = 8, len = 64;
	CK_SESSION_INFO seinfo;
	CK_OBJECT_HANDLE no = 0, pub = 0, priv = 0;
	CK_BYTE buf[512], out[512];
	CK_ULONG out_len = sizeof(out);
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_MECHANISM gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_CLASS klass = CKO_DATA;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &klass, sizeof(klass) } };

	memset(buf, 1, sizeof(buf));
#define U(call) t_rv(F->call, want, "%s: C_%s", when, #call)
	U(C_InitPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	U(C_SetPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN), (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	U(C_GetSessionInfo(h, &seinfo));
	U(C_GetOperationState(h, buf, &len));
	U(C_SetOperationState(h, buf, 16, 0, 0));
	U(C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	U(C_Logout(h));
	U(C_CreateObject(h, t, 1, &no));
	U(C_CopyObject(h, o, t, 1, &no));
	U(C_DestroyObject(h, o));
	U(C_GetObjectSize(h, o, &len));
	U(C_GetAttributeValue(h, o, t, 1));
	U(C_SetAttributeValue(h, o, t, 1));
	U(C_FindObjectsInit(h, t, 1));
	U(C_FindObjects(h, &no, 1, &n));
	U(C_FindObjectsFinal(h));
	U(C_EncryptInit(h, &m, o));
	U(C_Encrypt(h, buf, 16, out, &out_len));
	U(C_EncryptUpdate(h, buf, 16, out, &out_len));
	U(C_EncryptFinal(h, out, &out_len));
	U(C_DecryptInit(h, &m, o));
	U(C_Decrypt(h, buf, 16, out, &out_len));
	U(C_DecryptUpdate(h, buf, 16, out, &out_len));
	U(C_DecryptFinal(h, out, &out_len));
	U(C_DigestInit(h, &m));
	U(C_Digest(h, buf, 16, out, &out_len));
	U(C_DigestUpdate(h, buf, 16));
	U(C_DigestKey(h, o));
	U(C_DigestFinal(h, out, &out_len));
	U(C_SignInit(h, &m, o));
	U(C_Sign(h, buf, 16, out, &out_len));
	U(C_SignUpdate(h, buf, 16));
	U(C_SignFinal(h, out, &out_len));
	U(C_SignRecoverInit(h, &m, o));
	U(C_SignRecover(h, buf, 16, out, &out_len));
	U(C_VerifyInit(h, &m, o));
	U(C_Verify(h, buf, 16, out, 64));
	U(C_VerifyUpdate(h, buf, 16));
	U(C_VerifyFinal(h, out, 64));
	U(C_VerifyRecoverInit(h, &m, o));
	U(C_VerifyRecover(h, buf, 64, out, &out_len));
	U(C_DigestEncryptUpdate(h, buf, 16, out, &out_len));
	U(C_DecryptDigestUpdate(h, buf, 16, out, &out_len));
	U(C_SignEncryptUpdate(h, buf, 16, out, &out_len));
	U(C_DecryptVerifyUpdate(h, buf, 16, out, &out_len));
	U(C_GenerateKey(h, &m, t, 1, &no));
	U(C_GenerateKeyPair(h, &gen, t, 1, t, 1, &pub, &priv));
	U(C_WrapKey(h, &m, o, o, out, &out_len));
	U(C_UnwrapKey(h, &m, o, buf, 16, t, 1, &no));
	U(C_DeriveKey(h, &m, o, t, 1, &no));
	U(C_SeedRandom(h, buf, 16));
	U(C_GenerateRandom(h, out, 16));
	U(C_GetFunctionStatus(h));
	U(C_CancelFunction(h));
	U(C_CloseSession(h));
#undef U
}

void p11t_all_uninitialized(const char *when, CK_SLOT_ID slot, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
	const CK_RV want = CKR_CRYPTOKI_NOT_INITIALIZED;
	CK_INFO info;
	CK_SLOT_ID slots[8], event = 0;
	CK_ULONG n = 8;
	CK_SLOT_INFO sinfo;
	CK_TOKEN_INFO tinfo;
	CK_MECHANISM_TYPE mechs[64];
	CK_MECHANISM_INFO minfo;
	CK_SESSION_HANDLE nh = 0;
	CK_UTF8CHAR label[32];

	p11t_label(label, "x");
#define U(call) t_rv(F->call, want, "%s: C_%s", when, #call)
	U(C_Finalize(NULL));
	U(C_GetInfo(&info));
	U(C_GetSlotList(CK_TRUE, slots, &n));
	U(C_GetSlotInfo(slot, &sinfo));
	U(C_GetTokenInfo(slot, &tinfo));
	U(C_GetMechanismList(slot, mechs, &n));
	U(C_GetMechanismInfo(slot, CKM_SHA256, &minfo));
	U(C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label));
	U(C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &nh));
	U(C_CloseAllSessions(slot));
	U(C_WaitForSlotEvent(CKF_DONT_BLOCK, &event, NULL));
#undef U
	p11t_session_calls(when, h, o, want);
}
