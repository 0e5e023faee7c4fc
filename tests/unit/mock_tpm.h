/* A mock TPM backend for unit tests of the token layer's error paths: linking
 * mock_tpm.c replaces tpm/backend.c (tpm_backend_open and the blob helpers), so the
 * registry opens this backend instead of a TPM. Its "seals" are not sealed at all:
 * it only exists to make the TPM say what a test wants (wrong PIN, lockout,
 * another storage key), never as evidence that a feature works. */
#ifndef TPMHA_TESTS_UNIT_MOCK_TPM_H
#define TPMHA_TESTS_UNIT_MOCK_TPM_H

#include "tpm/backend.h"

struct mock_tpm {
	CK_RV open_rv;             /* what open() answers */
	CK_RV seal_open_rv;        /* CKR_OK: compare the auth value; else answer this */
	size_t seal_open_len;      /* 0: the real length; else claim this many bytes */
	CK_RV name_rv;             /* what storage_key_name() answers */
	uint8_t name[34];          /* the storage key name it reports */
	size_t name_len;
	struct tpm_da_state da;
	struct tpm_caps caps;
	unsigned opens, closes, seal_creates, seal_opens, name_calls, random_calls;
};

extern struct mock_tpm mock_tpm;

/* Back to a fresh TPM: nothing forced, name "mock-storage-key", no failures. */
void mock_tpm_reset(void);

#endif
