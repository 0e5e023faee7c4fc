/* `tpmha key generate|list|delete`, and the object helpers the key and
 * certificate commands share. (`key import` is in import.c with the other
 * file readers.) */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tools/cli.h"

/* ---- shared object helpers ---- */

const char *cli_class_name(CK_OBJECT_CLASS klass)
{
	switch (klass) {
	case CKO_PRIVATE_KEY: return "private key";
	case CKO_PUBLIC_KEY: return "public key";
	case CKO_CERTIFICATE: return "certificate";
	case CKO_DATA: return "data object";
	default: return "object";
	}
}

int cli_id_option(const struct cli *c, uint8_t id[ID_MAX], size_t *len)
{
	const char *text = cli_get(c, "id");

	*len = 0;
	return text ? cli_hex_parse(c, "id", text, id, ID_MAX, len) : CLI_OK;
}

static int count_matching(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass,
			  CK_ATTRIBUTE_TYPE type, const void *value, size_t len, size_t *count)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ type, (void *)value, len },
	};
	CK_OBJECT_HANDLE *found = NULL;
	int rc = cli_find(c, h, tmpl, 2, &found, count);

	free(found);
	return rc;
}

int cli_name_unused(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const uint8_t *id,
		size_t id_len, const char *label)
{
	size_t n = 0;
	int rc = CLI_OK;

	if (id_len && (rc = count_matching(c, h, klass, CKA_ID, id, id_len, &n)) == CLI_OK && n) {
		char hex[2 * ID_MAX + 1];
		cli_hex(hex, id, id_len);
		return cli_fail("a %s with ID %s exists already in this token", cli_class_name(klass), hex);
	}
	if (rc == CLI_OK && label &&
	    (rc = count_matching(c, h, klass, CKA_LABEL, label, strlen(label), &n)) == CLI_OK && n)
		return cli_fail("a %s labelled \"%s\" exists already in this token", cli_class_name(klass), label);
	return rc;
}

/* The objects of one class that --id or --label names. */
static int find_named(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const uint8_t *id,
		      size_t id_len, const char *label, CK_OBJECT_HANDLE **out, size_t *n)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		label ? (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) } :
			(CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len },
	};

	return cli_find(c, h, tmpl, 2, out, n);
}

static int destroy_all(struct cli *c, const struct token_ref *t, CK_SESSION_HANDLE h,
		       CK_OBJECT_CLASS klass, const CK_OBJECT_HANDLE *objs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *label = NULL, *id = NULL;
		size_t label_len, id_len;
		char hex[2 * ID_MAX + 1] = "";
		CK_RV rv;
		cli_attr(c, h, objs[i], CKA_LABEL, &label, &label_len);
		if (cli_attr(c, h, objs[i], CKA_ID, &id, &id_len) == CKR_OK && id_len <= ID_MAX)
			cli_hex(hex, id, id_len);
		rv = c->p11->C_DestroyObject(h, objs[i]);
		if (rv == CKR_OK)
			printf("deleted %s \"%s\" (ID %s) from token \"%s\"\n", cli_class_name(klass),
			       label ? (char *)label : "", hex, t->label);
		free(label);
		free(id);
		if (rv != CKR_OK)
			return cli_fail_rv(c, rv, "cannot delete a %s", cli_class_name(klass));
	}
	return CLI_OK;
}

int cli_delete(struct cli *c, const struct token_ref *t, CK_SESSION_HANDLE h,
		   const CK_OBJECT_CLASS *classes, size_t nclasses, const char *what)
{
	const char *label = cli_get(c, "label");
	uint8_t id[ID_MAX];
	size_t id_len, total = 0;
	int rc = cli_id_option(c, id, &id_len);

	for (size_t k = 0; rc == CLI_OK && k < nclasses; k++) {
		CK_OBJECT_HANDLE *objs = NULL;
		size_t n = 0;
		rc = find_named(c, h, classes[k], id, id_len, label, &objs, &n);
		if (rc == CLI_OK && k == 0 && label && n > 1)
			rc = cli_fail("%zu %ss are labelled \"%s\": choose one with --id (see `tpmha %s list`)", n,
				      cli_class_name(classes[0]), label, what);
		if (rc == CLI_OK)
			rc = destroy_all(c, t, h, classes[k], objs, n);
		total += n;
		free(objs);
	}
	if (rc == CLI_OK && total == 0)
		rc = cli_fail("no %s %s \"%s\" in token \"%s\"", what, label ? "labelled" : "with ID",
			      label ? label : cli_get(c, "id"), t->label);
	return rc;
}

/* ---- key generate ---- */

static const struct key_type {
	const char *name;
	CK_KEY_TYPE type;
	CK_ULONG bits;
	const char *curve;
} key_types[] = {
	{ "rsa:2048", CKK_RSA, 2048, NULL },
	{ "rsa:3072", CKK_RSA, 3072, NULL },
	{ "ec:p256", CKK_EC, 0, "p256" },
	{ "ec:p384", CKK_EC, 0, "p384" },
};

static const struct key_type *key_type_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(key_types[i].name, name) == 0)
			return &key_types[i];
	return NULL;
}

/* The public key's SubjectPublicKeyInfo as PEM. */
static int write_pubkey(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub, const char *path)
{
	uint8_t *spki = NULL;
	size_t len;
	FILE *f = NULL;
	CK_RV rv = cli_attr(c, h, pub, CKA_PUBLIC_KEY_INFO, &spki, &len);
	int rc = CLI_OK;

	if (rv != CKR_OK || len == 0) {
		rc = rv != CKR_OK ? cli_fail_rv(c, rv, "cannot read the new public key") :
				    cli_fail("the token gave no public key info for the new key");
		goto out;
	}
	f = fopen(path, "w");
	if (!f) {
		rc = cli_fail("--pubout: cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	if (PEM_write(f, "PUBLIC KEY", "", spki, (long)len) <= 0)
		rc = cli_fail("--pubout: cannot write %s", path);
	if (fclose(f) != 0 && rc == CLI_OK)
		rc = cli_fail("--pubout: cannot write %s: %s", path, strerror(errno));
out:
	free(spki);
	return rc;
}

#define ADD(arr, n, t, p, l) ((arr)[(n)++] = (CK_ATTRIBUTE){ (t), (void *)(p), (l) })

static int generate(struct cli *c, CK_SESSION_HANDLE h, const struct key_type *kt, const char *label,
		    const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY, priv_class = CKO_PRIVATE_KEY;
	CK_MECHANISM mech = { kt->type == CKK_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pt[10], qt[12];
	CK_ULONG np = 0, nq = 0;
	size_t params_len = 0;
	const uint8_t *params = kt->curve ? cli_ec_params(kt->curve, &params_len) : NULL;
	CK_RV rv;

	ADD(pt, np, CKA_CLASS, &pub_class, sizeof(pub_class));
	ADD(pt, np, CKA_KEY_TYPE, &kt->type, sizeof(kt->type));
	ADD(pt, np, CKA_TOKEN, &yes, sizeof(yes));
	ADD(pt, np, CKA_PRIVATE, &no, sizeof(no));
	ADD(pt, np, CKA_VERIFY, &yes, sizeof(yes));
	ADD(pt, np, CKA_LABEL, label, strlen(label));
	ADD(qt, nq, CKA_CLASS, &priv_class, sizeof(priv_class));
	ADD(qt, nq, CKA_KEY_TYPE, &kt->type, sizeof(kt->type));
	ADD(qt, nq, CKA_TOKEN, &yes, sizeof(yes));
	ADD(qt, nq, CKA_PRIVATE, &yes, sizeof(yes));
	ADD(qt, nq, CKA_SENSITIVE, &yes, sizeof(yes));
	/* CKA_EXTRACTABLE left out, the token decides: FALSE without a migration domain,
	 * TRUE (the key may be replicated) in one — unless --unit-only. */
	if (cli_has(c, "unit-only"))
		ADD(qt, nq, CKA_EXTRACTABLE, &no, sizeof(no));
	ADD(qt, nq, CKA_SIGN, &yes, sizeof(yes));
	ADD(qt, nq, CKA_LABEL, label, strlen(label));
	if (id_len) {
		ADD(pt, np, CKA_ID, id, id_len);
		ADD(qt, nq, CKA_ID, id, id_len);
	}
	if (kt->type == CKK_RSA) {
		ADD(pt, np, CKA_MODULUS_BITS, &kt->bits, sizeof(kt->bits));
		ADD(pt, np, CKA_ENCRYPT, &yes, sizeof(yes));
		ADD(qt, nq, CKA_DECRYPT, &yes, sizeof(yes));
	} else {
		ADD(pt, np, CKA_EC_PARAMS, params, params_len);
	}
	rv = c->p11->C_GenerateKeyPair(h, &mech, pt, np, qt, nq, pub, priv);
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot generate the %s key \"%s\"", kt->name, label);
	return CLI_OK;
}

static int cmd_key_generate(struct cli *c)
{
	const char *label = cli_get(c, "label"), *type = cli_get(c, "type");
	const struct key_type *kt;
	struct token_ref t;
	uint8_t id[ID_MAX], *made_id = NULL;
	size_t id_len, made_len = 0;
	char hex[2 * ID_MAX + 1] = "";
	CK_SESSION_HANDLE h = 0;
	CK_OBJECT_HANDLE pub, priv;
	int rc;

	if ((rc = cli_require(c, "type")) != CLI_OK || (rc = cli_require(c, "label")) != CLI_OK ||
	    (rc = cli_id_option(c, id, &id_len)) != CLI_OK)
		return rc;
	kt = key_type_parse(type);
	if (!kt)
		return cli_usage(c, "--type: '%s' is not one of rsa:2048, rsa:3072, ec:p256, ec:p384", type);
	if ((rc = cli_token_choose(c, &t)) != CLI_OK || (rc = cli_session_open(c, &t, true, &h)) != CLI_OK ||
	    (rc = cli_login_user(c, &t, h)) != CLI_OK ||
	    (rc = cli_name_unused(c, h, CKO_PRIVATE_KEY, id, id_len, label)) != CLI_OK ||
	    (rc = generate(c, h, kt, label, id, id_len, &pub, &priv)) != CLI_OK)
		goto out;
	if (cli_attr(c, h, priv, CKA_ID, &made_id, &made_len) == CKR_OK && made_len <= ID_MAX)
		cli_hex(hex, made_id, made_len);
	printf("generated %s key \"%s\" (ID %s) in token \"%s\"\n", kt->name, label, hex, t.label);
	if (cli_has(c, "pubout"))
		rc = write_pubkey(c, h, pub, cli_get(c, "pubout"));
out:
	free(made_id);
	cli_session_close(c, h);
	return rc;
}

/* ---- key list ---- */

struct row {
	CK_OBJECT_CLASS klass;
	char type[16];
	char *label;
	char *id;      /* hex */
	char *subject; /* certificates */
};

static char *name_text(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)len);
	BIO *bio = BIO_new(BIO_s_mem());
	char *text = NULL, *data;
	long n;

	if (name && bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(bio, &data)) >= 0 && (text = malloc((size_t)n + 1))) {
		memcpy(text, data, (size_t)n);
		text[n] = '\0';
	}
	X509_NAME_free(name);
	BIO_free(bio);
	return text;
}

static void key_type_text(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, char *out, size_t size)
{
	CK_KEY_TYPE kt = cli_attr_ulong(c, h, o, CKA_KEY_TYPE, CK_UNAVAILABLE_INFORMATION);
	uint8_t *v = NULL;
	size_t len = 0;

	if (kt == CKK_RSA) {
		CK_ULONG bits = 0;
		if (cli_attr(c, h, o, CKA_MODULUS, &v, &len) == CKR_OK) {
			size_t skip = 0;
			while (skip < len && v[skip] == 0)
				skip++;
			bits = (len - skip) * 8;
		} else {
			bits = cli_attr_ulong(c, h, o, CKA_MODULUS_BITS, 0);
		}
		snprintf(out, size, bits ? "rsa:%lu" : "rsa", (unsigned long)bits);
	} else if (kt == CKK_EC) {
		const char *curve = NULL;
		if (cli_attr(c, h, o, CKA_EC_PARAMS, &v, &len) == CKR_OK)
			curve = cli_ec_name(v, len);
		snprintf(out, size, "ec:%s", curve ? curve : "other");
	} else {
		snprintf(out, size, "other");
	}
	free(v);
}

static void row_read(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_OBJECT_CLASS klass,
		     struct row *r)
{
	uint8_t *v = NULL;
	size_t len = 0;

	r->klass = klass;
	if (klass == CKO_CERTIFICATE) {
		snprintf(r->type, sizeof(r->type), "x509");
		if (cli_attr(c, h, o, CKA_SUBJECT, &v, &len) == CKR_OK)
			r->subject = name_text(v, len);
		free(v);
	} else {
		key_type_text(c, h, o, r->type, sizeof(r->type));
	}
	if (cli_attr(c, h, o, CKA_LABEL, &v, &len) == CKR_OK)
		r->label = (char *)v;
	if (cli_attr(c, h, o, CKA_ID, &v, &len) == CKR_OK) {
		r->id = malloc(2 * len + 1);
		if (r->id)
			cli_hex(r->id, v, len);
		free(v);
	}
}

/* By ID, then private key, public key, certificate. */
static int class_rank(CK_OBJECT_CLASS klass)
{
	return klass == CKO_PRIVATE_KEY ? 0 : klass == CKO_PUBLIC_KEY ? 1 : 2;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int d = strcmp(x->id ? x->id : "", y->id ? y->id : "");

	return d ? d : class_rank(x->klass) - class_rank(y->klass);
}

static int rows_read(struct cli *c, CK_SESSION_HANDLE h, struct row **out, size_t *count)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE };
	struct row *rows = NULL;
	int rc = CLI_OK;

	*count = 0;
	for (size_t k = 0; rc == CLI_OK && k < 3; k++) {
		CK_OBJECT_CLASS klass = classes[k];
		CK_ATTRIBUTE tmpl = { CKA_CLASS, &klass, sizeof(klass) };
		CK_OBJECT_HANDLE *objs = NULL;
		size_t n = 0;
		struct row *more;
		rc = cli_find(c, h, &tmpl, 1, &objs, &n);
		more = rc == CLI_OK ? realloc(rows, (*count + n + 1) * sizeof(*rows)) : NULL;
		if (rc == CLI_OK && !more)
			rc = cli_fail("out of memory");
		if (more)
			rows = more;
		for (size_t i = 0; rc == CLI_OK && i < n; i++) {
			memset(&rows[*count], 0, sizeof(*rows));
			row_read(c, h, objs[i], klass, &rows[(*count)++]);
		}
		free(objs);
	}
	if (*count)
		qsort(rows, *count, sizeof(*rows), row_cmp);
	*out = rows;
	return rc;
}

static void rows_free(struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].label);
		free(rows[i].id);
		free(rows[i].subject);
	}
	free(rows);
}

static void rows_json(const struct token_ref *t, bool logged_in, const struct row *rows, size_t n)
{
	struct jw j;

	jw_start(&j, stdout);
	jw_object(&j, NULL);
	jw_string(&j, "token", t->label);
	jw_string(&j, "serial", t->serial);
	jw_bool(&j, "logged_in", logged_in);
	jw_array(&j, "objects");
	for (size_t i = 0; i < n; i++) {
		jw_object(&j, NULL);
		jw_string(&j, "class", rows[i].klass == CKO_PRIVATE_KEY ? "private_key" :
					 rows[i].klass == CKO_PUBLIC_KEY	? "public_key" :
										  "certificate");
		jw_string(&j, "type", rows[i].type);
		jw_string(&j, "label", rows[i].label);
		jw_string(&j, "id", rows[i].id);
		if (rows[i].klass == CKO_CERTIFICATE)
			jw_string(&j, "subject", rows[i].subject);
		jw_end(&j);
	}
	jw_end(&j);
	jw_end(&j);
	jw_finish(&j);
}

static void rows_text(const struct token_ref *t, bool logged_in, const struct row *rows, size_t n)
{
	int wtype = 4, wid = 2, wlabel = 5;

	for (size_t i = 0; i < n; i++) {
		int lt = (int)strlen(rows[i].type), li = rows[i].id ? (int)strlen(rows[i].id) : 0,
		    ll = rows[i].label ? (int)strlen(rows[i].label) : 0;
		wtype = lt > wtype ? lt : wtype;
		wid = li > wid ? li : wid;
		wlabel = ll > wlabel ? ll : wlabel;
	}
	if (n)
		printf("%-11s  %-*s  %-*s  %-*s%s\n", "CLASS", wtype, "TYPE", wid, "ID", wlabel, "LABEL",
		       "");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		printf("%-11s  %-*s  %-*s  %-*s", cli_class_name(r->klass), wtype, r->type, wid, r->id ? r->id : "",
		       r->subject ? wlabel : 0, r->label ? r->label : "");
		if (r->subject)
			printf("  %s", r->subject);
		putchar('\n');
	}
	if (!n)
		printf("no keys or certificates in token \"%s\"%s\n", t->label,
		       logged_in ? "" : " without login");
	if (!logged_in)
		printf("(private keys are listed after login: --login, --pin-file or --pin-env)\n");
}

static int cmd_key_list(struct cli *c)
{
	bool login = cli_has(c, "login") || cli_has(c, "pin-file") || cli_has(c, "pin-env");
	struct token_ref t;
	struct row *rows = NULL;
	size_t n = 0;
	CK_SESSION_HANDLE h = 0;
	int rc;

	if ((rc = cli_token_choose(c, &t)) != CLI_OK || (rc = cli_session_open(c, &t, false, &h)) != CLI_OK)
		return rc;
	if (login && (rc = cli_login_user(c, &t, h)) != CLI_OK)
		goto out;
	rc = rows_read(c, h, &rows, &n);
	if (rc != CLI_OK)
		goto out;
	if (cli_has(c, "json"))
		rows_json(&t, login, rows, n);
	else
		rows_text(&t, login, rows, n);
out:
	rows_free(rows, n);
	cli_session_close(c, h);
	return rc;
}

/* ---- key delete ---- */

static int cmd_key_delete(struct cli *c)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
	struct token_ref t;
	CK_SESSION_HANDLE h = 0;
	int rc = cli_one_of(c, "id", "label", true);

	if (rc != CLI_OK || (rc = cli_token_choose(c, &t)) != CLI_OK)
		return rc;
	if ((rc = cli_session_open(c, &t, true, &h)) == CLI_OK && (rc = cli_login_user(c, &t, h)) == CLI_OK)
		rc = cli_delete(c, &t, h, classes, 2, "key");
	cli_session_close(c, h);
	return rc;
}

/* ---- the tables ---- */

extern const struct cli_cmd key_import; /* import.c */

static const struct cli_opt generate_opts[] = {
	OPT_TOKEN_SELECT,
	{ "type", "TYPE", "rsa:2048, rsa:3072, ec:p256 or ec:p384" },
	{ "label", "LABEL", "the key's CKA_LABEL (must be new in the token)" },
	{ "id", "HEX", "the key's CKA_ID (default: SHA-1 of the public key)" },
	{ "pubout", "FILE", "also write the public key to FILE (PEM)" },
	{ "unit-only", NULL, "in a token with a migration domain: keep this key on this unit (never replicated)" },
	OPT_USER_PIN,
	OPT_END,
};

static const struct cli_cmd key_generate = {
	.name = "generate",
	.summary = "generate a key pair inside the TPM",
	.run = cmd_key_generate,
	.usage = "(--token LABEL | --serial SERIAL) --type TYPE --label LABEL [--id HEX] [--pubout FILE] [--unit-only]",
	.opts = generate_opts,
	.more = "The private key is made by the TPM; the token also gets the public key\n"
		"(CKO_PUBLIC_KEY) with the same CKA_ID and CKA_LABEL. RSA keys can sign and\n"
		"decrypt, EC keys sign. `tpmha status` lists the types this TPM makes.\n"
		"In a token without a migration domain the key never leaves this TPM. In a domain\n"
		"token the TPM will duplicate it, but only to units the domain's migration\n"
		"authority approved (tpmha replicate); --unit-only makes it stay here anyway.\n"
		"\n"
		"Examples:\n"
		"  tpmha key generate --token web --type rsa:2048 --label tls --id 01\n"
		"  tpmha key generate --token web --type ec:p256 --label sign --pubout sign.pub.pem\n",
};

static const struct cli_opt list_opts[] = {
	OPT_TOKEN_SELECT,
	{ "login", NULL, "log in as the user to list private keys too" },
	OPT_USER_PIN,
	OPT_JSON,
	OPT_END,
};

static const struct cli_cmd key_list = {
	.name = "list",
	.summary = "list the keys and certificates of a token",
	.run = cmd_key_list,
	.usage = "(--token LABEL | --serial SERIAL) [--login] [--pin-file FILE | --pin-env VAR] [--json]",
	.opts = list_opts,
	.more = "Without login, private keys are invisible (PKCS#11 private objects); --login,\n"
		"--pin-file or --pin-env logs in first. Objects are sorted by ID, so a key pair\n"
		"and its certificate are listed together.\n"
		"\n"
		"Example:\n"
		"  tpmha key list --token web --login\n",
};

static const struct cli_opt delete_opts[] = {
	OPT_TOKEN_SELECT,
	{ "id", "HEX", "delete the key pair with this CKA_ID" },
	{ "label", "LABEL", "delete the key pair with this CKA_LABEL" },
	OPT_USER_PIN,
	OPT_END,
};

static const struct cli_cmd key_delete = {
	.name = "delete",
	.summary = "delete a key pair (private and public key objects)",
	.run = cmd_key_delete,
	.usage = "(--token LABEL | --serial SERIAL) (--id HEX | --label LABEL)",
	.opts = delete_opts,
	.more = "Deletes the private key and the public key objects that match. Certificates\n"
		"stay: delete them with `tpmha cert delete`. A label that names more than one\n"
		"private key is refused: use --id.\n"
		"\n"
		"Example:\n"
		"  tpmha key delete --token web --id 01\n",
};

static const struct cli_cmd *const key_subs[] = { &key_generate, &key_import, &key_list, &key_delete,
						  NULL };

const struct cli_cmd key_cmd = {
	.name = "key",
	.summary = "generate, import, list and delete keys",
	.subs = key_subs,
};
