#include "config.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/ossl.h"

static OSSL_LIB_CTX *libctx;
static EVP_MD *mds[HASH_COUNT];
static EVP_MAC *hmac;
/* One HMAC context per hash with the digest already set: setting the digest by
 * name on every call is a provider lookup. Each HMAC duplicates its prototype. */
static EVP_MAC_CTX *hmac_proto[HASH_COUNT];
static EVP_CIPHER *aes256gcm;
static CK_RV init_rv = CKR_GENERAL_ERROR;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static const struct {
	const char *name;
	size_t size;
	CK_MECHANISM_TYPE ckm;
	CK_RSA_PKCS_MGF_TYPE mgf;
} hashes[HASH_COUNT] = {
	[HASH_SHA1] = { "SHA1", 20, CKM_SHA_1, CKG_MGF1_SHA1 },
	[HASH_SHA256] = { "SHA256", 32, CKM_SHA256, CKG_MGF1_SHA256 },
	[HASH_SHA384] = { "SHA384", 48, CKM_SHA384, CKG_MGF1_SHA384 },
	[HASH_SHA512] = { "SHA512", 64, CKM_SHA512, CKG_MGF1_SHA512 },
};

static void ossl_init_once(void)
{
	/* The context is process-wide and lives until exit: C_Finalize/C_Initialize
	 * cycles and fork() children reuse it, which keeps the login cycle cheap. */
	libctx = OSSL_LIB_CTX_new();
	if (!libctx || !OSSL_PROVIDER_load(libctx, "default")) {
		init_rv = CKR_GENERAL_ERROR;
		return;
	}
	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		mds[h] = EVP_MD_fetch(libctx, hashes[h].name, NULL);
		if (!mds[h]) {
			init_rv = CKR_GENERAL_ERROR;
			return;
		}
	}
	hmac = EVP_MAC_fetch(libctx, "HMAC", NULL);
	if (!hmac) {
		init_rv = CKR_GENERAL_ERROR;
		return;
	}
	for (int h = HASH_SHA1; h < HASH_COUNT; h++) {
		OSSL_PARAM params[2] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)hashes[h].name, 0),
			OSSL_PARAM_construct_end(),
		};
		hmac_proto[h] = EVP_MAC_CTX_new(hmac);
		if (!hmac_proto[h] || EVP_MAC_CTX_set_params(hmac_proto[h], params) != 1) {
			init_rv = CKR_GENERAL_ERROR;
			return;
		}
	}
	aes256gcm = EVP_CIPHER_fetch(libctx, "AES-256-GCM", NULL);
	init_rv = hmac && aes256gcm ? CKR_OK : CKR_GENERAL_ERROR;
}

CK_RV ossl_init(void)
{
	pthread_once(&init_once, ossl_init_once);
	if (init_rv != CKR_OK)
		LOGE("cannot set up OpenSSL's default provider in a private library context");
	return init_rv;
}

OSSL_LIB_CTX *ossl_libctx(void)
{
	pthread_once(&init_once, ossl_init_once);
	return libctx;
}

size_t hash_size(enum hash_alg h)
{
	return h > HASH_NONE && h < HASH_COUNT ? hashes[h].size : 0;
}

const char *hash_name(enum hash_alg h)
{
	return h > HASH_NONE && h < HASH_COUNT ? hashes[h].name : "none";
}

const EVP_MD *hash_md(enum hash_alg h)
{
	pthread_once(&init_once, ossl_init_once);
	return h > HASH_NONE && h < HASH_COUNT ? mds[h] : NULL;
}

enum hash_alg hash_from_ckm(CK_MECHANISM_TYPE m)
{
	for (int h = HASH_SHA1; h < HASH_COUNT; h++)
		if (hashes[h].ckm == m)
			return (enum hash_alg)h;
	return HASH_NONE;
}

enum hash_alg hash_from_mgf(CK_RSA_PKCS_MGF_TYPE mgf)
{
	for (int h = HASH_SHA1; h < HASH_COUNT; h++)
		if (hashes[h].mgf == mgf)
			return (enum hash_alg)h;
	return HASH_NONE;
}

CK_MECHANISM_TYPE hash_to_ckm(enum hash_alg h)
{
	return h > HASH_NONE && h < HASH_COUNT ? hashes[h].ckm : CKM_VENDOR_DEFINED;
}

enum hash_alg hash_from_size(size_t n)
{
	for (int h = HASH_SHA1; h < HASH_COUNT; h++)
		if (hashes[h].size == n)
			return (enum hash_alg)h;
	return HASH_NONE;
}

CK_RV hash_digest(enum hash_alg h, const void *data, size_t len, uint8_t *out)
{
	const EVP_MD *md = hash_md(h);

	if (!md)
		return CKR_MECHANISM_INVALID;
	return EVP_Digest(data, len, out, NULL, md, NULL) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
}

CK_RV hash_hmac(enum hash_alg h, const void *key, size_t key_len,
		const void *const *parts, const size_t *part_lens, size_t nparts, uint8_t *out)
{
	EVP_MAC_CTX *ctx;
	size_t out_len = 0;
	CK_RV rv = CKR_GENERAL_ERROR;
	static const uint8_t empty_key[1];

	if (!hash_md(h) || !hmac_proto[h])
		return CKR_MECHANISM_INVALID;
	ctx = EVP_MAC_CTX_dup(hmac_proto[h]);
	if (!ctx)
		return CKR_HOST_MEMORY;
	/* OpenSSL refuses a NULL key; an empty HMAC key is legal (TPM sessions use one). */
	if (EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, NULL) != 1)
		goto out;
	for (size_t i = 0; i < nparts; i++)
		if (part_lens[i] && EVP_MAC_update(ctx, parts[i], part_lens[i]) != 1)
			goto out;
	if (EVP_MAC_final(ctx, out, &out_len, hash_size(h)) != 1)
		goto out;
	rv = CKR_OK;
out:
	EVP_MAC_CTX_free(ctx);
	return rv;
}

CK_RV ossl_random(void *out, size_t len)
{
	OSSL_LIB_CTX *ctx = ossl_libctx();

	if (!ctx || RAND_bytes_ex(ctx, out, len, 0) != 1) {
		LOGE("the random generator failed");
		return CKR_FUNCTION_FAILED;
	}
	return CKR_OK;
}

static CK_RV secretbox_run(bool seal, const uint8_t key[32], const uint8_t nonce[12],
			   const void *aad, size_t aad_len, const uint8_t *in, size_t in_len,
			   uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (!ctx || !hash_md(HASH_SHA256))
		goto out;
	if (EVP_CipherInit_ex2(ctx, aes256gcm, key, nonce, seal ? 1 : 0, NULL) != 1)
		goto out;
	if (aad_len && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (in_len && EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) != 1)
		goto out;
	if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1) {
		rv = seal ? CKR_GENERAL_ERROR : CKR_ENCRYPTED_DATA_INVALID;
		goto out;
	}
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
		goto out;
	rv = CKR_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rv;
}

CK_RV secretbox_seal(const uint8_t key[32], const void *aad, size_t aad_len,
		     const void *plain, size_t plain_len, uint8_t *out)
{
	CK_RV rv = ossl_random(out, 12);

	if (rv != CKR_OK)
		return rv;
	return secretbox_run(true, key, out, aad, aad_len, plain, plain_len, out + 12,
			     out + 12 + plain_len);
}

CK_RV secretbox_open(const uint8_t key[32], const void *aad, size_t aad_len,
		     const void *boxed, size_t boxed_len, uint8_t *out)
{
	const uint8_t *b = boxed;
	uint8_t tag[16];
	size_t plain_len;

	if (boxed_len < SECRETBOX_OVERHEAD)
		return CKR_ENCRYPTED_DATA_INVALID;
	plain_len = boxed_len - SECRETBOX_OVERHEAD;
	memcpy(tag, b + 12 + plain_len, 16);
	return secretbox_run(false, key, b, aad, aad_len, b + 12, plain_len, out, tag);
}
