/* The steps a unit takes, through the module's PKCS#11 ABI and vendor interface. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tests/migration/mig.h"

static const CK_BBOOL yes = CK_TRUE;

/* Did the store stay as it was? One TAP line (skipped without MIG_STORE). */
static void store_same(const uint8_t before[32], bool had, const char *what)
{
	uint8_t after[32];
	char counts[160];

	if (!getenv("MIG_STORE")) {
		t_skip("MIG_STORE is not set", "%s: the store is unchanged", what);
		return;
	}
	t_ok(had && store_digest(after, counts, sizeof(counts)) && memcmp(before, after, 32) == 0,
	     "%s: the store is unchanged (%s)", what, counts);
}

/* identity OUT LABEL */
int cmd_identity(int argc, char **argv, const struct expect *e)
{
	CK_ULONG n = 0;
	uint8_t *out = NULL;
	CK_RV rv;

	if (argc != 3)
		t_bail("usage: identity OUT LABEL");
	rv = V->TPMHA_GetUnitIdentity((CK_UTF8CHAR_PTR)argv[2], NULL, &n);
	if (rv == CKR_OK) {
		out = malloc(n);
		rv = out ? V->TPMHA_GetUnitIdentity((CK_UTF8CHAR_PTR)argv[2], out, &n) : CKR_HOST_MEMORY;
	}
	if (expect_check(e, rv, "TPMHA_GetUnitIdentity(\"%s\")", argv[2]) && rv == CKR_OK)
		file_write(argv[1], out, n);
	free(out);
	return 0;
}

/* init-token DOMAIN LABEL */
int cmd_init_token(int argc, char **argv, const struct expect *e)
{
	CK_UTF8CHAR label[32];
	CK_SLOT_ID slot = 0;
	CK_SESSION_HANDLE h;
	size_t len;
	uint8_t *domain;
	CK_RV rv;

	if (argc != 3)
		t_bail("usage: init-token DOMAIN LABEL");
	domain = file_read(argv[1], &len);
	p11t_label(label, argv[2]);
	rv = V->TPMHA_InitDomainToken(p11t_free_slot(), (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label, domain,
				      len, &slot);
	if (expect_check(e, rv, "TPMHA_InitDomainToken(\"%s\")", argv[2]) && rv == CKR_OK) {
		h = p11t_open(slot, true);
		p11t_login(h, CKU_SO, SO_PIN);
		t_rv(F->C_InitPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), CKR_OK, "C_InitPIN");
		F->C_CloseSession(h);
	}
	free(domain);
	return 0;
}

static void write_spki(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub, const char *dir, const char *name)
{
	EVP_PKEY *k = p11t_evp_public(h, pub);
	unsigned char *der = NULL;
	int len = k ? i2d_PUBKEY(k, &der) : -1;
	char path[1024];

	if (len <= 0)
		t_bail("%s: no public key to save", name);
	snprintf(path, sizeof(path), "%s/%s.spki", dir, name);
	file_write(path, der, (size_t)len);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

static void genkey(CK_SESSION_HANDLE h, bool rsa, const char *name, const char *dir)
{
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv = rsa ? p11t_gen_rsa(h, 2048, name, &pub, &priv) : p11t_gen_ec(h, p11t_p256, sizeof(p11t_p256), name, &pub, &priv);

	if (t_rv(rv, CKR_OK, "C_GenerateKeyPair: %s key pair \"%s\"", rsa ? "RSA-2048" : "P-256", name)) {
		t_ok(p11t_attr_bool(h, priv, CKA_EXTRACTABLE), "\"%s\": CKA_EXTRACTABLE in a domain token", name);
		write_spki(h, pub, dir, name);
	}
}

/* A certificate for the public key of pub, issued by a software key. */
static void add_certificate(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub, const char *id, const char *dir)
{
	EVP_PKEY *subject = p11t_evp_public(h, pub), *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new(), *issuer = X509_NAME_new();
	unsigned char *der = NULL;
	CK_OBJECT_CLASS klass = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_OBJECT_HANDLE o;
	char path[1024];
	int len;

	if (!subject || !ca || !x || !name || !issuer)
		t_bail("certificate: out of memory");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4711);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"tpmha HA service", -1, -1, 0);
	X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC, (const unsigned char *)"tpmha test CA", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, subject);
	X509_sign(x, ca, EVP_sha256());
	len = i2d_X509(x, &der);
	if (len <= 0)
		t_bail("certificate: cannot encode");
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &klass, sizeof(klass) }, { CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
			{ CKA_TOKEN, (void *)&yes, 1 }, { CKA_LABEL, "cert", 4 }, { CKA_ID, (void *)id, strlen(id) },
			{ CKA_VALUE, der, (CK_ULONG)len },
		};
		t_rv(F->C_CreateObject(h, t, 6, &o), CKR_OK, "C_CreateObject: certificate \"cert\" with CKA_ID \"%s\"", id);
	}
	snprintf(path, sizeof(path), "%s/cert.der", dir);
	file_write(path, der, (size_t)len);
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_NAME_free(issuer);
	X509_free(x);
	EVP_PKEY_free(subject);
	EVP_PKEY_free(ca);
}

/* populate LABEL DIR | genkey LABEL rsa|ec NAME DIR */
int cmd_populate(int argc, char **argv, const struct expect *e)
{
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE o;

	(void)e;
	if (strcmp(argv[0], "genkey") == 0) {
		if (argc != 5)
			t_bail("usage: genkey LABEL rsa|ec NAME DIR");
		h = mod_login(argv[1], USER_PIN);
		genkey(h, strcmp(argv[2], "rsa") == 0, argv[3], argv[4]);
		return 0;
	}
	if (argc != 3)
		t_bail("usage: populate LABEL DIR");
	h = mod_login(argv[1], USER_PIN);
	genkey(h, true, "rsa", argv[2]);
	genkey(h, false, "ec", argv[2]);
	o = p11t_find_label(h, CKO_PUBLIC_KEY, "rsa");
	if (o == CK_INVALID_HANDLE)
		t_bail("no public key \"rsa\"");
	add_certificate(h, o, "rsa", argv[2]);
	t_rv(p11t_data(h, "data-pub", true, false, &o), CKR_OK, "C_CreateObject: public data object");
	t_rv(p11t_data(h, "data-priv", true, true, &o), CKR_OK, "C_CreateObject: private data object");
	return 0;
}

/* add LABEL unit|approval FILE */
int cmd_add(int argc, char **argv, const struct expect *e)
{
	CK_OBJECT_CLASS klass;
	CK_OBJECT_HANDLE o;
	CK_SESSION_HANDLE h;
	uint8_t *file;
	size_t len;

	if (argc != 4)
		t_bail("usage: add LABEL unit|approval FILE");
	klass = strcmp(argv[2], "unit") == 0 ? CKO_TPMHA_UNIT : CKO_TPMHA_APPROVAL;
	file = file_read(argv[3], &len);
	h = mod_login(argv[1], USER_PIN);
	{
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_TOKEN, (void *)&yes, 1 },
				     { CKA_VALUE, file, len } };
		expect_check(e, F->C_CreateObject(h, t, 3, &o), "C_CreateObject(%s object from %s)", argv[2], argv[3]);
	}
	free(file);
	return 0;
}

/* Make a bundle (whole token when key is NULL), checking the store stays as it was
 * when the call fails. */
static void make_bundle(const char *label, const char *unit_path, const char *key, const char *out,
			const struct expect *e)
{
	CK_SESSION_HANDLE h = mod_login(label, USER_PIN);
	CK_OBJECT_HANDLE unit, k = CK_INVALID_HANDLE;
	CK_MECHANISM m = { CKM_TPMHA_MIGRATE, NULL, 0 };
	CK_ULONG len = 0;
	uint8_t *unit_file, *bundle = NULL, before[32];
	size_t unit_len;
	bool had = getenv("MIG_STORE") && store_digest(before, NULL, 0);
	CK_RV rv;

	unit_file = file_read(unit_path, &unit_len);
	unit = mod_unit_object(h, unit_file, unit_len);
	if (unit == CK_INVALID_HANDLE)
		t_bail("the token holds no unit object for %s", unit_path);
	if (key && (k = p11t_find_label(h, CKO_PRIVATE_KEY, key)) == CK_INVALID_HANDLE)
		t_bail("no private key \"%s\"", key);
	rv = key ? F->C_WrapKey(h, &m, unit, k, NULL, &len) : V->TPMHA_ReplicateToken(h, unit, NULL, &len);
	if (rv == CKR_OK) {
		bundle = malloc(len);
		rv = !bundle ? CKR_HOST_MEMORY :
		     key    ? F->C_WrapKey(h, &m, unit, k, bundle, &len) :
			      V->TPMHA_ReplicateToken(h, unit, bundle, &len);
	}
	if (expect_check(e, rv, "%s for %s", key ? "C_WrapKey(CKM_TPMHA_MIGRATE)" : "TPMHA_ReplicateToken",
			 unit_path) &&
	    rv == CKR_OK) {
		file_write(out, bundle, len);
		t_diag("bundle: %lu bytes", (unsigned long)len);
	}
	if (rv != CKR_OK)
		store_same(before, had, key ? "C_WrapKey refused" : "TPMHA_ReplicateToken refused");
	free(bundle);
	free(unit_file);
}

/* replicate LABEL UNIT OUT */
int cmd_replicate(int argc, char **argv, const struct expect *e)
{
	if (argc != 4)
		t_bail("usage: replicate LABEL UNIT OUT");
	make_bundle(argv[1], argv[2], NULL, argv[3], e);
	return 0;
}

/* wrap LABEL UNIT KEY OUT */
int cmd_wrap(int argc, char **argv, const struct expect *e)
{
	if (argc != 5)
		t_bail("usage: wrap LABEL UNIT KEY OUT");
	make_bundle(argv[1], argv[2], argv[3], argv[4], e);
	return 0;
}

/* receive BUNDLE [DOMAIN] */
int cmd_receive(int argc, char **argv, const struct expect *e)
{
	uint8_t *bundle, *domain = NULL, before[32];
	size_t len, dlen = 0;
	bool had;
	CK_SLOT_ID slot = 0;
	CK_RV rv;

	if (argc != 2 && argc != 3)
		t_bail("usage: receive BUNDLE [DOMAIN]");
	bundle = file_read(argv[1], &len);
	if (argc == 3)
		domain = file_read(argv[2], &dlen);
	had = getenv("MIG_STORE") && store_digest(before, NULL, 0);
	rv = V->TPMHA_ReceiveBundle(bundle, len, domain, dlen, &slot);
	expect_check(e, rv, "TPMHA_ReceiveBundle(%s%s%s)", argv[1], domain ? ", " : "", domain ? argv[2] : "");
	if (rv == CKR_OK) {
		CK_TOKEN_INFO ti;
		if (t_rv(F->C_GetTokenInfo(slot, &ti), CKR_OK, "the token is in slot %lu", (unsigned long)slot))
			t_diag("token \"%.32s\", serial %.16s", ti.label, ti.serialNumber);
	} else {
		store_same(before, had, "TPMHA_ReceiveBundle refused");
	}
	free(bundle);
	free(domain);
	return 0;
}

/* unwrap LABEL BUNDLE */
int cmd_unwrap(int argc, char **argv, const struct expect *e)
{
	CK_SESSION_HANDLE h;
	CK_MECHANISM m = { CKM_TPMHA_MIGRATE, NULL, 0 };
	CK_OBJECT_HANDLE unit, key = CK_INVALID_HANDLE;
	uint8_t *bundle, *me, before[32];
	size_t len, me_len;
	bool had;
	CK_RV rv;

	if (argc != 3)
		t_bail("usage: unwrap LABEL BUNDLE");
	bundle = file_read(argv[2], &len);
	h = mod_login(argv[1], USER_PIN);
	me = mod_identity(&me_len);
	unit = mod_unit_object(h, me, me_len);
	if (!t_ok(unit != CK_INVALID_HANDLE, "the token holds this unit's own unit object"))
		goto out;
	had = getenv("MIG_STORE") && store_digest(before, NULL, 0);
	rv = F->C_UnwrapKey(h, &m, unit, bundle, len, NULL, 0, &key);
	expect_check(e, rv, "C_UnwrapKey(CKM_TPMHA_MIGRATE, %s)", argv[2]);
	if (rv == CKR_OK) {
		CK_ULONG n = 0;
		uint8_t *label = p11t_attr(h, key, CKA_LABEL, &n);
		t_ok(p11t_attr_ulong(h, key, CKA_CLASS) == CKO_PRIVATE_KEY,
		     "the handle is a private key (\"%.*s\")", label ? (int)n : 0, label ? (char *)label : "");
		free(label);
	} else {
		store_same(before, had, "C_UnwrapKey refused");
	}
out:
	free(bundle);
	free(me);
	return 0;
}

static EVP_PKEY *read_spki(const char *dir, const char *name)
{
	char path[1024];
	size_t len;
	uint8_t *der;
	const unsigned char *p;
	EVP_PKEY *k;

	snprintf(path, sizeof(path), "%s/%s.spki", dir, name);
	der = file_read(path, &len);
	p = der;
	k = d2i_PUBKEY(NULL, &p, (long)len);
	free(der);
	if (!k)
		t_bail("%s is not a public key", path);
	return k;
}

/* The key pair name works here as the original, whose public key is in dir. */
static void key_works(CK_SESSION_HANDLE h, const char *dir, const char *name)
{
	EVP_PKEY *orig = read_spki(dir, name), *here = NULL;
	CK_OBJECT_HANDLE priv = p11t_find_label(h, CKO_PRIVATE_KEY, name);
	CK_OBJECT_HANDLE pub = p11t_find_label(h, CKO_PUBLIC_KEY, name);
	uint8_t data[64], digest[32], sig[512], ct[256], out[256];
	CK_ULONG sig_len = sizeof(sig), out_len = sizeof(out);
	bool rsa = EVP_PKEY_is_a(orig, "RSA");

	if (!t_ok(priv != CK_INVALID_HANDLE && pub != CK_INVALID_HANDLE, "\"%s\": private and public key here",
		  name))
		goto out;
	here = p11t_evp_public(h, pub);
	t_ok(here && EVP_PKEY_eq(here, orig) == 1, "\"%s\": the public key is the original's", name);
	RAND_bytes(data, sizeof(data));
	if (rsa) {
		CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
		CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
		CK_MECHANISM dm = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(orig, NULL);
		size_t ct_len = sizeof(ct);
		CK_RV rv;

		t_ok(p11t_sign(h, &m, priv, data, sizeof(data), sig, &sig_len) == CKR_OK &&
			     p11t_ossl_verify(orig, CKM_SHA256_RSA_PKCS, NULL, data, sizeof(data), sig, sig_len),
		     "\"%s\": signs (CKM_SHA256_RSA_PKCS); OpenSSL verifies with the original public key", name);
		if (!ctx || EVP_PKEY_encrypt_init(ctx) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_encrypt(ctx, ct, &ct_len, data, 32) != 1)
			t_bail("OpenSSL OAEP encryption");
		EVP_PKEY_CTX_free(ctx);
		rv = F->C_DecryptInit(h, &dm, priv);
		if (rv == CKR_OK)
			rv = F->C_Decrypt(h, ct, (CK_ULONG)ct_len, out, &out_len);
		t_ok(rv == CKR_OK && out_len == 32 && memcmp(out, data, 32) == 0,
		     "\"%s\": decrypts (CKM_RSA_PKCS_OAEP SHA-256) what OpenSSL encrypted to the original: %s", name,
		     ckr(rv));
	} else {
		CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
		EVP_Digest(data, sizeof(data), digest, NULL, EVP_sha256(), NULL);
		t_ok(p11t_sign(h, &m, priv, digest, sizeof(digest), sig, &sig_len) == CKR_OK &&
			     p11t_ossl_verify(orig, CKM_ECDSA, NULL, digest, sizeof(digest), sig, sig_len),
		     "\"%s\": signs (CKM_ECDSA); OpenSSL verifies with the original public key", name);
	}
out:
	EVP_PKEY_free(orig);
	EVP_PKEY_free(here);
}

static bool value_is(CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const char *label, const void *v, size_t len)
{
	CK_OBJECT_HANDLE o = p11t_find_label(h, klass, label);
	CK_ULONG n = 0;
	uint8_t *got = o != CK_INVALID_HANDLE ? p11t_attr(h, o, CKA_VALUE, &n) : NULL;
	bool same = got && n == len && memcmp(got, v, len) == 0;

	free(got);
	return same;
}

/* use LABEL DIR [KEY...] */
int cmd_use(int argc, char **argv, const struct expect *e)
{
	CK_SESSION_HANDLE h;

	(void)e;
	if (argc < 3)
		t_bail("usage: use LABEL DIR [KEY...]");
	h = mod_login(argv[1], USER_PIN);
	if (argc > 3) {
		for (int i = 3; i < argc; i++)
			key_works(h, argv[2], argv[i]);
		return 0;
	}
	key_works(h, argv[2], "rsa");
	key_works(h, argv[2], "ec");
	{
		char path[1024];
		size_t len;
		uint8_t *der;

		snprintf(path, sizeof(path), "%s/cert.der", argv[2]);
		der = file_read(path, &len);
		t_ok(value_is(h, CKO_CERTIFICATE, "cert", der, len), "the certificate is here, the same DER");
		free(der);
	}
	t_ok(value_is(h, CKO_DATA, "data-pub", "data value", 10), "the public data object is here");
	t_ok(value_is(h, CKO_DATA, "data-priv", "data value", 10), "the private data object is here, readable");
	return 0;
}

/* login LABEL PIN */
int cmd_login(int argc, char **argv, const struct expect *e)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (argc != 3)
		t_bail("usage: login LABEL PIN");
	slot = p11t_slot_by_label(argv[1]);
	h = p11t_open(slot, false);
	rv = F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2]));
	expect_check(e, rv, "C_Login(CKU_USER, \"%s\")", argv[2]);
	if (F->C_GetTokenInfo(slot, &ti) == CKR_OK)
		t_diag("token flags after it: 0x%lx%s%s%s", (unsigned long)ti.flags,
		       ti.flags & CKF_USER_PIN_COUNT_LOW ? " USER_PIN_COUNT_LOW" : "",
		       ti.flags & CKF_USER_PIN_FINAL_TRY ? " USER_PIN_FINAL_TRY" : "",
		       ti.flags & CKF_USER_PIN_LOCKED ? " USER_PIN_LOCKED" : "");
	if (rv == CKR_OK)
		F->C_Logout(h);
	F->C_CloseSession(h);
	return 0;
}
