/* The tokens of this unit: slots, the token list in step with the store, info. */
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
#include "conf/conf.h"

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

CK_RV registry_sync_locked(struct registry *r, uint64_t *version_out)
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
		/* Each object holds a reference on its token: let them go first. */
		while (t->nobjects)
			object_detach_locked(t, t->nobjects - 1);
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
	for (size_t i = 0; i < r->ntokens; i++) {
		struct token *t = r->tokens[i];
		secret_wipe(t->secret, sizeof(t->secret));
		for (size_t k = 0; k < t->nobjects; k++)
			if (t->objects[k]->key && r->tpm && r->tpm->ops->key_abandon) {
				r->tpm->ops->key_abandon(t->objects[k]->key);
				t->objects[k]->key = NULL;
			}
	}
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

/* TPM firmware versions are 16-bit pairs (swtpm: 8217.4131); CK_VERSION has bytes. */
static CK_BYTE version_byte(uint16_t v)
{
	return v > 255 ? 255 : (CK_BYTE)v;
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
	info->firmwareVersion.major = version_byte(r->info.fw_major);
	info->firmwareVersion.minor = version_byte(r->info.fw_minor);
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
	/* PIN set or token re-initialized by another process: say what holds now. */
	rv = registry_sync_locked(r, NULL);
	if (rv != CKR_OK) {
		lock_release(r->lock);
		token_put(t);
		return rv;
	}
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
	info->firmwareVersion.major = version_byte(r->info.fw_major);
	info->firmwareVersion.minor = version_byte(r->info.fw_minor);
	memset(info->utcTime, ' ', sizeof(info->utcTime));
	return CKR_OK;
}
