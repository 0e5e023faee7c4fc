#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "tokens/mech.h"
#include "tokens/object.h"
#include "tokens/pubkey.h"
#include "tokens/soft.h"
#include "tokens/token.h"
#include "tpmha/tpmha.h"
#include "common/rsa_pad.h"

enum mech_family {
	MF_RSA_GEN = 1,
	MF_EC_GEN,
	MF_RSA_PKCS,      /* raw PKCS#1 v1.5: sign/verify/encrypt/decrypt */
	MF_RSA_PKCS_HASH, /* hash then PKCS#1 v1.5 sign/verify */
	MF_RSA_PSS,       /* PSS over a digest */
	MF_RSA_PSS_HASH,  /* hash then PSS */
	MF_RSA_OAEP,
	MF_ECDSA,
	MF_ECDSA_HASH,
	MF_DIGEST,
	MF_MIGRATE,       /* C_WrapKey/C_UnwrapKey between units of a domain */
	MF_TCPA_OAEP,     /* TPM 1.2 bound data */
};

static const struct mech {
	CK_MECHANISM_TYPE type;
	enum mech_family family;
	enum hash_alg hash;
} mechs[] = {
	{ CKM_RSA_PKCS_KEY_PAIR_GEN, MF_RSA_GEN, HASH_NONE },
	{ CKM_EC_KEY_PAIR_GEN, MF_EC_GEN, HASH_NONE },
	{ CKM_RSA_PKCS, MF_RSA_PKCS, HASH_NONE },
	{ CKM_SHA1_RSA_PKCS, MF_RSA_PKCS_HASH, HASH_SHA1 },
	{ CKM_SHA256_RSA_PKCS, MF_RSA_PKCS_HASH, HASH_SHA256 },
	{ CKM_SHA384_RSA_PKCS, MF_RSA_PKCS_HASH, HASH_SHA384 },
	{ CKM_SHA512_RSA_PKCS, MF_RSA_PKCS_HASH, HASH_SHA512 },
	{ CKM_RSA_PKCS_PSS, MF_RSA_PSS, HASH_NONE },
	{ CKM_SHA1_RSA_PKCS_PSS, MF_RSA_PSS_HASH, HASH_SHA1 },
	{ CKM_SHA256_RSA_PKCS_PSS, MF_RSA_PSS_HASH, HASH_SHA256 },
	{ CKM_SHA384_RSA_PKCS_PSS, MF_RSA_PSS_HASH, HASH_SHA384 },
	{ CKM_SHA512_RSA_PKCS_PSS, MF_RSA_PSS_HASH, HASH_SHA512 },
	{ CKM_RSA_PKCS_OAEP, MF_RSA_OAEP, HASH_NONE },
	{ CKM_ECDSA, MF_ECDSA, HASH_NONE },
	{ CKM_ECDSA_SHA1, MF_ECDSA_HASH, HASH_SHA1 },
	{ CKM_ECDSA_SHA256, MF_ECDSA_HASH, HASH_SHA256 },
	{ CKM_ECDSA_SHA384, MF_ECDSA_HASH, HASH_SHA384 },
	{ CKM_ECDSA_SHA512, MF_ECDSA_HASH, HASH_SHA512 },
	{ CKM_SHA_1, MF_DIGEST, HASH_SHA1 },
	{ CKM_SHA256, MF_DIGEST, HASH_SHA256 },
	{ CKM_SHA384, MF_DIGEST, HASH_SHA384 },
	{ CKM_SHA512, MF_DIGEST, HASH_SHA512 },
	{ CKM_TPMHA_MIGRATE, MF_MIGRATE, HASH_NONE },
	{ CKM_TPMHA_TCPA_OAEP, MF_TCPA_OAEP, HASH_NONE },
};

#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

static const struct mech *mech_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (mechs[i].type == type)
			return &mechs[i];
	return NULL;
}

static void rsa_range(const struct tpm_caps *caps, CK_ULONG *min, CK_ULONG *max)
{
	static const unsigned sizes[] = { 1024, 2048, 3072, 4096 };

	*min = *max = 0;
	for (int i = 0; i < 4; i++)
		if (caps->rsa_sizes & (1u << i)) {
			if (!*min)
				*min = sizes[i];
			*max = sizes[i];
		}
}

static void ec_range(const struct tpm_caps *caps, CK_ULONG *min, CK_ULONG *max)
{
	*min = *max = 0;
	if (caps->curves & (1u << TPM_CURVE_P256))
		*min = *max = 256;
	if (caps->curves & (1u << TPM_CURVE_P384)) {
		if (!*min)
			*min = 384;
		*max = 384;
	}
}

/* What the TPM behind caps makes of a mechanism: flags 0 means not offered. */
static CK_MECHANISM_INFO mech_caps(const struct tpm_caps *caps, const struct mech *m)
{
	CK_MECHANISM_INFO info = { 0 };
	bool tpm_hash = m->hash != HASH_NONE && (caps->hashes & TPM_HASH_BIT(m->hash));
	const CK_FLAGS ec_flags = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

	switch (m->family) {
	case MF_RSA_GEN:
		rsa_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (caps->rsa_sizes)
			info.flags = CKF_HW | CKF_GENERATE_KEY_PAIR;
		break;
	case MF_EC_GEN:
		ec_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (caps->curves)
			info.flags = CKF_HW | CKF_GENERATE_KEY_PAIR | ec_flags;
		break;
	case MF_RSA_PKCS:
		rsa_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (!caps->rsa_sizes)
			break;
		info.flags = CKF_VERIFY | CKF_ENCRYPT;
		if (caps->rsa_pkcs1_sign_any)
			info.flags |= CKF_HW | CKF_SIGN;
		if (caps->rsa_pkcs1_decrypt)
			info.flags |= CKF_HW | CKF_DECRYPT;
		break;
	case MF_RSA_PKCS_HASH:
		rsa_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (caps->rsa_sizes)
			info.flags = CKF_VERIFY;
		if (caps->rsa_sizes && ((caps->rsa_pkcs1_sign && tpm_hash) || caps->rsa_pkcs1_sign_any))
			info.flags |= CKF_HW | CKF_SIGN;
		break;
	case MF_RSA_PSS:
	case MF_RSA_PSS_HASH:
		/* Offered only where the TPM signs PSS (not TPM 1.2): GnuTLS 3.7
		 * takes CKM_RSA_PKCS_PSS in the list, whatever its flags, as "the
		 * key signs PSS", picks TLS 1.3 and fails the handshake on
		 * C_SignInit. A verify-only PSS costs that, and anyone can verify
		 * PSS with the public key in software. */
		rsa_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (caps->rsa_sizes && caps->rsa_pss_sign)
			info.flags = CKF_HW | CKF_SIGN | CKF_VERIFY;
		break;
	case MF_RSA_OAEP:
		rsa_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (caps->rsa_sizes)
			info.flags = CKF_ENCRYPT;
		if (caps->rsa_sizes && caps->oaep_hashes)
			info.flags |= CKF_HW | CKF_DECRYPT;
		break;
	case MF_ECDSA:
	case MF_ECDSA_HASH:
		ec_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (caps->curves)
			info.flags = CKF_VERIFY | ec_flags;
		if (caps->curves && caps->ecdsa)
			info.flags |= CKF_HW | CKF_SIGN;
		break;
	case MF_DIGEST:
		info.flags = CKF_DIGEST;
		break;
	case MF_MIGRATE:
		if (caps->migration)
			info.flags = CKF_HW | CKF_WRAP | CKF_UNWRAP;
		break;
	case MF_TCPA_OAEP:
		rsa_range(caps, &info.ulMinKeySize, &info.ulMaxKeySize);
		if (caps->rsa_tcpa_oaep)
			info.flags = CKF_HW | CKF_ENCRYPT | CKF_DECRYPT;
		break;
	}
	return info;
}

CK_RV mech_list(const struct tpm_caps *caps, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	CK_ULONG n = 0;

	for (size_t i = 0; i < NMECHS; i++) {
		if (!mech_caps(caps, &mechs[i]).flags)
			continue;
		if (list && n < *count)
			list[n] = mechs[i].type;
		n++;
	}
	if (list && *count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	*count = n;
	return CKR_OK;
}

CK_RV mech_info(const struct tpm_caps *caps, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	const struct mech *m = mech_find(type);

	if (!m)
		return CKR_MECHANISM_INVALID;
	*info = mech_caps(caps, m);
	return info->flags ? CKR_OK : CKR_MECHANISM_INVALID;
}

/* ---- operations ---- */

struct crypto_op {
	enum op_kind kind;
	const struct mech *mech;
	struct token *token;
	struct object *obj;
	struct tpm_key *key;          /* private-key operations */
	struct soft_key pub;          /* public-key operations */
	CK_KEY_TYPE key_type;
	size_t key_bytes;             /* modulus / curve order size */
	unsigned key_bits;
	EVP_MD_CTX *md;               /* hashing mechanisms */
	struct buf data;              /* single-part mechanisms collect their input here */
	enum hash_alg hash, mgf_hash; /* PSS / OAEP */
	size_t salt_len;
	uint8_t *label;
	size_t label_len;
	uint8_t *result;              /* decryption output kept across CKR_BUFFER_TOO_SMALL */
	size_t result_len;
	bool have_result;
};

void op_free(struct crypto_op *op)
{
	if (!op)
		return;
	if (op->key)
		token_key_put(op->token, op->obj);
	object_put(op->obj);
	EVP_MD_CTX_free(op->md);
	buf_release(&op->data);
	free(op->label);
	secret_free(op->result, op->result_len);
	free(op);
}

static CK_RV pss_params(const struct mech *m, const CK_MECHANISM *mech, struct crypto_op *op)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = mech->pParameter;

	if (!p || mech->ulParameterLen != sizeof(*p)) {
		LOGW("PSS needs CK_RSA_PKCS_PSS_PARAMS");
		return CKR_MECHANISM_PARAM_INVALID;
	}
	op->hash = hash_from_ckm(p->hashAlg);
	op->mgf_hash = hash_from_mgf(p->mgf);
	op->salt_len = p->sLen;
	if (op->hash == HASH_NONE || op->mgf_hash == HASH_NONE) {
		LOGW("PSS hash 0x%lx / MGF 0x%lx not supported", (unsigned long)p->hashAlg, (unsigned long)p->mgf);
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (m->hash != HASH_NONE && m->hash != op->hash) {
		LOGW("PSS parameters name %s but the mechanism hashes with %s", hash_name(op->hash),
		     hash_name(m->hash));
		return CKR_MECHANISM_PARAM_INVALID;
	}
	return CKR_OK;
}

static CK_RV oaep_params(const CK_MECHANISM *mech, const struct tpm_caps *caps, bool decrypt,
			 struct crypto_op *op)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;

	if (!p || mech->ulParameterLen != sizeof(*p)) {
		LOGW("OAEP needs CK_RSA_PKCS_OAEP_PARAMS");
		return CKR_MECHANISM_PARAM_INVALID;
	}
	op->hash = hash_from_ckm(p->hashAlg);
	op->mgf_hash = hash_from_mgf(p->mgf);
	if (op->hash == HASH_NONE || op->mgf_hash == HASH_NONE) {
		LOGW("OAEP hash 0x%lx / MGF 0x%lx not supported", (unsigned long)p->hashAlg, (unsigned long)p->mgf);
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (decrypt && !(caps->oaep_hashes & TPM_HASH_BIT(op->hash))) {
		LOGW("this TPM does not decrypt OAEP with %s", hash_name(op->hash));
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (p->source != CKZ_DATA_SPECIFIED && !(p->source == 0 && !p->ulSourceDataLen)) {
		LOGW("OAEP source 0x%lx not supported", (unsigned long)p->source);
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (p->ulSourceDataLen) {
		if (!p->pSourceData)
			return CKR_MECHANISM_PARAM_INVALID;
		op->label = malloc(p->ulSourceDataLen);
		if (!op->label)
			return CKR_HOST_MEMORY;
		memcpy(op->label, p->pSourceData, p->ulSourceDataLen);
		op->label_len = p->ulSourceDataLen;
	}
	return CKR_OK;
}

static CK_KEY_TYPE mech_key_type(const struct mech *m)
{
	switch (m->family) {
	case MF_ECDSA:
	case MF_ECDSA_HASH:
		return CKK_EC;
	case MF_DIGEST:
		return CK_UNAVAILABLE_INFORMATION;
	default:
		return CKK_RSA;
	}
}

/* The key object: class, type, usage flag, allowed mechanisms; references taken. */
static CK_RV op_key(struct crypto_op *op, CK_OBJECT_HANDLE handle, CK_MECHANISM_TYPE mech)
{
	static const struct {
		CK_OBJECT_CLASS klass;
		CK_ATTRIBUTE_TYPE usage;
	} need[OP_KINDS] = {
		[OP_SIGN] = { CKO_PRIVATE_KEY, CKA_SIGN },
		[OP_VERIFY] = { CKO_PUBLIC_KEY, CKA_VERIFY },
		[OP_ENCRYPT] = { CKO_PUBLIC_KEY, CKA_ENCRYPT },
		[OP_DECRYPT] = { CKO_PRIVATE_KEY, CKA_DECRYPT },
	};
	CK_RV rv = token_object(op->token, handle, &op->obj);

	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		return rv;
	if (op->obj->klass != need[op->kind].klass) {
		LOGW("object %lu is not a %s key", (unsigned long)handle,
		     need[op->kind].klass == CKO_PRIVATE_KEY ? "private" : "public");
		return CKR_KEY_TYPE_INCONSISTENT;
	}
	if (op->obj->key_type != mech_key_type(op->mech)) {
		LOGW("mechanism 0x%lx does not fit key %lu's type", (unsigned long)mech, (unsigned long)handle);
		return CKR_KEY_TYPE_INCONSISTENT;
	}
	if (!attrs_get_bool(&op->obj->attrs, need[op->kind].usage, false)) {
		LOGW("key %lu does not allow %s", (unsigned long)handle, attr_name(need[op->kind].usage));
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	}
	if (!object_mechanism_allowed(op->obj, mech)) {
		LOGW("CKA_ALLOWED_MECHANISMS of key %lu excludes 0x%lx", (unsigned long)handle, (unsigned long)mech);
		return CKR_MECHANISM_INVALID;
	}
	op->key_type = op->obj->key_type;
	if (need[op->kind].klass == CKO_PUBLIC_KEY) {
		rv = soft_key_from_attrs(&op->obj->attrs, op->key_type, &op->pub);
		if (rv != CKR_OK)
			return rv == CKR_HOST_MEMORY ? rv : CKR_KEY_HANDLE_INVALID;
		op->key_bits = op->pub.bits;
		op->key_bytes = op->pub.size;
		return CKR_OK;
	}
	return token_key_get(op->token, op->obj, &op->key, &op->key_bits, &op->key_bytes);
}

CK_RV op_init(enum op_kind kind, struct token *t, const CK_MECHANISM *mech,
	      CK_OBJECT_HANDLE key_handle, struct crypto_op **out)
{
	static const CK_FLAGS kind_flag[OP_KINDS] = {
		[OP_SIGN] = CKF_SIGN, [OP_VERIFY] = CKF_VERIFY, [OP_ENCRYPT] = CKF_ENCRYPT,
		[OP_DECRYPT] = CKF_DECRYPT, [OP_DIGEST] = CKF_DIGEST,
	};
	const struct mech *m = mech_find(mech->mechanism);
	const struct tpm_caps *caps = token_backend(t)->ops->get_caps(token_backend(t));
	struct crypto_op *op = NULL;
	CK_RV rv;

	if (!m || !(mech_caps(caps, m).flags & kind_flag[kind])) {
		LOGI("mechanism 0x%lx cannot %s here", (unsigned long)mech->mechanism,
		     (const char *[]){ "sign", "verify", "encrypt", "decrypt", "digest" }[kind]);
		return CKR_MECHANISM_INVALID;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return CKR_HOST_MEMORY;
	op->kind = kind;
	op->mech = m;
	op->token = t;
	op->data.secret = kind == OP_DECRYPT || kind == OP_ENCRYPT;

	switch (m->family) {
	case MF_RSA_PSS:
	case MF_RSA_PSS_HASH:
		rv = pss_params(m, mech, op);
		break;
	case MF_RSA_OAEP:
		rv = oaep_params(mech, caps, kind == OP_DECRYPT, op);
		break;
	default:
		rv = mech->ulParameterLen && m->family != MF_DIGEST ? CKR_MECHANISM_PARAM_INVALID : CKR_OK;
		if (rv != CKR_OK)
			LOGW("mechanism 0x%lx takes no parameter", (unsigned long)mech->mechanism);
		break;
	}
	if (rv != CKR_OK)
		goto fail;
	if (m->hash != HASH_NONE) {
		op->md = EVP_MD_CTX_new();
		if (!op->md || EVP_DigestInit_ex(op->md, hash_md(m->hash), NULL) != 1) {
			rv = CKR_HOST_MEMORY;
			goto fail;
		}
	}
	if (kind != OP_DIGEST) {
		rv = op_key(op, key_handle, mech->mechanism);
		if (rv != CKR_OK)
			goto fail;
		if ((m->family == MF_RSA_PSS || m->family == MF_RSA_PSS_HASH) &&
		    hash_size(op->hash) + op->salt_len + 2 > (op->key_bits + 6) / 8) {
			LOGW("PSS salt of %zu bytes does not fit a %u-bit key", op->salt_len, op->key_bits);
			rv = CKR_MECHANISM_PARAM_INVALID;
			goto fail;
		}
	}
	*out = op;
	return CKR_OK;
fail:
	op_free(op);
	return rv;
}

CK_RV op_update(struct crypto_op *op, const uint8_t *data, size_t len)
{
	if (op->md)
		return EVP_DigestUpdate(op->md, data, len) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
	/* PKCS#11 makes raw mechanisms single-part; collecting the parts costs nothing
	 * and spares applications that call Update anyway. The size is checked at the end. */
	if (op->data.len + len > 16384)
		return CKR_DATA_LEN_RANGE;
	buf_put(&op->data, data, len);
	return op->data.failed ? CKR_HOST_MEMORY : CKR_OK;
}

bool op_has_result(const struct crypto_op *op)
{
	return op->have_result;
}

size_t op_output_len(const struct crypto_op *op)
{
	if (op->have_result)
		return op->result_len;
	switch (op->kind) {
	case OP_DIGEST:
		return hash_size(op->mech->hash);
	case OP_SIGN:
	case OP_VERIFY:
		return op->key_type == CKK_EC ? 2 * op->key_bytes : op->key_bytes;
	default:
		return op->key_bytes;
	}
}

/* The input as the private-key primitive wants it: the digest for hashing mechanisms. */
static CK_RV op_input(struct crypto_op *op, uint8_t *digest, size_t *digest_len,
		      const uint8_t **in, size_t *in_len)
{
	unsigned n = 0;

	if (op->md) {
		if (EVP_DigestFinal_ex(op->md, digest, &n) != 1)
			return CKR_GENERAL_ERROR;
		EVP_MD_CTX_free(op->md);
		op->md = NULL;
		*digest_len = n;
		*in = digest;
		*in_len = n;
		return CKR_OK;
	}
	if (op->data.failed)
		return CKR_HOST_MEMORY;
	*in = op->data.data;
	*in_len = op->data.len;
	return CKR_OK;
}

static CK_RV sign(struct crypto_op *op, uint8_t *out, size_t *out_len)
{
	struct tpm_backend *tb = token_backend(op->token);
	uint8_t digest[HASH_MAX_SIZE], info[HASH_MAX_SIZE + 32];
	size_t digest_len = 0, in_len;
	const uint8_t *in;
	CK_RV rv = op_input(op, digest, &digest_len, &in, &in_len);

	if (rv != CKR_OK)
		return rv;
	switch (op->mech->family) {
	case MF_RSA_PKCS_HASH: {
		size_t prefix_len;
		const uint8_t *prefix = rsa_pad_digestinfo_prefix(op->mech->hash, &prefix_len);
		memcpy(info, prefix, prefix_len);
		memcpy(info + prefix_len, digest, digest_len);
		return tb->ops->rsa_sign_pkcs1(tb, op->key, info, prefix_len + digest_len, out, out_len);
	}
	case MF_RSA_PKCS:
		if (in_len > op->key_bytes - 11) {
			LOGW("%zu bytes do not fit PKCS#1 v1.5 padding of a %zu-byte key", in_len, op->key_bytes);
			return CKR_DATA_LEN_RANGE;
		}
		return tb->ops->rsa_sign_pkcs1(tb, op->key, in, in_len, out, out_len);
	case MF_RSA_PSS:
	case MF_RSA_PSS_HASH:
		if (in_len != hash_size(op->hash)) {
			LOGW("PSS with %s signs a %zu-byte digest, not %zu bytes", hash_name(op->hash),
			     hash_size(op->hash), in_len);
			return CKR_DATA_LEN_RANGE;
		}
		return tb->ops->rsa_sign_pss(tb, op->key, op->hash, op->mgf_hash, op->salt_len, in, in_len,
					     out, out_len);
	case MF_ECDSA:
	case MF_ECDSA_HASH:
		if (!in_len)
			return CKR_DATA_LEN_RANGE;
		return tb->ops->ecdsa_sign(tb, op->key, in, in_len, out, out_len);
	default:
		return CKR_MECHANISM_INVALID;
	}
}

static CK_RV decrypt(struct crypto_op *op)
{
	struct tpm_backend *tb = token_backend(op->token);
	struct tpm_dec_params params = { 0 };
	CK_RV rv;

	if (op->data.failed)
		return CKR_HOST_MEMORY;
	if (op->data.len != op->key_bytes) {
		LOGW("ciphertext of %zu bytes for a %zu-byte key", op->data.len, op->key_bytes);
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	}
	if (op->mech->family == MF_TCPA_OAEP) {
		params.scheme = TPM_DEC_TCPA_OAEP;
	} else if (op->mech->family == MF_RSA_OAEP) {
		params.scheme = TPM_DEC_OAEP;
		params.hash = op->hash;
		params.mgf_hash = op->mgf_hash;
		params.label = op->label;
		params.label_len = op->label_len;
	} else {
		params.scheme = TPM_DEC_PKCS1;
	}
	op->result_len = op->key_bytes;
	op->result = malloc(op->result_len);
	if (!op->result)
		return CKR_HOST_MEMORY;
	rv = tb->ops->rsa_decrypt(tb, op->key, &params, op->data.data, op->data.len, op->result,
				  &op->result_len);
	if (rv == CKR_OK)
		op->have_result = true;
	return rv;
}

static CK_RV encrypt(struct crypto_op *op, uint8_t *out, size_t *out_len)
{
	CK_RV rv;

	if (op->data.failed)
		return CKR_HOST_MEMORY;
	if (op->mech->family == MF_TCPA_OAEP)
		rv = soft_encrypt_tcpa(&op->pub, op->data.data, op->data.len, out);
	else if (op->mech->family == MF_RSA_OAEP)
		rv = soft_encrypt_oaep(&op->pub, op->hash, op->mgf_hash, op->label, op->label_len,
				       op->data.data, op->data.len, out);
	else
		rv = soft_encrypt_pkcs1(&op->pub, op->data.data, op->data.len, out);
	if (rv == CKR_OK)
		*out_len = op->pub.size;
	else if (rv == CKR_DATA_LEN_RANGE)
		LOGW("%zu bytes do not fit one RSA block of this key", op->data.len);
	return rv;
}

CK_RV op_final(struct crypto_op *op, uint8_t *out, size_t *out_len)
{
	size_t need = op_output_len(op);
	CK_RV rv;

	if (op->kind == OP_DECRYPT) {
		if (!op->have_result) {
			rv = decrypt(op);
			if (rv != CKR_OK)
				return rv;
		}
		if (*out_len < op->result_len) {
			*out_len = op->result_len;
			return CKR_BUFFER_TOO_SMALL;
		}
		memcpy(out, op->result, op->result_len);
		*out_len = op->result_len;
		return CKR_OK;
	}
	if (*out_len < need) {
		*out_len = need;
		return CKR_BUFFER_TOO_SMALL;
	}
	switch (op->kind) {
	case OP_DIGEST: {
		unsigned n = 0;
		if (EVP_DigestFinal_ex(op->md, out, &n) != 1)
			return CKR_GENERAL_ERROR;
		*out_len = n;
		return CKR_OK;
	}
	case OP_SIGN:
		*out_len = need;
		return sign(op, out, out_len);
	case OP_ENCRYPT:
		return encrypt(op, out, out_len);
	default:
		return CKR_OPERATION_NOT_INITIALIZED;
	}
}

CK_RV op_verify_final(struct crypto_op *op, const uint8_t *sig, size_t sig_len)
{
	uint8_t digest[HASH_MAX_SIZE], info[HASH_MAX_SIZE + 32];
	size_t digest_len = 0, in_len, prefix_len;
	const uint8_t *in, *prefix;
	CK_RV rv;

	if (sig_len != op_output_len(op))
		return CKR_SIGNATURE_LEN_RANGE;
	rv = op_input(op, digest, &digest_len, &in, &in_len);
	if (rv != CKR_OK)
		return rv;
	switch (op->mech->family) {
	case MF_RSA_PKCS_HASH:
		prefix = rsa_pad_digestinfo_prefix(op->mech->hash, &prefix_len);
		memcpy(info, prefix, prefix_len);
		memcpy(info + prefix_len, digest, digest_len);
		return soft_verify_pkcs1(&op->pub, info, prefix_len + digest_len, sig, sig_len);
	case MF_RSA_PKCS:
		if (in_len > op->key_bytes - 11)
			return CKR_DATA_LEN_RANGE;
		return soft_verify_pkcs1(&op->pub, in, in_len, sig, sig_len);
	case MF_RSA_PSS:
	case MF_RSA_PSS_HASH:
		return soft_verify_pss(&op->pub, op->hash, op->mgf_hash, op->salt_len, in, in_len, sig, sig_len);
	case MF_ECDSA:
	case MF_ECDSA_HASH:
		return soft_verify_ecdsa(&op->pub, in, in_len, sig, sig_len);
	default:
		return CKR_MECHANISM_INVALID;
	}
}
