/* What the migration authority and an attacker write: domain files, approvals,
 * and damaged copies of any tpmha file. No unit, no TPM. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/x509.h>

#include "migration/files.h"
#include "migration/format.h"
#include "tests/migration/mig.h"

size_t ma_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *sig, size_t sig_max)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[512];
	size_t der_len = sizeof(der), n = 0;

	if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, der, &der_len, msg, len) == 1) {
		if (EVP_PKEY_is_a(key, "RSA")) {
			if (der_len <= sig_max) {
				memcpy(sig, der, der_len);
				n = der_len;
			}
		} else {
			const unsigned char *p = der;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);

			if (es && sig_max >= 64 && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
			    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32)
				n = 64;
			ECDSA_SIG_free(es);
		}
	}
	EVP_MD_CTX_free(ctx);
	return n;
}

/* domain MA.pem OUT LABEL */
int cmd_domain(int argc, char **argv)
{
	EVP_PKEY *ma;
	unsigned char *spki = NULL;
	struct buf out = BUF_INIT;
	int len;
	CK_RV rv;

	if (argc != 4)
		t_bail("usage: domain MA.pem OUT LABEL");
	ma = pem_private(argv[1]);
	len = i2d_PUBKEY(ma, &spki);
	rv = len > 0 ? domain_file_create(spki, (size_t)len, argv[3], &out) : CKR_GENERAL_ERROR;
	if (t_rv(rv, CKR_OK, "domain \"%s\" for an %s migration authority", argv[3],
		 EVP_PKEY_is_a(ma, "RSA") ? "RSA-2048" : "EC P-256"))
		file_write(argv[2], out.data, out.len);
	buf_release(&out);
	OPENSSL_free(spki);
	EVP_PKEY_free(ma);
	return 0;
}

/* approve MA.pem DOMAIN UNIT OUT: signed with MA.pem whether or not it is the
 * domain's MA (an approval by another key is a test case). */
int cmd_approve(int argc, char **argv)
{
	struct domain_file d;
	struct unit_file u;
	struct buf out = BUF_INIT;
	uint8_t *dbytes, *ubytes, msg[256], sig[512];
	size_t dlen, ulen, msg_len = sizeof(msg), sig_len = 0;
	enum hash_alg hash = HASH_NONE;
	EVP_PKEY *ma;
	CK_RV rv;

	if (argc != 5)
		t_bail("usage: approve MA.pem DOMAIN UNIT OUT");
	ma = pem_private(argv[1]);
	dbytes = file_read(argv[2], &dlen);
	ubytes = file_read(argv[3], &ulen);
	if (domain_file_parse(dbytes, dlen, &d) != CKR_OK || unit_file_parse(ubytes, ulen, &u) != CKR_OK)
		t_bail("approve: the domain or unit file does not parse");
	rv = approval_message(&d, &u, msg, &msg_len, &hash);
	if (rv == CKR_OK && hash == HASH_SHA256)
		sig_len = ma_sign(ma, msg, msg_len, sig, sizeof(sig));
	if (rv == CKR_OK && !sig_len)
		rv = CKR_FUNCTION_FAILED;
	if (rv == CKR_OK)
		rv = approval_file_create(&d, &u, sig, sig_len, &out);
	if (t_rv(rv, CKR_OK, "approval of unit %s signed by %s", u.label[0] ? u.label : "?", argv[1]))
		file_write(argv[4], out.data, out.len);
	buf_release(&out);
	domain_file_release(&d);
	unit_file_release(&u);
	free(dbytes);
	free(ubytes);
	EVP_PKEY_free(ma);
	return 0;
}

/* The top-level record tag of a tpmha file: offset of its value and its length. */
static bool find_record(const uint8_t *data, size_t len, unsigned tag, size_t *at, size_t *vlen)
{
	size_t off = FORMAT_HEADER_LEN;

	while (off + 6 <= len) {
		unsigned t = (unsigned)data[off] << 8 | data[off + 1];
		size_t n = (size_t)data[off + 2] << 24 | (size_t)data[off + 3] << 16 |
			   (size_t)data[off + 4] << 8 | data[off + 5];
		if (off + 6 + n > len)
			return false;
		if (t == tag) {
			*at = off + 6;
			*vlen = n;
			return true;
		}
		off += 6 + n;
	}
	return false;
}

/* Replace record tag's value (and its length field) by value. */
static uint8_t *set_record(uint8_t *data, size_t *len, unsigned tag, const uint8_t *value, size_t vlen)
{
	size_t at, old;
	uint8_t *out;

	if (!find_record(data, *len, tag, &at, &old))
		t_bail("mutate: no record %u", tag);
	out = malloc(*len - old + vlen);
	if (!out)
		t_bail("out of memory");
	memcpy(out, data, at);
	memcpy(out + at, value, vlen);
	memcpy(out + at + vlen, data + at + old, *len - at - old);
	out[at - 4] = (uint8_t)(vlen >> 24);
	out[at - 3] = (uint8_t)(vlen >> 16);
	out[at - 2] = (uint8_t)(vlen >> 8);
	out[at - 1] = (uint8_t)vlen;
	*len = *len - old + vlen;
	free(data);
	return out;
}

/* mutate IN OUT OP...: OPs applied in order:
 *   flip OFFSET MASK     XOR the byte at OFFSET with MASK (hex)
 *   truncate LEN         keep the first LEN bytes
 *   version V / kind K   the container's format version / kind byte
 *   set TAG HEX          a top-level record's value
 *   set-unit TAG UNIT    ... the unit id of the identity file UNIT
 *   copy TAG FILE        ... the value of the same record in FILE */
int cmd_mutate(int argc, char **argv)
{
	size_t len;
	uint8_t *data;
	int i = 3;

	if (argc < 4)
		t_bail("usage: mutate IN OUT OP...");
	data = file_read(argv[1], &len);
	while (i < argc) {
		const char *op = argv[i];
		if (strcmp(op, "flip") == 0 && i + 2 < argc) {
			size_t off = strtoul(argv[i + 1], NULL, 0);
			if (off >= len)
				t_bail("mutate: offset %zu past the end (%zu bytes)", off, len);
			data[off] ^= (uint8_t)strtoul(argv[i + 2], NULL, 16);
			i += 3;
		} else if (strcmp(op, "truncate") == 0 && i + 1 < argc) {
			size_t n = strtoul(argv[i + 1], NULL, 0);
			len = n < len ? n : len;
			i += 2;
		} else if ((strcmp(op, "version") == 0 || strcmp(op, "kind") == 0) && i + 1 < argc) {
			if (len < FORMAT_HEADER_LEN)
				t_bail("mutate: no header");
			data[op[0] == 'v' ? FORMAT_MAGIC_LEN + 1 : FORMAT_MAGIC_LEN] =
				(uint8_t)strtoul(argv[i + 1], NULL, 0);
			i += 2;
		} else if (strcmp(op, "set") == 0 && i + 2 < argc) {
			const char *hex = argv[i + 2];
			size_t n = strlen(hex) / 2;
			uint8_t *v = malloc(n + 1);
			for (size_t k = 0; v && k < n; k++) {
				char byte[3] = { hex[2 * k], hex[2 * k + 1], 0 };
				v[k] = (uint8_t)strtoul(byte, NULL, 16);
			}
			if (!v)
				t_bail("out of memory");
			data = set_record(data, &len, (unsigned)strtoul(argv[i + 1], NULL, 0), v, n);
			free(v);
			i += 3;
		} else if (strcmp(op, "set-unit") == 0 && i + 2 < argc) {
			struct unit_file u;
			size_t ulen;
			uint8_t *ubytes = file_read(argv[i + 2], &ulen);
			if (unit_file_parse(ubytes, ulen, &u) != CKR_OK)
				t_bail("mutate: %s is not a unit identity file", argv[i + 2]);
			data = set_record(data, &len, (unsigned)strtoul(argv[i + 1], NULL, 0), u.id, sizeof(u.id));
			unit_file_release(&u);
			free(ubytes);
			i += 3;
		} else if (strcmp(op, "copy") == 0 && i + 2 < argc) {
			unsigned tag = (unsigned)strtoul(argv[i + 1], NULL, 0);
			size_t olen, at, vlen;
			uint8_t *other = file_read(argv[i + 2], &olen);
			if (!find_record(other, olen, tag, &at, &vlen))
				t_bail("mutate: no record %u in %s", tag, argv[i + 2]);
			data = set_record(data, &len, tag, other + at, vlen);
			free(other);
			i += 3;
		} else {
			t_bail("mutate: bad operation at \"%s\"", op);
		}
	}
	file_write(argv[2], data, len);
	t_ok(true, "%s: a damaged copy of %s (%zu bytes)", argv[2], argv[1], len);
	free(data);
	return 0;
}
