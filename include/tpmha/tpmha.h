/* tpmha — public constants of the tpmha PKCS#11 module.
 *
 * Vendor-defined values live in one range: CK*_VENDOR_DEFINED | TPMHA_VENDOR_BASE | n.
 * The migration extensions (unit and approval object classes, the migration wrapping
 * mechanism) are added here as they land; nothing below is a placeholder. */
#ifndef TPMHA_TPMHA_H
#define TPMHA_TPMHA_H

#define TPMHA_VERSION_MAJOR 0
#define TPMHA_VERSION_MINOR 1

/* "TH" in the second byte keeps our values apart from other vendors' low numbers. */
#define TPMHA_VENDOR_BASE 0x54480000UL

/* Vendor-defined numbers (CK*_VENDOR_DEFINED is 0x80000000 for each kind). */
#define TPMHA_VENDOR(n) (0x80000000UL | TPMHA_VENDOR_BASE | (n))

/* Migration, the PKCS#11 way.
 *
 * A unit's identity (its unit storage key) and an MA approval of a unit are objects
 * of their own classes: create them with C_CreateObject, CKA_VALUE = the file that
 * `tpmha unit init` / `tpmha domain approve` wrote; the token fills the rest.
 *
 * C_WrapKey(CKM_TPMHA_MIGRATE, hWrappingKey = the destination's unit object, hKey = a
 * private key of a domain token) returns a migration bundle for that unit: the key, its
 * public key and certificates (same CKA_ID), wrapped so only that unit's TPM can import
 * them, once the token holds an approval object for that unit. C_UnwrapKey with the
 * same mechanism and this unit's own unit object imports a bundle into the token and
 * returns the private key's handle. */
#define CKO_TPMHA_UNIT TPMHA_VENDOR(0x01)
#define CKO_TPMHA_APPROVAL TPMHA_VENDOR(0x02)
#define CKA_TPMHA_UNIT_ID TPMHA_VENDOR(0x01)     /* 16 bytes: the unit an object names */
#define CKA_TPMHA_TPM_VERSION TPMHA_VENDOR(0x02) /* CK_ULONG: 20 for TPM 2.0, 12 for 1.2 */
#define CKA_TPMHA_DOMAIN_ID TPMHA_VENDOR(0x03)   /* 16 bytes: an approval's domain */
#define CKM_TPMHA_MIGRATE TPMHA_VENDOR(0x01)

/* TPM 1.2 bound data: RSAES-OAEP with SHA-1 and the label "TCPA" over the
 * TPM_BOUND_DATA header 01 01 00 00 02 and the data — the only OAEP a TPM 1.2 decrypts.
 * C_Encrypt (any RSA-2048 public key, in software) and C_Decrypt (a private key made
 * with CKA_TPMHA_TCPA_BIND true, on a TPM 1.2 token). A TPM 1.2 key has one encryption
 * scheme: such a key decrypts bound data only, not PKCS#1 v1.5. */
#define CKM_TPMHA_TCPA_OAEP TPMHA_VENDOR(0x02)
#define CKA_TPMHA_TCPA_BIND TPMHA_VENDOR(0x04)   /* CK_BBOOL, private keys: see above */

/* Environment variables the module reads. */
#define TPMHA_ENV_CONF "TPMHA_CONF"   /* configuration file path */
#define TPMHA_ENV_TCTI "TPMHA_TCTI"   /* overrides `tcti =` */
#define TPMHA_ENV_STORE "TPMHA_STORE" /* overrides `store =` */
#define TPMHA_ENV_LOG_LEVEL "TPMHA_LOG_LEVEL" /* overrides `log_level =` */

/* The vendor function list: C_GetInterface((CK_UTF8CHAR *)TPMHA_INTERFACE_NAME, NULL,
 * &interface, 0), then interface->pFunctionList. Include a pkcs11.h before this file. */
#define TPMHA_INTERFACE_NAME "Vendor tpmha"

#ifdef CKR_OK
typedef struct TPMHA_FUNCTION_LIST {
	CK_VERSION version; /* 1.0 */
	/* A new token bound to a migration domain (the domain file's bytes), on the free
	 * slot: as C_InitToken, plus the domain. */
	CK_RV (*TPMHA_InitDomainToken)(CK_SLOT_ID slot, CK_UTF8CHAR_PTR so_pin, CK_ULONG so_pin_len,
				       CK_UTF8CHAR_PTR label /* 32 bytes, blank padded */,
				       CK_BYTE_PTR domain, CK_ULONG domain_len, CK_SLOT_ID_PTR new_slot);
	/* This unit's identity file (PKCS#11 buffer convention). */
	CK_RV (*TPMHA_GetUnitIdentity)(CK_UTF8CHAR_PTR label, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
	/* The whole token of the session (user logged in) as a bundle for the unit object
	 * hUnit: every extractable key, every object, the PIN seals. */
	CK_RV (*TPMHA_ReplicateToken)(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE unit, CK_BYTE_PTR out,
				      CK_ULONG_PTR out_len);
	/* A bundle made for this unit: the token it carries is created, or brought up to
	 * date, with the same label and serial. A new token needs its domain file. */
	CK_RV (*TPMHA_ReceiveBundle)(CK_BYTE_PTR bundle, CK_ULONG bundle_len, CK_BYTE_PTR domain,
				     CK_ULONG domain_len, CK_SLOT_ID_PTR slot);
	/* What the migration authority must sign before the token (hKey ==
	 * CK_INVALID_HANDLE) or one key may go to the unit object hUnit: an approval
	 * request file for `tpmha domain approve --request`. A TPM 2.0 unit is approved
	 * once for all keys; a TPM 1.2 unit key by key, so its request lists the keys. */
	CK_RV (*TPMHA_ApprovalRequest)(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE unit, CK_OBJECT_HANDLE key,
				       CK_BYTE_PTR out, CK_ULONG_PTR out_len);
} TPMHA_FUNCTION_LIST;
#endif

#endif
