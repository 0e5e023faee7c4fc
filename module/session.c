/* Sessions and login: C_OpenSession, C_CloseSession, C_CloseAllSessions,
 * C_GetSessionInfo, C_Login, C_Logout, C_InitPIN, C_SetPIN, operation state. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/lock.h"
#include "module/internal.h"

/* ---- the session table (module.lock held) ---- */

static size_t session_index_locked(CK_SESSION_HANDLE h, bool *found)
{
	size_t lo = 0, hi = module.nsessions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (module.sessions[mid]->handle < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < module.nsessions && module.sessions[lo]->handle == h;
	return lo;
}

static void session_free(struct session *s)
{
	for (int k = 0; k < OP_KINDS; k++)
		op_free(s->ops[k]);
	free(s->find.handles);
	free(s->wrapped.data);
	token_put(s->token);
	lock_free(s->lock);
	free(s);
}

static void session_unref_locked(struct session *s)
{
	if (--s->refs == 0)
		session_free(s);
}

size_t sessions_on_slot_locked(CK_SLOT_ID slot, bool rw_only)
{
	size_t n = 0;

	for (size_t i = 0; i < module.nsessions; i++)
		if (module.sessions[i]->slot == slot &&
		    (!rw_only || (module.sessions[i]->flags & CKF_RW_SESSION)))
			n++;
	return n;
}

/* Take a session out of the table; the last reference frees it. */
static void session_remove_locked(size_t index)
{
	struct session *s = module.sessions[index];

	memmove(&module.sessions[index], &module.sessions[index + 1],
		(module.nsessions - index - 1) * sizeof(*module.sessions));
	module.nsessions--;
	s->closed = true;
	token_session_closed(s->token, s->handle);
	/* PKCS#11: closing the application's last session with a token logs it out. */
	if (!sessions_on_slot_locked(s->slot, false) && token_login_state(s->token) != LOGIN_NONE)
		token_logout(s->token);
	session_unref_locked(s);
}

void sessions_close_all(CK_SLOT_ID slot)
{
	lock_acquire(module.lock);
	for (size_t i = module.nsessions; i-- > 0;)
		if (slot == ANY_SLOT || module.sessions[i]->slot == slot)
			session_remove_locked(i);
	lock_release(module.lock);
}

CK_RV session_enter(CK_SESSION_HANDLE h, unsigned rule, struct session **out)
{
	struct session *s = NULL;
	enum login_state login;
	bool found;
	size_t i;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		return rv;
	/* Every call passes here: a shared lock lets threads on their own sessions in. */
	lock_acquire_shared(module.lock);
	i = session_index_locked(h, &found);
	if (found) {
		s = module.sessions[i];
		s->refs++;
	}
	lock_release(module.lock);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	lock_acquire(s->lock);
	if (s->closed) {
		rv = CKR_SESSION_HANDLE_INVALID;
	} else if (token_gone(s->token)) {
		rv = CKR_DEVICE_REMOVED;
	} else {
		login = token_login_state(s->token);
		if ((rule & RULE_RW) && !(s->flags & CKF_RW_SESSION))
			rv = CKR_SESSION_READ_ONLY;
		else if ((rule & RULE_USER) && login != LOGIN_USER)
			rv = CKR_USER_NOT_LOGGED_IN;
		else if ((rule & RULE_SO) && login != LOGIN_SO)
			rv = CKR_USER_NOT_LOGGED_IN;
	}
	if (rv != CKR_OK) {
		session_leave(s);
		return rv;
	}
	*out = s;
	return CKR_OK;
}

void session_leave(struct session *s)
{
	lock_release(s->lock);
	/* Only the last reference (a session closed meanwhile) needs the table lock. */
	if (atomic_fetch_sub(&s->refs, 1) > 1)
		return;
	atomic_store(&s->refs, 1);
	lock_acquire(module.lock);
	session_unref_locked(s);
	lock_release(module.lock);
}

/* ---- entry points ---- */

CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
		    CK_SESSION_HANDLE_PTR out)
{
	struct session *s = NULL;
	struct token *t = NULL;
	struct session **grown;
	CK_RV rv = module_ready();

	(void)app;
	(void)notify; /* no callbacks: PKCS#11 lets a token never call them */
	if (rv != CKR_OK)
		RETURN(rv);
	if (!out)
		RETURN(CKR_ARGUMENTS_BAD);
	if (!(flags & CKF_SERIAL_SESSION))
		RETURN(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	rv = registry_token(module.reg, slot, &t);
	if (rv != CKR_OK)
		RETURN(rv);
	if (!t) {
		LOGI("slot %lu holds an uninitialized token: C_InitToken first", (unsigned long)slot);
		RETURN(CKR_TOKEN_NOT_RECOGNIZED);
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rv = CKR_HOST_MEMORY;
		goto fail;
	}
	rv = lock_new(&s->lock);
	if (rv != CKR_OK)
		goto fail;
	s->slot = slot;
	s->token = t;
	t = NULL;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	s->refs = 1;

	lock_acquire(module.lock);
	if (!(flags & CKF_RW_SESSION) && token_login_state(s->token) == LOGIN_SO) {
		rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
	} else if (module.nsessions == module.cap) {
		size_t cap = module.cap ? module.cap * 2 : 16;
		grown = realloc(module.sessions, cap * sizeof(*grown));
		if (grown) {
			module.sessions = grown;
			module.cap = cap;
		} else {
			rv = CKR_HOST_MEMORY;
		}
	}
	if (rv == CKR_OK) {
		/* Handles only grow, so appending keeps the table sorted; concurrent opens
		 * each take their own under the lock. */
		s->handle = module.next_handle++;
		module.sessions[module.nsessions++] = s;
		*out = s->handle;
	}
	lock_release(module.lock);
	if (rv != CKR_OK)
		goto fail;
	RETURN(CKR_OK);
fail:
	if (s)
		session_free(s);
	token_put(t);
	RETURN(rv);
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	bool found;
	size_t i;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	lock_acquire(module.lock);
	i = session_index_locked(h, &found);
	if (found)
		session_remove_locked(i);
	lock_release(module.lock);
	RETURN(found ? CKR_OK : CKR_SESSION_HANDLE_INVALID);
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slot)
{
	struct token *t = NULL;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	rv = registry_token(module.reg, slot, &t);
	token_put(t);
	if (rv != CKR_OK)
		RETURN(rv);
	sessions_close_all(slot);
	RETURN(CKR_OK);
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct session *s;
	bool rw;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!info) {
		session_leave(s);
		RETURN(CKR_ARGUMENTS_BAD);
	}
	rw = s->flags & CKF_RW_SESSION;
	info->slotID = s->slot;
	info->flags = s->flags;
	info->ulDeviceError = 0;
	switch (token_login_state(s->token)) {
	case LOGIN_SO:
		info->state = CKS_RW_SO_FUNCTIONS;
		break;
	case LOGIN_USER:
		info->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
		break;
	default:
		info->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
		break;
	}
	session_leave(s);
	RETURN(CKR_OK);
}

static bool any_operation(const struct session *s)
{
	for (int k = 0; k < OP_KINDS; k++)
		if (s->ops[k])
			return true;
	return false;
}

CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (who != CKU_SO && who != CKU_USER && who != CKU_CONTEXT_SPECIFIC) {
		rv = CKR_USER_TYPE_INVALID;
		goto out;
	}
	/* No protected authentication path: the PIN comes with the call. */
	if (!pin) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (who == CKU_CONTEXT_SPECIFIC) {
		/* No key of ours asks for it (CKA_ALWAYS_AUTHENTICATE is never true), but
		 * the PIN is checked all the same. */
		rv = any_operation(s) ? token_verify_pin(s->token, pin, len) : CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	lock_acquire(module.lock);
	if (who == CKU_SO && sessions_on_slot_locked(s->slot, false) != sessions_on_slot_locked(s->slot, true))
		rv = CKR_SESSION_READ_ONLY_EXISTS;
	else
		rv = token_login(s->token, who, pin, len);
	lock_release(module.lock);
out:
	session_leave(s);
	RETURN(rv);
}

CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	rv = token_logout(s->token);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_RW | RULE_SO, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	rv = pin ? token_init_pin(s->token, pin, len) : CKR_ARGUMENTS_BAD;
	session_leave(s);
	RETURN(rv);
}

CK_RV C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len, CK_UTF8CHAR_PTR new_pin,
	       CK_ULONG new_len)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_RW, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!old_pin || !new_pin)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = token_set_pin(s->token, token_login_state(s->token) == LOGIN_SO ? LOGIN_SO : LOGIN_USER,
				   old_pin, old_len, new_pin, new_len);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG_PTR len)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	(void)state;
	(void)len;
	if (rv != CKR_OK)
		RETURN(rv);
	/* Operation state holds TPM handles and key references: not something to export. */
	rv = any_operation(s) ? CKR_STATE_UNSAVEABLE : CKR_OPERATION_NOT_INITIALIZED;
	session_leave(s);
	RETURN(rv);
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG len,
			  CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	(void)state;
	(void)len;
	(void)enc_key;
	(void)auth_key;
	if (rv != CKR_OK)
		RETURN(rv);
	session_leave(s);
	RETURN(CKR_SAVED_STATE_INVALID);
}
