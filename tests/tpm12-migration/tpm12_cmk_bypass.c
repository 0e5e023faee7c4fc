/* The TPM 1.2 migration commands called directly through TSPI, bypassing tpmha, on a
 * key that tpmha made: does the TPM itself refuse to move a certifiable migratable
 * key (CMK) to a unit the migration authority (MA) did not approve?
 *
 *   tpm12_cmk_bypass --tcsd PORT --store DIR --domain FILE --approve UNIT-FILE
 *                    --to UNIT-FILE --signer PEM
 *
 * Reads the one private key blob of the store (SQLite `object.tpm_key`; the key's
 * parent is the SRK, or the unit storage key D kept in DIR/tpm12-unit-*.keys), has
 * SIGNER sign the TPM_CMK_AUTH that names the MA, the unit APPROVE and the key (what
 * `tpmha domain approve` has the MA sign), then, as the TPM owner (well-known secret):
 *   TPM_CMK_CreateTicket           the TPM checks the signature with the MA's key
 *   TPM_AuthorizeMigrationKey      TPM_MS_RESTRICT_APPROVE for the unit TO's storage key
 *   TPM_CMK_CreateBlob             the TPM checks the ticket against TO and the key
 * Prints one line per command ("NAME: ok" or "NAME: refused by the TPM: TPM_E_...
 * (0xNN) ..."). Exit status: 0 all succeeded (a migration blob for TO was made),
 * 3 the TPM refused one, 1 anything else (set-up, usage). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <tss/tpm_error.h>
#include <tss/tspi.h>
#include <trousers/trousers.h>

#include "common/ossl.h"
#include "migration/files.h"
#include "tpm/backend.h"
#include "tpm/tpm12_int.h"

static void die(const char *what, const char *arg) __attribute__((noreturn));
static void die(const char *what, const char *arg)
{
	fprintf(stderr, "tpm12_cmk_bypass: %s%s\n", what, arg);
	exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		die("cannot open ", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("cannot read ", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The one object of the store with a TPM key blob. */
static void store_key(const char *dir, struct tpm_blob *out)
{
	char path[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, rows = 0;

	snprintf(path, sizeof(path), "%s/tpmha.sqlite3", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("cannot open the store ", path);
	if (sqlite3_prepare_v2(db, "SELECT tpm_key FROM object WHERE tpm_key IS NOT NULL", -1, &st, NULL) !=
	    SQLITE_OK)
		die("no object table in the store ", path);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rows++ == 0 &&
		    tpm_blob_copy(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)) != CKR_OK)
			die("out of memory", "");
	}
	if (rc != SQLITE_DONE || rows != 1)
		die("expected exactly one private key in the store ", path);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The unit storage key D's TPM_KEY12 from DIR/tpm12-unit-*.keys
 * (0x01 || u32 len || D || u32 len || U). */
static uint8_t *unit_d(const char *dir, size_t *len)
{
	char cmd[4200], path[4096];
	FILE *p;
	uint8_t *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), "ls %s/tpm12-unit-*.keys 2>/dev/null | head -1", dir);
	p = popen(cmd, "r");
	if (!p || !fgets(path, sizeof(path), p))
		die("no unit keys file in ", dir);
	pclose(p);
	path[strcspn(path, "\n")] = 0;
	f = slurp(path, &n);
	if (n < 5 || f[0] != 1)
		die("not a unit keys file: ", path);
	*len = (size_t)f[1] << 24 | (size_t)f[2] << 16 | (size_t)f[3] << 8 | f[4];
	if (*len > n - 5)
		die("truncated: ", path);
	memmove(f, f + 5, *len);
	return f;
}

static TSS_RESULT pubkey_object(TSS_HCONTEXT ctx, const uint8_t *pub, size_t len, TSS_HKEY *out)
{
	TSS_RESULT r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_RSAKEY,
						 TSS_KEY_SIZE_2048 | TSS_KEY_TYPE_LEGACY, out);

	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(*out, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_PUBLIC_KEY, (UINT32)len,
				       (BYTE *)pub);
	return r;
}

static TSS_RESULT well_known(TSS_HCONTEXT ctx, TSS_HOBJECT obj)
{
	static const BYTE wk[20] = TSS_WELL_KNOWN_SECRET;
	TSS_HPOLICY pol;
	TSS_RESULT r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, &pol);

	if (r == TSS_SUCCESS)
		r = Tspi_Policy_SetSecret(pol, TSS_SECRET_MODE_SHA1, 20, (BYTE *)wk);
	if (r == TSS_SUCCESS)
		r = Tspi_Policy_AssignToObject(pol, obj);
	return r;
}

static const char *tpm_code_name(TSS_RESULT r)
{
	switch (ERROR_CODE(r)) {
	case TPM_E_BAD_SIGNATURE & 0xfff: return "TPM_E_BAD_SIGNATURE";
	case TPM_E_MA_TICKET_SIGNATURE & 0xfff: return "TPM_E_MA_TICKET_SIGNATURE";
	case TPM_E_MA_DESTINATION & 0xfff: return "TPM_E_MA_DESTINATION";
	case TPM_E_MA_SOURCE & 0xfff: return "TPM_E_MA_SOURCE";
	case TPM_E_MA_AUTHORITY & 0xfff: return "TPM_E_MA_AUTHORITY";
	case TPM_E_BAD_MIGRATION & 0xfff: return "TPM_E_BAD_MIGRATION";
	case TPM_E_AUTHFAIL & 0xfff: return "TPM_E_AUTHFAIL";
	default: return "TPM_E_?";
	}
}

/* One TSPI step: its line, and the exit status if it failed. */
static int report(const char *name, TSS_RESULT r)
{
	if (r == TSS_SUCCESS) {
		printf("%s: ok\n", name);
		return 0;
	}
	if (ERROR_LAYER(r) == TSS_LAYER_TPM) {
		printf("%s: refused by the TPM: %s (0x%x) %s\n", name, tpm_code_name(r), ERROR_CODE(r),
		       Trspi_Error_String(r));
		return 3;
	}
	printf("%s: failed: %s (%s layer, 0x%x)\n", name, Trspi_Error_String(r), Trspi_Error_Layer(r),
	       ERROR_CODE(r));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tcsd", required_argument, NULL, 't' },   { "store", required_argument, NULL, 's' },
		{ "domain", required_argument, NULL, 'd' }, { "approve", required_argument, NULL, 'a' },
		{ "to", required_argument, NULL, 'o' },     { "signer", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tcsd = NULL, *store = NULL, *domain = NULL, *approve = NULL, *to = NULL, *signer = NULL;
	struct domain_file dom = { 0 };
	struct unit_file ua = { 0 }, ut = { 0 };
	struct tpm_blob key = { 0 };
	struct tpm12_blob kb;
	uint8_t msg[64], ma_digest[20], sig[512], *data, *dblob = NULL;
	size_t len, msg_len = sizeof(msg), sig_len = sizeof(sig), dlen = 0;
	enum hash_alg hash = HASH_NONE;
	EVP_PKEY *sk;
	EVP_MD_CTX *mc;
	FILE *f;
	TSS_UUID srk_uuid = TSS_UUID_SRK;
	TSS_HCONTEXT ctx = 0;
	TSS_HTPM tpm;
	TSS_HPOLICY op;
	TSS_HKEY srk, parent, hkey, hma, hto;
	TSS_HMIGDATA m;
	UINT32 n = 0;
	BYTE *p = NULL;
	TSS_RESULT r;
	int c, status;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't': tcsd = optarg; break;
		case 's': store = optarg; break;
		case 'd': domain = optarg; break;
		case 'a': approve = optarg; break;
		case 'o': to = optarg; break;
		case 'k': signer = optarg; break;
		default: die("usage: see the comment at the top of ", __FILE__);
		}
	}
	if (!tcsd || !store || !domain || !approve || !to || !signer)
		die("usage: see the comment at the top of ", __FILE__);

	data = slurp(domain, &len);
	if (domain_file_parse(data, len, &dom) != CKR_OK || dom.tpm.ma_tpm12.len != 284)
		die("not a domain file with a TPM 1.2 MA: ", domain);
	free(data);
	data = slurp(approve, &len);
	if (unit_file_parse(data, len, &ua) != CKR_OK || ua.tpm.tpm_version != 12)
		die("not a TPM 1.2 unit file: ", approve);
	free(data);
	data = slurp(to, &len);
	if (unit_file_parse(data, len, &ut) != CKR_OK || ut.tpm.tpm_version != 12)
		die("not a TPM 1.2 unit file: ", to);
	free(data);
	store_key(store, &key);
	if (tpm12_blob_decode(key.data, key.len, &kb) != CKR_OK || kb.kind != TPM12_KIND_KEY)
		die("the store's key blob is not a TPM 1.2 key", "");

	/* What the MA signs: SHA-1 over TPM_CMK_AUTH = SHA1(MA) || SHA1(D of APPROVE) || SHA1(key) */
	if (tpm_approval_message(&dom.tpm, &ua.tpm, &key, msg, &msg_len, &hash) != CKR_OK || msg_len != 60 ||
	    hash != HASH_SHA1 || hash_digest(HASH_SHA1, dom.tpm.ma_tpm12.data, dom.tpm.ma_tpm12.len, ma_digest) != CKR_OK)
		die("cannot make the TPM_CMK_AUTH", "");
	if (!(f = fopen(signer, "r")) || !(sk = PEM_read_PrivateKey(f, NULL, NULL, NULL)))
		die("cannot read the signer's key ", signer);
	fclose(f);
	mc = EVP_MD_CTX_new();
	if (!mc || EVP_DigestSignInit(mc, NULL, EVP_sha1(), NULL, sk) != 1 ||
	    EVP_DigestSign(mc, sig, &sig_len, msg, msg_len) != 1)
		die("cannot sign with ", signer);
	EVP_MD_CTX_free(mc);
	EVP_PKEY_free(sk);
	printf("TPM_CMK_AUTH for unit \"%s\" and the store's key signed by %s\n", ua.label, signer);
	if (kb.parent == TPM12_PARENT_UNIT)
		dblob = unit_d(store, &dlen);

	setenv("TSS_TCSD_PORT", tcsd, 1);
	r = Tspi_Context_Create(&ctx);
	if (!r)
		r = Tspi_Context_Connect(ctx, NULL);
	if (!r)
		r = Tspi_Context_GetTpmObject(ctx, &tpm);
	if (!r)
		r = Tspi_GetPolicyObject(tpm, TSS_POLICY_USAGE, &op);
	if (!r) {
		static const BYTE wk[20] = TSS_WELL_KNOWN_SECRET;
		r = Tspi_Policy_SetSecret(op, TSS_SECRET_MODE_SHA1, 20, (BYTE *)wk);
	}
	if (!r)
		r = Tspi_Context_LoadKeyByUUID(ctx, TSS_PS_TYPE_SYSTEM, srk_uuid, &srk);
	if (!r)
		r = well_known(ctx, srk);
	parent = srk;
	if (!r && dblob) {
		r = Tspi_Context_LoadKeyByBlob(ctx, srk, (UINT32)dlen, dblob, &parent);
		if (!r)
			r = well_known(ctx, parent);
	}
	if (!r)
		r = Tspi_Context_LoadKeyByBlob(ctx, parent, (UINT32)kb.key_len, (BYTE *)kb.key, &hkey);
	if (!r)
		r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_MIGDATA, 0, &m);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_AUTHORITY_DATA, TSS_MIGATTRIB_AUTHORITY_MSALIST, 20, ma_digest);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_RESTRICT_TICKET, 60, msg);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_SIG_VALUE, (UINT32)sig_len, sig);
	if (!r)
		r = pubkey_object(ctx, dom.tpm.ma_tpm12.data, dom.tpm.ma_tpm12.len, &hma);
	if ((status = report("TSPI set-up (context, SRK, the key loaded from the store)", r)) != 0)
		goto out;
	if ((status = report("TPM_CMK_CreateTicket", Tspi_TPM_CMKCreateTicket(tpm, hma, m))) != 0)
		goto out;
	r = pubkey_object(ctx, ut.tpm.storage_public.data, 284, &hto);
	if (!r)
		r = Tspi_TPM_AuthorizeMigrationTicket(tpm, hto, TSS_MS_RESTRICT_APPROVE_DOUBLE, &n, &p);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_MIGRATIONTICKET, 0, n, p);
	if ((status = report("TPM_AuthorizeMigrationKey (TPM_MS_RESTRICT_APPROVE)", r)) != 0)
		goto out;
	printf("  for unit \"%s\"\n", ut.label);
	p = NULL;
	r = Tspi_Key_CMKCreateBlob(hkey, parent, m, &n, &p);
	status = report("TPM_CMK_CreateBlob", r);
	if (!r)
		printf("  a migration blob for unit \"%s\": %u bytes of random\n", ut.label, n);
out:
	if (ctx) {
		Tspi_Context_FreeMemory(ctx, NULL);
		Tspi_Context_Close(ctx);
	}
	free(dblob);
	tpm_blob_release(&key);
	unit_file_release(&ua);
	unit_file_release(&ut);
	domain_file_release(&dom);
	return status;
}
