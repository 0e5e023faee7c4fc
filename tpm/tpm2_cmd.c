/* The TPM connection: (re)connecting, mapping TPM errors to PKCS#11 return values,
 * deciding when a failed command is worth another try, and the plain (secret-free)
 * commands: capabilities, TestParms, FlushContext. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

CK_RV tpm2_connect(struct tpm2 *t)
{
	TSS2_RC rc;
	size_t size;

	rc = Tss2_TctiLdr_Initialize(t->tcti_conf, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		LOGE("cannot connect to the TPM through TCTI \"%s\": %s", t->tcti_conf,
		     Tss2_RC_Decode(rc));
		t->tcti = NULL;
		return CKR_DEVICE_ERROR;
	}
	size = Tss2_Sys_GetContextSize(0);
	t->sys = calloc(1, size);
	if (!t->sys) {
		Tss2_TctiLdr_Finalize(&t->tcti);
		return CKR_HOST_MEMORY;
	}
	rc = Tss2_Sys_Initialize(t->sys, size, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		LOGE("cannot set up a TSS2 SAPI context for TCTI \"%s\": %s", t->tcti_conf,
		     Tss2_RC_Decode(rc));
		free(t->sys);
		t->sys = NULL;
		Tss2_TctiLdr_Finalize(&t->tcti);
		return CKR_DEVICE_ERROR;
	}
	t->broken = false;
	t->gen++;
	return CKR_OK;
}

/* A fork()ed child leaves its TCTI context to the parent: kept reachable here so a
 * leak checker in the child does not report it lost. */
static TSS2_TCTI_CONTEXT *volatile left_to_parent;

void tpm2_disconnect(struct tpm2 *t, bool send)
{
	t->rp = NULL;
	t->rp_len = 0;
	if (t->sys) {
		if (send)
			Tss2_Sys_Finalize(t->sys);
		free(t->sys);
		t->sys = NULL;
	}
	if (t->tcti && send) {
		Tss2_TctiLdr_Finalize(&t->tcti);
	} else if (t->tcti) {
		left_to_parent = t->tcti;
	}
	t->tcti = NULL;
}

static bool is_comm_error(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	if (layer == TSS2_TCTI_RC_LAYER)
		return true;
	return rc == TSS2_SYS_RC_MALFORMED_RESPONSE || rc == TSS2_SYS_RC_INSUFFICIENT_RESPONSE ||
	       rc == TSS2_SYS_RC_INSUFFICIENT_CONTEXT;
}

TSS2_RC tpm2_rc_base(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	/* A resource manager passes TPM codes on in its own layer. */
	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return rc;
	rc &= 0xffff;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f);
	return rc;
}

CK_RV tpm2_rv(struct tpm2 *t, TSS2_RC rc, const char *what)
{
	CK_RV rv;

	if (rc == TSS2_RC_SUCCESS)
		return CKR_OK;
	if (is_comm_error(rc)) {
		t->broken = true;
		LOGE("%s: the TPM connection (TCTI \"%s\") failed: %s; reconnecting at the next call",
		     what, t->tcti_conf, Tss2_RC_Decode(rc));
		return CKR_DEVICE_ERROR;
	}
	switch (tpm2_rc_base(rc)) {
	case TPM2_RC_AUTH_FAIL:
	case TPM2_RC_BAD_AUTH:
		LOGW("%s: wrong authorization value (%s)", what, Tss2_RC_Decode(rc));
		return CKR_PIN_INCORRECT;
	case TPM2_RC_LOCKOUT:
		LOGW("%s: the TPM is in dictionary-attack lockout (%s)", what, Tss2_RC_Decode(rc));
		return CKR_PIN_LOCKED;
	case TPM2_RC_MEMORY:
	case TPM2_RC_OBJECT_MEMORY:
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_OBJECT_HANDLES:
	case TPM2_RC_SESSION_HANDLES:
		rv = CKR_DEVICE_MEMORY;
		break;
	case TPM2_RC_KEY_SIZE:
	case TPM2_RC_CURVE:
		rv = CKR_KEY_SIZE_RANGE;
		break;
	case TPM2_RC_HASH:
	case TPM2_RC_SCHEME:
		rv = CKR_MECHANISM_INVALID;
		break;
	case TPM2_RC_INTEGRITY:
		LOGE("%s: %s: the blob was not made for this TPM's storage key "
		     "(TPM cleared or replaced, or a blob from another unit)", what, Tss2_RC_Decode(rc));
		return CKR_DEVICE_ERROR;
	default:
		rv = CKR_DEVICE_ERROR;
		break;
	}
	LOGE("%s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
	return rv;
}

static void pause_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

bool tpm2_retry(struct tpm2 *t, struct tpm2_retry *r, TSS2_RC rc, struct tpm_key *busy,
		bool storage)
{
	TSS2_RC base = tpm2_rc_base(rc);

	if (rc == TSS2_RC_SUCCESS || ++r->attempts > 8)
		return false;
	if (is_comm_error(rc)) {
		t->broken = true;
		return false;
	}
	switch (base) {
	case TPM2_RC_RETRY:
	case TPM2_RC_YIELDED:
	case TPM2_RC_TESTING:
		pause_ms(5L * r->attempts);
		return true;
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_SESSION_HANDLES:
		return tpm2_flush_strangers(t, TPM2_LOADED_SESSION_FIRST) ||
		       tpm2_flush_strangers(t, TPM2_ACTIVE_SESSION_FIRST);
	case TPM2_RC_OBJECT_MEMORY:
		/* Leftovers of other connections first, then our own least recent key. */
		/* Not TPM2_TRANSIENT_FIRST: tss2's macro shifts an int 0x80 by 24 (undefined). */
		if (tpm2_flush_strangers(t, (TPM2_HC)TPM2_HT_TRANSIENT << TPM2_HR_SHIFT))
			return true;
		LOGD("the TPM is out of object slots (%u keys loaded); evicting one", t->nloaded);
		if (tpm2_evict_one(t, busy))
			return true;
		if (!storage && t->sk_handle) {
			tpm2_flush(t, t->sk_handle);
			t->sk_handle = 0;
			return true;
		}
		return false;
	case TPM2_RC_REFERENCE_S0:
		LOGI("the TPM lost our session; starting a new one");
		tpm2_session_forget(&t->sess);
		return true;
	case TPM2_RC_REFERENCE_H0:
	case TPM2_RC_REFERENCE_H1:
	case TPM2_RC_HANDLE:
		if ((rc & TPM2_RC_FMT1) && (rc & TPM2_RC_P))
			return false; /* a parameter, not a handle */
		if ((rc & TPM2_RC_FMT1) && (rc & TPM2_RC_S)) {
			tpm2_session_forget(&t->sess);
			return true;
		}
		/* The object went away under us (flushed by someone, TPM restarted):
		 * reload it. The first handle is the parent when the command needs the
		 * storage key, the key otherwise. */
		LOGI("a TPM object handle is no longer valid; reloading");
		if (storage)
			t->sk_handle = 0;
		else if (busy)
			tpm2_key_unlink(t, busy);
		else
			return false;
		return true;
	default:
		return false;
	}
}

/* Is this handle one of ours (storage key, a loaded key, our session)? */
static bool handle_is_ours(const struct tpm2 *t, TPM2_HANDLE h)
{
	if (h == t->sk_handle || h == t->sess.handle)
		return true;
	for (unsigned i = 0; i < t->ntmp; i++)
		if (t->tmp[i] == h)
			return true;
	for (const struct tpm_key *k = t->lru_newest; k; k = k->older)
		if (k->handle == h)
			return true;
	return false;
}

/* Flush what other connections left in the TPM. With no resource manager (a TCTI
 * straight to swtpm, mssim or /dev/tpm0) objects and sessions outlive the process
 * that made them, e.g. one that exited without C_Finalize, and fill the TPM's few
 * slots. A direct connection is exclusive, so whatever is not ours is a leftover;
 * behind a resource manager we only ever see our own handles and flush nothing. */
bool tpm2_flush_strangers(struct tpm2 *t, TPM2_HANDLE first)
{
	TPMS_CAPABILITY_DATA cap = { 0 };
	TPMI_YES_NO more = TPM2_NO;
	unsigned flushed = 0;
	TSS2_RC rc = Tss2_Sys_GetCapability(t->sys, NULL, TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES,
					    &more, &cap, NULL);

	if (rc != TSS2_RC_SUCCESS) {
		if (is_comm_error(rc))
			t->broken = true;
		return false;
	}
	for (UINT32 i = 0; i < cap.data.handles.count; i++) {
		TPM2_HANDLE h = cap.data.handles.handle[i];
		if ((h & TPM2_HR_RANGE_MASK) != (first & TPM2_HR_RANGE_MASK) || handle_is_ours(t, h))
			continue;
		if (tpm2_flush(t, h) == TSS2_RC_SUCCESS)
			flushed++;
	}
	if (flushed)
		LOGI("flushed %u handle(s) of type 0x%02x left in the TPM by other connections", flushed,
		     first >> TPM2_HR_SHIFT);
	return flushed > 0;
}

TSS2_RC tpm2_flush(struct tpm2 *t, TPM2_HANDLE h)
{
	TSS2_RC rc = Tss2_Sys_FlushContext(t->sys, h);

	if (rc != TSS2_RC_SUCCESS) {
		LOGD("flushing 0x%08x: %s", h, Tss2_RC_Decode(rc));
		if (is_comm_error(rc))
			t->broken = true;
	}
	return rc;
}

TSS2_RC tpm2_get_props(struct tpm2 *t, uint32_t first, uint32_t count, TPML_TAGGED_TPM_PROPERTY *out)
{
	TPMS_CAPABILITY_DATA cap;
	TPMI_YES_NO more = 0;
	TSS2_RC rc;

	rc = Tss2_Sys_GetCapability(t->sys, NULL, TPM2_CAP_TPM_PROPERTIES, first, count, &more, &cap,
				    NULL);
	if (rc == TSS2_RC_SUCCESS)
		*out = cap.data.tpmProperties;
	return rc;
}

static uint32_t prop_value(const TPML_TAGGED_TPM_PROPERTY *props, TPM2_PT pt, uint32_t dflt)
{
	for (uint32_t i = 0; i < props->count && i < TPM2_MAX_TPM_PROPERTIES; i++)
		if (props->tpmProperty[i].property == pt)
			return props->tpmProperty[i].value;
	return dflt;
}

/* Four ASCII characters packed big-endian in a property, NULs and spaces dropped. */
static size_t put_chars(char *out, size_t room, uint32_t v)
{
	size_t n = 0;

	for (int shift = 24; shift >= 0 && n + 1 < room; shift -= 8) {
		char c = (char)(v >> shift);
		if (c >= 0x20 && c < 0x7f)
			out[n++] = c;
	}
	out[n] = '\0';
	return n;
}

CK_RV tpm2_query_info(struct tpm2 *t)
{
	TPML_TAGGED_TPM_PROPERTY props;
	TSS2_RC rc;
	uint32_t rev, fw1;
	char family[5];
	size_t n = 0;

	rc = tpm2_get_props(t, TPM2_PT_FAMILY_INDICATOR, TPM2_PT_FIRMWARE_VERSION_2 - TPM2_PT_FIXED + 1,
			    &props);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_rv(t, rc, "reading the TPM's properties");
	memset(&t->info, 0, sizeof(t->info));
	t->info.version = 20;
	put_chars(t->info.manufacturer, sizeof(t->info.manufacturer),
		  prop_value(&props, TPM2_PT_MANUFACTURER, 0));
	/* keep a trailing space out: "IBM " reads better as "IBM" */
	for (TPM2_PT pt = TPM2_PT_VENDOR_STRING_1; pt <= TPM2_PT_VENDOR_STRING_4; pt++)
		n += put_chars(t->info.vendor + n, sizeof(t->info.vendor) - n, prop_value(&props, pt, 0));
	fw1 = prop_value(&props, TPM2_PT_FIRMWARE_VERSION_1, 0);
	t->info.fw_major = (uint16_t)(fw1 >> 16);
	t->info.fw_minor = (uint16_t)fw1;
	put_chars(family, sizeof(family), prop_value(&props, TPM2_PT_FAMILY_INDICATOR, 0));
	rev = prop_value(&props, TPM2_PT_REVISION, 0);
	snprintf(t->info.spec, sizeof(t->info.spec), "%s rev %u.%02u", family[0] ? family : "2.0",
		 (unsigned)(rev / 100 % 100), (unsigned)(rev % 100));
	return CKR_OK;
}

static bool rsa_size_ok(struct tpm2 *t, unsigned bits, TSS2_RC *fatal)
{
	TPMT_PUBLIC_PARMS parms = {
		.type = TPM2_ALG_RSA,
		.parameters.rsaDetail = {
			.symmetric.algorithm = TPM2_ALG_NULL,
			.scheme.scheme = TPM2_ALG_NULL,
			.keyBits = (TPMI_RSA_KEY_BITS)bits,
			.exponent = 0,
		},
	};
	TSS2_RC rc = Tss2_Sys_TestParms(t->sys, NULL, &parms, NULL);

	if (rc != TSS2_RC_SUCCESS && is_comm_error(rc))
		*fatal = rc;
	return rc == TSS2_RC_SUCCESS;
}

CK_RV tpm2_query_caps(struct tpm2 *t)
{
	TPMS_CAPABILITY_DATA cap;
	TPMI_YES_NO more = 1;
	TPM2_ALG_ID next = TPM2_ALG_FIRST;
	bool rsa = false, ecc = false, ecdsa = false, p256 = false, p384 = false;
	unsigned hashes = 0;
	struct tpm_caps *c = &t->caps;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	TPML_TAGGED_TPM_PROPERTY props;

	t->alg_rsassa = t->alg_rsapss = t->alg_rsaes = t->alg_oaep = t->alg_keyedhash = false;
	while (more) {
		rc = Tss2_Sys_GetCapability(t->sys, NULL, TPM2_CAP_ALGS, next, TPM2_MAX_CAP_ALGS, &more,
					    &cap, NULL);
		if (rc != TSS2_RC_SUCCESS)
			return tpm2_rv(t, rc, "asking the TPM for its algorithms");
		if (cap.data.algorithms.count == 0)
			break;
		for (uint32_t i = 0; i < cap.data.algorithms.count && i < TPM2_MAX_CAP_ALGS; i++) {
			TPM2_ALG_ID alg = cap.data.algorithms.algProperties[i].alg;
			enum hash_alg h = tpm2_hash_from_alg(alg);

			if (h != HASH_NONE)
				hashes |= TPM_HASH_BIT(h);
			rsa |= alg == TPM2_ALG_RSA;
			ecc |= alg == TPM2_ALG_ECC;
			t->alg_rsassa |= alg == TPM2_ALG_RSASSA;
			t->alg_rsapss |= alg == TPM2_ALG_RSAPSS;
			t->alg_rsaes |= alg == TPM2_ALG_RSAES;
			t->alg_oaep |= alg == TPM2_ALG_OAEP;
			t->alg_keyedhash |= alg == TPM2_ALG_KEYEDHASH;
			ecdsa |= alg == TPM2_ALG_ECDSA;
			next = (TPM2_ALG_ID)(alg + 1);
		}
	}
	if (ecc) {
		rc = Tss2_Sys_GetCapability(t->sys, NULL, TPM2_CAP_ECC_CURVES, TPM2_ECC_NONE,
					    TPM2_MAX_ECC_CURVES, &more, &cap, NULL);
		if (rc != TSS2_RC_SUCCESS)
			return tpm2_rv(t, rc, "asking the TPM for its curves");
		for (uint32_t i = 0; i < cap.data.eccCurves.count && i < TPM2_MAX_ECC_CURVES; i++) {
			p256 |= cap.data.eccCurves.eccCurves[i] == TPM2_ECC_NIST_P256;
			p384 |= cap.data.eccCurves.eccCurves[i] == TPM2_ECC_NIST_P384;
		}
	}

	memset(c, 0, sizeof(*c));
	if (rsa) {
		static const struct { unsigned bits, flag; } sizes[] = {
			{ 1024, TPM_RSA_1024 }, { 2048, TPM_RSA_2048 },
			{ 3072, TPM_RSA_3072 }, { 4096, TPM_RSA_4096 },
		};
		TSS2_RC fatal = TSS2_RC_SUCCESS;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (rsa_size_ok(t, sizes[i].bits, &fatal))
				c->rsa_sizes |= sizes[i].flag;
		if (fatal != TSS2_RC_SUCCESS)
			return tpm2_rv(t, fatal, "testing the TPM's RSA key sizes");
	}
	if (p256 && (hashes & TPM_HASH_BIT(HASH_SHA256)))
		c->curves |= 1u << TPM_CURVE_P256;
	if (p384 && (hashes & TPM_HASH_BIT(HASH_SHA384)))
		c->curves |= 1u << TPM_CURVE_P384;
	c->hashes = hashes;
	/* What the TPM lacks (RSASSA, RSAPSS, RSAES, OAEP, any hash for PSS/OAEP) we do
	 * on the host around a raw RSA_Decrypt, which every TPM 2.0 with RSA has. */
	c->rsa_pkcs1_sign = rsa && c->rsa_sizes;
	c->rsa_pkcs1_sign_any = c->rsa_pkcs1_sign;
	c->rsa_pss_sign = c->rsa_pkcs1_sign;
	c->rsa_pkcs1_decrypt = c->rsa_pkcs1_sign;
	if (c->rsa_pkcs1_sign)
		for (int h = HASH_SHA1; h < HASH_COUNT; h++)
			c->oaep_hashes |= TPM_HASH_BIT(h);
	c->rsa_tcpa_oaep = false;
	c->ecdsa = ecc && ecdsa && c->curves;
	c->import_rsa = c->rsa_pkcs1_sign;
	c->import_ec = ecc && c->curves;
	/* PolicyAuthorize/DuplicationSelect/CommandCode, Duplicate and Import are
	 * mandatory TPM 2.0 commands */
	c->migration = true;
	c->max_random = TPM2_RANDOM_CHUNK;
	if (!t->alg_keyedhash)
		LOGW("this TPM has no KEYEDHASH objects: PIN seals cannot be made");

	rc = tpm2_get_props(t, TPM2_PT_HR_TRANSIENT_AVAIL, 1, &props);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_rv(t, rc, "asking the TPM for its free object slots");
	t->transient_avail = prop_value(&props, TPM2_PT_HR_TRANSIENT_AVAIL, 3);
	if (t->cfg_max_loaded)
		t->max_loaded = t->cfg_max_loaded;
	else
		t->max_loaded = t->transient_avail > 2 ? t->transient_avail - 1 : 1;
	LOGD("TPM caps: rsa sizes 0x%x curves 0x%x hashes 0x%x; %u object slots free, "
	     "keeping up to %u keys loaded", c->rsa_sizes, c->curves, c->hashes,
	     t->transient_avail, t->max_loaded);
	return CKR_OK;
}
