/* Approvals: the migration authority's signatures that let a domain's keys go to a
 * unit. A TPM 2.0 unit is approved once, for every key (the MA signs a policy naming
 * the unit's storage key); a TPM 1.2 unit is approved key by key (the MA signs a
 * TPM_CMK_AUTH naming the key too). One file serves both: a unit signature, key
 * signatures, or both. An approval request (made on the unit that sends) lists what
 * the MA must sign, so that the MA, away from every unit, signs only what it sees. */
#ifndef TPMHA_MIGRATION_APPROVAL_H
#define TPMHA_MIGRATION_APPROVAL_H

#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"
#include "migration/files.h"

struct approval_key {
	struct tpm_blob key_public; /* the key as its TPM version names it (TPM 1.2: TPM_PUBKEY) */
	struct tpm_blob signature;
	char label[LABEL_MAX + 1];  /* requests: what the key is called, for the MA's operator */
};

struct approval_file {
	uint8_t domain_id[16];
	uint8_t unit_id[UNIT_ID_LEN];
	struct tpm_blob signature;  /* the unit's approval (TPM 2.0), or empty */
	struct approval_key *keys;  /* per-key approvals (TPM 1.2) */
	size_t nkeys;
	uint64_t created;
};

struct approval_request {
	uint8_t domain_id[16];
	struct tpm_blob unit_bytes; /* the destination's identity file */
	struct unit_file unit;      /* parsed */
	struct approval_key *keys;  /* no signatures; empty for a TPM 2.0 destination */
	size_t nkeys;
};

/* What the MA signs: for the unit (key_public NULL), or for one key. */
CK_RV approval_message(const struct domain_file *d, const struct unit_file *u, uint8_t *msg,
		       size_t *msg_len, enum hash_alg *hash);
CK_RV approval_key_message(const struct domain_file *d, const struct unit_file *u,
			   const struct tpm_blob *key_public, uint8_t *msg, size_t *msg_len, enum hash_alg *hash);

/* A unit approval (sig of approval_message). */
CK_RV approval_file_create(const struct domain_file *d, const struct unit_file *u, const uint8_t *sig,
			   size_t sig_len, struct buf *out);
/* Any mix: unit_sig may be NULL, keys may be none (not both). */
CK_RV approval_file_write(const struct domain_file *d, const struct unit_file *u, const struct tpm_blob *unit_sig,
			  const struct approval_key *keys, size_t nkeys, struct buf *out);
CK_RV approval_file_parse(const uint8_t *data, size_t len, struct approval_file *out);
void approval_file_release(struct approval_file *a);
/* Is every signature in a the MA's, for u in d? CKR_SIGNATURE_INVALID with a log
 * line if one was signed by another key or for another unit; checked in software
 * before a TPM sees it. */
CK_RV approval_verify(const struct domain_file *d, const struct unit_file *u, const struct approval_file *a);
/* The signature a gives for moving a key (its public as tpm_key_approval_public says)
 * to its unit, or NULL. */
const struct tpm_blob *approval_key_signature(const struct approval_file *a, const struct tpm_blob *key_public);

CK_RV approval_request_write(const struct domain_file *d, const uint8_t *unit, size_t unit_len,
			     const struct approval_key *keys, size_t nkeys, struct buf *out);
CK_RV approval_request_parse(const uint8_t *data, size_t len, struct approval_request *out);
void approval_request_release(struct approval_request *r);

#endif
