/* Making objects: C_CreateObject (private keys go into the TPM) and C_GenerateKeyPair
 * (the TPM makes the key). */
#ifndef TPMHA_TOKENS_CREATE_H
#define TPMHA_TOKENS_CREATE_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>

struct token;

/* Who is asking: the session (for session objects), whether it may write token
 * objects, whether the SO is logged in. */
struct create_ctx {
	CK_SESSION_HANDLE session;
	bool rw;
};

CK_RV object_create(struct token *t, const struct create_ctx *ctx, const CK_ATTRIBUTE *tmpl,
		    CK_ULONG count, CK_OBJECT_HANDLE *handle);

CK_RV keypair_generate(struct token *t, const struct create_ctx *ctx, const CK_MECHANISM *mech,
		       const CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_count,
		       const CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count,
		       CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);

#endif
