/* Migration on TPM 2.0 against three real (emulated) TPMs A, B and C, with
 * migration authorities (MA, RSA-2048 and P-256) made by OpenSSL in the test.
 * Emits TAP. Run by tests/tpm/tpm2-migrate.sh:
 *
 *   tpm2_migrate_test --a TCTI --b TCTI --c TCTI --log FILE [--bench N]
 *
 * What it shows:
 * - unit identities are stable across opens; MA encodings and approval messages;
 * - domain keys (RSA-2048, P-256, under either MA) go A -> B with B's approval and
 *   sign and decrypt there like the original; onward B -> C with C's approval;
 * - without an approval for C the TPM refuses (the log line and the TPM's code are
 *   checked); B's duplicate does not import on C; a duplicate of another domain is
 *   refused before the TPM; keys and seals without a domain never leave;
 * - domain PIN seals move and open with the same auth value; secret_wrap for B
 *   opens on B only (and for an RSA storage key, through ESYS);
 * - every byte of one RSA and one P-256 duplicate, flipped two ways, and every
 *   truncation: CKR_WRAPPED_KEY_INVALID, no crash;
 * - through ESYS, tpmha bypassed: the TPM alone refuses TPM2_Duplicate to C with
 *   B's approved session, or without any approval, and refuses TPM2_Sign through
 *   an MA-approved TPM2_Sign policy (the trailing PolicyCommandCode(Duplicate)).
 *
 * The backend logs to FILE; each refusal is checked for the line that explains it
 * (shown as TAP comments). --bench N times N exports and imports per key and MA
 * type against the same commands through ESYS (tpm2_migrate_esys.c). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/rsa_pad.h"
#include "tpm/backend.h"
#include "tpm/tpm2_int.h"
#include "tests/tpm/tpm2_migrate_esys.h"
#include "tests/tpm/tpm2_test_util.h"

static const struct tpm_backend_ops *ops = &tpm2_backend_ops;

enum { A, B, C, NUNITS };
static const char *unit_names = "ABC";
static const char *tcti[NUNITS];
static struct tpm_backend *tb[NUNITS];
static struct tpm_unit_identity id[NUNITS];

/* --- the backend's log --- */

static const char *log_path;
static long log_pos;

static void log_mark(void)
{
	FILE *f = fopen(log_path, "r");

	log_pos = 0;
	if (f && fseek(f, 0, SEEK_END) == 0)
		log_pos = ftell(f);
	if (f)
		fclose(f);
}

/* Did the backend log needle (and needle2, if given) since the mark? Shows what it
 * logged, and marks again. */
static bool log_says(const char *needle, const char *needle2)
{
	char line[2048];
	bool found = false, found2 = !needle2;
	FILE *f = fopen(log_path, "r");

	if (!f)
		return false;
	fseek(f, log_pos, SEEK_SET);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		diag("  log: %s", line);
		found |= strstr(line, needle) != NULL;
		found2 |= needle2 && strstr(line, needle2) != NULL;
	}
	fclose(f);
	log_mark();
	return found && found2;
}

/* Lines logged since the mark that contain needle (marks again, shows nothing). */
static size_t log_count(const char *needle)
{
	char line[2048];
	size_t n = 0;
	FILE *f = fopen(log_path, "r");

	if (!f)
		return 0;
	fseek(f, log_pos, SEEK_SET);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	log_mark();
	return n;
}

/* --- migration authorities and domains --- */

struct ma {
	const char *name;
	EVP_PKEY *pkey;
	struct tpm_domain d;
};

static bool bn_get(EVP_PKEY *k, const char *param, uint8_t *out, size_t len)
{
	BIGNUM *bn = NULL;
	bool ok = EVP_PKEY_get_bn_param(k, param, &bn) == 1 && BN_bn2binpad(bn, out, (int)len) >= 0;

	BN_free(bn);
	return ok;
}

static CK_RV encode_ma(EVP_PKEY *k, struct tpm_domain *d)
{
	uint8_t n[256], x[32], y[32];

	if (EVP_PKEY_is_a(k, "RSA"))
		return bn_get(k, OSSL_PKEY_PARAM_RSA_N, n, sizeof(n)) ?
			       tpm_domain_encode_ma(n, sizeof(n), 65537, TPM_CURVE_NONE, NULL, NULL, d) :
			       CKR_GENERAL_ERROR;
	return bn_get(k, OSSL_PKEY_PARAM_EC_PUB_X, x, 32) && bn_get(k, OSSL_PKEY_PARAM_EC_PUB_Y, y, 32) ?
		       tpm_domain_encode_ma(NULL, 0, 0, TPM_CURVE_P256, x, y, d) :
		       CKR_GENERAL_ERROR;
}

static bool ma_make(struct ma *m, const char *name, bool rsa)
{
	m->name = name;
	m->pkey = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
		      : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	memset(&m->d, 0, sizeof(m->d));
	RAND_bytes(m->d.id, sizeof(m->d.id));
	memcpy(m->d.policy_ref, m->d.id, sizeof(m->d.policy_ref));
	return m->pkey && CHECK_RV(encode_ma(m->pkey, &m->d), CKR_OK, "%s: domain encoding of the MA key",
				   name);
}

/* The MA's signature over the approval message of unit u: RSA PKCS#1 v1.5 or
 * ECDSA r || s, SHA-256. */
static size_t ma_sign_msg(struct ma *m, const uint8_t *msg, size_t msg_len, uint8_t *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[512];
	size_t der_len = sizeof(der), n = 0;

	if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, m->pkey) == 1 &&
	    EVP_DigestSign(ctx, der, &der_len, msg, msg_len) == 1) {
		if (EVP_PKEY_is_a(m->pkey, "RSA")) {
			memcpy(sig, der, der_len);
			n = der_len;
		} else {
			const unsigned char *p = der;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);

			if (es && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
			    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32)
				n = 64;
			ECDSA_SIG_free(es);
		}
	}
	EVP_MD_CTX_free(ctx);
	return n;
}

struct approval {
	uint8_t sig[512];
	size_t len;
};

static bool approve(struct ma *m, int u, struct approval *a)
{
	uint8_t msg[128];
	size_t msg_len = sizeof(msg);
	enum hash_alg h = HASH_NONE;

	a->len = 0;
	if (tpm_approval_message(&m->d, &id[u], NULL, msg, &msg_len, &h) != CKR_OK || h != HASH_SHA256)
		return false;
	a->len = ma_sign_msg(m, msg, msg_len, a->sig);
	return a->len > 0;
}

/* --- keys --- */

struct tkey {
	char name[64];
	struct tpm_blob blob;
	struct tpm_public pub;
	struct tpm_auth auth;
	EVP_PKEY *soft;
};

static void tkey_free(struct tkey *k)
{
	tpm_blob_release(&k->blob);
	EVP_PKEY_free(k->soft);
	k->soft = NULL;
}

static bool tkey_generate(struct tkey *k, int u, enum tpm_key_type type, const struct tpm_domain *d,
			  const char *name)
{
	struct tpm_key_spec spec = { .type = type, .rsa_bits = 2048, .curve = TPM_CURVE_P256,
				     .sign = true, .decrypt = type == TPM_KEY_RSA, .domain = d };

	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	random_auth(&k->auth, false);
	if (!CHECK_RV(ops->key_generate(tb[u], &spec, &k->auth, &k->blob, &k->pub), CKR_OK,
		      "%s: generated on %c", name, unit_names[u]))
		return false;
	k->soft = soft_public(&k->pub);
	return k->soft != NULL;
}

/* The blob on unit u is the key k: same public key, and it signs (and decrypts) with
 * the same auth value. */
static void key_works(int u, const struct tpm_blob *blob, const struct tkey *k, const char *what)
{
	struct tpm_public pub;
	struct tpm_key *key = NULL;
	uint8_t digest[32], sig[512], ct[256], out[256], msg[32];
	size_t sig_len = sizeof(sig), ct_len = sizeof(ct), out_len = sizeof(out);

	check(ops->key_public(tb[u], blob, &pub) == CKR_OK && memcmp(&pub, &k->pub, sizeof(pub)) == 0,
	      "%s: %s on %c has the original's public key", k->name, what, unit_names[u]);
	if (!CHECK_RV(ops->key_open(tb[u], blob, &k->auth, &key), CKR_OK, "%s: %s: key_open on %c",
		      k->name, what, unit_names[u]))
		return;
	RAND_bytes(digest, sizeof(digest));
	RAND_bytes(msg, sizeof(msg));
	if (k->pub.type == TPM_KEY_RSA) {
		size_t plen;
		const uint8_t *prefix = rsa_pad_digestinfo_prefix(HASH_SHA256, &plen);
		uint8_t di[64];
		struct tpm_dec_params dp = { .scheme = TPM_DEC_OAEP, .hash = HASH_SHA256,
					     .mgf_hash = HASH_SHA256 };

		memcpy(di, prefix, plen);
		memcpy(di + plen, digest, 32);
		check(ops->rsa_sign_pkcs1(tb[u], key, di, plen + 32, sig, &sig_len) == CKR_OK &&
			      verify_pkcs1(k->soft, HASH_SHA256, digest, sig, sig_len),
		      "%s: %s on %c signs; OpenSSL verifies with the original's public key", k->name,
		      what, unit_names[u]);
		check(encrypt_oaep(k->soft, HASH_SHA256, HASH_SHA256, NULL, 0, msg, sizeof(msg), ct,
				   &ct_len) &&
			      ops->rsa_decrypt(tb[u], key, &dp, ct, ct_len, out, &out_len) == CKR_OK &&
			      out_len == sizeof(msg) && memcmp(out, msg, sizeof(msg)) == 0,
		      "%s: %s on %c decrypts what OpenSSL encrypted to the original", k->name, what,
		      unit_names[u]);
	} else {
		check(ops->ecdsa_sign(tb[u], key, digest, sizeof(digest), sig, &sig_len) == CKR_OK &&
			      verify_ecdsa(k->soft, digest, sizeof(digest), sig, sig_len),
		      "%s: %s on %c signs; OpenSSL verifies with the original's public key", k->name,
		      what, unit_names[u]);
	}
	ops->key_close(tb[u], key);
}

static CK_RV export_to(int from, const struct tpm_blob *blob, const struct ma *m, int to,
		       const struct approval *a, struct tpm_blob *out)
{
	return ops->key_export(tb[from], blob, &m->d, &id[to], a->sig, a->len, out);
}

/* --- groups of tests --- */

static bool open_all(void)
{
	bool ok = true;

	for (int u = 0; u < NUNITS; u++)
		ok &= CHECK_RV(open_tpm(tcti[u], &tb[u]), CKR_OK, "open %c", unit_names[u]);
	return ok;
}

static void close_unit(int u)
{
	ops->close(tb[u]);
	tb[u] = NULL;
}

static void test_identities(void)
{
	for (int u = 0; u < NUNITS; u++) {
		struct tpm_unit_identity again;
		struct tpm_blob name = { 0 };

		if (!CHECK_RV(ops->unit_identity(tb[u], &id[u]), CKR_OK, "unit_identity of %c",
			      unit_names[u]))
			continue;
		check(id[u].tpm_version == 20 && ops->storage_key_name(tb[u], &name) == CKR_OK &&
			      name.len == id[u].name.len &&
			      memcmp(name.data, id[u].name.data, name.len) == 0,
		      "%c: version 20, the name is storage_key_name()'s", unit_names[u]);
		tpm_blob_release(&name);
		close_unit(u);
		if (!CHECK_RV(open_tpm(tcti[u], &tb[u]), CKR_OK, "reopen %c", unit_names[u]))
			continue;
		if (CHECK_RV(ops->unit_identity(tb[u], &again), CKR_OK, "unit_identity of %c again",
			     unit_names[u]))
			check(again.storage_public.len == id[u].storage_public.len &&
				      memcmp(again.storage_public.data, id[u].storage_public.data,
					     again.storage_public.len) == 0 &&
				      again.name.len == id[u].name.len &&
				      memcmp(again.name.data, id[u].name.data, again.name.len) == 0,
			      "%c: the same identity after reopening", unit_names[u]);
		tpm_unit_identity_release(&again);
	}
	check(id[A].name.len && id[A].name.len == id[B].name.len &&
		      memcmp(id[A].name.data, id[B].name.data, id[A].name.len) != 0 &&
		      memcmp(id[B].name.data, id[C].name.data, id[B].name.len) != 0,
	      "A, B and C have distinct identities");
}

static void test_domains(struct ma *rsa, struct ma *ec)
{
	struct tpm_domain again = { 0 };
	uint8_t m1[64], m2[64];
	size_t l1 = sizeof(m1), l2 = sizeof(m2);

	/* a TPM 1.2 unit can join an RSA-2048 domain only: its TPM_PUBKEY holds the
	 * 256-byte modulus; an EC MA has no TPM 1.2 encoding at all */
	check(rsa->d.ma_type == TPM_KEY_RSA && ec->d.ma_type == TPM_KEY_EC &&
		      rsa->d.ma_tpm12.len > 256 && !ec->d.ma_tpm12.len,
	      "domains: MA types RSA and EC, a TPM 1.2 encoding for the RSA-2048 MA only");
	check(encode_ma(rsa->pkey, &again) == CKR_OK && again.ma_tpm2.len == rsa->d.ma_tpm2.len &&
		      memcmp(again.ma_tpm2.data, rsa->d.ma_tpm2.data, again.ma_tpm2.len) == 0 &&
		      again.ma_tpm12.len == rsa->d.ma_tpm12.len &&
		      memcmp(again.ma_tpm12.data, rsa->d.ma_tpm12.data, again.ma_tpm12.len) == 0,
	      "domains: the same MA key encodes to the same bytes");
	tpm_blob_release(&again.ma_tpm2);
	tpm_blob_release(&again.ma_tpm12);
	check(tpm_approval_message(&rsa->d, &id[B], NULL, m1, &l1, NULL) == CKR_OK &&
		      tpm_approval_message(&rsa->d, &id[C], NULL, m2, &l2, NULL) == CKR_OK && l1 == 48 &&
		      l2 == 48 && memcmp(m1, m2, 48) != 0,
	      "approval messages: 48 bytes, one per destination");
}

/* A key of domain m generated on A, moved to B, refused for C, moved on to C. */
static void test_migration(struct ma *m, enum tpm_key_type type)
{
	struct tkey k;
	struct approval ab, ac;
	struct tpm_blob dup_b = { 0 }, on_b = { 0 }, dup_c = { 0 }, on_c = { 0 }, junk = { 0 };
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	char name[64];

	snprintf(name, sizeof(name), "%s key, %s", type == TPM_KEY_RSA ? "RSA-2048" : "P-256", m->name);
	if (!check(approve(m, B, &ab) && approve(m, C, &ac), "%s: approvals for B and C signed", name) ||
	    !tkey_generate(&k, A, type, &m->d, name))
		return;
	tpm2_blob_decode(k.blob.data, k.blob.len, &pub, &priv);
	check(!(pub.publicArea.objectAttributes & (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT)) &&
		      (pub.publicArea.objectAttributes & TPMA_OBJECT_ENCRYPTEDDUPLICATION) &&
		      pub.publicArea.authPolicy.size == 32,
	      "%s: duplicable only with both wrappers, under the domain policy", name);

	if (CHECK_RV(export_to(A, &k.blob, m, B, &ab, &dup_b), CKR_OK, "%s: export A -> B", name) &&
	    CHECK_RV(ops->key_import_duplicate(tb[B], &m->d, &dup_b, &on_b), CKR_OK,
		     "%s: import on B", name))
		key_works(B, &on_b, &k, "the copy");
	key_works(A, &k.blob, &k, "the original");

	/* C has no approval: B's approval does not verify for C's approval message */
	log_mark();
	CHECK_RV(export_to(A, &k.blob, m, C, &ab, &junk), CKR_KEY_NOT_WRAPPABLE,
		 "%s: export A -> C with B's approval: CKR_KEY_NOT_WRAPPABLE", name);
	check(log_says("has not approved unit", "TPM2_VerifySignature"),
	      "%s: the log says the TPM refused: the MA has not approved C", name);
	tpm_blob_release(&junk);
	log_mark();
	CHECK_RV(export_to(A, &k.blob, m, C, &ac, &junk), CKR_OK, "%s: (control) with C's own approval",
		 name);
	tpm_blob_release(&junk);

	/* B's duplicate at C */
	if (dup_b.len) {
		log_mark();
		CHECK_RV(ops->key_import_duplicate(tb[C], &m->d, &dup_b, &junk), CKR_WRAPPED_KEY_INVALID,
			 "%s: B's duplicate imported on C: CKR_WRAPPED_KEY_INVALID", name);
		check(log_says("made for another unit", "TPM2_Import"),
		      "%s: the log says the TPM found it made for another unit", name);
		tpm_blob_release(&junk);
	}
	/* onward: B -> C */
	if (on_b.len &&
	    CHECK_RV(export_to(B, &on_b, m, C, &ac, &dup_c), CKR_OK, "%s: export B -> C (onward)", name) &&
	    CHECK_RV(ops->key_import_duplicate(tb[C], &m->d, &dup_c, &on_c), CKR_OK, "%s: import on C",
		     name))
		key_works(C, &on_c, &k, "the copy of the copy");
	tpm_blob_release(&dup_b);
	tpm_blob_release(&on_b);
	tpm_blob_release(&dup_c);
	tpm_blob_release(&on_c);
	tkey_free(&k);
}

/* A PIN seal of a domain goes A -> B and opens there with the same auth value. */
static void test_seal(struct ma *m)
{
	struct approval ab;
	struct tpm_auth auth;
	struct tpm_blob sealed = { 0 }, dup = { 0 }, on_b = { 0 }, junk = { 0 };
	uint8_t secret[48], out[64];
	size_t out_len = sizeof(out);

	random_auth(&auth, false);
	RAND_bytes(secret, sizeof(secret));
	if (!approve(m, B, &ab) ||
	    !CHECK_RV(ops->seal_create(tb[A], secret, sizeof(secret), &auth, &m->d, &sealed), CKR_OK,
		      "seal of domain %s made on A", m->name))
		return;
	if (CHECK_RV(export_to(A, &sealed, m, B, &ab, &dup), CKR_OK, "seal: export A -> B") &&
	    CHECK_RV(ops->key_import_duplicate(tb[B], &m->d, &dup, &on_b), CKR_OK, "seal: import on B") &&
	    CHECK_RV(ops->seal_open(tb[B], &on_b, &auth, out, &out_len), CKR_OK,
		     "seal: seal_open on B with the same auth value"))
		check(out_len == sizeof(secret) && memcmp(out, secret, sizeof(secret)) == 0,
		      "seal: B opens the same secret");
	out_len = sizeof(out);
	check(ops->seal_open(tb[A], &sealed, &auth, out, &out_len) == CKR_OK && out_len == sizeof(secret) &&
		      memcmp(out, secret, sizeof(secret)) == 0,
	      "seal: A still opens its own");
	/* a PIN seal without a domain never leaves */
	tpm_blob_release(&sealed);
	if (ops->seal_create(tb[A], secret, 8, &auth, NULL, &sealed) == CKR_OK) {
		log_mark();
		CHECK_RV(export_to(A, &sealed, m, B, &ab, &junk), CKR_KEY_UNEXTRACTABLE,
			 "seal without a domain: export is CKR_KEY_UNEXTRACTABLE");
		log_says("", NULL);
	}
	tpm_blob_release(&sealed);
	tpm_blob_release(&dup);
	tpm_blob_release(&on_b);
}

static void test_secrets(void)
{
	uint8_t secret[33], out[64];
	struct tpm_blob w = { 0 };
	size_t out_len;
	static const size_t lens[] = { 32, 1, 0 };

	RAND_bytes(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];

		if (!CHECK_RV(ops->secret_wrap(tb[A], &id[B], secret, n, &w), CKR_OK,
			      "secret_wrap of %zu bytes for B (on A)", n))
			continue;
		out_len = sizeof(out);
		if (CHECK_RV(ops->secret_unwrap(tb[B], &w, out, &out_len), CKR_OK,
			     "secret_unwrap of %zu bytes on B", n))
			check(out_len == n && memcmp(out, secret, n) == 0, "B recovers the %zu bytes", n);
		if (n == 32) {
			out_len = sizeof(out);
			log_mark();
			CHECK_RV(ops->secret_unwrap(tb[C], &w, out, &out_len), CKR_WRAPPED_KEY_INVALID,
				 "secret_unwrap of B's secret on C: CKR_WRAPPED_KEY_INVALID");
			check(log_says("made for another unit", "TPM2_Import"),
			      "the log says the TPM found it made for another unit");
			out_len = 4;
			CHECK_RV(ops->secret_unwrap(tb[B], &w, out, &out_len), CKR_BUFFER_TOO_SMALL,
				 "secret_unwrap into 4 bytes: CKR_BUFFER_TOO_SMALL");
			check(out_len == 32, "... and the length needed");
			/* every byte flipped */
			{
				bool all = true;

				for (size_t off = 0; off < w.len; off++) {
					w.data[off] ^= 0x01;
					out_len = sizeof(out);
					all &= ops->secret_unwrap(tb[B], &w, out, &out_len) ==
					       CKR_WRAPPED_KEY_INVALID;
					w.data[off] ^= 0x01;
				}
				check(all, "each of the %zu bytes of a wrapped secret flipped: refused", w.len);
				log_mark();
			}
		}
		tpm_blob_release(&w);
	}
	CHECK_RV(ops->secret_wrap(tb[A], &id[B], secret, 33, &w), CKR_ARGUMENTS_BAD,
		 "secret_wrap of 33 bytes: CKR_ARGUMENTS_BAD");
}

/* Every single byte of one duplicate flipped (two ways), and truncations: each is
 * CKR_WRAPPED_KEY_INVALID, and nothing crashes. */
static void test_flips(struct ma *m, enum tpm_key_type type)
{
	struct tkey k;
	struct approval ab;
	struct tpm_blob dup = { 0 }, out = { 0 };
	size_t bad = 0, tpm_saw = 0, tried = 0;
	const char *name = type == TPM_KEY_RSA ? "RSA-2048 duplicate" : "P-256 duplicate";
	static const uint8_t masks[] = { 0x01, 0xff };

	if (!approve(m, B, &ab) || !tkey_generate(&k, A, type, &m->d, name) ||
	    !CHECK_RV(export_to(A, &k.blob, m, B, &ab, &dup), CKR_OK, "%s: made for B", name))
		goto out;
	log_mark();
	for (size_t mi = 0; mi < sizeof(masks); mi++) {
		for (size_t off = 0; off < dup.len; off++) {
			CK_RV rv;

			dup.data[off] ^= masks[mi];
			rv = ops->key_import_duplicate(tb[B], &m->d, &dup, &out);
			dup.data[off] ^= masks[mi];
			tried++;
			if (rv != CKR_WRAPPED_KEY_INVALID) {
				bad++;
				diag("offset %zu ^ 0x%02x: 0x%lx", off, masks[mi], rv);
			}
			tpm_blob_release(&out);
		}
	}
	tpm_saw = log_count("TPM2_Import");
	check(bad == 0, "%s: each of its %zu bytes flipped (^0x01, ^0xff): %zu of %zu refused with "
	      "CKR_WRAPPED_KEY_INVALID, %zu of them by the TPM", name, dup.len, tried - bad, tried,
	      tpm_saw);
	bad = 0;
	for (size_t n = 0; n < dup.len; n++) {
		struct tpm_blob t = { .data = dup.data, .len = n };

		bad += ops->key_import_duplicate(tb[B], &m->d, &t, &out) != CKR_WRAPPED_KEY_INVALID;
		tpm_blob_release(&out);
	}
	log_mark();
	check(bad == 0, "%s: every truncation refused", name);
	CHECK_RV(ops->key_import_duplicate(tb[B], &m->d, &dup, &out), CKR_OK,
		 "%s: the unflipped duplicate still imports", name);
	tpm_blob_release(&out);
out:
	tpm_blob_release(&dup);
	tkey_free(&k);
}

/* Keys that must not move, and duplicates that must not come in. */
static void test_refusals(struct ma *m, struct ma *other)
{
	struct tkey plain, k;
	struct approval ab, other_ab;
	struct tpm_blob dup = { 0 }, junk = { 0 };

	if (!approve(m, B, &ab) || !approve(other, B, &other_ab))
		return;
	if (tkey_generate(&plain, A, TPM_KEY_EC, NULL, "key without a domain")) {
		log_mark();
		CHECK_RV(export_to(A, &plain.blob, m, B, &ab, &junk), CKR_KEY_UNEXTRACTABLE,
			 "a key without a domain (fixedTPM): export is CKR_KEY_UNEXTRACTABLE");
		check(log_says("without a migration domain", NULL), "the log says why");
		tpm_blob_release(&junk);
	}
	tkey_free(&plain);
	if (!tkey_generate(&k, A, TPM_KEY_EC, &other->d, "key of another domain"))
		return;
	log_mark();
	CHECK_RV(export_to(A, &k.blob, m, B, &ab, &junk), CKR_KEY_NOT_WRAPPABLE,
		 "exporting it as a key of this domain: CKR_KEY_NOT_WRAPPABLE");
	check(log_says("another migration domain", NULL), "the log says why");
	tpm_blob_release(&junk);
	/* its genuine duplicate, offered to a unit of this domain */
	if (CHECK_RV(ops->key_export(tb[A], &k.blob, &other->d, &id[B], other_ab.sig, other_ab.len, &dup),
		     CKR_OK, "a duplicate for B in the other domain")) {
		log_mark();
		CHECK_RV(ops->key_import_duplicate(tb[B], &m->d, &dup, &junk), CKR_WRAPPED_KEY_INVALID,
			 "imported as this domain's: CKR_WRAPPED_KEY_INVALID");
		check(log_count("another migration domain") == 1, "refused before the TPM saw it: "
		      "its policy is not this domain's");
		CHECK_RV(ops->key_import_duplicate(tb[B], &other->d, &dup, &junk), CKR_OK,
			 "(control) imported as the other domain's");
		tpm_blob_release(&junk);
	}
	/* an approval signed by another MA */
	log_mark();
	CHECK_RV(ops->key_export(tb[A], &k.blob, &other->d, &id[B], ab.sig, ab.len, &junk),
		 CKR_KEY_NOT_WRAPPABLE, "an approval signed by another MA: CKR_KEY_NOT_WRAPPABLE");
	log_says("", NULL);
	CHECK_RV(ops->key_export(tb[A], &k.blob, &other->d, &id[B], NULL, 0, &junk),
		 CKR_KEY_NOT_WRAPPABLE, "no approval at all: CKR_KEY_NOT_WRAPPABLE");
	log_says("", NULL);
	tpm_blob_release(&dup);
	tkey_free(&k);
}

/* A software key imported into a domain can then be exported. */
static void test_soft_import(struct ma *m, bool rsa)
{
	struct tkey k;
	struct approval ab;
	struct tpm_key_spec spec = { .type = rsa ? TPM_KEY_RSA : TPM_KEY_EC, .sign = true,
				     .decrypt = rsa, .domain = &m->d };
	struct tpm_blob dup = { 0 }, on_b = { 0 };
	EVP_PKEY *priv = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
			     : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	memset(&k, 0, sizeof(k));
	snprintf(k.name, sizeof(k.name), "software %s key in %s", rsa ? "RSA-2048" : "P-256", m->name);
	random_auth(&k.auth, true);
	if (priv && approve(m, B, &ab) &&
	    CHECK_RV(ops->key_import(tb[A], &spec, priv, &k.auth, &k.blob, &k.pub), CKR_OK,
		     "%s: key_import into the domain on A", k.name) &&
	    (k.soft = soft_public(&k.pub)) != NULL) {
		key_works(A, &k.blob, &k, "the import");
		if (CHECK_RV(export_to(A, &k.blob, m, B, &ab, &dup), CKR_OK, "%s: export A -> B", k.name) &&
		    CHECK_RV(ops->key_import_duplicate(tb[B], &m->d, &dup, &on_b), CKR_OK,
			     "%s: import on B", k.name))
			key_works(B, &on_b, &k, "the copy");
	}
	EVP_PKEY_free(priv);
	tpm_blob_release(&dup);
	tpm_blob_release(&on_b);
	tkey_free(&k);
}

/* --- the TPM on its own (ESYS, tpmha bypassed) --- */

static bool ma_tpm(const struct ma *m, TPM2B_PUBLIC *pub, TPM2B_NAME *name)
{
	memset(pub, 0, sizeof(*pub));
	return tpm2_ma_parse(&m->d, &pub->publicArea, name) == CKR_OK;
}

static void to_signature(const struct ma *m, const struct approval *a, TPMT_SIGNATURE *s)
{
	memset(s, 0, sizeof(*s));
	if (m->d.ma_type == TPM_KEY_RSA) {
		s->sigAlg = TPM2_ALG_RSASSA;
		s->signature.rsassa.hash = TPM2_ALG_SHA256;
		s->signature.rsassa.sig.size = (UINT16)a->len;
		memcpy(s->signature.rsassa.sig.buffer, a->sig, a->len);
	} else {
		s->sigAlg = TPM2_ALG_ECDSA;
		s->signature.ecdsa.hash = TPM2_ALG_SHA256;
		s->signature.ecdsa.signatureR.size = s->signature.ecdsa.signatureS.size = 32;
		memcpy(s->signature.ecdsa.signatureR.buffer, a->sig, 32);
		memcpy(s->signature.ecdsa.signatureS.buffer, a->sig + 32, 32);
	}
}

static bool unit_public(int u, TPM2B_PUBLIC *pub, TPM2B_NAME *name)
{
	return tpm2_dest_parse(&id[u], pub, name) == CKR_OK;
}

/* got and *failed are read after the call (argument order is unspecified) */
#define ESYS_CHECK(call, want, what) \
	do { \
		TSS2_RC got_ = (call); \
		esys_check(got_, (want), failed, (what)); \
	} while (0)

static void esys_check(TSS2_RC got, TSS2_RC want, const char *failed, const char *what)
{
	bool ok = tpm2_rc_base(got) == want;

	check(ok, "%s: %s (%s%s0x%x)", what, want ? "refused by the TPM" : "done", failed ? failed : "",
	      failed ? ": " : "", got);
}

/* The domain policy enforced by the TPM with nobody's code in between: a valid
 * approval for B does not send a key to C, no approval sends it nowhere, and an
 * MA-signed policy for TPM2_Sign does not sign. */
static void test_bypass(struct ma *m, enum tpm_key_type type)
{
	struct tkey k;
	struct approval ab, sign_ok;
	struct esys_unit u;
	struct esys_dup d;
	TPM2B_PUBLIC ma, pub_b, pub_c;
	TPM2B_NAME ma_name, name_b, name_c;
	TPMT_SIGNATURE sig_b, sig_sign;
	TPM2B_NONCE ref = { .size = sizeof(m->d.policy_ref) };
	struct tpm_blob dup = { 0 }, on_b = { 0 };
	const char *failed = NULL;
	uint8_t msg[48];
	static const uint8_t cc[8] = { 0, 0, 0x01, 0x6c, 0, 0, 0x01, 0x5d };
	uint8_t buf[40] = { 0 };

	memcpy(ref.buffer, m->d.policy_ref, ref.size);
	if (!tkey_generate(&k, A, type, &m->d, "key under ESYS") || !approve(m, B, &ab) ||
	    !ma_tpm(m, &ma, &ma_name) || !unit_public(B, &pub_b, &name_b) ||
	    !unit_public(C, &pub_c, &name_c))
		goto out;
	to_signature(m, &ab, &sig_b);
	/* the MA signs approvedPolicy = PolicyCommandCode(TPM2_CC_Sign) */
	memcpy(buf + 32, cc, sizeof(cc));
	hash_digest(HASH_SHA256, buf, sizeof(buf), msg);
	memcpy(msg + 32, m->d.policy_ref, 16);
	sign_ok.len = ma_sign_msg(m, msg, sizeof(msg), sign_ok.sig);
	to_signature(m, &sign_ok, &sig_sign);

	close_unit(A); /* swtpm serves one connection at a time */
	if (!check(esys_open(tcti[A], &u), "ESYS on A"))
		goto reopen;
	check(u.sk_name.size == id[A].name.len && memcmp(u.sk_name.name, id[A].name.data, u.sk_name.size) == 0,
	      "ESYS re-derives A's unit storage key from our template");
	d = (struct esys_dup){ .key = &k.blob, .ma = &ma, .approval = &sig_b, .select = &name_b,
			       .dest = &pub_b, .policy_ref = &ref };
	ESYS_CHECK(esys_duplicate(&u, &d, &dup, &failed), 0,
		   "ESYS: (control) duplicate to B with B's approval");
	d.dest = &pub_c;
	ESYS_CHECK(esys_duplicate(&u, &d, NULL, &failed), TPM2_RC_POLICY_FAIL,
		   "ESYS: B's approved policy session, TPM2_Duplicate to C");
	d.approval = NULL;
	d.select = &name_c;
	ESYS_CHECK(esys_duplicate(&u, &d, NULL, &failed), TPM2_RC_POLICY_FAIL,
		   "ESYS: PolicyDuplicationSelect(C) without the MA's approval, TPM2_Duplicate to C");
	d.approval = &sig_b;
	ESYS_CHECK(esys_duplicate(&u, &d, NULL, &failed), TPM2_RC_SIGNATURE,
		   "ESYS: B's approval offered for a selection of C");
	ESYS_CHECK(esys_sign_by_policy(&u, &k.blob, &ma, &sig_sign, &ref, &failed), TPM2_RC_POLICY_FAIL,
		   "ESYS: TPM2_Sign through an MA-approved TPM2_Sign policy, without the auth value");
	esys_close(&u);
reopen:
	if (!CHECK_RV(open_tpm(tcti[A], &tb[A]), CKR_OK, "reopen A"))
		goto out;
	if (dup.len && CHECK_RV(ops->key_import_duplicate(tb[B], &m->d, &dup, &on_b), CKR_OK,
				"ESYS's duplicate for B imports through tpmha"))
		key_works(B, &on_b, &k, "ESYS's copy");
out:
	tpm_blob_release(&dup);
	tpm_blob_release(&on_b);
	tkey_free(&k);
}

/* secret_wrap to an RSA storage key: TPM2_Import recovers the OAEP-encrypted seed
 * (label "DUPLICATE"); another RSA key does not. */
static void test_rsa_parent(void)
{
	struct esys_unit u;
	struct tpm_unit_identity rid = { 0 }, other = { 0 };
	struct tpm_blob w = { 0 };
	ESYS_TR h1 = ESYS_TR_NONE, h2 = ESYS_TR_NONE;
	uint8_t secret[32], out[64];
	size_t out_len = sizeof(out);
	const char *failed = NULL;

	RAND_bytes(secret, sizeof(secret));
	close_unit(C);
	if (!check(esys_open(tcti[C], &u), "ESYS on C"))
		goto reopen;
	Esys_FlushContext(u.ctx, u.sk); /* room for two primaries and the secret: 3 slots */
	u.sk = ESYS_TR_NONE;
	if (check(esys_rsa_storage(&u, 'x', &h1, &rid) == TSS2_RC_SUCCESS &&
		  esys_rsa_storage(&u, 'y', &h2, &other) == TSS2_RC_SUCCESS,
		  "two RSA-2048 storage keys on C") &&
	    CHECK_RV(ops->secret_wrap(tb[A], &rid, secret, sizeof(secret), &w), CKR_OK,
		     "secret_wrap for an RSA storage key")) {
		ESYS_CHECK(esys_unwrap(&u, h1, &w, out, &out_len), 0,
			   "ESYS: TPM2_Import, Load, Unseal under that RSA key");
		check(out_len == sizeof(secret) && memcmp(out, secret, sizeof(secret)) == 0,
		      "... gives the secret back");
		{
			TSS2_RC rc = esys_unwrap(&u, h2, &w, out, &out_len);

			check(tpm2_rc_base(rc) != TSS2_RC_SUCCESS,
			      "ESYS: under the other RSA key: refused by the TPM (0x%x: %s)", rc,
			      tpm2_rc_base(rc) == TPM2_RC_FAILURE ? "TPM_RC_FAILURE" :
			      tpm2_rc_base(rc) == TPM2_RC_INTEGRITY ? "TPM_RC_INTEGRITY" :
			      tpm2_rc_base(rc) == TPM2_RC_VALUE ? "TPM_RC_VALUE" : "other");
		}
	}
	(void)failed;
	if (h1 != ESYS_TR_NONE)
		Esys_FlushContext(u.ctx, h1);
	if (h2 != ESYS_TR_NONE)
		Esys_FlushContext(u.ctx, h2);
	esys_close(&u);
reopen:
	CHECK_RV(open_tpm(tcti[C], &tb[C]), CKR_OK, "reopen C");
	tpm_blob_release(&w);
	tpm_unit_identity_release(&rid);
	tpm_unit_identity_release(&other);
}

/* --- timing --- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

/* res = median of n runs of stmt, in ms, after two unmeasured ones; ok &= each. */
#define MEDIAN(res, n, samples, ok, stmt) \
	do { \
		for (int i_ = -2; i_ < (n); i_++) { \
			double t0_ = now_ms(); \
			(ok) &= (stmt); \
			if (i_ >= 0) \
				(samples)[i_] = now_ms() - t0_; \
		} \
		(res) = median((samples), (n)); \
	} while (0)

/* key_export A -> B and key_import_duplicate on B against the same TPM commands
 * through ESYS with password sessions. */
static void bench(struct ma *m, enum tpm_key_type type, int n)
{
	struct tkey k;
	struct approval ab;
	struct tpm_blob dup = { 0 }, out = { 0 };
	double *v = calloc((size_t)n, sizeof(double));
	double exp_ours = 0, imp_ours = 0, exp_esys = 0, imp_esys = 0;
	bool ok = true;
	const char *failed = NULL, *kname = type == TPM_KEY_RSA ? "RSA-2048" : "P-256";
	struct esys_unit ua, ub;
	TPM2B_PUBLIC ma, pub_b;
	TPM2B_NAME ma_name, name_b;
	TPMT_SIGNATURE sig;
	TPM2B_NONCE ref = { .size = 16 };

	if (!v || !tkey_generate(&k, A, type, &m->d, "bench key") || !approve(m, B, &ab))
		goto out;
	MEDIAN(exp_ours, n, v, ok,
	       (tpm_blob_release(&dup), export_to(A, &k.blob, m, B, &ab, &dup) == CKR_OK));
	MEDIAN(imp_ours, n, v, ok,
	       (tpm_blob_release(&out), ops->key_import_duplicate(tb[B], &m->d, &dup, &out) == CKR_OK));
	check(ok, "bench %s key, %s: %d exports and imports", kname, m->name, n + 2);

	memcpy(ref.buffer, m->d.policy_ref, 16);
	ma_tpm(m, &ma, &ma_name);
	unit_public(B, &pub_b, &name_b);
	to_signature(m, &ab, &sig);
	close_unit(A);
	close_unit(B);
	ok = esys_open(tcti[A], &ua) && esys_open(tcti[B], &ub);
	if (ok) {
		struct esys_dup d = { .key = &k.blob, .ma = &ma, .approval = &sig, .select = &name_b,
				      .dest = &pub_b, .policy_ref = &ref };

		MEDIAN(exp_esys, n, v, ok, esys_duplicate(&ua, &d, NULL, &failed) == TSS2_RC_SUCCESS);
		MEDIAN(imp_esys, n, v, ok, esys_import(&ub, &dup) == TSS2_RC_SUCCESS);
	}
	check(ok, "bench %s key, %s: the same through ESYS", kname, m->name);
	esys_close(&ua);
	esys_close(&ub);
	CHECK_RV(open_tpm(tcti[A], &tb[A]), CKR_OK, "reopen A");
	CHECK_RV(open_tpm(tcti[B], &tb[B]), CKR_OK, "reopen B");
	diag("bench %-8s key, %s (median of %d): export %.2f ms (ESYS floor %.2f ms, %.2fx), "
	     "import+load %.2f ms (ESYS floor %.2f ms, %.2fx)", kname, m->name, n, exp_ours, exp_esys,
	     exp_esys > 0 ? exp_ours / exp_esys : 0, imp_ours, imp_esys,
	     imp_esys > 0 ? imp_ours / imp_esys : 0);
out:
	free(v);
	tpm_blob_release(&dup);
	tpm_blob_release(&out);
	tkey_free(&k);
}

int main(int argc, char **argv)
{
	struct ma rsa = { 0 }, ec = { 0 };
	int n_bench = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--a") == 0)
			tcti[A] = argv[i + 1];
		else if (strcmp(argv[i], "--b") == 0)
			tcti[B] = argv[i + 1];
		else if (strcmp(argv[i], "--c") == 0)
			tcti[C] = argv[i + 1];
		else if (strcmp(argv[i], "--log") == 0)
			log_path = argv[i + 1];
		else if (strcmp(argv[i], "--bench") == 0)
			n_bench = atoi(argv[i + 1]);
	}
	if (!tcti[A] || !tcti[B] || !tcti[C] || !log_path) {
		fprintf(stderr, "usage: %s --a TCTI --b TCTI --c TCTI --log FILE [--bench N]\n", argv[0]);
		return 2;
	}
	{
		char target[4096];

		snprintf(target, sizeof(target), "file:%s", log_path);
		if (log_set_target(target) != 0) {
			printf("Bail out! cannot log to %s\n", log_path);
			return 1;
		}
	}
	if (!open_all()) {
		printf("Bail out! cannot open the TPMs\n");
		return 1;
	}
	test_identities();
	if (ma_make(&rsa, "RSA-2048 MA", true) && ma_make(&ec, "P-256 MA", false)) {
		test_domains(&rsa, &ec);
		test_migration(&rsa, TPM_KEY_RSA);
		test_migration(&rsa, TPM_KEY_EC);
		test_migration(&ec, TPM_KEY_RSA);
		test_migration(&ec, TPM_KEY_EC);
		test_seal(&ec);
		test_secrets();
		test_refusals(&ec, &rsa);
		test_soft_import(&rsa, true);
		test_soft_import(&ec, false);
		test_flips(&ec, TPM_KEY_RSA);
		test_flips(&rsa, TPM_KEY_EC);
		test_bypass(&rsa, TPM_KEY_RSA);
		test_bypass(&ec, TPM_KEY_EC);
		test_rsa_parent();
		for (int i = 0; n_bench > 0 && i < 4; i++)
			bench(i < 2 ? &rsa : &ec, i % 2 ? TPM_KEY_EC : TPM_KEY_RSA, n_bench);
	}
	for (int u = 0; u < NUNITS; u++) {
		ops->close(tb[u]);
		tpm_unit_identity_release(&id[u]);
	}
	tpm_blob_release(&rsa.d.ma_tpm2);
	tpm_blob_release(&ec.d.ma_tpm2);
	tpm_blob_release(&rsa.d.ma_tpm12);
	EVP_PKEY_free(rsa.pkey);
	EVP_PKEY_free(ec.pkey);
	log_close();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
