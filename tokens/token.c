#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "conf/conf.h"
#include "tokens/store.h"
#include "tokens/token.h"

struct token {
	unsigned refs;
	struct registry *reg;
	struct store_token rec;       /* as last read from or written to the store */
	bool gone;
	enum login_state login;
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

static const char pin_context[] = "tpmha-pin-v1";
static const char object_context[] = "tpmha-object-v1";
static const char key_auth_context[] = "tpmha-key-auth-v1";

/* ---- references and lifetimes (registry lock held) ---- */

static void token_free(struct token *t)
{
	for (size_t i = 0; i < t->nobjects; i++)
		object_free(t->objects[i]);
	free(t->objects);
	store_token_release(&t->rec);
	secret_wipe(t->secret, sizeof(t->secret));
	free(t);
}

static void token_unref_locked(struct token *t)
{
	if (t && --t->refs == 0)
		token_free(t);
}

static void object_unref_locked(struct object *o)
{
	struct token *t;

	if (!o || --o->refs)
		return;
	t = o->token;
	object_free(o);
	token_unref_locked(t);
}

void token_put(struct token *t)
{
	struct registry *r;

	if (!t)
		return;
	r = t->reg;
	lock_acquire(r->lock);
	token_unref_locked(t);
	lock_release(r->lock);
}

void object_put(struct object *o)
{
	struct registry *r;

	if (!o)
		return;
	r = o->token->reg;
	lock_acquire(r->lock);
	object_unref_locked(o);
	lock_release(r->lock);
}

static void object_detach_locked(struct token *t, size_t index)
{
	struct object *o = t->objects[index];

	o->gone = true;
	t->objects[index] = t->objects[--t->nobjects];
	object_unref_locked(o);
}

static CK_RV object_attach_locked(struct token *t, struct object *o)
{
	if (t->nobjects == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct object **grown = realloc(t->objects, cap * sizeof(*grown));
		if (!grown)
			return CKR_HOST_MEMORY;
		t->objects = grown;
		t->cap = cap;
	}
	o->token = t;
	t->refs++;
	t->objects[t->nobjects++] = o;
	return CKR_OK;
}

/* ---- sealing with the token secret ---- */

static CK_RV seal_with_secret(const struct token *t, const uint8_t *secret, const char *context,
			      const uint8_t *plain, size_t len, struct tpm_blob *out)
{
	uint8_t aad[64];
	int aad_len = snprintf((char *)aad, sizeof(aad), "%s|%s", context, t->rec.serial);

	out->len = len + SECRETBOX_OVERHEAD;
	out->data = malloc(out->len);
	if (!out->data)
		return CKR_HOST_MEMORY;
	return secretbox_seal(secret, aad, (size_t)aad_len, plain, len, out->data);
}

/* Plaintext in *plain (wipe and free with secret_free(plain, len)). */
static CK_RV open_with_secret(const struct token *t, const uint8_t *secret, const char *context,
			      const struct tpm_blob *sealed, uint8_t **plain, size_t *len)
{
	uint8_t aad[64];
	int aad_len = snprintf((char *)aad, sizeof(aad), "%s|%s", context, t->rec.serial);
	CK_RV rv;

	if (sealed->len < SECRETBOX_OVERHEAD)
		return CKR_ENCRYPTED_DATA_INVALID;
	*len = sealed->len - SECRETBOX_OVERHEAD;
	*plain = malloc(*len ? *len : 1);
	if (!*plain)
		return CKR_HOST_MEMORY;
	rv = secretbox_open(secret, aad, (size_t)aad_len, sealed->data, sealed->len, *plain);
	if (rv != CKR_OK) {
		secret_free(*plain, *len);
		*plain = NULL;
	}
	return rv;
}

static CK_RV object_unlock_locked(struct token *t, struct object *o)
{
	uint8_t *plain = NULL;
	size_t len = 0;
	CK_RV rv = open_with_secret(t, t->secret, object_context, &o->sealed, &plain, &len);

	if (rv == CKR_OK)
		rv = attrs_deserialize(plain, len, &o->attrs);
	secret_free(plain, len);
	if (rv != CKR_OK) {
		LOGE("token %s: private object %lu does not open with the token secret (0x%lx)",
		     t->rec.serial, (unsigned long)o->handle, rv);
		return rv;
	}
	object_cache_flags(o);
	o->locked = false;
	return CKR_OK;
}

static void object_lock_locked(struct token *t, struct object *o)
{
	if (o->key) {
		if (o->key_users) {
			o->key_stale = true;
		} else {
			t->reg->tpm->ops->key_close(t->reg->tpm, o->key);
			o->key = NULL;
		}
	}
	if (o->is_private && o->on_token) {
		attrs_clear(&o->attrs);
		o->locked = true;
	}
}

/* ---- keeping in step with the store ---- */

static CK_RV object_from_row(struct token *t, struct store_object *row, struct object **out)
{
	struct object *o = object_new();
	CK_RV rv = CKR_OK;

	if (!o)
		return CKR_HOST_MEMORY;
	o->handle = (CK_OBJECT_HANDLE)row->id;
	o->gen = row->gen;
	o->on_token = true;
	o->is_private = row->is_private;
	o->token = t;
	o->tpm_key = row->tpm_key;
	o->key_auth = row->key_auth;
	memset(&row->tpm_key, 0, sizeof(row->tpm_key));
	memset(&row->key_auth, 0, sizeof(row->key_auth));
	if (o->is_private) {
		o->sealed = row->attrs;
		memset(&row->attrs, 0, sizeof(row->attrs));
		o->locked = true;
		if (t->login == LOGIN_USER)
			rv = object_unlock_locked(t, o);
	} else {
		rv = attrs_deserialize(row->attrs.data, row->attrs.len, &o->attrs);
		if (rv == CKR_OK)
			object_cache_flags(o);
		else
			LOGE("token %s: object %lld in the store is malformed", t->rec.serial, (long long)row->id);
	}
	o->token = NULL;
	if (rv != CKR_OK) {
		object_free(o);
		return rv;
	}
	*out = o;
	return CKR_OK;
}

static CK_RV token_sync_objects_locked(struct token *t, uint64_t version)
{
	struct store_object *rows = NULL;
	size_t nrows = 0;
	CK_RV rv;

	if (t->objects_loaded && t->objects_version == version)
		return CKR_OK;
	rv = store_objects(t->reg->store, t->rec.id, &rows, &nrows);
	if (rv != CKR_OK)
		return rv;
	/* Drop token objects that vanished or changed; session objects stay. */
	for (size_t i = 0; i < t->nobjects;) {
		struct object *o = t->objects[i];
		bool current = !o->on_token;
		for (size_t j = 0; !current && j < nrows; j++)
			if ((CK_OBJECT_HANDLE)rows[j].id == o->handle && rows[j].gen == o->gen)
				current = true;
		if (current)
			i++;
		else
			object_detach_locked(t, i);
	}
	for (size_t j = 0; j < nrows; j++) {
		struct object *o = NULL;
		bool have = false;
		for (size_t i = 0; !have && i < t->nobjects; i++)
			have = t->objects[i]->on_token && t->objects[i]->handle == (CK_OBJECT_HANDLE)rows[j].id;
		if (have)
			continue;
		/* A row we cannot read is left out (and logged), not fatal to the token. */
		if (object_from_row(t, &rows[j], &o) != CKR_OK)
			continue;
		rv = object_attach_locked(t, o);
		if (rv != CKR_OK) {
			object_free(o);
			break;
		}
	}
	store_objects_free(rows, nrows);
	if (rv == CKR_OK) {
		t->objects_version = version;
		t->objects_loaded = true;
	}
	return rv;
}

static struct token *token_new_locked(struct registry *r, struct store_token *rec)
{
	struct token *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->refs = 1; /* the registry's */
	t->reg = r;
	t->rec = *rec;
	memset(rec, 0, sizeof(*rec));
	return t;
}

static CK_RV registry_sync_locked(struct registry *r, uint64_t *version_out)
{
	struct store_token *recs = NULL;
	size_t nrecs = 0;
	uint64_t version;
	CK_RV rv = store_version(r->store, &version);

	if (rv != CKR_OK)
		return rv;
	if (version_out)
		*version_out = version;
	if (r->loaded && version == r->version)
		return CKR_OK;
	rv = store_tokens(r->store, &recs, &nrecs);
	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < r->ntokens;) {
		struct token *t = r->tokens[i];
		struct store_token *rec = NULL;
		for (size_t j = 0; j < nrecs && !rec; j++)
			if (recs[j].id == t->rec.id)
				rec = &recs[j];
		if (!rec) {
			t->gone = true;
			r->tokens[i] = r->tokens[--r->ntokens];
			token_unref_locked(t);
			continue;
		}
		if (rec->gen != t->rec.gen) {
			/* Re-initialized or PIN changed elsewhere: take the new record. A new
			 * token secret means our login no longer holds. */
			bool reset = rec->so_seal.len != t->rec.so_seal.len ||
				     memcmp(rec->so_seal.data, t->rec.so_seal.data, rec->so_seal.len) != 0;
			store_token_release(&t->rec);
			t->rec = *rec;
			memset(rec, 0, sizeof(*rec));
			if (reset && t->login != LOGIN_NONE) {
				LOGW("token %s was re-initialized by another process: logged out", t->rec.serial);
				for (size_t k = 0; k < t->nobjects; k++)
					object_lock_locked(t, t->objects[k]);
				secret_wipe(t->secret, sizeof(t->secret));
				t->login = LOGIN_NONE;
			}
		}
		rec->id = -1;
		i++;
	}
	for (size_t j = 0; j < nrecs; j++) {
		struct token *t;
		struct token **grown;
		if (recs[j].id < 0)
			continue;
		grown = realloc(r->tokens, (r->ntokens + 1) * sizeof(*grown));
		if (!grown) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		r->tokens = grown;
		t = token_new_locked(r, &recs[j]);
		if (!t) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		r->tokens[r->ntokens++] = t;
	}
	store_tokens_free(recs, nrecs);
	if (rv != CKR_OK)
		return rv;
	/* Keep slot order stable: by token id. */
	for (size_t i = 1; i < r->ntokens; i++)
		for (size_t k = i; k > 0 && r->tokens[k - 1]->rec.id > r->tokens[k]->rec.id; k--) {
			struct token *swap = r->tokens[k];
			r->tokens[k] = r->tokens[k - 1];
			r->tokens[k - 1] = swap;
		}
	r->version = version;
	r->loaded = true;
	return CKR_OK;
}

/* ---- the registry ---- */

CK_RV registry_open(const struct tpmha_config *cfg, struct registry **out)
{
	struct registry *r = calloc(1, sizeof(*r));
	CK_RV rv;

	if (!r)
		return CKR_HOST_MEMORY;
	r->next_session_object = SESSION_OBJECT_BASE;
	rv = lock_new(&r->lock);
	if (rv != CKR_OK)
		goto fail;
	rv = store_open(cfg->store_dir, &r->store);
	if (rv != CKR_OK)
		goto fail;
	rv = tpm_backend_open(cfg, &r->tpm);
	if (rv != CKR_OK)
		goto fail;
	rv = r->tpm->ops->get_info(r->tpm, &r->info);
	if (rv != CKR_OK)
		goto fail;
	lock_acquire(r->lock);
	rv = registry_sync_locked(r, NULL);
	lock_release(r->lock);
	if (rv != CKR_OK)
		goto fail;
	*out = r;
	return CKR_OK;
fail:
	registry_close(r);
	return rv;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	if (r->lock)
		lock_acquire(r->lock);
	for (size_t i = 0; i < r->ntokens; i++) {
		struct token *t = r->tokens[i];
		for (size_t k = 0; k < t->nobjects; k++) {
			t->objects[k]->gone = true;
			if (t->objects[k]->key && r->tpm) {
				r->tpm->ops->key_close(r->tpm, t->objects[k]->key);
				t->objects[k]->key = NULL;
			}
		}
		t->gone = true;
		secret_wipe(t->secret, sizeof(t->secret));
		token_unref_locked(t);
	}
	free(r->tokens);
	r->tokens = NULL;
	r->ntokens = 0;
	if (r->lock)
		lock_release(r->lock);
	if (r->tpm)
		r->tpm->ops->close(r->tpm);
	store_close(r->store);
	lock_free(r->lock);
	free(r);
}

void registry_abandon(struct registry *r)
{
	if (!r)
		return;
	/* The child must not flush the parent's TPM objects nor close its database:
	 * wipe what is secret, let the rest go with the process. */
	for (size_t i = 0; i < r->ntokens; i++)
		secret_wipe(r->tokens[i]->secret, sizeof(r->tokens[i]->secret));
	if (r->tpm && r->tpm->ops->abandon)
		r->tpm->ops->abandon(r->tpm);
	store_abandon(r->store);
}

struct tpm_backend *registry_backend(struct registry *r)
{
	return r->tpm;
}

CK_RV registry_slots(struct registry *r, CK_SLOT_ID *ids, CK_ULONG *count)
{
	CK_ULONG need;
	CK_RV rv;

	lock_acquire(r->lock);
	rv = registry_sync_locked(r, NULL);
	if (rv != CKR_OK)
		goto out;
	need = (CK_ULONG)r->ntokens + 1;
	if (ids) {
		if (*count < need) {
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			for (size_t i = 0; i < r->ntokens; i++)
				ids[i] = (CK_SLOT_ID)r->tokens[i]->rec.id;
			ids[r->ntokens] = FREE_SLOT_ID;
		}
	}
	*count = need;
out:
	lock_release(r->lock);
	return rv;
}

static struct token *token_by_slot_locked(struct registry *r, CK_SLOT_ID slot)
{
	for (size_t i = 0; i < r->ntokens; i++)
		if ((CK_SLOT_ID)r->tokens[i]->rec.id == slot)
			return r->tokens[i];
	return NULL;
}

CK_RV registry_token(struct registry *r, CK_SLOT_ID slot, struct token **out)
{
	struct token *t;
	CK_RV rv;

	*out = NULL;
	if (slot == FREE_SLOT_ID)
		return CKR_OK;
	lock_acquire(r->lock);
	t = token_by_slot_locked(r, slot);
	if (!t) {
		rv = registry_sync_locked(r, NULL);
		if (rv != CKR_OK)
			goto out;
		t = token_by_slot_locked(r, slot);
	}
	if (!t) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	t->refs++;
	*out = t;
	rv = CKR_OK;
out:
	lock_release(r->lock);
	return rv;
}

CK_RV registry_token_delete(struct registry *r, CK_SLOT_ID slot)
{
	CK_RV rv;

	if (slot == FREE_SLOT_ID)
		return CKR_SLOT_ID_INVALID;
	lock_acquire(r->lock);
	rv = store_token_delete(r->store, (int64_t)slot);
	if (rv == CKR_TOKEN_NOT_PRESENT)
		rv = CKR_SLOT_ID_INVALID;
	if (rv == CKR_OK)
		rv = registry_sync_locked(r, NULL);
	lock_release(r->lock);
	return rv;
}

static void pad_copy(CK_UTF8CHAR *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', size);
	memcpy(dst, src, n < size ? n : size);
}

CK_RV registry_slot_info(struct registry *r, CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
	char description[65];
	CK_RV rv = CKR_OK;

	lock_acquire(r->lock);
	if (slot != FREE_SLOT_ID && !token_by_slot_locked(r, slot)) {
		rv = registry_sync_locked(r, NULL);
		if (rv == CKR_OK && !token_by_slot_locked(r, slot))
			rv = CKR_SLOT_ID_INVALID;
	}
	lock_release(r->lock);
	if (rv != CKR_OK)
		return rv;
	snprintf(description, sizeof(description), "tpmha on TPM %d.%d (%s %s)", r->info.version / 10,
		 r->info.version % 10, r->info.manufacturer, r->info.vendor);
	pad_copy(info->slotDescription, sizeof(info->slotDescription), description);
	pad_copy(info->manufacturerID, sizeof(info->manufacturerID), r->info.manufacturer);
	info->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
	info->hardwareVersion.major = (CK_BYTE)(r->info.version / 10);
	info->hardwareVersion.minor = (CK_BYTE)(r->info.version % 10);
	info->firmwareVersion.major = r->info.fw_major;
	info->firmwareVersion.minor = r->info.fw_minor;
	return CKR_OK;
}

CK_RV registry_token_info(struct registry *r, CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	struct tpm_da_state da;
	struct token *t = NULL;
	char model[32];
	CK_RV rv;

	rv = registry_token(r, slot, &t);
	if (rv != CKR_OK)
		return rv;
	memset(info, 0, sizeof(*info));
	pad_copy(info->manufacturerID, sizeof(info->manufacturerID), "tpmha");
	snprintf(model, sizeof(model), "TPM %d.%d %.4s", r->info.version / 10 % 10,
		 r->info.version % 10, r->info.manufacturer);
	pad_copy(info->model, sizeof(info->model), model);
	info->flags = CKF_RNG | CKF_LOGIN_REQUIRED;
	lock_acquire(r->lock);
	if (t) {
		memcpy(info->label, t->rec.label, sizeof(info->label));
		pad_copy(info->serialNumber, sizeof(info->serialNumber), t->rec.serial);
		info->flags |= CKF_TOKEN_INITIALIZED;
		if (t->rec.user_seal.len)
			info->flags |= CKF_USER_PIN_INITIALIZED;
	} else {
		pad_copy(info->label, sizeof(info->label), "");
		pad_copy(info->serialNumber, sizeof(info->serialNumber), "");
	}
	lock_release(r->lock);
	token_put(t);

	/* The TPM counts wrong PINs for every DA-protected object alike: what it says
	 * holds for the user PIN and the SO PIN both. */
	rv = r->tpm->ops->get_da_state(r->tpm, &da);
	if (rv != CKR_OK)
		return rv;
	if (da.locked || (da.max_tries && da.failed_tries >= da.max_tries)) {
		info->flags |= CKF_USER_PIN_LOCKED | CKF_SO_PIN_LOCKED;
	} else if (da.failed_tries) {
		info->flags |= CKF_USER_PIN_COUNT_LOW | CKF_SO_PIN_COUNT_LOW;
		if (da.max_tries && da.failed_tries + 1 == da.max_tries)
			info->flags |= CKF_USER_PIN_FINAL_TRY | CKF_SO_PIN_FINAL_TRY;
	}
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulMaxPinLen = PIN_MAX_LEN;
	info->ulMinPinLen = PIN_MIN_LEN;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = (CK_BYTE)(r->info.version / 10);
	info->hardwareVersion.minor = (CK_BYTE)(r->info.version % 10);
	info->firmwareVersion.major = r->info.fw_major;
	info->firmwareVersion.minor = r->info.fw_minor;
	memset(info->utcTime, ' ', sizeof(info->utcTime));
	return CKR_OK;
}

/* ---- PINs ---- */

/* The TPM checks this value, never the store: a PIN guess needs the TPM and counts
 * against its dictionary-attack protection. */
static void pin_auth(const char *serial, enum login_state who, const uint8_t *pin, size_t len,
		     struct tpm_auth *auth)
{
	uint8_t role = (uint8_t)who;
	const void *parts[] = { pin_context, &role, serial, pin };
	const size_t lens[] = { sizeof(pin_context), 1, strlen(serial), len };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memset(auth, 0, sizeof(*auth));
	auth->len = 32;
	if (!ctx || EVP_DigestInit_ex(ctx, hash_md(HASH_SHA256), NULL) != 1) {
		/* A failed hash must not leave a predictable auth value. */
		ossl_random(auth->value, auth->len);
		EVP_MD_CTX_free(ctx);
		return;
	}
	for (size_t i = 0; i < 4; i++)
		EVP_DigestUpdate(ctx, parts[i], lens[i]);
	EVP_DigestFinal_ex(ctx, auth->value, NULL);
	EVP_MD_CTX_free(ctx);
}

static CK_RV check_new_pin(const uint8_t *pin, size_t len)
{
	if (len < PIN_MIN_LEN || len > PIN_MAX_LEN) {
		LOGW("PIN length %zu is outside %d..%d", len, PIN_MIN_LEN, PIN_MAX_LEN);
		return CKR_PIN_LEN_RANGE;
	}
	(void)pin;
	return CKR_OK;
}

static CK_RV check_parent(struct token *t, const struct tpm_blob *pinned)
{
	struct tpm_blob name = { 0 };
	CK_RV rv;

	if (t->parent_checked)
		return CKR_OK;
	rv = t->reg->tpm->ops->storage_key_name(t->reg->tpm, &name);
	if (rv != CKR_OK)
		return rv;
	if (name.len != pinned->len || memcmp(name.data, pinned->data, name.len) != 0) {
		LOGE("token %s was made under another unit storage key: this TPM was cleared or "
		     "replaced, or the store comes from another machine", t->rec.serial);
		rv = CKR_DEVICE_ERROR;
	} else {
		t->parent_checked = true;
	}
	tpm_blob_release(&name);
	return rv;
}

/* Copy what a TPM step needs out of the token, so the lock is not held across it. */
struct token_snapshot {
	char serial[17];
	struct tpm_blob seal;
	struct tpm_blob parent_name;
};

static CK_RV snapshot_locked(struct token *t, const struct tpm_blob *seal, struct token_snapshot *s)
{
	CK_RV rv;

	memcpy(s->serial, t->rec.serial, sizeof(s->serial));
	rv = tpm_blob_copy(&s->seal, seal->data, seal->len);
	if (rv == CKR_OK)
		rv = tpm_blob_copy(&s->parent_name, t->rec.parent_name.data, t->rec.parent_name.len);
	return rv;
}

static void snapshot_release(struct token_snapshot *s)
{
	tpm_blob_release(&s->seal);
	tpm_blob_release(&s->parent_name);
}

/* Ask the TPM for the token secret behind a PIN. */
static CK_RV unseal_with_pin(struct token *t, const struct token_snapshot *s, enum login_state who,
			     const uint8_t *pin, size_t len, uint8_t secret[TOKEN_SECRET_LEN])
{
	struct tpm_auth auth;
	size_t secret_len = TOKEN_SECRET_LEN;
	CK_RV rv;

	/* A PIN we would never have accepted cannot be right: answer without spending
	 * one of the TPM's tries on it. */
	if (len < PIN_MIN_LEN || len > PIN_MAX_LEN)
		return CKR_PIN_INCORRECT;
	rv = check_parent(t, &s->parent_name);
	if (rv != CKR_OK)
		return rv;
	pin_auth(s->serial, who, pin, len, &auth);
	rv = t->reg->tpm->ops->seal_open(t->reg->tpm, &s->seal, &auth, secret, &secret_len);
	secret_wipe(&auth, sizeof(auth));
	if (rv == CKR_OK && secret_len != TOKEN_SECRET_LEN) {
		LOGE("token %s: the sealed secret has %zu bytes", s->serial, secret_len);
		rv = CKR_DEVICE_ERROR;
	}
	if (rv != CKR_OK)
		secret_wipe(secret, TOKEN_SECRET_LEN);
	return rv;
}

static CK_RV seal_with_pin(struct token *t, const char *serial, enum login_state who,
			   const uint8_t *pin, size_t len, const uint8_t secret[TOKEN_SECRET_LEN],
			   struct tpm_blob *out)
{
	struct tpm_auth auth;
	CK_RV rv;

	pin_auth(serial, who, pin, len, &auth);
	rv = t->reg->tpm->ops->seal_create(t->reg->tpm, secret, TOKEN_SECRET_LEN, &auth, NULL, out);
	secret_wipe(&auth, sizeof(auth));
	return rv;
}

CK_RV token_login(struct token *t, CK_USER_TYPE who, const uint8_t *pin, size_t len)
{
	struct registry *r = t->reg;
	struct token_snapshot snap = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	enum login_state role = who == CKU_SO ? LOGIN_SO : LOGIN_USER;
	CK_RV rv;

	lock_acquire(r->lock);
	if (t->gone)
		rv = CKR_DEVICE_REMOVED;
	else if (t->login == role)
		rv = CKR_USER_ALREADY_LOGGED_IN;
	else if (t->login != LOGIN_NONE)
		rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	else if (role == LOGIN_USER && !t->rec.user_seal.len)
		rv = CKR_USER_PIN_NOT_INITIALIZED;
	else
		rv = snapshot_locked(t, role == LOGIN_SO ? &t->rec.so_seal : &t->rec.user_seal, &snap);
	lock_release(r->lock);
	if (rv != CKR_OK)
		goto out;

	rv = unseal_with_pin(t, &snap, role, pin, len, secret);
	if (rv != CKR_OK)
		goto out;

	lock_acquire(r->lock);
	if (t->login != LOGIN_NONE) {
		rv = t->login == role ? CKR_USER_ALREADY_LOGGED_IN : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	} else {
		memcpy(t->secret, secret, sizeof(secret));
		t->login = role;
		if (role == LOGIN_USER)
			for (size_t i = 0; i < t->nobjects; i++)
				if (t->objects[i]->locked)
					object_unlock_locked(t, t->objects[i]);
	}
	lock_release(r->lock);
out:
	secret_wipe(secret, sizeof(secret));
	snapshot_release(&snap);
	return rv;
}

CK_RV token_check_pin(struct token *t, enum login_state who, const uint8_t *pin, size_t len)
{
	struct registry *r = t->reg;
	struct token_snapshot snap = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	CK_RV rv;

	lock_acquire(r->lock);
	if (who == LOGIN_USER && !t->rec.user_seal.len)
		rv = CKR_USER_PIN_NOT_INITIALIZED;
	else
		rv = snapshot_locked(t, who == LOGIN_SO ? &t->rec.so_seal : &t->rec.user_seal, &snap);
	lock_release(r->lock);
	if (rv == CKR_OK)
		rv = unseal_with_pin(t, &snap, who, pin, len, secret);
	secret_wipe(secret, sizeof(secret));
	snapshot_release(&snap);
	return rv;
}

CK_RV token_verify_pin(struct token *t, const uint8_t *pin, size_t len)
{
	struct registry *r = t->reg;
	struct token_snapshot snap = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	enum login_state role;
	CK_RV rv;

	lock_acquire(r->lock);
	role = t->login;
	if (role == LOGIN_NONE)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		rv = snapshot_locked(t, role == LOGIN_SO ? &t->rec.so_seal : &t->rec.user_seal, &snap);
	lock_release(r->lock);
	if (rv == CKR_OK)
		rv = unseal_with_pin(t, &snap, role, pin, len, secret);
	secret_wipe(secret, sizeof(secret));
	snapshot_release(&snap);
	return rv;
}

CK_RV token_logout(struct token *t)
{
	struct registry *r = t->reg;
	CK_RV rv = CKR_OK;

	lock_acquire(r->lock);
	if (t->login == LOGIN_NONE) {
		rv = CKR_USER_NOT_LOGGED_IN;
	} else {
		for (size_t i = 0; i < t->nobjects; i++)
			object_lock_locked(t, t->objects[i]);
		secret_wipe(t->secret, sizeof(t->secret));
		t->login = LOGIN_NONE;
	}
	lock_release(r->lock);
	return rv;
}

CK_RV token_init_pin(struct token *t, const uint8_t *pin, size_t len)
{
	struct registry *r = t->reg;
	struct tpm_blob seal = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	char serial[17];
	CK_RV rv = check_new_pin(pin, len);

	if (rv != CKR_OK)
		return rv;
	lock_acquire(r->lock);
	if (t->login != LOGIN_SO)
		rv = CKR_USER_NOT_LOGGED_IN;
	memcpy(secret, t->secret, sizeof(secret));
	memcpy(serial, t->rec.serial, sizeof(serial));
	lock_release(r->lock);
	if (rv == CKR_OK)
		rv = seal_with_pin(t, serial, LOGIN_USER, pin, len, secret, &seal);
	if (rv == CKR_OK) {
		lock_acquire(r->lock);
		tpm_blob_release(&t->rec.user_seal);
		t->rec.user_seal = seal;
		memset(&seal, 0, sizeof(seal));
		rv = store_token_update(r->store, &t->rec);
		lock_release(r->lock);
	}
	tpm_blob_release(&seal);
	secret_wipe(secret, sizeof(secret));
	return rv;
}

CK_RV token_set_pin(struct token *t, enum login_state who, const uint8_t *old_pin, size_t old_len,
		    const uint8_t *new_pin, size_t new_len)
{
	struct registry *r = t->reg;
	struct token_snapshot snap = { 0 };
	struct tpm_blob seal = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	CK_RV rv = check_new_pin(new_pin, new_len);

	if (rv != CKR_OK)
		return rv;
	lock_acquire(r->lock);
	if (who == LOGIN_USER && !t->rec.user_seal.len)
		rv = CKR_USER_PIN_NOT_INITIALIZED;
	else
		rv = snapshot_locked(t, who == LOGIN_SO ? &t->rec.so_seal : &t->rec.user_seal, &snap);
	lock_release(r->lock);
	if (rv != CKR_OK)
		goto out;
	/* The old PIN is checked by the TPM; the new seal holds the same secret, so
	 * every key and private object stays readable. */
	rv = unseal_with_pin(t, &snap, who, old_pin, old_len, secret);
	if (rv == CKR_OK)
		rv = seal_with_pin(t, snap.serial, who, new_pin, new_len, secret, &seal);
	if (rv != CKR_OK)
		goto out;
	lock_acquire(r->lock);
	if (who == LOGIN_SO) {
		tpm_blob_release(&t->rec.so_seal);
		t->rec.so_seal = seal;
	} else {
		tpm_blob_release(&t->rec.user_seal);
		t->rec.user_seal = seal;
	}
	memset(&seal, 0, sizeof(seal));
	rv = store_token_update(r->store, &t->rec);
	lock_release(r->lock);
out:
	tpm_blob_release(&seal);
	secret_wipe(secret, sizeof(secret));
	snapshot_release(&snap);
	return rv;
}

CK_RV registry_init_token(struct registry *r, CK_SLOT_ID slot, const uint8_t *so_pin,
			  size_t so_pin_len, const uint8_t label[32], CK_SLOT_ID *new_slot)
{
	struct store_token rec = { 0 };
	struct token *t = NULL;
	struct token_snapshot snap = { 0 };
	struct token scratch = { .reg = r };
	uint8_t secret[TOKEN_SECRET_LEN], serial_bytes[8];
	CK_RV rv;

	if (slot != FREE_SLOT_ID) {
		rv = registry_token(r, slot, &t);
		if (rv != CKR_OK)
			return rv;
		lock_acquire(r->lock);
		rv = snapshot_locked(t, &t->rec.so_seal, &snap);
		lock_release(r->lock);
		if (rv == CKR_OK)
			rv = unseal_with_pin(t, &snap, LOGIN_SO, so_pin, so_pin_len, secret);
		if (rv != CKR_OK)
			goto out;
		memcpy(rec.serial, snap.serial, sizeof(rec.serial));
	} else {
		rv = check_new_pin(so_pin, so_pin_len);
		if (rv != CKR_OK)
			return rv;
		rv = r->tpm->ops->random(r->tpm, serial_bytes, sizeof(serial_bytes));
		if (rv != CKR_OK)
			goto out;
		for (size_t i = 0; i < sizeof(serial_bytes); i++)
			snprintf(rec.serial + 2 * i, 3, "%02x", serial_bytes[i]);
	}
	/* A fresh secret either way: re-initialization must leave nothing readable. */
	rv = r->tpm->ops->random(r->tpm, secret, sizeof(secret));
	if (rv != CKR_OK)
		goto out;
	memcpy(rec.label, label, sizeof(rec.label));
	rec.tpm_version = r->info.version;
	rv = r->tpm->ops->storage_key_name(r->tpm, &rec.parent_name);
	if (rv != CKR_OK)
		goto out;
	rv = seal_with_pin(t ? t : &scratch, rec.serial, LOGIN_SO, so_pin, so_pin_len, secret, &rec.so_seal);
	if (rv != CKR_OK)
		goto out;

	lock_acquire(r->lock);
	if (t) {
		rec.id = t->rec.id;
		rec.gen = t->rec.gen;
		rv = store_token_reset(r->store, &rec);
		if (rv == CKR_OK) {
			while (t->nobjects)
				object_detach_locked(t, t->nobjects - 1);
			secret_wipe(t->secret, sizeof(t->secret));
			t->login = LOGIN_NONE;
			store_token_release(&t->rec);
			t->rec = rec;
			memset(&rec, 0, sizeof(rec));
			t->objects_loaded = false;
			*new_slot = slot;
		}
	} else {
		rv = store_token_insert(r->store, &rec);
		if (rv == CKR_OK) {
			*new_slot = (CK_SLOT_ID)rec.id;
			LOGI("token %s created in slot %lu", rec.serial, (unsigned long)rec.id);
			rv = registry_sync_locked(r, NULL);
		}
	}
	lock_release(r->lock);
out:
	secret_wipe(secret, sizeof(secret));
	store_token_release(&rec);
	snapshot_release(&snap);
	token_put(t);
	return rv;
}

/* ---- small accessors ---- */

struct tpm_backend *token_backend(struct token *t)
{
	return t->reg->tpm;
}

CK_SLOT_ID token_slot(struct token *t)
{
	return (CK_SLOT_ID)t->rec.id;
}

bool token_gone(struct token *t)
{
	bool gone;

	lock_acquire(t->reg->lock);
	gone = t->gone;
	lock_release(t->reg->lock);
	return gone;
}

enum login_state token_login_state(struct token *t)
{
	enum login_state state;

	lock_acquire(t->reg->lock);
	state = t->login;
	lock_release(t->reg->lock);
	return state;
}

/* ---- objects ---- */

static bool visible_locked(const struct token *t, const struct object *o)
{
	return !o->gone && !o->locked && (!o->is_private || t->login == LOGIN_USER);
}

static struct object *object_by_handle_locked(struct token *t, CK_OBJECT_HANDLE handle)
{
	for (size_t i = 0; i < t->nobjects; i++)
		if (t->objects[i]->handle == handle)
			return t->objects[i];
	return NULL;
}

CK_RV token_object(struct token *t, CK_OBJECT_HANDLE handle, struct object **out)
{
	struct registry *r = t->reg;
	struct object *o;
	uint64_t version;
	CK_RV rv = CKR_OK;

	*out = NULL;
	lock_acquire(r->lock);
	o = object_by_handle_locked(t, handle);
	if (!o && handle < SESSION_OBJECT_BASE) {
		/* Maybe another process made it since we last looked. */
		rv = registry_sync_locked(r, &version);
		if (rv == CKR_OK)
			rv = token_sync_objects_locked(t, version);
		o = object_by_handle_locked(t, handle);
	}
	if (rv == CKR_OK && (!o || !visible_locked(t, o)))
		rv = CKR_OBJECT_HANDLE_INVALID;
	if (rv == CKR_OK) {
		o->refs++;
		*out = o;
	}
	lock_release(r->lock);
	return rv;
}

CK_RV token_find(struct token *t, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		 CK_OBJECT_HANDLE **handles, size_t *found)
{
	struct registry *r = t->reg;
	CK_OBJECT_HANDLE *list = NULL;
	uint64_t version;
	size_t n = 0;
	CK_RV rv;

	lock_acquire(r->lock);
	rv = registry_sync_locked(r, &version);
	if (rv == CKR_OK)
		rv = token_sync_objects_locked(t, version);
	if (rv != CKR_OK)
		goto out;
	list = malloc((t->nobjects ? t->nobjects : 1) * sizeof(*list));
	if (!list) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	for (size_t i = 0; i < t->nobjects; i++)
		if (visible_locked(t, t->objects[i]) && attrs_match(&t->objects[i]->attrs, tmpl, count))
			list[n++] = t->objects[i]->handle;
	/* Store order (creation order) is what people expect from a listing. */
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && list[k - 1] > list[k]; k--) {
			CK_OBJECT_HANDLE swap = list[k];
			list[k] = list[k - 1];
			list[k - 1] = swap;
		}
out:
	lock_release(r->lock);
	if (rv != CKR_OK) {
		free(list);
		return rv;
	}
	*handles = list;
	*found = n;
	return CKR_OK;
}

/* The store record of an object (attributes sealed if private). */
static CK_RV object_record_locked(struct token *t, const struct attrs *attrs, bool is_private,
				  struct tpm_blob *out)
{
	struct buf b = BUF_INIT;
	uint8_t *plain;
	size_t len = 0;
	CK_RV rv;

	b.secret = is_private;
	attrs_serialize(attrs, &b);
	plain = buf_take(&b, &len);
	if (!plain)
		return CKR_HOST_MEMORY;
	if (is_private)
		rv = seal_with_secret(t, t->secret, object_context, plain, len, out);
	else
		rv = tpm_blob_copy(out, plain, len);
	if (is_private)
		secret_free(plain, len);
	else
		free(plain);
	return rv;
}

static CK_RV object_add_locked(struct token *t, CK_SESSION_HANDLE session, struct attrs *attrs,
			       const struct tpm_blob *tpm_key, const struct tpm_blob *sealed_auth,
			       CK_OBJECT_HANDLE *handle)
{
	struct object *o = object_new();
	struct store_object row = { 0 };
	CK_RV rv;

	if (!o)
		return CKR_HOST_MEMORY;
	o->attrs = *attrs;
	memset(attrs, 0, sizeof(*attrs));
	object_cache_flags(o);
	if (o->is_private && t->login != LOGIN_USER) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto fail;
	}
	if (tpm_key && tpm_key->len) {
		if ((rv = tpm_blob_copy(&o->tpm_key, tpm_key->data, tpm_key->len)) != CKR_OK ||
		    (rv = tpm_blob_copy(&o->key_auth, sealed_auth->data, sealed_auth->len)) != CKR_OK)
			goto fail;
	}
	if (o->on_token) {
		row.token_id = t->rec.id;
		row.is_private = o->is_private;
		rv = object_record_locked(t, &o->attrs, o->is_private, &row.attrs);
		if (rv != CKR_OK)
			goto fail;
		row.tpm_key = o->tpm_key;
		row.key_auth = o->key_auth;
		rv = store_object_insert(t->reg->store, &row);
		tpm_blob_release(&row.attrs);
		if (rv != CKR_OK)
			goto fail;
		o->handle = (CK_OBJECT_HANDLE)row.id;
		o->gen = row.gen;
		if (o->is_private) {
			/* Keep the sealed form too, for re-locking at logout. */
			rv = object_record_locked(t, &o->attrs, true, &o->sealed);
			if (rv != CKR_OK)
				goto fail_stored;
		}
	} else {
		o->handle = t->reg->next_session_object++;
		o->session = session;
	}
	rv = object_attach_locked(t, o);
	if (rv != CKR_OK)
		goto fail_stored;
	*handle = o->handle;
	return CKR_OK;
fail_stored:
	if (o->on_token)
		store_object_delete(t->reg->store, (int64_t)o->handle);
fail:
	object_free(o);
	return rv;
}

CK_RV token_object_add(struct token *t, CK_SESSION_HANDLE session, struct attrs *attrs,
		       const struct tpm_blob *tpm_key, const struct tpm_auth *key_auth,
		       CK_OBJECT_HANDLE *handle)
{
	struct registry *r = t->reg;
	struct tpm_blob sealed_auth = { 0 };
	CK_RV rv = CKR_OK;

	lock_acquire(r->lock);
	if (t->gone)
		rv = CKR_DEVICE_REMOVED;
	else if (key_auth && t->login != LOGIN_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	else if (key_auth)
		rv = seal_with_secret(t, t->secret, key_auth_context, key_auth->value, key_auth->len,
				      &sealed_auth);
	if (rv == CKR_OK)
		rv = object_add_locked(t, session, attrs, tpm_key, &sealed_auth, handle);
	lock_release(r->lock);
	tpm_blob_release(&sealed_auth);
	return rv;
}

static size_t object_index_locked(struct token *t, const struct object *o)
{
	for (size_t i = 0; i < t->nobjects; i++)
		if (t->objects[i] == o)
			return i;
	return (size_t)-1;
}

CK_RV token_object_destroy(struct token *t, struct object *o, bool rw)
{
	struct registry *r = t->reg;
	size_t index;
	CK_RV rv = CKR_OK;

	lock_acquire(r->lock);
	index = object_index_locked(t, o);
	if (o->gone || index == (size_t)-1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (o->on_token && !rw)
		rv = CKR_SESSION_READ_ONLY;
	else if (!attrs_get_bool(&o->attrs, CKA_DESTROYABLE, true))
		rv = CKR_ACTION_PROHIBITED;
	else if (o->on_token)
		rv = store_object_delete(r->store, (int64_t)o->handle);
	if (rv == CKR_OK)
		object_detach_locked(t, index);
	lock_release(r->lock);
	return rv;
}

CK_RV token_object_update(struct token *t, struct object *o, const struct attrs *changes, bool rw)
{
	struct registry *r = t->reg;
	struct attrs next = ATTRS_INIT;
	struct store_object row = { 0 };
	struct tpm_blob sealed = { 0 };
	CK_RV rv;

	lock_acquire(r->lock);
	if (o->gone)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (o->on_token && !rw)
		rv = CKR_SESSION_READ_ONLY;
	else if (!attrs_get_bool(&o->attrs, CKA_MODIFIABLE, true))
		rv = CKR_ACTION_PROHIBITED;
	else
		rv = object_check_changes(o, changes, false, t->login == LOGIN_SO);
	if (rv == CKR_OK)
		rv = attrs_copy(&next, &o->attrs);
	for (size_t i = 0; rv == CKR_OK && i < changes->n; i++)
		rv = attrs_set(&next, changes->v[i].type, changes->v[i].pValue, changes->v[i].ulValueLen);
	if (rv != CKR_OK)
		goto out;
	if (o->on_token) {
		row.id = (int64_t)o->handle;
		row.gen = o->gen;
		row.is_private = o->is_private;
		rv = object_record_locked(t, &next, o->is_private, &row.attrs);
		if (rv == CKR_OK)
			rv = store_object_update(r->store, &row);
		if (rv != CKR_OK)
			goto out;
		if (o->is_private) {
			sealed = row.attrs;
			memset(&row.attrs, 0, sizeof(row.attrs));
			tpm_blob_release(&o->sealed);
			o->sealed = sealed;
		}
		o->gen = row.gen;
	}
	attrs_clear(&o->attrs);
	o->attrs = next;
	memset(&next, 0, sizeof(next));
	object_cache_flags(o);
out:
	lock_release(r->lock);
	attrs_clear(&next);
	tpm_blob_release(&row.attrs);
	return rv;
}

CK_RV token_object_copy(struct token *t, CK_SESSION_HANDLE session, bool rw, struct object *o,
			const struct attrs *changes, CK_OBJECT_HANDLE *handle)
{
	struct registry *r = t->reg;
	struct attrs next = ATTRS_INIT;
	CK_RV rv;

	lock_acquire(r->lock);
	if (o->gone)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (!attrs_get_bool(&o->attrs, CKA_COPYABLE, true))
		rv = CKR_ACTION_PROHIBITED;
	else
		rv = object_check_changes(o, changes, true, t->login == LOGIN_SO);
	if (rv == CKR_OK)
		rv = attrs_copy(&next, &o->attrs);
	for (size_t i = 0; rv == CKR_OK && i < changes->n; i++)
		rv = attrs_set(&next, changes->v[i].type, changes->v[i].pValue, changes->v[i].ulValueLen);
	if (rv == CKR_OK && attrs_get_bool(&next, CKA_TOKEN, false) && !rw)
		rv = CKR_SESSION_READ_ONLY;
	/* The copy shares the TPM key and its sealed auth value: same token, same secret. */
	if (rv == CKR_OK)
		rv = object_add_locked(t, session, &next, &o->tpm_key, &o->key_auth, handle);
	lock_release(r->lock);
	attrs_clear(&next);
	return rv;
}

CK_RV token_object_read(struct token *t, struct object *o, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	struct registry *r = t->reg;
	CK_RV rv = CKR_OK;

	lock_acquire(r->lock);
	if (o->gone || !visible_locked(t, o)) {
		lock_release(r->lock);
		return CKR_OBJECT_HANDLE_INVALID;
	}
	/* Every attribute is answered; the result is the last problem met, as the
	 * PKCS#11 v2.40 C_GetAttributeValue rules allow. */
	for (CK_ULONG i = 0; i < count; i++) {
		CK_RV one = object_get_attribute(o, &tmpl[i]);
		if (one != CKR_OK)
			rv = one;
	}
	lock_release(r->lock);
	return rv;
}

CK_ULONG token_object_size(struct token *t, struct object *o)
{
	CK_ULONG size;

	lock_acquire(t->reg->lock);
	size = object_size(o);
	lock_release(t->reg->lock);
	return size;
}

void token_session_closed(struct token *t, CK_SESSION_HANDLE session)
{
	struct registry *r = t->reg;

	lock_acquire(r->lock);
	for (size_t i = 0; i < t->nobjects;) {
		struct object *o = t->objects[i];
		if (!o->on_token && o->session == session)
			object_detach_locked(t, i);
		else
			i++;
	}
	lock_release(r->lock);
}

CK_RV token_key_get(struct token *t, struct object *o, struct tpm_key **key)
{
	struct registry *r = t->reg;
	struct tpm_blob blob = { 0 }, sealed_auth = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	struct tpm_auth auth = { 0 };
	struct tpm_key *opened = NULL;
	uint8_t *plain = NULL;
	size_t len = 0;
	CK_RV rv = CKR_OK;

	lock_acquire(r->lock);
	if (t->login != LOGIN_USER) {
		lock_release(r->lock);
		return CKR_USER_NOT_LOGGED_IN;
	}
	if (o->key) {
		/* A key kept open past a logout by its last user serves the new login too:
		 * its auth value does not depend on the login. */
		o->key_stale = false;
		o->key_users++;
		*key = o->key;
		lock_release(r->lock);
		return CKR_OK;
	}
	if (!o->tpm_key.len || !o->key_auth.len)
		rv = CKR_KEY_HANDLE_INVALID;
	else if ((rv = tpm_blob_copy(&blob, o->tpm_key.data, o->tpm_key.len)) == CKR_OK)
		rv = tpm_blob_copy(&sealed_auth, o->key_auth.data, o->key_auth.len);
	memcpy(secret, t->secret, sizeof(secret));
	lock_release(r->lock);
	if (rv != CKR_OK)
		goto out;

	rv = open_with_secret(t, secret, key_auth_context, &sealed_auth, &plain, &len);
	if (rv != CKR_OK || len > sizeof(auth.value)) {
		LOGE("token %s: the auth value of key %lu does not open", t->rec.serial, (unsigned long)o->handle);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	memcpy(auth.value, plain, len);
	auth.len = len;
	rv = r->tpm->ops->key_open(r->tpm, &blob, &auth, &opened);
	if (rv != CKR_OK)
		goto out;

	lock_acquire(r->lock);
	if (o->key)
		r->tpm->ops->key_close(r->tpm, opened); /* another thread was quicker */
	else
		o->key = opened;
	opened = NULL;
	o->key_stale = false;
	o->key_users++;
	*key = o->key;
	lock_release(r->lock);
out:
	secret_free(plain, len);
	secret_wipe(secret, sizeof(secret));
	secret_wipe(&auth, sizeof(auth));
	tpm_blob_release(&blob);
	tpm_blob_release(&sealed_auth);
	return rv;
}

void token_key_put(struct token *t, struct object *o)
{
	struct registry *r = t->reg;

	lock_acquire(r->lock);
	if (o->key_users && --o->key_users == 0 && o->key_stale && o->key) {
		r->tpm->ops->key_close(r->tpm, o->key);
		o->key = NULL;
		o->key_stale = false;
	}
	lock_release(r->lock);
}

CK_RV token_new_key_auth(struct token *t, struct tpm_auth *auth)
{
	(void)t;
	auth->len = 32;
	return ossl_random(auth->value, auth->len);
}
