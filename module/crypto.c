/* Cryptographic entry points: encrypt, decrypt, digest, sign, verify, random.
 * PKCS#11's output convention lives here once: a NULL buffer asks for the length, a
 * short one gets CKR_BUFFER_TOO_SMALL and the operation stays; any other result ends it. */
#include "config.h"

#include "module/internal.h"

static void op_end(struct session *s, enum op_kind kind)
{
	op_free(s->ops[kind]);
	s->ops[kind] = NULL;
}

static CK_RV op_start(CK_SESSION_HANDLE h, enum op_kind kind, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		return rv;
	if (!mech)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->ops[kind])
		rv = CKR_OPERATION_ACTIVE;
	else
		rv = op_init(kind, s->token, mech, key, &s->ops[kind]);
	session_leave(s);
	return rv;
}

/* C_Sign, C_Encrypt, C_Decrypt, C_Digest: one part in, the result out. */
static CK_RV op_whole(CK_SESSION_HANDLE h, enum op_kind kind, const uint8_t *in, CK_ULONG in_len,
		      uint8_t *out, CK_ULONG_PTR out_len)
{
	struct session *s;
	struct crypto_op *op;
	size_t len;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		return rv;
	op = s->ops[kind];
	if (!op) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if (!out_len || (!in && in_len)) {
		rv = CKR_ARGUMENTS_BAD;
		op_end(s, kind);
		goto out;
	}
	if (!out) {
		*out_len = op_output_len(op);
		goto out;
	}
	/* Decryption knows its length only once done: its result is kept for the retry. */
	if (kind != OP_DECRYPT && *out_len < op_output_len(op)) {
		*out_len = op_output_len(op);
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	if (!op_has_result(op))
		rv = op_update(op, in, in_len);
	len = *out_len;
	if (rv == CKR_OK)
		rv = op_final(op, out, &len);
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		*out_len = len;
	if (rv != CKR_BUFFER_TOO_SMALL)
		op_end(s, kind);
out:
	session_leave(s);
	return rv;
}

/* args_ok: the caller's other arguments were fine; if not, the operation ends too. */
static CK_RV op_part_checked(CK_SESSION_HANDLE h, enum op_kind kind, const uint8_t *in, CK_ULONG in_len,
			     bool args_ok)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		return rv;
	if (!s->ops[kind]) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		rv = !args_ok || (!in && in_len) ? CKR_ARGUMENTS_BAD : op_update(s->ops[kind], in, in_len);
		if (rv != CKR_OK)
			op_end(s, kind);
	}
	session_leave(s);
	return rv;
}

static CK_RV op_part(CK_SESSION_HANDLE h, enum op_kind kind, const uint8_t *in, CK_ULONG in_len)
{
	return op_part_checked(h, kind, in, in_len, true);
}

/* C_SignFinal, C_DigestFinal, C_EncryptFinal, C_DecryptFinal. */
static CK_RV op_last(CK_SESSION_HANDLE h, enum op_kind kind, uint8_t *out, CK_ULONG_PTR out_len)
{
	return op_whole(h, kind, NULL, 0, out, out_len);
}

/* Encrypt/Decrypt updates: RSA works on one block, so parts are collected and
 * nothing comes out until the end. */
/* Encrypt/Decrypt updates: RSA works on one block, so parts are collected and
 * nothing comes out until the end. */
static CK_RV op_part_no_output(CK_SESSION_HANDLE h, enum op_kind kind, const uint8_t *in, CK_ULONG in_len,
			       CK_ULONG_PTR out_len)
{
	CK_RV rv = op_part_checked(h, kind, in, in_len, out_len != NULL);

	if (rv == CKR_OK)
		*out_len = 0;
	return rv;
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	RETURN(op_start(h, OP_ENCRYPT, mech, key));
}

CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	RETURN(op_whole(h, OP_ENCRYPT, in, in_len, out, out_len));
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
		      CK_ULONG_PTR out_len)
{
	(void)out;
	RETURN(op_part_no_output(h, OP_ENCRYPT, in, in_len, out_len));
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	RETURN(op_last(h, OP_ENCRYPT, out, out_len));
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	RETURN(op_start(h, OP_DECRYPT, mech, key));
}

CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	RETURN(op_whole(h, OP_DECRYPT, in, in_len, out, out_len));
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
		      CK_ULONG_PTR out_len)
{
	(void)out;
	RETURN(op_part_no_output(h, OP_DECRYPT, in, in_len, out_len));
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	RETURN(op_last(h, OP_DECRYPT, out, out_len));
}

CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech)
{
	RETURN(op_start(h, OP_DIGEST, mech, CK_INVALID_HANDLE));
}

CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	RETURN(op_whole(h, OP_DIGEST, in, in_len, out, out_len));
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len)
{
	RETURN(op_part(h, OP_DIGEST, in, in_len));
}

CK_RV C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	(void)key;
	if (rv != CKR_OK)
		RETURN(rv);
	/* Our only keys are asymmetric and live in the TPM: nothing to feed a hash. */
	rv = s->ops[OP_DIGEST] ? CKR_KEY_INDIGESTIBLE : CKR_OPERATION_NOT_INITIALIZED;
	if (s->ops[OP_DIGEST])
		op_end(s, OP_DIGEST);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	RETURN(op_last(h, OP_DIGEST, out, out_len));
}

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	RETURN(op_start(h, OP_SIGN, mech, key));
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	RETURN(op_whole(h, OP_SIGN, in, in_len, sig, sig_len));
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len)
{
	RETURN(op_part(h, OP_SIGN, in, in_len));
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	RETURN(op_last(h, OP_SIGN, sig, sig_len));
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	RETURN(op_start(h, OP_VERIFY, mech, key));
}

static CK_RV verify_end(CK_SESSION_HANDLE h, const uint8_t *in, CK_ULONG in_len, const uint8_t *sig,
			CK_ULONG sig_len)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		return rv;
	if (!s->ops[OP_VERIFY]) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	if ((!in && in_len) || !sig)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = op_update(s->ops[OP_VERIFY], in, in_len);
	if (rv == CKR_OK)
		rv = op_verify_final(s->ops[OP_VERIFY], sig, sig_len);
	op_end(s, OP_VERIFY);
out:
	session_leave(s);
	return rv;
}

CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	RETURN(verify_end(h, in, in_len, sig, sig_len));
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len)
{
	RETURN(op_part(h, OP_VERIFY, in, in_len));
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	RETURN(verify_end(h, NULL, 0, sig, sig_len));
}

/* What this token does not offer, after the usual session check. */
static CK_RV session_then(CK_SESSION_HANDLE h, CK_RV answer)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		return rv;
	session_leave(s);
	return answer;
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	(void)key;
	RETURN(session_then(h, mech ? CKR_MECHANISM_INVALID : CKR_ARGUMENTS_BAD));
}

CK_RV C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	(void)in;
	(void)in_len;
	(void)sig;
	(void)sig_len;
	RETURN(session_then(h, CKR_OPERATION_NOT_INITIALIZED));
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	(void)key;
	RETURN(session_then(h, mech ? CKR_MECHANISM_INVALID : CKR_ARGUMENTS_BAD));
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len, CK_BYTE_PTR out,
		      CK_ULONG_PTR out_len)
{
	(void)sig;
	(void)sig_len;
	(void)out;
	(void)out_len;
	RETURN(session_then(h, CKR_OPERATION_NOT_INITIALIZED));
}

/* Dual-function updates need two operations of kinds that can stream; RSA and ECDSA
 * in this token do not, so these are not offered. */
CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
			    CK_ULONG_PTR out_len)
{
	(void)in;
	(void)in_len;
	(void)out;
	(void)out_len;
	RETURN(session_then(h, CKR_FUNCTION_NOT_SUPPORTED));
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
			    CK_ULONG_PTR out_len)
{
	(void)in;
	(void)in_len;
	(void)out;
	(void)out_len;
	RETURN(session_then(h, CKR_FUNCTION_NOT_SUPPORTED));
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
			  CK_ULONG_PTR out_len)
{
	(void)in;
	(void)in_len;
	(void)out;
	(void)out_len;
	RETURN(session_then(h, CKR_FUNCTION_NOT_SUPPORTED));
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
			    CK_ULONG_PTR out_len)
{
	(void)in;
	(void)in_len;
	(void)out;
	(void)out_len;
	RETURN(session_then(h, CKR_FUNCTION_NOT_SUPPORTED));
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
	struct session *s;
	struct tpm_backend *tb;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	tb = token_backend(s->token);
	rv = !seed && len ? CKR_ARGUMENTS_BAD : tb->ops->stir_random(tb, seed, len);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	struct session *s;
	struct tpm_backend *tb;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	tb = token_backend(s->token);
	rv = !out && len ? CKR_ARGUMENTS_BAD : len ? tb->ops->random(tb, out, len) : CKR_OK;
	session_leave(s);
	RETURN(rv);
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
	RETURN(session_then(h, CKR_FUNCTION_NOT_PARALLEL));
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE h)
{
	RETURN(session_then(h, CKR_FUNCTION_NOT_PARALLEL));
}
