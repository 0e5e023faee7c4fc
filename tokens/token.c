/* Objects of a token: visibility, the store in step, creation, change, keys. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "tokens/store.h"
#include "tokens/token_int.h"

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

void token_unref_locked(struct token *t)
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

/* The last reference needs the lock (the token's own lock-protected state goes);
 * any other is one atomic step, so operations ending do not queue on the lock. */
void token_put(struct token *t)
{
	struct registry *r;

	if (!t)
		return;
	r = t->reg;
	if (atomic_fetch_sub(&t->refs, 1) > 1)
		return;
	atomic_store(&t->refs, 1);
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
	if (atomic_fetch_sub(&o->refs, 1) > 1)
		return;
	atomic_store(&o->refs, 1);
	lock_acquire(r->lock);
	object_unref_locked(o);
	lock_release(r->lock);
}

void object_detach_locked(struct token *t, size_t index)
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

CK_RV object_unlock_locked(struct token *t, struct object *o)
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

void object_lock_locked(struct token *t, struct object *o)
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

CK_RV token_sync_objects_locked(struct token *t, uint64_t version)
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

	lock_acquire_shared(t->reg->lock);
	gone = t->gone;
	lock_release(t->reg->lock);
	return gone;
}

enum login_state token_login_state(struct token *t)
{
	enum login_state state;

	lock_acquire_shared(t->reg->lock);
	state = t->login;
	lock_release(t->reg->lock);
	return state;
}

/* ---- objects ---- */

static bool visible_locked(const struct token *t, const struct object *o)
{
	return !o->gone && !o->locked && (!o->is_private || t->login == LOGIN_USER);
}

/* The handle an application sees. A private object's carries the login it was
 * found under: PKCS#11 has C_Logout invalidate handles to private objects for good,
 * even across a later login, while our object ids stay the same in the store. */
CK_OBJECT_HANDLE token_handle_locked(const struct token *t, const struct object *o)
{
	if (!o->is_private || sizeof(CK_OBJECT_HANDLE) <= 4)
		return o->handle;
	return o->handle | ((CK_OBJECT_HANDLE)t->login_epoch << 32);
}

static struct object *object_by_handle_locked(struct token *t, CK_OBJECT_HANDLE handle)
{
	CK_OBJECT_HANDLE id = handle, epoch = 0;

	if (sizeof(CK_OBJECT_HANDLE) > 4) {
		id = handle & 0xffffffffu;
		epoch = handle >> 32;
	}
	for (size_t i = 0; i < t->nobjects; i++) {
		struct object *o = t->objects[i];
		if (o->handle == id)
			return epoch == (o->is_private ? t->login_epoch : 0) ? o : NULL;
	}
	return NULL;
}

/* Under the shared lock: does our picture of the token still match the store? */
static bool current_locked(struct token *t, uint64_t *version, CK_RV *rv)
{
	struct registry *r = t->reg;

	*rv = store_version(r->store, version);
	return *rv == CKR_OK && r->loaded && *version == r->version && t->objects_loaded &&
	       t->objects_version == *version;
}

static CK_RV sync_locked(struct token *t)
{
	uint64_t version;
	CK_RV rv = registry_sync_locked(t->reg, &version);

	return rv == CKR_OK ? token_sync_objects_locked(t, version) : rv;
}

CK_RV token_object(struct token *t, CK_OBJECT_HANDLE handle, struct object **out)
{
	struct registry *r = t->reg;
	struct object *o;
	uint64_t version;
	CK_RV rv;

	*out = NULL;
	/* The common case, nothing written since we looked, needs only a shared lock;
	 * otherwise another process may have made, changed or destroyed the object. */
	lock_acquire_shared(r->lock);
	if (current_locked(t, &version, &rv)) {
		o = object_by_handle_locked(t, handle);
		if (o && visible_locked(t, o)) {
			o->refs++;
			*out = o;
		}
		lock_release(r->lock);
		return *out ? CKR_OK : CKR_OBJECT_HANDLE_INVALID;
	}
	lock_release(r->lock);
	if (rv != CKR_OK)
		return rv;

	lock_acquire(r->lock);
	rv = sync_locked(t);
	o = rv == CKR_OK ? object_by_handle_locked(t, handle) : NULL;
	if (rv == CKR_OK && (!o || !visible_locked(t, o)))
		rv = CKR_OBJECT_HANDLE_INVALID;
	if (rv == CKR_OK) {
		o->refs++;
		*out = o;
	}
	lock_release(r->lock);
	return rv;
}

static int handle_order(const void *a, const void *b)
{
	CK_OBJECT_HANDLE x = *(const CK_OBJECT_HANDLE *)a & 0xffffffffu;
	CK_OBJECT_HANDLE y = *(const CK_OBJECT_HANDLE *)b & 0xffffffffu;

	return x < y ? -1 : x > y;
}

static CK_RV scan_locked(struct token *t, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
			 CK_OBJECT_HANDLE **handles, size_t *found)
{
	CK_OBJECT_HANDLE *list = malloc((t->nobjects ? t->nobjects : 1) * sizeof(*list));
	size_t n = 0;

	if (!list)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < t->nobjects; i++)
		if (visible_locked(t, t->objects[i]) && attrs_match(&t->objects[i]->attrs, tmpl, count))
			list[n++] = token_handle_locked(t, t->objects[i]);
	/* Store order (creation order) is what people expect from a listing. */
	qsort(list, n, sizeof(*list), handle_order);
	*handles = list;
	*found = n;
	return CKR_OK;
}

CK_RV token_find(struct token *t, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
		 CK_OBJECT_HANDLE **handles, size_t *found)
{
	struct registry *r = t->reg;
	uint64_t version;
	CK_RV rv;

	/* Nobody wrote the store since we read it: a shared lock is enough to scan. */
	lock_acquire_shared(r->lock);
	if (current_locked(t, &version, &rv)) {
		rv = scan_locked(t, tmpl, count, handles, found);
		lock_release(r->lock);
		return rv;
	}
	lock_release(r->lock);
	if (rv != CKR_OK)
		return rv;

	lock_acquire(r->lock);
	rv = sync_locked(t);
	if (rv == CKR_OK)
		rv = scan_locked(t, tmpl, count, handles, found);
	lock_release(r->lock);
	return rv;
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
	*handle = token_handle_locked(t, o);
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

	lock_acquire_shared(r->lock);
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

	lock_acquire_shared(t->reg->lock);
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

CK_RV token_key_get(struct token *t, struct object *o, struct tpm_key **key, unsigned *bits,
		    size_t *bytes)
{
	struct registry *r = t->reg;
	struct tpm_blob blob = { 0 }, sealed_auth = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	struct tpm_auth auth = { 0 };
	struct tpm_key *opened = NULL;
	struct tpm_public pub;
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
		*bits = o->key_bits;
		*bytes = o->key_bytes;
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
	/* The TPM blob says what the key is (the attributes could have been edited in
	 * the store); read once per opening, not per operation. */
	rv = r->tpm->ops->key_public(r->tpm, &blob, &pub);
	if (rv != CKR_OK) {
		LOGE("token %s: key %lu has no usable TPM blob", t->rec.serial, (unsigned long)o->handle);
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	rv = r->tpm->ops->key_open(r->tpm, &blob, &auth, &opened);
	if (rv != CKR_OK)
		goto out;

	lock_acquire(r->lock);
	if (o->key) {
		r->tpm->ops->key_close(r->tpm, opened); /* another thread was quicker */
	} else {
		o->key = opened;
		o->key_bits = pub.bits;
		o->key_bytes = pub.type == TPM_KEY_RSA ? pub.modulus_len : pub.coord_len;
	}
	opened = NULL;
	o->key_stale = false;
	o->key_users++;
	*key = o->key;
	*bits = o->key_bits;
	*bytes = o->key_bytes;
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
