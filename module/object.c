/* Objects: C_CreateObject, C_CopyObject, C_DestroyObject, C_GetObjectSize,
 * C_GetAttributeValue, C_SetAttributeValue, C_FindObjects*, key generation, and the
 * key management functions this token does not offer. */
#include "config.h"

#include <stdlib.h>

#include "module/internal.h"
#include "tokens/create.h"

static struct create_ctx create_ctx(const struct session *s)
{
	struct create_ctx ctx = { .session = s->handle, .rw = (s->flags & CKF_RW_SESSION) != 0 };
	return ctx;
}

CK_RV C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	struct session *s;
	struct create_ctx ctx;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	ctx = create_ctx(s);
	if (!out || (!tmpl && count))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = object_create(s->token, &ctx, tmpl, count, out);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
		   CK_OBJECT_HANDLE_PTR out)
{
	struct session *s;
	struct object *o = NULL;
	struct attrs changes = ATTRS_INIT;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!out || (!tmpl && count)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	rv = token_object(s->token, obj, &o);
	if (rv == CKR_OK)
		rv = attrs_from_template(&changes, tmpl, count);
	if (rv == CKR_OK)
		rv = token_object_copy(s->token, s->handle, s->flags & CKF_RW_SESSION, o, &changes, out);
out:
	attrs_clear(&changes);
	object_put(o);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	struct session *s;
	struct object *o = NULL;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	rv = token_object(s->token, obj, &o);
	if (rv == CKR_OK)
		rv = token_object_destroy(s->token, o, s->flags & CKF_RW_SESSION);
	object_put(o);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ULONG_PTR size)
{
	struct session *s;
	struct object *o = NULL;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!size)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = token_object(s->token, obj, &o);
	if (rv == CKR_OK)
		*size = token_object_size(s->token, o);
	object_put(o);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	struct session *s;
	struct object *o = NULL;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!tmpl && count)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = token_object(s->token, obj, &o);
	if (rv == CKR_OK)
		rv = token_object_read(s->token, o, tmpl, count);
	object_put(o);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	struct session *s;
	struct object *o = NULL;
	struct attrs changes = ATTRS_INIT;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!tmpl && count)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = token_object(s->token, obj, &o);
	if (rv == CKR_OK)
		rv = attrs_from_template(&changes, tmpl, count);
	if (rv == CKR_OK)
		rv = token_object_update(s->token, o, &changes, s->flags & CKF_RW_SESSION);
	attrs_clear(&changes);
	object_put(o);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!tmpl && count)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->find.active)
		rv = CKR_OPERATION_ACTIVE;
	else
		rv = token_find(s->token, tmpl, count, &s->find.handles, &s->find.count);
	if (rv == CKR_OK) {
		s->find.active = true;
		s->find.next = 0;
	}
	session_leave(s);
	RETURN(rv);
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);
	CK_ULONG n = 0;

	if (rv != CKR_OK)
		RETURN(rv);
	if (!count || (!out && max)) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (!s->find.active) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		while (n < max && s->find.next < s->find.count)
			out[n++] = s->find.handles[s->find.next++];
		*count = n;
	}
	session_leave(s);
	RETURN(rv);
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!s->find.active) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		free(s->find.handles);
		s->find.handles = NULL;
		s->find.count = s->find.next = 0;
		s->find.active = false;
	}
	session_leave(s);
	RETURN(rv);
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub_tmpl,
			CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_count,
			CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
	struct session *s;
	struct create_ctx ctx;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	ctx = create_ctx(s);
	if (!mech || !pub || !priv || (!pub_tmpl && pub_count) || (!priv_tmpl && priv_count))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = keypair_generate(s->token, &ctx, mech, pub_tmpl, pub_count, priv_tmpl, priv_count,
				      pub, priv);
	session_leave(s);
	RETURN(rv);
}

/* Key management this token does not do: the session is still checked first, so a
 * bad handle is reported as such. */
static CK_RV unsupported(CK_SESSION_HANDLE h, const CK_MECHANISM *mech)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		return rv;
	session_leave(s);
	return mech ? CKR_MECHANISM_INVALID : CKR_ARGUMENTS_BAD;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
		    CK_OBJECT_HANDLE_PTR out)
{
	(void)tmpl;
	(void)count;
	(void)out;
	/* Secret keys are not supported: no mechanism generates one. */
	RETURN(unsupported(h, mech));
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl,
		  CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
	(void)base;
	(void)tmpl;
	(void)count;
	(void)out;
	RETURN(unsupported(h, mech));
}
