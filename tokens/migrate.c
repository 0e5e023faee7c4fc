/* Tokens across units: bundles out (token_export) and in (registry_receive). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "migration/bundle.h"
#include "tokens/migrate.h"
#include "tokens/object.h"
#include "tokens/store.h"
#include "tokens/token_int.h"
#include "tpmha/tpmha.h"

CK_RV token_domain(struct token *t, struct domain_file *d, bool *in_domain)
{
	struct tpm_blob copy = { 0 };
	CK_RV rv = CKR_OK;

	memset(d, 0, sizeof(*d));
	*in_domain = false;
	lock_acquire_shared(t->reg->lock);
	if (t->rec.domain.len)
		rv = tpm_blob_copy(&copy, t->rec.domain.data, t->rec.domain.len);
	lock_release(t->reg->lock);
	if (rv != CKR_OK || !copy.len)
		return rv;
	rv = domain_file_parse(copy.data, copy.len, d);
	if (rv != CKR_OK) {
		LOGE("token %s: its migration domain in the store does not parse", t->rec.serial);
		rv = CKR_DEVICE_ERROR;
	} else {
		*in_domain = true;
	}
	tpm_blob_release(&copy);
	return rv;
}

bool token_in_domain(struct token *t)
{
	bool in;

	lock_acquire_shared(t->reg->lock);
	in = t->rec.domain.len > 0;
	lock_release(t->reg->lock);
	return in;
}

CK_RV registry_unit_identity(struct registry *r, const char *label, struct buf *out)
{
	struct tpm_unit_identity u = { 0 };
	CK_RV rv = r->tpm->ops->unit_identity(r->tpm, &u);

	if (rv == CKR_OK)
		rv = unit_file_create(&u, label, out);
	tpm_unit_identity_release(&u);
	return rv;
}

CK_RV registry_local_unit_id(struct registry *r, uint8_t id[UNIT_ID_LEN])
{
	struct tpm_unit_identity u = { 0 };
	CK_RV rv = r->tpm->ops->unit_identity(r->tpm, &u);

	if (rv == CKR_OK)
		unit_id_of(&u, id);
	tpm_unit_identity_release(&u);
	return rv;
}

CK_RV registry_init_domain_token(struct registry *r, const uint8_t *so_pin, size_t so_pin_len,
				 const uint8_t label[32], const uint8_t *domain, size_t domain_len,
				 CK_SLOT_ID *new_slot)
{
	if (!domain || !domain_len)
		return CKR_ARGUMENTS_BAD;
	return init_token(r, FREE_SLOT_ID, so_pin, so_pin_len, label, domain, domain_len, new_slot);
}

/* The store form of this unit's own unit object. */
static CK_RV local_unit_object(struct registry *r, struct store_object *row, uint8_t id[UNIT_ID_LEN])
{
	struct buf file = BUF_INIT, ser = BUF_INIT;
	struct attrs a = ATTRS_INIT;
	CK_OBJECT_CLASS klass = CKO_TPMHA_UNIT;
	uint8_t *bytes;
	size_t len = 0;
	char host[LABEL_MAX + 1] = "";
	CK_RV rv;

	/* The object travels with the token, so it names this unit as others know it. */
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	rv = registry_unit_identity(r, host, &file);

	memset(row, 0, sizeof(*row));
	if (rv == CKR_OK && file.failed)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = attrs_set(&a, CKA_CLASS, &klass, sizeof(klass));
	if (rv == CKR_OK)
		rv = attrs_set_bool(&a, CKA_TOKEN, true);
	if (rv == CKR_OK)
		rv = attrs_set(&a, CKA_VALUE, file.data, file.len);
	if (rv == CKR_OK)
		rv = object_template_complete(&a, ORIGIN_CREATE, CK_UNAVAILABLE_INFORMATION,
					      CK_UNAVAILABLE_INFORMATION, false);
	if (rv == CKR_OK) {
		const CK_ATTRIBUTE *uid = attrs_find(&a, CKA_TPMHA_UNIT_ID);
		memcpy(id, uid->pValue, UNIT_ID_LEN);
		attrs_serialize(&a, &ser);
		bytes = buf_take(&ser, &len);
		rv = bytes ? CKR_OK : CKR_HOST_MEMORY;
		if (rv == CKR_OK) {
			row->attrs.data = bytes;
			row->attrs.len = len;
		}
	}
	attrs_clear(&a);
	buf_release(&file);
	buf_release(&ser);
	return rv;
}

CK_RV store_add_local_unit_locked(struct registry *r, int64_t token_id)
{
	struct store_object row;
	uint8_t id[UNIT_ID_LEN];
	CK_RV rv = local_unit_object(r, &row, id);

	if (rv == CKR_OK) {
		row.token_id = token_id;
		rv = store_object_insert(r->store, &row);
	}
	store_object_release(&row);
	return rv;
}

/* ---- export ---- */

/* What goes in a bundle: store rows picked by handle, with what the TPM must do. */
struct pick {
	int64_t id;
	bool is_key;      /* a private key: duplicate its TPM blob */
	uint8_t key_id[32]; /* SHA-256 of its SubjectPublicKeyInfo, for the replica record */
	char label[LABEL_MAX + 1];
};

static bool same_bytes(const CK_ATTRIBUTE *a, const CK_ATTRIBUTE *b)
{
	return a && b && a->ulValueLen == b->ulValueLen &&
	       (a->ulValueLen == 0 || memcmp(a->pValue, b->pValue, a->ulValueLen) == 0);
}

/* Under the registry lock, from the objects as the logged-in user sees them. */
static CK_RV pick_objects_locked(struct token *t, const struct object *key, struct pick **out, size_t *n)
{
	const CK_ATTRIBUTE *id = key ? attrs_find(&key->attrs, CKA_ID) : NULL;
	struct pick *picks = calloc(t->nobjects ? t->nobjects : 1, sizeof(*picks));
	size_t count = 0;

	if (!picks)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < t->nobjects; i++) {
		const struct object *o = t->objects[i];
		bool is_key = o->klass == CKO_PRIVATE_KEY;
		if (!o->on_token || o->gone || o->locked)
			continue;
		if (key) {
			/* One key: it, and the public keys and certificates that go with it. */
			if (o != key && !((o->klass == CKO_PUBLIC_KEY || o->klass == CKO_CERTIFICATE) &&
					  same_bytes(attrs_find(&o->attrs, CKA_ID), id)))
				continue;
		} else if (is_key && !attrs_get_bool(&o->attrs, CKA_EXTRACTABLE, false)) {
			LOGI("token %s: key %lu is not extractable and stays on this unit", t->rec.serial,
			     (unsigned long)o->handle);
			continue;
		}
		picks[count].id = (int64_t)o->handle;
		picks[count].is_key = is_key;
		{
			const CK_ATTRIBUTE *label = attrs_find(&o->attrs, CKA_LABEL);
			size_t len = label ? (label->ulValueLen < LABEL_MAX ? label->ulValueLen : LABEL_MAX) : 0;
			if (len)
				memcpy(picks[count].label, label->pValue, len);
			picks[count].label[len] = '\0';
		}
		if (is_key) {
			const CK_ATTRIBUTE *spki = attrs_find(&o->attrs, CKA_PUBLIC_KEY_INFO);
			if (!spki || hash_digest(HASH_SHA256, spki->pValue, spki->ulValueLen, picks[count].key_id) != CKR_OK)
				memset(picks[count].key_id, 0, sizeof(picks[count].key_id));
		}
		count++;
	}
	*out = picks;
	*n = count;
	return CKR_OK;
}

/* Check the destination before the TPM is asked. */
static CK_RV export_checks(struct token *t, const struct unit_file *u)
{
	int local = t->reg->info.version;
	char id[40];

	if (u->tpm.tpm_version != local) {
		LOGW("unit %s has a TPM %d.%d and this unit a TPM %d.%d: moving keys between TPM versions "
		     "is not supported yet", u->label[0] ? u->label : hex_id(u->id, 8, id, sizeof(id)),
		     u->tpm.tpm_version / 10, u->tpm.tpm_version % 10, local / 10, local % 10);
		return CKR_KEY_NOT_WRAPPABLE;
	}
	return CKR_OK;
}

/* The approvals the token holds for a unit, parsed and checked in software; those
 * that do not check out are left out (with a log line each). */
struct approvals {
	struct approval_file *list;
	size_t n;
};

static void approvals_release(struct approvals *a)
{
	for (size_t i = 0; i < a->n; i++)
		approval_file_release(&a->list[i]);
	free(a->list);
	a->list = NULL;
	a->n = 0;
}

static CK_RV approvals_load(const struct domain_file *d, const struct unit_file *u, const struct blob_ref *files,
			    size_t nfiles, struct approvals *out)
{
	memset(out, 0, sizeof(*out));
	out->list = calloc(nfiles ? nfiles : 1, sizeof(*out->list));
	if (!out->list)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < nfiles; i++) {
		struct approval_file *a = &out->list[out->n];
		if (approval_file_parse(files[i].data, files[i].len, a) != CKR_OK)
			continue;
		if (approval_verify(d, u, a) != CKR_OK) {
			approval_file_release(a);
			continue;
		}
		out->n++;
	}
	return CKR_OK;
}

/* The MA's signature that lets this blob go to u: the unit's (TPM 2.0) or the
 * key's (TPM 1.2); the newest approval that has it. NULL if none does. */
static const struct tpm_blob *approval_for_blob(const struct approvals *a, const struct unit_file *u,
						const struct tpm_blob *blob)
{
	struct tpm_blob key_public = { 0 };
	const struct tpm_blob *sig = NULL;

	if (tpm_key_approval_public(blob, &key_public) != CKR_OK)
		return NULL;
	for (size_t i = a->n; i-- > 0 && !sig;) {
		if (!key_public.len && u->tpm.tpm_version != 12)
			sig = a->list[i].signature.len ? &a->list[i].signature : NULL;
		else if (key_public.len)
			sig = approval_key_signature(&a->list[i], &key_public);
	}
	tpm_blob_release(&key_public);
	return sig;
}

/* Duplicate one blob for u, or count it as missing an approval. */
static CK_RV export_blob(struct tpm_backend *tb, const struct domain_file *d, const struct unit_file *u,
			 const struct approvals *a, const struct tpm_blob *blob, struct tpm_blob *dup, size_t *missing)
{
	const struct tpm_blob *sig = approval_for_blob(a, u, blob);

	if (!sig) {
		(*missing)++;
		return CKR_OK;
	}
	return tb->ops->key_export(tb, blob, &d->tpm, &u->tpm, sig->data, sig->len, dup);
}

CK_RV token_export(struct token *t, const uint8_t *unit, size_t unit_len, const struct blob_ref *approval_files,
		   size_t napprovals, CK_OBJECT_HANDLE key_handle, struct buf *out)
{
	struct registry *r = t->reg;
	struct tpm_backend *tb = r->tpm;
	struct domain_file d = { 0 };
	struct unit_file u = { 0 };
	struct approvals a = { 0 };
	struct tpm_unit_identity local = { 0 };
	struct bundle b = { 0 };
	struct store_object *rows = NULL;
	struct object *key = NULL;
	struct pick *picks = NULL;
	size_t nrows = 0, npicks = 0, missing = 0;
	uint8_t mac_key[BUNDLE_MAC_KEY_LEN];
	bool in_domain;
	CK_RV rv;

	rv = token_domain(t, &d, &in_domain);
	if (rv == CKR_OK && !in_domain) {
		LOGW("token %s has no migration domain: its keys never leave this unit", t->rec.serial);
		rv = CKR_KEY_UNEXTRACTABLE;
	}
	if (rv != CKR_OK)
		goto out;
	if (unit_file_parse(unit, unit_len, &u) != CKR_OK) {
		rv = CKR_WRAPPING_KEY_HANDLE_INVALID;
		goto out;
	}
	if ((rv = export_checks(t, &u)) != CKR_OK ||
	    (rv = approvals_load(&d, &u, approval_files, napprovals, &a)) != CKR_OK)
		goto out;
	if (key_handle != CK_INVALID_HANDLE) {
		rv = token_object(t, key_handle, &key);
		if (rv == CKR_OBJECT_HANDLE_INVALID)
			rv = CKR_KEY_HANDLE_INVALID;
		if (rv != CKR_OK)
			goto out;
		if (key->klass != CKO_PRIVATE_KEY || !key->on_token) {
			LOGW("only private keys of the token travel by C_WrapKey");
			rv = CKR_KEY_NOT_WRAPPABLE;
			goto out;
		}
		if (!attrs_get_bool(&key->attrs, CKA_EXTRACTABLE, false)) {
			LOGW("key %lu is not extractable: it was made to stay on this unit", (unsigned long)key_handle);
			rv = CKR_KEY_UNEXTRACTABLE;
			goto out;
		}
	}

	lock_acquire(r->lock);
	if (t->login != LOGIN_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		rv = pick_objects_locked(t, key, &picks, &npicks);
	memcpy(b.serial, t->rec.serial, sizeof(b.serial));
	memcpy(b.label, t->rec.label, sizeof(b.label));
	if (rv == CKR_OK && !key) {
		b.whole_token = true;
		rv = tpm_blob_copy(&b.so_seal, t->rec.so_seal.data, t->rec.so_seal.len);
		if (rv == CKR_OK && t->rec.user_seal.len)
			rv = tpm_blob_copy(&b.user_seal, t->rec.user_seal.data, t->rec.user_seal.len);
	}
	lock_release(r->lock);
	if (rv != CKR_OK)
		goto out;

	/* The stored form of each object: private attributes stay sealed with the token
	 * secret, which the destination gets through the PIN seals. */
	rv = store_objects(r->store, t->rec.id, &rows, &nrows);
	if (rv != CKR_OK)
		goto out;
	if ((rv = tb->ops->unit_identity(tb, &local)) != CKR_OK)
		goto out;
	unit_id_of(&local, b.source_unit);
	b.tpm_version = local.tpm_version;
	memcpy(b.domain_id, d.tpm.id, sizeof(b.domain_id));
	memcpy(b.dest_unit, u.id, sizeof(b.dest_unit));
	b.created = (uint64_t)time(NULL);
	if (b.whole_token) {
		struct tpm_blob dup = { 0 };
		/* The seals travel as duplicates too: only the destination's TPM opens them,
		 * and only with the same PINs. */
		rv = export_blob(tb, &d, &u, &a, &b.so_seal, &dup, &missing);
		tpm_blob_release(&b.so_seal);
		b.so_seal = dup;
		if (rv == CKR_OK && b.user_seal.len) {
			memset(&dup, 0, sizeof(dup));
			rv = export_blob(tb, &d, &u, &a, &b.user_seal, &dup, &missing);
			tpm_blob_release(&b.user_seal);
			b.user_seal = dup;
		}
		if (rv != CKR_OK)
			goto out;
	}
	for (size_t i = 0; i < npicks; i++) {
		struct store_object *row = NULL;
		struct tpm_blob dup = { 0 };
		for (size_t k = 0; k < nrows && !row; k++)
			if (rows[k].id == picks[i].id)
				row = &rows[k];
		if (!row)
			continue; /* destroyed meanwhile */
		if (picks[i].is_key) {
			rv = export_blob(tb, &d, &u, &a, &row->tpm_key, &dup, &missing);
			if (rv != CKR_OK)
				goto out;
		}
		rv = bundle_add(&b, row->is_private, &row->attrs, picks[i].is_key ? &dup : NULL,
				picks[i].is_key ? &row->key_auth : NULL);
		tpm_blob_release(&dup);
		if (rv != CKR_OK)
			goto out;
	}
	if (missing) {
		char id[40];
		LOGW("%zu key(s) of token %s have no approval of the migration authority for unit %s%s", missing,
		     t->rec.serial, u.label[0] ? u.label : hex_id(u.id, 8, id, sizeof(id)),
		     u.tpm.tpm_version == 12 ? " (TPM 1.2 approves key by key: make an approval request)" :
					       " (tpmha domain approve)");
		rv = CKR_KEY_NOT_WRAPPABLE;
		goto out;
	}
	rv = ossl_random(mac_key, sizeof(mac_key));
	if (rv == CKR_OK)
		rv = tb->ops->secret_wrap(tb, &u.tpm, mac_key, sizeof(mac_key), &b.mac_key);
	if (rv == CKR_OK)
		rv = bundle_write(&b, mac_key, out);
	if (rv != CKR_OK)
		goto out;
	for (size_t i = 0; i < npicks; i++)
		if (picks[i].is_key)
			store_replica_add(r->store, t->rec.id, u.id, sizeof(u.id), u.label, picks[i].key_id,
					  sizeof(picks[i].key_id));
	LOGI("token %s: %s for unit %s (%zu objects)", t->rec.serial, key ? "a key" : "the whole token",
	     u.label[0] ? u.label : "?", b.nobjects);
out:
	secret_wipe(mac_key, sizeof(mac_key));
	object_put(key);
	free(picks);
	store_objects_free(rows, nrows);
	bundle_release(&b);
	tpm_unit_identity_release(&local);
	domain_file_release(&d);
	unit_file_release(&u);
	approvals_release(&a);
	return rv;
}

/* One more key an approval request lists (nothing for a blob whose approval names
 * no key: TPM 2.0). */
static CK_RV request_add(struct approval_key **keys, size_t *n, const struct tpm_blob *blob, const char *label)
{
	struct approval_key k = { 0 }, *grown;
	CK_RV rv = tpm_key_approval_public(blob, &k.key_public);

	if (rv != CKR_OK || !k.key_public.len)
		return rv;
	grown = realloc(*keys, (*n + 1) * sizeof(*grown));
	if (!grown) {
		tpm_blob_release(&k.key_public);
		return CKR_HOST_MEMORY;
	}
	snprintf(k.label, sizeof(k.label), "%s", label);
	*keys = grown;
	grown[(*n)++] = k;
	return CKR_OK;
}

CK_RV token_approval_request(struct token *t, const uint8_t *unit, size_t unit_len, CK_OBJECT_HANDLE key_handle,
			     struct buf *out)
{
	struct registry *r = t->reg;
	struct domain_file d = { 0 };
	struct unit_file u = { 0 };
	struct store_object *rows = NULL;
	struct approval_key *keys = NULL;
	struct tpm_blob so_seal = { 0 }, user_seal = { 0 };
	struct object *key = NULL;
	struct pick *picks = NULL;
	size_t nrows = 0, npicks = 0, nkeys = 0;
	bool in_domain;
	CK_RV rv = token_domain(t, &d, &in_domain);

	if (rv == CKR_OK && !in_domain)
		rv = CKR_KEY_UNEXTRACTABLE;
	if (rv == CKR_OK && unit_file_parse(unit, unit_len, &u) != CKR_OK)
		rv = CKR_WRAPPING_KEY_HANDLE_INVALID;
	if (rv == CKR_OK)
		rv = export_checks(t, &u);
	if (rv == CKR_OK && key_handle != CK_INVALID_HANDLE) {
		rv = token_object(t, key_handle, &key);
		if (rv == CKR_OK && key->klass != CKO_PRIVATE_KEY)
			rv = CKR_KEY_NOT_WRAPPABLE;
		else if (rv == CKR_OBJECT_HANDLE_INVALID)
			rv = CKR_KEY_HANDLE_INVALID;
	}
	if (rv != CKR_OK)
		goto out;
	lock_acquire(r->lock);
	if (t->login != LOGIN_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		rv = pick_objects_locked(t, key, &picks, &npicks);
	if (rv == CKR_OK && !key) {
		rv = tpm_blob_copy(&so_seal, t->rec.so_seal.data, t->rec.so_seal.len);
		if (rv == CKR_OK && t->rec.user_seal.len)
			rv = tpm_blob_copy(&user_seal, t->rec.user_seal.data, t->rec.user_seal.len);
	}
	lock_release(r->lock);
	if (rv == CKR_OK && !key) {
		rv = request_add(&keys, &nkeys, &so_seal, "SO PIN");
		if (rv == CKR_OK && user_seal.len)
			rv = request_add(&keys, &nkeys, &user_seal, "user PIN");
	}
	if (rv == CKR_OK)
		rv = store_objects(r->store, t->rec.id, &rows, &nrows);
	for (size_t i = 0; rv == CKR_OK && i < npicks; i++)
		for (size_t k = 0; rv == CKR_OK && picks[i].is_key && k < nrows; k++)
			if (rows[k].id == picks[i].id)
				rv = request_add(&keys, &nkeys, &rows[k].tpm_key, picks[i].label);
	if (rv == CKR_OK)
		rv = approval_request_write(&d, unit, unit_len, keys, nkeys, out);
out:
	for (size_t i = 0; i < nkeys; i++)
		tpm_blob_release(&keys[i].key_public);
	free(keys);
	free(picks);
	object_put(key);
	store_objects_free(rows, nrows);
	tpm_blob_release(&so_seal);
	tpm_blob_release(&user_seal);
	domain_file_release(&d);
	unit_file_release(&u);
	return rv;
}

/* ---- receive ---- */

/* The handle the application sees for a stored object (after a sync). */
static CK_OBJECT_HANDLE handle_of_row_locked(struct registry *r, int64_t token_id, int64_t object_id)
{
	for (size_t i = 0; i < r->ntokens; i++) {
		struct token *t = r->tokens[i];
		if (t->rec.id != token_id)
			continue;
		if (token_sync_objects_locked(t, r->version) != CKR_OK)
			break;
		for (size_t k = 0; k < t->nobjects; k++)
			if (t->objects[k]->on_token && t->objects[k]->handle == (CK_OBJECT_HANDLE)object_id)
				return token_handle_locked(t, t->objects[k]);
	}
	return (CK_OBJECT_HANDLE)object_id;
}

/* The token a bundle goes into, and its domain. */
static CK_RV receive_target(struct registry *r, struct token *into, const struct bundle *b,
			    const uint8_t *domain, size_t domain_len, struct store_token *rec,
			    struct domain_file *d, bool *is_new)
{
	struct token *t = into;
	bool in_domain = false;
	CK_RV rv = CKR_OK;

	*is_new = false;
	if (!t) {
		lock_acquire(r->lock);
		rv = registry_sync_locked(r, NULL);
		for (size_t i = 0; rv == CKR_OK && i < r->ntokens && !t; i++)
			if (strcmp(r->tokens[i]->rec.serial, b->serial) == 0)
				t = r->tokens[i];
		if (t)
			t->refs++;
		lock_release(r->lock);
		if (rv != CKR_OK)
			return rv;
	} else if (strcmp(into->rec.serial, b->serial) != 0) {
		LOGW("the bundle belongs to token %s, not to token %s", b->serial, into->rec.serial);
		return CKR_WRAPPED_KEY_INVALID;
	}
	if (t) {
		rv = token_domain(t, d, &in_domain);
		if (rv == CKR_OK && !in_domain) {
			LOGW("token %s on this unit has no migration domain: it takes no bundles", b->serial);
			rv = CKR_WRAPPED_KEY_INVALID;
		}
		if (rv == CKR_OK) {
			lock_acquire_shared(r->lock);
			memcpy(rec->label, t->rec.label, sizeof(rec->label));
			rv = tpm_blob_copy(&rec->so_seal, t->rec.so_seal.data, t->rec.so_seal.len);
			if (rv == CKR_OK && t->rec.user_seal.len)
				rv = tpm_blob_copy(&rec->user_seal, t->rec.user_seal.data, t->rec.user_seal.len);
			if (rv == CKR_OK)
				rv = tpm_blob_copy(&rec->domain, t->rec.domain.data, t->rec.domain.len);
			lock_release(r->lock);
		}
		if (t != into)
			token_put(t);
		if (rv == CKR_OK && domain) {
			struct domain_file given;
			if (domain_file_parse(domain, domain_len, &given) != CKR_OK)
				rv = CKR_ARGUMENTS_BAD;
			else if (memcmp(given.tpm.id, d->tpm.id, sizeof(given.tpm.id)) != 0) {
				LOGW("token %s here belongs to another domain than the one given", b->serial);
				rv = CKR_WRAPPED_KEY_INVALID;
			}
			domain_file_release(&given);
		}
		return rv;
	}
	/* A token this unit does not have yet: its domain must come from the operator,
	 * not from the bundle, so that the bundle cannot name its own rules. */
	if (!domain) {
		LOGW("token %s is new on this unit: receiving it needs its domain file", b->serial);
		return CKR_ARGUMENTS_BAD;
	}
	rv = domain_file_parse(domain, domain_len, d);
	if (rv != CKR_OK)
		return CKR_ARGUMENTS_BAD;
	*is_new = true;
	memcpy(rec->label, b->label, sizeof(rec->label));
	return tpm_blob_copy(&rec->domain, domain, domain_len);
}

static CK_RV public_object_check(const struct bundle_object *o)
{
	struct attrs a = ATTRS_INIT;
	CK_RV rv;

	if (o->is_private)
		return CKR_OK; /* sealed with the token secret: authenticated by that */
	rv = attrs_deserialize(o->attrs.data, o->attrs.len, &a);
	if (rv == CKR_OK && o->key_dup.len) {
		LOGW("bundle: a private key travels with public attributes");
		rv = CKR_WRAPPED_KEY_INVALID;
	}
	attrs_clear(&a);
	return rv == CKR_OK ? CKR_OK : CKR_WRAPPED_KEY_INVALID;
}

CK_RV registry_receive(struct registry *r, struct token *into, const uint8_t *data, size_t len,
		       const uint8_t *domain, size_t domain_len, CK_SLOT_ID *slot, CK_OBJECT_HANDLE *key)
{
	struct tpm_backend *tb = r->tpm;
	struct tpm_unit_identity local = { 0 };
	struct store_token rec = { 0 };
	struct store_object *rows = NULL;
	struct domain_file d = { 0 };
	struct bundle b = { 0 };
	uint8_t local_id[UNIT_ID_LEN], mac_key[BUNDLE_MAC_KEY_LEN];
	size_t mac_len = sizeof(mac_key), nrows = 0, first_key = (size_t)-1;
	bool is_new = false, have_local_unit = false;
	char id1[40], id2[40];
	CK_RV rv;

	*slot = FREE_SLOT_ID;
	if (key)
		*key = CK_INVALID_HANDLE;
	rv = bundle_parse(data, len, &b);
	if (rv != CKR_OK)
		goto out;
	if ((rv = tb->ops->unit_identity(tb, &local)) != CKR_OK)
		goto out;
	unit_id_of(&local, local_id);
	rv = CKR_WRAPPED_KEY_INVALID;
	if (memcmp(b.dest_unit, local_id, sizeof(local_id)) != 0) {
		LOGW("the bundle was made for unit %s; this is unit %s", hex_id(b.dest_unit, 8, id1, sizeof(id1)),
		     hex_id(local_id, 8, id2, sizeof(id2)));
		goto out;
	}
	if (b.tpm_version != local.tpm_version) {
		LOGW("the bundle carries TPM %d.%d keys; this unit has a TPM %d.%d", b.tpm_version / 10,
		     b.tpm_version % 10, local.tpm_version / 10, local.tpm_version % 10);
		goto out;
	}
	rv = receive_target(r, into, &b, domain, domain_len, &rec, &d, &is_new);
	if (rv != CKR_OK)
		goto out;
	if (memcmp(b.domain_id, d.tpm.id, sizeof(b.domain_id)) != 0) {
		LOGW("the bundle comes from domain %s, not this token's domain %s",
		     hex_id(b.domain_id, 8, id1, sizeof(id1)), hex_id(d.tpm.id, 8, id2, sizeof(id2)));
		rv = CKR_WRAPPED_KEY_INVALID;
		goto out;
	}
	if (is_new && !b.whole_token) {
		LOGW("token %s is not on this unit yet: receive the whole token before single keys", b.serial);
		rv = CKR_WRAPPED_KEY_INVALID;
		goto out;
	}
	/* Only this unit's TPM can open the MAC key; then every byte must check out. */
	rv = tb->ops->secret_unwrap(tb, &b.mac_key, mac_key, &mac_len);
	if (rv != CKR_OK) {
		LOGW("the bundle's key does not open with this unit's TPM: it was made for another unit");
		rv = CKR_WRAPPED_KEY_INVALID;
		goto out;
	}
	if ((rv = bundle_check_mac(&b, mac_key, mac_len)) != CKR_OK)
		goto out;

	if (b.whole_token) {
		tpm_blob_release(&rec.so_seal);
		tpm_blob_release(&rec.user_seal);
		rv = tb->ops->key_import_duplicate(tb, &d.tpm, &b.so_seal, &rec.so_seal);
		if (rv == CKR_OK && b.user_seal.len)
			rv = tb->ops->key_import_duplicate(tb, &d.tpm, &b.user_seal, &rec.user_seal);
		if (rv != CKR_OK)
			goto out;
	}
	rows = calloc(b.nobjects + 1, sizeof(*rows));
	if (!rows) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	for (size_t i = 0; i < b.nobjects; i++) {
		struct bundle_object *o = &b.objects[i];
		struct store_object *row = &rows[nrows];
		if ((rv = public_object_check(o)) != CKR_OK)
			goto out;
		row->is_private = o->is_private;
		if ((rv = tpm_blob_copy(&row->attrs, o->attrs.data, o->attrs.len)) != CKR_OK)
			goto out;
		nrows++;
		if (o->key_dup.len) {
			rv = tb->ops->key_import_duplicate(tb, &d.tpm, &o->key_dup, &row->tpm_key);
			if (rv == CKR_OK)
				rv = tpm_blob_copy(&row->key_auth, o->key_auth.data, o->key_auth.len);
			if (rv != CKR_OK)
				goto out;
			if (first_key == (size_t)-1)
				first_key = nrows - 1;
		}
		if (!o->is_private && !have_local_unit) {
			struct attrs a = ATTRS_INIT;
			const CK_ATTRIBUTE *uid;
			if (attrs_deserialize(o->attrs.data, o->attrs.len, &a) == CKR_OK &&
			    attrs_get_ulong(&a, CKA_CLASS, CKO_DATA) == CKO_TPMHA_UNIT &&
			    (uid = attrs_find(&a, CKA_TPMHA_UNIT_ID)) && uid->ulValueLen == UNIT_ID_LEN &&
			    memcmp(uid->pValue, local_id, UNIT_ID_LEN) == 0)
				have_local_unit = true;
			attrs_clear(&a);
		}
	}
	/* The token here must always hold this unit's own identity (C_UnwrapKey's key). */
	if (b.whole_token && !have_local_unit) {
		uint8_t ignored[UNIT_ID_LEN];
		if ((rv = local_unit_object(r, &rows[nrows], ignored)) != CKR_OK)
			goto out;
		nrows++;
	}

	memcpy(rec.serial, b.serial, sizeof(rec.serial));
	rec.tpm_version = local.tpm_version;
	if ((rv = tb->ops->storage_key_name(tb, &rec.parent_name)) != CKR_OK)
		goto out;
	lock_acquire(r->lock);
	rv = store_receive(r->store, &rec, rows, nrows, b.whole_token);
	if (rv == CKR_OK)
		rv = registry_sync_locked(r, NULL);
	if (rv == CKR_OK) {
		*slot = (CK_SLOT_ID)rec.id;
		if (key && first_key != (size_t)-1)
			*key = handle_of_row_locked(r, rec.id, rows[first_key].id);
	}
	lock_release(r->lock);
	if (rv == CKR_OK)
		LOGI("token %s %s from unit %s: %zu objects", b.serial, is_new ? "received" : "updated",
		     hex_id(b.source_unit, 8, id1, sizeof(id1)), nrows);
out:
	secret_wipe(mac_key, sizeof(mac_key));
	store_objects_free(rows, nrows);
	store_token_release(&rec);
	tpm_unit_identity_release(&local);
	domain_file_release(&d);
	bundle_release(&b);
	return rv;
}
