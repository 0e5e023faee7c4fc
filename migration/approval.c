#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "migration/approval.h"
#include "migration/format.h"

enum approval_tag {
	APPROVAL_DOMAIN_ID = 1,
	APPROVAL_UNIT_ID = 2,
	APPROVAL_SIGNATURE = 3, /* the unit's (TPM 2.0) */
	APPROVAL_CREATED = 4,
	APPROVAL_KEY = 5,       /* repeated: a key's (TPM 1.2) */
};

enum request_tag {
	REQUEST_DOMAIN_ID = 1,
	REQUEST_UNIT = 2,       /* the destination's identity file */
	REQUEST_KEY = 3,        /* repeated */
};

enum key_tag {
	KEY_PUBLIC = 1,
	KEY_SIGNATURE = 2,
	KEY_LABEL = 3,
};

#define MAX_KEYS 10000

CK_RV approval_message(const struct domain_file *d, const struct unit_file *u, uint8_t *msg,
		       size_t *msg_len, enum hash_alg *hash)
{
	return tpm_approval_message(&d->tpm, &u->tpm, NULL, msg, msg_len, hash);
}

CK_RV approval_key_message(const struct domain_file *d, const struct unit_file *u,
			   const struct tpm_blob *key_public, uint8_t *msg, size_t *msg_len, enum hash_alg *hash)
{
	return tpm_approval_message(&d->tpm, &u->tpm, key_public, msg, msg_len, hash);
}

static void put_key(struct buf *out, uint16_t tag, const struct approval_key *k)
{
	struct buf rec = BUF_INIT;
	uint8_t *bytes;
	size_t len = 0;

	format_put(&rec, KEY_PUBLIC, k->key_public.data, k->key_public.len);
	if (k->signature.len)
		format_put(&rec, KEY_SIGNATURE, k->signature.data, k->signature.len);
	if (k->label[0])
		format_put(&rec, KEY_LABEL, k->label, strlen(k->label));
	bytes = buf_take(&rec, &len);
	if (!bytes) {
		out->failed = true;
		return;
	}
	format_put(out, tag, bytes, len);
	free(bytes);
}

CK_RV approval_file_write(const struct domain_file *d, const struct unit_file *u, const struct tpm_blob *unit_sig,
			  const struct approval_key *keys, size_t nkeys, struct buf *out)
{
	if ((!unit_sig || !unit_sig->len) && !nkeys)
		return CKR_ARGUMENTS_BAD;
	format_begin(out, KIND_APPROVAL, FILES_VERSION);
	format_put(out, APPROVAL_DOMAIN_ID, d->tpm.id, sizeof(d->tpm.id));
	format_put(out, APPROVAL_UNIT_ID, u->id, sizeof(u->id));
	if (unit_sig && unit_sig->len)
		format_put(out, APPROVAL_SIGNATURE, unit_sig->data, unit_sig->len);
	format_put_u64(out, APPROVAL_CREATED, (uint64_t)time(NULL));
	for (size_t i = 0; i < nkeys; i++)
		put_key(out, APPROVAL_KEY, &keys[i]);
	return out->failed ? CKR_HOST_MEMORY : CKR_OK;
}

CK_RV approval_file_create(const struct domain_file *d, const struct unit_file *u, const uint8_t *sig,
			   size_t sig_len, struct buf *out)
{
	struct tpm_blob s = { .data = (uint8_t *)sig, .len = sig_len };

	return approval_file_write(d, u, &s, NULL, 0, out);
}

static void keys_release(struct approval_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tpm_blob_release(&keys[i].key_public);
		tpm_blob_release(&keys[i].signature);
	}
	free(keys);
}

/* One nested key record; signatures required in approvals, refused in requests. */
static bool parse_key(const struct record *outer, bool signed_key, struct approval_key **keys, size_t *n)
{
	struct format_reader fr = { .r = reader_init(outer->value, outer->len), .what = "approval key",
				    .start = outer->value };
	struct approval_key k = { 0 }, *grown;
	struct record rec;
	uint32_t seen = 0;
	bool ok = *n < MAX_KEYS;

	while (ok && format_next(&fr, &rec)) {
		ok = record_once(fr.what, &seen, &rec, KEY_LABEL);
		if (!ok)
			break;
		switch (rec.tag) {
		case KEY_PUBLIC:
			ok = record_blob(&rec, &k.key_public);
			break;
		case KEY_SIGNATURE:
			ok = signed_key && rec.len <= 512 && record_blob(&rec, &k.signature);
			break;
		default:
			ok = record_label(&rec, k.label);
			break;
		}
	}
	ok = ok && !fr.r.failed && (seen & (1u << KEY_PUBLIC)) && (!signed_key || (seen & (1u << KEY_SIGNATURE)));
	if (ok) {
		grown = realloc(*keys, (*n + 1) * sizeof(*grown));
		ok = grown != NULL;
		if (ok) {
			*keys = grown;
			grown[(*n)++] = k;
			return true;
		}
	}
	tpm_blob_release(&k.key_public);
	tpm_blob_release(&k.signature);
	return false;
}

CK_RV approval_file_parse(const uint8_t *data, size_t len, struct approval_file *out)
{
	struct format_reader fr;
	struct record rec;
	uint32_t seen = 0;
	const uint32_t need = (1u << APPROVAL_DOMAIN_ID) | (1u << APPROVAL_UNIT_ID);
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	rv = format_open(&fr, data, len, KIND_APPROVAL, FILES_VERSION);
	if (rv != CKR_OK)
		return rv;
	while (format_next(&fr, &rec)) {
		bool ok;
		if (rec.tag != APPROVAL_KEY && !record_once(fr.what, &seen, &rec, APPROVAL_KEY))
			goto bad;
		switch (rec.tag) {
		case APPROVAL_DOMAIN_ID:
			ok = record_fixed(&rec, out->domain_id, sizeof(out->domain_id));
			break;
		case APPROVAL_UNIT_ID:
			ok = record_fixed(&rec, out->unit_id, sizeof(out->unit_id));
			break;
		case APPROVAL_SIGNATURE:
			ok = rec.len <= 512 && record_blob(&rec, &out->signature);
			break;
		case APPROVAL_CREATED:
			ok = record_u64(&rec, &out->created);
			break;
		default:
			ok = parse_key(&rec, true, &out->keys, &out->nkeys);
			break;
		}
		if (!ok) {
			LOGW("%s: record %u is malformed", fr.what, rec.tag);
			goto bad;
		}
	}
	if (fr.r.failed || (seen & need) != need || (!out->signature.len && !out->nkeys)) {
		LOGW("%s: truncated, or a required record is missing", fr.what);
		goto bad;
	}
	return CKR_OK;
bad:
	approval_file_release(out);
	return CKR_DATA_INVALID;
}

void approval_file_release(struct approval_file *a)
{
	if (!a)
		return;
	tpm_blob_release(&a->signature);
	keys_release(a->keys, a->nkeys);
	a->keys = NULL;
	a->nkeys = 0;
}

CK_RV approval_verify(const struct domain_file *d, const struct unit_file *u, const struct approval_file *a)
{
	uint8_t msg[256];
	size_t msg_len = sizeof(msg);
	enum hash_alg hash;
	char id[40];
	CK_RV rv = CKR_OK;

	if (memcmp(a->domain_id, d->tpm.id, sizeof(a->domain_id)) != 0) {
		LOGW("the approval is for another domain (%s)", hex_id(a->domain_id, 8, id, sizeof(id)));
		return CKR_SIGNATURE_INVALID;
	}
	if (memcmp(a->unit_id, u->id, sizeof(u->id)) != 0) {
		LOGW("the approval names unit %s, not %s", hex_id(a->unit_id, 8, id, sizeof(id)),
		     u->label[0] ? u->label : "this one");
		return CKR_SIGNATURE_INVALID;
	}
	if (a->signature.len) {
		rv = approval_message(d, u, msg, &msg_len, &hash);
		if (rv == CKR_OK)
			rv = domain_ma_verify(d, hash, msg, msg_len, &a->signature);
	}
	for (size_t i = 0; rv == CKR_OK && i < a->nkeys; i++) {
		msg_len = sizeof(msg);
		rv = approval_key_message(d, u, &a->keys[i].key_public, msg, &msg_len, &hash);
		if (rv == CKR_OK)
			rv = domain_ma_verify(d, hash, msg, msg_len, &a->keys[i].signature);
	}
	if (rv == CKR_SIGNATURE_INVALID)
		LOGW("the approval was not signed by this domain's migration authority");
	else if (rv != CKR_OK)
		LOGW("the approval does not fit unit %s (0x%lx)", u->label[0] ? u->label : "?", (unsigned long)rv);
	return rv == CKR_OK ? rv : CKR_SIGNATURE_INVALID;
}

const struct tpm_blob *approval_key_signature(const struct approval_file *a, const struct tpm_blob *key_public)
{
	for (size_t i = 0; i < a->nkeys; i++)
		if (a->keys[i].key_public.len == key_public->len &&
		    memcmp(a->keys[i].key_public.data, key_public->data, key_public->len) == 0)
			return &a->keys[i].signature;
	return NULL;
}

/* ---- requests ---- */

CK_RV approval_request_write(const struct domain_file *d, const uint8_t *unit, size_t unit_len,
			     const struct approval_key *keys, size_t nkeys, struct buf *out)
{
	format_begin(out, KIND_APPROVAL_REQUEST, FILES_VERSION);
	format_put(out, REQUEST_DOMAIN_ID, d->tpm.id, sizeof(d->tpm.id));
	format_put(out, REQUEST_UNIT, unit, unit_len);
	for (size_t i = 0; i < nkeys; i++) {
		struct approval_key unsigned_key = keys[i];
		unsigned_key.signature.len = 0;
		put_key(out, REQUEST_KEY, &unsigned_key);
	}
	return out->failed ? CKR_HOST_MEMORY : CKR_OK;
}

CK_RV approval_request_parse(const uint8_t *data, size_t len, struct approval_request *out)
{
	struct format_reader fr;
	struct record rec;
	uint32_t seen = 0;
	const uint32_t need = (1u << REQUEST_DOMAIN_ID) | (1u << REQUEST_UNIT);
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	rv = format_open(&fr, data, len, KIND_APPROVAL_REQUEST, FILES_VERSION);
	if (rv != CKR_OK)
		return rv;
	while (format_next(&fr, &rec)) {
		bool ok;
		if (rec.tag != REQUEST_KEY && !record_once(fr.what, &seen, &rec, REQUEST_KEY))
			goto bad;
		switch (rec.tag) {
		case REQUEST_DOMAIN_ID:
			ok = record_fixed(&rec, out->domain_id, sizeof(out->domain_id));
			break;
		case REQUEST_UNIT:
			ok = record_blob(&rec, &out->unit_bytes) &&
			     unit_file_parse(out->unit_bytes.data, out->unit_bytes.len, &out->unit) == CKR_OK;
			break;
		default:
			ok = parse_key(&rec, false, &out->keys, &out->nkeys);
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
	return CKR_OK;
bad:
	approval_request_release(out);
	return CKR_DATA_INVALID;
}

void approval_request_release(struct approval_request *r)
{
	if (!r)
		return;
	tpm_blob_release(&r->unit_bytes);
	unit_file_release(&r->unit);
	keys_release(r->keys, r->nkeys);
	r->keys = NULL;
	r->nkeys = 0;
}
