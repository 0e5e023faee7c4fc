/* `tpmha status` and `tpmha token list`: the TPM, its lockout state, the
 * configuration in force and the tokens, as text or JSON. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "migration/files.h"
#include "module/admin.h"
#include "tokens/store.h"
#include "tools/cli.h"

struct token_migration;
static void migration_json(struct jw *j, const struct token_migration *m);

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

static void json_token(struct jw *j, const struct token_ref *t, const struct token_counts *n,
		       const struct token_migration *m)
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
	if (m)
		migration_json(j, m);
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

/* ---- migration: the token's domain, units, approvals and replica records ---- */

struct mig_unit {
	char id[33];
	char *label;
	CK_ULONG tpm_version;
	bool local;
};

struct mig_replica {
	char unit_id[33];
	char unit_label[65];
	char key_hash[65];  /* SHA-256 of the key's SubjectPublicKeyInfo: what the record names */
	bool key_found;     /* its public key object is in the token: */
	char *key_label;
	char key_id[129];
	char when[32];
};

struct token_migration {
	bool ok;
	bool in_domain;
	char domain_label[LABEL_MAX + 1];
	char domain_id[33];
	char fingerprint[65];
	struct mig_unit *units, *approvals; /* approvals: the unit they name */
	size_t nunits, napprovals;
	struct mig_replica *replicas;
	size_t nreplicas;
};

static void migration_free(struct token_migration *m)
{
	for (size_t i = 0; i < m->nunits; i++)
		free(m->units[i].label);
	for (size_t i = 0; i < m->napprovals; i++)
		free(m->approvals[i].label);
	for (size_t i = 0; i < m->nreplicas; i++)
		free(m->replicas[i].key_label);
	free(m->units);
	free(m->approvals);
	free(m->replicas);
}

/* Units (or approvals) of the token, with the label of the unit they name. */
static void read_units(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const uint8_t *local,
		       struct mig_unit **out, size_t *n)
{
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &klass, sizeof(klass) };
	CK_OBJECT_HANDLE *objs = NULL;

	*out = NULL;
	*n = 0;
	if (cli_find(c, h, &tmpl, 1, &objs, n) != CLI_OK || !(*out = calloc(*n + 1, sizeof(**out)))) {
		*n = 0;
		free(objs);
		return;
	}
	for (size_t i = 0; i < *n; i++) {
		uint8_t *v = NULL;
		size_t len = 0;
		if (cli_attr(c, h, objs[i], CKA_TPMHA_UNIT_ID, &v, &len) == CKR_OK && len == UNIT_ID_LEN) {
			cli_hex((*out)[i].id, v, len);
			(*out)[i].local = local && memcmp(v, local, UNIT_ID_LEN) == 0;
		}
		free(v);
		if (klass == CKO_TPMHA_UNIT) {
			if (cli_attr(c, h, objs[i], CKA_LABEL, &v, &len) == CKR_OK && len)
				(*out)[i].label = (char *)v;
			else
				free(v);
			/* A unit object made without CKA_LABEL: the label in its file. */
			if (!(*out)[i].label && cli_attr(c, h, objs[i], CKA_VALUE, &v, &len) == CKR_OK) {
				(*out)[i].label = cli_unit_label(v, len);
				free(v);
			}
			(*out)[i].tpm_version = cli_attr_ulong(c, h, objs[i], CKA_TPMHA_TPM_VERSION, 0);
		}
	}
	free(objs);
}

/* The key a replica record names (by the hash of its public key info): its label and ID. */
static void key_name(struct cli *c, CK_SESSION_HANDLE h, const CK_OBJECT_HANDLE *pubs, size_t npubs,
		     const uint8_t *key_id, struct mig_replica *r)
{
	cli_hex(r->key_hash, key_id, 32);
	for (size_t i = 0; i < npubs && !r->key_found; i++) {
		uint8_t *spki = NULL, *label = NULL, *id = NULL, digest[32];
		size_t len = 0, llen = 0, ilen = 0;
		if (cli_attr(c, h, pubs[i], CKA_PUBLIC_KEY_INFO, &spki, &len) == CKR_OK && len &&
		    hash_digest(HASH_SHA256, spki, len, digest) == CKR_OK && memcmp(digest, key_id, 32) == 0) {
			r->key_found = true;
			if (cli_attr(c, h, pubs[i], CKA_LABEL, &label, &llen) == CKR_OK)
				r->key_label = (char *)label;
			else
				free(label);
			if (cli_attr(c, h, pubs[i], CKA_ID, &id, &ilen) == CKR_OK && ilen <= 64)
				cli_hex(r->key_id, id, ilen);
			free(id);
		}
		free(spki);
	}
}

static void read_migration(struct cli *c, const struct token_ref *t, const uint8_t *local,
			   struct token_migration *m)
{
	struct domain_file d = { 0 };
	struct store_replica *reps = NULL;
	size_t nreps = 0, npubs = 0;
	CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE pt = { CKA_CLASS, &pub_class, sizeof(pub_class) };
	CK_OBJECT_HANDLE *pubs = NULL;
	CK_SESSION_HANDLE h = 0;

	memset(m, 0, sizeof(*m));
	if (tpmha_admin_token_domain(t->slot, &d, &m->in_domain) != CKR_OK)
		return;
	if (m->in_domain) {
		snprintf(m->domain_label, sizeof(m->domain_label), "%s", d.label);
		cli_hex(m->domain_id, d.tpm.id, sizeof(d.tpm.id));
		cli_hex(m->fingerprint, d.fingerprint, sizeof(d.fingerprint));
	}
	domain_file_release(&d);
	if (cli_session_open(c, t, false, &h) != CLI_OK)
		return;
	read_units(c, h, CKO_TPMHA_UNIT, local, &m->units, &m->nunits);
	read_units(c, h, CKO_TPMHA_APPROVAL, local, &m->approvals, &m->napprovals);
	for (size_t i = 0; i < m->napprovals; i++)
		for (size_t k = 0; k < m->nunits; k++)
			if (strcmp(m->approvals[i].id, m->units[k].id) == 0 && m->units[k].label)
				m->approvals[i].label = strdup(m->units[k].label);
	if (tpmha_admin_replicas(t->slot, &reps, &nreps) == CKR_OK && nreps &&
	    (m->replicas = calloc(nreps, sizeof(*m->replicas)))) {
		if (cli_find(c, h, &pt, 1, &pubs, &npubs) != CLI_OK)
			npubs = 0;
		for (size_t i = 0; i < nreps; i++) {
			struct mig_replica *r = &m->replicas[i];
			time_t when = (time_t)reps[i].replicated_at;
			struct tm tm;
			cli_hex(r->unit_id, reps[i].unit_id, sizeof(reps[i].unit_id));
			snprintf(r->unit_label, sizeof(r->unit_label), "%s", reps[i].unit_label);
			key_name(c, h, pubs, npubs, reps[i].key_id, r);
			if (!gmtime_r(&when, &tm) || !strftime(r->when, sizeof(r->when), "%Y-%m-%dT%H:%M:%SZ", &tm))
				snprintf(r->when, sizeof(r->when), "?");
		}
		m->nreplicas = nreps;
	}
	free(pubs);
	free(reps);
	cli_session_close(c, h);
	m->ok = true;
}

static void migration_text(const struct token_migration *m)
{
	if (!m->ok) {
		printf("    migration state could not be read\n");
		return;
	}
	if (m->in_domain)
		printf("    domain \"%s\" (fingerprint %s)\n", m->domain_label, m->fingerprint);
	else
		printf("    domain none (its keys never leave this unit)\n");
	printf("    units:");
	for (size_t i = 0; i < m->nunits; i++)
		printf("%s \"%s\" (%.16s%s)", i ? "," : "", m->units[i].label ? m->units[i].label : "?", m->units[i].id,
		       m->units[i].local ? ", this unit" : "");
	printf("%s\n", m->nunits ? "" : " none");
	printf("    approvals:");
	for (size_t i = 0; i < m->napprovals; i++)
		printf("%s \"%s\" (%.16s)", i ? "," : "", m->approvals[i].label ? m->approvals[i].label : "?",
		       m->approvals[i].id);
	printf("%s\n", m->napprovals ? "" : " none");
	for (size_t i = 0; i < m->nreplicas; i++) {
		const struct mig_replica *r = &m->replicas[i];
		if (r->key_found)
			printf("    replicated key \"%s\" (ID %s)", r->key_label ? r->key_label : "", r->key_id);
		else
			printf("    replicated key %.16s (no longer in the token)", r->key_hash);
		printf(" to unit \"%s\" (%.16s) at %s\n", r->unit_label, r->unit_id, r->when);
	}
}

static void migration_json(struct jw *j, const struct token_migration *m)
{
	if (!m->ok)
		return;
	if (m->in_domain) {
		jw_object(j, "domain");
		jw_string(j, "label", m->domain_label[0] ? m->domain_label : NULL);
		jw_string(j, "id", m->domain_id);
		jw_string(j, "fingerprint", m->fingerprint);
		jw_end(j);
	} else {
		jw_string(j, "domain", NULL);
	}
	jw_array(j, "units");
	for (size_t i = 0; i < m->nunits; i++) {
		jw_object(j, NULL);
		jw_string(j, "id", m->units[i].id);
		jw_string(j, "label", m->units[i].label);
		jw_uint(j, "tpm_version", m->units[i].tpm_version);
		jw_bool(j, "this_unit", m->units[i].local);
		jw_end(j);
	}
	jw_end(j);
	jw_array(j, "approvals");
	for (size_t i = 0; i < m->napprovals; i++) {
		jw_object(j, NULL);
		jw_string(j, "unit_id", m->approvals[i].id);
		jw_string(j, "unit_label", m->approvals[i].label);
		jw_end(j);
	}
	jw_end(j);
	jw_array(j, "replicas");
	for (size_t i = 0; i < m->nreplicas; i++) {
		jw_object(j, NULL);
		jw_string(j, "key_label", m->replicas[i].key_found ? m->replicas[i].key_label : NULL);
		jw_string(j, "key_id", m->replicas[i].key_found ? m->replicas[i].key_id : NULL);
		jw_string(j, "key_sha256", m->replicas[i].key_hash);
		jw_string(j, "unit_id", m->replicas[i].unit_id);
		jw_string(j, "unit_label", m->replicas[i].unit_label);
		jw_string(j, "replicated_at", m->replicas[i].when);
		jw_end(j);
	}
	jw_end(j);
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
	struct token_migration *migration;
	size_t ntokens;
	bool unit_ok;
	uint8_t unit_raw[UNIT_ID_LEN];
	char unit_id[33];
	char host[65];
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
	printf("Unit\n");
	printf("  id:           %s\n", s->unit_ok ? s->unit_id : "unknown (the TPM gave no unit identity)");
	printf("  host:         %s (the default label of `tpmha unit init`)\n", s->host);
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
		migration_text(&s->migration[i]);
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
	jw_object(&j, "unit");
	jw_string(&j, "id", s->unit_ok ? s->unit_id : NULL);
	jw_string(&j, "host", s->host);
	jw_end(&j);
	jw_object(&j, "config");
	jw_string(&j, "file", s->cfg->path);
	jw_string(&j, "store", s->cfg->store_dir);
	jw_string(&j, s->cfg->tpm_version == 12 ? "tcsd" : "tcti", s->connection);
	jw_end(&j);
	jw_array(&j, "tokens");
	for (size_t i = 0; i < s->ntokens; i++)
		json_token(&j, &s->tokens[i], s->counts[i].ok ? &s->counts[i] : NULL, &s->migration[i]);
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
	s.migration = calloc(s.ntokens + 1, sizeof(*s.migration));
	if (!s.counts || !s.migration) {
		free(s.counts);
		free(s.migration);
		free(s.tokens);
		return cli_fail("out of memory");
	}
	{
		struct unit_file local;
		/* Quietly: a TPM without a unit identity still has a status to show. */
		const TPMHA_FUNCTION_LIST *v;
		CK_ULONG len = 0;
		uint8_t *file = NULL;
		if (cli_vendor(c, &v) == CLI_OK && v->TPMHA_GetUnitIdentity(NULL, NULL, &len) == CKR_OK &&
		    (file = malloc(len ? len : 1)) && v->TPMHA_GetUnitIdentity(NULL, file, &len) == CKR_OK &&
		    unit_file_parse(file, len, &local) == CKR_OK) {
			cli_hex(s.unit_id, local.id, sizeof(local.id));
			memcpy(s.unit_raw, local.id, sizeof(s.unit_raw));
			s.unit_ok = true;
			unit_file_release(&local);
		}
		free(file);
	}
	if (gethostname(s.host, sizeof(s.host) - 1) != 0)
		snprintf(s.host, sizeof(s.host), "?");
	for (size_t i = 0; i < s.ntokens; i++) {
		count_objects(c, &s.tokens[i], &s.counts[i]);
		read_migration(c, &s.tokens[i], s.unit_ok ? s.unit_raw : NULL,
			       &s.migration[i]);
	}
	if (cli_has(c, "json"))
		status_json(&s);
	else
		status_text(&s);
	for (size_t i = 0; i < s.ntokens; i++)
		migration_free(&s.migration[i]);
	free(s.migration);
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
			json_token(&j, &t[i], NULL, NULL);
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
