/* Helpers of the TPM backend integration test (tpm2_test_util.c). */
#ifndef TPMHA_TESTS_TPM_TPM2_TEST_UTIL_H
#define TPMHA_TESTS_TPM_TPM2_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/ossl.h"
#include "tpm/backend.h"

/* TAP: "ok N - ..." / "not ok N - ..."; the counts for the plan */
extern int n_tests, n_failed;
bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool check_rv(CK_RV got, CK_RV want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define CHECK_RV(expr, want, ...) check_rv((expr), (want), __VA_ARGS__)

CK_RV open_tpm(const char *tcti, struct tpm_backend **tb);
void random_auth(struct tpm_auth *a, bool trailing_zeros);

/* OpenSSL (default library context) on the public halves the TPM reports */
EVP_PKEY *soft_public(const struct tpm_public *pub);
bool verify_pkcs1(EVP_PKEY *pk, enum hash_alg h, const uint8_t *digest, const uint8_t *sig,
		  size_t sig_len);
bool recover_pkcs1(EVP_PKEY *pk, const uint8_t *sig, size_t sig_len, const uint8_t *data,
		   size_t len);
bool verify_pss(EVP_PKEY *pk, enum hash_alg h, enum hash_alg mgf, int salt, const uint8_t *digest,
		const uint8_t *sig, size_t sig_len);
bool encrypt_oaep(EVP_PKEY *pk, enum hash_alg h, enum hash_alg mgf, const void *label,
		  size_t label_len, const uint8_t *msg, size_t len, uint8_t *ct, size_t *ct_len);
bool encrypt_pkcs1(EVP_PKEY *pk, const uint8_t *msg, size_t len, uint8_t *ct, size_t *ct_len);
/* sig is r || s */
bool verify_ecdsa(EVP_PKEY *pk, const uint8_t *digest, size_t len, const uint8_t *sig,
		  size_t sig_len);

#endif
