/* The TPM on its own, tpmha bypassed: key blobs taken from a unit's store (the
 * object table's tpm_key column, the token table's so_seal) and the commands any
 * client could send them through ESYS (tests/tpm/tpm2_migrate_esys.c). The unit's
 * module must not be running: swtpm serves one connection at a time.
 *
 *   esys-duplicate TCTI STORE DOMAIN APPROVAL UNIT_OK UNIT_OTHER
 *       APPROVAL approves UNIT_OK. For every key of the store and the SO PIN seal:
 *       TPM2_Duplicate to UNIT_OK with it (control: done); to UNIT_OTHER with no MA
 *       ticket at all; to UNIT_OTHER through UNIT_OK's approved policy; and
 *       UNIT_OK's approval offered for a selection of UNIT_OTHER.
 *   esys-sign TCTI STORE DOMAIN MA.pem
 *       the MA signs a policy for TPM2_Sign (PolicyCommandCode(TPM2_CC_Sign)); with
 *       it, and without the key's auth value, TPM2_Sign on every key. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <tss2/tss2_rc.h>

#include "migration/files.h"
#include "tests/migration/mig.h"
#include "tests/tpm/tpm2_migrate_esys.h"

#define MAX_BLOBS 16

struct blob {
	char name[80];
	struct tpm_blob b;
};

/* The private keys' TPM blobs and the SO PIN seals in a store, of domain d (their
 * policy is d's: the store may hold tokens of other domains too). */
static size_t store_blobs(const char *path, const struct domain_file *df, struct blob *out, size_t max)
{
	uint8_t policy[TPM2_DIGEST_SIZE];
	static const char *const sql[] = {
		"SELECT tpm_key FROM object WHERE tpm_key IS NOT NULL ORDER BY id",
		"SELECT so_seal FROM token ORDER BY id",
	};
	sqlite3 *db = NULL;
	size_t n = 0;

	if (tpm2_domain_policy(&df->tpm, policy) != CKR_OK)
		t_bail("the domain's policy");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		t_bail("cannot open the store %s", path);
	for (size_t q = 0; q < 2; q++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql[q], -1, &st, NULL) != SQLITE_OK)
			t_bail("store %s: %s", path, sqlite3_errmsg(db));
		while (n < max && sqlite3_step(st) == SQLITE_ROW) {
			TPM2B_PUBLIC pub;
			TPM2B_PRIVATE priv;
			tpm_blob_copy(&out[n].b, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
			if (tpm2_blob_decode(out[n].b.data, out[n].b.len, &pub, &priv) != CKR_OK)
				t_bail("a blob in the store that does not decode");
			if (pub.publicArea.authPolicy.size != sizeof(policy) ||
			    memcmp(pub.publicArea.authPolicy.buffer, policy, sizeof(policy)) != 0) {
				tpm_blob_release(&out[n].b);
				continue;
			}
			snprintf(out[n].name, sizeof(out[n].name), "%s %zu of domain %.16s",
				 q ? "the SO PIN seal" :
				 pub.publicArea.type == TPM2_ALG_RSA ? "RSA key" : "EC key", n + 1, df->label);
			n++;
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

static void parse_domain(const char *path, struct domain_file *d, TPM2B_PUBLIC *ma, TPM2B_NAME *ma_name,
			 TPM2B_NONCE *ref)
{
	size_t len;
	uint8_t *bytes = file_read(path, &len);

	if (domain_file_parse(bytes, len, d) != CKR_OK)
		t_bail("%s is not a domain file", path);
	memset(ma, 0, sizeof(*ma));
	if (tpm2_ma_parse(&d->tpm, &ma->publicArea, ma_name) != CKR_OK)
		t_bail("%s: its MA does not parse", path);
	ref->size = sizeof(d->tpm.policy_ref);
	memcpy(ref->buffer, d->tpm.policy_ref, ref->size);
	free(bytes);
}

static void parse_unit(const char *path, TPM2B_PUBLIC *pub, TPM2B_NAME *name)
{
	struct unit_file u;
	size_t len;
	uint8_t *bytes = file_read(path, &len);

	if (unit_file_parse(bytes, len, &u) != CKR_OK || tpm2_dest_parse(&u.tpm, pub, name) != CKR_OK)
		t_bail("%s is not a TPM 2.0 unit identity file", path);
	unit_file_release(&u);
	free(bytes);
}

static void to_signature(enum tpm_key_type ma_type, const uint8_t *sig, size_t len, TPMT_SIGNATURE *s)
{
	memset(s, 0, sizeof(*s));
	if (ma_type == TPM_KEY_RSA) {
		s->sigAlg = TPM2_ALG_RSASSA;
		s->signature.rsassa.hash = TPM2_ALG_SHA256;
		s->signature.rsassa.sig.size = (UINT16)len;
		memcpy(s->signature.rsassa.sig.buffer, sig, len);
	} else {
		s->sigAlg = TPM2_ALG_ECDSA;
		s->signature.ecdsa.hash = TPM2_ALG_SHA256;
		s->signature.ecdsa.signatureR.size = s->signature.ecdsa.signatureS.size = 32;
		memcpy(s->signature.ecdsa.signatureR.buffer, sig, 32);
		memcpy(s->signature.ecdsa.signatureS.buffer, sig + 32, 32);
	}
}

/* One TAP line: the TPM answered want (0: success) at step (NULL: any). */
static bool tpm_said(TSS2_RC rc, const char *failed, TSS2_RC want, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static bool tpm_said(TSS2_RC rc, const char *failed, TSS2_RC want, const char *step, const char *fmt, ...)
{
	bool ok = tpm2_rc_base(rc) == want && (!step || (failed && strcmp(failed, step) == 0));
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	if (rc == TSS2_RC_SUCCESS)
		return t_ok(ok, "%s: done", desc);
	return t_ok(ok, "%s: the TPM says %s (0x%x, %s) at %s", desc, Tss2_RC_Decode(rc), rc,
		    tpm2_rc_base(rc) == TPM2_RC_POLICY_FAIL ? "TPM_RC_POLICY_FAIL" :
		    tpm2_rc_base(rc) == TPM2_RC_SIGNATURE   ? "TPM_RC_SIGNATURE" :
		    tpm2_rc_base(rc) == TPM2_RC_POLICY_CC   ? "TPM_RC_POLICY_CC" :
							      "another code",
		    failed ? failed : "?");
}

static void open_unit(const char *tcti, struct esys_unit *u)
{
	if (!esys_open(tcti, u))
		t_bail("ESYS: cannot open %s and re-derive the unit storage key", tcti);
}

int cmd_esys_duplicate(int argc, char **argv)
{
	struct domain_file d;
	struct approval_file a;
	struct blob blobs[MAX_BLOBS] = { 0 };
	struct esys_unit u;
	TPM2B_PUBLIC ma, pub_ok, pub_other;
	TPM2B_NAME ma_name, name_ok, name_other;
	TPM2B_NONCE ref;
	TPMT_SIGNATURE sig;
	size_t n, alen;
	uint8_t *abytes;

	if (argc != 7)
		t_bail("usage: esys-duplicate TCTI STORE DOMAIN APPROVAL UNIT_OK UNIT_OTHER");
	parse_domain(argv[3], &d, &ma, &ma_name, &ref);
	abytes = file_read(argv[4], &alen);
	if (approval_file_parse(abytes, alen, &a) != CKR_OK)
		t_bail("%s is not an approval", argv[4]);
	to_signature(d.tpm.ma_type, a.signature.data, a.signature.len, &sig);
	parse_unit(argv[5], &pub_ok, &name_ok);
	parse_unit(argv[6], &pub_other, &name_other);
	n = store_blobs(argv[2], &d, blobs, MAX_BLOBS);
	t_ok(n >= 2, "%zu key and seal blobs of the domain in the store", n);
	open_unit(argv[1], &u);
	for (size_t i = 0; i < n; i++) {
		const char *failed = NULL;
		struct esys_dup dup = { .key = &blobs[i].b, .ma = &ma, .approval = &sig, .select = &name_ok,
					.dest = &pub_ok, .policy_ref = &ref };
		TSS2_RC rc;

		rc = esys_duplicate(&u, &dup, NULL, &failed);
		tpm_said(rc, failed, 0, NULL, "%s: (control) TPM2_Duplicate to the approved unit, MA ticket",
			 blobs[i].name);
		dup.approval = NULL;
		dup.select = &name_other;
		dup.dest = &pub_other;
		failed = NULL;
		rc = esys_duplicate(&u, &dup, NULL, &failed);
		tpm_said(rc, failed, TPM2_RC_POLICY_FAIL, "TPM2_Duplicate",
			 "%s: TPM2_Duplicate to the other unit, PolicyDuplicationSelect(other) + "
			 "PolicyCommandCode, no MA ticket", blobs[i].name);
		dup.approval = &sig;
		dup.select = &name_ok;
		failed = NULL;
		rc = esys_duplicate(&u, &dup, NULL, &failed);
		tpm_said(rc, failed, TPM2_RC_POLICY_FAIL, "TPM2_Duplicate",
			 "%s: TPM2_Duplicate to the other unit through the approved unit's MA-authorized "
			 "policy session", blobs[i].name);
		dup.select = &name_other;
		failed = NULL;
		rc = esys_duplicate(&u, &dup, NULL, &failed);
		tpm_said(rc, failed, TPM2_RC_SIGNATURE, "TPM2_VerifySignature",
			 "%s: the approved unit's approval offered for PolicyDuplicationSelect(other)",
			 blobs[i].name);
	}
	esys_close(&u);
	for (size_t i = 0; i < n; i++)
		tpm_blob_release(&blobs[i].b);
	approval_file_release(&a);
	domain_file_release(&d);
	free(abytes);
	return 0;
}

int cmd_esys_sign(int argc, char **argv)
{
	struct domain_file d;
	struct blob blobs[MAX_BLOBS] = { 0 };
	struct esys_unit u;
	TPM2B_PUBLIC ma;
	TPM2B_NAME ma_name;
	TPM2B_NONCE ref;
	TPMT_SIGNATURE sig;
	/* approvedPolicy = H(0^32 || TPM_CC_PolicyCommandCode || TPM_CC_Sign) */
	static const uint8_t cc[8] = { 0, 0, 0x01, 0x6c, 0, 0, 0x01, 0x5d };
	uint8_t buf[40] = { 0 }, msg[48], s[512];
	size_t n, slen;
	EVP_PKEY *key;

	if (argc != 5)
		t_bail("usage: esys-sign TCTI STORE DOMAIN MA.pem");
	parse_domain(argv[3], &d, &ma, &ma_name, &ref);
	key = pem_private(argv[4]);
	memcpy(buf + 32, cc, sizeof(cc));
	EVP_Digest(buf, sizeof(buf), msg, NULL, EVP_sha256(), NULL);
	memcpy(msg + 32, d.tpm.policy_ref, 16);
	slen = ma_sign(key, msg, sizeof(msg), s, sizeof(s));
	if (!t_ok(slen > 0, "the MA signs approvedPolicy = PolicyCommandCode(TPM2_CC_Sign), with the "
		  "domain's policyRef"))
		return 0;
	to_signature(d.tpm.ma_type, s, slen, &sig);
	n = store_blobs(argv[2], &d, blobs, MAX_BLOBS);
	t_ok(n >= 2, "%zu key and seal blobs of the domain in the store", n);
	open_unit(argv[1], &u);
	for (size_t i = 0; i < n; i++) {
		const char *failed = NULL;
		TSS2_RC rc;

		if (strncmp(blobs[i].name, "the SO", 6) == 0)
			continue; /* a seal does not sign */
		rc = esys_sign_by_policy(&u, &blobs[i].b, &ma, &sig, &ref, &failed);
		tpm_said(rc, failed, TPM2_RC_POLICY_FAIL, "TPM2_Sign",
			 "%s: TPM2_Sign through PolicyCommandCode(Sign) + PolicyAuthorize(MA's signature), "
			 "without the key's auth value (VerifySignature and PolicyAuthorize accept the MA's "
			 "signature; TPM2_Sign must not)", blobs[i].name);
	}
	esys_close(&u);
	for (size_t i = 0; i < n; i++)
		tpm_blob_release(&blobs[i].b);
	domain_file_release(&d);
	EVP_PKEY_free(key);
	return 0;
}
