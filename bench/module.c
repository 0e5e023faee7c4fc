/* The module side of the benchmark: everything through the PKCS#11 ABI of the
 * module under test, loaded with dlopen like any application would.
 *
 * Set-up (not timed): find the token, log in, find (or generate) the key pairs
 * by label, check one signature of each kind in software, make the OAEP
 * ciphertext with the public key, and make sure the token holds the data
 * objects the find jobs search (public token objects, created once and kept:
 * a later run finds them in the store). Every worker thread opens its own
 * session; the login is the application's, so they all share it. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "bench/bench.h"

#define DATA_APP "tpmha-bench"
#define DATA_LABEL_FMT "tpmha-bench-data-%04zu"

struct mod {
	const struct bench_opts *o;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE main_session;
	CK_OBJECT_HANDLE rsa, ec;
	EVP_PKEY *rsa_pub, *ec_pub;
	uint8_t digest[32];
	uint8_t digestinfo[19 + 32];
	uint8_t msg[32];
	uint8_t ct[512];
	size_t ct_len;
	size_t nobjects;
	char one_label[40];      /* the label find-one looks for */
};

struct mod_thread {
	struct mod *m;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE *found;
	size_t found_cap;
	uint8_t out[512];
};

static int ck_fail(char *err, size_t len, const char *what, CK_RV rv)
{
	bench_errf(err, len, "%s: CKR 0x%lx", what, (unsigned long)rv);
	return -1;
}

static CK_C_INITIALIZE_ARGS init_args = { .flags = CKF_OS_LOCKING_OK };

/* --- per-thread sessions --- */

static void *thread_open(void *arg, unsigned idx, char *err, size_t errlen)
{
	struct mod *m = arg;
	struct mod_thread *t = calloc(1, sizeof(*t));
	CK_RV rv;

	(void)idx;
	if (!t) {
		bench_errf(err, errlen, "out of memory");
		return NULL;
	}
	t->m = m;
	t->found_cap = m->nobjects + 64;
	t->found = calloc(t->found_cap, sizeof(*t->found));
	if (!t->found) {
		bench_errf(err, errlen, "out of memory");
		free(t);
		return NULL;
	}
	rv = m->f->C_OpenSession(m->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t->s);
	if (rv != CKR_OK) {
		ck_fail(err, errlen, "C_OpenSession", rv);
		free(t->found);
		free(t);
		return NULL;
	}
	return t;
}

static void thread_close(void *tctx)
{
	struct mod_thread *t = tctx;

	t->m->f->C_CloseSession(t->s);
	free(t->found);
	free(t);
}

/* --- the operations --- */

static int op_rsa_sign(void *tctx, char *err, size_t errlen)
{
	struct mod_thread *t = tctx;
	CK_FUNCTION_LIST_PTR f = t->m->f;
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	CK_ULONG len = sizeof(t->out);
	CK_RV rv;

	rv = f->C_SignInit(t->s, &mech, t->m->rsa);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_SignInit(CKM_RSA_PKCS)", rv);
	rv = f->C_Sign(t->s, t->m->digestinfo, sizeof(t->m->digestinfo), t->out, &len);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_Sign(CKM_RSA_PKCS)", rv);
	if (len != 256) {
		bench_errf(err, errlen, "C_Sign(CKM_RSA_PKCS): %lu bytes", (unsigned long)len);
		return -1;
	}
	return 0;
}

static int op_rsa_oaep(void *tctx, char *err, size_t errlen)
{
	struct mod_thread *t = tctx;
	CK_FUNCTION_LIST_PTR f = t->m->f;
	CK_RSA_PKCS_OAEP_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };
	CK_ULONG len = sizeof(t->out);
	CK_RV rv;

	rv = f->C_DecryptInit(t->s, &mech, t->m->rsa);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_DecryptInit(CKM_RSA_PKCS_OAEP)", rv);
	rv = f->C_Decrypt(t->s, t->m->ct, t->m->ct_len, t->out, &len);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_Decrypt(CKM_RSA_PKCS_OAEP)", rv);
	if (len != sizeof(t->m->msg) || memcmp(t->out, t->m->msg, len) != 0) {
		bench_errf(err, errlen, "C_Decrypt(CKM_RSA_PKCS_OAEP): wrong plaintext");
		return -1;
	}
	return 0;
}

static int op_ecdsa(void *tctx, char *err, size_t errlen)
{
	struct mod_thread *t = tctx;
	CK_FUNCTION_LIST_PTR f = t->m->f;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_ULONG len = sizeof(t->out);
	CK_RV rv;

	rv = f->C_SignInit(t->s, &mech, t->m->ec);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_SignInit(CKM_ECDSA)", rv);
	rv = f->C_Sign(t->s, t->m->digest, sizeof(t->m->digest), t->out, &len);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_Sign(CKM_ECDSA)", rv);
	if (len != 64) {
		bench_errf(err, errlen, "C_Sign(CKM_ECDSA): %lu bytes", (unsigned long)len);
		return -1;
	}
	return 0;
}

/* Init + as many C_FindObjects as it takes + Final; the count must be want. */
static int find(struct mod_thread *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, size_t want, char *err,
		size_t errlen)
{
	CK_FUNCTION_LIST_PTR f = t->m->f;
	CK_ULONG got = 0, total = 0;
	CK_RV rv;

	rv = f->C_FindObjectsInit(t->s, tmpl, n);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_FindObjectsInit", rv);
	do {
		rv = f->C_FindObjects(t->s, t->found, t->found_cap, &got);
		if (rv != CKR_OK) {
			f->C_FindObjectsFinal(t->s);
			return ck_fail(err, errlen, "C_FindObjects", rv);
		}
		total += got;
	} while (got == t->found_cap);
	rv = f->C_FindObjectsFinal(t->s);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_FindObjectsFinal", rv);
	if (total != want) {
		bench_errf(err, errlen, "C_FindObjects: %lu objects, expected %zu",
			   (unsigned long)total, want);
		return -1;
	}
	return 0;
}

static int op_find_all(void *tctx, char *err, size_t errlen)
{
	struct mod_thread *t = tctx;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_APPLICATION, (void *)DATA_APP, sizeof(DATA_APP) - 1 },
	};

	return find(t, tmpl, 2, t->m->nobjects, err, errlen);
}

static int op_find_one(void *tctx, char *err, size_t errlen)
{
	struct mod_thread *t = tctx;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, t->m->one_label, strlen(t->m->one_label) },
	};

	return find(t, tmpl, 2, 1, err, errlen);
}

static int op_login_cycle(void *tctx, char *err, size_t errlen)
{
	struct mod *m = tctx;
	CK_FUNCTION_LIST_PTR f = m->f;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	rv = f->C_Initialize(&init_args);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_Initialize", rv);
	rv = f->C_OpenSession(m->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		ck_fail(err, errlen, "C_OpenSession", rv);
		goto fail;
	}
	rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)m->o->pin, strlen(m->o->pin));
	if (rv != CKR_OK) {
		ck_fail(err, errlen, "C_Login", rv);
		goto fail;
	}
	rv = f->C_Finalize(NULL);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_Finalize", rv);
	return 0;
fail:
	f->C_Finalize(NULL);
	return -1;
}

/* --- set-up --- */

static CK_RV find_handles(struct mod *m, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out,
			  CK_ULONG max, CK_ULONG *count)
{
	CK_FUNCTION_LIST_PTR f = m->f;
	CK_SESSION_HANDLE s = m->main_session;
	CK_RV rv = f->C_FindObjectsInit(s, tmpl, n);

	if (rv != CKR_OK)
		return rv;
	rv = f->C_FindObjects(s, out, max, count);
	f->C_FindObjectsFinal(s);
	return rv;
}

static CK_OBJECT_HANDLE find_key(struct mod *m, CK_OBJECT_CLASS cls, CK_KEY_TYPE type,
				 const char *label)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (find_handles(m, tmpl, 3, &h, 1, &n) != CKR_OK || n != 1)
		return CK_INVALID_HANDLE;
	return h;
}

/* The pair named label, generated (as token objects) if the token lacks it. */
static int key_pair(struct mod *m, bool rsa, const char *label, CK_OBJECT_HANDLE *priv,
		    CK_OBJECT_HANDLE *pub, char *err, size_t errlen)
{
	static const uint8_t p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_KEY_TYPE type = rsa ? CKK_RSA : CKK_EC;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_MECHANISM mech = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub_t[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		rsa ? (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) }
		    : (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) }, /* RSA only */
	};
	CK_ATTRIBUTE priv_t[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &yes, sizeof(yes) }, /* RSA only */
	};
	CK_ULONG npub = rsa ? 5 : 4, npriv = rsa ? 6 : 5;
	CK_RV rv;

	*priv = find_key(m, CKO_PRIVATE_KEY, type, label);
	*pub = find_key(m, CKO_PUBLIC_KEY, type, label);
	if (*priv != CK_INVALID_HANDLE && *pub != CK_INVALID_HANDLE)
		return 0;
	fprintf(stderr, "tpmha-bench: generating %s key pair \"%s\" in the token\n",
		rsa ? "RSA-2048" : "EC P-256", label);
	rv = m->f->C_GenerateKeyPair(m->main_session, &mech, pub_t, npub, priv_t, npriv, pub, priv);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_GenerateKeyPair", rv);
	return 0;
}

static int public_keys(struct mod *m, CK_OBJECT_HANDLE rsa_pub, CK_OBJECT_HANDLE ec_pub, char *err,
		       size_t errlen)
{
	uint8_t n[512], e[8], point[160];
	CK_ATTRIBUTE ra[] = { { CKA_MODULUS, n, sizeof(n) }, { CKA_PUBLIC_EXPONENT, e, sizeof(e) } };
	CK_ATTRIBUTE ea[] = { { CKA_EC_POINT, point, sizeof(point) } };
	const uint8_t *pt = point;
	size_t pt_len;
	CK_RV rv;

	rv = m->f->C_GetAttributeValue(m->main_session, rsa_pub, ra, 2);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_GetAttributeValue(CKA_MODULUS)", rv);
	m->rsa_pub = sw_rsa_public(n, ra[0].ulValueLen, e, ra[1].ulValueLen);
	rv = m->f->C_GetAttributeValue(m->main_session, ec_pub, ea, 1);
	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_GetAttributeValue(CKA_EC_POINT)", rv);
	/* CKA_EC_POINT is a DER OCTET STRING around the point (raw accepted too) */
	pt_len = ea[0].ulValueLen;
	if (pt_len == 67 && point[0] == 0x04 && point[1] == 65) {
		pt += 2;
		pt_len -= 2;
	}
	m->ec_pub = sw_ec_p256_public(pt, pt_len);
	if (!m->rsa_pub || !m->ec_pub) {
		bench_errf(err, errlen, "the token's public keys are not RSA-2048 / P-256 keys");
		return -1;
	}
	return 0;
}

/* One of each operation, checked in software. */
static int check_outputs(struct mod *m, char *err, size_t errlen)
{
	struct mod_thread t = { .m = m, .s = m->main_session };
	int rc;

	rc = op_rsa_sign(&t, err, errlen);
	if (rc == 0 && !sw_rsa_pkcs1_verify(m->rsa_pub, m->digest, t.out, 256)) {
		bench_errf(err, errlen, "the module's RSA signature does not verify");
		rc = -1;
	}
	if (rc == 0)
		rc = op_ecdsa(&t, err, errlen);
	if (rc == 0 && !sw_ecdsa_verify(m->ec_pub, m->digest, t.out, 64)) {
		bench_errf(err, errlen, "the module's ECDSA signature does not verify");
		rc = -1;
	}
	if (rc == 0)
		rc = op_rsa_oaep(&t, err, errlen);
	return rc;
}

/* The data objects find searches: count them, create the missing ones. */
static int data_objects(struct mod *m, char *err, size_t errlen)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_APPLICATION, (void *)DATA_APP, sizeof(DATA_APP) - 1 },
	};
	size_t cap = m->o->nobjects + 64;
	CK_OBJECT_HANDLE *h = calloc(cap, sizeof(*h));
	CK_ULONG have = 0;
	char label[40];
	uint8_t value[32];
	int rc = -1;
	CK_RV rv;

	if (!h) {
		bench_errf(err, errlen, "out of memory");
		return -1;
	}
	rv = find_handles(m, q, 2, h, cap, &have);
	if (rv != CKR_OK) {
		ck_fail(err, errlen, "C_FindObjects(CKO_DATA)", rv);
		goto out;
	}
	if (have < m->o->nobjects)
		fprintf(stderr, "tpmha-bench: creating %zu data objects (token objects, kept)\n",
			m->o->nobjects - have);
	for (size_t i = have; i < m->o->nobjects; i++) {
		CK_OBJECT_HANDLE obj;
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_LABEL, label, 0 },
			{ CKA_APPLICATION, (void *)DATA_APP, sizeof(DATA_APP) - 1 },
			{ CKA_VALUE, value, sizeof(value) },
		};

		snprintf(label, sizeof(label), DATA_LABEL_FMT, i);
		t[3].ulValueLen = strlen(label);
		memset(value, (int)(i & 0xff), sizeof(value));
		rv = m->f->C_CreateObject(m->main_session, t, 6, &obj);
		if (rv != CKR_OK) {
			ck_fail(err, errlen, "C_CreateObject(CKO_DATA)", rv);
			goto out;
		}
		have++;
	}
	m->nobjects = have;
	snprintf(m->one_label, sizeof(m->one_label), DATA_LABEL_FMT, have / 2);
	rc = 0;
out:
	free(h);
	return rc;
}

/* Length of a blank-padded CK_TOKEN_INFO field without its padding. */
static int padded_len(const CK_UTF8CHAR *s, size_t size)
{
	while (size > 0 && (s[size - 1] == ' ' || s[size - 1] == 0))
		size--;
	return (int)size;
}

static int find_slot(struct mod *m, struct bench_results *rs, char *err, size_t errlen)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_RV rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);

	if (rv != CKR_OK)
		return ck_fail(err, errlen, "C_GetSlotList", rv);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		size_t len = sizeof(ti.label);

		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		while (len > 0 && ti.label[len - 1] == ' ')
			len--;
		if (m->o->token && (strlen(m->o->token) != len || memcmp(ti.label, m->o->token, len)))
			continue;
		m->slot = slots[i];
		if (rs)
			snprintf(rs->tpm, sizeof(rs->tpm), "token \"%.*s\" (%.*s, %.*s)", (int)len,
				 ti.label, padded_len(ti.manufacturerID, sizeof(ti.manufacturerID)),
				 ti.manufacturerID, padded_len(ti.model, sizeof(ti.model)), ti.model);
		return 0;
	}
	bench_errf(err, errlen, "no initialized token%s%s", m->o->token ? " labelled " : "",
		   m->o->token ? m->o->token : "");
	return -1;
}

/* Login cycles find their slot themselves, before the clock starts: in a
 * forked process the parent must not have initialized the module before (the
 * tabrmd TCTI's D-Bus connection does not survive fork, see run_logins). */
static void *login_init(void *arg, unsigned idx, char *err, size_t errlen)
{
	struct mod *m = arg;
	CK_RV rv;
	int rc;

	(void)idx;
	rv = m->f->C_Initialize(&init_args);
	if (rv != CKR_OK) {
		ck_fail(err, errlen, "C_Initialize", rv);
		return NULL;
	}
	rc = find_slot(m, NULL, err, errlen);
	m->f->C_Finalize(NULL);
	return rc == 0 ? m : NULL;
}

/* --- the jobs --- */

static void run(struct mod *m, struct bench_results *rs, const char *name, const char *what,
		unsigned threads, size_t iters, bench_op_fn op)
{
	struct bench_job job = {
		.name = name, .impl = "module", .what = what, .threads = threads,
		.warmup = m->o->warmup, .iters = iters, .thread_init = thread_open,
		.op = op, .thread_fini = thread_close, .arg = m,
	};
	struct bench_result *r;

	if (!bench_selected(m->o, name, "module"))
		return;
	r = bench_result_new(rs, name, "module", threads);
	if (!r)
		return;
	fprintf(stderr, "tpmha-bench: module %s, %u thread%s...\n", name, threads,
		threads == 1 ? "" : "s");
	bench_run_threads(&job, r);
}

static void run_login(struct mod *m, struct bench_results *rs, unsigned procs)
{
	struct bench_job job = {
		.name = "login-cycle", .impl = "module",
		.what = "C_Initialize+C_OpenSession+C_Login(USER)+C_Finalize",
		.threads = procs, .warmup = m->o->warmup < 3 ? m->o->warmup : 3,
		.iters = m->o->login_iters, .thread_init = login_init, .op = op_login_cycle,
		.arg = m,
	};
	struct bench_result *r;

	if (!bench_selected(m->o, job.name, job.impl))
		return;
	r = bench_result_new(rs, job.name, job.impl, procs);
	if (!r)
		return;
	if (procs > 1 && !(m->o->tcti && (!strncmp(m->o->tcti, "tabrmd", 6) ||
					   strstr(m->o->tcti, "tpmrm")))) {
		/* Each process holds its own connection from C_Initialize to
		 * C_Finalize; without a resource manager they would share the TPM's
		 * three object slots and one connection (swtpm: one at a time). */
		r->threads = procs;
		r->procs = true;
		r->skipped = true;
		bench_errf(r->err, sizeof(r->err), "needs a resource manager (--tcti tabrmd:...)");
		return;
	}
	fprintf(stderr, "tpmha-bench: module login-cycle, %u process%s...\n", procs,
		procs == 1 ? "" : "es");
	/* C_Initialize/C_Finalize are per process: parallel cycles are processes. */
	if (procs == 1)
		bench_run_threads(&job, r);
	else
		bench_run_procs(&job, r);
}

int bench_module(const struct bench_opts *o, struct bench_results *rs)
{
	struct mod m = { .o = o };
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	char err[BENCH_ERR_MAX] = "";
	char find_all_what[96], find_one_what[96];
	void *dl;
	bool initialized = false;
	int rc = -1;
	CK_RV rv;

	dl = dlopen(o->module, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "tpmha-bench: %s\n", dlerror());
		return -1;
	}
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	if (!get_list || get_list(&m.f) != CKR_OK) {
		fprintf(stderr, "tpmha-bench: %s has no usable C_GetFunctionList\n", o->module);
		goto out;
	}
	/* Login cycles in several processes first: the children fork from a
	 * process that has not used the module yet. (After a C_Initialize and
	 * C_Finalize here, the tabrmd TCTI cannot connect in a forked child: GLib's
	 * shared D-Bus connection does not survive fork.) */
	for (const unsigned *t = o->threads; *t; t++)
		if (*t > 1)
			run_login(&m, rs, *t);
	rv = m.f->C_Initialize(&init_args);
	if (rv != CKR_OK) {
		ck_fail(err, sizeof(err), "C_Initialize", rv);
		goto fail;
	}
	initialized = true;
	if (find_slot(&m, rs, err, sizeof(err)) != 0)
		goto fail;
	rv = m.f->C_OpenSession(m.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				&m.main_session);
	if (rv != CKR_OK) {
		ck_fail(err, sizeof(err), "C_OpenSession", rv);
		goto fail;
	}
	rv = m.f->C_Login(m.main_session, CKU_USER, (CK_UTF8CHAR_PTR)o->pin, strlen(o->pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		ck_fail(err, sizeof(err), "C_Login", rv);
		goto fail;
	}

	/* inputs: a fixed digest, its DigestInfo, a 32-byte message to OAEP-encrypt */
	for (size_t i = 0; i < sizeof(m.digest); i++) {
		m.digest[i] = (uint8_t)(0x5a ^ (i * 7));
		m.msg[i] = (uint8_t)(0xa5 ^ (i * 13));
	}
	memcpy(m.digestinfo, sw_sha256_digestinfo_prefix, 19);
	memcpy(m.digestinfo + 19, m.digest, 32);
	{
		CK_OBJECT_HANDLE rsa_pub, ec_pub;

		if (key_pair(&m, true, o->rsa_label, &m.rsa, &rsa_pub, err, sizeof(err)) != 0 ||
		    key_pair(&m, false, o->ec_label, &m.ec, &ec_pub, err, sizeof(err)) != 0 ||
		    public_keys(&m, rsa_pub, ec_pub, err, sizeof(err)) != 0)
			goto fail;
	}
	m.ct_len = sizeof(m.ct);
	if (sw_oaep_sha256_encrypt(m.rsa_pub, m.msg, sizeof(m.msg), m.ct, &m.ct_len) != 0) {
		bench_errf(err, sizeof(err), "OAEP encryption in software failed");
		goto fail;
	}
	if (check_outputs(&m, err, sizeof(err)) != 0)
		goto fail;
	if (o->nobjects && data_objects(&m, err, sizeof(err)) != 0)
		goto fail;

	/* Operation by operation, each with every thread count back to back, so
	 * the 1- and N-thread figures of one operation see the same machine. */
	snprintf(find_all_what, sizeof(find_all_what),
		 "FindObjectsInit+FindObjects+Final, CKO_DATA: all %zu match", m.nobjects);
	snprintf(find_one_what, sizeof(find_one_what),
		 "FindObjectsInit+FindObjects+Final, CKA_LABEL: 1 of %zu matches", m.nobjects);
	for (const unsigned *t = o->threads; *t; t++)
		run(&m, rs, "rsa-sign", "C_SignInit+C_Sign, CKM_RSA_PKCS over a SHA-256 DigestInfo",
		    *t, o->iters, op_rsa_sign);
	for (const unsigned *t = o->threads; *t; t++)
		run(&m, rs, "rsa-oaep-decrypt",
		    "C_DecryptInit+C_Decrypt, CKM_RSA_PKCS_OAEP SHA-256/MGF1-SHA-256", *t, o->iters,
		    op_rsa_oaep);
	for (const unsigned *t = o->threads; *t; t++)
		run(&m, rs, "ecdsa-sign", "C_SignInit+C_Sign, CKM_ECDSA over a 32-byte digest", *t,
		    o->iters, op_ecdsa);
	for (const unsigned *t = o->threads; m.nobjects && *t; t++)
		run(&m, rs, "find-all", find_all_what, *t, o->find_iters, op_find_all);
	for (const unsigned *t = o->threads; m.nobjects && *t; t++)
		run(&m, rs, "find-one", find_one_what, *t, o->find_iters, op_find_one);
	m.f->C_CloseSession(m.main_session);
	m.f->C_Finalize(NULL);
	initialized = false;

	/* the login cycle needs the module finalized between cycles */
	run_login(&m, rs, 1);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "tpmha-bench: module set-up: %s\n", err);
out:
	if (initialized)
		m.f->C_Finalize(NULL);
	EVP_PKEY_free(m.rsa_pub);
	EVP_PKEY_free(m.ec_pub);
	/* no dlclose: the module's libraries may keep thread-local state alive */
	return rc;
}
