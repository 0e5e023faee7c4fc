/* The small migration files: the domain (which migration authority approves
 * destinations), a unit's identity (its storage key), and an approval (the MA's
 * signature naming a destination). Formats in docs/formats.md. */
#ifndef TPMHA_MIGRATION_FILES_H
#define TPMHA_MIGRATION_FILES_H

#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"
#include "migration/format.h"
#include "tpm/backend.h"

#define FILES_VERSION 1
#define UNIT_ID_LEN 16
#define LABEL_MAX 64

struct domain_file {
	struct tpm_domain tpm;     /* id, policyRef and the MA in each TPM version's encoding */
	struct tpm_blob ma_spki;   /* the MA's SubjectPublicKeyInfo, to check approvals in software */
	char label[LABEL_MAX + 1];
	uint64_t created;          /* seconds since 1970 */
	uint8_t fingerprint[32];   /* SHA-256 of the file: what people compare */
};

struct unit_file {
	uint8_t id[UNIT_ID_LEN];   /* the first 16 bytes of SHA-256(storage key name) */
	struct tpm_unit_identity tpm;
	char label[LABEL_MAX + 1]; /* a name for people, e.g. the host name */
};

/* A new domain for an MA public key (DER SubjectPublicKeyInfo, RSA-2048 or EC P-256). */
CK_RV domain_file_create(const uint8_t *ma_spki, size_t spki_len, const char *label, struct buf *out);
CK_RV domain_file_parse(const uint8_t *data, size_t len, struct domain_file *out);
void domain_file_release(struct domain_file *d);

void unit_id_of(const struct tpm_unit_identity *u, uint8_t id[UNIT_ID_LEN]);
CK_RV unit_file_create(const struct tpm_unit_identity *u, const char *label, struct buf *out);
CK_RV unit_file_parse(const uint8_t *data, size_t len, struct unit_file *out);
void unit_file_release(struct unit_file *u);

/* Does sig verify as the domain's MA's signature of msg with hash? (In software:
 * RSASSA-PKCS1-v1_5 or ECDSA r || s.) CKR_OK or CKR_SIGNATURE_INVALID. */
CK_RV domain_ma_verify(const struct domain_file *d, enum hash_alg hash, const uint8_t *msg, size_t msg_len,
		       const struct tpm_blob *sig);

/* Record helpers the migration file parsers share (format.h has the generic ones). */
bool record_once(const char *what, uint32_t *seen, const struct record *rec, unsigned max_tag);
bool record_label(const struct record *rec, char *out);
bool record_blob(const struct record *rec, struct tpm_blob *out);

/* "3f2a…" for log lines and listings: the first bytes of an id in hex. */
const char *hex_id(const uint8_t *id, size_t len, char *out, size_t out_len);

#include "migration/approval.h"

#endif
