/* TPM 1.2 formats, in software (no TSPI call, no TPM): the bounded parsers of TSS
 * key blobs and TPM_PUBKEYs, our blob format, unit identities, the domain's MA as a
 * TPM_PUBKEY, approval messages (TPM_CMK_AUTH), and TPM 1.2 bound data.
 * tpm/domain.c uses the domain and approval helpers without any backend. */
#include "config.h"

#include <stdio.h>
#include <string.h>


#include "common/buf.h"
#include "common/log.h"
#include "common/pk.h"
#include "common/rsa_pad.h"
#include "common/secret.h"
#include "tpm/tpm12_int.h"

static const uint8_t tcpa_label[4] = { 'T', 'C', 'P', 'A' };
static const uint8_t bound_prefix[5] = { 1, 1, 0, 0, TPM_PT_BIND };
static const uint8_t e65537[3] = { 1, 0, 1 };

void tpm12_hex8(const uint8_t *d, char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* --- TPM structures --- */

/* TPM_KEY_PARMS of an RSA-2048 key with the default exponent, then TPM_STORE_PUBKEY:
 * the TPM_PUBKEY of such a key is 284 bytes. */
static CK_RV read_pubkey(struct reader *r, uint16_t *enc, uint16_t *sig, uint8_t *modulus)
{
	uint32_t alg = read_u32(r);

	*enc = read_u16(r);
	*sig = read_u16(r);
	if (read_u32(r) != 12 /* parmSize */ || alg != TPM_ALG_RSA)
		return CKR_DATA_INVALID;
	if (read_u32(r) != 2048 || read_u32(r) != 2 /* numPrimes */ || read_u32(r) != 0 /* e */)
		return CKR_DATA_INVALID;
	if (read_u32(r) != TPM12_MOD_SIZE || !read_bytes(r, modulus, TPM12_MOD_SIZE) || r->failed)
		return CKR_DATA_INVALID;
	if (!(modulus[0] & 0x80) || !(modulus[TPM12_MOD_SIZE - 1] & 1))
		return CKR_DATA_INVALID;
	return CKR_OK;
}

CK_RV tpm12_pubkey_parse(const uint8_t *pub, size_t len, uint16_t *enc_scheme, uint16_t *sig_scheme,
			 uint8_t modulus[TPM12_MOD_SIZE])
{
	struct reader r = reader_init(pub, len);
	CK_RV rv;

	if (!pub || len != TPM12_PUBKEY_SIZE)
		return CKR_DATA_INVALID;
	rv = read_pubkey(&r, enc_scheme, sig_scheme, modulus);
	if (rv == CKR_OK && (r.failed || r.left))
		rv = CKR_DATA_INVALID;
	return rv;
}

CK_RV tpm12_key_parse(const uint8_t *blob, size_t len, struct tpm12_keyinfo *ki)
{
	struct reader r = reader_init(blob, len);
	const uint8_t *pub_start;
	size_t enc_len;

	memset(ki, 0, sizeof(*ki));
	if (!blob || read_u16(&r) != TPM_TAG_KEY12 || read_u16(&r) != 0)
		return CKR_DATA_INVALID;
	ki->usage = read_u16(&r);
	ki->flags = read_u32(&r);
	ki->auth_usage = read_u8(&r);
	if (r.failed || (ki->usage != TPM_KEY_SIGNING && ki->usage != TPM_KEY_STORAGE &&
			 ki->usage != TPM_KEY_BIND && ki->usage != TPM_KEY_LEGACY))
		return CKR_DATA_INVALID;
	if (ki->flags & ~(uint32_t)(TPM_MIGRATABLE | TPM_MIGRATEAUTHORITY | TPM_PCRIGNOREDONREAD))
		return CKR_DATA_INVALID;
	/* algorithmParms, then PCRInfoSize (we make keys bound to no PCRs), then pubKey;
	 * the key's TPM_PUBKEY is the first and the last of these */
	pub_start = r.p;
	if (read_u32(&r) != TPM_ALG_RSA)
		return CKR_DATA_INVALID;
	ki->enc_scheme = read_u16(&r);
	ki->sig_scheme = read_u16(&r);
	if (read_u32(&r) != 12 || read_u32(&r) != 2048 || read_u32(&r) != 2 || read_u32(&r) != 0)
		return CKR_DATA_INVALID;
	memcpy(ki->pubkey, pub_start, 24);
	if (read_u32(&r) != 0 /* PCRInfoSize */)
		return CKR_DATA_INVALID;
	pub_start = r.p;
	if (read_u32(&r) != TPM12_MOD_SIZE || !read_bytes(&r, ki->modulus, TPM12_MOD_SIZE) || r.failed)
		return CKR_DATA_INVALID;
	if (!(ki->modulus[0] & 0x80) || !(ki->modulus[TPM12_MOD_SIZE - 1] & 1))
		return CKR_DATA_INVALID;
	memcpy(ki->pubkey + 24, pub_start, 4 + TPM12_MOD_SIZE);
	enc_len = read_u32(&r);
	if (r.failed || enc_len == 0 || enc_len != r.left || enc_len > 1024)
		return CKR_DATA_INVALID;
	ki->exponent = 65537;
	if (hash_digest(HASH_SHA1, ki->pubkey, sizeof(ki->pubkey), ki->pub_digest) != CKR_OK)
		return CKR_GENERAL_ERROR;
	return CKR_OK;
}

void tpm12_public_export(const struct tpm12_keyinfo *ki, struct tpm_public *out)
{
	memset(out, 0, sizeof(*out));
	out->type = TPM_KEY_RSA;
	out->bits = 2048;
	memcpy(out->modulus, ki->modulus, TPM12_MOD_SIZE);
	out->modulus_len = TPM12_MOD_SIZE;
	out->exponent = ki->exponent;
}

/* --- our blobs --- */

CK_RV tpm12_blob_encode(enum tpm12_kind kind, enum tpm12_parent parent, const uint8_t *key,
			size_t key_len, const uint8_t *data, size_t data_len, struct tpm_blob *out)
{
	struct buf b = BUF_INIT;
	uint8_t *p;
	size_t n;

	buf_put_u8(&b, TPM12_BLOB_VERSION);
	buf_put_u8(&b, (uint8_t)kind);
	buf_put_u8(&b, (uint8_t)parent);
	if (kind != TPM12_KIND_SEAL)
		buf_put_lv(&b, key, key_len);
	if (kind != TPM12_KIND_KEY)
		buf_put_lv(&b, data, data_len);
	p = buf_take(&b, &n);
	if (!p)
		return CKR_HOST_MEMORY;
	out->data = p;
	out->len = n;
	return CKR_OK;
}

CK_RV tpm12_blob_decode(const uint8_t *p, size_t len, struct tpm12_blob *out)
{
	struct reader r = reader_init(p, len);

	memset(out, 0, sizeof(*out));
	if (!p || read_u8(&r) != TPM12_BLOB_VERSION)
		return CKR_DATA_INVALID;
	out->kind = read_u8(&r);
	out->parent = read_u8(&r);
	if (r.failed || (out->kind != TPM12_KIND_KEY && out->kind != TPM12_KIND_SEAL &&
			 out->kind != TPM12_KIND_DOMAIN_SEAL) ||
	    (out->parent != TPM12_PARENT_SRK && out->parent != TPM12_PARENT_UNIT))
		return CKR_DATA_INVALID;
	if (out->kind != TPM12_KIND_SEAL)
		out->key = read_lv(&r, &out->key_len, 4096);
	if (out->kind != TPM12_KIND_KEY)
		out->data = read_lv(&r, &out->data_len, 4096);
	if (r.failed || r.left)
		return CKR_DATA_INVALID;
	if (out->kind == TPM12_KIND_DOMAIN_SEAL && out->data_len != TPM12_BOUND_SIZE)
		return CKR_DATA_INVALID;
	if (out->kind == TPM12_KIND_SEAL && (out->data_len == 0 || out->parent != TPM12_PARENT_SRK))
		return CKR_DATA_INVALID;
	return CKR_OK;
}

CK_RV tpm12_msa_digest(const struct tpm_domain *d, uint8_t out[TPM12_DIGEST],
		       uint8_t ma_digest[TPM12_DIGEST])
{
	/* TPM_MSA_COMPOSITE: u32 MSAlist || TPM_DIGEST migAuthDigest[MSAlist] */
	uint8_t comp[4 + TPM12_DIGEST] = { 0, 0, 0, 1 };
	uint16_t enc, sig;
	uint8_t mod[TPM12_MOD_SIZE];

	if (!d || tpm12_pubkey_parse(d->ma_tpm12.data, d->ma_tpm12.len, &enc, &sig, mod) != CKR_OK ||
	    enc != TPM_ES_NONE || sig != TPM_SS_RSASSAPKCS1v15_SHA1) {
		LOGE("the domain has no migration authority a TPM 1.2 can use (an RSA-2048 key, "
		     "encoded as a TPM_PUBKEY in the domain file)");
		return CKR_ARGUMENTS_BAD;
	}
	if (hash_digest(HASH_SHA1, d->ma_tpm12.data, d->ma_tpm12.len, comp + 4) != CKR_OK)
		return CKR_GENERAL_ERROR;
	if (ma_digest)
		memcpy(ma_digest, comp + 4, TPM12_DIGEST);
	return hash_digest(HASH_SHA1, comp, sizeof(comp), out);
}

CK_RV tpm12_bind_soft(const uint8_t modulus[TPM12_MOD_SIZE], const uint8_t *data, size_t len,
		      uint8_t out[TPM12_BOUND_SIZE])
{
	uint8_t m[TPM12_MOD_SIZE], em[TPM12_MOD_SIZE];
	CK_RV rv;

	if (len > TPM12_MOD_SIZE - 2 * TPM12_DIGEST - 2 - sizeof(bound_prefix))
		return CKR_DATA_LEN_RANGE;
	memcpy(m, bound_prefix, sizeof(bound_prefix));
	if (len)
		memcpy(m + sizeof(bound_prefix), data, len);
	rv = rsa_pad_oaep_encode(HASH_SHA1, HASH_SHA1, tcpa_label, sizeof(tcpa_label), m,
				 sizeof(bound_prefix) + len, em, sizeof(em));
	if (rv == CKR_OK)
		rv = pk_rsa_public(modulus, TPM12_MOD_SIZE, e65537, sizeof(e65537), em, sizeof(em), out);
	secret_wipe(m, sizeof(m));
	secret_wipe(em, sizeof(em));
	return rv;
}

/* A TPM 1.2 unit's identity: D's and U's public keys, the name matching D. */
CK_RV tpm12_dest_parse(const struct tpm_unit_identity *u, uint8_t d_digest[TPM12_DIGEST],
			uint8_t u_digest[TPM12_DIGEST], uint8_t u_mod[TPM12_MOD_SIZE])
{
	uint8_t mod[TPM12_MOD_SIZE];
	uint16_t enc, sig;

	if (!u)
		return CKR_ARGUMENTS_BAD;
	if (u->tpm_version != 12) {
		LOGE("moving keys between a TPM 1.2 unit and a TPM %d.%d unit is not supported",
		     u->tpm_version / 10, u->tpm_version % 10);
		return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	}
	if (!u->storage_public.data || u->storage_public.len != TPM12_IDENTITY_SIZE ||
	    tpm12_pubkey_parse(u->storage_public.data, TPM12_PUBKEY_SIZE, &enc, &sig, mod) != CKR_OK ||
	    enc != TPM_ES_RSAESOAEP_SHA1_MGF1 ||
	    tpm12_pubkey_parse(u->storage_public.data + TPM12_PUBKEY_SIZE, TPM12_PUBKEY_SIZE, &enc, &sig,
			       u_mod ? u_mod : mod) != CKR_OK ||
	    enc != TPM_ES_RSAESOAEP_SHA1_MGF1 ||
	    hash_digest(HASH_SHA1, u->storage_public.data, TPM12_PUBKEY_SIZE, d_digest) != CKR_OK ||
	    hash_digest(HASH_SHA1, u->storage_public.data + TPM12_PUBKEY_SIZE, TPM12_PUBKEY_SIZE,
			u_digest) != CKR_OK ||
	    !u->name.data || u->name.len != TPM12_DIGEST ||
	    memcmp(u->name.data, d_digest, TPM12_DIGEST) != 0) {
		LOGE("the unit identity is not a TPM 1.2 unit's (public keys and name do not match)");
		return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	}
	return CKR_OK;
}

/* --- no TPM needed: the MA and approvals --- */

CK_RV tpm12_encode_ma(const uint8_t *rsa_n, size_t n_len, uint32_t rsa_e, struct tpm_domain *d)
{
	struct buf b = BUF_INIT;

	if (!d)
		return CKR_ARGUMENTS_BAD;
	d->ma_tpm12.data = NULL;
	d->ma_tpm12.len = 0;
	if (!rsa_n)
		return CKR_OK; /* EC: a domain without TPM 1.2 units */
	while (n_len && *rsa_n == 0) {
		rsa_n++;
		n_len--;
	}
	if (n_len != TPM12_MOD_SIZE || !(rsa_n[0] & 0x80) || rsa_e != 65537) {
		LOGI("the migration authority is not an RSA-2048 key with exponent 65537: no TPM 1.2 "
		     "unit can be in this domain");
		return CKR_OK;
	}
	/* TPM_PUBKEY: TPM_KEY_PARMS (RSA, encScheme NONE, sigScheme
	 * RSASSA-PKCS1-v1_5-SHA1 — TPM_CMK_CreateTicket verifies with SHA-1 only —
	 * TPM_RSA_KEY_PARMS 2048 bits, 2 primes, default exponent) || TPM_STORE_PUBKEY */
	buf_put_u32(&b, TPM_ALG_RSA);
	buf_put_u16(&b, TPM_ES_NONE);
	buf_put_u16(&b, TPM_SS_RSASSAPKCS1v15_SHA1);
	buf_put_u32(&b, 12);
	buf_put_u32(&b, 2048);
	buf_put_u32(&b, 2);
	buf_put_u32(&b, 0);
	buf_put_u32(&b, TPM12_MOD_SIZE);
	buf_put(&b, rsa_n, TPM12_MOD_SIZE);
	d->ma_tpm12.data = buf_take(&b, &d->ma_tpm12.len);
	return d->ma_tpm12.data ? CKR_OK : CKR_HOST_MEMORY;
}

/* The key to move, given as our key blob (or its TPM_PUBKEY): SHA-1 of its TPM_PUBKEY. */
static CK_RV key_pub_digest(const struct tpm_blob *k, uint8_t out[TPM12_DIGEST])
{
	struct tpm12_blob b;
	struct tpm12_keyinfo ki;
	uint16_t enc, sig;
	uint8_t mod[TPM12_MOD_SIZE];

	if (!k || !k->data)
		return CKR_ARGUMENTS_BAD;
	if (k->len == TPM12_PUBKEY_SIZE &&
	    tpm12_pubkey_parse(k->data, k->len, &enc, &sig, mod) == CKR_OK)
		return hash_digest(HASH_SHA1, k->data, k->len, out);
	if (tpm12_blob_decode(k->data, k->len, &b) != CKR_OK || b.kind == TPM12_KIND_SEAL ||
	    tpm12_key_parse(b.key, b.key_len, &ki) != CKR_OK)
		return CKR_DATA_INVALID;
	memcpy(out, ki.pub_digest, TPM12_DIGEST);
	return CKR_OK;
}

CK_RV tpm12_key_pubkey(const struct tpm_blob *k, struct tpm_blob *out)
{
	struct tpm12_blob b;
	struct tpm12_keyinfo ki;

	if (!k || !k->data || tpm12_blob_decode(k->data, k->len, &b) != CKR_OK || b.kind == TPM12_KIND_SEAL ||
	    tpm12_key_parse(b.key, b.key_len, &ki) != CKR_OK)
		return CKR_DATA_INVALID;
	return tpm_blob_copy(out, ki.pubkey, sizeof(ki.pubkey));
}

CK_RV tpm12_approval_message(const struct tpm_domain *d, const struct tpm_unit_identity *dest,
			     const struct tpm_blob *key_public, uint8_t *msg, size_t *msg_len,
			     enum hash_alg *hash)
{
	uint8_t msa[TPM12_DIGEST], ma[TPM12_DIGEST], dd[TPM12_DIGEST], ud[TPM12_DIGEST],
		kd[TPM12_DIGEST];
	const size_t need = 3 * TPM12_DIGEST;
	CK_RV rv;

	if (!d || !dest || !msg_len)
		return CKR_ARGUMENTS_BAD;
	rv = tpm12_dest_parse(dest, dd, ud, NULL);
	if (rv != CKR_OK)
		return CKR_DATA_INVALID;
	if (!key_public) {
		LOGE("a TPM 1.2 approval names the key to move as well as the destination: no key given");
		return CKR_ARGUMENTS_BAD;
	}
	rv = key_pub_digest(key_public, kd);
	if (rv == CKR_OK)
		rv = tpm12_msa_digest(d, msa, ma);
	if (rv != CKR_OK)
		return rv;
	if (hash)
		*hash = HASH_SHA1;
	if (!msg) {
		*msg_len = need;
		return CKR_OK;
	}
	if (*msg_len < need) {
		*msg_len = need;
		return CKR_BUFFER_TOO_SMALL;
	}
	/* TPM_CMK_AUTH: migrationAuthorityDigest || destinationKeyDigest || sourceKeyDigest */
	memcpy(msg, ma, TPM12_DIGEST);
	memcpy(msg + TPM12_DIGEST, dd, TPM12_DIGEST);
	memcpy(msg + 2 * TPM12_DIGEST, kd, TPM12_DIGEST);
	*msg_len = need;
	return CKR_OK;
}

