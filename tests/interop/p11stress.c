/*
 * p11stress: many threads (and, run several times at once, many processes)
 * using one PKCS#11 token, counting every error.
 *
 * The module is loaded with dlopen and initialized with CKF_OS_LOCKING_OK.
 * The main thread logs in (login state is shared by all sessions of the
 * application) and computes a reference RSA signature per key; then each
 * thread opens its own session and, for ITER rounds, signs with every key in
 * turn: RSA SHA256-RSA-PKCS signatures must equal the reference byte for byte
 * (PKCS#1 v1.5 is deterministic, so a mixed-up key, buffer or session shows),
 * ECDSA signatures must pass C_Verify with the public key. Each thread also
 * draws random bytes and creates OBJS token data objects, reads each back and
 * finds it by label. Using more keys than the TPM has transient slots makes
 * the module load and evict keys all the time.
 *
 * With -S FILE the process prints "ready" once it is initialized, logged in
 * and has its reference signatures, and waits until FILE exists before the
 * threads start: several processes then really work at the same time.
 *
 * Watch mode (-W FILE) checks that objects created by other processes appear
 * in this process's C_FindObjects without C_Finalize/C_Initialize: it counts
 * the data objects whose label starts with PREFIX, waits until FILE exists,
 * and counts again.
 *
 * Output: one "key=value" summary line on stdout; details of errors on
 * stderr. Exit status 0 only with zero errors.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define MAX_KEYS 16
#define MAX_THREADS 64
#define MAX_SIG 1024

struct key {
	char label[64];
	int is_rsa;
	CK_OBJECT_HANDLE priv, pub; /* handles valid in every session of the application */
	unsigned char ref[MAX_SIG];
	CK_ULONG ref_len;
};

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static struct key keys[MAX_KEYS];
static int nkeys;
static int iterations = 20, nthreads = 4, nobjects = 5;
static const char *tag = NULL;
static unsigned char message[256];

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long errors, signs, verifies, objects_made;
static pthread_barrier_t opened;
static CK_SESSION_HANDLE thread_session[MAX_THREADS];

static void fail(int thread, const char *what, CK_RV rv, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(int thread, const char *what, CK_RV rv, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&err_lock);
	errors++;
	fprintf(stderr, "thread %d: %s: rv 0x%08lx", thread, what, (unsigned long)rv);
	if (fmt) {
		fputs(" ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	}
	fputc('\n', stderr);
	pthread_mutex_unlock(&err_lock);
}

static void count(unsigned long *counter, unsigned long n)
{
	pthread_mutex_lock(&err_lock);
	*counter += n;
	pthread_mutex_unlock(&err_lock);
}

static int find_one(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CK_RV rv;

	rv = p11->C_FindObjectsInit(s, tmpl, 2);
	if (rv != CKR_OK)
		return -(int)rv - 1;
	rv = p11->C_FindObjects(s, h, 2, &n);
	p11->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return -(int)rv - 1;
	if (n == 1)
		*out = h[0];
	return (int)n;
}

static CK_RV sign(CK_SESSION_HANDLE s, const struct key *k, unsigned char *sig, CK_ULONG *len)
{
	CK_MECHANISM m = { k->is_rsa ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0 };
	CK_RV rv;

	rv = p11->C_SignInit(s, &m, k->priv);
	if (rv != CKR_OK)
		return rv;
	*len = MAX_SIG;
	/* ECDSA signs a hash-sized input; any 32 bytes of the message do. */
	return p11->C_Sign(s, message, k->is_rsa ? sizeof message : 32, sig, len);
}

static CK_RV verify(CK_SESSION_HANDLE s, const struct key *k, unsigned char *sig, CK_ULONG len)
{
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_RV rv;

	rv = p11->C_VerifyInit(s, &m, k->pub);
	if (rv != CKR_OK)
		return rv;
	return p11->C_Verify(s, message, 32, sig, len);
}

static void make_objects(int t, CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char value[48], back[48];
	char label[96];
	int i, n;
	CK_RV rv;

	for (i = 0; i < nobjects; i++) {
		CK_OBJECT_HANDLE h, found = CK_INVALID_HANDLE;
		snprintf(label, sizeof label, "stress-%s-%d-%d", tag, t, i);
		rv = p11->C_GenerateRandom(s, value, sizeof value);
		if (rv != CKR_OK) {
			fail(t, "C_GenerateRandom", rv, NULL);
			continue;
		}
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof cls },
			{ CKA_TOKEN, &yes, sizeof yes },
			{ CKA_PRIVATE, &no, sizeof no },
			{ CKA_LABEL, label, strlen(label) },
			{ CKA_VALUE, value, sizeof value },
		};
		rv = p11->C_CreateObject(s, tmpl, 5, &h);
		if (rv != CKR_OK) {
			fail(t, "C_CreateObject", rv, "%s", label);
			continue;
		}
		CK_ATTRIBUTE get = { CKA_VALUE, back, sizeof back };
		rv = p11->C_GetAttributeValue(s, h, &get, 1);
		if (rv != CKR_OK || get.ulValueLen != sizeof value || memcmp(back, value, sizeof value)) {
			fail(t, "C_GetAttributeValue(CKA_VALUE)", rv, "%s reads back wrong", label);
			continue;
		}
		n = find_one(s, CKO_DATA, label, &found);
		if (n != 1 || found != h) {
			fail(t, "C_FindObjects", CKR_OK, "%s: %d matches", label, n);
			continue;
		}
		count(&objects_made, 1);
	}
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg, i, k;
	CK_SESSION_HANDLE s;
	unsigned char sig[MAX_SIG], rnd[16];
	CK_ULONG len;
	CK_RV rv;

	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		fail(t, "C_OpenSession", rv, NULL);
		s = CK_INVALID_HANDLE;
	}
	thread_session[t] = s;
	/* Everyone opens at once; the main thread then checks the handles. */
	pthread_barrier_wait(&opened);
	if (s == CK_INVALID_HANDLE)
		return NULL;
	for (i = 0; i < iterations; i++) {
		for (k = 0; k < nkeys; k++) {
			const struct key *key = &keys[(k + t) % nkeys];
			rv = sign(s, key, sig, &len);
			if (rv != CKR_OK) {
				fail(t, "C_Sign", rv, "key %s round %d", key->label, i);
				continue;
			}
			count(&signs, 1);
			if (key->is_rsa) {
				if (len != key->ref_len || memcmp(sig, key->ref, len))
					fail(t, "C_Sign", rv, "key %s round %d: signature differs from the reference", key->label, i);
			} else {
				rv = verify(s, key, sig, len);
				if (rv != CKR_OK)
					fail(t, "C_Verify", rv, "key %s round %d", key->label, i);
				else
					count(&verifies, 1);
			}
		}
		rv = p11->C_GenerateRandom(s, rnd, sizeof rnd);
		if (rv != CKR_OK)
			fail(t, "C_GenerateRandom", rv, NULL);
	}
	make_objects(t, s);
	rv = p11->C_CloseSession(s);
	if (rv != CKR_OK)
		fail(t, "C_CloseSession", rv, NULL);
	return NULL;
}

static int count_prefixed(CK_SESSION_HANDLE s, const char *prefix)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof cls };
	CK_OBJECT_HANDLE h[64];
	CK_ULONG n, j;
	int total = 0;
	char label[128];
	CK_RV rv;

	rv = p11->C_FindObjectsInit(s, &tmpl, 1);
	if (rv != CKR_OK)
		return -1;
	do {
		rv = p11->C_FindObjects(s, h, 64, &n);
		if (rv != CKR_OK)
			break;
		for (j = 0; j < n; j++) {
			CK_ATTRIBUTE a = { CKA_LABEL, label, sizeof label - 1 };
			if (p11->C_GetAttributeValue(s, h[j], &a, 1) == CKR_OK &&
			    a.ulValueLen >= strlen(prefix) && !memcmp(label, prefix, strlen(prefix)))
				total++;
		}
	} while (n > 0);
	p11->C_FindObjectsFinal(s);
	return rv == CKR_OK ? total : -1;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: p11stress [-m MODULE] [-t TOKEN] [-p PIN] [-T THREADS] [-n ITER] [-o OBJS]\n"
		"                 [-x TAG] [-S START-FILE] -r RSA-LABEL... -e EC-LABEL...\n"
		"       p11stress [-m MODULE] [-t TOKEN] -W FILE -P PREFIX\n"
		"MODULE, TOKEN and PIN default to $MODULE, $TOKEN_LABEL and $PIN.\n");
	return 2;
}

static int find_slot(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	size_t len = strlen(label);

	if (p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (len <= sizeof ti.label && !memcmp(ti.label, label, len)) {
			size_t j;
			for (j = len; j < sizeof ti.label && ti.label[j] == ' '; j++)
				;
			if (j == sizeof ti.label) {
				slot = slots[i];
				return 0;
			}
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *module = getenv("MODULE"), *token = getenv("TOKEN_LABEL"), *pin = getenv("PIN");
	const char *watch = NULL, *prefix = "stress-", *start = NULL;
	char tagbuf[32];
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS init = { NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL };
	CK_SESSION_HANDLE main_s;
	pthread_t th[MAX_THREADS];
	void *dl;
	int c, i, j, dup = 0;
	CK_RV rv;
	struct timespec t0, t1;

	while ((c = getopt(argc, argv, "m:t:p:T:n:o:x:r:e:W:P:S:")) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 't': token = optarg; break;
		case 'p': pin = optarg; break;
		case 'T': nthreads = atoi(optarg); break;
		case 'n': iterations = atoi(optarg); break;
		case 'o': nobjects = atoi(optarg); break;
		case 'x': tag = optarg; break;
		case 'W': watch = optarg; break;
		case 'P': prefix = optarg; break;
		case 'S': start = optarg; break;
		case 'r':
		case 'e':
			if (nkeys == MAX_KEYS)
				return usage();
			snprintf(keys[nkeys].label, sizeof keys[nkeys].label, "%s", optarg);
			keys[nkeys++].is_rsa = c == 'r';
			break;
		default:
			return usage();
		}
	}
	if (!module || !token || (!watch && (!pin || nkeys == 0)) || nthreads < 1 || nthreads > MAX_THREADS)
		return usage();
	if (!tag) {
		snprintf(tagbuf, sizeof tagbuf, "%ld", (long)getpid());
		tag = tagbuf;
	}
	for (i = 0; i < (int)sizeof message; i++)
		message[i] = (unsigned char)(i * 7 + 1);

	dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "dlopen %s: %s\n", module, dlerror());
		return 1;
	}
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (!get || get(&p11) != CKR_OK) {
		fprintf(stderr, "%s: no C_GetFunctionList\n", module);
		return 1;
	}
	rv = p11->C_Initialize(&init);
	if (rv != CKR_OK) {
		fprintf(stderr, "C_Initialize(CKF_OS_LOCKING_OK): rv 0x%08lx\n", (unsigned long)rv);
		return 1;
	}
	if (find_slot(token)) {
		CK_SLOT_ID slots[64];
		CK_ULONG n = 64, k;
		CK_TOKEN_INFO ti;
		fprintf(stderr, "no token labelled '%s'; tokens:\n", token);
		if ((rv = p11->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
			fprintf(stderr, "  C_GetSlotList: rv 0x%08lx\n", (unsigned long)rv);
		else
			for (k = 0; k < n; k++) {
				rv = p11->C_GetTokenInfo(slots[k], &ti);
				fprintf(stderr, "  slot %lu: rv 0x%08lx label '%.32s'\n", (unsigned long)slots[k],
					(unsigned long)rv, rv == CKR_OK ? (const char *)ti.label : "");
			}
		return 1;
	}
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &main_s);
	if (rv != CKR_OK) {
		fprintf(stderr, "C_OpenSession: rv 0x%08lx\n", (unsigned long)rv);
		return 1;
	}

	if (watch) {
		int before = count_prefixed(main_s, prefix), after, waited = 0;
		printf("before=%d\n", before);
		fflush(stdout);
		while (access(watch, F_OK) != 0 && waited < 2400) {
			usleep(50000);
			waited++;
		}
		after = count_prefixed(main_s, prefix);
		printf("after=%d\n", after);
		p11->C_CloseSession(main_s);
		p11->C_Finalize(NULL);
		return before < 0 || after < 0 || waited >= 2400;
	}

	rv = p11->C_Login(main_s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK) {
		fprintf(stderr, "C_Login: rv 0x%08lx\n", (unsigned long)rv);
		return 1;
	}
	for (i = 0; i < nkeys; i++) {
		struct key *k = &keys[i];
		if (find_one(main_s, CKO_PRIVATE_KEY, k->label, &k->priv) != 1 ||
		    find_one(main_s, CKO_PUBLIC_KEY, k->label, &k->pub) != 1) {
			fprintf(stderr, "key pair '%s' not found (exactly one private and one public key)\n", k->label);
			return 1;
		}
		if (k->is_rsa) {
			rv = sign(main_s, k, k->ref, &k->ref_len);
			if (rv != CKR_OK) {
				fprintf(stderr, "reference signature with %s: rv 0x%08lx\n", k->label, (unsigned long)rv);
				return 1;
			}
		}
	}

	if (start) {
		int waited = 0;
		printf("ready\n");
		fflush(stdout);
		while (access(start, F_OK) != 0 && waited < 2400) {
			usleep(20000);
			waited++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_barrier_init(&opened, NULL, (unsigned)nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i)) {
			fprintf(stderr, "pthread_create: %s\n", strerror(errno));
			return 1;
		}
	}
	pthread_barrier_wait(&opened);
	/* Every session open at the same time: no handle may be given twice. */
	for (i = 0; i < nthreads; i++) {
		if (thread_session[i] == main_s && thread_session[i] != CK_INVALID_HANDLE)
			dup++;
		for (j = i + 1; j < nthreads; j++)
			if (thread_session[i] == thread_session[j] && thread_session[i] != CK_INVALID_HANDLE)
				dup++;
	}
	if (dup)
		fail(-1, "C_OpenSession", CKR_OK, "%d session handles handed out twice", dup);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	rv = p11->C_Logout(main_s);
	if (rv != CKR_OK)
		fail(-1, "C_Logout", rv, NULL);
	p11->C_CloseSession(main_s);
	rv = p11->C_Finalize(NULL);
	if (rv != CKR_OK)
		fail(-1, "C_Finalize", rv, NULL);
	printf("threads=%d keys=%d signs=%lu verifies=%lu objects=%lu duplicate_sessions=%d errors=%lu seconds=%.2f\n",
	       nthreads, nkeys, signs, verifies, objects_made, dup, errors,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	dlclose(dl);
	return errors != 0;
}
