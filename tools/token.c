/* `tpmha token init|list|delete` and `tpmha pin change`. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "migration/files.h"
#include "module/admin.h"
#include "tools/cli.h"

/* The domain a new token is bound to (--domain). */
struct new_domain {
	uint8_t *bytes;
	size_t len;
	struct domain_file d;
};

/* ---- token init ---- */

static bool slot_in(CK_SLOT_ID slot, const struct token_ref *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].slot == slot)
			return true;
	return false;
}

/* The token C_InitToken just made: labelled so, and not there before. */
static int find_new_token(struct cli *c, const char *label, const struct token_ref *before,
			  size_t nbefore, struct token_ref *out)
{
	struct token_ref *now = NULL;
	size_t n = 0;
	int rc = cli_tokens(c, &now, &n);

	for (size_t i = 0; rc == CLI_OK && i < n; i++)
		if (strcmp(now[i].label, label) == 0 && !slot_in(now[i].slot, before, nbefore)) {
			*out = now[i];
			free(now);
			return CLI_OK;
		}
	free(now);
	return rc != CLI_OK ? rc : cli_fail("the new token \"%s\" is not among the slots", label);
}

/* C_InitPIN as the SO, on the new token. */
static int set_user_pin(struct cli *c, const struct token_ref *t, const struct pin *so,
			const struct pin *user)
{
	CK_SESSION_HANDLE h = 0;
	CK_RV rv;
	int rc = cli_session_open(c, t, true, &h);

	if (rc == CLI_OK)
		rc = cli_login(c, t, h, CKU_SO, so);
	if (rc == CLI_OK) {
		rv = c->p11->C_InitPIN(h, (CK_UTF8CHAR_PTR)user->value, user->len);
		if (rv != CKR_OK)
			rc = cli_fail_rv(c, rv, "cannot set the user PIN of the new token \"%s\"", t->label);
	}
	cli_session_close(c, h);
	return rc;
}

static int init_token(struct cli *c, const char *label, const struct pin *so, const struct pin *user,
		      const struct token_ref *before, size_t nbefore, const struct new_domain *dom)
{
	CK_UTF8CHAR padded[32];
	struct token_ref t;
	const TPMHA_FUNCTION_LIST *v;
	CK_SLOT_ID made;
	CK_RV rv;
	int rc;

	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label));
	if (dom) {
		/* C_InitToken plus the domain: the vendor function list. */
		if ((rc = cli_vendor(c, &v)) != CLI_OK)
			return rc;
		rv = v->TPMHA_InitDomainToken(FREE_SLOT_ID, (CK_UTF8CHAR_PTR)so->value, so->len, padded, dom->bytes,
					      dom->len, &made);
	} else {
		rv = c->p11->C_InitToken(FREE_SLOT_ID, (CK_UTF8CHAR_PTR)so->value, so->len, padded);
	}
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot create the token \"%s\"", label);
	rc = find_new_token(c, label, before, nbefore, &t);
	if (rc != CLI_OK)
		return rc;
	rc = set_user_pin(c, &t, so, user);
	if (rc != CLI_OK) {
		/* All or nothing: a token without a user PIN is of no use to anyone. */
		rv = tpmha_admin_token_delete(t.slot, (const CK_UTF8CHAR *)so->value, so->len);
		if (rv != CKR_OK)
			cli_fail_rv(c, rv, "the half-made token \"%s\" (serial %s) could not be removed", label,
				    t.serial);
		return rc;
	}
	printf("token \"%s\" created: serial %s, slot %lu\n", label, t.serial, (unsigned long)t.slot);
	if (dom) {
		char fp[65];
		cli_hex(fp, dom->d.fingerprint, sizeof(dom->d.fingerprint));
		printf("migration domain \"%s\" (fingerprint %s): its keys may be replicated to the units its\n"
		       "migration authority approves\n", dom->d.label, fp);
	}
	return CLI_OK;
}

static int cmd_token_init(struct cli *c)
{
	const char *label = cli_get(c, "label");
	struct token_ref *before = NULL;
	size_t nbefore = 0;
	struct pin so = { 0 }, user = { 0 };
	struct new_domain dom = { 0 };
	bool with_domain = cli_has(c, "domain");
	char what[96];
	int rc;

	if ((rc = cli_require(c, "label")) != CLI_OK)
		return rc;
	if (strlen(label) > 32)
		return cli_usage(c, "--label: a token label has at most 32 bytes");
	/* The domain file first: a wrong one is refused before any PIN is asked. */
	if (with_domain && (rc = cli_domain_read("domain", cli_get(c, "domain"), &dom.d, &dom.bytes, &dom.len)) != CLI_OK)
		goto out;
	if ((rc = cli_p11_start(c)) != CLI_OK || (rc = cli_tokens(c, &before, &nbefore)) != CLI_OK)
		goto out;
	for (size_t i = 0; i < nbefore; i++)
		if (strcmp(before[i].label, label) == 0) {
			rc = cli_fail("a token labelled \"%s\" exists already (serial %s)", label, before[i].serial);
			goto out;
		}
	snprintf(what, sizeof(what), "new SO PIN of token \"%s\"", label);
	rc = cli_pin_get(c, "so-pin-file", "so-pin-env", what, true, &so);
	if (rc != CLI_OK)
		goto out;
	snprintf(what, sizeof(what), "new user PIN of token \"%s\"", label);
	rc = cli_pin_get(c, "pin-file", "pin-env", what, true, &user);
	if (rc == CLI_OK)
		rc = init_token(c, label, &so, &user, before, nbefore, with_domain ? &dom : NULL);
out:
	cli_pin_clear(&so);
	cli_pin_clear(&user);
	free(before);
	domain_file_release(&dom.d);
	cli_file_free(dom.bytes, dom.len);
	return rc;
}

/* ---- token delete ---- */

static int cmd_token_delete(struct cli *c)
{
	struct token_ref t;
	struct pin so = { 0 };
	char what[96];
	CK_RV rv;
	int rc = cli_token_choose(c, &t);

	if (rc != CLI_OK)
		return rc;
	snprintf(what, sizeof(what), "SO PIN of token \"%s\"", t.label);
	rc = cli_pin_get(c, "so-pin-file", "so-pin-env", what, false, &so);
	if (rc != CLI_OK)
		return rc;
	rv = tpmha_admin_token_delete(t.slot, (const CK_UTF8CHAR *)so.value, so.len);
	cli_pin_clear(&so);
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot delete token \"%s\"", t.label);
	printf("token \"%s\" (serial %s) deleted with all its objects\n", t.label, t.serial);
	return CLI_OK;
}

/* ---- pin change ---- */

static int change_pin(struct cli *c, const struct token_ref *t, CK_USER_TYPE who, const struct pin *old,
		      const struct pin *new_pin)
{
	CK_SESSION_HANDLE h = 0;
	CK_RV rv;
	int rc = cli_session_open(c, t, true, &h);

	if (rc == CLI_OK)
		rc = cli_login(c, t, h, who, old);
	if (rc == CLI_OK) {
		rv = c->p11->C_SetPIN(h, (CK_UTF8CHAR_PTR)old->value, old->len,
				      (CK_UTF8CHAR_PTR)new_pin->value, new_pin->len);
		if (rv != CKR_OK)
			rc = cli_fail_rv(c, rv, "cannot change the %s PIN of token \"%s\"",
					 who == CKU_SO ? "SO" : "user", t->label);
	}
	cli_session_close(c, h);
	return rc;
}

static int cmd_pin_change(struct cli *c)
{
	bool so = cli_has(c, "so");
	const char *role = so ? "SO" : "user";
	struct token_ref t;
	struct pin old = { 0 }, new_pin = { 0 };
	char what[96];
	int rc;

	if (so && (cli_has(c, "pin-file") || cli_has(c, "pin-env")))
		return cli_usage(c, "with --so, the current PIN comes from --so-pin-file or --so-pin-env");
	if (!so && (cli_has(c, "so-pin-file") || cli_has(c, "so-pin-env")))
		return cli_usage(c, "--so-pin-file and --so-pin-env need --so");
	rc = cli_token_choose(c, &t);
	if (rc != CLI_OK)
		return rc;
	snprintf(what, sizeof(what), "current %s PIN of token \"%s\"", role, t.label);
	rc = cli_pin_get(c, so ? "so-pin-file" : "pin-file", so ? "so-pin-env" : "pin-env", what, false, &old);
	if (rc != CLI_OK)
		goto out;
	snprintf(what, sizeof(what), "new %s PIN of token \"%s\"", role, t.label);
	rc = cli_pin_get(c, "new-pin-file", "new-pin-env", what, true, &new_pin);
	if (rc == CLI_OK)
		rc = change_pin(c, &t, so ? CKU_SO : CKU_USER, &old, &new_pin);
	if (rc == CLI_OK)
		printf("the %s PIN of token \"%s\" is changed\n", role, t.label);
out:
	cli_pin_clear(&old);
	cli_pin_clear(&new_pin);
	return rc;
}

/* ---- the tables ---- */

static const struct cli_opt init_opts[] = {
	{ "label", "LABEL", "the new token's label (up to 32 bytes; must be new)" },
	{ "domain", "FILE", "bind the token to this migration domain (tpmha domain create)" },
	OPT_SO_PIN,
	OPT_USER_PIN,
	OPT_END,
};

static const struct cli_cmd token_init = {
	.name = "init",
	.summary = "create a token and set its SO and user PINs",
	.run = cmd_token_init,
	.usage = "--label LABEL [--domain FILE] [--so-pin-file FILE | --so-pin-env VAR] [--pin-file FILE | --pin-env VAR]",
	.opts = init_opts,
	.more = "The token is made on the free slot (C_InitToken on slot 0), then its user PIN is\n"
		"set (C_InitPIN). New PINs have 4 to 128 characters and are asked twice at the\n"
		"terminal. If setting the user PIN fails, the new token is removed again.\n"
		"\n"
		"With --domain (TPMHA_InitDomainToken) the token belongs to a migration domain:\n"
		"its keys are made so the TPM duplicates them only to units the domain's migration\n"
		"authority approves (tpmha replicate). Without it, keys never leave this TPM.\n"
		"\n"
		"Examples:\n"
		"  tpmha token init --label web\n"
		"  tpmha token init --label web --so-pin-file so.pin --pin-file user.pin\n"
		"  tpmha token init --label web --domain domain.tpmha\n",
};

static const struct cli_opt list_opts[] = { OPT_JSON, OPT_END };

static const struct cli_cmd token_list = {
	.name = "list",
	.summary = "list the tokens: slot, serial, user PIN state, label",
	.run = cmd_token_list,
	.usage = "[--json]",
	.opts = list_opts,
	.more = "Example:\n"
		"  tpmha token list --json\n",
};

static const struct cli_opt delete_opts[] = { OPT_TOKEN_SELECT, OPT_SO_PIN, OPT_END };

static const struct cli_cmd token_delete = {
	.name = "delete",
	.summary = "delete a token and every object in it (needs the SO PIN)",
	.run = cmd_token_delete,
	.usage = "(--token LABEL | --serial SERIAL) [--so-pin-file FILE | --so-pin-env VAR]",
	.opts = delete_opts,
	.more = "The TPM checks the SO PIN (a wrong one counts as a dictionary-attack failure).\n"
		"No application may have a session open on the token in this process; other\n"
		"processes see the token gone at their next call.\n"
		"\n"
		"Example:\n"
		"  tpmha token delete --token web\n",
};

static const struct cli_cmd *const token_subs[] = { &token_init, &token_list, &token_delete, NULL };

const struct cli_cmd token_cmd = {
	.name = "token",
	.summary = "create, list and delete tokens",
	.subs = token_subs,
};

static const struct cli_opt change_opts[] = {
	OPT_TOKEN_SELECT,
	{ "so", NULL, "change the SO PIN (default: the user PIN)" },
	{ "pin-file", "FILE", "read the current user PIN from the first line of FILE" },
	{ "pin-env", "VAR", "read the current user PIN from the environment variable VAR" },
	{ "so-pin-file", "FILE", "with --so: read the current SO PIN from FILE" },
	{ "so-pin-env", "VAR", "with --so: read the current SO PIN from VAR" },
	{ "new-pin-file", "FILE", "read the new PIN from the first line of FILE" },
	{ "new-pin-env", "VAR", "read the new PIN from the environment variable VAR" },
	OPT_END,
};

static const struct cli_cmd pin_change = {
	.name = "change",
	.summary = "change the user PIN, or with --so the SO PIN",
	.run = cmd_pin_change,
	.usage = "(--token LABEL | --serial SERIAL) [--so] [current PIN option] [--new-pin-file FILE | --new-pin-env VAR]",
	.opts = change_opts,
	.more = "Logs in with the current PIN (checked by the TPM) and sets the new one\n"
		"(C_SetPIN). The new PIN has 4 to 128 characters and is asked twice at the terminal.\n"
		"\n"
		"Examples:\n"
		"  tpmha pin change --token web\n"
		"  tpmha pin change --token web --so --so-pin-file old.pin --new-pin-file new.pin\n",
};

static const struct cli_cmd *const pin_subs[] = { &pin_change, NULL };

const struct cli_cmd pin_cmd = {
	.name = "pin",
	.summary = "change PINs",
	.subs = pin_subs,
};
