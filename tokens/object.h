/* Objects and the PKCS#11 rules for their attributes: what each class holds, what a
 * template must and must not say, defaults, what may change later, what is sensitive. */
#ifndef TPMHA_TOKENS_OBJECT_H
#define TPMHA_TOKENS_OBJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/types.h>
#include <p11-kit/pkcs11.h>

#include "tokens/attr.h"
#include "tpm/backend.h"

struct token;

struct object {
	CK_OBJECT_HANDLE handle;     /* store id for token objects; its own range for session objects */
	atomic_uint refs;            /* taken under the registry lock, shared or not */
	struct token *token;
	CK_OBJECT_CLASS klass;
	CK_KEY_TYPE key_type;        /* keys only */
	bool on_token;               /* CKA_TOKEN */
	bool is_private;             /* CKA_PRIVATE */
	bool locked;                 /* private token object not yet readable (nobody logged in) */
	bool gone;                   /* destroyed, or vanished from the store */
	CK_SESSION_HANDLE session;   /* session objects: the creating session */
	int64_t gen;                 /* store generation of this copy */
	struct attrs attrs;          /* empty while locked */
	struct tpm_blob sealed;      /* private token objects: attributes as stored */
	struct tpm_blob tpm_key;     /* private keys: the backend blob */
	struct tpm_blob key_auth;    /* private keys: auth value sealed with the token secret */
	struct tpm_key *key;         /* opened on first use after login */
	unsigned key_users;          /* operations using key right now */
	unsigned key_bits;           /* with key: its size from the TPM blob */
	size_t key_bytes;
	bool key_stale;              /* logged out while in use: close at the last user */
	EVP_PKEY *pkey;              /* software public key, built on first use */
};

struct object *object_new(void);
void object_free(struct object *o); /* closes the TPM key, wipes; NULL fine */

/* Where a template comes from decides what it may say. */
enum object_origin {
	ORIGIN_CREATE,     /* C_CreateObject */
	ORIGIN_GENERATE,   /* C_GenerateKeyPair (the TPM makes the key) */
	ORIGIN_COPY,       /* C_CopyObject changes */
	ORIGIN_UNWRAP,     /* C_UnwrapKey (migration) */
};

/* Check a template for an object of its class and complete it with defaults.
 * class_hint/key_type_hint (or CK_UNAVAILABLE_INFORMATION) fill CKA_CLASS/CKA_KEY_TYPE
 * when the template lacks them (key pair generation), and must agree when it has them.
 * so: the SO is logged in (only the SO may make CKA_TRUSTED true).
 * Returns the spec's CK_RV and logs the reason. */
CK_RV object_template_complete(struct attrs *t, enum object_origin origin,
			       CK_OBJECT_CLASS class_hint, CK_KEY_TYPE key_type_hint, bool so);

/* Fill klass, key_type, on_token, is_private from the attributes. */
void object_cache_flags(struct object *o);

/* One attribute for C_GetAttributeValue: CKR_ATTRIBUTE_SENSITIVE (length
 * CK_UNAVAILABLE_INFORMATION), CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL. */
CK_RV object_get_attribute(const struct object *o, CK_ATTRIBUTE *want);

/* May these changes be made (C_SetAttributeValue when copy is false; C_CopyObject when
 * true)? so: the SO is logged in (only the SO may set CKA_TRUSTED). */
CK_RV object_check_changes(const struct object *o, const struct attrs *changes, bool copy, bool so);

/* Rough size for C_GetObjectSize. */
CK_ULONG object_size(const struct object *o);

/* Is this mechanism allowed by CKA_ALLOWED_MECHANISMS (empty = all)? */
bool object_mechanism_allowed(const struct object *o, CK_MECHANISM_TYPE mech);

#endif
