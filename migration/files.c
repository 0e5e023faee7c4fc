#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/pk.h"
#include "common/rsa_pad.h"
#include "migration/files.h"
#include "migration/format.h"

enum domain_tag {
	DOMAIN_ID = 1,
	DOMAIN_LABEL = 2,
	DOMAIN_CREATED = 3,
	DOMAIN_MA_SPKI = 4,
	DOMAIN_MA_TYPE = 5,
	DOMAIN_MA_TPM2 = 6,
	DOMAIN_MA_TPM12 = 7,
};

enum unit_tag {
	UNIT_ID = 1,
	UNIT_TPM_VERSION = 2,
	UNIT_STORAGE_PUBLIC = 3,
	UNIT_STORAGE_NAME = 4,
	UNIT_LABEL = 5,
};

#define MAX_BLOB 4096

const char *hex_id(const uint8_t *id, size_t len, char *out, size_t out_len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 3 <= out_len; i++)
		n += (size_t)snprintf(out + n, out_len - n, "%02x", id[i]);
	if (out_len)
		out[n < out_len ? n : out_len - 1] = '\0';
	return out;
}

/* A tag seen twice, or one this version does not know: the file is not ours. */
bool record_once(const char *what, uint32_t *seen, const struct record *rec, unsigned max_tag)
{
	if (rec->tag == 0 || rec->tag > max_tag) {
		LOGW("%s: unknown record %u", what, rec->tag);
		return false;
	}
	if (*seen & (1u << rec->tag)) {
		LOGW("%s: record %u appears twice", what, rec->tag);
		return false;
	}
	*seen |= 1u << rec->tag;
	return true;
}

bool record_label(const struct record *rec, char *out)
{
	if (rec->len > LABEL_MAX || memchr(rec->value, '\0', rec->len))
		return false;
	memcpy(out, rec->value, rec->len);
	out[rec->len] = '\0';
	return true;
}

bool record_blob(const struct record *rec, struct tpm_blob *out)
{
	return rec->len && rec->len <= MAX_BLOB && tpm_blob_copy(out, rec->value, rec->len) == CKR_OK;
}

/* ---- the MA key ---- */

struct ma_key {
	enum tpm_key_type type;
	uint8_t n[512];
	size_t n_len;
	uint32_t e;
	uint8_t x[32], y[32];
};

static bool bn_param(EVP_PKEY *pkey, const char *name, uint8_t *out, size_t len, size_t *got)
{
	BIGNUM *bn = NULL;
	bool ok = EVP_PKEY_get_bn_param(pkey, name, &bn) == 1 && BN_num_bytes(bn) <= (int)len;

	if (ok && got) {
		*got = (size_t)BN_bn2bin(bn, out);
	} else if (ok) {
		ok = BN_bn2binpad(bn, out, (int)len) == (int)len;
	}
	BN_free(bn);
	return ok;
}

/* RSA-2048 or EC P-256 only: what TPM 1.2 (RSA-2048) and TPM 2.0 both verify. */
static CK_RV ma_key_from_spki(const uint8_t *spki, size_t len, struct ma_key *k)
{
	const unsigned char *p = spki;
	EVP_PKEY *pkey = d2i_PUBKEY_ex(NULL, &p, (long)len, ossl_libctx(), NULL);
	CK_RV rv = CKR_KEY_TYPE_INCONSISTENT;

	memset(k, 0, sizeof(*k));
	if (!pkey || p != spki + len) {
		LOGW("the migration authority's public key is not a DER SubjectPublicKeyInfo");
		rv = CKR_DATA_INVALID;
		goto out;
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		BIGNUM *e = NULL;
		if (EVP_PKEY_get_bits(pkey) != 2048) {
			LOGW("an RSA migration authority key must have 2048 bits (TPM 1.2 verifies no other)");
			goto out;
		}
		if (!bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, k->n, sizeof(k->n), &k->n_len) ||
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1 || BN_num_bits(e) > 32) {
			BN_free(e);
			goto out;
		}
		k->e = (uint32_t)BN_get_word(e);
		BN_free(e);
		k->type = TPM_KEY_RSA;
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[32] = "";
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1 ||
		    (strcmp(group, "prime256v1") && strcmp(group, "P-256"))) {
			LOGW("an EC migration authority key must be on P-256");
			goto out;
		}
		if (!bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, k->x, 32, NULL) ||
		    !bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, k->y, 32, NULL))
			goto out;
		k->type = TPM_KEY_EC;
	} else {
		LOGW("the migration authority key must be RSA-2048 or EC P-256");
		goto out;
	}
	rv = CKR_OK;
out:
	EVP_PKEY_free(pkey);
	return rv;
}

/* ---- domain ---- */

/* The MA key in every TPM version's encoding. ma_key_from_spki() leaves k->n a
 * zeroed array for EC keys: only an RSA key may pass its modulus, or the EC key
 * would be taken for an RSA key with a zero modulus. */
static CK_RV ma_key_encode(const struct ma_key *k, struct tpm_domain *d)
{
	return tpm_domain_encode_ma(k->type == TPM_KEY_RSA ? k->n : NULL, k->n_len, k->e,
				    k->type == TPM_KEY_EC ? TPM_CURVE_P256 : TPM_CURVE_NONE, k->x, k->y, d);
}

CK_RV domain_file_create(const uint8_t *ma_spki, size_t spki_len, const char *label, struct buf *out)
{
	struct tpm_domain d = { 0 };
	struct ma_key k;
	CK_RV rv;

	if (label && strlen(label) > LABEL_MAX)
		return CKR_ARGUMENTS_BAD;
	rv = ma_key_from_spki(ma_spki, spki_len, &k);
	if (rv == CKR_OK)
		rv = ossl_random(d.id, sizeof(d.id));
	if (rv == CKR_OK)
		rv = ma_key_encode(&k, &d);
	if (rv != CKR_OK)
		goto out;
	format_begin(out, KIND_DOMAIN, FILES_VERSION);
	format_put(out, DOMAIN_ID, d.id, sizeof(d.id));
	if (label && *label)
		format_put(out, DOMAIN_LABEL, label, strlen(label));
	format_put_u64(out, DOMAIN_CREATED, (uint64_t)time(NULL));
	format_put(out, DOMAIN_MA_SPKI, ma_spki, spki_len);
	format_put_u8(out, DOMAIN_MA_TYPE, (uint8_t)d.ma_type);
	format_put(out, DOMAIN_MA_TPM2, d.ma_tpm2.data, d.ma_tpm2.len);
	if (d.ma_tpm12.len)
		format_put(out, DOMAIN_MA_TPM12, d.ma_tpm12.data, d.ma_tpm12.len);
	rv = out->failed ? CKR_HOST_MEMORY : CKR_OK;
out:
	tpm_blob_release(&d.ma_tpm2);
	tpm_blob_release(&d.ma_tpm12);
	return rv;
}

CK_RV domain_file_parse(const uint8_t *data, size_t len, struct domain_file *out)
{
	struct format_reader fr;
	struct record rec;
	uint32_t seen = 0;
	uint8_t type = 0;
	struct ma_key k;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	rv = format_open(&fr, data, len, KIND_DOMAIN, FILES_VERSION);
	if (rv != CKR_OK)
		return rv;
	while (format_next(&fr, &rec)) {
		bool ok;
		if (!record_once(fr.what, &seen, &rec, DOMAIN_MA_TPM12))
			goto bad;
		switch (rec.tag) {
		case DOMAIN_ID:
			ok = record_fixed(&rec, out->tpm.id, sizeof(out->tpm.id));
			break;
		case DOMAIN_LABEL:
			ok = record_label(&rec, out->label);
			break;
		case DOMAIN_CREATED:
			ok = record_u64(&rec, &out->created);
			break;
		case DOMAIN_MA_SPKI:
			ok = record_blob(&rec, &out->ma_spki);
			break;
		case DOMAIN_MA_TYPE:
			ok = record_u8(&rec, &type) && (type == TPM_KEY_RSA || type == TPM_KEY_EC);
			break;
		case DOMAIN_MA_TPM2:
			ok = record_blob(&rec, &out->tpm.ma_tpm2);
			break;
		default:
			ok = record_blob(&rec, &out->tpm.ma_tpm12);
			break;
		}
		if (!ok) {
			LOGW("%s: record %u is malformed", fr.what, rec.tag);
			goto bad;
		}
	}
	if (fr.r.failed)
		goto bad;
	if ((seen & ((1u << DOMAIN_ID) | (1u << DOMAIN_MA_SPKI) | (1u << DOMAIN_MA_TYPE) | (1u << DOMAIN_MA_TPM2))) !=
	    ((1u << DOMAIN_ID) | (1u << DOMAIN_MA_SPKI) | (1u << DOMAIN_MA_TYPE) | (1u << DOMAIN_MA_TPM2))) {
		LOGW("%s: a required record is missing", fr.what);
		goto bad;
	}
	/* The SPKI and the TPM encodings must be the same key: re-encode and compare. */
	rv = ma_key_from_spki(out->ma_spki.data, out->ma_spki.len, &k);
	if (rv == CKR_OK) {
		struct tpm_domain again = { 0 };
		rv = ma_key_encode(&k, &again);
		if (rv == CKR_OK &&
		    (again.ma_type != type || again.ma_tpm2.len != out->tpm.ma_tpm2.len ||
		     memcmp(again.ma_tpm2.data, out->tpm.ma_tpm2.data, again.ma_tpm2.len) != 0 ||
		     again.ma_tpm12.len != out->tpm.ma_tpm12.len ||
		     (again.ma_tpm12.len && memcmp(again.ma_tpm12.data, out->tpm.ma_tpm12.data, again.ma_tpm12.len)))) {
			LOGW("%s: the TPM encodings of the migration authority key do not match its public key", fr.what);
			rv = CKR_DATA_INVALID;
		}
		tpm_blob_release(&again.ma_tpm2);
		tpm_blob_release(&again.ma_tpm12);
	}
	if (rv != CKR_OK)
		goto fail;
	out->tpm.ma_type = (enum tpm_key_type)type;
	memcpy(out->tpm.policy_ref, out->tpm.id, sizeof(out->tpm.policy_ref));
	rv = hash_digest(HASH_SHA256, data, len, out->fingerprint);
	if (rv != CKR_OK)
		goto fail;
	return CKR_OK;
bad:
	rv = CKR_DATA_INVALID;
fail:
	domain_file_release(out);
	return rv;
}

void domain_file_release(struct domain_file *d)
{
	if (!d)
		return;
	tpm_blob_release(&d->ma_spki);
	tpm_blob_release(&d->tpm.ma_tpm2);
	tpm_blob_release(&d->tpm.ma_tpm12);
}

/* ---- unit ---- */

void unit_id_of(const struct tpm_unit_identity *u, uint8_t id[UNIT_ID_LEN])
{
	uint8_t digest[32];

	if (hash_digest(HASH_SHA256, u->name.data, u->name.len, digest) != CKR_OK)
		memset(digest, 0, sizeof(digest));
	memcpy(id, digest, UNIT_ID_LEN);
}

CK_RV unit_file_create(const struct tpm_unit_identity *u, const char *label, struct buf *out)
{
	uint8_t id[UNIT_ID_LEN];

	if (label && strlen(label) > LABEL_MAX)
		return CKR_ARGUMENTS_BAD;
	unit_id_of(u, id);
	format_begin(out, KIND_UNIT, FILES_VERSION);
	format_put(out, UNIT_ID, id, sizeof(id));
	format_put_u8(out, UNIT_TPM_VERSION, (uint8_t)u->tpm_version);
	format_put(out, UNIT_STORAGE_PUBLIC, u->storage_public.data, u->storage_public.len);
	format_put(out, UNIT_STORAGE_NAME, u->name.data, u->name.len);
	if (label && *label)
		format_put(out, UNIT_LABEL, label, strlen(label));
	return out->failed ? CKR_HOST_MEMORY : CKR_OK;
}

CK_RV unit_file_parse(const uint8_t *data, size_t len, struct unit_file *out)
{
	struct format_reader fr;
	struct record rec;
	uint32_t seen = 0;
	uint8_t version = 0, id[UNIT_ID_LEN];
	const uint32_t need = (1u << UNIT_ID) | (1u << UNIT_TPM_VERSION) | (1u << UNIT_STORAGE_PUBLIC) |
			      (1u << UNIT_STORAGE_NAME);
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	rv = format_open(&fr, data, len, KIND_UNIT, FILES_VERSION);
	if (rv != CKR_OK)
		return rv;
	while (format_next(&fr, &rec)) {
		bool ok;
		if (!record_once(fr.what, &seen, &rec, UNIT_LABEL))
			goto bad;
		switch (rec.tag) {
		case UNIT_ID:
			ok = record_fixed(&rec, out->id, sizeof(out->id));
			break;
		case UNIT_TPM_VERSION:
			ok = record_u8(&rec, &version) && (version == 20 || version == 12);
			break;
		case UNIT_STORAGE_PUBLIC:
			ok = record_blob(&rec, &out->tpm.storage_public);
			break;
		case UNIT_STORAGE_NAME:
			ok = record_blob(&rec, &out->tpm.name);
			break;
		default:
			ok = record_label(&rec, out->label);
			break;
		}
		if (!ok) {
			LOGW("%s: record %u is malformed", fr.what, rec.tag);
			goto bad;
		}
	}
	if (fr.r.failed || (seen & need) != need) {
		LOGW("%s: truncated, or a required record is missing", fr.what);
		goto bad;
	}
	out->tpm.tpm_version = version;
	unit_id_of(&out->tpm, id);
	if (memcmp(id, out->id, sizeof(id)) != 0) {
		LOGW("%s: the unit id does not belong to its storage key", fr.what);
		goto bad;
	}
	return CKR_OK;
bad:
	unit_file_release(out);
	return CKR_DATA_INVALID;
}

void unit_file_release(struct unit_file *u)
{
	if (u)
		tpm_unit_identity_release(&u->tpm);
}

/* ---- the MA's signatures, checked in software ---- */

CK_RV domain_ma_verify(const struct domain_file *d, enum hash_alg hash, const uint8_t *msg, size_t msg_len,
		       const struct tpm_blob *sig)
{
	uint8_t digest[HASH_MAX_SIZE], em[512], expect[512], info[HASH_MAX_SIZE + 32];
	size_t prefix_len;
	const uint8_t *prefix;
	struct ma_key k;
	CK_RV rv;

	if ((rv = hash_digest(hash, msg, msg_len, digest)) != CKR_OK ||
	    (rv = ma_key_from_spki(d->ma_spki.data, d->ma_spki.len, &k)) != CKR_OK)
		return rv;
	if (k.type == TPM_KEY_RSA) {
		uint8_t e[4] = { (uint8_t)(k.e >> 24), (uint8_t)(k.e >> 16), (uint8_t)(k.e >> 8), (uint8_t)k.e };
		prefix = rsa_pad_digestinfo_prefix(hash, &prefix_len);
		memcpy(info, prefix, prefix_len);
		memcpy(info + prefix_len, digest, hash_size(hash));
		return sig->len == k.n_len &&
				       pk_rsa_public(k.n, k.n_len, e, sizeof(e), sig->data, sig->len, em) == CKR_OK &&
				       rsa_pad_pkcs1_sign(info, prefix_len + hash_size(hash), expect, k.n_len) == CKR_OK &&
				       memcmp(em, expect, k.n_len) == 0 ?
			       CKR_OK :
			       CKR_SIGNATURE_INVALID;
	}
	return sig->len == 64 ? pk_ecdsa_verify(NID_X9_62_prime256v1, k.x, k.y, 32, digest, hash_size(hash), sig->data) :
				CKR_SIGNATURE_INVALID;
}
