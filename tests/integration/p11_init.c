/* The library's front door (PKCS#11 v2.40 §5.4): C_GetFunctionList, every function
 * before C_Initialize and after C_Finalize, CK_C_INITIALIZE_ARGS (half the mutex
 * callbacks, pReserved, the application's mutexes really used, a CreateMutex that
 * fails), double initialization, C_GetInfo, bad configurations. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11t.h"

/* ---- application mutexes, counted ---- */

#define MUTEX_MAGIC 0x6d757478u

struct app_mutex {
	unsigned magic;
	pthread_mutex_t m;
	int held;
};

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long creates, destroys, locks, unlocks, misuse;
static bool fail_create;

static CK_RV app_create(CK_VOID_PTR_PTR out)
{
	struct app_mutex *m;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	if (fail_create)
		return CKR_HOST_MEMORY;
	m = calloc(1, sizeof(*m));
	if (!m)
		return CKR_HOST_MEMORY;
	m->magic = MUTEX_MAGIC;
	pthread_mutex_init(&m->m, NULL);
	pthread_mutex_lock(&count_lock);
	creates++;
	pthread_mutex_unlock(&count_lock);
	*out = m;
	return CKR_OK;
}

static CK_RV app_destroy(CK_VOID_PTR p)
{
	struct app_mutex *m = p;

	pthread_mutex_lock(&count_lock);
	if (!m || m->magic != MUTEX_MAGIC || m->held)
		misuse++;
	destroys++;
	pthread_mutex_unlock(&count_lock);
	if (!m || m->magic != MUTEX_MAGIC)
		return CKR_MUTEX_BAD;
	m->magic = 0;
	pthread_mutex_destroy(&m->m);
	free(m);
	return CKR_OK;
}

static CK_RV app_lock(CK_VOID_PTR p)
{
	struct app_mutex *m = p;

	if (!m || m->magic != MUTEX_MAGIC) {
		pthread_mutex_lock(&count_lock);
		misuse++;
		pthread_mutex_unlock(&count_lock);
		return CKR_MUTEX_BAD;
	}
	pthread_mutex_lock(&m->m);
	m->held = 1;
	pthread_mutex_lock(&count_lock);
	locks++;
	pthread_mutex_unlock(&count_lock);
	return CKR_OK;
}

static CK_RV app_unlock(CK_VOID_PTR p)
{
	struct app_mutex *m = p;

	pthread_mutex_lock(&count_lock);
	if (!m || m->magic != MUTEX_MAGIC || !m->held)
		misuse++;
	else
		unlocks++;
	pthread_mutex_unlock(&count_lock);
	if (!m || m->magic != MUTEX_MAGIC || !m->held)
		return CKR_MUTEX_NOT_LOCKED;
	m->held = 0;
	pthread_mutex_unlock(&m->m);
	return CKR_OK;
}

static bool initialized(void)
{
	CK_INFO info;
	return F->C_GetInfo(&info) == CKR_OK;
}

/* Some work that takes the module's locks. */
static void some_work(const char *what)
{
	CK_SLOT_ID slot = p11t_slot_by_label("init-test");
	CK_SESSION_HANDLE h = p11t_open(slot, false);
	CK_OBJECT_HANDLE found[4];
	CK_BYTE rnd[16];

	p11t_find(h, NULL, 0, found, 4);
	t_rv(F->C_GenerateRandom(h, rnd, sizeof(rnd)), CKR_OK, "%s: C_GenerateRandom", what);
	MUST(F->C_CloseSession(h));
}

static void test_function_list(void)
{
	CK_FUNCTION_LIST_PTR again = NULL;
	CK_VOID_PTR *fn;
	size_t nfn = (sizeof(CK_FUNCTION_LIST) - sizeof(CK_VERSION)) / sizeof(CK_VOID_PTR);
	size_t missing = 0;

	t_eq(F->version.major, 2, "function list version major");
	t_eq(F->version.minor, 40, "function list version minor");
	t_rv(F->C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD, "C_GetFunctionList(NULL)");
	t_rv(F->C_GetFunctionList(&again), CKR_OK, "C_GetFunctionList again");
	t_ok(again == F, "the same list every time");
	fn = (CK_VOID_PTR *)&F->C_Initialize;
	for (size_t i = 0; i < nfn; i++)
		if (!fn[i])
			missing++;
	t_eq(missing, 0, "all %zu function pointers are set", nfn);
}

static void test_initialize_args(void)
{
	CK_C_INITIALIZE_ARGS a;
	CK_CREATEMUTEX c = app_create;
	CK_DESTROYMUTEX d = app_destroy;
	CK_LOCKMUTEX l = app_lock;
	CK_UNLOCKMUTEX u = app_unlock;
	int reserved;

	memset(&a, 0, sizeof(a));
	a.pReserved = &reserved;
	t_rv(F->C_Initialize(&a), CKR_ARGUMENTS_BAD, "C_Initialize with pReserved set");
	t_ok(!initialized(), "... leaves the library uninitialized");
	for (int mask = 1; mask < 15; mask++) {
		memset(&a, 0, sizeof(a));
		a.CreateMutex = mask & 1 ? c : NULL;
		a.DestroyMutex = mask & 2 ? d : NULL;
		a.LockMutex = mask & 4 ? l : NULL;
		a.UnlockMutex = mask & 8 ? u : NULL;
		t_rv(F->C_Initialize(&a), CKR_ARGUMENTS_BAD, "C_Initialize with mutex callbacks %x of f", mask);
		a.flags = CKF_OS_LOCKING_OK;
		t_rv(F->C_Initialize(&a), CKR_ARGUMENTS_BAD, "... and with CKF_OS_LOCKING_OK");
	}
	t_ok(!initialized(), "still uninitialized");

	memset(&a, 0, sizeof(a));
	t_rv(F->C_Initialize(&a), CKR_OK, "C_Initialize with empty args (no threads)");
	t_rv(F->C_Initialize(&a), CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize twice");
	t_rv(F->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize(NULL) twice");
	t_rv(F->C_Finalize(&a), CKR_ARGUMENTS_BAD, "C_Finalize with pReserved non-NULL");
	t_ok(initialized(), "... does not finalize");
	t_rv(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	t_rv(F->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize twice");

	a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	t_rv(F->C_Initialize(&a), CKR_OK, "C_Initialize with CKF_LIBRARY_CANT_CREATE_OS_THREADS");
	some_work("no OS threads");
	MUST(F->C_Finalize(NULL));
}

static void test_app_mutexes(void)
{
	CK_C_INITIALIZE_ARGS a = { app_create, app_destroy, app_lock, app_unlock, 0, NULL };

	creates = destroys = locks = unlocks = misuse = 0;
	t_rv(F->C_Initialize(&a), CKR_OK, "C_Initialize with the application's mutexes only");
	some_work("application mutexes");
	t_ok(creates > 0, "CreateMutex was called (%ld)", creates);
	t_ok(locks > 0, "LockMutex was called (%ld)", locks);
	t_eq((unsigned long)unlocks, (unsigned long)locks, "every lock was unlocked");
	MUST(F->C_Finalize(NULL));
	t_eq((unsigned long)destroys, (unsigned long)creates, "C_Finalize destroyed every mutex it created");
	t_eq((unsigned long)misuse, 0, "no unknown, double-unlocked or held mutex was used");

	/* Both: the library may choose; it must still work. */
	creates = destroys = locks = unlocks = misuse = 0;
	a.flags = CKF_OS_LOCKING_OK;
	t_rv(F->C_Initialize(&a), CKR_OK, "C_Initialize with the application's mutexes and CKF_OS_LOCKING_OK");
	some_work("either locking");
	MUST(F->C_Finalize(NULL));
	t_eq((unsigned long)destroys, (unsigned long)creates, "... every mutex created was destroyed");
	t_eq((unsigned long)unlocks, (unsigned long)locks, "... every lock was unlocked");
	t_eq((unsigned long)misuse, 0, "... no misuse");

	/* CreateMutex fails: C_Initialize fails cleanly, and a later one works. */
	creates = destroys = locks = unlocks = misuse = 0;
	fail_create = true;
	a.flags = 0;
	{
		CK_RV rv = F->C_Initialize(&a);
		t_ok(rv == CKR_HOST_MEMORY || rv == CKR_CANT_LOCK || rv == CKR_GENERAL_ERROR,
		     "C_Initialize when CreateMutex fails: %s", ckr(rv));
	}
	fail_create = false;
	t_ok(!initialized(), "... leaves the library uninitialized");
	t_eq((unsigned long)destroys, (unsigned long)creates, "... and no mutex behind");
	t_rv(p11t_init(), CKR_OK, "C_Initialize afterwards");
	some_work("after a failed C_Initialize");
	MUST(F->C_Finalize(NULL));
}

static void test_get_info(void)
{
	CK_INFO info;

	MUST(p11t_init());
	t_rv(F->C_GetInfo(NULL), CKR_ARGUMENTS_BAD, "C_GetInfo(NULL)");
	memset(&info, 0xa5, sizeof(info));
	t_rv(F->C_GetInfo(&info), CKR_OK, "C_GetInfo");
	t_eq(info.cryptokiVersion.major, 2, "cryptokiVersion 2.x");
	t_eq(info.cryptokiVersion.minor, 40, "cryptokiVersion x.40");
	t_ok(memcmp(info.manufacturerID, "tpmha", 5) == 0, "manufacturerID");
	{
		bool padded = true;
		for (size_t i = 5; i < sizeof(info.manufacturerID); i++)
			padded = padded && info.manufacturerID[i] == ' ';
		for (size_t i = 0; i < sizeof(info.libraryDescription); i++)
			padded = padded && info.libraryDescription[i] >= ' ' && info.libraryDescription[i] < 0x7f;
		t_ok(padded, "strings blank padded, not NUL terminated");
	}
	t_eq(info.flags, 0, "flags 0");
	MUST(F->C_Finalize(NULL));
}

static void test_cycles(void)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h = 0;
	CK_SESSION_INFO si;
	bool ok = true;

	for (int i = 0; i < 5 && ok; i++) {
		ok = p11t_init() == CKR_OK;
		slot = p11t_slot_by_label("init-test");
		if (h)
			ok = ok && F->C_GetSessionInfo(h, &si) == CKR_SESSION_HANDLE_INVALID;
		h = p11t_open(slot, true);
		p11t_login(h, CKU_USER, USER_PIN);
		ok = ok && F->C_Finalize(NULL) == CKR_OK;
	}
	t_ok(ok, "5 cycles of C_Initialize, C_OpenSession, C_Login, C_Finalize; old handles invalid");
}

/* Run C_Initialize with stderr captured; the captured text in *text. */
static CK_RV init_capturing(char *text, size_t size)
{
	char path[4096];
	int fd, saved;
	ssize_t n;
	CK_RV rv;

	snprintf(path, sizeof(path), "%s/stderr.txt", getenv("ITEST_DIR") ? getenv("ITEST_DIR") : "/tmp");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	rv = p11t_init();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, text, size - 1);
	text[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return rv;
}

/* The module log may be the file of an earlier C_Initialize, or stderr. */
static bool logged(const char *captured, const char *needle1, const char *needle2)
{
	const char *log_path = getenv("ITEST_LOG");
	char line[4096];
	bool found = strstr(captured, needle1) && strstr(captured, needle2);
	FILE *f = log_path ? fopen(log_path, "r") : NULL;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle1) && strstr(line, needle2);
	if (f)
		fclose(f);
	return found;
}

static void test_bad_config(void)
{
	const char *good = getenv("TPMHA_CONF");
	const char *dir = getenv("ITEST_DIR");
	char bad[4096], where[4200], text[8192];
	FILE *f;
	CK_RV rv;

	if (!good || !dir) {
		t_skip("TPMHA_CONF and ITEST_DIR come from the test wrapper", "bad configurations");
		return;
	}
	snprintf(bad, sizeof(bad), "%s/bad.conf", dir);
	f = fopen(bad, "w");
	fprintf(f, "# a bad configuration\ntcti = swtpm\nno_such_key = 1\n");
	fclose(f);
	setenv("TPMHA_CONF", bad, 1);
	rv = init_capturing(text, sizeof(text));
	t_rv(rv, CKR_FUNCTION_FAILED, "C_Initialize with an unknown key in the configuration");
	snprintf(where, sizeof(where), "%s:3", bad);
	t_ok(logged(text, where, "unknown key"), "one log line names %s and the problem", where);
	t_ok(!initialized(), "... and the library is not initialized");

	snprintf(bad, sizeof(bad), "%s/missing.conf", dir);
	setenv("TPMHA_CONF", bad, 1);
	t_rv(init_capturing(text, sizeof(text)), CKR_FUNCTION_FAILED, "C_Initialize with a missing TPMHA_CONF file");
	t_ok(logged(text, bad, "cannot read"), "the log names the missing file");

	setenv("TPMHA_CONF", good, 1);
	setenv("TPMHA_STORE", "relative/store", 1);
	t_rv(init_capturing(text, sizeof(text)), CKR_FUNCTION_FAILED, "C_Initialize with a relative TPMHA_STORE");
	unsetenv("TPMHA_STORE");
	setenv("TPMHA_LOG_LEVEL", "loud", 1);
	t_rv(init_capturing(text, sizeof(text)), CKR_FUNCTION_FAILED, "C_Initialize with a bad TPMHA_LOG_LEVEL");
	unsetenv("TPMHA_LOG_LEVEL");

	/* a TPM that is not there */
	setenv("TPMHA_TCTI", "swtpm:host=127.0.0.1,port=9", 1);
	rv = init_capturing(text, sizeof(text));
	t_ok(rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize with no TPM behind TPMHA_TCTI fails: %s",
	     ckr(rv));
	t_ok(!initialized(), "... and the library is not initialized");
	unsetenv("TPMHA_TCTI");
	/* a store the process cannot create */
	setenv("TPMHA_STORE", "/proc/tpmha-store", 1);
	t_rv(init_capturing(text, sizeof(text)), CKR_FUNCTION_FAILED, "C_Initialize with a store that cannot be created");
	unsetenv("TPMHA_STORE");

	t_rv(p11t_init(), CKR_OK, "C_Initialize with the good configuration again");
	some_work("after bad configurations");
	MUST(F->C_Finalize(NULL));
}

int main(void)
{
	CK_SLOT_ID slot;

	p11t_load();
	test_function_list();
	p11t_all_uninitialized("before C_Initialize", 1, 1, 1);

	/* a token for the rest */
	MUST(p11t_init());
	slot = p11t_new_token("init-test", SO_PIN, USER_PIN);
	MUST(F->C_Finalize(NULL));
	p11t_all_uninitialized("after C_Finalize", slot, 1, 1);

	test_initialize_args();

	test_app_mutexes();
	test_get_info();
	test_cycles();
	test_bad_config();
	return t_done();
}
