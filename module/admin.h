/* What the tpmha CLI needs beyond PKCS#11, on the module's own state after
 * C_Initialize (one TPM connection, one store): the TPM's identity and lockout
 * state, the configuration in force, deleting a token. */
#ifndef TPMHA_MODULE_ADMIN_H
#define TPMHA_MODULE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "conf/conf.h"
#include "tpm/backend.h"

CK_RV tpmha_admin_tpm(struct tpm_info *info, struct tpm_da_state *da, const struct tpm_caps **caps);
CK_RV tpmha_admin_config(const struct tpmha_config **cfg);
/* Delete a token and every object in it, after the TPM has checked its SO PIN.
 * CKR_SESSION_EXISTS while this process has sessions open on it. */
CK_RV tpmha_admin_token_delete(CK_SLOT_ID slot, const CK_UTF8CHAR *so_pin, CK_ULONG len);

/* Migration state PKCS#11 has no attribute for (`tpmha status`, `tpmha unit list`). */
struct domain_file;
struct store_replica;
/* The migration domain of the token in slot, parsed (release with domain_file_release);
 * *in_domain false, and CKR_OK, for a token without one. */
CK_RV tpmha_admin_token_domain(CK_SLOT_ID slot, struct domain_file *d, bool *in_domain);
/* The record of which units this unit sent which of the token's keys to (tokens/store.h;
 * key_id is the SHA-256 of the key's CKA_PUBLIC_KEY_INFO). free() the list. */
CK_RV tpmha_admin_replicas(CK_SLOT_ID slot, struct store_replica **list, size_t *count);

#endif
