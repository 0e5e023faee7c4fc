/* The door: C_GetFunctionList, C_Initialize, C_Finalize, C_GetInfo, and the preamble
 * the other entry points share. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/log.h"
#include "common/ossl.h"
#include "conf/conf.h"
#include "module/functions.h"
#include "module/internal.h"
#include "tpmha/tpmha.h"

struct module module;

/* C_Initialize and C_Finalize may not run at once; nothing else takes this lock. */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* What a fork()ed child abandoned, kept reachable so a leak checker in the child
 * (LSan at exit) does not report the parent's state as lost. */
static void *volatile abandoned[4];

/* Forget the parent's state in a fork()ed child: no TPM command, no database call, no
 * lock taken (a parent thread may have held one at fork). Memory stays allocated. */
static void module_abandon(void)
{
	if (module.reg)
		registry_abandon(module.reg);
	abandoned[0] = module.reg;
	abandoned[1] = module.cfg;
	abandoned[2] = module.lock;
	abandoned[3] = module.sessions;
	memset(&module, 0, sizeof(module));
}

CK_RV module_ready(void)
{
	if (!module.initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (module.pid != getpid()) {
		module_abandon();
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

CK_RV p11_return(const char *func, CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
	case CKR_BUFFER_TOO_SMALL:
		break;
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OPERATION_NOT_INITIALIZED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_ATTRIBUTE_SENSITIVE:
	case CKR_SIGNATURE_INVALID:
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_MECHANISM_INVALID:
	case CKR_USER_ALREADY_LOGGED_IN:
	case CKR_TOKEN_NOT_RECOGNIZED:
		/* What applications probe for routinely: details for those who ask. */
		LOGI("%s: %s", func, ckr_name(rv));
		break;
	default:
		LOGW("%s: %s", func, ckr_name(rv));
		break;
	}
	return rv;
}

static CK_RV module_open(void)
{
	struct tpmha_config *cfg = NULL;
	CK_RV rv;

	rv = config_load(&cfg);
	if (rv != CKR_OK)
		return rv;
	log_set_level(cfg->log_level);
	if (log_set_target(cfg->log_target) != 0) {
		LOGE("%s: log = %s: cannot open it", cfg->path ? cfg->path : "(defaults)", cfg->log_target);
		config_free(cfg);
		return CKR_FUNCTION_FAILED;
	}
	rv = ossl_init();
	if (rv == CKR_OK)
		rv = lock_new(&module.lock);
	if (rv == CKR_OK)
		rv = registry_open(cfg, &module.reg);
	if (rv != CKR_OK) {
		lock_free(module.lock);
		module.lock = NULL;
		config_free(cfg);
		return rv;
	}
	module.cfg = cfg;
	module.next_handle = 1;
	module.pid = getpid();
	module.initialized = true;
	if (cfg->tpm_version == 12)
		LOGI("initialized: store %s, tcsd %s:%u", cfg->store_dir, cfg->tcsd_host, cfg->tcsd_port);
	else
		LOGI("initialized: store %s, %s", cfg->store_dir, cfg->tcti);
	return CKR_OK;
}

CK_RV C_Initialize(CK_VOID_PTR init_args)
{
	CK_RV rv;

	pthread_mutex_lock(&init_lock);
	if (module.initialized && module.pid != getpid())
		module_abandon();
	if (module.initialized) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	rv = lock_system_init(init_args);
	if (rv == CKR_OK)
		rv = module_open();
out:
	pthread_mutex_unlock(&init_lock);
	RETURN(rv);
}

CK_RV C_Finalize(CK_VOID_PTR reserved)
{
	CK_RV rv;

	if (reserved)
		RETURN(CKR_ARGUMENTS_BAD);
	pthread_mutex_lock(&init_lock);
	rv = module_ready();
	if (rv == CKR_OK) {
		sessions_close_all(ANY_SLOT);
		registry_close(module.reg);
		config_free(module.cfg);
		lock_free(module.lock);
		free(module.sessions);
		memset(&module, 0, sizeof(module));
		lock_system_fini();
		LOGI("finalized");
	}
	pthread_mutex_unlock(&init_lock);
	RETURN(rv);
}

static void pad(CK_UTF8CHAR *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', size);
	memcpy(dst, src, n < size ? n : size);
}

CK_RV C_GetInfo(CK_INFO_PTR info)
{
	CK_RV rv = module_ready();

	if (rv != CKR_OK)
		RETURN(rv);
	if (!info)
		RETURN(CKR_ARGUMENTS_BAD);
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	pad(info->manufacturerID, sizeof(info->manufacturerID), "tpmha");
	pad(info->libraryDescription, sizeof(info->libraryDescription), "tpmha: TPM keys for HA units");
	info->libraryVersion.major = TPMHA_VERSION_MAJOR;
	info->libraryVersion.minor = TPMHA_VERSION_MINOR;
	RETURN(CKR_OK);
}

CK_FUNCTION_LIST tpmha_function_list = {
	.version = { 2, 40 },
#define F(name) .name = name,
	PKCS11_FUNCTIONS(F)
#undef F
};

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (!list)
		return CKR_ARGUMENTS_BAD;
	*list = &tpmha_function_list;
	return CKR_OK;
}
