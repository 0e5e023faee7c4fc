/* `tpmha key import` and `tpmha cert import|delete`: PEM or DER files read with
 * OpenSSL (in tpmha's own library context) and handed to the token as PKCS#11
 * templates. A private key's components exist here only between reading the file
 * and C_CreateObject; every buffer that held them is wiped. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/ossl.h"
#include "common/secret.h"
#include "tools/cli.h"

#define FILE_MAX (1024 * 1024)
#define SHA1_LEN 20

/* The whole file in memory (wiped by file_free()); read() only, no stdio buffer. */
struct file {
	uint8_t *data;
	size_t len;
};

static void file_free(struct file *f)
{
	secret_free(f->data, f->len);
	f->data = NULL;
	f->len = 0;
}

static int file_read(const char *path, struct file *f)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = CLI_OK;
	ssize_t n;

	f->len = 0;
	f->data = malloc(FILE_MAX);
	if (!f->data)
		return cli_fail("out of memory");
	if (fd < 0) {
		rc = cli_fail("--file: cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	while (f->len < FILE_MAX && (n = read(fd, f->data + f->len, FILE_MAX - f->len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cli_fail("--file: cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		f->len += (size_t)n;
	}
	if (f->len == FILE_MAX)
		rc = cli_fail("--file: %s is larger than %d bytes", path, FILE_MAX);
out:
	if (fd >= 0)
		close(fd);
	if (rc != CLI_OK) {
		secret_free(f->data, FILE_MAX);
		f->data = NULL;
		f->len = 0;
	}
	return rc;
}

/* "key" from "/some/dir/key.pem": the default label. */
static void file_stem(const char *path, char *out, size_t size)
{
	char copy[4096], *base, *dot;

	snprintf(copy, sizeof(copy), "%s", path);
	base = basename(copy);
	dot = strrchr(base, '.');
	if (dot && dot != base)
		*dot = '\0';
	snprintf(out, size, "%s", base);
}

/* ---- key material ---- */

static int bn_bytes(const BIGNUM *bn, size_t pad, bool secret, uint8_t **out, size_t *len)
{
	size_t n = pad ? pad : (size_t)BN_num_bytes(bn);

	*out = secret ? OPENSSL_secure_malloc(n ? n : 1) : malloc(n ? n : 1);
	if (!*out)
		return -1;
	*len = n;
	if (BN_bn2binpad(bn, *out, (int)n) < 0)
		return -1;
	return 0;
}

/* 04 || X || Y wrapped in a DER OCTET STRING, as CKA_EC_POINT holds it. */
static int ec_point_der(EVP_PKEY *pk, uint8_t *out, size_t *len)
{
	BIGNUM *x = NULL, *y = NULL;
	size_t coord = (size_t)(EVP_PKEY_get_bits(pk) + 7) / 8;
	int ok = coord > 0 && coord <= 66 && 1 + 2 * coord < 128 &&
		 EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
		 EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;

	if (ok) {
		out[0] = 0x04;
		out[1] = (uint8_t)(1 + 2 * coord);
		out[2] = 0x04;
		ok = BN_bn2binpad(x, out + 3, (int)coord) >= 0 && BN_bn2binpad(y, out + 3 + coord, (int)coord) >= 0;
		*len = 3 + 2 * coord;
	}
	BN_free(x);
	BN_free(y);
	return ok ? 0 : -1;
}

/* The CKA_ID tpmha gives a generated key: SHA-1 of CKA_MODULUS or CKA_EC_POINT.
 * Imported keys and certificates get the same, so they pair up by ID. */
static int pubkey_id(EVP_PKEY *pk, uint8_t id[SHA1_LEN])
{
	uint8_t buf[520], *n = NULL;
	size_t len = 0;
	BIGNUM *bn = NULL;
	int rc = -1;

	if (EVP_PKEY_is_a(pk, "RSA")) {
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn) == 1 && bn_bytes(bn, 0, false, &n, &len) == 0)
			rc = hash_digest(HASH_SHA1, n, len, id) == CKR_OK ? 0 : -1;
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		if (ec_point_der(pk, buf, &len) == 0)
			rc = hash_digest(HASH_SHA1, buf, len, id) == CKR_OK ? 0 : -1;
	}
	BN_free(bn);
	free(n);
	return rc;
}

/* One attribute of the key, and whether it goes into each template. */
struct part {
	CK_ATTRIBUTE_TYPE type;
	uint8_t *p;
	size_t len;
	bool secret, in_priv, in_pub;
};

struct key_parts {
	CK_KEY_TYPE type;
	char name[16]; /* "rsa:2048", "ec:p256" */
	struct part v[8];
	size_t n;
	uint8_t id[SHA1_LEN];
};

static void key_parts_clear(struct key_parts *k)
{
	for (size_t i = 0; i < k->n; i++) {
		if (k->v[i].secret)
			OPENSSL_secure_clear_free(k->v[i].p, k->v[i].len);
		else
			free(k->v[i].p);
	}
	secret_wipe(k, sizeof(*k));
}

/* A public part (EC parameters or point), copied. */
static int part_add(struct key_parts *k, CK_ATTRIBUTE_TYPE type, const void *p, size_t len, bool in_priv,
		    bool in_pub)
{
	uint8_t *copy = malloc(len);

	if (!copy)
		return -1;
	memcpy(copy, p, len);
	k->v[k->n++] = (struct part){ type, copy, len, false, in_priv, in_pub };
	return 0;
}

static int part_add_bn(struct key_parts *k, EVP_PKEY *pk, const char *param, CK_ATTRIBUTE_TYPE type,
		       size_t pad, bool secret)
{
	BIGNUM *bn = NULL;
	struct part *v = &k->v[k->n];
	int rc = -1;

	*v = (struct part){ type, NULL, 0, secret, true, !secret };
	if (EVP_PKEY_get_bn_param(pk, param, &bn) == 1 && bn_bytes(bn, pad, secret, &v->p, &v->len) == 0)
		rc = 0;
	if (v->p)
		k->n++; /* cleared by key_parts_clear() even when incomplete */
	BN_clear_free(bn);
	return rc;
}

static int rsa_parts(EVP_PKEY *pk, struct key_parts *k)
{
	static const struct {
		const char *param;
		CK_ATTRIBUTE_TYPE type;
		bool secret;
	} rsa[] = {
		{ OSSL_PKEY_PARAM_RSA_N, CKA_MODULUS, false },
		{ OSSL_PKEY_PARAM_RSA_E, CKA_PUBLIC_EXPONENT, false },
		{ OSSL_PKEY_PARAM_RSA_D, CKA_PRIVATE_EXPONENT, true },
		{ OSSL_PKEY_PARAM_RSA_FACTOR1, CKA_PRIME_1, true },
		{ OSSL_PKEY_PARAM_RSA_FACTOR2, CKA_PRIME_2, true },
		{ OSSL_PKEY_PARAM_RSA_EXPONENT1, CKA_EXPONENT_1, true },
		{ OSSL_PKEY_PARAM_RSA_EXPONENT2, CKA_EXPONENT_2, true },
		{ OSSL_PKEY_PARAM_RSA_COEFFICIENT1, CKA_COEFFICIENT, true },
	};

	k->type = CKK_RSA;
	snprintf(k->name, sizeof(k->name), "rsa:%d", EVP_PKEY_get_bits(pk));
	for (size_t i = 0; i < sizeof(rsa) / sizeof(rsa[0]); i++)
		if (part_add_bn(k, pk, rsa[i].param, rsa[i].type, 0, rsa[i].secret) != 0)
			return cli_fail("the RSA key lacks %s (only full private keys with both primes can be imported)",
					rsa[i].param);
	return CLI_OK;
}

static int ec_parts(EVP_PKEY *pk, struct key_parts *k)
{
	char group[64] = "";
	const char *curve = NULL;
	const uint8_t *params;
	uint8_t point[3 + 2 * 66];
	size_t params_len = 0, point_len = 0;

	EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL);
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		curve = "p256";
	else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		curve = "p384";
	if (!curve)
		return cli_fail("the EC key is on curve %s; tpmha keys are on P-256 or P-384", group[0] ? group : "(unnamed)");
	k->type = CKK_EC;
	snprintf(k->name, sizeof(k->name), "ec:%s", curve);
	params = cli_ec_params(curve, &params_len);
	/* The point goes to the public key object only: the token derives the private
	 * key's public half from CKA_VALUE. */
	if (part_add(k, CKA_EC_PARAMS, params, params_len, true, true) != 0 ||
	    part_add_bn(k, pk, OSSL_PKEY_PARAM_PRIV_KEY, CKA_VALUE, (size_t)(EVP_PKEY_get_bits(pk) + 7) / 8,
			true) != 0 ||
	    ec_point_der(pk, point, &point_len) != 0 ||
	    part_add(k, CKA_EC_POINT, point, point_len, false, true) != 0)
		return cli_fail("cannot take the EC key apart");
	return CLI_OK;
}

static int key_read(const char *path, struct key_parts *k)
{
	struct file f = { 0 };
	EVP_PKEY *pk = NULL;
	OSSL_DECODER_CTX *dctx = NULL;
	const unsigned char *p;
	size_t left;
	int rc = file_read(path, &f);

	if (rc != CLI_OK)
		return rc;
	/* Any input (PEM or DER) and structure (PKCS#8, PKCS#1, SEC1). */
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pk, NULL, NULL, NULL, EVP_PKEY_KEYPAIR, ossl_libctx(), NULL);
	p = f.data;
	left = f.len;
	if (!dctx || OSSL_DECODER_from_data(dctx, &p, &left) != 1 || !pk) {
		rc = cli_fail("--file: no private key in %s (PEM or DER, RSA or EC, not encrypted: "
			      "`openssl pkey -in FILE -out PLAIN` decrypts one)", path);
		goto out;
	}
	if (EVP_PKEY_is_a(pk, "RSA"))
		rc = rsa_parts(pk, k);
	else if (EVP_PKEY_is_a(pk, "EC"))
		rc = ec_parts(pk, k);
	else
		rc = cli_fail("--file: the key in %s is a %s key; tpmha takes RSA and EC keys", path,
			      EVP_PKEY_get0_type_name(pk));
	if (rc == CLI_OK && pubkey_id(pk, k->id) != 0)
		rc = cli_fail("cannot compute the key's ID");
out:
	OSSL_DECODER_CTX_free(dctx);
	EVP_PKEY_free(pk); /* OpenSSL clears private key material on free */
	file_free(&f);
	return rc;
}

/* ---- key import ---- */

#define ADD(arr, n, t, p, l) ((arr)[(n)++] = (CK_ATTRIBUTE){ (t), (void *)(p), (l) })

static int create_pair(struct cli *c, CK_SESSION_HANDLE h, const struct key_parts *k, const char *label,
		       const uint8_t *id, size_t id_len)
{
	static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const CK_OBJECT_CLASS priv_class = CKO_PRIVATE_KEY, pub_class = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE qt[20], pt[12];
	CK_ULONG nq = 0, np = 0;
	CK_OBJECT_HANDLE priv, pub;
	CK_RV rv;

	ADD(qt, nq, CKA_CLASS, &priv_class, sizeof(priv_class));
	ADD(qt, nq, CKA_TOKEN, &yes, sizeof(yes));
	ADD(qt, nq, CKA_PRIVATE, &yes, sizeof(yes));
	ADD(qt, nq, CKA_SENSITIVE, &yes, sizeof(yes));
	/* CKA_EXTRACTABLE left out, the token decides: FALSE without a migration domain,
	 * TRUE (the key may be replicated) in one — unless --unit-only. */
	if (cli_has(c, "unit-only"))
		ADD(qt, nq, CKA_EXTRACTABLE, &no, sizeof(no));
	ADD(qt, nq, CKA_SIGN, &yes, sizeof(yes));
	ADD(pt, np, CKA_CLASS, &pub_class, sizeof(pub_class));
	ADD(pt, np, CKA_TOKEN, &yes, sizeof(yes));
	ADD(pt, np, CKA_PRIVATE, &no, sizeof(no));
	ADD(pt, np, CKA_VERIFY, &yes, sizeof(yes));
	if (k->type == CKK_RSA) {
		ADD(qt, nq, CKA_DECRYPT, &yes, sizeof(yes));
		ADD(pt, np, CKA_ENCRYPT, &yes, sizeof(yes));
	}
	ADD(qt, nq, CKA_KEY_TYPE, &k->type, sizeof(k->type));
	ADD(qt, nq, CKA_LABEL, label, strlen(label));
	ADD(qt, nq, CKA_ID, id, id_len);
	ADD(pt, np, CKA_KEY_TYPE, &k->type, sizeof(k->type));
	ADD(pt, np, CKA_LABEL, label, strlen(label));
	ADD(pt, np, CKA_ID, id, id_len);
	for (size_t i = 0; i < k->n; i++) {
		if (k->v[i].in_priv)
			ADD(qt, nq, k->v[i].type, k->v[i].p, k->v[i].len);
		if (k->v[i].in_pub)
			ADD(pt, np, k->v[i].type, k->v[i].p, k->v[i].len);
	}
	rv = c->p11->C_CreateObject(h, qt, nq, &priv);
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot import the %s private key \"%s\"", k->name, label);
	rv = c->p11->C_CreateObject(h, pt, np, &pub);
	if (rv != CKR_OK) {
		c->p11->C_DestroyObject(h, priv); /* a pair or nothing */
		return cli_fail_rv(c, rv, "cannot store the public key of \"%s\"", label);
	}
	return CLI_OK;
}

static int cmd_key_import(struct cli *c)
{
	const char *path = cli_get(c, "file");
	struct key_parts k = { 0 };
	struct token_ref t;
	uint8_t id[ID_MAX];
	size_t id_len;
	char label[256], hex[2 * ID_MAX + 1];
	CK_SESSION_HANDLE h = 0;
	int rc;

	if ((rc = cli_require(c, "file")) != CLI_OK || (rc = cli_id_option(c, id, &id_len)) != CLI_OK)
		return rc;
	if (cli_has(c, "label"))
		snprintf(label, sizeof(label), "%s", cli_get(c, "label"));
	else
		file_stem(path, label, sizeof(label));
	if ((rc = cli_token_choose(c, &t)) != CLI_OK || (rc = key_read(path, &k)) != CLI_OK)
		goto out;
	if (!id_len) {
		memcpy(id, k.id, SHA1_LEN);
		id_len = SHA1_LEN;
	}
	if ((rc = cli_session_open(c, &t, true, &h)) != CLI_OK || (rc = cli_login_user(c, &t, h)) != CLI_OK ||
	    (rc = cli_name_unused(c, h, CKO_PRIVATE_KEY, id, id_len, label)) != CLI_OK ||
	    (rc = create_pair(c, h, &k, label, id, id_len)) != CLI_OK)
		goto out;
	cli_hex(hex, id, id_len);
	printf("imported %s key \"%s\" (ID %s) into token \"%s\"\n", k.name, label, hex, t.label);
out:
	key_parts_clear(&k);
	cli_session_close(c, h);
	return rc;
}

/* ---- certificates ---- */

struct cert {
	uint8_t *value, *subject, *issuer, *serial;
	int value_len, subject_len, issuer_len, serial_len;
	uint8_t id[SHA1_LEN];
	bool has_id;
	char cn[256];
};

static void cert_clear(struct cert *x)
{
	OPENSSL_free(x->value);
	OPENSSL_free(x->subject);
	OPENSSL_free(x->issuer);
	OPENSSL_free(x->serial);
	memset(x, 0, sizeof(*x));
}

/* PEM if it looks like PEM, else DER. (Certificates carry nothing secret, and
 * the key in one is read only for its public numbers: OpenSSL's default context
 * does.) */
static X509 *cert_parse(const struct file *f)
{
	const unsigned char *p = f->data;
	X509 *x = NULL;
	BIO *bio;

	if (f->len >= 11 && memmem(f->data, f->len, "-----BEGIN ", 11)) {
		bio = BIO_new_mem_buf(f->data, (int)f->len);
		x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		return x;
	}
	x = d2i_X509(NULL, &p, (long)f->len);
	if (x && p != f->data + f->len) {
		X509_free(x); /* trailing bytes: not one DER certificate */
		x = NULL;
	}
	return x;
}

static int cert_read(const char *path, struct cert *out)
{
	struct file f = { 0 };
	X509 *x;
	EVP_PKEY *pk;
	int rc = file_read(path, &f);

	if (rc != CLI_OK)
		return rc;
	x = cert_parse(&f);
	file_free(&f);
	if (!x)
		return cli_fail("--file: no X.509 certificate in %s (PEM or DER)", path);
	out->value_len = i2d_X509(x, &out->value);
	out->subject_len = i2d_X509_NAME(X509_get_subject_name(x), &out->subject);
	out->issuer_len = i2d_X509_NAME(X509_get_issuer_name(x), &out->issuer);
	out->serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &out->serial);
	pk = X509_get0_pubkey(x);
	out->has_id = pk && pubkey_id(pk, out->id) == 0;
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out->cn, sizeof(out->cn));
	X509_free(x);
	if (out->value_len <= 0 || out->subject_len <= 0 || out->issuer_len <= 0 || out->serial_len <= 0)
		return cli_fail("--file: cannot encode the certificate from %s", path);
	return CLI_OK;
}

/* No --label: the label of the key with the certificate's ID, else its CN, else the file's name. */
static void cert_label(struct cli *c, CK_SESSION_HANDLE h, const struct cert *x, const uint8_t *id,
		       size_t id_len, const char *path, char *out, size_t size)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };

	for (size_t k = 0; k < 2; k++) {
		CK_OBJECT_CLASS klass = classes[k];
		CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_ID, (void *)id, id_len } };
		CK_OBJECT_HANDLE *found = NULL;
		uint8_t *label = NULL;
		size_t n = 0, len;
		if (cli_find(c, h, tmpl, 2, &found, &n) == CLI_OK && n &&
		    cli_attr(c, h, found[0], CKA_LABEL, &label, &len) == CKR_OK && len) {
			snprintf(out, size, "%s", (char *)label);
			free(label);
			free(found);
			return;
		}
		free(label);
		free(found);
	}
	if (x->cn[0])
		snprintf(out, size, "%s", x->cn);
	else
		file_stem(path, out, size);
}

static int create_cert(struct cli *c, CK_SESSION_HANDLE h, const struct cert *x, const char *label,
		       const uint8_t *id, size_t id_len)
{
	static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const CK_OBJECT_CLASS klass = CKO_CERTIFICATE;
	static const CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, (void *)&klass, sizeof(klass) },
		{ CKA_CERTIFICATE_TYPE, (void *)&type, sizeof(type) },
		{ CKA_TOKEN, (void *)&yes, sizeof(yes) },
		{ CKA_PRIVATE, (void *)&no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
		{ CKA_SUBJECT, x->subject, (CK_ULONG)x->subject_len },
		{ CKA_ISSUER, x->issuer, (CK_ULONG)x->issuer_len },
		{ CKA_SERIAL_NUMBER, x->serial, (CK_ULONG)x->serial_len },
		{ CKA_VALUE, x->value, (CK_ULONG)x->value_len },
	};
	CK_OBJECT_HANDLE o;
	CK_RV rv = c->p11->C_CreateObject(h, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &o);

	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot store the certificate \"%s\"", label);
	return CLI_OK;
}

static int cmd_cert_import(struct cli *c)
{
	const char *path = cli_get(c, "file");
	struct cert x = { 0 };
	struct token_ref t;
	uint8_t id[ID_MAX];
	size_t id_len;
	char label[256], hex[2 * ID_MAX + 1];
	CK_SESSION_HANDLE h = 0;
	int rc;

	if ((rc = cli_require(c, "file")) != CLI_OK || (rc = cli_id_option(c, id, &id_len)) != CLI_OK ||
	    (rc = cli_token_choose(c, &t)) != CLI_OK || (rc = cert_read(path, &x)) != CLI_OK)
		goto out;
	if (!id_len && !x.has_id) {
		rc = cli_usage(c, "the certificate's key is neither RSA nor EC: give its --id");
		goto out;
	}
	if (!id_len) {
		memcpy(id, x.id, SHA1_LEN);
		id_len = SHA1_LEN;
	}
	if ((rc = cli_session_open(c, &t, true, &h)) != CLI_OK || (rc = cli_login_user(c, &t, h)) != CLI_OK ||
	    (rc = cli_name_unused(c, h, CKO_CERTIFICATE, id, id_len, NULL)) != CLI_OK)
		goto out;
	if (cli_has(c, "label"))
		snprintf(label, sizeof(label), "%s", cli_get(c, "label"));
	else
		cert_label(c, h, &x, id, id_len, path, label, sizeof(label));
	rc = create_cert(c, h, &x, label, id, id_len);
	if (rc == CLI_OK) {
		cli_hex(hex, id, id_len);
		printf("imported certificate \"%s\" (ID %s) into token \"%s\"\n", label, hex, t.label);
	}
out:
	cert_clear(&x);
	cli_session_close(c, h);
	return rc;
}

static int cmd_cert_delete(struct cli *c)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_CERTIFICATE };
	struct token_ref t;
	CK_SESSION_HANDLE h = 0;
	int rc = cli_one_of(c, "id", "label", true);

	if (rc != CLI_OK || (rc = cli_token_choose(c, &t)) != CLI_OK)
		return rc;
	if ((rc = cli_session_open(c, &t, true, &h)) == CLI_OK && (rc = cli_login_user(c, &t, h)) == CLI_OK)
		rc = cli_delete(c, &t, h, classes, 1, "cert");
	cli_session_close(c, h);
	return rc;
}

/* ---- the tables ---- */

static const struct cli_opt key_import_opts[] = {
	OPT_TOKEN_SELECT,
	{ "file", "FILE", "the private key: PEM or DER, PKCS#8, PKCS#1 or SEC1, not encrypted" },
	{ "label", "LABEL", "the key's CKA_LABEL (default: FILE's name without extension)" },
	{ "id", "HEX", "the key's CKA_ID (default: SHA-1 of the public key, as for generated keys)" },
	{ "unit-only", NULL, "in a token with a migration domain: keep this key on this unit (never replicated)" },
	OPT_USER_PIN,
	OPT_END,
};

const struct cli_cmd key_import = {
	.name = "import",
	.summary = "import an RSA or EC private key into the TPM",
	.run = cmd_key_import,
	.usage = "(--token LABEL | --serial SERIAL) --file FILE [--label LABEL] [--id HEX] [--unit-only]",
	.opts = key_import_opts,
	.more = "The TPM wraps the key (C_CreateObject with a CKO_PRIVATE_KEY template); the\n"
		"token keeps only the wrapped blob, and the public key as a CKO_PUBLIC_KEY object\n"
		"with the same ID and label. Keys the TPM cannot hold (sizes, curves) are refused.\n"
		"In a token with a migration domain the key may be replicated to approved units\n"
		"(tpmha replicate), unless --unit-only.\n"
		"The file stays as it is: delete it yourself if the TPM is to be the only copy.\n"
		"\n"
		"Example:\n"
		"  tpmha key import --token web --file old-server.key --label tls --id 02\n",
};

static const struct cli_opt cert_import_opts[] = {
	OPT_TOKEN_SELECT,
	{ "file", "FILE", "the X.509 certificate, PEM or DER" },
	{ "label", "LABEL", "CKA_LABEL (default: the label of the key with the same ID, else the subject CN)" },
	{ "id", "HEX", "CKA_ID (default: SHA-1 of the certificate's public key, i.e. its key's ID)" },
	OPT_USER_PIN,
	OPT_END,
};

static const struct cli_cmd cert_import = {
	.name = "import",
	.summary = "import an X.509 certificate",
	.run = cmd_cert_import,
	.usage = "(--token LABEL | --serial SERIAL) --file FILE [--label LABEL] [--id HEX]",
	.opts = cert_import_opts,
	.more = "Stores a public CKO_CERTIFICATE (CKC_X_509) with CKA_SUBJECT, CKA_ISSUER,\n"
		"CKA_SERIAL_NUMBER and CKA_VALUE. By default it gets the ID of the key it certifies,\n"
		"so applications find key and certificate together. One certificate per ID.\n"
		"\n"
		"Example:\n"
		"  tpmha key generate --token web --type ec:p256 --label tls --pubout tls.pub.pem\n"
		"  tpmha cert import --token web --file tls.crt\n",
};

static const struct cli_opt cert_delete_opts[] = {
	OPT_TOKEN_SELECT,
	{ "id", "HEX", "delete the certificate with this CKA_ID" },
	{ "label", "LABEL", "delete the certificate with this CKA_LABEL" },
	OPT_USER_PIN,
	OPT_END,
};

static const struct cli_cmd cert_delete = {
	.name = "delete",
	.summary = "delete a certificate",
	.run = cmd_cert_delete,
	.usage = "(--token LABEL | --serial SERIAL) (--id HEX | --label LABEL)",
	.opts = cert_delete_opts,
	.more = "Example:\n"
		"  tpmha cert delete --token web --id 01\n",
};

static const struct cli_cmd *const cert_subs[] = { &cert_import, &cert_delete, NULL };

const struct cli_cmd cert_cmd = {
	.name = "cert",
	.summary = "import and delete X.509 certificates",
	.subs = cert_subs,
};
