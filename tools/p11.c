/* The module through its PKCS#11 function list: start and stop, tokens chosen by
 * label or serial, sessions and login, object searches and attributes — and the
 * error messages, which name the CK_RV and say what it means for an operator. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "tpmha/tpmha.h"
#include "module/admin.h"
#include "tools/cli.h"

/* ---- error messages ---- */

#define E(rv, text) { rv, #rv, text }
static const struct {
	CK_RV rv;
	const char *name;
	const char *explain;
} ckrs[] = {
	E(CKR_OK, "no error"),
	E(CKR_HOST_MEMORY, "out of memory"),
	E(CKR_SLOT_ID_INVALID, "no such slot (was the token deleted meanwhile?)"),
	E(CKR_GENERAL_ERROR, "an unexpected error in the module (its log says more)"),
	E(CKR_FUNCTION_FAILED, "the module could not do it (its log says why)"),
	E(CKR_ARGUMENTS_BAD, "the module refused the arguments"),
	E(CKR_CANT_LOCK, "the module cannot lock"),
	E(CKR_ATTRIBUTE_READ_ONLY, "an attribute may not be set here"),
	E(CKR_ATTRIBUTE_SENSITIVE, "the attribute is secret"),
	E(CKR_ATTRIBUTE_TYPE_INVALID, "an attribute does not belong to this kind of object"),
	E(CKR_ATTRIBUTE_VALUE_INVALID, "the token or the TPM does not accept a value (for example this key size)"),
	E(CKR_ACTION_PROHIBITED, "the object may not be changed or destroyed"),
	E(CKR_DATA_INVALID, "the data is malformed"),
	E(CKR_DEVICE_ERROR, "the TPM failed or could not be reached (check `tcti`, or `tcsd` for a TPM 1.2, in the configuration)"),
	E(CKR_DEVICE_MEMORY, "the TPM or the store is out of room"),
	E(CKR_DEVICE_REMOVED, "the TPM went away"),
	E(CKR_FUNCTION_NOT_SUPPORTED, "the module does not do this"),
	E(CKR_KEY_HANDLE_INVALID, "no such key"),
	E(CKR_KEY_SIZE_RANGE, "the TPM does not support this key size"),
	E(CKR_KEY_TYPE_INCONSISTENT, "the key type does not fit"),
	E(CKR_MECHANISM_INVALID, "the TPM cannot do this"),
	E(CKR_MECHANISM_PARAM_INVALID, "bad mechanism parameters"),
	E(CKR_OBJECT_HANDLE_INVALID, "the object is gone (deleted by another process?)"),
	E(CKR_PIN_INCORRECT, "wrong PIN (the TPM counted the failure)"),
	E(CKR_PIN_INVALID, "the PIN has characters the token does not accept"),
	E(CKR_PIN_LEN_RANGE, "the PIN is too short or too long"),
	E(CKR_PIN_EXPIRED, "the PIN has expired"),
	E(CKR_PIN_LOCKED, "the TPM is in dictionary-attack lockout"),
	E(CKR_SESSION_CLOSED, "the session was closed"),
	E(CKR_SESSION_COUNT, "too many sessions"),
	E(CKR_SESSION_HANDLE_INVALID, "the session is gone"),
	E(CKR_SESSION_READ_ONLY, "the session is read-only"),
	E(CKR_SESSION_EXISTS, "sessions are open on the token (close the applications using it)"),
	E(CKR_SESSION_READ_ONLY_EXISTS, "a read-only session is open"),
	E(CKR_SESSION_READ_WRITE_SO_EXISTS, "the SO is logged in on a read/write session"),
	E(CKR_TEMPLATE_INCOMPLETE, "the object description lacks an attribute"),
	E(CKR_TEMPLATE_INCONSISTENT, "the object description contradicts itself"),
	E(CKR_TOKEN_NOT_PRESENT, "the token is not there"),
	E(CKR_TOKEN_NOT_RECOGNIZED, "the token is not usable on this TPM (was the TPM cleared or replaced?)"),
	E(CKR_TOKEN_WRITE_PROTECTED, "the token is write-protected"),
	E(CKR_USER_ALREADY_LOGGED_IN, "already logged in"),
	E(CKR_USER_NOT_LOGGED_IN, "login needed"),
	E(CKR_USER_PIN_NOT_INITIALIZED, "the token has no user PIN yet"),
	E(CKR_USER_TYPE_INVALID, "no such user type"),
	E(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "another user is logged in"),
	E(CKR_BUFFER_TOO_SMALL, "a buffer was too small"),
	E(CKR_CRYPTOKI_NOT_INITIALIZED, "the module is not initialized"),
	E(CKR_CRYPTOKI_ALREADY_INITIALIZED, "the module is already initialized"),
	E(CKR_CURVE_NOT_SUPPORTED, "the TPM does not support this curve"),
	E(CKR_KEY_NOT_WRAPPABLE, "the migration authority has not approved that unit (tpmha domain approve, "
				 "then give the approval to tpmha replicate)"),
	E(CKR_KEY_UNEXTRACTABLE, "this token has no migration domain: its keys never leave this unit"),
	E(CKR_WRAPPED_KEY_INVALID, "the bundle is not for this unit, is from another domain, or was changed "
				   "on the way (the module's log says which)"),
	E(CKR_WRAPPED_KEY_LEN_RANGE, "the bundle is truncated or too large"),
	E(CKR_WRAPPING_KEY_HANDLE_INVALID, "no such unit object in the token"),
	E(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "the destination is not a unit object"),
	E(CKR_UNWRAPPING_KEY_HANDLE_INVALID, "not this unit's own unit object"),
	E(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, "the unwrapping key is not a unit object"),
	E(CKR_SIGNATURE_INVALID, "the signature does not verify"),
	E(CKR_DATA_LEN_RANGE, "the data is too long or too short"),
};
#undef E

const char *cli_rv_name(CK_RV rv)
{
	for (size_t i = 0; i < sizeof(ckrs) / sizeof(ckrs[0]); i++)
		if (ckrs[i].rv == rv)
			return ckrs[i].name;
	return NULL;
}

const char *cli_rv_explain(CK_RV rv)
{
	for (size_t i = 0; i < sizeof(ckrs) / sizeof(ckrs[0]); i++)
		if (ckrs[i].rv == rv)
			return ckrs[i].explain;
	return NULL;
}

/* After a wrong PIN, how close the TPM is to lockout; in lockout, when it ends. */
static void lockout_hint(struct cli *c, CK_RV rv)
{
	struct tpm_info info;
	struct tpm_da_state da;

	if (!c->p11_ready || tpmha_admin_tpm(&info, &da, NULL) != CKR_OK)
		return;
	fprintf(stderr, "tpmha: the TPM has counted %u failed authorizations (lockout at %u)",
		(unsigned)da.failed_tries, (unsigned)da.max_tries);
	if (rv == CKR_PIN_LOCKED || da.locked)
		fprintf(stderr, "; it forgets one every %u seconds, or its owner resets the count (%s)",
			(unsigned)da.recovery_seconds,
			info.version == 12 ? "tpm_resetdalock" : "tpm2_dictionarylockout --clear-lockout");
	fputc('\n', stderr);
}

int cli_fail_rv(struct cli *c, CK_RV rv, const char *fmt, ...)
{
	const char *name = cli_rv_name(rv), *explain = cli_rv_explain(rv);
	va_list ap;

	fputs("tpmha: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (name)
		fprintf(stderr, ": %s: %s\n", name, explain);
	else
		fprintf(stderr, ": CK_RV 0x%08lx: %s\n", (unsigned long)rv,
			rv & CKR_VENDOR_DEFINED ? "a tpmha-specific error (the module's log says more)" :
						  "an error this tool does not know");
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
		lockout_hint(c, rv);
	return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? CLI_PIN : CLI_FAILED;
}

/* Where the module writes what it knows about a failure (migration refusals say
 * there which check failed). */
void cli_log_hint(struct cli *c)
{
	const struct tpmha_config *cfg;

	if (!c->p11_ready || tpmha_admin_config(&cfg) != CKR_OK || !cfg->log_target)
		return;
	if (strncmp(cfg->log_target, "file:", 5) == 0)
		fprintf(stderr, "tpmha: the module's log (%s) says more\n", cfg->log_target + 5);
	else if (strcmp(cfg->log_target, "syslog") == 0)
		fprintf(stderr, "tpmha: the module's log (syslog) says more\n");
}

/* ---- the module ---- */

int cli_p11_start(struct cli *c)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	const char *conf = getenv(TPMHA_ENV_CONF);
	CK_RV rv;

	if (c->p11_ready)
		return CLI_OK;
	rv = C_GetFunctionList(&c->p11);
	if (rv == CKR_OK)
		rv = c->p11->C_Initialize(&args);
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot start the tpmha module with the configuration %s",
				   conf ? conf : config_default_path());
	c->p11_ready = true;
	return CLI_OK;
}

/* PKCS#11 3.0's CK_INTERFACE (p11-kit's header here predates it), and the module's
 * C_GetInterface: the CLI links the module's code, so it calls it directly. */
struct cli_interface {
	CK_UTF8CHAR *name;
	void *functions;
	CK_FLAGS flags;
};
CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct cli_interface **out,
		     CK_FLAGS flags);

int cli_vendor(struct cli *c, const TPMHA_FUNCTION_LIST **out)
{
	struct cli_interface *itf = NULL;
	CK_RV rv;
	int rc = cli_p11_start(c);

	if (rc != CLI_OK)
		return rc;
	rv = C_GetInterface((CK_UTF8CHAR_PTR)TPMHA_INTERFACE_NAME, NULL, &itf, 0);
	if (rv != CKR_OK || !itf || !itf->functions)
		return cli_fail_rv(c, rv != CKR_OK ? rv : CKR_GENERAL_ERROR,
				   "the module has no \"%s\" interface", TPMHA_INTERFACE_NAME);
	*out = itf->functions;
	return CLI_OK;
}

void cli_p11_stop(struct cli *c)
{
	if (c->p11_ready)
		c->p11->C_Finalize(NULL);
	c->p11_ready = false;
}

/* ---- tokens ---- */

static void unpad(char *out, const CK_UTF8CHAR *in, size_t n)
{
	memcpy(out, in, n);
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static int slot_list(struct cli *c, CK_SLOT_ID **out, CK_ULONG *count)
{
	CK_SLOT_ID *ids = NULL;
	CK_RV rv;

	/* Another process may add a token between the two calls: ask again. */
	do {
		free(ids);
		ids = NULL;
		rv = c->p11->C_GetSlotList(CK_FALSE, NULL, count);
		if (rv != CKR_OK)
			break;
		ids = calloc(*count + 1, sizeof(*ids));
		if (!ids)
			return cli_fail("out of memory");
		rv = c->p11->C_GetSlotList(CK_FALSE, ids, count);
	} while (rv == CKR_BUFFER_TOO_SMALL);
	if (rv != CKR_OK) {
		free(ids);
		return cli_fail_rv(c, rv, "cannot list the slots");
	}
	*out = ids;
	return CLI_OK;
}

int cli_tokens(struct cli *c, struct token_ref **out, size_t *count)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0;
	struct token_ref *t = NULL;
	int rc = slot_list(c, &ids, &n);

	*out = NULL;
	*count = 0;
	if (rc != CLI_OK)
		return rc;
	t = calloc(n + 1, sizeof(*t));
	if (!t) {
		rc = cli_fail("out of memory");
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		struct token_ref *r = &t[*count];
		CK_RV rv = c->p11->C_GetTokenInfo(ids[i], &r->info);
		if (rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_PRESENT)
			continue; /* deleted meanwhile */
		if (rv != CKR_OK) {
			rc = cli_fail_rv(c, rv, "cannot read the token information of slot %lu",
					 (unsigned long)ids[i]);
			goto out;
		}
		if (!(r->info.flags & CKF_TOKEN_INITIALIZED))
			continue; /* the free slot */
		r->slot = ids[i];
		unpad(r->label, r->info.label, sizeof(r->info.label));
		unpad(r->serial, r->info.serialNumber, sizeof(r->info.serialNumber));
		++*count;
	}
	*out = t;
	t = NULL;
out:
	free(t);
	free(ids);
	return rc;
}

int cli_token_choose(struct cli *c, struct token_ref *t)
{
	const char *label = cli_get(c, "token"), *serial = cli_get(c, "serial");
	struct token_ref *all = NULL;
	size_t n = 0, found = 0;
	int rc = cli_one_of(c, "token", "serial", true);

	if (rc == CLI_OK)
		rc = cli_p11_start(c);
	if (rc == CLI_OK)
		rc = cli_tokens(c, &all, &n);
	if (rc != CLI_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		bool match = label ? strcmp(all[i].label, label) == 0 : strcasecmp(all[i].serial, serial) == 0;
		if (match && found++ == 0)
			*t = all[i];
	}
	free(all);
	if (found == 0)
		return cli_fail("no token %s \"%s\" (see `tpmha token list`)",
				label ? "labelled" : "with serial", label ? label : serial);
	if (found > 1)
		return cli_fail("%zu tokens are labelled \"%s\": choose one with --serial", found, label);
	return CLI_OK;
}

/* ---- sessions ---- */

int cli_session_open(struct cli *c, const struct token_ref *t, bool rw, CK_SESSION_HANDLE *h)
{
	CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	CK_RV rv = c->p11->C_OpenSession(t->slot, flags, NULL, NULL, h);

	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot open a session on token \"%s\"", t->label);
	return CLI_OK;
}

void cli_session_close(struct cli *c, CK_SESSION_HANDLE h)
{
	if (!h || !c->p11_ready)
		return;
	c->p11->C_Logout(h); /* CKR_USER_NOT_LOGGED_IN is fine */
	c->p11->C_CloseSession(h);
}

int cli_login(struct cli *c, const struct token_ref *t, CK_SESSION_HANDLE h, CK_USER_TYPE who,
		  const struct pin *pin)
{
	CK_RV rv = c->p11->C_Login(h, who, (CK_UTF8CHAR_PTR)pin->value, pin->len);

	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot log in to token \"%s\" as %s", t->label,
				   who == CKU_SO ? "the SO" : "the user");
	return CLI_OK;
}

int cli_login_user(struct cli *c, const struct token_ref *t, CK_SESSION_HANDLE h)
{
	struct pin pin;
	char what[80];
	int rc;

	snprintf(what, sizeof(what), "user PIN of token \"%s\"", t->label);
	rc = cli_pin_get(c, "pin-file", "pin-env", what, false, &pin);
	if (rc == CLI_OK)
		rc = cli_login(c, t, h, CKU_USER, &pin);
	cli_pin_clear(&pin);
	return rc;
}

/* ---- objects ---- */

int cli_find(struct cli *c, CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n,
		 CK_OBJECT_HANDLE **out, size_t *count)
{
	CK_OBJECT_HANDLE *all = NULL;
	size_t cap = 0;
	CK_ULONG got;
	CK_RV rv = c->p11->C_FindObjectsInit(h, tmpl, n);

	*out = NULL;
	*count = 0;
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot search the token");
	do {
		if (*count + 64 > cap) {
			CK_OBJECT_HANDLE *more = realloc(all, (cap + 64) * sizeof(*all));
			if (!more) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			all = more;
			cap += 64;
		}
		rv = c->p11->C_FindObjects(h, all + *count, (CK_ULONG)(cap - *count), &got);
		if (rv == CKR_OK)
			*count += got;
	} while (rv == CKR_OK && got > 0);
	c->p11->C_FindObjectsFinal(h);
	if (rv != CKR_OK) {
		free(all);
		*count = 0;
		return cli_fail_rv(c, rv, "cannot search the token");
	}
	*out = all;
	return CLI_OK;
}

CK_RV cli_attr(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
	       uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = c->p11->C_GetAttributeValue(h, o, &a, 1);

	*val = NULL;
	*len = 0;
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	a.pValue = malloc(a.ulValueLen + 1);
	if (!a.pValue)
		return CKR_HOST_MEMORY;
	rv = c->p11->C_GetAttributeValue(h, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	((uint8_t *)a.pValue)[a.ulValueLen] = 0;
	*val = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

CK_ULONG cli_attr_ulong(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
			CK_ATTRIBUTE_TYPE type, CK_ULONG dflt)
{
	CK_ULONG v;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	return c->p11->C_GetAttributeValue(h, o, &a, 1) == CKR_OK && a.ulValueLen == sizeof(v) ? v : dflt;
}

/* ---- small helpers ---- */

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int cli_hex_parse(const struct cli *c, const char *opt, const char *text, uint8_t *out, size_t max,
	      size_t *len)
{
	const char *p = text;

	*len = 0;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	while (*p) {
		int hi = hex_digit(p[0]), lo = hi < 0 ? -1 : hex_digit(p[1]);
		if (lo < 0)
			return cli_usage(c, "--%s: '%s' is not hex bytes (like 01a2 or 01:a2)", opt, text);
		if (*len == max)
			return cli_usage(c, "--%s: at most %zu bytes", opt, max);
		out[(*len)++] = (uint8_t)(hi << 4 | lo);
		p += 2;
		if (*p == ':' && p[1])
			p++;
	}
	if (*len == 0)
		return cli_usage(c, "--%s: no bytes in '%s'", opt, text);
	return CLI_OK;
}

void cli_hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static const uint8_t p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t p384_oid[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

const char *cli_ec_name(const uint8_t *der, size_t len)
{
	if (len == sizeof(p256_oid) && memcmp(der, p256_oid, len) == 0)
		return "p256";
	if (len == sizeof(p384_oid) && memcmp(der, p384_oid, len) == 0)
		return "p384";
	return NULL;
}

const uint8_t *cli_ec_params(const char *name, size_t *len)
{
	if (strcmp(name, "p256") == 0) {
		*len = sizeof(p256_oid);
		return p256_oid;
	}
	if (strcmp(name, "p384") == 0) {
		*len = sizeof(p384_oid);
		return p384_oid;
	}
	return NULL;
}
