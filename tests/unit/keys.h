/* Software keys and certificates for unit tests (OpenSSL's default context). */
#ifndef TPMHA_TESTS_UNIT_KEYS_H
#define TPMHA_TESTS_UNIT_KEYS_H

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

static inline EVP_PKEY *unit_rsa_key(unsigned bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (!k)
		abort();
	return k;
}

static inline EVP_PKEY *unit_ec_key(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	if (!k)
		abort();
	return k;
}

/* A big number parameter of a key, big-endian without leading zeros; free(). */
static inline unsigned char *unit_key_bn(EVP_PKEY *k, const char *name, size_t *len)
{
	BIGNUM *bn = NULL;
	unsigned char *out;

	if (!EVP_PKEY_get_bn_param(k, name, &bn))
		abort();
	*len = (size_t)BN_num_bytes(bn);
	out = malloc(*len ? *len : 1);
	BN_bn2bin(bn, out);
	BN_clear_free(bn);
	return out;
}

/* Uncompressed EC point 04||X||Y; free(). */
static inline unsigned char *unit_ec_point(EVP_PKEY *k, size_t *len)
{
	unsigned char *out = malloc(200);

	if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out, 200, len))
		abort();
	return out;
}

/* A DER SubjectPublicKeyInfo; OPENSSL_free(). */
static inline unsigned char *unit_spki(EVP_PKEY *k, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);

	if (n <= 0)
		abort();
	*len = (size_t)n;
	return der;
}

/* A self-signed certificate for k with CN=cn and the given serial; DER, OPENSSL_free(). */
static inline unsigned char *unit_cert(EVP_PKEY *k, const char *cn, long serial, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	int n;

	if (!x || !name)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	if (!X509_sign(x, k, EVP_sha256()))
		abort();
	n = i2d_X509(x, &der);
	if (n <= 0)
		abort();
	*len = (size_t)n;
	X509_NAME_free(name);
	X509_free(x);
	return der;
}

#endif
