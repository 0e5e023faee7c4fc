/* Shared by the TPM 1.2 backend test's files (tests/tpm12/). */
#ifndef TPMHA_TESTS_TPM12_TPM12_TEST_H
#define TPMHA_TESTS_TPM12_TPM12_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss/tspi.h>

#include "tpm/backend.h"

struct opts {
	unsigned a, b, c, lock;  /* tcsd ports */
	const char *store;       /* base directory: one store per unit below it */
	const char *stop_a, *start_a;
	const char *log;
	int bench;
};
extern struct opts opt;

CK_RV open_unit(unsigned port, const char *store, struct tpm_backend **tb);
const char *unit_store(char unit);
double now_ms(void);
double median(double *v, size_t n);
bool log_has(const char *needle);
void log_show(const char *needle);
EVP_PKEY *soft_rsa(void);
bool soft_sign_sha1(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len);

void test_migration(struct tpm_backend *a);
/* an RSA key object holding a TPM_PUBKEY, in a context of the test's own */
TSS_RESULT tpm12_pubkey_object_ctx(TSS_HCONTEXT ctx, const uint8_t *pub, size_t len, TSS_HKEY *out);
void test_lockout(void);
void test_tcsd_restart(struct tpm_backend *a);
void bench(struct tpm_backend *a, int n);
void test_fork_threads(struct tpm_backend *a);

#endif
