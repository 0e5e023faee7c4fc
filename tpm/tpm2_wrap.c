/* Duplication blobs made in software (TPM 2.0 Part 1, §23.3 "Duplication" and §22
 * "Protected storage"): what TPM2_Import takes, built for a parent of which we know
 * only the public area. Used by key_import (a software key into a domain carries
 * encryptedDuplication, so TPM2_Import wants both wrappers even for our own storage
 * key) and by secret_wrap (a secret only the destination unit's TPM can open).
 *
 *   inner wrapper (optional; a random AES-128 key k, given to TPM2_Import as
 *   encryptionKey):
 *       innerIntegrity = H(TPM2B_SENSITIVE || name)
 *       dupSensitive   = AES-128-CFB(k, iv 0, TPM2B(innerIntegrity) || TPM2B_SENSITIVE)
 *   outer wrapper (to the new parent; its nameAlg and symmetric definition):
 *       seed           ECC parent: KDFe(nameAlg, Z, "DUPLICATE", Qe.x, Qparent.x, digest bits)
 *                      with Z the x coordinate of an ephemeral ECDH, inSymSeed = Qe;
 *                      RSA parent: random digest-size bytes, inSymSeed = RSA-OAEP(nameAlg,
 *                      label "DUPLICATE\0") of them
 *       symKey         = KDFa(nameAlg, seed, "STORAGE", name, -, 128)
 *       hmacKey        = KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits)
 *       encSensitive   = AES-128-CFB(symKey, iv 0, dupSensitive)
 *       duplicate      = TPM2B(HMAC(hmacKey, encSensitive || name)) || encSensitive
 *
 * The name (nameAlg || H(public area)) is in both integrity values: the TPM refuses
 * the blob with any other public area, and any other parent derives another seed. */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/pk.h"
#include "common/rsa_pad.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

static const uint8_t zero_iv[16];

/* buf = TPM2B(H(sensitive || name)) || sensitive, sensitive at buf + 2 + 32 already */
static CK_RV inner_integrity(uint8_t *buf, size_t sens_len, const TPM2B_NAME *name)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *sens = buf + 2 + TPM2_DIGEST_SIZE;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (!ctx)
		return CKR_HOST_MEMORY;
	if (EVP_DigestInit_ex2(ctx, hash_md(HASH_SHA256), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, sens, sens_len) == 1 &&
	    EVP_DigestUpdate(ctx, name->name, name->size) == 1 &&
	    EVP_DigestFinal_ex(ctx, buf + 2, NULL) == 1)
		rv = CKR_OK;
	buf[0] = 0;
	buf[1] = TPM2_DIGEST_SIZE;
	EVP_MD_CTX_free(ctx);
	return rv;
}

/* The outer wrapper's seed, and what TPM2_Import gets to recover it. */
static CK_RV outer_seed(const TPMT_PUBLIC *parent, uint8_t seed[TPM2_DIGEST_SIZE],
			TPM2B_ENCRYPTED_SECRET *in_sym_seed)
{
	CK_RV rv;

	if (parent->type == TPM2_ALG_ECC) {
		const TPMS_ECC_POINT *q = &parent->unique.ecc;
		TPMS_ECC_POINT eph;
		uint8_t z[TPM2_MAX_ECC_KEY_BYTES];
		size_t z_len = sizeof(z), off = 0;

		memset(&eph, 0, sizeof(eph));
		rv = tpm2_ecdh_ephemeral(parent->parameters.eccDetail.curveID, q, &eph, z, &z_len);
		if (rv == CKR_OK)
			rv = tpm2_kdfe(HASH_SHA256, z, z_len, "DUPLICATE", eph.x.buffer, eph.x.size,
				       q->x.buffer, q->x.size, 8 * TPM2_DIGEST_SIZE, seed);
		if (rv == CKR_OK &&
		    Tss2_MU_TPMS_ECC_POINT_Marshal(&eph, in_sym_seed->secret, sizeof(in_sym_seed->secret),
						   &off) != TSS2_RC_SUCCESS)
			rv = CKR_GENERAL_ERROR;
		in_sym_seed->size = (UINT16)off;
		secret_wipe(z, sizeof(z));
		return rv;
	}
	if (parent->type == TPM2_ALG_RSA) {
		static const uint8_t label[] = "DUPLICATE"; /* its NUL is part of the label */
		uint32_t e = parent->parameters.rsaDetail.exponent ? parent->parameters.rsaDetail.exponent
								   : 65537;
		uint8_t eb[4] = { (uint8_t)(e >> 24), (uint8_t)(e >> 16), (uint8_t)(e >> 8), (uint8_t)e };
		uint8_t em[TPM2_MAX_RSA_KEY_BYTES];
		size_t k = parent->unique.rsa.size;

		if (k > sizeof(em) || k > sizeof(in_sym_seed->secret))
			return CKR_GENERAL_ERROR;
		rv = ossl_random(seed, TPM2_DIGEST_SIZE);
		if (rv == CKR_OK)
			rv = rsa_pad_oaep_encode(HASH_SHA256, HASH_SHA256, label, sizeof(label), seed,
						 TPM2_DIGEST_SIZE, em, k);
		if (rv == CKR_OK)
			rv = pk_rsa_public(parent->unique.rsa.buffer, k, eb, sizeof(eb), em, k,
					   in_sym_seed->secret);
		in_sym_seed->size = (UINT16)k;
		secret_wipe(em, sizeof(em));
		return rv;
	}
	return CKR_GENERAL_ERROR;
}

CK_RV tpm2_dup_wrap(const TPMT_PUBLIC *parent, const TPMT_SENSITIVE *sens, const TPM2B_NAME *name,
		    const uint8_t *inner_key, TPM2B_PRIVATE *dup, TPM2B_ENCRYPTED_SECRET *in_sym_seed)
{
	TPM2B_SENSITIVE s2b;
	/* room for: outer integrity, inner integrity, TPM2B_SENSITIVE */
	uint8_t buf[2 * (2 + TPM2_DIGEST_SIZE) + sizeof(TPM2B_SENSITIVE)];
	uint8_t *body = buf + 2 + TPM2_DIGEST_SIZE; /* dupSensitive */
	uint8_t seed[TPM2_DIGEST_SIZE], sym_key[16], hmac_key[TPM2_DIGEST_SIZE];
	size_t off = 0, body_len;
	CK_RV rv = CKR_GENERAL_ERROR;

	memset(&s2b, 0, sizeof(s2b));
	s2b.sensitiveArea = *sens;
	in_sym_seed->size = 0;
	/* TPM2B_SENSITIVE, behind the inner integrity if there is an inner wrapper */
	if (inner_key) {
		off = 2 + TPM2_DIGEST_SIZE;
		if (Tss2_MU_TPM2B_SENSITIVE_Marshal(&s2b, body, sizeof(buf) - (size_t)(body - buf), &off) !=
		    TSS2_RC_SUCCESS)
			goto out;
		body_len = off;
		rv = inner_integrity(body, body_len - 2 - TPM2_DIGEST_SIZE, name);
		if (rv == CKR_OK)
			rv = tpm2_aes128_cfb(true, inner_key, zero_iv, body, body_len);
	} else {
		if (Tss2_MU_TPM2B_SENSITIVE_Marshal(&s2b, body, sizeof(buf) - (size_t)(body - buf), &off) !=
		    TSS2_RC_SUCCESS)
			goto out;
		body_len = off;
		rv = CKR_OK;
	}
	if (rv != CKR_OK)
		goto out;
	if (!parent) {
		/* inner wrapper only (TPM2_Import with an empty inSymSeed) */
		if (body_len > sizeof(dup->buffer)) {
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		memcpy(dup->buffer, body, body_len);
		dup->size = (UINT16)body_len;
		goto out;
	}
	if (parent->nameAlg != TPM2_NAME_ALG) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	rv = outer_seed(parent, seed, in_sym_seed);
	if (rv == CKR_OK)
		rv = tpm2_kdfa(HASH_SHA256, seed, sizeof(seed), "STORAGE", name->name, name->size, NULL, 0,
			       8 * sizeof(sym_key), sym_key);
	if (rv == CKR_OK)
		rv = tpm2_kdfa(HASH_SHA256, seed, sizeof(seed), "INTEGRITY", NULL, 0, NULL, 0,
			       8 * sizeof(hmac_key), hmac_key);
	if (rv == CKR_OK)
		rv = tpm2_aes128_cfb(true, sym_key, zero_iv, body, body_len);
	if (rv == CKR_OK) {
		const void *parts[2] = { body, name->name };
		size_t lens[2] = { body_len, name->size };

		rv = hash_hmac(HASH_SHA256, hmac_key, sizeof(hmac_key), parts, lens, 2, buf + 2);
		buf[0] = 0;
		buf[1] = TPM2_DIGEST_SIZE;
	}
	if (rv == CKR_OK && 2 + TPM2_DIGEST_SIZE + body_len > sizeof(dup->buffer))
		rv = CKR_GENERAL_ERROR;
	if (rv != CKR_OK)
		goto out;
	dup->size = (UINT16)(2 + TPM2_DIGEST_SIZE + body_len);
	memcpy(dup->buffer, buf, dup->size);
out:
	if (rv != CKR_OK) {
		secret_wipe(dup, sizeof(*dup));
		in_sym_seed->size = 0;
	}
	secret_wipe(&s2b, sizeof(s2b));
	secret_wipe(buf, sizeof(buf));
	secret_wipe(seed, sizeof(seed));
	secret_wipe(sym_key, sizeof(sym_key));
	secret_wipe(hmac_key, sizeof(hmac_key));
	return rv;
}
