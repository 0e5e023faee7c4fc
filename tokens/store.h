/* The store: one SQLite database per store directory, shared by every process of the
 * unit. Nothing secret is in it in the clear: PIN objects and keys are TPM blobs,
 * key auth values and private objects are sealed with the token secret, which only
 * the TPM releases (to the right PIN). */
#ifndef TPMHA_TOKENS_STORE_H
#define TPMHA_TOKENS_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "tpm/backend.h"

#define STORE_SCHEMA_VERSION 2
#define STORE_FILE "tpmha.sqlite3"

struct store;

struct store_token {
	int64_t id;
	char serial[17];          /* 16 characters, NUL-terminated */
	uint8_t label[32];        /* blank padded, as in CK_TOKEN_INFO */
	int tpm_version;          /* 20 or 12: the unit's TPM this copy lives in */
	struct tpm_blob parent_name; /* unit storage key name pinned at creation */
	struct tpm_blob so_seal;  /* token secret sealed to the SO PIN */
	struct tpm_blob user_seal; /* ... to the user PIN; len 0 until C_InitPIN */
	struct tpm_blob domain;   /* migration domain; len 0 for none */
	int64_t gen;              /* bumped on every change */
};

struct store_object {
	int64_t id;
	int64_t token_id;
	int64_t gen;
	bool is_private;
	struct tpm_blob attrs;    /* attrs_serialize(); sealed with the token secret if private */
	struct tpm_blob tpm_key;  /* backend key blob, or empty */
	struct tpm_blob key_auth; /* sealed key auth value, or empty */
};

/* A unit this unit sent a key to. */
struct store_replica {
	uint8_t unit_id[16];
	uint8_t key_id[32];       /* SHA-256 of the key's SubjectPublicKeyInfo */
	char unit_label[65];
	int64_t replicated_at;    /* seconds since 1970 */
};

/* Create the directory (0700) and database (0600) if needed and upgrade the schema.
 * A database newer than this build is refused (CKR_FUNCTION_FAILED + log line). */
CK_RV store_open(const char *dir, struct store **out);
void store_close(struct store *s); /* NULL fine */
/* In a fork()ed child: drop our memory, never touch the parent's connection. */
void store_abandon(struct store *s);

/* Changes whenever anyone (this process or another) commits to the store. */
CK_RV store_version(struct store *s, uint64_t *version);

CK_RV store_tokens(struct store *s, struct store_token **list, size_t *count);
void store_tokens_free(struct store_token *list, size_t count);
void store_token_release(struct store_token *t);
/* Sets t->id and t->gen. CKR_FUNCTION_FAILED if the serial exists. */
CK_RV store_token_insert(struct store *s, struct store_token *t);
/* Label, seals and domain by id; t->gen updated. */
CK_RV store_token_update(struct store *s, struct store_token *t);
/* As update, and every object of the token deleted, in one transaction. */
CK_RV store_token_reset(struct store *s, struct store_token *t);
CK_RV store_token_delete(struct store *s, int64_t id);

CK_RV store_objects(struct store *s, int64_t token_id, struct store_object **list, size_t *count);
void store_objects_free(struct store_object *list, size_t count);
void store_object_release(struct store_object *o);
/* Sets o->id and o->gen. */
CK_RV store_object_insert(struct store *s, struct store_object *o);
/* attrs and is_private by id; o->gen updated. CKR_OBJECT_HANDLE_INVALID if gone. */
CK_RV store_object_update(struct store *s, struct store_object *o);
CK_RV store_object_delete(struct store *s, int64_t id);

/* A received token in one transaction: matched by serial (created if absent, else its
 * label, seals and domain updated from t, and t->id set), and the objects added — all
 * the token's objects replaced by them when replace_objects. Sets each object's id. */
CK_RV store_receive(struct store *s, struct store_token *t, struct store_object *objects, size_t count,
		    bool replace_objects);

CK_RV store_replica_add(struct store *s, int64_t token_id, const uint8_t *unit_id, size_t unit_len,
			const char *unit_label, const uint8_t *key_id, size_t key_len);
CK_RV store_replicas(struct store *s, int64_t token_id, struct store_replica **list, size_t *count);

#endif
