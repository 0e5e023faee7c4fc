/* Locks as C_Initialize asked for them: the OS's (pthreads) or the application's
 * mutex callbacks. */
#ifndef TPMHA_COMMON_LOCK_H
#define TPMHA_COMMON_LOCK_H

#include <p11-kit/pkcs11.h>

/* Check CK_C_INITIALIZE_ARGS and choose the lock kind:
 * CKR_ARGUMENTS_BAD for a half-filled set of callbacks or a non-NULL pReserved. */
CK_RV lock_system_init(const CK_C_INITIALIZE_ARGS *args);
void lock_system_fini(void);

struct lock;

/* A plain mutex. */
CK_RV lock_new(struct lock **out);
/* First come, first served (a ticket lock): many threads waiting for the TPM get it in
 * arrival order, so no thread's latency grows without bound. With application
 * callbacks it is their mutex, whose fairness is theirs. */
CK_RV lock_new_fair(struct lock **out);
void lock_free(struct lock *l); /* NULL is fine */
void lock_acquire(struct lock *l);
/* Plain locks: one of many readers, until lock_release(). The application's mutexes
 * and fair locks have no shared mode: there it is lock_acquire(). */
void lock_acquire_shared(struct lock *l);
void lock_release(struct lock *l);

#endif
