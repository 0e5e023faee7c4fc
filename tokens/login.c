/* PINs: login, PIN changes and token initialization, every PIN checked by the TPM. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "migration/files.h"
#include "tokens/store.h"
#include "tokens/token_int.h"

static const char pin_context[] = "tpmha-pin-v1";

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

/* The seal of one PIN; CKR_USER_PIN_NOT_INITIALIZED for a user PIN never set. */
static CK_RV pin_snapshot_locked(struct token *t, enum login_state who, struct token_snapshot *s)
{
	if (who == LOGIN_USER && !t->rec.user_seal.len)
		return CKR_USER_PIN_NOT_INITIALIZED;
	return snapshot_locked(t, who == LOGIN_SO ? &t->rec.so_seal : &t->rec.user_seal, s);
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

/* A PIN seal; in a domain token a duplicable one, so the same PINs travel with the
 * token's keys to the units of the domain. */
static CK_RV seal_with_pin(struct token *t, const char *serial, enum login_state who,
			   const uint8_t *pin, size_t len, const uint8_t secret[TOKEN_SECRET_LEN],
			   const struct domain_file *domain, struct tpm_blob *out)
{
	struct tpm_auth auth;
	CK_RV rv;

	pin_auth(serial, who, pin, len, &auth);
	rv = t->reg->tpm->ops->seal_create(t->reg->tpm, secret, TOKEN_SECRET_LEN, &auth,
					   domain ? &domain->tpm : NULL, out);
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
	/* Another process may have set or changed a PIN since we read the token. */
	rv = registry_sync_locked(r, NULL);
	if (rv == CKR_OK && t->gone)
		rv = CKR_DEVICE_REMOVED;
	if (rv == CKR_OK && t->login != LOGIN_NONE)
		rv = t->login == role ? CKR_USER_ALREADY_LOGGED_IN : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if (rv == CKR_OK)
		rv = pin_snapshot_locked(t, role, &snap);
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
		if (role == LOGIN_USER) {
			t->login_epoch++;
			for (size_t i = 0; i < t->nobjects; i++)
				if (t->objects[i]->locked)
					object_unlock_locked(t, t->objects[i]);
		}
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
	rv = registry_sync_locked(r, NULL);
	if (rv == CKR_OK)
		rv = pin_snapshot_locked(t, who, &snap);
	lock_release(r->lock);
	if (rv == CKR_OK)
		rv = unseal_with_pin(t, &snap, who, pin, len, secret);
	secret_wipe(secret, sizeof(secret));
	snapshot_release(&snap);
	return rv;
}

CK_RV token_verify_pin(struct token *t, const uint8_t *pin, size_t len)
{
	enum login_state role = token_login_state(t);

	return role == LOGIN_NONE ? CKR_USER_NOT_LOGGED_IN : token_check_pin(t, role, pin, len);
}

CK_RV token_logout(struct token *t)
{
	struct registry *r = t->reg;
	CK_RV rv = CKR_OK;

	lock_acquire(r->lock);
	if (t->login == LOGIN_NONE) {
		rv = CKR_USER_NOT_LOGGED_IN;
	} else {
		/* PKCS#11: private session objects go with the login. */
		for (size_t i = 0; i < t->nobjects;) {
			if (!t->objects[i]->on_token && t->objects[i]->is_private) {
				object_detach_locked(t, i);
				continue;
			}
			object_lock_locked(t, t->objects[i]);
			i++;
		}
		secret_wipe(t->secret, sizeof(t->secret));
		t->login = LOGIN_NONE;
	}
	lock_release(r->lock);
	return rv;
}

CK_RV token_init_pin(struct token *t, const uint8_t *pin, size_t len)
{
	struct registry *r = t->reg;
	struct domain_file domain = { 0 };
	bool in_domain = false;
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
		rv = token_domain(t, &domain, &in_domain);
	if (rv == CKR_OK)
		rv = seal_with_pin(t, serial, LOGIN_USER, pin, len, secret, in_domain ? &domain : NULL, &seal);
	if (rv == CKR_OK) {
		lock_acquire(r->lock);
		tpm_blob_release(&t->rec.user_seal);
		t->rec.user_seal = seal;
		memset(&seal, 0, sizeof(seal));
		rv = store_token_update(r->store, &t->rec);
		lock_release(r->lock);
	}
	tpm_blob_release(&seal);
	domain_file_release(&domain);
	secret_wipe(secret, sizeof(secret));
	return rv;
}

CK_RV token_set_pin(struct token *t, enum login_state who, const uint8_t *old_pin, size_t old_len,
		    const uint8_t *new_pin, size_t new_len)
{
	struct registry *r = t->reg;
	struct domain_file domain = { 0 };
	bool in_domain = false;
	struct token_snapshot snap = { 0 };
	struct tpm_blob seal = { 0 };
	uint8_t secret[TOKEN_SECRET_LEN];
	CK_RV rv = check_new_pin(new_pin, new_len);

	if (rv != CKR_OK)
		return rv;
	lock_acquire(r->lock);
	rv = registry_sync_locked(r, NULL);
	if (rv == CKR_OK)
		rv = pin_snapshot_locked(t, who, &snap);
	lock_release(r->lock);
	if (rv != CKR_OK)
		goto out;
	/* The old PIN is checked by the TPM; the new seal holds the same secret, so
	 * every key and private object stays readable. */
	rv = unseal_with_pin(t, &snap, who, old_pin, old_len, secret);
	if (rv == CKR_OK)
		rv = token_domain(t, &domain, &in_domain);
	if (rv == CKR_OK)
		rv = seal_with_pin(t, snap.serial, who, new_pin, new_len, secret, in_domain ? &domain : NULL, &seal);
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
	domain_file_release(&domain);
	secret_wipe(secret, sizeof(secret));
	snapshot_release(&snap);
	return rv;
}

/* C_InitToken, with a migration domain for a new token (domain_bytes, or NULL for
 * none); re-initialization keeps the token's own. */
CK_RV init_token(struct registry *r, CK_SLOT_ID slot, const uint8_t *so_pin, size_t so_pin_len,
		 const uint8_t label[32], const uint8_t *domain_bytes, size_t domain_len, CK_SLOT_ID *new_slot)
{
	struct domain_file domain = { 0 };
	bool in_domain = false;
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
		rv = token_domain(t, &domain, &in_domain);
		if (rv == CKR_OK && in_domain)
			rv = tpm_blob_copy(&rec.domain, t->rec.domain.data, t->rec.domain.len);
		if (rv != CKR_OK)
			goto out;
	} else {
		rv = check_new_pin(so_pin, so_pin_len);
		if (rv != CKR_OK)
			return rv;
		rv = r->tpm->ops->random(r->tpm, serial_bytes, sizeof(serial_bytes));
		if (rv != CKR_OK)
			goto out;
		for (size_t i = 0; i < sizeof(serial_bytes); i++)
			snprintf(rec.serial + 2 * i, 3, "%02x", serial_bytes[i]);
		if (domain_bytes) {
			rv = domain_file_parse(domain_bytes, domain_len, &domain);
			if (rv != CKR_OK) {
				LOGW("the migration domain given for the new token is not a valid domain file");
				rv = CKR_ARGUMENTS_BAD;
				goto out;
			}
			in_domain = true;
			rv = tpm_blob_copy(&rec.domain, domain_bytes, domain_len);
			if (rv != CKR_OK)
				goto out;
		}
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
	rv = seal_with_pin(t ? t : &scratch, rec.serial, LOGIN_SO, so_pin, so_pin_len, secret,
			   in_domain ? &domain : NULL, &rec.so_seal);
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
			LOGI("token %s created in slot %lu%s", rec.serial, (unsigned long)rec.id,
			     in_domain ? " in a migration domain" : "");
			/* A domain token holds this unit's identity from the start: it is what
			 * C_UnwrapKey takes to receive keys here. */
			if (in_domain)
				rv = store_add_local_unit_locked(r, rec.id);
			if (rv == CKR_OK)
				rv = registry_sync_locked(r, NULL);
		}
	}
	lock_release(r->lock);
out:
	secret_wipe(secret, sizeof(secret));
	store_token_release(&rec);
	snapshot_release(&snap);
	domain_file_release(&domain);
	token_put(t);
	return rv;
}

CK_RV registry_init_token(struct registry *r, CK_SLOT_ID slot, const uint8_t *so_pin,
			  size_t so_pin_len, const uint8_t label[32], CK_SLOT_ID *new_slot)
{
	return init_token(r, slot, so_pin, so_pin_len, label, NULL, 0, new_slot);
}
