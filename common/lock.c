#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/lock.h"
#include "common/log.h"

struct lock {
	bool fair;
	void *app_mutex; /* application callbacks in use */
	pthread_mutex_t mutex;
	pthread_cond_t turn;
	unsigned long next_ticket;
	unsigned long now_serving;
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
		pthread_mutex_init(&l->mutex, NULL);
		pthread_cond_init(&l->turn, NULL);
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
		pthread_cond_destroy(&l->turn);
		pthread_mutex_destroy(&l->mutex);
	}
	free(l);
}

void lock_acquire(struct lock *l)
{
	unsigned long ticket;

	if (l->app_mutex) {
		app_callbacks.LockMutex(l->app_mutex);
		return;
	}
	pthread_mutex_lock(&l->mutex);
	if (!l->fair)
		return;
	ticket = l->next_ticket++;
	while (ticket != l->now_serving)
		pthread_cond_wait(&l->turn, &l->mutex);
	pthread_mutex_unlock(&l->mutex);
}

void lock_release(struct lock *l)
{
	if (l->app_mutex) {
		app_callbacks.UnlockMutex(l->app_mutex);
		return;
	}
	if (!l->fair) {
		pthread_mutex_unlock(&l->mutex);
		return;
	}
	pthread_mutex_lock(&l->mutex);
	l->now_serving++;
	pthread_cond_broadcast(&l->turn);
	pthread_mutex_unlock(&l->mutex);
}
