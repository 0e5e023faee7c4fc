/* flip-all BUNDLE DOMAIN [MASK...]: one real bundle, every byte of it changed (XOR
 * with each MASK, hex; default ff and 01) and every truncation, each offered to this
 * unit in a TPMHA_ReceiveBundle of its own. Each must be refused, with a warning or
 * error line in the module's log saying why, and leave the store (token, object and
 * replica rows) exactly as it was. Then the intact bundle is received (control).
 *
 * The refusals are tallied by their first log line, so the TAP shows where each kind
 * of damage is caught: the parser, the header checks, the TPM (the MAC key is
 * unwrapped by this unit's TPM) or the MAC. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/migration/mig.h"

static const struct {
	const char *needle, *name;
} reasons[] = {
	{ "authentication code does not match", "the MAC does not match" },
	{ "does not open with this unit's TPM", "the MAC key does not open in this TPM" },
	{ "wrapped secret is malformed", "the wrapped MAC key is malformed" },
	{ "was made for unit", "made for another unit (header)" },
	{ "comes from domain", "from another domain (header)" },
	{ "is new on this unit", "a new token without its domain" },
	{ "carries TPM", "another TPM version (header)" },
	{ "receive the whole token before", "single keys for a token not here" },
	{ "truncated", "truncated" },
	{ "is malformed", "a malformed record" },
	{ "unknown or repeated record", "an unknown or repeated record" },
	{ "not a tpmha file", "not a tpmha file" },
	{ "expected, but this is", "another kind of tpmha file" },
	{ "format version", "an unknown format version" },
	{ "without its SO PIN seal", "a whole token without its SO seal" },
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

#define MAX_KINDS 48

struct tally {
	size_t tried, accepted, silent, changed;
	size_t by_rv[4];      /* WRAPPED_KEY_INVALID, ARGUMENTS_BAD, WRAPPED_KEY_LEN_RANGE, else */
	struct {
		char name[200];
		char example[64]; /* the first damage refused so */
		size_t n;
	} kinds[MAX_KINDS];
	size_t nkinds;
	char first_bad[256];  /* the first failure, for the diagnostic */
};

/* What a refusal's first log line says, as a category: one of the module's own
 * explanations, or what the TPM said (TPM2_Import's decoded code), or the line. */
static void kind_of(const char *line, char *out, size_t len)
{
	const char *tpm = strstr(line, "(TPM2_Import: ");
	size_t r;

	if (tpm) {
		snprintf(out, len, "the TPM refused the MAC key: %.150s", tpm + 1);
		out[strcspn(out, ",")] = '\0';
		return;
	}
	for (r = 0; r < NREASONS && !strstr(line, reasons[r].needle); r++)
		;
	if (r < NREASONS)
		snprintf(out, len, "%s", reasons[r].name);
	else
		snprintf(out, len, "other: %.150s", line);
}

static void try_one(struct tally *t, const uint8_t *bundle, size_t len, const uint8_t *domain, size_t dlen,
		    const uint8_t before[32], const char *what)
{
	char line[512], kind[200];
	uint8_t after[32];
	CK_SLOT_ID slot;
	CK_RV rv;
	size_t k;

	t->tried++;
	log_mark();
	rv = V->TPMHA_ReceiveBundle((CK_BYTE_PTR)bundle, len, (CK_BYTE_PTR)domain, dlen, &slot);
	log_first_problem(line, sizeof(line));
	t->by_rv[rv == CKR_WRAPPED_KEY_INVALID ? 0 : rv == CKR_ARGUMENTS_BAD ? 1 : rv == CKR_WRAPPED_KEY_LEN_RANGE ? 2 : 3]++;
	if (rv == CKR_OK) {
		t->accepted++;
		if (!t->first_bad[0])
			snprintf(t->first_bad, sizeof(t->first_bad), "%s: accepted", what);
	} else if (!line[0]) {
		t->silent++;
		if (!t->first_bad[0])
			snprintf(t->first_bad, sizeof(t->first_bad), "%s: %s with no log line", what, ckr(rv));
	}
	if (!store_digest(after, NULL, 0) || memcmp(after, before, 32) != 0) {
		t->changed++;
		if (!t->first_bad[0])
			snprintf(t->first_bad, sizeof(t->first_bad), "%s: %s and the store changed", what, ckr(rv));
	}
	if (!line[0])
		return;
	kind_of(line, kind, sizeof(kind));
	for (k = 0; k < t->nkinds && strcmp(t->kinds[k].name, kind) != 0; k++)
		;
	if (k == t->nkinds && k + 1 < MAX_KINDS) {
		snprintf(t->kinds[k].name, sizeof(t->kinds[k].name), "%s", kind);
		snprintf(t->kinds[k].example, sizeof(t->kinds[k].example), "%s", what);
		t->nkinds++;
	} else if (k == t->nkinds) {
		k = MAX_KINDS - 1; /* the rest */
		snprintf(t->kinds[k].name, sizeof(t->kinds[k].name), "(other explanations)");
	}
	t->kinds[k].n++;
}

static void report(const struct tally *t, const char *what)
{
	t_ok(t->tried && !t->accepted && !t->silent && !t->changed,
	     "%s: %zu tried, %zu accepted, %zu refused without a log line, %zu changed the store", what,
	     t->tried, t->accepted, t->silent, t->changed);
	if (t->first_bad[0])
		t_diag("first failure: %s", t->first_bad);
	t_diag("  returned: CKR_WRAPPED_KEY_INVALID %zu, CKR_ARGUMENTS_BAD %zu, CKR_WRAPPED_KEY_LEN_RANGE %zu, "
	       "other %zu", t->by_rv[0], t->by_rv[1], t->by_rv[2], t->by_rv[3]);
	for (size_t k = 0; k < MAX_KINDS; k++)
		if (t->kinds[k].n)
			t_diag("  %6zu refused: %s (first: %s)", t->kinds[k].n, t->kinds[k].name, t->kinds[k].example);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmd_flip_all(int argc, char **argv, const struct expect *e)
{
	const char *default_masks[] = { "ff", "01" };
	const char *const *masks = default_masks;
	size_t nmasks = 2, len, dlen;
	uint8_t *bundle, *domain, *copy, before[32];
	char counts[160];
	double t0;
	CK_SLOT_ID slot;

	(void)e;
	if (argc < 3)
		t_bail("usage: flip-all BUNDLE DOMAIN [MASK...]");
	if (argc > 3) {
		masks = (const char *const *)argv + 3;
		nmasks = (size_t)argc - 3;
	}
	bundle = file_read(argv[1], &len);
	domain = file_read(argv[2], &dlen);
	copy = malloc(len);
	if (!copy || !len)
		t_bail("flip-all: an empty bundle");
	if (!t_ok(store_digest(before, counts, sizeof(counts)), "the store before: %s", counts))
		return 0;
	for (size_t m = 0; m < nmasks; m++) {
		struct tally t = { 0 };
		uint8_t mask = (uint8_t)strtoul(masks[m], NULL, 16);
		char what[64], desc[128];

		t0 = now_s();
		for (size_t off = 0; off < len; off++) {
			memcpy(copy, bundle, len);
			copy[off] ^= mask;
			snprintf(what, sizeof(what), "byte %zu ^ 0x%02x", off, mask);
			try_one(&t, copy, len, domain, dlen, before, what);
		}
		snprintf(desc, sizeof(desc), "every byte of the %zu-byte bundle XOR 0x%02x", len, mask);
		report(&t, desc);
		t_diag("  %.1f s, %.2f ms per receive", now_s() - t0, (now_s() - t0) * 1e3 / (double)len);
	}
	{
		struct tally t = { 0 };
		char what[64];

		t0 = now_s();
		for (size_t n = 0; n < len; n++) {
			snprintf(what, sizeof(what), "the first %zu bytes", n);
			try_one(&t, bundle, n, domain, dlen, before, what);
		}
		report(&t, "every truncation (0 .. all but the last byte)");
		t_diag("  %.1f s", now_s() - t0);
	}
	t_rv(V->TPMHA_ReceiveBundle(bundle, len, domain, dlen, &slot), CKR_OK,
	     "(control) the intact bundle is received");
	free(copy);
	free(bundle);
	free(domain);
	return 0;
}
