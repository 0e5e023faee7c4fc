#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/lock.h"
#include "common/log.h"

/* A waiter for a fair lock, on its own thread's stack. */
struct waiter {
	pthread_cond_t turn;
	struct waiter *next;
	bool granted;
};

struct lock {
	bool fair;
	void *app_mutex; /* application callbacks in use */
	pthread_mutex_t mutex;
	pthread_rwlock_t rw; /* plain locks: shared readers, one writer */
	/* fair locks: the owner hands the lock straight to the oldest waiter and wakes
	 * only that one, so nobody barges in and nobody else is woken for nothing */
	bool held;
	struct waiter *head, *tail;
};

static CK_C_INITIALIZE_ARGS app_callbacks;
static bool use_app_callbacks;

CK_RV lock_system_init(const CK_C_INITIALIZE_ARGS *args)
{
	int given;

	use_app_callbacks = false;
	if (!args)
		return CKR_OK;
	if (args->pReserved) {
		LOGW("CK_C_INITIALIZE_ARGS.pReserved is not NULL");
		return CKR_ARGUMENTS_BAD;
	}
	given = !!args->CreateMutex + !!args->DestroyMutex + !!args->LockMutex + !!args->UnlockMutex;
	if (given != 0 && given != 4) {
		LOGW("CK_C_INITIALIZE_ARGS gives %d of the 4 mutex callbacks", given);
		return CKR_ARGUMENTS_BAD;
	}
	/* With CKF_OS_LOCKING_OK we may pick native locks even when callbacks are given. */
	if (given == 4 && !(args->flags & CKF_OS_LOCKING_OK)) {
		app_callbacks = *args;
		use_app_callbacks = true;
	}
	return CKR_OK;
}

void lock_system_fini(void)
{
	use_app_callbacks = false;
}

static CK_RV lock_create(bool fair, struct lock **out)
{
	struct lock *l = calloc(1, sizeof(*l));

	if (!l)
		return CKR_HOST_MEMORY;
	l->fair = fair;
	if (use_app_callbacks) {
		CK_RV rv = app_callbacks.CreateMutex(&l->app_mutex);
		if (rv != CKR_OK) {
			free(l);
			LOGE("the application's CreateMutex failed: 0x%lx", rv);
			return rv == CKR_HOST_MEMORY ? rv : CKR_CANT_LOCK;
		}
	} else {
		pthread_rwlockattr_t attr;
		pthread_mutex_init(&l->mutex, NULL);
		/* Writers first: a steady stream of readers must not starve a writer. */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&l->rw, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	*out = l;
	return CKR_OK;
}

CK_RV lock_new(struct lock **out)
{
	return lock_create(false, out);
}

CK_RV lock_new_fair(struct lock **out)
{
	return lock_create(true, out);
}

void lock_free(struct lock *l)
{
	if (!l)
		return;
	if (l->app_mutex) {
		app_callbacks.DestroyMutex(l->app_mutex);
	} else {
		pthread_rwlock_destroy(&l->rw);
		pthread_mutex_destroy(&l->mutex);
	}
	free(l);
}

void lock_acquire(struct lock *l)
{
	struct waiter me;

	if (l->app_mutex) {
		app_callbacks.LockMutex(l->app_mutex);
		return;
	}
	if (!l->fair) {
		pthread_rwlock_wrlock(&l->rw);
		return;
	}
	pthread_mutex_lock(&l->mutex);
	if (!l->held) {
		l->held = true;
		pthread_mutex_unlock(&l->mutex);
		return;
	}
	pthread_cond_init(&me.turn, NULL);
	me.next = NULL;
	me.granted = false;
	if (l->tail)
		l->tail->next = &me;
	else
		l->head = &me;
	l->tail = &me;
	while (!me.granted)
		pthread_cond_wait(&me.turn, &l->mutex);
	pthread_mutex_unlock(&l->mutex);
	pthread_cond_destroy(&me.turn);
}

void lock_acquire_shared(struct lock *l)
{
	if (l->app_mutex || l->fair)
		lock_acquire(l);
	else
		pthread_rwlock_rdlock(&l->rw);
}

void lock_release(struct lock *l)
{
	struct waiter *next;

	if (l->app_mutex) {
		app_callbacks.UnlockMutex(l->app_mutex);
		return;
	}
	if (!l->fair) {
		pthread_rwlock_unlock(&l->rw);
		return;
	}
	pthread_mutex_lock(&l->mutex);
	next = l->head;
	if (next) {
		l->head = next->next;
		if (!l->head)
			l->tail = NULL;
		next->granted = true; /* still held: it is next's now */
		pthread_cond_signal(&next->turn);
	} else {
		l->held = false;
	}
	pthread_mutex_unlock(&l->mutex);
}
