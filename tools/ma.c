/* The migration authority (MA): the key that approves which units a domain's keys
 * may go to. The CLI needs its public key (`domain create`) and its signature
 * (`domain approve`), from one of:
 *
 *  - a PKCS#11 module of its own (an HSM in production, SoftHSM in tests), loaded
 *    with dlopen — another module, not tpmha — and the key named by a PKCS#11 URI
 *    (RFC 7512: token, object, id, type; also serial, manufacturer, model). The private
 *    key never leaves that module;
 *  - a PEM file (low assurance: whoever reads the file can approve units), signed
 *    with OpenSSL in this process.
 *
 * Either way every signature is checked against the public key before it is used,
 * in software (tokens/soft.h: no EVP_PKEY_CTX). */
#include "config.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/rsa_pad.h"
#include "common/secret.h"
#include "tokens/attr.h"
#include "tokens/pubkey.h"
#include "tokens/soft.h"
#include "tools/cli.h"

struct ma {
	char desc[600];
	CK_KEY_TYPE key_type;
	struct attrs pub;     /* CKA_MODULUS/CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS/CKA_EC_POINT */
	uint8_t *spki;
	size_t spki_len;
	/* PKCS#11 */
	const char *module;
	void *dl;
	CK_FUNCTION_LIST *f;
	bool initialized;
	CK_SESSION_HANDLE h;
	bool logged_in;
	CK_OBJECT_HANDLE key;
	bool always_auth;     /* CKA_ALWAYS_AUTHENTICATE: the PIN again for every signature */
	struct pin pin;
	/* PEM */
	EVP_PKEY *pkey;
};

/* ---- PKCS#11 URIs (RFC 7512), the few attributes a key needs ---- */

struct uri {
	char token[33], serial[17], manufacturer[33], model[17], object[256];
	bool has_token, has_serial, has_manufacturer, has_model, has_object, has_id, has_type;
	uint8_t id[ID_MAX];
	size_t id_len;
	CK_OBJECT_CLASS klass;
};

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode [p, end) into out (max bytes); text values may hold no NUL. */
static bool pct_decode(const char *p, const char *end, uint8_t *out, size_t max, size_t *len, bool text)
{
	*len = 0;
	while (p < end) {
		int v = (unsigned char)*p;
		if (*p == '%') {
			int hi = end - p >= 3 ? hexval(p[1]) : -1, lo = hi >= 0 ? hexval(p[2]) : -1;
			if (lo < 0)
				return false;
			v = hi << 4 | lo;
			p += 3;
		} else {
			p++;
		}
		if (*len == max || (text && v == 0))
			return false;
		out[(*len)++] = (uint8_t)v;
	}
	return true;
}

static int uri_text(const struct cli *c, const char *name, const char *v, const char *end, char *out, size_t size,
		    bool *has)
{
	size_t len;

	if (*has)
		return cli_usage(c, "--ma-key: '%s' appears twice in the URI", name);
	if (!pct_decode(v, end, (uint8_t *)out, size - 1, &len, true))
		return cli_usage(c, "--ma-key: the URI's %s is malformed or longer than %zu bytes", name, size - 1);
	out[len] = '\0';
	*has = true;
	return CLI_OK;
}

static int uri_parse(const struct cli *c, const char *text, struct uri *u)
{
	const char *p = text + 7, *end;
	int rc = CLI_OK;

	memset(u, 0, sizeof(*u));
	if (strncmp(text, "pkcs11:", 7) != 0)
		return cli_usage(c, "--ma-key: '%s' is not a PKCS#11 URI (pkcs11:token=...;object=...)", text);
	if (strchr(text, '?')) {
		if (strstr(text, "pin-value") || strstr(text, "pin-source"))
			return cli_usage(c, "--ma-key: no PIN in the URI: PINs are never on the command line "
					    "(--ma-pin-file or --ma-pin-env)");
		return cli_usage(c, "--ma-key: URI query attributes are not supported (give the module with --ma-module)");
	}
	for (; rc == CLI_OK && *p; p = *end ? end + 1 : end) {
		const char *eq;
		size_t nlen;
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		if (end == p)
			continue;
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq)
			return cli_usage(c, "--ma-key: '%.*s' in the URI has no value", (int)(end - p), p);
		nlen = (size_t)(eq - p);
#define IS(name) (nlen == strlen(name) && strncmp(p, name, nlen) == 0)
		if (IS("token")) {
			rc = uri_text(c, "token", eq + 1, end, u->token, sizeof(u->token), &u->has_token);
		} else if (IS("serial")) {
			rc = uri_text(c, "serial", eq + 1, end, u->serial, sizeof(u->serial), &u->has_serial);
		} else if (IS("manufacturer")) {
			rc = uri_text(c, "manufacturer", eq + 1, end, u->manufacturer, sizeof(u->manufacturer),
				      &u->has_manufacturer);
		} else if (IS("model")) {
			rc = uri_text(c, "model", eq + 1, end, u->model, sizeof(u->model), &u->has_model);
		} else if (IS("object")) {
			rc = uri_text(c, "object", eq + 1, end, u->object, sizeof(u->object), &u->has_object);
		} else if (IS("id")) {
			if (u->has_id)
				return cli_usage(c, "--ma-key: 'id' appears twice in the URI");
			if (!pct_decode(eq + 1, end, u->id, sizeof(u->id), &u->id_len, false) || !u->id_len)
				return cli_usage(c, "--ma-key: the URI's id is malformed (percent-encoded bytes: %%01%%a2)");
			u->has_id = true;
		} else if (IS("type")) {
			char type[16];
			bool seen = false;
			rc = uri_text(c, "type", eq + 1, end, type, sizeof(type), &seen);
			if (rc == CLI_OK && strcmp(type, "private") != 0)
				return cli_usage(c, "--ma-key: the URI must name the private key (type=private, or no type), "
						    "not type=%s", type);
			u->has_type = true;
		} else {
			return cli_usage(c, "--ma-key: the URI attribute '%.*s' is not supported (token, serial, "
					    "manufacturer, model, object, id, type)", (int)nlen, p);
		}
#undef IS
	}
	if (rc == CLI_OK && !u->has_object && !u->has_id)
		rc = cli_usage(c, "--ma-key: the URI must name the key: object=LABEL and/or id=%%XX...");
	return rc;
}

/* ---- messages about the MA's module ---- */

static int p11_fail(const struct ma *m, CK_RV rv, const char *what)
{
	const char *name = cli_rv_name(rv);

	if (name)
		cli_fail("%s: %s (the migration authority's module %s)", what, name, m->module);
	else
		cli_fail("%s: CK_RV 0x%08lx (the migration authority's module %s)", what, (unsigned long)rv, m->module);
	return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? CLI_PIN : CLI_FAILED;
}

static void unpad(char *out, const CK_UTF8CHAR *in, size_t n)
{
	memcpy(out, in, n);
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* ---- the key in a PKCS#11 module ---- */

static CK_RV attr_get(struct ma *m, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = m->f->C_GetAttributeValue(m->h, o, &a, 1);

	*val = NULL;
	*len = 0;
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (!(a.pValue = malloc(a.ulValueLen)))
		return CKR_HOST_MEMORY;
	rv = m->f->C_GetAttributeValue(m->h, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

/* Objects of a class that match the URI's label and id (max 2: one is what we want). */
static CK_RV find(struct ma *m, const struct uri *u, CK_OBJECT_CLASS klass, CK_OBJECT_HANDLE *found,
		  CK_ULONG *n)
{
	CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &klass, sizeof(klass) } };
	CK_ULONG count = 1;
	CK_RV rv;

	if (u->has_object)
		tmpl[count++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)u->object, strlen(u->object) };
	if (u->has_id)
		tmpl[count++] = (CK_ATTRIBUTE){ CKA_ID, (void *)u->id, u->id_len };
	*n = 0;
	rv = m->f->C_FindObjectsInit(m->h, tmpl, count);
	if (rv != CKR_OK)
		return rv;
	rv = m->f->C_FindObjects(m->h, found, 2, n);
	m->f->C_FindObjectsFinal(m->h);
	return rv;
}

static int load_module(struct cli *c, struct ma *m)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	CK_RV rv;

	(void)c;
	m->dl = dlopen(m->module, RTLD_NOW | RTLD_LOCAL);
	if (!m->dl)
		return cli_fail("--ma-module: cannot load %s: %s", m->module, dlerror());
	*(void **)&get_list = dlsym(m->dl, "C_GetFunctionList");
	if (!get_list)
		return cli_fail("--ma-module: %s is not a PKCS#11 module (no C_GetFunctionList)", m->module);
	rv = get_list(&m->f);
	if (rv == CKR_OK)
		rv = m->f->C_Initialize(&args);
	if (rv != CKR_OK)
		return p11_fail(m, rv, "cannot initialize the migration authority's PKCS#11 module");
	m->initialized = true;
	return CLI_OK;
}

/* The one token the URI names. */
static int choose_token(struct ma *m, const struct uri *u, CK_SLOT_ID *slot, CK_TOKEN_INFO *info)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, matches = 0;
	CK_RV rv = m->f->C_GetSlotList(CK_TRUE, NULL, &n);
	int rc = CLI_OK;

	if (rv == CKR_OK && !(slots = calloc(n + 1, sizeof(*slots))))
		return cli_fail("out of memory");
	if (rv == CKR_OK)
		rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK) {
		rc = p11_fail(m, rv, "cannot list the tokens of the migration authority's module");
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char label[33], serial[17], manuf[33], model[17];
		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		unpad(label, ti.label, sizeof(ti.label));
		unpad(serial, ti.serialNumber, sizeof(ti.serialNumber));
		unpad(manuf, ti.manufacturerID, sizeof(ti.manufacturerID));
		unpad(model, ti.model, sizeof(ti.model));
		if ((u->has_token && strcmp(label, u->token) != 0) || (u->has_serial && strcmp(serial, u->serial) != 0) ||
		    (u->has_manufacturer && strcmp(manuf, u->manufacturer) != 0) ||
		    (u->has_model && strcmp(model, u->model) != 0))
			continue;
		if (matches++ == 0) {
			*slot = slots[i];
			*info = ti;
		}
	}
	if (matches == 0)
		rc = cli_fail("--ma-key: no token of %s matches the URI%s%s%s", m->module, u->has_token ? " (token=" : "",
			      u->has_token ? u->token : "", u->has_token ? ")" : "");
	else if (matches > 1)
		rc = cli_fail("--ma-key: %lu tokens of %s match the URI: name one with token= or serial=",
			      (unsigned long)matches, m->module);
out:
	free(slots);
	return rc;
}

/* The public key's attributes, from the private key or its public key object. */
static int read_public(struct ma *m, const struct uri *u)
{
	static const CK_ATTRIBUTE_TYPE rsa[] = { CKA_MODULUS, CKA_PUBLIC_EXPONENT };
	static const CK_ATTRIBUTE_TYPE ec[] = { CKA_EC_PARAMS, CKA_EC_POINT };
	const CK_ATTRIBUTE_TYPE *want = m->key_type == CKK_RSA ? rsa : ec;
	CK_OBJECT_HANDLE pubs[2], from = m->key;
	CK_ULONG npub = 0;
	uint8_t *v = NULL, *id = NULL;
	size_t len, id_len = 0;
	CK_RV rv = CKR_OK;

	for (int pass = 0; pass < 2; pass++) {
		bool ok = true;
		attrs_clear(&m->pub);
		for (int i = 0; ok && i < 2; i++) {
			rv = attr_get(m, from, want[i], &v, &len);
			ok = rv == CKR_OK && attrs_set(&m->pub, want[i], v, len) == CKR_OK;
			free(v);
			v = NULL;
		}
		if (ok || pass == 1)
			break;
		/* Not on the private key (CKA_EC_POINT never is, by the standard): its public
		 * key, by the private key's CKA_ID, or by the URI. */
		if (attr_get(m, m->key, CKA_ID, &id, &id_len) == CKR_OK) {
			struct uri by_id = { 0 };
			memcpy(by_id.id, id, id_len < sizeof(by_id.id) ? id_len : sizeof(by_id.id));
			by_id.id_len = id_len < sizeof(by_id.id) ? id_len : sizeof(by_id.id);
			by_id.has_id = true;
			rv = find(m, &by_id, CKO_PUBLIC_KEY, pubs, &npub);
		}
		if (rv == CKR_OK && npub != 1)
			rv = find(m, u, CKO_PUBLIC_KEY, pubs, &npub);
		free(id);
		id = NULL;
		if (rv != CKR_OK || npub != 1)
			return cli_fail("--ma-key: cannot read the public key of the migration authority: the private key "
					"does not show it and %s public key object has its CKA_ID",
					npub > 1 ? "more than one" : "no");
		from = pubs[0];
	}
	if (rv != CKR_OK)
		return p11_fail(m, rv, "cannot read the migration authority's public key");
	return CLI_OK;
}

static int open_pkcs11(struct cli *c, struct ma *m, const char *uri_text)
{
	CK_OBJECT_HANDLE keys[2];
	CK_TOKEN_INFO info = { 0 };
	CK_SLOT_ID slot = 0;
	CK_ULONG nkeys = 0;
	CK_BBOOL always = CK_FALSE;
	CK_ATTRIBUTE a[2] = {
		{ CKA_KEY_TYPE, &m->key_type, sizeof(m->key_type) },
		{ CKA_ALWAYS_AUTHENTICATE, &always, sizeof(always) },
	};
	char what[96], label[33];
	struct uri u;
	CK_RV rv;
	int rc = uri_parse(c, uri_text, &u);

	if (rc != CLI_OK)
		return rc;
	if ((rc = load_module(c, m)) != CLI_OK || (rc = choose_token(m, &u, &slot, &info)) != CLI_OK)
		return rc;
	unpad(label, info.label, sizeof(info.label));
	rv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &m->h);
	if (rv != CKR_OK)
		return p11_fail(m, rv, "cannot open a session on the migration authority's token");
	if (info.flags & CKF_LOGIN_REQUIRED) {
		bool pad = (info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) && !cli_has(c, "ma-pin-file") &&
			   !cli_has(c, "ma-pin-env");
		if (!pad) {
			snprintf(what, sizeof(what), "user PIN of the migration authority's token \"%s\"", label);
			if ((rc = cli_pin_get(c, "ma-pin-file", "ma-pin-env", what, false, &m->pin)) != CLI_OK)
				return rc;
		}
		rv = m->f->C_Login(m->h, CKU_USER, pad ? NULL : (CK_UTF8CHAR_PTR)m->pin.value, pad ? 0 : m->pin.len);
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
			snprintf(what, sizeof(what), "cannot log in to the migration authority's token \"%s\"", label);
			return p11_fail(m, rv, what);
		}
		m->logged_in = rv == CKR_OK;
	}
	rv = find(m, &u, CKO_PRIVATE_KEY, keys, &nkeys);
	if (rv != CKR_OK)
		return p11_fail(m, rv, "cannot search the migration authority's token");
	if (nkeys != 1)
		return cli_fail("--ma-key: %s private key in token \"%s\" matches %s", nkeys ? "more than one" : "no",
				label, uri_text);
	m->key = keys[0];
	rv = m->f->C_GetAttributeValue(m->h, m->key, a, 1);
	if (rv != CKR_OK)
		return p11_fail(m, rv, "cannot read the migration authority key's type");
	if (m->f->C_GetAttributeValue(m->h, m->key, &a[1], 1) == CKR_OK)
		m->always_auth = always == CK_TRUE;
	if (m->key_type != CKK_RSA && m->key_type != CKK_EC)
		return cli_fail("--ma-key: the migration authority key must be RSA-2048 or EC P-256");
	snprintf(m->desc, sizeof(m->desc), "%s in %s", uri_text, m->module);
	return read_public(m, &u);
}

/* ---- the key in a PEM file ---- */

struct pass_ctx {
	struct cli *c;
	const char *path;
	int rc;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_ctx *p = u;
	struct pin pin;
	char what[300];
	int n = -1;

	(void)rwflag;
	snprintf(what, sizeof(what), "pass phrase of %s", p->path);
	p->rc = cli_pin_get(p->c, "ma-pin-file", "ma-pin-env", what, false, &pin);
	if (p->rc == CLI_OK && (int)pin.len <= size) {
		memcpy(buf, pin.value, pin.len);
		n = (int)pin.len;
	}
	cli_pin_clear(&pin);
	return n;
}

static int bn_attr(EVP_PKEY *pk, const char *param, struct attrs *a, CK_ATTRIBUTE_TYPE type)
{
	BIGNUM *bn = NULL;
	uint8_t v[512];
	int n = -1;

	if (EVP_PKEY_get_bn_param(pk, param, &bn) == 1 && BN_num_bytes(bn) <= (int)sizeof(v))
		n = BN_bn2bin(bn, v);
	BN_free(bn);
	return n > 0 && attrs_set(a, type, v, (CK_ULONG)n) == CKR_OK ? CLI_OK : cli_fail("cannot read the key");
}

static int open_pem(struct cli *c, struct ma *m, const char *path)
{
	struct pass_ctx pc = { c, path, CLI_OK };
	uint8_t *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int rc = cli_file_read("ma-key-file", path, CLI_SMALL_FILE_MAX, &data, &len);

	if (rc != CLI_OK)
		return rc;
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio)
		m->pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, pass_cb, &pc, ossl_libctx(), NULL);
	if (!m->pkey) {
		rc = pc.rc != CLI_OK ? pc.rc : cli_fail("--ma-key-file: no private key in %s (PEM), or a wrong pass phrase", path);
		goto out;
	}
	if (EVP_PKEY_is_a(m->pkey, "RSA")) {
		m->key_type = CKK_RSA;
		if ((rc = bn_attr(m->pkey, OSSL_PKEY_PARAM_RSA_N, &m->pub, CKA_MODULUS)) != CLI_OK ||
		    (rc = bn_attr(m->pkey, OSSL_PKEY_PARAM_RSA_E, &m->pub, CKA_PUBLIC_EXPONENT)) != CLI_OK)
			goto out;
	} else if (EVP_PKEY_is_a(m->pkey, "EC")) {
		char group[32] = "";
		BIGNUM *x = NULL, *y = NULL;
		uint8_t point[65] = { 0x04 };
		size_t plen = 0;
		const uint8_t *params = cli_ec_params("p256", &plen);
		m->key_type = CKK_EC;
		if (EVP_PKEY_get_utf8_string_param(m->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1 ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
			rc = cli_fail("--ma-key-file: the migration authority key is on curve %s: it must be RSA-2048 or "
				      "EC P-256", group[0] ? group : "(unknown)");
			goto out;
		}
		if (EVP_PKEY_get_bn_param(m->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
		    EVP_PKEY_get_bn_param(m->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
		    BN_bn2binpad(x, point + 1, 32) != 32 || BN_bn2binpad(y, point + 33, 32) != 32 ||
		    attrs_set(&m->pub, CKA_EC_PARAMS, params, plen) != CKR_OK ||
		    attrs_set(&m->pub, CKA_EC_POINT, point, sizeof(point)) != CKR_OK)
			rc = cli_fail("--ma-key-file: cannot read the EC key in %s", path);
		BN_free(x);
		BN_free(y);
		if (rc != CLI_OK)
			goto out;
	} else {
		rc = cli_fail("--ma-key-file: the migration authority key must be RSA-2048 or EC P-256");
		goto out;
	}
	snprintf(m->desc, sizeof(m->desc), "in the file %s", path);
	fprintf(stderr, "tpmha: note: the migration authority's private key is a file on this machine (low "
			"assurance: whoever can read %s can approve units)\n", path);
out:
	BIO_free(bio);
	cli_file_free(data, len);
	return rc;
}

/* ---- both ---- */

/* The SubjectPublicKeyInfo, and the sizes the file format allows. */
static int finish_public(struct ma *m)
{
	struct soft_key k;
	EVP_PKEY *pk = NULL;
	char what[700];
	CK_RV rv = soft_key_from_attrs(&m->pub, m->key_type, &k);

	if (rv == CKR_CURVE_NOT_SUPPORTED || (rv == CKR_OK && m->key_type == CKK_EC && k.curve != TPM_CURVE_P256))
		return cli_fail("the migration authority key is not on P-256: it must be RSA-2048 or EC P-256 "
				"(docs/formats.md: what both TPM versions verify)");
	if (rv != CKR_OK)
		return cli_fail("the migration authority's public key is not a valid %s key",
				m->key_type == CKK_RSA ? "RSA" : "EC");
	if (m->key_type == CKK_RSA && k.bits != 2048)
		return cli_fail("the migration authority key is RSA-%u: it must be RSA-2048 or EC P-256 (a TPM 1.2 "
				"verifies MA signatures with RSA-2048 only; a TPM 2.0 takes either)", k.bits);
	rv = pubkey_from_attrs(&m->pub, m->key_type, &pk);
	if (rv == CKR_OK)
		rv = pubkey_spki(pk, &m->spki, &m->spki_len);
	EVP_PKEY_free(pk);
	if (rv != CKR_OK)
		return cli_fail("cannot encode the migration authority's public key");
	snprintf(what, sizeof(what), "%s key %s", m->key_type == CKK_RSA ? "RSA-2048" : "EC P-256", m->desc);
	memcpy(m->desc, what, sizeof(m->desc));
	m->desc[sizeof(m->desc) - 1] = '\0';
	return CLI_OK;
}

int ma_open(struct cli *c, struct ma **out)
{
	const char *uri = cli_get(c, "ma-key"), *file = cli_get(c, "ma-key-file");
	struct ma *m;
	int rc = cli_one_of(c, "ma-key", "ma-key-file", true);

	*out = NULL;
	if (rc != CLI_OK)
		return rc;
	if (uri && !cli_has(c, "ma-module"))
		return cli_usage(c, "--ma-key needs --ma-module (the PKCS#11 module that holds the key)");
	if (file && cli_has(c, "ma-module"))
		return cli_usage(c, "--ma-module goes with --ma-key, not with --ma-key-file");
	if (ossl_init() != CKR_OK)
		return cli_fail("cannot set up OpenSSL");
	m = calloc(1, sizeof(*m));
	if (!m)
		return cli_fail("out of memory");
	m->module = cli_get(c, "ma-module");
	rc = uri ? open_pkcs11(c, m, uri) : open_pem(c, m, file);
	if (rc == CLI_OK)
		rc = finish_public(m);
	if (rc != CLI_OK) {
		ma_close(m);
		return rc;
	}
	*out = m;
	return CLI_OK;
}

const uint8_t *ma_spki(const struct ma *m, size_t *len)
{
	*len = m->spki_len;
	return m->spki;
}

const char *ma_describe(const struct ma *m)
{
	return m->desc;
}

static CK_MECHANISM_TYPE rsa_mech(enum hash_alg hash)
{
	switch (hash) {
	case HASH_SHA1: return CKM_SHA1_RSA_PKCS;
	case HASH_SHA256: return CKM_SHA256_RSA_PKCS;
	case HASH_SHA384: return CKM_SHA384_RSA_PKCS;
	case HASH_SHA512: return CKM_SHA512_RSA_PKCS;
	default: return CK_UNAVAILABLE_INFORMATION;
	}
}

static int sign_pkcs11(struct ma *m, const uint8_t *msg, size_t len, enum hash_alg hash, uint8_t *sig,
		       size_t *sig_len)
{
	uint8_t digest[HASH_MAX_SIZE];
	CK_MECHANISM mech = { m->key_type == CKK_RSA ? rsa_mech(hash) : CKM_ECDSA, NULL, 0 };
	const uint8_t *data = msg;
	CK_ULONG dlen = len, n = *sig_len;
	CK_RV rv;

	if (m->key_type == CKK_EC) {
		if (hash_digest(hash, msg, len, digest) != CKR_OK)
			return cli_fail("cannot hash the message");
		data = digest;
		dlen = hash_size(hash);
	}
	rv = m->f->C_SignInit(m->h, &mech, m->key);
	if (rv == CKR_OK && m->always_auth)
		rv = m->f->C_Login(m->h, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)m->pin.value, m->pin.len);
	if (rv == CKR_OK)
		rv = m->f->C_Sign(m->h, (CK_BYTE_PTR)data, dlen, sig, &n);
	if (rv != CKR_OK)
		return p11_fail(m, rv, "the migration authority could not sign");
	*sig_len = n;
	return CLI_OK;
}

static int sign_pem(struct ma *m, const uint8_t *msg, size_t len, enum hash_alg hash, uint8_t *sig,
		    size_t *sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[600];
	size_t n = sizeof(der);
	int rc = CLI_FAILED;

	if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, hash_name(hash), ossl_libctx(), NULL, m->pkey, NULL) != 1 ||
	    EVP_DigestSign(ctx, der, &n, msg, len) != 1)
		goto out;
	if (m->key_type == CKK_RSA) {
		if (n > *sig_len)
			goto out;
		memcpy(sig, der, n);
		*sig_len = n;
	} else {
		/* DER Ecdsa-Sig-Value → r || s, as PKCS#11 and the approval format have it. */
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		bool ok = es && *sig_len >= 64 && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
			  BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32;
		ECDSA_SIG_free(es);
		if (!ok)
			goto out;
		*sig_len = 64;
	}
	rc = CLI_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rc == CLI_OK ? rc : cli_fail("the migration authority key (file) could not sign");
}

/* The signature against the public key, in software. */
static int verify(const struct ma *m, const uint8_t *msg, size_t len, enum hash_alg hash, const uint8_t *sig,
		  size_t sig_len)
{
	uint8_t info[HASH_MAX_SIZE + 32], digest[HASH_MAX_SIZE];
	size_t prefix_len = 0;
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(hash, &prefix_len);
	struct soft_key k;
	CK_RV rv = soft_key_from_attrs(&m->pub, m->key_type, &k);

	if (rv == CKR_OK)
		rv = hash_digest(hash, msg, len, digest);
	if (rv == CKR_OK && m->key_type == CKK_RSA) {
		if (!prefix || prefix_len + hash_size(hash) > sizeof(info))
			return cli_fail("no DigestInfo for this hash");
		memcpy(info, prefix, prefix_len);
		memcpy(info + prefix_len, digest, hash_size(hash));
		rv = soft_verify_pkcs1(&k, info, prefix_len + hash_size(hash), sig, sig_len);
	} else if (rv == CKR_OK) {
		rv = soft_verify_ecdsa(&k, digest, hash_size(hash), sig, sig_len);
	}
	if (rv != CKR_OK)
		return cli_fail("the migration authority's signature does not verify with its public key "
				"(is the public key object the private key's pair?)");
	return CLI_OK;
}

int ma_sign(struct cli *c, struct ma *m, const uint8_t *msg, size_t len, enum hash_alg hash, uint8_t *sig,
	    size_t *sig_len)
{
	int rc;

	(void)c;
	if (m->key_type == CKK_RSA && rsa_mech(hash) == CK_UNAVAILABLE_INFORMATION)
		return cli_fail("the migration authority cannot sign with this hash");
	rc = m->pkey ? sign_pem(m, msg, len, hash, sig, sig_len) : sign_pkcs11(m, msg, len, hash, sig, sig_len);
	if (rc == CLI_OK)
		rc = verify(m, msg, len, hash, sig, *sig_len);
	return rc;
}

void ma_close(struct ma *m)
{
	if (!m)
		return;
	if (m->f && m->h) {
		if (m->logged_in)
			m->f->C_Logout(m->h);
		m->f->C_CloseSession(m->h);
	}
	if (m->initialized)
		m->f->C_Finalize(NULL);
	/* No dlclose(): some modules (SoftHSM with OpenSSL 3) leave exit handlers behind
	 * that would run after their code is unmapped. The process ends soon anyway. */
	EVP_PKEY_free(m->pkey);
	attrs_clear(&m->pub);
	OPENSSL_free(m->spki);
	cli_pin_clear(&m->pin);
	free(m);
}
