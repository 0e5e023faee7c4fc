/* RSA encodings done on the host, for what a TPM cannot do natively: its raw
 * private-key operation (TPM2_RSA_Decrypt with scheme NULL, or a TPM 1.2 key with no
 * padding) turns an encoded message into a signature, or a ciphertext into an
 * encoded message we decode here. OpenSSL 3 deprecates RSA_padding_*, hence these.
 *
 * Every function works on a k-byte block, k the modulus length in bytes. Hashing
 * runs in our own OpenSSL library context (common/ossl.h). */
#ifndef TPMHA_COMMON_RSA_PAD_H
#define TPMHA_COMMON_RSA_PAD_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/ossl.h"

/* If in is exactly DER DigestInfo(hash, digest) for SHA-1/256/384/512, the hash
 * (and where the digest starts); HASH_NONE otherwise. */
enum hash_alg rsa_pad_digestinfo_hash(const uint8_t *in, size_t len, const uint8_t **digest);

/* The DER DigestInfo prefix of a hash (NULL for HASH_NONE). */
const uint8_t *rsa_pad_digestinfo_prefix(enum hash_alg h, size_t *len);

/* EMSA-PKCS1-v1_5 type 1 block: 00 01 FF.. 00 || in, with in at most k-11 bytes
 * (CKR_DATA_LEN_RANGE otherwise). */
CK_RV rsa_pad_pkcs1_sign(const uint8_t *in, size_t len, uint8_t *em, size_t k);

/* EMSA-PSS-ENCODE (RFC 8017 9.1.1) of mhash for a modulus of mod_bits bits, written
 * as k bytes (a leading zero byte when mod_bits - 1 is a multiple of 8). The salt
 * comes from ossl_random(). CKR_DATA_LEN_RANGE when mhash is not the hash's size
 * or the salt does not fit. */
CK_RV rsa_pad_pss_encode(enum hash_alg hash, enum hash_alg mgf_hash, size_t salt_len,
			 const uint8_t *mhash, size_t mhash_len, unsigned mod_bits,
			 uint8_t *em, size_t k);

/* RSAES-OAEP decoding (RFC 8017 7.1.2, steps 3a-3g) of a k-byte encoded message, in
 * constant time up to the final verdict: every failure is the same
 * CKR_ENCRYPTED_DATA_INVALID. *out_len in: buffer size; out: message length
 * (CKR_BUFFER_TOO_SMALL when it does not fit). */
CK_RV rsa_pad_oaep_decode(enum hash_alg hash, enum hash_alg mgf_hash, const uint8_t *label,
			  size_t label_len, const uint8_t *em, size_t k, uint8_t *out,
			  size_t *out_len);

/* RSAES-PKCS1-v1_5 type 2 decoding (RFC 8017 7.2.2 step 3), branch-free up to the
 * verdict; same conventions as rsa_pad_oaep_decode(). */
CK_RV rsa_pad_pkcs1_decrypt_decode(const uint8_t *em, size_t k, uint8_t *out, size_t *out_len);

/* EMSA-PSS-VERIFY (RFC 8017 9.1.2) of the k-byte block a signature opens to (em is
 * overwritten). CKR_OK or CKR_SIGNATURE_INVALID; CKR_DATA_LEN_RANGE for a wrong
 * digest length. */
CK_RV rsa_pad_pss_verify(enum hash_alg hash, enum hash_alg mgf_hash, size_t salt_len,
			 const uint8_t *mhash, size_t mhash_len, unsigned mod_bits, uint8_t *em,
			 size_t k);

/* RSAES-OAEP encoding (RFC 8017 7.1.1 step 2) of msg into a k-byte block, seed from
 * ossl_random(). CKR_DATA_LEN_RANGE when msg does not fit. */
CK_RV rsa_pad_oaep_encode(enum hash_alg hash, enum hash_alg mgf_hash, const uint8_t *label,
			  size_t label_len, const uint8_t *msg, size_t len, uint8_t *em, size_t k);

/* RSAES-PKCS1-v1_5 encoding (RFC 8017 7.2.1 step 2): 00 02 PS 00 msg, PS random
 * non-zero bytes, at least 8. CKR_DATA_LEN_RANGE when msg does not fit. */
CK_RV rsa_pad_pkcs1_encrypt_encode(const uint8_t *msg, size_t len, uint8_t *em, size_t k);

/* MGF1 (RFC 8017 B.2.1): XOR the mask generated from seed into out[0..len). */
CK_RV rsa_pad_mgf1_xor(enum hash_alg h, const uint8_t *seed, size_t seed_len, uint8_t *out,
		       size_t len);

#endif
