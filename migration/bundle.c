#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/secret.h"
#include "migration/bundle.h"
#include "migration/format.h"

enum bundle_tag {
	B_TPM_VERSION = 1,
	B_DOMAIN_ID = 2,
	B_SOURCE_UNIT = 3,
	B_DEST_UNIT = 4,
	B_TOKEN_SERIAL = 5,
	B_TOKEN_LABEL = 6,
	B_WHOLE_TOKEN = 7,
	B_CREATED = 8,
	B_MAC_KEY = 9,
	B_SO_SEAL = 10,
	B_USER_SEAL = 11,
	B_OBJECT = 12,
	B_MAC = 15, /* last: HMAC-SHA-256 of every byte before this record */
};

enum object_tag {
	O_PRIVATE = 1,
	O_ATTRS = 2,
	O_KEY_DUP = 3,
	O_KEY_AUTH = 4,
};

#define MAX_PART (1u << 20)

static void move_blob(struct tpm_blob *dst, struct tpm_blob *src)
{
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

CK_RV bundle_add(struct bundle *b, bool is_private, struct tpm_blob *attrs, struct tpm_blob *key_dup,
		 struct tpm_blob *key_auth)
{
	struct bundle_object *grown, *o;

	if (b->nobjects >= BUNDLE_MAX_OBJECTS)
		return CKR_DEVICE_MEMORY;
	grown = realloc(b->objects, (b->nobjects + 1) * sizeof(*grown));
	if (!grown)
		return CKR_HOST_MEMORY;
	b->objects = grown;
	o = &b->objects[b->nobjects++];
	memset(o, 0, sizeof(*o));
	o->is_private = is_private;
	move_blob(&o->attrs, attrs);
	if (key_dup)
		move_blob(&o->key_dup, key_dup);
	if (key_auth)
		move_blob(&o->key_auth, key_auth);
	return CKR_OK;
}

static CK_RV mac_of(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len, uint8_t out[32])
{
	const void *parts[] = { data };
	const size_t lens[] = { len };

	return hash_hmac(HASH_SHA256, key, key_len, parts, lens, 1, out);
}

CK_RV bundle_write(const struct bundle *b, const uint8_t mac_key[BUNDLE_MAC_KEY_LEN], struct buf *out)
{
	uint8_t mac[32];
	CK_RV rv;

	format_begin(out, KIND_BUNDLE, BUNDLE_VERSION);
	format_put_u8(out, B_TPM_VERSION, (uint8_t)b->tpm_version);
	format_put(out, B_DOMAIN_ID, b->domain_id, sizeof(b->domain_id));
	format_put(out, B_SOURCE_UNIT, b->source_unit, sizeof(b->source_unit));
	format_put(out, B_DEST_UNIT, b->dest_unit, sizeof(b->dest_unit));
	format_put(out, B_TOKEN_SERIAL, b->serial, strlen(b->serial));
	format_put(out, B_TOKEN_LABEL, b->label, sizeof(b->label));
	format_put_u8(out, B_WHOLE_TOKEN, b->whole_token);
	format_put_u64(out, B_CREATED, b->created);
	format_put(out, B_MAC_KEY, b->mac_key.data, b->mac_key.len);
	if (b->so_seal.len)
		format_put(out, B_SO_SEAL, b->so_seal.data, b->so_seal.len);
	if (b->user_seal.len)
		format_put(out, B_USER_SEAL, b->user_seal.data, b->user_seal.len);
	for (size_t i = 0; i < b->nobjects; i++) {
		const struct bundle_object *o = &b->objects[i];
		struct buf rec = BUF_INIT;
		uint8_t *bytes;
		size_t len = 0;

		format_put_u8(&rec, O_PRIVATE, o->is_private);
		format_put(&rec, O_ATTRS, o->attrs.data, o->attrs.len);
		if (o->key_dup.len)
			format_put(&rec, O_KEY_DUP, o->key_dup.data, o->key_dup.len);
		if (o->key_auth.len)
			format_put(&rec, O_KEY_AUTH, o->key_auth.data, o->key_auth.len);
		bytes = buf_take(&rec, &len);
		if (!bytes)
			return CKR_HOST_MEMORY;
		format_put(out, B_OBJECT, bytes, len);
		free(bytes);
	}
	if (out->failed)
		return CKR_HOST_MEMORY;
	rv = mac_of(mac_key, BUNDLE_MAC_KEY_LEN, out->data, out->len, mac);
	if (rv != CKR_OK)
		return rv;
	format_put(out, B_MAC, mac, sizeof(mac));
	return out->failed ? CKR_HOST_MEMORY : CKR_OK;
}

static bool part(const struct record *rec, struct tpm_blob *out)
{
	return rec->len && rec->len <= MAX_PART && tpm_blob_copy(out, rec->value, rec->len) == CKR_OK;
}

static bool parse_object(const struct record *outer, struct bundle *b)
{
	struct format_reader fr = { .r = reader_init(outer->value, outer->len), .what = "bundle object",
				    .start = outer->value };
	struct tpm_blob attrs = { 0 }, dup = { 0 }, auth = { 0 };
	struct record rec;
	uint32_t seen = 0;
	uint8_t is_private = 0;
	bool ok = true;

	while (ok && format_next(&fr, &rec)) {
		if (rec.tag < O_PRIVATE || rec.tag > O_KEY_AUTH || (seen & (1u << rec.tag))) {
			ok = false;
			break;
		}
		seen |= 1u << rec.tag;
		switch (rec.tag) {
		case O_PRIVATE:
			ok = record_u8(&rec, &is_private) && is_private <= 1;
			break;
		case O_ATTRS:
			ok = part(&rec, &attrs);
			break;
		case O_KEY_DUP:
			ok = part(&rec, &dup);
			break;
		default:
			ok = part(&rec, &auth);
			break;
		}
	}
	/* A key travels with its auth value, or neither is there. */
	ok = ok && !fr.r.failed && (seen & (1u << O_PRIVATE)) && (seen & (1u << O_ATTRS)) &&
	     !(seen & (1u << O_KEY_DUP)) == !(seen & (1u << O_KEY_AUTH));
	if (ok)
		ok = bundle_add(b, is_private, &attrs, &dup, &auth) == CKR_OK;
	tpm_blob_release(&attrs);
	tpm_blob_release(&dup);
	tpm_blob_release(&auth);
	return ok;
}

CK_RV bundle_parse(const uint8_t *data, size_t len, struct bundle *out)
{
	struct format_reader fr;
	struct record rec;
	uint32_t seen = 0;
	uint8_t u8;
	const uint32_t need = (1u << B_TPM_VERSION) | (1u << B_DOMAIN_ID) | (1u << B_SOURCE_UNIT) |
			      (1u << B_DEST_UNIT) | (1u << B_TOKEN_SERIAL) | (1u << B_TOKEN_LABEL) |
			      (1u << B_WHOLE_TOKEN) | (1u << B_MAC_KEY);
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	rv = format_open(&fr, data, len, KIND_BUNDLE, BUNDLE_VERSION);
	if (rv != CKR_OK)
		return rv == CKR_DATA_LEN_RANGE ? CKR_WRAPPED_KEY_LEN_RANGE : CKR_WRAPPED_KEY_INVALID;
	for (;;) {
		size_t at = format_offset(&fr);
		bool ok;
		if (!format_next(&fr, &rec))
			break;
		if (rec.tag != B_OBJECT) {
			if (rec.tag == 0 || rec.tag > B_MAC || (seen & (1u << rec.tag))) {
				LOGW("bundle: unknown or repeated record %u", rec.tag);
				goto bad;
			}
			seen |= 1u << rec.tag;
		}
		switch (rec.tag) {
		case B_TPM_VERSION:
			ok = record_u8(&rec, &u8) && (u8 == 20 || u8 == 12);
			out->tpm_version = u8;
			break;
		case B_DOMAIN_ID:
			ok = record_fixed(&rec, out->domain_id, sizeof(out->domain_id));
			break;
		case B_SOURCE_UNIT:
			ok = record_fixed(&rec, out->source_unit, sizeof(out->source_unit));
			break;
		case B_DEST_UNIT:
			ok = record_fixed(&rec, out->dest_unit, sizeof(out->dest_unit));
			break;
		case B_TOKEN_SERIAL:
			ok = rec.len == 16 && record_fixed(&rec, out->serial, 16);
			for (size_t i = 0; ok && i < 16; i++)
				ok = (out->serial[i] >= '0' && out->serial[i] <= '9') ||
				     (out->serial[i] >= 'a' && out->serial[i] <= 'f');
			out->serial[16] = '\0';
			break;
		case B_TOKEN_LABEL:
			ok = record_fixed(&rec, out->label, sizeof(out->label));
			break;
		case B_WHOLE_TOKEN:
			ok = record_u8(&rec, &u8) && u8 <= 1;
			out->whole_token = u8;
			break;
		case B_CREATED:
			ok = record_u64(&rec, &out->created);
			break;
		case B_MAC_KEY:
			ok = part(&rec, &out->mac_key);
			break;
		case B_SO_SEAL:
			ok = part(&rec, &out->so_seal);
			break;
		case B_USER_SEAL:
			ok = part(&rec, &out->user_seal);
			break;
		case B_OBJECT:
			ok = parse_object(&rec, out);
			break;
		case B_MAC:
			ok = record_fixed(&rec, out->mac, sizeof(out->mac)) && fr.r.left == 0;
			out->signed_part = data;
			out->signed_len = at;
			break;
		default:
			ok = false;
			break;
		}
		if (!ok) {
			LOGW("bundle: record %u is malformed", rec.tag);
			goto bad;
		}
	}
	if (fr.r.failed || (seen & need) != need || !(seen & (1u << B_MAC))) {
		LOGW("bundle: truncated, or a required record is missing");
		goto bad;
	}
	if (out->whole_token && !out->so_seal.len) {
		LOGW("bundle: a whole token without its SO PIN seal");
		goto bad;
	}
	return CKR_OK;
bad:
	bundle_release(out);
	return CKR_WRAPPED_KEY_INVALID;
}

CK_RV bundle_check_mac(const struct bundle *b, const uint8_t *mac_key, size_t len)
{
	uint8_t mac[32];
	CK_RV rv = mac_of(mac_key, len, b->signed_part, b->signed_len, mac);

	if (rv != CKR_OK)
		return rv;
	if (secret_cmp(mac, b->mac, sizeof(mac)) != 0) {
		LOGW("bundle: its authentication code does not match: the bundle was changed on the way");
		return CKR_WRAPPED_KEY_INVALID;
	}
	return CKR_OK;
}

void bundle_release(struct bundle *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nobjects; i++) {
		tpm_blob_release(&b->objects[i].attrs);
		tpm_blob_release(&b->objects[i].key_dup);
		tpm_blob_release(&b->objects[i].key_auth);
	}
	free(b->objects);
	tpm_blob_release(&b->mac_key);
	tpm_blob_release(&b->so_seal);
	tpm_blob_release(&b->user_seal);
	memset(b, 0, sizeof(*b));
}
