#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "conf/conf.h"
#include "tpm/backend.h"
#include "tpm/tpm2_int.h"

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

CK_RV tpm_backend_open(const struct tpmha_config *cfg, struct tpm_backend **out)
{
	switch (cfg->tpm_version) {
	case 20:
		return tpm2_backend_ops.open(cfg, out);
	case 12:
		return tpm12_backend_ops.open(cfg, out);
	default:
		LOGE("%s: tpm_version %d.%d has no backend in this build",
		     cfg->path ? cfg->path : "(defaults)", cfg->tpm_version / 10, cfg->tpm_version % 10);
		return CKR_FUNCTION_FAILED;
	}
}
