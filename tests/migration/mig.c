/* The migration test driver: shared plumbing and the command table (see mig.h).
 *
 *   mig COMMAND [--expect CKR_NAME] [--log TEXT]... ARGS...
 *
 * --expect is what the step's main call must return (default CKR_OK); each --log
 * is text one line of the module's log must contain after the step (the refusal's
 * explanation). Commands:
 *
 *   software (no unit):
 *     domain MA.pem OUT LABEL           a domain file for the MA key
 *     approve MA.pem DOMAIN UNIT OUT    the MA's approval of UNIT (signed with MA.pem)
 *     mutate IN OUT OP...               a damaged copy (see mig_files.c)
 *   a unit (TPMHA_CONF):
 *     identity OUT LABEL                this unit's identity file
 *     init-token DOMAIN LABEL           a domain token, SO and user PIN (p11t.h)
 *     populate LABEL DIR                RSA-2048 and P-256 key pairs, a certificate,
 *                                       a public and a private data object; the
 *                                       public keys and certificate go to DIR
 *     genkey LABEL rsa|ec NAME DIR      one more key pair
 *     add LABEL unit|approval FILE      C_CreateObject of a unit or approval object
 *     replicate LABEL UNIT OUT          TPMHA_ReplicateToken to UNIT's object
 *     wrap LABEL UNIT KEY OUT           C_WrapKey(CKM_TPMHA_MIGRATE) of one key
 *     receive BUNDLE [DOMAIN]           TPMHA_ReceiveBundle
 *     unwrap LABEL BUNDLE               C_UnwrapKey with this unit's own unit object
 *     use LABEL DIR [KEY...]            the keys sign and decrypt here as DIR's public
 *                                       keys expect; certificate and data objects
 *     login LABEL PIN                   C_Login as the user
 *     flip-all BUNDLE DOMAIN [MASK...]  every byte flipped, every truncation
 *   a TPM, tpmha bypassed (ESYS; no module on that TPM meanwhile):
 *     esys-duplicate TCTI STORE DOMAIN APPROVAL UNIT_OK UNIT_OTHER
 *     esys-sign TCTI STORE DOMAIN MA.pem */
#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <sqlite3.h>

#include "common/log.h"
#include "common/ossl.h"
#include "migration/files.h"
#include "tests/migration/mig.h"

TPMHA_FUNCTION_LIST *V;

/* ---- files ---- */

uint8_t *file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long size;

	if (!f)
		t_bail("cannot read %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(data = malloc((size_t)size + 1)) || fread(data, 1, (size_t)size, f) != (size_t)size)
		t_bail("cannot read %s", path);
	fclose(f);
	*len = (size_t)size;
	return data;
}

void file_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		t_bail("cannot write %s", path);
}

EVP_PKEY *pem_private(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	if (!k)
		t_bail("cannot read the private key in %s", path);
	return k;
}

/* ---- the module ---- */

/* PKCS#11 3.0's CK_INTERFACE (this p11-kit's header predates it). */
struct interface {
	CK_UTF8CHAR *name;
	void *functions;
	CK_FLAGS flags;
};

void mod_start(void)
{
	CK_RV (*get_interface)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, struct interface **, CK_FLAGS);
	struct interface *iface = NULL;
	void *lib;
	CK_RV rv;

	p11t_load();
	/* the same handle p11t_load() got */
	lib = dlopen(getenv("TPMHA_MODULE"), RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		t_bail("dlopen: %s", dlerror());
	*(void **)&get_interface = dlsym(lib, "C_GetInterface");
	if (!get_interface)
		t_bail("the module exports no C_GetInterface");
	rv = get_interface((CK_UTF8CHAR_PTR)TPMHA_INTERFACE_NAME, NULL, &iface, 0);
	if (rv != CKR_OK || !iface || !iface->functions)
		t_bail("C_GetInterface(\"%s\"): %s", TPMHA_INTERFACE_NAME, ckr(rv));
	V = iface->functions;
	rv = p11t_init();
	if (rv != CKR_OK)
		t_bail("C_Initialize: %s", ckr(rv));
}

void mod_stop(void)
{
	CK_RV rv = F->C_Finalize(NULL);

	if (rv != CKR_OK)
		t_ok(false, "C_Finalize: %s", ckr(rv));
}

CK_SESSION_HANDLE mod_login(const char *label, const char *pin)
{
	CK_SESSION_HANDLE h = p11t_open(p11t_slot_by_label(label), true);

	p11t_login(h, CKU_USER, pin);
	return h;
}

CK_OBJECT_HANDLE mod_unit_object(CK_SESSION_HANDLE h, const uint8_t *unit_file, size_t len)
{
	struct unit_file u;
	CK_OBJECT_CLASS klass = CKO_TPMHA_UNIT;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_TPMHA_UNIT_ID, NULL, UNIT_ID_LEN } };
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n;

	if (unit_file_parse(unit_file, len, &u) != CKR_OK)
		t_bail("a unit identity file that does not parse");
	t[1].pValue = u.id;
	n = p11t_find(h, t, 2, found, 4);
	unit_file_release(&u);
	return n ? found[0] : CK_INVALID_HANDLE;
}

uint8_t *mod_identity(size_t *len)
{
	CK_ULONG n = 0;
	uint8_t *out;

	MUST(V->TPMHA_GetUnitIdentity(NULL, NULL, &n));
	out = malloc(n);
	if (!out)
		t_bail("out of memory");
	MUST(V->TPMHA_GetUnitIdentity(NULL, out, &n));
	*len = n;
	return out;
}

/* ---- the module's log ---- */

static long log_pos;

void log_mark(void)
{
	const char *path = getenv("MIG_LOG");
	FILE *f = path ? fopen(path, "r") : NULL;

	log_pos = 0;
	if (f && fseek(f, 0, SEEK_END) == 0)
		log_pos = ftell(f);
	if (f)
		fclose(f);
}

/* Each line since the mark to fn; marks again. */
static void log_lines(void (*fn)(const char *line, void *arg), void *arg)
{
	const char *path = getenv("MIG_LOG");
	FILE *f = path ? fopen(path, "r") : NULL;
	char line[2048];

	if (!f)
		return;
	if (fseek(f, log_pos, SEEK_SET) == 0)
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			fn(line, arg);
		}
	log_pos = ftell(f);
	fclose(f);
}

struct log_search {
	const char *const *needles;
	size_t n;
	bool found[MIG_MAX_LOGS];
	bool show;
};

static void search_line(const char *line, void *arg)
{
	struct log_search *s = arg;

	/* what explains a refusal: warnings and errors, not the info chatter */
	if (s->show && (strstr(line, "] warning: ") || strstr(line, "] error: ")))
		t_diag("  log: %s", strchr(line, ']') + 2);
	for (size_t i = 0; i < s->n && i < MIG_MAX_LOGS; i++)
		s->found[i] |= strstr(line, s->needles[i]) != NULL;
}

bool log_check(const char *const *needles, size_t n, bool show)
{
	struct log_search s = { .needles = needles, .n = n, .show = show };
	bool all = true;

	log_lines(search_line, &s);
	for (size_t i = 0; i < n && i < MIG_MAX_LOGS; i++)
		all &= s.found[i];
	return all;
}

struct first_problem {
	char *out;
	size_t len;
};

static void problem_line(const char *line, void *arg)
{
	struct first_problem *p = arg;
	const char *what = strstr(line, "] warning: ");

	if (!what)
		what = strstr(line, "] error: ");
	if (what && !p->out[0])
		snprintf(p->out, p->len, "%s", what + 2);
}

const char *log_first_problem(char *out, size_t len)
{
	struct first_problem p = { out, len };

	out[0] = '\0';
	log_lines(problem_line, &p);
	return out;
}

/* ---- the store ---- */

bool store_digest(uint8_t out[32], char *what, size_t what_len)
{
	static const char *const tables[] = { "token", "object", "replica" };
	static const char *const order[] = { "id", "id", "token_id, unit_id, key_id" };
	const char *path = getenv("MIG_STORE");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	sqlite3 *db = NULL;
	bool ok = md && path && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		  sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK;
	size_t off = 0;

	for (size_t t = 0; ok && t < 3; t++) {
		char sql[128];
		sqlite3_stmt *st = NULL;
		long rows = 0;
		int rc;

		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY %s", tables[t], order[t]);
		ok = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
		while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			int cols = sqlite3_column_count(st);
			rows++;
			for (int c = 0; c < cols; c++) {
				int type = sqlite3_column_type(st, c);
				const void *v = sqlite3_column_blob(st, c);
				uint32_t n = (uint32_t)sqlite3_column_bytes(st, c);
				EVP_DigestUpdate(md, &type, sizeof(type));
				EVP_DigestUpdate(md, &n, sizeof(n));
				if (n)
					EVP_DigestUpdate(md, v, n);
			}
		}
		ok = ok && rc == SQLITE_DONE;
		sqlite3_finalize(st);
		EVP_DigestUpdate(md, "|", 1);
		if (off < what_len)
			off += (size_t)snprintf(what + off, what_len - off, "%s%s rows: %ld", t ? ", " : "",
						tables[t], rows);
	}
	ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
	if (!ok && what_len)
		snprintf(what, what_len, "cannot read the store %s: %s", path ? path : "(MIG_STORE unset)",
			 db ? sqlite3_errmsg(db) : "");
	sqlite3_close(db);
	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- checks ---- */

bool expect_check(const struct expect *e, CK_RV rv, const char *fmt, ...)
{
	char desc[512];
	bool logs, ok;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	logs = log_check(e->logs, e->nlogs, true);
	ok = rv == e->rv && logs;
	t_ok(ok, "%s: %s%s", desc, ckr(rv), e->nlogs ? (logs ? ", and the log says why" : "") : "");
	if (rv != e->rv)
		t_diag("expected %s", ckr(e->rv));
	for (size_t i = 0; !logs && i < e->nlogs; i++)
		t_diag("expected a log line with \"%s\"", e->logs[i]);
	return ok;
}

CK_RV rv_parse(const char *name)
{
	for (CK_RV v = 0; v < 0x400; v++)
		if (strcmp(ckr(v), name) == 0)
			return v;
	t_bail("unknown return value %s", name);
}

/* ---- main ---- */

typedef int (*unit_cmd)(int argc, char **argv, const struct expect *e);
typedef int (*soft_cmd)(int argc, char **argv);

static const struct {
	const char *name;
	unit_cmd unit;
	soft_cmd soft;
} commands[] = {
	{ "domain", NULL, cmd_domain },
	{ "approve", NULL, cmd_approve },
	{ "mutate", NULL, cmd_mutate },
	{ "esys-duplicate", NULL, cmd_esys_duplicate },
	{ "esys-sign", NULL, cmd_esys_sign },
	{ "identity", cmd_identity, NULL },
	{ "init-token", cmd_init_token, NULL },
	{ "populate", cmd_populate, NULL },
	{ "genkey", cmd_populate, NULL },
	{ "add", cmd_add, NULL },
	{ "replicate", cmd_replicate, NULL },
	{ "wrap", cmd_wrap, NULL },
	{ "receive", cmd_receive, NULL },
	{ "unwrap", cmd_unwrap, NULL },
	{ "use", cmd_use, NULL },
	{ "login", cmd_login, NULL },
	{ "flip-all", cmd_flip_all, NULL },
};

int main(int argc, char **argv)
{
	struct expect e = { .rv = CKR_OK };
	char **args;
	int nargs = 0, rc = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: %s COMMAND [--expect CKR_NAME] [--log TEXT]... ARGS... (see mig.c)\n",
			argv[0]);
		return 2;
	}
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args)
		return 1;
	args[nargs++] = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			e.rv = rv_parse(argv[++i]);
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc && e.nlogs < MIG_MAX_LOGS)
			e.logs[e.nlogs++] = argv[++i];
		else
			args[nargs++] = argv[i];
	}
	if (ossl_init() != CKR_OK)
		t_bail("ossl_init");
	log_set_level(LOG_LEVEL_ERROR); /* libtpmha-core's own (software) side */
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		if (strcmp(commands[c].name, argv[1]) != 0)
			continue;
		if (commands[c].soft) {
			rc = commands[c].soft(nargs, args);
		} else {
			log_mark();
			mod_start();
			rc = commands[c].unit(nargs, args, &e);
			mod_stop();
		}
		if (rc == 0)
			rc = t_done();
		free(args);
		return rc;
	}
	fprintf(stderr, "%s: unknown command %s\n", argv[0], argv[1]);
	free(args);
	return 2;
}
