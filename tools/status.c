/* `tpmha status` and `tpmha token list`: the TPM, its lockout state, the
 * configuration in force and the tokens, as text or JSON. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "module/admin.h"
#include "tools/cli.h"

/* Objects of each class a session without login sees. */
struct token_counts {
	bool ok;
	size_t private_keys, public_keys, certificates, data;
};

static const struct {
	CK_OBJECT_CLASS klass;
	const char *one, *many, *json;
	size_t offset;
} classes[] = {
	{ CKO_PRIVATE_KEY, "private key", "private keys", "private_keys",
	  offsetof(struct token_counts, private_keys) },
	{ CKO_PUBLIC_KEY, "public key", "public keys", "public_keys",
	  offsetof(struct token_counts, public_keys) },
	{ CKO_CERTIFICATE, "certificate", "certificates", "certificates",
	  offsetof(struct token_counts, certificates) },
	{ CKO_DATA, "data object", "data objects", "data_objects", offsetof(struct token_counts, data) },
};
#define N_CLASSES (sizeof(classes) / sizeof(classes[0]))

static size_t *count_of(struct token_counts *n, size_t i)
{
	return (size_t *)((char *)n + classes[i].offset);
}

static size_t count_get(const struct token_counts *n, size_t i)
{
	return *(const size_t *)((const char *)n + classes[i].offset);
}

static void count_objects(struct cli *c, const struct token_ref *t, struct token_counts *n)
{
	CK_SESSION_HANDLE h = 0;

	memset(n, 0, sizeof(*n));
	if (cli_session_open(c, t, false, &h) != CLI_OK)
		return;
	n->ok = true;
	for (size_t i = 0; i < N_CLASSES && n->ok; i++) {
		CK_OBJECT_CLASS klass = classes[i].klass;
		CK_ATTRIBUTE tmpl = { CKA_CLASS, &klass, sizeof(klass) };
		CK_OBJECT_HANDLE *found = NULL;
		n->ok = cli_find(c, h, &tmpl, 1, &found, count_of(n, i)) == CLI_OK;
		free(found);
	}
	cli_session_close(c, h);
}

/* The user PIN state as CK_TOKEN_INFO's flags tell it (from the TPM's
 * dictionary-attack counter, which every PIN of every token counts against). */
static const char *user_pin_state(CK_FLAGS f, bool json)
{
	if (!(f & CKF_USER_PIN_INITIALIZED))
		return json ? "not_set" : "not set";
	if (f & CKF_USER_PIN_LOCKED)
		return "locked";
	if (f & CKF_USER_PIN_FINAL_TRY)
		return json ? "final_try" : "set, final try";
	if (f & CKF_USER_PIN_COUNT_LOW)
		return json ? "count_low" : "set, count low";
	return "set";
}

static void json_token(struct jw *j, const struct token_ref *t, const struct token_counts *n)
{
	jw_object(j, NULL);
	jw_uint(j, "slot", t->slot);
	jw_string(j, "label", t->label);
	jw_string(j, "serial", t->serial);
	jw_bool(j, "user_pin_set", t->info.flags & CKF_USER_PIN_INITIALIZED);
	jw_string(j, "user_pin_state", user_pin_state(t->info.flags, true));
	jw_bool(j, "so_pin_locked", t->info.flags & CKF_SO_PIN_LOCKED);
	if (n) {
		jw_object(j, "objects_visible_without_login");
		for (size_t i = 0; i < N_CLASSES; i++)
			jw_uint(j, classes[i].json, count_get(n, i));
		jw_end(j);
	}
	jw_end(j);
}

static void text_counts(const struct token_counts *n)
{
	bool any = false;

	if (!n->ok) {
		fputs("objects could not be counted", stdout);
		return;
	}
	for (size_t i = 0; i < N_CLASSES; i++) {
		size_t k = count_get(n, i);
		if (k)
			printf("%s%zu %s", any ? ", " : "", k, k == 1 ? classes[i].one : classes[i].many);
		any |= k != 0;
	}
	printf("%s (without login; private objects show after it)", any ? "" : "no objects");
}

/* ---- status ---- */

/* The --type values of `key generate` this TPM makes. */
static size_t key_types(const struct tpm_caps *caps, const char **out)
{
	static const struct {
		const char *name;
		bool rsa;
		unsigned bit;
	} types[] = {
		{ "rsa:2048", true, TPM_RSA_2048 }, { "rsa:3072", true, TPM_RSA_3072 },
		{ "ec:p256", false, 1u << TPM_CURVE_P256 }, { "ec:p384", false, 1u << TPM_CURVE_P384 },
	};

	size_t n = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if ((types[i].rsa ? caps->rsa_sizes : caps->curves) & types[i].bit)
			out[n++] = types[i].name;
	return n;
}

struct status {
	struct tpm_info info;
	struct tpm_da_state da;
	const struct tpm_caps *caps;
	const struct tpmha_config *cfg;
	struct token_ref *tokens;
	struct token_counts *counts;
	size_t ntokens;
	const char *types[4];
	size_t ntypes;
	char firmware[16];
	char connection[300];
};

static void status_text(const struct status *s)
{
	printf("TPM\n");
	printf("  version:      %d.%d (%s)\n", s->info.version / 10, s->info.version % 10, s->info.spec);
	printf("  manufacturer: %s\n", s->info.manufacturer);
	printf("  vendor:       %s\n", s->info.vendor);
	printf("  firmware:     %s\n", s->firmware);
	printf("  lockout:      %u of %u failed tries; one forgotten every %u s; %s\n",
	       (unsigned)s->da.failed_tries, (unsigned)s->da.max_tries, (unsigned)s->da.recovery_seconds,
	       s->da.locked ? "LOCKED (PINs are refused until it recovers)" : "not locked");
	printf("  key types:   ");
	for (size_t i = 0; i < s->ntypes; i++)
		printf(" %s", s->types[i]);
	printf("%s\n", s->ntypes ? "" : " none");
	printf("Configuration\n");
	printf("  file:         %s\n", s->cfg->path ? s->cfg->path : "none (built-in defaults)");
	printf("  store:        %s\n", s->cfg->store_dir);
	printf("  %s %s\n", s->cfg->tpm_version == 12 ? "tcsd:        " : "tcti:        ", s->connection);
	printf("Tokens: %zu\n", s->ntokens);
	for (size_t i = 0; i < s->ntokens; i++) {
		const struct token_ref *t = &s->tokens[i];
		printf("  \"%s\"  serial %s  slot %lu  user PIN %s\n    ", t->label, t->serial,
		       (unsigned long)t->slot, user_pin_state(t->info.flags, false));
		text_counts(&s->counts[i]);
		putchar('\n');
	}
}

static void status_json(const struct status *s)
{
	struct jw j;
	char version[24];

	snprintf(version, sizeof(version), "%d.%d", s->info.version / 10, s->info.version % 10);
	jw_start(&j, stdout);
	jw_object(&j, NULL);
	jw_object(&j, "tpm");
	jw_string(&j, "version", version);
	jw_string(&j, "spec", s->info.spec);
	jw_string(&j, "manufacturer", s->info.manufacturer);
	jw_string(&j, "vendor", s->info.vendor);
	jw_string(&j, "firmware", s->firmware);
	jw_object(&j, "lockout");
	jw_uint(&j, "failed_tries", s->da.failed_tries);
	jw_uint(&j, "max_tries", s->da.max_tries);
	jw_uint(&j, "recovery_seconds", s->da.recovery_seconds);
	jw_bool(&j, "locked", s->da.locked);
	jw_end(&j);
	jw_array(&j, "key_types");
	for (size_t i = 0; i < s->ntypes; i++)
		jw_string(&j, NULL, s->types[i]);
	jw_end(&j);
	jw_end(&j);
	jw_object(&j, "config");
	jw_string(&j, "file", s->cfg->path);
	jw_string(&j, "store", s->cfg->store_dir);
	jw_string(&j, s->cfg->tpm_version == 12 ? "tcsd" : "tcti", s->connection);
	jw_end(&j);
	jw_array(&j, "tokens");
	for (size_t i = 0; i < s->ntokens; i++)
		json_token(&j, &s->tokens[i], s->counts[i].ok ? &s->counts[i] : NULL);
	jw_end(&j);
	jw_end(&j);
	jw_finish(&j);
}

static int cmd_status(struct cli *c)
{
	struct status s = { 0 };
	CK_RV rv;
	int rc = cli_p11_start(c);

	if (rc != CLI_OK)
		return rc;
	rv = tpmha_admin_tpm(&s.info, &s.da, &s.caps);
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot read the TPM's state");
	rv = tpmha_admin_config(&s.cfg);
	if (rv != CKR_OK)
		return cli_fail_rv(c, rv, "cannot read the configuration in force");
	s.ntypes = key_types(s.caps, s.types);
	snprintf(s.firmware, sizeof(s.firmware), "%u.%u", s.info.fw_major, s.info.fw_minor);
	if (s.cfg->tpm_version == 12)
		snprintf(s.connection, sizeof(s.connection), "%s:%u", s.cfg->tcsd_host ? s.cfg->tcsd_host : "",
			 s.cfg->tcsd_port);
	else
		snprintf(s.connection, sizeof(s.connection), "%s", s.cfg->tcti ? s.cfg->tcti : "");
	rc = cli_tokens(c, &s.tokens, &s.ntokens);
	if (rc != CLI_OK)
		return rc;
	s.counts = calloc(s.ntokens + 1, sizeof(*s.counts));
	if (!s.counts) {
		free(s.tokens);
		return cli_fail("out of memory");
	}
	for (size_t i = 0; i < s.ntokens; i++)
		count_objects(c, &s.tokens[i], &s.counts[i]);
	if (cli_has(c, "json"))
		status_json(&s);
	else
		status_text(&s);
	free(s.counts);
	free(s.tokens);
	return CLI_OK;
}

static const struct cli_opt status_opts[] = { OPT_JSON, OPT_END };

const struct cli_cmd status_cmd = {
	.name = "status",
	.summary = "show the TPM, its lockout state, the configuration and the tokens",
	.run = cmd_status,
	.usage = "[--json]",
	.opts = status_opts,
	.more = "The TPM's dictionary-attack state is the one every PIN check counts against:\n"
		"`failed tries` wrong PINs so far, lockout at `max`, one failure forgotten every\n"
		"`recovery` seconds. Object counts are what a session sees without login.\n"
		"\n"
		"Examples:\n"
		"  tpmha status\n"
		"  TPMHA_CONF=/etc/tpmha/test.conf tpmha status --json\n",
};

/* ---- token list ---- */

int cmd_token_list(struct cli *c)
{
	struct token_ref *t = NULL;
	size_t n = 0;
	int rc = cli_p11_start(c);

	if (rc == CLI_OK)
		rc = cli_tokens(c, &t, &n);
	if (rc != CLI_OK)
		return rc;
	if (cli_has(c, "json")) {
		struct jw j;
		jw_start(&j, stdout);
		jw_object(&j, NULL);
		jw_array(&j, "tokens");
		for (size_t i = 0; i < n; i++)
			json_token(&j, &t[i], NULL);
		jw_end(&j);
		jw_end(&j);
		jw_finish(&j);
	} else if (n == 0) {
		printf("no tokens (create one with `tpmha token init --label LABEL`)\n");
	} else {
		printf("%-5s %-16s %-14s %s\n", "SLOT", "SERIAL", "USER PIN", "LABEL");
		for (size_t i = 0; i < n; i++)
			printf("%-5lu %-16s %-14s %s\n", (unsigned long)t[i].slot, t[i].serial,
			       user_pin_state(t[i].info.flags, false), t[i].label);
	}
	free(t);
	return CLI_OK;
}
