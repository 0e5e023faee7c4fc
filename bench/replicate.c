/* tpmha-bench-replicate: how long a whole token takes to go from unit A to unit B,
 * against the raw floor of the same TPM work through ESYS (issue 3, "Benchmark").
 *
 * Two units, each its own swtpm and module configuration (bench/run-replicate.sh
 * makes them). Each unit's side runs in a forked child that dlopens the module with
 * that unit's TPMHA_CONF, as a separate application process would; the parent never
 * loads the module, and talks to a TPM through ESYS only when no child holds it
 * (swtpm serves one connection at a time).
 *
 * For a domain token of N RSA-2048 keys (made in A's TPM; N = 1, 10, 100 by default):
 *   module export   TPMHA_ReplicateToken on A (size query + fetch: one export)
 *   module import   TPMHA_ReceiveBundle of that bundle on B (the token replaced)
 *   floor export    for every key and both PIN seals, what the module asks of A's
 *                   TPM for one duplicate (tests/tpm/tpm2_migrate_esys.c):
 *                   LoadExternal(MA), VerifySignature, Load, StartAuthSession,
 *                   PolicyDuplicationSelect, PolicyAuthorize, PolicyCommandCode,
 *                   LoadExternal(B), Duplicate, flushes; password sessions
 *   floor import    on B, for the bundle's MAC key Import+Load+Unseal, for every
 *                   duplicate in it Import+Load (+flush): the TPM work of a receive
 * Each is run once untimed, then --runs times; the median is reported. libtpmha-core
 * is linked for the file formats (domain, unit, approval, bundle) and the key blob
 * encoding only. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <tss2/tss2_rc.h>

#include "common/ossl.h"
#include "migration/bundle.h"
#include "migration/files.h"
#include "tests/tpm/tpm2_migrate_esys.h"
#include "bench/unit.h"
#include "tpmha/tpmha.h"

#define MAX_RUNS UNIT_MAX_SAMPLES /* one sample of each run on the shared page */
#define MAX_SIZES 8
#define SO_PIN "bench-so-pin"
#define USER_PIN "bench-user-pin"

struct opts {
	const char *module, *a_conf, *b_conf, *a_tcti, *b_tcti, *a_store, *ma, *work, *json_out;
	unsigned sizes[MAX_SIZES];
	size_t nsizes;
	int runs;
};

/* What a child reports to its parent (shared memory). */
struct result {
	unsigned keys;
	double exp_mod, imp_mod, exp_floor, imp_floor; /* medians, ms */
	double exp_mod_cpu, imp_mod_cpu, exp_floor_cpu, imp_floor_cpu; /* client CPU, ms */
	size_t bundle_len;
};

static struct opts o;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this process (the client side: the TPM's work is in swtpm). */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void spit(const char *path, const void *d, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(d, 1, len, f) != len || fclose(f) != 0)
		unit_fail("cannot write %s", path);
}

static const char *work(const char *name, unsigned n)
{
	static char path[4][1024];
	static int i;

	i = (i + 1) % 4;
	if (n)
		snprintf(path[i], sizeof(path[i]), "%s/%s-%u", o.work, name, n);
	else
		snprintf(path[i], sizeof(path[i]), "%s/%s", o.work, name);
	return path[i];
}

/* ---- a unit's side: a child with the module ---- */

static CK_SESSION_HANDLE login(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE h;

	UNIT_CK(unit_f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
	UNIT_CK(unit_f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	return h;
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_OBJECT_HANDLE found = CK_INVALID_HANDLE;
	CK_ULONG got = 0;

	UNIT_CK(unit_f->C_FindObjectsInit(h, t, n));
	UNIT_CK(unit_f->C_FindObjects(h, &found, 1, &got));
	UNIT_CK(unit_f->C_FindObjectsFinal(h));
	return got ? found : CK_INVALID_HANDLE;
}

static void identity(const void *arg)
{
	uint8_t buf[4096];
	CK_ULONG n = sizeof(buf);

	(void)arg;
	UNIT_CK(unit_v->TPMHA_GetUnitIdentity((CK_UTF8CHAR_PTR) "bench unit B", buf, &n));
	spit(work("unit-B", 0), buf, n);
}

/* A token "rep-N" with N RSA-2048 key pairs made in A's TPM, B's unit object and
 * approval. */
static void setup_token(const void *arg)
{
	unsigned keys = *(const unsigned *)arg;
	char name[32];
	CK_UTF8CHAR label[32];
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h;
	CK_MECHANISM gen = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = { 1, 0, 1 };
	uint8_t *domain, *unit, *approval;
	size_t dlen, ulen, alen;
	double t0 = now_ms();

	snprintf(name, sizeof(name), "rep-%u", keys);
	unit_label32(label, name);
	domain = unit_slurp(work("domain", 0), &dlen);
	unit = unit_slurp(work("unit-B", 0), &ulen);
	approval = unit_slurp(work("approval-B", 0), &alen);
	UNIT_CK(unit_v->TPMHA_InitDomainToken(0, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label, domain, dlen, &slot));
	UNIT_CK(unit_f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
	UNIT_CK(unit_f->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN)));
	UNIT_CK(unit_f->C_InitPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	UNIT_CK(unit_f->C_Logout(h));
	UNIT_CK(unit_f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	for (unsigned i = 0; i < keys; i++) {
		char id[16];
		CK_OBJECT_HANDLE pub, priv;
		snprintf(id, sizeof(id), "k%03u", i);
		{
			CK_ATTRIBUTE pt[] = {
				{ CKA_TOKEN, &yes, 1 }, { CKA_MODULUS_BITS, &bits, sizeof(bits) },
				{ CKA_PUBLIC_EXPONENT, e, 3 }, { CKA_LABEL, id, strlen(id) },
				{ CKA_ID, id, strlen(id) }, { CKA_VERIFY, &yes, 1 }, { CKA_ENCRYPT, &yes, 1 },
			};
			CK_ATTRIBUTE kt[] = {
				{ CKA_TOKEN, &yes, 1 }, { CKA_LABEL, id, strlen(id) }, { CKA_ID, id, strlen(id) },
				{ CKA_SIGN, &yes, 1 }, { CKA_DECRYPT, &yes, 1 },
			};
			UNIT_CK(unit_f->C_GenerateKeyPair(h, &gen, pt, 7, kt, 5, &pub, &priv));
		}
	}
	{
		CK_OBJECT_CLASS uc = CKO_TPMHA_UNIT, ac = CKO_TPMHA_APPROVAL;
		CK_OBJECT_HANDLE ob;
		CK_ATTRIBUTE ut[] = { { CKA_CLASS, &uc, sizeof(uc) }, { CKA_TOKEN, &yes, 1 }, { CKA_VALUE, unit, ulen } };
		CK_ATTRIBUTE at[] = { { CKA_CLASS, &ac, sizeof(ac) }, { CKA_TOKEN, &yes, 1 },
				      { CKA_VALUE, approval, alen } };
		UNIT_CK(unit_f->C_CreateObject(h, ut, 3, &ob));
		UNIT_CK(unit_f->C_CreateObject(h, at, 3, &ob));
	}
	unit_sh->setup_s = (now_ms() - t0) / 1e3;
	free(domain);
	free(unit);
	free(approval);
}

/* --runs + 1 whole-token replications of rep-N to B; the last bundle is kept. */
static void replicate(const void *arg)
{
	unsigned keys = *(const unsigned *)arg;
	char name[32];
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h;
	CK_OBJECT_CLASS uc = CKO_TPMHA_UNIT;
	struct unit_file u;
	uint8_t *unit, *bundle = NULL;
	size_t ulen;
	CK_ULONG len = 0;
	CK_OBJECT_HANDLE uo;

	snprintf(name, sizeof(name), "rep-%u", keys);
	if ((slot = unit_find_token(name)) == (CK_SLOT_ID)-1)
		unit_fail("no token %s on A", name);
	h = login(slot);
	unit = unit_slurp(work("unit-B", 0), &ulen);
	if (unit_file_parse(unit, ulen, &u) != CKR_OK)
		unit_fail("unit-B does not parse");
	{
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &uc, sizeof(uc) }, { CKA_TPMHA_UNIT_ID, u.id, sizeof(u.id) } };
		uo = find_one(h, t, 2);
	}
	if (uo == CK_INVALID_HANDLE)
		unit_fail("no unit object for B in %s", name);
	for (int r = -1; r < o.runs; r++) {
		double t0 = now_ms(), c0 = cpu_ms();
		UNIT_CK(unit_v->TPMHA_ReplicateToken(h, uo, NULL, &len));
		free(bundle);
		bundle = malloc(len);
		if (!bundle)
			unit_fail("out of memory");
		UNIT_CK(unit_v->TPMHA_ReplicateToken(h, uo, bundle, &len));
		if (r >= 0) {
			unit_sh->cpu_ms[unit_sh->n] = cpu_ms() - c0;
			unit_sh->ms[unit_sh->n++] = now_ms() - t0;
		}
	}
	spit(work("bundle", keys), bundle, len);
	free(bundle);
	free(unit);
	unit_file_release(&u);
}

/* --runs + 1 receives of that bundle on B (the first makes the token). */
static void receive(const void *arg)
{
	unsigned keys = *(const unsigned *)arg;
	uint8_t *bundle, *domain;
	size_t len, dlen;
	CK_SLOT_ID slot;

	bundle = unit_slurp(work("bundle", keys), &len);
	domain = unit_slurp(work("domain", 0), &dlen);
	for (int r = -1; r < o.runs; r++) {
		double t0 = now_ms(), c0 = cpu_ms();
		UNIT_CK(unit_v->TPMHA_ReceiveBundle(bundle, len, domain, dlen, &slot));
		if (r >= 0) {
			unit_sh->cpu_ms[unit_sh->n] = cpu_ms() - c0;
			unit_sh->ms[unit_sh->n++] = now_ms() - t0;
		}
	}
	free(bundle);
	free(domain);
}

/* ---- the floor: ESYS, no module ---- */

/* Token rep-N's key blobs and PIN seals in A's store. */
static size_t token_blobs(unsigned keys, struct tpm_blob **out)
{
	static const char *const sql[] = {
		"SELECT o.tpm_key FROM object o JOIN token t ON t.id = o.token_id "
		"WHERE t.label = ?1 AND o.tpm_key IS NOT NULL ORDER BY o.id",
		"SELECT so_seal FROM token WHERE label = ?1",
		"SELECT user_seal FROM token WHERE label = ?1 AND user_seal IS NOT NULL",
	};
	CK_UTF8CHAR label[32];
	char name[32];
	sqlite3 *db = NULL;
	size_t n = 0;

	snprintf(name, sizeof(name), "rep-%u", keys);
	unit_label32(label, name);
	*out = calloc(keys + 2, sizeof(**out));
	if (!*out || sqlite3_open_v2(o.a_store, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		unit_fail("cannot open A's store %s", o.a_store);
	for (size_t q = 0; q < 3; q++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql[q], -1, &st, NULL) != SQLITE_OK)
			unit_fail("A's store: %s", sqlite3_errmsg(db));
		sqlite3_bind_blob(st, 1, label, 32, SQLITE_STATIC);
		while (n < keys + 2 && sqlite3_step(st) == SQLITE_ROW)
			tpm_blob_copy(&(*out)[n++], sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	if (n != keys + 2)
		unit_fail("token %s in A's store: %zu blobs, expected %u keys and 2 seals", name, n, keys);
	return n;
}

static void esys_fail(const char *what, TSS2_RC rc, const char *step)
{
	unit_fail("floor: %s: %s%s0x%x %s", what, step ? step : "", step ? ": " : "", rc, Tss2_RC_Decode(rc));
}

static double floor_export(unsigned keys, double *cpu)
{
	struct tpm_blob *blobs = NULL;
	size_t n = token_blobs(keys, &blobs), dlen, ulen, alen;
	uint8_t *dbytes = unit_slurp(work("domain", 0), &dlen), *ubytes = unit_slurp(work("unit-B", 0), &ulen),
		*abytes = unit_slurp(work("approval-B", 0), &alen);
	struct domain_file d;
	struct unit_file u;
	struct approval_file a;
	struct esys_unit eu;
	TPM2B_PUBLIC ma = { 0 }, dest;
	TPM2B_NAME ma_name, dest_name;
	TPM2B_NONCE ref = { .size = 16 };
	TPMT_SIGNATURE sig = { 0 };
	double samples[MAX_RUNS], cpus[MAX_RUNS];
	int ns = 0;

	if (domain_file_parse(dbytes, dlen, &d) != CKR_OK || unit_file_parse(ubytes, ulen, &u) != CKR_OK ||
	    approval_file_parse(abytes, alen, &a) != CKR_OK ||
	    tpm2_ma_parse(&d.tpm, &ma.publicArea, &ma_name) != CKR_OK ||
	    tpm2_dest_parse(&u.tpm, &dest, &dest_name) != CKR_OK)
		unit_fail("floor: the domain, unit or approval file");
	memcpy(ref.buffer, d.tpm.policy_ref, 16);
	if (d.tpm.ma_type == TPM_KEY_RSA) {
		sig.sigAlg = TPM2_ALG_RSASSA;
		sig.signature.rsassa.hash = TPM2_ALG_SHA256;
		sig.signature.rsassa.sig.size = (UINT16)a.signature.len;
		memcpy(sig.signature.rsassa.sig.buffer, a.signature.data, a.signature.len);
	} else {
		sig.sigAlg = TPM2_ALG_ECDSA;
		sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
		sig.signature.ecdsa.signatureR.size = sig.signature.ecdsa.signatureS.size = 32;
		memcpy(sig.signature.ecdsa.signatureR.buffer, a.signature.data, 32);
		memcpy(sig.signature.ecdsa.signatureS.buffer, a.signature.data + 32, 32);
	}
	if (!esys_open(o.a_tcti, &eu))
		unit_fail("floor: ESYS cannot open A (%s)", o.a_tcti);
	for (int r = -1; r < o.runs; r++) {
		double t0 = now_ms(), c0 = cpu_ms();
		for (size_t i = 0; i < n; i++) {
			struct esys_dup dup = { .key = &blobs[i], .ma = &ma, .approval = &sig, .select = &dest_name,
						.dest = &dest, .policy_ref = &ref };
			const char *step = NULL;
			TSS2_RC rc = esys_duplicate(&eu, &dup, NULL, &step);
			if (rc != TSS2_RC_SUCCESS)
				esys_fail("duplicate", rc, step);
		}
		if (r >= 0) {
			cpus[ns] = cpu_ms() - c0;
			samples[ns++] = now_ms() - t0;
		}
	}
	*cpu = unit_median(cpus, ns);
	esys_close(&eu);
	for (size_t i = 0; i < n; i++)
		tpm_blob_release(&blobs[i]);
	free(blobs);
	domain_file_release(&d);
	unit_file_release(&u);
	approval_file_release(&a);
	free(dbytes);
	free(ubytes);
	free(abytes);
	return unit_median(samples, ns);
}

static double floor_import(unsigned keys, size_t *bundle_len, double *cpu)
{
	size_t len;
	uint8_t *data = unit_slurp(work("bundle", keys), &len), secret[64];
	struct bundle b;
	struct esys_unit eu;
	double samples[MAX_RUNS], cpus[MAX_RUNS];
	int ns = 0;

	*bundle_len = len;
	if (bundle_parse(data, len, &b) != CKR_OK)
		unit_fail("floor: the bundle does not parse");
	if (!esys_open(o.b_tcti, &eu))
		unit_fail("floor: ESYS cannot open B (%s)", o.b_tcti);
	for (int r = -1; r < o.runs; r++) {
		double t0 = now_ms(), c0 = cpu_ms();
		size_t slen = sizeof(secret);
		TSS2_RC rc = esys_unwrap(&eu, eu.sk, &b.mac_key, secret, &slen);
		if (rc != TSS2_RC_SUCCESS)
			esys_fail("the MAC key: Import+Load+Unseal", rc, NULL);
		if ((rc = esys_import(&eu, &b.so_seal)) != TSS2_RC_SUCCESS ||
		    (b.user_seal.len && (rc = esys_import(&eu, &b.user_seal)) != TSS2_RC_SUCCESS))
			esys_fail("a PIN seal: Import+Load", rc, NULL);
		for (size_t i = 0; i < b.nobjects; i++)
			if (b.objects[i].key_dup.len && (rc = esys_import(&eu, &b.objects[i].key_dup)) != TSS2_RC_SUCCESS)
				esys_fail("a key: Import+Load", rc, NULL);
		if (r >= 0) {
			cpus[ns] = cpu_ms() - c0;
			samples[ns++] = now_ms() - t0;
		}
	}
	*cpu = unit_median(cpus, ns);
	esys_close(&eu);
	bundle_release(&b);
	free(data);
	return unit_median(samples, ns);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: tpmha-bench-replicate --module SO --a-conf FILE --b-conf FILE --a-tcti TCTI\n"
		   "         --b-tcti TCTI --a-store FILE --ma PEM --work DIR [--keys 1,10,100] [--runs N]\n"
		   "         [--json-out FILE]\n"
		   "(bench/run-replicate.sh makes the two units and runs this; see bench/RESULTS.md)\n");
}

static bool parse_sizes(const char *s)
{
	o.nsizes = 0;
	while (*s && o.nsizes < MAX_SIZES) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v < 1 || v > 1000)
			return false;
		o.sizes[o.nsizes++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return false;
	}
	return o.nsizes > 0;
}

static void make_domain_files(void)
{
	FILE *f = fopen(o.ma, "r");
	EVP_PKEY *ma = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	unsigned char *spki = NULL;
	int slen = ma ? i2d_PUBKEY(ma, &spki) : -1;
	struct buf b = BUF_INIT;

	if (f)
		fclose(f);
	if (slen <= 0 || domain_file_create(spki, (size_t)slen, "bench", &b) != CKR_OK)
		unit_fail("cannot make a domain for the MA key in %s", o.ma);
	spit(work("domain", 0), b.data, b.len);
	buf_release(&b);
	OPENSSL_free(spki);
	EVP_PKEY_free(ma);
}

static void make_approval(void)
{
	FILE *f = fopen(o.ma, "r");
	EVP_PKEY *ma = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	size_t dlen, ulen, msg_len = 128, sig_len = 512;
	uint8_t *dbytes = unit_slurp(work("domain", 0), &dlen), *ubytes = unit_slurp(work("unit-B", 0), &ulen);
	uint8_t msg[128], sig[512];
	struct domain_file d;
	struct unit_file u;
	struct buf b = BUF_INIT;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	enum hash_alg h;

	if (f)
		fclose(f);
	if (!ma || !ctx || domain_file_parse(dbytes, dlen, &d) != CKR_OK || unit_file_parse(ubytes, ulen, &u) != CKR_OK ||
	    approval_message(&d, &u, msg, &msg_len, &h) != CKR_OK || !EVP_PKEY_is_a(ma, "RSA") ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ma) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, msg, msg_len) != 1 ||
	    approval_file_create(&d, &u, sig, sig_len, &b) != CKR_OK)
		unit_fail("cannot approve B (the MA must be an RSA-2048 key)");
	spit(work("approval-B", 0), b.data, b.len);
	buf_release(&b);
	domain_file_release(&d);
	unit_file_release(&u);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(ma);
	free(dbytes);
	free(ubytes);
}

static void machine(char *buf, size_t len)
{
	struct utsname u;
	char model[128] = "unknown CPU", line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	snprintf(buf, len, "%s %s %s, %s, %ld CPUs", u.sysname, u.release, u.machine, model,
		 sysconf(_SC_NPROCESSORS_ONLN));
}

static void report(const struct result *res, size_t n, FILE *json)
{
	char m[512];
	bool met = true;

	machine(m, sizeof(m));
	printf("replication of a domain token of N RSA-2048 keys, unit A -> unit B (two swtpms)\n");
	printf("machine: %s\nmedian of %d runs after one untimed run; every token also carries 2 PIN seals and a MAC key\n\n",
	       m, o.runs);
	printf("%5s %-7s %9s %9s %6s %10s %10s %8s %8s %8s\n", "keys", "step", "module", "floor", "ratio",
	       "module/key", "floor/key", "keys/s", "mod cpu", "flr cpu");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &res[i];
		const double mod[3] = { r->exp_mod, r->imp_mod, r->exp_mod + r->imp_mod };
		const double flo[3] = { r->exp_floor, r->imp_floor, r->exp_floor + r->imp_floor };
		const double mcpu[3] = { r->exp_mod_cpu, r->imp_mod_cpu, r->exp_mod_cpu + r->imp_mod_cpu };
		const double fcpu[3] = { r->exp_floor_cpu, r->imp_floor_cpu, r->exp_floor_cpu + r->imp_floor_cpu };
		static const char *const step[3] = { "export", "import", "total" };
		for (int s = 0; s < 3; s++)
			printf("%5u %-7s %7.1fms %7.1fms %5.2fx %8.2fms %8.2fms %8.1f %6.1fms %6.1fms\n", r->keys,
			       step[s], mod[s], flo[s], flo[s] > 0 ? mod[s] / flo[s] : 0, mod[s] / r->keys,
			       flo[s] / r->keys, mod[s] > 0 ? r->keys * 1e3 / mod[s] : 0, mcpu[s], fcpu[s]);
		printf("%5s bundle %zu bytes\n", "", r->bundle_len);
	}
	printf("(module, floor: wall time; mod cpu, flr cpu: the client process's own CPU time in it; the\n"
	       " floor's wall time less its CPU time is about what the TPMs and the sockets take)\n");
	printf("\n%-60s %9s %6s %s\n", "target (issue 3)", "measured", "goal", "result");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &res[i];
		double mod = r->exp_mod + r->imp_mod, flo = r->exp_floor + r->imp_floor;
		double tpm = flo - r->exp_floor_cpu - r->imp_floor_cpu;
		char t[96];
		snprintf(t, sizeof(t), "%u keys: replicate+receive / ESYS floor", r->keys);
		printf("%-60s %8.2fx %5.1fx %s\n", t, mod / flo, 1.3, mod / flo <= 1.3 ? "met" : "MISSED");
		met &= mod / flo <= 1.3;
		snprintf(t, sizeof(t), "%u keys: replicate+receive / floor less ESYS's own CPU", r->keys);
		printf("%-60s %8.2fx %6s %s\n", t, tpm > 0 ? mod / tpm : 0, "-", "(reference)");
	}
	if (json) {
		fprintf(json, "{\n  \"machine\": \"%s\",\n  \"runs\": %d,\n  \"results\": [\n", m, o.runs);
		for (size_t i = 0; i < n; i++)
			fprintf(json,
				"    {\"keys\": %u, \"bundle_bytes\": %zu, \"export_module_ms\": %.3f, "
				"\"export_floor_ms\": %.3f, \"import_module_ms\": %.3f, \"import_floor_ms\": %.3f, "
				"\"export_module_cpu_ms\": %.3f, \"export_floor_cpu_ms\": %.3f, "
				"\"import_module_cpu_ms\": %.3f, \"import_floor_cpu_ms\": %.3f}%s\n",
				res[i].keys, res[i].bundle_len, res[i].exp_mod, res[i].exp_floor, res[i].imp_mod,
				res[i].imp_floor, res[i].exp_mod_cpu, res[i].exp_floor_cpu, res[i].imp_mod_cpu,
				res[i].imp_floor_cpu, i + 1 < n ? "," : "");
		fprintf(json, "  ],\n  \"target_met\": %s\n}\n", met ? "true" : "false");
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "module", required_argument, NULL, 'm' }, { "a-conf", required_argument, NULL, 'a' },
		{ "b-conf", required_argument, NULL, 'b' }, { "a-tcti", required_argument, NULL, 'A' },
		{ "b-tcti", required_argument, NULL, 'B' }, { "a-store", required_argument, NULL, 's' },
		{ "ma", required_argument, NULL, 'M' },     { "work", required_argument, NULL, 'w' },
		{ "keys", required_argument, NULL, 'k' },   { "runs", required_argument, NULL, 'r' },
		{ "json-out", required_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct result res[MAX_SIZES] = { 0 };
	FILE *json = NULL;
	int c;

	o.runs = 5;
	parse_sizes("1,10,100");
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.module = optarg; break;
		case 'a': o.a_conf = optarg; break;
		case 'b': o.b_conf = optarg; break;
		case 'A': o.a_tcti = optarg; break;
		case 'B': o.b_tcti = optarg; break;
		case 's': o.a_store = optarg; break;
		case 'M': o.ma = optarg; break;
		case 'w': o.work = optarg; break;
		case 'j': o.json_out = optarg; break;
		case 'k':
			if (!parse_sizes(optarg)) {
				usage(stderr);
				return 2;
			}
			break;
		case 'r':
			o.runs = atoi(optarg);
			if (o.runs < 1 || o.runs >= MAX_RUNS) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.module || !o.a_conf || !o.b_conf || !o.a_tcti || !o.b_tcti || !o.a_store || !o.ma || !o.work) {
		usage(stderr);
		return 2;
	}
	if (!unit_init("tpmha-bench-replicate", o.module) || ossl_init() != CKR_OK) {
		fprintf(stderr, "tpmha-bench-replicate: mmap or OpenSSL: %s\n", strerror(errno));
		return 1;
	}
	make_domain_files();
	if (!unit_run(o.b_conf, identity, NULL))
		goto failed;
	make_approval();
	for (size_t i = 0; i < o.nsizes; i++) {
		struct result *r = &res[i];

		r->keys = o.sizes[i];
		fprintf(stderr, "tpmha-bench-replicate: %u keys: generating them in A's TPM...", r->keys);
		if (!unit_run(o.a_conf, setup_token, &r->keys))
			goto failed;
		fprintf(stderr, " %.1f s; replicating...", unit_sh->setup_s);
		if (!unit_run(o.a_conf, replicate, &r->keys))
			goto failed;
		r->exp_mod = unit_median(unit_sh->ms, unit_sh->n);
		r->exp_mod_cpu = unit_median(unit_sh->cpu_ms, unit_sh->n);
		if (!unit_run(o.b_conf, receive, &r->keys))
			goto failed;
		r->imp_mod = unit_median(unit_sh->ms, unit_sh->n);
		r->imp_mod_cpu = unit_median(unit_sh->cpu_ms, unit_sh->n);
		fprintf(stderr, " the ESYS floor...");
		unit_sh->ok = 1;
		r->exp_floor = floor_export(r->keys, &r->exp_floor_cpu);
		r->imp_floor = floor_import(r->keys, &r->bundle_len, &r->imp_floor_cpu);
		fprintf(stderr, " done\n");
	}
	if (o.json_out && !(json = fopen(o.json_out, "w")))
		fprintf(stderr, "tpmha-bench-replicate: cannot write %s\n", o.json_out);
	report(res, o.nsizes, json);
	if (json)
		fclose(json);
	return 0;
failed:
	fprintf(stderr, "\ntpmha-bench-replicate: %s\n", unit_sh->err);
	return 1;
}
