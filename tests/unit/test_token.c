/* The token layer (tokens/registry.c, login.c, token.c) on a mock TPM: how it maps
 * what the TPM says (wrong PIN, lockout, dictionary-attack counters, another storage
 * key, a malformed unseal) to PKCS#11, PIN length rules, re-initialization, private
 * object visibility, and two registries sharing one store. Whether login through a
 * real TPM works is the integration tests' business. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ossl.h"
#include "conf/conf.h"
#include "mock_tpm.h"
#include "tokens/object.h"
#include "tokens/store.h"
#include "tokens/token.h"
#include "unit.h"

#define SO_PIN "so-pin-1234"
#define USER_PIN "user-5678"
#define P(s) (const uint8_t *)(s), strlen(s)

struct fixture {
	char *dir;
	char *log;
	struct tpmha_config *cfg;
	struct registry *reg;
	CK_SLOT_ID slot;
	struct token *tok;
	struct registry *other; /* a second process's view, closed by teardown */
	struct token *t2;
};

static uint8_t label32[32];

static CK_RV open_registry(struct fixture *f)
{
	return registry_open(f->cfg, &f->reg);
}

static void close_registry(struct fixture *f)
{
	token_put(f->tok);
	f->tok = NULL;
	registry_close(f->reg);
	f->reg = NULL;
}

/* A registry on a fresh store with one token (SO PIN set, user PIN not yet). */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *store;

	mock_tpm_reset();
	f->dir = unit_tmpdir();
	f->log = unit_log_capture(f->dir, LOG_LEVEL_INFO);
	if (config_load_file(NULL, &f->cfg) != CKR_OK)
		return -1;
	store = malloc(strlen(f->dir) + 8);
	sprintf(store, "%s/store", f->dir);
	free(f->cfg->store_dir);
	f->cfg->store_dir = store;
	memset(label32, ' ', sizeof(label32));
	memcpy(label32, "unit token", 10);
	if (open_registry(f) != CKR_OK)
		return -1;
	if (registry_init_token(f->reg, FREE_SLOT_ID, P(SO_PIN), label32, &f->slot) != CKR_OK)
		return -1;
	if (registry_token(f->reg, f->slot, &f->tok) != CKR_OK || !f->tok)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	token_put(f->t2);
	registry_close(f->other);
	close_registry(f);
	config_free(f->cfg);
	unit_log_quiet();
	unit_tmpdir_free(f->dir);
	free(f->log);
	free(f);
	return 0;
}

static void user_pin(struct fixture *f)
{
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_OK);
	assert_int_equal(token_init_pin(f->tok, P(USER_PIN)), CKR_OK);
	assert_int_equal(token_logout(f->tok), CKR_OK);
}

static CK_FLAGS token_flags(struct fixture *f)
{
	CK_TOKEN_INFO info;

	assert_int_equal(registry_token_info(f->reg, f->slot, &info), CKR_OK);
	return info.flags;
}

static void test_registry_slots(void **state)
{
	struct fixture *f = *state;
	CK_SLOT_ID ids[4];
	CK_ULONG n = 0;
	CK_TOKEN_INFO info;
	CK_SLOT_INFO sinfo;
	struct token *t = (struct token *)0x1;

	assert_int_equal(registry_slots(f->reg, NULL, &n), CKR_OK);
	assert_int_equal(n, 2);
	n = 1;
	assert_int_equal(registry_slots(f->reg, ids, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 2);
	n = 4;
	assert_int_equal(registry_slots(f->reg, ids, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], f->slot);
	assert_int_equal(ids[1], FREE_SLOT_ID);
	assert_int_not_equal(f->slot, FREE_SLOT_ID);

	assert_int_equal(registry_token_info(f->reg, f->slot, &info), CKR_OK);
	assert_memory_equal(info.label, label32, 32);
	assert_true(info.flags & CKF_TOKEN_INITIALIZED);
	assert_true(info.flags & CKF_RNG);
	assert_true(info.flags & CKF_LOGIN_REQUIRED);
	assert_false(info.flags & CKF_USER_PIN_INITIALIZED);
	for (int i = 0; i < 16; i++)
		assert_non_null(strchr("0123456789abcdef", info.serialNumber[i]));
	assert_int_equal(info.ulMinPinLen, PIN_MIN_LEN);
	assert_int_equal(info.ulMaxPinLen, PIN_MAX_LEN);
	assert_int_equal(registry_token_info(f->reg, FREE_SLOT_ID, &info), CKR_OK);
	assert_false(info.flags & CKF_TOKEN_INITIALIZED);
	assert_int_equal(registry_token_info(f->reg, 4242, &info), CKR_SLOT_ID_INVALID);
	assert_int_equal(registry_slot_info(f->reg, 4242, &sinfo), CKR_SLOT_ID_INVALID);
	assert_int_equal(registry_slot_info(f->reg, FREE_SLOT_ID, &sinfo), CKR_OK);
	assert_true(sinfo.flags & CKF_TOKEN_PRESENT);
	assert_int_equal(registry_token(f->reg, 4242, &t), CKR_SLOT_ID_INVALID);
	assert_null(t);
	assert_int_equal(registry_token(f->reg, FREE_SLOT_ID, &t), CKR_OK);
	assert_null(t);
}

static void test_open_fails(void **state)
{
	struct fixture *f = *state;
	struct registry *r = (struct registry *)0x1;

	mock_tpm.open_rv = CKR_DEVICE_ERROR;
	assert_int_equal(registry_open(f->cfg, &r), CKR_DEVICE_ERROR);
	assert_ptr_equal(r, (struct registry *)0x1);
}

static void test_pin_lengths(void **state)
{
	struct fixture *f = *state;
	CK_SLOT_ID slot = 0;
	uint8_t long_pin[PIN_MAX_LEN + 1];
	unsigned opens;

	memset(long_pin, 'x', sizeof(long_pin));
	assert_int_equal(registry_init_token(f->reg, FREE_SLOT_ID, P("abc"), label32, &slot), CKR_PIN_LEN_RANGE);
	assert_int_equal(registry_init_token(f->reg, FREE_SLOT_ID, long_pin, sizeof(long_pin), label32, &slot),
			 CKR_PIN_LEN_RANGE);
	/* a PIN of a length we never accept is wrong without asking the TPM */
	opens = mock_tpm.seal_opens;
	assert_int_equal(token_login(f->tok, CKU_SO, P("abc")), CKR_PIN_INCORRECT);
	assert_int_equal(token_login(f->tok, CKU_SO, long_pin, sizeof(long_pin)), CKR_PIN_INCORRECT);
	assert_int_equal(mock_tpm.seal_opens, opens);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_OK);
	assert_int_equal(token_init_pin(f->tok, P("abc")), CKR_PIN_LEN_RANGE);
	assert_int_equal(token_init_pin(f->tok, long_pin, sizeof(long_pin)), CKR_PIN_LEN_RANGE);
	assert_int_equal(token_init_pin(f->tok, long_pin, PIN_MAX_LEN), CKR_OK);
	assert_int_equal(token_set_pin(f->tok, LOGIN_SO, P(SO_PIN), P("abc")), CKR_PIN_LEN_RANGE);
	assert_int_equal(token_set_pin(f->tok, LOGIN_SO, P(SO_PIN), long_pin, sizeof(long_pin)), CKR_PIN_LEN_RANGE);
	assert_int_equal(token_logout(f->tok), CKR_OK);
	assert_int_equal(token_login(f->tok, CKU_USER, long_pin, PIN_MAX_LEN), CKR_OK);
}

static void test_login_states(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(token_login_state(f->tok), LOGIN_NONE);
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_USER_PIN_NOT_INITIALIZED);
	assert_int_equal(token_logout(f->tok), CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(token_init_pin(f->tok, P(USER_PIN)), CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(token_login(f->tok, CKU_SO, P("wrong-pin")), CKR_PIN_INCORRECT);
	assert_int_equal(token_login_state(f->tok), LOGIN_NONE);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_OK);
	assert_int_equal(token_login_state(f->tok), LOGIN_SO);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_USER_ALREADY_LOGGED_IN);
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	assert_int_equal(token_init_pin(f->tok, P(USER_PIN)), CKR_OK);
	assert_true(token_flags(f) & CKF_USER_PIN_INITIALIZED);
	assert_int_equal(token_logout(f->tok), CKR_OK);
	assert_int_equal(token_logout(f->tok), CKR_USER_NOT_LOGGED_IN);
	/* the SO PIN is not the user PIN, and the other way round */
	assert_int_equal(token_login(f->tok, CKU_USER, P(SO_PIN)), CKR_PIN_INCORRECT);
	assert_int_equal(token_login(f->tok, CKU_SO, P(USER_PIN)), CKR_PIN_INCORRECT);
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_OK);
	assert_int_equal(token_login_state(f->tok), LOGIN_USER);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	assert_int_equal(token_verify_pin(f->tok, P(USER_PIN)), CKR_OK);
	assert_int_equal(token_verify_pin(f->tok, P("not-the-pin")), CKR_PIN_INCORRECT);
	assert_int_equal(token_check_pin(f->tok, LOGIN_SO, P(SO_PIN)), CKR_OK);
	assert_int_equal(token_check_pin(f->tok, LOGIN_SO, P(USER_PIN)), CKR_PIN_INCORRECT);
	assert_int_equal(token_login_state(f->tok), LOGIN_USER);
	assert_int_equal(token_logout(f->tok), CKR_OK);
	assert_int_equal(token_verify_pin(f->tok, P(USER_PIN)), CKR_USER_NOT_LOGGED_IN);
}

static void test_tpm_says_locked(void **state)
{
	struct fixture *f = *state;

	user_pin(f);
	mock_tpm.seal_open_rv = CKR_PIN_LOCKED;
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_PIN_LOCKED);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_PIN_LOCKED);
	assert_int_equal(token_login_state(f->tok), LOGIN_NONE);
	assert_int_equal(token_set_pin(f->tok, LOGIN_USER, P(USER_PIN), P("new-pin-1")), CKR_PIN_LOCKED);
	assert_int_equal(registry_init_token(f->reg, f->slot, P(SO_PIN), label32, &f->slot), CKR_PIN_LOCKED);
	mock_tpm.seal_open_rv = CKR_PIN_INCORRECT;
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_PIN_INCORRECT);
	mock_tpm.seal_open_rv = CKR_OK;
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_OK);
}

static void test_da_flags(void **state)
{
	struct fixture *f = *state;
	const CK_FLAGS all = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED |
			     CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED;

	assert_int_equal(token_flags(f) & all, 0);
	mock_tpm.da.failed_tries = 1;
	assert_int_equal(token_flags(f) & all, CKF_USER_PIN_COUNT_LOW | CKF_SO_PIN_COUNT_LOW);
	mock_tpm.da.failed_tries = 2;
	assert_int_equal(token_flags(f) & all, CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
						       CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY);
	mock_tpm.da.failed_tries = 3;
	assert_int_equal(token_flags(f) & all, CKF_USER_PIN_LOCKED | CKF_SO_PIN_LOCKED);
	mock_tpm.da.failed_tries = 0;
	mock_tpm.da.locked = true;
	assert_int_equal(token_flags(f) & all, CKF_USER_PIN_LOCKED | CKF_SO_PIN_LOCKED);
	mock_tpm.da.locked = false;
	mock_tpm.da.max_tries = 100;
	mock_tpm.da.failed_tries = 1;
	assert_int_equal(token_flags(f) & all, CKF_USER_PIN_COUNT_LOW | CKF_SO_PIN_COUNT_LOW);
	mock_tpm.da.failed_tries = 99;
	assert_true(token_flags(f) & CKF_USER_PIN_FINAL_TRY);
}

static void test_unseal_wrong_length(void **state)
{
	struct fixture *f = *state;

	mock_tpm.seal_open_len = TOKEN_SECRET_LEN - 1;
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_DEVICE_ERROR);
	assert_int_equal(token_login_state(f->tok), LOGIN_NONE);
}

static void test_storage_key_changed(void **state)
{
	struct fixture *f = *state;
	unsigned opens;

	user_pin(f);
	/* the TPM was cleared: its storage key has another name */
	close_registry(f);
	mock_tpm.name[0] ^= 1;
	assert_int_equal(open_registry(f), CKR_OK);
	assert_int_equal(registry_token(f->reg, f->slot, &f->tok), CKR_OK);
	opens = mock_tpm.seal_opens;
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_DEVICE_ERROR);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_DEVICE_ERROR);
	assert_int_equal(mock_tpm.seal_opens, opens); /* no PIN reached the TPM */
	assert_int_equal(token_login_state(f->tok), LOGIN_NONE);
	{
		char *log = unit_log_read(f->log);
		assert_non_null(strstr(log, "another unit storage key"));
		free(log);
	}
	/* the TPM cannot say its storage key's name */
	mock_tpm.name[0] ^= 1;
	close_registry(f);
	assert_int_equal(open_registry(f), CKR_OK);
	assert_int_equal(registry_token(f->reg, f->slot, &f->tok), CKR_OK);
	mock_tpm.name_rv = CKR_DEVICE_ERROR;
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_DEVICE_ERROR);
	mock_tpm.name_rv = CKR_OK;
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_OK);
}

static void test_set_pin(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(token_set_pin(f->tok, LOGIN_USER, P(USER_PIN), P("new-user-pin")),
			 CKR_USER_PIN_NOT_INITIALIZED);
	user_pin(f);
	assert_int_equal(token_set_pin(f->tok, LOGIN_USER, P("wrong-old"), P("new-user-pin")), CKR_PIN_INCORRECT);
	assert_int_equal(token_set_pin(f->tok, LOGIN_USER, P(USER_PIN), P("new-user-pin")), CKR_OK);
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_PIN_INCORRECT);
	assert_int_equal(token_login(f->tok, CKU_USER, P("new-user-pin")), CKR_OK);
	assert_int_equal(token_logout(f->tok), CKR_OK);
	assert_int_equal(token_set_pin(f->tok, LOGIN_SO, P(SO_PIN), P("new-so-pin")), CKR_OK);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_PIN_INCORRECT);
	assert_int_equal(token_login(f->tok, CKU_SO, P("new-so-pin")), CKR_OK);
	assert_int_equal(token_logout(f->tok), CKR_OK);
	/* the change is in the store: a fresh registry sees it */
	close_registry(f);
	assert_int_equal(open_registry(f), CKR_OK);
	assert_int_equal(registry_token(f->reg, f->slot, &f->tok), CKR_OK);
	assert_int_equal(token_login(f->tok, CKU_USER, P("new-user-pin")), CKR_OK);
}

/* A completed data object template. */
static void data_object(struct attrs *a, const char *label, bool on_token, bool is_private)
{
	assert_int_equal(attrs_set_ulong(a, CKA_CLASS, CKO_DATA), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_LABEL, label, strlen(label)), CKR_OK);
	assert_int_equal(attrs_set_bool(a, CKA_TOKEN, on_token), CKR_OK);
	assert_int_equal(attrs_set_bool(a, CKA_PRIVATE, is_private), CKR_OK);
	assert_int_equal(attrs_set(a, CKA_VALUE, "secret value 42", 15), CKR_OK);
	assert_int_equal(object_template_complete(a, ORIGIN_CREATE, CK_UNAVAILABLE_INFORMATION,
						  CK_UNAVAILABLE_INFORMATION, false), CKR_OK);
}

static size_t count_found(struct token *t, const char *label)
{
	CK_ATTRIBUTE tmpl[] = { { CKA_LABEL, (void *)label, label ? strlen(label) : 0 } };
	CK_OBJECT_HANDLE *handles = NULL;
	size_t n = 0;

	assert_int_equal(token_find(t, tmpl, label ? 1 : 0, &handles, &n), CKR_OK);
	free(handles);
	return n;
}

static void test_private_objects(void **state)
{
	struct fixture *f = *state;
	struct attrs a = ATTRS_INIT;
	CK_OBJECT_HANDLE pub_h = 0, priv_h = 0, sess_h = 0;
	struct object *o = NULL;
	struct store *s = NULL;
	struct store_object *rows = NULL;
	size_t nrows = 0;

	user_pin(f);
	/* a private object needs the user */
	data_object(&a, "private one", true, true);
	assert_int_equal(token_object_add(f->tok, 1, &a, NULL, NULL, &priv_h), CKR_USER_NOT_LOGGED_IN);
	attrs_clear(&a);
	data_object(&a, "public one", true, false);
	assert_int_equal(token_object_add(f->tok, 1, &a, NULL, NULL, &pub_h), CKR_OK);
	attrs_clear(&a);
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_OK);
	data_object(&a, "private one", true, true);
	assert_int_equal(token_object_add(f->tok, 1, &a, NULL, NULL, &priv_h), CKR_OK);
	attrs_clear(&a);
	data_object(&a, "session one", false, true);
	assert_int_equal(token_object_add(f->tok, 7, &a, NULL, NULL, &sess_h), CKR_OK);
	attrs_clear(&a);
	assert_true(sess_h >= SESSION_OBJECT_BASE);
	/* Token objects: their store ids, a private one's with the login in the high half. */
	assert_true(pub_h < SESSION_OBJECT_BASE && (priv_h & 0xffffffffu) < SESSION_OBJECT_BASE);
	assert_true(priv_h >> 32 != 0);
	assert_int_equal(count_found(f->tok, NULL), 3);

	/* nothing private is in the store in the clear */
	assert_int_equal(store_open(f->cfg->store_dir, &s), CKR_OK);
	assert_int_equal(store_objects(s, (int64_t)f->slot, &rows, &nrows), CKR_OK);
	assert_int_equal(nrows, 2);
	for (size_t i = 0; i < nrows; i++) {
		bool has_label = memmem(rows[i].attrs.data, rows[i].attrs.len, "private one", 11) != NULL;
		bool has_value = memmem(rows[i].attrs.data, rows[i].attrs.len, "secret value", 12) != NULL;
		if ((CK_OBJECT_HANDLE)rows[i].id == (priv_h & 0xffffffffu)) {
			assert_true(rows[i].is_private);
			assert_false(has_label);
			assert_false(has_value);
		} else {
			assert_false(rows[i].is_private);
			assert_true(has_value);
		}
	}
	store_objects_free(rows, nrows);
	store_close(s);

	/* logged out: private objects are gone from view, by find and by handle, and
	 * private session objects are gone for good (PKCS#11 v2.40 C_Logout) */
	assert_int_equal(token_logout(f->tok), CKR_OK);
	assert_int_equal(count_found(f->tok, NULL), 1);
	assert_int_equal(token_object(f->tok, priv_h, &o), CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(token_object(f->tok, sess_h, &o), CKR_OBJECT_HANDLE_INVALID);
	assert_null(o);
	assert_int_equal(token_object(f->tok, pub_h, &o), CKR_OK);
	object_put(o);
	o = NULL;
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_OK);
	assert_int_equal(count_found(f->tok, "session one"), 0);
	assert_int_equal(count_found(f->tok, "private one"), 1);
	/* the old handle stays invalid after the new login; a find gives the new one */
	assert_int_equal(token_object(f->tok, priv_h, &o), CKR_OBJECT_HANDLE_INVALID);
	{
		CK_ATTRIBUTE tmpl[] = { { CKA_LABEL, "private one", 11 } };
		CK_OBJECT_HANDLE *found = NULL;
		size_t n = 0;
		assert_int_equal(token_find(f->tok, tmpl, 1, &found, &n), CKR_OK);
		assert_int_equal(n, 1);
		assert_int_not_equal(found[0], priv_h);
		assert_int_equal(found[0] & 0xffffffffu, priv_h & 0xffffffffu);
		assert_int_equal(token_object(f->tok, found[0], &o), CKR_OK);
		free(found);
	}
	{
		char buf[32];
		CK_ATTRIBUTE want[] = { { CKA_VALUE, buf, sizeof(buf) } };
		assert_int_equal(token_object_read(f->tok, o, want, 1), CKR_OK);
		assert_int_equal(want[0].ulValueLen, 15);
		assert_memory_equal(buf, "secret value 42", 15);
	}
	object_put(o);
	/* a public session object goes with its session */
	data_object(&a, "session two", false, false);
	assert_int_equal(token_object_add(f->tok, 7, &a, NULL, NULL, &sess_h), CKR_OK);
	attrs_clear(&a);
	token_session_closed(f->tok, 6);
	assert_int_equal(count_found(f->tok, "session two"), 1);
	token_session_closed(f->tok, 7);
	assert_int_equal(count_found(f->tok, "session two"), 0);
	assert_int_equal(count_found(f->tok, NULL), 2);
}

/* Another process on the same store: a second registry. */
static void test_two_registries_objects(void **state)
{
	struct fixture *f = *state;
	struct attrs a = ATTRS_INIT;
	CK_OBJECT_HANDLE h = 0;
	CK_SLOT_ID ids[4];
	CK_ULONG n = 4;

	assert_int_equal(registry_open(f->cfg, &f->other), CKR_OK);
	assert_int_equal(registry_slots(f->other, ids, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], f->slot);
	assert_int_equal(registry_token(f->other, f->slot, &f->t2), CKR_OK);
	assert_int_equal(count_found(f->t2, NULL), 0);
	/* an object made here is found there at the next look */
	data_object(&a, "shared", true, false);
	assert_int_equal(token_object_add(f->tok, 1, &a, NULL, NULL, &h), CKR_OK);
	attrs_clear(&a);
	assert_int_equal(count_found(f->t2, "shared"), 1);
}

/* A PIN set by one process must work in another that was already running:
 * C_InitPIN or C_SetPIN elsewhere, then C_Login here (no C_GetSlotList or
 * C_FindObjects in between). */
static void test_two_registries_pin(void **state)
{
	struct fixture *f = *state;
	CK_TOKEN_INFO info;

	assert_int_equal(registry_open(f->cfg, &f->other), CKR_OK);
	assert_int_equal(registry_token(f->other, f->slot, &f->t2), CKR_OK);
	user_pin(f);
	assert_int_equal(registry_token_info(f->other, f->slot, &info), CKR_OK);
	assert_true(info.flags & CKF_USER_PIN_INITIALIZED);
	assert_int_equal(token_login(f->t2, CKU_USER, P(USER_PIN)), CKR_OK);
	assert_int_equal(token_logout(f->t2), CKR_OK);
	assert_int_equal(token_set_pin(f->tok, LOGIN_USER, P(USER_PIN), P("changed-pin")), CKR_OK);
	assert_int_equal(token_login(f->t2, CKU_USER, P("changed-pin")), CKR_OK);
}

static void test_two_registries_tokens(void **state)
{
	struct fixture *f = *state;
	CK_SLOT_ID ids[4], slot2 = 0;
	CK_ULONG n = 4;

	assert_int_equal(registry_open(f->cfg, &f->other), CKR_OK);
	/* a token made there gets a slot here */
	memcpy(label32, "second token", 12);
	assert_int_equal(registry_init_token(f->other, FREE_SLOT_ID, P(SO_PIN), label32, &slot2), CKR_OK);
	assert_int_equal(registry_slots(f->reg, ids, &n), CKR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(ids[1], slot2);
	/* and when deleted there, it is gone here */
	assert_int_equal(registry_token_delete(f->other, slot2), CKR_OK);
	n = 4;
	assert_int_equal(registry_slots(f->reg, ids, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(registry_token_delete(f->other, slot2), CKR_SLOT_ID_INVALID);
	assert_int_equal(registry_token_delete(f->other, FREE_SLOT_ID), CKR_SLOT_ID_INVALID);
}

static void test_reinit(void **state)
{
	struct fixture *f = *state;
	struct attrs a = ATTRS_INIT;
	CK_OBJECT_HANDLE h = 0;
	CK_SLOT_ID slot = 0;
	char serial[16];
	CK_TOKEN_INFO info;

	user_pin(f);
	assert_int_equal(registry_token_info(f->reg, f->slot, &info), CKR_OK);
	memcpy(serial, info.serialNumber, 16);
	data_object(&a, "doomed", true, false);
	assert_int_equal(token_object_add(f->tok, 1, &a, NULL, NULL, &h), CKR_OK);
	attrs_clear(&a);
	assert_int_equal(registry_init_token(f->reg, f->slot, P("wrong-so-pin"), label32, &slot), CKR_PIN_INCORRECT);
	assert_int_equal(count_found(f->tok, NULL), 1);
	memcpy(label32, "relabelled", 10);
	assert_int_equal(registry_init_token(f->reg, f->slot, P(SO_PIN), label32, &slot), CKR_OK);
	assert_int_equal(slot, f->slot);
	assert_int_equal(count_found(f->tok, NULL), 0);
	assert_int_equal(registry_token_info(f->reg, f->slot, &info), CKR_OK);
	assert_memory_equal(info.label, label32, 32);
	assert_memory_equal(info.serialNumber, serial, 16); /* the token keeps its identity */
	assert_false(info.flags & CKF_USER_PIN_INITIALIZED);
	assert_int_equal(token_login(f->tok, CKU_USER, P(USER_PIN)), CKR_USER_PIN_NOT_INITIALIZED);
	assert_int_equal(token_login(f->tok, CKU_SO, P(SO_PIN)), CKR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tpm_says_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_da_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unseal_wrong_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_key_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_registries_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_registries_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_registries_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reinit, setup, teardown),
	};

	unit_log_quiet();
	if (ossl_init() != CKR_OK)
		return 1;
	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
