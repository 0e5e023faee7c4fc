/* The TPM 1.2 backend: struct tpm_backend_ops over trousers' TSPI (libtspi), which
 * talks to a tcsd (cfg tcsd = host:port). This file: the connection, the one mapping
 * of TSS/TPM results to CK_RV, what the TPM is and can do, random numbers. */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>



#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm12_int.h"

#define TPM12_RANDOM_CHUNK 256

static const BYTE well_known[TPM12_DIGEST] = TSS_WELL_KNOWN_SECRET;

void tpm12_auth_digest(const struct tpm_auth *auth, uint8_t out[TPM12_DIGEST])
{
	if (hash_digest(HASH_SHA1, auth->value, auth->len, out) != CKR_OK)
		memset(out, 0xff, TPM12_DIGEST); /* never a usable auth: the TPM says no */
}

/* --- the lock --- */

void tpm12_lock(struct tpm12 *t)
{
	sigset_t block, pending;

	lock_acquire(t->lock);
	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &t->saved_mask);
	t->pipe_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

void tpm12_unlock(struct tpm12 *t)
{
	sigset_t pending, only;
	struct timespec zero = { 0, 0 };

	if (!t->pipe_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
		sigemptyset(&only);
		sigaddset(&only, SIGPIPE);
		sigtimedwait(&only, NULL, &zero); /* ours: a write to a tcsd that is gone */
	}
	pthread_sigmask(SIG_SETMASK, &t->saved_mask, NULL);
	lock_release(t->lock);
}

/* --- errors --- */

uint32_t tpm12_tpm_code(TSS_RESULT r)
{
	if (r == TSS_SUCCESS || ERROR_LAYER(r) != TSS_LAYER_TPM)
		return 0;
	return ERROR_CODE(r);
}

bool tpm12_is_comm_error(TSS_RESULT r)
{
	uint32_t code = ERROR_CODE(r);

	if (r == TSS_SUCCESS || ERROR_LAYER(r) == TSS_LAYER_TPM)
		return false;
	/* A tcsd restarted under us knows nothing of our TCS context. */
	return code == TSS_E_COMM_FAILURE || code == TSS_E_CONNECTION_FAILED ||
	       code == TSS_E_CONNECTION_BROKEN || code == TSS_E_NO_CONNECTION ||
	       code == TSS_E_TIMEOUT || code == TCS_E_INVALID_CONTEXTHANDLE;
}

CK_RV tpm12_rv(struct tpm12 *t, TSS_RESULT r, const char *what, unsigned pin)
{
	uint32_t code = tpm12_tpm_code(r);
	CK_RV rv;

	if (pin)
		tpm12_note_auth(t, r);
	if (r == TSS_SUCCESS)
		return CKR_OK;
	if (tpm12_is_comm_error(r)) {
		t->broken = true;
		LOGE("%s: the connection to tcsd at %s failed: %s (%s layer, 0x%x); reconnecting at the "
		     "next call", what, t->addr, Trspi_Error_String(r), Trspi_Error_Layer(r), r);
		return CKR_DEVICE_ERROR;
	}
	switch (code) {
	case TPM_E_AUTHFAIL:
	case TPM_E_AUTH2FAIL:
		if ((code == TPM_E_AUTHFAIL && (pin & TPM12_PIN_AUTH1)) ||
		    (code == TPM_E_AUTH2FAIL && (pin & TPM12_PIN_AUTH2))) {
			LOGW("%s: wrong authorization value (%s)", what, Trspi_Error_String(r));
			return CKR_PIN_INCORRECT;
		}
		LOGE("%s: the TPM refuses the owner or SRK authorization: owner_auth/srk_auth in the "
		     "configuration are not this TPM's (%s, 0x%x)", what, Trspi_Error_String(r), r);
		return CKR_DEVICE_ERROR;
	case TPM_E_DEFEND_LOCK_RUNNING:
		LOGW("%s: the TPM is in dictionary-attack lockout (%s)", what, Trspi_Error_String(r));
		return CKR_PIN_LOCKED;
	case TPM_E_NOSPACE:
	case TPM_E_RESOURCES:
		rv = CKR_DEVICE_MEMORY;
		break;
	case TPM_E_DECRYPT_ERROR:
	case TPM_E_BAD_DATASIZE:
		LOGD("%s: the TPM rejects the ciphertext (%s)", what, Trspi_Error_String(r));
		return CKR_ENCRYPTED_DATA_INVALID;
	case TPM_E_INVALID_KEYUSAGE:
	case TPM_E_INAPPROPRIATE_ENC:
	case TPM_E_BAD_SCHEME:
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		break;
	default:
		rv = ERROR_CODE(r) == TSS_E_OUTOFMEMORY && ERROR_LAYER(r) != TSS_LAYER_TPM ?
			     CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
		break;
	}
	LOGE("%s: %s (%s layer, code 0x%x, result 0x%x)", what, Trspi_Error_String(r),
	     Trspi_Error_Layer(r), (unsigned)ERROR_CODE(r), r);
	return rv;
}

/* --- buffers TSPI returns --- */

CK_RV tpm12_take(struct tpm12 *t, BYTE *p, UINT32 len, uint8_t *out, size_t cap, size_t *out_len)
{
	CK_RV rv = CKR_OK;

	if (!p && len)
		return CKR_DEVICE_ERROR;
	if (len > cap) {
		rv = CKR_DEVICE_ERROR;
	} else {
		if (len)
			memcpy(out, p, len);
		if (out_len)
			*out_len = len;
	}
	if (p) {
		secret_wipe(p, len);
		Tspi_Context_FreeMemory(t->ctx, p);
	}
	return rv;
}

CK_RV tpm12_take_blob(struct tpm12 *t, BYTE *p, UINT32 len, struct tpm_blob *out)
{
	CK_RV rv;

	if (!p || !len) {
		if (p)
			Tspi_Context_FreeMemory(t->ctx, p);
		return CKR_DEVICE_ERROR;
	}
	rv = tpm_blob_copy(out, p, len);
	Tspi_Context_FreeMemory(t->ctx, p);
	return rv;
}

/* --- connection --- */

TSS_RESULT tpm12_migdata(struct tpm12 *t, TSS_HMIGDATA *out)
{
	TSS_RESULT r = TSS_SUCCESS;

	if (!t->hmig)
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_MIGDATA, 0, &t->hmig);
	*out = t->hmig;
	return r;
}

TSS_RESULT tpm12_policy(struct tpm12 *t, const uint8_t *secret, TSS_HPOLICY *out)
{
	TSS_RESULT r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, out);

	if (r == TSS_SUCCESS)
		r = Tspi_Policy_SetSecret(*out, TSS_SECRET_MODE_SHA1, TPM12_DIGEST,
					  (BYTE *)(secret ? secret : well_known));
	return r;
}

/* A configured secret is what people type (tpm_takeownership without -y/-z): the
 * TPM's auth is its SHA-1 (TSS_SECRET_MODE_PLAIN). Unset: the well-known secret. */
static TSS_RESULT set_secret(TSS_HPOLICY pol, const struct config_secret *s)
{
	if (s->set)
		return Tspi_Policy_SetSecret(pol, TSS_SECRET_MODE_PLAIN, (UINT32)s->len, (BYTE *)s->value);
	return Tspi_Policy_SetSecret(pol, TSS_SECRET_MODE_SHA1, TPM12_DIGEST, (BYTE *)well_known);
}

TSS_RESULT tpm12_owner_policy(struct tpm12 *t)
{
	TSS_HPOLICY pol;
	TSS_RESULT r = Tspi_GetPolicyObject(t->htpm, TSS_POLICY_USAGE, &pol);

	if (r == TSS_SUCCESS)
		r = set_secret(pol, &t->owner_auth);
	return r;
}

static void drop_context(struct tpm12 *t, bool send)
{
	if (!t->ctx)
		return;
	if (send) {
		/* Frees every object and buffer of the context; tells tcsd if it is there. */
		Tspi_Context_FreeMemory(t->ctx, NULL);
		Tspi_Context_Close(t->ctx);
	}
	t->ctx = 0;
	t->htpm = 0;
	t->hsrk = 0;
	t->hhash = 0;
	t->hbind = 0;
	t->hmig = 0;
}

static pthread_mutex_t connect_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t connect_once = PTHREAD_ONCE_INIT;

/* A fork()ed child starts with the lock free, whatever a parent thread was doing. */
static void connect_lock_reset(void)
{
	pthread_mutex_init(&connect_lock, NULL);
}

static void connect_lock_setup(void)
{
	pthread_atfork(NULL, NULL, connect_lock_reset);
}

static CK_RV connect_tcsd(struct tpm12 *t)
{
	TSS_UUID srk_uuid = TSS_UUID_SRK;
	TSS_HPOLICY pol;
	TSS_RESULT r;
	char port[16];
	BYTE *host_u = NULL;
	unsigned host_len;
	CK_RV rv;

	r = Tspi_Context_Create(&t->ctx);
	if (r != TSS_SUCCESS) {
		t->ctx = 0;
		return tpm12_rv(t, r, "creating a TSPI context", 0);
	}
	/* trousers trap (3): libtspi has no API for the tcsd port; Tspi_Context_Connect
	 * reads TSS_TCSD_PORT from the environment at connect time (and the default
	 * 30003 without it). So the configured port goes there, each time, right
	 * before connecting (under our lock; another thread's getenv may race with it,
	 * which is why nothing else of ours reads it; one process-wide mutex keeps backends
	 * of several units from connecting to each other's tcsd). The host goes as the
	 * argument. */
	host_len = (unsigned)strlen(t->host) + 1;
	host_u = Trspi_Native_To_UNICODE((BYTE *)t->host, &host_len);
	if (!host_u) {
		rv = CKR_HOST_MEMORY;
		goto fail;
	}
	snprintf(port, sizeof(port), "%u", t->port);
	pthread_once(&connect_once, connect_lock_setup);
	pthread_mutex_lock(&connect_lock); /* backends for several tcsds in one process */
	setenv("TSS_TCSD_PORT", port, 1);
	r = Tspi_Context_Connect(t->ctx, (TSS_UNICODE *)host_u);
	pthread_mutex_unlock(&connect_lock);
	free(host_u);
	if (r != TSS_SUCCESS) {
		LOGE("cannot reach tcsd at %s: %s (%s layer, 0x%x)", t->addr, Trspi_Error_String(r),
		     Trspi_Error_Layer(r), r);
		rv = CKR_DEVICE_ERROR;
		goto fail;
	}
	r = Tspi_Context_GetTpmObject(t->ctx, &t->htpm);
	if (r == TSS_SUCCESS)
		r = tpm12_owner_policy(t);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_LoadKeyByUUID(t->ctx, TSS_PS_TYPE_SYSTEM, srk_uuid, &t->hsrk);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, &pol);
	if (r == TSS_SUCCESS)
		r = set_secret(pol, &t->srk_auth);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_AssignToObject(pol, t->hsrk);
	if (r != TSS_SUCCESS) {
		if (ERROR_CODE(r) == TSS_E_PS_KEY_NOTFOUND)
			LOGE("the TPM behind tcsd at %s has no SRK: take ownership first "
			     "(tpm_takeownership)", t->addr);
		rv = tpm12_rv(t, r, "loading the SRK", 0);
		goto fail;
	}
	t->broken = false;
	t->gen++;
	return CKR_OK;
fail:
	drop_context(t, true);
	return rv;
}

CK_RV tpm12_ready(struct tpm12 *t)
{
	CK_RV rv;

	if (t->ctx && !t->broken)
		return CKR_OK;
	/* Every handle of the old context is gone with it: keys reload from their
	 * blobs on their next use. */
	tpm12_forget_handles(t);
	drop_context(t, true);
	t->approval_known = false;
	rv = connect_tcsd(t);
	if (rv != CKR_OK) {
		t->broken = true;
		return rv;
	}
	LOGI("connected to tcsd at %s", t->addr);
	return CKR_OK;
}

/* --- what the TPM is --- */

static TSS_RESULT get_cap(struct tpm12 *t, TSS_FLAG cap, UINT32 sub, uint8_t *out, size_t cap_len,
			  size_t *len)
{
	UINT32 n = 0;
	BYTE *p = NULL;
	TSS_RESULT r = Tspi_TPM_GetCapability(t->htpm, cap, sizeof(sub), (BYTE *)&sub, &n, &p);

	if (r != TSS_SUCCESS)
		return r;
	if (tpm12_take(t, p, n, out, cap_len, len) != CKR_OK)
		return TSS_LAYER_TSP | TSS_E_INTERNAL_ERROR;
	return TSS_SUCCESS;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* TSPI answers property queries in host order (a UINT32 it converted). */
static uint32_t host32(const uint8_t *p, size_t len)
{
	UINT32 v = 0;

	if (len >= sizeof(v))
		memcpy(&v, p, sizeof(v));
	return v;
}

static CK_RV query_info(struct tpm12 *t)
{
	uint8_t buf[256];
	size_t n = 0;
	TSS_RESULT r;
	size_t k = 0;

	memset(&t->info, 0, sizeof(t->info));
	t->info.version = 12;
	r = get_cap(t, TSS_TPMCAP_PROPERTY, TSS_TPMCAP_PROP_MANUFACTURER, buf, sizeof(buf), &n);
	if (r != TSS_SUCCESS)
		return tpm12_rv(t, r, "asking the TPM for its manufacturer", 0);
	/* four ASCII characters as the TPM sent them (TSPI leaves this one unswapped) */
	for (size_t i = 0; i < 4 && i < n; i++)
		if (buf[i] > 0x20 && buf[i] < 0x7f)
			t->info.manufacturer[k++] = (char)buf[i];
	/* TPM_CAP_VERSION_VAL: TPM_CAP_VERSION_INFO, tag(2) version(4) specLevel(2)
	 * errataRev(1) tpmVendorID(4) vendorSpecificSize(2) vendorSpecific */
	r = get_cap(t, TSS_TPMCAP_VERSION_VAL, 0, buf, sizeof(buf), &n);
	if (r != TSS_SUCCESS)
		return tpm12_rv(t, r, "asking the TPM for its version", 0);
	if (n >= 15) {
		uint16_t level = be16(buf + 6), vs = be16(buf + 13);

		/* version: major minor revMajor revMinor (the firmware's revision) */
		t->info.fw_major = buf[4];
		t->info.fw_minor = buf[5];
		snprintf(t->info.spec, sizeof(t->info.spec), "%u.%u level %u errata %u", buf[2] % 10u,
			 buf[3] % 10u, level % 100u, buf[8] % 100u);
		k = 0;
		for (size_t i = 0; i < 4; i++)
			if (buf[9 + i] > 0x20 && buf[9 + i] < 0x7f)
				t->info.vendor[k++] = (char)buf[9 + i];
		for (size_t i = 0; i < vs && 15 + i < n && k + 1 < sizeof(t->info.vendor); i++)
			if (buf[15 + i] >= 0x20 && buf[15 + i] < 0x7f)
				t->info.vendor[k++] = (char)buf[15 + i];
		while (k && t->info.vendor[k - 1] == ' ')
			t->info.vendor[--k] = '\0';
	} else {
		snprintf(t->info.spec, sizeof(t->info.spec), "1.2");
	}
	return CKR_OK;
}

static CK_RV query_caps(struct tpm12 *t)
{
	struct tpm_caps *c = &t->caps;
	uint8_t buf[64];
	size_t n = 0;
	TSS_RESULT r;
	bool rsa;

	memset(c, 0, sizeof(*c));
	r = get_cap(t, TSS_TPMCAP_ALG, TSS_ALG_RSA, buf, sizeof(buf), &n);
	if (r != TSS_SUCCESS)
		return tpm12_rv(t, r, "asking the TPM for its algorithms", 0);
	rsa = n >= 1 && buf[0];
	/* Key size: TPM 1.2 must support RSA-2048 (Part 2, 5.11: 512 to 2048 bits are
	 * allowed, 2048 required and the only size storage keys and the SRK have);
	 * we make 2048-bit keys only, so that is the one size we report. Asking would
	 * mean generating keys of each size, 1-3 s each on real chips. */
	c->rsa_sizes = rsa ? TPM_RSA_2048 : 0;
	c->curves = 0;
	/* RSASSA-PKCS1-v1_5-DER signs any DigestInfo: the hash is the caller's */
	c->hashes = TPM_HASH_BIT(HASH_SHA1) | TPM_HASH_BIT(HASH_SHA256) | TPM_HASH_BIT(HASH_SHA384) |
		    TPM_HASH_BIT(HASH_SHA512);
	c->rsa_pkcs1_sign = rsa;
	c->rsa_pkcs1_sign_any = rsa;
	c->rsa_pss_sign = false;     /* no TPM 1.2 scheme; never emulated with the key outside */
	c->rsa_pkcs1_decrypt = rsa;  /* LEGACY keys with encScheme RSAES-PKCS1-v1_5 */
	c->oaep_hashes = 0;          /* standard OAEP never decrypts on TPM 1.2 */
	c->rsa_tcpa_oaep = rsa;      /* BIND keys (tpm_key_spec.tcpa_bind) */
	c->ecdsa = false;
	c->import_rsa = rsa;         /* keys without a domain (tpm12_key_import) */
	c->import_ec = false;
	c->migration = rsa;          /* CMKs: TPM_CMK_* are mandatory in TPM 1.2 */
	c->max_random = TPM12_RANDOM_CHUNK;

	r = get_cap(t, TSS_TPMCAP_PROPERTY, TSS_TPMCAP_PROP_SLOTS, buf, sizeof(buf), &n);
	t->slots = r == TSS_SUCCESS ? host32(buf, n) : 0;
	if (r != TSS_SUCCESS && tpm12_is_comm_error(r))
		return tpm12_rv(t, r, "asking the TPM for its key slots", 0);
	/* tcsd swaps keys in and out of the TPM's slots itself; our bound keeps what a
	 * process holds loaded (TCS handles, tcsd memory) in proportion. */
	if (t->cfg_max_loaded)
		t->max_loaded = t->cfg_max_loaded;
	else
		t->max_loaded = t->slots > 2 ? 2 * t->slots : 8;
	LOGD("TPM 1.2 caps: RSA %s; %u key slots, keeping up to %u keys loaded", rsa ? "yes" : "no",
	     t->slots, t->max_loaded);
	return CKR_OK;
}

/* --- open, close --- */

static void tpm12_free(struct tpm12 *t)
{
	free(t->host);
	free(t->store_dir);
	lock_free(t->lock);
	tpm12_key_clear(&t->unit_d);
	tpm12_key_clear(&t->unit_u);
	secret_free(t, sizeof(*t)); /* owner and SRK secrets */
}

static CK_RV tpm12_open(const struct tpmha_config *cfg, struct tpm_backend **out)
{
	struct tpm12 *t;
	CK_RV rv;

	if (!cfg || !out)
		return CKR_ARGUMENTS_BAD;
	rv = ossl_init();
	if (rv != CKR_OK)
		return rv;
	t = calloc(1, sizeof(*t));
	if (!t)
		return CKR_HOST_MEMORY;
	t->base.ops = &tpm12_backend_ops;
	t->host = strdup(cfg->tcsd_host ? cfg->tcsd_host : "127.0.0.1");
	t->port = cfg->tcsd_port ? cfg->tcsd_port : 30003;
	t->store_dir = cfg->store_dir ? strdup(cfg->store_dir) : NULL;
	t->owner_auth = cfg->owner_auth;
	t->srk_auth = cfg->srk_auth;
	t->cfg_max_loaded = cfg->max_loaded_keys;
	if (!t->host || (cfg->store_dir && !t->store_dir)) {
		rv = CKR_HOST_MEMORY;
		goto fail;
	}
	snprintf(t->addr, sizeof(t->addr), "%s:%u", t->host, t->port);
	rv = lock_new_fair(&t->lock);
	if (rv != CKR_OK)
		goto fail;
	rv = connect_tcsd(t);
	if (rv == CKR_OK)
		rv = query_info(t);
	if (rv == CKR_OK)
		rv = query_caps(t);
	if (rv != CKR_OK) {
		drop_context(t, true);
		goto fail;
	}
	LOGI("TPM 1.2 by %s (%s), spec %s, firmware %u.%u, through tcsd at %s", t->info.manufacturer,
	     t->info.vendor, t->info.spec, t->info.fw_major, t->info.fw_minor, t->addr);
	*out = &t->base;
	return CKR_OK;
fail:
	tpm12_free(t);
	return rv;
}

static void tpm12_close(struct tpm_backend *tb)
{
	struct tpm12 *t;

	if (!tb)
		return;
	t = tpm12_of(tb);
	tpm12_lock(t);
	tpm12_forget_handles(t);
	drop_context(t, true); /* tcsd evicts what the context loaded */
	tpm12_unlock(t);
	tpm12_free(t);
}

/* A fork()ed child leaves its TSPI context to the parent (closing it would close
 * the parent's TCS context in tcsd): kept reachable so a leak checker in the child
 * does not report it lost. */
static volatile TSS_HCONTEXT left_to_parent;

static void tpm12_abandon(struct tpm_backend *tb)
{
	struct tpm12 *t;

	if (!tb)
		return;
	t = tpm12_of(tb);
	left_to_parent = t->ctx;
	t->ctx = 0;
	t->unit_d.hkey = t->unit_u.hkey = 0;
	tpm12_free(t); /* the keys are the caller's: key_abandon() each */
}

static CK_RV tpm12_get_info(struct tpm_backend *tb, struct tpm_info *out)
{
	if (!out)
		return CKR_ARGUMENTS_BAD;
	*out = tpm12_of(tb)->info;
	return CKR_OK;
}

static const struct tpm_caps *tpm12_get_caps(struct tpm_backend *tb)
{
	return &tpm12_of(tb)->caps;
}

#ifdef HAVE_RPC_GETTPMCAPABILITY
/* trousers 0.3.x's Tspi_TPM_GetCapability refuses TSS_TPMCAP_DA_LOGIC (TSS_E_BAD_PARAMETER)
 * though the TPM answers it; libtspi exports the RPC underneath, which passes any
 * capability to tcsd. Undeclared: this is its signature in trousers 0.3.x
 * (src/include/rpc_tcstp_tsp.h); configure checks the symbol. Its answer is plain
 * malloc()ed memory, not the context's. */
extern TSS_RESULT RPC_GetTPMCapability(TSS_HCONTEXT ctx, TPM_CAPABILITY_AREA area, UINT32 sub_len,
				       BYTE *sub, UINT32 *resp_len, BYTE **resp);
#endif

/* What the last PIN check told us (the fallback without TPM_CAP_DA_LOGIC). */
void tpm12_note_auth(struct tpm12 *t, TSS_RESULT r)
{
	uint32_t code = tpm12_tpm_code(r);

	if (r == TSS_SUCCESS)
		t->seen_locked = false;
	else if (code == TPM_E_DEFEND_LOCK_RUNNING)
		t->seen_locked = true;
}

/* TPM_GetCapability(TPM_CAP_DA_LOGIC, TPM_ET_KEYHANDLE): TPM_DA_INFO (tag 0x37)
 *   tag(2) state(1) currentCount(2) thresholdCount(2) actionAtThreshold(tag 2,
 *   actions 4) actionDependValue(4) vendorDataSize(4) vendorData
 * or TPM_DA_INFO_LIMITED (tag 0x38) without the counts, when the TPM's
 * TPM_PERMANENT_FLAGS.disableFullDALogicInfo is set. Without it (an older libtspi),
 * counts are unknown (0 of 0: no "count low" flags) and "locked" is what the TPM
 * answered the last PIN check (TPM_DEFEND_LOCK_RUNNING). */
static CK_RV tpm12_get_da_state(struct tpm_backend *tb, struct tpm_da_state *out)
{
	struct tpm12 *t = tpm12_of(tb);
	uint8_t buf[128];
	size_t n = 0;
	CK_RV rv;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	memset(out, 0, sizeof(*out));
	tpm12_lock(t);
	rv = tpm12_ready(t);
	out->locked = t->seen_locked;
#ifdef HAVE_RPC_GETTPMCAPABILITY
	if (rv == CKR_OK) {
		BYTE sub[2] = { 0, TPM_ET_KEYHANDLE };
		BYTE *p = NULL;
		UINT32 len = 0;
		TSS_RESULT r = RPC_GetTPMCapability(t->ctx, TPM_CAP_DA_LOGIC, sizeof(sub), sub, &len, &p);

		if (r == TSS_SUCCESS) {
			n = len < sizeof(buf) ? len : sizeof(buf);
			memcpy(buf, p, n);
		} else if (tpm12_is_comm_error(r)) {
			rv = tpm12_rv(t, r, "reading the TPM's dictionary-attack state", 0);
		} else if (!t->da_warned) {
			LOGW("the TPM does not report its dictionary-attack state (TPM_CAP_DA_LOGIC: %s)",
			     Trspi_Error_String(r));
			t->da_warned = true;
		}
		free(p);
	}
#endif
	tpm12_unlock(t);
	if (rv != CKR_OK)
		return rv;
	if (n >= 21 && be16(buf) == 0x0037) {
		out->locked = buf[2] == 1; /* TPM_DA_STATE_ACTIVE: the lockout action runs */
		out->failed_tries = be16(buf + 3);
		/* TPM_DA_INFO.thresholdCount is the last failure the TPM still
		 * tolerates: the lockout comes with the one after it, and our
		 * max_tries is "lockout at this count" (TPM 2.0's maxTries). */
		out->max_tries = be16(buf + 5) + 1u;
		out->recovery_seconds = be32(buf + 13); /* seconds until the lockout ends */
	} else if (n >= 3 && be16(buf) == 0x0038) {
		out->locked = buf[2] == 1; /* limited: no counts */
	}
	return CKR_OK;
}

static CK_RV tpm12_random(struct tpm_backend *tb, uint8_t *out, size_t len)
{
	struct tpm12 *t = tpm12_of(tb);
	CK_RV rv = CKR_OK;

	if (!out && len)
		return CKR_ARGUMENTS_BAD;
	tpm12_lock(t);
	while (len && rv == CKR_OK) {
		UINT32 want = (UINT32)(len < TPM12_RANDOM_CHUNK ? len : TPM12_RANDOM_CHUNK);
		BYTE *p = NULL;
		size_t got = 0;
		TSS_RESULT r;

		rv = tpm12_ready(t);
		if (rv != CKR_OK)
			break;
		r = Tspi_TPM_GetRandom(t->htpm, want, &p);
		if (r != TSS_SUCCESS) {
			rv = tpm12_rv(t, r, "getting random bytes from the TPM", 0);
			break;
		}
		rv = tpm12_take(t, p, want, out, want, &got);
		out += got;
		len -= got;
	}
	tpm12_unlock(t);
	return rv;
}

static CK_RV tpm12_stir_random(struct tpm_backend *tb, const uint8_t *in, size_t len)
{
	struct tpm12 *t = tpm12_of(tb);
	CK_RV rv = CKR_OK;

	if (!in && len)
		return CKR_ARGUMENTS_BAD;
	tpm12_lock(t);
	while (len && rv == CKR_OK) {
		size_t n = len < 255 ? len : 255; /* TPM_StirRandom takes less than 256 bytes */
		TSS_RESULT r;

		rv = tpm12_ready(t);
		if (rv != CKR_OK)
			break;
		r = Tspi_TPM_StirRandom(t->htpm, (UINT32)n, (BYTE *)in);
		rv = tpm12_rv(t, r, "stirring the TPM's random generator", 0);
		in += n;
		len -= n;
	}
	tpm12_unlock(t);
	return rv;
}

const struct tpm_backend_ops tpm12_backend_ops = {
	.name = "tpm12",
	.open = tpm12_open,
	.close = tpm12_close,
	.abandon = tpm12_abandon,
	.get_info = tpm12_get_info,
	.get_caps = tpm12_get_caps,
	.get_da_state = tpm12_get_da_state,
	.random = tpm12_random,
	.stir_random = tpm12_stir_random,
	.storage_key_name = tpm12_storage_key_name,
	.seal_create = tpm12_seal_create,
	.seal_open = tpm12_seal_open,
	.key_generate = tpm12_key_generate,
	.key_import = tpm12_key_import,
	.key_public = tpm12_key_public,
	.key_open = tpm12_key_open,
	.key_close = tpm12_key_close,
	.key_abandon = tpm12_key_abandon,
	.rsa_sign_pkcs1 = tpm12_rsa_sign_pkcs1,
	.rsa_sign_pss = tpm12_rsa_sign_pss,
	.rsa_decrypt = tpm12_rsa_decrypt,
	.ecdsa_sign = tpm12_ecdsa_sign,
	.unit_identity = tpm12_unit_identity,
	.key_export = tpm12_key_export,
	.key_import_duplicate = tpm12_key_import_duplicate,
	.secret_wrap = tpm12_secret_wrap,
	.secret_unwrap = tpm12_secret_unwrap,
};
