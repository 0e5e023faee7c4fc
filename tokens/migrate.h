/* Tokens across units: keys and whole tokens sent to another unit as a migration
 * bundle, and bundles received. The TPM enforces where keys may go (the domain's
 * policy and the MA's approval); this layer assembles and checks what travels. */
#ifndef TPMHA_TOKENS_MIGRATE_H
#define TPMHA_TOKENS_MIGRATE_H

#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"
#include "tokens/token.h"

struct registry;

struct blob_ref {
	const uint8_t *data;
	size_t len;
};

/* This unit's identity file, and its id. */
CK_RV registry_unit_identity(struct registry *r, const char *label, struct buf *out);
CK_RV registry_local_unit_id(struct registry *r, uint8_t id[16]);

/* C_InitToken on the free slot with a migration domain (the domain file's bytes). */
CK_RV registry_init_domain_token(struct registry *r, const uint8_t *so_pin, size_t so_pin_len,
				 const uint8_t label[32], const uint8_t *domain, size_t domain_len,
				 CK_SLOT_ID *new_slot);

/* Does the token have a migration domain? */
bool token_in_domain(struct token *t);

/* A bundle for the unit whose identity file is unit, with the MA's approvals of it
 * (files; the newest last — those that do not check out are ignored):
 * key = a private key (it, its public keys and certificates with the same CKA_ID), or
 * CK_INVALID_HANDLE for the whole token (every extractable key, every object, the PIN
 * seals). The user must be logged in. */
CK_RV token_export(struct token *t, const uint8_t *unit, size_t unit_len, const struct blob_ref *approvals,
		   size_t napprovals, CK_OBJECT_HANDLE key, struct buf *out);

/* What the MA must sign before token_export can send key (or the whole token) to
 * unit: an approval request listing the unit and, where its TPM version approves key
 * by key (TPM 1.2), each key and PIN object that would travel. */
CK_RV token_approval_request(struct token *t, const uint8_t *unit, size_t unit_len, CK_OBJECT_HANDLE key,
			     struct buf *out);

/* Receive a bundle made for this unit. into: the token it must go into (C_UnwrapKey),
 * or NULL (the token it names, created if absent — then domain, the domain file, is
 * required; if given it must match). *slot: the token's slot; *key: the handle of the
 * bundle's first private key, or CK_INVALID_HANDLE. Nothing is stored unless all of the
 * bundle checks and imports. */
CK_RV registry_receive(struct registry *r, struct token *into, const uint8_t *bundle, size_t len,
		       const uint8_t *domain, size_t domain_len, CK_SLOT_ID *slot, CK_OBJECT_HANDLE *key);

#endif
