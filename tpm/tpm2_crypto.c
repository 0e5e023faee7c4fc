/* The cryptography of TPM 2.0 sessions, done in our own OpenSSL library context
 * with algorithms fetched once: per command this is a few HMACs and an AES-CFB
 * pass, microseconds, where ESYS pays OpenSSL 3 name lookups on every call. */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "common/log.h"
#include "common/pk.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

static EVP_CIPHER *aes128cfb;
static CK_RV crypto_init_rv = CKR_GENERAL_ERROR;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void crypto_init_once(void)
{
	if (ossl_init() != CKR_OK)
		return;
	aes128cfb = EVP_CIPHER_fetch(ossl_libctx(), "AES-128-CFB", NULL);
	crypto_init_rv = aes128cfb ? CKR_OK : CKR_GENERAL_ERROR;
	if (!aes128cfb)
		LOGE("OpenSSL has no AES-128-CFB in our library context");
}

CK_RV tpm2_crypto_init(void)
{
	pthread_once(&crypto_once, crypto_init_once);
	return crypto_init_rv;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

CK_RV tpm2_kdfa(enum hash_alg h, const uint8_t *key, size_t key_len, const char *label,
		const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len, size_t bits,
		uint8_t *out)
{
	size_t hlen = hash_size(h), bytes = (bits + 7) / 8, done = 0;
	uint8_t block[HASH_MAX_SIZE], counter[4], lbits[4];
	/* The label is a NUL-terminated string and its NUL is hashed too. */
	const void *parts[6] = { counter, label, "", u, v, lbits };
	size_t lens[6] = { sizeof(counter), strlen(label), 1, u_len, v_len, sizeof(lbits) };
	CK_RV rv = CKR_OK;

	if (!hlen || bits > UINT32_MAX)
		return CKR_GENERAL_ERROR;
	put_be32(lbits, (uint32_t)bits);
	for (uint32_t i = 1; done < bytes; i++) {
		size_t n = bytes - done < hlen ? bytes - done : hlen;

		put_be32(counter, i);
		rv = hash_hmac(h, key, key_len, parts, lens, 6, block);
		if (rv != CKR_OK)
			break;
		memcpy(out + done, block, n);
		done += n;
	}
	if (rv == CKR_OK && bits % 8)
		out[0] &= (uint8_t)((1u << (bits % 8)) - 1);
	secret_wipe(block, sizeof(block));
	return rv;
}

CK_RV tpm2_kdfe(enum hash_alg h, const uint8_t *z, size_t z_len, const char *label,
		const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len, size_t bits,
		uint8_t *out)
{
	size_t hlen = hash_size(h), bytes = (bits + 7) / 8, done = 0;
	uint8_t block[HASH_MAX_SIZE], counter[4];
	EVP_MD_CTX *ctx;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (!hlen)
		return CKR_GENERAL_ERROR;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return CKR_HOST_MEMORY;
	for (uint32_t i = 1; done < bytes; i++) {
		size_t n = bytes - done < hlen ? bytes - done : hlen;

		put_be32(counter, i);
		if (EVP_DigestInit_ex2(ctx, hash_md(h), NULL) != 1 ||
		    EVP_DigestUpdate(ctx, counter, sizeof(counter)) != 1 ||
		    EVP_DigestUpdate(ctx, z, z_len) != 1 ||
		    EVP_DigestUpdate(ctx, label, strlen(label) + 1) != 1 ||
		    (u_len && EVP_DigestUpdate(ctx, u, u_len) != 1) ||
		    (v_len && EVP_DigestUpdate(ctx, v, v_len) != 1) ||
		    EVP_DigestFinal_ex(ctx, block, NULL) != 1)
			goto out;
		memcpy(out + done, block, n);
		done += n;
	}
	if (bits % 8)
		out[0] &= (uint8_t)((1u << (bits % 8)) - 1);
	rv = CKR_OK;
out:
	secret_wipe(block, sizeof(block));
	EVP_MD_CTX_free(ctx);
	return rv;
}

CK_RV tpm2_aes128_cfb(bool encrypt, const uint8_t key[16], const uint8_t iv[16], uint8_t *data,
		      size_t len)
{
	EVP_CIPHER_CTX *ctx;
	int n = 0;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (!len)
		return CKR_OK;
	if (tpm2_crypto_init() != CKR_OK || len > INT32_MAX)
		return CKR_GENERAL_ERROR;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return CKR_HOST_MEMORY;
	if (EVP_CipherInit_ex2(ctx, aes128cfb, key, iv, encrypt ? 1 : 0, NULL) == 1 &&
	    EVP_CipherUpdate(ctx, data, &n, data, (int)len) == 1 && (size_t)n == len)
		rv = CKR_OK;
	EVP_CIPHER_CTX_free(ctx); /* clears the key schedule */
	return rv;
}

/* Through common/pk.c, not an EVP_PKEY_CTX: an application's ENGINE must never see
 * our session salting (it may be a PKCS#11 engine calling this very module). */
CK_RV tpm2_ecdh_ephemeral(TPM2_ECC_CURVE curve, const TPMS_ECC_POINT *peer,
			  TPMS_ECC_POINT *eph, uint8_t *z, size_t *z_len)
{
	size_t n = tpm2_curve_bytes(curve);
	uint8_t x[TPM2_MAX_ECC_KEY_BYTES] = { 0 }, y[TPM2_MAX_ECC_KEY_BYTES] = { 0 };
	int nid = curve == TPM2_ECC_NIST_P256 ? NID_X9_62_prime256v1 :
		  curve == TPM2_ECC_NIST_P384 ? NID_secp384r1 : NID_undef;
	CK_RV rv;

	if (nid == NID_undef || !n || peer->x.size > n || peer->y.size > n || *z_len < n)
		return CKR_GENERAL_ERROR;
	memcpy(x + n - peer->x.size, peer->x.buffer, peer->x.size);
	memcpy(y + n - peer->y.size, peer->y.buffer, peer->y.size);
	rv = pk_ecdh_ephemeral(nid, x, y, n, z, eph->x.buffer, eph->y.buffer);
	if (rv != CKR_OK) {
		LOGE("ECDH with the storage key's public point failed");
		return rv == CKR_HOST_MEMORY ? rv : CKR_DEVICE_ERROR;
	}
	eph->x.size = (UINT16)n;
	eph->y.size = (UINT16)n;
	*z_len = n;
	return CKR_OK;
}

TPM2_ALG_ID tpm2_hash_alg(enum hash_alg h)
{
	switch (h) {
	case HASH_SHA1:
		return TPM2_ALG_SHA1;
	case HASH_SHA256:
		return TPM2_ALG_SHA256;
	case HASH_SHA384:
		return TPM2_ALG_SHA384;
	case HASH_SHA512:
		return TPM2_ALG_SHA512;
	default:
		return TPM2_ALG_NULL;
	}
}

enum hash_alg tpm2_hash_from_alg(TPM2_ALG_ID alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		return HASH_SHA1;
	case TPM2_ALG_SHA256:
		return HASH_SHA256;
	case TPM2_ALG_SHA384:
		return HASH_SHA384;
	case TPM2_ALG_SHA512:
		return HASH_SHA512;
	default:
		return HASH_NONE;
	}
}

CK_RV tpm2_compute_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;
	enum hash_alg h = tpm2_hash_from_alg(pub->nameAlg);
	CK_RV rv;

	if (h == HASH_NONE)
		return CKR_DATA_INVALID;
	if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return CKR_DATA_INVALID;
	name->name[0] = (uint8_t)(pub->nameAlg >> 8);
	name->name[1] = (uint8_t)pub->nameAlg;
	rv = hash_digest(h, buf, off, name->name + 2);
	name->size = (UINT16)(2 + hash_size(h));
	return rv;
}

size_t tpm2_auth_trim(const uint8_t *auth, size_t len)
{
	while (len && auth[len - 1] == 0)
		len--;
	return len;
}
