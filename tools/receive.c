/* `tpmha receive`: a bundle made for this unit (tpmha replicate on another unit) into
 * the token it carries — created with the same label, serial and PINs if it is new
 * here (then the operator names the domain file to trust), brought up to date if it
 * exists (TPMHA_ReceiveBundle). The module checks everything and stores nothing
 * unless all of it checks; this command explains a refusal in the operator's terms. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "migration/bundle.h"
#include "migration/files.h"
#include "module/admin.h"
#include "tools/cli.h"

/* Which of the module's checks a refused bundle most likely failed, from what this
 * side can see (the module's log says for sure). */
static void diagnose(struct cli *c, const struct bundle *b, const struct domain_file *given, bool have_given,
		     const struct token_ref *existing)
{
	struct unit_file local;
	struct domain_file d = { 0 };
	bool in_domain = false;
	char want[33], have[33];

	if (cli_local_unit(c, &local) == CLI_OK) {
		bool other = memcmp(local.id, b->dest_unit, sizeof(local.id)) != 0;
		cli_hex(want, b->dest_unit, sizeof(b->dest_unit));
		cli_hex(have, local.id, sizeof(local.id));
		unit_file_release(&local);
		if (other) {
			fprintf(stderr, "tpmha: the bundle was made for unit %s; this unit is %s\n", want, have);
			return;
		}
	}
	if (existing && tpmha_admin_token_domain(existing->slot, &d, &in_domain) == CKR_OK && in_domain &&
	    memcmp(d.tpm.id, b->domain_id, sizeof(b->domain_id)) != 0) {
		cli_hex(want, b->domain_id, sizeof(b->domain_id));
		cli_hex(have, d.tpm.id, sizeof(d.tpm.id));
		fprintf(stderr, "tpmha: the bundle is from domain %s; token \"%s\" here is in domain %s (\"%s\")\n", want,
			existing->label, have, d.label);
	} else if (have_given && memcmp(given->tpm.id, b->domain_id, sizeof(b->domain_id)) != 0) {
		cli_hex(want, b->domain_id, sizeof(b->domain_id));
		fprintf(stderr, "tpmha: the bundle is from domain %s, not from the domain of --domain\n", want);
	} else {
		fprintf(stderr, "tpmha: the bundle is for this unit and its domain: it was changed on the way, or made "
				"for this unit before its TPM was cleared\n");
	}
	domain_file_release(&d);
}

static int find_token(struct cli *c, const char *serial, struct token_ref *out, bool *found)
{
	struct token_ref *all = NULL;
	size_t n = 0;
	int rc = cli_tokens(c, &all, &n);

	*found = false;
	for (size_t i = 0; rc == CLI_OK && i < n && !*found; i++)
		if (strcmp(all[i].serial, serial) == 0) {
			*out = all[i];
			*found = true;
		}
	free(all);
	return rc;
}

static void report(struct cli *c, const struct bundle *b, const struct token_ref *t, bool is_new)
{
	char src[33];
	size_t keys = 0;

	for (size_t i = 0; i < b->nobjects; i++)
		keys += b->objects[i].key_dup.len > 0;
	cli_hex(src, b->source_unit, sizeof(b->source_unit));
	if (cli_has(c, "json")) {
		struct jw j;
		jw_start(&j, stdout);
		jw_object(&j, NULL);
		jw_object(&j, "token");
		jw_string(&j, "label", t->label);
		jw_string(&j, "serial", t->serial);
		jw_uint(&j, "slot", t->slot);
		jw_end(&j);
		jw_bool(&j, "new_token", is_new);
		jw_bool(&j, "whole_token", b->whole_token);
		jw_uint(&j, "objects", b->nobjects);
		jw_uint(&j, "keys", keys);
		jw_string(&j, "source_unit", src);
		jw_end(&j);
		jw_finish(&j);
		return;
	}
	printf("received %s into %s token \"%s\" (serial %s, slot %lu): %zu objects (%zu key%s) from unit %s\n",
	       b->whole_token ? "the whole token" : "one key", is_new ? "the new" : "the", t->label, t->serial,
	       (unsigned long)t->slot, b->nobjects, keys, keys == 1 ? "" : "s", src);
}

static int cmd_receive(struct cli *c)
{
	const char *in = cli_get(c, "in");
	const TPMHA_FUNCTION_LIST *v;
	struct bundle b = { 0 };
	struct domain_file d = { 0 };
	struct token_ref existing, now;
	bool have_domain = cli_has(c, "domain"), exists = false, found = false;
	uint8_t *data = NULL, *domain = NULL;
	size_t len = 0, domain_len = 0;
	CK_SLOT_ID slot = 0;
	CK_RV rv;
	int rc = cli_require(c, "in");

	if (rc == CLI_OK && have_domain)
		rc = cli_domain_read("domain", cli_get(c, "domain"), &d, &domain, &domain_len);
	if (rc == CLI_OK)
		rc = cli_file_read("in", in, CLI_BUNDLE_MAX, &data, &len);
	if (rc != CLI_OK)
		goto out;
	if (bundle_parse(data, len, &b) != CKR_OK) {
		rc = cli_fail("--in: %s is not a tpmha bundle, or it is truncated", in);
		goto out;
	}
	if (have_domain && memcmp(d.tpm.id, b.domain_id, sizeof(b.domain_id)) != 0) {
		char id[33];
		cli_hex(id, b.domain_id, sizeof(b.domain_id));
		rc = cli_fail("the bundle is from domain %s, not from domain \"%s\" of %s", id, d.label,
			      cli_get(c, "domain"));
		goto out;
	}
	if ((rc = cli_vendor(c, &v)) != CLI_OK || (rc = find_token(c, b.serial, &existing, &exists)) != CLI_OK)
		goto out;
	if (!exists && !b.whole_token) {
		rc = cli_fail("the bundle holds one key of token %s, which is not on this unit: receive the whole "
			      "token first (tpmha replicate without --key-id/--key-label)", b.serial);
		goto out;
	}
	if (!exists && !have_domain) {
		rc = cli_usage(c, "token %s is new on this unit: give --domain with the domain file you trust (compare "
				  "its fingerprint: tpmha domain show)", b.serial);
		goto out;
	}
	rv = v->TPMHA_ReceiveBundle(data, len, domain, domain_len, &slot);
	if (rv != CKR_OK) {
		rc = cli_fail_rv(c, rv, "cannot receive %s", in);
		if (rv == CKR_WRAPPED_KEY_INVALID)
			diagnose(c, &b, &d, have_domain, exists ? &existing : NULL);
		cli_log_hint(c);
		goto out;
	}
	if ((rc = find_token(c, b.serial, &now, &found)) != CLI_OK)
		goto out;
	if (!found) {
		rc = cli_fail("the module took the bundle, but token %s is not among the slots", b.serial);
		goto out;
	}
	report(c, &b, &now, !exists);
out:
	bundle_release(&b);
	domain_file_release(&d);
	cli_file_free(domain, domain_len);
	cli_file_free(data, len);
	return rc;
}

static const struct cli_opt receive_opts[] = {
	{ "in", "FILE", "the bundle (tpmha replicate on the sending unit)" },
	{ "domain", "FILE", "the domain file, needed when the token is new on this unit" },
	OPT_JSON,
	OPT_END,
};

const struct cli_cmd receive_cmd = {
	.name = "receive",
	.summary = "take a bundle made for this unit into its token",
	.run = cmd_receive,
	.usage = "--in FILE [--domain FILE] [--json]",
	.opts = receive_opts,
	.more = "Only this unit's TPM opens the bundle. Before anything is stored the module\n"
		"checks that it is for this unit, from the token's domain, and unchanged (every\n"
		"byte is authenticated); then the TPM imports each key under this unit's storage\n"
		"key. A whole-token bundle creates the token if it is new here — same label,\n"
		"serial, objects and PINs — or replaces its objects; a one-key bundle adds to a\n"
		"token that is here already. A new token takes its domain from --domain (never\n"
		"from the bundle): that is the operator's act of trust, so compare the domain's\n"
		"fingerprint first. Needs no PIN: the PINs travel sealed for this TPM.\n"
		"\n"
		"Example:\n"
		"  tpmha receive --in web-B.bundle --domain domain.tpmha\n",
};
