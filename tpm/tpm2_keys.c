/* Blobs, the unit storage key, and keeping keys loaded.
 *
 * Keys stay loaded between uses so a signature costs one TPM round trip; an LRU
 * list bounds how many (cfg max_loaded_keys, or the TPM's free transient slots
 * minus the storage key's). Evicting is FlushContext; reloading is TPM2_Load from
 * the blob under the storage key, itself restored by ContextLoad (or re-derived by
 * CreatePrimary) when it was evicted. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>

#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

/* --- blobs --- */

CK_RV tpm2_blob_encode(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv, struct tpm_blob *out)
{
	uint8_t buf[1 + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
	size_t off = 1;

	buf[0] = TPM2_BLOB_VERSION;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return CKR_GENERAL_ERROR;
	return tpm_blob_copy(out, buf, off);
}

CK_RV tpm2_blob_decode(const uint8_t *data, size_t len, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
	size_t off = 1, start;

	memset(pub, 0, sizeof(*pub));
	memset(priv, 0, sizeof(*priv));
	if (!data || len < 1 || data[0] != TPM2_BLOB_VERSION)
		return CKR_DATA_INVALID;
	start = off;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(data, len, &off, pub) != TSS2_RC_SUCCESS ||
	    off - start != 2u + pub->size)
		return CKR_DATA_INVALID;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(data, len, &off, priv) != TSS2_RC_SUCCESS ||
	    off != len || priv->size == 0)
		return CKR_DATA_INVALID;
	return CKR_OK;
}

/* --- LRU of loaded keys --- */

static void lru_push(struct tpm2 *t, struct tpm_key *k)
{
	k->older = t->lru_newest;
	k->newer = NULL;
	if (t->lru_newest)
		t->lru_newest->newer = k;
	t->lru_newest = k;
	if (!t->lru_oldest)
		t->lru_oldest = k;
	t->nloaded++;
}

void tpm2_key_unlink(struct tpm2 *t, struct tpm_key *k)
{
	if (!k->handle)
		return;
	if (k->newer)
		k->newer->older = k->older;
	else
		t->lru_newest = k->older;
	if (k->older)
		k->older->newer = k->newer;
	else
		t->lru_oldest = k->newer;
	k->newer = k->older = NULL;
	k->handle = 0;
	t->nloaded--;
}

static void lru_touch(struct tpm2 *t, struct tpm_key *k)
{
	TPM2_HANDLE h = k->handle;

	if (t->lru_newest == k)
		return;
	tpm2_key_unlink(t, k);
	k->handle = h;
	lru_push(t, k);
}

bool tpm2_evict_one(struct tpm2 *t, struct tpm_key *keep)
{
	for (struct tpm_key *k = t->lru_oldest; k; k = k->newer) {
		if (k == keep)
			continue;
		tpm2_flush(t, k->handle);
		tpm2_key_unlink(t, k);
		return true;
	}
	return false;
}

void tpm2_forget_handles(struct tpm2 *t, TPM2_HANDLE *old, size_t *nold, size_t max)
{
	*nold = 0;
	while (t->lru_newest) {
		if (*nold < max)
			old[(*nold)++] = t->lru_newest->handle;
		tpm2_key_unlink(t, t->lru_newest);
	}
	if (t->sk_handle && *nold < max)
		old[(*nold)++] = t->sk_handle;
	t->sk_handle = 0;
	if (t->sess.handle && *nold < max)
		old[(*nold)++] = t->sess.handle;
	tpm2_session_forget(&t->sess);
}

/* --- connection and storage key --- */

static CK_RV reconnect(struct tpm2 *t)
{
	TPM2_HANDLE old[64];
	size_t nold;
	CK_RV rv;

	tpm2_forget_handles(t, old, &nold, sizeof(old) / sizeof(old[0]));
	tpm2_disconnect(t, true);
	rv = tpm2_connect(t);
	if (rv != CKR_OK) {
		t->broken = true;
		return rv;
	}
	/* Without a resource manager our old objects may still sit in the TPM; with
	 * one they are gone and these just fail. */
	for (size_t i = 0; i < nold; i++)
		tpm2_flush(t, old[i]);
	LOGI("reconnected to the TPM through TCTI \"%s\"", t->tcti_conf);
	return t->broken ? CKR_DEVICE_ERROR : CKR_OK;
}

CK_RV tpm2_conn_ready(struct tpm2 *t)
{
	if (t->broken || !t->sys)
		return reconnect(t);
	return CKR_OK;
}

static CK_RV storage_check(const TPM2B_PUBLIC *out, const TPM2B_NAME *name)
{
	TPMT_PUBLIC want;
	TPM2B_NAME computed;
	const TPMT_PUBLIC *p = &out->publicArea;

	tpm2_template_storage(&want);
	if (p->type != want.type || p->nameAlg != want.nameAlg ||
	    p->objectAttributes != want.objectAttributes ||
	    p->parameters.eccDetail.curveID != want.parameters.eccDetail.curveID ||
	    p->unique.ecc.x.size != 32 || p->unique.ecc.y.size != 32)
		return CKR_DEVICE_ERROR;
	if (tpm2_compute_name(p, &computed) != CKR_OK || computed.size != name->size ||
	    memcmp(computed.name, name->name, name->size) != 0)
		return CKR_DEVICE_ERROR;
	return CKR_OK;
}

static CK_RV storage_create(struct tpm2 *t)
{
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC in = { .size = 0 }, out = { .size = 0 };
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION pcr = { .count = 0 };
	TPM2B_CREATION_DATA cdata = { .size = 0 };
	TPM2B_DIGEST chash = { .size = 0 };
	TPMT_TK_CREATION ticket = { .tag = 0 };
	TPM2B_NAME name = { .size = 0 };
	TPM2B_NAME owner = { .size = 4, .name = { 0x40, 0x00, 0x00, 0x01 } }; /* TPM2_RH_OWNER */
	TPM2_HANDLE h = 0;
	struct tpm2_retry r = { 0 };
	struct tpm2_session os;
	TSS2_RC rc;
	CK_RV rv;

	tpm2_template_storage(&in.publicArea);
	memset(&os, 0, sizeof(os));
	do {
		if (!t->owner_auth.len) {
			/* Nothing secret to protect: an empty password. */
			TSS2L_SYS_AUTH_COMMAND pw = { .count = 1,
				.auths = { { .sessionHandle = TPM2_RS_PW } } };

			rc = Tss2_Sys_CreatePrimary(t->sys, TPM2_RH_OWNER, &pw, &sens, &in, &outside,
						    &pcr, &h, &out, &cdata, &chash, &ticket, &name, NULL);
		} else {
			/* The salted session needs this very key, so the owner auth goes
			 * through a one-command unsalted HMAC session: never in the clear. */
			struct tpm2_cmd cmd = {
				.cc = TPM2_CC_CreatePrimary, .names = { &owner }, .nnames = 1,
				.authorize = true, .auth = t->owner_auth.value,
				.auth_len = t->owner_auth.len, .end_session = true,
			};

			rv = tpm2_session_start_unsalted(t, &os);
			if (rv != CKR_OK)
				return rv;
			rc = Tss2_Sys_CreatePrimary_Prepare(t->sys, TPM2_RH_OWNER, &sens, &in, &outside,
							    &pcr);
			if (rc == TSS2_RC_SUCCESS)
				rc = tpm2_session_exec(t, &os, &cmd);
			if (rc == TSS2_RC_SUCCESS)
				rc = Tss2_Sys_CreatePrimary_Complete(t->sys, &h, &out, &cdata, &chash,
								     &ticket, &name);
			if (os.handle && !t->broken)
				tpm2_flush(t, os.handle);
			tpm2_session_forget(&os);
		}
	} while (tpm2_retry(t, &r, rc, NULL, false));
	if (tpm2_rc_base(rc) == TPM2_RC_BAD_AUTH || tpm2_rc_base(rc) == TPM2_RC_AUTH_FAIL) {
		/* a configuration problem, not a wrong PIN: say so */
		LOGE("the TPM refuses the owner authorization: owner_auth in the configuration "
		     "is not the TPM's owner auth (%s)", Tss2_RC_Decode(rc));
		return CKR_DEVICE_ERROR;
	}
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_rv(t, rc, "creating the unit storage key (owner hierarchy primary)");

	if (storage_check(&out, &name) != CKR_OK) {
		LOGE("the TPM returned a storage key other than the one asked for");
		tpm2_flush(t, h);
		return CKR_DEVICE_ERROR;
	}
	if (t->sk_known && (name.size != t->sk_name.size ||
			    memcmp(name.name, t->sk_name.name, name.size) != 0))
		LOGE("the unit storage key changed: the TPM was cleared or replaced, "
		     "and keys made for it before cannot be loaded");
	memset(&t->sk_ctx, 0, sizeof(t->sk_ctx));
	rc = Tss2_Sys_ContextSave(t->sys, h, &t->sk_ctx);
	if (rc != TSS2_RC_SUCCESS)
		LOGW("saving the storage key's context: %s (it will be re-derived instead)",
		     Tss2_RC_Decode(rc));
	t->sk_known = true;
	t->sk_handle = h;
	t->sk_pub = out;
	t->sk_name = name;
	LOGD("unit storage key loaded at 0x%08x", h);
	return CKR_OK;
}

CK_RV tpm2_storage_ready(struct tpm2 *t)
{
	struct tpm2_retry r = { 0 };
	TPMI_DH_CONTEXT h = 0;
	TSS2_RC rc;

	if (t->sk_handle)
		return CKR_OK;
	if (t->sk_known && t->sk_ctx.contextBlob.size) {
		do {
			rc = Tss2_Sys_ContextLoad(t->sys, &t->sk_ctx, &h);
		} while (tpm2_retry(t, &r, rc, NULL, true));
		if (rc == TSS2_RC_SUCCESS) {
			t->sk_handle = h;
			return CKR_OK;
		}
		if (t->broken)
			return tpm2_rv(t, rc, "restoring the storage key");
		LOGI("cannot restore the storage key's saved context (%s); re-deriving it",
		     Tss2_RC_Decode(rc));
	}
	return storage_create(t);
}

CK_RV tpm2_ready(struct tpm2 *t)
{
	CK_RV rv = tpm2_conn_ready(t);

	if (rv != CKR_OK || t->sess.handle)
		return rv;
	rv = tpm2_storage_ready(t);
	if (rv == CKR_OK)
		rv = tpm2_session_start(t);
	return rv;
}

CK_RV tpm2_load(struct tpm2 *t, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		const TPM2B_NAME *name, struct tpm_key *busy, TPM2_HANDLE *out)
{
	struct tpm2_retry r = { 0 };
	TPM2B_NAME got = { .size = 0 };
	TPM2_HANDLE h = 0;
	TSS2_RC rc;
	CK_RV rv;

	/* Keep within our share of the slots: the object about to be loaded counts. */
	while (t->nloaded >= t->max_loaded && tpm2_evict_one(t, busy))
		;
	do {
		rv = tpm2_ready(t);
		if (rv == CKR_OK)
			rv = tpm2_storage_ready(t);
		if (rv != CKR_OK)
			return rv;
		{
			struct tpm2_cmd cmd = {
				.cc = TPM2_CC_Load, .names = { &t->sk_name }, .nnames = 1,
				.authorize = true,
			};

			rc = Tss2_Sys_Load_Prepare(t->sys, t->sk_handle, priv, pub);
			if (rc == TSS2_RC_SUCCESS)
				rc = tpm2_session_exec(t, &t->sess, &cmd);
			if (rc == TSS2_RC_SUCCESS)
				rc = Tss2_Sys_Load_Complete(t->sys, &h, &got);
		}
	} while (tpm2_retry(t, &r, rc, busy, true));
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_rv(t, rc, "loading an object under the storage key");
	if (got.size != name->size || memcmp(got.name, name->name, name->size) != 0) {
		LOGE("the TPM loaded an object whose name is not the blob's");
		tpm2_flush(t, h);
		return CKR_DEVICE_ERROR;
	}
	*out = h;
	return CKR_OK;
}

CK_RV tpm2_key_ready(struct tpm2 *t, struct tpm_key *key)
{
	TPM2_HANDLE h;
	CK_RV rv = tpm2_ready(t);

	if (rv != CKR_OK)
		return rv;
	if (key->handle && key->gen == t->gen) {
		lru_touch(t, key);
		return CKR_OK;
	}
	rv = tpm2_load(t, &key->pub, &key->priv, &key->name, key, &h);
	if (rv != CKR_OK)
		return rv;
	key->handle = h;
	key->gen = t->gen;
	lru_push(t, key);
	return CKR_OK;
}

/* --- key objects --- */

static CK_RV key_parse(const uint8_t *data, size_t len, struct tpm_key *k)
{
	CK_RV rv = tpm2_blob_decode(data, len, &k->pub, &k->priv);

	if (rv == CKR_OK)
		rv = tpm2_public_check(&k->pub.publicArea, false);
	if (rv == CKR_OK)
		rv = tpm2_compute_name(&k->pub.publicArea, &k->name);
	if (rv != CKR_OK)
		return CKR_DATA_INVALID;
	if (k->pub.publicArea.type == TPM2_ALG_RSA)
		k->mod_len = k->pub.publicArea.unique.rsa.size;
	else
		k->coord_len = tpm2_curve_bytes(k->pub.publicArea.parameters.eccDetail.curveID);
	return CKR_OK;
}

CK_RV tpm2_key_public(struct tpm_backend *tb, const struct tpm_blob *blob, struct tpm_public *pub)
{
	struct tpm_key *k;
	CK_RV rv;

	(void)tb;
	if (!blob || !pub)
		return CKR_ARGUMENTS_BAD;
	k = calloc(1, sizeof(*k));
	if (!k)
		return CKR_HOST_MEMORY;
	rv = key_parse(blob->data, blob->len, k);
	if (rv == CKR_OK)
		tpm2_public_export(&k->pub.publicArea, pub);
	free(k);
	return rv;
}

CK_RV tpm2_key_open(struct tpm_backend *tb, const struct tpm_blob *blob,
		    const struct tpm_auth *auth, struct tpm_key **out)
{
	struct tpm_key *k;
	CK_RV rv;

	(void)tb;
	if (!blob || !auth || !out || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	k = calloc(1, sizeof(*k));
	if (!k)
		return CKR_HOST_MEMORY;
	rv = key_parse(blob->data, blob->len, k);
	if (rv != CKR_OK) {
		free(k);
		return rv;
	}
	k->auth = *auth;
	*out = k;
	return CKR_OK;
}

void tpm2_key_abandon(struct tpm_key *key)
{
	secret_free(key, sizeof(*key));
}

void tpm2_key_close(struct tpm_backend *tb, struct tpm_key *key)
{
	struct tpm2 *t = tpm2_of(tb);

	if (!key)
		return;
	lock_acquire(t->lock);
	if (key->handle) {
		if (key->gen == t->gen && !t->broken)
			tpm2_flush(t, key->handle);
		tpm2_key_unlink(t, key);
	}
	lock_release(t->lock);
	tpm2_key_abandon(key);
}

CK_RV tpm2_storage_key_name(struct tpm_backend *tb, struct tpm_blob *name)
{
	struct tpm2 *t = tpm2_of(tb);
	CK_RV rv;

	if (!name)
		return CKR_ARGUMENTS_BAD;
	lock_acquire(t->lock);
	rv = tpm2_conn_ready(t);
	if (rv == CKR_OK && !t->sk_known)
		rv = tpm2_storage_ready(t);
	if (rv == CKR_OK)
		rv = tpm_blob_copy(name, t->sk_name.name, t->sk_name.size);
	lock_release(t->lock);
	return rv;
}
