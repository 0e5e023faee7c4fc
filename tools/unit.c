/* `tpmha unit init|add|list`: this unit's identity (its TPM's unit storage key), the
 * identities of other units in a token, and the approvals the token holds for them.
 * Unit and approval objects are PKCS#11 objects of the vendor classes
 * CKO_TPMHA_UNIT / CKO_TPMHA_APPROVAL (include/tpmha/tpmha.h): CKA_VALUE is the file,
 * the module fills the rest. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migration/files.h"
#include "module/admin.h"
#include "tools/cli.h"

/* ---- shared ---- */

int cli_local_unit(struct cli *c, struct unit_file *out)
{
	const TPMHA_FUNCTION_LIST *v;
	CK_ULONG len = 0;
	uint8_t *file = NULL;
	CK_RV rv;
	int rc = cli_vendor(c, &v);

	memset(out, 0, sizeof(*out));
	if (rc != CLI_OK)
		return rc;
	rv = v->TPMHA_GetUnitIdentity(NULL, NULL, &len);
	if (rv == CKR_OK && !(file = malloc(len ? len : 1)))
		return cli_fail("out of memory");
	if (rv == CKR_OK)
		rv = v->TPMHA_GetUnitIdentity(NULL, file, &len);
	if (rv == CKR_OK && unit_file_parse(file, len, out) != CKR_OK)
		rv = CKR_GENERAL_ERROR;
	free(file);
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot read this unit's identity from the TPM");
	return CLI_OK;
}

char *cli_unit_label(const uint8_t *file, size_t len)
{
	struct unit_file u;
	char *label = NULL;

	if (file && unit_file_parse(file, len, &u) == CKR_OK) {
		label = u.label[0] ? strdup(u.label) : NULL;
		unit_file_release(&u);
	}
	return label;
}

/* The unit a migration file names: a unit file's own id (and label), an approval's
 * destination. */
static int file_unit_id(const uint8_t *file, size_t len, CK_OBJECT_CLASS klass, uint8_t id[UNIT_ID_LEN],
			char label[LABEL_MAX + 1])
{
	label[0] = '\0';
	if (klass == CKO_TPMHA_UNIT) {
		struct unit_file u;
		if (unit_file_parse(file, len, &u) != CKR_OK)
			return cli_fail("not a valid unit identity file");
		memcpy(id, u.id, UNIT_ID_LEN);
		memcpy(label, u.label, LABEL_MAX + 1);
		unit_file_release(&u);
	} else {
		struct approval_file a;
		if (approval_file_parse(file, len, &a) != CKR_OK)
			return cli_fail("not a valid approval file");
		memcpy(id, a.unit_id, UNIT_ID_LEN);
		approval_file_release(&a);
	}
	return CLI_OK;
}

int cli_migration_object(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const uint8_t *file,
			 size_t len, CK_OBJECT_HANDLE *out, bool *added)
{
	static const CK_BBOOL yes = CK_TRUE;
	uint8_t id[UNIT_ID_LEN];
	char label[LABEL_MAX + 1];
	CK_ATTRIBUTE find[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_TPMHA_UNIT_ID, id, sizeof(id) },
	};
	CK_ATTRIBUTE make[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_TOKEN, (void *)&yes, sizeof(yes) },
		{ CKA_VALUE, (void *)file, len },
		{ CKA_LABEL, label, 0 },
	};
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	CK_RV rv;
	int rc = file_unit_id(file, len, klass, id, label);

	*added = false;
	if (rc == CLI_OK)
		rc = cli_find(c, h, find, 2, &found, &n);
	if (rc != CLI_OK)
		goto out;
	/* A unit is its storage key (the id is its name's hash): one object per unit. An
	 * approval is kept unless the very same file is there (the newest one counts). */
	for (size_t i = n; i-- > 0;) {
		uint8_t *v = NULL;
		size_t vlen = 0;
		bool same = klass == CKO_TPMHA_UNIT ||
			    (cli_attr(c, h, found[i], CKA_VALUE, &v, &vlen) == CKR_OK && vlen == len &&
			     memcmp(v, file, len) == 0);
		free(v);
		if (same) {
			*out = found[i];
			goto out;
		}
	}
	/* The unit's label from its file, as CKA_LABEL: what pkcs11-tool -O shows. */
	make[3].ulValueLen = strlen(label);
	rv = c->p11->C_CreateObject(h, make, label[0] ? 4 : 3, out);
	if (rv != CKR_OK) {
		rc = cli_fail_rv(c, rv, "cannot add the %s to the token", klass == CKO_TPMHA_UNIT ? "unit" : "approval");
		goto out;
	}
	*added = true;
out:
	free(found);
	return rc;
}

/* ---- unit init ---- */

static int cmd_unit_init(struct cli *c)
{
	const char *out = cli_get(c, "out"), *label = cli_get(c, "label");
	char host[LABEL_MAX + 1] = "", id[33];
	const TPMHA_FUNCTION_LIST *v;
	struct unit_file u = { 0 };
	uint8_t *file = NULL;
	CK_ULONG len = 0;
	CK_RV rv;
	int rc = cli_require(c, "out");

	if (rc != CLI_OK)
		return rc;
	if (label && strlen(label) > LABEL_MAX)
		return cli_usage(c, "--label: a unit label has at most %d bytes", LABEL_MAX);
	if (!label) {
		if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
			return cli_usage(c, "cannot read the host name: give --label");
		label = host;
	}
	if ((rc = cli_vendor(c, &v)) != CLI_OK)
		return rc;
	/* The TPM re-derives the same storage key every time: the same file every time. */
	rv = v->TPMHA_GetUnitIdentity((CK_UTF8CHAR_PTR)label, NULL, &len);
	if (rv == CKR_OK && !(file = malloc(len ? len : 1)))
		return cli_fail("out of memory");
	if (rv == CKR_OK)
		rv = v->TPMHA_GetUnitIdentity((CK_UTF8CHAR_PTR)label, file, &len);
	if (rv != CKR_OK) {
		rc = cli_fail_rv(c, rv, "cannot read this unit's storage key from the TPM");
		goto out;
	}
	if (unit_file_parse(file, len, &u) != CKR_OK) {
		rc = cli_fail("the module made a unit file it cannot read back (a bug)");
		goto out;
	}
	if ((rc = cli_file_write("out", out, file, len)) != CLI_OK)
		goto out;
	cli_hex(id, u.id, sizeof(u.id));
	if (cli_has(c, "json")) {
		struct jw j;
		jw_start(&j, stdout);
		jw_object(&j, NULL);
		jw_string(&j, "file", out);
		jw_string(&j, "label", u.label);
		jw_string(&j, "id", id);
		jw_uint(&j, "tpm_version", (unsigned)u.tpm.tpm_version);
		jw_end(&j);
		jw_finish(&j);
	} else {
		printf("unit \"%s\" (id %s, TPM %d.%d) written to %s\n", u.label, id, u.tpm.tpm_version / 10,
		       u.tpm.tpm_version % 10, out);
		printf("Have the migration authority approve it (tpmha domain approve --unit %s).\n", out);
	}
out:
	unit_file_release(&u);
	free(file);
	return rc;
}

/* ---- unit add ---- */

static int cmd_unit_add(struct cli *c)
{
	const char *path = cli_get(c, "file");
	struct unit_file u = { 0 };
	struct token_ref t;
	CK_SESSION_HANDLE h = 0;
	CK_OBJECT_HANDLE o;
	uint8_t *file = NULL;
	size_t len = 0;
	bool added;
	char id[33];
	int rc = cli_require(c, "file");

	if (rc == CLI_OK)
		rc = cli_unit_read("file", path, &u, &file, &len);
	if (rc == CLI_OK)
		rc = cli_token_choose(c, &t);
	if (rc == CLI_OK)
		rc = cli_session_open(c, &t, true, &h);
	if (rc == CLI_OK)
		rc = cli_migration_object(c, h, CKO_TPMHA_UNIT, file, len, &o, &added);
	if (rc == CLI_OK) {
		cli_hex(id, u.id, sizeof(u.id));
		printf("unit \"%s\" (id %s) %s token \"%s\"\n", u.label[0] ? u.label : "?", id,
		       added ? "added to" : "is already in", t.label);
	}
	cli_session_close(c, h);
	unit_file_release(&u);
	cli_file_free(file, len);
	return rc;
}

/* ---- unit list ---- */

struct unit_row {
	char id[33];
	char *label;
	CK_ULONG tpm_version;
	bool local;
	uint8_t *file;
	size_t file_len;
};

struct approval_row {
	char unit_id[33], domain_id[33];
	const char *unit_label;
	const char *state; /* valid, invalid, other_domain, unit_unknown, unchecked */
};

static const char *approval_state(const struct domain_file *d, bool in_domain, const uint8_t *value, size_t len,
				  const struct unit_row *unit)
{
	struct approval_file a;
	struct unit_file u;
	const char *state = "invalid";

	if (approval_file_parse(value, len, &a) != CKR_OK)
		return state;
	if (!in_domain)
		state = "unchecked";
	else if (memcmp(a.domain_id, d->tpm.id, sizeof(a.domain_id)) != 0)
		state = "other_domain";
	else if (!unit)
		state = "unit_unknown";
	else if (unit_file_parse(unit->file, unit->file_len, &u) == CKR_OK) {
		state = approval_verify(d, &u, &a) == CKR_OK ? "valid" : "invalid";
		unit_file_release(&u);
	}
	approval_file_release(&a);
	return state;
}

static const char *state_text(const char *s)
{
	if (strcmp(s, "valid") == 0)
		return "valid (signed by the domain's MA)";
	if (strcmp(s, "other_domain") == 0)
		return "for another domain";
	if (strcmp(s, "unit_unknown") == 0)
		return "not checked: the unit is not in the token (tpmha unit add)";
	if (strcmp(s, "unchecked") == 0)
		return "not checked: the token has no domain";
	return "INVALID (not signed by the domain's MA for this unit)";
}

static int cmd_unit_list(struct cli *c)
{
	CK_OBJECT_CLASS uclass = CKO_TPMHA_UNIT, aclass = CKO_TPMHA_APPROVAL;
	CK_ATTRIBUTE ut = { CKA_CLASS, &uclass, sizeof(uclass) }, at = { CKA_CLASS, &aclass, sizeof(aclass) };
	CK_OBJECT_HANDLE *units = NULL, *approvals = NULL;
	struct unit_row *ur = NULL;
	struct approval_row *ar = NULL;
	size_t nu = 0, na = 0;
	struct domain_file d = { 0 };
	struct unit_file local = { 0 };
	bool in_domain = false;
	struct token_ref t;
	CK_SESSION_HANDLE h = 0;
	char fp[65] = "";
	CK_RV rv;
	int rc = cli_token_choose(c, &t);

	if (rc == CLI_OK)
		rc = cli_local_unit(c, &local);
	if (rc == CLI_OK && (rv = tpmha_admin_token_domain(t.slot, &d, &in_domain)) != CKR_OK)
		rc = cli_fail_rv(c, rv, "cannot read the domain of token \"%s\"", t.label);
	if (rc == CLI_OK)
		rc = cli_session_open(c, &t, false, &h);
	if (rc == CLI_OK)
		rc = cli_find(c, h, &ut, 1, &units, &nu);
	if (rc == CLI_OK)
		rc = cli_find(c, h, &at, 1, &approvals, &na);
	if (rc != CLI_OK)
		goto out;
	ur = calloc(nu + 1, sizeof(*ur));
	ar = calloc(na + 1, sizeof(*ar));
	if (!ur || !ar) {
		rc = cli_fail("out of memory");
		goto out;
	}
	for (size_t i = 0; i < nu; i++) {
		uint8_t *v = NULL;
		size_t len = 0;
		if (cli_attr(c, h, units[i], CKA_TPMHA_UNIT_ID, &v, &len) == CKR_OK && len == UNIT_ID_LEN) {
			cli_hex(ur[i].id, v, len);
			ur[i].local = memcmp(v, local.id, UNIT_ID_LEN) == 0;
		}
		free(v);
		if (cli_attr(c, h, units[i], CKA_LABEL, &v, &len) == CKR_OK)
			ur[i].label = (char *)v;
		ur[i].tpm_version = cli_attr_ulong(c, h, units[i], CKA_TPMHA_TPM_VERSION, 0);
		cli_attr(c, h, units[i], CKA_VALUE, &ur[i].file, &ur[i].file_len);
		if (!ur[i].label || !ur[i].label[0]) {
			free(ur[i].label);
			ur[i].label = cli_unit_label(ur[i].file, ur[i].file_len);
		}
	}
	for (size_t i = 0; i < na; i++) {
		uint8_t *v = NULL;
		size_t len = 0;
		const struct unit_row *unit = NULL;
		if (cli_attr(c, h, approvals[i], CKA_TPMHA_UNIT_ID, &v, &len) == CKR_OK && len == UNIT_ID_LEN)
			cli_hex(ar[i].unit_id, v, len);
		free(v);
		if (cli_attr(c, h, approvals[i], CKA_TPMHA_DOMAIN_ID, &v, &len) == CKR_OK && len == 16)
			cli_hex(ar[i].domain_id, v, len);
		free(v);
		for (size_t k = 0; k < nu && !unit; k++)
			if (strcmp(ur[k].id, ar[i].unit_id) == 0)
				unit = &ur[k];
		ar[i].unit_label = unit && unit->label ? unit->label : NULL;
		ar[i].state = "invalid";
		if (cli_attr(c, h, approvals[i], CKA_VALUE, &v, &len) == CKR_OK)
			ar[i].state = approval_state(&d, in_domain, v, len, unit);
		free(v);
	}
	if (in_domain)
		cli_hex(fp, d.fingerprint, sizeof(d.fingerprint));
	if (cli_has(c, "json")) {
		struct jw j;
		jw_start(&j, stdout);
		jw_object(&j, NULL);
		jw_string(&j, "token", t.label);
		jw_string(&j, "serial", t.serial);
		if (in_domain) {
			jw_object(&j, "domain");
			jw_string(&j, "label", d.label[0] ? d.label : NULL);
			jw_string(&j, "fingerprint", fp);
			jw_end(&j);
		} else {
			jw_string(&j, "domain", NULL);
		}
		jw_array(&j, "units");
		for (size_t i = 0; i < nu; i++) {
			jw_object(&j, NULL);
			jw_string(&j, "id", ur[i].id);
			jw_string(&j, "label", ur[i].label);
			jw_uint(&j, "tpm_version", ur[i].tpm_version);
			jw_bool(&j, "this_unit", ur[i].local);
			jw_end(&j);
		}
		jw_end(&j);
		jw_array(&j, "approvals");
		for (size_t i = 0; i < na; i++) {
			jw_object(&j, NULL);
			jw_string(&j, "unit_id", ar[i].unit_id);
			jw_string(&j, "unit_label", ar[i].unit_label);
			jw_string(&j, "domain_id", ar[i].domain_id);
			jw_string(&j, "state", ar[i].state);
			jw_end(&j);
		}
		jw_end(&j);
		jw_end(&j);
		jw_finish(&j);
	} else {
		printf("token \"%s\" (serial %s), domain %s%s%s%s%s\n", t.label, t.serial, in_domain ? "\"" : "none",
		       in_domain ? d.label : "", in_domain ? "\" (fingerprint " : "", fp, in_domain ? ")" : "");
		printf("units: %zu\n", nu);
		if (nu)
			printf("  %-32s  %-3s  %s\n", "ID", "TPM", "LABEL");
		for (size_t i = 0; i < nu; i++)
			printf("  %-32s  %lu.%lu  %s%s\n", ur[i].id, (unsigned long)ur[i].tpm_version / 10,
			       (unsigned long)ur[i].tpm_version % 10, ur[i].label ? ur[i].label : "",
			       ur[i].local ? " (this unit)" : "");
		printf("approvals: %zu\n", na);
		if (na)
			printf("  %-32s  %-12s  %s\n", "UNIT ID", "UNIT", "STATE");
		for (size_t i = 0; i < na; i++)
			printf("  %-32s  %-12s  %s\n", ar[i].unit_id, ar[i].unit_label ? ar[i].unit_label : "?",
			       state_text(ar[i].state));
	}
out:
	for (size_t i = 0; ur && i < nu; i++) {
		free(ur[i].label);
		free(ur[i].file);
	}
	free(ur);
	free(ar);
	free(units);
	free(approvals);
	domain_file_release(&d);
	unit_file_release(&local);
	cli_session_close(c, h);
	return rc;
}

/* ---- the tables ---- */

static const struct cli_opt init_opts[] = {
	{ "out", "FILE", "write this unit's identity file to FILE" },
	{ "label", "LABEL", "a name for this unit (up to 64 bytes; default: the host name)" },
	OPT_JSON,
	OPT_END,
};

static const struct cli_cmd unit_init = {
	.name = "init",
	.summary = "write this unit's identity file (its TPM's unit storage key)",
	.run = cmd_unit_init,
	.usage = "--out FILE [--label LABEL] [--json]",
	.opts = init_opts,
	.more = "The unit storage key is a non-duplicable restricted decryption key in the TPM's\n"
		"owner hierarchy, derived again from the TPM's seed every time: running this twice\n"
		"gives the same file. Only a TPM clear changes it (and voids every approval of\n"
		"the old one). The file is public: give it to the migration authority for\n"
		"approval (tpmha domain approve) and to the units that will send keys here.\n"
		"\n"
		"Example:\n"
		"  tpmha unit init --out unitB.tpmha --label unit-b\n",
};

static const struct cli_opt add_opts[] = {
	OPT_TOKEN_SELECT,
	{ "file", "FILE", "the unit's identity file (tpmha unit init on that unit)" },
	OPT_END,
};

static const struct cli_cmd unit_add = {
	.name = "add",
	.summary = "add another unit's identity to a token (a destination for its keys)",
	.run = cmd_unit_add,
	.usage = "(--token LABEL | --serial SERIAL) --file FILE",
	.opts = add_opts,
	.more = "Creates a CKO_TPMHA_UNIT object (C_CreateObject, CKA_VALUE = the file). A unit\n"
		"already in the token is not added twice. Keys go to it only once the token\n"
		"also holds the migration authority's approval of it (tpmha approval add);\n"
		"`tpmha replicate` adds both by itself.\n"
		"\n"
		"Example:\n"
		"  tpmha unit add --token web --file unitB.tpmha\n",
};

static const struct cli_opt list_opts[] = { OPT_TOKEN_SELECT, OPT_JSON, OPT_END };

static const struct cli_cmd unit_list = {
	.name = "list",
	.summary = "list the units and approvals a token holds",
	.run = cmd_unit_list,
	.usage = "(--token LABEL | --serial SERIAL) [--json]",
	.opts = list_opts,
	.more = "Units: id, TPM version, label (this unit's own is marked). Approvals: the unit\n"
		"they name and whether they verify against the token's domain (checked here in\n"
		"software; the TPM checks again when keys are duplicated). JSON states: valid,\n"
		"invalid, other_domain, unit_unknown, unchecked.\n"
		"\n"
		"Example:\n"
		"  tpmha unit list --token web\n",
};

static const struct cli_cmd *const unit_subs[] = { &unit_init, &unit_add, &unit_list, NULL };

const struct cli_cmd unit_cmd = {
	.name = "unit",
	.summary = "this unit's identity, and the units a token may send keys to",
	.subs = unit_subs,
};
