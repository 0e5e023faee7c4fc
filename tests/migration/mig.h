/* tests/migration/mig: the driver of the multi-unit migration tests.
 *
 * A unit is one process with its own configuration (TPMHA_CONF: its swtpm and its
 * store), so the shell tests run this program once per step, as the unit that takes
 * the step. Each run prints TAP (its checks, then its plan); the shell renumbers and
 * relays it (tests/migration/lib.sh).
 *
 * The module is dlopen'ed from $TPMHA_MODULE, as any application would load it: the
 * checks go through the shipped library's PKCS#11 ABI and its vendor interface
 * (C_GetInterface), never through its internals. libtpmha-core is linked only for
 * what no unit holds: the file formats an MA and an operator write (domain files,
 * approvals, cut and edited files) and, for the bypass tests, the TPM 2.0 blob and
 * policy helpers that let ESYS replay what the TPM is asked, without tpmha.
 *
 * Environment: TPMHA_MODULE, TPMHA_CONF (the unit); MIG_LOG, the unit's module log
 * (for the log checks); MIG_STORE, the unit's SQLite store (to prove that a refused
 * step changed nothing). */
#ifndef TPMHA_TESTS_MIGRATION_MIG_H
#define TPMHA_TESTS_MIGRATION_MIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tests/integration/p11t.h"
#include "tpmha/tpmha.h"

#define MIG_MAX_LOGS 8

/* What a step expects of its main call: a return value and log lines (substrings of
 * lines the module writes during the step). */
struct expect {
	CK_RV rv;
	const char *logs[MIG_MAX_LOGS];
	size_t nlogs;
};

/* ---- files ---- */
uint8_t *file_read(const char *path, size_t *len); /* bails out if unreadable */
void file_write(const char *path, const void *data, size_t len);
EVP_PKEY *pem_private(const char *path);

/* ---- the module (mig.c) ---- */
extern TPMHA_FUNCTION_LIST *V;
/* dlopen, both function lists, C_Initialize (bails out on failure). */
void mod_start(void);
void mod_stop(void);
CK_SESSION_HANDLE mod_login(const char *label, const char *pin);
/* The unit object whose file is unit_file, in the session's token. */
CK_OBJECT_HANDLE mod_unit_object(CK_SESSION_HANDLE h, const uint8_t *unit_file, size_t len);
/* This unit's own identity file (malloc'ed). */
uint8_t *mod_identity(size_t *len);

/* ---- the module's log ---- */
void log_mark(void);
/* Lines written since the mark: shown as diagnostics when show is set; true if
 * every needle is in one of them. Marks again. */
bool log_check(const char *const *needles, size_t n, bool show);
/* The first warning or error line since the mark (without the "tpmha[pid] " part),
 * or "" if none. Marks again. */
const char *log_first_problem(char *out, size_t len);

/* ---- the store ---- */
/* SHA-256 over every row of the token, object and replica tables; counts in what. */
bool store_digest(uint8_t out[32], char *what, size_t what_len);

/* ---- checks ---- */
/* ok if rv is e->rv and every expected log line was written: the diagnostic says
 * what the module returned and logged. */
bool expect_check(const struct expect *e, CK_RV rv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
CK_RV rv_parse(const char *name);

/* ---- the MA (mig_files.c) ---- */
/* SHA-256 signature by key: RSA PKCS#1 v1.5, or ECDSA as r || s. 0 on failure. */
size_t ma_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *sig, size_t sig_max);

/* ---- commands: argv after the command name; return the exit status ---- */
int cmd_domain(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_mutate(int argc, char **argv);
int cmd_identity(int argc, char **argv, const struct expect *e);
int cmd_init_token(int argc, char **argv, const struct expect *e);
int cmd_populate(int argc, char **argv, const struct expect *e);
int cmd_add(int argc, char **argv, const struct expect *e);
int cmd_replicate(int argc, char **argv, const struct expect *e);
int cmd_wrap(int argc, char **argv, const struct expect *e);
int cmd_receive(int argc, char **argv, const struct expect *e);
int cmd_unwrap(int argc, char **argv, const struct expect *e);
int cmd_use(int argc, char **argv, const struct expect *e);
int cmd_login(int argc, char **argv, const struct expect *e);
int cmd_flip_all(int argc, char **argv, const struct expect *e);
int cmd_esys_duplicate(int argc, char **argv);
int cmd_esys_sign(int argc, char **argv);

#endif
