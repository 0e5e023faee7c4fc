/* Public-key primitives on OpenSSL's BIGNUM and EC_POINT level, never through an
 * EVP_PKEY_CTX.
 *
 * Why: OpenSSL 3.0 routes every EVP_PKEY_CTX for an RSA or EC key type to an ENGINE
 * registered as default for it — whatever library context the caller uses (see
 * int_ctx_new in crypto/evp/pmeth_lib.c). `openssl -engine pkcs11` registers libp11's
 * engine for everything, and libp11 calls PKCS#11 modules — this one too. So inside
 * such a process an EVP_PKEY_CTX in our code either fails ("operation not supported
 * for this keytype") or recurses into a PKCS#11 module. These few operations are all
 * the module needs, and BN/EC_POINT arithmetic in our own library context never meets
 * an engine. Padding schemes live in common/rsa_pad.h. */
#ifndef TPMHA_COMMON_PK_H
#define TPMHA_COMMON_PK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

/* Curves by OpenSSL NID: NID_X9_62_prime256v1, NID_secp384r1. */

/* x^e mod n, written as n_len bytes (big-endian, left-padded). in must be < n:
 * CKR_DATA_LEN_RANGE otherwise. */
CK_RV pk_rsa_public(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len,
		    const uint8_t *in, size_t in_len, uint8_t *out);

/* Is (x, y) a point of the curve (not infinity)? coords are coord_len bytes each. */
bool pk_ec_point_valid(int nid, const uint8_t *x, const uint8_t *y, size_t coord_len);

/* ECDSA verification of r || s (each coord_len bytes) over a digest of any length
 * (FIPS 186-4: its leftmost bits). CKR_OK or CKR_SIGNATURE_INVALID. */
CK_RV pk_ecdsa_verify(int nid, const uint8_t *x, const uint8_t *y, size_t coord_len,
		      const uint8_t *digest, size_t digest_len, const uint8_t *sig);

/* One-pass ECDH with a fresh ephemeral key: the shared x coordinate z and the
 * ephemeral public point, each coord_len bytes. The ephemeral scalar never leaves. */
CK_RV pk_ecdh_ephemeral(int nid, const uint8_t *peer_x, const uint8_t *peer_y, size_t coord_len,
			uint8_t *z, uint8_t *eph_x, uint8_t *eph_y);

/* The public point d·G for a private scalar (key import). */
CK_RV pk_ec_public_from_private(int nid, const uint8_t *d, size_t d_len, uint8_t *x, uint8_t *y,
				size_t coord_len);

#endif
