/* What the tpmha CLI needs beyond PKCS#11, on the module's own state after
 * C_Initialize (one TPM connection, one store): the TPM's identity and lockout
 * state, the configuration in force, deleting a token. */
#ifndef TPMHA_MODULE_ADMIN_H
#define TPMHA_MODULE_ADMIN_H

#include <p11-kit/pkcs11.h>

#include "conf/conf.h"
#include "tpm/backend.h"

CK_RV tpmha_admin_tpm(struct tpm_info *info, struct tpm_da_state *da, const struct tpm_caps **caps);
CK_RV tpmha_admin_config(const struct tpmha_config **cfg);
/* Delete a token and every object in it, after the TPM has checked its SO PIN.
 * CKR_SESSION_EXISTS while this process has sessions open on it. */
CK_RV tpmha_admin_token_delete(CK_SLOT_ID slot, const CK_UTF8CHAR *so_pin, CK_ULONG len);

#endif
