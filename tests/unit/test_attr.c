/* tokens/attr.c: the attribute catalogue, owned lists, caller templates, matching,
 * C_GetAttributeValue export rules, and the portable encoding (untrusted input). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tokens/attr.h"
#include "unit.h"

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* ---- catalogue ---- */

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(attr_kind(CKA_CLASS), ATTR_ULONG);
	assert_int_equal(attr_kind(CKA_KEY_TYPE), ATTR_ULONG);
	assert_int_equal(attr_kind(CKA_MODULUS_BITS), ATTR_ULONG);
	assert_int_equal(attr_kind(CKA_TOKEN), ATTR_BOOL);
	assert_int_equal(attr_kind(CKA_SENSITIVE), ATTR_BOOL);
	assert_int_equal(attr_kind(CKA_LABEL), ATTR_BYTES);
	assert_int_equal(attr_kind(CKA_EC_POINT), ATTR_BYTES);
	assert_int_equal(attr_kind(CKA_START_DATE), ATTR_DATE);
	assert_int_equal(attr_kind(CKA_END_DATE), ATTR_DATE);
	assert_int_equal(attr_kind(CKA_WRAP_TEMPLATE), ATTR_ATTRS);
	assert_int_equal(attr_kind(CKA_UNWRAP_TEMPLATE), ATTR_ATTRS);
	assert_int_equal(attr_kind(CKA_ALLOWED_MECHANISMS), ATTR_MECHS);
	assert_int_equal(attr_kind(0x7777), 0);
	assert_int_equal(attr_kind(CKA_VENDOR_DEFINED | 1), 0);
	assert_string_equal(attr_name(CKA_LABEL), "CKA_LABEL");
	assert_string_equal(attr_name(CKA_WRAP_TEMPLATE), "CKA_WRAP_TEMPLATE");
	assert_string_equal(attr_name(0x7777), "0x7777");
}

/* ---- owned lists ---- */

static void test_set_replace_default(void **state)
{
	struct attrs a = ATTRS_INIT;
	const CK_ATTRIBUTE *at;
	CK_ULONG u = 0;
	bool b = true;

	(void)state;
	assert_int_equal(attrs_set(&a, CKA_LABEL, "one", 3), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_LABEL, "second", 6), CKR_OK);
	assert_int_equal(a.n, 1);
	at = attrs_find(&a, CKA_LABEL);
	assert_non_null(at);
	assert_int_equal(at->ulValueLen, 6);
	assert_memory_equal(at->pValue, "second", 6);

	/* A default never replaces what is there. */
	assert_int_equal(attrs_default(&a, CKA_LABEL, "x", 1), CKR_OK);
	assert_int_equal(attrs_find(&a, CKA_LABEL)->ulValueLen, 6);
	assert_int_equal(attrs_default(&a, CKA_ID, "", 0), CKR_OK);
	assert_non_null(attrs_find(&a, CKA_ID));
	assert_int_equal(attrs_find(&a, CKA_ID)->ulValueLen, 0);
	assert_non_null(attrs_find(&a, CKA_ID)->pValue);

	assert_int_equal(attrs_set_bool(&a, CKA_TOKEN, true), CKR_OK);
	assert_int_equal(attrs_default_bool(&a, CKA_TOKEN, false), CKR_OK);
	assert_true(attrs_get_bool(&a, CKA_TOKEN, false));
	assert_int_equal(attrs_default_bool(&a, CKA_PRIVATE, false), CKR_OK);
	assert_true(attrs_bool(&a, CKA_PRIVATE, &b));
	assert_false(b);
	assert_false(attrs_bool(&a, CKA_SIGN, &b));
	assert_true(attrs_get_bool(&a, CKA_SIGN, true));

	assert_int_equal(attrs_set_ulong(&a, CKA_CLASS, CKO_DATA), CKR_OK);
	assert_int_equal(attrs_default_ulong(&a, CKA_CLASS, CKO_CERTIFICATE), CKR_OK);
	assert_int_equal(attrs_get_ulong(&a, CKA_CLASS, 99), CKO_DATA);
	assert_true(attrs_ulong(&a, CKA_CLASS, &u));
	assert_int_equal(u, CKO_DATA);
	assert_int_equal(attrs_get_ulong(&a, CKA_KEY_TYPE, 99), 99);
	/* The typed readers refuse values of the wrong length. */
	assert_false(attrs_ulong(&a, CKA_LABEL, &u));
	assert_false(attrs_bool(&a, CKA_LABEL, &b));

	assert_int_equal(a.n, 5);
	attrs_remove(&a, CKA_LABEL);
	attrs_remove(&a, CKA_LABEL); /* absent: nothing happens */
	assert_int_equal(a.n, 4);
	assert_null(attrs_find(&a, CKA_LABEL));
	assert_true(attrs_get_bool(&a, CKA_TOKEN, false));
	attrs_clear(&a);
	assert_int_equal(a.n, 0);
	assert_null(a.v);
}

static void test_copy_is_deep(void **state)
{
	struct attrs a = ATTRS_INIT, b = ATTRS_INIT;
	char label[] = "label";
	CK_ATTRIBUTE inner[] = { { CKA_LABEL, label, 5 } };

	(void)state;
	assert_int_equal(attrs_set(&a, CKA_LABEL, label, 5), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_WRAP_TEMPLATE, inner, sizeof(inner)), CKR_OK);
	label[0] = 'X'; /* the list owns copies */
	assert_memory_equal(attrs_find(&a, CKA_LABEL)->pValue, "label", 5);
	assert_int_equal(attrs_set(&b, CKA_ID, "old", 3), CKR_OK);
	assert_int_equal(attrs_copy(&b, &a), CKR_OK);
	assert_null(attrs_find(&b, CKA_ID)); /* replaced, not merged */
	assert_int_equal(attrs_set(&a, CKA_LABEL, "other", 5), CKR_OK);
	assert_memory_equal(attrs_find(&b, CKA_LABEL)->pValue, "label", 5);
	{
		const CK_ATTRIBUTE *w = attrs_find(&b, CKA_WRAP_TEMPLATE);
		const CK_ATTRIBUTE *wi = w->pValue;
		assert_int_equal(w->ulValueLen, sizeof(inner));
		assert_ptr_not_equal(wi, attrs_find(&a, CKA_WRAP_TEMPLATE)->pValue);
		assert_ptr_not_equal(wi[0].pValue, label);
		assert_memory_equal(wi[0].pValue, "label", 5);
	}
	attrs_clear(&a);
	attrs_clear(&b);
}

static void test_set_value_checks(void **state)
{
	struct attrs a = ATTRS_INIT;
	CK_BBOOL two = 2;
	uint32_t u32 = 1;
	CK_DATE date;
	CK_MECHANISM_TYPE mechs[2] = { CKM_RSA_PKCS, CKM_ECDSA };

	(void)state;
	memcpy(&date, "20240131", 8);
	assert_int_equal(attrs_set(&a, 0x7777, "x", 1), CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_TOKEN, &yes, 0), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_TOKEN, "\1\0", 2), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_TOKEN, &two, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_CLASS, &u32, sizeof(u32)), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_CLASS, NULL, sizeof(CK_ULONG)), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_LABEL, NULL, 3), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_START_DATE, &date, 5), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs) - 1),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_set(&a, CKA_WRAP_TEMPLATE, "abc", 3), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(a.n, 0);
	/* and the well-formed ones */
	assert_int_equal(attrs_set(&a, CKA_LABEL, NULL, 0), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_START_DATE, &date, sizeof(date)), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_END_DATE, NULL, 0), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs)), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_ALLOWED_MECHANISMS, NULL, 0), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_TOKEN, &no, 1), CKR_OK);
	assert_int_equal(a.n, 5);
	attrs_clear(&a);
}

/* ---- caller templates ---- */

static void test_template_errors(void **state)
{
	struct attrs out = ATTRS_INIT;
	CK_ULONG klass = CKO_DATA, other = CKO_CERTIFICATE;
	CK_BYTE shortbool[2] = { 1, 0 };
	CK_ATTRIBUTE unknown[] = { { CKA_CLASS, &klass, sizeof(klass) }, { 0x7777, "x", 1 } };
	CK_ATTRIBUTE badbool[] = { { CKA_TOKEN, shortbool, 2 } };
	CK_ATTRIBUTE badulong[] = { { CKA_CLASS, &klass, 4 } };
	CK_ATTRIBUTE nullval[] = { { CKA_LABEL, NULL, 4 } };
	CK_ATTRIBUTE dup_same[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_LABEL, "a", 1 },
				    { CKA_CLASS, &klass, sizeof(klass) } };
	CK_ATTRIBUTE dup_diff[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_CLASS, &other, sizeof(other) } };
	CK_ATTRIBUTE dup_len[] = { { CKA_LABEL, "ab", 2 }, { CKA_LABEL, "a", 1 } };
	CK_ATTRIBUTE *many = calloc(257, sizeof(*many));

	(void)state;
	/* The previous content of out survives a failure. */
	assert_int_equal(attrs_set(&out, CKA_ID, "keep", 4), CKR_OK);
	assert_int_equal(attrs_from_template(&out, unknown, 2), CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(attrs_from_template(&out, badbool, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_from_template(&out, badulong, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_from_template(&out, nullval, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_from_template(&out, dup_diff, 2), CKR_TEMPLATE_INCONSISTENT);
	assert_int_equal(attrs_from_template(&out, dup_len, 2), CKR_TEMPLATE_INCONSISTENT);
	assert_int_equal(attrs_from_template(&out, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_non_null(many);
	for (int i = 0; i < 257; i++) {
		many[i].type = CKA_LABEL;
		many[i].pValue = "a";
		many[i].ulValueLen = 1;
	}
	assert_int_equal(attrs_from_template(&out, many, 257), CKR_TEMPLATE_INCONSISTENT);
	assert_int_equal(out.n, 1);
	assert_non_null(attrs_find(&out, CKA_ID));

	/* The same type twice with the same value is one attribute. */
	assert_int_equal(attrs_from_template(&out, dup_same, 3), CKR_OK);
	assert_int_equal(out.n, 2);
	assert_null(attrs_find(&out, CKA_ID));
	assert_int_equal(attrs_get_ulong(&out, CKA_CLASS, 0), CKO_DATA);
	assert_int_equal(attrs_from_template(&out, many, 256), CKR_OK);
	assert_int_equal(out.n, 1);
	assert_int_equal(attrs_from_template(&out, NULL, 0), CKR_OK);
	assert_int_equal(out.n, 0);
	free(many);
	attrs_clear(&out);
}

static void test_template_nested(void **state)
{
	struct attrs out = ATTRS_INIT;
	CK_ULONG klass = CKO_PRIVATE_KEY;
	CK_BYTE badb = 7;
	char label[] = "inner";
	CK_ATTRIBUTE inner[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_TOKEN, (void *)&yes, 1 },
				 { CKA_LABEL, label, 5 } };
	CK_ATTRIBUTE inner_unknown[] = { { 0x7777, "x", 1 } };
	CK_ATTRIBUTE inner_badbool[] = { { CKA_SIGN, &badb, 1 } };
	CK_ATTRIBUTE level2[] = { { CKA_UNWRAP_TEMPLATE, inner, sizeof(inner) } };
	CK_ATTRIBUTE level3[] = { { CKA_WRAP_TEMPLATE, level2, sizeof(level2) } };
	CK_ATTRIBUTE t_ok[] = { { CKA_WRAP_TEMPLATE, inner, sizeof(inner) } };
	CK_ATTRIBUTE t_unknown[] = { { CKA_WRAP_TEMPLATE, inner_unknown, sizeof(inner_unknown) } };
	CK_ATTRIBUTE t_badbool[] = { { CKA_UNWRAP_TEMPLATE, inner_badbool, sizeof(inner_badbool) } };
	CK_ATTRIBUTE t_odd[] = { { CKA_WRAP_TEMPLATE, inner, sizeof(inner) - 1 } };
	CK_ATTRIBUTE t_two[] = { { CKA_WRAP_TEMPLATE, level2, sizeof(level2) } };
	CK_ATTRIBUTE t_three[] = { { CKA_WRAP_TEMPLATE, level3, sizeof(level3) } };
	CK_ATTRIBUTE t_empty[] = { { CKA_WRAP_TEMPLATE, NULL, 0 } };
	const CK_ATTRIBUTE *w;

	(void)state;
	assert_int_equal(attrs_from_template(&out, t_ok, 1), CKR_OK);
	label[0] = 'X';
	w = attrs_find(&out, CKA_WRAP_TEMPLATE);
	assert_non_null(w);
	assert_int_equal(w->ulValueLen, sizeof(inner));
	assert_memory_equal(((const CK_ATTRIBUTE *)w->pValue)[2].pValue, "inner", 5);
	assert_true(attrs_match(&out, t_ok, 1) == false); /* the caller's label changed */
	label[0] = 'i';
	assert_true(attrs_match(&out, t_ok, 1));

	assert_int_equal(attrs_from_template(&out, t_unknown, 1), CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(attrs_from_template(&out, t_badbool, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_from_template(&out, t_odd, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	/* Two levels of nesting are accepted, a third is not. */
	assert_int_equal(attrs_from_template(&out, t_two, 1), CKR_OK);
	assert_int_equal(attrs_from_template(&out, t_three, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(attrs_from_template(&out, t_empty, 1), CKR_OK);
	assert_int_equal(attrs_find(&out, CKA_WRAP_TEMPLATE)->ulValueLen, 0);
	attrs_clear(&out);
}

/* ---- matching ---- */

static void test_match(void **state)
{
	struct attrs obj = ATTRS_INIT;
	CK_ULONG data = CKO_DATA, cert = CKO_CERTIFICATE;
	CK_ATTRIBUTE by_class[] = { { CKA_CLASS, &data, sizeof(data) } };
	CK_ATTRIBUTE wrong_class[] = { { CKA_CLASS, &cert, sizeof(cert) } };
	CK_ATTRIBUTE by_both[] = { { CKA_CLASS, &data, sizeof(data) }, { CKA_LABEL, "lab", 3 } };
	CK_ATTRIBUTE prefix[] = { { CKA_LABEL, "la", 2 } };
	CK_ATTRIBUTE longer[] = { { CKA_LABEL, "label", 5 } };
	CK_ATTRIBUTE absent[] = { { CKA_ID, "", 0 } };
	CK_ATTRIBUTE nullval[] = { { CKA_LABEL, NULL, 3 } };
	CK_ATTRIBUTE empty_id[] = { { CKA_APPLICATION, NULL, 0 } };

	(void)state;
	assert_int_equal(attrs_set_ulong(&obj, CKA_CLASS, CKO_DATA), CKR_OK);
	assert_int_equal(attrs_set(&obj, CKA_LABEL, "lab", 3), CKR_OK);
	assert_int_equal(attrs_set(&obj, CKA_APPLICATION, "", 0), CKR_OK);
	assert_true(attrs_match(&obj, NULL, 0));
	assert_true(attrs_match(&obj, by_class, 1));
	assert_true(attrs_match(&obj, by_both, 2));
	assert_false(attrs_match(&obj, wrong_class, 1));
	assert_false(attrs_match(&obj, prefix, 1));
	assert_false(attrs_match(&obj, longer, 1));
	assert_false(attrs_match(&obj, absent, 1));
	assert_false(attrs_match(&obj, nullval, 1));
	assert_true(attrs_match(&obj, empty_id, 1));
	attrs_clear(&obj);
}

/* ---- export (C_GetAttributeValue rules) ---- */

static void test_export_one(void **state)
{
	struct attrs a = ATTRS_INIT;
	CK_ULONG klass = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE inner[] = { { CKA_CLASS, &klass, sizeof(klass) }, { CKA_LABEL, "wrapped", 7 } };
	CK_ATTRIBUTE want;
	CK_ATTRIBUTE out_inner[2];
	CK_ULONG got_class = 0;
	char buf[16], lab[16];

	(void)state;
	assert_int_equal(attrs_set(&a, CKA_LABEL, "hello", 5), CKR_OK);
	assert_int_equal(attrs_set(&a, CKA_WRAP_TEMPLATE, inner, sizeof(inner)), CKR_OK);

	want = (CK_ATTRIBUTE){ CKA_LABEL, NULL, 0 };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_LABEL), &want), CKR_OK);
	assert_int_equal(want.ulValueLen, 5);

	memset(buf, 'z', sizeof(buf));
	want = (CK_ATTRIBUTE){ CKA_LABEL, buf, 4 };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_LABEL), &want), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(want.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(buf[0], 'z');

	want = (CK_ATTRIBUTE){ CKA_LABEL, buf, sizeof(buf) };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_LABEL), &want), CKR_OK);
	assert_int_equal(want.ulValueLen, 5);
	assert_memory_equal(buf, "hello", 5);

	want = (CK_ATTRIBUTE){ CKA_LABEL, buf, 5 };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_LABEL), &want), CKR_OK);

	/* Nested: the caller's own array and buffers, like an outer call. */
	want = (CK_ATTRIBUTE){ CKA_WRAP_TEMPLATE, NULL, 0 };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_WRAP_TEMPLATE), &want), CKR_OK);
	assert_int_equal(want.ulValueLen, sizeof(inner));
	out_inner[0] = (CK_ATTRIBUTE){ 0, &got_class, sizeof(got_class) };
	out_inner[1] = (CK_ATTRIBUTE){ 0, lab, sizeof(lab) };
	want = (CK_ATTRIBUTE){ CKA_WRAP_TEMPLATE, out_inner, sizeof(out_inner) };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_WRAP_TEMPLATE), &want), CKR_OK);
	assert_int_equal(out_inner[0].type, CKA_CLASS);
	assert_int_equal(got_class, CKO_PUBLIC_KEY);
	assert_int_equal(out_inner[1].type, CKA_LABEL);
	assert_int_equal(out_inner[1].ulValueLen, 7);
	assert_memory_equal(lab, "wrapped", 7);
	out_inner[1] = (CK_ATTRIBUTE){ 0, lab, 3 };
	want = (CK_ATTRIBUTE){ CKA_WRAP_TEMPLATE, out_inner, sizeof(out_inner) };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_WRAP_TEMPLATE), &want), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(out_inner[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	want = (CK_ATTRIBUTE){ CKA_WRAP_TEMPLATE, out_inner, sizeof(out_inner[0]) };
	assert_int_equal(attrs_export_one(attrs_find(&a, CKA_WRAP_TEMPLATE), &want), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(want.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	attrs_clear(&a);
}

/* ---- the portable encoding ---- */

/* A list with every kind, nesting, empty values and CK_UNAVAILABLE_INFORMATION. */
static void sample_list(struct attrs *a)
{
	CK_ULONG klass = CKO_SECRET_KEY;
	CK_DATE date;
	CK_MECHANISM_TYPE mechs[3] = { CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_VENDOR_DEFINED | 5 };
	CK_ATTRIBUTE deepest[] = { { CKA_SIGN, (void *)&yes, 1 }, { CKA_ID, "deep", 4 } };
	CK_ATTRIBUTE inner[] = { { CKA_CLASS, &klass, sizeof(klass) },
				 { CKA_TOKEN, (void *)&no, 1 },
				 { CKA_UNWRAP_TEMPLATE, deepest, sizeof(deepest) },
				 { CKA_ALLOWED_MECHANISMS, mechs, sizeof(CK_MECHANISM_TYPE) } };
	uint8_t big[300];

	memcpy(&date, "20240229", 8);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(attrs_set_ulong(a, CKA_CLASS, CKO_PRIVATE_KEY), CKR_OK);
	assert_int_equal(attrs_set_ulong(a, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION), CKR_OK);
	assert_int_equal(attrs_set_bool(a, CKA_TOKEN, true), CKR_OK);
	assert_int_equal(attrs_set_bool(a, CKA_PRIVATE, false), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_LABEL, "a label", 7), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_ID, "", 0), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_MODULUS, big, sizeof(big)), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_START_DATE, &date, sizeof(date)), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_END_DATE, "", 0), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs)), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_DERIVE_TEMPLATE, "", 0), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_WRAP_TEMPLATE, inner, sizeof(inner)), CKR_OK);
}

static void lists_equal(const struct attrs *x, const struct attrs *y)
{
	assert_int_equal(x->n, y->n);
	for (size_t i = 0; i < x->n; i++) {
		const CK_ATTRIBUTE *other = attrs_find(y, x->v[i].type);
		assert_non_null(other);
		/* attrs_match compares nested templates deeply */
		assert_true(attrs_match(y, &x->v[i], 1));
	}
}

static uint8_t *encode(const struct attrs *a, size_t *len)
{
	struct buf b = BUF_INIT;
	uint8_t *data;

	attrs_serialize(a, &b);
	data = buf_take(&b, len);
	assert_non_null(data);
	return data;
}

static void test_round_trip(void **state)
{
	struct attrs a = ATTRS_INIT, back = ATTRS_INIT, empty = ATTRS_INIT;
	uint8_t *data, *again;
	size_t len, len2;

	(void)state;
	sample_list(&a);
	data = encode(&a, &len);
	/* u32 count, then the first attribute: u64 CKA_CLASS, kind, u64 value */
	assert_int_equal(data[3], a.n);
	assert_int_equal(data[0] | data[1] | data[2], 0);
	assert_int_equal(data[11], CKA_CLASS & 0xff);
	assert_int_equal(data[12], ATTR_ULONG);
	assert_int_equal(data[20], CKO_PRIVATE_KEY);
	assert_int_equal(attrs_deserialize(data, len, &back), CKR_OK);
	lists_equal(&a, &back);
	assert_int_equal(attrs_get_ulong(&back, CKA_KEY_GEN_MECHANISM, 0), CK_UNAVAILABLE_INFORMATION);
	again = encode(&back, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(data, again, len);

	/* The empty list. */
	free(again);
	again = encode(&empty, &len2);
	assert_int_equal(len2, 4);
	assert_int_equal(attrs_deserialize(again, len2, &back), CKR_OK);
	assert_int_equal(back.n, 0);
	free(again);
	free(data);
	attrs_clear(&a);
	attrs_clear(&back);
}

/* Every decoding outcome is clean: CKR_DATA_INVALID, or CKR_OK with a list that
 * encodes back to exactly the input (the encoding is canonical). */
static void check_decodes_cleanly(const uint8_t *data, size_t len, int *accepted)
{
	struct attrs out = ATTRS_INIT;
	CK_RV rv = attrs_deserialize(data, len, &out);

	if (rv == CKR_OK) {
		size_t len2;
		uint8_t *again = encode(&out, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(again, data, len);
		free(again);
		(*accepted)++;
	} else {
		assert_int_equal(rv, CKR_DATA_INVALID);
		assert_int_equal(out.n, 0);
	}
	attrs_clear(&out);
}

static void test_truncations(void **state)
{
	struct attrs a = ATTRS_INIT, out = ATTRS_INIT;
	uint8_t *data;
	size_t len;

	(void)state;
	sample_list(&a);
	data = encode(&a, &len);
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
		memcpy(copy, data, n);
		assert_int_equal(attrs_deserialize(n ? copy : NULL, n, &out), CKR_DATA_INVALID);
		free(copy);
	}
	/* and trailing bytes */
	{
		uint8_t *longer = malloc(len + 1);
		memcpy(longer, data, len);
		longer[len] = 0;
		assert_int_equal(attrs_deserialize(longer, len + 1, &out), CKR_DATA_INVALID);
		free(longer);
	}
	assert_int_equal(out.n, 0);
	free(data);
	attrs_clear(&a);
}

static void test_bit_flips(void **state)
{
	struct attrs a = ATTRS_INIT;
	uint8_t *data, *copy;
	size_t len;
	int accepted = 0, total = 0;

	(void)state;
	sample_list(&a);
	data = encode(&a, &len);
	copy = malloc(len);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, data, len);
			copy[i] ^= (uint8_t)(1u << bit);
			check_decodes_cleanly(copy, len, &accepted);
			total++;
		}
	/* Flips inside byte strings stay valid; flips in the structure must not. */
	assert_true(accepted > 0);
	assert_true(accepted < total);
	/* Every bit of the count, the first type and the first kind is structure. */
	for (size_t i = 0; i < 13; i++)
		for (int bit = 0; bit < 8; bit++) {
			struct attrs out = ATTRS_INIT;
			memcpy(copy, data, len);
			copy[i] ^= (uint8_t)(1u << bit);
			if (i >= 4 && i < 12) {
				/* A type flip may land on another ulong-kind attribute. */
				CK_ATTRIBUTE_TYPE t = CKA_CLASS ^ ((CK_ATTRIBUTE_TYPE)1 << (8 * (11 - i) + (size_t)bit));
				if (attr_kind(t) == ATTR_ULONG && !attrs_find(&a, t))
					continue;
			}
			assert_int_equal(attrs_deserialize(copy, len, &out), CKR_DATA_INVALID);
		}
	free(copy);
	free(data);
	attrs_clear(&a);
}

static void test_random_mutations(void **state)
{
	struct attrs a = ATTRS_INIT;
	uint8_t *data, *copy;
	size_t len;
	int accepted = 0;
	unsigned seed = 12345;

	(void)state;
	sample_list(&a);
	data = encode(&a, &len);
	copy = malloc(len);
	for (int round = 0; round < 3000; round++) {
		memcpy(copy, data, len);
		for (int k = 0; k < 1 + round % 4; k++)
			copy[(size_t)rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
		check_decodes_cleanly(copy, len, &accepted);
	}
	free(copy);
	free(data);
	attrs_clear(&a);
}

/* Hand-made encodings of each rule the decoder enforces. */
static void test_malformed(void **state)
{
	struct attrs out = ATTRS_INIT;
	struct buf b = BUF_INIT;
	uint8_t *data;
	size_t len;

	(void)state;
#define CHECK(rv_expected)                                                              \
	do {                                                                            \
		data = buf_take(&b, &len);                                              \
		assert_non_null(data);                                                  \
		assert_int_equal(attrs_deserialize(data, len, &out), (rv_expected));    \
		free(data);                                                             \
	} while (0)

	/* a well-formed single bool, for reference */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_TOKEN); buf_put_u8(&b, ATTR_BOOL); buf_put_u8(&b, 1);
	CHECK(CKR_OK);
	/* bool other than 0/1 */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_TOKEN); buf_put_u8(&b, ATTR_BOOL); buf_put_u8(&b, 2);
	CHECK(CKR_DATA_INVALID);
	/* kind that does not match the type */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_TOKEN); buf_put_u8(&b, ATTR_ULONG); buf_put_u64(&b, 1);
	CHECK(CKR_DATA_INVALID);
	/* unknown type */
	buf_put_u32(&b, 1); buf_put_u64(&b, 0x7777); buf_put_u8(&b, ATTR_BYTES); buf_put_lv(&b, "x", 1);
	CHECK(CKR_DATA_INVALID);
	/* unknown kind */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_LABEL); buf_put_u8(&b, 9); buf_put_lv(&b, "x", 1);
	CHECK(CKR_DATA_INVALID);
	/* the same type twice */
	buf_put_u32(&b, 2);
	buf_put_u64(&b, CKA_LABEL); buf_put_u8(&b, ATTR_BYTES); buf_put_lv(&b, "x", 1);
	buf_put_u64(&b, CKA_LABEL); buf_put_u8(&b, ATTR_BYTES); buf_put_lv(&b, "x", 1);
	CHECK(CKR_DATA_INVALID);
	/* count beyond the limit */
	buf_put_u32(&b, 257);
	for (int i = 0; i < 257; i++) {
		buf_put_u64(&b, CKA_LABEL); buf_put_u8(&b, ATTR_BYTES); buf_put_lv(&b, "", 0);
	}
	CHECK(CKR_DATA_INVALID);
	/* a count claiming more than there is */
	buf_put_u32(&b, 0xffffffffu);
	CHECK(CKR_DATA_INVALID);
	/* a length beyond the data, and a huge one */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_LABEL); buf_put_u8(&b, ATTR_BYTES); buf_put_u32(&b, 5); buf_put(&b, "abc", 3);
	CHECK(CKR_DATA_INVALID);
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_LABEL); buf_put_u8(&b, ATTR_BYTES); buf_put_u32(&b, 0xfffffff0u);
	CHECK(CKR_DATA_INVALID);
	/* a date of the wrong size */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_START_DATE); buf_put_u8(&b, ATTR_DATE); buf_put_lv(&b, "2024", 4);
	CHECK(CKR_DATA_INVALID);
	/* a mechanism count beyond the data */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_ALLOWED_MECHANISMS); buf_put_u8(&b, ATTR_MECHS); buf_put_u32(&b, 200);
	buf_put_u64(&b, CKM_RSA_PKCS);
	CHECK(CKR_DATA_INVALID);
	/* nesting three deep */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_WRAP_TEMPLATE); buf_put_u8(&b, ATTR_ATTRS);
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_UNWRAP_TEMPLATE); buf_put_u8(&b, ATTR_ATTRS);
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_DERIVE_TEMPLATE); buf_put_u8(&b, ATTR_ATTRS);
	buf_put_u32(&b, 0);
	CHECK(CKR_DATA_INVALID);
	/* two deep is fine */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_WRAP_TEMPLATE); buf_put_u8(&b, ATTR_ATTRS);
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_UNWRAP_TEMPLATE); buf_put_u8(&b, ATTR_ATTRS);
	buf_put_u32(&b, 0);
	CHECK(CKR_OK);
	/* a duplicate inside a nested list */
	buf_put_u32(&b, 1); buf_put_u64(&b, CKA_WRAP_TEMPLATE); buf_put_u8(&b, ATTR_ATTRS);
	buf_put_u32(&b, 2);
	buf_put_u64(&b, CKA_SIGN); buf_put_u8(&b, ATTR_BOOL); buf_put_u8(&b, 1);
	buf_put_u64(&b, CKA_SIGN); buf_put_u8(&b, ATTR_BOOL); buf_put_u8(&b, 1);
	CHECK(CKR_DATA_INVALID);
#undef CHECK
	attrs_clear(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_set_replace_default),
		cmocka_unit_test(test_copy_is_deep),
		cmocka_unit_test(test_set_value_checks),
		cmocka_unit_test(test_template_errors),
		cmocka_unit_test(test_template_nested),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_export_one),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_random_mutations),
		cmocka_unit_test(test_malformed),
	};

	unit_log_quiet();
	return cmocka_run_group_tests_name("attr", tests, NULL, NULL);
}
