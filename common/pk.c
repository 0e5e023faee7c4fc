#include "config.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "common/log.h"
#include "common/ossl.h"
#include "common/pk.h"
#include "common/secret.h"

CK_RV pk_rsa_public(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len,
		    const uint8_t *in, size_t in_len, uint8_t *out)
{
	BN_CTX *ctx = BN_CTX_new_ex(ossl_libctx());
	BIGNUM *bn_n = NULL, *bn_e = NULL, *x = NULL, *y = NULL;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!ctx)
		return rv;
	BN_CTX_start(ctx);
	bn_n = BN_CTX_get(ctx);
	bn_e = BN_CTX_get(ctx);
	x = BN_CTX_get(ctx);
	y = BN_CTX_get(ctx);
	if (!y || !BN_bin2bn(n, (int)n_len, bn_n) || !BN_bin2bn(e, (int)e_len, bn_e) ||
	    !BN_bin2bn(in, (int)in_len, x))
		goto out;
	if (BN_is_zero(bn_n) || BN_cmp(x, bn_n) >= 0) {
		rv = CKR_DATA_LEN_RANGE;
		goto out;
	}
	rv = CKR_GENERAL_ERROR;
	if (!BN_mod_exp(y, x, bn_e, bn_n, ctx) || BN_bn2binpad(y, out, (int)n_len) < 0)
		goto out;
	rv = CKR_OK;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return rv;
}

/* The group and, when x/y are given, a point on it; NULL on any failure. */
static EC_GROUP *group_new(int nid)
{
	return EC_GROUP_new_by_curve_name_ex(ossl_libctx(), NULL, nid);
}

static EC_POINT *point_new(const EC_GROUP *group, const uint8_t *x, const uint8_t *y,
			   size_t coord_len, BN_CTX *ctx)
{
	EC_POINT *p = EC_POINT_new(group);
	BIGNUM *bx, *by;
	bool ok = false;

	if (!p)
		return NULL;
	BN_CTX_start(ctx);
	bx = BN_CTX_get(ctx);
	by = BN_CTX_get(ctx);
	ok = by && BN_bin2bn(x, (int)coord_len, bx) && BN_bin2bn(y, (int)coord_len, by) &&
	     EC_POINT_set_affine_coordinates(group, p, bx, by, ctx) == 1 &&
	     EC_POINT_is_on_curve(group, p, ctx) == 1 && !EC_POINT_is_at_infinity(group, p);
	BN_CTX_end(ctx);
	if (!ok) {
		EC_POINT_free(p);
		return NULL;
	}
	return p;
}

static bool point_coords(const EC_GROUP *group, const EC_POINT *p, uint8_t *x, uint8_t *y,
			 size_t coord_len, BN_CTX *ctx)
{
	BIGNUM *bx, *by;
	bool ok;

	BN_CTX_start(ctx);
	bx = BN_CTX_get(ctx);
	by = BN_CTX_get(ctx);
	ok = by && EC_POINT_get_affine_coordinates(group, p, bx, by, ctx) == 1 &&
	     BN_bn2binpad(bx, x, (int)coord_len) >= 0 && (!y || BN_bn2binpad(by, y, (int)coord_len) >= 0);
	BN_CTX_end(ctx);
	return ok;
}

bool pk_ec_point_valid(int nid, const uint8_t *x, const uint8_t *y, size_t coord_len)
{
	BN_CTX *ctx = BN_CTX_new_ex(ossl_libctx());
	EC_GROUP *group = group_new(nid);
	EC_POINT *p = group && ctx ? point_new(group, x, y, coord_len, ctx) : NULL;
	bool ok = p != NULL;

	EC_POINT_free(p);
	EC_GROUP_free(group);
	BN_CTX_free(ctx);
	return ok;
}

CK_RV pk_ecdsa_verify(int nid, const uint8_t *x, const uint8_t *y, size_t coord_len,
		      const uint8_t *digest, size_t digest_len, const uint8_t *sig)
{
	BN_CTX *ctx = BN_CTX_new_ex(ossl_libctx());
	EC_GROUP *group = group_new(nid);
	EC_POINT *q = NULL, *pt = NULL;
	BIGNUM *r, *s, *e, *w, *u1, *u2, *v;
	const BIGNUM *order;
	int order_bits;
	size_t use;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!ctx || !group)
		goto out_free;
	BN_CTX_start(ctx);
	r = BN_CTX_get(ctx);
	s = BN_CTX_get(ctx);
	e = BN_CTX_get(ctx);
	w = BN_CTX_get(ctx);
	u1 = BN_CTX_get(ctx);
	u2 = BN_CTX_get(ctx);
	v = BN_CTX_get(ctx);
	if (!v)
		goto out;
	q = point_new(group, x, y, coord_len, ctx);
	pt = EC_POINT_new(group);
	if (!q || !pt) {
		rv = q ? CKR_HOST_MEMORY : CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	order = EC_GROUP_get0_order(group);
	order_bits = BN_num_bits(order);
	rv = CKR_SIGNATURE_INVALID;
	if (!BN_bin2bn(sig, (int)coord_len, r) || !BN_bin2bn(sig + coord_len, (int)coord_len, s))
		goto out;
	if (BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, order) >= 0 || BN_cmp(s, order) >= 0)
		goto out;
	/* e: the leftmost order_bits bits of the digest. */
	use = digest_len * 8 > (size_t)order_bits ? ((size_t)order_bits + 7) / 8 : digest_len;
	if (!BN_bin2bn(digest, (int)use, e))
		goto out;
	if (use * 8 > (size_t)order_bits && !BN_rshift(e, e, (int)(use * 8 - (size_t)order_bits)))
		goto out;
	if (!BN_mod_inverse(w, s, order, ctx) || !BN_mod_mul(u1, e, w, order, ctx) ||
	    !BN_mod_mul(u2, r, w, order, ctx) || EC_POINT_mul(group, pt, u1, q, u2, ctx) != 1 ||
	    EC_POINT_is_at_infinity(group, pt))
		goto out;
	if (EC_POINT_get_affine_coordinates(group, pt, v, NULL, ctx) != 1 || !BN_nnmod(v, v, order, ctx))
		goto out;
	rv = BN_cmp(v, r) == 0 ? CKR_OK : CKR_SIGNATURE_INVALID;
out:
	BN_CTX_end(ctx);
out_free:
	EC_POINT_free(q);
	EC_POINT_free(pt);
	EC_GROUP_free(group);
	BN_CTX_free(ctx);
	return rv;
}

CK_RV pk_ecdh_ephemeral(int nid, const uint8_t *peer_x, const uint8_t *peer_y, size_t coord_len,
			uint8_t *z, uint8_t *eph_x, uint8_t *eph_y)
{
	BN_CTX *ctx = BN_CTX_secure_new_ex(ossl_libctx());
	EC_GROUP *group = group_new(nid);
	EC_POINT *peer = NULL, *eph = NULL, *shared = NULL;
	BIGNUM *d = NULL;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!ctx || !group)
		goto out;
	peer = point_new(group, peer_x, peer_y, coord_len, ctx);
	if (!peer) {
		LOGE("the peer's public point is not on the curve");
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	eph = EC_POINT_new(group);
	shared = EC_POINT_new(group);
	d = BN_secure_new();
	if (!eph || !shared || !d)
		goto out;
	rv = CKR_GENERAL_ERROR;
	/* d in [1, n-1]; both multiplications are OpenSSL's constant-time ladder. */
	do {
		if (!BN_priv_rand_range_ex(d, EC_GROUP_get0_order(group), 0, ctx))
			goto out;
	} while (BN_is_zero(d));
	if (EC_POINT_mul(group, eph, d, NULL, NULL, ctx) != 1 ||
	    EC_POINT_mul(group, shared, NULL, peer, d, ctx) != 1 || EC_POINT_is_at_infinity(group, shared))
		goto out;
	if (!point_coords(group, eph, eph_x, eph_y, coord_len, ctx) ||
	    !point_coords(group, shared, z, NULL, coord_len, ctx))
		goto out;
	rv = CKR_OK;
out:
	BN_clear_free(d);
	EC_POINT_clear_free(shared);
	EC_POINT_free(eph);
	EC_POINT_free(peer);
	EC_GROUP_free(group);
	BN_CTX_free(ctx);
	return rv;
}

CK_RV pk_ec_public_from_private(int nid, const uint8_t *d_bytes, size_t d_len, uint8_t *x, uint8_t *y,
				size_t coord_len)
{
	BN_CTX *ctx = BN_CTX_secure_new_ex(ossl_libctx());
	EC_GROUP *group = group_new(nid);
	EC_POINT *pub = NULL;
	BIGNUM *d = BN_secure_new();
	CK_RV rv = CKR_HOST_MEMORY;

	if (!ctx || !group || !d || !BN_bin2bn(d_bytes, (int)d_len, d))
		goto out;
	pub = EC_POINT_new(group);
	if (!pub)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
		goto out;
	rv = CKR_GENERAL_ERROR;
	if (EC_POINT_mul(group, pub, d, NULL, NULL, ctx) != 1 ||
	    !point_coords(group, pub, x, y, coord_len, ctx))
		goto out;
	rv = CKR_OK;
out:
	BN_clear_free(d);
	EC_POINT_free(pub);
	EC_GROUP_free(group);
	BN_CTX_free(ctx);
	return rv;
}
