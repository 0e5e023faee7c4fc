/* The one way secrets leave memory: wiped, then freed. */
#ifndef TPMHA_COMMON_SECRET_H
#define TPMHA_COMMON_SECRET_H

#include <stddef.h>
#include <stdint.h>

/* Overwrite n bytes in a way the compiler cannot drop. NULL is fine. */
void secret_wipe(void *p, size_t n);
/* secret_wipe() then free(). NULL is fine. */
void secret_free(void *p, size_t n);
/* malloc + copy; NULL on allocation failure. */
void *secret_dup(const void *p, size_t n);

/* Constant-time comparison: 0 when equal. */
int secret_cmp(const void *a, const void *b, size_t n);

#endif
