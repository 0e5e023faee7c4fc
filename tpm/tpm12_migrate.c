/* Migration on TPM 1.2 (DESIGN.md, "Migration on TPM 1.2"): the unit's keys, its
 * identity, certifiable migratable keys (CMK) moved to units the migration authority
 * (MA) approved, and short secrets only one unit can open.
 *
 * The unit's keys, both non-migratable, under the SRK, with the well-known auth:
 *   D  a storage key: the parent keys are migrated to (TPM_CMK_ConvertMigration),
 *      and what approvals name;
 *   U  a bind key (encScheme OAEP): a storage key cannot TPM_UnBind, so wrapped
 *      secrets (secret_wrap) are TPM 1.2 bound data for U.
 * The backend has no store of its own: they are made once and kept in
 * <store>/tpm12-unit-<first 8 bytes of SHA-1(SRK's TPM_PUBKEY), hex>.keys
 *     0x01 || u32 len || D's TPM_KEY12 || u32 len || U's TPM_KEY12
 * (useless anywhere but under this SRK; a new owner makes a new SRK, a new file and
 * a new identity, and voids every approval naming the old one).
 *
 * Identity: storage_public = D's TPM_PUBKEY || U's TPM_PUBKEY (284 bytes each),
 * name = SHA-1 of D's TPM_PUBKEY (what TPM_CMK_AUTH.destinationKeyDigest holds).
 *
 * Duplicate format, version 1 (key_export -> key_import_duplicate), big-endian:
 *     0x92 || u8 kind (1 key, 3 domain PIN object) || domain id (16)
 *          || SHA-1 of the MA's TPM_PUBKEY (20) || destination name (20)
 *          || u32 len || migrated TPM_KEY12 (TPM_CMK_CreateBlob's outData as encData)
 *          || u32 len || random (the other half of TPM_MS_RESTRICT_APPROVE's double wrap)
 *          || u32 len || the MA's approval (RSASSA-PKCS1-v1_5-SHA1 over TPM_CMK_AUTH)
 *          || u32 len || bound secret (kind 3: 256 bytes; else empty)
 * The destination runs TPM_CMK_CreateTicket with the same approval (its TPM checks
 * the MA's signature), then TPM_CMK_ConvertMigration under its D, which checks that
 * the key's MSA list is the domain's and the restrict ticket names D and this key.
 *
 * Wrapped secret format, version 1: 0xb2 || SHA-1 of U's TPM_PUBKEY (20) || bound data (256).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>



#include "common/buf.h"
#include "common/log.h"
#include "common/secret.h"
#include "tpm/tpm12_int.h"

/* trousers trap (1): TSPI has no way to put a migration blob made by another
 * process (another unit) into a MIGDATA object: TSS_MIGATTRIB_MIG_XOR_BLOB is not a
 * settable subflag, and only Tspi_Key_CMKCreateBlob fills it, in the source's own
 * process. libtspi exports the internal setter it uses; configure checks that the
 * symbol is there (HAVE_OBJ_MIGDATA_SET_BLOB), and this is its signature in
 * trousers 0.3.x (src/tspi/obj_migdata.c). */
extern TSS_RESULT obj_migdata_set_blob(TSS_HMIGDATA hMigData, UINT32 blobSize, BYTE *blob);

#define UNIT_FILE_VERSION 1

/* --- the unit's keys --- */

static CK_RV unit_path(struct tpm12 *t, char *path, size_t len)
{
	uint8_t d[TPM12_DIGEST];
	char id[17];
	CK_RV rv = tpm12_srk_public(t);

	if (rv != CKR_OK)
		return rv;
	if (!t->store_dir) {
		LOGE("no store directory in the configuration: the TPM 1.2 unit keys have nowhere to live");
		return CKR_DEVICE_ERROR;
	}
	if (hash_digest(HASH_SHA1, t->srk_pub, sizeof(t->srk_pub), d) != CKR_OK)
		return CKR_GENERAL_ERROR;
	tpm12_hex8(d, id);
	if ((size_t)snprintf(path, len, "%s/tpm12-unit-%s.keys", t->store_dir, id) >= len)
		return CKR_DEVICE_ERROR;
	return CKR_OK;
}

static CK_RV unit_parse(struct tpm12 *t, const uint8_t *p, size_t len)
{
	struct reader r = reader_init(p, len);
	const uint8_t *d, *u;
	size_t dl = 0, ul = 0;
	CK_RV rv;

	if (read_u8(&r) != UNIT_FILE_VERSION)
		return CKR_DATA_INVALID;
	d = read_lv(&r, &dl, 4096);
	u = read_lv(&r, &ul, 4096);
	if (r.failed || r.left)
		return CKR_DATA_INVALID;
	tpm12_key_clear(&t->unit_d);
	tpm12_key_clear(&t->unit_u);
	rv = tpm12_key_init(&t->unit_d, d, dl, TPM12_PARENT_SRK, NULL);
	if (rv == CKR_OK)
		rv = tpm12_key_init(&t->unit_u, u, ul, TPM12_PARENT_SRK, NULL);
	if (rv == CKR_OK && (t->unit_d.info.usage != TPM_KEY_STORAGE || (t->unit_d.info.flags & TPM_MIGRATABLE) ||
			     t->unit_u.info.usage != TPM_KEY_BIND || (t->unit_u.info.flags & TPM_MIGRATABLE) ||
			     t->unit_u.info.enc_scheme != TPM_ES_RSAESOAEP_SHA1_MGF1))
		rv = CKR_DATA_INVALID;
	t->unit_d.pinned = t->unit_u.pinned = true;
	return rv;
}

static CK_RV read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[8192];
	size_t n;

	if (!f)
		return errno == ENOENT ? CKR_OBJECT_HANDLE_INVALID : CKR_DEVICE_ERROR;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n == sizeof(buf))
		return CKR_DATA_INVALID;
	*out = malloc(n);
	if (!*out)
		return CKR_HOST_MEMORY;
	memcpy(*out, buf, n);
	*len = n;
	return CKR_OK;
}

/* Write once: a temporary file linked to its name, so two processes making the
 * unit's keys at the same moment agree on the first one written. */
static CK_RV write_once(const char *path, const uint8_t *p, size_t len)
{
	char tmp[4200];
	int fd;
	bool ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
		return CKR_DEVICE_ERROR;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		LOGE("cannot write %s: %s", tmp, strerror(errno));
		return CKR_DEVICE_ERROR;
	}
	ok = write(fd, p, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (ok && link(tmp, path) != 0 && errno != EEXIST) {
		LOGE("cannot create %s: %s", path, strerror(errno));
		ok = false;
	}
	unlink(tmp);
	return ok ? CKR_OK : CKR_DEVICE_ERROR;
}

static CK_RV unit_create(struct tpm12 *t, const char *path)
{
	const UINT32 base = TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12 | TSS_KEY_AUTHORIZATION |
			    TSS_KEY_NOT_MIGRATABLE;
	struct tpm_blob d = { 0 }, u = { 0 };
	struct buf b = BUF_INIT;
	CK_RV rv;

	LOGI("creating this unit's TPM 1.2 keys (storage key D and bind key U) in %s", path);
	rv = tpm12_create_key(t, base | TSS_KEY_TYPE_STORAGE, 0, 0, NULL, NULL, NULL, t->hsrk, &d);
	if (rv == CKR_OK)
		rv = tpm12_create_key(t, base | TSS_KEY_TYPE_BIND, 0, TSS_ES_RSAESOAEP_SHA1_MGF1, NULL, NULL,
				      NULL, t->hsrk, &u);
	if (rv != CKR_OK)
		goto out;
	buf_put_u8(&b, UNIT_FILE_VERSION);
	buf_put_lv(&b, d.data, d.len);
	buf_put_lv(&b, u.data, u.len);
	rv = b.failed ? CKR_HOST_MEMORY : write_once(path, b.data, b.len);
out:
	buf_release(&b);
	tpm_blob_release(&d);
	tpm_blob_release(&u);
	return rv;
}

/* Lock held. The unit's keys known; D loaded. */
CK_RV tpm12_unit_ready(struct tpm12 *t)
{
	char path[4096];
	uint8_t *p = NULL;
	size_t len = 0;
	CK_RV rv = tpm12_ready(t);

	if (rv != CKR_OK)
		return rv;
	if (!t->unit_known) {
		rv = unit_path(t, path, sizeof(path));
		if (rv != CKR_OK)
			return rv;
		rv = read_file(path, &p, &len);
		if (rv == CKR_OBJECT_HANDLE_INVALID) {
			rv = unit_create(t, path);
			if (rv == CKR_OK)
				rv = read_file(path, &p, &len);
		}
		if (rv == CKR_OK)
			rv = unit_parse(t, p, len);
		free(p);
		if (rv != CKR_OK) {
			LOGE("the TPM 1.2 unit keys in %s cannot be used", path);
			return rv == CKR_HOST_MEMORY ? rv : CKR_DEVICE_ERROR;
		}
		t->unit_known = true;
	}
	return tpm12_key_ready(t, &t->unit_d);
}

CK_RV tpm12_storage_key_name(struct tpm_backend *tb, struct tpm_blob *name)
{
	struct tpm12 *t = tpm12_of(tb);
	CK_RV rv;

	if (!name)
		return CKR_ARGUMENTS_BAD;
	tpm12_lock(t);
	rv = tpm12_unit_ready(t);
	if (rv == CKR_OK)
		rv = tpm_blob_copy(name, t->unit_d.info.pub_digest, TPM12_DIGEST);
	tpm12_unlock(t);
	return rv;
}

CK_RV tpm12_unit_identity(struct tpm_backend *tb, struct tpm_unit_identity *out)
{
	struct tpm12 *t = tpm12_of(tb);
	uint8_t pub[TPM12_IDENTITY_SIZE];
	CK_RV rv;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	memset(out, 0, sizeof(*out));
	tpm12_lock(t);
	rv = tpm12_unit_ready(t);
	if (rv == CKR_OK) {
		memcpy(pub, t->unit_d.info.pubkey, TPM12_PUBKEY_SIZE);
		memcpy(pub + TPM12_PUBKEY_SIZE, t->unit_u.info.pubkey, TPM12_PUBKEY_SIZE);
		rv = tpm_blob_copy(&out->storage_public, pub, sizeof(pub));
	}
	if (rv == CKR_OK)
		rv = tpm_blob_copy(&out->name, t->unit_d.info.pub_digest, TPM12_DIGEST);
	tpm12_unlock(t);
	if (rv != CKR_OK) {
		tpm_unit_identity_release(out);
		return rv;
	}
	out->tpm_version = 12;
	return CKR_OK;
}

/* --- export --- */

enum step { STEP_NONE, STEP_TICKET, STEP_AUTHORIZE, STEP_BLOB, STEP_CONVERT };

static const char *const step_what[] = {
	[STEP_NONE] = "exporting a key",
	[STEP_TICKET] = "TPM_CMK_CreateTicket (the MA's approval)",
	[STEP_AUTHORIZE] = "TPM_AuthorizeMigrationKey (TPM_MS_RESTRICT_APPROVE)",
	[STEP_BLOB] = "TPM_CMK_CreateBlob",
	[STEP_CONVERT] = "TPM_CMK_ConvertMigration",
};

/* A MIGDATA object with the domain's MSA list, the restrict ticket and the MA's
 * signature over it, turned into a signature ticket by TPM_CMK_CreateTicket. */
static TSS_RESULT ticket(struct tpm12 *t, const struct tpm_domain *d, const uint8_t *ma_digest,
			 const uint8_t *restrict_ticket, const uint8_t *sig, size_t sig_len,
			 TSS_HMIGDATA *m, TSS_HKEY *hma)
{
	TSS_RESULT r = tpm12_migdata(t, m);

	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(*m, TSS_MIGATTRIB_AUTHORITY_DATA, TSS_MIGATTRIB_AUTHORITY_MSALIST,
				       TPM12_DIGEST, (BYTE *)ma_digest);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(*m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_RESTRICT_TICKET,
				       3 * TPM12_DIGEST, (BYTE *)restrict_ticket);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(*m, TSS_MIGATTRIB_TICKET_DATA, TSS_MIGATTRIB_TICKET_SIG_VALUE,
				       (UINT32)sig_len, (BYTE *)sig);
	if (r == TSS_SUCCESS)
		r = tpm12_pubkey_object(t, d->ma_tpm12.data, d->ma_tpm12.len, hma);
	if (r == TSS_SUCCESS)
		r = Tspi_TPM_CMKCreateTicket(t->htpm, *hma, *m);
	return r;
}

struct export {
	struct tpm12_blob b;
	struct tpm_key key;
	uint8_t msa[TPM12_DIGEST], ma[TPM12_DIGEST], dest[TPM12_DIGEST], u[TPM12_DIGEST];
	uint8_t restrict_ticket[3 * TPM12_DIGEST];
	uint8_t dpub[TPM12_PUBKEY_SIZE];
	char unit[17];
	struct tpm_blob migrated, random;
};

/* TPM_CMK_CreateBlob takes the key's encrypted blob and its loaded parent, never the
 * key itself: loading the key (TPM_LoadKey2, as long as a signature) would be work the
 * TPM throws away. So the key is an object built from its blob, and only the parent is
 * made ready. */
static CK_RV export_key_object(struct tpm12 *t, const struct tpm_key *k, TSS_HKEY *parent,
			       TSS_HKEY *out)
{
	CK_RV rv = k->parent == TPM12_PARENT_UNIT ? tpm12_unit_ready(t) : tpm12_ready(t);
	TSS_RESULT r;

	if (rv != CKR_OK)
		return rv;
	*parent = k->parent == TPM12_PARENT_UNIT ? t->unit_d.hkey : t->hsrk;
	r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_RSAKEY,
				      TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12, out);
	if (r == TSS_SUCCESS)
		r = Tspi_SetAttribData(*out, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_BLOB,
				       (UINT32)k->blob_len, k->blob);
	if (r != TSS_SUCCESS) {
		if (*out)
			Tspi_Context_CloseObject(t->ctx, *out);
		*out = 0;
		return tpm12_rv(t, r, "reading the key to export", 0);
	}
	return CKR_OK;
}

static CK_RV export_run(struct tpm12 *t, const struct tpm_domain *d, struct export *e,
			const uint8_t *approval, size_t approval_len)
{
	TSS_HMIGDATA m = 0;
	TSS_HKEY hma = 0, hd = 0, hkey = 0, hparent = 0;
	BYTE *p = NULL;
	UINT32 n = 0;
	TSS_RESULT r;
	enum step step = STEP_TICKET;
	CK_RV rv;

	rv = export_key_object(t, &e->key, &hparent, &hkey);
	if (rv != CKR_OK)
		return rv;
	r = ticket(t, d, e->ma, e->restrict_ticket, approval, approval_len, &m, &hma);
	if (r == TSS_SUCCESS) {
		step = STEP_AUTHORIZE;
		r = tpm12_pubkey_object(t, e->dpub, sizeof(e->dpub), &hd);
	}
	if (r == TSS_SUCCESS)
		r = Tspi_TPM_AuthorizeMigrationTicket(t->htpm, hd, TSS_MS_RESTRICT_APPROVE_DOUBLE, &n, &p);
	if (r == TSS_SUCCESS) {
		/* trousers trap (2): copy at once (here: set it, then free it) */
		r = Tspi_SetAttribData(m, TSS_MIGATTRIB_MIGRATIONTICKET, 0, n, p);
		Tspi_Context_FreeMemory(t->ctx, p);
		p = NULL;
	}
	if (r == TSS_SUCCESS) {
		step = STEP_BLOB;
		r = Tspi_Key_CMKCreateBlob(hkey, hparent, m, &n, &p);
	}
	if (r == TSS_SUCCESS) {
		rv = tpm12_take_blob(t, p, n, &e->random);
		p = NULL;
		if (rv == CKR_OK) {
			r = Tspi_GetAttribData(m, TSS_MIGATTRIB_MIGRATIONBLOB, TSS_MIGATTRIB_MIG_XOR_BLOB, &n,
					       &p);
			if (r == TSS_SUCCESS)
				rv = tpm12_take_blob(t, p, n, &e->migrated);
		}
	}
	if (hma)
		Tspi_Context_CloseObject(t->ctx, hma);
	if (hd)
		Tspi_Context_CloseObject(t->ctx, hd);
	Tspi_Context_CloseObject(t->ctx, hkey);
	if (r == TSS_SUCCESS)
		return rv;
	switch (tpm12_tpm_code(r)) {
	case TPM_E_DECRYPT_ERROR: /* the key's blob does not open under its parent */
		if (step != STEP_BLOB)
			break;
		LOGE("the TPM cannot open the key to export (%s, 0x%x): it was not made under this "
		     "TPM's %s (TPM cleared or replaced, or a blob from another unit)",
		     Trspi_Error_String(r), r,
		     e->key.parent == TPM12_PARENT_UNIT ? "unit storage key" : "SRK");
		return CKR_DEVICE_ERROR;
	case TPM_E_BAD_SIGNATURE:
	case TPM_E_MA_TICKET_SIGNATURE:
	case TPM_E_MA_DESTINATION:
	case TPM_E_MA_SOURCE:
	case TPM_E_MA_AUTHORITY:
	case TPM_E_BAD_MIGRATION:
	case TPM_E_AUTHFAIL: /* the signature ticket's HMAC does not match */
		if (tpm12_tpm_code(r) == TPM_E_AUTHFAIL && step != STEP_BLOB)
			break;
		LOGE("the TPM refused to export the key: the migration authority has not approved unit %s "
		     "for this key and domain (%s: %s, 0x%x)", e->unit, step_what[step],
		     Trspi_Error_String(r), r);
		return CKR_KEY_NOT_WRAPPABLE;
	default:
		break;
	}
	return tpm12_rv(t, r, step_what[step], 0);
}

CK_RV tpm12_key_export(struct tpm_backend *tb, const struct tpm_blob *blob, const struct tpm_domain *d,
		       const struct tpm_unit_identity *dest, const uint8_t *approval, size_t approval_len,
		       struct tpm_blob *out)
{
	struct tpm12 *t = tpm12_of(tb);
	struct export *e;
	struct buf b = BUF_INIT;
	CK_RV rv;

	if (!blob || !d || !dest || (!approval && approval_len) || !out)
		return CKR_ARGUMENTS_BAD;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CKR_HOST_MEMORY;
	rv = tpm12_blob_decode(blob->data, blob->len, &e->b);
	if (rv != CKR_OK || e->b.kind == TPM12_KIND_SEAL) {
		if (rv == CKR_OK) {
			LOGE("this PIN object was sealed without a migration domain: it can never leave "
			     "this TPM");
			rv = CKR_KEY_UNEXTRACTABLE;
		} else {
			LOGE("the blob to export is not a key or PIN object tpmha makes");
			rv = CKR_DATA_INVALID;
		}
		goto out;
	}
	rv = tpm12_key_init(&e->key, e->b.key, e->b.key_len, e->b.parent, NULL);
	if (rv != CKR_OK)
		goto out;
	if (!(e->key.info.flags & TPM_MIGRATEAUTHORITY)) {
		LOGE("this key was made without a migration domain: it can never leave this TPM");
		rv = CKR_KEY_UNEXTRACTABLE;
		goto out;
	}
	rv = tpm12_dest_parse(dest, e->dest, e->u, NULL);
	if (rv == CKR_OK)
		rv = tpm12_msa_digest(d, e->msa, e->ma);
	if (rv != CKR_OK)
		goto out;
	tpm12_hex8(e->dest, e->unit);
	memcpy(e->dpub, dest->storage_public.data, TPM12_PUBKEY_SIZE);
	if (approval_len != TPM12_MOD_SIZE) {
		LOGE("the approval for unit %s is not a signature of the domain's RSA-2048 migration "
		     "authority (%zu bytes)", e->unit, approval_len);
		rv = CKR_KEY_NOT_WRAPPABLE;
		goto out;
	}
	memcpy(e->restrict_ticket, e->ma, TPM12_DIGEST);
	memcpy(e->restrict_ticket + TPM12_DIGEST, e->dest, TPM12_DIGEST);
	memcpy(e->restrict_ticket + 2 * TPM12_DIGEST, e->key.info.pub_digest, TPM12_DIGEST);

	tpm12_lock(t);
	rv = tpm12_ready(t);
	if (rv == CKR_OK && e->key.parent == TPM12_PARENT_UNIT)
		rv = tpm12_unit_ready(t);
	if (rv == CKR_OK)
		rv = export_run(t, d, e, approval, approval_len);
	tpm12_key_unload(t, &e->key, true);
	tpm12_unlock(t);
	if (rv != CKR_OK)
		goto out;
	if (tpm12_key_parse(e->migrated.data, e->migrated.len, &e->key.info) != CKR_OK) {
		LOGE("TPM_CMK_CreateBlob returned a key blob we cannot read");
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	buf_put_u8(&b, TPM12_DUP_VERSION);
	buf_put_u8(&b, (uint8_t)e->b.kind);
	buf_put(&b, d->id, sizeof(d->id));
	buf_put(&b, e->ma, TPM12_DIGEST);
	buf_put(&b, e->dest, TPM12_DIGEST);
	buf_put_lv(&b, e->migrated.data, e->migrated.len);
	buf_put_lv(&b, e->random.data, e->random.len);
	buf_put_lv(&b, approval, approval_len);
	buf_put_lv(&b, e->b.data, e->b.kind == TPM12_KIND_DOMAIN_SEAL ? e->b.data_len : 0);
	out->data = buf_take(&b, &out->len);
	rv = out->data ? CKR_OK : CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		LOGI("key duplicated to unit %s", e->unit);
out:
	buf_release(&b);
	tpm12_key_clear(&e->key);
	tpm_blob_release(&e->migrated);
	tpm_blob_release(&e->random);
	secret_free(e, sizeof(*e));
	return rv;
}

/* --- import --- */

struct import {
	uint8_t kind;
	uint8_t domain[16], ma[TPM12_DIGEST], dest[TPM12_DIGEST];
	const uint8_t *migrated, *random, *sig, *bound;
	size_t migrated_len, random_len, sig_len, bound_len;
	struct tpm12_keyinfo ki;
	uint8_t msa[TPM12_DIGEST], my_ma[TPM12_DIGEST];
	uint8_t restrict_ticket[3 * TPM12_DIGEST];
	struct tpm_blob converted;
};

static CK_RV import_parse(const struct tpm_blob *dup, const struct tpm_domain *d, struct import *x)
{
	struct reader r = reader_init(dup->data, dup->len);

	if (read_u8(&r) != TPM12_DUP_VERSION) {
		LOGE("the key duplicate has an unknown format or version (%s)",
		     dup->len ? "first byte" : "empty");
		return CKR_WRAPPED_KEY_INVALID;
	}
	x->kind = read_u8(&r);
	read_bytes(&r, x->domain, sizeof(x->domain));
	read_bytes(&r, x->ma, sizeof(x->ma));
	read_bytes(&r, x->dest, sizeof(x->dest));
	x->migrated = read_lv(&r, &x->migrated_len, 4096);
	x->random = read_lv(&r, &x->random_len, 4096);
	x->sig = read_lv(&r, &x->sig_len, 4096);
	x->bound = read_lv(&r, &x->bound_len, 4096);
	if (r.failed || r.left || (x->kind != TPM12_KIND_KEY && x->kind != TPM12_KIND_DOMAIN_SEAL) ||
	    x->random_len == 0 || x->sig_len != TPM12_MOD_SIZE ||
	    x->bound_len != (x->kind == TPM12_KIND_DOMAIN_SEAL ? TPM12_BOUND_SIZE : 0u) ||
	    tpm12_key_parse(x->migrated, x->migrated_len, &x->ki) != CKR_OK ||
	    !(x->ki.flags & TPM_MIGRATEAUTHORITY) || !(x->ki.flags & TPM_MIGRATABLE) ||
	    (x->kind == TPM12_KIND_DOMAIN_SEAL &&
	     (x->ki.usage != TPM_KEY_BIND || x->ki.enc_scheme != TPM_ES_RSAESOAEP_SHA1_MGF1))) {
		LOGE("the key duplicate is malformed (truncated, sizes that do not add up, or not a "
		     "certifiable migratable key tpmha makes)");
		return CKR_WRAPPED_KEY_INVALID;
	}
	if (memcmp(x->domain, d->id, sizeof(d->id)) != 0) {
		LOGE("the key duplicate belongs to another migration domain");
		return CKR_WRAPPED_KEY_INVALID;
	}
	if (tpm12_msa_digest(d, x->msa, x->my_ma) != CKR_OK)
		return CKR_ARGUMENTS_BAD;
	if (memcmp(x->ma, x->my_ma, TPM12_DIGEST) != 0) {
		LOGE("the key duplicate names another migration authority than this domain's");
		return CKR_WRAPPED_KEY_INVALID;
	}
	return CKR_OK;
}

static CK_RV import_run(struct tpm12 *t, const struct tpm_domain *d, struct import *x)
{
	TSS_HMIGDATA m = 0;
	TSS_HKEY hma = 0, hk = 0;
	BYTE *p = NULL;
	UINT32 n = 0;
	UINT32 flags = TSS_KEY_SIZE_2048 | TSS_KEY_STRUCT_KEY12 | TSS_KEY_MIGRATABLE |
		       TSS_KEY_CERTIFIED_MIGRATABLE | TSS_KEY_AUTHORIZATION;
	enum step step = STEP_TICKET;
	TSS_RESULT r;
	CK_RV rv = CKR_OK;

	flags |= x->ki.usage == TPM_KEY_BIND ? TSS_KEY_TYPE_BIND :
		 x->ki.usage == TPM_KEY_LEGACY ? TSS_KEY_TYPE_LEGACY : TSS_KEY_TYPE_SIGNING;
	r = ticket(t, d, x->ma, x->restrict_ticket, x->sig, x->sig_len, &m, &hma);
	if (r == TSS_SUCCESS) {
		step = STEP_CONVERT;
		r = obj_migdata_set_blob(m, (UINT32)x->migrated_len, (BYTE *)x->migrated);
	}
	if (r == TSS_SUCCESS)
		r = Tspi_Context_CreateObject(t->ctx, TSS_OBJECT_TYPE_RSAKEY, flags, &hk);
	if (r == TSS_SUCCESS)
		r = Tspi_Key_CMKConvertMigration(hk, t->unit_d.hkey, m, (UINT32)x->random_len,
						 (BYTE *)x->random);
	if (r == TSS_SUCCESS)
		r = Tspi_GetAttribData(hk, TSS_TSPATTRIB_KEY_BLOB, TSS_TSPATTRIB_KEYBLOB_BLOB, &n, &p);
	if (r == TSS_SUCCESS)
		rv = tpm12_take_blob(t, p, n, &x->converted);
	if (hma)
		Tspi_Context_CloseObject(t->ctx, hma);
	if (hk)
		Tspi_Context_CloseObject(t->ctx, hk);
	if (r == TSS_SUCCESS)
		return rv;
	if (tpm12_is_comm_error(r) || ERROR_LAYER(r) != TSS_LAYER_TPM)
		return tpm12_rv(t, r, step_what[step], 0);
	if (step == STEP_TICKET)
		LOGE("importing a key duplicate: the TPM refuses the migration authority's approval "
		     "(%s: %s, 0x%x)", step_what[step], Trspi_Error_String(r), r);
	else
		LOGE("importing a key duplicate: the TPM refused it: made for another unit, another "
		     "domain, or altered on the way (%s: %s, 0x%x)", step_what[step],
		     Trspi_Error_String(r), r);
	return CKR_WRAPPED_KEY_INVALID;
}

CK_RV tpm12_key_import_duplicate(struct tpm_backend *tb, const struct tpm_domain *d,
				 const struct tpm_blob *dup, struct tpm_blob *out)
{
	struct tpm12 *t = tpm12_of(tb);
	struct import *x;
	struct tpm_key k;
	char want[17], mine[17];
	CK_RV rv;

	if (!d || !dup || !out || (!dup->data && dup->len))
		return CKR_ARGUMENTS_BAD;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CKR_HOST_MEMORY;
	memset(&k, 0, sizeof(k));
	rv = import_parse(dup, d, x);
	if (rv != CKR_OK)
		goto out;
	tpm12_lock(t);
	rv = tpm12_unit_ready(t);
	if (rv == CKR_OK && memcmp(x->dest, t->unit_d.info.pub_digest, TPM12_DIGEST) != 0) {
		tpm12_hex8(x->dest, want);
		tpm12_hex8(t->unit_d.info.pub_digest, mine);
		LOGE("the key duplicate was made for unit %s; this is unit %s", want, mine);
		rv = CKR_WRAPPED_KEY_INVALID;
	}
	if (rv == CKR_OK) {
		memcpy(x->restrict_ticket, x->my_ma, TPM12_DIGEST);
		memcpy(x->restrict_ticket + TPM12_DIGEST, t->unit_d.info.pub_digest, TPM12_DIGEST);
		memcpy(x->restrict_ticket + 2 * TPM12_DIGEST, x->ki.pub_digest, TPM12_DIGEST);
		rv = import_run(t, d, x);
	}
	/* Load it once: a broken key fails here, not at its first use. */
	if (rv == CKR_OK)
		rv = tpm12_key_init(&k, x->converted.data, x->converted.len, TPM12_PARENT_UNIT, NULL);
	if (rv == CKR_OK && (memcmp(k.info.pub_digest, x->ki.pub_digest, TPM12_DIGEST) != 0 ||
			     k.info.usage != x->ki.usage || k.info.flags != x->ki.flags)) {
		LOGE("TPM_CMK_ConvertMigration returned another key than the duplicate's");
		rv = CKR_DEVICE_ERROR;
	}
	if (rv == CKR_OK) {
		rv = tpm12_key_ready(t, &k);
		if (rv == CKR_DEVICE_ERROR && !t->broken) {
			LOGE("the imported key does not load: the duplicate is not a usable key");
			rv = CKR_WRAPPED_KEY_INVALID;
		}
		tpm12_key_unload(t, &k, true);
	}
	tpm12_unlock(t);
	if (rv == CKR_OK)
		rv = tpm12_blob_encode(x->kind, TPM12_PARENT_UNIT, x->converted.data, x->converted.len,
				       x->bound, x->bound_len, out);
out:
	tpm12_key_clear(&k);
	tpm_blob_release(&x->converted);
	secret_free(x, sizeof(*x));
	return rv;
}

/* --- wrapped secrets --- */

CK_RV tpm12_secret_wrap(struct tpm_backend *tb, const struct tpm_unit_identity *dest,
			const uint8_t *secret, size_t len, struct tpm_blob *out)
{
	uint8_t dd[TPM12_DIGEST], ud[TPM12_DIGEST], mod[TPM12_MOD_SIZE];
	uint8_t buf[1 + TPM12_DIGEST + TPM12_BOUND_SIZE];
	CK_RV rv;

	(void)tb; /* software only: the destination's public key is all there is */
	if (!dest || (!secret && len) || !out || len > 32)
		return CKR_ARGUMENTS_BAD;
	rv = tpm12_dest_parse(dest, dd, ud, mod);
	if (rv != CKR_OK)
		return rv;
	buf[0] = TPM12_WRAP_VERSION;
	memcpy(buf + 1, ud, TPM12_DIGEST);
	rv = tpm12_bind_soft(mod, secret, len, buf + 1 + TPM12_DIGEST);
	if (rv == CKR_OK)
		rv = tpm_blob_copy(out, buf, sizeof(buf));
	return rv;
}

CK_RV tpm12_secret_unwrap(struct tpm_backend *tb, const struct tpm_blob *wrapped, uint8_t *secret,
			  size_t *len)
{
	struct tpm12 *t = tpm12_of(tb);
	uint8_t buf[TPM12_MOD_SIZE];
	size_t n = sizeof(buf);
	CK_RV rv;

	if (!wrapped || !secret || !len || (!wrapped->data && wrapped->len))
		return CKR_ARGUMENTS_BAD;
	if (wrapped->len != 1 + TPM12_DIGEST + TPM12_BOUND_SIZE || wrapped->data[0] != TPM12_WRAP_VERSION) {
		LOGE("the wrapped secret is malformed or of an unknown version");
		return CKR_WRAPPED_KEY_INVALID;
	}
	tpm12_lock(t);
	rv = tpm12_unit_ready(t);
	if (rv == CKR_OK && memcmp(wrapped->data + 1, t->unit_u.info.pub_digest, TPM12_DIGEST) != 0) {
		LOGE("the wrapped secret was made for another unit");
		rv = CKR_WRAPPED_KEY_INVALID;
	}
	if (rv == CKR_OK) {
		rv = tpm12_unbind(t, &t->unit_u, wrapped->data + 1 + TPM12_DIGEST, TPM12_BOUND_SIZE, buf,
				  &n, 0, "unwrapping a secret sent to this unit (TPM_UnBind)");
		if (rv == CKR_ENCRYPTED_DATA_INVALID)
			rv = CKR_WRAPPED_KEY_INVALID;
	}
	tpm12_unlock(t);
	if (rv == CKR_OK && n > *len) {
		*len = n;
		rv = CKR_BUFFER_TOO_SMALL;
	} else if (rv == CKR_OK) {
		memcpy(secret, buf, n);
		*len = n;
	}
	secret_wipe(buf, sizeof(buf));
	return rv;
}
