#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/secret.h"
#include "tokens/attr.h"
#include "tpmha/tpmha.h"

/* Nesting depth for wrap/unwrap templates: PKCS#11 nests one level; allow a little. */
#define MAX_NESTING 2
#define MAX_ATTRS 256
#define MAX_VALUE (1u << 20)

#define A(t, k) { t, k, #t }
static const struct {
	CK_ATTRIBUTE_TYPE type;
	enum attr_kind kind;
	const char *name;
} catalogue[] = {
	A(CKA_CLASS, ATTR_ULONG), A(CKA_TOKEN, ATTR_BOOL), A(CKA_PRIVATE, ATTR_BOOL),
	A(CKA_LABEL, ATTR_BYTES), A(CKA_APPLICATION, ATTR_BYTES), A(CKA_VALUE, ATTR_BYTES),
	A(CKA_OBJECT_ID, ATTR_BYTES), A(CKA_CERTIFICATE_TYPE, ATTR_ULONG), A(CKA_ISSUER, ATTR_BYTES),
	A(CKA_SERIAL_NUMBER, ATTR_BYTES), A(CKA_AC_ISSUER, ATTR_BYTES), A(CKA_OWNER, ATTR_BYTES),
	A(CKA_ATTR_TYPES, ATTR_BYTES), A(CKA_TRUSTED, ATTR_BOOL),
	A(CKA_CERTIFICATE_CATEGORY, ATTR_ULONG), A(CKA_JAVA_MIDP_SECURITY_DOMAIN, ATTR_ULONG),
	A(CKA_URL, ATTR_BYTES), A(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, ATTR_BYTES),
	A(CKA_HASH_OF_ISSUER_PUBLIC_KEY, ATTR_BYTES), A(CKA_NAME_HASH_ALGORITHM, ATTR_ULONG),
	A(CKA_CHECK_VALUE, ATTR_BYTES), A(CKA_KEY_TYPE, ATTR_ULONG), A(CKA_SUBJECT, ATTR_BYTES),
	A(CKA_ID, ATTR_BYTES), A(CKA_SENSITIVE, ATTR_BOOL), A(CKA_ENCRYPT, ATTR_BOOL),
	A(CKA_DECRYPT, ATTR_BOOL), A(CKA_WRAP, ATTR_BOOL), A(CKA_UNWRAP, ATTR_BOOL),
	A(CKA_SIGN, ATTR_BOOL), A(CKA_SIGN_RECOVER, ATTR_BOOL), A(CKA_VERIFY, ATTR_BOOL),
	A(CKA_VERIFY_RECOVER, ATTR_BOOL), A(CKA_DERIVE, ATTR_BOOL), A(CKA_START_DATE, ATTR_DATE),
	A(CKA_END_DATE, ATTR_DATE), A(CKA_MODULUS, ATTR_BYTES), A(CKA_MODULUS_BITS, ATTR_ULONG),
	A(CKA_PUBLIC_EXPONENT, ATTR_BYTES), A(CKA_PRIVATE_EXPONENT, ATTR_BYTES),
	A(CKA_PRIME_1, ATTR_BYTES), A(CKA_PRIME_2, ATTR_BYTES), A(CKA_EXPONENT_1, ATTR_BYTES),
	A(CKA_EXPONENT_2, ATTR_BYTES), A(CKA_COEFFICIENT, ATTR_BYTES),
	A(CKA_PUBLIC_KEY_INFO, ATTR_BYTES), A(CKA_PRIME, ATTR_BYTES), A(CKA_SUBPRIME, ATTR_BYTES),
	A(CKA_BASE, ATTR_BYTES), A(CKA_PRIME_BITS, ATTR_ULONG), A(CKA_SUB_PRIME_BITS, ATTR_ULONG),
	A(CKA_VALUE_BITS, ATTR_ULONG), A(CKA_VALUE_LEN, ATTR_ULONG), A(CKA_EXTRACTABLE, ATTR_BOOL),
	A(CKA_LOCAL, ATTR_BOOL), A(CKA_NEVER_EXTRACTABLE, ATTR_BOOL),
	A(CKA_ALWAYS_SENSITIVE, ATTR_BOOL), A(CKA_KEY_GEN_MECHANISM, ATTR_ULONG),
	A(CKA_MODIFIABLE, ATTR_BOOL), A(CKA_COPYABLE, ATTR_BOOL), A(CKA_DESTROYABLE, ATTR_BOOL),
	A(CKA_EC_PARAMS, ATTR_BYTES), A(CKA_EC_POINT, ATTR_BYTES), A(CKA_SECONDARY_AUTH, ATTR_BOOL),
	A(CKA_AUTH_PIN_FLAGS, ATTR_ULONG), A(CKA_ALWAYS_AUTHENTICATE, ATTR_BOOL),
	A(CKA_WRAP_WITH_TRUSTED, ATTR_BOOL), A(CKA_HW_FEATURE_TYPE, ATTR_ULONG),
	A(CKA_RESET_ON_INIT, ATTR_BOOL), A(CKA_HAS_RESET, ATTR_BOOL),
	A(CKA_MECHANISM_TYPE, ATTR_ULONG), A(CKA_WRAP_TEMPLATE, ATTR_ATTRS),
	A(CKA_UNWRAP_TEMPLATE, ATTR_ATTRS), A(CKA_DERIVE_TEMPLATE, ATTR_ATTRS),
	A(CKA_ALLOWED_MECHANISMS, ATTR_MECHS),
	A(CKA_TPMHA_UNIT_ID, ATTR_BYTES), A(CKA_TPMHA_TPM_VERSION, ATTR_ULONG),
	A(CKA_TPMHA_DOMAIN_ID, ATTR_BYTES), A(CKA_TPMHA_TCPA_BIND, ATTR_BOOL),
};
#undef A

static int catalogue_index(CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++)
		if (catalogue[i].type == type)
			return (int)i;
	return -1;
}

enum attr_kind attr_kind(CK_ATTRIBUTE_TYPE type)
{
	int i = catalogue_index(type);
	return i < 0 ? 0 : catalogue[i].kind;
}

const char *attr_name(CK_ATTRIBUTE_TYPE type)
{
	static __thread char unknown[24];
	int i = catalogue_index(type);

	if (i >= 0)
		return catalogue[i].name;
	snprintf(unknown, sizeof(unknown), "0x%lx", (unsigned long)type);
	return unknown;
}

static void value_free(enum attr_kind kind, void *value, CK_ULONG len)
{
	if (!value)
		return;
	if (kind == ATTR_ATTRS) {
		CK_ATTRIBUTE *inner = value;
		for (CK_ULONG i = 0; i < len / sizeof(CK_ATTRIBUTE); i++)
			value_free(attr_kind(inner[i].type), inner[i].pValue, inner[i].ulValueLen);
	}
	secret_free(value, len);
}

/* Check a value against its kind and copy it (deeply for nested templates). */
static CK_RV value_dup(CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len, int depth,
		       void **out)
{
	enum attr_kind kind = attr_kind(type);
	void *copy = NULL;

	*out = NULL;
	if (!kind)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (len && !value)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (len > MAX_VALUE)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	switch (kind) {
	case ATTR_BOOL:
		if (len != sizeof(CK_BBOOL))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (*(const CK_BBOOL *)value != CK_TRUE && *(const CK_BBOOL *)value != CK_FALSE)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		break;
	case ATTR_ULONG:
		if (len != sizeof(CK_ULONG))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		break;
	case ATTR_DATE:
		if (len != 0 && len != sizeof(CK_DATE))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		break;
	case ATTR_MECHS:
		if (len % sizeof(CK_MECHANISM_TYPE))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		break;
	case ATTR_ATTRS: {
		const CK_ATTRIBUTE *inner = value;
		CK_ATTRIBUTE *dup;
		CK_ULONG count = len / sizeof(CK_ATTRIBUTE);
		if (len % sizeof(CK_ATTRIBUTE) || depth >= MAX_NESTING || count > MAX_ATTRS)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		dup = calloc(count ? count : 1, sizeof(*dup));
		if (!dup)
			return CKR_HOST_MEMORY;
		for (CK_ULONG i = 0; i < count; i++) {
			CK_RV rv = value_dup(inner[i].type, inner[i].pValue, inner[i].ulValueLen,
					     depth + 1, &dup[i].pValue);
			if (rv != CKR_OK) {
				value_free(ATTR_ATTRS, dup, i * sizeof(CK_ATTRIBUTE));
				return rv;
			}
			dup[i].type = inner[i].type;
			dup[i].ulValueLen = inner[i].ulValueLen;
		}
		*out = dup;
		return CKR_OK;
	}
	case ATTR_BYTES:
		break;
	}
	copy = malloc(len ? len : 1);
	if (!copy)
		return CKR_HOST_MEMORY;
	if (len)
		memcpy(copy, value, len);
	*out = copy;
	return CKR_OK;
}

void attrs_clear(struct attrs *a)
{
	for (size_t i = 0; i < a->n; i++)
		value_free(attr_kind(a->v[i].type), a->v[i].pValue, a->v[i].ulValueLen);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

static CK_ATTRIBUTE *attrs_slot(struct attrs *a, CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].type == type)
			return &a->v[i];
	return NULL;
}

static CK_RV attrs_set_depth(struct attrs *a, CK_ATTRIBUTE_TYPE type, const void *value,
			     CK_ULONG len, int depth)
{
	CK_ATTRIBUTE *slot = attrs_slot(a, type);
	void *copy;
	CK_RV rv = value_dup(type, value, len, depth, &copy);

	if (rv != CKR_OK)
		return rv;
	if (slot) {
		value_free(attr_kind(type), slot->pValue, slot->ulValueLen);
	} else {
		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 16;
			CK_ATTRIBUTE *grown = realloc(a->v, cap * sizeof(*grown));
			if (!grown) {
				value_free(attr_kind(type), copy, len);
				return CKR_HOST_MEMORY;
			}
			a->v = grown;
			a->cap = cap;
		}
		slot = &a->v[a->n++];
		slot->type = type;
	}
	slot->pValue = copy;
	slot->ulValueLen = len;
	return CKR_OK;
}

CK_RV attrs_set(struct attrs *a, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
	return attrs_set_depth(a, type, value, len, 0);
}

CK_RV attrs_set_bool(struct attrs *a, CK_ATTRIBUTE_TYPE type, bool value)
{
	CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
	return attrs_set(a, type, &b, sizeof(b));
}

CK_RV attrs_set_ulong(struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG value)
{
	return attrs_set(a, type, &value, sizeof(value));
}

CK_RV attrs_default(struct attrs *a, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
	return attrs_slot(a, type) ? CKR_OK : attrs_set(a, type, value, len);
}

CK_RV attrs_default_bool(struct attrs *a, CK_ATTRIBUTE_TYPE type, bool value)
{
	return attrs_slot(a, type) ? CKR_OK : attrs_set_bool(a, type, value);
}

CK_RV attrs_default_ulong(struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG value)
{
	return attrs_slot(a, type) ? CKR_OK : attrs_set_ulong(a, type, value);
}

void attrs_remove(struct attrs *a, CK_ATTRIBUTE_TYPE type)
{
	CK_ATTRIBUTE *slot = attrs_slot(a, type);

	if (!slot)
		return;
	value_free(attr_kind(type), slot->pValue, slot->ulValueLen);
	*slot = a->v[--a->n];
}

CK_RV attrs_copy(struct attrs *dst, const struct attrs *src)
{
	struct attrs out = ATTRS_INIT;

	for (size_t i = 0; i < src->n; i++) {
		CK_RV rv = attrs_set(&out, src->v[i].type, src->v[i].pValue, src->v[i].ulValueLen);
		if (rv != CKR_OK) {
			attrs_clear(&out);
			return rv;
		}
	}
	attrs_clear(dst);
	*dst = out;
	return CKR_OK;
}

const CK_ATTRIBUTE *attrs_find(const struct attrs *a, CK_ATTRIBUTE_TYPE type)
{
	return attrs_slot((struct attrs *)a, type);
}

bool attrs_bool(const struct attrs *a, CK_ATTRIBUTE_TYPE type, bool *out)
{
	const CK_ATTRIBUTE *at = attrs_find(a, type);

	if (!at || at->ulValueLen != sizeof(CK_BBOOL))
		return false;
	*out = *(const CK_BBOOL *)at->pValue == CK_TRUE;
	return true;
}

bool attrs_ulong(const struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
	const CK_ATTRIBUTE *at = attrs_find(a, type);

	if (!at || at->ulValueLen != sizeof(CK_ULONG))
		return false;
	memcpy(out, at->pValue, sizeof(CK_ULONG));
	return true;
}

bool attrs_get_bool(const struct attrs *a, CK_ATTRIBUTE_TYPE type, bool fallback)
{
	bool v;
	return attrs_bool(a, type, &v) ? v : fallback;
}

CK_ULONG attrs_get_ulong(const struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG fallback)
{
	CK_ULONG v;
	return attrs_ulong(a, type, &v) ? v : fallback;
}

static bool value_equal(CK_ATTRIBUTE_TYPE type, const void *a, CK_ULONG alen, const void *b,
			CK_ULONG blen)
{
	if (alen != blen)
		return false;
	if (attr_kind(type) == ATTR_ATTRS) {
		const CK_ATTRIBUTE *x = a, *y = b;
		for (CK_ULONG i = 0; i < alen / sizeof(CK_ATTRIBUTE); i++)
			if (x[i].type != y[i].type ||
			    !value_equal(x[i].type, x[i].pValue, x[i].ulValueLen, y[i].pValue,
					 y[i].ulValueLen))
				return false;
		return true;
	}
	return alen == 0 || memcmp(a, b, alen) == 0;
}

CK_RV attrs_from_template(struct attrs *out, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	struct attrs list = ATTRS_INIT;
	CK_RV rv = CKR_OK;

	if (count && !tmpl)
		return CKR_ARGUMENTS_BAD;
	if (count > MAX_ATTRS) {
		LOGW("template has %lu attributes (at most %d)", (unsigned long)count, MAX_ATTRS);
		return CKR_TEMPLATE_INCONSISTENT;
	}
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *prior = attrs_find(&list, tmpl[i].type);
		if (prior) {
			if (!value_equal(tmpl[i].type, prior->pValue, prior->ulValueLen,
					 tmpl[i].pValue, tmpl[i].ulValueLen)) {
				LOGW("template gives %s twice with different values",
				     attr_name(tmpl[i].type));
				rv = CKR_TEMPLATE_INCONSISTENT;
				goto out;
			}
			continue;
		}
		rv = attrs_set(&list, tmpl[i].type, tmpl[i].pValue, tmpl[i].ulValueLen);
		if (rv != CKR_OK) {
			if (rv != CKR_HOST_MEMORY)
				LOGW("template attribute %s: %s", attr_name(tmpl[i].type),
				     rv == CKR_ATTRIBUTE_TYPE_INVALID ? "unknown type" : "malformed value");
			goto out;
		}
	}
	attrs_clear(out);
	*out = list;
	return CKR_OK;
out:
	attrs_clear(&list);
	return rv;
}

bool attrs_match(const struct attrs *obj, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *have = attrs_find(obj, tmpl[i].type);
		if (!have)
			return false;
		if (tmpl[i].ulValueLen && !tmpl[i].pValue)
			return false;
		if (!value_equal(tmpl[i].type, have->pValue, have->ulValueLen, tmpl[i].pValue,
				 tmpl[i].ulValueLen))
			return false;
	}
	return true;
}

CK_RV attrs_export_one(const CK_ATTRIBUTE *have, CK_ATTRIBUTE *want)
{
	if (!want->pValue) {
		want->ulValueLen = have->ulValueLen;
		return CKR_OK;
	}
	if (want->ulValueLen < have->ulValueLen) {
		want->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (attr_kind(have->type) == ATTR_ATTRS) {
		/* Nested templates are returned into the caller's own array: PKCS#11 says
		 * the caller supplies the inner pValue buffers, exactly like an outer call. */
		const CK_ATTRIBUTE *src = have->pValue;
		CK_ATTRIBUTE *dst = want->pValue;
		CK_RV rv = CKR_OK;
		CK_ULONG count = have->ulValueLen / sizeof(CK_ATTRIBUTE);
		for (CK_ULONG i = 0; i < count; i++) {
			CK_RV one;
			dst[i].type = src[i].type;
			one = attrs_export_one(&src[i], &dst[i]);
			if (one != CKR_OK)
				rv = one;
		}
		want->ulValueLen = have->ulValueLen;
		return rv;
	}
	if (have->ulValueLen)
		memcpy(want->pValue, have->pValue, have->ulValueLen);
	want->ulValueLen = have->ulValueLen;
	return CKR_OK;
}

static void serialize_list(const CK_ATTRIBUTE *v, size_t n, struct buf *out)
{
	buf_put_u32(out, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		enum attr_kind kind = attr_kind(v[i].type);
		buf_put_u64(out, v[i].type);
		buf_put_u8(out, (uint8_t)kind);
		switch (kind) {
		case ATTR_BOOL:
			buf_put_u8(out, *(const CK_BBOOL *)v[i].pValue);
			break;
		case ATTR_ULONG: {
			CK_ULONG u;
			memcpy(&u, v[i].pValue, sizeof(u));
			buf_put_u64(out, u == CK_UNAVAILABLE_INFORMATION ? UINT64_MAX : (uint64_t)u);
			break;
		}
		case ATTR_MECHS: {
			const CK_MECHANISM_TYPE *m = v[i].pValue;
			size_t count = v[i].ulValueLen / sizeof(*m);
			buf_put_u32(out, (uint32_t)count);
			for (size_t j = 0; j < count; j++)
				buf_put_u64(out, m[j]);
			break;
		}
		case ATTR_ATTRS:
			serialize_list(v[i].pValue, v[i].ulValueLen / sizeof(CK_ATTRIBUTE), out);
			break;
		case ATTR_BYTES:
		case ATTR_DATE:
		default:
			buf_put_lv(out, v[i].pValue, v[i].ulValueLen);
			break;
		}
	}
}

void attrs_serialize(const struct attrs *a, struct buf *out)
{
	serialize_list(a->v, a->n, out);
}

static CK_RV deserialize_list(struct reader *r, int depth, struct attrs *out)
{
	uint32_t count = read_u32(r);
	CK_RV rv = CKR_OK;

	if (r->failed || count > MAX_ATTRS)
		return CKR_DATA_INVALID;
	for (uint32_t i = 0; i < count && rv == CKR_OK; i++) {
		CK_ATTRIBUTE_TYPE type = (CK_ATTRIBUTE_TYPE)read_u64(r);
		uint8_t kind = read_u8(r);
		if (r->failed || attr_kind(type) != kind || attrs_find(out, type))
			return CKR_DATA_INVALID;
		switch (kind) {
		case ATTR_BOOL: {
			uint8_t b = read_u8(r);
			if (r->failed || b > 1)
				return CKR_DATA_INVALID;
			rv = attrs_set_bool(out, type, b);
			break;
		}
		case ATTR_ULONG: {
			uint64_t u = read_u64(r);
			if (r->failed)
				return CKR_DATA_INVALID;
			if (u == UINT64_MAX)
				u = CK_UNAVAILABLE_INFORMATION;
			else if (u > (uint64_t)(CK_ULONG)-1)
				return CKR_DATA_INVALID;
			rv = attrs_set_ulong(out, type, (CK_ULONG)u);
			break;
		}
		case ATTR_MECHS: {
			uint32_t n = read_u32(r);
			CK_MECHANISM_TYPE *m;
			if (r->failed || n > MAX_ATTRS || (size_t)n * 8 > r->left)
				return CKR_DATA_INVALID;
			m = calloc(n ? n : 1, sizeof(*m));
			if (!m)
				return CKR_HOST_MEMORY;
			for (uint32_t j = 0; j < n; j++)
				m[j] = (CK_MECHANISM_TYPE)read_u64(r);
			rv = r->failed ? CKR_DATA_INVALID : attrs_set(out, type, m, n * sizeof(*m));
			free(m);
			break;
		}
		case ATTR_ATTRS: {
			struct attrs inner = ATTRS_INIT;
			if (depth >= MAX_NESTING)
				return CKR_DATA_INVALID;
			rv = deserialize_list(r, depth + 1, &inner);
			if (rv == CKR_OK)
				rv = attrs_set_depth(out, type, inner.v, inner.n * sizeof(CK_ATTRIBUTE),
						     depth);
			attrs_clear(&inner);
			break;
		}
		case ATTR_BYTES:
		case ATTR_DATE: {
			size_t n;
			const uint8_t *p = read_lv(r, &n, MAX_VALUE);
			if (r->failed)
				return CKR_DATA_INVALID;
			rv = attrs_set(out, type, p, n);
			if (rv == CKR_ATTRIBUTE_VALUE_INVALID)
				rv = CKR_DATA_INVALID;
			break;
		}
		default:
			return CKR_DATA_INVALID;
		}
	}
	return rv;
}

CK_RV attrs_deserialize(const uint8_t *data, size_t len, struct attrs *out)
{
	struct reader r = reader_init(data, len);
	struct attrs list = ATTRS_INIT;
	CK_RV rv = deserialize_list(&r, 0, &list);

	if (rv == CKR_OK && (r.failed || r.left))
		rv = CKR_DATA_INVALID;
	if (rv != CKR_OK) {
		attrs_clear(&list);
		return rv;
	}
	attrs_clear(out);
	*out = list;
	return CKR_OK;
}
