/* Every public area the TPM 2.0 backend creates, in one place: the unit storage
 * key, keys (generated and imported) and PIN seals. The migration-domain policy
 * (authPolicy = PolicyAuthorize(MA) + PolicyCommandCode(Duplicate), see
 * DESIGN.md) will be added here; until then spec->domain must be NULL.
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

CK_RV tpm2_template_key(const struct tpm_key_spec *spec, bool imported, TPMT_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	if (spec->domain) {
		LOGE("keys of a migration domain are not supported by this build yet");
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	pub->nameAlg = TPM2_NAME_ALG;
	pub->objectAttributes = imported ? KEY_ATTRS_IMPORTED : KEY_ATTRS_GENERATED;
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

CK_RV tpm2_public_check(const TPMT_PUBLIC *pub, bool seal)
{
	TPMA_OBJECT a = pub->objectAttributes;

	if (tpm2_hash_from_alg(pub->nameAlg) == HASH_NONE || pub->authPolicy.size != 0)
		goto bad;
	if (a & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_ENCRYPTEDDUPLICATION))
		goto bad;
	if (seal) {
		if (pub->type != TPM2_ALG_KEYEDHASH ||
		    pub->parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL ||
		    (a & (TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT)) ||
		    !(a & TPMA_OBJECT_USERWITHAUTH))
			goto bad;
		return CKR_OK;
	}
	if (!(a & TPMA_OBJECT_SIGN_ENCRYPT) || !(a & TPMA_OBJECT_USERWITHAUTH))
		goto bad;
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
