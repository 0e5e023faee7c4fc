/* Many threads (PKCS#11 v2.40 §5.4 locking, §6.6 sessions and threads): 16 threads
 * each with its own session signing with shared keys, concurrent C_OpenSession
 * never handing one handle to two threads, concurrent object creation and search;
 * once with the OS's locks and once with the application's mutex callbacks. Also
 * more keys in use than the TPM holds at once (swtpm: 3 transient objects) on the
 * direct TCTI: keys in rotation, from one thread and from several. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11t.h"

#define THREADS 16
#define ROUNDS 8
#define OPENERS 8
#define OPENS 64
#define ROTATION_KEYS 6

static CK_SLOT_ID slot;

struct key {
	CK_OBJECT_HANDLE pub, priv;
	CK_MECHANISM_TYPE mech;
	EVP_PKEY *evp;
};

static struct key keys[ROTATION_KEYS];

/* ---- application mutexes ---- */

static long app_locks;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static CK_RV app_create(CK_VOID_PTR_PTR out)
{
	pthread_mutex_t *m = malloc(sizeof(*m));

	if (!m)
		return CKR_HOST_MEMORY;
	pthread_mutex_init(m, NULL);
	*out = m;
	return CKR_OK;
}

static CK_RV app_destroy(CK_VOID_PTR m)
{
	pthread_mutex_destroy(m);
	free(m);
	return CKR_OK;
}

static CK_RV app_lock(CK_VOID_PTR m)
{
	pthread_mutex_lock(m);
	pthread_mutex_lock(&count_lock);
	app_locks++;
	pthread_mutex_unlock(&count_lock);
	return CKR_OK;
}

static CK_RV app_unlock(CK_VOID_PTR m)
{
	return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

/* ---- signers ---- */

struct signer {
	int id;
	int errors;
	CK_RV first_error;
};

static void note(struct signer *s, CK_RV rv)
{
	if (rv != CKR_OK && !s->errors++)
		s->first_error = rv;
}

static void *sign_thread(void *arg)
{
	struct signer *s = arg;
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv = F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h);

	note(s, rv);
	if (rv != CKR_OK)
		return NULL;
	for (int r = 0; r < ROUNDS; r++) {
		struct key *k = &keys[(s->id + r) % ROTATION_KEYS];
		CK_MECHANISM m = { k->mech, NULL, 0 };
		uint8_t data[64], sig[512];
		CK_ULONG sig_len = sizeof(sig);
		snprintf((char *)data, sizeof(data), "thread %d round %d", s->id, r);
		rv = p11t_sign(h, &m, k->priv, data, sizeof(data), sig, &sig_len);
		note(s, rv);
		if (rv == CKR_OK && !p11t_ossl_verify(k->evp, k->mech, NULL, data, sizeof(data), sig, sig_len))
			note(s, CKR_SIGNATURE_INVALID);
		if (r % 3 == 0) {
			/* a session object of our own, and a search, among the signing */
			CK_OBJECT_HANDLE o, found[8];
			char label[32];
			snprintf(label, sizeof(label), "t%d-r%d", s->id, r);
			note(s, p11t_data(h, label, false, false, &o));
			note(s, F->C_FindObjectsInit(h, NULL, 0));
			note(s, F->C_FindObjects(h, found, 8, &sig_len));
			note(s, F->C_FindObjectsFinal(h));
			if (p11t_find_label(h, CKO_DATA, label) != o)
				note(s, CKR_GENERAL_ERROR);
		}
	}
	note(s, F->C_CloseSession(h));
	return NULL;
}

static void run_signers(const char *what)
{
	pthread_t th[THREADS];
	struct signer s[THREADS];
	int errors = 0;
	CK_RV first = CKR_OK;

	for (int i = 0; i < THREADS; i++) {
		s[i] = (struct signer){ .id = i };
		pthread_create(&th[i], NULL, sign_thread, &s[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		if (s[i].errors && first == CKR_OK)
			first = s[i].first_error;
		errors += s[i].errors;
	}
	t_eq((unsigned long)errors, 0, "%s: %d threads x %d signatures over %d keys, verified by OpenSSL: no error%s%s",
	     what, THREADS, ROUNDS, ROTATION_KEYS, errors ? ", first: " : "", errors ? ckr(first) : "");
}

/* ---- concurrent C_OpenSession ---- */

struct opener {
	CK_SESSION_HANDLE handles[OPENS];
	int errors;
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;

	for (int i = 0; i < OPENS; i++)
		if (F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &o->handles[i]) != CKR_OK)
			o->errors++;
	return NULL;
}

static void *close_thread(void *arg)
{
	struct opener *o = arg;

	for (int i = 0; i < OPENS; i++)
		if (F->C_CloseSession(o->handles[i]) != CKR_OK)
			o->errors++;
	return NULL;
}

static int cmp_handle(const void *a, const void *b)
{
	CK_SESSION_HANDLE x = *(const CK_SESSION_HANDLE *)a, y = *(const CK_SESSION_HANDLE *)b;
	return x < y ? -1 : x > y;
}

static void run_openers(const char *what)
{
	static struct opener o[OPENERS];
	static CK_SESSION_HANDLE all[OPENERS * OPENS];
	pthread_t th[OPENERS];
	int errors = 0, dups = 0;
	CK_TOKEN_INFO info;

	memset(o, 0, sizeof(o));
	for (int i = 0; i < OPENERS; i++)
		pthread_create(&th[i], NULL, open_thread, &o[i]);
	for (int i = 0; i < OPENERS; i++) {
		pthread_join(th[i], NULL);
		errors += o[i].errors;
		memcpy(all + i * OPENS, o[i].handles, sizeof(o[i].handles));
	}
	t_eq((unsigned long)errors, 0, "%s: %d threads open %d sessions each", what, OPENERS, OPENS);
	qsort(all, OPENERS * OPENS, sizeof(all[0]), cmp_handle);
	for (int i = 1; i < OPENERS * OPENS; i++)
		dups += all[i] == all[i - 1];
	t_eq((unsigned long)dups, 0, "%s: no handle given twice", what);
	t_ok(all[0] != CK_INVALID_HANDLE, "%s: no CK_INVALID_HANDLE among them", what);
	MUST(F->C_GetTokenInfo(slot, &info));
	t_eq(info.ulSessionCount, OPENERS * OPENS + 1, "%s: ulSessionCount counts them all (and the main one)", what);
	for (int i = 0; i < OPENERS; i++) {
		o[i].errors = 0;
		pthread_create(&th[i], NULL, close_thread, &o[i]);
	}
	errors = 0;
	for (int i = 0; i < OPENERS; i++) {
		pthread_join(th[i], NULL);
		errors += o[i].errors;
	}
	t_eq((unsigned long)errors, 0, "%s: and close them concurrently", what);
	MUST(F->C_GetTokenInfo(slot, &info));
	t_eq(info.ulSessionCount, 1, "%s: only the main session is left", what);
}

static void make_keys(CK_SESSION_HANDLE h)
{
	char label[32];

	for (int i = 0; i < ROTATION_KEYS; i++) {
		snprintf(label, sizeof(label), "rotation-%d", i);
		if (i % 3 == 0) {
			MUST(p11t_gen_rsa(h, 2048, label, &keys[i].pub, &keys[i].priv));
			keys[i].mech = CKM_SHA256_RSA_PKCS;
		} else {
			MUST(p11t_gen_ec(h, i % 3 == 1 ? p11t_p256 : p11t_p384, i % 3 == 1 ? sizeof(p11t_p256) : sizeof(p11t_p384),
					 label, &keys[i].pub, &keys[i].priv));
			keys[i].mech = CKM_ECDSA_SHA256;
		}
		keys[i].evp = p11t_evp_public(h, keys[i].pub);
	}
}

/* One thread, 6 keys, 5 rounds: every signature needs a key the TPM may have evicted. */
static void rotation(CK_SESSION_HANDLE h)
{
	int errors = 0;
	CK_RV first = CKR_OK;

	for (int r = 0; r < 5; r++)
		for (int i = 0; i < ROTATION_KEYS; i++) {
			CK_MECHANISM m = { keys[i].mech, NULL, 0 };
			uint8_t sig[512];
			CK_ULONG sig_len = sizeof(sig);
			CK_RV rv = p11t_sign(h, &m, keys[i].priv, (const uint8_t *)"rotate", 6, sig, &sig_len);
			if (rv == CKR_OK && !p11t_ossl_verify(keys[i].evp, keys[i].mech, NULL, (const uint8_t *)"rotate", 6, sig, sig_len))
				rv = CKR_SIGNATURE_INVALID;
			if (rv != CKR_OK && !errors++)
				first = rv;
		}
	t_eq((unsigned long)errors, 0, "%d keys in rotation, 5 rounds, on a TPM with 3 object slots%s%s", ROTATION_KEYS,
	     errors ? ": first error " : "", errors ? ckr(first) : "");
	/* and two operations in flight on different keys in one session each */
	{
		CK_SESSION_HANDLE h2 = p11t_open(slot, false);
		CK_MECHANISM m0 = { keys[0].mech, NULL, 0 }, m1 = { keys[1].mech, NULL, 0 };
		uint8_t s0[512], s1[512];
		CK_ULONG l0 = sizeof(s0), l1 = sizeof(s1);
		MUST(F->C_SignInit(h, &m0, keys[0].priv));
		MUST(F->C_SignInit(h2, &m1, keys[1].priv));
		for (int i = 2; i < ROTATION_KEYS; i++) {
			CK_MECHANISM m = { keys[i].mech, NULL, 0 };
			uint8_t sig[512];
			CK_ULONG sig_len = sizeof(sig);
			CK_SESSION_HANDLE h3 = p11t_open(slot, false);
			MUST(p11t_sign(h3, &m, keys[i].priv, (const uint8_t *)"x", 1, sig, &sig_len));
			MUST(F->C_CloseSession(h3));
		}
		MUST(F->C_SignUpdate(h, (CK_BYTE_PTR)"abc", 3));
		MUST(F->C_SignUpdate(h2, (CK_BYTE_PTR)"abc", 3));
		t_ok(F->C_SignFinal(h, s0, &l0) == CKR_OK && F->C_SignFinal(h2, s1, &l1) == CKR_OK &&
			     p11t_ossl_verify(keys[0].evp, keys[0].mech, NULL, (const uint8_t *)"abc", 3, s0, l0) &&
			     p11t_ossl_verify(keys[1].evp, keys[1].mech, NULL, (const uint8_t *)"abc", 3, s1, l1),
		     "two operations started before 4 other keys were used still finish");
		MUST(F->C_CloseSession(h2));
	}
}

int main(void)
{
	CK_SESSION_HANDLE main_session;
	CK_C_INITIALIZE_ARGS app = { app_create, app_destroy, app_lock, app_unlock, 0, NULL };

	p11t_load();
	MUST(p11t_init());
	slot = p11t_new_token("threads", SO_PIN, USER_PIN);
	main_session = p11t_open(slot, true);
	p11t_login(main_session, CKU_USER, USER_PIN);
	make_keys(main_session);
	rotation(main_session);
	run_signers("OS locking");
	run_openers("OS locking");
	MUST(F->C_Finalize(NULL));

	/* the same with the application's mutexes */
	t_rv(F->C_Initialize(&app), CKR_OK, "C_Initialize with the application's mutexes");
	main_session = p11t_open(slot, false);
	p11t_login(main_session, CKU_USER, USER_PIN);
	for (int i = 0; i < ROTATION_KEYS; i++) {
		char label[32];
		snprintf(label, sizeof(label), "rotation-%d", i);
		keys[i].priv = p11t_find_label(main_session, CKO_PRIVATE_KEY, label);
	}
	app_locks = 0;
	run_signers("application mutexes");
	run_openers("application mutexes");
	t_ok(app_locks > THREADS * ROUNDS, "the application's LockMutex was used (%ld times)", app_locks);
	MUST(F->C_Finalize(NULL));
	for (int i = 0; i < ROTATION_KEYS; i++)
		EVP_PKEY_free(keys[i].evp);
	return t_done();
}
