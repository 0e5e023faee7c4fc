/* tokens/store.c: the SQLite store shared by every process of a unit. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tokens/store.h"
#include "unit.h"

struct fixture {
	char *dir;     /* scratch */
	char *store;   /* dir/store (not created yet) */
	char *log;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = unit_tmpdir();
	f->store = malloc(strlen(f->dir) + 8);
	sprintf(f->store, "%s/store", f->dir);
	f->log = unit_log_capture(f->dir, LOG_LEVEL_INFO);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unit_log_quiet();
	unit_tmpdir_free(f->dir);
	free(f->store);
	free(f->log);
	free(f);
	return 0;
}

static sqlite3 *raw_open(const struct fixture *f)
{
	char path[4096];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/%s", f->store, STORE_FILE);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

static int raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void blob(struct tpm_blob *b, const char *text)
{
	assert_int_equal(tpm_blob_copy(b, text, strlen(text)), CKR_OK);
}

static void new_token(struct store *s, const char *serial, struct store_token *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->serial, sizeof(t->serial), "%s", serial);
	memset(t->label, ' ', sizeof(t->label));
	memcpy(t->label, serial, strlen(serial) < 32 ? strlen(serial) : 32);
	t->tpm_version = 20;
	blob(&t->parent_name, "parent");
	blob(&t->so_seal, "so-seal");
	assert_int_equal(store_token_insert(s, t), CKR_OK);
}

static int64_t new_object(struct store *s, int64_t token_id, const char *attrs, bool with_key)
{
	struct store_object o = { 0 };
	int64_t id;

	o.token_id = token_id;
	o.is_private = with_key;
	blob(&o.attrs, attrs);
	if (with_key) {
		blob(&o.tpm_key, "tpm-key");
		blob(&o.key_auth, "key-auth");
	}
	assert_int_equal(store_object_insert(s, &o), CKR_OK);
	assert_true(o.id > 0);
	assert_int_equal(o.gen, 1);
	id = o.id;
	store_object_release(&o);
	return id;
}

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_token *list = NULL;
	size_t n = 99;
	struct stat st;
	char path[4096];
	sqlite3 *db;

	assert_int_equal(store_open(f->store, &s), CKR_OK);
	assert_int_equal(stat(f->store, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/%s", f->store, STORE_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(store_tokens(s, &list, &n), CKR_OK);
	assert_int_equal(n, 0);
	store_tokens_free(list, n);
	db = raw_open(f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('token', 'object')"), 2);
	sqlite3_close(db);
	store_close(s);

	/* reopening finds the same store */
	assert_int_equal(store_open(f->store, &s), CKR_OK);
	db = raw_open(f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	sqlite3_close(db);
	store_close(s);
	store_close(NULL);
}

static void test_open_failures(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	char path[4096];
	FILE *file;
	char *text;

	/* the store path is a file */
	snprintf(path, sizeof(path), "%s/plainfile", f->dir);
	file = fopen(path, "w");
	fclose(file);
	assert_int_equal(store_open(path, &s), CKR_FUNCTION_FAILED);
	/* its parent does not exist */
	snprintf(path, sizeof(path), "%s/no/such/dir", f->dir);
	assert_int_equal(store_open(path, &s), CKR_FUNCTION_FAILED);
	/* a database that is not one */
	snprintf(path, sizeof(path), "%s/garbage", f->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/garbage/%s", f->dir, STORE_FILE);
	file = fopen(path, "w");
	fputs("this is not an SQLite database, not even close; pad pad pad pad pad pad pad pad pad pad pad", file);
	fclose(file);
	snprintf(path, sizeof(path), "%s/garbage", f->dir);
	assert_int_equal(store_open(path, &s), CKR_FUNCTION_FAILED);
	text = unit_log_read(f->log);
	assert_non_null(strstr(text, "garbage"));
	free(text);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	sqlite3 *db;
	char *text, sql[64], want[64];

	assert_int_equal(store_open(f->store, &s), CKR_OK);
	store_close(s);
	db = raw_open(f);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = NULL;
	assert_int_equal(store_open(f->store, &s), CKR_FUNCTION_FAILED);
	assert_null(s);
	text = unit_log_read(f->log);
	snprintf(want, sizeof(want), "schema version %d is newer", STORE_SCHEMA_VERSION + 1);
	assert_non_null(strstr(text, want));
	free(text);
	/* and the file was left alone */
	db = raw_open(f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION + 1);
	sqlite3_close(db);
}

/* A version-1 store (before migration records) is upgraded in place, data kept. */
static void test_upgrade_from_1(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_token t = { 0 }, *list = NULL;
	size_t n = 0;
	sqlite3 *db;

	assert_int_equal(store_open(f->store, &s), CKR_OK);
	memcpy(t.serial, "00112233aabbccdd", 17);
	memset(t.label, ' ', sizeof(t.label));
	t.tpm_version = 20;
	assert_int_equal(tpm_blob_copy(&t.parent_name, "name", 4), CKR_OK);
	assert_int_equal(tpm_blob_copy(&t.so_seal, "seal", 4), CKR_OK);
	assert_int_equal(store_token_insert(s, &t), CKR_OK);
	store_token_release(&t);
	store_close(s);
	db = raw_open(f);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE replica; PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	s = NULL;
	assert_int_equal(store_open(f->store, &s), CKR_OK);
	assert_int_equal(store_replica_add(s, 1, (const uint8_t *)"unit-id-16-bytes", 16, "b",
					   (const uint8_t *)"key-id", 6), CKR_OK);
	assert_int_equal(store_tokens(s, &list, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].serial, "00112233aabbccdd");
	store_tokens_free(list, n);
	store_close(s);
	db = raw_open(f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	sqlite3_close(db);
}

static void test_tokens_crud(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_token a, b, dup, *list = NULL;
	size_t n = 0;

	assert_int_equal(store_open(f->store, &s), CKR_OK);
	new_token(s, "0011223344556677", &a);
	assert_true(a.id > 0);
	assert_int_equal(a.gen, 1);
	new_token(s, "8899aabbccddeeff", &b);
	assert_true(b.id > a.id);
	/* a serial is unique */
	memset(&dup, 0, sizeof(dup));
	snprintf(dup.serial, sizeof(dup.serial), "%s", a.serial);
	blob(&dup.parent_name, "p");
	blob(&dup.so_seal, "s");
	assert_int_equal(store_token_insert(s, &dup), CKR_FUNCTION_FAILED);
	store_token_release(&dup);

	assert_int_equal(store_tokens(s, &list, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, a.id);
	assert_string_equal(list[0].serial, a.serial);
	assert_memory_equal(list[0].label, a.label, 32);
	assert_int_equal(list[0].tpm_version, 20);
	assert_int_equal(list[0].parent_name.len, 6);
	assert_memory_equal(list[0].parent_name.data, "parent", 6);
	assert_memory_equal(list[0].so_seal.data, "so-seal", 7);
	/* absent blobs come back empty */
	assert_int_equal(list[0].user_seal.len, 0);
	assert_null(list[0].user_seal.data);
	assert_int_equal(list[0].domain.len, 0);
	store_tokens_free(list, n);

	/* update: label and seals, gen bumped */
	memset(a.label, ' ', sizeof(a.label));
	memcpy(a.label, "renamed", 7);
	blob(&a.user_seal, "user-seal");
	assert_int_equal(store_token_update(s, &a), CKR_OK);
	assert_int_equal(a.gen, 2);
	assert_int_equal(store_tokens(s, &list, &n), CKR_OK);
	assert_memory_equal(list[0].label, "renamed ", 8);
	assert_int_equal(list[0].gen, 2);
	assert_memory_equal(list[0].user_seal.data, "user-seal", 9);
	store_tokens_free(list, n);

	/* objects go with their token */
	new_object(s, a.id, "attrs-a", false);
	new_object(s, b.id, "attrs-b", false);
	assert_int_equal(store_token_delete(s, a.id), CKR_OK);
	assert_int_equal(store_token_delete(s, a.id), CKR_TOKEN_NOT_PRESENT);
	assert_int_equal(store_token_update(s, &a), CKR_TOKEN_NOT_PRESENT);
	assert_int_equal(store_tokens(s, &list, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].id, b.id);
	store_tokens_free(list, n);
	{
		sqlite3 *db = raw_open(f);
		assert_int_equal(raw_int(db, "SELECT count(*) FROM object"), 1);
		sqlite3_close(db);
	}
	store_token_release(&a);
	store_token_release(&b);
	store_close(s);
}

static void test_objects_crud(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_token t, other;
	struct store_object *list = NULL, upd = { 0 };
	size_t n = 0;
	int64_t o1, o2, o3;

	assert_int_equal(store_open(f->store, &s), CKR_OK);
	new_token(s, "aaaaaaaaaaaaaaaa", &t);
	new_token(s, "bbbbbbbbbbbbbbbb", &other);
	o1 = new_object(s, t.id, "public attrs", false);
	o2 = new_object(s, t.id, "sealed attrs", true);
	o3 = new_object(s, other.id, "elsewhere", false);
	assert_true(o1 < o2 && o2 < o3);

	assert_int_equal(store_objects(s, t.id, &list, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, o1);
	assert_int_equal(list[0].token_id, t.id);
	assert_false(list[0].is_private);
	assert_memory_equal(list[0].attrs.data, "public attrs", 12);
	assert_int_equal(list[0].tpm_key.len, 0);
	assert_null(list[0].tpm_key.data);
	assert_true(list[1].is_private);
	assert_memory_equal(list[1].tpm_key.data, "tpm-key", 7);
	assert_memory_equal(list[1].key_auth.data, "key-auth", 8);
	store_objects_free(list, n);

	/* update: attributes and privacy; the key blobs stay */
	upd.id = o2;
	upd.gen = 1;
	upd.is_private = false;
	blob(&upd.attrs, "new attrs");
	assert_int_equal(store_object_update(s, &upd), CKR_OK);
	assert_int_equal(upd.gen, 2);
	assert_int_equal(store_objects(s, t.id, &list, &n), CKR_OK);
	assert_int_equal(list[1].gen, 2);
	assert_false(list[1].is_private);
	assert_int_equal(list[1].attrs.len, 9);
	assert_memory_equal(list[1].tpm_key.data, "tpm-key", 7);
	store_objects_free(list, n);

	assert_int_equal(store_object_delete(s, o2), CKR_OK);
	assert_int_equal(store_object_delete(s, o2), CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(store_object_update(s, &upd), CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(store_objects(s, t.id, &list, &n), CKR_OK);
	assert_int_equal(n, 1);
	store_objects_free(list, n);
	/* a token with no objects, and one that does not exist */
	assert_int_equal(store_objects(s, 12345, &list, &n), CKR_OK);
	assert_int_equal(n, 0);
	store_objects_free(list, n);

	/* reset: objects gone, seals replaced, in one go */
	tpm_blob_release(&t.so_seal);
	blob(&t.so_seal, "new-so-seal");
	assert_int_equal(store_token_reset(s, &t), CKR_OK);
	assert_int_equal(store_objects(s, t.id, &list, &n), CKR_OK);
	assert_int_equal(n, 0);
	store_objects_free(list, n);
	assert_int_equal(store_objects(s, other.id, &list, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].id, o3);
	store_objects_free(list, n);

	store_object_release(&upd);
	store_token_release(&t);
	store_token_release(&other);
	store_close(s);
}

static void test_version_tracks_writes(void **state)
{
	struct fixture *f = *state;
	struct store *s1 = NULL, *s2 = NULL;
	struct store_token t, *list = NULL;
	uint64_t v1, v1b, v2, v2b;
	size_t n;
	sqlite3 *db;

	assert_int_equal(store_open(f->store, &s1), CKR_OK);
	assert_int_equal(store_open(f->store, &s2), CKR_OK);
	assert_int_equal(store_version(s1, &v1), CKR_OK);
	assert_int_equal(store_version(s2, &v2), CKR_OK);
	/* reads change nothing */
	assert_int_equal(store_tokens(s1, &list, &n), CKR_OK);
	store_tokens_free(list, n);
	assert_int_equal(store_version(s1, &v1b), CKR_OK);
	assert_true(v1 == v1b);

	/* our own write */
	new_token(s1, "cccccccccccccccc", &t);
	assert_int_equal(store_version(s1, &v1b), CKR_OK);
	assert_true(v1b != v1);
	/* another connection's write */
	assert_int_equal(store_version(s2, &v2b), CKR_OK);
	assert_true(v2b != v2);
	v1 = v1b;
	v2 = v2b;
	new_object(s2, t.id, "from s2", false);
	assert_int_equal(store_version(s1, &v1b), CKR_OK);
	assert_true(v1b != v1);
	assert_int_equal(store_version(s2, &v2b), CKR_OK);
	assert_true(v2b != v2);
	/* a write by something else entirely (another program on the file) */
	v1 = v1b;
	db = raw_open(f);
	assert_int_equal(sqlite3_exec(db, "UPDATE token SET gen = gen + 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_version(s1, &v1b), CKR_OK);
	assert_true(v1b != v1);
	store_token_release(&t);
	store_close(s1);
	store_close(s2);
}

#define PER_WRITER 40

struct writer {
	const char *dir;
	int64_t token_id;
	int failures;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	struct store *s = NULL;

	if (store_open(w->dir, &s) != CKR_OK) {
		w->failures = PER_WRITER;
		return NULL;
	}
	for (int i = 0; i < PER_WRITER; i++) {
		struct store_object o = { 0 };
		struct store_object *list = NULL;
		size_t n = 0;
		o.token_id = w->token_id;
		if (tpm_blob_copy(&o.attrs, "concurrent", 10) != CKR_OK || store_object_insert(s, &o) != CKR_OK)
			w->failures++;
		store_object_release(&o);
		if (store_objects(s, w->token_id, &list, &n) != CKR_OK)
			w->failures++;
		store_objects_free(list, n);
	}
	store_close(s);
	return NULL;
}

static size_t count_objects(const char *dir, int64_t token_id)
{
	struct store *s = NULL;
	struct store_object *list = NULL;
	size_t n = 0;

	assert_int_equal(store_open(dir, &s), CKR_OK);
	assert_int_equal(store_objects(s, token_id, &list, &n), CKR_OK);
	store_objects_free(list, n);
	store_close(s);
	return n;
}

static void test_two_threads(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_token t;
	struct writer w[2];
	pthread_t th[2];

	assert_int_equal(store_open(f->store, &s), CKR_OK);
	new_token(s, "dddddddddddddddd", &t);
	store_close(s);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct writer){ .dir = f->store, .token_id = t.id };
		assert_int_equal(pthread_create(&th[i], NULL, writer_run, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(count_objects(f->store, t.id), 2 * PER_WRITER);
	store_token_release(&t);
}

static void test_two_processes(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_token t;
	struct writer w;
	pid_t child;
	int status = 0;
	uint64_t v0, v1;

	assert_int_equal(store_open(f->store, &s), CKR_OK);
	new_token(s, "eeeeeeeeeeeeeeee", &t);
	assert_int_equal(store_version(s, &v0), CKR_OK);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		signal(SIGSEGV, SIG_DFL); /* not cmocka's: it would run the parent's tests here */
		signal(SIGABRT, SIG_DFL);
		/* A fresh process would not inherit a connection: open our own. */
		w = (struct writer){ .dir = f->store, .token_id = t.id };
		writer_run(&w);
		_exit(w.failures ? 1 : 0);
	}
	w = (struct writer){ .dir = f->store, .token_id = t.id };
	writer_run(&w);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(w.failures, 0);
	assert_int_equal(count_objects(f->store, t.id), 2 * PER_WRITER);
	/* the first connection sees the other process's commits */
	assert_int_equal(store_version(s, &v1), CKR_OK);
	assert_true(v1 != v0);
	store_token_release(&t);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_objects_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_tracks_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
	};

	unit_log_quiet();
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
