/* Migration domains on TPM 2.0, in software: the migration authority's (MA) public
 * area, the policy every key of a domain carries, and what the MA signs to approve
 * a destination unit. No TPM is needed for any of it (a domain is created and
 * destinations approved away from the units), and the TPM checks every digest here
 * when a key is duplicated: a wrong one here is a key that can never move.
 *
 * Policy digests (TPM 2.0 Part 3, §23), all SHA-256, starting from 32 zero bytes:
 *
 *   PolicyAuthorize(keySign, policyRef):      d = H(H(0…0 || CC_PolicyAuthorize || keySign.name) || policyRef)
 *                                             (it resets the digest first: whatever came
 *                                             before is what the ticket approved)
 *   PolicyCommandCode(code):                  d = H(d || CC_PolicyCommandCode || code)
 *   PolicyDuplicationSelect(obj, parent, NO): d = H(d || CC_PolicyDuplicationSelect || parent.name || NO)
 *                                             (with includeObject NO the object's name is
 *                                             left out of the digest, though it still goes
 *                                             into the session's nameHash that TPM2_Duplicate
 *                                             checks)
 *
 * A domain key's authPolicy is PolicyAuthorize(MA, policyRef) then
 * PolicyCommandCode(TPM2_CC_Duplicate). The trailing PolicyCommandCode is what makes
 * an MA signature good for duplication only: with PolicyAuthorize alone, a policy
 * the MA signed for anything (TPM2_Sign, say) would unlock the key without its auth
 * value (DESIGN.md). Every key of the domain has the same policy, so one approval —
 * the MA's signature over approvedPolicy || policyRef with approvedPolicy =
 * PolicyDuplicationSelect(dest, NO) — lets every key of the domain go to that one
 * destination and nowhere else. */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "common/log.h"
#include "common/pk.h"
#include "common/secret.h"
#include "tpm/tpm2_int.h"

/* d = H(d || parts...), the empty parts left out */
static CK_RV digest_extend(uint8_t d[TPM2_DIGEST_SIZE], const void *a, size_t a_len, const void *b,
			   size_t b_len, const void *c, size_t c_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	CK_RV rv = CKR_GENERAL_ERROR;

	if (!ctx)
		return CKR_HOST_MEMORY;
	if (EVP_DigestInit_ex2(ctx, hash_md(HASH_SHA256), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, d, TPM2_DIGEST_SIZE) != 1 ||
	    (a_len && EVP_DigestUpdate(ctx, a, a_len) != 1) ||
	    (b_len && EVP_DigestUpdate(ctx, b, b_len) != 1) ||
	    (c_len && EVP_DigestUpdate(ctx, c, c_len) != 1) ||
	    EVP_DigestFinal_ex(ctx, d, NULL) != 1)
		goto out;
	rv = CKR_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rv;
}

static void be32(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

/* d = H(d || cc || a || b) */
static CK_RV policy_extend(uint8_t d[TPM2_DIGEST_SIZE], TPM2_CC cc, const void *a, size_t a_len,
			   const void *b, size_t b_len)
{
	uint8_t ccb[4];

	be32(ccb, cc);
	return digest_extend(d, ccb, sizeof(ccb), a, a_len, b, b_len);
}

/* The MA's public area as a TPM loads it (TPM2_LoadExternal) to verify approvals.
 * One encoding per key, since the name — and so every key's policy — depends on the
 * exact bytes: nameAlg SHA-256, sign|userWithAuth (not restricted: it verifies
 * approvals, it never signs in a TPM), scheme RSASSA-SHA256 or ECDSA-SHA256, no
 * symmetric part, empty authPolicy. The RSA exponent 65537 is written as 0 (the
 * TPM's "default exponent"): a TPM would take an explicit 65537 too, but that is
 * another public area, so another name and another policy. Only 65537 is accepted:
 * it is the one exponent every TPM 2.0 must support (Part 2, TPMS_RSA_PARMS). */
static CK_RV ma_public(const uint8_t *rsa_n, size_t n_len, uint32_t rsa_e, enum tpm_curve curve,
		       const uint8_t *ec_x, const uint8_t *ec_y, TPMT_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	pub->nameAlg = TPM2_ALG_SHA256;
	pub->objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
	if (rsa_n) {
		while (n_len && *rsa_n == 0) {
			rsa_n++;
			n_len--;
		}
		if (n_len != 256 || !(rsa_n[0] & 0x80)) {
			LOGE("the migration authority must be an RSA-2048 or EC P-256 key; "
			     "this RSA key has %zu bits", n_len * 8);
			return CKR_KEY_TYPE_INCONSISTENT;
		}
		if (rsa_e != 65537) {
			LOGE("the migration authority's RSA exponent must be 65537 (not %u)", rsa_e);
			return CKR_KEY_TYPE_INCONSISTENT;
		}
		pub->type = TPM2_ALG_RSA;
		pub->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pub->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		pub->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		pub->parameters.rsaDetail.keyBits = 2048;
		pub->parameters.rsaDetail.exponent = 0; /* 65537 */
		pub->unique.rsa.size = 256;
		memcpy(pub->unique.rsa.buffer, rsa_n, 256);
		return CKR_OK;
	}
	if (curve != TPM_CURVE_P256 || !ec_x || !ec_y ||
	    !pk_ec_point_valid(NID_X9_62_prime256v1, ec_x, ec_y, 32)) {
		LOGE("the migration authority must be an RSA-2048 or EC P-256 key");
		return CKR_KEY_TYPE_INCONSISTENT;
	}
	pub->type = TPM2_ALG_ECC;
	pub->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	pub->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	pub->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	pub->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	pub->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	pub->unique.ecc.x.size = pub->unique.ecc.y.size = 32;
	memcpy(pub->unique.ecc.x.buffer, ec_x, 32);
	memcpy(pub->unique.ecc.y.buffer, ec_y, 32);
	return CKR_OK;
}

CK_RV tpm2_domain_encode_ma(const uint8_t *rsa_n, size_t n_len, uint32_t rsa_e, enum tpm_curve curve,
			    const uint8_t *ec_x, const uint8_t *ec_y, struct tpm_domain *d)
{
	TPMT_PUBLIC pub;
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;
	CK_RV rv;

	rv = ma_public(rsa_n, n_len, rsa_e, curve, ec_x, ec_y, &pub);
	if (rv != CKR_OK)
		return rv;
	if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return CKR_GENERAL_ERROR;
	rv = tpm_blob_copy(&d->ma_tpm2, buf, off);
	if (rv == CKR_OK)
		d->ma_type = pub.type == TPM2_ALG_RSA ? TPM_KEY_RSA : TPM_KEY_EC;
	return rv;
}

CK_RV tpm2_ma_parse(const struct tpm_domain *d, TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
	TPMT_PUBLIC want;
	size_t off = 0;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	memset(pub, 0, sizeof(*pub));
	if (!d || !d->ma_tpm2.data ||
	    Tss2_MU_TPMT_PUBLIC_Unmarshal(d->ma_tpm2.data, d->ma_tpm2.len, &off, pub) != TSS2_RC_SUCCESS ||
	    off != d->ma_tpm2.len)
		goto bad;
	/* Exactly what tpm2_domain_encode_ma() makes of the same key. */
	if (pub->type == TPM2_ALG_RSA && d->ma_type == TPM_KEY_RSA && pub->unique.rsa.size == 256)
		rv = ma_public(pub->unique.rsa.buffer, 256, 65537, TPM_CURVE_NONE, NULL, NULL, &want);
	else if (pub->type == TPM2_ALG_ECC && d->ma_type == TPM_KEY_EC && pub->unique.ecc.x.size == 32 &&
		 pub->unique.ecc.y.size == 32)
		rv = ma_public(NULL, 0, 0, TPM_CURVE_P256, pub->unique.ecc.x.buffer,
			       pub->unique.ecc.y.buffer, &want);
	if (rv != CKR_OK)
		goto bad;
	{
		uint8_t a[sizeof(TPMT_PUBLIC)];
		size_t alen = 0;

		if (Tss2_MU_TPMT_PUBLIC_Marshal(&want, a, sizeof(a), &alen) != TSS2_RC_SUCCESS ||
		    alen != d->ma_tpm2.len || memcmp(a, d->ma_tpm2.data, alen) != 0)
			goto bad;
	}
	return tpm2_compute_name(pub, name);
bad:
	LOGE("the domain's migration authority key is not a TPM 2.0 public area tpmha made");
	return CKR_ARGUMENTS_BAD;
}

CK_RV tpm2_domain_policy(const struct tpm_domain *d, uint8_t policy[TPM2_DIGEST_SIZE])
{
	TPMT_PUBLIC ma;
	TPM2B_NAME name;
	uint8_t code[4], dg[TPM2_DIGEST_SIZE] = { 0 };
	CK_RV rv = tpm2_ma_parse(d, &ma, &name);

	be32(code, TPM2_CC_Duplicate);

	/* PolicyAuthorize: PolicyUpdate(CC, keySign.name, policyRef) is two hashes. */
	if (rv == CKR_OK)
		rv = policy_extend(dg, TPM2_CC_PolicyAuthorize, name.name, name.size, NULL, 0);
	if (rv == CKR_OK)
		rv = digest_extend(dg, d->policy_ref, sizeof(d->policy_ref), NULL, 0, NULL, 0);
	if (rv == CKR_OK)
		rv = policy_extend(dg, TPM2_CC_PolicyCommandCode, code, sizeof(code), NULL, 0);
	if (rv == CKR_OK)
		memcpy(policy, dg, sizeof(dg));
	return rv;
}

CK_RV tpm2_approved_policy(const TPM2B_NAME *dest, uint8_t policy[TPM2_DIGEST_SIZE])
{
	const uint8_t include_object = TPM2_NO;

	memset(policy, 0, TPM2_DIGEST_SIZE);
	return policy_extend(policy, TPM2_CC_PolicyDuplicationSelect, dest->name, dest->size,
			     &include_object, 1);
}

/* Unit storage keys as tpm2_template_storage() makes them (other TPM 2.0 storage
 * keys could receive duplicates too, but a unit is one of ours): what the outer
 * wrapper of a duplicate is made for. */
CK_RV tpm2_dest_parse(const struct tpm_unit_identity *u, TPM2B_PUBLIC *pub, TPM2B_NAME *name)
{
	const TPMT_PUBLIC *p = &pub->publicArea;
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	const TPMT_SYM_DEF_OBJECT *sym;
	size_t off = 0;

	memset(pub, 0, sizeof(*pub));
	if (!u || u->tpm_version != 20) {
		LOGE("the destination unit has a TPM %d.%d: keys of a TPM 2.0 unit can only go to "
		     "another TPM 2.0", u ? u->tpm_version / 10 : 0, u ? u->tpm_version % 10 : 0);
		return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	}
	if (!u->storage_public.data ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(u->storage_public.data, u->storage_public.len, &off, pub) !=
		    TSS2_RC_SUCCESS ||
	    off != u->storage_public.len || off != 2u + pub->size)
		goto bad;
	if (p->nameAlg != TPM2_NAME_ALG || (p->objectAttributes & need) != need ||
	    (p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
		goto bad;
	if (p->type == TPM2_ALG_ECC) {
		size_t n = tpm2_curve_bytes(p->parameters.eccDetail.curveID);

		sym = &p->parameters.eccDetail.symmetric;
		if (!n || p->unique.ecc.x.size != n || p->unique.ecc.y.size != n)
			goto bad;
	} else if (p->type == TPM2_ALG_RSA) {
		unsigned bits = p->parameters.rsaDetail.keyBits;

		sym = &p->parameters.rsaDetail.symmetric;
		if ((bits != 2048 && bits != 3072 && bits != 4096) || p->unique.rsa.size != bits / 8 ||
		    (p->parameters.rsaDetail.exponent != 0 && p->parameters.rsaDetail.exponent != 65537))
			goto bad;
	} else {
		goto bad;
	}
	if (sym->algorithm != TPM2_ALG_AES || sym->keyBits.aes != 128 || sym->mode.aes != TPM2_ALG_CFB)
		goto bad;
	if (tpm2_compute_name(p, name) != CKR_OK || !u->name.data || u->name.len != name->size ||
	    memcmp(u->name.data, name->name, name->size) != 0) {
		LOGE("the destination unit's identity is inconsistent: its name is not its storage key's");
		return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	}
	return CKR_OK;
bad:
	LOGE("the destination unit's identity is not a TPM 2.0 unit storage key tpmha can send to "
	     "(restricted decryption, ECC or RSA, AES-128-CFB, SHA-256 names)");
	return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
}

CK_RV tpm2_approval_message(const struct tpm_domain *d, const struct tpm_unit_identity *dest,
			    uint8_t *msg, size_t *msg_len, enum hash_alg *hash)
{
	TPM2B_PUBLIC pub;
	TPM2B_NAME name;
	uint8_t approved[TPM2_DIGEST_SIZE];
	const size_t need = sizeof(approved) + sizeof(d->policy_ref);
	CK_RV rv;

	rv = tpm2_dest_parse(dest, &pub, &name);
	if (rv != CKR_OK)
		return CKR_DATA_INVALID;
	if (hash)
		*hash = HASH_SHA256;
	if (!msg) {
		*msg_len = need;
		return CKR_OK;
	}
	if (*msg_len < need) {
		*msg_len = need;
		return CKR_BUFFER_TOO_SMALL;
	}
	rv = tpm2_approved_policy(&name, approved);
	if (rv != CKR_OK)
		return rv;
	/* The TPM's aHash in TPM2_VerifySignature/PolicyAuthorize is SHA-256 of this. */
	memcpy(msg, approved, sizeof(approved));
	memcpy(msg + sizeof(approved), d->policy_ref, sizeof(d->policy_ref));
	*msg_len = need;
	return CKR_OK;
}
