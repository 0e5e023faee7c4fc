/* CK_RV values by name, for log lines and messages that a person reads. */
#ifndef TPMHA_COMMON_CKR_H
#define TPMHA_COMMON_CKR_H

#include <p11-kit/pkcs11.h>

/* "CKR_PIN_INCORRECT"; an unknown value as "0x...". Thread-safe; the string stays valid
 * until the calling thread's next call. */
const char *ckr_name(CK_RV rv);

#endif
