/* The TPM 2.0 backend: struct tpm_backend_ops over SAPI (libtss2-sys).
 *
 * No ESYS: its session crypto costs ~1.7 ms of client CPU per command with
 * OpenSSL 3 and runs in OpenSSL's default library context, where an
 * application's pkcs11 ENGINE can recurse into us. We do the session ourselves
 * (tpm2_session.c) in our private context. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>

#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

static void tpm2_free(struct tpm2 *t)
{
	free(t->tcti_conf);
	lock_free(t->lock);
	secret_free(t, sizeof(*t)); /* owner auth, session key */
}

static CK_RV tpm2_open(const struct tpmha_config *cfg, struct tpm_backend **out)
{
	struct tpm2 *t;
	TPML_TAGGED_TPM_PROPERTY props;
	TSS2_RC rc;
	CK_RV rv;

	if (!cfg || !out)
		return CKR_ARGUMENTS_BAD;
	rv = tpm2_crypto_init();
	if (rv != CKR_OK)
		return rv;
	t = calloc(1, sizeof(*t));
	if (!t)
		return CKR_HOST_MEMORY;
	t->base.ops = &tpm2_backend_ops;
	t->tcti_conf = strdup(cfg->tcti ? cfg->tcti : "device:/dev/tpmrm0");
	t->owner_auth = cfg->owner_auth;
	t->cfg_max_loaded = cfg->max_loaded_keys;
	if (!t->tcti_conf) {
		rv = CKR_HOST_MEMORY;
		goto fail;
	}
	rv = lock_new_fair(&t->lock);
	if (rv != CKR_OK)
		goto fail;
	rv = tpm2_connect(t);
	if (rv != CKR_OK)
		goto fail;
	/* A TPM nobody started (a bare simulator) answers TPM_RC_INITIALIZE. */
	rc = tpm2_get_props(t, TPM2_PT_FAMILY_INDICATOR, 1, &props);
	if (tpm2_rc_base(rc) == TPM2_RC_INITIALIZE) {
		LOGI("the TPM was not started; sending TPM2_Startup(CLEAR)");
		rc = Tss2_Sys_Startup(t->sys, TPM2_SU_CLEAR);
	}
	if (rc != TSS2_RC_SUCCESS) {
		rv = tpm2_rv(t, rc, "talking to the TPM");
		goto fail_conn;
	}
	rv = tpm2_query_info(t);
	if (rv == CKR_OK)
		rv = tpm2_query_caps(t);
	if (rv != CKR_OK)
		goto fail_conn;
	LOGI("TPM 2.0 by %s (%s), spec %s, firmware %u.%u, through TCTI \"%s\"",
	     t->info.manufacturer, t->info.vendor, t->info.spec, t->info.fw_major, t->info.fw_minor,
	     t->tcti_conf);
	*out = &t->base;
	return CKR_OK;
fail_conn:
	if (rv == CKR_DEVICE_ERROR && t->broken)
		LOGE("no usable TPM behind TCTI \"%s\"", t->tcti_conf);
	tpm2_disconnect(t, true);
fail:
	tpm2_free(t);
	return rv;
}

static void tpm2_close(struct tpm_backend *tb)
{
	struct tpm2 *t;
	TPM2_HANDLE old[64];
	size_t nold;

	if (!tb)
		return;
	t = tpm2_of(tb);
	lock_acquire(t->lock);
	/* Without a resource manager nobody else would ever flush our objects. */
	tpm2_forget_handles(t, old, &nold, sizeof(old) / sizeof(old[0]));
	if (t->sys && !t->broken)
		for (size_t i = 0; i < nold && !t->broken; i++)
			tpm2_flush(t, old[i]);
	tpm2_disconnect(t, true);
	lock_release(t->lock);
	tpm2_free(t);
}

static void tpm2_abandon(struct tpm_backend *tb)
{
	struct tpm2 *t;

	if (!tb)
		return;
	t = tpm2_of(tb);
	/* Memory only: Tss2_TctiLdr_Finalize could talk to the TPM or a resource
	 * manager the parent still uses, so the TCTI context is left behind. */
	tpm2_disconnect(t, false);
	tpm2_free(t); /* the keys are the caller's: key_abandon() each */
}

static CK_RV tpm2_get_info(struct tpm_backend *tb, struct tpm_info *out)
{
	struct tpm2 *t = tpm2_of(tb);

	if (!out)
		return CKR_ARGUMENTS_BAD;
	*out = t->info; /* read at open: none of it changes while the TPM runs */
	return CKR_OK;
}

static const struct tpm_caps *tpm2_get_caps(struct tpm_backend *tb)
{
	return &tpm2_of(tb)->caps;
}

static uint32_t prop(const TPML_TAGGED_TPM_PROPERTY *props, TPM2_PT pt)
{
	for (uint32_t i = 0; i < props->count && i < TPM2_MAX_TPM_PROPERTIES; i++)
		if (props->tpmProperty[i].property == pt)
			return props->tpmProperty[i].value;
	return 0;
}

static CK_RV tpm2_get_da_state(struct tpm_backend *tb, struct tpm_da_state *out)
{
	struct tpm2 *t = tpm2_of(tb);
	TPML_TAGGED_TPM_PROPERTY props;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	CK_RV rv;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	lock_acquire(t->lock);
	rv = tpm2_conn_ready(t);
	if (rv == CKR_OK) {
		rc = tpm2_get_props(t, TPM2_PT_PERMANENT, TPM2_PT_LOCKOUT_INTERVAL - TPM2_PT_PERMANENT + 1,
				    &props);
		rv = tpm2_rv(t, rc, "reading the TPM's dictionary-attack state");
	}
	lock_release(t->lock);
	if (rv != CKR_OK)
		return rv;
	out->failed_tries = prop(&props, TPM2_PT_LOCKOUT_COUNTER);
	out->max_tries = prop(&props, TPM2_PT_MAX_AUTH_FAIL);
	out->recovery_seconds = prop(&props, TPM2_PT_LOCKOUT_INTERVAL);
	out->locked = (prop(&props, TPM2_PT_PERMANENT) & TPMA_PERMANENT_INLOCKOUT) ||
		      (out->max_tries && out->failed_tries >= out->max_tries);
	return CKR_OK;
}

static CK_RV tpm2_random(struct tpm_backend *tb, uint8_t *out, size_t len)
{
	struct tpm2 *t = tpm2_of(tb);
	TPM2B_DIGEST bytes;
	CK_RV rv = CKR_OK;

	if (!out && len)
		return CKR_ARGUMENTS_BAD;
	lock_acquire(t->lock);
	while (len && rv == CKR_OK) {
		UINT16 want = (UINT16)(len < TPM2_RANDOM_CHUNK ? len : TPM2_RANDOM_CHUNK);
		struct tpm2_retry r = { 0 };
		TSS2_RC rc;

		do {
			/* no handle to authorize: the session only encrypts and checks */
			struct tpm2_cmd cmd = { .cc = TPM2_CC_GetRandom, .encrypt = true };

			bytes.size = 0;
			rv = tpm2_ready(t);
			if (rv != CKR_OK)
				break;
			rc = Tss2_Sys_GetRandom_Prepare(t->sys, want);
			if (rc == TSS2_RC_SUCCESS)
				rc = tpm2_session_exec(t, &t->sess, &cmd);
			if (rc == TSS2_RC_SUCCESS)
				rc = Tss2_Sys_GetRandom_Complete(t->sys, &bytes);
			tpm2_wipe_response(t);
		} while (tpm2_retry(t, &r, rc, NULL, false));
		if (rv != CKR_OK)
			break;
		rv = tpm2_rv(t, rc, "getting random bytes from the TPM");
		if (rv == CKR_OK && (bytes.size == 0 || bytes.size > want))
			rv = CKR_DEVICE_ERROR;
		if (rv == CKR_OK) {
			memcpy(out, bytes.buffer, bytes.size);
			out += bytes.size;
			len -= bytes.size;
		}
	}
	lock_release(t->lock);
	secret_wipe(&bytes, sizeof(bytes));
	return rv;
}

static CK_RV tpm2_stir_random(struct tpm_backend *tb, const uint8_t *in, size_t len)
{
	struct tpm2 *t = tpm2_of(tb);
	TPM2B_SENSITIVE_DATA data;
	CK_RV rv = CKR_OK;

	if (!in && len)
		return CKR_ARGUMENTS_BAD;
	lock_acquire(t->lock);
	while (len && rv == CKR_OK) {
		size_t n = len < 128 ? len : 128; /* TPM2_StirRandom takes up to 128 bytes */
		struct tpm2_retry r = { 0 };
		TSS2_RC rc;

		data.size = (UINT16)n;
		memcpy(data.buffer, in, n);
		do {
			struct tpm2_cmd cmd = { .cc = TPM2_CC_StirRandom, .decrypt = true };

			rv = tpm2_ready(t);
			if (rv != CKR_OK)
				break;
			rc = Tss2_Sys_StirRandom_Prepare(t->sys, &data);
			if (rc == TSS2_RC_SUCCESS)
				rc = tpm2_session_exec(t, &t->sess, &cmd);
			if (rc == TSS2_RC_SUCCESS)
				rc = Tss2_Sys_StirRandom_Complete(t->sys);
		} while (tpm2_retry(t, &r, rc, NULL, false));
		if (rv == CKR_OK)
			rv = tpm2_rv(t, rc, "stirring the TPM's random generator");
		in += n;
		len -= n;
	}
	lock_release(t->lock);
	secret_wipe(&data, sizeof(data));
	return rv;
}

const struct tpm_backend_ops tpm2_backend_ops = {
	.name = "tpm2",
	.open = tpm2_open,
	.close = tpm2_close,
	.abandon = tpm2_abandon,
	.get_info = tpm2_get_info,
	.get_caps = tpm2_get_caps,
	.get_da_state = tpm2_get_da_state,
	.random = tpm2_random,
	.stir_random = tpm2_stir_random,
	.storage_key_name = tpm2_storage_key_name,
	.seal_create = tpm2_seal_create,
	.seal_open = tpm2_seal_open,
	.key_generate = tpm2_key_generate,
	.key_import = tpm2_key_import,
	.key_public = tpm2_key_public,
	.key_open = tpm2_key_open,
	.key_close = tpm2_key_close,
	.key_abandon = tpm2_key_abandon,
	.rsa_sign_pkcs1 = tpm2_rsa_sign_pkcs1,
	.rsa_sign_pss = tpm2_rsa_sign_pss,
	.rsa_decrypt = tpm2_rsa_decrypt,
	.ecdsa_sign = tpm2_ecdsa_sign,
	.unit_identity = tpm2_unit_identity,
	.key_export = tpm2_key_export,
	.key_import_duplicate = tpm2_key_import_duplicate,
	.secret_wrap = tpm2_secret_wrap,
	.secret_unwrap = tpm2_secret_unwrap,
};
