/* `tpmha domain create|approve|show`: the migration authority's side. These run
 * where the MA key is (an HSM's PKCS#11 module, or a PEM file) and need no TPM:
 * they read and write the domain, unit and approval files (docs/formats.md) with the
 * module's own code for them (migration/files.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migration/files.h"
#include "tools/cli.h"

/* The files' parsers log why they refuse a file; without the module started, that
 * goes to stderr, right under our own message. */
static int setup_ossl(void)
{
	return ossl_init() == CKR_OK ? CLI_OK : cli_fail("cannot set up OpenSSL");
}

static void time_text(uint64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, size, "unknown");
}

static const char *ma_type_name(const struct domain_file *d)
{
	return d->tpm.ma_type == TPM_KEY_RSA ? "RSA-2048" : "EC P-256";
}

/* Read and parse --OPT as a domain file. */
int cli_domain_read(const char *opt, const char *path, struct domain_file *d, uint8_t **bytes, size_t *len)
{
	uint8_t *data = NULL;
	size_t n = 0;
	int rc = setup_ossl();

	memset(d, 0, sizeof(*d));
	if (rc == CLI_OK)
		rc = cli_file_read(opt, path, CLI_SMALL_FILE_MAX, &data, &n);
	if (rc == CLI_OK && domain_file_parse(data, n, d) != CKR_OK)
		rc = cli_fail("--%s: %s is not a valid tpmha domain file", opt, path);
	if (rc == CLI_OK && bytes) {
		*bytes = data;
		*len = n;
		data = NULL;
	}
	cli_file_free(data, n);
	return rc;
}

int cli_unit_read(const char *opt, const char *path, struct unit_file *u, uint8_t **bytes, size_t *len)
{
	uint8_t *data = NULL;
	size_t n = 0;
	int rc = setup_ossl();

	memset(u, 0, sizeof(*u));
	if (rc == CLI_OK)
		rc = cli_file_read(opt, path, CLI_SMALL_FILE_MAX, &data, &n);
	if (rc == CLI_OK && unit_file_parse(data, n, u) != CKR_OK)
		rc = cli_fail("--%s: %s is not a valid tpmha unit identity file", opt, path);
	if (rc == CLI_OK && bytes) {
		*bytes = data;
		*len = n;
		data = NULL;
	}
	cli_file_free(data, n);
	return rc;
}

static void domain_json(const struct domain_file *d, const char *path, const char *ma)
{
	char id[33], fp[65], created[32];
	struct jw j;

	cli_hex(id, d->tpm.id, sizeof(d->tpm.id));
	cli_hex(fp, d->fingerprint, sizeof(d->fingerprint));
	time_text(d->created, created, sizeof(created));
	jw_start(&j, stdout);
	jw_object(&j, NULL);
	jw_string(&j, "file", path);
	jw_string(&j, "label", d->label[0] ? d->label : NULL);
	jw_string(&j, "id", id);
	jw_string(&j, "created", d->created ? created : NULL);
	jw_string(&j, "ma_key_type", d->tpm.ma_type == TPM_KEY_RSA ? "rsa:2048" : "ec:p256");
	if (ma)
		jw_string(&j, "ma_key", ma);
	jw_bool(&j, "tpm12_units_possible", d->tpm.ma_tpm12.len > 0);
	jw_string(&j, "fingerprint", fp);
	jw_end(&j);
	jw_finish(&j);
}

static void domain_text(const struct domain_file *d, const char *ma)
{
	char id[33], fp[65], created[32];

	cli_hex(id, d->tpm.id, sizeof(d->tpm.id));
	cli_hex(fp, d->fingerprint, sizeof(d->fingerprint));
	time_text(d->created, created, sizeof(created));
	printf("  label:        %s\n", d->label[0] ? d->label : "(none)");
	printf("  id:           %s\n", id);
	printf("  created:      %s\n", created);
	printf("  MA key:       %s\n", ma ? ma : ma_type_name(d));
	printf("  TPM versions: 2.0%s\n", d->tpm.ma_tpm12.len ? " and 1.2" : " only (an EC MA: TPM 1.2 verifies RSA-2048 only)");
	printf("  fingerprint:  %s\n", fp);
}

/* ---- domain create ---- */

static const char self_test[] = "tpmha domain create: does the migration authority key sign?";

static int cmd_domain_create(struct cli *c)
{
	const char *out = cli_get(c, "out"), *label = cli_get(c, "label");
	struct domain_file d = { 0 };
	struct buf file = BUF_INIT;
	struct ma *m = NULL;
	uint8_t sig[512];
	size_t sig_len = sizeof(sig), spki_len;
	const uint8_t *spki;
	int rc = cli_require(c, "out");

	if (rc != CLI_OK)
		return rc;
	if (label && strlen(label) > LABEL_MAX)
		return cli_usage(c, "--label: a domain label has at most %d bytes", LABEL_MAX);
	if ((rc = ma_open(c, &m)) != CLI_OK)
		goto out;
	/* A domain whose MA cannot sign would approve nothing: prove it signs first. */
	if ((rc = ma_sign(c, m, (const uint8_t *)self_test, strlen(self_test), HASH_SHA256, sig, &sig_len)) != CLI_OK)
		goto out;
	spki = ma_spki(m, &spki_len);
	if (domain_file_create(spki, spki_len, label, &file) != CKR_OK || file.failed ||
	    domain_file_parse(file.data, file.len, &d) != CKR_OK) {
		rc = cli_fail("cannot make a domain for this migration authority key");
		goto out;
	}
	if ((rc = cli_file_write("out", out, file.data, file.len)) != CLI_OK)
		goto out;
	if (cli_has(c, "json")) {
		domain_json(&d, out, ma_describe(m));
	} else {
		printf("domain%s%s%s written to %s\n", label ? " \"" : "", label ? label : "", label ? "\"" : "", out);
		domain_text(&d, ma_describe(m));
		printf("Give %s to every unit (tpmha token init --domain, tpmha receive --domain) and compare\n"
		       "the fingerprint there (tpmha domain show) with the one above.\n", out);
	}
out:
	ma_close(m);
	domain_file_release(&d);
	buf_release(&file);
	return rc;
}

/* ---- domain show ---- */

static int cmd_domain_show(struct cli *c)
{
	const char *path = cli_get(c, "domain");
	struct domain_file d;
	int rc = cli_require(c, "domain");

	if (rc == CLI_OK)
		rc = cli_domain_read("domain", path, &d, NULL, NULL);
	if (rc != CLI_OK)
		return rc;
	if (cli_has(c, "json")) {
		domain_json(&d, path, NULL);
	} else {
		printf("domain file %s\n", path);
		domain_text(&d, NULL);
	}
	domain_file_release(&d);
	return CLI_OK;
}

/* ---- domain approve ---- */

/* The unit to approve and what of it: from --unit (the unit itself), or from an approval
 * request (--request: the unit, and on TPM 1.2 the keys). */
static int approve_inputs(struct cli *c, const struct domain_file *d, struct unit_file *u,
			  struct approval_request *req, bool *have_req)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc;

	*have_req = cli_has(c, "request");
	if (!*have_req)
		return cli_unit_read("unit", cli_get(c, "unit"), u, NULL, NULL);
	rc = cli_file_read("request", cli_get(c, "request"), 16u << 20, &bytes, &len);
	if (rc != CLI_OK)
		return rc;
	if (approval_request_parse(bytes, len, req) != CKR_OK)
		rc = cli_usage(c, "--request %s is not an approval request (tpmha replicate --request-out)",
			       cli_get(c, "request"));
	else if (memcmp(req->domain_id, d->tpm.id, sizeof(d->tpm.id)) != 0)
		rc = cli_fail("the approval request %s is for another domain", cli_get(c, "request"));
	else if (unit_file_parse(req->unit_bytes.data, req->unit_bytes.len, u) != CKR_OK)
		rc = cli_fail("the approval request %s names no valid unit", cli_get(c, "request"));
	cli_file_free(bytes, len);
	return rc;
}

/* Sign the unit (TPM 2.0) or each requested key (TPM 1.2) with the MA. */
static int approve_sign(struct cli *c, struct ma *m, const struct domain_file *d, const struct unit_file *u,
			struct approval_request *req, struct tpm_blob *unit_sig)
{
	uint8_t msg[512], sig[512];
	size_t msg_len, sig_len;
	enum hash_alg hash;
	int rc = CLI_OK;

	if (u->tpm.tpm_version != 12) {
		msg_len = sizeof(msg);
		sig_len = sizeof(sig);
		if (approval_message(d, u, msg, &msg_len, &hash) != CKR_OK)
			return cli_fail("cannot make the approval message for this unit");
		if ((rc = ma_sign(c, m, msg, msg_len, hash, sig, &sig_len)) != CLI_OK)
			return rc;
		return tpm_blob_copy(unit_sig, sig, sig_len) == CKR_OK ? CLI_OK : cli_fail("out of memory");
	}
	if (!req->nkeys)
		return cli_fail("a TPM 1.2 unit is approved key by key: give --request (tpmha replicate "
				"--request-out on the unit that sends)");
	for (size_t i = 0; rc == CLI_OK && i < req->nkeys; i++) {
		msg_len = sizeof(msg);
		sig_len = sizeof(sig);
		if (approval_key_message(d, u, &req->keys[i].key_public, msg, &msg_len, &hash) != CKR_OK)
			return cli_fail("cannot make the approval message for key \"%s\"", req->keys[i].label);
		rc = ma_sign(c, m, msg, msg_len, hash, sig, &sig_len);
		if (rc == CLI_OK && tpm_blob_copy(&req->keys[i].signature, sig, sig_len) != CKR_OK)
			rc = cli_fail("out of memory");
	}
	return rc;
}

static int cmd_domain_approve(struct cli *c)
{
	const char *out = cli_get(c, "out");
	struct domain_file d = { 0 };
	struct unit_file u = { 0 };
	struct approval_request req = { 0 };
	struct approval_file a = { 0 };
	struct tpm_blob unit_sig = { 0 };
	struct buf file = BUF_INIT;
	struct ma *m = NULL;
	size_t spki_len;
	const uint8_t *spki;
	bool have_req = false;
	char uid[33];
	int rc;

	if ((rc = cli_require(c, "domain")) != CLI_OK || (rc = cli_one_of(c, "unit", "request", true)) != CLI_OK ||
	    (rc = cli_require(c, "out")) != CLI_OK)
		return rc;
	if ((rc = cli_domain_read("domain", cli_get(c, "domain"), &d, NULL, NULL)) != CLI_OK ||
	    (rc = approve_inputs(c, &d, &u, &req, &have_req)) != CLI_OK)
		goto out;
	if (u.tpm.tpm_version == 12 && !d.tpm.ma_tpm12.len) {
		rc = cli_fail("unit %s has a TPM 1.2, which cannot verify this domain's EC migration authority",
			      u.label[0] ? u.label : "?");
		goto out;
	}
	if ((rc = ma_open(c, &m)) != CLI_OK)
		goto out;
	spki = ma_spki(m, &spki_len);
	if (spki_len != d.ma_spki.len || memcmp(spki, d.ma_spki.data, spki_len) != 0) {
		rc = cli_fail("the %s is not the migration authority of domain \"%s\" (%s)", ma_describe(m), d.label,
			      cli_get(c, "domain"));
		goto out;
	}
	if ((rc = approve_sign(c, m, &d, &u, &req, &unit_sig)) != CLI_OK)
		goto out;
	/* The file as a unit will read it, checked the way the unit checks it. */
	if (approval_file_write(&d, &u, &unit_sig, req.keys, req.nkeys, &file) != CKR_OK || file.failed ||
	    approval_file_parse(file.data, file.len, &a) != CKR_OK || approval_verify(&d, &u, &a) != CKR_OK) {
		rc = cli_fail("the approval does not verify against the domain (a bug, or the MA key changed)");
		goto out;
	}
	if ((rc = cli_file_write("out", out, file.data, file.len)) != CLI_OK)
		goto out;
	cli_hex(uid, u.id, sizeof(u.id));
	if (cli_has(c, "json")) {
		struct jw j;
		char did[33];
		cli_hex(did, d.tpm.id, sizeof(d.tpm.id));
		jw_start(&j, stdout);
		jw_object(&j, NULL);
		jw_string(&j, "file", out);
		jw_object(&j, "unit");
		jw_string(&j, "label", u.label[0] ? u.label : NULL);
		jw_string(&j, "id", uid);
		jw_uint(&j, "tpm_version", (unsigned)u.tpm.tpm_version);
		jw_end(&j);
		jw_object(&j, "domain");
		jw_string(&j, "label", d.label[0] ? d.label : NULL);
		jw_string(&j, "id", did);
		jw_end(&j);
		jw_uint(&j, "keys", req.nkeys);
		jw_string(&j, "ma_key", ma_describe(m));
		jw_end(&j);
		jw_finish(&j);
	} else {
		char did[33];
		cli_hex(did, d.tpm.id, sizeof(d.tpm.id));
		printf("unit \"%s\" (id %s, TPM %d.%d) approved in domain \"%s\" (id %s)%s: %s\n",
		       u.label[0] ? u.label : "?", uid, u.tpm.tpm_version / 10, u.tpm.tpm_version % 10, d.label, did,
		       req.nkeys ? " for the requested keys" : "", out);
		for (size_t i = 0; i < req.nkeys; i++)
			printf("  key \"%s\"\n", req.keys[i].label);
		printf("signed by the migration authority, %s\n", ma_describe(m));
	}
out:
	ma_close(m);
	approval_file_release(&a);
	approval_request_release(&req);
	tpm_blob_release(&unit_sig);
	unit_file_release(&u);
	domain_file_release(&d);
	buf_release(&file);
	return rc;
}

/* ---- the tables ---- */

static const struct cli_opt create_opts[] = {
	{ "out", "FILE", "write the domain file to FILE" },
	{ "label", "LABEL", "a name for the domain (up to 64 bytes)" },
	OPT_MA,
	OPT_JSON,
	OPT_END,
};

static const struct cli_cmd domain_create = {
	.name = "create",
	.summary = "make a migration domain for a migration authority (MA) key",
	.run = cmd_domain_create,
	.usage = "--out FILE [--label LABEL] (--ma-module PATH --ma-key URI | --ma-key-file FILE) "
		 "[--ma-pin-file FILE | --ma-pin-env VAR] [--json]",
	.opts = create_opts,
	.more = "The domain file names the MA's public key (in each TPM version's exact form: a\n"
		"TPM 2.0 key's policy names the MA by the hash of its public area), a random domain\n"
		"id and a label. The MA key must be RSA-2048 or EC P-256: RSA-2048 is what TPM 1.2\n"
		"units verify, EC P-256 serves TPM 2.0 units only. The MA signs a test message\n"
		"first, so a domain is never made for a key that cannot sign. No TPM is needed.\n"
		"\n"
		"The MA key is normally in an HSM: --ma-module is its PKCS#11 module and --ma-key\n"
		"a PKCS#11 URI of the private key (token=, object=, id=, type=private). The token's\n"
		"user PIN comes from --ma-pin-file, --ma-pin-env or the terminal. --ma-key-file\n"
		"takes the key from a PEM file instead: low assurance, since whoever reads the\n"
		"file can approve units (its pass phrase, if any, comes the same way as the PIN).\n"
		"\n"
		"Prints the domain's fingerprint (SHA-256 of the file): compare it on every unit.\n"
		"\n"
		"Examples:\n"
		"  tpmha domain create --out domain.tpmha --label prod \\\n"
		"      --ma-module /usr/lib/softhsm/libsofthsm2.so --ma-key 'pkcs11:token=ma;object=ma' \\\n"
		"      --ma-pin-file ma.pin\n"
		"  tpmha domain create --out domain.tpmha --ma-key-file ma.pem\n",
};

static const struct cli_opt show_opts[] = {
	{ "domain", "FILE", "the domain file" },
	OPT_JSON,
	OPT_END,
};

static const struct cli_cmd domain_show = {
	.name = "show",
	.summary = "show a domain file: label, id, MA key type, fingerprint",
	.run = cmd_domain_show,
	.usage = "--domain FILE [--json]",
	.opts = show_opts,
	.more = "The fingerprint is the SHA-256 of the file: the same on every unit that holds the\n"
		"same domain file. Compare it with the one `tpmha domain create` printed.\n"
		"\n"
		"Example:\n"
		"  tpmha domain show --domain domain.tpmha\n",
};

static const struct cli_opt approve_opts[] = {
	{ "domain", "FILE", "the domain file" },
	{ "unit", "FILE", "the identity file of the unit to approve (tpmha unit init)" },
	{ "request", "FILE", "instead: an approval request (tpmha replicate --request-out), TPM 1.2 keys too" },
	{ "out", "FILE", "write the approval to FILE" },
	OPT_MA,
	OPT_JSON,
	OPT_END,
};

static const struct cli_cmd domain_approve = {
	.name = "approve",
	.summary = "have the migration authority approve a unit as a destination",
	.run = cmd_domain_approve,
	.usage = "--domain FILE (--unit FILE | --request FILE) --out FILE (--ma-module PATH --ma-key URI | --ma-key-file FILE) "
		 "[--ma-pin-file FILE | --ma-pin-env VAR] [--json]",
	.opts = approve_opts,
	.more = "The MA signs what the unit's TPM will check before it lets a key of the domain\n"
		"be duplicated to that unit: on TPM 2.0, the policy digest of\n"
		"PolicyDuplicationSelect(the unit's storage key) and the domain's policyRef. One\n"
		"approval covers every key of the domain going to that unit. A TPM 1.2 unit is\n"
		"approved key by key (the TPM checks a TPM_CMK_AUTH naming the key): give the\n"
		"--request the sending unit wrote (tpmha replicate --request-out), which lists\n"
		"the keys; it works for TPM 2.0 units too. The signature is\n"
		"checked against the domain before the file is written. The approval is public:\n"
		"give it to the units that send keys (tpmha approval add, tpmha replicate\n"
		"--approval). MA options as for `domain create`; the key must be the domain's MA.\n"
		"\n"
		"Example:\n"
		"  tpmha domain approve --domain domain.tpmha --unit unitB.tpmha --out approvalB.tpmha \\\n"
		"      --ma-module /usr/lib/softhsm/libsofthsm2.so --ma-key 'pkcs11:token=ma;object=ma'\n",
};

static const struct cli_cmd *const domain_subs[] = { &domain_create, &domain_approve, &domain_show, NULL };

const struct cli_cmd domain_cmd = {
	.name = "domain",
	.summary = "create migration domains and approve units (the migration authority's side)",
	.subs = domain_subs,
};
