#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/unit.h"

struct unit_shared *unit_sh;
CK_FUNCTION_LIST_PTR unit_f;
TPMHA_FUNCTION_LIST *unit_v;

static const char *prog_name = "tpmha-bench", *module_path;
static bool in_child;

/* C_GetInterface's CK_INTERFACE (PKCS#11 3.0), which p11-kit's 2.40 header lacks. */
struct interface {
	CK_UTF8CHAR *name;
	void *functions;
	CK_FLAGS flags;
};

bool unit_init(const char *prog, const char *module)
{
	prog_name = prog;
	module_path = module;
	unit_sh = mmap(NULL, sizeof(*unit_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (unit_sh == MAP_FAILED) {
		unit_sh = NULL;
		return false;
	}
	return true;
}

void unit_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (unit_sh) {
		snprintf(unit_sh->err, sizeof(unit_sh->err), "%s", msg);
		unit_sh->ok = 0;
	}
	if (in_child)
		_exit(1);
	fprintf(stderr, "%s: %s\n", prog_name, msg);
	exit(1);
}

static void module_load(const char *conf)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_RV (*get_if)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, struct interface **, CK_FLAGS);
	struct interface *i = NULL;
	void *lib;

	setenv("TPMHA_CONF", conf, 1);
	lib = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		unit_fail("dlopen %s: %s", module_path, dlerror());
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	*(void **)&get_if = dlsym(lib, "C_GetInterface");
	if (!get || !get_if)
		unit_fail("%s: no C_GetFunctionList or C_GetInterface", module_path);
	UNIT_CK(get(&unit_f));
	UNIT_CK(get_if((CK_UTF8CHAR_PTR)TPMHA_INTERFACE_NAME, NULL, &i, 0));
	unit_v = i->functions;
	UNIT_CK(unit_f->C_Initialize(&args));
}

bool unit_run(const char *conf, void (*fn)(const void *), const void *arg)
{
	pid_t pid;
	int st = 0;

	memset(unit_sh, 0, sizeof(*unit_sh));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(unit_sh->err, sizeof(unit_sh->err), "fork failed");
		return false;
	}
	if (pid == 0) {
		in_child = true;
		unit_sh->ok = 1;
		module_load(conf);
		fn(arg);
		unit_f->C_Finalize(NULL);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !unit_sh->ok) {
		if (!unit_sh->err[0])
			snprintf(unit_sh->err, sizeof(unit_sh->err), "the unit's process died (status 0x%x)", st);
		return false;
	}
	return true;
}

void unit_label32(CK_UTF8CHAR out[32], const char *s)
{
	size_t n = strlen(s);

	memset(out, ' ', 32);
	memcpy(out, s, n < 32 ? n : 32);
}

CK_SLOT_ID unit_find_token(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_UTF8CHAR want[32];

	unit_label32(want, label);
	UNIT_CK(unit_f->C_GetSlotList(CK_TRUE, slots, &n));
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (unit_f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    memcmp(ti.label, want, sizeof(want)) == 0)
			return slots[i];
	}
	return (CK_SLOT_ID)-1;
}

uint8_t *unit_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(d = malloc((size_t)n + 1)) || fread(d, 1, (size_t)n, f) != (size_t)n)
		unit_fail("cannot read %s", path);
	fclose(f);
	*len = (size_t)n;
	return d;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double unit_median(const double *v, size_t n)
{
	double *s;
	double m;

	if (!n)
		return 0;
	s = malloc(n * sizeof(*s));
	if (!s)
		unit_fail("out of memory");
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}
