/* Every public area the TPM 2.0 backend creates, in one place: the unit storage
 * key, keys (generated and imported), PIN seals, and wrapped secrets. Keys and
 * seals come in two kinds: without a domain they can never leave the TPM
 * (fixedTPM, or no policy at all); with a domain they carry the domain's policy
 * (tpm2_policy.c) and can be duplicated, to units the domain's migration
 * authority approved, and nowhere else.
 *
 * Also the checks that a public area read from an (untrusted) blob has one of
 * these shapes, and its conversion to struct tpm_public. */
#include "config.h"

#include <string.h>

#include "common/log.h"
#include "tpm/tpm2_int.h"

/* Keys are used with their auth value and are not DA-protected: their auth is a
 * random 32-byte value the token unwraps after login, not a guessable PIN. */
#define KEY_ATTRS_GENERATED \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA)
/* TPM2_Import wants fixedTPM and fixedParent clear; the empty authPolicy (and no
 * adminWithPolicy policy) still means the key can never be duplicated. */
#define KEY_ATTRS_IMPORTED (TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA)
/* A PIN seal is DA-protected (no noDA): wrong PINs count in the TPM's lockout. */
#define SEAL_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_USERWITHAUTH)
/* Domain objects (DESIGN.md "Migration on TPM 2.0"): duplicable (fixedTPM and
 * fixedParent clear), only with an inner and an outer wrapper
 * (encryptedDuplication), used with their auth value (userWithAuth) while every
 * ADMIN- and DUP-role command needs the policy (adminWithPolicy, and TPM2_Duplicate
 * always does). Keys the TPM made say so (sensitiveDataOrigin); keys we imported and
 * seals, whose data we supply, do not. Seals keep their DA protection. */
#define DOMAIN_ATTRS \
	(TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_ENCRYPTEDDUPLICATION)
#define KEY_ATTRS_DOMAIN (DOMAIN_ATTRS | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_NODA)
#define KEY_ATTRS_DOMAIN_IMPORTED (DOMAIN_ATTRS | TPMA_OBJECT_NODA)
#define SEAL_ATTRS_DOMAIN DOMAIN_ATTRS
/* A wrapped secret (secret_wrap): sealed data with an empty auth value and no
 * policy, so it is unsealed by whoever holds it in the TPM, and never duplicated
 * again (no policy is no TPM2_Duplicate). noDA: a DA lockout must not keep a unit
 * from reading a bundle's key, and an empty auth value has nothing to guess. */
#define WRAPPED_SECRET_ATTRS (TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA)
#define STORAGE_ATTRS \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA)

TPM2_ECC_CURVE tpm2_curve_id(enum tpm_curve c)
{
	switch (c) {
	case TPM_CURVE_P256:
		return TPM2_ECC_NIST_P256;
	case TPM_CURVE_P384:
		return TPM2_ECC_NIST_P384;
	default:
		return TPM2_ECC_NONE;
	}
}

enum tpm_curve tpm2_curve_from_id(TPM2_ECC_CURVE id)
{
	switch (id) {
	case TPM2_ECC_NIST_P256:
		return TPM_CURVE_P256;
	case TPM2_ECC_NIST_P384:
		return TPM_CURVE_P384;
	default:
		return TPM_CURVE_NONE;
	}
}

size_t tpm2_curve_bytes(TPM2_ECC_CURVE id)
{
	switch (id) {
	case TPM2_ECC_NIST_P256:
		return 32;
	case TPM2_ECC_NIST_P384:
		return 48;
	default:
		return 0;
	}
}

void tpm2_template_storage(TPMT_PUBLIC *pub)
{
	/* An empty unique field: CreatePrimary re-derives the same key (and name)
	 * from the owner seed every time, until TPM2_Clear. */
	memset(pub, 0, sizeof(*pub));
	pub->type = TPM2_ALG_ECC;
	pub->nameAlg = TPM2_NAME_ALG;
	pub->objectAttributes = STORAGE_ATTRS;
	pub->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	pub->parameters.eccDetail.symmetric.keyBits.aes = 128;
	pub->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	pub->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	pub->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	pub->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/* authPolicy of a domain object */
static CK_RV domain_policy(const struct tpm_domain *d, TPMT_PUBLIC *pub)
{
	CK_RV rv = tpm2_domain_policy(d, pub->authPolicy.buffer);

	pub->authPolicy.size = rv == CKR_OK ? TPM2_DIGEST_SIZE : 0;
	return rv;
}

CK_RV tpm2_template_key(const struct tpm_key_spec *spec, bool imported, TPMT_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	pub->nameAlg = TPM2_NAME_ALG;
	if (spec->domain) {
		CK_RV rv = domain_policy(spec->domain, pub);

		if (rv != CKR_OK)
			return rv;
		pub->objectAttributes = imported ? KEY_ATTRS_DOMAIN_IMPORTED : KEY_ATTRS_DOMAIN;
	} else {
		pub->objectAttributes = imported ? KEY_ATTRS_IMPORTED : KEY_ATTRS_GENERATED;
	}
	switch (spec->type) {
	case TPM_KEY_RSA:
		if (spec->rsa_bits != 1024 && spec->rsa_bits != 2048 && spec->rsa_bits != 3072 &&
		    spec->rsa_bits != 4096)
			return CKR_KEY_SIZE_RANGE;
		if (spec->rsa_exponent != 0 && spec->rsa_exponent != 65537)
			return CKR_TEMPLATE_INCONSISTENT;
		/* Always sign|decrypt with scheme NULL: the raw RSA_Decrypt is how the
		 * PKCS#1 and PSS encodings the TPM lacks are done. The PKCS#11 layer
		 * enforces CKA_SIGN/CKA_DECRYPT. */
		pub->type = TPM2_ALG_RSA;
		pub->objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT;
		pub->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pub->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		pub->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)spec->rsa_bits;
		pub->parameters.rsaDetail.exponent = 0; /* 65537 */
		return CKR_OK;
	case TPM_KEY_EC:
		if (tpm2_curve_id(spec->curve) == TPM2_ECC_NONE)
			return CKR_CURVE_NOT_SUPPORTED;
		pub->type = TPM2_ALG_ECC;
		pub->objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
		pub->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pub->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		pub->parameters.eccDetail.curveID = tpm2_curve_id(spec->curve);
		pub->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		return CKR_OK;
	default:
		return CKR_KEY_TYPE_INCONSISTENT;
	}
}

void tpm2_template_seal(TPMT_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	pub->type = TPM2_ALG_KEYEDHASH;
	pub->nameAlg = TPM2_NAME_ALG;
	pub->objectAttributes = SEAL_ATTRS;
	pub->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
}

CK_RV tpm2_template_seal_domain(const struct tpm_domain *d, TPMT_PUBLIC *pub)
{
	tpm2_template_seal(pub);
	pub->objectAttributes = SEAL_ATTRS_DOMAIN;
	return domain_policy(d, pub);
}

void tpm2_template_wrapped_secret(TPMT_PUBLIC *pub)
{
	tpm2_template_seal(pub);
	pub->objectAttributes = WRAPPED_SECRET_ATTRS;
}

/* The attributes a key of this type gets from tpm2_template_key(), besides the
 * kind's (RSA keys sign and decrypt, EC keys sign). */
static TPMA_OBJECT key_use(TPM2_ALG_ID type)
{
	return type == TPM2_ALG_RSA ? TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT
				    : TPMA_OBJECT_SIGN_ENCRYPT;
}

/* Which of our kinds the attributes are: 0 none, 1 without a domain, 2 domain. */
static int object_kind(const TPMT_PUBLIC *pub, bool seal)
{
	TPMA_OBJECT a = pub->objectAttributes;

	if (seal)
		return a == SEAL_ATTRS ? 1 : a == SEAL_ATTRS_DOMAIN ? 2 : 0;
	if (pub->type != TPM2_ALG_RSA && pub->type != TPM2_ALG_ECC)
		return 0;
	if ((a & (TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT)) != key_use(pub->type))
		return 0;
	a &= ~key_use(pub->type);
	if (a == KEY_ATTRS_GENERATED || a == KEY_ATTRS_IMPORTED)
		return 1;
	if (a == KEY_ATTRS_DOMAIN || a == KEY_ATTRS_DOMAIN_IMPORTED)
		return 2;
	return 0;
}

CK_RV tpm2_public_check(const TPMT_PUBLIC *pub, bool seal)
{
	int kind = object_kind(pub, seal);

	if (pub->nameAlg != TPM2_NAME_ALG || kind == 0)
		goto bad;
	/* no policy, or a domain's (which one is checked against the domain on export
	 * and import; tpm2_domain_object_check) */
	if (pub->authPolicy.size != (kind == 2 ? TPM2_DIGEST_SIZE : 0))
		goto bad;
	if (seal) {
		if (pub->type != TPM2_ALG_KEYEDHASH ||
		    pub->parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL ||
		    pub->unique.keyedHash.size != TPM2_DIGEST_SIZE)
			goto bad;
		return CKR_OK;
	}
	switch (pub->type) {
	case TPM2_ALG_RSA: {
		const TPMS_RSA_PARMS *r = &pub->parameters.rsaDetail;
		unsigned bits = r->keyBits;

		if ((bits != 1024 && bits != 2048 && bits != 3072 && bits != 4096) ||
		    pub->unique.rsa.size != bits / 8 || pub->unique.rsa.buffer[0] == 0 ||
		    r->symmetric.algorithm != TPM2_ALG_NULL || r->scheme.scheme != TPM2_ALG_NULL ||
		    (r->exponent != 0 && (r->exponent < 3 || !(r->exponent & 1))))
			goto bad;
		return CKR_OK;
	}
	case TPM2_ALG_ECC: {
		const TPMS_ECC_PARMS *e = &pub->parameters.eccDetail;
		size_t n = tpm2_curve_bytes(e->curveID);

		if (!n || pub->unique.ecc.x.size != n || pub->unique.ecc.y.size != n ||
		    e->symmetric.algorithm != TPM2_ALG_NULL || e->scheme.scheme != TPM2_ALG_NULL ||
		    e->kdf.scheme != TPM2_ALG_NULL)
			goto bad;
		return CKR_OK;
	}
	default:
		break;
	}
bad:
	return CKR_DATA_INVALID;
}

void tpm2_public_export(const TPMT_PUBLIC *pub, struct tpm_public *out)
{
	memset(out, 0, sizeof(*out));
	if (pub->type == TPM2_ALG_RSA) {
		const uint8_t *m = pub->unique.rsa.buffer;
		size_t n = pub->unique.rsa.size;

		while (n && *m == 0) {
			m++;
			n--;
		}
		out->type = TPM_KEY_RSA;
		out->bits = pub->parameters.rsaDetail.keyBits;
		memcpy(out->modulus, m, n);
		out->modulus_len = n;
		out->exponent = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent
								   : 65537;
	} else if (pub->type == TPM2_ALG_ECC) {
		size_t n = tpm2_curve_bytes(pub->parameters.eccDetail.curveID);

		out->type = TPM_KEY_EC;
		out->curve = tpm2_curve_from_id(pub->parameters.eccDetail.curveID);
		out->bits = (unsigned)(8 * n);
		out->coord_len = n;
		memcpy(out->x + n - pub->unique.ecc.x.size, pub->unique.ecc.x.buffer, pub->unique.ecc.x.size);
		memcpy(out->y + n - pub->unique.ecc.y.size, pub->unique.ecc.y.buffer, pub->unique.ecc.y.size);
	}
}

CK_RV tpm2_domain_object_check(const TPMT_PUBLIC *pub, const struct tpm_domain *d)
{
	bool seal = pub->type == TPM2_ALG_KEYEDHASH;
	uint8_t policy[TPM2_DIGEST_SIZE];
	CK_RV rv;

	if (tpm2_public_check(pub, seal) != CKR_OK)
		return CKR_DATA_INVALID;
	if (object_kind(pub, seal) != 2)
		return CKR_KEY_UNEXTRACTABLE;
	rv = tpm2_domain_policy(d, policy);
	if (rv != CKR_OK)
		return rv;
	if (pub->authPolicy.size != sizeof(policy) ||
	    memcmp(pub->authPolicy.buffer, policy, sizeof(policy)) != 0)
		return CKR_KEY_NOT_WRAPPABLE;
	return CKR_OK;
}

bool tpm2_public_is_wrapped_secret(const TPMT_PUBLIC *pub)
{
	return pub->type == TPM2_ALG_KEYEDHASH && pub->nameAlg == TPM2_NAME_ALG &&
	       pub->objectAttributes == WRAPPED_SECRET_ATTRS && pub->authPolicy.size == 0 &&
	       pub->parameters.keyedHashDetail.scheme.scheme == TPM2_ALG_NULL &&
	       pub->unique.keyedHash.size == TPM2_DIGEST_SIZE;
}
