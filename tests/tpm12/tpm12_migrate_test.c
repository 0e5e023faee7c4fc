/* The TPM 1.2 backend test, continued: migration between units A, B and C of one
 * domain, dictionary-attack lockout, tcsd going away and coming back, and the
 * latency of the backend against the same TSPI calls made directly. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/rsa_pad.h"
#include "tests/tpm/tpm2_test_util.h"
#include "tests/tpm12/tpm12_test.h"
#include "tpm/tpm12_int.h"

static struct tpm_domain dom;
static EVP_PKEY *ma;

static bool make_domain(void)
{
	BIGNUM *n = NULL;
	uint8_t nb[256];
	bool ok;

	ma = soft_rsa();
	ok = ma && EVP_PKEY_get_bn_param(ma, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
	     BN_bn2binpad(n, nb, sizeof(nb)) == 256;
	BN_free(n);
	memset(&dom, 0, sizeof(dom));
	RAND_bytes(dom.id, sizeof(dom.id));
	memcpy(dom.policy_ref, dom.id, sizeof(dom.id));
	dom.ma_type = TPM_KEY_RSA;
	return ok && tpm_domain_encode_ma(nb, sizeof(nb), 65537, TPM_CURVE_NONE, NULL, NULL, &dom) == CKR_OK;
}

/* The MA's approval for moving key (a blob) to dest. */
static bool approve(EVP_PKEY *signer, const struct tpm_unit_identity *dest, const struct tpm_blob *key,
		    uint8_t *sig, size_t *sig_len)
{
	uint8_t msg[64];
	size_t len = sizeof(msg);
	enum hash_alg h = HASH_NONE;

	if (tpm_approval_message(&dom, dest, key, msg, &len, &h) != CKR_OK || len != 60 || h != HASH_SHA1)
		return false;
	*sig_len = 256;
	return soft_sign_sha1(signer, msg, len, sig, sig_len);
}

static bool sign_verifies(struct tpm_backend *tb, const struct tpm_blob *blob, const struct tpm_auth *auth,
			  EVP_PKEY *pk)
{
	struct tpm_key *k = NULL;
	uint8_t digest[32], di[64], sig[256];
	size_t di_len, sig_len = sizeof(sig);
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(HASH_SHA256, &di_len);
	bool ok;

	RAND_bytes(digest, sizeof(digest));
	memcpy(di, prefix, di_len);
	memcpy(di + di_len, digest, 32);
	ok = tb->ops->key_open(tb, blob, auth, &k) == CKR_OK &&
	     tb->ops->rsa_sign_pkcs1(tb, k, di, di_len + 32, sig, &sig_len) == CKR_OK &&
	     verify_pkcs1(pk, HASH_SHA256, digest, sig, sig_len);
	tb->ops->key_close(tb, k);
	return ok;
}

/* The TPM alone, bypassing tpmha: with a valid approval for B (so
 * TPM_CMK_CreateTicket succeeds), TPM_CMK_CreateBlob toward C must fail. */
static void bypass_unapproved(const struct tpm_blob *blob, const struct tpm_unit_identity *ub,
			      const struct tpm_unit_identity *uc, const uint8_t *sig, size_t sig_len)
{
	static const BYTE wk[20] = TSS_WELL_KNOWN_SECRET;
	TSS_UUID srk_uuid = TSS_UUID_SRK;
	TSS_HCONTEXT ctx = 0;
	TSS_HTPM tpm;
	TSS_HKEY srk, key, hma, hc;
	TSS_HPOLICY pol, op;
	TSS_HMIGDATA m;
	struct tpm12_blob b;
	uint8_t msg[64], ma_digest[20];
	size_t len = sizeof(msg);
	UINT32 n = 0;
	BYTE *p = NULL;
	char port[16];
	TSS_RESULT r;

	snprintf(port, sizeof(port), "%u", opt.a);
	setenv("TSS_TCSD_PORT", port, 1);
	if (tpm12_blob_decode(blob->data, blob->len, &b) != CKR_OK ||
	    tpm_approval_message(&dom, ub, blob, msg, &len, NULL) != CKR_OK ||
	    hash_digest(HASH_SHA1, dom.ma_tpm12.data, dom.ma_tpm12.len, ma_digest) != CKR_OK) {
		check(false, "bypass: set up");
		return;
	}
	r = Tspi_Context_Create(&ctx);
	if (!r)
		r = Tspi_Context_Connect(ctx, NULL);
	if (!r)
		r = Tspi_Context_GetTpmObject(ctx, &tpm);
	if (!r)
		r = Tspi_GetPolicyObject(tpm, TSS_POLICY_USAGE, &op);
	if (!r)
		r = Tspi_Policy_SetSecret(op, TSS_SECRET_MODE_SHA1, 20, (BYTE *)wk);
	if (!r)
		r = Tspi_Context_LoadKeyByUUID(ctx, TSS_PS_TYPE_SYSTEM, srk_uuid, &srk);
	if (!r)
		r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_POLICY, TSS_POLICY_USAGE, &pol);
	if (!r)
		r = Tspi_Policy_SetSecret(pol, TSS_SECRET_MODE_SHA1, 20, (BYTE *)wk);
	if (!r)
		r = Tspi_Policy_AssignToObject(pol, srk);
	if (!r)
		r = Tspi_Context_LoadKeyByBlob(ctx, srk, (UINT32)b.key_len, (BYTE *)b.key, &key);
	if (!r)
		r = Tspi_Context_CreateObject(ctx, TSS_OBJECT_TYPE_MIGDATA, 0, &m);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_AUTHORITY_DATA, TSS_MIGATTRIB_AUTHORITY_MSALIST, 20,
				       ma_digest);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_RESTRICT_TICKET, 60,
				       msg);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_SIG_VALUE,
				       (UINT32)sig_len, (BYTE *)sig);
	if (!r)
		r = tpm12_pubkey_object_ctx(ctx, dom.ma_tpm12.data, dom.ma_tpm12.len, &hma);
	if (!check(!r, "bypass: TSPI set up on A (%s)", r ? Trspi_Error_String(r) : "ok"))
		goto out;
	r = Tspi_TPM_CMKCreateTicket(tpm, hma, m);
	if (!check(!r, "bypass: TPM_CMK_CreateTicket with B's approval succeeds (%s)",
		   r ? Trspi_Error_String(r) : "ok"))
		goto out;
	r = tpm12_pubkey_object_ctx(ctx, uc->storage_public.data, 284, &hc);
	if (!r)
		r = Tspi_TPM_AuthorizeMigrationTicket(tpm, hc, TSS_MS_RESTRICT_APPROVE_DOUBLE, &n, &p);
	if (!r)
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_MIGRATIONTICKET, 0, n, p);
	if (!check(!r, "bypass: TPM_AuthorizeMigrationKey for C (owner) succeeds (%s)",
		   r ? Trspi_Error_String(r) : "ok"))
		goto out;
	p = NULL;
	r = Tspi_Key_CMKCreateBlob(key, srk, m, &n, &p);
	check(r != TSS_SUCCESS, "bypass: TPM_CMK_CreateBlob toward C is refused by the TPM: %s "
	      "(%s layer, code 0x%x)", Trspi_Error_String(r), Trspi_Error_Layer(r), ERROR_CODE(r));
out:
	if (ctx) {
		Tspi_Context_FreeMemory(ctx, NULL);
		Tspi_Context_Close(ctx);
	}
}

void test_migration(struct tpm_backend *a)
{
	struct tpm_backend *b = NULL, *c = NULL;
	struct tpm_unit_identity ua = { 0 }, ub = { 0 }, uc = { 0 }, again = { 0 };
	struct tpm_key_spec spec = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true,
				     .decrypt = true, .domain = &dom };
	struct tpm_key_spec local = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true };
	struct tpm_auth auth, wrong;
	struct tpm_blob blob = { 0 }, lblob = { 0 }, dup = { 0 }, bblob = { 0 }, cblob = { 0 },
			dup2 = { 0 }, tmp = { 0 }, name = { 0 }, pin = { 0 }, pdup = { 0 }, pb = { 0 };
	struct tpm_public pub, lpub;
	struct tpm_dec_params pkcs1 = { .scheme = TPM_DEC_PKCS1 };
	uint8_t sig[256], sig_c[256], secret[32], out[64];
	size_t sig_len, sig_c_len, n;
	EVP_PKEY *pk = NULL, *other = NULL;
	CK_RV rv;

	if (!check(make_domain() && dom.ma_tpm12.len == 284, "domain: the MA as a 284-byte TPM_PUBKEY"))
		return;
	if (!check(open_unit(opt.b, unit_store('B'), &b) == CKR_OK &&
		   open_unit(opt.c, unit_store('C'), &c) == CKR_OK, "open units B and C"))
		goto out;
	CHECK_RV(a->ops->unit_identity(a, &ua), CKR_OK, "unit_identity A (creates D and U once)");
	CHECK_RV(b->ops->unit_identity(b, &ub), CKR_OK, "unit_identity B");
	CHECK_RV(c->ops->unit_identity(c, &uc), CKR_OK, "unit_identity C");
	check(ua.tpm_version == 12 && ua.storage_public.len == 568 && ua.name.len == 20,
	      "identity: TPM 1.2, two TPM_PUBKEYs, a SHA-1 name");
	CHECK_RV(a->ops->unit_identity(a, &again), CKR_OK, "unit_identity A again");
	check(again.name.len == 20 && memcmp(again.name.data, ua.name.data, 20) == 0,
	      "the same identity the second time (kept in the store)");
	CHECK_RV(a->ops->storage_key_name(a, &name), CKR_OK, "storage_key_name");
	check(name.len == 20 && memcmp(name.data, ua.name.data, 20) == 0, "it is the identity's name");
	check(memcmp(ua.name.data, ub.name.data, 20) != 0, "A and B have different identities");

	random_auth(&auth, false);
	wrong = auth;
	wrong.value[1] ^= 4;
	CHECK_RV(a->ops->key_generate(a, &spec, &auth, &blob, &pub), CKR_OK,
		 "generate a CMK of the domain on A (TPM_CMK_ApproveMA + TPM_CMK_CreateKey)");
	pk = soft_public(&pub);
	check(sign_verifies(a, &blob, &auth, pk), "the CMK signs on A");
	check(approve(ma, &ub, &blob, sig, &sig_len), "the MA approves B for this key (SHA-1, 60 bytes)");

	/* a key without a domain never leaves */
	CHECK_RV(a->ops->key_generate(a, &local, &auth, &lblob, &lpub), CKR_OK, "a key without a domain");
	check(approve(ma, &ub, &lblob, sig_c, &sig_c_len), "(an approval for it)");
	CHECK_RV(a->ops->key_export(a, &lblob, &dom, &ub, sig_c, sig_c_len, &tmp), CKR_KEY_UNEXTRACTABLE,
		 "export of a non-migratable key: CKR_KEY_UNEXTRACTABLE");

	CHECK_RV(a->ops->key_export(a, &blob, &dom, &ub, sig, sig_len, &dup), CKR_OK, "export A -> B");
	CHECK_RV(b->ops->key_import_duplicate(b, &dom, &dup, &bblob), CKR_OK, "import on B");
	check(sign_verifies(b, &bblob, &auth, pk), "sign on B verifies with the original public key");
	{
		struct tpm_key *k = NULL;
		uint8_t msg[24], ct[256], pt[256];
		size_t ct_len = sizeof(ct), pt_len = sizeof(pt);

		RAND_bytes(msg, sizeof(msg));
		check(encrypt_pkcs1(pk, msg, sizeof(msg), ct, &ct_len) &&
		      b->ops->key_open(b, &bblob, &auth, &k) == CKR_OK &&
		      b->ops->rsa_decrypt(b, k, &pkcs1, ct, ct_len, pt, &pt_len) == CKR_OK &&
		      pt_len == sizeof(msg) && memcmp(pt, msg, pt_len) == 0,
		      "decrypt on B (PKCS#1 v1.5)");
		b->ops->key_close(b, k);
	}

	/* what must be refused */
	rv = a->ops->key_export(a, &blob, &dom, &uc, sig, sig_len, &tmp);
	CHECK_RV(rv, CKR_KEY_NOT_WRAPPABLE, "export to C with B's approval: refused by the TPM");
	log_show("refused to export");
	other = soft_rsa();
	check(approve(other, &uc, &blob, sig_c, &sig_c_len), "(an approval for C signed by another key)");
	CHECK_RV(a->ops->key_export(a, &blob, &dom, &uc, sig_c, sig_c_len, &tmp), CKR_KEY_NOT_WRAPPABLE,
		 "export with an approval not signed by the MA: refused by the TPM");
	log_show("refused to export");
	CHECK_RV(c->ops->key_import_duplicate(c, &dom, &dup, &cblob), CKR_WRAPPED_KEY_INVALID,
		 "B's duplicate imported on C: refused");
	log_show("made for unit");
	/* the same, past our own check: the TPM refuses it too */
	tpm_blob_copy(&tmp, dup.data, dup.len);
	memcpy(tmp.data + 2 + 16 + 20, uc.name.data, 20);
	CHECK_RV(c->ops->key_import_duplicate(c, &dom, &tmp, &cblob), CKR_WRAPPED_KEY_INVALID,
		 "B's duplicate relabelled for C: refused by C's TPM");
	log_show("importing a key duplicate");
	tpm_blob_release(&tmp);
	bypass_unapproved(&blob, &ub, &uc, sig, sig_len);

	/* onward B -> C */
	check(approve(ma, &uc, &bblob, sig_c, &sig_c_len), "the MA approves C for the key (as on B)");
	CHECK_RV(b->ops->key_export(b, &bblob, &dom, &uc, sig_c, sig_c_len, &dup2), CKR_OK, "export B -> C");
	/* the export reads the key from its blob without loading it: a blob of another TPM
	 * must still be refused, and said so */
	CHECK_RV(a->ops->key_export(a, &bblob, &dom, &uc, sig_c, sig_c_len, &tmp), CKR_DEVICE_ERROR,
		 "B's key blob exported on A: refused, A's TPM cannot open it");
	check(log_has("cannot open the key to export"), "the log says the key is not this TPM's");
	log_show("cannot open the key to export");
	CHECK_RV(c->ops->key_import_duplicate(c, &dom, &dup2, &cblob), CKR_OK, "import on C");
	check(sign_verifies(c, &cblob, &auth, pk), "sign on C verifies with the original public key");

	/* a PIN object of the domain moves like a key */
	RAND_bytes(secret, sizeof(secret));
	CHECK_RV(a->ops->seal_create(a, secret, sizeof(secret), &auth, &dom, &pin), CKR_OK,
		 "domain PIN object on A (a CMK bind key + bound secret)");
	check(approve(ma, &ub, &pin, sig_c, &sig_c_len), "the MA approves B for the PIN object");
	CHECK_RV(a->ops->key_export(a, &pin, &dom, &ub, sig_c, sig_c_len, &pdup), CKR_OK,
		 "export the PIN object A -> B");
	CHECK_RV(b->ops->key_import_duplicate(b, &dom, &pdup, &pb), CKR_OK, "import it on B");
	n = sizeof(out);
	CHECK_RV(b->ops->seal_open(b, &pb, &auth, out, &n), CKR_OK, "open it on B with the PIN");
	check(n == sizeof(secret) && memcmp(out, secret, n) == 0, "the secret comes back on B");
	n = sizeof(out);
	CHECK_RV(b->ops->seal_open(b, &pb, &wrong, out, &n), CKR_PIN_INCORRECT, "a wrong PIN on B");

	/* wrapped secrets */
	CHECK_RV(a->ops->secret_wrap(a, &ub, secret, sizeof(secret), &tmp), CKR_OK, "secret_wrap for B");
	n = sizeof(out);
	CHECK_RV(b->ops->secret_unwrap(b, &tmp, out, &n), CKR_OK, "secret_unwrap on B");
	check(n == sizeof(secret) && memcmp(out, secret, n) == 0, "the secret comes back");
	n = sizeof(out);
	CHECK_RV(c->ops->secret_unwrap(c, &tmp, out, &n), CKR_WRAPPED_KEY_INVALID, "not on C");
	tmp.data[100] ^= 1;
	n = sizeof(out);
	CHECK_RV(b->ops->secret_unwrap(b, &tmp, out, &n), CKR_WRAPPED_KEY_INVALID,
		 "a flipped byte: refused on B");
	tpm_blob_release(&tmp);

	/* every byte of one duplicate flipped: each import refused */
	{
		unsigned accepted = 0;
		double t0 = now_ms();

		for (size_t i = 0; i < dup.len; i++) {
			struct tpm_blob got = { 0 };

			dup.data[i] ^= 0x5a;
			rv = b->ops->key_import_duplicate(b, &dom, &dup, &got);
			dup.data[i] ^= 0x5a;
			if (rv == CKR_OK) {
				accepted++;
				diag("flipping byte %zu was accepted", i);
			}
			tpm_blob_release(&got);
		}
		check(accepted == 0, "every one of the %zu bytes of a duplicate flipped: all refused "
		      "(%.1f s)", dup.len, (now_ms() - t0) / 1e3);
	}
	if (opt.bench) {
		enum { KEYS = 8 };
		double te[KEYS], ti[KEYS];
		bool ok = true;

		for (int i = 0; i < KEYS; i++) {
			struct tpm_blob kb = { 0 }, kd = { 0 }, ki = { 0 };
			struct tpm_public kp;
			double t0;

			ok &= a->ops->key_generate(a, &spec, &auth, &kb, &kp) == CKR_OK &&
			      approve(ma, &ub, &kb, sig_c, &sig_c_len);
			t0 = now_ms();
			ok &= a->ops->key_export(a, &kb, &dom, &ub, sig_c, sig_c_len, &kd) == CKR_OK;
			te[i] = now_ms() - t0;
			t0 = now_ms();
			ok &= b->ops->key_import_duplicate(b, &dom, &kd, &ki) == CKR_OK;
			ti[i] = now_ms() - t0;
			tpm_blob_release(&kb);
			tpm_blob_release(&kd);
			tpm_blob_release(&ki);
		}
		check(ok, "bench: %d keys exported A -> B and imported", KEYS);
		diag("per key, median of %d: export (CMKCreateTicket + AuthorizeMigrationKey + "
		     "CMKCreateBlob) %.1f ms, import (CMKCreateTicket + CMKConvertMigration + test load) "
		     "%.1f ms", KEYS, median(te, KEYS), median(ti, KEYS));
	}
out:
	EVP_PKEY_free(pk);
	EVP_PKEY_free(other);
	tpm_unit_identity_release(&ua);
	tpm_unit_identity_release(&ub);
	tpm_unit_identity_release(&uc);
	tpm_unit_identity_release(&again);
	tpm_blob_release(&blob);
	tpm_blob_release(&lblob);
	tpm_blob_release(&dup);
	tpm_blob_release(&dup2);
	tpm_blob_release(&bblob);
	tpm_blob_release(&cblob);
	tpm_blob_release(&name);
	tpm_blob_release(&pin);
	tpm_blob_release(&pdup);
	tpm_blob_release(&pb);
	if (b)
		b->ops->close(b);
	if (c)
		c->ops->close(c);
}

void test_lockout(void)
{
	struct tpm_backend *l = NULL;
	struct tpm_auth good, bad;
	struct tpm_blob sealed = { 0 };
	struct tpm_da_state da;
	uint8_t secret[16] = { 1 }, out[64];
	size_t n;
	int i, locked_at = 0;
	CK_RV rv = CKR_OK;

	if (!check(open_unit(opt.lock, unit_store('L'), &l) == CKR_OK, "open the lockout unit"))
		return;
	random_auth(&good, false);
	bad = good;
	bad.value[0] ^= 1;
	CHECK_RV(l->ops->seal_create(l, secret, sizeof(secret), &good, NULL, &sealed), CKR_OK, "seal");
	for (i = 1; i <= 60; i++) {
		n = sizeof(out);
		rv = l->ops->seal_open(l, &sealed, &bad, out, &n);
		if (rv == CKR_PIN_LOCKED) {
			locked_at = i;
			break;
		}
		if (rv != CKR_PIN_INCORRECT)
			break;
	}
	if (l->ops->get_da_state(l, &da) == CKR_OK)
		diag("DA state after %d wrong PINs: %u failed tries of %u, %u s to wait, locked %d", i,
		     da.failed_tries, da.max_tries, da.recovery_seconds, da.locked);
	if (check(locked_at > 0, "the TPM locks out after %d wrong PINs (CKR_PIN_LOCKED, last 0x%lx)",
		  locked_at, rv)) {
		n = sizeof(out);
		CHECK_RV(l->ops->seal_open(l, &sealed, &good, out, &n), CKR_PIN_LOCKED,
			 "during the lockout even the right PIN is refused");
		if (l->ops->get_da_state(l, &da) == CKR_OK) {
			check(da.locked, "get_da_state says locked");
			/* max_tries means "locked at this count" for both TPM versions,
			 * which is what CKF_USER_PIN_FINAL_TRY/LOCKED are computed from */
			check(da.max_tries && da.max_tries == (uint32_t)(locked_at - 1),
			      "get_da_state: the lockout came with failure max_tries (%u), the "
			      "first refusal after it", da.max_tries);
		}
		log_show("dictionary-attack lockout");
	}
	tpm_blob_release(&sealed);
	l->ops->close(l);
}

void test_tcsd_restart(struct tpm_backend *a)
{
	struct tpm_key_spec spec = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true };
	struct tpm_auth auth;
	struct tpm_blob blob = { 0 };
	struct tpm_public pub;
	struct tpm_backend *x = NULL;
	EVP_PKEY *pk;
	char needle[64];
	uint8_t rnd[16];

	random_auth(&auth, false);
	if (!CHECK_RV(a->ops->key_generate(a, &spec, &auth, &blob, &pub), CKR_OK, "a key for the restart"))
		return;
	pk = soft_public(&pub);
	check(sign_verifies(a, &blob, &auth, pk), "it signs");

	/* tcsd restarted between two calls */
	check(system(opt.stop_a) == 0 && system(opt.start_a) == 0, "restart A's tcsd");
	check(!sign_verifies(a, &blob, &auth, pk), "the first call after the restart fails");
	snprintf(needle, sizeof(needle), "tcsd at 127.0.0.1:%u failed", opt.a);
	check(log_has(needle), "with a log line naming the tcsd (\"%s\")", needle);
	check(sign_verifies(a, &blob, &auth, pk), "the next call reconnects, reloads the key and signs");

	/* tcsd not running */
	check(system(opt.stop_a) == 0, "stop A's tcsd");
	CHECK_RV(a->ops->random(a, rnd, sizeof(rnd)), CKR_DEVICE_ERROR, "a call while it is down: CKR_DEVICE_ERROR");
	CHECK_RV(open_unit(opt.a, unit_store('A'), &x), CKR_DEVICE_ERROR,
		 "opening a backend while tcsd is down: CKR_DEVICE_ERROR");
	snprintf(needle, sizeof(needle), "cannot reach tcsd at 127.0.0.1:%u", opt.a);
	check(log_has(needle), "with a log line naming the tcsd (\"%s\")", needle);
	log_show("cannot reach tcsd");
	check(system(opt.start_a) == 0, "start A's tcsd again");
	check(sign_verifies(a, &blob, &auth, pk), "the open backend recovers at the next call");
	CHECK_RV(open_unit(opt.a, unit_store('A'), &x), CKR_OK, "and a new one opens");
	if (x)
		x->ops->close(x);
	EVP_PKEY_free(pk);
	tpm_blob_release(&blob);
}
