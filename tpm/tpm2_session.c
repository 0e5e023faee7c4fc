/* The salted HMAC session and what it does to each command (TPM 2.0 Part 1 §19
 * and §21): command HMAC over cpHash, response HMAC over rpHash, AES-128-CFB
 * encryption of the first parameter each way, nonces rolled by both sides. */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

void tpm2_session_forget(struct tpm2_session *s)
{
	secret_wipe(s, sizeof(*s));
}

/* Out of session slots: were any held by leftovers of other connections? */
static bool session_slots_freed(struct tpm2 *t, TSS2_RC rc)
{
	TSS2_RC base = tpm2_rc_base(rc);

	if (base != TPM2_RC_SESSION_MEMORY && base != TPM2_RC_SESSION_HANDLES)
		return false;
	return tpm2_flush_strangers(t, TPM2_LOADED_SESSION_FIRST) ||
	       tpm2_flush_strangers(t, TPM2_ACTIVE_SESSION_FIRST);
}

CK_RV tpm2_session_start(struct tpm2 *t)
{
	const TPMT_PUBLIC *sp = &t->sk_pub.publicArea;
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
	TPM2B_NONCE nonce_caller = { .size = TPM2_NONCE_SIZE };
	TPM2B_NONCE nonce_tpm = { .size = 0 };
	TPM2B_ENCRYPTED_SECRET enc_salt = { .size = 0 };
	TPMI_SH_AUTH_SESSION handle = 0;
	TPMS_ECC_POINT eph;
	uint8_t z[TPM2_MAX_ECC_KEY_BYTES], salt[TPM2_DIGEST_SIZE];
	size_t z_len = sizeof(z), off = 0;
	TSS2_RC rc;
	CK_RV rv;

	tpm2_session_forget(&t->sess);
	rv = ossl_random(nonce_caller.buffer, nonce_caller.size);
	if (rv != CKR_OK)
		goto out;
	/* Salt = KDFe(SHA-256, Z, "SECRET", Qe.x, Qs.x) where Z is the ECDH secret of an
	 * ephemeral key and the storage key: only this TPM can recover it. */
	rv = tpm2_ecdh_ephemeral(sp->parameters.eccDetail.curveID, &sp->unique.ecc, &eph, z, &z_len);
	if (rv != CKR_OK)
		goto out;
	if (Tss2_MU_TPMS_ECC_POINT_Marshal(&eph, enc_salt.secret, sizeof(enc_salt.secret), &off) !=
	    TSS2_RC_SUCCESS) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	enc_salt.size = (UINT16)off;
	rv = tpm2_kdfe(HASH_SHA256, z, z_len, "SECRET", eph.x.buffer, eph.x.size,
		       sp->unique.ecc.x.buffer, sp->unique.ecc.x.size, 8 * sizeof(salt), salt);
	if (rv != CKR_OK)
		goto out;

	do {
		rc = Tss2_Sys_StartAuthSession(t->sys, t->sk_handle, TPM2_RH_NULL, NULL, &nonce_caller,
					       &enc_salt, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &handle,
					       &nonce_tpm, NULL);
	} while (session_slots_freed(t, rc));
	if (rc != TSS2_RC_SUCCESS) {
		rv = tpm2_rv(t, rc, "starting the salted HMAC session");
		goto out;
	}
	/* sessionKey = KDFa(SHA-256, salt, "ATH", nonceTPM, nonceCaller); no bind auth */
	rv = tpm2_kdfa(HASH_SHA256, salt, sizeof(salt), "ATH", nonce_tpm.buffer, nonce_tpm.size,
		       nonce_caller.buffer, nonce_caller.size, 8 * TPM2_DIGEST_SIZE, t->sess.key);
	if (rv != CKR_OK) {
		tpm2_flush(t, handle);
		goto out;
	}
	t->sess.handle = handle;
	t->sess.key_len = TPM2_DIGEST_SIZE;
	t->sess.nonce_tpm = nonce_tpm;
	LOGD("salted HMAC session 0x%08x started", handle);
out:
	secret_wipe(z, sizeof(z));
	secret_wipe(salt, sizeof(salt));
	if (rv != CKR_OK)
		tpm2_session_forget(&t->sess);
	return rv;
}

CK_RV tpm2_session_start_unsalted(struct tpm2 *t, struct tpm2_session *s)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPM2B_NONCE nonce_caller = { .size = TPM2_NONCE_SIZE };
	TPM2B_ENCRYPTED_SECRET no_salt = { .size = 0 };
	TSS2_RC rc;
	CK_RV rv;

	tpm2_session_forget(s);
	rv = ossl_random(nonce_caller.buffer, nonce_caller.size);
	if (rv != CKR_OK)
		return rv;
	do {
		rc = Tss2_Sys_StartAuthSession(t->sys, TPM2_RH_NULL, TPM2_RH_NULL, NULL, &nonce_caller,
					       &no_salt, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &s->handle,
					       &s->nonce_tpm, NULL);
	} while (session_slots_freed(t, rc));
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_rv(t, rc, "starting an HMAC session for the owner authorization");
	s->key_len = 0; /* neither salted nor bound: the HMAC key is the auth value alone */
	return CKR_OK;
}

void tpm2_wipe_response(struct tpm2 *t)
{
	if (t->rp)
		secret_wipe((void *)t->rp, t->rp_len);
	t->rp = NULL;
	t->rp_len = 0;
}

/* H(parts...) with SHA-256. */
static bool sha256_parts(const void *const *parts, const size_t *lens, size_t n, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex2(ctx, hash_md(HASH_SHA256), NULL) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = !lens[i] || EVP_DigestUpdate(ctx, parts[i], lens[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Derive the CFB key and IV: KDFa(SHA-256, sessionValue, "CFB", newer, older, 256). */
static CK_RV cfb_crypt(bool encrypt, const uint8_t *key, size_t key_len, const TPM2B_NONCE *newer,
		       const TPM2B_NONCE *older, uint8_t *data, size_t len)
{
	uint8_t kiv[32];
	CK_RV rv = tpm2_kdfa(HASH_SHA256, key, key_len, "CFB", newer->buffer, newer->size,
			     older->buffer, older->size, 8 * sizeof(kiv), kiv);

	if (rv == CKR_OK)
		rv = tpm2_aes128_cfb(encrypt, kiv, kiv + 16, data, len);
	secret_wipe(kiv, sizeof(kiv));
	return rv;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

TSS2_RC tpm2_session_exec(struct tpm2 *t, struct tpm2_session *s, const struct tpm2_cmd *c)
{
	/* With a policy session in front, ours is the second. */
	const unsigned me = c->policy ? 1 : 0;
	TSS2L_SYS_AUTH_COMMAND cmd_auths = { .count = (UINT16)(me + 1) };
	TSS2L_SYS_AUTH_RESPONSE rsp_auths = { .count = 0 };
	TPMS_AUTH_COMMAND *ca = &cmd_auths.auths[me];
	TPMS_AUTH_RESPONSE *ra;
	/* sessionValue = sessionKey || authValue without trailing zeros */
	uint8_t key[TPM2_DIGEST_SIZE + TPM_AUTH_MAX];
	uint8_t param[TPM2_MAX_COMMAND_SIZE];
	uint8_t cp_hash[TPM2_DIGEST_SIZE], rp_hash[TPM2_DIGEST_SIZE], mac[TPM2_DIGEST_SIZE];
	uint8_t cc[4], rc0[4] = { 0 };
	TPMA_SESSION attrs = c->end_session ? 0 : TPMA_SESSION_CONTINUESESSION;
	size_t key_len = s->key_len, n = 0, rp_len = 0;
	const uint8_t *p = NULL, *rp = NULL;
	TSS2_RC rc = TSS2_SYS_RC_GENERAL_FAILURE;

	if (c->policy && c->authorize)
		goto out; /* the policy session authorizes; ours cannot too */
	memcpy(key, s->key, s->key_len);
	if (c->policy) {
		/* A policy session without PolicyAuthValue/PolicyPassword: the TPM checks
		 * its policy digest, not an HMAC: the HMAC is empty. */
		TPMS_AUTH_COMMAND *pa = &cmd_auths.auths[0];

		pa->sessionHandle = c->policy;
		pa->nonce.size = TPM2_NONCE_SIZE;
		if (ossl_random(pa->nonce.buffer, pa->nonce.size) != CKR_OK)
			goto out;
		pa->sessionAttributes = 0;
		pa->hmac.size = 0;
	}
	if (c->authorize && c->auth_len) {
		size_t alen = tpm2_auth_trim(c->auth, c->auth_len);

		if (alen > TPM_AUTH_MAX)
			goto out;
		memcpy(key + key_len, c->auth, alen);
		key_len += alen;
	}
	ca->sessionHandle = s->handle;
	ca->nonce.size = TPM2_NONCE_SIZE;
	if (ossl_random(ca->nonce.buffer, ca->nonce.size) != CKR_OK)
		goto out;
	put_be32(cc, c->cc);

	if (c->decrypt) {
		rc = Tss2_Sys_GetDecryptParam(t->sys, &n, &p);
		if (rc != TSS2_RC_SUCCESS)
			goto out;
		if (n > sizeof(param)) {
			rc = TSS2_SYS_RC_INSUFFICIENT_CONTEXT;
			goto out;
		}
		if (n) {
			memcpy(param, p, n);
			rc = TSS2_SYS_RC_GENERAL_FAILURE;
			if (cfb_crypt(true, key, key_len, &ca->nonce, &s->nonce_tpm, param, n) != CKR_OK)
				goto out;
			rc = Tss2_Sys_SetDecryptParam(t->sys, n, param);
			if (rc != TSS2_RC_SUCCESS)
				goto out;
			attrs |= TPMA_SESSION_DECRYPT;
		}
	}
	if (c->encrypt)
		attrs |= TPMA_SESSION_ENCRYPT;
	ca->sessionAttributes = attrs;

	/* cpHash = H(commandCode || names || parameters as sent) */
	rc = Tss2_Sys_GetCpBuffer(t->sys, &n, &p);
	if (rc != TSS2_RC_SUCCESS)
		goto out;
	{
		const void *parts[4] = { cc, c->nnames > 0 ? c->names[0]->name : NULL,
					 c->nnames > 1 ? c->names[1]->name : NULL, p };
		size_t lens[4] = { sizeof(cc), c->nnames > 0 ? c->names[0]->size : 0,
				   c->nnames > 1 ? c->names[1]->size : 0, n };

		rc = TSS2_SYS_RC_GENERAL_FAILURE;
		if (!sha256_parts(parts, lens, 4, cp_hash))
			goto out;
	}
	{
		const void *parts[4] = { cp_hash, ca->nonce.buffer, s->nonce_tpm.buffer, &attrs };
		size_t lens[4] = { sizeof(cp_hash), ca->nonce.size, s->nonce_tpm.size, 1 };

		if (hash_hmac(HASH_SHA256, key, key_len, parts, lens, 4, ca->hmac.buffer) != CKR_OK)
			goto out;
		ca->hmac.size = TPM2_DIGEST_SIZE;
	}
	rc = Tss2_Sys_SetCmdAuths(t->sys, &cmd_auths);
	if (rc != TSS2_RC_SUCCESS)
		goto out;

	rc = Tss2_Sys_Execute(t->sys);
	if (rc != TSS2_RC_SUCCESS)
		goto out; /* the TPM left the session as it was */

	/* From here on the TPM has rolled its nonce: any failure loses the session. */
	rc = Tss2_Sys_GetRspAuths(t->sys, &rsp_auths);
	if (rc == TSS2_RC_SUCCESS && rsp_auths.count != cmd_auths.count)
		rc = TSS2_SYS_RC_MALFORMED_RESPONSE;
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_Sys_GetRpBuffer(t->sys, &rp_len, &rp);
	if (rc != TSS2_RC_SUCCESS) {
		LOGE("TPM2 command 0x%x: unreadable response session area", c->cc);
		rc = TSS2_SYS_RC_MALFORMED_RESPONSE;
		goto lost;
	}
	ra = &rsp_auths.auths[me]; /* a policy session's answer proves nothing: not checked */
	{
		/* rpHash = H(responseCode (0) || commandCode || parameters as received) */
		const void *parts[3] = { rc0, cc, rp };
		size_t lens[3] = { sizeof(rc0), sizeof(cc), rp_len };
		const void *hparts[4] = { rp_hash, ra->nonce.buffer, ca->nonce.buffer,
					  &ra->sessionAttributes };
		size_t hlens[4] = { sizeof(rp_hash), ra->nonce.size, ca->nonce.size, 1 };

		rc = TSS2_SYS_RC_MALFORMED_RESPONSE;
		if (!sha256_parts(parts, lens, 3, rp_hash) ||
		    hash_hmac(HASH_SHA256, key, key_len, hparts, hlens, 4, mac) != CKR_OK)
			goto lost;
		if (ra->hmac.size != sizeof(mac) || secret_cmp(ra->hmac.buffer, mac, sizeof(mac)) != 0) {
			LOGE("TPM2 command 0x%x: the response HMAC does not verify; "
			     "someone altered the TPM's answer, or the session is out of step", c->cc);
			goto lost;
		}
	}
	s->nonce_tpm = ra->nonce;
	t->rp = rp;
	t->rp_len = rp_len;
	if (c->end_session)
		s->handle = 0;

	if (c->encrypt) {
		rc = Tss2_Sys_GetEncryptParam(t->sys, &n, &p);
		if (rc != TSS2_RC_SUCCESS || n > sizeof(param) || n + 2 > rp_len) {
			rc = TSS2_SYS_RC_MALFORMED_RESPONSE;
			goto out;
		}
		if (n) {
			memcpy(param, p, n);
			rc = TSS2_SYS_RC_GENERAL_FAILURE;
			if (cfb_crypt(false, key, key_len, &s->nonce_tpm, &ca->nonce, param, n) != CKR_OK)
				goto out;
			rc = Tss2_Sys_SetEncryptParam(t->sys, n, param);
			if (rc != TSS2_RC_SUCCESS)
				goto out;
		}
	}
	rc = TSS2_RC_SUCCESS;
	goto out;
lost:
	/* The TPM's view of the nonces is unknown now: start over with a new session. */
	if (s->handle)
		tpm2_flush(t, s->handle);
	tpm2_session_forget(s);
out:
	secret_wipe(key, sizeof(key));
	secret_wipe(param, sizeof(param));
	return rc;
}
