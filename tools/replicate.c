/* `tpmha replicate`: a whole token (TPMHA_ReplicateToken) or one key (C_WrapKey with
 * CKM_TPMHA_MIGRATE) as a bundle for one destination unit. The destination's identity
 * and the migration authority's approval go into the token first if they are not
 * there; the TPM then duplicates each key only to that unit, and only with that
 * approval. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migration/bundle.h"
#include "migration/files.h"
#include "module/admin.h"
#include "tools/cli.h"

struct rep {
	struct token_ref t;
	CK_SESSION_HANDLE h;
	struct domain_file d;
	struct unit_file u;        /* the destination */
	struct approval_file a;
	bool have_approval;
	uint8_t *unit_bytes, *approval_bytes;
	size_t unit_len, approval_len;
	char unit_name[96];        /* "\"B\" (3f2a...)" for messages */
	int local_version;         /* this unit's TPM version: 20 or 12 */
};

static void rep_release(struct cli *c, struct rep *r)
{
	cli_session_close(c, r->h);
	domain_file_release(&r->d);
	unit_file_release(&r->u);
	approval_file_release(&r->a);
	cli_file_free(r->unit_bytes, r->unit_len);
	cli_file_free(r->approval_bytes, r->approval_len);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The files, checked against each other and against the token's domain. */
static int read_inputs(struct cli *c, struct rep *r)
{
	char uid[33];
	bool in_domain = false;
	CK_RV rv;
	int rc = cli_unit_read("to", cli_get(c, "to"), &r->u, &r->unit_bytes, &r->unit_len);

	if (rc != CLI_OK)
		return rc;
	cli_hex(uid, r->u.id, sizeof(r->u.id));
	snprintf(r->unit_name, sizeof(r->unit_name), "\"%s\" (%.16s)", r->u.label[0] ? r->u.label : "?", uid);
	if (cli_has(c, "approval")) {
		const char *path = cli_get(c, "approval");
		rc = cli_file_read("approval", path, CLI_SMALL_FILE_MAX, &r->approval_bytes, &r->approval_len);
		if (rc == CLI_OK && approval_file_parse(r->approval_bytes, r->approval_len, &r->a) != CKR_OK)
			rc = cli_fail("--approval: %s is not a valid tpmha approval file", path);
		if (rc != CLI_OK)
			return rc;
		r->have_approval = true;
		if (memcmp(r->a.unit_id, r->u.id, sizeof(r->u.id)) != 0) {
			char other[33];
			cli_hex(other, r->a.unit_id, sizeof(r->a.unit_id));
			return cli_fail("--approval: %s approves unit %.16s, not unit %s", path, other, r->unit_name);
		}
	}
	if ((rc = cli_token_choose(c, &r->t)) != CLI_OK)
		return rc;
	if ((rv = tpmha_admin_token_domain(r->t.slot, &r->d, &in_domain)) != CKR_OK)
		return cli_fail_rv(c, rv, "cannot read the domain of token \"%s\"", r->t.label);
	if (!in_domain)
		return cli_fail("token \"%s\" has no migration domain: its keys never leave this unit "
				"(tpmha token init --domain makes tokens whose keys can)", r->t.label);
	if (r->have_approval && memcmp(r->a.domain_id, r->d.tpm.id, sizeof(r->d.tpm.id)) != 0)
		return cli_fail("--approval: the approval is for another domain than token \"%s\"'s (\"%s\")", r->t.label,
				r->d.label);
	if (r->have_approval && approval_verify(&r->d, &r->u, &r->a) != CKR_OK)
		return cli_fail("--approval: not signed by the migration authority of domain \"%s\" for unit %s",
				r->d.label, r->unit_name);
	return CLI_OK;
}

static int refuse_self(struct cli *c, struct rep *r)
{
	struct unit_file local;
	int rc = cli_local_unit(c, &local);

	if (rc == CLI_OK && memcmp(local.id, r->u.id, sizeof(local.id)) == 0)
		rc = cli_fail("--to: unit %s is this unit: a bundle goes to another unit", r->unit_name);
	if (rc == CLI_OK)
		r->local_version = local.tpm.tpm_version;
	unit_file_release(&local);
	return rc;
}

/* The module refuses a unit of the other TPM version with the same CKR_KEY_NOT_WRAPPABLE
 * as a missing approval (its log says which); the operator is told which one it is.
 * The module still decides: the check is not made here first. */
static bool versions_differ(struct cli *c, const struct rep *r, CK_RV rv)
{
	if (rv != CKR_KEY_NOT_WRAPPABLE || !r->local_version || r->local_version == r->u.tpm.tpm_version)
		return false;
	cli_fail("unit %s has a TPM %d.%d and this unit a TPM %d.%d: moving keys between TPM versions is not "
		 "supported yet", r->unit_name, r->u.tpm.tpm_version / 10, r->u.tpm.tpm_version % 10,
		 r->local_version / 10, r->local_version % 10);
	cli_log_hint(c);
	return true;
}

/* The one private key --key-id or --key-label names. */
static int find_key(struct cli *c, struct rep *r, CK_OBJECT_HANDLE *key, char *name, size_t name_size)
{
	CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
	const char *label = cli_get(c, "key-label");
	uint8_t id[ID_MAX];
	size_t id_len = 0, n = 0;
	CK_OBJECT_HANDLE *found = NULL;
	CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &klass, sizeof(klass) } };
	CK_BBOOL extractable = CK_FALSE;
	CK_ATTRIBUTE ext = { CKA_EXTRACTABLE, &extractable, sizeof(extractable) };
	int rc = CLI_OK;

	if (label) {
		tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
		snprintf(name, name_size, "\"%s\"", label);
	} else {
		if ((rc = cli_hex_parse(c, "key-id", cli_get(c, "key-id"), id, sizeof(id), &id_len)) != CLI_OK)
			return rc;
		tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, id, id_len };
		snprintf(name, name_size, "with ID %s", cli_get(c, "key-id"));
	}
	if ((rc = cli_find(c, r->h, tmpl, 2, &found, &n)) != CLI_OK)
		return rc;
	if (n != 1)
		rc = cli_fail("%s private key %s in token \"%s\"", n ? "more than one" : "no", name, r->t.label);
	else
		*key = found[0];
	free(found);
	if (rc == CLI_OK && c->p11->C_GetAttributeValue(r->h, *key, &ext, 1) == CKR_OK && extractable != CK_TRUE)
		rc = cli_fail("key %s was made to stay on this unit (CKA_EXTRACTABLE is false): it is never "
			      "replicated", name);
	return rc;
}

/* How many objects and keys the token shows the logged-in user (what a whole-token
 * bundle carries, but for keys made to stay here). */
static int census(struct cli *c, struct rep *r, size_t *objects, size_t *keys, size_t *staying)
{
	CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE pk = { CKA_CLASS, &klass, sizeof(klass) };
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0;
	int rc = cli_find(c, r->h, NULL, 0, &found, objects);

	free(found);
	found = NULL;
	*keys = *staying = 0;
	if (rc == CLI_OK)
		rc = cli_find(c, r->h, &pk, 1, &found, &n);
	for (size_t i = 0; rc == CLI_OK && i < n; i++) {
		CK_BBOOL e = CK_FALSE;
		CK_ATTRIBUTE a = { CKA_EXTRACTABLE, &e, sizeof(e) };
		if (c->p11->C_GetAttributeValue(r->h, found[i], &a, 1) == CKR_OK && e == CK_TRUE)
			++*keys;
		else
			++*staying;
	}
	free(found);
	return rc;
}

static int make_bundle(struct cli *c, struct rep *r, CK_OBJECT_HANDLE unit, CK_OBJECT_HANDLE key,
		       uint8_t **out, CK_ULONG *len)
{
	CK_MECHANISM mech = { CKM_TPMHA_MIGRATE, NULL, 0 };
	const TPMHA_FUNCTION_LIST *v;
	CK_RV rv;
	int rc = cli_vendor(c, &v);

	*out = NULL;
	*len = 0;
	if (rc != CLI_OK)
		return rc;
	rv = key ? c->p11->C_WrapKey(r->h, &mech, unit, key, NULL, len) : v->TPMHA_ReplicateToken(r->h, unit, NULL, len);
	if (rv == CKR_OK && !(*out = malloc(*len ? *len : 1)))
		return cli_fail("out of memory");
	if (rv == CKR_OK)
		rv = key ? c->p11->C_WrapKey(r->h, &mech, unit, key, *out, len) :
			   v->TPMHA_ReplicateToken(r->h, unit, *out, len);
	if (rv == CKR_OK)
		return CLI_OK;
	free(*out);
	*out = NULL;
	if (versions_differ(c, r, rv))
		return CLI_FAILED;
	if (rv == CKR_KEY_NOT_WRAPPABLE) {
		if (r->u.tpm.tpm_version == 12)
			cli_fail("the migration authority has not approved these keys for unit %s: a TPM 1.2 unit "
				 "is approved key by key (tpmha replicate ... --request-out REQ, then tpmha domain "
				 "approve --request REQ, then tpmha replicate --approval FILE)", r->unit_name);
		else
			cli_fail("the migration authority has not approved unit %s (tpmha domain approve, then "
				 "tpmha replicate --approval FILE or tpmha approval add)", r->unit_name);
		cli_log_hint(c);
		return CLI_FAILED;
	}
	rc = cli_fail_rv(c, rv, "cannot replicate %s of token \"%s\" to unit %s", key ? "the key" : "the token",
			 r->t.label, r->unit_name);
	if (rv == CKR_FUNCTION_FAILED || rv == CKR_GENERAL_ERROR || rv == CKR_DEVICE_ERROR ||
	    rv == CKR_KEY_UNEXTRACTABLE)
		cli_log_hint(c);
	return rc;
}

/* What the MA must sign for this replication, as a file for `domain approve --request`. */
static int write_request(struct cli *c, struct rep *r, CK_OBJECT_HANDLE unit, CK_OBJECT_HANDLE key)
{
	const char *path = cli_get(c, "request-out");
	const TPMHA_FUNCTION_LIST *v;
	uint8_t *req = NULL;
	CK_ULONG len = 0;
	CK_RV rv;
	int rc = cli_vendor(c, &v);

	if (rc != CLI_OK)
		return rc;
	rv = v->TPMHA_ApprovalRequest(r->h, unit, key, NULL, &len);
	if (rv == CKR_OK && !(req = malloc(len ? len : 1)))
		return cli_fail("out of memory");
	if (rv == CKR_OK)
		rv = v->TPMHA_ApprovalRequest(r->h, unit, key, req, &len);
	if (rv != CKR_OK) {
		free(req);
		if (versions_differ(c, r, rv))
			return CLI_FAILED;
		return cli_fail_rv(c, rv, "cannot make the approval request for unit %s", r->unit_name);
	}
	rc = cli_file_write("request-out", path, req, len);
	free(req);
	if (rc == CLI_OK)
		printf("approval request for unit %s written to %s: on the migration authority's side,\n"
		       "  tpmha domain approve --domain DOMAIN-FILE --request %s --out APPROVAL\n"
		       "then here: tpmha replicate ... --approval APPROVAL --out BUNDLE\n", r->unit_name, path, path);
	return rc;
}

static void summary(struct cli *c, const struct rep *r, const char *out, const uint8_t *data, size_t len,
		    double seconds)
{
	struct bundle b = { 0 };
	size_t keys = 0;
	char uid[33];
	bool parsed = bundle_parse(data, len, &b) == CKR_OK;

	for (size_t i = 0; parsed && i < b.nobjects; i++)
		keys += b.objects[i].key_dup.len > 0;
	cli_hex(uid, r->u.id, sizeof(r->u.id));
	if (cli_has(c, "json")) {
		struct jw j;
		jw_start(&j, stdout);
		jw_object(&j, NULL);
		jw_string(&j, "bundle", out);
		jw_uint(&j, "size", len);
		jw_object(&j, "token");
		jw_string(&j, "label", r->t.label);
		jw_string(&j, "serial", r->t.serial);
		jw_end(&j);
		jw_object(&j, "unit");
		jw_string(&j, "label", r->u.label[0] ? r->u.label : NULL);
		jw_string(&j, "id", uid);
		jw_end(&j);
		jw_bool(&j, "whole_token", parsed && b.whole_token);
		jw_uint(&j, "objects", parsed ? b.nobjects : 0);
		jw_uint(&j, "keys", keys);
		jw_uint(&j, "milliseconds", (unsigned long long)(seconds * 1000 + 0.5));
		jw_end(&j);
		jw_finish(&j);
	} else {
		printf("bundle for unit %s written to %s: %s of token \"%s\" (serial %s), %zu objects (%zu key%s), "
		       "%zu bytes\n", r->unit_name, out, parsed && b.whole_token ? "the whole" : "one key",
		       r->t.label, r->t.serial, parsed ? b.nobjects : 0, keys, keys == 1 ? "" : "s", len);
		printf("On that unit: tpmha receive --in %s%s\n", out,
		       parsed && b.whole_token ? " --domain DOMAIN-FILE (if the token is new there)" : "");
	}
	bundle_release(&b);
}

static int cmd_replicate(struct cli *c)
{
	struct rep r = { 0 };
	CK_OBJECT_HANDLE unit = 0, approval = 0, key = 0;
	uint8_t *bundle = NULL;
	CK_ULONG len = 0;
	bool added = false, approval_added = false;
	size_t objects = 0, keys = 0, staying = 0;
	char key_name[300] = "";
	double t0;
	int rc;

	if ((rc = cli_require(c, "to")) != CLI_OK || (rc = cli_one_of(c, "out", "request-out", true)) != CLI_OK ||
	    (rc = cli_one_of(c, "key-id", "key-label", false)) != CLI_OK)
		return rc;
	if ((rc = read_inputs(c, &r)) != CLI_OK || (rc = refuse_self(c, &r)) != CLI_OK ||
	    (rc = cli_session_open(c, &r.t, true, &r.h)) != CLI_OK || (rc = cli_login_user(c, &r.t, r.h)) != CLI_OK)
		goto out;
	if ((cli_has(c, "key-id") || cli_has(c, "key-label")) &&
	    (rc = find_key(c, &r, &key, key_name, sizeof(key_name))) != CLI_OK)
		goto out;
	if ((rc = cli_migration_object(c, r.h, CKO_TPMHA_UNIT, r.unit_bytes, r.unit_len, &unit, &added)) != CLI_OK)
		goto out;
	if (r.have_approval &&
	    (rc = cli_migration_object(c, r.h, CKO_TPMHA_APPROVAL, r.approval_bytes, r.approval_len, &approval,
				       &approval_added)) != CLI_OK)
		goto out;
	if (cli_has(c, "request-out")) {
		/* The unit stays in the token: the approval that answers this names it. */
		rc = write_request(c, &r, unit, key);
		added = false;
		goto out;
	}
	if (!key && (rc = census(c, &r, &objects, &keys, &staying)) != CLI_OK)
		goto out;
	if (!key)
		fprintf(stderr, "tpmha: replicating token \"%s\" to unit %s: %zu objects, %zu key%s%s...\n", r.t.label,
			r.unit_name, objects - staying, keys, keys == 1 ? "" : "s", staying ? " (keys made to stay here are left out)" : "");
	else
		fprintf(stderr, "tpmha: replicating key %s of token \"%s\" to unit %s...\n", key_name, r.t.label,
			r.unit_name);
	t0 = now();
	if ((rc = make_bundle(c, &r, unit, key, &bundle, &len)) != CLI_OK)
		goto out;
	fprintf(stderr, "tpmha: done in %.2f s\n", now() - t0);
	if (added)
		fprintf(stderr, "tpmha: unit %s added to token \"%s\"\n", r.unit_name, r.t.label);
	if (approval_added)
		fprintf(stderr, "tpmha: the approval of unit %s added to token \"%s\"\n", r.unit_name, r.t.label);
	if ((rc = cli_file_write("out", cli_get(c, "out"), bundle, len)) != CLI_OK)
		goto out;
	summary(c, &r, cli_get(c, "out"), bundle, len, now() - t0);
out:
	/* All or nothing: a failed replication leaves the token as it found it. */
	if (rc != CLI_OK && approval_added)
		c->p11->C_DestroyObject(r.h, approval);
	if (rc != CLI_OK && added)
		c->p11->C_DestroyObject(r.h, unit);
	free(bundle);
	rep_release(c, &r);
	return rc;
}

static const struct cli_opt replicate_opts[] = {
	OPT_TOKEN_SELECT,
	{ "to", "FILE", "the destination unit's identity file (tpmha unit init there)" },
	{ "approval", "FILE", "the migration authority's approval of that unit (added to the token)" },
	{ "key-id", "HEX", "only the private key with this CKA_ID (and its public key, certificates)" },
	{ "key-label", "LABEL", "only the private key with this CKA_LABEL (and its public key, certificates)" },
	{ "out", "FILE", "write the bundle to FILE" },
	{ "request-out", "FILE", "instead, write what the migration authority must sign (an approval request)" },
	OPT_USER_PIN,
	OPT_JSON,
	OPT_END,
};

const struct cli_cmd replicate_cmd = {
	.name = "replicate",
	.summary = "copy a token, or one key, to another unit as a bundle",
	.run = cmd_replicate,
	.usage = "(--token LABEL | --serial SERIAL) --to FILE [--approval FILE] [--key-id HEX | --key-label LABEL] "
		 "(--out FILE | --request-out FILE) [--pin-file FILE | --pin-env VAR] [--json]",
	.opts = replicate_opts,
	.more = "Logs in as the user, adds the destination unit (and --approval) to the token if\n"
		"they are not there, then has the TPM duplicate the keys to that unit's storage\n"
		"key: the whole token (TPMHA_ReplicateToken: every key that may travel, every\n"
		"object, the PIN seals, so the same PINs work there), or with --key-id/--key-label\n"
		"one private key with its public key and certificates (C_WrapKey). Only that\n"
		"unit's TPM can import the bundle, and only if the migration authority approved\n"
		"it. The bundle needs no other protection on the way; any change is detected.\n"
		"Keys made with CKA_EXTRACTABLE false (key generate --unit-only) stay here. The\n"
		"token records which units got which keys (tpmha status). Progress is on stderr.\n"
		"\n"
		"A TPM 2.0 unit is approved once for every key; a TPM 1.2 unit key by key (its\n"
		"TPM checks an MA signature naming each key). --request-out writes what the\n"
		"migration authority must sign for this replication (the unit, and for TPM 1.2\n"
		"each key and PIN object) for `tpmha domain approve --request`; the same three\n"
		"steps serve both versions.\n"
		"\n"
		"Examples:\n"
		"  tpmha replicate --token web --to unitB.tpmha --approval approvalB.tpmha --out web-B.bundle\n"
		"  tpmha replicate --token web --to unitB.tpmha --key-label tls --out tls-B.bundle --json\n",
};
