/* Migration through PKCS#11: C_WrapKey/C_UnwrapKey with CKM_TPMHA_MIGRATE, the vendor
 * function list, and the PKCS#11 3.0 interface functions that hand it out. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "module/functions.h"
#include "module/internal.h"
#include "tokens/migrate.h"
#include "tpmha/tpmha.h"

/* A file held in an object's CKA_VALUE (unit and approval objects). */
static CK_RV object_value(struct token *t, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS want, uint8_t **value,
			  size_t *len, uint8_t unit_id[16])
{
	struct object *o = NULL;
	CK_OBJECT_CLASS klass = 0;
	CK_ATTRIBUTE a[3] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_VALUE, NULL, 0 },
		{ CKA_TPMHA_UNIT_ID, unit_id, 16 },
	};
	CK_RV rv = token_object(t, h, &o);

	*value = NULL;
	if (rv != CKR_OK)
		return rv;
	rv = token_object_read(t, o, a, 2);
	if (rv == CKR_OK && klass != want)
		rv = CKR_KEY_TYPE_INCONSISTENT;
	if (rv == CKR_OK) {
		a[1].pValue = *value = malloc(a[1].ulValueLen ? a[1].ulValueLen : 1);
		rv = *value ? token_object_read(t, o, a, 3) : CKR_HOST_MEMORY;
		*len = a[1].ulValueLen;
	}
	if (rv != CKR_OK) {
		free(*value);
		*value = NULL;
	}
	object_put(o);
	return rv;
}

/* The approvals the token holds for a unit, oldest first (store order). */
struct approval_files {
	struct blob_ref *refs;
	uint8_t **values;
	size_t n;
};

static void approval_files_release(struct approval_files *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->values[i]);
	free(a->values);
	free(a->refs);
	memset(a, 0, sizeof(*a));
}

static CK_RV approvals_for(struct token *t, const uint8_t unit_id[16], struct approval_files *out)
{
	CK_OBJECT_CLASS klass = CKO_TPMHA_APPROVAL;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_TPMHA_UNIT_ID, (void *)unit_id, 16 },
	};
	CK_OBJECT_HANDLE *found = NULL;
	uint8_t ignored[16];
	size_t n = 0;
	CK_RV rv = token_find(t, tmpl, 2, &found, &n);

	memset(out, 0, sizeof(*out));
	if (rv == CKR_OK && !n) {
		LOGW("the token holds no approval for that unit: `tpmha domain approve`, then add it");
		rv = CKR_KEY_NOT_WRAPPABLE;
	}
	if (rv == CKR_OK) {
		out->refs = calloc(n, sizeof(*out->refs));
		out->values = calloc(n, sizeof(*out->values));
		if (!out->refs || !out->values)
			rv = CKR_HOST_MEMORY;
	}
	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		size_t len = 0;
		rv = object_value(t, found[i], CKO_TPMHA_APPROVAL, &out->values[i], &len, ignored);
		if (rv == CKR_OK) {
			out->refs[i].data = out->values[i];
			out->refs[i].len = len;
			out->n++;
		}
	}
	free(found);
	if (rv != CKR_OK)
		approval_files_release(out);
	return rv;
}

/* Make (or take the kept) bundle, and answer with the PKCS#11 buffer convention. */
static CK_RV wrap(struct session *s, CK_OBJECT_HANDLE unit, CK_OBJECT_HANDLE key, CK_BYTE_PTR out,
		  CK_ULONG_PTR out_len)
{
	uint8_t *unit_file = NULL, unit_id[16];
	size_t unit_len = 0;
	struct approval_files approvals = { 0 };
	struct buf b = BUF_INIT;
	CK_RV rv = CKR_OK;

	if (!(s->wrapped.data && s->wrapped.unit == unit && s->wrapped.key == key)) {
		free(s->wrapped.data);
		s->wrapped.data = NULL;
		rv = object_value(s->token, unit, CKO_TPMHA_UNIT, &unit_file, &unit_len, unit_id);
		if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_TYPE_INCONSISTENT)
			rv = rv == CKR_KEY_TYPE_INCONSISTENT ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT :
							       CKR_WRAPPING_KEY_HANDLE_INVALID;
		if (rv == CKR_OK)
			rv = approvals_for(s->token, unit_id, &approvals);
		if (rv == CKR_OK)
			rv = token_export(s->token, unit_file, unit_len, approvals.refs, approvals.n, key, &b);
		if (rv == CKR_OK) {
			s->wrapped.data = buf_take(&b, &s->wrapped.len);
			rv = s->wrapped.data ? CKR_OK : CKR_HOST_MEMORY;
			s->wrapped.unit = unit;
			s->wrapped.key = key;
		}
	}
	if (rv == CKR_OK) {
		if (out && *out_len < s->wrapped.len)
			rv = CKR_BUFFER_TOO_SMALL;
		else if (out)
			memcpy(out, s->wrapped.data, s->wrapped.len);
		*out_len = s->wrapped.len;
		if (rv == CKR_OK && out) {
			free(s->wrapped.data);
			s->wrapped.data = NULL;
		}
	}
	free(unit_file);
	approval_files_release(&approvals);
	buf_release(&b);
	return rv;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
		CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_ANY, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!mech || !out_len)
		rv = CKR_ARGUMENTS_BAD;
	else if (mech->mechanism != CKM_TPMHA_MIGRATE)
		rv = CKR_MECHANISM_INVALID; /* no other wrapping: TPM keys leave only this way */
	else if (mech->ulParameterLen)
		rv = CKR_MECHANISM_PARAM_INVALID;
	else if (key == CK_INVALID_HANDLE)
		rv = CKR_KEY_HANDLE_INVALID;
	else if (token_login_state(s->token) != LOGIN_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		rv = wrap(s, wrapping, key, out, out_len);
	session_leave(s);
	RETURN(rv);
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping,
		  CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
		  CK_OBJECT_HANDLE_PTR out)
{
	struct session *s;
	uint8_t *unit = NULL, unit_id[16], local_id[16];
	size_t unit_len = 0;
	CK_SLOT_ID slot;
	CK_RV rv = session_enter(h, RULE_RW | RULE_USER, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!mech || !in || !out || (!tmpl && count)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (mech->mechanism != CKM_TPMHA_MIGRATE) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	if (count) {
		LOGW("a migration bundle carries its objects' attributes: the template must be empty");
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	rv = object_value(s->token, unwrapping, CKO_TPMHA_UNIT, &unit, &unit_len, unit_id);
	if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_TYPE_INCONSISTENT) {
		rv = rv == CKR_KEY_TYPE_INCONSISTENT ? CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT :
						       CKR_UNWRAPPING_KEY_HANDLE_INVALID;
		goto out;
	}
	if (rv != CKR_OK)
		goto out;
	/* The unwrapping key is this unit: its TPM is what opens the bundle. */
	rv = registry_local_unit_id(module.reg, local_id);
	if (rv == CKR_OK && memcmp(unit_id, local_id, sizeof(local_id)) != 0) {
		LOGW("C_UnwrapKey takes this unit's own unit object");
		rv = CKR_UNWRAPPING_KEY_HANDLE_INVALID;
	}
	if (rv == CKR_OK)
		rv = registry_receive(module.reg, s->token, in, in_len, NULL, 0, &slot, out);
	if (rv == CKR_OK && *out == CK_INVALID_HANDLE) {
		LOGW("the bundle holds no private key");
		rv = CKR_WRAPPED_KEY_INVALID;
	}
out:
	free(unit);
	session_leave(s);
	RETURN(rv);
}

/* ---- the vendor function list ---- */

static CK_RV tpmha_init_domain_token(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label,
				     CK_BYTE_PTR domain, CK_ULONG domain_len, CK_SLOT_ID_PTR new_slot)
{
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!pin || !label || !domain || !new_slot)
		RETURN(CKR_ARGUMENTS_BAD);
	if (slot != FREE_SLOT_ID)
		RETURN(CKR_SLOT_ID_INVALID);
	RETURN(registry_init_domain_token(module.reg, pin, len, label, domain, domain_len, new_slot));
}

static CK_RV tpmha_get_unit_identity(CK_UTF8CHAR_PTR label, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct buf b = BUF_INIT;
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!out_len)
		RETURN(CKR_ARGUMENTS_BAD);
	rv = registry_unit_identity(module.reg, (const char *)label, &b);
	if (rv == CKR_OK && b.failed)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK) {
		if (out && *out_len < b.len)
			rv = CKR_BUFFER_TOO_SMALL;
		else if (out)
			memcpy(out, b.data, b.len);
		*out_len = b.len;
	}
	buf_release(&b);
	RETURN(rv);
}

static CK_RV tpmha_replicate_token(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE unit, CK_BYTE_PTR out,
				   CK_ULONG_PTR out_len)
{
	struct session *s;
	CK_RV rv = session_enter(h, RULE_USER, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	rv = out_len ? wrap(s, unit, CK_INVALID_HANDLE, out, out_len) : CKR_ARGUMENTS_BAD;
	session_leave(s);
	RETURN(rv);
}

static CK_RV tpmha_approval_request(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE unit, CK_OBJECT_HANDLE key,
				    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct session *s;
	uint8_t *unit_file = NULL, unit_id[16];
	size_t unit_len = 0;
	struct buf b = BUF_INIT;
	CK_RV rv = session_enter(h, RULE_USER, &s);

	if (rv != CKR_OK)
		RETURN(rv);
	if (!out_len) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	rv = object_value(s->token, unit, CKO_TPMHA_UNIT, &unit_file, &unit_len, unit_id);
	if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_TYPE_INCONSISTENT)
		rv = CKR_WRAPPING_KEY_HANDLE_INVALID;
	if (rv == CKR_OK)
		rv = token_approval_request(s->token, unit_file, unit_len, key, &b);
	if (rv == CKR_OK && b.failed)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK) {
		/* Deterministic for a given token state: a second call makes the same bytes. */
		if (out && *out_len < b.len)
			rv = CKR_BUFFER_TOO_SMALL;
		else if (out)
			memcpy(out, b.data, b.len);
		*out_len = b.len;
	}
out:
	free(unit_file);
	buf_release(&b);
	session_leave(s);
	RETURN(rv);
}

static CK_RV tpmha_receive_bundle(CK_BYTE_PTR bundle, CK_ULONG len, CK_BYTE_PTR domain, CK_ULONG domain_len,
				  CK_SLOT_ID_PTR slot)
{
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!bundle || !slot || (!domain && domain_len))
		RETURN(CKR_ARGUMENTS_BAD);
	RETURN(registry_receive(module.reg, NULL, bundle, len, domain, domain_len, slot, NULL));
}

static TPMHA_FUNCTION_LIST vendor_functions = {
	.version = { 1, 0 },
	.TPMHA_InitDomainToken = tpmha_init_domain_token,
	.TPMHA_GetUnitIdentity = tpmha_get_unit_identity,
	.TPMHA_ReplicateToken = tpmha_replicate_token,
	.TPMHA_ReceiveBundle = tpmha_receive_bundle,
	.TPMHA_ApprovalRequest = tpmha_approval_request,
};

/* PKCS#11 3.0's CK_INTERFACE, which this p11-kit's header does not have yet. */
struct interface {
	CK_UTF8CHAR *name;
	void *functions;
	CK_FLAGS flags;
};

extern CK_FUNCTION_LIST tpmha_function_list;

EXPORT CK_RV C_GetInterfaceList(struct interface *list, CK_ULONG_PTR count);
EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct interface **out,
			    CK_FLAGS flags);

static struct interface interfaces[] = {
	{ (CK_UTF8CHAR *)"PKCS 11", &tpmha_function_list, 0 },
	{ (CK_UTF8CHAR *)TPMHA_INTERFACE_NAME, &vendor_functions, 0 },
};

#define NINTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

EXPORT CK_RV C_GetInterfaceList(struct interface *list, CK_ULONG_PTR count)
{
	CK_RV rv = CKR_OK;

	if (!count)
		return CKR_ARGUMENTS_BAD;
	if (list && *count < NINTERFACES)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list)
		memcpy(list, interfaces, sizeof(interfaces));
	*count = NINTERFACES;
	return rv;
}

EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct interface **out,
			    CK_FLAGS flags)
{
	if (!out)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < NINTERFACES; i++) {
		const CK_VERSION *v = i == 0 ? &tpmha_function_list.version : &vendor_functions.version;
		if (name && strcmp((const char *)name, (const char *)interfaces[i].name) != 0)
			continue;
		if (version && (version->major != v->major || version->minor != v->minor))
			continue;
		if ((flags & interfaces[i].flags) != flags)
			continue;
		*out = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
