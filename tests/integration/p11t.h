/* What the PKCS#11 integration tests share: TAP output, the module under test
 * (dlopen'ed from $TPMHA_MODULE, as an application would), tokens and keys, and
 * OpenSSL for checking results in software. Thread-safe where tests use threads. */
#ifndef TPMHA_TESTS_P11T_H
#define TPMHA_TESTS_P11T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

/* ---- TAP ---- */

/* ok N - DESC; returns cond. */
bool t_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ok if got == want; the diagnostic names both. */
bool t_rv(CK_RV got, CK_RV want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ok if got == want (numbers). */
bool t_eq(unsigned long got, unsigned long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void t_skip(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void t_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Stop here: "Bail out!" and exit 1 (the harness reports an error). */
void t_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print the plan; the exit status for main (0: failures are in the TAP). */
int t_done(void);
int t_failures(void);
/* In a child process: start counting from zero (its TAP goes to a pipe). */
void t_reset(void);
/* Read a child's TAP from in and say it again here, each line prefixed; a plan that
 * is missing or short counts as a failure. Returns the child's failures. */
int t_relay(FILE *in, const char *prefix);
const char *ckr(CK_RV rv);

/* Assert a CK_RV without counting a test: bail out if it differs. */
#define MUST(call)                                                                          \
	do {                                                                                \
		CK_RV must_rv_ = (call);                                                    \
		if (must_rv_ != CKR_OK)                                                     \
			t_bail("%s:%d: %s: %s", __FILE__, __LINE__, #call, ckr(must_rv_));   \
	} while (0)

/* ---- the module ---- */

extern CK_FUNCTION_LIST_PTR F;

/* dlopen $TPMHA_MODULE and get its function list (bails out on failure). */
void p11t_load(void);
/* C_Initialize with CKF_OS_LOCKING_OK. */
CK_RV p11t_init(void);

#define SO_PIN "so-pin-4321"
#define USER_PIN "user-pin-1234"

/* The slot holding the uninitialized token. */
CK_SLOT_ID p11t_free_slot(void);
/* A new token on the free slot with both PINs set; its slot. Bails out on failure. */
CK_SLOT_ID p11t_new_token(const char *label, const char *so_pin, const char *user_pin);
/* The slot of the token with this label (bails out if none). */
CK_SLOT_ID p11t_slot_by_label(const char *label);
CK_SESSION_HANDLE p11t_open(CK_SLOT_ID slot, bool rw);
void p11t_login(CK_SESSION_HANDLE h, CK_USER_TYPE who, const char *pin);
/* 32-byte blank-padded label. */
void p11t_label(CK_UTF8CHAR out[32], const char *label);

/* Objects matching a template (up to max); the count. */
CK_ULONG p11t_find(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out, CK_ULONG max);
/* The one object of class with this label, or CK_INVALID_HANDLE. */
CK_OBJECT_HANDLE p11t_find_label(CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const char *label);
/* A data object; token/private as given. */
CK_RV p11t_data(CK_SESSION_HANDLE h, const char *label, bool token, bool priv, CK_OBJECT_HANDLE *out);

/* Key pairs: token objects, sign (and decrypt for RSA), with this label and ID. */
CK_RV p11t_gen_rsa(CK_SESSION_HANDLE h, CK_ULONG bits, const char *label, CK_OBJECT_HANDLE *pub,
		   CK_OBJECT_HANDLE *priv);
extern const uint8_t p11t_p256[10], p11t_p384[7];
CK_RV p11t_gen_ec(CK_SESSION_HANDLE h, const uint8_t *params, size_t params_len, const char *label,
		  CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);

/* An attribute's value (malloc'ed; NULL if not readable). */
uint8_t *p11t_attr(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *len);
bool p11t_attr_bool(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);
CK_ULONG p11t_attr_ulong(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);

/* ---- software checks ---- */

/* The OpenSSL key of a public key object (RSA modulus/exponent or EC params/point). */
EVP_PKEY *p11t_evp_public(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub);
/* Sign with a mechanism in one part; CKR_OK and the signature in sig/sig_len. */
CK_RV p11t_sign(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE key, const uint8_t *data,
		size_t len, uint8_t *sig, CK_ULONG *sig_len);
/* Does OpenSSL accept this signature? mech names the PKCS#11 mechanism; for PSS the
 * params; for raw mechanisms data is what was signed. */
bool p11t_ossl_verify(EVP_PKEY *key, CK_MECHANISM_TYPE mech, const CK_RSA_PKCS_PSS_PARAMS *pss,
		      const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len);
const EVP_MD *p11t_md(CK_MECHANISM_TYPE hash_mech);

/* Run a command, 0 on success (for tpm2-tools between C_Finalize and C_Initialize). */
int p11t_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Every function but C_GetFunctionList/C_Initialize, each one TAP line expecting
 * CKR_CRYPTOKI_NOT_INITIALIZED (before C_Initialize, after C_Finalize, in a fork()ed
 * child). Handles are the ones an application would still hold. */
void p11t_all_uninitialized(const char *when, CK_SLOT_ID slot, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o);
/* Every function taking a session handle (C_CloseSession last), expecting want. */
void p11t_session_calls(const char *when, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_RV want);

#endif
