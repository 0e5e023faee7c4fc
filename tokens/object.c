#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "migration/files.h"
#include "tokens/object.h"
#include "tokens/pubkey.h"
#include "tokens/token.h"
#include "tpmha/tpmha.h"

/* Which groups of attributes an object has (PKCS#11 v2.40 §4). */
enum family {
	FAM_COMMON = 1u << 0,  /* every storage object */
	FAM_DATA = 1u << 1,
	FAM_CERT = 1u << 2,
	FAM_X509 = 1u << 3,
	FAM_KEY = 1u << 4,
	FAM_PUB = 1u << 5,
	FAM_PRIV = 1u << 6,
	FAM_RSA = 1u << 7,     /* RSA public and private */
	FAM_RSA_PRIV = 1u << 8,
	FAM_EC = 1u << 9,      /* EC public and private */
	FAM_EC_PRIV = 1u << 10,
	FAM_UNIT = 1u << 11,     /* tpmha: a unit's identity */
	FAM_APPROVAL = 1u << 12, /* tpmha: an MA approval of a unit */
};

enum rule {
	R_SET = 1u << 0,        /* C_SetAttributeValue may change it */
	R_COPY = 1u << 1,       /* C_CopyObject may change it */
	R_COMPUTED = 1u << 2,   /* the token sets it; a template must not */
	R_SENSITIVE = 1u << 3,  /* key material: never revealed */
	R_SO_TRUE = 1u << 4,    /* only the SO may make it TRUE */
	R_ONLY_TRUE = 1u << 5,  /* may change FALSE → TRUE only */
	R_ONLY_FALSE = 1u << 6, /* may change TRUE → FALSE only */
	R_IMPORT = 1u << 7,     /* key material a create template brings for import */
};

static const struct {
	CK_ATTRIBUTE_TYPE type;
	unsigned families;
	unsigned rules;
} rules[] = {
	{ CKA_CLASS, FAM_COMMON, 0 },
	{ CKA_TOKEN, FAM_COMMON, R_COPY },
	{ CKA_PRIVATE, FAM_COMMON, R_COPY },
	{ CKA_MODIFIABLE, FAM_COMMON, R_COPY },
	{ CKA_LABEL, FAM_COMMON, R_SET | R_COPY },
	{ CKA_COPYABLE, FAM_COMMON, R_SET | R_COPY | R_ONLY_FALSE },
	{ CKA_DESTROYABLE, FAM_COMMON, R_COPY },

	{ CKA_APPLICATION, FAM_DATA, R_SET | R_COPY },
	{ CKA_OBJECT_ID, FAM_DATA, R_SET | R_COPY },
	{ CKA_VALUE, FAM_DATA, R_SET | R_COPY },

	{ CKA_CERTIFICATE_TYPE, FAM_CERT, 0 },
	{ CKA_TRUSTED, FAM_CERT | FAM_PUB, R_SET | R_COPY | R_SO_TRUE },
	{ CKA_CERTIFICATE_CATEGORY, FAM_CERT, 0 },
	{ CKA_CHECK_VALUE, FAM_CERT, 0 },
	{ CKA_START_DATE, FAM_CERT | FAM_KEY, R_SET | R_COPY },
	{ CKA_END_DATE, FAM_CERT | FAM_KEY, R_SET | R_COPY },
	{ CKA_PUBLIC_KEY_INFO, FAM_CERT | FAM_PUB | FAM_PRIV, 0 },
	{ CKA_SUBJECT, FAM_X509 | FAM_PUB | FAM_PRIV, R_SET | R_COPY },
	{ CKA_ID, FAM_X509 | FAM_KEY, R_SET | R_COPY },
	{ CKA_ISSUER, FAM_X509, R_SET | R_COPY },
	{ CKA_SERIAL_NUMBER, FAM_X509, R_SET | R_COPY },
	{ CKA_VALUE, FAM_X509, 0 },
	{ CKA_URL, FAM_X509, 0 },
	{ CKA_HASH_OF_SUBJECT_PUBLIC_KEY, FAM_X509, 0 },
	{ CKA_HASH_OF_ISSUER_PUBLIC_KEY, FAM_X509, 0 },
	{ CKA_JAVA_MIDP_SECURITY_DOMAIN, FAM_X509, 0 },
	{ CKA_NAME_HASH_ALGORITHM, FAM_X509, 0 },

	{ CKA_KEY_TYPE, FAM_KEY, 0 },
	{ CKA_DERIVE, FAM_KEY, R_SET | R_COPY },
	{ CKA_LOCAL, FAM_KEY, R_COMPUTED },
	{ CKA_KEY_GEN_MECHANISM, FAM_KEY, R_COMPUTED },
	{ CKA_ALLOWED_MECHANISMS, FAM_KEY, 0 },

	{ CKA_ENCRYPT, FAM_PUB, R_SET | R_COPY },
	{ CKA_VERIFY, FAM_PUB, R_SET | R_COPY },
	{ CKA_VERIFY_RECOVER, FAM_PUB, R_SET | R_COPY },
	{ CKA_WRAP, FAM_PUB, R_SET | R_COPY },
	{ CKA_WRAP_TEMPLATE, FAM_PUB, 0 },

	{ CKA_SENSITIVE, FAM_PRIV, R_SET | R_COPY | R_ONLY_TRUE },
	{ CKA_DECRYPT, FAM_PRIV, R_SET | R_COPY },
	{ CKA_SIGN, FAM_PRIV, R_SET | R_COPY },
	{ CKA_SIGN_RECOVER, FAM_PRIV, R_SET | R_COPY },
	{ CKA_UNWRAP, FAM_PRIV, R_SET | R_COPY },
	{ CKA_EXTRACTABLE, FAM_PRIV, R_SET | R_COPY | R_ONLY_FALSE },
	{ CKA_ALWAYS_SENSITIVE, FAM_PRIV, R_COMPUTED },
	{ CKA_NEVER_EXTRACTABLE, FAM_PRIV, R_COMPUTED },
	{ CKA_WRAP_WITH_TRUSTED, FAM_PRIV, R_SET | R_COPY | R_ONLY_TRUE },
	{ CKA_UNWRAP_TEMPLATE, FAM_PRIV, 0 },
	{ CKA_ALWAYS_AUTHENTICATE, FAM_PRIV, 0 },

	{ CKA_MODULUS, FAM_RSA, 0 },
	{ CKA_MODULUS_BITS, FAM_RSA, 0 },
	{ CKA_PUBLIC_EXPONENT, FAM_RSA, 0 },
	{ CKA_TPMHA_TCPA_BIND, FAM_RSA_PRIV, 0 },
	{ CKA_PRIVATE_EXPONENT, FAM_RSA_PRIV, R_SENSITIVE | R_IMPORT },
	{ CKA_PRIME_1, FAM_RSA_PRIV, R_SENSITIVE | R_IMPORT },
	{ CKA_PRIME_2, FAM_RSA_PRIV, R_SENSITIVE | R_IMPORT },
	{ CKA_EXPONENT_1, FAM_RSA_PRIV, R_SENSITIVE | R_IMPORT },
	{ CKA_EXPONENT_2, FAM_RSA_PRIV, R_SENSITIVE | R_IMPORT },
	{ CKA_COEFFICIENT, FAM_RSA_PRIV, R_SENSITIVE | R_IMPORT },

	{ CKA_EC_PARAMS, FAM_EC, 0 },
	/* Not a private-key attribute in the spec; libp11 and others read it there. */
	{ CKA_EC_POINT, FAM_EC, 0 },
	{ CKA_VALUE, FAM_EC_PRIV, R_SENSITIVE | R_IMPORT },

	{ CKA_VALUE, FAM_UNIT | FAM_APPROVAL, 0 },
	{ CKA_TPMHA_UNIT_ID, FAM_UNIT | FAM_APPROVAL, R_COMPUTED },
	{ CKA_TPMHA_TPM_VERSION, FAM_UNIT, R_COMPUTED },
	{ CKA_TPMHA_DOMAIN_ID, FAM_APPROVAL, R_COMPUTED },
};

static int rule_index(CK_ATTRIBUTE_TYPE type, unsigned families)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].type == type && (rules[i].families & families))
			return (int)i;
	return -1;
}

static unsigned families_of(CK_OBJECT_CLASS klass, CK_ULONG subtype)
{
	switch (klass) {
	case CKO_DATA:
		return FAM_COMMON | FAM_DATA;
	case CKO_CERTIFICATE:
		return FAM_COMMON | FAM_CERT | (subtype == CKC_X_509 ? FAM_X509 : 0);
	case CKO_PUBLIC_KEY:
		return FAM_COMMON | FAM_KEY | FAM_PUB |
		       (subtype == CKK_RSA ? FAM_RSA : subtype == CKK_EC ? FAM_EC : 0);
	case CKO_PRIVATE_KEY:
		return FAM_COMMON | FAM_KEY | FAM_PRIV |
		       (subtype == CKK_RSA ? FAM_RSA | FAM_RSA_PRIV :
			subtype == CKK_EC ? FAM_EC | FAM_EC_PRIV : 0);
	case CKO_TPMHA_UNIT:
		return FAM_COMMON | FAM_UNIT;
	case CKO_TPMHA_APPROVAL:
		return FAM_COMMON | FAM_APPROVAL;
	default:
		return 0;
	}
}

struct object *object_new(void)
{
	struct object *o = calloc(1, sizeof(*o));

	if (o)
		o->refs = 1;
	return o;
}

void object_free(struct object *o)
{
	if (!o)
		return;
	if (o->key && o->token)
		token_backend(o->token)->ops->key_close(token_backend(o->token), o->key);
	attrs_clear(&o->attrs);
	tpm_blob_release(&o->sealed);
	tpm_blob_release(&o->tpm_key);
	tpm_blob_release(&o->key_auth);
	EVP_PKEY_free(o->pkey);
	free(o);
}

void object_cache_flags(struct object *o)
{
	o->klass = attrs_get_ulong(&o->attrs, CKA_CLASS, CKO_DATA);
	o->key_type = attrs_get_ulong(&o->attrs, CKA_KEY_TYPE, CK_UNAVAILABLE_INFORMATION);
	o->on_token = attrs_get_bool(&o->attrs, CKA_TOKEN, false);
	o->is_private = attrs_get_bool(&o->attrs, CKA_PRIVATE, false);
}

/* Certificates: fill what the DER says when the template left it out. */
static CK_RV cert_complete(struct attrs *t)
{
	const CK_ATTRIBUTE *value = attrs_find(t, CKA_VALUE);
	const unsigned char *p;
	X509 *x = NULL;
	unsigned char *der = NULL;
	uint8_t sha1[20];
	int len;
	CK_RV rv = CKR_OK;

	if (!value || !value->ulValueLen) {
		LOGW("an X.509 certificate object needs CKA_VALUE");
		return CKR_TEMPLATE_INCOMPLETE;
	}
	p = value->pValue;
	x = d2i_X509(NULL, &p, (long)value->ulValueLen);
	if (!x || p != (const unsigned char *)value->pValue + value->ulValueLen) {
		/* PKCS#11 lets a token keep an unparsable value, but then SUBJECT is ours to need. */
		X509_free(x);
		if (!attrs_find(t, CKA_SUBJECT)) {
			LOGW("CKA_VALUE is not a DER certificate and CKA_SUBJECT is missing");
			return CKR_TEMPLATE_INCOMPLETE;
		}
		return attrs_default(t, CKA_ISSUER, "", 0) == CKR_OK &&
				       attrs_default(t, CKA_SERIAL_NUMBER, "", 0) == CKR_OK &&
				       attrs_default(t, CKA_PUBLIC_KEY_INFO, "", 0) == CKR_OK ?
			       CKR_OK :
			       CKR_HOST_MEMORY;
	}
	if (!attrs_find(t, CKA_SUBJECT)) {
		len = i2d_X509_NAME(X509_get_subject_name(x), &der);
		rv = len > 0 ? attrs_set(t, CKA_SUBJECT, der, (CK_ULONG)len) : CKR_GENERAL_ERROR;
		OPENSSL_free(der);
		der = NULL;
	}
	if (rv == CKR_OK && !attrs_find(t, CKA_ISSUER)) {
		len = i2d_X509_NAME(X509_get_issuer_name(x), &der);
		rv = len > 0 ? attrs_set(t, CKA_ISSUER, der, (CK_ULONG)len) : CKR_GENERAL_ERROR;
		OPENSSL_free(der);
		der = NULL;
	}
	if (rv == CKR_OK && !attrs_find(t, CKA_SERIAL_NUMBER)) {
		len = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &der);
		rv = len > 0 ? attrs_set(t, CKA_SERIAL_NUMBER, der, (CK_ULONG)len) : CKR_GENERAL_ERROR;
		OPENSSL_free(der);
		der = NULL;
	}
	if (rv == CKR_OK && !attrs_find(t, CKA_PUBLIC_KEY_INFO)) {
		len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
		rv = len > 0 ? attrs_set(t, CKA_PUBLIC_KEY_INFO, der, (CK_ULONG)len) : CKR_GENERAL_ERROR;
		OPENSSL_free(der);
		der = NULL;
	}
	if (rv == CKR_OK && !attrs_find(t, CKA_CHECK_VALUE)) {
		rv = hash_digest(HASH_SHA1, value->pValue, value->ulValueLen, sha1);
		if (rv == CKR_OK)
			rv = attrs_set(t, CKA_CHECK_VALUE, sha1, 3);
	}
	X509_free(x);
	return rv;
}

/* Unit and approval objects: the file in CKA_VALUE says everything else. */
static CK_RV migration_object_complete(struct attrs *t, CK_OBJECT_CLASS klass)
{
	const CK_ATTRIBUTE *value = attrs_find(t, CKA_VALUE);
	CK_RV rv;

	if (!value || !value->ulValueLen) {
		LOGW("a %s object needs the file in CKA_VALUE", klass == CKO_TPMHA_UNIT ? "unit" : "approval");
		return CKR_TEMPLATE_INCOMPLETE;
	}
	if (klass == CKO_TPMHA_UNIT) {
		struct unit_file u;
		rv = unit_file_parse(value->pValue, value->ulValueLen, &u);
		if (rv != CKR_OK)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		rv = attrs_set(t, CKA_TPMHA_UNIT_ID, u.id, sizeof(u.id));
		if (rv == CKR_OK)
			rv = attrs_set_ulong(t, CKA_TPMHA_TPM_VERSION, (CK_ULONG)u.tpm.tpm_version);
		/* The generic defaults already gave an empty label: the file's name wins. */
		if (rv == CKR_OK && u.label[0] && !attrs_find(t, CKA_LABEL)->ulValueLen)
			rv = attrs_set(t, CKA_LABEL, u.label, strlen(u.label));
		unit_file_release(&u);
	} else {
		struct approval_file a;
		rv = approval_file_parse(value->pValue, value->ulValueLen, &a);
		if (rv != CKR_OK)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		rv = attrs_set(t, CKA_TPMHA_UNIT_ID, a.unit_id, sizeof(a.unit_id));
		if (rv == CKR_OK)
			rv = attrs_set(t, CKA_TPMHA_DOMAIN_ID, a.domain_id, sizeof(a.domain_id));
		approval_file_release(&a);
	}
	if (rv == CKR_OK)
		rv = attrs_default_bool(t, CKA_PRIVATE, false);
	return rv;
}

/* Public keys given by value: check they are keys, derive the rest. */
static CK_RV pubkey_complete(struct attrs *t, CK_KEY_TYPE key_type)
{
	EVP_PKEY *pkey = NULL;
	CK_RV rv = pubkey_from_attrs(t, key_type, &pkey);
	uint8_t *der = NULL;
	size_t len;

	if (rv != CKR_OK) {
		LOGW("the public key attributes do not make a valid %s key",
		     key_type == CKK_RSA ? "RSA" : "EC");
		return rv == CKR_HOST_MEMORY ? rv : rv == CKR_TEMPLATE_INCOMPLETE ? rv : CKR_ATTRIBUTE_VALUE_INVALID;
	}
	if (key_type == CKK_RSA)
		rv = attrs_set_ulong(t, CKA_MODULUS_BITS, (CK_ULONG)EVP_PKEY_get_bits(pkey));
	if (rv == CKR_OK)
		rv = pubkey_spki(pkey, &der, &len);
	if (rv == CKR_OK)
		rv = attrs_set(t, CKA_PUBLIC_KEY_INFO, der, len);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return rv;
}

static CK_RV must_be(const struct attrs *t, CK_ATTRIBUTE_TYPE type, bool want, const char *why)
{
	bool v;

	if (attrs_bool(t, type, &v) && v != want) {
		LOGW("%s must be %s: %s", attr_name(type), want ? "TRUE" : "FALSE", why);
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	return CKR_OK;
}

static CK_RV key_defaults(struct attrs *t, CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type,
			  enum object_origin origin)
{
	bool rsa = key_type == CKK_RSA;
	CK_RV rv = CKR_OK;

#define DEF(call) do { if (rv == CKR_OK) rv = (call); } while (0)
	DEF(attrs_default(t, CKA_ID, "", 0));
	DEF(attrs_default(t, CKA_START_DATE, "", 0));
	DEF(attrs_default(t, CKA_END_DATE, "", 0));
	DEF(attrs_default_bool(t, CKA_DERIVE, false));
	DEF(attrs_default(t, CKA_ALLOWED_MECHANISMS, "", 0));
	DEF(attrs_default(t, CKA_SUBJECT, "", 0));
	if (origin != ORIGIN_GENERATE) {
		DEF(attrs_set_bool(t, CKA_LOCAL, false));
		DEF(attrs_set_ulong(t, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION));
	}
	if (klass == CKO_PUBLIC_KEY) {
		DEF(attrs_default_bool(t, CKA_PRIVATE, false));
		DEF(attrs_default_bool(t, CKA_ENCRYPT, rsa));
		DEF(attrs_default_bool(t, CKA_VERIFY, true));
		DEF(attrs_default_bool(t, CKA_VERIFY_RECOVER, false));
		DEF(attrs_default_bool(t, CKA_WRAP, false));
		DEF(attrs_default_bool(t, CKA_TRUSTED, false));
		DEF(attrs_default(t, CKA_WRAP_TEMPLATE, "", 0));
	} else {
		bool sensitive, extractable;
		DEF(attrs_default_bool(t, CKA_PRIVATE, true));
		DEF(attrs_default_bool(t, CKA_SENSITIVE, true));
		DEF(attrs_default_bool(t, CKA_DECRYPT, rsa));
		DEF(attrs_default_bool(t, CKA_SIGN, true));
		DEF(attrs_default_bool(t, CKA_SIGN_RECOVER, false));
		DEF(attrs_default_bool(t, CKA_UNWRAP, false));
		DEF(attrs_default_bool(t, CKA_EXTRACTABLE, false));
		DEF(attrs_default_bool(t, CKA_WRAP_WITH_TRUSTED, false));
		DEF(attrs_default(t, CKA_UNWRAP_TEMPLATE, "", 0));
		DEF(attrs_default_bool(t, CKA_ALWAYS_AUTHENTICATE, false));
		if (rsa)
			DEF(attrs_default_bool(t, CKA_TPMHA_TCPA_BIND, false));
		sensitive = attrs_get_bool(t, CKA_SENSITIVE, true);
		extractable = attrs_get_bool(t, CKA_EXTRACTABLE, false);
		if (origin == ORIGIN_GENERATE) {
			DEF(attrs_set_bool(t, CKA_ALWAYS_SENSITIVE, sensitive));
			DEF(attrs_set_bool(t, CKA_NEVER_EXTRACTABLE, !extractable));
		} else if (origin != ORIGIN_UNWRAP) {
			DEF(attrs_set_bool(t, CKA_ALWAYS_SENSITIVE, false));
			DEF(attrs_set_bool(t, CKA_NEVER_EXTRACTABLE, false));
		}
	}
#undef DEF
	return rv;
}

/* What a TPM private key cannot be, said once for every way one is made. */
static CK_RV tpm_private_key_rules(const struct attrs *t, enum object_origin origin)
{
	CK_RV rv;

	(void)origin;
	/* CKA_EXTRACTABLE depends on the token (a migration domain or not): create.c. */
	if ((rv = must_be(t, CKA_PRIVATE, true, "a TPM key is used only after login")) != CKR_OK ||
	    (rv = must_be(t, CKA_SENSITIVE, true, "the private key never leaves the TPM in the clear")) != CKR_OK ||
	    (rv = must_be(t, CKA_ALWAYS_AUTHENTICATE, false, "per-operation login is not supported")) != CKR_OK)
		return rv;
	return CKR_OK;
}

CK_RV object_template_complete(struct attrs *t, enum object_origin origin,
			       CK_OBJECT_CLASS class_hint, CK_KEY_TYPE key_type_hint, bool so)
{
	CK_OBJECT_CLASS klass;
	CK_ULONG subtype = CK_UNAVAILABLE_INFORMATION;
	unsigned families;
	CK_RV rv = CKR_OK;

	if (!attrs_ulong(t, CKA_CLASS, &klass)) {
		if (class_hint == CK_UNAVAILABLE_INFORMATION) {
			LOGW("the template has no CKA_CLASS");
			return CKR_TEMPLATE_INCOMPLETE;
		}
		klass = class_hint;
		if ((rv = attrs_set_ulong(t, CKA_CLASS, klass)) != CKR_OK)
			return rv;
	} else if (class_hint != CK_UNAVAILABLE_INFORMATION && klass != class_hint) {
		LOGW("CKA_CLASS 0x%lx where 0x%lx was expected", (unsigned long)klass, (unsigned long)class_hint);
		return CKR_TEMPLATE_INCONSISTENT;
	}
	switch (klass) {
	case CKO_DATA:
	case CKO_TPMHA_UNIT:
	case CKO_TPMHA_APPROVAL:
		break;
	case CKO_CERTIFICATE:
		if (!attrs_ulong(t, CKA_CERTIFICATE_TYPE, &subtype)) {
			LOGW("a certificate needs CKA_CERTIFICATE_TYPE");
			return CKR_TEMPLATE_INCOMPLETE;
		}
		if (subtype != CKC_X_509) {
			LOGW("certificate type 0x%lx is not supported (X.509 only)", (unsigned long)subtype);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		break;
	case CKO_PUBLIC_KEY:
	case CKO_PRIVATE_KEY:
		if (!attrs_ulong(t, CKA_KEY_TYPE, &subtype)) {
			if (key_type_hint == CK_UNAVAILABLE_INFORMATION) {
				LOGW("a key needs CKA_KEY_TYPE");
				return CKR_TEMPLATE_INCOMPLETE;
			}
			subtype = key_type_hint;
			if ((rv = attrs_set_ulong(t, CKA_KEY_TYPE, subtype)) != CKR_OK)
				return rv;
		} else if (key_type_hint != CK_UNAVAILABLE_INFORMATION && subtype != key_type_hint) {
			LOGW("CKA_KEY_TYPE 0x%lx does not fit the mechanism", (unsigned long)subtype);
			return CKR_TEMPLATE_INCONSISTENT;
		}
		if (subtype != CKK_RSA && subtype != CKK_EC) {
			LOGW("key type 0x%lx is not supported (RSA and EC only)", (unsigned long)subtype);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		break;
	default:
		LOGW("object class 0x%lx is not supported", (unsigned long)klass);
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	families = families_of(klass, subtype);

	/* Every attribute must belong to the class, and be one a template may give. */
	for (size_t i = 0; i < t->n; i++) {
		int r = rule_index(t->v[i].type, families);
		if (r < 0) {
			LOGW("%s is not an attribute of this object class", attr_name(t->v[i].type));
			return CKR_ATTRIBUTE_TYPE_INVALID;
		}
		if (rules[r].rules & R_COMPUTED) {
			LOGW("%s is set by the token, not by a template", attr_name(t->v[i].type));
			return CKR_ATTRIBUTE_READ_ONLY;
		}
		if ((rules[r].rules & R_IMPORT) && !(origin == ORIGIN_CREATE && klass == CKO_PRIVATE_KEY)) {
			LOGW("%s cannot be given here: the TPM makes the key", attr_name(t->v[i].type));
			return CKR_ATTRIBUTE_READ_ONLY;
		}
		if ((rules[r].rules & R_SO_TRUE) && !so && attrs_get_bool(t, t->v[i].type, false)) {
			LOGW("only the security officer may set %s", attr_name(t->v[i].type));
			return CKR_ATTRIBUTE_READ_ONLY;
		}
	}
	if (origin == ORIGIN_GENERATE) {
		static const CK_ATTRIBUTE_TYPE made_by_tpm[] = { CKA_MODULUS, CKA_EC_POINT, CKA_PUBLIC_KEY_INFO };
		for (size_t i = 0; i < sizeof(made_by_tpm) / sizeof(made_by_tpm[0]); i++)
			if (attrs_find(t, made_by_tpm[i])) {
				LOGW("%s cannot be given to key generation", attr_name(made_by_tpm[i]));
				return CKR_TEMPLATE_INCONSISTENT;
			}
	}

#define DEF(call) do { if (rv == CKR_OK) rv = (call); } while (0)
	DEF(attrs_default_bool(t, CKA_TOKEN, false));
	DEF(attrs_default_bool(t, CKA_MODIFIABLE, true));
	DEF(attrs_default(t, CKA_LABEL, "", 0));
	DEF(attrs_default_bool(t, CKA_COPYABLE, true));
	DEF(attrs_default_bool(t, CKA_DESTROYABLE, true));
	switch (klass) {
	case CKO_DATA:
		DEF(attrs_default_bool(t, CKA_PRIVATE, false));
		DEF(attrs_default(t, CKA_APPLICATION, "", 0));
		DEF(attrs_default(t, CKA_OBJECT_ID, "", 0));
		DEF(attrs_default(t, CKA_VALUE, "", 0));
		break;
	case CKO_CERTIFICATE:
		DEF(attrs_default_bool(t, CKA_PRIVATE, false));
		DEF(cert_complete(t));
		DEF(attrs_default_bool(t, CKA_TRUSTED, false));
		DEF(attrs_default_ulong(t, CKA_CERTIFICATE_CATEGORY, 0));
		DEF(attrs_default(t, CKA_START_DATE, "", 0));
		DEF(attrs_default(t, CKA_END_DATE, "", 0));
		DEF(attrs_default(t, CKA_ID, "", 0));
		DEF(attrs_default(t, CKA_URL, "", 0));
		DEF(attrs_default(t, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, "", 0));
		DEF(attrs_default(t, CKA_HASH_OF_ISSUER_PUBLIC_KEY, "", 0));
		DEF(attrs_default_ulong(t, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0));
		DEF(attrs_default_ulong(t, CKA_NAME_HASH_ALGORITHM, CKM_SHA_1));
		break;
	case CKO_PUBLIC_KEY:
		DEF(key_defaults(t, klass, subtype, origin));
		if (rv == CKR_OK && origin != ORIGIN_GENERATE)
			rv = pubkey_complete(t, subtype);
		break;
	case CKO_PRIVATE_KEY:
		DEF(key_defaults(t, klass, subtype, origin));
		DEF(tpm_private_key_rules(t, origin));
		break;
	case CKO_TPMHA_UNIT:
	case CKO_TPMHA_APPROVAL:
		DEF(migration_object_complete(t, klass));
		break;
	}
#undef DEF
	return rv;
}

CK_RV object_get_attribute(const struct object *o, CK_ATTRIBUTE *want)
{
	unsigned families = families_of(o->klass, o->klass == CKO_CERTIFICATE ?
				       attrs_get_ulong(&o->attrs, CKA_CERTIFICATE_TYPE, 0) : o->key_type);
	int r = rule_index(want->type, families);
	const CK_ATTRIBUTE *have;

	if (r >= 0 && (rules[r].rules & R_SENSITIVE)) {
		want->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_ATTRIBUTE_SENSITIVE;
	}
	have = attrs_find(&o->attrs, want->type);
	if (!have) {
		want->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	return attrs_export_one(have, want);
}

CK_RV object_check_changes(const struct object *o, const struct attrs *changes, bool copy, bool so)
{
	unsigned families = families_of(o->klass, o->klass == CKO_CERTIFICATE ?
				       attrs_get_ulong(&o->attrs, CKA_CERTIFICATE_TYPE, 0) : o->key_type);

	for (size_t i = 0; i < changes->n; i++) {
		const CK_ATTRIBUTE *c = &changes->v[i];
		const CK_ATTRIBUTE *now = attrs_find(&o->attrs, c->type);
		int r = rule_index(c->type, families);
		unsigned rule;
		bool was, will;

		if (r < 0) {
			LOGW("%s is not an attribute of this object", attr_name(c->type));
			return CKR_ATTRIBUTE_TYPE_INVALID;
		}
		rule = rules[r].rules;
		/* Restating the current value is not a change. */
		if (now && now->ulValueLen == c->ulValueLen &&
		    (c->ulValueLen == 0 || memcmp(now->pValue, c->pValue, c->ulValueLen) == 0))
			continue;
		if (!(rule & R_SET) && !(copy && (rule & R_COPY))) {
			LOGW("%s cannot be changed%s", attr_name(c->type), copy ? " by a copy" : "");
			return CKR_ATTRIBUTE_READ_ONLY;
		}
		if (attr_kind(c->type) != ATTR_BOOL)
			continue;
		was = attrs_get_bool(&o->attrs, c->type, false);
		will = *(const CK_BBOOL *)c->pValue == CK_TRUE;
		if ((rule & R_ONLY_TRUE) && was && !will) {
			LOGW("%s can only change from FALSE to TRUE", attr_name(c->type));
			return CKR_ATTRIBUTE_READ_ONLY;
		}
		if ((rule & R_ONLY_FALSE) && !was && will) {
			LOGW("%s can only change from TRUE to FALSE", attr_name(c->type));
			return CKR_ATTRIBUTE_READ_ONLY;
		}
		if ((rule & R_SO_TRUE) && will && !so) {
			LOGW("only the security officer may set %s", attr_name(c->type));
			return CKR_ATTRIBUTE_READ_ONLY;
		}
		if (c->type == CKA_PRIVATE && o->klass == CKO_PRIVATE_KEY && !will) {
			LOGW("CKA_PRIVATE must stay TRUE on a TPM key");
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
	}
	return CKR_OK;
}

CK_ULONG object_size(const struct object *o)
{
	CK_ULONG size = sizeof(*o) + o->tpm_key.len + o->key_auth.len;

	for (size_t i = 0; i < o->attrs.n; i++)
		size += sizeof(CK_ATTRIBUTE) + o->attrs.v[i].ulValueLen;
	return size;
}

bool object_mechanism_allowed(const struct object *o, CK_MECHANISM_TYPE mech)
{
	const CK_ATTRIBUTE *allowed = attrs_find(&o->attrs, CKA_ALLOWED_MECHANISMS);
	const CK_MECHANISM_TYPE *m;
	size_t n;

	if (!allowed || !allowed->ulValueLen)
		return true;
	m = allowed->pValue;
	n = allowed->ulValueLen / sizeof(*m);
	for (size_t i = 0; i < n; i++)
		if (m[i] == mech)
			return true;
	return false;
}
