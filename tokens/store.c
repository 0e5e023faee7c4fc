#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/lock.h"
#include "common/log.h"
#include "tokens/store.h"

#define MIN_SIZE(a, b) ((a) < (b) ? (a) : (b))

struct store {
	sqlite3 *db;
	char *path;
	/* One connection serves every thread; a transaction must not pick up another
	 * thread's statements, so each store call holds this lock throughout. */
	struct lock *lock;
	uint64_t own_writes;
	/* Asked before every C_FindObjects: prepared once. */
	sqlite3_stmt *data_version;
};

/* Schema upgrades, in one place: upgrades[v] takes a version-v database to v+1.
 * Version 0 is an empty file. Each step runs in its own transaction together with
 * the PRAGMA user_version bump, so a crash leaves either the old or the new schema. */
static const char *const upgrades[STORE_SCHEMA_VERSION] = {
	/* 0 → 1 */
	"CREATE TABLE token ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  label BLOB NOT NULL,"
	"  tpm_version INTEGER NOT NULL,"
	"  parent_name BLOB NOT NULL,"
	"  so_seal BLOB NOT NULL,"
	"  user_seal BLOB,"
	"  domain BLOB,"
	"  gen INTEGER NOT NULL DEFAULT 1);"
	"CREATE TABLE object ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  token_id INTEGER NOT NULL REFERENCES token(id) ON DELETE CASCADE,"
	"  private INTEGER NOT NULL,"
	"  gen INTEGER NOT NULL DEFAULT 1,"
	"  attrs BLOB NOT NULL,"
	"  tpm_key BLOB,"
	"  key_auth BLOB);"
	"CREATE INDEX object_token ON object(token_id);",
	/* 1 → 2: which units this unit sent which keys to (migration) */
	"CREATE TABLE replica ("
	"  token_id INTEGER NOT NULL REFERENCES token(id) ON DELETE CASCADE,"
	"  unit_id BLOB NOT NULL,"
	"  key_id BLOB NOT NULL,"
	"  unit_label TEXT,"
	"  replicated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (token_id, unit_id, key_id));",
};

static CK_RV sql_error(struct store *s, int rc, const char *what)
{
	LOGE("store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return CKR_HOST_MEMORY;
	case SQLITE_FULL:
		return CKR_DEVICE_MEMORY;
	default:
		return CKR_FUNCTION_FAILED;
	}
}

static CK_RV exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? CKR_OK : sql_error(s, rc, sql);
}

static CK_RV schema_version(struct store *s, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return sql_error(s, rc, "reading the schema version");
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return CKR_OK;
}

static CK_RV schema_upgrade(struct store *s)
{
	int version = 0;
	CK_RV rv;

	/* IMMEDIATE: two processes opening a new store at once must not both upgrade. */
	rv = exec(s, "BEGIN IMMEDIATE");
	if (rv != CKR_OK)
		return rv;
	rv = schema_version(s, &version);
	if (rv != CKR_OK)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		LOGE("store %s: schema version %d is newer than this tpmha understands (%d)",
		     s->path, version, STORE_SCHEMA_VERSION);
		rv = CKR_FUNCTION_FAILED;
		goto fail;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		char bump[64];
		LOGI("store %s: upgrading schema %d → %d", s->path, version, version + 1);
		rv = exec(s, upgrades[version]);
		if (rv != CKR_OK)
			goto fail;
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version + 1);
		rv = exec(s, bump);
		if (rv != CKR_OK)
			goto fail;
	}
	return exec(s, "COMMIT");
fail:
	exec(s, "ROLLBACK");
	return rv;
}

CK_RV store_open(const char *dir, struct store **out)
{
	struct store *s = NULL;
	size_t len;
	int rc, fd;
	CK_RV rv;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		LOGE("store %s: cannot create the directory: %s", dir, strerror(errno));
		return CKR_FUNCTION_FAILED;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return CKR_HOST_MEMORY;
	len = strlen(dir) + sizeof(STORE_FILE) + 2;
	s->path = malloc(len);
	if (!s->path) {
		rv = CKR_HOST_MEMORY;
		goto fail;
	}
	snprintf(s->path, len, "%s/%s", dir, STORE_FILE);
	rv = lock_new(&s->lock);
	if (rv != CKR_OK)
		goto fail;
	/* Create the file ourselves so its mode is 0600 whatever the umask. */
	fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		LOGE("store %s: cannot open: %s", s->path, strerror(errno));
		rv = CKR_FUNCTION_FAILED;
		goto fail;
	}
	close(fd);
	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		LOGE("store %s: cannot open: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		rv = CKR_FUNCTION_FAILED;
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 10000);
	rv = exec(s, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
		     "PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;");
	if (rv != CKR_OK)
		goto fail;
	rv = schema_upgrade(s);
	if (rv != CKR_OK)
		goto fail;
	*out = s;
	return CKR_OK;
fail:
	store_close(s);
	return rv;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->data_version);
	if (s->db)
		sqlite3_close_v2(s->db);
	lock_free(s->lock);
	free(s->path);
	free(s);
}

void store_abandon(struct store *s)
{
	/* SQLite forbids using a connection across fork(); closing it could checkpoint
	 * or unlock files the parent relies on. The child keeps the few bytes. */
	(void)s;
}

CK_RV store_version(struct store *s, uint64_t *version)
{
	int rc = SQLITE_OK;
	CK_RV rv = CKR_OK;

	lock_acquire(s->lock);
	if (!s->data_version)
		rc = sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &s->data_version, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s->data_version);
	if (rc != SQLITE_ROW)
		rv = sql_error(s, rc, "reading the data version");
	else
		/* data_version ignores our own commits: count those ourselves. */
		*version = ((uint64_t)sqlite3_column_int64(s->data_version, 0) << 32) + s->own_writes;
	if (s->data_version)
		sqlite3_reset(s->data_version);
	lock_release(s->lock);
	return rv;
}

static int bind_blob(sqlite3_stmt *st, int index, const struct tpm_blob *b)
{
	if (!b->data)
		return sqlite3_bind_null(st, index);
	return sqlite3_bind_blob(st, index, b->data, (int)b->len, SQLITE_TRANSIENT);
}

static CK_RV column_blob(sqlite3_stmt *st, int col, struct tpm_blob *out)
{
	const void *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);

	out->data = NULL;
	out->len = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return CKR_OK;
	return tpm_blob_copy(out, p, (size_t)n);
}

void store_token_release(struct store_token *t)
{
	if (!t)
		return;
	tpm_blob_release(&t->parent_name);
	tpm_blob_release(&t->so_seal);
	tpm_blob_release(&t->user_seal);
	tpm_blob_release(&t->domain);
}

void store_tokens_free(struct store_token *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++)
		store_token_release(&list[i]);
	free(list);
}

CK_RV store_tokens(struct store *s, struct store_token **list, size_t *count)
{
	static const char sql[] = "SELECT id, serial, label, tpm_version, parent_name, so_seal, "
				  "user_seal, domain, gen FROM token ORDER BY id";
	sqlite3_stmt *st = NULL;
	struct store_token *tokens = NULL;
	size_t n = 0, cap = 0;
	CK_RV rv = CKR_OK;
	int rc;

	lock_acquire(s->lock);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rv = sql_error(s, rc, "listing tokens");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_token *t;
		const unsigned char *serial = sqlite3_column_text(st, 1);
		if (n == cap) {
			struct store_token *grown;
			cap = cap ? cap * 2 : 8;
			grown = realloc(tokens, cap * sizeof(*grown));
			if (!grown) {
				rv = CKR_HOST_MEMORY;
				goto out;
			}
			tokens = grown;
		}
		t = &tokens[n++];
		memset(t, 0, sizeof(*t));
		t->id = sqlite3_column_int64(st, 0);
		snprintf(t->serial, sizeof(t->serial), "%s", serial ? (const char *)serial : "");
		memset(t->label, ' ', sizeof(t->label));
		if (sqlite3_column_bytes(st, 2) == (int)sizeof(t->label))
			memcpy(t->label, sqlite3_column_blob(st, 2), sizeof(t->label));
		t->tpm_version = sqlite3_column_int(st, 3);
		t->gen = sqlite3_column_int64(st, 8);
		if ((rv = column_blob(st, 4, &t->parent_name)) != CKR_OK ||
		    (rv = column_blob(st, 5, &t->so_seal)) != CKR_OK ||
		    (rv = column_blob(st, 6, &t->user_seal)) != CKR_OK ||
		    (rv = column_blob(st, 7, &t->domain)) != CKR_OK)
			goto out;
	}
	if (rc != SQLITE_DONE)
		rv = sql_error(s, rc, "listing tokens");
out:
	sqlite3_finalize(st);
	lock_release(s->lock);
	if (rv != CKR_OK) {
		store_tokens_free(tokens, n);
		return rv;
	}
	*list = tokens;
	*count = n;
	return CKR_OK;
}

/* Run one prepared write; the caller holds the lock. */
static CK_RV step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return sql_error(s, rc, what);
	return CKR_OK;
}

static CK_RV token_insert_locked(struct store *s, struct store_token *t)
{
	static const char sql[] = "INSERT INTO token (serial, label, tpm_version, parent_name, "
				  "so_seal, user_seal, domain) VALUES (?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = NULL;
	CK_RV rv;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_error(s, rc, "adding a token");
	sqlite3_bind_text(st, 1, t->serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, t->label, sizeof(t->label), SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, t->tpm_version);
	bind_blob(st, 4, &t->parent_name);
	bind_blob(st, 5, &t->so_seal);
	bind_blob(st, 6, &t->user_seal);
	bind_blob(st, 7, &t->domain);
	rv = step_done(s, st, "adding a token");
	if (rv == CKR_OK) {
		t->id = sqlite3_last_insert_rowid(s->db);
		t->gen = 1;
		s->own_writes++;
	}
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_token_insert(struct store *s, struct store_token *t)
{
	CK_RV rv;

	lock_acquire(s->lock);
	rv = token_insert_locked(s, t);
	lock_release(s->lock);
	return rv;
}

static CK_RV token_update_locked(struct store *s, struct store_token *t)
{
	static const char sql[] = "UPDATE token SET label = ?, so_seal = ?, user_seal = ?, "
				  "domain = ?, gen = gen + 1 WHERE id = ?";
	sqlite3_stmt *st = NULL;
	CK_RV rv;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_error(s, rc, "updating a token");
	sqlite3_bind_blob(st, 1, t->label, sizeof(t->label), SQLITE_TRANSIENT);
	bind_blob(st, 2, &t->so_seal);
	bind_blob(st, 3, &t->user_seal);
	bind_blob(st, 4, &t->domain);
	sqlite3_bind_int64(st, 5, t->id);
	rv = step_done(s, st, "updating a token");
	if (rv == CKR_OK && sqlite3_changes(s->db) != 1) {
		LOGW("store %s: token %lld is gone", s->path, (long long)t->id);
		rv = CKR_TOKEN_NOT_PRESENT;
	}
	if (rv == CKR_OK) {
		t->gen++;
		s->own_writes++;
	}
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_token_update(struct store *s, struct store_token *t)
{
	CK_RV rv;

	lock_acquire(s->lock);
	rv = token_update_locked(s, t);
	lock_release(s->lock);
	return rv;
}

static CK_RV delete_by_id(struct store *s, const char *sql, int64_t id, const char *what)
{
	sqlite3_stmt *st = NULL;
	CK_RV rv;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_error(s, rc, what);
	sqlite3_bind_int64(st, 1, id);
	rv = step_done(s, st, what);
	sqlite3_finalize(st);
	if (rv == CKR_OK)
		s->own_writes++;
	return rv;
}

CK_RV store_token_reset(struct store *s, struct store_token *t)
{
	CK_RV rv;

	lock_acquire(s->lock);
	rv = exec(s, "BEGIN IMMEDIATE");
	if (rv != CKR_OK)
		goto out;
	rv = delete_by_id(s, "DELETE FROM object WHERE token_id = ?", t->id, "clearing a token");
	if (rv == CKR_OK)
		rv = token_update_locked(s, t);
	if (rv == CKR_OK)
		rv = exec(s, "COMMIT");
	if (rv != CKR_OK)
		exec(s, "ROLLBACK");
out:
	lock_release(s->lock);
	return rv;
}

CK_RV store_token_delete(struct store *s, int64_t id)
{
	CK_RV rv;

	lock_acquire(s->lock);
	rv = exec(s, "BEGIN IMMEDIATE");
	if (rv != CKR_OK)
		goto out;
	rv = delete_by_id(s, "DELETE FROM object WHERE token_id = ?", id, "deleting a token");
	if (rv == CKR_OK)
		rv = delete_by_id(s, "DELETE FROM token WHERE id = ?", id, "deleting a token");
	if (rv == CKR_OK && sqlite3_changes(s->db) != 1)
		rv = CKR_TOKEN_NOT_PRESENT;
	if (rv == CKR_OK)
		rv = exec(s, "COMMIT");
	if (rv != CKR_OK)
		exec(s, "ROLLBACK");
out:
	lock_release(s->lock);
	return rv;
}

void store_object_release(struct store_object *o)
{
	if (!o)
		return;
	tpm_blob_release(&o->attrs);
	tpm_blob_release(&o->tpm_key);
	tpm_blob_release(&o->key_auth);
}

void store_objects_free(struct store_object *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++)
		store_object_release(&list[i]);
	free(list);
}

CK_RV store_objects(struct store *s, int64_t token_id, struct store_object **list, size_t *count)
{
	static const char sql[] = "SELECT id, token_id, gen, private, attrs, tpm_key, key_auth "
				  "FROM object WHERE token_id = ? ORDER BY id";
	sqlite3_stmt *st = NULL;
	struct store_object *objects = NULL;
	size_t n = 0, cap = 0;
	CK_RV rv = CKR_OK;
	int rc;

	lock_acquire(s->lock);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rv = sql_error(s, rc, "listing objects");
		goto out;
	}
	sqlite3_bind_int64(st, 1, token_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_object *o;
		if (n == cap) {
			struct store_object *grown;
			cap = cap ? cap * 2 : 32;
			grown = realloc(objects, cap * sizeof(*grown));
			if (!grown) {
				rv = CKR_HOST_MEMORY;
				goto out;
			}
			objects = grown;
		}
		o = &objects[n++];
		memset(o, 0, sizeof(*o));
		o->id = sqlite3_column_int64(st, 0);
		o->token_id = sqlite3_column_int64(st, 1);
		o->gen = sqlite3_column_int64(st, 2);
		o->is_private = sqlite3_column_int(st, 3) != 0;
		if ((rv = column_blob(st, 4, &o->attrs)) != CKR_OK ||
		    (rv = column_blob(st, 5, &o->tpm_key)) != CKR_OK ||
		    (rv = column_blob(st, 6, &o->key_auth)) != CKR_OK)
			goto out;
	}
	if (rc != SQLITE_DONE)
		rv = sql_error(s, rc, "listing objects");
out:
	sqlite3_finalize(st);
	lock_release(s->lock);
	if (rv != CKR_OK) {
		store_objects_free(objects, n);
		return rv;
	}
	*list = objects;
	*count = n;
	return CKR_OK;
}

static CK_RV object_insert_locked(struct store *s, struct store_object *o)
{
	static const char sql[] = "INSERT INTO object (token_id, private, attrs, tpm_key, key_auth) "
				  "VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = NULL;
	CK_RV rv;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_error(s, rc, "adding an object");
	sqlite3_bind_int64(st, 1, o->token_id);
	sqlite3_bind_int(st, 2, o->is_private);
	bind_blob(st, 3, &o->attrs);
	bind_blob(st, 4, &o->tpm_key);
	bind_blob(st, 5, &o->key_auth);
	rv = step_done(s, st, "adding an object");
	if (rv == CKR_OK) {
		o->id = sqlite3_last_insert_rowid(s->db);
		o->gen = 1;
		s->own_writes++;
	}
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_object_insert(struct store *s, struct store_object *o)
{
	CK_RV rv;

	lock_acquire(s->lock);
	rv = object_insert_locked(s, o);
	lock_release(s->lock);
	return rv;
}

/* The token's id by serial, or 0. */
static CK_RV token_id_by_serial_locked(struct store *s, const char *serial, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id FROM token WHERE serial = ?", -1, &st, NULL);
	CK_RV rv = CKR_OK;

	*id = 0;
	if (rc != SQLITE_OK)
		return sql_error(s, rc, "finding a token");
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		rv = sql_error(s, rc, "finding a token");
	sqlite3_finalize(st);
	return rv;
}

CK_RV store_receive(struct store *s, struct store_token *t, struct store_object *objects, size_t count,
		    bool replace_objects)
{
	int64_t existing = 0;
	CK_RV rv;

	lock_acquire(s->lock);
	rv = exec(s, "BEGIN IMMEDIATE");
	if (rv != CKR_OK)
		goto out;
	rv = token_id_by_serial_locked(s, t->serial, &existing);
	if (rv == CKR_OK && existing) {
		t->id = existing;
		rv = token_update_locked(s, t);
		if (rv == CKR_OK && replace_objects)
			rv = delete_by_id(s, "DELETE FROM object WHERE token_id = ?", t->id, "replacing objects");
	} else if (rv == CKR_OK) {
		rv = token_insert_locked(s, t);
	}
	for (size_t i = 0; rv == CKR_OK && i < count; i++) {
		objects[i].token_id = t->id;
		rv = object_insert_locked(s, &objects[i]);
	}
	if (rv == CKR_OK)
		rv = exec(s, "COMMIT");
	if (rv != CKR_OK)
		exec(s, "ROLLBACK");
out:
	lock_release(s->lock);
	return rv;
}

CK_RV store_replica_add(struct store *s, int64_t token_id, const uint8_t *unit_id, size_t unit_len,
			const char *unit_label, const uint8_t *key_id, size_t key_len)
{
	static const char sql[] = "INSERT OR REPLACE INTO replica (token_id, unit_id, key_id, unit_label, "
				  "replicated_at) VALUES (?, ?, ?, ?, strftime('%s','now'))";
	sqlite3_stmt *st = NULL;
	CK_RV rv;
	int rc;

	lock_acquire(s->lock);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rv = sql_error(s, rc, "recording a replica");
		goto out;
	}
	sqlite3_bind_int64(st, 1, token_id);
	sqlite3_bind_blob(st, 2, unit_id, (int)unit_len, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, key_id, (int)key_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, unit_label ? unit_label : "", -1, SQLITE_TRANSIENT);
	rv = step_done(s, st, "recording a replica");
	if (rv == CKR_OK)
		s->own_writes++;
out:
	sqlite3_finalize(st);
	lock_release(s->lock);
	return rv;
}

CK_RV store_replicas(struct store *s, int64_t token_id, struct store_replica **list, size_t *count)
{
	static const char sql[] = "SELECT unit_id, key_id, unit_label, replicated_at FROM replica "
				  "WHERE token_id = ? ORDER BY replicated_at, unit_id";
	sqlite3_stmt *st = NULL;
	struct store_replica *out = NULL;
	size_t n = 0, cap = 0;
	CK_RV rv = CKR_OK;
	int rc;

	lock_acquire(s->lock);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rv = sql_error(s, rc, "listing replicas");
		goto out;
	}
	sqlite3_bind_int64(st, 1, token_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_replica *r;
		const unsigned char *label = sqlite3_column_text(st, 2);
		if (n == cap) {
			struct store_replica *grown;
			cap = cap ? cap * 2 : 16;
			grown = realloc(out, cap * sizeof(*grown));
			if (!grown) {
				rv = CKR_HOST_MEMORY;
				goto out;
			}
			out = grown;
		}
		r = &out[n++];
		memset(r, 0, sizeof(*r));
		memcpy(r->unit_id, sqlite3_column_blob(st, 0),
		       MIN_SIZE((size_t)sqlite3_column_bytes(st, 0), sizeof(r->unit_id)));
		memcpy(r->key_id, sqlite3_column_blob(st, 1),
		       MIN_SIZE((size_t)sqlite3_column_bytes(st, 1), sizeof(r->key_id)));
		snprintf(r->unit_label, sizeof(r->unit_label), "%s", label ? (const char *)label : "");
		r->replicated_at = sqlite3_column_int64(st, 3);
	}
	if (rc != SQLITE_DONE)
		rv = sql_error(s, rc, "listing replicas");
out:
	sqlite3_finalize(st);
	lock_release(s->lock);
	if (rv != CKR_OK) {
		free(out);
		return rv;
	}
	*list = out;
	*count = n;
	return CKR_OK;
}

CK_RV store_object_update(struct store *s, struct store_object *o)
{
	static const char sql[] = "UPDATE object SET private = ?, attrs = ?, gen = gen + 1 "
				  "WHERE id = ?";
	sqlite3_stmt *st = NULL;
	CK_RV rv;
	int rc;

	lock_acquire(s->lock);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rv = sql_error(s, rc, "updating an object");
		goto out;
	}
	sqlite3_bind_int(st, 1, o->is_private);
	bind_blob(st, 2, &o->attrs);
	sqlite3_bind_int64(st, 3, o->id);
	rv = step_done(s, st, "updating an object");
	if (rv == CKR_OK && sqlite3_changes(s->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	if (rv == CKR_OK) {
		o->gen++;
		s->own_writes++;
	}
out:
	sqlite3_finalize(st);
	lock_release(s->lock);
	return rv;
}

CK_RV store_object_delete(struct store *s, int64_t id)
{
	CK_RV rv;

	lock_acquire(s->lock);
	rv = delete_by_id(s, "DELETE FROM object WHERE id = ?", id, "deleting an object");
	if (rv == CKR_OK && sqlite3_changes(s->db) != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	lock_release(s->lock);
	return rv;
}
