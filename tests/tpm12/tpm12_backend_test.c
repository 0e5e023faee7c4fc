/* The TPM 1.2 backend against real emulated TPMs (swtpm + its own tcsd each), TAP on
 * stdout. Started by tests/tpm12/tpm12-backend.sh:
 *
 *   tpm12_backend_test --a PORT --b PORT --c PORT --lock PORT --store DIR
 *                      --stop-a CMD --start-a CMD [--bench N]
 *
 * PORTs are tcsd ports; A, B and C are units of one migration domain (B approved,
 * C not); LOCK is a TPM of its own, driven into dictionary-attack lockout. CMDs stop
 * and start A's tcsd (same port, same state). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/rsa_pad.h"
#include "conf/conf.h"
#include "tests/tpm/tpm2_test_util.h"
#include "tests/tpm12/tpm12_test.h"
#include "tpm/tpm12_int.h"

struct opts opt;

static unsigned max_loaded; /* max_loaded_keys of the next open_unit() */

CK_RV open_unit(unsigned port, const char *store, struct tpm_backend **tb)
{
	struct tpmha_config *cfg = NULL;
	CK_RV rv = config_load_file(NULL, &cfg);

	if (rv != CKR_OK)
		return rv;
	cfg->tpm_version = 12;
	cfg->max_loaded_keys = max_loaded;
	cfg->tcsd_port = port;
	free(cfg->store_dir);
	cfg->store_dir = strdup(store);
	rv = tpm_backend_open(cfg, tb);
	config_free(cfg);
	return rv;
}

/* <store>/A, <store>/B ...: each unit's own store (made by the script) */
const char *unit_store(char unit)
{
	static char dirs[26][4200];
	char *d = dirs[(unit - 'A') % 26];

	snprintf(d, sizeof(dirs[0]), "%s/%c", opt.store, unit);
	return d;
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

bool log_has(const char *needle)
{
	FILE *f = fopen(opt.log, "r");
	char line[2048];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* the last log line containing needle, for the report */
void log_show(const char *needle)
{
	FILE *f = fopen(opt.log, "r");
	char line[2048], last[2048] = "";

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			snprintf(last, sizeof(last), "%s", line);
	fclose(f);
	last[strcspn(last, "\n")] = '\0';
	if (last[0])
		diag("log: %s", last);
}

EVP_PKEY *soft_rsa(void)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *k = NULL;

	if (c && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) == 1)
		EVP_PKEY_keygen(c, &k);
	EVP_PKEY_CTX_free(c);
	return k;
}

/* RSASSA-PKCS1-v1_5 with SHA-1 over msg, by OpenSSL (the MA's side). */
bool soft_sign_sha1(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c && EVP_DigestSignInit(c, NULL, EVP_sha1(), NULL, k) == 1 &&
		  EVP_DigestSign(c, sig, sig_len, msg, len) == 1;

	EVP_MD_CTX_free(c);
	return ok;
}

static void test_basics(struct tpm_backend *tb)
{
	const struct tpm_backend_ops *o = tb->ops;
	struct tpm_info info;
	const struct tpm_caps *c = o->get_caps(tb);
	struct tpm_da_state da;
	uint8_t rnd[300], zero[300] = { 0 };
	CK_RV rv;

	CHECK_RV(o->get_info(tb, &info), CKR_OK, "get_info");
	check(info.version == 12 && info.manufacturer[0], "TPM 1.2 by \"%s\" (%s), spec %s, fw %u.%u",
	      info.manufacturer, info.vendor, info.spec, info.fw_major, info.fw_minor);
	check(c->rsa_sizes == TPM_RSA_2048 && c->curves == 0 && !c->ecdsa && !c->import_ec,
	      "caps: RSA-2048 only, no EC");
	check(c->rsa_pkcs1_sign && c->rsa_pkcs1_sign_any && !c->rsa_pss_sign,
	      "caps: PKCS#1 v1.5 signatures of DigestInfos and raw data, no PSS");
	check(c->rsa_pkcs1_decrypt && c->oaep_hashes == 0 && c->rsa_tcpa_oaep,
	      "caps: PKCS#1 v1.5 and TCPA-OAEP decryption, no standard OAEP");
	check(c->import_rsa && c->migration, "caps: RSA import, migration");
	rv = o->get_da_state(tb, &da);
	check(rv == CKR_OK || rv == CKR_FUNCTION_NOT_SUPPORTED, "get_da_state answers (0x%lx)", rv);
	if (rv == CKR_OK)
		diag("DA state: %u failed tries of %u, %u s, locked %d", da.failed_tries, da.max_tries,
		     da.recovery_seconds, da.locked);
	CHECK_RV(o->random(tb, rnd, sizeof(rnd)), CKR_OK, "random: 300 bytes");
	check(memcmp(rnd, zero, sizeof(rnd)) != 0, "random: not zeros");
	CHECK_RV(o->stir_random(tb, rnd, sizeof(rnd)), CKR_OK, "stir_random: 300 bytes");
}

static void test_seal(struct tpm_backend *tb, const struct tpm_domain *d)
{
	const struct tpm_backend_ops *o = tb->ops;
	struct tpm_auth good, bad;
	struct tpm_blob sealed = { 0 };
	struct tpm_da_state before, after;
	uint8_t secret[48], out[64];
	size_t n = sizeof(out);
	const char *what = d ? "domain PIN object" : "PIN seal";
	CK_RV rv;

	random_auth(&good, false);
	bad = good;
	bad.value[0] ^= 1;
	RAND_bytes(secret, sizeof(secret));
	CHECK_RV(o->seal_create(tb, secret, sizeof(secret), &good, d, &sealed), CKR_OK, "%s: create", what);
	CHECK_RV(o->seal_open(tb, &sealed, &good, out, &n), CKR_OK, "%s: open with the right auth", what);
	check(n == sizeof(secret) && memcmp(out, secret, n) == 0, "%s: the secret comes back", what);
	rv = o->get_da_state(tb, &before);
	n = sizeof(out);
	CHECK_RV(o->seal_open(tb, &sealed, &bad, out, &n), CKR_PIN_INCORRECT, "%s: wrong auth refused",
		 what);
	if (rv == CKR_OK && o->get_da_state(tb, &after) == CKR_OK)
		check(after.failed_tries == before.failed_tries + 1,
		      "%s: the TPM counted the failure (%u -> %u)", what, before.failed_tries,
		      after.failed_tries);
	n = sizeof(out);
	CHECK_RV(o->seal_open(tb, &sealed, &good, out, &n), CKR_OK, "%s: right auth still opens", what);
	if (!d) {
		struct tpm_blob flipped = { 0 };

		tpm_blob_copy(&flipped, sealed.data, sealed.len);
		flipped.data[flipped.len / 2] ^= 0x40;
		n = sizeof(out);
		rv = o->seal_open(tb, &flipped, &good, out, &n);
		check(rv != CKR_OK && rv != CKR_PIN_INCORRECT, "%s: a flipped byte is refused (0x%lx)",
		      what, rv);
		tpm_blob_release(&flipped);
	}
	tpm_blob_release(&sealed);
}

static void test_keys(struct tpm_backend *tb)
{
	const struct tpm_backend_ops *o = tb->ops;
	struct tpm_key_spec sign = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true };
	struct tpm_key_spec dec = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true, .decrypt = true };
	struct tpm_key_spec bind = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .decrypt = true,
				     .tcpa_bind = true };
	struct tpm_key_spec ec = { .type = TPM_KEY_EC, .curve = TPM_CURVE_P256, .sign = true };
	struct tpm_dec_params pkcs1 = { .scheme = TPM_DEC_PKCS1 };
	struct tpm_dec_params tcpa = { .scheme = TPM_DEC_TCPA_OAEP };
	struct tpm_dec_params oaep = { .scheme = TPM_DEC_OAEP, .hash = HASH_SHA1, .mgf_hash = HASH_SHA1 };
	struct tpm_auth auth, wrong;
	struct tpm_blob blob = { 0 }, dblob = { 0 }, bblob = { 0 }, iblob = { 0 };
	struct tpm_public pub, pub2;
	struct tpm_key *k = NULL;
	EVP_PKEY *pk = NULL, *soft = NULL;
	uint8_t digest[32], di[64], sig[256], ct[256], pt[256], msg[40], tls[36];
	size_t sig_len, ct_len, pt_len, di_len;
	const uint8_t *prefix;
	CK_RV rv;

	random_auth(&auth, false);
	wrong = auth;
	wrong.value[3] ^= 0x80;
	RAND_bytes(digest, sizeof(digest));
	prefix = rsa_pad_digestinfo_prefix(HASH_SHA256, &di_len);
	memcpy(di, prefix, di_len);
	memcpy(di + di_len, digest, 32);
	di_len += 32;

	CHECK_RV(o->key_generate(tb, &ec, &auth, &blob, &pub), CKR_CURVE_NOT_SUPPORTED, "no EC keys");
	/* signing key */
	CHECK_RV(o->key_generate(tb, &sign, &auth, &blob, &pub), CKR_OK, "generate an RSA-2048 signing key");
	CHECK_RV(o->key_public(tb, &blob, &pub2), CKR_OK, "key_public parses the blob");
	check(pub2.modulus_len == 256 && memcmp(pub.modulus, pub2.modulus, 256) == 0 &&
	      pub2.exponent == 65537, "key_public: the same modulus, e = 65537");
	pk = soft_public(&pub);
	CHECK_RV(o->key_open(tb, &blob, &auth, &k), CKR_OK, "key_open");
	sig_len = sizeof(sig);
	CHECK_RV(o->rsa_sign_pkcs1(tb, k, di, di_len, sig, &sig_len), CKR_OK, "sign a SHA-256 DigestInfo");
	check(sig_len == 256 && verify_pkcs1(pk, HASH_SHA256, digest, sig, sig_len),
	      "the signature verifies in OpenSSL");
	RAND_bytes(tls, sizeof(tls));
	sig_len = sizeof(sig);
	CHECK_RV(o->rsa_sign_pkcs1(tb, k, tls, sizeof(tls), sig, &sig_len), CKR_OK,
		 "sign raw 36-byte TLS 1.0 data (MD5+SHA-1)");
	check(recover_pkcs1(pk, sig, sig_len, tls, sizeof(tls)), "it opens to the padded data in OpenSSL");
	sig_len = sizeof(sig);
	CHECK_RV(o->rsa_sign_pss(tb, k, HASH_SHA256, HASH_SHA256, 32, digest, 32, sig, &sig_len),
		 CKR_MECHANISM_INVALID, "no PSS");
	sig_len = sizeof(sig);
	CHECK_RV(o->ecdsa_sign(tb, k, digest, 32, sig, &sig_len), CKR_MECHANISM_INVALID, "no ECDSA");
	pt_len = sizeof(pt);
	CHECK_RV(o->rsa_decrypt(tb, k, &pkcs1, sig, 256, pt, &pt_len), CKR_MECHANISM_INVALID,
		 "a signing key does not decrypt");
	o->key_close(tb, k);
	k = NULL;
	CHECK_RV(o->key_open(tb, &blob, &wrong, &k), CKR_OK, "key_open with a wrong auth (not checked yet)");
	sig_len = sizeof(sig);
	CHECK_RV(o->rsa_sign_pkcs1(tb, k, di, di_len, sig, &sig_len), CKR_PIN_INCORRECT,
		 "signing with a wrong auth: CKR_PIN_INCORRECT");
	o->key_close(tb, k);
	k = NULL;
	EVP_PKEY_free(pk);

	/* LEGACY key: signs and decrypts PKCS#1 v1.5 */
	CHECK_RV(o->key_generate(tb, &dec, &auth, &dblob, &pub), CKR_OK, "generate a sign+decrypt key (LEGACY)");
	pk = soft_public(&pub);
	CHECK_RV(o->key_open(tb, &dblob, &auth, &k), CKR_OK, "key_open");
	RAND_bytes(msg, sizeof(msg));
	ct_len = sizeof(ct);
	check(encrypt_pkcs1(pk, msg, sizeof(msg), ct, &ct_len), "OpenSSL encrypts PKCS#1 v1.5");
	pt_len = sizeof(pt);
	CHECK_RV(o->rsa_decrypt(tb, k, &pkcs1, ct, ct_len, pt, &pt_len), CKR_OK, "PKCS#1 v1.5 decrypt");
	check(pt_len == sizeof(msg) && memcmp(pt, msg, pt_len) == 0, "the plaintext comes back");
	ct[100] ^= 1;
	pt_len = sizeof(pt);
	rv = o->rsa_decrypt(tb, k, &pkcs1, ct, ct_len, pt, &pt_len);
	check(rv == CKR_ENCRYPTED_DATA_INVALID, "a damaged ciphertext: CKR_ENCRYPTED_DATA_INVALID (0x%lx)", rv);
	pt_len = sizeof(pt);
	CHECK_RV(o->rsa_decrypt(tb, k, &oaep, ct, ct_len, pt, &pt_len), CKR_MECHANISM_INVALID,
		 "standard OAEP: CKR_MECHANISM_INVALID");
	pt_len = sizeof(pt);
	CHECK_RV(o->rsa_decrypt(tb, k, &tcpa, ct, ct_len, pt, &pt_len), CKR_MECHANISM_INVALID,
		 "TCPA-OAEP on a PKCS#1 key: CKR_MECHANISM_INVALID");
	sig_len = sizeof(sig);
	CHECK_RV(o->rsa_sign_pkcs1(tb, k, di, di_len, sig, &sig_len), CKR_OK, "the LEGACY key signs");
	check(verify_pkcs1(pk, HASH_SHA256, digest, sig, sig_len), "and it verifies");
	o->key_close(tb, k);
	k = NULL;
	EVP_PKEY_free(pk);

	/* BIND key: TPM 1.2 bound data */
	CHECK_RV(o->key_generate(tb, &bind, &auth, &bblob, &pub), CKR_OK, "generate a BIND key (TCPA-OAEP)");
	CHECK_RV(o->key_open(tb, &bblob, &auth, &k), CKR_OK, "key_open");
	CHECK_RV(tpm12_bind_soft(pub.modulus, msg, sizeof(msg), ct), CKR_OK, "bind data in software");
	pt_len = sizeof(pt);
	CHECK_RV(o->rsa_decrypt(tb, k, &tcpa, ct, 256, pt, &pt_len), CKR_OK, "TCPA-OAEP unbind");
	check(pt_len == sizeof(msg) && memcmp(pt, msg, pt_len) == 0, "the bound data comes back");
	pt_len = sizeof(pt);
	CHECK_RV(o->rsa_decrypt(tb, k, &pkcs1, ct, 256, pt, &pt_len), CKR_MECHANISM_INVALID,
		 "PKCS#1 on a BIND key: CKR_MECHANISM_INVALID");
	sig_len = sizeof(sig);
	CHECK_RV(o->rsa_sign_pkcs1(tb, k, di, di_len, sig, &sig_len), CKR_KEY_FUNCTION_NOT_PERMITTED,
		 "a BIND key does not sign");
	o->key_close(tb, k);
	k = NULL;

	/* import */
	soft = soft_rsa();
	CHECK_RV(o->key_import(tb, &dec, soft, &auth, &iblob, &pub), CKR_OK, "import an OpenSSL RSA-2048 key");
	CHECK_RV(o->key_open(tb, &iblob, &auth, &k), CKR_OK, "key_open the imported key");
	sig_len = sizeof(sig);
	CHECK_RV(o->rsa_sign_pkcs1(tb, k, di, di_len, sig, &sig_len), CKR_OK, "sign with the imported key");
	check(verify_pkcs1(soft, HASH_SHA256, digest, sig, sig_len),
	      "it verifies with the original OpenSSL key");
	ct_len = sizeof(ct);
	encrypt_pkcs1(soft, msg, sizeof(msg), ct, &ct_len);
	pt_len = sizeof(pt);
	CHECK_RV(o->rsa_decrypt(tb, k, &pkcs1, ct, ct_len, pt, &pt_len), CKR_OK,
		 "decrypt with the imported key");
	check(pt_len == sizeof(msg) && memcmp(pt, msg, pt_len) == 0, "the plaintext comes back");
	o->key_close(tb, k);
	k = NULL;
	EVP_PKEY_free(soft);

	/* untrusted blobs: every byte of one key blob flipped */
	{
		unsigned bad = 0, crashed_not = 0;

		for (size_t i = 0; i < blob.len; i++) {
			blob.data[i] ^= 0x01;
			rv = o->key_public(tb, &blob, &pub2);
			if (rv == CKR_OK && memcmp(pub2.modulus, pub.modulus, 256) != 0)
				crashed_not++; /* a modulus byte: parses, another key */
			else if (rv != CKR_OK)
				bad++;
			blob.data[i] ^= 0x01;
		}
		check(bad > 0, "key_public: %u of %zu single-bit flips refused, the rest parse as a "
		      "different public key or an encData change", bad, blob.len);
		for (size_t cut = 0; cut < blob.len; cut += 7) {
			struct tpm_blob t = { .data = blob.data, .len = cut };

			if (o->key_public(tb, &t, &pub2) == CKR_OK)
				break;
			if (cut + 7 >= blob.len)
				check(true, "key_public: every truncation refused");
		}
	}
	tpm_blob_release(&blob);
	tpm_blob_release(&dblob);
	tpm_blob_release(&bblob);
	tpm_blob_release(&iblob);
}

/* More keys in use than the backend keeps loaded: the LRU evicts and reloads. */
static void test_lru(void)
{
	struct tpm_key_spec spec = { .type = TPM_KEY_RSA, .rsa_bits = 2048, .sign = true };
	struct tpm_backend *tb = NULL;
	struct tpm_auth auth;
	struct tpm_blob blob[4] = { { 0 } };
	struct tpm_public pub[4];
	struct tpm_key *k[4] = { NULL };
	EVP_PKEY *pk[4] = { NULL };
	uint8_t digest[32], di[64], sig[256];
	size_t di_len, sig_len;
	const uint8_t *prefix = rsa_pad_digestinfo_prefix(HASH_SHA1, &di_len);
	int good = 0;

	max_loaded = 2;
	if (!CHECK_RV(open_unit(opt.a, unit_store('A'), &tb), CKR_OK, "open A keeping 2 keys loaded")) {
		max_loaded = 0;
		return;
	}
	max_loaded = 0;
	random_auth(&auth, false);
	for (int i = 0; i < 4; i++) {
		if (tb->ops->key_generate(tb, &spec, &auth, &blob[i], &pub[i]) != CKR_OK ||
		    tb->ops->key_open(tb, &blob[i], &auth, &k[i]) != CKR_OK)
			break;
		pk[i] = soft_public(&pub[i]);
	}
	memcpy(di, prefix, di_len);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 4; i++) {
			RAND_bytes(digest, 20);
			memcpy(di + di_len, digest, 20);
			sig_len = sizeof(sig);
			if (k[i] && tb->ops->rsa_sign_pkcs1(tb, k[i], di, di_len + 20, sig, &sig_len) == CKR_OK &&
			    verify_pkcs1(pk[i], HASH_SHA1, digest, sig, sig_len))
				good++;
		}
	check(good == 12, "4 keys signing in turn with 2 kept loaded: %d of 12 signatures verify", good);
	for (int i = 0; i < 4; i++) {
		tb->ops->key_close(tb, k[i]);
		EVP_PKEY_free(pk[i]);
		tpm_blob_release(&blob[i]);
	}
	tb->ops->close(tb);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "a", required_argument, NULL, 'a' }, { "b", required_argument, NULL, 'b' },
		{ "c", required_argument, NULL, 'c' }, { "lock", required_argument, NULL, 'l' },
		{ "store", required_argument, NULL, 's' }, { "stop-a", required_argument, NULL, 'S' },
		{ "start-a", required_argument, NULL, 'T' }, { "bench", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'L' }, { NULL, 0, NULL, 0 },
	};
	struct tpm_backend *a = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'a': opt.a = (unsigned)atoi(optarg); break;
		case 'b': opt.b = (unsigned)atoi(optarg); break;
		case 'c': opt.c = (unsigned)atoi(optarg); break;
		case 'l': opt.lock = (unsigned)atoi(optarg); break;
		case 's': opt.store = optarg; break;
		case 'S': opt.stop_a = optarg; break;
		case 'T': opt.start_a = optarg; break;
		case 'n': opt.bench = atoi(optarg); break;
		case 'L': opt.log = optarg; break;
		default: return 2;
		}
	}
	if (!opt.a || !opt.store || !opt.log) {
		fprintf(stderr, "usage: see the top of tests/tpm12/tpm12_backend_test.c\n");
		return 2;
	}
	{
		char target[4200];

		snprintf(target, sizeof(target), "file:%s", opt.log);
		log_set_target(target);
		log_set_level(LOG_LEVEL_DEBUG);
	}
	if (ossl_init() != CKR_OK)
		return 1;

	if (!check(open_unit(opt.a, unit_store('A'), &a) == CKR_OK, "open unit A through tcsd at 127.0.0.1:%u", opt.a)) {
		printf("1..%d\n", n_tests);
		return 1;
	}
	test_basics(a);
	test_seal(a, NULL);
	test_keys(a);
	test_lru();
	test_fork_threads(a);
	if (opt.b && opt.c)
		test_migration(a);
	if (opt.lock)
		test_lockout();
	if (opt.stop_a && opt.start_a)
		test_tcsd_restart(a);
	if (opt.bench)
		bench(a, opt.bench);
	a->ops->close(a);
	printf("1..%d\n", n_tests);
	fflush(stdout); /* before a leak checker's report at exit */
	return n_failed ? 1 : 0;
}
