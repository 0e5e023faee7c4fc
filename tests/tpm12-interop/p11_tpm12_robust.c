/* Robustness of a TPM 1.2 token through PKCS#11 (robust.sh runs this on a TPM 1.2 unit
 * of its own): PINs checked and counted by the TPM (C_GetTokenInfo flags), tcsd
 * restarted under an open, logged-in session, tcsd not running (C_Initialize), and
 * the TPM's dictionary-attack lockout, with recovery from each. The module is
 * dlopen'ed from $TPMHA_MODULE like any application; results are checked with
 * OpenSSL. The environment names the rest:
 *   ROBUST_TCSD        the tcsd address the module uses (host:port), as logs name it
 *   ROBUST_LOG         the module's log file
 *   ROBUST_STOP_TCSD   a command that stops the unit's tcsd (by PID)
 *   ROBUST_START_TCSD  a command that starts it again (same port and state)
 *   ROBUST_RESET_DA    a command with which the TPM owner resets the lockout */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "tests/integration/p11t.h"

#define PIN_FLAGS (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)

static const char *tcsd, *logfile;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key, pubkey;
static EVP_PKEY *pub;

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		t_bail("%s is not set (robust.sh sets it)", name);
	return v;
}

static CK_FLAGS flags(void)
{
	CK_TOKEN_INFO info;
	CK_RV rv = F->C_GetTokenInfo(slot, &info);

	return rv == CKR_OK ? info.flags : (CK_FLAGS)-1;
}

static CK_RV login(CK_SESSION_HANDLE h, const char *pin)
{
	return F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

/* CKM_SHA256_RSA_PKCS over fresh data; CKR_OK only if OpenSSL verifies the result. */
static CK_RV sign(CK_SESSION_HANDLE h)
{
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	uint8_t data[100], sig[512];
	CK_ULONG len = sizeof(sig);
	CK_RV rv;

	RAND_bytes(data, sizeof(data));
	rv = p11t_sign(h, &m, key, data, sizeof(data), sig, &len);
	if (rv == CKR_OK && !p11t_ossl_verify(pub, CKM_SHA256_RSA_PKCS, NULL, data, sizeof(data), sig, len)) {
		t_diag("a signature OpenSSL does not accept");
		return CKR_GENERAL_ERROR;
	}
	return rv;
}

/* CKM_RSA_PKCS decryption of an OpenSSL PKCS#1 v1.5 ciphertext; CKR_OK only if the
 * plaintext comes back. */
static CK_RV decrypt(CK_SESSION_HANDLE h)
{
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	uint8_t msg[32], ct[512], pt[512];
	size_t ct_len = sizeof(ct);
	CK_ULONG pt_len = sizeof(pt);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
	CK_RV rv;

	RAND_bytes(msg, sizeof(msg));
	if (!c || EVP_PKEY_encrypt_init(c) != 1 || EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_encrypt(c, ct, &ct_len, msg, sizeof(msg)) != 1)
		t_bail("OpenSSL cannot encrypt to the token's key");
	EVP_PKEY_CTX_free(c);
	rv = F->C_DecryptInit(h, &m, key);
	if (rv == CKR_OK)
		rv = F->C_Decrypt(h, ct, ct_len, pt, &pt_len);
	if (rv == CKR_OK && (pt_len != sizeof(msg) || memcmp(pt, msg, pt_len) != 0)) {
		t_diag("the wrong plaintext");
		return CKR_GENERAL_ERROR;
	}
	return rv;
}

/* The module's log holds a line with all of these (after byte offset from). */
static bool log_has(long from, const char *a, const char *b)
{
	FILE *f = fopen(logfile, "r");
	char line[2048];
	bool found = false;

	if (!f)
		return false;
	if (from > 0)
		fseek(f, from, SEEK_SET);
	while (!found && fgets(line, sizeof(line), f))
		if (strstr(line, a) && (!b || strstr(line, b))) {
			line[strcspn(line, "\n")] = 0;
			t_diag("log: %s", line);
			found = true;
		}
	fclose(f);
	return found;
}

static long log_size(void)
{
	FILE *f = fopen(logfile, "r");
	long n = 0;

	if (f && fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	if (f)
		fclose(f);
	return n;
}

static int run(const char *what)
{
	int st = system(env(what));

	if (st != 0)
		t_diag("%s (%s): status %d", what, getenv(what), st);
	return st;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void find_key(CK_SESSION_HANDLE h)
{
	key = p11t_find_label(h, CKO_PRIVATE_KEY, "robust-key");
	pubkey = p11t_find_label(h, CKO_PUBLIC_KEY, "robust-key");
	if (key == CK_INVALID_HANDLE || pubkey == CK_INVALID_HANDLE)
		t_bail("the key pair is not found");
}

/* --- wrong PIN, counted ---------------------------------------------------------- */
static void wrong_pin(void)
{
	CK_SESSION_HANDLE h = p11t_open(slot, true);
	CK_FLAGS f;

	t_eq(flags() & PIN_FLAGS, 0, "a new token: no PIN counter flag");
	t_rv(login(h, "wrong-pin-1"), CKR_PIN_INCORRECT, "C_Login with a wrong PIN: CKR_PIN_INCORRECT");
	f = flags();
	t_ok(f != (CK_FLAGS)-1 && (f & CKF_USER_PIN_COUNT_LOW) && !(f & CKF_USER_PIN_LOCKED),
	     "C_GetTokenInfo: CKF_USER_PIN_COUNT_LOW, the TPM counted it (flags 0x%lx)", (unsigned long)f);
	t_rv(login(h, USER_PIN), CKR_OK, "C_Login with the right PIN");
	find_key(h);
	t_rv(sign(h), CKR_OK, "it signs (CKM_SHA256_RSA_PKCS; OpenSSL verifies)");
	t_rv(decrypt(h), CKR_OK, "it decrypts (CKM_RSA_PKCS of an OpenSSL ciphertext)");
	MUST(F->C_Logout(h));
	MUST(F->C_CloseSession(h));
}

/* --- tcsd restarted while a session is open and logged in ----------------------------- */
static void restart(void)
{
	CK_SESSION_HANDLE h = p11t_open(slot, true);
	CK_SESSION_INFO si;
	CK_RV rv;
	long mark;

	MUST(login(h, USER_PIN));
	find_key(h);
	t_rv(sign(h), CKR_OK, "logged in, a session open: it signs");
	mark = log_size();
	t_ok(run("ROBUST_STOP_TCSD") == 0 && run("ROBUST_START_TCSD") == 0, "tcsd restarted (stopped by PID, started again)");
	rv = sign(h);
	t_ok(rv == CKR_DEVICE_ERROR || rv == CKR_OK,
	     "the first C_Sign after the restart: CKR_DEVICE_ERROR (a clear error) or CKR_OK, no crash (%s)", ckr(rv));
	if (rv == CKR_DEVICE_ERROR)
		t_ok(log_has(mark, "tcsd at", tcsd), "the log names the tcsd (%s)", tcsd);
	rv = sign(h);
	if (rv == CKR_USER_NOT_LOGGED_IN) {
		t_diag("the next call needs a new login");
		t_rv(login(h, USER_PIN), CKR_OK, "C_Login again");
		rv = sign(h);
	}
	t_rv(rv, CKR_OK, "the next C_Sign in the same session works again (OpenSSL verifies)");
	t_rv(F->C_GetSessionInfo(h, &si), CKR_OK, "the session survived");
	t_eq(si.state, CKS_RW_USER_FUNCTIONS, "still logged in");
	t_rv(decrypt(h), CKR_OK, "and decrypts");

	/* restarted twice between two calls, and a call in the other session kind */
	t_ok(run("ROBUST_STOP_TCSD") == 0 && run("ROBUST_START_TCSD") == 0 &&
	     run("ROBUST_STOP_TCSD") == 0 && run("ROBUST_START_TCSD") == 0, "tcsd restarted twice more");
	rv = decrypt(h);
	if (rv != CKR_OK)
		rv = decrypt(h);
	t_rv(rv, CKR_OK, "C_Decrypt works again by the second call at the latest");
	MUST(F->C_Logout(h));
	MUST(F->C_CloseSession(h));
}

/* --- tcsd not running ----------------------------------------------------------------- */
static void tcsd_down(void)
{
	CK_SESSION_HANDLE h = p11t_open(slot, true);
	uint8_t rnd[16];
	CK_RV rv;
	long mark;

	MUST(login(h, USER_PIN));
	find_key(h);
	t_ok(run("ROBUST_STOP_TCSD") == 0, "tcsd stopped (by PID)");
	t_rv(sign(h), CKR_DEVICE_ERROR, "C_Sign while tcsd is down: CKR_DEVICE_ERROR");
	t_rv(F->C_GenerateRandom(h, rnd, sizeof(rnd)), CKR_DEVICE_ERROR, "C_GenerateRandom: CKR_DEVICE_ERROR");
	t_rv(F->C_Finalize(NULL), CKR_OK, "C_Finalize while tcsd is down");
	mark = log_size();
	rv = p11t_init();
	t_rv(rv, CKR_DEVICE_ERROR, "C_Initialize while tcsd is down: CKR_DEVICE_ERROR");
	t_ok(log_has(mark, "cannot reach tcsd at", tcsd), "the log line names the tcsd address (%s)", tcsd);
	if (rv == CKR_OK)
		F->C_Finalize(NULL);
	t_ok(run("ROBUST_START_TCSD") == 0, "tcsd started again");
	t_rv(p11t_init(), CKR_OK, "C_Initialize now succeeds");
	slot = p11t_slot_by_label("robust");
	h = p11t_open(slot, true);
	t_rv(login(h, USER_PIN), CKR_OK, "the token is there: C_Login");
	find_key(h);
	t_rv(sign(h), CKR_OK, "it signs");
	MUST(F->C_Logout(h));
	MUST(F->C_CloseSession(h));
}

/* --- the TPM's dictionary-attack lockout (last: it holds the whole TPM) ------------------- */
static void lockout(void)
{
	CK_SESSION_HANDLE h = p11t_open(slot, true);
	CK_FLAGS f, seen = 0;
	CK_RV rv = CKR_OK, right;
	int i, locked_at = 0;
	bool checked = false;
	double t0;
	char pin[32];

	for (i = 1; i <= 30; i++) {
		snprintf(pin, sizeof(pin), "wrong-pin-%d", i);
		rv = login(h, pin);
		f = flags();
		seen |= f & PIN_FLAGS;
		t_diag("wrong PIN %d: %s, flags%s%s%s", i, ckr(rv), f & CKF_USER_PIN_COUNT_LOW ? " COUNT_LOW" : "",
		       f & CKF_USER_PIN_FINAL_TRY ? " FINAL_TRY" : "", f & CKF_USER_PIN_LOCKED ? " LOCKED" : "");
		if (rv == CKR_PIN_LOCKED) {
			locked_at = i;
			break;
		}
		if (rv != CKR_PIN_INCORRECT)
			break;
		if ((f & CKF_USER_PIN_LOCKED) && !checked) {
			/* "User login to the token is not possible" (PKCS#11): is it? (A right PIN
			 * does not reset a TPM 1.2's count, so the loop goes on as before.) */
			checked = true;
			right = login(h, USER_PIN);
			if (right == CKR_OK)
				F->C_Logout(h);
			t_ok(right == CKR_PIN_LOCKED,
			     "when C_GetTokenInfo first says CKF_USER_PIN_LOCKED (after %d more wrong PINs), the right "
			     "PIN is refused: %s", i, ckr(right));
		}
	}
	if (!t_ok(locked_at > 0, "the TPM locks out after wrong PINs: CKR_PIN_LOCKED at try %d (last %s)", locked_at,
		  ckr(rv))) {
		F->C_CloseSession(h);
		return;
	}
	t_ok(seen & CKF_USER_PIN_FINAL_TRY, "CKF_USER_PIN_FINAL_TRY came before the lockout");
	t_ok(flags() & CKF_USER_PIN_LOCKED, "C_GetTokenInfo: CKF_USER_PIN_LOCKED");
	t_rv(login(h, USER_PIN), CKR_PIN_LOCKED, "the right PIN during the lockout: CKR_PIN_LOCKED");
	t_ok(log_has(0, "dictionary-attack lockout", NULL), "the log says the TPM is in dictionary-attack lockout");

	/* swtpm's TPM 1.2 waits a short, growing time before it takes an auth again */
	t0 = now();
	do {
		usleep(250 * 1000);
		rv = login(h, USER_PIN);
	} while (rv == CKR_PIN_LOCKED && now() - t0 < 60);
	t_rv(rv, CKR_OK, "the TPM's lockout wait ends (%.1f s): the right PIN logs in", now() - t0);
	if (rv == CKR_OK) {
		find_key(h);
		t_rv(sign(h), CKR_OK, "and signs");
		MUST(F->C_Logout(h));
	}
	t_ok(run("ROBUST_RESET_DA") == 0, "the TPM owner resets the dictionary-attack count (tpm_resetdalock)");
	t_eq(flags() & PIN_FLAGS, 0, "C_GetTokenInfo: no PIN counter flag after the reset");
	t_rv(login(h, USER_PIN), CKR_OK, "the user logs in");
	MUST(F->C_Logout(h));
	MUST(F->C_CloseSession(h));
}

int main(void)
{
	CK_SESSION_HANDLE h;

	tcsd = env("ROBUST_TCSD");
	logfile = env("ROBUST_LOG");
	p11t_load();
	MUST(p11t_init());
	slot = p11t_new_token("robust", SO_PIN, USER_PIN);
	h = p11t_open(slot, true);
	p11t_login(h, CKU_USER, USER_PIN);
	MUST(p11t_gen_rsa(h, 2048, "robust-key", &pubkey, &key));
	pub = p11t_evp_public(h, pubkey);
	if (!pub)
		t_bail("cannot read the public key");
	MUST(F->C_Logout(h));
	MUST(F->C_CloseSession(h));
	t_ok(true, "a token and an RSA-2048 key pair on the TPM 1.2 (tcsd at %s)", tcsd);

	wrong_pin();
	restart();
	tcsd_down();
	lockout();
	MUST(F->C_Finalize(NULL));
	EVP_PKEY_free(pub);
	return t_done();
}
