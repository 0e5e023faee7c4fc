/* Attribute lists: the catalogue of attribute types we know, owned copies of values,
 * template matching, and the portable encoding the store and migration bundles use. */
#ifndef TPMHA_TOKENS_ATTR_H
#define TPMHA_TOKENS_ATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"

enum attr_kind {
	ATTR_BOOL = 1,  /* CK_BBOOL */
	ATTR_ULONG,     /* CK_ULONG (and CK_OBJECT_CLASS, CK_KEY_TYPE, ...) */
	ATTR_BYTES,     /* byte string (also UTF-8 and DER) */
	ATTR_DATE,      /* CK_DATE, or empty */
	ATTR_ATTRS,     /* CK_ATTRIBUTE array (wrap/unwrap templates) */
	ATTR_MECHS,     /* CK_MECHANISM_TYPE array */
};

/* 0 if the type is not one we know. */
enum attr_kind attr_kind(CK_ATTRIBUTE_TYPE type);
const char *attr_name(CK_ATTRIBUTE_TYPE type); /* "CKA_LABEL", or "0x..." for unknown */

/* An owned list; values are deep copies, wiped when freed. */
struct attrs {
	CK_ATTRIBUTE *v;
	size_t n;
	size_t cap;
};

#define ATTRS_INIT { 0 }

void attrs_clear(struct attrs *a);
CK_RV attrs_copy(struct attrs *dst, const struct attrs *src);

/* Replace or add; the value is checked against the type's kind:
 * CKR_ATTRIBUTE_VALUE_INVALID for a wrong length, CKR_ATTRIBUTE_TYPE_INVALID for an
 * unknown type. */
CK_RV attrs_set(struct attrs *a, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len);
CK_RV attrs_set_bool(struct attrs *a, CK_ATTRIBUTE_TYPE type, bool value);
CK_RV attrs_set_ulong(struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG value);
/* Only if absent. */
CK_RV attrs_default(struct attrs *a, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len);
CK_RV attrs_default_bool(struct attrs *a, CK_ATTRIBUTE_TYPE type, bool value);
CK_RV attrs_default_ulong(struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG value);
void attrs_remove(struct attrs *a, CK_ATTRIBUTE_TYPE type);

const CK_ATTRIBUTE *attrs_find(const struct attrs *a, CK_ATTRIBUTE_TYPE type);
bool attrs_get_bool(const struct attrs *a, CK_ATTRIBUTE_TYPE type, bool fallback);
CK_ULONG attrs_get_ulong(const struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG fallback);
/* True if present and a well-formed bool/ulong; value in *out. */
bool attrs_bool(const struct attrs *a, CK_ATTRIBUTE_TYPE type, bool *out);
bool attrs_ulong(const struct attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG *out);

/* A caller's template as a list: every type known, every value well-formed, no type
 * twice with different values (CKR_TEMPLATE_INCONSISTENT). NULL pValue with a
 * non-zero length is CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV attrs_from_template(struct attrs *out, const CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* Does the object's list hold every attribute of the template with an equal value? */
bool attrs_match(const struct attrs *obj, const CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* One attribute out, by the C_GetAttributeValue rules for a value we may reveal:
 * pValue NULL → length; buffer too small → CKR_BUFFER_TOO_SMALL with
 * ulValueLen = CK_UNAVAILABLE_INFORMATION (PKCS#11 v2.40 §5.2). */
CK_RV attrs_export_one(const CK_ATTRIBUTE *have, CK_ATTRIBUTE *want);

/* Portable encoding: u32 count, then per attribute u64 type, u8 kind, value:
 * bool u8; ulong u64 (CK_UNAVAILABLE_INFORMATION kept as all ones); bytes/date
 * u32 length + bytes; mechs u32 count + u64 each; attrs nested. Big-endian. */
void attrs_serialize(const struct attrs *a, struct buf *out);
/* CKR_DATA_INVALID for anything malformed (untrusted input: bounded, never crashes). */
CK_RV attrs_deserialize(const uint8_t *data, size_t len, struct attrs *out);

#endif
