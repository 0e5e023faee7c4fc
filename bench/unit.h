/* The replication benchmarks' units. Each unit's side runs in a forked child that
 * dlopens the module with that unit's configuration, as a separate application process
 * on that unit would (one module instance serves one TPMHA_CONF); the child reports its
 * samples and any failure through a page shared with the parent. */
#ifndef TPMHA_BENCH_UNIT_H
#define TPMHA_BENCH_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "tpmha/tpmha.h"

#define UNIT_MAX_SAMPLES 64

struct unit_shared {
	int ok;
	char err[512];
	double ms[UNIT_MAX_SAMPLES];     /* wall time of each timed run */
	double cpu_ms[UNIT_MAX_SAMPLES]; /* the child's own CPU time in each */
	int n;
	double setup_s;
};

extern struct unit_shared *unit_sh;
/* In a child of unit_run(): the module's standard and vendor function lists. */
extern CK_FUNCTION_LIST_PTR unit_f;
extern TPMHA_FUNCTION_LIST *unit_v;

/* Map the shared page. prog names the program in messages; module is the module's
 * path. false (errno set) on failure. */
bool unit_init(const char *prog, const char *module);
/* Run fn(arg) in a child with the module initialized on conf, then finalized. true when
 * the child finished cleanly; else unit_sh->err says why. */
bool unit_run(const char *conf, void (*fn)(const void *), const void *arg);
/* Record a failure and end: in a child for the parent to report, in the parent on
 * stderr. */
void unit_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define UNIT_CK(call)                                                                          \
	do {                                                                                   \
		CK_RV unit_rv_ = (call);                                                       \
		if (unit_rv_ != CKR_OK)                                                        \
			unit_fail("%s: CKR 0x%lx", #call, (unsigned long)unit_rv_);            \
	} while (0)

/* A token label as PKCS#11 spells it: 32 bytes, padded with spaces. */
void unit_label32(CK_UTF8CHAR out[32], const char *s);
/* In a child: the slot of the initialized token labelled label, or (CK_SLOT_ID)-1. */
CK_SLOT_ID unit_find_token(const char *label);
/* The whole file (unit_fail if it cannot be read). */
uint8_t *unit_slurp(const char *path, size_t *len);
/* The median of v[0..n) (0 for n == 0); v is left as it was. */
double unit_median(const double *v, size_t n);

#endif
