/* Migration on TPM 2.0 (DESIGN.md, "Migration on TPM 2.0"): this unit's identity,
 * duplicating a key or seal of a domain to a unit the migration authority (MA)
 * approved, importing such a duplicate, and short secrets only one unit can open.
 *
 * Export is the TPM's decision, not ours: the key's authPolicy (tpm2_policy.c) is
 * satisfied only by a policy session that went through PolicyDuplicationSelect for
 * the destination and PolicyAuthorize with a ticket for the MA's signature over that
 * very selection, and TPM2_Duplicate checks the session's nameHash against the key
 * and the destination it is given. We only assemble the session.
 *
 * Duplicate format, version 1 (key_export → key_import_duplicate), TPM-marshaled:
 *
 *     0x81 || TPM2B_PUBLIC object || TPM2B_PRIVATE duplicate
 *          || TPM2B_ENCRYPTED_SECRET outSymSeed || TPM2B_DATA innerKey
 *
 * exactly what TPM2_Duplicate returned (inner wrapper AES-128-CFB under innerKey,
 * outer wrapper to the destination's storage key, seeded through outSymSeed) and
 * what TPM2_Import takes. innerKey travels in the clear inside it: the outer wrapper,
 * which only the destination's TPM can remove, is what keeps the key secret on the
 * way. The destination checks everything before its TPM sees it: the format, the
 * object's attributes (one of the shapes our templates make, nothing with other
 * rights) and its policy against its own domain.
 *
 * Wrapped secret format, version 1 (secret_wrap → secret_unwrap):
 *
 *     0xa1 || TPM2B_PUBLIC object || TPM2B_PRIVATE duplicate || TPM2B_ENCRYPTED_SECRET inSymSeed
 *
 * a sealed-data object made in software (tpm2_wrap.c) with an outer wrapper only. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>

#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

/* --- handles held for the length of one sequence --- */

static void tmp_hold(struct tpm2 *t, TPM2_HANDLE h)
{
	if (t->ntmp < sizeof(t->tmp) / sizeof(t->tmp[0]))
		t->tmp[t->ntmp++] = h;
}

/* Forget h (flushing it unless the TPM already let it go). */
static void tmp_drop(struct tpm2 *t, TPM2_HANDLE h, bool flush)
{
	for (unsigned i = 0; i < t->ntmp; i++) {
		if (t->tmp[i] != h)
			continue;
		if (flush && !t->broken)
			tpm2_flush(t, h);
		t->tmp[i] = t->tmp[--t->ntmp];
		return;
	}
}

static void tmp_drop_all(struct tpm2 *t)
{
	while (t->ntmp)
		tmp_drop(t, t->tmp[t->ntmp - 1], true);
}

/* A unit as people see it in tpmha's files: the first 8 bytes of SHA-256 of its
 * storage key's name, in hex (migration/'s unit id). */
static const char *unit_label(const TPM2B_NAME *name, char out[17])
{
	uint8_t h[32];

	if (hash_digest(HASH_SHA256, name->name, name->size, h) != CKR_OK)
		memset(h, 0, sizeof(h));
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	return out;
}

/* A TPM error that is the TPM saying no (not a resource shortage, a retry, or a
 * broken connection). */
static bool tpm_refused(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK, base;

	if (rc == TSS2_RC_SUCCESS || (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER))
		return false;
	base = tpm2_rc_base(rc);
	if (base & TPM2_RC_FMT1)
		return true;
	return (base & TPM2_RC_WARN) != TPM2_RC_WARN;
}

/* --- identity --- */

CK_RV tpm2_unit_identity(struct tpm_backend *tb, struct tpm_unit_identity *out)
{
	struct tpm2 *t = tpm2_of(tb);
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	CK_RV rv;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	memset(out, 0, sizeof(*out));
	lock_acquire(t->lock);
	rv = tpm2_conn_ready(t);
	if (rv == CKR_OK && !t->sk_known)
		rv = tpm2_storage_ready(t);
	if (rv == CKR_OK && Tss2_MU_TPM2B_PUBLIC_Marshal(&t->sk_pub, buf, sizeof(buf), &off) !=
				    TSS2_RC_SUCCESS)
		rv = CKR_GENERAL_ERROR;
	if (rv == CKR_OK)
		rv = tpm_blob_copy(&out->storage_public, buf, off);
	if (rv == CKR_OK)
		rv = tpm_blob_copy(&out->name, t->sk_name.name, t->sk_name.size);
	lock_release(t->lock);
	if (rv != CKR_OK) {
		tpm_unit_identity_release(out);
		return rv;
	}
	out->tpm_version = 20;
	return CKR_OK;
}

/* --- export --- */

struct export {
	TPM2B_PUBLIC pub;           /* the key or seal */
	TPM2B_PRIVATE priv;
	TPM2B_NAME name;
	TPM2B_PUBLIC dest;          /* destination storage key */
	TPM2B_NAME dest_name;
	TPM2B_PUBLIC ma;            /* migration authority */
	TPM2B_NAME ma_name;
	TPM2B_DIGEST approved;      /* approvedPolicy */
	TPM2B_NONCE policy_ref;
	TPM2B_DIGEST ahash;         /* H(approvedPolicy || policyRef) */
	TPMT_SIGNATURE sig;         /* the approval */
	char unit[17];
	/* out */
	TPM2B_DATA inner;
	TPM2B_PRIVATE dup;
	TPM2B_ENCRYPTED_SECRET seed;
};

enum export_step { STEP_NONE, STEP_MA, STEP_VERIFY, STEP_POLICY, STEP_DEST, STEP_DUPLICATE };

static const char *const step_what[] = {
	[STEP_NONE] = "exporting a key",
	[STEP_MA] = "TPM2_LoadExternal of the migration authority's public key",
	[STEP_VERIFY] = "TPM2_VerifySignature of the approval",
	[STEP_POLICY] = "the duplication policy session",
	[STEP_DEST] = "TPM2_LoadExternal of the destination's storage key",
	[STEP_DUPLICATE] = "TPM2_Duplicate",
};

/* The approval as the TPM checks it: RSASSA-PKCS1-v1_5 or ECDSA (r || s), SHA-256. */
static CK_RV approval_signature(const TPMT_PUBLIC *ma, const uint8_t *sig, size_t len,
				TPMT_SIGNATURE *out)
{
	memset(out, 0, sizeof(*out));
	if (ma->type == TPM2_ALG_RSA) {
		if (len == 0 || len > sizeof(out->signature.rsassa.sig.buffer))
			return CKR_KEY_NOT_WRAPPABLE;
		out->sigAlg = TPM2_ALG_RSASSA;
		out->signature.rsassa.hash = TPM2_ALG_SHA256;
		out->signature.rsassa.sig.size = (UINT16)len;
		memcpy(out->signature.rsassa.sig.buffer, sig, len);
		return CKR_OK;
	}
	if (len != 64)
		return CKR_KEY_NOT_WRAPPABLE;
	out->sigAlg = TPM2_ALG_ECDSA;
	out->signature.ecdsa.hash = TPM2_ALG_SHA256;
	out->signature.ecdsa.signatureR.size = out->signature.ecdsa.signatureS.size = 32;
	memcpy(out->signature.ecdsa.signatureR.buffer, sig, 32);
	memcpy(out->signature.ecdsa.signatureS.buffer, sig + 32, 32);
	return CKR_OK;
}

static bool same_name(const TPM2B_NAME *a, const TPM2B_NAME *b)
{
	return a->size == b->size && memcmp(a->name, b->name, a->size) == 0;
}

/* One pass of the whole sequence; every handle it takes is let go by the caller
 * (tmp_drop_all). A TPM error is left in *rc, the command in *step. */
static CK_RV export_attempt(struct tpm2 *t, struct export *e, TSS2_RC *rc, enum export_step *step)
{
	TPM2_HANDLE h = 0, policy = 0, key = 0, dest = 0;
	TPM2B_NAME got = { .size = 0 };
	TPMT_TK_VERIFIED ticket = { .tag = 0 };
	TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	TPMT_SYM_DEF_OBJECT aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				    .mode.aes = TPM2_ALG_CFB };
	TPM2B_NONCE nonce_caller = { .size = TPM2_NONCE_SIZE }, nonce_tpm = { .size = 0 };
	TPM2B_ENCRYPTED_SECRET no_salt = { .size = 0 };
	TPM2B_DATA no_key = { .size = 0 };
	CK_RV rv;

	/* The MA's approval → a ticket. The owner hierarchy: a key loaded in the null
	 * hierarchy yields a null ticket that PolicyAuthorize refuses. */
	*step = STEP_MA;
	*rc = Tss2_Sys_LoadExternal(t->sys, NULL, NULL, &e->ma, TPM2_RH_OWNER, &h, &got, NULL);
	if (*rc != TSS2_RC_SUCCESS)
		return CKR_FUNCTION_FAILED;
	tmp_hold(t, h);
	if (!same_name(&got, &e->ma_name)) {
		LOGE("the TPM loaded the migration authority's key under another name");
		return CKR_DEVICE_ERROR;
	}
	*step = STEP_VERIFY;
	*rc = Tss2_Sys_VerifySignature(t->sys, h, NULL, &e->ahash, &e->sig, &ticket, NULL);
	tmp_drop(t, h, true); /* PolicyAuthorize takes the name, not the object */
	if (*rc != TSS2_RC_SUCCESS)
		return CKR_FUNCTION_FAILED;

	/* PolicyDuplicationSelect first: it refuses a session that has a command code
	 * already, which PolicyCommandCode sets. */
	*step = STEP_POLICY;
	rv = ossl_random(nonce_caller.buffer, nonce_caller.size);
	if (rv != CKR_OK)
		return rv;
	*rc = Tss2_Sys_StartAuthSession(t->sys, TPM2_RH_NULL, TPM2_RH_NULL, NULL, &nonce_caller,
					&no_salt, TPM2_SE_POLICY, &none, TPM2_ALG_SHA256, &policy,
					&nonce_tpm, NULL);
	if (*rc != TSS2_RC_SUCCESS)
		return CKR_FUNCTION_FAILED;
	tmp_hold(t, policy);
	*rc = Tss2_Sys_PolicyDuplicationSelect(t->sys, policy, NULL, &e->name, &e->dest_name, TPM2_NO,
					       NULL);
	if (*rc == TSS2_RC_SUCCESS)
		*rc = Tss2_Sys_PolicyAuthorize(t->sys, policy, NULL, &e->approved, &e->policy_ref,
					       &e->ma_name, &ticket, NULL);
	if (*rc == TSS2_RC_SUCCESS)
		*rc = Tss2_Sys_PolicyCommandCode(t->sys, policy, NULL, TPM2_CC_Duplicate, NULL);
	if (*rc != TSS2_RC_SUCCESS)
		return CKR_FUNCTION_FAILED;

	*step = STEP_NONE;
	rv = tpm2_load(t, &e->pub, &e->priv, &e->name, NULL, &key);
	if (rv != CKR_OK)
		return rv; /* logged, retried already */
	tmp_hold(t, key);
	*step = STEP_DEST;
	*rc = Tss2_Sys_LoadExternal(t->sys, NULL, NULL, &e->dest, TPM2_RH_NULL, &dest, &got, NULL);
	if (*rc != TSS2_RC_SUCCESS)
		return CKR_FUNCTION_FAILED;
	tmp_hold(t, dest);
	if (!same_name(&got, &e->dest_name)) {
		LOGE("the TPM loaded unit %s's storage key under another name", e->unit);
		return CKR_DEVICE_ERROR;
	}

	/* DUP role: the policy session authorizes the key; ours rides along to have
	 * the TPM encrypt the first response parameter, the inner wrapper's key, and
	 * to check the response. symmetricAlg AES-128-CFB with an empty encryptionKeyIn:
	 * the TPM picks the inner key. */
	*step = STEP_DUPLICATE;
	{
		struct tpm2_cmd cmd = {
			.cc = TPM2_CC_Duplicate, .names = { &e->name, &e->dest_name }, .nnames = 2,
			.encrypt = true, .policy = policy,
		};

		*rc = Tss2_Sys_Duplicate_Prepare(t->sys, key, dest, &no_key, &aes);
		if (*rc == TSS2_RC_SUCCESS)
			*rc = tpm2_session_exec(t, &t->sess, &cmd);
		if (*rc == TSS2_RC_SUCCESS) {
			tmp_drop(t, policy, false); /* continueSession was clear: it is gone */
			*rc = Tss2_Sys_Duplicate_Complete(t->sys, &e->inner, &e->dup, &e->seed);
		}
		tpm2_wipe_response(t);
	}
	if (*rc != TSS2_RC_SUCCESS)
		return CKR_FUNCTION_FAILED;
	if (e->inner.size != 16 || e->dup.size == 0 || e->seed.size == 0) {
		LOGE("TPM2_Duplicate returned no inner wrapper or no outer wrapper");
		return CKR_DEVICE_ERROR;
	}
	return CKR_OK;
}

static CK_RV export_error(struct tpm2 *t, const struct export *e, TSS2_RC rc, enum export_step step)
{
	TSS2_RC base = tpm2_rc_base(rc);

	if (!tpm_refused(rc))
		return tpm2_rv(t, rc, step_what[step]);
	switch (step) {
	case STEP_VERIFY:
		LOGE("the TPM refused to export the key: the migration authority has not approved unit "
		     "%s for this domain (the approval does not verify; %s: %s, 0x%x)", e->unit,
		     step_what[step], Tss2_RC_Decode(rc), rc);
		return CKR_KEY_NOT_WRAPPABLE;
	case STEP_POLICY:
	case STEP_DUPLICATE:
		if (step == STEP_DUPLICATE && base == TPM2_RC_ATTRIBUTES) {
			LOGE("the TPM refused to export the key: it is not duplicable (%s: %s, 0x%x)",
			     step_what[step], Tss2_RC_Decode(rc), rc);
			return CKR_KEY_UNEXTRACTABLE;
		}
		LOGE("the TPM refused to export the key: its policy does not allow duplication to unit "
		     "%s with this approval (%s: %s, 0x%x)", e->unit, step_what[step],
		     Tss2_RC_Decode(rc), rc);
		return CKR_KEY_NOT_WRAPPABLE;
	case STEP_DEST:
		LOGE("the TPM refused unit %s's storage key (%s: %s, 0x%x)", e->unit, step_what[step],
		     Tss2_RC_Decode(rc), rc);
		return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	default:
		return tpm2_rv(t, rc, step_what[step]);
	}
}

/* Room for the two objects we load besides the storage key, counted like
 * tpm2_load() counts: cached keys go first. */
static void make_room(struct tpm2 *t, unsigned objects)
{
	while (t->nloaded + objects > t->max_loaded && tpm2_evict_one(t, NULL))
		;
}

static CK_RV export_run(struct tpm2 *t, struct export *e)
{
	struct tpm2_retry r = { 0 };
	enum export_step step;
	TSS2_RC rc;
	CK_RV rv;

	do {
		rc = TSS2_RC_SUCCESS;
		step = STEP_NONE;
		rv = tpm2_ready(t);
		if (rv != CKR_OK)
			return rv;
		make_room(t, 2);
		rv = export_attempt(t, e, &rc, &step);
		tmp_drop_all(t);
	} while (rv != CKR_OK && rc != TSS2_RC_SUCCESS && tpm2_retry(t, &r, rc, NULL, false));
	if (rv == CKR_OK || rc == TSS2_RC_SUCCESS)
		return rv;
	return export_error(t, e, rc, step);
}

static CK_RV export_prepare(const struct tpm_blob *blob, const struct tpm_domain *d,
			    const struct tpm_unit_identity *dest, const uint8_t *approval,
			    size_t approval_len, struct export *e)
{
	uint8_t msg[TPM2_DIGEST_SIZE + sizeof(d->policy_ref)];
	CK_RV rv;

	rv = tpm2_blob_decode(blob->data, blob->len, &e->pub, &e->priv);
	if (rv != CKR_OK)
		return CKR_DATA_INVALID;
	rv = tpm2_domain_object_check(&e->pub.publicArea, d);
	switch (rv) {
	case CKR_OK:
		break;
	case CKR_KEY_UNEXTRACTABLE:
		LOGE("this key was made without a migration domain: it can never leave this TPM");
		return rv;
	case CKR_KEY_NOT_WRAPPABLE:
		LOGE("this key belongs to another migration domain (its policy names another "
		     "migration authority or domain)");
		return rv;
	case CKR_DATA_INVALID:
		LOGE("the blob to export is not a key or seal tpmha makes");
		return rv;
	default:
		return rv;
	}
	rv = tpm2_compute_name(&e->pub.publicArea, &e->name);
	if (rv == CKR_OK)
		rv = tpm2_dest_parse(dest, &e->dest, &e->dest_name);
	if (rv == CKR_OK)
		rv = tpm2_ma_parse(d, &e->ma.publicArea, &e->ma_name);
	if (rv != CKR_OK)
		return rv;
	unit_label(&e->dest_name, e->unit);
	if (approval_signature(&e->ma.publicArea, approval, approval_len, &e->sig) != CKR_OK) {
		LOGE("the approval for unit %s is not a signature of the domain's migration authority "
		     "(%zu bytes for an %s key)", e->unit, approval_len,
		     e->ma.publicArea.type == TPM2_ALG_RSA ? "RSA-2048" : "EC P-256");
		return CKR_KEY_NOT_WRAPPABLE;
	}
	rv = tpm2_approved_policy(&e->dest_name, e->approved.buffer);
	if (rv != CKR_OK)
		return rv;
	e->approved.size = TPM2_DIGEST_SIZE;
	e->policy_ref.size = sizeof(d->policy_ref);
	memcpy(e->policy_ref.buffer, d->policy_ref, sizeof(d->policy_ref));
	memcpy(msg, e->approved.buffer, TPM2_DIGEST_SIZE);
	memcpy(msg + TPM2_DIGEST_SIZE, d->policy_ref, sizeof(d->policy_ref));
	e->ahash.size = TPM2_DIGEST_SIZE;
	return hash_digest(HASH_SHA256, msg, sizeof(msg), e->ahash.buffer);
}

CK_RV tpm2_key_export(struct tpm_backend *tb, const struct tpm_blob *blob, const struct tpm_domain *d,
		      const struct tpm_unit_identity *dest, const uint8_t *approval, size_t approval_len,
		      struct tpm_blob *out)
{
	struct tpm2 *t = tpm2_of(tb);
	struct export *e;
	uint8_t *buf = NULL;
	size_t cap, off = 0;
	CK_RV rv;

	if (!blob || !d || !dest || (!approval && approval_len) || !out)
		return CKR_ARGUMENTS_BAD;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CKR_HOST_MEMORY;
	rv = export_prepare(blob, d, dest, approval, approval_len, e);
	if (rv != CKR_OK)
		goto out;
	lock_acquire(t->lock);
	rv = export_run(t, e);
	lock_release(t->lock);
	if (rv != CKR_OK)
		goto out;
	cap = 1 + sizeof(e->pub) + sizeof(e->dup) + sizeof(e->seed) + sizeof(e->inner);
	buf = malloc(cap);
	if (!buf) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	buf[off++] = TPM2_DUP_VERSION;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&e->pub, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&e->dup, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&e->seed, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_DATA_Marshal(&e->inner, buf, cap, &off) != TSS2_RC_SUCCESS) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	rv = tpm_blob_copy(out, buf, off);
	if (rv == CKR_OK)
		LOGI("key duplicated to unit %s", e->unit);
out:
	secret_free(buf, buf ? cap : 0);
	secret_free(e, sizeof(*e));
	return rv;
}

/* --- import --- */

/* TPM2_Import under the storage key; the first parameter (the inner wrapper's key)
 * goes encrypted by the session. */
static TSS2_RC import_run(struct tpm2 *t, const TPM2B_DATA *inner, const TPM2B_PUBLIC *pub,
			  const TPM2B_PRIVATE *dup, const TPM2B_ENCRYPTED_SECRET *seed,
			  const TPMT_SYM_DEF_OBJECT *sym, TPM2B_PRIVATE *out, CK_RV *rv)
{
	struct tpm2_retry r = { 0 };
	TSS2_RC rc = TSS2_RC_SUCCESS;

	do {
		struct tpm2_cmd cmd = {
			.cc = TPM2_CC_Import, .names = { &t->sk_name }, .nnames = 1,
			.authorize = true, .decrypt = true,
		};

		*rv = tpm2_ready(t);
		if (*rv == CKR_OK)
			*rv = tpm2_storage_ready(t);
		if (*rv != CKR_OK)
			return TSS2_RC_SUCCESS;
		rc = Tss2_Sys_Import_Prepare(t->sys, t->sk_handle, inner, pub, dup, seed, sym);
		if (rc == TSS2_RC_SUCCESS)
			rc = tpm2_session_exec(t, &t->sess, &cmd);
		if (rc == TSS2_RC_SUCCESS)
			rc = Tss2_Sys_Import_Complete(t->sys, out);
	} while (tpm2_retry(t, &r, rc, NULL, true));
	return rc;
}

/* What a failed TPM2_Import of an untrusted blob means. */
static CK_RV import_error(struct tpm2 *t, TSS2_RC rc, const char *what)
{
	TSS2_RC base = tpm2_rc_base(rc);

	if (!tpm_refused(rc))
		return tpm2_rv(t, rc, what);
	if (base == TPM2_RC_INTEGRITY || base == TPM2_RC_FAILURE)
		/* ECC storage keys derive another seed (the outer HMAC fails); RSA ones
		 * fail to decrypt it */
		LOGE("%s: this bundle was made for another unit, or altered on the way: the outer "
		     "wrapper does not open with this unit's storage key (TPM2_Import: %s, 0x%x)", what,
		     Tss2_RC_Decode(rc), rc);
	else
		LOGE("%s: the TPM refused it as malformed (TPM2_Import: %s, 0x%x)", what,
		     Tss2_RC_Decode(rc), rc);
	return CKR_WRAPPED_KEY_INVALID;
}

/* Load (and flush) what was just imported: a broken object fails here, not at its
 * first use. */
static CK_RV test_load(struct tpm2 *t, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		       const TPM2B_NAME *name, TPM2_HANDLE *keep)
{
	TPM2_HANDLE h = 0;
	CK_RV rv = tpm2_load(t, pub, priv, name, NULL, &h);

	if (rv == CKR_DEVICE_ERROR && !t->broken) {
		LOGE("the imported object does not load: the duplicate is not a usable key");
		return CKR_WRAPPED_KEY_INVALID;
	}
	if (rv != CKR_OK)
		return rv;
	if (keep)
		*keep = h;
	else if (!t->broken)
		tpm2_flush(t, h);
	return CKR_OK;
}

CK_RV tpm2_key_import_duplicate(struct tpm_backend *tb, const struct tpm_domain *d,
				const struct tpm_blob *dup, struct tpm_blob *out)
{
	struct tpm2 *t = tpm2_of(tb);
	TPMT_SYM_DEF_OBJECT aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				    .mode.aes = TPM2_ALG_CFB };
	struct {
		TPM2B_PUBLIC pub;
		TPM2B_PRIVATE dup, priv;
		TPM2B_ENCRYPTED_SECRET seed;
		TPM2B_DATA inner;
		TPM2B_NAME name;
	} *x;
	size_t off = 1, start;
	TSS2_RC rc;
	CK_RV rv;

	if (!d || !dup || !out || (!dup->data && dup->len))
		return CKR_ARGUMENTS_BAD;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CKR_HOST_MEMORY;
	/* Untrusted: every size bounded by its type, every byte accounted for. */
	rv = CKR_WRAPPED_KEY_INVALID;
	if (dup->len < 1 || dup->data[0] != TPM2_DUP_VERSION) {
		LOGE("the key duplicate has an unknown format or version (%s)",
		     dup->len ? "first byte" : "empty");
		goto out;
	}
	start = off;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(dup->data, dup->len, &off, &x->pub) != TSS2_RC_SUCCESS ||
	    off - start != 2u + x->pub.size ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(dup->data, dup->len, &off, &x->dup) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(dup->data, dup->len, &off, &x->seed) !=
		    TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_DATA_Unmarshal(dup->data, dup->len, &off, &x->inner) != TSS2_RC_SUCCESS ||
	    off != dup->len || x->dup.size == 0 || x->seed.size == 0 || x->inner.size != 16) {
		LOGE("the key duplicate is malformed (truncated, or sizes that do not add up)");
		goto out;
	}
	switch (tpm2_domain_object_check(&x->pub.publicArea, d)) {
	case CKR_OK:
		break;
	case CKR_KEY_NOT_WRAPPABLE:
		LOGE("the key duplicate belongs to another migration domain: its policy is not this "
		     "domain's");
		goto out;
	case CKR_ARGUMENTS_BAD:
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	default:
		LOGE("the key duplicate holds an object tpmha never makes for a domain (type 0x%x, "
		     "attributes 0x%x)", x->pub.publicArea.type, x->pub.publicArea.objectAttributes);
		goto out;
	}
	rv = tpm2_compute_name(&x->pub.publicArea, &x->name);
	if (rv != CKR_OK)
		goto out;

	lock_acquire(t->lock);
	make_room(t, 1);
	rc = import_run(t, &x->inner, &x->pub, &x->dup, &x->seed, &aes, &x->priv, &rv);
	tpm2_wipe_response(t);
	if (rv == CKR_OK && rc != TSS2_RC_SUCCESS)
		rv = import_error(t, rc, "importing a key duplicate");
	if (rv == CKR_OK)
		rv = test_load(t, &x->pub, &x->priv, &x->name, NULL);
	lock_release(t->lock);
	if (rv == CKR_OK)
		rv = tpm2_blob_encode(&x->pub, &x->priv, out);
out:
	secret_free(x, sizeof(*x));
	return rv;
}

/* --- wrapped secrets --- */

CK_RV tpm2_secret_wrap(struct tpm_backend *tb, const struct tpm_unit_identity *dest,
		       const uint8_t *secret, size_t len, struct tpm_blob *out)
{
	struct {
		TPM2B_PUBLIC dest, pub;
		TPM2B_NAME dest_name, name;
		TPMT_SENSITIVE sens;
		TPM2B_PRIVATE dup;
		TPM2B_ENCRYPTED_SECRET seed;
		uint8_t buf[1 + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE) +
			    sizeof(TPM2B_ENCRYPTED_SECRET)];
	} *x;
	TPMT_PUBLIC *p;
	size_t off = 0;
	CK_RV rv;

	(void)tb; /* software only: the destination's public key is all there is */
	if (!dest || (!secret && len) || !out || len > 32)
		return CKR_ARGUMENTS_BAD;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CKR_HOST_MEMORY;
	rv = tpm2_dest_parse(dest, &x->dest, &x->dest_name);
	if (rv != CKR_OK)
		goto out;
	/* sealed data: unique = H(seedValue || data), the binding TPM2_Load checks */
	p = &x->pub.publicArea;
	tpm2_template_wrapped_secret(p);
	x->sens.sensitiveType = TPM2_ALG_KEYEDHASH;
	x->sens.seedValue.size = TPM2_DIGEST_SIZE;
	x->sens.sensitive.bits.size = (UINT16)len;
	if (len)
		memcpy(x->sens.sensitive.bits.buffer, secret, len);
	rv = ossl_random(x->sens.seedValue.buffer, x->sens.seedValue.size);
	if (rv == CKR_OK) {
		uint8_t both[TPM2_DIGEST_SIZE + 32];

		memcpy(both, x->sens.seedValue.buffer, TPM2_DIGEST_SIZE);
		if (len)
			memcpy(both + TPM2_DIGEST_SIZE, secret, len);
		rv = hash_digest(HASH_SHA256, both, TPM2_DIGEST_SIZE + len, p->unique.keyedHash.buffer);
		p->unique.keyedHash.size = TPM2_DIGEST_SIZE;
		secret_wipe(both, sizeof(both));
	}
	if (rv == CKR_OK)
		rv = tpm2_compute_name(p, &x->name);
	if (rv == CKR_OK)
		rv = tpm2_dup_wrap(&x->dest.publicArea, &x->sens, &x->name, NULL, &x->dup, &x->seed);
	if (rv != CKR_OK)
		goto out;
	x->buf[off++] = TPM2_WRAP_VERSION;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&x->pub, x->buf, sizeof(x->buf), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&x->dup, x->buf, sizeof(x->buf), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&x->seed, x->buf, sizeof(x->buf), &off) !=
		    TSS2_RC_SUCCESS) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	rv = tpm_blob_copy(out, x->buf, off);
out:
	secret_free(x, sizeof(*x));
	return rv;
}

CK_RV tpm2_secret_unwrap(struct tpm_backend *tb, const struct tpm_blob *wrapped, uint8_t *secret,
			 size_t *len)
{
	struct tpm2 *t = tpm2_of(tb);
	TPMT_SYM_DEF_OBJECT no_inner = { .algorithm = TPM2_ALG_NULL };
	TPM2B_DATA no_key = { .size = 0 };
	struct {
		TPM2B_PUBLIC pub;
		TPM2B_PRIVATE dup, priv;
		TPM2B_ENCRYPTED_SECRET seed;
		TPM2B_NAME name;
		TPM2B_SENSITIVE_DATA data;
	} *x;
	TPM2_HANDLE h = 0;
	size_t off = 1, start;
	TSS2_RC rc;
	CK_RV rv;

	if (!wrapped || !secret || !len || (!wrapped->data && wrapped->len))
		return CKR_ARGUMENTS_BAD;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CKR_HOST_MEMORY;
	rv = CKR_WRAPPED_KEY_INVALID;
	start = off;
	if (wrapped->len < 1 || wrapped->data[0] != TPM2_WRAP_VERSION ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(wrapped->data, wrapped->len, &off, &x->pub) !=
		    TSS2_RC_SUCCESS ||
	    off - start != 2u + x->pub.size ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(wrapped->data, wrapped->len, &off, &x->dup) !=
		    TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(wrapped->data, wrapped->len, &off, &x->seed) !=
		    TSS2_RC_SUCCESS ||
	    off != wrapped->len || x->dup.size == 0 || x->seed.size == 0 ||
	    !tpm2_public_is_wrapped_secret(&x->pub.publicArea)) {
		LOGE("the wrapped secret is malformed or of an unknown version");
		goto out;
	}
	rv = tpm2_compute_name(&x->pub.publicArea, &x->name);
	if (rv != CKR_OK)
		goto out;

	lock_acquire(t->lock);
	make_room(t, 1);
	rc = import_run(t, &no_key, &x->pub, &x->dup, &x->seed, &no_inner, &x->priv, &rv);
	if (rv == CKR_OK && rc != TSS2_RC_SUCCESS)
		rv = import_error(t, rc, "unwrapping a secret sent to this unit");
	if (rv == CKR_OK)
		rv = test_load(t, &x->pub, &x->priv, &x->name, &h);
	if (rv == CKR_OK) {
		struct tpm2_retry r = { 0 };

		do {
			/* empty auth value; the secret comes back encrypted */
			struct tpm2_cmd cmd = {
				.cc = TPM2_CC_Unseal, .names = { &x->name }, .nnames = 1,
				.authorize = true, .encrypt = true,
			};

			rv = tpm2_ready(t);
			if (rv != CKR_OK)
				break;
			rc = Tss2_Sys_Unseal_Prepare(t->sys, h);
			if (rc == TSS2_RC_SUCCESS)
				rc = tpm2_session_exec(t, &t->sess, &cmd);
			if (rc == TSS2_RC_SUCCESS)
				rc = Tss2_Sys_Unseal_Complete(t->sys, &x->data);
			tpm2_wipe_response(t);
		} while (tpm2_retry(t, &r, rc, NULL, false));
		if (!t->broken)
			tpm2_flush(t, h);
		if (rv == CKR_OK)
			rv = tpm2_rv(t, rc, "unsealing a secret sent to this unit");
	}
	lock_release(t->lock);
	if (rv != CKR_OK)
		goto out;
	if (x->data.size > *len) {
		*len = x->data.size;
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	memcpy(secret, x->data.buffer, x->data.size);
	*len = x->data.size;
out:
	secret_free(x, sizeof(*x));
	return rv;
}
