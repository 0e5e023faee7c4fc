/* Seeds for fuzz_migration: one well-formed file of each kind, written with the
 * project's own writers (no TPM: the blobs inside are stand-ins). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/ossl.h"
#include "migration/bundle.h"
#include "migration/files.h"
#include "tokens/attr.h"

static int write_seed(const char *dir, const char *name, uint8_t selector, const struct buf *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&selector, 1, 1, f) != 1 || fwrite(b->data, 1, b->len, f) != b->len) {
		perror(path);
		if (f)
			fclose(f);
		return 1;
	}
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	struct buf domain = BUF_INIT, unit = BUF_INIT, approval = BUF_INIT, bundle = BUF_INIT, attrs = BUF_INIT;
	struct tpm_unit_identity id = { .tpm_version = 20 };
	struct domain_file d;
	struct unit_file u;
	struct bundle b = { 0 };
	struct attrs a = ATTRS_INIT;
	struct tpm_blob blob1 = { 0 }, blob2 = { 0 }, blob3 = { 0 };
	EVP_PKEY *ma = NULL;
	unsigned char *spki = NULL;
	uint8_t sig[64] = { 1 }, mac_key[32] = { 2 };
	int len, rc = 1;

	if (argc != 2 || ossl_init() != CKR_OK) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	log_set_level(LOG_LEVEL_ERROR);
	ma = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	len = ma ? i2d_PUBKEY(ma, &spki) : -1;
	tpm_blob_copy(&id.storage_public, "storage-public", 14);
	tpm_blob_copy(&id.name, "\x00\x0b storage-name-digest-32-bytes!!", 34);
	if (len <= 0 || domain_file_create(spki, (size_t)len, "seed", &domain) != CKR_OK ||
	    domain_file_parse(domain.data, domain.len, &d) != CKR_OK || unit_file_create(&id, "unit", &unit) != CKR_OK ||
	    unit_file_parse(unit.data, unit.len, &u) != CKR_OK ||
	    approval_file_create(&d, &u, sig, sizeof(sig), &approval) != CKR_OK)
		goto out;
	attrs_set_ulong(&a, CKA_CLASS, CKO_DATA);
	attrs_set(&a, CKA_LABEL, "seed", 4);
	attrs_set_bool(&a, CKA_TOKEN, true);
	attrs_serialize(&a, &attrs);
	b.tpm_version = 20;
	memcpy(b.serial, "0011223344556677", 17);
	memset(b.label, ' ', sizeof(b.label));
	b.whole_token = true;
	tpm_blob_copy(&b.mac_key, "wrapped-mac-key", 15);
	tpm_blob_copy(&b.so_seal, "so-seal-duplicate", 17);
	tpm_blob_copy(&blob1, attrs.data, attrs.len);
	tpm_blob_copy(&blob2, "key-duplicate", 13);
	tpm_blob_copy(&blob3, "sealed-auth", 11);
	if (bundle_add(&b, false, &blob1, &blob2, &blob3) != CKR_OK || bundle_write(&b, mac_key, &bundle) != CKR_OK)
		goto out;
	rc = write_seed(argv[1], "bundle", 0, &bundle) | write_seed(argv[1], "domain", 1, &domain) |
	     write_seed(argv[1], "unit", 2, &unit) | write_seed(argv[1], "approval", 3, &approval) |
	     write_seed(argv[1], "attrs", 4, &attrs);
	domain_file_release(&d);
	unit_file_release(&u);
out:
	if (rc)
		fprintf(stderr, "seeds: could not make the seed files\n");
	bundle_release(&b);
	attrs_clear(&a);
	tpm_unit_identity_release(&id);
	buf_release(&domain);
	buf_release(&unit);
	buf_release(&approval);
	buf_release(&bundle);
	buf_release(&attrs);
	OPENSSL_free(spki);
	EVP_PKEY_free(ma);
	return rc;
}
