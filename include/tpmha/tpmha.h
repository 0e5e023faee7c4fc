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

/* Environment variables the module reads. */
#define TPMHA_ENV_CONF "TPMHA_CONF"   /* configuration file path */
#define TPMHA_ENV_TCTI "TPMHA_TCTI"   /* overrides `tcti =` */
#define TPMHA_ENV_STORE "TPMHA_STORE" /* overrides `store =` */
#define TPMHA_ENV_LOG_LEVEL "TPMHA_LOG_LEVEL" /* overrides `log_level =` */

#endif
