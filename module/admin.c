#include "config.h"

#include "common/lock.h"
#include "module/admin.h"
#include "module/internal.h"
/* The token's store record (its id, its domain): the token layer's inside, read here
 * only, for the two accessors at the end of this file. */
#include "tokens/token_int.h"

CK_RV tpmha_admin_tpm(struct tpm_info *info, struct tpm_da_state *da, const struct tpm_caps **caps)
{
	struct tpm_backend *tb;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		return rv;
	tb = registry_backend(module.reg);
	if (info && (rv = tb->ops->get_info(tb, info)) != CKR_OK)
		return rv;
	if (da && (rv = tb->ops->get_da_state(tb, da)) != CKR_OK)
		return rv;
	if (caps)
		*caps = tb->ops->get_caps(tb);
	return CKR_OK;
}

CK_RV tpmha_admin_config(const struct tpmha_config **cfg)
{
	CK_RV rv = module_ready();

	if (rv == CKR_OK)
		*cfg = module.cfg;
	return rv;
}

CK_RV tpmha_admin_token_delete(CK_SLOT_ID slot, const CK_UTF8CHAR *so_pin, CK_ULONG len)
{
	struct token *t = NULL;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		return rv;
	if (!so_pin)
		return CKR_ARGUMENTS_BAD;
	rv = registry_token(module.reg, slot, &t);
	if (rv == CKR_OK && !t)
		rv = CKR_SLOT_ID_INVALID;
	if (rv != CKR_OK)
		goto out;
	lock_acquire(module.lock);
	if (sessions_on_slot_locked(slot, false))
		rv = CKR_SESSION_EXISTS;
	lock_release(module.lock);
	/* The same proof C_InitToken asks for before it destroys a token's objects. */
	if (rv == CKR_OK)
		rv = token_check_pin(t, LOGIN_SO, so_pin, len);
	if (rv == CKR_OK)
		rv = registry_token_delete(module.reg, slot);
out:
	token_put(t);
	return rv;
}

/* A token by slot, for the read-only accessors below. */
static CK_RV admin_token(CK_SLOT_ID slot, struct token **t)
{
	CK_RV rv = module_ready();

	*t = NULL;
	if (rv == CKR_OK)
		rv = registry_token(module.reg, slot, t);
	if (rv == CKR_OK && !*t)
		rv = CKR_SLOT_ID_INVALID;
	return rv;
}

CK_RV tpmha_admin_token_domain(CK_SLOT_ID slot, struct domain_file *d, bool *in_domain)
{
	struct token *t;
	CK_RV rv = admin_token(slot, &t);

	if (!d || !in_domain)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK)
		rv = token_domain(t, d, in_domain);
	token_put(t);
	return rv;
}

CK_RV tpmha_admin_replicas(CK_SLOT_ID slot, struct store_replica **list, size_t *count)
{
	struct token *t;
	CK_RV rv = admin_token(slot, &t);

	if (!list || !count)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK)
		rv = store_replicas(t->reg->store, t->rec.id, list, count);
	token_put(t);
	return rv;
}
