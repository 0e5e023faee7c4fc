#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/secret.h"

void secret_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

void secret_free(void *p, size_t n)
{
	if (!p)
		return;
	secret_wipe(p, n);
	free(p);
}

void *secret_dup(const void *p, size_t n)
{
	void *copy = malloc(n ? n : 1);

	if (copy && n)
		memcpy(copy, p, n);
	return copy;
}

int secret_cmp(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n);
}
