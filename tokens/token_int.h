/* Inside the token layer: the structures registry.c, login.c and token.c share.
 * Every *_locked function expects the registry lock held. */
#ifndef TPMHA_TOKENS_TOKEN_INT_H
#define TPMHA_TOKENS_TOKEN_INT_H

#include "migration/files.h"
#include "tokens/store.h"
#include "tokens/token.h"

struct token {
	atomic_uint refs;
	struct registry *reg;
	struct store_token rec;       /* as last read from or written to the store */
	bool gone;
	enum login_state login;
	uint32_t login_epoch;         /* counts user logins: part of private object handles */
	uint8_t secret[TOKEN_SECRET_LEN]; /* valid while logged in */
	bool parent_checked;          /* the unit storage key matched, this process */
	uint64_t objects_version;     /* store version the object list reflects */
	bool objects_loaded;
	struct object **objects;      /* token objects and this process's session objects */
	size_t nobjects, cap;
};

struct registry {
	struct tpm_backend *tpm;
	struct store *store;
	struct lock *lock;
	struct token **tokens;
	size_t ntokens;
	uint64_t version;             /* store version the token list reflects */
	bool loaded;
	CK_OBJECT_HANDLE next_session_object;
	struct tpm_info info;
};

void token_unref_locked(struct token *t);
CK_OBJECT_HANDLE token_handle_locked(const struct token *t, const struct object *o);
CK_RV token_sync_objects_locked(struct token *t, uint64_t version);
void object_detach_locked(struct token *t, size_t index);
CK_RV object_unlock_locked(struct token *t, struct object *o);
void object_lock_locked(struct token *t, struct object *o);
/* The token's migration domain, parsed (release with domain_file_release); *in_domain
 * false, and CKR_OK, when it has none. */
CK_RV token_domain(struct token *t, struct domain_file *d, bool *in_domain);
/* Add this unit's identity as a unit object of token id (the registry lock held). */
CK_RV store_add_local_unit_locked(struct registry *r, int64_t token_id);
CK_RV init_token(struct registry *r, CK_SLOT_ID slot, const uint8_t *so_pin, size_t so_pin_len,
		 const uint8_t label[32], const uint8_t *domain_bytes, size_t domain_len, CK_SLOT_ID *new_slot);
/* Re-read the token list if anyone wrote the store; *version gets the store version. */
CK_RV registry_sync_locked(struct registry *r, uint64_t *version);

#endif
