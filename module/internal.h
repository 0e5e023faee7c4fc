/* What the PKCS#11 entry points share: module state, sessions, and the preamble every
 * entry point begins with (initialized? which session? what it needs of the login). */
#ifndef TPMHA_MODULE_INTERNAL_H
#define TPMHA_MODULE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include <p11-kit/pkcs11.h>

#include "common/ckr.h"
#include "common/log.h"
#include "tokens/mech.h"
#include "tokens/token.h"

#define EXPORT __attribute__((visibility("default")))

struct lock;
struct tpmha_config;

struct session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	struct token *token;
	CK_FLAGS flags;               /* CKF_SERIAL_SESSION | CKF_RW_SESSION */
	atomic_uint refs;             /* taken under module.lock, shared or not */
	bool closed;
	struct lock *lock;            /* one call at a time per session */
	struct crypto_op *ops[OP_KINDS];
	struct {
		bool active;
		CK_OBJECT_HANDLE *handles;
		size_t count, next;
	} find;
	/* A bundle made for a length query (C_WrapKey with a NULL buffer), kept for the
	 * call that fetches it: making one takes TPM work and is never the same twice. */
	struct {
		CK_OBJECT_HANDLE unit, key;
		uint8_t *data;
		size_t len;
	} wrapped;
};

struct module {
	bool initialized;
	pid_t pid;                    /* the process that called C_Initialize */
	struct tpmha_config *cfg;
	struct registry *reg;
	struct lock *lock;            /* the session table; taken before the registry's */
	struct session **sessions;    /* sorted by handle */
	size_t nsessions, cap;
	CK_SESSION_HANDLE next_handle;
};

extern struct module module;

/* What an entry point needs of the session, checked by the preamble. */
enum session_rule {
	RULE_ANY = 0,           /* any session */
	RULE_RW = 1u << 0,      /* a read/write session (CKR_SESSION_READ_ONLY) */
	RULE_USER = 1u << 1,    /* the user logged in (CKR_USER_NOT_LOGGED_IN) */
	RULE_SO = 1u << 2,      /* the SO logged in (CKR_USER_NOT_LOGGED_IN) */
};

/* Initialized in this process? After fork() the child's copy of the parent's state is
 * dropped here, untouched, and it is CKR_CRYPTOKI_NOT_INITIALIZED until it calls
 * C_Initialize itself. */
CK_RV module_ready(void);

/* The session preamble: initialized, the handle valid, the rule met. On CKR_OK the
 * session is referenced and its lock held: end with session_leave(). */
CK_RV session_enter(CK_SESSION_HANDLE h, unsigned rule, struct session **out);
void session_leave(struct session *s);

/* Sessions of a slot (rw_only: read/write ones). Caller holds module.lock. */
size_t sessions_on_slot_locked(CK_SLOT_ID slot, bool rw_only);
/* Close every session (C_Finalize, C_CloseAllSessions(slot); slot ANY_SLOT for all). */
#define ANY_SLOT ((CK_SLOT_ID)-1)
void sessions_close_all(CK_SLOT_ID slot);

/* Log and return: every entry point's exit, so a failure always leaves one line. */
CK_RV p11_return(const char *func, CK_RV rv);
#define RETURN(rv) return p11_return(__func__, (rv))

#endif
