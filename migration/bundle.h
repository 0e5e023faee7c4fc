/* The migration bundle: what one unit sends another (docs/formats.md).
 *
 * It carries the TPM duplicates of a token's keys (only the destination's TPM can
 * import them), the token's PIN seals (so the same PINs open the same secret there),
 * the objects' attributes as the store keeps them (private ones sealed with the token
 * secret), and a key only the destination's TPM can unwrap, which authenticates every
 * byte of the bundle with an HMAC. Untrusted input at the destination. */
#ifndef TPMHA_MIGRATION_BUNDLE_H
#define TPMHA_MIGRATION_BUNDLE_H

#include <stdbool.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"
#include "migration/files.h"
#include "tpm/backend.h"

#define BUNDLE_VERSION 1
#define BUNDLE_MAC_KEY_LEN 32
#define BUNDLE_MAX_OBJECTS 10000

struct bundle_object {
	bool is_private;
	struct tpm_blob attrs;    /* as stored: serialized, sealed with the token secret if private */
	struct tpm_blob key_dup;  /* private keys: the TPM duplicate for the destination */
	struct tpm_blob key_auth; /* private keys: the auth value, sealed with the token secret */
};

struct bundle {
	int tpm_version;
	uint8_t domain_id[16];
	uint8_t source_unit[UNIT_ID_LEN];
	uint8_t dest_unit[UNIT_ID_LEN];
	char serial[17];
	uint8_t label[32];
	bool whole_token;         /* the token's full set of objects (and its seals) */
	uint64_t created;
	struct tpm_blob mac_key;  /* secret_wrap() for the destination */
	struct tpm_blob so_seal;  /* duplicates; empty when only keys travel */
	struct tpm_blob user_seal;
	struct bundle_object *objects;
	size_t nobjects;
	/* parse: the authenticated part and its MAC */
	const uint8_t *signed_part;
	size_t signed_len;
	uint8_t mac[32];
};

/* Add an object (the bundle takes the blobs' contents; their structs are zeroed). */
CK_RV bundle_add(struct bundle *b, bool is_private, struct tpm_blob *attrs, struct tpm_blob *key_dup,
		 struct tpm_blob *key_auth);
/* Serialize, with the MAC under mac_key as the last record. */
CK_RV bundle_write(const struct bundle *b, const uint8_t mac_key[BUNDLE_MAC_KEY_LEN], struct buf *out);
/* Structure only: the MAC is checked by bundle_check_mac() once the destination's TPM
 * has unwrapped the MAC key. Keeps pointers into data. */
CK_RV bundle_parse(const uint8_t *data, size_t len, struct bundle *out);
/* CKR_WRAPPED_KEY_INVALID (with a log line) if any byte was changed. */
CK_RV bundle_check_mac(const struct bundle *b, const uint8_t *mac_key, size_t len);
void bundle_release(struct bundle *b);

#endif
