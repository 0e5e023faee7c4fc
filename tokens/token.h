/* Tokens of this unit: slots, login and PINs (checked by the TPM), and the objects of
 * each token, kept in step with the store that other processes write too.
 *
 * Thread safety: every function here takes the registry's lock itself and never
 * holds it across a TPM command. Objects and tokens handed out carry a reference:
 * give it back with object_put()/token_put(). */
#ifndef TPMHA_TOKENS_TOKEN_H
#define TPMHA_TOKENS_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "tokens/attr.h"
#include "tokens/object.h"
#include "tpm/backend.h"

struct tpmha_config;
struct registry;
struct token;

/* The slot that always holds an uninitialized token, for C_InitToken. Listed last. */
#define FREE_SLOT_ID ((CK_SLOT_ID)0)
/* Session objects get handles from their own range. */
#define SESSION_OBJECT_BASE ((CK_OBJECT_HANDLE)1 << 30)

#define PIN_MIN_LEN 4
#define PIN_MAX_LEN 128
#define TOKEN_SECRET_LEN 32

enum login_state {
	LOGIN_NONE = 0,
	LOGIN_USER,
	LOGIN_SO,
};

CK_RV registry_open(const struct tpmha_config *cfg, struct registry **out);
void registry_close(struct registry *r); /* NULL fine */
/* After fork(), in the child: free nothing the parent's TPM connection or database
 * handle depends on, send nothing. NULL fine. */
void registry_abandon(struct registry *r);
struct tpm_backend *registry_backend(struct registry *r);

/* Slot ids in order: initialized tokens, then FREE_SLOT_ID. *count in/out as
 * C_GetSlotList (CKR_BUFFER_TOO_SMALL with the count when ids is too short). */
CK_RV registry_slots(struct registry *r, CK_SLOT_ID *ids, CK_ULONG *count);
/* The token in a slot (CKR_SLOT_ID_INVALID); FREE_SLOT_ID gives NULL with CKR_OK. */
CK_RV registry_token(struct registry *r, CK_SLOT_ID slot, struct token **out);
void token_put(struct token *t); /* NULL fine */
/* Delete a token and all its objects (administration, not PKCS#11). */
CK_RV registry_token_delete(struct registry *r, CK_SLOT_ID slot);

CK_RV registry_slot_info(struct registry *r, CK_SLOT_ID slot, CK_SLOT_INFO *info);
/* Everything but the session counts, which the caller knows. */
CK_RV registry_token_info(struct registry *r, CK_SLOT_ID slot, CK_TOKEN_INFO *info);

/* C_InitToken: on the free slot a new token; on a token's slot, re-initialization
 * (the SO PIN checked by the TPM, every object destroyed). *new_slot: the token's slot. */
CK_RV registry_init_token(struct registry *r, CK_SLOT_ID slot, const uint8_t *so_pin,
			  size_t so_pin_len, const uint8_t label[32], CK_SLOT_ID *new_slot);

struct tpm_backend *token_backend(struct token *t);
CK_SLOT_ID token_slot(struct token *t);
bool token_gone(struct token *t);
enum login_state token_login_state(struct token *t);

CK_RV token_login(struct token *t, CK_USER_TYPE who, const uint8_t *pin, size_t len);
/* Have the TPM check a PIN without logging in. */
CK_RV token_check_pin(struct token *t, enum login_state who, const uint8_t *pin, size_t len);
/* Re-check the logged-in user's PIN (C_Login CKU_CONTEXT_SPECIFIC). */
CK_RV token_verify_pin(struct token *t, const uint8_t *pin, size_t len);
CK_RV token_logout(struct token *t);
CK_RV token_init_pin(struct token *t, const uint8_t *pin, size_t len);
/* who: LOGIN_SO or LOGIN_USER (the PIN to change). */
CK_RV token_set_pin(struct token *t, enum login_state who, const uint8_t *old_pin, size_t old_len,
		    const uint8_t *new_pin, size_t new_len);

/* An object the session may see: private ones only with the user logged in.
 * CKR_OBJECT_HANDLE_INVALID otherwise. */
CK_RV token_object(struct token *t, CK_OBJECT_HANDLE handle, struct object **out);
void object_put(struct object *o); /* NULL fine */

/* Handles of the visible objects matching the template (a snapshot). */
CK_RV token_find(struct token *t, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		 CK_OBJECT_HANDLE **handles, size_t *found);

/* Store a new object made from a completed template (object_template_complete).
 * Private keys come with their TPM blob and auth value. session: the creating
 * session, for session objects. */
CK_RV token_object_add(struct token *t, CK_SESSION_HANDLE session, struct attrs *attrs,
		       const struct tpm_blob *tpm_key, const struct tpm_auth *key_auth,
		       CK_OBJECT_HANDLE *handle);
/* rw: the session may write token objects. CKR_ACTION_PROHIBITED if not destroyable. */
CK_RV token_object_destroy(struct token *t, struct object *o, bool rw);
/* C_SetAttributeValue: the changes checked (object_check_changes) and applied. */
CK_RV token_object_update(struct token *t, struct object *o, const struct attrs *changes, bool rw);
/* C_CopyObject: a copy with changes; TPM keys share the TPM blob and auth value. */
CK_RV token_object_copy(struct token *t, CK_SESSION_HANDLE session, bool rw, struct object *o,
			const struct attrs *changes, CK_OBJECT_HANDLE *handle);
/* C_GetAttributeValue on one object. */
CK_RV token_object_read(struct token *t, struct object *o, CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_ULONG token_object_size(struct token *t, struct object *o);
void token_session_closed(struct token *t, CK_SESSION_HANDLE session);

/* The key behind a private key object, opened with its auth value (login needed),
 * and its size as the TPM blob says (RSA modulus / EC coordinate bytes).
 * Keep it with the object's reference; release with token_key_put(). */
CK_RV token_key_get(struct token *t, struct object *o, struct tpm_key **key, unsigned *bits,
		    size_t *bytes);
void token_key_put(struct token *t, struct object *o);

/* A fresh key auth value. */
CK_RV token_new_key_auth(struct token *t, struct tpm_auth *auth);

#endif
