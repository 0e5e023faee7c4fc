/* The configuration file: `key = value` lines, `#` comments. */
#ifndef TPMHA_CONF_CONF_H
#define TPMHA_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/log.h"

#define CONFIG_SECRET_MAX 64

struct config_secret {
	size_t len;
	uint8_t value[CONFIG_SECRET_MAX];
	bool set; /* given in the file or environment (else the well-known default) */
};

struct tpmha_config {
	char *path;             /* the file read, or NULL when none was found at the default path */
	char *store_dir;        /* store = */
	int tpm_version;        /* tpm_version = 2.0 | 1.2 → 20 | 12 */
	char *tcti;             /* tcti = (TPM 2.0) */
	char *tcsd_host;        /* tcsd = host:port (TPM 1.2) */
	unsigned tcsd_port;
	struct config_secret owner_auth; /* owner_auth = (TPM 2.0 owner hierarchy / TPM 1.2 owner secret) */
	struct config_secret srk_auth;   /* srk_auth = (TPM 1.2) */
	char *log_target;       /* log = stderr | syslog | file:/path */
	enum log_level log_level; /* log_level = */
	unsigned max_loaded_keys; /* max_loaded_keys = (0: as many as the TPM says it can hold) */
};

/* Read $TPMHA_CONF or the default file, apply TPMHA_TCTI/TPMHA_STORE/TPMHA_LOG_LEVEL.
 * A missing file at the default path means defaults; a missing file named by
 * TPMHA_CONF, or any bad line, is CKR_FUNCTION_FAILED with one log line naming the
 * file, the line and the problem. */
CK_RV config_load(struct tpmha_config **out);
/* Parse the given file (NULL: defaults only). No environment overrides. */
CK_RV config_load_file(const char *path, struct tpmha_config **out);
void config_free(struct tpmha_config *cfg);

/* The path config_load() would read. */
const char *config_default_path(void);

#endif
