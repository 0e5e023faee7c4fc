/* `tpmha approval add`: put the migration authority's approval of a unit into a
 * token (a CKO_TPMHA_APPROVAL object), after checking it against the token's domain
 * here, so a wrong file is refused now rather than at the next replication. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "migration/files.h"
#include "module/admin.h"
#include "tools/cli.h"

/* The token's unit object for id, as a parsed unit file; *found false if none. */
static int token_unit(struct cli *c, CK_SESSION_HANDLE h, const uint8_t *id, struct unit_file *u, bool *found)
{
	CK_OBJECT_CLASS klass = CKO_TPMHA_UNIT;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_TPMHA_UNIT_ID, (void *)id, UNIT_ID_LEN },
	};
	CK_OBJECT_HANDLE *objs = NULL;
	uint8_t *v = NULL;
	size_t n = 0, len = 0;
	int rc = cli_find(c, h, tmpl, 2, &objs, &n);

	*found = false;
	if (rc == CLI_OK && n && cli_attr(c, h, objs[0], CKA_VALUE, &v, &len) == CKR_OK &&
	    unit_file_parse(v, len, u) == CKR_OK)
		*found = true;
	free(v);
	free(objs);
	return rc;
}

static int cmd_approval_add(struct cli *c)
{
	const char *path = cli_get(c, "file");
	struct approval_file a = { 0 };
	struct domain_file d = { 0 };
	struct unit_file u = { 0 };
	bool in_domain = false, have_unit = false, added;
	struct token_ref t;
	CK_SESSION_HANDLE h = 0;
	CK_OBJECT_HANDLE o;
	uint8_t *file = NULL;
	size_t len = 0;
	char uid[33];
	CK_RV rv;
	int rc = cli_require(c, "file");

	if (rc == CLI_OK && ossl_init() != CKR_OK)
		rc = cli_fail("cannot set up OpenSSL");
	if (rc == CLI_OK)
		rc = cli_file_read("file", path, CLI_SMALL_FILE_MAX, &file, &len);
	if (rc == CLI_OK && approval_file_parse(file, len, &a) != CKR_OK)
		rc = cli_fail("--file: %s is not a valid tpmha approval file", path);
	if (rc == CLI_OK)
		rc = cli_token_choose(c, &t);
	if (rc == CLI_OK && (rv = tpmha_admin_token_domain(t.slot, &d, &in_domain)) != CKR_OK)
		rc = cli_fail_rv(c, rv, "cannot read the domain of token \"%s\"", t.label);
	if (rc != CLI_OK)
		goto out;
	cli_hex(uid, a.unit_id, sizeof(a.unit_id));
	if (!in_domain) {
		rc = cli_fail("token \"%s\" has no migration domain: its keys never leave this unit, and it takes no "
			      "approvals", t.label);
		goto out;
	}
	if (memcmp(a.domain_id, d.tpm.id, sizeof(a.domain_id)) != 0) {
		rc = cli_fail("%s approves unit %s in another domain than token \"%s\"'s (\"%s\")", path, uid, t.label,
			      d.label);
		goto out;
	}
	if ((rc = cli_session_open(c, &t, true, &h)) != CLI_OK ||
	    (rc = token_unit(c, h, a.unit_id, &u, &have_unit)) != CLI_OK)
		goto out;
	if (have_unit && approval_verify(&d, &u, &a) != CKR_OK) {
		rc = cli_fail("%s was not signed by the migration authority of domain \"%s\" for unit \"%s\"", path,
			      d.label, u.label[0] ? u.label : uid);
		goto out;
	}
	if ((rc = cli_migration_object(c, h, CKO_TPMHA_APPROVAL, file, len, &o, &added)) != CLI_OK)
		goto out;
	printf("approval of unit %s%s%s %s token \"%s\"\n", have_unit ? "\"" : "", have_unit ? u.label : uid,
	       have_unit ? "\"" : "", added ? "added to" : "is already in", t.label);
	if (!have_unit)
		printf("(the token does not hold that unit's identity yet: tpmha unit add; the approval is "
		       "checked when keys go there)\n");
out:
	cli_session_close(c, h);
	approval_file_release(&a);
	domain_file_release(&d);
	unit_file_release(&u);
	cli_file_free(file, len);
	return rc;
}

static const struct cli_opt add_opts[] = {
	OPT_TOKEN_SELECT,
	{ "file", "FILE", "the approval file (tpmha domain approve)" },
	OPT_END,
};

static const struct cli_cmd approval_add = {
	.name = "add",
	.summary = "add the migration authority's approval of a unit to a token",
	.run = cmd_approval_add,
	.usage = "(--token LABEL | --serial SERIAL) --file FILE",
	.opts = add_opts,
	.more = "Creates a CKO_TPMHA_APPROVAL object (C_CreateObject, CKA_VALUE = the file). The\n"
		"approval must be for the token's domain and, if the token holds the unit's\n"
		"identity, signed by the domain's migration authority for that unit. The same\n"
		"file is not added twice; a newer approval of the same unit wins.\n"
		"\n"
		"Example:\n"
		"  tpmha approval add --token web --file approvalB.tpmha\n",
};

static const struct cli_cmd *const approval_subs[] = { &approval_add, NULL };

const struct cli_cmd approval_cmd = {
	.name = "approval",
	.summary = "add migration authority approvals to tokens",
	.subs = approval_subs,
};
