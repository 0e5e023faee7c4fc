#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "mock_tpm.h"

struct mock_tpm mock_tpm;

void mock_tpm_reset(void)
{
	memset(&mock_tpm, 0, sizeof(mock_tpm));
	memcpy(mock_tpm.name, "mock-storage-key", 16);
	mock_tpm.name_len = 16;
	mock_tpm.da.max_tries = 3;
	mock_tpm.da.recovery_seconds = 1000;
	mock_tpm.caps.rsa_sizes = TPM_RSA_2048;
	mock_tpm.caps.curves = 1u << TPM_CURVE_P256;
	mock_tpm.caps.hashes = TPM_HASH_BIT(HASH_SHA256);
}

/* ---- what tpm/backend.c would give ---- */

void tpm_blob_release(struct tpm_blob *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

CK_RV tpm_blob_copy(struct tpm_blob *dst, const void *data, size_t len)
{
	dst->data = malloc(len ? len : 1);
	if (!dst->data) {
		dst->len = 0;
		return CKR_HOST_MEMORY;
	}
	if (len)
		memcpy(dst->data, data, len);
	dst->len = len;
	return CKR_OK;
}

/* ---- the backend ---- */

static void mock_close(struct tpm_backend *tb)
{
	if (!tb)
		return;
	mock_tpm.closes++;
	free(tb);
}

static void mock_abandon(struct tpm_backend *tb)
{
	(void)tb;
}

static CK_RV mock_get_info(struct tpm_backend *tb, struct tpm_info *out)
{
	(void)tb;
	memset(out, 0, sizeof(*out));
	out->version = 20;
	strcpy(out->manufacturer, "MOCK");
	strcpy(out->vendor, "unit test");
	strcpy(out->spec, "2.0 rev 1.59");
	return CKR_OK;
}

static const struct tpm_caps *mock_get_caps(struct tpm_backend *tb)
{
	(void)tb;
	return &mock_tpm.caps;
}

static CK_RV mock_get_da_state(struct tpm_backend *tb, struct tpm_da_state *out)
{
	(void)tb;
	*out = mock_tpm.da;
	return CKR_OK;
}

static CK_RV mock_random(struct tpm_backend *tb, uint8_t *out, size_t len)
{
	(void)tb;
	mock_tpm.random_calls++;
	return ossl_random(out, len);
}

static CK_RV mock_stir_random(struct tpm_backend *tb, const uint8_t *in, size_t len)
{
	(void)tb;
	(void)in;
	(void)len;
	return CKR_OK;
}

static CK_RV mock_storage_key_name(struct tpm_backend *tb, struct tpm_blob *name)
{
	(void)tb;
	mock_tpm.name_calls++;
	if (mock_tpm.name_rv != CKR_OK)
		return mock_tpm.name_rv;
	return tpm_blob_copy(name, mock_tpm.name, mock_tpm.name_len);
}

/* "MOCK" | auth len | auth | secret */
static CK_RV mock_seal_create(struct tpm_backend *tb, const uint8_t *secret, size_t len,
			      const struct tpm_auth *auth, const struct tpm_domain *domain,
			      struct tpm_blob *sealed)
{
	uint8_t *p;

	(void)tb;
	(void)domain;
	mock_tpm.seal_creates++;
	if (len > 64 || auth->len > TPM_AUTH_MAX)
		return CKR_ARGUMENTS_BAD;
	sealed->len = 5 + auth->len + len;
	sealed->data = p = malloc(sealed->len);
	if (!p)
		return CKR_HOST_MEMORY;
	memcpy(p, "MOCK", 4);
	p[4] = (uint8_t)auth->len;
	memcpy(p + 5, auth->value, auth->len);
	memcpy(p + 5 + auth->len, secret, len);
	return CKR_OK;
}

static CK_RV mock_seal_open(struct tpm_backend *tb, const struct tpm_blob *sealed,
			    const struct tpm_auth *auth, uint8_t *secret, size_t *len)
{
	size_t auth_len, secret_len;

	(void)tb;
	mock_tpm.seal_opens++;
	if (mock_tpm.seal_open_rv != CKR_OK)
		return mock_tpm.seal_open_rv;
	if (sealed->len < 5 || memcmp(sealed->data, "MOCK", 4) != 0)
		return CKR_DATA_INVALID;
	auth_len = sealed->data[4];
	if (sealed->len < 5 + auth_len)
		return CKR_DATA_INVALID;
	if (auth->len != auth_len || secret_cmp(auth->value, sealed->data + 5, auth_len) != 0)
		return CKR_PIN_INCORRECT;
	secret_len = sealed->len - 5 - auth_len;
	if (secret_len > *len)
		return CKR_GENERAL_ERROR;
	memcpy(secret, sealed->data + 5 + auth_len, secret_len);
	*len = mock_tpm.seal_open_len ? mock_tpm.seal_open_len : secret_len;
	return CKR_OK;
}

static const struct tpm_backend_ops mock_ops = {
	.name = "mock",
	.close = mock_close,
	.abandon = mock_abandon,
	.get_info = mock_get_info,
	.get_caps = mock_get_caps,
	.get_da_state = mock_get_da_state,
	.random = mock_random,
	.stir_random = mock_stir_random,
	.storage_key_name = mock_storage_key_name,
	.seal_create = mock_seal_create,
	.seal_open = mock_seal_open,
	/* no key operations: the tests using this backend make none */
};

CK_RV tpm_backend_open(const struct tpmha_config *cfg, struct tpm_backend **out)
{
	struct tpm_backend *tb;

	(void)cfg;
	mock_tpm.opens++;
	if (mock_tpm.open_rv != CKR_OK)
		return mock_tpm.open_rv;
	tb = calloc(1, sizeof(*tb));
	if (!tb)
		return CKR_HOST_MEMORY;
	tb->ops = &mock_ops;
	*out = tb;
	return CKR_OK;
}
