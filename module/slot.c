/* Slots and tokens: C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_WaitForSlotEvent,
 * C_GetMechanismList, C_GetMechanismInfo, C_InitToken. */
#include "config.h"

#include <string.h>

#include "common/lock.h"
#include "module/internal.h"

/* A slot id we know (an initialized token's, or the free slot). */
static CK_RV slot_check(CK_SLOT_ID slot)
{
	struct token *t = NULL;
	CK_RV rv = registry_token(module.reg, slot, &t);

	token_put(t);
	return rv;
}

CK_RV C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_RV rv = module_ready();

	(void)token_present; /* every slot holds a token, the free slot an uninitialized one */
	if (rv != CKR_OK)
		RETURN(rv);
	if (!count)
		RETURN(CKR_ARGUMENTS_BAD);
	RETURN(registry_slots(module.reg, list, count));
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!info)
		RETURN(CKR_ARGUMENTS_BAD);
	RETURN(registry_slot_info(module.reg, slot, info));
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!info)
		RETURN(CKR_ARGUMENTS_BAD);
	rv = registry_token_info(module.reg, slot, info);
	if (rv != CKR_OK)
		RETURN(rv);
	lock_acquire(module.lock);
	info->ulSessionCount = sessions_on_slot_locked(slot, false);
	info->ulRwSessionCount = sessions_on_slot_locked(slot, true);
	lock_release(module.lock);
	RETURN(CKR_OK);
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!slot || reserved)
		RETURN(CKR_ARGUMENTS_BAD);
	/* TPM tokens are never inserted or removed. */
	RETURN(flags & CKF_DONT_BLOCK ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	struct tpm_backend *tb;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!count)
		RETURN(CKR_ARGUMENTS_BAD);
	rv = slot_check(slot);
	if (rv != CKR_OK)
		RETURN(rv);
	tb = registry_backend(module.reg);
	RETURN(mech_list(tb->ops->get_caps(tb), list, count));
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	struct tpm_backend *tb;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!info)
		RETURN(CKR_ARGUMENTS_BAD);
	rv = slot_check(slot);
	if (rv != CKR_OK)
		RETURN(rv);
	tb = registry_backend(module.reg);
	RETURN(mech_info(tb->ops->get_caps(tb), type, info));
}

CK_RV C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
	CK_SLOT_ID new_slot;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!pin || !label)
		RETURN(CKR_ARGUMENTS_BAD);
	rv = slot_check(slot);
	if (rv != CKR_OK)
		RETURN(rv);
	/* Holding the table lock keeps sessions from opening on the token meanwhile. */
	lock_acquire(module.lock);
	if (slot != FREE_SLOT_ID && sessions_on_slot_locked(slot, false))
		rv = CKR_SESSION_EXISTS;
	else
		rv = registry_init_token(module.reg, slot, pin, len, label, &new_slot);
	lock_release(module.lock);
	RETURN(rv);
}
