/* Signing and decryption with loaded keys. The TPM's own schemes are used where
 * they give the standard result (RSASSA on a DigestInfo, RSAPSS when its salt is
 * what the caller asked for, RSAES, OAEP with an empty or NUL-terminated label,
 * ECDSA); everything else is encoded/decoded on the host (common/rsa_pad.c) around a
 * raw RSA private operation: TPM2_RSA_Decrypt with scheme NULL. */
#include "config.h"

#include <string.h>


#include "common/log.h"
#include "common/pk.h"
#include "common/secret.h"
#include "common/rsa_pad.h"
#include "tpm/tpm2_int.h"

#define RSA_MAX_BYTES 512

/* Copy a big-endian value into out[0..n), left-padded with zeros. */
static bool put_padded(uint8_t *out, size_t n, const uint8_t *v, size_t len)
{
	while (len > n && *v == 0) {
		v++;
		len--;
	}
	if (len > n)
		return false;
	memset(out, 0, n - len);
	memcpy(out + n - len, v, len);
	return true;
}

static unsigned modulus_bits(const struct tpm_key *k)
{
	const TPM2B_PUBLIC_KEY_RSA *m = &k->pub.publicArea.unique.rsa;
	unsigned bits = 8u * (m->size - 1u);

	for (uint8_t top = m->buffer[0]; top; top >>= 1)
		bits++;
	return bits;
}

/* TPM2_Sign with key (lock held). */
static CK_RV tpm_sign(struct tpm2 *t, struct tpm_key *k, const TPMT_SIG_SCHEME *scheme,
		      const uint8_t *digest, size_t len, TPMT_SIGNATURE *sig)
{
	TPM2B_DIGEST d = { .size = (UINT16)len };
	TPMT_TK_HASHCHECK validation = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	struct tpm2_retry r = { 0 };
	TSS2_RC rc;
	CK_RV rv;

	if (len > sizeof(d.buffer))
		return CKR_DATA_LEN_RANGE;
	memcpy(d.buffer, digest, len);
	do {
		struct tpm2_cmd cmd = {
			.cc = TPM2_CC_Sign, .names = { &k->name }, .nnames = 1, .authorize = true,
			.auth = k->auth.value, .auth_len = k->auth.len, .decrypt = true,
		};

		rv = tpm2_key_ready(t, k);
		if (rv != CKR_OK)
			return rv;
		rc = Tss2_Sys_Sign_Prepare(t->sys, k->handle, &d, scheme, &validation);
		if (rc == TSS2_RC_SUCCESS)
			rc = tpm2_session_exec(t, &t->sess, &cmd);
		if (rc == TSS2_RC_SUCCESS)
			rc = Tss2_Sys_Sign_Complete(t->sys, sig);
	} while (tpm2_retry(t, &r, rc, k, false));
	return tpm2_rv(t, rc, "signing with a TPM key");
}

/* libtpms (OpenSSL inside) answers a bad RSAES/OAEP padding with TPM_RC_FAILURE,
 * the code of a TPM in failure mode. Tell the two apart: a TPM in failure mode
 * says so in TPM2_GetTestResult. */
static bool tpm_healthy(struct tpm2 *t)
{
	TPM2B_MAX_BUFFER data;
	TPM2_RC result = TPM2_RC_FAILURE;
	TSS2_RC rc = Tss2_Sys_GetTestResult(t->sys, NULL, &data, &result, NULL);

	if (rc != TSS2_RC_SUCCESS)
		tpm2_rv(t, rc, "asking the TPM for its self-test result");
	return rc == TSS2_RC_SUCCESS && result == TPM2_RC_SUCCESS;
}

/* TPM2_RSA_Decrypt (lock held); the result is wiped from the SAPI buffer. For a
 * decryption, a bad ciphertext or padding is CKR_ENCRYPTED_DATA_INVALID. */
static CK_RV tpm_rsa_decrypt(struct tpm2 *t, struct tpm_key *k, TPMI_ALG_RSA_DECRYPT scheme,
			     enum hash_alg hash, const uint8_t *label, size_t label_len,
			     const uint8_t *in, size_t len, bool decrypting,
			     TPM2B_PUBLIC_KEY_RSA *msg)
{
	TPM2B_PUBLIC_KEY_RSA c = { .size = (UINT16)len };
	TPMT_RSA_DECRYPT s = { .scheme = scheme };
	TPM2B_DATA l = { .size = (UINT16)label_len };
	struct tpm2_retry r = { 0 };
	TSS2_RC rc;
	CK_RV rv;

	if (len > sizeof(c.buffer) || label_len > sizeof(l.buffer))
		return CKR_GENERAL_ERROR;
	memcpy(c.buffer, in, len);
	if (label_len)
		memcpy(l.buffer, label, label_len);
	if (scheme == TPM2_ALG_OAEP)
		s.details.oaep.hashAlg = tpm2_hash_alg(hash);
	do {
		/* ciphertext in and plaintext out both travel encrypted */
		struct tpm2_cmd cmd = {
			.cc = TPM2_CC_RSA_Decrypt, .names = { &k->name }, .nnames = 1,
			.authorize = true, .auth = k->auth.value, .auth_len = k->auth.len,
			.decrypt = true, .encrypt = true,
		};

		rv = tpm2_key_ready(t, k);
		if (rv != CKR_OK)
			return rv;
		rc = Tss2_Sys_RSA_Decrypt_Prepare(t->sys, k->handle, &c, &s, &l);
		if (rc == TSS2_RC_SUCCESS)
			rc = tpm2_session_exec(t, &t->sess, &cmd);
		if (rc == TSS2_RC_SUCCESS)
			rc = Tss2_Sys_RSA_Decrypt_Complete(t->sys, msg);
		tpm2_wipe_response(t);
	} while (tpm2_retry(t, &r, rc, k, false));
	if (decrypting && (tpm2_rc_base(rc) == TPM2_RC_VALUE || tpm2_rc_base(rc) == TPM2_RC_SIZE ||
			   (scheme != TPM2_ALG_NULL && tpm2_rc_base(rc) == TPM2_RC_FAILURE &&
			    tpm_healthy(t)))) {
		LOGD("RSA decryption: the TPM rejects the ciphertext (0x%x)", rc);
		return CKR_ENCRYPTED_DATA_INVALID;
	}
	return tpm2_rv(t, rc, decrypting ? "decrypting with a TPM key" : "raw RSA signature");
}

/* em (k bytes) to the power d, i.e. a signature of an encoded message. */
static CK_RV raw_sign(struct tpm2 *t, struct tpm_key *k, const uint8_t *em, uint8_t *sig)
{
	TPM2B_PUBLIC_KEY_RSA out = { .size = 0 };
	CK_RV rv = tpm_rsa_decrypt(t, k, TPM2_ALG_NULL, HASH_NONE, NULL, 0, em, k->mod_len, false, &out);

	if (rv == CKR_OK && !put_padded(sig, k->mod_len, out.buffer, out.size))
		rv = CKR_DEVICE_ERROR;
	return rv;
}

static CK_RV check_rsa(struct tpm_key *k, size_t *sig_len)
{
	if (!k || k->pub.publicArea.type != TPM2_ALG_RSA)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (sig_len && *sig_len < k->mod_len)
		return CKR_GENERAL_ERROR;
	return CKR_OK;
}

CK_RV tpm2_rsa_sign_pkcs1(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *data,
			  size_t len, uint8_t *sig, size_t *sig_len)
{
	struct tpm2 *t = tpm2_of(tb);
	const uint8_t *digest = NULL;
	enum hash_alg h;
	uint8_t em[RSA_MAX_BYTES];
	CK_RV rv = check_rsa(key, sig_len);

	if (rv != CKR_OK)
		return rv;
	if (!data && len)
		return CKR_ARGUMENTS_BAD;
	h = rsa_pad_digestinfo_hash(data, len, &digest);
	lock_acquire(t->lock);
	if (h != HASH_NONE && t->alg_rsassa && (t->caps.hashes & TPM_HASH_BIT(h))) {
		TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_RSASSA,
					   .details.rsassa.hashAlg = tpm2_hash_alg(h) };
		TPMT_SIGNATURE s;

		rv = tpm_sign(t, key, &scheme, digest, hash_size(h), &s);
		if (rv == CKR_OK && (s.sigAlg != TPM2_ALG_RSASSA ||
				     !put_padded(sig, key->mod_len, s.signature.rsassa.sig.buffer,
						 s.signature.rsassa.sig.size)))
			rv = CKR_DEVICE_ERROR;
	} else {
		/* Not a DigestInfo the TPM hashes (e.g. TLS 1.0's MD5+SHA-1): pad here. */
		rv = rsa_pad_pkcs1_sign(data, len, em, key->mod_len);
		if (rv == CKR_OK)
			rv = raw_sign(t, key, em, sig);
	}
	lock_release(t->lock);
	if (rv == CKR_OK)
		*sig_len = key->mod_len;
	return rv;
}

/* Does sig verify as RSASSA-PSS with a salt of the hash's length? */
static bool pss_verifies(const struct tpm_key *k, enum hash_alg hash, const uint8_t *digest,
			 const uint8_t *sig)
{
	const TPMT_PUBLIC *p = &k->pub.publicArea;
	uint32_t exp = p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent : 65537;
	uint8_t e[4] = { (uint8_t)(exp >> 24), (uint8_t)(exp >> 16), (uint8_t)(exp >> 8), (uint8_t)exp };
	uint8_t em[TPM2_MAX_RSA_KEY_BYTES];

	return pk_rsa_public(p->unique.rsa.buffer, p->unique.rsa.size, e, sizeof(e), sig, k->mod_len,
			     em) == CKR_OK &&
	       rsa_pad_pss_verify(hash, hash, hash_size(hash), digest, hash_size(hash),
				  p->parameters.rsaDetail.keyBits, em, k->mod_len) == CKR_OK;
}

CK_RV tpm2_rsa_sign_pss(struct tpm_backend *tb, struct tpm_key *key, enum hash_alg hash,
			enum hash_alg mgf_hash, size_t salt_len, const uint8_t *digest,
			size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	struct tpm2 *t = tpm2_of(tb);
	size_t hlen = hash_size(hash);
	uint8_t em[RSA_MAX_BYTES];
	bool tpm_pss;
	CK_RV rv = check_rsa(key, sig_len);

	if (rv != CKR_OK)
		return rv;
	if (!hlen || !hash_md(mgf_hash))
		return CKR_MECHANISM_PARAM_INVALID;
	if (!digest || digest_len != hlen)
		return CKR_DATA_LEN_RANGE;
	lock_acquire(t->lock);
	/* The TPM picks the salt length itself; use it only when that is what the
	 * caller asked for, which we check on the first signature (the spec has
	 * said both "as large as fits" and "the hash length" over its revisions). */
	tpm_pss = t->alg_rsapss && hash == mgf_hash && salt_len == hlen &&
		  (t->caps.hashes & TPM_HASH_BIT(hash)) && key->mod_len >= 2 * hlen + 2 &&
		  t->pss_hash_salt >= 0;
	if (tpm_pss) {
		TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_RSAPSS,
					   .details.rsapss.hashAlg = tpm2_hash_alg(hash) };
		TPMT_SIGNATURE s;

		rv = tpm_sign(t, key, &scheme, digest, hlen, &s);
		if (rv == CKR_OK && (s.sigAlg != TPM2_ALG_RSAPSS ||
				     !put_padded(sig, key->mod_len, s.signature.rsapss.sig.buffer,
						 s.signature.rsapss.sig.size)))
			rv = CKR_DEVICE_ERROR;
		if (rv != CKR_OK || t->pss_hash_salt == 1)
			goto out;
		if (pss_verifies(key, hash, digest, sig)) {
			t->pss_hash_salt = 1;
			LOGI("this TPM's RSAPSS uses a salt as long as the hash: PSS signing in the TPM");
			goto out;
		}
		t->pss_hash_salt = -1;
		LOGI("this TPM's RSAPSS salt is not the hash length: PSS is encoded on the host");
	}
	rv = rsa_pad_pss_encode(hash, mgf_hash, salt_len, digest, digest_len, modulus_bits(key), em,
				key->mod_len);
	if (rv == CKR_DATA_LEN_RANGE)
		rv = CKR_MECHANISM_PARAM_INVALID; /* the digest length is right: the salt does not fit */
	if (rv == CKR_OK)
		rv = raw_sign(t, key, em, sig);
out:
	lock_release(t->lock);
	if (rv == CKR_OK)
		*sig_len = key->mod_len;
	return rv;
}

CK_RV tpm2_rsa_decrypt(struct tpm_backend *tb, struct tpm_key *key,
		       const struct tpm_dec_params *params, const uint8_t *in, size_t in_len,
		       uint8_t *out, size_t *out_len)
{
	struct tpm2 *t = tpm2_of(tb);
	TPM2B_PUBLIC_KEY_RSA msg = { .size = 0 };
	uint8_t em[RSA_MAX_BYTES];
	bool raw = false;
	CK_RV rv = check_rsa(key, NULL);

	if (rv != CKR_OK)
		return rv;
	if (!params || !out_len || (!in && in_len))
		return CKR_ARGUMENTS_BAD;
	if (in_len != key->mod_len)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	lock_acquire(t->lock);
	switch (params->scheme) {
	case TPM_DEC_PKCS1:
		if (t->alg_rsaes)
			rv = tpm_rsa_decrypt(t, key, TPM2_ALG_RSAES, HASH_NONE, NULL, 0, in, in_len,
					     true, &msg);
		else
			raw = true;
		break;
	case TPM_DEC_OAEP:
		if (!hash_md(params->hash) || !hash_md(params->mgf_hash) ||
		    (params->label_len && !params->label)) {
			rv = CKR_MECHANISM_PARAM_INVALID;
			break;
		}
		/* TPM2_RSA_Decrypt takes only labels that end in a NUL (and uses them
		 * unchanged), and one hash for both OAEP and MGF1. */
		if (t->alg_oaep && params->hash == params->mgf_hash &&
		    (t->caps.hashes & TPM_HASH_BIT(params->hash)) &&
		    (params->label_len == 0 ||
		     (params->label_len <= sizeof(((TPM2B_DATA *)0)->buffer) &&
		      params->label[params->label_len - 1] == 0)))
			rv = tpm_rsa_decrypt(t, key, TPM2_ALG_OAEP, params->hash, params->label,
					     params->label_len, in, in_len, true, &msg);
		else
			raw = true;
		break;
	default:
		rv = CKR_MECHANISM_INVALID;
		break;
	}
	if (raw) {
		rv = tpm_rsa_decrypt(t, key, TPM2_ALG_NULL, HASH_NONE, NULL, 0, in, in_len, true, &msg);
		if (rv == CKR_OK && !put_padded(em, key->mod_len, msg.buffer, msg.size))
			rv = CKR_DEVICE_ERROR;
		secret_wipe(&msg, sizeof(msg));
		if (rv == CKR_OK) {
			/* decode straight into the caller's buffer */
			if (params->scheme == TPM_DEC_PKCS1)
				rv = rsa_pad_pkcs1_decrypt_decode(em, key->mod_len, out, out_len);
			else
				rv = rsa_pad_oaep_decode(params->hash, params->mgf_hash, params->label,
							 params->label_len, em, key->mod_len, out,
							 out_len);
		}
		secret_wipe(em, sizeof(em));
	} else if (rv == CKR_OK) {
		if (msg.size > *out_len) {
			*out_len = msg.size;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (msg.size)
				memcpy(out, msg.buffer, msg.size);
			*out_len = msg.size;
		}
	}
	lock_release(t->lock);
	secret_wipe(&msg, sizeof(msg));
	return rv;
}

CK_RV tpm2_ecdsa_sign(struct tpm_backend *tb, struct tpm_key *key, const uint8_t *digest,
		      size_t len, uint8_t *sig, size_t *sig_len)
{
	struct tpm2 *t = tpm2_of(tb);
	uint8_t d[TPM2_MAX_ECC_KEY_BYTES];
	size_t n;
	enum hash_alg h;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_ECDSA };
	TPMT_SIGNATURE s;
	CK_RV rv;

	if (!key || key->pub.publicArea.type != TPM2_ALG_ECC)
		return CKR_KEY_TYPE_INCONSISTENT;
	n = key->coord_len;
	if (!sig_len || *sig_len < 2 * n || n > sizeof(d))
		return CKR_GENERAL_ERROR;
	if (!digest && len)
		return CKR_ARGUMENTS_BAD;
	/* ECDSA uses the leftmost order-size bytes of a longer digest and a shorter
	 * one as a number; the TPM wants exactly the size of its hash, the one whose
	 * size is the order's. */
	memset(d, 0, sizeof(d));
	if (len >= n)
		memcpy(d, digest, n);
	else
		memcpy(d + n - len, digest, len);
	h = hash_from_size(n);
	if (h == HASH_NONE || !(t->caps.hashes & TPM_HASH_BIT(h)))
		return CKR_MECHANISM_INVALID;
	scheme.details.ecdsa.hashAlg = tpm2_hash_alg(h);
	lock_acquire(t->lock);
	rv = tpm_sign(t, key, &scheme, d, n, &s);
	lock_release(t->lock);
	if (rv != CKR_OK)
		return rv;
	if (s.sigAlg != TPM2_ALG_ECDSA ||
	    !put_padded(sig, n, s.signature.ecdsa.signatureR.buffer, s.signature.ecdsa.signatureR.size) ||
	    !put_padded(sig + n, n, s.signature.ecdsa.signatureS.buffer,
			s.signature.ecdsa.signatureS.size))
		return CKR_DEVICE_ERROR;
	*sig_len = 2 * n;
	return CKR_OK;
}
