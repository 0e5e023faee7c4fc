/* tpmha-bench-tpm12-replicate: moving keys from TPM 1.2 unit A to TPM 1.2 unit B, per
 * key, through the module against the floor of the same TPM commands sent through
 * TSPI directly (issue 4). Each unit is a swtpm in TPM 1.2 mode behind its own tcsd;
 * bench/run-tpm12.sh makes them, the domain, B's identity file and, through the CLI,
 * domain tokens of 1 and 10 RSA-2048 keys on A that it has already replicated once
 * to B (so each holds B's unit object and the MA's approval of every key for B).
 *
 *   module   TPMHA_ReplicateToken on A, then TPMHA_ReceiveBundle of that bundle on
 *            B, in-process: each unit's side is a forked child that dlopens the module
 *            with that unit's TPMHA_CONF, as an application would. One untimed run,
 *            then --runs timed ones; medians. Per key = (10-key time - 1-key time) / 9,
 *            which leaves out what a replication costs whatever its size (the PIN
 *            objects, the bundle's MAC key, the unit's identity, the store's token row).
 *   tspi     one key A -> B through TSPI, what a careful program minimally sends:
 *              A  TPM_CMK_CreateTicket (owner) over the MA's signature of the key's
 *                 TPM_CMK_AUTH; TPM_AuthorizeMigrationKey (owner,
 *                 TPM_MS_RESTRICT_APPROVE) for B's storage key D; TPM_CMK_CreateBlob
 *                 under the key's parent (the SRK)
 *              B  TPM_CMK_CreateTicket (owner) over the same signature;
 *                 TPM_CMK_ConvertMigration under D; TPM_LoadKey2 of the result under D
 *                 (the key is usable), then its eviction
 *            bench/run.c's timing: one key per operation, each timed alone, cycling
 *            through the keys of the 10-key token. The converted key's public key is
 *            compared with the source's every time.
 *            TPM_AuthorizeMigrationKey is in every operation because the module asks
 *            for it for every key (tpm12_key_export); the source key is never loaded on
 *            A, because TPM_CMK_CreateBlob takes its encrypted blob and its parent's
 *            handle, not a handle of the key.
 *   tspi-auth-once   the same with TPM_AuthorizeMigrationKey made once for B before
 *            the clock starts (its ticket names only the destination and the scheme,
 *            so it serves every key): a reference for what the module could save.
 *
 * The floor works on the keys the module made (read from A's store), not on keys it
 * makes itself: making CMKs through TSPI needs TPM_CMK_ApproveMA and TPM_CMK_CreateKey
 * with the same MSA list, 60-185 ms of key generation each, only to reproduce keys
 * of the same shape, parent and auth as these; and the TPM's work in moving a key does
 * not depend on who made it. The MA's signatures are made in software before the
 * clock starts (as tests/tpm12-migration/tpm12_cmk_bypass.c does); the module reads
 * them from the approval object, also before it talks to the TPM. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <tss/tspi.h>
#include <trousers/trousers.h>

#include "bench/bench.h"
#include "common/ossl.h"
#include "migration/files.h"
#include "tpm/backend.h"
#include "tpm/tpm12_int.h"
#include "bench/unit.h"
#include "tpmha/tpmha.h"

/* trousers trap (1), as in tpm/tpm12_migrate.c: a migration blob made in another
 * context (here A's) goes into B's MIGDATA object only through libtspi's exported but
 * undeclared setter; configure checks that it is there (HAVE_OBJ_MIGDATA_SET_BLOB). */
extern TSS_RESULT obj_migdata_set_blob(TSS_HMIGDATA hMigData, UINT32 blobSize, BYTE *blob);

#define MAX_RUNS UNIT_MAX_SAMPLES /* one sample of each run on the shared page */
#define MAX_KEYS 64

struct opts {
	const char *module, *a_conf, *b_conf, *a_tcsd, *b_tcsd, *a_store, *b_store;
	const char *domain, *unit_b, *ma, *token1, *token10, *pin, *work;
	int runs;
	size_t warmup, iters;
	bool no_module, no_floor;
};

static struct opts o;

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the module: a child process per unit ---------------------------------------------- */

/* What a child hands back (shared memory). */

/* PKCS#11 3.0's CK_INTERFACE (this p11-kit's header does not have it yet). */
static const char *bundle_path(const char *token)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s.bundle", o.work, token);
	return path;
}

static void replicate(const void *arg)
{
	const char *token = arg;
	CK_ULONG got = 0, len = 0;
	CK_SLOT_ID slot = unit_find_token(token);
	CK_SESSION_HANDLE h;
	CK_OBJECT_CLASS uc = CKO_TPMHA_UNIT;
	CK_OBJECT_HANDLE unit = CK_INVALID_HANDLE;
	struct unit_file u;
	uint8_t *ub, *bundle = NULL;
	size_t ulen;
	FILE *f;

	if (slot == (CK_SLOT_ID)-1)
		unit_fail("no token \"%s\" on A", token);
	UNIT_CK(unit_f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
	UNIT_CK(unit_f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)o.pin, strlen(o.pin)));
	ub = unit_slurp(o.unit_b, &ulen);
	if (unit_file_parse(ub, ulen, &u) != CKR_OK)
		unit_fail("%s is not a unit file", o.unit_b);
	{
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &uc, sizeof(uc) }, { CKA_TPMHA_UNIT_ID, u.id, sizeof(u.id) } };
		UNIT_CK(unit_f->C_FindObjectsInit(h, t, 2));
		UNIT_CK(unit_f->C_FindObjects(h, &unit, 1, &got));
		UNIT_CK(unit_f->C_FindObjectsFinal(h));
	}
	if (!got)
		unit_fail("token \"%s\" holds no unit object for B (replicate it to B with the CLI first)", token);
	for (int r = -1; r < o.runs; r++) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);

		UNIT_CK(unit_v->TPMHA_ReplicateToken(h, unit, NULL, &len));
		free(bundle);
		if (!(bundle = malloc(len)))
			unit_fail("out of memory");
		UNIT_CK(unit_v->TPMHA_ReplicateToken(h, unit, bundle, &len));
		if (r >= 0) {
			unit_sh->cpu_ms[unit_sh->n] = (double)(now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e6;
			unit_sh->ms[unit_sh->n++] = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
		}
	}
	if (!(f = fopen(bundle_path(token), "wb")) || fwrite(bundle, 1, len, f) != len || fclose(f) != 0)
		unit_fail("cannot write %s", bundle_path(token));
	free(bundle);
	free(ub);
	unit_file_release(&u);
}

static void receive(const void *arg)
{
	size_t len, dlen;
	uint8_t *bundle = unit_slurp(bundle_path(arg), &len), *domain = unit_slurp(o.domain, &dlen);
	CK_SLOT_ID slot;

	for (int r = -1; r < o.runs; r++) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);

		UNIT_CK(unit_v->TPMHA_ReceiveBundle(bundle, len, domain, dlen, &slot));
		if (r >= 0) {
			unit_sh->cpu_ms[unit_sh->n] = (double)(now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e6;
			unit_sh->ms[unit_sh->n++] = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
		}
	}
	free(bundle);
	free(domain);
}

struct mod_result {
	double rep[2], rec[2], rep_cpu[2], rec_cpu[2]; /* medians, ms: [0] 1 key, [1] 10 keys */
	bool ok;
};

static bool module_side(struct mod_result *m)
{
	const char *tokens[2] = { o.token1, o.token10 };

	for (int i = 0; i < 2; i++) {
		fprintf(stderr, "tpmha-bench-tpm12-replicate: module, token %s: replicate...", tokens[i]);
		if (!unit_run(o.a_conf, replicate, tokens[i]))
			goto failed;
		m->rep[i] = unit_median(unit_sh->ms, (size_t)unit_sh->n);
		m->rep_cpu[i] = unit_median(unit_sh->cpu_ms, (size_t)unit_sh->n);
		fprintf(stderr, " receive...");
		if (!unit_run(o.b_conf, receive, tokens[i]))
			goto failed;
		m->rec[i] = unit_median(unit_sh->ms, (size_t)unit_sh->n);
		m->rec_cpu[i] = unit_median(unit_sh->cpu_ms, (size_t)unit_sh->n);
		fprintf(stderr, " done\n");
	}
	m->ok = true;
	return true;
failed:
	fprintf(stderr, "\ntpmha-bench-tpm12-replicate: module: %s\n", unit_sh->err);
	return false;
}

/* ---- the floor: TSPI directly ------------------------------------------------------------- */

enum step { A_TICKET, A_AUTHORIZE, A_BLOB, B_TICKET, B_CONVERT, B_LOAD, NSTEPS };

static const char *const step_name[NSTEPS] = {
	[A_TICKET] = "A TPM_CMK_CreateTicket",
	[A_AUTHORIZE] = "A TPM_AuthorizeMigrationKey",
	[A_BLOB] = "A TPM_CMK_CreateBlob",
	[B_TICKET] = "B TPM_CMK_CreateTicket",
	[B_CONVERT] = "B TPM_CMK_ConvertMigration",
	[B_LOAD] = "B TPM_LoadKey2 + evict",
};

struct fkey {
	struct tpm_blob stored;          /* the store's blob (our format) */
	struct tpm12_blob b;             /* b.key: its TPM_KEY12 */
	struct tpm12_keyinfo ki;
	uint8_t cmk_auth[60];            /* TPM_CMK_AUTH: the restrict ticket */
	uint8_t sig[512];                /* the MA's signature over it */
	size_t sig_len;
	UINT32 b_flags;                  /* the key object's flags on B */
	TSS_HKEY h;                      /* on A: a key object holding the blob, never loaded */
};

struct unit {
	TSS_HCONTEXT ctx;
	TSS_HTPM tpm;
	TSS_HKEY srk, ma;
	/* one per context, reused: libtspi's MIGDATA objects leak their buffers when
	 * closed, and each setter frees the buffer it replaces (tpm12_int.h) */
	TSS_HMIGDATA m;
};

struct floor {
	struct unit a, b;
	TSS_HKEY dest;                   /* on A: D's public key */
	TSS_HKEY d;                      /* on B: D, loaded once */
	struct fkey keys[MAX_KEYS];
	size_t nkeys, next;
	bool authorize_once, authorized;
	uint8_t random[1024], migrated[4096];
	size_t random_len, migrated_len;
	double *steps[NSTEPS];           /* ms, one per operation (warm-up ones first) */
	size_t nsteps, cap;
};

static const BYTE well_known[20] = TSS_WELL_KNOWN_SECRET;

static TSS_RESULT secret_on(TSS_HCONTEXT ctx, TSS_HOBJECT obj)
{
	TSS_HPOLICY p;
	TSS_RESULT r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, &p);

	if (r == TSS_SUCCESS)
		r = Tspi_Policy_SetSecret(p, TSS_SECRET_MODE_SHA1, 20, (BYTE *)well_known);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_AssignToObject(p, obj);
	return r;
}

/* A context on that tcsd as the owner (well-known secret), the SRK loaded, the MA's
 * public key as an object, the MIGDATA object with the domain's MSA list. */
static TSS_RESULT unit_open(struct unit *u, const char *port, const struct domain_file *d,
			    const uint8_t ma_digest[20])
{
	TSS_UUID srk = TSS_UUID_SRK;
	TSS_HPOLICY op;
	TSS_RESULT r = Tspi_Context_Create(&u->ctx);

	/* trousers trap (3): the port is read from the environment at connect time */
	setenv("TSS_TCSD_PORT", port, 1);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_Connect(u->ctx, NULL);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_GetTpmObject(u->ctx, &u->tpm);
	if (r == TSS_SUCCESS)
		r = Tspi_GetPolicyObject(u->tpm, TSS_POLICY_USAGE, &op);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_SetSecret(op, TSS_SECRET_MODE_SHA1, 20, (BYTE *)well_known);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_LoadKeyByUUID(u->ctx, TSS_PS_TYPE_SYSTEM, srk, &u->srk);
	if (r == TSS_SUCCESS)
		r = secret_on(u->ctx, u->srk);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(u->ctx, TSS_OBJECT_TYPE_RSAKEY, TSS_KEY_SIZE_2048 | TSS_KEY_TYPE_LEGACY,
					      &u->ma);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(u->ma, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_PUBLIC_KEY,
				       (UINT32)d->tpm.ma_tpm12.len, d->tpm.ma_tpm12.data);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(u->ctx, TSS_OBJECT_TYPE_MIGDATA, 0, &u->m);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(u->m, TSS_MIGATTRIB_AUTHORITY_DATA, TSS_MIGATTRIB_AUTHORITY_MSALIST, 20,
				       (BYTE *)ma_digest);
	return r;
}

static void unit_close(struct unit *u)
{
	if (u->ctx) {
		Tspi_Context_FreeMemory(u->ctx, NULL);
		Tspi_Context_Close(u->ctx);
	}
	memset(u, 0, sizeof(*u));
}

/* The private keys of token LABEL in A's store (the PIN objects left out: they move
 * once per token, not per key). */
static size_t store_keys(const char *label, struct fkey *keys)
{
	static const char sql[] = "SELECT o.tpm_key FROM object o JOIN token t ON t.id = o.token_id "
				  "WHERE t.label = ?1 AND o.tpm_key IS NOT NULL ORDER BY o.id";
	char path[4096];
	CK_UTF8CHAR l32[32];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/tpmha.sqlite3", o.a_store);
	unit_label32(l32, label);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		unit_fail("cannot read A's store %s", path);
	sqlite3_bind_blob(st, 1, l32, 32, SQLITE_STATIC);
	while (n < MAX_KEYS && sqlite3_step(st) == SQLITE_ROW) {
		struct fkey *k = &keys[n];
		if (tpm_blob_copy(&k->stored, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)) != CKR_OK ||
		    tpm12_blob_decode(k->stored.data, k->stored.len, &k->b) != CKR_OK || k->b.kind != TPM12_KIND_KEY ||
		    tpm12_key_parse(k->b.key, k->b.key_len, &k->ki) != CKR_OK)
			unit_fail("token %s in A's store: a key blob that is not a TPM 1.2 key", label);
		if (!(k->ki.flags & TPM_MIGRATEAUTHORITY) || k->b.parent != TPM12_PARENT_SRK)
			unit_fail("token %s in A's store: a key that is not a CMK under the SRK", label);
		n++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (!n)
		unit_fail("token %s: no keys in A's store", label);
	return n;
}

/* B's storage key D, from B's store (tpm12-unit-*.keys: 0x01 || u32 len || D || ...). */
static uint8_t *unit_d(size_t *len)
{
	char cmd[4200], path[4096];
	FILE *p;
	uint8_t *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), "ls '%s'/tpm12-unit-*.keys 2>/dev/null | head -1", o.b_store);
	p = popen(cmd, "r");
	if (!p || !fgets(path, sizeof(path), p))
		unit_fail("no unit keys file in B's store %s", o.b_store);
	pclose(p);
	path[strcspn(path, "\n")] = 0;
	f = unit_slurp(path, &n);
	if (n < 5 || f[0] != 1)
		unit_fail("%s is not a unit keys file", path);
	*len = (size_t)f[1] << 24 | (size_t)f[2] << 16 | (size_t)f[3] << 8 | f[4];
	if (*len > n - 5)
		unit_fail("%s is truncated", path);
	memmove(f, f + 5, *len);
	return f;
}

static void floor_setup(struct floor *f)
{
	size_t dlen, ulen, dblen;
	uint8_t *dbytes = unit_slurp(o.domain, &dlen), *ubytes = unit_slurp(o.unit_b, &ulen), *dblob = unit_d(&dblen);
	struct domain_file d;
	struct unit_file u;
	uint8_t msa[20], ma_digest[20];
	EVP_PKEY *ma;
	FILE *pem;
	TSS_RESULT r;

	if (domain_file_parse(dbytes, dlen, &d) != CKR_OK || d.tpm.ma_tpm12.len != TPM12_PUBKEY_SIZE)
		unit_fail("%s is not a domain file with a TPM 1.2 MA", o.domain);
	if (unit_file_parse(ubytes, ulen, &u) != CKR_OK || u.tpm.tpm_version != 12)
		unit_fail("%s is not a TPM 1.2 unit file", o.unit_b);
	if (tpm12_msa_digest(&d.tpm, msa, ma_digest) != CKR_OK)
		unit_fail("the domain's MSA list");
	if (!(pem = fopen(o.ma, "r")) || !(ma = PEM_read_PrivateKey(pem, NULL, NULL, NULL)))
		unit_fail("cannot read the MA's key %s", o.ma);
	fclose(pem);
	f->nkeys = store_keys(o.token10, f->keys);

	/* Before the clock: what the MA signs for each key, and its signature. */
	for (size_t i = 0; i < f->nkeys; i++) {
		struct fkey *k = &f->keys[i];
		size_t len = sizeof(k->cmk_auth);
		enum hash_alg hash;
		EVP_MD_CTX *mc = EVP_MD_CTX_new();

		k->sig_len = sizeof(k->sig);
		if (tpm_approval_message(&d.tpm, &u.tpm, &k->stored, k->cmk_auth, &len, &hash) != CKR_OK ||
		    len != sizeof(k->cmk_auth) || hash != HASH_SHA1 || !mc ||
		    EVP_DigestSignInit(mc, NULL, EVP_sha1(), NULL, ma) != 1 ||
		    EVP_DigestSign(mc, k->sig, &k->sig_len, k->cmk_auth, len) != 1)
			unit_fail("cannot sign key %zu's TPM_CMK_AUTH with the MA", i);
		EVP_MD_CTX_free(mc);
		k->b_flags = TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12 | TSS_KEY_MIGRATABLE |
			     TSS_KEY_CERTIFIED_MIGRATABLE | TSS_KEY_AUTHORIZATION |
			     (k->ki.usage == TPM_KEY_BIND     ? TSS_KEY_TYPE_BIND :
			      k->ki.usage == TPM_KEY_LEGACY ? TSS_KEY_TYPE_LEGACY :
							      TSS_KEY_TYPE_SIGNING);
	}
	EVP_PKEY_free(ma);

	r = unit_open(&f->a, o.a_tcsd, &d, ma_digest);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(f->a.ctx, TSS_OBJECT_TYPE_RSAKEY, TSS_KEY_SIZE_2048 | TSS_KEY_TYPE_LEGACY,
					      &f->dest);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(f->dest, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_PUBLIC_KEY,
				       TPM12_PUBKEY_SIZE, u.tpm.storage_public.data);
	/* Key objects holding the blobs, made once: TPM_CMK_CreateBlob needs no handle of
	 * the key, so the TPM never loads it. */
	for (size_t i = 0; r == TSS_SUCCESS && i < f->nkeys; i++) {
		r = Tspi_Context_CreateObject(f->a.ctx, TSS_OBJECT_TYPE_RSAKEY,
					      TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12, &f->keys[i].h);
		if (r == TSS_SUCCESS)
			r = Tspi_SetAttribData(f->keys[i].h, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_BLOB,
					       (UINT32)f->keys[i].b.key_len, (BYTE *)f->keys[i].b.key);
	}
	if (r != TSS_SUCCESS)
		unit_fail("TSPI set-up on A (tcsd port %s): %s", o.a_tcsd, Trspi_Error_String(r));
	r = unit_open(&f->b, o.b_tcsd, &d, ma_digest);
	/* The module keeps D loaded (a pinned key), and so does the floor. */
	if (r == TSS_SUCCESS)
		r = Tspi_Context_LoadKeyByBlob(f->b.ctx, f->b.srk, (UINT32)dblen, dblob, &f->d);
	if (r == TSS_SUCCESS)
		r = secret_on(f->b.ctx, f->d);
	if (r != TSS_SUCCESS)
		unit_fail("TSPI set-up on B (tcsd port %s): %s", o.b_tcsd, Trspi_Error_String(r));

	f->cap = o.warmup + o.iters;
	for (int s = 0; s < NSTEPS; s++)
		if (!(f->steps[s] = calloc(f->cap, sizeof(double))))
			unit_fail("out of memory");
	free(dbytes);
	free(ubytes);
	free(dblob);
	domain_file_release(&d);
	unit_file_release(&u);
}

static void floor_teardown(struct floor *f)
{
	unit_close(&f->a);
	unit_close(&f->b);
	for (size_t i = 0; i < f->nkeys; i++)
		tpm_blob_release(&f->keys[i].stored);
	for (int s = 0; s < NSTEPS; s++)
		free(f->steps[s]);
}

/* Copy a buffer TSPI returned and free it at once (trousers trap (2)). */
static bool take(TSS_HCONTEXT ctx, BYTE *p, UINT32 n, uint8_t *out, size_t cap, size_t *len)
{
	bool ok = p && n && n <= cap;

	if (ok)
		memcpy(out, p, n);
	if (p)
		Tspi_Context_FreeMemory(ctx, p);
	*len = ok ? n : 0;
	return ok;
}

static int tspi_fail(char *err, size_t errlen, enum step s, TSS_RESULT r)
{
	bench_errf(err, errlen, "%s: %s (0x%x)", step_name[s], Trspi_Error_String(r), r);
	return -1;
}

/* TPM_AuthorizeMigrationKey for D, its ticket into A's MIGDATA object. */
static TSS_RESULT authorize(struct floor *f)
{
	BYTE *p = NULL;
	UINT32 n = 0;
	TSS_RESULT r = Tspi_TPM_AuthorizeMigrationTicket(f->a.tpm, f->dest, TSS_MS_RESTRICT_APPROVE_DOUBLE, &n, &p);

	if (r == TSS_SUCCESS) {
		r = Tspi_SetAttribData(f->a.m, TSS_MIGATTRIB_MIGRATIONTICKET, 0, n, p);
		Tspi_Context_FreeMemory(f->a.ctx, p);
	}
	return r;
}

/* One key from A to B, usable there. */
static int floor_move(void *arg, char *err, size_t errlen)
{
	struct floor *f = arg;
	struct fkey *k = &f->keys[f->next++ % f->nkeys];
	uint64_t t[NSTEPS + 1];
	TSS_HKEY hk = 0;
	BYTE *p = NULL;
	UINT32 n = 0;
	TSS_RESULT r;
	bool same;

	t[A_TICKET] = now_ns(CLOCK_MONOTONIC);
	r = Tspi_SetAttribData(f->a.m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_RESTRICT_TICKET,
			       sizeof(k->cmk_auth), k->cmk_auth);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(f->a.m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_SIG_VALUE,
				       (UINT32)k->sig_len, k->sig);
	if (r == TSS_SUCCESS)
		r = Tspi_TPM_CMKCreateTicket(f->a.tpm, f->a.ma, f->a.m);
	if (r != TSS_SUCCESS)
		return tspi_fail(err, errlen, A_TICKET, r);

	t[A_AUTHORIZE] = now_ns(CLOCK_MONOTONIC);
	if (!f->authorize_once || !f->authorized) {
		if ((r = authorize(f)) != TSS_SUCCESS)
			return tspi_fail(err, errlen, A_AUTHORIZE, r);
		f->authorized = true;
	}

	t[A_BLOB] = now_ns(CLOCK_MONOTONIC);
	r = Tspi_Key_CMKCreateBlob(k->h, f->a.srk, f->a.m, &n, &p);
	if (r != TSS_SUCCESS)
		return tspi_fail(err, errlen, A_BLOB, r);
	if (!take(f->a.ctx, p, n, f->random, sizeof(f->random), &f->random_len))
		return tspi_fail(err, errlen, A_BLOB, TSS_E_INTERNAL_ERROR);
	p = NULL;
	r = Tspi_GetAttribData(f->a.m, TSS_MIGATTRIB_MIGRATIONBLOB, TSS_MIGATTRIB_MIG_XOR_BLOB, &n, &p);
	if (r != TSS_SUCCESS || !take(f->a.ctx, p, n, f->migrated, sizeof(f->migrated), &f->migrated_len))
		return tspi_fail(err, errlen, A_BLOB, r ? r : TSS_E_INTERNAL_ERROR);

	t[B_TICKET] = now_ns(CLOCK_MONOTONIC);
	r = Tspi_SetAttribData(f->b.m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_RESTRICT_TICKET,
			       sizeof(k->cmk_auth), k->cmk_auth);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(f->b.m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_SIG_VALUE,
				       (UINT32)k->sig_len, k->sig);
	if (r == TSS_SUCCESS)
		r = Tspi_TPM_CMKCreateTicket(f->b.tpm, f->b.ma, f->b.m);
	if (r != TSS_SUCCESS)
		return tspi_fail(err, errlen, B_TICKET, r);

	t[B_CONVERT] = now_ns(CLOCK_MONOTONIC);
	r = obj_migdata_set_blob(f->b.m, (UINT32)f->migrated_len, f->migrated);
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(f->b.ctx, TSS_OBJECT_TYPE_RSAKEY, k->b_flags, &hk);
	if (r == TSS_SUCCESS)
		r = Tspi_Key_CMKConvertMigration(hk, f->d, f->b.m, (UINT32)f->random_len, f->random);
	if (r != TSS_SUCCESS) {
		if (hk)
			Tspi_Context_CloseObject(f->b.ctx, hk);
		return tspi_fail(err, errlen, B_CONVERT, r);
	}

	t[B_LOAD] = now_ns(CLOCK_MONOTONIC);
	r = Tspi_Key_LoadKey(hk, f->d);
	if (r == TSS_SUCCESS)
		r = Tspi_Key_UnloadKey(hk);
	t[NSTEPS] = now_ns(CLOCK_MONOTONIC);
	if (r != TSS_SUCCESS) {
		Tspi_Context_CloseObject(f->b.ctx, hk);
		return tspi_fail(err, errlen, B_LOAD, r);
	}
	/* The same key arrived: its public key is the source's. */
	p = NULL;
	r = Tspi_GetAttribData(hk, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_PUBLIC_KEY, &n, &p);
	same = r == TSS_SUCCESS && n == TPM12_PUBKEY_SIZE && !memcmp(p, k->ki.pubkey, n);
	if (p)
		Tspi_Context_FreeMemory(f->b.ctx, p);
	Tspi_Context_CloseObject(f->b.ctx, hk);
	if (!same) {
		bench_errf(err, errlen, "the key converted on B is not the key sent from A");
		return -1;
	}
	if (f->nsteps < f->cap) {
		for (int s = 0; s < NSTEPS; s++)
			f->steps[s][f->nsteps] = (double)(t[s + 1] - t[s]) / 1e6;
		f->nsteps++;
	}
	return 0;
}

struct floor_result {
	struct bench_result r;
	double step_p50[NSTEPS];
};

static bool bench_floor(struct floor *f, bool once, struct floor_result *out)
{
	struct bench_job job = {
		.name = "replicate-key", .impl = once ? "tspi-auth-once" : "tspi",
		.what = "one CMK A -> B, loaded on B", .threads = 1, .warmup = o.warmup, .iters = o.iters,
		.op = floor_move, .arg = f,
	};

	f->authorize_once = once;
	f->authorized = false;
	f->nsteps = 0;
	if (once) {
		TSS_RESULT r = authorize(f);
		if (r != TSS_SUCCESS) {
			fprintf(stderr, "tpmha-bench-tpm12-replicate: %s: %s\n", step_name[A_AUTHORIZE],
				Trspi_Error_String(r));
			return false;
		}
		f->authorized = true;
	}
	fprintf(stderr, "tpmha-bench-tpm12-replicate: floor (%s), %zu keys...\n", job.impl, o.warmup + o.iters);
	memset(out, 0, sizeof(*out));
	snprintf(out->r.name, sizeof(out->r.name), "%s", job.name);
	snprintf(out->r.impl, sizeof(out->r.impl), "%s", job.impl);
	bench_run_threads(&job, &out->r);
	if (!out->r.ok) {
		fprintf(stderr, "tpmha-bench-tpm12-replicate: floor (%s): %s\n", job.impl, out->r.err);
		return false;
	}
	for (int s = 0; s < NSTEPS; s++)
		out->step_p50[s] = f->nsteps > o.warmup ? unit_median(f->steps[s] + o.warmup, f->nsteps - o.warmup) : 0;
	return true;
}

/* ---- report and main ------------------------------------------------------------------------ */

static void report(const struct mod_result *m, const struct floor_result *fl, size_t nfl)
{
	char machine[256];
	double mod_key = 0, sum = 0;

	bench_machine(machine, sizeof(machine));
	printf("replication between two TPM 1.2 units, A -> B, per RSA-2048 key\nmachine: %s\n", machine);
	if (m->ok) {
		double rep = (m->rep[1] - m->rep[0]) / 9, rec = (m->rec[1] - m->rec[0]) / 9;

		mod_key = rep + rec;
		printf("\nmodule, in-process: TPMHA_ReplicateToken on A, TPMHA_ReceiveBundle on B (ms; median of %d runs\n"
		       "after one untimed; cpu: the calling process's own)\n", o.runs);
		printf("%-8s %10s %10s %10s %10s %10s\n", "keys", "replicate", "cpu", "receive", "cpu", "total");
		for (int i = 0; i < 2; i++)
			printf("%-8d %10.2f %10.2f %10.2f %10.2f %10.2f\n", i ? 10 : 1, m->rep[i], m->rep_cpu[i], m->rec[i],
			       m->rec_cpu[i], m->rep[i] + m->rec[i]);
		printf("per key ((10 keys - 1 key) / 9): replicate %.2f ms (cpu %.2f), receive %.2f ms (cpu %.2f), "
		       "total %.2f ms\n",
		       rep, (m->rep_cpu[1] - m->rep_cpu[0]) / 9, rec, (m->rec_cpu[1] - m->rec_cpu[0]) / 9, mod_key);
	}
	if (nfl) {
		printf("\nfloor, TSPI directly: one key A -> B per operation (%zu timed, %zu untimed first)\n", o.iters,
		       o.warmup);
		printf("%-20s %6s %8s %8s %8s %8s %8s %10s\n", "impl", "keys", "keys/s", "p50 ms", "p90 ms", "p99 ms",
		       "max ms", "cpu us/key");
		for (size_t i = 0; i < nfl; i++) {
			const struct bench_result *r = &fl[i].r;
			printf("%-20s %6zu %8.1f %8.3f %8.3f %8.3f %8.3f %10.1f\n", r->impl, r->ops, r->ops_per_s, r->p50_ms,
			       r->p90_ms, r->p99_ms, r->max_ms, r->cpu_us_per_op);
		}
		printf("\nwhere the floor's time goes (tspi, p50 of each step, ms):\n");
		for (int s = 0; s < NSTEPS; s++) {
			printf("  %-32s %8.3f\n", step_name[s], fl[0].step_p50[s]);
			sum += fl[0].step_p50[s];
		}
		printf("  %-32s %8.3f\n", "sum", sum);
	}
	if (m->ok && nfl) {
		double ratio = mod_key / fl[0].r.p50_ms;

		printf("\n%-62s %9s %6s  %s\n", "target (issue 4: within 1.2x of TSPI directly)", "measured", "goal",
		       "result");
		printf("%-62s %8.2fx %5.1fx  %s\n", "replicate + receive per key, module in-process / tspi p50", ratio,
		       1.2, ratio <= 1.2 ? "met" : "MISSED");
		if (nfl > 1)
			printf("%-62s %8.2fx %6s  %s\n", "the same / tspi-auth-once p50", mod_key / fl[1].r.p50_ms,
			       "-", "(reference)");
	}
	/* for bench/run-tpm12.sh */
	if (nfl)
		printf("\nfloor-per-key-ms %.3f\n", fl[0].r.p50_ms);
	if (m->ok)
		printf("module-per-key-ms %.3f\n", mod_key);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tpmha-bench-tpm12-replicate --domain FILE --unit-b FILE --token1 LABEL --token10 LABEL\n"
		"         --module SO --a-conf FILE --b-conf FILE --pin PIN --work DIR     (the module)\n"
		"         --a-tcsd PORT --b-tcsd PORT --a-store DIR --b-store DIR --ma PEM  (the floor)\n"
		"         [--runs N] [--warmup N] [--iterations N] [--no-module] [--no-floor]\n"
		"(bench/run-tpm12.sh makes the units and tokens and runs this; see bench/RESULTS.md)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "module", required_argument, NULL, 'm' },   { "a-conf", required_argument, NULL, 'a' },
		{ "b-conf", required_argument, NULL, 'b' },   { "a-tcsd", required_argument, NULL, 'A' },
		{ "b-tcsd", required_argument, NULL, 'B' },   { "a-store", required_argument, NULL, 's' },
		{ "b-store", required_argument, NULL, 'S' },  { "domain", required_argument, NULL, 'd' },
		{ "unit-b", required_argument, NULL, 'u' },   { "ma", required_argument, NULL, 'M' },
		{ "token1", required_argument, NULL, '1' },   { "token10", required_argument, NULL, 'T' },
		{ "pin", required_argument, NULL, 'p' },      { "work", required_argument, NULL, 'w' },
		{ "runs", required_argument, NULL, 'r' },     { "warmup", required_argument, NULL, 'W' },
		{ "iterations", required_argument, NULL, 'i' }, { "no-module", no_argument, NULL, 'N' },
		{ "no-floor", no_argument, NULL, 'F' },       { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct floor fl;
	struct mod_result m = { 0 };
	struct floor_result fr[2];
	size_t nfr = 0;
	int c, status = 0;

	o.runs = 15;
	o.warmup = 10;
	o.iters = 300;
	o.pin = "userpin1234";
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o.module = optarg; break;
		case 'a': o.a_conf = optarg; break;
		case 'b': o.b_conf = optarg; break;
		case 'A': o.a_tcsd = optarg; break;
		case 'B': o.b_tcsd = optarg; break;
		case 's': o.a_store = optarg; break;
		case 'S': o.b_store = optarg; break;
		case 'd': o.domain = optarg; break;
		case 'u': o.unit_b = optarg; break;
		case 'M': o.ma = optarg; break;
		case '1': o.token1 = optarg; break;
		case 'T': o.token10 = optarg; break;
		case 'p': o.pin = optarg; break;
		case 'w': o.work = optarg; break;
		case 'r': o.runs = atoi(optarg); break;
		case 'W': o.warmup = strtoul(optarg, NULL, 10); break;
		case 'i': o.iters = strtoul(optarg, NULL, 10); break;
		case 'N': o.no_module = true; break;
		case 'F': o.no_floor = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !o.domain || !o.unit_b || !o.token10 || o.runs < 1 || o.runs >= MAX_RUNS || !o.iters ||
	    (!o.no_module && (!o.module || !o.a_conf || !o.b_conf || !o.token1 || !o.work)) ||
	    (!o.no_floor && (!o.a_tcsd || !o.b_tcsd || !o.a_store || !o.b_store || !o.ma))) {
		usage(stderr);
		return 2;
	}
	if (!unit_init("tpmha-bench-tpm12-replicate", o.module) || ossl_init() != CKR_OK) {
		fprintf(stderr, "tpmha-bench-tpm12-replicate: mmap or OpenSSL: %s\n", strerror(errno));
		return 1;
	}
	/* The module first: its children must not inherit the floor's tcsd connections. */
	if (!o.no_module && !module_side(&m))
		status = 1;
	if (!o.no_floor) {
		floor_setup(&fl);
		/* the reference row only after the floor itself */
		for (int once = 0; once < 2 && (size_t)once == nfr; once++)
			if (bench_floor(&fl, once, &fr[nfr]))
				nfr++;
			else
				status = 1;
		floor_teardown(&fl);
	}
	report(&m, fr, nfr);
	return status;
}
